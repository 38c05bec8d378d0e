//! Multipath TCP (Linux): Node's `net` cannot make an MPTCP socket, so these make the socket in
//! Rust (IPPROTO_MPTCP) and hand its fd to Node (`server.listen({ fd })`, `new net.Socket({ fd })`).
//! An MPTCP socket falls back to plain TCP by itself when the peer does not speak MPTCP;
//! `isMptcp` tells which one a connection ended up with. Failures reach JavaScript as errors with
//! a `code` (EPROTONOSUPPORT where the kernel has no MPTCP), which the callers branch on.
use napi::bindgen_prelude::AsyncTask;
use napi::{Env, JsError, Task};
use napi_derive::napi;

use crate::errors::{error, Result};

/// A listening MPTCP socket's fd, for `server.listen({ fd })`; no `address`: every IPv4 and
/// IPv6 address. Throws an Error with a `code`: EPROTONOSUPPORT when the kernel has no MPTCP.
#[napi]
pub fn mptcp_listen(address: Option<String>, port: u32, backlog: u32) -> Result<i32> {
    imp::listen(address.as_deref(), port, backlog)
}

pub struct ConnectTask {
    address: String,
    port: u32,
    timeout_ms: u32,
}

/// Why a connect failed, carried from the worker thread to the JS thread, where it becomes an
/// Error with this `code`: a Task's own error type has a fixed napi status instead.
pub struct ConnectFailure {
    code: String,
    message: String,
}

impl Task for ConnectTask {
    type Output = std::result::Result<i32, ConnectFailure>;
    type JsValue = i32;

    fn compute(&mut self) -> napi::Result<Self::Output> {
        Ok(imp::connect(&self.address, self.port, self.timeout_ms)
            .map_err(|e| ConnectFailure { code: e.status, message: e.reason }))
    }

    fn resolve(&mut self, env: Env, outcome: Self::Output) -> napi::Result<i32> {
        outcome.map_err(|failure| {
            // The JS error object itself becomes the rejection, so its `code` survives.
            let js_error = JsError::from(error(&failure.code, failure.message)).into_unknown(env);
            napi::Error::from(js_error)
        })
    }
}

/// Connects an MPTCP socket to `address` (an IP literal) on a worker thread; resolves with the
/// connected fd. Rejects with an Error whose `code` says why: EPROTONOSUPPORT when the kernel has
/// no MPTCP, ETIMEDOUT, ECONNREFUSED, EHOSTUNREACH, ...
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
    use std::os::fd::IntoRawFd;
    use std::time::Duration;

    use socket2::{Domain, Protocol, Socket, Type};

    use crate::errors::{error, from_os, Result};

    /// TCP_IS_MPTCP (linux/tcp.h, since 5.16): 1 when the socket runs MPTCP.
    const TCP_IS_MPTCP: libc::c_int = 43;

    fn socket(addr: &SocketAddr) -> Result<Socket> {
        // socket2 sets SOCK_CLOEXEC itself.
        Socket::new(Domain::for_address(*addr), Type::STREAM, Some(Protocol::MPTCP))
            .map_err(|e| from_os("cannot create an MPTCP socket", &e))
    }

    fn parse(address: &str, port: u32) -> Result<SocketAddr> {
        let ip: IpAddr = address.parse().map_err(|_| error("EINVAL", format!("not an IP address: {address:?}")))?;
        let port = u16::try_from(port).map_err(|_| error("EINVAL", "port out of range"))?;
        Ok(SocketAddr::new(ip, port))
    }

    pub fn listen(address: Option<&str>, port: u32, backlog: u32) -> Result<i32> {
        // No address: [::] with IPv4-mapped addresses, i.e. every IPv4 and IPv6 address.
        let addr = parse(address.unwrap_or("::"), port)?;
        let socket = socket(&addr)?;
        socket.set_reuse_address(true).map_err(|e| from_os("SO_REUSEADDR", &e))?;
        if address.is_none() {
            socket.set_only_v6(false).map_err(|e| from_os("IPV6_V6ONLY", &e))?;
        }
        socket.bind(&addr.into()).map_err(|e| from_os(&format!("cannot bind {addr}"), &e))?;
        let backlog = i32::try_from(backlog).unwrap_or(i32::MAX);
        socket.listen(backlog).map_err(|e| from_os("cannot listen", &e))?;
        Ok(socket.into_raw_fd())
    }

    pub fn connect(address: &str, port: u32, timeout_ms: u32) -> Result<i32> {
        let addr = parse(address, port)?;
        let socket = socket(&addr)?;
        // connect_timeout leaves the socket blocking again; Node makes it non-blocking itself.
        let connected = match timeout_ms {
            0 => socket.connect(&addr.into()),
            ms => socket.connect_timeout(&addr.into(), Duration::from_millis(ms.into())),
        };
        connected.map_err(|e| from_os(&format!("connect to {addr}"), &e))?;
        Ok(socket.into_raw_fd())
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
