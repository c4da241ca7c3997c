//! Widget tokens: a workspace's short-lived grant to show one customer's
//! integrations in the embeddable widget. Stored as the token's hash only.

use super::{Store, StoreResult};
use crate::clock::now_secs;
use sqlx::Row;

/// What a widget token grants.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct WidgetToken {
    pub(crate) id: String,
    pub(crate) workspace_id: String,
    pub(crate) customer_id: String,
    pub(crate) created_at: i64,
    pub(crate) expires_at: i64,
}

impl Store {
    /// Stores a new token (by its hash); forgets tokens that expired a day ago.
    pub(crate) async fn insert_widget_token(&self, t: &WidgetToken, token_hash: &str) -> StoreResult<()> {
        sqlx::query("DELETE FROM widget_tokens WHERE expires_at < $1")
            .bind(now_secs() - 86_400)
            .execute(&self.writer)
            .await?;
        sqlx::query(
            "INSERT INTO widget_tokens (token_hash, id, workspace_id, customer_id, created_at, expires_at)
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(token_hash)
        .bind(&t.id)
        .bind(&t.workspace_id)
        .bind(&t.customer_id)
        .bind(t.created_at)
        .bind(t.expires_at)
        .execute(&self.writer)
        .await?;
        Ok(())
    }

    /// The token with this hash, expired or not (the caller tells which).
    pub(crate) async fn widget_token(&self, token_hash: &str) -> StoreResult<Option<WidgetToken>> {
        let row = sqlx::query(
            "SELECT id, workspace_id, customer_id, created_at, expires_at FROM widget_tokens WHERE token_hash = $1",
        )
        .bind(token_hash)
        .fetch_optional(&self.pool)
        .await?;
        row.map(|r| {
            Ok(WidgetToken {
                id: r.try_get("id")?,
                workspace_id: r.try_get("workspace_id")?,
                customer_id: r.try_get("customer_id")?,
                created_at: r.try_get("created_at")?,
                expires_at: r.try_get("expires_at")?,
            })
        })
        .transpose()
    }
}
