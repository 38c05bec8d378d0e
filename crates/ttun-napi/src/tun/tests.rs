//! The data path end to end inside one process: the in-memory device plays the OS, a Unix
//! socket pair plays the TCP connection, and the test plays the peer with ttun-proto's own
//! sealer and receiver, using the real cipher and the session key of the v1 test vectors.
use std::io::{Read, Write};
use std::os::fd::AsRawFd;
use std::os::unix::net::UnixStream;
use std::sync::mpsc;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use ttun_proto::{Cipher, CipherKind, Direction, FrameOpener, FrameSealer, Receiver, MAX_PLAINTEXT_LEN};

use super::attach;
use super::connection::Connection;
use super::data_path::DataPath;
use super::device::memory::MemoryDevice;
use super::outbound::{self, WIRE_BATCH_CAPACITY};
use super::session::{SessionEnd, SessionEndKind, SessionKeys};
use super::stats::Stats;
use super::super_frames::SuperFramePeers;

/// Long enough for a loaded CI machine; only ever reached when something is broken.
const PATIENCE: Duration = Duration::from_secs(30);
/// The device's read queue, as a kernel TUN's default txqueuelen.
const TUN_QUEUE: usize = 500;

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
}

impl Rig {
    fn new() -> Self {
        Self::with_super_frame_peers(SuperFramePeers::default())
    }

    fn with_super_frame_peers(peers: SuperFramePeers) -> Self {
        let data_path = DataPath::new(MemoryDevice::new("mem0", 1280, TUN_QUEUE), peers);
        let tun_reader =
            outbound::spawn_tun_reader(&data_path, |message| panic!("the reader thread stopped: {message}")).unwrap();
        Self { data_path, tun_reader: Some(tun_reader) }
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
        let (ours, theirs) = UnixStream::pair().unwrap();
        // As Node leaves a socket it hands over.
        ours.set_nonblocking(true).unwrap();
        let connection = Connection::new(ours.as_raw_fd()).unwrap();
        drop(ours);
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
        (Peer::new(theirs), end_reason)
    }

    /// Injects `packets` from a thread of their own, each as soon as the queue has room (as a
    /// busy OS would, without dropping any).
    fn produce(&self, packets: Vec<Vec<u8>>) -> JoinHandle<()> {
        let data_path = self.data_path.clone();
        std::thread::spawn(move || {
            for packet in packets {
                data_path.device.wait_queued(|queued| queued < TUN_QUEUE, PATIENCE);
                assert!(data_path.device.inject(&packet));
            }
        })
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
}

impl Peer {
    fn new(stream: UnixStream) -> Self {
        stream.set_read_timeout(Some(PATIENCE)).unwrap();
        Self {
            stream,
            sealer: FrameSealer::new(cipher(), Direction::ClientToServer, 1),
            receiver: Receiver::new(FrameOpener::new(cipher(), Direction::ServerToClient, 1)),
            received: Vec::new(),
            eof: false,
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
        self.receiver.receive(&mut chunk[..n], |packet| received.push(packet.to_vec())).unwrap();
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
    // (3, 4, ...) or fails, and the packets come out as they went in.
    peer.receiver = Receiver::new(FrameOpener::new(cipher(), Direction::ServerToClient, 3));
    let sent: Vec<Vec<u8>> = (0..3000).map(|seq| ipv4_packet(40 + (seq as usize * 7919) % 1400, seq)).collect();
    let producer = rig.produce(sent.clone());
    assert_eq!(peer.receive(sent.len()), sent.as_slice());
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
    assert!(rig.device().inject(&ipv4_packet(100, 3)));
    assert_eq!(peer.receive(2), [largest.clone(), ipv4_packet(100, 3)]);
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

#[test]
fn a_peer_that_stops_reading_holds_the_reader_back_and_memory_stays_bounded() {
    let rig = Rig::new();
    let (ours, theirs) = UnixStream::pair().unwrap();
    ours.set_nonblocking(true).unwrap();
    let connection = Connection::new(ours.as_raw_fd()).unwrap();
    let keys = SessionKeys { cipher: cipher(), send: Direction::ServerToClient };
    attach::socket(&rig.data_path, &keys, connection, Vec::new(), Box::new(|_| {})).unwrap();
    let mut peer = Peer::new(theirs);
    // The peer reads nothing: offer packets until the socket is full and the device's queue with
    // it, which means the reader is waiting for the socket. A reader that kept taking packets
    // (buffering them somewhere) would never let the queue fill: 64 MB offered is the limit.
    let mut accepted = Vec::new();
    let mut seq = 0u32;
    loop {
        let packet = ipv4_packet(1400, seq);
        seq += 1;
        assert!(seq < 48_000, "the reader kept taking packets from the device");
        if rig.device().inject(&packet) {
            accepted.push(packet);
        } else if !writable(&ours) {
            break;
        }
    }
    // What the reader took off the device sits in the socket or in the one batch it holds.
    let taken = rig.stats().tx_bytes.load(std::sync::atomic::Ordering::Relaxed) as usize;
    let bound = 2 * send_buffer(&ours) + 2 * WIRE_BATCH_CAPACITY;
    assert!(taken <= bound, "{taken} bytes taken from the device, more than the {bound} the socket can hold");
    assert!(rig.device().dropped() > 0);
    // The peer reads again: everything the device accepted arrives, in order, and the reader
    // carries on with new packets.
    let queued_then = accepted.len();
    while accepted.len() < queued_then + 1000 {
        let packet = ipv4_packet(1400, seq);
        seq += 1;
        peer.read_some();
        if rig.device().inject(&packet) {
            accepted.push(packet);
        }
    }
    assert_eq!(peer.receive(accepted.len()), accepted.as_slice());
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
    // Packets keep coming from the OS throughout the takeover; the last one always gets in.
    const LAST: u32 = 5999;
    let producer = rig.produce((0..=LAST).map(|seq| ipv4_packet(300, seq)).collect());
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
