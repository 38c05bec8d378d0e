//! The v1 key schedule: one long-term key from the PSK, one session key per connection.
use blake2::{Blake2s256, Digest};

use crate::wire::HANDSHAKE_NONCE_LEN;

const PSK_LABEL: &[u8] = b"ttun/psk/v1";
const SESSION_LABEL: &[u8] = b"ttun/sk/v1";

/// `K = BLAKE2s-256("ttun/psk/v1" || psk)`, psk being the raw bytes of the key string.
pub fn psk_key(psk: &[u8]) -> [u8; 32] {
    Blake2s256::new().chain_update(PSK_LABEL).chain_update(psk).finalize().into()
}

/// `SK = BLAKE2s-256("ttun/sk/v1" || K || Nc || Ns)`: one key for both directions, the
/// direction byte of the frame nonce keeps the two flows apart.
pub fn session_key(
    k: &[u8; 32],
    client_nonce: &[u8; HANDSHAKE_NONCE_LEN],
    server_nonce: &[u8; HANDSHAKE_NONCE_LEN],
) -> [u8; 32] {
    Blake2s256::new()
        .chain_update(SESSION_LABEL)
        .chain_update(k)
        .chain_update(client_nonce)
        .chain_update(server_nonce)
        .finalize()
        .into()
}
