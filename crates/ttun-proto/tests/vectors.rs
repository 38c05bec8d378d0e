//! Known-answer tests against `test/vectors/ttun-v1-vectors.json` (computed outside this project),
//! plus decoder behaviour on arbitrary chunking and on bad input.
use proptest::prelude::*;
use ttun_proto::*;

struct Case {
    cipher: CipherKind,
    psk: Vec<u8>,
    k: Vec<u8>,
    client_nonce: [u8; 16],
    server_nonce: [u8; 16],
    sk: Vec<u8>,
    packets: Vec<Vec<u8>>,
    client_stream: Vec<u8>,
    server_stream: Vec<u8>,
}

fn cases() -> Vec<Case> {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../test/vectors/ttun-v1-vectors.json");
    let json: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let h = |v: &serde_json::Value| hex::decode(v.as_str().unwrap()).unwrap();
    json["cases"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| Case {
            cipher: CipherKind::from_name(c["cipher"].as_str().unwrap()).unwrap(),
            psk: c["psk_utf8"].as_str().unwrap().as_bytes().to_vec(),
            k: h(&c["K"]),
            client_nonce: h(&c["client_nonce"]).try_into().unwrap(),
            server_nonce: h(&c["server_nonce"]).try_into().unwrap(),
            sk: h(&c["SK"]),
            packets: c["packets"].as_array().unwrap().iter().map(h).collect(),
            client_stream: h(&c["client_to_server_stream"]),
            server_stream: h(&c["server_to_client_stream"]),
        })
        .collect()
}

fn session_cipher(case: &Case) -> Cipher {
    let sk = session_key(&psk_key(&case.psk), &case.client_nonce, &case.server_nonce);
    Cipher::new(case.cipher, &sk)
}

/// Every AEAD implementation this build has (RustCrypto always, ring with the `ring` feature).
fn all_backends(case: &Case) -> Vec<(&'static str, Cipher)> {
    let sk = session_key(&psk_key(&case.psk), &case.client_nonce, &case.server_nonce);
    #[allow(unused_mut)]
    let mut backends = vec![("RustCrypto", Cipher::portable(case.cipher, &sk))];
    #[cfg(feature = "ring")]
    backends.push(("ring", Cipher::with_ring(case.cipher, &sk)));
    backends
}

/// The whole stream one side sends: the magic with counter 0, then every packet.
fn seal_stream(case: &Case, direction: Direction, cipher: Cipher) -> Vec<u8> {
    let mut sealer = FrameSealer::new(cipher, direction, 0);
    let mut out = Vec::new();
    sealer.seal_to_vec(&MAGIC, &mut out).unwrap();
    for packet in &case.packets {
        sealer.seal_to_vec(packet, &mut out).unwrap();
    }
    out
}

fn expected_plaintexts(case: &Case) -> Vec<Vec<u8>> {
    std::iter::once(MAGIC.to_vec()).chain(case.packets.iter().cloned()).collect()
}

fn open_stream_in_chunks(
    case: &Case,
    direction: Direction,
    stream: &[u8],
    chunk_sizes: &mut dyn Iterator<Item = usize>,
) -> Result<Vec<Vec<u8>>, Error> {
    open_stream_with(session_cipher(case), direction, stream, chunk_sizes)
}

fn open_stream_with(
    cipher: Cipher,
    direction: Direction,
    stream: &[u8],
    chunk_sizes: &mut dyn Iterator<Item = usize>,
) -> Result<Vec<Vec<u8>>, Error> {
    let mut receiver = Receiver::new(FrameOpener::new(cipher, direction, 0));
    let mut stream = stream.to_vec();
    let mut opened = Vec::new();
    let mut rest: &mut [u8] = &mut stream;
    while !rest.is_empty() {
        let n = chunk_sizes.next().unwrap().clamp(1, rest.len());
        let (chunk, tail) = std::mem::take(&mut rest).split_at_mut(n);
        receiver.receive(chunk, |p| opened.push(p.to_vec()))?;
        rest = tail;
    }
    assert_eq!(receiver.buffered_len(), 0);
    Ok(opened)
}

#[test]
fn vectors_cover_both_ciphers_and_the_largest_packet() {
    let cases = cases();
    assert!(cases.iter().any(|c| c.cipher == CipherKind::ChaCha20Poly1305));
    assert!(cases.iter().any(|c| c.cipher == CipherKind::Aes256Gcm));
    assert!(cases.iter().flat_map(|c| &c.packets).any(|p| p.len() == MAX_PLAINTEXT_LEN));
}

#[test]
fn key_schedule_matches_vectors() {
    for case in cases() {
        let k = psk_key(&case.psk);
        assert_eq!(k.to_vec(), case.k);
        assert_eq!(session_key(&k, &case.client_nonce, &case.server_nonce).to_vec(), case.sk);
    }
}

#[test]
fn sealing_reproduces_both_streams_byte_for_byte_with_every_backend() {
    for case in cases() {
        for (backend, cipher) in all_backends(&case) {
            assert_eq!(
                seal_stream(&case, Direction::ClientToServer, cipher.clone()),
                case.client_stream,
                "{backend} {:?} client",
                case.cipher
            );
            assert_eq!(
                seal_stream(&case, Direction::ServerToClient, cipher),
                case.server_stream,
                "{backend} {:?} server",
                case.cipher
            );
        }
    }
}

#[cfg(feature = "ring")]
#[test]
fn the_ring_feature_makes_ring_the_default_backend() {
    // Cipher::new must pick ring in this build: its output must still match the vectors (above),
    // and the feature must not silently fall back to the portable code.
    let case = &cases()[0];
    let sk = session_key(&psk_key(&case.psk), &case.client_nonce, &case.server_nonce);
    let mut a = Vec::new();
    let mut b = Vec::new();
    FrameSealer::new(Cipher::new(case.cipher, &sk), Direction::ClientToServer, 0).seal_to_vec(&MAGIC, &mut a).unwrap();
    FrameSealer::new(Cipher::with_ring(case.cipher, &sk), Direction::ClientToServer, 0)
        .seal_to_vec(&MAGIC, &mut b)
        .unwrap();
    assert_eq!(a, b);
}

#[test]
fn in_place_sealing_matches_vec_sealing() {
    for case in cases() {
        let mut sealer = FrameSealer::new(session_cipher(&case), Direction::ClientToServer, 0);
        let mut out = Vec::new();
        for plaintext in expected_plaintexts(&case) {
            let mut frame = vec![0u8; 2 + plaintext.len() + 16];
            frame[2..2 + plaintext.len()].copy_from_slice(&plaintext);
            sealer.seal_in_place(&mut frame).unwrap();
            out.extend_from_slice(&frame);
        }
        assert_eq!(out, case.client_stream);
    }
}

#[test]
fn opening_whole_streams_yields_magic_then_packets_with_every_backend() {
    for case in cases() {
        for (backend, cipher) in all_backends(&case) {
            for (direction, stream) in
                [(Direction::ClientToServer, &case.client_stream), (Direction::ServerToClient, &case.server_stream)]
            {
                let opened =
                    open_stream_with(cipher.clone(), direction, stream, &mut std::iter::repeat(usize::MAX)).unwrap();
                assert_eq!(opened, expected_plaintexts(&case), "{backend}");
            }
            let mut tampered = case.client_stream.clone();
            tampered[5] ^= 1;
            assert_eq!(
                open_stream_with(cipher, Direction::ClientToServer, &tampered, &mut std::iter::repeat(usize::MAX)),
                Err(Error::BadTag),
                "{backend}"
            );
        }
    }
}

#[test]
fn opening_with_the_wrong_direction_fails() {
    let case = &cases()[0];
    let err =
        open_stream_in_chunks(case, Direction::ServerToClient, &case.client_stream, &mut std::iter::repeat(usize::MAX));
    assert_eq!(err, Err(Error::BadTag));
}

#[test]
fn opening_with_the_other_cipher_or_psk_fails() {
    let case = &cases()[0];
    let sk = session_key(&psk_key(&case.psk), &case.client_nonce, &case.server_nonce);
    let mut other_cipher =
        Receiver::new(FrameOpener::new(Cipher::new(CipherKind::Aes256Gcm, &sk), Direction::ClientToServer, 0));
    assert_eq!(other_cipher.receive(&mut case.client_stream.clone(), |_| {}), Err(Error::BadTag));
    let wrong_sk = session_key(&psk_key(b"wrong"), &case.client_nonce, &case.server_nonce);
    let mut wrong_psk =
        Receiver::new(FrameOpener::new(Cipher::new(case.cipher, &wrong_sk), Direction::ClientToServer, 0));
    assert_eq!(wrong_psk.receive(&mut case.client_stream.clone(), |_| {}), Err(Error::BadTag));
}

#[test]
fn every_flipped_bit_in_a_frame_is_rejected() {
    let case = cases().into_iter().find(|c| c.cipher == CipherKind::Aes256Gcm).unwrap();
    let magic_frame_len = 2 + 8 + 16;
    for byte in 2..magic_frame_len {
        for bit in 0..8 {
            let mut stream = case.client_stream[..magic_frame_len].to_vec();
            stream[byte] ^= 1 << bit;
            for (backend, cipher) in all_backends(&case) {
                let mut receiver = Receiver::new(FrameOpener::new(cipher, Direction::ClientToServer, 0));
                let mut delivered = 0;
                assert_eq!(receiver.receive(&mut stream.clone(), |_| delivered += 1), Err(Error::BadTag), "{backend}");
                assert_eq!(delivered, 0);
            }
        }
    }
}

#[test]
fn a_replayed_or_reordered_frame_is_rejected() {
    let case = &cases()[0];
    let magic_frame_len = 2 + 8 + 16;
    let mut replay = case.client_stream[..magic_frame_len].repeat(2);
    let mut receiver = Receiver::new(FrameOpener::new(session_cipher(case), Direction::ClientToServer, 0));
    let mut delivered = 0;
    assert_eq!(receiver.receive(&mut replay, |_| delivered += 1), Err(Error::BadTag));
    assert_eq!(delivered, 1, "the first copy opens, the replay does not");
}

#[test]
fn length_below_tag_size_is_rejected_and_the_decoder_stays_failed() {
    for len in 0u16..16 {
        let mut decoder = FrameDecoder::new();
        let mut stream = len.to_be_bytes().to_vec();
        stream.extend_from_slice(&[0; 32]);
        assert_eq!(decoder.feed(&mut stream, |_| Ok(())), Err(Error::FrameTooShort(len)));
        assert_eq!(decoder.feed(&mut [0, 24], |_| Ok(())), Err(Error::FrameTooShort(len)));
    }
    // Split across chunks: the prefix alone arrives first.
    let mut decoder = FrameDecoder::new();
    assert_eq!(decoder.feed(&mut [0], |_| Ok(())), Ok(()));
    assert_eq!(decoder.feed(&mut [15], |_| Ok(())), Err(Error::FrameTooShort(15)));
}

#[test]
fn an_empty_frame_body_of_exactly_one_tag_opens_to_an_empty_plaintext() {
    let case = &cases()[0];
    let mut sealer = FrameSealer::new(session_cipher(case), Direction::ClientToServer, 0);
    let mut frame = Vec::new();
    sealer.seal_to_vec(&[], &mut frame).unwrap();
    assert_eq!(frame.len(), 18);
    let mut receiver = Receiver::new(FrameOpener::new(session_cipher(case), Direction::ClientToServer, 0));
    let mut lens = vec![];
    receiver.receive(&mut frame, |p| lens.push(p.len())).unwrap();
    assert_eq!(lens, vec![0]);
}

#[test]
fn oversized_plaintext_is_refused_by_the_sealer() {
    let case = &cases()[0];
    let mut sealer = FrameSealer::new(session_cipher(case), Direction::ClientToServer, 0);
    let mut out = Vec::new();
    assert_eq!(
        sealer.seal_to_vec(&vec![0; MAX_PLAINTEXT_LEN + 1], &mut out),
        Err(Error::PlaintextTooLong(MAX_PLAINTEXT_LEN + 1))
    );
    assert!(out.is_empty());
    assert_eq!(sealer.next_counter(), 0, "a refused frame does not use up a counter");
}

#[test]
fn the_last_counter_is_refused_rather_than_wrapped() {
    let case = &cases()[0];
    let mut sealer = FrameSealer::new(session_cipher(case), Direction::ClientToServer, u64::MAX - 1);
    let mut out = Vec::new();
    sealer.seal_to_vec(b"x", &mut out).unwrap();
    assert_eq!(sealer.seal_to_vec(b"x", &mut out), Err(Error::CounterExhausted));
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    /// Any chunking of any vector stream yields exactly the magic and the packets.
    #[test]
    fn decoder_accepts_any_chunking(case_index in 0usize..3, server in any::<bool>(), sizes in prop::collection::vec(1usize..4000, 1..200)) {
        let cases = cases();
        let case = &cases[case_index % cases.len()];
        let (direction, stream) = if server { (Direction::ServerToClient, &case.server_stream) } else { (Direction::ClientToServer, &case.client_stream) };
        let mut sizes = sizes.into_iter().cycle();
        let opened = open_stream_in_chunks(case, direction, stream, &mut sizes).unwrap();
        prop_assert_eq!(opened, expected_plaintexts(case));
    }

    /// Byte-at-a-time and tiny chunks, where the length prefix itself is split.
    #[test]
    fn decoder_accepts_tiny_chunks(sizes in prop::collection::vec(1usize..4, 1..50)) {
        let cases = cases();
        let case = &cases[1];
        let mut sizes = sizes.into_iter().cycle();
        let opened = open_stream_in_chunks(case, Direction::ClientToServer, &case.client_stream, &mut sizes).unwrap();
        prop_assert_eq!(opened, expected_plaintexts(case));
    }

    /// Random bytes never panic the decoder; they either wait for more or fail cleanly.
    #[test]
    fn decoder_never_panics_on_garbage(garbage in prop::collection::vec(any::<u8>(), 0..3000), split in 0usize..3000) {
        let case = &cases()[0];
        let mut receiver = Receiver::new(FrameOpener::new(session_cipher(case), Direction::ClientToServer, 0));
        let split = split.min(garbage.len());
        let mut garbage = garbage;
        let (a, b) = garbage.split_at_mut(split);
        let first = receiver.receive(a, |_| panic!("garbage must not open"));
        if first.is_ok() {
            let _ = receiver.receive(b, |_| panic!("garbage must not open"));
        }
    }
}
