//! RFC 9457 problem details, the one error shape of `/api/v1`:
//! `{type, title, status, detail, code, retryable, correlationId}` served as
//! `application/problem+json`. `code` is stable; `correlationId` is the
//! request id (also in `X-Request-Id`).

use crate::api::error::{ApiError, ErrorCode};
use crate::request_id;
use crate::store::{StoreError, Unavailable};
use crate::workspaces::WorkspaceError;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

/// Stable problem codes of `/api/v1`. Never rename one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ProblemCode {
    Unauthenticated,
    NotFound,
    DatabaseUnavailable,
    StorageFull,
    Internal,
}

impl ProblemCode {
    fn parts(self) -> (StatusCode, &'static str, &'static str) {
        match self {
            ProblemCode::Unauthenticated => (StatusCode::UNAUTHORIZED, "UNAUTHENTICATED", "Not authenticated"),
            ProblemCode::NotFound => (StatusCode::NOT_FOUND, "NOT_FOUND", "Not found"),
            ProblemCode::DatabaseUnavailable => {
                (StatusCode::SERVICE_UNAVAILABLE, "DATABASE_UNAVAILABLE", "Database unavailable")
            }
            ProblemCode::StorageFull => (StatusCode::SERVICE_UNAVAILABLE, "STORAGE_FULL", "Storage full"),
            ProblemCode::Internal => (StatusCode::INTERNAL_SERVER_ERROR, "INTERNAL_ERROR", "Internal error"),
        }
    }
}

#[derive(Debug)]
pub(crate) struct Problem {
    status: StatusCode,
    code: &'static str,
    title: &'static str,
    detail: String,
    retryable: bool,
    /// Seconds to wait before retrying (also the `Retry-After` header).
    retry_after: Option<u64>,
}

impl Problem {
    pub(crate) fn new(code: ProblemCode, detail: impl Into<String>) -> Self {
        let (status, text, title) = code.parts();
        let retryable = matches!(code, ProblemCode::DatabaseUnavailable | ProblemCode::StorageFull);
        Problem { status, code: text, title, detail: detail.into(), retryable, retry_after: None }
    }

    /// A problem of another concern, with its own stable code.
    pub(crate) fn other(status: StatusCode, code: &'static str, title: &'static str, detail: String) -> Self {
        Problem { status, code, title, detail, retryable: false, retry_after: None }
    }

    /// A request that cannot be served as it is (`INVALID_REQUEST`, 400).
    pub(crate) fn invalid(detail: impl Into<String>) -> Self {
        Problem::other(StatusCode::BAD_REQUEST, "INVALID_REQUEST", "Invalid request", detail.into())
    }

    /// Asks the client to wait `secs` before retrying (retryable, `Retry-After`).
    pub(crate) fn set_retry_after(&mut self, secs: u64) {
        self.retryable = true;
        self.retry_after = Some(secs);
    }

    pub(crate) fn code(&self) -> &'static str {
        self.code
    }

    pub(crate) fn detail(&self) -> &str {
        &self.detail
    }

    pub(crate) fn retryable(&self) -> bool {
        self.retryable
    }
}

/// The problem document as the OpenAPI document describes it.
#[derive(utoipa::ToSchema)]
#[schema(as = Problem, rename_all = "camelCase")]
#[allow(dead_code)]
pub(crate) struct ProblemDoc {
    #[schema(example = "https://switchboard.dev/problems/integration-not-found")]
    r#type: String,
    title: String,
    status: u16,
    detail: String,
    /// Stable: clients may match on it.
    #[schema(example = "INTEGRATION_NOT_FOUND")]
    code: String,
    /// Whether the same request may succeed later.
    retryable: bool,
    /// The request id (also the `X-Request-Id` header).
    correlation_id: String,
    /// Seconds to wait before retrying, when the CRM or the host said.
    retry_after: Option<u64>,
}

/// Every failure of `/api/v1`: a problem document.
#[derive(utoipa::ToResponse)]
#[response(description = "A problem document (RFC 9457)", content_type = "application/problem+json")]
#[allow(dead_code)]
pub(crate) struct ProblemResponse(#[to_schema] ProblemDoc);

/// `axum::Json`, but a bad body answers with a problem document
/// (`INVALID_JSON`), as [`super::super::extract::JsonBody`] does for the App
/// Connect routes.
pub(crate) struct ProblemJson<T>(pub(crate) T);

impl<S: Send + Sync, T: serde::de::DeserializeOwned> axum::extract::FromRequest<S> for ProblemJson<T> {
    type Rejection = Problem;

    async fn from_request(req: axum::extract::Request, state: &S) -> Result<Self, Problem> {
        match axum::Json::<T>::from_request(req, state).await {
            Ok(axum::Json(v)) => Ok(ProblemJson(v)),
            Err(e) => Err(Problem::other(StatusCode::BAD_REQUEST, "INVALID_JSON", "Invalid body", e.body_text())),
        }
    }
}

/// `axum::extract::Query`, but a bad query answers with a problem document
/// (`INVALID_REQUEST`).
pub(crate) struct ProblemQuery<T>(pub(crate) T);

impl<S: Send + Sync, T: serde::de::DeserializeOwned> axum::extract::FromRequestParts<S> for ProblemQuery<T> {
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut axum::http::request::Parts, state: &S) -> Result<Self, Problem> {
        match axum::extract::Query::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Query(v)) => Ok(ProblemQuery(v)),
            Err(e) => Err(Problem::invalid(e.body_text())),
        }
    }
}

impl From<StoreError> for Problem {
    fn from(e: StoreError) -> Self {
        tracing::error!(error = %e, "storage failure");
        match e.unavailable() {
            Some(Unavailable::Unreachable) => {
                Problem::new(ProblemCode::DatabaseUnavailable, "the database is unavailable right now; try again")
            }
            Some(Unavailable::Full) => Problem::new(ProblemCode::StorageFull, "the database is out of disk space"),
            None => Problem { retryable: true, ..Problem::new(ProblemCode::Internal, "the database failed") },
        }
    }
}

impl From<WorkspaceError> for Problem {
    fn from(e: WorkspaceError) -> Self {
        match e {
            WorkspaceError::Store(store) => store.into(),
            WorkspaceError::UnknownWorkspace(_) => Problem::new(ProblemCode::NotFound, e.to_string()),
            other => {
                tracing::error!(error = %other, "unexpected workspace failure");
                Problem::new(ProblemCode::Internal, "unexpected failure")
            }
        }
    }
}

/// A failure of the engine the App Connect routes share (adapters, OAuth,
/// the CRM), with its code: statuses follow HTTP here, where App Connect
/// clients get HTTP 200 `successful: false` for the CRM's refusals. A
/// connection the CRM no longer accepts is a 409 (the API key is fine; the
/// integration needs its customer), never a 401.
impl From<ApiError> for Problem {
    fn from(e: ApiError) -> Self {
        use ErrorCode as C;
        let status = match e.code {
            C::CrmRateLimited => StatusCode::TOO_MANY_REQUESTS,
            C::CrmUpstreamError | C::TokenRefreshError => StatusCode::BAD_GATEWAY,
            C::CrmRejected | C::InvalidApiKey => StatusCode::UNPROCESSABLE_ENTITY,
            C::CrmNotFound | C::ContactNotFound | C::CallLogNotFound => StatusCode::NOT_FOUND,
            C::UnsupportedOperation => StatusCode::NOT_IMPLEMENTED,
            C::CallLogExists | C::CallLogInProgress | C::ConversationInProgress => StatusCode::CONFLICT,
            C::CrmUnauthorized | C::CrmSessionRevoked | C::NotConnected | C::TokenExpired => StatusCode::CONFLICT,
            // No other business failure may pass for a success here.
            _ if e.status.is_success() => StatusCode::UNPROCESSABLE_ENTITY,
            _ => e.status,
        };
        let retry_after = e.extra.get("retryAfter").and_then(serde_json::Value::as_u64);
        let title = status.canonical_reason().unwrap_or("Error");
        Problem { retryable: e.retryable, retry_after, ..Problem::other(status, e.code.as_str(), title, e.message) }
    }
}

impl IntoResponse for Problem {
    fn into_response(self) -> Response {
        let (status, code, title) = (self.status, self.code, self.title);
        let body = json!({
            "type": format!("https://switchboard.dev/problems/{}", code.to_ascii_lowercase().replace('_', "-")),
            "title": title,
            "status": status.as_u16(),
            "detail": self.detail,
            "code": code,
            "retryable": self.retryable,
            "correlationId": request_id::current(),
        });
        let mut body = body;
        if let Some(secs) = self.retry_after {
            body["retryAfter"] = json!(secs);
        }
        let mut response = (status, axum::Json(body)).into_response();
        response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/problem+json"));
        if let Some(secs) = self.retry_after {
            response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        response
    }
}
