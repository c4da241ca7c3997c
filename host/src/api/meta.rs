//! Liveness, capabilities and manifests.

use super::error::{ApiError, ApiResult, ErrorCode};
use super::extract::QueryParams;
use super::session::Session;
use super::state::AppState;
use super::state::adapter_for;
use crate::runtime::manifest::AuthSpec;
use axum::Json;
use axum::extract::{Extension, State};
use axum::response::IntoResponse;
use serde::Deserialize;
use serde_json::{Value, json};

pub(crate) async fn is_alive() -> &'static str {
    "OK"
}

#[derive(Deserialize)]
pub(crate) struct PlatformQuery {
    platform: Option<String>,
}

/// Which App Connect connector methods the platform's adapter implements.
pub(crate) async fn implemented_interfaces(
    State(state): State<AppState>,
    QueryParams(q): QueryParams<PlatformQuery>,
) -> ApiResult<Json<Value>> {
    let platform = q.platform.filter(|p| !p.is_empty()).ok_or_else(|| ApiError::missing("platform"))?;
    let adapter = adapter_for(&state, &platform)?;
    let oauth = matches!(adapter.manifest.auth, AuthSpec::Oauth { .. });
    // Every switchboard:crm@0.1.0 adapter exports all the operations below;
    // appointments, dispositions and the rest are not in the world yet.
    Ok(Json(json!({
        "getAuthType": true,
        "getOauthInfo": oauth,
        "getBasicAuth": false,
        "getUserInfo": true,
        "createCallLog": true,
        "updateCallLog": true,
        "getCallLog": true,
        "createMessageLog": true,
        "updateMessageLog": true,
        "createContact": true,
        "findContact": true,
        "listAppointments": false,
        "createAppointment": false,
        "updateAppointment": false,
        "refreshAppointment": false,
        "confirmAppointment": false,
        "cancelAppointment": false,
        "unAuthorize": true,
        "upsertCallDisposition": false,
        "findContactWithName": false,
        "getUserList": false,
        "getManagedAuthOptions": false,
        "getLicenseStatus": false,
        "getLogFormatType": false,
        "refreshUserInfo": false,
        "cacheCallNote": false,
    })))
}

#[derive(Deserialize)]
pub(crate) struct ManifestQuery {
    #[serde(rename = "platformName")]
    platform_name: Option<String>,
}

/// The legacy connector manifest, built from the adapter's own manifest.
pub(crate) async fn crm_manifest(
    State(state): State<AppState>,
    QueryParams(q): QueryParams<ManifestQuery>,
) -> ApiResult<Json<Value>> {
    let platform = match q.platform_name.filter(|p| !p.is_empty()) {
        Some(p) => p,
        None => state
            .config
            .default_platform
            .clone()
            .or_else(|| state.runtime.adapters().first().map(|a| a.manifest.platform.clone()))
            .ok_or_else(|| ApiError::bad_request(ErrorCode::UnknownPlatform, "no adapters are loaded"))?,
    };
    let adapter = adapter_for(&state, &platform)?;
    let m = &adapter.manifest;
    let auth = match &m.auth {
        AuthSpec::ApiKey { .. } => json!({"type": "apiKey"}),
        AuthSpec::Oauth { authorize_url, scopes, .. } => {
            json!({"type": "oauth", "oauth": {"authUrl": authorize_url, "scope": scopes.join(" ")}})
        }
    };
    let contact_types: Vec<Value> = m.contact_types.iter().map(|t| json!({"display": t, "value": t})).collect();
    Ok(Json(json!({
        "version": m.version,
        "platforms": {
            m.platform.clone(): {
                "name": m.platform,
                "displayName": m.display_name,
                "description": m.description,
                "auth": auth,
                "contactTypes": contact_types,
                "witVersion": m.wit_version,
            }
        }
    })))
}

/// The user's stored CRM hostname (empty for CRMs without tenant hosts).
pub(crate) async fn hostname(Extension(session): Extension<Session>) -> impl IntoResponse {
    session.user.hostname
}
