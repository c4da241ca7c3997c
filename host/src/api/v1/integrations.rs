//! `/api/v1/connectors` and `/api/v1/integrations`: what a workspace's
//! backend sees of its customers' integrations and does with them (connect
//! with an API key or OAuth, rename, disconnect, refresh, take the access
//! token, read the audit trail).

use super::WorkspaceKey;
use super::connecting::{self, Client, Connected, check_name_and_metadata, integration_not_found};
use super::problem::{Problem, ProblemJson, ProblemQuery, ProblemResponse};
use crate::api::connection::{Connection, revoke_at_crm};
use crate::api::error::ApiError;
use crate::api::state::AppState;
use crate::clock::now_secs;
use crate::oauth::RetryPolicy;
use crate::runtime::manifest::AuthSpec;
use crate::store::{AuditEvent, AuditKind, AuditRecord, AuthKind, ConnectionState, Integration, IntegrationFilter};
use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::{IntoParams, ToSchema};

/// An integration as the API shows it: never a secret (an API key is masked).
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(as = Integration)]
pub(crate) struct IntegrationView {
    #[schema(example = "int_1051b4b39977ebef")]
    id: String,
    connector: String,
    customer_id: String,
    name: Option<String>,
    status: ConnectionState,
    auth_kind: AuthKind,
    /// The workspace's own JSON object.
    #[schema(value_type = Object)]
    metadata: Value,
    /// The CRM account the credential belongs to.
    account: Account,
    /// The API key's last characters (`••••abcd`); OAuth connections have none.
    masked_api_key: Option<String>,
    expires_at: Option<i64>,
    created_at: i64,
    connected_at: i64,
    disconnected_at: Option<i64>,
    last_refresh_at: Option<i64>,
    last_error: Option<String>,
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
struct Account {
    id: String,
    name: String,
    hostname: String,
}

/// `••••` and the last four characters of a key long enough (16 or more)
/// that four of them say nothing useful about the rest.
fn mask(key: &str) -> String {
    let chars: Vec<char> = key.chars().collect();
    if chars.len() < 16 {
        return "••••".into();
    }
    format!("••••{}", chars[chars.len() - 4..].iter().collect::<String>())
}

impl IntegrationView {
    pub(crate) fn of(i: &Integration) -> Self {
        let c = &i.connection;
        let masked_api_key = match c.auth_kind {
            AuthKind::ApiKey => c.credential.as_ref().map(|k| mask(k.expose())),
            AuthKind::Oauth => None,
        };
        IntegrationView {
            id: i.id.clone(),
            connector: i.connector.clone(),
            customer_id: i.customer_id.clone(),
            name: i.name.clone(),
            status: i.state(now_secs()),
            auth_kind: c.auth_kind,
            metadata: i.metadata.clone(),
            account: Account { id: c.crm_user_id.clone(), name: c.name.clone(), hostname: c.hostname.clone() },
            masked_api_key,
            expires_at: c.expires_at,
            created_at: i.created_at,
            connected_at: i.connected_at,
            disconnected_at: i.disconnected_at,
            last_refresh_at: i.last_refresh_at,
            last_error: i.last_error.clone(),
        }
    }
}

/// The workspace's integration `id`, or `INTEGRATION_NOT_FOUND`.
async fn owned(state: &AppState, key: &WorkspaceKey, id: &str) -> Result<Integration, Problem> {
    state.store.integration(&key.workspace_id, id).await?.ok_or_else(|| integration_not_found(id))
}

#[derive(Deserialize, IntoParams)]
#[serde(rename_all = "camelCase")]
#[into_params(parameter_in = Query)]
pub(crate) struct ConnectorsQuery {
    /// Whose integrations to report (`connected`, `integrationId`, `status`).
    customer_id: Option<String>,
}

/// A connector this host serves.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ConnectorView {
    id: String,
    name: String,
    auth_kind: AuthKind,
    /// The customer has an integration of it that is not disconnected.
    connected: bool,
    integration_id: Option<String>,
    status: Option<ConnectionState>,
}

#[derive(Serialize, ToSchema)]
pub(crate) struct Connectors {
    connectors: Vec<ConnectorView>,
}

/// The connectors this host serves, how each connects, and (for a customer)
/// whether they are connected.
#[utoipa::path(get, path = "/api/v1/connectors", tag = "integrations", params(ConnectorsQuery),
    responses((status = 200, body = Connectors), (status = "default", response = ProblemResponse)))]
pub(crate) async fn connectors(
    key: WorkspaceKey,
    State(state): State<AppState>,
    ProblemQuery(q): ProblemQuery<ConnectorsQuery>,
) -> Result<Json<Connectors>, Problem> {
    let theirs = match q.customer_id.as_deref().filter(|c| !c.is_empty()) {
        Some(customer) => {
            let filter = IntegrationFilter { customer_id: Some(customer), connector: None };
            state.store.integrations(&key.workspace_id, &filter).await?
        }
        None => Vec::new(),
    };
    Ok(Json(Connectors { connectors: connector_views(&state, &theirs) }))
}

/// Every connector served, with the integration of `theirs` (one
/// customer's) for each, if any.
pub(crate) fn connector_views(state: &AppState, theirs: &[Integration]) -> Vec<ConnectorView> {
    let now = now_secs();
    let mut adapters = state.runtime.adapters();
    adapters.sort_by(|a, b| a.manifest.platform.cmp(&b.manifest.platform));
    adapters
        .iter()
        .map(|a| {
            let m = &a.manifest;
            let integration = theirs.iter().find(|i| i.connector == m.platform);
            let status = integration.map(|i| i.state(now));
            ConnectorView {
                id: m.platform.clone(),
                name: m.display_name.clone(),
                auth_kind: match m.auth {
                    AuthSpec::ApiKey { .. } => AuthKind::ApiKey,
                    AuthSpec::Oauth { .. } => AuthKind::Oauth,
                },
                connected: status.is_some_and(|s| s != ConnectionState::Disconnected),
                integration_id: integration.map(|i| i.id.clone()),
                status,
            }
        })
        .collect()
}

#[derive(Deserialize, IntoParams)]
#[serde(rename_all = "camelCase")]
#[into_params(parameter_in = Query)]
pub(crate) struct ListQuery {
    customer_id: Option<String>,
    connector: Option<String>,
    status: Option<ConnectionState>,
}

#[derive(Serialize, ToSchema)]
pub(crate) struct Integrations {
    integrations: Vec<IntegrationView>,
}

/// The workspace's integrations, oldest first.
#[utoipa::path(get, path = "/api/v1/integrations", tag = "integrations", params(ListQuery),
    responses((status = 200, body = Integrations), (status = "default", response = ProblemResponse)))]
pub(crate) async fn list(
    key: WorkspaceKey,
    State(state): State<AppState>,
    ProblemQuery(q): ProblemQuery<ListQuery>,
) -> Result<Json<Integrations>, Problem> {
    let filter = IntegrationFilter { customer_id: q.customer_id.as_deref(), connector: q.connector.as_deref() };
    let now = now_secs();
    let list: Vec<IntegrationView> = state
        .store
        .integrations(&key.workspace_id, &filter)
        .await?
        .iter()
        .filter(|i| q.status.is_none_or(|s| s == i.state(now)))
        .map(IntegrationView::of)
        .collect();
    Ok(Json(Integrations { integrations: list }))
}

/// One integration.
#[utoipa::path(get, path = "/api/v1/integrations/{id}", tag = "integrations", params(("id" = String, Path)),
    responses((status = 200, body = IntegrationView), (status = "default", response = ProblemResponse)))]
pub(crate) async fn get(
    key: WorkspaceKey,
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<IntegrationView>, Problem> {
    Ok(Json(IntegrationView::of(&owned(&state, &key, &id).await?)))
}

#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct PatchBody {
    /// `null` clears the name; absent keeps it.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>)]
    name: Option<Option<String>>,
    /// Replaces the stored object (at most 16 KiB of JSON).
    #[schema(value_type = Option<Object>)]
    metadata: Option<Value>,
}

/// Tells an absent field (`None`) from a `null` one (`Some(None)`).
fn present<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Option<String>>, D::Error> {
    Option::<String>::deserialize(d).map(Some)
}

/// Renames an integration and/or replaces its metadata.
#[utoipa::path(patch, path = "/api/v1/integrations/{id}", tag = "integrations", params(("id" = String, Path)),
    request_body = PatchBody,
    responses((status = 200, body = IntegrationView), (status = "default", response = ProblemResponse)))]
pub(crate) async fn patch(
    key: WorkspaceKey,
    State(state): State<AppState>,
    Path(id): Path<String>,
    ProblemJson(body): ProblemJson<PatchBody>,
) -> Result<Json<IntegrationView>, Problem> {
    check_name_and_metadata(body.name.as_ref().and_then(|n| n.as_deref()), body.metadata.as_ref())?;
    let name = body.name.as_ref().map(|n| n.as_deref());
    if !state.store.update_integration(&key.workspace_id, &id, name, body.metadata.as_ref()).await? {
        return Err(integration_not_found(&id));
    }
    Ok(Json(IntegrationView::of(&owned(&state, &key, &id).await?)))
}

#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct ApiKeyConnectBody {
    connector: String,
    /// 1 to 64 letters and digits.
    customer_id: String,
    api_key: String,
    #[serde(default)]
    hostname: Option<String>,
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    metadata: Option<Value>,
    /// Renews this integration of the customer instead of creating one.
    #[serde(default)]
    integration_id: Option<String>,
}

/// The answer of a connect: 201 for a new integration, 200 for a renewal.
pub(crate) fn connected_response(c: &Connected) -> Response {
    let status = if c.created { StatusCode::CREATED } else { StatusCode::OK };
    (status, Json(IntegrationView::of(&c.integration))).into_response()
}

/// Connects an API-key connector for a customer (the key checked by the CRM
/// first): 201 for a new integration, 200 for the renewal of theirs.
#[utoipa::path(post, path = "/api/v1/integrations", tag = "integrations", request_body = ApiKeyConnectBody,
    responses((status = 201, body = IntegrationView), (status = 200, body = IntegrationView),
              (status = "default", response = ProblemResponse)))]
pub(crate) async fn connect_api_key(
    key: WorkspaceKey,
    State(state): State<AppState>,
    client: Client,
    ProblemJson(body): ProblemJson<ApiKeyConnectBody>,
) -> Result<Response, Problem> {
    let request = connecting::Request {
        workspace_id: key.workspace_id,
        customer_id: body.customer_id,
        connector: body.connector,
        integration_id: body.integration_id,
        name: body.name,
        metadata: body.metadata,
        client,
    };
    let hostname = body.hostname.unwrap_or_default();
    let connected = connecting::with_api_key(&state, &request, &body.api_key, &hostname).await?;
    Ok(connected_response(&connected))
}

#[utoipa::path(delete, path = "/api/v1/integrations/{id}", tag = "integrations", params(("id" = String, Path)),
    responses((status = 200, body = IntegrationView), (status = "default", response = ProblemResponse)))]
/// `DELETE /api/v1/integrations/{id}`: revokes at the CRM where it can (the
/// adapter's `unauthorize`, RFC 7009 for OAuth), then forgets the
/// credentials. The integration stays, `disconnected`, so a reconnect keeps
/// its id. Disconnecting twice is fine.
pub(crate) async fn disconnect(
    key: WorkspaceKey,
    State(state): State<AppState>,
    client: Client,
    Path(id): Path<String>,
) -> Result<Json<IntegrationView>, Problem> {
    let integration = owned(&state, &key, &id).await?;
    disconnect_now(&state, &integration, &client).await?;
    Ok(Json(IntegrationView::of(&owned(&state, &key, &id).await?)))
}

/// Revokes at the CRM where it can, forgets the credentials, audits; nothing
/// when already disconnected. (The backend's `DELETE` and the widget's.)
pub(crate) async fn disconnect_now(
    state: &AppState,
    integration: &Integration,
    client: &Client,
) -> Result<(), Problem> {
    let user = &integration.connection;
    if user.credential.is_some() {
        revoke_at_crm(state, user).await;
        state.store.disconnect_integration(&integration.id).await?;
        audit(state, integration, AuditKind::Disconnect, client, None).await?;
    }
    Ok(())
}

async fn audit(
    state: &AppState,
    i: &Integration,
    event: AuditKind,
    client: &Client,
    detail: Option<&str>,
) -> Result<(), Problem> {
    let e = AuditEvent {
        user_id: Some(&i.id),
        platform: &i.connector,
        event,
        ip: client.ip.as_deref(),
        user_agent: client.user_agent.as_deref(),
        detail,
    };
    Ok(state.store.audit(&e).await?)
}

/// How a manual refresh retries: `{maxRetries, initialDelay, maxDelay}` (ms),
/// each defaulting to the operator's `[oauth]` setting.
#[derive(Deserialize, Default, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct RetryBody {
    max_retries: Option<u32>,
    initial_delay: Option<u64>,
    max_delay: Option<u64>,
}

/// Bounds that keep one request from holding a refresh for minutes.
const MAX_RETRIES: u32 = 10;
const MAX_DELAY_MS: u64 = 30_000;

impl RetryBody {
    fn policy(&self, defaults: RetryPolicy) -> Result<RetryPolicy, Problem> {
        let p = RetryPolicy {
            max_retries: self.max_retries.unwrap_or(defaults.max_retries),
            initial_delay_ms: self.initial_delay.unwrap_or(defaults.initial_delay_ms),
            max_delay_ms: self.max_delay.unwrap_or(defaults.max_delay_ms),
        };
        if p.max_retries > MAX_RETRIES || p.max_delay_ms > MAX_DELAY_MS || p.initial_delay_ms > p.max_delay_ms {
            return Err(Problem::invalid(format!(
                "maxRetries is at most {MAX_RETRIES}, maxDelay at most {MAX_DELAY_MS} ms, and initialDelay at most maxDelay"
            )));
        }
        Ok(p)
    }
}

/// Refreshes one integration now: an OAuth token is renewed at the CRM
/// (whether or not it was due); an API key is checked with the CRM. A
/// refusal marks the integration `revoked`.
async fn refresh_one(state: &AppState, i: &Integration, policy: RetryPolicy, client: &Client) -> Result<(), Problem> {
    let user = &i.connection;
    if user.credential.is_none() {
        return Err(ApiError::from(crate::oauth::OauthError::NotConnected).into());
    }
    match user.auth_kind {
        AuthKind::Oauth => {
            // Refresh events are audited by the refresh itself.
            state.connections.refresh_with(&i.id, None, policy).await.map_err(ApiError::from)?;
        }
        AuthKind::ApiKey => {
            let crm = Connection::of(state, user).await?;
            let checked = crm
                .call("get-user-info", |ctx, a, s| Box::pin(async move { a.call_get_user_info(s, &ctx).await }))
                .await;
            match checked {
                Ok(_) => audit(state, i, AuditKind::Refresh, client, None).await?,
                Err(e) => {
                    if e.code == crate::api::error::ErrorCode::CrmUnauthorized {
                        state.store.record_refresh_failure(&i.id, &e.message, true).await?;
                        audit(state, i, AuditKind::Revoked, client, Some(&e.message)).await?;
                    }
                    return Err(e.into());
                }
            }
        }
    }
    Ok(())
}

/// Refreshes one integration now (the body is optional).
#[utoipa::path(post, path = "/api/v1/integrations/{id}/refresh", tag = "integrations", params(("id" = String, Path)),
    request_body(content = Option<RetryBody>),
    responses((status = 200, body = IntegrationView), (status = "default", response = ProblemResponse)))]
pub(crate) async fn refresh(
    key: WorkspaceKey,
    State(state): State<AppState>,
    client: Client,
    Path(id): Path<String>,
    body: axum::body::Bytes,
) -> Result<Json<IntegrationView>, Problem> {
    // The body is optional: no body, the operator's defaults.
    let body: RetryBody = if body.iter().all(u8::is_ascii_whitespace) {
        RetryBody::default()
    } else {
        serde_json::from_slice(&body).map_err(|e| Problem::invalid(format!("the body is not a retry policy: {e}")))?
    };
    let policy = body.policy(state.connections.default_retries())?;
    let integration = owned(&state, &key, &id).await?;
    refresh_one(&state, &integration, policy, &client).await?;
    Ok(Json(IntegrationView::of(&owned(&state, &key, &id).await?)))
}

#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct BatchBody {
    /// These integrations; without, every integration of `customerId`
    /// (or of the workspace) that is connected.
    integration_ids: Option<Vec<String>>,
    customer_id: Option<String>,
    #[serde(flatten)]
    retry: RetryBody,
}

/// The most integrations one batch refreshes.
const MAX_BATCH: usize = 100;

/// One integration's outcome in a batch refresh.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct BatchOutcome {
    integration_id: String,
    ok: bool,
    status: Option<ConnectionState>,
    /// The problem code when it failed.
    code: Option<&'static str>,
    retryable: Option<bool>,
}

#[derive(Serialize, ToSchema)]
pub(crate) struct BatchResults {
    results: Vec<BatchOutcome>,
    refreshed: usize,
    failed: usize,
}

/// Refreshes several integrations, four at a time, and answers each one's outcome.
#[utoipa::path(post, path = "/api/v1/integrations/refresh", tag = "integrations", request_body = BatchBody,
    responses((status = 200, body = BatchResults), (status = "default", response = ProblemResponse)))]
pub(crate) async fn refresh_batch(
    key: WorkspaceKey,
    State(state): State<AppState>,
    client: Client,
    ProblemJson(body): ProblemJson<BatchBody>,
) -> Result<Json<BatchResults>, Problem> {
    use futures_util::StreamExt;
    let policy = body.retry.policy(state.connections.default_retries())?;
    let chosen: Vec<Integration> = match &body.integration_ids {
        Some(ids) => {
            if ids.len() > MAX_BATCH {
                return Err(Problem::invalid(format!("at most {MAX_BATCH} integrationIds per batch")));
            }
            let mut found = Vec::with_capacity(ids.len());
            for id in ids {
                found.push(owned(&state, &key, id).await?);
            }
            found
        }
        None => {
            let filter = IntegrationFilter { customer_id: body.customer_id.as_deref(), connector: None };
            let all = state.store.integrations(&key.workspace_id, &filter).await?;
            let connected: Vec<Integration> = all.into_iter().filter(|i| i.connection.credential.is_some()).collect();
            if connected.len() > MAX_BATCH {
                return Err(Problem::invalid(format!(
                    "{} integrations match; name at most {MAX_BATCH} in integrationIds",
                    connected.len()
                )));
            }
            connected
        }
    };
    let outcomes: Vec<BatchOutcome> = futures_util::stream::iter(chosen)
        .map(|i| {
            let (state, client) = (state.clone(), client.clone());
            async move {
                let outcome = refresh_one(&state, &i, policy, &client).await;
                let now = state.store.integration(&i.workspace_id, &i.id).await.ok().flatten();
                let status = now.as_ref().map(|n| n.state(now_secs()));
                let (code, retryable) = match &outcome {
                    Ok(()) => (None, None),
                    Err(p) => (Some(p.code()), Some(p.retryable())),
                };
                BatchOutcome { integration_id: i.id, ok: outcome.is_ok(), status, code, retryable }
            }
        })
        .buffered(4)
        .collect()
        .await;
    let failed = outcomes.iter().filter(|o| !o.ok).count();
    Ok(Json(BatchResults { refreshed: outcomes.len() - failed, failed, results: outcomes }))
}

/// The credential to call the CRM with directly.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct AccessToken {
    integration_id: String,
    auth_kind: AuthKind,
    access_token: String,
    expires_at: Option<i64>,
    hostname: String,
}

/// `GET /api/v1/integrations/{id}/access-token`: the credential to call the
/// CRM with directly, an OAuth token refreshed first when due. Audited; never cached.
#[utoipa::path(get, path = "/api/v1/integrations/{id}/access-token", tag = "integrations",
    params(("id" = String, Path)),
    responses((status = 200, body = AccessToken), (status = "default", response = ProblemResponse)))]
pub(crate) async fn access_token(
    key: WorkspaceKey,
    State(state): State<AppState>,
    client: Client,
    Path(id): Path<String>,
) -> Result<Response, Problem> {
    let integration = owned(&state, &key, &id).await?;
    let token = state.connections.access_token(&integration.connection).await.map_err(ApiError::from)?;
    audit(&state, &integration, AuditKind::AccessToken, &client, None).await?;
    let fresh = owned(&state, &key, &id).await?;
    let body = AccessToken {
        integration_id: id,
        auth_kind: fresh.connection.auth_kind,
        access_token: token.expose().to_owned(),
        expires_at: fresh.connection.expires_at,
        hostname: fresh.connection.hostname.clone(),
    };
    let mut response = Json(body).into_response();
    response.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(response)
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct EventsQuery {
    /// At most this many (1 to 500; 50).
    limit: Option<i64>,
}

#[derive(Serialize, ToSchema)]
pub(crate) struct Events {
    events: Vec<AuditRecord>,
}

/// `GET /api/v1/integrations/{id}/events?limit=`: the audit trail, newest first.
#[utoipa::path(get, path = "/api/v1/integrations/{id}/events", tag = "integrations",
    params(("id" = String, Path), EventsQuery),
    responses((status = 200, body = Events), (status = "default", response = ProblemResponse)))]
pub(crate) async fn events(
    key: WorkspaceKey,
    State(state): State<AppState>,
    Path(id): Path<String>,
    ProblemQuery(q): ProblemQuery<EventsQuery>,
) -> Result<Json<Events>, Problem> {
    let integration = owned(&state, &key, &id).await?;
    let limit = q.limit.unwrap_or(50).clamp(1, 500);
    let events: Vec<AuditRecord> = state.store.audit_trail(&integration.id, limit).await?;
    Ok(Json(Events { events }))
}

#[cfg(test)]
mod tests {
    use super::mask;

    #[test]
    fn masks_keep_only_the_last_four_characters_of_long_keys() {
        assert_eq!(mask("tck_1234567890abcd"), "••••abcd");
        assert_eq!(mask("demo-api-key"), "••••");
    }
}
