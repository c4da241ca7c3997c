//! Liveness, capabilities and manifests.

use super::error::{ApiError, ApiResult};
use super::extract::QueryParams;
use super::session::Session;
use super::state::AppState;
use super::state::adapter_for;
use crate::runtime::manifest::AuthSpec;
use crate::runtime::world::Operation;
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
    // Every adapter exports the operations of switchboard:crm@0.1.0; the name
    // search and dispositions came with 0.2.0; appointments and the rest are
    // not in any world yet.
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
        "upsertCallDisposition": adapter.has(Operation::SetCallDisposition),
        "findContactWithName": adapter.has(Operation::FindContactByName),
        "getUserList": false,
        "getManagedAuthOptions": false,
        "getLicenseStatus": false,
        "getLogFormatType": false,
        "refreshUserInfo": false,
        "cacheCallNote": false,
    })))
}

/// The user's stored CRM hostname (empty for CRMs without tenant hosts).
pub(crate) async fn hostname(Extension(session): Extension<Session>) -> impl IntoResponse {
    session.user.hostname
}
