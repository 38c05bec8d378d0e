//! The authenticated TCP connection as the Rust threads see it: our own duplicate of the fd Node
//! made and handshook. The reader thread writes sealed frames to it, the socket-reader thread
//! reads frames from it; Node keeps its fd only to close it.
//!
//! Idle round trips: a request sent on a quiet session (a ping, a keystroke) is answered a
//! network round trip later, and the socket-reader thread, asleep in `poll`, would only start
//! waking up when the answer arrives; on an idle machine that wake-up is a large part of the
//! round trip. So the sender rings a bell ([`Connection::answer_may_follow`]) that wakes the
//! reader while the request is still on its way, and the reader watches the socket without
//! sleeping for a bounded time ([`ANSWER_WATCH`]). When the answer does not come in that time
//! (the peer is far away), no bell rings for a while ([`QUIET_AFTER_MISS`]), so a long path costs
//! one short watch per period, not one per request.
use std::io::{self, Read, Write};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::net::UnixStream;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// How often a wait on the socket re-checks that the session is still wanted. As a safety net
/// it could be long: every path that ends a session (detach, replacement, close) shuts the
/// socket down, which wakes the wait at once. It is short because a thread that has slept long
/// wakes up slower, and idle RTT shows it (bench/NOTES.md has the figures for 1 s, 50 ms and
/// 10 ms). 50 ms keeps most of the gain for 20 wake-ups a second per thread, which an idle laptop
/// can afford better than 100.
const RECHECK_MS: i32 = 50;

/// A batch this small is a request, not part of a stream: worth watching for its answer.
const REQUEST_BATCH_MAX: usize = 4096;
/// How long the reader watches for an answer without sleeping: a round trip to a peer on the
/// same LAN or host, through its TUN and back.
const ANSWER_WATCH: Duration = Duration::from_micros(500);
/// After a watch that saw nothing: how long requests go without one.
const QUIET_AFTER_MISS: Duration = Duration::from_secs(1);

#[cfg(target_os = "linux")]
const SEND_FLAGS: libc::c_int = libc::MSG_NOSIGNAL;
#[cfg(not(target_os = "linux"))]
const SEND_FLAGS: libc::c_int = 0;

pub struct Connection {
    fd: OwnedFd,
    /// Rung by the sending side, heard by the reader's wait (see the module's doc).
    bell: UnixStream,
    bell_heard: UnixStream,
    /// Whether the reader is asleep in its wait: only then is the bell worth ringing.
    reader_waiting: AtomicBool,
    /// No bell before this many microseconds after `created` (set after a watch saw nothing).
    quiet_until_us: AtomicU64,
    created: Instant,
}

impl Connection {
    /// Duplicates `fd`: our copy stays valid (and cannot be reused for another socket) however
    /// Node closes its own, so a late write can never land in the wrong connection.
    pub fn new(fd: RawFd) -> io::Result<Self> {
        // SAFETY: fcntl on an fd number only reads the descriptor table; an invalid fd gives EBADF.
        let dup = unsafe { libc::fcntl(fd, libc::F_DUPFD_CLOEXEC, 0) };
        if dup < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: `dup` is a fresh descriptor that nothing else owns.
        let fd = unsafe { OwnedFd::from_raw_fd(dup) };
        let (bell, bell_heard) = UnixStream::pair()?;
        bell.set_nonblocking(true)?;
        bell_heard.set_nonblocking(true)?;
        Ok(Self {
            fd,
            bell,
            bell_heard,
            reader_waiting: AtomicBool::new(false),
            quiet_until_us: AtomicU64::new(0),
            created: Instant::now(),
        })
    }

    fn now_us(&self) -> u64 {
        self.created.elapsed().as_micros() as u64
    }

    /// Called after `sent` bytes went out: when that was a request on a quiet session, wakes the
    /// reader to watch for the answer (see the module's doc).
    pub fn answer_may_follow(&self, sent: usize) {
        if sent <= REQUEST_BATCH_MAX
            && self.reader_waiting.load(Ordering::Acquire)
            && self.now_us() >= self.quiet_until_us.load(Ordering::Relaxed)
        {
            // A full bell already wakes the reader; nothing is lost if this byte does not fit.
            let _ = (&self.bell).write(&[1]);
        }
    }

    /// Writes all of `data`, waiting for room as long as `still_wanted`. Ok(false): no longer
    /// wanted, the rest is not written. Err: the message that ends the session.
    pub fn send_all(&self, mut data: &[u8], still_wanted: impl Fn() -> bool) -> Result<bool, String> {
        while !data.is_empty() {
            // Wait for POLLOUT first even when a write would succeed: with TCP_NOTSENT_LOWAT
            // that keeps the unsent queue (and so the latency it adds) small.
            match self.wait_writable(&still_wanted) {
                Ok(true) => {}
                Ok(false) => return Ok(false),
                Err(err) => return Err(format!("socket wait failed: {err}")),
            }
            // SAFETY: data points to data.len() readable bytes; the fd is ours.
            let n = unsafe { libc::send(self.fd.as_raw_fd(), data.as_ptr().cast(), data.len(), SEND_FLAGS) };
            if n < 0 {
                let err = io::Error::last_os_error();
                match err.kind() {
                    io::ErrorKind::WouldBlock | io::ErrorKind::Interrupted => continue,
                    _ => return Err(format!("connection write failed: {err}")),
                }
            }
            data = &data[n as usize..];
        }
        Ok(true)
    }

    fn wait_writable(&self, still_wanted: &impl Fn() -> bool) -> io::Result<bool> {
        self.wait(libc::POLLOUT, still_wanted)
    }

    /// Waits until the socket has data (or EOF, or an error) to read, or, woken by the bell, has
    /// watched for an answer (then the socket may still be empty); false if no longer wanted.
    pub fn wait_readable(&self, still_wanted: &impl Fn() -> bool) -> io::Result<bool> {
        self.reader_waiting.store(true, Ordering::Release);
        let woken = self.wait_or_bell(still_wanted);
        self.reader_waiting.store(false, Ordering::Release);
        match woken? {
            Woken::Bell => {
                self.silence_bell();
                self.watch_for_answer()?;
                Ok(true)
            }
            Woken::Readable => Ok(true),
            Woken::NotWanted => Ok(false),
        }
    }

    fn wait_or_bell(&self, still_wanted: &impl Fn() -> bool) -> io::Result<Woken> {
        loop {
            let mut fds = [
                libc::pollfd { fd: self.fd.as_raw_fd(), events: libc::POLLIN, revents: 0 },
                libc::pollfd { fd: self.bell_heard.as_raw_fd(), events: libc::POLLIN, revents: 0 },
            ];
            // SAFETY: two valid pollfds for the duration of the call.
            let rc = unsafe { libc::poll(fds.as_mut_ptr(), 2, RECHECK_MS) };
            if rc < 0 {
                let err = io::Error::last_os_error();
                if err.kind() == io::ErrorKind::Interrupted {
                    continue;
                }
                return Err(err);
            }
            if fds[0].revents != 0 {
                // POLLERR/POLLHUP included: the read that follows reports the error.
                return Ok(Woken::Readable);
            }
            if fds[1].revents != 0 {
                return Ok(Woken::Bell);
            }
            if !still_wanted() {
                return Ok(Woken::NotWanted);
            }
        }
    }

    fn silence_bell(&self) {
        let mut rung = [0u8; 64];
        while matches!((&self.bell_heard).read(&mut rung), Ok(n) if n > 0) {}
    }

    /// Polls the socket without sleeping until it is readable or [`ANSWER_WATCH`] has passed;
    /// after a watch that saw nothing, quiets the bell for [`QUIET_AFTER_MISS`].
    fn watch_for_answer(&self) -> io::Result<()> {
        let deadline = Instant::now() + ANSWER_WATCH;
        loop {
            let mut pfd = libc::pollfd { fd: self.fd.as_raw_fd(), events: libc::POLLIN, revents: 0 };
            // SAFETY: one valid pollfd for the duration of the call; timeout 0 never sleeps.
            let rc = unsafe { libc::poll(&mut pfd, 1, 0) };
            if rc < 0 {
                let err = io::Error::last_os_error();
                if err.kind() != io::ErrorKind::Interrupted {
                    return Err(err);
                }
            }
            if rc > 0 {
                return Ok(());
            }
            if Instant::now() >= deadline {
                let quiet_until = self.now_us() + QUIET_AFTER_MISS.as_micros() as u64;
                self.quiet_until_us.store(quiet_until, Ordering::Relaxed);
                return Ok(());
            }
            std::hint::spin_loop();
        }
    }

    fn wait(&self, events: libc::c_short, still_wanted: &impl Fn() -> bool) -> io::Result<bool> {
        loop {
            let mut pfd = libc::pollfd { fd: self.fd.as_raw_fd(), events, revents: 0 };
            // SAFETY: one valid pollfd for the duration of the call.
            let rc = unsafe { libc::poll(&mut pfd, 1, RECHECK_MS) };
            if rc < 0 {
                let err = io::Error::last_os_error();
                if err.kind() == io::ErrorKind::Interrupted {
                    continue;
                }
                return Err(err);
            }
            if rc > 0 {
                // POLLERR/POLLHUP included: the read or write that follows reports the error.
                return Ok(true);
            }
            if !still_wanted() {
                return Ok(false);
            }
        }
    }

    /// One non-blocking read. Ok(None) when nothing is there yet, Ok(Some(0)) at end of stream.
    pub fn try_recv(&self, buffer: &mut [u8]) -> io::Result<Option<usize>> {
        // SAFETY: buffer is valid for buffer.len() writable bytes; the fd is ours.
        let n = unsafe { libc::recv(self.fd.as_raw_fd(), buffer.as_mut_ptr().cast(), buffer.len(), 0) };
        if n >= 0 {
            return Ok(Some(n as usize));
        }
        let err = io::Error::last_os_error();
        match err.kind() {
            io::ErrorKind::WouldBlock | io::ErrorKind::Interrupted => Ok(None),
            _ => Err(err),
        }
    }

    /// One non-blocking write; Ok(0) when the socket has no room.
    pub fn try_send(&self, data: &[u8]) -> io::Result<usize> {
        // SAFETY: data points to data.len() readable bytes; the fd is ours.
        let n = unsafe { libc::send(self.fd.as_raw_fd(), data.as_ptr().cast(), data.len(), SEND_FLAGS) };
        if n >= 0 {
            return Ok(n as usize);
        }
        let err = io::Error::last_os_error();
        match err.kind() {
            io::ErrorKind::WouldBlock | io::ErrorKind::Interrupted => Ok(0),
            _ => Err(err),
        }
    }

    pub fn shutdown(&self) {
        // SAFETY: shutdown on our own fd; failure (already closed by peer) is harmless.
        unsafe { libc::shutdown(self.fd.as_raw_fd(), libc::SHUT_RDWR) };
    }
}

enum Woken {
    Readable,
    Bell,
    NotWanted,
}

#[cfg(test)]
mod tests {
    use std::os::unix::net::UnixStream;
    use std::sync::mpsc;
    use std::sync::Arc;

    use super::*;

    fn connection() -> (Arc<Connection>, UnixStream) {
        let (ours, theirs) = UnixStream::pair().unwrap();
        let connection = Connection::new(ours.as_raw_fd()).unwrap();
        connection.fd_nonblocking();
        (Arc::new(connection), theirs)
    }

    impl Connection {
        fn fd_nonblocking(&self) {
            // SAFETY: fcntl flags on our own fd.
            unsafe {
                let flags = libc::fcntl(self.fd.as_raw_fd(), libc::F_GETFL);
                libc::fcntl(self.fd.as_raw_fd(), libc::F_SETFL, flags | libc::O_NONBLOCK);
            }
        }

        fn bell_rung(&self) -> bool {
            let mut byte = [0u8; 1];
            matches!((&self.bell_heard).read(&mut byte), Ok(1))
        }
    }

    /// Starts a reader waiting on `connection`; the receiver gets what its wait returned.
    fn waiting_reader(connection: &Arc<Connection>) -> mpsc::Receiver<bool> {
        let (done, result) = mpsc::channel();
        let reader = connection.clone();
        std::thread::spawn(move || done.send(reader.wait_readable(&|| true).unwrap()).unwrap());
        while !connection.reader_waiting.load(Ordering::Acquire) {
            std::thread::yield_now();
        }
        result
    }

    #[test]
    fn a_request_wakes_the_waiting_reader_before_any_answer() {
        let (connection, _peer) = connection();
        let woken = waiting_reader(&connection);
        // Nothing arrives on the socket: only the bell can end this wait.
        connection.answer_may_follow(100);
        assert_eq!(woken.recv_timeout(Duration::from_secs(10)), Ok(true));
        assert!(!connection.reader_waiting.load(Ordering::Acquire));
        // It watched, saw nothing: the next request rings no bell.
        assert!(connection.quiet_until_us.load(Ordering::Relaxed) > connection.now_us());
        connection.reader_waiting.store(true, Ordering::Release);
        connection.answer_may_follow(100);
        assert!(!connection.bell_rung(), "quiet after a watch that saw nothing");
    }

    #[test]
    fn an_answer_ends_the_watch_and_keeps_the_bell_on_and_silence_quiets_it() {
        let (connection, mut peer) = connection();
        peer.write_all(b"answer").unwrap();
        connection.watch_for_answer().unwrap();
        assert_eq!(connection.quiet_until_us.load(Ordering::Relaxed), 0);
        let mut answer = [0u8; 6];
        assert_eq!(connection.try_recv(&mut answer).unwrap(), Some(6));
        let before = connection.now_us();
        connection.watch_for_answer().unwrap();
        let quiet_until = connection.quiet_until_us.load(Ordering::Relaxed);
        assert!(quiet_until >= before + QUIET_AFTER_MISS.as_micros() as u64);
    }

    #[test]
    fn a_stream_or_a_busy_reader_rings_no_bell() {
        let (connection, _peer) = connection();
        connection.answer_may_follow(100);
        assert!(!connection.bell_rung(), "the reader is not waiting");
        connection.reader_waiting.store(true, Ordering::Release);
        connection.answer_may_follow(REQUEST_BATCH_MAX + 1);
        assert!(!connection.bell_rung(), "a large batch is part of a stream");
        connection.answer_may_follow(REQUEST_BATCH_MAX);
        assert!(connection.bell_rung());
    }
}
