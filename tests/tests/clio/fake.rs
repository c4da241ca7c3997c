//! A fake Clio Manage (API v4 and its OAuth server): a real axum HTTP server
//! on a loopback port, one per region in the tests (the host's upstream
//! overrides map `https://app.clio.com`, `https://eu.app.clio.com`... to it).
//!
//! What it mirrors (docs.developers.clio.com, API v4):
//! - OAuth: `GET /oauth/authorize` consents at once (302 to `redirect_uri` with
//!   `code` and `state`); `POST /oauth/token` takes a form with the client
//!   credentials in the body (`client_id`, `client_secret`) and answers
//!   `{token_type: "bearer", access_token, expires_in, refresh_token}` (a
//!   refresh answers without a new refresh token: Clio's do not rotate);
//!   `POST /oauth/deauthorize` with the bearer token (and optionally `token`).
//! - Every `/api/v4` route needs `Authorization: Bearer <access token>`, else
//!   401 `{error: "invalid_token", error_description}`.
//! - Rate limits per access token in a fixed window (default 50 a minute):
//!   every answer carries `X-RateLimit-Limit`, `X-RateLimit-Remaining` and
//!   `X-RateLimit-Reset` (unix time the window ends); past the limit, 429 with
//!   `Retry-After` (seconds). A switch forces the next N answers to be 429s.
//! - `fields=`: only the named fields are returned (nested resources in
//!   braces); without it only `id` and `etag`; an unknown field is a 400.
//! - Lists: `{data: [...], meta: {paging: {next}, records}}`, `limit` up to
//!   200, `meta.paging.next` an absolute URL on the region's origin with a
//!   `page_token`; ids are JSON numbers; records are wrapped in `data`.
//! - Validation (stricter than anything verified, to catch a wrong field):
//!   unknown keys in a create/update body are 422s, ids must be numbers that
//!   name existing records, phone number names are Clio's list.
//! - External properties: a communication's create body may carry
//!   `external_properties: [{name, value}]` (at most 5; more, a duplicate name,
//!   or an entry without a name or a string value is a 422); they are stored as
//!   `{id, etag, name, value, created_at, updated_at}`, and
//!   `GET /api/v4/communications.json` filters by `external_property_name`
//!   (and `external_property_value`, which needs the name: 400 alone).
//! - `GET /api/v4/activities.json` filters by `communication_id` (an integer, else 400).
//! - `set_answer_delay`: handle a create (`POST /api/v4/...`), then answer that
//!   much later (a CRM that made the record but answered after the host's timeout).
//! - Unknown paths are 404s.
//!
//! One long file: a fake is one server whose handlers share one state (records, tokens, the per-
//! token rate limit); it mirrors Clio's paths one by one.

// Handlers bail out with the Clio error response itself; its size is no concern in a fake.
#![allow(clippy::result_large_err)]

use axum::body::Bytes;
use axum::extract::{Path, Query, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use base64::Engine as _;
use serde_json::{Map, Value, json};
use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

pub const CLIENT_ID: &str = "clio-test-client";
pub const CLIENT_SECRET: &str = "clio-test-client-secret";
/// Clio access tokens live 7 days.
pub const EXPIRES_IN: u64 = 604_800;

/// A request as the fake saw it (for assertions).
#[derive(Debug, Clone)]
pub struct Seen {
    pub method: String,
    pub path: String,
    pub query: String,
    pub authorization: Option<String>,
    pub content_type: Option<String>,
    /// The body as JSON (`Null` when absent or not JSON).
    pub body: Value,
    pub status: u16,
}

impl Seen {
    /// A decoded query parameter.
    pub fn param(&self, name: &str) -> Option<String> {
        url::form_urlencoded::parse(self.query.as_bytes()).find(|(k, _)| k == name).map(|(_, v)| v.into_owned())
    }
}

#[derive(Debug, Clone)]
pub struct TokenRequest {
    pub grant_type: String,
    /// The client credentials came as form fields (Clio's documented way).
    pub credentials_in_body: bool,
    pub basic_auth: bool,
    pub status: u16,
}

#[derive(Debug, Clone)]
pub struct Deauthorization {
    pub bearer: String,
    pub token_param: Option<String>,
    pub user_id: u64,
}

#[derive(Debug, Default)]
pub struct ClioState {
    /// The origin this instance plays (`https://eu.app.clio.com`): paging URLs use it.
    pub origin: String,
    pub users: BTreeMap<u64, Value>,
    /// Who consents at `/oauth/authorize`.
    pub consenting_user: u64,
    codes: HashMap<String, (u64, String)>,
    /// access token → user id
    pub access: HashMap<String, u64>,
    /// refresh token → user id
    pub refresh: HashMap<String, u64>,
    pub authorize_queries: Vec<HashMap<String, String>>,
    pub token_requests: Vec<TokenRequest>,
    pub deauthorizations: Vec<Deauthorization>,
    pub contacts: BTreeMap<u64, Value>,
    pub matters: BTreeMap<u64, Value>,
    pub communications: BTreeMap<u64, Value>,
    pub activities: BTreeMap<u64, Value>,
    next_id: u64,
    pub seen: Vec<Seen>,
    /// Requests per access token per window.
    pub rate_limit: u32,
    pub window: Duration,
    windows: HashMap<String, (Instant, u64, u32)>,
    /// Answer the next N API requests with 429 and this Retry-After.
    pub throttle_next: u32,
    pub throttle_retry_after: u64,
    /// Largest page the fake serves (Clio: 200); lower it to test paging.
    pub page_size: usize,
    /// How long after handling a create (`POST /api/v4/...`) the fake answers it.
    pub answer_delay: Duration,
}

impl ClioState {
    fn next_id(&mut self) -> u64 {
        self.next_id += 1;
        self.next_id
    }
}

type Shared = Arc<Mutex<ClioState>>;

fn lock(s: &Shared) -> MutexGuard<'_, ClioState> {
    s.lock().unwrap_or_else(|p| p.into_inner())
}

#[derive(Clone)]
pub struct FakeClio {
    pub addr: SocketAddr,
    state: Shared,
}

fn now_iso() -> String {
    "2026-11-22T10:00:00Z".to_owned()
}

fn unix_now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or_default()
}

impl FakeClio {
    /// Starts a region on a free loopback port, with one user (who consents
    /// at the authorize endpoint) and demo contacts and matters.
    pub async fn start(origin: &str, user_id: u64, user_name: &str) -> FakeClio {
        let state = Arc::new(Mutex::new(ClioState {
            origin: origin.to_owned(),
            consenting_user: user_id,
            next_id: 1000,
            rate_limit: 50,
            window: Duration::from_secs(60),
            throttle_retry_after: 30,
            page_size: 200,
            ..Default::default()
        }));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind the fake Clio");
        let addr = listener.local_addr().expect("local address");
        let app = router(state.clone());
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        let fake = FakeClio { addr, state };
        fake.add_user(user_id, user_name);
        fake.seed();
        fake
    }

    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn state(&self) -> MutexGuard<'_, ClioState> {
        lock(&self.state)
    }

    pub fn add_user(&self, id: u64, name: &str) {
        let email = format!("{}@firm.example", name.to_lowercase().replace(' ', "."));
        self.state().users.insert(id, json!({"id": id, "etag": "\"u1\"", "name": name, "email": email}));
    }

    fn seed(&self) {
        let rebels = self.add_contact("Company", "Rebel Alliance", &["+16505550000"], None);
        let luke = self.add_contact("Person", "Luke Skywalker", &["+16505551212"], Some(rebels));
        // Stored the way a person types it: found through overridingFormat.
        let leia = self.add_contact("Person", "Leia Organa", &["(650) 555-0100"], Some(rebels));
        self.add_matter(luke, "00001-Skywalker", "Death Star plans", "open");
        self.add_matter(luke, "00002-Skywalker", "Tatooine land dispute", "closed");
        self.add_matter(leia, "00003-Organa", "Alderaan insurance claim", "open");
    }

    /// Adds a contact; `name` is split into first and last for a Person.
    pub fn add_contact(&self, kind: &str, name: &str, phones: &[&str], company: Option<u64>) -> u64 {
        let mut s = self.state();
        let id = s.next_id();
        let (first, last) = match (kind, name.rsplit_once(' ')) {
            ("Person", Some((f, l))) => (json!(f), json!(l)),
            ("Person", None) => (Value::Null, json!(name)),
            _ => (Value::Null, Value::Null),
        };
        let mut numbers = Vec::new();
        for (i, p) in phones.iter().enumerate() {
            let pid = s.next_id();
            numbers.push(json!({"id": pid, "etag": "\"p1\"", "name": "Work", "number": p, "default_number": i == 0}));
        }
        let company = company.and_then(|c| s.contacts.get(&c)).map(|c| json!({"id": c["id"], "name": c["name"]}));
        let contact = json!({
            "id": id, "etag": format!("\"c{id}\""), "type": kind, "name": name, "first_name": first, "last_name": last,
            "title": null, "primary_email_address": null,
            "primary_phone_number": phones.first().copied(),
            "phone_numbers": numbers, "company": company.unwrap_or(Value::Null),
            "created_at": now_iso(), "updated_at": now_iso(),
        });
        s.contacts.insert(id, contact);
        id
    }

    pub fn add_matter(&self, client: u64, display_number: &str, description: &str, status: &str) -> u64 {
        let mut s = self.state();
        let id = s.next_id();
        let client_name = s.contacts.get(&client).map(|c| c["name"].clone()).unwrap_or(Value::Null);
        s.matters.insert(
            id,
            json!({"id": id, "etag": "\"m1\"", "display_number": display_number, "description": description,
                   "status": status, "client": {"id": client, "name": client_name}}),
        );
        id
    }

    pub fn contact_named(&self, name: &str) -> Option<Value> {
        self.state().contacts.values().find(|c| c["name"] == name).cloned()
    }

    pub fn communications(&self) -> Vec<Value> {
        self.state().communications.values().cloned().collect()
    }

    pub fn activities(&self) -> Vec<Value> {
        self.state().activities.values().cloned().collect()
    }

    /// Requests whose path starts with `prefix`.
    pub fn seen(&self, prefix: &str) -> Vec<Seen> {
        self.state().seen.iter().filter(|r| r.path.starts_with(prefix)).cloned().collect()
    }

    /// Every `/api/v4` request so far.
    pub fn api_calls(&self) -> Vec<Seen> {
        self.seen("/api/v4/")
    }

    pub fn throttle_next(&self, n: u32, retry_after_secs: u64) {
        let mut s = self.state();
        s.throttle_next = n;
        s.throttle_retry_after = retry_after_secs;
    }

    pub fn set_rate_limit(&self, per_window: u32, window: Duration) {
        let mut s = self.state();
        s.rate_limit = per_window;
        s.window = window;
        s.windows.clear();
    }

    pub fn set_page_size(&self, n: usize) {
        self.state().page_size = n;
    }

    /// Every create (`POST /api/v4/...`) is handled at once and answered `delay` later.
    pub fn set_answer_delay(&self, delay: Duration) {
        self.state().answer_delay = delay;
    }
}

fn router(state: Shared) -> Router {
    let api = Router::new()
        .route("/api/v4/users/who_am_i.json", get(who_am_i))
        .route("/api/v4/contacts.json", get(list_contacts).post(create_contact))
        .route("/api/v4/matters.json", get(list_matters))
        .route("/api/v4/communications.json", get(list_communications).post(create_communication))
        .route("/api/v4/communications/{file}", get(get_communication).patch(patch_communication))
        .route("/api/v4/activities.json", get(list_activities).post(create_activity))
        .fallback(not_found)
        .layer(axum::middleware::from_fn_with_state(state.clone(), gate));
    Router::new()
        .route("/oauth/authorize", get(authorize))
        .route("/oauth/token", post(token))
        .route("/oauth/deauthorize", post(deauthorize))
        .merge(api)
        .layer(axum::middleware::from_fn_with_state(state.clone(), record))
        .with_state(state)
}

fn clio_error(status: StatusCode, kind: &str, message: &str) -> Response {
    (status, Json(json!({"error": {"type": kind, "message": message}}))).into_response()
}

fn invalid_token() -> Response {
    let mut r = (
        StatusCode::UNAUTHORIZED,
        Json(json!({"error": "invalid_token",
                    "error_description": "The access token provided is expired, revoked, malformed or invalid for other reasons."})),
    )
        .into_response();
    r.headers_mut().insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
    r
}

async fn not_found() -> Response {
    clio_error(StatusCode::NOT_FOUND, "RecordNotFound", "no such route in the Clio API")
}

/// Records every request (method, path, query, headers, body) and its status.
async fn record(State(state): State<Shared>, req: Request, next: Next) -> Response {
    let (parts, body) = req.into_parts();
    let bytes = axum::body::to_bytes(body, 1 << 20).await.unwrap_or_default();
    let header = |name: header::HeaderName| parts.headers.get(name).and_then(|v| v.to_str().ok()).map(str::to_owned);
    let mut seen = Seen {
        method: parts.method.to_string(),
        path: parts.uri.path().to_owned(),
        query: parts.uri.query().unwrap_or_default().to_owned(),
        authorization: header(header::AUTHORIZATION),
        content_type: header(header::CONTENT_TYPE),
        body: serde_json::from_slice(&bytes).unwrap_or(Value::Null),
        status: 0,
    };
    let response = next.run(Request::from_parts(parts, axum::body::Body::from(bytes))).await;
    seen.status = response.status().as_u16();
    let is_create = seen.method == "POST" && seen.path.starts_with("/api/v4/");
    let delay = {
        let mut s = lock(&state);
        s.seen.push(seen);
        if is_create { s.answer_delay } else { Duration::ZERO }
    };
    if !delay.is_zero() {
        tokio::time::sleep(delay).await;
    }
    response
}

fn bearer(headers: &HeaderMap) -> Option<String> {
    let v = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = v.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim().to_owned())
}

/// The signed-in user of an API request.
#[derive(Clone, Copy)]
struct Caller(u64);

/// Bearer check, forced throttling and the per-token fixed-window rate limit.
async fn gate(State(state): State<Shared>, mut req: Request, next: Next) -> Response {
    let token = bearer(req.headers());
    let outcome = {
        let mut s = lock(&state);
        match token.as_ref().and_then(|t| s.access.get(t).copied()) {
            None => Err(invalid_token()),
            Some(user) => {
                let token = token.clone().unwrap_or_default();
                let (limit, window) = (s.rate_limit, s.window);
                let now = Instant::now();
                let entry = s.windows.entry(token).or_insert((now, unix_now() + window.as_secs(), 0));
                if now.duration_since(entry.0) >= window {
                    *entry = (now, unix_now() + window.as_secs(), 0);
                }
                entry.2 += 1;
                let (started, reset, used) = *entry;
                let retry_after = window.saturating_sub(now.duration_since(started)).as_secs().max(1);
                let forced = (s.throttle_next > 0).then(|| {
                    s.throttle_next -= 1;
                    s.throttle_retry_after
                });
                Ok((user, limit, used, reset, forced.or((used > limit).then_some(retry_after))))
            }
        }
    };
    let (user, limit, used, reset, throttled) = match outcome {
        Ok(o) => o,
        Err(r) => return r,
    };
    let mut response = if let Some(retry_after) = throttled {
        let mut r = clio_error(StatusCode::TOO_MANY_REQUESTS, "RateLimited", "Rate limit exceeded. Retry later.");
        r.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(retry_after));
        r
    } else {
        req.extensions_mut().insert(Caller(user));
        next.run(req).await
    };
    let h = response.headers_mut();
    h.insert("x-ratelimit-limit", HeaderValue::from(limit));
    h.insert("x-ratelimit-remaining", HeaderValue::from(limit.saturating_sub(used)));
    h.insert("x-ratelimit-reset", HeaderValue::from(reset));
    response
}

// ---------------------------------------------------------------- fields=

#[derive(Debug)]
struct Field {
    name: String,
    nested: Option<Vec<Field>>,
}

fn parse_fields(spec: &str) -> Result<Vec<Field>, String> {
    fn parse(chars: &mut std::iter::Peekable<std::str::Chars<'_>>, depth: usize) -> Result<Vec<Field>, String> {
        let mut out = Vec::new();
        let mut name = String::new();
        while let Some(c) = chars.next() {
            match c {
                ',' => {
                    if !name.is_empty() {
                        out.push(Field { name: std::mem::take(&mut name), nested: None });
                    }
                }
                '{' => {
                    if name.is_empty() {
                        return Err("`{` without a field name".into());
                    }
                    let nested = parse(chars, depth + 1)?;
                    out.push(Field { name: std::mem::take(&mut name), nested: Some(nested) });
                }
                '}' if depth > 0 => {
                    if !name.is_empty() {
                        out.push(Field { name, nested: None });
                    }
                    return Ok(out);
                }
                '}' => return Err("unbalanced `}`".into()),
                c if c.is_ascii_alphanumeric() || c == '_' => name.push(c),
                c => return Err(format!("unexpected {c:?}")),
            }
        }
        if depth > 0 {
            return Err("unbalanced `{`".into());
        }
        if !name.is_empty() {
            out.push(Field { name, nested: None });
        }
        Ok(out)
    }
    parse(&mut spec.chars().peekable(), 0)
}

fn select(value: &Value, fields: &[Field]) -> Result<Value, String> {
    match value {
        Value::Array(items) => Ok(Value::Array(items.iter().map(|v| select(v, fields)).collect::<Result<_, _>>()?)),
        Value::Object(map) => {
            let mut out = Map::new();
            for f in fields {
                let Some(v) = map.get(&f.name) else {
                    return Err(format!("`{}` is not a field of this resource", f.name));
                };
                let v = match (&f.nested, v) {
                    (Some(nested), Value::Object(_) | Value::Array(_)) => select(v, nested)?,
                    (Some(_), Value::Null) | (None, _) => v.clone(),
                    (Some(_), _) => return Err(format!("`{}` is not a nested resource", f.name)),
                };
                out.insert(f.name.clone(), v);
            }
            Ok(Value::Object(out))
        }
        other => Ok(other.clone()),
    }
}

fn fields_of(q: &HashMap<String, String>) -> Result<Vec<Field>, Response> {
    let spec = q.get("fields").map(String::as_str).unwrap_or("id,etag");
    parse_fields(spec).map_err(|e| clio_error(StatusCode::BAD_REQUEST, "InvalidFields", &format!("fields: {e}")))
}

fn render(record: &Value, fields: &[Field]) -> Result<Value, Response> {
    select(record, fields).map_err(|e| clio_error(StatusCode::BAD_REQUEST, "InvalidFields", &e))
}

fn one(status: StatusCode, record: &Value, q: &HashMap<String, String>) -> Response {
    let fields = match fields_of(q) {
        Ok(f) => f,
        Err(r) => return r,
    };
    match render(record, &fields) {
        Ok(v) => (status, Json(json!({"data": v}))).into_response(),
        Err(r) => r,
    }
}

/// One page of `records` (sorted by id) with Clio's cursor paging.
fn page(state: &ClioState, path: &str, records: Vec<&Value>, q: &HashMap<String, String>) -> Response {
    let fields = match fields_of(q) {
        Ok(f) => f,
        Err(r) => return r,
    };
    let limit = match q.get("limit").map(|l| l.parse::<usize>()) {
        None => 200,
        Some(Ok(l)) if (1..=200).contains(&l) => l,
        Some(_) => return clio_error(StatusCode::BAD_REQUEST, "ArgumentError", "limit must be between 1 and 200"),
    }
    .min(state.page_size.max(1));
    let after = match q.get("page_token") {
        None => 0,
        Some(t) => match base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(t)
            .ok()
            .and_then(|b| String::from_utf8(b).ok())
            .and_then(|s| s.strip_prefix("after:").and_then(|n| n.parse::<u64>().ok()))
        {
            Some(n) => n,
            None => return clio_error(StatusCode::BAD_REQUEST, "ArgumentError", "invalid page_token"),
        },
    };
    let total = records.len();
    let rest: Vec<&Value> = records.into_iter().filter(|r| r["id"].as_u64().unwrap_or(0) > after).collect();
    let items: Vec<&Value> = rest.iter().take(limit).copied().collect();
    let mut data = Vec::with_capacity(items.len());
    for r in &items {
        match render(r, &fields) {
            Ok(v) => data.push(v),
            Err(resp) => return resp,
        }
    }
    let mut paging = Map::new();
    if rest.len() > items.len() {
        let last = items.last().and_then(|r| r["id"].as_u64()).unwrap_or(after);
        let token = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(format!("after:{last}"));
        let mut qs = url::form_urlencoded::Serializer::new(String::new());
        let mut params: Vec<(&String, &String)> = q.iter().filter(|(k, _)| k.as_str() != "page_token").collect();
        params.sort();
        for (k, v) in params {
            qs.append_pair(k, v);
        }
        qs.append_pair("page_token", &token);
        paging.insert("next".into(), json!(format!("{}{path}?{}", state.origin, qs.finish())));
    }
    if after > 0 {
        paging.insert("previous".into(), json!(format!("{}{path}", state.origin)));
    }
    Json(json!({"data": data, "meta": {"paging": paging, "records": total}})).into_response()
}

// ---------------------------------------------------------------- OAuth

async fn authorize(State(state): State<Shared>, Query(q): Query<HashMap<String, String>>) -> Response {
    lock(&state).authorize_queries.push(q.clone());
    if q.get("response_type").map(String::as_str) != Some("code")
        || q.get("client_id").map(String::as_str) != Some(CLIENT_ID)
    {
        return (StatusCode::BAD_REQUEST, "response_type=code and a known client_id are required").into_response();
    }
    let Some(redirect_uri) = q.get("redirect_uri").filter(|r| !r.is_empty()) else {
        return (StatusCode::BAD_REQUEST, "redirect_uri is required").into_response();
    };
    let mut s = lock(&state);
    let code = format!("code-{}", uuid::Uuid::new_v4().simple());
    let user = s.consenting_user;
    s.codes.insert(code.clone(), (user, redirect_uri.clone()));
    let mut to = url::Url::parse(redirect_uri).expect("redirect_uri is a URL");
    to.query_pairs_mut().append_pair("code", &code);
    if let Some(st) = q.get("state") {
        to.query_pairs_mut().append_pair("state", st);
    }
    Redirect::to(to.as_str()).into_response()
}

fn oauth_error(status: StatusCode, error: &str, description: &str) -> Response {
    (status, Json(json!({"error": error, "error_description": description}))).into_response()
}

fn form(raw: &[u8]) -> HashMap<String, String> {
    url::form_urlencoded::parse(raw).into_owned().collect()
}

async fn token(State(state): State<Shared>, headers: HeaderMap, body: Bytes) -> Response {
    let f = form(&body);
    let basic_auth =
        headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()).is_some_and(|v| v.starts_with("Basic "));
    let credentials_in_body = f.get("client_id").map(String::as_str) == Some(CLIENT_ID)
        && f.get("client_secret").map(String::as_str) == Some(CLIENT_SECRET);
    let mut s = lock(&state);
    let grant_type = f.get("grant_type").cloned().unwrap_or_default();
    let answer = if !credentials_in_body {
        oauth_error(StatusCode::UNAUTHORIZED, "invalid_client", "client_id and client_secret are required in the body")
    } else {
        match grant_type.as_str() {
            "authorization_code" => match f.get("code").and_then(|c| s.codes.remove(c)) {
                None => oauth_error(StatusCode::BAD_REQUEST, "invalid_grant", "unknown or used code"),
                Some((_, uri)) if f.get("redirect_uri") != Some(&uri) => {
                    oauth_error(StatusCode::BAD_REQUEST, "invalid_grant", "redirect_uri does not match")
                }
                Some((user, _)) => {
                    let access = format!("clio-at-{}", uuid::Uuid::new_v4().simple());
                    let refresh = format!("clio-rt-{}", uuid::Uuid::new_v4().simple());
                    s.access.insert(access.clone(), user);
                    s.refresh.insert(refresh.clone(), user);
                    Json(json!({"token_type": "bearer", "access_token": access, "expires_in": EXPIRES_IN,
                                "refresh_token": refresh}))
                    .into_response()
                }
            },
            "refresh_token" => match f.get("refresh_token").and_then(|r| s.refresh.get(r).copied()) {
                None => oauth_error(StatusCode::BAD_REQUEST, "invalid_grant", "refresh token is invalid"),
                Some(user) => {
                    let access = format!("clio-at-{}", uuid::Uuid::new_v4().simple());
                    s.access.insert(access.clone(), user);
                    Json(json!({"token_type": "bearer", "access_token": access, "expires_in": EXPIRES_IN}))
                        .into_response()
                }
            },
            _ => oauth_error(StatusCode::BAD_REQUEST, "unsupported_grant_type", "unsupported grant_type"),
        }
    };
    let status = answer.status().as_u16();
    s.token_requests.push(TokenRequest { grant_type, credentials_in_body, basic_auth, status });
    answer
}

async fn deauthorize(State(state): State<Shared>, headers: HeaderMap, body: Bytes) -> Response {
    let f = form(&body);
    let mut s = lock(&state);
    let Some((bearer, user)) = bearer(&headers).and_then(|t| s.access.get(&t).map(|u| (t, *u))) else {
        return invalid_token();
    };
    let token_param = f.get("token").cloned();
    if token_param.as_ref().is_some_and(|t| *t != bearer) {
        return oauth_error(StatusCode::BAD_REQUEST, "invalid_request", "token does not match the bearer token");
    }
    // The application's grant is gone: its access and refresh tokens.
    s.access.retain(|_, u| *u != user);
    s.refresh.retain(|_, u| *u != user);
    s.deauthorizations.push(Deauthorization { bearer, token_param, user_id: user });
    StatusCode::OK.into_response()
}

// ---------------------------------------------------------------- API

async fn who_am_i(
    State(state): State<Shared>,
    axum::Extension(Caller(user)): axum::Extension<Caller>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let s = lock(&state);
    match s.users.get(&user) {
        Some(u) => one(StatusCode::OK, u, &q),
        None => clio_error(StatusCode::NOT_FOUND, "RecordNotFound", "no such user"),
    }
}

fn matches_query(contact: &Value, query: &str) -> bool {
    let q = query.to_lowercase();
    let has = |v: &Value| v.as_str().is_some_and(|s| s.to_lowercase().contains(&q));
    has(&contact["name"])
        || has(&contact["primary_email_address"])
        || contact["phone_numbers"].as_array().is_some_and(|ns| ns.iter().any(|n| has(&n["number"])))
}

async fn list_contacts(State(state): State<Shared>, Query(q): Query<HashMap<String, String>>) -> Response {
    let s = lock(&state);
    if let Some(t) = q.get("type").filter(|t| *t != "Person" && *t != "Company") {
        return clio_error(StatusCode::BAD_REQUEST, "ArgumentError", &format!("type {t:?} is not Person or Company"));
    }
    let found: Vec<&Value> = s
        .contacts
        .values()
        .filter(|c| q.get("query").is_none_or(|query| matches_query(c, query)))
        .filter(|c| q.get("type").is_none_or(|t| c["type"] == t.as_str()))
        .collect();
    page(&s, "/api/v4/contacts.json", found, &q)
}

async fn list_matters(State(state): State<Shared>, Query(q): Query<HashMap<String, String>>) -> Response {
    let s = lock(&state);
    let client = match q.get("client_id").map(|c| c.parse::<u64>()) {
        None => None,
        Some(Ok(c)) => Some(c),
        Some(Err(_)) => return clio_error(StatusCode::BAD_REQUEST, "ArgumentError", "client_id must be an integer"),
    };
    if let Some(st) = q.get("status").filter(|st| !["open", "pending", "closed"].contains(&st.as_str())) {
        return clio_error(StatusCode::BAD_REQUEST, "ArgumentError", &format!("status {st:?} is not valid"));
    }
    let found: Vec<&Value> = s
        .matters
        .values()
        .filter(|m| client.is_none_or(|c| m["client"]["id"] == c))
        .filter(|m| q.get("status").is_none_or(|st| m["status"] == st.as_str()))
        .collect();
    page(&s, "/api/v4/matters.json", found, &q)
}

fn unprocessable(message: &str) -> Response {
    clio_error(StatusCode::UNPROCESSABLE_ENTITY, "ValidationError", message)
}

/// The `data` object of a create/update body, with only `allowed` keys.
fn data_of(body: &Bytes, allowed: &[&str]) -> Result<Map<String, Value>, Response> {
    let v: Value = serde_json::from_slice(body)
        .map_err(|_| clio_error(StatusCode::BAD_REQUEST, "ArgumentError", "the body must be JSON"))?;
    let Some(Value::Object(data)) = v.get("data").cloned() else {
        return Err(clio_error(StatusCode::BAD_REQUEST, "ArgumentError", "the body must be {\"data\": {...}}"));
    };
    if let Some(k) = data.keys().find(|k| !allowed.contains(&k.as_str())) {
        return Err(unprocessable(&format!("unknown attribute `{k}`")));
    }
    Ok(data)
}

fn non_empty_str<'a>(data: &'a Map<String, Value>, key: &str) -> Option<&'a str> {
    data.get(key).and_then(Value::as_str).map(str::trim).filter(|s| !s.is_empty())
}

fn is_date(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() == 10
        && b[4] == b'-'
        && b[7] == b'-'
        && b.iter().enumerate().all(|(i, c)| i == 4 || i == 7 || c.is_ascii_digit())
}

fn is_datetime(s: &str) -> bool {
    s.len() >= 20 && is_date(&s[..10]) && s.as_bytes()[10] == b'T'
}

const PHONE_NAMES: &[&str] = &["Work", "Home", "Mobile", "Fax", "Pager", "Skype", "Other"];

async fn create_contact(
    State(state): State<Shared>,
    Query(q): Query<HashMap<String, String>>,
    body: Bytes,
) -> Response {
    let data = match data_of(
        &body,
        &[
            "type",
            "name",
            "first_name",
            "middle_name",
            "last_name",
            "title",
            "prefix",
            "phone_numbers",
            "email_addresses",
            "company",
        ],
    ) {
        Ok(d) => d,
        Err(r) => return r,
    };
    let kind = data.get("type").and_then(Value::as_str).unwrap_or_default();
    let name = match kind {
        "Person" => {
            let parts: Vec<&str> = ["first_name", "last_name"].iter().filter_map(|k| non_empty_str(&data, k)).collect();
            if parts.is_empty() {
                return unprocessable("a Person needs a first_name or a last_name");
            }
            if data.contains_key("name") {
                return unprocessable("a Person is named with first_name and last_name");
            }
            parts.join(" ")
        }
        "Company" => match non_empty_str(&data, "name") {
            Some(n) => n.to_owned(),
            None => return unprocessable("a Company needs a name"),
        },
        _ => return unprocessable("type must be Person or Company"),
    };
    let mut phones = Vec::new();
    for p in data.get("phone_numbers").and_then(Value::as_array).cloned().unwrap_or_default() {
        let Some(p) = p.as_object() else { return unprocessable("phone_numbers holds objects") };
        if let Some(k) = p.keys().find(|k| !["name", "number", "default_number"].contains(&k.as_str())) {
            return unprocessable(&format!("unknown phone number attribute `{k}`"));
        }
        let Some(number) = non_empty_str(p, "number") else { return unprocessable("a phone number needs a number") };
        let label = p.get("name").and_then(Value::as_str).unwrap_or("Work");
        if !PHONE_NAMES.contains(&label) {
            return unprocessable(&format!("phone number name {label:?} is not one of {PHONE_NAMES:?}"));
        }
        if p.get("default_number").is_some_and(|d| !d.is_boolean()) {
            return unprocessable("default_number is a boolean");
        }
        phones.push((label.to_owned(), number.to_owned(), p.get("default_number") == Some(&Value::Bool(true))));
    }
    let mut s = lock(&state);
    let id = s.next_id();
    let mut numbers = Vec::new();
    for (label, number, default) in &phones {
        let pid = s.next_id();
        numbers.push(json!({"id": pid, "etag": "\"p1\"", "name": label, "number": number, "default_number": default}));
    }
    let primary = phones.iter().find(|p| p.2).or(phones.first()).map(|p| p.1.clone());
    let contact = json!({
        "id": id, "etag": format!("\"c{id}\""), "type": kind, "name": name,
        "first_name": data.get("first_name").cloned().unwrap_or(Value::Null),
        "last_name": data.get("last_name").cloned().unwrap_or(Value::Null),
        "title": null, "primary_email_address": null, "primary_phone_number": primary,
        "phone_numbers": numbers, "company": null, "created_at": now_iso(), "updated_at": now_iso(),
    });
    s.contacts.insert(id, contact.clone());
    one(StatusCode::CREATED, &contact, &q)
}

/// `[{id, type}]` of existing users and contacts, with their names.
fn parties(s: &ClioState, v: Option<&Value>, key: &str) -> Result<Value, Response> {
    let Some(v) = v else { return Ok(json!([])) };
    let Some(items) = v.as_array() else { return Err(unprocessable(&format!("{key} is an array"))) };
    let mut out = Vec::new();
    for p in items {
        let (Some(id), Some(kind)) = (p["id"].as_u64(), p["type"].as_str()) else {
            return Err(unprocessable(&format!("{key} entries are {{id: <number>, type: \"User\"|\"Contact\"}}")));
        };
        let name = match kind {
            "User" => s.users.get(&id).map(|u| u["name"].clone()),
            "Contact" => s.contacts.get(&id).map(|c| c["name"].clone()),
            _ => return Err(unprocessable(&format!("{key} type {kind:?} is not User or Contact"))),
        };
        let Some(name) = name else { return Err(unprocessable(&format!("{key}: no {kind} {id}"))) };
        out.push(json!({"id": id, "type": kind, "name": name}));
    }
    Ok(Value::Array(out))
}

fn matter_ref(s: &ClioState, v: Option<&Value>) -> Result<Value, Response> {
    match v {
        None | Some(Value::Null) => Ok(Value::Null),
        Some(m) => {
            let Some(id) = m["id"].as_u64() else { return Err(unprocessable("matter is {id: <number>}")) };
            match s.matters.get(&id) {
                Some(m) => Ok(json!({"id": id, "display_number": m["display_number"]})),
                None => Err(unprocessable(&format!("no matter {id}"))),
            }
        }
    }
}

const COMMUNICATION_KEYS: &[&str] = &[
    "type",
    "subject",
    "body",
    "date",
    "received_at",
    "senders",
    "receivers",
    "matter",
    "notification_event_subscribers",
];

/// Clio allows at most this many external properties on a record.
const MAX_EXTERNAL_PROPERTIES: usize = 5;

/// A create body's `external_properties`, as Clio stores them.
fn external_properties(s: &mut ClioState, v: Option<&Value>) -> Result<Value, Response> {
    let Some(v) = v.filter(|v| !v.is_null()) else { return Ok(json!([])) };
    let Some(items) = v.as_array() else { return Err(unprocessable("external_properties is an array")) };
    if items.len() > MAX_EXTERNAL_PROPERTIES {
        return Err(unprocessable(&format!("external_properties: at most {MAX_EXTERNAL_PROPERTIES} are allowed")));
    }
    let mut out: Vec<Value> = Vec::new();
    for p in items {
        let Some(p) = p.as_object() else { return Err(unprocessable("external_properties holds objects")) };
        if let Some(k) = p.keys().find(|k| !["name", "value"].contains(&k.as_str())) {
            return Err(unprocessable(&format!("unknown external property attribute `{k}`")));
        }
        let (Some(name), Some(value)) = (non_empty_str(p, "name"), p.get("value").and_then(Value::as_str)) else {
            return Err(unprocessable("an external property needs a name and a string value"));
        };
        if out.iter().any(|o| o["name"] == name) {
            return Err(unprocessable(&format!("external property {name:?} is given twice")));
        }
        let id = s.next_id();
        out.push(json!({"id": id, "etag": format!("\"x{id}\""), "name": name, "value": value,
                        "created_at": now_iso(), "updated_at": now_iso()}));
    }
    Ok(Value::Array(out))
}

fn has_external_property(record: &Value, name: &str, value: Option<&String>) -> bool {
    record["external_properties"]
        .as_array()
        .is_some_and(|ps| ps.iter().any(|p| p["name"] == name && value.is_none_or(|v| p["value"] == v.as_str())))
}

async fn list_communications(State(state): State<Shared>, Query(q): Query<HashMap<String, String>>) -> Response {
    let s = lock(&state);
    let name = q.get("external_property_name");
    let value = q.get("external_property_value");
    if value.is_some() && name.is_none() {
        return clio_error(
            StatusCode::BAD_REQUEST,
            "ArgumentError",
            "external_property_value requires external_property_name",
        );
    }
    let found: Vec<&Value> = s
        .communications
        .values()
        .filter(|c| name.is_none_or(|n| has_external_property(c, n, value)))
        .filter(|c| q.get("type").is_none_or(|t| c["type"] == t.as_str()))
        .collect();
    page(&s, "/api/v4/communications.json", found, &q)
}

async fn list_activities(State(state): State<Shared>, Query(q): Query<HashMap<String, String>>) -> Response {
    let s = lock(&state);
    let communication = match q.get("communication_id").map(|c| c.parse::<u64>()) {
        None => None,
        Some(Ok(c)) => Some(c),
        Some(Err(_)) => {
            return clio_error(StatusCode::BAD_REQUEST, "ArgumentError", "communication_id must be an integer");
        }
    };
    let found: Vec<&Value> =
        s.activities.values().filter(|a| communication.is_none_or(|c| a["communication"]["id"] == c)).collect();
    page(&s, "/api/v4/activities.json", found, &q)
}

fn check_times(data: &Map<String, Value>) -> Result<(), Response> {
    if let Some(d) = data.get("date").filter(|d| !d.as_str().is_some_and(is_date)) {
        return Err(unprocessable(&format!("date {d} is not YYYY-MM-DD")));
    }
    if let Some(t) = data.get("received_at").filter(|t| !t.as_str().is_some_and(is_datetime)) {
        return Err(unprocessable(&format!("received_at {t} is not an ISO 8601 time")));
    }
    Ok(())
}

async fn create_communication(
    State(state): State<Shared>,
    Query(q): Query<HashMap<String, String>>,
    body: Bytes,
) -> Response {
    let data = match data_of(&body, &[COMMUNICATION_KEYS, &["external_properties"]].concat()) {
        Ok(d) => d,
        Err(r) => return r,
    };
    let kind = data.get("type").and_then(Value::as_str).unwrap_or_default();
    if kind != "PhoneCommunication" && kind != "EmailCommunication" {
        return unprocessable("type must be PhoneCommunication or EmailCommunication");
    }
    let Some(subject) = non_empty_str(&data, "subject") else { return unprocessable("subject can't be blank") };
    if data.get("body").is_some_and(|b| !b.is_string()) {
        return unprocessable("body is a string");
    }
    if let Err(r) = check_times(&data) {
        return r;
    }
    let mut s = lock(&state);
    let senders = match parties(&s, data.get("senders"), "senders") {
        Ok(p) => p,
        Err(r) => return r,
    };
    let receivers = match parties(&s, data.get("receivers"), "receivers") {
        Ok(p) => p,
        Err(r) => return r,
    };
    let matter = match matter_ref(&s, data.get("matter")) {
        Ok(m) => m,
        Err(r) => return r,
    };
    let external_properties = match external_properties(&mut s, data.get("external_properties")) {
        Ok(p) => p,
        Err(r) => return r,
    };
    let id = s.next_id();
    let record = json!({
        "id": id, "etag": format!("\"k{id}\""), "type": kind, "subject": subject,
        "external_properties": external_properties,
        "body": data.get("body").cloned().unwrap_or(json!("")),
        "date": data.get("date").cloned().unwrap_or(Value::Null),
        "received_at": data.get("received_at").cloned().unwrap_or(Value::Null),
        "senders": senders, "receivers": receivers, "matter": matter,
        "created_at": now_iso(), "updated_at": now_iso(),
    });
    s.communications.insert(id, record.clone());
    one(StatusCode::CREATED, &record, &q)
}

fn communication_id(file: &str) -> Option<u64> {
    file.strip_suffix(".json")?.parse().ok()
}

async fn get_communication(
    State(state): State<Shared>,
    Path(file): Path<String>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let s = lock(&state);
    match communication_id(&file).and_then(|id| s.communications.get(&id)) {
        Some(c) => one(StatusCode::OK, c, &q),
        None => clio_error(StatusCode::NOT_FOUND, "RecordNotFound", "no such communication"),
    }
}

async fn patch_communication(
    State(state): State<Shared>,
    Path(file): Path<String>,
    Query(q): Query<HashMap<String, String>>,
    body: Bytes,
) -> Response {
    let Some(id) = communication_id(&file) else {
        return clio_error(StatusCode::NOT_FOUND, "RecordNotFound", "no such communication");
    };
    let data = match data_of(&body, &COMMUNICATION_KEYS[1..]) {
        Ok(d) => d,
        Err(r) => return r,
    };
    if data.contains_key("subject") && non_empty_str(&data, "subject").is_none() {
        return unprocessable("subject can't be blank");
    }
    if data.get("body").is_some_and(|b| !b.is_string()) {
        return unprocessable("body is a string");
    }
    if let Err(r) = check_times(&data) {
        return r;
    }
    let mut s = lock(&state);
    let mut updates = Map::new();
    for key in ["senders", "receivers"] {
        if data.contains_key(key) {
            match parties(&s, data.get(key), key) {
                Ok(p) => updates.insert(key.into(), p),
                Err(r) => return r,
            };
        }
    }
    if data.contains_key("matter") {
        match matter_ref(&s, data.get("matter")) {
            Ok(m) => updates.insert("matter".into(), m),
            Err(r) => return r,
        };
    }
    for key in ["subject", "body", "date", "received_at"] {
        if let Some(v) = data.get(key) {
            updates.insert(key.into(), v.clone());
        }
    }
    let Some(record) = s.communications.get_mut(&id) else {
        return clio_error(StatusCode::NOT_FOUND, "RecordNotFound", "no such communication");
    };
    for (k, v) in updates {
        record[k] = v;
    }
    record["updated_at"] = json!(now_iso());
    let record = record.clone();
    one(StatusCode::OK, &record, &q)
}

async fn create_activity(
    State(state): State<Shared>,
    Query(q): Query<HashMap<String, String>>,
    body: Bytes,
) -> Response {
    let data = match data_of(
        &body,
        &[
            "type",
            "quantity",
            "date",
            "note",
            "matter",
            "communication",
            "user",
            "activity_description",
            "price",
            "non_billable",
        ],
    ) {
        Ok(d) => d,
        Err(r) => return r,
    };
    if data.get("type").and_then(Value::as_str) != Some("TimeEntry") {
        return unprocessable("type must be TimeEntry (the fake knows no other)");
    }
    let Some(quantity) = data.get("quantity").and_then(Value::as_f64).filter(|q| *q > 0.0) else {
        return unprocessable("quantity (seconds) must be a positive number");
    };
    let Some(date) = data.get("date").and_then(Value::as_str).filter(|d| is_date(d)) else {
        return unprocessable("date (YYYY-MM-DD) is required");
    };
    let mut s = lock(&state);
    let matter = match matter_ref(&s, data.get("matter")) {
        Ok(m) => m,
        Err(r) => return r,
    };
    let communication = match data.get("communication") {
        None | Some(Value::Null) => Value::Null,
        Some(c) => match c["id"].as_u64().filter(|id| s.communications.contains_key(id)) {
            Some(id) => json!({"id": id}),
            None => return unprocessable("communication must name an existing communication"),
        },
    };
    let id = s.next_id();
    let record = json!({
        "id": id, "etag": format!("\"a{id}\""), "type": "TimeEntry", "quantity": quantity, "date": date,
        "note": data.get("note").cloned().unwrap_or(Value::Null), "matter": matter, "communication": communication,
        "created_at": now_iso(), "updated_at": now_iso(),
    });
    s.activities.insert(id, record.clone());
    one(StatusCode::CREATED, &record, &q)
}
