//! jwtToken rejection cases: each is a 401 JSON error with a stable code.

#![allow(clippy::unwrap_used)] // a test crate: an unwrap that fails is a failed test

mod common;

use common::{Harness, SECRET};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::json;

fn now() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64
}

fn sign(alg: Algorithm, claims: &serde_json::Value) -> String {
    jsonwebtoken::encode(&Header::new(alg), claims, &EncodingKey::from_secret(SECRET.as_bytes())).unwrap()
}

fn b64(v: &serde_json::Value) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string())
}

const CONTACT: &str = "/contact?phoneNumber=%2B16505551212";

#[tokio::test]
async fn bad_tokens_are_refused_with_401_json() {
    let h = Harness::start().await;
    let good = h.login().await;
    let claims = json!({"id": "u-1001-testcrm", "platform": "testcrm", "iat": now(), "exp": now() + 3600});

    // Missing token.
    h.get(CONTACT, None).await.assert_error(401, "MISSING_TOKEN");
    // alg "none": header and payload, empty signature.
    let none = format!("{}.{}.", b64(&json!({"alg": "none", "typ": "JWT"})), b64(&claims));
    h.get(CONTACT, Some(&none)).await.assert_error(401, "INVALID_TOKEN");
    // Signed with the right secret but HS512.
    h.get(CONTACT, Some(&sign(Algorithm::HS512, &claims))).await.assert_error(401, "INVALID_TOKEN");
    // Tampered payload: another user's id under the original signature.
    let mut parts: Vec<String> = good.split('.').map(str::to_owned).collect();
    parts[1] = b64(&json!({"id": "u-2002-testcrm", "platform": "testcrm", "iat": now(), "exp": now() + 3600}));
    h.get(CONTACT, Some(&parts.join("."))).await.assert_error(401, "INVALID_TOKEN");
    // Expired.
    let expired = json!({"id": "u-1001-testcrm", "platform": "testcrm", "iat": now() - 7200, "exp": now() - 60});
    h.get(CONTACT, Some(&sign(Algorithm::HS256, &expired))).await.assert_error(401, "TOKEN_EXPIRED");
    // No exp at all.
    let no_exp = json!({"id": "u-1001-testcrm", "platform": "testcrm", "iat": now()});
    h.get(CONTACT, Some(&sign(Algorithm::HS256, &no_exp))).await.assert_error(401, "INVALID_TOKEN");
    // Well signed, but no such user.
    let stranger = json!({"id": "u-9999-testcrm", "platform": "testcrm", "iat": now(), "exp": now() + 3600});
    h.get(CONTACT, Some(&sign(Algorithm::HS256, &stranger))).await.assert_error(401, "ACCOUNT_NOT_FOUND");
    // A real user's id claimed for another platform.
    let other = json!({"id": "u-1001-testcrm", "platform": "pipedrive", "iat": now(), "exp": now() + 3600});
    h.get(CONTACT, Some(&sign(Algorithm::HS256, &other))).await.assert_error(401, "ACCOUNT_NOT_FOUND");
    // Garbage.
    h.get(CONTACT, Some("not.a.jwt")).await.assert_error(401, "INVALID_TOKEN");

    // None of these reached the CRM's contact search.
    assert!(h.crm.seen("/v1/contacts").is_empty());
    h.stop().await;
}

#[tokio::test]
async fn the_token_is_accepted_from_the_header_and_from_the_query() {
    let h = Harness::start().await;
    let t = h.login().await;
    let r = h.get(CONTACT, Some(&t)).await;
    assert_eq!(r.json()["successful"], true, "{}", r.text);
    let r = h.get(&format!("{CONTACT}&jwtToken={t}"), None).await;
    assert_eq!(r.json()["successful"], true, "{}", r.text);
    // A fresh token is not refreshed.
    assert!(r.header("x-refreshed-jwt-token").is_none());
    h.stop().await;
}

#[tokio::test]
async fn a_token_with_a_week_or_less_left_is_refreshed() {
    let h = Harness::start().await;
    h.login().await;
    let old = sign(
        Algorithm::HS256,
        &json!({"id": "u-1001-testcrm", "platform": "testcrm", "iat": now() - 8 * 86400, "exp": now() + 6 * 86400}),
    );
    let r = h.get(CONTACT, Some(&old)).await;
    assert_eq!(r.status, 200);
    let fresh = r.header("x-refreshed-jwt-token").expect("a refreshed token");
    assert_ne!(fresh, old);
    let r = h.get(CONTACT, Some(&fresh)).await;
    assert_eq!(r.json()["successful"], true);
    assert!(r.header("x-refreshed-jwt-token").is_none(), "the new one has two weeks left");
    h.stop().await;
}
