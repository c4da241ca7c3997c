//! A fake Jira Cloud: Atlassian's OAuth 2.0 (3LO) authorization server
//! (`auth.atlassian.com`) and its API gateway (`api.atlassian.com`) in one
//! real HTTP server on a loopback port. The tests map both origins to it with
//! upstream overrides.
//!
//! | route                                                       | answer                                   |
//! |-------------------------------------------------------------|------------------------------------------|
//! | `GET /authorize`                                            | 302 to `redirect_uri?code=&state=` (consents at once) |
//! | `POST /oauth/token` (form or JSON body, client in the body) | `{access_token, expires_in, token_type, refresh_token, scope}`; refresh tokens rotate, a used one is 403 `invalid_grant` |
//! | `GET /oauth/token/accessible-resources`                     | `[{id, url, name, scopes, avatarUrl}]`   |
//! | `GET  /ex/jira/{cloudId}/rest/api/3/myself`                 | the user                                 |
//! | `POST /ex/jira/{cloudId}/rest/api/3/search/jql`             | `{issues, nextPageToken?, isLast}`; a small JQL evaluator, 400 for what it (or Jira) does not accept |
//! | `POST /ex/jira/{cloudId}/rest/api/3/issue`                  | 201 `{id, key, self}` / 400 `{errorMessages, errors}` |
//! | `POST /ex/jira/{cloudId}/rest/api/3/issue/{idOrKey}/comment`| 201 comment (the body must be valid ADF; `properties: [{key, value}]` stored with it, a key of 1..=255 characters) |
//! | `GET .../issue/{idOrKey}/comment?startAt&maxResults&orderBy`| `{startAt, maxResults, total, comments}`, `orderBy` one of `created`, `+created`, `-created` |
//! | `GET|PUT .../issue/{idOrKey}/comment/{id}`                  | the comment / 404                        |
//! | `POST .../comment/list?expand=properties` `{ids: [n, ...]}` | `{startAt, maxResults, total, isLast, values}`, each with its `properties` when expanded; 1 to 1000 numeric ids, else 400 |
//!
//! Every gateway route needs a live `Authorization: Bearer` access token
//! (401 `{code, message}` otherwise); an unknown cloud id is 404; unknown
//! paths are 404. `throttle_next` makes the gateway answer 429 with
//! `Retry-After`, `X-RateLimit-*` and `RateLimit-Reason`, as Jira does.
//! Every request is recorded for assertions. `set_answer_delay` makes the
//! comment creates answer late, after they were made (a CRM that answers after
//! the host's timeout).
//!
//! One long file: a fake is one server whose handlers share one state; it mirrors Jira's paths one
//! by one (and its small JQL evaluator), read side by side with the adapter's `wire.rs`.
#![allow(dead_code, clippy::result_large_err)]

use axum::body::Bytes;
use axum::extract::{Path, Query, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::{Map, Value, json};
use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime};

pub const CLIENT_ID: &str = "jira-test-client";
pub const CLIENT_SECRET: &str = "jira-test-client-secret";
pub const CLOUD_ID: &str = "11223344-a1b2-3b33-c444-def123456789";
pub const SITE: &str = "https://rebels.atlassian.net";
pub const ACCOUNT_ID: &str = "5b10ac8d82e05b22cc7d4ef5";
pub const USER_NAME: &str = "Ada Lovelace";
/// The text custom field holding phone numbers (its JQL name is `cf[10050]`).
pub const PHONE_FIELD: &str = "customfield_10050";
pub const PHONE_FIELD_NAME: &str = "Phone";
pub const RATE_LIMIT: u32 = 100;

#[derive(Debug, Clone)]
pub struct Seen {
    pub method: String,
    pub path: String,
    pub query: String,
    pub authorization: Option<String>,
    pub content_type: Option<String>,
    pub body: Value,
}

#[derive(Debug, Clone)]
pub struct FakeComment {
    pub id: u64,
    pub body: Value,
    pub created: String,
    pub updated: String,
    /// The author's accountId.
    pub author: String,
    /// The comment's entity properties, `{key, value}`.
    pub properties: Vec<Value>,
}

#[derive(Debug, Clone)]
pub struct FakeIssue {
    pub id: u64,
    pub key: String,
    pub project: String,
    pub issue_type: String,
    pub summary: String,
    pub phone: Option<String>,
    pub comments: Vec<FakeComment>,
}

#[derive(Debug)]
struct Grant {
    redirect_uri: String,
    scope: String,
}

#[derive(Debug, Default)]
pub struct JiraState {
    // --- auth.atlassian.com
    codes: HashMap<String, Grant>,
    /// access token → expiry
    access: HashMap<String, Instant>,
    /// current refresh token → granted scope (rotated on every use)
    refresh: HashMap<String, String>,
    /// Every refresh token presented at the token endpoint, in order.
    pub refresh_uses: Vec<String>,
    /// Token endpoint calls, by grant type.
    pub token_calls: HashMap<String, u32>,
    /// Refresh attempts with an unknown or already used refresh token.
    pub invalid_grants: u32,
    /// Lifetime of the next access tokens issued (Atlassian: 3600 s).
    pub expires_in: u64,
    /// The query of every `/authorize` request.
    pub authorize_queries: Vec<HashMap<String, String>>,
    /// How the client sent its credentials and body at the token endpoint.
    pub token_content_types: Vec<String>,
    // --- api.atlassian.com
    /// project key → (id, name, issue types)
    pub projects: BTreeMap<String, (u64, String, Vec<String>)>,
    pub issues: Vec<FakeIssue>,
    next_issue: u64,
    next_comment: u64,
    /// nextPageToken → (jql, offset)
    page_tokens: HashMap<String, (String, usize)>,
    /// Largest page the search answers (Jira may answer fewer than maxResults).
    pub page_size: usize,
    pub seen: Vec<Seen>,
    /// Answer the next N gateway requests with 429.
    pub throttle_next: u32,
    pub retry_after_secs: u32,
    /// How long after making a comment (`POST .../issue/{key}/comment`) the fake answers.
    pub answer_delay: Duration,
}

pub type Shared = Arc<Mutex<JiraState>>;

fn lock(s: &Shared) -> MutexGuard<'_, JiraState> {
    s.lock().unwrap_or_else(|p| p.into_inner())
}

#[derive(Clone)]
pub struct FakeJira {
    pub addr: SocketAddr,
    state: Shared,
}

impl FakeJira {
    pub async fn start() -> FakeJira {
        let state = Arc::new(Mutex::new(JiraState {
            expires_in: 3600,
            next_issue: 10000,
            next_comment: 10100,
            page_size: 50,
            retry_after_secs: 7,
            ..Default::default()
        }));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind the fake Jira");
        let addr = listener.local_addr().unwrap();
        let fake = FakeJira { addr, state: state.clone() };
        fake.seed();
        let app = router(state);
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        fake
    }

    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn state(&self) -> MutexGuard<'_, JiraState> {
        lock(&self.state)
    }

    fn seed(&self) {
        let mut s = self.state();
        s.projects.insert("CRM".into(), (10000, "Rebel contacts".into(), vec!["Task".into(), "Customer".into()]));
        s.projects.insert("OPS".into(), (10001, "Operations".into(), vec!["Task".into(), "Bug".into()]));
        drop(s);
        self.add_issue("CRM", "Luke Skywalker", Some("+16505551212"));
        // Stored the way a person types it: found through overridingFormat.
        self.add_issue("CRM", "Leia Organa", Some("(650) 555-0100"));
        self.add_issue("CRM", "Death Star plans", None);
        // The same number in another project: not a contact.
        self.add_issue("OPS", "Call Luke about the droids", Some("+16505551212"));
    }

    /// Adds an issue; returns its key.
    pub fn add_issue(&self, project: &str, summary: &str, phone: Option<&str>) -> String {
        let mut s = self.state();
        s.next_issue += 1;
        let id = s.next_issue;
        let n = s.issues.iter().filter(|i| i.project == project).count() + 1;
        let key = format!("{project}-{n}");
        s.issues.push(FakeIssue {
            id,
            key: key.clone(),
            project: project.into(),
            issue_type: "Task".into(),
            summary: summary.into(),
            phone: phone.map(str::to_owned),
            comments: Vec::new(),
        });
        key
    }

    pub fn issue(&self, key: &str) -> Option<FakeIssue> {
        self.state().issues.iter().find(|i| i.key == key).cloned()
    }

    /// Requests seen whose path starts with `prefix`.
    pub fn seen(&self, prefix: &str) -> Vec<Seen> {
        self.state().seen.iter().filter(|r| r.path.starts_with(prefix)).cloned().collect()
    }

    pub fn throttle_next(&self, n: u32, retry_after_secs: u32) {
        let mut s = self.state();
        s.throttle_next = n;
        s.retry_after_secs = retry_after_secs;
    }

    /// A comment by someone else (`author`, an accountId) on an issue.
    pub fn add_comment_by(&self, key: &str, author: &str, text: &str) {
        let mut s = self.state();
        s.next_comment += 1;
        let id = s.next_comment;
        let now = now_jira();
        let body = json!({"type": "doc", "version": 1, "content": [{"type": "paragraph", "content": [{"type": "text", "text": text}]}]});
        let comment =
            FakeComment { id, body, created: now.clone(), updated: now, author: author.into(), properties: vec![] };
        find_issue(&mut s, key).expect("the issue exists").comments.push(comment);
    }

    /// Comment creates are made at once and answered `delay` later.
    pub fn set_answer_delay(&self, delay: Duration) {
        self.state().answer_delay = delay;
    }

    /// Every access token stops working at once (as when they expire).
    pub fn expire_access_tokens(&self) {
        self.state().access.clear();
    }

    /// Every access and refresh token currently valid.
    pub fn current_tokens(&self) -> Vec<String> {
        let s = self.state();
        s.access.keys().chain(s.refresh.keys()).cloned().collect()
    }
}

pub fn api_prefix() -> String {
    format!("/ex/jira/{CLOUD_ID}/rest/api/3")
}

fn router(state: Shared) -> Router {
    let api = Router::new()
        .route("/oauth/token/accessible-resources", get(accessible_resources))
        .route("/ex/jira/{cloud}/rest/api/3/myself", get(myself))
        .route("/ex/jira/{cloud}/rest/api/3/search/jql", post(search))
        .route("/ex/jira/{cloud}/rest/api/3/issue", post(create_issue))
        .route("/ex/jira/{cloud}/rest/api/3/issue/{issue}/comment", get(list_comments).post(add_comment))
        .route("/ex/jira/{cloud}/rest/api/3/comment/list", post(comments_by_id))
        .route("/ex/jira/{cloud}/rest/api/3/issue/{issue}/comment/{id}", get(get_comment).put(update_comment))
        .layer(axum::middleware::from_fn_with_state(state.clone(), gate));
    Router::new()
        .route("/authorize", get(authorize))
        .route("/oauth/token", post(token))
        .merge(api)
        .fallback(|| async { gateway_error(StatusCode::NOT_FOUND, "Not Found") })
        .with_state(state)
}

// ------------------------------------------------------------------ errors

/// The gateway's own errors (bad token, unknown site).
fn gateway_error(status: StatusCode, message: &str) -> Response {
    (status, Json(json!({"code": status.as_u16(), "message": message}))).into_response()
}

/// Jira's errors: `{errorMessages: [...], errors: {field: message}}`.
fn jira_error(status: StatusCode, messages: &[&str], errors: &[(&str, &str)]) -> Response {
    let errors: Map<String, Value> = errors.iter().map(|(k, v)| ((*k).to_owned(), json!(v))).collect();
    (status, Json(json!({"errorMessages": messages, "errors": errors, "warningMessages": []}))).into_response()
}

fn oauth_error(status: StatusCode, error: &str, description: &str) -> Response {
    (status, Json(json!({"error": error, "error_description": description}))).into_response()
}

// ------------------------------------------------------------------ auth.atlassian.com

async fn authorize(State(state): State<Shared>, Query(q): Query<HashMap<String, String>>) -> Response {
    lock(&state).authorize_queries.push(q.clone());
    let get = |k: &str| q.get(k).map(String::as_str).unwrap_or_default();
    if get("audience") != "api.atlassian.com" {
        return (StatusCode::BAD_REQUEST, "audience=api.atlassian.com is required").into_response();
    }
    if get("client_id") != CLIENT_ID || get("response_type") != "code" {
        return (StatusCode::BAD_REQUEST, "unknown client_id or response_type is not code").into_response();
    }
    let redirect_uri = get("redirect_uri").to_owned();
    if redirect_uri.is_empty() || get("scope").is_empty() {
        return (StatusCode::BAD_REQUEST, "redirect_uri and scope are required").into_response();
    }
    let mut s = lock(&state);
    let code = format!("code-{}", uuid::Uuid::new_v4().simple());
    s.codes.insert(code.clone(), Grant { redirect_uri: redirect_uri.clone(), scope: get("scope").to_owned() });
    let mut to = url::Url::parse(&redirect_uri).expect("redirect_uri is a URL");
    to.query_pairs_mut().append_pair("code", &code).append_pair("state", get("state"));
    Redirect::to(to.as_str()).into_response()
}

fn issue_tokens(s: &mut JiraState, scope: &str) -> Response {
    let access = format!("at-{}", uuid::Uuid::new_v4().simple());
    s.access.insert(access.clone(), Instant::now() + Duration::from_secs(s.expires_in));
    let mut body = json!({
        "access_token": access,
        "expires_in": s.expires_in,
        "token_type": "Bearer",
        "scope": scope,
    });
    if scope.split(' ').any(|x| x == "offline_access") {
        let refresh = format!("rt-{}", uuid::Uuid::new_v4().simple());
        s.refresh.insert(refresh.clone(), scope.to_owned());
        body["refresh_token"] = json!(refresh);
    }
    Json(body).into_response()
}

/// Atlassian documents a JSON body; the host's OAuth client sends the usual
/// form-encoded one: both are accepted. The client authenticates in the body.
async fn token(State(state): State<Shared>, headers: HeaderMap, body: Bytes) -> Response {
    let content_type = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned();
    let fields: HashMap<String, String> = if content_type.starts_with("application/json") {
        match serde_json::from_slice::<Map<String, Value>>(&body) {
            Ok(m) => m.into_iter().filter_map(|(k, v)| v.as_str().map(|v| (k, v.to_owned()))).collect(),
            Err(_) => return oauth_error(StatusCode::BAD_REQUEST, "invalid_request", "body is not JSON"),
        }
    } else if content_type.starts_with("application/x-www-form-urlencoded") {
        url::form_urlencoded::parse(&body).into_owned().collect()
    } else {
        return oauth_error(StatusCode::BAD_REQUEST, "invalid_request", "unsupported content type");
    };
    let get = |k: &str| fields.get(k).map(String::as_str).unwrap_or_default();
    let mut s = lock(&state);
    s.token_content_types.push(content_type);
    *s.token_calls.entry(get("grant_type").to_owned()).or_default() += 1;
    if get("client_id") != CLIENT_ID || get("client_secret") != CLIENT_SECRET {
        return oauth_error(StatusCode::UNAUTHORIZED, "access_denied", "Unauthorized");
    }
    match get("grant_type") {
        "authorization_code" => {
            let Some(grant) = s.codes.remove(get("code")) else {
                return oauth_error(StatusCode::FORBIDDEN, "invalid_grant", "Invalid authorization code");
            };
            if get("redirect_uri") != grant.redirect_uri {
                return oauth_error(StatusCode::FORBIDDEN, "invalid_grant", "redirect_uri does not match");
            }
            issue_tokens(&mut s, &grant.scope)
        }
        "refresh_token" => {
            let presented = get("refresh_token").to_owned();
            s.refresh_uses.push(presented.clone());
            // Rotation: the token is spent whether or not the client keeps the new one.
            let Some(scope) = s.refresh.remove(&presented) else {
                s.invalid_grants += 1;
                return oauth_error(StatusCode::FORBIDDEN, "invalid_grant", "Unknown or invalid refresh token.");
            };
            issue_tokens(&mut s, &scope)
        }
        _ => oauth_error(StatusCode::BAD_REQUEST, "unsupported_grant_type", "Unsupported grant type"),
    }
}

// ------------------------------------------------------------------ the gateway

/// `yyyy-MM-ddTHH:mmZ`, the format of `X-RateLimit-Reset`.
fn iso_minute(t: SystemTime) -> String {
    let secs = t.duration_since(SystemTime::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0) as i64;
    let (days, rem) = (secs.div_euclid(86400), secs.rem_euclid(86400));
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!("{y:04}-{m:02}-{d:02}T{:02}:{:02}Z", rem / 3600, rem % 3600 / 60)
}

/// Records the request, then: bearer token (401), cloud id (404), throttle (429).
async fn gate(State(state): State<Shared>, req: Request, next: Next) -> Response {
    let (parts, body) = req.into_parts();
    let bytes = axum::body::to_bytes(body, 1 << 20).await.unwrap_or_default();
    let header_str = |h: header::HeaderName| parts.headers.get(h).and_then(|v| v.to_str().ok()).map(str::to_owned);
    let authorization = header_str(header::AUTHORIZATION);
    let path = parts.uri.path().to_owned();
    let throttled = {
        let mut s = lock(&state);
        s.seen.push(Seen {
            method: parts.method.to_string(),
            path: path.clone(),
            query: parts.uri.query().unwrap_or_default().to_owned(),
            authorization: authorization.clone(),
            content_type: header_str(header::CONTENT_TYPE),
            body: serde_json::from_slice(&bytes).unwrap_or(Value::Null),
        });
        let live = authorization
            .as_deref()
            .and_then(|a| a.strip_prefix("Bearer "))
            .and_then(|t| s.access.get(t))
            .is_some_and(|exp| *exp > Instant::now());
        if !live {
            return gateway_error(StatusCode::UNAUTHORIZED, "Unauthorized");
        }
        if let Some(rest) = path.strip_prefix("/ex/jira/")
            && rest.split('/').next() != Some(CLOUD_ID)
        {
            return gateway_error(StatusCode::NOT_FOUND, "Not Found");
        }
        (s.throttle_next > 0).then(|| {
            s.throttle_next -= 1;
            s.retry_after_secs
        })
    };
    if let Some(retry_after) = throttled {
        let mut r = jira_error(StatusCode::TOO_MANY_REQUESTS, &["Rate limit exceeded."], &[]);
        let h = r.headers_mut();
        h.insert("retry-after", HeaderValue::from(retry_after));
        h.insert("x-ratelimit-limit", HeaderValue::from(RATE_LIMIT));
        h.insert("x-ratelimit-remaining", HeaderValue::from(0));
        let reset = iso_minute(SystemTime::now() + Duration::from_secs(u64::from(retry_after)));
        h.insert("x-ratelimit-reset", HeaderValue::from_str(&reset).unwrap());
        h.insert("ratelimit-reason", HeaderValue::from_static("jira-burst-based"));
        return r;
    }
    let creates_comment = parts.method == axum::http::Method::POST && path.ends_with("/comment");
    let mut response = next.run(Request::from_parts(parts, axum::body::Body::from(bytes))).await;
    response.headers_mut().insert("x-ratelimit-limit", HeaderValue::from(RATE_LIMIT));
    let delay = if creates_comment { lock(&state).answer_delay } else { Duration::ZERO };
    if !delay.is_zero() {
        tokio::time::sleep(delay).await;
    }
    response
}

fn site_url() -> String {
    format!("https://api.atlassian.com/ex/jira/{CLOUD_ID}/rest/api/3")
}

async fn accessible_resources() -> Json<Value> {
    Json(json!([
        {"id": "c0ffee00-0000-4000-8000-00000000c0f1", "url": SITE, "name": "rebels",
         "scopes": ["read:confluence-content.all"], "avatarUrl": "https://site-admin-avatar-cdn.prod.public.atl-paas.net/avatars/240/rocket.png"},
        {"id": CLOUD_ID, "url": SITE, "name": "rebels",
         "scopes": ["read:jira-work", "write:jira-work", "read:jira-user"], "avatarUrl": "https://site-admin-avatar-cdn.prod.public.atl-paas.net/avatars/240/rocket.png"},
        {"id": "99999999-0000-4000-8000-000000000000", "url": "https://empire.atlassian.net", "name": "empire",
         "scopes": ["read:jira-work", "write:jira-work", "read:jira-user"], "avatarUrl": "https://site-admin-avatar-cdn.prod.public.atl-paas.net/avatars/240/star.png"}
    ]))
}

fn user_json() -> Value {
    json!({
        "self": format!("{}/user?accountId={ACCOUNT_ID}", site_url()),
        "accountId": ACCOUNT_ID,
        "accountType": "atlassian",
        "emailAddress": "ada@rebels.example",
        "displayName": USER_NAME,
        "active": true,
        "timeZone": "Europe/London",
        "locale": "en_GB",
    })
}

async fn myself() -> Json<Value> {
    Json(user_json())
}

// ------------------------------------------------------------------ JQL

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Word(String),
    Str(String),
    Op(&'static str),
    Open,
    Close,
    Comma,
}

fn jql_tokens(jql: &str) -> Result<Vec<Tok>, String> {
    let mut out = Vec::new();
    let chars: Vec<char> = jql.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        match c {
            c if c.is_whitespace() => i += 1,
            '(' | ')' | ',' => {
                out.push(match c {
                    '(' => Tok::Open,
                    ')' => Tok::Close,
                    _ => Tok::Comma,
                });
                i += 1;
            }
            '"' | '\'' => {
                let mut s = String::new();
                i += 1;
                loop {
                    let Some(&d) = chars.get(i) else {
                        return Err(format!("The quoted string '{s}' has not been completed."));
                    };
                    i += 1;
                    match d {
                        '\\' => {
                            let Some(&e) = chars.get(i) else { return Err("Illegal escape at the end".into()) };
                            i += 1;
                            s.push(match e {
                                'n' => '\n',
                                't' => '\t',
                                'r' => '\r',
                                '"' | '\'' | '\\' | ' ' => e,
                                other => return Err(format!("Illegal escape sequence '\\{other}'")),
                            });
                        }
                        d if d == c => break,
                        d => s.push(d),
                    }
                }
                out.push(Tok::Str(s));
            }
            '!' | '=' | '~' | '<' | '>' => {
                let two: String = chars[i..(i + 2).min(chars.len())].iter().collect();
                let op = ["!=", "!~", ">=", "<="].into_iter().find(|o| *o == two);
                let op = match op {
                    Some(o) => o,
                    None => match c {
                        '=' => "=",
                        '~' => "~",
                        '<' => "<",
                        '>' => ">",
                        _ => return Err("Expecting an operator after '!'".into()),
                    },
                };
                i += op.len();
                out.push(Tok::Op(op));
            }
            _ => {
                let start = i;
                while i < chars.len() && !chars[i].is_whitespace() && !"()=!~<>,\"'".contains(chars[i]) {
                    i += 1;
                }
                let word: String = chars[start..i].iter().collect();
                if let Some(bad) = word.chars().find(|c| "+;?|*/%^$#@[]".contains(*c)) {
                    // Brackets are allowed in cf[N] only.
                    let cf = word.starts_with("cf[")
                        && word.ends_with(']')
                        && word[3..word.len() - 1].bytes().all(|b| b.is_ascii_digit());
                    if !cf {
                        return Err(format!(
                            "The character '{bad}' is a reserved JQL character. You must enclose it in a string or use the escape '\\u{:04x}' instead.",
                            bad as u32
                        ));
                    }
                }
                out.push(Tok::Word(word));
            }
        }
    }
    Ok(out)
}

#[derive(Debug)]
enum Expr {
    And(Box<Expr>, Box<Expr>),
    Or(Box<Expr>, Box<Expr>),
    Not(Box<Expr>),
    Clause { field: String, op: &'static str, value: String },
}

struct Parser {
    toks: Vec<Tok>,
    at: usize,
}

impl Parser {
    fn peek_keyword(&self, kw: &str) -> bool {
        matches!(self.toks.get(self.at), Some(Tok::Word(w)) if w.eq_ignore_ascii_case(kw))
    }

    fn or(&mut self) -> Result<Expr, String> {
        let mut left = self.and()?;
        while self.peek_keyword("or") {
            self.at += 1;
            left = Expr::Or(Box::new(left), Box::new(self.and()?));
        }
        Ok(left)
    }

    fn and(&mut self) -> Result<Expr, String> {
        let mut left = self.unary()?;
        while self.peek_keyword("and") {
            self.at += 1;
            left = Expr::And(Box::new(left), Box::new(self.unary()?));
        }
        Ok(left)
    }

    fn unary(&mut self) -> Result<Expr, String> {
        if self.peek_keyword("not") {
            self.at += 1;
            return Ok(Expr::Not(Box::new(self.unary()?)));
        }
        match self.toks.get(self.at).cloned() {
            Some(Tok::Open) => {
                self.at += 1;
                let e = self.or()?;
                if self.toks.get(self.at) != Some(&Tok::Close) {
                    return Err("Expecting ')' before the end of the query.".into());
                }
                self.at += 1;
                Ok(e)
            }
            Some(Tok::Word(field)) | Some(Tok::Str(field)) => {
                self.at += 1;
                let op = match self.toks.get(self.at) {
                    Some(Tok::Op(op)) => *op,
                    Some(Tok::Word(w)) if ["in", "is", "was", "changed"].contains(&w.to_lowercase().as_str()) => {
                        return Err(format!("The fake Jira does not support the '{w}' operator"));
                    }
                    _ => return Err(format!("Expecting operator but got the end of the query after '{field}'.")),
                };
                self.at += 1;
                let value = match self.toks.get(self.at) {
                    Some(Tok::Word(v)) | Some(Tok::Str(v)) => v.clone(),
                    _ => return Err(format!("Expecting either a value, list or function after '{op}'.")),
                };
                self.at += 1;
                Ok(Expr::Clause { field, op, value })
            }
            other => Err(format!("Expecting a field name but got {other:?}.")),
        }
    }
}

/// Lucene's reserved characters in a text query.
const LUCENE_SPECIAL: &str = "+-&|!(){}[]^\"~*?:\\/";

/// The words of a text, as Jira's index splits it: letters and digits, with
/// `.` and `,` kept between digits (`650.555.1212` is one word), lower-cased.
fn words(text: &str) -> Vec<String> {
    let chars: Vec<char> = text.chars().collect();
    let mut out = Vec::new();
    let mut cur = String::new();
    for (i, &c) in chars.iter().enumerate() {
        let mid_num = (c == '.' || c == ',')
            && i > 0
            && chars[i - 1].is_ascii_digit()
            && chars.get(i + 1).is_some_and(char::is_ascii_digit);
        if c.is_alphanumeric() || mid_num {
            cur.extend(c.to_lowercase());
        } else if !cur.is_empty() {
            out.push(std::mem::take(&mut cur));
        }
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    out
}

/// A text query: an exact phrase `"..."` (with Lucene escapes), or plain
/// words that must all appear. Query syntax outside a phrase is refused: the
/// fake does not implement it, and Jira reads it as operators.
fn text_matches(field_name: &str, stored: Option<&str>, query: &str) -> Result<bool, String> {
    let q = query.trim();
    let invalid = || {
        format!(
            "The text query '{q}' for field '{field_name}' is not valid: probably your query contains invalid characters."
        )
    };
    let wanted = if q.len() >= 2 && q.starts_with('"') && q.ends_with('"') {
        let mut inner = String::new();
        let mut chars = q[1..q.len() - 1].chars();
        while let Some(c) = chars.next() {
            match c {
                '\\' => inner.push(chars.next().ok_or_else(invalid)?),
                '"' => return Err(invalid()),
                c => inner.push(c),
            }
        }
        let w = words(&inner);
        let have = words(stored.unwrap_or_default());
        return Ok(!w.is_empty() && have.windows(w.len()).any(|win| win == w.as_slice()));
    } else {
        if q.chars().any(|c| LUCENE_SPECIAL.contains(c)) {
            return Err(invalid());
        }
        words(q)
    };
    let have = words(stored.unwrap_or_default());
    Ok(!wanted.is_empty() && wanted.iter().all(|w| have.contains(w)))
}

fn eval(e: &Expr, issue: &FakeIssue, s: &JiraState) -> Result<bool, String> {
    Ok(match e {
        Expr::And(a, b) => eval(a, issue, s)? && eval(b, issue, s)?,
        Expr::Or(a, b) => eval(a, issue, s)? || eval(b, issue, s)?,
        Expr::Not(a) => !eval(a, issue, s)?,
        Expr::Clause { field, op, value } => {
            let phone_cf = format!("cf[{}]", PHONE_FIELD.trim_start_matches("customfield_"));
            match field.to_lowercase().as_str() {
                "project" => {
                    let project = s
                        .projects
                        .iter()
                        .find(|(k, (id, name, _))| {
                            k.eq_ignore_ascii_case(value)
                                || id.to_string() == *value
                                || name.eq_ignore_ascii_case(value)
                        })
                        .map(|(k, _)| k.clone())
                        .ok_or_else(|| format!("The value '{value}' does not exist for the field 'project'."))?;
                    match *op {
                        "=" => issue.project == project,
                        "!=" => issue.project != project,
                        _ => return Err(format!("The operator '{op}' is not supported by the 'project' field.")),
                    }
                }
                "key" | "issuekey" => match *op {
                    "=" => issue.key.eq_ignore_ascii_case(value) || issue.id.to_string() == *value,
                    _ => return Err(format!("The operator '{op}' is not supported by the 'key' field.")),
                },
                f if f == phone_cf || f.eq_ignore_ascii_case(PHONE_FIELD_NAME) => match *op {
                    "~" => text_matches(field, issue.phone.as_deref(), value)?,
                    "!~" => !text_matches(field, issue.phone.as_deref(), value)?,
                    _ => {
                        return Err(format!("The operator '{op}' is not supported by the '{PHONE_FIELD_NAME}' field."));
                    }
                },
                "summary" | "text" => match *op {
                    "~" => text_matches(field, Some(&issue.summary), value)?,
                    "!~" => !text_matches(field, Some(&issue.summary), value)?,
                    _ => return Err(format!("The operator '{op}' is not supported by the 'summary' field.")),
                },
                _ => return Err(format!("Field '{field}' does not exist or you do not have permission to view it.")),
            }
        }
    })
}

/// Parses a query (no `ORDER BY` support) and checks every clause once, so
/// errors surface even when there are no issues.
fn parse_jql(jql: &str, s: &JiraState) -> Result<Expr, String> {
    let toks = jql_tokens(jql)?;
    if toks.is_empty() {
        return Err("Unbounded JQL queries are not allowed here. Please add a search restriction to your query.".into());
    }
    if toks.iter().any(|t| matches!(t, Tok::Word(w) if w.eq_ignore_ascii_case("order"))) {
        return Err("The fake Jira does not support ORDER BY".into());
    }
    let mut p = Parser { toks, at: 0 };
    let e = p.or()?;
    if p.at != p.toks.len() {
        return Err(format!("Expecting 'AND' or 'OR' but got {:?}.", p.toks[p.at]));
    }
    let probe = FakeIssue {
        id: 0,
        key: "X-0".into(),
        project: String::new(),
        issue_type: String::new(),
        summary: String::new(),
        phone: None,
        comments: vec![],
    };
    eval(&e, &probe, s)?;
    Ok(e)
}

fn issue_json(issue: &FakeIssue, fields: &[String], s: &JiraState) -> Value {
    let all = fields.iter().any(|f| f == "*all" || f == "*navigable");
    let wants = |f: &str| all || fields.iter().any(|x| x == f);
    let mut out = Map::new();
    for (name, value) in [
        ("summary", json!(issue.summary)),
        (PHONE_FIELD, json!(issue.phone)),
        ("issuetype", json!({"name": issue.issue_type, "subtask": false})),
        ("project", {
            let (id, name, _) = &s.projects[&issue.project];
            json!({"id": id.to_string(), "key": issue.project, "name": name})
        }),
    ] {
        if wants(name) {
            out.insert(name.into(), value);
        }
    }
    json!({
        "expand": "renderedFields,names,schema,operations,editmeta,changelog,versionedRepresentations",
        "id": issue.id.to_string(),
        "self": format!("{}/issue/{}", site_url(), issue.id),
        "key": issue.key,
        "fields": out,
    })
}

const SEARCH_KEYS: &[&str] = &[
    "jql",
    "nextPageToken",
    "maxResults",
    "fields",
    "expand",
    "properties",
    "fieldsByKeys",
    "failFast",
    "reconcileIssues",
];

fn json_body(headers: &HeaderMap, body: &Bytes) -> Result<Map<String, Value>, Response> {
    let ct = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or_default();
    if !ct.starts_with("application/json") {
        return Err(jira_error(StatusCode::UNSUPPORTED_MEDIA_TYPE, &["Unsupported Media Type"], &[]));
    }
    serde_json::from_slice(body).map_err(|_| {
        jira_error(
            StatusCode::BAD_REQUEST,
            &["Invalid request payload. Refer to the REST API documentation and try again."],
            &[],
        )
    })
}

async fn search(State(state): State<Shared>, headers: HeaderMap, body: Bytes) -> Response {
    let body = match json_body(&headers, &body) {
        Ok(b) => b,
        Err(r) => return r,
    };
    let payload_error = || {
        jira_error(
            StatusCode::BAD_REQUEST,
            &["Invalid request payload. Refer to the REST API documentation and try again."],
            &[],
        )
    };
    // The enhanced search takes no startAt: unknown properties are refused.
    if body.keys().any(|k| !SEARCH_KEYS.contains(&k.as_str())) {
        return payload_error();
    }
    let Some(jql) = body.get("jql").and_then(Value::as_str) else { return payload_error() };
    let fields: Vec<String> = match body.get("fields") {
        None => vec!["id".into()],
        Some(Value::Array(a)) => a.iter().filter_map(Value::as_str).map(str::to_owned).collect(),
        Some(_) => return payload_error(),
    };
    let max = match body.get("maxResults") {
        None => 50,
        Some(v) => match v.as_u64() {
            Some(n) if n >= 1 => n as usize,
            _ => return payload_error(),
        },
    };
    let mut s = lock(&state);
    let expr = match parse_jql(jql, &s) {
        Ok(e) => e,
        Err(m) => return jira_error(StatusCode::BAD_REQUEST, &[&format!("Error in the JQL Query: {m}")], &[]),
    };
    let offset = match body.get("nextPageToken").and_then(Value::as_str) {
        None => 0,
        Some(t) => match s.page_tokens.get(t) {
            Some((q, offset)) if q == jql => *offset,
            _ => {
                return jira_error(
                    StatusCode::BAD_REQUEST,
                    &["The provided next page token is invalid or expired."],
                    &[],
                );
            }
        },
    };
    let mut matched = Vec::new();
    for issue in &s.issues {
        match eval(&expr, issue, &s) {
            Ok(true) => matched.push(issue.clone()),
            Ok(false) => {}
            Err(m) => return jira_error(StatusCode::BAD_REQUEST, &[&format!("Error in the JQL Query: {m}")], &[]),
        }
    }
    let page = max.min(s.page_size).min(if fields.iter().all(|f| f == "id" || f == "key") { 5000 } else { 100 });
    let end = (offset + page).min(matched.len());
    let issues: Vec<Value> = matched[offset.min(end)..end].iter().map(|i| issue_json(i, &fields, &s)).collect();
    let mut out = json!({"issues": issues, "isLast": end >= matched.len()});
    if end < matched.len() {
        let token = format!("pt-{}", uuid::Uuid::new_v4().simple());
        s.page_tokens.insert(token.clone(), (jql.to_owned(), end));
        out["nextPageToken"] = json!(token);
    }
    Json(out).into_response()
}

// ------------------------------------------------------------------ issues

async fn create_issue(State(state): State<Shared>, headers: HeaderMap, body: Bytes) -> Response {
    let body = match json_body(&headers, &body) {
        Ok(b) => b,
        Err(r) => return r,
    };
    let Some(fields) = body.get("fields").and_then(Value::as_object) else {
        return jira_error(StatusCode::BAD_REQUEST, &["Issue must have fields"], &[]);
    };
    let mut s = lock(&state);
    let mut errors: Vec<(String, String)> = Vec::new();
    for key in fields.keys() {
        if !["project", "issuetype", "summary", "description", PHONE_FIELD].contains(&key.as_str()) {
            errors.push((
                key.clone(),
                format!("Field '{key}' cannot be set. It is not on the appropriate screen, or unknown."),
            ));
        }
    }
    let project = fields.get("project").and_then(|p| {
        let by_key = p.get("key").and_then(Value::as_str).and_then(|k| s.projects.keys().find(|x| *x == k));
        let by_id = p
            .get("id")
            .and_then(Value::as_str)
            .and_then(|id| s.projects.iter().find(|(_, (pid, _, _))| pid.to_string() == id).map(|(k, _)| k));
        by_key.or(by_id).cloned()
    });
    if project.is_none() {
        errors.push(("project".into(), "valid project is required".into()));
    }
    let issue_type = fields.get("issuetype").and_then(|t| t.get("name")).and_then(Value::as_str).map(str::to_owned);
    match (&project, &issue_type) {
        (Some(p), Some(t)) if s.projects[p].2.contains(t) => {}
        _ => errors.push(("issuetype".into(), "Specify a valid issue type".into())),
    }
    let summary = fields.get("summary").and_then(Value::as_str).map(str::trim).filter(|t| !t.is_empty());
    if summary.is_none() {
        errors.push(("summary".into(), "You must specify a summary of the issue.".into()));
    }
    let phone = match fields.get(PHONE_FIELD) {
        None | Some(Value::Null) => None,
        Some(Value::String(p)) => Some(p.clone()),
        Some(_) => {
            errors.push((PHONE_FIELD.into(), "Operation value must be a string".into()));
            None
        }
    };
    if !errors.is_empty() {
        let errors: Vec<(&str, &str)> = errors.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        return jira_error(StatusCode::BAD_REQUEST, &[], &errors);
    }
    let (project, issue_type, summary) = (project.unwrap(), issue_type.unwrap(), summary.unwrap().to_owned());
    s.next_issue += 1;
    let id = s.next_issue;
    let n = s.issues.iter().filter(|i| i.project == project).count() + 1;
    let key = format!("{project}-{n}");
    s.issues.push(FakeIssue { id, key: key.clone(), project, issue_type, summary, phone, comments: vec![] });
    (StatusCode::CREATED, Json(json!({"id": id.to_string(), "key": key, "self": format!("{}/issue/{id}", site_url())})))
        .into_response()
}

fn find_issue<'a>(s: &'a mut JiraState, id_or_key: &str) -> Option<&'a mut FakeIssue> {
    s.issues.iter_mut().find(|i| i.key.eq_ignore_ascii_case(id_or_key) || i.id.to_string() == id_or_key)
}

fn no_issue() -> Response {
    jira_error(StatusCode::NOT_FOUND, &["Issue does not exist or you do not have permission to see it."], &[])
}

// ------------------------------------------------------------------ comments and ADF

const ADF_NODES: &[&str] = &[
    "doc",
    "paragraph",
    "text",
    "hardBreak",
    "heading",
    "bulletList",
    "orderedList",
    "listItem",
    "blockquote",
    "codeBlock",
    "rule",
    "panel",
    "mention",
    "emoji",
    "inlineCard",
    "date",
    "status",
    "table",
    "tableRow",
    "tableHeader",
    "tableCell",
    "mediaSingle",
    "media",
    "expand",
];
const ADF_MARKS: &[&str] = &["strong", "em", "code", "link", "strike", "underline", "textColor", "subsup"];

/// A structural check of Atlassian Document Format, enough to catch a plain
/// string body (REST v2 style), empty text nodes, unknown node types, text
/// outside a paragraph and list items outside a list.
fn adf_error(node: &Value, parent: Option<&str>) -> Option<String> {
    let Some(obj) = node.as_object() else { return Some("a node is not an object".into()) };
    let Some(kind) = obj.get("type").and_then(Value::as_str) else { return Some("a node has no type".into()) };
    if !ADF_NODES.contains(&kind) {
        return Some(format!("unknown node type {kind}"));
    }
    match (kind, parent) {
        ("doc", None) if obj.get("version") != Some(&json!(1)) => return Some("doc.version must be 1".into()),
        ("doc", None) => {}
        ("doc", Some(_)) | (_, None) => return Some("the root must be a doc".into()),
        ("text", Some(p)) => {
            if obj.get("text").and_then(Value::as_str).is_none_or(str::is_empty) {
                return Some("text nodes need non-empty text".into());
            }
            if ["doc", "bulletList", "orderedList", "listItem"].contains(&p) {
                return Some(format!("text cannot be a child of {p}"));
            }
        }
        ("listItem", Some(p)) if p != "bulletList" && p != "orderedList" => {
            return Some("listItem outside a list".into());
        }
        _ => {}
    }
    if let Some(marks) = obj.get("marks") {
        let ok = marks.as_array().is_some_and(|m| {
            m.iter().all(|m| m.get("type").and_then(Value::as_str).is_some_and(|t| ADF_MARKS.contains(&t)))
        });
        if !ok {
            return Some("invalid marks".into());
        }
    }
    match obj.get("content") {
        None => None,
        Some(Value::Array(children)) => children.iter().find_map(|c| adf_error(c, Some(kind))),
        Some(_) => Some("content must be an array".into()),
    }
}

fn adf_text_len(v: &Value) -> usize {
    v.get("text").and_then(Value::as_str).map_or(0, |t| t.chars().count())
        + v.get("content").and_then(Value::as_array).map_or(0, |c| c.iter().map(adf_text_len).sum())
}

fn comment_json(issue_id: u64, c: &FakeComment) -> Value {
    let name = if c.author == ACCOUNT_ID { USER_NAME } else { "Someone else" };
    let author = json!({"accountId": c.author, "displayName": name, "active": true, "accountType": "atlassian"});
    json!({
        "self": format!("{}/issue/{issue_id}/comment/{}", site_url(), c.id),
        "id": c.id.to_string(),
        "author": author,
        "body": c.body,
        "updateAuthor": author,
        "created": c.created,
        "updated": c.updated,
        "jsdPublic": true,
    })
}

fn checked_comment_body(headers: &HeaderMap, body: &Bytes) -> Result<Value, Response> {
    let body = json_body(headers, body)?;
    let Some(doc) = body.get("body") else {
        return Err(jira_error(StatusCode::BAD_REQUEST, &[], &[("comment", "Comment body can not be empty!")]));
    };
    if let Some(e) = adf_error(doc, None) {
        return Err(jira_error(
            StatusCode::BAD_REQUEST,
            &[],
            &[("comment", &format!("Comment body is not valid Atlassian Document Format: {e}"))],
        ));
    }
    if adf_text_len(doc) > 32767 {
        return Err(jira_error(
            StatusCode::BAD_REQUEST,
            &[],
            &[("comment", "The entered text is too long. It exceeds the allowed limit of 32,767 characters.")],
        ));
    }
    Ok(doc.clone())
}

/// A new comment's `properties`: `[{key, value}]`, keys of 1..=255 characters, given once.
fn comment_properties(body: &Map<String, Value>) -> Result<Vec<Value>, Response> {
    let bad = |m: &str| jira_error(StatusCode::BAD_REQUEST, &[], &[("properties", m)]);
    let Some(v) = body.get("properties") else { return Ok(Vec::new()) };
    let Some(items) = v.as_array() else { return Err(bad("properties must be an array")) };
    let mut out: Vec<Value> = Vec::new();
    for p in items {
        let key = p.get("key").and_then(Value::as_str).unwrap_or_default();
        if key.is_empty() || key.chars().count() > 255 {
            return Err(bad("The property key must be between 1 and 255 characters long."));
        }
        if out.iter().any(|o| o["key"] == key) {
            return Err(bad(&format!("The property {key} is given twice.")));
        }
        out.push(json!({"key": key, "value": p.get("value").cloned().unwrap_or(Value::Null)}));
    }
    Ok(out)
}

fn now_jira() -> String {
    format!("{}:00.000+0000", iso_minute(SystemTime::now()).trim_end_matches('Z'))
}

async fn add_comment(
    State(state): State<Shared>,
    Path((_cloud, issue)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let doc = match checked_comment_body(&headers, &body) {
        Ok(d) => d,
        Err(r) => return r,
    };
    let properties = match json_body(&headers, &body).and_then(|b| comment_properties(&b)) {
        Ok(p) => p,
        Err(r) => return r,
    };
    let mut s = lock(&state);
    s.next_comment += 1;
    let id = s.next_comment;
    let Some(issue) = find_issue(&mut s, &issue) else { return no_issue() };
    let now = now_jira();
    let comment =
        FakeComment { id, body: doc, created: now.clone(), updated: now, author: ACCOUNT_ID.into(), properties };
    issue.comments.push(comment.clone());
    (StatusCode::CREATED, Json(comment_json(issue.id, &comment))).into_response()
}

/// `GET .../issue/{key}/comment`: a page of the issue's comments, oldest
/// first unless `orderBy=-created`.
async fn list_comments(
    State(state): State<Shared>,
    Path((_cloud, issue)): Path<(String, String)>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let number = |k: &str, default: usize| q.get(k).map_or(Ok(default), |v| v.parse::<usize>());
    let (Ok(start_at), Ok(max_results)) = (number("startAt", 0), number("maxResults", 5000)) else {
        return jira_error(StatusCode::BAD_REQUEST, &["startAt and maxResults must be numbers."], &[]);
    };
    let newest_first = match q.get("orderBy").map(String::as_str) {
        None | Some("created" | "+created") => false,
        Some("-created") => true,
        Some(other) => {
            return jira_error(StatusCode::BAD_REQUEST, &[&format!("Invalid orderBy value: {other}.")], &[]);
        }
    };
    let mut s = lock(&state);
    let Some(issue) = find_issue(&mut s, &issue) else { return no_issue() };
    let mut comments: Vec<&FakeComment> = issue.comments.iter().collect();
    if newest_first {
        comments.reverse();
    }
    let page: Vec<Value> =
        comments.iter().skip(start_at).take(max_results).map(|c| comment_json(issue.id, c)).collect();
    Json(json!({"startAt": start_at, "maxResults": max_results, "total": comments.len(), "comments": page}))
        .into_response()
}

/// `POST .../comment/list`: the comments of these ids (in any issue), with
/// their properties under `expand=properties`.
async fn comments_by_id(
    State(state): State<Shared>,
    Query(q): Query<HashMap<String, String>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let body = match json_body(&headers, &body) {
        Ok(b) => b,
        Err(r) => return r,
    };
    let ids: Option<Vec<u64>> =
        body.get("ids").and_then(Value::as_array).and_then(|a| a.iter().map(Value::as_u64).collect());
    let Some(ids) = ids.filter(|ids| (1..=1000).contains(&ids.len())) else {
        return jira_error(StatusCode::BAD_REQUEST, &["ids must hold 1 to 1000 comment ids (numbers)."], &[]);
    };
    let expand_properties = q.get("expand").is_some_and(|e| e.split(',').any(|x| x == "properties"));
    let s = lock(&state);
    let values: Vec<Value> = s
        .issues
        .iter()
        .flat_map(|i| i.comments.iter().map(move |c| (i.id, c)))
        .filter(|(_, c)| ids.contains(&c.id))
        .map(|(issue_id, c)| {
            let mut v = comment_json(issue_id, c);
            if expand_properties {
                v["properties"] = Value::Array(c.properties.clone());
            }
            v
        })
        .collect();
    Json(json!({"startAt": 0, "maxResults": 1000, "total": values.len(), "isLast": true, "values": values}))
        .into_response()
}

fn no_comment(id: &str) -> Response {
    jira_error(StatusCode::NOT_FOUND, &[&format!("Can not find a comment for the id: {id}.")], &[])
}

async fn get_comment(
    State(state): State<Shared>,
    Path((_cloud, issue, id)): Path<(String, String, String)>,
) -> Response {
    let mut s = lock(&state);
    let Some(issue) = find_issue(&mut s, &issue) else { return no_issue() };
    match issue.comments.iter().find(|c| c.id.to_string() == id) {
        Some(c) => Json(comment_json(issue.id, c)).into_response(),
        None => no_comment(&id),
    }
}

async fn update_comment(
    State(state): State<Shared>,
    Path((_cloud, issue, id)): Path<(String, String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let doc = match checked_comment_body(&headers, &body) {
        Ok(d) => d,
        Err(r) => return r,
    };
    let mut s = lock(&state);
    let Some(issue) = find_issue(&mut s, &issue) else { return no_issue() };
    let issue_id = issue.id;
    match issue.comments.iter_mut().find(|c| c.id.to_string() == id) {
        Some(c) => {
            c.body = doc;
            c.updated = now_jira();
            Json(comment_json(issue_id, c)).into_response()
        }
        None => no_comment(&id),
    }
}

/// The plain text of an ADF document (paragraphs and list items on their own lines).
pub fn adf_text(v: &Value) -> String {
    let kind = v.get("type").and_then(Value::as_str).unwrap_or_default();
    let children: Vec<&Value> =
        v.get("content").and_then(Value::as_array).map(|c| c.iter().collect()).unwrap_or_default();
    match kind {
        "text" => v.get("text").and_then(Value::as_str).unwrap_or_default().to_owned(),
        "hardBreak" => "\n".into(),
        "paragraph" | "heading" => children.iter().map(|c| adf_text(c)).collect(),
        "listItem" => children.iter().map(|c| adf_text(c)).collect::<Vec<_>>().join("\n"),
        "bulletList" | "orderedList" => {
            children.iter().map(|c| format!("- {}", adf_text(c))).collect::<Vec<_>>().join("\n")
        }
        _ => children.iter().map(|c| adf_text(c)).collect::<Vec<_>>().join("\n"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jql_text_search_matches_phrases_and_refuses_query_syntax() {
        assert_eq!(words("(650) 555-1212"), ["650", "555", "1212"]);
        assert_eq!(words("+1 650.555.1212"), ["1", "650.555.1212"]);
        assert!(text_matches("f", Some("(650) 555-0100"), "\"(650) 555-0100\"").unwrap());
        assert!(text_matches("f", Some("+16505551212"), "\"+16505551212\"").unwrap());
        assert!(!text_matches("f", Some("+16505551212"), "\"6505551212\"").unwrap());
        assert!(text_matches("f", Some("+16505551212"), "+16505551212").is_err(), "unquoted + is query syntax");
        assert!(text_matches("f", Some("x"), "\"a\"b\"").is_err());
    }

    #[test]
    fn the_jql_parser_takes_what_the_adapter_sends_and_refuses_the_rest() {
        let s = JiraState {
            projects: [("CRM".to_string(), (1, "C".to_string(), vec![]))].into_iter().collect(),
            ..Default::default()
        };
        assert!(parse_jql(r#"project = "CRM" AND (cf[10050] ~ "\"+1\"" OR cf[10050] ~ "\"(650) 555\"")"#, &s).is_ok());
        for bad in [
            "",
            r#"cf[10050] = "+1""#,
            r#"project = "NOPE""#,
            r#"cf[99999] ~ "\"1\"""#,
            r#"project = CRM AND"#,
            r#"cf[10050] ~ +1"#,
            r#"project = "CRM" ORDER BY created"#,
            r#"project in (CRM)"#,
        ] {
            assert!(parse_jql(bad, &s).is_err(), "{bad}");
        }
    }

    #[test]
    fn adf_checks() {
        let ok = json!({"type": "doc", "version": 1, "content": [{"type": "paragraph", "content": [{"type": "text", "text": "hi"}]}]});
        assert_eq!(adf_error(&ok, None), None);
        assert!(adf_error(&json!("plain text"), None).is_some());
        let empty_text = json!({"type": "doc", "version": 1, "content": [{"type": "paragraph", "content": [{"type": "text", "text": ""}]}]});
        assert!(adf_error(&empty_text, None).is_some());
        assert!(
            iso_minute(SystemTime::UNIX_EPOCH + Duration::from_secs(951_782_400 + 3600 + 120)) == "2000-02-29T01:02Z"
        );
    }
}
