//! The reader thread: TUN → sealed frames → JavaScript, one buffer per batch.
use std::io::ErrorKind;
use std::sync::Arc;

use napi::threadsafe_function::ThreadsafeFunctionCallMode;
use ttun_proto::FRAME_OVERHEAD;

use super::device::ReadBuffers;
use super::stats::add;
use super::{FatalCallback, Shared};

/// Sealed bytes gathered before a batch is handed over. A batch also ends as soon as the TUN has
/// nothing more to read, so a lone ping is never held back waiting for company.
const WIRE_BATCH_TARGET: usize = 64 * 1024;
/// Room for one more read on top of the target: a 64 KiB super-packet split into frames.
const WIRE_BATCH_CAPACITY: usize = WIRE_BATCH_TARGET + 65535 + 128 * FRAME_OVERHEAD;

pub fn run_reader(shared: Arc<Shared>, on_fatal: FatalCallback) {
    if let Err(message) = read_loop(&shared) {
        on_fatal.call(message, ThreadsafeFunctionCallMode::NonBlocking);
    }
}

fn read_loop(shared: &Shared) -> Result<(), String> {
    let mut buffers = ReadBuffers::new(shared.mtu);
    loop {
        if !shared.flow.wait_for_permission() {
            return Ok(());
        }
        match shared.device.wait_readable() {
            Ok(()) => {}
            Err(err) if err.kind() == ErrorKind::Interrupted => {
                if shared.flow.is_stopped() {
                    return Ok(());
                }
                continue;
            }
            Err(err) => return Err(format!("reading from TUN {} failed: {err}", shared.device.name())),
        }
        let session = shared.current.lock().unwrap().clone();
        let mut wire = match session {
            Some(_) => Vec::with_capacity(WIRE_BATCH_CAPACITY),
            None => Vec::new(),
        };
        {
            let mut sealer = session.as_ref().map(|s| s.sealer.lock().unwrap());
            loop {
                let ready = shared.device.read_batch(&mut buffers, |packet| match sealer.as_deref_mut() {
                    None => add(&shared.stats.tx_dropped_no_session, 1),
                    Some(sealer) => match sealer.seal_to_vec(packet, &mut wire) {
                        Ok(()) => {
                            add(&shared.stats.tx_packets, 1);
                            add(&shared.stats.tx_bytes, packet.len() as u64);
                        }
                        Err(_) => add(&shared.stats.tx_dropped_too_big, 1),
                    },
                });
                match ready {
                    Ok(true) if wire.len() < WIRE_BATCH_TARGET => continue,
                    Ok(_) => break,
                    Err(err) => return Err(format!("reading from TUN {} failed: {err}", shared.device.name())),
                }
            }
        }
        if let Some(session) = session {
            if !wire.is_empty() {
                shared.flow.batch_queued();
                if session.on_batch.call(wire, ThreadsafeFunctionCallMode::NonBlocking) != napi::Status::Ok {
                    // The session's callback is gone (closing): the batch is dropped with it.
                    shared.flow.batch_delivered();
                }
            }
        }
    }
}
