//! A secret held in memory (an API key, an access or refresh token, a PKCE
//! verifier): it never prints, so it cannot reach a log line or an error by
//! accident, and it is compared in constant time.

/// A secret string; `Debug` shows `Secret(***)`.
#[derive(Clone)]
pub struct Secret(String);

impl Secret {
    pub fn new(s: impl Into<String>) -> Self {
        Secret(s.into())
    }

    /// The plaintext, for the one place that must send or seal it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(***)")
    }
}

impl PartialEq for Secret {
    fn eq(&self, other: &Self) -> bool {
        constant_time_eq(self.0.as_bytes(), other.0.as_bytes())
    }
}

impl Eq for Secret {}

/// Compares in time independent of where the inputs differ (their lengths
/// are not secret).
pub(crate) fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    constant_time_eq::constant_time_eq(a, b)
}

/// A new bearer token: `prefix` + 256 random bits, base64url. Stored only as
/// its [`token_hash`] (no slow hash needed for that much randomness).
pub(crate) fn random_token(prefix: &str) -> Secret {
    use base64::Engine;
    use rand::RngCore;
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    Secret(format!("{prefix}{}", base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)))
}

/// What a bearer token is stored and found by: hex SHA-256.
pub(crate) fn token_hash(token: &str) -> String {
    use sha2::{Digest, Sha256};
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// A new public id: `prefix` + 64 random bits in hex (names a row, proves nothing).
pub(crate) fn random_id(prefix: &str) -> String {
    use rand::RngCore;
    let mut bytes = [0u8; 8];
    rand::rng().fill_bytes(&mut bytes);
    format!("{prefix}{}", hex::encode(bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_never_print_and_compare_whole() {
        let s = Secret::new("hunter2");
        assert_eq!(format!("{s:?}"), "Secret(***)");
        assert_eq!(s, Secret::new("hunter2"));
        assert_ne!(s, Secret::new("hunter3"));
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"abcd"));
        // A jwtToken's length, differing only at one end or the other.
        let token = "e".repeat(301);
        let (first, last) = (format!("f{}", &token[1..]), format!("{}f", &token[..300]));
        assert!(constant_time_eq(token.as_bytes(), token.clone().as_bytes()));
        assert!(!constant_time_eq(token.as_bytes(), first.as_bytes()));
        assert!(!constant_time_eq(token.as_bytes(), last.as_bytes()));
    }
}
