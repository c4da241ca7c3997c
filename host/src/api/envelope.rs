//! The success envelope of App Connect answers: `{successful: true, ...fields,
//! returnMessage?}`, where `returnMessage` is the toast the client shows
//! (`{message, messageType, ttl}`). Failures have their own envelope (`ApiError`).

use axum::Json;
use axum::response::{IntoResponse, Response};
use serde::Serialize;

/// How a client styles a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum MessageType {
    Success,
    Warning,
    Danger,
}

/// A message for the user: `{message, messageType, ttl}` (ttl in milliseconds).
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ReturnMessage {
    message: String,
    message_type: MessageType,
    ttl: u32,
    /// Lines the client shows under the message: `[{title, items: [{id, type: "text", text}]}]`.
    #[serde(skip_serializing_if = "Option::is_none")]
    details: Option<serde_json::Value>,
}

/// How long a success toast stays: a notice (something was logged or created)
/// or a brief confirmation (logged out, connection valid).
pub(crate) const NOTICE_TTL_MS: u32 = 3000;
pub(crate) const BRIEF_TTL_MS: u32 = 1000;
/// How long a warning stays (as long as a failure's).
pub(crate) const WARNING_TTL_MS: u32 = 5000;

impl ReturnMessage {
    pub(crate) fn new(message: impl Into<String>, message_type: MessageType, ttl: u32) -> Self {
        ReturnMessage { message: message.into(), message_type, ttl, details: None }
    }

    /// Adds a "Details" section of one line.
    pub(crate) fn with_detail(mut self, text: impl Into<String>) -> Self {
        let text = text.into();
        self.details =
            Some(serde_json::json!([{"title": "Details", "items": [{"id": "1", "type": "text", "text": text}]}]));
        self
    }

    /// A success toast.
    pub(crate) fn success(message: impl Into<String>, ttl: u32) -> Self {
        Self::new(message, MessageType::Success, ttl)
    }
}

/// A successful answer: `body`'s fields beside `successful: true` and an
/// optional `returnMessage`.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Success<T: Serialize> {
    successful: bool,
    #[serde(flatten)]
    body: T,
    #[serde(skip_serializing_if = "Option::is_none")]
    return_message: Option<ReturnMessage>,
}

impl<T: Serialize> Success<T> {
    /// `body` with no message.
    pub(crate) fn new(body: T) -> Self {
        Success { successful: true, body, return_message: None }
    }

    /// `body` with a message of the caller's making (e.g. a warning: the
    /// request worked, the outcome needs a look).
    pub(crate) fn with_message(body: T, message: ReturnMessage) -> Self {
        Success { successful: true, body, return_message: Some(message) }
    }

    /// `body` with a success toast.
    pub(crate) fn saying(body: T, message: impl Into<String>, ttl: u32) -> Self {
        Success { successful: true, body, return_message: Some(ReturnMessage::success(message, ttl)) }
    }
}

impl<T: Serialize> IntoResponse for Success<T> {
    fn into_response(self) -> Response {
        Json(self).into_response()
    }
}

/// A body with no fields beyond the envelope's.
#[derive(Debug, Serialize)]
pub(crate) struct Empty {}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[derive(Serialize)]
    #[serde(rename_all = "camelCase")]
    struct Logged {
        log_id: &'static str,
    }

    #[test]
    fn the_envelope_puts_the_fields_beside_successful_and_the_message() {
        let v = serde_json::to_value(Success::saying(Logged { log_id: "A-1" }, "Call logged.", NOTICE_TTL_MS)).unwrap();
        assert_eq!(
            v,
            json!({"successful": true, "logId": "A-1",
                   "returnMessage": {"message": "Call logged.", "messageType": "success", "ttl": 3000}})
        );
        assert_eq!(serde_json::to_value(Success::new(Empty {})).unwrap(), json!({"successful": true}));
    }
}
