//! Workspaces: the SaaS products that connect their customers' CRMs through
//! the Connect platform. Each has
//! - backend **API keys** (`sbk_…`, 256 random bits): shown once when issued,
//!   kept as a SHA-256 hash, several at a time, revocable;
//! - the **origins** its frontend runs on (for the connect page and widget);
//! - **signing keys**: RS256 public keys, by `kid`, that its backend signs
//!   connect secrets with. `create` generates a pair and hands out the private
//!   key once (the platform keeps only the public half); a workspace can also
//!   bring its own public keys, several at once, to rotate.

pub mod cli;
pub mod dev;
pub(crate) mod json;

use crate::clock::now_secs;
use crate::secret::{Secret, random_id, random_token, token_hash};
use crate::store::{ApiKeyRow, SigningKey, Store, StoreError, WidgetToken, Workspace};
use rsa::pkcs1::DecodeRsaPublicKey;
use rsa::pkcs8::{DecodePublicKey, EncodePrivateKey, EncodePublicKey, LineEnding};
use rsa::traits::PublicKeyParts;

/// The smallest RSA modulus accepted for a signing key.
pub(crate) const MIN_RSA_BITS: usize = 2048;
/// Where every backend API key starts (so secret scanners can spot one).
pub(crate) const API_KEY_PREFIX: &str = "sbk_";
/// The characters of a key shown in listings.
const SHOWN_PREFIX_LEN: usize = 12;

#[derive(Debug, thiserror::Error)]
pub(crate) enum WorkspaceError {
    #[error("a workspace needs a name (1 to 100 characters)")]
    InvalidName,
    #[error("{0:?} is not an origin: give scheme, host and optional port, e.g. https://app.example.com")]
    InvalidOrigin(String),
    #[error("{0:?} is not a key id: 1 to 64 letters, digits, '.', '_' or '-'")]
    InvalidKid(String),
    #[error("the key id {0:?} is already in use")]
    KidTaken(String),
    #[error("not an RSA public key in PEM (SPKI \"PUBLIC KEY\" or PKCS#1 \"RSA PUBLIC KEY\"): {0}")]
    InvalidPublicKey(String),
    #[error("an RSA key of {0} bits is too weak: at least {MIN_RSA_BITS}")]
    WeakKey(usize),
    #[error("no workspace {0:?}")]
    UnknownWorkspace(String),
    #[error("the workspace has no active API key {0:?}")]
    UnknownApiKey(String),
    #[error("the workspace has no active signing key {0:?}")]
    UnknownSigningKey(String),
    #[error("cannot generate a key pair: {0}")]
    KeyGeneration(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

pub(crate) type WorkspaceResult<T> = Result<T, WorkspaceError>;

/// What `create` made: the secrets in it are shown once and never again.
#[derive(Debug)]
pub(crate) struct Created {
    pub(crate) workspace: Workspace,
    pub(crate) api_key: Issued,
    pub(crate) signing_key: SigningKey,
    /// PKCS#8 PEM of the private half of `signing_key`; not stored anywhere.
    pub(crate) private_key_pem: Secret,
}

/// A newly issued API key: the row, and the key itself (shown once).
#[derive(Debug)]
pub(crate) struct Issued {
    pub(crate) row: ApiKeyRow,
    pub(crate) key: Secret,
}

/// Creates a workspace with one API key and one generated signing key pair.
pub(crate) async fn create(store: &Store, name: &str, origins: &[String]) -> WorkspaceResult<Created> {
    let name = name.trim();
    if name.is_empty() || name.chars().count() > 100 {
        return Err(WorkspaceError::InvalidName);
    }
    let allowed_origins = origins.iter().map(|o| normalize_origin(o)).collect::<WorkspaceResult<Vec<_>>>()?;
    let (private_key_pem, public_key_pem) = tokio::task::spawn_blocking(generate_key_pair)
        .await
        .map_err(|e| WorkspaceError::KeyGeneration(e.to_string()))??;
    let workspace = Workspace { id: random_id("ws_"), name: name.to_owned(), allowed_origins, created_at: now_secs() };
    store.insert_workspace(&workspace).await?;
    let api_key = issue_api_key(store, &workspace.id, "default").await?;
    let signing_key = SigningKey {
        kid: random_id("k_"),
        workspace_id: workspace.id.clone(),
        public_key_pem,
        origin: "generated".into(),
        created_at: now_secs(),
        revoked_at: None,
    };
    store.insert_signing_key(&signing_key).await?;
    Ok(Created { workspace, api_key, signing_key, private_key_pem })
}

/// Mints a widget token (`wt_…`, shown once, stored as its hash) for one
/// customer of the workspace, expiring at `expires_at` (unix seconds).
pub(crate) async fn mint_widget_token(
    store: &Store,
    workspace_id: &str,
    customer_id: &str,
    expires_at: i64,
) -> WorkspaceResult<(Secret, WidgetToken)> {
    let token = random_token("wt_");
    let row = WidgetToken {
        id: random_id("wtk_"),
        workspace_id: workspace_id.to_owned(),
        customer_id: customer_id.to_owned(),
        created_at: now_secs(),
        expires_at,
    };
    store.insert_widget_token(&row, &token_hash(token.expose())).await?;
    Ok((token, row))
}

/// The workspace, or `UnknownWorkspace`.
pub(crate) async fn get(store: &Store, id: &str) -> WorkspaceResult<Workspace> {
    store.workspace(id).await?.ok_or_else(|| WorkspaceError::UnknownWorkspace(id.to_owned()))
}

/// Issues another API key for the workspace.
pub(crate) async fn issue_api_key(store: &Store, workspace_id: &str, name: &str) -> WorkspaceResult<Issued> {
    get(store, workspace_id).await?;
    let key = random_token(API_KEY_PREFIX);
    let row = ApiKeyRow {
        id: random_id("key_"),
        workspace_id: workspace_id.to_owned(),
        name: Some(name.trim()).filter(|n| !n.is_empty()).unwrap_or("default").to_owned(),
        prefix: key.expose()[..SHOWN_PREFIX_LEN].to_owned(),
        created_at: now_secs(),
        last_used_at: None,
        revoked_at: None,
    };
    store.insert_api_key(&row, &token_hash(key.expose())).await?;
    Ok(Issued { row, key })
}

pub(crate) async fn revoke_api_key(store: &Store, workspace_id: &str, key_id: &str) -> WorkspaceResult<()> {
    if store.revoke_api_key(workspace_id, key_id).await? {
        Ok(())
    } else {
        Err(WorkspaceError::UnknownApiKey(key_id.to_owned()))
    }
}

/// The active API key a backend presented, if it is one.
pub(crate) async fn authenticate(store: &Store, presented: &str) -> WorkspaceResult<Option<ApiKeyRow>> {
    if !presented.starts_with(API_KEY_PREFIX) {
        return Ok(None);
    }
    let key = store.api_key_by_hash(&token_hash(presented)).await?;
    if let Some(key) = &key {
        store.touch_api_key(key).await?;
    }
    Ok(key)
}

/// Adds the workspace's own public keys, all or none: `(kid, pem)`, a
/// missing kid generated. Returns the stored keys.
pub(crate) async fn add_public_keys(
    store: &Store,
    workspace_id: &str,
    keys: &[(Option<String>, String)],
) -> WorkspaceResult<Vec<SigningKey>> {
    get(store, workspace_id).await?;
    let mut checked = Vec::with_capacity(keys.len());
    for (kid, pem) in keys {
        let kid = match kid.as_deref().map(str::trim) {
            Some(kid) => valid_kid(kid)?,
            None => random_id("k_"),
        };
        if checked.iter().any(|k: &SigningKey| k.kid == kid) || store.signing_key(&kid).await?.is_some() {
            return Err(WorkspaceError::KidTaken(kid));
        }
        checked.push(SigningKey {
            kid,
            workspace_id: workspace_id.to_owned(),
            public_key_pem: normalize_public_key(pem)?,
            origin: "customer".into(),
            created_at: now_secs(),
            revoked_at: None,
        });
    }
    for key in &checked {
        if !store.insert_signing_key(key).await? {
            return Err(WorkspaceError::KidTaken(key.kid.clone()));
        }
    }
    Ok(checked)
}

pub(crate) async fn revoke_signing_key(store: &Store, workspace_id: &str, kid: &str) -> WorkspaceResult<()> {
    if store.revoke_signing_key(workspace_id, kid).await? {
        Ok(())
    } else {
        Err(WorkspaceError::UnknownSigningKey(kid.to_owned()))
    }
}

/// A fresh RSA-2048 pair: (PKCS#8 private PEM, SPKI public PEM).
fn generate_key_pair() -> WorkspaceResult<(Secret, String)> {
    let fail = |e: &dyn std::fmt::Display| WorkspaceError::KeyGeneration(e.to_string());
    let private = rsa::RsaPrivateKey::new(&mut rsa::rand_core::OsRng, MIN_RSA_BITS).map_err(|e| fail(&e))?;
    let private_pem = private.to_pkcs8_pem(LineEnding::LF).map_err(|e| fail(&e))?;
    let public_pem = private.to_public_key().to_public_key_pem(LineEnding::LF).map_err(|e| fail(&e))?;
    Ok((Secret::new(private_pem.as_str()), public_pem))
}

/// An RSA public key of at least [`MIN_RSA_BITS`], as SPKI PEM.
pub(crate) fn normalize_public_key(pem: &str) -> WorkspaceResult<String> {
    let pem = pem.trim();
    let key = rsa::RsaPublicKey::from_public_key_pem(pem)
        .or_else(|spki| rsa::RsaPublicKey::from_pkcs1_pem(pem).map_err(|_| spki))
        .map_err(|e| WorkspaceError::InvalidPublicKey(e.to_string()))?;
    let bits = key.n().bits();
    if bits < MIN_RSA_BITS {
        return Err(WorkspaceError::WeakKey(bits));
    }
    key.to_public_key_pem(LineEnding::LF).map_err(|e| WorkspaceError::InvalidPublicKey(e.to_string()))
}

/// `scheme://host[:port]`, lowercased, for an http(s) origin.
pub(crate) fn normalize_origin(origin: &str) -> WorkspaceResult<String> {
    let bad = || WorkspaceError::InvalidOrigin(origin.to_owned());
    let url = url::Url::parse(origin.trim()).map_err(|_| bad())?;
    let plain = url.path() == "/" && url.query().is_none() && url.fragment().is_none();
    if !matches!(url.scheme(), "https" | "http") || url.host_str().is_none() || !plain || !url.username().is_empty() {
        return Err(bad());
    }
    Ok(url.origin().ascii_serialization())
}

fn valid_kid(kid: &str) -> WorkspaceResult<String> {
    let ok =
        (1..=64).contains(&kid.len()) && kid.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'));
    if ok { Ok(kid.to_owned()) } else { Err(WorkspaceError::InvalidKid(kid.to_owned())) }
}

#[cfg(test)]
mod tests;
