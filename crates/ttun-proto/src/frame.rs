//! Sealing and opening of v1 frames: `[u16 BE length][ciphertext || tag]`, one counter per direction.
use alloc::vec::Vec;

use crate::cipher::{frame_nonce, Cipher};
use crate::decoder::FrameDecoder;
use crate::error::Error;
use crate::wire::{LENGTH_PREFIX_LEN, MAX_PLAINTEXT_LEN, TAG_LEN};

/// The direction byte of the frame nonce. Each side seals with its own and opens with the other's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum Direction {
    ClientToServer = 0,
    ServerToClient = 1,
}

impl Direction {
    /// The direction whose nonce byte is `byte` (0 or 1); None for anything else.
    pub fn from_byte(byte: u32) -> Option<Self> {
        match byte {
            0 => Some(Direction::ClientToServer),
            1 => Some(Direction::ServerToClient),
            _ => None,
        }
    }

    pub fn reverse(self) -> Self {
        match self {
            Direction::ClientToServer => Direction::ServerToClient,
            Direction::ServerToClient => Direction::ClientToServer,
        }
    }
}

/// Seals outgoing frames of one direction, counting from the counter it was made with
/// (0 for the handshake magic, then 1, 2, ... for data).
#[derive(Clone)]
pub struct FrameSealer {
    cipher: Cipher,
    direction: Direction,
    next_counter: u64,
}

impl FrameSealer {
    pub fn new(cipher: Cipher, direction: Direction, first_counter: u64) -> Self {
        Self { cipher, direction, next_counter: first_counter }
    }

    pub fn next_counter(&self) -> u64 {
        self.next_counter
    }

    fn take_nonce(&mut self) -> Result<[u8; 12], Error> {
        let counter = self.next_counter;
        // Never let a nonce repeat: u64::MAX is the last usable value and is refused, not wrapped.
        self.next_counter = counter.checked_add(1).ok_or(Error::CounterExhausted)?;
        Ok(frame_nonce(self.direction as u8, counter))
    }

    /// Seals a frame laid out in place: `frame` is `[2 bytes for the length][plaintext][16 bytes for
    /// the tag]`. Writing packets straight into an output buffer and sealing there avoids a copy.
    pub fn seal_in_place(&mut self, frame: &mut [u8]) -> Result<(), Error> {
        let plaintext_len = frame.len().saturating_sub(LENGTH_PREFIX_LEN + TAG_LEN);
        if plaintext_len > MAX_PLAINTEXT_LEN {
            return Err(Error::PlaintextTooLong(plaintext_len));
        }
        assert!(frame.len() >= LENGTH_PREFIX_LEN + TAG_LEN, "frame buffer too small for prefix and tag");
        let nonce = self.take_nonce()?;
        let body_len = (plaintext_len + TAG_LEN) as u16;
        let (prefix, body) = frame.split_at_mut(LENGTH_PREFIX_LEN);
        prefix.copy_from_slice(&body_len.to_be_bytes());
        let (plaintext, tag_space) = body.split_at_mut(plaintext_len);
        let tag = self.cipher.seal_in_place(&nonce, plaintext);
        tag_space.copy_from_slice(&tag);
        Ok(())
    }

    /// Appends one frame carrying `plaintext` to `out`.
    pub fn seal_to_vec(&mut self, plaintext: &[u8], out: &mut Vec<u8>) -> Result<(), Error> {
        if plaintext.len() > MAX_PLAINTEXT_LEN {
            return Err(Error::PlaintextTooLong(plaintext.len()));
        }
        let start = out.len();
        out.extend_from_slice(&[0, 0]);
        out.extend_from_slice(plaintext);
        out.extend_from_slice(&[0; TAG_LEN]);
        let result = self.seal_in_place(&mut out[start..]);
        if result.is_err() {
            out.truncate(start);
        }
        result
    }
}

/// Opens incoming frames of one direction, expecting consecutive counters. Any failure leaves the
/// counter unchanged; the caller must then end the connection (a byte stream cannot resynchronise).
#[derive(Clone)]
pub struct FrameOpener {
    cipher: Cipher,
    direction: Direction,
    next_counter: u64,
}

impl FrameOpener {
    pub fn new(cipher: Cipher, direction: Direction, first_counter: u64) -> Self {
        Self { cipher, direction, next_counter: first_counter }
    }

    pub fn next_counter(&self) -> u64 {
        self.next_counter
    }

    /// Opens a frame body (`ciphertext || tag`, without the length prefix) in place and returns
    /// the plaintext, a prefix of `body`.
    pub fn open_in_place<'a>(&mut self, body: &'a mut [u8]) -> Result<&'a mut [u8], Error> {
        if body.len() < TAG_LEN {
            return Err(Error::FrameTooShort(body.len() as u16));
        }
        let next = self.next_counter.checked_add(1).ok_or(Error::CounterExhausted)?;
        let nonce = frame_nonce(self.direction as u8, self.next_counter);
        let plaintext_len = body.len() - TAG_LEN;
        let (ciphertext, tag) = body.split_at_mut(plaintext_len);
        let tag: &[u8; TAG_LEN] = (&*tag).try_into().expect("split leaves exactly TAG_LEN bytes");
        self.cipher.open_in_place(&nonce, ciphertext, tag)?;
        self.next_counter = next;
        Ok(ciphertext)
    }
}

/// The receive half of a session: cuts frames out of the TCP stream and opens them in order.
/// After the first error it refuses everything, because the stream position is lost.
pub struct Receiver {
    decoder: FrameDecoder,
    opener: FrameOpener,
}

impl Receiver {
    pub fn new(opener: FrameOpener) -> Self {
        Self { decoder: FrameDecoder::new(), opener }
    }

    /// Feeds one chunk of the byte stream (any size, any boundary) and calls `on_packet` with
    /// the plaintext of every frame it completes. The chunk is decrypted in place.
    pub fn receive(&mut self, chunk: &mut [u8], mut on_packet: impl FnMut(&mut [u8])) -> Result<(), Error> {
        let opener = &mut self.opener;
        self.decoder.feed(chunk, |body| {
            on_packet(opener.open_in_place(body)?);
            Ok(())
        })
    }

    /// Bytes of an incomplete frame held back until the rest arrives.
    pub fn buffered_len(&self) -> usize {
        self.decoder.buffered_len()
    }

    pub fn next_counter(&self) -> u64 {
        self.opener.next_counter()
    }
}

#[cfg(test)]
mod direction_tests {
    use super::Direction;

    #[test]
    fn nonce_bytes_map_to_directions_and_back() {
        for direction in [Direction::ClientToServer, Direction::ServerToClient] {
            assert_eq!(Direction::from_byte(direction as u32), Some(direction));
        }
        assert_eq!(Direction::from_byte(2), None);
        assert_eq!(Direction::from_byte(u32::MAX), None);
    }
}
