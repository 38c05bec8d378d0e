//! One attached session as the Rust threads see it, both directions: where its frames go
//! ([`Sink`], which also ends its connection), how packets are framed for it, and whom to tell
//! when a Rust thread ends it. The TUN reader thread seals into it; the receiving side sends the
//! kernel's answers through it and ends it when the connection fails.
use std::sync::Mutex;

use napi_derive::napi;
use ttun_proto::{
    Cipher, Direction, FrameOpener, FrameSealer, Receiver, FIRST_DATA_COUNTER, LENGTH_PREFIX_LEN, TAG_LEN,
};

use super::sink::Sink;
use super::super_frames::SuperFrames;

/// Why a Rust thread ended a session: the kind is what JavaScript branches on; the wording is the
/// CLI's, from the kind and the detail.
#[napi(string_enum)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SessionEndKind {
    /// The peer closed the connection (end of stream).
    #[napi(value = "peer-closed")]
    PeerClosed,
    /// A frame failed authentication or was malformed: the stream cannot be trusted past it.
    #[napi(value = "bad-frame")]
    BadFrame,
    /// Reading, writing or waiting on the socket failed.
    #[napi(value = "connection-error")]
    ConnectionError,
}

/// A session's end as JavaScript is told it: its kind and a detail (the error, or empty).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionEnd {
    pub kind: SessionEndKind,
    pub detail: String,
}

// Only Rust's socket threads end sessions, and they are Unix-only (see `super::sink`).
#[cfg(unix)]
impl SessionEnd {
    pub fn new(kind: SessionEndKind, detail: impl Into<String>) -> Self {
        Self { kind, detail: detail.into() }
    }
}

/// Told once why a Rust thread ended the session.
pub type EndNotice = Box<dyn Fn(SessionEnd) + Send + Sync>;

/// The keys of one authenticated session and the direction this end sends in.
pub struct SessionKeys {
    pub cipher: Cipher,
    pub send: Direction,
}

impl SessionKeys {
    /// Data frames count from 1: counter 0 was the handshake's magic frame.
    pub fn sealer(&self) -> FrameSealer {
        FrameSealer::new(self.cipher.clone(), self.send, FIRST_DATA_COUNTER)
    }

    pub fn receiver(&self) -> Receiver {
        Receiver::new(FrameOpener::new(self.cipher.clone(), self.send.reverse(), FIRST_DATA_COUNTER))
    }
}

pub struct Session {
    pub id: u64,
    pub sink: Sink,
    #[cfg_attr(not(unix), allow(dead_code))]
    on_end: Option<EndNotice>,
    /// Frames must reach the socket in counter order, so sealing and writing happen together
    /// under this lock (see `super::outbound`).
    pub sending: Mutex<SendState>,
    /// Whether TCP super-packets may go to the peer whole; None where they never do.
    pub super_frames: Option<SuperFrames>,
}

pub struct SendState {
    pub framer: Framer,
    /// Sealed bytes the receiving side could not write without blocking; they go out first.
    #[cfg_attr(not(unix), allow(dead_code))]
    pub pending: Vec<u8>,
}

/// How packets read from the TUN are put into a batch.
// One Framer per session, inside its lock: the size difference between the variants costs
// nothing, and boxing the sealer would add a pointer chase to every packet sealed.
#[allow(clippy::large_enum_variant)]
pub enum Framer {
    /// v1 frames for the peer.
    Sealed(FrameSealer),
    /// `[u16 BE length][packet]` records for JavaScript's own use of the TUN (no peer, no crypto).
    Plain,
}

impl Framer {
    /// Appends one record carrying `packet` to `batch`.
    pub fn append(&mut self, packet: &[u8], batch: &mut Vec<u8>) -> Result<(), ttun_proto::Error> {
        let start = batch.len();
        batch.extend_from_slice(&[0; LENGTH_PREFIX_LEN]);
        batch.extend_from_slice(packet);
        self.frame_in_place(batch, start)
    }

    /// Makes a record of what `batch` holds from `start` on: [`LENGTH_PREFIX_LEN`] bytes of room,
    /// then the packet, which stays where it is (a sealed frame's tag is appended). On an error
    /// the batch is cut back to `start`.
    pub fn frame_in_place(&mut self, batch: &mut Vec<u8>, start: usize) -> Result<(), ttun_proto::Error> {
        let result = match self {
            Framer::Sealed(sealer) => {
                batch.extend_from_slice(&[0; TAG_LEN]);
                sealer.seal_in_place(&mut batch[start..])
            }
            Framer::Plain => {
                let len = batch.len() - start - LENGTH_PREFIX_LEN;
                // A TUN packet is at most device::MAX_PACKET (65535) bytes: the length fits the u16.
                u16::try_from(len)
                    .map(|len| batch[start..start + LENGTH_PREFIX_LEN].copy_from_slice(&len.to_be_bytes()))
                    .map_err(|_| ttun_proto::Error::PlaintextTooLong(len))
            }
        };
        if result.is_err() {
            batch.truncate(start);
        }
        result
    }
}

impl Session {
    pub fn new(
        id: u64,
        framer: Framer,
        sink: Sink,
        on_end: Option<EndNotice>,
        super_frames: Option<SuperFrames>,
    ) -> Self {
        Self { id, sink, on_end, sending: Mutex::new(SendState { framer, pending: Vec::new() }), super_frames }
    }

    /// Tells JavaScript why a Rust thread ended the session. Only whoever detached it calls this
    /// (`DataPath::end_session`), so it is told once, and never about a session it detached itself.
    #[cfg(unix)]
    pub fn report_end(&self, end: SessionEnd) {
        if let Some(on_end) = &self.on_end {
            on_end(end);
        }
    }
}

#[cfg(test)]
mod tests {
    use ttun_proto::{CipherKind, MAX_PLAINTEXT_LEN};

    use super::*;

    fn sealer() -> FrameSealer {
        FrameSealer::new(Cipher::new(CipherKind::ChaCha20Poly1305, &[7; 32]), Direction::ServerToClient, 1)
    }

    /// What the TUN reader builds: packets copied in (`append`) and packets read in place
    /// (`frame_in_place`), in one batch.
    fn batch_of(framer: &mut Framer, packets: &[&[u8]]) -> Vec<u8> {
        let mut batch = b"earlier".to_vec();
        for (index, packet) in packets.iter().enumerate() {
            if index % 2 == 0 {
                framer.append(packet, &mut batch).unwrap();
            } else {
                let start = batch.len();
                batch.extend_from_slice(&[0xee; LENGTH_PREFIX_LEN]);
                batch.extend_from_slice(packet);
                framer.frame_in_place(&mut batch, start).unwrap();
            }
        }
        batch
    }

    #[test]
    fn packets_framed_in_place_are_the_frames_the_protocol_seals() {
        let packets: [&[u8]; 4] = [&[0x45; 20], &[0x60; 1280], &[], &[0x45; MAX_PLAINTEXT_LEN]];
        let mut expected = b"earlier".to_vec();
        let mut reference = sealer();
        for packet in packets {
            reference.seal_to_vec(packet, &mut expected).unwrap();
        }
        assert!(batch_of(&mut Framer::Sealed(sealer()), &packets) == expected);

        let mut plain = b"earlier".to_vec();
        for packet in packets {
            plain.extend_from_slice(&(packet.len() as u16).to_be_bytes());
            plain.extend_from_slice(packet);
        }
        assert!(batch_of(&mut Framer::Plain, &packets) == plain);
    }

    #[test]
    fn a_packet_too_large_to_frame_leaves_the_batch_as_it_was_and_spends_no_counter() {
        let mut framer = Framer::Sealed(sealer());
        let mut batch = b"earlier".to_vec();
        let start = batch.len();
        batch.extend_from_slice(&[0; LENGTH_PREFIX_LEN]);
        batch.extend_from_slice(&[0x45; MAX_PLAINTEXT_LEN + 1]);
        assert!(framer.frame_in_place(&mut batch, start).is_err());
        assert_eq!(batch, b"earlier");
        let Framer::Sealed(sealer) = &framer else { unreachable!() };
        assert_eq!(sealer.next_counter(), 1);

        let mut plain = Framer::Plain;
        batch.extend_from_slice(&[0; LENGTH_PREFIX_LEN]);
        batch.extend_from_slice(&[0x45; u16::MAX as usize + 1]);
        assert!(plain.frame_in_place(&mut batch, start).is_err());
        assert_eq!(batch, b"earlier");
    }
}
