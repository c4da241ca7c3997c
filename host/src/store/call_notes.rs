//! Notes cached during a call (`POST /callLog/cacheNote`): kept for a day and
//! taken when the call is logged without a note of its own.

use super::{Store, StoreResult};
use crate::clock::now_secs;
use sqlx::Row;

/// How long a cached note waits for its call to be logged.
const KEEP_SECS: i64 = 24 * 3600;

impl Store {
    /// Keeps (or replaces) the note of a call session.
    pub(crate) async fn cache_note(&self, user_id: &str, session_id: &str, note: &str) -> StoreResult<()> {
        let now = now_secs();
        sqlx::query(
            "INSERT INTO call_notes (user_id, session_id, note, expires_at) VALUES ($1, $2, $3, $4)
             ON CONFLICT (user_id, session_id) DO UPDATE SET note = $3, expires_at = $4",
        )
        .bind(user_id)
        .bind(session_id)
        .bind(note)
        .bind(now + KEEP_SECS)
        .execute(&self.writer)
        .await?;
        sqlx::query("DELETE FROM call_notes WHERE expires_at < $1").bind(now).execute(&self.writer).await?;
        Ok(())
    }

    /// The unexpired cached note of a call session, if any.
    pub(crate) async fn cached_note(&self, user_id: &str, session_id: &str) -> StoreResult<Option<String>> {
        let row =
            sqlx::query("SELECT note FROM call_notes WHERE user_id = $1 AND session_id = $2 AND expires_at >= $3")
                .bind(user_id)
                .bind(session_id)
                .bind(now_secs())
                .fetch_optional(&self.pool)
                .await?;
        Ok(row.map(|r| r.try_get("note")).transpose()?)
    }

    /// Forgets a call session's cached note (it went into the log), in the
    /// caller's transaction.
    pub(super) async fn forget_note(
        &self,
        conn: &mut sqlx::AnyConnection,
        user_id: &str,
        session_id: &str,
    ) -> StoreResult<()> {
        sqlx::query("DELETE FROM call_notes WHERE user_id = $1 AND session_id = $2")
            .bind(user_id)
            .bind(session_id)
            .execute(&mut *conn)
            .await?;
        Ok(())
    }
}
