//! CORS for what pages embed, decided over the host-wide policy
//! (`cors_allowed_origins`, the layer inside this one): the widget's script and the frontend library
//! are public files any page may load (`Access-Control-Allow-Origin: *`, no
//! credentials), while the widget's API (`/widget/api/…`) answers a page's
//! origin only if some workspace lists it among its allowed origins, and
//! then each call is checked against the token's own workspace
//! (`v1::widget_tokens::authenticate`). A page on any other origin gets no
//! CORS headers, so its browser hands it nothing.

use super::state::AppState;
use super::v1::problem::Problem;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

const API: &str = "/widget/api/";
/// Files any page may load.
const PUBLIC: [&str; 2] = ["/widget/widget.js", "/sdk/connect.js"];
const METHODS: &str = "GET, POST, DELETE";
const HEADERS: &str = "authorization, content-type";
const EXPOSED: &str = "x-request-id, retry-after";

pub(crate) async fn middleware(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let path = request.uri().path();
    if PUBLIC.contains(&path) {
        let mut response = next.run(request).await;
        response.headers_mut().insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, HeaderValue::from_static("*"));
        return response;
    }
    if !path.starts_with(API) {
        return next.run(request).await;
    }
    let Some(origin) = request.headers().get(header::ORIGIN).cloned() else {
        return next.run(request).await; // not a browser's cross-origin call
    };
    let allowed = match origin.to_str() {
        Ok(o) => match state.store.origin_allowed_by_a_workspace(o).await {
            Ok(allowed) => allowed,
            Err(e) => return Problem::from(e).into_response(),
        },
        Err(_) => false,
    };
    let preflight =
        request.method() == Method::OPTIONS && request.headers().contains_key(header::ACCESS_CONTROL_REQUEST_METHOD);
    let mut response = if preflight {
        if !allowed {
            return refused(origin.to_str().unwrap_or("this origin"));
        }
        let mut r = StatusCode::NO_CONTENT.into_response();
        let h = r.headers_mut();
        h.insert(header::ACCESS_CONTROL_ALLOW_METHODS, HeaderValue::from_static(METHODS));
        h.insert(header::ACCESS_CONTROL_ALLOW_HEADERS, HeaderValue::from_static(HEADERS));
        h.insert(header::ACCESS_CONTROL_MAX_AGE, HeaderValue::from_static("600"));
        r
    } else {
        next.run(request).await
    };
    let h = response.headers_mut();
    // Whatever the host-wide policy said, this decides.
    for name in [header::ACCESS_CONTROL_ALLOW_ORIGIN, header::ACCESS_CONTROL_EXPOSE_HEADERS] {
        h.remove(name);
    }
    h.append(header::VARY, HeaderValue::from_static("origin"));
    if allowed {
        h.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, origin);
        h.insert(header::ACCESS_CONTROL_EXPOSE_HEADERS, HeaderValue::from_static(EXPOSED));
    }
    response
}

fn refused(origin: &str) -> Response {
    let mut r = Problem::other(
        StatusCode::FORBIDDEN,
        "ORIGIN_NOT_ALLOWED",
        "Origin not allowed",
        format!("no workspace allows pages on {origin}"),
    )
    .into_response();
    r.headers_mut().append(header::VARY, HeaderValue::from_static("origin"));
    r
}
