//! Users and their connection to one CRM: who they are, how they log in, the
//! sealed credential (API key or OAuth access token) and refresh token, and
//! the connection's state as operators see it.

use super::{Place, Store, StoreError, StoreResult};
use crate::clock::now_secs;
use crate::secret::Secret;
use crate::webhooks::EventType;
use serde_json::json;
use sqlx::Row;
use sqlx::any::AnyRow;

/// How a connection logs in to its CRM (the `auth_kind` column).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
#[serde(rename_all = "kebab-case")]
pub(crate) enum AuthKind {
    ApiKey,
    Oauth,
}

impl AuthKind {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            AuthKind::ApiKey => "api-key",
            AuthKind::Oauth => "oauth",
        }
    }

    pub(super) fn parse(value: String) -> StoreResult<AuthKind> {
        match value.as_str() {
            "api-key" => Ok(AuthKind::ApiKey),
            "oauth" => Ok(AuthKind::Oauth),
            _ => Err(StoreError::UnknownValue { column: "users.auth_kind", value }),
        }
    }
}

/// Whether the CRM still accepts the connection (the `status` column).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ConnectionStatus {
    Active,
    /// The CRM refused a refresh: unusable until the user logs in again.
    Revoked,
}

impl ConnectionStatus {
    pub(super) fn parse(value: String) -> StoreResult<ConnectionStatus> {
        match value.as_str() {
            "active" => Ok(ConnectionStatus::Active),
            "revoked" => Ok(ConnectionStatus::Revoked),
            _ => Err(StoreError::UnknownValue { column: "users.status", value }),
        }
    }
}

/// A user and their connection to one CRM.
#[derive(Debug, Clone)]
pub(crate) struct User {
    pub(crate) id: String,
    pub(crate) platform: String,
    pub(crate) crm_user_id: String,
    pub(crate) name: String,
    pub(crate) hostname: String,
    pub(crate) auth_kind: AuthKind,
    /// The API key or OAuth access token; `None` after `POST /unAuthorize`.
    pub(crate) credential: Option<Secret>,
    /// OAuth only.
    pub(crate) refresh_token: Option<Secret>,
    /// When the access token expires (unix seconds), if the CRM said.
    pub(crate) expires_at: Option<i64>,
    pub(crate) status: ConnectionStatus,
}

/// A connection's state as operators see it (and `/api/v1` filters by).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub(crate) enum ConnectionState {
    Active,
    /// The access token is past its expiry; refreshed on next use.
    Expired,
    /// The CRM refused a refresh.
    Revoked,
    /// The user logged out.
    Disconnected,
}

impl ConnectionState {
    /// The state of a connection with this stored status, whether it holds a
    /// credential, and its access token's expiry, at `now`.
    pub(crate) fn of(status: ConnectionStatus, connected: bool, expires_at: Option<i64>, now: i64) -> Self {
        match (status, connected, expires_at) {
            (ConnectionStatus::Revoked, _, _) => ConnectionState::Revoked,
            (_, false, _) => ConnectionState::Disconnected,
            (_, _, Some(t)) if t <= now => ConnectionState::Expired,
            _ => ConnectionState::Active,
        }
    }
}

/// A connection as operators see it: no secrets, just its state.
#[derive(Debug, Clone, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ConnectionInfo {
    pub(crate) user_id: String,
    pub(crate) platform: String,
    pub(crate) name: String,
    pub(crate) auth_kind: AuthKind,
    pub(crate) status: ConnectionState,
    pub(crate) expires_at: Option<i64>,
    pub(crate) last_refresh_at: Option<i64>,
    pub(crate) last_error: Option<String>,
    /// For a Connect platform integration: its workspace and customer.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) workspace_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) customer_id: Option<String>,
}

/// The columns [`Store::user_of_row`] reads, from `users` aliased `u` (a
/// macro, so queries can `concat!` it at compile time).
macro_rules! user_columns {
    () => {
        "u.id, u.platform, u.crm_user_id, u.name, u.hostname, u.auth_kind, u.credential, u.credential_key_id,
         u.refresh_token, u.refresh_key_id, u.expires_at, u.status"
    };
}
pub(super) use user_columns;

fn credential_place(user_id: &str) -> Place<'_> {
    Place { row: user_id, column: "credential" }
}

fn refresh_place(user_id: &str) -> Place<'_> {
    Place { row: user_id, column: "refresh_token" }
}

impl Store {
    /// Creates or replaces a user's connection; the credential is sealed first.
    /// Stores a login. A user is (platform, crm user id): a row of that
    /// identity is updated and keeps its id; a new identity gets `user.id`
    /// unless another identity already holds that id (`"u-1001-crm"` on `b`
    /// and `"u-1001"` on `crm-b` both derive `u-1001-crm-b`), then an id no
    /// other identity has. `user.id` is set to the id stored.
    pub(crate) async fn upsert_user(&self, user: &mut User) -> StoreResult<()> {
        user.id = self.id_for(&user.platform, &user.crm_user_id, &user.id).await?;
        let mut tx = self.writer.begin().await?;
        let existed = sqlx::query("SELECT id FROM users WHERE id = $1").bind(&user.id).fetch_optional(&mut *tx).await?;
        let done = self.write_user(&mut *tx, user, None).await?;
        if done != 1 {
            // Another identity took the id between the lookup and the write.
            return Err(StoreError::Db(sqlx::Error::Protocol(format!(
                "user id {:?} belongs to another identity; log in again",
                user.id
            ))));
        }
        let kind = if existed.is_some() { EventType::IntegrationReconnected } else { EventType::IntegrationConnected };
        self.enqueue_connection_event(&mut tx, kind, &user.id, json!({})).await?;
        tx.commit().await?;
        self.user_changed(&user.id);
        self.outbox_written();
        Ok(())
    }

    /// Inserts or updates a connection's row, its secrets sealed first;
    /// answers the rows written (0: the id is another owner's). An App
    /// Connect user (`workspace_id` `None`) updates only the row of its
    /// identity (platform, crm user id); an integration only its workspace's.
    pub(super) async fn write_user<'e, E: sqlx::Executor<'e, Database = sqlx::Any>>(
        &self,
        executor: E,
        user: &User,
        workspace_id: Option<&str>,
    ) -> StoreResult<u64> {
        let credential = user.credential.as_ref().map(|c| self.seal(credential_place(&user.id), c));
        let refresh = user.refresh_token.as_ref().map(|r| self.seal(refresh_place(&user.id), r));
        let key_id = |sealed: &Option<Vec<u8>>| sealed.as_ref().map(|_| self.sealer.key_id().to_owned());
        let (credential_key, refresh_key) = (key_id(&credential), key_id(&refresh));
        let done = sqlx::query(
            "INSERT INTO users (id, platform, crm_user_id, name, hostname, auth_kind, credential, credential_key_id,
                                refresh_token, refresh_key_id, expires_at, status, last_error, created_at, updated_at,
                                workspace_id)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, 'active', NULL, $12, $12, $13)
             ON CONFLICT (id) DO UPDATE SET crm_user_id = $3, name = $4, hostname = $5, auth_kind = $6,
                 credential = $7, credential_key_id = $8, refresh_token = $9, refresh_key_id = $10,
                 expires_at = $11, status = 'active', last_error = NULL, updated_at = $12
             WHERE users.platform = $2
               AND ((users.workspace_id IS NULL AND $13 IS NULL AND users.crm_user_id = $3) OR users.workspace_id = $13)",
        )
        .bind(&user.id)
        .bind(&user.platform)
        .bind(&user.crm_user_id)
        .bind(&user.name)
        .bind(&user.hostname)
        .bind(user.auth_kind.as_str())
        .bind(credential)
        .bind(credential_key)
        .bind(refresh)
        .bind(refresh_key)
        .bind(user.expires_at)
        .bind(now_secs())
        .bind(workspace_id)
        .execute(executor)
        .await?;
        Ok(done.rows_affected())
    }

    /// The id of identity (platform, crm user id): its row's, else
    /// `preferred` if free, else one derived so that it cannot be another
    /// identity's (`<platform>:` and a hash; platforms have no `:`).
    async fn id_for(&self, platform: &str, crm_user_id: &str, preferred: &str) -> StoreResult<String> {
        let row = sqlx::query("SELECT id FROM users WHERE platform = $1 AND crm_user_id = $2 AND workspace_id IS NULL")
            .bind(platform)
            .bind(crm_user_id)
            .fetch_optional(&self.pool)
            .await?;
        if let Some(row) = row {
            return Ok(row.try_get("id")?);
        }
        if !self.id_taken(preferred).await? {
            return Ok(preferred.to_owned());
        }
        use sha2::{Digest, Sha256};
        let digest =
            hex::encode(Sha256::new().chain_update(platform).chain_update([0]).chain_update(crm_user_id).finalize());
        let mut n = 0u32;
        loop {
            let id = if n == 0 {
                format!("{platform}:{}", &digest[..40])
            } else {
                format!("{platform}:{}-{n}", &digest[..40])
            };
            if !self.id_taken(&id).await? {
                return Ok(id);
            }
            n += 1;
        }
    }

    async fn id_taken(&self, id: &str) -> StoreResult<bool> {
        Ok(sqlx::query("SELECT 1 AS one FROM users WHERE id = $1").bind(id).fetch_optional(&self.pool).await?.is_some())
    }

    pub(crate) async fn user(&self, id: &str) -> StoreResult<Option<User>> {
        let row = sqlx::query(concat!("SELECT ", user_columns!(), " FROM users u WHERE u.id = $1"))
            .bind(id)
            .fetch_optional(&self.pool)
            .await?;
        row.map(|row| self.user_of_row(&row, id)).transpose()
    }

    /// A `users` row selected with `user_columns!()`, its secrets opened.
    pub(super) fn user_of_row(&self, row: &AnyRow, id: &str) -> StoreResult<User> {
        Ok(User {
            credential: self.open_secret(row, credential_place(id), "credential_key_id")?,
            refresh_token: self.open_secret(row, refresh_place(id), "refresh_key_id")?,
            expires_at: row.try_get("expires_at")?,
            status: ConnectionStatus::parse(row.try_get("status")?)?,
            id: row.try_get("id")?,
            platform: row.try_get("platform")?,
            crm_user_id: row.try_get("crm_user_id")?,
            name: row.try_get("name")?,
            hostname: row.try_get("hostname")?,
            auth_kind: AuthKind::parse(row.try_get("auth_kind")?)?,
        })
    }

    /// Stores a refreshed token set in one statement. `refresh` is `None` when
    /// the provider did not rotate it: the stored one is kept.
    pub(crate) async fn update_tokens(
        &self,
        user_id: &str,
        access: &Secret,
        refresh: Option<&Secret>,
        expires_at: Option<i64>,
    ) -> StoreResult<()> {
        let now = now_secs();
        let sealed_access = self.seal(credential_place(user_id), access);
        let key = self.sealer.key_id().to_owned();
        let mut tx = self.writer.begin().await?;
        let failing: Option<String> = sqlx::query("SELECT last_error FROM users WHERE id = $1")
            .bind(user_id)
            .fetch_optional(&mut *tx)
            .await?
            .map(|r| r.try_get("last_error"))
            .transpose()?
            .flatten();
        match refresh {
            Some(r) => {
                sqlx::query(
                    "UPDATE users SET credential = $2, credential_key_id = $3, refresh_token = $4, refresh_key_id = $3,
                         expires_at = $5, last_refresh_at = $6, last_error = NULL, updated_at = $6 WHERE id = $1",
                )
                .bind(user_id)
                .bind(sealed_access)
                .bind(&key)
                .bind(self.seal(refresh_place(user_id), r))
                .bind(expires_at)
                .bind(now)
                .execute(&mut *tx)
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
                .execute(&mut *tx)
                .await?;
            }
        }
        if failing.is_some() {
            self.enqueue_connection_event(&mut tx, EventType::IntegrationRecovered, user_id, json!({})).await?;
        }
        tx.commit().await?;
        self.user_changed(user_id);
        if failing.is_some() {
            self.outbox_written();
        }
        Ok(())
    }

    /// Records a failed refresh; `revoked` marks the connection unusable until
    /// the user logs in again.
    pub(crate) async fn record_refresh_failure(&self, user_id: &str, error: &str, revoked: bool) -> StoreResult<()> {
        let mut tx = self.writer.begin().await?;
        sqlx::query(
            "UPDATE users SET last_error = $2, status = CASE WHEN $3 THEN 'revoked' ELSE status END, updated_at = $4
             WHERE id = $1",
        )
        .bind(user_id)
        .bind(error)
        .bind(revoked)
        .bind(now_secs())
        .execute(&mut *tx)
        .await?;
        let kind = if revoked { EventType::IntegrationRevoked } else { EventType::IntegrationRefreshFailed };
        self.enqueue_connection_event(&mut tx, kind, user_id, json!({"error": error})).await?;
        tx.commit().await?;
        self.user_changed(user_id);
        self.outbox_written();
        Ok(())
    }

    /// Forgets a user's CRM credential (the user row and settings stay).
    pub(crate) async fn clear_credential(&self, user_id: &str) -> StoreResult<()> {
        let mut tx = self.writer.begin().await?;
        sqlx::query(
            "UPDATE users SET credential = NULL, credential_key_id = NULL, refresh_token = NULL, refresh_key_id = NULL,
                 expires_at = NULL, updated_at = $2 WHERE id = $1",
        )
        .bind(user_id)
        .bind(now_secs())
        .execute(&mut *tx)
        .await?;
        self.enqueue_connection_event(&mut tx, EventType::IntegrationDisconnected, user_id, json!({})).await?;
        tx.commit().await?;
        self.user_changed(user_id);
        self.outbox_written();
        Ok(())
    }

    /// Connections for operators, optionally of one platform.
    pub(crate) async fn connections(&self, platform: Option<&str>) -> StoreResult<Vec<ConnectionInfo>> {
        let rows = sqlx::query(
            "SELECT u.id, u.platform, u.name, u.auth_kind, u.status, u.expires_at, u.last_refresh_at, u.last_error,
                    CASE WHEN u.credential IS NULL THEN 0 ELSE 1 END AS connected, i.workspace_id, i.customer_id
             FROM users u LEFT JOIN integrations i ON i.id = u.id
             WHERE $1 = '' OR u.platform = $1 ORDER BY u.id",
        )
        .bind(platform.unwrap_or_default().to_owned())
        .fetch_all(&self.pool)
        .await?;
        let now = now_secs();
        let mut out = Vec::with_capacity(rows.len());
        for row in rows {
            let status = ConnectionStatus::parse(row.try_get("status")?)?;
            let expires_at: Option<i64> = row.try_get("expires_at")?;
            let connected: i32 = row.try_get("connected")?;
            let state = ConnectionState::of(status, connected != 0, expires_at, now);
            out.push(ConnectionInfo {
                user_id: row.try_get("id")?,
                platform: row.try_get("platform")?,
                name: row.try_get("name")?,
                auth_kind: AuthKind::parse(row.try_get("auth_kind")?)?,
                status: state,
                expires_at,
                last_refresh_at: row.try_get("last_refresh_at")?,
                last_error: row.try_get("last_error")?,
                workspace_id: row.try_get("workspace_id")?,
                customer_id: row.try_get("customer_id")?,
            });
        }
        Ok(out)
    }

    /// The raw credential column of a user, for tests that check nothing is plaintext.
    #[cfg(test)]
    pub(crate) async fn raw_credential(&self, user_id: &str) -> StoreResult<Option<Vec<u8>>> {
        let row =
            sqlx::query("SELECT credential FROM users WHERE id = $1").bind(user_id).fetch_optional(&self.pool).await?;
        Ok(match row {
            Some(r) => r.try_get("credential")?,
            None => None,
        })
    }
}
