//! What App Connect clients ask about the RingCentral side of a user:
//! `GET /userInfoHash` (the RingCentral extension and account ids, hashed so
//! the server never stores them in the clear), `GET|POST /admin/settings`
//! (an account admin's presets, stored per account), `GET
//! /user/preloadSettings` (those presets, for every user of the account) and
//! `GET /licenseStatus`.

use super::envelope::{BRIEF_TTL_MS, Empty, Success};
use super::error::{ApiError, ApiResult, ErrorCode};
use super::extract::{JsonBody, QueryParams};
use super::session::authenticate;
use super::state::AppState;
use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, Uri};
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
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

/// `GET /user/preloadSettings?rcAccountId=<hashed account id>`: what the
/// account's admin preset (`customManifestUrl`, `userSettings`), `{}` for an
/// account without presets, as App Connect answers.
pub(crate) async fn preload_settings(
    State(state): State<AppState>,
    QueryParams(q): QueryParams<PreloadQuery>,
) -> ApiResult<Json<Value>> {
    let account_hash = q
        .rc_account_id
        .filter(|v| !v.is_empty())
        .ok_or_else(|| ApiError::bad_request(ErrorCode::MissingParameter, "Cannot find rc user login"))?;
    Ok(Json(match state.store.admin_settings(&account_hash).await? {
        Some(s) => json!({"customManifestUrl": s.get("customAdapter"), "userSettings": s.get("userSettings")}),
        None => json!({}),
    }))
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

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct AdminQuery {
    rc_access_token: Option<String>,
}

/// RingCentral's answer about the token's user (`/restapi/v1.0/account/~/extension/~`).
#[derive(Deserialize)]
struct RcExtension {
    id: Value,
    account: RcAccount,
    #[serde(default)]
    permissions: Value,
}

#[derive(Deserialize)]
struct RcAccount {
    id: Value,
}

fn id_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn not_admin() -> ApiError {
    ApiError::unauthorized(ErrorCode::AdminUnauthorized, "Admin validation failed")
}

/// The hashed account of the `rcAccessToken`'s user, if RingCentral says
/// they administer it (or the operator lists their extension); else 401
/// `Admin validation failed`, App Connect's answer, after which the client
/// shows no admin page.
async fn admin_account(state: &AppState, rc_access_token: Option<String>) -> ApiResult<String> {
    let token = rc_access_token.filter(|t| !t.is_empty()).ok_or_else(not_admin)?;
    let base = state.config.app_connect.ringcentral_api_url.trim_end_matches('/');
    let url = url::Url::parse(&format!("{base}/restapi/v1.0/account/~/extension/~"))
        .map_err(|e| ApiError::internal(format!("app_connect.ringcentral_api_url is not a URL: {e}")))?;
    let outbound = state.runtime.outbound();
    let unavailable = |detail: String| {
        tracing::warn!(%detail, "RingCentral did not answer the admin check");
        ApiError::new(
            axum::http::StatusCode::BAD_GATEWAY,
            ErrorCode::RingcentralUnavailable,
            "RingCentral did not answer; try again",
        )
        .retryable()
    };
    let response = outbound
        .client()
        .get(outbound.rewrite(&url))
        .bearer_auth(token)
        .send()
        .await
        .map_err(|e| unavailable(e.without_url().to_string()))?;
    match response.status().as_u16() {
        200 => {}
        401 | 403 => return Err(not_admin()),
        s => return Err(unavailable(format!("HTTP {s}"))),
    }
    let ext: RcExtension = response.json().await.map_err(|e| unavailable(e.without_url().to_string()))?;
    let admin = ext.permissions["admin"]["enabled"] == Value::Bool(true)
        || state.config.app_connect.admin_extension_ids.contains(&id_text(&ext.id));
    if !admin {
        return Err(not_admin());
    }
    Ok(hash_id(state, &id_text(&ext.account.id)))
}

/// `GET /admin/settings?jwtToken=&rcAccessToken=`: the account's admin
/// settings, `{customAdapter: null, userSettings: {}}` before any are saved.
pub(crate) async fn get_admin_settings(
    State(state): State<AppState>,
    headers: HeaderMap,
    uri: Uri,
    QueryParams(q): QueryParams<AdminQuery>,
) -> ApiResult<Json<Value>> {
    authenticate(&state, &headers, &uri).await?;
    let account = admin_account(&state, q.rc_access_token).await?;
    Ok(Json(match state.store.admin_settings(&account).await? {
        Some(settings) => Value::Object(settings),
        None => json!({"customAdapter": null, "userSettings": {}}),
    }))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct AdminBody {
    admin_settings: Option<Value>,
}

/// `POST /admin/settings?jwtToken=&rcAccessToken=` `{adminSettings: {...}}`:
/// merged into the account's admin settings.
pub(crate) async fn post_admin_settings(
    State(state): State<AppState>,
    headers: HeaderMap,
    uri: Uri,
    QueryParams(q): QueryParams<AdminQuery>,
    JsonBody(body): JsonBody<AdminBody>,
) -> ApiResult<Success<Empty>> {
    authenticate(&state, &headers, &uri).await?;
    let account = admin_account(&state, q.rc_access_token).await?;
    let update = match body.admin_settings {
        Some(Value::Object(m)) => m,
        None => return Err(ApiError::missing("adminSettings")),
        Some(_) => return Err(ApiError::bad_request(ErrorCode::InvalidParameter, "`adminSettings` must be an object")),
    };
    state.store.merge_admin_settings(&account, update).await?;
    Ok(Success::saying(Empty {}, "Admin settings updated", BRIEF_TTL_MS))
}
