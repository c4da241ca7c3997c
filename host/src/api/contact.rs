//! `GET /contact` (find by phone number) and `POST /contact` (create).

use super::connection::Connection;
use super::envelope::{MessageType, NOTICE_TTL_MS, ReturnMessage, Success, WARNING_TTL_MS};
use super::error::{ApiError, ApiResult, ErrorCode};
use super::extract::{JsonBody, QueryParams};
use super::params::{comma_list, object_json, query_phone};
use super::session::Session;
use super::state::{AppState, adapter_for};
use crate::request_id;
use crate::runtime::world::Operation;
use crate::runtime::{Contact, NewContact};
use crate::webhooks::EventType;
use axum::extract::{Extension, State};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

const MAX_PHONE_LEN: usize = 64;

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct FindQuery {
    phone_number: Option<String>,
    overriding_format: Option<String>,
}

/// A contact in the App Connect shape; absent fields are omitted, never null.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ContactJson {
    id: String,
    name: String,
    phone: String,
    #[serde(rename = "type", skip_serializing_if = "Option::is_none")]
    contact_type: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    organization: Option<String>,
    /// The organization again, under the name some clients read.
    #[serde(skip_serializing_if = "Option::is_none")]
    company: Option<String>,
    /// The adapter's JSON object, or `{}`.
    additional_info: Value,
    /// Only on the "create new contact" placeholder.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    is_new_contact: bool,
}

impl ContactJson {
    /// The entry a client shows to offer creating a contact when none matched.
    fn create_new() -> Self {
        ContactJson {
            id: "createNewContact".into(),
            name: "Create new contact...".into(),
            phone: String::new(),
            contact_type: None,
            organization: None,
            company: None,
            additional_info: json!({}),
            is_new_contact: true,
        }
    }
}

impl From<Contact> for ContactJson {
    fn from(c: Contact) -> Self {
        let additional_info = c
            .additional_info_json
            .as_deref()
            .and_then(|s| serde_json::from_str::<Value>(s).ok())
            .filter(Value::is_object)
            .unwrap_or_else(|| json!({}));
        ContactJson {
            id: c.id,
            name: c.name,
            phone: c.phone,
            contact_type: c.contact_type,
            company: c.organization.clone(),
            organization: c.organization,
            additional_info,
            is_new_contact: false,
        }
    }
}

fn phone_param(value: Option<String>, name: &str) -> ApiResult<String> {
    let phone = value.map(|p| p.trim().to_owned()).filter(|p| !p.is_empty()).ok_or_else(|| ApiError::missing(name))?;
    if phone.len() > MAX_PHONE_LEN {
        return Err(ApiError::bad_request(ErrorCode::InvalidParameter, format!("`{name}` is too long")));
    }
    Ok(phone)
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Found {
    contact: Vec<ContactJson>,
    /// `CONTACT_NOT_FOUND` beside `successful: true` when nothing matched.
    #[serde(skip_serializing_if = "Option::is_none")]
    error_code: Option<ErrorCode>,
    #[serde(skip_serializing_if = "Option::is_none")]
    request_id: Option<String>,
}

pub(crate) async fn find(
    State(state): State<AppState>,
    Extension(session): Extension<Session>,
    QueryParams(q): QueryParams<FindQuery>,
) -> ApiResult<Success<Found>> {
    let phone = phone_param(q.phone_number.as_deref().map(query_phone), "phoneNumber")?;
    let formats = comma_list(q.overriding_format.as_deref());
    let crm = Connection::open(&state, &session).await?;
    let p = phone.clone();
    let contacts = crm
        .call("find-contact", move |ctx, a, s| {
            Box::pin(async move { a.call_find_contact(s, &ctx, &p, &formats).await })
        })
        .await?;
    if contacts.is_empty() {
        // App Connect's answer: clients read `successful` as "the lookup
        // worked" and offer the placeholder to create a contact.
        let display_name = crm.display_name().to_owned();
        let message = ReturnMessage::new("Contact not found", MessageType::Warning, WARNING_TTL_MS).with_detail(
            format!("A contact with the phone number {phone} could not be found in your {display_name} account."),
        );
        let body = Found {
            contact: vec![ContactJson::create_new()],
            error_code: Some(ErrorCode::ContactNotFound),
            request_id: Some(request_id::current()),
        };
        return Ok(Success::with_message(body, message));
    }
    let contact = contacts.into_iter().map(ContactJson::from).collect();
    Ok(Success::new(Found { contact, error_code: None, request_id: None }))
}

#[derive(Deserialize)]
pub(crate) struct SearchQuery {
    name: Option<String>,
}

/// The shortest and longest name the search accepts, in characters.
const MIN_SEARCH_CHARS: usize = 2;
const MAX_SEARCH_CHARS: usize = 256;

/// `GET /custom/contact/search?name=`: contacts by name (WIT 0.2.0's
/// `find-contact-by-name`). No match is an empty list with a warning, not an
/// error. An adapter that cannot search (every 0.1.0 one, or a CRM without
/// search) answers `UNSUPPORTED_OPERATION` (HTTP 200), and the manifest does
/// not offer the search (`page.useContactSearch`). Every answer, failures
/// included, carries a `contact` array: clients iterate it unconditionally.
pub(crate) async fn search_by_name(
    State(state): State<AppState>,
    Extension(session): Extension<Session>,
    QueryParams(q): QueryParams<SearchQuery>,
) -> ApiResult<Success<Found>> {
    search(&state, &session, q.name).await.map_err(|e| e.with("contact", json!([])))
}

async fn search(state: &AppState, session: &Session, name: Option<String>) -> ApiResult<Success<Found>> {
    let name = name.map(|n| n.trim().to_owned()).filter(|n| !n.is_empty()).ok_or_else(|| ApiError::missing("name"))?;
    if !(MIN_SEARCH_CHARS..=MAX_SEARCH_CHARS).contains(&name.chars().count()) {
        return Err(ApiError::bad_request(
            ErrorCode::InvalidParameter,
            format!("`name` must be {MIN_SEARCH_CHARS} to {MAX_SEARCH_CHARS} characters long"),
        ));
    }
    let adapter = adapter_for(state, &session.user.platform)?;
    if !adapter.has(Operation::FindContactByName) {
        return Err(ApiError::unsuccessful(
            ErrorCode::UnsupportedOperation,
            format!("{} does not support searching contacts by name", adapter.manifest.display_name),
        ));
    }
    let crm = Connection::open(state, session).await?;
    let n = name.clone();
    let contacts = crm
        .call("find-contact-by-name", move |ctx, a, s| {
            Box::pin(async move { a.call_find_contact_by_name(s, &ctx, &n).await })
        })
        .await?;
    if contacts.is_empty() {
        // The client shows `returnMessage` when the list is empty (and fails without one).
        let message =
            ReturnMessage::new(format!("No contact named \"{name}\" found"), MessageType::Warning, WARNING_TTL_MS);
        let body = Found { contact: vec![], error_code: Some(ErrorCode::ContactNotFound), request_id: None };
        return Ok(Success::with_message(body, message));
    }
    let contact = contacts.into_iter().map(ContactJson::from).collect();
    Ok(Success::new(Found { contact, error_code: None, request_id: None }))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct CreateBody {
    phone_number: Option<String>,
    new_contact_name: Option<String>,
    new_contact_type: Option<String>,
    additional_submission: Option<Value>,
}

#[derive(Serialize)]
pub(crate) struct Created {
    contact: ContactJson,
}

pub(crate) async fn create(
    State(state): State<AppState>,
    Extension(session): Extension<Session>,
    JsonBody(body): JsonBody<CreateBody>,
) -> ApiResult<Success<Created>> {
    let phone = phone_param(body.phone_number, "phoneNumber")?;
    let name = body
        .new_contact_name
        .map(|n| n.trim().to_owned())
        .filter(|n| !n.is_empty())
        .ok_or_else(|| ApiError::missing("newContactName"))?;
    let new = NewContact {
        phone_number: phone,
        name,
        contact_type: body.new_contact_type.filter(|t| !t.is_empty()),
        additional_submission_json: object_json(body.additional_submission),
    };
    let crm = Connection::open(&state, &session).await?;
    let contact = crm
        .call("create-contact", move |ctx, a, s| Box::pin(async move { a.call_create_contact(s, &ctx, &new).await }))
        .await?;
    let message = format!("Contact {} created.", contact.name);
    let data = serde_json::json!({"contactId": contact.id});
    state.store.emit_after_crm(EventType::ContactCreated, &session.user.id, data).await;
    Ok(Success::saying(Created { contact: contact.into() }, message, NOTICE_TTL_MS))
}
