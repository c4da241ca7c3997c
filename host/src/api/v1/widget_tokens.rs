//! Widget tokens (issue 16): the workspace's backend mints, with its API
//! key, a short-lived token for one customer (`POST /api/v1/widget-tokens`)
//! and hands it to its page, which gives it to the embeddable widget. The
//! widget checks it (`GET /api/v1/widget-tokens/validate`, the token as the
//! bearer); a page on an origin the workspace did not allow is refused.

use super::WorkspaceKey;
use super::problem::{Problem, ProblemJson, ProblemResponse};
use crate::api::extract::bearer;
use crate::api::state::AppState;
use crate::clock::now_secs;
use crate::secret::token_hash;
use crate::store::WidgetToken;
use crate::webhooks::event::rfc3339_millis;
use crate::workspaces;
use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// The longest a widget token lives, and its default.
const MAX_TTL_SECS: i64 = 24 * 3600;
const DEFAULT_TTL_SECS: i64 = 3600;

#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct CreateBody {
    /// The customer whose integrations the widget shows (1 to 64 letters and digits).
    customer_id: String,
    /// When it expires (RFC 3339, at most 24 h away); or give `ttl`.
    #[serde(default)]
    expires_at: Option<String>,
    /// Its lifetime in seconds (60 to 86400; default 3600).
    #[serde(default)]
    ttl: Option<i64>,
}

/// A new widget token: shown once, stored only as its hash.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Minted {
    /// `wt_…`: the widget's `token` attribute.
    token: String,
    token_id: String,
    customer_id: String,
    expires_at: String,
    /// The page origins the widget may run on (the workspace's).
    allowed_origins: Vec<String>,
}

fn ms(secs: i64) -> String {
    rfc3339_millis(secs.saturating_mul(1000))
}

/// When a token asked for with `body` expires (unix seconds), or why not.
fn expiry(body: &CreateBody, now: i64) -> Result<i64, Problem> {
    match (&body.expires_at, body.ttl) {
        (Some(_), Some(_)) => Err(Problem::invalid("give expiresAt or ttl, not both")),
        (None, None) => Ok(now + DEFAULT_TTL_SECS),
        (None, Some(ttl)) if (60..=MAX_TTL_SECS).contains(&ttl) => Ok(now + ttl),
        (None, Some(_)) => Err(Problem::invalid("ttl: 60 to 86400 seconds")),
        (Some(at), None) => {
            let at = humantime::parse_rfc3339_weak(at)
                .map_err(|_| Problem::invalid("expiresAt: an RFC 3339 time, e.g. 2026-12-02T10:00:00Z"))?;
            let at = crate::clock::unix_secs(at) as i64;
            if at <= now + 59 || at > now + MAX_TTL_SECS {
                return Err(Problem::invalid("expiresAt: from a minute to 24 hours from now"));
            }
            Ok(at)
        }
    }
}

#[utoipa::path(post, path = "/api/v1/widget-tokens", tag = "widget", request_body = CreateBody,
    responses((status = 201, body = Minted), (status = "default", response = ProblemResponse)))]
/// Mints a widget token for one customer (at most 24 h; default 1 h).
pub(crate) async fn create(
    key: WorkspaceKey,
    State(state): State<AppState>,
    ProblemJson(body): ProblemJson<CreateBody>,
) -> Result<(StatusCode, Json<Minted>), Problem> {
    super::connecting::check_customer_id(&body.customer_id)?;
    let now = now_secs();
    let expires_at = expiry(&body, now)?;
    let (token, row) =
        workspaces::mint_widget_token(&state.store, &key.workspace_id, &body.customer_id, expires_at).await?;
    let workspace = workspaces::get(&state.store, &key.workspace_id).await?;
    Ok((
        StatusCode::CREATED,
        Json(Minted {
            token: token.expose().to_owned(),
            token_id: row.id,
            customer_id: row.customer_id,
            expires_at: ms(expires_at),
            allowed_origins: workspace.allowed_origins,
        }),
    ))
}

/// A valid token, as the widget sees it.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Validated {
    valid: bool,
    customer_id: String,
    issued_at: String,
    expires_at: String,
    /// Seconds left.
    expires_in: i64,
}

fn refused(code: &'static str, title: &'static str, detail: &str) -> Problem {
    Problem::other(StatusCode::UNAUTHORIZED, code, title, detail.into())
}

/// The token a request carries and what it grants, refused when unknown,
/// expired, or sent from a page origin its workspace did not allow.
pub(crate) async fn authenticate(state: &AppState, headers: &HeaderMap) -> Result<WidgetToken, Problem> {
    let presented = bearer(headers);
    if !presented.starts_with("wt_") {
        return Err(refused("WIDGET_TOKEN_INVALID", "Invalid widget token", "send the widget token as the bearer"));
    }
    let Some(t) = state.store.widget_token(&token_hash(presented)).await? else {
        return Err(refused("WIDGET_TOKEN_INVALID", "Invalid widget token", "the widget token is unknown"));
    };
    if t.expires_at <= now_secs() {
        return Err(refused(
            "WIDGET_TOKEN_EXPIRED",
            "Widget token expired",
            "the widget token has expired: ask the page's backend for a new one",
        ));
    }
    if let Some(origin) = headers.get(header::ORIGIN).and_then(|o| o.to_str().ok()) {
        let workspace = workspaces::get(&state.store, &t.workspace_id).await?;
        if !workspace.allowed_origins.iter().any(|o| o == origin) {
            return Err(Problem::other(
                StatusCode::FORBIDDEN,
                "ORIGIN_NOT_ALLOWED",
                "Origin not allowed",
                format!("the workspace does not allow pages on {origin}"),
            ));
        }
    }
    Ok(t)
}

#[utoipa::path(get, path = "/api/v1/widget-tokens/validate", tag = "widget",
    security(("widgetToken" = [])),
    responses((status = 200, body = Validated), (status = "default", response = ProblemResponse)))]
/// Checks the widget token sent as the bearer (what the widget does first).
pub(crate) async fn validate(State(state): State<AppState>, headers: HeaderMap) -> Result<Json<Validated>, Problem> {
    let t = authenticate(&state, &headers).await?;
    Ok(Json(Validated {
        valid: true,
        customer_id: t.customer_id,
        issued_at: ms(t.created_at),
        expires_at: ms(t.expires_at),
        expires_in: t.expires_at - now_secs(),
    }))
}
