//! Settings a RingCentral account's admin presets for its users (App
//! Connect's admin page), one JSON object per account, keyed by the account
//! id's keyed hash. A save merges its top-level keys into what is stored, as
//! App Connect does.

use super::{Store, StoreResult};
use crate::clock::now_secs;
use serde_json::{Map, Value};
use sqlx::Row;

impl Store {
    /// The account's admin settings, if an admin saved any.
    pub(crate) async fn admin_settings(&self, account_hash: &str) -> StoreResult<Option<Map<String, Value>>> {
        let row = sqlx::query("SELECT settings FROM admin_settings WHERE account_hash = $1")
            .bind(account_hash)
            .fetch_optional(&self.pool)
            .await?;
        let Some(row) = row else { return Ok(None) };
        let text: String = row.try_get("settings")?;
        Ok(serde_json::from_str::<Value>(&text).ok().and_then(|v| v.as_object().cloned()))
    }

    /// Merges `update`'s keys into the account's admin settings; returns the result.
    pub(crate) async fn merge_admin_settings(
        &self,
        account_hash: &str,
        update: Map<String, Value>,
    ) -> StoreResult<Map<String, Value>> {
        let mut tx = self.writer.begin().await?;
        let row = sqlx::query("SELECT settings FROM admin_settings WHERE account_hash = $1")
            .bind(account_hash)
            .fetch_optional(&mut *tx)
            .await?;
        let mut merged = match row {
            Some(r) => serde_json::from_str::<Value>(&r.try_get::<String, _>("settings")?)
                .ok()
                .and_then(|v| v.as_object().cloned())
                .unwrap_or_default(),
            None => Map::new(),
        };
        merged.extend(update);
        sqlx::query(
            "INSERT INTO admin_settings (account_hash, settings, updated_at) VALUES ($1, $2, $3)
             ON CONFLICT (account_hash) DO UPDATE SET settings = $2, updated_at = $3",
        )
        .bind(account_hash)
        .bind(Value::Object(merged.clone()).to_string())
        .bind(now_secs())
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(merged)
    }
}
