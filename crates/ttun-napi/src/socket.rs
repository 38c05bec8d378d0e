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
    use super::SocketTuning;

    fn set(fd: i32, level: libc::c_int, name: libc::c_int, value: u32, what: &str, refused: &mut Vec<String>) {
        let value = value as libc::c_int;
        let len = std::mem::size_of::<libc::c_int>() as libc::socklen_t;
        // SAFETY: fd is a socket owned by Node for the duration of this call; the option value is
        // a plain int that outlives the call.
        let rc = unsafe { libc::setsockopt(fd, level, name, (&value as *const libc::c_int).cast(), len) };
        if rc != 0 {
            refused.push(format!("{what} ({})", std::io::Error::last_os_error()));
        }
    }

    pub fn tune(fd: i32, o: &SocketTuning) -> Vec<String> {
        let mut refused = Vec::new();
        set(fd, libc::SOL_SOCKET, libc::SO_KEEPALIVE, 1, "SO_KEEPALIVE", &mut refused);
        set(fd, libc::IPPROTO_TCP, libc::TCP_KEEPIDLE, o.keepalive_secs, "TCP_KEEPIDLE", &mut refused);
        set(fd, libc::IPPROTO_TCP, libc::TCP_KEEPINTVL, o.keepalive_secs, "TCP_KEEPINTVL", &mut refused);
        set(fd, libc::IPPROTO_TCP, libc::TCP_USER_TIMEOUT, o.user_timeout_ms, "TCP_USER_TIMEOUT", &mut refused);
        if o.notsent_lowat > 0 {
            set(fd, libc::IPPROTO_TCP, libc::TCP_NOTSENT_LOWAT, o.notsent_lowat, "TCP_NOTSENT_LOWAT", &mut refused);
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
