//! The jwtToken: HS256 only, `exp` required, payload `{id, platform, iat, exp}`
//! with `id = "<crmUserId>-<platform>"`, signed with `APP_SERVER_SECRET_KEY`.
//! Tokens live two weeks; a request made with a token that has seven days or
//! less left receives a fresh one in `X-Refreshed-JWT-Token`.

use crate::error::{ApiError, code};
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};
use std::time::{SystemTime, UNIX_EPOCH};

pub const TOKEN_LIFETIME_SECS: i64 = 14 * 24 * 3600;
pub const REFRESH_WHEN_LEFT_SECS: i64 = 7 * 24 * 3600;
pub const REFRESHED_TOKEN_HEADER: &str = "x-refreshed-jwt-token";

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Claims {
    pub id: String,
    pub platform: String,
    pub iat: i64,
    pub exp: i64,
}

#[derive(Clone)]
pub struct JwtKeys {
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
}

pub fn now_secs() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs() as i64).unwrap_or(0)
}

impl JwtKeys {
    pub fn new(secret: &str) -> Self {
        let mut validation = Validation::new(Algorithm::HS256);
        validation.algorithms = vec![Algorithm::HS256];
        validation.set_required_spec_claims(&["exp"]);
        validation.leeway = 0;
        JwtKeys {
            encoding: EncodingKey::from_secret(secret.as_bytes()),
            decoding: DecodingKey::from_secret(secret.as_bytes()),
            validation,
        }
    }

    pub fn issue(&self, user_id: &str, platform: &str) -> String {
        let iat = now_secs();
        let claims =
            Claims { id: user_id.to_owned(), platform: platform.to_owned(), iat, exp: iat + TOKEN_LIFETIME_SECS };
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &self.encoding)
            .expect("HS256 signing of a small payload cannot fail")
    }

    /// Verifies signature, algorithm and expiry; the error says which failed.
    pub fn verify(&self, token: &str) -> Result<Claims, ApiError> {
        match jsonwebtoken::decode::<Claims>(token, &self.decoding, &self.validation) {
            Ok(data) => Ok(data.claims),
            Err(e) => Err(match e.kind() {
                ErrorKind::ExpiredSignature => {
                    ApiError::unauthorized(code::TOKEN_EXPIRED, "the jwtToken has expired: log in again")
                }
                ErrorKind::MissingRequiredClaim(c) => {
                    ApiError::unauthorized(code::INVALID_TOKEN, format!("the jwtToken has no `{c}` claim"))
                }
                ErrorKind::InvalidAlgorithm => {
                    ApiError::unauthorized(code::INVALID_TOKEN, "the jwtToken must be signed with HS256")
                }
                _ => ApiError::unauthorized(code::INVALID_TOKEN, "the jwtToken is not valid"),
            }),
        }
    }

    /// A fresh token when this one has seven days or less left.
    pub fn refreshed(&self, claims: &Claims) -> Option<String> {
        (claims.exp - now_secs() <= REFRESH_WHEN_LEFT_SECS).then(|| self.issue(&claims.id, &claims.platform))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn issued_tokens_verify_and_are_not_refreshed_early() {
        let k = JwtKeys::new(&"s".repeat(32));
        let t = k.issue("42-testcrm", "testcrm");
        let c = k.verify(&t).unwrap();
        assert_eq!((c.id.as_str(), c.platform.as_str()), ("42-testcrm", "testcrm"));
        assert_eq!(c.exp - c.iat, TOKEN_LIFETIME_SECS);
        assert!(k.refreshed(&c).is_none());
        let old = Claims { exp: now_secs() + 3600, ..c };
        assert!(k.refreshed(&old).is_some());
    }

    #[test]
    fn a_token_signed_with_another_secret_is_refused() {
        let t = JwtKeys::new(&"a".repeat(32)).issue("1-x", "x");
        let e = JwtKeys::new(&"b".repeat(32)).verify(&t).unwrap_err();
        assert_eq!(e.code, code::INVALID_TOKEN);
    }
}
