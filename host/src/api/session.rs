//! Authenticating a request by its jwtToken (`Authorization: Bearer` or the
//! legacy `?jwtToken=`) and loading the user.
//!
//! A token that names a session (`sid`) is good while the session is: not
//! logged out, used within `sessions.idle_timeout_days` (each use renews it),
//! and its user still connected. A token from before sessions lives two weeks
//! and gets a fresh one in `X-Refreshed-JWT-Token` in its last seven days.

use super::error::{ApiError, ErrorCode};
use super::state::AppState;
use crate::auth::Claims;
use crate::auth::REFRESHED_TOKEN_HEADER;
use crate::clock::now_secs;
use crate::store::{ConnectionStatus, User};
use axum::Json;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, Uri};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde_json::json;

/// The authenticated user of a request.
#[derive(Debug, Clone)]
pub(crate) struct Session {
    pub(crate) user: User,
}

fn token_of(headers: &HeaderMap, uri: &Uri) -> Option<String> {
    let token = super::extract::bearer(headers);
    if !token.is_empty() {
        return Some(token.to_owned());
    }
    let query = uri.query()?;
    url::form_urlencoded::parse(query.as_bytes())
        .find(|(k, _)| k == "jwtToken")
        .map(|(_, v)| v.into_owned())
        .filter(|v| !v.is_empty())
}

pub(crate) async fn middleware(State(state): State<AppState>, mut req: Request, next: Next) -> Response {
    // A user whose CRM connection was revoked can still log out.
    let logging_out = req.method() == axum::http::Method::POST && req.uri().path() == "/unAuthorize";
    let (session, claims) = match authenticate_session(&state, req.headers(), req.uri(), logging_out).await {
        Ok(found) => found,
        Err(e) => return ended_session_answer(&req, e).unwrap_or_else(IntoResponse::into_response),
    };
    req.extensions_mut().insert(session);
    let mut response = next.run(req).await;
    if let Some(v) = state.jwt.refreshed(&claims).and_then(|t| HeaderValue::from_str(&t).ok()) {
        response.headers_mut().insert(REFRESHED_TOKEN_HEADER, v);
    }
    response
}

/// What some routes answer a token whose session is over (logged out,
/// expired, unknown, its CRM connection revoked), so that a client holding one
/// can still get out of it:
/// - `POST /unAuthorize` succeeds: logging out is idempotent, and a client
///   stuck with a dead token can always clear it;
/// - for a query-token client (the App Connect extension, which reads its
///   settings before it logs out and waits for every contact match),
///   `GET /user/settings` answers `{}` and `GET /contact` answers HTTP 200
///   `successful: false` with the "log in again" message, instead of a 401
///   the client would stop at. Everything else keeps its 401.
fn ended_session_answer(req: &Request, e: ApiError) -> Result<Response, ApiError> {
    use axum::http::Method;
    if e.status != axum::http::StatusCode::UNAUTHORIZED {
        return Err(e);
    }
    // A session that existed and is over; never a missing, forged or garbled token.
    let ended = matches!(
        e.code,
        ErrorCode::NotConnected | ErrorCode::TokenExpired | ErrorCode::AccountNotFound | ErrorCode::CrmSessionRevoked
    );
    let query_client = super::middleware::wants_plain_errors(req);
    match (req.method(), req.uri().path()) {
        (&Method::POST, "/unAuthorize") => Ok(Json(json!({
            "successful": true,
            "returnMessage": {"message": "Logged out.", "messageType": "success", "ttl": 3000},
        }))
        .into_response()),
        (&Method::GET, "/user/settings") if query_client && ended => Ok(Json(json!({})).into_response()),
        (&Method::GET, "/contact") if query_client && ended => {
            Err(ApiError { status: axum::http::StatusCode::OK, ..e })
        }
        _ => Err(e),
    }
}

/// The session a request's jwtToken names, checked (signature, expiry,
/// session, user); for routes that answer without one too.
pub(crate) async fn authenticate(
    state: &AppState,
    headers: &HeaderMap,
    uri: &Uri,
) -> Result<(Session, Claims), ApiError> {
    authenticate_session(state, headers, uri, false).await
}

/// [`authenticate`]; with `revoked_connection_ok`, a user whose CRM
/// connection was revoked passes too (to log out).
async fn authenticate_session(
    state: &AppState,
    headers: &HeaderMap,
    uri: &Uri,
    revoked_connection_ok: bool,
) -> Result<(Session, Claims), ApiError> {
    let token = token_of(headers, uri).ok_or_else(|| {
        ApiError::unauthorized(
            ErrorCode::MissingToken,
            "no jwtToken: send `Authorization: Bearer <jwtToken>` (or the legacy `?jwtToken=`)",
        )
    })?;
    let claims = state.jwt.verify(&token)?;
    let found = match &claims.sid {
        Some(sid) => state.store.user_with_session(&claims.id, sid).await,
        None => state.store.user(&claims.id).await.map(|u| u.map(|u| (u, None))),
    };
    let (user, session) = match found? {
        Some((u, session)) if u.platform == claims.platform => (u, session),
        _ => {
            return Err(ApiError::unauthorized(
                ErrorCode::AccountNotFound,
                "no user matches this jwtToken: log in again",
            ));
        }
    };
    if let Some(sid) = &claims.sid {
        let session = session.ok_or_else(|| {
            ApiError::unauthorized(ErrorCode::InvalidToken, "this session is unknown here: log in again")
        })?;
        if session.revoked {
            return Err(ApiError::unauthorized(ErrorCode::NotConnected, "this session was logged out: log in again"));
        }
        let idle_days = state.config.sessions.idle_timeout_days;
        if now_secs() - session.last_used_at > idle_days * 86_400 {
            return Err(ApiError::unauthorized(
                ErrorCode::TokenExpired,
                format!("this session was not used for {idle_days} days and has ended: log in again"),
            ));
        }
        state.store.touch_session(&user.id, sid, &session).await?;
    }
    if user.status == ConnectionStatus::Revoked && !revoked_connection_ok {
        return Err(crate::oauth::OauthError::Revoked.into());
    }
    Ok((Session { user }, claims))
}
