//! The integrations API for workspaces' backends, under `/api/v1`,
//! authenticated by a workspace API key (`Authorization: Bearer sbk_…`).
//! Its errors are RFC 9457 problem details ([`problem::Problem`]), not the
//! App Connect envelope.

pub(crate) mod connecting;
pub(crate) mod integrations;
pub(crate) mod oauth_connect;
pub(crate) mod openapi;
pub(crate) mod operations;
pub(crate) mod problem;
pub(crate) mod webhooks;
pub(crate) mod widget_tokens;

use super::connect::OpenedSession;
use super::extract::bearer;
use super::state::AppState;
use crate::workspaces;
use axum::Json;
use axum::extract::{FromRequestParts, State};
use axum::http::request::Parts;
use problem::{Problem, ProblemCode, ProblemJson, ProblemResponse};

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

/// The workspace an API key belongs to.
#[derive(serde::Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct WorkspaceView {
    id: String,
    name: String,
    allowed_origins: Vec<String>,
    /// The id of the key this request used.
    api_key_id: String,
}

/// `GET /api/v1/workspace`: the workspace the key belongs to (a backend's
/// first check that its key works).
#[utoipa::path(get, path = "/api/v1/workspace", tag = "workspace",
    responses((status = 200, body = WorkspaceView), (status = "default", response = ProblemResponse)))]
pub(crate) async fn workspace(
    key: WorkspaceKey,
    State(state): State<AppState>,
) -> Result<Json<WorkspaceView>, Problem> {
    let w = workspaces::get(&state.store, &key.workspace_id).await?;
    Ok(Json(WorkspaceView { id: w.id, name: w.name, allowed_origins: w.allowed_origins, api_key_id: key.key_id }))
}

#[derive(serde::Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct ConnectSessionBody {
    connector: String,
    customer_id: String,
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    integration_id: Option<String>,
}

/// `POST /api/v1/connect-sessions {connector, customerId, name?, integrationId?}`:
/// the backend opens a connect session with its API key instead of signing
/// a secret; the frontend passes the `sessionToken` on.
#[utoipa::path(post, path = "/api/v1/connect-sessions", tag = "connect", request_body = ConnectSessionBody,
    responses((status = 201, body = OpenedSession), (status = "default", response = ProblemResponse)))]
pub(crate) async fn open_connect_session(
    key: WorkspaceKey,
    State(state): State<AppState>,
    ProblemJson(body): ProblemJson<ConnectSessionBody>,
) -> Result<(axum::http::StatusCode, Json<OpenedSession>), Problem> {
    let grant = crate::connect::Grant {
        workspace_id: key.workspace_id,
        customer_id: body.customer_id,
        name: body.name,
        integration_id: body.integration_id,
    };
    let exists = state.runtime.adapter(&body.connector).is_some();
    let opened = crate::connect::open_for_backend(&state.store, grant, &body.connector, exists).await?;
    Ok((axum::http::StatusCode::CREATED, Json(OpenedSession::of(&opened))))
}
