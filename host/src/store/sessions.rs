//! Sessions: what a jwtToken with a `sid` claim names. The token only points
//! at its session; the row decides whether it is still good, so logging out
//! ends it at once and an unused session lapses after the idle timeout, while
//! one in use is renewed (its `last_used_at`) for as long as it is used.

use super::users::user_columns;
use super::{Store, StoreResult, User};
use crate::clock::now_secs;
use rand::RngCore;
use sqlx::Row;

/// How often a session in use records that it was used.
const TOUCH_EVERY_SECS: i64 = 3600;

/// A session row as the session check needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SessionRow {
    pub(crate) last_used_at: i64,
    pub(crate) revoked: bool,
}

impl Store {
    /// Opens a session for a user who just logged in; returns its id.
    pub(crate) async fn create_session(&self, user_id: &str) -> StoreResult<String> {
        let mut bytes = [0u8; 16];
        rand::rng().fill_bytes(&mut bytes);
        let sid = hex::encode(bytes);
        let now = now_secs();
        sqlx::query("INSERT INTO sessions (sid, user_id, created_at, last_used_at) VALUES ($1, $2, $3, $3)")
            .bind(&sid)
            .bind(user_id)
            .bind(now)
            .execute(&self.writer)
            .await?;
        Ok(sid)
    }

    /// The user and, when it exists and is theirs, the session `sid`: from
    /// memory when cached (see `session_cache`), else in one query.
    pub(crate) async fn user_with_session(
        &self,
        user_id: &str,
        sid: &str,
    ) -> StoreResult<Option<(User, Option<SessionRow>)>> {
        if let Some((user, session)) = self.signed_in.get(user_id, sid) {
            return Ok(Some((user, Some(session))));
        }
        let ticket = self.signed_in.ticket();
        let found = self.read_user_with_session(user_id, sid).await?;
        if let (Some(ticket), Some((user, Some(session)))) = (ticket, &found) {
            self.signed_in.put(ticket, sid, user, session);
        }
        Ok(found)
    }

    async fn read_user_with_session(
        &self,
        user_id: &str,
        sid: &str,
    ) -> StoreResult<Option<(User, Option<SessionRow>)>> {
        let query = concat!(
            "SELECT ",
            user_columns!(),
            ", s.last_used_at AS session_used, s.revoked_at AS session_revoked
             FROM users u LEFT JOIN sessions s ON s.sid = $2 AND s.user_id = u.id WHERE u.id = $1"
        );
        let row = sqlx::query(query).bind(user_id).bind(sid).fetch_optional(&self.pool).await?;
        let Some(row) = row else { return Ok(None) };
        let user = self.user_of_row(&row, user_id)?;
        let used: Option<i64> = row.try_get("session_used")?;
        let revoked: Option<i64> = row.try_get("session_revoked")?;
        Ok(Some((user, used.map(|last_used_at| SessionRow { last_used_at, revoked: revoked.is_some() }))))
    }

    /// Forgets the cached copy of a user and their sessions: after every
    /// commit that changed either.
    pub(super) fn user_changed(&self, user_id: &str) {
        self.signed_in.forget(user_id);
    }

    /// Forgets every cached user (after credentials were re-sealed).
    pub(super) fn users_changed(&self) {
        self.signed_in.forget_all();
    }

    /// Records that a session was used, at most once per [`TOUCH_EVERY_SECS`].
    pub(crate) async fn touch_session(&self, user_id: &str, sid: &str, session: &SessionRow) -> StoreResult<()> {
        let now = now_secs();
        if now - session.last_used_at < TOUCH_EVERY_SECS {
            return Ok(());
        }
        sqlx::query("UPDATE sessions SET last_used_at = $2 WHERE sid = $1 AND revoked_at IS NULL")
            .bind(sid)
            .bind(now)
            .execute(&self.writer)
            .await?;
        self.user_changed(user_id);
        Ok(())
    }

    /// Ends every session of a user (logout).
    pub(crate) async fn revoke_sessions(&self, user_id: &str) -> StoreResult<()> {
        sqlx::query("UPDATE sessions SET revoked_at = $2 WHERE user_id = $1 AND revoked_at IS NULL")
            .bind(user_id)
            .bind(now_secs())
            .execute(&self.writer)
            .await?;
        self.user_changed(user_id);
        Ok(())
    }
}
