//! Switchboard adapter for Pipedrive. The base URL is the connection's
//! hostname: the `api_domain` of Pipedrive's token response
//! (`https://<company>.pipedrive.com`).
//!
//! | App Connect          | Pipedrive API                                                       |
//! |----------------------|---------------------------------------------------------------------|
//! | get-user-info        | `GET /api/v1/users/me`                                              |
//! | find-contact         | `GET /api/v2/persons/search?term=&fields=phone&exact_match=true` per number variant (cursor pages), then per person `GET /api/v2/deals?person_id=&status=open` and `GET /api/v1/leads?person_id=` at once (`send_all`) |
//! | create-contact       | `POST /api/v2/persons` (`phones: [{value, primary, label}]`)        |
//! | create-call-log      | `GET /api/v2/activities?person_id=&sort_by=update_time&sort_direction=desc&limit=50` (`owner_id=` without a contact): an earlier attempt's activity, by the `Ref: <key>` line of its note; else `GET /api/v1/activityTypes` (unless configured), `POST /api/v2/activities` |
//! | update-call-log      | `GET` + `PATCH /api/v2/activities/{id}` (`GET` only when the note changes) |
//! | get-call-log         | `GET /api/v2/activities/{id}`, `GET /api/v2/persons/{id}` for the name |
//! | create-message-log   | as create-call-log (the `Ref:` line heads the note, the messages follow) |
//! | update-message-log   | `GET` + `PATCH /api/v2/activities/{id}` (the message appended to the note) |
//! | unauthorize          | nothing here: the host revokes at `oauth.pipedrive.com/oauth/revoke` |
//! | find-contact-by-name | `GET /api/v2/persons/search?term=&fields=name` (one page), then deals and leads as for find-contact |
//! | set-call-disposition | `PATCH /api/v2/activities/{id}` (`deal_id` or `lead_id` from the form's `deals` / `leads`) |

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
/// The newest activities of a person (or the user) searched for an earlier
/// attempt's (one page).
const RECENT_ACTIVITIES: &str = "50";

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

/// The operator's activity type for a kind of log, if set.
fn configured_type(setting: &str) -> Option<String> {
    switchboard_sdk::config(setting).map(|t| t.trim().to_owned()).filter(|t| !t.is_empty())
}

/// The activity type for a kind of log: the operator's setting when given,
/// else the first active type of Pipedrive's list matching `wanted` (by
/// `key_string` or name). `None` leaves `type` out, and Pipedrive uses its default.
fn activity_type(setting: &str, wanted: &[&str], base: &str) -> Result<Option<String>, CrmError> {
    if let Some(t) = configured_type(setting) {
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

/// Where an earlier attempt's activity would be: among the person's
/// activities, else (a log without a contact) the user's own.
fn recent_activities(base: &str, ctx: &CallContext, person: Option<u64>) -> Option<Request> {
    let req = Request::get(format!("{base}/api/v2/activities"));
    let req = match person {
        Some(id) => req.query("person_id", &id.to_string()),
        None if !ctx.crm_user_id.trim().is_empty() => req.query("owner_id", ctx.crm_user_id.trim()),
        None => return None,
    };
    Some(req.query("sort_by", "update_time").query("sort_direction", "desc").query("limit", RECENT_ACTIVITIES))
}

/// The activity an earlier attempt with this idempotency key created: one of
/// the newest activities of the person (or the user) whose note carries its
/// `Ref:` line. Skipped (logged) when the request budget has no room for the
/// search besides the create and the activity type lookup.
fn earlier_activity(
    base: &str,
    ctx: &CallContext,
    person: Option<u64>,
    key: &str,
    type_setting: &str,
) -> Result<Option<String>, CrmError> {
    if key.trim().is_empty() {
        return Ok(None);
    }
    let needed = 2 + usize::from(configured_type(type_setting).is_none());
    if switchboard_sdk::request_budget() < needed {
        switchboard_sdk::log::warn("no request budget to look for an earlier attempt's activity; creating one");
        return Ok(None);
    }
    let Some(req) = recent_activities(base, ctx, person) else { return Ok(None) };
    let page: Envelope<Option<Vec<Activity>>> = send_json(req)?;
    let found =
        page.data.unwrap_or_default().into_iter().find(|a| a.note.as_deref().is_some_and(|n| carries_ref(n, key)));
    Ok(found.map(|a| a.id.to_string()))
}

fn person_of(participants: &Option<Vec<Participant>>) -> Option<u64> {
    participants.as_deref().and_then(|p| p.first()).map(|p| p.person_id)
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
        if let Some(id) =
            earlier_activity(&base, &ctx, person_of(&participants), &log.idempotency_key, "call_activity_type")?
        {
            switchboard_sdk::log::info(&format!("activity {id} was created by an earlier attempt"));
            return Ok(id);
        }
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
        let html = a.note.clone().unwrap_or_default();
        let dispositions_json = dispositions_of(&a);
        Ok(CallLog {
            log_id: a.id.to_string(),
            subject: a.subject.unwrap_or_default(),
            note: CallNote::parse(&html).notes.unwrap_or_default(),
            contact_name,
            full_body: Some(html_to_text(&html)),
            dispositions_json,
        })
    }

    fn create_message_log(ctx: CallContext, log: MessageLogInput) -> Result<String, CrmError> {
        let base = base(&ctx);
        let participants = participants(&log.contact_id)?;
        let key = &log.idempotency_key;
        if let Some(id) = earlier_activity(&base, &ctx, person_of(&participants), key, "message_activity_type")? {
            switchboard_sdk::log::info(&format!("activity {id} was created by an earlier attempt"));
            return Ok(id);
        }
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
            note: Some(first_message_html(&log.message, key)),
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

    fn find_contact_by_name(ctx: CallContext, name: String) -> Result<Vec<Contact>, CrmError> {
        let base = base(&ctx);
        let req = Request::get(format!("{base}/api/v2/persons/search"))
            .query("term", name.trim())
            .query("fields", "name")
            .query("limit", SEARCH_PAGE);
        let page: Envelope<Option<SearchData>> = send_json(req)?;
        let mut found: Vec<Contact> =
            page.data.unwrap_or_default().items.into_iter().map(|i| i.item.into_contact_first_phone()).collect();
        enrich(&base, &mut found, switchboard_sdk::request_budget(), 1);
        Ok(found)
    }

    fn set_call_disposition(ctx: CallContext, log_id: String, dispositions_json: String) -> Result<(), CrmError> {
        let id = valid_id("call log id", &log_id)?;
        let (deal_id, lead_id) = deal_or_lead(Some(&dispositions_json));
        if deal_id.is_none() && lead_id.is_none() {
            return Ok(()); // nothing chosen: the activity stays as it is
        }
        patch_activity(&base(&ctx), id, &ActivityBody { deal_id, lead_id, ..Default::default() })
    }

    fn unauthorize(_ctx: CallContext) -> Result<(), CrmError> {
        // The host revokes the tokens at the manifest's revoke_url
        // (oauth.pipedrive.com, RFC 7009) and deletes them; nothing to do here.
        Ok(())
    }
}

switchboard_sdk::export_adapter!(Pipedrive);

#[cfg(all(test, not(target_arch = "wasm32")))]
mod tests;
