//! Hot reload: versions swap under load without a failed request; a broken
//! file leaves the old version serving; removed files unload; unsupported WIT
//! versions are refused; a restart with unchanged adapters compiles nothing.

#![allow(clippy::unwrap_used)] // a test crate: an unwrap that fails is a failed test

mod common;

use common::Harness;
use reqwest::Method;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};
use switchboard::store::test_support;

/// Appends a custom section: same behaviour, different bytes (and hash).
fn with_custom_section(wasm: &[u8], payload: &str) -> Vec<u8> {
    fn leb(mut n: usize, out: &mut Vec<u8>) {
        loop {
            let byte = (n & 0x7f) as u8;
            n >>= 7;
            if n == 0 {
                out.push(byte);
                return;
            }
            out.push(byte | 0x80);
        }
    }
    let name = b"switchboard-test";
    let mut content = Vec::new();
    leb(name.len(), &mut content);
    content.extend_from_slice(name);
    content.extend_from_slice(payload.as_bytes());
    let mut out = wasm.to_vec();
    out.push(0); // custom section id
    leb(content.len(), &mut out);
    out.extend(content);
    out
}

/// Replaces a file the way operators should: write aside, rename into place.
fn replace(path: &Path, bytes: &[u8]) {
    let tmp = path.with_extension("partial");
    std::fs::write(&tmp, bytes).unwrap();
    std::fs::rename(&tmp, path).unwrap();
}

fn manifest_with_version(original: &str, version: &str) -> String {
    original.replace("version = \"0.2.0\"\nwit_version", &format!("version = \"{version}\"\nwit_version"))
}

#[tokio::test]
async fn twenty_reloads_under_load_fail_no_request() {
    let h = Arc::new(Harness::start().await);
    let token = h.login().await;
    let wasm_path = h.adapters.path().join("testcrm.wasm");
    let manifest_path = h.adapters.path().join("testcrm.toml");
    let wasm = std::fs::read(&wasm_path).unwrap();
    let manifest = std::fs::read_to_string(&manifest_path).unwrap();
    assert!(manifest_with_version(&manifest, "0.1.1") != manifest, "the manifest carries version = \"0.2.0\"");

    let done = Arc::new(AtomicBool::new(false));
    let clients: Vec<_> = (0..4)
        .map(|_| {
            let (h, token, done) = (h.clone(), token.clone(), done.clone());
            tokio::spawn(async move {
                let (mut ok, mut failed, mut versions) = (0u32, Vec::new(), Vec::<String>::new());
                while !done.load(Ordering::Relaxed) {
                    let r = h.get("/contact?phoneNumber=%2B16505551212", Some(&token)).await;
                    if r.status == 200 && r.json()["successful"] == true {
                        ok += 1;
                        let v = r.header("x-switchboard-adapter").unwrap_or_default();
                        if versions.last() != Some(&v) {
                            versions.push(v);
                        }
                    } else {
                        failed.push(r.text);
                    }
                }
                (ok, failed, versions)
            })
        })
        .collect();

    for i in 1..=20 {
        replace(&wasm_path, &with_custom_section(&wasm, &format!("build {i}")));
        replace(&manifest_path, manifest_with_version(&manifest, &format!("0.1.{i}")).as_bytes());
        let r = h.admin(Method::POST, "/admin/reload").await;
        assert_eq!(r.status, 200, "{}", r.text);
        assert!(r.json()["failed"].as_array().unwrap().is_empty(), "{}", r.text);
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    done.store(true, Ordering::Relaxed);
    let mut total = 0;
    let mut all_versions = Vec::new();
    for c in clients {
        let (ok, failed, versions) = c.await.unwrap();
        assert!(failed.is_empty(), "{} failed requests during reloads: {:?}", failed.len(), failed.first());
        total += ok;
        all_versions.extend(versions);
    }
    assert!(total > 20, "clients kept calling ({total} requests)");
    all_versions.sort();
    all_versions.dedup();
    assert!(all_versions.len() > 2, "responses moved through versions: {all_versions:?}");
    let r = h.get("/contact?phoneNumber=%2B16505551212", Some(&token)).await;
    assert_eq!(r.header("x-switchboard-adapter").as_deref(), Some("testcrm/0.1.20"));
}

#[tokio::test]
async fn a_corrupt_file_leaves_the_old_version_serving_and_shows_the_error() {
    let h = Harness::start_with(test_support::sqlite_url(), &["testcrm"], &[], |c| c.watch_adapters = false).await;
    let token = h.login().await;
    replace(&h.adapters.path().join("testcrm.wasm"), b"\0asm this is not a component");
    let r = h.admin(Method::POST, "/admin/reload").await;
    assert_eq!(r.json()["failed"], serde_json::json!(["testcrm.wasm"]), "{}", r.text);

    let r = h.get("/contact?phoneNumber=%2B16505551212", Some(&token)).await;
    assert_eq!(r.json()["successful"], true, "the old version still serves: {}", r.text);
    assert_eq!(r.header("x-switchboard-adapter").as_deref(), Some("testcrm/0.2.0"));

    let listing = h.admin(Method::GET, "/admin/adapters").await.json();
    let entry = &listing["adapters"][0];
    assert_eq!(entry["file"], "testcrm.wasm");
    assert_eq!(entry["state"], "active");
    assert_eq!(entry["version"], "0.2.0");
    assert!(entry["lastError"].as_str().unwrap().contains("not a usable wasm component"), "{entry}");

    // Removing the file unloads the adapter.
    std::fs::remove_file(h.adapters.path().join("testcrm.wasm")).unwrap();
    let r = h.admin(Method::POST, "/admin/reload").await.json();
    assert_eq!(r["unloaded"], serde_json::json!(["testcrm"]));
    h.get("/implementedInterfaces?platform=testcrm", None).await.assert_error(400, "UNKNOWN_PLATFORM");
    h.stop().await;
}

#[tokio::test]
async fn the_watcher_loads_a_new_version_without_being_asked() {
    let h = Harness::start().await;
    let wasm_path = h.adapters.path().join("testcrm.wasm");
    let manifest_path = h.adapters.path().join("testcrm.toml");
    let manifest = std::fs::read_to_string(&manifest_path).unwrap();
    replace(&wasm_path, &with_custom_section(&std::fs::read(&wasm_path).unwrap(), "watched"));
    replace(&manifest_path, manifest_with_version(&manifest, "0.2.0").as_bytes());
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let listing = h.admin(Method::GET, "/admin/adapters").await.json();
        if listing["adapters"][0]["version"] == "0.2.0" {
            break;
        }
        assert!(Instant::now() < deadline, "the watcher did not reload: {listing}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    h.stop().await;
}

#[tokio::test]
async fn an_adapter_built_for_an_unserved_wit_version_is_refused() {
    let h = Harness::start_with(test_support::sqlite_url(), &["testcrm"], &["futurecrm"], |_| {}).await;
    let listing = h.admin(Method::GET, "/admin/adapters").await.json();
    let future =
        listing["adapters"].as_array().unwrap().iter().find(|a| a["file"] == "futurecrm.wasm").unwrap().clone();
    assert_eq!(future["state"], "failed");
    let error = future["lastError"].as_str().unwrap();
    assert!(
        error.contains("switchboard:crm@9.0.0") && error.contains("serves switchboard:crm 0.1.0, 0.2.0"),
        "{error}"
    );
    assert_eq!(listing["servedWitVersions"], serde_json::json!(["0.1.0", "0.2.0"]));
    h.get("/implementedInterfaces?platform=futurecrm", None).await.assert_error(400, "UNKNOWN_PLATFORM");
    h.stop().await;
}

#[tokio::test]
async fn a_restart_with_unchanged_adapters_compiles_nothing() {
    let mut h = Harness::start().await;
    assert_eq!(h.metric("switchboard_adapter_compiles_total").await, 1.0, "the first start compiles");
    let cached = std::fs::read_dir(h.data.path().join("compiled")).unwrap().count();
    assert_eq!(cached, 1);
    h.restart().await;
    assert_eq!(h.metric("switchboard_adapter_compiles_total").await, 0.0, "the restart used the cache");
    let token = h.login().await;
    assert_eq!(h.get("/contact?phoneNumber=%2B16505551212", Some(&token)).await.json()["successful"], true);
    h.stop().await;
}

#[tokio::test]
async fn operator_endpoints_need_the_admin_token() {
    let h = Harness::start().await;
    let user = h.login().await;
    h.get("/admin/adapters", None).await.assert_error(401, "ADMIN_UNAUTHORIZED");
    h.get("/admin/adapters", Some(&user)).await.assert_error(401, "ADMIN_UNAUTHORIZED");
    h.send(Method::POST, "/admin/reload", Some("wrong"), None).await.assert_error(401, "ADMIN_UNAUTHORIZED");
    h.get("/metrics", None).await.assert_error(401, "ADMIN_UNAUTHORIZED");
    let m = h.admin(Method::GET, "/metrics").await;
    assert!(m.header("content-type").unwrap().starts_with("text/plain"));
    assert!(m.text.contains("switchboard_http_requests_total{"), "{}", m.text);
    assert!(m.text.contains("switchboard_adapter_call_duration_seconds_bucket{"), "{}", m.text);
    assert!(
        m.text.contains(
            "switchboard_outbound_requests_total{adapter=\"testcrm\",host=\"api.testcrm.example\",status=\"200\"}"
        ),
        "{}",
        m.text
    );
    h.stop().await;

    let h = Harness::start_with(test_support::sqlite_url(), &["testcrm"], &[], |c| c.admin_token.clear()).await;
    h.admin(Method::GET, "/admin/adapters").await.assert_error(403, "ADMIN_DISABLED");
    h.stop().await;
}
