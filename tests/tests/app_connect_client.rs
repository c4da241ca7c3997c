//! Whole sessions of the App Connect browser extension (1.6.x), played
//! request by request as its code sends them (`src/core/*.js`, `popup.js` of
//! `ringcentral/rc-unified-crm-extension-client`): the token only in
//! `?jwtToken=`, query values unencoded (`phoneNumber=+1650...`, raw `name`
//! and `callbackUri`), the exact JSON bodies, and the manifest fields it reads.
//! Each step asserts what the client does with the answer: what it stores,
//! which toast it shows, whether the log form opens. Platforms: the Test CRM
//! by API key, the Test CRM by OAuth, and Pipedrive by OAuth against its fake.
//!
//! [`Extension`] models the client's state (its `chrome.storage`: manifest,
//! `rcUnifiedCrmExtJwt`, the CRM user's name) and its axios error handling: a
//! non-2xx answer throws, and the popup's catch shows the body as a toast only
//! when it is plain text and the status is not 404.

#![allow(clippy::unwrap_used)] // a test crate: an unwrap that fails is a failed test

mod common;
#[path = "pipedrive/fake.rs"]
mod fake;

use common::Harness;
use reqwest::Method;
use serde_json::{Value, json};
use switchboard::config::AdapterSettings;
use switchboard::store::test_support;
use switchboard_e2e::testcrm::DEMO_API_KEY;

/// A toast the client shows: level and message.
#[derive(Debug, Clone, PartialEq)]
struct Toast {
    level: String,
    message: String,
}

/// What axios gives the client: the parsed body, or the error it throws.
enum Answer {
    Ok(Value),
    Threw { status: u16, text: String },
}

impl Answer {
    fn data(self) -> Value {
        match self {
            Answer::Ok(v) => v,
            Answer::Threw { status, text } => panic!("the client's request threw: HTTP {status}: {text}"),
        }
    }
}

/// The extension: its stored state and its ways with answers.
struct Extension {
    server_url: String,
    platform: String,
    manifest: Value,
    jwt: Option<String>,
    crm_user_name: Option<String>,
    toasts: Vec<Toast>,
    http: reqwest::Client,
}

impl Extension {
    /// Start-up: `GET /crmManifest?platformName=` and the fields the client
    /// needs before it can do anything (it sends every call to `serverUrl`).
    async fn start(base: &str, platform: &str) -> Extension {
        let http = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
        let manifest: Value =
            http.get(format!("{base}/crmManifest?platformName={platform}")).send().await.unwrap().json().await.unwrap();
        let p = &manifest["platforms"][platform];
        assert_eq!(manifest["serverUrl"], base, "{manifest}");
        assert!(manifest["author"]["name"].is_string() && manifest["version"].is_string(), "{manifest}");
        assert_eq!(p["name"], platform);
        assert!(p["displayName"].is_string() && p["urlIdentifier"].is_string(), "{p}");
        assert!(["apiKey", "oauth"].contains(&p["auth"]["type"].as_str().unwrap()), "{p}");
        for page in ["callLog", "messageLog", "newContact"] {
            assert!(p["page"][page]["additionalFields"].is_array(), "{page}: {p}");
        }
        assert!(p["contactTypes"].is_array() && p["settings"].is_array(), "{p}");
        Extension {
            server_url: manifest["serverUrl"].as_str().unwrap().to_owned(),
            platform: platform.to_owned(),
            manifest,
            jwt: None,
            crm_user_name: None,
            toasts: vec![],
            http,
        }
    }

    fn platform_manifest(&self) -> &Value {
        &self.manifest["platforms"][&self.platform]
    }

    fn jwt(&self) -> String {
        self.jwt.clone().unwrap_or_else(|| "undefined".into())
    }

    /// `showNotification`: the client drops messages without text.
    fn toast(&mut self, level: &str, message: &str) {
        if !message.is_empty() {
            self.toasts.push(Toast { level: level.into(), message: message.into() });
        }
    }

    /// The toast of a `returnMessage`, with the client's default when there is none.
    fn toast_return_message(&mut self, data: &Value, default_level: &str, default_message: &str) {
        let m = &data["returnMessage"];
        let level = m["messageType"].as_str().unwrap_or(default_level).to_owned();
        let message = m["message"].as_str().unwrap_or(default_message).to_owned();
        self.toast(&level, &message);
    }

    fn last_toast(&self) -> Option<&Toast> {
        self.toasts.last()
    }

    /// One request as axios sends it: the URL string as the client builds it.
    async fn send(&self, method: Method, path_and_query: &str, body: Option<Value>) -> Answer {
        let mut req = self.http.request(method, format!("{}{path_and_query}", self.server_url));
        if let Some(b) = body {
            req = req.json(&b);
        }
        let r = req.send().await.unwrap();
        let status = r.status().as_u16();
        let is_json =
            r.headers().get("content-type").is_some_and(|c| c.to_str().unwrap().starts_with("application/json"));
        let text = r.text().await.unwrap();
        if (200..300).contains(&status) {
            Answer::Ok(if is_json { serde_json::from_str(&text).unwrap() } else { Value::String(text) })
        } else {
            Answer::Threw { status, text: if is_json { format!("JSON:{text}") } else { text } }
        }
    }

    /// The popup's catch-all for a request that threw.
    fn catch(&mut self, status: u16, text: &str, silent: bool) {
        if status != 404 && !silent && !text.starts_with("JSON:") {
            self.toast("warning", text);
        }
    }

    /// `auth.apiKeyLogin`.
    async fn api_key_login(&mut self, api_key: &str, hostname: &str) -> bool {
        let path = format!("/apiKeyLogin?state=platform={}", self.platform);
        let body = json!({"apiKey": api_key, "platform": self.platform, "hostname": hostname, "additionalInfo": {}});
        match self.send(Method::POST, &path, Some(body)).await {
            Answer::Ok(data) => {
                self.toast_return_message(&data, "success", "Successfully authorized.");
                self.jwt = data["jwtToken"].as_str().map(str::to_owned);
                self.crm_user_name = data["name"].as_str().map(str::to_owned);
                true
            }
            Answer::Threw { .. } => {
                self.toast("warning", "Failed to register api key.");
                false
            }
        }
    }

    /// The authorize URL `popup.js` builds from the manifest (no encoding).
    fn authorize_url(&self) -> String {
        let oauth = &self.platform_manifest()["auth"]["oauth"];
        let scope = oauth["scope"].as_str().filter(|s| !s.is_empty()).map(|s| format!("&{s}")).unwrap_or_default();
        let state = oauth["customState"]
            .as_str()
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .unwrap_or_else(|| format!("platform={}", self.platform));
        format!(
            "{}?response_type=code&client_id={}{scope}&state={state}&redirect_uri=https://ringcentral.github.io/ringcentral-embeddable/redirect.html",
            oauth["authUrl"].as_str().unwrap(),
            oauth["clientId"].as_str().unwrap(),
        )
    }

    /// `auth.onAuthCallback`, given the URL the login window reached.
    async fn on_auth_callback(&mut self, callback_uri: &str, hostname: &str) -> bool {
        let path = format!("/oauth-callback?callbackUri={callback_uri}&hostname={hostname}&rcAccountId=37439510");
        match self.send(Method::GET, &path, None).await {
            Answer::Ok(data) => {
                self.toast_return_message(&data, "success", "Successfully authorized.");
                let Some(jwt) = data["jwtToken"].as_str() else { return false };
                self.jwt = Some(jwt.to_owned());
                self.crm_user_name = data["name"].as_str().map(str::to_owned);
                true
            }
            Answer::Threw { status, text } => {
                self.catch(status, &text, false);
                false
            }
        }
    }

    /// `user.getUserSettingsOnline`.
    async fn get_user_settings(&mut self) -> Option<Value> {
        match self
            .send(Method::GET, &format!("/user/settings?jwtToken={}&rcAccountId=hashed-account", self.jwt()), None)
            .await
        {
            Answer::Ok(data) => Some(data),
            Answer::Threw { status, text } => {
                self.catch(status, &text, false);
                None
            }
        }
    }

    /// `user.uploadUserSettings`: what it returns is `data.userSettings`.
    async fn upload_user_settings(&mut self, mut settings: Value) -> Value {
        settings["selectedRegion"] = json!({"value": "US"});
        let path = format!("/user/settings?jwtToken={}", self.jwt());
        self.send(Method::POST, &path, Some(json!({"userSettings": settings}))).await.data()["userSettings"].clone()
    }

    /// `contact.getContact`: `(matched, contactInfo)`; `None` when it threw
    /// (the widget is then never answered).
    async fn get_contact(&mut self, phone: &str, formats: &str, silent: bool) -> Option<(bool, Vec<Value>)> {
        let format = urlencoding(formats);
        let path =
            format!("/contact?jwtToken={}&phoneNumber={phone}&overridingFormat={format}&isExtension=false", self.jwt());
        match self.send(Method::GET, &path, None).await {
            Answer::Ok(data) => match data["contact"].as_array() {
                None => Some((false, vec![])),
                Some(contacts) => Some((data["successful"] == true, contacts.clone())),
            },
            Answer::Threw { status, text } => {
                self.catch(status, &text, silent);
                None
            }
        }
    }

    /// `contact.createContact`: the new contact's id.
    async fn create_contact(&mut self, phone: &str, name: &str, kind: &str) -> String {
        let body =
            json!({"phoneNumber": phone, "newContactName": name, "newContactType": kind, "additionalSubmission": {}});
        let data = self.send(Method::POST, &format!("/contact?jwtToken={}", self.jwt()), Some(body)).await.data();
        self.toast_return_message(&data, "success", "Contact created");
        data["contact"]["id"].as_str().unwrap().to_owned()
    }

    /// `log.uploadCacheNote` at the end of a call with a note typed during it.
    async fn upload_cache_note(&mut self, session_id: &str, note: &str) -> Value {
        let path = format!("/callLog/cacheNote?jwtToken={}", self.jwt());
        self.send(Method::POST, &path, Some(json!({"sessionId": session_id, "note": note}))).await.data()
    }

    /// `log.addLog` for a call: `Some(logId)` when it was logged.
    async fn add_call_log(
        &mut self,
        call: &Value,
        note: Option<&str>,
        contact: &Value,
        extra: &Value,
    ) -> Option<String> {
        let mut body = json!({
            "logInfo": call, "additionalSubmission": extra, "overridingFormat": [],
            "contactId": contact["id"], "contactType": contact["type"], "contactName": contact["name"],
        });
        if let Some(n) = note {
            body["note"] = json!(n);
        }
        let data = self.send(Method::POST, &format!("/callLog?jwtToken={}", self.jwt()), Some(body)).await.data();
        if data["successful"] == true {
            self.toast_return_message(&data, "success", "Call log added");
            data["logId"].as_str().map(str::to_owned)
        } else {
            self.toast_return_message(&data, "warning", "Failed to save call log");
            None
        }
    }

    /// `disposition.upsertDisposition`, sent when the manifest allows it and
    /// the log form had fields filled in.
    async fn upsert_disposition(&mut self, session_id: &str, dispositions: Value) -> Option<Value> {
        if self.platform_manifest()["disableDisposition"] == true {
            return None;
        }
        let body = json!({"sessionId": session_id, "dispositions": dispositions, "additionalSubmission": {}});
        let data =
            self.send(Method::PUT, &format!("/callDisposition?jwtToken={}", self.jwt()), Some(body)).await.data();
        if data["returnMessage"].is_object() {
            self.toast_return_message(&data, "success", "Call disposition updated");
        }
        Some(data)
    }

    /// `log.getLog`: the `logs`, or `None` when it threw.
    async fn get_log(&mut self, session_ids: &str) -> Option<Vec<Value>> {
        let path = format!("/callLog?jwtToken={}&sessionIds={session_ids}&requireDetails=true", self.jwt());
        match self.send(Method::GET, &path, None).await {
            Answer::Ok(data) => {
                self.toast_return_message(&data, "", "");
                Some(data["logs"].as_array().cloned().unwrap_or_default())
            }
            Answer::Threw { status, text } => {
                self.catch(status, &text, false);
                None
            }
        }
    }

    /// `log.updateLog` from the edit form.
    async fn update_log(&mut self, call: &Value, subject: &str, note: &str) -> bool {
        let body = json!({
            "sessionId": call["sessionId"], "subject": subject, "note": note, "startTime": call["startTime"],
            "duration": call["duration"], "result": call["result"], "direction": call["direction"],
            "from": call["from"], "to": call["to"],
        });
        let data = self.send(Method::PATCH, &format!("/callLog?jwtToken={}", self.jwt()), Some(body)).await.data();
        let ok = data["successful"] == true;
        self.toast_return_message(&data, if ok { "success" } else { "warning" }, "Call log updated");
        ok
    }

    /// `log.addLog` for messages: the record ids.
    async fn add_message_log(&mut self, log_info: &Value, contact: &Value) -> Vec<Value> {
        let body = json!({
            "logInfo": log_info, "additionalSubmission": {}, "overridingFormat": [],
            "contactId": contact["id"], "contactType": contact["type"], "contactName": contact["name"],
        });
        let data = self.send(Method::POST, &format!("/messageLog?jwtToken={}", self.jwt()), Some(body)).await.data();
        assert_eq!(data["successful"], true, "{data}");
        let ids = data["logIds"].as_array().cloned().expect("logIds is an array: the client reads .length");
        if !ids.is_empty() {
            self.toast_return_message(&data, "success", "Message log added");
        }
        ids
    }

    /// `customContactSearch.getCustomContactSearchData`: the contacts it lists.
    async fn search(&mut self, name: &str) -> Vec<Value> {
        let path = format!("/custom/contact/search?jwtToken={}&name={name}", self.jwt());
        let data = self.send(Method::GET, &path, None).await.data();
        let contacts = data["contact"].as_array().cloned().expect("contact is an array");
        if contacts.is_empty() {
            let m = &data["returnMessage"];
            assert!(m.is_object(), "the client reads returnMessage.messageType when the list is empty: {data}");
            self.toast(m["messageType"].as_str().unwrap_or(""), m["message"].as_str().unwrap_or(""));
        }
        contacts
    }

    /// The Logout button: `updateSSCLToken` (reads the settings) and then
    /// `auth.unAuthorize`; a throw in the first leaves the client connected.
    async fn logout(&mut self) -> bool {
        if self.get_user_settings().await.is_none() {
            return false;
        }
        if let Answer::Ok(data) = self.send(Method::POST, &format!("/unAuthorize?jwtToken={}", self.jwt()), None).await
        {
            self.toast_return_message(&data, "success", "Successfully unauthorized.");
        }
        self.jwt = None;
        true
    }
}

/// `encodeURIComponent`, for the one query value the client encodes.
fn urlencoding(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'!' | b'~' | b'*' | b'\'' | b'(' | b')' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// An Embeddable call object, as the widget gives it to the client.
fn call(session_id: &str, from: &str) -> Value {
    json!({
        "sessionId": session_id, "telephonySessionId": format!("t-{session_id}"), "id": format!("c-{session_id}"),
        "direction": "Inbound", "startTime": 1764583200000u64, "duration": 95, "result": "Call connected",
        "from": {"phoneNumber": from, "name": "Caller"}, "to": {"phoneNumber": "+14155550100", "extensionNumber": "101"},
    })
}

/// An Embeddable conversation with two SMS.
fn conversation(id: &str, with: &str) -> Value {
    let message = |n: u32, direction: &str, from: &str, text: &str, at: &str| {
        json!({"id": format!("{id}-m{n}"), "conversationId": id, "type": "SMS", "direction": direction,
               "subject": text, "from": {"phoneNumber": from}, "to": [{"phoneNumber": "+14155550100"}],
               "creationTime": at, "messageStatus": "Received", "readStatus": "Read"})
    };
    json!({
        "conversationId": id, "conversationLogId": format!("{id}-2026-12-01"), "type": "SMS", "date": "2026-12-01",
        "correspondents": [{"phoneNumber": with}],
        "messages": [
            message(2, "Outbound", "+14155550100", "On my way", "2026-12-01T10:01:00.000Z"),
            message(1, "Inbound", with, "Help me", "2026-12-01T10:00:00.000Z"),
        ],
    })
}

/// The steps every platform goes through once logged in, with what the
/// client does after each. `known` is a phone the CRM holds (and its owner's
/// name), `dispositions` what the log form's fields hold.
async fn logged_in_session(x: &mut Extension, known: (&str, &str), new_phone: &str, dispositions: Value) {
    // Right after login the client reads the user's settings.
    assert!(x.get_user_settings().await.is_some_and(|s| s.is_object()));

    // An incoming call: the widget asks for a contact match. The `+` arrives
    // unencoded; the caller's name pops.
    let (matched, contacts) = x.get_contact(known.0, "", true).await.expect("the widget is answered");
    assert!(matched, "{contacts:?}");
    assert_eq!(contacts[0]["name"], known.1);
    let contact = contacts[0].clone();

    // A caller the CRM does not know: still `matched` (the log form opens)
    // with the create-new placeholder, and the warning is the returned message.
    let (matched, unknown) = x.get_contact(new_phone, "", true).await.expect("the widget is answered");
    assert!(matched, "the log form must open for an unknown caller");
    assert_eq!(unknown[0]["isNewContact"], true, "{unknown:?}");

    // During the call the user types a note; at its end the client uploads it.
    let cached = x.upload_cache_note("s-1", "Typed during the call").await;
    assert_eq!(cached["successful"], true, "{cached}");

    // The log form: the note is already in the log the client posts without one.
    let first = call("s-1", known.0);
    let log_id = x.add_call_log(&first, None, &contact, &dispositions).await.expect("logged");
    assert_eq!(x.last_toast().unwrap().level, "success");
    // ... and with fields filled in, the client sets the dispositions.
    if dispositions.as_object().is_some_and(|d| !d.is_empty()) {
        let mut with_note = dispositions.clone();
        with_note["note"] = json!("Typed during the call");
        if let Some(answer) = x.upsert_disposition("s-1", with_note).await {
            assert_eq!(answer["successful"], true, "{answer}");
        }
    }
    // Logging the same call again (a second click) does not make a second record.
    assert_eq!(x.add_call_log(&first, Some("again"), &contact, &dispositions).await, None);
    assert_eq!(x.last_toast().unwrap().level, "warning");

    // The unknown caller becomes a contact from the log form; the call is logged to them.
    let kind = x.platform_manifest()["contactTypes"][0]["value"].as_str().unwrap_or("person").to_owned();
    let new_id = x.create_contact(new_phone, "Han Solo", &kind).await;
    let han = json!({"id": new_id, "name": "Han Solo", "type": kind});
    assert!(x.add_call_log(&call("s-2", new_phone), Some("Owes money"), &han, &json!({})).await.is_some());
    let (matched, found) = x.get_contact(new_phone, "", true).await.unwrap();
    assert!(matched && found[0]["name"] == "Han Solo", "{found:?}");

    // Edit: the form opens filled from the CRM, dispositions included.
    let logs = x.get_log("s-1").await.expect("answered");
    assert_eq!((logs[0]["matched"].clone(), logs[0]["logId"].clone()), (json!(true), json!(log_id)));
    let data = &logs[0]["logData"];
    assert!(data["note"].as_str().unwrap().contains("Typed during the call"), "{data}");
    if x.platform_manifest()["disableDisposition"] == false
        && let Some((field, value)) = dispositions.as_object().and_then(|d| d.iter().next())
    {
        assert_eq!(&data["dispositions"][field], value, "the edit form shows the chosen {field}: {data}");
    }
    assert!(x.update_log(&first, "Call with a friend", "Plans delivered").await);
    let logs = x.get_log("s-1").await.unwrap();
    assert_eq!(logs[0]["logData"]["note"], "Plans delivered", "{logs:?}");

    // Messages: one record for the conversation, both messages in it.
    let ids = x.add_message_log(&conversation("conv-1", known.0), &contact).await;
    assert_eq!(ids.len(), 1, "{ids:?}");
    assert!(x.add_message_log(&conversation("conv-1", known.0), &contact).await.len() <= 1, "re-sent: no new record");

    // Contact search by name, where the manifest offers it.
    if x.platform_manifest()["page"]["useContactSearch"] == true {
        let first_name = known.1.split(' ').next().unwrap();
        let found = x.search(first_name).await;
        assert!(found.iter().any(|c| c["name"] == known.1), "{found:?}");
        assert!(x.search("Nobody Here").await.is_empty());
        assert_eq!(x.last_toast().unwrap().level, "warning");
    }

    // Settings: saved, then read back as saved.
    let saved = x.upload_user_settings(json!({"autoLogCalls": {"value": true}})).await;
    assert_eq!(saved["autoLogCalls"]["value"], true, "{saved}");
    assert_eq!(x.get_user_settings().await.unwrap()["autoLogCalls"]["value"], true);
}

/// Logout, then the user keeps the old token (another tab, a stale copy).
async fn logout_and_stale_session(x: &mut Extension, known_phone: &str) {
    let old = x.jwt.clone();
    assert!(x.logout().await, "the Logout button completes");
    assert_eq!(x.last_toast().unwrap().level, "success");
    assert!(x.jwt.is_none());

    x.jwt = old;
    // A contact match on the dead token: the widget gets an answer (no match),
    // not a hang, and no contact is popped.
    let (matched, contacts) = x.get_contact(known_phone, "", true).await.expect("the widget is answered");
    assert!(!matched && contacts.is_empty());
    // Opening a log: a toast the user can act on.
    let before = x.toasts.len();
    assert!(x.get_log("s-1").await.is_none());
    let toast = &x.toasts[before..];
    assert!(toast.iter().any(|t| t.message.contains("log in again")), "{toast:?}");
    // And Logout still works, so the user is never stuck "connected".
    assert!(x.logout().await);
}

#[tokio::test]
async fn a_test_crm_session_by_api_key() {
    let h = Harness::start().await;
    let mut x = Extension::start(&h.base, "testcrm").await;
    let p = x.platform_manifest().clone();
    assert_eq!(p["auth"]["type"], "apiKey");
    assert_eq!(p["auth"]["apiKey"]["page"]["content"][0]["const"], "apiKey", "the login form's key field: {p}");

    // A wrong key: the client's own warning, nothing stored.
    assert!(!x.api_key_login("wrong-key", "testcrm.example").await);
    assert_eq!(x.last_toast().unwrap().message, "Failed to register api key.");
    assert!(x.jwt.is_none());
    assert!(x.api_key_login(DEMO_API_KEY, "testcrm.example").await);
    assert_eq!(x.crm_user_name.as_deref(), Some("Ada Lovelace"));
    assert_eq!(x.last_toast().unwrap().level, "success");

    // Leia is stored as "(650) 555-0100": found once the user sets the format.
    let (matched, c) = x.get_contact("+16505550100", "(***) ***-****", true).await.unwrap();
    assert!(matched && c[0]["name"] == "Leia Organa", "{c:?}");

    logged_in_session(&mut x, ("+16505551212", "Luke Skywalker"), "+14155550123", json!({"outcome": "Sold"})).await;
    let activity = h.crm.state().activities.values().find(|a| a.external_id == "s-1").cloned().unwrap();
    assert_eq!(activity.body, "Plans delivered");
    assert_eq!(activity.disposition.unwrap()["outcome"], "Sold");
    logout_and_stale_session(&mut x, "+16505551212").await;
    h.stop().await;
}

/// The login window: the browser opens the client's authorize URL at the CRM
/// (`crm` stands in for the CRM's origin), the user consents, and the CRM
/// sends the window to the client's redirect page; returns that URL.
async fn consent(x: &Extension, crm_origin: &str, crm: &str) -> String {
    let authorize = x.authorize_url();
    assert!(authorize.starts_with(crm_origin), "{authorize}");
    let r = x.http.get(authorize.replace(crm_origin, crm)).send().await.unwrap();
    assert!(r.status().is_redirection(), "{}", r.status());
    let landed = r.headers()["location"].to_str().unwrap().to_owned();
    assert!(landed.starts_with(x.manifest["redirectUri"].as_str().unwrap()), "{landed}");
    landed
}

#[tokio::test]
async fn a_test_crm_session_by_oauth() {
    let h = Harness::start_with(test_support::sqlite_url(), &["testcrm", "testcrm-oauth"], &[], common::testcrm_oauth)
        .await;
    let mut x = Extension::start(&h.base, "testcrm-oauth").await;
    assert_eq!(x.platform_manifest()["auth"]["type"], "oauth");
    let landed = consent(&x, "https://oauth.testcrm.example", &h.crm.base_url()).await;
    assert!(x.on_auth_callback(&landed, "testcrm.example").await, "{:?}", x.toasts);
    assert_eq!(x.crm_user_name.as_deref(), Some("Ada Lovelace"));
    // The login page reloaded (the same callback again) connects nobody twice.
    let before = x.jwt.clone();
    assert!(!x.on_auth_callback(&landed, "testcrm.example").await);
    x.jwt = before;

    logged_in_session(&mut x, ("+16505551212", "Luke Skywalker"), "+14155550123", json!({"outcome": "Callback"})).await;
    logout_and_stale_session(&mut x, "+16505551212").await;
    h.stop().await;
}

#[tokio::test]
async fn a_pipedrive_session_by_oauth_against_its_fake() {
    let pd = fake::FakePipedrive::start().await;
    let fake_base = pd.base.clone();
    let h = Harness::start_with(test_support::sqlite_url(), &["pipedrive"], &[], |c| {
        for origin in ["https://oauth.pipedrive.com", "https://api.pipedrive.com", fake::API_DOMAIN] {
            c.upstream_overrides.insert(origin.into(), fake_base.clone());
        }
        let settings = AdapterSettings {
            client_id: Some(fake::CLIENT_ID.into()),
            client_secret: Some(fake::CLIENT_SECRET.into()),
            ..Default::default()
        };
        c.adapters.insert("pipedrive".into(), settings);
    })
    .await;
    let mut x = Extension::start(&h.base, "pipedrive").await;
    let fields = x.platform_manifest()["page"]["callLog"]["additionalFields"].clone();
    assert_eq!(fields[0]["const"], "deals", "the log form offers the person's deals: {fields}");
    let landed = consent(&x, "https://oauth.pipedrive.com", &pd.base).await;
    assert!(x.on_auth_callback(&landed, "acme.pipedrive.com").await, "{:?}", x.toasts);
    assert_eq!(x.crm_user_name.as_deref(), Some("Ada Lovelace"));

    // The contact carries its open deals for the log form's selection.
    let (_, luke) = x.get_contact("+16505551212", "", true).await.unwrap();
    let deals = luke[0]["additionalInfo"]["deals"].as_array().cloned().unwrap_or_default();
    assert!(deals.iter().any(|d| d["const"] == 31), "{luke:?}");

    logged_in_session(&mut x, ("+16505551212", "Luke Skywalker"), "+14155550123", json!({"deals": 31})).await;
    let logged = h.get(&format!("/callLog?sessionIds=s-1&jwtToken={}", x.jwt()), None).await.json();
    let activity = pd.activity(logged["logs"][0]["logId"].as_str().unwrap()).unwrap();
    assert_eq!(activity["deal_id"], 31, "the disposition links the deal: {activity}");
    logout_and_stale_session(&mut x, "+16505551212").await;
    h.stop().await;
}
