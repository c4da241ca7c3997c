//! OAuth connections against the Test CRM's authorization server (shaped like
//! Pipedrive's token endpoint, with Jira-style rotating refresh tokens): the
//! login dance, refresh storms, rotation, revocation, and what is stored.

#![allow(clippy::unwrap_used)] // a test crate: an unwrap that fails is a failed test

mod common;

use common::Harness;
use reqwest::Method;
use std::sync::Arc;
use std::time::Duration;
use switchboard::config::Config;
use switchboard::store::test_support;
use switchboard_e2e::oauth::{CLIENT_ID, lock};

const REDIRECT_URI: &str = "https://switchboard.example/oauth-callback";
const PLATFORM: &str = "testcrm-oauth";
const CONTACT: &str = "/contact?phoneNumber=%2B16505551212";

fn oauth_config(c: &mut Config) {
    c.oauth.redirect_uri = REDIRECT_URI.into();
    c.oauth.initial_delay_ms = 10;
    common::testcrm_oauth(c);
}

async fn start(database_url: String, tweak: impl FnOnce(&mut Config)) -> Harness {
    Harness::start_with(database_url, &["testcrm", PLATFORM], &[], |c| {
        oauth_config(c);
        tweak(c);
    })
    .await
}

fn no_redirects() -> reqwest::Client {
    reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap()
}

/// Walks the browser's part of the dance; returns the callbackUri the CRM
/// sends the browser back to.
async fn consent(h: &Harness) -> String {
    let client = no_redirects();
    let r = client.get(format!("{}/oauth/{PLATFORM}/start", h.base)).send().await.unwrap();
    assert_eq!(r.status(), 303, "{:?}", r.text().await);
    let authorize = url::Url::parse(r.headers()["location"].to_str().unwrap()).unwrap();
    assert_eq!(authorize.origin().ascii_serialization(), "https://oauth.testcrm.example");
    let q: std::collections::HashMap<_, _> = authorize.query_pairs().into_owned().collect();
    assert_eq!(q["response_type"], "code");
    assert_eq!(q["client_id"], CLIENT_ID);
    assert_eq!(q["redirect_uri"], REDIRECT_URI);
    assert_eq!(q["code_challenge_method"], "S256");
    assert_eq!(q["scope"], "base contacts:full");
    assert!(q["state"].len() >= 16, "a random state");
    // The browser follows it to the CRM (the fake, here), which consents at once.
    let at_fake = format!("{}{}?{}", h.crm.base_url(), authorize.path(), authorize.query().unwrap());
    let r = client.get(at_fake).send().await.unwrap();
    assert!(r.status().is_redirection());
    r.headers()["location"].to_str().unwrap().to_owned()
}

async fn callback(h: &Harness, callback_uri: &str) -> common::Reply {
    let query = url::form_urlencoded::Serializer::new(String::new()).append_pair("callbackUri", callback_uri).finish();
    h.get(&format!("/oauth-callback?{query}"), None).await
}

async fn oauth_login(h: &Harness) -> String {
    let r = callback(h, &consent(h).await).await;
    assert_eq!(r.status, 200, "{}", r.text);
    r.json()["jwtToken"].as_str().unwrap().to_owned()
}

fn token_calls(h: &Harness, grant: &str) -> u32 {
    lock(&h.crm.oauth).token_calls.get(grant).copied().unwrap_or(0)
}

#[tokio::test]
async fn the_oauth_dance_connects_a_user_and_state_is_single_use() {
    let h = start(test_support::sqlite_url(), |_| {}).await;
    let callback_uri = consent(&h).await;
    let r = callback(&h, &callback_uri).await;
    assert_eq!(r.status, 200, "{}", r.text);
    let body = r.json();
    assert_eq!(body["name"], "Ada Lovelace");
    let token = body["jwtToken"].as_str().unwrap();

    // The adapter works unchanged with OAuth: the host sends the bearer token.
    let r = h.get(CONTACT, Some(token)).await;
    assert_eq!(r.json()["contact"][0]["name"], "Luke Skywalker", "{}", r.text);
    let seen = h.crm.seen("/v1/contacts");
    assert!(seen.last().unwrap().api_key.is_none());

    // The same callback again: the state was used.
    callback(&h, &callback_uri).await.assert_error(400, "INVALID_STATE");
    // A state we never issued.
    let forged = callback_uri.replace("state=", "state=forged");
    callback(&h, &forged).await.assert_error(400, "INVALID_STATE");
    // A callback that is not our redirect URI.
    let elsewhere = callback_uri.replace(REDIRECT_URI, "https://evil.example/oauth-callback");
    callback(&h, &elsewhere).await.assert_error(400, "INVALID_REDIRECT_URI");
    // The CRM said no.
    callback(&h, &format!("{REDIRECT_URI}?error=access_denied&state=x"))
        .await
        .assert_error(400, "OAUTH_EXCHANGE_FAILED");

    // The operators' view and audit.
    let c = h.admin(Method::GET, "/admin/connections?platform=testcrm-oauth").await.json();
    assert_eq!(c["connections"][0]["status"], "active", "{c}");
    assert_eq!(c["connections"][0]["authKind"], "oauth");

    // No token is stored in plaintext.
    let tokens = switchboard_e2e::oauth::current_tokens(&h.crm.oauth);
    assert_eq!(tokens.len(), 2, "one access and one refresh token");
    let path = h.database_url.trim_start_matches("sqlite://").split('?').next().unwrap().to_owned();
    h.stop().await;
    let mut bytes = std::fs::read(&path).unwrap();
    bytes.extend(std::fs::read(format!("{path}-wal")).unwrap_or_default());
    for t in tokens.iter().map(String::as_bytes) {
        assert!(!bytes.windows(t.len()).any(|w| w == t), "plaintext token in {path}");
    }
}

#[tokio::test]
async fn an_expired_state_is_refused() {
    let h = start(test_support::sqlite_url(), |c| c.oauth.state_ttl_secs = 0).await;
    let callback_uri = consent(&h).await;
    tokio::time::sleep(Duration::from_millis(1100)).await;
    callback(&h, &callback_uri).await.assert_error(400, "INVALID_STATE");
    h.stop().await;
}

/// Logs in with short-lived tokens and waits until they are inside the refresh margin.
async fn login_with_expiring_token(h: &Harness) -> String {
    lock(&h.crm.oauth).expires_in = 2;
    let token = oauth_login(h).await;
    lock(&h.crm.oauth).expires_in = 3600;
    tokio::time::sleep(Duration::from_millis(1100)).await;
    token
}

#[tokio::test]
async fn a_refresh_storm_calls_the_token_endpoint_once() {
    let h = start(test_support::sqlite_url(), |c| c.oauth.refresh_margin_secs = 1).await;
    let token = login_with_expiring_token(&h).await;
    let replies = futures::future::join_all((0..200).map(|_| h.get(CONTACT, Some(&token)))).await;
    for r in &replies {
        assert_eq!(r.json()["successful"], true, "{}", r.text);
    }
    assert_eq!(token_calls(&h, "refresh_token"), 1, "exactly one refresh for 200 concurrent requests");
    h.stop().await;
}

#[tokio::test]
async fn a_refresh_storm_across_two_replicas_on_postgres_calls_the_token_endpoint_once() {
    let Some(url) = test_support::postgres_url().await else { return };
    let h = start(url, |c| c.oauth.refresh_margin_secs = 1).await;
    let token = login_with_expiring_token(&h).await;
    // A second host process on the same database: the real `switchboard` binary.
    let replica = common::HostProcess::spawn(&h.config);
    let replica_base = replica.base.clone();
    let client = reqwest::Client::new();
    let requests = (0..200).map(|i| {
        let base = if i % 2 == 0 { h.base.clone() } else { replica_base.clone() };
        let (client, token) = (client.clone(), token.clone());
        async move {
            let r = client.get(format!("{base}{CONTACT}")).bearer_auth(token).send().await.unwrap();
            r.json::<serde_json::Value>().await.unwrap()
        }
    });
    for body in futures::future::join_all(requests).await {
        assert_eq!(body["successful"], true, "{body}");
    }
    assert_eq!(token_calls(&h, "refresh_token"), 1, "exactly one refresh across both replicas");

    // The PostgreSQL rows hold no token in plaintext.
    use sqlx::{Connection, Row};
    let mut db = sqlx::PgConnection::connect(&h.database_url).await.unwrap();
    let rows = sqlx::query("SELECT row_to_json(u)::text AS j FROM users u").fetch_all(&mut db).await.unwrap();
    let dump: String = rows.iter().map(|r| r.get::<String, _>("j")).collect();
    assert!(dump.contains("testcrm-oauth"), "read the rows");
    for t in switchboard_e2e::oauth::current_tokens(&h.crm.oauth) {
        let hex: String = t.bytes().map(|b| format!("{b:02x}")).collect();
        assert!(!dump.contains(&t) && !dump.contains(&hex), "plaintext token in PostgreSQL");
    }
    drop(replica);
    h.stop().await;
}

#[tokio::test]
async fn a_thousand_rotations_under_load_never_lose_the_refresh_token() {
    let h = Arc::new(start(test_support::sqlite_url(), |_| {}).await);
    let token = oauth_login(&h).await;
    let done = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let callers: Vec<_> = (0..3)
        .map(|_| {
            let (h, token, done) = (h.clone(), token.clone(), done.clone());
            tokio::spawn(async move {
                let mut failures = Vec::new();
                let mut n = 0;
                while !done.load(std::sync::atomic::Ordering::Relaxed) {
                    let r = h.get(CONTACT, Some(&token)).await;
                    n += 1;
                    if r.json()["successful"] != true {
                        failures.push(r.text);
                    }
                }
                (n, failures)
            })
        })
        .collect();
    for i in 0..1000 {
        let r = h.admin(Method::POST, "/admin/connections/refresh?platform=testcrm-oauth").await;
        assert_eq!(r.json()["results"][0]["refreshed"], true, "refresh {i}: {}", r.text);
    }
    done.store(true, std::sync::atomic::Ordering::Relaxed);
    for c in callers {
        let (n, failures) = c.await.unwrap();
        assert!(n > 0);
        assert!(failures.is_empty(), "{} failed calls: {:?}", failures.len(), failures.first());
    }
    let s = lock(&h.crm.oauth);
    assert_eq!(s.invalid_grants, 0, "no rotated refresh token was lost");
    assert!(s.token_calls["refresh_token"] >= 1000);
}

#[tokio::test]
async fn a_refused_access_token_is_refreshed_once_and_the_call_retried() {
    let h = start(test_support::sqlite_url(), |_| {}).await;
    let token = oauth_login(&h).await;
    // The CRM forgets the access token (as after a password change), not the refresh token.
    lock(&h.crm.oauth).access.clear();
    let r = h.get(CONTACT, Some(&token)).await;
    assert_eq!(r.json()["successful"], true, "{}", r.text);
    assert_eq!(token_calls(&h, "refresh_token"), 1);
    h.stop().await;
}

#[tokio::test]
async fn transient_token_endpoint_failures_are_retried() {
    let h = start(test_support::sqlite_url(), |c| c.oauth.refresh_margin_secs = 1).await;
    let token = login_with_expiring_token(&h).await;
    lock(&h.crm.oauth).fail_next = 2;
    let r = h.get(CONTACT, Some(&token)).await;
    assert_eq!(r.json()["successful"], true, "{}", r.text);
    assert_eq!(token_calls(&h, "refresh_token"), 3, "two 503s, then success");
    h.stop().await;
}

#[tokio::test]
async fn invalid_grant_revokes_the_connection_until_the_user_logs_in_again() {
    let h = start(test_support::sqlite_url(), |c| c.oauth.refresh_margin_secs = 1).await;
    let token = login_with_expiring_token(&h).await;
    // The CRM no longer honours the refresh token (the user revoked the app).
    switchboard_e2e::oauth::forget_refresh_tokens(&h.crm.oauth);
    h.get(CONTACT, Some(&token)).await.assert_error(401, "CRM_SESSION_REVOKED");
    h.get(CONTACT, Some(&token)).await.assert_error(401, "CRM_SESSION_REVOKED");
    assert_eq!(token_calls(&h, "refresh_token"), 1, "a revoked connection is not retried");
    let c = h.admin(Method::GET, "/admin/connections").await.json();
    let conn = c["connections"].as_array().unwrap().iter().find(|c| c["platform"] == PLATFORM).unwrap().clone();
    assert_eq!(conn["status"], "revoked");
    assert!(conn["lastError"].as_str().unwrap().contains("invalid_grant"), "{conn}");
    // Logging out works with a connection that cannot be used any more: the
    // session ends and the stored tokens are forgotten.
    let r = h.post("/unAuthorize", Some(&token), &serde_json::json!({})).await;
    assert_eq!(r.json()["successful"], true, "{}", r.text);
    h.get(CONTACT, Some(&token)).await.assert_error(401, "NOT_CONNECTED");
    let c = h.admin(Method::GET, "/admin/connections").await.json();
    let conn = c["connections"].as_array().unwrap().iter().find(|c| c["platform"] == PLATFORM).unwrap().clone();
    assert_ne!(conn["status"], "connected", "{conn}");
    // Logging in again reconnects.
    let token = oauth_login(&h).await;
    assert_eq!(h.get(CONTACT, Some(&token)).await.json()["successful"], true);
    h.stop().await;
}

#[tokio::test]
async fn logout_revokes_the_tokens_at_the_crm() {
    let h = start(test_support::sqlite_url(), |_| {}).await;
    let token = oauth_login(&h).await;
    let r = h.post("/unAuthorize", Some(&token), &serde_json::json!({})).await;
    assert_eq!(r.json()["successful"], true, "{}", r.text);
    let revoked = lock(&h.crm.oauth).revoked.clone();
    assert_eq!(revoked.len(), 2, "refresh and access token revoked: {revoked:?}");
    h.get(CONTACT, Some(&token)).await.assert_error(401, "NOT_CONNECTED");
    h.stop().await;
}

#[tokio::test]
async fn rotating_the_encryption_key_keeps_every_connection_working() {
    use base64::Engine as _;
    let mut h = start(test_support::sqlite_url(), |_| {}).await;
    let api_key_user = h.login().await;
    let oauth_user = oauth_login(&h).await;
    let old_key = h.config.encryption_key.clone();
    let new_key = base64::engine::general_purpose::STANDARD.encode([9u8; 32]);

    // With only the new key, the stored secrets cannot be read.
    h.config.encryption_key = new_key.clone();
    h.restart().await;
    h.get(CONTACT, Some(&api_key_user)).await.assert_error(500, "INTERNAL_ERROR");

    // `switchboard rotate-key`, with the old key listed as previous.
    h.server.take().unwrap().stop().await.unwrap();
    let mut rotating = h.config.clone();
    rotating.previous_encryption_keys = vec![old_key];
    let (count, _) = switchboard::server::rotate_keys(&rotating).await.unwrap();
    assert_eq!(count, 3, "the API key, the access token and the refresh token");

    // Restart with the new key alone: everything works.
    h.restart().await;
    assert_eq!(h.get(CONTACT, Some(&api_key_user)).await.json()["successful"], true);
    assert_eq!(h.get(CONTACT, Some(&oauth_user)).await.json()["successful"], true);
    h.stop().await;
}

#[tokio::test]
async fn a_login_the_app_connect_client_starts_itself_connects_once() {
    let h = start(test_support::sqlite_url(), |_| {}).await;
    // The client reads the manifest and builds the authorize URL itself, with
    // no encoding, `state=platform=<name>` and its own redirect page.
    let m = h.get(&format!("/crmManifest?platformName={PLATFORM}"), None).await.json();
    let oauth = &m["platforms"][PLATFORM]["auth"]["oauth"];
    let redirect = m["redirectUri"].as_str().unwrap();
    let authorize = format!(
        "{}?response_type=code&client_id={}&{}&state=platform={PLATFORM}&redirect_uri={redirect}",
        oauth["authUrl"].as_str().unwrap(),
        oauth["clientId"].as_str().unwrap(),
        oauth["scope"].as_str().unwrap(),
    );
    assert!(authorize.starts_with("https://oauth.testcrm.example/oauth/authorize?"), "{authorize}");
    assert_eq!(oauth["clientId"], CLIENT_ID);
    // The user consents at the CRM (the fake), which sends the browser to the client's page.
    let at_fake = authorize.replace("https://oauth.testcrm.example", &h.crm.base_url());
    let r = no_redirects().get(at_fake).send().await.unwrap();
    assert!(r.status().is_redirection(), "{}", r.status());
    let callback_uri = r.headers()["location"].to_str().unwrap().to_owned();
    assert!(callback_uri.starts_with(redirect), "{callback_uri}");

    // The client hands the page's URL over, unencoded, with its hostname and account.
    let callback = format!("/oauth-callback?callbackUri={callback_uri}&hostname=testcrm.example&rcAccountId=12345");
    let r = h.get(&callback, None).await;
    assert_eq!(r.status, 200, "{}", r.text);
    let jwt = r.json()["jwtToken"].as_str().unwrap().to_owned();
    assert_eq!(r.json()["name"], "Ada Lovelace");
    let found = h.get(&format!("{CONTACT}&jwtToken={jwt}"), None).await.json();
    assert_eq!(found["contact"][0]["name"], "Luke Skywalker", "{found}");

    // The same callback again: the code works once; the CRM is not asked twice.
    let exchanges = token_calls(&h, "authorization_code");
    h.get(&callback, None).await.assert_error(400, "INVALID_STATE");
    assert_eq!(token_calls(&h, "authorization_code"), exchanges);
    // A page other than the registered one is refused before any exchange.
    let elsewhere = callback.replace(redirect, "https://evil.example/redirect.html");
    h.get(&elsewhere, None).await.assert_error(400, "INVALID_REDIRECT_URI");
    h.stop().await;
}
