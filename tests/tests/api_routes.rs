//! Every route of the App Connect API, through the host and the testcrm
//! adapter, against the Test CRM over real HTTP.
//!
//! One long file: one test per route family, sharing the harness; a route's
//! concern with a suite of its own (jwt, sessions, oauth, limits) has its own file.

#![allow(clippy::unwrap_used)] // a test crate: an unwrap that fails is a failed test

mod common;

use common::{Harness, call_log_body};
use serde_json::json;
use switchboard_e2e::testcrm::DEMO_API_KEY;

#[tokio::test]
async fn liveness_capabilities_and_manifest() {
    let h = Harness::start().await;
    let r = h.get("/isAlive", None).await;
    assert_eq!((r.status.as_u16(), r.text.as_str()), (200, "OK"));

    let r = h.get("/implementedInterfaces?platform=testcrm", None).await;
    assert_eq!(r.status, 200);
    let caps = r.json();
    assert_eq!(caps["findContact"], true);
    assert_eq!(caps["createCallLog"], true);
    assert_eq!(caps["getOauthInfo"], false, "testcrm is an API-key CRM");
    h.get("/implementedInterfaces", None).await.assert_error(400, "MISSING_PARAMETER");
    let body = h.get("/implementedInterfaces?platform=nosuchcrm", None).await.assert_error(400, "UNKNOWN_PLATFORM");
    assert!(body["returnMessage"]["message"].as_str().unwrap().contains("testcrm"), "lists what is served: {body}");

    let m = h.get("/crmManifest", None).await.json();
    assert_eq!(m["platforms"]["testcrm"]["displayName"], "Test CRM");
    assert_eq!(m["platforms"]["testcrm"]["auth"]["type"], "apiKey");
    let m = h.get("/crmManifest?platformName=testcrm", None).await.json();
    assert_eq!(m["platforms"]["testcrm"]["name"], "testcrm");
    h.stop().await;
}

#[tokio::test]
async fn api_key_login_validates_the_key_with_the_crm_and_stores_it_encrypted() {
    let h = Harness::start().await;
    let r = h.post("/apiKeyLogin", None, &json!({"platform": "testcrm", "apiKey": "wrong-key"})).await;
    r.assert_error(400, "INVALID_API_KEY");
    h.post("/apiKeyLogin", None, &json!({"platform": "testcrm"})).await.assert_error(400, "MISSING_PARAMETER");
    h.post("/apiKeyLogin", None, &json!({"platform": "nosuch", "apiKey": "k"}))
        .await
        .assert_error(400, "UNKNOWN_PLATFORM");

    let r = h.post("/apiKeyLogin", None, &json!({"platform": "testcrm", "apiKey": DEMO_API_KEY})).await;
    assert_eq!(r.status, 200, "{}", r.text);
    let body = r.json();
    assert_eq!(body["name"], "Ada Lovelace");
    assert_eq!(body["returnMessage"]["messageType"], "success");
    let token = body["jwtToken"].as_str().unwrap();

    // The jwt says who: "<crmUserId>-<platform>".
    let payload = token.split('.').nth(1).unwrap();
    use base64::Engine as _;
    let claims: serde_json::Value =
        serde_json::from_slice(&base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap();
    assert_eq!(claims["id"], "u-1001-testcrm");
    assert_eq!(claims["platform"], "testcrm");

    // The host presented the key to the CRM (the adapter never saw it).
    let me = h.crm.seen("/v1/me");
    assert_eq!(me.last().unwrap().api_key.as_deref(), Some(DEMO_API_KEY));

    // The SQLite file does not contain the key.
    let path = h.database_url.trim_start_matches("sqlite://").split('?').next().unwrap().to_owned();
    h.stop().await;
    let mut bytes = std::fs::read(&path).unwrap();
    if let Ok(wal) = std::fs::read(format!("{path}-wal")) {
        bytes.extend(wal);
    }
    assert!(!bytes.windows(DEMO_API_KEY.len()).any(|w| w == DEMO_API_KEY.as_bytes()), "plaintext API key in {path}");
}

#[tokio::test]
async fn contacts_are_found_by_e164_and_by_overriding_format_and_created() {
    let h = Harness::start().await;
    let t = h.login().await;

    let r = h.get("/contact?phoneNumber=%2B16505551212", Some(&t)).await;
    assert_eq!(r.status, 200, "{}", r.text);
    let body = r.json();
    assert_eq!(body["successful"], true);
    assert_eq!(body["contact"][0]["name"], "Luke Skywalker");
    assert_eq!(body["contact"][0]["organization"], "Rebel Alliance");

    // Leia is stored as "(650) 555-0100": only the overriding format finds her.
    let r = h.get("/contact?phoneNumber=%2B16505550100", Some(&t)).await;
    r.assert_no_match();
    let r = h.get("/contact?phoneNumber=%2B16505550100&overridingFormat=***-***-****,(***)%20***-****", Some(&t)).await;
    assert_eq!(r.json()["contact"][0]["name"], "Leia Organa", "{}", r.text);
    let searched: Vec<String> = h.crm.seen("/v1/contacts").iter().map(|s| s.query.clone()).collect();
    assert!(searched.iter().any(|q| q.contains("phone=%28650%29%20555-0100")), "{searched:?}");

    let r = h
        .post(
            "/contact",
            Some(&t),
            &json!({"phoneNumber": "+14155550123", "newContactName": "Han Solo", "newContactType": "person"}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let body = r.json();
    assert_eq!(body["successful"], true);
    assert_eq!(body["contact"]["name"], "Han Solo");
    let id = body["contact"]["id"].as_str().unwrap().to_owned();
    assert!(h.crm.contacts().iter().any(|c| c.id == id && c.phone == "+14155550123"));
    let r = h.get("/contact?phoneNumber=%2B14155550123", Some(&t)).await;
    assert_eq!(r.json()["contact"][0]["id"], id.as_str());
    h.stop().await;
}

#[tokio::test]
async fn a_call_is_logged_updated_and_read_back() {
    let h = Harness::start().await;
    let t = h.login().await;
    let r = h.post("/callLog", Some(&t), &call_log_body("s-100", "c-1001")).await;
    assert_eq!(r.status, 200, "{}", r.text);
    let body = r.json();
    assert_eq!(body["successful"], true);
    let log_id = body["logId"].as_str().unwrap().to_owned();
    let activity = h.crm.activities().into_iter().find(|a| a.id == log_id).expect("the CRM has the activity");
    assert_eq!(activity.kind, "call");
    assert_eq!(activity.contact_id, "c-1001");
    assert_eq!(activity.body, "Asked about the plans");
    assert_eq!(activity.duration_seconds, Some(42));
    assert_eq!(activity.direction.as_deref(), Some("inbound"));
    assert_eq!(activity.started_at.as_deref(), Some("2024-05-27T08:53:20.000Z"));
    assert_eq!(activity.external_id, "s-100");

    let r = h
        .patch(
            "/callLog",
            Some(&t),
            &json!({"sessionId": "s-100", "note": "Plans delivered", "subject": "Call with Luke"}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.json()["logId"], log_id.as_str());
    assert_eq!(r.json()["updatedNote"], "Plans delivered");
    let activity = h.crm.activities().into_iter().find(|a| a.id == log_id).unwrap();
    assert_eq!((activity.subject.as_str(), activity.body.as_str()), ("Call with Luke", "Plans delivered"));

    let r = h.get("/callLog?sessionIds=s-100,s-999&requireDetails=true", Some(&t)).await;
    let body = r.json();
    assert_eq!(body["successful"], true, "{body}");
    assert_eq!(body["logs"][0]["matched"], true);
    assert_eq!(body["logs"][0]["logId"], log_id.as_str());
    assert_eq!(body["logs"][0]["logData"]["note"], "Plans delivered");
    assert_eq!(body["logs"][0]["logData"]["subject"], "Call with Luke");
    assert_eq!(body["logs"][1], json!({"sessionId": "s-999", "matched": false}));

    // Without details the CRM is not asked.
    let before = h.crm.seen("/v1/activities/").len();
    let r = h.get("/callLog?sessionIds=s-100", Some(&t)).await;
    assert_eq!(r.json()["logs"][0]["matched"], true);
    assert_eq!(h.crm.seen("/v1/activities/").len(), before);

    // Updating a call that was never logged.
    h.patch("/callLog", Some(&t), &json!({"sessionId": "s-404", "note": "x"}))
        .await
        .assert_error(200, "CALL_LOG_NOT_FOUND");
    h.stop().await;
}

#[tokio::test]
async fn messages_of_a_conversation_go_to_one_record_once_each() {
    let h = Harness::start().await;
    let t = h.login().await;
    let msg = |id: &str, text: &str, at: &str| json!({"id": id, "type": "SMS", "direction": "Inbound", "subject": text, "from": {"phoneNumber": "+16505551212"}, "creationTime": at});
    let body = |messages: Vec<serde_json::Value>| {
        json!({"logInfo": {"conversationId": "conv-7", "messages": messages, "correspondents": [{"phoneNumber": "+16505551212"}]},
               "contactId": "c-1001", "contactName": "Luke Skywalker"})
    };
    let r = h
        .post(
            "/messageLog",
            Some(&t),
            &body(vec![msg("m2", "second", "2026-01-01T10:01:00Z"), msg("m1", "first", "2026-01-01T10:00:00Z")]),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let ids = r.json()["logIds"].clone();
    assert_eq!(ids.as_array().unwrap().len(), 1, "one record per conversation: {ids}");
    let record = h.crm.activities().into_iter().find(|a| a.kind == "message").unwrap();
    let lines: Vec<&str> = record.body.lines().collect();
    assert_eq!(lines.len(), 2, "{}", record.body);
    assert!(lines[0].ends_with("first") && lines[1].ends_with("second"), "oldest first: {}", record.body);

    // Sending the same messages again logs nothing new; a new one is appended.
    let r = h.post("/messageLog", Some(&t), &body(vec![msg("m1", "first", "2026-01-01T10:00:00Z")])).await;
    assert_eq!(r.json()["logIds"], json!([]));
    let r = h.post("/messageLog", Some(&t), &body(vec![msg("m3", "third", "2026-01-01T10:02:00Z")])).await;
    assert_eq!(r.json()["logIds"], ids);
    let messages: Vec<_> = h.crm.activities().into_iter().filter(|a| a.kind == "message").collect();
    assert_eq!(messages.len(), 1);
    assert_eq!(messages[0].body.lines().count(), 3);
    h.stop().await;
}

#[tokio::test]
async fn settings_hostname_auth_validation_and_logout() {
    let h = Harness::start().await;
    let t = h.login().await;
    assert_eq!(h.get("/user/settings", Some(&t)).await.json(), json!({}));
    let r = h
        .post(
            "/user/settings",
            Some(&t),
            &json!({"userSettings": {"theme": {"value": "dark", "customizable": true}, "old": {"value": 1}}}),
        )
        .await;
    assert_eq!(r.json()["userSettings"]["theme"]["value"], "dark");
    let r = h.post("/user/settings", Some(&t), &json!({"userSettings": {}, "settingKeysToRemove": ["old"]})).await;
    assert_eq!(r.json(), json!({"userSettings": {"theme": {"value": "dark", "customizable": true}}}));
    h.post("/user/settings", Some(&t), &json!({"userSettings": {"theme": "dark"}}))
        .await
        .assert_error(400, "INVALID_PARAMETER");
    // Nothing is kept that the contract's UserSetting would not read back.
    for bad in [json!({"options": {}}), json!({"value": 1, "customizable": null}), json!({"isRemoved": "yes"})] {
        let r = h.post("/user/settings", Some(&t), &json!({"userSettings": {"bad": bad}})).await;
        r.assert_error(400, "INVALID_PARAMETER");
    }
    assert!(h.get("/user/settings", Some(&t)).await.json()["bad"].is_null(), "nothing was stored");

    let r = h.get("/hostname", Some(&t)).await;
    assert_eq!((r.status.as_u16(), r.text.as_str()), (200, ""));
    assert_eq!(h.get("/authValidation", Some(&t)).await.json()["successful"], true);

    let r = h.post("/unAuthorize", Some(&t), &json!({})).await;
    assert_eq!(r.json()["successful"], true, "{}", r.text);
    h.get("/contact?phoneNumber=%2B16505551212", Some(&t)).await.assert_error(401, "NOT_CONNECTED");
    // Logging in again reconnects.
    let t = h.login().await;
    assert_eq!(h.get("/contact?phoneNumber=%2B16505551212", Some(&t)).await.json()["successful"], true);
    h.stop().await;
}

#[tokio::test]
async fn oauth_routes_explain_what_is_wrong() {
    let h =
        Harness::start_with(switchboard::store::test_support::sqlite_url(), &["testcrm", "testcrm-oauth"], &[], |_| {})
            .await;
    h.get("/oauth-callback?state=x&code=y", None).await.assert_error(400, "INVALID_STATE");
    h.get("/oauth-callback?code=y", None).await.assert_error(400, "INVALID_STATE");
    h.get("/oauth/testcrm/start", None).await.assert_error(400, "UNSUPPORTED_AUTH");
    // An OAuth adapter without the operator's client credentials.
    let body = h.get("/oauth/testcrm-oauth/start", None).await.assert_error(400, "OAUTH_NOT_CONFIGURED");
    assert!(body["returnMessage"]["message"].as_str().unwrap().contains("client_id"), "{body}");
    h.stop().await;
}

#[tokio::test]
async fn crm_rate_limits_and_refusals_become_clear_errors() {
    let h = Harness::start().await;
    let t = h.login().await;
    h.crm.throttle_next(1, 1);
    let body = h.get("/contact?phoneNumber=%2B16505551212", Some(&t)).await.assert_error(200, "CRM_RATE_LIMITED");
    assert_eq!(body["retryAfter"], 1);
    assert_eq!(body["retryable"], true);
    // Until the Retry-After has passed, the host holds this user's requests to
    // that CRM instead of sending them.
    let sent = h.crm.seen("/v1/contacts").len();
    let body = h.get("/contact?phoneNumber=%2B16505551212", Some(&t)).await.assert_error(200, "CRM_RATE_LIMITED");
    assert_eq!(body["retryAfter"], 1, "{body}");
    assert_eq!(h.crm.seen("/v1/contacts").len(), sent, "the held request did not reach the CRM");
    // After it, calls go through.
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    assert_eq!(h.get("/contact?phoneNumber=%2B16505551212", Some(&t)).await.json()["successful"], true);

    // A key revoked in the CRM: 401, the client must log in again.
    h.crm.state().keys.clear();
    h.get("/contact?phoneNumber=%2B16505551212", Some(&t)).await.assert_error(401, "CRM_UNAUTHORIZED");

    // The CRM rejects a call log for an unknown contact: successful false, nothing reserved.
    h.crm.add_user(DEMO_API_KEY, "u-1001", "Ada Lovelace");
    h.post("/callLog", Some(&t), &call_log_body("s-bad", "no-such-contact")).await.assert_error(200, "CRM_REJECTED");
    let r = h.post("/callLog", Some(&t), &call_log_body("s-bad", "c-1001")).await;
    assert_eq!(r.json()["successful"], true, "the failed attempt left no reservation: {}", r.text);
    h.stop().await;
}

#[tokio::test]
async fn a_phone_number_sent_unencoded_is_still_found() {
    // The App Connect extension puts `phoneNumber=+16505551212` in the query
    // as is: the `+` arrives as a space.
    let h = Harness::start().await;
    let t = h.login().await;
    let r = h.get(&format!("/contact?phoneNumber=+16505551212&jwtToken={t}"), None).await;
    let body = r.json();
    assert_eq!(body["successful"], true, "{body}");
    assert_eq!(body["contact"][0]["name"], "Luke Skywalker", "{body}");
    let searched: Vec<String> = h.crm.seen("/v1/contacts").iter().map(|s| s.query.clone()).collect();
    assert!(searched.iter().all(|q| q.contains("phone=%2B16505551212")), "searched as E.164: {searched:?}");
    h.stop().await;
}

#[tokio::test]
async fn browser_clients_get_cors_preflights_and_headers() {
    let h = Harness::start().await;
    let extension = "chrome-extension://abcdefghijklmnopabcdefghijklmnop";
    // The App Connect extension's calls carry custom headers: each is preflighted.
    let r = h
        .client
        .request(reqwest::Method::OPTIONS, format!("{}/callLog", h.base))
        .header("origin", extension)
        .header("access-control-request-method", "PATCH")
        .header("access-control-request-headers", "content-type,rc-extension-id,rc-account-id,developer-author-name")
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success(), "{}", r.status());
    let header = |r: &reqwest::Response, name: &str| {
        r.headers().get(name).map(|v| v.to_str().unwrap().to_ascii_lowercase()).unwrap_or_default()
    };
    assert_eq!(header(&r, "access-control-allow-origin"), "*");
    assert!(header(&r, "access-control-allow-methods").contains("patch"));
    for requested in ["rc-extension-id", "developer-author-name", "content-type"] {
        assert!(header(&r, "access-control-allow-headers").contains(requested), "{:?}", r.headers());
    }
    let r = h.client.get(format!("{}/isAlive", h.base)).header("origin", extension).send().await.unwrap();
    assert_eq!(header(&r, "access-control-allow-origin"), "*");
    assert!(header(&r, "access-control-expose-headers").contains("x-request-id"));
    h.stop().await;

    // An operator's list admits its origins only.
    let h = Harness::start_with(switchboard::store::test_support::sqlite_url(), &["testcrm"], &[], |c| {
        c.cors_allowed_origins = vec![extension.into()];
    })
    .await;
    let ask = |origin: &'static str| {
        h.client
            .request(reqwest::Method::OPTIONS, format!("{}/contact", h.base))
            .header("origin", origin)
            .header("access-control-request-method", "GET")
            .send()
    };
    assert_eq!(header(&ask(extension).await.unwrap(), "access-control-allow-origin"), extension);
    assert_eq!(header(&ask("https://evil.example").await.unwrap(), "access-control-allow-origin"), "");
    h.stop().await;
}

#[tokio::test]
async fn the_manifest_is_the_one_app_connect_clients_read_and_follows_reloads() {
    let h = Harness::start_with(switchboard::store::test_support::sqlite_url(), &["testcrm", "clio"], &[], |c| {
        c.adapters.insert(
            "clio".into(),
            switchboard::config::AdapterSettings { client_id: Some("clio-client-id".into()), ..Default::default() },
        );
    })
    .await;
    let m = h.get("/crmManifest", None).await.json();
    // The client sends every call to serverUrl and builds the login from the rest.
    assert_eq!(m["serverUrl"], h.base.as_str(), "{m}");
    assert_eq!(m["redirectUri"], "https://ringcentral.github.io/ringcentral-embeddable/redirect.html");
    assert!(m["author"]["name"].as_str().is_some_and(|n| !n.is_empty()), "the client refuses a manifest without it");
    assert!(m["version"].is_string());
    let t = &m["platforms"]["testcrm"];
    assert_eq!((t["name"].as_str(), t["displayName"].as_str()), (Some("testcrm"), Some("Test CRM")));
    assert_eq!(t["urlIdentifier"], "*.testcrm.example/*");
    assert_eq!(t["auth"]["type"], "apiKey");
    assert_eq!(t["auth"]["apiKey"]["page"]["content"][0]["const"], "apiKey", "{t}");
    assert_eq!(t["contactTypes"][0], json!({"display": "person", "value": "person"}));
    assert_eq!(t["page"]["callLog"]["additionalFields"][0]["const"], "outcome", "{t}");
    assert_eq!(t["page"]["useContactSearch"], true, "a WIT 0.2.0 adapter searches by name");
    assert_eq!(t["disableDisposition"], false, "and sets dispositions");
    assert_eq!(t["contactPageUrl"], "https://{hostname}/contacts/{contactId}");
    assert_eq!(t["requestConfig"]["timeout"], 30);

    let c = &m["platforms"]["clio"];
    assert_eq!(c["auth"]["type"], "oauth");
    assert_eq!(c["auth"]["oauth"]["authUrl"], "https://app.clio.com/oauth/authorize");
    assert_eq!(c["auth"]["oauth"]["clientId"], "clio-client-id", "the operator's client id, never the secret");
    assert!(!c.to_string().contains("secret"));
    let eu = c["override"].as_array().unwrap().iter().find(|o| o["triggerValue"] == "eu.app.clio.com").unwrap();
    assert_eq!(
        eu["overrideObjects"][0],
        json!({"path": "auth.oauth.authUrl", "value": "https://eu.app.clio.com/oauth/authorize"})
    );
    assert_eq!(c["logPageUrl"], "https://{hostname}/nc/#/contacts/{contactId}/communications");
    assert_eq!(c["canOpenLogPage"], true);

    // One platform on its own; an unknown one is refused.
    let one = h.get("/crmManifest?platformName=clio", None).await.json();
    assert_eq!(one["platforms"].as_object().unwrap().len(), 1);
    h.get("/crmManifest?platformName=nosuch", None).await.assert_error(400, "UNKNOWN_PLATFORM");

    // A hot reload changes it: Clio removed, it is gone from the manifest.
    std::fs::remove_file(h.adapters.path().join("clio.wasm")).unwrap();
    std::fs::remove_file(h.adapters.path().join("clio.toml")).unwrap();
    h.admin(reqwest::Method::POST, "/admin/reload").await;
    let m = h.get("/crmManifest", None).await.json();
    assert!(m["platforms"]["clio"].is_null() && m["platforms"]["testcrm"].is_object(), "{m}");
    h.stop().await;
}

#[tokio::test]
async fn the_routes_the_app_connect_client_calls_answer_in_its_shapes() {
    let h = Harness::start().await;
    let t = h.login().await;
    let q = |path: &str| format!("{path}{}jwtToken={t}", if path.contains('?') { '&' } else { '?' });

    // Version and release notes come from the build.
    let version = h.get("/serverVersionInfo", None).await.json()["version"].as_str().unwrap().to_owned();
    assert_eq!(h.get("/crmManifest", None).await.json()["version"], version.as_str());
    let notes = h.get("/releaseNotes", None).await.json();
    assert!(notes[&version]["global"][0]["description"].is_string(), "{notes}");

    // RingCentral ids are hashed, the same way every time, never echoed.
    let a = h.get("/userInfoHash?extensionId=101&accountId=202", None).await.json();
    let b = h.get("/userInfoHash?extensionId=101&accountId=202", None).await.json();
    assert_eq!(a, b);
    assert!(a["extensionId"].as_str().is_some_and(|x| x.len() == 64 && x != "101"), "{a}");
    assert_ne!(a["extensionId"], a["accountId"]);
    assert_eq!(
        h.get(&format!("/user/preloadSettings?rcAccountId={}", a["accountId"].as_str().unwrap()), None).await.json(),
        json!({})
    );

    // Licence: a good session is licensed; without one, it says why (still 200).
    let l = h.get(&q("/licenseStatus"), None).await;
    assert_eq!((l.status.as_u16(), l.json()["isLicenseValid"].clone()), (200, json!(true)));
    let l = h.get("/licenseStatus?jwtToken=garbage", None).await;
    assert_eq!((l.status.as_u16(), l.json()["isLicenseValid"].clone()), (200, json!(false)));

    // A note cached at the end of the call goes into the log made without one.
    let r =
        h.post(&q("/callLog/cacheNote"), None, &json!({"sessionId": "s-note", "note": "Wants the blueprints"})).await;
    assert_eq!((r.status.as_u16(), r.json()["successful"].clone()), (200, json!(true)), "{}", r.text);
    let mut body = call_log_body("s-note", "c-1001");
    body.as_object_mut().unwrap().remove("note");
    let r = h.post(&q("/callLog"), None, &body).await;
    assert_eq!(r.json()["successful"], true, "{}", r.text);
    let body = h.crm.state().activities.values().find(|a| a.external_id == "s-note").map(|a| a.body.clone());
    assert!(body.as_deref().is_some_and(|b| b.contains("Wants the blueprints")), "{body:?}");

    // Dispositions: set in the CRM, read back for the edit form, silently
    // (the client shows a toast only when there is a returnMessage).
    let put = |body: serde_json::Value| {
        let url = q("/callDisposition");
        let h = &h;
        async move { h.send(reqwest::Method::PUT, &url, None, Some(&body)).await }
    };
    let r = put(json!({"sessionId": "s-note", "dispositions": {"outcome": "Sold", "note": "x"}})).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.json()["successful"], true, "{}", r.text);
    assert!(r.json()["returnMessage"].is_null(), "{}", r.text);
    let stored = h.crm.state().activities.values().find(|a| a.external_id == "s-note").unwrap().disposition.clone();
    assert_eq!(stored.unwrap()["outcome"], "Sold");
    let logs = h.get(&q("/callLog?sessionIds=s-note&requireDetails=true"), None).await.json();
    assert_eq!(logs["logs"][0]["logData"]["dispositions"]["outcome"], "Sold", "{logs}");
    put(json!({"sessionId": "never", "dispositions": {}})).await.assert_error(200, "CALL_LOG_NOT_FOUND");
    // Bad input, for a query-token client: plain text it shows as a toast.
    let r = put(json!({"sessionId": "s-note", "dispositions": "Sold"})).await;
    assert_eq!((r.status.as_u16(), r.text.as_str()), (400, "`dispositions` must be a JSON object"));
    assert_eq!(r.header("x-switchboard-error-code").as_deref(), Some("INVALID_PARAMETER"));

    // Name search: matches, no match (a warning the client shows), bad input.
    let r = h.get(&q("/custom/contact/search?name=luke"), None).await.json();
    assert_eq!(r["successful"], true, "{r}");
    assert_eq!(r["contact"][0]["name"], "Luke Skywalker", "{r}");
    let r = h.get(&q("/custom/contact/search?name=Chewbacca"), None).await.json();
    assert_eq!((r["successful"].clone(), r["contact"].clone()), (json!(true), json!([])), "{r}");
    assert_eq!(r["returnMessage"]["messageType"], "warning", "the client reads it when the list is empty: {r}");
    let r = h.get(&q("/custom/contact/search?name=L"), Some(&t)).await;
    assert_eq!(r.assert_error(400, "INVALID_PARAMETER")["contact"], json!([]), "an array, even in a failure");

    h.stop().await;
}

#[tokio::test]
async fn admin_settings_are_kept_per_account_for_its_ringcentral_admins() {
    use switchboard_e2e::ringcentral::{ACCOUNT_ID, ADMIN_TOKEN, RingCentral, USER_TOKEN};
    let rc = RingCentral::start().await;
    let rc_url = rc.base_url();
    let h = Harness::start_with(switchboard::store::test_support::sqlite_url(), &["testcrm"], &[], |c| {
        c.app_connect.ringcentral_api_url = rc_url;
    })
    .await;
    let t = h.login().await;
    let admin = |rc_token: &str| format!("/admin/settings?jwtToken={t}&rcAccessToken={rc_token}");

    // Not an admin, or not a RingCentral token: App Connect's answer, which
    // the client reads as "no admin page".
    for token in [USER_TOKEN, "not-a-token", ""] {
        let r = h.get(&admin(token), None).await;
        assert_eq!((r.status.as_u16(), r.text.as_str()), (401, "Admin validation failed"), "{token}");
    }
    let r = h.send(reqwest::Method::POST, &admin(USER_TOKEN), None, Some(&json!({"adminSettings": {"x": 1}}))).await;
    assert_eq!(r.status, 401, "a non-admin cannot save: {}", r.text);

    // An admin: nothing saved yet, then a save, merged into what is kept.
    assert_eq!(h.get(&admin(ADMIN_TOKEN), None).await.json(), json!({"customAdapter": null, "userSettings": {}}));
    let presets = json!({"autoLogCalls": {"value": true, "customizable": false}});
    let body =
        json!({"adminSettings": {"userSettings": presets, "customAdapter": "https://crm.example/manifest.json"}});
    let r = h.send(reqwest::Method::POST, &admin(ADMIN_TOKEN), None, Some(&body)).await;
    assert_eq!(r.json()["successful"], true, "{}", r.text);
    let body = json!({"adminSettings": {"customAdapter": null}});
    h.send(reqwest::Method::POST, &admin(ADMIN_TOKEN), None, Some(&body)).await;
    let kept = h.get(&admin(ADMIN_TOKEN), None).await.json();
    assert_eq!((kept["userSettings"].clone(), kept["customAdapter"].clone()), (presets.clone(), json!(null)));

    // Every user of the account gets the presets before logging in, by the
    // account's hashed id (what /userInfoHash gave the client).
    let hashed = h.get(&format!("/userInfoHash?extensionId=1002&accountId={ACCOUNT_ID}"), None).await.json();
    let preload = h
        .get(&format!("/user/preloadSettings?rcAccountId={}", hashed["accountId"].as_str().unwrap()), None)
        .await
        .json();
    assert_eq!(preload["userSettings"], presets, "{preload}");

    // Another account's admin sees its own, empty, settings.
    rc.add("rc-other-admin", 2001, 99, true);
    assert_eq!(h.get(&admin("rc-other-admin"), None).await.json()["userSettings"], json!({}));
    let other = h.get("/userInfoHash?extensionId=2001&accountId=99", None).await.json();
    let preload = h
        .get(&format!("/user/preloadSettings?rcAccountId={}", other["accountId"].as_str().unwrap()), None)
        .await
        .json();
    assert_eq!(preload, json!({}));
    h.stop().await;
}

#[tokio::test]
async fn an_unreachable_ringcentral_is_a_clean_retryable_error_not_a_refusal() {
    // A port nothing listens on.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
    let h = Harness::start_with(switchboard::store::test_support::sqlite_url(), &["testcrm"], &[], |c| {
        c.app_connect.ringcentral_api_url = format!("http://{closed}");
    })
    .await;
    let t = h.login().await;
    let r = h.get("/admin/settings?rcAccessToken=rc-admin-access-token", Some(&t)).await;
    let body = r.assert_error(502, "RINGCENTRAL_UNAVAILABLE");
    assert_eq!(body["retryable"], true);
    assert!(!r.text.contains("rc-admin-access-token"), "the RingCentral token is never echoed: {}", r.text);
    h.stop().await;
}
