//! The connect flow's browser side: `POST /connect/sessions` trades a
//! workspace's signed secret for a short-lived connect session; the hosted
//! page `/connect/{connector}` reads it (`GET /connect/sessions/current`) and
//! connects with the customer's API key or sends them through OAuth, ending
//! on `/connect/done`, which tells the opener by `postMessage` to its exact
//! origin. Errors are problem documents.

use super::extract::bearer;
use super::state::AppState;
use super::v1::connecting::{self, Client, unknown_connector};
use super::v1::oauth_connect;
use super::v1::problem::{Problem, ProblemJson};
use crate::connect::secret::SecretError;
use crate::connect::{self, ConnectError};
use crate::runtime::manifest::AuthSpec;
use crate::store::{ConnectSession, Workspace};
use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
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
) -> Result<(StatusCode, Json<OpenedSession>), Problem> {
    let origin = headers.get(header::ORIGIN).and_then(|v| v.to_str().ok());
    let exists = state.runtime.adapter(&body.connector).is_some();
    let opened = connect::open_session(&state.store, &body.connector, &body.secret, origin, exists).await?;
    Ok((StatusCode::CREATED, Json(OpenedSession::of(&opened))))
}

/// A new connect session, as both routes that open one answer.
#[derive(serde::Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct OpenedSession {
    /// `cs_…`: give it to `connect()` (or open `connectUrl`); shown once.
    session_token: String,
    /// Unix seconds (15 minutes).
    expires_at: i64,
    connector: String,
    customer_id: String,
    integration_id: Option<String>,
    connect_url: String,
}

impl OpenedSession {
    pub(crate) fn of(opened: &connect::Opened) -> Self {
        let s = &opened.session;
        OpenedSession {
            session_token: opened.token.expose().to_owned(),
            expires_at: s.expires_at,
            connector: s.connector.clone(),
            customer_id: s.customer_id.clone(),
            integration_id: s.integration_id.clone(),
            connect_url: format!("/connect/{}?session={}", s.connector, opened.token.expose()),
        }
    }
}

fn session_expired() -> Problem {
    Problem::other(
        StatusCode::UNAUTHORIZED,
        "SESSION_EXPIRED",
        "Connect session expired",
        "the connect session is unknown or has expired: call connect() again".into(),
    )
}

/// The session a page's `Authorization: Bearer cs_…` names, and its workspace.
async fn page_session(state: &AppState, headers: &HeaderMap) -> Result<(ConnectSession, Workspace), Problem> {
    let s = connect::session(&state.store, bearer(headers)).await?.ok_or_else(session_expired)?;
    let workspace = state.store.workspace(&s.workspace_id).await?.ok_or_else(session_expired)?;
    Ok((s, workspace))
}

/// `origin` if it is one of the workspace's (where the opener runs).
fn opener_origin(workspace: &Workspace, origin: Option<&str>) -> Result<String, Problem> {
    match origin.filter(|o| !o.is_empty()) {
        Some(o) if workspace.allowed_origins.iter().any(|a| a == o) => Ok(o.to_owned()),
        Some(o) => Err(ConnectError::OriginNotAllowed(o.to_owned()).into()),
        None => Err(Problem::invalid("origin is required: the origin of the page that called connect()")),
    }
}

#[derive(Deserialize)]
pub(crate) struct CurrentQuery {
    origin: Option<String>,
}

/// `GET /connect/sessions/current?origin=` (`Authorization: Bearer cs_…`):
/// what the connect page shows, and the opener origin it may post to.
pub(crate) async fn current(
    State(state): State<AppState>,
    headers: HeaderMap,
    axum::extract::Query(q): axum::extract::Query<CurrentQuery>,
) -> Result<Json<Value>, Problem> {
    let (s, workspace) = page_session(&state, &headers).await?;
    let opener = q.origin.as_deref().map(|o| opener_origin(&workspace, Some(o))).transpose()?;
    let adapter = state.runtime.adapter(&s.connector).ok_or_else(|| unknown_connector(&state, &s.connector))?;
    let m = &adapter.manifest;
    let (auth_kind, form) = match m.auth {
        AuthSpec::ApiKey { .. } => ("api-key", super::crm_manifest::login_page(m)),
        AuthSpec::Oauth { .. } => ("oauth", Value::Null),
    };
    Ok(Json(json!({
        "workspace": {"id": workspace.id, "name": workspace.name},
        "connector": s.connector,
        "connectorName": m.display_name,
        "authKind": auth_kind,
        "form": form,
        "customerId": s.customer_id,
        "customerName": s.customer_name,
        "integrationId": s.integration_id,
        "expiresAt": s.expires_at,
        "openerOrigin": opener,
    })))
}

/// What the page connects for: the session's customer, connector and renewal.
fn page_request(s: &ConnectSession, client: Client) -> connecting::Request {
    connecting::Request {
        workspace_id: s.workspace_id.clone(),
        customer_id: s.customer_id.clone(),
        connector: s.connector.clone(),
        integration_id: s.integration_id.clone(),
        name: s.customer_name.clone(),
        metadata: None,
        client,
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ApiKeyBody {
    api_key: String,
    #[serde(default)]
    hostname: Option<String>,
}

/// `POST /connect/sessions/current/api-key {apiKey, hostname?}`: the page's
/// API-key form; answers `{integrationId, status}` (`connected` / `reconnected`).
pub(crate) async fn connect_api_key(
    State(state): State<AppState>,
    headers: HeaderMap,
    client: Client,
    ProblemJson(body): ProblemJson<ApiKeyBody>,
) -> Result<Json<Value>, Problem> {
    let (s, _) = page_session(&state, &headers).await?;
    let request = page_request(&s, client);
    let hostname = body.hostname.unwrap_or_default();
    let c = connecting::with_api_key(&state, &request, &body.api_key, &hostname).await?;
    let status = if c.created { "connected" } else { "reconnected" };
    Ok(Json(json!({"integrationId": c.integration.id, "status": status})))
}

#[derive(Deserialize)]
pub(crate) struct OauthBody {
    origin: String,
    #[serde(default)]
    hostname: Option<String>,
}

/// `POST /connect/sessions/current/oauth {origin, hostname?}` → `{authUrl}`:
/// the page sends its window there; the callback ends on `/connect/done`.
pub(crate) async fn start_oauth(
    State(state): State<AppState>,
    headers: HeaderMap,
    client: Client,
    ProblemJson(body): ProblemJson<OauthBody>,
) -> Result<Json<Value>, Problem> {
    let (s, workspace) = page_session(&state, &headers).await?;
    let origin = opener_origin(&workspace, Some(&body.origin))?;
    let done = format!(
        "/connect/done?{}",
        url::form_urlencoded::Serializer::new(String::new())
            .append_pair("origin", &origin)
            .append_pair("connector", &s.connector)
            .finish()
    );
    let url = oauth_connect::begin(&state, page_request(&s, client), done, body.hostname.as_deref()).await?;
    Ok(Json(json!({"authUrl": url.as_str()})))
}

/// The page's HTML: the same document for `/connect/{connector}` and
/// `/connect/done`; its script decides what to show.
const PAGE_HTML: &str = include_str!("../../web/connect.html");
const PAGE_SCRIPT: &str = include_str!("../../web/connect.js");
/// The frontend library, `connect(connector, secret, cb?, config?)`.
const LIBRARY: &str = include_str!("../../../sdk/js/connect.js");

/// No framing, nothing from elsewhere: the page handles credentials.
const PAGE_CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; \
                        connect-src 'self'; img-src 'self' data:; form-action 'self'; frame-ancestors 'none'; \
                        base-uri 'none'";

/// `GET /connect/{connector}` and `GET /connect/done`.
pub(crate) async fn page() -> Response {
    let mut r = Html(PAGE_HTML).into_response();
    let h = r.headers_mut();
    h.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(PAGE_CSP));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    h.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    r
}

fn script(body: &'static str) -> Response {
    let mut r = body.into_response();
    let h = r.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/javascript; charset=utf-8"));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    h.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    r
}

/// `GET /connect/assets/page.js`: the connect page's script.
pub(crate) async fn page_script() -> Response {
    script(PAGE_SCRIPT)
}

/// `GET /sdk/connect.js`: the frontend library as an ES module (loaded
/// cross-origin by the workspaces' pages, under the host's CORS policy).
pub(crate) async fn library() -> Response {
    script(LIBRARY)
}
