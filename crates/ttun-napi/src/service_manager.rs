//! systemd's notification protocol (sd_notify): a service tells its manager it is ready, what it is
//! doing and that it is alive by sending one datagram of `KEY=VALUE` lines to the unix socket
//! named in NOTIFY_SOCKET. Node has no unix datagram sockets, hence this one function; when to
//! send what is TypeScript's (ts/host/service-manager.ts).
use napi_derive::napi;

use crate::errors::{self, Result};

/// Sends `state` (e.g. "READY=1\nSTATUS=listening") as one datagram to `socket`: a path, or
/// `@name` for a Linux abstract socket, as systemd writes NOTIFY_SOCKET.
#[napi]
pub fn notify_service_manager(socket: String, state: String) -> Result<()> {
    let context = format!("cannot notify the service manager at {socket}");
    match imp::send(&socket, state.as_bytes()) {
        Ok(written) if written == state.len() => Ok(()),
        Ok(written) => Err(errors::error("EIO", format!("{context}: sent {written} of {} bytes", state.len()))),
        Err(err) => Err(errors::from_io(&context, &err)),
    }
}

#[cfg(unix)]
mod imp {
    use std::io;
    use std::os::unix::net::UnixDatagram;

    pub fn send(socket: &str, state: &[u8]) -> io::Result<usize> {
        let sender = UnixDatagram::unbound()?;
        match socket.strip_prefix('@') {
            Some(name) => send_abstract(&sender, name, state),
            None => sender.send_to(state, socket),
        }
    }

    #[cfg(target_os = "linux")]
    fn send_abstract(sender: &UnixDatagram, name: &str, state: &[u8]) -> io::Result<usize> {
        use std::os::linux::net::SocketAddrExt;
        use std::os::unix::net::SocketAddr;
        sender.send_to_addr(state, &SocketAddr::from_abstract_name(name.as_bytes())?)
    }

    #[cfg(not(target_os = "linux"))]
    fn send_abstract(_: &UnixDatagram, _: &str, _: &[u8]) -> io::Result<usize> {
        Err(io::Error::new(io::ErrorKind::Unsupported, "abstract sockets exist on Linux only"))
    }
}

#[cfg(not(unix))]
mod imp {
    pub fn send(_: &str, _: &[u8]) -> std::io::Result<usize> {
        Err(std::io::Error::new(std::io::ErrorKind::Unsupported, "no service manager notifications on this system"))
    }
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use std::os::linux::net::SocketAddrExt;
    use std::os::unix::net::{SocketAddr, UnixDatagram};

    use super::imp::send;

    #[test]
    fn one_datagram_reaches_a_path_socket() {
        let dir = std::env::temp_dir().join(format!("ttun-notify-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("notify.sock");
        let _ = std::fs::remove_file(&path);
        let receiver = UnixDatagram::bind(&path).unwrap();
        assert_eq!(send(path.to_str().unwrap(), b"READY=1\nSTATUS=up").unwrap(), 17);
        let mut buffer = [0u8; 64];
        let n = receiver.recv(&mut buffer).unwrap();
        assert_eq!(&buffer[..n], b"READY=1\nSTATUS=up");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn one_datagram_reaches_an_abstract_socket() {
        let name = format!("ttun-notify-test-{}", std::process::id());
        let receiver = UnixDatagram::bind_addr(&SocketAddr::from_abstract_name(name.as_bytes()).unwrap()).unwrap();
        send(&format!("@{name}"), b"WATCHDOG=1").unwrap();
        let mut buffer = [0u8; 64];
        let n = receiver.recv(&mut buffer).unwrap();
        assert_eq!(&buffer[..n], b"WATCHDOG=1");
    }

    #[test]
    fn no_listener_is_an_error() {
        assert!(send("/nonexistent/ttun/notify.sock", b"READY=1").is_err());
    }
}
