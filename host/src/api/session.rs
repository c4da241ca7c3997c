//! Authenticating a request by its jwtToken (`Authorization: Bearer` or the
//! legacy `?jwtToken=`) and loading the user.
//!
//! A token that names a session (`sid`) is good while the session is: not
//! logged out, used within `sessions.idle_timeout_days` (each use renews it),
//! and its user still connected. A token from before sessions lives two weeks
//! and gets a fresh one in `X-Refreshed-JWT-Token` in its last seven days.

use super::error::{ApiError, ErrorCode};
use super::state::AppState;
use crate::auth::REFRESHED_TOKEN_HEADER;
use crate::clock::now_secs;
use crate::store::{ConnectionStatus, User};
use axum::extract::{Request, State};
use axum::http::{HeaderValue, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

/// The authenticated user of a request.
#[derive(Debug, Clone)]
pub(crate) struct Session {
    pub(crate) user: User,
}

fn token_of(req: &Request) -> Option<String> {
    if let Some(v) = req.headers().get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()) {
        let v = v.trim();
        if let Some(t) = v.strip_prefix("Bearer ").or_else(|| v.strip_prefix("bearer ")) {
            return Some(t.trim().to_owned());
        }
    }
    let query = req.uri().query()?;
    url::form_urlencoded::parse(query.as_bytes())
        .find(|(k, _)| k == "jwtToken")
        .map(|(_, v)| v.into_owned())
        .filter(|v| !v.is_empty())
}

pub(crate) async fn middleware(State(state): State<AppState>, req: Request, next: Next) -> Response {
    match authenticate(&state, req, next).await {
        Ok(response) | Err(response) => response,
    }
}

async fn authenticate(state: &AppState, mut req: Request, next: Next) -> Result<Response, Response> {
    let reject = |e: ApiError| e.into_response();
    let token = token_of(&req).ok_or_else(|| {
        reject(ApiError::unauthorized(
            ErrorCode::MissingToken,
            "no jwtToken: send `Authorization: Bearer <jwtToken>` (or the legacy `?jwtToken=`)",
        ))
    })?;
    let claims = state.jwt.verify(&token).map_err(|e| reject(e.into()))?;
    let found = match &claims.sid {
        Some(sid) => state.store.user_with_session(&claims.id, sid).await,
        None => state.store.user(&claims.id).await.map(|u| u.map(|u| (u, None))),
    };
    let (user, session) = match found.map_err(|e| reject(e.into()))? {
        Some((u, session)) if u.platform == claims.platform => (u, session),
        _ => {
            return Err(reject(ApiError::unauthorized(
                ErrorCode::AccountNotFound,
                "no user matches this jwtToken: log in again",
            )));
        }
    };
    if let Some(sid) = &claims.sid {
        let session = session.ok_or_else(|| {
            reject(ApiError::unauthorized(ErrorCode::InvalidToken, "this session is unknown here: log in again"))
        })?;
        if session.revoked {
            return Err(reject(ApiError::unauthorized(
                ErrorCode::NotConnected,
                "this session was logged out: log in again",
            )));
        }
        let idle_days = state.config.sessions.idle_timeout_days;
        if now_secs() - session.last_used_at > idle_days * 86_400 {
            return Err(reject(ApiError::unauthorized(
                ErrorCode::TokenExpired,
                format!("this session was not used for {idle_days} days and has ended: log in again"),
            )));
        }
        state.store.touch_session(sid, &session).await.map_err(|e| reject(e.into()))?;
    }
    if user.status == ConnectionStatus::Revoked {
        return Err(reject(crate::oauth::OauthError::Revoked.into()));
    }
    req.extensions_mut().insert(Session { user });
    let mut response = next.run(req).await;
    if let Some(v) = state.jwt.refreshed(&claims).and_then(|t| HeaderValue::from_str(&t).ok()) {
        response.headers_mut().insert(REFRESHED_TOKEN_HEADER, v);
    }
    Ok(response)
}
