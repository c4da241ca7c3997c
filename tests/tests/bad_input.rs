//! Bad input gets a 4xx JSON error with a stable code and a request id, and
//! changes nothing.

#![allow(clippy::unwrap_used)] // a test crate: an unwrap that fails is a failed test

mod common;

use common::Harness;
use serde_json::json;

#[tokio::test]
async fn bad_requests_get_json_errors_and_change_nothing() {
    let h = Harness::start_with(switchboard::store::test_support::sqlite_url(), &["testcrm"], &[], |c| {
        c.limits.max_body_bytes = 64 * 1024;
    })
    .await;
    let t = h.login().await;
    let url = |p: &str| format!("{}{}", h.base, p);

    // Missing phoneNumber (absent and empty).
    h.get("/contact", Some(&t)).await.assert_error(400, "MISSING_PARAMETER");
    h.get("/contact?phoneNumber=", Some(&t)).await.assert_error(400, "MISSING_PARAMETER");
    h.post("/contact", Some(&t), &json!({"newContactName": "X"})).await.assert_error(400, "MISSING_PARAMETER");

    // Malformed JSON.
    let r = h
        .client
        .post(url("/callLog"))
        .bearer_auth(&t)
        .header("content-type", "application/json")
        .body("{\"logInfo\": ")
        .send()
        .await
        .unwrap();
    let reply = common::Reply { status: r.status(), headers: r.headers().clone(), text: r.text().await.unwrap() };
    reply.assert_error(400, "INVALID_JSON");

    // JSON of the wrong shape.
    h.post("/callLog", Some(&t), &json!({"logInfo": "nope", "contactId": "c-1001"}))
        .await
        .assert_error(400, "INVALID_PARAMETER");
    h.post("/callLog", Some(&t), &json!({"logInfo": {"direction": "Inbound"}, "contactId": "c-1001"}))
        .await
        .assert_error(400, "MISSING_PARAMETER");
    h.post("/callLog", Some(&t), &json!({"logInfo": {"sessionId": "s-x"}}))
        .await
        .assert_error(400, "MISSING_PARAMETER");

    // Not JSON at all.
    let r = h.client.post(url("/messageLog")).bearer_auth(&t).body("hello").send().await.unwrap();
    let reply = common::Reply { status: r.status(), headers: r.headers().clone(), text: r.text().await.unwrap() };
    reply.assert_error(400, "INVALID_JSON");

    // Oversize body.
    let big = json!({"logInfo": {"sessionId": "s-big"}, "contactId": "c-1001", "note": "x".repeat(100 * 1024)});
    h.post("/callLog", Some(&t), &big).await.assert_error(413, "BODY_TOO_LARGE");

    // Too many session ids: refused, not truncated.
    h.get("/callLog?sessionIds=a,b,c,d,e,f", Some(&t)).await.assert_error(400, "TOO_MANY_SESSION_IDS");
    h.get("/callLog", Some(&t)).await.assert_error(400, "MISSING_PARAMETER");

    // Unknown route and wrong method are JSON too.
    h.get("/nope", None).await.assert_error(404, "ROUTE_NOT_FOUND");
    h.send(reqwest::Method::DELETE, "/contact", Some(&t), None).await.assert_error(405, "METHOD_NOT_ALLOWED");

    // Nothing reached the CRM's write endpoints, nothing was reserved:
    assert!(h.crm.activities().is_empty());
    let r = h.post("/callLog", Some(&t), &json!({"logInfo": {"sessionId": "s-big"}, "contactId": "c-1001"})).await;
    assert_eq!(r.json()["successful"], true, "{}", r.text);
    // A caller's request id is echoed back.
    let r = h.client.get(url("/isAlive")).header("x-request-id", "trace-abc-123").send().await.unwrap();
    assert_eq!(r.headers()["x-request-id"], "trace-abc-123");
    h.stop().await;
}

#[tokio::test]
async fn a_start_time_past_the_year_9999_is_refused_not_a_dropped_connection() {
    let h = Harness::start().await;
    let t = h.login().await;
    let mut body = common::call_log_body("s-far", "c-1001");
    body["logInfo"]["startTime"] = json!(9_223_372_036_854_775_808u64);
    let r = h.post("/callLog", Some(&t), &body).await;
    assert!(r.json()["returnMessage"]["message"].as_str().unwrap().contains("logInfo.startTime"), "{}", r.text);
    r.assert_error(400, "INVALID_PARAMETER");
    assert!(h.crm.activities().is_empty(), "nothing was logged");
    // The call can still be logged with a good time, and edited with a bad one refused.
    body["logInfo"]["startTime"] = json!(1716800000000u64);
    assert_eq!(h.post("/callLog", Some(&t), &body).await.json()["successful"], true);
    let r = h.patch("/callLog", Some(&t), &json!({"sessionId": "s-far", "startTime": 253_402_300_800_000u64})).await;
    r.assert_error(400, "INVALID_PARAMETER");
    h.stop().await;
}

#[tokio::test]
async fn any_method_a_client_invents_is_one_metric_label() {
    let h = Harness::start().await;
    let long = "X".repeat(20_000);
    for i in 0..5 {
        let method = reqwest::Method::from_bytes(format!("{long}{i}").as_bytes()).unwrap();
        let r = h.client.request(method, format!("{}/isAlive", h.base)).send().await.unwrap();
        assert_eq!(r.status(), 405);
    }
    let metrics = h.admin(reqwest::Method::GET, "/metrics").await.text;
    assert!(!metrics.contains("XXXX"), "no client-chosen method became a label");
    assert!(metrics.contains("method=\"other\""), "they are counted as `other`");
    assert!(metrics.len() < 200_000, "the scrape stays small: {} bytes", metrics.len());
    h.stop().await;
}
