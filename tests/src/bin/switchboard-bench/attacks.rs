//! Section 5, attacks: the hostile inputs of issue 12 against one release
//! host (SQLite), each for a few seconds while a healthy client keeps calling
//! `GET /contact`: how the attack was answered, how the healthy client fared,
//! and the host's resident memory (sampled every 10 ms) beside its configured
//! budget (the idle host plus `limits.adapter_memory_budget_mib`).

use crate::procs::{self, ADMIN_TOKEN, HostSpec, Served};
use anyhow::{Context, Result, bail};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};
use switchboard_e2e::components;
use switchboard_e2e::testcrm::DEMO_API_KEY;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// `limits.adapter_memory_budget_mib` of the attacked host.
pub const BUDGET_MIB: u64 = 512;
/// How long each attack runs.
const WINDOW: Duration = Duration::from_secs(3);
/// Half-sent request heads the slowloris attack holds open.
const SLOW_SOCKETS: usize = 2000;

/// Hostile fixtures (`target/adapter-fixtures`) and their settings.
const FIXTURES: &str = r#"
[adapters.memorycrm.settings]
mode = "memory"
[adapters.bigoutputcrm.settings]
mode = "big-output"
[adapters.bigoutputcrm.limits]
memory_mib = 128
[adapters.hugeurlcrm.settings]
mode = "huge-url"
[adapters.loopcrm.settings]
mode = "loop"
[adapters.loopcrm.limits]
cpu_ms = 200
"#;

pub struct Row {
    pub attack: String,
    /// What the hostile requests got: answers counted by error code or status.
    pub answers: BTreeMap<String, u64>,
    pub healthy_ok: u64,
    pub healthy_failed: u64,
    pub healthy_max_ms: f64,
    pub rss_before_mib: f64,
    pub rss_max_mib: f64,
    pub rss_after_mib: f64,
}

pub struct Attacks {
    pub rows: Vec<Row>,
    pub idle_mib: f64,
    pub metrics_bytes_before: usize,
    pub metrics_bytes_after: usize,
}

impl Attacks {
    pub fn budget_line_mib(&self) -> f64 {
        self.idle_mib + BUDGET_MIB as f64
    }
}

pub async fn measure(bins: &Path, work: &Path, bundled: &Path, crm: &Served) -> Result<Attacks> {
    let fixtures = bundled.parent().context("the adapters' parent")?.join("adapter-fixtures");
    let dir = work.join("attack-adapters");
    std::fs::create_dir_all(&dir)?;
    for (from, name) in [(bundled, "testcrm"), (&*fixtures, "memorycrm"), (&*fixtures, "bigoutputcrm")]
        .into_iter()
        .chain(["hugeurlcrm", "loopcrm"].map(|n| (&*fixtures, n)))
    {
        for ext in ["wasm", "toml"] {
            let file = from.join(format!("{name}.{ext}"));
            std::fs::copy(&file, dir.join(format!("{name}.{ext}")))
                .with_context(|| format!("{} (run `cargo xtask adapters`)", file.display()))?;
        }
    }
    let data = work.join("attack-data");
    std::fs::create_dir_all(&data)?;
    let db = format!("sqlite://{}?mode=rwc", data.join("switchboard.db").display());
    let limits = format!("adapter_memory_budget_mib = {BUDGET_MIB}\n");
    let spec = HostSpec {
        database_url: &db,
        data_dir: &data,
        adapters_dir: &dir,
        crm: &crm.hostport(),
        max_concurrent_calls: None,
        limits: &limits,
        tables: FIXTURES,
    };
    let host = procs::host(bins, &spec, &data)?;
    let base = format!("http://{}", host.addr);
    let client = reqwest::Client::new();
    let good = login(&client, &base, "testcrm", DEMO_API_KEY).await?;
    // Warm up: the healthy path once, then the idle figure.
    healthy_once(&client, &base, &good).await?;
    tokio::time::sleep(Duration::from_millis(200)).await;
    let idle_mib = host.rss_mib();
    let metrics_bytes_before = metrics_bytes(&client, &base).await?;

    let mut rows = Vec::new();
    for (platform, label, clients) in [
        ("memorycrm", "memory hog (64 MiB cap, grows until refused)", 32),
        ("bigoutputcrm", "50 MB output (128 MiB cap)", 8),
        ("hugeurlcrm", "2 MB host name in an outbound URL", 8),
        ("loopcrm", "CPU loop (200 ms CPU deadline)", 4),
    ] {
        let token = login(&client, &base, platform, "any-key").await?;
        let attack = adapter_calls(base.clone(), token, clients);
        rows.push(
            under_attack(&host, &client, &base, &good, format!("{label}, {clients} calls at once"), attack).await?,
        );
    }
    let addr = host.addr;
    rows.push(
        under_attack(&host, &client, &base, &good, "300 KB HTTP methods, 8 connections".into(), async move {
            huge_methods(addr).await
        })
        .await?,
    );
    rows.push(
        under_attack(&host, &client, &base, &good, format!("slowloris, {SLOW_SOCKETS} half-sent heads"), async move {
            slowloris(addr).await
        })
        .await?,
    );
    let wit = Path::new(env!("CARGO_MANIFEST_DIR")).join("../wit");
    for (name, wasm) in [
        ("manymemories", components::many_memories(&wit, 64, 1)?),
        ("twobigmemories", components::many_memories(&wit, 2, 600)?),
        ("hugefunction", components::huge_function(&wit, 1_000_000)?),
    ] {
        std::fs::write(dir.join(format!("{name}.wasm")), wasm)?;
        std::fs::write(dir.join(format!("{name}.toml")), components::manifest(name))?;
    }
    let (c, b) = (client.clone(), base.clone());
    rows.push(
        under_attack(&host, &client, &base, &good, "reload: 64 memories, 2 × 37.5 MiB, a 2.5 MB function".into(), {
            async move { reload(&c, &b).await }
        })
        .await?,
    );
    let metrics_bytes_after = metrics_bytes(&client, &base).await?;
    Ok(Attacks { rows, idle_mib, metrics_bytes_before, metrics_bytes_after })
}

/// Runs `attack` beside a healthy client and a memory sampler.
async fn under_attack(
    host: &Served,
    client: &reqwest::Client,
    base: &str,
    good: &str,
    attack_label: String,
    attack: impl std::future::Future<Output = Result<BTreeMap<String, u64>>>,
) -> Result<Row> {
    eprintln!("  attack: {attack_label}");
    let rss_before_mib = host.rss_mib();
    let done = Arc::new(AtomicBool::new(false));
    let sampler = {
        let (done, pid) = (done.clone(), host.pid);
        async move {
            let mut most: f64 = 0.0;
            while !done.load(Ordering::Relaxed) {
                most = most.max(procs::status_mib(pid, "VmRSS"));
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            most
        }
    };
    let healthy = {
        let done = done.clone();
        async move {
            let (mut ok, mut failed, mut slowest) = (0u64, 0u64, Duration::ZERO);
            while !done.load(Ordering::Relaxed) {
                let started = Instant::now();
                match healthy_once(client, base, good).await {
                    Ok(()) => ok += 1,
                    Err(_) => failed += 1,
                }
                slowest = slowest.max(started.elapsed());
            }
            (ok, failed, slowest)
        }
    };
    let attack = async {
        let answers = attack.await;
        done.store(true, Ordering::Relaxed);
        answers
    };
    let (answers, rss_max_mib, (healthy_ok, healthy_failed, slowest)) = tokio::join!(attack, sampler, healthy);
    tokio::time::sleep(Duration::from_millis(300)).await;
    Ok(Row {
        attack: attack_label,
        answers: answers?,
        healthy_ok,
        healthy_failed,
        healthy_max_ms: slowest.as_secs_f64() * 1000.0,
        rss_before_mib,
        rss_max_mib,
        rss_after_mib: host.rss_mib(),
    })
}

async fn login(client: &reqwest::Client, base: &str, platform: &str, key: &str) -> Result<String> {
    let r: Value = client
        .post(format!("{base}/apiKeyLogin"))
        .json(&json!({"platform": platform, "apiKey": key}))
        .send()
        .await?
        .json()
        .await?;
    r["jwtToken"].as_str().map(str::to_owned).with_context(|| format!("login to {platform} failed: {r}"))
}

async fn healthy_once(client: &reqwest::Client, base: &str, token: &str) -> Result<()> {
    let url = format!("{base}/contact?phoneNumber={}", crate::workload::PHONE_QUERY);
    let r: Value = client.get(url).bearer_auth(token).timeout(Duration::from_secs(30)).send().await?.json().await?;
    if r["successful"] != true {
        bail!("the healthy adapter failed: {r}");
    }
    Ok(())
}

async fn metrics_bytes(client: &reqwest::Client, base: &str) -> Result<usize> {
    Ok(client.get(format!("{base}/metrics")).bearer_auth(ADMIN_TOKEN).send().await?.bytes().await?.len())
}

/// `clients` loops of `GET /contact` on a hostile adapter for the window.
async fn adapter_calls(base: String, token: String, clients: usize) -> Result<BTreeMap<String, u64>> {
    let client = reqwest::Client::new();
    let until = Instant::now() + WINDOW;
    let one = |client: reqwest::Client| {
        let (base, token) = (base.clone(), token.clone());
        async move {
            let mut answers = BTreeMap::new();
            while Instant::now() < until {
                let url = format!("{base}/contact?phoneNumber=%2B15550001");
                let answer = match client.get(url).bearer_auth(&token).send().await {
                    Ok(r) => {
                        let status = r.status().as_u16();
                        let body: Value = r.json().await.unwrap_or(Value::Null);
                        body["errorCode"].as_str().map_or_else(|| status.to_string(), str::to_owned)
                    }
                    Err(e) => format!("no answer ({})", if e.is_timeout() { "timeout" } else { "error" }),
                };
                *answers.entry(answer).or_insert(0u64) += 1;
            }
            answers
        }
    };
    let all = futures::future::join_all((0..clients).map(|_| one(client.clone()))).await;
    Ok(merge(all))
}

/// 300 requests whose method is 300 KB long, 8 connections at a time.
async fn huge_methods(addr: std::net::SocketAddr) -> Result<BTreeMap<String, u64>> {
    let method = "M".repeat(300 * 1024);
    let one = |n: usize| {
        let method = method.clone();
        async move {
            let mut answers = BTreeMap::new();
            for _ in 0..n {
                let head = format!("{method} /isAlive HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n");
                let answer = match raw_request(addr, head.as_bytes()).await {
                    Ok(status) => status,
                    Err(_) => "connection closed".to_owned(),
                };
                *answers.entry(answer).or_insert(0u64) += 1;
            }
            answers
        }
    };
    Ok(merge(futures::future::join_all((0..8).map(|_| one(300 / 8))).await))
}

/// Sends `bytes`, returns the status line's code.
async fn raw_request(addr: std::net::SocketAddr, bytes: &[u8]) -> Result<String> {
    let mut s = tokio::net::TcpStream::connect(addr).await?;
    // The server may answer and close before reading it all.
    let _ = s.write_all(bytes).await;
    let mut buf = Vec::new();
    tokio::time::timeout(Duration::from_secs(20), s.read_to_end(&mut buf)).await??;
    let text = String::from_utf8_lossy(&buf);
    let status = text.split_whitespace().nth(1).context("no status line")?;
    Ok(format!("HTTP {status}"))
}

/// Holds `SLOW_SOCKETS` connections with half a request head for the window.
async fn slowloris(addr: std::net::SocketAddr) -> Result<BTreeMap<String, u64>> {
    let mut held = Vec::new();
    let mut answers = BTreeMap::new();
    for _ in 0..SLOW_SOCKETS {
        match tokio::net::TcpStream::connect(addr).await {
            Ok(mut s) => {
                let _ = s.write_all(b"GET /isAlive HTTP/1.1\r\nhost: x\r\nx-slow: ").await;
                held.push(s);
            }
            Err(_) => *answers.entry("connect refused".to_owned()).or_insert(0) += 1,
        }
    }
    *answers.entry("held".to_owned()).or_insert(0) += held.len() as u64;
    tokio::time::sleep(WINDOW).await;
    Ok(answers)
}

/// `POST /admin/reload`, its failed files counted.
async fn reload(client: &reqwest::Client, base: &str) -> Result<BTreeMap<String, u64>> {
    let r: Value = client.post(format!("{base}/admin/reload")).bearer_auth(ADMIN_TOKEN).send().await?.json().await?;
    let mut answers = BTreeMap::new();
    for f in r["failed"].as_array().into_iter().flatten() {
        answers.insert(format!("{} refused", f.as_str().unwrap_or("?")), 1);
    }
    for f in r["loaded"].as_array().into_iter().flatten() {
        answers.insert(format!("{} loaded", f.as_str().unwrap_or("?")), 1);
    }
    // The reload itself is quick; keep the healthy client and sampler going a moment.
    tokio::time::sleep(Duration::from_millis(500)).await;
    Ok(answers)
}

fn merge(all: Vec<BTreeMap<String, u64>>) -> BTreeMap<String, u64> {
    let mut answers = BTreeMap::new();
    for m in all {
        for (k, v) in m {
            *answers.entry(k).or_insert(0) += v;
        }
    }
    answers
}
