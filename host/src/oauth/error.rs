//! Why an OAuth login or token refresh failed. Each case becomes one stable
//! `errorCode` in `api::error_mapping`; the text is for the user and never
//! holds a token.

use crate::store::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum OauthError {
    #[error("{platform} does not use OAuth")]
    UnsupportedAuth { platform: String },
    #[error("OAuth for {platform} needs client_id and client_secret under [adapters.{platform}]")]
    NotConfigured { platform: String },
    #[error("the {platform} manifest's {what} is not a URL: {error}")]
    BadManifestUrl { platform: String, what: &'static str, error: String },
    #[error("hostname: {0}")]
    InvalidHostname(String),
    #[error("the login's state is unknown, expired or already used: start the login again")]
    InvalidState,
    #[error("this login's code was already used: start the login again")]
    CodeReused,
    #[error("the CRM did not accept the login: {0}")]
    ExchangeFailed(String),
    #[error("this user has disconnected the CRM: log in again")]
    NotConnected,
    #[error("the CRM refused to renew this session: log in again")]
    Revoked,
    #[error("the CRM session expired and cannot be refreshed: log in again")]
    NoRefreshToken,
    #[error("no adapter serves platform {0:?}")]
    UnknownPlatform(String),
    /// The token endpoint kept failing after the retries; a later attempt may work.
    #[error("could not refresh the CRM session: {0}")]
    RefreshFailed(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}
