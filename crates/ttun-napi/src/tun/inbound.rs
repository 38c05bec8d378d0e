//! Received stream → opened frames → packets written to the TUN: on the session's own
//! socket-reader thread ([`spawn_socket_reader`]), or on the JS thread for sessions whose socket
//! Node keeps reading ([`CallbackInbound`], fed by `TunSession.receive`).
#[cfg(unix)]
use std::io;
#[cfg(unix)]
use std::sync::Arc;
#[cfg(unix)]
use std::thread::JoinHandle;

use ttun_proto::Receiver;

#[cfg(unix)]
use super::buffers::InboundBuffers;
#[cfg(unix)]
use super::connection::Connection;
use super::data_path::DataPath;
use super::device::{PacketDevice, PacketWriter};
#[cfg(unix)]
use super::outbound::send_answers;
#[cfg(unix)]
use super::session::{Session, SessionEnd, SessionEndKind};
use super::stats::add;
use super::super_frames::SuperFrames;

/// Bytes taken from the socket per read: large reads amortise the wake-up over many frames.
#[cfg(unix)]
const SOCKET_READ_SIZE: usize = 256 * 1024;

/// Starts the socket-reader thread of `session`: it reads the connection (starting with
/// `leftover`, what the handshake read past its end), opens frames, writes packets to the TUN and
/// sends what the kernel answered, until the connection ends or the session is detached.
#[cfg(unix)]
pub fn spawn_socket_reader<D: PacketDevice>(
    data_path: &Arc<DataPath<D>>,
    session: Arc<Session>,
    connection: Arc<Connection>,
    receiver: Receiver,
    leftover: Vec<u8>,
) -> io::Result<JoinHandle<()>> {
    let data_path = data_path.clone();
    std::thread::Builder::new()
        .name("ttun-sock-reader".into())
        .spawn(move || run_socket_reader(&data_path, &session, &connection, receiver, &leftover))
}

#[cfg(unix)]
fn run_socket_reader<D: PacketDevice>(
    data_path: &DataPath<D>,
    session: &Session,
    connection: &Connection,
    mut receiver: Receiver,
    leftover: &[u8],
) {
    // Usually the previous session's set; a new one only for the first session, or when the
    // previous thread has not finished yet (a takeover).
    let mut buffers = data_path.take_inbound_buffers().unwrap_or_else(|| InboundBuffers::new(SOCKET_READ_SIZE));
    let end = read_until_end(data_path, session, connection, &mut receiver, leftover, &mut buffers);
    data_path.keep_inbound_buffers(buffers);
    if let Some(end) = end {
        data_path.end_session(session, end);
    }
}

/// The loop of the socket-reader thread: Some(end) when the connection ended the session,
/// None when the session was detached from elsewhere.
#[cfg(unix)]
fn read_until_end<D: PacketDevice>(
    data_path: &DataPath<D>,
    session: &Session,
    connection: &Connection,
    receiver: &mut Receiver,
    leftover: &[u8],
    buffers: &mut InboundBuffers<D>,
) -> Option<SessionEnd> {
    let InboundBuffers { read: buffer, writer, answers } = buffers;
    let still_wanted = || data_path.is_current(session.id);
    let mut opened = |chunk: &mut [u8], writer: &mut PacketWriter<D>| {
        let result = receive_chunk(data_path, session.super_frames.as_ref(), receiver, writer, chunk);
        send_answers(data_path, session.id, answers);
        result
    };
    if !leftover.is_empty() {
        if let Err(err) = opened(&mut leftover.to_vec(), writer) {
            return Some(SessionEnd::new(SessionEndKind::BadFrame, err.to_string()));
        }
    }
    // Filled once (the set is kept across sessions): each read then overwrites what it returns, and
    // only that part is looked at.
    buffer.resize(SOCKET_READ_SIZE, 0);
    let end = loop {
        // Read first, poll only when there is nothing: under load the data is usually there
        // already, and the poll would be a system call for nothing.
        match connection.try_recv(buffer) {
            Ok(Some(0)) => break SessionEnd::new(SessionEndKind::PeerClosed, ""),
            Ok(Some(n)) => {
                if let Err(err) = opened(&mut buffer[..n], writer) {
                    break SessionEnd::new(SessionEndKind::BadFrame, err.to_string());
                }
            }
            Ok(None) => match connection.wait_readable(&still_wanted) {
                Ok(true) => {}
                Ok(false) => return None,
                Err(err) => break SessionEnd::new(SessionEndKind::ConnectionError, err.to_string()),
            },
            Err(err) => break SessionEnd::new(SessionEndKind::ConnectionError, err.to_string()),
        }
    };
    Some(end)
}

/// The receiving half of a session whose socket JavaScript reads (attachCallback): it hands each
/// chunk it reads to [`CallbackInbound::receive`]. JavaScript writes that socket too, so the
/// kernel's answers are left to the TUN reader thread rather than sent from here.
pub struct CallbackInbound<D: PacketDevice> {
    pub id: u64,
    receiver: Receiver,
    writer: PacketWriter<D>,
}

impl<D: PacketDevice> CallbackInbound<D> {
    pub fn new(id: u64, receiver: Receiver) -> Self {
        Self { id, receiver, writer: PacketWriter::new() }
    }

    /// Opens the complete frames of `chunk` in place and writes their packets to the device; a
    /// frame split across chunks waits for the rest. An error on a frame that cannot be opened:
    /// the connection must then end.
    pub fn receive(&mut self, data_path: &DataPath<D>, chunk: &mut [u8]) -> Result<(), ttun_proto::Error> {
        receive_chunk(data_path, None, &mut self.receiver, &mut self.writer, chunk)
    }
}

/// Opens the frames `chunk` completes and writes their packets to the device (a probe's reply
/// among them is noted, and written too: the kernel drops an echo reply nobody waits for).
fn receive_chunk<D: PacketDevice>(
    data_path: &DataPath<D>,
    super_frames: Option<&SuperFrames>,
    receiver: &mut Receiver,
    writer: &mut PacketWriter<D>,
    chunk: &mut [u8],
) -> Result<(), ttun_proto::Error> {
    let result = receiver.receive(chunk, |packet| {
        if !ttun_proto::is_ip_packet(packet) {
            // An authenticated peer sent something that is not one IP packet: v1 would end the
            // session on the failed TUN write; we drop it and keep the tunnel up.
            add(&data_path.stats.rx_dropped_not_ip, 1);
            return;
        }
        if let Some(super_frames) = super_frames {
            super_frames.note_received(packet);
        }
        add(&data_path.stats.rx_bytes, packet.len() as u64);
        if packet.len() > usize::from(data_path.device.mtu()) {
            // A super-frame: nothing can coalesce with it, so it goes from where it was opened
            // instead of through the batch's copy, after the packets before it.
            flush(data_path, writer);
            count_written(data_path, 1, data_path.device.write_one(packet).err());
            return;
        }
        writer.push(packet);
        if writer.is_full() {
            flush(data_path, writer);
        }
    });
    // Packets opened before a bad frame are still delivered.
    flush(data_path, writer);
    result
}

fn flush<D: PacketDevice>(data_path: &DataPath<D>, writer: &mut PacketWriter<D>) {
    let outcome = writer.flush(&data_path.device);
    count_written(data_path, outcome.written, outcome.error);
}

/// Counts a write of `written` packets; an error means the device refused (at least) one.
fn count_written<D: PacketDevice>(data_path: &DataPath<D>, written: usize, error: Option<std::io::Error>) {
    let refused = u64::from(error.is_some());
    add(&data_path.stats.rx_packets, written as u64 - refused);
    add(&data_path.stats.rx_dropped_tun_write, refused);
}
