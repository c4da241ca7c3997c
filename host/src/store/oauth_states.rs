//! OAuth `state` values between `/oauth/{platform}/start` and the callback:
//! single use, short-lived, with the PKCE verifier sealed; and the codes of
//! client-initiated logins, each claimed once.

use super::{Place, Store, StoreResult};
use crate::clock::now_secs;
use crate::secret::Secret;
use sha2::{Digest, Sha256};
use sqlx::Row;

/// An OAuth login between `/oauth/{platform}/start` and the callback.
#[derive(Debug)]
pub(crate) struct PendingLogin {
    pub(crate) platform: String,
    /// The CRM host the login chose (manifests with `hostnames`).
    pub(crate) hostname: Option<String>,
    pub(crate) verifier: Option<Secret>,
    /// What an integration's login is for (JSON); `None` for App Connect logins.
    pub(crate) purpose: Option<String>,
}

/// Expired states are deleted this long after they expire.
const KEEP_EXPIRED_SECS: i64 = 3600;

fn verifier_place(state: &str) -> Place<'_> {
    Place { row: state, column: "pkce_verifier" }
}

impl Store {
    /// Saves an OAuth `state` with its (sealed) PKCE verifier.
    pub(crate) async fn insert_oauth_state(
        &self,
        state: &str,
        platform: &str,
        hostname: Option<&str>,
        verifier: Option<&Secret>,
        purpose: Option<&str>,
        ttl_secs: i64,
    ) -> StoreResult<()> {
        let sealed = verifier.map(|v| self.seal(verifier_place(state), v));
        sqlx::query(
            "INSERT INTO oauth_states (state, platform, hostname, pkce_verifier, key_id, expires_at, purpose)
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(state)
        .bind(platform)
        .bind(hostname)
        .bind(sealed)
        .bind(self.sealer.key_id())
        .bind(now_secs() + ttl_secs)
        .bind(purpose)
        .execute(&self.writer)
        .await?;
        // Expired states are of no use to anyone.
        sqlx::query("DELETE FROM oauth_states WHERE expires_at < $1")
            .bind(now_secs() - KEEP_EXPIRED_SECS)
            .execute(&self.writer)
            .await?;
        Ok(())
    }

    /// Takes a state out (single use): what the login started with, or
    /// `None` when it is unknown, already used or expired.
    pub(crate) async fn take_oauth_state(&self, state: &str) -> StoreResult<Option<PendingLogin>> {
        let row = sqlx::query(
            "DELETE FROM oauth_states WHERE state = $1 RETURNING platform, hostname, pkce_verifier, key_id, expires_at, purpose",
        )
        .bind(state)
        .fetch_optional(&self.writer)
        .await?;
        let Some(row) = row else { return Ok(None) };
        let expires_at: i64 = row.try_get("expires_at")?;
        if expires_at < now_secs() {
            return Ok(None);
        }
        let verifier = self.open_secret(&row, verifier_place(state), "key_id")?;
        Ok(Some(PendingLogin {
            platform: row.try_get("platform")?,
            hostname: row.try_get("hostname")?,
            verifier,
            purpose: row.try_get("purpose")?,
        }))
    }

    /// Claims an authorization code for one exchange: `false` when it was
    /// claimed before (a replayed callback). Only its hash is stored.
    pub(crate) async fn claim_oauth_code(&self, platform: &str, code: &str) -> StoreResult<bool> {
        let hash = hex::encode(Sha256::digest(code.as_bytes()));
        let now = now_secs();
        let claimed = sqlx::query(
            "INSERT INTO oauth_codes (code_hash, platform, used_at) VALUES ($1, $2, $3) ON CONFLICT (code_hash) DO NOTHING",
        )
        .bind(hash)
        .bind(platform)
        .bind(now)
        .execute(&self.writer)
        .await?
        .rows_affected();
        // Codes live minutes at the CRM; a day's worth of hashes is plenty.
        sqlx::query("DELETE FROM oauth_codes WHERE used_at < $1").bind(now - 86_400).execute(&self.writer).await?;
        Ok(claimed == 1)
    }
}
