//! Connecting and disconnecting a CRM.

use super::connection::Connection;
use super::extract::JsonBody;
use super::meta::adapter_for;
use super::{AppState, Session};
use crate::error::{ApiError, ApiResult, code};
use crate::request_id;
use crate::runtime::InvokeError;
use crate::runtime::call_context;
use crate::runtime::manifest::AuthSpec;
use crate::store::{Secret, User};
use axum::Json;
use axum::extract::{Extension, State};
use serde::Deserialize;
use serde_json::{Value, json};

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ApiKeyLogin {
    platform: Option<String>,
    api_key: Option<String>,
    #[serde(default)]
    hostname: Option<String>,
}

/// `POST /apiKeyLogin`: validates the key through the adapter (`get-user-info`),
/// stores it encrypted and issues the jwtToken.
pub async fn api_key_login(
    State(state): State<AppState>,
    JsonBody(body): JsonBody<ApiKeyLogin>,
) -> ApiResult<Json<Value>> {
    let platform = body.platform.filter(|p| !p.is_empty()).ok_or_else(|| ApiError::missing("platform"))?;
    let api_key = body.api_key.filter(|k| !k.trim().is_empty()).ok_or_else(|| ApiError::missing("apiKey"))?;
    let adapter = adapter_for(&state, &platform)?;
    if !matches!(adapter.manifest.auth, AuthSpec::ApiKey { .. }) {
        return Err(ApiError::bad_request(
            code::UNSUPPORTED_AUTH,
            format!("{platform} uses OAuth, not an API key: start at /oauth/{platform}/start"),
        ));
    }
    let hostname = body.hostname.unwrap_or_default();
    let rid = request_id::current();
    let ctx = call_context(&rid, "", &hostname);
    let info = state
        .runtime
        .call(&adapter, "get-user-info", &rid, Some(api_key.trim()), move |a, s| {
            Box::pin(async move { a.call_get_user_info(s, &ctx).await })
        })
        .await
        .map_err(|e| match e {
            InvokeError::Crm(crate::runtime::CrmError::Unauthorized(_)) => ApiError::bad_request(
                code::INVALID_API_KEY,
                format!("{} did not accept this API key", adapter.manifest.display_name),
            ),
            other => other.into(),
        })?;
    let user = User {
        id: format!("{}-{platform}", info.id),
        platform: platform.clone(),
        crm_user_id: info.id,
        name: info.name.clone(),
        hostname: info.hostname.unwrap_or(hostname),
        auth_kind: "api-key".into(),
        credential: Some(Secret::new(api_key.trim())),
    };
    state.store.upsert_user(&user).await?;
    tracing::info!(platform = %platform, user = %user.id, "user connected");
    Ok(Json(json!({
        "jwtToken": state.jwt.issue(&user.id, &platform),
        "name": info.name,
        "returnMessage": {"message": format!("Connected to {}.", adapter.manifest.display_name), "messageType": "success", "ttl": 3000},
    })))
}

/// `POST /unAuthorize`: asks the adapter to revoke, then forgets the credential.
/// The stored credential is removed even when the CRM cannot be reached, so a
/// user can always log out.
pub async fn unauthorize(
    State(state): State<AppState>,
    Extension(session): Extension<Session>,
) -> ApiResult<Json<Value>> {
    let crm = Connection::open(&state, &session)?;
    let revoked = crm.call("unauthorize", |ctx, a, s| Box::pin(async move { a.call_unauthorize(s, &ctx).await })).await;
    if let Err(e) = &revoked {
        tracing::warn!(user = %session.user.id, error = %e, "the CRM could not revoke the connection; forgetting it anyway");
    }
    state.store.clear_credential(&session.user.id).await?;
    Ok(Json(json!({
        "successful": true,
        "returnMessage": {"message": "Logged out.", "messageType": "success", "ttl": 1000},
    })))
}

/// `GET /authValidation`: is the stored connection still accepted by the CRM?
pub async fn auth_validation(
    State(state): State<AppState>,
    Extension(session): Extension<Session>,
) -> ApiResult<Json<Value>> {
    let crm = Connection::open(&state, &session)?;
    crm.call("get-user-info", |ctx, a, s| Box::pin(async move { a.call_get_user_info(s, &ctx).await })).await?;
    Ok(Json(json!({
        "successful": true,
        "returnMessage": {"message": "Connection is valid.", "messageType": "success", "ttl": 1000},
    })))
}

/// `GET /oauth-callback`: OAuth login arrives with issue #4.
pub async fn oauth_callback() -> ApiError {
    ApiError::bad_request(
        code::OAUTH_NOT_CONFIGURED,
        "OAuth login is not available on this server yet; use an API-key platform",
    )
}
