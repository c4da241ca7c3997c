//! A fake Pipedrive: one HTTP server standing in for both `oauth.pipedrive.com`
//! and the company's API domain (`https://acme.pipedrive.com`, the
//! `api_domain` its token endpoint answers), reached through upstream overrides.
//!
//! What it mirrors from Pipedrive's documentation:
//! - OAuth: `GET /oauth/authorize` (consents at once: 302 to `redirect_uri`
//!   with `code` and `state`), `POST /oauth/token` (client credentials as HTTP
//!   Basic, form body, `authorization_code` or `refresh_token`; answers
//!   `{access_token, token_type, refresh_token, scope, expires_in: 3599, api_domain}`),
//!   `POST /oauth/revoke` (RFC 7009, HTTP Basic).
//! - The API: bearer tokens only (401 `unauthorized access` otherwise), the
//!   `x-ratelimit-*` headers on every answer and 429 with `Retry-After` on
//!   demand, `{success, data, additional_data}` envelopes, v2 cursor pagination
//!   (`cursor` / `additional_data.next_cursor`), v1 `start`/`limit`.
//! - `GET /api/v1/users/me`, `GET /api/v2/persons/search`, `POST /api/v2/persons`,
//!   `GET /api/v2/persons/{id}`, `GET /api/v2/deals`, `GET /api/v1/leads`,
//!   `GET /api/v1/activityTypes`, `POST /api/v2/activities`,
//!   `GET /api/v2/activities` (`person_id`, `owner_id`, `sort_by` of `id`,
//!   `update_time`, `add_time`, `due_date`, `sort_direction`, cursor pages),
//!   `GET|PATCH /api/v2/activities/{id}`, with v2's rules: `person_id` of an
//!   activity is read-only (a primary participant sets it; reads show
//!   `primary_flag`), `type` must be an active activity type's `key_string`,
//!   dates `YYYY-MM-DD`, times and durations `HH:MM`. Unknown paths answer 404.
//!
//! Every write moves the fake's clock on a second, so `update_time`s differ
//! and sort. `set_answer_delay` answers activity creates late, after making
//! them (a CRM that answers after the host's timeout).
//!
//! Stricter than documented (to catch adapter mistakes): unknown fields in a
//! person or activity body are refused with 400.
//!
//! One long file: a fake is one server whose handlers share one state (persons, deals, leads,
//! activities, tokens); it mirrors Pipedrive's paths one by one.

#![allow(dead_code)]

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use serde_json::{Map, Value, json};
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

pub const CLIENT_ID: &str = "pipedrive-test-client";
pub const CLIENT_SECRET: &str = "pipedrive-test-secret";
/// What the token endpoint answers as `api_domain`.
pub const API_DOMAIN: &str = "https://acme.pipedrive.com";
pub const USER_ID: u64 = 7;
/// Requests per 2-second window the fake announces (`x-ratelimit-limit`).
const WINDOW_LIMIT: u32 = 80;

/// One request the fake received.
#[derive(Debug, Clone)]
pub struct Recorded {
    pub method: String,
    pub path: String,
    pub query: Vec<(String, String)>,
    pub authorization: Option<String>,
    /// The JSON body, or a form body as an object of strings; `Null` when empty.
    pub body: Value,
}

impl Recorded {
    pub fn param(&self, name: &str) -> Option<&str> {
        self.query.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
    }
}

#[derive(Debug, Clone)]
pub struct Phone {
    pub value: String,
    pub label: String,
    pub primary: bool,
}

#[derive(Debug, Clone)]
pub struct Person {
    pub id: u64,
    pub name: String,
    pub phones: Vec<Phone>,
    pub org: Option<(u64, String)>,
}

#[derive(Debug, Clone)]
pub struct Deal {
    pub id: u64,
    pub title: String,
    pub person_id: u64,
    pub status: String,
}

#[derive(Debug, Clone)]
pub struct Lead {
    pub id: String,
    pub title: String,
    pub person_id: u64,
}

#[derive(Debug, Clone)]
pub struct ActivityType {
    pub id: u64,
    pub name: String,
    pub key_string: String,
    pub active: bool,
}

#[derive(Debug, Default)]
pub struct FakeState {
    pub requests: Vec<Recorded>,
    /// authorization code → redirect_uri
    codes: HashMap<String, String>,
    pub access_tokens: Vec<String>,
    pub refresh_tokens: Vec<String>,
    /// `(grant_type, client authenticated with HTTP Basic)` per token request.
    pub token_calls: Vec<(String, bool)>,
    /// `(token, token_type_hint)` per accepted revocation.
    pub revoked: Vec<(String, Option<String>)>,
    pub persons: Vec<Person>,
    pub deals: Vec<Deal>,
    pub leads: Vec<Lead>,
    pub activity_types: Vec<ActivityType>,
    pub activities: BTreeMap<u64, Value>,
    /// Answer the next N API requests with 429.
    pub throttle_next: u32,
    pub retry_after: u32,
    /// The most results per page, whatever `limit` asks.
    pub max_page: usize,
    /// How long after making an activity (`POST /api/v2/activities`) the fake answers.
    pub answer_delay: Duration,
    /// Seconds after 2024-06-01T12:00:00Z of the last write.
    clock: u64,
    next_id: u64,
}

impl FakeState {
    fn id(&mut self) -> u64 {
        self.next_id += 1;
        self.next_id
    }

    pub fn person(&self, id: u64) -> Option<&Person> {
        self.persons.iter().find(|p| p.id == id)
    }

    /// The time of a write: a second after the last one.
    fn tick(&mut self) -> String {
        self.clock += 1;
        let secs = 12 * 3600 + self.clock;
        format!("2024-06-01T{:02}:{:02}:{:02}Z", secs / 3600 % 24, secs / 60 % 60, secs % 60)
    }
}

#[derive(Clone)]
pub struct FakePipedrive {
    pub base: String,
    state: Arc<Mutex<FakeState>>,
}

impl FakePipedrive {
    pub async fn start() -> FakePipedrive {
        let state = Arc::new(Mutex::new(seed()));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind the fake Pipedrive");
        let base = format!("http://{}", listener.local_addr().expect("address"));
        let app = axum::Router::new().fallback(handle).with_state(state.clone());
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        FakePipedrive { base, state }
    }

    pub fn state(&self) -> MutexGuard<'_, FakeState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Requests whose path starts with `prefix`, oldest first.
    pub fn seen(&self, method: &str, prefix: &str) -> Vec<Recorded> {
        self.state().requests.iter().filter(|r| r.method == method && r.path.starts_with(prefix)).cloned().collect()
    }

    pub fn throttle_next(&self, n: u32, retry_after: u32) {
        let mut s = self.state();
        s.throttle_next = n;
        s.retry_after = retry_after;
    }

    /// Activity creates are made at once and answered `delay` later.
    pub fn set_answer_delay(&self, delay: Duration) {
        self.state().answer_delay = delay;
    }

    pub fn activity(&self, id: &str) -> Option<Value> {
        let id: u64 = id.parse().ok()?;
        self.state().activities.get(&id).cloned()
    }
}

fn seed() -> FakeState {
    let phone = |v: &str| vec![Phone { value: v.into(), label: "work".into(), primary: true }];
    let rebels = Some((5, "Rebel Alliance".to_owned()));
    let types = ["Call:call", "Meeting:meeting", "Task:task", "Deadline:deadline", "Email:email", "Lunch:lunch"];
    FakeState {
        persons: vec![
            Person { id: 1, name: "Luke Skywalker".into(), phones: phone("+16505551212"), org: rebels.clone() },
            // Stored the way a user typed it: only an overridingFormat finds her.
            Person { id: 2, name: "Leia Organa".into(), phones: phone("(650) 555-0100"), org: rebels },
            // Two persons sharing a number, to page through.
            Person { id: 3, name: "Biggs Darklighter".into(), phones: phone("+14155550199"), org: None },
            Person { id: 4, name: "Wedge Antilles".into(), phones: phone("+14155550199"), org: None },
        ],
        deals: vec![
            Deal { id: 31, title: "Death Star plans".into(), person_id: 1, status: "open".into() },
            Deal { id: 32, title: "Moisture farm".into(), person_id: 1, status: "won".into() },
            Deal { id: 33, title: "Alderaan relief".into(), person_id: 2, status: "open".into() },
        ],
        leads: vec![Lead {
            id: "adf21080-0e10-11eb-879b-05d71fb426ec".into(),
            title: "X-wing parts".into(),
            person_id: 1,
        }],
        activity_types: types
            .iter()
            .enumerate()
            .map(|(i, t)| {
                let (name, key) = t.split_once(':').unwrap_or((t, t));
                ActivityType { id: i as u64 + 1, name: name.into(), key_string: key.into(), active: true }
            })
            .collect(),
        retry_after: 2,
        max_page: 100,
        next_id: 1000,
        ..Default::default()
    }
}

// ------------------------------------------------------------------ plumbing

fn query_pairs(uri: &Uri) -> Vec<(String, String)> {
    url::form_urlencoded::parse(uri.query().unwrap_or_default().as_bytes()).into_owned().collect()
}

fn parse_body(headers: &HeaderMap, body: &Bytes) -> Value {
    if body.is_empty() {
        return Value::Null;
    }
    let form = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/x-www-form-urlencoded"));
    if form {
        let map: Map<String, Value> =
            url::form_urlencoded::parse(body).into_owned().map(|(k, v)| (k, Value::String(v))).collect();
        return Value::Object(map);
    }
    serde_json::from_slice(body).unwrap_or_else(|_| Value::String(String::from_utf8_lossy(body).into_owned()))
}

fn json_response(status: StatusCode, body: Value) -> Response {
    (status, [(header::CONTENT_TYPE, "application/json")], body.to_string()).into_response()
}

fn oauth_error(status: StatusCode, error: &str, description: &str) -> Response {
    json_response(status, json!({"error": error, "error_description": description}))
}

/// Pipedrive's error envelope.
fn api_error(status: StatusCode, message: &str) -> Response {
    let code = match status {
        StatusCode::BAD_REQUEST => "ERR_BAD_REQUEST",
        StatusCode::NOT_FOUND => "ERR_NOT_FOUND",
        _ => "ERR_UNKNOWN",
    };
    json_response(status, json!({"success": false, "error": message, "code": code, "errorCode": status.as_u16()}))
}

fn ok(data: Value) -> Response {
    json_response(StatusCode::OK, json!({"success": true, "data": data}))
}

fn ok_paged(data: Value, next_cursor: Option<String>) -> Response {
    json_response(
        StatusCode::OK,
        json!({"success": true, "data": data, "additional_data": {"next_cursor": next_cursor}}),
    )
}

fn encode_cursor(offset: usize) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(format!("{{\"offset\":{offset}}}"))
}

fn decode_cursor(c: &str) -> Option<usize> {
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(c).ok()?;
    let v: Value = serde_json::from_slice(&bytes).ok()?;
    v["offset"].as_u64().map(|o| o as usize)
}

/// One page of `items` per the `limit` and `cursor` parameters.
fn page<T: Clone>(
    s: &FakeState,
    items: &[T],
    q: &[(String, String)],
) -> Result<(Vec<T>, Option<String>), Box<Response>> {
    let get = |k: &str| q.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
    let limit = match get("limit") {
        None => 100,
        Some(l) => match l.parse::<usize>() {
            Ok(n) if (1..=500).contains(&n) => n,
            _ => return Err(Box::new(api_error(StatusCode::BAD_REQUEST, "limit must be an integer from 1 to 500"))),
        },
    };
    let offset = match get("cursor") {
        None => 0,
        Some(c) => decode_cursor(c).ok_or_else(|| Box::new(api_error(StatusCode::BAD_REQUEST, "Invalid cursor")))?,
    };
    let size = limit.min(s.max_page.max(1));
    let chunk: Vec<T> = items.iter().skip(offset).take(size).cloned().collect();
    let next = (offset + size < items.len()).then(|| encode_cursor(offset + size));
    Ok((chunk, next))
}

fn basic_ok(headers: &HeaderMap) -> bool {
    let expected = base64::engine::general_purpose::STANDARD.encode(format!("{CLIENT_ID}:{CLIENT_SECRET}"));
    headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()) == Some(&format!("Basic {expected}"))
}

fn with_rate_headers(mut r: Response, remaining: u32, reset: u32) -> Response {
    let h = r.headers_mut();
    h.insert("x-ratelimit-limit", HeaderValue::from(WINDOW_LIMIT));
    h.insert("x-ratelimit-remaining", HeaderValue::from(remaining));
    h.insert("x-ratelimit-reset", HeaderValue::from(reset));
    r
}

async fn handle(
    State(state): State<Arc<Mutex<FakeState>>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let creates = method == Method::POST && uri.path() == "/api/v2/activities";
    let response = respond(&state, &method, &uri, &headers, &body);
    let delay = if creates { state.lock().unwrap_or_else(|p| p.into_inner()).answer_delay } else { Duration::ZERO };
    if !delay.is_zero() {
        tokio::time::sleep(delay).await;
    }
    response
}

fn respond(state: &Mutex<FakeState>, method: &Method, uri: &Uri, headers: &HeaderMap, body: &Bytes) -> Response {
    let mut s = state.lock().unwrap_or_else(|p| p.into_inner());
    let query = query_pairs(uri);
    let body = parse_body(headers, body);
    let authorization = headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()).map(str::to_owned);
    s.requests.push(Recorded {
        method: method.to_string(),
        path: uri.path().to_owned(),
        query: query.clone(),
        authorization: authorization.clone(),
        body: body.clone(),
    });
    let path = uri.path().to_owned();
    if path.starts_with("/oauth/") {
        return oauth(&mut s, method, &path, &query, headers, &body);
    }
    if !path.starts_with("/api/v1/") && !path.starts_with("/api/v2/") {
        return api_error(StatusCode::NOT_FOUND, "Not found");
    }
    let bearer = authorization.as_deref().and_then(|a| a.strip_prefix("Bearer "));
    if !bearer.is_some_and(|t| s.access_tokens.iter().any(|a| a == t)) {
        return with_rate_headers(
            json_response(
                StatusCode::UNAUTHORIZED,
                json!({"success": false, "error": "unauthorized access", "errorCode": 401,
                       "error_info": "Please check developers.pipedrive.com"}),
            ),
            WINDOW_LIMIT,
            2,
        );
    }
    if s.throttle_next > 0 {
        s.throttle_next -= 1;
        let wait = s.retry_after;
        let mut r = json_response(
            StatusCode::TOO_MANY_REQUESTS,
            json!({"success": false, "error": "Request over limit", "errorCode": 429, "data": null, "additional_data": null}),
        );
        r.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(wait));
        return with_rate_headers(r, 0, wait);
    }
    with_rate_headers(api(&mut s, method, &path, &query, &body), WINDOW_LIMIT - 1, 2)
}

// --------------------------------------------------------------------- OAuth

fn oauth(
    s: &mut FakeState,
    method: &Method,
    path: &str,
    q: &[(String, String)],
    headers: &HeaderMap,
    body: &Value,
) -> Response {
    let get = |k: &str| q.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
    let form = |k: &str| body[k].as_str().map(str::to_owned);
    match (method.as_str(), path) {
        ("GET", "/oauth/authorize") => {
            if get("client_id").as_deref() != Some(CLIENT_ID) {
                return oauth_error(StatusCode::BAD_REQUEST, "invalid_request", "unknown client_id");
            }
            let Some(redirect_uri) = get("redirect_uri") else {
                return oauth_error(StatusCode::BAD_REQUEST, "invalid_request", "redirect_uri is required");
            };
            let code = format!("code-{}", s.id());
            s.codes.insert(code.clone(), redirect_uri.clone());
            let mut location = url::Url::parse(&redirect_uri).expect("redirect_uri is a URL");
            location.query_pairs_mut().append_pair("code", &code);
            if let Some(st) = get("state") {
                location.query_pairs_mut().append_pair("state", &st);
            }
            (StatusCode::FOUND, [(header::LOCATION, location.to_string())]).into_response()
        }
        ("POST", "/oauth/token") => {
            let grant = form("grant_type").unwrap_or_default();
            let basic = basic_ok(headers);
            s.token_calls.push((grant.clone(), basic));
            if !basic {
                return oauth_error(StatusCode::UNAUTHORIZED, "invalid_client", "Invalid client credentials");
            }
            let refresh = match grant.as_str() {
                "authorization_code" => {
                    let code = form("code").unwrap_or_default();
                    match s.codes.remove(&code) {
                        Some(uri) if Some(&uri) == form("redirect_uri").as_ref() => {
                            let r = format!("{USER_ID}:3:rt-{}", s.id());
                            s.refresh_tokens.push(r.clone());
                            r
                        }
                        _ => {
                            return oauth_error(StatusCode::BAD_REQUEST, "invalid_grant", "Invalid authorization code");
                        }
                    }
                }
                "refresh_token" => match form("refresh_token") {
                    // Pipedrive keeps the refresh token on refresh.
                    Some(r) if s.refresh_tokens.contains(&r) => r,
                    _ => return oauth_error(StatusCode::BAD_REQUEST, "invalid_grant", "Invalid refresh token"),
                },
                _ => return oauth_error(StatusCode::BAD_REQUEST, "unsupported_grant_type", "Unsupported grant type"),
            };
            let access = format!("{USER_ID}:3:at-{}", s.id());
            s.access_tokens.push(access.clone());
            json_response(
                StatusCode::OK,
                json!({"access_token": access, "token_type": "Bearer", "refresh_token": refresh,
                       "scope": "base,contacts:full,deals:read,leads:read,activities:full",
                       "expires_in": 3599, "api_domain": API_DOMAIN}),
            )
        }
        ("POST", "/oauth/revoke") => {
            if !basic_ok(headers) {
                return oauth_error(StatusCode::UNAUTHORIZED, "invalid_client", "Invalid client credentials");
            }
            let Some(token) = form("token") else {
                return oauth_error(StatusCode::BAD_REQUEST, "invalid_request", "token is required");
            };
            s.access_tokens.retain(|t| *t != token);
            s.refresh_tokens.retain(|t| *t != token);
            s.revoked.push((token, form("token_type_hint")));
            StatusCode::OK.into_response()
        }
        _ => oauth_error(StatusCode::NOT_FOUND, "not_found", "no such OAuth endpoint"),
    }
}

// ----------------------------------------------------------------------- API

fn api(s: &mut FakeState, method: &Method, path: &str, q: &[(String, String)], body: &Value) -> Response {
    let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
    match (method.as_str(), segments.as_slice()) {
        ("GET", ["api", "v1", "users", "me"]) => ok(json!({
            "id": USER_ID, "name": "Ada Lovelace", "email": "ada@acme.example", "lang": 1, "locale": "en_US",
            "timezone_name": "Europe/Tallinn", "company_id": 3, "company_name": "Acme", "company_domain": "acme",
            "active_flag": true, "is_admin": 1})),
        ("GET", ["api", "v2", "persons", "search"]) => search_persons(s, q),
        ("POST", ["api", "v2", "persons"]) => add_person(s, body),
        ("GET", ["api", "v2", "persons", id]) => match id.parse().ok().and_then(|id| s.person(id)) {
            Some(p) => ok(person_json(p)),
            None => api_error(StatusCode::NOT_FOUND, "Person not found"),
        },
        ("GET", ["api", "v2", "deals"]) => list_deals(s, q),
        ("GET", ["api", "v1", "leads"]) => list_leads(s, q),
        ("GET", ["api", "v1", "activityTypes"]) => ok(Value::Array(
            s.activity_types
                .iter()
                .map(|t| {
                    json!({"id": t.id, "order_nr": t.id, "name": t.name, "key_string": t.key_string,
                           "icon_key": t.key_string, "active_flag": t.active, "color": null,
                           "is_custom_flag": false, "add_time": "2024-01-01 00:00:00", "update_time": null})
                })
                .collect(),
        )),
        ("POST", ["api", "v2", "activities"]) => upsert_activity(s, None, body),
        ("GET", ["api", "v2", "activities"]) => list_activities(s, q),
        ("GET", ["api", "v2", "activities", id]) => match id.parse().ok().and_then(|id: u64| s.activities.get(&id)) {
            Some(a) => ok(a.clone()),
            None => api_error(StatusCode::NOT_FOUND, "Activity not found"),
        },
        ("PATCH", ["api", "v2", "activities", id]) => match id.parse::<u64>() {
            Ok(id) if s.activities.contains_key(&id) => upsert_activity(s, Some(id), body),
            _ => api_error(StatusCode::NOT_FOUND, "Activity not found"),
        },
        _ => api_error(StatusCode::NOT_FOUND, &format!("Unknown method {method} {path}")),
    }
}

fn person_json(p: &Person) -> Value {
    let (first, last) = p.name.split_once(' ').unwrap_or((&p.name, ""));
    json!({
        "id": p.id, "name": p.name, "first_name": first, "last_name": last, "owner_id": USER_ID,
        "org_id": p.org.as_ref().map(|o| o.0),
        "phones": p.phones.iter().map(|ph| json!({"value": ph.value, "primary": ph.primary, "label": ph.label})).collect::<Vec<_>>(),
        "emails": [], "visible_to": 3, "add_time": "2024-01-01T00:00:00Z", "update_time": "2024-01-01T00:00:00Z",
        "is_deleted": false, "label_ids": [], "picture_id": null
    })
}

fn search_persons(s: &FakeState, q: &[(String, String)]) -> Response {
    let get = |k: &str| q.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
    let Some(term) = get("term") else {
        return api_error(StatusCode::BAD_REQUEST, "term is required");
    };
    let exact = match get("exact_match") {
        None | Some("false") => false,
        Some("true") => true,
        Some(_) => return api_error(StatusCode::BAD_REQUEST, "exact_match must be a boolean"),
    };
    if term.chars().count() < if exact { 1 } else { 2 } {
        return api_error(StatusCode::BAD_REQUEST, "term must be at least 2 characters (1 with exact_match)");
    }
    let allowed = ["name", "email", "phone", "notes", "custom_fields"];
    let fields: Vec<&str> = get("fields").map(|f| f.split(',').map(str::trim).collect()).unwrap_or(allowed.to_vec());
    if let Some(bad) = fields.iter().find(|f| !allowed.contains(f)) {
        return api_error(StatusCode::BAD_REQUEST, &format!("Unknown field {bad:?}"));
    }
    let matches = |v: &str| {
        if exact { v.eq_ignore_ascii_case(term) } else { v.to_lowercase().contains(&term.to_lowercase()) }
    };
    let hits: Vec<&Person> = s
        .persons
        .iter()
        .filter(|p| {
            (fields.contains(&"phone") && p.phones.iter().any(|ph| matches(&ph.value)))
                || (fields.contains(&"name") && matches(&p.name))
        })
        .collect();
    let (chunk, next) = match page(s, &hits, q) {
        Ok(p) => p,
        Err(r) => return *r,
    };
    let items: Vec<Value> = chunk
        .iter()
        .map(|p| {
            json!({"result_score": 0.87, "item": {
                "id": p.id, "type": "person", "name": p.name,
                "phones": p.phones.iter().map(|ph| ph.value.clone()).collect::<Vec<_>>(),
                "emails": [], "visible_to": 3, "owner": {"id": USER_ID},
                "organization": p.org.as_ref().map(|(id, name)| json!({"id": id, "name": name, "address": null})),
                "custom_fields": [], "notes": [], "update_time": "2024-01-01T00:00:00Z"}})
        })
        .collect();
    ok_paged(json!({"items": items}), next)
}

fn refuse_unknown(body: &Value, allowed: &[&str]) -> Option<Response> {
    let Some(obj) = body.as_object() else {
        return Some(api_error(StatusCode::BAD_REQUEST, "The body must be a JSON object"));
    };
    obj.keys()
        .find(|k| !allowed.contains(&k.as_str()))
        .map(|k| api_error(StatusCode::BAD_REQUEST, &format!("Unknown field {k:?}")))
}

fn add_person(s: &mut FakeState, body: &Value) -> Response {
    let allowed = [
        "name",
        "owner_id",
        "org_id",
        "add_time",
        "update_time",
        "emails",
        "phones",
        "visible_to",
        "label_ids",
        "marketing_status",
        "custom_fields",
    ];
    if let Some(r) = refuse_unknown(body, &allowed) {
        return r;
    }
    let Some(name) = body["name"].as_str().filter(|n| !n.trim().is_empty()) else {
        return api_error(StatusCode::BAD_REQUEST, "Name must be given");
    };
    let mut phones = Vec::new();
    for p in body["phones"].as_array().into_iter().flatten() {
        let (Some(value), primary) = (p["value"].as_str(), p["primary"].as_bool().unwrap_or(false)) else {
            return api_error(StatusCode::BAD_REQUEST, "phones[].value must be a string");
        };
        let label = p["label"].as_str().unwrap_or("work");
        if !["work", "home", "mobile", "other"].contains(&label) {
            return api_error(StatusCode::BAD_REQUEST, "phones[].label must be work, home, mobile or other");
        }
        phones.push(Phone { value: value.into(), label: label.into(), primary });
    }
    let id = s.id();
    let person = Person { id, name: name.trim().into(), phones, org: None };
    let out = person_json(&person);
    s.persons.push(person);
    ok(out)
}

fn list_deals(s: &FakeState, q: &[(String, String)]) -> Response {
    let get = |k: &str| q.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
    let person = match get("person_id").map(str::parse::<u64>) {
        None => None,
        Some(Ok(id)) => Some(id),
        Some(Err(_)) => return api_error(StatusCode::BAD_REQUEST, "person_id must be an integer"),
    };
    let statuses: Vec<&str> = get("status").map(|s| s.split(',').collect()).unwrap_or(vec!["open", "won", "lost"]);
    if statuses.iter().any(|st| !["open", "won", "lost", "deleted"].contains(st)) {
        return api_error(StatusCode::BAD_REQUEST, "status must be open, won, lost or deleted");
    }
    let deals: Vec<&Deal> = s
        .deals
        .iter()
        .filter(|d| person.is_none_or(|p| d.person_id == p) && statuses.contains(&d.status.as_str()))
        .collect();
    let (chunk, next) = match page(s, &deals, q) {
        Ok(p) => p,
        Err(r) => return *r,
    };
    let data: Vec<Value> = chunk
        .iter()
        .map(|d| {
            json!({"id": d.id, "title": d.title, "owner_id": USER_ID, "person_id": d.person_id, "org_id": null,
                   "pipeline_id": 1, "stage_id": 1, "value": 1000, "currency": "USD", "status": d.status,
                   "add_time": "2024-01-01T00:00:00Z", "update_time": "2024-01-01T00:00:00Z", "is_deleted": false})
        })
        .collect();
    ok_paged(Value::Array(data), next)
}

fn list_leads(s: &FakeState, q: &[(String, String)]) -> Response {
    let get = |k: &str| q.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
    let person = match get("person_id").map(str::parse::<u64>) {
        None => None,
        Some(Ok(id)) => Some(id),
        Some(Err(_)) => return api_error(StatusCode::BAD_REQUEST, "person_id must be an integer"),
    };
    let start: usize = get("start").and_then(|v| v.parse().ok()).unwrap_or(0);
    let limit: usize = get("limit").and_then(|v| v.parse().ok()).unwrap_or(100).clamp(1, 500);
    let leads: Vec<&Lead> = s.leads.iter().filter(|l| person.is_none_or(|p| l.person_id == p)).collect();
    let data: Vec<Value> = leads
        .iter()
        .skip(start)
        .take(limit)
        .map(|l| {
            json!({"id": l.id, "title": l.title, "owner_id": USER_ID, "creator_id": USER_ID, "label_ids": [],
                   "person_id": l.person_id, "organization_id": null, "source_name": "API", "is_archived": false,
                   "was_seen": true, "value": null, "expected_close_date": null, "next_activity_id": null,
                   "add_time": "2024-01-01T00:00:00.000Z", "update_time": "2024-01-01T00:00:00.000Z",
                   "visible_to": "3", "cc_email": "acme+lead@pipedrivemail.com"})
        })
        .collect();
    json_response(
        StatusCode::OK,
        json!({"success": true, "data": data, "additional_data": {"pagination": {
            "start": start, "limit": limit, "more_items_in_collection": start + limit < leads.len()}}}),
    )
}

/// `GET /api/v2/activities`: filtered by `person_id` (the person or a
/// participant) and `owner_id`, sorted, one cursor page.
fn list_activities(s: &FakeState, q: &[(String, String)]) -> Response {
    let get = |k: &str| q.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
    let number = |k: &str| get(k).map(str::parse::<u64>).transpose();
    let (Ok(person), Ok(owner)) = (number("person_id"), number("owner_id")) else {
        return api_error(StatusCode::BAD_REQUEST, "person_id and owner_id must be integers");
    };
    let sort_by = get("sort_by").unwrap_or("id");
    if !["id", "update_time", "add_time", "due_date"].contains(&sort_by) {
        return api_error(StatusCode::BAD_REQUEST, "sort_by must be id, update_time, add_time or due_date");
    }
    let descending = match get("sort_direction") {
        None | Some("asc") => false,
        Some("desc") => true,
        Some(_) => return api_error(StatusCode::BAD_REQUEST, "sort_direction must be asc or desc"),
    };
    let linked = |a: &Value, p: u64| {
        a["person_id"] == p || a["participants"].as_array().is_some_and(|ps| ps.iter().any(|x| x["person_id"] == p))
    };
    let mut found: Vec<Value> = s
        .activities
        .values()
        .filter(|a| person.is_none_or(|p| linked(a, p)) && owner.is_none_or(|o| a["owner_id"] == o))
        .cloned()
        .collect();
    let sort_key = |a: &Value| (a[sort_by].to_string(), a["id"].as_u64().unwrap_or(0));
    found.sort_by_key(sort_key);
    if descending {
        found.reverse();
    }
    match page(s, &found, q) {
        Ok((chunk, next)) => ok_paged(Value::Array(chunk), next),
        Err(r) => *r,
    }
}

fn is_date(v: &str) -> bool {
    let b = v.as_bytes();
    b.len() == 10 && b[4] == b'-' && b[7] == b'-' && v.chars().filter(char::is_ascii_digit).count() == 8
}

fn is_hh_mm(v: &str) -> bool {
    let b = v.as_bytes();
    b.len() == 5
        && b[2] == b':'
        && v.chars().filter(char::is_ascii_digit).count() == 4
        && v[3..].parse::<u32>().is_ok_and(|m| m < 60)
}

/// `POST /api/v2/activities` (`id` is `None`) and `PATCH /api/v2/activities/{id}`.
fn upsert_activity(s: &mut FakeState, id: Option<u64>, body: &Value) -> Response {
    let allowed = [
        "subject",
        "type",
        "owner_id",
        "deal_id",
        "lead_id",
        "person_id",
        "org_id",
        "project_id",
        "due_date",
        "due_time",
        "duration",
        "busy",
        "done",
        "location",
        "participants",
        "attendees",
        "public_description",
        "priority",
        "note",
    ];
    if let Some(r) = refuse_unknown(body, &allowed) {
        return r;
    }
    let bad = |m: &str| api_error(StatusCode::BAD_REQUEST, m);
    if body.get("person_id").is_some() {
        return bad("'person_id' is a read-only field. Add a primary participant to set 'person_id' instead.");
    }
    if let Some(t) = body.get("type") {
        let known = t.as_str().is_some_and(|t| s.activity_types.iter().any(|at| at.active && at.key_string == t));
        if !known {
            return bad("type must be the key_string of an active activity type");
        }
    }
    for (field, check) in [("due_date", is_date as fn(&str) -> bool), ("due_time", is_hh_mm), ("duration", is_hh_mm)] {
        if body.get(field).filter(|v| !v.is_null()).is_some_and(|v| !v.as_str().is_some_and(check)) {
            return bad(&format!("{field} has the wrong format"));
        }
    }
    if body.get("done").is_some_and(|d| !d.is_boolean()) {
        return bad("done must be a boolean");
    }
    let deal_known = |d: &Value| d.as_u64().is_some_and(|d| s.deals.iter().any(|x| x.id == d));
    if body.get("deal_id").filter(|v| !v.is_null()).is_some_and(|d| !deal_known(d)) {
        return bad("deal_id does not exist");
    }
    let lead_known = |l: &Value| l.as_str().is_some_and(|l| s.leads.iter().any(|x| x.id == l));
    if body.get("lead_id").filter(|v| !v.is_null()).is_some_and(|l| !lead_known(l)) {
        return bad("lead_id does not exist");
    }
    let mut participants = None;
    if let Some(ps) = body.get("participants") {
        let Some(list) = ps.as_array() else {
            return bad("participants must be an array");
        };
        let mut out = Vec::new();
        for p in list {
            if p.get("primary_flag").is_some() {
                return bad("participants[].primary_flag is not accepted: use primary");
            }
            let Some(pid) = p["person_id"].as_u64().filter(|pid| s.person(*pid).is_some()) else {
                return bad("participants[].person_id must be an existing person's id");
            };
            out.push(json!({"person_id": pid, "primary_flag": p["primary"].as_bool().unwrap_or(false)}));
        }
        participants = Some(out);
    }

    let now = s.tick();
    let id = id.unwrap_or_else(|| s.id());
    let activity = s.activities.entry(id).or_insert_with(|| {
        json!({"id": id, "subject": "Call", "type": "call", "owner_id": USER_ID, "creator_user_id": USER_ID,
               "is_deleted": false, "add_time": now, "update_time": now, "deal_id": null, "lead_id": null,
               "person_id": null, "org_id": null, "project_id": null, "due_date": null, "due_time": null,
               "duration": null, "busy": false, "done": false, "marked_as_done_time": null, "location": null,
               "participants": [], "attendees": null, "public_description": null, "priority": null, "note": null})
    });
    for (k, v) in body.as_object().into_iter().flatten() {
        if k != "participants" {
            activity[k] = v.clone();
        }
    }
    if let Some(ps) = participants {
        let primary = ps.iter().find(|p| p["primary_flag"] == true).or(ps.first()).map(|p| p["person_id"].clone());
        activity["person_id"] = primary.unwrap_or(Value::Null);
        activity["participants"] = Value::Array(ps);
    }
    if body.get("done") == Some(&Value::Bool(true)) {
        activity["marked_as_done_time"] = json!(now);
    }
    activity["update_time"] = json!(now);
    ok(activity.clone())
}
