//! How adapter outcomes become API errors.

use crate::error::{ApiError, code};
use crate::runtime::{Containment, CrmError, InvokeError};
use axum::http::StatusCode;
use serde_json::json;

impl From<InvokeError> for ApiError {
    fn from(e: InvokeError) -> Self {
        match &e {
            InvokeError::Crm(crm) => crm_error(crm.clone()),
            InvokeError::Contained { kind, .. } => {
                let kind = *kind;
                let status = match kind {
                    Containment::CpuDeadline | Containment::WallDeadline => StatusCode::GATEWAY_TIMEOUT,
                    _ => StatusCode::BAD_GATEWAY,
                };
                let error = ApiError::new(status, kind.code(), e.to_string());
                // A slow CRM may answer next time; a hostile adapter will not change.
                if kind == Containment::WallDeadline { error.retryable() } else { error }
            }
        }
    }
}

/// CRM-level failures: business failures stay HTTP 200 with `successful:
/// false`, as App Connect clients expect; a refused credential is a 401.
fn crm_error(e: CrmError) -> ApiError {
    match e {
        CrmError::InvalidInput(m) => {
            ApiError::unsuccessful(code::CRM_REJECTED, format!("The CRM rejected the request: {m}"))
        }
        CrmError::NotFound(m) => ApiError::unsuccessful(code::CRM_NOT_FOUND, format!("Not found in the CRM: {m}")),
        CrmError::Unauthorized(m) => ApiError::unauthorized(
            code::CRM_UNAUTHORIZED,
            format!("The CRM refused this connection's credentials; log in again ({m})"),
        ),
        CrmError::RateLimited(secs) => ApiError::unsuccessful(
            code::CRM_RATE_LIMITED,
            format!("The CRM is rate-limiting requests; try again in {secs} s"),
        )
        .retryable()
        .with("retryAfter", json!(secs)),
        CrmError::Upstream(m) => {
            ApiError::unsuccessful(code::CRM_UPSTREAM_ERROR, format!("The CRM did not answer as expected: {m}"))
                .retryable()
        }
        CrmError::Internal(m) => {
            ApiError::new(StatusCode::BAD_GATEWAY, code::ADAPTER_ERROR, format!("The adapter failed: {m}"))
        }
    }
}
