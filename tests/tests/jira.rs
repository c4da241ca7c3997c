//! The Jira Cloud adapter end to end: the real host, the real `jira.wasm`,
//! and a fake Jira Cloud (`jira/fake.rs`) standing in for both
//! `auth.atlassian.com` and `api.atlassian.com` through upstream overrides.
//!
//! One long file: one end-to-end suite per CRM (one integration test file per concern), sharing its
//! set-up.

#![allow(clippy::unwrap_used)] // a test crate: an unwrap that fails is a failed test

mod common;
#[path = "jira/fake.rs"]
mod fake;

use common::Harness;
use fake::{ACCOUNT_ID, CLIENT_ID, CLIENT_SECRET, CLOUD_ID, FakeJira, PHONE_FIELD};
use reqwest::Method;
use serde_json::{Value, json};
use std::collections::{BTreeMap, HashSet};
use std::time::Duration;
use switchboard::config::{AdapterSettings, Config};
use switchboard::store::test_support;

const REDIRECT_URI: &str = "https://switchboard.example/oauth-callback";
const PLATFORM: &str = "jira";
const SCOPES: &str = "read:jira-work write:jira-work read:jira-user offline_access";

struct Jira {
    h: Harness,
    fake: FakeJira,
}

async fn start(tweak: impl FnOnce(&mut Config)) -> Jira {
    let fake = FakeJira::start().await;
    let base = fake.base_url();
    let h = Harness::start_with(test_support::sqlite_url(), &[PLATFORM], &[], |c| {
        c.oauth.redirect_uri = REDIRECT_URI.into();
        c.oauth.initial_delay_ms = 10;
        c.upstream_overrides.insert("https://auth.atlassian.com".into(), base.clone());
        c.upstream_overrides.insert("https://api.atlassian.com".into(), base.clone());
        let settings: BTreeMap<String, String> =
            [("project_key", "CRM"), ("phone_field", PHONE_FIELD), ("site", fake::SITE)]
                .into_iter()
                .map(|(k, v)| (k.to_owned(), v.to_owned()))
                .collect();
        c.adapters.insert(
            PLATFORM.into(),
            AdapterSettings {
                client_id: Some(CLIENT_ID.into()),
                client_secret: Some(CLIENT_SECRET.into()),
                settings,
                ..Default::default()
            },
        );
        tweak(c);
    })
    .await;
    Jira { h, fake }
}

fn no_redirects() -> reqwest::Client {
    reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap()
}

/// The browser's part: Switchboard's start → Atlassian's consent (auto) →
/// the callback URI with `code` and `state`.
async fn consent(j: &Jira) -> String {
    let client = no_redirects();
    let r = client.get(format!("{}/oauth/{PLATFORM}/start", j.h.base)).send().await.unwrap();
    assert_eq!(r.status(), 303, "{:?}", r.text().await);
    let authorize = url::Url::parse(r.headers()["location"].to_str().unwrap()).unwrap();
    assert_eq!(authorize.origin().ascii_serialization(), "https://auth.atlassian.com");
    assert_eq!(authorize.path(), "/authorize");
    let at_fake = format!("{}{}?{}", j.fake.base_url(), authorize.path(), authorize.query().unwrap());
    let r = client.get(at_fake).send().await.unwrap();
    assert!(r.status().is_redirection(), "{}", r.status());
    r.headers()["location"].to_str().unwrap().to_owned()
}

async fn callback(j: &Jira, callback_uri: &str) -> common::Reply {
    let query = url::form_urlencoded::Serializer::new(String::new()).append_pair("callbackUri", callback_uri).finish();
    j.h.get(&format!("/oauth-callback?{query}"), None).await
}

async fn login(j: &Jira) -> String {
    let r = callback(j, &consent(j).await).await;
    assert_eq!(r.status, 200, "{}", r.text);
    r.json()["jwtToken"].as_str().unwrap().to_owned()
}

fn api(path: &str) -> String {
    format!("{}{path}", fake::api_prefix())
}

/// The last request the fake saw at `path`, asserting it carried a bearer token.
fn last(j: &Jira, path: &str) -> fake::Seen {
    let seen = j.fake.seen(path);
    let r = seen.last().unwrap_or_else(|| panic!("no request to {path}")).clone();
    let auth = r.authorization.clone().unwrap_or_default();
    assert!(auth.starts_with("Bearer at-"), "the host adds the OAuth access token: {auth:?}");
    r
}

#[tokio::test]
async fn oauth_login_finds_the_cloud_id_and_the_user() {
    let j = start(|_| {}).await;
    let callback_uri = consent(&j).await;
    let q = j.fake.state().authorize_queries[0].clone();
    assert_eq!(q["audience"], "api.atlassian.com");
    assert_eq!(q["prompt"], "consent");
    assert_eq!(q["client_id"], CLIENT_ID);
    assert_eq!(q["response_type"], "code");
    assert_eq!(q["redirect_uri"], REDIRECT_URI);
    assert_eq!(q["scope"], SCOPES);
    assert!(q["state"].len() >= 16);
    assert!(!q.contains_key("code_challenge"), "no PKCE: Atlassian does not document it for 3LO");

    let r = callback(&j, &callback_uri).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.json()["name"], fake::USER_NAME);
    let token = r.json()["jwtToken"].as_str().unwrap().to_owned();

    // The code exchange: a form body carrying the client credentials.
    {
        let s = j.fake.state();
        assert_eq!(s.token_calls.get("authorization_code"), Some(&1));
        assert!(
            s.token_content_types[0].starts_with("application/x-www-form-urlencoded"),
            "{:?}",
            s.token_content_types
        );
    }
    // The adapter asked the gateway which sites the token reaches, then who the user is there.
    last(&j, "/oauth/token/accessible-resources");
    last(&j, &api("/myself"));
    // From now on the connection's hostname is the cloud id.
    let r = j.h.get("/hostname", Some(&token)).await;
    assert_eq!(r.text, CLOUD_ID);
    let c = j.h.admin(Method::GET, "/admin/connections?platform=jira").await.json();
    assert_eq!(c["connections"][0]["status"], "active", "{c}");
    // The user is the Atlassian account.
    use base64::Engine as _;
    let payload = token.split('.').nth(1).unwrap();
    let claims: Value =
        serde_json::from_slice(&base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap();
    assert_eq!(claims["id"], format!("{ACCOUNT_ID}-jira"));
    j.h.stop().await;
}

#[tokio::test]
async fn find_contact_by_e164_and_by_overriding_format_with_jql() {
    let j = start(|_| {}).await;
    let token = login(&j).await;

    let r = j.h.get("/contact?phoneNumber=%2B16505551212", Some(&token)).await;
    let body = r.json();
    assert_eq!(body["successful"], true, "{body}");
    let contacts = body["contact"].as_array().unwrap();
    assert_eq!(contacts.len(), 1, "the OPS issue with the same number is not in the CRM project: {body}");
    assert_eq!(contacts[0]["id"], "CRM-1");
    assert_eq!(contacts[0]["name"], "Luke Skywalker");
    assert_eq!(contacts[0]["phone"], "+16505551212");
    assert_eq!(contacts[0]["type"], "issue");
    let sent = last(&j, &api("/search/jql"));
    assert_eq!(sent.method, "POST");
    assert!(sent.content_type.as_deref().unwrap_or_default().starts_with("application/json"));
    assert_eq!(sent.body["jql"], r#"project = "CRM" AND cf[10050] ~ "\"+16505551212\"""#);
    assert_eq!(sent.body["fields"], json!(["summary", PHONE_FIELD]));
    assert_eq!(sent.body["maxResults"], 50);

    // Leia's number is stored as "(650) 555-0100": found through the format.
    let r = j.h.get("/contact?phoneNumber=%2B16505550100&overridingFormat=(***)%20***-****", Some(&token)).await;
    let body = r.json();
    assert_eq!(body["contact"][0]["name"], "Leia Organa", "{body}");
    assert_eq!(body["contact"][0]["phone"], "(650) 555-0100");
    let sent = last(&j, &api("/search/jql"));
    assert_eq!(
        sent.body["jql"],
        r#"project = "CRM" AND (cf[10050] ~ "\"+16505550100\"" OR cf[10050] ~ "\"(650) 555-0100\"")"#
    );

    // Nobody has this number.
    let r = j.h.get("/contact?phoneNumber=%2B442071838750", Some(&token)).await;
    assert_eq!(r.json()["errorCode"], "CONTACT_NOT_FOUND", "{}", r.text);
    assert_eq!(r.json()["contact"][0]["isNewContact"], true);
    j.h.stop().await;
}

#[tokio::test]
async fn find_contact_follows_pagination() {
    let j = start(|_| {}).await;
    let token = login(&j).await;
    for i in 0..4 {
        j.fake.add_issue("CRM", &format!("Wedge Antilles {i}"), Some("+1 (415) 555-0199"));
    }
    j.fake.state().page_size = 2;
    let r = j.h.get("/contact?phoneNumber=%2B14155550199&overridingFormat=(***)%20***-****", Some(&token)).await;
    let body = r.json();
    let names: Vec<&str> = body["contact"].as_array().unwrap().iter().map(|c| c["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["Wedge Antilles 0", "Wedge Antilles 1", "Wedge Antilles 2", "Wedge Antilles 3"], "{body}");
    let searches = j.fake.seen(&api("/search/jql"));
    assert_eq!(searches.len(), 2, "two pages of two");
    assert!(searches[0].body.get("nextPageToken").is_none());
    assert!(searches[1].body["nextPageToken"].as_str().is_some_and(|t| t.starts_with("pt-")));
    assert_eq!(searches[0].body["jql"], searches[1].body["jql"], "the same query for every page");
    j.h.stop().await;
}

#[tokio::test]
async fn create_contact_creates_an_issue_that_find_contact_then_finds() {
    let j = start(|_| {}).await;
    let token = login(&j).await;
    let r =
        j.h.post(
            "/contact",
            Some(&token),
            &json!({"phoneNumber": "+14155550123", "newContactName": "Han Solo", "newContactType": "issue"}),
        )
        .await;
    let body = r.json();
    assert_eq!(body["successful"], true, "{body}");
    assert_eq!(body["contact"]["id"], "CRM-4");
    assert_eq!(body["contact"]["name"], "Han Solo");
    let sent = last(&j, &api("/issue"));
    assert_eq!(
        sent.body,
        json!({"fields": {"project": {"key": "CRM"}, "issuetype": {"name": "Task"}, "summary": "Han Solo", PHONE_FIELD: "+14155550123"}})
    );
    let issue = j.fake.issue("CRM-4").unwrap();
    assert_eq!((issue.summary.as_str(), issue.phone.as_deref()), ("Han Solo", Some("+14155550123")));

    let r = j.h.get("/contact?phoneNumber=%2B14155550123", Some(&token)).await;
    assert_eq!(r.json()["contact"][0]["id"], "CRM-4", "{}", r.text);
    j.h.stop().await;
}

#[tokio::test]
async fn call_logs_are_adf_comments_created_updated_and_read_back() {
    let j = start(|_| {}).await;
    let token = login(&j).await;

    let r = j.h.post("/callLog", Some(&token), &common::call_log_body("s-1", "CRM-1")).await;
    let body = r.json();
    assert_eq!(body["successful"], true, "{body}");
    let log_id = body["logId"].as_str().unwrap().to_owned();
    let comment = j.fake.issue("CRM-1").unwrap().comments[0].clone();
    assert_eq!(log_id, format!("CRM-1/{}", comment.id));
    let sent = last(&j, &api("/issue/CRM-1/comment"));
    assert_eq!(sent.method, "POST");
    assert_eq!(sent.body["body"]["type"], "doc", "an ADF document: {}", sent.body);
    let text = fake::adf_text(&comment.body);
    for expected in [
        "Inbound call from Luke Skywalker",
        "- Contact: Luke Skywalker",
        "- From: +16505551212",
        "- To: +14155550100",
        "- Duration: 42 s",
        "- Result: Call connected",
        "- Session: s-1",
        "Asked about the plans",
    ] {
        assert!(text.contains(expected), "{expected:?} in {text}");
    }

    // The same session again: the host answers from its own records.
    let r = j.h.post("/callLog", Some(&token), &common::call_log_body("s-1", "CRM-1")).await;
    assert_eq!(r.json()["errorCode"], "CALL_LOG_EXISTS", "{}", r.text);
    assert_eq!(j.fake.issue("CRM-1").unwrap().comments.len(), 1);

    let r =
        j.h.patch(
            "/callLog",
            Some(&token),
            &json!({"sessionId": "s-1", "subject": "Call with Luke", "note": "Plans delivered", "duration": 65}),
        )
        .await;
    assert_eq!(r.json()["successful"], true, "{}", r.text);
    let put = last(&j, &api(&format!("/issue/CRM-1/comment/{}", comment.id)));
    assert_eq!(put.method, "PUT");
    let text = fake::adf_text(&j.fake.issue("CRM-1").unwrap().comments[0].body);
    assert!(text.starts_with("Call with Luke\n"), "{text}");
    assert!(text.contains("- Duration: 1 min 5 s") && text.ends_with("Plans delivered"), "{text}");
    assert!(!text.contains("Asked about the plans"), "{text}");

    let r = j.h.get("/callLog?sessionIds=s-1,s-unknown&requireDetails=true", Some(&token)).await;
    let body = r.json();
    assert_eq!(body["logs"][0]["matched"], true, "{body}");
    assert_eq!(body["logs"][0]["logId"], log_id);
    let data = &body["logs"][0]["logData"];
    assert_eq!(data["subject"], "Call with Luke", "{body}");
    assert_eq!(data["note"], "Plans delivered");
    assert_eq!(data["contactName"], "Luke Skywalker");
    assert!(data["fullBody"].as_str().unwrap().contains("- Direction: Inbound"), "{body}");
    assert_eq!(body["logs"][1]["matched"], false);
    assert_eq!(last(&j, &api(&format!("/issue/CRM-1/comment/{}", comment.id))).method, "GET");

    // A comment deleted in Jira reads as not logged.
    j.fake.state().issues[0].comments.clear();
    let r = j.h.get("/callLog?sessionIds=s-1&requireDetails=true", Some(&token)).await;
    assert_eq!(r.json()["logs"][0]["matched"], false, "{}", r.text);

    // A call on an issue that does not exist: what Jira said.
    let r = j.h.post("/callLog", Some(&token), &common::call_log_body("s-2", "CRM-999")).await;
    assert_eq!(r.json()["errorCode"], "CRM_NOT_FOUND", "{}", r.text);
    j.h.stop().await;
}

#[tokio::test]
async fn two_messages_of_a_conversation_make_one_comment() {
    let j = start(|_| {}).await;
    let token = login(&j).await;
    let message = |id: &str, direction: &str, text: &str, from: &str, at: &str| {
        json!({"id": id, "type": "SMS", "direction": direction, "subject": text,
               "from": {"phoneNumber": from}, "creationTime": at})
    };
    let body = |messages: Vec<Value>| {
        json!({"logInfo": {"conversationId": "conv-1", "correspondents": [{"phoneNumber": "+16505551212"}], "messages": messages},
               "contactId": "CRM-1", "contactName": "Luke Skywalker"})
    };
    let r =
        j.h.post(
            "/messageLog",
            Some(&token),
            &body(vec![
                message("m-1", "Inbound", "Help me", "+16505551212", "2026-11-22T10:00:00Z"),
                message("m-2", "Outbound", "On my way", "+14155550100", "2026-11-22T10:01:00Z"),
            ]),
        )
        .await;
    let reply = r.json();
    assert_eq!(reply["successful"], true, "{reply}");
    assert_eq!(reply["logIds"].as_array().unwrap().len(), 1, "one record for the conversation: {reply}");
    let comments = j.fake.issue("CRM-1").unwrap().comments;
    assert_eq!(comments.len(), 1);
    assert_eq!(reply["logIds"][0], format!("CRM-1/{}", comments[0].id));
    assert_eq!(
        fake::adf_text(&comments[0].body),
        "SMS conversation with Luke Skywalker\n\
         [2026-11-22T10:00:00Z] Inbound SMS from +16505551212: Help me\n\
         [2026-11-22T10:01:00Z] Outbound SMS from +14155550100: On my way"
    );
    let methods: Vec<String> =
        j.fake.seen(&api("/issue/CRM-1/comment")).iter().map(|s| format!("{} {}", s.method, s.path)).collect();
    let id = comments[0].id;
    assert_eq!(
        methods,
        [
            format!("GET {}", api("/issue/CRM-1/comment")), // an earlier attempt's? none
            format!("POST {}", api("/issue/CRM-1/comment")),
            format!("GET {}", api(&format!("/issue/CRM-1/comment/{id}"))),
            format!("PUT {}", api(&format!("/issue/CRM-1/comment/{id}")))
        ]
    );

    // A later message, and a repeat of the first: appended once.
    let r =
        j.h.post(
            "/messageLog",
            Some(&token),
            &body(vec![
                message("m-1", "Inbound", "Help me", "+16505551212", "2026-11-22T10:00:00Z"),
                message("m-3", "Inbound", "Thanks", "+16505551212", "2026-11-22T10:02:00Z"),
            ]),
        )
        .await;
    assert_eq!(r.json()["successful"], true, "{}", r.text);
    let comments = j.fake.issue("CRM-1").unwrap().comments;
    assert_eq!(comments.len(), 1);
    let text = fake::adf_text(&comments[0].body);
    assert_eq!(text.matches("Help me").count(), 1, "{text}");
    assert!(text.ends_with("[2026-11-22T10:02:00Z] Inbound SMS from +16505551212: Thanks"), "{text}");
    j.h.stop().await;
}

#[tokio::test]
async fn jira_429_reaches_the_client_as_crm_rate_limited_with_retry_after() {
    let j = start(|_| {}).await;
    let token = login(&j).await;
    let searches = || j.fake.seen(&api("/search/jql")).len();
    j.fake.throttle_next(1, 7);
    let r = j.h.get("/contact?phoneNumber=%2B16505551212", Some(&token)).await;
    let body = r.assert_error(200, "CRM_RATE_LIMITED");
    assert_eq!(body["retryAfter"], 7, "Jira's Retry-After: {body}");
    assert_eq!(searches(), 1);
    // Within the wait the host holds the adapter's requests itself: Jira is not hammered.
    let r = j.h.get("/contact?phoneNumber=%2B16505551212", Some(&token)).await;
    let body = r.assert_error(200, "CRM_RATE_LIMITED");
    assert!(body["retryAfter"].as_u64().is_some_and(|s| (1..=7).contains(&s)), "{body}");
    assert_eq!(searches(), 1, "held by the host, not sent");
    j.h.stop().await;
}

#[tokio::test]
async fn after_the_wait_calls_and_call_logs_go_through() {
    let j = start(|_| {}).await;
    let token = login(&j).await;
    j.fake.throttle_next(1, 1);
    let r = j.h.get("/contact?phoneNumber=%2B16505551212", Some(&token)).await;
    assert_eq!(r.assert_error(200, "CRM_RATE_LIMITED")["retryAfter"], 1);
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let r = j.h.get("/contact?phoneNumber=%2B16505551212", Some(&token)).await;
    assert_eq!(r.json()["successful"], true, "{}", r.text);

    // A 429 while logging a call releases the session: the retry logs it, once.
    j.fake.throttle_next(1, 1);
    let r = j.h.post("/callLog", Some(&token), &common::call_log_body("s-429", "CRM-2")).await;
    assert_eq!(r.json()["errorCode"], "CRM_RATE_LIMITED", "{}", r.text);
    assert_eq!(r.json()["retryAfter"], 1);
    assert!(j.fake.issue("CRM-2").unwrap().comments.is_empty());
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let r = j.h.post("/callLog", Some(&token), &common::call_log_body("s-429", "CRM-2")).await;
    assert_eq!(r.json()["successful"], true, "{}", r.text);
    assert_eq!(j.fake.issue("CRM-2").unwrap().comments.len(), 1);
    j.h.stop().await;
}

/// Each refresh token the fake issued was presented exactly once, and never refused.
fn assert_rotation_clean(j: &Jira, refreshes: u32) {
    let s = j.fake.state();
    assert_eq!(s.token_calls.get("refresh_token").copied().unwrap_or(0), refreshes);
    assert_eq!(s.invalid_grants, 0, "a spent refresh token was presented again");
    let unique: HashSet<&String> = s.refresh_uses.iter().collect();
    assert_eq!(unique.len(), s.refresh_uses.len(), "each refresh token used once: {:?}", s.refresh_uses);
}

#[tokio::test]
async fn rotating_refresh_tokens_keep_the_connection_alive() {
    let j = start(|c| c.oauth.refresh_margin_secs = 1).await;
    // Access tokens that live 2 s: within the 1 s margin after a second.
    j.fake.state().expires_in = 2;
    let token = login(&j).await;
    for round in 1..=3 {
        tokio::time::sleep(Duration::from_millis(1100)).await;
        let r = j.h.get("/contact?phoneNumber=%2B16505551212", Some(&token)).await;
        assert_eq!(r.json()["successful"], true, "round {round}: {}", r.text);
        assert_rotation_clean(&j, round);
    }
    // The access token expires at Atlassian before the host expected: one
    // 401, one refresh, the call retried.
    j.fake.state().expires_in = 3600;
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let r = j.h.get("/contact?phoneNumber=%2B16505551212", Some(&token)).await;
    assert_eq!(r.json()["successful"], true, "{}", r.text);
    assert_rotation_clean(&j, 4);
    j.fake.expire_access_tokens();
    let r = j.h.get("/contact?phoneNumber=%2B16505551212", Some(&token)).await;
    assert_eq!(r.json()["successful"], true, "{}", r.text);
    assert_rotation_clean(&j, 5);
    let refused: Vec<_> = j.fake.seen(&api("/search/jql")).into_iter().filter(|s| s.authorization.is_none()).collect();
    assert!(refused.is_empty());
    {
        let s = j.fake.state();
        assert!(s.token_content_types.iter().all(|c| c.starts_with("application/x-www-form-urlencoded")));
    }
    j.h.stop().await;
}

#[tokio::test]
async fn a_spent_refresh_grant_revokes_the_connection() {
    let j = start(|_| {}).await;
    let token = login(&j).await;
    // The user removed the app at id.atlassian.com: no token works any more.
    j.fake.expire_access_tokens();
    for t in j.fake.current_tokens() {
        // Spend every refresh token behind the host's back.
        let form = url::form_urlencoded::Serializer::new(String::new())
            .append_pair("grant_type", "refresh_token")
            .append_pair("client_id", CLIENT_ID)
            .append_pair("client_secret", CLIENT_SECRET)
            .append_pair("refresh_token", &t)
            .finish();
        let _ = reqwest::Client::new()
            .post(format!("{}/oauth/token", j.fake.base_url()))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(form)
            .send()
            .await;
    }
    j.fake.expire_access_tokens();
    let r = j.h.get("/contact?phoneNumber=%2B16505551212", Some(&token)).await;
    r.assert_error(401, "CRM_SESSION_REVOKED");
    assert!(j.fake.state().invalid_grants >= 1, "Atlassian answered 403 invalid_grant");
    j.h.stop().await;
}

#[tokio::test]
async fn unauthorize_forgets_the_tokens_and_calls_nothing_at_atlassian() {
    let j = start(|_| {}).await;
    let token = login(&j).await;
    let before = j.fake.state().seen.len();
    let r = j.h.post("/unAuthorize", Some(&token), &json!({})).await;
    assert_eq!(r.json()["successful"], true, "{}", r.text);
    assert_eq!(j.fake.state().seen.len(), before, "3LO has no revocation endpoint: nothing is sent");
    j.h.get("/contact?phoneNumber=%2B16505551212", Some(&token)).await.assert_error(401, "NOT_CONNECTED");
    // Logging in again works.
    let token = login(&j).await;
    assert_eq!(j.h.get("/contact?phoneNumber=%2B16505551212", Some(&token)).await.json()["successful"], true);
    j.h.stop().await;
}

#[tokio::test]
async fn the_fake_refuses_what_jira_refuses() {
    // Guards for the fake itself, through its HTTP interface.
    let j = start(|_| {}).await;
    login(&j).await;
    let access = j.fake.current_tokens().into_iter().find(|t| t.starts_with("at-")).unwrap();
    let client = reqwest::Client::new();
    let base = j.fake.base_url();
    let post =
        |path: &str, body: Value| client.post(format!("{base}{}", api(path))).bearer_auth(&access).json(&body).send();
    let status = |r: reqwest::Response| r.status().as_u16();
    // No token, a bad token, another site.
    let r = client.get(format!("{base}{}", api("/myself"))).send().await.unwrap();
    assert_eq!(status(r), 401);
    let r = client.get(format!("{base}{}", api("/myself"))).bearer_auth("nope").send().await.unwrap();
    assert_eq!(status(r), 401);
    let r = client
        .get(format!("{base}/ex/jira/99999999-0000-4000-8000-000000000000/rest/api/3/myself"))
        .bearer_auth(&access)
        .send()
        .await
        .unwrap();
    assert_eq!(status(r), 404);
    let r = client.get(format!("{base}{}", api("/nope"))).bearer_auth(&access).send().await.unwrap();
    assert_eq!(status(r), 404);
    // `=` on a text field, the old startAt paging, an unbounded query.
    let r = post("/search/jql", json!({"jql": "cf[10050] = \"+16505551212\""})).await.unwrap();
    assert_eq!(status(r), 400);
    let r = post("/search/jql", json!({"jql": "project = CRM", "startAt": 0})).await.unwrap();
    assert_eq!(status(r), 400);
    let r = post("/search/jql", json!({"jql": ""})).await.unwrap();
    assert_eq!(status(r), 400);
    // A plain-text comment (REST v2 style) is not ADF.
    let r = post("/issue/CRM-1/comment", json!({"body": "hello"})).await.unwrap();
    assert_eq!(status(r), 400);
    // Comment properties: a key of 1..=255 characters; comment/list takes 1..=1000 numeric ids.
    let doc = json!({"type": "doc", "version": 1, "content": [{"type": "paragraph", "content": [{"type": "text", "text": "hi"}]}]});
    let r = post("/issue/CRM-1/comment", json!({"body": doc, "properties": [{"key": "", "value": 1}]})).await.unwrap();
    assert_eq!(status(r), 400);
    let r = post("/issue/CRM-1/comment", json!({"body": doc, "properties": [{"key": "k", "value": {"a": 1}}]}))
        .await
        .unwrap();
    assert_eq!(status(r), 201);
    let r = post("/comment/list", json!({"ids": []})).await.unwrap();
    assert_eq!(status(r), 400);
    let r = post("/comment/list", json!({"ids": ["x"]})).await.unwrap();
    assert_eq!(status(r), 400);
    let r = client
        .get(format!("{base}{}?orderBy=updated", api("/issue/CRM-1/comment")))
        .bearer_auth(&access)
        .send()
        .await
        .unwrap();
    assert_eq!(status(r), 400);
    let id = j.fake.issue("CRM-1").unwrap().comments[0].id;
    let r = client
        .post(format!("{base}{}?expand=properties", api("/comment/list")))
        .bearer_auth(&access)
        .json(&json!({"ids": [id]}))
        .send()
        .await
        .unwrap();
    let page: Value = r.json().await.unwrap();
    assert_eq!(page["values"][0]["properties"], json!([{"key": "k", "value": {"a": 1}}]), "{page}");
    assert_eq!(page["isLast"], true);
    // A field that is not on the create screen.
    let r = post("/issue", json!({"fields": {"project": {"key": "CRM"}, "issuetype": {"name": "Task"}, "summary": "x", "customfield_1": "y"}}))
        .await
        .unwrap();
    let body: Value = r.json().await.unwrap();
    assert!(body["errors"]["customfield_1"].as_str().unwrap().contains("cannot be set"), "{body}");
    j.h.stop().await;
}

#[tokio::test]
async fn a_comment_jira_made_but_answered_too_late_is_found_by_the_retry_not_made_twice() {
    let j = start(|c| c.limits.outbound_timeout_ms = 500).await;
    let token = login(&j).await;
    // Someone else's comment on the issue: not ours, never asked about.
    j.fake.add_comment_by("CRM-1", "557058:someone-else", "Luke called the front desk");

    // Jira makes the comment but answers after the host gave up.
    j.fake.set_answer_delay(Duration::from_secs(2));
    let call = common::call_log_body("late-1", "CRM-1");
    let failed = j.h.post("/callLog", Some(&token), &call).await.json();
    assert_eq!(failed["successful"], false, "{failed}");
    let ours = |j: &Jira| -> Vec<fake::FakeComment> {
        j.fake.issue("CRM-1").unwrap().comments.into_iter().filter(|c| c.author == ACCOUNT_ID).collect()
    };
    assert_eq!(ours(&j).len(), 1, "Jira did make it");
    j.fake.set_answer_delay(Duration::ZERO);

    // The retry finds it among the user's own comments by its property.
    let logged = j.h.until_logged(&token, "/callLog", &call).await;
    let comments = ours(&j);
    assert_eq!(comments.len(), 1, "no second comment");
    assert_eq!(logged["logId"], format!("CRM-1/{}", comments[0].id), "{logged}");
    let key = comments[0].properties[0]["value"]["idempotencyKey"].as_str().unwrap().to_owned();
    assert_eq!(comments[0].properties[0]["key"], "switchboard");
    assert!(key.starts_with("sb-") && key.len() == 35, "{key}");
    let listed = last(&j, &api("/comment/list"));
    assert_eq!(listed.query, "expand=properties");
    assert_eq!(listed.body, json!({"ids": [comments[0].id]}), "only the user's own comment is asked about");
    let recent = last(&j, &api("/issue/CRM-1/comment"));
    assert_eq!((recent.method.as_str(), recent.query.as_str()), ("GET", "orderBy=-created&maxResults=50"));
    let r = j.h.get("/callLog?sessionIds=late-1", Some(&token)).await.json();
    assert_eq!(r["logs"][0]["matched"], true, "{r}");
    assert_eq!(r["logs"][0]["logId"], logged["logId"], "{r}");

    // Another call: another key, a comment of its own.
    let other = j.h.post("/callLog", Some(&token), &common::call_log_body("late-2", "CRM-1")).await.json();
    assert_eq!(other["successful"], true, "{other}");
    assert_eq!(ours(&j).len(), 2);

    // A conversation the same way.
    j.fake.set_answer_delay(Duration::from_secs(2));
    let sms = json!({"logInfo": {"conversationId": "late-conv", "messages": [
            {"id": "lm-1", "type": "SMS", "direction": "Inbound", "subject": "Help me",
             "from": {"phoneNumber": "+16505551212"}, "creationTime": "2026-11-22T10:00:00Z"}]},
        "contactId": "CRM-1", "contactName": "Luke Skywalker"});
    let failed = j.h.post("/messageLog", Some(&token), &sms).await.json();
    assert_eq!(failed["successful"], false, "{failed}");
    assert_eq!(ours(&j).len(), 3, "Jira did make it");
    j.fake.set_answer_delay(Duration::ZERO);
    let logged = j.h.until_logged(&token, "/messageLog", &sms).await;
    let comments = ours(&j);
    assert_eq!(comments.len(), 3, "no second comment for the conversation");
    assert_eq!(logged["logIds"], json!([format!("CRM-1/{}", comments[2].id)]), "{logged}");
    j.h.stop().await;
}
