//! As `open`, but frames are sealed with RustCrypto and opened with ring (needs `--features ring`;
//! run.sh adds it). Vector mode checks ring against the known-answer streams directly.
#![no_main]

use libfuzzer_sys::fuzz_target;
use ttun_proto::Cipher;

#[path = "shared/chunks.rs"]
mod chunks;
#[path = "shared/open_oracle.rs"]
mod open_oracle;

fuzz_target!(|input: &[u8]| {
    open_oracle::fuzz_open(input, Cipher::portable, Cipher::with_ring);
});
