//! 4. A fresh PostgreSQL database for one bench run, dropped afterwards.

use anyhow::{Context, Result};
use sqlx::Connection;
use std::time::Duration;

/// The server the bench uses unless `SWITCHBOARD_BENCH_POSTGRES_URL` (or the
/// tests' `SWITCHBOARD_TEST_POSTGRES_URL`) names another.
pub const DEFAULT_URL: &str = "postgres://postgres@127.0.0.1:5432/test";

pub fn admin_url() -> String {
    ["SWITCHBOARD_BENCH_POSTGRES_URL", "SWITCHBOARD_TEST_POSTGRES_URL"]
        .iter()
        .find_map(|k| std::env::var(k).ok().filter(|v| !v.is_empty()))
        .unwrap_or_else(|| DEFAULT_URL.to_owned())
}

pub struct FreshDb {
    admin: String,
    pub name: String,
    pub url: String,
}

async fn connect(url: &str) -> Result<sqlx::PgConnection> {
    tokio::time::timeout(Duration::from_secs(5), sqlx::PgConnection::connect(url))
        .await
        .context("no answer within 5 s")?
        .map_err(anyhow::Error::from)
}

async fn execute(admin: &str, sql: String) -> Result<()> {
    let mut conn = connect(admin).await?;
    let done = sqlx::raw_sql(sqlx::AssertSqlSafe(sql)).execute(&mut conn).await;
    let _ = conn.close().await;
    done.map(|_| ()).map_err(anyhow::Error::from)
}

impl FreshDb {
    /// `CREATE DATABASE bench_<pid>` on the server of `admin`.
    pub async fn create(admin: &str) -> Result<FreshDb> {
        let name = format!("bench_{}", std::process::id());
        let mut url = url::Url::parse(admin).context("not a URL")?;
        url.set_path(&format!("/{name}"));
        // The name is ours: a fixed prefix and digits.
        execute(admin, format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")).await?;
        execute(admin, format!("CREATE DATABASE {name}")).await?;
        Ok(FreshDb { admin: admin.to_owned(), name, url: url.to_string() })
    }

    pub async fn drop(self) -> Result<()> {
        execute(&self.admin, format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name)).await
    }
}
