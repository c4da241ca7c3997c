//! Credentials at rest: AES-256-GCM with a fresh random nonce per ciphertext and
//! associated data binding each ciphertext to its row and column, so a value
//! copied to another row does not decrypt. A key id is stored beside each
//! ciphertext so keys can be rotated (issue #4 adds the rotation command).

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use rand::RngCore;
use sha2::{Digest, Sha256};

const NONCE_LEN: usize = 12;

/// The keys for sealing credentials: the current one seals, any of them opens
/// (so ciphertexts under a previous key still open while they are re-encrypted).
#[derive(Clone)]
pub(crate) struct Sealer {
    cipher: Aes256Gcm,
    key_id: String,
    previous: Vec<(String, Aes256Gcm)>,
}

#[derive(Debug, thiserror::Error)]
pub enum CryptoError {
    #[error("ciphertext was sealed with key {0}, which is not configured")]
    UnknownKey(String),
    #[error("ciphertext is corrupt or bound to another row")]
    Corrupt,
}

impl std::fmt::Debug for Sealer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sealer").field("key_id", &self.key_id).finish_non_exhaustive()
    }
}

/// A key's id is a fingerprint, not the key: the first 8 bytes of its SHA-256.
fn key_id(key: &[u8; 32]) -> String {
    hex::encode(&Sha256::digest(key)[..8])
}

impl Sealer {
    pub(crate) fn new(key: [u8; 32]) -> Self {
        Sealer { cipher: Aes256Gcm::new(&key.into()), key_id: key_id(&key), previous: Vec::new() }
    }

    /// Adds keys that may still open older ciphertexts.
    pub(crate) fn with_previous(mut self, keys: impl IntoIterator<Item = [u8; 32]>) -> Self {
        self.previous.extend(keys.into_iter().map(|k| (key_id(&k), Aes256Gcm::new(&k.into()))));
        self
    }

    pub(crate) fn key_id(&self) -> &str {
        &self.key_id
    }

    /// Encrypts `plaintext` for the place named by `aad` (e.g. `users/<id>/credential`).
    pub(crate) fn seal(&self, aad: &str, plaintext: &[u8]) -> Vec<u8> {
        let mut nonce = [0u8; NONCE_LEN];
        rand::rng().fill_bytes(&mut nonce);
        let ct = self
            .cipher
            .encrypt(&Nonce::from(nonce), Payload { msg: plaintext, aad: aad.as_bytes() })
            .expect("AES-GCM encryption cannot fail for in-memory buffers");
        let mut out = Vec::with_capacity(NONCE_LEN + ct.len());
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&ct);
        out
    }

    pub(crate) fn open(&self, key_id: &str, aad: &str, sealed: &[u8]) -> Result<Vec<u8>, CryptoError> {
        let cipher = if key_id == self.key_id {
            &self.cipher
        } else {
            &self
                .previous
                .iter()
                .find(|(id, _)| id == key_id)
                .ok_or_else(|| CryptoError::UnknownKey(key_id.to_owned()))?
                .1
        };
        if sealed.len() < NONCE_LEN {
            return Err(CryptoError::Corrupt);
        }
        let (nonce, ct) = sealed.split_at(NONCE_LEN);
        let nonce: [u8; NONCE_LEN] = nonce.try_into().map_err(|_| CryptoError::Corrupt)?;
        cipher.decrypt(&Nonce::from(nonce), Payload { msg: ct, aad: aad.as_bytes() }).map_err(|_| CryptoError::Corrupt)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_with_fresh_nonces() {
        let s = Sealer::new([7; 32]);
        let a = s.seal("users/u1/credential", b"secret-key");
        let b = s.seal("users/u1/credential", b"secret-key");
        assert_ne!(a, b, "each seal uses a fresh nonce");
        assert!(!a.windows(10).any(|w| w == b"secret-key"));
        assert_eq!(s.open(s.key_id(), "users/u1/credential", &a).unwrap(), b"secret-key");
    }

    #[test]
    fn previous_keys_open_old_ciphertexts() {
        let old = Sealer::new([1; 32]);
        let sealed = old.seal("users/u/credential", b"k");
        let new = Sealer::new([2; 32]);
        assert!(matches!(new.open(old.key_id(), "users/u/credential", &sealed), Err(CryptoError::UnknownKey(_))));
        let ring = Sealer::new([2; 32]).with_previous([[1; 32]]);
        assert_eq!(ring.open(old.key_id(), "users/u/credential", &sealed).unwrap(), b"k");
    }

    #[test]
    fn a_ciphertext_moved_to_another_row_does_not_open() {
        let s = Sealer::new([7; 32]);
        let a = s.seal("users/u1/credential", b"secret-key");
        assert!(matches!(s.open(s.key_id(), "users/u2/credential", &a), Err(CryptoError::Corrupt)));
        assert!(matches!(s.open("other", "users/u1/credential", &a), Err(CryptoError::UnknownKey(_))));
    }
}
