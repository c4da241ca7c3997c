//! Fault injection (issue 13): the host killed (`kill -9`) while call logs and
//! message logs wait on the CRM, restarted, and the clients' retries: every
//! call and message ends up recorded exactly once, in the CRM and in
//! `GET /callLog`, and nothing stays stuck. On SQLite and PostgreSQL. Also:
//! the CRM failing, answering too late or dropping the connection mid-create;
//! PostgreSQL going away under load; a full disk under SQLite; SIGTERM; a
//! rolling restart of two replicas on PostgreSQL under load.

#![allow(clippy::unwrap_used)] // a test crate: an unwrap that fails is a failed test

mod common;

use common::{Harness, HostProcess, call_log_body};
use serde_json::{Value, json};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};
use switchboard::store::test_support;
use switchboard_e2e::tcp_proxy::TcpProxy;

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
async fn a_crm_that_fails_times_out_or_drops_mid_create_leaves_nothing_stuck_and_nothing_twice_sqlite() {
    crm_faults_mid_create(test_support::sqlite_url()).await;
}

#[tokio::test]
async fn a_crm_that_fails_times_out_or_drops_mid_create_leaves_nothing_stuck_and_nothing_twice_postgres() {
    let Some(url) = test_support::postgres_url().await else { return };
    crm_faults_mid_create(url).await;
}

async fn crm_faults_mid_create(url: String) {
    let h = Harness::start_with(url, &["testcrm"], &[], |c| {
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

    // The connection dropped mid-answer, after the CRM made the record.
    h.crm.drop_next(1);
    let dropped = h.post("/callLog", Some(&token), &call_log_body("dropped-1", "c-1001")).await.json();
    assert_eq!(dropped["successful"], false, "{dropped}");
    assert_eq!(dropped["retryable"], true, "a cut connection is worth a retry: {dropped}");
    assert_eq!(h.crm.activities().len(), before + 3, "the CRM did create it");
    let recovered = until_done(&h.client, &h.base, &token, "/callLog", &call_log_body("dropped-1", "c-1001")).await;
    assert_eq!(h.crm.activities().len(), before + 3, "no second record");

    let r = h.get("/callLog?sessionIds=outage-1,late-1,dropped-1", Some(&token)).await.json();
    assert_eq!(r["logs"][0]["logId"], logged["logId"], "{r}");
    assert_eq!(r["logs"][1]["logId"], late["logId"], "{r}");
    assert_eq!(r["logs"][2]["logId"], recovered["logId"], "{r}");
    h.stop().await;
}

/// Clients logging calls one after another, each retrying like a client,
/// until `stop`: every failed answer they saw, and the sessions they logged.
struct Load {
    stop: Arc<AtomicBool>,
    clients: Vec<tokio::task::JoinHandle<Outcome>>,
}

/// What a load client saw: its failed answers, and (session, logId) of each call it logged.
type Outcome = (Vec<Value>, Vec<(String, String)>);

impl Load {
    /// `bases`: the replicas in rotation, tried in turn (one for one host).
    fn start(bases: Arc<std::sync::Mutex<Vec<String>>>, token: &str, clients: usize, tag: &str) -> Load {
        let stop = Arc::new(AtomicBool::new(false));
        let clients = (0..clients)
            .map(|k| {
                let (stop, bases, token, tag) = (stop.clone(), bases.clone(), token.to_owned(), tag.to_owned());
                tokio::spawn(async move {
                    let client = reqwest::Client::builder().timeout(Duration::from_secs(30)).build().unwrap();
                    let (mut failures, mut logged) = (Vec::new(), Vec::new());
                    let mut turn = k;
                    for n in 0.. {
                        if stop.load(Ordering::Relaxed) {
                            break;
                        }
                        let session = format!("{tag}-{k}-{n}");
                        let body = call_log_body(&session, "c-1001");
                        let deadline = Instant::now() + Duration::from_secs(90);
                        let mut retrying = false;
                        let answer = loop {
                            turn += 1;
                            let base = {
                                let bases = bases.lock().unwrap();
                                bases[turn % bases.len()].clone()
                            };
                            let sent = client.post(format!("{base}/callLog")).bearer_auth(&token).json(&body).send();
                            let answer = match sent.await {
                                Ok(r) => {
                                    let status = r.status().as_u16();
                                    let text = r.text().await.unwrap_or_default();
                                    let v: Value = serde_json::from_str(&text)
                                        .unwrap_or_else(|_| panic!("a JSON answer, not {status} {text:?}"));
                                    json!({"status": status, "body": v})
                                }
                                Err(e) => json!({"status": 0, "body": {"transport": e.to_string()}}),
                            };
                            if answer["body"]["successful"] == true {
                                break answer;
                            }
                            // An earlier attempt was recorded but its answer was lost (the
                            // database connection died after COMMIT reached it): the
                            // retry is told the call is logged, and its log id.
                            if answer["body"]["errorCode"] == "CALL_LOG_EXISTS" && retrying {
                                break answer;
                            }
                            failures.push(answer.clone());
                            retrying = true;
                            assert!(Instant::now() < deadline, "{session} not logged after 90 s: {answer}");
                            tokio::time::sleep(Duration::from_millis(250)).await;
                        };
                        logged.push((session, answer["body"]["logId"].as_str().unwrap().to_owned()));
                    }
                    (failures, logged)
                })
            })
            .collect();
        Load { stop, clients }
    }

    async fn finish(self) -> Outcome {
        self.stop.store(true, Ordering::Relaxed);
        let (mut failures, mut logged) = (Vec::new(), Vec::new());
        for client in self.clients {
            let (f, l) = client.await.unwrap();
            failures.extend(f);
            logged.extend(l);
        }
        (failures, logged)
    }
}

/// Every session is one CRM record, and `GET /callLog` names it.
async fn assert_logged_once(h: &Harness, base: &str, token: &str, before: usize, logged: &[(String, String)]) {
    let activities = h.crm.activities();
    assert_eq!(activities.len(), before + logged.len(), "one record per call, no duplicates, none lost");
    for chunk in logged.chunks(5) {
        let sessions: Vec<&str> = chunk.iter().map(|(s, _)| s.as_str()).collect();
        let r = h.client.get(format!("{base}/callLog?sessionIds={}", sessions.join(","))).bearer_auth(token);
        let found: Value = r.send().await.unwrap().json().await.unwrap();
        let logs = found["logs"].as_array().unwrap_or_else(|| panic!("{found}"));
        for (log, (session, log_id)) in logs.iter().zip(chunk) {
            assert_eq!(log["matched"], true, "{session}: {found}");
            assert_eq!(log["logId"], log_id.as_str(), "{session}: {found}");
        }
    }
}

#[tokio::test]
async fn postgres_going_away_under_load_gives_retryable_503s_then_service_resumes_losing_nothing() {
    let Some(url) = test_support::postgres_url().await else { return };
    // The host reaches PostgreSQL through a proxy that can vanish like a
    // restarting server: open connections closed, new ones refused.
    let mut via: reqwest::Url = url.parse().unwrap();
    let upstream =
        tokio::net::lookup_host((via.host_str().unwrap(), via.port().unwrap_or(5432))).await.unwrap().next().unwrap();
    let proxy = TcpProxy::start(upstream).await.unwrap();
    via.set_host(Some("127.0.0.1")).unwrap();
    via.set_port(Some(proxy.addr.port())).unwrap();
    let h = Harness::start_with(via.to_string(), &["testcrm"], &[], |c| c.limits.adapter_wall_ms = 3000).await;
    let token = h.login().await;
    let before = h.crm.activities().len();
    h.crm.set_delay(Duration::from_millis(50));

    let load = Load::start(Arc::new(std::sync::Mutex::new(vec![h.base.clone()])), &token, 4, "pg-outage");
    tokio::time::sleep(Duration::from_secs(1)).await;
    proxy.cut();
    tokio::time::sleep(Duration::from_secs(4)).await;
    // Meanwhile every answer is a clean, retryable 503 with a request id.
    let during = h.get("/contact?phoneNumber=%2B16505551212", Some(&token)).await;
    let error = during.assert_error(503, "DATABASE_UNAVAILABLE");
    assert_eq!(error["retryable"], true, "{error}");
    proxy.restore().await.unwrap();
    tokio::time::sleep(Duration::from_secs(2)).await;
    let (failures, logged) = load.finish().await;

    assert!(logged.len() >= 8, "the load went on: {} calls", logged.len());
    let outage: Vec<&Value> = failures.iter().filter(|f| f["body"]["errorCode"] == "DATABASE_UNAVAILABLE").collect();
    assert!(!outage.is_empty(), "the clients saw the outage: {failures:?}");
    for f in &failures {
        let code = f["body"]["errorCode"].as_str().unwrap_or_default();
        assert!(
            matches!(
                (f["status"].as_u64(), code),
                (Some(503), "DATABASE_UNAVAILABLE") | (Some(200), "CALL_LOG_IN_PROGRESS")
            ),
            "only clean outage answers: {f}"
        );
        assert_eq!(f["body"]["retryable"], true, "{f}");
        assert!(!f["body"]["requestId"].as_str().unwrap_or_default().is_empty(), "{f}");
    }
    // Service resumed by itself: reads and writes work, every call is logged once.
    let found = h.get("/contact?phoneNumber=%2B16505551212", Some(&token)).await.json();
    assert_eq!(found["contact"][0]["id"], "c-1001", "{found}");
    assert_logged_once(&h, &h.base, &token, before, &logged).await;
    h.stop().await;
}

/// A small tmpfs, unmounted when dropped: a disk that can really fill up.
struct SmallDisk(tempfile::TempDir);

impl SmallDisk {
    /// `None` where mounting is not allowed (not root): the test skips, never in CI.
    fn mount(size: &str) -> Option<SmallDisk> {
        let dir = tempfile::tempdir().unwrap();
        let mounted = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir.path())
            .status()
            .is_ok_and(|s| s.success());
        if !mounted {
            assert!(std::env::var("CI").map_or(true, |v| v != "true"), "CI runs as root and can mount a tmpfs");
            eprintln!("skipping: cannot mount a tmpfs here (not root)");
            return None;
        }
        Some(SmallDisk(dir))
    }

    /// Writes a file until the disk is full.
    fn fill(&self) -> std::path::PathBuf {
        use std::io::Write;
        let path = self.0.path().join("filler");
        let mut file = std::fs::File::create(&path).unwrap();
        let chunk = vec![0u8; 64 * 1024];
        while file.write_all(&chunk).is_ok() {}
        let _ = file.write_all(&[0; 1024]);
        path
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount").arg("-l").arg(self.0.path()).status();
    }
}

#[tokio::test]
async fn a_full_disk_under_sqlite_gives_a_clean_retryable_error_and_loses_nothing() {
    let Some(disk) = SmallDisk::mount("8m") else { return };
    let url = format!("sqlite://{}/switchboard.db?mode=rwc", disk.0.path().display());
    let h = Harness::start_with(url, &["testcrm"], &[], |c| c.limits.adapter_wall_ms = 3000).await;
    let token = h.login().await;
    let before = h.crm.activities().len();
    let first = until_done(&h.client, &h.base, &token, "/callLog", &call_log_body("disk-0", "c-1001")).await;
    let mut logged = vec![("disk-0".to_owned(), first["logId"].as_str().unwrap().to_owned())];

    let filler = disk.fill();
    // Calls go on being logged until SQLite needs a page the disk has not got.
    let mut refused = None;
    for n in 1..500 {
        let session = format!("disk-{n}");
        let r = h.post("/callLog", Some(&token), &call_log_body(&session, "c-1001")).await;
        if r.json()["successful"] == true {
            logged.push((session, r.json()["logId"].as_str().unwrap().to_owned()));
        } else {
            refused = Some((session, r));
            break;
        }
    }
    let (session, refused) = refused.expect("a full disk refuses a write");
    let error = refused.assert_error(503, "STORAGE_FULL");
    assert_eq!(error["retryable"], true, "{error}");
    // The host is still up and answers reads from what it stored.
    let r = h.get("/callLog?sessionIds=disk-0", Some(&token)).await.json();
    assert_eq!(r["logs"][0]["logId"], logged[0].1.as_str(), "{r}");

    // Room again: the same request succeeds, and nothing was lost or doubled.
    std::fs::remove_file(filler).unwrap();
    let retried = until_done(&h.client, &h.base, &token, "/callLog", &call_log_body(&session, "c-1001")).await;
    logged.push((session, retried["logId"].as_str().unwrap().to_owned()));
    assert_logged_once(&h, &h.base, &token, before, &logged).await;
    h.stop().await;
    drop(disk);
}

#[tokio::test]
async fn a_rolling_restart_of_two_postgres_replicas_under_load_fails_no_request() {
    let Some(url) = test_support::postgres_url().await else { return };
    // The default wall deadline: what is under test is the restart. With
    // 3 s, a call starved of CPU on a two-core machine (replicas starting
    // beside the other fault tests) timed out in CI: a slow host, not a drain.
    let h = Harness::start_with(url, &["testcrm"], &[], |_| {}).await;
    let token = h.login().await;
    let before = h.crm.activities().len();
    // Calls take a while at the CRM, so each replica has some in flight when it is stopped.
    h.crm.set_delay(Duration::from_millis(200));
    let mut replicas = vec![HostProcess::spawn(&h.config), HostProcess::spawn(&h.config)];
    let rotation = Arc::new(std::sync::Mutex::new(replicas.iter().map(|r| r.base.clone()).collect::<Vec<_>>()));
    let load = Load::start(rotation.clone(), &token, 4, "rolling");
    tokio::time::sleep(Duration::from_secs(1)).await;

    for slot in 0..replicas.len() {
        // As an orchestrator does: out of the load balancer, SIGTERM, wait
        // for the exit, a new process in its place, back in the rotation.
        rotation.lock().unwrap().retain(|b| *b != replicas[slot].base);
        let old = replicas.remove(slot);
        old.terminate();
        let status = tokio::task::spawn_blocking(move || {
            let mut old = old;
            old.wait_exit(Duration::from_secs(60))
        })
        .await
        .unwrap();
        assert!(status.success(), "replica {slot} exited cleanly: {status}");
        let new = HostProcess::spawn(&h.config);
        rotation.lock().unwrap().push(new.base.clone());
        replicas.insert(slot, new);
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    let (failures, logged) = load.finish().await;

    assert!(failures.is_empty(), "no request failed: {failures:?}");
    assert!(logged.len() >= 8, "the load went on: {} calls", logged.len());
    assert_logged_once(&h, &replicas[0].base, &token, before, &logged).await;
    drop(replicas);
    h.stop().await;
}
