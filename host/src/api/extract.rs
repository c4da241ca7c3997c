//! Body and query extractors whose rejections are JSON errors with stable codes.

use super::error::{ApiError, ErrorCode};
use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::StatusCode;
use axum::http::request::Parts;
use serde::de::DeserializeOwned;

/// `axum::Json`, but a bad body answers with our error envelope.
pub(crate) struct JsonBody<T>(pub(crate) T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for JsonBody<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        match axum::Json::<T>::from_request(req, state).await {
            Ok(axum::Json(v)) => Ok(JsonBody(v)),
            Err(rejection) => Err(json_rejection(rejection)),
        }
    }
}

fn json_rejection(r: JsonRejection) -> ApiError {
    match &r {
        // 400, not 415: the App Connect contract documents 400 for every bad body.
        JsonRejection::MissingJsonContentType(_) => {
            ApiError::bad_request(ErrorCode::InvalidJson, "send the body as JSON with `Content-Type: application/json`")
        }
        JsonRejection::JsonSyntaxError(e) => {
            ApiError::bad_request(ErrorCode::InvalidJson, format!("the body is not valid JSON: {}", source_text(e)))
        }
        JsonRejection::JsonDataError(e) => ApiError::bad_request(ErrorCode::InvalidParameter, source_text(e)),
        JsonRejection::BytesRejection(_) if r.status() == StatusCode::PAYLOAD_TOO_LARGE => ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            ErrorCode::BodyTooLarge,
            "the request body is larger than this server accepts",
        ),
        _ => ApiError::new(r.status(), ErrorCode::InvalidJson, r.body_text()),
    }
}

fn source_text(e: &dyn std::error::Error) -> String {
    let mut msg = e.to_string();
    let mut src = e.source();
    while let Some(s) = src {
        msg = s.to_string();
        src = s.source();
    }
    msg
}

/// `axum::extract::Query`, with JSON errors.
pub(crate) struct QueryParams<T>(pub(crate) T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequestParts<S> for QueryParams<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        match axum::extract::Query::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Query(v)) => Ok(QueryParams(v)),
            Err(QueryRejection::FailedToDeserializeQueryString(e)) => {
                Err(ApiError::bad_request(ErrorCode::InvalidParameter, source_text(&e)))
            }
            Err(r) => Err(ApiError::bad_request(ErrorCode::InvalidParameter, r.body_text())),
        }
    }
}

/// The token of an `Authorization: Bearer <token>` header (scheme in any
/// case, surrounding spaces trimmed), or "" when there is none.
pub(crate) fn bearer(headers: &axum::http::HeaderMap) -> &str {
    let value = headers.get(axum::http::header::AUTHORIZATION).and_then(|v| v.to_str().ok()).unwrap_or_default();
    let value = value.trim();
    match value.split_once(' ') {
        Some((scheme, token)) if scheme.eq_ignore_ascii_case("bearer") => token.trim(),
        _ => "",
    }
}
