//! Connecting an integration: checking a credential through the connector's
//! adapter (`get-user-info`), storing it encrypted as the customer's
//! integration (new, or the renewal of theirs, keeping its id), and writing
//! the audit trail. The backend's API-key connect, the hosted connect page
//! and the OAuth callback all end here.

use super::problem::Problem;
use crate::api::connection::who_is;
use crate::api::state::AppState;
use crate::connect::secret::valid_customer_id;
use crate::oauth::Tokens;
use crate::runtime::manifest::AuthSpec;
use crate::runtime::{LoadedAdapter, UserInfo};
use crate::secret::{Secret, random_id};
use crate::store::{AuditEvent, AuditKind, AuthKind, Connect, Integration, Owner};
use axum::extract::FromRequestParts;
use axum::http::StatusCode;
use axum::http::request::Parts;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::net::SocketAddr;
use std::sync::Arc;

/// The longest integration name accepted.
const MAX_NAME_CHARS: usize = 200;
/// The largest metadata object accepted (its JSON).
const MAX_METADATA_BYTES: usize = 16 * 1024;

/// Where a request came from, for the audit trail.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Client {
    pub(crate) ip: Option<String>,
    pub(crate) user_agent: Option<String>,
}

impl<S: Send + Sync> FromRequestParts<S> for Client {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        let ip = parts.extensions.get::<axum::extract::ConnectInfo<SocketAddr>>().map(|c| c.0.ip().to_string());
        let user_agent = parts
            .headers
            .get(axum::http::header::USER_AGENT)
            .and_then(|v| v.to_str().ok())
            .map(|s| s.chars().take(512).collect());
        Ok(Client { ip, user_agent })
    }
}

/// What a connect is for: whose integration, renewing which, under which
/// name and metadata (kept with an OAuth login's state between its start
/// and its callback).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Request {
    pub(crate) workspace_id: String,
    pub(crate) customer_id: String,
    pub(crate) connector: String,
    pub(crate) integration_id: Option<String>,
    pub(crate) name: Option<String>,
    pub(crate) metadata: Option<Value>,
    pub(crate) client: Client,
}

/// A connect done: the integration as stored, and whether it is new.
pub(crate) struct Connected {
    pub(crate) integration: Integration,
    pub(crate) created: bool,
}

/// `UNKNOWN_CONNECTOR` (404) naming the connectors that exist.
pub(crate) fn unknown_connector(state: &AppState, connector: &str) -> Problem {
    Problem::other(
        StatusCode::NOT_FOUND,
        "UNKNOWN_CONNECTOR",
        "Unknown connector",
        format!("no connector {connector:?}; this host serves: {}", crate::api::state::served_platforms(state)),
    )
}

/// `INTEGRATION_NOT_FOUND` (404).
pub(crate) fn integration_not_found(id: &str) -> Problem {
    Problem::other(
        StatusCode::NOT_FOUND,
        "INTEGRATION_NOT_FOUND",
        "Integration not found",
        format!("no integration {id:?} belongs to this workspace and customer"),
    )
}

/// `INVALID_CUSTOMER_ID` unless the customer id is 1 to 64 letters and digits.
pub(crate) fn check_customer_id(customer_id: &str) -> Result<(), Problem> {
    if valid_customer_id(customer_id) {
        return Ok(());
    }
    Err(Problem::other(
        StatusCode::BAD_REQUEST,
        "INVALID_CUSTOMER_ID",
        "Invalid customer id",
        "customerId must be 1 to 64 letters and digits".into(),
    ))
}

impl Request {
    /// Checks what the caller chose: the connector exists, the customer id is
    /// letters and digits, the name and metadata are within bounds, and the
    /// integration to renew (if any) is this customer's, for this connector.
    pub(crate) async fn check(&self, state: &AppState) -> Result<Arc<LoadedAdapter>, Problem> {
        let adapter =
            state.runtime.adapter(&self.connector).ok_or_else(|| unknown_connector(state, &self.connector))?;
        check_customer_id(&self.customer_id)?;
        check_name_and_metadata(self.name.as_deref(), self.metadata.as_ref())?;
        if let Some(id) = &self.integration_id {
            let found = state.store.integration(&self.workspace_id, id).await?;
            if !found.is_some_and(|i| i.customer_id == self.customer_id && i.connector == self.connector) {
                return Err(integration_not_found(id));
            }
        }
        Ok(adapter)
    }
}

/// An integration's name is at most [`MAX_NAME_CHARS`]; its metadata is a
/// JSON object of at most [`MAX_METADATA_BYTES`].
pub(crate) fn check_name_and_metadata(name: Option<&str>, metadata: Option<&Value>) -> Result<(), Problem> {
    if name.is_some_and(|n| n.chars().count() > MAX_NAME_CHARS) {
        return Err(Problem::invalid(format!("name is longer than {MAX_NAME_CHARS} characters")));
    }
    if let Some(m) = metadata {
        if !m.is_object() {
            return Err(Problem::invalid("metadata must be a JSON object"));
        }
        if m.to_string().len() > MAX_METADATA_BYTES {
            return Err(Problem::invalid(format!("metadata is larger than {MAX_METADATA_BYTES} bytes of JSON")));
        }
    }
    Ok(())
}

/// Connects with an API key: the adapter must take API keys, and must accept
/// this one (`INVALID_API_KEY` otherwise, nothing stored).
pub(crate) async fn with_api_key(
    state: &AppState,
    request: &Request,
    api_key: &str,
    hostname: &str,
) -> Result<Connected, Problem> {
    let adapter = request.check(state).await?;
    if !matches!(adapter.manifest.auth, AuthSpec::ApiKey { .. }) {
        return Err(Problem::other(
            StatusCode::BAD_REQUEST,
            "UNSUPPORTED_AUTH",
            "Connector uses OAuth",
            format!("{} connects with OAuth, not an API key: start an OAuth connect", request.connector),
        ));
    }
    let api_key = api_key.trim();
    if api_key.is_empty() {
        return Err(Problem::invalid("apiKey is required"));
    }
    let info = crate::api::login::check_api_key(state, &adapter, api_key, hostname).await?;
    store(state, request, AuthKind::ApiKey, info, hostname, Tokens::api_key(Secret::new(api_key))).await
}

/// Finishes an OAuth connect: the tokens of the code exchange, the account
/// they belong to (`get-user-info`), stored as the customer's integration.
pub(crate) async fn with_oauth(
    state: &AppState,
    request: &Request,
    tokens: Tokens,
    hostname: &str,
    keep_hostname: bool,
) -> Result<Connected, Problem> {
    let adapter = request.check(state).await?;
    let mut info = who_is(state, &adapter, tokens.access.expose(), hostname)
        .await
        .map_err(|e| Problem::from(crate::api::error::ApiError::from(e)))?;
    if keep_hostname {
        // The regional host the login chose also serves its token endpoint.
        info.hostname = None;
    }
    store(state, request, AuthKind::Oauth, info, hostname, tokens).await
}

async fn store(
    state: &AppState,
    request: &Request,
    auth_kind: AuthKind,
    info: UserInfo,
    hostname: &str,
    tokens: Tokens,
) -> Result<Connected, Problem> {
    // The connection as an App Connect login makes it; its id becomes the integration's.
    let mut user = crate::api::login::connected_user(&request.connector, auth_kind, info, hostname, tokens);
    let connect = Connect {
        owner: Owner { workspace_id: &request.workspace_id, customer_id: &request.customer_id },
        renews: request.integration_id.as_deref(),
        name: request.name.as_deref(),
        metadata: request.metadata.as_ref(),
    };
    let created = state
        .store
        .save_integration(&connect, &random_id("int_"), &mut user)
        .await?
        .ok_or_else(|| integration_not_found(request.integration_id.as_deref().unwrap_or_default()))?;
    let event = AuditEvent {
        user_id: Some(&user.id),
        platform: &request.connector,
        event: if created { AuditKind::Login } else { AuditKind::Reconnect },
        ip: request.client.ip.as_deref(),
        user_agent: request.client.user_agent.as_deref(),
        detail: None,
    };
    state.store.audit(&event).await?;
    tracing::info!(connector = %request.connector, integration = %user.id, created, "integration connected");
    let integration = state
        .store
        .integration(&request.workspace_id, &user.id)
        .await?
        .ok_or_else(|| integration_not_found(&user.id))?;
    Ok(Connected { integration, created })
}
