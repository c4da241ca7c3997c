//! `GET|POST /user/settings`.

use super::error::{ApiError, ApiResult, ErrorCode};
use super::extract::JsonBody;
use super::session::Session;
use super::state::AppState;
use axum::Json;
use axum::extract::{Extension, State};
use serde::Deserialize;
use serde_json::{Value, json};
use std::collections::BTreeMap;

pub(crate) async fn get_settings(
    State(state): State<AppState>,
    Extension(session): Extension<Session>,
) -> ApiResult<Json<Value>> {
    Ok(Json(json!(state.store.settings(&session.user.id).await?)))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct SettingsUpdate {
    #[serde(default)]
    user_settings: BTreeMap<String, Value>,
    #[serde(default)]
    setting_keys_to_remove: Vec<String>,
}

pub(crate) async fn post_settings(
    State(state): State<AppState>,
    Extension(session): Extension<Session>,
    JsonBody(body): JsonBody<SettingsUpdate>,
) -> ApiResult<Json<Value>> {
    if let Some((key, _)) = body.user_settings.iter().find(|(_, v)| !v.is_object()) {
        return Err(ApiError::bad_request(
            ErrorCode::InvalidParameter,
            format!("userSettings.{key} must be an object like {{\"value\": ...}}"),
        ));
    }
    state.store.update_settings(&session.user.id, &body.user_settings, &body.setting_keys_to_remove).await?;
    Ok(Json(json!({"userSettings": state.store.settings(&session.user.id).await?})))
}
