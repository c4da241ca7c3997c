//! Connect sessions: a workspace's frontend calls `connect(connector, secret)`;
//! the secret is a JWT its backend signed (RS256) with a key of the
//! workspace, naming the customer. A verified secret opens a short-lived
//! connect session for the hosted connect page.

pub(crate) mod secret;

use crate::clock::now_secs;
use crate::secret::{random_id, random_token, token_hash};
use crate::store::{ConnectSession, Store, StoreError};
use secret::{SecretClaims, SecretError};

/// How long a connect session lasts: long enough for an OAuth dance.
pub(crate) const SESSION_TTL_SECS: i64 = 15 * 60;

#[derive(Debug, thiserror::Error)]
pub(crate) enum ConnectError {
    #[error(transparent)]
    Secret(#[from] SecretError),
    #[error("no connector {0:?}: it is not one of the adapters this host serves")]
    UnknownConnector(String),
    #[error("the origin {0:?} is not one the workspace allows")]
    OriginNotAllowed(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// A session opened: its token (shown once, to the page that asked) and row.
#[derive(Debug)]
pub(crate) struct Opened {
    pub(crate) token: crate::secret::Secret,
    pub(crate) session: ConnectSession,
}

/// Who a session is for: what a verified secret says, or what a backend
/// asked for with its API key.
#[derive(Debug, Clone)]
pub(crate) struct Grant {
    pub(crate) workspace_id: String,
    pub(crate) customer_id: String,
    pub(crate) name: Option<String>,
    pub(crate) integration_id: Option<String>,
}

/// Verifies `secret` and opens a session for `connector`. `origin` is the
/// browser's `Origin` header, when there is one: it must be the workspace's.
pub(crate) async fn open_session(
    store: &Store,
    connector: &str,
    secret: &str,
    origin: Option<&str>,
    connector_exists: bool,
) -> Result<Opened, ConnectError> {
    // Before the secret is verified (and its jti used up): a secret sent for
    // a connector that does not exist can be sent again for the right one.
    if !connector_exists {
        return Err(ConnectError::UnknownConnector(connector.to_owned()));
    }
    let claims: SecretClaims = secret::verify(store, secret).await?;
    if let Some(origin) = origin {
        let workspace = store.workspace(&claims.workspace_id).await?;
        let allowed = workspace.is_some_and(|w| w.allowed_origins.iter().any(|o| o == origin));
        if !allowed {
            return Err(ConnectError::OriginNotAllowed(origin.to_owned()));
        }
    }
    let grant = Grant {
        workspace_id: claims.workspace_id,
        customer_id: claims.customer_id,
        name: claims.name,
        integration_id: claims.integration_id,
    };
    open(store, grant, connector).await
}

/// Opens a session a workspace's backend asked for with its API key (the
/// alternative to a signed secret): the same checks of the customer.
pub(crate) async fn open_for_backend(
    store: &Store,
    grant: Grant,
    connector: &str,
    connector_exists: bool,
) -> Result<Opened, ConnectError> {
    if !connector_exists {
        return Err(ConnectError::UnknownConnector(connector.to_owned()));
    }
    if !secret::valid_customer_id(&grant.customer_id) {
        return Err(SecretError::InvalidCustomerId.into());
    }
    open(store, grant, connector).await
}

async fn open(store: &Store, grant: Grant, connector: &str) -> Result<Opened, ConnectError> {
    if let Some(id) = &grant.integration_id {
        // A renewal names an integration of this customer, for this connector.
        let found = store.integration(&grant.workspace_id, id).await?;
        if !found.is_some_and(|i| i.customer_id == grant.customer_id && i.connector == connector) {
            return Err(SecretError::ForeignIntegration(id.clone()).into());
        }
    }
    let token = random_token("cs_");
    let now = now_secs();
    let session = ConnectSession {
        id: random_id("csn_"),
        workspace_id: grant.workspace_id,
        customer_id: grant.customer_id,
        customer_name: grant.name,
        integration_id: grant.integration_id,
        connector: connector.to_owned(),
        created_at: now,
        expires_at: now + SESSION_TTL_SECS,
    };
    store.insert_connect_session(&session, &token_hash(token.expose())).await?;
    Ok(Opened { token, session })
}

/// The unexpired session a page presents.
pub(crate) async fn session(store: &Store, token: &str) -> Result<Option<ConnectSession>, StoreError> {
    if !token.starts_with("cs_") {
        return Ok(None);
    }
    store.connect_session(&token_hash(token)).await
}
