//! Native unit tests through the SDK harness (`cargo xtask test`, or
//! `cargo test --target x86_64-unknown-linux-gnu -p jira` in `adapters/`).
//!
//! One long file: the adapter's unit tests, one per behaviour, sharing the harness helpers at the
//! top.

use super::*;
use serde_json::{Value, json};
use switchboard_sdk::bindings::switchboard::crm::http::{HttpError as HttpErrorWit, Response as HttpResponseWit};
use switchboard_sdk::harness::{Harness, Sent, context, rate_limited, reply, sample_call_log, sample_message};

const CLOUD: &str = "11223344-a1b2-3b33-c444-def123456789";
const API: &str = "https://api.atlassian.com/ex/jira/11223344-a1b2-3b33-c444-def123456789/rest/api/3";

fn ctx() -> CallContext {
    CallContext { hostname: CLOUD.into(), crm_user_id: "5b10ac8d82e05b22cc7d4ef5".into(), ..context() }
}

fn settings() -> Harness {
    Harness::new().setting("project_key", "CRM").setting("phone_field", "customfield_10050")
}

const NO_COMMENTS: &str = r#"{"startAt":0,"maxResults":50,"total":0,"comments":[]}"#;

/// A harness where the issue has no comments yet (no earlier attempt's).
fn no_earlier() -> Harness {
    Harness::new().on("GET", &format!("{API}/issue/CRM-7/comment?*"), reply(200, NO_COMMENTS))
}

fn call_log(note: Option<&str>) -> CallLogInput {
    CallLogInput {
        contact_type: Some("issue".into()),
        note: note.map(str::to_owned),
        start_time: Some("2024-05-27T09:33:20Z".into()),
        duration_seconds: Some(65),
        recording_link: Some("https://rec.example/r/1".into()),
        ..sample_call_log("CRM-7")
    }
}

fn message(id: &str, direction: Direction, from: &str, text: &str, at: &str) -> MessageLogInput {
    let mut m = sample_message("CRM-7", id, text, at);
    m.message.direction = direction;
    m.message.from_number = from.into();
    m
}

fn issue(key: &str, name: &str, phone: &str) -> Value {
    json!({"id": key.replace("CRM-", "100"), "key": key, "self": format!("{API}/issue/{key}"),
           "fields": {"summary": name, "customfield_10050": phone}})
}

/// A harness answer computed from the request.
fn answer(f: impl Fn(&Sent) -> (u16, Value) + 'static) -> impl Fn(&Sent) -> Result<HttpResponseWit, HttpErrorWit> {
    move |sent| {
        let (status, body) = f(sent);
        Ok(HttpResponseWit {
            status,
            headers: vec![("content-type".into(), "application/json".into())],
            body: body.to_string().into_bytes(),
        })
    }
}

// ------------------------------------------------------------ get-user-info

const RESOURCES: &str = r#"[
  {"id":"aaaa-confluence","url":"https://acme.atlassian.net","name":"acme","scopes":["read:confluence-content.all"],"avatarUrl":"https://x/a.png"},
  {"id":"11223344-a1b2-3b33-c444-def123456789","url":"https://acme.atlassian.net","name":"acme","scopes":["read:jira-work","write:jira-work","read:jira-user"],"avatarUrl":"https://x/a.png"},
  {"id":"99999999-0000-0000-0000-000000000000","url":"https://other.atlassian.net","name":"other","scopes":["read:jira-work"],"avatarUrl":"https://x/b.png"}
]"#;

const MYSELF: &str = r#"{"self":"https://api.atlassian.com/ex/jira/x/rest/api/3/user?accountId=5b10ac8d82e05b22cc7d4ef5",
  "accountId":"5b10ac8d82e05b22cc7d4ef5","accountType":"atlassian","displayName":"Ada Lovelace","active":true,"timeZone":"Europe/London"}"#;

#[test]
fn get_user_info_finds_the_cloud_id_then_asks_who_the_user_is_there() {
    let h = Harness::new()
        .on("GET", "https://api.atlassian.com/oauth/token/accessible-resources", reply(200, RESOURCES))
        .on("GET", &format!("{API}/myself"), reply(200, MYSELF));
    let user = h.run(|| Jira::get_user_info(context())).unwrap();
    assert_eq!(user.id, "5b10ac8d82e05b22cc7d4ef5");
    assert_eq!(user.name, "Ada Lovelace");
    assert_eq!(user.hostname.as_deref(), Some(CLOUD), "the cloud id becomes the connection's hostname");
    let urls: Vec<String> = h.requests().into_iter().map(|r| r.url).collect();
    assert_eq!(
        urls,
        ["https://api.atlassian.com/oauth/token/accessible-resources".to_string(), format!("{API}/myself")]
    );
}

#[test]
fn the_site_setting_picks_among_several_sites_and_an_unknown_one_is_refused() {
    let other = "https://api.atlassian.com/ex/jira/99999999-0000-0000-0000-000000000000/rest/api/3/myself";
    let h = Harness::new()
        .setting("site", "other.atlassian.net/")
        .on("GET", "https://api.atlassian.com/oauth/token/accessible-resources", reply(200, RESOURCES))
        .on("GET", other, reply(200, MYSELF));
    let user = h.run(|| Jira::get_user_info(context())).unwrap();
    assert_eq!(user.hostname.as_deref(), Some("99999999-0000-0000-0000-000000000000"));

    // Validating an existing connection keeps its site even when the setting changed.
    let h = Harness::new()
        .setting("site", "https://other.atlassian.net")
        .on("GET", "https://api.atlassian.com/oauth/token/accessible-resources", reply(200, RESOURCES))
        .on("GET", &format!("{API}/myself"), reply(200, MYSELF));
    assert_eq!(h.run(|| Jira::get_user_info(ctx())).unwrap().hostname.as_deref(), Some(CLOUD));

    let h = Harness::new().setting("site", "https://nope.atlassian.net").on(
        "GET",
        "https://api.atlassian.com/oauth/token/accessible-resources",
        reply(200, RESOURCES),
    );
    let err = h.run(|| Jira::get_user_info(context())).unwrap_err();
    assert!(matches!(&err, CrmError::InvalidInput(m) if m.contains("nope.atlassian.net")), "{err:?}");

    let h = Harness::new().on("GET", "https://api.atlassian.com/oauth/token/accessible-resources", reply(200, "[]"));
    assert!(matches!(h.run(|| Jira::get_user_info(context())), Err(CrmError::InvalidInput(_))));
}

// ------------------------------------------------------------ find-contact

#[test]
fn find_contact_sends_one_jql_search_for_every_number_variant() {
    let h = settings().on(
        "POST",
        &format!("{API}/search/jql"),
        reply(200, &json!({"issues": [issue("CRM-7", "Leia Organa", "(650) 555-1212")], "isLast": true}).to_string()),
    );
    let found =
        h.run(|| Jira::find_contact(ctx(), "+16505551212".into(), vec!["(***) ***-****".into(), "**".into()])).unwrap();
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].id, "CRM-7");
    assert_eq!(found[0].name, "Leia Organa");
    assert_eq!(found[0].phone, "(650) 555-1212");
    assert_eq!(found[0].contact_type.as_deref(), Some("issue"));
    let sent = h.requests();
    assert_eq!(sent.len(), 1);
    let body = sent[0].json();
    assert_eq!(
        body["jql"],
        r#"project = "CRM" AND (cf[10050] ~ "\"+16505551212\"" OR cf[10050] ~ "\"(650) 555-1212\"")"#
    );
    assert_eq!(body["fields"], json!(["summary", "customfield_10050"]));
    assert_eq!(body["maxResults"], 50);
    assert!(body.get("nextPageToken").is_none(), "no token on the first page: {body}");
    assert!(sent[0].headers.iter().any(|(k, v)| k == "content-type" && v == "application/json"));
}

#[test]
fn find_contact_follows_next_page_tokens_and_keeps_only_real_matches() {
    let h = settings().on(
        "POST",
        &format!("{API}/search/jql"),
        answer(|sent| {
            let body = sent.json();
            match body["nextPageToken"].as_str() {
                None => (
                    200,
                    json!({"issues": [issue("CRM-1", "Luke", "+16505551212")], "nextPageToken": "p2", "isLast": false}),
                ),
                Some("p2") => (
                    200,
                    json!({"issues": [issue("CRM-1", "Luke", "+16505551212"),
                                      issue("CRM-2", "Not him", "+1 650 555 0000"),
                                      issue("CRM-3", "Luke at work", "+1 650-555-1212 (office)")],
                           "isLast": true}),
                ),
                Some(_) => (400, json!({"errorMessages": ["bad token"]})),
            }
        }),
    );
    let found = h.run(|| Jira::find_contact(ctx(), "+16505551212".into(), vec![])).unwrap();
    let ids: Vec<&str> = found.iter().map(|c| c.id.as_str()).collect();
    assert_eq!(ids, ["CRM-1", "CRM-3"], "deduplicated, and CRM-2's digits do not hold the number");
    assert_eq!(h.requests().len(), 2);
    assert_eq!(h.requests()[1].json()["jql"], r#"project = "CRM" AND cf[10050] ~ "\"+16505551212\"""#);
}

#[test]
fn find_contact_stops_after_a_bounded_number_of_pages() {
    let h = settings().on(
        "POST",
        &format!("{API}/search/jql"),
        reply(200, r#"{"issues": [], "nextPageToken": "again", "isLast": false}"#),
    );
    assert!(h.run(|| Jira::find_contact(ctx(), "+16505551212".into(), vec![])).unwrap().is_empty());
    assert_eq!(h.requests().len(), MAX_PAGES);
    assert!(h.logs().iter().any(|l| l.contains("WARN") && l.contains("more than 200 issues")), "{:?}", h.logs());
}

#[test]
fn jql_values_are_escaped() {
    assert_eq!(jql_string(r#"A "quoted" \ key"#), r#""A \"quoted\" \\ key""#);
    assert_eq!(jql_phrase("+1 (650)"), r#""\"+1 (650)\"""#);
    // A quote inside the phrase is escaped for Lucene, then again for JQL.
    assert_eq!(jql_phrase(r#"6"5"#), r#""\"6\\\"5\"""#);
    assert_eq!(
        find_jql(Some(r#"X" OR project = "Y"#), "cf[1]", &["1".into()]),
        r#"project = "X\" OR project = \"Y" AND cf[1] ~ "\"1\"""#
    );
    assert_eq!(find_jql(None, "cf[1]", &["1".into()]), r#"cf[1] ~ "\"1\"""#);
    assert!(jql_field("summary").is_err());
    assert!(jql_field("customfield_10050) OR (x").is_err());
}

#[test]
fn find_contact_needs_the_phone_field_setting() {
    let h = Harness::new().setting("project_key", "CRM");
    let err = h.run(|| Jira::find_contact(ctx(), "+16505551212".into(), vec![])).unwrap_err();
    assert!(matches!(&err, CrmError::Internal(m) if m.contains("phone_field")), "{err:?}");
    assert!(h.requests().is_empty());
}

// ------------------------------------------------------------ create-contact

#[test]
fn create_contact_creates_an_issue_in_the_configured_project() {
    let h = settings().setting("issue_type", "Customer").on(
        "POST",
        &format!("{API}/issue"),
        reply(201, &json!({"id": "10042", "key": "CRM-42", "self": format!("{API}/issue/10042")}).to_string()),
    );
    let new = NewContact {
        phone_number: "+14155550123".into(),
        name: "Han Solo".into(),
        contact_type: Some("issue".into()),
        additional_submission_json: None,
    };
    let c = h.run(|| Jira::create_contact(ctx(), new)).unwrap();
    assert_eq!((c.id.as_str(), c.name.as_str(), c.phone.as_str()), ("CRM-42", "Han Solo", "+14155550123"));
    assert_eq!(
        h.requests()[0].json(),
        json!({"fields": {"project": {"key": "CRM"}, "issuetype": {"name": "Customer"},
                          "summary": "Han Solo", "customfield_10050": "+14155550123"}})
    );
}

#[test]
fn create_contact_defaults_to_task_and_needs_a_project() {
    let h = settings().on("POST", &format!("{API}/issue"), reply(201, r#"{"id":"1","key":"CRM-1","self":"x"}"#));
    let new = || NewContact {
        phone_number: "+1".into(),
        name: "N".into(),
        contact_type: None,
        additional_submission_json: None,
    };
    h.run(|| Jira::create_contact(ctx(), new())).unwrap();
    assert_eq!(h.requests()[0].json()["fields"]["issuetype"]["name"], "Task");
    let h = Harness::new().setting("phone_field", "customfield_10050");
    assert!(
        matches!(h.run(|| Jira::create_contact(ctx(), new())), Err(CrmError::Internal(m)) if m.contains("project_key"))
    );
}

// ------------------------------------------------------------ call logs

#[test]
fn a_call_log_is_an_adf_comment_on_the_contact_issue() {
    let h = no_earlier().on(
        "POST",
        &format!("{API}/issue/CRM-7/comment"),
        reply(201, r#"{"id":"10001","self":"x","body":{"type":"doc","version":1,"content":[]}}"#),
    );
    let id = h.run(|| Jira::create_call_log(ctx(), call_log(Some("Asked about the plans\nCall back Friday")))).unwrap();
    assert_eq!(id, "CRM-7/10001");
    let body = h.requests()[1].json()["body"].clone();
    assert_eq!(body["type"], "doc");
    assert_eq!(body["version"], 1);
    let content = body["content"].as_array().unwrap();
    assert_eq!(
        content[0],
        json!({"type": "paragraph", "content": [{"type": "text", "text": "Inbound call from Luke Skywalker", "marks": [{"type": "strong"}]}]})
    );
    assert_eq!(content[1]["type"], "bulletList");
    let items: Vec<String> = content[1]["content"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| serde_json::from_value::<Node>(i.clone()).unwrap().plain_text())
        .collect();
    assert_eq!(
        items,
        [
            "Contact: Luke Skywalker",
            "Direction: Inbound",
            "From: +16505551212",
            "To: +14155550100",
            "Started: 2024-05-27T09:33:20Z",
            "Duration: 1 min 5 s",
            "Result: Call connected",
            "Recording: https://rec.example/r/1",
            "Session: s-1"
        ]
    );
    let recording = &content[1]["content"][7]["content"][0]["content"][2];
    assert_eq!(recording["marks"][0], json!({"type": "link", "attrs": {"href": "https://rec.example/r/1"}}));
    assert_eq!(
        content[2],
        json!({"type": "paragraph", "content": [{"type": "text", "text": "Asked about the plans"}]})
    );
    assert_eq!(content[3]["content"][0]["text"], "Call back Friday");
    assert_eq!(content.len(), 4);
    // ADF forbids empty text nodes.
    assert!(!body.to_string().contains(r#""text":"""#), "{body}");
}

/// A comment store behind the harness: GET answers the stored body, PUT replaces it.
fn comment_store(initial: Node) -> (Harness, std::rc::Rc<std::cell::RefCell<Node>>) {
    let stored = std::rc::Rc::new(std::cell::RefCell::new(initial));
    let (get, put) = (stored.clone(), stored.clone());
    let url = format!("{API}/issue/CRM-7/comment/10001");
    let h = Harness::new().on("GET", &url, answer(move |_| (200, json!({"id": "10001", "body": *get.borrow()})))).on(
        "PUT",
        &url,
        answer(move |sent| {
            *put.borrow_mut() = serde_json::from_value(sent.json()["body"].clone()).expect("an ADF body");
            (200, json!({"id": "10001", "body": *put.borrow()}))
        }),
    );
    (h, stored)
}

#[test]
fn get_call_log_reads_subject_note_and_contact_back_from_the_adf() {
    let (h, _) = comment_store(call_doc(&call_log(Some("Asked about the plans\n\nCall back Friday"))));
    let log = h.run(|| Jira::get_call_log(ctx(), "CRM-7/10001".into())).unwrap();
    assert_eq!(log.log_id, "CRM-7/10001");
    assert_eq!(log.subject, "Inbound call from Luke Skywalker");
    assert_eq!(log.note, "Asked about the plans\n\nCall back Friday");
    assert_eq!(log.contact_name.as_deref(), Some("Luke Skywalker"));
    let full = log.full_body.unwrap();
    assert!(full.starts_with("Inbound call from Luke Skywalker\n- Contact: Luke Skywalker\n"), "{full}");
    assert!(full.ends_with("- Session: s-1\nAsked about the plans\n\nCall back Friday"), "{full}");
}

#[test]
fn update_call_log_changes_only_the_given_fields_and_keeps_what_users_added() {
    let mut doc = call_doc(&call_log(Some("old note")));
    // Something a user added in Jira: a mention inside a table-less panel.
    let panel: Node = serde_json::from_value(json!({"type": "panel", "attrs": {"panelType": "info"},
        "content": [{"type": "paragraph", "content": [{"type": "mention", "attrs": {"id": "abc", "text": "@Han"}}]}]}))
    .unwrap();
    doc.content.as_mut().unwrap().push(panel.clone());
    let (h, stored) = comment_store(doc);
    let update = CallLogUpdate {
        log_id: "CRM-7/10001".into(),
        subject: Some("Call with Luke".into()),
        note: Some("Plans delivered".into()),
        duration_seconds: Some(3725),
        call_result: None,
        recording_link: None,
        start_time: None,
        additional_submission_json: None,
    };
    h.run(|| Jira::update_call_log(ctx(), update)).unwrap();
    let methods: Vec<String> = h.requests().iter().map(|r| r.method.clone()).collect();
    assert_eq!(methods, ["GET", "PUT"]);
    let put = h.requests()[1].json();
    assert_eq!(put.as_object().unwrap().keys().collect::<Vec<_>>(), ["body"], "PUT sends {{body}} only");
    let doc = stored.borrow().clone();
    assert!(doc.children().contains(&panel), "the user's panel survives");
    let log = read_call("CRM-7/10001", &doc);
    assert_eq!(log.subject, "Call with Luke");
    assert_eq!(log.note, "Plans delivered");
    let d = details(&doc);
    assert!(d.contains(&("Duration".into(), "1 h 2 min 5 s".into())), "{d:?}");
    assert!(d.contains(&("Result".into(), "Call connected".into())), "unchanged: {d:?}");
    assert!(d.contains(&("Direction".into(), "Inbound".into())), "unchanged: {d:?}");
}

#[test]
fn an_update_adds_details_to_a_comment_that_has_none() {
    let mut doc = Node::doc(vec![Node::paragraph(vec![Node::text("Call")])]);
    let update = CallLogUpdate {
        log_id: "x".into(),
        subject: None,
        note: None,
        duration_seconds: None,
        call_result: Some("Voicemail".into()),
        recording_link: None,
        start_time: None,
        additional_submission_json: None,
    };
    apply_update(&mut doc, &update);
    assert_eq!(doc.children()[1].kind, "bulletList");
    assert_eq!(details(&doc), [("Result".to_string(), "Voicemail".to_string())]);
    assert_eq!(read_call("x", &doc).subject, "Call");
}

#[test]
fn log_and_contact_ids_are_checked_before_they_reach_a_url() {
    let h = Harness::new();
    for bad in ["CRM-7", "CRM-7/abc", "../../myself/1", "CRM-7/1/2", "/10001", "CRM-7/"] {
        let err = h.run(|| Jira::get_call_log(ctx(), bad.into())).unwrap_err();
        assert!(matches!(err, CrmError::NotFound(_)), "{bad}: {err:?}");
    }
    let mut log = call_log(None);
    log.contact_id = "../../../oauth/token/accessible-resources?".into();
    assert!(matches!(h.run(|| Jira::create_call_log(ctx(), log)), Err(CrmError::InvalidInput(_))));
    assert!(h.requests().is_empty(), "nothing was sent");
    // Numeric issue ids work as contact ids too.
    assert_eq!(issue_ref("10042"), Some("10042"));
    assert_eq!(parse_log_id("10042/7").unwrap(), ("10042", "7"));
}

// ------------------------------------------------------------ message logs

#[test]
fn a_conversation_is_one_comment_and_later_messages_are_appended() {
    let first = message("m-1", Direction::Inbound, "+16505551212", "Help me", "2026-11-22T10:00:00Z");
    let h = no_earlier().on(
        "POST",
        &format!("{API}/issue/CRM-7/comment"),
        reply(201, r#"{"id":"10001","body":{"type":"doc","version":1,"content":[]}}"#),
    );
    assert_eq!(h.run(|| Jira::create_message_log(ctx(), first.clone())).unwrap(), "CRM-7/10001");
    let created: Node = serde_json::from_value(h.requests()[1].json()["body"].clone()).unwrap();
    assert_eq!(
        created.plain_text(),
        "SMS conversation with Luke Skywalker\n[2026-11-22T10:00:00Z] Inbound SMS from +16505551212: Help me"
    );

    let (h, stored) = comment_store(created);
    let second = message("m-2", Direction::Outbound, "+14155550100", "On my way\nETA 5", "2026-11-22T10:01:00Z");
    h.run(|| Jira::update_message_log(ctx(), "CRM-7/10001".into(), second)).unwrap();
    assert_eq!(
        stored.borrow().plain_text(),
        "SMS conversation with Luke Skywalker\n\
         [2026-11-22T10:00:00Z] Inbound SMS from +16505551212: Help me\n\
         [2026-11-22T10:01:00Z] Outbound SMS from +14155550100: On my way\nETA 5"
    );
    assert_eq!(stored.borrow().children()[2].children()[3].kind, "hardBreak", "a line break in a message");
}

// ------------------------------------------------------------ errors

#[test]
fn jira_statuses_become_crm_errors() {
    let url = format!("{API}/issue/CRM-7/comment/1");
    let get = |h: &Harness| h.run(|| Jira::get_call_log(ctx(), "CRM-7/1".into()));

    let h = Harness::new().on("GET", &url, rate_limited(17));
    assert!(matches!(get(&h), Err(CrmError::RateLimited(17))));

    let h = Harness::new().on("GET", &url, |_| {
        Ok(HttpResponseWit {
            status: 429,
            headers: vec![("RateLimit-Reason".into(), "jira-burst-based".into())],
            body: vec![],
        })
    });
    assert!(matches!(get(&h), Err(CrmError::RateLimited(60))), "no Retry-After: a minute");
    assert!(h.logs().iter().any(|l| l.contains("jira-burst-based")), "{:?}", h.logs());

    let h = Harness::new().on("GET", &url, reply(401, r#"{"code":401,"message":"Unauthorized"}"#));
    assert!(matches!(get(&h), Err(CrmError::Unauthorized(m)) if m.contains("Unauthorized")));

    let h = Harness::new().on(
        "GET",
        &url,
        reply(403, r#"{"errorMessages":["You do not have the permission to see the specified issue."],"errors":{}}"#),
    );
    assert!(
        matches!(get(&h), Err(CrmError::InvalidInput(m)) if m.contains("permission to see")),
        "403 is no token problem"
    );

    let h = Harness::new().on(
        "GET",
        &url,
        reply(
            404,
            r#"{"errorMessages":["Issue does not exist or you do not have permission to see it."],"errors":{}}"#,
        ),
    );
    assert!(matches!(get(&h), Err(CrmError::NotFound(m)) if m.contains("Issue does not exist")));

    let h = Harness::new().on("GET", &url, reply(503, "<html>down</html>"));
    assert!(matches!(get(&h), Err(CrmError::Upstream(m)) if m.contains("503")));

    let h = settings().on(
        "POST",
        &format!("{API}/issue"),
        reply(400, r#"{"errorMessages":[],"errors":{"customfield_10050":"Field 'customfield_10050' cannot be set. It is not on the appropriate screen, or unknown."}}"#),
    );
    let new = NewContact {
        phone_number: "+1".into(),
        name: "N".into(),
        contact_type: None,
        additional_submission_json: None,
    };
    assert!(
        matches!(h.run(|| Jira::create_contact(ctx(), new)), Err(CrmError::InvalidInput(m)) if m.contains("customfield_10050: Field"))
    );
}

#[test]
fn a_connection_without_a_cloud_id_sends_nothing() {
    let h = settings();
    assert!(matches!(h.run(|| Jira::find_contact(context(), "+1".into(), vec![])), Err(CrmError::Unauthorized(_))));
    let evil = CallContext { hostname: "x/../../oauth".into(), ..context() };
    assert!(matches!(h.run(|| Jira::find_contact(evil, "+1".into(), vec![])), Err(CrmError::Unauthorized(_))));
    assert!(h.requests().is_empty());
}

#[test]
fn unauthorize_calls_nothing() {
    let h = Harness::new();
    h.run(|| Jira::unauthorize(ctx())).unwrap();
    assert!(h.requests().is_empty());
}

#[test]
fn a_name_search_is_a_summary_phrase_search_and_dispositions_are_declined() {
    let h = settings().on(
        "POST",
        &format!("{API}/search/jql"),
        answer(|_| (200, json!({"issues": [issue("CRM-7", "Luke Skywalker", "+16505551212")], "isLast": true}))),
    );
    let found = h.run(|| Jira::find_contact_by_name(ctx(), "Luke \"Red 5\"".into())).unwrap();
    assert_eq!((found[0].id.as_str(), found[0].name.as_str()), ("CRM-7", "Luke Skywalker"));
    assert_eq!(h.requests()[0].json()["jql"], r#"project = "CRM" AND summary ~ "\"Luke \\\"Red 5\\\"\"""#);
    let declined = h.run(|| Jira::set_call_disposition(ctx(), "CRM-7/1".into(), "{}".into()));
    assert!(matches!(declined, Err(CrmError::Unsupported(_))), "{declined:?}");
}

// ------------------------------------------------------------ retries after a crash

const KEY: &str = "sb-0123456789abcdef0123456789abcdef";
const ME: &str = "5b10ac8d82e05b22cc7d4ef5";

/// The newest comments of CRM-7: `(id, author)`.
fn recent(comments: &[(&str, &str)]) -> String {
    let comments: Vec<Value> = comments
        .iter()
        .map(|(id, author)| {
            json!({"id": id, "author": {"accountId": author, "displayName": "x"},
                   "body": {"type": "doc", "version": 1, "content": []}, "created": "2026-01-01T10:00:00.000+0000"})
        })
        .collect();
    json!({"startAt": 0, "maxResults": 50, "total": comments.len(), "comments": comments}).to_string()
}

/// `POST /comment/list` answering each asked id with the property `key` on comment `marked`.
fn listed(marked: u64, key: &'static str) -> impl Fn(&Sent) -> Result<HttpResponseWit, HttpErrorWit> {
    answer(move |sent| {
        let values: Vec<Value> = sent.json()["ids"]
            .as_array()
            .expect("ids")
            .iter()
            .map(|id| {
                let props = if id.as_u64() == Some(marked) {
                    json!([{"key": "switchboard", "value": {"idempotencyKey": key}}])
                } else {
                    json!([])
                };
                json!({"id": id.to_string(), "properties": props})
            })
            .collect();
        (200, json!({"startAt": 0, "maxResults": 1000, "total": values.len(), "isLast": true, "values": values}))
    })
}

fn keyed(key: &str) -> CallLogInput {
    CallLogInput { idempotency_key: key.into(), ..call_log(None) }
}

#[test]
fn a_new_comment_carries_the_idempotency_key_as_a_property() {
    let h = no_earlier().on(
        "POST",
        &format!("{API}/issue/CRM-7/comment"),
        reply(201, r#"{"id":"10001","body":{"type":"doc","version":1,"content":[]}}"#),
    );
    assert_eq!(h.run(|| Jira::create_call_log(ctx(), keyed(KEY))).unwrap(), "CRM-7/10001");
    let sent = h.requests();
    assert_eq!(sent.len(), 2, "no comments on the issue: no comment/list");
    assert_eq!(sent[0].method, "GET");
    assert_eq!(sent[0].url, format!("{API}/issue/CRM-7/comment?orderBy=-created&maxResults=50"));
    assert_eq!(sent[1].json()["properties"], json!([{"key": "switchboard", "value": {"idempotencyKey": KEY}}]));
}

#[test]
fn a_retry_finds_the_earlier_attempts_comment_among_the_users_own() {
    let h = Harness::new()
        .on(
            "GET",
            &format!("{API}/issue/CRM-7/comment?*"),
            reply(200, &recent(&[("10003", "someone-else"), ("10002", ME), ("10001", ME)])),
        )
        .on("POST", &format!("{API}/comment/list?expand=properties"), listed(10001, KEY));
    assert_eq!(h.run(|| Jira::create_call_log(ctx(), keyed(KEY))).unwrap(), "CRM-7/10001");
    let sent = h.requests();
    assert_eq!(sent.len(), 2, "found: no comment created");
    assert_eq!(sent[1].method, "POST");
    assert_eq!(sent[1].url, format!("{API}/comment/list?expand=properties"));
    assert_eq!(sent[1].json(), json!({"ids": [10002, 10001]}), "only the user's own comments, as numbers");

    // A message log the same way.
    let m = MessageLogInput { idempotency_key: KEY.into(), ..message("m-1", Direction::Inbound, "+1", "hi", "t") };
    assert_eq!(h.run(|| Jira::create_message_log(ctx(), m)).unwrap(), "CRM-7/10001");
    assert!(!h.requests().iter().any(|s| s.url.ends_with("/issue/CRM-7/comment")), "nothing created");
}

#[test]
fn another_calls_key_or_other_authors_comments_lead_to_a_new_comment() {
    let other = "sb-ffffffffffffffffffffffffffffffff";
    let h = Harness::new()
        .on("GET", &format!("{API}/issue/CRM-7/comment?*"), reply(200, &recent(&[("10001", ME)])))
        .on("POST", &format!("{API}/comment/list?expand=properties"), listed(10001, KEY))
        .on(
            "POST",
            &format!("{API}/issue/CRM-7/comment"),
            reply(201, r#"{"id":"10002","body":{"type":"doc","version":1,"content":[]}}"#),
        );
    assert_eq!(h.run(|| Jira::create_call_log(ctx(), keyed(other))).unwrap(), "CRM-7/10002");
    let sent = h.requests();
    assert_eq!(sent.len(), 3);
    assert_eq!(sent[2].json()["properties"][0]["value"]["idempotencyKey"], other);

    // Only comments by someone else: not even a comment/list.
    let h = Harness::new()
        .on("GET", &format!("{API}/issue/CRM-7/comment?*"), reply(200, &recent(&[("10001", "someone-else")])))
        .on(
            "POST",
            &format!("{API}/issue/CRM-7/comment"),
            reply(201, r#"{"id":"10002","body":{"type":"doc","version":1,"content":[]}}"#),
        );
    assert_eq!(h.run(|| Jira::create_call_log(ctx(), keyed(KEY))).unwrap(), "CRM-7/10002");
    let methods: Vec<String> = h.requests().iter().map(|s| s.method.clone()).collect();
    assert_eq!(methods, ["GET", "POST"]);
}
