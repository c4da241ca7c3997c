//! Log lines carry the request id and, for adapter output, the adapter and
//! operation; no log line carries an API key or a jwtToken. (One test in this
//! binary: it installs the process-wide log subscriber.)

#![allow(clippy::unwrap_used)] // a test crate: an unwrap that fails is a failed test

mod common;

use common::Harness;
use std::io::Write;
use std::sync::{Arc, Mutex};
use switchboard::store::test_support;
use switchboard_e2e::testcrm::DEMO_API_KEY;

#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test]
async fn logs_are_tagged_and_never_hold_secrets() {
    let captured = Captured::default();
    let writer = captured.clone();
    tracing_subscriber::fmt().json().with_env_filter("debug").with_writer(move || writer.clone()).init();

    let h = Harness::start_with(test_support::sqlite_url(), &["testcrm"], &["trapcrm"], |_| {}).await;
    let token = h.login().await;
    let r = h.get(&format!("/contact?phoneNumber=%2B16505551212&jwtToken={token}"), None).await;
    assert_eq!(r.json()["successful"], true);
    h.post("/callLog", Some(&token), &common::call_log_body("s-log", "c-1001")).await;
    let trap = h.login_as("trapcrm", "trap-secret-key").await;
    let trapped = h.get("/contact?phoneNumber=%2B15550001", Some(&trap)).await;
    let trap_request_id = trapped.header("x-request-id").unwrap();
    h.stop().await;

    let text = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
    let lines: Vec<serde_json::Value> = text.lines().filter_map(|l| serde_json::from_str(l).ok()).collect();
    assert!(lines.len() > 10, "captured {} lines", lines.len());
    for secret in [DEMO_API_KEY, "trap-secret-key", token.as_str(), trap.as_str(), "jwtToken="] {
        assert!(!text.contains(secret), "a log line holds {secret:?}");
    }
    // The adapter's own panic message reached the log, tagged.
    let panic_line = lines
        .iter()
        .find(|l| l["fields"]["message"].as_str().is_some_and(|m| m.contains("adapter panicked")))
        .expect("the adapter's panic message is logged");
    assert_eq!(panic_line["fields"]["adapter"], "trapcrm");
    assert_eq!(panic_line["fields"]["operation"], "find-contact");
    assert_eq!(panic_line["fields"]["request_id"], trap_request_id.as_str());
    // Every served request is logged with its request id in the span.
    let served: Vec<_> = lines.iter().filter(|l| l["fields"]["message"] == "served").collect();
    assert!(served.iter().all(|l| l["span"]["request_id"].is_string()), "{served:?}");
}
