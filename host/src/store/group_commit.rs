//! Group commit on SQLite: the writes of the logging path (a reservation,
//! its completion) from concurrent requests are committed together, in one
//! transaction with one `fsync`, instead of one transaction each.
//!
//! A job is a function of a connection that runs its statements. One task
//! takes the jobs waiting, runs them in order in one transaction on the
//! writer connection, commits, and only then answers each (a reservation
//! counts once it is durable). If a job fails, the transaction is rolled
//! back and each job of the batch runs again alone, so one job's failure
//! is its own. Jobs see the earlier jobs' writes, as if run one after the
//! other.
//!
//! On PostgreSQL (a pool of connections, and group commit in the server)
//! a job runs at once on a connection of its own, in a transaction when it
//! asks for one.

use super::{StoreError, StoreResult};
use futures_util::future::BoxFuture;
use sqlx::{Acquire, AnyConnection, AnyPool};
use tokio::sync::{mpsc, oneshot};

/// The most jobs one transaction takes.
const MAX_BATCH: usize = 64;

/// What a job runs: its statements on the connection it is given.
pub(crate) type Work<T> =
    Box<dyn for<'c> Fn(&'c mut AnyConnection) -> BoxFuture<'c, StoreResult<T>> + Send + Sync + 'static>;

/// A job of any result type, as the batching task holds it.
trait Job: Send {
    /// Runs the statements; keeps the result until [`Job::answer`].
    fn run<'c>(&'c mut self, conn: &'c mut AnyConnection) -> BoxFuture<'c, StoreResult<()>>;
    /// Answers with the kept result (after the commit) or `error`.
    fn answer(self: Box<Self>, error: Option<StoreError>);
    /// Whether its statements must be one transaction (else one statement
    /// or several that stand alone).
    fn atomic(&self) -> bool;
}

struct Typed<T> {
    work: Work<T>,
    atomic: bool,
    result: Option<T>,
    reply: oneshot::Sender<StoreResult<T>>,
}

impl<T: Send + 'static> Job for Typed<T> {
    fn atomic(&self) -> bool {
        self.atomic
    }

    fn run<'c>(&'c mut self, conn: &'c mut AnyConnection) -> BoxFuture<'c, StoreResult<()>> {
        Box::pin(async move {
            self.result = Some((self.work)(conn).await?);
            Ok(())
        })
    }

    fn answer(self: Box<Self>, error: Option<StoreError>) {
        let answer = match (error, self.result) {
            (Some(e), _) => Err(e),
            (None, Some(value)) => Ok(value),
            (None, None) => Err(StoreError::Db(sqlx::Error::Protocol("a batched write ran no statement".into()))),
        };
        // The caller may have gone away: the write stands all the same.
        let _ = self.reply.send(answer);
    }
}

/// Where writes that can be committed together go.
#[derive(Clone)]
pub(crate) struct Writes(Route);

#[derive(Clone)]
enum Route {
    /// SQLite: the batching task's queue.
    Batched(mpsc::UnboundedSender<Box<dyn Job>>),
    /// PostgreSQL: each job at once, on the pool.
    Direct(AnyPool),
}

impl Writes {
    /// Batches writes to SQLite's one writer connection (`writer`).
    pub(crate) fn batched(writer: AnyPool) -> Writes {
        let (tx, rx) = mpsc::unbounded_channel();
        tokio::spawn(run_batches(writer, rx));
        Writes(Route::Batched(tx))
    }

    /// Runs each job at once on a connection of `pool`.
    pub(crate) fn direct(pool: AnyPool) -> Writes {
        Writes(Route::Direct(pool))
    }

    /// Runs `work`: batched with other jobs on SQLite; on PostgreSQL alone,
    /// in a transaction of its own if `atomic` (on SQLite a batch of several jobs is one).
    pub(crate) async fn run<T: Send + 'static>(&self, atomic: bool, work: Work<T>) -> StoreResult<T> {
        match &self.0 {
            Route::Batched(queue) => {
                let (reply, answer) = oneshot::channel();
                queue
                    .send(Box::new(Typed { work, atomic, result: None, reply }))
                    .map_err(|_| StoreError::Db(sqlx::Error::PoolClosed))?;
                answer.await.map_err(|_| StoreError::Db(sqlx::Error::PoolClosed))?
            }
            Route::Direct(pool) => {
                let mut conn = pool.acquire().await?;
                if !atomic {
                    return work(&mut conn).await;
                }
                let mut tx = conn.begin().await?;
                let value = work(&mut tx).await?;
                tx.commit().await?;
                Ok(value)
            }
        }
    }
}

async fn run_batches(writer: AnyPool, mut queue: mpsc::UnboundedReceiver<Box<dyn Job>>) {
    while let Some(first) = queue.recv().await {
        let mut jobs = vec![first];
        while jobs.len() < MAX_BATCH
            && let Ok(job) = queue.try_recv()
        {
            jobs.push(job);
        }
        let failed = match in_one_transaction(&writer, &mut jobs).await {
            Ok(()) => {
                jobs.into_iter().for_each(|job| job.answer(None));
                continue;
            }
            Err(e) => e,
        };
        if jobs.len() == 1 {
            if let Some(job) = jobs.pop() {
                job.answer(Some(failed));
            }
            continue;
        }
        // Rolled back: each on its own, so that one job's failure is its own.
        for mut job in jobs {
            let outcome = in_one_transaction(&writer, std::slice::from_mut(&mut job)).await;
            job.answer(outcome.err());
        }
    }
}

/// Runs `jobs` in order in one transaction and commits; on an error the
/// transaction is rolled back. A job alone that needs no transaction runs
/// without one (two round trips fewer when requests come one at a time).
async fn in_one_transaction(writer: &AnyPool, jobs: &mut [Box<dyn Job>]) -> StoreResult<()> {
    if let [job] = jobs
        && !job.atomic()
    {
        let mut conn = writer.acquire().await?;
        return job.run(&mut conn).await;
    }
    let mut tx = writer.begin().await?;
    for job in jobs.iter_mut() {
        job.run(&mut tx).await?;
    }
    tx.commit().await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn sqlite() -> (tempfile::TempDir, AnyPool) {
        sqlx::any::install_default_drivers();
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}?mode=rwc", dir.path().join("t.db").display());
        let pool = sqlx::any::AnyPoolOptions::new().max_connections(1).connect(&url).await.unwrap();
        sqlx::query("CREATE TABLE t (k TEXT PRIMARY KEY, n INTEGER NOT NULL)").execute(&pool).await.unwrap();
        (dir, pool)
    }

    fn insert(k: &'static str, n: i64) -> Work<u64> {
        Box::new(move |conn| {
            Box::pin(async move {
                let done = sqlx::query("INSERT INTO t (k, n) VALUES ($1, $2)").bind(k).bind(n).execute(conn).await?;
                Ok(done.rows_affected())
            })
        })
    }

    async fn keys(pool: &AnyPool) -> Vec<String> {
        use sqlx::Row;
        let rows = sqlx::query("SELECT k FROM t ORDER BY k").fetch_all(pool).await.unwrap();
        rows.iter().map(|r| r.get::<String, _>("k")).collect()
    }

    #[tokio::test]
    async fn concurrent_writes_all_land_and_a_failing_one_fails_alone() {
        let (_dir, pool) = sqlite().await;
        let writes = Writes::batched(pool.clone());
        // "b" twice: the second breaks the primary key, and only it fails.
        let results = futures_util::future::join_all(
            [("a", 1), ("b", 2), ("b", 3), ("c", 4)].map(|(k, n)| writes.run(true, insert(k, n))),
        )
        .await;
        let ok: Vec<bool> = results.iter().map(Result::is_ok).collect();
        assert_eq!(ok, [true, true, false, true]);
        assert_eq!(keys(&pool).await, ["a", "b", "c"]);
    }

    #[tokio::test]
    async fn a_job_sees_the_writes_of_the_jobs_before_it() {
        let (_dir, pool) = sqlite().await;
        let writes = Writes::batched(pool.clone());
        let count: Work<i64> = Box::new(|conn| {
            Box::pin(async move {
                use sqlx::Row;
                Ok(sqlx::query("SELECT COUNT(*) AS n FROM t").fetch_one(conn).await?.get::<i64, _>("n"))
            })
        });
        let (a, b, n) =
            tokio::join!(writes.run(true, insert("a", 1)), writes.run(true, insert("b", 2)), writes.run(true, count));
        assert!(a.is_ok() && b.is_ok());
        assert_eq!(n.unwrap(), 2);
    }
}
