//! The OS side of the TUN device: creation with the v1 name, MTU and addresses, and packet I/O in
//! batches. Linux uses the kernel's virtio-net offload (one read returns a TSO super-packet that
//! tun-rs splits into MTU-sized IP packets; writes are GRO-coalesced), which is where most of the
//! speed comes from. macOS and Windows read and write one packet per call.
//!
//! Reads take packets of any size up to [`MAX_PACKET`], not just up to the device MTU.
use std::io;
use std::net::{Ipv4Addr, Ipv6Addr};

use tun_rs::{DeviceBuilder, InterruptEvent, SyncDevice};

use super::{PacketDevice, PacketTarget, ReadOutcome, MAX_PACKET};

pub struct DeviceConfig {
    /// None: the platform's default name (see `build`).
    pub name: Option<String>,
    pub mtu: u16,
    pub ipv4: Option<(Ipv4Addr, u8)>,
    pub ipv6: Option<(Ipv6Addr, u8)>,
    #[cfg_attr(not(target_os = "windows"), allow(dead_code))]
    pub wintun_file: Option<String>,
}

/// A created TUN device. `Send + Sync`: the reader thread reads while the JS thread writes.
pub struct OsDevice {
    inner: SyncDevice,
    name: String,
    mtu: u16,
    /// Wakes the reader thread out of its wait for packets when the device is closed.
    interrupt: InterruptEvent,
    offload: bool,
}

impl OsDevice {
    pub fn create(config: &DeviceConfig) -> io::Result<OsDevice> {
        let (inner, offload) = build(config)?;
        let name = inner.name()?;
        // Reads are attempted until WouldBlock after each wake-up (wait_readable blocks instead).
        #[cfg(unix)]
        inner.set_nonblocking(true)?;
        Ok(OsDevice { inner, name, mtu: config.mtu, interrupt: InterruptEvent::new()?, offload })
    }
}

impl OsDevice {
    /// Whether reads can hand over TCP super-packets (Linux with the kernel's offload).
    pub fn offloads(&self) -> bool {
        self.offload
    }
}

impl PacketDevice for OsDevice {
    type ReadBuffers = ReadBuffers;
    #[cfg(target_os = "linux")]
    type WriteState = tun_rs::GROTable;
    #[cfg(not(target_os = "linux"))]
    type WriteState = ();
    /// Linux: room for the virtio-net header tun-rs writes in front of each packet.
    #[cfg(target_os = "linux")]
    const WRITE_HEADROOM: usize = tun_rs::VIRTIO_NET_HDR_LEN;
    #[cfg(not(target_os = "linux"))]
    const WRITE_HEADROOM: usize = 0;

    fn name(&self) -> &str {
        &self.name
    }

    fn mtu(&self) -> u16 {
        self.mtu
    }

    fn read_buffers(&self) -> io::Result<ReadBuffers> {
        ReadBuffers::new()
    }

    fn read_batch(
        &self,
        buffers: &mut ReadBuffers,
        takes_whole: impl Fn(&[u8]) -> bool,
        target: &mut impl PacketTarget,
    ) -> io::Result<ReadOutcome> {
        self.read_ready(buffers, takes_whole, target)
    }

    fn write_batch(&self, state: &mut Self::WriteState, packets: &mut [Vec<u8>]) -> io::Result<()> {
        #[cfg(target_os = "linux")]
        if self.offload {
            return self.inner.send_multiple(state, packets, Self::WRITE_HEADROOM).map(|_| ());
        }
        let _ = state;
        let mut last_error = None;
        for buffer in packets.iter() {
            if let Err(err) = self.inner.send(&buffer[Self::WRITE_HEADROOM..]) {
                last_error = Some(err);
            }
        }
        last_error.map_or(Ok(()), Err)
    }

    fn write_one(&self, packet: &mut [u8]) -> io::Result<()> {
        #[cfg(target_os = "linux")]
        if self.offload {
            return linux_write::write_one(&self.inner, packet);
        }
        self.inner.send(packet).map(|_| ())
    }

    #[cfg(unix)]
    fn readable_fd(&self) -> std::os::fd::RawFd {
        std::os::fd::AsRawFd::as_raw_fd(&self.inner)
    }

    fn wait_readable(&self) -> io::Result<()> {
        self.inner.wait_readable_intr(&self.interrupt)
    }

    fn interrupt(&self) {
        let _ = self.interrupt.trigger();
    }

    /// Re-arms the wait after an interrupt that was not a close.
    fn clear_interrupt(&self) {
        let _ = self.interrupt.reset();
    }
}

fn with_addresses(config: &DeviceConfig, mut builder: DeviceBuilder) -> DeviceBuilder {
    builder = builder.mtu(config.mtu);
    if let Some((address, prefix)) = config.ipv4 {
        builder = builder.ipv4(address, prefix, None);
    }
    if let Some((address, prefix)) = config.ipv6 {
        builder = builder.ipv6(address, prefix);
    }
    builder
}

/// Whether creating a device failed because its name belongs to another device: one that exists
/// already (checked first, see `build`), or a TUN another process holds (EBUSY from the kernel).
pub fn is_name_taken(err: &io::Error) -> bool {
    err.kind() == io::ErrorKind::AlreadyExists || (cfg!(unix) && err.raw_os_error() == Some(libc::EBUSY))
}

#[cfg(target_os = "linux")]
fn build(config: &DeviceConfig) -> io::Result<(SyncDevice, bool)> {
    // The kernel would attach to an idle persistent TUN of that name, or refuse another kind of
    // device with a bare EINVAL: a name that exists is refused here, by name. "%d" picks a number.
    let name = config.name.as_deref().unwrap_or("ttun%d");
    if !name.contains('%') {
        let c_name = std::ffi::CString::new(name).map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?;
        // SAFETY: a NUL-terminated name; the call only reads it.
        if unsafe { libc::if_nametoindex(c_name.as_ptr()) } != 0 {
            return Err(io::Error::from(io::ErrorKind::AlreadyExists));
        }
    }
    // "ttun%d" by default: the kernel picks the first free ttunN, as v1 does.
    let builder = || with_addresses(config, DeviceBuilder::new().name(name));
    match builder().offload(true).build_sync() {
        Ok(device) => Ok((device, true)),
        // Offload is an optimisation: a kernel that refuses it still gets a working tunnel.
        Err(err) if err.kind() != io::ErrorKind::PermissionDenied => Ok((builder().build_sync()?, false)),
        Err(err) => Err(err),
    }
}

#[cfg(target_os = "macos")]
fn build(config: &DeviceConfig) -> io::Result<(SyncDevice, bool)> {
    // No name: the kernel assigns the next free utunN (a name given must be utunN).
    let builder = match &config.name {
        Some(name) => DeviceBuilder::new().name(name.clone()),
        None => DeviceBuilder::new(),
    };
    Ok((with_addresses(config, builder).build_sync()?, false))
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
    if let Some(name) = &config.name {
        return Ok((builder(name.clone()).build_sync()?, false));
    }
    match builder("ttun".into()).build_sync() {
        Ok(device) => Ok((device, false)),
        Err(_) => Ok((builder(format!("ttun{}", std::process::id())).build_sync()?, false)),
    }
}

/// Sorts a failed read: errors the OS returned (`raw_os_error`) are the device's and may mean it
/// is gone (EBADFD once it is deleted), so the caller retries a few times before giving up;
/// errors tun-rs makes itself (splitting or copying what the kernel handed over) come after the
/// read succeeded and concern that packet only.
fn outcome_of_read_error(err: io::Error) -> io::Result<ReadOutcome> {
    match err.kind() {
        io::ErrorKind::WouldBlock => Ok(ReadOutcome::Empty),
        io::ErrorKind::Interrupted => Ok(ReadOutcome::Read),
        _ if err.raw_os_error().is_none() => Ok(ReadOutcome::Unusable),
        _ => Err(err),
    }
}

#[cfg(target_os = "linux")]
pub use linux_read::ReadBuffers;

/// Linux's virtio_net.h, for the reads and the writes (tun-rs does not export these).
#[cfg(target_os = "linux")]
mod virtio_net {
    pub const F_NEEDS_CSUM: u8 = 1;
    pub const GSO_NONE: u8 = 0;
    pub const GSO_TCPV4: u8 = 1;
    pub const GSO_TCPV6: u8 = 4;
    pub const GSO_ECN: u8 = 0x80;
}

#[cfg(target_os = "linux")]
mod linux_write {
    use std::io::{self, IoSlice};

    use tun_rs::{SyncDevice, VirtioNetHdr, VIRTIO_NET_HDR_LEN};

    use super::virtio_net;
    use crate::tun::ip_packets::{defer_tcp_checksum, TCP_CHECKSUM_AT};

    /// One packet, its virtio-net header in a separate slice, so the packet is not copied. A TCP
    /// packet goes with its checksum left to compute (see `defer_tcp_checksum`).
    pub(super) fn write_one(device: &SyncDevice, packet: &mut [u8]) -> io::Result<()> {
        let header = match defer_tcp_checksum(packet) {
            // A TCP header starts within the first 64 KiB: the offset fits the u16.
            Some(csum_start) => VirtioNetHdr {
                flags: virtio_net::F_NEEDS_CSUM,
                csum_start: csum_start as u16,
                csum_offset: TCP_CHECKSUM_AT as u16,
                ..VirtioNetHdr::default()
            },
            None => VirtioNetHdr::default(),
        };
        let mut encoded = [0u8; VIRTIO_NET_HDR_LEN];
        header.encode(&mut encoded)?;
        device.send_vectored(&[IoSlice::new(&encoded), IoSlice::new(packet)]).map(|_| ())
    }
}

#[cfg(target_os = "linux")]
mod linux_read {
    use std::io;
    use std::mem::MaybeUninit;
    use std::os::fd::AsRawFd;

    use tun_rs::{VirtioNetHdr, VIRTIO_NET_HDR_LEN};

    use super::{outcome_of_read_error, virtio_net, OsDevice, PacketTarget, ReadOutcome, MAX_PACKET};
    use crate::tun::device::{IN_PLACE_HEADROOM, IN_PLACE_TAILROOM};
    use crate::tun::ip_packets::{fill_checksum, finish_tcp_super_packet};

    /// Room for the IP and transport headers in front of a segment's payload when a super-packet is
    /// split (IPv6 with extension headers plus a 60-byte TCP header stays well inside).
    const SEGMENT_HEADROOM: usize = 1024;
    /// Segments one super-packet can split into: 64 KiB of payload at TCP's smallest MSS (48, the
    /// kernel's tcp_min_snd_mss). UDP GSO stops at 128 segments.
    const SLOTS: usize = MAX_PACKET / 48 + 1;

    /// How large slot `index` must be. tun-rs puts a non-offloaded packet (up to [`MAX_PACKET`])
    /// in slot 0 and segment i of a super-packet in slot i, and wants every slot a split uses to
    /// hold its largest segment. Slot k is only used when there are more than k segments, so
    /// their payload is at most MAX_PACKET / k each: the slots shrink as the index grows.
    pub(super) fn slot_len(index: usize) -> usize {
        // Slot 0 (no division): the whole packet.
        MAX_PACKET.checked_div(index).map_or(MAX_PACKET, |share| (share + SEGMENT_HEADROOM).min(MAX_PACKET))
    }

    /// One anonymous mapping holding all the slots (about 7 MB of address space). The kernel
    /// backs a page only once it is written, so what is resident is what reads have actually
    /// used: a few pages per slot at the usual MTU, and at most about the largest super-packet
    /// per slot index however the sizes vary (slot k only ever holds 1/k of 64 KiB).
    struct Region {
        ptr: *mut u8,
        len: usize,
    }

    // SAFETY: the mapping is plain memory owned by this value; nothing else refers to it.
    unsafe impl Send for Region {}

    impl Region {
        fn new(len: usize) -> io::Result<Self> {
            // SAFETY: a new private anonymous mapping; no existing memory is affected.
            let ptr = unsafe {
                libc::mmap(
                    std::ptr::null_mut(),
                    len,
                    libc::PROT_READ | libc::PROT_WRITE,
                    libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_NORESERVE,
                    -1,
                    0,
                )
            };
            if ptr == libc::MAP_FAILED {
                return Err(io::Error::last_os_error());
            }
            Ok(Self { ptr: ptr.cast(), len })
        }
    }

    impl Drop for Region {
        fn drop(&mut self) {
            // SAFETY: unmaps exactly the mapping made in new(); the slots pointing into it are
            // dropped with it (they are fields of the same ReadBuffers).
            unsafe { libc::munmap(self.ptr.cast(), self.len) };
        }
    }

    /// A disjoint window of the region, as the byte slice tun-rs writes a packet into.
    pub(super) struct Slot {
        ptr: *mut u8,
        len: usize,
    }

    // SAFETY: see Region; each slot covers its own bytes only.
    unsafe impl Send for Slot {}

    impl AsRef<[u8]> for Slot {
        fn as_ref(&self) -> &[u8] {
            // SAFETY: ptr..ptr+len lies inside the live region and no other slot overlaps it.
            unsafe { std::slice::from_raw_parts(self.ptr, self.len) }
        }
    }

    impl AsMut<[u8]> for Slot {
        fn as_mut(&mut self) -> &mut [u8] {
            // SAFETY: as in as_ref; &mut self makes this the only live view of these bytes.
            unsafe { std::slice::from_raw_parts_mut(self.ptr, self.len) }
        }
    }

    /// Reusable buffers for reading batches. One per reader.
    pub struct ReadBuffers {
        /// What a read without offload goes into (tun-rs wants it; with offload, a read goes
        /// straight into the target's batch).
        original: Vec<u8>,
        slots: Vec<Slot>,
        sizes: Vec<usize>,
        // Declared after `slots`, which point into it.
        _region: Region,
    }

    impl ReadBuffers {
        pub fn new() -> io::Result<Self> {
            let total = (0..SLOTS).map(slot_len).sum();
            let region = Region::new(total)?;
            let mut at = 0;
            let slots = (0..SLOTS)
                .map(|index| {
                    let len = slot_len(index);
                    // SAFETY: at + len <= total, the sum of all slot lengths.
                    let slot = Slot { ptr: unsafe { region.ptr.add(at) }, len };
                    at += len;
                    slot
                })
                .collect();
            Ok(Self {
                original: vec![0; tun_rs::VIRTIO_NET_HDR_LEN + MAX_PACKET + 1],
                slots,
                sizes: vec![0; SLOTS],
                _region: region,
            })
        }

        #[cfg(test)]
        pub(super) fn slots(&mut self) -> &mut [Slot] {
            &mut self.slots
        }
    }

    impl OsDevice {
        pub(super) fn read_ready(
            &self,
            buffers: &mut ReadBuffers,
            takes_whole: impl Fn(&[u8]) -> bool,
            target: &mut impl PacketTarget,
        ) -> io::Result<ReadOutcome> {
            let ReadBuffers { original, slots, sizes, .. } = buffers;
            if !self.offload {
                return match self.inner.recv_multiple(original, slots, sizes, 0) {
                    Ok(count) => Ok(pass_on(slots, sizes, count, target)),
                    Err(err) => outcome_of_read_error(err),
                };
            }
            // One call to batch() per read (see PacketTarget).
            let batch = target.batch();
            let start = batch.len();
            let (header, len) = match self.read_in_place(batch) {
                Ok(Some(read)) => read,
                Ok(None) => return Ok(ReadOutcome::Unusable),
                Err(err) => return outcome_of_read_error(err),
            };
            let packet = &mut batch[start + IN_PLACE_HEADROOM..];
            let split = match offloaded_packet(header, packet, &takes_whole) {
                Offloaded::Whole => None,
                Offloaded::Split(header) => {
                    let is_v6 = packet[0] >> 4 == 6;
                    Some(tun_rs::gso_split(packet, header, slots, sizes, 0, is_v6))
                }
                Offloaded::Unusable => Some(Err(io::ErrorKind::InvalidData.into())),
            };
            match split {
                None => {
                    target.take_in_place(len);
                    Ok(ReadOutcome::Read)
                }
                Some(split) => {
                    // The segments are in the slots now (or the packet is dropped): it leaves the batch.
                    batch.truncate(start);
                    match split {
                        Ok(count) => Ok(pass_on(slots, sizes, count, target)),
                        Err(_) => Ok(ReadOutcome::Unusable),
                    }
                }
            }
        }

        /// Reads one packet into `batch`'s spare capacity, [`IN_PLACE_HEADROOM`] bytes after its
        /// end, and its virtio-net header apart: the batch then ends with the headroom and the
        /// packet. Ok(None): the read was too short for a header (nothing is added).
        fn read_in_place(&self, batch: &mut Vec<u8>) -> io::Result<Option<(VirtioNetHdr, usize)>> {
            // One byte more than the largest packet, so an oversized read would show.
            const ROOM: usize = MAX_PACKET + 1;
            batch.reserve(IN_PLACE_HEADROOM + ROOM + IN_PLACE_TAILROOM);
            let start = batch.len();
            let mut header = [0u8; VIRTIO_NET_HDR_LEN];
            let room = &mut batch.spare_capacity_mut()[IN_PLACE_HEADROOM..IN_PLACE_HEADROOM + ROOM];
            let iov = [
                libc::iovec { iov_base: header.as_mut_ptr().cast(), iov_len: header.len() },
                libc::iovec { iov_base: room.as_mut_ptr().cast(), iov_len: room.len() },
            ];
            // SAFETY: both iovecs point to writable memory of their length (the header array and
            // the batch's reserved spare capacity), which outlives the call; the fd is the device's.
            let read = unsafe { libc::readv(self.inner.as_raw_fd(), iov.as_ptr(), iov.len() as libc::c_int) };
            if read < 0 {
                return Err(io::Error::last_os_error());
            }
            let Some(len) = (read as usize).checked_sub(VIRTIO_NET_HDR_LEN).filter(|&len| len > 0) else {
                return Ok(None);
            };
            let Ok(header) = VirtioNetHdr::decode(&header) else { return Ok(None) };
            batch.spare_capacity_mut()[..IN_PLACE_HEADROOM].fill(MaybeUninit::new(0));
            // SAFETY: the headroom was just written and the kernel wrote the packet's `len` bytes
            // right after it (readv fills the header first, then the room).
            unsafe { batch.set_len(start + IN_PLACE_HEADROOM + len) };
            Ok(Some((header, len)))
        }
    }

    /// Hands the first `count` packets a read or split left in the slots to `target`.
    fn pass_on(slots: &[Slot], sizes: &[usize], count: usize, target: &mut impl PacketTarget) -> ReadOutcome {
        for (slot, &size) in slots.iter().zip(sizes).take(count) {
            target.take_copy(&slot.as_ref()[..size]);
        }
        ReadOutcome::Read
    }

    /// What to do with a packet the kernel handed over with offload information.
    enum Offloaded {
        /// Complete (its checksum finished where the kernel left it to us): pass it on as it is.
        Whole,
        /// A super-packet to cut into segments with this header (its header length taken from
        /// the packet, not from the kernel).
        Split(VirtioNetHdr),
        Unusable,
    }

    /// Finishes what can go whole and sorts the rest, as tun-rs's own read would (which cannot
    /// leave a super-packet whole): a packet without GSO gets its checksum finished if the kernel
    /// left it partial; a TCP super-packet the peer `takes_whole` gets its checksum and lengths
    /// finished; other super-packets are split.
    fn offloaded_packet(
        mut header: VirtioNetHdr,
        packet: &mut [u8],
        takes_whole: &impl Fn(&[u8]) -> bool,
    ) -> Offloaded {
        let csum_start = usize::from(header.csum_start);
        let csum_at = csum_start + usize::from(header.csum_offset);
        let needs_checksum = header.flags & virtio_net::F_NEEDS_CSUM != 0;
        if header.gso_type == virtio_net::GSO_NONE {
            if needs_checksum {
                if csum_at + 2 > packet.len() {
                    return Offloaded::Unusable;
                }
                let partial_sum = u16::from_be_bytes([packet[csum_at], packet[csum_at + 1]]);
                fill_checksum(packet, csum_start..packet.len(), csum_at, u64::from(partial_sum));
            }
            return Offloaded::Whole;
        }
        let gso_type = header.gso_type & !virtio_net::GSO_ECN;
        let is_tcp = gso_type == virtio_net::GSO_TCPV4 || gso_type == virtio_net::GSO_TCPV6;
        if is_tcp && takes_whole(packet) && finish_tcp_super_packet(packet, csum_start) {
            return Offloaded::Whole;
        }
        if header.gso_size == 0 || packet.len() <= csum_start + 12 {
            return Offloaded::Unusable;
        }
        // The kernel's hdr_len can cover the whole first packet on the forward path: the headers
        // end where the transport header ends.
        let transport_len = if is_tcp { u16::from(packet[csum_start + 12] >> 4) * 4 } else { 8 };
        if is_tcp && !(20..=60).contains(&transport_len) {
            return Offloaded::Unusable;
        }
        header.hdr_len = header.csum_start + transport_len;
        if packet.len() < usize::from(header.hdr_len) || csum_at + 2 > packet.len() {
            return Offloaded::Unusable;
        }
        Offloaded::Split(header)
    }
}

#[cfg(not(target_os = "linux"))]
const READ_BATCH: usize = 64;

/// Reusable buffer for reading: macOS and Windows hand over one packet per read, and each is
/// passed on before the next read, so one buffer of the largest packet size does.
#[cfg(not(target_os = "linux"))]
pub struct ReadBuffers {
    packet: Vec<u8>,
}

#[cfg(not(target_os = "linux"))]
impl ReadBuffers {
    pub fn new() -> io::Result<Self> {
        Ok(Self { packet: vec![0; MAX_PACKET + 1] })
    }
}

#[cfg(not(target_os = "linux"))]
impl OsDevice {
    fn read_ready(
        &self,
        buffers: &mut ReadBuffers,
        _takes_whole: impl Fn(&[u8]) -> bool,
        target: &mut impl PacketTarget,
    ) -> io::Result<ReadOutcome> {
        let mut outcome = ReadOutcome::Empty;
        for _ in 0..READ_BATCH {
            // Unix: the fd is non-blocking, so recv answers WouldBlock when the device is empty.
            #[cfg(unix)]
            let received = self.inner.recv(&mut buffers.packet);
            #[cfg(windows)]
            let received = self.inner.try_recv(&mut buffers.packet);
            match received {
                Ok(size) => {
                    target.take_copy(&buffers.packet[..size]);
                    outcome = ReadOutcome::Read;
                }
                Err(err) => match outcome_of_read_error(err)? {
                    ReadOutcome::Empty => break,
                    ReadOutcome::Read => outcome = ReadOutcome::Read,
                    // Report it now; what was read before it was passed on already.
                    unusable => return Ok(unusable),
                },
            }
        }
        Ok(outcome)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn os_errors_are_the_devices_and_tun_rs_errors_are_one_packets() {
        assert!(matches!(outcome_of_read_error(io::ErrorKind::WouldBlock.into()), Ok(ReadOutcome::Empty)));
        assert!(matches!(outcome_of_read_error(io::Error::from_raw_os_error(libc::EINTR)), Ok(ReadOutcome::Read)));
        // What tun-rs 2.8 returns when a packet does not fit a buffer or a split needs more.
        let overflow = io::Error::other("read len 8028 overflows bufs element len 1344");
        assert!(matches!(outcome_of_read_error(overflow), Ok(ReadOutcome::Unusable)));
        let split = io::Error::new(io::ErrorKind::InvalidInput, "too many GSO segments");
        assert!(matches!(outcome_of_read_error(split), Ok(ReadOutcome::Unusable)));
        // A deleted TUN answers EBADFD on Linux; an OS-level EINVAL is the device's too.
        #[cfg(target_os = "linux")]
        assert!(outcome_of_read_error(io::Error::from_raw_os_error(libc::EBADFD)).is_err());
        assert!(outcome_of_read_error(io::Error::from_raw_os_error(libc::EBADF)).is_err());
        assert!(outcome_of_read_error(io::Error::from_raw_os_error(libc::EINVAL)).is_err());
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn every_split_of_a_64k_super_packet_fits_the_slots() {
        use linux_read::slot_len;
        assert_eq!(slot_len(0), MAX_PACKET);
        // Every segment size TCP can use (MSS 48 up), IPv4 (40-byte headers) and IPv6 with TCP
        // options (100 bytes): the segment count must fit, and each used slot the largest segment.
        for headers in [40usize, 100] {
            let payload = MAX_PACKET - headers;
            for gso in 48..=payload {
                let count = payload.div_ceil(gso);
                let largest = headers + gso.min(payload);
                assert!(count <= MAX_PACKET / 48 + 1, "gso {gso}: {count} segments");
                for slot in 0..count {
                    assert!(slot_len(slot) >= largest, "gso {gso}: slot {slot} ({}) < {largest}", slot_len(slot));
                }
            }
        }
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn read_buffers_are_not_resident_until_used() {
        fn resident_kb() -> usize {
            let status = std::fs::read_to_string("/proc/self/status").unwrap();
            let line = status.lines().find(|l| l.starts_with("VmRSS:")).unwrap();
            line.split_whitespace().nth(1).unwrap().parse().unwrap()
        }
        let before = resident_kb();
        let mut buffers: Vec<ReadBuffers> = (0..8).map(|_| ReadBuffers::new().unwrap()).collect();
        let after = resident_kb();
        // 8 sets of ~7 MB of slots: touched, that would be 56 MB; untouched, the `original`
        // buffers and bookkeeping (~0.6 MB).
        assert!(after.saturating_sub(before) < 8 * 1024, "RSS grew {} kB", after - before);
        // The slots are real memory: a whole packet written to slot 0 reads back.
        let slot = buffers[0].slots()[0].as_mut();
        slot.fill(0xa5);
        assert!(slot.iter().all(|&b| b == 0xa5));
    }
}
