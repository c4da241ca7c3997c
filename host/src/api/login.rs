//! Connecting and disconnecting a CRM.

use super::connection::{Connection, revoke_at_crm, who_is};
use super::envelope::{BRIEF_TTL_MS, Empty, NOTICE_TTL_MS, ReturnMessage, Success};
use super::error::{ApiError, ApiResult, ErrorCode};
use super::extract::{JsonBody, QueryParams};
use super::session::Session;
use super::state::AppState;
use super::state::adapter_for;
use crate::oauth::Tokens;
use crate::runtime::manifest::AuthSpec;
use crate::runtime::{CrmError, InvokeError, LoadedAdapter, UserInfo};
use crate::secret::Secret;
use crate::store::{AuditEvent, AuditKind, AuthKind, ConnectionStatus, User};
use axum::Json;
use axum::extract::{ConnectInfo, Extension, Path, State};
use axum::http::{HeaderMap, header};
use axum::response::{IntoResponse, Redirect, Response};
use serde::{Deserialize, Serialize};
use std::net::SocketAddr;
use url::Url;

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ApiKeyLogin {
    platform: Option<String>,
    api_key: Option<String>,
    #[serde(default)]
    hostname: Option<String>,
}

/// A login's answer: the jwtToken, the user's name and a toast (App Connect's
/// shape: no `successful` field).
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct LoggedIn {
    jwt_token: String,
    name: String,
    return_message: ReturnMessage,
}

impl LoggedIn {
    /// Opens a session for the user and answers with its token.
    async fn new(state: &AppState, user: &User, adapter: &LoadedAdapter) -> ApiResult<Json<LoggedIn>> {
        let sid = state.store.create_session(&user.id).await?;
        let lifetime = state.config.sessions.lifetime_days * 86_400;
        Ok(Json(LoggedIn {
            jwt_token: state.jwt.issue_session(&user.id, &user.platform, &sid, lifetime),
            name: user.name.clone(),
            return_message: ReturnMessage::success(
                format!("Connected to {}.", adapter.manifest.display_name),
                NOTICE_TTL_MS,
            ),
        }))
    }
}

/// The user record of a fresh login: id `<crmUserId>-<platform>` (App
/// Connect's; the store keeps identities apart when two derive the same), active.
pub(crate) fn connected_user(
    platform: &str,
    auth_kind: AuthKind,
    info: UserInfo,
    hostname: &str,
    tokens: Tokens,
) -> User {
    User {
        id: format!("{}-{platform}", info.id),
        platform: platform.to_owned(),
        crm_user_id: info.id,
        name: info.name,
        hostname: info.hostname.unwrap_or_else(|| hostname.to_owned()),
        auth_kind,
        credential: Some(tokens.access),
        refresh_token: tokens.refresh,
        expires_at: tokens.expires_at,
        status: ConnectionStatus::Active,
    }
}

/// Whose API key this is, asked of the CRM (`get-user-info`): a key it
/// refuses is `INVALID_API_KEY`. Checked before any key is stored, by
/// `/apiKeyLogin` and by an integration's API-key connect.
pub(crate) async fn check_api_key(
    state: &AppState,
    adapter: &LoadedAdapter,
    api_key: &str,
    hostname: &str,
) -> ApiResult<UserInfo> {
    who_is(state, adapter, api_key, hostname).await.map_err(|e| match e {
        InvokeError::Crm(CrmError::Unauthorized(_)) => ApiError::bad_request(
            ErrorCode::InvalidApiKey,
            format!("{} did not accept this API key", adapter.manifest.display_name),
        ),
        other => other.into(),
    })
}

/// `POST /apiKeyLogin`: validates the key through the adapter (`get-user-info`),
/// stores it encrypted and issues the jwtToken.
pub(crate) async fn api_key_login(
    State(state): State<AppState>,
    JsonBody(body): JsonBody<ApiKeyLogin>,
) -> ApiResult<Json<LoggedIn>> {
    let platform = body.platform.filter(|p| !p.is_empty()).ok_or_else(|| ApiError::missing("platform"))?;
    let api_key = body.api_key.filter(|k| !k.trim().is_empty()).ok_or_else(|| ApiError::missing("apiKey"))?;
    let adapter = adapter_for(&state, &platform)?;
    if !matches!(adapter.manifest.auth, AuthSpec::ApiKey { .. }) {
        return Err(ApiError::bad_request(
            ErrorCode::UnsupportedAuth,
            format!("{platform} uses OAuth, not an API key: start at /oauth/{platform}/start"),
        ));
    }
    let hostname = body.hostname.unwrap_or_default();
    let info = check_api_key(&state, &adapter, api_key.trim(), &hostname).await?;
    let tokens = Tokens::api_key(Secret::new(api_key.trim()));
    let mut user = connected_user(&platform, AuthKind::ApiKey, info, &hostname, tokens);
    state.store.upsert_user(&mut user).await?;
    tracing::info!(platform = %platform, user = %user.id, "user connected");
    LoggedIn::new(&state, &user, &adapter).await
}

/// `POST /unAuthorize`: asks the adapter to revoke, then forgets the credential.
/// The stored credential is removed even when the CRM cannot be reached, so a
/// user can always log out.
pub(crate) async fn unauthorize(
    State(state): State<AppState>,
    Extension(session): Extension<Session>,
) -> ApiResult<Success<Empty>> {
    revoke_at_crm(&state, &session.user).await;
    state.store.clear_credential(&session.user.id).await?;
    state.store.revoke_sessions(&session.user.id).await?;
    state.store.audit(&AuditEvent::of(&session.user.id, &session.user.platform, AuditKind::Disconnect)).await?;
    Ok(Success::saying(Empty {}, "Logged out.", BRIEF_TTL_MS))
}

/// `GET /authValidation`: is the stored connection still accepted by the CRM?
pub(crate) async fn auth_validation(
    State(state): State<AppState>,
    Extension(session): Extension<Session>,
) -> ApiResult<Success<Empty>> {
    let crm = Connection::open(&state, &session).await?;
    crm.call("get-user-info", |ctx, a, s| Box::pin(async move { a.call_get_user_info(s, &ctx).await })).await?;
    Ok(Success::saying(Empty {}, "Connection is valid.", BRIEF_TTL_MS))
}

/// `GET /oauth/{platform}/start` (our addition): redirects the browser to the
/// CRM's consent page with a fresh single-use `state` (and PKCE).
///
/// `?hostname=` picks one of the CRM's regional hosts the manifest lists
/// (e.g. `eu.app.clio.com`); without it, the first.
pub(crate) async fn oauth_start(
    State(state): State<AppState>,
    Path(platform): Path<String>,
    QueryParams(q): QueryParams<StartQuery>,
) -> ApiResult<Response> {
    let adapter = adapter_for(&state, &platform)?;
    let url = state.connections.start(&adapter.manifest, q.hostname.as_deref(), None).await?;
    Ok(Redirect::to(url.as_str()).into_response())
}

#[derive(Deserialize)]
pub(crate) struct StartQuery {
    hostname: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct CallbackQuery {
    state: Option<String>,
    code: Option<String>,
    callback_uri: Option<String>,
    hostname: Option<String>,
    /// The CRM's refusal (`access_denied`), instead of a code.
    error: Option<String>,
}

/// The platform a client-built `state` names: App Connect's `platform=<name>`,
/// or a custom state ending in it (`filler,platform=<name>`).
fn client_login_platform(state: &str) -> Option<&str> {
    let name = state.rsplit_once("platform=")?.1;
    let name = name.split(['&', ',']).next()?;
    (!name.is_empty()).then_some(name)
}

/// `GET /oauth-callback`: the App Connect callback. Takes `code` and `state`
/// (directly or inside `callbackUri`, whose address must be exactly the
/// registered redirect URI), checks the state, exchanges the code, asks the
/// adapter who the user is, stores the connection and issues the jwtToken.
pub(crate) async fn oauth_callback(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    QueryParams(q): QueryParams<CallbackQuery>,
) -> ApiResult<Response> {
    let (mut code_param, mut state_param) = (q.code, q.state);
    let mut address = None;
    if let Some(callback) = q.callback_uri.filter(|c| !c.is_empty()) {
        let url = Url::parse(&callback)
            .map_err(|_| ApiError::bad_request(ErrorCode::InvalidRedirectUri, "callbackUri is not a URL"))?;
        let mut bare = url.clone();
        bare.set_query(None);
        bare.set_fragment(None);
        address = Some(bare.to_string());
        for (k, v) in url.query_pairs() {
            match k.as_ref() {
                "code" => code_param = Some(v.into_owned()),
                "state" => state_param = Some(v.into_owned()),
                "error" => {
                    return Err(ApiError::bad_request(
                        ErrorCode::OauthExchangeFailed,
                        format!("the CRM refused the login: {v}"),
                    ));
                }
                _ => {}
            }
        }
    }
    let state_value = state_param.filter(|s| !s.is_empty()).ok_or_else(|| {
        ApiError::bad_request(ErrorCode::InvalidState, "the login's state is missing: start the login again")
    })?;
    let ours = state.config.oauth_redirect_uri();
    let own_flow = address.as_ref().is_none_or(|a| *a == ours);
    let mut pending = if own_flow { Some(state.connections.take_login(&state_value).await?) } else { None };
    // An integration's connect (the Connect platform) answers its browser
    // with a redirect to where it started, whatever the outcome.
    if let Some(login) = pending.take_if(|p| p.purpose.is_some()) {
        let (code, crm_error) = (code_param.as_deref(), q.error.as_deref());
        return Ok(super::v1::oauth_connect::finish(&state, login, code, crm_error).await);
    }
    if let Some(e) = q.error.filter(|e| !e.is_empty()) {
        return Err(ApiError::bad_request(ErrorCode::OauthExchangeFailed, format!("the CRM refused the login: {e}")));
    }
    let code_value = code_param.filter(|c| !c.is_empty()).ok_or_else(|| ApiError::missing("code"))?;
    let exchanged = match (pending, address, client_login_platform(&state_value)) {
        // Our own flow (`/oauth/{platform}/start`): the stored state decides.
        (Some(pending), _, _) => state.connections.exchange_login(pending, &code_value).await?,
        // A login the client started itself, landing on the page the
        // operator registered for such logins.
        (None, Some(address), Some(platform)) if address == state.config.client_redirect_uri(platform) => {
            state.connections.exchange_client_login(platform, &code_value, address, q.hostname.as_deref()).await?
        }
        (None, _, _) => {
            return Err(ApiError::bad_request(
                ErrorCode::InvalidRedirectUri,
                "callbackUri is not this server's registered redirect URI",
            ));
        }
    };
    let platform = exchanged.platform;
    let adapter = adapter_for(&state, &platform)?;
    // The CRM's word (token response) first, then the login's choice, then the client's.
    let hostname = exchanged
        .tokens
        .hostname
        .clone()
        .or_else(|| exchanged.chosen_hostname.clone())
        .or(q.hostname)
        .unwrap_or_default();
    let mut info = who_is(&state, &adapter, exchanged.tokens.access.expose(), &hostname).await?;
    if exchanged.chosen_hostname.is_some() {
        // The chosen regional host also serves the token and revocation
        // endpoints later: it stays the connection's hostname.
        info.hostname = None;
    }
    let mut user = connected_user(&platform, AuthKind::Oauth, info, &hostname, exchanged.tokens);
    state.store.upsert_user(&mut user).await?;
    let ip = peer.ip().to_string();
    let agent = headers.get(header::USER_AGENT).and_then(|v| v.to_str().ok());
    let event = AuditEvent {
        user_id: Some(&user.id),
        platform: &platform,
        event: AuditKind::Login,
        ip: Some(&ip),
        user_agent: agent,
        detail: None,
    };
    state.store.audit(&event).await?;
    tracing::info!(platform = %platform, user = %user.id, "user connected with OAuth");
    Ok(LoggedIn::new(&state, &user, &adapter).await?.into_response())
}
