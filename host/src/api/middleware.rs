//! Around every request: the request id (task-local, `X-Request-Id`), a trace
//! span with method and path (never the query: it may hold a jwtToken), JSON
//! for framework errors, the `X-Switchboard-Adapter` header, and metrics
//! (labels from bounded sets only: the matched route, a known method or
//! `other`, the status).
//!
//! Failures are JSON, except for a client that sends its jwtToken only in the
//! query (`?jwtToken=`, no `Authorization` header), as the App Connect browser
//! extension does: it shows an error only when the body is plain text, so an
//! HTTP error (4xx/5xx) to it is `text/plain` with the message, the code in
//! `X-Switchboard-Error-Code` and the request id in `X-Request-Id`. Business
//! failures (HTTP 200, `successful: false`) stay JSON for everyone.

use super::error::{ApiError, ErrorCode, ResponseErrorCode};
use super::state::AppState;
use crate::metrics::{CodeLabels, RouteLabels};
use crate::request_id::{self, RequestContext};
use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use tracing::Instrument;

/// The longest request path a log line carries, in characters.
const MAX_LOGGED_PATH: usize = 256;

/// Names the adapter and version that served a request (`testcrm/0.1.0`).
const ADAPTER_HEADER: &str = "x-switchboard-adapter";

pub(crate) async fn observe(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let id = request_id::from_header(request.headers().get(request_id::HEADER));
    let route =
        request.extensions().get::<MatchedPath>().map(|m| m.as_str().to_owned()).unwrap_or_else(|| "unmatched".into());
    let method = method_label(request.method()).to_owned();
    let plain_errors = wants_plain_errors(&request);
    let path: String = request.uri().path().chars().take(MAX_LOGGED_PATH).collect();
    let span = tracing::info_span!("request", request_id = %id, method = %method, path = %path);
    let context = RequestContext::new(id.clone());
    let started = std::time::Instant::now();
    // `/api/v1` and the connect flow fail as problem documents, even where the framework answers.
    let problems = path.starts_with("/api/v1/") || path.starts_with("/connect/") || path.starts_with("/widget/");
    let served = async {
        let response = jsonify_errors(next.run(request).await, problems);
        tracing::info!(
            status = response.status().as_u16(),
            elapsed_ms = started.elapsed().as_secs_f64() * 1000.0,
            "served"
        );
        response
    };
    let mut response = request_id::scope(context.clone(), served.instrument(span)).await;

    let labels = RouteLabels { route, method, status: response.status().as_u16().to_string() };
    state.metrics.http_latency.get_or_create(&labels).observe(started.elapsed().as_secs_f64());
    state.metrics.http_requests.get_or_create(&labels).inc();
    if let Some(ResponseErrorCode(code, message)) = response.extensions().get::<ResponseErrorCode>().cloned() {
        state.metrics.errors.get_or_create(&CodeLabels { code: code.as_str().to_owned() }).inc();
        if plain_errors && response.status() != StatusCode::OK {
            response = plain_text(response, code, message);
        }
    }
    let headers = response.headers_mut();
    if let Ok(v) = HeaderValue::from_str(&id) {
        headers.insert(request_id::HEADER, v);
    }
    if let Some(v) = context.adapter().and_then(|a| HeaderValue::from_str(&a).ok()) {
        headers.insert(ADAPTER_HEADER, v);
    }
    response
}

/// What a request whose handler panicked gets: the JSON 500 with its request
/// id (the panic is logged; nothing of it reaches the client).
pub(crate) fn panic_response(panic: Box<dyn std::any::Any + Send + 'static>) -> Response {
    let message = panic
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_default();
    tracing::error!(panic = %message.chars().take(500).collect::<String>(), "a handler panicked");
    ApiError::internal("internal error").into_response()
}

/// The method as a metric label and log field: one of HTTP's own, else
/// `other`. A method is any token a client sends, of any length; each new one
/// would otherwise be a label kept for ever.
fn method_label(method: &axum::http::Method) -> &'static str {
    use axum::http::Method;
    match *method {
        Method::GET => "GET",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::PATCH => "PATCH",
        Method::DELETE => "DELETE",
        Method::HEAD => "HEAD",
        Method::OPTIONS => "OPTIONS",
        Method::CONNECT => "CONNECT",
        Method::TRACE => "TRACE",
        _ => "other",
    }
}

/// A client that authenticates by `?jwtToken=` alone (the App Connect extension):
/// it reads errors as plain text, and `session` answers it leniently once its
/// session has ended.
pub(super) fn wants_plain_errors(request: &Request) -> bool {
    !request.headers().contains_key(header::AUTHORIZATION)
        && request.uri().query().is_some_and(|q| q.split('&').any(|p| p.starts_with("jwtToken=")))
}

/// The failure as `text/plain`, its headers kept, its code in a header.
fn plain_text(response: Response, code: ErrorCode, message: String) -> Response {
    let (mut parts, _) = response.into_parts();
    parts.headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain; charset=utf-8"));
    parts.headers.remove(header::CONTENT_LENGTH);
    parts.headers.insert(ERROR_CODE_HEADER, HeaderValue::from_static(code.as_str()));
    Response::from_parts(parts, axum::body::Body::from(message))
}

/// Carries the `errorCode` of a plain-text failure.
const ERROR_CODE_HEADER: &str = "x-switchboard-error-code";

/// Rewrites framework error responses (plain text or empty) as JSON errors:
/// problem documents when `problems`, else the App Connect envelope.
fn jsonify_errors(response: Response, problems: bool) -> Response {
    let status = response.status();
    if !(status.is_client_error() || status.is_server_error()) {
        return response;
    }
    let is_json = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json") || v.starts_with("application/problem+json"));
    if is_json {
        return response;
    }
    let (code, message) = match status {
        StatusCode::NOT_FOUND => (ErrorCode::RouteNotFound, "no such route".to_owned()),
        StatusCode::METHOD_NOT_ALLOWED => (ErrorCode::MethodNotAllowed, "method not allowed on this route".to_owned()),
        StatusCode::PAYLOAD_TOO_LARGE => (ErrorCode::BodyTooLarge, "the request body is too large".to_owned()),
        s if s.is_server_error() => (ErrorCode::InternalError, "internal error".to_owned()),
        s => (ErrorCode::InvalidParameter, format!("bad request ({s})")),
    };
    let mut rewritten = if problems {
        let title = status.canonical_reason().unwrap_or("Error");
        super::v1::problem::Problem::other(status, code.as_str(), title, message).into_response()
    } else {
        ApiError::new(status, code, message).into_response()
    };
    for (name, value) in response.headers() {
        if name != header::CONTENT_TYPE && name != header::CONTENT_LENGTH {
            rewritten.headers_mut().insert(name.clone(), value.clone());
        }
    }
    rewritten
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::Router;
    use axum::routing::get;
    use tower::ServiceExt;

    #[tokio::test]
    async fn a_panicking_handler_still_answers_a_json_500_with_its_request_id() {
        async fn boom() -> &'static str {
            panic!("a bug")
        }
        let app = Router::new()
            .route("/boom", get(boom))
            .layer(tower_http::catch_panic::CatchPanicLayer::custom(panic_response));
        let context = RequestContext::new("rid-1".into());
        let request = axum::http::Request::get("/boom").body(axum::body::Body::empty()).unwrap();
        let response = request_id::scope(context, app.oneshot(request)).await.unwrap();
        assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
        let body = axum::body::to_bytes(response.into_body(), 1 << 16).await.unwrap();
        let json: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!((json["errorCode"].as_str(), json["requestId"].as_str()), (Some("INTERNAL_ERROR"), Some("rid-1")));
        assert!(!json.to_string().contains("a bug"), "the panic stays in the log: {json}");
    }

    #[test]
    fn methods_outside_http_s_own_are_one_label() {
        use axum::http::Method;
        assert_eq!(method_label(&Method::GET), "GET");
        let long = Method::from_bytes("X".repeat(10_000).as_bytes()).unwrap();
        assert_eq!(method_label(&long), "other");
    }
}
