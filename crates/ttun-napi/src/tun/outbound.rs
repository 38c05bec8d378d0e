//! TUN → sealed frames → the connection.
//!
//! The TUN reader thread ([`spawn_tun_reader`]) waits for the TUN and reads what is ready. For a
//! socket session the packets go through the send queue ([`super::send_queue`]), which the thread
//! writes to the socket while it goes on reading the TUN ([`carry_through_queue`]); for a
//! JavaScript sink it seals every packet into one contiguous buffer and hands that over (see
//! [`super::sink`]). The
//! receiving side helps: right after it writes received packets to the TUN, whatever the kernel
//! answered on the spot (an ICMP echo reply, the ACKs for received data) is already queued on the
//! TUN, so it reads and sends that itself ([`send_answers`]) instead of waking the reader thread
//! for it: one thread wake-up less per round trip.
//!
//! Frames must reach the socket in counter order, so sealing and writing happen together under
//! the session's `sending` lock. The receiving side only ever try-locks it and never blocks:
//! bytes its non-blocking write could not place are left in `pending`, which the reader thread
//! writes before anything else.
use std::io::{self, ErrorKind};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use ttun_proto::FRAME_OVERHEAD;

#[cfg(unix)]
use super::buffers::AnswerBuffers;
#[cfg(unix)]
use super::connection::Connection;
use super::data_path::DataPath;
use super::device::{PacketDevice, PacketTarget, ReadOutcome, IN_PLACE_HEADROOM};
#[cfg(unix)]
use super::send_queue::SendQueue;
use super::session::Framer;
#[cfg(unix)]
use super::session::Session;
#[cfg(unix)]
use super::session::{SendState, SessionEnd, SessionEndKind};
use super::sink::{hand_over, Sink};
use super::stats::{add, Stats};
use super::super_frames::SuperFrames;

/// Sealed bytes gathered before a batch is handed over. A batch also ends as soon as the TUN has
/// nothing more to read, so a lone ping is never held back waiting for company.
const WIRE_BATCH_TARGET: usize = 64 * 1024;
/// Room for one more read on top of the target: a 64 KiB super-packet split into frames (one split
/// into more segments than usual grows the buffer, once).
pub const WIRE_BATCH_CAPACITY: usize = WIRE_BATCH_TARGET + 65535 + 128 * FRAME_OVERHEAD;

/// Frames the packets a read takes into the batch `wire` and counts them; with no session,
/// counts them dropped instead.
struct Framing<'a> {
    stats: &'a Stats,
    framer: Option<&'a mut Framer>,
    wire: &'a mut Vec<u8>,
}

impl Framing<'_> {
    fn counted(&self, len: usize, framed: Result<(), ttun_proto::Error>) {
        match framed {
            Ok(()) => {
                add(&self.stats.tx_packets, 1);
                add(&self.stats.tx_bytes, len as u64);
            }
            Err(_) => add(&self.stats.tx_dropped_too_big, 1),
        }
    }
}

impl PacketTarget for Framing<'_> {
    fn batch(&mut self) -> &mut Vec<u8> {
        self.wire
    }

    fn take_in_place(&mut self, len: usize) {
        let start = self.wire.len() - len - IN_PLACE_HEADROOM;
        let Some(framer) = self.framer.as_deref_mut() else {
            self.wire.truncate(start);
            add(&self.stats.tx_dropped_no_session, 1);
            return;
        };
        let framed = framer.frame_in_place(self.wire, start);
        self.counted(len, framed);
    }

    fn take_copy(&mut self, packet: &[u8]) {
        let Some(framer) = self.framer.as_deref_mut() else {
            add(&self.stats.tx_dropped_no_session, 1);
            return;
        };
        let framed = framer.append(packet, self.wire);
        self.counted(packet.len(), framed);
    }
}

/// Reads what the TUN has ready and frames it into `wire` (or counts it dropped when there is no
/// session), stopping at the batch target or after `max_reads` reads. An error from the OS stops
/// the reads and is returned (what was framed before it stays in `wire`).
fn frame_ready<D: PacketDevice>(
    data_path: &DataPath<D>,
    super_frames: Option<&SuperFrames>,
    framer: Option<&mut Framer>,
    buffers: &mut D::ReadBuffers,
    wire: &mut Vec<u8>,
    max_reads: usize,
) -> io::Result<()> {
    let mut framing = Framing { stats: &data_path.stats, framer, wire };
    read_ready(data_path, super_frames, buffers, &mut framing, max_reads, |framing| {
        framing.wire.len() >= WIRE_BATCH_TARGET
    })
}

/// Reads what the TUN has ready into `target` until the TUN is empty, `enough` says so or
/// `max_reads` reads are done. A read that took a packet it could not pass on counts it dropped
/// (`tx_dropped_unreadable`) and reading goes on; an error from the OS stops the reads and is
/// returned.
fn read_ready<D: PacketDevice, T: PacketTarget>(
    data_path: &DataPath<D>,
    super_frames: Option<&SuperFrames>,
    buffers: &mut D::ReadBuffers,
    target: &mut T,
    max_reads: usize,
    enough: impl Fn(&T) -> bool,
) -> io::Result<()> {
    let stats = &data_path.stats;
    let takes_whole = whole_to(stats, super_frames);
    for _ in 0..max_reads {
        match data_path.device.read_batch(buffers, &takes_whole, target)? {
            ReadOutcome::Read => {}
            ReadOutcome::Empty => break,
            ReadOutcome::Unusable => add(&stats.tx_dropped_unreadable, 1),
        }
        if enough(target) {
            break;
        }
    }
    Ok(())
}

/// Which TUN super-packets go whole to the session's peer (counted as they are chosen).
fn whole_to<'a>(stats: &'a Stats, super_frames: Option<&'a SuperFrames>) -> impl Fn(&[u8]) -> bool + 'a {
    move |packet: &[u8]| {
        let whole = super_frames.is_some_and(|super_frames| super_frames.takes_whole(packet));
        add(&stats.tx_super_frames, u64::from(whole));
        whole
    }
}

/// Bytes one turn of [`carry_through_queue`] reads off the TUN at most before it looks at the
/// socket again.
#[cfg(unix)]
const READ_PER_TURN: usize = 64 * 1024;

/// Reads what the TUN has ready into a session's send queue, up to [`READ_PER_TURN`] bytes.
#[cfg(unix)]
fn queue_ready<D: PacketDevice>(
    data_path: &DataPath<D>,
    super_frames: Option<&SuperFrames>,
    queue: &mut SendQueue,
    buffers: &mut D::ReadBuffers,
) -> io::Result<()> {
    let mut lanes = queue.lanes(&data_path.stats);
    read_ready(data_path, super_frames, buffers, &mut lanes, usize::MAX, |lanes| lanes.taken() >= READ_PER_TURN)
}

/// Carries packets from the TUN to a socket session's connection through its send queue
/// (`super::send_queue`) until both are empty. While the socket has no room it goes on reading
/// the TUN, so that small packets overtake bulk instead of waiting in the TUN's ring. Ok: how the
/// reads went (an OS error from the TUN stops the reads, not the writes). Err: the message that
/// ends the session.
#[cfg(unix)]
fn carry_through_queue<D: PacketDevice>(
    data_path: &DataPath<D>,
    session: &Session,
    connection: &Connection,
    state: &mut SendState,
    queue: &mut SendQueue,
    buffers: &mut D::ReadBuffers,
    still_wanted: &impl Fn() -> bool,
) -> Result<io::Result<()>, String> {
    let SendState { framer, pending } = state;
    let Framer::Sealed(sealer) = framer else {
        return Err("a socket session must seal its frames".into());
    };
    queue.start_session(session.id);
    queue.push_sealed(pending);
    let mut read = Ok(());
    let mut tun_readable = true;
    loop {
        if tun_readable && read.is_ok() {
            read = queue_ready(data_path, session.super_frames.as_ref(), queue, buffers);
        }
        if !queue.seal_next(sealer).map_err(|err| format!("cannot seal a frame: {err}"))? {
            return Ok(read);
        }
        // Wait for POLLOUT before every write, even one that would succeed: with
        // TCP_NOTSENT_LOWAT that keeps the socket's unsent bytes (and the latency they add) few.
        // Once reading failed, the TUN is not watched (a negative fd is ignored by poll).
        let tun = if read.is_ok() { data_path.device.readable_fd() } else { -1 };
        let ready =
            connection.wait_writable_or_tun(tun, still_wanted).map_err(|err| format!("socket wait failed: {err}"))?;
        let Some(ready) = ready else { return Ok(read) };
        tun_readable = ready.tun_readable;
        if ready.writable {
            match connection.try_send(queue.unwritten()) {
                Ok(sent) => queue.wrote(sent),
                // The socket reader has the reason (see `leaves_the_end_to_the_reader`).
                Err(err) if leaves_the_end_to_the_reader(&err) => return Ok(read),
                Err(err) => return Err(format!("connection write failed: {err}")),
            }
        }
    }
}

/// Whether a failed write is one the socket-reader thread reports the reason of. EPIPE means the
/// connection's error (a timeout, a reset) was already taken by a read, which reports it, or that
/// the session was ended and its socket shut down: ending the session from here would race that
/// report with "broken pipe".
#[cfg(unix)]
fn leaves_the_end_to_the_reader(err: &io::Error) -> bool {
    err.kind() == ErrorKind::BrokenPipe
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
    fn note<D: PacketDevice>(&mut self, data_path: &DataPath<D>, result: io::Result<()>) -> Result<(), String> {
        let Err(err) = result else {
            self.consecutive = 0;
            return Ok(());
        };
        self.consecutive += 1;
        if self.consecutive >= READ_FAILURES_FATAL {
            return Err(format!("reading from TUN {} failed: {err}", data_path.device.name()));
        }
        std::thread::sleep(Duration::from_millis(10 * u64::from(self.consecutive)));
        Ok(())
    }
}

/// Starts the device's TUN reader thread; `on_fatal` gets one message if it has to stop (the
/// device vanished, for example).
pub fn spawn_tun_reader<D: PacketDevice>(
    data_path: &Arc<DataPath<D>>,
    on_fatal: impl FnOnce(String) + Send + 'static,
) -> io::Result<JoinHandle<()>> {
    let data_path = data_path.clone();
    std::thread::Builder::new().name("ttun-tun-reader".into()).spawn(move || {
        if let Err(message) = read_loop(&data_path) {
            on_fatal(message);
        }
    })
}

fn read_loop<D: PacketDevice>(data_path: &DataPath<D>) -> Result<(), String> {
    let mut buffers = data_path
        .device
        .read_buffers()
        .map_err(|err| format!("cannot allocate read buffers for TUN {}: {err}", data_path.device.name()))?;
    let mut failures = ReadFailures { consecutive: 0 };
    // Reused across batches by the socket sink; the JS sink takes it and leaves a fresh one.
    let mut wire = Vec::with_capacity(WIRE_BATCH_CAPACITY);
    // Outlives sessions: packets not sealed yet go to the next session, as the TUN's ring would.
    #[cfg(unix)]
    let mut queue = SendQueue::default();
    loop {
        if !data_path.flow.wait_for_permission() {
            return Ok(());
        }
        match data_path.device.wait_readable() {
            Ok(()) => {}
            Err(err) if err.kind() == ErrorKind::Interrupted => {
                if data_path.flow.is_stopped() {
                    return Ok(());
                }
                // Woken to write what the receiving side left pending.
                data_path.device.clear_interrupt();
            }
            Err(err) => return Err(format!("reading from TUN {} failed: {err}", data_path.device.name())),
        }
        let Some(session) = data_path.current_session() else {
            #[cfg(unix)]
            add(&data_path.stats.tx_dropped_no_session, queue.discard_unsealed() as u64);
            failures.note(data_path, frame_ready(data_path, None, None, &mut buffers, &mut wire, usize::MAX))?;
            continue;
        };
        let mut state = session.sending.lock().unwrap();
        match &session.sink {
            #[cfg(unix)]
            Sink::Socket(connection) => {
                let still_wanted = || data_path.is_current(session.id) && !data_path.flow.is_stopped();
                let carried = carry_through_queue(
                    data_path,
                    &session,
                    connection,
                    &mut state,
                    &mut queue,
                    &mut buffers,
                    &still_wanted,
                );
                drop(state);
                match carried {
                    Ok(read) => failures.note(data_path, read)?,
                    Err(message) => {
                        data_path.end_session(&session, SessionEnd::new(SessionEndKind::ConnectionError, message));
                    }
                }
            }
            Sink::Batches(handler) => {
                // No pending bytes here: only socket sessions seal outside this thread.
                let framer = Some(&mut state.framer);
                let read =
                    frame_ready(data_path, session.super_frames.as_ref(), framer, &mut buffers, &mut wire, usize::MAX);
                if !wire.is_empty() {
                    hand_over(handler, &mut wire, &data_path.flow);
                }
                drop(state);
                failures.note(data_path, read)?;
            }
        }
    }
}

/// Seals the session's super-frame probes (see `super::super_frames`) ahead of everything else
/// and has the TUN reader thread send them: the first frames of the session. Sent from that
/// thread, not the one attaching or the socket reader, because the probes are a full 64 KiB and
/// a write that waits for room must never keep the socket from being read.
#[cfg(unix)]
pub fn queue_probes<D: PacketDevice>(data_path: &DataPath<D>, session: &Session) {
    let Some(super_frames) = &session.super_frames else { return };
    let mut state = session.sending.lock().unwrap();
    let SendState { framer, pending } = &mut *state;
    for probe in super_frames.probes() {
        // A probe is one frame's size exactly: it fits.
        let _ = framer.append(&probe, pending);
    }
    drop(state);
    data_path.device.interrupt();
}

/// Called by a session's socket-reader thread after it wrote received packets to the TUN: sends
/// what the kernel queued on the TUN in answer, if the TUN reader thread is not busy with the
/// session already. (Where JavaScript writes the socket, the answers take the TUN reader's way.)
#[cfg(unix)]
pub fn send_answers<D: PacketDevice>(data_path: &DataPath<D>, session_id: u64, buffers: &mut AnswerBuffers<D>) {
    let Some(session) = data_path.current_session() else { return };
    let Sink::Socket(connection) = &session.sink else { return };
    if session.id != session_id {
        return;
    }
    let Ok(mut state) = session.sending.try_lock() else { return };
    if !state.pending.is_empty() {
        return;
    }
    if buffers.read.is_none() {
        // Without them the reader thread still sends the answers, one wake-up later.
        let Ok(read) = data_path.device.read_buffers() else { return };
        buffers.read = Some(read);
    }
    let Some(read) = buffers.read.as_mut() else { return };
    buffers.wire.clear();
    // One read: enough for the replies to what was just written, without turning the
    // receiving side into a second reader thread under bulk load.
    // Frames sealed before a read error still go: their counters are spent. The reader thread
    // meets the error again on its next read and deals with it.
    let _ = frame_ready(data_path, session.super_frames.as_ref(), Some(&mut state.framer), read, &mut buffers.wire, 1);
    if buffers.wire.is_empty() {
        return;
    }
    match connection.try_send(&buffers.wire) {
        Ok(sent) if sent == buffers.wire.len() => {}
        Ok(sent) => {
            state.pending.extend_from_slice(&buffers.wire[sent..]);
            drop(state);
            data_path.device.interrupt();
        }
        Err(err) => {
            drop(state);
            data_path.end_session(
                &session,
                SessionEnd::new(SessionEndKind::ConnectionError, format!("write failed: {err}")),
            );
        }
    }
}
