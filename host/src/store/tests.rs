//! The same storage tests on SQLite and PostgreSQL.

use super::*;
use crate::crypto::Sealer;

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
        auth_kind: "api-key".into(),
        credential: Some(Secret::new(key)),
        refresh_token: None,
        expires_at: None,
        status: "active".into(),
    }
}

#[tokio::test]
async fn users_round_trip_and_credentials_are_sealed() {
    for store in stores().await {
        store.upsert_user(&user("1-testcrm", "key-one-plaintext")).await.unwrap();
        let u = store.user("1-testcrm").await.unwrap().unwrap();
        assert_eq!(u.credential.as_ref().map(Secret::expose), Some("key-one-plaintext"));
        let raw = store.raw_credential("1-testcrm").await.unwrap().unwrap();
        assert!(!String::from_utf8_lossy(&raw).contains("key-one-plaintext"), "{:?}", store.backend());

        // A second login replaces the key; logout forgets it.
        store.upsert_user(&user("1-testcrm", "key-two")).await.unwrap();
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
        store.upsert_user(&user("2-testcrm", "k")).await.unwrap();
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
            tokio::spawn(async move { s.reserve_call_log("3-testcrm", "session-1", "c1").await.unwrap() })
        });
        let mut results = Vec::new();
        for a in attempts {
            results.push(a.await.unwrap());
        }
        let winners = results.iter().filter(|r| **r == Reservation::Reserved).count();
        assert_eq!(winners, 1, "{:?}: {results:?}", store.backend());
        assert!(results.iter().all(|r| matches!(r, Reservation::Reserved | Reservation::Pending)));

        store.complete_call_log("3-testcrm", "session-1", "A-77").await.unwrap();
        assert_eq!(
            store.reserve_call_log("3-testcrm", "session-1", "c1").await.unwrap(),
            Reservation::Logged("A-77".into())
        );
        let m = store.call_log("3-testcrm", "session-1").await.unwrap().unwrap();
        assert_eq!((m.log_id.as_deref(), m.pending), (Some("A-77"), false));
    }
}

#[tokio::test]
async fn a_released_reservation_can_be_taken_again() {
    for store in stores().await {
        assert_eq!(store.reserve_call_log("4-testcrm", "s", "c").await.unwrap(), Reservation::Reserved);
        store.release_call_log("4-testcrm", "s").await.unwrap();
        assert_eq!(store.reserve_call_log("4-testcrm", "s", "c").await.unwrap(), Reservation::Reserved);
        // Other users' sessions with the same id are independent.
        assert_eq!(store.reserve_call_log("5-testcrm", "s", "c").await.unwrap(), Reservation::Reserved);
    }
}

#[tokio::test]
async fn messages_dedupe_and_conversations_map_to_one_record() {
    for store in stores().await {
        assert!(store.reserve_message("6-testcrm", "m1", "conv").await.unwrap());
        assert!(!store.reserve_message("6-testcrm", "m1", "conv").await.unwrap());
        assert_eq!(store.reserve_conversation("6-testcrm", "conv").await.unwrap(), Reservation::Reserved);
        assert_eq!(store.reserve_conversation("6-testcrm", "conv").await.unwrap(), Reservation::Pending);
        store.complete_conversation("6-testcrm", "conv", "L1").await.unwrap();
        store.complete_message("6-testcrm", "m1", "L1").await.unwrap();
        assert_eq!(store.reserve_conversation("6-testcrm", "conv").await.unwrap(), Reservation::Logged("L1".into()));
        // A failed message is released and can be logged later; a logged one cannot.
        assert!(store.reserve_message("6-testcrm", "m2", "conv").await.unwrap());
        store.release_message("6-testcrm", "m2").await.unwrap();
        store.release_message("6-testcrm", "m1").await.unwrap();
        assert!(store.reserve_message("6-testcrm", "m2", "conv").await.unwrap());
        assert!(!store.reserve_message("6-testcrm", "m1", "conv").await.unwrap());
    }
}
