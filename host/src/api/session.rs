//! Authenticating a request by its jwtToken (`Authorization: Bearer` or the
//! legacy `?jwtToken=`), loading the user, and returning a fresh token in
//! `X-Refreshed-JWT-Token` when the one presented is in its last seven days.

use super::AppState;
use crate::auth::REFRESHED_TOKEN_HEADER;
use crate::error::{ApiError, code};
use crate::store::{Secret, User};
use axum::extract::{Request, State};
use axum::http::{HeaderValue, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

/// The authenticated user of a request.
#[derive(Debug, Clone)]
pub struct Session {
    pub user: User,
}

impl Session {
    /// The CRM credential, or 401 when the user has logged out.
    pub fn credential(&self) -> Result<&Secret, ApiError> {
        self.user.credential.as_ref().ok_or_else(|| {
            ApiError::unauthorized(code::NOT_CONNECTED, "this user has disconnected the CRM: log in again")
        })
    }
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

pub async fn middleware(State(state): State<AppState>, mut req: Request, next: Next) -> Response {
    let Some(token) = token_of(&req) else {
        return ApiError::unauthorized(
            code::MISSING_TOKEN,
            "no jwtToken: send `Authorization: Bearer <jwtToken>` (or the legacy `?jwtToken=`)",
        )
        .into_response();
    };
    let claims = match state.jwt.verify(&token) {
        Ok(c) => c,
        Err(e) => return e.into_response(),
    };
    let user = match state.store.user(&claims.id).await {
        Ok(Some(u)) if u.platform == claims.platform => u,
        Ok(_) => {
            return ApiError::unauthorized(code::ACCOUNT_NOT_FOUND, "no user matches this jwtToken: log in again")
                .into_response();
        }
        Err(e) => return ApiError::from(e).into_response(),
    };
    if user.status == "revoked" {
        return ApiError::unauthorized(
            code::CRM_SESSION_REVOKED,
            "the CRM refused to renew this session: log in again",
        )
        .into_response();
    }
    req.extensions_mut().insert(Session { user });
    let mut response = next.run(req).await;
    if let Some(v) = state.jwt.refreshed(&claims).and_then(|t| HeaderValue::from_str(&t).ok()) {
        response.headers_mut().insert(REFRESHED_TOKEN_HEADER, v);
    }
    response
}
