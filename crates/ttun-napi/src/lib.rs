//! The ttun Node addon. TypeScript drives the handshake, sockets and lifecycle; this crate owns
//! what must be fast or needs the OS: the TUN device, sealing packets read from it into wire
//! frames on a Rust thread, and opening received frames into packets written to it.
//!
//! - [`protocol`]: single-frame seal/open and key derivation, for the handshake.
//! - [`tun`]: the device and its data path (`createTun`, `TunDevice`, `TunSession`).
//! - [`socket`]: TCP options Node's `net` module cannot set.
//! - [`service_manager`]: systemd notifications (READY=1, WATCHDOG=1), which need a unix datagram socket.

// #[napi] items are compiled out of `cargo test` builds, leaving their helpers unused there.
#![cfg_attr(test, allow(dead_code))]

mod errors;
mod frames;
mod mptcp;
mod protocol;
mod service_manager;
mod socket;
mod tun;
