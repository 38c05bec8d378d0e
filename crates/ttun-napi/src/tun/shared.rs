//! One device and what its threads share: the current session, flow control, counters. Every
//! session is installed here, through [`Shared::install`], whichever way its packets travel
//! (socket, batches for JavaScript to write, plain records for JavaScript itself). Nothing here
//! knows Node: JavaScript's callbacks come in as plain closures, so tests drive the same code.
use std::io;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use ttun_proto::{Cipher, Direction, FrameOpener, FrameSealer, Receiver};

#[cfg(unix)]
use super::connection::Connection;
use super::device::{PacketDevice, PacketWriter};
use super::flow::FlowControl;
use super::inbound;
use super::outbound::{self, Framer, OutboundSession};
use super::sink::{BatchHandler, Sink};
use super::stats::Stats;

/// Told once why a Rust thread ended the session (closed by peer, connection error, bad frame).
pub type EndNotice = Box<dyn Fn(String) + Send + Sync>;

/// The keys of one authenticated session and the direction this end sends in.
pub struct SessionKeys {
    pub cipher: Cipher,
    pub send: Direction,
}

impl SessionKeys {
    fn sealer(&self) -> FrameSealer {
        FrameSealer::new(self.cipher.clone(), self.send, 1)
    }

    fn receiver(&self) -> Receiver {
        Receiver::new(FrameOpener::new(self.cipher.clone(), self.send.reverse(), 1))
    }
}

/// Only the device's own handle and its threads hold this strongly, and closing joins those
/// threads, so the device (and its fd) goes when close returns; JavaScript session handles and
/// the batch callback hold it weakly or not at all.
pub struct Shared<D: PacketDevice> {
    pub device: D,
    current: Mutex<Option<Arc<OutboundSession>>>,
    next_session_id: AtomicU64,
    pub flow: Arc<FlowControl>,
    pub stats: Arc<Stats>,
    /// The socket-reader threads' buffers, passed from one session's thread to the next.
    #[cfg(unix)]
    pub inbound_buffers: Mutex<Option<inbound::InboundBuffers<D>>>,
    /// Socket-reader threads not yet joined (finished ones are dropped at the next attach).
    #[cfg(unix)]
    socket_readers: Mutex<Vec<JoinHandle<()>>>,
}

impl<D: PacketDevice> Shared<D> {
    pub fn new(device: D) -> Arc<Self> {
        Arc::new(Self {
            device,
            current: Mutex::new(None),
            next_session_id: AtomicU64::new(1),
            flow: Arc::new(FlowControl::new()),
            stats: Arc::new(Stats::default()),
            #[cfg(unix)]
            inbound_buffers: Mutex::new(None),
            #[cfg(unix)]
            socket_readers: Mutex::new(Vec::new()),
        })
    }

    /// Starts the device's reader thread; `on_fatal` gets one message if it has to stop (the
    /// device vanished, for example).
    pub fn start_reader(
        self: &Arc<Self>,
        on_fatal: impl FnOnce(String) + Send + 'static,
    ) -> io::Result<JoinHandle<()>> {
        let shared = self.clone();
        std::thread::Builder::new().name("ttun-tun-reader".into()).spawn(move || outbound::run_reader(shared, on_fatal))
    }

    pub fn current(&self) -> Option<Arc<OutboundSession>> {
        self.current.lock().unwrap().clone()
    }

    pub fn is_current(&self, id: u64) -> bool {
        self.current.lock().unwrap().as_ref().is_some_and(|s| s.id == id)
    }

    /// Detaches session `id` if it is the current one and shuts its connection down. Returns
    /// whether it was.
    pub fn detach(&self, id: u64) -> bool {
        let mut current = self.current.lock().unwrap();
        match current.take_if(|session| session.id == id) {
            Some(session) => {
                session.sink.shutdown();
                true
            }
            None => false,
        }
    }

    /// Makes a new session the current one, ending the previous one's connection.
    fn install(&self, framer: Framer, sink: Sink, on_end: Option<EndNotice>) -> Arc<OutboundSession> {
        let id = self.next_session_id.fetch_add(1, Ordering::Relaxed);
        let session = Arc::new(OutboundSession::new(id, framer, sink, on_end));
        if let Some(previous) = self.current.lock().unwrap().replace(session.clone()) {
            previous.sink.shutdown();
        }
        // A new session starts unpaused: the old socket's backpressure is not its concern.
        self.flow.resume();
        session
    }

    /// A session whose connection Rust carries both ways: the reader thread writes sealed
    /// batches into it, a thread of the session's own reads it (starting with `leftover`, what
    /// the handshake read past its end) and writes the packets to the device. Returns its id.
    #[cfg(unix)]
    pub fn attach_connection(
        self: &Arc<Self>,
        keys: &SessionKeys,
        connection: Connection,
        leftover: Vec<u8>,
        on_end: EndNotice,
    ) -> io::Result<u64> {
        let connection = Arc::new(connection);
        let session = self.install(Framer::Sealed(keys.sealer()), Sink::Socket(connection.clone()), Some(on_end));
        let id = session.id;
        let shared = self.clone();
        let receiver = keys.receiver();
        let thread = std::thread::Builder::new()
            .name("ttun-sock-reader".into())
            .spawn(move || inbound::run_socket_reader(shared, session, connection, receiver, leftover))?;
        let mut readers = self.socket_readers.lock().unwrap();
        // Dropping the handle of a thread that has ended only releases the handle.
        readers.retain(|reader| !reader.is_finished());
        readers.push(thread);
        Ok(id)
    }

    /// A session whose socket someone else reads and writes: sealed batches go to `on_batch`
    /// (the caller feeds the returned receiver what it reads, see [`inbound::BatchInbound`]).
    pub fn attach_batches(&self, keys: &SessionKeys, on_batch: BatchHandler) -> inbound::BatchInbound<D> {
        let session = self.install(Framer::Sealed(keys.sealer()), Sink::Batches(on_batch), None);
        inbound::BatchInbound::new(session.id, keys.receiver())
    }

    /// The device for its owner's own use, no peer: packets read go to `on_batch` unsealed.
    pub fn attach_plain(&self, on_batch: BatchHandler) -> u64 {
        self.install(Framer::Plain, Sink::Batches(on_batch), None).id
    }

    /// Writes IP packets to the device in one batch. Returns how many it took; what is not a
    /// whole IPv4/IPv6 packet is refused without trying.
    pub fn write_packets<'a>(&self, packets: impl IntoIterator<Item = &'a [u8]>) -> u32 {
        let mut writer = PacketWriter::<D>::new();
        let mut written = 0u32;
        let mut flush = |writer: &mut PacketWriter<D>| {
            let outcome = writer.flush(&self.device);
            written += outcome.written as u32 - u32::from(outcome.error.is_some());
        };
        for packet in packets.into_iter().filter(|p| inbound::is_ip_packet(p)) {
            writer.push(packet);
            if writer.is_full() {
                flush(&mut writer);
            }
        }
        flush(&mut writer);
        written
    }

    /// Ends the session and stops every thread of the device, waiting for them; `reader` is the
    /// handle [`Shared::start_reader`] gave.
    pub fn stop(&self, reader: Option<JoinHandle<()>>) {
        if let Some(session) = self.current.lock().unwrap().take() {
            session.sink.shutdown();
        }
        self.flow.stop();
        self.device.interrupt();
        if let Some(reader) = reader {
            let _ = reader.join();
        }
        // No session is current any more, so each socket reader leaves its wait within one
        // re-check interval (at once for the shut-down socket); a takeover can leave several.
        #[cfg(unix)]
        for reader in std::mem::take(&mut *self.socket_readers.lock().unwrap()) {
            let _ = reader.join();
        }
    }
}
