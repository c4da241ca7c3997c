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
use sqlx::any::AnyRow;
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
    /// The API key or OAuth access token; `None` after `POST /unAuthorize`.
    pub credential: Option<Secret>,
    /// OAuth only.
    pub refresh_token: Option<Secret>,
    /// When the access token expires (unix seconds), if the CRM said.
    pub expires_at: Option<i64>,
    /// `active` or `revoked` (the CRM refused a refresh).
    pub status: String,
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

/// Associated data binding a ciphertext to its row and column.
fn aad(row: &str, column: &str) -> String {
    format!("users/{row}/{column}")
}

/// A connection as operators see it.
/// An OAuth login between `/oauth/{platform}/start` and the callback.
#[derive(Debug)]
pub struct PendingLogin {
    pub platform: String,
    /// The CRM host the login chose (manifests with `hostnames`).
    pub hostname: Option<String>,
    pub verifier: Option<Secret>,
}

#[derive(Debug, Clone, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ConnectionInfo {
    pub user_id: String,
    pub platform: String,
    pub name: String,
    pub auth_kind: String,
    /// `active`, `expired` (access token past its expiry; refreshed on next use),
    /// `revoked` (the CRM refused a refresh) or `disconnected` (logged out).
    pub status: String,
    pub expires_at: Option<i64>,
    pub last_refresh_at: Option<i64>,
    pub last_error: Option<String>,
}

/// A connection event for the audit log.
#[derive(Debug, Default)]
pub struct AuditEvent<'a> {
    pub user_id: Option<&'a str>,
    pub platform: &'a str,
    pub event: &'a str,
    pub ip: Option<&'a str>,
    pub user_agent: Option<&'a str>,
    pub detail: Option<&'a str>,
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
            // A SQLite connection is a file handle that cannot drop, so pinging it
            // before each use is only an extra round trip to its worker thread
            // (a context switch each way: the host's largest cost per request).
            // A PostgreSQL connection can die with its server: keep the check.
            .test_before_acquire(backend == Backend::Postgres)
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
        let seal = |field: &str, secret: &Option<Secret>| {
            secret.as_ref().map(|c| self.sealer.seal(&aad(&user.id, field), c.expose().as_bytes()))
        };
        let key_id = |secret: &Option<Secret>| secret.as_ref().map(|_| self.sealer.key_id().to_owned());
        let now = now_secs();
        sqlx::query(
            "INSERT INTO users (id, platform, crm_user_id, name, hostname, auth_kind, credential, credential_key_id,
                                refresh_token, refresh_key_id, expires_at, status, last_error, created_at, updated_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, 'active', NULL, $12, $12)
             ON CONFLICT (id) DO UPDATE SET name = $4, hostname = $5, auth_kind = $6,
                 credential = $7, credential_key_id = $8, refresh_token = $9, refresh_key_id = $10,
                 expires_at = $11, status = 'active', last_error = NULL, updated_at = $12",
        )
        .bind(&user.id)
        .bind(&user.platform)
        .bind(&user.crm_user_id)
        .bind(&user.name)
        .bind(&user.hostname)
        .bind(&user.auth_kind)
        .bind(seal("credential", &user.credential))
        .bind(key_id(&user.credential))
        .bind(seal("refresh_token", &user.refresh_token))
        .bind(key_id(&user.refresh_token))
        .bind(user.expires_at)
        .bind(now)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    fn open_secret(&self, row: &AnyRow, user_id: &str, column: &str, key_column: &str) -> StoreResult<Option<Secret>> {
        let sealed: Option<Vec<u8>> = row.try_get(column)?;
        let key_id: Option<String> = row.try_get(key_column)?;
        Ok(match (sealed, key_id) {
            (Some(sealed), Some(key_id)) => {
                let plain = self.sealer.open(&key_id, &aad(user_id, column), &sealed)?;
                Some(Secret(String::from_utf8_lossy(&plain).into_owned()))
            }
            _ => None,
        })
    }

    pub async fn user(&self, id: &str) -> StoreResult<Option<User>> {
        let row = sqlx::query(
            "SELECT id, platform, crm_user_id, name, hostname, auth_kind, credential, credential_key_id,
                    refresh_token, refresh_key_id, expires_at, status
             FROM users WHERE id = $1",
        )
        .bind(id)
        .fetch_optional(&self.pool)
        .await?;
        let Some(row) = row else { return Ok(None) };
        Ok(Some(User {
            credential: self.open_secret(&row, id, "credential", "credential_key_id")?,
            refresh_token: self.open_secret(&row, id, "refresh_token", "refresh_key_id")?,
            expires_at: row.try_get("expires_at")?,
            status: row.try_get("status")?,
            id: row.try_get("id")?,
            platform: row.try_get("platform")?,
            crm_user_id: row.try_get("crm_user_id")?,
            name: row.try_get("name")?,
            hostname: row.try_get("hostname")?,
            auth_kind: row.try_get("auth_kind")?,
        }))
    }

    /// Stores a refreshed token set in one statement. `refresh` is `None` when
    /// the provider did not rotate it: the stored one is kept.
    pub async fn update_tokens(
        &self,
        user_id: &str,
        access: &Secret,
        refresh: Option<&Secret>,
        expires_at: Option<i64>,
    ) -> StoreResult<()> {
        let now = now_secs();
        let sealed_access = self.sealer.seal(&aad(user_id, "credential"), access.expose().as_bytes());
        let key = self.sealer.key_id().to_owned();
        match refresh {
            Some(r) => {
                let sealed_refresh = self.sealer.seal(&aad(user_id, "refresh_token"), r.expose().as_bytes());
                sqlx::query(
                    "UPDATE users SET credential = $2, credential_key_id = $3, refresh_token = $4, refresh_key_id = $3,
                         expires_at = $5, last_refresh_at = $6, last_error = NULL, updated_at = $6 WHERE id = $1",
                )
                .bind(user_id)
                .bind(sealed_access)
                .bind(&key)
                .bind(sealed_refresh)
                .bind(expires_at)
                .bind(now)
                .execute(&self.pool)
                .await?;
            }
            None => {
                sqlx::query(
                    "UPDATE users SET credential = $2, credential_key_id = $3, expires_at = $4, last_refresh_at = $5,
                         last_error = NULL, updated_at = $5 WHERE id = $1",
                )
                .bind(user_id)
                .bind(sealed_access)
                .bind(&key)
                .bind(expires_at)
                .bind(now)
                .execute(&self.pool)
                .await?;
            }
        }
        Ok(())
    }

    /// Records a failed refresh; `revoked` marks the connection unusable until
    /// the user logs in again.
    pub async fn record_refresh_failure(&self, user_id: &str, error: &str, revoked: bool) -> StoreResult<()> {
        sqlx::query(
            "UPDATE users SET last_error = $2, status = CASE WHEN $3 THEN 'revoked' ELSE status END, updated_at = $4
             WHERE id = $1",
        )
        .bind(user_id)
        .bind(error)
        .bind(revoked)
        .bind(now_secs())
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Saves an OAuth `state` with its (sealed) PKCE verifier.
    pub async fn insert_oauth_state(
        &self,
        state: &str,
        platform: &str,
        hostname: Option<&str>,
        verifier: Option<&Secret>,
        ttl_secs: i64,
    ) -> StoreResult<()> {
        let sealed = verifier.map(|v| self.sealer.seal(&aad(state, "pkce_verifier"), v.expose().as_bytes()));
        sqlx::query(
            "INSERT INTO oauth_states (state, platform, hostname, pkce_verifier, key_id, expires_at)
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(state)
        .bind(platform)
        .bind(hostname)
        .bind(sealed)
        .bind(self.sealer.key_id())
        .bind(now_secs() + ttl_secs)
        .execute(&self.pool)
        .await?;
        // Expired states are of no use to anyone.
        sqlx::query("DELETE FROM oauth_states WHERE expires_at < $1")
            .bind(now_secs() - 3600)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Takes a state out (single use): what the login started with, or
    /// `None` when it is unknown, already used or expired.
    pub async fn take_oauth_state(&self, state: &str) -> StoreResult<Option<PendingLogin>> {
        let row = sqlx::query(
            "DELETE FROM oauth_states WHERE state = $1 RETURNING platform, hostname, pkce_verifier, key_id, expires_at",
        )
        .bind(state)
        .fetch_optional(&self.pool)
        .await?;
        let Some(row) = row else { return Ok(None) };
        let expires_at: i64 = row.try_get("expires_at")?;
        if expires_at < now_secs() {
            return Ok(None);
        }
        let verifier = self.open_secret(&row, state, "pkce_verifier", "key_id")?;
        Ok(Some(PendingLogin { platform: row.try_get("platform")?, hostname: row.try_get("hostname")?, verifier }))
    }

    /// Re-encrypts every stored secret that is not under the current key;
    /// returns how many. Run by `switchboard rotate-key`.
    pub async fn reencrypt_all(&self) -> StoreResult<usize> {
        let mut count = 0;
        let current = self.sealer.key_id().to_owned();
        // Column names come from this fixed list, never from input.
        for (column, key_column) in [("credential", "credential_key_id"), ("refresh_token", "refresh_key_id")] {
            let select = format!(
                "SELECT id, {column}, {key_column} FROM users WHERE {column} IS NOT NULL AND {key_column} <> $1"
            );
            let rows = sqlx::query(sqlx::AssertSqlSafe(select)).bind(&current).fetch_all(&self.pool).await?;
            for row in rows {
                let id: String = row.try_get("id")?;
                let Some(secret) = self.open_secret(&row, &id, column, key_column)? else { continue };
                let sealed = self.sealer.seal(&aad(&id, column), secret.expose().as_bytes());
                let update = format!("UPDATE users SET {column} = $2, {key_column} = $3 WHERE id = $1");
                sqlx::query(sqlx::AssertSqlSafe(update))
                    .bind(&id)
                    .bind(sealed)
                    .bind(&current)
                    .execute(&self.pool)
                    .await?;
                count += 1;
            }
        }
        // Login states live minutes: drop the old-key ones rather than re-encrypt them.
        sqlx::query("DELETE FROM oauth_states WHERE key_id <> $1").bind(&current).execute(&self.pool).await?;
        Ok(count)
    }

    /// Connections for operators: no secrets, just their state.
    pub async fn connections(&self, platform: Option<&str>) -> StoreResult<Vec<ConnectionInfo>> {
        let rows = sqlx::query(
            "SELECT id, platform, name, auth_kind, status, expires_at, last_refresh_at, last_error,
                    CASE WHEN credential IS NULL THEN 0 ELSE 1 END AS connected
             FROM users WHERE $1 = '' OR platform = $1 ORDER BY id",
        )
        .bind(platform.unwrap_or_default().to_owned())
        .fetch_all(&self.pool)
        .await?;
        let now = now_secs();
        let mut out = Vec::with_capacity(rows.len());
        for row in rows {
            let status: String = row.try_get("status")?;
            let expires_at: Option<i64> = row.try_get("expires_at")?;
            let connected: i32 = row.try_get("connected")?;
            let state = match (status.as_str(), connected, expires_at) {
                ("revoked", _, _) => "revoked",
                (_, 0, _) => "disconnected",
                (_, _, Some(t)) if t <= now => "expired",
                _ => "active",
            };
            out.push(ConnectionInfo {
                user_id: row.try_get("id")?,
                platform: row.try_get("platform")?,
                name: row.try_get("name")?,
                auth_kind: row.try_get("auth_kind")?,
                status: state.to_owned(),
                expires_at,
                last_refresh_at: row.try_get("last_refresh_at")?,
                last_error: row.try_get("last_error")?,
            });
        }
        Ok(out)
    }

    /// Appends a connection event (never a secret).
    pub async fn audit(&self, event: &AuditEvent<'_>) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO audit_events (at, user_id, platform, event, ip, user_agent, detail) VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(now_secs())
        .bind(event.user_id.map(str::to_owned))
        .bind(event.platform.to_owned())
        .bind(event.event.to_owned())
        .bind(event.ip.map(str::to_owned))
        .bind(event.user_agent.map(str::to_owned))
        .bind(event.detail.map(str::to_owned))
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Holds the cross-replica refresh lock of one connection (PostgreSQL
    /// advisory lock; SQLite serves one process and needs none) while `f` runs.
    pub async fn with_refresh_lock<T, F>(&self, user_id: &str, f: F) -> StoreResult<T>
    where
        F: std::future::Future<Output = T>,
    {
        if self.backend != Backend::Postgres {
            return Ok(f.await);
        }
        let mut conn = self.pool.acquire().await?;
        // Wrapped in a SELECT of a number: the Any driver cannot decode `void`.
        // Owned binds: a borrowed one on a `&mut AnyConnection` executor makes
        // the future not `Send` for every lifetime, which `tokio::spawn` needs.
        sqlx::query("SELECT 1 AS locked FROM (SELECT pg_advisory_lock(hashtext($1))) AS l")
            .bind(user_id.to_owned())
            .fetch_one(&mut *conn)
            .await?;
        let out = f.await;
        sqlx::query("SELECT 1 AS unlocked FROM (SELECT pg_advisory_unlock(hashtext($1))) AS l")
            .bind(user_id.to_owned())
            .fetch_one(&mut *conn)
            .await?;
        Ok(out)
    }

    /// Forgets a user's CRM credential (the user row and settings stay).
    pub async fn clear_credential(&self, user_id: &str) -> StoreResult<()> {
        sqlx::query(
            "UPDATE users SET credential = NULL, credential_key_id = NULL, refresh_token = NULL, refresh_key_id = NULL,
                 expires_at = NULL, updated_at = $2 WHERE id = $1",
        )
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
