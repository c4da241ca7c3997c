//! Switchboard adapter for Pipedrive. The base URL is the connection's
//! hostname: the `api_domain` of Pipedrive's token response
//! (`https://<company>.pipedrive.com`).
//!
//! | App Connect          | Pipedrive API                                                       |
//! |----------------------|---------------------------------------------------------------------|
//! | get-user-info        | `GET /api/v1/users/me`                                              |
//! | find-contact         | `GET /api/v2/persons/search?term=&fields=phone&exact_match=true` per number variant (cursor pages), then per person `GET /api/v2/deals?person_id=&status=open` and `GET /api/v1/leads?person_id=` at once (`send_all`) |
//! | create-contact       | `POST /api/v2/persons` (`phones: [{value, primary, label}]`)        |
//! | create-call-log      | `GET /api/v1/activityTypes` (unless configured), `POST /api/v2/activities` |
//! | update-call-log      | `GET` + `PATCH /api/v2/activities/{id}` (`GET` only when the note changes) |
//! | get-call-log         | `GET /api/v2/activities/{id}`, `GET /api/v2/persons/{id}` for the name |
//! | create-message-log   | `GET /api/v1/activityTypes` (unless configured), `POST /api/v2/activities` |
//! | update-message-log   | `GET` + `PATCH /api/v2/activities/{id}` (the message appended to the note) |
//! | unauthorize          | nothing here: the host revokes at `oauth.pipedrive.com/oauth/revoke` |

mod wire;

use switchboard_sdk::http::Request;
use switchboard_sdk::phone;
use switchboard_sdk::prelude::*;
use wire::*;

/// Where the API is when a connection has no company domain (yet).
const DEFAULT_BASE: &str = "https://api.pipedrive.com";

/// Search requests (all number variants and pages together) in one lookup,
/// when the call's request budget (`switchboard_sdk::request_budget()`) has room.
const MAX_SEARCH_REQUESTS: usize = 9;
/// Persons whose deals and leads are fetched (two requests each) in one lookup:
/// 9 searches + 2 × 8 = 25, the whole default budget at worst.
const MAX_ENRICHED_PERSONS: usize = 8;
/// Results per search page (Pipedrive's default and maximum are 100 and 500).
const SEARCH_PAGE: &str = "100";
/// Deals and leads listed per person (one page).
const ENRICH_PAGE: &str = "50";

/// The company's API base URL from the connection's hostname.
fn base(ctx: &CallContext) -> String {
    let h = ctx.hostname.trim().trim_end_matches('/');
    if h.is_empty() {
        DEFAULT_BASE.to_owned()
    } else if h.starts_with("https://") || h.starts_with("http://") {
        h.to_owned()
    } else {
        format!("https://{h}")
    }
}

/// Pipedrive's statuses: the SDK's mapping, except that a 429 without
/// `Retry-After` waits for Pipedrive's `x-ratelimit-reset` (seconds until the
/// window resets), and at least a second.
const STATUSES: StatusMap =
    StatusMap::DEFAULT.retry_after_headers(&["retry-after", "x-ratelimit-reset"]).min_retry_after(1);

fn send(req: Request) -> Result<Response, CrmError> {
    req.send_with(&STATUSES)
}

fn send_json<T: serde::de::DeserializeOwned>(req: Request) -> Result<T, CrmError> {
    req.send_json_with(&STATUSES)
}

/// Several requests at once (the host runs them concurrently, bounded); the
/// answers in order, statuses mapped like [`send`]'s.
fn send_all(requests: Vec<Request>) -> Vec<Result<Response, CrmError>> {
    switchboard_sdk::http::send_all(requests).into_iter().map(|r| r.and_then(|r| STATUSES.check(r))).collect()
}

fn valid_id(what: &str, id: &str) -> Result<u64, CrmError> {
    numeric_id(what, id)
}

/// The activity type for a kind of log: the operator's setting when given,
/// else the first active type of Pipedrive's list matching `wanted` (by
/// `key_string` or name). `None` leaves `type` out, and Pipedrive uses its default.
fn activity_type(setting: &str, wanted: &[&str], base: &str) -> Result<Option<String>, CrmError> {
    if let Some(t) = switchboard_sdk::config(setting).map(|t| t.trim().to_owned()).filter(|t| !t.is_empty()) {
        return Ok(Some(t));
    }
    let types: Envelope<Option<Vec<ActivityType>>> = send_json(Request::get(format!("{base}/api/v1/activityTypes")))?;
    let picked = pick_type(types.data.as_deref().unwrap_or_default(), wanted);
    if picked.is_none() {
        switchboard_sdk::log::warn(&format!(
            "no active Pipedrive activity type matches {wanted:?}; set `{setting}` in the adapter's settings"
        ));
    }
    Ok(picked)
}

fn participants(contact_id: &str) -> Result<Option<Vec<Participant>>, CrmError> {
    if contact_id.trim().is_empty() {
        return Ok(None);
    }
    Ok(Some(vec![Participant { person_id: valid_id("contact id", contact_id)?, primary: true }]))
}

fn get_activity(base: &str, id: u64) -> Result<Activity, CrmError> {
    let a: Envelope<Activity> = send_json(Request::get(format!("{base}/api/v2/activities/{id}")))?;
    Ok(a.data)
}

fn patch_activity(base: &str, id: u64, body: &ActivityBody) -> Result<(), CrmError> {
    send(Request::patch(format!("{base}/api/v2/activities/{id}")).json(body)?)?;
    Ok(())
}

fn create_activity(base: &str, body: &ActivityBody) -> Result<String, CrmError> {
    let created: Envelope<Activity> = send_json(Request::post(format!("{base}/api/v2/activities")).json(body)?)?;
    Ok(created.data.id.to_string())
}

/// Searches one number variant, following cursors while the search's share
/// of the budget (`max_searches`) lasts.
fn search_variant(
    base: &str,
    variant: &str,
    max_searches: usize,
    searches: &mut usize,
    found: &mut Vec<Contact>,
    seen: &mut Vec<u64>,
) -> Result<(), CrmError> {
    let mut cursor: Option<String> = None;
    loop {
        if *searches >= max_searches {
            switchboard_sdk::log::warn(&format!("stopped searching after {max_searches} requests"));
            return Ok(());
        }
        let mut req = Request::get(format!("{base}/api/v2/persons/search"))
            .query("term", variant)
            .query("fields", "phone")
            .query("exact_match", "true")
            .query("limit", SEARCH_PAGE);
        if let Some(c) = &cursor {
            req = req.query("cursor", c);
        }
        *searches += 1;
        let page: Envelope<Option<SearchData>> = send_json(req)?;
        cursor = page.next_cursor().map(str::to_owned);
        for hit in page.data.unwrap_or_default().items.into_iter().map(|i| i.item) {
            if !seen.contains(&hit.id) {
                seen.push(hit.id);
                let phone = hit.matched_phone(variant);
                found.push(hit.into_contact(phone));
            }
        }
        if cursor.is_none() {
            return Ok(());
        }
    }
}

/// The answer of an enrichment request, or `None` (logged) when it failed.
fn keep<T>(what: &str, person: &str, answer: Option<Result<T, CrmError>>) -> Option<T> {
    match answer? {
        Ok(v) => Some(v),
        Err(e) => {
            switchboard_sdk::log::warn(&format!("{what} of person {person}: {e:?}"));
            None
        }
    }
}

/// Adds each person's open deals and leads as `additionalInfo`, all requests
/// at once, for as many persons as the request budget allows. A failure here
/// (a scope the app lacks, a rate limit) leaves that person without them.
fn enrich(base: &str, contacts: &mut [Contact], budget: usize, searches: usize) {
    let room = budget.saturating_sub(searches) / 2;
    let n = contacts.len().min(MAX_ENRICHED_PERSONS).min(room);
    if n < contacts.len() {
        switchboard_sdk::log::info(&format!("deals and leads shown for the first {n} of {} persons", contacts.len()));
    }
    let mut requests = Vec::with_capacity(2 * n);
    for c in &contacts[..n] {
        requests.push(
            Request::get(format!("{base}/api/v2/deals"))
                .query("person_id", &c.id)
                .query("status", "open")
                .query("limit", ENRICH_PAGE),
        );
        requests
            .push(Request::get(format!("{base}/api/v1/leads")).query("person_id", &c.id).query("limit", ENRICH_PAGE));
    }
    let mut answers = send_all(requests).into_iter();
    for c in &mut contacts[..n] {
        let deals = answers.next().map(|r| r.and_then(|r| r.json::<Envelope<Option<Vec<Deal>>>>()));
        let leads = answers.next().map(|r| r.and_then(|r| r.json::<Envelope<Option<Vec<Lead>>>>()));
        let deals = keep("open deals", &c.id, deals);
        let leads = keep("leads", &c.id, leads);
        c.additional_info_json = Some(additional_info(deals.and_then(|d| d.data), leads.and_then(|l| l.data)));
    }
}

struct Pipedrive;

impl Adapter for Pipedrive {
    fn get_user_info(ctx: CallContext) -> Result<UserInfo, CrmError> {
        let me: Envelope<Me> = send_json(Request::get(format!("{}/api/v1/users/me", base(&ctx))))?;
        // Without an api_domain from the token, the company's domain is the hostname.
        let hostname = match (ctx.hostname.trim().is_empty(), me.data.company_domain.as_deref()) {
            (true, Some(d)) if !d.is_empty() => Some(format!("https://{d}.pipedrive.com")),
            _ => None,
        };
        Ok(UserInfo { id: me.data.id.to_string(), name: me.data.name, hostname })
    }

    fn find_contact(
        ctx: CallContext,
        phone_number: String,
        overriding_formats: Vec<String>,
    ) -> Result<Vec<Contact>, CrmError> {
        let base = base(&ctx);
        let budget = switchboard_sdk::request_budget();
        let max_searches = MAX_SEARCH_REQUESTS.min(budget);
        let (mut found, mut seen, mut searches) = (Vec::new(), Vec::new(), 0);
        for variant in phone::search_variants(&phone_number, &overriding_formats) {
            search_variant(&base, &variant, max_searches, &mut searches, &mut found, &mut seen)?;
        }
        enrich(&base, &mut found, budget, searches);
        Ok(found)
    }

    fn create_contact(ctx: CallContext, contact: NewContact) -> Result<Contact, CrmError> {
        if let Some(t) = contact.contact_type.as_deref().filter(|t| !t.is_empty() && !t.eq_ignore_ascii_case("person"))
        {
            return Err(CrmError::InvalidInput(format!("Pipedrive contacts are persons, not {t:?}")));
        }
        let name = contact.name.trim();
        if name.is_empty() {
            return Err(CrmError::InvalidInput("a Pipedrive person needs a name".into()));
        }
        let body =
            NewPerson { name, phones: vec![PhoneEntry { value: &contact.phone_number, primary: true, label: "work" }] };
        let created: Envelope<Person> =
            send_json(Request::post(format!("{}/api/v2/persons", base(&ctx))).json(&body)?)?;
        Ok(Contact {
            id: created.data.id.to_string(),
            name: created.data.name.unwrap_or_else(|| name.to_owned()),
            phone: contact.phone_number,
            contact_type: Some("person".into()),
            organization: None,
            additional_info_json: None,
        })
    }

    fn create_call_log(ctx: CallContext, log: CallLogInput) -> Result<String, CrmError> {
        let base = base(&ctx);
        let participants = participants(&log.contact_id)?;
        let (deal_id, lead_id) = deal_or_lead(log.additional_submission_json.as_deref());
        let kind = activity_type("call_activity_type", &["call"], &base)?;
        let (due_date, due_time) = log.start_time.as_deref().and_then(rfc3339_utc).unzip();
        let body = ActivityBody {
            subject: Some(switchboard_sdk::call_log::subject(&log)),
            kind,
            done: Some(true),
            due_date,
            due_time,
            duration: log.duration_seconds.map(pipedrive_duration),
            participants,
            deal_id,
            lead_id,
            note: Some(CallNote::from_call(&log).to_html()).filter(|n| !n.is_empty()),
        };
        create_activity(&base, &body)
    }

    fn update_call_log(ctx: CallContext, update: CallLogUpdate) -> Result<(), CrmError> {
        let base = base(&ctx);
        let id = valid_id("call log id", &update.log_id)?;
        let (due_date, due_time) = update.start_time.as_deref().and_then(rfc3339_utc).unzip();
        let (deal_id, lead_id) = deal_or_lead(update.additional_submission_json.as_deref());
        let mut body = ActivityBody {
            subject: update.subject.clone().filter(|s| !s.trim().is_empty()),
            due_date,
            due_time,
            duration: update.duration_seconds.map(pipedrive_duration),
            deal_id,
            lead_id,
            ..Default::default()
        };
        let touches_note = update.note.is_some()
            || update.duration_seconds.is_some()
            || update.call_result.is_some()
            || update.recording_link.is_some();
        if touches_note {
            let current = get_activity(&base, id)?;
            let mut note = CallNote::parse(current.note.as_deref().unwrap_or_default());
            note.apply(&update);
            body.note = Some(note.to_html());
        }
        patch_activity(&base, id, &body)
    }

    fn get_call_log(ctx: CallContext, log_id: String) -> Result<CallLog, CrmError> {
        let base = base(&ctx);
        let a = get_activity(&base, valid_id("call log id", &log_id)?)?;
        let contact_name = match a.person() {
            Some(pid) => match send_json::<Envelope<Person>>(Request::get(format!("{base}/api/v2/persons/{pid}"))) {
                Ok(p) => p.data.name,
                Err(CrmError::NotFound(_)) => None,
                Err(e) => return Err(e),
            },
            None => None,
        };
        let html = a.note.unwrap_or_default();
        Ok(CallLog {
            log_id: a.id.to_string(),
            subject: a.subject.unwrap_or_default(),
            note: CallNote::parse(&html).notes.unwrap_or_default(),
            contact_name,
            full_body: Some(html_to_text(&html)),
        })
    }

    fn create_message_log(ctx: CallContext, log: MessageLogInput) -> Result<String, CrmError> {
        let base = base(&ctx);
        let participants = participants(&log.contact_id)?;
        let (deal_id, lead_id) = deal_or_lead(log.additional_submission_json.as_deref());
        let kind = activity_type("message_activity_type", &["sms", "text", "text message", "call"], &base)?;
        let (due_date, due_time) = rfc3339_utc(&log.message.creation_time).unzip();
        let body = ActivityBody {
            subject: Some(message_subject(&log)),
            kind,
            done: Some(true),
            due_date,
            due_time,
            participants,
            deal_id,
            lead_id,
            note: Some(message_html(&log.message)),
            ..Default::default()
        };
        create_activity(&base, &body)
    }

    fn update_message_log(ctx: CallContext, log_id: String, log: MessageLogInput) -> Result<(), CrmError> {
        let base = base(&ctx);
        let id = valid_id("message log id", &log_id)?;
        let current = get_activity(&base, id)?;
        let note = current.note.unwrap_or_default() + &message_html(&log.message);
        patch_activity(&base, id, &ActivityBody { note: Some(note), ..Default::default() })
    }

    fn unauthorize(_ctx: CallContext) -> Result<(), CrmError> {
        // The host revokes the tokens at the manifest's revoke_url
        // (oauth.pipedrive.com, RFC 7009) and deletes them; nothing to do here.
        Ok(())
    }
}

switchboard_sdk::export_adapter!(Pipedrive);

#[cfg(all(test, not(target_arch = "wasm32")))]
mod tests {
    //! Native unit tests through the SDK harness (`cargo test --target x86_64-unknown-linux-gnu -p pipedrive`).

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
        serde_json::json!({"success": true, "data": {"items": items}, "additional_data": {"next_cursor": next}})
            .to_string()
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
        assert_eq!(
            (found[0].id.as_str(), found[0].name.as_str(), found[0].phone.as_str()),
            ("1", "Luke", "+16505551212")
        );
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
        let h = Harness::new().on("GET", &format!("{BASE}/api/v1/activityTypes"), reply(200, TYPES)).on(
            "POST",
            &format!("{BASE}/api/v2/activities"),
            reply(200, r#"{"success":true,"data":{"id":501,"type":"call"}}"#),
        );
        assert_eq!(h.run(|| Pipedrive::create_call_log(ctx(), call("1"))).unwrap(), "501");
        let sent = h.requests();
        assert_eq!(sent.len(), 2);
        let body = sent[1].json();
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
        let h = Harness::new().setting("call_activity_type", "phone_call").on(
            "POST",
            &format!("{BASE}/api/v2/activities"),
            reply(200, r#"{"success":true,"data":{"id":502}}"#),
        );
        h.run(|| Pipedrive::create_call_log(ctx(), call("1"))).unwrap();
        assert_eq!(urls(&h), vec![format!("POST {BASE}/api/v2/activities")]);
        assert_eq!(h.requests()[0].json()["type"], "phone_call");

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
        assert_eq!(log.note, "plans");
        assert_eq!(log.contact_name.as_deref(), Some("Luke Skywalker"));
        assert!(log.full_body.unwrap().contains("Direction: Inbound"));
    }

    #[test]
    fn messages_of_a_conversation_share_one_activity() {
        let h = Harness::new().on("GET", &format!("{BASE}/api/v1/activityTypes"), reply(200, TYPES)).on(
            "POST",
            &format!("{BASE}/api/v2/activities"),
            reply(200, r#"{"success":true,"data":{"id":601}}"#),
        );
        let id =
            h.run(|| Pipedrive::create_message_log(ctx(), message("m1", "Help me", "2026-11-22T10:00:00Z"))).unwrap();
        assert_eq!(id, "601");
        let body = h.requests()[1].json();
        assert_eq!(body["type"], "sms", "the SMS type when the company has one");
        assert_eq!(body["subject"], "SMS conversation with Luke");
        assert_eq!(body["note"], "<p>[2026-11-22 10:00 UTC] Inbound SMS from +16505551212: Help me</p>");

        let first = serde_json::json!({"success": true, "data": {"id": 601, "note": body["note"]}}).to_string();
        let h = Harness::new().on("GET", &format!("{BASE}/api/v2/activities/601"), reply(200, &first)).on(
            "PATCH",
            &format!("{BASE}/api/v2/activities/601"),
            reply(200, r#"{"success":true,"data":{"id":601}}"#),
        );
        h.run(|| {
            Pipedrive::update_message_log(ctx(), "601".into(), message("m2", "On <my> way", "2026-11-22T10:01:00Z"))
        })
        .unwrap();
        let note = h.requests()[1].json()["note"].as_str().unwrap().to_owned();
        assert_eq!(html_to_text(&note).lines().count(), 2, "{note}");
        assert!(note.ends_with("Inbound SMS from +16505551212: On &lt;my&gt; way</p>"), "{note}");

        // Without an SMS type, messages are calls.
        let only_call = r#"{"success":true,"data":[{"id":1,"name":"Call","key_string":"call","active_flag":true}]}"#;
        let h = Harness::new().on("GET", &format!("{BASE}/api/v1/activityTypes"), reply(200, only_call)).on(
            "POST",
            &format!("{BASE}/api/v2/activities"),
            reply(200, r#"{"success":true,"data":{"id":602}}"#),
        );
        h.run(|| Pipedrive::create_message_log(ctx(), message("m1", "hi", "2026-11-22T10:00:00Z"))).unwrap();
        assert_eq!(h.requests()[1].json()["type"], "call");
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
        let h = Harness::new().on(
            "GET",
            &me,
            reply(401, r#"{"success":false,"error":"unauthorized access","errorCode":401}"#),
        );
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
}
