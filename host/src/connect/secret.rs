//! The connect secret: a JWT a workspace's backend signs with one of the
//! workspace's RSA keys. Accepted only when
//! - its header says `alg: RS256` (never `none`, never HS256: a public key is
//!   not a shared secret) and names a `kid` of an unrevoked workspace key;
//! - the signature verifies with that key;
//! - it has `exp` (not passed), `iat` (not ahead of the clock), and lives at
//!   most [`MAX_LIFETIME_SECS`];
//! - it has a `jti` never seen before for the workspace (single use, across
//!   replicas: the store remembers it until `exp`);
//! - `workspace_id` is the key's workspace, `customer_id` letters and digits.

use crate::clock::now_secs;
use crate::store::{Store, StoreError};
use base64::Engine;
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::Deserialize;

/// The longest a secret may live (`exp - iat`): it is made for one connect.
pub(crate) const MAX_LIFETIME_SECS: i64 = 10 * 60;
/// Clock skew allowed between the workspace's backend and this host.
pub(crate) const LEEWAY_SECS: u64 = 30;

/// Why a secret was refused; each has a stable code (see `code`).
#[derive(Debug, thiserror::Error)]
pub(crate) enum SecretError {
    #[error("the secret is not a JWT")]
    Malformed,
    #[error("the secret is signed with {0:?}; only RS256 is accepted")]
    Algorithm(String),
    #[error("the secret's kid {0:?} is not an active key of any workspace")]
    UnknownKey(String),
    #[error("the secret's signature does not verify with its key")]
    BadSignature,
    #[error("the secret has expired")]
    Expired,
    #[error("the secret has no {0:?} claim")]
    MissingClaim(String),
    #[error("the secret lives {0} s; at most {MAX_LIFETIME_SECS} s (exp - iat)")]
    LifetimeTooLong(i64),
    #[error("the secret was issued in the future (iat)")]
    IssuedInFuture,
    #[error("the secret was used already (jti)")]
    Replayed,
    #[error("the secret's workspace_id is not the workspace of its key")]
    WrongWorkspace,
    #[error("customer_id must be 1 to 64 letters and digits")]
    InvalidCustomerId,
    #[error("the integration {0:?} is not one of this customer's")]
    ForeignIntegration(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl SecretError {
    pub(crate) fn code(&self) -> &'static str {
        match self {
            SecretError::Malformed => "SECRET_MALFORMED",
            SecretError::Algorithm(_) => "SECRET_ALGORITHM",
            SecretError::UnknownKey(_) => "SECRET_UNKNOWN_KEY",
            SecretError::BadSignature => "SECRET_BAD_SIGNATURE",
            SecretError::Expired => "SECRET_EXPIRED",
            SecretError::MissingClaim(_) => "SECRET_MISSING_CLAIM",
            SecretError::LifetimeTooLong(_) => "SECRET_LIFETIME_TOO_LONG",
            SecretError::IssuedInFuture => "SECRET_ISSUED_IN_FUTURE",
            SecretError::Replayed => "SECRET_REPLAYED",
            SecretError::WrongWorkspace => "SECRET_WRONG_WORKSPACE",
            SecretError::InvalidCustomerId => "INVALID_CUSTOMER_ID",
            SecretError::ForeignIntegration(_) => "INTEGRATION_NOT_FOUND",
            SecretError::Store(_) => "INTERNAL_ERROR",
        }
    }
}

/// What a verified secret says.
#[derive(Debug, Clone, Deserialize)]
pub(crate) struct SecretClaims {
    pub(crate) workspace_id: String,
    pub(crate) customer_id: String,
    #[serde(default)]
    pub(crate) name: Option<String>,
    #[serde(default)]
    pub(crate) integration_id: Option<String>,
    pub(crate) jti: String,
    pub(crate) iat: i64,
    pub(crate) exp: i64,
}

#[derive(Deserialize)]
struct RawHeader {
    alg: Option<String>,
    kid: Option<String>,
}

/// Verifies a secret and records its single use.
pub(crate) async fn verify(store: &Store, secret: &str) -> Result<SecretClaims, SecretError> {
    let header = raw_header(secret)?;
    let alg = header.alg.unwrap_or_default();
    if alg != "RS256" {
        return Err(SecretError::Algorithm(alg));
    }
    let kid = header.kid.ok_or_else(|| SecretError::MissingClaim("kid (header)".into()))?;
    let key = store.signing_key(&kid).await?.filter(|k| k.revoked_at.is_none());
    let key = key.ok_or_else(|| SecretError::UnknownKey(kid.clone()))?;
    let decoding =
        DecodingKey::from_rsa_pem(key.public_key_pem.as_bytes()).map_err(|_| SecretError::UnknownKey(kid))?;

    let mut validation = Validation::new(Algorithm::RS256);
    validation.leeway = LEEWAY_SECS;
    validation.validate_aud = false;
    validation.set_required_spec_claims(&["exp"]);
    let claims = match jsonwebtoken::decode::<serde_json::Value>(secret, &decoding, &validation) {
        Ok(data) => data.claims,
        Err(e) => {
            return Err(match e.kind() {
                ErrorKind::ExpiredSignature => SecretError::Expired,
                ErrorKind::InvalidSignature => SecretError::BadSignature,
                ErrorKind::MissingRequiredClaim(c) => SecretError::MissingClaim(c.clone()),
                ErrorKind::ImmatureSignature => SecretError::IssuedInFuture,
                _ => SecretError::Malformed,
            });
        }
    };
    for claim in ["workspace_id", "customer_id", "jti"] {
        if claims.get(claim).is_none_or(|v| v.as_str().is_none_or(str::is_empty)) {
            return Err(SecretError::MissingClaim(claim.into()));
        }
    }
    if !claims.get("iat").is_some_and(serde_json::Value::is_i64) {
        return Err(SecretError::MissingClaim("iat".into()));
    }
    let claims: SecretClaims = serde_json::from_value(claims).map_err(|_| SecretError::Malformed)?;
    if claims.exp - claims.iat > MAX_LIFETIME_SECS {
        return Err(SecretError::LifetimeTooLong(claims.exp - claims.iat));
    }
    if claims.iat > now_secs() + LEEWAY_SECS as i64 {
        return Err(SecretError::IssuedInFuture);
    }
    if claims.workspace_id != key.workspace_id {
        return Err(SecretError::WrongWorkspace);
    }
    if !valid_customer_id(&claims.customer_id) {
        return Err(SecretError::InvalidCustomerId);
    }
    if claims.jti.is_empty() || claims.jti.len() > 200 {
        return Err(SecretError::MissingClaim("jti".into()));
    }
    // Last: only a secret that passed every check uses up its jti.
    if !store.use_secret_once(&claims.workspace_id, &claims.jti, claims.exp + LEEWAY_SECS as i64).await? {
        return Err(SecretError::Replayed);
    }
    Ok(claims)
}

/// A customer id: 1 to 64 ASCII letters and digits.
pub(crate) fn valid_customer_id(id: &str) -> bool {
    (1..=64).contains(&id.len()) && id.chars().all(|c| c.is_ascii_alphanumeric())
}

/// The JOSE header, read without trusting it (to refuse `none` and HS256
/// by name before any key is chosen).
fn raw_header(secret: &str) -> Result<RawHeader, SecretError> {
    let mut parts = secret.trim().split('.');
    let (Some(header), Some(_), Some(_), None) = (parts.next(), parts.next(), parts.next(), parts.next()) else {
        return Err(SecretError::Malformed);
    };
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(header).map_err(|_| SecretError::Malformed)?;
    serde_json::from_slice(&bytes).map_err(|_| SecretError::Malformed)
}
