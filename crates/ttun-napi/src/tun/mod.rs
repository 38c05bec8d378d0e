//! The data path. One [`TunDevice`] per process; at most one [`TunSession`] attached to it at a
//! time (the authenticated connection). A Rust reader thread takes packets from the TUN in
//! batches, seals them into one contiguous run of frames and hands that buffer to JavaScript,
//! which writes it to the socket with one call. Socket chunks come back through
//! [`TunSession::receive`], which opens the frames in place and writes the packets to the TUN.
mod device;
mod flow;
mod inbound;
mod outbound;
mod stats;

use std::net::{Ipv4Addr, Ipv6Addr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use napi::bindgen_prelude::{Buffer, Function};
use napi::threadsafe_function::ThreadsafeFunction;
use napi_derive::napi;
use ttun_proto::{Cipher, Direction, FrameOpener, FrameSealer, Receiver};

use crate::errors::{error, from_io, Result};
use crate::protocol::{key32, parse_cipher, parse_direction};
use device::{Device, DeviceConfig, PacketWriter};
use flow::FlowControl;
use stats::{Stats, TunStats};

/// Called on the JS thread with each sealed batch. Weak: the socket keeps the process alive.
type BatchCallback = ThreadsafeFunction<Vec<u8>, (), Buffer, napi::Status, false, true>;
/// Called once on the JS thread if the reader thread stops on an error.
type FatalCallback = ThreadsafeFunction<String, (), String, napi::Status, false, true>;

/// The sending half of the attached session, shared with the reader thread.
struct OutboundSession {
    id: u64,
    sealer: Mutex<FrameSealer>,
    on_batch: BatchCallback,
}

struct Shared {
    device: Device,
    mtu: u16,
    current: Mutex<Option<Arc<OutboundSession>>>,
    next_session_id: AtomicU64,
    flow: FlowControl,
    stats: Stats,
}

#[napi(object)]
pub struct TunOptions {
    pub mtu: u32,
    pub ipv4: String,
    pub ipv4_prefix: u32,
    pub ipv6: String,
    pub ipv6_prefix: u32,
}

fn parse_config(options: &TunOptions) -> Result<DeviceConfig> {
    let mtu = u16::try_from(options.mtu)
        .ok()
        .filter(|m| (1280..=ttun_proto::MAX_PLAINTEXT_LEN as u16).contains(m))
        .ok_or_else(|| error("EBADMTU", format!("MTU {} is out of range 1280..65519", options.mtu)))?;
    let ipv4: Ipv4Addr = options.ipv4.parse().map_err(|_| error("EINVAL", format!("bad IPv4 address {:?}", options.ipv4)))?;
    let ipv6: Ipv6Addr = options.ipv6.parse().map_err(|_| error("EINVAL", format!("bad IPv6 address {:?}", options.ipv6)))?;
    if options.ipv4_prefix > 32 || options.ipv6_prefix > 128 {
        return Err(error("EINVAL", "address prefix out of range"));
    }
    Ok(DeviceConfig { mtu, ipv4, ipv4_prefix: options.ipv4_prefix as u8, ipv6, ipv6_prefix: options.ipv6_prefix as u8 })
}

/// Creates the TUN device (name, MTU, addresses, up) and starts its reader thread. `onFatal`
/// gets one message if the reader thread has to stop (the device vanished, for example).
#[napi(ts_args_type = "options: TunOptions, onFatal: (message: string) => void")]
pub fn create_tun(options: TunOptions, on_fatal: Function<String, ()>) -> Result<TunDevice> {
    let config = parse_config(&options)?;
    let device = Device::create(&config).map_err(|err| {
        if err.kind() == std::io::ErrorKind::PermissionDenied {
            error("EPERM", format!("cannot create a TUN device ({err}): run as root or with CAP_NET_ADMIN"))
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
    let shared = Arc::new(Shared {
        device,
        mtu: config.mtu,
        current: Mutex::new(None),
        next_session_id: AtomicU64::new(1),
        flow: FlowControl::new(),
        stats: Stats::default(),
    });
    let reader_shared = shared.clone();
    let reader = std::thread::Builder::new()
        .name("ttun-tun-reader".into())
        .spawn(move || outbound::run_reader(reader_shared, on_fatal))
        .map_err(|e| from_io("cannot start the reader thread", &e))?;
    Ok(TunDevice { shared, reader: Some(reader) })
}

#[napi]
pub struct TunDevice {
    shared: Arc<Shared>,
    reader: Option<JoinHandle<()>>,
}

#[napi]
impl TunDevice {
    #[napi(getter)]
    pub fn name(&self) -> String {
        self.shared.device.name().to_string()
    }

    #[napi(getter)]
    pub fn mtu(&self) -> u32 {
        self.shared.mtu as u32
    }

    /// Attaches a new authenticated session, replacing any previous one: from now on packets read
    /// from the TUN are sealed with `sessionKey` (counter 1 upwards, `sendDirection`) and handed to
    /// `onBatch`; frames given to the returned session's `receive` are opened with the reverse
    /// direction.
    #[napi(ts_args_type = "cipher: string, sessionKey: Buffer, sendDirection: number, onBatch: (wire: Buffer) => void")]
    pub fn attach(&self, cipher: String, session_key: &[u8], send_direction: u32, on_batch: Function<Buffer, ()>) -> Result<TunSession> {
        let kind = parse_cipher(&cipher)?;
        let cipher = Cipher::new(kind, &key32(session_key, "session key")?);
        let send = if parse_direction(send_direction)? == 0 { Direction::ClientToServer } else { Direction::ServerToClient };
        let flow_shared = self.shared.clone();
        let on_batch: BatchCallback = on_batch
            .build_threadsafe_function::<Vec<u8>>()
            .callee_handled::<false>()
            .weak::<true>()
            .build_callback(move |ctx| {
                // Runs on the JS thread just before the callback: the batch has left the queue.
                flow_shared.flow.batch_delivered();
                Ok(Buffer::from(ctx.value))
            })
            .map_err(|e| error("EIO", e.to_string()))?;
        let id = self.shared.next_session_id.fetch_add(1, Ordering::Relaxed);
        let outbound = Arc::new(OutboundSession { id, sealer: Mutex::new(FrameSealer::new(cipher.clone(), send, 1)), on_batch });
        *self.shared.current.lock().unwrap() = Some(outbound);
        // A new session starts unpaused: the old socket's backpressure is not its concern.
        self.shared.flow.resume();
        Ok(TunSession {
            shared: self.shared.clone(),
            id,
            receiver: Receiver::new(FrameOpener::new(cipher, send.reverse(), 1)),
            writer: PacketWriter::new(),
        })
    }

    /// The socket cannot take more: stop reading the TUN (its queue then fills and drops, and the
    /// inner TCP flows slow down) instead of buffering here.
    #[napi]
    pub fn pause(&self) {
        self.shared.flow.pause();
    }

    #[napi]
    pub fn resume(&self) {
        self.shared.flow.resume();
    }

    #[napi]
    pub fn stats(&self) -> TunStats {
        self.shared.stats.snapshot()
    }

    /// Stops the reader thread and closes the device, which removes it.
    #[napi]
    pub fn close(&mut self) {
        self.shared.current.lock().unwrap().take();
        self.shared.flow.stop();
        self.shared.device.interrupt();
        if let Some(reader) = self.reader.take() {
            let _ = reader.join();
        }
    }
}

/// The receiving half of an attached session, used from the JS thread.
#[napi]
pub struct TunSession {
    shared: Arc<Shared>,
    id: u64,
    receiver: Receiver,
    writer: PacketWriter,
}

#[napi]
impl TunSession {
    /// Feeds one chunk of the TCP stream. Complete frames are opened in place and their packets
    /// written to the TUN; a frame split across chunks waits for the rest. Throws (code
    /// EBADFRAME) on a frame that cannot be opened: the connection must then end.
    #[napi]
    pub fn receive(&mut self, mut chunk: Buffer) -> Result<()> {
        if !self.is_attached() {
            return Err(error("EDETACHED", "session is no longer attached"));
        }
        inbound::receive(&self.shared, &mut self.receiver, &mut self.writer, &mut chunk)
    }

    /// Detaches this session if it is still the current one: packets read afterwards are dropped.
    #[napi]
    pub fn detach(&self) {
        let mut current = self.shared.current.lock().unwrap();
        if current.as_ref().is_some_and(|s| s.id == self.id) {
            *current = None;
        }
    }

    fn is_attached(&self) -> bool {
        self.shared.current.lock().unwrap().as_ref().is_some_and(|s| s.id == self.id)
    }
}
