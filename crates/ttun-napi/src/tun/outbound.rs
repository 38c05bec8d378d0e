//! TUN → sealed frames → the connection.
//!
//! The reader thread waits for the TUN, reads what is ready in batches, seals every packet into
//! one contiguous buffer and delivers it (see [`super::sink`]). The receiving side helps: right
//! after it writes received packets to the TUN, whatever the kernel answered on the spot (an ICMP
//! echo reply, the ACKs for received data) is already queued on the TUN, so it reads and sends
//! that itself ([`send_answers`]) instead of waking the reader thread for it: one thread wake-up
//! less per round trip.
//!
//! Frames must reach the socket in counter order, so sealing and writing happen together under
//! the session's `state` lock. The receiving side only ever try-locks it and never blocks: bytes
//! its non-blocking write could not place are left in `pending`, which the reader thread writes
//! before anything else.
use std::io::{self, ErrorKind};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use ttun_proto::{FrameSealer, FRAME_OVERHEAD};

use super::device::{PacketDevice, ReadOutcome};
use super::shared::{EndNotice, Shared};
use super::sink::{Delivery, Sink};
use super::stats::add;

/// Sealed bytes gathered before a batch is handed over. A batch also ends as soon as the TUN has
/// nothing more to read, so a lone ping is never held back waiting for company.
const WIRE_BATCH_TARGET: usize = 64 * 1024;
/// Room for one more read on top of the target: a 64 KiB super-packet split into frames (one split
/// into more segments than usual grows the buffer, once).
pub const WIRE_BATCH_CAPACITY: usize = WIRE_BATCH_TARGET + 65535 + 128 * FRAME_OVERHEAD;

/// The sending half of the attached session, shared by the reader thread and the JS thread.
pub struct OutboundSession {
    pub id: u64,
    pub sink: Sink,
    on_end: Option<EndNotice>,
    state: Mutex<OutboundState>,
}

struct OutboundState {
    framer: Framer,
    /// Sealed bytes the JS thread could not write without blocking; they go out first.
    pending: Vec<u8>,
}

/// How packets read from the TUN are put into a batch.
// One Framer per session, inside its lock: the size difference between the variants costs
// nothing, and boxing the sealer would add a pointer chase to every packet sealed.
#[allow(clippy::large_enum_variant)]
pub enum Framer {
    /// v1 frames for the peer.
    Sealed(FrameSealer),
    /// `[u16 BE length][packet]` records for JavaScript's own use of the TUN (no peer, no crypto).
    Plain,
}

impl Framer {
    fn append(&mut self, packet: &[u8], batch: &mut Vec<u8>) -> Result<(), ttun_proto::Error> {
        match self {
            Framer::Sealed(sealer) => sealer.seal_to_vec(packet, batch),
            Framer::Plain => {
                // A TUN packet is at most 65535 bytes (device.rs MAX_PACKET): the length fits the u16.
                batch.extend_from_slice(&(packet.len() as u16).to_be_bytes());
                batch.extend_from_slice(packet);
                Ok(())
            }
        }
    }
}

impl OutboundSession {
    pub fn new(id: u64, framer: Framer, sink: Sink, on_end: Option<EndNotice>) -> Self {
        Self { id, sink, on_end, state: Mutex::new(OutboundState { framer, pending: Vec::new() }) }
    }

    /// Ends the session from a Rust thread: detaches it and tells JavaScript why, once (a
    /// session JavaScript already detached is not reported back to it).
    pub fn end<D: PacketDevice>(&self, shared: &Shared<D>, reason: String) {
        if shared.detach(self.id) {
            if let Some(on_end) = &self.on_end {
                on_end(reason);
            }
        }
    }
}

/// Reads what the TUN has ready and frames it into `wire` (or counts it dropped when there is no
/// session), stopping at the batch target or after `max_reads` reads. A read that took a packet
/// it could not pass on counts it dropped (`tx_dropped_unreadable`) and reading goes on; an
/// error from the OS stops the reads and is returned (what was framed before it stays in `wire`).
fn seal_ready<D: PacketDevice>(
    shared: &Shared<D>,
    mut framer: Option<&mut Framer>,
    buffers: &mut D::ReadBuffers,
    wire: &mut Vec<u8>,
    max_reads: usize,
) -> io::Result<()> {
    for _ in 0..max_reads {
        let ready = shared.device.read_batch(buffers, |packet| match framer.as_deref_mut() {
            None => add(&shared.stats.tx_dropped_no_session, 1),
            Some(framer) => match framer.append(packet, wire) {
                Ok(()) => {
                    add(&shared.stats.tx_packets, 1);
                    add(&shared.stats.tx_bytes, packet.len() as u64);
                }
                Err(_) => add(&shared.stats.tx_dropped_too_big, 1),
            },
        });
        match ready? {
            ReadOutcome::Read => {}
            ReadOutcome::Empty => break,
            ReadOutcome::Unusable => add(&shared.stats.tx_dropped_unreadable, 1),
        }
        if wire.len() >= WIRE_BATCH_TARGET {
            break;
        }
    }
    Ok(())
}

/// Consecutive failed reads (OS errors, no read succeeding in between) after which the device is
/// taken to be gone. A deleted TUN answers every read with EBADFD; anything passing gets retried.
const READ_FAILURES_FATAL: u32 = 5;

/// Keeps count of failed reads: Ok after a successful one (or a failure to retry, after a pause
/// that grows with the count), Err with the message once the device looks gone.
struct ReadFailures {
    consecutive: u32,
}

impl ReadFailures {
    fn note<D: PacketDevice>(&mut self, shared: &Shared<D>, result: io::Result<()>) -> Result<(), String> {
        let Err(err) = result else {
            self.consecutive = 0;
            return Ok(());
        };
        self.consecutive += 1;
        if self.consecutive >= READ_FAILURES_FATAL {
            return Err(format!("reading from TUN {} failed: {err}", shared.device.name()));
        }
        std::thread::sleep(Duration::from_millis(10 * u64::from(self.consecutive)));
        Ok(())
    }
}

pub fn run_reader<D: PacketDevice>(shared: Arc<Shared<D>>, on_fatal: impl FnOnce(String)) {
    if let Err(message) = read_loop(&shared) {
        on_fatal(message);
    }
}

fn read_loop<D: PacketDevice>(shared: &Shared<D>) -> Result<(), String> {
    let mut buffers = shared
        .device
        .read_buffers()
        .map_err(|err| format!("cannot allocate read buffers for TUN {}: {err}", shared.device.name()))?;
    let mut failures = ReadFailures { consecutive: 0 };
    // Reused across batches by the socket sink; the JS sink takes it and leaves a fresh one.
    let mut wire = Vec::with_capacity(WIRE_BATCH_CAPACITY);
    loop {
        if !shared.flow.wait_for_permission() {
            return Ok(());
        }
        match shared.device.wait_readable() {
            Ok(()) => {}
            Err(err) if err.kind() == ErrorKind::Interrupted => {
                if shared.flow.is_stopped() {
                    return Ok(());
                }
                // Woken to write what the JS thread left pending.
                shared.device.clear_interrupt();
            }
            Err(err) => return Err(format!("reading from TUN {} failed: {err}", shared.device.name())),
        }
        let Some(session) = shared.current() else {
            failures.note(shared, seal_ready(shared, None, &mut buffers, &mut wire, usize::MAX))?;
            continue;
        };
        let still_wanted = || shared.is_current(session.id) && !shared.flow.is_stopped();
        let mut state = session.state.lock().unwrap();
        let OutboundState { framer, pending } = &mut *state;
        if !pending.is_empty() {
            if let Delivery::Failed(message) = session.sink.deliver(pending, still_wanted, &shared.flow) {
                drop(state);
                session.end(shared, message);
                continue;
            }
        }
        let read = seal_ready(shared, Some(framer), &mut buffers, &mut wire, usize::MAX);
        if !wire.is_empty() {
            if let Delivery::Failed(message) = session.sink.deliver(&mut wire, still_wanted, &shared.flow) {
                drop(state);
                session.end(shared, message);
                failures.note(shared, read)?;
                continue;
            }
        }
        drop(state);
        failures.note(shared, read)?;
    }
}

/// Buffers the receiving side keeps for [`send_answers`], made on first use.
pub struct AnswerBuffers<D: PacketDevice> {
    read: Option<D::ReadBuffers>,
    wire: Vec<u8>,
}

impl<D: PacketDevice> Default for AnswerBuffers<D> {
    fn default() -> Self {
        Self { read: None, wire: Vec::new() }
    }
}

/// Called by the receiving side (socket-reader thread or JS thread) after it wrote received
/// packets to the TUN: sends what the kernel queued on the TUN in answer, if the reader thread is
/// not busy with the session already.
pub fn send_answers<D: PacketDevice>(shared: &Shared<D>, session_id: u64, buffers: &mut AnswerBuffers<D>) {
    #[cfg(unix)]
    {
        let Some(session) = shared.current() else { return };
        let Sink::Socket(connection) = &session.sink else { return };
        if session.id != session_id {
            return;
        }
        let Ok(mut state) = session.state.try_lock() else { return };
        if !state.pending.is_empty() {
            return;
        }
        if buffers.read.is_none() {
            // Without them the reader thread still sends the answers, one wake-up later.
            let Ok(read) = shared.device.read_buffers() else { return };
            buffers.read = Some(read);
        }
        let Some(read) = buffers.read.as_mut() else { return };
        buffers.wire.clear();
        // One read: enough for the replies to what was just written, without turning the
        // receiving side into a second reader thread under bulk load.
        // Frames sealed before a read error still go: their counters are spent. The reader thread
        // meets the error again on its next read and deals with it.
        let _ = seal_ready(shared, Some(&mut state.framer), read, &mut buffers.wire, 1);
        if buffers.wire.is_empty() {
            return;
        }
        match connection.try_send(&buffers.wire) {
            Ok(sent) if sent == buffers.wire.len() => {}
            Ok(sent) => {
                state.pending.extend_from_slice(&buffers.wire[sent..]);
                drop(state);
                shared.device.interrupt();
            }
            Err(err) => {
                drop(state);
                session.end(shared, format!("connection write failed: {err}"));
            }
        }
    }
    #[cfg(not(unix))]
    let _ = (shared, session_id, buffers);
}
