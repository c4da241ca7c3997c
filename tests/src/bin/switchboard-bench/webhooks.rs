//! Webhook delivery (issue 15): the latency from the request that causes an
//! event to the receiver's first attempt, and the throughput of a backlog.
//!
//! A receiver in this process (axum) answers 204 and notes when each
//! `webhook-id` arrived. Latency: test events (`POST /api/v1/webhooks/{id}/test`)
//! one at a time, from sending the request to the delivery's arrival.
//! Throughput: a backlog of deliveries over 8 endpoints is built by having
//! the receiver answer `503 Retry-After: 3600` to every first attempt; the
//! bench then makes them all due at once in the database, and times the host
//! draining them (first 2xx to last), with its CPU per delivery.

use crate::procs::{self, ADMIN_TOKEN, HostSpec, Served};
use crate::stats::Stat;
use anyhow::{Context, Result, ensure};
use serde_json::{Value, json};
use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

pub const LATENCY_EVENTS: usize = 200;
pub const BACKLOG: usize = 2000;
pub const ENDPOINTS: usize = 8;

#[derive(Debug, Clone)]
pub struct WebhookFigures {
    /// Request sent → delivery arrived, ms.
    pub first_attempt_p50_ms: Stat,
    pub first_attempt_p99_ms: Stat,
    /// Backlog drained, deliveries per second.
    pub drain_per_s: Stat,
    pub host_cpu_us_per_delivery: Stat,
    /// Deliveries answered 2xx twice for one webhook-id (must be 0).
    pub duplicates: usize,
}

#[derive(Default)]
struct Seen {
    /// webhook-id → arrival of the 2xx-answered delivery.
    delivered: HashMap<String, Instant>,
    duplicates: usize,
    refused: usize,
    /// Answer 503 (building the backlog) instead of 204.
    refuse: bool,
}

async fn receiver() -> Result<(String, Arc<Mutex<Seen>>)> {
    use axum::http::{HeaderMap, StatusCode};
    use axum::response::IntoResponse;
    let seen = Arc::new(Mutex::new(Seen::default()));
    let state = seen.clone();
    let app = axum::Router::new().route(
        "/{endpoint}",
        axum::routing::post(move |headers: HeaderMap| {
            let seen = state.clone();
            async move {
                let id = headers.get("webhook-id").and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned();
                let mut s = seen.lock().expect("not poisoned");
                if s.refuse {
                    s.refused += 1;
                    return (StatusCode::SERVICE_UNAVAILABLE, [("retry-after", "3600")]).into_response();
                }
                if s.delivered.insert(id, Instant::now()).is_some() {
                    s.duplicates += 1;
                }
                StatusCode::NO_CONTENT.into_response()
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let base = format!("http://{}", listener.local_addr()?);
    tokio::spawn(async move { axum::serve(listener, app).await });
    Ok((base, seen))
}

async fn json_ok(r: reqwest::RequestBuilder) -> Result<Value> {
    let r = r.send().await?;
    let status = r.status();
    let body: Value = r.json().await.unwrap_or(Value::Null);
    ensure!(status.is_success(), "{status}: {body}");
    Ok(body)
}

/// One run against a fresh host on `database_url`.
async fn once(bins: &Path, work: &Path, adapters: &Path, database_url: &str, crm: &Served) -> Result<Run> {
    let dir = tempfile::tempdir_in(work)?;
    let spec = HostSpec {
        database_url,
        data_dir: dir.path(),
        adapters_dir: adapters,
        crm: &crm.hostport(),
        max_concurrent_calls: None,
        limits: "",
        tables: "\n[webhooks]\nallow_loopback = true\n",
    };
    let host = procs::host(bins, &spec, dir.path())?;
    let base = format!("http://{}", host.addr);
    let client = reqwest::Client::new();
    let (rx, seen) = receiver().await?;
    let ws = json_ok(
        client.post(format!("{base}/admin/workspaces")).bearer_auth(ADMIN_TOKEN).json(&json!({"name": "bench"})),
    )
    .await?;
    let key = ws["apiKey"]["key"].as_str().context("an API key")?.to_owned();
    let mut endpoints = Vec::new();
    for n in 0..ENDPOINTS {
        let e = json_ok(
            client
                .post(format!("{base}/api/v1/webhooks"))
                .bearer_auth(&key)
                .json(&json!({"url": format!("{rx}/e{n}")})),
        )
        .await?;
        endpoints.push(e["id"].as_str().context("an endpoint id")?.to_owned());
    }
    let test = |endpoint: &str| client.post(format!("{base}/api/v1/webhooks/{endpoint}/test")).bearer_auth(&key);

    // Latency: one event at a time.
    let mut latencies = Vec::with_capacity(LATENCY_EVENTS);
    for _ in 0..LATENCY_EVENTS {
        let sent = Instant::now();
        let id = json_ok(test(&endpoints[0])).await?["eventId"].as_str().context("an event id")?.to_owned();
        let deadline = sent + Duration::from_secs(10);
        let arrived = loop {
            if let Some(at) = seen.lock().expect("not poisoned").delivered.get(&id) {
                break *at;
            }
            ensure!(Instant::now() < deadline, "event {id} was not delivered within 10 s");
            tokio::time::sleep(Duration::from_micros(200)).await;
        };
        latencies.push(arrived.duration_since(sent).as_secs_f64() * 1000.0);
    }

    // Throughput: a backlog, made due at once, drained.
    seen.lock().expect("not poisoned").refuse = true;
    let before = seen.lock().expect("not poisoned").delivered.len();
    let mut ids = Vec::with_capacity(BACKLOG);
    for chunk in 0..BACKLOG / 50 {
        let batch = (0..50).map(|i| test(&endpoints[(chunk * 50 + i) % ENDPOINTS]));
        for r in futures::future::join_all(batch.map(json_ok)).await {
            ids.push(r?["eventId"].as_str().context("an event id")?.to_owned());
        }
    }
    let deadline = Instant::now() + Duration::from_secs(120);
    while seen.lock().expect("not poisoned").refused < BACKLOG {
        ensure!(Instant::now() < deadline, "the backlog's first attempts did not all come");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    seen.lock().expect("not poisoned").refuse = false;
    sqlx::any::install_default_drivers();
    let db = sqlx::AnyPool::connect(database_url).await?;
    // The receiver counts a refusal before the host records it: made due
    // before it is recorded, a delivery would take the refusal's
    // `Retry-After` (an hour) instead.
    loop {
        let recorded: i64 = sqlx::query_scalar(
            "SELECT CAST(COUNT(*) AS BIGINT) FROM webhook_deliveries
             WHERE state = 'pending' AND attempts >= 1 AND lease_token IS NULL",
        )
        .fetch_one(&db)
        .await?;
        if recorded >= BACKLOG as i64 {
            break;
        }
        ensure!(Instant::now() < deadline, "the backlog's first attempts were not all recorded");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let cpu_before = procs::cpu_seconds(host.pid);
    let due = Instant::now();
    sqlx::query("UPDATE webhook_deliveries SET next_attempt_at = 0 WHERE state = 'pending'").execute(&db).await?;
    db.close().await;
    let deadline = Instant::now() + Duration::from_secs(300);
    while seen.lock().expect("not poisoned").delivered.len() < before + BACKLOG {
        ensure!(Instant::now() < deadline, "the backlog was not drained within 300 s");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let cpu = procs::cpu_seconds(host.pid) - cpu_before;
    let s = seen.lock().expect("not poisoned");
    let times: Vec<Instant> = ids.iter().filter_map(|id| s.delivered.get(id).copied()).collect();
    let first = times.iter().min().copied().unwrap_or(due);
    let last = times.iter().max().copied().unwrap_or(due);
    let drain = last.duration_since(first).as_secs_f64().max(1e-6);
    latencies.sort_by(f64::total_cmp);
    Ok(Run {
        p50: latencies[latencies.len() / 2],
        p99: latencies[latencies.len() * 99 / 100],
        drain_per_s: BACKLOG as f64 / drain,
        cpu_us: cpu / BACKLOG as f64 * 1e6,
        duplicates: s.duplicates,
    })
}

struct Run {
    p50: f64,
    p99: f64,
    drain_per_s: f64,
    cpu_us: f64,
    duplicates: usize,
}

pub async fn measure(
    bins: &Path,
    work: &Path,
    adapters: &Path,
    database_url: &str,
    crm: &Served,
    runs: usize,
) -> Result<WebhookFigures> {
    let mut all = Vec::with_capacity(runs);
    for _ in 0..runs {
        all.push(once(bins, work, adapters, database_url, crm).await?);
    }
    let stat = |f: fn(&Run) -> f64| {
        let mut s = Stat::default();
        all.iter().for_each(|r| s.push(f(r)));
        s
    };
    Ok(WebhookFigures {
        first_attempt_p50_ms: stat(|r| r.p50),
        first_attempt_p99_ms: stat(|r| r.p99),
        drain_per_s: stat(|r| r.drain_per_s),
        host_cpu_us_per_delivery: stat(|r| r.cpu_us),
        duplicates: all.iter().map(|r| r.duplicates).sum(),
    })
}

/// Prints section 6 for each store measured.
pub fn print(figures: &[(&'static str, Result<WebhookFigures, String>)]) {
    println!(
        "\n6. WEBHOOKS — test events to a receiver in the bench process (204 at once); {LATENCY_EVENTS} one at a time, \
         then a backlog of {BACKLOG} over {ENDPOINTS} endpoints made due at once"
    );
    for (label, f) in figures {
        match f {
            Err(why) => println!("  {label}: {why}"),
            Ok(f) => {
                println!("  {label}:");
                println!("    request → first attempt arrives, p50 ms        {}", f.first_attempt_p50_ms.cell(2));
                println!("    request → first attempt arrives, p99 ms        {}", f.first_attempt_p99_ms.cell(2));
                println!("    backlog drained, deliveries/s                  {}", f.drain_per_s.cell(0));
                println!("    host CPU µs per delivery (draining)            {}", f.host_cpu_us_per_delivery.cell(0));
                println!("    delivered twice (same webhook-id, 2xx)         {}", f.duplicates);
            }
        }
    }
}
