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
    /// The reader is blocked in [`FlowControl::wait_for_permission`]: it takes nothing from the
    /// device until let go. Tests wait for this instead of for time to pass.
    #[cfg(test)]
    parked: bool,
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
            #[cfg(test)]
            {
                state.parked = true;
                self.changed.notify_all();
            }
            state = self.changed.wait(state).unwrap();
        }
        #[cfg(test)]
        {
            state.parked = false;
        }
        !state.stopped
    }

    /// Waits until the reader is held back by this flow control (paused or too many batches
    /// queued); panics after `timeout`.
    #[cfg(test)]
    pub fn wait_until_parked(&self, timeout: std::time::Duration) {
        let (state, _) =
            self.changed.wait_timeout_while(self.state.lock().unwrap(), timeout, |state| !state.parked).unwrap();
        let parked = state.parked;
        // Unlocked first: a failing test must not poison the lock the device's close needs.
        drop(state);
        assert!(parked, "the reader was not held back");
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
