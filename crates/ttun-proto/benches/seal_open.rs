//! Seal and open throughput of one frame at the default MTU (1280) and at the largest plaintext
//! (65519), for both ciphers and every AEAD backend of the build, and of a whole batch as the
//! addon's data path handles one (sealed into one buffer, opened by a Receiver):
//! `cargo bench -p ttun-proto --features ring`. The addon picks one backend at build time
//! (ttun-napi's default `ring` feature, or `rustcrypto`); this compares the two.
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use ttun_proto::{Cipher, CipherKind, Direction, FrameOpener, FrameSealer, Receiver, MAX_PLAINTEXT_LEN};

/// Makes a keyed cipher with one AEAD backend.
type MakeCipher = fn(CipherKind, &[u8; 32]) -> Cipher;

fn seal_open(c: &mut Criterion) {
    let key = [7u8; 32];
    #[allow(unused_mut)]
    let mut backends: Vec<(&str, MakeCipher)> = vec![("RustCrypto", Cipher::portable)];
    #[cfg(feature = "ring")]
    backends.push(("ring", Cipher::with_ring));
    for (backend, make) in backends {
        for kind in [CipherKind::ChaCha20Poly1305, CipherKind::Aes256Gcm] {
            let mut group = c.benchmark_group(format!("{backend} {}", kind.name()));
            for size in [1280usize, MAX_PLAINTEXT_LEN] {
                group.throughput(Throughput::Bytes(size as u64));
                let mut sealer = FrameSealer::new(make(kind, &key), Direction::ClientToServer, 0);
                let mut frame = vec![0u8; size + 18];
                group.bench_with_input(BenchmarkId::new("seal", size), &size, |b, _| {
                    b.iter(|| sealer.seal_in_place(&mut frame).unwrap())
                });
                // Opening needs a valid frame per counter: seal once, then open it again and again
                // with an opener rewound to that counter (the decrypt-and-verify work is the same).
                let mut sealed = vec![0u8; size + 18];
                FrameSealer::new(make(kind, &key), Direction::ClientToServer, 0).seal_in_place(&mut sealed).unwrap();
                let cipher = make(kind, &key);
                let mut body = sealed[2..].to_vec();
                group.bench_with_input(BenchmarkId::new("open", size), &size, |b, _| {
                    b.iter(|| {
                        body.copy_from_slice(&sealed[2..]);
                        FrameOpener::new(cipher.clone(), Direction::ClientToServer, 0)
                            .open_in_place(&mut body)
                            .unwrap()
                            .len()
                    })
                });
            }
            group.finish();
        }
    }
}

/// One batch of the reader thread at MTU 1280: 50 packets, about the 64 KiB it gathers.
fn batch(c: &mut Criterion) {
    let key = [7u8; 32];
    #[allow(unused_mut)]
    let mut backends: Vec<(&str, MakeCipher)> = vec![("RustCrypto", Cipher::portable)];
    #[cfg(feature = "ring")]
    backends.push(("ring", Cipher::with_ring));
    let packets: Vec<Vec<u8>> = (0..50u8).map(|i| vec![i; 1280]).collect();
    let bytes: usize = packets.iter().map(Vec::len).sum();
    let mut group = c.benchmark_group("batch of 50 x 1280 B, chacha20-poly1305");
    group.throughput(Throughput::Bytes(bytes as u64));
    for (backend, make) in backends {
        let cipher = make(CipherKind::ChaCha20Poly1305, &key);
        let mut sealer = FrameSealer::new(cipher.clone(), Direction::ClientToServer, 1);
        let mut wire = Vec::with_capacity(bytes + packets.len() * 18);
        group.bench_function(BenchmarkId::new("seal", backend), |b| {
            b.iter(|| {
                wire.clear();
                for packet in &packets {
                    sealer.seal_to_vec(packet, &mut wire).unwrap();
                }
                wire.len()
            })
        });
        let mut sealed = Vec::new();
        let mut first = FrameSealer::new(cipher.clone(), Direction::ClientToServer, 1);
        for packet in &packets {
            first.seal_to_vec(packet, &mut sealed).unwrap();
        }
        let mut chunk = sealed.clone();
        group.bench_function(BenchmarkId::new("open", backend), |b| {
            b.iter(|| {
                chunk.copy_from_slice(&sealed);
                let mut receiver = Receiver::new(FrameOpener::new(cipher.clone(), Direction::ClientToServer, 1));
                let mut opened = 0;
                receiver.receive(&mut chunk, |packet| opened += packet.len()).unwrap();
                opened
            })
        });
    }
    group.finish();
}

criterion_group!(benches, seal_open, batch);
criterion_main!(benches);
