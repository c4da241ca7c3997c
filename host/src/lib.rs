//! Switchboard: serves the App Connect CRM-extension API by dispatching every
//! call to a sandboxed WebAssembly component adapter.
//!
//! Modules, lowest layer first (each uses only those above it in this list;
//! `ARCHITECTURE.md` has the request path and each module's invariants):
//! - [`clock`], [`secret`], [`crypto`], [`allow_list`], [`request_id`], [`metrics`]: leaves
//! - [`config`]: the operator's configuration (file + environment)
//! - [`auth`]: the jwtToken
//! - [`store`]: SQLite/PostgreSQL storage, secrets sealed at rest (it writes
//!   webhook events of [`webhooks::event`], a leaf, to its outbox)
//! - [`runtime`]: wasmtime engine, adapter loading, sandboxed calls, outbound HTTP
//! - [`oauth`]: OAuth logins and single-flight token refresh
//! - [`webhooks`]: the SSRF guard, signing, the retry schedule and the delivery workers
//! - [`api`]: the HTTP routes, envelopes, and the mapping of every error to one
//! - [`server`]: wiring it all up and serving

pub(crate) mod allow_list;
pub mod api;
pub(crate) mod auth;
pub(crate) mod clock;
pub mod config;
mod connect;
pub mod crypto;
pub mod log_writer;
pub(crate) mod metrics;
pub mod oauth;
pub(crate) mod request_id;
pub mod runtime;
pub mod secret;
pub(crate) mod serve;
pub mod server;
pub mod store;
mod webhooks;
pub mod workspaces;
