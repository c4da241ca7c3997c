//! `POST|GET|PATCH /callLog`.
//!
//! Idempotency: a call log is keyed by (user, sessionId). The key is reserved in
//! the database before the CRM is called, so concurrent duplicates create one
//! CRM record; the losers answer `successful: false` with
//! `CALL_LOG_IN_PROGRESS` or `CALL_LOG_EXISTS`. A failed CRM call gives the key
//! back so the client can retry.

use super::connection::Connection;
use super::extract::{JsonBody, QueryParams, string_or_number};
use super::{AppState, Session};
use crate::error::{ApiError, ApiResult, code};
use crate::request_id;
use crate::runtime::{CallLogInput, CallLogUpdate, Direction};
use crate::store::Reservation;
use axum::Json;
use axum::extract::{Extension, State};
use serde::Deserialize;
use serde_json::{Map, Value, json};
use std::time::{Duration, UNIX_EPOCH};

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct Party {
    phone_number: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct Recording {
    link: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LogInfo {
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
pub struct CreateBody {
    log_info: Option<LogInfo>,
    #[serde(default, deserialize_with = "string_or_number::opt")]
    contact_id: Option<String>,
    contact_type: Option<String>,
    contact_name: Option<String>,
    note: Option<String>,
    additional_submission: Option<Value>,
}

pub fn direction(s: Option<&str>) -> Option<Direction> {
    match s?.to_ascii_lowercase().as_str() {
        "inbound" => Some(Direction::Inbound),
        "outbound" => Some(Direction::Outbound),
        _ => None,
    }
}

/// RFC 3339 from either an RFC 3339 string or epoch milliseconds.
pub fn rfc3339(v: Option<&Value>) -> Option<String> {
    match v? {
        Value::String(s) if !s.is_empty() => Some(s.clone()),
        Value::Number(n) => {
            let ms = n.as_u64()?;
            Some(humantime::format_rfc3339_millis(UNIX_EPOCH + Duration::from_millis(ms)).to_string())
        }
        _ => None,
    }
}

fn seconds(v: Option<&Value>) -> Option<u64> {
    v?.as_u64()
}

fn object_json(v: Option<Value>) -> Option<String> {
    v.filter(Value::is_object).map(|v| v.to_string())
}

pub async fn create(
    State(state): State<AppState>,
    Extension(session): Extension<Session>,
    JsonBody(body): JsonBody<CreateBody>,
) -> ApiResult<Json<Value>> {
    let info = body.log_info.ok_or_else(|| ApiError::missing("logInfo"))?;
    let session_id =
        info.session_id.clone().filter(|s| !s.is_empty()).ok_or_else(|| ApiError::missing("logInfo.sessionId"))?;
    let contact_id = body.contact_id.filter(|c| !c.is_empty()).ok_or_else(|| ApiError::missing("contactId"))?;
    let input = CallLogInput {
        session_id: session_id.clone(),
        contact_id: contact_id.clone(),
        contact_type: body.contact_type,
        contact_name: body.contact_name,
        subject: info.custom_subject,
        note: body.note,
        direction: direction(info.direction.as_deref()),
        from_number: info.from.phone_number,
        to_number: info.to.phone_number,
        start_time: rfc3339(info.start_time.as_ref()),
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
        match state.store.reserve_call_log(&user_id, &session_id, &contact_id).await? {
            Reservation::Reserved => {}
            Reservation::Pending => {
                return Err(ApiError::unsuccessful(
                    code::CALL_LOG_IN_PROGRESS,
                    "This call is being logged by another request.",
                )
                .retryable());
            }
            Reservation::Logged(log_id) => {
                return Err(ApiError::unsuccessful(code::CALL_LOG_EXISTS, "This call has already been logged.")
                    .with("logId", json!(log_id)));
            }
        }
        let created = crm
            .call("create-call-log", move |ctx, a, s| {
                Box::pin(async move { a.call_create_call_log(s, &ctx, &input).await })
            })
            .await;
        match created {
            Ok(log_id) => {
                state.store.complete_call_log(&user_id, &session_id, &log_id).await?;
                Ok(log_id)
            }
            Err(e) => {
                state.store.release_call_log(&user_id, &session_id).await?;
                Err(e)
            }
        }
    };
    let log_id =
        request_id::spawn(work).await.map_err(|e| ApiError::internal(format!("call-log task failed: {e}")))??;
    Ok(Json(json!({
        "successful": true,
        "logId": log_id,
        "returnMessage": {"message": "Call logged.", "messageType": "success", "ttl": 3000},
    })))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GetQuery {
    session_ids: Option<String>,
    require_details: Option<bool>,
}

pub async fn get(
    State(state): State<AppState>,
    Extension(session): Extension<Session>,
    QueryParams(q): QueryParams<GetQuery>,
) -> ApiResult<Json<Value>> {
    let ids: Vec<String> = q
        .session_ids
        .unwrap_or_default()
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect();
    if ids.is_empty() {
        return Err(ApiError::missing("sessionIds"));
    }
    let max = state.config.limits.max_session_ids;
    if ids.len() > max {
        return Err(ApiError::bad_request(
            code::TOO_MANY_SESSION_IDS,
            format!("at most {max} sessionIds per request, got {}", ids.len()),
        ));
    }
    let details = q.require_details.unwrap_or(false);
    let crm = if details { Some(Connection::open(&state, &session).await?) } else { None };
    let mut logs = Vec::with_capacity(ids.len());
    for session_id in ids {
        let mapping = state.store.call_log(&session.user.id, &session_id).await?;
        let mut item = Map::new();
        item.insert("sessionId".into(), json!(session_id));
        match mapping.and_then(|m| m.log_id.filter(|_| !m.pending)) {
            None => {
                item.insert("matched".into(), json!(false));
            }
            Some(log_id) => {
                item.insert("matched".into(), json!(true));
                item.insert("logId".into(), json!(log_id));
                if let Some(crm) = &crm {
                    let id = log_id.clone();
                    let got = crm
                        .call("get-call-log", move |ctx, a, s| {
                            Box::pin(async move { a.call_get_call_log(s, &ctx, &id).await })
                        })
                        .await;
                    match got {
                        Ok(log) => {
                            let mut data = Map::new();
                            data.insert("subject".into(), json!(log.subject));
                            data.insert("note".into(), json!(log.note));
                            if let Some(b) = log.full_body {
                                data.insert("fullBody".into(), json!(b));
                            }
                            if let Some(n) = log.contact_name {
                                data.insert("contactName".into(), json!(n));
                            }
                            item.insert("logData".into(), Value::Object(data));
                        }
                        // Deleted in the CRM since: report it as not logged.
                        Err(e) if e.code == code::CRM_NOT_FOUND => {
                            item.insert("matched".into(), json!(false));
                            item.remove("logId");
                        }
                        Err(e) => return Err(e),
                    }
                }
            }
        }
        logs.push(Value::Object(item));
    }
    Ok(Json(json!({"successful": true, "logs": logs})))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UpdateBody {
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

pub async fn update(
    State(state): State<AppState>,
    Extension(session): Extension<Session>,
    JsonBody(body): JsonBody<UpdateBody>,
) -> ApiResult<Json<Value>> {
    let session_id = body.session_id.filter(|s| !s.is_empty()).ok_or_else(|| ApiError::missing("sessionId"))?;
    let mapping = state.store.call_log(&session.user.id, &session_id).await?;
    let log_id = match mapping {
        None => {
            return Err(ApiError::unsuccessful(code::CALL_LOG_NOT_FOUND, "This call has not been logged yet."));
        }
        Some(m) if m.pending => {
            return Err(ApiError::unsuccessful(
                code::CALL_LOG_IN_PROGRESS,
                "This call is still being logged; try again.",
            )
            .retryable());
        }
        Some(m) => m.log_id.unwrap_or_default(),
    };
    let update = CallLogUpdate {
        log_id: log_id.clone(),
        subject: body.subject,
        note: body.note.clone(),
        duration_seconds: seconds(body.duration.as_ref()),
        call_result: body.result,
        recording_link: body.recording_link,
        start_time: rfc3339(body.start_time.as_ref()),
        additional_submission_json: object_json(body.additional_submission),
    };
    let crm = Connection::open(&state, &session).await?;
    crm.call("update-call-log", move |ctx, a, s| {
        Box::pin(async move { a.call_update_call_log(s, &ctx, &update).await })
    })
    .await?;
    let mut out = json!({
        "successful": true,
        "logId": log_id,
        "returnMessage": {"message": "Call log updated.", "messageType": "success", "ttl": 3000},
    });
    if let Some(note) = body.note {
        out["updatedNote"] = json!(note);
    }
    Ok(Json(out))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn start_times_become_rfc3339() {
        assert_eq!(rfc3339(Some(&json!(0))).as_deref(), Some("1970-01-01T00:00:00.000Z"));
        assert_eq!(rfc3339(Some(&json!("2024-05-01T10:00:00Z"))).as_deref(), Some("2024-05-01T10:00:00Z"));
        assert_eq!(rfc3339(Some(&json!(true))), None);
    }
}
