//! The data path. One [`TunDevice`] per process; at most one [`TunSession`] attached to it at a
//! time (the authenticated connection).
//!
//! After TypeScript has made the connection and completed the handshake it hands the socket over
//! (`attachSocket`): the device's reader thread takes packets from the TUN in batches, seals them
//! into one contiguous buffer and writes it to the socket; the session's socket-reader thread
//! reads the socket, opens the frames in place and writes the packets to the TUN in one batched
//! write. No packet goes through the JS event loop, which keeps the thread wake-ups per round
//! trip to the minimum (one per side). Where no fd is available (or for comparison),
//! `attachCallback` keeps Node on the socket: batches go to a JS callback, chunks come back
//! through [`TunSession::receive`].
#[cfg(unix)]
mod connection;
mod device;
mod flow;
mod inbound;
mod outbound;
mod sink;
mod stats;

use std::net::{Ipv4Addr, Ipv6Addr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::thread::JoinHandle;

use napi::bindgen_prelude::{Buffer, Function};
use napi::threadsafe_function::ThreadsafeFunction;
use napi_derive::napi;
use ttun_proto::{Direction, FrameOpener, FrameSealer, Receiver};

use crate::errors::{error, from_io, Result};
use crate::protocol::{keyed_cipher, CipherName, Direction as JsDirection};
use device::{Device, DeviceConfig, PacketWriter};
use flow::FlowControl;
use outbound::{AnswerBuffers, Framer, OutboundSession};
use sink::Sink;
use stats::{Stats, TunStats};

/// Called on the JS thread with each batch. Strong: for a TUN read by JavaScript it is what keeps
/// Node alive while the reader is attached; it is released when the session is detached.
type BatchCallback = ThreadsafeFunction<Vec<u8>, (), Buffer, napi::Status, false, false>;
/// Called once on the JS thread if the reader thread stops on an error.
type FatalCallback = ThreadsafeFunction<String, (), String, napi::Status, false, true>;

/// Called once on the JS thread when a Rust thread ends the session (EOF, error, bad frame).
type EndCallback = ThreadsafeFunction<String, (), String, napi::Status, false, false>;

/// What the threads of a device share. Only the device's own handle and its threads hold it
/// strongly, and close() joins those threads, so the device (and its fd) goes when close()
/// returns; JavaScript session handles and the batch callback hold it weakly or not at all.
struct Shared {
    device: Device,
    current: Mutex<Option<Arc<OutboundSession>>>,
    next_session_id: AtomicU64,
    flow: Arc<FlowControl>,
    stats: Arc<Stats>,
    /// The socket-reader threads' buffers, passed from one session's thread to the next.
    #[cfg(unix)]
    inbound_buffers: Mutex<Option<inbound::InboundBuffers>>,
    /// Socket-reader threads not yet joined (finished ones are dropped at the next attach).
    #[cfg(unix)]
    socket_readers: Mutex<Vec<JoinHandle<()>>>,
}

impl Shared {
    fn is_current(&self, id: u64) -> bool {
        self.current.lock().unwrap().as_ref().is_some_and(|s| s.id == id)
    }

    /// Detaches session `id` if it is the current one and shuts its connection down. Returns
    /// whether it was.
    fn detach(&self, id: u64) -> bool {
        let mut current = self.current.lock().unwrap();
        match current.take_if(|session| session.id == id) {
            Some(session) => {
                session.sink.shutdown();
                true
            }
            None => false,
        }
    }
}

#[napi(object)]
pub struct TunOptions {
    /// The device's name; absent: the platform's default (the first free `ttunN` on Linux).
    pub name: Option<String>,
    pub mtu: u32,
    /// Each family is optional: a device may have only an IPv4 or only an IPv6 address.
    pub ipv4: Option<String>,
    pub ipv4_prefix: Option<u32>,
    pub ipv6: Option<String>,
    pub ipv6_prefix: Option<u32>,
    /// Windows: the path of wintun.dll (the win32 package ships it beside the addon); else the
    /// DLL search path is used. Ignored elsewhere.
    pub wintun_file: Option<String>,
}

/// An address and its prefix length, both given or both absent.
fn address_with_prefix<A: std::str::FromStr>(
    family: &str,
    address: &Option<String>,
    prefix: Option<u32>,
    max_prefix: u32,
) -> Result<Option<(A, u8)>> {
    match (address, prefix) {
        (None, None) => Ok(None),
        (Some(text), Some(prefix)) if prefix <= max_prefix => {
            let address = text.parse().map_err(|_| error("EINVAL", format!("bad {family} address {text:?}")))?;
            Ok(Some((address, prefix as u8)))
        }
        (Some(_), Some(prefix)) => Err(error("EINVAL", format!("{family} prefix /{prefix} is out of range"))),
        _ => Err(error("EINVAL", format!("the {family} address and its prefix go together"))),
    }
}

fn parse_config(options: &TunOptions) -> Result<DeviceConfig> {
    let mtu = u16::try_from(options.mtu)
        .ok()
        .filter(|m| (1280..=ttun_proto::MAX_PLAINTEXT_LEN as u16).contains(m))
        .ok_or_else(|| error("EBADMTU", format!("MTU {} is out of range 1280..65519", options.mtu)))?;
    let ipv4 = address_with_prefix::<Ipv4Addr>("IPv4", &options.ipv4, options.ipv4_prefix, 32)?;
    let ipv6 = address_with_prefix::<Ipv6Addr>("IPv6", &options.ipv6, options.ipv6_prefix, 128)?;
    Ok(DeviceConfig { name: options.name.clone(), mtu, ipv4, ipv6, wintun_file: options.wintun_file.clone() })
}

/// Creates the TUN device (name, MTU, addresses, up) and starts its reader thread. `onFatal`
/// gets one message if the reader thread has to stop (the device vanished, for example).
#[napi(ts_args_type = "options: TunOptions, onFatal: (message: string) => void")]
pub fn create_tun(options: TunOptions, on_fatal: Function<String, ()>) -> Result<TunDevice> {
    let config = parse_config(&options)?;
    let device = Device::create(&config).map_err(|err| {
        if err.kind() == std::io::ErrorKind::PermissionDenied {
            error("EPERM", format!("cannot create a TUN device ({err}): run as root or with CAP_NET_ADMIN"))
        } else if let (Some(name), true) = (&config.name, device::is_name_taken(&err)) {
            error("EEXIST", format!("cannot create TUN device {name}: a network device of that name already exists"))
        } else {
            from_io("cannot create a TUN device", &err)
        }
    })?;
    let on_fatal: FatalCallback = on_fatal
        .build_threadsafe_function::<String>()
        .callee_handled::<false>()
        .weak::<true>()
        .build()
        .map_err(|e| error("EIO", e.to_string()))?;
    let name = device.name().to_string();
    let shared = Arc::new(Shared {
        device,
        current: Mutex::new(None),
        next_session_id: AtomicU64::new(1),
        flow: Arc::new(FlowControl::new()),
        stats: Arc::new(Stats::default()),
        #[cfg(unix)]
        inbound_buffers: Mutex::new(None),
        #[cfg(unix)]
        socket_readers: Mutex::new(Vec::new()),
    });
    let reader_shared = shared.clone();
    let reader = std::thread::Builder::new()
        .name("ttun-tun-reader".into())
        .spawn(move || outbound::run_reader(reader_shared, on_fatal))
        .map_err(|e| from_io("cannot start the reader thread", &e))?;
    Ok(TunDevice {
        flow: shared.flow.clone(),
        stats: shared.stats.clone(),
        shared: Some(shared),
        reader: Some(reader),
        name,
        mtu: config.mtu,
    })
}

#[napi]
pub struct TunDevice {
    /// None once closed.
    shared: Option<Arc<Shared>>,
    reader: Option<JoinHandle<()>>,
    // Kept apart from `shared` so they still answer after close().
    name: String,
    mtu: u16,
    flow: Arc<FlowControl>,
    stats: Arc<Stats>,
}

fn closed() -> napi::Error<String> {
    error("ECLOSED", "the TUN device is closed")
}

#[napi]
impl TunDevice {
    #[napi(getter)]
    pub fn name(&self) -> String {
        self.name.clone()
    }

    #[napi(getter)]
    pub fn mtu(&self) -> u32 {
        self.mtu as u32
    }

    fn live(&self) -> Result<&Arc<Shared>> {
        self.shared.as_ref().ok_or_else(closed)
    }

    /// Attaches a new authenticated session, replacing any previous one, and hands its connection
    /// to Rust: packets read from the TUN are sealed with `sessionKey` (counter 1 upwards,
    /// `sendDirection`) and written by the reader thread into socket `fd`; a thread of the
    /// session reads `fd`, starting with `leftover` (bytes the handshake read past its end), and
    /// opens the frames with the reverse direction. Node must have stopped reading the socket.
    /// `fd` is duplicated: Node keeps its own, to close. `onEnd` gets one reason when a Rust
    /// thread ends the session (closed by peer, connection error, bad frame); not after detach().
    #[napi(
        ts_args_type = "cipher: CipherName, sessionKey: Buffer, sendDirection: Direction, fd: number, leftover: Buffer, onEnd: (reason: string) => void"
    )]
    pub fn attach_socket(
        &self,
        cipher: CipherName,
        session_key: &[u8],
        send_direction: JsDirection,
        fd: i32,
        leftover: &[u8],
        on_end: Function<String, ()>,
    ) -> Result<TunSession> {
        #[cfg(unix)]
        {
            let connection = Arc::new(
                connection::Connection::new(fd).map_err(|e| from_io("cannot use the connection's socket", &e))?,
            );
            // Strong, unlike the other callbacks: Node no longer reads the socket, so this is
            // what keeps its event loop alive while Rust carries the session.
            let on_end: EndCallback = on_end
                .build_threadsafe_function::<String>()
                .callee_handled::<false>()
                .weak::<false>()
                .build()
                .map_err(|e| error("EIO", e.to_string()))?;
            let (session, outbound, receiver) =
                self.attach(cipher, session_key, send_direction, Sink::Socket(connection.clone()), Some(on_end))?;
            let shared = self.live()?.clone();
            let leftover = leftover.to_vec();
            let thread = std::thread::Builder::new()
                .name("ttun-sock-reader".into())
                .spawn(move || inbound::run_socket_reader(shared, outbound, connection, receiver, leftover))
                .map_err(|e| from_io("cannot start the socket reader thread", &e))?;
            let mut readers = self.live()?.socket_readers.lock().unwrap();
            // Dropping the handle of a thread that has ended only releases the handle.
            readers.retain(|reader| !reader.is_finished());
            readers.push(thread);
            Ok(session)
        }
        #[cfg(not(unix))]
        {
            let _ = (cipher, session_key, send_direction, fd, leftover, on_end);
            Err(error("ENOTSUP", "socket fds are not available on this platform: use attachCallback"))
        }
    }

    /// Like attachSocket, but sealed batches are handed to `onBatch` (one buffer of frames per
    /// batch) for JavaScript to write; pause()/resume() then carry the socket's backpressure.
    #[napi(
        ts_args_type = "cipher: CipherName, sessionKey: Buffer, sendDirection: Direction, onBatch: (wire: Buffer) => void"
    )]
    pub fn attach_callback(
        &self,
        cipher: CipherName,
        session_key: &[u8],
        send_direction: JsDirection,
        on_batch: Function<Buffer, ()>,
    ) -> Result<TunSession> {
        let sink = Sink::Js(self.batch_callback(on_batch)?);
        let (mut session, _, receiver) = self.attach(cipher, session_key, send_direction, sink, None)?;
        session.inbound = Some(JsInbound { receiver, writer: PacketWriter::new(), answers: AnswerBuffers::default() });
        Ok(session)
    }

    fn batch_callback(&self, on_batch: Function<Buffer, ()>) -> Result<BatchCallback> {
        self.live()?;
        // The flow control only, not the device: a callback JavaScript keeps must not keep it.
        let flow = self.flow.clone();
        on_batch
            .build_threadsafe_function::<Vec<u8>>()
            .callee_handled::<false>()
            .weak::<false>()
            .build_callback(move |ctx| {
                // Runs on the JS thread just before the callback: the batch has left the queue.
                flow.batch_delivered();
                Ok(Buffer::from(ctx.value))
            })
            .map_err(|e| error("EIO", e.to_string()))
    }

    /// Installs a new current session; returns its JS handle, its sending half and its receiver.
    fn attach(
        &self,
        cipher: CipherName,
        session_key: &[u8],
        send_direction: JsDirection,
        sink: Sink,
        on_end: Option<EndCallback>,
    ) -> Result<(TunSession, Arc<OutboundSession>, Receiver)> {
        let shared = self.live()?;
        let cipher = keyed_cipher(cipher, session_key, "session key")?;
        let send: Direction = send_direction.into();
        let id = shared.next_session_id.fetch_add(1, Ordering::Relaxed);
        let outbound =
            Arc::new(OutboundSession::new(id, Framer::Sealed(FrameSealer::new(cipher.clone(), send, 1)), sink, on_end));
        if let Some(previous) = shared.current.lock().unwrap().replace(outbound.clone()) {
            previous.sink.shutdown();
        }
        // A new session starts unpaused: the old socket's backpressure is not its concern.
        shared.flow.resume();
        let receiver = Receiver::new(FrameOpener::new(cipher, send.reverse(), 1));
        Ok((TunSession { shared: Arc::downgrade(shared), id, inbound: None }, outbound, receiver))
    }

    /// Takes the TUN for JavaScript itself, replacing any session: packets read from it are handed
    /// to `onBatch` unsealed, as `[u16 BE length][packet]` records, one buffer per batch (the
    /// TypeScript side splits them). pause()/resume() carry backpressure. Detach the returned
    /// session to give the TUN back.
    #[napi(ts_args_type = "onBatch: (records: Buffer) => void")]
    pub fn attach_packets(&self, on_batch: Function<Buffer, ()>) -> Result<TunSession> {
        let sink = Sink::Js(self.batch_callback(on_batch)?);
        let shared = self.live()?;
        let id = shared.next_session_id.fetch_add(1, Ordering::Relaxed);
        let outbound = Arc::new(OutboundSession::new(id, Framer::Plain, sink, None));
        if let Some(previous) = shared.current.lock().unwrap().replace(outbound) {
            previous.sink.shutdown();
        }
        shared.flow.resume();
        Ok(TunSession { shared: Arc::downgrade(shared), id, inbound: None })
    }

    /// Writes IP packets to the TUN in one batch. Returns how many the device took; packets that
    /// are not a whole IPv4/IPv6 packet are refused without trying, and all once it is closed.
    #[napi]
    pub fn write_packets(&self, packets: Vec<Buffer>) -> u32 {
        let Some(shared) = &self.shared else { return 0 };
        let mut writer = PacketWriter::new();
        let mut written = 0u32;
        let mut flush = |writer: &mut PacketWriter| {
            let outcome = writer.flush(&shared.device);
            written += outcome.written as u32 - u32::from(outcome.error.is_some());
        };
        for packet in packets.iter().filter(|p| inbound::is_ip_packet(p)) {
            writer.push(packet);
            if writer.is_full() {
                flush(&mut writer);
            }
        }
        flush(&mut writer);
        written
    }

    /// The socket cannot take more: stop reading the TUN (its queue then fills and drops, and the
    /// inner TCP flows slow down) instead of buffering here.
    #[napi]
    pub fn pause(&self) {
        self.flow.pause();
    }

    #[napi]
    pub fn resume(&self) {
        self.flow.resume();
    }

    /// The counters; after close(), their final values.
    #[napi]
    pub fn stats(&self) -> TunStats {
        self.stats.snapshot()
    }

    /// Ends the session, stops and joins every thread of the device and closes it, which removes
    /// it: when this returns the device is gone (the next device may take its name). Session
    /// handles JavaScript still holds then fail (EDETACHED) or do nothing.
    #[napi]
    pub fn close(&mut self) {
        let Some(shared) = self.shared.take() else { return };
        if let Some(session) = shared.current.lock().unwrap().take() {
            session.sink.shutdown();
        }
        shared.flow.stop();
        shared.device.interrupt();
        if let Some(reader) = self.reader.take() {
            let _ = reader.join();
        }
        // No session is current any more, so each socket reader leaves its wait within one
        // re-check interval (at once for the shut-down socket); a takeover can leave several.
        #[cfg(unix)]
        for reader in std::mem::take(&mut *shared.socket_readers.lock().unwrap()) {
            let _ = reader.join();
        }
        // The last strong reference: dropping it closes the device's fd.
        debug_assert_eq!(Arc::strong_count(&shared), 1);
    }
}

impl Drop for TunDevice {
    /// A device JavaScript dropped without close() is closed when collected, rather than kept
    /// forever by its reader thread.
    fn drop(&mut self) {
        self.close();
    }
}

/// JavaScript's handle on an attached session.
#[napi]
pub struct TunSession {
    /// Weak: a handle JavaScript keeps must not keep the device open after close().
    shared: Weak<Shared>,
    id: u64,
    /// Only for attachCallback sessions, whose socket Node reads.
    inbound: Option<JsInbound>,
}

struct JsInbound {
    receiver: Receiver,
    writer: PacketWriter,
    answers: AnswerBuffers,
}

#[napi]
impl TunSession {
    /// Feeds one chunk of the TCP stream. Complete frames are opened in place and their packets
    /// written to the TUN; a frame split across chunks waits for the rest. Throws (code
    /// EBADFRAME) on a frame that cannot be opened: the connection must then end.
    #[napi]
    pub fn receive(&mut self, mut chunk: Buffer) -> Result<()> {
        let Some(shared) = self.shared.upgrade().filter(|shared| shared.is_current(self.id)) else {
            return Err(error("EDETACHED", "session is no longer attached"));
        };
        let Some(JsInbound { receiver, writer, answers }) = &mut self.inbound else {
            return Err(error("EINVAL", "this session's socket is read by its own thread"));
        };
        let result = inbound::receive(&shared, receiver, writer, &mut chunk);
        outbound::send_answers(&shared, self.id, answers);
        result
    }

    /// Detaches this session if it is still the current one (packets read afterwards are
    /// dropped) and shuts its connection down.
    #[napi]
    pub fn detach(&self) {
        if let Some(shared) = self.shared.upgrade() {
            shared.detach(self.id);
        }
    }
}
