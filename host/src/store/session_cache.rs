//! Signed-in users in memory, so that a request with a session's jwtToken
//! does not read the database for its user and session (a round trip per
//! request, most of `GET /contact`'s host time before).
//!
//! What is cached is exactly what [`Store::user_with_session`] would read,
//! and it is forgotten whenever it could change:
//! - on this process, by every store method that writes a user or a
//!   session ([`SessionCache::forget`], after its commit);
//! - on every other replica (PostgreSQL), by a trigger that notifies
//!   `switchboard_user_changed` with the user's id on any update or delete
//!   of a `users` or `sessions` row; each process listens
//!   ([`listen_for_changes`]). While the listening connection is down the
//!   cache is off (everything is read from the database), and it starts
//!   empty when the connection is back, since notifications were missed.
//!
//! A read that raced a change never lands: entries are put with the
//! generation seen before the database read, and every forget advances it.
//! Entries also lapse after [`TIME_TO_LIVE`], and the cache holds at most
//! [`MAX_USERS`] users (it starts over when full).
//!
//! [`Store::user_with_session`]: super::Store::user_with_session

use super::User;
use super::sessions::SessionRow;
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// How long an entry is used without being read again from the database.
const TIME_TO_LIVE: Duration = Duration::from_secs(60);
/// The most users held; a full cache is emptied.
const MAX_USERS: usize = 50_000;
/// The PostgreSQL notification channel (see migration 0016).
pub(super) const CHANNEL: &str = "switchboard_user_changed";

struct Entry {
    user: User,
    session: SessionRow,
    at: Instant,
}

#[derive(Default)]
struct Inner {
    /// Off while changes made elsewhere could go unseen.
    enabled: bool,
    generation: u64,
    /// User id → session id → entry.
    users: HashMap<String, HashMap<String, Entry>>,
}

/// See the module documentation.
#[derive(Default)]
pub(crate) struct SessionCache {
    inner: Mutex<Inner>,
}

/// Taken before a database read; the read's result is cached only if nothing
/// was forgotten since.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Ticket(u64);

impl SessionCache {
    /// A cache that is on from the start (nothing else writes the database).
    pub(crate) fn enabled() -> Self {
        let cache = SessionCache::default();
        cache.lock().enabled = true;
        cache
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The cached user and session, if fresh.
    pub(crate) fn get(&self, user_id: &str, sid: &str) -> Option<(User, SessionRow)> {
        let inner = self.lock();
        if !inner.enabled {
            return None;
        }
        let entry = inner.users.get(user_id)?.get(sid)?;
        (entry.at.elapsed() < TIME_TO_LIVE).then(|| (entry.user.clone(), entry.session.clone()))
    }

    /// To take before reading what may be [`Self::put`]; `None` while off.
    pub(crate) fn ticket(&self) -> Option<Ticket> {
        let inner = self.lock();
        inner.enabled.then_some(Ticket(inner.generation))
    }

    /// Caches what a read begun at `ticket` found, unless something was
    /// forgotten since.
    pub(crate) fn put(&self, ticket: Ticket, sid: &str, user: &User, session: &SessionRow) {
        let mut inner = self.lock();
        if !inner.enabled || inner.generation != ticket.0 {
            return;
        }
        if inner.users.len() >= MAX_USERS && !inner.users.contains_key(&user.id) {
            inner.users.clear();
        }
        let entry = Entry { user: user.clone(), session: session.clone(), at: Instant::now() };
        inner.users.entry(user.id.clone()).or_default().insert(sid.to_owned(), entry);
    }

    /// Forgets a user and all their sessions (their row or a session changed).
    pub(crate) fn forget(&self, user_id: &str) {
        let mut inner = self.lock();
        inner.generation += 1;
        inner.users.remove(user_id);
    }

    /// Forgets everyone (credentials re-sealed, or notifications missed).
    pub(crate) fn forget_all(&self) {
        let mut inner = self.lock();
        inner.generation += 1;
        inner.users.clear();
    }

    /// Turns the cache on or off; either way it starts empty.
    pub(crate) fn set_enabled(&self, enabled: bool) {
        let mut inner = self.lock();
        inner.generation += 1;
        inner.users.clear();
        inner.enabled = enabled;
    }

    #[cfg(test)]
    pub(crate) fn is_enabled(&self) -> bool {
        self.lock().enabled
    }
}

/// Listens for `switchboard_user_changed` on PostgreSQL at `url` for as long
/// as the process runs, forgetting each user named; the cache is on only
/// while the listening connection is up.
pub(super) async fn listen_for_changes(url: String, cache: std::sync::Arc<SessionCache>) {
    use sqlx::postgres::PgListener;
    let mut delay = Duration::from_millis(100);
    loop {
        let listening = async {
            let mut listener = PgListener::connect(&url).await?;
            // A lost connection is reported at once (the cache turns off),
            // not after sqlx's own attempts to reconnect.
            listener.eager_reconnect(false);
            listener.listen(CHANNEL).await?;
            Ok::<_, sqlx::Error>(listener)
        };
        match listening.await {
            Ok(mut listener) => {
                delay = Duration::from_millis(100);
                cache.set_enabled(true);
                // `try_recv` answers `None` when the connection was lost.
                loop {
                    match listener.try_recv().await {
                        Ok(Some(notification)) => cache.forget(notification.payload()),
                        Ok(None) => {
                            tracing::warn!("lost the database connection that hears of user changes; reconnecting");
                            break;
                        }
                        Err(e) => {
                            tracing::warn!(error = %e, "the database connection that hears of user changes failed");
                            break;
                        }
                    }
                }
            }
            Err(e) => tracing::debug!(error = %e, "cannot listen for user changes yet"),
        }
        cache.set_enabled(false);
        tokio::time::sleep(delay).await;
        delay = (delay * 2).min(Duration::from_secs(5));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{AuthKind, ConnectionStatus};

    fn user(id: &str) -> User {
        User {
            id: id.into(),
            platform: "testcrm".into(),
            crm_user_id: "1".into(),
            name: "Luke".into(),
            hostname: String::new(),
            auth_kind: AuthKind::ApiKey,
            credential: None,
            refresh_token: None,
            expires_at: None,
            status: ConnectionStatus::Active,
        }
    }

    const SESSION: SessionRow = SessionRow { last_used_at: 1, revoked: false };

    #[test]
    fn a_read_that_raced_a_change_is_not_cached() {
        let cache = SessionCache::enabled();
        let before = cache.ticket().unwrap();
        cache.forget("u-1");
        cache.put(before, "s-1", &user("u-1"), &SESSION);
        assert!(cache.get("u-1", "s-1").is_none());
        cache.put(cache.ticket().unwrap(), "s-1", &user("u-1"), &SESSION);
        assert_eq!(cache.get("u-1", "s-1").map(|(u, _)| u.id), Some("u-1".into()));
    }

    #[test]
    fn forgetting_a_user_forgets_all_their_sessions_and_no_one_else() {
        let cache = SessionCache::enabled();
        for (u, s) in [("u-1", "s-1"), ("u-1", "s-2"), ("u-2", "s-3")] {
            cache.put(cache.ticket().unwrap(), s, &user(u), &SESSION);
        }
        cache.forget("u-1");
        assert!(cache.get("u-1", "s-1").is_none() && cache.get("u-1", "s-2").is_none());
        assert!(cache.get("u-2", "s-3").is_some());
    }

    #[test]
    fn an_off_cache_holds_nothing_and_starts_empty_when_on_again() {
        let cache = SessionCache::enabled();
        cache.put(cache.ticket().unwrap(), "s-1", &user("u-1"), &SESSION);
        cache.set_enabled(false);
        assert!(cache.ticket().is_none() && cache.get("u-1", "s-1").is_none());
        cache.set_enabled(true);
        assert!(cache.get("u-1", "s-1").is_none());
    }
}
