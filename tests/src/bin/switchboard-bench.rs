//! Prints what the host costs: start-up (cold and from the compile cache),
//! a sandboxed adapter call (fresh store + instantiate + call), hot-reload
//! swap time, and resident memory. Run it with `cargo xtask bench` (release).
//!
//! Every figure is the median of several runs, with the spread (min..max).

use anyhow::{Context, Result};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};
use switchboard::config::Config;
use switchboard::runtime::call_context;
use switchboard::server::Server;
use switchboard_e2e::testcrm::TestCrm;

const RUNS: usize = 5;
const CALLS_PER_RUN: usize = 2000;

struct Stat(Vec<f64>);

impl Stat {
    fn show(mut self, unit: &str) -> String {
        self.0.sort_by(|a, b| a.total_cmp(b));
        let median = self.0[self.0.len() / 2];
        format!(
            "{median:>9.3} {unit:<3} (min {:.3}, max {:.3}, n={})",
            self.0[0],
            self.0[self.0.len() - 1],
            self.0.len()
        )
    }
}

fn config(adapters: &Path, data: &Path, crm: &TestCrm) -> Config {
    let mut c = Config {
        bind: "127.0.0.1:0".parse().expect("address"),
        data_dir: data.to_owned(),
        database_url: format!("sqlite://{}?mode=rwc", data.join("bench.db").display()),
        adapters_dir: adapters.to_owned(),
        app_server_secret_key: "bench-secret-bench-secret-bench-secret".into(),
        encryption_key: "AQIDBAUGBwgJCgsMDQ4PEBESExQVFhcYGRobHB0eHyA=".into(),
        watch_adapters: false,
        ..Config::default()
    };
    c.upstream_overrides.insert("https://api.testcrm.example".into(), crm.base_url());
    c
}

fn rss_mib() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines().find(|l| l.starts_with("VmRSS:")).and_then(|l| l.split_whitespace().nth(1)?.parse::<f64>().ok())
        })
        .map_or(f64::NAN, |kib| kib / 1024.0)
}

/// The browser's part of the OAuth dance against the fake; returns the user id.
async fn oauth_login(base: &str, crm: &str) -> Result<String> {
    let client = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build()?;
    let start = client.get(format!("{base}/oauth/testcrm-oauth/start")).send().await?;
    let authorize = url::Url::parse(start.headers()["location"].to_str()?)?;
    let at_fake = format!("{crm}{}?{}", authorize.path(), authorize.query().unwrap_or_default());
    let consent = client.get(at_fake).send().await?;
    let callback = consent.headers()["location"].to_str()?.to_owned();
    let query = url::form_urlencoded::Serializer::new(String::new()).append_pair("callbackUri", &callback).finish();
    let login: serde_json::Value = client.get(format!("{base}/oauth-callback?{query}")).send().await?.json().await?;
    anyhow::ensure!(login["jwtToken"].is_string(), "OAuth login failed: {login}");
    Ok("u-1001-testcrm-oauth".to_owned())
}

fn copy_dir(from: &Path, to: &Path) -> Result<usize> {
    let mut n = 0;
    for e in std::fs::read_dir(from)? {
        let p = e?.path();
        if p.is_file() {
            std::fs::copy(&p, to.join(p.file_name().context("file name")?))?;
            n += p.extension().is_some_and(|x| x == "wasm") as usize;
        }
    }
    Ok(n)
}

#[tokio::main]
async fn main() -> Result<()> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let bundled: PathBuf = std::env::args()
        .nth(1)
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/adapters"));
    let crm = TestCrm::start().await;
    let adapters = tempfile::tempdir()?;
    let count = copy_dir(&bundled, adapters.path())
        .with_context(|| format!("no adapters in {}: run `cargo xtask adapters`", bundled.display()))?;
    println!("switchboard-bench: {count} bundled adapter(s) from {}", bundled.display());

    // Start-up: an empty compile cache, then the same data dir again.
    let (mut cold, mut cached) = (Vec::new(), Vec::new());
    for _ in 0..RUNS {
        let data = tempfile::tempdir()?;
        for sink in [&mut cold, &mut cached] {
            let t = Instant::now();
            let server = Server::start(config(adapters.path(), data.path(), &crm)).await?;
            sink.push(t.elapsed().as_secs_f64() * 1000.0);
            server.stop().await?;
        }
    }

    // One sandboxed call: fresh store, instantiate from the InstancePre, call an
    // export that does no I/O (testcrm's unauthorize).
    let data = tempfile::tempdir()?;
    let server = Server::start(config(adapters.path(), data.path(), &crm)).await?;
    let rss_idle = rss_mib();
    let runtime = server.state.runtime.clone();
    let adapter = runtime.adapter("testcrm").context("testcrm is loaded")?;
    let mut per_call = Vec::new();
    for _ in 0..RUNS {
        let t = Instant::now();
        for _ in 0..CALLS_PER_RUN {
            let ctx = call_context("bench", "u", "");
            runtime
                .call(&adapter, "unauthorize", "bench", Some("key"), move |crm, store| {
                    Box::pin(async move { crm.call_unauthorize(store, &ctx).await })
                })
                .await
                .map_err(|e| anyhow::anyhow!("{e}"))?;
        }
        per_call.push(t.elapsed().as_secs_f64() * 1e6 / CALLS_PER_RUN as f64);
    }

    // Hot reload: change the component's bytes, reload, time the swap.
    let (mut swap, mut reload) = (Vec::new(), Vec::new());
    let wasm_path = adapters.path().join("testcrm.wasm");
    let original = std::fs::read(&wasm_path)?;
    for i in 0..RUNS {
        let mut bytes = original.clone();
        // An empty custom section named with the run number: new hash, same code.
        let name = format!("bench{i}");
        bytes.extend([0u8, (name.len() + 1) as u8, name.len() as u8]);
        bytes.extend(name.as_bytes());
        std::fs::write(&wasm_path, &bytes)?;
        let report = runtime.reload().await?;
        anyhow::ensure!(report.failed.is_empty(), "reload failed: {:?}", report.failed);
        swap.push(report.swap_micros);
        reload.push(report.elapsed_ms);
    }
    let rss_after = rss_mib();
    server.stop().await?;

    // OAuth refresh: one token-endpoint round trip plus the locked re-read and
    // the sealed write, against the local fake authorization server.
    let data = tempfile::tempdir()?;
    let mut c = config(adapters.path(), data.path(), &crm);
    c.oauth.redirect_uri = "https://switchboard.example/oauth-callback".into();
    c.upstream_overrides.insert("https://oauth.testcrm.example".into(), crm.base_url());
    let settings = switchboard::config::AdapterSettings {
        client_id: Some(switchboard_e2e::oauth::CLIENT_ID.into()),
        client_secret: Some(switchboard_e2e::oauth::CLIENT_SECRET.into()),
        ..Default::default()
    };
    c.adapters.insert("testcrm-oauth".into(), settings);
    let server = Server::start(c).await?;
    let user_id = oauth_login(&format!("http://{}", server.addr), &crm.base_url()).await?;
    let mut refresh = Vec::new();
    for _ in 0..RUNS {
        let t = Instant::now();
        for _ in 0..100 {
            server.state.connections.refresh(&user_id, None).await.map_err(|e| anyhow::anyhow!("{e}"))?;
        }
        refresh.push(t.elapsed().as_secs_f64() * 1000.0 / 100.0);
    }
    server.stop().await?;

    println!("\n{:<48} median (spread)", "figure");
    println!("{:<48} {}", "start-up, cold (compile every adapter)", Stat(cold).show("ms"));
    println!("{:<48} {}", "start-up, from the compile cache", Stat(cached).show("ms"));
    println!("{:<48} {}", "adapter call (new store + instantiate + call)", Stat(per_call).show("µs"));
    println!("{:<48} {}", "hot reload: whole reload (compile + checks)", Stat(reload).show("ms"));
    println!("{:<48} {}", "hot reload: swap", Stat(swap).show("µs"));
    println!("{:<48} {}", "OAuth token refresh (local fake CRM)", Stat(refresh).show("ms"));
    println!("{:<48} {rss_idle:>9.1} MiB", "RSS, idle after start (incl. this bench)");
    println!("{:<48} {rss_after:>9.1} MiB", "RSS, after the calls and reloads");
    tokio::time::sleep(Duration::from_millis(10)).await;
    Ok(())
}
