//! One store's part of the run: host processes on SQLite or PostgreSQL,
//! the overhead and concurrency loads through them, their start-up, memory,
//! and a hot reload under load.

use crate::concurrency::{self, Row};
use crate::loadgen::{self, Plan};
use crate::overhead::{self, Figures, Path as LoadPath};
use crate::procs::{self, ADMIN_TOKEN, HostSpec, Served};
use crate::runtime_costs::touch_component;
use crate::stats::Stat;
use crate::workload;
use anyhow::{Context, Result, bail};
use serde_json::{Value, json};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;
use switchboard_e2e::testcrm::DEMO_API_KEY;

/// The instance pool the concurrency host gets: room for every client (the
/// default, 1000, would cap C = 2000 at 1000 / L).
pub const CONCURRENCY_POOL: u32 = 2048;
/// And a memory budget for every client (a testcrm call starts at 2.1 MiB of
/// memory and holds twice that of the budget: the default 4096 MiB would
/// hold under a thousand at once).
pub const CONCURRENCY_BUDGET_MIB: u32 = 16384;
const RELOADS: usize = 3;
pub const RELOAD_CLIENTS: usize = 32;
/// The load runs at least this long, and until the reloads are done.
const RELOAD_WINDOW: Duration = Duration::from_secs(2);

pub struct Reload {
    pub reloads: usize,
    pub swap_us: Stat,
    pub reload_ms: Stat,
    pub requests: u64,
    pub failed: u64,
    pub first_error: Option<String>,
    pub p99_ms: f64,
}

/// Resident memory of a host process: all of it, anonymous, file-backed (MiB).
#[derive(Default)]
pub struct Rss {
    pub total: Stat,
    pub anon: Stat,
    pub file: Stat,
}

impl Rss {
    fn push(&mut self, host: &Served) {
        self.total.push(host.rss_mib());
        self.anon.push(procs::status_mib(host.pid, "RssAnon"));
        self.file.push(procs::status_mib(host.pid, "RssFile"));
    }
}

pub struct StoreFigures {
    pub get: Figures,
    pub post: Figures,
    pub concurrency: Vec<Row>,
    pub start_cold_ms: Stat,
    pub start_cached_ms: Stat,
    /// Adapters compiled by the hosts that started from the compile cache (should be 0).
    pub cached_compiles: f64,
    /// Just after a start that compiled every adapter, and after one from the compile cache.
    pub rss_idle_cold: Rss,
    pub rss_idle_cached: Rss,
    pub rss_after_overhead_mib: f64,
    pub rss_load_max_mib: f64,
    /// The same, counting shared pages once (PSS).
    pub pss_load_max_mib: f64,
    pub rss_peak_mib: f64,
    pub reload: Reload,
    /// Lines the hosts logged at warn or error (a pooling fallback, failures).
    pub warnings: Vec<String>,
}

/// What every host in this store's runs shares.
pub struct Setup<'a> {
    pub bins: &'a Path,
    pub work: &'a Path,
    pub adapters: &'a Path,
    pub database_url: &'a str,
    pub fast_crm: &'a Served,
    pub slow_crm: &'a Served,
    pub runs: usize,
}

impl Setup<'_> {
    fn spawn(&self, data: &Path, crm: &Served, pool: Option<u32>) -> Result<Served> {
        std::fs::create_dir_all(data)?;
        let budget = format!("adapter_memory_budget_mib = {CONCURRENCY_BUDGET_MIB}\n");
        let spec = HostSpec {
            database_url: self.database_url,
            data_dir: data,
            adapters_dir: self.adapters,
            crm: &crm.hostport(),
            max_concurrent_calls: pool,
            limits: if pool.is_some() { &budget } else { "" },
            tables: "",
        };
        procs::host(self.bins, &spec, data)
    }
}

fn base(host: &Served) -> String {
    format!("http://{}", host.addr)
}

async fn login(client: &reqwest::Client, host: &Served) -> Result<String> {
    let body = json!({"platform": "testcrm", "apiKey": DEMO_API_KEY});
    let r: Value = client.post(format!("{}/apiKeyLogin", base(host))).json(&body).send().await?.json().await?;
    r["jwtToken"].as_str().map(str::to_owned).with_context(|| format!("API-key login failed: {r}"))
}

/// One of each request before timing anything, so a broken set-up fails
/// with its message instead of as a row of errors.
async fn sanity(client: &reqwest::Client, host: &Served, jwt: &str) -> Result<()> {
    let url = format!("{}/contact?phoneNumber={}", base(host), workload::PHONE_QUERY);
    let r: Value = client.get(url).bearer_auth(jwt).send().await?.json().await?;
    if r["successful"] != true || r["contact"][0]["id"] != workload::CONTACT_ID {
        bail!("GET /contact did not find {}: {r}", workload::CONTACT_ID);
    }
    Ok(())
}

async fn compiles(client: &reqwest::Client, host: &Served) -> f64 {
    let Ok(resp) = client.get(format!("{}/metrics", base(host))).bearer_auth(ADMIN_TOKEN).send().await else {
        return f64::NAN;
    };
    let text = resp.text().await.unwrap_or_default();
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .find_map(|l| l.strip_prefix("switchboard_adapter_compiles_total").and_then(|r| r.trim().parse().ok()))
        .unwrap_or(f64::NAN)
}

/// Loads `host` with GET /contact while the testcrm component is changed and
/// reloaded through `POST /admin/reload` a few times: every request must succeed.
async fn reload_under_load(host: &Served, crm_pid: u32, jwt: &str, adapters: &Path) -> Result<Reload> {
    let wasm = adapters.join("testcrm.wasm");
    let original = std::fs::read(&wasm)?;
    let url = format!("{}/admin/reload", base(host));
    let done = Arc::new(AtomicBool::new(false));
    let finished = done.clone();
    let reloader = tokio::spawn(async move {
        let _done = SetOnDrop(finished);
        let client = reqwest::Client::new();
        let mut got: Vec<(f64, f64)> = Vec::new();
        for i in 0..RELOADS {
            tokio::time::sleep(Duration::from_millis(300)).await;
            touch_component(&wasm, &original, &format!("bench-reload-{}-{i}", std::process::id()))?;
            let r: Value = client.post(&url).bearer_auth(ADMIN_TOKEN).send().await?.json().await?;
            if r["failed"].as_array().is_none_or(|f| !f.is_empty()) || r["loaded"] != json!(["testcrm"]) {
                bail!("the reload did not load testcrm alone: {r}");
            }
            got.push((r["swapMicros"].as_f64().unwrap_or(f64::NAN), r["elapsedMs"].as_f64().unwrap_or(f64::NAN)));
        }
        std::fs::write(&wasm, &original)?;
        anyhow::Ok(got)
    });
    let conns = loadgen::open(host.addr, RELOAD_CLIENTS).await?;
    let make = workload::host_find_contact(&host.hostport(), jwt);
    let watch = [host.pid, crm_pid];
    let plan = Plan {
        warmup: Duration::from_millis(100),
        window: RELOAD_WINDOW,
        watch: &watch,
        sample_rss_of: None,
        until: Some(done),
    };
    let (o, _) = loadgen::run(conns, make, workload::host_ok, &plan).await?;
    let got = reloader.await??;
    let (mut swap_us, mut reload_ms) = (Stat::default(), Stat::default());
    for (s, r) in &got {
        swap_us.push(*s);
        reload_ms.push(*r);
    }
    Ok(Reload {
        reloads: got.len(),
        swap_us,
        reload_ms,
        requests: o.ok + o.failed,
        failed: o.errors,
        first_error: o.first_error.clone(),
        p99_ms: o.p(99.0) / 1000.0,
    })
}

/// Sets the flag when dropped: the reloads are over, however they ended.
struct SetOnDrop(Arc<AtomicBool>);

impl Drop for SetOnDrop {
    fn drop(&mut self) {
        self.0.store(true, Ordering::Relaxed);
    }
}

fn warnings(host: &Served, into: &mut Vec<String>) {
    for level in ["WARN", "ERROR"] {
        for line in host.log_lines(level) {
            if !into.contains(&line) {
                into.push(line);
            }
        }
    }
}

pub async fn run(s: &Setup<'_>, label: &str) -> Result<StoreFigures> {
    let client = reqwest::Client::new();
    let mut warned = Vec::new();
    let (mut start_cold_ms, mut start_cached_ms) = (Stat::default(), Stat::default());
    let (mut rss_idle_cold, mut rss_idle_cached) = (Rss::default(), Rss::default());
    let data = s.work.join(format!("{label}-data"));

    // Host A: fresh data dir (cold start), the fast fake CRM.
    eprintln!("  {label}: host start-up cold, overhead runs, hot reload under load");
    let mut host = s.spawn(&data, s.fast_crm, None)?;
    start_cold_ms.push(host.startup.as_secs_f64() * 1000.0);
    rss_idle_cold.push(&host);
    let jwt = login(&client, &host).await?;
    sanity(&client, &host, &jwt).await?;
    let path = LoadPath { addr: host.addr, host_pid: Some(host.pid), crm_pid: Some(s.fast_crm.pid) };
    let get =
        overhead::measure(path, workload::host_find_contact(&host.hostport(), &jwt), workload::host_ok, s.runs).await?;
    let run_tag = format!("{label}-{}", std::process::id());
    let make = workload::host_call_log(&host.hostport(), &jwt, &run_tag);
    let post = overhead::measure(path, make, workload::host_ok, s.runs).await?;
    let rss_after_overhead_mib = host.rss_mib();
    let reload = reload_under_load(&host, s.fast_crm.pid, &jwt, s.adapters).await?;
    host.ensure_alive()?;
    warnings(&host, &mut warned);
    drop(host);

    // More cold starts (empty compile cache, same database), then starts from the cache.
    eprintln!("  {label}: host start-ups");
    for i in 1..crate::compile_runs(s.runs) {
        let host = s.spawn(&s.work.join(format!("{label}-cold-{i}")), s.fast_crm, None)?;
        start_cold_ms.push(host.startup.as_secs_f64() * 1000.0);
        rss_idle_cold.push(&host);
    }
    let mut cached_compiles = 0.0;
    let mut host: Option<Served> = None;
    for i in 0..s.runs {
        drop(host.take()); // the previous one stops first
        let h = s.spawn(&data, s.slow_crm, Some(CONCURRENCY_POOL))?;
        start_cached_ms.push(h.startup.as_secs_f64() * 1000.0);
        rss_idle_cached.push(&h);
        if i + 1 == s.runs {
            cached_compiles = compiles(&client, &h).await;
        }
        host = Some(h);
    }
    let mut host = host.context("a host for the concurrency runs")?;

    // Host B: from the compile cache, the slow fake CRM, a pool for every client.
    eprintln!("  {label}: concurrency runs");
    let path = LoadPath { addr: host.addr, host_pid: Some(host.pid), crm_pid: Some(s.slow_crm.pid) };
    let concurrency =
        concurrency::measure(path, workload::host_find_contact(&host.hostport(), &jwt), workload::host_ok, s.runs)
            .await?;
    host.ensure_alive()?;
    let rss_load_max_mib = concurrency.iter().map(|r| r.max_rss_mib).fold(f64::NAN, f64::max);
    let pss_load_max_mib = concurrency.iter().map(|r| r.max_pss_mib).fold(f64::NAN, f64::max);
    let rss_peak_mib = host.peak_rss_mib();
    warnings(&host, &mut warned);
    Ok(StoreFigures {
        get,
        post,
        concurrency,
        start_cold_ms,
        start_cached_ms,
        cached_compiles,
        rss_idle_cold,
        rss_idle_cached,
        rss_after_overhead_mib,
        rss_load_max_mib,
        pss_load_max_mib,
        rss_peak_mib,
        reload,
        warnings: warned,
    })
}
