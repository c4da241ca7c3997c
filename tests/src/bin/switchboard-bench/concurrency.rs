//! 2. Concurrency: the fake CRM answers after a fixed delay L; C clients
//!    closed-loop can get at most C/L answers a second. How close do we get?

use crate::loadgen::{self, Check, Conn, MakeRequest, Plan};
use crate::overhead::Path;
use crate::stats::Stat;
use anyhow::Result;
use std::time::Duration;

pub const LEVELS: &[usize] = &[100, 500, 1000, 2000];
/// Three round trips of L before the window: pools filled, steady state.
const WARMUP: Duration = Duration::from_millis(300);
const WINDOW: Duration = Duration::from_millis(1000);

/// One level of concurrency over the runs.
#[derive(Default)]
pub struct Row {
    pub clients: usize,
    pub rps: Stat,
    pub p50_ms: Stat,
    pub p99_ms: Stat,
    /// Cores busy on average: host, fake CRM, load generator.
    pub cores: [Stat; 3],
    /// Cores busy in the PostgreSQL server.
    pub db: Stat,
    /// Cores busy with anything else on the machine.
    pub others: Stat,
    pub requests: u64,
    pub errors: u64,
    pub first_error: Option<String>,
    /// Highest host RSS sampled during these runs, MiB.
    pub max_rss_mib: f64,
    /// Highest host PSS sampled, MiB (see `loadgen::Outcome::max_pss_mib`).
    pub max_pss_mib: f64,
}

pub async fn measure(path: Path, make: MakeRequest, check: Check, runs: usize) -> Result<Vec<Row>> {
    let watch = path.watch();
    let plan = Plan { warmup: WARMUP, window: WINDOW, watch: &watch, sample_rss_of: path.host_pid, until: None };
    let mut pool: Vec<Conn> = Vec::new();
    let mut rows = Vec::new();
    for &clients in LEVELS {
        if pool.len() < clients {
            pool.extend(loadgen::open(path.addr, clients - pool.len()).await?);
        }
        let mut row = Row { clients, max_rss_mib: f64::NAN, max_pss_mib: f64::NAN, ..Row::default() };
        for _ in 0..runs {
            let rest = pool.split_off(clients);
            let (o, back) = loadgen::run(pool, make.clone(), check, &plan).await?;
            pool = back;
            pool.extend(rest);
            row.rps.push(o.per_second());
            row.p50_ms.push(o.p(50.0) / 1000.0);
            row.p99_ms.push(o.p(99.0) / 1000.0);
            let (host, crm) = match path.host_pid {
                Some(_) => (o.cores(Some(0)), o.cores(Some(1))),
                None => (f64::NAN, o.cores(Some(0))),
            };
            for (stat, v) in row.cores.iter_mut().zip([host, crm, o.cores(None)]) {
                stat.push(v);
            }
            row.others.push(o.other_cores());
            row.db.push(o.db_cores());
            row.requests += o.ok;
            row.errors += o.errors;
            if row.first_error.is_none() {
                row.first_error.clone_from(&o.first_error);
            }
            row.max_rss_mib = row.max_rss_mib.max(o.max_rss_mib);
            row.max_pss_mib = row.max_pss_mib.max(o.max_pss_mib);
        }
        rows.push(row);
    }
    Ok(rows)
}
