//! Packet and byte counters, updated by both threads without locks.
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

use napi_derive::napi;

#[derive(Default)]
pub struct Stats {
    pub tx_packets: AtomicU64,
    pub tx_bytes: AtomicU64,
    pub tx_super_frames: AtomicU64,
    pub rx_packets: AtomicU64,
    pub rx_bytes: AtomicU64,
    pub tx_dropped_no_session: AtomicU64,
    pub tx_dropped_too_big: AtomicU64,
    pub tx_dropped_unreadable: AtomicU64,
    pub tx_dropped_queue_full: AtomicU64,
    pub rx_dropped_not_ip: AtomicU64,
    pub rx_dropped_tun_write: AtomicU64,
}

/// Counters as JavaScript sees them (numbers: exact up to 2^53).
#[napi(object)]
pub struct TunStats {
    /// Packets read from the TUN and sent to the peer, and their IP bytes.
    pub tx_packets: f64,
    pub tx_bytes: f64,
    /// Of those, TCP super-packets sent whole, one frame each (see `super_frames`).
    pub tx_super_frames: f64,
    /// Packets received from the peer and written to the TUN, and their IP bytes.
    pub rx_packets: f64,
    pub rx_bytes: f64,
    /// Read from the TUN while no session was up.
    pub tx_dropped_no_session: f64,
    /// Read from the TUN but larger than a frame can carry (65519 bytes).
    pub tx_dropped_too_big: f64,
    /// Taken off the TUN by a read but not usable: an offload super-packet that could not be
    /// split into packets, for example. The tunnel carries on.
    pub tx_dropped_unreadable: f64,
    /// Read from the TUN while the send queue was full: the socket took less than the TUN gave
    /// (see `send_queue`); the kernel's TUN ring dropped these before.
    pub tx_dropped_queue_full: f64,
    /// Received frames whose plaintext is not an IPv4 or IPv6 packet.
    pub rx_dropped_not_ip: f64,
    /// Writes the TUN refused (counted per failed batch write).
    pub rx_dropped_tun_write: f64,
}

impl Stats {
    pub fn snapshot(&self) -> TunStats {
        let get = |c: &AtomicU64| c.load(Relaxed) as f64;
        TunStats {
            tx_packets: get(&self.tx_packets),
            tx_bytes: get(&self.tx_bytes),
            tx_super_frames: get(&self.tx_super_frames),
            rx_packets: get(&self.rx_packets),
            rx_bytes: get(&self.rx_bytes),
            tx_dropped_no_session: get(&self.tx_dropped_no_session),
            tx_dropped_too_big: get(&self.tx_dropped_too_big),
            tx_dropped_unreadable: get(&self.tx_dropped_unreadable),
            tx_dropped_queue_full: get(&self.tx_dropped_queue_full),
            rx_dropped_not_ip: get(&self.rx_dropped_not_ip),
            rx_dropped_tun_write: get(&self.rx_dropped_tun_write),
        }
    }
}

pub fn add(counter: &AtomicU64, n: u64) {
    counter.fetch_add(n, Relaxed);
}
