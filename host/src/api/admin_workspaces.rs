//! Operator endpoints for the Connect platform's workspaces (admin token), the
//! same operations as `switchboard workspace …`. Secrets (a new API key, a
//! generated private key) are in the answer that creates them, once.

use super::admin::Admin;
use super::error::{ApiError, ApiResult};
use super::extract::JsonBody;
use super::state::AppState;
use crate::workspaces::{self, json as views};
use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::Deserialize;
use serde_json::Value;

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct CreateBody {
    name: String,
    #[serde(default)]
    allowed_origins: Vec<String>,
}

/// `POST /admin/workspaces {name, allowedOrigins}`: 201 with the API key and
/// private key, shown this once.
pub(crate) async fn create(
    _: Admin,
    State(state): State<AppState>,
    JsonBody(body): JsonBody<CreateBody>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let created = workspaces::create(&state.store, &body.name, &body.allowed_origins).await?;
    Ok((StatusCode::CREATED, Json(views::created(&created))))
}

/// `GET /admin/workspaces`
pub(crate) async fn list(_: Admin, State(state): State<AppState>) -> ApiResult<Json<Value>> {
    let mut all = Vec::new();
    for w in state.store.workspaces().await? {
        all.push(describe(&state, &w).await?);
    }
    Ok(Json(serde_json::json!({ "workspaces": all })))
}

/// `GET /admin/workspaces/{id}`
pub(crate) async fn get(_: Admin, State(state): State<AppState>, Path(id): Path<String>) -> ApiResult<Json<Value>> {
    let w = workspaces::get(&state.store, &id).await?;
    Ok(Json(describe(&state, &w).await?))
}

async fn describe(state: &AppState, w: &crate::store::Workspace) -> ApiResult<Value> {
    let (keys, api_keys) = (state.store.signing_keys(&w.id).await?, state.store.api_keys(&w.id).await?);
    Ok(views::workspace(w, &keys, &api_keys))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct KeysBody {
    keys: Vec<PublicKey>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct PublicKey {
    kid: Option<String>,
    public_key_pem: String,
}

/// `POST /admin/workspaces/{id}/signing-keys {keys: [{kid?, publicKeyPem}]}`: all or none.
pub(crate) async fn add_signing_keys(
    _: Admin,
    State(state): State<AppState>,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<KeysBody>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    if body.keys.is_empty() {
        return Err(ApiError::missing("keys"));
    }
    let keys: Vec<_> = body.keys.into_iter().map(|k| (k.kid, k.public_key_pem)).collect();
    let added = workspaces::add_public_keys(&state.store, &id, &keys).await?;
    let added: Vec<Value> = added.iter().map(views::signing_key).collect();
    Ok((StatusCode::CREATED, Json(serde_json::json!({ "signingKeys": added }))))
}

/// `DELETE /admin/workspaces/{id}/signing-keys/{kid}`
pub(crate) async fn revoke_signing_key(
    _: Admin,
    State(state): State<AppState>,
    Path((id, kid)): Path<(String, String)>,
) -> ApiResult<StatusCode> {
    workspaces::revoke_signing_key(&state.store, &id, &kid).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct ApiKeyBody {
    #[serde(default)]
    name: String,
}

/// `POST /admin/workspaces/{id}/api-keys {name}`: 201 with the key, shown this once.
pub(crate) async fn issue_api_key(
    _: Admin,
    State(state): State<AppState>,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<ApiKeyBody>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let issued = workspaces::issue_api_key(&state.store, &id, &body.name).await?;
    Ok((StatusCode::CREATED, Json(views::issued(&issued))))
}

/// `DELETE /admin/workspaces/{id}/api-keys/{keyId}`
pub(crate) async fn revoke_api_key(
    _: Admin,
    State(state): State<AppState>,
    Path((id, key_id)): Path<(String, String)>,
) -> ApiResult<StatusCode> {
    workspaces::revoke_api_key(&state.store, &id, &key_id).await?;
    Ok(StatusCode::NO_CONTENT)
}
