//! The Test CRM's JSON shapes and their mapping to the WIT types.

use serde::{Deserialize, Serialize};
use switchboard_sdk::prelude::*;

#[derive(Deserialize)]
pub struct Data<T> {
    pub data: T,
}

#[derive(Deserialize)]
pub struct Page<T> {
    pub data: Vec<T>,
}

#[derive(Deserialize)]
pub struct Me {
    pub id: String,
    pub name: String,
}

#[derive(Deserialize)]
pub struct WireContact {
    pub id: String,
    pub name: String,
    pub phone: String,
    #[serde(default)]
    pub r#type: Option<String>,
    #[serde(default)]
    pub company: Option<String>,
}

impl From<WireContact> for Contact {
    fn from(c: WireContact) -> Self {
        Contact {
            id: c.id,
            name: c.name,
            phone: c.phone,
            contact_type: c.r#type,
            organization: c.company,
            additional_info_json: None,
        }
    }
}

#[derive(Serialize)]
pub struct NewWireContact<'a> {
    pub name: &'a str,
    pub phone: &'a str,
    pub r#type: &'a str,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct NewActivity {
    pub kind: &'static str,
    pub contact_id: String,
    pub contact_name: Option<String>,
    pub subject: String,
    pub body: String,
    pub direction: Option<&'static str>,
    pub started_at: Option<String>,
    pub duration_seconds: Option<u64>,
    pub result: Option<String>,
    pub recording_url: Option<String>,
    pub external_id: String,
}

pub fn message_line(m: &Message) -> String {
    format!("[{}] {} {}: {}", m.creation_time, m.message_type, m.from_number, m.subject)
}

impl NewActivity {
    pub fn from_call(log: &CallLogInput) -> Self {
        let dir = log.direction.map(Direction::as_lowercase_word);
        let subject = switchboard_sdk::call_log::subject(log);
        NewActivity {
            kind: "call",
            contact_id: log.contact_id.clone(),
            contact_name: log.contact_name.clone(),
            subject,
            body: log.note.clone().unwrap_or_default(),
            direction: dir,
            started_at: log.start_time.clone(),
            duration_seconds: log.duration_seconds,
            result: log.call_result.clone(),
            recording_url: log.recording_link.clone(),
            external_id: log.session_id.clone(),
        }
    }

    pub fn from_message(log: &MessageLogInput) -> Self {
        let who = log.contact_name.as_deref().unwrap_or("contact");
        NewActivity {
            kind: "message",
            contact_id: log.contact_id.clone(),
            contact_name: log.contact_name.clone(),
            subject: format!("{} conversation with {who}", log.message.message_type),
            body: message_line(&log.message),
            direction: Some(log.message.direction.as_lowercase_word()),
            started_at: Some(log.message.creation_time.clone()),
            duration_seconds: None,
            result: None,
            recording_url: None,
            external_id: log.message.conversation_id.clone(),
        }
    }
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ActivityPatch {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub subject: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub body: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub duration_seconds: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub result: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub recording_url: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub started_at: Option<String>,
}

impl ActivityPatch {
    pub fn from_update(u: &CallLogUpdate) -> Self {
        ActivityPatch {
            subject: u.subject.clone(),
            body: u.note.clone(),
            duration_seconds: u.duration_seconds,
            result: u.call_result.clone(),
            recording_url: u.recording_link.clone(),
            started_at: u.start_time.clone(),
        }
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Activity {
    pub id: String,
    pub subject: String,
    pub body: String,
    #[serde(default)]
    pub contact_name: Option<String>,
    #[serde(default)]
    pub disposition: Option<serde_json::Value>,
}

/// `PATCH /v1/activities/{id}` setting only the disposition.
#[derive(Serialize)]
pub struct DispositionPatch {
    pub disposition: serde_json::Value,
}

#[derive(Serialize)]
pub struct Append {
    pub text: String,
}
