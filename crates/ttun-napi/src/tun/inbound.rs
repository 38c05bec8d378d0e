//! Received stream → opened frames → packets written to the TUN: on the session's own
//! socket-reader thread ([`run_socket_reader`]), or on the JS thread for sessions whose socket
//! Node keeps reading (`TunSession.receive`).
#[cfg(unix)]
use std::sync::Arc;

pub use ttun_proto::is_ip_packet;
use ttun_proto::Receiver;

#[cfg(unix)]
use super::connection::Connection;
use super::device::{PacketDevice, PacketWriter};
#[cfg(unix)]
use super::outbound::OutboundSession;
use super::outbound::{send_answers, AnswerBuffers};
use super::shared::Shared;
use super::stats::add;

/// Bytes taken from the socket per read: large reads amortise the wake-up over many frames.
const SOCKET_READ_SIZE: usize = 256 * 1024;

/// What a socket-reader thread works in: the socket read buffer, the TUN write batch and the
/// buffers for sending the kernel's answers, several MB once GRO batches have grown them. Each
/// session has its own thread, so they are kept in the device between sessions and handed from
/// one thread to the next: allocated afresh on every new thread they would land in that thread's
/// malloc arena, which keeps the memory after the thread exits, and RSS would creep up reconnect
/// by reconnect.
#[cfg(unix)]
pub struct InboundBuffers<D: PacketDevice> {
    read: Vec<u8>,
    writer: PacketWriter<D>,
    answers: AnswerBuffers<D>,
}

#[cfg(unix)]
impl<D: PacketDevice> InboundBuffers<D> {
    fn new() -> Self {
        Self {
            read: Vec::with_capacity(SOCKET_READ_SIZE),
            writer: PacketWriter::new(),
            answers: AnswerBuffers::default(),
        }
    }
}

/// The socket-reader thread of one session: reads the connection, opens frames, writes packets
/// to the TUN, sends what the kernel answered, until the connection ends or the session is detached.
#[cfg(unix)]
pub fn run_socket_reader<D: PacketDevice>(
    shared: Arc<Shared<D>>,
    session: Arc<OutboundSession>,
    connection: Arc<Connection>,
    mut receiver: Receiver,
    leftover: Vec<u8>,
) {
    // Usually the previous session's set; a new one only for the first session, or when the
    // previous thread has not finished yet (a takeover).
    let mut buffers = shared.inbound_buffers.lock().unwrap().take().unwrap_or_else(InboundBuffers::new);
    let reason = read_until_end(&shared, &session, &connection, &mut receiver, &leftover, &mut buffers);
    *shared.inbound_buffers.lock().unwrap() = Some(buffers);
    if let Some(reason) = reason {
        session.end(&shared, reason);
    }
}

/// The loop of [`run_socket_reader`]: Some(reason) when the connection ended the session, None
/// when the session was detached from elsewhere.
#[cfg(unix)]
fn read_until_end<D: PacketDevice>(
    shared: &Shared<D>,
    session: &OutboundSession,
    connection: &Connection,
    receiver: &mut Receiver,
    leftover: &[u8],
    buffers: &mut InboundBuffers<D>,
) -> Option<String> {
    let InboundBuffers { read: buffer, writer, answers } = buffers;
    let still_wanted = || shared.is_current(session.id);
    buffer.clear();
    buffer.extend_from_slice(leftover);
    let reason = loop {
        if !buffer.is_empty() {
            if let Err(err) = receive(shared, receiver, writer, buffer) {
                break format!("bad frame from peer: {err}");
            }
            send_answers(shared, session.id, answers);
        }
        buffer.resize(SOCKET_READ_SIZE, 0);
        match connection.wait_readable(&still_wanted) {
            Ok(true) => {}
            Ok(false) => return None,
            Err(err) => break format!("connection error: {err}"),
        }
        match connection.try_recv(buffer) {
            Ok(Some(0)) => break "closed by peer".to_string(),
            Ok(Some(n)) => buffer.truncate(n),
            Ok(None) => buffer.clear(),
            Err(err) => break format!("connection error: {err}"),
        }
    };
    Some(reason)
}

/// A session whose socket someone else reads (JavaScript, on its thread): it hands each chunk
/// it reads to [`BatchInbound::receive`].
pub struct BatchInbound<D: PacketDevice> {
    pub id: u64,
    receiver: Receiver,
    writer: PacketWriter<D>,
    answers: AnswerBuffers<D>,
}

impl<D: PacketDevice> BatchInbound<D> {
    pub fn new(id: u64, receiver: Receiver) -> Self {
        Self { id, receiver, writer: PacketWriter::new(), answers: AnswerBuffers::default() }
    }

    /// Opens the complete frames of `chunk` in place and writes their packets to the device; a
    /// frame split across chunks waits for the rest. An error on a frame that cannot be opened:
    /// the connection must then end.
    pub fn receive(&mut self, shared: &Shared<D>, chunk: &mut [u8]) -> Result<(), ttun_proto::Error> {
        let result = receive(shared, &mut self.receiver, &mut self.writer, chunk);
        send_answers(shared, self.id, &mut self.answers);
        result
    }
}

pub fn receive<D: PacketDevice>(
    shared: &Shared<D>,
    receiver: &mut Receiver,
    writer: &mut PacketWriter<D>,
    chunk: &mut [u8],
) -> Result<(), ttun_proto::Error> {
    let result = receiver.receive(chunk, |packet| {
        if !is_ip_packet(packet) {
            // An authenticated peer sent something that is not one IP packet: v1 would end the
            // session on the failed TUN write; we drop it and keep the tunnel up.
            add(&shared.stats.rx_dropped_not_ip, 1);
            return;
        }
        add(&shared.stats.rx_bytes, packet.len() as u64);
        writer.push(packet);
        if writer.is_full() {
            flush(shared, writer);
        }
    });
    // Packets opened before a bad frame are still delivered.
    flush(shared, writer);
    result
}

fn flush<D: PacketDevice>(shared: &Shared<D>, writer: &mut PacketWriter<D>) {
    let outcome = writer.flush(&shared.device);
    let refused = u64::from(outcome.error.is_some());
    add(&shared.stats.rx_packets, outcome.written as u64 - refused);
    add(&shared.stats.rx_dropped_tun_write, refused);
}
