//! The App Connect HTTP API.

mod admin;
mod call_log;
mod connection;
mod contact;
mod crm_error;
mod extract;
mod login;
mod message_log;
mod meta;
mod middleware;
mod session;
mod settings;

use crate::auth::JwtKeys;
use crate::config::Config;
use crate::metrics::Metrics;
use crate::oauth::Connections;
use crate::runtime::Runtime;
use crate::store::Store;
use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::routing::{get, post};
use std::sync::Arc;

pub use session::Session;

/// Everything a handler needs; cheap to clone.
#[derive(Clone)]
pub struct AppState(Arc<Inner>);

pub struct Inner {
    pub config: Config,
    pub store: Store,
    pub runtime: Arc<Runtime>,
    pub jwt: JwtKeys,
    pub metrics: Arc<Metrics>,
    pub connections: Connections,
}

impl std::ops::Deref for AppState {
    type Target = Inner;
    fn deref(&self) -> &Inner {
        &self.0
    }
}

impl AppState {
    pub fn new(config: Config, store: Store, runtime: Arc<Runtime>, metrics: Arc<Metrics>) -> Self {
        let jwt = JwtKeys::new(&config.app_server_secret_key);
        let connections = Connections::new(config.clone(), store.clone(), runtime.clone());
        AppState(Arc::new(Inner { config, store, runtime, jwt, metrics, connections }))
    }
}

pub fn router(state: AppState) -> Router {
    // Routes that need a jwtToken; the session middleware authenticates them.
    let authenticated = Router::new()
        .route("/unAuthorize", post(login::unauthorize))
        .route("/authValidation", get(login::auth_validation))
        .route("/hostname", get(meta::hostname))
        .route("/user/settings", get(settings::get_settings).post(settings::post_settings))
        .route("/contact", get(contact::find).post(contact::create))
        .route("/callLog", get(call_log::get).post(call_log::create).patch(call_log::update))
        .route("/messageLog", post(message_log::create))
        .route_layer(axum::middleware::from_fn_with_state(state.clone(), session::middleware));

    Router::new()
        .route("/isAlive", get(meta::is_alive))
        .route("/implementedInterfaces", get(meta::implemented_interfaces))
        .route("/crmManifest", get(meta::crm_manifest))
        .route("/apiKeyLogin", post(login::api_key_login))
        .route("/oauth-callback", get(login::oauth_callback))
        .route("/oauth/{platform}/start", get(login::oauth_start))
        .route("/admin/connections", get(admin::connections))
        .route("/admin/connections/refresh", post(admin::refresh_connections))
        .route("/admin/adapters", get(admin::adapters))
        .route("/admin/reload", post(admin::reload))
        .route("/metrics", get(admin::metrics))
        .merge(authenticated)
        .layer(DefaultBodyLimit::max(state.config.limits.max_body_bytes))
        .layer(axum::middleware::from_fn_with_state(state.clone(), middleware::observe))
        .with_state(state)
}
