//! The console's login: the admin token, once, for an HttpOnly,
//! SameSite=Strict cookie holding a signed session (HS256, 12 h), so any
//! replica accepts it and nothing is stored. The signing key is derived from
//! the server secret *and* the admin token: changing the token ends every
//! session. Each form carries a CSRF token bound to the session (an HMAC of
//! its id); a POST without the right one, or from another origin, is refused.

use crate::api::state::AppState;
use crate::secret::{constant_time_eq, random_id};
use axum::http::{HeaderMap, HeaderValue, header};
use hmac::{Hmac, Mac};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};
use sha2::Sha256;

pub(crate) const COOKIE: &str = "switchboard_console";
const LIFETIME_SECS: i64 = 12 * 3600;

/// A logged-in operator.
#[derive(Debug, Clone)]
pub(crate) struct Session {
    id: String,
    csrf: String,
}

impl Session {
    /// The token every form of this session carries.
    pub(crate) fn csrf(&self) -> &str {
        &self.csrf
    }

    /// Whether a form's token is this session's.
    pub(crate) fn csrf_matches(&self, presented: &str) -> bool {
        constant_time_eq(presented.as_bytes(), self.csrf.as_bytes())
    }
}

#[derive(Serialize, Deserialize)]
struct Claims {
    sub: String,
    sid: String,
    iat: i64,
    exp: i64,
}

/// The session key: HMAC-SHA256 of the admin token under the server secret.
fn key(state: &AppState) -> Vec<u8> {
    let mut mac =
        Hmac::<Sha256>::new_from_slice(state.config.app_server_secret_key.as_bytes()).expect("any key length");
    mac.update(b"switchboard console session\0");
    mac.update(state.config.admin_token.as_bytes());
    mac.finalize().into_bytes().to_vec()
}

fn csrf_of(key: &[u8], sid: &str) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("any key length");
    mac.update(b"csrf\0");
    mac.update(sid.as_bytes());
    hex::encode(mac.finalize().into_bytes())
}

/// Whether `presented` is the admin token (constant time; never when the console is disabled).
pub(crate) fn is_admin_token(state: &AppState, presented: &str) -> bool {
    let expected = state.config.admin_token.as_bytes();
    !expected.is_empty() && constant_time_eq(presented.trim().as_bytes(), expected)
}

/// A new session: its `Set-Cookie` value.
pub(crate) fn open(state: &AppState) -> HeaderValue {
    let now = crate::clock::now_secs();
    let claims = Claims { sub: "operator".into(), sid: random_id("cons_"), iat: now, exp: now + LIFETIME_SECS };
    let token = jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &EncodingKey::from_secret(&key(state)))
        .expect("HS256 signing does not fail");
    cookie(state, &token, LIFETIME_SECS)
}

/// The `Set-Cookie` value that ends the session in this browser.
pub(crate) fn close(state: &AppState) -> HeaderValue {
    cookie(state, "", 0)
}

fn cookie(state: &AppState, value: &str, max_age: i64) -> HeaderValue {
    let secure = if state.config.public_url.starts_with("https://") { "; Secure" } else { "" };
    HeaderValue::from_str(&format!(
        "{COOKIE}={value}; Path=/admin; HttpOnly; SameSite=Strict; Max-Age={max_age}{secure}"
    ))
    .expect("a token is header-safe")
}

/// The session the request's cookie holds, if it is valid.
pub(crate) fn current(state: &AppState, headers: &HeaderMap) -> Option<Session> {
    if state.config.admin_token.is_empty() {
        return None;
    }
    let token = headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == COOKIE)
        .map(|(_, value)| value.to_owned())?;
    let key = key(state);
    let mut validation = Validation::new(Algorithm::HS256);
    validation.leeway = 0;
    validation.set_required_spec_claims(&["exp", "sub"]);
    validation.sub = Some("operator".into());
    let claims = jsonwebtoken::decode::<Claims>(&token, &DecodingKey::from_secret(&key), &validation).ok()?.claims;
    Some(Session { csrf: csrf_of(&key, &claims.sid), id: claims.sid })
}

/// Whether a state-changing request comes from the console's own pages: no
/// `Origin`, or this host's (by the `Host` it was sent to, or `public_url`
/// behind a proxy that rewrites `Host`). SameSite=Strict already keeps other
/// sites' cookies out; this refuses their forms before any cookie matters.
pub(crate) fn same_origin(headers: &HeaderMap, public_url: &str) -> bool {
    let Some(origin) = headers.get(header::ORIGIN).and_then(|o| o.to_str().ok()) else { return true };
    if !public_url.is_empty() && public_url.trim_end_matches('/') == origin {
        return true;
    }
    let Some(host) = headers.get(header::HOST).and_then(|h| h.to_str().ok()) else { return false };
    origin.split_once("://").is_some_and(|(_, rest)| rest == host)
}

impl std::fmt::Display for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "console session {}", self.id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, HeaderValue::from_str(v).unwrap());
        }
        h
    }

    #[test]
    fn a_form_from_another_origin_or_a_null_one_is_refused() {
        let ok = |pairs: &[(&'static str, &str)]| same_origin(&headers(pairs), "");
        assert!(ok(&[("host", "sb.example:8080")]), "no Origin: a same-origin navigation");
        assert!(ok(&[("host", "sb.example:8080"), ("origin", "http://sb.example:8080")]));
        assert!(!ok(&[("host", "sb.example:8080"), ("origin", "https://evil.example")]));
        assert!(!ok(&[("host", "sb.example:8080"), ("origin", "null")]));
        assert!(!ok(&[("origin", "http://sb.example:8080")]), "no Host to compare with");
        // Behind a proxy that sends its own Host: the public URL counts.
        let proxied = headers(&[("host", "10.0.0.5:8080"), ("origin", "https://sb.example")]);
        assert!(same_origin(&proxied, "https://sb.example/"));
        assert!(!same_origin(&proxied, ""));
    }

    #[test]
    fn csrf_tokens_are_bound_to_the_session_and_the_key() {
        let (a, b) = (csrf_of(b"key-1", "cons_1"), csrf_of(b"key-1", "cons_2"));
        assert_ne!(a, b);
        assert_ne!(a, csrf_of(b"key-2", "cons_1"));
        assert_eq!(a, csrf_of(b"key-1", "cons_1"));
        let s = Session { id: "cons_1".into(), csrf: a.clone() };
        assert!(s.csrf_matches(&a) && !s.csrf_matches(&b) && !s.csrf_matches(""));
    }
}
