//! What can go wrong sealing or opening a frame.

/// Why a frame could not be sealed or opened. After any of these on the receive side the byte
/// stream cannot be resynchronised, so the connection must end.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Error {
    /// A length prefix below the tag length (L < 16): no valid frame is that short.
    FrameTooShort(u16),
    /// The tag did not verify: wrong key or cipher, or the bytes were changed on the way.
    BadTag,
    /// A plaintext longer than [`crate::wire::MAX_PLAINTEXT_LEN`] was given to the sealer.
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
