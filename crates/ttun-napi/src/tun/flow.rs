//! Flow control between the reader thread and the JS thread: the reader stops taking packets from
//! the TUN while the socket pushes back (pause) or while too many sealed batches wait for the JS
//! thread, so memory stays bounded and excess load is shed by the kernel's TUN queue.
use std::sync::{Condvar, Mutex};

/// Sealed batches allowed to wait for the JS thread at once.
const MAX_QUEUED_BATCHES: usize = 4;

#[derive(Default)]
struct State {
    paused: bool,
    stopped: bool,
    queued: usize,
}

pub struct FlowControl {
    state: Mutex<State>,
    changed: Condvar,
}

impl FlowControl {
    pub fn new() -> Self {
        Self { state: Mutex::new(State::default()), changed: Condvar::new() }
    }

    /// Blocks the reader until it may read again. Returns false once stopped.
    pub fn wait_for_permission(&self) -> bool {
        let mut state = self.state.lock().unwrap();
        while !state.stopped && (state.paused || state.queued >= MAX_QUEUED_BATCHES) {
            state = self.changed.wait(state).unwrap();
        }
        !state.stopped
    }

    pub fn batch_queued(&self) {
        self.state.lock().unwrap().queued += 1;
    }

    pub fn batch_delivered(&self) {
        let mut state = self.state.lock().unwrap();
        state.queued = state.queued.saturating_sub(1);
        self.changed.notify_all();
    }

    pub fn pause(&self) {
        self.state.lock().unwrap().paused = true;
    }

    pub fn resume(&self) {
        self.state.lock().unwrap().paused = false;
        self.changed.notify_all();
    }

    pub fn stop(&self) {
        self.state.lock().unwrap().stopped = true;
        self.changed.notify_all();
    }

    pub fn is_stopped(&self) -> bool {
        self.state.lock().unwrap().stopped
    }
}
