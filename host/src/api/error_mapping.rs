//! How each concern's typed error becomes an API failure: the one place that
//! decides status codes and `errorCode`s for storage, jwtToken, OAuth and
//! adapter errors.

use super::error::{ApiError, ErrorCode};
use crate::auth::JwtError;
use crate::oauth::OauthError;
use crate::runtime::{Containment, CrmError, InvokeError};
use crate::store::{StoreError, Unavailable};
use crate::workspaces::WorkspaceError;
use axum::http::StatusCode;
use serde_json::json;

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        tracing::error!(error = %e, "storage failure");
        // Nothing was changed by the failed request: the same request can be
        // sent again, and the database being back or having room fixes it.
        let (code, message) = match e.unavailable() {
            Some(Unavailable::Unreachable) => {
                (ErrorCode::DatabaseUnavailable, "the server's database is unavailable right now; try again shortly")
            }
            Some(Unavailable::Full) => {
                (ErrorCode::StorageFull, "the server's database is out of disk space; try again later")
            }
            None => return ApiError::internal("the server could not read or write its database").retryable(),
        };
        ApiError::new(StatusCode::SERVICE_UNAVAILABLE, code, message).retryable().with("retryAfter", json!(1))
    }
}

impl From<WorkspaceError> for ApiError {
    fn from(e: WorkspaceError) -> Self {
        if let WorkspaceError::Store(store) = e {
            return store.into();
        }
        let (status, code) = match &e {
            WorkspaceError::InvalidName | WorkspaceError::InvalidOrigin(_) | WorkspaceError::InvalidKid(_) => {
                (StatusCode::BAD_REQUEST, ErrorCode::InvalidParameter)
            }
            WorkspaceError::InvalidPublicKey(_) | WorkspaceError::WeakKey(_) => {
                (StatusCode::BAD_REQUEST, ErrorCode::InvalidPublicKey)
            }
            WorkspaceError::KidTaken(_) => (StatusCode::CONFLICT, ErrorCode::KidTaken),
            WorkspaceError::UnknownWorkspace(_) => (StatusCode::NOT_FOUND, ErrorCode::WorkspaceNotFound),
            WorkspaceError::UnknownApiKey(_) | WorkspaceError::UnknownSigningKey(_) => {
                (StatusCode::NOT_FOUND, ErrorCode::KeyNotFound)
            }
            WorkspaceError::KeyGeneration(_) | WorkspaceError::Store(_) => {
                (StatusCode::INTERNAL_SERVER_ERROR, ErrorCode::InternalError)
            }
        };
        ApiError::new(status, code, e.to_string())
    }
}

impl From<JwtError> for ApiError {
    fn from(e: JwtError) -> Self {
        let code = match e {
            JwtError::Expired => ErrorCode::TokenExpired,
            JwtError::MissingClaim(_) | JwtError::WrongAlgorithm | JwtError::Invalid => ErrorCode::InvalidToken,
        };
        ApiError::unauthorized(code, e.to_string())
    }
}

impl From<OauthError> for ApiError {
    fn from(e: OauthError) -> Self {
        let (status, code) = match &e {
            OauthError::Store(_) => (StatusCode::INTERNAL_SERVER_ERROR, ErrorCode::InternalError),
            OauthError::UnsupportedAuth { .. } => (StatusCode::BAD_REQUEST, ErrorCode::UnsupportedAuth),
            OauthError::NotConfigured { .. } => (StatusCode::BAD_REQUEST, ErrorCode::OauthNotConfigured),
            OauthError::BadManifestUrl { .. } => (StatusCode::INTERNAL_SERVER_ERROR, ErrorCode::InternalError),
            OauthError::InvalidHostname(_) => (StatusCode::BAD_REQUEST, ErrorCode::InvalidParameter),
            OauthError::InvalidState | OauthError::CodeReused => (StatusCode::BAD_REQUEST, ErrorCode::InvalidState),
            OauthError::ExchangeFailed(_) => (StatusCode::BAD_REQUEST, ErrorCode::OauthExchangeFailed),
            OauthError::NotConnected => (StatusCode::UNAUTHORIZED, ErrorCode::NotConnected),
            OauthError::Revoked => (StatusCode::UNAUTHORIZED, ErrorCode::CrmSessionRevoked),
            OauthError::NoRefreshToken => (StatusCode::UNAUTHORIZED, ErrorCode::TokenExpired),
            OauthError::UnknownPlatform(_) => (StatusCode::BAD_REQUEST, ErrorCode::UnknownPlatform),
            OauthError::RefreshFailed(_) => {
                return ApiError::unsuccessful(ErrorCode::TokenRefreshError, e.to_string()).retryable();
            }
        };
        match e {
            OauthError::Store(store) => store.into(),
            e => ApiError::new(status, code, e.to_string()),
        }
    }
}

/// The `errorCode` of a containment; its text is the runtime's own label.
fn containment_code(kind: Containment) -> ErrorCode {
    match kind {
        Containment::Trapped => ErrorCode::AdapterTrapped,
        Containment::MemoryLimit => ErrorCode::AdapterMemoryLimit,
        Containment::MemoryBudget => ErrorCode::AdapterMemoryBudget,
        Containment::CpuDeadline => ErrorCode::AdapterCpuLimit,
        Containment::WallDeadline => ErrorCode::AdapterTimeout,
        Containment::OutputTooLarge => ErrorCode::AdapterOutputTooLarge,
        Containment::HttpDenied => ErrorCode::AdapterHttpDenied,
        Containment::HttpLimit => ErrorCode::AdapterHttpLimit,
    }
}

impl From<InvokeError> for ApiError {
    fn from(e: InvokeError) -> Self {
        match &e {
            InvokeError::Crm(crm) => crm_error(crm.clone()),
            InvokeError::Contained { kind, .. } => {
                let kind = *kind;
                let status = match kind {
                    Containment::CpuDeadline | Containment::WallDeadline => StatusCode::GATEWAY_TIMEOUT,
                    Containment::MemoryBudget => StatusCode::SERVICE_UNAVAILABLE,
                    _ => StatusCode::BAD_GATEWAY,
                };
                let error = ApiError::new(status, containment_code(kind), e.to_string());
                // A slow CRM may answer next time, a busy host too; a hostile adapter will not change.
                if matches!(kind, Containment::WallDeadline | Containment::MemoryBudget) {
                    error.retryable()
                } else {
                    error
                }
            }
        }
    }
}

/// CRM-level failures: business failures stay HTTP 200 with `successful:
/// false`, as App Connect clients expect; a refused credential is a 401.
fn crm_error(e: CrmError) -> ApiError {
    match e {
        CrmError::InvalidInput(m) => {
            ApiError::unsuccessful(ErrorCode::CrmRejected, format!("The CRM rejected the request: {m}"))
        }
        CrmError::NotFound(m) => ApiError::unsuccessful(ErrorCode::CrmNotFound, format!("Not found in the CRM: {m}")),
        CrmError::Unauthorized(m) => ApiError::unauthorized(
            ErrorCode::CrmUnauthorized,
            format!("The CRM refused this connection's credentials; log in again ({m})"),
        ),
        CrmError::RateLimited(secs) => ApiError::unsuccessful(
            ErrorCode::CrmRateLimited,
            format!("The CRM is rate-limiting requests; try again in {secs} s"),
        )
        .retryable()
        .with("retryAfter", json!(secs)),
        CrmError::Upstream(m) => {
            ApiError::unsuccessful(ErrorCode::CrmUpstreamError, format!("The CRM did not answer as expected: {m}"))
                .retryable()
        }
        // Declining is not failing: HTTP 200 with `successful: false`, as App
        // Connect clients expect of an operation a CRM does not offer.
        CrmError::Unsupported(m) => {
            ApiError::unsuccessful(ErrorCode::UnsupportedOperation, format!("Not supported: {m}"))
        }
        CrmError::Internal(m) => {
            ApiError::new(StatusCode::BAD_GATEWAY, ErrorCode::AdapterError, format!("The adapter failed: {m}"))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn containment_codes_match_the_runtime_labels() {
        for kind in [
            Containment::Trapped,
            Containment::MemoryLimit,
            Containment::CpuDeadline,
            Containment::WallDeadline,
            Containment::OutputTooLarge,
            Containment::HttpDenied,
            Containment::HttpLimit,
        ] {
            assert_eq!(containment_code(kind).as_str(), kind.code(), "{kind:?}");
        }
    }

    #[test]
    fn every_error_code_is_in_the_readme_table() {
        let readme = include_str!("../../../README.md");
        for code in ErrorCode::ALL {
            assert!(readme.contains(&format!("`{}`", code.as_str())), "README.md does not document {code}");
        }
    }

    #[test]
    fn jwt_and_oauth_errors_keep_their_codes() {
        assert_eq!(ApiError::from(JwtError::Expired).code, ErrorCode::TokenExpired);
        assert_eq!(ApiError::from(JwtError::Invalid).code, ErrorCode::InvalidToken);
        let refresh = ApiError::from(OauthError::RefreshFailed("503".into()));
        assert_eq!(
            (refresh.status, refresh.code, refresh.retryable),
            (StatusCode::OK, ErrorCode::TokenRefreshError, true)
        );
        assert_eq!(ApiError::from(OauthError::Revoked).status, StatusCode::UNAUTHORIZED);
    }
}
