//! The Pipedrive adapter end to end: the real host, the real component
//! (`target/adapters/pipedrive.wasm`) and a fake Pipedrive (`pipedrive/fake.rs`)
//! serving both `oauth.pipedrive.com` and the company domain the token
//! response names (`https://acme.pipedrive.com`), through upstream overrides.
//!
//! One long file: one end-to-end suite per CRM (one integration test file per concern), sharing its
//! set-up.

#![allow(clippy::unwrap_used)] // a test crate: an unwrap that fails is a failed test

mod common;
#[path = "pipedrive/fake.rs"]
mod fake;

use common::{Harness, Reply, call_log_body};
use fake::{API_DOMAIN, CLIENT_ID, CLIENT_SECRET, FakePipedrive, Recorded};
use serde_json::{Value, json};
use std::collections::HashMap;
use std::time::Duration;
use switchboard::config::{AdapterLimits, AdapterSettings, Config};

const PLATFORM: &str = "pipedrive";
const REDIRECT_URI: &str = "https://switchboard.example/oauth-callback";
const LUKE: &str = "/contact?phoneNumber=%2B16505551212";

struct Setup {
    h: Harness,
    pd: FakePipedrive,
}

async fn start_with(tweak: impl FnOnce(&mut Config)) -> Setup {
    let pd = FakePipedrive::start().await;
    let fake = pd.base.clone();
    let h = Harness::start_with(switchboard::store::test_support::sqlite_url(), &[PLATFORM], &[], |c| {
        c.oauth.redirect_uri = REDIRECT_URI.into();
        c.oauth.initial_delay_ms = 10;
        for origin in ["https://oauth.pipedrive.com", "https://api.pipedrive.com", API_DOMAIN] {
            c.upstream_overrides.insert(origin.into(), fake.clone());
        }
        let settings = AdapterSettings {
            client_id: Some(CLIENT_ID.into()),
            client_secret: Some(CLIENT_SECRET.into()),
            ..Default::default()
        };
        c.adapters.insert(PLATFORM.into(), settings);
        tweak(c);
    })
    .await;
    Setup { h, pd }
}

async fn start() -> Setup {
    start_with(|_| {}).await
}

fn no_redirects() -> reqwest::Client {
    reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap()
}

/// The OAuth dance as a browser walks it; returns the jwtToken.
async fn login(s: &Setup) -> String {
    let client = no_redirects();
    let r = client.get(format!("{}/oauth/{PLATFORM}/start", s.h.base)).send().await.unwrap();
    assert_eq!(r.status(), 303, "{:?}", r.text().await);
    let authorize = url::Url::parse(r.headers()["location"].to_str().unwrap()).unwrap();
    assert_eq!(authorize.origin().ascii_serialization(), "https://oauth.pipedrive.com");
    assert_eq!(authorize.path(), "/oauth/authorize");
    let q: HashMap<_, _> = authorize.query_pairs().into_owned().collect();
    assert_eq!(q["client_id"], CLIENT_ID);
    assert_eq!(q["redirect_uri"], REDIRECT_URI);
    assert!(q["state"].len() >= 16, "a random state: {q:?}");
    assert!(!q.contains_key("code_challenge"), "Pipedrive documents no PKCE: {q:?}");
    assert!(!q.contains_key("scope"), "scopes are set in Pipedrive's Developer Hub: {q:?}");
    // The browser goes to Pipedrive (the fake), which consents at once.
    let at_fake = format!("{}{}?{}", s.pd.base, authorize.path(), authorize.query().unwrap());
    let r = client.get(at_fake).send().await.unwrap();
    assert_eq!(r.status(), 302);
    let callback_uri = r.headers()["location"].to_str().unwrap().to_owned();
    assert!(callback_uri.starts_with(REDIRECT_URI), "{callback_uri}");
    let query = url::form_urlencoded::Serializer::new(String::new()).append_pair("callbackUri", &callback_uri).finish();
    let r = s.h.get(&format!("/oauth-callback?{query}"), None).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.json()["name"], "Ada Lovelace");
    r.json()["jwtToken"].as_str().unwrap().to_owned()
}

/// The access token the fake issued last.
fn access_token(s: &Setup) -> String {
    s.pd.state().access_tokens.last().cloned().expect("an access token was issued")
}

/// Every API request carried the connection's bearer token.
fn assert_bearer(s: &Setup, seen: &[Recorded]) {
    let want = format!("Bearer {}", access_token(s));
    for r in seen {
        assert_eq!(r.authorization.as_deref(), Some(want.as_str()), "{} {}", r.method, r.path);
    }
}

fn contact_names(r: &Reply) -> Vec<String> {
    let body = r.json();
    assert_eq!(body["successful"], true, "{body}");
    body["contact"].as_array().unwrap().iter().map(|c| c["name"].as_str().unwrap().to_owned()).collect()
}

#[tokio::test]
async fn oauth_login_uses_the_api_domain_and_finds_and_creates_persons() {
    let s = start().await;
    let t = login(&s).await;

    // The code exchange: HTTP Basic client credentials, authorization_code.
    assert_eq!(s.pd.state().token_calls, vec![("authorization_code".to_owned(), true)]);
    let exchange = s.pd.seen("POST", "/oauth/token");
    assert_eq!(exchange[0].body["redirect_uri"], REDIRECT_URI);
    // get-user-info ran against the api_domain with the new token.
    let me = s.pd.seen("GET", "/api/v1/users/me");
    assert_eq!(me.len(), 1);
    assert_bearer(&s, &me);
    // The connection's hostname is the token response's api_domain.
    assert_eq!(s.h.get("/hostname", Some(&t)).await.text, API_DOMAIN);

    // E.164: Luke, with his open deal (not the won one) and his lead.
    let r = s.h.get(LUKE, Some(&t)).await;
    assert_eq!(contact_names(&r), ["Luke Skywalker"]);
    let luke = &r.json()["contact"][0];
    assert_eq!(luke["id"], "1");
    assert_eq!(luke["phone"], "+16505551212");
    assert_eq!(luke["type"], "person");
    assert_eq!(luke["organization"], "Rebel Alliance");
    assert_eq!(luke["additionalInfo"]["deals"], json!([{"const": 31, "title": "Death Star plans"}]));
    assert_eq!(
        luke["additionalInfo"]["leads"],
        json!([{"const": "adf21080-0e10-11eb-879b-05d71fb426ec", "title": "X-wing parts"}])
    );
    let search = s.pd.seen("GET", "/api/v2/persons/search");
    assert_eq!(search.len(), 1);
    assert_eq!(search[0].param("term"), Some("+16505551212"));
    assert_eq!(search[0].param("fields"), Some("phone"));
    assert_eq!(search[0].param("exact_match"), Some("true"));
    let deals = s.pd.seen("GET", "/api/v2/deals");
    assert_eq!((deals[0].param("person_id"), deals[0].param("status")), (Some("1"), Some("open")));
    let leads = s.pd.seen("GET", "/api/v1/leads");
    assert_eq!(leads[0].param("person_id"), Some("1"));
    assert_bearer(&s, &[search, deals, leads].concat());

    // Leia is stored as "(650) 555-0100": only the overriding format finds her.
    s.h.get("/contact?phoneNumber=%2B16505550100", Some(&t)).await.assert_no_match();
    let r = s.h.get("/contact?phoneNumber=%2B16505550100&overridingFormat=(***)%20***-****", Some(&t)).await;
    assert_eq!(contact_names(&r), ["Leia Organa"]);
    assert_eq!(r.json()["contact"][0]["phone"], "(650) 555-0100");
    assert_eq!(r.json()["contact"][0]["additionalInfo"]["deals"][0]["title"], "Alderaan relief");
    let terms: Vec<String> =
        s.pd.seen("GET", "/api/v2/persons/search").iter().filter_map(|r| r.param("term").map(str::to_owned)).collect();
    assert!(terms.contains(&"(650) 555-0100".to_owned()), "{terms:?}");

    // Two persons share a number; one per page: the adapter follows the cursor.
    s.pd.state().max_page = 1;
    let before = s.pd.seen("GET", "/api/v2/persons/search").len();
    let r = s.h.get("/contact?phoneNumber=%2B14155550199", Some(&t)).await;
    assert_eq!(contact_names(&r), ["Biggs Darklighter", "Wedge Antilles"]);
    let pages = s.pd.seen("GET", "/api/v2/persons/search").split_off(before);
    assert_eq!(pages.len(), 2, "{pages:?}");
    assert!(pages[0].param("cursor").is_none() && pages[1].param("cursor").is_some(), "{pages:?}");
    s.pd.state().max_page = 100;

    // A new person, with the number as the primary phone.
    let r =
        s.h.post(
            "/contact",
            Some(&t),
            &json!({"phoneNumber": "+14155550123", "newContactName": "Han Solo", "newContactType": "person"}),
        )
        .await;
    let body = r.json();
    assert_eq!(body["successful"], true, "{body}");
    assert_eq!(body["contact"]["name"], "Han Solo");
    let id = body["contact"]["id"].as_str().unwrap().to_owned();
    let created = s.pd.seen("POST", "/api/v2/persons");
    assert_eq!(
        created[0].body,
        json!({"name": "Han Solo", "phones": [{"value": "+14155550123", "primary": true, "label": "work"}]})
    );
    assert_bearer(&s, &created);
    let r = s.h.get("/contact?phoneNumber=%2B14155550123", Some(&t)).await;
    assert_eq!(r.json()["contact"][0]["id"], id.as_str(), "{}", r.text);
    s.h.stop().await;
}

#[tokio::test]
async fn a_call_is_a_done_call_activity_updated_and_read_back() {
    let s = start().await;
    let t = login(&s).await;
    let mut body = call_log_body("s-1", "1");
    body["additionalSubmission"] = json!({"deals": 31});
    let r = s.h.post("/callLog", Some(&t), &body).await;
    assert_eq!(r.json()["successful"], true, "{}", r.text);
    let log_id = r.json()["logId"].as_str().unwrap().to_owned();

    // The activity type was looked up (no operator setting), then the activity created.
    assert_eq!(s.pd.seen("GET", "/api/v1/activityTypes").len(), 1);
    let posted = s.pd.seen("POST", "/api/v2/activities");
    assert_eq!(posted.len(), 1);
    assert_bearer(&s, &posted);
    let sent = &posted[0].body;
    assert_eq!(sent["participants"], json!([{"person_id": 1, "primary": true}]));
    assert!(sent.get("person_id").is_none(), "read-only in v2: {sent}");
    let a = s.pd.activity(&log_id).expect("the activity exists");
    assert_eq!(a["type"], "call");
    assert_eq!(a["done"], true);
    assert_eq!(a["subject"], "Inbound call from Luke Skywalker");
    assert_eq!((a["due_date"].as_str(), a["due_time"].as_str()), (Some("2024-05-27"), Some("08:53")));
    assert_eq!(a["duration"], "00:01");
    assert_eq!(a["person_id"], 1);
    assert_eq!(a["deal_id"], 31);
    let note = a["note"].as_str().unwrap();
    assert!(note.contains("Asked about the plans"), "{note}");
    assert!(note.contains("Result: Call connected") && note.contains("From: +16505551212"), "{note}");

    let r =
        s.h.patch(
            "/callLog",
            Some(&t),
            &json!({"sessionId": "s-1", "subject": "Call with Luke", "note": "Plans delivered"}),
        )
        .await;
    assert_eq!(r.json()["successful"], true, "{}", r.text);
    let patched = s.pd.seen("PATCH", &format!("/api/v2/activities/{log_id}"));
    assert_eq!(patched.len(), 1);
    let a = s.pd.activity(&log_id).unwrap();
    assert_eq!(a["subject"], "Call with Luke");
    let note = a["note"].as_str().unwrap();
    assert!(note.contains("Plans delivered") && !note.contains("Asked about the plans"), "{note}");
    assert!(note.contains("Result: Call connected"), "the call's details stay: {note}");
    assert_eq!(a["type"], "call", "unchanged");

    let r = s.h.get("/callLog?sessionIds=s-1&requireDetails=true", Some(&t)).await;
    let body = r.json();
    assert_eq!(body["successful"], true, "{body}");
    assert_eq!(body["logs"][0]["logId"], log_id.as_str());
    assert_eq!(body["logs"][0]["logData"]["subject"], "Call with Luke");
    assert_eq!(body["logs"][0]["logData"]["note"], "Plans delivered");
    assert_eq!(s.pd.seen("GET", &format!("/api/v2/activities/{log_id}")).len(), 2, "the update's read, then this one");
    assert_eq!(s.pd.seen("GET", "/api/v2/persons/1").len(), 1, "the contact's name");
    s.h.stop().await;
}

#[tokio::test]
async fn an_operator_activity_type_skips_the_lookup() {
    let s = start_with(|c| {
        let a = c.adapters.get_mut(PLATFORM).unwrap();
        a.settings.insert("call_activity_type".into(), "meeting".into());
    })
    .await;
    let t = login(&s).await;
    let r = s.h.post("/callLog", Some(&t), &call_log_body("s-2", "1")).await;
    assert_eq!(r.json()["successful"], true, "{}", r.text);
    assert!(s.pd.seen("GET", "/api/v1/activityTypes").is_empty());
    assert_eq!(s.pd.activity(r.json()["logId"].as_str().unwrap()).unwrap()["type"], "meeting");
    // A contact id Pipedrive cannot have is refused before anything is sent.
    s.h.post("/callLog", Some(&t), &call_log_body("s-3", "c-1001")).await.assert_error(200, "CRM_REJECTED");
    assert_eq!(s.pd.seen("POST", "/api/v2/activities").len(), 1);
    s.h.stop().await;
}

#[tokio::test]
async fn messages_of_a_conversation_go_to_one_activity() {
    let s = start().await;
    let t = login(&s).await;
    let msg = |id: &str, dir: &str, text: &str, from: &str, at: &str| json!({"id": id, "type": "SMS", "direction": dir, "subject": text, "from": {"phoneNumber": from}, "creationTime": at});
    let body = |messages: Vec<Value>| {
        json!({"logInfo": {"conversationId": "conv-1", "messages": messages, "correspondents": [{"phoneNumber": "+16505551212"}]},
               "contactId": "1", "contactName": "Luke Skywalker"})
    };
    let r =
        s.h.post(
            "/messageLog",
            Some(&t),
            &body(vec![
                msg("m-1", "Inbound", "Help me", "+16505551212", "2026-11-22T10:00:00Z"),
                msg("m-2", "Outbound", "On my way", "+14155550100", "2026-11-22T10:01:00Z"),
            ]),
        )
        .await;
    assert_eq!(r.json()["successful"], true, "{}", r.text);
    let ids = r.json()["logIds"].clone();
    assert_eq!(ids.as_array().unwrap().len(), 1, "one record per conversation: {ids}");
    assert_eq!(s.pd.seen("POST", "/api/v2/activities").len(), 1);
    let a = s.pd.activity(ids[0].as_str().unwrap()).unwrap();
    // The fake company has no SMS activity type: messages fall back to calls.
    assert_eq!(a["type"], "call");
    assert_eq!(a["subject"], "SMS conversation with Luke Skywalker");
    assert_eq!(a["participants"], json!([{"person_id": 1, "primary_flag": true}]));
    assert_eq!((a["due_date"].as_str(), a["due_time"].as_str()), (Some("2026-11-22"), Some("10:00")));
    let note = a["note"].as_str().unwrap();
    let (first, second) = (note.find("Help me").unwrap(), note.find("On my way").unwrap());
    assert!(first < second, "oldest first: {note}");
    assert!(note.contains("Outbound SMS sent from +14155550100"), "{note}");

    // A later message is appended to the same activity.
    let r =
        s.h.post(
            "/messageLog",
            Some(&t),
            &body(vec![msg("m-3", "Inbound", "Hurry", "+16505551212", "2026-11-22T10:02:00Z")]),
        )
        .await;
    assert_eq!(r.json()["logIds"], ids);
    assert_eq!(s.pd.seen("POST", "/api/v2/activities").len(), 1);
    let note = s.pd.activity(ids[0].as_str().unwrap()).unwrap()["note"].as_str().unwrap().to_owned();
    assert_eq!(note.matches("<p>").count(), 4, "the Ref line and three messages: {note}");
    assert!(note.starts_with("<p>Ref: sb-"), "{note}");
    assert!(note.ends_with("Hurry</p>"), "{note}");
    s.h.stop().await;
}

#[tokio::test]
async fn a_pipedrive_rate_limit_reaches_the_client_with_retry_after() {
    let s = start().await;
    let t = login(&s).await;
    s.pd.throttle_next(1, 3);
    let body = s.h.get(LUKE, Some(&t)).await.assert_error(200, "CRM_RATE_LIMITED");
    assert_eq!(body["retryAfter"], 3);
    assert_eq!(body["retryable"], true);
    let throttled = s.pd.seen("GET", "/api/v2/persons/search");
    assert_eq!(throttled.len(), 1);
    // Within the window the host holds the calls itself: Pipedrive is not asked.
    s.h.get(LUKE, Some(&t)).await.assert_error(200, "CRM_RATE_LIMITED");
    assert_eq!(s.pd.seen("GET", "/api/v2/persons/search").len(), 1);
    // After it, the lookup goes through.
    tokio::time::sleep(std::time::Duration::from_millis(3100)).await;
    assert_eq!(contact_names(&s.h.get(LUKE, Some(&t)).await), ["Luke Skywalker"]);
    s.h.stop().await;
}

#[tokio::test]
async fn a_refused_access_token_is_refreshed_and_the_call_retried() {
    let s = start().await;
    let t = login(&s).await;
    let old = access_token(&s);
    s.pd.state().access_tokens.clear();
    assert_eq!(contact_names(&s.h.get(LUKE, Some(&t)).await), ["Luke Skywalker"]);
    let calls = s.pd.state().token_calls.clone();
    assert_eq!(calls.last(), Some(&("refresh_token".to_owned(), true)), "{calls:?}");
    assert_ne!(access_token(&s), old);
    // Still on the company domain.
    assert_eq!(s.h.get("/hostname", Some(&t)).await.text, API_DOMAIN);
    s.h.stop().await;
}

#[tokio::test]
async fn unauthorize_revokes_at_oauth_pipedrive_com() {
    let s = start().await;
    let t = login(&s).await;
    let (access, refresh) = {
        let st = s.pd.state();
        (st.access_tokens.last().cloned().unwrap(), st.refresh_tokens.last().cloned().unwrap())
    };
    let r = s.h.post("/unAuthorize", Some(&t), &json!({})).await;
    assert_eq!(r.json()["successful"], true, "{}", r.text);
    let revoked: Vec<String> = s.pd.state().revoked.iter().map(|(token, _)| token.clone()).collect();
    assert!(revoked.contains(&refresh), "the refresh token is revoked: {revoked:?}");
    assert!(revoked.iter().all(|r| *r == refresh || *r == access), "{revoked:?}");
    let calls = s.pd.seen("POST", "/oauth/revoke");
    assert!(!calls.is_empty());
    for c in &calls {
        assert!(c.authorization.as_deref().is_some_and(|a| a.starts_with("Basic ")), "HTTP Basic client auth");
    }
    assert!(s.pd.state().refresh_tokens.is_empty(), "Pipedrive forgot the grant");
    // The next call: logged out.
    s.h.get(LUKE, Some(&t)).await.assert_error(401, "NOT_CONNECTED");
    s.h.stop().await;
}

/// The fake refuses what Pipedrive refuses, so an adapter mistake fails the suite.
#[tokio::test]
async fn the_fake_pipedrive_is_as_strict_as_the_real_one() {
    let pd = FakePipedrive::start().await;
    let client = reqwest::Client::new();
    let api = |path: &str| format!("{}{path}", pd.base);
    // No bearer token: 401, with the rate-limit headers every answer carries.
    let r = client.get(api("/api/v1/users/me")).send().await.unwrap();
    assert_eq!(r.status(), 401);
    assert!(r.headers().contains_key("x-ratelimit-remaining") && r.headers().contains_key("x-ratelimit-reset"));
    let token = "7:3:at-test";
    pd.state().access_tokens.push(token.into());
    let get = |path: &str| client.get(api(path)).bearer_auth(token).send();
    let r = get("/api/v1/users/me").await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["x-ratelimit-limit"], "80");
    // Unknown paths (a v1 path where v2 is meant, a missing /api prefix) are 404.
    assert_eq!(get("/api/v1/persons/search?term=x").await.unwrap().status(), 404);
    assert_eq!(get("/v1/users/me").await.unwrap().status(), 404);
    // Search needs a term and known fields.
    assert_eq!(get("/api/v2/persons/search?fields=phone").await.unwrap().status(), 400);
    assert_eq!(get("/api/v2/persons/search?term=%2B1&fields=phones").await.unwrap().status(), 400);
    let post = |path: &str, body: Value| client.post(api(path)).bearer_auth(token).json(&body).send();
    // v2 activities: person_id is read-only; a participant takes `primary`, not `primary_flag`.
    let r = post("/api/v2/activities", json!({"subject": "x", "person_id": 1})).await.unwrap();
    assert_eq!(r.status(), 400);
    assert!(r.text().await.unwrap().contains("read-only"));
    let r = post("/api/v2/activities", json!({"participants": [{"person_id": 1, "primary_flag": true}]})).await;
    assert_eq!(r.unwrap().status(), 400);
    for bad in [json!({"type": "sms"}), json!({"due_time": "8:53"}), json!({"duration": "42"}), json!({"done": 1})] {
        assert_eq!(post("/api/v2/activities", bad.clone()).await.unwrap().status(), 400, "{bad}");
    }
    // v2 persons take `phones`, not v1's `phone`.
    let r = post("/api/v2/persons", json!({"name": "Han", "phone": [{"value": "+1"}]})).await.unwrap();
    assert_eq!(r.status(), 400);
    // The activities list: known sorts only, newest update first on request, cursor pages.
    assert_eq!(get("/api/v2/activities?sort_by=subject").await.unwrap().status(), 400);
    assert_eq!(get("/api/v2/activities?sort_direction=down").await.unwrap().status(), 400);
    assert_eq!(get("/api/v2/activities?person_id=x").await.unwrap().status(), 400);
    for subject in ["first", "second", "third"] {
        let body = json!({"subject": subject, "participants": [{"person_id": 1, "primary": true}]});
        assert_eq!(post("/api/v2/activities", body).await.unwrap().status(), 200);
    }
    let page: Value = get("/api/v2/activities?person_id=1&sort_by=update_time&sort_direction=desc&limit=2")
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let subjects: Vec<&str> = page["data"].as_array().unwrap().iter().map(|a| a["subject"].as_str().unwrap()).collect();
    assert_eq!(subjects, ["third", "second"], "{page}");
    let next = page["additional_data"]["next_cursor"].as_str().expect("a next cursor").to_owned();
    let rest: Value =
        get(&format!("/api/v2/activities?person_id=1&sort_by=update_time&sort_direction=desc&limit=2&cursor={next}"))
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
    assert_eq!(rest["data"][0]["subject"], "first", "{rest}");
    assert!(rest["additional_data"]["next_cursor"].is_null(), "{rest}");
    let none: Value = get("/api/v2/activities?person_id=2").await.unwrap().json().await.unwrap();
    assert_eq!(none["data"], json!([]));
    // 429 on demand, with Retry-After and the window's headers.
    pd.throttle_next(1, 9);
    let r = get("/api/v1/users/me").await.unwrap();
    assert_eq!(r.status(), 429);
    assert_eq!(r.headers()["retry-after"], "9");
    assert_eq!(r.headers()["x-ratelimit-remaining"], "0");
}

#[tokio::test]
async fn a_lowered_request_budget_is_planned_within_not_overrun() {
    // The operator allows one outbound request per call: the adapter reads
    // that from the host and searches one page instead of failing on the second.
    let s = start_with(|c| {
        let settings = c.adapters.get_mut(PLATFORM).expect("configured above");
        settings.limits = AdapterLimits { outbound_requests_per_call: Some(1), ..Default::default() };
    })
    .await;
    let t = login(&s).await;
    s.pd.state().max_page = 1;
    let r = s.h.get("/contact?phoneNumber=%2B14155550199", Some(&t)).await;
    assert_eq!(contact_names(&r), ["Biggs Darklighter"], "the first page only: {}", r.text);
    assert_eq!(s.pd.seen("GET", "/api/v2/persons/search").len(), 1);
    assert!(s.pd.seen("GET", "/api/v2/deals").is_empty() && s.pd.seen("GET", "/api/v1/leads").is_empty());
    s.h.stop().await;
}

#[tokio::test]
async fn an_activity_pipedrive_made_but_answered_too_late_is_found_by_the_retry_not_made_twice() {
    let s = start_with(|c| c.limits.outbound_timeout_ms = 500).await;
    let t = login(&s).await;
    // Luke has activities already, newer ones after the first attempt's too.
    assert_eq!(s.h.post("/callLog", Some(&t), &call_log_body("before-1", "1")).await.json()["successful"], true);

    // Pipedrive makes the activity but answers after the host gave up.
    s.pd.set_answer_delay(Duration::from_secs(2));
    let call = call_log_body("late-1", "1");
    let failed = s.h.post("/callLog", Some(&t), &call).await.json();
    assert_eq!(failed["successful"], false, "{failed}");
    assert_eq!(s.pd.state().activities.len(), 2, "Pipedrive did make it");
    s.pd.set_answer_delay(Duration::ZERO);
    assert_eq!(s.h.post("/callLog", Some(&t), &call_log_body("after-1", "1")).await.json()["successful"], true);

    // The retry finds it among Luke's newest activities by the Ref line of its note.
    let logged = s.h.until_logged(&t, "/callLog", &call).await;
    let activities: Vec<Value> = s.pd.state().activities.values().cloned().collect();
    assert_eq!(activities.len(), 3, "no second activity for late-1");
    let late = s.pd.activity(logged["logId"].as_str().unwrap()).expect("the first attempt's activity");
    let note = late["note"].as_str().unwrap();
    assert!(note.contains("<br>Ref: sb-"), "{note}");
    let search = s.pd.seen("GET", "/api/v2/activities").into_iter().rfind(|r| r.path == "/api/v2/activities").unwrap();
    for (k, v) in [("person_id", "1"), ("sort_by", "update_time"), ("sort_direction", "desc"), ("limit", "50")] {
        assert_eq!(search.param(k), Some(v), "{k}: {:?}", search.query);
    }
    let r = s.h.get("/callLog?sessionIds=late-1&requireDetails=true", Some(&t)).await.json();
    assert_eq!(r["logs"][0]["matched"], true, "{r}");
    assert_eq!(r["logs"][0]["logId"], logged["logId"], "{r}");
    assert_eq!(r["logs"][0]["logData"]["note"], "Asked about the plans", "the marker is not the user's note: {r}");

    // An update keeps the marker.
    let r = s.h.patch("/callLog", Some(&t), &json!({"sessionId": "late-1", "note": "Plans delivered"})).await;
    assert_eq!(r.json()["successful"], true, "{}", r.text);
    let note = s.pd.activity(logged["logId"].as_str().unwrap()).unwrap()["note"].as_str().unwrap().to_owned();
    assert!(note.contains("Plans delivered") && note.contains("<br>Ref: sb-"), "{note}");

    // A conversation the same way.
    s.pd.set_answer_delay(Duration::from_secs(2));
    let sms = json!({"logInfo": {"conversationId": "late-conv", "messages": [
            {"id": "lm-1", "type": "SMS", "direction": "Inbound", "subject": "Help me",
             "from": {"phoneNumber": "+16505551212"}, "creationTime": "2026-11-22T10:00:00Z"}],
            "correspondents": [{"phoneNumber": "+16505551212"}]},
        "contactId": "1", "contactName": "Luke Skywalker"});
    let failed = s.h.post("/messageLog", Some(&t), &sms).await.json();
    assert_eq!(failed["successful"], false, "{failed}");
    assert_eq!(s.pd.state().activities.len(), 4, "Pipedrive did make it");
    s.pd.set_answer_delay(Duration::ZERO);
    let logged = s.h.until_logged(&t, "/messageLog", &sms).await;
    assert_eq!(s.pd.state().activities.len(), 4, "no second activity for the conversation");
    let conversation = s.pd.activity(logged["logIds"][0].as_str().unwrap()).unwrap();
    assert_eq!(conversation["subject"], "SMS conversation with Luke Skywalker", "{logged}");
    s.h.stop().await;
}

/// A workspace's customer connects Pipedrive as an integration (the Connect
/// platform), and the workspace's backend finds a person, logs a call and
/// disconnects through `/api/v1`: the same adapter, against the same fake.
#[tokio::test]
async fn a_workspace_connects_a_customer_s_pipedrive_by_oauth_and_logs_a_call_through_the_integrations_api() {
    let s = start().await;
    let r =
        s.h.client
            .post(format!("{}/admin/workspaces", s.h.base))
            .bearer_auth(common::ADMIN_TOKEN)
            .json(&json!({"name": "Acme", "allowedOrigins": ["https://app.example.test"]}))
            .send()
            .await
            .unwrap();
    let key = r.json::<Value>().await.unwrap()["apiKey"]["key"].as_str().unwrap().to_owned();
    let api = |method: reqwest::Method, path: String, body: Option<Value>| {
        let mut req = s.h.client.request(method, format!("{}/api/v1{path}", s.h.base)).bearer_auth(&key);
        if let Some(b) = body {
            req = req.json(&b);
        }
        async move {
            let r = req.send().await.unwrap();
            (r.status().as_u16(), r.json::<Value>().await.unwrap())
        }
    };

    let start = json!({"connector": PLATFORM, "customerId": "cust42", "returnUrl": "https://app.example.test/crm"});
    let (status, started) = api(reqwest::Method::POST, "/integrations/oauth/start".into(), Some(start)).await;
    assert_eq!(status, 201, "{started}");
    let authorize = url::Url::parse(started["authUrl"].as_str().unwrap()).unwrap();
    assert_eq!(authorize.origin().ascii_serialization(), "https://oauth.pipedrive.com");
    let client = no_redirects();
    let at_fake = format!("{}{}?{}", s.pd.base, authorize.path(), authorize.query().unwrap());
    let callback = client.get(at_fake).send().await.unwrap().headers()["location"].to_str().unwrap().to_owned();
    let callback = url::Url::parse(&callback).unwrap();
    let r = client.get(format!("{}/oauth-callback?{}", s.h.base, callback.query().unwrap())).send().await.unwrap();
    assert_eq!(r.status(), 303);
    let back = url::Url::parse(r.headers()["location"].to_str().unwrap()).unwrap();
    let q: HashMap<_, _> = back.query_pairs().into_owned().collect();
    assert_eq!(q["status"], "connected", "{back}");
    let id = q["integration_id"].clone();

    // The connection is Pipedrive's own: its user, its company domain.
    let (_, integration) = api(reqwest::Method::GET, format!("/integrations/{id}"), None).await;
    assert_eq!(integration["account"]["name"], "Ada Lovelace", "{integration}");
    assert_eq!(integration["account"]["hostname"], API_DOMAIN);
    assert_eq!(integration["status"], "active");

    let (status, found) =
        api(reqwest::Method::GET, format!("/integrations/{id}/contacts?phoneNumber=%2B16505551212"), None).await;
    assert_eq!((status, found["contacts"][0]["name"].as_str()), (200, Some("Luke Skywalker")), "{found}");
    assert_bearer(&s, &s.pd.seen("GET", "/api/v2/persons/search"));
    let call = call_log_body("pd-int-1", "1");
    let (status, logged) =
        api(reqwest::Method::POST, format!("/integrations/{id}/call-logs"), Some(call.clone())).await;
    assert_eq!(status, 201, "{logged}");
    let activity = s.pd.activity(logged["logId"].as_str().unwrap()).expect("the activity is in Pipedrive");
    assert_eq!(activity["person_id"], 1, "{activity}");
    let (status, again) = api(reqwest::Method::POST, format!("/integrations/{id}/call-logs"), Some(call)).await;
    assert_eq!((status, again["code"].as_str()), (409, Some("CALL_LOG_EXISTS")), "{again}");

    // Disconnecting revokes the tokens at Pipedrive.
    let (status, gone) = api(reqwest::Method::DELETE, format!("/integrations/{id}"), None).await;
    assert_eq!((status, gone["status"].as_str()), (200, Some("disconnected")), "{gone}");
    assert!(!s.pd.state().revoked.is_empty(), "Pipedrive was told");
}
