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
    reply.assert_error(415, "INVALID_JSON");

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
