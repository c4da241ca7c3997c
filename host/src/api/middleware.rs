//! Around every request: the request id (task-local, `X-Request-Id`), a trace
//! span with method and path (never the query: it may hold a jwtToken), JSON
//! for framework errors, the `X-Switchboard-Adapter` header, and metrics.

use super::AppState;
use crate::error::ErrorCode;
use crate::metrics::{CodeLabels, RouteLabels};
use crate::request_id::{self, ADAPTER_HEADER, RequestContext};
use axum::extract::{MatchedPath, Request, State};
use axum::http::HeaderValue;
use axum::middleware::Next;
use axum::response::Response;
use tracing::Instrument;

pub async fn observe(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let id = request_id::from_header(request.headers().get(request_id::HEADER));
    let route =
        request.extensions().get::<MatchedPath>().map(|m| m.as_str().to_owned()).unwrap_or_else(|| "unmatched".into());
    let method = request.method().to_string();
    let span = tracing::info_span!("request", request_id = %id, method = %method, path = %request.uri().path());
    let context = RequestContext::new(id.clone());
    let started = std::time::Instant::now();
    let served = async {
        let response = request_id::jsonify_errors(next.run(request).await);
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
    if let Some(ErrorCode(code)) = response.extensions().get::<ErrorCode>() {
        state.metrics.errors.get_or_create(&CodeLabels { code: (*code).to_owned() }).inc();
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
