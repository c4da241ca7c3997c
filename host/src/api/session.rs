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
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, Uri, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

/// The authenticated user of a request.
#[derive(Debug, Clone)]
pub(crate) struct Session {
    pub(crate) user: User,
}

fn token_of(headers: &HeaderMap, uri: &Uri) -> Option<String> {
    if let Some(v) = headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()) {
        let v = v.trim();
        if let Some(t) = v.strip_prefix("Bearer ").or_else(|| v.strip_prefix("bearer ")) {
            return Some(t.trim().to_owned());
        }
    }
    let query = uri.query()?;
    url::form_urlencoded::parse(query.as_bytes())
        .find(|(k, _)| k == "jwtToken")
        .map(|(_, v)| v.into_owned())
        .filter(|v| !v.is_empty())
}

pub(crate) async fn middleware(State(state): State<AppState>, mut req: Request, next: Next) -> Response {
    let (session, claims) = match authenticate(&state, req.headers(), req.uri()).await {
        Ok(found) => found,
        Err(e) => return e.into_response(),
    };
    req.extensions_mut().insert(session);
    let mut response = next.run(req).await;
    if let Some(v) = state.jwt.refreshed(&claims).and_then(|t| HeaderValue::from_str(&t).ok()) {
        response.headers_mut().insert(REFRESHED_TOKEN_HEADER, v);
    }
    response
}

/// The session a request's jwtToken names, checked (signature, expiry,
/// session, user); for routes that answer without one too.
pub(crate) async fn authenticate(
    state: &AppState,
    headers: &HeaderMap,
    uri: &Uri,
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
        state.store.touch_session(sid, &session).await?;
    }
    if user.status == ConnectionStatus::Revoked {
        return Err(crate::oauth::OauthError::Revoked.into());
    }
    Ok((Session { user }, claims))
}
