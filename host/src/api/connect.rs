//! `POST /connect/sessions`: the frontend library trades a workspace's signed
//! secret for a short-lived connect session (its errors are problem documents).

use super::extract::bearer;
use super::state::AppState;
use super::v1::problem::{Problem, ProblemJson};
use crate::connect::secret::SecretError;
use crate::connect::{self, ConnectError};
use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use serde::Deserialize;
use serde_json::{Value, json};

impl From<ConnectError> for Problem {
    fn from(e: ConnectError) -> Self {
        let detail = e.to_string();
        match e {
            ConnectError::Store(store) => store.into(),
            ConnectError::Secret(SecretError::Store(store)) => store.into(),
            ConnectError::Secret(secret) => {
                let status = match secret {
                    SecretError::UnknownKey(_)
                    | SecretError::BadSignature
                    | SecretError::Expired
                    | SecretError::Replayed
                    | SecretError::WrongWorkspace => StatusCode::UNAUTHORIZED,
                    SecretError::ForeignIntegration(_) => StatusCode::NOT_FOUND,
                    _ => StatusCode::BAD_REQUEST,
                };
                Problem::other(status, secret.code(), "Connect secret refused", detail)
            }
            ConnectError::UnknownConnector(_) => {
                Problem::other(StatusCode::NOT_FOUND, "UNKNOWN_CONNECTOR", "Unknown connector", detail)
            }
            ConnectError::OriginNotAllowed(_) => {
                Problem::other(StatusCode::FORBIDDEN, "ORIGIN_NOT_ALLOWED", "Origin not allowed", detail)
            }
        }
    }
}

#[derive(Deserialize)]
pub(crate) struct OpenBody {
    connector: String,
    secret: String,
}

/// `POST /connect/sessions {connector, secret}` → 201 `{sessionToken, expiresAt, connectUrl, …}`.
pub(crate) async fn open(
    State(state): State<AppState>,
    headers: HeaderMap,
    ProblemJson(body): ProblemJson<OpenBody>,
) -> Result<(StatusCode, Json<Value>), Problem> {
    let origin = headers.get(header::ORIGIN).and_then(|v| v.to_str().ok());
    let exists = state.runtime.adapter(&body.connector).is_some();
    let opened = connect::open_session(&state.store, &body.connector, &body.secret, origin, exists).await?;
    Ok((StatusCode::CREATED, Json(opened_json(&opened))))
}

/// A new session, as both routes that open one answer.
pub(crate) fn opened_json(opened: &connect::Opened) -> Value {
    let s = &opened.session;
    json!({
        "sessionToken": opened.token.expose(),
        "expiresAt": s.expires_at,
        "connector": s.connector,
        "customerId": s.customer_id,
        "integrationId": s.integration_id,
        "connectUrl": format!("/connect/{}?session={}", s.connector, opened.token.expose()),
    })
}

/// `GET /connect/sessions/current` (`Authorization: Bearer cs_…`): what the
/// connect page needs to know about its session.
pub(crate) async fn current(State(state): State<AppState>, headers: HeaderMap) -> Result<Json<Value>, Problem> {
    let token = bearer(&headers);
    let refused = || {
        Problem::other(
            StatusCode::UNAUTHORIZED,
            "SESSION_EXPIRED",
            "Connect session expired",
            "the connect session is unknown or has expired: call connect() again".into(),
        )
    };
    let s = connect::session(&state.store, token).await?.ok_or_else(refused)?;
    let workspace = state.store.workspace(&s.workspace_id).await?.ok_or_else(refused)?;
    Ok(Json(json!({
        "workspace": {"id": workspace.id, "name": workspace.name},
        "connector": s.connector,
        "customerId": s.customer_id,
        "customerName": s.customer_name,
        "integrationId": s.integration_id,
        "expiresAt": s.expires_at,
    })))
}
