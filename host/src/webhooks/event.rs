//! The events a webhook endpoint can subscribe to, and the body each
//! delivery sends: `{id, type, event, timestamp, data}` (`type` as Standard
//! Webhooks names it, `event` as the integrations brief does; the same value).
//! `data` names what happened (ids, connector, customer), never a secret
//! and never a call's or message's content.

use serde_json::Value;

macro_rules! event_types {
    ($($variant:ident => $name:literal: $doc:literal),* $(,)?) => {
        /// An event type.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub(crate) enum EventType { $(#[doc = $doc] $variant),* }

        impl EventType {
            /// Every type, as the API lists them.
            pub(crate) const ALL: &'static [EventType] = &[$(EventType::$variant),*];

            pub(crate) fn name(self) -> &'static str {
                match self { $(EventType::$variant => $name),* }
            }

            pub(crate) fn description(self) -> &'static str {
                match self { $(EventType::$variant => $doc),* }
            }

            pub(crate) fn parse(s: &str) -> Option<EventType> {
                match s { $($name => Some(EventType::$variant),)* _ => None }
            }
        }
    };
}

event_types! {
    IntegrationConnected => "integration.connected": "A customer connected a CRM for the first time (or an App Connect user logged in for the first time).",
    IntegrationReconnected => "integration.reconnected": "A customer connected a CRM again: the same integration, new credentials.",
    IntegrationRefreshFailed => "integration.refresh_failed": "Refreshing the connection's access token failed; it will be tried again.",
    IntegrationRecovered => "integration.recovered": "A connection whose refresh had failed refreshed again.",
    IntegrationRevoked => "integration.revoked": "The CRM revoked the connection: the customer must connect again.",
    IntegrationDisconnected => "integration.disconnected": "The integration was disconnected (its credentials forgotten), or an App Connect user logged out.",
    ContactCreated => "contact.created": "A contact was created in the CRM.",
    CallLogCreated => "call_log.created": "A call was logged in the CRM.",
    CallLogUpdated => "call_log.updated": "A logged call was updated in the CRM.",
    MessageLogCreated => "message_log.created": "A message was logged in the CRM.",
    EndpointDisabled => "webhook.endpoint_disabled": "A webhook endpoint was disabled: it answered 410 Gone, or failed for 5 days.",
    Test => "webhook.test": "A test event, sent only when asked for (POST /api/v1/webhooks/{id}/test).",
}

/// Whose endpoints an event goes to: a workspace's, or the operator's own
/// (App Connect users' events).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Scope {
    Workspace(String),
    Operator,
}

impl Scope {
    /// The `scope` column's value.
    pub(crate) fn key(&self) -> &str {
        match self {
            Scope::Workspace(id) => id,
            Scope::Operator => "operator",
        }
    }
}

/// An event about to be written to the outbox.
#[derive(Debug, Clone)]
pub(crate) struct NewEvent {
    pub(crate) kind: EventType,
    pub(crate) data: Value,
    /// Only this endpoint (a test event), instead of every subscriber.
    pub(crate) only_endpoint: Option<String>,
}

impl NewEvent {
    pub(crate) fn new(kind: EventType, data: Value) -> Self {
        NewEvent { kind, data, only_endpoint: None }
    }

    /// The body every delivery of event `id` sends, byte for byte.
    ///
    /// Serialized from borrowed fields, not through a `json!` object, which
    /// copied `data` first (~10,000 fewer of a `POST /callLog`'s ~615,000
    /// instructions, callgrind). The keys keep the order that object gave
    /// them, serde_json's map being sorted: the bytes are the same.
    pub(crate) fn payload(&self, id: &str, created_at_ms: i64) -> String {
        #[derive(serde::Serialize)]
        struct Payload<'a> {
            data: &'a Value,
            event: &'static str,
            id: &'a str,
            timestamp: String,
            r#type: &'static str,
        }
        let payload = Payload {
            data: &self.data,
            event: self.kind.name(),
            id,
            timestamp: rfc3339_millis(created_at_ms),
            r#type: self.kind.name(),
        };
        // Strings and a `Value` always serialize.
        serde_json::to_string(&payload).unwrap_or_default()
    }
}

/// `2026-12-02T03:33:33.123Z`.
pub(crate) fn rfc3339_millis(ms: i64) -> String {
    let t = std::time::UNIX_EPOCH + std::time::Duration::from_millis(u64::try_from(ms).unwrap_or(0));
    humantime::format_rfc3339_millis(t).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn names_round_trip_and_the_payload_is_standard_webhooks_shaped() {
        for t in EventType::ALL {
            assert_eq!(EventType::parse(t.name()), Some(*t));
        }
        assert_eq!(EventType::parse("integration.*"), None);
        let e = NewEvent::new(EventType::CallLogCreated, json!({"logId": "42"}));
        let body: Value = serde_json::from_str(&e.payload("evt_1", 1_764_646_413_123)).unwrap();
        assert_eq!(body["type"], "call_log.created");
        assert_eq!(body["event"], "call_log.created");
        assert_eq!(body["id"], "evt_1");
        assert_eq!(body["timestamp"], "2025-12-02T03:33:33.123Z");
        assert_eq!(body["data"]["logId"], "42");
        // Byte for byte what the `json!` object it replaced wrote, so that
        // payloads stored before and after compare equal.
        let data = json!({"logId": "42", "connector": "testcrm", "customerId": "c-1"});
        let e = NewEvent::new(EventType::CallLogCreated, data.clone());
        let object = json!({"id": "evt_1", "type": "call_log.created", "event": "call_log.created",
            "timestamp": "2025-12-02T03:33:33.123Z", "data": data});
        assert_eq!(e.payload("evt_1", 1_764_646_413_123), object.to_string());
    }
}
