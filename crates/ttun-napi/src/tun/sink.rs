//! Where the TUN reader thread's batches go. On Unix, for a session whose connection Rust
//! carries, straight into the connection's socket (a dup of the fd Node made): no hop through the
//! JS event loop, so one thread wake-up less per packet, and backpressure is the socket's own (the
//! thread waits for POLLOUT, which TCP_NOTSENT_LOWAT holds back while too much is unsent).
//! Otherwise (no fd, as on Windows; `--datapath event-loop`; JavaScript using the TUN itself)
//! batches go to a handler: JavaScript's callback, which writes sealed ones with socket.write().
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

pub enum Delivery {
    /// Written to the socket or queued for the handler's consumer.
    Done,
    /// The session ended while we waited for room; the batch is dropped with it.
    Abandoned,
    /// The socket failed; the session must end.
    Failed(String),
}

impl Sink {
    /// Hands one batch over and leaves `wire` empty. `still_wanted` is polled while waiting for the
    /// socket to take it; `flow` counts batches queued for the handler's consumer.
    pub fn deliver(&self, wire: &mut Vec<u8>, still_wanted: impl Fn() -> bool, flow: &FlowControl) -> Delivery {
        match self {
            #[cfg(unix)]
            Sink::Socket(connection) => {
                let result = connection.send_all(wire, still_wanted);
                wire.clear();
                match result {
                    Ok(true) => Delivery::Done,
                    Ok(false) => Delivery::Abandoned,
                    Err(message) => Delivery::Failed(message),
                }
            }
            Sink::Batches(handler) => {
                // Only a socket sink waits for room; a handler is bounded by `flow` instead.
                let _ = &still_wanted;
                flow.batch_queued();
                let batch = std::mem::replace(wire, Vec::with_capacity(wire.capacity()));
                if handler(batch) {
                    Delivery::Done
                } else {
                    flow.batch_delivered();
                    Delivery::Abandoned
                }
            }
        }
    }

    /// Ends the connection from our side (the socket sink holds its own fd, so Node closing its
    /// fd alone would not).
    pub fn shutdown(&self) {
        #[cfg(unix)]
        if let Sink::Socket(connection) = self {
            connection.shutdown();
        }
    }
}
