//! The `open` oracle, shared by `open` (RustCrypto) and `open_ring` (ring).
//!
//! Input: `[config][n][n chunk sizes][rest...]` (chunk sizes: see shared/chunks.rs).
//!
//! config bit 3 = 0, *vector mode*: `rest` is the received stream, opened with the session key of
//! known-answer case `config & 3` (mod 3) from test/vectors/ttun-v1-vectors.json, in the direction
//! of bit 2 (0: client→server stream, 1: server→client). The seeds are the vector streams, so
//! the fuzzer starts from frames that authenticate and mutates them.
//!
//! config bit 3 = 1, *sealed mode*: `rest` = `[m][m × u16 BE plaintext length][k][k × 5-byte edit]
//! [pool...]`. m % 8 plaintexts (length mod 65520, bytes taken cyclically from the pool) are sealed
//! with a fixed key, cipher = bit 0 (0: ChaCha20-Poly1305, 1: AES-256-GCM), direction = bit 2,
//! first counter = bits 4-5 (0, 1, u64::MAX-2, u64::MAX-1: the sealer and opener must refuse
//! counter u64::MAX). Then k % 64 edits `[op][pos u24 BE][value]` change the stream: op % 4 =
//! 0 XOR the byte at pos with value, 1 truncate at pos, 2 insert value at pos, 3 delete at pos.
//!
//! Both modes: bit 6 opens with the other direction, bit 7 with the other cipher; then no frame
//! may open (except in vector mode where that lands on another case: cases 0 and 1 share a key
//! and differ only in the cipher, so case 1 opened as ChaCha20 is case 0).
//!
//! The oracle: let S be the stream as sealed and D the stream received (after edits), and k the
//! number of leading whole frames of S that D repeats byte for byte. Fed to a Receiver in any
//! chunking, D must deliver exactly the k plaintexts of those frames, in order, and nothing else
//! (no other frame can authenticate), so delivery stops at the first changed frame. The result
//! is then decided by what follows those frames in D: fewer than 2 bytes, or an incomplete frame
//! → Ok with those bytes buffered; a length below 16 → FrameTooShort(length), whether or not the
//! rest of the frame arrived; a complete frame → BadTag (CounterExhausted if the counter is u64::MAX).
//! An error is sticky: every later receive returns it without delivering anything.
use std::sync::OnceLock;

use ttun_proto::{
    psk_key, session_key, Cipher, CipherKind, Direction, Error, FrameOpener, FrameSealer, Receiver, LENGTH_PREFIX_LEN,
    MAGIC, MAX_FRAME_BODY_LEN, MAX_PLAINTEXT_LEN, TAG_LEN,
};

use crate::chunks;

/// Builds a keyed AEAD; the target picks the backend.
pub type MakeCipher = fn(CipherKind, &[u8; 32]) -> Cipher;

const VECTORS_JSON: &str = include_str!("../../../../../test/vectors/ttun-v1-vectors.json");
/// Key of sealed mode; any fixed value does.
const FUZZ_KEY: [u8; 32] = *b"ttun-proto fuzz key, 32 bytes ok";
/// Upper bound on the plaintext bytes one sealed-mode input may ask for, to keep runs fast.
const MAX_TOTAL_PLAINTEXT: usize = 3 * 65536;

struct Case {
    kind: CipherKind,
    key: [u8; 32],
    plaintexts: Vec<Vec<u8>>,
    client_stream: Vec<u8>,
    server_stream: Vec<u8>,
}

fn other_kind(kind: CipherKind) -> CipherKind {
    match kind {
        CipherKind::ChaCha20Poly1305 => CipherKind::Aes256Gcm,
        CipherKind::Aes256Gcm => CipherKind::ChaCha20Poly1305,
    }
}

fn seal_all(make: MakeCipher, kind: CipherKind, key: &[u8; 32], direction: Direction, plaintexts: &[Vec<u8>]) -> Vec<u8> {
    let mut sealer = FrameSealer::new(make(kind, key), direction, 0);
    let mut out = Vec::new();
    for p in plaintexts {
        sealer.seal_to_vec(p, &mut out).unwrap();
    }
    out
}

/// The known-answer cases, checked once against this target's sealing backend.
fn cases(seal: MakeCipher) -> &'static [Case] {
    static CASES: OnceLock<Vec<Case>> = OnceLock::new();
    CASES.get_or_init(|| {
        let json: serde_json::Value = serde_json::from_str(VECTORS_JSON).unwrap();
        let h = |v: &serde_json::Value| hex::decode(v.as_str().unwrap()).unwrap();
        let cases: Vec<Case> = json["cases"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| {
                let k = psk_key(c["psk_utf8"].as_str().unwrap().as_bytes());
                assert_eq!(k.to_vec(), h(&c["K"]));
                let key = session_key(
                    &k,
                    &h(&c["client_nonce"]).try_into().unwrap(),
                    &h(&c["server_nonce"]).try_into().unwrap(),
                );
                assert_eq!(key.to_vec(), h(&c["SK"]));
                let plaintexts = std::iter::once(MAGIC.to_vec())
                    .chain(c["packets"].as_array().unwrap().iter().map(h))
                    .collect();
                Case {
                    kind: CipherKind::from_name(c["cipher"].as_str().unwrap()).unwrap(),
                    key,
                    plaintexts,
                    client_stream: h(&c["client_to_server_stream"]),
                    server_stream: h(&c["server_to_client_stream"]),
                }
            })
            .collect();
        assert!(cases.len() >= 3);
        for c in &cases {
            assert!(seal_all(seal, c.kind, &c.key, Direction::ClientToServer, &c.plaintexts) == c.client_stream);
            assert!(seal_all(seal, c.kind, &c.key, Direction::ServerToClient, &c.plaintexts) == c.server_stream);
        }
        cases
    })
}

/// What was sent: the stream and, per frame, its end offset and plaintext.
struct Sent {
    stream: Vec<u8>,
    frame_ends: Vec<usize>,
    plaintexts: Vec<Vec<u8>>,
}

fn frame_ends_of(stream: &[u8]) -> Vec<usize> {
    let mut ends = Vec::new();
    let mut pos = 0;
    while pos < stream.len() {
        pos += LENGTH_PREFIX_LEN + u16::from_be_bytes([stream[pos], stream[pos + 1]]) as usize;
        ends.push(pos);
    }
    assert_eq!(pos, stream.len());
    ends
}

fn take<'a>(input: &mut &'a [u8], n: usize) -> &'a [u8] {
    let (head, tail) = input.split_at(n.min(input.len()));
    *input = tail;
    head
}

fn take_byte(input: &mut &[u8]) -> u8 {
    take(input, 1).first().copied().unwrap_or(0)
}

/// Sealed mode: seals the plaintexts the input asks for and applies its edits. Returns what was
/// sent and the stream as received.
fn seal_from_input(
    make: MakeCipher,
    kind: CipherKind,
    direction: Direction,
    first_counter: u64,
    mut input: &[u8],
) -> (Sent, Vec<u8>) {
    let m = take_byte(&mut input) as usize % 8;
    let lens = take(&mut input, 2 * m);
    let edit_count = take_byte(&mut input) as usize % 64;
    let edits = take(&mut input, 5 * edit_count);
    let pool = input;

    let mut sealer = FrameSealer::new(make(kind, &FUZZ_KEY), direction, first_counter);
    let mut sent = Sent { stream: Vec::new(), frame_ends: Vec::new(), plaintexts: Vec::new() };
    let mut total = 0;
    let mut pool_pos = 0;
    for (i, len) in lens.chunks_exact(2).enumerate() {
        let len = (u16::from_be_bytes([len[0], len[1]]) as usize % (MAX_PLAINTEXT_LEN + 1))
            .min(MAX_TOTAL_PLAINTEXT - total);
        total += len;
        let plaintext: Vec<u8> = if pool.is_empty() {
            vec![i as u8; len]
        } else {
            (0..len).map(|j| pool[(pool_pos + j) % pool.len()]).collect()
        };
        pool_pos += len;
        let counter = sealer.next_counter();
        match sealer.seal_to_vec(&plaintext, &mut sent.stream) {
            Ok(()) => {
                let start = sent.frame_ends.last().copied().unwrap_or(0);
                let frame_len = sent.stream.len() - start;
                assert_eq!(frame_len, LENGTH_PREFIX_LEN + len + TAG_LEN);
                assert_eq!(&sent.stream[start..start + 2], &((len + TAG_LEN) as u16).to_be_bytes());
                assert_eq!(sealer.next_counter(), counter + 1);
                sent.frame_ends.push(sent.stream.len());
                sent.plaintexts.push(plaintext);
            }
            Err(error) => {
                assert_eq!(error, Error::CounterExhausted, "sealing a {len}-byte plaintext");
                assert_eq!(counter, u64::MAX, "the sealer refused counter {counter}");
                assert_eq!(sealer.next_counter(), u64::MAX, "a refused frame used up a counter");
                assert_eq!(sent.stream.len(), sent.frame_ends.last().copied().unwrap_or(0), "a refused frame left bytes");
                break;
            }
        }
    }

    let mut received = sent.stream.clone();
    for edit in edits.chunks_exact(5) {
        let pos = u32::from_be_bytes([0, edit[1], edit[2], edit[3]]) as usize;
        let value = edit[4];
        match edit[0] % 4 {
            0 if !received.is_empty() => {
                let len = received.len();
                received[pos % len] ^= value;
            }
            1 => received.truncate(pos % (received.len() + 1)),
            2 => received.insert(pos % (received.len() + 1), value),
            3 if !received.is_empty() => {
                let len = received.len();
                received.remove(pos % len);
            }
            _ => {}
        }
    }
    (sent, received)
}

pub fn fuzz_open(input: &[u8], seal: MakeCipher, open: MakeCipher) {
    let Some((&config, rest)) = input.split_first() else { return };
    let (sizes, rest) = chunks::split_spec(rest);
    let direction = if config & 4 == 0 { Direction::ClientToServer } else { Direction::ServerToClient };

    let flip_direction = |d: Direction| if config & 0x40 != 0 { d.reverse() } else { d };
    let flip_kind = |kind: CipherKind| if config & 0x80 != 0 { other_kind(kind) } else { kind };

    // What the receiver opens with, what was sent and what arrives.
    let (open_kind, key, open_direction, first_counter, sent, mut received) = if config & 8 == 0 {
        let all = cases(seal);
        let case = &all[(config & 3) as usize % all.len()];
        let (open_kind, open_direction) = (flip_kind(case.kind), flip_direction(direction));
        // The stream a vector peer with the receiver's key, cipher and direction sent. With a flip
        // this is usually none (nothing may open), but cases that share a key differ only in the
        // cipher, so flipping the cipher of one gives the other.
        let sent = match all.iter().find(|c| c.kind == open_kind && c.key == case.key) {
            Some(c) => {
                let stream =
                    if open_direction == Direction::ClientToServer { &c.client_stream } else { &c.server_stream };
                Sent { stream: stream.clone(), frame_ends: frame_ends_of(stream), plaintexts: c.plaintexts.clone() }
            }
            None => Sent { stream: Vec::new(), frame_ends: Vec::new(), plaintexts: Vec::new() },
        };
        (open_kind, case.key, open_direction, 0, sent, rest.to_vec())
    } else {
        let kind = if config & 1 == 0 { CipherKind::ChaCha20Poly1305 } else { CipherKind::Aes256Gcm };
        let first_counter = [0, 1, u64::MAX - 2, u64::MAX - 1][(config as usize >> 4) & 3];
        let (mut sent, received) = seal_from_input(seal, kind, direction, first_counter, rest);
        let (open_kind, open_direction) = (flip_kind(kind), flip_direction(direction));
        if (open_kind, open_direction) != (kind, direction) {
            // Sealed under another cipher or direction: none of it may open.
            sent = Sent { stream: Vec::new(), frame_ends: Vec::new(), plaintexts: Vec::new() };
        }
        (open_kind, FUZZ_KEY, open_direction, first_counter, sent, received)
    };
    assert_eq!(sent.frame_ends.len(), sent.plaintexts.len());

    // The expected outcome.
    let common = sent.stream.iter().zip(&received).take_while(|(a, b)| a == b).count();
    let k = sent.frame_ends.iter().take_while(|&&end| end <= common).count();
    let end_k = if k == 0 { 0 } else { sent.frame_ends[k - 1] };
    let counter_k = first_counter + k as u64;
    let tail = &received[end_k..];
    let (expected_error, expected_buffered) = if tail.len() < LENGTH_PREFIX_LEN {
        (None, tail.len())
    } else {
        let len = u16::from_be_bytes([tail[0], tail[1]]);
        if (len as usize) < TAG_LEN {
            (Some(Error::FrameTooShort(len)), 0)
        } else if tail.len() < LENGTH_PREFIX_LEN + len as usize {
            (None, tail.len())
        } else if counter_k == u64::MAX {
            (Some(Error::CounterExhausted), 0)
        } else {
            (Some(Error::BadTag), 0)
        }
    };

    // The run.
    let mut receiver = Receiver::new(FrameOpener::new(open(open_kind, &key), open_direction, first_counter));
    let mut delivered = 0usize;
    let mut error: Option<Error> = None;
    chunks::for_each_chunk(&mut received, sizes, |chunk| {
        let failed_before = error.is_some();
        let result = receiver.receive(chunk, |plaintext| {
            assert!(!failed_before, "a plaintext was delivered after the receiver had failed");
            assert!(delivered < k, "frame {delivered} opened, but only {k} frames were received intact");
            assert!(plaintext.len() <= MAX_PLAINTEXT_LEN);
            assert!(plaintext == &sent.plaintexts[delivered][..], "frame {delivered} opened to a different plaintext");
            delivered += 1;
        });
        match error {
            Some(first) => assert_eq!(result, Err(first), "a failed receiver must keep returning its first error"),
            None => error = result.err(),
        }
        assert!(receiver.buffered_len() <= LENGTH_PREFIX_LEN + MAX_FRAME_BODY_LEN);
    });
    assert_eq!(delivered, k, "frames delivered");
    assert_eq!(error, expected_error, "result after {k} intact frames");
    if error.is_none() {
        assert_eq!(receiver.buffered_len(), expected_buffered, "bytes buffered after {k} intact frames");
    }
    assert_eq!(receiver.next_counter(), counter_k, "opener counter");
    if let Some(first) = error {
        // Even a frame that would open now is refused.
        let mut more = sent.stream.clone();
        assert_eq!(receiver.receive(&mut more, |_| panic!("delivered after failure")), Err(first));
    }
}
