//! Every failure the API reports: an HTTP status, a stable `errorCode`, a
//! message for the user and the request id.
//!
//! Business failures (no contact found, the CRM refused a record) are HTTP 200
//! with `successful: false`, as App Connect clients expect; bad input is 4xx;
//! a bad session 401; our own faults and contained adapter faults 5xx.

use crate::request_id;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

/// Stable error codes. Clients may match on these; never rename one.
pub mod code {
    pub const INVALID_JSON: &str = "INVALID_JSON";
    pub const MISSING_PARAMETER: &str = "MISSING_PARAMETER";
    pub const INVALID_PARAMETER: &str = "INVALID_PARAMETER";
    pub const BODY_TOO_LARGE: &str = "BODY_TOO_LARGE";
    pub const ROUTE_NOT_FOUND: &str = "ROUTE_NOT_FOUND";
    pub const METHOD_NOT_ALLOWED: &str = "METHOD_NOT_ALLOWED";
    pub const UNKNOWN_PLATFORM: &str = "UNKNOWN_PLATFORM";
    pub const UNSUPPORTED_AUTH: &str = "UNSUPPORTED_AUTH";
    pub const OAUTH_NOT_CONFIGURED: &str = "OAUTH_NOT_CONFIGURED";
    pub const TOO_MANY_SESSION_IDS: &str = "TOO_MANY_SESSION_IDS";

    pub const MISSING_TOKEN: &str = "MISSING_TOKEN";
    pub const INVALID_TOKEN: &str = "INVALID_TOKEN";
    pub const TOKEN_EXPIRED: &str = "TOKEN_EXPIRED";
    pub const ACCOUNT_NOT_FOUND: &str = "ACCOUNT_NOT_FOUND";
    pub const NOT_CONNECTED: &str = "NOT_CONNECTED";
    pub const INVALID_API_KEY: &str = "INVALID_API_KEY";
    pub const INVALID_STATE: &str = "INVALID_STATE";
    pub const INVALID_REDIRECT_URI: &str = "INVALID_REDIRECT_URI";
    pub const OAUTH_EXCHANGE_FAILED: &str = "OAUTH_EXCHANGE_FAILED";
    pub const TOKEN_REFRESH_ERROR: &str = "TOKEN_REFRESH_ERROR";
    pub const CRM_SESSION_REVOKED: &str = "CRM_SESSION_REVOKED";

    pub const CRM_UNAUTHORIZED: &str = "CRM_UNAUTHORIZED";
    pub const CRM_RATE_LIMITED: &str = "CRM_RATE_LIMITED";
    pub const CRM_REJECTED: &str = "CRM_REJECTED";
    pub const CRM_NOT_FOUND: &str = "CRM_NOT_FOUND";
    pub const CRM_UPSTREAM_ERROR: &str = "CRM_UPSTREAM_ERROR";
    pub const CONTACT_NOT_FOUND: &str = "CONTACT_NOT_FOUND";
    pub const CALL_LOG_EXISTS: &str = "CALL_LOG_EXISTS";
    pub const CALL_LOG_IN_PROGRESS: &str = "CALL_LOG_IN_PROGRESS";
    pub const CALL_LOG_NOT_FOUND: &str = "CALL_LOG_NOT_FOUND";
    pub const CONVERSATION_IN_PROGRESS: &str = "CONVERSATION_IN_PROGRESS";

    /// The adapter reported an internal failure (its `internal` error).
    pub const ADAPTER_ERROR: &str = "ADAPTER_ERROR";
    // The host stopped an adapter: see `runtime::Containment::code` for
    // ADAPTER_TRAPPED, ADAPTER_MEMORY_LIMIT, ADAPTER_CPU_LIMIT, ADAPTER_TIMEOUT,
    // ADAPTER_OUTPUT_TOO_LARGE, ADAPTER_HTTP_DENIED, ADAPTER_HTTP_LIMIT.
    pub const INTERNAL_ERROR: &str = "INTERNAL_ERROR";

    pub const ADMIN_DISABLED: &str = "ADMIN_DISABLED";
    pub const ADMIN_UNAUTHORIZED: &str = "ADMIN_UNAUTHORIZED";
}

/// The `errorCode` of a response, as a response extension (for metrics).
#[derive(Debug, Clone, Copy)]
pub struct ErrorCode(pub &'static str);

/// A failure, rendered as the App Connect error envelope.
#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
    pub retryable: bool,
    /// Extra top-level fields (e.g. `retryAfter`, a `contact` list).
    pub extra: Vec<(&'static str, Value)>,
}

pub type ApiResult<T> = Result<T, ApiError>;

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        ApiError { status, code, message: message.into(), retryable: false, extra: Vec::new() }
    }
    pub fn bad_request(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, code, message)
    }
    pub fn unauthorized(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, code, message)
    }
    /// A business failure: HTTP 200 with `successful: false`.
    pub fn unsuccessful(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::OK, code, message)
    }
    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, code::INTERNAL_ERROR, message)
    }
    pub fn missing(name: &str) -> Self {
        Self::bad_request(code::MISSING_PARAMETER, format!("`{name}` is required"))
    }
    pub fn retryable(mut self) -> Self {
        self.retryable = true;
        self
    }
    pub fn with(mut self, key: &'static str, value: Value) -> Self {
        self.extra.push((key, value));
        self
    }

    pub fn body(&self) -> Value {
        let mut body = json!({
            "successful": false,
            "errorCode": self.code,
            "retryable": self.retryable,
            "requestId": request_id::current(),
            "returnMessage": {
                "message": self.message,
                "messageType": if self.status.is_server_error() { "danger" } else { "warning" },
                "ttl": 5000,
            },
        });
        if let Value::Object(map) = &mut body {
            for (k, v) in &self.extra {
                map.insert((*k).to_owned(), v.clone());
            }
        }
        body
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.code, self.message)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        if self.status.is_server_error() {
            tracing::error!(code = self.code, message = %self.message, "request failed");
        } else {
            tracing::info!(code = self.code, status = self.status.as_u16(), "request refused");
        }
        let mut response = (self.status, axum::Json(self.body())).into_response();
        response.extensions_mut().insert(ErrorCode(self.code));
        response
    }
}

impl From<crate::store::StoreError> for ApiError {
    fn from(e: crate::store::StoreError) -> Self {
        tracing::error!(error = %e, "storage failure");
        ApiError::internal("the server could not read or write its database").retryable()
    }
}
