//! Widget tokens (issue 16, first step): a workspace's backend mints a
//! short-lived token for one customer with its API key; the widget validates
//! it from a page on one of the workspace's origins, over real HTTP.

#![allow(clippy::unwrap_used)] // a test crate: an unwrap that fails is a failed test

mod common;

use common::Harness;
use common::api_v1::{ORIGIN, api, problem, workspace};
use reqwest::Method;
use serde_json::{Value, json};
use switchboard::store::test_support;

async fn validate(h: &Harness, token: &str, origin: Option<&str>) -> common::Reply {
    let mut req = h.client.get(format!("{}/api/v1/widget-tokens/validate", h.base)).bearer_auth(token);
    if let Some(o) = origin {
        req = req.header("origin", o);
    }
    let resp = req.send().await.unwrap();
    common::Reply { status: resp.status(), headers: resp.headers().clone(), text: resp.text().await.unwrap() }
}

fn unix(rfc3339: &Value) -> i64 {
    let t = humantime::parse_rfc3339(rfc3339.as_str().unwrap()).unwrap();
    t.duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64
}

fn now() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64
}

#[tokio::test]
async fn a_backend_mints_a_short_lived_token_the_widget_validates_only_from_an_allowed_origin() {
    let url = test_support::sqlite_url();
    let h = Harness::start_with(url.clone(), &["testcrm"], &[], |_| {}).await;
    let (_, key) = workspace(&h, "Acme").await;

    // Minted with the API key: 1 h by default, or as asked, at most 24 h.
    let r = api(&h, Method::POST, "/widget-tokens", &key, Some(&json!({"customerId": "cust42"}))).await;
    assert_eq!(r.status, 201, "{}", r.text);
    let minted = r.json();
    let token = minted["token"].as_str().unwrap().to_owned();
    assert!(token.starts_with("wt_") && token.len() > 40, "{minted}");
    assert_eq!(minted["customerId"], "cust42");
    assert_eq!(minted["allowedOrigins"], json!([ORIGIN]));
    let left = unix(&minted["expiresAt"]) - now();
    assert!((3590..=3600).contains(&left), "default 1 h: {minted}");
    let r = api(&h, Method::POST, "/widget-tokens", &key, Some(&json!({"customerId": "cust42", "ttl": 120}))).await;
    let left = unix(&r.json()["expiresAt"]) - now();
    assert!((110..=120).contains(&left), "{}", r.text);
    let r = api(&h, Method::POST, "/widget-tokens", &key, Some(&json!({"customerId": "c", "ttl": 86_401}))).await;
    problem(&r, 400, "INVALID_REQUEST");
    let both = json!({"customerId": "c", "ttl": 600, "expiresAt": "2030-01-01T00:00:00Z"});
    problem(&api(&h, Method::POST, "/widget-tokens", &key, Some(&both)).await, 400, "INVALID_REQUEST");
    let far = json!({"customerId": "c", "expiresAt": "2099-01-01T00:00:00Z"});
    problem(&api(&h, Method::POST, "/widget-tokens", &key, Some(&far)).await, 400, "INVALID_REQUEST");
    let bad = json!({"customerId": "cust 42!"});
    problem(&api(&h, Method::POST, "/widget-tokens", &key, Some(&bad)).await, 400, "INVALID_CUSTOMER_ID");
    let r = api(&h, Method::POST, "/widget-tokens", "sbk_wrong", Some(&json!({"customerId": "c"}))).await;
    problem(&r, 401, "UNAUTHENTICATED");

    // Only its hash is stored.
    let path = url.trim_start_matches("sqlite://").split('?').next().unwrap().to_owned();
    for file in [path.clone(), format!("{path}-wal")] {
        if let Ok(bytes) = std::fs::read(&file) {
            assert!(!bytes.windows(token.len()).any(|w| w == token.as_bytes()), "{file} holds the token");
        }
    }

    // The widget validates it: from the workspace's origin or without one (a server), not from another.
    for origin in [None, Some(ORIGIN)] {
        let r = validate(&h, &token, origin).await;
        assert_eq!(r.status, 200, "{}", r.text);
        let v = r.json();
        assert_eq!((v["valid"].clone(), v["customerId"].clone()), (json!(true), json!("cust42")), "{v}");
        assert!(v["expiresIn"].as_i64().unwrap() > 3500, "{v}");
    }
    let r = validate(&h, &token, Some("https://evil.example")).await;
    assert_eq!(r.status, 403, "{}", r.text);
    assert_eq!(r.json()["code"], "ORIGIN_NOT_ALLOWED");
    let r = validate(&h, "wt_not-a-token", None).await;
    assert_eq!((r.status.as_u16(), r.json()["code"].clone()), (401, json!("WIDGET_TOKEN_INVALID")), "{}", r.text);
    let r = validate(&h, &key, None).await;
    assert_eq!(r.json()["code"], "WIDGET_TOKEN_INVALID", "an API key is not a widget token");

    // Expired: refused with its own code, so the widget asks for a new one.
    let pool = sqlx::SqlitePool::connect(&url).await.unwrap();
    sqlx::query("UPDATE widget_tokens SET expires_at = 1").execute(&pool).await.unwrap();
    pool.close().await;
    let r = validate(&h, &token, Some(ORIGIN)).await;
    assert_eq!((r.status.as_u16(), r.json()["code"].clone()), (401, json!("WIDGET_TOKEN_EXPIRED")), "{}", r.text);
    h.stop().await;
}
