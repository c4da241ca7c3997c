//! The JSON of workspaces, for the admin API and `switchboard workspace … --json`
//! alike. Secrets appear only in what `create` and `issue_api_key` return, once.

use super::{Created, Issued};
use crate::store::{ApiKeyRow, SigningKey, Workspace};
use serde_json::{Value, json};

pub(crate) fn workspace(w: &Workspace, keys: &[SigningKey], api_keys: &[ApiKeyRow]) -> Value {
    json!({
        "id": w.id,
        "name": w.name,
        "allowedOrigins": w.allowed_origins,
        "createdAt": w.created_at,
        "signingKeys": keys.iter().map(signing_key).collect::<Vec<_>>(),
        "apiKeys": api_keys.iter().map(api_key).collect::<Vec<_>>(),
    })
}

pub(crate) fn signing_key(k: &SigningKey) -> Value {
    json!({
        "kid": k.kid,
        "publicKeyPem": k.public_key_pem,
        "origin": k.origin,
        "createdAt": k.created_at,
        "revokedAt": k.revoked_at,
    })
}

/// An API key as listed: its prefix, masked, never the key.
pub(crate) fn api_key(k: &ApiKeyRow) -> Value {
    json!({
        "id": k.id,
        "name": k.name,
        "masked": format!("{}…", k.prefix),
        "createdAt": k.created_at,
        "lastUsedAt": k.last_used_at,
        "revokedAt": k.revoked_at,
    })
}

/// A new key, with the key itself (shown this once).
pub(crate) fn issued(i: &Issued) -> Value {
    let mut v = api_key(&i.row);
    v["key"] = json!(i.key.expose());
    v
}

/// A new workspace with its first API key and private key (shown this once).
pub(crate) fn created(c: &Created) -> Value {
    let mut v = workspace(&c.workspace, std::slice::from_ref(&c.signing_key), &[]);
    v["apiKey"] = issued(&c.api_key);
    v["privateKeyPem"] = json!(c.private_key_pem.expose());
    v["kid"] = json!(c.signing_key.kid);
    v
}
