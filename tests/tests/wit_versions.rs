//! The host serves every released WIT world side by side: `legacycrm`, a
//! frozen adapter of `switchboard:crm@0.1.0` (adapters/fixtures/legacycrm),
//! loads and serves next to the 0.2.0 `testcrm`, against the same Test CRM;
//! the operations 0.1.0 lacks answer it cleanly, and what clients are offered
//! follows each adapter's world.

#![allow(clippy::unwrap_used)] // a test crate: an unwrap that fails is a failed test

mod common;

use common::{Harness, call_log_body};
use reqwest::Method;
use serde_json::json;
use switchboard::store::test_support;
use switchboard_e2e::testcrm::DEMO_API_KEY;

async fn both() -> Harness {
    Harness::start_with(test_support::sqlite_url(), &["testcrm"], &["legacycrm"], |_| {}).await
}

#[tokio::test]
async fn a_wit_0_1_0_adapter_loads_and_serves_beside_a_0_2_0_one() {
    let h = both().await;
    let listing = h.admin(Method::GET, "/admin/adapters").await.json();
    assert_eq!(listing["servedWitVersions"], json!(["0.1.0", "0.2.0"]));
    let wit = |file: &str| {
        let entry = listing["adapters"].as_array().unwrap().iter().find(|a| a["file"] == file).unwrap().clone();
        assert_eq!(entry["state"], "active", "{entry}");
        entry["witVersion"].clone()
    };
    assert_eq!((wit("legacycrm.wasm"), wit("testcrm.wasm")), (json!("0.1.0"), json!("0.2.0")));

    // The 0.1.0 adapter does everything its world has, through the same host imports.
    let t = h.login_as("legacycrm", DEMO_API_KEY).await;
    let r = h.get("/contact?phoneNumber=%2B16505551212", Some(&t)).await;
    assert_eq!(r.json()["contact"][0]["name"], "Luke Skywalker", "{}", r.text);
    assert_eq!(r.header("x-switchboard-adapter").as_deref(), Some("legacycrm/0.1.0"));
    let r = h.post("/callLog", Some(&t), &call_log_body("s-legacy", "c-1001")).await;
    assert_eq!(r.json()["successful"], true, "{}", r.text);
    let r = h.patch("/callLog", Some(&t), &json!({"sessionId": "s-legacy", "note": "Plans delivered"})).await;
    assert_eq!(r.json()["successful"], true, "{}", r.text);
    let logs = h.get("/callLog?sessionIds=s-legacy&requireDetails=true", Some(&t)).await.json();
    assert_eq!(logs["logs"][0]["logData"]["note"], "Plans delivered", "{logs}");
    assert!(logs["logs"][0]["logData"]["dispositions"].is_null(), "0.1.0 has none: {logs}");
    let r = h
        .post(
            "/messageLog",
            Some(&t),
            &json!({"logInfo": {"conversationId": "conv-l", "messages": [
                {"id": "m-l1", "type": "SMS", "direction": "Inbound", "subject": "Hi", "from": {"phoneNumber": "+16505551212"}, "creationTime": "2026-11-22T10:00:00Z"},
                {"id": "m-l2", "type": "SMS", "direction": "Outbound", "subject": "Hello", "from": {"phoneNumber": "+14155550100"}, "creationTime": "2026-11-22T10:01:00Z"}]},
                "contactId": "c-1001"}),
        )
        .await;
    assert_eq!(r.json()["logIds"].as_array().map(Vec::len), Some(1), "one record, both messages: {}", r.text);
    let record = h.crm.state().activities.values().find(|a| a.external_id == "conv-l").unwrap().body.clone();
    assert!(record.contains("Hi") && record.contains("Hello"), "{record}");

    // The same Test CRM through the 0.2.0 adapter, at the same time.
    let t2 = h.login().await;
    let r = h.get("/contact?phoneNumber=%2B16505551212", Some(&t2)).await;
    assert_eq!(r.header("x-switchboard-adapter").as_deref(), Some("testcrm/0.2.0"));
    h.stop().await;
}

#[tokio::test]
async fn what_0_1_0_lacks_is_declined_cleanly_and_not_offered() {
    let h = both().await;
    let t = h.login_as("legacycrm", DEMO_API_KEY).await;
    h.post("/callLog", Some(&t), &call_log_body("s-1", "c-1001")).await;

    let r = h.get("/custom/contact/search?name=Luke", Some(&t)).await;
    let body = r.assert_error(200, "UNSUPPORTED_OPERATION");
    assert_eq!(body["contact"], json!([]), "an array, as the client reads it");
    assert!(body["returnMessage"]["message"].as_str().unwrap().contains("Legacy CRM"), "{body}");
    let r = h
        .send(Method::PUT, "/callDisposition", Some(&t), Some(&json!({"sessionId": "s-1", "dispositions": {"x": 1}})))
        .await;
    r.assert_error(200, "UNSUPPORTED_OPERATION");
    // Nothing was sent to the CRM for either.
    assert!(h.crm.seen("/v1/contacts").iter().all(|s| !s.query.contains("name=")));

    let legacy = h.get("/implementedInterfaces?platform=legacycrm", None).await.json();
    let current = h.get("/implementedInterfaces?platform=testcrm", None).await.json();
    for op in ["findContactWithName", "upsertCallDisposition"] {
        assert_eq!((legacy[op].clone(), current[op].clone()), (json!(false), json!(true)), "{op}");
    }
    let m = h.get("/crmManifest", None).await.json();
    let (legacy, current) = (&m["platforms"]["legacycrm"], &m["platforms"]["testcrm"]);
    assert_eq!(
        (legacy["page"]["useContactSearch"].clone(), legacy["disableDisposition"].clone()),
        (json!(false), json!(true))
    );
    assert_eq!(
        (current["page"]["useContactSearch"].clone(), current["disableDisposition"].clone()),
        (json!(true), json!(false))
    );
    assert_eq!((legacy["witVersion"].clone(), current["witVersion"].clone()), (json!("0.1.0"), json!("0.2.0")));
    h.stop().await;
}

#[tokio::test]
async fn a_0_2_0_create_carries_one_idempotency_key_per_call_and_user() {
    let h = Harness::start().await;
    let t = h.login().await;
    for session in ["s-a", "s-b"] {
        let r = h.post("/callLog", Some(&t), &call_log_body(session, "c-1001")).await;
        assert_eq!(r.json()["successful"], true, "{}", r.text);
    }
    let keys = h.crm.state().idempotency_keys.keys().cloned().collect::<Vec<_>>();
    assert_eq!(keys.len(), 2, "one key per call: {keys:?}");
    assert!(
        keys.iter().all(|k| k.contains(":sb-") && !k.contains("s-a") && !k.contains("s-b")),
        "names no ids: {keys:?}"
    );

    // The CRM honours it: a create repeated with the same key (a retry after
    // a crash) gets the first activity back, not a second one.
    let before = h.crm.activities().len();
    let key = keys[0].split_once(':').unwrap().1.to_owned();
    let again = reqwest::Client::new()
        .post(format!("{}/v1/activities", h.crm.base_url()))
        .header("x-api-key", DEMO_API_KEY)
        .header("idempotency-key", &key)
        .json(&json!({"kind": "call", "contactId": "c-1001"}))
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), 200);
    assert_eq!(h.crm.activities().len(), before);
    h.stop().await;
}
