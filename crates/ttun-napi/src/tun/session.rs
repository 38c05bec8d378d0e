//! One attached session as the Rust threads see it, both directions: where its frames go
//! ([`Sink`], which also ends its connection), how packets are framed for it, and whom to tell
//! when a Rust thread ends it. The TUN reader thread seals into it; the receiving side sends the
//! kernel's answers through it and ends it when the connection fails.
use std::sync::Mutex;

use napi_derive::napi;
use ttun_proto::{Cipher, Direction, FrameOpener, FrameSealer, Receiver, FIRST_DATA_COUNTER};

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
    pub fn append(&mut self, packet: &[u8], batch: &mut Vec<u8>) -> Result<(), ttun_proto::Error> {
        match self {
            Framer::Sealed(sealer) => sealer.seal_to_vec(packet, batch),
            Framer::Plain => {
                // A TUN packet is at most device::MAX_PACKET (65535) bytes: the length fits the u16.
                batch.extend_from_slice(&(packet.len() as u16).to_be_bytes());
                batch.extend_from_slice(packet);
                Ok(())
            }
        }
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
    pub fn report_end(&self, end: SessionEnd) {
        if let Some(on_end) = &self.on_end {
            on_end(end);
        }
    }
}
