//! A signed-in user's connection to their CRM, ready to call the adapter.

use super::meta::adapter_for;
use super::{AppState, Session};
use crate::error::ApiResult;
use crate::request_id;
use crate::runtime::bindings::exports::switchboard::crm::crm::Guest as Crm;
use crate::runtime::host_state::HostState;
use crate::runtime::{CallContext, CallFuture, InvokeError, LoadedAdapter, call_context};
use crate::store::Secret;
use std::sync::Arc;
use wasmtime::Store;

pub struct Connection {
    state: AppState,
    adapter: Arc<LoadedAdapter>,
    credential: Secret,
    pub ctx: CallContext,
}

impl Connection {
    /// The session's adapter and credential; 401 when the user logged out.
    pub fn open(state: &AppState, session: &Session) -> ApiResult<Connection> {
        let credential = session.credential()?.clone();
        let adapter = adapter_for(state, &session.user.platform)?;
        let ctx = call_context(&request_id::current(), &session.user.crm_user_id, &session.user.hostname);
        Ok(Connection { state: state.clone(), adapter, credential, ctx })
    }

    /// Calls one adapter operation; `f` receives the call context, the export
    /// and the store.
    pub async fn call<T, F>(&self, operation: &'static str, f: F) -> Result<T, InvokeError>
    where
        T: Send + crate::runtime::invoke::OutputSize,
        F: for<'a> FnOnce(CallContext, &'a Crm, &'a mut Store<HostState>) -> CallFuture<'a, T> + Send,
    {
        let ctx = self.ctx.clone();
        self.state
            .runtime
            .call(&self.adapter, operation, &self.ctx.request_id, Some(self.credential.expose()), move |crm, store| {
                f(ctx, crm, store)
            })
            .await
    }
}
