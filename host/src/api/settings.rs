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

/// A setting as the App Connect contract's `UserSetting` has it: an object
/// whose `customizable`, `isCustomizable` and `isRemoved` are booleans and
/// whose `options` is a list, when present; anything else is refused, so
/// nothing is stored that clients could not read back.
fn check_setting(key: &str, setting: &Value) -> ApiResult<()> {
    let invalid = |what: String| ApiError::bad_request(ErrorCode::InvalidParameter, what);
    let Some(fields) = setting.as_object() else {
        return Err(invalid(format!("userSettings.{key} must be an object like {{\"value\": ...}}")));
    };
    for flag in ["customizable", "isCustomizable", "isRemoved"] {
        if fields.get(flag).is_some_and(|v| !v.is_boolean()) {
            return Err(invalid(format!("userSettings.{key}.{flag} must be true or false")));
        }
    }
    if fields.get("options").is_some_and(|v| !v.is_array()) {
        return Err(invalid(format!("userSettings.{key}.options must be a list")));
    }
    Ok(())
}

pub(crate) async fn post_settings(
    State(state): State<AppState>,
    Extension(session): Extension<Session>,
    JsonBody(body): JsonBody<SettingsUpdate>,
) -> ApiResult<Json<Value>> {
    for (key, setting) in &body.user_settings {
        check_setting(key, setting)?;
    }
    state.store.update_settings(&session.user.id, &body.user_settings, &body.setting_keys_to_remove).await?;
    Ok(Json(json!({"userSettings": state.store.settings(&session.user.id).await?})))
}
