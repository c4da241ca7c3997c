//! Operator endpoints, behind the admin token (`Authorization: Bearer`), never
//! the user jwtToken: the adapter listing, an on-demand reload, and metrics.

use super::AppState;
use super::extract::QueryParams;
use crate::error::{ApiError, ApiResult, code};
use crate::runtime::manifest::SUPPORTED_WIT_VERSIONS;
use axum::Json;
use axum::extract::{FromRequestParts, State};
use axum::http::request::Parts;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use serde_json::{Value, json};

/// Proof that the request carries the admin token.
pub struct Admin;

/// Compares in time independent of where the strings differ.
fn same_secret(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

impl FromRequestParts<AppState> for Admin {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let expected = state.config.admin_token.as_bytes();
        if expected.is_empty() {
            return Err(ApiError::new(
                StatusCode::FORBIDDEN,
                code::ADMIN_DISABLED,
                "operator endpoints are disabled: set SWITCHBOARD_ADMIN_TOKEN",
            ));
        }
        let given = parts
            .headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .unwrap_or_default();
        if same_secret(given.trim().as_bytes(), expected) {
            Ok(Admin)
        } else {
            Err(ApiError::unauthorized(code::ADMIN_UNAUTHORIZED, "send `Authorization: Bearer <admin token>`"))
        }
    }
}

/// `GET /admin/adapters`
pub async fn adapters(_: Admin, State(state): State<AppState>) -> Json<Value> {
    Json(json!({
        "servedWitVersions": SUPPORTED_WIT_VERSIONS,
        "adaptersDir": state.runtime.adapters_dir().display().to_string(),
        "adapters": state.runtime.statuses(),
    }))
}

/// `POST /admin/reload`
pub async fn reload(_: Admin, State(state): State<AppState>) -> ApiResult<Json<Value>> {
    let report = state.runtime.reload().await.map_err(|e| ApiError::internal(format!("{e:#}")))?;
    Ok(Json(json!(report)))
}

#[derive(serde::Deserialize)]
pub struct PlatformFilter {
    platform: Option<String>,
}

/// `GET /admin/connections?platform=`: status, expiry, last refresh, last error.
pub async fn connections(
    _: Admin,
    State(state): State<AppState>,
    QueryParams(q): QueryParams<PlatformFilter>,
) -> ApiResult<Json<Value>> {
    Ok(Json(json!({"connections": state.store.connections(q.platform.as_deref()).await?})))
}

/// `POST /admin/connections/refresh?platform=`: refreshes every active OAuth
/// connection now (single-flight with any request doing the same).
pub async fn refresh_connections(
    _: Admin,
    State(state): State<AppState>,
    QueryParams(q): QueryParams<PlatformFilter>,
) -> ApiResult<Json<Value>> {
    let mut results = Vec::new();
    for c in state.store.connections(q.platform.as_deref()).await? {
        if c.auth_kind != "oauth" || c.status == "revoked" || c.status == "disconnected" {
            continue;
        }
        let outcome = state.connections.refresh(&c.user_id, None).await;
        results.push(json!({
            "userId": c.user_id,
            "refreshed": outcome.is_ok(),
            "errorCode": outcome.err().map(|e| e.code),
        }));
    }
    Ok(Json(json!({"results": results})))
}

/// `GET /metrics`, Prometheus text format.
pub async fn metrics(_: Admin, State(state): State<AppState>) -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")], state.metrics.encode())
}

#[cfg(test)]
mod tests {
    #[test]
    fn secrets_compare_whole() {
        assert!(super::same_secret(b"abc", b"abc"));
        assert!(!super::same_secret(b"abc", b"abd"));
        assert!(!super::same_secret(b"abc", b"abcd"));
    }
}
