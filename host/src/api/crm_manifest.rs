//! `GET /crmManifest`: the manifest App Connect clients read at start-up,
//! in App Connect's format, built from the loaded adapters' manifests (their
//! `[app_connect]` tables) and the operator's configuration. It follows the
//! adapter set: a hot reload changes it.
//!
//! - `serverUrl`: `public_url`, else the address this request came to;
//! - `redirectUri`: where clients watch an OAuth login end
//!   (`app_connect.redirect_uri`);
//! - per platform: login (`auth.apiKey.page` or `auth.oauth` with the
//!   operator's client id; regional hosts as `override`s), page URLs, log-form
//!   fields, contact types, settings; the name search
//!   (`page.useContactSearch`) and dispositions (`disableDisposition`) follow
//!   the adapter's WIT world (0.2.0 has them) and its manifest.

use super::error::{ApiError, ApiResult, ErrorCode};
use super::extract::QueryParams;
use super::state::{AppState, adapter_for};
use super::versions::SERVER_VERSION;
use crate::runtime::LoadedAdapter;
use crate::runtime::manifest::{AuthSpec, Manifest};
use crate::runtime::world::Operation;
use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, header};
use serde::Deserialize;
use serde_json::{Map, Value, json};
use std::sync::Arc;

#[derive(Deserialize)]
pub(crate) struct ManifestQuery {
    #[serde(rename = "platformName")]
    platform_name: Option<String>,
}

pub(crate) async fn crm_manifest(
    State(state): State<AppState>,
    headers: HeaderMap,
    QueryParams(q): QueryParams<ManifestQuery>,
) -> ApiResult<Json<Value>> {
    let adapters: Vec<Arc<LoadedAdapter>> = match q.platform_name.filter(|p| !p.is_empty()) {
        Some(p) => vec![adapter_for(&state, &p)?],
        None => state.runtime.adapters(),
    };
    if adapters.is_empty() {
        return Err(ApiError::bad_request(ErrorCode::UnknownPlatform, "no adapters are loaded"));
    }
    let mut platforms = Map::new();
    for adapter in &adapters {
        platforms.insert(adapter.manifest.platform.clone(), platform(&state, adapter));
    }
    let ac = &state.config.app_connect;
    Ok(Json(json!({
        "serverUrl": server_url(&state, &headers),
        "redirectUri": ac.redirect_uri,
        "author": {"name": ac.author_name, "websiteUrl": ac.author_website_url},
        "version": state.config.app_connect.version,
        "serverVersion": SERVER_VERSION,
        "platforms": platforms,
    })))
}

/// Where clients send every call.
fn server_url(state: &AppState, headers: &HeaderMap) -> String {
    let configured = state.config.public_url.trim_end_matches('/');
    if !configured.is_empty() {
        return configured.to_owned();
    }
    let host = headers.get(header::HOST).and_then(|v| v.to_str().ok()).unwrap_or_default();
    format!("http://{host}")
}

fn tables(list: &[toml::Table]) -> Value {
    serde_json::to_value(list).unwrap_or_else(|_| json!([]))
}

fn platform(state: &AppState, adapter: &LoadedAdapter) -> Value {
    let m = &adapter.manifest;
    let ac = &m.app_connect;
    let mut p = Map::new();
    p.insert("name".into(), json!(m.platform));
    p.insert("displayName".into(), json!(m.display_name));
    p.insert("description".into(), json!(m.description));
    p.insert("urlIdentifier".into(), json!(ac.url_identifier));
    if let Some(logo) = &ac.logo_url {
        p.insert("logoUrl".into(), json!(logo));
    }
    p.insert("auth".into(), auth(state, m));
    if let AuthSpec::Oauth { hostnames, .. } = &m.auth
        && hostnames.len() > 1
    {
        p.insert("override".into(), regional_overrides(m, hostnames));
    }
    if let Some(url) = &ac.contact_page_url {
        p.insert("contactPageUrl".into(), json!(url));
    }
    p.insert("canOpenLogPage".into(), json!(ac.log_page_url.is_some()));
    if let Some(url) = &ac.log_page_url {
        p.insert("logPageUrl".into(), json!(url));
    }
    p.insert(
        "page".into(),
        json!({
            "callLog": {"additionalFields": tables(&ac.call_log_fields)},
            "messageLog": {"additionalFields": tables(&ac.message_log_fields)},
            "newContact": {"additionalFields": tables(&ac.new_contact_fields)},
            // Offered when the adapter's world has the search (0.2.0) and its
            // author did not switch it off.
            "useContactSearch": adapter.has(Operation::FindContactByName) && ac.contact_search.unwrap_or(true),
        }),
    );
    let types: Vec<Value> = m.contact_types.iter().map(|t| json!({"display": t, "value": t})).collect();
    p.insert("contactTypes".into(), json!(types));
    p.insert("settings".into(), tables(&ac.settings));
    p.insert("useLicense".into(), json!(false));
    // The client sends `PUT /callDisposition` after logging or editing a call
    // with log-form fields filled in, unless this says not to.
    p.insert(
        "disableDisposition".into(),
        json!(!(adapter.has(Operation::SetCallDisposition) && ac.dispositions.unwrap_or(true))),
    );
    if let Some(secs) = ac.request_timeout_secs {
        p.insert("requestConfig".into(), json!({"timeout": secs}));
    }
    p.insert("witVersion".into(), json!(m.wit_version));
    Value::Object(p)
}

/// An API-key connector's login form, `{title, warning?, content: [{const,
/// title, type, required?, description?}]}`: the manifest's, or one field
/// `apiKey`. The App Connect manifest and the hosted connect page show it.
pub(crate) fn login_page(m: &Manifest) -> Value {
    match &m.app_connect.login_form {
        Some(form) => json!({"title": form.title, "warning": form.warning, "content": tables(&form.fields)}),
        None => json!({
            "title": m.display_name,
            "content": [{"const": "apiKey", "title": "API key", "type": "string", "required": true}],
        }),
    }
}

fn auth(state: &AppState, m: &Manifest) -> Value {
    match &m.auth {
        AuthSpec::ApiKey { .. } => json!({"type": "apiKey", "apiKey": {"page": login_page(m)}}),
        AuthSpec::Oauth { authorize_url, scopes, authorize_params, hostnames, .. } => {
            let client_id =
                state.config.adapters.get(&m.platform).and_then(|a| a.client_id.clone()).unwrap_or_default();
            // Appended by the client to the authorize URL as is.
            let mut scope = url::form_urlencoded::Serializer::new(String::new());
            if !scopes.is_empty() {
                scope.append_pair("scope", &scopes.join(" "));
            }
            for (name, value) in authorize_params {
                scope.append_pair(name, value);
            }
            let first = hostnames.first().map_or("", String::as_str);
            json!({"type": "oauth", "oauth": {
                "authUrl": authorize_url.replace("{hostname}", first),
                "clientId": client_id,
                "scope": scope.finish(),
            }})
        }
    }
}

/// A CRM with regional hosts gets one authorize URL per region, chosen by
/// the client from the hostname of the CRM page it runs on.
fn regional_overrides(m: &Manifest, hostnames: &[String]) -> Value {
    let AuthSpec::Oauth { authorize_url, .. } = &m.auth else { return json!([]) };
    let overrides: Vec<Value> = hostnames
        .iter()
        .skip(1)
        .map(|h| {
            json!({"triggerType": "hostname", "triggerValue": h,
                   "overrideObjects": [{"path": "auth.oauth.authUrl", "value": authorize_url.replace("{hostname}", h)}]})
        })
        .collect();
    json!(overrides)
}
