//! Sessions: a login's jwtToken names a server-side session that logging out
//! ends at once, that lapses when unused, and that a restart keeps.

#![allow(clippy::unwrap_used)] // a test crate: an unwrap that fails is a failed test

mod common;

use common::{Harness, SECRET};
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use sqlx::Connection;

const CONTACT: &str = "/contact?phoneNumber=%2B16505551212";

/// The token's claims, checked by an independent JWT implementation.
fn claims(token: &str) -> serde_json::Value {
    let mut v = Validation::new(Algorithm::HS256);
    v.set_required_spec_claims(&["exp"]);
    jsonwebtoken::decode::<serde_json::Value>(token, &DecodingKey::from_secret(SECRET.as_bytes()), &v).unwrap().claims
}

#[tokio::test]
async fn logging_out_ends_the_session_and_a_new_login_opens_another() {
    let mut h = Harness::start().await;
    let t = h.login().await;
    let c = claims(&t);
    assert_eq!((c["id"].as_str(), c["platform"].as_str()), (Some("u-1001-testcrm"), Some("testcrm")));
    assert!(c["sid"].as_str().is_some_and(|s| s.len() >= 32), "the token names a session: {c}");
    assert!(c["exp"].as_i64().unwrap() - c["iat"].as_i64().unwrap() >= 300 * 86_400, "long-lived: {c}");
    assert_eq!(h.get(CONTACT, Some(&t)).await.json()["successful"], true);

    // A second device logs in too; a restart keeps both sessions.
    let other = h.login().await;
    h.restart().await;
    assert_eq!(h.get(CONTACT, Some(&t)).await.json()["successful"], true);
    assert_eq!(h.get(CONTACT, Some(&other)).await.json()["successful"], true);

    // Logging out ends every session of the user, at once.
    assert_eq!(h.post("/unAuthorize", Some(&t), &serde_json::json!({})).await.json()["successful"], true);
    h.get(CONTACT, Some(&t)).await.assert_error(401, "NOT_CONNECTED");
    h.get(CONTACT, Some(&other)).await.assert_error(401, "NOT_CONNECTED");

    let again = h.login().await;
    assert_ne!(claims(&again)["sid"], c["sid"]);
    assert_eq!(h.get(CONTACT, Some(&again)).await.json()["successful"], true, "a new session works");
    h.get(CONTACT, Some(&t)).await.assert_error(401, "NOT_CONNECTED");
    h.stop().await;
}

#[tokio::test]
async fn an_unused_session_lapses_and_one_in_use_is_renewed() {
    let h = Harness::start_with(switchboard::store::test_support::sqlite_url(), &["testcrm"], &[], |c| {
        c.sessions.idle_timeout_days = 2;
    })
    .await;
    let (idle, busy) = (h.login().await, h.login().await);
    let sid = |t: &str| claims(t)["sid"].as_str().unwrap().to_owned();
    let mut db = sqlx::SqliteConnection::connect(&h.database_url).await.unwrap();
    // Both were last used three days ago...
    let three_days_ago =
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64 - 3 * 86_400;
    sqlx::query("UPDATE sessions SET last_used_at = $1").bind(three_days_ago).execute(&mut db).await.unwrap();
    h.get(CONTACT, Some(&idle)).await.assert_error(401, "TOKEN_EXPIRED");
    // ...except that this one was used a day ago: it is renewed by the request.
    sqlx::query("UPDATE sessions SET last_used_at = $1 WHERE sid = $2")
        .bind(three_days_ago + 2 * 86_400)
        .bind(sid(&busy))
        .execute(&mut db)
        .await
        .unwrap();
    assert_eq!(h.get(CONTACT, Some(&busy)).await.json()["successful"], true);
    let used: i64 = sqlx::query_scalar("SELECT last_used_at FROM sessions WHERE sid = $1")
        .bind(sid(&busy))
        .fetch_one(&mut db)
        .await
        .unwrap();
    assert!(used > three_days_ago + 2 * 86_400 + 3600, "last_used_at was renewed to now");
    h.get(CONTACT, Some(&idle)).await.assert_error(401, "TOKEN_EXPIRED");
    h.stop().await;
}

#[tokio::test]
async fn a_query_token_client_is_told_in_plain_text_and_a_bearer_client_in_json() {
    let h = Harness::start().await;
    let t = h.login().await;
    h.post("/unAuthorize", Some(&t), &serde_json::json!({})).await;
    // The App Connect extension sends the token in the query only and shows
    // an error when the body is plain text.
    let r = h.get(&format!("/callLog?sessionIds=s-1&jwtToken={t}"), None).await;
    assert_eq!(r.status, 401);
    assert!(r.header("content-type").is_some_and(|c| c.starts_with("text/plain")), "{:?}", r.headers);
    assert!(r.text.contains("log in again") && !r.text.starts_with('{'), "{}", r.text);
    assert_eq!(r.header("x-switchboard-error-code").as_deref(), Some("NOT_CONNECTED"));
    assert!(r.header("x-request-id").is_some_and(|id| !id.is_empty()));
    // Where a 401 would stop it, it gets an answer it goes on with: a contact
    // match says "no match, log in again" (the widget is answered, not left
    // waiting); settings read as empty, and logging out again succeeds, so it
    // can always clear a dead token (it reads settings before it logs out).
    let r = h.get(&format!("{CONTACT}&jwtToken={t}"), None).await;
    let body = r.assert_error(200, "NOT_CONNECTED");
    assert!(body["contact"].is_null(), "not matched: {body}");
    assert!(body["returnMessage"]["message"].as_str().unwrap().contains("log in again"), "{body}");
    let r = h.get(&format!("/user/settings?jwtToken={t}&rcAccountId=a"), None).await;
    assert_eq!((r.status.as_u16(), r.json()), (200, serde_json::json!({})));
    let r = h.post(&format!("/unAuthorize?jwtToken={t}"), None, &serde_json::json!({})).await;
    assert_eq!((r.status.as_u16(), r.json()["successful"].clone()), (200, serde_json::json!(true)));
    // An API consumer with the header keeps the JSON envelope and its 401s.
    h.get(CONTACT, Some(&t)).await.assert_error(401, "NOT_CONNECTED");
    h.get("/user/settings", Some(&t)).await.assert_error(401, "NOT_CONNECTED");
    // Bad input is an HTTP error: plain text for the query client too.
    let fresh = h.login().await;
    let r = h.post(&format!("/callLog?jwtToken={fresh}"), None, &serde_json::json!({"logInfo": {}})).await;
    assert_eq!(r.status, 400);
    assert!(r.header("content-type").is_some_and(|c| c.starts_with("text/plain")), "{:?}", r.headers);
    h.stop().await;
}
