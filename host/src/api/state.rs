//! What every handler shares: the configuration, storage, the adapter
//! runtime, the jwtToken keys, metrics and the OAuth connections.

use super::error::{ApiError, ApiResult, ErrorCode};
use crate::auth::JwtKeys;
use crate::config::Config;
use crate::metrics::Metrics;
use crate::oauth::Connections;
use crate::runtime::{LoadedAdapter, Runtime};
use crate::store::Store;
use std::sync::Arc;

/// Everything a handler needs; cheap to clone.
#[derive(Clone)]
pub struct AppState(Arc<Inner>);

pub struct Inner {
    pub(crate) config: Config,
    pub(crate) store: Store,
    pub runtime: Arc<Runtime>,
    pub(crate) jwt: JwtKeys,
    pub(crate) metrics: Arc<Metrics>,
    pub connections: Connections,
    /// Wrong admin tokens per client address.
    pub(crate) admin_failures: super::throttle::FailedAttempts,
}

impl std::ops::Deref for AppState {
    type Target = Inner;
    fn deref(&self) -> &Inner {
        &self.0
    }
}

impl AppState {
    pub(crate) fn new(config: Config, store: Store, runtime: Arc<Runtime>, metrics: Arc<Metrics>) -> Self {
        let jwt = JwtKeys::new(&config.app_server_secret_key);
        let connections = Connections::new(config.clone(), store.clone(), runtime.clone());
        let admin_failures = Default::default();
        AppState(Arc::new(Inner { config, store, runtime, jwt, metrics, connections, admin_failures }))
    }
}

/// The adapter serving `platform`, or `UNKNOWN_PLATFORM` naming those that are served.
pub(super) fn adapter_for(state: &AppState, platform: &str) -> ApiResult<Arc<LoadedAdapter>> {
    state.runtime.adapter(platform).ok_or_else(|| {
        ApiError::bad_request(
            ErrorCode::UnknownPlatform,
            format!("no adapter serves platform {platform:?}; this server serves: {}", served_platforms(state)),
        )
    })
}

/// The platforms served now, sorted, for errors that name them.
pub(crate) fn served_platforms(state: &AppState) -> String {
    let mut known: Vec<String> = state.runtime.adapters().iter().map(|a| a.manifest.platform.clone()).collect();
    known.sort();
    known.join(", ")
}
