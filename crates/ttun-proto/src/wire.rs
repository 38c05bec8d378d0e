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
/// The counter of the first data frame in each direction: counter 0 was the handshake's magic frame.
pub const FIRST_DATA_COUNTER: u64 = 1;
/// The smallest TUN MTU: IPv6 needs 1280.
pub const MIN_MTU: usize = 1280;
/// The largest TUN MTU: a packet must fit one frame.
pub const MAX_MTU: usize = MAX_PLAINTEXT_LEN;

/// The numbers above by name, for the bindings to export (the addon's `wireConstants()`, the
/// WebAssembly module's `ttun_wire_constant*`): ttun's TypeScript copy (ts/shared/wire.ts) is
/// generated from them and tested against both, so no size is typed twice.
pub const WIRE_NUMBERS: [(&str, u64); 9] = [
    ("HANDSHAKE_NONCE_LEN", HANDSHAKE_NONCE_LEN as u64),
    ("LENGTH_PREFIX_LEN", LENGTH_PREFIX_LEN as u64),
    ("TAG_LEN", TAG_LEN as u64),
    ("MAX_FRAME_BODY_LEN", MAX_FRAME_BODY_LEN as u64),
    ("MAX_PLAINTEXT_LEN", MAX_PLAINTEXT_LEN as u64),
    ("FRAME_OVERHEAD", FRAME_OVERHEAD as u64),
    ("FIRST_DATA_COUNTER", FIRST_DATA_COUNTER),
    ("MIN_MTU", MIN_MTU as u64),
    ("MAX_MTU", MAX_MTU as u64),
];
