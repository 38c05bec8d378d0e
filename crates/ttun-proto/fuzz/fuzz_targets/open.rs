//! A Receiver (RustCrypto AEADs) fed mutated known-answer streams and fuzzer-chosen sealed frames
//! with edits, in arbitrary chunks. Input layout and oracle: shared/open_oracle.rs.
#![no_main]

use libfuzzer_sys::fuzz_target;
use ttun_proto::Cipher;

#[path = "shared/chunks.rs"]
mod chunks;
#[path = "shared/open_oracle.rs"]
mod open_oracle;

fuzz_target!(|input: &[u8]| {
    open_oracle::fuzz_open(input, Cipher::portable, Cipher::portable);
});
