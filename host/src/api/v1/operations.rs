//! The unified CRM operations on an integration, for a workspace's backend:
//! find and create contacts, create / read / update call logs, log messages.
//! They run the App Connect routes' own code on the integration's
//! connection (the same sandboxed adapter, token refresh, ledgers and
//! idempotency keys: a call is logged once per integration and sessionId,
//! a message once per message id), with the request bodies App Connect
//! documents, answered without its envelope and failing as problem documents.

use super::WorkspaceKey;
use super::connecting::integration_not_found;
use super::problem::{Problem, ProblemCode, ProblemJson, ProblemQuery, ProblemResponse};
use crate::api::connection::Connection;
use crate::api::contact::ContactJson;
use crate::api::envelope::Success;
use crate::api::error::ApiResult;
use crate::api::extract::{JsonBody, QueryParams};
use crate::api::session::Session;
use crate::api::state::AppState;
use crate::api::{call_log, contact, message_log};
use axum::Json;
use axum::extract::{Extension, Path, State};
use axum::http::StatusCode;
use serde::Deserialize;
use serde_json::{Value, json};

/// The integration as the session its operations run in.
async fn session(state: &AppState, key: &WorkspaceKey, id: &str) -> Result<Extension<Session>, Problem> {
    let integration = state.store.integration(&key.workspace_id, id).await?.ok_or_else(|| integration_not_found(id))?;
    Ok(Extension(Session { user: integration.connection }))
}

/// An App Connect answer without its envelope (`successful`, `returnMessage`).
fn unwrapped<T: serde::Serialize>(answer: ApiResult<Success<T>>) -> Result<Json<Value>, Problem> {
    let mut v = serde_json::to_value(answer?).map_err(|e| Problem::new(ProblemCode::Internal, e.to_string()))?;
    if let Some(o) = v.as_object_mut() {
        o.remove("successful");
        o.remove("returnMessage");
    }
    Ok(Json(v))
}

#[derive(Deserialize, utoipa::IntoParams)]
#[serde(rename_all = "camelCase")]
#[into_params(parameter_in = Query)]
pub(crate) struct FindQuery {
    phone_number: Option<String>,
    /// Comma-separated formats the CRM may store numbers in (`(***) ***-****`).
    overriding_format: Option<String>,
}

/// `GET /api/v1/integrations/{id}/contacts?phoneNumber=&overridingFormat=`
/// → `{contacts: [...]}` (empty when none matches).
#[utoipa::path(get, path = "/api/v1/integrations/{id}/contacts", tag = "operations", params(("id" = String, Path), FindQuery),
    responses((status = 200, description = "`{contacts: [{id, name, type, phone, …}]}`", body = Object), (status = "default", response = ProblemResponse)))]
pub(crate) async fn find_contacts(
    key: WorkspaceKey,
    State(state): State<AppState>,
    Path(id): Path<String>,
    ProblemQuery(q): ProblemQuery<FindQuery>,
) -> Result<Json<Value>, Problem> {
    let Extension(session) = session(&state, &key, &id).await?;
    let phone =
        q.phone_number.filter(|p| !p.trim().is_empty()).ok_or_else(|| Problem::invalid("phoneNumber is required"))?;
    let formats: Vec<String> = q
        .overriding_format
        .as_deref()
        .unwrap_or_default()
        .split(',')
        .map(str::trim)
        .filter(|f| !f.is_empty())
        .map(str::to_owned)
        .collect();
    let crm = Connection::open(&state, &session).await?;
    let contacts = crm
        .call("find-contact", move |ctx, a, s| {
            Box::pin(async move { a.call_find_contact(s, &ctx, &phone, &formats).await })
        })
        .await?;
    let contacts: Vec<ContactJson> = contacts.into_iter().map(ContactJson::from).collect();
    Ok(Json(json!({ "contacts": contacts })))
}

/// `POST /api/v1/integrations/{id}/contacts {phoneNumber, newContactName, newContactType?}` → 201 `{contact}`.
#[utoipa::path(post, path = "/api/v1/integrations/{id}/contacts", tag = "operations", params(("id" = String, Path)),
    request_body(content = Object, description = "`{phoneNumber, newContactName, newContactType?}`"),
    responses((status = 201, description = "`{contact}`", body = Object), (status = "default", response = ProblemResponse)))]
pub(crate) async fn create_contact(
    key: WorkspaceKey,
    State(state): State<AppState>,
    Path(id): Path<String>,
    ProblemJson(body): ProblemJson<contact::CreateBody>,
) -> Result<(StatusCode, Json<Value>), Problem> {
    let session = session(&state, &key, &id).await?;
    let created = unwrapped(contact::create(State(state), session, JsonBody(body)).await)?;
    Ok((StatusCode::CREATED, created))
}

/// `POST /api/v1/integrations/{id}/call-logs` (App Connect's `POST /callLog`
/// body) → 201 `{logId}`; the same sessionId again is `409 CALL_LOG_EXISTS`.
#[utoipa::path(post, path = "/api/v1/integrations/{id}/call-logs", tag = "operations", params(("id" = String, Path)),
    request_body(content = Object, description = "App Connect's `POST /callLog` body"),
    responses((status = 201, description = "`{logId}`", body = Object), (status = "default", response = ProblemResponse)))]
pub(crate) async fn create_call_log(
    key: WorkspaceKey,
    State(state): State<AppState>,
    Path(id): Path<String>,
    ProblemJson(body): ProblemJson<call_log::CreateBody>,
) -> Result<(StatusCode, Json<Value>), Problem> {
    let session = session(&state, &key, &id).await?;
    let logged = unwrapped(call_log::create(State(state), session, JsonBody(body)).await)?;
    Ok((StatusCode::CREATED, logged))
}

/// `GET /api/v1/integrations/{id}/call-logs?sessionIds=&requireDetails=` → `{logs}`.
#[utoipa::path(get, path = "/api/v1/integrations/{id}/call-logs", tag = "operations", params(("id" = String, Path),
    ("sessionIds" = Option<String>, Query, description = "comma-separated"), ("requireDetails" = Option<bool>, Query)),
    responses((status = 200, description = "`{logs: [{sessionId, matched, logId?}]}`", body = Object), (status = "default", response = ProblemResponse)))]
pub(crate) async fn get_call_logs(
    key: WorkspaceKey,
    State(state): State<AppState>,
    Path(id): Path<String>,
    ProblemQuery(q): ProblemQuery<call_log::GetQuery>,
) -> Result<Json<Value>, Problem> {
    let session = session(&state, &key, &id).await?;
    unwrapped(call_log::get(State(state), session, QueryParams(q)).await)
}

/// `PATCH /api/v1/integrations/{id}/call-logs` (App Connect's `PATCH /callLog` body) → `{logId}`.
#[utoipa::path(patch, path = "/api/v1/integrations/{id}/call-logs", tag = "operations", params(("id" = String, Path)),
    request_body(content = Object, description = "App Connect's `PATCH /callLog` body"),
    responses((status = 200, description = "`{logId}`", body = Object), (status = "default", response = ProblemResponse)))]
pub(crate) async fn update_call_log(
    key: WorkspaceKey,
    State(state): State<AppState>,
    Path(id): Path<String>,
    ProblemJson(body): ProblemJson<call_log::UpdateBody>,
) -> Result<Json<Value>, Problem> {
    let session = session(&state, &key, &id).await?;
    unwrapped(call_log::update(State(state), session, JsonBody(body)).await)
}

/// `POST /api/v1/integrations/{id}/message-logs` (App Connect's `POST
/// /messageLog` body) → 201 `{logIds}`; messages already logged are not logged again.
#[utoipa::path(post, path = "/api/v1/integrations/{id}/message-logs", tag = "operations", params(("id" = String, Path)),
    request_body(content = Object, description = "App Connect's `POST /messageLog` body"),
    responses((status = 201, description = "`{logIds}`", body = Object), (status = "default", response = ProblemResponse)))]
pub(crate) async fn create_message_log(
    key: WorkspaceKey,
    State(state): State<AppState>,
    Path(id): Path<String>,
    ProblemJson(body): ProblemJson<message_log::Body>,
) -> Result<(StatusCode, Json<Value>), Problem> {
    let session = session(&state, &key, &id).await?;
    let logged = unwrapped(message_log::create(State(state), session, JsonBody(body)).await)?;
    Ok((StatusCode::CREATED, logged))
}
