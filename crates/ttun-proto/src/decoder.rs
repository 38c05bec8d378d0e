//! Cuts `[u16 BE length][body]` frames out of a byte stream that arrives in arbitrary chunks.
use alloc::vec::Vec;

use crate::error::Error;
use crate::wire::{LENGTH_PREFIX_LEN, TAG_LEN};

/// Streaming frame decoder. Whole frames inside a chunk are handed out in place (no copy); only a
/// frame that straddles chunk boundaries is gathered in an internal buffer of at most 65537 bytes.
#[derive(Default)]
pub struct FrameDecoder {
    /// Prefix and body bytes of the one frame that is still incomplete.
    partial: Vec<u8>,
    /// Set by the first error: the stream position is lost, so nothing after it is decoded.
    failed: Option<Error>,
}

fn body_len(prefix: [u8; 2]) -> Result<usize, Error> {
    let len = u16::from_be_bytes(prefix);
    if (len as usize) < TAG_LEN {
        return Err(Error::FrameTooShort(len));
    }
    Ok(len as usize)
}

impl FrameDecoder {
    pub fn new() -> Self {
        Self::default()
    }

    /// Bytes held back for an incomplete frame.
    pub fn buffered_len(&self) -> usize {
        self.partial.len()
    }

    /// Feeds one chunk; calls `on_body` with the body (`ciphertext || tag`) of each complete
    /// frame, in order. Stops at the first error from the stream or from `on_body` and stays failed.
    pub fn feed(
        &mut self,
        chunk: &mut [u8],
        mut on_body: impl FnMut(&mut [u8]) -> Result<(), Error>,
    ) -> Result<(), Error> {
        if let Some(error) = self.failed {
            return Err(error);
        }
        let result = self.feed_inner(chunk, &mut on_body);
        if let Err(error) = result {
            self.failed = Some(error);
            self.partial = Vec::new();
        }
        result
    }

    fn feed_inner(
        &mut self,
        chunk: &mut [u8],
        on_body: &mut impl FnMut(&mut [u8]) -> Result<(), Error>,
    ) -> Result<(), Error> {
        let mut rest: &mut [u8] = chunk;
        if !self.partial.is_empty() {
            rest = self.complete_partial(rest, on_body)?;
        }
        while rest.len() >= LENGTH_PREFIX_LEN {
            let frame_len = LENGTH_PREFIX_LEN + body_len([rest[0], rest[1]])?;
            if rest.len() < frame_len {
                break;
            }
            let (frame, tail) = core::mem::take(&mut rest).split_at_mut(frame_len);
            on_body(&mut frame[LENGTH_PREFIX_LEN..])?;
            rest = tail;
        }
        if !rest.is_empty() {
            if rest.len() >= LENGTH_PREFIX_LEN {
                // Reserve the whole frame once instead of growing step by step.
                self.partial.reserve(LENGTH_PREFIX_LEN + body_len([rest[0], rest[1]])?);
            }
            self.partial.extend_from_slice(rest);
        }
        Ok(())
    }

    /// Moves bytes from the front of `chunk` into the pending frame; if that completes it, hands
    /// it out. Returns what is left of the chunk.
    fn complete_partial<'c>(
        &mut self,
        chunk: &'c mut [u8],
        on_body: &mut impl FnMut(&mut [u8]) -> Result<(), Error>,
    ) -> Result<&'c mut [u8], Error> {
        let mut used = 0;
        if self.partial.len() < LENGTH_PREFIX_LEN {
            used = (LENGTH_PREFIX_LEN - self.partial.len()).min(chunk.len());
            self.partial.extend_from_slice(&chunk[..used]);
            if self.partial.len() < LENGTH_PREFIX_LEN {
                return Ok(&mut chunk[used..]);
            }
        }
        let frame_len = LENGTH_PREFIX_LEN + body_len([self.partial[0], self.partial[1]])?;
        let take = (frame_len - self.partial.len()).min(chunk.len() - used);
        self.partial.extend_from_slice(&chunk[used..used + take]);
        used += take;
        if self.partial.len() == frame_len {
            on_body(&mut self.partial[LENGTH_PREFIX_LEN..])?;
            self.partial.clear();
        }
        Ok(&mut chunk[used..])
    }
}
