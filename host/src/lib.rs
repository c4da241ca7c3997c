//! Switchboard: serves the App Connect CRM-extension API by dispatching every
//! call to a sandboxed WebAssembly component adapter.
//!
//! - [`config`]: the operator's configuration (file + environment)
//! - [`api`]: the HTTP routes; [`auth`]: the jwtToken; [`request_id`]; [`error`]
//! - [`runtime`]: wasmtime engine, adapter loading, sandboxed calls, outbound HTTP
//! - [`store`]: SQLite/PostgreSQL storage; [`crypto`]: credentials at rest
//! - [`server`]: wiring it all up and serving

pub mod api;
pub mod auth;
pub mod config;
pub mod crypto;
pub mod error;
pub mod metrics;
pub mod oauth;
pub mod request_id;
pub mod runtime;
pub mod server;
pub mod store;
