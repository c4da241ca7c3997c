//! A signed-in user's connection to their CRM, ready to call the adapter.

use super::error::ApiResult;
use super::session::Session;
use super::state::AppState;
use super::state::adapter_for;
use crate::request_id;
use crate::runtime::host_state::HostState;
use crate::runtime::invoke::OutputSize;
use crate::runtime::world::Crm;
use crate::runtime::{CallContext, CallFuture, CrmError, InvokeError, LoadedAdapter, UserInfo, call_context};
use crate::secret::Secret;
use crate::store::{AuthKind, User};
use std::sync::{Arc, Mutex};
use wasmtime::Store;

pub(crate) struct Connection {
    state: AppState,
    adapter: Arc<LoadedAdapter>,
    user_id: String,
    oauth: bool,
    credential: Mutex<Secret>,
    ctx: CallContext,
}

impl Connection {
    /// The session's adapter and a usable credential (an OAuth access token is
    /// refreshed first when it is about to expire); 401 when the user logged out.
    pub(crate) async fn open(state: &AppState, session: &Session) -> ApiResult<Connection> {
        Connection::of(state, &session.user).await
    }

    /// [`Connection::open`] for any connection's owner: an App Connect user
    /// or an integration.
    pub(crate) async fn of(state: &AppState, user: &User) -> ApiResult<Connection> {
        let credential = state.connections.access_token(user).await?;
        let adapter = adapter_for(state, &user.platform)?;
        let ctx = call_context(&request_id::current(), &user.crm_user_id, &user.hostname);
        Ok(Connection {
            state: state.clone(),
            adapter,
            user_id: user.id.clone(),
            oauth: user.auth_kind == AuthKind::Oauth,
            credential: Mutex::new(credential),
            ctx,
        })
    }

    /// The CRM's name as users know it (`Test CRM`, `Clio`).
    pub(crate) fn display_name(&self) -> &str {
        &self.adapter.manifest.display_name
    }

    fn credential(&self) -> Secret {
        self.credential.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Calls one adapter operation; `f` receives the call context, the export
    /// and the store. When the CRM refuses an OAuth access token, the token is
    /// refreshed once and the call retried once.
    pub(crate) async fn call<T, F>(&self, operation: &'static str, f: F) -> ApiResult<T>
    where
        T: Send + OutputSize,
        F: for<'a> FnOnce(CallContext, &'a Crm, &'a mut Store<HostState>) -> CallFuture<'a, T> + Send + Clone,
    {
        let retry = f.clone();
        let used = self.credential();
        match self.call_once(operation, &used, f).await {
            Err(InvokeError::Crm(CrmError::Unauthorized(_))) if self.oauth => {
                let fresh = self.state.connections.refresh(&self.user_id, Some(&used)).await?;
                *self.credential.lock().unwrap_or_else(|p| p.into_inner()) = fresh.clone();
                Ok(self.call_once(operation, &fresh, retry).await?)
            }
            other => Ok(other?),
        }
    }

    async fn call_once<T, F>(&self, operation: &'static str, credential: &Secret, f: F) -> Result<T, InvokeError>
    where
        T: Send + OutputSize,
        F: for<'a> FnOnce(CallContext, &'a Crm, &'a mut Store<HostState>) -> CallFuture<'a, T> + Send,
    {
        let ctx = self.ctx.clone();
        self.state
            .runtime
            .call(&self.adapter, operation, &self.ctx.request_id, Some(credential.expose()), move |crm, store| {
                f(ctx, crm, store)
            })
            .await
    }
}

/// Asks the adapter whose credential this is (`get-user-info`): how a new
/// connection is checked before it is stored.
pub(crate) async fn who_is(
    state: &AppState,
    adapter: &LoadedAdapter,
    credential: &str,
    hostname: &str,
) -> Result<UserInfo, InvokeError> {
    let rid = request_id::current();
    let ctx = call_context(&rid, "", hostname);
    state
        .runtime
        .call(adapter, "get-user-info", &rid, Some(credential), move |a, s| {
            Box::pin(async move { a.call_get_user_info(s, &ctx).await })
        })
        .await
}

/// Asks the CRM to end a connection where it can: the adapter's
/// `unauthorize`, then RFC 7009 revocation of OAuth tokens. Never fails: a
/// credential that can no longer be used (or refreshed) is forgotten all the
/// same, so logging out and disconnecting always work.
pub(crate) async fn revoke_at_crm(state: &AppState, user: &User) {
    let revoked = match Connection::of(state, user).await {
        Ok(crm) => {
            crm.call("unauthorize", |ctx, a, s| Box::pin(async move { a.call_unauthorize(s, &ctx).await })).await
        }
        Err(e) => Err(e),
    };
    if let Err(e) = revoked {
        tracing::warn!(user = %user.id, error = %e, "the CRM could not revoke the connection; forgetting it anyway");
    }
    if user.auth_kind == AuthKind::Oauth {
        state.connections.revoke(user).await;
    }
}
