//! Connect secrets' single use and the connect sessions they open. What a
//! secret must hold is `crate::connect`; this module only stores.

use super::{Store, StoreResult};
use crate::clock::now_secs;
use sqlx::Row;

/// A connect session as stored (never its token: only the token's hash).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ConnectSession {
    pub(crate) id: String,
    pub(crate) workspace_id: String,
    pub(crate) customer_id: String,
    pub(crate) customer_name: Option<String>,
    pub(crate) integration_id: Option<String>,
    pub(crate) connector: String,
    pub(crate) created_at: i64,
    pub(crate) expires_at: i64,
}

impl Store {
    /// Records the use of a secret's `jti`; false if it was used before (and
    /// has not expired since). Forgets the uses of expired secrets.
    pub(crate) async fn use_secret_once(&self, workspace_id: &str, jti: &str, expires_at: i64) -> StoreResult<bool> {
        sqlx::query("DELETE FROM connect_secret_uses WHERE expires_at < $1")
            .bind(now_secs())
            .execute(&self.writer)
            .await?;
        let done = sqlx::query(
            "INSERT INTO connect_secret_uses (workspace_id, jti, expires_at) VALUES ($1, $2, $3)
             ON CONFLICT (workspace_id, jti) DO NOTHING",
        )
        .bind(workspace_id)
        .bind(jti)
        .bind(expires_at)
        .execute(&self.writer)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    pub(crate) async fn insert_connect_session(&self, s: &ConnectSession, token_hash: &str) -> StoreResult<()> {
        sqlx::query("DELETE FROM connect_sessions WHERE expires_at < $1")
            .bind(now_secs())
            .execute(&self.writer)
            .await?;
        sqlx::query(
            "INSERT INTO connect_sessions (id, token_hash, workspace_id, customer_id, customer_name, integration_id,
                                           connector, created_at, expires_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        )
        .bind(&s.id)
        .bind(token_hash)
        .bind(&s.workspace_id)
        .bind(&s.customer_id)
        .bind(&s.customer_name)
        .bind(&s.integration_id)
        .bind(&s.connector)
        .bind(s.created_at)
        .bind(s.expires_at)
        .execute(&self.writer)
        .await?;
        Ok(())
    }

    /// The unexpired session whose token hashes to `token_hash`.
    pub(crate) async fn connect_session(&self, token_hash: &str) -> StoreResult<Option<ConnectSession>> {
        let row = sqlx::query(
            "SELECT id, workspace_id, customer_id, customer_name, integration_id, connector, created_at, expires_at
             FROM connect_sessions WHERE token_hash = $1 AND expires_at >= $2",
        )
        .bind(token_hash)
        .bind(now_secs())
        .fetch_optional(&self.pool)
        .await?;
        let Some(row) = row else { return Ok(None) };
        Ok(Some(ConnectSession {
            id: row.try_get("id")?,
            workspace_id: row.try_get("workspace_id")?,
            customer_id: row.try_get("customer_id")?,
            customer_name: row.try_get("customer_name")?,
            integration_id: row.try_get("integration_id")?,
            connector: row.try_get("connector")?,
            created_at: row.try_get("created_at")?,
            expires_at: row.try_get("expires_at")?,
        }))
    }
}
