//! ttun-proto as a WebAssembly module with a plain C ABI (no wasm-bindgen, no imports), for
//! Node to load where no native addon exists (ts/wasm-core.ts). Buffers live in the module's
//! linear memory: JavaScript gets them from `ttun_alloc`, copies bytes in and out through
//! `memory.buffer`, and gives them back with `ttun_free`.
//!
//! Ciphers are numbered 0 = chacha20-poly1305, 1 = aes-256-gcm; directions 0 = client to
//! server, 1 = server to client. Functions that can fail return -1.
#![cfg_attr(target_arch = "wasm32", no_std)]

extern crate alloc;

use alloc::vec::Vec;
use core::slice;

use ttun_proto::{Cipher, CipherKind, Direction, FrameOpener, FrameSealer, FRAME_OVERHEAD};

#[cfg(target_arch = "wasm32")]
#[global_allocator]
static ALLOCATOR: dlmalloc::GlobalDlmalloc = dlmalloc::GlobalDlmalloc;

#[cfg(target_arch = "wasm32")]
#[panic_handler]
fn panic(_: &core::panic::PanicInfo) -> ! {
    core::arch::wasm32::unreachable()
}

fn cipher(kind: u32, key: *const u8) -> Option<Cipher> {
    let kind = match kind {
        0 => CipherKind::ChaCha20Poly1305,
        1 => CipherKind::Aes256Gcm,
        _ => return None,
    };
    // SAFETY (callers): key points to 32 bytes of the module's memory.
    Some(Cipher::new(kind, unsafe { &*(key as *const [u8; 32]) }))
}

fn direction(value: u32) -> Direction {
    if value == 0 {
        Direction::ClientToServer
    } else {
        Direction::ServerToClient
    }
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
    let Some(cipher) = cipher(kind, key) else { return -1 };
    let frame = slice::from_raw_parts_mut(out, pt_len + FRAME_OVERHEAD);
    frame[2..2 + pt_len].copy_from_slice(slice::from_raw_parts(pt, pt_len));
    match FrameSealer::new(cipher, direction(dir), counter).seal_in_place(frame) {
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
    let Some(cipher) = cipher(kind, key) else { return -1 };
    match FrameOpener::new(cipher, direction(dir), counter).open_in_place(slice::from_raw_parts_mut(body, body_len)) {
        Ok(plaintext) => plaintext.len() as isize,
        Err(_) => -1,
    }
}
