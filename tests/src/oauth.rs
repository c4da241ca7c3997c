//! The Test CRM's OAuth 2.0 authorization server, shaped like Pipedrive's
//! (`oauth.pipedrive.com`): `GET /oauth/authorize` answers the consent at once
//! with a redirect carrying `code` and `state`; `POST /oauth/token` takes the
//! client credentials as HTTP Basic auth and a form body
//! (`authorization_code` with PKCE S256, or `refresh_token`) and answers
//! `{access_token, token_type, refresh_token, scope, expires_in, api_domain}`;
//! `POST /oauth/revoke` (RFC 7009). Refresh tokens rotate on every use, like
//! Jira's: a used one answers 400 `invalid_grant`.

use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Form, Json, Router};
use base64::Engine as _;
use serde::Deserialize;
use serde_json::json;
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

pub const CLIENT_ID: &str = "switchboard-test-client";
pub const CLIENT_SECRET: &str = "switchboard-test-client-secret";

#[derive(Debug)]
struct Grant {
    user_id: String,
    redirect_uri: String,
    challenge: Option<String>,
}

#[derive(Debug, Default)]
pub struct OauthState {
    codes: HashMap<String, Grant>,
    /// access token → (user id, expiry)
    pub access: HashMap<String, (String, Instant)>,
    /// current refresh token → user id (rotated on every use)
    refresh: HashMap<String, String>,
    next: u64,
    /// Token endpoint calls, by grant type.
    pub token_calls: HashMap<String, u32>,
    /// Lifetime of the next access tokens issued.
    pub expires_in: u64,
    /// Answer the next N token requests with 503.
    pub fail_next: u32,
    pub revoked: Vec<String>,
    pub invalid_grants: u32,
}

pub type Shared = Arc<Mutex<OauthState>>;

pub fn lock(s: &Shared) -> MutexGuard<'_, OauthState> {
    s.lock().unwrap_or_else(|p| p.into_inner())
}

pub fn new_state() -> Shared {
    Arc::new(Mutex::new(OauthState { expires_in: 3600, next: 1, ..Default::default() }))
}

/// The user a valid, unexpired access token belongs to.
pub fn user_of(state: &Shared, token: &str) -> Option<String> {
    let s = lock(state);
    s.access.get(token).filter(|(_, exp)| *exp > Instant::now()).map(|(u, _)| u.clone())
}

pub fn router(state: Shared) -> Router {
    Router::new()
        .route("/oauth/authorize", get(authorize))
        .route("/oauth/token", post(token))
        .route("/oauth/revoke", post(revoke))
        .with_state(state)
}

fn oauth_error(status: StatusCode, error: &str, description: &str) -> Response {
    (status, Json(json!({"error": error, "error_description": description}))).into_response()
}

#[derive(Deserialize)]
struct AuthorizeQuery {
    response_type: Option<String>,
    client_id: Option<String>,
    redirect_uri: Option<String>,
    state: Option<String>,
    code_challenge: Option<String>,
    code_challenge_method: Option<String>,
}

async fn authorize(State(state): State<Shared>, Query(q): Query<AuthorizeQuery>) -> Response {
    if q.response_type.as_deref() != Some("code") || q.client_id.as_deref() != Some(CLIENT_ID) {
        return oauth_error(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "response_type=code and a known client_id are required",
        );
    }
    let Some(redirect_uri) = q.redirect_uri else {
        return oauth_error(StatusCode::BAD_REQUEST, "invalid_request", "redirect_uri is required");
    };
    if q.code_challenge.is_some() && q.code_challenge_method.as_deref() != Some("S256") {
        return oauth_error(StatusCode::BAD_REQUEST, "invalid_request", "only S256 PKCE is supported");
    }
    let mut s = lock(&state);
    s.next += 1;
    let code = format!("code-{}-{}", s.next, uuid::Uuid::new_v4().simple());
    s.codes.insert(
        code.clone(),
        Grant { user_id: "u-1001".into(), redirect_uri: redirect_uri.clone(), challenge: q.code_challenge },
    );
    let sep = if redirect_uri.contains('?') { '&' } else { '?' };
    let state_param = q.state.map(|st| format!("&state={st}")).unwrap_or_default();
    Redirect::to(&format!("{redirect_uri}{sep}code={code}{state_param}")).into_response()
}

#[derive(Deserialize)]
struct TokenForm {
    grant_type: String,
    code: Option<String>,
    redirect_uri: Option<String>,
    code_verifier: Option<String>,
    refresh_token: Option<String>,
}

fn client_ok(headers: &HeaderMap) -> bool {
    let expected = base64::engine::general_purpose::STANDARD.encode(format!("{CLIENT_ID}:{CLIENT_SECRET}"));
    headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()) == Some(&format!("Basic {expected}"))
}

fn issue(s: &mut OauthState, user_id: &str) -> Response {
    s.next += 1;
    let access = format!("at-{}-{}", s.next, uuid::Uuid::new_v4().simple());
    let refresh = format!("rt-{}-{}", s.next, uuid::Uuid::new_v4().simple());
    s.access.insert(access.clone(), (user_id.to_owned(), Instant::now() + Duration::from_secs(s.expires_in)));
    s.refresh.insert(refresh.clone(), user_id.to_owned());
    Json(json!({
        "access_token": access,
        "token_type": "Bearer",
        "refresh_token": refresh,
        "scope": "base contacts:full",
        "expires_in": s.expires_in,
        "api_domain": "https://testcompany.testcrm.example",
    }))
    .into_response()
}

async fn token(State(state): State<Shared>, headers: HeaderMap, Form(form): Form<TokenForm>) -> Response {
    let mut s = lock(&state);
    *s.token_calls.entry(form.grant_type.clone()).or_default() += 1;
    if s.fail_next > 0 {
        s.fail_next -= 1;
        return oauth_error(StatusCode::SERVICE_UNAVAILABLE, "temporarily_unavailable", "try again");
    }
    if !client_ok(&headers) {
        return oauth_error(StatusCode::UNAUTHORIZED, "invalid_client", "bad client credentials");
    }
    match form.grant_type.as_str() {
        "authorization_code" => {
            let Some(grant) = form.code.as_ref().and_then(|c| s.codes.remove(c)) else {
                return oauth_error(StatusCode::BAD_REQUEST, "invalid_grant", "unknown or used code");
            };
            if form.redirect_uri.as_deref() != Some(grant.redirect_uri.as_str()) {
                return oauth_error(StatusCode::BAD_REQUEST, "invalid_grant", "redirect_uri does not match");
            }
            if let Some(challenge) = &grant.challenge {
                let verifier = form.code_verifier.unwrap_or_default();
                let computed =
                    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()));
                if &computed != challenge {
                    return oauth_error(StatusCode::BAD_REQUEST, "invalid_grant", "PKCE verification failed");
                }
            }
            issue(&mut s, &grant.user_id)
        }
        "refresh_token" => {
            let Some(user) = form.refresh_token.as_ref().and_then(|r| s.refresh.remove(r)) else {
                s.invalid_grants += 1;
                return oauth_error(
                    StatusCode::BAD_REQUEST,
                    "invalid_grant",
                    "refresh token is invalid or was already used",
                );
            };
            issue(&mut s, &user)
        }
        _ => oauth_error(StatusCode::BAD_REQUEST, "unsupported_grant_type", "unsupported grant_type"),
    }
}

#[derive(Deserialize)]
struct RevokeForm {
    token: String,
}

async fn revoke(State(state): State<Shared>, headers: HeaderMap, Form(form): Form<RevokeForm>) -> Response {
    if !client_ok(&headers) {
        return oauth_error(StatusCode::UNAUTHORIZED, "invalid_client", "bad client credentials");
    }
    let mut s = lock(&state);
    s.access.remove(&form.token);
    s.refresh.remove(&form.token);
    s.revoked.push(form.token);
    StatusCode::OK.into_response()
}

/// Forgets every refresh token issued so far (as when a user revokes the app).
pub fn forget_refresh_tokens(state: &Shared) {
    lock(state).refresh.clear();
}

/// Every access and refresh token currently valid.
pub fn current_tokens(state: &Shared) -> Vec<String> {
    let s = lock(state);
    s.access.keys().chain(s.refresh.keys()).cloned().collect()
}
