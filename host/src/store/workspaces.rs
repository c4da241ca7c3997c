//! Workspaces, their backend API keys (hashes only) and the public keys their
//! backends sign connect secrets with. What the values mean and how they are
//! made is `crate::workspaces`; this module only stores them.

use super::{Store, StoreResult};
use crate::clock::now_secs;
use sqlx::Row;
use sqlx::any::AnyRow;

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Workspace {
    pub(crate) id: String,
    pub(crate) name: String,
    pub(crate) allowed_origins: Vec<String>,
    pub(crate) created_at: i64,
}

/// A backend API key as listed: never the key, only its prefix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ApiKeyRow {
    pub(crate) id: String,
    pub(crate) workspace_id: String,
    pub(crate) name: String,
    pub(crate) prefix: String,
    pub(crate) created_at: i64,
    pub(crate) last_used_at: Option<i64>,
    pub(crate) revoked_at: Option<i64>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SigningKey {
    pub(crate) kid: String,
    pub(crate) workspace_id: String,
    pub(crate) public_key_pem: String,
    /// `generated` or `customer`.
    pub(crate) origin: String,
    pub(crate) created_at: i64,
    pub(crate) revoked_at: Option<i64>,
}

const API_KEY_COLUMNS: &str = "id, workspace_id, name, prefix, created_at, last_used_at, revoked_at";
const SIGNING_KEY_COLUMNS: &str = "kid, workspace_id, public_key_pem, origin, created_at, revoked_at";

impl Store {
    pub(crate) async fn insert_workspace(&self, w: &Workspace) -> StoreResult<()> {
        sqlx::query("INSERT INTO workspaces (id, name, allowed_origins, created_at) VALUES ($1, $2, $3, $4)")
            .bind(&w.id)
            .bind(&w.name)
            .bind(serde_json::to_string(&w.allowed_origins)?)
            .bind(w.created_at)
            .execute(&self.writer)
            .await?;
        Ok(())
    }

    pub(crate) async fn workspace(&self, id: &str) -> StoreResult<Option<Workspace>> {
        let row = sqlx::query("SELECT id, name, allowed_origins, created_at FROM workspaces WHERE id = $1")
            .bind(id)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(workspace_of_row).transpose()
    }

    pub(crate) async fn workspaces(&self) -> StoreResult<Vec<Workspace>> {
        let query = format!(
            "SELECT id, name, allowed_origins, created_at FROM workspaces ORDER BY created_at, {}",
            self.backend.insertion_order("")
        );
        let rows = sqlx::query(sqlx::AssertSqlSafe(query)).fetch_all(&self.pool).await?;
        rows.iter().map(workspace_of_row).collect()
    }

    /// Whether some workspace lists `origin` among its allowed origins.
    pub(crate) async fn origin_allowed_by_a_workspace(&self, origin: &str) -> StoreResult<bool> {
        // The column holds a JSON array: look for the origin as one of its strings.
        let quoted = serde_json::to_string(origin)?;
        let rows = sqlx::query(
            "SELECT allowed_origins FROM workspaces WHERE allowed_origins LIKE ('%' || $1 || '%') ESCAPE '\\' LIMIT 20",
        )
        .bind(super::like_escaped(&quoted))
        .fetch_all(&self.pool)
        .await?;
        // LIKE narrows it down; the exact comparison decides (SQLite's LIKE ignores case).
        for r in rows {
            let origins: String = r.try_get("allowed_origins")?;
            let origins: Vec<String> = serde_json::from_str(&origins)?;
            if origins.iter().any(|o| o == origin) {
                return Ok(true);
            }
        }
        Ok(false)
    }

    /// Stores a new API key's hash.
    pub(crate) async fn insert_api_key(&self, key: &ApiKeyRow, key_hash: &str) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO workspace_api_keys (id, workspace_id, name, key_hash, prefix, created_at)
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(&key.id)
        .bind(&key.workspace_id)
        .bind(&key.name)
        .bind(key_hash)
        .bind(&key.prefix)
        .bind(key.created_at)
        .execute(&self.writer)
        .await?;
        Ok(())
    }

    pub(crate) async fn api_keys(&self, workspace_id: &str) -> StoreResult<Vec<ApiKeyRow>> {
        let query = format!(
            "SELECT {API_KEY_COLUMNS} FROM workspace_api_keys WHERE workspace_id = $1 ORDER BY created_at, {}",
            self.backend.insertion_order("")
        );
        let rows = sqlx::query(sqlx::AssertSqlSafe(query)).bind(workspace_id).fetch_all(&self.pool).await?;
        rows.iter().map(api_key_of_row).collect()
    }

    /// The unrevoked key whose hash this is. The hash is of a random key,
    /// so looking it up by index reveals nothing about other keys.
    pub(crate) async fn api_key_by_hash(&self, key_hash: &str) -> StoreResult<Option<ApiKeyRow>> {
        let query =
            format!("SELECT {API_KEY_COLUMNS} FROM workspace_api_keys WHERE key_hash = $1 AND revoked_at IS NULL");
        let row = sqlx::query(sqlx::AssertSqlSafe(query)).bind(key_hash).fetch_optional(&self.pool).await?;
        row.as_ref().map(api_key_of_row).transpose()
    }

    /// Records that a key was used, at most once an hour (a write per
    /// request would put the writer on every API call's path).
    pub(crate) async fn touch_api_key(&self, key: &ApiKeyRow) -> StoreResult<()> {
        let now = now_secs();
        if key.last_used_at.is_some_and(|t| now - t < 3600) {
            return Ok(());
        }
        sqlx::query("UPDATE workspace_api_keys SET last_used_at = $2 WHERE id = $1")
            .bind(&key.id)
            .bind(now)
            .execute(&self.writer)
            .await?;
        Ok(())
    }

    /// Revokes a key of the workspace; false if it has no such unrevoked key.
    pub(crate) async fn revoke_api_key(&self, workspace_id: &str, key_id: &str) -> StoreResult<bool> {
        let done = sqlx::query(
            "UPDATE workspace_api_keys SET revoked_at = $3
             WHERE workspace_id = $1 AND id = $2 AND revoked_at IS NULL",
        )
        .bind(workspace_id)
        .bind(key_id)
        .bind(now_secs())
        .execute(&self.writer)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Adds a public key; false if the `kid` is taken (by any workspace).
    pub(crate) async fn insert_signing_key(&self, key: &SigningKey) -> StoreResult<bool> {
        let done = sqlx::query(
            "INSERT INTO workspace_signing_keys (kid, workspace_id, public_key_pem, origin, created_at)
             VALUES ($1, $2, $3, $4, $5) ON CONFLICT (kid) DO NOTHING",
        )
        .bind(&key.kid)
        .bind(&key.workspace_id)
        .bind(&key.public_key_pem)
        .bind(&key.origin)
        .bind(key.created_at)
        .execute(&self.writer)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    pub(crate) async fn signing_keys(&self, workspace_id: &str) -> StoreResult<Vec<SigningKey>> {
        let query = format!(
            "SELECT {SIGNING_KEY_COLUMNS} FROM workspace_signing_keys WHERE workspace_id = $1 ORDER BY created_at, {}",
            self.backend.insertion_order("")
        );
        let rows = sqlx::query(sqlx::AssertSqlSafe(query)).bind(workspace_id).fetch_all(&self.pool).await?;
        rows.iter().map(signing_key_of_row).collect()
    }

    /// The key a connect secret's `kid` names, revoked or not.
    pub(crate) async fn signing_key(&self, kid: &str) -> StoreResult<Option<SigningKey>> {
        let query = format!("SELECT {SIGNING_KEY_COLUMNS} FROM workspace_signing_keys WHERE kid = $1");
        let row = sqlx::query(sqlx::AssertSqlSafe(query)).bind(kid).fetch_optional(&self.pool).await?;
        row.as_ref().map(signing_key_of_row).transpose()
    }

    /// Revokes a workspace's key; false if it has no such unrevoked key.
    pub(crate) async fn revoke_signing_key(&self, workspace_id: &str, kid: &str) -> StoreResult<bool> {
        let done = sqlx::query(
            "UPDATE workspace_signing_keys SET revoked_at = $3
             WHERE workspace_id = $1 AND kid = $2 AND revoked_at IS NULL",
        )
        .bind(workspace_id)
        .bind(kid)
        .bind(now_secs())
        .execute(&self.writer)
        .await?;
        Ok(done.rows_affected() == 1)
    }
}

fn workspace_of_row(row: &AnyRow) -> StoreResult<Workspace> {
    let origins: String = row.try_get("allowed_origins")?;
    Ok(Workspace {
        id: row.try_get("id")?,
        name: row.try_get("name")?,
        allowed_origins: serde_json::from_str(&origins)?,
        created_at: row.try_get("created_at")?,
    })
}

fn api_key_of_row(row: &AnyRow) -> StoreResult<ApiKeyRow> {
    Ok(ApiKeyRow {
        id: row.try_get("id")?,
        workspace_id: row.try_get("workspace_id")?,
        name: row.try_get("name")?,
        prefix: row.try_get("prefix")?,
        created_at: row.try_get("created_at")?,
        last_used_at: row.try_get("last_used_at")?,
        revoked_at: row.try_get("revoked_at")?,
    })
}

fn signing_key_of_row(row: &AnyRow) -> StoreResult<SigningKey> {
    Ok(SigningKey {
        kid: row.try_get("kid")?,
        workspace_id: row.try_get("workspace_id")?,
        public_key_pem: row.try_get("public_key_pem")?,
        origin: row.try_get("origin")?,
        created_at: row.try_get("created_at")?,
        revoked_at: row.try_get("revoked_at")?,
    })
}
