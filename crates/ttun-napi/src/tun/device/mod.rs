//! What the data path needs from a TUN: read a batch (into a [`PacketTarget`]), write a batch,
//! wait until readable, be woken out of that wait, a name and an MTU ([`PacketDevice`]). The OS device ([`os`], over
//! tun-rs) is what ships; the in-memory one ([`memory`], tests only) lets a test play the OS:
//! inject packets for the data path to read and collect the packets it writes.
//!
//! The data path is generic over the device, so the OS device costs no dynamic dispatch at all,
//! per packet or per batch.
use std::io;

use ttun_proto::LENGTH_PREFIX_LEN;

#[cfg(test)]
pub mod memory;
pub mod os;

/// The largest IP packet a TUN can hand over: IPv4's 16-bit total length, and the largest MTU a
/// route can have. Packets above the device MTU are normal: a route may carry a larger `mtu`
/// than the device (`ip route add ... dev ttun0 mtu 9000`), and the kernel then hands the TUN
/// packets of that size. The protocol carries up to 65519 bytes; bigger ones are counted
/// (`tx_dropped_too_big`) when sealed.
pub const MAX_PACKET: usize = 65535;

/// Packets gathered before a write is forced.
pub const WRITE_BATCH: usize = 128;

/// A TUN as the data path sees it. `Sync`: the reader thread reads while other threads write.
pub trait PacketDevice: Send + Sync + 'static {
    /// What one reading thread reads into, made once per thread by [`PacketDevice::read_buffers`].
    type ReadBuffers: Send;
    /// What one writer keeps from batch to batch (the OS device's GRO table).
    type WriteState: Default + Send;
    /// Bytes the device wants free in front of each packet handed to [`PacketDevice::write_batch`].
    const WRITE_HEADROOM: usize;

    fn name(&self) -> &str;
    fn mtu(&self) -> u16;
    fn read_buffers(&self) -> io::Result<Self::ReadBuffers>;
    /// Reads what is ready without blocking and gives each IP packet to `target`. A TCP
    /// super-packet from the kernel's offload is split into MTU-sized packets unless `takes_whole`
    /// says the peer takes it as it is (`super::super_frames`); then it is passed on whole.
    fn read_batch(
        &self,
        buffers: &mut Self::ReadBuffers,
        takes_whole: impl Fn(&[u8]) -> bool,
        target: &mut impl PacketTarget,
    ) -> io::Result<ReadOutcome>;
    /// Writes every packet (each after [`PacketDevice::WRITE_HEADROOM`] bytes of its buffer, which
    /// the device may use); an error when it refused at least one.
    fn write_batch(&self, state: &mut Self::WriteState, packets: &mut [Vec<u8>]) -> io::Result<()>;
    /// Writes one packet from where it lies, for a packet no batch could coalesce (one above the
    /// MTU: a super-frame), so it is not copied into the batch first. The device may change the
    /// packet's bytes on the way (the OS device leaves a TCP checksum for the kernel to check).
    fn write_one(&self, packet: &mut [u8]) -> io::Result<()>;
    /// What polls readable while packets wait to be read: for a wait on the socket that also
    /// watches the TUN (`super::outbound`).
    #[cfg(unix)]
    fn readable_fd(&self) -> std::os::fd::RawFd;
    /// Blocks until a packet can be read or [`PacketDevice::interrupt`] is called
    /// (`ErrorKind::Interrupted`, until [`PacketDevice::clear_interrupt`]).
    fn wait_readable(&self) -> io::Result<()>;
    fn interrupt(&self);
    fn clear_interrupt(&self);
}

/// Where a read puts the packets it takes: the batch of frames being built. A packet passed on as
/// it was read goes straight into its place in the batch, [`IN_PLACE_HEADROOM`] bytes after the
/// batch's end (room for its frame's length prefix), and is framed there: it is never copied.
/// Packets that lie elsewhere (the segments of a split super-packet) are copied in.
// Only Linux's device reads in place; macOS and Windows read one packet at a time into a buffer of
// their own and copy it in.
#[cfg_attr(not(target_os = "linux"), allow(dead_code))]
pub trait PacketTarget {
    /// The batch. A device may read the next packet into its spare capacity. Called once per
    /// packet read in place, before the read: the target may start a new batch here.
    fn batch(&mut self) -> &mut Vec<u8>;
    /// The batch ends with a packet read in place: [`IN_PLACE_HEADROOM`] bytes of room, then the
    /// packet's `len` bytes. Takes it where it lies, or removes it from the batch.
    fn take_in_place(&mut self, len: usize);
    /// Takes a packet that lies elsewhere.
    fn take_copy(&mut self, packet: &[u8]);
}

/// Room in front of a packet read in place: a frame's length prefix.
#[cfg_attr(not(target_os = "linux"), allow(dead_code))]
pub const IN_PLACE_HEADROOM: usize = LENGTH_PREFIX_LEN;
/// What [`PacketTarget::take_in_place`] may append behind the packet (a frame's tag): a device
/// reserves it with the packet so that sealing never reallocates the batch.
#[cfg(unix)]
pub const IN_PLACE_TAILROOM: usize = ttun_proto::TAG_LEN;

/// Puts `packet` into the batch where a read in place would have, and has `target` take it there:
/// for a device that reads into buffers of its own.
#[cfg(test)]
pub fn append_in_place(target: &mut impl PacketTarget, packet: &[u8]) {
    let batch = target.batch();
    batch.extend_from_slice(&[0; IN_PLACE_HEADROOM]);
    batch.extend_from_slice(packet);
    target.take_in_place(packet.len());
}

/// What one read of the device gave.
pub enum ReadOutcome {
    /// Packets (possibly none, after an interrupted read): read again.
    Read,
    /// Nothing is ready.
    Empty,
    /// The read took one packet (or super-packet) off the device that could not be passed on,
    /// e.g. an offload super-packet tun-rs refused to split. A drop: the next read is unaffected.
    Unusable,
}

pub struct WriteOutcome {
    pub written: usize,
    /// Set when the device refused at least one packet.
    pub error: Option<io::Error>,
}

/// Collects packets to write and writes them in one go (GRO-coalesced on Linux).
pub struct PacketWriter<D: PacketDevice> {
    buffers: Vec<Vec<u8>>,
    count: usize,
    state: D::WriteState,
}

impl<D: PacketDevice> PacketWriter<D> {
    pub fn new() -> Self {
        Self { buffers: (0..WRITE_BATCH).map(|_| Vec::new()).collect(), count: 0, state: D::WriteState::default() }
    }

    pub fn is_full(&self) -> bool {
        self.count == WRITE_BATCH
    }

    pub fn push(&mut self, packet: &[u8]) {
        let buffer = &mut self.buffers[self.count];
        buffer.clear();
        if buffer.capacity() == 0 {
            // GRO appends later packets of a flow into this buffer: give it room for a super-packet.
            buffer.reserve(2 * D::WRITE_HEADROOM + MAX_PACKET);
        }
        buffer.resize(D::WRITE_HEADROOM, 0);
        buffer.extend_from_slice(packet);
        self.count += 1;
    }

    pub fn flush(&mut self, device: &D) -> WriteOutcome {
        let count = std::mem::take(&mut self.count);
        if count == 0 {
            return WriteOutcome { written: 0, error: None };
        }
        let result = device.write_batch(&mut self.state, &mut self.buffers[..count]);
        WriteOutcome { written: count, error: result.err() }
    }
}
