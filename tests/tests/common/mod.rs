//! Shared set-up for the end-to-end tests: a real Switchboard server and a real
//! Test CRM server, both on loopback ports, talking HTTP.
#![allow(dead_code)]

pub mod api_v1;
pub mod browser;
pub mod pyjwt;
pub mod receiver;

use reqwest::{Method, StatusCode};
use serde_json::Value;
use std::path::{Path, PathBuf};
use switchboard::config::Config;
use switchboard::server::Server;
use switchboard_e2e::testcrm::{DEMO_API_KEY, TestCrm};

pub const SECRET: &str = "e2e-secret-that-is-long-enough-for-hs256";
pub const ENCRYPTION_KEY: &str = "AQIDBAUGBwgJCgsMDQ4PEBESExQVFhcYGRobHB0eHyA=";
pub const ADMIN_TOKEN: &str = "e2e-admin-token-0123456789";

pub fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap().to_owned()
}

fn built(dir: &str, name: &str) -> PathBuf {
    let path = workspace().join("target").join(dir).join(format!("{name}.wasm"));
    assert!(
        path.exists(),
        "{} is missing: build the adapters first with `cargo xtask adapters` (or run the tests with `cargo xtask test`)",
        path.display()
    );
    path
}

/// A fresh adapters directory holding the named bundled adapters and fixtures.
pub fn adapters_dir(bundled: &[&str], fixtures: &[&str]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for (names, kind) in [(bundled, "adapters"), (fixtures, "adapter-fixtures")] {
        for name in names {
            let wasm = built(kind, name);
            std::fs::copy(&wasm, dir.path().join(format!("{name}.wasm"))).unwrap();
            std::fs::copy(wasm.with_extension("toml"), dir.path().join(format!("{name}.toml"))).unwrap();
        }
    }
    dir
}

pub struct Harness {
    pub server: Option<Server>,
    pub crm: TestCrm,
    pub base: String,
    pub client: reqwest::Client,
    pub database_url: String,
    pub adapters: tempfile::TempDir,
    pub data: tempfile::TempDir,
    pub config: Config,
}

pub struct Reply {
    pub status: StatusCode,
    pub headers: reqwest::header::HeaderMap,
    pub text: String,
}

impl Reply {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.text).unwrap_or_else(|e| panic!("not JSON ({e}): {:?}", self.text))
    }
    pub fn header(&self, name: &str) -> Option<String> {
        self.headers.get(name).and_then(|v| v.to_str().ok()).map(str::to_owned)
    }
    /// Asserts the error envelope: status, errorCode, request id in body and header.
    /// A lookup that found no contact, answered as App Connect does: the
    /// request worked (`successful: true`), with the "create new contact"
    /// placeholder, a warning, and `CONTACT_NOT_FOUND` beside them.
    pub fn assert_no_match(&self) -> Value {
        assert_eq!(self.status.as_u16(), 200, "{}", self.text);
        let body = self.json();
        assert_eq!(body["successful"], true, "{body}");
        assert_eq!(body["errorCode"], "CONTACT_NOT_FOUND", "{body}");
        assert_eq!(body["contact"].as_array().map(Vec::len), Some(1), "{body}");
        assert_eq!(body["contact"][0]["isNewContact"], true, "offers to create one: {body}");
        assert_eq!(body["returnMessage"]["messageType"], "warning", "{body}");
        assert_eq!(body["returnMessage"]["message"], "Contact not found", "{body}");
        body
    }

    pub fn assert_error(&self, status: u16, code: &str) -> Value {
        assert_eq!(self.status.as_u16(), status, "{}", self.text);
        let body = self.json();
        assert_eq!(body["successful"], false, "{body}");
        assert_eq!(body["errorCode"], code, "{body}");
        let rid = body["requestId"].as_str().expect("requestId in the body").to_owned();
        assert!(!rid.is_empty());
        assert_eq!(self.header("x-request-id").as_deref(), Some(rid.as_str()), "X-Request-Id matches the body");
        assert!(body["returnMessage"]["message"].as_str().is_some_and(|m| !m.is_empty()), "{body}");
        body
    }
}

/// Makes `testcrm-oauth` usable: the Test CRM's authorization server behind
/// `oauth.testcrm.example`, and its test client registered for the platform.
pub fn testcrm_oauth(c: &mut Config) {
    let base = c.upstream_overrides["https://api.testcrm.example"].clone();
    c.upstream_overrides.insert("https://oauth.testcrm.example".into(), base);
    let settings = switchboard::config::AdapterSettings {
        client_id: Some(switchboard_e2e::oauth::CLIENT_ID.into()),
        client_secret: Some(switchboard_e2e::oauth::CLIENT_SECRET.into()),
        ..Default::default()
    };
    c.adapters.insert("testcrm-oauth".into(), settings);
}

pub fn config(database_url: &str, adapters: &Path, data: &Path, crm: &TestCrm) -> Config {
    let mut c = Config {
        bind: "127.0.0.1:0".parse().unwrap(),
        data_dir: data.to_owned(),
        admin_token: ADMIN_TOKEN.into(),
        database_url: database_url.to_owned(),
        adapters_dir: adapters.to_owned(),
        app_server_secret_key: SECRET.into(),
        encryption_key: ENCRYPTION_KEY.into(),
        ..Config::default()
    };
    c.upstream_overrides.insert("https://api.testcrm.example".into(), crm.base_url());
    c
}

impl Harness {
    /// Test CRM + Switchboard on SQLite with the bundled adapters.
    pub async fn start() -> Harness {
        Self::start_with(switchboard::store::test_support::sqlite_url(), &["testcrm"], &[], |_| {}).await
    }

    pub async fn start_with(
        database_url: String,
        bundled: &[&str],
        fixtures: &[&str],
        tweak: impl FnOnce(&mut Config),
    ) -> Harness {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let crm = TestCrm::start().await;
        let adapters = adapters_dir(bundled, fixtures);
        let data = tempfile::tempdir().unwrap();
        let mut config = config(&database_url, adapters.path(), data.path(), &crm);
        tweak(&mut config);
        let server = Server::start(config.clone()).await.expect("the server starts");
        let base = format!("http://{}", server.addr);
        Harness {
            server: Some(server),
            crm,
            base,
            client: reqwest::Client::new(),
            database_url,
            adapters,
            data,
            config,
        }
    }

    /// Stops the server and starts it again with the same configuration,
    /// database, data directory and adapters.
    pub async fn restart(&mut self) {
        if let Some(s) = self.server.take() {
            s.stop().await.unwrap();
        }
        let server = Server::start(self.config.clone()).await.expect("the server restarts");
        self.base = format!("http://{}", server.addr);
        self.server = Some(server);
    }

    /// A request to an operator endpoint, with the admin token.
    pub async fn admin(&self, method: Method, path: &str) -> Reply {
        let resp = self
            .client
            .request(method, format!("{}{}", self.base, path))
            .bearer_auth(ADMIN_TOKEN)
            .send()
            .await
            .expect("the server answers");
        Reply { status: resp.status(), headers: resp.headers().clone(), text: resp.text().await.unwrap() }
    }

    /// The value of a Prometheus sample, e.g. `switchboard_adapter_compiles_total`.
    pub async fn metric(&self, sample: &str) -> f64 {
        let text = self.admin(Method::GET, "/metrics").await.text;
        text.lines()
            .filter(|l| !l.starts_with('#'))
            .find_map(|l| l.strip_prefix(sample).and_then(|rest| rest.trim().parse().ok()))
            .unwrap_or(0.0)
    }

    pub async fn send(&self, method: Method, path: &str, token: Option<&str>, body: Option<&Value>) -> Reply {
        let mut req = self.client.request(method, format!("{}{}", self.base, path));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        if let Some(b) = body {
            req = req.json(b);
        }
        let resp = req.send().await.expect("the server answers");
        Reply { status: resp.status(), headers: resp.headers().clone(), text: resp.text().await.unwrap() }
    }

    pub async fn get(&self, path: &str, token: Option<&str>) -> Reply {
        self.send(Method::GET, path, token, None).await
    }

    pub async fn post(&self, path: &str, token: Option<&str>, body: &Value) -> Reply {
        self.send(Method::POST, path, token, Some(body)).await
    }

    pub async fn patch(&self, path: &str, token: Option<&str>, body: &Value) -> Reply {
        self.send(Method::PATCH, path, token, Some(body)).await
    }

    /// Logs in to `platform` with `api_key`; returns the jwtToken.
    pub async fn login_as(&self, platform: &str, api_key: &str) -> String {
        let r = self.post("/apiKeyLogin", None, &serde_json::json!({"platform": platform, "apiKey": api_key})).await;
        assert_eq!(r.status, 200, "login failed: {}", r.text);
        r.json()["jwtToken"].as_str().unwrap().to_owned()
    }

    pub async fn login(&self) -> String {
        self.login_as("testcrm", DEMO_API_KEY).await
    }

    /// Posts like a client retrying: again while the answer is a retryable
    /// failure (every 250 ms, at most 120 times); the successful answer.
    pub async fn until_logged(&self, token: &str, path: &str, body: &Value) -> Value {
        for _ in 0..120 {
            let answer = self.post(path, Some(token), body).await.json();
            if answer["successful"] == true {
                return answer;
            }
            assert_eq!(answer["retryable"], true, "{path} failed for good: {answer}");
            tokio::time::sleep(std::time::Duration::from_millis(250)).await;
        }
        panic!("{path} was never logged");
    }

    pub async fn stop(mut self) {
        if let Some(s) = self.server.take() {
            s.stop().await.unwrap();
        }
    }
}

pub fn call_log_body(session_id: &str, contact_id: &str) -> Value {
    serde_json::json!({
        "logInfo": {
            "sessionId": session_id,
            "direction": "Inbound",
            "startTime": 1716800000000u64,
            "duration": 42,
            "result": "Call connected",
            "from": {"phoneNumber": "+16505551212"},
            "to": {"phoneNumber": "+14155550100"}
        },
        "contactId": contact_id,
        "contactName": "Luke Skywalker",
        "note": "Asked about the plans"
    })
}

/// The `switchboard` binary running as its own process with `config` (written
/// to a TOML file) on a free port; killed when dropped.
pub struct HostProcess {
    pub base: String,
    child: std::process::Child,
    _dir: tempfile::TempDir,
}

impl HostProcess {
    pub fn spawn(config: &Config) -> HostProcess {
        let binary = workspace().join("target/debug/switchboard");
        assert!(binary.exists(), "{} is missing: `cargo test --workspace` builds it", binary.display());
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let dir = tempfile::tempdir().unwrap();
        let mut file = String::new();
        file += &format!("bind = \"127.0.0.1:{port}\"\n");
        file += &format!("database_url = {:?}\n", config.database_url);
        file += &format!("data_dir = {:?}\n", dir.path().display().to_string());
        file += &format!("adapters_dir = {:?}\n", config.adapters_dir.display().to_string());
        file += "watch_adapters = false\n";
        file += &format!("[limits]\nadapter_wall_ms = {}\n", config.limits.adapter_wall_ms);
        let w = &config.webhooks;
        file += &format!(
            "[webhooks]\ndeliver = {}\nallow_loopback = {}\ntimeout_ms = {}\npoll_interval_ms = {}\n",
            w.deliver, w.allow_loopback, w.timeout_ms, w.poll_interval_ms
        );
        file += "[upstream_overrides]\n";
        for (from, to) in &config.upstream_overrides {
            file += &format!("{from:?} = {to:?}\n");
        }
        file += &format!(
            "[oauth]\nredirect_uri = {:?}\nrefresh_margin_secs = {}\n",
            config.oauth.redirect_uri, config.oauth.refresh_margin_secs
        );
        for (platform, a) in &config.adapters {
            file += &format!("[adapters.{platform:?}]\n");
            if let (Some(id), Some(secret)) = (&a.client_id, &a.client_secret) {
                file += &format!("client_id = {id:?}\nclient_secret = {secret:?}\n");
            }
        }
        let path = dir.path().join("switchboard.toml");
        std::fs::write(&path, file).unwrap();
        let child = std::process::Command::new(binary)
            .arg("--config")
            .arg(&path)
            .env("APP_SERVER_SECRET_KEY", &config.app_server_secret_key)
            .env("SWITCHBOARD_ENCRYPTION_KEY", &config.encryption_key)
            .env("RUST_LOG", "warn")
            .spawn()
            .unwrap();
        let base = format!("http://127.0.0.1:{port}");
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(std::time::Instant::now() < deadline, "the host process did not start listening");
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        HostProcess { base, child, _dir: dir }
    }
}

impl HostProcess {
    /// Sends SIGTERM (what a process manager sends to stop a service).
    pub fn terminate(&self) {
        let status = std::process::Command::new("kill").arg("-TERM").arg(self.child.id().to_string()).status().unwrap();
        assert!(status.success());
    }

    /// Waits for the process to exit (at most `limit`); its exit status.
    pub fn wait_exit(&mut self, limit: std::time::Duration) -> std::process::ExitStatus {
        let deadline = std::time::Instant::now() + limit;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            assert!(std::time::Instant::now() < deadline, "the host process did not exit");
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
    }
}

impl Drop for HostProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Runs `switchboard <args>` (the debug binary) on the harness's database.
pub fn cli(h: &Harness, args: &[&str]) -> std::process::Output {
    let binary = workspace().join("target/debug/switchboard");
    assert!(binary.exists(), "{} is missing: `cargo test --workspace` builds it", binary.display());
    let file = h.data.path().join("cli.toml");
    let toml = format!(
        "database_url = {:?}\ndata_dir = {:?}\nadapters_dir = {:?}\n",
        h.config.database_url,
        h.data.path().display().to_string(),
        h.config.adapters_dir.display().to_string()
    );
    std::fs::write(&file, toml).unwrap();
    let mut command = std::process::Command::new(binary);
    command
        .arg("--config")
        .arg(&file)
        .args(args)
        .env("APP_SERVER_SECRET_KEY", &h.config.app_server_secret_key)
        .env("SWITCHBOARD_ENCRYPTION_KEY", &h.config.encryption_key)
        .env("RUST_LOG", "warn");
    // The harness's host runs on this test's runtime: blocking its thread
    // while the command runs would freeze a transaction the host has open,
    // and the command would find the database locked. The runtime's other
    // thread keeps the host going (the tests that call this are `multi_thread`).
    tokio::task::block_in_place(|| command.output()).unwrap()
}

/// Logs a user in to `testcrm-oauth` as App Connect does, the browser's part
/// played against the Test CRM's fake authorization server (which consents at
/// once); the jwtToken. The harness needs [`testcrm_oauth`] and an
/// `oauth.redirect_uri`. (`oauth.rs` walks the same dance checking each step.)
pub async fn oauth_login(h: &Harness) -> String {
    let client = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    let r = client.get(format!("{}/oauth/testcrm-oauth/start", h.base)).send().await.unwrap();
    assert_eq!(r.status(), 303);
    let authorize = url::Url::parse(r.headers()["location"].to_str().unwrap()).unwrap();
    let at_fake = format!("{}{}?{}", h.crm.base_url(), authorize.path(), authorize.query().unwrap());
    let r = client.get(at_fake).send().await.unwrap();
    let callback = r.headers()["location"].to_str().unwrap().to_owned();
    let q = url::form_urlencoded::Serializer::new(String::new()).append_pair("callbackUri", &callback).finish();
    let r = h.get(&format!("/oauth-callback?{q}"), None).await;
    assert_eq!(r.status, 200, "{}", r.text);
    r.json()["jwtToken"].as_str().unwrap().to_owned()
}
