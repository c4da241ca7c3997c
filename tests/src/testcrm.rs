//! The Test CRM: a small API-key CRM with an in-memory store.
//!
//! It is the demo CRM (`cargo xtask run` starts it) and the conformance target
//! of the `testcrm` adapter. Its API:
//!
//! | route                               | answer                                  |
//! |-------------------------------------|-----------------------------------------|
//! | `GET /v1/me`                        | 200 `{data: {id, name, email}}`         |
//! | `GET /v1/contacts?phone=&limit=`    | 200 `{data: [contact], nextCursor}`     |
//! | `GET /v1/contacts?name=&limit=`     | 200 the same, names containing `name`   |
//! | `POST /v1/contacts`                 | 201 `{data: contact}` / 422             |
//! | `POST /v1/activities`               | 201 `{data: activity}` / 422; a repeated `Idempotency-Key`: 200, the first |
//! | `GET /v1/activities/{id}`           | 200 `{data: activity}` / 404            |
//! | `PATCH /v1/activities/{id}`         | 200 `{data: activity}` / 404 (also sets `disposition`) |
//! | `POST /v1/activities/{id}/append`   | 200 `{data: activity}` / 404            |
//!
//! Every route needs `x-api-key` (401 `{error: "invalid_api_key"}` otherwise)
//! and answers with `X-RateLimit-Limit` / `X-RateLimit-Remaining`; a test can
//! make it answer 429 with `Retry-After`.
//!
//! One long file: the Test CRM is one server whose handlers share one state (contacts, activities,
//! OAuth grants).

use axum::extract::{Path, Query, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

pub const RATE_LIMIT: u32 = 600;
/// The API key and user the demo and tests start with.
pub const DEMO_API_KEY: &str = "demo-api-key";

#[derive(Debug, Clone, Serialize)]
pub struct CrmUser {
    pub id: String,
    pub name: String,
    pub email: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Contact {
    pub id: String,
    pub name: String,
    pub phone: String,
    pub r#type: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub company: Option<String>,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Activity {
    pub id: String,
    pub kind: String,
    pub contact_id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub contact_name: Option<String>,
    pub subject: String,
    pub body: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub direction: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub started_at: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub duration_seconds: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub result: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub recording_url: Option<String>,
    pub external_id: String,
    /// Which user's key created it.
    pub owner_id: String,
    /// What `PATCH` set as `disposition` (a JSON object).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub disposition: Option<Value>,
}

/// A request as the CRM saw it (for assertions).
#[derive(Debug, Clone)]
pub struct SeenRequest {
    pub method: String,
    pub path: String,
    pub query: String,
    pub api_key: Option<String>,
}

#[derive(Debug, Default)]
pub struct CrmState {
    pub keys: HashMap<String, CrmUser>,
    pub contacts: Vec<Contact>,
    pub activities: BTreeMap<u64, Activity>,
    /// `Idempotency-Key` of a create → the activity it created.
    pub idempotency_keys: HashMap<String, u64>,
    next_id: u64,
    pub seen: Vec<SeenRequest>,
    /// Answer the next N requests with 429.
    pub throttle_next: u32,
    /// Answer the next N requests with 500 (an outage; nothing is done).
    pub fail_next: u32,
    pub retry_after_secs: u32,
    /// Delay before every answer (to widen race windows in tests).
    pub delay: Duration,
    /// Delay after a request is handled, before its answer is sent: what a
    /// create did is done, its answer late (a client that dies meanwhile
    /// never learns the record's id).
    pub answer_delay: Duration,
    /// Handle the next N requests, then drop the connection instead of
    /// answering (a network cut mid-create: the record exists, no id came back).
    pub drop_next: u32,
    /// Keep no record of requests in `seen` (long benchmarks: memory stays flat).
    pub forget_requests: bool,
    /// Requests being answered now, and the most seen at once.
    pub in_flight: u32,
    pub max_in_flight: u32,
    /// Requests whose client went away before the answer was ready (it
    /// closed the connection: a caller that gave up).
    pub abandoned: u32,
    /// Bearer tokens issued by the OAuth server are accepted too.
    oauth: Option<crate::oauth::Shared>,
}

impl CrmState {
    fn next_id(&mut self) -> u64 {
        self.next_id += 1;
        self.next_id
    }
}

#[derive(Clone)]
pub struct TestCrm {
    pub addr: SocketAddr,
    state: Arc<Mutex<CrmState>>,
    pub oauth: crate::oauth::Shared,
}

impl TestCrm {
    /// Starts on a free loopback port with the demo user and contacts.
    pub async fn start() -> TestCrm {
        Self::start_on("127.0.0.1:0".parse().expect("address")).await.expect("bind the test CRM")
    }

    pub async fn start_on(addr: SocketAddr) -> std::io::Result<TestCrm> {
        let oauth = crate::oauth::new_state();
        let state = Arc::new(Mutex::new(CrmState { next_id: 1000, oauth: Some(oauth.clone()), ..Default::default() }));
        let crm = TestCrm { addr, state: state.clone(), oauth: oauth.clone() };
        crm.seed_demo_data();
        let listener = tokio::net::TcpListener::bind(addr).await?;
        let addr = listener.local_addr()?;
        let app = router(state).merge(crate::oauth::router(oauth));
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Ok(TestCrm { addr, ..crm })
    }

    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn state(&self) -> MutexGuard<'_, CrmState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn seed_demo_data(&self) {
        self.add_user(DEMO_API_KEY, "u-1001", "Ada Lovelace");
        self.add_contact("Luke Skywalker", "+16505551212", Some("Rebel Alliance"));
        // Stored the way a person types it: found through overridingFormat.
        self.add_contact("Leia Organa", "(650) 555-0100", Some("Rebel Alliance"));
    }

    pub fn add_user(&self, api_key: &str, id: &str, name: &str) {
        let email = format!("{}@testcrm.example", name.to_lowercase().replace(' ', "."));
        self.state().keys.insert(api_key.into(), CrmUser { id: id.into(), name: name.into(), email });
    }

    pub fn add_contact(&self, name: &str, phone: &str, company: Option<&str>) -> String {
        let mut s = self.state();
        let id = format!("c-{}", s.next_id());
        s.contacts.push(Contact {
            id: id.clone(),
            name: name.into(),
            phone: phone.into(),
            r#type: "person".into(),
            company: company.map(str::to_owned),
        });
        id
    }

    pub fn activities(&self) -> Vec<Activity> {
        self.state().activities.values().cloned().collect()
    }

    pub fn contacts(&self) -> Vec<Contact> {
        self.state().contacts.clone()
    }

    /// Requests seen whose path starts with `prefix`.
    pub fn seen(&self, prefix: &str) -> Vec<SeenRequest> {
        self.state().seen.iter().filter(|r| r.path.starts_with(prefix)).cloned().collect()
    }

    pub fn throttle_next(&self, n: u32, retry_after_secs: u32) {
        let mut s = self.state();
        s.throttle_next = n;
        s.retry_after_secs = retry_after_secs;
    }

    pub fn set_delay(&self, delay: Duration) {
        self.state().delay = delay;
    }

    /// The next `n` requests fail with 500 before they are handled.
    pub fn fail_next(&self, n: u32) {
        self.state().fail_next = n;
    }

    pub fn set_answer_delay(&self, delay: Duration) {
        self.state().answer_delay = delay;
    }

    /// The next `n` requests are handled, then their connection is dropped mid-answer.
    pub fn drop_next(&self, n: u32) {
        self.state().drop_next = n;
    }
}

type Shared = Arc<Mutex<CrmState>>;

fn lock(s: &Shared) -> MutexGuard<'_, CrmState> {
    s.lock().unwrap_or_else(|p| p.into_inner())
}

pub fn router(state: Shared) -> Router {
    Router::new()
        .route("/v1/me", get(me))
        .route("/v1/contacts", get(search_contacts).post(create_contact))
        .route("/v1/activities", post(create_activity))
        .route("/v1/activities/{id}", get(get_activity).patch(patch_activity))
        .route("/v1/activities/{id}/append", post(append_activity))
        .layer(axum::middleware::from_fn_with_state(state.clone(), gate))
        .with_state(state)
}

/// One request being answered; counted out when answered or abandoned.
struct InFlight {
    state: Shared,
    answered: bool,
}

impl Drop for InFlight {
    fn drop(&mut self) {
        let mut s = lock(&self.state);
        s.in_flight -= 1;
        if !self.answered {
            s.abandoned += 1;
        }
    }
}

fn error(status: StatusCode, code: &str, message: &str) -> Response {
    (status, Json(json!({"error": code, "message": message}))).into_response()
}

/// Records the request, applies throttling and the API-key check, and adds
/// the rate-limit headers.
async fn gate(State(state): State<Shared>, mut req: Request, next: Next) -> Response {
    let api_key = req.headers().get("x-api-key").and_then(|v| v.to_str().ok()).map(str::to_owned);
    let bearer = req
        .headers()
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::to_owned);
    let (delay, throttled, user, used, failing) = {
        let mut s = lock(&state);
        if !s.forget_requests {
            s.seen.push(SeenRequest {
                method: req.method().to_string(),
                path: req.uri().path().to_owned(),
                query: req.uri().query().unwrap_or_default().to_owned(),
                api_key: api_key.clone(),
            });
        }
        s.in_flight += 1;
        s.max_in_flight = s.max_in_flight.max(s.in_flight);
        let failing = s.fail_next > 0;
        s.fail_next = s.fail_next.saturating_sub(1);
        let throttled = (s.throttle_next > 0).then(|| {
            s.throttle_next -= 1;
            s.retry_after_secs
        });
        let by_bearer = bearer
            .as_deref()
            .zip(s.oauth.as_ref())
            .and_then(|(t, o)| crate::oauth::user_of(o, t))
            .and_then(|id| s.keys.values().find(|u| u.id == id).cloned());
        let user = api_key.as_ref().and_then(|k| s.keys.get(k).cloned()).or(by_bearer);
        (s.delay, throttled, user, s.seen.len() as u32, failing)
    };
    // Dropped unanswered when the client closes its connection first.
    let mut in_flight = InFlight { state: state.clone(), answered: false };
    if !delay.is_zero() {
        tokio::time::sleep(delay).await;
    }
    let remaining = RATE_LIMIT.saturating_sub(used);
    let mut response = if failing {
        error(StatusCode::INTERNAL_SERVER_ERROR, "internal_error", "the CRM failed")
    } else if let Some(retry_after) = throttled {
        let mut r = error(StatusCode::TOO_MANY_REQUESTS, "rate_limited", "too many requests");
        r.headers_mut().insert("retry-after", HeaderValue::from(retry_after));
        r
    } else if let Some(user) = user {
        req.extensions_mut().insert(user);
        let response = next.run(req).await;
        let (answer_delay, dropping) = {
            let mut s = lock(&state);
            let dropping = s.drop_next > 0;
            s.drop_next = s.drop_next.saturating_sub(1);
            (s.answer_delay, dropping)
        };
        if !answer_delay.is_zero() {
            tokio::time::sleep(answer_delay).await;
        }
        if dropping { dropped_mid_answer(response) } else { response }
    } else {
        error(StatusCode::UNAUTHORIZED, "invalid_api_key", "missing or unknown x-api-key")
    };
    in_flight.answered = true;
    drop(in_flight);
    let h: &mut HeaderMap = response.headers_mut();
    h.insert("x-ratelimit-limit", HeaderValue::from(RATE_LIMIT));
    h.insert("x-ratelimit-remaining", HeaderValue::from(if throttled.is_some() { 0 } else { remaining }));
    response
}

/// The response's head, then a body that fails: the server aborts the
/// connection, and the client gets no usable answer.
fn dropped_mid_answer(response: Response) -> Response {
    let (parts, _) = response.into_parts();
    let failing = futures::stream::once(async {
        Err::<axum::body::Bytes, _>(std::io::Error::new(std::io::ErrorKind::ConnectionReset, "connection dropped"))
    });
    Response::from_parts(parts, axum::body::Body::from_stream(failing))
}

async fn me(axum::Extension(user): axum::Extension<CrmUser>) -> Json<Value> {
    Json(json!({"data": user}))
}

#[derive(Deserialize)]
struct SearchQuery {
    phone: Option<String>,
    /// Case-insensitive part of the name.
    name: Option<String>,
    limit: Option<usize>,
}

async fn search_contacts(State(state): State<Shared>, Query(q): Query<SearchQuery>) -> Response {
    let limit = q.limit.unwrap_or(50).min(100);
    let s = lock(&state);
    let found: Vec<&Contact> = match (q.phone.filter(|p| !p.is_empty()), q.name.filter(|n| !n.is_empty())) {
        (Some(phone), _) => s.contacts.iter().filter(|c| c.phone == phone).take(limit).collect(),
        (None, Some(name)) => {
            let name = name.to_lowercase();
            s.contacts.iter().filter(|c| c.name.to_lowercase().contains(&name)).take(limit).collect()
        }
        (None, None) => {
            return error(StatusCode::UNPROCESSABLE_ENTITY, "validation_failed", "phone or name is required");
        }
    };
    Json(json!({"data": found, "nextCursor": null})).into_response()
}

#[derive(Deserialize)]
struct NewContact {
    name: Option<String>,
    phone: Option<String>,
    r#type: Option<String>,
}

async fn create_contact(State(state): State<Shared>, body: Option<Json<NewContact>>) -> Response {
    let Some(Json(body)) = body else {
        return error(StatusCode::BAD_REQUEST, "invalid_json", "body must be JSON");
    };
    let (Some(name), Some(phone)) = (body.name.filter(|n| !n.is_empty()), body.phone.filter(|p| !p.is_empty())) else {
        return error(StatusCode::UNPROCESSABLE_ENTITY, "validation_failed", "name and phone are required");
    };
    let mut s = lock(&state);
    let contact = Contact {
        id: format!("c-{}", s.next_id()),
        name,
        phone,
        r#type: body.r#type.unwrap_or_else(|| "person".into()),
        company: None,
    };
    s.contacts.push(contact.clone());
    (StatusCode::CREATED, Json(json!({"data": contact}))).into_response()
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct NewActivity {
    kind: Option<String>,
    contact_id: Option<String>,
    contact_name: Option<String>,
    subject: Option<String>,
    body: Option<String>,
    direction: Option<String>,
    started_at: Option<String>,
    duration_seconds: Option<u64>,
    result: Option<String>,
    recording_url: Option<String>,
    external_id: Option<String>,
}

/// Creates an activity. With an `Idempotency-Key` seen before (from the same
/// user), answers the activity that key created, 200 instead of 201.
async fn create_activity(
    State(state): State<Shared>,
    axum::Extension(user): axum::Extension<CrmUser>,
    headers: HeaderMap,
    body: Option<Json<NewActivity>>,
) -> Response {
    let Some(Json(a)) = body else {
        return error(StatusCode::BAD_REQUEST, "invalid_json", "body must be JSON");
    };
    let mut s = lock(&state);
    let key = headers.get("idempotency-key").and_then(|v| v.to_str().ok()).map(|k| format!("{}:{k}", user.id));
    if let Some(earlier) = key.as_ref().and_then(|k| s.idempotency_keys.get(k)).and_then(|n| s.activities.get(n)) {
        return Json(json!({"data": earlier})).into_response();
    }
    let Some(contact_id) = a.contact_id.filter(|c| s.contacts.iter().any(|x| &x.id == c)) else {
        return error(StatusCode::UNPROCESSABLE_ENTITY, "validation_failed", "contactId must name an existing contact");
    };
    let kind = a.kind.unwrap_or_default();
    if kind != "call" && kind != "message" {
        return error(StatusCode::UNPROCESSABLE_ENTITY, "validation_failed", "kind must be call or message");
    }
    let n = s.next_id();
    let activity = Activity {
        id: format!("a-{n}"),
        kind,
        contact_id,
        contact_name: a.contact_name,
        subject: a.subject.unwrap_or_default(),
        body: a.body.unwrap_or_default(),
        direction: a.direction,
        started_at: a.started_at,
        duration_seconds: a.duration_seconds,
        result: a.result,
        recording_url: a.recording_url,
        external_id: a.external_id.unwrap_or_default(),
        owner_id: user.id,
        disposition: None,
    };
    s.activities.insert(n, activity.clone());
    if let Some(key) = key {
        s.idempotency_keys.insert(key, n);
    }
    (StatusCode::CREATED, Json(json!({"data": activity}))).into_response()
}

fn activity_key(id: &str) -> Option<u64> {
    id.strip_prefix("a-")?.parse().ok()
}

fn not_found() -> Response {
    error(StatusCode::NOT_FOUND, "not_found", "no such activity")
}

async fn get_activity(State(state): State<Shared>, Path(id): Path<String>) -> Response {
    let s = lock(&state);
    match activity_key(&id).and_then(|k| s.activities.get(&k)) {
        Some(a) => Json(json!({"data": a})).into_response(),
        None => not_found(),
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ActivityPatch {
    subject: Option<String>,
    body: Option<String>,
    duration_seconds: Option<u64>,
    result: Option<String>,
    recording_url: Option<String>,
    started_at: Option<String>,
    disposition: Option<Value>,
}

async fn patch_activity(State(state): State<Shared>, Path(id): Path<String>, Json(p): Json<ActivityPatch>) -> Response {
    let mut s = lock(&state);
    let Some(a) = activity_key(&id).and_then(|k| s.activities.get_mut(&k)) else {
        return not_found();
    };
    if let Some(v) = p.subject {
        a.subject = v;
    }
    if let Some(v) = p.body {
        a.body = v;
    }
    if p.duration_seconds.is_some() {
        a.duration_seconds = p.duration_seconds;
    }
    if p.result.is_some() {
        a.result = p.result;
    }
    if p.recording_url.is_some() {
        a.recording_url = p.recording_url;
    }
    if p.started_at.is_some() {
        a.started_at = p.started_at;
    }
    match p.disposition {
        Some(d @ Value::Object(_)) => a.disposition = Some(d),
        Some(_) => {
            return error(StatusCode::UNPROCESSABLE_ENTITY, "validation_failed", "disposition must be an object");
        }
        None => {}
    }
    Json(json!({"data": a})).into_response()
}

#[derive(Deserialize)]
struct Append {
    text: String,
}

async fn append_activity(State(state): State<Shared>, Path(id): Path<String>, Json(p): Json<Append>) -> Response {
    let mut s = lock(&state);
    let Some(a) = activity_key(&id).and_then(|k| s.activities.get_mut(&k)) else {
        return not_found();
    };
    if !a.body.is_empty() {
        a.body.push('\n');
    }
    a.body.push_str(&p.text);
    Json(json!({"data": a})).into_response()
}
