//! Two (or twenty) concurrent POST /callLog for one session make exactly one
//! CRM record, on SQLite and on PostgreSQL.

#![allow(clippy::unwrap_used)] // a test crate: an unwrap that fails is a failed test

mod common;

use common::{Harness, call_log_body};
use std::time::Duration;
use switchboard::store::test_support;

async fn concurrent_duplicates_make_one_record(database_url: String) {
    let h = Harness::start_with(database_url, &["testcrm"], &[], |_| {}).await;
    let t = h.login().await;
    // Widen the race window: the CRM takes 150 ms per request.
    h.crm.set_delay(Duration::from_millis(150));
    let body = call_log_body("dup-1", "c-1001");
    let attempts = (0..20).map(|_| h.post("/callLog", Some(&t), &body));
    let replies = futures::future::join_all(attempts).await;
    let mut created = Vec::new();
    for r in &replies {
        assert_eq!(r.status, 200, "{}", r.text);
        let body = r.json();
        if body["successful"] == true {
            created.push(body["logId"].as_str().unwrap().to_owned());
        } else {
            let code = body["errorCode"].as_str().unwrap();
            assert!(code == "CALL_LOG_IN_PROGRESS" || code == "CALL_LOG_EXISTS", "{body}");
            assert!(body["returnMessage"]["message"].as_str().unwrap().contains("call"), "{body}");
        }
    }
    assert_eq!(created.len(), 1, "exactly one request created the log");
    let calls: Vec<_> = h.crm.activities().into_iter().filter(|a| a.external_id == "dup-1").collect();
    assert_eq!(calls.len(), 1, "exactly one CRM record");
    assert_eq!(calls[0].id, created[0]);

    // Later duplicates point at the existing record.
    let body =
        h.post("/callLog", Some(&t), &call_log_body("dup-1", "c-1001")).await.assert_error(200, "CALL_LOG_EXISTS");
    assert_eq!(body["logId"], created[0].as_str());
    h.stop().await;
}

#[tokio::test]
async fn concurrent_duplicates_on_sqlite() {
    concurrent_duplicates_make_one_record(test_support::sqlite_url()).await;
}

#[tokio::test]
async fn concurrent_duplicates_on_postgres() {
    let Some(url) = test_support::postgres_url().await else {
        return;
    };
    concurrent_duplicates_make_one_record(url).await;
}

#[tokio::test]
async fn a_failed_crm_call_frees_the_session_for_a_retry() {
    let h = Harness::start().await;
    let t = h.login().await;
    // `Retry-After: 0`: the CRM asks for no wait, so the retry is sent at once.
    h.crm.throttle_next(1, 0);
    h.post("/callLog", Some(&t), &call_log_body("retry-1", "c-1001")).await.assert_error(200, "CRM_RATE_LIMITED");
    let r = h.post("/callLog", Some(&t), &call_log_body("retry-1", "c-1001")).await;
    assert_eq!(r.json()["successful"], true, "{}", r.text);
    assert_eq!(h.crm.activities().iter().filter(|a| a.external_id == "retry-1").count(), 1);
    h.stop().await;
}
