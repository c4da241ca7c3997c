//! `POST /messageLog`: SMS, fax and voicemail records.
//!
//! Messages are deduplicated by message id; all messages of a conversation go
//! to one CRM record (created by the first, appended to by the later ones).

use super::connection::Connection;
use super::envelope::{NOTICE_TTL_MS, Success};
use super::error::{ApiError, ApiResult, ErrorCode};
use super::extract::JsonBody;
use super::params::{Party, direction, object_json, string_or_number};
use super::session::Session;
use super::state::AppState;
use crate::request_id;
use crate::runtime::{Direction, Message, MessageLogInput};
use crate::store::{Ledger, Reservation};
use axum::extract::{Extension, State};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct RcMessage {
    #[serde(default, deserialize_with = "string_or_number::opt")]
    id: Option<String>,
    #[serde(default, deserialize_with = "string_or_number::opt")]
    conversation_id: Option<String>,
    direction: Option<String>,
    r#type: Option<String>,
    subject: Option<String>,
    #[serde(default)]
    from: Party,
    creation_time: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Conversation {
    #[serde(default, deserialize_with = "string_or_number::opt")]
    conversation_id: Option<String>,
    messages: Option<Vec<RcMessage>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Body {
    log_info: Option<Conversation>,
    #[serde(default, deserialize_with = "string_or_number::opt")]
    contact_id: Option<String>,
    contact_type: Option<String>,
    contact_name: Option<String>,
    additional_submission: Option<Value>,
}

/// The CRM records the messages went to.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct MessagesLogged {
    log_ids: Vec<String>,
}

pub(crate) async fn create(
    State(state): State<AppState>,
    Extension(session): Extension<Session>,
    JsonBody(body): JsonBody<Body>,
) -> ApiResult<Success<MessagesLogged>> {
    let info = body.log_info.ok_or_else(|| ApiError::missing("logInfo"))?;
    let contact_id = body.contact_id.filter(|c| !c.is_empty()).ok_or_else(|| ApiError::missing("contactId"))?;
    let raw = info.messages.ok_or_else(|| ApiError::missing("logInfo.messages"))?;
    let mut messages = Vec::with_capacity(raw.len());
    for (i, m) in raw.into_iter().enumerate() {
        let id =
            m.id.filter(|s| !s.is_empty()).ok_or_else(|| ApiError::missing(&format!("logInfo.messages[{i}].id")))?;
        let conversation_id =
            m.conversation_id.or_else(|| info.conversation_id.clone()).unwrap_or_else(|| format!("message-{id}"));
        messages.push(Message {
            id,
            conversation_id,
            direction: direction(m.direction.as_deref()).unwrap_or(Direction::Inbound),
            message_type: m.r#type.unwrap_or_else(|| "SMS".into()),
            subject: m.subject.unwrap_or_default(),
            from_number: m.from.phone_number.unwrap_or_default(),
            creation_time: m.creation_time.unwrap_or_default(),
        });
    }
    // Oldest first, so the record reads in order.
    messages.sort_by(|a, b| a.creation_time.cmp(&b.creation_time));

    let crm = Connection::open(&state, &session).await?;
    let user_id = session.user.id.clone();
    let additional = object_json(body.additional_submission);
    let (contact_type, contact_name) = (body.contact_type, body.contact_name);
    let work = async move {
        let mut log_ids: Vec<String> = Vec::new();
        for message in messages {
            let (message_id, conversation_id) = (message.id.clone(), message.conversation_id.clone());
            let message_key = Ledger::Message { message_id: &message_id, conversation_id: &conversation_id };
            let Reservation::Reserved(message_lease) = state.store.reserve(&user_id, message_key).await? else {
                continue; // logged before, or being logged
            };
            let conversation = Ledger::Conversation { conversation_id: &conversation_id };
            let input = MessageLogInput {
                idempotency_key: conversation.idempotency_key(&user_id),
                contact_id: contact_id.clone(),
                contact_type: contact_type.clone(),
                contact_name: contact_name.clone(),
                message,
                additional_submission_json: additional.clone(),
            };
            let outcome = match state.store.reserve(&user_id, conversation).await? {
                Reservation::Reserved(lease) => {
                    let created = crm
                        .call("create-message-log", move |ctx, a, s| {
                            Box::pin(async move { a.call_create_message_log(s, &ctx, &input).await })
                        })
                        .await;
                    match created {
                        Ok(id) => {
                            state.store.complete(&user_id, conversation, &id).await?;
                            Ok(id)
                        }
                        Err(e) => {
                            state.store.release(&user_id, conversation, &lease).await?;
                            Err(e)
                        }
                    }
                }
                Reservation::Logged(id) => {
                    // Adding a message to the record: the key names the message.
                    let mut input = input;
                    input.idempotency_key = message_key.idempotency_key(&user_id);
                    let log_id = id.clone();
                    crm.call("update-message-log", move |ctx, a, s| {
                        Box::pin(async move { a.call_update_message_log(s, &ctx, &log_id, &input).await })
                    })
                    .await
                    .map(|()| id)
                }
                Reservation::Pending => Err(ApiError::unsuccessful(
                    ErrorCode::ConversationInProgress,
                    "This conversation is being logged by another request; try again.",
                )
                .retryable()),
            };
            match outcome {
                Ok(log_id) => {
                    state.store.complete(&user_id, message_key, &log_id).await?;
                    if !log_ids.contains(&log_id) {
                        log_ids.push(log_id);
                    }
                }
                Err(e) => {
                    // Nothing is lost: the message can be logged by a retry.
                    state.store.release(&user_id, message_key, &message_lease).await?;
                    return Err(e.with("logIds", json!(log_ids)));
                }
            }
        }
        Ok(log_ids)
    };
    let log_ids =
        request_id::spawn(work).await.map_err(|e| ApiError::internal(format!("message-log task failed: {e}")))??;
    let message = if log_ids.is_empty() { "Messages were already logged." } else { "Messages logged." };
    Ok(Success::saying(MessagesLogged { log_ids }, message, NOTICE_TTL_MS))
}
