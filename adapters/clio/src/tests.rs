//! Native unit tests through the SDK harness (`cargo test --target
//! x86_64-unknown-linux-gnu -p clio` in `adapters/`): what the adapter sends
//! to Clio and how it maps the answers.
//!
//! One long file: the adapter's unit tests, one per behaviour, sharing the harness helpers at the
//! top.

use super::*;
use switchboard_sdk::bindings::switchboard::crm::http::Response as WireResponse;
use switchboard_sdk::harness::{Harness, Sent, rate_limited, reply, sample_call_log, sample_message};

const EU: &str = "https://eu.app.clio.com";

fn ctx(hostname: &str) -> CallContext {
    CallContext { request_id: "test".into(), crm_user_id: "42".into(), hostname: hostname.into() }
}

fn eu() -> CallContext {
    ctx("eu.app.clio.com")
}

fn decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && i + 2 < bytes.len()
            && let Ok(b) = u8::from_str_radix(&s[i + 1..i + 3], 16)
        {
            out.push(b);
            i += 3;
            continue;
        }
        out.push(if bytes[i] == b'+' { b' ' } else { bytes[i] });
        i += 1;
    }
    String::from_utf8(out).expect("UTF-8")
}

/// The path of a sent URL and its decoded query parameters.
fn split(url: &str) -> (String, Vec<(String, String)>) {
    let (path, query) = url.split_once('?').unwrap_or((url, ""));
    let pairs = query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (decode(k), decode(v))
        })
        .collect();
    (path.to_owned(), pairs)
}

fn param(sent: &Sent, name: &str) -> Option<String> {
    split(&sent.url).1.into_iter().find(|(k, _)| k == name).map(|(_, v)| v)
}

fn path(sent: &Sent) -> String {
    split(&sent.url).0
}

fn call_log() -> CallLogInput {
    sample_call_log("1001")
}

const NO_EARLIER: &str = r#"{"data":[],"meta":{"paging":{},"records":0}}"#;

/// A harness where no earlier attempt made a communication (the search finds none).
fn no_earlier() -> Harness {
    Harness::new().on("GET", &format!("{EU}/api/v4/communications.json*"), reply(200, NO_EARLIER))
}

/// The requests other than the searches for an earlier attempt's communication.
fn creates(h: &Harness) -> Vec<Sent> {
    h.requests().into_iter().filter(|s| s.method != "GET").collect()
}

fn message(id: &str, direction: Direction, text: &str, at: &str) -> MessageLogInput {
    let mut m = sample_message("1001", id, text, at);
    m.message.direction = direction;
    m
}

#[test]
fn who_am_i_is_asked_of_the_connections_region() {
    let h = Harness::new().on(
        "GET",
        &format!("{EU}/api/v4/users/who_am_i.json?fields=id%2Cname"),
        reply(200, r#"{"data":{"id":345,"name":"Ada Lovelace"}}"#),
    );
    let me = h.run(|| Clio::get_user_info(eu())).unwrap();
    assert_eq!((me.id.as_str(), me.name.as_str()), ("345", "Ada Lovelace"));
    assert_eq!(me.hostname.as_deref(), Some("eu.app.clio.com"));
    assert_eq!(h.requests().len(), 1);
}

#[test]
fn a_hostname_that_is_not_a_clio_region_is_refused_before_any_request() {
    let h = Harness::new();
    for host in ["evil.example", "app.clio.com.evil.example", "clio.com"] {
        let err = h.run(|| Clio::get_user_info(ctx(host))).unwrap_err();
        assert!(matches!(&err, CrmError::InvalidInput(m) if m.contains("not a Clio region")), "{host}: {err:?}");
    }
    assert!(h.requests().is_empty());
    // No hostname at all: the US region, as App Connect assumed.
    let h = Harness::new().on(
        "GET",
        "https://app.clio.com/api/v4/users/who_am_i.json*",
        reply(200, r#"{"data":{"id":1,"name":"A"}}"#),
    );
    assert!(h.run(|| Clio::get_user_info(ctx(""))).is_ok());
    assert_eq!(h.requests()[0].url, "https://app.clio.com/api/v4/users/who_am_i.json?fields=id%2Cname");
}

const LUKE: &str = r#"{"id":1001,"name":"Luke Skywalker","type":"Person","primary_phone_number":"(650) 555-1212",
    "phone_numbers":[{"number":"(650) 555-1212","name":"Work"}],"company":{"id":7,"name":"Rebel Alliance"}}"#;

#[test]
fn find_contact_searches_each_variant_pages_on_the_users_region_and_adds_open_matters() {
    let h = Harness::new()
        .on("GET", &format!("{EU}/api/v4/contacts.json*"), move |s: &Sent| {
            let body = if s.url.contains("page_token=") {
                // Page 2, asked for with the page_token of Clio's next URL.
                r#"{"data":[{"id":1002,"name":"Acme Corp","type":"Company","primary_phone_number":"(650) 555-1212"}],"meta":{"paging":{"previous":"x"}}}"#.to_owned()
            } else if s.url.contains("query=%28650%29") {
                format!(
                    r#"{{"data":[{LUKE}],"meta":{{"paging":{{"next":"https://eu.app.clio.com/api/v4/contacts.json?fields=id&limit=1&page_token=abc&query=%28650%29%20555-1212"}}}}}}"#
                )
            } else {
                r#"{"data":[],"meta":{"paging":{},"records":0}}"#.to_owned()
            };
            reply(200, &body)(s)
        })
        .on("GET", &format!("{EU}/api/v4/matters.json?client_id=1001*"), reply(200, r#"{"data":[{"id":55,"display_number":"00055-Skywalker","description":"Death Star plans"}]}"#))
        .on("GET", &format!("{EU}/api/v4/matters.json?client_id=1002*"), reply(200, r#"{"data":[]}"#))
        .setting("time_entries", "true");
    let found =
        h.run(|| Clio::find_contact(eu(), "+16505551212".into(), vec!["(***) ***-****".into(), "**".into()])).unwrap();
    assert_eq!(found.len(), 2, "{found:?}");
    assert_eq!(found[0].id, "1001");
    assert_eq!(found[0].name, "Luke Skywalker");
    assert_eq!(found[0].phone, "(650) 555-1212");
    assert_eq!(found[0].contact_type.as_deref(), Some("person"));
    assert_eq!(found[0].organization.as_deref(), Some("Rebel Alliance"));
    let info: Value = serde_json::from_str(found[0].additional_info_json.as_deref().unwrap()).unwrap();
    assert_eq!(
        info,
        serde_json::json!({"matters":[{"const":55,"title":"00055-Skywalker","description":"Death Star plans"}],"logTimeEntry":true})
    );
    assert_eq!(found[1].contact_type.as_deref(), Some("company"));
    let info: Value = serde_json::from_str(found[1].additional_info_json.as_deref().unwrap()).unwrap();
    assert_eq!(info, serde_json::json!({"logTimeEntry":true}), "no open matters: no options");

    let sent = h.requests();
    assert_eq!(sent.len(), 5, "{:?}", sent.iter().map(|s| &s.url).collect::<Vec<_>>());
    assert!(sent.iter().all(|s| s.url.starts_with(EU)), "everything goes to the user's region");
    assert_eq!(param(&sent[0], "query").as_deref(), Some("+16505551212"));
    assert_eq!(param(&sent[0], "fields").as_deref(), Some(wire::CONTACT_FIELDS));
    assert_eq!(param(&sent[0], "limit").as_deref(), Some("200"));
    assert_eq!(param(&sent[1], "query").as_deref(), Some("(650) 555-1212"));
    assert_eq!(param(&sent[2], "page_token").as_deref(), Some("abc"), "page 2 from meta.paging.next");
    assert_eq!(path(&sent[3]), format!("{EU}/api/v4/matters.json"));
    assert_eq!(param(&sent[3], "client_id").as_deref(), Some("1001"));
    assert_eq!(param(&sent[3], "status").as_deref(), Some("open"));
    assert_eq!(param(&sent[3], "fields").as_deref(), Some("id,display_number,description"));
    assert_eq!(param(&sent[4], "client_id").as_deref(), Some("1002"));
}

#[test]
fn a_next_page_url_on_another_host_is_followed_on_the_users_region() {
    let h = Harness::new()
        .on("GET", &format!("{EU}/api/v4/contacts.json*"), |s: &Sent| {
            let body = if s.url.contains("page_token") {
                r#"{"data":[]}"#
            } else {
                r#"{"data":[],"meta":{"paging":{"next":"https://app.clio.com/api/v4/contacts.json?page_token=p2&query=x"}}}"#
            };
            reply(200, body)(s)
        });
    h.run(|| Clio::find_contact(eu(), "+16505551212".into(), vec![])).unwrap();
    let urls: Vec<String> = h.requests().into_iter().map(|s| s.url).collect();
    assert_eq!(urls[1], format!("{EU}/api/v4/contacts.json?page_token=p2&query=x"));
    // A next URL outside the API is refused.
    let h = Harness::new().on(
        "GET",
        &format!("{EU}/api/v4/contacts.json*"),
        reply(200, r#"{"data":[],"meta":{"paging":{"next":"https://eu.app.clio.com/oauth/deauthorize"}}}"#),
    );
    assert!(matches!(h.run(|| Clio::find_contact(eu(), "+16505551212".into(), vec![])), Err(CrmError::Upstream(_))));
}

#[test]
fn find_contact_stays_within_the_request_budget() {
    let many: Vec<String> = (1..=6).map(|i| format!(r#"{{"id":{i},"name":"C{i}","type":"Person"}}"#)).collect();
    let page = format!(
        r#"{{"data":[{}],"meta":{{"paging":{{"next":"{EU}/api/v4/contacts.json?page_token=more"}}}}}}"#,
        many.join(",")
    );
    let h = Harness::new()
        .on("GET", &format!("{EU}/api/v4/contacts.json*"), reply(200, &page))
        .on("GET", &format!("{EU}/api/v4/matters.json*"), reply(200, r#"{"data":[{"id":9,"display_number":"9"}]}"#))
        .request_budget(5);
    let found = h.run(|| Clio::find_contact(eu(), "+16505551212".into(), vec!["(***) ***-****".into()])).unwrap();
    assert_eq!(found.len(), 6);
    let sent = h.requests();
    let searches = sent.iter().filter(|s| s.url.contains("/contacts.json")).count();
    let matters = sent.iter().filter(|s| s.url.contains("/matters.json")).count();
    assert_eq!(searches, 3, "three pages of the first variant");
    assert_eq!(matters, 2, "what is left of the budget");
    assert!(found[0].additional_info_json.as_deref().unwrap().contains("matters"));
    assert!(!found[5].additional_info_json.as_deref().unwrap().contains("matters"));
    assert!(h.logs().iter().any(|l| l.contains("request budget")), "{:?}", h.logs());
}

#[test]
fn matters_that_cannot_be_read_leave_the_contact_but_a_429_is_reported() {
    let h = Harness::new()
        .on("GET", &format!("{EU}/api/v4/contacts.json*"), reply(200, &format!(r#"{{"data":[{LUKE}]}}"#)))
        .on("GET", &format!("{EU}/api/v4/matters.json*"), reply(500, r#"{"error":{"type":"InternalError"}}"#));
    let found = h.run(|| Clio::find_contact(eu(), "+16505551212".into(), vec![])).unwrap();
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].additional_info_json.as_deref(), Some(r#"{"logTimeEntry":false}"#));
    let h = Harness::new()
        .on("GET", &format!("{EU}/api/v4/contacts.json*"), reply(200, &format!(r#"{{"data":[{LUKE}]}}"#)))
        .on("GET", &format!("{EU}/api/v4/matters.json*"), rate_limited(17));
    assert!(matches!(
        h.run(|| Clio::find_contact(eu(), "+16505551212".into(), vec![])),
        Err(CrmError::RateLimited(17))
    ));
}

#[test]
fn create_contact_sends_a_person_or_a_company() {
    let h = Harness::new().on(
        "POST",
        &format!("{EU}/api/v4/contacts.json*"),
        reply(201, r#"{"data":{"id":2001,"name":"Han Solo","type":"Person","primary_phone_number":"+14155550123"}}"#),
    );
    let new = NewContact {
        phone_number: "+14155550123".into(),
        name: "Han Solo".into(),
        contact_type: Some("person".into()),
        additional_submission_json: None,
    };
    let c = h.run(|| Clio::create_contact(eu(), new)).unwrap();
    assert_eq!((c.id.as_str(), c.name.as_str(), c.phone.as_str()), ("2001", "Han Solo", "+14155550123"));
    let sent = &h.requests()[0];
    assert_eq!(path(sent), format!("{EU}/api/v4/contacts.json"));
    assert_eq!(
        sent.json(),
        serde_json::json!({"data":{"type":"Person","first_name":"Han","last_name":"Solo",
            "phone_numbers":[{"name":"Work","number":"+14155550123","default_number":true}]}})
    );
    assert!(sent.headers.iter().any(|(k, v)| k == "content-type" && v == "application/json"));

    let new = NewContact {
        phone_number: "+14155550123".into(),
        name: "Millennium Falcon Ltd".into(),
        contact_type: Some("Company".into()),
        additional_submission_json: None,
    };
    h.run(|| Clio::create_contact(eu(), new)).unwrap();
    let body = h.requests()[1].json();
    assert_eq!(body["data"]["type"], "Company");
    assert_eq!(body["data"]["name"], "Millennium Falcon Ltd");
    assert!(body["data"].get("first_name").is_none());
}

#[test]
fn a_call_becomes_a_phone_communication_between_the_contact_and_the_user() {
    let h = no_earlier().on("POST", &format!("{EU}/api/v4/communications.json*"), reply(201, r#"{"data":{"id":777}}"#));
    let mut log = call_log();
    log.additional_submission_json = Some(r#"{"matters":"55","logTimeEntry":false}"#.into());
    assert_eq!(h.run(|| Clio::create_call_log(eu(), log)).unwrap(), "777");
    let sent = creates(&h);
    assert_eq!(sent.len(), 1, "logTimeEntry false: no time entry");
    let body = sent[0].json();
    let d = &body["data"];
    assert_eq!(d["type"], "PhoneCommunication");
    assert_eq!(d["subject"], "Inbound call from Luke Skywalker");
    assert_eq!(d["received_at"], "2024-05-27T09:33:20.000Z");
    assert_eq!(d["date"], "2024-05-27");
    assert_eq!(d["senders"], serde_json::json!([{"id":1001,"type":"Contact"}]));
    assert_eq!(d["receivers"], serde_json::json!([{"id":42,"type":"User"}]));
    assert_eq!(d["matter"], serde_json::json!({"id":55}));
    let text = d["body"].as_str().unwrap();
    assert!(text.starts_with("Asked about the plans\n\n--- Call details ---\n"), "{text}");
    for line in [
        "Contact: Luke Skywalker",
        "Direction: Inbound",
        "From: +16505551212",
        "Duration: 42 seconds",
        "Result: Call connected",
    ] {
        assert!(text.contains(line), "{line} in {text}");
    }

    // Outbound: the user sends, the contact receives.
    let mut log = call_log();
    log.direction = Some(Direction::Outbound);
    h.run(|| Clio::create_call_log(eu(), log)).unwrap();
    let d = creates(&h)[1].json()["data"].clone();
    assert_eq!(d["senders"], serde_json::json!([{"id":42,"type":"User"}]));
    assert_eq!(d["receivers"], serde_json::json!([{"id":1001,"type":"Contact"}]));
    assert_eq!(d["subject"], "Outbound call to Luke Skywalker");
    assert!(d.get("matter").is_none());
}

#[test]
fn a_time_entry_follows_the_setting_unless_the_client_says_otherwise() {
    let h =
        || {
            no_earlier()
                .on("POST", &format!("{EU}/api/v4/communications.json*"), reply(201, r#"{"data":{"id":777}}"#))
                .on("POST", &format!("{EU}/api/v4/activities.json*"), reply(201, r#"{"data":{"id":9}}"#))
        };
    // The operator turned time entries on.
    let on = h().setting("time_entries", "true");
    let mut log = call_log();
    log.additional_submission_json = Some(r#"{"matters":55}"#.into());
    on.run(|| Clio::create_call_log(eu(), log)).unwrap();
    let sent = creates(&on);
    assert_eq!(sent.len(), 2);
    assert_eq!(path(&sent[1]), format!("{EU}/api/v4/activities.json"));
    assert_eq!(
        sent[1].json(),
        serde_json::json!({"data":{"type":"TimeEntry","quantity":42,"date":"2024-05-27","note":"Inbound call from Luke Skywalker",
            "matter":{"id":55},"communication":{"id":777}}})
    );
    // Off by default; the client may ask for one.
    let off = h();
    off.run(|| Clio::create_call_log(eu(), call_log())).unwrap();
    assert_eq!(creates(&off).len(), 1);
    let mut log = call_log();
    log.additional_submission_json = Some(r#"{"logTimeEntry":true}"#.into());
    off.run(|| Clio::create_call_log(eu(), log)).unwrap();
    assert_eq!(creates(&off).len(), 3);
    // No duration, no time entry.
    let mut log = call_log();
    log.duration_seconds = None;
    on.run(|| Clio::create_call_log(eu(), log)).unwrap();
    assert_eq!(creates(&on).len(), 3);
}

#[test]
fn a_refused_time_entry_does_not_fail_the_logged_call() {
    let h = no_earlier()
        .on("POST", &format!("{EU}/api/v4/communications.json*"), reply(201, r#"{"data":{"id":777}}"#))
        .on("POST", &format!("{EU}/api/v4/activities.json*"), reply(422, r#"{"error":{"type":"ValidationError"}}"#))
        .setting("time_entries", "true");
    assert_eq!(h.run(|| Clio::create_call_log(eu(), call_log())).unwrap(), "777");
    assert!(h.logs().iter().any(|l| l.contains("time entry")), "{:?}", h.logs());
}

#[test]
fn ids_must_be_clio_ids() {
    let h = Harness::new();
    let mut log = call_log();
    log.contact_id = "c-1001".into();
    assert!(matches!(h.run(|| Clio::create_call_log(eu(), log)), Err(CrmError::InvalidInput(_))));
    let mut log = call_log();
    log.additional_submission_json = Some(r#"{"matters":"M-1"}"#.into());
    assert!(matches!(h.run(|| Clio::create_call_log(eu(), log)), Err(CrmError::InvalidInput(_))));
    assert!(matches!(h.run(|| Clio::get_call_log(eu(), "a-1".into())), Err(CrmError::InvalidInput(_))));
    assert!(h.requests().is_empty());
}

const STORED: &str = "Asked about the plans\n\n--- Call details ---\nContact: Luke Skywalker\nDirection: Inbound\nDuration: 42 seconds\nResult: Call connected";

#[test]
fn updating_the_note_reads_the_body_and_keeps_the_details() {
    let h = Harness::new()
        .on(
            "GET",
            &format!("{EU}/api/v4/communications/777.json?fields=id%2Csubject%2Cbody%2Cmatter%7Bid%7D"),
            reply(200, &serde_json::json!({"data":{"id":777,"subject":"s","body":STORED}}).to_string()),
        )
        .on("PATCH", &format!("{EU}/api/v4/communications/777.json*"), reply(200, r#"{"data":{"id":777}}"#));
    let update = CallLogUpdate {
        log_id: "777".into(),
        subject: Some("Call with Luke".into()),
        note: Some("Plans delivered".into()),
        duration_seconds: Some(60),
        call_result: None,
        recording_link: Some("https://rec.example/1".into()),
        start_time: None,
        additional_submission_json: None,
    };
    h.run(|| Clio::update_call_log(eu(), update)).unwrap();
    let sent = h.requests();
    assert_eq!(sent.len(), 2);
    let d = sent[1].json()["data"].clone();
    assert_eq!(d["subject"], "Call with Luke");
    assert_eq!(
        d["body"],
        "Plans delivered\n\n--- Call details ---\nContact: Luke Skywalker\nDirection: Inbound\nDuration: 60 seconds\nResult: Call connected\nRecording: https://rec.example/1"
    );
    assert!(d.get("received_at").is_none());

    // A new subject alone is one PATCH, no read.
    let h = Harness::new().on(
        "PATCH",
        &format!("{EU}/api/v4/communications/777.json*"),
        reply(200, r#"{"data":{"id":777}}"#),
    );
    let update = CallLogUpdate {
        log_id: "777".into(),
        subject: Some("Renamed".into()),
        note: None,
        duration_seconds: None,
        call_result: None,
        recording_link: None,
        start_time: None,
        additional_submission_json: None,
    };
    h.run(|| Clio::update_call_log(eu(), update)).unwrap();
    assert_eq!(h.requests().len(), 1);
    assert_eq!(h.requests()[0].json(), serde_json::json!({"data":{"subject":"Renamed"}}));
}

#[test]
fn get_call_log_reads_the_note_back_out_of_the_body() {
    let h = Harness::new().on(
        "GET",
        &format!("{EU}/api/v4/communications/777.json*"),
        reply(
            200,
            &serde_json::json!({"data":{"id":777,"subject":"Inbound call from Luke Skywalker","body":STORED}})
                .to_string(),
        ),
    );
    let log = h.run(|| Clio::get_call_log(eu(), "777".into())).unwrap();
    assert_eq!(log.log_id, "777");
    assert_eq!(log.subject, "Inbound call from Luke Skywalker");
    assert_eq!(log.note, "Asked about the plans");
    assert_eq!(log.contact_name.as_deref(), Some("Luke Skywalker"));
    assert_eq!(log.full_body.as_deref(), Some(STORED));
    assert_eq!(param(&h.requests()[0], "fields").as_deref(), Some("id,subject,body,matter{id}"));
}

#[test]
fn a_conversation_is_one_communication_with_each_message_appended() {
    let stored = std::rc::Rc::new(std::cell::RefCell::new(String::new()));
    let (on_post, on_get, on_patch) = (stored.clone(), stored.clone(), stored.clone());
    let h = no_earlier()
        .on("POST", &format!("{EU}/api/v4/communications.json*"), move |s: &Sent| {
            *on_post.borrow_mut() = s.json()["data"]["body"].as_str().unwrap().to_owned();
            reply(201, r#"{"data":{"id":888}}"#)(s)
        })
        .on("GET", &format!("{EU}/api/v4/communications/888.json*"), move |s: &Sent| {
            reply(200, &serde_json::json!({"data":{"id":888,"body":*on_get.borrow()}}).to_string())(s)
        })
        .on("PATCH", &format!("{EU}/api/v4/communications/888.json*"), move |s: &Sent| {
            *on_patch.borrow_mut() = s.json()["data"]["body"].as_str().unwrap().to_owned();
            reply(200, r#"{"data":{"id":888}}"#)(s)
        });
    let first = message("m-1", Direction::Inbound, "Help me", "2026-11-22T10:00:00Z");
    let second = message("m-2", Direction::Outbound, "On my way", "2026-11-22T10:01:00Z");
    let id = h.run(|| Clio::create_message_log(eu(), first)).unwrap();
    assert_eq!(id, "888");
    let d = h.requests()[1].json()["data"].clone();
    assert_eq!(d["type"], "PhoneCommunication");
    assert_eq!(d["subject"], "SMS conversation with Luke Skywalker");
    assert_eq!(d["received_at"], "2026-11-22T10:00:00Z");
    assert_eq!(d["senders"], serde_json::json!([{"id":1001,"type":"Contact"}]));
    h.run(|| Clio::update_message_log(eu(), id.clone(), second.clone())).unwrap();
    assert_eq!(
        *stored.borrow(),
        "[2026-11-22T10:00:00Z] Inbound SMS from +16505551212: Help me\n[2026-11-22T10:01:00Z] Outbound SMS from +16505551212: On my way"
    );
    // The same message again (a retry) is not appended twice.
    h.run(|| Clio::update_message_log(eu(), id, second)).unwrap();
    assert_eq!(stored.borrow().lines().count(), 2);
    let methods: Vec<String> = h.requests().into_iter().map(|s| s.method).collect();
    assert_eq!(methods, ["GET", "POST", "GET", "PATCH", "GET"], "the search for an earlier attempt's first");
}

#[test]
fn unauthorize_deauthorizes_at_the_users_region() {
    let h = Harness::new().on("POST", &format!("{EU}/oauth/deauthorize"), reply(200, ""));
    h.run(|| Clio::unauthorize(eu())).unwrap();
    let sent = h.requests();
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].url, format!("{EU}/oauth/deauthorize"));
    assert!(!sent[0].headers.iter().any(|(k, _)| k.eq_ignore_ascii_case("authorization")), "the host adds the token");
    // An already dead token is not an error: the user is logging out anyway.
    let h = Harness::new().on("POST", &format!("{EU}/oauth/deauthorize"), reply(401, r#"{"error":"invalid_token"}"#));
    assert!(h.run(|| Clio::unauthorize(eu())).is_ok());
    let h = Harness::new().on("POST", &format!("{EU}/oauth/deauthorize"), reply(503, "down"));
    assert!(matches!(h.run(|| Clio::unauthorize(eu())), Err(CrmError::Upstream(_))));
}

#[test]
fn clio_statuses_become_crm_errors() {
    let who = format!("{EU}/api/v4/users/who_am_i.json*");
    let h = Harness::new().on("GET", &who, |_: &Sent| {
        Ok(WireResponse {
            status: 429,
            headers: vec![
                ("retry-after".into(), "23".into()),
                ("x-ratelimit-limit".into(), "50".into()),
                ("x-ratelimit-remaining".into(), "0".into()),
            ],
            body: br#"{"error":{"type":"RateLimited","message":"Rate limit exceeded"}}"#.to_vec(),
        })
    });
    assert!(matches!(h.run(|| Clio::get_user_info(eu())), Err(CrmError::RateLimited(23))));
    let h = Harness::new().on("GET", &who, reply(401, r#"{"error":"invalid_token"}"#));
    assert!(matches!(h.run(|| Clio::get_user_info(eu())), Err(CrmError::Unauthorized(_))));
    let h = Harness::new().on(
        "GET",
        &format!("{EU}/api/v4/communications/*"),
        reply(404, r#"{"error":{"type":"RecordNotFound"}}"#),
    );
    assert!(matches!(h.run(|| Clio::get_call_log(eu(), "5".into())), Err(CrmError::NotFound(_))));
    let h = Harness::new().on(
        "POST",
        &format!("{EU}/api/v4/contacts.json*"),
        reply(422, r#"{"error":{"type":"ValidationError"}}"#),
    );
    let new = NewContact {
        phone_number: "+1".into(),
        name: "X".into(),
        contact_type: None,
        additional_submission_json: None,
    };
    assert!(matches!(h.run(|| Clio::create_contact(eu(), new)), Err(CrmError::InvalidInput(_))));
    let h = Harness::new().on("GET", &who, reply(200, r#"{"data":{"name":"no id"}}"#));
    assert!(matches!(h.run(|| Clio::get_user_info(eu())), Err(CrmError::Upstream(_))));
}

#[test]
fn call_bodies_round_trip() {
    let b = CallBody::parse(STORED);
    assert_eq!(b.note, "Asked about the plans");
    assert_eq!(b.get("Duration"), Some("42 seconds"));
    assert_eq!(b.render(), STORED);
    // An empty note, a note with blank lines, a body someone edited in Clio.
    let no_note = CallBody { note: String::new(), details: vec![("Contact".into(), "Leia".into())] };
    assert_eq!(CallBody::parse(&no_note.render()), no_note);
    let multi = CallBody { note: "line 1\n\nline 3".into(), details: vec![("Result".into(), "Missed".into())] };
    assert_eq!(CallBody::parse(&multi.render()), multi);
    assert_eq!(CallBody::parse("typed in Clio").note, "typed in Clio");
    assert_eq!(CallBody::parse("typed in Clio").render(), "typed in Clio");
}

#[test]
fn additional_submission_fields() {
    assert_eq!(Extra::parse(None).unwrap(), Extra::default());
    assert_eq!(
        Extra::parse(Some(r#"{"matters":12,"logTimeEntry":"true"}"#)).unwrap(),
        Extra { matter: Some(12), log_time_entry: Some(true) }
    );
    assert_eq!(Extra::parse(Some(r#"{"matterId":"13"}"#)).unwrap().matter, Some(13));
    assert_eq!(Extra::parse(Some(r#"{"matters":""}"#)).unwrap().matter, None);
    assert!(Extra::parse(Some(r#"{"matters":[1]}"#)).is_err());
    assert_eq!(date_of("2024-05-27T09:33:20Z").as_deref(), Some("2024-05-27"));
    assert_eq!(date_of("yesterday"), None);
}

#[test]
fn a_name_search_asks_contacts_by_query_and_adds_open_matters() {
    let h = Harness::new()
        .on(
            "GET",
            &format!("{EU}/api/v4/contacts.json*"),
            reply(200, &format!(r#"{{"data":[{LUKE}],"meta":{{"paging":{{}}}}}}"#)),
        )
        .on(
            "GET",
            &format!("{EU}/api/v4/matters.json*"),
            reply(200, r#"{"data":[{"id":501,"display_number":"00001-Skywalker","status":"open"}]}"#),
        );
    let found = h.run(|| Clio::find_contact_by_name(eu(), "Luke".into())).unwrap();
    assert_eq!(found[0].name, "Luke Skywalker");
    assert_eq!(param(&h.requests()[0], "query").as_deref(), Some("Luke"));
    assert!(found[0].additional_info_json.as_deref().unwrap().contains("501"), "{found:?}");
}

#[test]
fn a_disposition_files_the_communication_under_the_chosen_matter() {
    let h = Harness::new().on(
        "PATCH",
        &format!("{EU}/api/v4/communications/777.json*"),
        reply(200, r#"{"data":{"id":777}}"#),
    );
    h.run(|| Clio::set_call_disposition(eu(), "777".into(), r#"{"matters":501,"note":"n"}"#.into())).unwrap();
    assert_eq!(h.requests()[0].json()["data"], serde_json::json!({"matter": {"id": 501}}));
    let h = Harness::new();
    h.run(|| Clio::set_call_disposition(eu(), "777".into(), r#"{"note":"n"}"#.into())).unwrap();
    assert!(h.requests().is_empty(), "no matter chosen: nothing sent");
}

// ------------------------------------------------------------ retries after a crash

const KEY: &str = "sb-0123456789abcdef0123456789abcdef";

/// An earlier attempt with `KEY` created communication 777 (and, if `entry`, its time entry).
fn earlier(entry: bool) -> Harness {
    let entries = if entry { r#"{"data":[{"id":9}],"meta":{"paging":{},"records":1}}"# } else { NO_EARLIER };
    Harness::new()
        .on(
            "GET",
            &format!("{EU}/api/v4/communications.json*"),
            reply(200, r#"{"data":[{"id":777}],"meta":{"paging":{},"records":1}}"#),
        )
        .on("GET", &format!("{EU}/api/v4/activities.json*"), reply(200, entries))
        .on("POST", &format!("{EU}/api/v4/activities.json*"), reply(201, r#"{"data":{"id":10}}"#))
}

fn keyed_call(key: &str) -> CallLogInput {
    CallLogInput {
        idempotency_key: key.into(),
        additional_submission_json: Some(r#"{"logTimeEntry":true}"#.into()),
        ..call_log()
    }
}

#[test]
fn a_call_log_is_marked_with_its_idempotency_key_after_searching_for_it() {
    let h = no_earlier()
        .on("POST", &format!("{EU}/api/v4/communications.json*"), reply(201, r#"{"data":{"id":777}}"#))
        .on("POST", &format!("{EU}/api/v4/activities.json*"), reply(201, r#"{"data":{"id":9}}"#));
    assert_eq!(h.run(|| Clio::create_call_log(eu(), keyed_call(KEY))).unwrap(), "777");
    let sent = h.requests();
    let methods: Vec<(String, String)> = sent.iter().map(|s| (s.method.clone(), path(s))).collect();
    assert_eq!(
        methods,
        [
            ("GET".into(), format!("{EU}/api/v4/communications.json")),
            ("POST".into(), format!("{EU}/api/v4/communications.json")),
            ("POST".into(), format!("{EU}/api/v4/activities.json")),
        ],
        "no time-entry check for a communication made just now"
    );
    assert_eq!(param(&sent[0], "external_property_name").as_deref(), Some("switchboard_idempotency_key"));
    assert_eq!(param(&sent[0], "external_property_value").as_deref(), Some(KEY));
    assert_eq!(param(&sent[0], "fields").as_deref(), Some("id"));
    assert_eq!(param(&sent[0], "limit").as_deref(), Some("1"));
    assert_eq!(
        sent[1].json()["data"]["external_properties"],
        serde_json::json!([{"name": "switchboard_idempotency_key", "value": KEY}])
    );
}

#[test]
fn a_retry_returns_the_earlier_attempts_communication_and_adds_a_missing_time_entry() {
    let h = earlier(false);
    assert_eq!(h.run(|| Clio::create_call_log(eu(), keyed_call(KEY))).unwrap(), "777");
    let sent = h.requests();
    assert!(
        !sent.iter().any(|s| s.method == "POST" && s.url.contains("/communications.json")),
        "no second communication"
    );
    assert_eq!(path(&sent[1]), format!("{EU}/api/v4/activities.json"));
    assert_eq!(sent[1].method, "GET");
    assert_eq!(param(&sent[1], "communication_id").as_deref(), Some("777"));
    assert_eq!(param(&sent[1], "fields").as_deref(), Some("id"));
    assert_eq!(sent[2].method, "POST", "the first attempt died before its time entry");
    assert_eq!(sent[2].json()["data"]["communication"], serde_json::json!({"id": 777}));
    assert_eq!(sent.len(), 3);

    // The time entry is there too: nothing is created.
    let h = earlier(true);
    assert_eq!(h.run(|| Clio::create_call_log(eu(), keyed_call(KEY))).unwrap(), "777");
    assert!(h.requests().iter().all(|s| s.method == "GET"), "{:?}", h.requests());
    assert_eq!(h.requests().len(), 2);

    // Clio cannot say: no time entry rather than a second one.
    let h = earlier(false).on("GET", &format!("{EU}/api/v4/activities.json*"), reply(500, "{}"));
    assert_eq!(h.run(|| Clio::create_call_log(eu(), keyed_call(KEY))).unwrap(), "777");
    assert!(h.requests().iter().all(|s| s.method == "GET"));
    assert!(h.logs().iter().any(|l| l.contains("none is added")), "{:?}", h.logs());
}

#[test]
fn another_calls_key_finds_nothing_and_creates() {
    let h = Harness::new()
        .on("GET", &format!("{EU}/api/v4/communications.json*"), |s: &Sent| {
            let found = param(s, "external_property_value").as_deref() == Some(KEY);
            reply(200, if found { r#"{"data":[{"id":777}]}"# } else { NO_EARLIER })(s)
        })
        .on("POST", &format!("{EU}/api/v4/communications.json*"), reply(201, r#"{"data":{"id":778}}"#));
    let other = "sb-ffffffffffffffffffffffffffffffff";
    let log = CallLogInput { idempotency_key: other.into(), ..call_log() };
    assert_eq!(h.run(|| Clio::create_call_log(eu(), log)).unwrap(), "778");
    let sent = h.requests();
    assert_eq!(param(&sent[0], "external_property_value").as_deref(), Some(other));
    assert_eq!(sent[1].json()["data"]["external_properties"][0]["value"], other);
    let log = CallLogInput { idempotency_key: KEY.into(), ..call_log() };
    assert_eq!(h.run(|| Clio::create_call_log(eu(), log)).unwrap(), "777");
    assert_eq!(h.requests().len(), 3, "the retry of the first call: a search, no create");
}

#[test]
fn a_message_log_retry_returns_the_earlier_attempts_communication() {
    let message = MessageLogInput {
        idempotency_key: KEY.into(),
        ..message("m-1", Direction::Inbound, "Help me", "2026-11-22T10:00:00Z")
    };
    let h = no_earlier().on("POST", &format!("{EU}/api/v4/communications.json*"), reply(201, r#"{"data":{"id":888}}"#));
    assert_eq!(h.run(|| Clio::create_message_log(eu(), message.clone())).unwrap(), "888");
    assert_eq!(param(&h.requests()[0], "external_property_value").as_deref(), Some(KEY));
    assert_eq!(h.requests()[1].json()["data"]["external_properties"][0]["name"], "switchboard_idempotency_key");
    let h = earlier(false);
    assert_eq!(h.run(|| Clio::create_message_log(eu(), message)).unwrap(), "777");
    assert_eq!(h.requests().len(), 1, "found: nothing created");
}
