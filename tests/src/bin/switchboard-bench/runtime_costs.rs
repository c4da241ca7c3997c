//! 3. Runtime costs, measured inside this process with the host as a library
//!    (no HTTP in the way): start-up, one sandboxed call, compiling each
//!    adapter, the hot-reload swap, an OAuth token refresh.

use crate::procs::{ENCRYPTION_KEY, SECRET, TESTCRM_ORIGIN};
use crate::stats::Stat;
use anyhow::{Context, Result};
use std::path::Path;
use std::time::Instant;
use switchboard::config::Config;
use switchboard::runtime::call_context;
use switchboard::server::Server;
use switchboard_e2e::testcrm::TestCrm;

const CALLS_PER_RUN: usize = 2000;

#[derive(Default)]
pub struct Costs {
    pub startup_cold_ms: Stat,
    pub startup_cached_ms: Stat,
    pub call_us: Stat,
    /// Per adapter: reloading with only that adapter changed (compile, type
    /// check, smoke instantiation), ms.
    pub compile_ms: Vec<(String, Stat)>,
    pub swap_us: Stat,
    pub refresh_ms: Stat,
}

fn config(adapters: &Path, data: &Path, crm: &TestCrm) -> Config {
    let mut c = Config {
        bind: "127.0.0.1:0".parse().expect("address"),
        data_dir: data.to_owned(),
        database_url: format!("sqlite://{}?mode=rwc", data.join("bench.db").display()),
        adapters_dir: adapters.to_owned(),
        app_server_secret_key: SECRET.into(),
        encryption_key: ENCRYPTION_KEY.into(),
        watch_adapters: false,
        ..Config::default()
    };
    c.upstream_overrides.insert(TESTCRM_ORIGIN.into(), crm.base_url());
    c
}

/// Appends an empty custom section named `tag`: a new hash, the same code.
pub fn touch_component(wasm: &Path, original: &[u8], tag: &str) -> Result<()> {
    let mut bytes = original.to_vec();
    bytes.extend([0u8, (tag.len() + 1) as u8, tag.len() as u8]);
    bytes.extend(tag.as_bytes());
    std::fs::write(wasm, &bytes).with_context(|| format!("cannot write {}", wasm.display()))
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

/// `adapters` is a private copy of the bundled adapters (its files get touched).
pub async fn measure(adapters: &Path, runs: usize) -> Result<Costs> {
    let crm = TestCrm::start().await;
    let mut costs = Costs::default();

    // Start-up: an empty compile cache, then the same data dir again.
    for _ in 0..crate::compile_runs(runs) {
        let data = tempfile::tempdir()?;
        for sink in [&mut costs.startup_cold_ms, &mut costs.startup_cached_ms] {
            let t = Instant::now();
            let server = Server::start(config(adapters, data.path(), &crm)).await?;
            sink.push(t.elapsed().as_secs_f64() * 1000.0);
            server.stop().await?;
        }
    }

    // One sandboxed call: fresh store, instantiate from the InstancePre, call
    // an export that does no I/O (testcrm's unauthorize).
    let data = tempfile::tempdir()?;
    let server = Server::start(config(adapters, data.path(), &crm)).await?;
    let runtime = server.state.runtime.clone();
    let adapter = runtime.adapter("testcrm").context("testcrm is loaded")?;
    for _ in 0..runs {
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
        costs.call_us.push(t.elapsed().as_secs_f64() * 1e6 / CALLS_PER_RUN as f64);
    }

    drop((adapter, runtime));
    server.stop().await?;

    // Compile time per adapter: each in a directory of its own, changed and
    // reloaded (compile, type check, smoke instantiation); the swap of the
    // adapter set is timed on its own.
    let mut wasm_files: Vec<_> = std::fs::read_dir(adapters)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "wasm"))
        .collect();
    wasm_files.sort();
    for source in &wasm_files {
        let name = source.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
        let only = tempfile::tempdir()?;
        let wasm = only.path().join(format!("{name}.wasm"));
        std::fs::copy(source, &wasm)?;
        std::fs::copy(source.with_extension("toml"), wasm.with_extension("toml"))?;
        let original = std::fs::read(&wasm)?;
        let data = tempfile::tempdir()?;
        let server = Server::start(config(only.path(), data.path(), &crm)).await?;
        let mut stat = Stat::default();
        for run in 0..crate::compile_runs(runs) {
            touch_component(&wasm, &original, &format!("bench-compile-{run}"))?;
            let report = server.state.runtime.reload().await?;
            anyhow::ensure!(report.failed.is_empty() && report.loaded.len() == 1, "{name} did not reload: {report:?}");
            stat.push(report.elapsed_ms);
            costs.swap_us.push(report.swap_micros);
        }
        server.stop().await?;
        costs.compile_ms.push((name, stat));
    }

    // OAuth refresh: one token-endpoint round trip plus the locked re-read and
    // the sealed write, against the local fake authorization server.
    let data = tempfile::tempdir()?;
    let mut c = config(adapters, data.path(), &crm);
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
    for _ in 0..runs {
        let t = Instant::now();
        for _ in 0..100 {
            server.state.connections.refresh(&user_id, None).await.map_err(|e| anyhow::anyhow!("{e}"))?;
        }
        costs.refresh_ms.push(t.elapsed().as_secs_f64() * 1000.0 / 100.0);
    }
    server.stop().await?;
    Ok(costs)
}
