//! Schemathesis (from PyPI; `.ci/run` installs it) fuzzes the App Connect
//! contract (`tests/contract/app-connect-openapi.json`) against a running
//! host with a logged-in token, and the integrations API against the
//! document the host generates (`/api/v1/openapi.json`) with a workspace API
//! key: thousands of generated requests, and none may get a server error, a
//! dropped connection, an undocumented status or content type, or an answer
//! that breaks the schemas.
//! `POST /unAuthorize` is left out: it would end the session every other
//! case runs in (its answers are checked in `contract.rs`).
//!
//! Skips when schemathesis is not installed, except under `CI=true`, where it fails.

#![allow(clippy::unwrap_used)] // a test crate: an unwrap that fails is a failed test

mod common;

use common::Harness;

/// `python3 -m schemathesis.cli`, if schemathesis is installed.
fn schemathesis() -> Option<std::process::Command> {
    let command = || {
        let mut c = std::process::Command::new("python3");
        c.args(["-m", "schemathesis.cli"]);
        c
    };
    if command().arg("--version").output().is_ok_and(|o| o.status.success()) {
        return Some(command());
    }
    let in_ci = std::env::var("CI").as_deref() == Ok("true");
    assert!(!in_ci, "schemathesis must be installed in CI: python3 -m pip install schemathesis");
    eprintln!("skipped: schemathesis is not installed (python3 -m pip install schemathesis)");
    None
}

/// One schemathesis run: (succeeded, its report).
fn run(st: std::process::Command, contract: &std::path::Path, base: &str, token: &str) -> (bool, String) {
    run_on(st, contract.to_str().unwrap(), base, token, &["--exclude-path", "/unAuthorize"])
}

/// A schemathesis run of the document at `schema` (a file or a URL).
fn run_on(mut st: std::process::Command, schema: &str, base: &str, token: &str, extra: &[&str]) -> (bool, String) {
    let output = st
        .arg("run")
        .arg(schema)
        .args(["--url", base])
        .args(["-H", &format!("Authorization: Bearer {token}")])
        .args(extra)
        .args([
            "--checks",
            "not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance,response_headers_conformance",
        ])
        // One worker: hypothesis's caches are not thread-safe (with two, a
        // generation step once failed inside schemathesis itself).
        .args(["--max-examples", "40", "--seed", "1", "-w", "1", "--no-color"])
        .output()
        .unwrap();
    let report = format!("{}\n{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
    (output.status.success(), report)
}

/// A failed run that found nothing wrong with the server: only schemathesis'
/// own runtime errors (its generator failing), no failed check.
fn only_tool_errors(report: &str) -> bool {
    !report.contains("Failures:") && report.contains("Runtime Error") && !report.contains("Network Error")
}

/// Runs `once` off the runtime's threads; again when schemathesis' own
/// generator failed (no finding about the server).
async fn again_if_only_tool_errors(once: impl Fn() -> (bool, String) + Send + 'static) -> (bool, String) {
    tokio::task::spawn_blocking(move || {
        let first = once();
        if !first.0 && only_tool_errors(&first.1) { once() } else { first }
    })
    .await
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn generated_requests_never_break_the_app_connect_contract() {
    if schemathesis().is_none() {
        return;
    }
    let h = Harness::start().await;
    let token = h.login().await;
    let contract = common::workspace().join("tests/contract/app-connect-openapi.json");
    let base = h.base.clone();
    let (ok, report) = again_if_only_tool_errors(move || run(schemathesis().unwrap(), &contract, &base, &token)).await;
    assert!(ok, "schemathesis found failures:\n{report}");
    assert!(report.contains("passed"), "{report}");
    eprintln!("{report}");
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn generated_requests_never_break_the_integrations_api_s_own_openapi_document() {
    if schemathesis().is_none() {
        return;
    }
    let h = Harness::start_with(
        switchboard::store::test_support::sqlite_url(),
        &["testcrm", "testcrm-oauth"],
        &[],
        common::testcrm_oauth,
    )
    .await;
    let r = h
        .client
        .post(format!("{}/admin/workspaces", h.base))
        .bearer_auth(common::ADMIN_TOKEN)
        .json(&serde_json::json!({"name": "Acme", "allowedOrigins": ["https://app.example.test"]}))
        .send()
        .await
        .unwrap();
    let key = r.json::<serde_json::Value>().await.unwrap()["apiKey"]["key"].as_str().unwrap().to_owned();
    // One integration, so that some generated requests find what they ask for.
    let r = h
        .client
        .post(format!("{}/api/v1/integrations", h.base))
        .bearer_auth(&key)
        .json(&serde_json::json!({"connector": "testcrm", "customerId": "cust42", "apiKey": "demo-api-key"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let schema = format!("{}/api/v1/openapi.json", h.base);
    let base = h.base.clone();
    let (ok, report) =
        again_if_only_tool_errors(move || run_on(schemathesis().unwrap(), &schema, &base, &key, &[])).await;
    assert!(ok, "schemathesis found failures:\n{report}");
    assert!(report.contains("passed"), "{report}");
    eprintln!("{report}");
    h.stop().await;
}
