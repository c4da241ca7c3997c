//! Outgoing webhooks: events about integrations and what was logged through
//! them, delivered to each subscribed endpoint, signed as Standard Webhooks
//! 1.0 says.
//!
//! [`event`] names the events and builds their bodies; the outbox, the
//! queue and the endpoints are the store's (`store::webhooks`); [`dispatcher`]
//! claims and attempts deliveries; [`schedule`] says when to try again;
//! [`signing`] signs; [`ssrf`] keeps every URL on the public internet.

pub(crate) mod dispatcher;
pub(crate) mod event;
pub(crate) mod schedule;
pub(crate) mod signing;
pub(crate) mod ssrf;

pub(crate) use event::EventType;
