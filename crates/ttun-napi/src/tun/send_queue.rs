//! What the TUN reader has taken off the TUN for a socket session and the socket has not taken
//! yet: a queue bounded in bytes, in two lanes, so that a ping or an ACK does not wait behind bulk.
//!
//! Why a queue of our own: a reader that stopped reading whenever the socket pushed back left the
//! packets in the TUN's transmit ring (500 packets, each up to a 64 KiB super-packet), where a ping
//! waited behind every super-packet queued before it; that ring was the loaded RTT's tail
//! (bench/NOTES.md). So the reader keeps reading while it waits for the socket. Packets of at most
//! [`SMALL_PACKET`] bytes go to a lane of their own, sent ahead of the bulk lane (the lanes take
//! turns, so neither starves the other). Bulk packets queue up to [`BULK_LIMIT`] bytes; beyond it
//! they are dropped (`tx_dropped_queue_full`), as the ring would have dropped them, and the inner
//! TCP flows slow down as they did at the ring.
//!
//! Packets wait unsealed, laid out as the frames they become (`[length][packet][room for the
//! tag]`), and are sealed in place when their batch is next to go: counters follow the order on the
//! wire however the lanes reorder packets, and no packet is copied on the way (a small one once).
use std::collections::VecDeque;

use ttun_proto::{FrameSealer, LENGTH_PREFIX_LEN, MAX_PLAINTEXT_LEN, TAG_LEN};

use super::device::{PacketTarget, IN_PLACE_HEADROOM, IN_PLACE_TAILROOM, MAX_PACKET};
use super::stats::{add, Stats};

/// Packets up to this size take the small lane: pings, TCP ACKs, DNS, keystrokes.
pub const SMALL_PACKET: usize = 256;
/// Bulk bytes queued at most (about 1 ms of a 9 Gbit/s stream); more are dropped.
pub const BULK_LIMIT: usize = 1024 * 1024;
/// Small-lane bytes queued at most (more than the TUN ring's 500 packets of this size); a flood
/// of small packets beyond it is dropped.
pub const SMALL_LIMIT: usize = 256 * 1024;
/// Bulk is sealed and written in batches of about this size: what a small packet that arrives
/// meanwhile waits behind at most.
const BULK_BATCH: usize = 64 * 1024;
/// A batch fills up to [`BULK_BATCH`] and then takes one more read in place.
const BATCH_CAPACITY: usize = BULK_BATCH + IN_PLACE_HEADROOM + MAX_PACKET + 1 + IN_PLACE_TAILROOM;
/// Emptied batches kept for reuse: enough for a full queue, so a busy tunnel allocates nothing.
const SPARE_BATCHES: usize = BULK_LIMIT / BULK_BATCH + 2;

/// The TUN reader thread's, for whichever socket session is attached: packets not sealed yet
/// wait for the next session if this one ends, as they would have in the TUN's ring.
#[derive(Default)]
pub struct SendQueue {
    /// The session `out` was sealed for.
    session: u64,
    /// Sealed bytes being written to the socket, and how many of them have been.
    out: Vec<u8>,
    written: usize,
    /// Unsealed records of small packets.
    small: Vec<u8>,
    /// Unsealed records of bulk packets, in batches; new packets go to the last.
    bulk: VecDeque<Vec<u8>>,
    bulk_bytes: usize,
    spare: Vec<Vec<u8>>,
    /// Whether the batch in `out` came from the small lane: the bulk lane goes next if it waits.
    small_went_last: bool,
}

impl SendQueue {
    /// Sealed bytes are for one session only: what another left unwritten is dropped.
    pub fn start_session(&mut self, session: u64) {
        if self.session != session {
            self.session = session;
            self.out.clear();
            self.written = 0;
        }
    }

    /// Drops every packet not sealed yet (when no session is attached to take them); returns how
    /// many there were.
    pub fn discard_unsealed(&mut self) -> usize {
        let mut count = count_records(&self.small);
        self.small.clear();
        while let Some(batch) = self.bulk.pop_front() {
            count += count_records(&batch);
            self.recycle(batch);
        }
        self.bulk_bytes = 0;
        count
    }

    /// The sealed bytes still to write.
    pub fn unwritten(&self) -> &[u8] {
        &self.out[self.written..]
    }

    pub fn wrote(&mut self, count: usize) {
        self.written += count;
    }

    /// Queues frames sealed elsewhere (the receiving side's leftovers, the probes) to be written
    /// after what is sealed already and before anything sealed later.
    pub fn push_sealed(&mut self, frames: &mut Vec<u8>) {
        if self.written == self.out.len() {
            self.out.clear();
            self.written = 0;
        }
        self.out.append(frames);
    }

    /// Once everything sealed is written, seals the next batch (the lanes take turns) and makes
    /// it the one to write. False when nothing is left to write.
    pub fn seal_next(&mut self, sealer: &mut FrameSealer) -> Result<bool, ttun_proto::Error> {
        if self.written < self.out.len() {
            return Ok(true);
        }
        // A read that found nothing leaves the empty batch it would have read into.
        self.trim_tail();
        let small_next = !self.small.is_empty() && (!self.small_went_last || self.bulk.is_empty());
        let next = if small_next {
            let fresh = self.spare.pop().unwrap_or_default();
            std::mem::replace(&mut self.small, fresh)
        } else {
            let Some(batch) = self.bulk.pop_front() else { return Ok(false) };
            self.bulk_bytes -= batch.len();
            batch
        };
        self.small_went_last = small_next;
        let done = std::mem::replace(&mut self.out, next);
        self.recycle(done);
        self.written = 0;
        seal_records(sealer, &mut self.out)?;
        Ok(true)
    }

    /// Where the lanes take the packets a read hands over; `stats` counts them.
    pub fn lanes<'a>(&'a mut self, stats: &'a Stats) -> Lanes<'a> {
        Lanes { queue: self, stats, taken: 0 }
    }

    fn recycle(&mut self, mut batch: Vec<u8>) {
        batch.clear();
        if batch.capacity() > 0 && self.spare.len() < SPARE_BATCHES {
            self.spare.push(batch);
        }
    }

    /// The bulk batch new packets go to, started afresh once the last one is full.
    fn bulk_tail(&mut self) -> &mut Vec<u8> {
        if self.bulk.back().is_none_or(|last| last.len() >= BULK_BATCH) {
            let mut batch = self.spare.pop().unwrap_or_default();
            batch.reserve(BATCH_CAPACITY);
            self.bulk.push_back(batch);
        }
        self.bulk.back_mut().expect("a batch was just made")
    }

    /// Drops the last bulk batch again if a read left nothing in it (only the last can be empty:
    /// a new one is started only when the last is full).
    fn trim_tail(&mut self) {
        if self.bulk.back().is_some_and(Vec::is_empty) {
            let batch = self.bulk.pop_back().expect("checked");
            self.recycle(batch);
        }
    }
}

/// Appends an unsealed record of `packet` to `records`.
fn append_record(records: &mut Vec<u8>, packet: &[u8]) {
    // The caller checked the length against MAX_PLAINTEXT_LEN: it fits the u16.
    records.extend_from_slice(&(packet.len() as u16).to_be_bytes());
    records.extend_from_slice(packet);
    records.extend_from_slice(&[0; TAG_LEN]);
}

/// The records in a batch not sealed yet.
fn count_records(records: &[u8]) -> usize {
    let mut at = 0;
    let mut count = 0;
    while at < records.len() {
        at += LENGTH_PREFIX_LEN + usize::from(u16::from_be_bytes([records[at], records[at + 1]])) + TAG_LEN;
        count += 1;
    }
    count
}

/// Seals every record of a batch in place, turning it into frames ready to write.
fn seal_records(sealer: &mut FrameSealer, records: &mut [u8]) -> Result<(), ttun_proto::Error> {
    let mut at = 0;
    while at < records.len() {
        let len = usize::from(u16::from_be_bytes([records[at], records[at + 1]]));
        let end = at + LENGTH_PREFIX_LEN + len + TAG_LEN;
        sealer.seal_in_place(&mut records[at..end])?;
        at = end;
    }
    Ok(())
}

/// The lanes as the device sees them: a packet read in place lands in the bulk lane's last batch
/// and stays there if it is bulk; a small one moves to the small lane.
pub struct Lanes<'a> {
    queue: &'a mut SendQueue,
    stats: &'a Stats,
    taken: usize,
}

impl Lanes<'_> {
    /// Bytes of the packets taken so far, queued or dropped.
    pub fn taken(&self) -> usize {
        self.taken
    }

    /// Whether a packet of `len` bytes may join its lane; counts it either way.
    fn admit(&mut self, len: usize, small: bool) -> bool {
        self.taken += len;
        let stats = self.stats;
        if len > MAX_PLAINTEXT_LEN {
            add(&stats.tx_dropped_too_big, 1);
            return false;
        }
        let full = if small { self.queue.small.len() >= SMALL_LIMIT } else { self.queue.bulk_bytes >= BULK_LIMIT };
        if full {
            add(&stats.tx_dropped_queue_full, 1);
            return false;
        }
        add(&stats.tx_packets, 1);
        add(&stats.tx_bytes, len as u64);
        true
    }
}

impl PacketTarget for Lanes<'_> {
    fn batch(&mut self) -> &mut Vec<u8> {
        self.queue.bulk_tail()
    }

    fn take_in_place(&mut self, len: usize) {
        let small = len <= SMALL_PACKET;
        let admitted = self.admit(len, small);
        let queue = &mut *self.queue;
        let tail = queue.bulk.back_mut().expect("the packet was read into the last batch");
        let start = tail.len() - len - IN_PLACE_HEADROOM;
        if admitted && !small {
            tail[start..start + LENGTH_PREFIX_LEN].copy_from_slice(&(len as u16).to_be_bytes());
            tail.extend_from_slice(&[0; TAG_LEN]);
            queue.bulk_bytes += LENGTH_PREFIX_LEN + len + TAG_LEN;
            return;
        }
        if admitted {
            append_record(&mut queue.small, &tail[start + IN_PLACE_HEADROOM..]);
        }
        tail.truncate(start);
        queue.trim_tail();
    }

    fn take_copy(&mut self, packet: &[u8]) {
        let small = packet.len() <= SMALL_PACKET;
        if !self.admit(packet.len(), small) {
            return;
        }
        if small {
            append_record(&mut self.queue.small, packet);
        } else {
            let record_len = LENGTH_PREFIX_LEN + packet.len() + TAG_LEN;
            append_record(self.queue.bulk_tail(), packet);
            self.queue.bulk_bytes += record_len;
        }
    }
}

#[cfg(test)]
mod tests {
    use ttun_proto::{Cipher, CipherKind, Direction, FrameOpener, Receiver};

    use super::*;

    fn cipher() -> Cipher {
        Cipher::new(CipherKind::Aes256Gcm, &[3; 32])
    }

    /// Seals and "writes" everything queued; returns the packets' first bytes in wire order.
    fn drain(queue: &mut SendQueue, sealer: &mut FrameSealer, receiver: &mut Receiver) -> Vec<u8> {
        let mut order = Vec::new();
        while queue.seal_next(sealer).unwrap() {
            let mut wire = queue.unwritten().to_vec();
            queue.wrote(wire.len());
            receiver.receive(&mut wire, |packet| order.push(packet[0])).unwrap();
        }
        order
    }

    #[test]
    fn lanes_take_turns_and_counters_follow_the_wire() {
        let stats = Stats::default();
        let mut queue = SendQueue::default();
        let mut sealer = FrameSealer::new(cipher(), Direction::ClientToServer, 1);
        let mut receiver = Receiver::new(FrameOpener::new(cipher(), Direction::ClientToServer, 1));
        // Two bulk batches' worth (first byte 1) queued before some small packets (first byte 2).
        let mut lanes = queue.lanes(&stats);
        for _ in 0..2 * BULK_BATCH / 1000 + 2 {
            lanes.take_copy(&[1; 1000]);
        }
        for _ in 0..3 {
            lanes.take_copy(&[2; 60]);
        }
        let order = drain(&mut queue, &mut sealer, &mut receiver);
        // The small ones went first, as one batch; then the bulk, in order. The receiver opened
        // every frame with the next counter.
        assert_eq!(&order[..3], [2, 2, 2]);
        assert!(order[3..].iter().all(|&first| first == 1));
        assert_eq!(order.len(), 3 + 2 * BULK_BATCH / 1000 + 2);
        // With both lanes busy, a bulk batch goes between two small ones.
        let mut lanes = queue.lanes(&stats);
        lanes.take_copy(&[2; 60]);
        lanes.take_copy(&[1; 1000]);
        assert!(queue.seal_next(&mut sealer).unwrap());
        let small = queue.unwritten().len();
        queue.wrote(small);
        queue.lanes(&stats).take_copy(&[2; 60]);
        let mut wire = queue.unwritten().to_vec();
        assert!(wire.is_empty());
        assert!(queue.seal_next(&mut sealer).unwrap());
        wire.extend_from_slice(queue.unwritten());
        assert_eq!(wire.len(), 1000 + 18, "the bulk batch came before the second small one");
        // A read that found nothing (the OS device asks for the batch before it reads) does not
        // hold back the small packet that is left.
        queue.wrote(wire.len());
        assert!(queue.seal_next(&mut sealer).unwrap());
        let small = queue.unwritten().len();
        queue.wrote(small);
        assert!(queue.small_went_last && !queue.seal_next(&mut sealer).unwrap());
        let mut lanes = queue.lanes(&stats);
        assert!(lanes.batch().is_empty());
        lanes.take_copy(&[2; 60]);
        let mut receiver = Receiver::new(FrameOpener::new(cipher(), Direction::ClientToServer, sealer.next_counter()));
        assert_eq!(drain(&mut queue, &mut sealer, &mut receiver), [2]);
    }

    #[test]
    fn each_lane_is_bounded_and_what_it_refuses_is_counted() {
        let stats = Stats::default();
        let mut queue = SendQueue::default();
        let mut lanes = queue.lanes(&stats);
        for _ in 0..BULK_LIMIT / 1000 + 100 {
            lanes.take_copy(&[1; 1000]);
        }
        for _ in 0..SMALL_LIMIT / 100 + 100 {
            lanes.take_copy(&[2; 82]);
        }
        lanes.take_copy(&[3; MAX_PLAINTEXT_LEN + 1]);
        let dropped = stats.tx_dropped_queue_full.load(std::sync::atomic::Ordering::Relaxed);
        let kept = stats.tx_packets.load(std::sync::atomic::Ordering::Relaxed) as usize;
        assert!(dropped >= 200, "{dropped} dropped");
        assert_eq!(stats.tx_dropped_too_big.load(std::sync::atomic::Ordering::Relaxed), 1);
        assert!(queue.bulk_bytes <= BULK_LIMIT + 1018 && queue.small.len() <= SMALL_LIMIT + 100);
        assert_eq!(queue.discard_unsealed(), kept);
        assert!(queue.bulk.is_empty() && queue.small.is_empty());
    }
}
