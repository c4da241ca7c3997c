//! What App Connect clients ask about the RingCentral side of a user:
//! `GET /userInfoHash` (the RingCentral extension and account ids, hashed so
//! the server never stores them in the clear), `GET /user/preloadSettings`
//! (settings an admin preset for the account) and `GET /licenseStatus`.

use super::error::{ApiError, ApiResult, ErrorCode};
use super::extract::QueryParams;
use super::session::authenticate;
use super::state::AppState;
use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, Uri};
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct HashQuery {
    extension_id: Option<String>,
    account_id: Option<String>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Hashed {
    extension_id: String,
    account_id: String,
}

/// A RingCentral id, keyed-hashed (HMAC-SHA256 under a key derived from
/// `APP_SERVER_SECRET_KEY`): stable for one server, meaningless elsewhere.
fn hash_id(state: &AppState, id: &str) -> String {
    let key = [b"switchboard rc-id hash:".as_slice(), state.config.app_server_secret_key.as_bytes()].concat();
    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(&key) else { return String::new() };
    mac.update(id.as_bytes());
    hex::encode(mac.finalize().into_bytes())
}

/// `GET /userInfoHash?extensionId=&accountId=`
pub(crate) async fn user_info_hash(
    State(state): State<AppState>,
    QueryParams(q): QueryParams<HashQuery>,
) -> ApiResult<Json<Hashed>> {
    let extension = q.extension_id.filter(|v| !v.is_empty()).ok_or_else(|| ApiError::missing("extensionId"))?;
    let account = q.account_id.filter(|v| !v.is_empty()).ok_or_else(|| ApiError::missing("accountId"))?;
    Ok(Json(Hashed { extension_id: hash_id(&state, &extension), account_id: hash_id(&state, &account) }))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct PreloadQuery {
    rc_account_id: Option<String>,
}

/// Settings preset for an account; none are kept here yet, so it is empty.
#[derive(Serialize)]
pub(crate) struct Preload {}

/// `GET /user/preloadSettings?rcAccountId=`: `{}`, the answer App Connect
/// gives an account without admin presets.
pub(crate) async fn preload_settings(QueryParams(q): QueryParams<PreloadQuery>) -> ApiResult<Json<Preload>> {
    q.rc_account_id
        .filter(|v| !v.is_empty())
        .ok_or_else(|| ApiError::bad_request(ErrorCode::MissingParameter, "Cannot find rc user login"))?;
    Ok(Json(Preload {}))
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct License {
    is_license_valid: bool,
    license_status: String,
    license_status_description: String,
}

/// `GET /licenseStatus`: always HTTP 200 (clients do not catch its errors).
/// Switchboard sells no licences: a good session is licensed; without one
/// the answer says why, as App Connect does.
pub(crate) async fn license_status(State(state): State<AppState>, headers: HeaderMap, uri: Uri) -> Json<License> {
    let license = match authenticate(&state, &headers, &uri).await {
        Ok(_) => License {
            is_license_valid: true,
            license_status: "Active".into(),
            license_status_description: String::new(),
        },
        Err(e) => License {
            is_license_valid: false,
            license_status: "Invalid (Invalid user session)".into(),
            license_status_description: e.message,
        },
    };
    Json(license)
}

/// `GET|POST /admin/settings`: App Connect lets a RingCentral account admin
/// preset settings, checking admin rights with RingCentral's API. This server
/// cannot check them, so it answers as App Connect does for a non-admin (401
/// `Admin validation failed`; the client then simply shows no admin page).
pub(crate) async fn admin_settings() -> ApiError {
    ApiError::unauthorized(ErrorCode::AdminUnauthorized, "Admin validation failed")
}
