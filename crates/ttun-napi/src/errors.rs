//! Errors surface in JavaScript with a stable `code`, so TypeScript can tell a bad frame (end the
//! connection) from a permission problem (tell the user to run as root) without parsing messages.
use napi::bindgen_prelude::Error;

pub type Result<T> = std::result::Result<T, Error<String>>;

pub fn error(code: &str, message: impl Into<String>) -> Error<String> {
    Error::new(code.to_string(), message.into())
}

pub fn from_io(context: &str, err: &std::io::Error) -> Error<String> {
    let code = match err.kind() {
        std::io::ErrorKind::PermissionDenied => "EPERM",
        std::io::ErrorKind::NotFound => "ENOENT",
        std::io::ErrorKind::InvalidInput => "EINVAL",
        _ => "EIO",
    };
    error(code, format!("{context}: {err}"))
}

/// An OS error, with its errno name as the code where callers branch on it (EPROTONOSUPPORT:
/// no MPTCP in this kernel, so fall back to TCP); other errnos are EIO, the message says which.
#[cfg(target_os = "linux")]
pub fn from_os(context: &str, err: &std::io::Error) -> Error<String> {
    let code = match err.raw_os_error() {
        // A kernel built without MPTCP refuses the protocol with any of these three.
        Some(libc::EPROTONOSUPPORT) | Some(libc::ENOPROTOOPT) | Some(libc::EINVAL) => "EPROTONOSUPPORT",
        Some(libc::EADDRINUSE) => "EADDRINUSE",
        Some(libc::EADDRNOTAVAIL) => "EADDRNOTAVAIL",
        Some(libc::ECONNREFUSED) => "ECONNREFUSED",
        Some(libc::ETIMEDOUT) => "ETIMEDOUT",
        Some(libc::ENETUNREACH) | Some(libc::EHOSTUNREACH) => "EHOSTUNREACH",
        Some(libc::EACCES) => "EACCES",
        _ if err.kind() == std::io::ErrorKind::TimedOut => "ETIMEDOUT",
        _ => "EIO",
    };
    error(code, format!("{context}: {err}"))
}

pub fn from_proto(err: ttun_proto::Error) -> Error<String> {
    let code = match err {
        ttun_proto::Error::FrameTooShort(_) | ttun_proto::Error::BadTag => "EBADFRAME",
        ttun_proto::Error::PlaintextTooLong(_) => "ETOOBIG",
        ttun_proto::Error::CounterExhausted => "ECOUNTER",
    };
    error(code, err.to_string())
}
