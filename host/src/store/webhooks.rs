//! Webhooks: endpoints (with sealed signing secrets), the outbox of events,
//! the delivery queue the workers claim from, and the attempts log.
//!
//! An event is written with [`Store::enqueue`] inside the transaction of what
//! caused it, together with one delivery per subscribed, active endpoint
//! (the fan-out happens then, so a later subscriber does not get old
//! events). Workers claim due deliveries with a lease (`FOR UPDATE SKIP
//! LOCKED` on PostgreSQL, so replicas never claim the same one; SQLite's one
//! writer serializes the claim), attempt them, and record the attempt and
//! the next step in one transaction that only the lease's holder can commit.
//! A worker that dies mid-attempt leaves a lease that ends; the delivery is
//! then attempted again (the receiver deduplicates by `webhook-id`).

use super::{Backend, Place, Store, StoreResult, like_escaped};
use crate::clock::now_millis;
use crate::secret::{Secret, random_id};
use crate::webhooks::event::{EventType, NewEvent, Scope};
use serde_json::{Value, json};
use sqlx::Row;
use sqlx::any::AnyRow;

/// A webhook endpoint as its owner sees it (never its secret).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Endpoint {
    pub(crate) id: String,
    pub(crate) url: String,
    pub(crate) description: Option<String>,
    /// The event types it receives; `None` for every type.
    pub(crate) events: Option<Vec<String>>,
    pub(crate) disabled_at: Option<i64>,
    pub(crate) disabled_reason: Option<String>,
    pub(crate) failing_since: Option<i64>,
    /// While a rotated-out secret still signs: until when.
    pub(crate) previous_secret_expires_at: Option<i64>,
    pub(crate) created_at: i64,
    pub(crate) updated_at: i64,
}

/// What a patch changes; `None` leaves a field as it is.
#[derive(Debug, Default)]
pub(crate) struct EndpointPatch<'a> {
    pub(crate) url: Option<&'a str>,
    pub(crate) description: Option<Option<&'a str>>,
    pub(crate) events: Option<Option<&'a [String]>>,
    pub(crate) active: Option<bool>,
}

/// A delivery a worker holds the lease of.
#[derive(Debug, Clone)]
pub(crate) struct Claimed {
    pub(crate) delivery_id: String,
    pub(crate) event_id: String,
    pub(crate) endpoint_id: String,
    pub(crate) url: String,
    pub(crate) payload: String,
    /// Attempts made before this one.
    pub(crate) attempts: u32,
    lease_token: String,
}

/// One attempt, as the log keeps it.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Attempt {
    pub(crate) attempted_at: i64,
    pub(crate) duration_ms: i64,
    pub(crate) status: Option<u16>,
    pub(crate) error: Option<String>,
    pub(crate) response_body: Option<String>,
}

/// What follows an attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Next {
    Delivered,
    /// Attempt again at this time (ms).
    RetryAt(i64),
    /// Out of attempts.
    Failed,
    /// The receiver answered 410 Gone: disable the endpoint.
    Gone,
}

/// What recording an attempt did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Recorded {
    /// The attempt and its next step are stored.
    Stored { disabled_endpoint: bool },
    /// The lease had ended and another worker holds the delivery: nothing stored.
    LeaseLost,
}

/// A delivery in the log, with its attempts.
#[derive(Debug, Clone)]
pub(crate) struct Delivery {
    pub(crate) id: String,
    pub(crate) event_id: String,
    pub(crate) event_type: String,
    pub(crate) state: String,
    pub(crate) attempts: i64,
    pub(crate) next_attempt_at: Option<i64>,
    pub(crate) created_at: i64,
    pub(crate) delivered_at: Option<i64>,
    pub(crate) last_status: Option<i64>,
    pub(crate) last_error: Option<String>,
    pub(crate) log: Vec<Attempt>,
}

/// The queue's figures, for metrics.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct QueueStats {
    /// Deliveries not yet delivered nor failed.
    pub(crate) pending: i64,
    /// When the oldest of them was created (ms), if any.
    pub(crate) oldest_created_at: Option<i64>,
}

/// An endpoint failing this long without a success is disabled.
pub(crate) const DISABLE_AFTER_MS: i64 = 5 * 24 * 3600 * 1000;

/// The longest response body the log keeps.
pub(crate) const MAX_LOGGED_BODY: usize = 1024;

fn filter_of(events: Option<&[String]>) -> String {
    match events {
        None => "*".into(),
        Some(list) => format!(",{},", list.join(",")),
    }
}

fn events_of(filter: &str) -> Option<Vec<String>> {
    if filter == "*" {
        return None;
    }
    Some(filter.split(',').filter(|s| !s.is_empty()).map(str::to_owned).collect())
}

const ENDPOINT_COLUMNS: &str = "id, url, description, event_filter, disabled_at, disabled_reason, failing_since,
     previous_expires_at, created_at, updated_at";

fn endpoint_of(row: &AnyRow) -> StoreResult<Endpoint> {
    let filter: String = row.try_get("event_filter")?;
    Ok(Endpoint {
        id: row.try_get("id")?,
        url: row.try_get("url")?,
        description: row.try_get("description")?,
        events: events_of(&filter),
        disabled_at: row.try_get("disabled_at")?,
        disabled_reason: row.try_get("disabled_reason")?,
        failing_since: row.try_get("failing_since")?,
        previous_secret_expires_at: row.try_get("previous_expires_at")?,
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
    })
}

/// Which endpoints `e` receive an event: of scope `$3`, not deleted, and
/// either the one a test event names (`$4`) or, for any other event (`$4`
/// empty), active and subscribed to its type (`$5`, [`like_escaped`]) in
/// its filter `',a,b,'`. The pattern is built in SQL: a bound one made SQLite
/// re-prepare this statement once per logged call.
const RECEIVES: &str = "e.scope = $3 AND e.deleted_at IS NULL
     AND ((e.id = $4) OR ($4 = '' AND e.disabled_at IS NULL
                          AND (e.event_filter = '*' OR e.event_filter LIKE ('%,' || $5 || ',%') ESCAPE '\\')))";

fn secret_place(id: &str) -> Place<'_> {
    Place { row: id, column: "webhook_secret" }
}

fn previous_secret_place(id: &str) -> Place<'_> {
    Place { row: id, column: "webhook_previous_secret" }
}

impl Store {
    /// Creates an endpoint signing with `secret`.
    pub(crate) async fn create_endpoint(
        &self,
        scope: &Scope,
        url: &str,
        description: Option<&str>,
        events: Option<&[String]>,
        secret: &Secret,
    ) -> StoreResult<Endpoint> {
        let id = random_id("whe_");
        let now = now_millis();
        sqlx::query(
            "INSERT INTO webhook_endpoints (id, scope, url, description, event_filter, secret, secret_key_id,
                                            created_at, updated_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8)",
        )
        .bind(&id)
        .bind(scope.key())
        .bind(url)
        .bind(description)
        .bind(filter_of(events))
        .bind(self.seal(secret_place(&id), secret))
        .bind(self.sealer.key_id())
        .bind(now)
        .execute(&self.writer)
        .await?;
        Ok(self.endpoint(scope, &id).await?.expect("the endpoint was just created"))
    }

    /// How many endpoints `scope` created since `since_ms` (deleted ones too).
    pub(crate) async fn endpoints_created_since(&self, scope: &Scope, since_ms: i64) -> StoreResult<i64> {
        let row = sqlx::query("SELECT COUNT(*) AS n FROM webhook_endpoints WHERE scope = $1 AND created_at >= $2")
            .bind(scope.key())
            .bind(since_ms)
            .fetch_one(&self.pool)
            .await?;
        Ok(row.try_get("n")?)
    }

    pub(crate) async fn endpoint(&self, scope: &Scope, id: &str) -> StoreResult<Option<Endpoint>> {
        let query = format!(
            "SELECT {ENDPOINT_COLUMNS} FROM webhook_endpoints WHERE id = $1 AND scope = $2 AND deleted_at IS NULL"
        );
        let row = sqlx::query(sqlx::AssertSqlSafe(query)).bind(id).bind(scope.key()).fetch_optional(&self.pool).await?;
        row.as_ref().map(endpoint_of).transpose()
    }

    /// The scope's endpoints, oldest first.
    pub(crate) async fn endpoints(&self, scope: &Scope) -> StoreResult<Vec<Endpoint>> {
        let query = format!(
            "SELECT {ENDPOINT_COLUMNS} FROM webhook_endpoints WHERE scope = $1 AND deleted_at IS NULL
             ORDER BY created_at, {}",
            self.backend.insertion_order("")
        );
        let rows = sqlx::query(sqlx::AssertSqlSafe(query)).bind(scope.key()).fetch_all(&self.pool).await?;
        rows.iter().map(endpoint_of).collect()
    }

    /// Applies a patch; `None` when the scope has no such endpoint. Setting
    /// `active` to true re-enables a disabled endpoint (and forgets its failures).
    pub(crate) async fn update_endpoint(
        &self,
        scope: &Scope,
        id: &str,
        patch: &EndpointPatch<'_>,
    ) -> StoreResult<Option<Endpoint>> {
        let now = now_millis();
        let done = sqlx::query(
            "UPDATE webhook_endpoints SET
                 url = COALESCE($3, url),
                 description = CASE WHEN $4 THEN $5 ELSE description END,
                 event_filter = COALESCE($6, event_filter),
                 disabled_at = CASE WHEN $7 = 1 THEN NULL WHEN $7 = 0 THEN COALESCE(disabled_at, $9) ELSE disabled_at END,
                 disabled_reason = CASE WHEN $7 = 1 THEN NULL WHEN $7 = 0 THEN COALESCE(disabled_reason, $8)
                                        ELSE disabled_reason END,
                 failing_since = CASE WHEN $7 = 1 THEN NULL ELSE failing_since END,
                 updated_at = $9
             WHERE id = $1 AND scope = $2 AND deleted_at IS NULL",
        )
        .bind(id)
        .bind(scope.key())
        .bind(patch.url)
        .bind(patch.description.is_some())
        .bind(patch.description.flatten())
        .bind(patch.events.map(filter_of))
        .bind(match patch.active {
            Some(true) => 1i64,
            Some(false) => 0,
            None => -1,
        })
        .bind("paused by its owner")
        .bind(now)
        .execute(&self.writer)
        .await?;
        if done.rows_affected() == 0 {
            return Ok(None);
        }
        self.endpoint(scope, id).await
    }

    /// Deletes an endpoint: it receives nothing more, and what it had not
    /// received yet is marked failed. False if the scope has no such endpoint.
    pub(crate) async fn delete_endpoint(&self, scope: &Scope, id: &str) -> StoreResult<bool> {
        let now = now_millis();
        let mut tx = self.writer.begin().await?;
        let done = sqlx::query(
            "UPDATE webhook_endpoints SET deleted_at = $3, updated_at = $3 WHERE id = $1 AND scope = $2
             AND deleted_at IS NULL",
        )
        .bind(id)
        .bind(scope.key())
        .bind(now)
        .execute(&mut *tx)
        .await?;
        if done.rows_affected() == 0 {
            return Ok(false);
        }
        fail_pending(&mut tx, id, "the endpoint was deleted", now).await?;
        tx.commit().await?;
        Ok(true)
    }

    /// Replaces the signing secret; the current one goes on signing until
    /// `overlap_until` (ms). False if the scope has no such endpoint.
    pub(crate) async fn rotate_endpoint_secret(
        &self,
        scope: &Scope,
        id: &str,
        new: &Secret,
        overlap_until: i64,
    ) -> StoreResult<bool> {
        let Some(current) = self.endpoint_secrets(id, 0).await?.into_iter().next() else { return Ok(false) };
        let done = sqlx::query(
            "UPDATE webhook_endpoints SET secret = $3, secret_key_id = $4, previous_secret = $5, previous_key_id = $4,
                 previous_expires_at = $6, updated_at = $7
             WHERE id = $1 AND scope = $2 AND deleted_at IS NULL",
        )
        .bind(id)
        .bind(scope.key())
        .bind(self.seal(secret_place(id), new))
        .bind(self.sealer.key_id())
        .bind(self.seal(previous_secret_place(id), &current))
        .bind(overlap_until)
        .bind(now_millis())
        .execute(&self.writer)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// The secrets that sign for endpoint `id` at `now` (ms): the current one,
    /// then the previous one while its overlap lasts. Empty if there is no such endpoint.
    pub(crate) async fn endpoint_secrets(&self, id: &str, now: i64) -> StoreResult<Vec<Secret>> {
        let row = sqlx::query(
            "SELECT secret AS webhook_secret, secret_key_id, previous_secret AS webhook_previous_secret,
                    previous_key_id, previous_expires_at
             FROM webhook_endpoints WHERE id = $1",
        )
        .bind(id)
        .fetch_optional(&self.pool)
        .await?;
        let Some(row) = row else { return Ok(Vec::new()) };
        let mut out: Vec<Secret> = self.open_secret(&row, secret_place(id), "secret_key_id")?.into_iter().collect();
        let until: Option<i64> = row.try_get("previous_expires_at")?;
        if until.is_some_and(|u| u > now) {
            out.extend(self.open_secret(&row, previous_secret_place(id), "previous_key_id")?);
        }
        Ok(out)
    }

    /// Writes `event` to the outbox in the caller's transaction, with a
    /// delivery for each active endpoint of `scope` subscribed to it (or
    /// for the one endpoint a test event names); nothing when no endpoint
    /// receives it. Returns the event's id and whether it was written.
    /// The caller wakes the workers ([`Store::outbox_written`]) after commit.
    pub(crate) async fn enqueue(
        &self,
        conn: &mut sqlx::AnyConnection,
        scope: &Scope,
        event: &NewEvent,
    ) -> StoreResult<Enqueued> {
        let id = random_id("evt_");
        let now = now_millis();
        // An event no endpoint receives is not written (most events, on a
        // host with no endpoints): the outbox holds only what is to be sent.
        let insert = format!(
            "INSERT INTO webhook_events (id, scope, event_type, payload, created_at)
             SELECT $1, $3, $6, $7, $2 WHERE EXISTS (SELECT 1 FROM webhook_endpoints e WHERE {RECEIVES})"
        );
        let written = sqlx::query(sqlx::AssertSqlSafe(insert))
            .bind(&id)
            .bind(now)
            .bind(scope.key())
            .bind(event.only_endpoint.as_deref().unwrap_or_default())
            .bind(like_escaped(event.kind.name()))
            .bind(event.kind.name())
            .bind(event.payload(&id, now))
            .execute(&mut *conn)
            .await?;
        if written.rows_affected() == 0 {
            return Ok(Enqueued { id, written: false });
        }
        let deliveries = format!(
            "INSERT INTO webhook_deliveries (id, event_id, endpoint_id, state, attempts, next_attempt_at,
                                             created_at, updated_at)
             SELECT 'dlv_' || substr($1, 5) || '_' || substr(e.id, 5), $1, e.id, 'pending', 0, $2, $2, $2
             FROM webhook_endpoints e WHERE {RECEIVES}"
        );
        sqlx::query(sqlx::AssertSqlSafe(deliveries))
            .bind(&id)
            .bind(now)
            .bind(scope.key())
            .bind(event.only_endpoint.as_deref().unwrap_or_default())
            .bind(like_escaped(event.kind.name()))
            .execute(&mut *conn)
            .await?;
        Ok(Enqueued { id, written: true })
    }

    /// The outbox's part of one PostgreSQL statement that also makes the
    /// change the event is about (`changes`: its own CTEs, binding from `$8`
    /// on): the event of connection `user_id` and its deliveries, written
    /// only when an endpoint receives it, as the CTEs `event` and
    /// `deliveries`; the statement answers `written`, whether the event was.
    /// One round trip, and atomic without a transaction of its own.
    pub(super) async fn with_connection_event(
        &self,
        conn: &mut sqlx::AnyConnection,
        changes: &str,
        kind: EventType,
        user_id: &str,
        extra: Value,
    ) -> StoreResult<(String, EventBinds)> {
        let (scope, mut data) = self.connection_subject(conn, user_id).await?;
        if let (Value::Object(d), Value::Object(e)) = (&mut data, extra) {
            d.extend(e);
        }
        let event = NewEvent::new(kind, data);
        let (id, now) = (random_id("evt_"), now_millis());
        let sql = format!(
            "WITH {changes},
             event AS (
                 INSERT INTO webhook_events (id, scope, event_type, payload, created_at)
                 SELECT $1, $3, $6, $7, $2 WHERE EXISTS (SELECT 1 FROM webhook_endpoints e WHERE {RECEIVES})
                 RETURNING id),
             deliveries AS (
                 INSERT INTO webhook_deliveries (id, event_id, endpoint_id, state, attempts, next_attempt_at,
                                                 created_at, updated_at)
                 SELECT 'dlv_' || substr($1, 5) || '_' || substr(e.id, 5), $1, e.id, 'pending', 0, $2, $2, $2
                 FROM webhook_endpoints e WHERE {RECEIVES} AND EXISTS (SELECT 1 FROM event))
             SELECT COUNT(*) AS written FROM event"
        );
        let payload = event.payload(&id, now);
        Ok((sql, EventBinds { id, now, scope: scope.key().to_owned(), kind, payload }))
    }

    /// Writes an event in a transaction of its own (for what happened
    /// outside the database: a CRM record created, a test event).
    pub(crate) async fn emit(&self, scope: &Scope, event: &NewEvent) -> StoreResult<String> {
        let mut tx = self.writer.begin().await?;
        let Enqueued { id, written } = self.enqueue(&mut tx, scope, event).await?;
        tx.commit().await?;
        if written {
            self.outbox_written();
        }
        Ok(id)
    }

    /// Writes, in the caller's transaction, an event about the connection
    /// `user_id`: to its workspace's endpoints with the integration's ids,
    /// or to the operator's with the App Connect user's.
    pub(crate) async fn enqueue_connection_event(
        &self,
        conn: &mut sqlx::AnyConnection,
        kind: EventType,
        user_id: &str,
        extra: Value,
    ) -> StoreResult<bool> {
        let (scope, mut data) = self.connection_subject(conn, user_id).await?;
        if let (Value::Object(d), Value::Object(e)) = (&mut data, extra) {
            d.extend(e);
        }
        Ok(self.enqueue(conn, &scope, &NewEvent::new(kind, data)).await?.written)
    }

    /// [`Store::enqueue_connection_event`] in a transaction of its own.
    pub(crate) async fn emit_connection_event(&self, kind: EventType, user_id: &str, extra: Value) -> StoreResult<()> {
        let mut tx = self.writer.begin().await?;
        let written = self.enqueue_connection_event(&mut tx, kind, user_id, extra).await?;
        tx.commit().await?;
        if written {
            self.outbox_written();
        }
        Ok(())
    }

    /// The event of something done at the CRM (no database write caused it,
    /// so no transaction holds it): written after the CRM answered. If the
    /// database fails now, the CRM's record stands and the event is lost,
    /// logged as a warning; failing the request would make the client
    /// create the record again.
    pub(crate) async fn emit_after_crm(&self, kind: EventType, user_id: &str, data: Value) {
        if let Err(e) = self.emit_connection_event(kind, user_id, data).await {
            tracing::warn!(event = kind.name(), error = %e, "a webhook event could not be written");
        }
    }

    /// Wakes this process's delivery workers: an event was committed.
    pub(crate) fn outbox_written(&self) {
        self.outbox.notify_one();
    }

    /// What the workers wait on between polls.
    pub(crate) fn outbox_signal(&self) -> std::sync::Arc<tokio::sync::Notify> {
        self.outbox.clone()
    }

    /// Claims up to `limit` due deliveries for `lease_ms`, none of the
    /// endpoints in `busy` (those at their concurrency bound).
    pub(crate) async fn claim_deliveries(
        &self,
        now: i64,
        limit: u32,
        lease_ms: i64,
        busy: &[String],
    ) -> StoreResult<Vec<Claimed>> {
        let token = random_id("lease_");
        let lock = if self.backend == Backend::Postgres { "FOR UPDATE SKIP LOCKED" } else { "" };
        // A literal LIMIT: SQLite's planner reads a bound one, and re-prepares
        // the statement each time it is bound.
        let claim = format!(
            "UPDATE webhook_deliveries SET lease_token = $1, lease_until = $2, updated_at = $3
             WHERE id IN (
                 SELECT d.id FROM webhook_deliveries d
                 WHERE d.state = 'pending' AND d.next_attempt_at <= $3
                   AND (d.lease_until IS NULL OR d.lease_until <= $3)
                   AND $4 NOT LIKE '%,' || d.endpoint_id || ',%'
                 ORDER BY d.next_attempt_at LIMIT {limit} {lock})"
        );
        let claimed = sqlx::query(sqlx::AssertSqlSafe(claim))
            .bind(&token)
            .bind(now + lease_ms)
            .bind(now)
            .bind(format!(",{},", busy.join(",")))
            .execute(&self.writer)
            .await?;
        if claimed.rows_affected() == 0 {
            return Ok(Vec::new());
        }
        let rows = sqlx::query(
            "SELECT d.id, d.event_id, d.endpoint_id, d.attempts, e.url, v.payload
             FROM webhook_deliveries d
             JOIN webhook_endpoints e ON e.id = d.endpoint_id
             JOIN webhook_events v ON v.id = d.event_id
             WHERE d.lease_token = $1 ORDER BY d.next_attempt_at",
        )
        .bind(&token)
        .fetch_all(&self.writer)
        .await?;
        rows.iter()
            .map(|row| {
                let attempts: i64 = row.try_get("attempts")?;
                Ok(Claimed {
                    delivery_id: row.try_get("id")?,
                    event_id: row.try_get("event_id")?,
                    endpoint_id: row.try_get("endpoint_id")?,
                    url: row.try_get("url")?,
                    payload: row.try_get("payload")?,
                    attempts: u32::try_from(attempts).unwrap_or(u32::MAX),
                    lease_token: token.clone(),
                })
            })
            .collect()
    }

    /// Gives claimed deliveries back untried (more than an endpoint may take at once).
    pub(crate) async fn unclaim(&self, claimed: &Claimed) -> StoreResult<()> {
        sqlx::query(
            "UPDATE webhook_deliveries SET lease_token = NULL, lease_until = NULL WHERE id = $1 AND lease_token = $2",
        )
        .bind(&claimed.delivery_id)
        .bind(&claimed.lease_token)
        .execute(&self.writer)
        .await?;
        Ok(())
    }

    /// Records an attempt and what follows it, if this worker still holds
    /// the lease. A failure older than [`DISABLE_AFTER_MS`] since the
    /// endpoint's last success, or a `Gone`, disables the endpoint (its
    /// waiting deliveries fail, and a `webhook.endpoint_disabled` event goes
    /// to the scope's other endpoints).
    pub(crate) async fn record_attempt(
        &self,
        claimed: &Claimed,
        attempt: &Attempt,
        next: Next,
        now: i64,
    ) -> StoreResult<Recorded> {
        let (state, next_at) = match next {
            Next::Delivered => ("delivered", None),
            Next::RetryAt(at) => ("pending", Some(at)),
            Next::Failed | Next::Gone => ("failed", None),
        };
        let mut tx = self.writer.begin().await?;
        let updated = sqlx::query(
            "UPDATE webhook_deliveries SET state = $3, attempts = attempts + 1,
                 next_attempt_at = COALESCE($4, next_attempt_at), lease_token = NULL, lease_until = NULL,
                 last_status = $5, last_error = $6, first_attempt_at = COALESCE(first_attempt_at, $7),
                 delivered_at = CASE WHEN $3 = 'delivered' THEN $8 ELSE delivered_at END, updated_at = $8
             WHERE id = $1 AND lease_token = $2",
        )
        .bind(&claimed.delivery_id)
        .bind(&claimed.lease_token)
        .bind(state)
        .bind(next_at)
        .bind(attempt.status.map(i64::from))
        .bind(attempt.error.as_deref())
        .bind(attempt.attempted_at)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        if updated.rows_affected() == 0 {
            return Ok(Recorded::LeaseLost);
        }
        sqlx::query(
            "INSERT INTO webhook_attempts (delivery_id, attempted_at, duration_ms, status, error, response_body)
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(&claimed.delivery_id)
        .bind(attempt.attempted_at)
        .bind(attempt.duration_ms)
        .bind(attempt.status.map(i64::from))
        .bind(attempt.error.as_deref())
        .bind(attempt.response_body.as_deref())
        .execute(&mut *tx)
        .await?;
        let mut disable_reason = None;
        if next == Next::Delivered {
            sqlx::query(
                "UPDATE webhook_endpoints SET failing_since = NULL WHERE id = $1 AND failing_since IS NOT NULL",
            )
            .bind(&claimed.endpoint_id)
            .execute(&mut *tx)
            .await?;
        } else {
            let row = sqlx::query(
                "UPDATE webhook_endpoints SET failing_since = COALESCE(failing_since, $2) WHERE id = $1
                 RETURNING failing_since",
            )
            .bind(&claimed.endpoint_id)
            .bind(attempt.attempted_at)
            .fetch_one(&mut *tx)
            .await?;
            let since: i64 = row.try_get("failing_since")?;
            if next == Next::Gone {
                disable_reason = Some("the endpoint answered 410 Gone".to_owned());
            } else if now - since >= DISABLE_AFTER_MS {
                disable_reason = Some("every attempt failed for 5 days".to_owned());
            }
        }
        let mut disabled = false;
        if let Some(reason) = disable_reason {
            disabled = self.disable_endpoint(&mut tx, &claimed.endpoint_id, &reason, now).await?;
        }
        tx.commit().await?;
        if disabled {
            self.outbox_written();
        }
        Ok(Recorded::Stored { disabled_endpoint: disabled })
    }

    /// Disables an active endpoint in the caller's transaction; false if it
    /// was disabled already.
    async fn disable_endpoint(
        &self,
        conn: &mut sqlx::AnyConnection,
        id: &str,
        reason: &str,
        now: i64,
    ) -> StoreResult<bool> {
        let row = sqlx::query(
            "UPDATE webhook_endpoints SET disabled_at = $2, disabled_reason = $3, updated_at = $2
             WHERE id = $1 AND disabled_at IS NULL RETURNING scope, url",
        )
        .bind(id)
        .bind(now)
        .bind(reason)
        .fetch_optional(&mut *conn)
        .await?;
        let Some(row) = row else { return Ok(false) };
        let scope: String = row.try_get("scope")?;
        let url: String = row.try_get("url")?;
        fail_pending(conn, id, "the endpoint was disabled", now).await?;
        let scope = if scope == Scope::Operator.key() { Scope::Operator } else { Scope::Workspace(scope) };
        let data = json!({"endpointId": id, "url": url, "reason": reason});
        self.enqueue(conn, &scope, &NewEvent::new(EventType::EndpointDisabled, data)).await?;
        tracing::warn!(endpoint = id, reason, "webhook endpoint disabled");
        Ok(true)
    }

    /// The endpoint's deliveries, newest first, each with its attempts;
    /// `state` filters.
    pub(crate) async fn deliveries(
        &self,
        endpoint_id: &str,
        state: Option<&str>,
        limit: u32,
    ) -> StoreResult<Vec<Delivery>> {
        let query = format!(
            "SELECT d.id, d.event_id, v.event_type, d.state, d.attempts, d.next_attempt_at, d.created_at,
                    d.delivered_at, d.last_status, d.last_error
             FROM webhook_deliveries d JOIN webhook_events v ON v.id = d.event_id
             WHERE d.endpoint_id = $1 AND ($2 = '' OR d.state = $2)
             ORDER BY d.created_at DESC, {} DESC LIMIT $3",
            self.backend.insertion_order("d")
        );
        let rows = sqlx::query(sqlx::AssertSqlSafe(query))
            .bind(endpoint_id)
            .bind(state.unwrap_or_default())
            .bind(i64::from(limit))
            .fetch_all(&self.pool)
            .await?;
        let mut out = Vec::with_capacity(rows.len());
        for row in rows {
            let id: String = row.try_get("id")?;
            let state: String = row.try_get("state")?;
            let attempts = sqlx::query(
                "SELECT attempted_at, duration_ms, status, error, response_body FROM webhook_attempts
                 WHERE delivery_id = $1 ORDER BY id",
            )
            .bind(&id)
            .fetch_all(&self.pool)
            .await?;
            let log = attempts
                .iter()
                .map(|a| {
                    let status: Option<i64> = a.try_get("status")?;
                    Ok(Attempt {
                        attempted_at: a.try_get("attempted_at")?,
                        duration_ms: a.try_get("duration_ms")?,
                        status: status.and_then(|s| u16::try_from(s).ok()),
                        error: a.try_get("error")?,
                        response_body: a.try_get("response_body")?,
                    })
                })
                .collect::<StoreResult<Vec<_>>>()?;
            let next: i64 = row.try_get("next_attempt_at")?;
            out.push(Delivery {
                next_attempt_at: (state == "pending").then_some(next),
                event_id: row.try_get("event_id")?,
                event_type: row.try_get("event_type")?,
                attempts: row.try_get("attempts")?,
                created_at: row.try_get("created_at")?,
                delivered_at: row.try_get("delivered_at")?,
                last_status: row.try_get("last_status")?,
                last_error: row.try_get("last_error")?,
                state,
                log,
                id,
            })
        }
        Ok(out)
    }

    /// Queues again, from now and with a fresh schedule, the endpoint's
    /// failed deliveries created since `since` (ms); returns how many.
    pub(crate) async fn recover(&self, endpoint_id: &str, since: i64) -> StoreResult<u64> {
        let now = now_millis();
        let done = sqlx::query(
            "UPDATE webhook_deliveries SET state = 'pending', attempts = 0, next_attempt_at = $3, updated_at = $3,
                 lease_token = NULL, lease_until = NULL
             WHERE endpoint_id = $1 AND state = 'failed' AND created_at >= $2",
        )
        .bind(endpoint_id)
        .bind(since)
        .bind(now)
        .execute(&self.writer)
        .await?;
        if done.rows_affected() > 0 {
            self.outbox_written();
        }
        Ok(done.rows_affected())
    }

    /// How many deliveries wait, and since when.
    pub(crate) async fn queue_stats(&self) -> StoreResult<QueueStats> {
        let row = sqlx::query(
            "SELECT COUNT(*) AS n, MIN(created_at) AS oldest FROM webhook_deliveries WHERE state = 'pending'",
        )
        .fetch_one(&self.pool)
        .await?;
        Ok(QueueStats { pending: row.try_get("n")?, oldest_created_at: row.try_get("oldest")? })
    }

    /// Forgets events created before `before` (ms) with their deliveries and
    /// attempts, unless one of their deliveries still waits. Returns how many events.
    pub(crate) async fn prune_events(&self, before: i64) -> StoreResult<u64> {
        let old = "SELECT v.id FROM webhook_events v WHERE v.created_at < $1 AND NOT EXISTS (
                       SELECT 1 FROM webhook_deliveries d WHERE d.event_id = v.id AND d.state = 'pending')";
        let mut tx = self.writer.begin().await?;
        let attempts = format!(
            "DELETE FROM webhook_attempts WHERE delivery_id IN
                 (SELECT id FROM webhook_deliveries WHERE event_id IN ({old}))"
        );
        sqlx::query(sqlx::AssertSqlSafe(attempts)).bind(before).execute(&mut *tx).await?;
        let deliveries = format!("DELETE FROM webhook_deliveries WHERE event_id IN ({old})");
        sqlx::query(sqlx::AssertSqlSafe(deliveries)).bind(before).execute(&mut *tx).await?;
        let events = format!("DELETE FROM webhook_events WHERE id IN ({old})");
        let done = sqlx::query(sqlx::AssertSqlSafe(events)).bind(before).execute(&mut *tx).await?;
        tx.commit().await?;
        Ok(done.rows_affected())
    }
}

/// Marks an endpoint's waiting deliveries failed.
async fn fail_pending(conn: &mut sqlx::AnyConnection, endpoint_id: &str, why: &str, now: i64) -> StoreResult<()> {
    sqlx::query(
        "UPDATE webhook_deliveries SET state = 'failed', last_error = $2, lease_token = NULL, lease_until = NULL,
             updated_at = $3
         WHERE endpoint_id = $1 AND state = 'pending'",
    )
    .bind(endpoint_id)
    .bind(why)
    .bind(now)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// The parameters `$1`..`$7` of [`Store::with_connection_event`]'s statement.
pub(super) struct EventBinds {
    id: String,
    now: i64,
    scope: String,
    kind: EventType,
    payload: String,
}

impl EventBinds {
    /// Binds `$1`..`$7`: call it before binding the changes' own parameters.
    pub(super) fn bind<'q>(
        self,
        query: sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments>,
    ) -> sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments> {
        query
            .bind(self.id)
            .bind(self.now)
            .bind(self.scope)
            .bind(String::new())
            .bind(like_escaped(self.kind.name()))
            .bind(self.kind.name())
            .bind(self.payload)
    }
}

/// What [`Store::enqueue`] did.
pub(crate) struct Enqueued {
    pub(crate) id: String,
    /// False when no endpoint receives the event (nothing was written).
    pub(crate) written: bool,
}

/// The most connection subjects a process remembers (it starts over when full).
const MAX_SUBJECTS: usize = 50_000;

/// Connection subjects by user id. A subject never changes for its id (the
/// platform, workspace, customer and connector are fixed when the
/// connection is made), so each process reads it once.
#[derive(Default)]
pub(crate) struct Subjects(std::sync::Mutex<std::collections::HashMap<String, (Scope, Value)>>);

impl Subjects {
    fn lock(&self) -> std::sync::MutexGuard<'_, std::collections::HashMap<String, (Scope, Value)>> {
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl Store {
    /// Whose endpoints hear of connection `user_id`, and what names it; an
    /// unknown user is the operator's, named by its id.
    async fn connection_subject(&self, conn: &mut sqlx::AnyConnection, user_id: &str) -> StoreResult<(Scope, Value)> {
        if let Some(known) = self.subjects.lock().get(user_id) {
            return Ok(known.clone());
        }
        let Some(subject) = read_connection_subject(conn, user_id).await? else {
            return Ok((Scope::Operator, json!({"userId": user_id})));
        };
        let mut subjects = self.subjects.lock();
        if subjects.len() >= MAX_SUBJECTS {
            subjects.clear();
        }
        subjects.insert(user_id.to_owned(), subject.clone());
        Ok(subject)
    }
}

/// Whose endpoints hear of connection `user_id`, and what names it.
async fn read_connection_subject(conn: &mut sqlx::AnyConnection, user_id: &str) -> StoreResult<Option<(Scope, Value)>> {
    let row = sqlx::query(
        "SELECT u.platform, u.workspace_id, i.customer_id, i.connector
         FROM users u LEFT JOIN integrations i ON i.id = u.id WHERE u.id = $1",
    )
    .bind(user_id)
    .fetch_optional(&mut *conn)
    .await?;
    let Some(row) = row else { return Ok(None) };
    let platform: String = row.try_get("platform")?;
    let workspace: Option<String> = row.try_get("workspace_id")?;
    Ok(Some(match workspace {
        Some(ws) => {
            let customer: Option<String> = row.try_get("customer_id")?;
            let connector: Option<String> = row.try_get("connector")?;
            let data = json!({
                "integrationId": user_id,
                "customerId": customer,
                "connector": connector.unwrap_or(platform),
            });
            (Scope::Workspace(ws), data)
        }
        None => (Scope::Operator, json!({"userId": user_id, "platform": platform})),
    }))
}
