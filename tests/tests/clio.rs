//! The Clio adapter end to end: the real host, the real `clio.wasm`, and fake
//! Clio regions (`clio/fake.rs`) behind upstream overrides. OAuth login with a
//! regional host, find contact (E.164 and `overridingFormat`) with open
//! matters, create contact, call logs as phone communications (time entries),
//! message logs, paging, the 50-a-minute rate limit, refresh, unauthorize.
//!
//! One long file: one end-to-end suite per CRM (one integration test file per concern), sharing its
//! set-up.

#![allow(clippy::unwrap_used)] // a test crate: an unwrap that fails is a failed test

mod common;
#[path = "clio/fake.rs"]
mod fake;

use common::Harness;
use fake::{CLIENT_ID, CLIENT_SECRET, FakeClio};
use serde_json::{Value, json};
use std::collections::{BTreeMap, HashMap};
use std::time::Duration;
use switchboard::config::{AdapterSettings, Config};
use switchboard::store::test_support;

const REDIRECT_URI: &str = "https://switchboard.example/oauth-callback";
const US: &str = "https://app.clio.com";
const EU: &str = "https://eu.app.clio.com";
const LUKE: &str = "/contact?phoneNumber=%2B16505551212";

/// The US region, and the host with the clio adapter pointed at it.
async fn start(settings: &[(&str, &str)]) -> (Harness, FakeClio) {
    let us = FakeClio::start(US, 345, "Ada Lovelace").await;
    let h = start_host(&[(US, &us)], settings).await;
    (h, us)
}

async fn start_host(regions: &[(&str, &FakeClio)], settings: &[(&str, &str)]) -> Harness {
    start_host_with(regions, settings, |_| {}).await
}

async fn start_host_with(
    regions: &[(&str, &FakeClio)],
    settings: &[(&str, &str)],
    tweak: impl FnOnce(&mut Config),
) -> Harness {
    let overrides: Vec<(String, String)> = regions.iter().map(|(o, f)| (o.to_string(), f.base_url())).collect();
    let settings: BTreeMap<String, String> = settings.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
    Harness::start_with(test_support::sqlite_url(), &["clio"], &[], move |c: &mut Config| {
        c.oauth.redirect_uri = REDIRECT_URI.into();
        c.oauth.initial_delay_ms = 10;
        for (origin, base) in overrides {
            c.upstream_overrides.insert(origin, base);
        }
        let adapter = AdapterSettings {
            client_id: Some(CLIENT_ID.into()),
            client_secret: Some(CLIENT_SECRET.into()),
            settings,
            ..Default::default()
        };
        c.adapters.insert("clio".into(), adapter);
        tweak(c);
    })
    .await
}

fn no_redirects() -> reqwest::Client {
    reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap()
}

/// The browser's part: `/oauth/clio/start[?hostname=]` → Clio's authorize
/// page on `origin` (the fake consents at once) → the callbackUri.
async fn consent(h: &Harness, fake: &FakeClio, hostname: Option<&str>, origin: &str) -> String {
    let client = no_redirects();
    let start = match hostname {
        Some(host) => format!("{}/oauth/clio/start?hostname={host}", h.base),
        None => format!("{}/oauth/clio/start", h.base),
    };
    let r = client.get(start).send().await.unwrap();
    assert_eq!(r.status(), 303, "{:?}", r.text().await);
    let authorize = url::Url::parse(r.headers()["location"].to_str().unwrap()).unwrap();
    assert_eq!(authorize.origin().ascii_serialization(), origin, "{authorize}");
    assert_eq!(authorize.path(), "/oauth/authorize");
    let q: HashMap<_, _> = authorize.query_pairs().into_owned().collect();
    assert_eq!(q["response_type"], "code");
    assert_eq!(q["client_id"], CLIENT_ID);
    assert_eq!(q["redirect_uri"], REDIRECT_URI);
    assert!(q["state"].len() >= 16, "a random state");
    assert!(!q.contains_key("code_challenge"), "Clio documents no PKCE: {q:?}");
    let at_fake = format!("{}{}?{}", fake.base_url(), authorize.path(), authorize.query().unwrap());
    let r = client.get(at_fake).send().await.unwrap();
    assert!(r.status().is_redirection(), "{}", r.status());
    r.headers()["location"].to_str().unwrap().to_owned()
}

async fn callback(h: &Harness, callback_uri: &str) -> common::Reply {
    let query = url::form_urlencoded::Serializer::new(String::new()).append_pair("callbackUri", callback_uri).finish();
    h.get(&format!("/oauth-callback?{query}"), None).await
}

/// Logs in through `fake` (the region `origin`); returns the jwtToken.
async fn login(h: &Harness, fake: &FakeClio, hostname: Option<&str>, origin: &str) -> String {
    let r = callback(h, &consent(h, fake, hostname, origin).await).await;
    assert_eq!(r.status, 200, "{}", r.text);
    r.json()["jwtToken"].as_str().unwrap().to_owned()
}

/// The one access token the fake issued.
fn access_token(fake: &FakeClio) -> String {
    let s = fake.state();
    assert_eq!(s.access.len(), 1, "{:?}", s.access);
    s.access.keys().next().unwrap().clone()
}

fn matter_id(fake: &FakeClio, display_number: &str) -> u64 {
    let s = fake.state();
    s.matters.values().find(|m| m["display_number"] == display_number).unwrap()["id"].as_u64().unwrap()
}

fn ok(r: &common::Reply) -> Value {
    let body = r.json();
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(body["successful"], true, "{body}");
    body
}

#[tokio::test]
async fn a_clio_user_logs_in_finds_creates_and_logs_through_clios_api() {
    let (h, fake) = start(&[]).await;

    // Login: the US region by default; Clio's token endpoint with the client in the body.
    let r = callback(&h, &consent(&h, &fake, None, US).await).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.json()["name"], "Ada Lovelace");
    let jwt = r.json()["jwtToken"].as_str().unwrap().to_owned();
    let tokens = fake.state().token_requests.clone();
    assert_eq!(tokens.len(), 1);
    assert_eq!(tokens[0].grant_type, "authorization_code");
    assert!(tokens[0].credentials_in_body && !tokens[0].basic_auth, "client_auth = body: {tokens:?}");
    let who = fake.seen("/api/v4/users/who_am_i.json");
    assert_eq!(who[0].param("fields").as_deref(), Some("id,name"));
    assert_eq!(h.get("/hostname", Some(&jwt)).await.text, "app.clio.com");
    let bearer = format!("Bearer {}", access_token(&fake));

    // Find by E.164: Luke, with his open matter (not the closed one).
    let body = ok(&h.get(LUKE, Some(&jwt)).await);
    let luke = &body["contact"][0];
    assert_eq!(luke["name"], "Luke Skywalker", "{body}");
    assert_eq!(luke["phone"], "+16505551212");
    assert_eq!(luke["type"], "person");
    assert_eq!(luke["organization"], "Rebel Alliance");
    let open = matter_id(&fake, "00001-Skywalker");
    assert_eq!(
        luke["additionalInfo"],
        json!({"matters": [{"const": open, "title": "00001-Skywalker", "description": "Death Star plans"}], "logTimeEntry": false})
    );
    let search = fake.seen("/api/v4/contacts.json");
    assert_eq!(search[0].method, "GET");
    assert_eq!(search[0].param("query").as_deref(), Some("+16505551212"));
    assert_eq!(
        search[0].param("fields").as_deref(),
        Some("id,name,type,primary_phone_number,phone_numbers{number,name},company{id,name}")
    );
    let matters = fake.seen("/api/v4/matters.json");
    assert_eq!(matters.len(), 1);
    assert_eq!(matters[0].param("client_id"), luke["id"].as_str().map(str::to_owned));
    assert_eq!(matters[0].param("status").as_deref(), Some("open"));

    // Find through overridingFormat: Leia is stored as "(650) 555-0100".
    let r = h.get("/contact?phoneNumber=%2B16505550100&overridingFormat=(***)%20***-****", Some(&jwt)).await;
    let body = ok(&r);
    assert_eq!(body["contact"][0]["name"], "Leia Organa", "{body}");
    assert_eq!(body["contact"][0]["phone"], "(650) 555-0100");
    assert_eq!(body["contact"][0]["additionalInfo"]["matters"][0]["title"], "00003-Organa");
    let queries: Vec<String> = fake.seen("/api/v4/contacts.json").iter().filter_map(|s| s.param("query")).collect();
    assert_eq!(queries[1..], ["+16505550100".to_string(), "(650) 555-0100".to_string()]);

    // Nobody has this number.
    let r = h.get("/contact?phoneNumber=%2B442071838750", Some(&jwt)).await;
    assert_eq!(r.json()["errorCode"], "CONTACT_NOT_FOUND", "{}", r.text);

    // Create a contact: a Person with a Work number.
    let r = h
        .post(
            "/contact",
            Some(&jwt),
            &json!({"phoneNumber": "+14155550123", "newContactName": "Han Solo", "newContactType": "person"}),
        )
        .await;
    let body = ok(&r);
    assert_eq!(body["contact"]["name"], "Han Solo");
    let han = fake.contact_named("Han Solo").expect("created in Clio");
    assert_eq!(body["contact"]["id"], han["id"].to_string());
    assert_eq!((han["first_name"].as_str(), han["last_name"].as_str()), (Some("Han"), Some("Solo")));
    assert_eq!(han["phone_numbers"][0]["number"], "+14155550123");
    assert_eq!(han["phone_numbers"][0]["name"], "Work");
    assert_eq!(han["phone_numbers"][0]["default_number"], true);
    let created = fake.seen("/api/v4/contacts.json").into_iter().find(|s| s.method == "POST").unwrap();
    assert_eq!(created.content_type.as_deref(), Some("application/json"));
    assert_eq!(created.body["data"]["type"], "Person");

    // Log a call on Luke's matter, with a time entry the client asks for.
    let luke_id = luke["id"].as_str().unwrap().to_owned();
    let mut call = common::call_log_body("clio-s-1", &luke_id);
    call["additionalSubmission"] = json!({"matters": open.to_string(), "logTimeEntry": true});
    let body = ok(&h.post("/callLog", Some(&jwt), &call).await);
    let log_id = body["logId"].as_str().unwrap().to_owned();
    let comms = fake.communications();
    assert_eq!(comms.len(), 1);
    let c = &comms[0];
    assert_eq!(c["id"].to_string(), log_id);
    assert_eq!(c["type"], "PhoneCommunication");
    assert_eq!(c["subject"], "Inbound call from Luke Skywalker");
    assert_eq!(c["received_at"], "2024-05-27T08:53:20.000Z");
    assert_eq!(c["date"], "2024-05-27");
    assert_eq!(
        c["senders"],
        json!([{"id": luke_id.parse::<u64>().unwrap(), "type": "Contact", "name": "Luke Skywalker"}])
    );
    assert_eq!(c["receivers"], json!([{"id": 345, "type": "User", "name": "Ada Lovelace"}]));
    assert_eq!(c["matter"]["id"], open);
    let text = c["body"].as_str().unwrap();
    assert!(text.starts_with("Asked about the plans\n\n--- Call details ---\n"), "{text}");
    assert!(text.contains("Duration: 42 seconds") && text.contains("Result: Call connected"), "{text}");
    let entries = fake.activities();
    assert_eq!(entries.len(), 1);
    assert_eq!(entries[0]["type"], "TimeEntry");
    assert_eq!(entries[0]["quantity"], 42.0);
    assert_eq!(entries[0]["date"], "2024-05-27");
    assert_eq!(entries[0]["communication"]["id"].to_string(), log_id);
    assert_eq!(entries[0]["matter"]["id"], open);

    // Update it, then read it back.
    let r = h
        .patch(
            "/callLog",
            Some(&jwt),
            &json!({"sessionId": "clio-s-1", "subject": "Call with Luke", "note": "Plans delivered"}),
        )
        .await;
    ok(&r);
    let c = fake.communications().remove(0);
    assert_eq!(c["subject"], "Call with Luke");
    let text = c["body"].as_str().unwrap();
    assert!(
        text.starts_with("Plans delivered\n\n--- Call details ---\n") && text.contains("Duration: 42 seconds"),
        "{text}"
    );
    let patch = fake.seen(&format!("/api/v4/communications/{log_id}.json")).into_iter().find(|s| s.method == "PATCH");
    assert_eq!(patch.unwrap().body["data"]["subject"], "Call with Luke");
    let body = ok(&h.get("/callLog?sessionIds=clio-s-1&requireDetails=true", Some(&jwt)).await);
    let data = &body["logs"][0]["logData"];
    assert_eq!(data["subject"], "Call with Luke", "{body}");
    assert_eq!(data["note"], "Plans delivered");
    assert_eq!(data["contactName"], "Luke Skywalker");
    assert!(data["fullBody"].as_str().unwrap().contains("--- Call details ---"));
    let get = fake.seen(&format!("/api/v4/communications/{log_id}.json")).into_iter().rfind(|s| s.method == "GET");
    assert_eq!(get.unwrap().param("fields").as_deref(), Some("id,subject,body,matter{id}"));

    // Two messages of one conversation: one communication holding both.
    let conversation = json!({
        "logInfo": {"conversationId": "clio-conv-1", "correspondents": [{"phoneNumber": "+16505551212"}], "messages": [
            {"id": "cm-1", "type": "SMS", "direction": "Inbound", "subject": "Help me",
             "from": {"phoneNumber": "+16505551212"}, "creationTime": "2026-11-22T10:00:00Z"},
            {"id": "cm-2", "type": "SMS", "direction": "Outbound", "subject": "On my way",
             "from": {"phoneNumber": "+14155550100"}, "creationTime": "2026-11-22T10:01:00Z"}]},
        "contactId": luke_id, "contactName": "Luke Skywalker"});
    let body = ok(&h.post("/messageLog", Some(&jwt), &conversation).await);
    assert_eq!(body["logIds"].as_array().unwrap().len(), 1, "{body}");
    let comms = fake.communications();
    assert_eq!(comms.len(), 2, "the call and the conversation");
    let m = &comms[1];
    assert_eq!(m["subject"], "SMS conversation with Luke Skywalker");
    assert_eq!(
        m["body"],
        "[2026-11-22T10:00:00Z] Inbound SMS from +16505551212: Help me\n[2026-11-22T10:01:00Z] Outbound SMS from +14155550100: On my way"
    );
    assert_eq!(body["logIds"][0], m["id"].to_string());

    // Every API call carried the user's token, added by the host.
    let calls = fake.api_calls();
    assert!(calls.len() >= 12, "{}", calls.len());
    for call in &calls {
        assert_eq!(call.authorization.as_deref(), Some(bearer.as_str()), "{} {}", call.method, call.path);
        assert!(call.status < 400, "{} {} answered {}", call.method, call.path, call.status);
    }

    // Logout deauthorizes the token at Clio; the next call is refused.
    ok(&h.post("/unAuthorize", Some(&jwt), &json!({})).await);
    let deauth = fake.state().deauthorizations.clone();
    assert_eq!(deauth.len(), 1);
    assert_eq!(format!("Bearer {}", deauth[0].bearer), bearer);
    assert_eq!(deauth[0].user_id, 345);
    assert_eq!(deauth[0].token_param, None, "the adapter never holds the token; the bearer header names it");
    assert!(fake.state().access.is_empty() && fake.state().refresh.is_empty(), "the grant is gone at Clio");
    h.get(LUKE, Some(&jwt)).await.assert_error(401, "NOT_CONNECTED");
    h.stop().await;
}

#[tokio::test]
async fn the_operator_setting_turns_time_entries_on_and_the_client_can_opt_out() {
    let (h, fake) = start(&[("time_entries", "true")]).await;
    let jwt = login(&h, &fake, None, US).await;
    let body = ok(&h.get(LUKE, Some(&jwt)).await);
    assert_eq!(body["contact"][0]["additionalInfo"]["logTimeEntry"], true, "{body}");
    let luke = body["contact"][0]["id"].as_str().unwrap().to_owned();
    ok(&h.post("/callLog", Some(&jwt), &common::call_log_body("te-1", &luke)).await);
    assert_eq!(fake.activities().len(), 1, "the setting adds a time entry");
    assert!(fake.activities()[0]["matter"].is_null());
    let mut opt_out = common::call_log_body("te-2", &luke);
    opt_out["additionalSubmission"] = json!({"logTimeEntry": false});
    ok(&h.post("/callLog", Some(&jwt), &opt_out).await);
    assert_eq!(fake.activities().len(), 1, "logTimeEntry: false wins over the setting");
    assert_eq!(fake.communications().len(), 2);
    h.stop().await;
}

#[tokio::test]
async fn search_results_are_paged_with_clios_next_url() {
    let (h, fake) = start(&[]).await;
    let jwt = login(&h, &fake, None, US).await;
    for name in ["Anakin Skywalker", "Shmi Skywalker", "Owen Lars"] {
        fake.add_contact("Person", name, &["+16505559999"], None);
    }
    fake.set_page_size(2);
    let body = ok(&h.get("/contact?phoneNumber=%2B16505559999", Some(&jwt)).await);
    let names: Vec<&str> = body["contact"].as_array().unwrap().iter().map(|c| c["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["Anakin Skywalker", "Shmi Skywalker", "Owen Lars"]);
    let pages = fake.seen("/api/v4/contacts.json");
    assert_eq!(pages.len(), 2);
    assert!(pages[0].param("page_token").is_none());
    assert!(pages[1].param("page_token").is_some(), "page 2 from meta.paging.next");
    assert_eq!(pages[1].param("query").as_deref(), Some("+16505559999"), "the next URL keeps the query");
    assert_eq!(fake.seen("/api/v4/matters.json").len(), 3, "one matters look-up per contact");
    h.stop().await;
}

#[tokio::test]
async fn clios_rate_limit_reaches_the_client_as_crm_rate_limited_with_retry_after() {
    let (h, fake) = start(&[]).await;
    let jwt = login(&h, &fake, None, US).await; // who_am_i: 1 request of the window
    fake.set_rate_limit(3, Duration::from_secs(60));
    // Each look-up is 2 requests (search, matters): the second one's matters
    // look-up is the fourth request of the window.
    ok(&h.get(LUKE, Some(&jwt)).await);
    let r = h.get(LUKE, Some(&jwt)).await;
    assert_eq!(r.status, 200, "a CRM answer, not a failure of ours: {}", r.text);
    let body = r.json();
    assert_eq!(body["successful"], false);
    assert_eq!(body["errorCode"], "CRM_RATE_LIMITED", "{body}");
    let retry_after = body["retryAfter"].as_u64().expect("retryAfter");
    assert!((1..=60).contains(&retry_after), "{retry_after}");
    let limited: Vec<_> = fake.api_calls().into_iter().filter(|s| s.status == 429).collect();
    assert_eq!(limited.len(), 1, "the fourth request in the window");
    assert_eq!(limited[0].path, "/api/v4/matters.json");

    // What Clio answers past the limit, seen directly.
    let r = reqwest::Client::new()
        .get(format!("{}/api/v4/users/who_am_i.json?fields=id,name", fake.base_url()))
        .bearer_auth(access_token(&fake))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 429);
    let header = |n: &str| r.headers().get(n).and_then(|v| v.to_str().ok()).map(str::to_owned);
    assert_eq!(header("x-ratelimit-limit").as_deref(), Some("3"));
    assert_eq!(header("x-ratelimit-remaining").as_deref(), Some("0"));
    assert!(header("x-ratelimit-reset").and_then(|v| v.parse::<u64>().ok()).is_some_and(|t| t > 1_700_000_000));
    assert!(header("retry-after").and_then(|v| v.parse::<u64>().ok()).is_some_and(|s| (1..=60).contains(&s)));

    // Until Retry-After has passed, the host answers for Clio: nothing more
    // is sent with this token.
    let sent = fake.api_calls().len();
    let body = h.get(LUKE, Some(&jwt)).await.json();
    assert_eq!(body["errorCode"], "CRM_RATE_LIMITED", "{body}");
    assert!(body["retryAfter"].as_u64().is_some_and(|s| (1..=retry_after).contains(&s)), "{body}");
    assert_eq!(fake.api_calls().len(), sent, "held by the host, not sent to Clio");
    h.stop().await;
}

#[tokio::test]
async fn a_forced_429_is_reported_with_its_retry_after_and_then_passes() {
    let (h, fake) = start(&[]).await;
    let jwt = login(&h, &fake, None, US).await;
    fake.throttle_next(1, 1);
    let body = h.get(LUKE, Some(&jwt)).await.json();
    assert_eq!(
        (body["errorCode"].as_str(), body["retryAfter"].as_u64()),
        (Some("CRM_RATE_LIMITED"), Some(1)),
        "{body}"
    );
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let body = ok(&h.get(LUKE, Some(&jwt)).await);
    assert_eq!(body["contact"][0]["name"], "Luke Skywalker");
    h.stop().await;
}

#[tokio::test]
async fn a_refused_access_token_is_refreshed_with_the_client_in_the_body() {
    let (h, fake) = start(&[]).await;
    let jwt = login(&h, &fake, None, US).await;
    fake.state().access.clear(); // Clio forgets the access token, not the refresh token
    ok(&h.get(LUKE, Some(&jwt)).await);
    let tokens = fake.state().token_requests.clone();
    let refreshes: Vec<_> = tokens.iter().filter(|t| t.grant_type == "refresh_token").collect();
    assert_eq!(refreshes.len(), 1, "{tokens:?}");
    assert!(refreshes[0].credentials_in_body && refreshes[0].status == 200);
    // Clio does not rotate refresh tokens: the stored one keeps working.
    fake.state().access.clear();
    ok(&h.get(LUKE, Some(&jwt)).await);
    assert_eq!(fake.state().token_requests.iter().filter(|t| t.grant_type == "refresh_token").count(), 2);
    h.stop().await;
}

#[tokio::test]
async fn a_user_of_the_eu_region_only_ever_talks_to_the_eu_host() {
    let us = FakeClio::start(US, 345, "Ada Lovelace").await;
    let eu = FakeClio::start(EU, 678, "Grace Hopper").await;
    let h = start_host(&[(US, &us), (EU, &eu)], &[]).await;

    // A region Clio does not have is refused before anything happens.
    let r = no_redirects().get(format!("{}/oauth/clio/start?hostname=evil.example", h.base)).send().await.unwrap();
    assert_eq!(r.status(), 400);

    let r = callback(&h, &consent(&h, &eu, Some("eu.app.clio.com"), EU).await).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.json()["name"], "Grace Hopper");
    let jwt = r.json()["jwtToken"].as_str().unwrap().to_owned();
    assert_eq!(h.get("/hostname", Some(&jwt)).await.text, "eu.app.clio.com");
    assert_eq!(eu.state().token_requests.len(), 1, "the code is exchanged at the EU token endpoint");

    // Everything a user does, with paging in the EU region too.
    eu.add_contact("Person", "Anakin Skywalker", &["+16505551212"], None);
    eu.set_page_size(1);
    let body = ok(&h.get(LUKE, Some(&jwt)).await);
    assert_eq!(body["contact"].as_array().unwrap().len(), 2, "{body}");
    let luke = body["contact"][0]["id"].as_str().unwrap().to_owned();
    let next = eu.seen("/api/v4/contacts.json");
    assert!(next.len() >= 2 && next[1].param("page_token").is_some());
    ok(&h.post("/contact", Some(&jwt), &json!({"phoneNumber": "+4915112345678", "newContactName": "Rey"})).await);
    ok(&h.post("/callLog", Some(&jwt), &common::call_log_body("eu-s-1", &luke)).await);
    ok(&h.patch("/callLog", Some(&jwt), &json!({"sessionId": "eu-s-1", "note": "Updated"})).await);
    ok(&h.get("/callLog?sessionIds=eu-s-1&requireDetails=true", Some(&jwt)).await);
    let sms = json!({"logInfo": {"conversationId": "eu-c-1", "messages": [
            {"id": "eu-m-1", "type": "SMS", "direction": "Inbound", "subject": "Hi",
             "from": {"phoneNumber": "+16505551212"}, "creationTime": "2026-11-22T10:00:00Z"}]},
        "contactId": luke, "contactName": "Luke Skywalker"});
    ok(&h.post("/messageLog", Some(&jwt), &sms).await);
    ok(&h.post("/unAuthorize", Some(&jwt), &json!({})).await);

    let calls = eu.api_calls();
    let paths: Vec<String> = calls.iter().map(|s| format!("{} {}", s.method, s.path)).collect();
    for expected in [
        "GET /api/v4/users/who_am_i.json",
        "GET /api/v4/contacts.json",
        "GET /api/v4/matters.json",
        "POST /api/v4/contacts.json",
        "POST /api/v4/communications.json",
    ] {
        assert!(paths.iter().any(|p| p == expected), "{expected} in {paths:?}");
    }
    assert!(calls.iter().all(|s| s.status < 400), "{paths:?}");
    assert_eq!(eu.state().deauthorizations.len(), 1, "deauthorized in the EU region");
    assert_eq!(eu.communications().len(), 2);
    assert!(us.state().seen.is_empty(), "nothing reached the US region: {:?}", us.state().seen);
    assert!(us.state().token_requests.is_empty());
    h.stop().await;
}

fn sms(conversation: &str, contact: &str) -> Value {
    json!({"logInfo": {"conversationId": conversation, "messages": [
            {"id": format!("{conversation}-m1"), "type": "SMS", "direction": "Inbound", "subject": "Help me",
             "from": {"phoneNumber": "+16505551212"}, "creationTime": "2026-11-22T10:00:00Z"}]},
        "contactId": contact, "contactName": "Luke Skywalker"})
}

#[tokio::test]
async fn a_communication_clio_made_but_answered_too_late_is_found_by_the_retry_not_made_twice() {
    let us = FakeClio::start(US, 345, "Ada Lovelace").await;
    let h = start_host_with(&[(US, &us)], &[("time_entries", "true")], |c| c.limits.outbound_timeout_ms = 500).await;
    let jwt = login(&h, &us, None, US).await;
    let luke = ok(&h.get(LUKE, Some(&jwt)).await)["contact"][0]["id"].as_str().unwrap().to_owned();

    // Clio makes the communication but answers after the host gave up.
    us.set_answer_delay(Duration::from_secs(2));
    let call = common::call_log_body("late-1", &luke);
    let failed = h.post("/callLog", Some(&jwt), &call).await.json();
    assert_eq!(failed["successful"], false, "{failed}");
    assert_eq!(us.communications().len(), 1, "Clio did make it");
    assert!(us.activities().is_empty(), "the first attempt never got to its time entry");
    us.set_answer_delay(Duration::ZERO);

    // The retry finds it by its external property, and adds the missing time entry.
    let logged = h.until_logged(&jwt, "/callLog", &call).await;
    let comms = us.communications();
    assert_eq!(comms.len(), 1, "no second communication: {comms:?}");
    assert_eq!(logged["logId"], comms[0]["id"].to_string(), "{logged}");
    let key = comms[0]["external_properties"][0].clone();
    assert_eq!(key["name"], "switchboard_idempotency_key", "{key}");
    assert!(key["value"].as_str().is_some_and(|k| k.starts_with("sb-") && k.len() == 35), "{key}");
    let search = us.seen("/api/v4/communications.json").into_iter().rfind(|s| s.method == "GET").unwrap();
    assert_eq!(search.param("external_property_value").as_deref(), key["value"].as_str());
    let entries = us.activities();
    assert_eq!(entries.len(), 1, "{entries:?}");
    assert_eq!(entries[0]["communication"]["id"], comms[0]["id"]);
    let r = ok(&h.get("/callLog?sessionIds=late-1", Some(&jwt)).await);
    assert_eq!(r["logs"][0]["matched"], true, "{r}");
    assert_eq!(r["logs"][0]["logId"], logged["logId"], "{r}");

    // Another call is another key: a communication of its own.
    let other = ok(&h.post("/callLog", Some(&jwt), &common::call_log_body("late-2", &luke)).await);
    assert_ne!(other["logId"], logged["logId"]);
    assert_eq!(us.communications().len(), 2);

    // A conversation the same way.
    us.set_answer_delay(Duration::from_secs(2));
    let conversation = sms("late-conv-1", &luke);
    let failed = h.post("/messageLog", Some(&jwt), &conversation).await.json();
    assert_eq!(failed["successful"], false, "{failed}");
    assert_eq!(us.communications().len(), 3, "Clio did make it");
    us.set_answer_delay(Duration::ZERO);
    let logged = h.until_logged(&jwt, "/messageLog", &conversation).await;
    let comms = us.communications();
    assert_eq!(comms.len(), 3, "no second communication for the conversation");
    assert_eq!(logged["logIds"], json!([comms[2]["id"].to_string()]), "{logged}");
    h.stop().await;
}

#[tokio::test]
async fn the_fake_clio_takes_at_most_five_external_properties_and_filters_by_them() {
    let (h, fake) = start(&[]).await;
    let _jwt = login(&h, &fake, None, US).await;
    let client = reqwest::Client::new();
    let luke = fake.contact_named("Luke Skywalker").unwrap()["id"].as_u64().unwrap();
    let create = |n: usize| {
        let properties: Vec<Value> =
            (0..n).map(|i| json!({"name": format!("p{i}"), "value": format!("v{i}")})).collect();
        json!({"data": {"type": "PhoneCommunication", "subject": "s", "senders": [{"id": luke, "type": "Contact"}],
                        "external_properties": properties}})
    };
    let post = |body: Value| {
        client
            .post(format!("{}/api/v4/communications.json?fields=id,external_properties{{name,value}}", fake.base_url()))
            .bearer_auth(access_token(&fake))
            .json(&body)
            .send()
    };
    assert_eq!(post(create(6)).await.unwrap().status(), 422, "more than 5");
    let r = post(create(5)).await.unwrap();
    assert_eq!(r.status(), 201);
    let made: Value = r.json().await.unwrap();
    assert_eq!(made["data"]["external_properties"][4], json!({"name": "p4", "value": "v4"}));
    let list = |query: &str| {
        client
            .get(format!("{}/api/v4/communications.json?fields=id&{query}", fake.base_url()))
            .bearer_auth(access_token(&fake))
            .send()
    };
    let found: Value =
        list("external_property_name=p2&external_property_value=v2").await.unwrap().json().await.unwrap();
    assert_eq!(found["data"], json!([{"id": made["data"]["id"]}]), "{found}");
    assert_eq!(found["meta"]["records"], 1);
    let none: Value = list("external_property_name=p2&external_property_value=v3").await.unwrap().json().await.unwrap();
    assert_eq!(none["data"], json!([]));
    assert_eq!(list("external_property_value=v2").await.unwrap().status(), 400, "a value needs its name");
    h.stop().await;
}
