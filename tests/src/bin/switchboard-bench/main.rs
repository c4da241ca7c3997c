//! `cargo xtask bench`: what the host costs, beside what the upstream costs.
//!
//! The host (`target/release/switchboard`, a generated TOML config) and the
//! fake CRM (`target/release/testcrm-server`) run as separate processes on
//! loopback; this process is the load generator (one thread, raw HTTP/1.1
//! keep-alive, see `loadgen.rs`). It prints, for SQLite and PostgreSQL:
//!
//! 1. overhead: `GET /contact` and `POST /callLog` through the host beside the
//!    same upstream requests sent straight to the fake CRM (the floor):
//!    requests/s, p50/p99 latency, CPU µs per request of each process;
//! 2. concurrency: the fake answering after L = 100 ms, throughput at
//!    C = 100..2000 clients beside the ideal C/L;
//! 3. runtime costs: start-up (cold and from the compile cache, in-process
//!    and as a process), one sandboxed call, compile time per adapter, the
//!    hot-reload swap (also under load, counting failed requests), an OAuth
//!    refresh, and the host process's resident memory idle and under load;
//! 4. which stores were measured (PostgreSQL is skipped, saying why, when the
//!    server cannot be reached);
//! 5. attacks (issue 12's hostile adapters and clients) against one host, each
//!    beside a healthy client, with the host's resident memory during each;
//! 6. webhook delivery: latency to the first attempt and a backlog's throughput;
//! 7. App Connect: when `SWITCHBOARD_BENCH_APPCONNECT_URL` names a running App
//!    Connect server, the overhead workload against it too, printed as a
//!    column beside the host's (see `appconnect.rs`).
//!
//! Every figure is the median of several runs with the spread (min..max).
//! Timed figures are printed, never asserted. Usage:
//! `switchboard-bench [adapters dir]` (default `target/adapters`);
//! `SWITCHBOARD_BENCH_ONLY=attacks` runs section 5 alone, `=webhooks` section 6.

mod appconnect;
mod attacks;
mod concurrency;
mod loadgen;
mod overhead;
mod postgres;
mod procs;
mod report;
mod runtime_costs;
mod stats;
mod stores;
mod webhooks;
mod workload;

use anyhow::{Context, Result};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// Runs of every figure (the median and the spread are over these);
/// `SWITCHBOARD_BENCH_RUNS` changes it (1 for a quick look).
const DEFAULT_RUNS: usize = 5;
/// Figures that compile every adapter (seconds each, little spread) get fewer.
pub fn compile_runs(runs: usize) -> usize {
    runs.min(3)
}
/// The fake CRM's answer delay in the concurrency runs.
pub const UPSTREAM_DELAY: Duration = Duration::from_millis(100);

fn copy_adapters(from: &Path, to: &Path) -> Result<Vec<String>> {
    std::fs::create_dir_all(to)?;
    let mut names = Vec::new();
    for e in std::fs::read_dir(from)? {
        let p = e?.path();
        if p.is_file() {
            std::fs::copy(&p, to.join(p.file_name().context("file name")?))?;
            if p.extension().is_some_and(|x| x == "wasm") {
                names.push(p.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default());
            }
        }
    }
    names.sort();
    anyhow::ensure!(!names.is_empty(), "no .wasm files");
    Ok(names)
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<()> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let started = Instant::now();
    let runs = std::env::var("SWITCHBOARD_BENCH_RUNS").ok().and_then(|v| v.parse().ok()).unwrap_or(DEFAULT_RUNS).max(1);
    let bundled: PathBuf = std::env::args()
        .nth(1)
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/adapters"));
    let nofile = procs::raise_nofile_limit();
    let bins = procs::bin_dir()?;
    for bin in ["switchboard", "testcrm-server"] {
        anyhow::ensure!(
            bins.join(bin).exists(),
            "{} is missing: run the bench with `cargo xtask bench`, which builds it",
            bins.join(bin).display()
        );
    }
    let work = tempfile::tempdir()?;
    let host_adapters = work.path().join("adapters");
    let adapters = copy_adapters(&bundled, &host_adapters)
        .with_context(|| format!("no adapters in {}: run `cargo xtask adapters`", bundled.display()))?;
    let mut r =
        report::Report { runs, nofile, adapters, bundled: bundled.clone(), bins: bins.clone(), ..Default::default() };

    eprintln!("switchboard-bench: starting the fake CRMs (no delay; {} ms)", UPSTREAM_DELAY.as_millis());
    let fast = procs::fake_crm(&bins, Duration::ZERO, &work.path().join("testcrm-fast.log"))?;
    let slow = procs::fake_crm(&bins, UPSTREAM_DELAY, &work.path().join("testcrm-slow.log"))?;

    let only = std::env::var("SWITCHBOARD_BENCH_ONLY").unwrap_or_default();
    let only_attacks = only == "attacks";
    let only_webhooks = only == "webhooks";
    let attack = || {
        eprintln!("switchboard-bench: attacks");
        attacks::measure(&bins, work.path(), &bundled, &fast)
    };
    if only_attacks {
        let measured = attack().await;
        r.attacks = Some(measured.map_err(|e| format!("{e:#}")));
        r.print_attacks();
        return Ok(());
    }

    if !only_webhooks {
        eprintln!("switchboard-bench: the floor (straight to the fake CRM)");
        let floor = overhead::Path { addr: fast.addr, host_pid: None, crm_pid: Some(fast.pid) };
        r.floor_get =
            overhead::measure(floor, workload::crm_find_contact(&fast.hostport()), workload::crm_found, runs).await?;
        let tag = format!("floor-{}", std::process::id());
        let make = workload::crm_create_activity(&fast.hostport(), &tag);
        r.floor_post = overhead::measure(floor, make, workload::crm_created, runs).await?;
        let floor = overhead::Path { addr: slow.addr, host_pid: None, crm_pid: Some(slow.pid) };
        r.floor_concurrency =
            concurrency::measure(floor, workload::crm_find_contact(&slow.hostport()), workload::crm_found, runs)
                .await?;
        r.appconnect = appconnect::measure(runs).await;
    }

    for label in ["SQLite", "PostgreSQL"] {
        eprintln!("switchboard-bench: {label} store");
        let (url, fresh, detail) = if label == "SQLite" {
            let file = work.path().join("switchboard.db");
            (format!("sqlite://{}?mode=rwc", file.display()), None, "a new file in a temp dir (WAL)".to_owned())
        } else {
            let admin = postgres::admin_url();
            let server = switchboard::config::redact_url(&admin);
            match postgres::FreshDb::create(&admin).await {
                Ok(db) => {
                    let detail = format!("database {} created on {server} for this run, dropped after", db.name);
                    (db.url.clone(), Some(db), detail)
                }
                Err(e) => {
                    let why = format!("skipped: cannot create a database on {server}: {e:#}");
                    eprintln!("  {why}");
                    r.stores.push(report::StoreRun { label, detail: why.clone(), figures: Err(why) });
                    continue;
                }
            }
        };
        let setup = stores::Setup {
            bins: &bins,
            work: work.path(),
            adapters: &host_adapters,
            database_url: &url,
            fast_crm: &fast,
            slow_crm: &slow,
            runs,
        };
        if only_webhooks {
            eprintln!("  {label}: webhooks");
            let w = webhooks::measure(&bins, work.path(), &host_adapters, &url, &fast, runs).await;
            r.webhooks.push((label, w.map_err(|e| format!("failed: {e:#}"))));
            if let Some(db) = fresh {
                let _ = db.drop().await;
            }
            continue;
        }
        let figures = stores::run(&setup, label).await;
        eprintln!("  {label}: webhooks");
        let w = webhooks::measure(&bins, work.path(), &host_adapters, &url, &fast, runs).await;
        r.webhooks.push((label, w.map_err(|e| format!("failed: {e:#}"))));
        if let Some(db) = fresh
            && let Err(e) = db.drop().await
        {
            eprintln!("  could not drop the bench database: {e:#}");
        }
        r.stores.push(report::StoreRun { label, detail, figures: figures.map_err(|e| format!("failed: {e:#}")) });
    }
    if only_webhooks {
        crate::webhooks::print(&r.webhooks);
        return Ok(());
    }
    r.attacks = Some(attack().await.map_err(|e| format!("{e:#}")));
    drop((fast, slow));

    eprintln!("switchboard-bench: runtime costs (in-process)");
    let private = work.path().join("adapters-in-process");
    copy_adapters(&bundled, &private)?;
    r.costs = Some(runtime_costs::measure(&private, runs).await?);
    r.elapsed = started.elapsed();
    r.print();
    tokio::time::sleep(Duration::from_millis(10)).await;
    Ok(())
}
