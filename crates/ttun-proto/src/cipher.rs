//! The two AEADs v1 allows, behind one type, and the frame nonce layout.
use aes_gcm::aead::{AeadInOut, KeyInit};
use aes_gcm::Aes256Gcm;
use chacha20poly1305::ChaCha20Poly1305;

use crate::{Error, TAG_LEN};

/// Which AEAD a session uses. Nothing on the wire names it: both ends must agree out of band.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CipherKind {
    ChaCha20Poly1305,
    Aes256Gcm,
}

impl CipherKind {
    /// The names the CLI and the v1 program use.
    pub const NAMES: [&'static str; 2] = ["chacha20-poly1305", "aes-256-gcm"];

    pub fn from_name(name: &str) -> Option<Self> {
        match name {
            "chacha20-poly1305" => Some(Self::ChaCha20Poly1305),
            "aes-256-gcm" => Some(Self::Aes256Gcm),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Self::ChaCha20Poly1305 => "chacha20-poly1305",
            Self::Aes256Gcm => "aes-256-gcm",
        }
    }
}

/// 12-byte frame nonce: `dir (1) || 00 00 00 || counter (u64 BE)`.
pub fn frame_nonce(direction: u8, counter: u64) -> [u8; 12] {
    let mut nonce = [0u8; 12];
    nonce[0] = direction;
    nonce[4..].copy_from_slice(&counter.to_be_bytes());
    nonce
}

/// A keyed AEAD of either kind. Enum dispatch keeps the hot loop free of trait objects.
#[derive(Clone)]
pub enum Cipher {
    ChaCha20Poly1305(ChaCha20Poly1305),
    Aes256Gcm(Aes256Gcm),
}

impl Cipher {
    pub fn new(kind: CipherKind, key: &[u8; 32]) -> Self {
        match kind {
            CipherKind::ChaCha20Poly1305 => Cipher::ChaCha20Poly1305(ChaCha20Poly1305::new(&(*key).into())),
            CipherKind::Aes256Gcm => Cipher::Aes256Gcm(Aes256Gcm::new(&(*key).into())),
        }
    }

    pub fn kind(&self) -> CipherKind {
        match self {
            Cipher::ChaCha20Poly1305(_) => CipherKind::ChaCha20Poly1305,
            Cipher::Aes256Gcm(_) => CipherKind::Aes256Gcm,
        }
    }

    /// Encrypts `buffer` in place and returns the tag. No associated data in v1.
    pub fn seal_in_place(&self, nonce: &[u8; 12], buffer: &mut [u8]) -> [u8; TAG_LEN] {
        let nonce = (*nonce).into();
        // Both ciphers accept any length up to gigabytes; a frame is at most 64 KiB, so this cannot fail.
        let tag = match self {
            Cipher::ChaCha20Poly1305(c) => c.encrypt_inout_detached(&nonce, &[], buffer.into()),
            Cipher::Aes256Gcm(c) => c.encrypt_inout_detached(&nonce, &[], buffer.into()),
        }
        .expect("AEAD encryption of a frame-sized buffer cannot fail");
        tag.into()
    }

    /// Verifies `tag` and decrypts `buffer` in place. On failure the buffer content is unspecified.
    pub fn open_in_place(&self, nonce: &[u8; 12], buffer: &mut [u8], tag: &[u8; TAG_LEN]) -> Result<(), Error> {
        let nonce = (*nonce).into();
        let tag = (*tag).into();
        match self {
            Cipher::ChaCha20Poly1305(c) => c.decrypt_inout_detached(&nonce, &[], buffer.into(), &tag),
            Cipher::Aes256Gcm(c) => c.decrypt_inout_detached(&nonce, &[], buffer.into(), &tag),
        }
        .map_err(|_| Error::BadTag)
    }
}
