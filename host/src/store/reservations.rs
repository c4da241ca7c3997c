//! The ledgers that make logging idempotent: a call log per (user,
//! sessionId), a CRM record per (user, conversation), a message per (user,
//! message id).
//!
//! One protocol serves all three: the key is **reserved** (a `pending` row,
//! inserted with `ON CONFLICT DO NOTHING`) before the CRM is called, so of any
//! number of concurrent callers exactly one gets [`Reservation::Reserved`];
//! that caller then **completes** it with the CRM's id (`logged`) or
//! **releases** it after a failed CRM call, so a retry can take it again.
//!
//! A reservation is **leased** (`Store::with_lease`, longer than the CRM call
//! it guards may take): an owner that crashed or was killed never completes
//! nor releases, and a request that finds its lease ended takes the work over
//! with a lease of its own. The CRM create it then makes carries the same
//! idempotency key as the first attempt's, so a CRM that honours it returns
//! the record the first attempt may have created. Only the current owner
//! can release: a late owner whose lease was taken cannot delete the new
//! owner's reservation.

use super::group_commit::Work;
use super::{Backend, Store, StoreResult};
use crate::clock::now_secs;
use crate::webhooks::EventType;
use serde_json::json;
use sqlx::Row;
use sqlx::any::AnyRow;

/// A ledger key, with the detail its row records.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Ledger<'a> {
    /// `POST /callLog`: one CRM record per call session.
    Call { session_id: &'a str, contact_id: &'a str },
    /// `POST /messageLog`: one CRM record per conversation.
    Conversation { conversation_id: &'a str },
    /// `POST /messageLog`: each message logged once.
    Message { message_id: &'a str, conversation_id: &'a str },
}

/// The outcome of reserving a key, or what a lookup found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Reservation {
    /// This caller owns the key and must complete or release it.
    Reserved(Lease),
    /// Another request is logging it right now.
    Pending,
    /// Already logged in the CRM under this id.
    Logged(String),
}

impl<'a> Ledger<'a> {
    /// The call-log key of a session, for lookups: the contact is recorded
    /// with a reservation, it is not part of the key.
    pub(crate) fn session(session_id: &'a str) -> Self {
        Ledger::Call { session_id, contact_id: "" }
    }

    /// The idempotency key the adapter gets for the CRM create this ledger
    /// entry guards (WIT 0.2.0): the same for every attempt by `user_id`, and
    /// different for every other user, session, conversation or message. It
    /// names nothing: a hash, so a CRM that stores it learns no ids.
    pub(crate) fn idempotency_key(&self, user_id: &str) -> String {
        use sha2::{Digest, Sha256};
        let (table, _, key, _) = self.parts();
        let digest = Sha256::new()
            .chain_update(table)
            .chain_update([0])
            .chain_update(user_id)
            .chain_update([0])
            .chain_update(key)
            .finalize();
        format!("sb-{}", &hex::encode(digest)[..32])
    }

    /// Table, key column, key, and the detail column with its value. The
    /// names come from this fixed list, never from input.
    fn parts(&self) -> (&'static str, &'static str, &str, Option<(&'static str, &str)>) {
        match *self {
            Ledger::Call { session_id, contact_id } => {
                ("call_logs", "session_id", session_id, Some(("contact_id", contact_id)))
            }
            Ledger::Conversation { conversation_id } => ("conversation_logs", "conversation_id", conversation_id, None),
            Ledger::Message { message_id, conversation_id } => {
                ("message_logs", "message_id", message_id, Some(("conversation_id", conversation_id)))
            }
        }
    }
}

/// An owner's hold on a pending reservation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Lease {
    token: String,
    /// Whether it was taken over from an owner whose lease had ended.
    pub(crate) taken_over: bool,
}

/// The state and log id of a key (binds: user id, key).
fn ledger_select(key: Ledger<'_>) -> String {
    let (table, key_column, _, _) = key.parts();
    format!("SELECT state, log_id FROM {table} WHERE user_id = $1 AND {key_column} = $2")
}

fn reservation_of(row: Option<AnyRow>) -> Result<Reservation, sqlx::Error> {
    // A row that vanished between the insert and the select was a pending
    // reservation released by a failed attempt: report it as in progress.
    let Some(row) = row else {
        return Ok(Reservation::Pending);
    };
    let state: String = row.try_get("state")?;
    let log_id: Option<String> = row.try_get("log_id")?;
    Ok(match (state.as_str(), log_id) {
        ("logged", Some(id)) => Reservation::Logged(id),
        _ => Reservation::Pending,
    })
}

impl Store {
    /// Reserves `key` for `user_id` before the CRM is called: a new key, or
    /// a pending one whose owner's lease has ended.
    pub(crate) async fn reserve(&self, user_id: &str, key: Ledger<'_>) -> StoreResult<Reservation> {
        let (table, key_column, key_value, detail) = key.parts();
        let (detail_column, detail_param) = match detail {
            Some((column, _)) => (format!(", {column}"), ", $6"),
            None => (String::new(), ""),
        };
        let insert = format!(
            "INSERT INTO {table} (user_id, {key_column}, state, created_at, updated_at, lease_token, \
             lease_expires_at{detail_column})
             VALUES ($1, $2, 'pending', $3, $3, $4, $5{detail_param}) ON CONFLICT (user_id, {key_column}) DO NOTHING"
        );
        // One statement: of several requests finding the same ended lease,
        // exactly one takes it.
        let take_over = format!(
            "UPDATE {table} SET lease_token = $3, lease_expires_at = $4, updated_at = $5
             WHERE user_id = $1 AND {key_column} = $2 AND state = 'pending'
               AND (lease_expires_at IS NULL OR lease_expires_at <= $5)"
        );
        let select = ledger_select(key);
        let lease_secs = i64::try_from(self.lease.as_secs()).unwrap_or(i64::MAX);
        let (user_id, key_value) = (user_id.to_owned(), key_value.to_owned());
        let detail_value = detail.map(|(_, value)| value.to_owned());
        let work: Work<Reservation> = Box::new(move |conn| {
            let (insert, take_over, select) = (insert.clone(), take_over.clone(), select.clone());
            let (user_id, key_value, detail_value) = (user_id.clone(), key_value.clone(), detail_value.clone());
            Box::pin(async move {
                let now = now_secs();
                let expires = now.saturating_add(lease_secs);
                let token = uuid::Uuid::new_v4().to_string();
                let mut query = sqlx::query(sqlx::AssertSqlSafe(insert))
                    .bind(&user_id)
                    .bind(&key_value)
                    .bind(now)
                    .bind(&token)
                    .bind(expires);
                if let Some(value) = &detail_value {
                    query = query.bind(value);
                }
                if query.execute(&mut *conn).await?.rows_affected() == 1 {
                    return Ok(Reservation::Reserved(Lease { token, taken_over: false }));
                }
                let taken = sqlx::query(sqlx::AssertSqlSafe(take_over))
                    .bind(&user_id)
                    .bind(&key_value)
                    .bind(&token)
                    .bind(expires)
                    .bind(now)
                    .execute(&mut *conn)
                    .await?;
                if taken.rows_affected() == 1 {
                    tracing::warn!(
                        ledger = table,
                        "took over a reservation whose owner's lease had ended (a crash or a kill)"
                    );
                    return Ok(Reservation::Reserved(Lease { token, taken_over: true }));
                }
                let row = sqlx::query(sqlx::AssertSqlSafe(select))
                    .bind(&user_id)
                    .bind(&key_value)
                    .fetch_optional(&mut *conn)
                    .await?;
                Ok(reservation_of(row)?)
            })
        });
        self.writes.run(false, work).await
    }

    /// Records the CRM's id for a key this caller reserved, and in the same
    /// transaction the `call_log.created` or `message_log.created` event and,
    /// for a call, the forgetting of its cached note (it went into the log).
    pub(crate) async fn complete(&self, user_id: &str, key: Ledger<'_>, log_id: &str) -> StoreResult<()> {
        let (table, key_column, key_value, _) = key.parts();
        let update = format!(
            "UPDATE {table} SET state = 'logged', log_id = $3, updated_at = $4 WHERE user_id = $1 AND {key_column} = $2"
        );
        let (event, note_of_session) = match key {
            Ledger::Call { session_id, contact_id } => (
                Some((
                    EventType::CallLogCreated,
                    json!({"sessionId": session_id, "logId": log_id, "contactId": contact_id}),
                )),
                Some(session_id.to_owned()),
            ),
            Ledger::Message { message_id, conversation_id } => (
                Some((
                    EventType::MessageLogCreated,
                    json!({"messageId": message_id, "conversationId": conversation_id, "logId": log_id}),
                )),
                None,
            ),
            Ledger::Conversation { .. } => (None, None),
        };
        if self.backend == Backend::Postgres
            && let Some((kind, data)) = event.clone()
        {
            // One statement: the ledger, the cached note and the outbox together.
            let changes = format!(
                "logged AS (UPDATE {table} SET state = 'logged', log_id = $10, updated_at = $11
                             WHERE user_id = $8 AND {key_column} = $9),
                 note AS (DELETE FROM call_notes WHERE $12 AND user_id = $8 AND session_id = $9)"
            );
            let mut conn = self.writer.acquire().await?;
            let (sql, binds) = self.with_connection_event(&mut conn, &changes, kind, user_id, data).await?;
            let row = binds
                .bind(sqlx::query(sqlx::AssertSqlSafe(sql)))
                .bind(user_id)
                .bind(key_value)
                .bind(log_id)
                .bind(now_secs())
                .bind(note_of_session.is_some())
                .fetch_one(&mut *conn)
                .await?;
            let written: i64 = row.try_get("written")?;
            if written > 0 {
                self.outbox_written();
            }
            return Ok(());
        }
        let store = self.clone();
        let (user_id, key_value, log_id) = (user_id.to_owned(), key_value.to_owned(), log_id.to_owned());
        let work: Work<bool> = Box::new(move |conn| {
            let (store, update, event, note_of_session) =
                (store.clone(), update.clone(), event.clone(), note_of_session.clone());
            let (user_id, key_value, log_id) = (user_id.clone(), key_value.clone(), log_id.clone());
            Box::pin(async move {
                sqlx::query(sqlx::AssertSqlSafe(update))
                    .bind(&user_id)
                    .bind(&key_value)
                    .bind(&log_id)
                    .bind(now_secs())
                    .execute(&mut *conn)
                    .await?;
                if let Some(session_id) = &note_of_session {
                    store.forget_note(conn, &user_id, session_id).await?;
                }
                match event {
                    Some((kind, data)) => store.enqueue_connection_event(conn, kind, &user_id, data).await,
                    None => Ok(false),
                }
            })
        });
        if self.writes.run(true, work).await? {
            self.outbox_written();
        }
        Ok(())
    }

    /// Gives a reservation back after the CRM call failed, so a retry can
    /// take it; nothing if another request has taken the lease over since.
    pub(crate) async fn release(&self, user_id: &str, key: Ledger<'_>, lease: &Lease) -> StoreResult<()> {
        let (table, key_column, key_value, _) = key.parts();
        let delete = format!(
            "DELETE FROM {table} WHERE user_id = $1 AND {key_column} = $2 AND state = 'pending' AND lease_token = $3"
        );
        let (user_id, key_value, token) = (user_id.to_owned(), key_value.to_owned(), lease.token.clone());
        let work: Work<()> = Box::new(move |conn| {
            let (delete, user_id, key_value, token) =
                (delete.clone(), user_id.clone(), key_value.clone(), token.clone());
            Box::pin(async move {
                sqlx::query(sqlx::AssertSqlSafe(delete))
                    .bind(user_id)
                    .bind(key_value)
                    .bind(token)
                    .execute(conn)
                    .await?;
                Ok(())
            })
        });
        self.writes.run(false, work).await
    }

    /// What the ledger holds for a key: `None` when nothing was ever logged
    /// or reserved; otherwise [`Reservation::Pending`] or [`Reservation::Logged`].
    pub(crate) async fn lookup(&self, user_id: &str, key: Ledger<'_>) -> StoreResult<Option<Reservation>> {
        match self.ledger_row(user_id, key).await? {
            None => Ok(None),
            row => Ok(Some(reservation_of(row)?)),
        }
    }

    async fn ledger_row(&self, user_id: &str, key: Ledger<'_>) -> StoreResult<Option<AnyRow>> {
        let (_, _, key_value, _) = key.parts();
        let select = ledger_select(key);
        Ok(sqlx::query(sqlx::AssertSqlSafe(select)).bind(user_id).bind(key_value).fetch_optional(&self.pool).await?)
    }
}
