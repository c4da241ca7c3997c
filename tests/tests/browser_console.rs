//! The operator console in a real browser (issue 16): Debian chromium,
//! driven by playwright-core (`tests/browser/console_flows.mjs`), logs in
//! with the admin token, watches the live figures, sees a broken adapter's
//! error after a bad file is dropped into the adapters directory and
//! reloaded, refreshes an OAuth connection whose refresh token the CRM
//! forgot and sees it turn `revoked`, replays a webhook endpoint, is refused
//! a form without its CSRF token, and logs out. No console errors.

#![allow(clippy::unwrap_used)] // a test crate: an unwrap that fails is a failed test

mod common;

use common::browser::{self, browser_ready, screenshots_dir};
use common::{ADMIN_TOKEN, Harness};
use serde_json::{Value, json};
use switchboard::store::test_support;

#[tokio::test]
async fn the_console_logs_in_shows_a_broken_adapter_and_a_connection_turning_revoked() {
    if !browser_ready() {
        return;
    }
    let h = Harness::start_with(test_support::sqlite_url(), &["testcrm", "testcrm-oauth"], &[], |c| {
        c.oauth.redirect_uri = "https://switchboard.example/oauth-callback".into();
        common::testcrm_oauth(c);
        c.webhooks.allow_loopback = true;
    })
    .await;
    // An App Connect user on OAuth, whose refresh token the CRM then forgets (the user revoked the app).
    common::oauth_login(&h).await;
    let listed: Value = h.admin(reqwest::Method::GET, "/admin/connections").await.json();
    let user = listed["connections"].as_array().unwrap().iter().find(|c| c["platform"] == "testcrm-oauth").unwrap();
    let user_id = user["userId"].as_str().unwrap().to_owned();
    assert_eq!(user["status"], "active");
    switchboard_e2e::oauth::forget_refresh_tokens(&h.crm.oauth);
    // An operator webhook endpoint nobody listens on, with a delivery waiting.
    let dead = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
    let r = h
        .client
        .post(format!("{}/admin/webhooks", h.base))
        .bearer_auth(ADMIN_TOKEN)
        .json(&json!({"url": format!("http://{dead}/hooks")}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let endpoint: Value = r.json().await.unwrap();
    let r = h
        .client
        .post(format!("{}/admin/webhooks/{}/test", h.base, endpoint["id"].as_str().unwrap()))
        .bearer_auth(ADMIN_TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 202);

    let jobs = json!({
        "host": h.base,
        "adminToken": ADMIN_TOKEN,
        "adaptersDir": h.config.adapters_dir,
        "oauthUser": user_id,
        "screenshots": screenshots_dir(),
    });
    let seen = browser::run("console_flows.mjs", &jobs).await;

    // Login: refused with a wrong token; the session is an HttpOnly, SameSite=Strict cookie.
    assert_eq!(seen["loginTitle"], "Log in", "{seen}");
    assert_eq!(seen["wrongToken"], "That is not the admin token.");
    assert_eq!(seen["afterLogin"], "Overview");
    assert_eq!(seen["cookie"], json!({"httpOnly": true, "sameSite": "Strict", "path": "/admin"}), "{seen}");
    // Live figures: four charts drawn from the samples.
    assert!(seen["charts"].as_u64().unwrap() >= 4, "{seen}");
    assert!(seen["requestsValue"].as_str().unwrap().ends_with("req/s"), "{seen}");

    // The broken file: reloaded, refused with its reason; the good adapters serve on.
    let before: Vec<String> =
        seen["adaptersBefore"].as_array().unwrap().iter().map(|r| format!("{}:{}", r[0], r[1])).collect();
    assert_eq!(before, ["\"testcrm-oauth.wasm\":\"active\"", "\"testcrm.wasm\":\"active\""], "{seen}");
    assert!(seen["reloadNotice"].as_str().unwrap().contains("1 failed"), "{seen}");
    assert_eq!(seen["brokenRow"]["state"], "failed", "{seen}");
    assert!(seen["brokenRow"]["error"].as_str().unwrap().len() > 20, "the error says why: {seen}");
    assert_eq!(seen["testcrmRow"], "active");
    assert!(seen["allowedHosts"].as_str().unwrap().contains("https://api.testcrm.example"), "{seen}");
    assert!(
        seen["reloadOneNotice"]
            .as_str()
            .unwrap()
            .starts_with("Reloaded testcrm.wasm: 0 loaded, 1 unchanged, 0 failed, 0 unloaded"),
        "{seen}"
    );

    // The connection: active, then refreshed now and refused by the CRM: revoked, with the CRM's reason.
    assert_eq!(seen["before"], "active", "{seen}");
    assert!(seen["filteredActive"].as_array().unwrap().iter().all(|s| s == "active"), "{seen}");
    assert_eq!(seen["after"], "revoked", "{seen}");
    assert!(seen["refreshNotice"].as_str().unwrap().contains("failed"), "{seen}");
    assert!(seen["afterError"].as_str().unwrap().contains("invalid_grant"), "{seen}");
    let listed: Value = h.admin(reqwest::Method::GET, "/admin/connections").await.json();
    let user = listed["connections"].as_array().unwrap().iter().find(|c| c["userId"] == user_id.as_str()).unwrap();
    assert_eq!(user["status"], "revoked", "the console's refresh reached the store");

    // Webhooks: the endpoint and its delivery, the replay answered.
    // (the test event, and the revoked connection's events: the operator's endpoint hears of App Connect users)
    assert_eq!(seen["endpoints"], 1, "{seen}");
    assert!(seen["deliveries"].as_u64().unwrap() >= 1, "{seen}");
    assert!(seen["replayNotice"].as_str().unwrap().contains("sent again"), "{seen}");

    // CSRF and logout.
    assert_eq!(seen["withoutCsrf"], 403);
    assert_eq!(seen["afterLogout"], 1, "{seen}");
    // No console errors, but the browser reporting the 403 the test provoked.
    for e in seen["consoleErrors"].as_array().unwrap() {
        assert!(e["step"] == "csrf" && e["text"].as_str().unwrap().contains("403"), "a console error: {e}");
    }
    h.stop().await;
}
