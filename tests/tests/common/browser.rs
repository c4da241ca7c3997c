//! Browser tests' plumbing: whether Debian chromium and playwright-core are
//! here, a page served on its own loopback origin, and a run of one of the
//! scripts in `tests/browser` (it prints one JSON line of what it saw).

use super::Harness;
use serde_json::Value;
use std::path::PathBuf;
use switchboard::store::test_support;

pub fn browser_dir() -> PathBuf {
    super::workspace().join("tests/browser")
}

/// Where the scripts save screenshots (build output, never committed).
pub fn screenshots_dir() -> PathBuf {
    let dir = super::workspace().join("target/screenshots");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Whether chromium and playwright-core are here; skips where they are not, except under `CI=true`.
pub fn browser_ready() -> bool {
    let ready = std::path::Path::new("/usr/bin/chromium").exists()
        && browser_dir().join("node_modules/playwright-core").exists();
    if !ready {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "CI installs chromium and tests/browser's packages (.ci/run)"
        );
        eprintln!("skipped: needs /usr/bin/chromium and `npm ci --prefix tests/browser`");
    }
    ready
}

/// A host (SQLite) serving the Test CRM by API key and by OAuth, on a port
/// known before it starts: its address is its OAuth redirect URI. Answers
/// the harness and that address.
pub async fn host_with_oauth() -> (Harness, String) {
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let host = format!("http://127.0.0.1:{port}");
    let h = Harness::start_with(test_support::sqlite_url(), &["testcrm", "testcrm-oauth"], &[], |c| {
        c.bind = format!("127.0.0.1:{port}").parse().unwrap();
        c.oauth.redirect_uri = format!("{host}/oauth-callback");
        super::testcrm_oauth(c);
    })
    .await;
    assert_eq!(h.base, host);
    (h, host)
}

/// A workspace "Acme" whose pages run on `origin`, made with the admin API:
/// its JSON (id, API key, signing key).
pub async fn workspace_on(h: &Harness, origin: &str) -> Value {
    let r = h
        .client
        .post(format!("{}/admin/workspaces", h.base))
        .bearer_auth(super::ADMIN_TOKEN)
        .json(&serde_json::json!({"name": "Acme", "allowedOrigins": [origin]}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    r.json().await.unwrap()
}

/// What the backend sees of a customer: the integrations listing, and its
/// `(connector, status)` pairs sorted.
pub async fn integrations_of(h: &Harness, api_key: &str, customer: &str) -> (Value, Vec<(String, String)>) {
    let url = format!("{}/api/v1/integrations?customerId={customer}", h.base);
    let listed: Value = h.client.get(url).bearer_auth(api_key).send().await.unwrap().json().await.unwrap();
    let mut found: Vec<(String, String)> = listed["integrations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| (i["connector"].as_str().unwrap().to_owned(), i["status"].as_str().unwrap().to_owned()))
        .collect();
    found.sort();
    (listed, found)
}

/// Serves `html` at `/` on a loopback port; answers its origin.
pub async fn serve_page(html: String) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let app = axum::Router::new().route("/", axum::routing::get(move || async move { axum::response::Html(html) }));
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    format!("http://{addr}")
}

/// Runs `tests/browser/<script>` with `jobs` in `JOBS`, off the runtime's
/// thread (the host and the fakes serve on it meanwhile); what it printed.
pub async fn run(script: &str, jobs: &Value) -> Value {
    let script = browser_dir().join(script);
    let jobs = jobs.to_string();
    let out = tokio::task::spawn_blocking(move || {
        std::process::Command::new("node").arg(&script).current_dir(browser_dir()).env("JOBS", jobs).output().unwrap()
    })
    .await
    .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "the browser run failed:\n{stderr}");
    serde_json::from_slice(out.stdout.trim_ascii()).unwrap_or_else(|e| panic!("{e}: {stderr}"))
}
