//! Request ids: taken from a sane incoming `X-Request-Id` or generated, kept in
//! a task-local for the request's lifetime (so every error body and log line can
//! carry it), and returned in the `X-Request-Id` response header.
//!
//! The same middleware turns any error response that is not JSON (an unknown
//! route, a wrong method) into the JSON error envelope.

use crate::error::{ApiError, code};
use axum::extract::Request;
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use tracing::Instrument;

pub const HEADER: &str = "x-request-id";

tokio::task_local! {
    static REQUEST_ID: String;
}

/// The current request's id, or an empty string outside a request.
pub fn current() -> String {
    REQUEST_ID.try_with(Clone::clone).unwrap_or_default()
}

fn acceptable(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 128
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.:".contains(&b))
}

pub async fn middleware(request: Request, next: Next) -> Response {
    let id = request
        .headers()
        .get(HEADER)
        .and_then(|v| v.to_str().ok())
        .filter(|v| acceptable(v))
        .map(str::to_owned)
        .unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
    let span = tracing::info_span!(
        "request",
        request_id = %id,
        method = %request.method(),
        path = %request.uri().path(),
    );
    let served = async move {
        let started = std::time::Instant::now();
        let response = jsonify_errors(next.run(request).await);
        tracing::info!(
            status = response.status().as_u16(),
            elapsed_ms = started.elapsed().as_secs_f64() * 1000.0,
            "served"
        );
        response
    };
    let mut response = REQUEST_ID.scope(id.clone(), served.instrument(span)).await;
    if let Ok(v) = HeaderValue::from_str(&id) {
        response.headers_mut().insert(HEADER, v);
    }
    response
}

/// Rewrites framework error responses (plain text or empty) as JSON errors.
fn jsonify_errors(response: Response) -> Response {
    let status = response.status();
    if !(status.is_client_error() || status.is_server_error()) {
        return response;
    }
    let is_json = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    if is_json {
        return response;
    }
    let (code, message) = match status {
        StatusCode::NOT_FOUND => (code::ROUTE_NOT_FOUND, "no such route".to_owned()),
        StatusCode::METHOD_NOT_ALLOWED => (
            code::METHOD_NOT_ALLOWED,
            "method not allowed on this route".to_owned(),
        ),
        StatusCode::PAYLOAD_TOO_LARGE => (
            code::BODY_TOO_LARGE,
            "the request body is too large".to_owned(),
        ),
        s if s.is_server_error() => (code::INTERNAL_ERROR, "internal error".to_owned()),
        s => (code::INVALID_PARAMETER, format!("bad request ({s})")),
    };
    let mut rewritten = ApiError::new(status, code, message).into_response();
    for (name, value) in response.headers() {
        if name != header::CONTENT_TYPE && name != header::CONTENT_LENGTH {
            rewritten.headers_mut().insert(name.clone(), value.clone());
        }
    }
    rewritten
}

/// Spawns `future` as its own task, carrying the current request id.
///
/// Used for work that must finish even if the client disconnects and axum
/// drops the handler (e.g. between reserving a call-log key and recording the
/// CRM's answer), so no reservation is left dangling.
pub fn spawn<F>(future: F) -> tokio::task::JoinHandle<F::Output>
where
    F: std::future::Future + Send + 'static,
    F::Output: Send + 'static,
{
    let id = current();
    let span = tracing::Span::current();
    tokio::spawn(REQUEST_ID.scope(id, future.instrument(span)))
}

#[cfg(test)]
mod tests {
    #[test]
    fn only_sane_incoming_ids_are_kept() {
        assert!(super::acceptable("abc-123_x.y:z"));
        assert!(!super::acceptable(""));
        assert!(!super::acceptable("has space"));
        assert!(!super::acceptable(&"a".repeat(200)));
    }
}
