//! The data path end to end inside one process: the in-memory device plays the OS, a Unix
//! socket pair plays the TCP connection, and the test plays the peer with ttun-proto's own
//! sealer and receiver, using the real cipher and the session key of the v1 test vectors.
use std::io::{Read, Write};
use std::os::fd::AsRawFd;
use std::os::unix::net::UnixStream;
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};
use std::sync::mpsc;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use ttun_proto::{
    Cipher, CipherKind, Direction, FrameOpener, FrameSealer, Receiver, FRAME_OVERHEAD, MAX_PLAINTEXT_LEN,
};

use super::attach;
use super::connection::Connection;
use super::data_path::DataPath;
use super::device::memory::MemoryDevice;
use super::outbound;
use super::send_queue::{BULK_LIMIT, SMALL_PACKET};
use super::session::{SessionEnd, SessionEndKind, SessionKeys};
use super::stats::Stats;
use super::super_frames::SuperFramePeers;

/// Long enough for a loaded CI machine; only ever reached when something is broken.
const PATIENCE: Duration = Duration::from_secs(30);
/// The device's read queue, as a kernel TUN's default txqueuelen.
const TUN_QUEUE: usize = 500;
/// Packets a producer lets be on their way at once: far less than the send queue holds.
const IN_FLIGHT: usize = 256;

fn hex(s: &str) -> Vec<u8> {
    (0..s.len()).step_by(2).map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap()).collect()
}

/// The first case of the v1 test vectors (chacha20-poly1305).
fn vector_case() -> serde_json::Value {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../test/vectors/ttun-v1-vectors.json");
    let vectors: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    vectors["cases"][0].clone()
}

fn session_key() -> [u8; 32] {
    hex(vector_case()["SK"].as_str().unwrap()).try_into().unwrap()
}

fn cipher() -> Cipher {
    Cipher::new(CipherKind::ChaCha20Poly1305, &session_key())
}

/// An IPv4 packet of `len` bytes (header + payload) whose payload starts with `seq`.
fn ipv4_packet(len: usize, seq: u32) -> Vec<u8> {
    assert!((24..=65535).contains(&len));
    let mut packet = vec![0u8; len];
    packet[0] = 0x45;
    packet[2..4].copy_from_slice(&(len as u16).to_be_bytes());
    packet[8] = 64;
    packet[9] = 17;
    packet[12..16].copy_from_slice(&[10, 1, 1, 1]);
    packet[16..20].copy_from_slice(&[10, 1, 1, 2]);
    packet[20..24].copy_from_slice(&seq.to_be_bytes());
    for (i, byte) in packet[24..].iter_mut().enumerate() {
        *byte = (i as u32 ^ seq) as u8;
    }
    packet
}

fn seq_of(packet: &[u8]) -> u32 {
    u32::from_be_bytes(packet[20..24].try_into().unwrap())
}

/// A device with its reader thread, as createTun makes it; stopped (threads joined) on drop.
struct Rig {
    data_path: Arc<DataPath<MemoryDevice>>,
    tun_reader: Option<JoinHandle<()>>,
    /// Packets its peers have received, in all.
    delivered: Arc<AtomicUsize>,
}

impl Rig {
    fn new() -> Self {
        Self::with_super_frame_peers(SuperFramePeers::default())
    }

    fn with_super_frame_peers(peers: SuperFramePeers) -> Self {
        let data_path = DataPath::new(MemoryDevice::new("mem0", 1280, TUN_QUEUE), peers);
        let tun_reader =
            outbound::spawn_tun_reader(&data_path, |message| panic!("the reader thread stopped: {message}")).unwrap();
        Self { data_path, tun_reader: Some(tun_reader), delivered: Arc::default() }
    }

    fn device(&self) -> &MemoryDevice {
        &self.data_path.device
    }

    fn stats(&self) -> &Stats {
        &self.data_path.stats
    }

    /// Attaches a session over a new socket pair, this end sending server-to-client; returns the
    /// peer (the client) and the channel the session's end arrives on.
    fn attach(&self, leftover: &[u8]) -> (Peer, mpsc::Receiver<SessionEnd>) {
        let (peer, end_reason, _ours) = self.attach_watched(leftover);
        (peer, end_reason)
    }

    /// [`Rig::attach`], also returning our end of the socket pair (the session has its own dup of
    /// it), to watch whether the socket would take more.
    fn attach_watched(&self, leftover: &[u8]) -> (Peer, mpsc::Receiver<SessionEnd>, UnixStream) {
        let (ours, theirs) = UnixStream::pair().unwrap();
        // As Node leaves a socket it hands over.
        ours.set_nonblocking(true).unwrap();
        let connection = Connection::new(ours.as_raw_fd()).unwrap();
        let (ended, end_reason) = mpsc::channel();
        let keys = SessionKeys { cipher: cipher(), send: Direction::ServerToClient };
        attach::socket(
            &self.data_path,
            &keys,
            connection,
            leftover.to_vec(),
            Box::new(move |reason| {
                let _ = ended.send(reason);
            }),
        )
        .unwrap();
        (Peer::new(theirs, self.delivered.clone()), end_reason, ours)
    }

    /// Injects `packets` from a thread of their own, each as soon as the device's queue has room
    /// (and, `paced`, once fewer than [`IN_FLIGHT`] injected packets have yet to reach a peer): a
    /// busy OS whose packets the device never has to drop, nor, paced, the send queue.
    fn produce(&self, packets: Vec<Vec<u8>>, paced: bool) -> JoinHandle<()> {
        let data_path = self.data_path.clone();
        let delivered = self.delivered.clone();
        std::thread::spawn(move || {
            for (injected, packet) in packets.into_iter().enumerate() {
                let deadline = Instant::now() + PATIENCE;
                while paced && injected - delivered.load(Relaxed) >= IN_FLIGHT {
                    assert!(Instant::now() < deadline, "the peers stopped receiving");
                    std::thread::sleep(Duration::from_micros(200));
                }
                data_path.device.wait_queued(|queued| queued < TUN_QUEUE, PATIENCE);
                assert!(data_path.device.inject(&packet));
            }
        })
    }

    /// Waits until the reader has dealt with `injected` packets, queued or dropped: the device's
    /// queue empties when the reader takes a read off it, before the reader counts the packets.
    fn wait_accounted(&self, injected: usize) {
        let deadline = Instant::now() + PATIENCE;
        let stats = self.stats();
        while counter(&stats.tx_packets) + counter(&stats.tx_dropped_queue_full) < injected as u64 {
            assert!(Instant::now() < deadline, "the reader never took all {injected} packets");
            std::thread::sleep(Duration::from_millis(1));
        }
    }

    /// Stops every thread of the device and waits for them, as TunDevice.close() does.
    fn stop(&mut self) {
        self.data_path.stop(self.tun_reader.take());
    }
}

impl Drop for Rig {
    fn drop(&mut self) {
        self.stop();
    }
}

/// The other end of the connection, a v1 client.
struct Peer {
    stream: UnixStream,
    sealer: FrameSealer,
    receiver: Receiver,
    received: Vec<Vec<u8>>,
    eof: bool,
    /// Counts what it receives, with the other peers of its rig.
    delivered: Arc<AtomicUsize>,
}

impl Peer {
    fn new(stream: UnixStream, delivered: Arc<AtomicUsize>) -> Self {
        stream.set_read_timeout(Some(PATIENCE)).unwrap();
        Self {
            stream,
            sealer: FrameSealer::new(cipher(), Direction::ClientToServer, 1),
            receiver: Receiver::new(FrameOpener::new(cipher(), Direction::ServerToClient, 1)),
            received: Vec::new(),
            eof: false,
            delivered,
        }
    }

    fn seal(&mut self, packets: &[Vec<u8>]) -> Vec<u8> {
        let mut wire = Vec::new();
        for packet in packets {
            self.sealer.seal_to_vec(packet, &mut wire).unwrap();
        }
        wire
    }

    fn send(&mut self, packets: &[Vec<u8>]) {
        let wire = self.seal(packets);
        self.stream.write_all(&wire).unwrap();
    }

    /// Reads once, opening what arrived (the receiver fails on any counter out of order).
    fn read_some(&mut self) {
        let mut chunk = vec![0u8; 256 * 1024];
        let n = self.stream.read(&mut chunk).expect("the peer waited too long for data");
        if n == 0 {
            self.eof = true;
            return;
        }
        let received = &mut self.received;
        let before = received.len();
        self.receiver.receive(&mut chunk[..n], |packet| received.push(packet.to_vec())).unwrap();
        self.delivered.fetch_add(received.len() - before, Relaxed);
    }

    /// Reads until `count` packets have arrived in all; returns them all.
    fn receive(&mut self, count: usize) -> &[Vec<u8>] {
        while self.received.len() < count {
            assert!(!self.eof, "connection closed after {} of {count} packets", self.received.len());
            self.read_some();
        }
        &self.received
    }

    /// Reads until the connection is closed.
    fn receive_until_eof(&mut self) -> &[Vec<u8>] {
        while !self.eof {
            self.read_some();
        }
        &self.received
    }
}

/// Everything sent arrived once, and in each lane (small packets, bulk) in the order sent.
fn assert_lanes_kept_order(received: &[Vec<u8>], sent: &[Vec<u8>]) {
    assert_eq!(received.len(), sent.len());
    for small in [true, false] {
        let lane = |packets: &[Vec<u8>]| -> Vec<u32> {
            packets.iter().filter(|packet| (packet.len() <= SMALL_PACKET) == small).map(|p| seq_of(p)).collect()
        };
        assert_eq!(lane(received), lane(sent), "small lane: {small}");
    }
}

#[test]
fn sealed_bytes_are_the_v1_vectors_and_counters_run_in_order() {
    let rig = Rig::new();
    let (mut peer, _) = rig.attach(&[]);
    let case = vector_case();
    // The vectors' server stream (after the nonce): the magic frame (counter 0, 26 bytes), then
    // frame i carrying packets[i - 1]. The first two packets are IP packets.
    let packets: Vec<Vec<u8>> =
        case["packets"].as_array().unwrap()[..2].iter().map(|p| hex(p.as_str().unwrap())).collect();
    let stream = hex(case["server_to_client_stream"].as_str().unwrap());
    let expected = &stream[26..26 + packets.iter().map(|p| p.len() + 18).sum::<usize>()];
    for packet in &packets {
        assert!(rig.device().inject(packet));
    }
    let mut wire = vec![0u8; expected.len()];
    peer.stream.read_exact(&mut wire).unwrap();
    assert_eq!(wire, expected);

    // Then a run of many packets of varied sizes: the receiver opens each with the next counter
    // (3, 4, ...) or fails, and each lane's packets come out as they went in.
    peer.receiver = Receiver::new(FrameOpener::new(cipher(), Direction::ServerToClient, 3));
    let sent: Vec<Vec<u8>> = (0..3000).map(|seq| ipv4_packet(40 + (seq as usize * 7919) % 1400, seq)).collect();
    let producer = rig.produce(sent.clone(), true);
    assert_lanes_kept_order(peer.receive(sent.len()), &sent);
    producer.join().unwrap();
    assert_eq!(peer.receiver.next_counter(), 3 + sent.len() as u64);
    assert_eq!(rig.stats().tx_packets.load(std::sync::atomic::Ordering::Relaxed), 2 + sent.len() as u64);
}

#[test]
fn received_frames_reach_the_device_in_order_however_the_stream_is_cut() {
    let rig = Rig::new();
    let sent: Vec<Vec<u8>> = (0..2000).map(|seq| ipv4_packet(24 + (seq as usize * 104_729) % 9000, seq)).collect();
    let mut wire = Vec::new();
    let mut sealer = FrameSealer::new(cipher(), Direction::ClientToServer, 1);
    for packet in &sent {
        sealer.seal_to_vec(packet, &mut wire).unwrap();
    }
    // The handshake read the start of the stream: a whole frame and part of the next.
    let leftover_len = sent[0].len() + 18 + 10;
    let (mut peer, _) = rig.attach(&wire[..leftover_len]);
    // The rest in odd-sized writes, frames split anywhere.
    for chunk in wire[leftover_len..].chunks(7777) {
        peer.stream.write_all(chunk).unwrap();
    }
    let written = rig.device().wait_written(sent.len(), PATIENCE);
    assert_eq!(written, sent);
    // Those above the MTU went one by one, in their place among the batched ones.
    let above_mtu = sent.iter().filter(|packet| packet.len() > 1280).count();
    assert!(above_mtu > 100 && above_mtu < sent.len() - 100);
    assert_eq!(rig.device().written_one_by_one(), above_mtu);
    let stats = rig.stats();
    assert_eq!(stats.rx_packets.load(std::sync::atomic::Ordering::Relaxed), sent.len() as u64);
    assert_eq!(stats.rx_dropped_not_ip.load(std::sync::atomic::Ordering::Relaxed), 0);
}

#[test]
fn the_largest_packet_crosses_both_ways_and_a_larger_one_is_dropped() {
    let rig = Rig::new();
    let (mut peer, _) = rig.attach(&[]);
    let largest = ipv4_packet(MAX_PLAINTEXT_LEN, 1);
    assert_eq!(largest.len(), 65519);
    // To the peer: the largest goes, one byte more is counted and dropped (spending no counter,
    // or the next frame would not open), and the next packet follows.
    assert!(rig.device().inject(&largest));
    assert!(rig.device().inject(&ipv4_packet(MAX_PLAINTEXT_LEN + 1, 2)));
    assert!(rig.device().inject(&ipv4_packet(300, 3)));
    assert_eq!(peer.receive(2), [largest.clone(), ipv4_packet(300, 3)]);
    assert_eq!(rig.stats().tx_dropped_too_big.load(std::sync::atomic::Ordering::Relaxed), 1);
    // From the peer.
    peer.send(&[largest.clone(), ipv4_packet(100, 4)]);
    assert_eq!(rig.device().wait_written(2, PATIENCE), [largest, ipv4_packet(100, 4)]);
}

#[test]
fn a_tampered_tag_ends_the_session_with_its_reason() {
    let rig = Rig::new();
    let (mut peer, end_reason) = rig.attach(&[]);
    let good = ipv4_packet(200, 1);
    let mut wire = peer.seal(&[good.clone(), ipv4_packet(200, 2)]);
    let last = wire.len() - 1;
    wire[last] ^= 1;
    peer.stream.write_all(&wire).unwrap();
    let reason = end_reason.recv_timeout(PATIENCE).unwrap();
    assert_eq!(reason, SessionEnd::new(SessionEndKind::BadFrame, ttun_proto::Error::BadTag.to_string()));
    // What opened before the bad frame was delivered; the session is gone and so is its socket.
    assert_eq!(rig.device().written(), [good]);
    assert!(rig.data_path.current_session().is_none());
    assert!(peer.receive_until_eof().is_empty());
}

#[test]
fn a_replayed_frame_ends_the_session() {
    let rig = Rig::new();
    let (mut peer, end_reason) = rig.attach(&[]);
    let frame = peer.seal(&[ipv4_packet(60, 1)]);
    peer.stream.write_all(&frame).unwrap();
    peer.stream.write_all(&frame).unwrap();
    assert_eq!(end_reason.recv_timeout(PATIENCE).unwrap().kind, SessionEndKind::BadFrame);
    assert_eq!(rig.device().written(), [ipv4_packet(60, 1)]);
}

/// Whether the reader thread's socket would take more now.
fn writable(stream: &UnixStream) -> bool {
    let mut pfd = libc::pollfd { fd: stream.as_raw_fd(), events: libc::POLLOUT, revents: 0 };
    // SAFETY: one valid pollfd for the duration of the call; timeout 0 only samples.
    let rc = unsafe { libc::poll(&mut pfd, 1, 0) };
    rc > 0 && pfd.revents & libc::POLLOUT != 0
}

fn send_buffer(stream: &UnixStream) -> usize {
    let mut value: libc::c_int = 0;
    let mut len = std::mem::size_of::<libc::c_int>() as libc::socklen_t;
    // SAFETY: reads one int option into a local of the right size.
    let rc = unsafe {
        libc::getsockopt(
            stream.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_SNDBUF,
            (&mut value as *mut libc::c_int).cast(),
            &mut len,
        )
    };
    assert_eq!(rc, 0);
    value as usize
}

fn counter(counter: &std::sync::atomic::AtomicU64) -> u64 {
    counter.load(Relaxed)
}

#[test]
fn a_peer_that_stops_reading_costs_bounded_memory_and_the_excess_is_dropped() {
    let rig = Rig::new();
    let (mut peer, _end, ours) = rig.attach_watched(&[]);
    // The peer reads nothing: offer packets until the send queue drops one, which means the socket
    // and the queue are full. A queue without a bound would never drop: 64 MB offered is the limit.
    let mut seq = 0u32;
    while counter(&rig.stats().tx_dropped_queue_full) == 0 {
        assert!(seq < 48_000, "the send queue never filled");
        rig.device().wait_queued(|queued| queued < TUN_QUEUE, PATIENCE);
        assert!(rig.device().inject(&ipv4_packet(1400, seq)));
        seq += 1;
    }
    assert!(!writable(&ours));
    // What the reader kept sits in the socket, in the batch being written and in the queue.
    let taken = counter(&rig.stats().tx_bytes) as usize;
    let bound = 2 * send_buffer(&ours) + BULK_LIMIT + 4 * 65536;
    assert!(taken <= bound, "{taken} bytes taken from the device, more than the {bound} the socket and queue hold");
    // The reader goes on taking packets off the device (dropping them), so the device's queue,
    // the TUN's ring, never fills.
    for _ in 0..2 * TUN_QUEUE {
        rig.device().wait_queued(|queued| queued < TUN_QUEUE, PATIENCE);
        assert!(rig.device().inject(&ipv4_packet(1400, seq)));
        seq += 1;
    }
    rig.wait_accounted(seq as usize);
    assert_eq!(rig.device().dropped(), 0);
    // The peer reads again: everything kept arrives, in order, and new packets follow.
    let kept = counter(&rig.stats().tx_packets) as usize;
    let seqs: Vec<u32> = peer.receive(kept).iter().map(|p| seq_of(p)).collect();
    assert_eq!(seqs.len(), kept);
    assert!(seqs.windows(2).all(|pair| pair[0] < pair[1]), "reordered or repeated");
    assert!(rig.device().inject(&ipv4_packet(1400, seq)));
    assert_eq!(seq_of(&peer.receive(kept + 1)[kept]), seq);
}

#[test]
fn a_small_packet_overtakes_bulk_waiting_for_the_socket() {
    let rig = Rig::new();
    let (mut peer, _end, ours) = rig.attach_watched(&[]);
    // Fill the socket, then queue 100 bulk packets more behind it (140 kB, well inside the queue).
    let mut seq = 0u32;
    while writable(&ours) {
        assert!(seq < 48_000, "the socket never filled");
        rig.device().wait_queued(|queued| queued < TUN_QUEUE, PATIENCE);
        assert!(rig.device().inject(&ipv4_packet(1400, seq)));
        seq += 1;
    }
    for _ in 0..100 {
        // The reader may still be behind on the fill (up to the device's queue).
        rig.device().wait_queued(|queued| queued < TUN_QUEUE, PATIENCE);
        assert!(rig.device().inject(&ipv4_packet(1400, seq)));
        seq += 1;
    }
    rig.wait_accounted(seq as usize);
    // A ping's worth: it is read while the reader waits for the socket and goes next.
    const PING: u32 = 1_000_000;
    assert!(rig.device().inject(&ipv4_packet(84, PING)));
    let injected = seq as usize + 1;
    rig.wait_accounted(injected);
    assert_eq!(counter(&rig.stats().tx_dropped_queue_full), 0);
    let seqs: Vec<u32> = peer.receive(injected).iter().map(|p| seq_of(p)).collect();
    let ping_at = seqs.iter().position(|&s| s == PING).unwrap();
    // At most one sealed batch (64 KiB and one read: under 100 of these) was ahead of it.
    let overtaken = seqs.len() - 1 - ping_at;
    assert!(overtaken >= 40, "the small packet overtook only {overtaken} bulk packets");
    let bulk: Vec<u32> = seqs.into_iter().filter(|&s| s != PING).collect();
    assert_eq!(bulk, (0..seq).collect::<Vec<u32>>());
}

#[test]
fn batches_for_javascript_are_bounded_and_pause_holds_the_reader() {
    let rig = Rig::new();
    let (batches, delivered) = mpsc::channel();
    let keys = SessionKeys { cipher: cipher(), send: Direction::ServerToClient };
    let mut inbound = attach::callback(
        &rig.data_path,
        &keys,
        Box::new(move |batch| {
            let _ = batches.send(batch);
            true
        }),
    );
    let flow = rig.data_path.flow.clone();
    let mut opener = Receiver::new(FrameOpener::new(cipher(), Direction::ServerToClient, 1));
    let mut open = |batch: &mut Vec<u8>, into: &mut Vec<Vec<u8>>| {
        opener.receive(batch, |packet| into.push(packet.to_vec())).unwrap();
    };
    let sent: Vec<Vec<u8>> = (0..TUN_QUEUE as u32).map(|seq| ipv4_packet(1400, seq)).collect();
    for packet in &sent {
        assert!(rig.device().inject(packet));
    }
    // Nobody takes the batches off the queue (JavaScript is busy): the reader stops after four.
    flow.wait_until_parked(PATIENCE);
    let mut held: Vec<Vec<u8>> = delivered.try_iter().collect();
    assert_eq!(held.len(), 4);
    let mut received = Vec::new();
    for batch in &mut held {
        open(batch, &mut received);
    }
    assert_eq!(rig.device().queued(), sent.len() - received.len());
    // Paused (the socket is full), the reader stays held even with the queue emptied.
    flow.pause();
    for _ in &held {
        flow.batch_delivered();
    }
    flow.wait_until_parked(PATIENCE);
    assert_eq!(rig.device().queued(), sent.len() - received.len());
    flow.resume();
    while received.len() < sent.len() {
        let mut batch = delivered.recv_timeout(PATIENCE).unwrap();
        flow.batch_delivered();
        open(&mut batch, &mut received);
    }
    assert_eq!(received, sent);
    // The other way, JavaScript hands each chunk it reads to the session.
    let mut peer_sealer = FrameSealer::new(cipher(), Direction::ClientToServer, 1);
    let mut wire = Vec::new();
    peer_sealer.seal_to_vec(&ipv4_packet(80, 9), &mut wire).unwrap();
    inbound.receive(&rig.data_path, &mut wire).unwrap();
    assert_eq!(rig.device().written(), [ipv4_packet(80, 9)]);
}

#[test]
fn a_new_session_takes_over_without_reordering_anything() {
    let mut rig = Rig::new();
    let (mut old, old_end) = rig.attach(&[]);
    // Packets keep coming from the OS throughout the takeover; the last one always gets in (all
    // of them together fit the send queue: none is dropped even if nothing is read).
    const LAST: u32 = 2999;
    let packets: Vec<Vec<u8>> = (0..=LAST).map(|seq| ipv4_packet(300, seq)).collect();
    assert!(packets.iter().map(|packet| packet.len() + FRAME_OVERHEAD).sum::<usize>() < BULK_LIMIT);
    let producer = rig.produce(packets, false);
    // Take over while packets flow to the old session.
    old.receive(100);
    let (mut new, new_end) = rig.attach(&[]);
    while new.received.last().is_none_or(|packet| seq_of(packet) != LAST) {
        new.read_some();
        assert!(!new.eof, "the new session's connection closed");
    }
    producer.join().unwrap();
    let old_seqs: Vec<u32> = old.receive_until_eof().iter().map(|p| seq_of(p)).collect();
    // The new session's counters start at 1 again (its receiver checks), and its packets follow
    // the old session's: none that went to the old one comes later, none comes twice.
    let new_seqs: Vec<u32> = new.received.iter().map(|p| seq_of(p)).collect();
    let all: Vec<u32> = old_seqs.iter().chain(&new_seqs).copied().collect();
    assert!(all.windows(2).all(|pair| pair[0] < pair[1]), "reordered or repeated: {all:?}");
    assert!(old_seqs.len() >= 100 && new_seqs.len() > 1);
    // And the new session carries the other way too.
    new.send(&[ipv4_packet(64, 7)]);
    assert_eq!(rig.device().wait_written(1, PATIENCE), [ipv4_packet(64, 7)]);
    rig.stop();
    // Replaced is not ended: neither session reported an end (their threads are joined now).
    assert!(old_end.try_recv().is_err());
    assert!(new_end.try_recv().is_err());
}

#[test]
fn a_session_with_super_frame_peers_sends_its_probes_first_and_unprompted() {
    let peers = SuperFramePeers {
        ipv4: Some(("10.1.1.1".parse().unwrap(), "10.1.1.2".parse().unwrap())),
        ipv6: Some(("fc11::1".parse().unwrap(), "fc11::2".parse().unwrap())),
    };
    let rig = Rig::with_super_frame_peers(peers);
    let (mut peer, _end) = rig.attach(&[]);
    // Nothing was read from the TUN, yet the two probes arrive: full-size echo requests (ICMP type
    // 8, ICMPv6 type 128) to the peer's address, counters 1 and 2.
    let probes = peer.receive(2).to_vec();
    assert_eq!(probes[0].len(), MAX_PLAINTEXT_LEN);
    assert_eq!((probes[0][0] >> 4, &probes[0][16..20], probes[0][20]), (4, &[10, 1, 1, 2][..], 8));
    assert_eq!(probes[1].len(), MAX_PLAINTEXT_LEN);
    assert_eq!((probes[1][0] >> 4, probes[1][39], probes[1][40]), (6, 2, 128));
    // Packets from the TUN follow, in order; the probes were no packet of the TUN's.
    rig.device().inject(&ipv4_packet(100, 7));
    assert_eq!(seq_of(&peer.receive(3)[2]), 7);
    assert_eq!(rig.stats().tx_packets.load(std::sync::atomic::Ordering::Relaxed), 1);
}

#[test]
fn a_session_without_super_frame_peers_sends_no_probe() {
    let rig = Rig::new();
    let (mut peer, _end) = rig.attach(&[]);
    rig.device().inject(&ipv4_packet(100, 3));
    assert_eq!(peer.receive(1).len(), 1);
    assert_eq!(seq_of(&peer.received[0]), 3);
}
