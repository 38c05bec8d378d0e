//! One device and the state its threads share: the attached session, flow control, counters, and
//! the threads to join on close. Every session is installed here ([`DataPath::install`]), whichever
//! way its packets travel (`super::attach`); the threads that move them (`super::outbound`,
//! `super::inbound`) work on this. Nothing here knows Node: JavaScript's callbacks come in as
//! plain closures, so tests drive the same code.
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

#[cfg(unix)]
use super::buffers::InboundBuffers;
use super::device::{PacketDevice, PacketWriter};
use super::flow::FlowControl;
#[cfg(unix)]
use super::session::SessionEnd;
use super::session::{EndNotice, Framer, Session};
use super::sink::Sink;
use super::stats::Stats;
use super::super_frames::{SuperFramePeers, SuperFrames};

/// Only the device's own handle and its threads hold this strongly, and closing joins those
/// threads, so the device (and its fd) goes when close returns; JavaScript session handles and
/// the batch callback hold it weakly or not at all.
pub struct DataPath<D: PacketDevice> {
    pub device: D,
    current: Mutex<Option<Arc<Session>>>,
    next_session_id: AtomicU64,
    pub flow: Arc<FlowControl>,
    pub stats: Arc<Stats>,
    /// The addresses sessions probe for super-frames (none: they never send any).
    super_frame_peers: SuperFramePeers,
    /// The socket-reader threads' buffers, passed from one session's thread to the next.
    #[cfg(unix)]
    spare_inbound_buffers: Mutex<Option<InboundBuffers<D>>>,
    /// Socket-reader threads not yet joined (finished ones are dropped at the next attach).
    #[cfg(unix)]
    socket_readers: Mutex<Vec<JoinHandle<()>>>,
}

impl<D: PacketDevice> DataPath<D> {
    pub fn new(device: D, super_frame_peers: SuperFramePeers) -> Arc<Self> {
        Arc::new(Self {
            device,
            super_frame_peers,
            current: Mutex::new(None),
            next_session_id: AtomicU64::new(1),
            flow: Arc::new(FlowControl::new()),
            stats: Arc::new(Stats::default()),
            #[cfg(unix)]
            spare_inbound_buffers: Mutex::new(None),
            #[cfg(unix)]
            socket_readers: Mutex::new(Vec::new()),
        })
    }

    pub fn current_session(&self) -> Option<Arc<Session>> {
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

    /// Ends `session` from a Rust thread: detaches it and tells JavaScript why, once (a session
    /// JavaScript already detached, or that was replaced, is not reported back to it).
    #[cfg(unix)]
    pub fn end_session(&self, session: &Session, end: SessionEnd) {
        if self.detach(session.id) {
            session.report_end(end);
        }
    }

    /// Makes a new session the current one, ending the previous one's connection. With
    /// `super_frames`, the session gets super-frame state to probe with (when there are peer
    /// addresses to probe).
    pub fn install(&self, framer: Framer, sink: Sink, on_end: Option<EndNotice>, super_frames: bool) -> Arc<Session> {
        let id = self.next_session_id.fetch_add(1, Ordering::Relaxed);
        let super_frames = (super_frames && !self.super_frame_peers.is_empty())
            .then(|| SuperFrames::new(self.super_frame_peers, probe_id(id)));
        let session = Arc::new(Session::new(id, framer, sink, on_end, super_frames));
        if let Some(previous) = self.current.lock().unwrap().replace(session.clone()) {
            previous.sink.shutdown();
        }
        // A new session starts unpaused: the old socket's backpressure is not its concern.
        self.flow.resume();
        // The reader thread may hold packets the old session did not take (its send queue) and
        // wait for the TUN with them: woken, it gives them to this session now, not whenever the
        // TUN next has a packet.
        self.device.interrupt();
        session
    }

    /// The previous socket-reader thread's buffers, if it has finished with them.
    #[cfg(unix)]
    pub fn take_inbound_buffers(&self) -> Option<InboundBuffers<D>> {
        self.spare_inbound_buffers.lock().unwrap().take()
    }

    #[cfg(unix)]
    pub fn keep_inbound_buffers(&self, buffers: InboundBuffers<D>) {
        *self.spare_inbound_buffers.lock().unwrap() = Some(buffers);
    }

    /// Keeps a socket-reader thread's handle for [`DataPath::stop`] to join.
    #[cfg(unix)]
    pub fn add_socket_reader(&self, thread: JoinHandle<()>) {
        let mut readers = self.socket_readers.lock().unwrap();
        // Dropping the handle of a thread that has ended only releases the handle.
        readers.retain(|reader| !reader.is_finished());
        readers.push(thread);
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
        for packet in packets.into_iter().filter(|p| ttun_proto::is_ip_packet(p)) {
            writer.push(packet);
            if writer.is_full() {
                flush(&mut writer);
            }
        }
        flush(&mut writer);
        written
    }

    /// Ends the session and stops every thread of the device, waiting for them; `tun_reader` is
    /// the handle `outbound::spawn_tun_reader` gave.
    pub fn stop(&self, tun_reader: Option<JoinHandle<()>>) {
        if let Some(session) = self.current.lock().unwrap().take() {
            session.sink.shutdown();
        }
        self.flow.stop();
        self.device.interrupt();
        if let Some(reader) = tun_reader {
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

/// An echo identifier for session `id`'s probe: different from session to session and from
/// process to process, so no late reply to another probe is taken for this one's.
fn probe_id(id: u64) -> u16 {
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |t| t.subsec_nanos());
    (u64::from(std::process::id()) ^ id.wrapping_mul(0x9e37) ^ u64::from(nanos)) as u16
}
