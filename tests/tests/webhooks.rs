//! Webhooks (issue 15) over real HTTP: a receiver that verifies every
//! delivery with the `standardwebhooks` package from PyPI gets each event of
//! a scripted session once; retries, `Retry-After`, `410 Gone`, recovery,
//! rotation, the SSRF guard, a killed host and two replicas.

#![allow(clippy::unwrap_used)] // a test crate: an unwrap that fails is a failed test

mod common;

use common::api_v1::{api, api_at, problem, workspace};
use common::receiver::{self, Receiver, assert_once_each, types};
use common::{ADMIN_TOKEN, Harness, HostProcess, Reply};
use reqwest::Method;
use serde_json::{Value, json};
use std::time::Duration;
use switchboard::config::Config;
use switchboard::server::Server;
use switchboard::store::test_support;
use switchboard_e2e::testcrm::DEMO_API_KEY;

/// Long enough for the first retry (5 s ± 10 %) and slow CI machines.
const PATIENCE: Duration = Duration::from_secs(60);

fn loopback(c: &mut Config) {
    c.webhooks.allow_loopback = true;
}

async fn operator(h: &Harness, method: Method, path: &str, body: Option<&Value>) -> Reply {
    let mut req = h.client.request(method, format!("{}/admin{path}", h.base)).bearer_auth(ADMIN_TOKEN);
    if let Some(b) = body {
        req = req.json(b);
    }
    let resp = req.send().await.unwrap();
    Reply { status: resp.status(), headers: resp.headers().clone(), text: resp.text().await.unwrap() }
}

/// Creates an endpoint; (id, secret).
async fn endpoint(h: &Harness, key: &str, url: &str, events: Value) -> (String, String) {
    let r = api(h, Method::POST, "/webhooks", key, Some(&json!({"url": url, "events": events}))).await;
    assert_eq!(r.status, 201, "{}", r.text);
    let v = r.json();
    let secret = v["secret"].as_str().unwrap().to_owned();
    assert!(secret.starts_with("whsec_"), "{v}");
    (v["id"].as_str().unwrap().to_owned(), secret)
}

fn connect_body(customer: &str) -> Value {
    json!({"connector": "testcrm", "customerId": customer, "apiKey": DEMO_API_KEY})
}

async fn session_once_each(url: String) {
    if !receiver::available() {
        return;
    }
    let h = Harness::start_with(url, &["testcrm"], &[], loopback).await;
    let rx = Receiver::start();
    let (_, key) = workspace(&h, "Acme").await;
    let (_, ws_secret) = endpoint(&h, &key, &rx.url("/acme"), json!([])).await;
    let (_, calls_secret) = endpoint(&h, &key, &rx.url("/calls"), json!(["call_log.created"])).await;
    let r = operator(&h, Method::POST, "/webhooks", Some(&json!({"url": rx.url("/operator")}))).await;
    assert_eq!(r.status, 201, "{}", r.text);
    let op_secret = r.json()["secret"].as_str().unwrap().to_owned();
    rx.accept(&[&ws_secret, &calls_secret, &op_secret]).await;

    // A workspace's session: connect, reconnect, contact, call, update, message, disconnect.
    let r = api(&h, Method::POST, "/integrations", &key, Some(&connect_body("cust42"))).await;
    assert_eq!(r.status, 201, "{}", r.text);
    let id = r.json()["id"].as_str().unwrap().to_owned();
    let r = api(&h, Method::POST, "/integrations", &key, Some(&connect_body("cust42"))).await;
    assert_eq!(r.status, 200, "{}", r.text);
    let path = |p: &str| format!("/integrations/{id}{p}");
    let new = json!({"phoneNumber": "+14155550123", "newContactName": "Han Solo"});
    assert_eq!(api(&h, Method::POST, &path("/contacts"), &key, Some(&new)).await.status, 201);
    let call = common::call_log_body("wh-s-1", "c-1001");
    let r = api(&h, Method::POST, &path("/call-logs"), &key, Some(&call)).await;
    assert_eq!(r.status, 201, "{}", r.text);
    let log_id = r.json()["logId"].as_str().unwrap().to_owned();
    problem(&api(&h, Method::POST, &path("/call-logs"), &key, Some(&call)).await, 409, "CALL_LOG_EXISTS");
    let update = json!({"sessionId": "wh-s-1", "note": "Follow up"});
    assert_eq!(api(&h, Method::PATCH, &path("/call-logs"), &key, Some(&update)).await.status, 200);
    let msg = json!({"id": "wh-m1", "type": "SMS", "direction": "Inbound", "subject": "hello",
                     "from": {"phoneNumber": "+16505551212"}, "creationTime": "2026-01-01T10:00:00Z"});
    let body = json!({"logInfo": {"conversationId": "wh-conv", "messages": [msg],
                                  "correspondents": [{"phoneNumber": "+16505551212"}]}, "contactId": "c-1001"});
    assert_eq!(api(&h, Method::POST, &path("/message-logs"), &key, Some(&body)).await.status, 201);
    let again = api(&h, Method::POST, &path("/message-logs"), &key, Some(&body)).await;
    assert_eq!(again.json()["logIds"], json!([]), "logged already: {}", again.text);
    assert_eq!(api(&h, Method::DELETE, &path(""), &key, None).await.status, 200);

    // An App Connect user's: login, a call, logout (the operator's endpoint hears of them).
    let token = h.login().await;
    let r = h.post("/callLog", Some(&token), &common::call_log_body("ac-s-1", "c-1001")).await;
    assert_eq!(r.json()["successful"], true, "{}", r.text);
    assert_eq!(h.post("/unAuthorize", Some(&token), &json!({})).await.status, 200);

    let expected = [
        "call_log.created",
        "call_log.updated",
        "contact.created",
        "integration.connected",
        "integration.disconnected",
        "integration.reconnected",
        "message_log.created",
    ];
    let acme = rx.wait_for("/acme", expected.len(), PATIENCE).await;
    assert_eq!(types(&acme), expected, "{acme:#?}");
    let calls = rx.wait_for("/calls", 1, PATIENCE).await;
    assert_eq!(types(&calls), ["call_log.created"]);
    let op = rx.wait_for("/operator", 3, PATIENCE).await;
    assert_eq!(types(&op), ["call_log.created", "integration.connected", "integration.disconnected"], "{op:#?}");
    // Nothing comes twice, even given time.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let all = rx.deliveries().await;
    assert_eq!(all.len(), expected.len() + 1 + 3, "{all:#?}");
    assert_once_each(&all.iter().filter(|d| d["path"] == "/acme").cloned().collect::<Vec<_>>());
    assert!(rx.invalid().await.is_empty(), "every signature verified");

    // Each body names its integration and customer, never a secret.
    for d in &acme {
        let b = &d["body"];
        assert_eq!(b["event"], b["type"], "{b}");
        assert_eq!(b["id"], d["webhookId"], "{b}");
        assert_eq!(b["data"]["integrationId"], id, "{b}");
        assert_eq!(b["data"]["customerId"], "cust42", "{b}");
        assert_eq!(b["data"]["connector"], "testcrm", "{b}");
        assert!(!b.to_string().contains(DEMO_API_KEY), "{b}");
        assert!(d["userAgent"].as_str().unwrap().starts_with("Switchboard-Webhooks/"), "{d}");
    }
    let created = acme.iter().find(|d| d["body"]["type"] == "call_log.created").unwrap();
    assert_eq!(created["body"]["data"]["logId"], log_id);
    assert_eq!(created["body"]["data"]["sessionId"], "wh-s-1");
    assert!(op.iter().all(|d| d["body"]["data"]["platform"] == "testcrm" && d["body"]["data"]["userId"].is_string()));
    h.stop().await;
}

#[tokio::test]
async fn a_verifying_receiver_gets_every_event_of_a_session_once_sqlite() {
    session_once_each(test_support::sqlite_url()).await;
}

#[tokio::test]
async fn a_verifying_receiver_gets_every_event_of_a_session_once_postgres() {
    let Some(url) = test_support::postgres_url().await else { return };
    session_once_each(url).await;
}

#[tokio::test]
async fn endpoints_are_managed_their_secret_shown_once_rotated_with_an_overlap_and_tested() {
    if !receiver::available() {
        return;
    }
    let h = Harness::start_with(test_support::sqlite_url(), &["testcrm"], &[], loopback).await;
    let rx = Receiver::start();
    let (_, key) = workspace(&h, "Acme").await;
    let (_, other_key) = workspace(&h, "Other").await;
    let (id, secret) = endpoint(&h, &key, &rx.url("/in"), json!(["integration.connected"])).await;

    // Listed and read without the secret; another workspace sees nothing.
    let r = api(&h, Method::GET, "/webhooks", &key, None).await;
    assert_eq!(r.json()["endpoints"][0]["id"], id, "{}", r.text);
    assert!(!r.text.contains(&secret) && !r.text.contains("whsec_"), "{}", r.text);
    let r = api(&h, Method::GET, &format!("/webhooks/{id}"), &key, None).await;
    assert_eq!(r.json()["events"], json!(["integration.connected"]));
    assert_eq!(r.json()["active"], true);
    problem(&api(&h, Method::GET, &format!("/webhooks/{id}"), &other_key, None).await, 404, "WEBHOOK_NOT_FOUND");
    assert_eq!(api(&h, Method::GET, "/webhooks", &other_key, None).await.json()["endpoints"], json!([]));
    let r = api(&h, Method::POST, "/webhooks", &key, Some(&json!({"url": rx.url("/x"), "events": ["nope"]}))).await;
    assert!(problem(&r, 400, "INVALID_REQUEST")["detail"].as_str().unwrap().contains("integration.connected"));
    let r = api(&h, Method::GET, "/webhooks/event-types", &key, None).await;
    assert!(r.json()["types"].as_array().unwrap().iter().any(|t| t["name"] == "call_log.updated"), "{}", r.text);

    // A test event reaches this endpoint only, signed with its secret.
    rx.accept(&[&secret]).await;
    let r = api(&h, Method::POST, &format!("/webhooks/{id}/test"), &key, None).await;
    assert_eq!(r.status, 202, "{}", r.text);
    let got = rx.wait_for("/in", 1, PATIENCE).await;
    assert_eq!(got[0]["body"]["type"], "webhook.test");
    assert_eq!(got[0]["webhookId"], r.json()["eventId"]);

    // Rotation: both secrets sign during the overlap; a receiver knowing
    // only the old one, or only the new one, verifies.
    let r =
        api(&h, Method::POST, &format!("/webhooks/{id}/rotate-secret"), &key, Some(&json!({"overlapSeconds": 3600})))
            .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let new_secret = r.json()["secret"].as_str().unwrap().to_owned();
    assert_ne!(new_secret, secret);
    assert!(r.json()["previousSecretExpiresAt"].is_string(), "{}", r.text);
    rx.accept(&[&secret]).await;
    api(&h, Method::POST, &format!("/webhooks/{id}/test"), &key, None).await;
    let got = rx.wait_for("/in", 2, PATIENCE).await;
    assert_eq!(got[1]["signatures"].as_array().unwrap().len(), 2, "{:#?}", got[1]);
    rx.accept(&[&new_secret]).await;
    api(&h, Method::POST, &format!("/webhooks/{id}/test"), &key, None).await;
    rx.wait_for("/in", 3, PATIENCE).await;
    // Without an overlap the old secret stops signing at once.
    api(&h, Method::POST, &format!("/webhooks/{id}/rotate-secret"), &key, Some(&json!({"overlapSeconds": 0}))).await;
    rx.accept(&[&new_secret]).await;
    api(&h, Method::POST, &format!("/webhooks/{id}/test"), &key, None).await;
    let deadline = std::time::Instant::now() + PATIENCE;
    while rx.invalid().await.is_empty() {
        assert!(std::time::Instant::now() < deadline, "the delivery signed only by the newest secret never came");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // Filtered: an event type it did not subscribe to is not sent; paused, nothing is.
    let r = api(&h, Method::PATCH, &format!("/webhooks/{id}"), &key, Some(&json!({"active": false}))).await;
    assert_eq!(
        (r.json()["active"].clone(), r.json()["disabledReason"].clone()),
        (json!(false), json!("paused by its owner"))
    );
    api(&h, Method::POST, "/integrations", &key, Some(&connect_body("paused"))).await;
    let r =
        api(&h, Method::PATCH, &format!("/webhooks/{id}"), &key, Some(&json!({"active": true, "events": null}))).await;
    assert_eq!((r.json()["active"].clone(), r.json()["events"].clone()), (json!(true), Value::Null), "{}", r.text);

    // Deleted: gone from the list, 404 after.
    assert_eq!(api(&h, Method::DELETE, &format!("/webhooks/{id}"), &key, None).await.status, 204);
    problem(&api(&h, Method::DELETE, &format!("/webhooks/{id}"), &key, None).await, 404, "WEBHOOK_NOT_FOUND");
    assert_eq!(api(&h, Method::GET, "/webhooks", &key, None).await.json()["endpoints"], json!([]));
    assert!(
        rx.accepted("/in").await.iter().all(|d| d["body"]["type"] == "webhook.test"),
        "the paused endpoint got nothing"
    );
    h.stop().await;
}

#[tokio::test]
async fn a_receiver_down_then_up_gets_it_429_retry_after_is_honoured_410_disables_and_recover_resends() {
    if !receiver::available() {
        return;
    }
    let h = Harness::start_with(test_support::sqlite_url(), &["testcrm"], &[], loopback).await;
    let rx = Receiver::start();
    let (_, key) = workspace(&h, "Acme").await;
    let (down_id, s1) = endpoint(&h, &key, &rx.url("/down"), json!([])).await;
    let (busy_id, s2) = endpoint(&h, &key, &rx.url("/busy"), json!([])).await;
    let (gone_id, s3) = endpoint(&h, &key, &rx.url("/gone"), json!([])).await;
    let (_, s4) = endpoint(&h, &key, &rx.url("/watch"), json!(["webhook.endpoint_disabled"])).await;
    rx.accept(&[&s1, &s2, &s3, &s4]).await;

    // Down: the first attempt gets no answer; up again, the retry (5 s later) delivers.
    rx.set_down(true).await;
    api(&h, Method::POST, &format!("/webhooks/{down_id}/test"), &key, None).await;
    let deadline = std::time::Instant::now() + PATIENCE;
    loop {
        let d = latest_delivery(&h, &key, &down_id).await;
        if d["attempts"] == 1 {
            assert_eq!(d["status"], "pending", "{d}");
            assert!(d["attemptLog"][0]["status"].is_null() && d["attemptLog"][0]["error"].is_string(), "{d}");
            break;
        }
        assert!(std::time::Instant::now() < deadline, "{d}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    rx.set_down(false).await;
    rx.wait_for("/down", 1, PATIENCE).await;
    let d = latest_delivery(&h, &key, &down_id).await;
    assert_eq!((d["status"].clone(), d["attempts"].clone()), (json!("delivered"), json!(2)), "{d}");
    assert_eq!(d["attemptLog"][1]["status"], 204, "{d}");

    // 429 with Retry-After: 2 → attempted again after 2 s, not on the 5 s schedule.
    rx.script("/busy", json!([{"status": 429, "retryAfter": "2"}])).await;
    api(&h, Method::POST, &format!("/webhooks/{busy_id}/test"), &key, None).await;
    rx.wait_for("/busy", 1, PATIENCE).await;
    let all: Vec<Value> = rx.deliveries().await.into_iter().filter(|d| d["path"] == "/busy").collect();
    assert_eq!(all.len(), 2, "{all:#?}");
    assert_eq!((all[0]["status"].clone(), all[1]["status"].clone()), (json!(429), json!(204)));
    assert_eq!(all[0]["webhookId"], all[1]["webhookId"], "the same message, retried");
    let waited = all[1]["receivedAt"].as_f64().unwrap() - all[0]["receivedAt"].as_f64().unwrap();
    assert!((1.9..4.5).contains(&waited), "Retry-After 2 s, then the retry came after {waited:.2} s");
    let log = &latest_delivery(&h, &key, &busy_id).await["attemptLog"];
    assert_eq!((log[0]["status"].clone(), log[1]["status"].clone()), (json!(429), json!(204)), "{log}");

    // 410 Gone: disabled at once, a webhook.endpoint_disabled event, nothing more sent.
    rx.script("/gone", json!([{"status": 410}])).await;
    api(&h, Method::POST, &format!("/webhooks/{gone_id}/test"), &key, None).await;
    let watch = rx.wait_for("/watch", 1, PATIENCE).await;
    assert_eq!(watch[0]["body"]["type"], "webhook.endpoint_disabled");
    assert_eq!(watch[0]["body"]["data"]["endpointId"], gone_id);
    let r = api(&h, Method::GET, &format!("/webhooks/{gone_id}"), &key, None).await;
    assert_eq!(r.json()["active"], false, "{}", r.text);
    assert_eq!(r.json()["disabledReason"], "the endpoint answered 410 Gone");
    api(&h, Method::POST, "/integrations", &key, Some(&connect_body("after-gone"))).await;
    rx.wait_for("/down", 2, PATIENCE).await; // the others got that event
    let gone: Vec<Value> = rx.deliveries().await.into_iter().filter(|d| d["path"] == "/gone").collect();
    assert_eq!(gone.len(), 1, "only the one answered 410: {gone:#?}");
    problem(&api(&h, Method::POST, &format!("/webhooks/{gone_id}/recover"), &key, None).await, 409, "WEBHOOK_DISABLED");

    // Re-enabled and recovered: what failed is sent again (once).
    api(&h, Method::PATCH, &format!("/webhooks/{gone_id}"), &key, Some(&json!({"active": true}))).await;
    let r = api(&h, Method::POST, &format!("/webhooks/{gone_id}/recover?since=2020-01-01T00:00:00Z"), &key, None).await;
    assert_eq!((r.status.as_u16(), r.json()["requeued"].clone()), (202, json!(1)), "{}", r.text);
    let got = rx.wait_for("/gone", 1, PATIENCE).await;
    assert_eq!(got[0]["body"]["type"], "webhook.test");
    let r = api(&h, Method::POST, &format!("/webhooks/{gone_id}/recover"), &key, None).await;
    assert_eq!(r.json()["requeued"], 0, "nothing failed any more");
    h.stop().await;
}

async fn latest_delivery(h: &Harness, key: &str, endpoint: &str) -> Value {
    api(h, Method::GET, &format!("/webhooks/{endpoint}/deliveries"), key, None).await.json()["deliveries"][0].clone()
}

#[tokio::test]
async fn a_slow_receiver_holds_only_its_own_workers_a_hanging_one_times_out_and_redirects_are_not_followed() {
    if !receiver::available() {
        return;
    }
    let h = Harness::start_with(test_support::sqlite_url(), &["testcrm"], &[], |c| {
        loopback(c);
        c.webhooks.timeout_ms = 1500;
    })
    .await;
    let rx = Receiver::start();
    let (_, key) = workspace(&h, "Acme").await;
    let (slow, s1) = endpoint(&h, &key, &rx.url("/slow"), json!([])).await;
    let (fast, s2) = endpoint(&h, &key, &rx.url("/fast"), json!([])).await;
    let (hang, s3) = endpoint(&h, &key, &rx.url("/hang"), json!([])).await;
    let (moved, s4) = endpoint(&h, &key, &rx.url("/moved"), json!([])).await;
    rx.accept(&[&s1, &s2, &s3, &s4]).await;

    // 20 events to a receiver taking 1 s each, then one to a fast receiver:
    // the fast one is delivered while the slow backlog is still going (at
    // most 4 attempts at once go to one endpoint).
    rx.script("/slow", json!(vec![json!({"status": 204, "delayMs": 1000}); 20])).await;
    for _ in 0..20 {
        api(&h, Method::POST, &format!("/webhooks/{slow}/test"), &key, None).await;
    }
    api(&h, Method::POST, &format!("/webhooks/{fast}/test"), &key, None).await;
    rx.wait_for("/fast", 1, PATIENCE).await;
    let slow_done = rx.accepted("/slow").await.len();
    assert!(slow_done < 20, "the fast receiver waited for the slow one ({slow_done} of 20 done first)");

    // A receiver that answers after the 1.5 s timeout: the attempt failed, timed out, retried.
    rx.script("/hang", json!([{"status": 204, "delayMs": 4000}])).await;
    api(&h, Method::POST, &format!("/webhooks/{hang}/test"), &key, None).await;
    // A redirect is an answer, not followed: a failure to retry.
    rx.script("/moved", json!([{"status": 302, "location": rx.url("/followed")}])).await;
    api(&h, Method::POST, &format!("/webhooks/{moved}/test"), &key, None).await;
    let deadline = std::time::Instant::now() + PATIENCE;
    let (hung, redirected) = loop {
        let (hung, redirected) = (latest_delivery(&h, &key, &hang).await, latest_delivery(&h, &key, &moved).await);
        if hung["attempts"].as_i64() >= Some(1) && redirected["attempts"].as_i64() >= Some(1) {
            break (hung, redirected);
        }
        assert!(std::time::Instant::now() < deadline, "{hung} {redirected}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let first = &hung["attemptLog"][0];
    assert!(first["status"].is_null() && first["error"].as_str().unwrap().contains("timed out"), "{hung}");
    assert_eq!(hung["status"], "pending", "retried later: {hung}");
    assert_eq!(redirected["attemptLog"][0]["status"], 302, "{redirected}");
    assert_eq!(redirected["status"], "pending", "{redirected}");
    assert!(rx.deliveries().await.iter().all(|d| d["path"] != "/followed"), "the redirect was not followed");
    rx.wait_for("/slow", 20, PATIENCE).await;
    h.stop().await;
}

#[tokio::test]
async fn every_internal_address_is_refused_and_creation_is_rate_limited() {
    // The host's own policy: https to public addresses only (no loopback allowed).
    let h = Harness::start_with(test_support::sqlite_url(), &["testcrm"], &[], |c| {
        c.webhooks.max_endpoints_created_per_hour = 3;
    })
    .await;
    let (_, key) = workspace(&h, "Acme").await;
    for url in [
        "http://hooks.example.com/in",
        "https://127.0.0.1/in",
        "https://localhost/in",
        "https://[::1]/in",
        "https://[::ffff:127.0.0.1]/in",
        "https://169.254.169.254/latest/meta-data/",
        "https://[::ffff:a9fe:a9fe]/",
        "https://10.0.0.8/",
        "https://172.16.5.4/",
        "https://192.168.0.1/",
        "https://100.64.0.1/",
        "https://[fd00::1]/",
        "https://[fe80::1]/",
        "https://0x7f000001/",
        "https://user:pw@hooks.example.com/",
    ] {
        let r = api(&h, Method::POST, "/webhooks", &key, Some(&json!({"url": url}))).await;
        let p = problem(&r, 422, "WEBHOOK_URL_REFUSED");
        assert!(p["detail"].as_str().unwrap().len() > 10, "{url}: {p}");
    }
    // A public address passes (no name to resolve); the fourth creation within the hour does not.
    for n in 0..3 {
        let r =
            api(&h, Method::POST, "/webhooks", &key, Some(&json!({"url": format!("https://93.184.216.34/{n}")}))).await;
        assert_eq!(r.status, 201, "{}", r.text);
    }
    let r = api(&h, Method::POST, "/webhooks", &key, Some(&json!({"url": "https://93.184.216.34/4"}))).await;
    let p = problem(&r, 429, "WEBHOOK_CREATE_RATE_LIMITED");
    assert_eq!((p["retryable"].clone(), r.header("retry-after").as_deref()), (json!(true), Some("60")));
    // A patch to an internal URL is refused too.
    let id =
        api(&h, Method::GET, "/webhooks", &key, None).await.json()["endpoints"][0]["id"].as_str().unwrap().to_owned();
    let r = api(&h, Method::PATCH, &format!("/webhooks/{id}"), &key, Some(&json!({"url": "https://127.0.0.2/"}))).await;
    problem(&r, 422, "WEBHOOK_URL_REFUSED");
    h.stop().await;
}

/// (id, secret) of an endpoint made on the host at `base`.
async fn endpoint_at(base: &str, key: &str, url: &str) -> (String, String) {
    let client = reqwest::Client::new();
    let r = api_at(&client, base, Method::POST, "/webhooks", key, Some(&json!({"url": url}))).await;
    assert_eq!(r.status, 201, "{}", r.text);
    (r.json()["id"].as_str().unwrap().to_owned(), r.json()["secret"].as_str().unwrap().to_owned())
}

async fn test_events(base: &str, key: &str, endpoint: &str, n: usize) -> Vec<String> {
    let client = reqwest::Client::new();
    let mut ids = Vec::with_capacity(n);
    for _ in 0..n {
        let r = api_at(&client, base, Method::POST, &format!("/webhooks/{endpoint}/test"), key, None).await;
        assert_eq!(r.status, 202, "{}", r.text);
        ids.push(r.json()["eventId"].as_str().unwrap().to_owned());
    }
    ids
}

/// Waits until `path` accepted every event of `made`, then asserts that
/// nothing else came and nothing came twice (by `webhook-id`).
async fn assert_each_once(rx: &Receiver, path: &str, mut made: Vec<String>) {
    made.sort();
    let deadline = std::time::Instant::now() + Duration::from_secs(120);
    let distinct = |got: &[Value]| {
        let mut ids: Vec<String> = got.iter().map(|d| d["webhookId"].as_str().unwrap().to_owned()).collect();
        ids.sort();
        ids.dedup();
        ids
    };
    while distinct(&rx.accepted(path).await).len() < made.len() {
        assert!(std::time::Instant::now() < deadline, "{path}: not every event accepted within 120 s");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // Room for a late second copy to show.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let got = rx.accepted(path).await;
    assert_eq!(distinct(&got), made, "every event, and only those, by its id");
    receiver::assert_once_each(&got);
}

async fn killed_with_undelivered_events(url: String) {
    if !receiver::available() {
        return;
    }
    const EVENTS: usize = 500;
    // The in-process host only makes the workspace: it delivers nothing.
    let h = Harness::start_with(url, &["testcrm"], &[], |c| {
        loopback(c);
        c.webhooks.deliver = false;
        // The default 15 s timeout: a shorter one under load gives up on a
        // receiver that then accepts, and the retry is a second copy (at
        // least once is all a timed-out attempt can promise).
    })
    .await;
    let mut process = h.config.clone();
    process.webhooks.deliver = true;
    let rx = Receiver::start();
    let (_, key) = workspace(&h, "Acme").await;
    // The events are made and attempted by a host process while the receiver
    // is unavailable (503, try again in 15 s): the kill comes with attempts
    // in flight and every event undelivered.
    let doomed = HostProcess::spawn(&process);
    let (id, secret) = endpoint_at(&doomed.base, &key, &rx.url("/in")).await;
    rx.accept(&[&secret]).await;
    rx.script("/in", json!(vec![json!({"status": 503, "retryAfter": "15"}); EVENTS])).await;
    let made = test_events(&doomed.base, &key, &id, EVENTS).await;
    drop(doomed); // SIGKILL
    // The receiver stays unavailable for what the dead host sent: a request
    // it had written before the kill can still be read (and would be
    // accepted) after it, and nobody is left to hear that answer.
    let killed_at = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() + 1;
    rx.unavailable_before(killed_at).await;
    rx.script("/in", json!([])).await;
    assert!(rx.accepted("/in").await.is_empty(), "nothing was delivered before the kill");
    // The restarted host signs in a later second than anything the dead one sent.
    while std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() < killed_at {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let restarted = HostProcess::spawn(&process);
    assert_each_once(&rx, "/in", made).await;
    drop(restarted);
    h.stop().await;
}

#[tokio::test]
async fn a_host_killed_with_500_undelivered_events_delivers_every_one_after_restart_sqlite() {
    killed_with_undelivered_events(test_support::sqlite_url()).await;
}

#[tokio::test]
async fn a_host_killed_with_500_undelivered_events_delivers_every_one_after_restart_postgres() {
    let Some(url) = test_support::postgres_url().await else { return };
    killed_with_undelivered_events(url).await;
}

#[tokio::test]
async fn two_postgres_replicas_deliver_each_event_once() {
    if !receiver::available() {
        return;
    }
    let Some(url) = test_support::postgres_url().await else { return };
    const EVENTS: usize = 200;
    let a = Harness::start_with(url, &["testcrm"], &[], loopback).await;
    let b = Server::start(a.config.clone()).await.unwrap();
    let b_base = format!("http://{}", b.addr);
    let rx = Receiver::start();
    let (_, key) = workspace(&a, "Acme").await;
    let (id, secret) = endpoint_at(&a.base, &key, &rx.url("/in")).await;
    rx.accept(&[&secret]).await;
    // A slow receiver, so both replicas' workers are busy at once.
    rx.script("/in", json!(vec![json!({"status": 200, "delayMs": 20}); EVENTS])).await;
    let (half_a, half_b) =
        tokio::join!(test_events(&a.base, &key, &id, EVENTS / 2), test_events(&b_base, &key, &id, EVENTS / 2));
    let made: Vec<String> = half_a.into_iter().chain(half_b).collect();
    assert_each_once(&rx, "/in", made).await;
    let delivered_by = |metrics: String| -> f64 {
        metrics
            .lines()
            .find(|l| l.starts_with("switchboard_webhook_attempts_total{outcome=\"delivered\"}"))
            .and_then(|l| l.rsplit(' ').next())
            .and_then(|v| v.parse().ok())
            .unwrap_or(0.0)
    };
    let metrics_of = |base: String| async move {
        reqwest::Client::new()
            .get(format!("{base}/metrics"))
            .bearer_auth(ADMIN_TOKEN)
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
    };
    let (by_a, by_b) = (delivered_by(metrics_of(a.base.clone()).await), delivered_by(metrics_of(b_base).await));
    assert_eq!(by_a + by_b, EVENTS as f64, "each attempt delivered once, by one replica or the other");
    eprintln!("replica a delivered {by_a}, replica b {by_b}");
    b.stop().await.unwrap();
    a.stop().await;
}
