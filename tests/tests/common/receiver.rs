//! The webhook receiver of `tests/webhooks/receiver.py`: a Python process
//! that verifies each delivery with the `standardwebhooks` package (PyPI),
//! records it and answers as scripted.

use serde_json::{Value, json};
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Whether `standardwebhooks` is installed; skips where it is not, except under `CI=true`.
pub fn available() -> bool {
    let found = Command::new("python3").args(["-c", "import standardwebhooks"]).status().is_ok_and(|s| s.success());
    if !found {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "standardwebhooks must be installed in CI (.ci/run does)"
        );
        eprintln!("skipped: standardwebhooks is not installed (python3 -m pip install standardwebhooks==1.1.0)");
    }
    found
}

pub struct Receiver {
    pub base: String,
    child: Child,
    client: reqwest::Client,
}

impl Receiver {
    pub fn start() -> Receiver {
        let script = super::workspace().join("tests/webhooks/receiver.py");
        let mut child =
            Command::new("python3").arg(script).stdout(Stdio::piped()).stderr(Stdio::inherit()).spawn().unwrap();
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
        let port = line.trim().strip_prefix("listening on ").unwrap_or_else(|| panic!("receiver said {line:?}"));
        Receiver { base: format!("http://127.0.0.1:{port}"), child, client: reqwest::Client::new() }
    }

    /// The URL of one of its paths.
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    async fn control(&self, command: Value) {
        let r = self.client.post(self.url("/control")).json(&command).send().await.unwrap();
        assert_eq!(r.status(), 200);
    }

    /// The secrets whose signatures it accepts.
    pub async fn accept(&self, secrets: &[&str]) {
        self.control(json!({"secrets": secrets})).await;
    }

    /// The next answers on `path` (each `{status, retryAfter?, delayMs?}`), then 204s.
    pub async fn script(&self, path: &str, answers: Value) {
        self.control(json!({"path": path, "script": answers})).await;
    }

    /// While down it closes every delivery's connection without answering.
    pub async fn set_down(&self, down: bool) {
        self.control(json!({"down": down})).await;
    }

    /// From now on every delivery signed before `unix_secs` is answered 503,
    /// whatever the script says (a killed host's last requests, read by the
    /// receiver after the kill, are not accepted behind its back).
    pub async fn unavailable_before(&self, unix_secs: u64) {
        self.control(json!({"unavailableBefore": unix_secs})).await;
    }

    /// Every verified delivery, in arrival order.
    pub async fn deliveries(&self) -> Vec<Value> {
        let v: Value = self.client.get(self.url("/received")).send().await.unwrap().json().await.unwrap();
        v["deliveries"].as_array().unwrap().clone()
    }

    /// Deliveries whose signature no accepted secret verified.
    pub async fn invalid(&self) -> Vec<Value> {
        let v: Value = self.client.get(self.url("/received")).send().await.unwrap().json().await.unwrap();
        v["invalid"].as_array().unwrap().clone()
    }

    /// The verified deliveries on `path` it answered with 2xx.
    pub async fn accepted(&self, path: &str) -> Vec<Value> {
        self.deliveries()
            .await
            .into_iter()
            .filter(|d| d["path"] == path && d["status"].as_u64().is_some_and(|s| (200..300).contains(&s)))
            .collect()
    }

    /// Waits (up to `limit`) until `path` accepted at least `n` deliveries.
    pub async fn wait_for(&self, path: &str, n: usize, limit: Duration) -> Vec<Value> {
        let deadline = Instant::now() + limit;
        loop {
            let got = self.accepted(path).await;
            if got.len() >= n {
                return got;
            }
            assert!(Instant::now() < deadline, "{path}: {} of {n} deliveries after {limit:?}: {got:#?}", got.len());
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The event types of deliveries, sorted.
pub fn types(deliveries: &[Value]) -> Vec<String> {
    let mut t: Vec<String> = deliveries.iter().map(|d| d["body"]["type"].as_str().unwrap().to_owned()).collect();
    t.sort();
    t
}

/// Asserts no `webhook-id` was accepted twice.
pub fn assert_once_each(deliveries: &[Value]) {
    let mut ids: Vec<&str> = deliveries.iter().map(|d| d["webhookId"].as_str().unwrap()).collect();
    let total = ids.len();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), total, "a webhook-id was delivered twice");
}
