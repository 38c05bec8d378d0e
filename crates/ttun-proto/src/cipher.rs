//! The two AEADs v1 allows, behind one type, and the frame nonce layout.
//!
//! Two interchangeable implementations: RustCrypto (pure Rust, builds everywhere including
//! wasm32) and, with the `ring` feature, ring (assembly, much faster on small frames). The
//! vector tests run against both.
use aes_gcm::aead::{AeadInOut, KeyInit};
use aes_gcm::Aes256Gcm;
use alloc::boxed::Box;
use chacha20poly1305::ChaCha20Poly1305;

use crate::error::Error;
use crate::wire::TAG_LEN;

/// Which AEAD a session uses. Nothing on the wire names it: both ends must agree out of band.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CipherKind {
    ChaCha20Poly1305,
    Aes256Gcm,
}

impl CipherKind {
    /// Every kind, in the order the CLI lists them (the first is the default).
    pub const ALL: [CipherKind; 2] = [Self::ChaCha20Poly1305, Self::Aes256Gcm];
    /// The names the CLI and the v1 program use, in the order of [`Self::ALL`].
    pub const NAMES: [&'static str; 2] = [Self::ALL[0].name(), Self::ALL[1].name()];

    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|kind| kind.name() == name)
    }

    /// The one place the names are spelled.
    pub const fn name(self) -> &'static str {
        match self {
            Self::ChaCha20Poly1305 => "chacha20-poly1305",
            Self::Aes256Gcm => "aes-256-gcm",
        }
    }

    /// The numbering of the WebAssembly core's C ABI (the order of [`Self::ALL`]).
    pub fn from_index(index: u32) -> Option<Self> {
        Self::ALL.get(usize::try_from(index).ok()?).copied()
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
pub struct Cipher {
    kind: CipherKind,
    backend: Backend,
}

// With ring, the Ring variant (its key with the expanded schedule) is the large one. In such a
// build nearly every Cipher is a Ring one, so boxing it would save no memory and only add an
// indirection to every frame on the path that ships.
#[cfg_attr(feature = "ring", allow(clippy::large_enum_variant))]
#[derive(Clone)]
enum Backend {
    ChaCha20Poly1305(ChaCha20Poly1305),
    /// Boxed: RustCrypto's AES-256-GCM holds its expanded key schedule, many times the size of
    /// the ChaCha20 key, and every Cipher (one per sealer and opener) would carry that much inline
    /// whichever AEAD it is. Following one pointer per frame is nothing beside the AES work.
    Aes256Gcm(Box<Aes256Gcm>),
    #[cfg(feature = "ring")]
    Ring(ring::aead::LessSafeKey),
}

impl Cipher {
    /// The fastest implementation this build has.
    pub fn new(kind: CipherKind, key: &[u8; 32]) -> Self {
        #[cfg(feature = "ring")]
        {
            Self::with_ring(kind, key)
        }
        #[cfg(not(feature = "ring"))]
        {
            Self::portable(kind, key)
        }
    }

    /// The pure-Rust (RustCrypto) implementation, available in every build.
    pub fn portable(kind: CipherKind, key: &[u8; 32]) -> Self {
        let backend = match kind {
            CipherKind::ChaCha20Poly1305 => Backend::ChaCha20Poly1305(ChaCha20Poly1305::new(&(*key).into())),
            CipherKind::Aes256Gcm => Backend::Aes256Gcm(Box::new(Aes256Gcm::new(&(*key).into()))),
        };
        Self { kind, backend }
    }

    #[cfg(feature = "ring")]
    pub fn with_ring(kind: CipherKind, key: &[u8; 32]) -> Self {
        let algorithm = match kind {
            CipherKind::ChaCha20Poly1305 => &ring::aead::CHACHA20_POLY1305,
            CipherKind::Aes256Gcm => &ring::aead::AES_256_GCM,
        };
        let key = ring::aead::UnboundKey::new(algorithm, key).expect("32-byte key fits both algorithms");
        Self { kind, backend: Backend::Ring(ring::aead::LessSafeKey::new(key)) }
    }

    pub fn kind(&self) -> CipherKind {
        self.kind
    }

    /// Encrypts `buffer` in place and returns the tag. No associated data in v1.
    pub fn seal_in_place(&self, nonce: &[u8; 12], buffer: &mut [u8]) -> [u8; TAG_LEN] {
        // Every backend accepts far more than a frame's 64 KiB, so sealing cannot fail.
        const FITS: &str = "AEAD encryption of a frame-sized buffer cannot fail";
        match &self.backend {
            Backend::ChaCha20Poly1305(c) => {
                c.encrypt_inout_detached(&(*nonce).into(), &[], buffer.into()).expect(FITS).into()
            }
            Backend::Aes256Gcm(c) => c.encrypt_inout_detached(&(*nonce).into(), &[], buffer.into()).expect(FITS).into(),
            #[cfg(feature = "ring")]
            Backend::Ring(key) => {
                let nonce = ring::aead::Nonce::assume_unique_for_key(*nonce);
                let tag = key.seal_in_place_separate_tag(nonce, ring::aead::Aad::empty(), buffer).expect(FITS);
                tag.as_ref().try_into().expect("ring tags are 16 bytes")
            }
        }
    }

    /// Verifies `tag` and decrypts `buffer` in place. On failure the buffer content is unspecified.
    pub fn open_in_place(&self, nonce: &[u8; 12], buffer: &mut [u8], tag: &[u8; TAG_LEN]) -> Result<(), Error> {
        match &self.backend {
            Backend::ChaCha20Poly1305(c) => {
                c.decrypt_inout_detached(&(*nonce).into(), &[], buffer.into(), &(*tag).into())
            }
            Backend::Aes256Gcm(c) => c.decrypt_inout_detached(&(*nonce).into(), &[], buffer.into(), &(*tag).into()),
            #[cfg(feature = "ring")]
            Backend::Ring(key) => {
                let nonce = ring::aead::Nonce::assume_unique_for_key(*nonce);
                let tag = ring::aead::Tag::try_from(&tag[..]).map_err(|_| Error::BadTag)?;
                return key
                    .open_in_place_separate_tag(nonce, ring::aead::Aad::empty(), tag, buffer, 0..)
                    .map(|_| ())
                    .map_err(|_| Error::BadTag);
            }
        }
        .map_err(|_| Error::BadTag)
    }
}

#[cfg(test)]
mod tests {
    use super::CipherKind;

    #[test]
    fn names_and_indices_round_trip_and_nothing_else_parses() {
        for (index, kind) in CipherKind::ALL.into_iter().enumerate() {
            assert_eq!(CipherKind::from_name(kind.name()), Some(kind));
            assert_eq!(CipherKind::NAMES[index], kind.name());
            assert_eq!(CipherKind::from_index(index as u32), Some(kind));
        }
        assert_eq!(CipherKind::NAMES, ["chacha20-poly1305", "aes-256-gcm"]);
        assert_eq!(CipherKind::from_name("AES-256-GCM"), None);
        assert_eq!(CipherKind::from_index(2), None);
    }
}
