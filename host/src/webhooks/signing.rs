//! Standard Webhooks 1.0 signatures: every delivery carries `webhook-id`,
//! `webhook-timestamp` (unix seconds) and `webhook-signature`, a
//! space-separated list of `v1,<base64 HMAC-SHA256 of "id.timestamp.body">`,
//! one per secret that signs (two while a rotated secret overlaps).
//!
//! A secret is `whsec_` + base64 of 32 random bytes; the HMAC key is those
//! bytes (the base64 decoded), as the specification and its libraries read it.

use crate::secret::Secret;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, Mac};
use sha2::Sha256;

const PREFIX: &str = "whsec_";

/// A new signing secret, shown to its owner once.
pub(crate) fn new_secret() -> Secret {
    use rand::RngCore;
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    Secret::new(format!("{PREFIX}{}", STANDARD.encode(bytes)))
}

/// The `webhook-signature` value for a message signed by each of `secrets`.
/// A secret that is not `whsec_<base64>` signs nothing (the host generates
/// every secret, so that is a stored value gone bad, logged by the caller).
pub(crate) fn signature_header(secrets: &[&Secret], id: &str, timestamp: i64, body: &[u8]) -> String {
    let mut out = Vec::with_capacity(secrets.len());
    for secret in secrets {
        if let Some(key) = key_of(secret) {
            let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&key).expect("HMAC takes a key of any length");
            mac.update(id.as_bytes());
            mac.update(b".");
            mac.update(timestamp.to_string().as_bytes());
            mac.update(b".");
            mac.update(body);
            out.push(format!("v1,{}", STANDARD.encode(mac.finalize().into_bytes())));
        }
    }
    out.join(" ")
}

fn key_of(secret: &Secret) -> Option<Vec<u8>> {
    STANDARD.decode(secret.expose().strip_prefix(PREFIX)?).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signs_as_the_specification_example() {
        // The worked example of Svix's manual verification guide (Standard Webhooks' origin).
        let secret = Secret::new("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw");
        let header =
            signature_header(&[&secret], "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, br#"{"test": 2432232314}"#);
        assert_eq!(header, "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=");
    }

    #[test]
    fn a_rotation_signs_with_both_secrets_and_new_secrets_differ() {
        let (a, b) = (new_secret(), new_secret());
        assert!(a.expose().starts_with("whsec_") && a != b);
        assert_eq!(key_of(&a).map(|k| k.len()), Some(32));
        let both = signature_header(&[&a, &b], "msg_1", 1, b"{}");
        let parts: Vec<&str> = both.split(' ').collect();
        assert_eq!(parts.len(), 2);
        assert_eq!(parts[0], signature_header(&[&a], "msg_1", 1, b"{}"));
        assert_eq!(parts[1], signature_header(&[&b], "msg_1", 1, b"{}"));
        assert_ne!(parts[0], signature_header(&[&a], "msg_1", 2, b"{}"), "the timestamp is signed");
    }
}
