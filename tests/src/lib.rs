//! Fake CRMs — real HTTP servers that the adapters talk to in tests and in
//! the demo — and helpers for the end-to-end tests.

pub mod components;
pub mod oauth;
pub mod ringcentral;
pub mod tcp_proxy;
pub mod testcrm;
