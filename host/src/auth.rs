//! The jwtToken: HS256 only, `exp` required, payload `{id, platform, iat, exp}`
//! with `id = "<crmUserId>-<platform>"`, signed with `APP_SERVER_SECRET_KEY`.
//!
//! A login's token also names its server-side session (`sid`): such a token
//! lives as long as the session does (`store::sessions`, checked by
//! `api::session`) and its `exp` is only the session's longest lifetime.
//! A token without `sid` (issued before sessions existed) lives two weeks; a
//! request made with one that has seven days or less left receives a fresh
//! one in `X-Refreshed-JWT-Token`.

use crate::clock::now_secs;
use crate::secret::constant_time_eq;
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

pub(crate) const TOKEN_LIFETIME_SECS: i64 = 14 * 24 * 3600;
pub(crate) const REFRESH_WHEN_LEFT_SECS: i64 = 7 * 24 * 3600;
pub(crate) const REFRESHED_TOKEN_HEADER: &str = "x-refreshed-jwt-token";

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub(crate) struct Claims {
    pub(crate) id: String,
    pub(crate) platform: String,
    pub(crate) iat: i64,
    pub(crate) exp: i64,
    /// The session this token names; absent on tokens from before sessions.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) sid: Option<String>,
}

/// Why a jwtToken was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum JwtError {
    #[error("the jwtToken has expired: log in again")]
    Expired,
    #[error("the jwtToken has no `{0}` claim")]
    MissingClaim(String),
    #[error("the jwtToken must be signed with HS256")]
    WrongAlgorithm,
    #[error("the jwtToken is not valid")]
    Invalid,
}

#[derive(Clone)]
pub(crate) struct JwtKeys {
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
    verified: Arc<Verified>,
}

/// Tokens this process has verified, so that a client's every request does
/// not decode and HMAC its token again (~4 % of a `GET /contact`'s host CPU,
/// perf). Keyed by the signature segment; a hit needs the whole token equal,
/// compared in constant time, and is checked for expiry as a decode would be.
/// A token is no less valid for having been seen: what ends a session before
/// `exp` (logout, revocation) is checked after this, on every request.
#[derive(Default)]
struct Verified {
    by_signature: Mutex<HashMap<Box<str>, Remembered>>,
}

struct Remembered {
    token: Box<str>,
    claims: Claims,
}

/// Past this many tokens the cache starts over (one entry per live client).
const MAX_VERIFIED: usize = 10_000;

impl Verified {
    fn get(&self, token: &str) -> Option<Claims> {
        let tokens = self.by_signature.lock().unwrap_or_else(|p| p.into_inner());
        let seen = tokens.get(signature_of(token))?;
        constant_time_eq(seen.token.as_bytes(), token.as_bytes()).then(|| seen.claims.clone())
    }

    fn insert(&self, token: &str, claims: &Claims) {
        let mut tokens = self.by_signature.lock().unwrap_or_else(|p| p.into_inner());
        if tokens.len() >= MAX_VERIFIED {
            tokens.clear();
        }
        tokens.insert(signature_of(token).into(), Remembered { token: token.into(), claims: claims.clone() });
    }

    fn forget(&self, token: &str) {
        self.by_signature.lock().unwrap_or_else(|p| p.into_inner()).remove(signature_of(token));
    }
}

fn signature_of(token: &str) -> &str {
    token.rsplit_once('.').map_or(token, |(_, signature)| signature)
}

impl JwtKeys {
    pub(crate) fn new(secret: &str) -> Self {
        let mut validation = Validation::new(Algorithm::HS256);
        validation.algorithms = vec![Algorithm::HS256];
        validation.set_required_spec_claims(&["exp"]);
        validation.leeway = 0;
        JwtKeys {
            encoding: EncodingKey::from_secret(secret.as_bytes()),
            decoding: DecodingKey::from_secret(secret.as_bytes()),
            validation,
            verified: Arc::default(),
        }
    }

    /// A token for a session (`sid`) that can last `lifetime_secs` at most.
    pub(crate) fn issue_session(&self, user_id: &str, platform: &str, sid: &str, lifetime_secs: i64) -> String {
        let iat = now_secs();
        self.sign(&Claims {
            id: user_id.to_owned(),
            platform: platform.to_owned(),
            iat,
            exp: iat + lifetime_secs,
            sid: Some(sid.to_owned()),
        })
    }

    /// A session-less two-week token (the renewal of a token from before sessions).
    fn issue_legacy(&self, user_id: &str, platform: &str) -> String {
        let iat = now_secs();
        self.sign(&Claims {
            id: user_id.to_owned(),
            platform: platform.to_owned(),
            iat,
            exp: iat + TOKEN_LIFETIME_SECS,
            sid: None,
        })
    }

    fn sign(&self, claims: &Claims) -> String {
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), claims, &self.encoding)
            .expect("HS256 signing of a small payload cannot fail")
    }

    /// Verifies signature, algorithm and expiry; the error says which failed.
    pub(crate) fn verify(&self, token: &str) -> Result<Claims, JwtError> {
        if let Some(claims) = self.verified.get(token) {
            // As `jsonwebtoken` decides with no leeway: expired once `exp` is past.
            if claims.exp >= now_secs() {
                return Ok(claims);
            }
            self.verified.forget(token);
        }
        let claims = jsonwebtoken::decode::<Claims>(token, &self.decoding, &self.validation)
            .map(|d| d.claims)
            .map_err(|e| match e.kind() {
                ErrorKind::ExpiredSignature => JwtError::Expired,
                ErrorKind::MissingRequiredClaim(c) => JwtError::MissingClaim(c.clone()),
                ErrorKind::InvalidAlgorithm => JwtError::WrongAlgorithm,
                _ => JwtError::Invalid,
            })?;
        self.verified.insert(token, &claims);
        Ok(claims)
    }

    /// A fresh token when this session-less one has seven days or less left.
    pub(crate) fn refreshed(&self, claims: &Claims) -> Option<String> {
        (claims.sid.is_none() && claims.exp - now_secs() <= REFRESH_WHEN_LEFT_SECS)
            .then(|| self.issue_legacy(&claims.id, &claims.platform))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn issued_tokens_verify_and_are_not_refreshed_early() {
        let k = JwtKeys::new(&"s".repeat(32));
        let t = k.issue_legacy("42-testcrm", "testcrm");
        let c = k.verify(&t).unwrap();
        assert_eq!((c.id.as_str(), c.platform.as_str()), ("42-testcrm", "testcrm"));
        assert_eq!(c.exp - c.iat, TOKEN_LIFETIME_SECS);
        assert!(k.refreshed(&c).is_none());
        let old = Claims { exp: now_secs() + 3600, ..c };
        assert!(k.refreshed(&old).is_some());
        // A session's token is never renewed by header: its session is.
        let s = k.verify(&k.issue_session("42-testcrm", "testcrm", "abc", 3600)).unwrap();
        assert_eq!(s.sid.as_deref(), Some("abc"));
        assert!(k.refreshed(&s).is_none());
    }

    #[test]
    fn a_token_signed_with_another_secret_is_refused() {
        let t = JwtKeys::new(&"a".repeat(32)).issue_legacy("1-x", "x");
        let e = JwtKeys::new(&"b".repeat(32)).verify(&t).unwrap_err();
        assert_eq!(e, JwtError::Invalid);
    }

    #[test]
    fn a_verified_token_is_remembered_but_a_tampered_copy_of_it_is_not() {
        use base64::Engine;
        let k = JwtKeys::new(&"s".repeat(32));
        let t = k.issue_session("42-testcrm", "testcrm", "abc", 3600);
        let first = k.verify(&t).unwrap();
        assert_eq!(k.verified.get(&t), Some(first.clone()), "remembered");
        assert_eq!(k.verify(&t).unwrap(), first, "the remembered claims are the decoded ones");
        // The same signature over another payload: refused, remembered or not.
        let (_, payload, signature) = {
            let mut parts = t.split('.');
            (parts.next().unwrap(), parts.next().unwrap(), parts.next().unwrap())
        };
        let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
        let forged_claims =
            String::from_utf8(b64.decode(payload).unwrap()).unwrap().replace("42-testcrm", "43-testcrm");
        let forged = format!("{}.{}.{signature}", t.split('.').next().unwrap(), b64.encode(forged_claims));
        assert_eq!(k.verify(&forged).unwrap_err(), JwtError::Invalid);
        assert_eq!(k.verify(&t).unwrap(), first, "the real token still passes");
        // A clone (the app state's) shares what was verified.
        assert_eq!(k.clone().verify(&t).unwrap(), first);
    }

    #[test]
    fn a_remembered_token_past_its_exp_is_refused_as_expired() {
        let k = JwtKeys::new(&"s".repeat(32));
        let now = now_secs();
        let claims =
            Claims { id: "42-testcrm".into(), platform: "testcrm".into(), iat: now - 60, exp: now - 1, sid: None };
        let t = k.sign(&claims);
        // Remembered while it was valid; its `exp` has passed since.
        k.verified.insert(&t, &claims);
        assert_eq!(k.verify(&t).unwrap_err(), JwtError::Expired);
        assert!(k.verified.get(&t).is_none(), "forgotten");
    }
}
