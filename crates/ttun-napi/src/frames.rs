//! Sealing and opening whole runs of frames for JavaScript, without a TUN device: the userspace
//! mode (`tun: false`) uses these to carry packets between a socket and JavaScript.
use napi::bindgen_prelude::Buffer;
use napi_derive::napi;
use ttun_proto::{FrameOpener, Receiver};

use crate::errors::{from_proto, Result};
use crate::protocol::{keyed_cipher, CipherName, Direction};

/// Seals packets into frames of one direction, counting from `firstCounter`.
#[napi]
pub struct FrameSealer {
    inner: ttun_proto::FrameSealer,
}

#[napi]
impl FrameSealer {
    #[napi(constructor)]
    pub fn new(cipher: CipherName, key: &[u8], direction: Direction, first_counter: u32) -> Result<Self> {
        let cipher = keyed_cipher(cipher, key, "key")?;
        Ok(Self { inner: ttun_proto::FrameSealer::new(cipher, direction.into(), first_counter.into()) })
    }

    /// One buffer holding a frame per packet, in order: one socket write for the whole batch.
    #[napi]
    pub fn seal(&mut self, packets: Vec<Buffer>) -> Result<Buffer> {
        let total: usize = packets.iter().map(|p| p.len() + ttun_proto::FRAME_OVERHEAD).sum();
        let mut out = Vec::with_capacity(total);
        for packet in &packets {
            self.inner.seal_to_vec(packet, &mut out).map_err(from_proto)?;
        }
        Ok(out.into())
    }
}

/// Cuts frames out of a received byte stream (any chunking) and opens them in order.
#[napi]
pub struct FrameReceiver {
    inner: Receiver,
}

#[napi]
impl FrameReceiver {
    #[napi(constructor)]
    pub fn new(cipher: CipherName, key: &[u8], direction: Direction, first_counter: u32) -> Result<Self> {
        let cipher = keyed_cipher(cipher, key, "key")?;
        Ok(Self { inner: Receiver::new(FrameOpener::new(cipher, direction.into(), first_counter.into())) })
    }

    /// The plaintexts of the frames this chunk completes. Throws (code EBADFRAME) on a frame that
    /// cannot be opened; the stream is then unusable.
    #[napi]
    pub fn receive(&mut self, mut chunk: Buffer) -> Result<Vec<Buffer>> {
        let mut packets = Vec::new();
        self.inner.receive(&mut chunk, |p| packets.push(p.to_vec().into())).map_err(from_proto)?;
        Ok(packets)
    }
}
