//! Attaching a session to a device, one function per way its packets travel (the napi methods
//! attachSocket, attachCallback and attachPackets); each replaces the session attached before.
#[cfg(unix)]
use std::io;
#[cfg(unix)]
use std::sync::Arc;

#[cfg(unix)]
use super::connection::Connection;
use super::data_path::DataPath;
use super::device::PacketDevice;
#[cfg(unix)]
use super::inbound;
use super::inbound::CallbackInbound;
#[cfg(unix)]
use super::outbound;
#[cfg(unix)]
use super::session::EndNotice;
use super::session::{Framer, SessionKeys};
use super::sink::{BatchHandler, Sink};

/// A session whose connection Rust carries both ways: the TUN reader thread writes sealed batches
/// into it, a socket-reader thread of the session's own reads it (starting with `leftover`, what
/// the handshake read past its end) and writes the packets to the device. Returns its id.
#[cfg(unix)]
pub fn socket<D: PacketDevice>(
    data_path: &Arc<DataPath<D>>,
    keys: &SessionKeys,
    connection: Connection,
    leftover: Vec<u8>,
    on_end: EndNotice,
) -> io::Result<u64> {
    let connection = Arc::new(connection);
    let session =
        data_path.install(Framer::Sealed(keys.sealer()), Sink::Socket(connection.clone()), Some(on_end), true);
    let id = session.id;
    outbound::queue_probes(data_path, &session);
    let reader = inbound::spawn_socket_reader(data_path, session, connection, keys.receiver(), leftover)?;
    data_path.add_socket_reader(reader);
    Ok(id)
}

/// A session whose socket JavaScript reads and writes: sealed batches go to `on_batch`, and
/// JavaScript feeds what it reads to the returned receiving half.
pub fn callback<D: PacketDevice>(
    data_path: &DataPath<D>,
    keys: &SessionKeys,
    on_batch: BatchHandler,
) -> CallbackInbound<D> {
    let session = data_path.install(Framer::Sealed(keys.sealer()), Sink::Batches(on_batch), None, false);
    CallbackInbound::new(session.id, keys.receiver())
}

/// The device for JavaScript's own use, no peer: packets read go to `on_batch` unsealed. Returns
/// the session's id.
pub fn packets<D: PacketDevice>(data_path: &DataPath<D>, on_batch: BatchHandler) -> u64 {
    data_path.install(Framer::Plain, Sink::Batches(on_batch), None, false).id
}
