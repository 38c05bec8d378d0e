//! The ttun v1 wire protocol, with no I/O.
//!
//! Everything a peer needs to speak v1 byte for byte: the key schedule ([`keys`]), the per-frame
//! nonce and AEAD ([`cipher`]), sealing and opening of length-prefixed frames with their counters
//! ([`frame`]), the check that a frame carries one IP packet ([`packet`]) and a decoder that cuts
//! frames out of a TCP byte stream delivered in arbitrary chunks ([`decoder`]); the sizes of the
//! format are in [`wire`], the errors in [`error`]. The crate is `no_std` + `alloc` so the same
//! code runs natively (napi addon) and in WebAssembly; sockets and TUN devices live elsewhere.
//!
//! The modules use each other only through their own paths (`crate::wire::TAG_LEN`), never
//! through the re-exports below, which are for users of the crate.
#![no_std]
#![forbid(unsafe_code)]

extern crate alloc;

pub mod cipher;
pub mod decoder;
pub mod error;
pub mod frame;
pub mod keys;
pub mod packet;
pub mod wire;

pub use cipher::{Cipher, CipherKind};
pub use decoder::FrameDecoder;
pub use error::Error;
pub use frame::{Direction, FrameOpener, FrameSealer, Receiver};
pub use keys::{psk_key, session_key};
pub use packet::is_ip_packet;
pub use wire::{
    FIRST_DATA_COUNTER, FRAME_OVERHEAD, HANDSHAKE_NONCE_LEN, LENGTH_PREFIX_LEN, MAGIC, MAX_FRAME_BODY_LEN, MAX_MTU,
    MAX_PLAINTEXT_LEN, MIN_MTU, TAG_LEN, WIRE_NUMBERS,
};
