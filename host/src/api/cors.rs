//! CORS for browser clients (the App Connect extension runs in a
//! `chrome-extension://` origin and sends custom headers, so every call is
//! preflighted). Origins come from `cors_allowed_origins` (default `*`:
//! credentials are never cookies, so no origin gains anything it could not
//! already send); methods are the API's; requested headers are allowed;
//! the headers clients may read are exposed.

use axum::http::{HeaderName, HeaderValue, Method};
use std::time::Duration;
use tower_http::cors::{AllowHeaders, AllowOrigin, CorsLayer};

/// Response headers a browser client may read.
const EXPOSED: [&str; 4] =
    ["x-request-id", "x-refreshed-jwt-token", "x-switchboard-error-code", "x-switchboard-adapter"];

pub(crate) fn layer(allowed: &[String]) -> CorsLayer {
    let origin = if allowed.iter().any(|o| o == "*") {
        AllowOrigin::any()
    } else {
        AllowOrigin::list(allowed.iter().filter_map(|o| HeaderValue::from_str(o).ok()))
    };
    CorsLayer::new()
        .allow_origin(origin)
        .allow_methods([Method::GET, Method::POST, Method::PATCH, Method::PUT, Method::DELETE])
        .allow_headers(AllowHeaders::mirror_request())
        .expose_headers(EXPOSED.map(HeaderName::from_static))
        .max_age(Duration::from_secs(600))
}
