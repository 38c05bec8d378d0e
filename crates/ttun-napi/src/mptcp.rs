//! Multipath TCP (Linux): Node's `net` cannot make an MPTCP socket, so these make the socket in
//! Rust (IPPROTO_MPTCP) and hand its fd to Node (`server.listen({ fd })`, `new net.Socket({ fd })`).
//! An MPTCP socket falls back to plain TCP by itself when the peer does not speak MPTCP;
//! `isMptcp` tells which one a connection ended up with.
use napi::bindgen_prelude::AsyncTask;
use napi::{Env, Task};
use napi_derive::napi;

use crate::errors::Result;

#[napi]
pub fn mptcp_listen(address: Option<String>, port: u32, backlog: u32) -> Result<i32> {
    imp::listen(address.as_deref(), port, backlog)
}

pub struct ConnectTask {
    address: String,
    port: u32,
    timeout_ms: u32,
}

impl Task for ConnectTask {
    type Output = i32;
    type JsValue = i32;

    fn compute(&mut self) -> napi::Result<i32> {
        imp::connect(&self.address, self.port, self.timeout_ms)
            .map_err(|e| napi::Error::from_reason(format!("{}: {}", e.status, e.reason)))
    }

    fn resolve(&mut self, _env: Env, fd: i32) -> napi::Result<i32> {
        Ok(fd)
    }
}

/// Connects an MPTCP socket to `address` (an IP literal) on a worker thread; resolves with the
/// connected fd. Rejects with a message starting with the error code (EPROTONOSUPPORT when the
/// kernel has no MPTCP, ETIMEDOUT, ECONNREFUSED, ...).
#[napi(ts_return_type = "Promise<number>")]
pub fn mptcp_connect(address: String, port: u32, timeout_ms: u32) -> AsyncTask<ConnectTask> {
    AsyncTask::new(ConnectTask { address, port, timeout_ms })
}

/// Whether a connected socket is really using MPTCP (false: plain TCP, or the peer fell back).
#[napi]
pub fn is_mptcp(fd: i32) -> bool {
    imp::is_mptcp(fd)
}

#[cfg(target_os = "linux")]
mod imp {
    use std::net::{IpAddr, SocketAddr};
    use std::os::fd::{AsRawFd, FromRawFd, IntoRawFd, OwnedFd};

    use crate::errors::{error, Result};

    /// TCP_IS_MPTCP (linux/tcp.h, since 5.16): 1 when the socket runs MPTCP.
    const TCP_IS_MPTCP: libc::c_int = 43;

    fn os_error(what: &str) -> napi::Error<String> {
        let err = std::io::Error::last_os_error();
        let code = match err.raw_os_error() {
            Some(libc::EPROTONOSUPPORT) | Some(libc::ENOPROTOOPT) | Some(libc::EINVAL) => "EPROTONOSUPPORT",
            Some(libc::EADDRINUSE) => "EADDRINUSE",
            Some(libc::EADDRNOTAVAIL) => "EADDRNOTAVAIL",
            Some(libc::ECONNREFUSED) => "ECONNREFUSED",
            Some(libc::ETIMEDOUT) => "ETIMEDOUT",
            Some(libc::ENETUNREACH) | Some(libc::EHOSTUNREACH) => "EHOSTUNREACH",
            Some(libc::EACCES) => "EACCES",
            _ => "EIO",
        };
        error(code, format!("{what}: {err}"))
    }

    fn socket(ipv6: bool) -> Result<OwnedFd> {
        let domain = if ipv6 { libc::AF_INET6 } else { libc::AF_INET };
        // SAFETY: plain socket(2); the fd is owned right away.
        let fd = unsafe { libc::socket(domain, libc::SOCK_STREAM | libc::SOCK_CLOEXEC, libc::IPPROTO_MPTCP) };
        if fd < 0 {
            return Err(os_error("cannot create an MPTCP socket"));
        }
        // SAFETY: fd is a fresh descriptor.
        Ok(unsafe { OwnedFd::from_raw_fd(fd) })
    }

    fn set_int(fd: &OwnedFd, level: libc::c_int, name: libc::c_int, value: libc::c_int) -> Result<()> {
        // SAFETY: the option value is a plain int that outlives the call.
        let rc = unsafe { libc::setsockopt(fd.as_raw_fd(), level, name, (&value as *const libc::c_int).cast(), 4) };
        if rc != 0 {
            return Err(os_error("setsockopt"));
        }
        Ok(())
    }

    /// SO_SNDTIMEO, which also bounds a blocking connect; 0 means no limit. Best effort: without
    /// it the connect is only bounded by the kernel's own SYN retries.
    fn set_send_timeout(fd: &OwnedFd, timeout_ms: u32) {
        let timeout = libc::timeval {
            tv_sec: (timeout_ms / 1000) as libc::time_t,
            tv_usec: ((timeout_ms % 1000) * 1000) as libc::suseconds_t,
        };
        // SAFETY: timeval outlives the call.
        unsafe {
            libc::setsockopt(
                fd.as_raw_fd(),
                libc::SOL_SOCKET,
                libc::SO_SNDTIMEO,
                (&timeout as *const libc::timeval).cast(),
                std::mem::size_of::<libc::timeval>() as libc::socklen_t,
            )
        };
    }

    fn sockaddr(addr: &SocketAddr) -> (libc::sockaddr_storage, libc::socklen_t) {
        // SAFETY: an all-zero sockaddr_storage is valid; we fill the family-specific part.
        let mut storage: libc::sockaddr_storage = unsafe { std::mem::zeroed() };
        let len = match addr {
            SocketAddr::V4(a) => {
                let sin = libc::sockaddr_in {
                    sin_family: libc::AF_INET as libc::sa_family_t,
                    sin_port: a.port().to_be(),
                    sin_addr: libc::in_addr { s_addr: u32::from_ne_bytes(a.ip().octets()) },
                    sin_zero: [0; 8],
                };
                // SAFETY: sockaddr_storage is large enough and suitably aligned for sockaddr_in.
                unsafe { std::ptr::write((&mut storage as *mut libc::sockaddr_storage).cast(), sin) };
                std::mem::size_of::<libc::sockaddr_in>()
            }
            SocketAddr::V6(a) => {
                let sin6 = libc::sockaddr_in6 {
                    sin6_family: libc::AF_INET6 as libc::sa_family_t,
                    sin6_port: a.port().to_be(),
                    sin6_flowinfo: a.flowinfo(),
                    sin6_addr: libc::in6_addr { s6_addr: a.ip().octets() },
                    sin6_scope_id: a.scope_id(),
                };
                // SAFETY: as above, for sockaddr_in6.
                unsafe { std::ptr::write((&mut storage as *mut libc::sockaddr_storage).cast(), sin6) };
                std::mem::size_of::<libc::sockaddr_in6>()
            }
        };
        (storage, len as libc::socklen_t)
    }

    fn parse(address: &str, port: u32) -> Result<SocketAddr> {
        let ip: IpAddr = address.parse().map_err(|_| error("EINVAL", format!("not an IP address: {address:?}")))?;
        let port = u16::try_from(port).map_err(|_| error("EINVAL", "port out of range"))?;
        Ok(SocketAddr::new(ip, port))
    }

    pub fn listen(address: Option<&str>, port: u32, backlog: u32) -> Result<i32> {
        // No address: [::] with IPv4-mapped addresses, i.e. every IPv4 and IPv6 address.
        let addr = parse(address.unwrap_or("::"), port)?;
        let fd = socket(addr.is_ipv6())?;
        set_int(&fd, libc::SOL_SOCKET, libc::SO_REUSEADDR, 1)?;
        if address.is_none() {
            set_int(&fd, libc::IPPROTO_IPV6, libc::IPV6_V6ONLY, 0)?;
        }
        let (storage, len) = sockaddr(&addr);
        // SAFETY: storage holds a valid sockaddr of `len` bytes.
        if unsafe { libc::bind(fd.as_raw_fd(), (&storage as *const libc::sockaddr_storage).cast(), len) } != 0 {
            return Err(os_error(&format!("cannot bind {addr}")));
        }
        // SAFETY: listen on our own socket.
        if unsafe { libc::listen(fd.as_raw_fd(), backlog as libc::c_int) } != 0 {
            return Err(os_error("cannot listen"));
        }
        Ok(fd.into_raw_fd())
    }

    pub fn connect(address: &str, port: u32, timeout_ms: u32) -> Result<i32> {
        let addr = parse(address, port)?;
        let fd = socket(addr.is_ipv6())?;
        // Bound the connect with SO_SNDTIMEO: a blocking connect gives up with EINPROGRESS/ETIMEDOUT.
        set_send_timeout(&fd, timeout_ms);
        let (storage, len) = sockaddr(&addr);
        // SAFETY: storage holds a valid sockaddr of `len` bytes.
        if unsafe { libc::connect(fd.as_raw_fd(), (&storage as *const libc::sockaddr_storage).cast(), len) } != 0 {
            let err = std::io::Error::last_os_error();
            if err.raw_os_error() == Some(libc::EINPROGRESS) {
                return Err(error("ETIMEDOUT", format!("connect to {addr}: timed out")));
            }
            return Err(os_error(&format!("connect to {addr}")));
        }
        // 0 restores blocking-forever semantics (Node makes the fd non-blocking).
        set_send_timeout(&fd, 0);
        Ok(fd.into_raw_fd())
    }

    pub fn is_mptcp(fd: i32) -> bool {
        let mut value: libc::c_int = 0;
        let mut len = std::mem::size_of::<libc::c_int>() as libc::socklen_t;
        // SAFETY: value and len are valid for the call; a non-MPTCP socket just reports an error.
        let rc = unsafe {
            libc::getsockopt(fd, libc::IPPROTO_TCP, TCP_IS_MPTCP, (&mut value as *mut libc::c_int).cast(), &mut len)
        };
        rc == 0 && value == 1
    }
}

#[cfg(not(target_os = "linux"))]
mod imp {
    use crate::errors::{error, Result};

    pub fn listen(_address: Option<&str>, _port: u32, _backlog: u32) -> Result<i32> {
        Err(error("EPROTONOSUPPORT", "MPTCP is only supported on Linux"))
    }

    pub fn connect(_address: &str, _port: u32, _timeout_ms: u32) -> Result<i32> {
        Err(error("EPROTONOSUPPORT", "MPTCP is only supported on Linux"))
    }

    pub fn is_mptcp(_fd: i32) -> bool {
        false
    }
}
