//! Per-user settings (`GET|POST /user/settings`): JSON values by key.

use super::{Store, StoreResult};
use serde_json::Value;
use sqlx::Row;
use std::collections::BTreeMap;

impl Store {
    pub(crate) async fn settings(&self, user_id: &str) -> StoreResult<BTreeMap<String, Value>> {
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
    pub(crate) async fn update_settings(
        &self,
        user_id: &str,
        set: &BTreeMap<String, Value>,
        remove: &[String],
    ) -> StoreResult<()> {
        let mut tx = self.writer.begin().await?;
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
}
