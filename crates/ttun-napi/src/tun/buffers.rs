//! The buffers a socket-reader thread works in: the socket read buffer, the TUN write batch and
//! the buffers for sending the kernel's answers, several MB once GRO batches have grown them.
//! Each session has its own thread, so the device keeps them between sessions
//! (`DataPath::take_inbound_buffers`) and hands them from one thread to the next: allocated afresh
//! on every new thread they would land in that thread's malloc arena, which keeps the memory after
//! the thread exits, and RSS would creep up reconnect by reconnect.
use super::device::{PacketDevice, PacketWriter};

pub struct InboundBuffers<D: PacketDevice> {
    pub read: Vec<u8>,
    pub writer: PacketWriter<D>,
    pub answers: AnswerBuffers<D>,
}

impl<D: PacketDevice> InboundBuffers<D> {
    pub fn new(read_capacity: usize) -> Self {
        Self { read: Vec::with_capacity(read_capacity), writer: PacketWriter::new(), answers: AnswerBuffers::default() }
    }
}

/// What the receiving side reads the kernel's answers into and seals them in
/// (`outbound::send_answers`); the read buffers are made on first use.
pub struct AnswerBuffers<D: PacketDevice> {
    pub read: Option<D::ReadBuffers>,
    pub wire: Vec<u8>,
}

impl<D: PacketDevice> Default for AnswerBuffers<D> {
    fn default() -> Self {
        Self { read: None, wire: Vec::new() }
    }
}
