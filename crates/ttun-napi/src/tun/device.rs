//! The OS side of the TUN device: creation with the v1 name, MTU and addresses, and packet I/O in
//! batches. Linux uses the kernel's virtio-net offload (one read returns a TSO super-packet that
//! tun-rs splits into MTU-sized IP packets; writes are GRO-coalesced), which is where most of the
//! speed comes from. macOS and Windows read and write one packet per call.
use std::io;
use std::net::{Ipv4Addr, Ipv6Addr};

use tun_rs::{DeviceBuilder, InterruptEvent, SyncDevice};

pub struct DeviceConfig {
    pub mtu: u16,
    pub ipv4: Ipv4Addr,
    pub ipv4_prefix: u8,
    pub ipv6: Ipv6Addr,
    pub ipv6_prefix: u8,
    #[cfg_attr(not(target_os = "windows"), allow(dead_code))]
    pub wintun_file: Option<String>,
}

/// A created TUN device. `Send + Sync`: the reader thread reads while the JS thread writes.
pub struct Device {
    inner: SyncDevice,
    name: String,
    /// Wakes the reader thread out of its wait for packets when the device is closed.
    interrupt: InterruptEvent,
    #[cfg_attr(not(target_os = "linux"), allow(dead_code))]
    offload: bool,
}

impl Device {
    pub fn create(config: &DeviceConfig) -> io::Result<Device> {
        let (inner, offload) = build(config)?;
        let name = inner.name()?;
        // Reads are attempted until WouldBlock after each wake-up (wait_readable blocks instead).
        #[cfg(unix)]
        inner.set_nonblocking(true)?;
        Ok(Device { inner, name, interrupt: InterruptEvent::new()?, offload })
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// Blocks until a packet can be read or [`Device::interrupt`] is called (`ErrorKind::Interrupted`).
    pub fn wait_readable(&self) -> io::Result<()> {
        self.inner.wait_readable_intr(&self.interrupt)
    }

    pub fn interrupt(&self) {
        let _ = self.interrupt.trigger();
    }

    /// Re-arms the wait after an interrupt that was not a close.
    pub fn clear_interrupt(&self) {
        let _ = self.interrupt.reset();
    }
}

fn with_addresses(config: &DeviceConfig, builder: DeviceBuilder) -> DeviceBuilder {
    builder.mtu(config.mtu).ipv4(config.ipv4, config.ipv4_prefix, None).ipv6(config.ipv6, config.ipv6_prefix)
}

#[cfg(target_os = "linux")]
fn build(config: &DeviceConfig) -> io::Result<(SyncDevice, bool)> {
    // "ttun%d": the kernel picks the first free ttunN, as v1 does.
    let builder = || with_addresses(config, DeviceBuilder::new().name("ttun%d"));
    match builder().offload(true).build_sync() {
        Ok(device) => Ok((device, true)),
        // Offload is an optimisation: a kernel that refuses it still gets a working tunnel.
        Err(err) if err.kind() != io::ErrorKind::PermissionDenied => Ok((builder().build_sync()?, false)),
        Err(err) => Err(err),
    }
}

#[cfg(target_os = "macos")]
fn build(config: &DeviceConfig) -> io::Result<(SyncDevice, bool)> {
    // No name: the kernel assigns the next free utunN.
    Ok((with_addresses(config, DeviceBuilder::new()).build_sync()?, false))
}

#[cfg(target_os = "windows")]
fn build(config: &DeviceConfig) -> io::Result<(SyncDevice, bool)> {
    // wintun.dll: the path given (the one beside the addon), else the DLL search path.
    // "ttun", or "ttun<pid>" when that name is taken.
    let builder = |name: String| {
        let builder = with_addresses(config, DeviceBuilder::new().name(name));
        match &config.wintun_file {
            Some(path) => builder.wintun_file(path.clone()),
            None => builder,
        }
    };
    match builder("ttun".into()).build_sync() {
        Ok(device) => Ok((device, false)),
        Err(_) => Ok((builder(format!("ttun{}", std::process::id())).build_sync()?, false)),
    }
}

/// Reusable buffers for reading batches. One per reader thread.
pub struct ReadBuffers {
    #[cfg_attr(not(target_os = "linux"), allow(dead_code))]
    original: Vec<u8>,
    packets: Vec<Vec<u8>>,
    sizes: Vec<usize>,
}

#[cfg(target_os = "linux")]
const READ_BATCH: usize = tun_rs::IDEAL_BATCH_SIZE;
#[cfg(not(target_os = "linux"))]
const READ_BATCH: usize = 64;

impl ReadBuffers {
    pub fn new(mtu: u16) -> Self {
        // A 64 KiB super-packet splits into at most 65535 / (MTU - 40-byte IPv6 header - 20-byte
        // TCP header) segments: no need for 128 MTU-sized buffers when the MTU is large.
        let segments = (65535 / (mtu as usize - 60) + 2).min(READ_BATCH);
        Self {
            original: vec![0; 65535 + 16],
            packets: vec![vec![0; mtu as usize + 64]; segments],
            sizes: vec![0; segments],
        }
    }
}

#[cfg(target_os = "linux")]
impl Device {
    /// Reads what is ready without blocking, calling `on_packet` with each IP packet. Returns
    /// `Ok(false)` when nothing was ready.
    pub fn read_batch(&self, buffers: &mut ReadBuffers, mut on_packet: impl FnMut(&[u8])) -> io::Result<bool> {
        let ReadBuffers { original, packets, sizes } = buffers;
        match self.inner.recv_multiple(original, packets, sizes, 0) {
            Ok(count) => {
                for (packet, &size) in packets.iter().zip(sizes.iter()).take(count) {
                    on_packet(&packet[..size]);
                }
                Ok(true)
            }
            Err(err) if err.kind() == io::ErrorKind::WouldBlock => Ok(false),
            Err(err) => Err(err),
        }
    }
}

#[cfg(not(target_os = "linux"))]
impl Device {
    pub fn read_batch(&self, buffers: &mut ReadBuffers, mut on_packet: impl FnMut(&[u8])) -> io::Result<bool> {
        let mut any = false;
        for packet in buffers.packets.iter_mut() {
            // Unix: the fd is non-blocking, so recv answers WouldBlock when the device is empty.
            #[cfg(unix)]
            let received = self.inner.recv(packet);
            #[cfg(windows)]
            let received = self.inner.try_recv(packet);
            match received {
                Ok(size) => {
                    on_packet(&packet[..size]);
                    any = true;
                }
                Err(err) if err.kind() == io::ErrorKind::WouldBlock => break,
                Err(err) => return Err(err),
            }
        }
        Ok(any)
    }
}

/// Collects packets to write and writes them in one go (GRO-coalesced on Linux).
pub struct PacketWriter {
    buffers: Vec<Vec<u8>>,
    count: usize,
    #[cfg(target_os = "linux")]
    gro: tun_rs::GROTable,
}

/// Headroom in front of each packet for the virtio-net header tun-rs writes on Linux.
#[cfg(target_os = "linux")]
const WRITE_OFFSET: usize = tun_rs::VIRTIO_NET_HDR_LEN;
#[cfg(not(target_os = "linux"))]
const WRITE_OFFSET: usize = 0;
/// Packets gathered before a write is forced.
pub const WRITE_BATCH: usize = 128;

pub struct WriteOutcome {
    pub written: usize,
    /// Set when the device refused at least one packet.
    pub error: Option<io::Error>,
}

impl PacketWriter {
    pub fn new() -> Self {
        Self {
            buffers: (0..WRITE_BATCH).map(|_| Vec::new()).collect(),
            count: 0,
            #[cfg(target_os = "linux")]
            gro: tun_rs::GROTable::default(),
        }
    }

    pub fn is_full(&self) -> bool {
        self.count == WRITE_BATCH
    }

    pub fn push(&mut self, packet: &[u8]) {
        let buffer = &mut self.buffers[self.count];
        buffer.clear();
        if buffer.capacity() == 0 {
            // GRO appends later packets of a flow into this buffer: give it room for a super-packet.
            buffer.reserve(2 * WRITE_OFFSET + 65535);
        }
        buffer.resize(WRITE_OFFSET, 0);
        buffer.extend_from_slice(packet);
        self.count += 1;
    }

    pub fn flush(&mut self, device: &Device) -> WriteOutcome {
        let count = std::mem::take(&mut self.count);
        if count == 0 {
            return WriteOutcome { written: 0, error: None };
        }
        let bufs = &mut self.buffers[..count];
        #[cfg(target_os = "linux")]
        let result = if device.offload {
            device.inner.send_multiple(&mut self.gro, bufs, WRITE_OFFSET).map(|_| ())
        } else {
            write_each(device, bufs)
        };
        #[cfg(not(target_os = "linux"))]
        let result = write_each(device, bufs);
        WriteOutcome { written: count, error: result.err() }
    }
}

fn write_each(device: &Device, bufs: &[Vec<u8>]) -> io::Result<()> {
    let mut last_error = None;
    for buffer in bufs {
        if let Err(err) = device.inner.send(&buffer[WRITE_OFFSET..]) {
            last_error = Some(err);
        }
    }
    last_error.map_or(Ok(()), Err)
}
