//! Operator endpoints, behind the admin token (`Authorization: Bearer`), never
//! the user jwtToken: the adapter listing, an on-demand reload, and metrics.

use super::error::{ApiError, ApiResult, ErrorCode};
use super::extract::{QueryParams, bearer};
use super::state::AppState;
use crate::runtime::world;
use crate::secret::constant_time_eq;
use crate::store::{AuthKind, ConnectionState};
use axum::Json;
use axum::extract::{FromRequestParts, State};
use axum::http::request::Parts;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use serde_json::{Value, json};

/// Proof that the request carries the admin token.
pub(crate) struct Admin;

impl FromRequestParts<AppState> for Admin {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let expected = state.config.admin_token.as_bytes();
        if expected.is_empty() {
            return Err(ApiError::new(
                StatusCode::FORBIDDEN,
                ErrorCode::AdminDisabled,
                "operator endpoints are disabled: set SWITCHBOARD_ADMIN_TOKEN",
            ));
        }
        let ip = parts
            .extensions
            .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
            .map_or(std::net::IpAddr::from([0, 0, 0, 0]), |c| c.0.ip());
        if let Some(wait) = state.admin_failures.blocked_for(ip) {
            let secs = wait.as_secs().max(1);
            return Err(ApiError::new(
                StatusCode::TOO_MANY_REQUESTS,
                ErrorCode::AdminThrottled,
                format!("too many wrong admin tokens from this address; try again in {secs} s"),
            )
            .with("retryAfter", json!(secs)));
        }
        if constant_time_eq(bearer(&parts.headers).as_bytes(), expected) {
            Ok(Admin)
        } else {
            state.admin_failures.fail(ip);
            Err(ApiError::unauthorized(ErrorCode::AdminUnauthorized, "send `Authorization: Bearer <admin token>`"))
        }
    }
}

/// `GET /admin/adapters`
pub(crate) async fn adapters(_: Admin, State(state): State<AppState>) -> Json<Value> {
    Json(json!({
        "servedWitVersions": world::SUPPORTED,
        "adaptersDir": state.runtime.adapters_dir().display().to_string(),
        "adapters": state.runtime.statuses(),
    }))
}

#[derive(serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ReloadQuery {
    #[serde(default)]
    accept_platform_changes: bool,
    /// Reload only this file (`<name>.wasm`).
    #[serde(default)]
    file: Option<String>,
}

/// `POST /admin/reload[?acceptPlatformChanges=true][&file=<name>.wasm]`: the
/// first lets an installed file move to the platform its manifest now names;
/// the second reads only that file again.
pub(crate) async fn reload(
    _: Admin,
    State(state): State<AppState>,
    QueryParams(q): QueryParams<ReloadQuery>,
) -> ApiResult<Json<Value>> {
    let options =
        crate::runtime::registry::ReloadOptions { accept_platform_changes: q.accept_platform_changes, only: q.file };
    let report = state.runtime.reload_with(options).await.map_err(|e| ApiError::internal(format!("{e:#}")))?;
    Ok(Json(json!(report)))
}

#[derive(serde::Deserialize)]
pub(crate) struct PlatformFilter {
    platform: Option<String>,
}

/// `GET /admin/connections?platform=`: status, expiry, last refresh, last error.
pub(crate) async fn connections(
    _: Admin,
    State(state): State<AppState>,
    QueryParams(q): QueryParams<PlatformFilter>,
) -> ApiResult<Json<Value>> {
    Ok(Json(json!({"connections": state.store.connections(q.platform.as_deref()).await?})))
}

/// `POST /admin/connections/refresh?platform=`: refreshes every active OAuth
/// connection now (single-flight with any request doing the same).
pub(crate) async fn refresh_connections(
    _: Admin,
    State(state): State<AppState>,
    QueryParams(q): QueryParams<PlatformFilter>,
) -> ApiResult<Json<Value>> {
    let mut results = Vec::new();
    for c in state.store.connections(q.platform.as_deref()).await? {
        if c.auth_kind != AuthKind::Oauth
            || matches!(c.status, ConnectionState::Revoked | ConnectionState::Disconnected)
        {
            continue;
        }
        let outcome = state.connections.refresh(&c.user_id, None).await;
        results.push(json!({
            "userId": c.user_id,
            "refreshed": outcome.is_ok(),
            "errorCode": outcome.err().map(|e| ApiError::from(e).code),
        }));
    }
    Ok(Json(json!({"results": results})))
}

/// `GET /metrics`, Prometheus text format.
pub(crate) async fn metrics(_: Admin, State(state): State<AppState>) -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")], state.metrics.encode())
}
