//! `POST|GET|PATCH /callLog`.
//!
//! Idempotency: a call log is keyed by (user, sessionId). The key is reserved in
//! the database before the CRM is called, so concurrent duplicates create one
//! CRM record; the losers answer `successful: false` with
//! `CALL_LOG_IN_PROGRESS` or `CALL_LOG_EXISTS`. A failed CRM call gives the key
//! back so the client can retry.

use super::connection::Connection;
use super::envelope::{BRIEF_TTL_MS, Empty, NOTICE_TTL_MS, Success};
use super::error::{ApiError, ApiResult, ErrorCode};
use super::extract::{JsonBody, QueryParams};
use super::params::{Party, comma_list, direction, object_json, rfc3339, seconds, string_or_number};
use super::session::Session;
use super::state::{AppState, adapter_for};
use crate::request_id;
use crate::runtime::world::Operation;
use crate::runtime::{CallLogInput, CallLogUpdate};
use crate::store::{Ledger, Reservation};
use crate::webhooks::EventType;
use axum::extract::{Extension, State};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Recording {
    link: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct LogInfo {
    #[serde(default, deserialize_with = "string_or_number::opt")]
    session_id: Option<String>,
    direction: Option<String>,
    start_time: Option<Value>,
    duration: Option<Value>,
    result: Option<String>,
    #[serde(default)]
    from: Party,
    #[serde(default)]
    to: Party,
    #[serde(default)]
    recording: Option<Recording>,
    custom_subject: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct CreateBody {
    log_info: Option<LogInfo>,
    #[serde(default, deserialize_with = "string_or_number::opt")]
    contact_id: Option<String>,
    contact_type: Option<String>,
    contact_name: Option<String>,
    note: Option<String>,
    additional_submission: Option<Value>,
}

/// `{logId}` of a created or updated call log.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Logged {
    log_id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    updated_note: Option<String>,
}

pub(crate) async fn create(
    State(state): State<AppState>,
    Extension(session): Extension<Session>,
    JsonBody(body): JsonBody<CreateBody>,
) -> ApiResult<Success<Logged>> {
    let info = body.log_info.ok_or_else(|| ApiError::missing("logInfo"))?;
    let session_id =
        info.session_id.clone().filter(|s| !s.is_empty()).ok_or_else(|| ApiError::missing("logInfo.sessionId"))?;
    let contact_id = body.contact_id.filter(|c| !c.is_empty()).ok_or_else(|| ApiError::missing("contactId"))?;
    // A note the client cached during the call stands in for a missing one.
    let note = match body.note.filter(|n| !n.trim().is_empty()) {
        Some(note) => Some(note),
        None => state.store.cached_note(&session.user.id, &session_id).await?,
    };
    let input = CallLogInput {
        idempotency_key: Ledger::session(&session_id).idempotency_key(&session.user.id),
        session_id: session_id.clone(),
        contact_id: contact_id.clone(),
        contact_type: body.contact_type,
        contact_name: body.contact_name,
        subject: info.custom_subject,
        note,
        direction: direction(info.direction.as_deref()),
        from_number: info.from.phone_number,
        to_number: info.to.phone_number,
        start_time: rfc3339(info.start_time.as_ref(), "logInfo.startTime")?,
        duration_seconds: seconds(info.duration.as_ref()),
        call_result: info.result,
        recording_link: info.recording.and_then(|r| r.link),
        additional_submission_json: object_json(body.additional_submission),
    };
    let crm = Connection::open(&state, &session).await?;
    let user_id = session.user.id.clone();
    // Reserve → call the CRM → record, as one task that finishes even if the
    // client goes away, so the reservation is never left behind.
    let work = async move {
        let key = Ledger::Call { session_id: &session_id, contact_id: &contact_id };
        let lease = match state.store.reserve(&user_id, key).await? {
            Reservation::Reserved(lease) => lease,
            Reservation::Pending => {
                return Err(ApiError::unsuccessful(
                    ErrorCode::CallLogInProgress,
                    "This call is being logged by another request.",
                )
                .retryable());
            }
            Reservation::Logged(log_id) => {
                return Err(ApiError::unsuccessful(ErrorCode::CallLogExists, "This call has already been logged.")
                    .with("logId", json!(log_id)));
            }
        };
        let created = crm
            .call("create-call-log", move |ctx, a, s| {
                Box::pin(async move { a.call_create_call_log(s, &ctx, &input).await })
            })
            .await;
        match created {
            Ok(log_id) => {
                // (Its cached note is forgotten with it.)
                state.store.complete(&user_id, key, &log_id).await?;
                Ok(log_id)
            }
            Err(e) => {
                state.store.release(&user_id, key, &lease).await?;
                Err(e)
            }
        }
    };
    let log_id =
        request_id::spawn(work).await.map_err(|e| ApiError::internal(format!("call-log task failed: {e}")))??;
    Ok(Success::saying(Logged { log_id, updated_note: None }, "Call logged.", NOTICE_TTL_MS))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct GetQuery {
    session_ids: Option<String>,
    require_details: Option<bool>,
}

/// One session of `GET /callLog`.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct LogMatch {
    session_id: String,
    matched: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    log_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    log_data: Option<LogData>,
}

/// What the CRM holds for a logged call (`requireDetails=true`).
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct LogData {
    subject: String,
    note: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    full_body: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    contact_name: Option<String>,
    /// The log form's disposition fields as set, for the edit form.
    #[serde(skip_serializing_if = "Option::is_none")]
    dispositions: Option<Value>,
}

#[derive(Serialize)]
pub(crate) struct Logs {
    logs: Vec<LogMatch>,
}

pub(crate) async fn get(
    State(state): State<AppState>,
    Extension(session): Extension<Session>,
    QueryParams(q): QueryParams<GetQuery>,
) -> ApiResult<Success<Logs>> {
    let ids = comma_list(q.session_ids.as_deref());
    if ids.is_empty() {
        return Err(ApiError::missing("sessionIds"));
    }
    let max = state.config.limits.max_session_ids;
    if ids.len() > max {
        return Err(ApiError::bad_request(
            ErrorCode::TooManySessionIds,
            format!("at most {max} sessionIds per request, got {}", ids.len()),
        ));
    }
    let details = q.require_details.unwrap_or(false);
    let crm = if details { Some(Connection::open(&state, &session).await?) } else { None };
    let mut logs = Vec::with_capacity(ids.len());
    for session_id in ids {
        let logged = match state.store.lookup(&session.user.id, Ledger::session(&session_id)).await? {
            Some(Reservation::Logged(log_id)) => Some(log_id),
            _ => None,
        };
        let mut item = LogMatch { session_id, matched: logged.is_some(), log_id: logged.clone(), log_data: None };
        if let (Some(log_id), Some(crm)) = (logged, &crm) {
            let got = crm
                .call("get-call-log", move |ctx, a, s| {
                    Box::pin(async move { a.call_get_call_log(s, &ctx, &log_id).await })
                })
                .await;
            match got {
                Ok(log) => {
                    item.log_data = Some(LogData {
                        subject: log.subject,
                        note: log.note,
                        full_body: log.full_body,
                        contact_name: log.contact_name,
                        dispositions: log
                            .dispositions_json
                            .and_then(|d| serde_json::from_str::<Value>(&d).ok())
                            .filter(Value::is_object),
                    });
                }
                // Deleted in the CRM since: report it as not logged.
                Err(e) if e.code == ErrorCode::CrmNotFound => {
                    item.matched = false;
                    item.log_id = None;
                }
                Err(e) => return Err(e),
            }
        }
        logs.push(item);
    }
    Ok(Success::new(Logs { logs }))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct CacheNoteBody {
    #[serde(default, deserialize_with = "string_or_number::opt")]
    session_id: Option<String>,
    note: Option<String>,
}

/// `POST /callLog/cacheNote`: the client's note of a call that just ended,
/// kept until the call is logged (the log's own note, when it has one, wins).
pub(crate) async fn cache_note(
    State(state): State<AppState>,
    Extension(session): Extension<Session>,
    JsonBody(body): JsonBody<CacheNoteBody>,
) -> ApiResult<Success<Empty>> {
    let session_id = body.session_id.filter(|s| !s.is_empty()).ok_or_else(|| ApiError::missing("sessionId"))?;
    let note = body.note.unwrap_or_default();
    if note.len() > MAX_NOTE_BYTES {
        return Err(ApiError::bad_request(
            ErrorCode::InvalidParameter,
            format!("`note` is over {MAX_NOTE_BYTES} bytes"),
        ));
    }
    state.store.cache_note(&session.user.id, &session_id, &note).await?;
    Ok(Success::saying(Empty {}, "Note cache saved", BRIEF_TTL_MS))
}

/// The longest note kept by `cacheNote`.
const MAX_NOTE_BYTES: usize = 64 * 1024;

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct DispositionBody {
    #[serde(default, deserialize_with = "string_or_number::opt")]
    session_id: Option<String>,
    dispositions: Option<Value>,
}

/// `PUT /callDisposition`: sets a logged call's dispositions in the CRM (WIT
/// 0.2.0's `set-call-disposition`, given the `dispositions` object as the
/// client sent it). Adapters without it (every 0.1.0 one) answer
/// `UNSUPPORTED_OPERATION` (HTTP 200, as App Connect clients expect), and the
/// manifest tells clients not to ask (`disableDisposition`).
pub(crate) async fn set_disposition(
    State(state): State<AppState>,
    Extension(session): Extension<Session>,
    JsonBody(body): JsonBody<DispositionBody>,
) -> ApiResult<Success<Logged>> {
    let session_id = body.session_id.filter(|s| !s.is_empty()).ok_or_else(|| ApiError::missing("sessionId"))?;
    let dispositions = match body.dispositions {
        None | Some(Value::Null) => json!({}),
        Some(v @ Value::Object(_)) => v,
        Some(_) => {
            return Err(ApiError::bad_request(ErrorCode::InvalidParameter, "`dispositions` must be a JSON object"));
        }
    };
    let log_id = match state.store.lookup(&session.user.id, Ledger::session(&session_id)).await? {
        Some(Reservation::Logged(log_id)) => log_id,
        _ => return Err(ApiError::unsuccessful(ErrorCode::CallLogNotFound, "Cannot find log")),
    };
    let adapter = adapter_for(&state, &session.user.platform)?;
    if !adapter.has(Operation::SetCallDisposition) {
        return Err(ApiError::unsuccessful(
            ErrorCode::UnsupportedOperation,
            format!("{} does not support call dispositions", adapter.manifest.display_name),
        ));
    }
    let crm = Connection::open(&state, &session).await?;
    let (id, json) = (log_id.clone(), dispositions.to_string());
    crm.call("set-call-disposition", move |ctx, a, s| {
        Box::pin(async move { a.call_set_call_disposition(s, &ctx, &id, &json).await })
    })
    .await?;
    Ok(Success::new(Logged { log_id, updated_note: None }))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct UpdateBody {
    #[serde(default, deserialize_with = "string_or_number::opt")]
    session_id: Option<String>,
    subject: Option<String>,
    note: Option<String>,
    recording_link: Option<String>,
    duration: Option<Value>,
    result: Option<String>,
    start_time: Option<Value>,
    additional_submission: Option<Value>,
}

pub(crate) async fn update(
    State(state): State<AppState>,
    Extension(session): Extension<Session>,
    JsonBody(body): JsonBody<UpdateBody>,
) -> ApiResult<Success<Logged>> {
    let session_id = body.session_id.filter(|s| !s.is_empty()).ok_or_else(|| ApiError::missing("sessionId"))?;
    let log_id = match state.store.lookup(&session.user.id, Ledger::session(&session_id)).await? {
        None => {
            return Err(ApiError::unsuccessful(ErrorCode::CallLogNotFound, "This call has not been logged yet."));
        }
        Some(Reservation::Logged(log_id)) => log_id,
        Some(_) => {
            return Err(ApiError::unsuccessful(
                ErrorCode::CallLogInProgress,
                "This call is still being logged; try again.",
            )
            .retryable());
        }
    };
    let update = CallLogUpdate {
        log_id: log_id.clone(),
        subject: body.subject,
        note: body.note.clone(),
        duration_seconds: seconds(body.duration.as_ref()),
        call_result: body.result,
        recording_link: body.recording_link,
        start_time: rfc3339(body.start_time.as_ref(), "startTime")?,
        additional_submission_json: object_json(body.additional_submission),
    };
    let crm = Connection::open(&state, &session).await?;
    crm.call("update-call-log", move |ctx, a, s| {
        Box::pin(async move { a.call_update_call_log(s, &ctx, &update).await })
    })
    .await?;
    let data = serde_json::json!({"sessionId": session_id, "logId": log_id});
    state.store.emit_after_crm(EventType::CallLogUpdated, &session.user.id, data).await;
    Ok(Success::saying(Logged { log_id, updated_note: body.note }, "Call log updated.", NOTICE_TTL_MS))
}
