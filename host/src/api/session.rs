//! Authenticating a request by its jwtToken (`Authorization: Bearer` or the
//! legacy `?jwtToken=`), loading the user, and returning a fresh token in
//! `X-Refreshed-JWT-Token` when the one presented is in its last seven days.

use super::error::{ApiError, ErrorCode};
use super::state::AppState;
use crate::auth::REFRESHED_TOKEN_HEADER;
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
    let user = match state.store.user(&claims.id).await.map_err(|e| reject(e.into()))? {
        Some(u) if u.platform == claims.platform => u,
        _ => {
            return Err(reject(ApiError::unauthorized(
                ErrorCode::AccountNotFound,
                "no user matches this jwtToken: log in again",
            )));
        }
    };
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
