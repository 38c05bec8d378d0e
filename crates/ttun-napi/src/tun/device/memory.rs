//! A TUN in memory, for tests: the test plays the OS. [`MemoryDevice::inject`] queues a packet
//! "from the OS" for the data path to read; what the data path writes "to the OS" is collected
//! for [`MemoryDevice::wait_written`]. Like a kernel TUN, its read queue is bounded and drops
//! what does not fit, so a data path that stops reading cannot make it grow.
use std::collections::VecDeque;
use std::io::{self, Read, Write};
use std::os::fd::{AsRawFd, RawFd};
use std::os::unix::net::UnixStream;
use std::sync::{Condvar, Mutex};
use std::time::{Duration, Instant};

use super::{append_in_place, PacketDevice, PacketTarget, ReadOutcome};

/// Packets one read hands over at most, as a kernel TUN read with offload does.
const READ_BATCH: usize = 64;

#[derive(Default)]
struct State {
    from_os: VecDeque<Vec<u8>>,
    /// Injected while the queue was full.
    dropped: usize,
    interrupted: bool,
    to_os: Vec<Vec<u8>>,
    /// Of `to_os`, how many came through `write_one` rather than a batch.
    written_one: usize,
    /// Whether `readable` holds its byte (exactly while `from_os` is not empty).
    signalled: bool,
}

pub struct MemoryDevice {
    name: String,
    mtu: u16,
    queue_limit: usize,
    state: Mutex<State>,
    changed: Condvar,
    /// Polls readable while packets wait to be read, as a TUN's fd does: the near end holds one
    /// byte then, written by `inject` and read back once a read empties the queue.
    readable: UnixStream,
    readable_signal: UnixStream,
}

impl MemoryDevice {
    /// A test that fails while waiting here poisons the lock; the device must still close.
    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// `queue_limit` is the read queue's length, the TUN's txqueuelen (500 by default on Linux).
    pub fn new(name: &str, mtu: u16, queue_limit: usize) -> Self {
        let (readable, readable_signal) = UnixStream::pair().expect("a socket pair");
        readable.set_nonblocking(true).expect("non-blocking");
        Self {
            name: name.into(),
            mtu,
            queue_limit,
            state: Mutex::new(State::default()),
            changed: Condvar::new(),
            readable,
            readable_signal,
        }
    }

    /// Queues a packet for the data path to read; false (and counted) when the queue is full.
    pub fn inject(&self, packet: &[u8]) -> bool {
        let mut state = self.lock();
        if state.from_os.len() >= self.queue_limit {
            state.dropped += 1;
            return false;
        }
        state.from_os.push_back(packet.to_vec());
        if !state.signalled {
            (&self.readable_signal).write_all(&[1]).expect("signal readable");
            state.signalled = true;
        }
        self.changed.notify_all();
        true
    }

    pub fn queued(&self) -> usize {
        self.lock().from_os.len()
    }

    pub fn dropped(&self) -> usize {
        self.lock().dropped
    }

    /// Waits until `condition` holds of the queue length, or panics after `timeout`.
    pub fn wait_queued(&self, condition: impl Fn(usize) -> bool, timeout: Duration) {
        let deadline = Instant::now() + timeout;
        let mut state = self.lock();
        while !condition(state.from_os.len()) {
            let left = deadline.checked_duration_since(Instant::now()).expect("timed out waiting for the read queue");
            state = self.changed.wait_timeout(state, left).unwrap_or_else(std::sync::PoisonError::into_inner).0;
        }
    }

    /// Waits until at least `count` packets have been written to the device, or panics after
    /// `timeout`; returns everything written so far, in order.
    pub fn wait_written(&self, count: usize, timeout: Duration) -> Vec<Vec<u8>> {
        let deadline = Instant::now() + timeout;
        let mut state = self.lock();
        while state.to_os.len() < count {
            let Some(left) = deadline.checked_duration_since(Instant::now()) else {
                panic!("timed out: {} of {count} packets written", state.to_os.len());
            };
            state = self.changed.wait_timeout(state, left).unwrap_or_else(std::sync::PoisonError::into_inner).0;
        }
        state.to_os.clone()
    }

    /// How many of the written packets came one by one, not in a batch.
    pub fn written_one_by_one(&self) -> usize {
        self.lock().written_one
    }

    pub fn written(&self) -> Vec<Vec<u8>> {
        self.lock().to_os.clone()
    }
}

impl PacketDevice for MemoryDevice {
    /// The packets of one read, taken out of the queue so that they are passed on unlocked.
    type ReadBuffers = Vec<Vec<u8>>;
    type WriteState = ();
    /// Some headroom, as the OS device has on Linux, so that a writer that forgets it shows.
    const WRITE_HEADROOM: usize = 10;

    fn name(&self) -> &str {
        &self.name
    }

    fn mtu(&self) -> u16 {
        self.mtu
    }

    fn read_buffers(&self) -> io::Result<Vec<Vec<u8>>> {
        Ok(Vec::with_capacity(READ_BATCH))
    }

    /// Injected packets are whole IP packets, never offload super-packets: nothing to split. Each
    /// goes to the target as the OS device hands over a whole packet, in place.
    fn read_batch(
        &self,
        buffers: &mut Vec<Vec<u8>>,
        _takes_whole: impl Fn(&[u8]) -> bool,
        target: &mut impl PacketTarget,
    ) -> io::Result<ReadOutcome> {
        {
            let mut state = self.lock();
            if state.from_os.is_empty() {
                return Ok(ReadOutcome::Empty);
            }
            let take = state.from_os.len().min(READ_BATCH);
            buffers.clear();
            buffers.extend(state.from_os.drain(..take));
            if state.from_os.is_empty() {
                (&self.readable).read_exact(&mut [0]).expect("the readable signal");
                state.signalled = false;
            }
            self.changed.notify_all();
        }
        for packet in buffers.iter() {
            append_in_place(target, packet);
        }
        Ok(ReadOutcome::Read)
    }

    fn write_batch(&self, _state: &mut (), packets: &mut [Vec<u8>]) -> io::Result<()> {
        let mut state = self.lock();
        state.to_os.extend(packets.iter().map(|buffer| buffer[Self::WRITE_HEADROOM..].to_vec()));
        self.changed.notify_all();
        Ok(())
    }

    fn write_one(&self, packet: &mut [u8]) -> io::Result<()> {
        let mut state = self.lock();
        state.to_os.push(packet.to_vec());
        state.written_one += 1;
        self.changed.notify_all();
        Ok(())
    }

    fn readable_fd(&self) -> RawFd {
        self.readable.as_raw_fd()
    }

    fn wait_readable(&self) -> io::Result<()> {
        let mut state = self.lock();
        loop {
            if state.interrupted {
                return Err(io::ErrorKind::Interrupted.into());
            }
            if !state.from_os.is_empty() {
                return Ok(());
            }
            state = self.changed.wait(state).unwrap_or_else(std::sync::PoisonError::into_inner);
        }
    }

    fn interrupt(&self) {
        self.lock().interrupted = true;
        self.changed.notify_all();
    }

    fn clear_interrupt(&self) {
        self.lock().interrupted = false;
    }
}
