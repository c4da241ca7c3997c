//! `/api/v1/webhooks`: a workspace's webhook endpoints (with its API key),
//! and the same routes under `/admin/webhooks` for the operator's own
//! endpoints (with the admin token), which hear of App Connect users.
//!
//! The signing secret is shown once, when the endpoint is created or its
//! secret rotated. A URL must pass the SSRF guard; creation is limited per
//! hour. Deliveries are listed with their attempts; `recover` queues again
//! what failed.

use super::WorkspaceKey;
use super::problem::{Problem, ProblemJson, ProblemQuery, ProblemResponse};
use crate::api::admin::Admin;
use crate::api::state::AppState;
use crate::clock::now_millis;
use crate::store::{Delivery, Endpoint, EndpointPatch};
use crate::webhooks::event::{EventType, NewEvent, Scope, rfc3339_millis};
use crate::webhooks::signing::new_secret;
use crate::webhooks::ssrf::{self, Policy};
use axum::Json;
use axum::extract::{FromRequestParts, Path, State};
use axum::http::StatusCode;
use axum::http::request::Parts;
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::{IntoParams, ToSchema};

/// Whose endpoints a request manages: the workspace of its API key, or
/// (under `/admin/`) the operator's.
pub(crate) struct Owner(Scope);

impl FromRequestParts<AppState> for Owner {
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Problem> {
        if parts.uri.path().starts_with("/admin/") {
            Admin::from_request_parts(parts, state).await?;
            return Ok(Owner(Scope::Operator));
        }
        let key = WorkspaceKey::from_request_parts(parts, state).await?;
        Ok(Owner(Scope::Workspace(key.workspace_id)))
    }
}

/// An endpoint as the API shows it (its secret only once, at creation or rotation).
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct EndpointView {
    #[schema(example = "whe_5b1f0c3a9e2d4f61")]
    id: String,
    #[schema(example = "https://hooks.example.com/switchboard")]
    url: String,
    description: Option<String>,
    /// The event types it receives; every type when absent.
    events: Option<Vec<String>>,
    /// False when paused by its owner or disabled by the host (see `disabledReason`).
    active: bool,
    disabled_reason: Option<String>,
    disabled_at: Option<String>,
    /// Since when every attempt failed (it is disabled after 5 days of that).
    failing_since: Option<String>,
    /// While a rotated-out secret still signs too: until when.
    previous_secret_expires_at: Option<String>,
    created_at: String,
    updated_at: String,
    /// `whsec_…`: shown only in the answer that created it.
    #[serde(skip_serializing_if = "Option::is_none")]
    secret: Option<String>,
}

impl EndpointView {
    fn of(e: &Endpoint) -> Self {
        let time = |t: Option<i64>| t.map(rfc3339_millis);
        EndpointView {
            id: e.id.clone(),
            url: e.url.clone(),
            description: e.description.clone(),
            events: e.events.clone(),
            active: e.disabled_at.is_none(),
            disabled_reason: e.disabled_reason.clone(),
            disabled_at: time(e.disabled_at),
            failing_since: time(e.failing_since),
            previous_secret_expires_at: time(e.previous_secret_expires_at.filter(|t| *t > now_millis())),
            created_at: rfc3339_millis(e.created_at),
            updated_at: rfc3339_millis(e.updated_at),
            secret: None,
        }
    }
}

#[derive(Serialize, ToSchema)]
pub(crate) struct Endpoints {
    endpoints: Vec<EndpointView>,
}

fn not_found(id: &str) -> Problem {
    Problem::other(
        StatusCode::NOT_FOUND,
        "WEBHOOK_NOT_FOUND",
        "Webhook endpoint not found",
        format!("no webhook endpoint {id:?} here"),
    )
}

fn policy(state: &AppState) -> Policy {
    Policy { allow_loopback: state.config.webhooks.allow_loopback }
}

/// The URL, refused with `WEBHOOK_URL_REFUSED` unless it is https (or
/// allowed loopback) and every address its name resolves to is public.
async fn checked_url(state: &AppState, raw: &str) -> Result<String, Problem> {
    let refused = |e: ssrf::Refused| {
        Problem::other(StatusCode::UNPROCESSABLE_ENTITY, "WEBHOOK_URL_REFUSED", "Webhook URL refused", e.to_string())
    };
    let policy = policy(state);
    let url = ssrf::parse(raw.trim(), policy).map_err(refused)?;
    if let Some(url::Host::Domain(host)) = url.host() {
        let guard = ssrf::GuardedResolver::new(policy, std::sync::Arc::new(ssrf::SystemLookup));
        guard.resolve_checked(host).await.map_err(refused)?;
    }
    Ok(url.to_string())
}

/// The event types, each known (`INVALID_REQUEST` naming the unknown and the known).
fn checked_events(events: Option<&[String]>) -> Result<Option<Vec<String>>, Problem> {
    let Some(list) = events else { return Ok(None) };
    if list.is_empty() || list.iter().any(|e| e == "*") {
        return Ok(None);
    }
    let mut out: Vec<String> = Vec::with_capacity(list.len());
    for e in list {
        match EventType::parse(e) {
            Some(t) if t != EventType::Test => {
                if !out.iter().any(|o| o == e) {
                    out.push(e.clone());
                }
            }
            _ => {
                let known: Vec<&str> =
                    EventType::ALL.iter().filter(|t| **t != EventType::Test).map(|t| t.name()).collect();
                return Err(Problem::invalid(format!("unknown event type {e:?}; the types are: {}", known.join(", "))));
            }
        }
    }
    Ok(Some(out))
}

fn checked_description(d: Option<&str>) -> Result<(), Problem> {
    match d {
        Some(d) if d.chars().count() > 200 => Err(Problem::invalid("description: at most 200 characters")),
        _ => Ok(()),
    }
}

async fn owned(state: &AppState, owner: &Owner, id: &str) -> Result<Endpoint, Problem> {
    state.store.endpoint(&owner.0, id).await?.ok_or_else(|| not_found(id))
}

/// The event types an endpoint can subscribe to.
#[derive(Serialize, ToSchema)]
pub(crate) struct EventTypes {
    types: Vec<EventTypeView>,
}

#[derive(Serialize, ToSchema)]
pub(crate) struct EventTypeView {
    #[schema(example = "integration.connected")]
    name: &'static str,
    description: &'static str,
}

#[utoipa::path(get, path = "/api/v1/webhooks/event-types", tag = "webhooks",
    responses((status = 200, body = EventTypes), (status = "default", response = ProblemResponse)))]
/// The event types, with what each means.
pub(crate) async fn event_types(_owner: Owner) -> Json<EventTypes> {
    let types = EventType::ALL.iter().map(|t| EventTypeView { name: t.name(), description: t.description() }).collect();
    Json(EventTypes { types })
}

#[utoipa::path(get, path = "/api/v1/webhooks", tag = "webhooks",
    responses((status = 200, body = Endpoints), (status = "default", response = ProblemResponse)))]
/// The endpoints, oldest first (never their secrets).
pub(crate) async fn list(owner: Owner, State(state): State<AppState>) -> Result<Json<Endpoints>, Problem> {
    let endpoints = state.store.endpoints(&owner.0).await?.iter().map(EndpointView::of).collect();
    Ok(Json(Endpoints { endpoints }))
}

#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct CreateBody {
    /// `https://…` on a public address.
    url: String,
    /// The event types to receive; all when absent, empty or `["*"]`.
    #[serde(default)]
    events: Option<Vec<String>>,
    #[serde(default)]
    description: Option<String>,
    /// Start paused with `false`.
    #[serde(default)]
    active: Option<bool>,
}

#[utoipa::path(post, path = "/api/v1/webhooks", tag = "webhooks", request_body = CreateBody,
    responses((status = 201, body = EndpointView, description = "Created; `secret` is shown this once"),
              (status = "default", response = ProblemResponse)))]
/// Creates an endpoint and its signing secret (`whsec_…`, in this answer only).
pub(crate) async fn create(
    owner: Owner,
    State(state): State<AppState>,
    ProblemJson(body): ProblemJson<CreateBody>,
) -> Result<(StatusCode, Json<EndpointView>), Problem> {
    let events = checked_events(body.events.as_deref())?;
    checked_description(body.description.as_deref())?;
    let limit = state.config.webhooks.max_endpoints_created_per_hour;
    let hour_ago = now_millis() - 3_600_000;
    if state.store.endpoints_created_since(&owner.0, hour_ago).await? >= i64::from(limit) {
        let mut p = Problem::other(
            StatusCode::TOO_MANY_REQUESTS,
            "WEBHOOK_CREATE_RATE_LIMITED",
            "Too many webhook endpoints created",
            format!("at most {limit} webhook endpoints may be created per hour; try again later"),
        );
        p.set_retry_after(60);
        return Err(p);
    }
    let url = checked_url(&state, &body.url).await?;
    let secret = new_secret();
    let mut endpoint =
        state.store.create_endpoint(&owner.0, &url, body.description.as_deref(), events.as_deref(), &secret).await?;
    if body.active == Some(false) {
        let patch = EndpointPatch { active: Some(false), ..Default::default() };
        endpoint = state.store.update_endpoint(&owner.0, &endpoint.id, &patch).await?.ok_or_else(|| not_found(""))?;
    }
    let mut view = EndpointView::of(&endpoint);
    view.secret = Some(secret.expose().to_owned());
    Ok((StatusCode::CREATED, Json(view)))
}

#[utoipa::path(get, path = "/api/v1/webhooks/{id}", tag = "webhooks", params(("id" = String, Path)),
    responses((status = 200, body = EndpointView), (status = "default", response = ProblemResponse)))]
pub(crate) async fn get(
    owner: Owner,
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<EndpointView>, Problem> {
    Ok(Json(EndpointView::of(&owned(&state, &owner, &id).await?)))
}

#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct PatchBody {
    #[serde(default)]
    url: Option<String>,
    /// `null` or `[]` for every type.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<Vec<String>>)]
    events: Option<Option<Vec<String>>>,
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>)]
    description: Option<Option<String>>,
    /// `false` pauses; `true` resumes (and re-enables an endpoint the host disabled).
    #[serde(default)]
    active: Option<bool>,
}

/// A field that is present (even as `null`) is `Some`.
fn present<'de, D: serde::Deserializer<'de>, T: Deserialize<'de>>(d: D) -> Result<Option<Option<T>>, D::Error> {
    Option::<T>::deserialize(d).map(Some)
}

#[utoipa::path(patch, path = "/api/v1/webhooks/{id}", tag = "webhooks", params(("id" = String, Path)),
    request_body = PatchBody,
    responses((status = 200, body = EndpointView), (status = "default", response = ProblemResponse)))]
/// Changes the URL, events, description or `active`.
pub(crate) async fn patch(
    owner: Owner,
    State(state): State<AppState>,
    Path(id): Path<String>,
    ProblemJson(body): ProblemJson<PatchBody>,
) -> Result<Json<EndpointView>, Problem> {
    owned(&state, &owner, &id).await?;
    let url = match body.url.as_deref() {
        Some(u) => Some(checked_url(&state, u).await?),
        None => None,
    };
    let events = match &body.events {
        Some(e) => Some(checked_events(e.as_deref())?),
        None => None,
    };
    let description = body.description.as_ref().map(|d| d.as_deref());
    checked_description(description.flatten())?;
    let patch = EndpointPatch {
        url: url.as_deref(),
        description,
        events: events.as_ref().map(|e| e.as_deref()),
        active: body.active,
    };
    let updated = state.store.update_endpoint(&owner.0, &id, &patch).await?.ok_or_else(|| not_found(&id))?;
    Ok(Json(EndpointView::of(&updated)))
}

#[utoipa::path(delete, path = "/api/v1/webhooks/{id}", tag = "webhooks", params(("id" = String, Path)),
    responses((status = 204, description = "Deleted"), (status = "default", response = ProblemResponse)))]
/// Deletes the endpoint; what it had not received yet is not sent.
pub(crate) async fn delete(
    owner: Owner,
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<StatusCode, Problem> {
    if !state.store.delete_endpoint(&owner.0, &id).await? {
        return Err(not_found(&id));
    }
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct RotateBody {
    /// How long the current secret goes on signing beside the new one
    /// (seconds, 0 to 7 days; default 24 h).
    #[serde(default)]
    overlap_seconds: Option<u64>,
}

#[utoipa::path(post, path = "/api/v1/webhooks/{id}/rotate-secret", tag = "webhooks", params(("id" = String, Path)),
    request_body = RotateBody,
    responses((status = 200, body = EndpointView, description = "The new `secret`, shown this once"),
              (status = "default", response = ProblemResponse)))]
/// A new signing secret; deliveries carry both signatures until the overlap ends.
pub(crate) async fn rotate_secret(
    owner: Owner,
    State(state): State<AppState>,
    Path(id): Path<String>,
    body: axum::body::Bytes,
) -> Result<Json<EndpointView>, Problem> {
    // The body is optional: none means the default overlap.
    let body: RotateBody = if body.iter().all(u8::is_ascii_whitespace) {
        RotateBody { overlap_seconds: None }
    } else {
        serde_json::from_slice(&body)
            .map_err(|e| Problem::other(StatusCode::BAD_REQUEST, "INVALID_JSON", "Invalid body", e.to_string()))?
    };
    let overlap = body.overlap_seconds.unwrap_or(86_400);
    if overlap > 7 * 86_400 {
        return Err(Problem::invalid("overlapSeconds: at most 604800 (7 days)"));
    }
    owned(&state, &owner, &id).await?;
    let secret = new_secret();
    let until = now_millis() + i64::try_from(overlap).unwrap_or(0) * 1000;
    if !state.store.rotate_endpoint_secret(&owner.0, &id, &secret, until).await? {
        return Err(not_found(&id));
    }
    let mut view = EndpointView::of(&owned(&state, &owner, &id).await?);
    view.secret = Some(secret.expose().to_owned());
    Ok(Json(view))
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Queued {
    /// The event's id: the deliveries' `webhook-id`.
    event_id: String,
}

#[utoipa::path(post, path = "/api/v1/webhooks/{id}/test", tag = "webhooks", params(("id" = String, Path)),
    responses((status = 202, body = Queued), (status = "default", response = ProblemResponse)))]
/// Sends a `webhook.test` event to this endpoint only (paused or not).
pub(crate) async fn send_test(
    owner: Owner,
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<(StatusCode, Json<Queued>), Problem> {
    owned(&state, &owner, &id).await?;
    let mut event = NewEvent::new(EventType::Test, json!({"endpointId": id, "message": "a test event"}));
    event.only_endpoint = Some(id);
    let event_id = state.store.emit(&owner.0, &event).await?;
    Ok((StatusCode::ACCEPTED, Json(Queued { event_id })))
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct DeliveriesQuery {
    /// `pending`, `delivered` or `failed`.
    status: Option<String>,
    /// At most this many, newest first (1–100, default 50).
    limit: Option<u32>,
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct DeliveryView {
    id: String,
    event_id: String,
    event_type: String,
    /// `pending`, `delivered` or `failed`.
    status: String,
    attempts: i64,
    next_attempt_at: Option<String>,
    created_at: String,
    delivered_at: Option<String>,
    last_status: Option<i64>,
    last_error: Option<String>,
    attempt_log: Vec<AttemptView>,
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct AttemptView {
    at: String,
    /// The receiver's HTTP status; absent when it did not answer.
    status: Option<u16>,
    latency_ms: i64,
    error: Option<String>,
    /// The first 1 KiB of the answer.
    response_body: Option<String>,
}

impl DeliveryView {
    fn of(d: &Delivery) -> Self {
        DeliveryView {
            id: d.id.clone(),
            event_id: d.event_id.clone(),
            event_type: d.event_type.clone(),
            status: d.state.clone(),
            attempts: d.attempts,
            next_attempt_at: d.next_attempt_at.map(rfc3339_millis),
            created_at: rfc3339_millis(d.created_at),
            delivered_at: d.delivered_at.map(rfc3339_millis),
            last_status: d.last_status,
            last_error: d.last_error.clone(),
            attempt_log: d
                .log
                .iter()
                .map(|a| AttemptView {
                    at: rfc3339_millis(a.attempted_at),
                    status: a.status,
                    latency_ms: a.duration_ms,
                    error: a.error.clone(),
                    response_body: a.response_body.clone(),
                })
                .collect(),
        }
    }
}

#[derive(Serialize, ToSchema)]
pub(crate) struct Deliveries {
    deliveries: Vec<DeliveryView>,
}

#[utoipa::path(get, path = "/api/v1/webhooks/{id}/deliveries", tag = "webhooks",
    params(("id" = String, Path), DeliveriesQuery),
    responses((status = 200, body = Deliveries), (status = "default", response = ProblemResponse)))]
/// The endpoint's deliveries, newest first, each with its attempts.
pub(crate) async fn deliveries(
    owner: Owner,
    State(state): State<AppState>,
    Path(id): Path<String>,
    ProblemQuery(q): ProblemQuery<DeliveriesQuery>,
) -> Result<Json<Deliveries>, Problem> {
    owned(&state, &owner, &id).await?;
    let status = q.status.as_deref().filter(|s| !s.is_empty());
    if let Some(s) = status
        && !["pending", "delivered", "failed"].contains(&s)
    {
        return Err(Problem::invalid("status: one of pending, delivered, failed"));
    }
    let limit = q.limit.unwrap_or(50);
    if !(1..=100).contains(&limit) {
        return Err(Problem::invalid("limit: 1 to 100"));
    }
    let list = state.store.deliveries(&id, status, limit).await?;
    Ok(Json(Deliveries { deliveries: list.iter().map(DeliveryView::of).collect() }))
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct RecoverQuery {
    /// Failed deliveries created at or after this time (RFC 3339); default 24 h ago.
    since: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub(crate) struct Recovered {
    /// How many failed deliveries were queued again.
    requeued: u64,
}

#[utoipa::path(post, path = "/api/v1/webhooks/{id}/recover", tag = "webhooks",
    params(("id" = String, Path), RecoverQuery),
    responses((status = 202, body = Recovered), (status = "default", response = ProblemResponse)))]
/// Sends again, from now and on a fresh schedule, what failed since `since`.
pub(crate) async fn recover(
    owner: Owner,
    State(state): State<AppState>,
    Path(id): Path<String>,
    ProblemQuery(q): ProblemQuery<RecoverQuery>,
) -> Result<(StatusCode, Json<Recovered>), Problem> {
    let endpoint = owned(&state, &owner, &id).await?;
    if endpoint.disabled_at.is_some() {
        return Err(Problem::other(
            StatusCode::CONFLICT,
            "WEBHOOK_DISABLED",
            "Webhook endpoint disabled",
            "the endpoint is paused or disabled: set `active` to true first".into(),
        ));
    }
    let since = match q.since.as_deref().filter(|s| !s.is_empty()) {
        Some(s) => humantime::parse_rfc3339_weak(s)
            .map_err(|_| Problem::invalid("since: an RFC 3339 time, e.g. 2026-12-01T00:00:00Z"))
            .map(|t| t.duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis() as i64))?,
        None => now_millis() - 86_400_000,
    };
    let requeued = state.store.recover(&id, since).await?;
    Ok((StatusCode::ACCEPTED, Json(Recovered { requeued })))
}
