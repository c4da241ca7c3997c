//! The failure envelope: every failure the API reports has an HTTP status, a
//! stable `errorCode`, a message for the user and the request id.
//!
//! Business failures (no contact found, the CRM refused a record) are HTTP 200
//! with `successful: false`, as App Connect clients expect; bad input is 4xx;
//! a bad session 401; our own faults and contained adapter faults 5xx. How
//! each concern's typed error becomes an [`ApiError`] is decided in one place,
//! `error_mapping.rs`.

use super::envelope::{MessageType, ReturnMessage, WARNING_TTL_MS};
use crate::request_id;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use serde_json::{Map, Value};

/// Declares the stable error codes: each variant and the text clients see.
macro_rules! error_codes {
    ($($(#[$doc:meta])* $variant:ident = $text:literal,)*) => {
        /// Stable error codes. Clients may match on these; never rename one.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub(crate) enum ErrorCode {
            $($(#[$doc])* $variant,)*
        }

        impl ErrorCode {
            /// Every code, in the order the README's table lists them.
            #[cfg(test)]
            pub(crate) const ALL: &[ErrorCode] = &[$(ErrorCode::$variant,)*];

            pub(crate) fn as_str(self) -> &'static str {
                match self {
                    $(ErrorCode::$variant => $text,)*
                }
            }
        }
    };
}

error_codes! {
    InvalidJson = "INVALID_JSON",
    MissingParameter = "MISSING_PARAMETER",
    InvalidParameter = "INVALID_PARAMETER",
    BodyTooLarge = "BODY_TOO_LARGE",
    RouteNotFound = "ROUTE_NOT_FOUND",
    MethodNotAllowed = "METHOD_NOT_ALLOWED",
    UnknownPlatform = "UNKNOWN_PLATFORM",
    UnsupportedAuth = "UNSUPPORTED_AUTH",
    OauthNotConfigured = "OAUTH_NOT_CONFIGURED",
    TooManySessionIds = "TOO_MANY_SESSION_IDS",

    MissingToken = "MISSING_TOKEN",
    InvalidToken = "INVALID_TOKEN",
    TokenExpired = "TOKEN_EXPIRED",
    AccountNotFound = "ACCOUNT_NOT_FOUND",
    NotConnected = "NOT_CONNECTED",
    InvalidApiKey = "INVALID_API_KEY",
    InvalidState = "INVALID_STATE",
    InvalidRedirectUri = "INVALID_REDIRECT_URI",
    OauthExchangeFailed = "OAUTH_EXCHANGE_FAILED",
    TokenRefreshError = "TOKEN_REFRESH_ERROR",
    CrmSessionRevoked = "CRM_SESSION_REVOKED",

    CrmUnauthorized = "CRM_UNAUTHORIZED",
    CrmRateLimited = "CRM_RATE_LIMITED",
    CrmRejected = "CRM_REJECTED",
    CrmNotFound = "CRM_NOT_FOUND",
    CrmUpstreamError = "CRM_UPSTREAM_ERROR",
    ContactNotFound = "CONTACT_NOT_FOUND",
    CallLogExists = "CALL_LOG_EXISTS",
    CallLogInProgress = "CALL_LOG_IN_PROGRESS",
    CallLogNotFound = "CALL_LOG_NOT_FOUND",
    ConversationInProgress = "CONVERSATION_IN_PROGRESS",
    /// The platform's adapter does not implement this operation.
    UnsupportedOperation = "UNSUPPORTED_OPERATION",

    /// The adapter reported an internal failure (its `internal` error).
    AdapterError = "ADAPTER_ERROR",
    /// The host stopped an adapter: see `runtime::Containment`.
    AdapterTrapped = "ADAPTER_TRAPPED",
    AdapterMemoryLimit = "ADAPTER_MEMORY_LIMIT",
    /// The host-wide adapter memory budget was spent by the calls in flight.
    AdapterMemoryBudget = "ADAPTER_MEMORY_BUDGET",
    AdapterCpuLimit = "ADAPTER_CPU_LIMIT",
    AdapterTimeout = "ADAPTER_TIMEOUT",
    AdapterOutputTooLarge = "ADAPTER_OUTPUT_TOO_LARGE",
    AdapterHttpDenied = "ADAPTER_HTTP_DENIED",
    AdapterHttpLimit = "ADAPTER_HTTP_LIMIT",
    InternalError = "INTERNAL_ERROR",
    /// The database cannot be reached (restarting, network, overloaded).
    DatabaseUnavailable = "DATABASE_UNAVAILABLE",
    /// The database's disk is full.
    StorageFull = "STORAGE_FULL",

    AdminDisabled = "ADMIN_DISABLED",
    AdminUnauthorized = "ADMIN_UNAUTHORIZED",
    /// Too many wrong admin tokens from one address.
    AdminThrottled = "ADMIN_THROTTLED",
    /// No workspace with that id (Connect platform, admin endpoints).
    WorkspaceNotFound = "WORKSPACE_NOT_FOUND",
    /// The workspace has no such (unrevoked) API key or signing key.
    KeyNotFound = "KEY_NOT_FOUND",
    /// A signing key's `kid` is already used.
    KidTaken = "KID_TAKEN",
    /// Not an RSA public key in PEM, or one under 2048 bits.
    InvalidPublicKey = "INVALID_PUBLIC_KEY",
    /// RingCentral's API could not be asked (account admin checks).
    RingcentralUnavailable = "RINGCENTRAL_UNAVAILABLE",
}

impl Serialize for ErrorCode {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl std::fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A failure, rendered as the App Connect error envelope ([`FailureBody`]).
#[derive(Debug)]
pub(crate) struct ApiError {
    pub(crate) status: StatusCode,
    pub(crate) code: ErrorCode,
    pub(crate) message: String,
    pub(crate) retryable: bool,
    /// Extra top-level fields (e.g. `retryAfter`, a `contact` list).
    pub(crate) extra: Map<String, Value>,
}

pub(crate) type ApiResult<T> = Result<T, ApiError>;

/// The JSON of a failure: `{successful: false, errorCode, retryable,
/// requestId, returnMessage, ...extra}`.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct FailureBody<'a> {
    successful: bool,
    error_code: ErrorCode,
    retryable: bool,
    request_id: String,
    return_message: ReturnMessage,
    #[serde(flatten)]
    extra: &'a Map<String, Value>,
}

impl ApiError {
    pub(crate) fn new(status: StatusCode, code: ErrorCode, message: impl Into<String>) -> Self {
        ApiError { status, code, message: message.into(), retryable: false, extra: Map::new() }
    }
    pub(crate) fn bad_request(code: ErrorCode, message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, code, message)
    }
    pub(crate) fn unauthorized(code: ErrorCode, message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, code, message)
    }
    /// A business failure: HTTP 200 with `successful: false`.
    pub(crate) fn unsuccessful(code: ErrorCode, message: impl Into<String>) -> Self {
        Self::new(StatusCode::OK, code, message)
    }
    pub(crate) fn internal(message: impl Into<String>) -> Self {
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, ErrorCode::InternalError, message)
    }
    pub(crate) fn missing(name: &str) -> Self {
        Self::bad_request(ErrorCode::MissingParameter, format!("`{name}` is required"))
    }
    pub(crate) fn retryable(mut self) -> Self {
        self.retryable = true;
        self
    }
    pub(crate) fn with(mut self, key: &str, value: Value) -> Self {
        self.extra.insert(key.to_owned(), value);
        self
    }

    pub(crate) fn body(&self) -> FailureBody<'_> {
        let message_type = if self.status.is_server_error() { MessageType::Danger } else { MessageType::Warning };
        FailureBody {
            successful: false,
            error_code: self.code,
            retryable: self.retryable,
            request_id: request_id::current(),
            return_message: ReturnMessage::new(self.message.clone(), message_type, WARNING_TTL_MS),
            extra: &self.extra,
        }
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.code, self.message)
    }
}

/// The `errorCode` and message of a failed response, as a response extension
/// (for metrics, and for the plain-text form some clients need).
#[derive(Debug, Clone)]
pub(crate) struct ResponseErrorCode(pub(crate) ErrorCode, pub(crate) String);

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        if self.status.is_server_error() {
            tracing::error!(code = self.code.as_str(), message = %self.message, "request failed");
        } else {
            tracing::info!(code = self.code.as_str(), status = self.status.as_u16(), "request refused");
        }
        let mut response = (self.status, axum::Json(self.body())).into_response();
        response.extensions_mut().insert(ResponseErrorCode(self.code, self.message));
        response
    }
}
