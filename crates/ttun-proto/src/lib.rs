//! The ttun v1 wire protocol, with no I/O.
//!
//! Everything a peer needs to speak v1 byte for byte: the key schedule ([`keys`]), the per-frame
//! nonce and AEAD ([`cipher`]), sealing and opening of length-prefixed frames with their counters
//! ([`frame`]), the check that a frame carries one IP packet ([`packet`]) and a decoder that cuts frames out of a TCP byte stream delivered in arbitrary
//! chunks ([`decoder`]). The crate is `no_std` + `alloc` so the same code runs natively (napi addon)
//! and in WebAssembly; sockets and TUN devices live elsewhere.
#![no_std]
#![forbid(unsafe_code)]

extern crate alloc;

pub mod cipher;
pub mod decoder;
pub mod frame;
pub mod keys;
pub mod packet;

pub use cipher::{Cipher, CipherKind};
pub use decoder::FrameDecoder;
pub use frame::{Direction, FrameOpener, FrameSealer, Receiver};
pub use keys::{psk_key, session_key};
pub use packet::is_ip_packet;

/// Plaintext of the handshake frame each side sends with counter 0: "TTUN/v1\0".
pub const MAGIC: [u8; 8] = *b"TTUN/v1\0";
/// Length of the random nonce each side sends first (Nc, Ns).
pub const HANDSHAKE_NONCE_LEN: usize = 16;
/// Length of the big-endian length prefix in front of every frame.
pub const LENGTH_PREFIX_LEN: usize = 2;
/// AEAD tag length, the same for both ciphers.
pub const TAG_LEN: usize = 16;
/// Largest frame body (ciphertext + tag) a u16 length prefix can describe.
pub const MAX_FRAME_BODY_LEN: usize = u16::MAX as usize;
/// Largest plaintext one frame can carry: 65535 - 16.
pub const MAX_PLAINTEXT_LEN: usize = MAX_FRAME_BODY_LEN - TAG_LEN;
/// Bytes a frame adds around its plaintext on the wire.
pub const FRAME_OVERHEAD: usize = LENGTH_PREFIX_LEN + TAG_LEN;

/// Why a frame could not be sealed or opened. After any of these on the receive side the byte
/// stream cannot be resynchronised, so the connection must end.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Error {
    /// A length prefix below the tag length (L < 16): no valid frame is that short.
    FrameTooShort(u16),
    /// The tag did not verify: wrong key or cipher, or the bytes were changed on the way.
    BadTag,
    /// A plaintext longer than [`MAX_PLAINTEXT_LEN`] was given to the sealer.
    PlaintextTooLong(usize),
    /// The 64-bit frame counter is used up; the session must be restarted.
    CounterExhausted,
}

impl core::fmt::Display for Error {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Error::FrameTooShort(len) => {
                write!(f, "bad frame: length {len} is below the 16-byte tag")
            }
            Error::BadTag => f.write_str("frame failed authentication (wrong PSK or cipher, or tampered)"),
            Error::PlaintextTooLong(len) => write!(f, "packet of {len} bytes exceeds the 65519-byte frame limit"),
            Error::CounterExhausted => f.write_str("frame counter exhausted"),
        }
    }
}
