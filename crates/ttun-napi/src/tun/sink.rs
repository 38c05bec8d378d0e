//! Where the TUN reader thread's batches go. On Unix, for a session whose connection Rust
//! carries, straight into the connection's socket (a dup of the fd Node made), through the
//! reader's send queue (`super::outbound::carry_through_queue`): no hop through the JS event
//! loop, so one thread wake-up less per packet, and backpressure is the socket's own (the thread
//! waits for POLLOUT, which TCP_NOTSENT_LOWAT holds back while too much is unsent). Otherwise
//! (no fd, as on Windows; `--datapath event-loop`; JavaScript using the TUN itself) batches go to
//! a handler: JavaScript's callback, which writes sealed ones with socket.write().
use super::flow::FlowControl;

/// Takes one batch; false when it could not (the callback is gone, the session is closing).
/// Batches it took count as queued in [`FlowControl`] until their consumer calls
/// `batch_delivered`.
pub type BatchHandler = Box<dyn Fn(Vec<u8>) -> bool + Send + Sync>;

pub enum Sink {
    #[cfg(unix)]
    Socket(std::sync::Arc<super::connection::Connection>),
    Batches(BatchHandler),
}

impl Sink {
    /// Ends the connection from our side (the socket sink holds its own fd, so Node closing its
    /// fd alone would not).
    pub fn shutdown(&self) {
        #[cfg(unix)]
        if let Sink::Socket(connection) = self {
            connection.shutdown();
        }
    }
}

/// Hands one batch to `handler` and leaves `wire` empty (with the same capacity, for the next
/// batch). A batch it took counts as queued in `flow`; one it refused (the session is closing)
/// is dropped with its session.
pub fn hand_over(handler: &BatchHandler, wire: &mut Vec<u8>, flow: &FlowControl) {
    flow.batch_queued();
    let batch = std::mem::replace(wire, Vec::with_capacity(wire.capacity()));
    if !handler(batch) {
        flow.batch_delivered();
    }
}
