//! The data path. One [`TunDevice`] per process; at most one [`TunSession`] attached to it at a
//! time (the authenticated connection).
//!
//! After TypeScript has made the connection and completed the handshake it hands the socket over
//! (`attachSocket`): the device's TUN reader thread takes packets from the TUN in batches, seals
//! them into one contiguous buffer and writes it to the socket; the session's socket-reader
//! thread reads the socket, opens the frames in place and writes the packets to the TUN in one
//! batched write. No packet goes through the JS event loop, which keeps the thread wake-ups per round
//! trip to the minimum (one per side). Where no fd is available (Windows), or when asked
//! (`dataPath: 'event-loop'`), `attachCallback` keeps Node on the socket: batches go to a JS
//! callback, chunks come back through [`TunSession::receive`].
//!
//! This module is the Node-facing side only. The data path itself ([`data_path`], [`attach`],
//! [`outbound`], [`inbound`]) is generic over the device ([`device::PacketDevice`]) and takes
//! plain closures for JavaScript's callbacks, so its unit tests (tests.rs) run it on an in-memory
//! device.
//!
//! Each module uses only those listed after it (`scripts/check-module-cycles.mjs` keeps it so):
//! this one; [`attach`] (a session of each kind); [`inbound`] (socket → TUN); [`outbound`]
//! (TUN → socket); [`send_queue`] (what waits for the socket, small packets first); [`data_path`]
//! (the device and what its threads share); [`session`]; [`sink`];
//! [`buffers`]; [`connection`], [`flow`], [`stats`], [`device`] and [`super_frames`] (which TCP
//! super-packets go whole), which use none of the others but [`ip_packets`] (checksums, the
//! probe's packets).
mod attach;
#[cfg(unix)]
mod buffers;
#[cfg(unix)]
mod connection;
mod data_path;
mod device;
mod flow;
mod inbound;
mod ip_packets;
mod outbound;
#[cfg(unix)]
mod send_queue;
mod session;
mod sink;
mod stats;
mod super_frames;
#[cfg(all(test, unix))]
mod tests;

use std::net::{Ipv4Addr, Ipv6Addr};
use std::sync::{Arc, Weak};
use std::thread::JoinHandle;

use napi::bindgen_prelude::{Buffer, FnArgs, Function, JsValuesTupleIntoVec};
use napi::threadsafe_function::{ThreadsafeCallContext, ThreadsafeFunctionCallMode};
use napi_derive::napi;
use ttun_proto::Direction;

use crate::errors::{error, from_io, from_proto, Result};
use crate::protocol::{keyed_cipher, CipherName, Direction as JsDirection};
use data_path::DataPath;
use device::os::{DeviceConfig, OsDevice};
use device::PacketDevice;
use flow::FlowControl;
use inbound::CallbackInbound;
#[cfg(unix)]
use session::SessionEnd;
use session::{SessionEndKind, SessionKeys};
use stats::{Stats, TunStats};
use super_frames::SuperFramePeers;

/// Wraps a JavaScript function for calls from any thread: `prepare` turns the value into the
/// function's argument on the JS thread, just before the call. `WEAK`: whether the function lets
/// Node exit while it is held. The returned closure answers whether the call was queued.
fn js_callback<T, Arg, const WEAK: bool>(
    function: Function<Arg, ()>,
    prepare: impl FnMut(ThreadsafeCallContext<T>) -> napi::Result<Arg> + 'static,
) -> Result<impl Fn(T) -> bool + Send + Sync + 'static>
where
    T: Send + 'static,
    Arg: JsValuesTupleIntoVec + 'static,
{
    let function = function
        .build_threadsafe_function::<T>()
        .callee_handled::<false>()
        .weak::<WEAK>()
        .build_callback(prepare)
        .map_err(|e| error("EIO", e.to_string()))?;
    Ok(move |value| function.call(value, ThreadsafeFunctionCallMode::NonBlocking) == napi::Status::Ok)
}

fn session_keys(cipher: CipherName, session_key: &[u8], send_direction: JsDirection) -> Result<SessionKeys> {
    let cipher = keyed_cipher(cipher, session_key, "session key")?;
    let send: Direction = send_direction.into();
    Ok(SessionKeys { cipher, send })
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
    /// The peer's tunnel address of each family, to send TCP super-packets to whole once the peer
    /// has answered a probe (see `super_frames`); absent: that family never sends any.
    pub peer_ipv4: Option<String>,
    pub peer_ipv6: Option<String>,
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

/// The super-frame peers: this end's address and the peer's, for each family that has both.
fn super_frame_peers(options: &TunOptions, config: &DeviceConfig) -> Result<SuperFramePeers> {
    fn parse<A: std::str::FromStr>(family: &str, text: &Option<String>) -> Result<Option<A>> {
        let Some(text) = text else { return Ok(None) };
        text.parse().map(Some).map_err(|_| error("EINVAL", format!("bad {family} peer address {text:?}")))
    }
    let peer_ipv4 = parse::<Ipv4Addr>("IPv4", &options.peer_ipv4)?;
    let peer_ipv6 = parse::<Ipv6Addr>("IPv6", &options.peer_ipv6)?;
    Ok(SuperFramePeers {
        ipv4: config.ipv4.zip(peer_ipv4).map(|((own, _), peer)| (own, peer)),
        ipv6: config.ipv6.zip(peer_ipv6).map(|((own, _), peer)| (own, peer)),
    })
}

fn parse_config(options: &TunOptions) -> Result<DeviceConfig> {
    let mtu = u16::try_from(options.mtu)
        .ok()
        .filter(|m| (ttun_proto::MIN_MTU as u16..=ttun_proto::MAX_MTU as u16).contains(m))
        .ok_or_else(|| {
            let (min, max) = (ttun_proto::MIN_MTU, ttun_proto::MAX_MTU);
            error("EBADMTU", format!("MTU {} is out of range {min}..{max}", options.mtu))
        })?;
    let ipv4 = address_with_prefix::<Ipv4Addr>("IPv4", &options.ipv4, options.ipv4_prefix, 32)?;
    let ipv6 = address_with_prefix::<Ipv6Addr>("IPv6", &options.ipv6, options.ipv6_prefix, 128)?;
    Ok(DeviceConfig { name: options.name.clone(), mtu, ipv4, ipv6, wintun_file: options.wintun_file.clone() })
}

/// Creates the TUN device (name, MTU, addresses, up) and starts its reader thread. `onFatal`
/// gets one message if the reader thread has to stop (the device vanished, for example).
#[napi(ts_args_type = "options: TunOptions, onFatal: (message: string) => void")]
pub fn create_tun(options: TunOptions, on_fatal: Function<String, ()>) -> Result<TunDevice> {
    let config = parse_config(&options)?;
    let peers = super_frame_peers(&options, &config)?;
    let device = OsDevice::create(&config).map_err(|err| {
        if err.kind() == std::io::ErrorKind::PermissionDenied {
            error("EPERM", format!("cannot create a TUN device ({err}): run as root or with CAP_NET_ADMIN"))
        } else if let (Some(name), true) = (&config.name, device::os::is_name_taken(&err)) {
            error("EEXIST", format!("cannot create TUN device {name}: a network device of that name already exists"))
        } else {
            from_io("cannot create a TUN device", &err)
        }
    })?;
    // Weak: a device JavaScript forgot must not keep Node running.
    let on_fatal = js_callback::<String, String, true>(on_fatal, |ctx| Ok(ctx.value))?;
    let name = device.name().to_string();
    let mtu = device.mtu();
    // Only an offloading device reads super-packets: without offload there is nothing to probe for.
    let peers = if device.offloads() { peers } else { SuperFramePeers::default() };
    let data_path = DataPath::new(device, peers);
    let reader = outbound::spawn_tun_reader(&data_path, move |message| {
        on_fatal(message);
    })
    .map_err(|e| from_io("cannot start the reader thread", &e))?;
    Ok(TunDevice {
        flow: data_path.flow.clone(),
        stats: data_path.stats.clone(),
        data_path: Some(data_path),
        tun_reader: Some(reader),
        name,
        mtu,
    })
}

#[napi]
pub struct TunDevice {
    /// None once closed.
    data_path: Option<Arc<DataPath<OsDevice>>>,
    tun_reader: Option<JoinHandle<()>>,
    // Kept apart from `data_path` so they still answer after close().
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

    fn live(&self) -> Result<&Arc<DataPath<OsDevice>>> {
        self.data_path.as_ref().ok_or_else(closed)
    }

    /// Attaches a new authenticated session, replacing any previous one, and hands its connection
    /// to Rust: packets read from the TUN are sealed with `sessionKey` (counter 1 upwards,
    /// `sendDirection`) and written by the reader thread into socket `fd`; a thread of the
    /// session reads `fd`, starting with `leftover` (bytes the handshake read past its end), and
    /// opens the frames with the reverse direction. Node must have stopped reading the socket.
    /// `fd` is duplicated: Node keeps its own, to close. `onEnd` is told once why, when a Rust
    /// thread ends the session (its kind and a detail); not after detach().
    #[napi(
        ts_args_type = "cipher: CipherName, sessionKey: Buffer, sendDirection: Direction, fd: number, leftover: Buffer, onEnd: (kind: SessionEndKind, detail: string) => void"
    )]
    pub fn attach_socket(
        &self,
        cipher: CipherName,
        session_key: &[u8],
        send_direction: JsDirection,
        fd: i32,
        leftover: &[u8],
        on_end: Function<FnArgs<(SessionEndKind, String)>, ()>,
    ) -> Result<TunSession> {
        #[cfg(unix)]
        {
            let data_path = self.live()?;
            let keys = session_keys(cipher, session_key, send_direction)?;
            let connection =
                connection::Connection::new(fd).map_err(|e| from_io("cannot use the connection's socket", &e))?;
            // Strong, unlike the other callbacks: Node no longer reads the socket, so this is
            // what keeps its event loop alive while Rust carries the session.
            let on_end = js_callback::<SessionEnd, FnArgs<(SessionEndKind, String)>, false>(on_end, |ctx| {
                Ok(FnArgs::from((ctx.value.kind, ctx.value.detail)))
            })?;
            let on_end = Box::new(move |end| {
                on_end(end);
            });
            let id = attach::socket(data_path, &keys, connection, leftover.to_vec(), on_end)
                .map_err(|e| from_io("cannot start the socket reader thread", &e))?;
            Ok(TunSession { data_path: Arc::downgrade(data_path), id, inbound: None })
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
        let data_path = self.live()?;
        let keys = session_keys(cipher, session_key, send_direction)?;
        let inbound = attach::callback(data_path, &keys, self.batch_handler(on_batch)?);
        Ok(TunSession { data_path: Arc::downgrade(data_path), id: inbound.id, inbound: Some(inbound) })
    }

    /// Hands batches to `on_batch` on the JS thread; a batch leaves the flow control's queue just
    /// before the call.
    fn batch_handler(&self, on_batch: Function<Buffer, ()>) -> Result<sink::BatchHandler> {
        // The flow control only, not the device: a callback JavaScript keeps must not keep it.
        let flow = self.flow.clone();
        let handler = js_callback::<Vec<u8>, Buffer, false>(on_batch, move |ctx| {
            flow.batch_delivered();
            Ok(Buffer::from(ctx.value))
        })?;
        Ok(Box::new(handler))
    }

    /// Takes the TUN for JavaScript itself, replacing any session: packets read from it are handed
    /// to `onBatch` unsealed, as `[u16 BE length][packet]` records, one buffer per batch (the
    /// TypeScript side splits them). pause()/resume() carry backpressure. Detach the returned
    /// session to give the TUN back.
    #[napi(ts_args_type = "onBatch: (records: Buffer) => void")]
    pub fn attach_packets(&self, on_batch: Function<Buffer, ()>) -> Result<TunSession> {
        let data_path = self.live()?;
        let id = attach::packets(data_path, self.batch_handler(on_batch)?);
        Ok(TunSession { data_path: Arc::downgrade(data_path), id, inbound: None })
    }

    /// Writes IP packets to the TUN in one batch. Returns how many the device took; packets that
    /// are not a whole IPv4/IPv6 packet are refused without trying, and all once it is closed.
    #[napi]
    pub fn write_packets(&self, packets: Vec<Buffer>) -> u32 {
        let Some(data_path) = &self.data_path else { return 0 };
        data_path.write_packets(packets.iter().map(|packet| &packet[..]))
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
        let Some(data_path) = self.data_path.take() else { return };
        data_path.stop(self.tun_reader.take());
        // The last strong reference: dropping it closes the device's fd.
        debug_assert_eq!(Arc::strong_count(&data_path), 1);
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
    data_path: Weak<DataPath<OsDevice>>,
    id: u64,
    /// Only for attachCallback sessions, whose socket Node reads.
    inbound: Option<CallbackInbound<OsDevice>>,
}

#[napi]
impl TunSession {
    /// Feeds one chunk of the TCP stream. Complete frames are opened in place and their packets
    /// written to the TUN; a frame split across chunks waits for the rest. Throws (code
    /// EBADFRAME) on a frame that cannot be opened: the connection must then end.
    #[napi]
    pub fn receive(&mut self, mut chunk: Buffer) -> Result<()> {
        let Some(data_path) = self.data_path.upgrade().filter(|data_path| data_path.is_current(self.id)) else {
            return Err(error("EDETACHED", "session is no longer attached"));
        };
        let Some(inbound) = &mut self.inbound else {
            return Err(error("EINVAL", "this session's socket is read by its own thread"));
        };
        inbound.receive(&data_path, &mut chunk).map_err(from_proto)
    }

    /// Detaches this session if it is still the current one (packets read afterwards are
    /// dropped) and shuts its connection down.
    #[napi]
    pub fn detach(&self) {
        if let Some(data_path) = self.data_path.upgrade() {
            data_path.detach(self.id);
        }
    }
}
