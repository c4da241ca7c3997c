//! OAuth connects of integrations: `POST /api/v1/integrations/oauth/start`
//! answers the CRM's consent URL (state + PKCE, kept with what the connect is
//! for); the CRM sends the browser back to the host's one registered
//! callback (`/oauth-callback`), which finishes here and redirects the
//! browser to the return URL with the outcome. Any replica may take the
//! callback: the state lives in the database.

use super::WorkspaceKey;
use super::connecting::{self, Client};
use super::problem::{Problem, ProblemJson};
use crate::api::error::ApiError;
use crate::api::state::AppState;
use crate::clock::now_secs;
use crate::oauth::OauthError;
use crate::store::PendingLogin;
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use url::Url;

/// What an integration's OAuth login is for, kept with its `state`.
#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Purpose {
    pub(crate) connect: connecting::Request,
    /// Where the browser goes when the login is over, with the outcome added:
    /// a URL on the workspace's origins, or a path of this host.
    pub(crate) return_url: String,
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct StartBody {
    connector: String,
    customer_id: String,
    /// On one of the workspace's allowed origins.
    return_url: String,
    #[serde(default)]
    hostname: Option<String>,
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    metadata: Option<Value>,
    #[serde(default)]
    integration_id: Option<String>,
}

/// Where to send the customer's browser.
#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Started {
    /// The CRM's consent page (with state and PKCE challenge).
    auth_url: String,
    /// Unix seconds: the login must come back before.
    expires_at: i64,
}

/// `return_url` if it is an absolute http(s) URL on one of `origins`.
pub(crate) fn allowed_return_url(return_url: &str, origins: &[String]) -> Result<Url, Problem> {
    let url = Url::parse(return_url).map_err(|_| Problem::invalid("returnUrl is not an absolute URL"))?;
    let origin = url.origin().ascii_serialization();
    if !matches!(url.scheme(), "http" | "https") || !origins.contains(&origin) {
        return Err(Problem::other(
            StatusCode::BAD_REQUEST,
            "RETURN_URL_NOT_ALLOWED",
            "Return URL not allowed",
            format!("returnUrl must be on one of the workspace's allowed origins, not {origin}"),
        ));
    }
    Ok(url)
}

/// Starts an OAuth connect: stores the state with its purpose and answers the consent URL.
pub(crate) async fn begin(
    state: &AppState,
    connect: connecting::Request,
    return_url: String,
    hostname: Option<&str>,
) -> Result<Url, Problem> {
    let adapter = connect.check(state).await?;
    let purpose = serde_json::to_string(&Purpose { connect, return_url }).map_err(|e| {
        tracing::error!(error = %e, "cannot encode an OAuth purpose");
        Problem::invalid("the connect cannot be encoded")
    })?;
    let url = state.connections.start(&adapter.manifest, hostname, Some(&purpose)).await.map_err(ApiError::from)?;
    Ok(url)
}

/// `POST /api/v1/integrations/oauth/start {connector, customerId, returnUrl, …}`
/// → `{authUrl, expiresAt}`: send the customer's browser to `authUrl`.
#[utoipa::path(post, path = "/api/v1/integrations/oauth/start", tag = "integrations", request_body = StartBody,
    responses((status = 201, body = Started), (status = "default", response = super::problem::ProblemResponse)))]
pub(crate) async fn start(
    key: WorkspaceKey,
    State(state): State<AppState>,
    client: Client,
    ProblemJson(body): ProblemJson<StartBody>,
) -> Result<(StatusCode, Json<Started>), Problem> {
    let workspace = crate::workspaces::get(&state.store, &key.workspace_id).await?;
    allowed_return_url(&body.return_url, &workspace.allowed_origins)?;
    let connect = connecting::Request {
        workspace_id: key.workspace_id,
        customer_id: body.customer_id,
        connector: body.connector,
        integration_id: body.integration_id,
        name: body.name,
        metadata: body.metadata,
        client,
    };
    let url = begin(&state, connect, body.return_url, body.hostname.as_deref()).await?;
    let expires_at = now_secs() + state.config.oauth.state_ttl_secs;
    Ok((StatusCode::CREATED, Json(Started { auth_url: url.to_string(), expires_at })))
}

/// The callback of an integration's login (the state was taken): exchanges
/// the code, stores the integration, and redirects to the return URL with
/// `integration_id` and `status` (`connected` / `reconnected`), or with
/// `error` (a stable code), `error_description` and `correlation_id`.
pub(crate) async fn finish(
    state: &AppState,
    pending: PendingLogin,
    code: Option<&str>,
    crm_error: Option<&str>,
) -> Response {
    let Some(Ok(purpose)) = pending.purpose.as_deref().map(serde_json::from_str::<Purpose>) else {
        return ApiError::from(OauthError::InvalidState).into_response();
    };
    // The connect page's own flow returns to a path of this host (`/connect/done?…`).
    let relative = purpose.return_url.starts_with('/');
    let parsed = match relative {
        true => Url::parse("http://this.host.invalid").and_then(|base| base.join(&purpose.return_url)),
        false => Url::parse(&purpose.return_url),
    };
    let Ok(mut back) = parsed else {
        return ApiError::from(OauthError::InvalidState).into_response();
    };
    let outcome = async {
        if let Some(e) = crm_error {
            return Err(Problem::other(
                StatusCode::BAD_REQUEST,
                "OAUTH_DENIED",
                "Login refused",
                format!("the CRM did not grant access: {e}"),
            ));
        }
        let code = code.filter(|c| !c.is_empty()).ok_or_else(|| Problem::invalid("the callback has no code"))?;
        let chosen = pending.hostname.clone();
        let exchanged = state.connections.exchange_login(pending, code).await.map_err(ApiError::from)?;
        let hostname = exchanged.tokens.hostname.clone().or(chosen.clone()).unwrap_or_default();
        connecting::with_oauth(state, &purpose.connect, exchanged.tokens, &hostname, chosen.is_some()).await
    }
    .await;
    {
        let mut q = back.query_pairs_mut();
        match &outcome {
            Ok(c) => {
                q.append_pair("integration_id", &c.integration.id);
                q.append_pair("status", if c.created { "connected" } else { "reconnected" });
            }
            Err(p) => {
                q.append_pair("error", p.code());
                q.append_pair("error_description", p.detail());
                q.append_pair("correlation_id", &crate::request_id::current());
            }
        }
    }
    let location = match relative {
        true => format!("{}?{}", back.path(), back.query().unwrap_or_default()),
        false => back.to_string(),
    };
    Redirect::to(&location).into_response()
}
