//! TCP options Node's `net` module has no API for. TypeScript calls this once per connection with
//! the socket's fd (keeping that choice in one place: ts/socket-options.ts).
use napi_derive::napi;

#[napi(object)]
pub struct SocketTuning {
    /// Idle time before the first keepalive probe, and the interval between probes.
    pub keepalive_secs: u32,
    /// TCP_USER_TIMEOUT: how long sent data may stay unacknowledged before the kernel drops the
    /// connection. With keepalive this bounds dead-peer detection, which v1 frames cannot carry.
    pub user_timeout_ms: u32,
    /// TCP_NOTSENT_LOWAT: bytes that may wait unsent in the socket; 0 leaves the default.
    pub notsent_lowat: u32,
}

/// Sets each option it can and returns the names of those the socket refused (an MPTCP socket
/// on an older kernel refuses some): a refused option must not cost the connection.
#[napi]
pub fn tune_socket(fd: i32, options: SocketTuning) -> Vec<String> {
    imp::tune(fd, &options)
}

#[cfg(any(target_os = "linux", target_os = "android"))]
mod imp {
    use std::os::fd::BorrowedFd;
    use std::time::Duration;

    use socket2::{SockRef, TcpKeepalive};

    use super::SocketTuning;

    fn note(result: std::io::Result<()>, what: &str, refused: &mut Vec<String>) {
        if let Err(err) = result {
            refused.push(format!("{what} ({err})"));
        }
    }

    pub fn tune(fd: i32, o: &SocketTuning) -> Vec<String> {
        // SAFETY: fd is a socket Node keeps open for the duration of this call.
        let fd = unsafe { BorrowedFd::borrow_raw(fd) };
        let socket = SockRef::from(&fd);
        let secs = Duration::from_secs(o.keepalive_secs.into());
        let mut refused = Vec::new();
        note(socket.set_keepalive(true), "SO_KEEPALIVE", &mut refused);
        note(socket.set_tcp_keepalive(&TcpKeepalive::new().with_time(secs)), "TCP_KEEPIDLE", &mut refused);
        note(socket.set_tcp_keepalive(&TcpKeepalive::new().with_interval(secs)), "TCP_KEEPINTVL", &mut refused);
        let user_timeout = Duration::from_millis(o.user_timeout_ms.into());
        note(socket.set_tcp_user_timeout(Some(user_timeout)), "TCP_USER_TIMEOUT", &mut refused);
        if o.notsent_lowat > 0 {
            note(socket.set_tcp_notsent_lowat(o.notsent_lowat), "TCP_NOTSENT_LOWAT", &mut refused);
        }
        refused
    }
}

#[cfg(not(any(target_os = "linux", target_os = "android")))]
mod imp {
    use super::SocketTuning;

    /// Elsewhere Node's own setKeepAlive is what we have; the Linux-only options are skipped.
    pub fn tune(_fd: i32, _o: &SocketTuning) -> Vec<String> {
        Vec::new()
    }
}
