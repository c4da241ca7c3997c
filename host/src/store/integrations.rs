//! Integrations: connections owned by a workspace's customer instead of an
//! App Connect user. The connection (sealed credential, refresh token,
//! expiry, status, last refresh and error) is the `users` row of the same
//! id, read and refreshed like any other; the `integrations` row says who
//! owns it, under which name, with which metadata, and since when.

use super::users::user_columns;
use super::{Store, StoreResult, User};
use crate::clock::now_secs;
use crate::store::users::ConnectionState;
use crate::webhooks::EventType;
use serde_json::Value;
use sqlx::Row;
use sqlx::any::AnyRow;

/// Who owns an integration: a workspace's customer.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Owner<'a> {
    pub(crate) workspace_id: &'a str,
    pub(crate) customer_id: &'a str,
}

/// An integration and its connection.
#[derive(Debug, Clone)]
pub(crate) struct Integration {
    pub(crate) id: String,
    pub(crate) workspace_id: String,
    pub(crate) customer_id: String,
    pub(crate) connector: String,
    pub(crate) name: Option<String>,
    /// A JSON object.
    pub(crate) metadata: Value,
    pub(crate) created_at: i64,
    pub(crate) connected_at: i64,
    pub(crate) disconnected_at: Option<i64>,
    pub(crate) last_refresh_at: Option<i64>,
    pub(crate) last_error: Option<String>,
    /// The `users` row: the CRM account, credential and status.
    pub(crate) connection: User,
}

impl Integration {
    pub(crate) fn state(&self, now: i64) -> ConnectionState {
        let c = &self.connection;
        ConnectionState::of(c.status, c.credential.is_some(), c.expires_at, now)
    }
}

/// What a connect stores: the connection (its `id` is set to the
/// integration's), the integration's name and metadata when given, and the
/// integration it renews when the customer named one.
pub(crate) struct Connect<'a> {
    pub(crate) owner: Owner<'a>,
    pub(crate) renews: Option<&'a str>,
    pub(crate) name: Option<&'a str>,
    pub(crate) metadata: Option<&'a Value>,
}

/// Which integrations to list.
#[derive(Debug, Default)]
pub(crate) struct Filter<'a> {
    pub(crate) customer_id: Option<&'a str>,
    pub(crate) connector: Option<&'a str>,
}

macro_rules! integration_columns {
    () => {
        "i.id AS integration_id, i.workspace_id AS owner_workspace, i.customer_id, i.connector, i.name AS integration_name,
         i.metadata, i.created_at AS integration_created, i.connected_at, i.disconnected_at, u.last_refresh_at, u.last_error"
    };
}

impl Store {
    /// Stores a connect in one transaction: a new integration for the
    /// customer and connector, or the renewal of theirs (the same id, also
    /// when disconnected), with its connection. Answers whether it is new;
    /// `None` when `renews` names no integration of this customer and connector.
    pub(crate) async fn save_integration(
        &self,
        connect: &Connect<'_>,
        fresh_id: &str,
        user: &mut User,
    ) -> StoreResult<Option<bool>> {
        let Owner { workspace_id, customer_id } = connect.owner;
        let now = now_secs();
        let metadata = connect.metadata.map(serde_json::to_string).transpose()?;
        let mut tx = self.writer.begin().await?;
        let id: Option<String> = match connect.renews {
            Some(renews) => sqlx::query(
                "UPDATE integrations SET name = COALESCE($5, name), metadata = COALESCE($6, metadata),
                     connected_at = $7, disconnected_at = NULL, updated_at = $7
                 WHERE id = $1 AND workspace_id = $2 AND customer_id = $3 AND connector = $4 RETURNING id",
            )
            .bind(renews)
            .bind(workspace_id)
            .bind(customer_id)
            .bind(&user.platform)
            .bind(connect.name)
            .bind(&metadata)
            .bind(now)
            .fetch_optional(&mut *tx)
            .await?
            .map(|r| r.try_get("id"))
            .transpose()?,
            None => Some(
                sqlx::query(
                    "INSERT INTO integrations (id, workspace_id, customer_id, connector, name, metadata,
                                               created_at, connected_at, updated_at)
                     VALUES ($1, $2, $3, $4, $5, COALESCE($6, '{}'), $7, $7, $7)
                     ON CONFLICT (workspace_id, customer_id, connector) DO UPDATE SET
                         name = COALESCE(excluded.name, integrations.name),
                         metadata = COALESCE($6, integrations.metadata),
                         connected_at = excluded.connected_at, disconnected_at = NULL,
                         updated_at = excluded.updated_at
                     RETURNING id",
                )
                .bind(fresh_id)
                .bind(workspace_id)
                .bind(customer_id)
                .bind(&user.platform)
                .bind(connect.name)
                .bind(&metadata)
                .bind(now)
                .fetch_one(&mut *tx)
                .await?
                .try_get("id")?,
            ),
        };
        let Some(id) = id else { return Ok(None) };
        user.id = id;
        if self.write_user(&mut *tx, user, Some(workspace_id)).await? != 1 {
            return Err(sqlx::Error::Protocol(format!("integration id {:?} belongs to another owner", user.id)).into());
        }
        let created = user.id == fresh_id;
        let kind = if created { EventType::IntegrationConnected } else { EventType::IntegrationReconnected };
        self.enqueue_connection_event(&mut tx, kind, &user.id, serde_json::json!({})).await?;
        tx.commit().await?;
        self.user_changed(&user.id);
        self.outbox_written();
        Ok(Some(created))
    }

    /// The workspace's integration `id`, with its connection.
    pub(crate) async fn integration(&self, workspace_id: &str, id: &str) -> StoreResult<Option<Integration>> {
        let query = concat!(
            "SELECT ",
            user_columns!(),
            ", ",
            integration_columns!(),
            " FROM integrations i JOIN users u ON u.id = i.id WHERE i.id = $1 AND i.workspace_id = $2"
        );
        let row = sqlx::query(query).bind(id).bind(workspace_id).fetch_optional(&self.pool).await?;
        row.map(|row| self.integration_of_row(&row)).transpose()
    }

    /// The workspace's integrations, oldest first.
    pub(crate) async fn integrations(&self, workspace_id: &str, filter: &Filter<'_>) -> StoreResult<Vec<Integration>> {
        let query = format!(
            concat!(
                "SELECT ",
                user_columns!(),
                ", ",
                integration_columns!(),
                " FROM integrations i JOIN users u ON u.id = i.id
                 WHERE i.workspace_id = $1 AND ($2 = '' OR i.customer_id = $2) AND ($3 = '' OR i.connector = $3)
                 ORDER BY i.created_at, {}"
            ),
            self.backend.insertion_order("i")
        );
        let rows = sqlx::query(sqlx::AssertSqlSafe(query))
            .bind(workspace_id)
            .bind(filter.customer_id.unwrap_or_default().to_owned())
            .bind(filter.connector.unwrap_or_default().to_owned())
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(|row| self.integration_of_row(row)).collect()
    }

    fn integration_of_row(&self, row: &AnyRow) -> StoreResult<Integration> {
        let id: String = row.try_get("integration_id")?;
        let metadata: String = row.try_get("metadata")?;
        Ok(Integration {
            connection: self.user_of_row(row, &id)?,
            workspace_id: row.try_get("owner_workspace")?,
            customer_id: row.try_get("customer_id")?,
            connector: row.try_get("connector")?,
            name: row.try_get("integration_name")?,
            metadata: serde_json::from_str(&metadata)?,
            created_at: row.try_get("integration_created")?,
            connected_at: row.try_get("connected_at")?,
            disconnected_at: row.try_get("disconnected_at")?,
            last_refresh_at: row.try_get("last_refresh_at")?,
            last_error: row.try_get("last_error")?,
            id,
        })
    }

    /// Sets an integration's name and/or metadata; false if the workspace has no such integration.
    pub(crate) async fn update_integration(
        &self,
        workspace_id: &str,
        id: &str,
        name: Option<Option<&str>>,
        metadata: Option<&Value>,
    ) -> StoreResult<bool> {
        let done = sqlx::query(
            "UPDATE integrations SET name = CASE WHEN $3 THEN $4 ELSE name END,
                 metadata = COALESCE($5, metadata), updated_at = $6
             WHERE id = $1 AND workspace_id = $2",
        )
        .bind(id)
        .bind(workspace_id)
        .bind(name.is_some())
        .bind(name.flatten())
        .bind(metadata.map(serde_json::to_string).transpose()?)
        .bind(now_secs())
        .execute(&self.writer)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Forgets an integration's credentials and marks it disconnected (the
    /// row stays, so a reconnect keeps its id and its audit trail).
    pub(crate) async fn disconnect_integration(&self, id: &str) -> StoreResult<()> {
        let now = now_secs();
        let mut tx = self.writer.begin().await?;
        sqlx::query(
            "UPDATE users SET credential = NULL, credential_key_id = NULL, refresh_token = NULL, refresh_key_id = NULL,
                 expires_at = NULL, updated_at = $2 WHERE id = $1",
        )
        .bind(id)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        sqlx::query("UPDATE integrations SET disconnected_at = $2, updated_at = $2 WHERE id = $1")
            .bind(id)
            .bind(now)
            .execute(&mut *tx)
            .await?;
        self.enqueue_connection_event(&mut tx, EventType::IntegrationDisconnected, id, serde_json::json!({})).await?;
        tx.commit().await?;
        self.user_changed(id);
        self.outbox_written();
        Ok(())
    }
}
