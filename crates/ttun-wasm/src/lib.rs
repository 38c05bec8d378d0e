//! ttun-proto as a WebAssembly module with a plain C ABI (no wasm-bindgen, no imports), for
//! Node to load where no native addon exists (ts/wasm-core.ts). Buffers live in the module's
//! linear memory: JavaScript gets them from `ttun_alloc`, copies bytes in and out through
//! `memory.buffer`, and gives them back with `ttun_free`.
//!
//! Ciphers are numbered in the order of `CipherKind::ALL` (0 = chacha20-poly1305, 1 =
//! aes-256-gcm); directions by their nonce byte (0 = client to server, 1 = server to client).
//! Functions that can fail return -1 (or null).
//!
//! A stream receiver (`ttun_receiver_*`) is ttun-proto's `Receiver` behind a pointer: JavaScript
//! feeds it TCP chunks and reads back the opened packets as `[u16 BE length][packet]` records,
//! the format the addon's `attachPackets` hands out, so one TypeScript helper splits both.
#![cfg_attr(target_arch = "wasm32", no_std)]

extern crate alloc;

use alloc::vec::Vec;
use core::slice;

use ttun_proto::{Cipher, CipherKind, Direction, FrameOpener, FrameSealer, Receiver, FRAME_OVERHEAD};

#[cfg(target_arch = "wasm32")]
#[global_allocator]
static ALLOCATOR: dlmalloc::GlobalDlmalloc = dlmalloc::GlobalDlmalloc;

#[cfg(target_arch = "wasm32")]
#[panic_handler]
fn panic(_: &core::panic::PanicInfo) -> ! {
    core::arch::wasm32::unreachable()
}

fn cipher(kind: u32, key: *const u8) -> Option<Cipher> {
    let kind = CipherKind::from_index(kind)?;
    // SAFETY (callers): key points to 32 bytes of the module's memory.
    Some(Cipher::new(kind, unsafe { &*(key as *const [u8; 32]) }))
}

/// A buffer of `len` bytes in the module's memory.
#[no_mangle]
pub extern "C" fn ttun_alloc(len: usize) -> *mut u8 {
    let mut buffer: Vec<u8> = Vec::with_capacity(len.max(1));
    let ptr = buffer.as_mut_ptr();
    core::mem::forget(buffer);
    ptr
}

/// # Safety
/// `ptr` and `len` must be exactly what `ttun_alloc(len)` returned and was given.
#[no_mangle]
pub unsafe extern "C" fn ttun_free(ptr: *mut u8, len: usize) {
    drop(Vec::from_raw_parts(ptr, 0, len.max(1)));
}

/// K = BLAKE2s-256("ttun/psk/v1" || psk) into `out` (32 bytes).
///
/// # Safety
/// `psk` has `psk_len` readable bytes, `out` 32 writable ones.
#[no_mangle]
pub unsafe extern "C" fn ttun_psk_key(psk: *const u8, psk_len: usize, out: *mut u8) {
    let k = ttun_proto::psk_key(slice::from_raw_parts(psk, psk_len));
    slice::from_raw_parts_mut(out, 32).copy_from_slice(&k);
}

/// SK = BLAKE2s-256("ttun/sk/v1" || K || Nc || Ns) into `out` (32 bytes).
///
/// # Safety
/// `k` has 32 readable bytes, `nc` and `ns` 16 each, `out` 32 writable ones.
#[no_mangle]
pub unsafe extern "C" fn ttun_session_key(k: *const u8, nc: *const u8, ns: *const u8, out: *mut u8) {
    let sk = ttun_proto::session_key(&*(k as *const [u8; 32]), &*(nc as *const [u8; 16]), &*(ns as *const [u8; 16]));
    slice::from_raw_parts_mut(out, 32).copy_from_slice(&sk);
}

/// Seals `pt` as one whole frame (length prefix included) into `out`, which must have
/// `pt_len + 18` bytes. Returns the frame length, or -1.
///
/// # Safety
/// `key` has 32 readable bytes, `pt` `pt_len`, `out` `pt_len + 18` writable ones.
#[no_mangle]
pub unsafe extern "C" fn ttun_seal_frame(
    kind: u32,
    key: *const u8,
    dir: u32,
    counter: u64,
    pt: *const u8,
    pt_len: usize,
    out: *mut u8,
) -> isize {
    let (Some(cipher), Some(direction)) = (cipher(kind, key), Direction::from_byte(dir)) else { return -1 };
    let frame = slice::from_raw_parts_mut(out, pt_len + FRAME_OVERHEAD);
    frame[2..2 + pt_len].copy_from_slice(slice::from_raw_parts(pt, pt_len));
    match FrameSealer::new(cipher, direction, counter).seal_in_place(frame) {
        Ok(()) => frame.len() as isize,
        Err(_) => -1,
    }
}

/// Opens a frame body (`ciphertext || tag`) in place; returns the plaintext length (the
/// plaintext starts at `body`), or -1 when it does not authenticate.
///
/// # Safety
/// `key` has 32 readable bytes, `body` `body_len` writable ones.
#[no_mangle]
pub unsafe extern "C" fn ttun_open_frame(kind: u32, key: *const u8, dir: u32, counter: u64, body: *mut u8, body_len: usize) -> isize {
    let (Some(cipher), Some(direction)) = (cipher(kind, key), Direction::from_byte(dir)) else { return -1 };
    match FrameOpener::new(cipher, direction, counter).open_in_place(slice::from_raw_parts_mut(body, body_len)) {
        Ok(plaintext) => plaintext.len() as isize,
        Err(_) => -1,
    }
}

/// 1 when `packet` is one whole IPv4 or IPv6 packet (ttun_proto::is_ip_packet), else 0.
///
/// # Safety
/// `packet` has `len` readable bytes.
#[no_mangle]
pub unsafe extern "C" fn ttun_is_ip_packet(packet: *const u8, len: usize) -> u32 {
    u32::from(ttun_proto::is_ip_packet(slice::from_raw_parts(packet, len)))
}

/// A session's receive half and the output of its last feed.
pub struct StreamReceiver {
    receiver: Receiver,
    /// After a feed: the records of the packets it opened, or the error's message.
    output: Vec<u8>,
}

/// A receiver opening frames of direction `dir` from counter `first_counter` on; null for an
/// unknown cipher or direction. Free it with `ttun_receiver_free`.
///
/// # Safety
/// `key` has 32 readable bytes.
#[no_mangle]
pub unsafe extern "C" fn ttun_receiver_new(kind: u32, key: *const u8, dir: u32, first_counter: u64) -> *mut StreamReceiver {
    let (Some(cipher), Some(direction)) = (cipher(kind, key), Direction::from_byte(dir)) else {
        return core::ptr::null_mut();
    };
    let receiver = Receiver::new(FrameOpener::new(cipher, direction, first_counter));
    alloc::boxed::Box::into_raw(alloc::boxed::Box::new(StreamReceiver { receiver, output: Vec::new() }))
}

/// # Safety
/// `receiver` came from `ttun_receiver_new` and is not used afterwards.
#[no_mangle]
pub unsafe extern "C" fn ttun_receiver_free(receiver: *mut StreamReceiver) {
    drop(alloc::boxed::Box::from_raw(receiver));
}

/// Feeds one chunk of the stream (decrypted in place). Returns 0 and leaves the records of the
/// packets it completed in the output, or returns 1 and leaves the error's message there; after
/// an error every feed fails the same way.
///
/// # Safety
/// `receiver` came from `ttun_receiver_new`; `chunk` has `len` writable bytes.
#[no_mangle]
pub unsafe extern "C" fn ttun_receiver_feed(receiver: *mut StreamReceiver, chunk: *mut u8, len: usize) -> u32 {
    let state = &mut *receiver;
    let output = &mut state.output;
    output.clear();
    let fed = state.receiver.receive(slice::from_raw_parts_mut(chunk, len), |packet| {
        // A frame's plaintext is at most 65519 bytes, so its length fits the u16.
        output.extend_from_slice(&(packet.len() as u16).to_be_bytes());
        output.extend_from_slice(packet);
    });
    match fed {
        Ok(()) => 0,
        Err(err) => {
            output.clear();
            let _ = core::fmt::Write::write_fmt(&mut ByteWriter(output), format_args!("{err}"));
            1
        }
    }
}

/// Where the output of the last feed starts.
///
/// # Safety
/// `receiver` came from `ttun_receiver_new`.
#[no_mangle]
pub unsafe extern "C" fn ttun_receiver_output(receiver: *const StreamReceiver) -> *const u8 {
    (*receiver).output.as_ptr()
}

/// How many bytes the output of the last feed has.
///
/// # Safety
/// `receiver` came from `ttun_receiver_new`.
#[no_mangle]
pub unsafe extern "C" fn ttun_receiver_output_len(receiver: *const StreamReceiver) -> usize {
    (*receiver).output.len()
}

/// `core::fmt` into a byte vector (no `String` formatting machinery beyond that).
struct ByteWriter<'a>(&'a mut Vec<u8>);

impl core::fmt::Write for ByteWriter<'_> {
    fn write_str(&mut self, s: &str) -> core::fmt::Result {
        self.0.extend_from_slice(s.as_bytes());
        Ok(())
    }
}

/// How many of ttun-proto's WIRE_NUMBERS there are (ts/core/wasm-core.ts reads them by index).
#[no_mangle]
pub extern "C" fn ttun_wire_count() -> u32 {
    ttun_proto::WIRE_NUMBERS.len() as u32
}

/// Writes the name of WIRE_NUMBERS[index] to `out` (64 bytes at most) and returns its length.
#[no_mangle]
pub extern "C" fn ttun_wire_name(index: u32, out: *mut u8) -> usize {
    let name = ttun_proto::WIRE_NUMBERS[index as usize].0.as_bytes();
    let len = name.len().min(64);
    // SAFETY (callers): out points to 64 writable bytes of the module's memory.
    unsafe { core::ptr::copy_nonoverlapping(name.as_ptr(), out, len) };
    len
}

/// The value of WIRE_NUMBERS[index].
#[no_mangle]
pub extern "C" fn ttun_wire_value(index: u32) -> u64 {
    ttun_proto::WIRE_NUMBERS[index as usize].1
}

/// Writes the handshake's magic plaintext (8 bytes) to `out`.
#[no_mangle]
pub extern "C" fn ttun_wire_magic(out: *mut u8) {
    // SAFETY (callers): out points to 8 writable bytes of the module's memory.
    unsafe { core::ptr::copy_nonoverlapping(ttun_proto::MAGIC.as_ptr(), out, ttun_proto::MAGIC.len()) };
}
