//! The audit log of connection events (logins, refreshes, failures,
//! revocations, disconnects): time, IP and user agent, never a secret.

use super::{Store, StoreResult};
use crate::clock::now_secs;

/// What happened to a connection (the `event` column).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum AuditKind {
    Login,
    Refresh,
    RefreshFailed,
    Revoked,
    Disconnect,
    /// A connection renewed (an integration connected again).
    Reconnect,
    /// A workspace's backend took an integration's access token.
    AccessToken,
}

impl AuditKind {
    fn as_str(self) -> &'static str {
        match self {
            AuditKind::Login => "login",
            AuditKind::Refresh => "refresh",
            AuditKind::RefreshFailed => "refresh_failed",
            AuditKind::Revoked => "revoked",
            AuditKind::Disconnect => "disconnect",
            AuditKind::Reconnect => "reconnect",
            AuditKind::AccessToken => "access_token",
        }
    }
}

/// A connection event for the audit log.
#[derive(Debug)]
pub(crate) struct AuditEvent<'a> {
    pub(crate) user_id: Option<&'a str>,
    pub(crate) platform: &'a str,
    pub(crate) event: AuditKind,
    pub(crate) ip: Option<&'a str>,
    pub(crate) user_agent: Option<&'a str>,
    pub(crate) detail: Option<&'a str>,
}

impl<'a> AuditEvent<'a> {
    /// An event of one user's connection, without request details.
    pub(crate) fn of(user_id: &'a str, platform: &'a str, event: AuditKind) -> Self {
        AuditEvent { user_id: Some(user_id), platform, event, ip: None, user_agent: None, detail: None }
    }
}

/// A stored connection event.
#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct AuditRecord {
    /// Unix seconds.
    pub(crate) at: i64,
    /// `login`, `reconnect`, `refresh`, `refresh_failed`, `revoked`, `access_token`, `disconnect`.
    pub(crate) event: String,
    pub(crate) ip: Option<String>,
    pub(crate) user_agent: Option<String>,
    pub(crate) detail: Option<String>,
}

impl Store {
    /// A connection's newest events first, at most `limit`.
    pub(crate) async fn audit_trail(&self, user_id: &str, limit: i64) -> StoreResult<Vec<AuditRecord>> {
        use sqlx::Row;
        let rows = sqlx::query(
            "SELECT at, event, ip, user_agent, detail FROM audit_events WHERE user_id = $1 ORDER BY id DESC LIMIT $2",
        )
        .bind(user_id)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(AuditRecord {
                    at: r.try_get("at")?,
                    event: r.try_get("event")?,
                    ip: r.try_get("ip")?,
                    user_agent: r.try_get("user_agent")?,
                    detail: r.try_get("detail")?,
                })
            })
            .collect()
    }

    /// Appends a connection event (never a secret).
    pub(crate) async fn audit(&self, event: &AuditEvent<'_>) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO audit_events (at, user_id, platform, event, ip, user_agent, detail) VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(now_secs())
        .bind(event.user_id.map(str::to_owned))
        .bind(event.platform.to_owned())
        .bind(event.event.as_str())
        .bind(event.ip.map(str::to_owned))
        .bind(event.user_agent.map(str::to_owned))
        .bind(event.detail.map(str::to_owned))
        .execute(&self.writer)
        .await?;
        Ok(())
    }
}
