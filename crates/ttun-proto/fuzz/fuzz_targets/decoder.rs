//! `FrameDecoder::feed` on arbitrary bytes in arbitrary chunks, against a one-pass reference parser.
//!
//! Input: `[reject][n][n chunk sizes][stream...]` (chunk sizes: see shared/chunks.rs).
//! `reject` = 0: every body is accepted; `reject` = k+1: `on_body` returns `Err(BadTag)` for the
//! k-th body (what the Receiver does when a tag fails), to check that an error from the callback
//! also stops the decoder for good.
//!
//! Checked, for the chunked run and for a run with the whole stream in one chunk:
//! - no panic; every body handed out is 16..=65535 bytes; `buffered_len() <= 65537` after every feed;
//! - the bodies (bytes and order), the error and the final `buffered_len()` equal the reference;
//! - after an error, every later feed (empty or not) returns the same error without calling
//!   `on_body`, and nothing stays buffered.
//! Each body is overwritten after it is copied (the Receiver decrypts in place), so the decoder
//! must not read a body's bytes again.
#![no_main]

use libfuzzer_sys::fuzz_target;
use ttun_proto::{Error, FrameDecoder, LENGTH_PREFIX_LEN, MAX_FRAME_BODY_LEN, TAG_LEN};

#[path = "shared/chunks.rs"]
mod chunks;

/// The most `FrameDecoder` may hold back: one whole frame with the largest body.
const MAX_BUFFERED: usize = LENGTH_PREFIX_LEN + MAX_FRAME_BODY_LEN;

struct Outcome {
    /// Every body handed to `on_body`, including one it rejected.
    bodies: Vec<Vec<u8>>,
    error: Option<Error>,
    buffered: usize,
}

/// The stream parsed front to back with no buffering: what any chunking must produce.
fn reference(stream: &[u8], reject: Option<usize>) -> Outcome {
    let mut bodies = Vec::new();
    let mut pos = 0;
    loop {
        let rest = &stream[pos..];
        if rest.len() < LENGTH_PREFIX_LEN {
            return Outcome { bodies, error: None, buffered: rest.len() };
        }
        let len = u16::from_be_bytes([rest[0], rest[1]]);
        if (len as usize) < TAG_LEN {
            return Outcome { bodies, error: Some(Error::FrameTooShort(len)), buffered: 0 };
        }
        let frame_len = LENGTH_PREFIX_LEN + len as usize;
        if rest.len() < frame_len {
            return Outcome { bodies, error: None, buffered: rest.len() };
        }
        bodies.push(rest[LENGTH_PREFIX_LEN..frame_len].to_vec());
        if reject == Some(bodies.len() - 1) {
            return Outcome { bodies, error: Some(Error::BadTag), buffered: 0 };
        }
        pos += frame_len;
    }
}

fn run(stream: &[u8], sizes: &[u8], reject: Option<usize>) -> Outcome {
    let mut decoder = FrameDecoder::new();
    let mut data = stream.to_vec();
    let mut bodies: Vec<Vec<u8>> = Vec::new();
    let mut error: Option<Error> = None;
    let feed = |decoder: &mut FrameDecoder, chunk: &mut [u8], bodies: &mut Vec<Vec<u8>>, error: &mut Option<Error>| {
        let failed_before = error.is_some();
        let buffered_before = decoder.buffered_len();
        let chunk_len = chunk.len();
        let result = decoder.feed(chunk, |body| {
            assert!(!failed_before, "on_body called after the decoder had failed");
            assert!(
                (TAG_LEN..=MAX_FRAME_BODY_LEN).contains(&body.len()),
                "body of {} bytes handed out",
                body.len()
            );
            bodies.push(body.to_vec());
            body.fill(0xA5);
            if reject == Some(bodies.len() - 1) {
                return Err(Error::BadTag);
            }
            Ok(())
        });
        match *error {
            Some(first) => assert_eq!(result, Err(first), "a failed decoder must keep returning its first error"),
            None => *error = result.err(),
        }
        let buffered = decoder.buffered_len();
        assert!(buffered <= MAX_BUFFERED, "buffered_len {buffered} > {MAX_BUFFERED}");
        if error.is_some() {
            assert_eq!(buffered, 0, "a failed decoder still holds bytes");
        } else {
            assert!(buffered <= buffered_before + chunk_len, "buffered more than was fed");
        }
    };
    chunks::for_each_chunk(&mut data, sizes, |chunk| feed(&mut decoder, chunk, &mut bodies, &mut error));
    let bodies_before_extra_feeds = bodies.len();
    let buffered_before_extra_feeds = decoder.buffered_len();
    // An empty chunk changes nothing; after an error, so does a chunk holding a valid frame.
    feed(&mut decoder, &mut [], &mut bodies, &mut error);
    assert_eq!(decoder.buffered_len(), buffered_before_extra_feeds, "an empty chunk changed the buffer");
    if error.is_some() {
        let mut valid_frame = [0u8; LENGTH_PREFIX_LEN + TAG_LEN];
        valid_frame[1] = TAG_LEN as u8;
        feed(&mut decoder, &mut valid_frame, &mut bodies, &mut error);
    }
    assert_eq!(bodies.len(), bodies_before_extra_feeds);
    Outcome { bodies, error, buffered: buffered_before_extra_feeds }
}

fn check(what: &str, got: &Outcome, expected: &Outcome) {
    assert_eq!(got.error, expected.error, "{what}: error");
    assert_eq!(got.bodies.len(), expected.bodies.len(), "{what}: number of bodies");
    for (i, (g, e)) in got.bodies.iter().zip(&expected.bodies).enumerate() {
        assert!(g == e, "{what}: body {i} differs ({} vs {} bytes)", g.len(), e.len());
    }
    assert_eq!(got.buffered, expected.buffered, "{what}: buffered_len at the end");
}

fuzz_target!(|input: &[u8]| {
    let Some((&reject, rest)) = input.split_first() else { return };
    let reject = reject.checked_sub(1).map(usize::from);
    let (sizes, stream) = chunks::split_spec(rest);
    let expected = reference(stream, reject);
    check("one chunk", &run(stream, &[], reject), &expected);
    check("chunked", &run(stream, sizes, reject), &expected);
});
