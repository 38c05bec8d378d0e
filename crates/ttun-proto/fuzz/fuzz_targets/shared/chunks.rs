//! How the targets cut their input stream into the chunks a TCP socket would deliver.
//!
//! Input layout: `[n][n size bytes][stream...]`, `n` taken mod 32 (0 = the stream in one chunk).
//! The sizes are used cyclically; size byte `b` means: 0 → an empty chunk, 1..=127 → `b` bytes,
//! 128..=255 → `(b - 127) KiB`, so both byte-at-a-time and frame-sized chunks are reachable.

/// Splits `input` into (size bytes, stream).
pub fn split_spec(input: &[u8]) -> (&[u8], &[u8]) {
    let Some((&n, rest)) = input.split_first() else { return (&[], &[]) };
    let n = (n as usize % 32).min(rest.len());
    rest.split_at(n)
}

fn chunk_len(b: u8) -> usize {
    match b {
        0 => 0,
        1..=127 => b as usize,
        _ => (b as usize - 127) * 1024,
    }
}

/// Calls `feed` with consecutive chunks of `data` sized by `sizes` (cyclically). Without sizes,
/// `data` goes in one chunk (even when empty). Empty chunks are fed as such; if a whole cycle of
/// sizes is empty the rest goes in one chunk, so this always ends.
pub fn for_each_chunk(data: &mut [u8], sizes: &[u8], mut feed: impl FnMut(&mut [u8])) {
    if sizes.is_empty() {
        feed(data);
        return;
    }
    let mut rest: &mut [u8] = data;
    let mut i = 0;
    let mut empty_run = 0;
    while !rest.is_empty() {
        let len = chunk_len(sizes[i % sizes.len()]);
        i += 1;
        if len == 0 {
            feed(&mut []);
            empty_run += 1;
            if empty_run >= sizes.len() {
                feed(rest);
                return;
            }
            continue;
        }
        empty_run = 0;
        let n = len.min(rest.len());
        let (chunk, tail) = core::mem::take(&mut rest).split_at_mut(n);
        feed(chunk);
        rest = tail;
    }
}
