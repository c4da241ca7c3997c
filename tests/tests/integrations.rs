//! Integrations (issue 14): a workspace's backend connects its customers'
//! CRMs with its API key, by API key (checked by the CRM) or by OAuth (the
//! customer's browser sent to the CRM and back), then lists, renames,
//! refreshes, disconnects and reconnects them, takes their access tokens and
//! reads their audit trail, over real HTTP against the Test CRM's fakes.

#![allow(clippy::unwrap_used)] // a test crate: an unwrap that fails is a failed test

mod common;

use common::Harness;
use common::api_v1::{self, api, problem, workspace};
use reqwest::Method;
use serde_json::{Value, json};
use switchboard::config::Config;
use switchboard::store::test_support;
use switchboard_e2e::oauth::lock;
use switchboard_e2e::testcrm::DEMO_API_KEY;

const ORIGIN: &str = api_v1::ORIGIN;
const REDIRECT_URI: &str = "https://switchboard.example/oauth-callback";

fn connect_body(customer: &str, api_key: &str) -> Value {
    json!({"connector": "testcrm", "customerId": customer, "apiKey": api_key, "name": "Acme's CRM",
           "metadata": {"plan": "gold"}})
}

#[tokio::test]
async fn an_api_key_integration_connects_is_listed_masked_renamed_disconnected_and_reconnected_with_its_id() {
    let url = test_support::sqlite_url();
    let h = Harness::start_with(url.clone(), &["testcrm"], &[], |_| {}).await;
    let (ws, key) = workspace(&h, "Acme").await;
    let (_, other_key) = workspace(&h, "Other").await;

    // Before: the connector is available, not connected.
    let r = api(&h, Method::GET, "/connectors?customerId=cust42", &key, None).await;
    assert_eq!(r.status, 200, "{}", r.text);
    let testcrm = r.json()["connectors"].as_array().unwrap().iter().find(|c| c["id"] == "testcrm").cloned().unwrap();
    assert_eq!((testcrm["authKind"].clone(), testcrm["connected"].clone()), (json!("api-key"), json!(false)));

    // A key the CRM refuses stores nothing.
    let r = api(&h, Method::POST, "/integrations", &key, Some(&connect_body("cust42", "wrong-key"))).await;
    problem(&r, 422, "INVALID_API_KEY");
    let r = api(&h, Method::GET, "/integrations", &key, None).await;
    assert_eq!(r.json()["integrations"], json!([]));
    // Nor do a bad customer id or an unknown connector.
    let r = api(&h, Method::POST, "/integrations", &key, Some(&connect_body("cust-42!", DEMO_API_KEY))).await;
    problem(&r, 400, "INVALID_CUSTOMER_ID");
    let mut unknown = connect_body("cust42", DEMO_API_KEY);
    unknown["connector"] = json!("nosuchcrm");
    problem(&api(&h, Method::POST, "/integrations", &key, Some(&unknown)).await, 404, "UNKNOWN_CONNECTOR");

    // The good key: a new integration, its key masked, never returned.
    let r = api(&h, Method::POST, "/integrations", &key, Some(&connect_body("cust42", DEMO_API_KEY))).await;
    assert_eq!(r.status, 201, "{}", r.text);
    assert!(!r.text.contains(DEMO_API_KEY), "{}", r.text);
    let created = r.json();
    let id = created["id"].as_str().unwrap().to_owned();
    assert!(id.starts_with("int_"), "{created}");
    assert_eq!(created["status"], "active");
    assert_eq!(created["customerId"], "cust42");
    assert_eq!(created["name"], "Acme's CRM");
    assert_eq!(created["metadata"], json!({"plan": "gold"}));
    assert_eq!(created["account"]["id"], "u-1001", "the CRM's own user: {created}");
    assert_eq!(created["maskedApiKey"], "••••", "a short key shows nothing of itself: {created}");

    // Stored encrypted: the key is nowhere in the database files.
    for suffix in ["", "-wal"] {
        let path = format!("{}{suffix}", url.trim_start_matches("sqlite://").split('?').next().unwrap());
        if let Ok(bytes) = std::fs::read(&path) {
            assert!(!bytes.windows(DEMO_API_KEY.len()).any(|w| w == DEMO_API_KEY.as_bytes()), "{path} holds the key");
        }
    }

    // Listed, filtered, connected; invisible to another workspace.
    let r = api(&h, Method::GET, "/connectors?customerId=cust42", &key, None).await;
    let testcrm = r.json()["connectors"].as_array().unwrap().iter().find(|c| c["id"] == "testcrm").cloned().unwrap();
    assert_eq!((testcrm["connected"].clone(), testcrm["integrationId"].clone()), (json!(true), json!(id)));
    let r = api(&h, Method::GET, "/integrations?customerId=cust42&status=active", &key, None).await;
    assert_eq!(r.json()["integrations"][0]["id"], id.as_str(), "{}", r.text);
    let r = api(&h, Method::GET, "/integrations?customerId=someoneelse", &key, None).await;
    assert_eq!(r.json()["integrations"], json!([]));
    problem(
        &api(&h, Method::GET, &format!("/integrations/{id}"), &other_key, None).await,
        404,
        "INTEGRATION_NOT_FOUND",
    );
    problem(
        &api(&h, Method::DELETE, &format!("/integrations/{id}"), &other_key, None).await,
        404,
        "INTEGRATION_NOT_FOUND",
    );
    problem(&api(&h, Method::GET, &format!("/integrations/{id}"), "sbk_nope", None).await, 401, "UNAUTHENTICATED");

    // Renamed; metadata replaced; a bad patch changes nothing.
    let patch = json!({"name": "Sales CRM", "metadata": {"plan": "platinum", "seats": 12}});
    let r = api(&h, Method::PATCH, &format!("/integrations/{id}"), &key, Some(&patch)).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!((r.json()["name"].clone(), r.json()["metadata"]["seats"].clone()), (json!("Sales CRM"), json!(12)));
    let bad = json!({"metadata": ["not", "an", "object"]});
    problem(&api(&h, Method::PATCH, &format!("/integrations/{id}"), &key, Some(&bad)).await, 400, "INVALID_REQUEST");
    let r = api(&h, Method::GET, &format!("/integrations/{id}"), &key, None).await;
    assert_eq!(r.json()["metadata"], json!({"plan": "platinum", "seats": 12}));

    // The backend takes the credential to call the CRM itself: audited, not cached.
    let r = api(&h, Method::GET, &format!("/integrations/{id}/access-token"), &key, None).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.json()["accessToken"], DEMO_API_KEY);
    assert_eq!(r.header("cache-control").as_deref(), Some("no-store"));

    // A refresh of an API key asks the CRM whether it still takes it.
    let before = h.crm.seen("/v1/me").len();
    let r = api(&h, Method::POST, &format!("/integrations/{id}/refresh"), &key, None).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(h.crm.seen("/v1/me").len(), before + 1, "the CRM was asked");

    // Connecting again (no id named) renews the same integration.
    let r = api(&h, Method::POST, "/integrations", &key, Some(&connect_body("cust42", DEMO_API_KEY))).await;
    assert_eq!(r.status, 200, "a renewal, not a new one: {}", r.text);
    assert_eq!(r.json()["id"], id.as_str());
    assert_eq!(r.json()["name"], "Acme's CRM", "the connect named it again");

    // Disconnected: the credential is gone, the integration stays; twice is fine.
    let r = api(&h, Method::DELETE, &format!("/integrations/{id}"), &key, None).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.json()["status"], "disconnected");
    assert_eq!(r.json()["maskedApiKey"], Value::Null);
    assert_eq!(api(&h, Method::DELETE, &format!("/integrations/{id}"), &key, None).await.status, 200);
    let r = api(&h, Method::GET, &format!("/integrations/{id}/access-token"), &key, None).await;
    problem(&r, 409, "NOT_CONNECTED");
    let r = api(&h, Method::GET, "/integrations?status=disconnected", &key, None).await;
    assert_eq!(r.json()["integrations"][0]["id"], id.as_str());
    let r = api(&h, Method::GET, "/connectors?customerId=cust42", &key, None).await;
    let testcrm = r.json()["connectors"].as_array().unwrap().iter().find(|c| c["id"] == "testcrm").cloned().unwrap();
    assert_eq!(testcrm["connected"], false);

    // Reconnected by naming it: the same id, active again.
    let mut renew = connect_body("cust42", DEMO_API_KEY);
    renew["integrationId"] = json!(id);
    let r = api(&h, Method::POST, "/integrations", &key, Some(&renew)).await;
    assert_eq!(
        (r.status.as_u16(), r.json()["id"].clone(), r.json()["status"].clone()),
        (200, json!(id), json!("active"))
    );
    // Naming an integration of another customer is refused.
    let mut foreign = connect_body("cust43", DEMO_API_KEY);
    foreign["integrationId"] = json!(id);
    problem(&api(&h, Method::POST, "/integrations", &key, Some(&foreign)).await, 404, "INTEGRATION_NOT_FOUND");

    // The audit trail: every step, with the backend's IP and user agent, never a secret.
    let r = api(&h, Method::GET, &format!("/integrations/{id}/events"), &key, None).await;
    assert!(!r.text.contains(DEMO_API_KEY), "{}", r.text);
    let events: Vec<String> =
        r.json()["events"].as_array().unwrap().iter().map(|e| e["event"].as_str().unwrap().to_owned()).collect();
    assert_eq!(events, ["reconnect", "disconnect", "reconnect", "refresh", "access_token", "login"], "newest first");
    let newest = &r.json()["events"][0];
    assert_eq!((newest["ip"].clone(), newest["userAgent"].clone()), (json!("127.0.0.1"), json!("acme-backend/1.0")));

    // A connect session may now renew this customer's integration, and only theirs.
    let session = json!({"connector": "testcrm", "customerId": "cust42", "integrationId": id});
    let r = api(&h, Method::POST, "/connect-sessions", &key, Some(&session)).await;
    assert_eq!(r.status, 201, "{}", r.text);
    assert_eq!(r.json()["integrationId"], id.as_str());
    let session = json!({"connector": "testcrm", "customerId": "cust43", "integrationId": id});
    problem(&api(&h, Method::POST, "/connect-sessions", &key, Some(&session)).await, 404, "INTEGRATION_NOT_FOUND");
    let _ = ws;
    h.stop().await;
}

fn oauth_config(c: &mut Config) {
    c.oauth.redirect_uri = REDIRECT_URI.into();
    c.oauth.initial_delay_ms = 10;
    c.oauth.max_delay_ms = 20;
    common::testcrm_oauth(c);
}

fn no_redirects() -> reqwest::Client {
    reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap()
}

/// Starts an OAuth connect on `base` and walks the customer's browser
/// through the CRM's consent: the callback URL the CRM sends it back to.
async fn consent(h: &Harness, base: &str, key: &str, body: &Value) -> url::Url {
    let r = no_redirects()
        .post(format!("{base}/api/v1/integrations/oauth/start"))
        .bearer_auth(key)
        .json(body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let started: Value = r.json().await.unwrap();
    let authorize = url::Url::parse(started["authUrl"].as_str().unwrap()).unwrap();
    assert_eq!(authorize.origin().ascii_serialization(), "https://oauth.testcrm.example");
    let q: std::collections::HashMap<_, _> = authorize.query_pairs().into_owned().collect();
    assert_eq!((q["redirect_uri"].as_str(), q["code_challenge_method"].as_str()), (REDIRECT_URI, "S256"));
    let at_fake = format!("{}{}?{}", h.crm.base_url(), authorize.path(), authorize.query().unwrap());
    let r = no_redirects().get(at_fake).send().await.unwrap();
    assert!(r.status().is_redirection());
    url::Url::parse(r.headers()["location"].to_str().unwrap()).unwrap()
}

/// The browser lands on `base`'s callback: where it is sent next.
async fn land(base: &str, callback: &url::Url) -> url::Url {
    let r = no_redirects().get(format!("{base}/oauth-callback?{}", callback.query().unwrap())).send().await.unwrap();
    assert_eq!(r.status(), 303, "{:?}", r.text().await);
    url::Url::parse(r.headers()["location"].to_str().unwrap()).unwrap()
}

fn query(u: &url::Url) -> std::collections::HashMap<String, String> {
    u.query_pairs().into_owned().collect()
}

fn oauth_start_body(customer: &str) -> Value {
    json!({"connector": "testcrm-oauth", "customerId": customer, "returnUrl": format!("{ORIGIN}/settings/crm?tab=1")})
}

#[tokio::test]
async fn an_oauth_integration_connects_through_the_browser_refreshes_expires_is_revoked_and_reconnects() {
    let h = Harness::start_with(test_support::sqlite_url(), &["testcrm", "testcrm-oauth"], &[], oauth_config).await;
    let (_, key) = workspace(&h, "Acme").await;

    // The return URL must be the workspace's.
    let mut elsewhere = oauth_start_body("cust42");
    elsewhere["returnUrl"] = json!("https://evil.example/steal");
    let r = api(&h, Method::POST, "/integrations/oauth/start", &key, Some(&elsewhere)).await;
    problem(&r, 400, "RETURN_URL_NOT_ALLOWED");
    // An API-key connector cannot be connected by OAuth, nor the reverse.
    let mut wrong = connect_body("cust42", "whatever");
    wrong["connector"] = json!("testcrm-oauth");
    problem(&api(&h, Method::POST, "/integrations", &key, Some(&wrong)).await, 400, "UNSUPPORTED_AUTH");

    // A token that expires in a second, to see the status change.
    lock(&h.crm.oauth).expires_in = 1;
    let callback = consent(&h, &h.base, &key, &oauth_start_body("cust42")).await;
    let back = land(&h.base, &callback).await;
    tokio::time::sleep(std::time::Duration::from_millis(2100)).await;
    assert_eq!(back.origin().ascii_serialization(), ORIGIN);
    assert_eq!(back.path(), "/settings/crm");
    let q = query(&back);
    assert_eq!((q["tab"].as_str(), q["status"].as_str()), ("1", "connected"), "{back}");
    let id = q["integration_id"].clone();
    // The state is single use: the same callback again is refused.
    let r =
        no_redirects().get(format!("{}/oauth-callback?{}", h.base, callback.query().unwrap())).send().await.unwrap();
    assert_eq!(r.status(), 400);
    assert_eq!(r.json::<Value>().await.unwrap()["errorCode"], "INVALID_STATE");

    let r = api(&h, Method::GET, &format!("/integrations/{id}"), &key, None).await;
    let got = r.json();
    assert_eq!((got["authKind"].clone(), got["status"].clone()), (json!("oauth"), json!("expired")), "{got}");
    assert_eq!(got["maskedApiKey"], Value::Null);
    let r = api(&h, Method::GET, "/integrations?status=expired", &key, None).await;
    assert_eq!(r.json()["integrations"][0]["id"], id.as_str());

    // The access token is refreshed when due.
    lock(&h.crm.oauth).expires_in = 3600;
    let refreshes = || lock(&h.crm.oauth).token_calls.get("refresh_token").copied().unwrap_or(0);
    let r = api(&h, Method::GET, &format!("/integrations/{id}/access-token"), &key, None).await;
    assert_eq!(r.status, 200, "{}", r.text);
    let token = r.json()["accessToken"].as_str().unwrap().to_owned();
    assert_eq!(switchboard_e2e::oauth::user_of(&h.crm.oauth, &token).as_deref(), Some("u-1001"), "a live token");
    assert_eq!(refreshes(), 1);
    let r = api(&h, Method::GET, &format!("/integrations/{id}"), &key, None).await;
    assert_eq!(r.json()["status"], "active");
    assert!(r.json()["lastRefreshAt"].is_i64(), "{}", r.text);
    // A fresh token is not refreshed again to be handed out.
    api(&h, Method::GET, &format!("/integrations/{id}/access-token"), &key, None).await;
    assert_eq!(refreshes(), 1);

    // A manual refresh renews it now, retrying a failing token endpoint as asked.
    lock(&h.crm.oauth).fail_next = 2;
    let retry = json!({"maxRetries": 3, "initialDelay": 5, "maxDelay": 10});
    let r = api(&h, Method::POST, &format!("/integrations/{id}/refresh"), &key, Some(&retry)).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(refreshes(), 4, "two failures, then the refresh");
    lock(&h.crm.oauth).fail_next = 5;
    let none = json!({"maxRetries": 1, "initialDelay": 5, "maxDelay": 10});
    let r = api(&h, Method::POST, &format!("/integrations/{id}/refresh"), &key, Some(&none)).await;
    let p = problem(&r, 502, "TOKEN_REFRESH_ERROR");
    assert_eq!(p["retryable"], true, "{p}");
    lock(&h.crm.oauth).fail_next = 0;
    let r = api(&h, Method::GET, &format!("/integrations/{id}"), &key, None).await;
    assert!(r.json()["lastError"].is_string(), "the failure is recorded: {}", r.text);
    assert_eq!(r.json()["status"], "active", "a transient failure does not end it");
    let bad = json!({"maxRetries": 1000});
    problem(
        &api(&h, Method::POST, &format!("/integrations/{id}/refresh"), &key, Some(&bad)).await,
        400,
        "INVALID_REQUEST",
    );

    // A second customer, for the batch.
    let callback = consent(&h, &h.base, &key, &oauth_start_body("cust43")).await;
    let other = query(&land(&h.base, &callback).await)["integration_id"].clone();
    assert_ne!(other, id);
    let r = api(&h, Method::POST, "/integrations/refresh", &key, Some(&json!({"integrationIds": [id, other]}))).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!((r.json()["refreshed"].clone(), r.json()["failed"].clone()), (json!(2), json!(0)), "{}", r.text);

    // The customer revokes the app at the CRM: the next refresh finds out.
    switchboard_e2e::oauth::forget_refresh_tokens(&h.crm.oauth);
    let r = api(&h, Method::POST, "/integrations/refresh", &key, Some(&json!({"customerId": "cust42"}))).await;
    let results = r.json()["results"].clone();
    assert_eq!(results[0]["integrationId"], id.as_str(), "{results}");
    assert_eq!((results[0]["ok"].clone(), results[0]["code"].clone()), (json!(false), json!("CRM_SESSION_REVOKED")));
    assert_eq!(results[0]["status"], "revoked");
    let r = api(&h, Method::GET, &format!("/integrations/{id}/access-token"), &key, None).await;
    problem(&r, 409, "CRM_SESSION_REVOKED");
    let r = api(&h, Method::GET, "/integrations?status=revoked", &key, None).await;
    assert_eq!(r.json()["integrations"].as_array().unwrap().len(), 1, "{}", r.text);

    // Reconnected by OAuth, naming it: the same id, active, "reconnected".
    let mut renew = oauth_start_body("cust42");
    renew["integrationId"] = json!(id);
    let back = land(&h.base, &consent(&h, &h.base, &key, &renew).await).await;
    assert_eq!(
        (query(&back)["integration_id"].as_str(), query(&back)["status"].as_str()),
        (id.as_str(), "reconnected")
    );
    let r = api(&h, Method::GET, &format!("/integrations/{id}"), &key, None).await;
    assert_eq!(r.json()["status"], "active");

    // Disconnect revokes the tokens at the CRM (RFC 7009).
    let r = api(&h, Method::DELETE, &format!("/integrations/{id}"), &key, None).await;
    assert_eq!(r.json()["status"], "disconnected", "{}", r.text);
    assert!(!lock(&h.crm.oauth).revoked.is_empty(), "the CRM was told");

    // The customer refuses consent: the browser goes back with the reason.
    let r = api(&h, Method::POST, "/integrations/oauth/start", &key, Some(&oauth_start_body("cust44"))).await;
    let auth = url::Url::parse(r.json()["authUrl"].as_str().unwrap()).unwrap();
    let state = query(&auth)["state"].clone();
    let denied = url::Url::parse(&format!("{REDIRECT_URI}?error=access_denied&state={state}")).unwrap();
    let back = land(&h.base, &denied).await;
    let q = query(&back);
    assert_eq!(q["error"], "OAUTH_DENIED", "{back}");
    assert!(!q["correlation_id"].is_empty());
    let r = api(&h, Method::GET, "/integrations?customerId=cust44", &key, None).await;
    assert_eq!(r.json()["integrations"], json!([]), "nothing stored");
    h.stop().await;
}

#[tokio::test]
async fn an_oauth_connect_started_on_one_replica_finishes_on_the_other() {
    let Some(url) = test_support::postgres_url().await else { return };
    let a = Harness::start_with(url.clone(), &["testcrm", "testcrm-oauth"], &[], oauth_config).await;
    // The second replica shares the database and the CRM fake's address.
    let crm = a.crm.base_url();
    let b = Harness::start_with(url, &["testcrm", "testcrm-oauth"], &[], |c| {
        oauth_config(c);
        c.upstream_overrides.insert("https://api.testcrm.example".into(), crm.clone());
        c.upstream_overrides.insert("https://oauth.testcrm.example".into(), crm.clone());
    })
    .await;
    let (_, key) = workspace(&a, "Acme").await;
    let callback = consent(&a, &a.base, &key, &oauth_start_body("cust42")).await;
    let back = land(&b.base, &callback).await;
    let id = query(&back)["integration_id"].clone();
    assert_eq!(query(&back)["status"], "connected", "{back}");
    // Either replica serves it; an API-key connect on B is listed on A.
    for h in [&a, &b] {
        let r = api(h, Method::GET, &format!("/integrations/{id}/access-token"), &key, None).await;
        assert_eq!(r.status, 200, "{}", r.text);
    }
    let r = api(&b, Method::POST, "/integrations", &key, Some(&connect_body("cust42", DEMO_API_KEY))).await;
    assert_eq!(r.status, 201, "{}", r.text);
    let r = api(&a, Method::GET, "/integrations?customerId=cust42", &key, None).await;
    assert_eq!(r.json()["integrations"].as_array().unwrap().len(), 2, "{}", r.text);
    b.stop().await;
    a.stop().await;
}

#[tokio::test]
async fn the_unified_operations_run_on_an_integration_once_each_and_answer_without_the_app_connect_envelope() {
    let h = Harness::start().await;
    let (_, key) = workspace(&h, "Acme").await;
    let (_, other_key) = workspace(&h, "Other").await;
    let r = api(&h, Method::POST, "/integrations", &key, Some(&connect_body("cust42", DEMO_API_KEY))).await;
    let id = r.json()["id"].as_str().unwrap().to_owned();
    let path = |p: &str| format!("/integrations/{id}{p}");

    // Contacts: found, not found (an empty list, no placeholder), created.
    let r = api(&h, Method::GET, &path("/contacts?phoneNumber=%2B16505551212"), &key, None).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.json()["contacts"][0]["id"], "c-1001", "{}", r.text);
    assert_eq!(r.json().get("successful"), None, "no App Connect envelope: {}", r.text);
    let r = api(&h, Method::GET, &path("/contacts?phoneNumber=%2B19995550000"), &key, None).await;
    assert_eq!(r.json()["contacts"], json!([]), "{}", r.text);
    problem(&api(&h, Method::GET, &path("/contacts"), &key, None).await, 400, "INVALID_REQUEST");
    let new = json!({"phoneNumber": "+14155550123", "newContactName": "Han Solo", "newContactType": "person"});
    let r = api(&h, Method::POST, &path("/contacts"), &key, Some(&new)).await;
    assert_eq!(r.status, 201, "{}", r.text);
    assert_eq!(r.json()["contact"]["name"], "Han Solo");
    assert!(h.crm.contacts().iter().any(|c| c.name == "Han Solo"), "in the CRM");

    // A call: logged once, however often it is posted; read back; updated.
    let before = h.crm.activities().len();
    let call = common::call_log_body("api-s-1", "c-1001");
    let r = api(&h, Method::POST, &path("/call-logs"), &key, Some(&call)).await;
    assert_eq!(r.status, 201, "{}", r.text);
    let log_id = r.json()["logId"].as_str().unwrap().to_owned();
    let again = api(&h, Method::POST, &path("/call-logs"), &key, Some(&call)).await;
    problem(&again, 409, "CALL_LOG_EXISTS");
    assert_eq!(h.crm.activities().len(), before + 1, "one record in the CRM");
    let r = api(&h, Method::GET, &path("/call-logs?sessionIds=api-s-1,api-s-2"), &key, None).await;
    let logs = r.json()["logs"].clone();
    assert_eq!((logs[0]["matched"].clone(), logs[0]["logId"].clone()), (json!(true), json!(log_id)), "{logs}");
    assert_eq!(logs[1]["matched"], false);
    let r =
        api(&h, Method::PATCH, &path("/call-logs"), &key, Some(&json!({"sessionId": "api-s-1", "note": "Follow up"})))
            .await;
    assert_eq!((r.status.as_u16(), r.json()["logId"].clone()), (200, json!(log_id)), "{}", r.text);
    let r =
        api(&h, Method::PATCH, &path("/call-logs"), &key, Some(&json!({"sessionId": "api-s-404", "note": "x"}))).await;
    problem(&r, 404, "CALL_LOG_NOT_FOUND");

    // Messages: one record per conversation, each message once.
    let msg = json!({"id": "m1", "type": "SMS", "direction": "Inbound", "subject": "hello",
                     "from": {"phoneNumber": "+16505551212"}, "creationTime": "2026-01-01T10:00:00Z"});
    let body = json!({"logInfo": {"conversationId": "conv-api", "messages": [msg],
                                  "correspondents": [{"phoneNumber": "+16505551212"}]}, "contactId": "c-1001"});
    let r = api(&h, Method::POST, &path("/message-logs"), &key, Some(&body)).await;
    assert_eq!(r.status, 201, "{}", r.text);
    assert_eq!(r.json()["logIds"].as_array().unwrap().len(), 1, "{}", r.text);
    let r = api(&h, Method::POST, &path("/message-logs"), &key, Some(&body)).await;
    assert_eq!(r.json()["logIds"], json!([]), "already logged: {}", r.text);

    // Only the workspace's own integration, and only while it is connected.
    problem(
        &api(&h, Method::GET, &path("/call-logs?sessionIds=api-s-1"), &other_key, None).await,
        404,
        "INTEGRATION_NOT_FOUND",
    );
    api(&h, Method::DELETE, &path(""), &key, None).await;
    let r = api(&h, Method::GET, &path("/contacts?phoneNumber=%2B16505551212"), &key, None).await;
    problem(&r, 409, "NOT_CONNECTED");
    h.stop().await;
}
