//! Connect secrets (issue 14): a workspace's backend signs a JWT with its
//! private key, here with PyJWT (an independent implementation, from PyPI);
//! `POST /connect/sessions` accepts a good one once and refuses every bad one
//! with its own code, as an RFC 9457 problem document.

#![allow(clippy::unwrap_used)] // a test crate: an unwrap that fails is a failed test

mod common;

use common::pyjwt::{pyjwt, sign};
use common::{ADMIN_TOKEN, Harness, HostProcess};
use serde_json::{Value, json};
use std::process::Command;
use switchboard::store::test_support;

fn now() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64
}

/// A workspace made through the admin API: (id, kid, private key PEM).
async fn workspace(h: &Harness, name: &str) -> (String, String, String) {
    let r = h
        .client
        .post(format!("{}/admin/workspaces", h.base))
        .bearer_auth(ADMIN_TOKEN)
        .json(&json!({"name": name, "allowedOrigins": ["https://app.example.test"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let v: Value = r.json().await.unwrap();
    let field = |k: &str| v[k].as_str().unwrap().to_owned();
    (field("id"), field("kid"), field("privateKeyPem"))
}

fn claims(workspace_id: &str) -> Value {
    json!({
        "workspace_id": workspace_id,
        "customer_id": "cust42",
        "name": "Customer 42",
        "jti": uuid::Uuid::new_v4().to_string(),
        "iat": now(),
        "exp": now() + 300,
    })
}

async fn open(base: &str, connector: &str, secret: &str, origin: Option<&str>) -> (u16, Value) {
    let client = reqwest::Client::new();
    let mut req =
        client.post(format!("{base}/connect/sessions")).json(&json!({"connector": connector, "secret": secret}));
    if let Some(origin) = origin {
        req = req.header("origin", origin);
    }
    let r = req.send().await.unwrap();
    let status = r.status().as_u16();
    if status >= 400 {
        assert_eq!(r.headers()["content-type"], "application/problem+json", "{status}");
        let request_id = r.headers()["x-request-id"].to_str().unwrap().to_owned();
        let problem: Value = r.json().await.unwrap();
        assert_eq!(problem["correlationId"], request_id.as_str(), "{problem}");
        assert_eq!(problem["status"], status, "{problem}");
        return (status, problem);
    }
    (status, r.json().await.unwrap())
}

#[tokio::test]
async fn a_secret_signed_with_pyjwt_opens_one_session_and_every_bad_secret_is_refused_with_its_code() {
    if !pyjwt() {
        return;
    }
    let h = Harness::start().await;
    let (ws, kid, private) = workspace(&h, "Acme").await;
    let (other_ws, other_kid, other_private) = workspace(&h, "Other").await;

    // The good secret: a session for the page, once.
    let good = sign(&private, "RS256", &kid, &claims(&ws));
    let (status, opened) = open(&h.base, "testcrm", &good, Some("https://app.example.test")).await;
    assert_eq!(status, 201, "{opened}");
    let token = opened["sessionToken"].as_str().unwrap();
    assert!(token.starts_with("cs_"), "{opened}");
    assert_eq!(opened["customerId"], "cust42");
    assert!(opened["connectUrl"].as_str().unwrap().starts_with("/connect/testcrm?session=cs_"), "{opened}");
    let expires = opened["expiresAt"].as_i64().unwrap();
    assert!((now() + 800..=now() + 900).contains(&expires), "about 15 minutes: {opened}");
    let r = h.client.get(format!("{}/connect/sessions/current", h.base)).bearer_auth(token).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let current: Value = r.json().await.unwrap();
    assert_eq!(
        (current["workspace"]["id"].as_str(), current["connector"].as_str()),
        (Some(ws.as_str()), Some("testcrm"))
    );
    assert_eq!(current["customerName"], "Customer 42");
    let r = h.client.get(format!("{}/connect/sessions/current", h.base)).bearer_auth("cs_guess").send().await.unwrap();
    assert_eq!(r.status(), 401);
    let (status, replay) = open(&h.base, "testcrm", &good, None).await;
    assert_eq!((status, replay["code"].as_str()), (401, Some("SECRET_REPLAYED")), "{replay}");

    let with = |change: &dyn Fn(&mut Value)| {
        let mut c = claims(&ws);
        change(&mut c);
        c
    };
    let bad: Vec<(&str, String, u16, &str)> = vec![
        ("HS256", sign("a-shared-secret-of-32-bytes-or-more!", "HS256", &kid, &claims(&ws)), 400, "SECRET_ALGORITHM"),
        ("alg none", sign("", "none", &kid, &claims(&ws)), 400, "SECRET_ALGORITHM"),
        ("not a JWT", "not.a-jwt".into(), 400, "SECRET_MALFORMED"),
        (
            "another workspace's key",
            sign(&other_private, "RS256", &other_kid, &claims(&ws)),
            401,
            "SECRET_WRONG_WORKSPACE",
        ),
        (
            "signed with another key than its kid's",
            sign(&other_private, "RS256", &kid, &claims(&ws)),
            401,
            "SECRET_BAD_SIGNATURE",
        ),
        ("an unknown kid", sign(&private, "RS256", "k_unknown", &claims(&ws)), 401, "SECRET_UNKNOWN_KEY"),
        (
            "expired",
            sign(
                &private,
                "RS256",
                &kid,
                &with(&|c| {
                    c["iat"] = json!(now() - 400);
                    c["exp"] = json!(now() - 100);
                }),
            ),
            401,
            "SECRET_EXPIRED",
        ),
        (
            "no exp",
            sign(&private, "RS256", &kid, &with(&|c| drop(c.as_object_mut().unwrap().remove("exp")))),
            400,
            "SECRET_MISSING_CLAIM",
        ),
        (
            "no iat",
            sign(&private, "RS256", &kid, &with(&|c| drop(c.as_object_mut().unwrap().remove("iat")))),
            400,
            "SECRET_MISSING_CLAIM",
        ),
        (
            "no jti",
            sign(&private, "RS256", &kid, &with(&|c| drop(c.as_object_mut().unwrap().remove("jti")))),
            400,
            "SECRET_MISSING_CLAIM",
        ),
        (
            "no customer_id",
            sign(&private, "RS256", &kid, &with(&|c| drop(c.as_object_mut().unwrap().remove("customer_id")))),
            400,
            "SECRET_MISSING_CLAIM",
        ),
        (
            "an hour long",
            sign(&private, "RS256", &kid, &with(&|c| c["exp"] = json!(now() + 3600))),
            400,
            "SECRET_LIFETIME_TOO_LONG",
        ),
        (
            "issued in an hour",
            sign(
                &private,
                "RS256",
                &kid,
                &with(&|c| {
                    c["iat"] = json!(now() + 3600);
                    c["exp"] = json!(now() + 3700);
                }),
            ),
            400,
            "SECRET_ISSUED_IN_FUTURE",
        ),
        (
            "a customer id with symbols",
            sign(&private, "RS256", &kid, &with(&|c| c["customer_id"] = json!("cust-42!"))),
            400,
            "INVALID_CUSTOMER_ID",
        ),
        (
            "a foreign integration",
            sign(&private, "RS256", &kid, &with(&|c| c["integration_id"] = json!("int_123"))),
            404,
            "INTEGRATION_NOT_FOUND",
        ),
    ];
    for (why, secret, status, code) in &bad {
        let (got, problem) = open(&h.base, "testcrm", secret, None).await;
        assert_eq!((got, problem["code"].as_str()), (*status, Some(*code)), "{why}: {problem}");
        assert_eq!(problem["retryable"], false, "{why}: {problem}");
    }
    let (status, problem) =
        open(&h.base, "testcrm", &sign(&private, "RS256", &kid, &claims(&ws)), Some("https://evil.example")).await;
    assert_eq!((status, problem["code"].as_str()), (403, Some("ORIGIN_NOT_ALLOWED")), "{problem}");

    // A secret sent for a connector that does not exist is still good for the right one.
    let secret = sign(&private, "RS256", &kid, &claims(&ws));
    let (status, problem) = open(&h.base, "nosuchcrm", &secret, None).await;
    assert_eq!((status, problem["code"].as_str()), (404, Some("UNKNOWN_CONNECTOR")), "{problem}");
    assert_eq!(open(&h.base, "testcrm", &secret, None).await.0, 201);

    // The workspace's own key (made by openssl, added by its kid) signs too.
    let own = Command::new("openssl")
        .args(["genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048"])
        .output()
        .unwrap();
    let own_private = String::from_utf8(own.stdout).unwrap();
    let file = h.data.path().join("own.pem");
    std::fs::write(&file, &own_private).unwrap();
    let public = Command::new("openssl").args(["pkey", "-pubout", "-in"]).arg(&file).output().unwrap();
    let r = h
        .client
        .post(format!("{}/admin/workspaces/{ws}/signing-keys", h.base))
        .bearer_auth(ADMIN_TOKEN)
        .json(&json!({"keys": [{"kid": "acme-2027", "publicKeyPem": String::from_utf8(public.stdout).unwrap()}]}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    assert_eq!(open(&h.base, "testcrm", &sign(&own_private, "RS256", "acme-2027", &claims(&ws)), None).await.0, 201);

    // A revoked key signs nothing any more.
    let r = h
        .client
        .delete(format!("{}/admin/workspaces/{other_ws}/signing-keys/{other_kid}", h.base))
        .bearer_auth(ADMIN_TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    let (status, problem) =
        open(&h.base, "testcrm", &sign(&other_private, "RS256", &other_kid, &claims(&other_ws)), None).await;
    assert_eq!((status, problem["code"].as_str()), (401, Some("SECRET_UNKNOWN_KEY")), "{problem}");
    h.stop().await;
}

#[tokio::test]
async fn a_secret_replayed_to_the_other_replica_on_postgres_is_refused() {
    let Some(url) = test_support::postgres_url().await.filter(|_| pyjwt()) else { return };
    let h = Harness::start_with(url, &["testcrm"], &[], |_| {}).await;
    let (ws, kid, private) = workspace(&h, "Acme").await;
    let other = HostProcess::spawn(&h.config);
    let secret = sign(&private, "RS256", &kid, &claims(&ws));
    assert_eq!(open(&other.base, "testcrm", &secret, None).await.0, 201);
    let (status, problem) = open(&h.base, "testcrm", &secret, None).await;
    assert_eq!((status, problem["code"].as_str()), (401, Some("SECRET_REPLAYED")), "{problem}");
    drop(other);
    h.stop().await;
}

#[tokio::test]
async fn a_backend_opens_a_connect_session_with_its_api_key_instead_of_a_secret() {
    let h = Harness::start().await;
    let r = h
        .client
        .post(format!("{}/admin/workspaces", h.base))
        .bearer_auth(ADMIN_TOKEN)
        .json(&json!({"name": "Acme"}))
        .send()
        .await
        .unwrap();
    let created: Value = r.json().await.unwrap();
    let api_key = created["apiKey"]["key"].as_str().unwrap();
    let mint = |key: &str, body: Value| {
        let req = h.client.post(format!("{}/api/v1/connect-sessions", h.base)).bearer_auth(key).json(&body);
        async move {
            let r = req.send().await.unwrap();
            let status = r.status().as_u16();
            (status, r.json::<Value>().await.unwrap())
        }
    };
    let (status, opened) = mint(api_key, json!({"connector": "testcrm", "customerId": "cust7", "name": "Seven"})).await;
    assert_eq!(status, 201, "{opened}");
    let token = opened["sessionToken"].as_str().unwrap();
    let current: Value = h
        .client
        .get(format!("{}/connect/sessions/current", h.base))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!((current["customerId"].as_str(), current["customerName"].as_str()), (Some("cust7"), Some("Seven")));
    assert_eq!(current["workspace"]["id"], created["id"]);

    let refused = [
        (api_key, json!({"connector": "testcrm", "customerId": "cust 7"}), 400, "INVALID_CUSTOMER_ID"),
        (api_key, json!({"connector": "nosuchcrm", "customerId": "cust7"}), 404, "UNKNOWN_CONNECTOR"),
        (
            api_key,
            json!({"connector": "testcrm", "customerId": "cust7", "integrationId": "int_1"}),
            404,
            "INTEGRATION_NOT_FOUND",
        ),
        (api_key, json!({"connector": "testcrm"}), 400, "INVALID_JSON"),
        ("sbk_not-a-key", json!({"connector": "testcrm", "customerId": "cust7"}), 401, "UNAUTHENTICATED"),
    ];
    for (key, body, status, code) in refused {
        let (got, problem) = mint(key, body.clone()).await;
        assert_eq!((got, problem["code"].as_str()), (status, Some(code)), "{body}: {problem}");
    }
    h.stop().await;
}
