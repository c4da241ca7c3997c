//! The cross-replica lock that makes an OAuth refresh single-flight: a
//! PostgreSQL advisory lock per connection. SQLite serves the one process that
//! owns the file, whose in-process lock (`oauth::Connections`) is enough.

use super::{Backend, Store, StoreResult};

impl Store {
    /// Holds the refresh lock of one connection while `f` runs.
    pub(crate) async fn with_refresh_lock<T, F>(&self, user_id: &str, f: F) -> StoreResult<T>
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
}
