//! Fault injection (issue 13): the host killed (`kill -9`) while call logs and
//! message logs wait on the CRM, restarted, and the clients' retries: every
//! call and message ends up recorded exactly once, in the CRM and in
//! `GET /callLog`, and nothing stays stuck. On SQLite and PostgreSQL.

#![allow(clippy::unwrap_used)] // a test crate: an unwrap that fails is a failed test

mod common;

use common::{Harness, HostProcess, call_log_body};
use serde_json::{Value, json};
use std::time::{Duration, Instant};
use switchboard::store::test_support;

const CALLS: usize = 5;
const CONVERSATIONS: usize = 3;

fn message_body(n: usize) -> Value {
    json!({
        "logInfo": {
            "conversationId": format!("conv-{n}"),
            "messages": [{"id": format!("m-{n}"), "type": "SMS", "direction": "Inbound", "subject": format!("message {n}"),
                          "from": {"phoneNumber": "+16505551212"}, "creationTime": "2026-01-01T10:00:00Z"}],
            "correspondents": [{"phoneNumber": "+16505551212"}]
        },
        "contactId": "c-1001",
        "contactName": "Luke Skywalker"
    })
}

/// Every request the clients make: (path, body).
fn requests() -> Vec<(&'static str, Value)> {
    let calls = (0..CALLS).map(|n| ("/callLog", call_log_body(&format!("killed-{n}"), "c-1001")));
    calls.chain((0..CONVERSATIONS).map(|n| ("/messageLog", message_body(n)))).collect()
}

async fn post(client: &reqwest::Client, base: &str, token: &str, path: &str, body: &Value) -> Option<Value> {
    let r = client.post(format!("{base}{path}")).bearer_auth(token).json(body).send().await.ok()?;
    r.json().await.ok()
}

/// Retries like a client: while the answer is retryable (or none came), again.
async fn until_done(client: &reqwest::Client, base: &str, token: &str, path: &str, body: &Value) -> Value {
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        match post(client, base, token, path, body).await {
            Some(v) if v["successful"] == true => return v,
            Some(v) if v["retryable"] != true => panic!("{path} failed for good after the restart: {v}"),
            answer => assert!(Instant::now() < deadline, "{path} still not logged after 90 s: {answer:?}"),
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

async fn kill_mid_logging_then_retry(url: String) {
    let h = Harness::start_with(url, &["testcrm"], &[], |c| {
        // The lease of a reservation is the wall deadline + 5 s.
        c.limits.adapter_wall_ms = 3000;
    })
    .await;
    let token = h.login().await;
    let client = reqwest::Client::new();
    let before = h.crm.activities().len();

    // The CRM creates each record at once and answers late: the host is
    // killed after the records exist and before it learns their ids.
    h.crm.set_answer_delay(Duration::from_secs(60));
    let doomed = HostProcess::spawn(&h.config);
    let in_flight: Vec<_> = requests()
        .into_iter()
        .map(|(path, body)| {
            let (client, base, token) = (client.clone(), doomed.base.clone(), token.clone());
            tokio::spawn(async move { post(&client, &base, &token, path, &body).await })
        })
        .collect();
    let deadline = Instant::now() + Duration::from_secs(60);
    while h.crm.activities().len() < before + CALLS + CONVERSATIONS {
        assert!(Instant::now() < deadline, "the CRM never received every create");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    drop(doomed); // SIGKILL
    for request in in_flight {
        assert_eq!(request.await.unwrap(), None, "no answer came from the killed host");
    }

    // Restarted; the clients retry everything.
    h.crm.set_answer_delay(Duration::ZERO);
    let restarted = HostProcess::spawn(&h.config);
    let mut logged = Vec::new();
    for (path, body) in requests() {
        logged.push(until_done(&client, &restarted.base, &token, path, &body).await);
    }
    let activities = h.crm.activities();
    assert_eq!(activities.len(), before + CALLS + CONVERSATIONS, "each call and message once, no duplicates");
    // The host's records name the CRM's.
    let ids: Vec<&str> = activities.iter().map(|a| a.id.as_str()).collect();
    for answer in &logged[..CALLS] {
        assert!(ids.contains(&answer["logId"].as_str().unwrap()), "{answer}");
    }
    for answer in &logged[CALLS..] {
        assert_eq!(answer["logIds"].as_array().unwrap().len(), 1, "{answer}");
        assert!(ids.contains(&answer["logIds"][0].as_str().unwrap()), "{answer}");
    }
    let sessions: Vec<String> = (0..CALLS).map(|n| format!("killed-{n}")).collect();
    let r = client
        .get(format!("{}/callLog?sessionIds={}", restarted.base, sessions.join(",")))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    let found: Value = r.json().await.unwrap();
    for (n, log) in found["logs"].as_array().unwrap().iter().enumerate() {
        assert_eq!(log["matched"], true, "{found}");
        assert_eq!(log["logId"], logged[n]["logId"], "{found}");
    }
    // Logging again changes nothing: the calls are logged, the messages too.
    let again = post(&client, &restarted.base, &token, "/callLog", &call_log_body("killed-0", "c-1001")).await.unwrap();
    assert_eq!(again["errorCode"], "CALL_LOG_EXISTS", "{again}");
    let again = post(&client, &restarted.base, &token, "/messageLog", &message_body(0)).await.unwrap();
    assert_eq!(again["logIds"], json!([]), "{again}");
    assert_eq!(h.crm.activities().len(), before + CALLS + CONVERSATIONS);
    drop(restarted);
    h.stop().await;
}

#[tokio::test]
async fn a_host_killed_while_logging_loses_nothing_and_duplicates_nothing_sqlite() {
    kill_mid_logging_then_retry(test_support::sqlite_url()).await;
}

#[tokio::test]
async fn a_host_killed_while_logging_loses_nothing_and_duplicates_nothing_postgres() {
    let Some(url) = test_support::postgres_url().await else { return };
    kill_mid_logging_then_retry(url).await;
}

#[tokio::test]
async fn sigterm_lets_the_calls_in_flight_finish_then_exits() {
    let h = Harness::start().await;
    let token = h.login().await;
    let client = reqwest::Client::new();
    h.crm.set_delay(Duration::from_millis(1500));
    let mut host = HostProcess::spawn(&h.config);
    let call = {
        let (client, base, token) = (client.clone(), host.base.clone(), token.clone());
        tokio::spawn(
            async move { post(&client, &base, &token, "/callLog", &call_log_body("graceful-1", "c-1001")).await },
        )
    };
    let deadline = Instant::now() + Duration::from_secs(30);
    while h.crm.state().in_flight == 0 {
        assert!(Instant::now() < deadline, "the call never reached the CRM");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    host.terminate();
    // The call in flight is answered: logged, not cut off.
    let answer = call.await.unwrap().expect("an answer, not a dropped connection");
    assert_eq!(answer["successful"], true, "{answer}");
    let status = tokio::task::spawn_blocking(move || {
        let status = host.wait_exit(Duration::from_secs(60));
        drop(host);
        status
    })
    .await
    .unwrap();
    assert!(status.success(), "a clean exit: {status}");
    // What it logged is recorded: another host sees the call as logged.
    let r = h.get("/callLog?sessionIds=graceful-1", Some(&token)).await;
    assert_eq!(r.json()["logs"][0]["matched"], true, "{}", r.text);
    assert_eq!(r.json()["logs"][0]["logId"], answer["logId"], "{}", r.text);
    h.stop().await;
}

#[tokio::test]
async fn a_crm_that_fails_or_times_out_mid_create_leaves_nothing_stuck_and_nothing_twice() {
    let h = Harness::start_with(test_support::sqlite_url(), &["testcrm"], &[], |c| {
        c.limits.outbound_timeout_ms = 500;
    })
    .await;
    let token = h.login().await;
    let before = h.crm.activities().len();

    // An outage: the create answers 500, nothing is created; the key is released.
    h.crm.fail_next(1);
    let failed = h.post("/callLog", Some(&token), &call_log_body("outage-1", "c-1001")).await.json();
    assert_eq!(failed["successful"], false, "{failed}");
    let r = h.get("/callLog?sessionIds=outage-1", Some(&token)).await.json();
    assert_eq!(r["logs"][0]["matched"], false, "not logged, and not stuck: {r}");
    let logged = until_done(&h.client, &h.base, &token, "/callLog", &call_log_body("outage-1", "c-1001")).await;
    assert_eq!(h.crm.activities().len(), before + 1);

    // A create the CRM did but answered too late: the host gave up (timeout),
    // the retry's idempotency key finds the record the first attempt made.
    h.crm.set_answer_delay(Duration::from_secs(1));
    let timed_out = h.post("/callLog", Some(&token), &call_log_body("late-1", "c-1001")).await.json();
    assert_eq!(timed_out["successful"], false, "{timed_out}");
    assert_eq!(h.crm.activities().len(), before + 2, "the CRM did create it");
    h.crm.set_answer_delay(Duration::ZERO);
    let late = until_done(&h.client, &h.base, &token, "/callLog", &call_log_body("late-1", "c-1001")).await;
    let activities = h.crm.activities();
    assert_eq!(activities.len(), before + 2, "no second record");
    assert!(activities.iter().any(|a| a.id == late["logId"]), "{late}");
    assert_ne!(late["logId"], logged["logId"]);
    let r = h.get("/callLog?sessionIds=outage-1,late-1", Some(&token)).await.json();
    assert_eq!(r["logs"][0]["logId"], logged["logId"], "{r}");
    assert_eq!(r["logs"][1]["logId"], late["logId"], "{r}");
    h.stop().await;
}
