//! `switchboard rotate-key`: re-encrypting every stored secret with the
//! current key, so the previous keys can be dropped.

use super::{Place, Store, StoreResult};
use sqlx::Row;

/// A sealed column: its table, itself, the column holding its key id, and
/// the column name its associated data was sealed with.
struct Sealed {
    table: &'static str,
    column: &'static str,
    key_column: &'static str,
    place: &'static str,
}

const SEALED_COLUMNS: [Sealed; 4] = [
    Sealed { table: "users", column: "credential", key_column: "credential_key_id", place: "credential" },
    Sealed { table: "users", column: "refresh_token", key_column: "refresh_key_id", place: "refresh_token" },
    Sealed { table: "webhook_endpoints", column: "secret", key_column: "secret_key_id", place: "webhook_secret" },
    Sealed {
        table: "webhook_endpoints",
        column: "previous_secret",
        key_column: "previous_key_id",
        place: "webhook_previous_secret",
    },
];

impl Store {
    /// Re-encrypts every stored secret that is not under the current key;
    /// returns how many.
    pub(crate) async fn reencrypt_all(&self) -> StoreResult<usize> {
        let mut count = 0;
        let current = self.sealer.key_id().to_owned();
        // Column names come from the fixed list above, never from input.
        for Sealed { table, column, key_column, place } in SEALED_COLUMNS {
            let select = format!(
                "SELECT id, {column} AS {place}, {key_column} FROM {table}
                 WHERE {column} IS NOT NULL AND {key_column} <> $1"
            );
            let rows = sqlx::query(sqlx::AssertSqlSafe(select)).bind(&current).fetch_all(&self.pool).await?;
            for row in rows {
                let id: String = row.try_get("id")?;
                let place = Place { row: &id, column: place };
                let Some(secret) = self.open_secret(&row, place, key_column)? else { continue };
                let sealed = self.seal(place, &secret);
                let update = format!("UPDATE {table} SET {column} = $2, {key_column} = $3 WHERE id = $1");
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
        self.users_changed();
        Ok(count)
    }
}
