//! Native unit tests through the SDK harness (`cargo test --target
//! x86_64-unknown-linux-gnu -p pipedrive` in `adapters/`).

use super::*;
use switchboard_sdk::harness::{Harness, Sent, rate_limited, reply, sample_call_log, sample_message};

const BASE: &str = "https://acme.pipedrive.com";

fn ctx() -> CallContext {
    CallContext { request_id: "test".into(), crm_user_id: "7".into(), hostname: BASE.into() }
}

fn search_page(items: &[(u64, &str, &str)], next: Option<&str>) -> String {
    let items: Vec<serde_json::Value> = items
        .iter()
        .map(|(id, name, phone)| {
            serde_json::json!({"result_score": 1.0, "item": {"id": id, "type": "person", "name": name,
                "phones": [phone], "emails": [], "visible_to": 3, "owner": {"id": 7},
                "organization": {"id": 5, "name": "Rebel Alliance", "address": null},
                "custom_fields": [], "notes": []}})
        })
        .collect();
    serde_json::json!({"success": true, "data": {"items": items}, "additional_data": {"next_cursor": next}}).to_string()
}

fn call(contact_id: &str) -> CallLogInput {
    CallLogInput {
        contact_name: Some("Luke".into()),
        note: Some("plans".into()),
        start_time: Some("2024-05-27T08:53:20.000Z".into()),
        additional_submission_json: Some(r#"{"deals": 31}"#.into()),
        ..sample_call_log(contact_id)
    }
}

fn message(id: &str, text: &str, at: &str) -> MessageLogInput {
    MessageLogInput { contact_name: Some("Luke".into()), ..sample_message("1", id, text, at) }
}

const TYPES: &str = r#"{"success":true,"data":[
    {"id":1,"order_nr":1,"name":"Call","key_string":"call","icon_key":"call","active_flag":true,"is_custom_flag":false},
    {"id":2,"order_nr":2,"name":"Meeting","key_string":"meeting","icon_key":"meeting","active_flag":true,"is_custom_flag":false},
    {"id":9,"order_nr":9,"name":"SMS","key_string":"sms","icon_key":"bubble","active_flag":true,"is_custom_flag":true}]}"#;

const NO_ACTIVITIES: &str = r#"{"success":true,"data":[],"additional_data":{"next_cursor":null}}"#;

/// A harness where the person has no activities yet (no earlier attempt's).
fn no_earlier() -> Harness {
    Harness::new().on("GET", &format!("{BASE}/api/v2/activities?*"), reply(200, NO_ACTIVITIES))
}

fn urls(h: &Harness) -> Vec<String> {
    h.requests().into_iter().map(|r: Sent| format!("{} {}", r.method, r.url)).collect()
}

#[test]
fn the_base_url_is_the_api_domain() {
    let with =
        |h: &str| base(&CallContext { request_id: String::new(), crm_user_id: String::new(), hostname: h.into() });
    assert_eq!(with("https://acme.pipedrive.com/"), "https://acme.pipedrive.com");
    assert_eq!(with("acme.pipedrive.com"), "https://acme.pipedrive.com");
    assert_eq!(with(""), "https://api.pipedrive.com");
}

#[test]
fn user_info_comes_from_users_me() {
    let me = r#"{"success":true,"data":{"id":7,"name":"Ada Lovelace","company_domain":"acme","company_id":3}}"#;
    let h = Harness::new().on("GET", &format!("{BASE}/api/v1/users/me"), reply(200, me));
    let u = h.run(|| Pipedrive::get_user_info(ctx())).unwrap();
    assert_eq!((u.id.as_str(), u.name.as_str(), u.hostname), ("7", "Ada Lovelace", None));
    // No api_domain: api.pipedrive.com, and the company domain becomes the hostname.
    let h = Harness::new().on("GET", "https://api.pipedrive.com/api/v1/users/me", reply(200, me));
    let u = h.run(|| Pipedrive::get_user_info(switchboard_sdk::harness::context())).unwrap();
    assert_eq!(u.hostname.as_deref(), Some("https://acme.pipedrive.com"));
}

#[test]
fn find_contact_searches_each_variant_follows_cursors_and_enriches_at_once() {
    let search = format!("{BASE}/api/v2/persons/search?term=");
    let q = "&fields=phone&exact_match=true&limit=100";
    let h = Harness::new()
        .on("GET", &format!("{search}%2B16505551212{q}"), reply(200, &search_page(&[(1, "Luke", "+16505551212")], Some("c2"))))
        .on("GET", &format!("{search}%2B16505551212{q}&cursor=c2"), reply(200, &search_page(&[(2, "Leia", "+16505551212")], None)))
        .on("GET", &format!("{search}%28650%29%20555-1212{q}"), reply(200, &search_page(&[(1, "Luke", "(650) 555-1212")], None)))
        .on("GET", &format!("{BASE}/api/v2/deals?person_id=1&status=open&limit=50"),
            reply(200, r#"{"success":true,"data":[{"id":31,"title":"Death Star plans","status":"open"}],"additional_data":{"next_cursor":null}}"#))
        .on("GET", &format!("{BASE}/api/v1/leads?person_id=1&limit=50"),
            reply(200, r#"{"success":true,"data":[{"id":"adf21080-0e10-11eb-879b-05d71fb426ec","title":"X-wing parts"}]}"#))
        .on("GET", &format!("{BASE}/api/v2/deals?person_id=2&status=open&limit=50"), reply(200, r#"{"success":true,"data":[]}"#))
        .on("GET", &format!("{BASE}/api/v1/leads?person_id=2&limit=50"), reply(403, r#"{"success":false,"error":"scope"}"#));
    let found = h
        .run(|| Pipedrive::find_contact(ctx(), "+16505551212".into(), vec!["(***) ***-****".into(), "**".into()]))
        .unwrap();
    assert_eq!(found.len(), 2, "deduplicated by id");
    assert_eq!((found[0].id.as_str(), found[0].name.as_str(), found[0].phone.as_str()), ("1", "Luke", "+16505551212"));
    assert_eq!(found[0].organization.as_deref(), Some("Rebel Alliance"));
    let info: serde_json::Value = serde_json::from_str(found[0].additional_info_json.as_deref().unwrap()).unwrap();
    assert_eq!(info["deals"], serde_json::json!([{"const": 31, "title": "Death Star plans"}]));
    assert_eq!(info["leads"][0]["const"], "adf21080-0e10-11eb-879b-05d71fb426ec");
    let info: serde_json::Value = serde_json::from_str(found[1].additional_info_json.as_deref().unwrap()).unwrap();
    assert_eq!(info, serde_json::json!({"deals": [], "leads": []}), "a refused lead list leaves leads empty");
    assert_eq!(urls(&h).len(), 3 + 4, "{:#?}", urls(&h));
}

#[test]
fn enrichment_stays_within_the_request_budget() {
    let many: Vec<(u64, &str, &str)> = (1..=20).map(|i| (i, "Clone", "+16505551212")).collect();
    let h = Harness::new()
        .on("GET", &format!("{BASE}/api/v2/persons/search*"), reply(200, &search_page(&many, None)))
        .on("GET", &format!("{BASE}/api/v2/deals*"), reply(200, r#"{"success":true,"data":[]}"#))
        .on("GET", &format!("{BASE}/api/v1/leads*"), reply(200, r#"{"success":true,"data":[]}"#));
    let found = h.run(|| Pipedrive::find_contact(ctx(), "+16505551212".into(), vec![])).unwrap();
    assert_eq!(found.len(), 20, "every person is returned");
    assert_eq!(found.iter().filter(|c| c.additional_info_json.is_some()).count(), MAX_ENRICHED_PERSONS);
    let budget = h.run(switchboard_sdk::request_budget);
    assert!(h.requests().len() <= budget);
    // Endless pages: the search stops at its share of the budget.
    let h = Harness::new()
        .on("GET", &format!("{BASE}/api/v2/persons/search*"), |s: &Sent| {
            let n = s.url.len() as u64; // a new person per page
            reply(200, &search_page(&[(n, "Clone", "+16505551212")], Some(&format!("c{n}"))))(s)
        })
        .on("GET", &format!("{BASE}/api/v2/deals*"), reply(200, r#"{"success":true,"data":[]}"#))
        .on("GET", &format!("{BASE}/api/v1/leads*"), reply(200, r#"{"success":true,"data":[]}"#));
    h.run(|| Pipedrive::find_contact(ctx(), "+16505551212".into(), vec![])).unwrap();
    let budget = h.run(switchboard_sdk::request_budget);
    assert!(h.requests().len() <= budget, "{}", h.requests().len());
}

#[test]
fn a_smaller_request_budget_shrinks_the_search_and_the_enrichment() {
    let many: Vec<(u64, &str, &str)> = (1..=20).map(|i| (i, "Clone", "+16505551212")).collect();
    let endless = |s: &Sent| {
        let n = s.url.len() as u64; // a new person per page
        reply(200, &search_page(&[(n, "Clone", "+16505551212")], Some(&format!("c{n}"))))(s)
    };
    for (budget, pages) in [(11, false), (5, true)] {
        let h = Harness::new()
            .request_budget(budget)
            .on("GET", &format!("{BASE}/api/v2/deals*"), reply(200, r#"{"success":true,"data":[]}"#))
            .on("GET", &format!("{BASE}/api/v1/leads*"), reply(200, r#"{"success":true,"data":[]}"#));
        let h = if pages {
            h.on("GET", &format!("{BASE}/api/v2/persons/search*"), endless)
        } else {
            h.on("GET", &format!("{BASE}/api/v2/persons/search*"), reply(200, &search_page(&many, None)))
        };
        let found = h.run(|| Pipedrive::find_contact(ctx(), "+16505551212".into(), vec![])).unwrap();
        assert!(!found.is_empty());
        assert!(h.requests().len() <= budget, "budget {budget}: {:#?}", urls(&h));
    }
}

#[test]
fn a_person_is_created_with_a_primary_phone() {
    let h = Harness::new().on(
        "POST",
        &format!("{BASE}/api/v2/persons"),
        reply(200, r#"{"success":true,"data":{"id":99,"name":"Han Solo","phones":[{"value":"+14155550123","primary":true,"label":"work"}]}}"#),
    );
    let c = h
        .run(|| {
            Pipedrive::create_contact(
                ctx(),
                NewContact {
                    phone_number: "+14155550123".into(),
                    name: "Han Solo".into(),
                    contact_type: Some("person".into()),
                    additional_submission_json: None,
                },
            )
        })
        .unwrap();
    assert_eq!((c.id.as_str(), c.name.as_str()), ("99", "Han Solo"));
    let body = h.requests()[0].json();
    assert_eq!(
        body,
        serde_json::json!({"name": "Han Solo", "phones": [{"value": "+14155550123", "primary": true, "label": "work"}]})
    );
    let err = h.run(|| {
        Pipedrive::create_contact(
            ctx(),
            NewContact {
                phone_number: "+1".into(),
                name: "X".into(),
                contact_type: Some("organization".into()),
                additional_submission_json: None,
            },
        )
    });
    assert!(matches!(err, Err(CrmError::InvalidInput(_))));
}

#[test]
fn a_call_becomes_a_done_call_activity_with_a_primary_participant() {
    let h = no_earlier().on("GET", &format!("{BASE}/api/v1/activityTypes"), reply(200, TYPES)).on(
        "POST",
        &format!("{BASE}/api/v2/activities"),
        reply(200, r#"{"success":true,"data":{"id":501,"type":"call"}}"#),
    );
    assert_eq!(h.run(|| Pipedrive::create_call_log(ctx(), call("1"))).unwrap(), "501");
    let sent = h.requests();
    assert_eq!(sent.len(), 3, "the search for an earlier attempt's, the types, the create");
    let body = sent[2].json();
    assert_eq!(body["type"], "call");
    assert_eq!(body["done"], true);
    assert_eq!(body["subject"], "Inbound call from Luke");
    assert_eq!((body["due_date"].as_str(), body["due_time"].as_str()), (Some("2024-05-27"), Some("08:53")));
    assert_eq!(body["duration"], "00:01");
    assert_eq!(body["participants"], serde_json::json!([{"person_id": 1, "primary": true}]));
    assert!(body.get("person_id").is_none(), "read-only in v2");
    assert_eq!(body["deal_id"], 31);
    let note = body["note"].as_str().unwrap();
    assert!(note.starts_with("<p><b>Agent notes</b><br>plans</p>"), "{note}");
    assert!(note.contains("Result: Call connected") && note.contains("Duration: 42s"), "{note}");

    // An operator setting skips the lookup.
    let h = no_earlier().setting("call_activity_type", "phone_call").on(
        "POST",
        &format!("{BASE}/api/v2/activities"),
        reply(200, r#"{"success":true,"data":{"id":502}}"#),
    );
    h.run(|| Pipedrive::create_call_log(ctx(), call("1"))).unwrap();
    assert_eq!(
        urls(&h),
        vec![
            format!("GET {BASE}/api/v2/activities?person_id=1&sort_by=update_time&sort_direction=desc&limit=50"),
            format!("POST {BASE}/api/v2/activities")
        ]
    );
    assert_eq!(h.requests()[1].json()["type"], "phone_call");

    // A contact id that is not a Pipedrive id is refused before anything is sent.
    let h = Harness::new();
    assert!(matches!(h.run(|| Pipedrive::create_call_log(ctx(), call("c-1001"))), Err(CrmError::InvalidInput(_))));
    assert!(h.requests().is_empty());
}

#[test]
fn an_update_keeps_the_call_details_and_replaces_the_notes() {
    let existing = CallNote::from_call(&call("1")).to_html();
    let activity = serde_json::json!({"success": true, "data": {"id": 501, "subject": "s", "note": existing,
        "participants": [{"person_id": 1, "primary_flag": true}]}})
    .to_string();
    let h = Harness::new().on("GET", &format!("{BASE}/api/v2/activities/501"), reply(200, &activity)).on(
        "PATCH",
        &format!("{BASE}/api/v2/activities/501"),
        reply(200, r#"{"success":true,"data":{"id":501}}"#),
    );
    let update = CallLogUpdate {
        log_id: "501".into(),
        subject: Some("Call with Luke".into()),
        note: Some("Plans delivered".into()),
        duration_seconds: None,
        call_result: None,
        recording_link: Some("https://rec.example/1".into()),
        start_time: None,
        additional_submission_json: None,
    };
    h.run(|| Pipedrive::update_call_log(ctx(), update)).unwrap();
    let body = h.requests()[1].json();
    assert_eq!(body["subject"], "Call with Luke");
    let note = CallNote::parse(body["note"].as_str().unwrap());
    assert_eq!(note.notes.as_deref(), Some("Plans delivered"));
    assert!(note.details.contains(&("Ref".into(), "sb-test-call-s-1".into())), "the marker stays: {note:?}");
    assert!(note.details.contains(&("Result".into(), "Call connected".into())), "{note:?}");
    assert!(note.details.contains(&("Recording".into(), "https://rec.example/1".into())), "{note:?}");
    assert!(body.get("type").is_none() && body.get("participants").is_none(), "{body}");

    // A subject alone: no GET.
    let h = Harness::new().on(
        "PATCH",
        &format!("{BASE}/api/v2/activities/501"),
        reply(200, r#"{"success":true,"data":{"id":501}}"#),
    );
    let update = CallLogUpdate {
        log_id: "501".into(),
        subject: Some("Only the subject".into()),
        note: None,
        duration_seconds: None,
        call_result: None,
        recording_link: None,
        start_time: None,
        additional_submission_json: None,
    };
    h.run(|| Pipedrive::update_call_log(ctx(), update)).unwrap();
    assert_eq!(urls(&h), vec![format!("PATCH {BASE}/api/v2/activities/501")]);
}

#[test]
fn a_call_log_reads_back_with_its_person() {
    let existing = CallNote::from_call(&call("1")).to_html();
    let activity = serde_json::json!({"success": true, "data": {"id": 501, "subject": "Inbound call from Luke",
        "note": existing, "person_id": 1, "participants": [{"person_id": 1, "primary_flag": true}]}})
    .to_string();
    let h = Harness::new().on("GET", &format!("{BASE}/api/v2/activities/501"), reply(200, &activity)).on(
        "GET",
        &format!("{BASE}/api/v2/persons/1"),
        reply(200, r#"{"success":true,"data":{"id":1,"name":"Luke Skywalker"}}"#),
    );
    let log = h.run(|| Pipedrive::get_call_log(ctx(), "501".into())).unwrap();
    assert_eq!(log.subject, "Inbound call from Luke");
    assert_eq!(log.note, "plans", "the user's note, without the marker");
    assert_eq!(log.contact_name.as_deref(), Some("Luke Skywalker"));
    assert!(log.full_body.unwrap().contains("Direction: Inbound"));
}

#[test]
fn messages_of_a_conversation_share_one_activity() {
    let h = no_earlier().on("GET", &format!("{BASE}/api/v1/activityTypes"), reply(200, TYPES)).on(
        "POST",
        &format!("{BASE}/api/v2/activities"),
        reply(200, r#"{"success":true,"data":{"id":601}}"#),
    );
    let id = h.run(|| Pipedrive::create_message_log(ctx(), message("m1", "Help me", "2026-11-22T10:00:00Z"))).unwrap();
    assert_eq!(id, "601");
    let body = h.requests()[2].json();
    assert_eq!(body["type"], "sms", "the SMS type when the company has one");
    assert_eq!(body["subject"], "SMS conversation with Luke");
    assert_eq!(
        body["note"],
        "<p>Ref: sb-test-message-m1</p><p>[2026-11-22 10:00 UTC] Inbound SMS from +16505551212: Help me</p>"
    );

    let first = serde_json::json!({"success": true, "data": {"id": 601, "note": body["note"]}}).to_string();
    let h = Harness::new().on("GET", &format!("{BASE}/api/v2/activities/601"), reply(200, &first)).on(
        "PATCH",
        &format!("{BASE}/api/v2/activities/601"),
        reply(200, r#"{"success":true,"data":{"id":601}}"#),
    );
    h.run(|| Pipedrive::update_message_log(ctx(), "601".into(), message("m2", "On <my> way", "2026-11-22T10:01:00Z")))
        .unwrap();
    let note = h.requests()[1].json()["note"].as_str().unwrap().to_owned();
    assert_eq!(html_to_text(&note).lines().count(), 3, "the marker, then the messages: {note}");
    assert!(note.starts_with("<p>Ref: sb-test-message-m1</p>"), "{note}");
    assert!(note.ends_with("Inbound SMS from +16505551212: On &lt;my&gt; way</p>"), "{note}");

    // Without an SMS type, messages are calls.
    let only_call = r#"{"success":true,"data":[{"id":1,"name":"Call","key_string":"call","active_flag":true}]}"#;
    let h = no_earlier().on("GET", &format!("{BASE}/api/v1/activityTypes"), reply(200, only_call)).on(
        "POST",
        &format!("{BASE}/api/v2/activities"),
        reply(200, r#"{"success":true,"data":{"id":602}}"#),
    );
    h.run(|| Pipedrive::create_message_log(ctx(), message("m1", "hi", "2026-11-22T10:00:00Z"))).unwrap();
    assert_eq!(h.requests()[2].json()["type"], "call");
}

#[test]
fn crm_statuses_become_crm_errors() {
    let me = format!("{BASE}/api/v1/users/me");
    let h = Harness::new().on("GET", &me, rate_limited(30));
    assert!(matches!(h.run(|| Pipedrive::get_user_info(ctx())), Err(CrmError::RateLimited(30))));
    // Pipedrive's window reset when Retry-After is missing.
    let h = Harness::new().on("GET", &me, |_: &Sent| {
        Ok(switchboard_sdk::bindings::switchboard::crm::http::Response {
            status: 429,
            headers: vec![("x-ratelimit-limit".into(), "80".into()), ("x-ratelimit-reset".into(), "2".into())],
            body: br#"{"success":false,"error":"Request over limit","errorCode":429}"#.to_vec(),
        })
    });
    assert!(matches!(h.run(|| Pipedrive::get_user_info(ctx())), Err(CrmError::RateLimited(2))));
    let h =
        Harness::new().on("GET", &me, reply(401, r#"{"success":false,"error":"unauthorized access","errorCode":401}"#));
    assert!(matches!(h.run(|| Pipedrive::get_user_info(ctx())), Err(CrmError::Unauthorized(_))));
    let h = Harness::new().on(
        "GET",
        &format!("{BASE}/api/v2/activities/*"),
        reply(404, r#"{"success":false,"error":"Activity not found"}"#),
    );
    assert!(matches!(h.run(|| Pipedrive::get_call_log(ctx(), "1".into())), Err(CrmError::NotFound(_))));
    let h = Harness::new().on(
        "POST",
        &format!("{BASE}/api/v2/persons"),
        reply(400, r#"{"success":false,"error":"Name must be given","code":"ERR_BAD_REQUEST"}"#),
    );
    let r = h.run(|| {
        Pipedrive::create_contact(
            ctx(),
            NewContact {
                phone_number: "+1".into(),
                name: "X".into(),
                contact_type: None,
                additional_submission_json: None,
            },
        )
    });
    assert!(matches!(r, Err(CrmError::InvalidInput(m)) if m.contains("Name must be given")));
    assert!(matches!(h.run(|| Pipedrive::get_call_log(ctx(), "../users".into())), Err(CrmError::InvalidInput(_))));
}

#[test]
fn a_name_search_asks_persons_by_name_and_adds_their_deals() {
    let h = Harness::new()
        .on(
            "GET",
            &format!("{BASE}/api/v2/persons/search?term=Luke&fields=name&limit=100"),
            reply(200, &search_page(&[(1, "Luke Skywalker", "+16505551212")], None)),
        )
        .on(
            "GET",
            &format!("{BASE}/api/v2/deals*"),
            reply(200, r#"{"success":true,"data":[{"id":31,"title":"Plans","status":"open"}]}"#),
        )
        .on("GET", &format!("{BASE}/api/v1/leads*"), reply(200, r#"{"success":true,"data":[]}"#));
    let found = h.run(|| Pipedrive::find_contact_by_name(ctx(), " Luke ".into())).unwrap();
    assert_eq!((found[0].name.as_str(), found[0].phone.as_str()), ("Luke Skywalker", "+16505551212"));
    assert!(found[0].additional_info_json.as_deref().unwrap().contains("\"const\":31"), "{found:?}");
}

#[test]
fn a_disposition_links_the_activity_to_the_chosen_deal_or_lead_and_reads_back() {
    let h = Harness::new().on(
        "PATCH",
        &format!("{BASE}/api/v2/activities/77"),
        reply(200, r#"{"success":true,"data":{"id":77}}"#),
    );
    h.run(|| Pipedrive::set_call_disposition(ctx(), "77".into(), r#"{"deals":31,"note":"n"}"#.into())).unwrap();
    assert_eq!(h.requests()[0].json(), serde_json::json!({"deal_id": 31}));
    // Nothing chosen: nothing sent.
    let h = Harness::new();
    h.run(|| Pipedrive::set_call_disposition(ctx(), "77".into(), r#"{"note":"n"}"#.into())).unwrap();
    assert!(h.requests().is_empty());
    // Read back in the form's shape: the deal as the number its option carries.
    let h = Harness::new().on(
        "GET",
        &format!("{BASE}/api/v2/activities/77"),
        reply(200, r#"{"success":true,"data":{"id":77,"subject":"s","note":"","deal_id":31}}"#),
    );
    let log = h.run(|| Pipedrive::get_call_log(ctx(), "77".into())).unwrap();
    assert_eq!(log.dispositions_json.as_deref(), Some(r#"{"deals":31}"#));
}

// ------------------------------------------------------------ retries after a crash

const KEY: &str = "sb-0123456789abcdef0123456789abcdef";

/// The person's newest activities: `(id, note)`.
fn activities(items: &[(u64, &str)]) -> String {
    let data: Vec<serde_json::Value> = items
        .iter()
        .map(|(id, note)| {
            serde_json::json!({"id": id, "subject": "s", "type": "call", "note": note, "person_id": 1,
            "participants": [{"person_id": 1, "primary_flag": true}], "update_time": "2024-06-01T12:00:00Z"})
        })
        .collect();
    serde_json::json!({"success": true, "data": data, "additional_data": {"next_cursor": "more"}}).to_string()
}

fn keyed(key: &str) -> CallLogInput {
    CallLogInput { idempotency_key: key.into(), ..call("1") }
}

#[test]
fn a_call_activity_carries_a_ref_line_in_its_details() {
    let h = no_earlier().setting("call_activity_type", "call").on(
        "POST",
        &format!("{BASE}/api/v2/activities"),
        reply(200, r#"{"success":true,"data":{"id":501}}"#),
    );
    assert_eq!(h.run(|| Pipedrive::create_call_log(ctx(), keyed(KEY))).unwrap(), "501");
    let note = h.requests()[1].json()["note"].as_str().unwrap().to_owned();
    assert!(note.contains(&format!("<br>Ref: {KEY}</p>")), "in the Call details: {note}");
    let parsed = CallNote::parse(&note);
    assert_eq!(parsed.notes.as_deref(), Some("plans"));
    assert!(carries_ref(&note, KEY) && !carries_ref(&note, "sb-other"));
}

#[test]
fn a_retry_returns_the_earlier_attempts_activity_without_creating() {
    let mine = CallNote::from_call(&keyed(KEY)).to_html();
    let other = CallNote::from_call(&keyed("sb-ffffffffffffffffffffffffffffffff")).to_html();
    let h = Harness::new().on(
        "GET",
        &format!("{BASE}/api/v2/activities?*"),
        reply(200, &activities(&[(503, &other), (502, "<p>typed in Pipedrive</p>"), (501, &mine)])),
    );
    assert_eq!(h.run(|| Pipedrive::create_call_log(ctx(), keyed(KEY))).unwrap(), "501");
    assert_eq!(
        urls(&h),
        vec![format!("GET {BASE}/api/v2/activities?person_id=1&sort_by=update_time&sort_direction=desc&limit=50")],
        "found: no type lookup, no create"
    );

    // Another call's key: a new activity.
    let h = Harness::new()
        .setting("call_activity_type", "call")
        .on("GET", &format!("{BASE}/api/v2/activities?*"), reply(200, &activities(&[(503, &other)])))
        .on("POST", &format!("{BASE}/api/v2/activities"), reply(200, r#"{"success":true,"data":{"id":504}}"#));
    assert_eq!(h.run(|| Pipedrive::create_call_log(ctx(), keyed(KEY))).unwrap(), "504");
    assert_eq!(h.requests().len(), 2);
}

#[test]
fn a_message_log_retry_finds_the_conversations_activity_and_a_log_without_contact_searches_the_users() {
    let message = MessageLogInput { idempotency_key: KEY.into(), ..message("m1", "Help me", "2026-11-22T10:00:00Z") };
    let earlier = first_message_html(&message.message, KEY) + "<p>a later message</p>";
    let h =
        Harness::new().on("GET", &format!("{BASE}/api/v2/activities?*"), reply(200, &activities(&[(601, &earlier)])));
    assert_eq!(h.run(|| Pipedrive::create_message_log(ctx(), message.clone())).unwrap(), "601");
    assert_eq!(h.requests().len(), 1);

    let no_contact = MessageLogInput { contact_id: String::new(), ..message };
    let h = h.setting("message_activity_type", "sms");
    assert_eq!(h.run(|| Pipedrive::create_message_log(ctx(), no_contact)).unwrap(), "601");
    assert_eq!(
        h.requests()[1].url,
        format!("{BASE}/api/v2/activities?owner_id=7&sort_by=update_time&sort_direction=desc&limit=50")
    );
}

#[test]
fn without_budget_for_the_search_the_create_goes_ahead() {
    let h = Harness::new().request_budget(2).on("GET", &format!("{BASE}/api/v1/activityTypes"), reply(200, TYPES)).on(
        "POST",
        &format!("{BASE}/api/v2/activities"),
        reply(200, r#"{"success":true,"data":{"id":505}}"#),
    );
    assert_eq!(h.run(|| Pipedrive::create_call_log(ctx(), keyed(KEY))).unwrap(), "505");
    assert_eq!(urls(&h).len(), 2, "{:?}", urls(&h));
    assert!(h.logs().iter().any(|l| l.contains("no request budget")), "{:?}", h.logs());
}
