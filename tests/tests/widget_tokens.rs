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

/// A call of the widget's own API with its token, from `origin`.
async fn widget(h: &Harness, method: Method, path: &str, token: &str, body: Option<&Value>) -> common::Reply {
    let mut req =
        h.client.request(method, format!("{}/widget/api{path}", h.base)).bearer_auth(token).header("origin", ORIGIN);
    if let Some(b) = body {
        req = req.json(b);
    }
    let resp = req.send().await.unwrap();
    common::Reply { status: resp.status(), headers: resp.headers().clone(), text: resp.text().await.unwrap() }
}

async fn mint(h: &Harness, key: &str, customer: &str) -> String {
    let r = api(h, Method::POST, "/widget-tokens", key, Some(&json!({"customerId": customer}))).await;
    r.json()["token"].as_str().unwrap().to_owned()
}

fn testcrm(overview: &Value) -> Value {
    overview["connectors"].as_array().unwrap().iter().find(|c| c["id"] == "testcrm").cloned().unwrap()
}

#[tokio::test]
async fn the_widget_lists_connects_and_disconnects_its_customer_s_integrations_only() {
    let h = Harness::start().await;
    let (_, key) = workspace(&h, "Acme").await;
    let (alice, bob) = (mint(&h, &key, "alice").await, mint(&h, &key, "bob").await);

    // Before: nothing connected.
    let r = widget(&h, Method::GET, "/connectors", &alice, None).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.json()["customerId"], "alice");
    assert_eq!(
        (testcrm(&r.json())["connected"].clone(), testcrm(&r.json())["authKind"].clone()),
        (json!(false), json!("api-key"))
    );

    // Connect: a session for the popup, the connect page's API-key form, then the list shows it.
    let r = widget(&h, Method::POST, "/connect-sessions", &alice, Some(&json!({"connector": "testcrm"}))).await;
    assert_eq!(r.status, 201, "{}", r.text);
    let session = r.json();
    assert_eq!(session["customerId"], "alice");
    assert!(session["connectUrl"].as_str().unwrap().starts_with("/connect/testcrm?session=cs_"), "{session}");
    let r = h
        .client
        .post(format!("{}/connect/sessions/current/api-key", h.base))
        .bearer_auth(session["sessionToken"].as_str().unwrap())
        .json(&json!({"apiKey": switchboard_e2e::testcrm::DEMO_API_KEY}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let r = widget(&h, Method::GET, "/connectors", &alice, None).await;
    let c = testcrm(&r.json());
    assert_eq!((c["connected"].clone(), c["status"].clone()), (json!(true), json!("active")), "{c}");
    let id = c["integrationId"].as_str().unwrap().to_owned();
    problem(
        &widget(&h, Method::POST, "/connect-sessions", &alice, Some(&json!({"connector": "nope"}))).await,
        404,
        "UNKNOWN_CONNECTOR",
    );

    // Bob sees none of it and cannot disconnect it.
    assert_eq!(testcrm(&widget(&h, Method::GET, "/connectors", &bob, None).await.json())["connected"], false);
    problem(
        &widget(&h, Method::DELETE, &format!("/integrations/{id}"), &bob, None).await,
        404,
        "INTEGRATION_NOT_FOUND",
    );

    // Alice disconnects it; the list follows.
    let r = widget(&h, Method::DELETE, &format!("/integrations/{id}"), &alice, None).await;
    assert_eq!((r.status.as_u16(), r.json()["status"].clone()), (200, json!("disconnected")), "{}", r.text);
    let c = testcrm(&widget(&h, Method::GET, "/connectors", &alice, None).await.json());
    assert_eq!((c["connected"].clone(), c["status"].clone()), (json!(false), json!("disconnected")), "{c}");

    // From a page the workspace did not allow, or without a token: nothing.
    let r = h
        .client
        .get(format!("{}/widget/api/connectors", h.base))
        .bearer_auth(&alice)
        .header("origin", "https://evil.example")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    assert!(!r.text().await.unwrap().contains("testcrm"));
    let r = h.client.get(format!("{}/widget/api/connectors", h.base)).send().await.unwrap();
    assert_eq!(r.status(), 401);
    assert_eq!(r.headers()["content-type"], "application/problem+json");
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dev_widget_token_prints_a_token_and_the_tag_for_a_local_page() {
    let h = Harness::start_with(test_support::sqlite_url(), &["testcrm"], &[], |_| {}).await;
    let run = |args: &[&str]| {
        let out = common::cli(&h, &[&["dev", "widget-token"], args].concat());
        assert!(out.status.success(), "{args:?}: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8(out.stdout).unwrap()
    };
    let token_in = |printed: &str| {
        let line = printed.lines().map(str::trim).find(|l| l.starts_with("wt_")).unwrap_or_else(|| panic!("{printed}"));
        line.to_owned()
    };
    // The first run makes the Development workspace for the page's origin.
    let first = run(&["--customer", "devcust", "--origin", "http://localhost:5173"]);
    assert!(first.contains("Made workspace ws_") && first.contains("sbk_"), "{first}");
    let token = token_in(&first);
    assert!(first.contains(&format!("src=\"http://127.0.0.1:8080/widget/widget.js\" token=\"{token}\"")), "{first}");
    let r = validate(&h, &token, Some("http://localhost:5173")).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.json()["customerId"], "devcust");
    let r = validate(&h, &token, Some("https://elsewhere.example")).await;
    problem(&r, 403, "ORIGIN_NOT_ALLOWED");
    // The next run reuses it; a bad customer id is refused before anything is made.
    let second = run(&["--ttl", "120"]);
    assert!(!second.contains("Made workspace"), "{second}");
    let r = validate(&h, &token_in(&second), Some("http://localhost:5173")).await;
    assert_eq!((r.status.as_u16(), r.json()["customerId"].as_str()), (200, Some("devcustomer")), "{}", r.text);
    assert!(r.json()["expiresIn"].as_i64().unwrap() <= 120);
    let out = common::cli(&h, &["dev", "widget-token", "--customer", "not a customer"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("--customer must be"), "{out:?}");
    h.stop().await;
}
