//! Key derivation and single-frame seal/open, used by the TypeScript handshake, and the two
//! enums every entry point takes. The data path does not come through here: it seals and opens
//! whole batches inside [`crate::tun`].
use napi::bindgen_prelude::Buffer;
use napi_derive::napi;
use ttun_proto::cipher::frame_nonce;
use ttun_proto::{Cipher, CipherKind, HANDSHAKE_NONCE_LEN, TAG_LEN};

use crate::errors::{error, from_proto, Result};

/// The AEAD of a session. JavaScript passes the names the CLI uses; napi rejects anything else
/// before Rust sees it.
#[napi(string_enum)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CipherName {
    #[napi(value = "chacha20-poly1305")]
    ChaCha20Poly1305,
    #[napi(value = "aes-256-gcm")]
    Aes256Gcm,
}

impl From<CipherName> for CipherKind {
    fn from(name: CipherName) -> Self {
        match name {
            CipherName::ChaCha20Poly1305 => CipherKind::ChaCha20Poly1305,
            CipherName::Aes256Gcm => CipherKind::Aes256Gcm,
        }
    }
}

/// Which way a frame travels: the direction byte of its nonce.
#[napi]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    ClientToServer = 0,
    ServerToClient = 1,
}

impl From<Direction> for ttun_proto::Direction {
    fn from(direction: Direction) -> Self {
        match direction {
            Direction::ClientToServer => ttun_proto::Direction::ClientToServer,
            Direction::ServerToClient => ttun_proto::Direction::ServerToClient,
        }
    }
}

/// The AEAD for `kind`, as the build chose it (Cargo.toml features): ring by default, RustCrypto's
/// pure Rust with the `rustcrypto` feature (what the wasm core always uses).
pub fn make_cipher(kind: CipherKind, key: &[u8; 32]) -> Cipher {
    if cfg!(feature = "rustcrypto") {
        Cipher::portable(kind, key)
    } else {
        Cipher::new(kind, key)
    }
}

/// `make_cipher` for a cipher named by JavaScript and a key it passed (`what` names the key in errors).
pub fn keyed_cipher(name: CipherName, key: &[u8], what: &str) -> Result<Cipher> {
    Ok(make_cipher(name.into(), &key32(key, what)?))
}

pub fn key32(bytes: &[u8], what: &str) -> Result<[u8; 32]> {
    bytes.try_into().map_err(|_| error("EINVAL", format!("{what} must be 32 bytes, got {}", bytes.len())))
}

fn nonce16(bytes: &[u8], what: &str) -> Result<[u8; HANDSHAKE_NONCE_LEN]> {
    bytes.try_into().map_err(|_| error("EINVAL", format!("{what} must be 16 bytes, got {}", bytes.len())))
}

fn parse_counter(counter: i64) -> Result<u64> {
    u64::try_from(counter).map_err(|_| error("EINVAL", "counter must not be negative"))
}

/// K = BLAKE2s-256("ttun/psk/v1" || psk)
#[napi]
pub fn psk_key(psk: &[u8]) -> Buffer {
    ttun_proto::psk_key(psk).to_vec().into()
}

/// SK = BLAKE2s-256("ttun/sk/v1" || K || Nc || Ns)
#[napi]
pub fn session_key(psk_key: &[u8], client_nonce: &[u8], server_nonce: &[u8]) -> Result<Buffer> {
    let k = key32(psk_key, "psk key")?;
    let nc = nonce16(client_nonce, "client nonce")?;
    let ns = nonce16(server_nonce, "server nonce")?;
    Ok(ttun_proto::session_key(&k, &nc, &ns).to_vec().into())
}

/// One whole frame (`[u16 BE length][ciphertext || tag]`) carrying `plaintext`.
#[napi]
pub fn seal_frame(
    cipher: CipherName,
    key: &[u8],
    direction: Direction,
    counter: i64,
    plaintext: &[u8],
) -> Result<Buffer> {
    let cipher = keyed_cipher(cipher, key, "key")?;
    let mut sealer = ttun_proto::FrameSealer::new(cipher, direction.into(), parse_counter(counter)?);
    let mut out = Vec::with_capacity(plaintext.len() + ttun_proto::FRAME_OVERHEAD);
    sealer.seal_to_vec(plaintext, &mut out).map_err(from_proto)?;
    Ok(out.into())
}

/// Opens a frame body (`ciphertext || tag`); null when it does not authenticate.
#[napi]
pub fn open_frame(
    cipher: CipherName,
    key: &[u8],
    direction: Direction,
    counter: i64,
    body: &[u8],
) -> Result<Option<Buffer>> {
    let cipher = keyed_cipher(cipher, key, "key")?;
    if body.len() < TAG_LEN {
        return Ok(None);
    }
    let direction: ttun_proto::Direction = direction.into();
    let nonce = frame_nonce(direction as u8, parse_counter(counter)?);
    let (ciphertext, tag) = body.split_at(body.len() - TAG_LEN);
    let mut plaintext = ciphertext.to_vec();
    let tag: &[u8; TAG_LEN] = tag.try_into().expect("split leaves TAG_LEN bytes");
    Ok(cipher.open_in_place(&nonce, &mut plaintext, tag).ok().map(|()| plaintext.into()))
}

/// Whether `packet` is one whole IPv4 or IPv6 packet, the only thing a data frame may carry.
#[napi]
pub fn is_ip_packet(packet: &[u8]) -> bool {
    ttun_proto::is_ip_packet(packet)
}

/// The wire format's fixed sizes by name, and the handshake's magic plaintext: what ttun's
/// TypeScript copy (ts/shared/wire.ts) is generated from and tested against.
#[napi(object)]
pub struct WireConstants {
    pub numbers: std::collections::HashMap<String, f64>,
    pub magic: Buffer,
}

#[napi]
pub fn wire_constants() -> WireConstants {
    WireConstants {
        numbers: ttun_proto::WIRE_NUMBERS.iter().map(|(name, value)| (name.to_string(), *value as f64)).collect(),
        magic: ttun_proto::MAGIC.to_vec().into(),
    }
}
