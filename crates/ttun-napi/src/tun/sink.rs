//! Where sealed batches go. On Unix the reader thread writes them straight into the connection's
//! socket (a dup of the fd Node made): no hop through the JS event loop, so one thread wake-up
//! less per packet, and backpressure is the socket's own (the thread waits for POLLOUT, which
//! TCP_NOTSENT_LOWAT holds back while too much is unsent). Elsewhere, or when asked, batches go
//! to a JavaScript callback that writes them with socket.write().
use napi::threadsafe_function::ThreadsafeFunctionCallMode;

use super::flow::FlowControl;
use super::BatchCallback;

pub enum Sink {
    #[cfg(unix)]
    Socket(std::sync::Arc<super::connection::Connection>),
    Js(BatchCallback),
}

pub enum Delivery {
    /// Written to the socket or queued for JavaScript.
    Done,
    /// The session ended while we waited for room; the batch is dropped with it.
    Abandoned,
    /// The socket failed; the session must end.
    Failed(String),
}

impl Sink {
    /// Hands one batch over and leaves `wire` empty. `still_wanted` is polled while waiting for the
    /// socket to take it; `flow` counts batches queued for JavaScript.
    pub fn deliver(&self, wire: &mut Vec<u8>, still_wanted: impl Fn() -> bool, flow: &FlowControl) -> Delivery {
        match self {
            #[cfg(unix)]
            Sink::Socket(connection) => {
                let result = connection.send_all(wire, still_wanted);
                wire.clear();
                result
            }
            Sink::Js(callback) => {
                // Only a socket sink waits for room; the JS sink is bounded by `flow` instead.
                let _ = &still_wanted;
                flow.batch_queued();
                let batch = std::mem::replace(wire, Vec::with_capacity(wire.capacity()));
                match callback.call(batch, ThreadsafeFunctionCallMode::NonBlocking) {
                    napi::Status::Ok => Delivery::Done,
                    // The callback is gone (session closing): the batch is dropped with it.
                    _ => {
                        flow.batch_delivered();
                        Delivery::Abandoned
                    }
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
