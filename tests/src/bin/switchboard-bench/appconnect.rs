//! Section 7, App Connect beside Switchboard in the same run: when
//! `SWITCHBOARD_BENCH_APPCONNECT_URL` names a running App Connect server
//! (`http://127.0.0.1:6066`), the overhead workload is sent to it too — its
//! login (`POST /apiKeyLogin`, the body in `SWITCHBOARD_BENCH_APPCONNECT_LOGIN`,
//! by default its bundled test CRM's), then `GET /contact` and `POST /callLog`
//! with the jwtToken in the query (App Connect reads it only there) — and its
//! process's CPU time is read like the host's. Its process is found by the
//! port it listens on (or `SWITCHBOARD_BENCH_APPCONNECT_PID`).

use crate::loadgen::MakeRequest;
use crate::overhead::{self, Figures};
use crate::workload::{CONTACT_ID, PHONE, PHONE_QUERY};
use anyhow::{Context, Result};
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

/// App Connect's bundled test CRM (`testCRM`): any API key is accepted.
const DEFAULT_LOGIN: &str = r#"{"platform":"testCRM","apiKey":"switchboard-bench"}"#;

/// What was measured against App Connect, or why not.
pub struct AppConnectRun {
    pub url: String,
    pub pid: u32,
    pub get: Figures,
    pub post: Figures,
}

/// `None` when no App Connect server was named.
pub async fn measure(runs: usize) -> Option<Result<AppConnectRun, String>> {
    let url = std::env::var("SWITCHBOARD_BENCH_APPCONNECT_URL").ok().filter(|u| !u.is_empty())?;
    Some(run(&url, runs).await.map_err(|e| format!("{e:#}")))
}

async fn run(url: &str, runs: usize) -> Result<AppConnectRun> {
    let base = url.trim_end_matches('/');
    let hostport = base.strip_prefix("http://").context("SWITCHBOARD_BENCH_APPCONNECT_URL must be http://host:port")?;
    let addr: SocketAddr = tokio::net::lookup_host(hostport)
        .await
        .with_context(|| format!("cannot resolve {hostport}"))?
        .next()
        .context("no address")?;
    let login = std::env::var("SWITCHBOARD_BENCH_APPCONNECT_LOGIN").unwrap_or_else(|_| DEFAULT_LOGIN.to_owned());
    let client = reqwest::Client::new();
    let answer: serde_json::Value = client
        .post(format!("{base}/apiKeyLogin"))
        .header("content-type", "application/json")
        .body(login)
        .send()
        .await
        .context("App Connect's /apiKeyLogin")?
        .json()
        .await?;
    let jwt = answer["jwtToken"].as_str().with_context(|| format!("no jwtToken in {answer}"))?.to_owned();
    // The contact the lookups find (App Connect's test CRM keeps it in memory).
    let created: serde_json::Value = client
        .post(format!("{base}/contact?jwtToken={jwt}"))
        .json(&serde_json::json!({"phoneNumber": PHONE, "newContactName": "Luke Skywalker", "newContactType": ""}))
        .send()
        .await?
        .json()
        .await
        .unwrap_or_default();
    if created["successful"] != true {
        eprintln!("  App Connect did not create the bench contact ({created}); the lookups may find none");
    }
    let pid = match std::env::var("SWITCHBOARD_BENCH_APPCONNECT_PID").ok().and_then(|p| p.parse().ok()) {
        Some(pid) => pid,
        None => listening_pid(addr.port()).with_context(|| {
            format!("no process here listens on port {}: set SWITCHBOARD_BENCH_APPCONNECT_PID", addr.port())
        })?,
    };
    let path = overhead::Path { addr, host_pid: Some(pid), crm_pid: None };
    let get = overhead::measure(path, find_contact(hostport, &jwt), crate::workload::host_ok, runs).await?;
    let post = overhead::measure(path, call_log(hostport, &jwt), crate::workload::host_ok, runs).await?;
    Ok(AppConnectRun { url: url.to_owned(), pid, get, post })
}

fn find_contact(host: &str, jwt: &str) -> MakeRequest {
    let bytes =
        format!("GET /contact?jwtToken={jwt}&phoneNumber={PHONE_QUERY} HTTP/1.1\r\nhost: {host}\r\n\r\n").into_bytes();
    Arc::new(move |_| bytes.clone())
}

/// Switchboard's call-log body plus `logInfo.id`, which App Connect requires.
fn call_log(host: &str, jwt: &str) -> MakeRequest {
    let head = format!("POST /callLog?jwtToken={jwt} HTTP/1.1\r\nhost: {host}\r\ncontent-type: application/json\r\n");
    let run = format!("ac-{}", std::process::id());
    let counter = AtomicU64::new(0);
    Arc::new(move |_| {
        let n = counter.fetch_add(1, Ordering::Relaxed);
        let body = format!(
            r#"{{"logInfo":{{"id":"{run}-{n}","sessionId":"{run}-{n}","direction":"Inbound","startTime":1716800000000,"duration":42,"result":"Call connected","from":{{"phoneNumber":"{PHONE}"}},"to":{{"phoneNumber":"+14155550100"}}}},"contactId":"{CONTACT_ID}","contactName":"Luke Skywalker","note":"Asked about the plans"}}"#
        );
        format!("{head}content-length: {}\r\n\r\n{body}", body.len()).into_bytes()
    })
}

/// The process with a socket listening on TCP `port` (IPv4 or IPv6), from /proc.
fn listening_pid(port: u16) -> Option<u32> {
    // `/proc/net/tcp*`: local address `ADDR:PORT` in hex, state 0A = LISTEN, inode in column 10.
    let mut inodes = Vec::new();
    for table in ["/proc/net/tcp", "/proc/net/tcp6"] {
        for line in std::fs::read_to_string(table).unwrap_or_default().lines().skip(1) {
            let f: Vec<&str> = line.split_whitespace().collect();
            let listening = f.get(3) == Some(&"0A");
            let on_port = f.get(1).and_then(|a| a.rsplit_once(':')).and_then(|(_, p)| u16::from_str_radix(p, 16).ok());
            if listening
                && on_port == Some(port)
                && let Some(inode) = f.get(9)
            {
                inodes.push(format!("socket:[{inode}]"));
            }
        }
    }
    for entry in std::fs::read_dir("/proc").ok()?.filter_map(|e| e.ok()) {
        let Some(pid) = entry.file_name().to_str().and_then(|n| n.parse::<u32>().ok()) else { continue };
        let Ok(fds) = std::fs::read_dir(format!("/proc/{pid}/fd")) else { continue };
        for fd in fds.filter_map(|e| e.ok()) {
            if let Ok(target) = std::fs::read_link(fd.path())
                && inodes.iter().any(|i| target.as_os_str() == i.as_str())
            {
                return Some(pid);
            }
        }
    }
    None
}
