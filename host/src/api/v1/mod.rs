//! The integrations API for workspaces' backends, under `/api/v1`,
//! authenticated by a workspace API key (`Authorization: Bearer sbk_…`).
//! Its errors are RFC 9457 problem details ([`problem::Problem`]), not the
//! App Connect envelope.

pub(crate) mod problem;

use super::extract::bearer;
use super::state::AppState;
use crate::workspaces;
use axum::Json;
use axum::extract::{FromRequestParts, State};
use axum::http::request::Parts;
use problem::{Problem, ProblemCode};
use serde_json::{Value, json};

/// The workspace whose API key the request carries.
pub(crate) struct WorkspaceKey {
    pub(crate) workspace_id: String,
    pub(crate) key_id: String,
}

impl FromRequestParts<AppState> for WorkspaceKey {
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Problem> {
        let presented = bearer(&parts.headers);
        if presented.is_empty() {
            return Err(Problem::new(
                ProblemCode::Unauthenticated,
                "send the workspace's API key: `Authorization: Bearer sbk_…`",
            ));
        }
        match workspaces::authenticate(&state.store, presented).await? {
            Some(key) => Ok(WorkspaceKey { workspace_id: key.workspace_id, key_id: key.id }),
            None => Err(Problem::new(ProblemCode::Unauthenticated, "the API key is unknown or revoked")),
        }
    }
}

/// `GET /api/v1/workspace`: the workspace the key belongs to (a backend's
/// first check that its key works).
pub(crate) async fn workspace(key: WorkspaceKey, State(state): State<AppState>) -> Result<Json<Value>, Problem> {
    let w = workspaces::get(&state.store, &key.workspace_id).await?;
    Ok(Json(json!({
        "id": w.id,
        "name": w.name,
        "allowedOrigins": w.allowed_origins,
        "apiKeyId": key.key_id,
    })))
}
