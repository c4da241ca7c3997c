//! Clio Manage API v4: its JSON shapes and their mapping to the WIT types.
//!
//! Every v4 answer wraps its record(s) in `data`; lists carry
//! `meta.paging.next`, the full URL of the next page, when there is one. Clio
//! returns only the fields a request names in `fields` (nested resources in
//! braces, e.g. `phone_numbers{number,name}`), so every read asks for what it
//! uses. Record ids are JSON numbers.
//!
//! One long file: every Clio shape beside its mapping, so it reads like the vendor's reference.

use serde::{Deserialize, Deserializer, Serialize};
use serde_json::{Map, Value, json};
use switchboard_sdk::prelude::*;

/// The fields find-contact reads.
pub const CONTACT_FIELDS: &str = "id,name,type,primary_phone_number,phone_numbers{number,name},company{id,name}";
/// The fields of a matter shown in `additionalInfo`.
pub const MATTER_FIELDS: &str = "id,display_number,description";
/// The fields get-call-log and the read-modify-write updates read.
pub const COMMUNICATION_FIELDS: &str = "id,subject,body,matter{id}";

#[derive(Deserialize)]
pub struct Data<T> {
    pub data: T,
}

#[derive(Deserialize)]
pub struct Page<T> {
    pub data: Vec<T>,
    #[serde(default)]
    pub meta: Option<Meta>,
}

impl<T> Page<T> {
    /// The URL of the next page, if Clio says there is one.
    pub fn next(&self) -> Option<&str> {
        self.meta.as_ref()?.paging.as_ref()?.next.as_deref().filter(|n| !n.is_empty())
    }
}

#[derive(Deserialize)]
pub struct Meta {
    #[serde(default)]
    pub paging: Option<Paging>,
}

#[derive(Deserialize)]
pub struct Paging {
    #[serde(default)]
    pub next: Option<String>,
}

/// A Clio id (a JSON number; a string is tolerated) as a string.
fn id_string<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    match Value::deserialize(d)? {
        Value::Number(n) => Ok(n.to_string()),
        Value::String(s) if !s.is_empty() => Ok(s),
        other => Err(serde::de::Error::custom(format!("expected a Clio id, got {other}"))),
    }
}

/// `GET /api/v4/users/who_am_i.json?fields=id,name`.
#[derive(Deserialize)]
pub struct WhoAmI {
    #[serde(deserialize_with = "id_string")]
    pub id: String,
    pub name: String,
}

/// A record we only need the id of (`fields=id`).
#[derive(Deserialize)]
pub struct Created {
    #[serde(deserialize_with = "id_string")]
    pub id: String,
}

#[derive(Deserialize)]
pub struct WirePhoneNumber {
    #[serde(default)]
    pub number: Option<String>,
}

#[derive(Deserialize)]
pub struct WireCompany {
    #[serde(default)]
    pub name: Option<String>,
}

/// A contact as `GET /api/v4/contacts.json?fields=CONTACT_FIELDS` returns it.
#[derive(Deserialize)]
pub struct WireContact {
    #[serde(deserialize_with = "id_string")]
    pub id: String,
    #[serde(default)]
    pub name: Option<String>,
    /// `Person` or `Company`.
    #[serde(default)]
    pub r#type: Option<String>,
    #[serde(default)]
    pub primary_phone_number: Option<String>,
    #[serde(default)]
    pub phone_numbers: Option<Vec<WirePhoneNumber>>,
    #[serde(default)]
    pub company: Option<WireCompany>,
}

impl WireContact {
    /// The number to show: the one that matched the search, else the primary
    /// one, else the first, else what was searched for.
    fn phone(&self, searched: &str) -> String {
        let numbers: Vec<&str> =
            self.phone_numbers.iter().flatten().filter_map(|p| p.number.as_deref()).filter(|n| !n.is_empty()).collect();
        numbers
            .iter()
            .find(|n| **n == searched)
            .copied()
            .or(self.primary_phone_number.as_deref().filter(|n| !n.is_empty()))
            .or(numbers.first().copied())
            .unwrap_or(searched)
            .to_owned()
    }

    /// The App Connect contact; `matters` become `additionalInfo` in the shape
    /// App Connect's Clio connector uses (`matters` as `{const, title}`
    /// options, and the `logTimeEntry` default).
    pub fn into_contact(self, searched: &str, matters: Option<Vec<Matter>>, log_time_entry: bool) -> Contact {
        let phone = self.phone(searched);
        let mut info = Map::new();
        if let Some(matters) = matters.filter(|m| !m.is_empty()) {
            let options: Vec<Value> = matters.into_iter().map(Matter::option).collect();
            info.insert("matters".into(), Value::Array(options));
        }
        info.insert("logTimeEntry".into(), Value::Bool(log_time_entry));
        Contact {
            name: self.name.filter(|n| !n.trim().is_empty()).unwrap_or_else(|| format!("Clio contact {}", self.id)),
            id: self.id,
            phone,
            contact_type: self.r#type.map(|t| t.to_ascii_lowercase()),
            organization: self.company.and_then(|c| c.name).filter(|n| !n.is_empty()),
            additional_info_json: Some(Value::Object(info).to_string()),
        }
    }
}

/// A matter as `GET /api/v4/matters.json?fields=MATTER_FIELDS` returns it.
#[derive(Deserialize)]
pub struct Matter {
    pub id: Value,
    #[serde(default)]
    pub display_number: Option<String>,
    #[serde(default)]
    pub description: Option<String>,
}

impl Matter {
    fn option(self) -> Value {
        let title = self.display_number.filter(|d| !d.is_empty()).unwrap_or_else(|| format!("Matter {}", self.id));
        let mut o = json!({"const": self.id, "title": title});
        if let Some(d) = self.description.filter(|d| !d.is_empty()) {
            o["description"] = Value::String(d);
        }
        o
    }
}

/// `POST /api/v4/contacts.json`.
#[derive(Serialize)]
pub struct NewWireContact {
    pub data: NewContactData,
}

#[derive(Serialize)]
pub struct NewContactData {
    pub r#type: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub first_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_name: Option<String>,
    pub phone_numbers: Vec<NewPhoneNumber>,
}

#[derive(Serialize)]
pub struct NewPhoneNumber {
    pub name: &'static str,
    pub number: String,
    pub default_number: bool,
}

impl NewWireContact {
    /// A Person (the name split at its last space: `first_name` and
    /// `last_name`; one word is a last name) or a Company (`name`).
    pub fn from_new(c: &NewContact) -> Self {
        let is_company = c.contact_type.as_deref().is_some_and(|t| t.eq_ignore_ascii_case("company"));
        let name = c.name.trim();
        let (r#type, name_field, first_name, last_name) = if is_company {
            ("Company", Some(name.to_owned()), None, None)
        } else {
            match name.rsplit_once(char::is_whitespace) {
                Some((first, last)) => ("Person", None, Some(first.trim().to_owned()), Some(last.to_owned())),
                None => ("Person", None, None, Some(name.to_owned())),
            }
        };
        NewWireContact {
            data: NewContactData {
                r#type,
                name: name_field,
                first_name,
                last_name,
                phone_numbers: vec![NewPhoneNumber {
                    name: "Work",
                    number: c.phone_number.clone(),
                    default_number: true,
                }],
            },
        }
    }
}

/// A sender or receiver of a communication.
#[derive(Serialize, Clone, Copy, Debug, PartialEq)]
pub struct Party {
    pub id: u64,
    pub r#type: &'static str,
}

#[derive(Serialize, Deserialize, Clone, Copy)]
pub struct IdRef {
    pub id: u64,
}

/// `POST /api/v4/communications.json`.
#[derive(Serialize)]
pub struct NewCommunication {
    pub data: CommunicationData,
}

#[derive(Serialize)]
pub struct CommunicationData {
    pub r#type: &'static str,
    pub subject: String,
    pub body: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub date: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub received_at: Option<String>,
    pub senders: Vec<Party>,
    pub receivers: Vec<Party>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub matter: Option<IdRef>,
    /// The host's idempotency key ([`ExternalProperty::idempotency_key`]),
    /// so a retry finds this communication.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub external_properties: Vec<ExternalProperty>,
}

/// The external property a communication carries the host's idempotency key in.
pub const IDEMPOTENCY_PROPERTY: &str = "switchboard_idempotency_key";

/// A `{name, value}` external property of a Clio record (at most 5 per record).
#[derive(Serialize, Debug, PartialEq)]
pub struct ExternalProperty {
    pub name: &'static str,
    pub value: String,
}

impl ExternalProperty {
    /// `[{name: "switchboard_idempotency_key", value: key}]`, or nothing for an empty key.
    pub fn idempotency_key(key: &str) -> Vec<ExternalProperty> {
        let key = key.trim();
        if key.is_empty() {
            return Vec::new();
        }
        vec![ExternalProperty { name: IDEMPOTENCY_PROPERTY, value: key.to_owned() }]
    }
}

/// `PATCH /api/v4/communications/{id}.json`: only the fields that change.
#[derive(Serialize, Default)]
pub struct CommunicationPatch {
    pub data: PatchData,
}

#[derive(Serialize, Default)]
pub struct PatchData {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub subject: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub body: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub date: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub received_at: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub matter: Option<IdRef>,
}

impl PatchData {
    pub fn is_empty(&self) -> bool {
        self.subject.is_none()
            && self.body.is_none()
            && self.date.is_none()
            && self.received_at.is_none()
            && self.matter.is_none()
    }
}

/// A communication as read back (`fields=COMMUNICATION_FIELDS`).
#[derive(Deserialize)]
pub struct Communication {
    #[serde(deserialize_with = "id_string")]
    pub id: String,
    #[serde(default)]
    pub subject: Option<String>,
    #[serde(default)]
    pub body: Option<String>,
    /// The matter it is filed under (`null` when none).
    #[serde(default)]
    pub matter: Option<IdRef>,
}

/// `POST /api/v4/activities.json`: a time entry for a call.
#[derive(Serialize)]
pub struct NewTimeEntry {
    pub data: TimeEntryData,
}

#[derive(Serialize)]
pub struct TimeEntryData {
    pub r#type: &'static str,
    /// Seconds, for a TimeEntry.
    pub quantity: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub date: Option<String>,
    pub note: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub matter: Option<IdRef>,
    pub communication: IdRef,
}

/// The calendar date (`YYYY-MM-DD`) of an RFC 3339 time.
pub fn date_of(rfc3339: &str) -> Option<String> {
    let d = rfc3339.get(..10)?;
    let b = d.as_bytes();
    let digits = |r: std::ops::Range<usize>| b[r].iter().all(u8::is_ascii_digit);
    (digits(0..4) && b[4] == b'-' && digits(5..7) && b[7] == b'-' && digits(8..10)).then(|| d.to_owned())
}

/// Who sent and who received: the contact and the Clio user, by direction.
pub fn parties(direction: Option<Direction>, contact: u64, user: Option<u64>) -> (Vec<Party>, Vec<Party>) {
    let contact = vec![Party { id: contact, r#type: "Contact" }];
    let user: Vec<Party> = user.map(|id| Party { id, r#type: "User" }).into_iter().collect();
    match direction {
        Some(Direction::Outbound) => (user, contact),
        _ => (contact, user),
    }
}

/// The line between a call's note and its details in the communication body.
pub const DETAILS_MARKER: &str = "--- Call details ---";

/// A call communication's body: the user's note, then `Key: value` details
/// (contact, direction, numbers, start, duration, result, recording). The note
/// can be read back and replaced without losing the details, and the other
/// way round.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CallBody {
    pub note: String,
    pub details: Vec<(String, String)>,
}

impl CallBody {
    pub fn parse(body: &str) -> Self {
        let (note, rest) = if let Some(rest) = body.strip_prefix(DETAILS_MARKER) {
            ("", Some(rest))
        } else if let Some(i) = body.rfind(&format!("\n\n{DETAILS_MARKER}")) {
            (&body[..i], Some(&body[i + 2 + DETAILS_MARKER.len()..]))
        } else {
            (body, None)
        };
        let details = rest
            .unwrap_or_default()
            .lines()
            .filter(|l| !l.trim().is_empty())
            .map(|l| match l.split_once(": ") {
                Some((k, v)) => (k.to_owned(), v.to_owned()),
                None => (String::new(), l.to_owned()),
            })
            .collect();
        CallBody { note: note.to_owned(), details }
    }

    pub fn render(&self) -> String {
        if self.details.is_empty() {
            return self.note.clone();
        }
        let lines: Vec<String> =
            self.details.iter().map(|(k, v)| if k.is_empty() { v.clone() } else { format!("{k}: {v}") }).collect();
        let details = format!("{DETAILS_MARKER}\n{}", lines.join("\n"));
        if self.note.is_empty() { details } else { format!("{}\n\n{details}", self.note) }
    }

    pub fn get(&self, key: &str) -> Option<&str> {
        self.details.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
    }

    /// Sets a detail, keeping its place if it is there already.
    pub fn set(&mut self, key: &str, value: impl Into<String>) {
        let value = value.into();
        match self.details.iter_mut().find(|(k, _)| k == key) {
            Some(d) => d.1 = value,
            None => self.details.push((key.to_owned(), value)),
        }
    }

    pub fn from_call(log: &CallLogInput) -> Self {
        let mut b = CallBody { note: log.note.clone().unwrap_or_default(), details: Vec::new() };
        if let Some(name) = log.contact_name.as_deref().filter(|n| !n.is_empty()) {
            b.set("Contact", name);
        }
        if let Some(d) = log.direction {
            b.set("Direction", d.as_word());
        }
        for (key, value) in [("From", &log.from_number), ("To", &log.to_number), ("Started", &log.start_time)] {
            if let Some(v) = value.as_deref().filter(|v| !v.is_empty()) {
                b.set(key, v);
            }
        }
        if let Some(s) = log.duration_seconds {
            b.set("Duration", duration_text(s));
        }
        if let Some(r) = log.call_result.as_deref().filter(|r| !r.is_empty()) {
            b.set("Result", r);
        }
        if let Some(r) = log.recording_link.as_deref().filter(|r| !r.is_empty()) {
            b.set("Recording", r);
        }
        b
    }
}

/// Clio's bodies give a call's length in seconds only ("185 seconds", not
/// `switchboard_sdk::text::duration`'s "3 min 5 s"): existing communications
/// read back and update with the same words.
pub fn duration_text(seconds: u64) -> String {
    format!("{seconds} seconds")
}

/// The subject of a conversation's communication.
pub fn conversation_subject(log: &MessageLogInput) -> String {
    let who = log.contact_name.as_deref().filter(|n| !n.is_empty()).unwrap_or("contact");
    format!("{} conversation with {who}", log.message.message_type)
}

/// One message as a line of the conversation's body.
pub fn message_line(m: &Message) -> String {
    let dir = m.direction.as_word();
    format!("[{}] {dir} {} from {}: {}", m.creation_time, m.message_type, m.from_number, m.subject)
}
