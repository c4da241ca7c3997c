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
}

impl AuditKind {
    fn as_str(self) -> &'static str {
        match self {
            AuditKind::Login => "login",
            AuditKind::Refresh => "refresh",
            AuditKind::RefreshFailed => "refresh_failed",
            AuditKind::Revoked => "revoked",
            AuditKind::Disconnect => "disconnect",
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

impl Store {
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
