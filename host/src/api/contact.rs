//! `GET /contact` (find by phone number) and `POST /contact` (create).

use super::AppState;
use super::Session;
use super::connection::Connection;
use super::extract::{JsonBody, QueryParams};
use crate::error::{ApiError, ApiResult, code};
use crate::runtime::{Contact, NewContact};
use axum::Json;
use axum::extract::{Extension, State};
use serde::Deserialize;
use serde_json::{Map, Value, json};

const MAX_PHONE_LEN: usize = 64;

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FindQuery {
    phone_number: Option<String>,
    overriding_format: Option<String>,
}

/// A contact in the App Connect shape; absent fields are omitted, never null.
pub fn contact_json(c: &Contact) -> Value {
    let mut m = Map::new();
    m.insert("id".into(), json!(c.id));
    m.insert("name".into(), json!(c.name));
    m.insert("phone".into(), json!(c.phone));
    if let Some(t) = &c.contact_type {
        m.insert("type".into(), json!(t));
    }
    if let Some(org) = &c.organization {
        m.insert("organization".into(), json!(org));
        m.insert("company".into(), json!(org));
    }
    let additional = c
        .additional_info_json
        .as_deref()
        .and_then(|s| serde_json::from_str::<Value>(s).ok())
        .filter(Value::is_object)
        .unwrap_or_else(|| json!({}));
    m.insert("additionalInfo".into(), additional);
    Value::Object(m)
}

fn phone_param(value: Option<String>, name: &str) -> ApiResult<String> {
    let phone = value.map(|p| p.trim().to_owned()).filter(|p| !p.is_empty()).ok_or_else(|| ApiError::missing(name))?;
    if phone.len() > MAX_PHONE_LEN {
        return Err(ApiError::bad_request(code::INVALID_PARAMETER, format!("`{name}` is too long")));
    }
    Ok(phone)
}

pub async fn find(
    State(state): State<AppState>,
    Extension(session): Extension<Session>,
    QueryParams(q): QueryParams<FindQuery>,
) -> ApiResult<Json<Value>> {
    let phone = phone_param(q.phone_number, "phoneNumber")?;
    let formats: Vec<String> = q
        .overriding_format
        .unwrap_or_default()
        .split(',')
        .map(str::trim)
        .filter(|f| !f.is_empty())
        .map(str::to_owned)
        .collect();
    let crm = Connection::open(&state, &session).await?;
    let p = phone.clone();
    let contacts = crm
        .call("find-contact", move |ctx, a, s| {
            Box::pin(async move { a.call_find_contact(s, &ctx, &p, &formats).await })
        })
        .await?;
    if contacts.is_empty() {
        return Err(ApiError::unsuccessful(code::CONTACT_NOT_FOUND, format!("No contact found for {phone}.")).with(
            "contact",
            json!([{"id": "createNewContact", "name": "Create new contact...", "isNewContact": true}]),
        ));
    }
    Ok(Json(json!({
        "successful": true,
        "contact": contacts.iter().map(contact_json).collect::<Vec<_>>(),
    })))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CreateBody {
    phone_number: Option<String>,
    new_contact_name: Option<String>,
    new_contact_type: Option<String>,
    additional_submission: Option<Value>,
}

pub async fn create(
    State(state): State<AppState>,
    Extension(session): Extension<Session>,
    JsonBody(body): JsonBody<CreateBody>,
) -> ApiResult<Json<Value>> {
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
        additional_submission_json: body.additional_submission.filter(Value::is_object).map(|v| v.to_string()),
    };
    let crm = Connection::open(&state, &session).await?;
    let contact = crm
        .call("create-contact", move |ctx, a, s| Box::pin(async move { a.call_create_contact(s, &ctx, &new).await }))
        .await?;
    Ok(Json(json!({
        "successful": true,
        "contact": contact_json(&contact),
        "returnMessage": {"message": format!("Contact {} created.", contact.name), "messageType": "success", "ttl": 3000},
    })))
}
