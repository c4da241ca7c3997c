//! Storage: users and their encrypted CRM credentials, user settings, and the
//! call/message log mappings that make logging idempotent.
//!
//! One schema, two backends through sqlx's `Any` driver: SQLite (the embedded
//! default, WAL mode) and PostgreSQL (for several replicas). Every query is
//! written once with `$n` parameters, which both accept; only the migrations
//! differ in their column types.

pub mod test_support;

use crate::auth::now_secs;
use crate::crypto::{CryptoError, Sealer};
use serde_json::Value;
use sqlx::any::{AnyPoolOptions, install_default_drivers};
use sqlx::{AnyPool, Row};
use std::collections::BTreeMap;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database error: {0}")]
    Db(#[from] sqlx::Error),
    #[error("migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("stored credential cannot be decrypted: {0}")]
    Crypto(#[from] CryptoError),
    #[error("stored setting is not JSON: {0}")]
    Json(#[from] serde_json::Error),
}

pub type StoreResult<T> = Result<T, StoreError>;

/// Which database is behind the pool.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// A secret in memory: never printed.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(s: impl Into<String>) -> Self {
        Secret(s.into())
    }
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(***)")
    }
}

/// A user and their connection to one CRM.
#[derive(Debug, Clone)]
pub struct User {
    pub id: String,
    pub platform: String,
    pub crm_user_id: String,
    pub name: String,
    pub hostname: String,
    pub auth_kind: String,
    /// `None` after `POST /unAuthorize`.
    pub credential: Option<Secret>,
}

/// The outcome of reserving a log key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reservation {
    /// This caller owns the key and must complete or release it.
    Reserved,
    /// Another request is logging it right now.
    Pending,
    /// Already logged in the CRM under this id.
    Logged(String),
}

/// A stored call-log mapping.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallLogMapping {
    pub session_id: String,
    pub log_id: Option<String>,
    pub pending: bool,
}

#[derive(Clone)]
pub struct Store {
    pool: AnyPool,
    sealer: Sealer,
    backend: Backend,
}

fn credential_aad(user_id: &str) -> String {
    format!("users/{user_id}/credential")
}

impl Store {
    /// Connects, creating the SQLite file if needed, and runs the migrations.
    pub async fn connect(url: &str, sealer: Sealer) -> StoreResult<Store> {
        install_default_drivers();
        let backend = if url.starts_with("sqlite:") { Backend::Sqlite } else { Backend::Postgres };
        // SQLite creates the file (mode=rwc) but not its directory.
        if let Some(parent) = sqlite_path(url).as_deref().and_then(|p| std::path::Path::new(p).parent()) {
            let _ = std::fs::create_dir_all(parent);
        }
        let pool = AnyPoolOptions::new()
            .max_connections(if backend == Backend::Sqlite { 8 } else { 16 })
            .after_connect(move |conn, _| {
                Box::pin(async move {
                    if backend == Backend::Sqlite {
                        sqlx::query("PRAGMA journal_mode = WAL").execute(&mut *conn).await?;
                        sqlx::query("PRAGMA busy_timeout = 5000").execute(&mut *conn).await?;
                        sqlx::query("PRAGMA foreign_keys = ON").execute(&mut *conn).await?;
                    }
                    Ok(())
                })
            })
            .connect(url)
            .await?;
        match backend {
            Backend::Sqlite => sqlx::migrate!("migrations/sqlite").run(&pool).await?,
            Backend::Postgres => sqlx::migrate!("migrations/postgres").run(&pool).await?,
        }
        Ok(Store { pool, sealer, backend })
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// Creates or replaces a user's connection; the credential is sealed first.
    pub async fn upsert_user(&self, user: &User) -> StoreResult<()> {
        let sealed =
            user.credential.as_ref().map(|c| self.sealer.seal(&credential_aad(&user.id), c.expose().as_bytes()));
        let now = now_secs();
        sqlx::query(
            "INSERT INTO users (id, platform, crm_user_id, name, hostname, auth_kind, credential, credential_key_id, created_at, updated_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $9)
             ON CONFLICT (id) DO UPDATE SET name = $4, hostname = $5, auth_kind = $6,
                 credential = $7, credential_key_id = $8, updated_at = $9",
        )
        .bind(&user.id)
        .bind(&user.platform)
        .bind(&user.crm_user_id)
        .bind(&user.name)
        .bind(&user.hostname)
        .bind(&user.auth_kind)
        .bind(sealed)
        .bind(user.credential.as_ref().map(|_| self.sealer.key_id().to_owned()))
        .bind(now)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    pub async fn user(&self, id: &str) -> StoreResult<Option<User>> {
        let row = sqlx::query(
            "SELECT id, platform, crm_user_id, name, hostname, auth_kind, credential, credential_key_id FROM users WHERE id = $1",
        )
        .bind(id)
        .fetch_optional(&self.pool)
        .await?;
        let Some(row) = row else { return Ok(None) };
        let sealed: Option<Vec<u8>> = row.try_get("credential")?;
        let key_id: Option<String> = row.try_get("credential_key_id")?;
        let credential = match (sealed, key_id) {
            (Some(sealed), Some(key_id)) => {
                let plain = self.sealer.open(&key_id, &credential_aad(id), &sealed)?;
                Some(Secret(String::from_utf8_lossy(&plain).into_owned()))
            }
            _ => None,
        };
        Ok(Some(User {
            id: row.try_get("id")?,
            platform: row.try_get("platform")?,
            crm_user_id: row.try_get("crm_user_id")?,
            name: row.try_get("name")?,
            hostname: row.try_get("hostname")?,
            auth_kind: row.try_get("auth_kind")?,
            credential,
        }))
    }

    /// Forgets a user's CRM credential (the user row and settings stay).
    pub async fn clear_credential(&self, user_id: &str) -> StoreResult<()> {
        sqlx::query("UPDATE users SET credential = NULL, credential_key_id = NULL, updated_at = $2 WHERE id = $1")
            .bind(user_id)
            .bind(now_secs())
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    pub async fn settings(&self, user_id: &str) -> StoreResult<BTreeMap<String, Value>> {
        let rows = sqlx::query("SELECT key, value_json FROM user_settings WHERE user_id = $1")
            .bind(user_id)
            .fetch_all(&self.pool)
            .await?;
        let mut out = BTreeMap::new();
        for row in rows {
            let key: String = row.try_get("key")?;
            let value: String = row.try_get("value_json")?;
            out.insert(key, serde_json::from_str(&value)?);
        }
        Ok(out)
    }

    /// Upserts `set` and deletes `remove`, in one transaction.
    pub async fn update_settings(
        &self,
        user_id: &str,
        set: &BTreeMap<String, Value>,
        remove: &[String],
    ) -> StoreResult<()> {
        let mut tx = self.pool.begin().await?;
        for (key, value) in set {
            sqlx::query(
                "INSERT INTO user_settings (user_id, key, value_json) VALUES ($1, $2, $3)
                 ON CONFLICT (user_id, key) DO UPDATE SET value_json = $3",
            )
            .bind(user_id)
            .bind(key)
            .bind(value.to_string())
            .execute(&mut *tx)
            .await?;
        }
        for key in remove {
            sqlx::query("DELETE FROM user_settings WHERE user_id = $1 AND key = $2")
                .bind(user_id)
                .bind(key)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// Reserves (user, session) before the CRM is called. Exactly one of any
    /// number of concurrent callers gets [`Reservation::Reserved`].
    pub async fn reserve_call_log(
        &self,
        user_id: &str,
        session_id: &str,
        contact_id: &str,
    ) -> StoreResult<Reservation> {
        let now = now_secs();
        let inserted = sqlx::query(
            "INSERT INTO call_logs (user_id, session_id, state, contact_id, created_at, updated_at)
             VALUES ($1, $2, 'pending', $3, $4, $4) ON CONFLICT (user_id, session_id) DO NOTHING",
        )
        .bind(user_id)
        .bind(session_id)
        .bind(contact_id)
        .bind(now)
        .execute(&self.pool)
        .await?
        .rows_affected();
        if inserted == 1 {
            return Ok(Reservation::Reserved);
        }
        let row = sqlx::query("SELECT state, log_id FROM call_logs WHERE user_id = $1 AND session_id = $2")
            .bind(user_id)
            .bind(session_id)
            .fetch_optional(&self.pool)
            .await?;
        Ok(reservation_of(row)?)
    }

    pub async fn complete_call_log(&self, user_id: &str, session_id: &str, log_id: &str) -> StoreResult<()> {
        sqlx::query("UPDATE call_logs SET state = 'logged', log_id = $3, updated_at = $4 WHERE user_id = $1 AND session_id = $2")
            .bind(user_id)
            .bind(session_id)
            .bind(log_id)
            .bind(now_secs())
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Gives a reservation back after the CRM call failed, so a retry can log it.
    pub async fn release_call_log(&self, user_id: &str, session_id: &str) -> StoreResult<()> {
        sqlx::query("DELETE FROM call_logs WHERE user_id = $1 AND session_id = $2 AND state = 'pending'")
            .bind(user_id)
            .bind(session_id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    pub async fn call_log(&self, user_id: &str, session_id: &str) -> StoreResult<Option<CallLogMapping>> {
        let row = sqlx::query("SELECT state, log_id FROM call_logs WHERE user_id = $1 AND session_id = $2")
            .bind(user_id)
            .bind(session_id)
            .fetch_optional(&self.pool)
            .await?;
        let Some(row) = row else { return Ok(None) };
        let state: String = row.try_get("state")?;
        Ok(Some(CallLogMapping {
            session_id: session_id.to_owned(),
            log_id: row.try_get("log_id")?,
            pending: state == "pending",
        }))
    }

    /// Reserves a message id; `false` when it was already logged (or is being).
    pub async fn reserve_message(&self, user_id: &str, message_id: &str, conversation_id: &str) -> StoreResult<bool> {
        let inserted = sqlx::query(
            "INSERT INTO message_logs (user_id, message_id, conversation_id, created_at)
             VALUES ($1, $2, $3, $4) ON CONFLICT (user_id, message_id) DO NOTHING",
        )
        .bind(user_id)
        .bind(message_id)
        .bind(conversation_id)
        .bind(now_secs())
        .execute(&self.pool)
        .await?
        .rows_affected();
        Ok(inserted == 1)
    }

    pub async fn complete_message(&self, user_id: &str, message_id: &str, log_id: &str) -> StoreResult<()> {
        sqlx::query("UPDATE message_logs SET log_id = $3 WHERE user_id = $1 AND message_id = $2")
            .bind(user_id)
            .bind(message_id)
            .bind(log_id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    pub async fn release_message(&self, user_id: &str, message_id: &str) -> StoreResult<()> {
        sqlx::query("DELETE FROM message_logs WHERE user_id = $1 AND message_id = $2 AND log_id IS NULL")
            .bind(user_id)
            .bind(message_id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Reserves the CRM record of a conversation, or says where it already is.
    pub async fn reserve_conversation(&self, user_id: &str, conversation_id: &str) -> StoreResult<Reservation> {
        let inserted = sqlx::query(
            "INSERT INTO conversation_logs (user_id, conversation_id, state, created_at)
             VALUES ($1, $2, 'pending', $3) ON CONFLICT (user_id, conversation_id) DO NOTHING",
        )
        .bind(user_id)
        .bind(conversation_id)
        .bind(now_secs())
        .execute(&self.pool)
        .await?
        .rows_affected();
        if inserted == 1 {
            return Ok(Reservation::Reserved);
        }
        let row =
            sqlx::query("SELECT state, log_id FROM conversation_logs WHERE user_id = $1 AND conversation_id = $2")
                .bind(user_id)
                .bind(conversation_id)
                .fetch_optional(&self.pool)
                .await?;
        Ok(reservation_of(row)?)
    }

    pub async fn complete_conversation(&self, user_id: &str, conversation_id: &str, log_id: &str) -> StoreResult<()> {
        sqlx::query(
            "UPDATE conversation_logs SET state = 'logged', log_id = $3 WHERE user_id = $1 AND conversation_id = $2",
        )
        .bind(user_id)
        .bind(conversation_id)
        .bind(log_id)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    pub async fn release_conversation(&self, user_id: &str, conversation_id: &str) -> StoreResult<()> {
        sqlx::query("DELETE FROM conversation_logs WHERE user_id = $1 AND conversation_id = $2 AND state = 'pending'")
            .bind(user_id)
            .bind(conversation_id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Raw credential column of a user, for tests that check nothing is plaintext.
    pub async fn raw_credential(&self, user_id: &str) -> StoreResult<Option<Vec<u8>>> {
        let row =
            sqlx::query("SELECT credential FROM users WHERE id = $1").bind(user_id).fetch_optional(&self.pool).await?;
        Ok(match row {
            Some(r) => r.try_get("credential")?,
            None => None,
        })
    }

    pub async fn close(&self) {
        self.pool.close().await;
    }
}

fn reservation_of(row: Option<sqlx::any::AnyRow>) -> Result<Reservation, sqlx::Error> {
    // A row that vanished between the insert and the select was a pending
    // reservation released by a failed attempt: report it as in progress.
    let Some(row) = row else {
        return Ok(Reservation::Pending);
    };
    let state: String = row.try_get("state")?;
    let log_id: Option<String> = row.try_get("log_id")?;
    Ok(match (state.as_str(), log_id) {
        ("logged", Some(id)) => Reservation::Logged(id),
        _ => Reservation::Pending,
    })
}

fn sqlite_path(url: &str) -> Option<String> {
    let rest = url.strip_prefix("sqlite://").or_else(|| url.strip_prefix("sqlite:"))?;
    let path = rest.split('?').next()?;
    (!path.is_empty() && path != ":memory:").then(|| path.to_owned())
}

#[cfg(test)]
mod tests;
