//! Pipedrive's JSON shapes and their mapping to the WIT types ("transformers").
//!
//! Shapes follow Pipedrive's API reference (developers.pipedrive.com) and its
//! generated clients: v2 wraps everything in `{success, data, additional_data}`
//! with cursor pagination (`additional_data.next_cursor`); v1 uses the same
//! envelope with `start`/`limit` pagination.
//!
//! One long file: every Pipedrive shape and its mapping beside it, so the file reads like the
//! vendor's API reference (about a third is its unit tests).

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use switchboard_sdk::phone::digits;
use switchboard_sdk::prelude::*;
use switchboard_sdk::text::{self, DurationUnits};

/// `{success, data, additional_data}`.
#[derive(Deserialize)]
pub struct Envelope<T> {
    pub data: T,
    #[serde(default)]
    pub additional_data: Option<AdditionalData>,
}

#[derive(Deserialize, Default)]
pub struct AdditionalData {
    #[serde(default)]
    pub next_cursor: Option<String>,
}

impl<T> Envelope<T> {
    pub fn next_cursor(&self) -> Option<&str> {
        self.additional_data.as_ref().and_then(|a| a.next_cursor.as_deref()).filter(|c| !c.is_empty())
    }
}

/// `GET /api/v1/users/me`.
#[derive(Deserialize)]
pub struct Me {
    pub id: u64,
    pub name: String,
    #[serde(default)]
    pub company_domain: Option<String>,
}

// ---------------------------------------------------------------- persons

/// `GET /api/v2/persons/search` → `data`.
#[derive(Deserialize, Default)]
pub struct SearchData {
    #[serde(default)]
    pub items: Vec<SearchItem>,
}

#[derive(Deserialize)]
pub struct SearchItem {
    pub item: PersonHit,
}

#[derive(Deserialize)]
pub struct PersonHit {
    pub id: u64,
    #[serde(default)]
    pub name: Option<String>,
    /// Search results carry phone numbers as plain strings.
    #[serde(default)]
    pub phones: Vec<String>,
    #[serde(default)]
    pub organization: Option<OrgRef>,
}

#[derive(Deserialize)]
pub struct OrgRef {
    #[serde(default)]
    pub name: Option<String>,
}

impl PersonHit {
    /// The stored number that matched `searched` (or the first one, or the searched number).
    pub fn matched_phone(&self, searched: &str) -> String {
        let want = digits(searched);
        self.phones
            .iter()
            .find(|p| p.trim().eq_ignore_ascii_case(searched.trim()))
            .or_else(|| self.phones.iter().find(|p| !want.is_empty() && digits(p) == want))
            .or_else(|| self.phones.first())
            .cloned()
            .unwrap_or_else(|| searched.to_owned())
    }

    /// As a contact, with its first phone (a search by name matched no number).
    pub fn into_contact_first_phone(self) -> Contact {
        let phone = self.phones.first().cloned().unwrap_or_default();
        self.into_contact(phone)
    }

    pub fn into_contact(self, phone: String) -> Contact {
        Contact {
            id: self.id.to_string(),
            name: self.name.unwrap_or_default(),
            phone,
            contact_type: Some("person".into()),
            organization: self.organization.and_then(|o| o.name).filter(|n| !n.is_empty()),
            additional_info_json: None,
        }
    }
}

/// `POST /api/v2/persons`.
#[derive(Serialize)]
pub struct NewPerson<'a> {
    pub name: &'a str,
    pub phones: Vec<PhoneEntry<'a>>,
}

#[derive(Serialize)]
pub struct PhoneEntry<'a> {
    pub value: &'a str,
    pub primary: bool,
    pub label: &'a str,
}

/// A person as v2 returns it (`POST /api/v2/persons`, `GET /api/v2/persons/{id}`).
#[derive(Deserialize)]
pub struct Person {
    pub id: u64,
    #[serde(default)]
    pub name: Option<String>,
}

// ---------------------------------------------------------- deals, leads

/// `GET /api/v2/deals` item.
#[derive(Deserialize)]
pub struct Deal {
    pub id: u64,
    #[serde(default)]
    pub title: Option<String>,
}

/// `GET /api/v1/leads` item (lead ids are UUIDs).
#[derive(Deserialize)]
pub struct Lead {
    pub id: String,
    #[serde(default)]
    pub title: Option<String>,
}

/// `additionalInfo` of a contact: its open deals and leads as App Connect
/// options (`{const, title}`), which the client offers when logging a call;
/// the chosen ones come back in `additionalSubmission` as `deals` / `leads`.
pub fn additional_info(deals: Option<Vec<Deal>>, leads: Option<Vec<Lead>>) -> String {
    let deals: Vec<Value> = deals
        .unwrap_or_default()
        .into_iter()
        .map(|d| json!({"const": d.id, "title": d.title.unwrap_or_default()}))
        .collect();
    let leads: Vec<Value> = leads
        .unwrap_or_default()
        .into_iter()
        .map(|l| json!({"const": l.id, "title": l.title.unwrap_or_default()}))
        .collect();
    json!({"deals": deals, "leads": leads}).to_string()
}

// ----------------------------------------------------------- activities

/// `GET /api/v1/activityTypes` item.
#[derive(Deserialize)]
pub struct ActivityType {
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub key_string: String,
    #[serde(default = "yes")]
    pub active_flag: bool,
}

fn yes() -> bool {
    true
}

/// Picks the key of the first active type whose key or name is one of `wanted`.
pub fn pick_type(types: &[ActivityType], wanted: &[&str]) -> Option<String> {
    wanted.iter().find_map(|w| {
        types
            .iter()
            .filter(|t| t.active_flag && !t.key_string.is_empty())
            .find(|t| t.key_string.eq_ignore_ascii_case(w) || t.name.eq_ignore_ascii_case(w))
            .map(|t| t.key_string.clone())
    })
}

/// In v2 `person_id` is read-only: a person is linked as the primary participant.
#[derive(Serialize)]
pub struct Participant {
    pub person_id: u64,
    pub primary: bool,
}

/// `POST /api/v2/activities` (and the fields `PATCH` may change).
#[derive(Serialize, Default)]
pub struct ActivityBody {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub subject: Option<String>,
    #[serde(rename = "type", skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub done: Option<bool>,
    /// `YYYY-MM-DD`, UTC.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub due_date: Option<String>,
    /// `HH:MM`, UTC.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub due_time: Option<String>,
    /// `HH:MM`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub duration: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub participants: Option<Vec<Participant>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub deal_id: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lead_id: Option<String>,
    /// HTML.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

/// An activity as v2 returns it.
#[derive(Deserialize)]
pub struct Activity {
    pub id: u64,
    #[serde(default)]
    pub subject: Option<String>,
    #[serde(default)]
    pub note: Option<String>,
    #[serde(default)]
    pub person_id: Option<u64>,
    #[serde(default)]
    pub participants: Option<Vec<ActivityParticipant>>,
    #[serde(default)]
    pub deal_id: Option<u64>,
    #[serde(default)]
    pub lead_id: Option<String>,
}

#[derive(Deserialize)]
pub struct ActivityParticipant {
    #[serde(default)]
    pub person_id: Option<u64>,
    #[serde(default)]
    pub primary_flag: Option<bool>,
}

impl Activity {
    /// The linked person: `person_id`, else the primary (or first) participant.
    pub fn person(&self) -> Option<u64> {
        let parts = self.participants.as_deref().unwrap_or_default();
        self.person_id
            .or_else(|| parts.iter().find(|p| p.primary_flag == Some(true)).and_then(|p| p.person_id))
            .or_else(|| parts.iter().find_map(|p| p.person_id))
    }
}

/// A numeric Pipedrive id from an App Connect string (`"42"`).
pub fn numeric_id(what: &str, id: &str) -> Result<u64, CrmError> {
    id.trim().parse().map_err(|_| CrmError::InvalidInput(format!("{what} {id:?} is not a Pipedrive id (a number)")))
}

/// `deals` / `leads` picked in the client (`additionalSubmission`): the deal
/// wins when both are given (an activity links to a deal or a lead).
/// The log form's `deals` / `leads` fields as the activity holds them (the
/// shape `deal_or_lead` reads), or `None` when it is linked to neither.
pub fn dispositions_of(a: &Activity) -> Option<String> {
    match (a.deal_id, a.lead_id.as_deref().filter(|l| !l.is_empty())) {
        (Some(deal), _) => Some(serde_json::json!({ "deals": deal }).to_string()),
        (None, Some(lead)) => Some(serde_json::json!({ "leads": lead }).to_string()),
        (None, None) => None,
    }
}

pub fn deal_or_lead(additional_submission_json: Option<&str>) -> (Option<u64>, Option<String>) {
    let Some(v) = additional_submission_json.and_then(|s| serde_json::from_str::<Value>(s).ok()) else {
        return (None, None);
    };
    let text = |k: &str| match &v[k] {
        Value::String(s) if !s.trim().is_empty() => Some(s.trim().to_owned()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    };
    if let Some(deal) = text("deals").or_else(|| text("deal_id")).and_then(|d| d.parse().ok()) {
        return (Some(deal), None);
    }
    (None, text("leads").or_else(|| text("lead_id")))
}

// ------------------------------------------------------------- the notes

/// `42` → `"42s"`, `185` → `"3m 05s"`, `3725` → `"1h 02m 05s"` (the exact
/// length, in the note; `duration` is whole minutes).
pub fn human_duration(secs: u64) -> String {
    text::duration(secs, DurationUnits::COMPACT)
}

/// Pipedrive's `duration` (`HH:MM`), minutes rounded up: a 42 s call is `00:01`.
pub fn pipedrive_duration(secs: u64) -> String {
    let minutes = secs.div_ceil(60);
    format!("{:02}:{:02}", minutes / 60, minutes % 60)
}

const NOTES: &str = "Agent notes";
const DETAILS: &str = "Call details";

/// A call activity's note: the agent's notes, then the call's details, as
/// two HTML paragraphs with bold headings (Pipedrive notes are HTML). Parsed
/// back from the text of the HTML, so Pipedrive's own reformatting of the
/// markup does not lose either part.
#[derive(Debug, Default, PartialEq)]
pub struct CallNote {
    pub notes: Option<String>,
    pub details: Vec<(String, String)>,
}

/// The detail holding the host's idempotency key, so a retry finds the activity.
pub const REF: &str = "Ref";

/// The marker a log's activity note carries: `Ref: <idempotency key>`.
pub fn ref_line(key: &str) -> String {
    format!("{REF}: {}", key.trim())
}

/// Whether an activity's note (HTML) carries the marker of `key`.
pub fn carries_ref(note_html: &str, key: &str) -> bool {
    let line = ref_line(key);
    html_to_text(note_html).lines().any(|l| l.trim() == line)
}

/// A conversation's first note: its marker paragraph (for a non-empty key), then the message.
pub fn first_message_html(m: &Message, key: &str) -> String {
    let marker = if key.trim().is_empty() { String::new() } else { format!("<p>{}</p>", escape(&ref_line(key))) };
    marker + &message_html(m)
}

impl CallNote {
    pub fn from_call(log: &CallLogInput) -> Self {
        let mut n = CallNote { notes: log.note.clone().filter(|s| !s.trim().is_empty()), details: Vec::new() };
        if let Some(d) = log.direction {
            n.set("Direction", d.as_word());
        }
        if let Some(f) = log.from_number.as_deref().filter(|s| !s.is_empty()) {
            n.set("From", f);
        }
        if let Some(t) = log.to_number.as_deref().filter(|s| !s.is_empty()) {
            n.set("To", t);
        }
        if let Some(s) = log.duration_seconds {
            n.set("Duration", &human_duration(s));
        }
        if let Some(r) = log.call_result.as_deref().filter(|s| !s.is_empty()) {
            n.set("Result", r);
        }
        if let Some(r) = log.recording_link.as_deref().filter(|s| !s.is_empty()) {
            n.set("Recording", r);
        }
        if !log.idempotency_key.trim().is_empty() {
            n.set(REF, log.idempotency_key.trim());
        }
        n
    }

    /// Applies an update's note-borne fields; true when anything changed.
    pub fn apply(&mut self, u: &CallLogUpdate) -> bool {
        let mut changed = false;
        if let Some(note) = &u.note {
            self.notes = Some(note.clone()).filter(|s| !s.trim().is_empty());
            changed = true;
        }
        if let Some(s) = u.duration_seconds {
            self.set("Duration", &human_duration(s));
            changed = true;
        }
        if let Some(r) = &u.call_result {
            self.set("Result", r);
            changed = true;
        }
        if let Some(r) = &u.recording_link {
            self.set("Recording", r);
            changed = true;
        }
        changed
    }

    pub fn set(&mut self, key: &str, value: &str) {
        match self.details.iter_mut().find(|(k, _)| k == key) {
            Some(entry) => entry.1 = value.to_owned(),
            None => self.details.push((key.to_owned(), value.to_owned())),
        }
    }

    pub fn to_html(&self) -> String {
        let mut out = String::new();
        if let Some(n) = &self.notes {
            out += &format!("<p><b>{NOTES}</b><br>{}</p>", escape(n).replace('\n', "<br>"));
        }
        if !self.details.is_empty() {
            let lines: Vec<String> = self
                .details
                .iter()
                .map(|(k, v)| {
                    if k == "Recording" && (v.starts_with("https://") || v.starts_with("http://")) {
                        format!("{}: <a href=\"{}\">{}</a>", escape(k), escape(v), escape(v))
                    } else {
                        format!("{}: {}", escape(k), escape(v))
                    }
                })
                .collect();
            out += &format!("<p><b>{DETAILS}</b><br>{}</p>", lines.join("<br>"));
        }
        out
    }

    /// Reads a note back; a note written in Pipedrive (no headings) is all notes.
    pub fn parse(html: &str) -> Self {
        let text = html_to_text(html);
        let lines: Vec<&str> = text.lines().map(str::trim_end).collect();
        let notes_at = lines.iter().position(|l| l.trim() == NOTES);
        let details_at = lines.iter().position(|l| l.trim() == DETAILS);
        if notes_at.is_none() && details_at.is_none() {
            let all = text.trim();
            return CallNote { notes: Some(all.to_owned()).filter(|s| !s.is_empty()), details: Vec::new() };
        }
        let notes = notes_at.map(|start| {
            let end = details_at.filter(|d| *d > start).unwrap_or(lines.len());
            lines[start + 1..end].join("\n").trim().to_owned()
        });
        let details = details_at
            .map(|start| {
                let end = notes_at.filter(|n| *n > start).unwrap_or(lines.len());
                lines[start + 1..end]
                    .iter()
                    .filter_map(|l| l.split_once(": ").map(|(k, v)| (k.trim().to_owned(), v.trim().to_owned())))
                    .collect()
            })
            .unwrap_or_default();
        CallNote { notes: notes.filter(|s| !s.is_empty()), details }
    }
}

/// One message of a conversation, as one HTML paragraph of the activity's note.
pub fn message_html(m: &Message) -> String {
    let when = rfc3339_utc(&m.creation_time)
        .map(|(date, time)| format!("{date} {time} UTC"))
        .unwrap_or_else(|| m.creation_time.clone());
    let way = match m.direction {
        Direction::Inbound => "from",
        Direction::Outbound => "sent from",
    };
    format!(
        "<p>[{}] {} {} {} {}: {}</p>",
        escape(&when),
        m.direction.as_word(),
        escape(&m.message_type),
        way,
        escape(&m.from_number),
        escape(&m.subject).replace('\n', "<br>")
    )
}

pub fn message_subject(log: &MessageLogInput) -> String {
    let who = log.contact_name.as_deref().filter(|n| !n.is_empty()).unwrap_or("contact");
    format!("{} conversation with {who}", log.message.message_type)
}

// ------------------------------------------------------------ HTML, time

pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// The text of a note: `<br>` and paragraph ends become line breaks, other
/// tags go, entities are decoded.
pub fn html_to_text(html: &str) -> String {
    let mut out = String::with_capacity(html.len());
    let mut rest = html;
    while let Some(lt) = rest.find('<') {
        out.push_str(&unescape(&rest[..lt]));
        let Some(gt) = rest[lt..].find('>') else {
            out.push_str(&unescape(&rest[lt..]));
            rest = "";
            break;
        };
        let tag = rest[lt + 1..lt + gt].trim().to_ascii_lowercase();
        let name: String = tag.trim_start_matches('/').chars().take_while(char::is_ascii_alphanumeric).collect();
        let closing = tag.starts_with('/');
        match name.as_str() {
            "br" => out.push('\n'),
            "p" | "div" | "li" if closing => out.push('\n'),
            _ => {}
        }
        rest = &rest[lt + gt + 1..];
    }
    out.push_str(&unescape(rest));
    out.trim_end().to_owned()
}

fn unescape(s: &str) -> String {
    s.replace("&nbsp;", " ")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&#x27;", "'")
        .replace("&amp;", "&")
}

/// An RFC 3339 time as Pipedrive's UTC `due_date` (`YYYY-MM-DD`) and `due_time` (`HH:MM`).
pub fn rfc3339_utc(s: &str) -> Option<(String, String)> {
    let s = s.trim();
    let b = s.as_bytes();
    if b.len() < 19 || b[4] != b'-' || b[7] != b'-' || !matches!(b[10], b'T' | b't' | b' ') || b[13] != b':' {
        return None;
    }
    let num = |r: std::ops::Range<usize>| -> Option<i64> {
        let part = s.get(r)?;
        if part.bytes().all(|c| c.is_ascii_digit()) { part.parse().ok() } else { None }
    };
    let (y, mo, d, h, mi, sec) = (num(0..4)?, num(5..7)?, num(8..10)?, num(11..13)?, num(14..16)?, num(17..19)?);
    if !(1..=12).contains(&mo) || !(1..=31).contains(&d) || h > 23 || mi > 59 || sec > 60 {
        return None;
    }
    // Skip fractional seconds, then read the offset.
    let mut i = 19;
    if b.get(i) == Some(&b'.') {
        i += 1;
        while b.get(i).is_some_and(u8::is_ascii_digit) {
            i += 1;
        }
    }
    let offset_secs = match b.get(i) {
        Some(b'Z' | b'z') if i + 1 == b.len() => 0,
        Some(sign @ (b'+' | b'-')) if i + 6 == b.len() && b[i + 3] == b':' => {
            let off = num(i + 1..i + 3)? * 3600 + num(i + 4..i + 6)? * 60;
            if *sign == b'+' { off } else { -off }
        }
        _ => return None,
    };
    let epoch = days_from_civil(y, mo, d) * 86_400 + h * 3600 + mi * 60 + sec - offset_secs;
    let (days, secs) = (epoch.div_euclid(86_400), epoch.rem_euclid(86_400));
    let (y, mo, d) = civil_from_days(days);
    Some((format!("{y:04}-{mo:02}-{d:02}"), format!("{:02}:{:02}", secs / 3600, secs % 3600 / 60)))
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (if m <= 2 { yoe + era * 400 + 1 } else { yoe + era * 400 }, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_become_utc_due_date_and_time() {
        let t = |s: &str| rfc3339_utc(s).map(|(d, t)| format!("{d} {t}"));
        assert_eq!(t("2024-05-27T08:53:20.000Z").as_deref(), Some("2024-05-27 08:53"));
        assert_eq!(t("2024-05-27T01:30:00+02:00").as_deref(), Some("2024-05-26 23:30"));
        assert_eq!(t("2024-12-31T23:30:00-01:00").as_deref(), Some("2025-01-01 00:30"));
        assert_eq!(t("2024-02-29T12:00:00Z").as_deref(), Some("2024-02-29 12:00"));
        assert_eq!(t("1970-01-01T00:00:00Z").as_deref(), Some("1970-01-01 00:00"));
        assert_eq!(t("yesterday"), None);
        assert_eq!(t("2024-05-27T08:53:20"), None, "an offset is required");
    }

    #[test]
    fn durations() {
        assert_eq!(pipedrive_duration(0), "00:00");
        assert_eq!(pipedrive_duration(42), "00:01");
        assert_eq!(pipedrive_duration(3600), "01:00");
        assert_eq!(pipedrive_duration(3601), "01:01");
        assert_eq!(human_duration(42), "42s");
        assert_eq!(human_duration(185), "3m 05s");
        assert_eq!(human_duration(3725), "1h 02m 05s");
    }

    #[test]
    fn call_notes_round_trip_through_html() {
        let mut n = CallNote { notes: Some("Asked about <the> plans\nand R2 & C3PO".into()), details: vec![] };
        n.set("Direction", "Inbound");
        n.set("Recording", "https://rec.example/1?a=1&b=2");
        let html = n.to_html();
        assert!(html.contains("&lt;the&gt;") && html.contains("<br>and R2 &amp; C3PO"), "{html}");
        assert!(html.contains("<a href=\"https://rec.example/1?a=1&amp;b=2\">"), "{html}");
        assert_eq!(CallNote::parse(&html), n);
        // Pipedrive may rewrite markup: <strong>, <br/>, <div>.
        let rewritten = html.replace("<b>", "<strong>").replace("</b>", "</strong>").replace("<br>", "<br />");
        assert_eq!(CallNote::parse(&rewritten), n);
        // A note typed in Pipedrive is all notes.
        assert_eq!(CallNote::parse("<p>hello<br>world</p>").notes.as_deref(), Some("hello\nworld"));
        assert_eq!(CallNote::parse("").notes, None);
    }

    #[test]
    fn additional_submission_picks_a_deal_or_a_lead() {
        assert_eq!(deal_or_lead(Some(r#"{"deals": 7, "leads": "x"}"#)), (Some(7), None));
        assert_eq!(deal_or_lead(Some(r#"{"deals": "8"}"#)), (Some(8), None));
        assert_eq!(
            deal_or_lead(Some(r#"{"leads": "adf21080-0e10-11eb-879b-05d71fb426ec"}"#)).1.as_deref(),
            Some("adf21080-0e10-11eb-879b-05d71fb426ec")
        );
        assert_eq!(deal_or_lead(Some("{}")), (None, None));
        assert_eq!(deal_or_lead(None), (None, None));
    }

    #[test]
    fn the_matched_phone_is_the_stored_one() {
        let hit = PersonHit {
            id: 1,
            name: None,
            phones: vec!["+44 20 7183 8750".into(), "(650) 555-1212".into()],
            organization: None,
        };
        assert_eq!(hit.matched_phone("(650) 555-1212"), "(650) 555-1212");
        assert_eq!(hit.matched_phone("+442071838750"), "+44 20 7183 8750");
        assert_eq!(hit.matched_phone("+10000000000"), "+44 20 7183 8750");
    }
}
