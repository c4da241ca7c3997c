//! The holes an attack run found (issue 12), one test each: a hostile
//! adapter or operator-directory trick is refused or contained, and a healthy
//! adapter keeps answering meanwhile.

#![allow(clippy::unwrap_used)] // a test crate: an unwrap that fails is a failed test

mod common;

use common::Harness;
use reqwest::Method;
use serde_json::{Value, json};
use switchboard::config::{AdapterSettings, Config};
use switchboard::store::test_support;
use switchboard_e2e::components;
use switchboard_e2e::testcrm::DEMO_API_KEY;

const LUKE: &str = "/contact?phoneNumber=%2B16505551212";

fn hostile(c: &mut Config, platform: &str, settings: &[(&str, &str)]) {
    let mut s = AdapterSettings::default();
    for (k, v) in settings {
        s.settings.insert((*k).into(), (*v).into());
    }
    c.adapters.insert(platform.into(), s);
}

/// Installs `testcrm.wasm` again as `<file>.wasm`, its manifest edited by `edit`.
fn install_copy(h: &Harness, file: &str, edit: impl Fn(&str) -> String) {
    let dir = h.adapters.path();
    std::fs::copy(dir.join("testcrm.wasm"), dir.join(format!("{file}.wasm"))).unwrap();
    let manifest = std::fs::read_to_string(dir.join("testcrm.toml")).unwrap();
    std::fs::write(dir.join(format!("{file}.toml")), edit(&manifest)).unwrap();
}

fn entry(listing: &Value, file: &str) -> Value {
    listing["adapters"].as_array().unwrap().iter().find(|a| a["file"] == file).cloned().unwrap_or(Value::Null)
}

async fn healthy(h: &Harness, token: &str) {
    let r = h.get(LUKE, Some(token)).await;
    assert_eq!(r.json()["contact"][0]["name"], "Luke Skywalker", "the healthy adapter answers: {}", r.text);
}

#[tokio::test]
async fn a_second_file_cannot_take_over_a_platform_nor_its_users_credentials() {
    let h = Harness::start().await;
    let token = h.login().await;
    // A file sorting first claims `testcrm`, with its own origin in the allow-list.
    install_copy(&h, "aaa-hijack", |m| {
        m.replace(r#"allowed_hosts = ["https://api.testcrm.example"]"#, r#"allowed_hosts = ["https://evil.example"]"#)
    });
    let report = h.admin(Method::POST, "/admin/reload").await.json();
    assert_eq!(report["failed"], json!(["aaa-hijack.wasm"]), "{report}");
    let listing = h.admin(Method::GET, "/admin/adapters").await.json();
    let hijack = entry(&listing, "aaa-hijack.wasm");
    assert_eq!(hijack["state"], "failed");
    assert!(hijack["lastError"].as_str().unwrap().contains("already provided by testcrm.wasm"), "{hijack}");
    assert_eq!(entry(&listing, "testcrm.wasm")["state"], "active");
    // The users' calls still go to the real adapter and the real CRM, with their key.
    healthy(&h, &token).await;
    assert!(h.crm.seen("/v1/contacts").iter().all(|s| s.api_key.as_deref() == Some(DEMO_API_KEY)));
    // After a restart nothing serves yet: the file named after the platform keeps it.
    let mut h = h;
    h.restart().await;
    let listing = h.admin(Method::GET, "/admin/adapters").await.json();
    assert_eq!(entry(&listing, "testcrm.wasm")["state"], "active", "{listing}");
    assert_eq!(entry(&listing, "aaa-hijack.wasm")["state"], "failed", "{listing}");
    healthy(&h, &token).await;
    h.stop().await;
}

#[tokio::test]
async fn two_new_files_claiming_one_platform_serve_neither_until_one_is_removed() {
    let h = Harness::start_with(test_support::sqlite_url(), &["testcrm"], &[], |_| {}).await;
    for file in ["claim-a", "claim-b"] {
        install_copy(&h, file, |m| m.replace(r#"platform = "testcrm""#, r#"platform = "contested""#));
    }
    let report = h.admin(Method::POST, "/admin/reload").await.json();
    assert_eq!(report["failed"], json!(["claim-a.wasm", "claim-b.wasm"]), "{report}");
    let listing = h.admin(Method::GET, "/admin/adapters").await.json();
    assert!(entry(&listing, "claim-a.wasm")["lastError"].as_str().unwrap().contains("several new files"));
    h.get("/implementedInterfaces?platform=contested", None).await.assert_error(400, "UNKNOWN_PLATFORM");
    std::fs::remove_file(h.adapters.path().join("claim-b.wasm")).unwrap();
    // (The file watcher may have reloaded first: ask what serves, not what this reload did.)
    h.admin(Method::POST, "/admin/reload").await;
    let r = h.get("/implementedInterfaces?platform=contested", None).await;
    assert_eq!(r.status, 200, "{}", r.text);
    h.stop().await;
}

#[tokio::test]
async fn an_installed_file_changes_platform_only_when_the_operator_accepts_it() {
    let h = Harness::start().await;
    let token = h.login().await;
    let path = h.adapters.path().join("testcrm.toml");
    let manifest = std::fs::read_to_string(&path).unwrap();
    std::fs::write(&path, manifest.replace(r#"platform = "testcrm""#, r#"platform = "elsewhere""#)).unwrap();
    let report = h.admin(Method::POST, "/admin/reload").await.json();
    assert_eq!(report["failed"], json!(["testcrm.wasm"]), "{report}");
    let error = entry(&h.admin(Method::GET, "/admin/adapters").await.json(), "testcrm.wasm")["lastError"].clone();
    assert!(error.as_str().unwrap().contains("acceptPlatformChanges"), "{error}");
    healthy(&h, &token).await;
    let report = h.admin(Method::POST, "/admin/reload?acceptPlatformChanges=true").await.json();
    assert_eq!(report["loaded"], json!(["elsewhere"]), "{report}");
    assert_eq!(report["unloaded"], json!(["testcrm"]), "{report}");
    h.stop().await;
}

#[tokio::test]
async fn plain_http_origins_are_refused_unless_the_operator_allows_them() {
    let plain = |m: &str| {
        m.replace("https://api.testcrm.example", "http://api.testcrm.example")
            .replace(r#"platform = "testcrm""#, r#"platform = "plain""#)
    };
    let h = Harness::start().await;
    install_copy(&h, "plain", plain);
    let report = h.admin(Method::POST, "/admin/reload").await.json();
    assert_eq!(report["failed"], json!(["plain.wasm"]), "{report}");
    let error = entry(&h.admin(Method::GET, "/admin/adapters").await.json(), "plain.wasm")["lastError"].clone();
    assert!(error.as_str().unwrap().contains("not https"), "{error}");
    h.stop().await;

    let h =
        Harness::start_with(test_support::sqlite_url(), &["testcrm"], &[], |c| c.allow_insecure_adapter_hosts = true)
            .await;
    install_copy(&h, "plain", plain);
    h.admin(Method::POST, "/admin/reload").await;
    assert_eq!(entry(&h.admin(Method::GET, "/admin/adapters").await.json(), "plain.wasm")["state"], "active");
    h.stop().await;
}

#[tokio::test]
async fn users_of_two_platforms_whose_ids_would_collide_keep_their_own_credentials() {
    let h = Harness::start().await;
    // "u-1001" on platform "crm-b" and "u-1001-crm" on platform "b" both derive "u-1001-crm-b".
    install_copy(&h, "crm-b", |m| m.replace(r#"platform = "testcrm""#, r#"platform = "crm-b""#));
    install_copy(&h, "b", |m| m.replace(r#"platform = "testcrm""#, r#"platform = "b""#));
    h.admin(Method::POST, "/admin/reload").await;
    h.crm.add_user("key-of-b", "u-1001-crm", "Mallory");
    let victim = h.login_as("crm-b", DEMO_API_KEY).await;
    let other = h.login_as("b", "key-of-b").await;
    h.get(LUKE, Some(&victim)).await;
    h.get(LUKE, Some(&other)).await;
    let keys: Vec<Option<String>> = h.crm.seen("/v1/contacts").into_iter().map(|s| s.api_key).collect();
    assert_eq!(keys, vec![Some(DEMO_API_KEY.into()), Some("key-of-b".into())], "each with its own key");
    h.stop().await;
}

#[tokio::test]
async fn an_adapter_cannot_set_transport_headers_nor_stall_the_host_with_a_huge_url() {
    let fixtures = ["headercrm", "hugeurlcrm"];
    let h = Harness::start_with(test_support::sqlite_url(), &["testcrm"], &fixtures, |c| {
        hostile(c, "headercrm", &[("mode", "reserved-header")]);
        hostile(c, "hugeurlcrm", &[("mode", "huge-url")]);
    })
    .await;
    let good = h.login().await;
    let t = h.login_as("headercrm", "any-key").await;
    let before = h.crm.seen("/v1/me").len();
    let r = h.get("/contact?phoneNumber=%2B15550001", Some(&t)).await;
    let body = r.assert_error(502, "ADAPTER_HTTP_DENIED");
    assert!(body["returnMessage"]["message"].as_str().unwrap().contains("`host`"), "{body}");
    assert_eq!(h.crm.seen("/v1/me").len(), before, "the request never left the host");
    healthy(&h, &good).await;

    let t = h.login_as("hugeurlcrm", "any-key").await;
    let (bad, ()) =
        futures::future::join(h.get("/contact?phoneNumber=%2B15550001", Some(&t)), healthy(&h, &good)).await;
    let body = bad.assert_error(502, "ADAPTER_HTTP_LIMIT");
    assert!(body["returnMessage"]["message"].as_str().unwrap().contains("URL"), "{body}");
    // Neither the refused host names nor the URL became metric labels.
    let metrics = h.admin(Method::GET, "/metrics").await.text;
    assert!(!metrics.contains("evil.example") && !metrics.contains("aaaaaaaa"), "no adapter-chosen labels");
    h.stop().await;
}

#[tokio::test]
async fn reload_reads_only_regular_files_inside_the_adapters_directory() {
    let h = Harness::start().await;
    let token = h.login().await;
    let dir = h.adapters.path();
    let manifest = std::fs::read_to_string(dir.join("testcrm.toml")).unwrap();
    let as_platform = |p: &str| manifest.replace(r#"platform = "testcrm""#, &format!("platform = {p:?}"));
    // A FIFO (reading it would block a worker until a writer comes).
    let status = std::process::Command::new("mkfifo").arg(dir.join("fifo.wasm")).status().unwrap();
    assert!(status.success());
    std::fs::write(dir.join("fifo.toml"), as_platform("fifo")).unwrap();
    // A link to a device (reading it would never end), and one to a file outside.
    std::os::unix::fs::symlink("/dev/zero", dir.join("zero.wasm")).unwrap();
    std::fs::write(dir.join("zero.toml"), as_platform("zero")).unwrap();
    let outside = tempfile::tempdir().unwrap();
    std::fs::copy(dir.join("testcrm.wasm"), outside.path().join("elsewhere.wasm")).unwrap();
    std::os::unix::fs::symlink(outside.path().join("elsewhere.wasm"), dir.join("elsewhere.wasm")).unwrap();
    std::fs::write(dir.join("elsewhere.toml"), as_platform("elsewhere")).unwrap();
    // A component over the size cap (sparse: nothing is written).
    std::fs::File::create(dir.join("huge.wasm")).unwrap().set_len(65 * 1024 * 1024).unwrap();
    std::fs::write(dir.join("huge.toml"), as_platform("huge")).unwrap();

    let report = h.admin(Method::POST, "/admin/reload").await.json();
    assert_eq!(report["failed"], json!(["elsewhere.wasm", "fifo.wasm", "huge.wasm", "zero.wasm"]), "{report}");
    let listing = h.admin(Method::GET, "/admin/adapters").await.json();
    let error = |f: &str| entry(&listing, f)["lastError"].as_str().unwrap().to_owned();
    assert!(error("fifo.wasm").contains("not a regular file"), "{}", error("fifo.wasm"));
    assert!(error("zero.wasm").contains("out of the adapters directory"), "{}", error("zero.wasm"));
    assert!(error("elsewhere.wasm").contains("out of the adapters directory"), "{}", error("elsewhere.wasm"));
    assert!(error("huge.wasm").contains("over the limit"), "{}", error("huge.wasm"));
    healthy(&h, &token).await;
    h.stop().await;
}

#[tokio::test]
async fn guessing_the_admin_token_is_throttled_per_address() {
    let h = Harness::start().await;
    let token = h.login().await;
    for _ in 0..10 {
        h.send(Method::GET, "/admin/adapters", Some("a-guess"), None).await.assert_error(401, "ADMIN_UNAUTHORIZED");
    }
    // The eleventh try is refused before the token is looked at, even the right one.
    let body =
        h.send(Method::GET, "/admin/adapters", Some("another-guess"), None).await.assert_error(429, "ADMIN_THROTTLED");
    assert!(body["retryAfter"].as_u64().is_some_and(|s| (1..=60).contains(&s)), "{body}");
    h.admin(Method::GET, "/admin/adapters").await.assert_error(429, "ADMIN_THROTTLED");
    // Users are not affected.
    healthy(&h, &token).await;
    h.stop().await;
}

/// A host that takes 4 connections at once and 500 ms to send headers, with
/// every one of those connections opened and sent `first_bytes`, then left.
async fn every_connection_stalled_on(first_bytes: &[u8]) -> (Harness, Vec<tokio::net::TcpStream>) {
    use tokio::io::AsyncWriteExt;
    let h = Harness::start_with(test_support::sqlite_url(), &["testcrm"], &[], |c| {
        c.limits.max_connections = 4;
        c.limits.header_read_timeout_ms = 500;
    })
    .await;
    let addr = h.base.trim_start_matches("http://").to_owned();
    let mut stalled = Vec::new();
    for _ in 0..4 {
        let mut s = tokio::net::TcpStream::connect(&addr).await.unwrap();
        s.write_all(first_bytes).await.unwrap();
        stalled.push(s);
    }
    (h, stalled)
}

#[tokio::test]
async fn slow_clients_are_cut_off_and_cannot_hold_every_connection() {
    use tokio::io::AsyncReadExt;
    // Slowloris: as many connections as allowed, each sending half a request head.
    let (h, slow) = every_connection_stalled_on(b"GET /isAlive HTTP/1.1\r\nHost: x\r\nX-Slow: ").await;
    // A real client still gets its answer: the slow ones are cut off in time.
    let r = h.client.get(format!("{}/isAlive", h.base)).timeout(std::time::Duration::from_secs(20)).send().await;
    assert_eq!(r.unwrap().text().await.unwrap(), "OK");
    for mut s in slow {
        let mut buf = [0u8; 512];
        let read = tokio::time::timeout(std::time::Duration::from_secs(20), s.read(&mut buf)).await;
        let n = read.expect("the server closes a connection that never finishes its headers").unwrap_or(0);
        let answer = String::from_utf8_lossy(&buf[..n]);
        assert!(n == 0 || answer.starts_with("HTTP/1.1 408"), "closed, or told it timed out: {answer:?}");
    }
    h.stop().await;
}

#[tokio::test]
async fn http2_without_tls_is_served_and_half_a_preface_cannot_hold_a_connection() {
    use tokio::io::AsyncReadExt;
    // Every connection allowed, each with the first half of HTTP/2's preface and nothing more.
    let (h, stalled) = every_connection_stalled_on(b"PRI * HTTP/2.0\r\n").await;
    let timeout = std::time::Duration::from_secs(20);
    // An h2c client (prior knowledge) is served over HTTP/2 once the stalled ones are cut off.
    let h2 = reqwest::Client::builder().http2_prior_knowledge().build().unwrap();
    let r = h2.get(format!("{}/isAlive", h.base)).timeout(timeout).send().await.unwrap();
    assert_eq!(r.version(), reqwest::Version::HTTP_2);
    assert_eq!(r.text().await.unwrap(), "OK");
    let r = h.client.get(format!("{}/isAlive", h.base)).timeout(timeout).send().await.unwrap();
    assert_eq!(r.version(), reqwest::Version::HTTP_11);
    for mut s in stalled {
        let read = tokio::time::timeout(timeout, s.read_to_end(&mut Vec::new())).await;
        assert!(read.is_ok(), "the server closes a connection that never finishes its preface");
    }
    h.stop().await;
}

#[tokio::test]
async fn the_host_wide_memory_budget_counts_what_calls_use_and_stops_a_hog_retryably() {
    let h = Harness::start_with(test_support::sqlite_url(), &["testcrm"], &["memorycrm"], |c| {
        c.limits.adapter_memory_mib = 64;
        c.limits.adapter_memory_budget_mib = 64;
        hostile(c, "memorycrm", &[("mode", "memory")]);
    })
    .await;
    let token = h.login().await;
    // A budget the size of one call's cap still runs several calls at once:
    // each holds what it uses, not its cap.
    h.crm.set_delay(std::time::Duration::from_millis(300));
    let answers = futures::future::join_all((0..4).map(|_| h.get(LUKE, Some(&token)))).await;
    assert!(answers.iter().all(|r| r.json()["successful"] == true), "every call is served");
    assert!(h.crm.state().max_in_flight >= 2, "{} at once", h.crm.state().max_in_flight);
    h.crm.set_delay(std::time::Duration::ZERO);
    // A call that would grow past what is left (its own cap is no lower) is
    // stopped, retryably: the host is busy, the adapter may be fine.
    let hog = h.login_as("memorycrm", "any-key").await;
    let body = h.get(LUKE, Some(&hog)).await.assert_error(503, "ADAPTER_MEMORY_BUDGET");
    assert_eq!(body["retryable"], true, "{body}");
    let message = body["returnMessage"]["message"].as_str().unwrap();
    assert!(message.contains("memory budget of 64 MiB"), "{message}");
    // What it held came back with it.
    healthy(&h, &token).await;
    h.stop().await;
}

/// Installs a component built from WAT as `<platform>.wasm`.
fn install_wat(h: &Harness, platform: &str, wasm: Vec<u8>) {
    let dir = h.adapters.path();
    std::fs::write(dir.join(format!("{platform}.wasm")), wasm).unwrap();
    std::fs::write(dir.join(format!("{platform}.toml")), components::manifest(platform)).unwrap();
}

#[tokio::test]
async fn a_component_cannot_take_more_memories_nor_more_memory_than_a_call_may() {
    let h = Harness::start().await;
    let token = h.login().await;
    let wit = common::workspace().join("wit");
    // Nine more core instances with a memory each (thousands of them once
    // exhausted the pool every adapter draws from); two memories of 37.5 MiB
    // (each under the 64 MiB cap, together over it); one of 60 MiB (fits).
    install_wat(&h, "manymemories", components::many_memories(&wit, 9, 1).unwrap());
    install_wat(&h, "twobigmemories", components::many_memories(&wit, 2, 600).unwrap());
    install_wat(&h, "onebigmemory", components::many_memories(&wit, 1, 960).unwrap());
    futures::future::join(h.admin(Method::POST, "/admin/reload"), healthy(&h, &token)).await;
    let listing = h.admin(Method::GET, "/admin/adapters").await.json();
    let error = |f: &str| entry(&listing, f)["lastError"].as_str().unwrap_or_default().to_owned();
    assert!(error("manymemories.wasm").contains("core module instances"), "{}", error("manymemories.wasm"));
    assert!(error("manymemories.wasm").contains("maximum of 8"), "{}", error("manymemories.wasm"));
    assert!(error("twobigmemories.wasm").contains("memories together"), "{}", error("twobigmemories.wasm"));
    assert!(error("twobigmemories.wasm").contains("64 MiB"), "{}", error("twobigmemories.wasm"));
    assert_eq!(entry(&listing, "onebigmemory.wasm")["state"], "active", "{listing}");
    // What a call of it waits for in the memory budget: its 60 MiB memory.
    let startup = entry(&listing, "onebigmemory.wasm")["startupMemoryBytes"].as_u64().unwrap();
    assert!(startup >= 60 << 20, "{startup}");
    // Neither refused component serves; the one that fits does, and its
    // exports trap (the dummy module's `unreachable`): contained, reported.
    let login = |platform: &str| json!({"platform": platform, "apiKey": "any-key"});
    for refused in ["manymemories", "twobigmemories"] {
        h.post("/apiKeyLogin", None, &login(refused)).await.assert_error(400, "UNKNOWN_PLATFORM");
    }
    let body = h.post("/apiKeyLogin", None, &login("onebigmemory")).await.assert_error(502, "ADAPTER_TRAPPED");
    assert!(body["returnMessage"]["message"].as_str().unwrap().contains("onebigmemory 0.1.0"), "{body}");
    healthy(&h, &token).await;
    h.stop().await;
}

#[tokio::test]
async fn a_huge_function_is_refused_before_compiling_and_a_large_one_compiles_off_the_workers() {
    let h = Harness::start().await;
    let token = h.login().await;
    let wit = common::workspace().join("wit");
    // About 380 KB of one function (the limit is 256 KiB; compiling it would take seconds
    // that no deadline can interrupt), and about 100 KB (more than twice the bundled
    // adapters' largest): compiled, while users and health checks are answered.
    install_wat(&h, "hugefunction", components::huge_function(&wit, 150_000).unwrap());
    install_wat(&h, "largefunction", components::huge_function(&wit, 40_000).unwrap());
    let answers = async {
        for _ in 0..5 {
            healthy(&h, &token).await;
            assert_eq!(h.get("/isAlive", None).await.text, "OK");
        }
    };
    let (report, ()) = futures::future::join(h.admin(Method::POST, "/admin/reload"), answers).await;
    assert_eq!(report.status, 200, "{}", report.text);
    let listing = h.admin(Method::GET, "/admin/adapters").await.json();
    let huge = entry(&listing, "hugefunction.wasm");
    let error = huge["lastError"].as_str().unwrap_or_default();
    assert!(error.contains("over the limit of 262144 bytes"), "{huge}");
    assert_eq!(entry(&listing, "largefunction.wasm")["state"], "active", "{listing}");
    healthy(&h, &token).await;
    h.stop().await;
}
