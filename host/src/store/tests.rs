//! The same storage tests on SQLite and PostgreSQL.

use super::reservations::Lease;
use super::*;
use crate::crypto::Sealer;
use std::collections::BTreeMap;

async fn stores() -> Vec<Store> {
    let mut out = Vec::new();
    for url in test_support::all_urls().await {
        out.push(Store::connect(&url, Sealer::new([3; 32])).await.expect("connect and migrate"));
    }
    out
}

fn user(id: &str, key: &str) -> User {
    User {
        id: id.into(),
        platform: "testcrm".into(),
        crm_user_id: id.trim_end_matches("-testcrm").into(),
        name: "Ada".into(),
        hostname: String::new(),
        auth_kind: AuthKind::ApiKey,
        credential: Some(Secret::new(key)),
        refresh_token: None,
        expires_at: None,
        status: ConnectionStatus::Active,
    }
}

fn call<'a>(session_id: &'a str, contact_id: &'a str) -> Ledger<'a> {
    Ledger::Call { session_id, contact_id }
}

fn message<'a>(message_id: &'a str, conversation_id: &'a str) -> Ledger<'a> {
    Ledger::Message { message_id, conversation_id }
}

fn conversation(conversation_id: &str) -> Ledger<'_> {
    Ledger::Conversation { conversation_id }
}

#[tokio::test]
async fn users_round_trip_and_credentials_are_sealed() {
    for store in stores().await {
        store.upsert_user(&mut user("1-testcrm", "key-one-plaintext")).await.unwrap();
        let u = store.user("1-testcrm").await.unwrap().unwrap();
        assert_eq!(u.credential.as_ref().map(Secret::expose), Some("key-one-plaintext"));
        let raw = store.raw_credential("1-testcrm").await.unwrap().unwrap();
        assert!(!String::from_utf8_lossy(&raw).contains("key-one-plaintext"), "{:?}", store.backend());

        // A second login replaces the key; logout forgets it.
        store.upsert_user(&mut user("1-testcrm", "key-two")).await.unwrap();
        let u = store.user("1-testcrm").await.unwrap().unwrap();
        assert_eq!(u.credential.unwrap().expose(), "key-two");
        store.clear_credential("1-testcrm").await.unwrap();
        assert!(store.user("1-testcrm").await.unwrap().unwrap().credential.is_none());
        assert!(store.user("nobody").await.unwrap().is_none());
    }
}

#[tokio::test]
async fn settings_upsert_and_remove() {
    for store in stores().await {
        store.upsert_user(&mut user("2-testcrm", "k")).await.unwrap();
        let mut set = BTreeMap::new();
        set.insert("theme".to_string(), serde_json::json!({"value": "dark"}));
        set.insert("legacy".to_string(), serde_json::json!({"value": 1}));
        store.update_settings("2-testcrm", &set, &[]).await.unwrap();
        let mut set2 = BTreeMap::new();
        set2.insert("theme".to_string(), serde_json::json!({"value": "light"}));
        store.update_settings("2-testcrm", &set2, &["legacy".to_string()]).await.unwrap();
        let got = store.settings("2-testcrm").await.unwrap();
        assert_eq!(got.len(), 1);
        assert_eq!(got["theme"]["value"], "light");
    }
}

#[tokio::test]
async fn concurrent_call_log_reservations_have_one_winner() {
    for store in stores().await {
        let attempts = (0..16).map(|_| {
            let s = store.clone();
            tokio::spawn(async move { s.reserve("3-testcrm", call("session-1", "c1")).await.unwrap() })
        });
        let mut results = Vec::new();
        for a in attempts {
            results.push(a.await.unwrap());
        }
        let winners = results.iter().filter(|r| matches!(r, Reservation::Reserved(_))).count();
        assert_eq!(winners, 1, "{:?}: {results:?}", store.backend());
        assert!(results.iter().all(|r| matches!(r, Reservation::Reserved(_) | Reservation::Pending)));

        store.complete("3-testcrm", call("session-1", "c1"), "A-77").await.unwrap();
        assert_eq!(
            store.reserve("3-testcrm", call("session-1", "c1")).await.unwrap(),
            Reservation::Logged("A-77".into())
        );
        let m = store.lookup("3-testcrm", Ledger::session("session-1")).await.unwrap();
        assert_eq!(m, Some(Reservation::Logged("A-77".into())));
        assert_eq!(store.lookup("3-testcrm", Ledger::session("session-2")).await.unwrap(), None);
    }
}

/// The lease of a reservation this caller got; panics on anything else.
fn leased(r: Reservation) -> Lease {
    match r {
        Reservation::Reserved(lease) => lease,
        other => panic!("expected a reservation, got {other:?}"),
    }
}

#[tokio::test]
async fn a_released_reservation_can_be_taken_again() {
    for store in stores().await {
        let lease = leased(store.reserve("4-testcrm", call("s", "c")).await.unwrap());
        store.release("4-testcrm", call("s", "c"), &lease).await.unwrap();
        leased(store.reserve("4-testcrm", call("s", "c")).await.unwrap());
        // Other users' sessions with the same id are independent.
        leased(store.reserve("5-testcrm", call("s", "c")).await.unwrap());
    }
}

#[tokio::test]
async fn an_ended_lease_is_taken_over_once_and_its_late_owner_cannot_release_it() {
    for store in stores().await {
        // An owner that crashed: its lease ends at once.
        let gone = store.clone().with_lease(std::time::Duration::ZERO);
        let first = leased(gone.reserve("9-testcrm", call("s", "c")).await.unwrap());
        assert!(!first.taken_over);
        // Concurrent retries: exactly one takes the work over, the others wait for it.
        let retries = (0..6).map(|_| {
            let s = store.clone();
            tokio::spawn(async move { s.reserve("9-testcrm", call("s", "c")).await.unwrap() })
        });
        let results: Vec<Reservation> =
            futures_util::future::join_all(retries).await.into_iter().map(Result::unwrap).collect();
        let owners: Vec<&Lease> =
            results.iter().filter_map(|r| if let Reservation::Reserved(l) = r { Some(l) } else { None }).collect();
        assert_eq!(owners.len(), 1, "{results:?}");
        assert!(owners[0].taken_over);
        // The late first owner's release leaves the new owner's reservation alone.
        gone.release("9-testcrm", call("s", "c"), &first).await.unwrap();
        assert_eq!(store.reserve("9-testcrm", call("s", "c")).await.unwrap(), Reservation::Pending);
        assert_eq!(store.lookup("9-testcrm", Ledger::session("s")).await.unwrap(), Some(Reservation::Pending));
        store.complete("9-testcrm", call("s", "c"), "A-9").await.unwrap();
        assert_eq!(store.reserve("9-testcrm", call("s", "c")).await.unwrap(), Reservation::Logged("A-9".into()));
        // A logged key is never taken over, whatever its lease said.
        assert_eq!(gone.reserve("9-testcrm", call("s", "c")).await.unwrap(), Reservation::Logged("A-9".into()));
    }
}

#[tokio::test]
async fn messages_dedupe_and_conversations_map_to_one_record() {
    for store in stores().await {
        let reserved = |r: Reservation| matches!(r, Reservation::Reserved(_));
        assert!(reserved(store.reserve("6-testcrm", message("m1", "conv")).await.unwrap()));
        assert!(!reserved(store.reserve("6-testcrm", message("m1", "conv")).await.unwrap()));
        leased(store.reserve("6-testcrm", conversation("conv")).await.unwrap());
        assert_eq!(store.reserve("6-testcrm", conversation("conv")).await.unwrap(), Reservation::Pending);
        store.complete("6-testcrm", conversation("conv"), "L1").await.unwrap();
        store.complete("6-testcrm", message("m1", "conv"), "L1").await.unwrap();
        assert_eq!(store.reserve("6-testcrm", conversation("conv")).await.unwrap(), Reservation::Logged("L1".into()));
        // A failed message is released and can be logged later; a logged one cannot.
        let m2 = leased(store.reserve("6-testcrm", message("m2", "conv")).await.unwrap());
        store.release("6-testcrm", message("m2", "conv"), &m2).await.unwrap();
        assert!(reserved(store.reserve("6-testcrm", message("m2", "conv")).await.unwrap()));
        assert!(!reserved(store.reserve("6-testcrm", message("m1", "conv")).await.unwrap()));
    }
}

#[tokio::test]
async fn two_identities_that_derive_the_same_id_stay_apart() {
    for store in stores().await {
        // "u-1001-crm" on platform "b" and "u-1001" on "crm-b": both "u-1001-crm-b".
        let mut first =
            User { platform: "crm-b".into(), crm_user_id: "u-1001".into(), ..user("u-1001-crm-b", "key-of-crm-b") };
        store.upsert_user(&mut first).await.unwrap();
        let mut second =
            User { platform: "b".into(), crm_user_id: "u-1001-crm".into(), ..user("u-1001-crm-b", "key-of-b") };
        store.upsert_user(&mut second).await.unwrap();
        assert_eq!(first.id, "u-1001-crm-b");
        assert_ne!(second.id, first.id, "{:?}", store.backend());
        let kept = store.user(&first.id).await.unwrap().unwrap();
        assert_eq!((kept.platform.as_str(), kept.credential.unwrap().expose()), ("crm-b", "key-of-crm-b"));
        let other = store.user(&second.id).await.unwrap().unwrap();
        assert_eq!((other.platform.as_str(), other.credential.unwrap().expose()), ("b", "key-of-b"));
        // Each logs in again under its own id.
        let mut again =
            User { platform: "b".into(), crm_user_id: "u-1001-crm".into(), ..user("u-1001-crm-b", "new-key-of-b") };
        store.upsert_user(&mut again).await.unwrap();
        assert_eq!(again.id, second.id);
        assert_eq!(store.user(&first.id).await.unwrap().unwrap().credential.unwrap().expose(), "key-of-crm-b");
    }
}

#[tokio::test]
async fn an_origin_is_allowed_only_if_a_workspace_lists_it_exactly() {
    for store in stores().await {
        let w = Workspace {
            id: format!("ws_{}", uuid::Uuid::new_v4().simple()),
            name: "Acme".into(),
            allowed_origins: vec!["https://app.acme.example".into(), "http://127.0.0.1:3000".into()],
            created_at: 1,
        };
        store.insert_workspace(&w).await.unwrap();
        for (origin, allowed) in [
            ("https://app.acme.example", true),
            ("http://127.0.0.1:3000", true),
            ("https://APP.acme.example", false),
            ("https://app_acme.example", false),
            ("https://app.acme.example.evil.example", false),
            ("https://acme.example", false),
            ("http://127.0.0.1:30", false),
            ("%", false),
            ("", false),
        ] {
            assert_eq!(store.origin_allowed_by_a_workspace(origin).await.unwrap(), allowed, "{origin}");
        }
    }
}

#[tokio::test]
async fn a_full_sqlite_database_and_a_closed_pool_read_as_unavailable_not_as_bugs() {
    let store = Store::connect(&test_support::sqlite_url(), Sealer::new([3; 32])).await.unwrap();
    let mut ada = user("9-testcrm", "key");
    store.upsert_user(&mut ada).await.unwrap();
    // The writer is one connection: cap its file at the pages it has now.
    let pages: i64 = sqlx::query_scalar("PRAGMA page_count").fetch_one(&store.writer).await.unwrap();
    sqlx::query(sqlx::AssertSqlSafe(format!("PRAGMA max_page_count = {pages}"))).execute(&store.writer).await.unwrap();
    let mut full = None;
    for n in 0..10_000 {
        let session = format!("session-{n}-{}", "x".repeat(200));
        if let Err(e) = store.reserve("9-testcrm", call(&session, "c1")).await {
            full = Some(e);
            break;
        }
    }
    let full = full.expect("the capped database fills up");
    assert_eq!(full.unavailable(), Some(Unavailable::Full), "{full}");
    // What was stored before is still there and readable.
    assert!(store.user("9-testcrm").await.unwrap().is_some());

    store.close().await;
    let closed = store.user("9-testcrm").await.unwrap_err();
    assert_eq!(closed.unavailable(), Some(Unavailable::Unreachable), "{closed}");
    // A bug (a value this version does not know) is not an outage.
    let unknown = StoreError::UnknownValue { column: "status", value: "??".into() };
    assert_eq!(unknown.unavailable(), None);
}

mod webhook_outbox {
    use super::*;
    use crate::clock::now_millis;
    use crate::webhooks::EventType;
    use crate::webhooks::event::{NewEvent, Scope};

    async fn endpoint(store: &Store, scope: &Scope, events: Option<&[String]>) -> Endpoint {
        store
            .create_endpoint(scope, "https://hooks.example.com/in", None, events, &Secret::new("whsec_AAAA"))
            .await
            .unwrap()
    }

    fn attempt(at: i64, status: Option<u16>) -> Attempt {
        Attempt { attempted_at: at, duration_ms: 3, status, error: None, response_body: None }
    }

    /// The types of the events waiting for `endpoint_id`, in order.
    async fn waiting(store: &Store, endpoint_id: &str) -> Vec<String> {
        let mut d = store.deliveries(endpoint_id, Some("pending"), 100).await.unwrap();
        d.reverse();
        d.into_iter().map(|d| d.event_type).collect()
    }

    #[tokio::test]
    async fn connection_changes_and_logged_calls_write_events_for_subscribers_only() {
        for store in stores().await {
            let op = endpoint(&store, &Scope::Operator, None).await;
            let calls_only = endpoint(&store, &Scope::Operator, Some(&["call_log.created".to_owned()])).await;
            let other = endpoint(&store, &Scope::Workspace("ws_other".into()), None).await;
            // Nobody listening in a scope: nothing is written.
            let mut u = user("7-testcrm", "k");
            store.upsert_user(&mut u).await.unwrap();
            store.upsert_user(&mut u).await.unwrap();
            store.record_refresh_failure(&u.id, "the token endpoint said 500", false).await.unwrap();
            store.update_tokens(&u.id, &Secret::new("new"), None, None).await.unwrap();
            store.update_tokens(&u.id, &Secret::new("newer"), None, None).await.unwrap(); // no failure before: no event
            store.record_refresh_failure(&u.id, "invalid_grant", true).await.unwrap();
            store.reserve(&u.id, call("s-1", "c-1")).await.unwrap();
            store.complete(&u.id, call("s-1", "c-1"), "log-1").await.unwrap();
            store.clear_credential(&u.id).await.unwrap();
            assert_eq!(
                waiting(&store, &op.id).await,
                [
                    "integration.connected",
                    "integration.reconnected",
                    "integration.refresh_failed",
                    "integration.recovered",
                    "integration.revoked",
                    "call_log.created",
                    "integration.disconnected",
                ],
                "{:?}",
                store.backend()
            );
            assert_eq!(waiting(&store, &calls_only.id).await, ["call_log.created"]);
            assert!(waiting(&store, &other.id).await.is_empty(), "another scope hears nothing");
        }
    }

    #[tokio::test]
    async fn rows_written_in_the_same_millisecond_are_listed_in_the_order_they_were_written() {
        for store in stores().await {
            let scope = Scope::Workspace("ws_1".into());
            let endpoints = [
                endpoint(&store, &scope, None).await.id,
                endpoint(&store, &scope, None).await.id,
                endpoint(&store, &scope, None).await.id,
                endpoint(&store, &scope, None).await.id,
            ];
            let mut events = Vec::new();
            for _ in 0..8 {
                events.push(store.emit(&scope, &NewEvent::new(EventType::Test, serde_json::json!({}))).await.unwrap());
            }
            // The same millisecond for every row: only the write order is left.
            for table in ["webhook_endpoints", "webhook_deliveries"] {
                sqlx::query(sqlx::AssertSqlSafe(format!("UPDATE {table} SET created_at = 1764700000000")))
                    .execute(store.pool())
                    .await
                    .unwrap();
            }
            let listed: Vec<String> = store.endpoints(&scope).await.unwrap().into_iter().map(|e| e.id).collect();
            assert_eq!(listed, endpoints, "endpoints oldest first ({:?})", store.backend());
            let newest_first: Vec<String> =
                store.deliveries(&endpoints[2], None, 100).await.unwrap().into_iter().map(|d| d.event_id).collect();
            events.reverse();
            assert_eq!(newest_first, events, "deliveries newest first ({:?})", store.backend());
        }
    }

    #[tokio::test]
    async fn an_endpoint_failing_for_five_days_is_disabled_with_an_event_and_its_queue_fails() {
        for store in stores().await {
            let scope = Scope::Workspace("ws_1".into());
            let failing = endpoint(&store, &scope, None).await;
            let watcher = endpoint(&store, &scope, Some(&["webhook.endpoint_disabled".to_owned()])).await;
            let mut first = NewEvent::new(EventType::Test, serde_json::json!({}));
            first.only_endpoint = Some(failing.id.clone());
            store.emit(&scope, &first).await.unwrap();
            store.emit(&scope, &first).await.unwrap();
            let t0 = now_millis();
            let claimed = store.claim_deliveries(t0, 10, 60_000, &[]).await.unwrap();
            assert_eq!(claimed.len(), 2, "{:?}", store.backend());
            assert!(store.claim_deliveries(t0, 10, 60_000, &[]).await.unwrap().is_empty(), "claimed once");
            // A failure now: retried later, the endpoint failing since t0.
            let r = store.record_attempt(&claimed[0], &attempt(t0, Some(500)), Next::RetryAt(t0 + 5000), t0).await;
            assert_eq!(r.unwrap(), Recorded::Stored { disabled_endpoint: false });
            assert_eq!(store.endpoint(&scope, &failing.id).await.unwrap().unwrap().failing_since, Some(t0));
            // Five days of failures later: disabled, the other delivery failed, the watcher told.
            let later = t0 + super::super::webhooks::DISABLE_AFTER_MS;
            let r = store.record_attempt(&claimed[1], &attempt(later, None), Next::RetryAt(later + 5000), later).await;
            assert_eq!(r.unwrap(), Recorded::Stored { disabled_endpoint: true });
            let e = store.endpoint(&scope, &failing.id).await.unwrap().unwrap();
            assert_eq!(e.disabled_reason.as_deref(), Some("every attempt failed for 5 days"));
            assert!(waiting(&store, &failing.id).await.is_empty(), "nothing waits for a disabled endpoint");
            assert_eq!(store.deliveries(&failing.id, Some("failed"), 10).await.unwrap().len(), 2);
            assert_eq!(waiting(&store, &watcher.id).await, ["webhook.endpoint_disabled"]);
            // Recovered once re-enabled: both failed deliveries queued again.
            let patch = EndpointPatch { active: Some(true), ..Default::default() };
            let e = store.update_endpoint(&scope, &failing.id, &patch).await.unwrap().unwrap();
            assert_eq!((e.disabled_at, e.failing_since), (None, None));
            assert_eq!(store.recover(&failing.id, 0).await.unwrap(), 2);
            assert_eq!(waiting(&store, &failing.id).await.len(), 2);
        }
    }

    #[tokio::test]
    async fn a_worker_whose_lease_ended_cannot_record_and_old_events_are_pruned() {
        for store in stores().await {
            let scope = Scope::Operator;
            let e = endpoint(&store, &scope, None).await;
            let mut test = NewEvent::new(EventType::Test, serde_json::json!({}));
            test.only_endpoint = Some(e.id.clone());
            store.emit(&scope, &test).await.unwrap();
            let t0 = now_millis();
            let slow = store.claim_deliveries(t0, 1, 1_000, &[]).await.unwrap().remove(0);
            // Its lease ended: another worker claims the delivery and delivers it.
            assert!(store.claim_deliveries(t0 + 500, 1, 1_000, &[]).await.unwrap().is_empty());
            let fast = store.claim_deliveries(t0 + 1_001, 1, 1_000, &[]).await.unwrap().remove(0);
            assert_eq!(fast.delivery_id, slow.delivery_id);
            let at = t0 + 1_002;
            assert_eq!(
                store.record_attempt(&fast, &attempt(at, Some(204)), Next::Delivered, at).await.unwrap(),
                Recorded::Stored { disabled_endpoint: false }
            );
            assert_eq!(
                store.record_attempt(&slow, &attempt(at, Some(204)), Next::Delivered, at).await.unwrap(),
                Recorded::LeaseLost
            );
            let d = store.deliveries(&e.id, None, 10).await.unwrap();
            assert_eq!(
                (d[0].state.as_str(), d[0].attempts, d[0].log.len()),
                ("delivered", 1, 1),
                "{:?}",
                store.backend()
            );
            // A busy endpoint is skipped by a claim.
            store.emit(&scope, &test).await.unwrap();
            assert!(
                store.claim_deliveries(now_millis(), 5, 1_000, std::slice::from_ref(&e.id)).await.unwrap().is_empty()
            );
            // Retention: delivered events go, pending ones stay.
            assert_eq!(store.prune_events(now_millis() + 1).await.unwrap(), 1);
            assert_eq!(store.deliveries(&e.id, None, 10).await.unwrap().len(), 1);
            assert_eq!(store.queue_stats().await.unwrap().pending, 1);
        }
    }

    #[tokio::test]
    async fn secrets_are_sealed_rotated_with_an_overlap_and_reencrypted_with_a_new_key() {
        for url in test_support::all_urls().await {
            let old = Store::connect(&url, Sealer::new([3; 32])).await.unwrap();
            let scope = Scope::Workspace("ws_1".into());
            let e = old
                .create_endpoint(&scope, "https://h.example/", None, None, &Secret::new("whsec_b25l"))
                .await
                .unwrap();
            let raw: Vec<u8> = sqlx::query_scalar("SELECT secret FROM webhook_endpoints WHERE id = $1")
                .bind(&e.id)
                .fetch_one(old.pool())
                .await
                .unwrap();
            assert!(!String::from_utf8_lossy(&raw).contains("whsec_b25l"), "sealed");
            let now = now_millis();
            assert!(old.rotate_endpoint_secret(&scope, &e.id, &Secret::new("whsec_dHdv"), now + 60_000).await.unwrap());
            let signing: Vec<String> =
                old.endpoint_secrets(&e.id, now).await.unwrap().iter().map(|s| s.expose().to_owned()).collect();
            assert_eq!(signing, ["whsec_dHdv", "whsec_b25l"], "both during the overlap");
            assert_eq!(old.endpoint_secrets(&e.id, now + 60_001).await.unwrap().len(), 1, "then only the new one");
            // A new encryption key: `rotate-key` re-encrypts both secrets; the old key can go.
            let both = Store::connect(&url, Sealer::new([4; 32]).with_previous([[3; 32]])).await.unwrap();
            assert_eq!(both.reencrypt_all().await.unwrap(), 2);
            let new_only = Store::connect(&url, Sealer::new([4; 32])).await.unwrap();
            assert_eq!(new_only.endpoint_secrets(&e.id, now).await.unwrap().len(), 2);
        }
    }
}

/// Polls `check` for up to ten seconds (a notification crosses processes
/// asynchronously); whether it came true.
async fn eventually<F, Fut>(mut check: F) -> bool
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    for _ in 0..200 {
        if check().await {
            return true;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    false
}

#[tokio::test]
async fn a_cached_session_is_forgotten_when_it_changes_here_or_on_another_replica() {
    for url in test_support::all_urls().await {
        let here = Store::connect(&url, Sealer::new([3; 32])).await.unwrap();
        let backend = here.backend();
        if backend == Backend::Postgres {
            assert!(eventually(|| async { here.signed_in.is_enabled() }).await, "the cache never turned on");
        }
        let mut u = user("7-testcrm", "key-one");
        here.upsert_user(&mut u).await.unwrap();
        let sid = here.create_session(&u.id).await.unwrap();
        let revoked = |store: &Store, sid: &str| {
            let (store, id, sid) = (store.clone(), u.id.clone(), sid.to_owned());
            async move { store.user_with_session(&id, &sid).await.unwrap().unwrap().1.unwrap().revoked }
        };
        assert!(!revoked(&here, &sid).await);
        // Read twice (the second from memory), then logged out: seen at once by this process.
        assert!(!revoked(&here, &sid).await);
        here.revoke_sessions(&u.id).await.unwrap();
        assert!(revoked(&here, &sid).await, "{backend:?}: logout not seen by the process that made it");

        if backend == Backend::Postgres {
            let there = Store::connect(&url, Sealer::new([3; 32])).await.unwrap();
            assert!(eventually(|| async { there.signed_in.is_enabled() }).await);
            let sid = here.create_session(&u.id).await.unwrap();
            assert!(!revoked(&there, &sid).await);
            assert!(!revoked(&there, &sid).await, "cached on the other replica");
            here.revoke_sessions(&u.id).await.unwrap();
            assert!(eventually(|| revoked(&there, &sid)).await, "the other replica kept a logged-out session");
            // A new credential (a login again) reaches it too.
            let sid = here.create_session(&u.id).await.unwrap();
            let key = |store: &Store| {
                let (store, id, sid) = (store.clone(), u.id.clone(), sid.clone());
                async move {
                    let (user, _) = store.user_with_session(&id, &sid).await.unwrap().unwrap();
                    user.credential.map(|c| c.expose().to_owned())
                }
            };
            assert_eq!(key(&there).await.as_deref(), Some("key-one"));
            here.upsert_user(&mut user("7-testcrm", "key-two")).await.unwrap();
            assert!(eventually(|| async { key(&there).await.as_deref() == Some("key-two") }).await);
        }
    }
}
