//! The fixed sizes of the v1 wire format and the handshake's magic plaintext.

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
