//! Fresh, isolated databases for tests (used by the host's and the end-to-end
//! tests). Each call gets its own SQLite file or its own PostgreSQL schema, so
//! tests running in parallel never share state.
//!
//! PostgreSQL tests read `SWITCHBOARD_TEST_POSTGRES_URL` (e.g.
//! `postgres://postgres@127.0.0.1:5432/test`). Without it they skip, except in
//! CI (`CI=true`), where a skip would hide a failure and so panics instead.

use sqlx::Connection;

pub const POSTGRES_ENV: &str = "SWITCHBOARD_TEST_POSTGRES_URL";

/// A unique SQLite database URL in the system temp directory.
pub fn sqlite_url() -> String {
    let path = std::env::temp_dir().join(format!("switchboard-test-{}.db", uuid::Uuid::new_v4().simple()));
    format!("sqlite://{}?mode=rwc", path.display())
}

/// A URL to a new, empty PostgreSQL schema, or `None` to skip the test.
pub async fn postgres_url() -> Option<String> {
    let base = match std::env::var(POSTGRES_ENV) {
        Ok(url) if !url.is_empty() => url,
        _ => {
            if std::env::var("CI").is_ok_and(|v| v == "true") {
                panic!("{POSTGRES_ENV} must be set in CI: PostgreSQL tests may not skip there");
            }
            eprintln!("skipping a PostgreSQL test: {POSTGRES_ENV} is not set");
            return None;
        }
    };
    let schema = format!("sb_test_{}", uuid::Uuid::new_v4().simple());
    let mut conn =
        sqlx::PgConnection::connect(&base).await.unwrap_or_else(|e| panic!("cannot connect to {POSTGRES_ENV}: {e}"));
    // The schema name is ours: a fixed prefix and a UUID's hex digits.
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!("CREATE SCHEMA {schema}")))
        .execute(&mut conn)
        .await
        .expect("create a test schema");
    let _ = conn.close().await;
    let sep = if base.contains('?') { '&' } else { '?' };
    Some(format!("{base}{sep}options=-c%20search_path%3D{schema}"))
}

/// Both backends: SQLite always, PostgreSQL when available.
pub async fn all_urls() -> Vec<String> {
    let mut urls = vec![sqlite_url()];
    urls.extend(postgres_url().await);
    urls
}
