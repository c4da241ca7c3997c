//! Storage: users and their encrypted CRM connections, OAuth login states,
//! user settings, the audit log, and the ledgers that make logging idempotent.
//!
//! One schema, two backends through sqlx's `Any` driver: SQLite (the embedded
//! default, WAL mode) and PostgreSQL (for several replicas). Every query is
//! written once with `$n` parameters, which both accept; only the migrations
//! differ in their column types. Each concept has its own module:
//! [`users`] (connections and their credentials), [`oauth_states`], [`call_notes`],
//! [`reservations`] (call, conversation and message ledgers), [`sessions`], [`settings`],
//! [`audit`], [`key_rotation`] and [`refresh_lock`]; for the Connect platform
//! [`workspaces`], [`connect_sessions`] and [`integrations`] (connections a
//! workspace's customer owns, in the same `users` rows); [`webhooks`]
//! (endpoints, the outbox and its deliveries); [`widget_tokens`].
//!
//! Invariant: a secret is sealed ([`crate::crypto::Sealer`]) before it is bound
//! to a query, with associated data naming its row and column, and opened only
//! into a [`Secret`]; no column holds a secret in plaintext.

mod admin_settings;
mod audit;
mod call_notes;
mod connect_sessions;
mod group_commit;
mod integrations;
mod key_rotation;
mod oauth_states;
mod refresh_lock;
mod reservations;
mod session_cache;
mod sessions;
mod settings;
pub mod test_support;
mod users;
mod webhooks;
mod widget_tokens;
mod workspaces;

pub(crate) use audit::{AuditEvent, AuditKind, AuditRecord};
pub(crate) use connect_sessions::ConnectSession;
pub(crate) use integrations::{Connect, Filter as IntegrationFilter, Integration, Owner};
pub(crate) use oauth_states::PendingLogin;
pub(crate) use reservations::{Ledger, Reservation};
pub(crate) use users::{AuthKind, ConnectionInfo, ConnectionState, ConnectionStatus, User};
pub(crate) use webhooks::{Attempt, Claimed, Delivery, Endpoint, EndpointPatch, MAX_LOGGED_BODY, Next, Recorded};
pub(crate) use widget_tokens::WidgetToken;
pub(crate) use workspaces::{ApiKeyRow, SigningKey, Workspace};

use crate::crypto::{CryptoError, Sealer};
use crate::secret::Secret;
use session_cache::SessionCache;
use sqlx::any::{AnyPoolOptions, AnyRow, install_default_drivers};
use sqlx::{AnyPool, Row};

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database error: {0}")]
    Db(#[from] sqlx::Error),
    #[error("migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("stored credential cannot be decrypted: {0}")]
    Crypto(#[from] CryptoError),
    #[error("stored setting is not JSON: {0}")]
    Json(#[from] serde_json::Error),
    #[error("stored {column} {value:?} is not one this version knows")]
    UnknownValue { column: &'static str, value: String },
}

pub(crate) type StoreResult<T> = Result<T, StoreError>;

/// Why the database cannot serve right now, when the cause is its state and
/// not the request: the request can be retried as it is, and will succeed
/// once the database is back or has room again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Unavailable {
    /// Unreachable, restarting, or too busy to answer in time.
    Unreachable,
    /// Out of disk space (SQLite's `SQLITE_FULL`, PostgreSQL's class 53).
    Full,
}

impl StoreError {
    /// Whether this failure is the database being unavailable (and how).
    pub(crate) fn unavailable(&self) -> Option<Unavailable> {
        let StoreError::Db(e) = self else { return None };
        match e {
            sqlx::Error::Io(_)
            | sqlx::Error::Tls(_)
            | sqlx::Error::PoolTimedOut
            | sqlx::Error::PoolClosed
            | sqlx::Error::WorkerCrashed => Some(Unavailable::Unreachable),
            sqlx::Error::Database(db) => db.code().as_deref().and_then(unavailable_code),
            _ => None,
        }
    }
}

/// The error codes that mean the database is unavailable: PostgreSQL's
/// SQLSTATEs (five characters) and SQLite's extended result codes (numbers).
fn unavailable_code(code: &str) -> Option<Unavailable> {
    if let Ok(sqlite) = code.parse::<i32>() {
        return match sqlite & 0xff {
            13 => Some(Unavailable::Full),                     // SQLITE_FULL
            5 | 6 | 10 | 14 => Some(Unavailable::Unreachable), // BUSY, LOCKED, IOERR, CANTOPEN
            _ => None,
        };
    }
    match code {
        "53100" => Some(Unavailable::Full), // disk_full
        // connection exceptions; admin/crash shutdown, cannot connect now;
        // out of memory / too many connections; serialization and deadlock
        // (the transaction was rolled back: the same request can run again)
        c if c.starts_with("08") || c.starts_with("57P") || c.starts_with("53") => Some(Unavailable::Unreachable),
        "40001" | "40P01" => Some(Unavailable::Unreachable),
        _ => None,
    }
}

/// Which database is behind the pool.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Backend {
    Sqlite,
    Postgres,
}

impl Backend {
    /// `alias`'s column that orders rows as they were inserted: the
    /// tie-break of a listing by time, whose rows written in the same
    /// millisecond (and random ids) would otherwise come back in any order.
    /// SQLite's `rowid` (each insert takes the largest plus one); on
    /// PostgreSQL the `seq` identity column (migration 0017).
    pub(crate) fn insertion_order(self, alias: &str) -> String {
        let column = match self {
            Backend::Sqlite => "rowid",
            Backend::Postgres => "seq",
        };
        if alias.is_empty() { column.to_owned() } else { format!("{alias}.{column}") }
    }
}

/// `s` as the literal part of a `LIKE … ESCAPE '\'` pattern: its `\`, `%`
/// and `_` escaped. Build the pattern in SQL around the bound value
/// (`LIKE ('%' || $1 || '%')`): SQLite re-prepares a statement at every bind
/// of a parameter that is a whole `LIKE` pattern.
fn like_escaped(s: &str) -> String {
    s.replace('\\', "\\\\").replace('%', "\\%").replace('_', "\\_")
}

/// The lease of a store not told otherwise (the server sets its own).
const DEFAULT_LEASE: std::time::Duration = std::time::Duration::from_secs(60);

#[derive(Clone)]
pub(crate) struct Store {
    pool: AnyPool,
    /// Where writes go: on SQLite one connection, so writers queue here in
    /// order instead of sleeping in SQLite's busy handler (which made the
    /// tail of `POST /callLog` 16× its median); on PostgreSQL the pool.
    writer: AnyPool,
    /// Shared: it holds the expanded AES keys (hundreds of bytes, a `String`
    /// and a `Vec`), and the store is cloned into each batched write.
    sealer: std::sync::Arc<Sealer>,
    backend: Backend,
    /// How long a reservation is leased (see `reservations`).
    lease: std::time::Duration,
    /// Notified after a commit that wrote to the webhook outbox.
    outbox: std::sync::Arc<tokio::sync::Notify>,
    /// Signed-in users and their sessions (see `session_cache`).
    signed_in: std::sync::Arc<SessionCache>,
    /// Whose endpoints hear of each connection (see `webhooks`).
    subjects: std::sync::Arc<webhooks::Subjects>,
    /// The logging path's writes: committed together on SQLite (see `group_commit`).
    writes: group_commit::Writes,
}

impl Store {
    /// Connects, creating the SQLite file if needed, and runs the migrations.
    pub(crate) async fn connect(url: &str, sealer: Sealer) -> StoreResult<Store> {
        install_default_drivers();
        let backend = if url.starts_with("sqlite:") { Backend::Sqlite } else { Backend::Postgres };
        // SQLite creates the file (mode=rwc) but not its directory.
        if let Some(parent) = sqlite_path(url).as_deref().and_then(|p| std::path::Path::new(p).parent()) {
            let _ = std::fs::create_dir_all(parent);
        }
        let pool =
            options(backend).max_connections(if backend == Backend::Sqlite { 8 } else { 16 }).connect(url).await?;
        match backend {
            Backend::Sqlite => sqlx::migrate!("migrations/sqlite").run(&pool).await?,
            Backend::Postgres => sqlx::migrate!("migrations/postgres").run(&pool).await?,
        }
        let (writer, writes) = match backend {
            Backend::Sqlite if sqlite_path(url).is_some() => {
                let writer = options(backend).max_connections(1).connect(url).await?;
                (writer.clone(), group_commit::Writes::batched(writer))
            }
            // (An in-memory database is one per connection: it keeps its one pool.)
            _ => (pool.clone(), group_commit::Writes::direct(pool.clone())),
        };
        let signed_in = match backend {
            // Other replicas write too: the cache is on while it hears of their changes.
            Backend::Postgres => {
                let cache = std::sync::Arc::new(SessionCache::default());
                tokio::spawn(session_cache::listen_for_changes(url.to_owned(), cache.clone()));
                cache
            }
            // One process owns a SQLite file.
            Backend::Sqlite => std::sync::Arc::new(SessionCache::enabled()),
        };
        Ok(Store {
            pool,
            writer,
            sealer: std::sync::Arc::new(sealer),
            backend,
            lease: DEFAULT_LEASE,
            outbox: Default::default(),
            signed_in,
            subjects: Default::default(),
            writes,
        })
    }

    /// Leases reservations for `lease`: longer than the work a reservation
    /// guards may take, so only an owner that is gone loses its lease.
    pub(crate) fn with_lease(mut self, lease: std::time::Duration) -> Store {
        self.lease = lease;
        self
    }

    /// The reading pool, for tests that look at what is stored.
    #[cfg(test)]
    pub(crate) fn pool(&self) -> &AnyPool {
        &self.pool
    }

    #[cfg(test)]
    pub(crate) fn backend(&self) -> Backend {
        self.backend
    }

    pub(crate) async fn close(&self) {
        self.writer.close().await;
        self.pool.close().await;
    }

    /// Seals a secret for one row and column.
    fn seal(&self, place: Place<'_>, secret: &Secret) -> Vec<u8> {
        self.sealer.seal(&place.aad(), secret.expose().as_bytes())
    }

    /// Opens the secret in `place.column` of `row`, whose key id is in `key_column`.
    fn open_secret(&self, row: &AnyRow, place: Place<'_>, key_column: &str) -> StoreResult<Option<Secret>> {
        let sealed: Option<Vec<u8>> = row.try_get(place.column)?;
        let key_id: Option<String> = row.try_get(key_column)?;
        Ok(match (sealed, key_id) {
            (Some(sealed), Some(key_id)) => {
                let plain = self.sealer.open(&key_id, &place.aad(), &sealed)?;
                Some(Secret::new(String::from_utf8_lossy(&plain).into_owned()))
            }
            _ => None,
        })
    }
}

/// How long a request waits for a database connection before it fails with
/// `DATABASE_UNAVAILABLE`.
const ACQUIRE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(3);

/// A pooled PostgreSQL connection idle this long is pinged before use.
const PING_IF_IDLE_FOR: std::time::Duration = std::time::Duration::from_secs(1);

/// The connection settings both pools share.
fn options(backend: Backend) -> AnyPoolOptions {
    AnyPoolOptions::new()
        // While the database is unreachable, a request waits this long for a
        // connection, then fails as retryable (not sqlx's 30 s).
        .acquire_timeout(ACQUIRE_TIMEOUT)
        // A SQLite connection is a file handle that cannot drop, so pinging it
        // before each use is only an extra round trip to its worker thread
        // (a context switch each way: the host's largest cost per request).
        // A PostgreSQL connection can die with its server: one that sat idle
        // for a second is checked before use; a busy one is not (a ping per
        // acquire was one more round trip per query).
        .test_before_acquire(false)
        .before_acquire(move |conn, meta| {
            Box::pin(async move {
                if backend == Backend::Postgres && meta.idle_for >= PING_IF_IDLE_FOR {
                    sqlx::Connection::ping(conn).await?;
                }
                Ok(true)
            })
        })
        .after_connect(move |conn, _| {
            Box::pin(async move {
                if backend == Backend::Sqlite {
                    sqlx::query("PRAGMA journal_mode = WAL").execute(&mut *conn).await?;
                    sqlx::query("PRAGMA busy_timeout = 5000").execute(&mut *conn).await?;
                    sqlx::query("PRAGMA foreign_keys = ON").execute(&mut *conn).await?;
                }
                Ok(())
            })
        })
}

/// Where a sealed value lives: its associated data binds the ciphertext to
/// that row and column, so a value copied elsewhere does not open. The AAD
/// reads `users/<row>/<column>` for every table (an OAuth state's verifier
/// too): it is what the stored ciphertexts were sealed with, so it stays.
#[derive(Clone, Copy)]
struct Place<'a> {
    row: &'a str,
    column: &'static str,
}

impl Place<'_> {
    fn aad(&self) -> String {
        format!("users/{}/{}", self.row, self.column)
    }
}

fn sqlite_path(url: &str) -> Option<String> {
    let rest = url.strip_prefix("sqlite://").or_else(|| url.strip_prefix("sqlite:"))?;
    let path = rest.split('?').next()?;
    (!path.is_empty() && path != ":memory:").then(|| path.to_owned())
}

#[cfg(test)]
mod tests;
