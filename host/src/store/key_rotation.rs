//! `switchboard rotate-key`: re-encrypting every stored secret with the
//! current key, so the previous keys can be dropped.

use super::{Place, Store, StoreResult};
use sqlx::Row;

/// The sealed columns of `users` and the column holding each one's key id.
const SEALED_COLUMNS: [(&str, &str); 2] = [("credential", "credential_key_id"), ("refresh_token", "refresh_key_id")];

impl Store {
    /// Re-encrypts every stored secret that is not under the current key;
    /// returns how many.
    pub(crate) async fn reencrypt_all(&self) -> StoreResult<usize> {
        let mut count = 0;
        let current = self.sealer.key_id().to_owned();
        // Column names come from the fixed list above, never from input.
        for (column, key_column) in SEALED_COLUMNS {
            let select = format!(
                "SELECT id, {column}, {key_column} FROM users WHERE {column} IS NOT NULL AND {key_column} <> $1"
            );
            let rows = sqlx::query(sqlx::AssertSqlSafe(select)).bind(&current).fetch_all(&self.pool).await?;
            for row in rows {
                let id: String = row.try_get("id")?;
                let place = Place { row: &id, column };
                let Some(secret) = self.open_secret(&row, place, key_column)? else { continue };
                let sealed = self.seal(place, &secret);
                let update = format!("UPDATE users SET {column} = $2, {key_column} = $3 WHERE id = $1");
                sqlx::query(sqlx::AssertSqlSafe(update))
                    .bind(&id)
                    .bind(sealed)
                    .bind(&current)
                    .execute(&self.writer)
                    .await?;
                count += 1;
            }
        }
        // Login states live minutes: drop the old-key ones rather than re-encrypt them.
        sqlx::query("DELETE FROM oauth_states WHERE key_id <> $1").bind(&current).execute(&self.writer).await?;
        Ok(count)
    }
}
