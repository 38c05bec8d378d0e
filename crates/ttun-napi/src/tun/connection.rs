//! The authenticated TCP connection as the Rust threads see it: our own duplicate of the fd Node
//! made and handshook. The reader thread writes sealed frames to it, the socket-reader thread
//! reads frames from it; Node keeps its fd only to close it.
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};

/// How often a wait on the socket re-checks that the session is still wanted. As a safety net
/// it could be long: every path that ends a session (detach, replacement, close) shuts the
/// socket down, which wakes the wait at once. It is short because a thread that has slept long
/// wakes up slower, and idle RTT shows it (bench/NOTES.md has the figures for 1 s, 50 ms and
/// 10 ms). 50 ms keeps most of the gain for 20 wake-ups a second per thread, which an idle laptop
/// can afford better than 100.
const RECHECK_MS: i32 = 50;

#[cfg(target_os = "linux")]
const SEND_FLAGS: libc::c_int = libc::MSG_NOSIGNAL;
#[cfg(not(target_os = "linux"))]
const SEND_FLAGS: libc::c_int = 0;

/// What [`Connection::wait_writable_or_tun`] saw.
pub struct Ready {
    pub writable: bool,
    pub tun_readable: bool,
}

pub struct Connection {
    fd: OwnedFd,
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
        Ok(Self { fd: unsafe { OwnedFd::from_raw_fd(dup) } })
    }

    /// Waits until the socket takes more (with TCP_NOTSENT_LOWAT: until little is unsent) or
    /// `tun` has packets to read (a negative `tun` is not watched), whichever comes first; None if
    /// no longer wanted. POLLERR/POLLHUP count as writable: the write that follows reports them.
    pub fn wait_writable_or_tun(&self, tun: RawFd, still_wanted: &impl Fn() -> bool) -> io::Result<Option<Ready>> {
        let mut fds = [
            libc::pollfd { fd: self.fd.as_raw_fd(), events: libc::POLLOUT, revents: 0 },
            libc::pollfd { fd: tun, events: libc::POLLIN, revents: 0 },
        ];
        let ready = poll_until(&mut fds, still_wanted)?;
        Ok(ready.then(|| Ready { writable: fds[0].revents != 0, tun_readable: fds[1].revents != 0 }))
    }

    /// Waits until the socket has data (or EOF, or an error: the read that follows reports it) to
    /// read; false if no longer wanted.
    pub fn wait_readable(&self, still_wanted: &impl Fn() -> bool) -> io::Result<bool> {
        poll_until(&mut [libc::pollfd { fd: self.fd.as_raw_fd(), events: libc::POLLIN, revents: 0 }], still_wanted)
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

/// Polls `fds` until one of them is ready (true) or, checked every [`RECHECK_MS`], the wait is no
/// longer wanted (false).
fn poll_until(fds: &mut [libc::pollfd], still_wanted: &impl Fn() -> bool) -> io::Result<bool> {
    loop {
        // SAFETY: `fds` is a valid slice of pollfds for the duration of the call.
        let rc = unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, RECHECK_MS) };
        if rc > 0 {
            return Ok(true);
        }
        if rc < 0 {
            let err = io::Error::last_os_error();
            if err.kind() != io::ErrorKind::Interrupted {
                return Err(err);
            }
        } else if !still_wanted() {
            return Ok(false);
        }
    }
}
