//! Switchboard adapter for Clio Manage, API v4 (`https://{region}/api/v4`).
//!
//! | App Connect          | Clio API v4                                                         |
//! |----------------------|---------------------------------------------------------------------|
//! | get-user-info        | `GET /api/v4/users/who_am_i.json?fields=id,name`                    |
//! | find-contact         | `GET /api/v4/contacts.json?query=&fields=` per number variant, paged; open matters per contact: `GET /api/v4/matters.json?client_id=&status=open` (concurrently, `send_all`) |
//! | create-contact       | `POST /api/v4/contacts.json` (Person or Company)                    |
//! | create-call-log      | `GET /api/v4/communications.json?external_property_name=switchboard_idempotency_key&external_property_value=<key>` (an earlier attempt's), else `POST /api/v4/communications.json` (`PhoneCommunication`, the key as an external property); optional time entry `POST /api/v4/activities.json` (after an earlier attempt's communication, only if `GET /api/v4/activities.json?communication_id=` finds none) |
//! | update-call-log      | `GET` + `PATCH /api/v4/communications/{id}.json`                    |
//! | get-call-log         | `GET /api/v4/communications/{id}.json?fields=id,subject,body,matter{id}` |
//! | create-message-log   | as create-call-log: an earlier attempt's communication by its external property, else `POST /api/v4/communications.json`, one per conversation |
//! | update-message-log   | `GET` + `PATCH /api/v4/communications/{id}.json` (message appended) |
//! | unauthorize          | `POST /oauth/deauthorize`                                           |
//! | find-contact-by-name | `GET /api/v4/contacts.json?query=&fields=` (one page), open matters as for find-contact |
//! | set-call-disposition | `PATCH /api/v4/communications/{id}.json` (`matter` from the form's `matters`) |
//!
//! The connection's hostname (`ctx.hostname`) is the user's region: one of
//! `app.clio.com`, `eu.app.clio.com`, `ca.app.clio.com`, `au.app.clio.com`.
//! See README.md for the settings and what each operation sends.
//!
//! One long file: one function per operation in the table above, with the paging and region helpers
//! they share.

mod wire;

use serde_json::Value;
use switchboard_sdk::http::{Request, send_all};
use switchboard_sdk::phone;
use switchboard_sdk::prelude::*;
use wire::*;

/// Clio's regions; the first is the default.
pub const HOSTS: [&str; 4] = ["app.clio.com", "eu.app.clio.com", "ca.app.clio.com", "au.app.clio.com"];

/// Pages of search results read per number variant (Clio pages hold up to 200).
const MAX_PAGES_PER_VARIANT: usize = 3;
const PAGE_LIMIT: &str = "200";

struct Clio;

/// `https://<region>` for this connection; a hostname that is not one of
/// Clio's regions is refused. An empty one (a connection made before regions
/// were recorded) is the US region, as App Connect assumed.
fn base(ctx: &CallContext) -> Result<String, CrmError> {
    let host = ctx.hostname.trim();
    let host = host.strip_prefix("https://").unwrap_or(host).trim_end_matches('/').to_ascii_lowercase();
    if host.is_empty() {
        return Ok(format!("https://{}", HOSTS[0]));
    }
    if HOSTS.contains(&host.as_str()) {
        Ok(format!("https://{host}"))
    } else {
        Err(CrmError::InvalidInput(format!("{host:?} is not a Clio region; expected one of {}", HOSTS.join(", "))))
    }
}

/// A Clio record id: a positive integer.
fn clio_id(value: &str, what: &str) -> Result<u64, CrmError> {
    value
        .trim()
        .parse::<u64>()
        .ok()
        .filter(|id| *id > 0)
        .ok_or_else(|| CrmError::InvalidInput(format!("{what} {value:?} is not a Clio id (a number)")))
}

/// The Clio user the connection belongs to, as a communication party.
fn user_id(ctx: &CallContext) -> Option<u64> {
    let id = ctx.crm_user_id.trim().parse().ok();
    if id.is_none() {
        switchboard_sdk::log::warn(&format!(
            "the connection's Clio user id {:?} is not a number; the user is left out of the communication",
            ctx.crm_user_id
        ));
    }
    id
}

fn setting_true(key: &str) -> bool {
    switchboard_sdk::config(key).is_some_and(|v| matches!(v.trim().to_ascii_lowercase().as_str(), "true" | "1" | "yes"))
}

/// What a client may add in `additionalSubmission` (App Connect's Clio
/// fields): `matters` (or `matterId`), the matter to file the record under,
/// and `logTimeEntry`, whether to add a time entry for a call.
#[derive(Default, Debug, PartialEq)]
struct Extra {
    matter: Option<u64>,
    log_time_entry: Option<bool>,
}

impl Extra {
    fn parse(json: Option<&str>) -> Result<Extra, CrmError> {
        let Some(json) = json.filter(|j| !j.trim().is_empty()) else { return Ok(Extra::default()) };
        let v: Value = serde_json::from_str(json)
            .map_err(|e| CrmError::InvalidInput(format!("additionalSubmission is not JSON: {e}")))?;
        let matter = match v.get("matters").or_else(|| v.get("matterId")) {
            None | Some(Value::Null) => None,
            Some(Value::String(s)) if s.trim().is_empty() => None,
            Some(Value::Number(n)) => Some(clio_id(&n.to_string(), "matter")?),
            Some(Value::String(s)) => Some(clio_id(s, "matter")?),
            Some(other) => return Err(CrmError::InvalidInput(format!("matter {other} is not a Clio id"))),
        };
        let log_time_entry = match v.get("logTimeEntry") {
            Some(Value::Bool(b)) => Some(*b),
            Some(Value::String(s)) if s.eq_ignore_ascii_case("true") => Some(true),
            Some(Value::String(s)) if s.eq_ignore_ascii_case("false") => Some(false),
            _ => None,
        };
        Ok(Extra { matter, log_time_entry })
    }

    /// A time entry is added when the client asks (`logTimeEntry: true`), or
    /// when it does not say and the operator setting `time_entries` is "true".
    fn wants_time_entry(&self) -> bool {
        self.log_time_entry.unwrap_or_else(|| setting_true("time_entries"))
    }
}

/// Outbound requests left in this call.
struct Budget(usize);

impl Budget {
    /// The whole budget the host gives this call (`limits.outbound_requests_per_call`).
    fn new() -> Budget {
        Budget(switchboard_sdk::request_budget())
    }
    fn take(&mut self) -> bool {
        let ok = self.0 > 0;
        self.0 = self.0.saturating_sub(1);
        ok
    }
}

/// The next page's URL on this connection's host. Clio answers with an
/// absolute URL; only its path and query are kept, so paging can never leave
/// the region the user logged in to.
fn next_page(base: &str, next: &str) -> Result<String, CrmError> {
    let rest = match next.split_once("://") {
        Some((_, after)) => after.find('/').map(|i| &after[i..]).unwrap_or("/"),
        None => next,
    };
    if !rest.starts_with("/api/v4/") {
        return Err(CrmError::Upstream(format!("unexpected next page URL from Clio: {next:?}")));
    }
    Ok(format!("{base}{rest}"))
}

/// The open matters of each contact, read concurrently within the budget.
/// A contact whose matters cannot be read is still shown (without them),
/// unless Clio refused the token or asked us to slow down.
fn open_matters(base: &str, ids: &[String], budget: &mut Budget) -> Result<Vec<Option<Vec<Matter>>>, CrmError> {
    let n = ids.len().min(budget.0);
    if n < ids.len() {
        switchboard_sdk::log::warn(&format!(
            "{} contacts found; matters are read for the first {n} only (request budget)",
            ids.len()
        ));
    }
    let requests: Vec<Request> = ids[..n]
        .iter()
        .map(|id| {
            Request::get(format!("{base}/api/v4/matters.json"))
                .query("client_id", id)
                .query("status", "open")
                .query("fields", MATTER_FIELDS)
        })
        .collect();
    budget.0 -= n;
    let mut out = Vec::with_capacity(ids.len());
    for (id, answer) in ids.iter().zip(send_all(requests)) {
        match answer.and_then(|r| r.error_for_status()).and_then(|r| r.json::<Page<Matter>>()) {
            Ok(page) => out.push(Some(page.data)),
            Err(e @ (CrmError::Unauthorized(_) | CrmError::RateLimited(_))) => return Err(e),
            Err(e) => {
                switchboard_sdk::log::warn(&format!("cannot read the matters of Clio contact {id}: {e:?}"));
                out.push(None);
            }
        }
    }
    out.resize_with(ids.len(), || None);
    Ok(out)
}

fn communication_url(base: &str, id: u64) -> String {
    format!("{base}/api/v4/communications/{id}.json")
}

fn read_communication(base: &str, id: u64) -> Result<Communication, CrmError> {
    let c: Data<Communication> =
        Request::get(communication_url(base, id)).query("fields", COMMUNICATION_FIELDS).send_json()?;
    Ok(c.data)
}

/// The communication an earlier attempt with this idempotency key created
/// (its `switchboard_idempotency_key` external property), if any.
fn earlier_communication(base: &str, key: &str) -> Result<Option<String>, CrmError> {
    let key = key.trim();
    if key.is_empty() {
        return Ok(None);
    }
    let page: Page<Created> = Request::get(format!("{base}/api/v4/communications.json"))
        .query("external_property_name", IDEMPOTENCY_PROPERTY)
        .query("external_property_value", key)
        .query("fields", "id")
        .query("limit", "1")
        .send_json()?;
    Ok(page.data.into_iter().next().map(|c| c.id))
}

/// A communication for `data`, marked with the log's idempotency key: the one
/// an earlier attempt created (`true`), else a new one (`false`).
fn find_or_create_communication(base: &str, data: CommunicationData, key: &str) -> Result<(u64, bool), CrmError> {
    if let Some(id) = earlier_communication(base, key)? {
        switchboard_sdk::log::info(&format!("communication {id} was created by an earlier attempt"));
        return Ok((clio_id(&id, "the earlier communication's id")?, true));
    }
    let data = CommunicationData { external_properties: ExternalProperty::idempotency_key(key), ..data };
    let created: Data<Created> = Request::post(format!("{base}/api/v4/communications.json"))
        .query("fields", "id")
        .json(&NewCommunication { data })?
        .send_json()?;
    Ok((clio_id(&created.data.id, "the new communication's id")?, false))
}

/// Whether a time entry is linked to the communication already (an earlier
/// attempt's). Time entries have no external properties to search by, but
/// Clio's activities index filters by `communication_id`.
/// When Clio cannot say, the answer is yes (logged): a missing time entry can
/// be added by hand, a duplicate would bill the call twice.
fn has_time_entry(base: &str, communication: u64) -> bool {
    let page: Result<Page<Created>, CrmError> = Request::get(format!("{base}/api/v4/activities.json"))
        .query("communication_id", &communication.to_string())
        .query("fields", "id")
        .query("limit", "1")
        .send_json();
    page.map(|p| !p.data.is_empty()).unwrap_or_else(|e| {
        switchboard_sdk::log::warn(&format!(
            "cannot tell whether communication {communication} has its time entry; none is added: {e:?}"
        ));
        true
    })
}

/// Adds the call's time entry; a refusal is logged, not returned: the call
/// is logged either way, and failing here would make the client retry.
fn add_time_entry(base: &str, data: TimeEntryData) {
    let communication = data.communication.id;
    let sent = Request::post(format!("{base}/api/v4/activities.json"))
        .query("fields", "id")
        .json(&NewTimeEntry { data })
        .and_then(Request::send);
    if let Err(e) = sent {
        switchboard_sdk::log::warn(&format!(
            "communication {communication} logged, but Clio refused its time entry: {e:?}"
        ));
    }
}

fn patch_communication(base: &str, id: u64, data: PatchData) -> Result<(), CrmError> {
    Request::patch(communication_url(base, id)).query("fields", "id").json(&CommunicationPatch { data })?.send()?;
    Ok(())
}

impl Adapter for Clio {
    fn get_user_info(ctx: CallContext) -> Result<UserInfo, CrmError> {
        let base = base(&ctx)?;
        let me: Data<WhoAmI> =
            Request::get(format!("{base}/api/v4/users/who_am_i.json")).query("fields", "id,name").send_json()?;
        let host = base.trim_start_matches("https://").to_owned();
        Ok(UserInfo { id: me.data.id, name: me.data.name, hostname: Some(host) })
    }

    fn find_contact(
        ctx: CallContext,
        phone_number: String,
        overriding_formats: Vec<String>,
    ) -> Result<Vec<Contact>, CrmError> {
        let base = base(&ctx)?;
        let mut budget = Budget::new();
        // At most half the budget for searching; the rest reads matters.
        let mut searches_left = budget.0.div_ceil(2);
        // (contact, the variant that found it)
        let mut found: Vec<(WireContact, String)> = Vec::new();
        'variants: for variant in phone::search_variants(&phone_number, &overriding_formats) {
            let mut request = Request::get(format!("{base}/api/v4/contacts.json"))
                .query("query", &variant)
                .query("fields", CONTACT_FIELDS)
                .query("limit", PAGE_LIMIT);
            for _ in 0..MAX_PAGES_PER_VARIANT {
                if searches_left == 0 || !budget.take() {
                    switchboard_sdk::log::warn("contact search stopped early: request budget used up");
                    break 'variants;
                }
                searches_left -= 1;
                let page: Page<WireContact> = request.send_json()?;
                let next = page.next().map(|n| next_page(&base, n)).transpose()?;
                for c in page.data {
                    if !found.iter().any(|(f, _)| f.id == c.id) {
                        found.push((c, variant.clone()));
                    }
                }
                match next {
                    Some(url) => request = Request::get(url),
                    None => break,
                }
            }
        }
        let ids: Vec<String> = found.iter().map(|(c, _)| c.id.clone()).collect();
        let matters = open_matters(&base, &ids, &mut budget)?;
        let log_time_entry = setting_true("time_entries");
        Ok(found.into_iter().zip(matters).map(|((c, v), m)| c.into_contact(&v, m, log_time_entry)).collect())
    }

    fn create_contact(ctx: CallContext, contact: NewContact) -> Result<Contact, CrmError> {
        let base = base(&ctx)?;
        if contact.name.trim().is_empty() {
            return Err(CrmError::InvalidInput("a Clio contact needs a name".into()));
        }
        let created: Data<WireContact> = Request::post(format!("{base}/api/v4/contacts.json"))
            .query("fields", CONTACT_FIELDS)
            .json(&NewWireContact::from_new(&contact))?
            .send_json()?;
        let mut c = created.data.into_contact(&contact.phone_number, None, setting_true("time_entries"));
        c.phone = contact.phone_number;
        Ok(c)
    }

    fn create_call_log(ctx: CallContext, log: CallLogInput) -> Result<String, CrmError> {
        let base = base(&ctx)?;
        let contact = clio_id(&log.contact_id, "contactId")?;
        let extra = Extra::parse(log.additional_submission_json.as_deref())?;
        let (senders, receivers) = parties(log.direction, contact, user_id(&ctx));
        let subject = switchboard_sdk::call_log::subject(&log);
        let data = CommunicationData {
            r#type: "PhoneCommunication",
            subject: subject.clone(),
            body: CallBody::from_call(&log).render(),
            date: log.start_time.as_deref().and_then(date_of),
            received_at: log.start_time.clone(),
            senders,
            receivers,
            matter: extra.matter.map(|id| IdRef { id }),
            external_properties: Vec::new(),
        };
        let (communication, earlier) = find_or_create_communication(&base, data, &log.idempotency_key)?;
        let seconds = log.duration_seconds.unwrap_or(0);
        if extra.wants_time_entry() && seconds > 0 && !(earlier && has_time_entry(&base, communication)) {
            add_time_entry(
                &base,
                TimeEntryData {
                    r#type: "TimeEntry",
                    quantity: seconds,
                    date: log.start_time.as_deref().and_then(date_of),
                    note: subject,
                    matter: extra.matter.map(|id| IdRef { id }),
                    communication: IdRef { id: communication },
                },
            );
        }
        Ok(communication.to_string())
    }

    fn update_call_log(ctx: CallContext, update: CallLogUpdate) -> Result<(), CrmError> {
        let base = base(&ctx)?;
        let id = clio_id(&update.log_id, "logId")?;
        let mut patch = PatchData { subject: update.subject.filter(|s| !s.trim().is_empty()), ..Default::default() };
        let body_changes = update.note.is_some()
            || update.duration_seconds.is_some()
            || update.call_result.is_some()
            || update.recording_link.is_some()
            || update.start_time.is_some();
        if body_changes {
            // Read-modify-write: the body holds the note and the call details.
            let mut body = CallBody::parse(read_communication(&base, id)?.body.as_deref().unwrap_or_default());
            if let Some(note) = update.note {
                body.note = note;
            }
            if let Some(s) = update.duration_seconds {
                body.set("Duration", duration_text(s));
            }
            if let Some(r) = update.call_result.filter(|r| !r.is_empty()) {
                body.set("Result", r);
            }
            if let Some(r) = update.recording_link.filter(|r| !r.is_empty()) {
                body.set("Recording", r);
            }
            if let Some(t) = update.start_time.filter(|t| !t.is_empty()) {
                body.set("Started", t.clone());
                patch.date = date_of(&t);
                patch.received_at = Some(t);
            }
            patch.body = Some(body.render());
        }
        if patch.is_empty() {
            return Ok(());
        }
        patch_communication(&base, id, patch)
    }

    fn get_call_log(ctx: CallContext, log_id: String) -> Result<CallLog, CrmError> {
        let base = base(&ctx)?;
        let c = read_communication(&base, clio_id(&log_id, "logId")?)?;
        let full = c.body.unwrap_or_default();
        let body = CallBody::parse(&full);
        Ok(CallLog {
            log_id: c.id,
            subject: c.subject.unwrap_or_default(),
            contact_name: body.get("Contact").map(str::to_owned),
            note: body.note,
            full_body: Some(full),
            dispositions_json: c.matter.map(|m| serde_json::json!({ "matters": m.id }).to_string()),
        })
    }

    fn create_message_log(ctx: CallContext, log: MessageLogInput) -> Result<String, CrmError> {
        let base = base(&ctx)?;
        let contact = clio_id(&log.contact_id, "contactId")?;
        let extra = Extra::parse(log.additional_submission_json.as_deref())?;
        let (senders, receivers) = parties(Some(log.message.direction), contact, user_id(&ctx));
        let started = Some(log.message.creation_time.clone()).filter(|t| !t.is_empty());
        let data = CommunicationData {
            r#type: "PhoneCommunication",
            subject: conversation_subject(&log),
            body: message_line(&log.message),
            date: started.as_deref().and_then(date_of),
            received_at: started,
            senders,
            receivers,
            matter: extra.matter.map(|id| IdRef { id }),
            external_properties: Vec::new(),
        };
        let (communication, _) = find_or_create_communication(&base, data, &log.idempotency_key)?;
        Ok(communication.to_string())
    }

    fn update_message_log(ctx: CallContext, log_id: String, log: MessageLogInput) -> Result<(), CrmError> {
        let base = base(&ctx)?;
        let id = clio_id(&log_id, "logId")?;
        let body = read_communication(&base, id)?.body.unwrap_or_default();
        let line = message_line(&log.message);
        if body.lines().any(|l| l == line) {
            return Ok(()); // appended before (a retry)
        }
        let body = if body.is_empty() { line } else { format!("{body}\n{line}") };
        patch_communication(&base, id, PatchData { body: Some(body), ..Default::default() })
    }

    fn find_contact_by_name(ctx: CallContext, name: String) -> Result<Vec<Contact>, CrmError> {
        let base = base(&ctx)?;
        let mut budget = Budget::new();
        if !budget.take() {
            return Err(CrmError::Internal("no request budget left for the search".into()));
        }
        let page: Page<WireContact> = Request::get(format!("{base}/api/v4/contacts.json"))
            .query("query", name.trim())
            .query("fields", CONTACT_FIELDS)
            .query("limit", PAGE_LIMIT)
            .send_json()?;
        let ids: Vec<String> = page.data.iter().map(|c| c.id.clone()).collect();
        let matters = open_matters(&base, &ids, &mut budget)?;
        let log_time_entry = setting_true("time_entries");
        Ok(page.data.into_iter().zip(matters).map(|(c, m)| c.into_contact("", m, log_time_entry)).collect())
    }

    fn set_call_disposition(ctx: CallContext, log_id: String, dispositions_json: String) -> Result<(), CrmError> {
        let base = base(&ctx)?;
        let id = clio_id(&log_id, "logId")?;
        let Some(matter) = Extra::parse(Some(&dispositions_json))?.matter else {
            return Ok(()); // no matter chosen: the communication stays as it is
        };
        patch_communication(&base, id, PatchData { matter: Some(IdRef { id: matter }), ..Default::default() })
    }

    fn unauthorize(ctx: CallContext) -> Result<(), CrmError> {
        let base = base(&ctx)?;
        // The host adds `Authorization: Bearer <access token>`; that is the
        // token Clio deauthorizes (the adapter never sees it, so it cannot
        // also send it as the `token` form parameter).
        match Request::post(format!("{base}/oauth/deauthorize")).send() {
            Ok(_) => Ok(()),
            Err(CrmError::Unauthorized(m)) => {
                switchboard_sdk::log::info(&format!("the Clio token was no longer valid: {m}"));
                Ok(())
            }
            Err(e) => Err(e),
        }
    }
}

switchboard_sdk::export_adapter!(Clio);

#[cfg(all(test, not(target_arch = "wasm32")))]
mod tests;
