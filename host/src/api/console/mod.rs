//! The operator console at `/admin`: the same binary's pages for what the
//! admin JSON endpoints expose. Log in with the admin token (a session
//! cookie, see `session`); then the overview (live figures drawn from this
//! process's metrics, the adapters), adapters (state, last error, allow-list;
//! reload one or all), connections (App Connect users and Connect platform
//! integrations: filter, last refresh and error, refresh now) and webhook
//! endpoints with their recent deliveries (replay). Pages are rendered here
//! (`maud` escapes everything it interpolates: names and errors come from
//! CRMs); forms POST with the session's CSRF token and answer with a
//! redirect back (303) and a notice. `console.js` draws the charts.

mod figures;
mod pages;
mod session;

use super::state::AppState;
use crate::clock::{now_millis, now_secs};
use crate::runtime::registry::ReloadOptions;
use crate::store::{AuthKind, ConnectionState};
use crate::webhooks::event::Scope;
use axum::Form;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use serde::Deserialize;
use session::Session;

use pages::Notice;

/// The client's address (for the login throttle); unspecified when unknown.
pub(crate) struct ClientIp(std::net::IpAddr);

impl<S: Send + Sync> axum::extract::FromRequestParts<S> for ClientIp {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut axum::http::request::Parts, _: &S) -> Result<Self, Self::Rejection> {
        let ip = parts
            .extensions
            .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
            .map_or(std::net::IpAddr::from([0, 0, 0, 0]), |c| c.0.ip());
        Ok(ClientIp(ip))
    }
}

/// No framing, nothing from elsewhere, scripts and styles from this host only.
const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self' data:; \
                   form-action 'self'; frame-ancestors 'none'; base-uri 'none'";
const SCRIPT: &str = include_str!("../../../web/console.js");
const STYLE: &str = include_str!("../../../web/console.css");

fn page(markup: maud::Markup) -> Response {
    let mut r = Html(markup.into_string()).into_response();
    secure(r.headers_mut());
    r
}

fn secure(h: &mut HeaderMap) {
    h.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(CSP));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    // Not `no-referrer`: under it a form's POST carries `Origin: null`, which the CSRF check refuses.
    h.insert(header::REFERRER_POLICY, HeaderValue::from_static("same-origin"));
    h.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
}

fn asset(body: &'static str, content_type: &'static str) -> Response {
    let mut r = body.into_response();
    let h = r.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    h.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    r
}

/// `GET /admin/console/assets/console.js`
pub(crate) async fn script() -> Response {
    asset(SCRIPT, "text/javascript; charset=utf-8")
}

/// `GET /admin/console/assets/console.css`
pub(crate) async fn style() -> Response {
    asset(STYLE, "text/css; charset=utf-8")
}

/// Back to `to` with a notice for the operator.
fn back(to: &str, notice: &str) -> Response {
    let q = url::form_urlencoded::Serializer::new(String::new()).append_pair("notice", notice).finish();
    Redirect::to(&format!("{to}?{q}")).into_response()
}

/// The login page, or (for a POST) a redirect to it.
fn to_login() -> Response {
    Redirect::to("/admin").into_response()
}

#[derive(Deserialize, Default)]
pub(crate) struct NoticeQuery {
    #[serde(default)]
    notice: Option<String>,
}

/// `GET /admin`: the overview, or the login form.
pub(crate) async fn overview(State(state): State<AppState>, headers: HeaderMap, q: Query<NoticeQuery>) -> Response {
    let Some(s) = session::current(&state, &headers) else {
        let disabled = state.config.admin_token.is_empty();
        return page(pages::login(q.notice.as_deref(), disabled));
    };
    let connections = state.store.connections(None).await.unwrap_or_default();
    let statuses = state.runtime.statuses();
    page(pages::overview(&s, Notice(q.0.notice), &statuses, &connections))
}

#[derive(Deserialize)]
pub(crate) struct LoginForm {
    token: String,
}

/// `POST /admin/console/login`
pub(crate) async fn login(
    State(state): State<AppState>,
    headers: HeaderMap,
    ClientIp(ip): ClientIp,
    Form(form): Form<LoginForm>,
) -> Response {
    if !session::same_origin(&headers, &state.config.public_url) {
        return StatusCode::FORBIDDEN.into_response();
    }
    if let Some(wait) = state.admin_failures.blocked_for(ip) {
        return back(
            "/admin",
            &format!("Too many wrong tokens from this address: try again in {} s.", wait.as_secs().max(1)),
        );
    }
    if !session::is_admin_token(&state, &form.token) {
        state.admin_failures.fail(ip);
        return back("/admin", "That is not the admin token.");
    }
    tracing::info!("console: an operator logged in");
    let mut r = Redirect::to("/admin").into_response();
    r.headers_mut().insert(header::SET_COOKIE, session::open(&state));
    r
}

#[derive(Deserialize)]
pub(crate) struct CsrfForm {
    csrf: String,
}

/// Why a state-changing request is not carried out.
enum Refused {
    /// No session: log in first.
    Login,
    /// Not this session's form (CSRF token or origin).
    Forged,
}

impl IntoResponse for Refused {
    fn into_response(self) -> Response {
        match self {
            Refused::Login => to_login(),
            Refused::Forged => {
                let mut r = (StatusCode::FORBIDDEN, Html(pages::forbidden().into_string())).into_response();
                secure(r.headers_mut());
                r
            }
        }
    }
}

/// The session of a state-changing request whose form carries its CSRF token.
fn checked(state: &AppState, headers: &HeaderMap, csrf: &str) -> Result<Session, Refused> {
    let s = session::current(state, headers).ok_or(Refused::Login)?;
    if !session::same_origin(headers, &state.config.public_url) || !s.csrf_matches(csrf) {
        return Err(Refused::Forged);
    }
    Ok(s)
}

/// `POST /admin/console/logout`
pub(crate) async fn logout(State(state): State<AppState>, headers: HeaderMap, Form(form): Form<CsrfForm>) -> Response {
    if let Err(r) = checked(&state, &headers, &form.csrf) {
        return r.into_response();
    }
    let mut r = back("/admin", "Logged out.");
    r.headers_mut().insert(header::SET_COOKIE, session::close(&state));
    r
}

/// `GET /admin/console/adapters`
pub(crate) async fn adapters(State(state): State<AppState>, headers: HeaderMap, q: Query<NoticeQuery>) -> Response {
    let Some(s) = session::current(&state, &headers) else { return to_login() };
    let statuses = state.runtime.statuses();
    let hosts = |platform: &str| {
        state
            .runtime
            .adapter(platform)
            .map(|a| a.manifest.allowed_hosts.iter().map(ToString::to_string).collect::<Vec<_>>())
            .unwrap_or_default()
    };
    let rows: Vec<pages::AdapterRow> = statuses
        .iter()
        .map(|st| pages::AdapterRow {
            allowed_hosts: st.platform.as_deref().map(hosts).unwrap_or_default(),
            status: st,
        })
        .collect();
    let dir = state.runtime.adapters_dir().display().to_string();
    page(pages::adapters(&s, Notice(q.0.notice), &dir, &rows))
}

#[derive(Deserialize)]
pub(crate) struct ReloadForm {
    csrf: String,
    /// One file, or every file when absent.
    #[serde(default)]
    file: Option<String>,
}

/// `POST /admin/console/adapters/reload`
pub(crate) async fn reload(
    State(state): State<AppState>,
    headers: HeaderMap,
    Form(form): Form<ReloadForm>,
) -> Response {
    let s = match checked(&state, &headers, &form.csrf) {
        Ok(s) => s,
        Err(r) => return r.into_response(),
    };
    let only = form.file.filter(|f| !f.is_empty());
    tracing::info!(%s, file = only.as_deref().unwrap_or("all"), "console: reload");
    let what = only.clone().unwrap_or_else(|| "every adapter".into());
    let notice = match state.runtime.reload_with(ReloadOptions { only, ..ReloadOptions::default() }).await {
        Ok(r) => format!(
            "Reloaded {what}: {} loaded, {} unchanged, {} failed, {} unloaded.",
            r.loaded.len(),
            r.unchanged.len(),
            r.failed.len(),
            r.unloaded.len()
        ),
        Err(e) => format!("The reload failed: {e:#}"),
    };
    back("/admin/console/adapters", &notice)
}

#[derive(Deserialize, Default)]
pub(crate) struct ConnectionsQuery {
    #[serde(default)]
    platform: Option<String>,
    #[serde(default)]
    workspace: Option<String>,
    #[serde(default)]
    status: Option<String>,
    #[serde(default)]
    notice: Option<String>,
}

/// `GET /admin/console/connections?platform=&workspace=&status=`
pub(crate) async fn connections(
    State(state): State<AppState>,
    headers: HeaderMap,
    q: Query<ConnectionsQuery>,
) -> Response {
    let Some(s) = session::current(&state, &headers) else { return to_login() };
    let q = q.0;
    let some = |v: &Option<String>| v.clone().filter(|v| !v.is_empty());
    let filter =
        pages::ConnectionFilter { platform: some(&q.platform), workspace: some(&q.workspace), status: some(&q.status) };
    let all = match state.store.connections(None).await {
        Ok(all) => all,
        Err(e) => return back("/admin", &format!("The connections cannot be read now: {e}")),
    };
    let workspaces = state.store.workspaces().await.unwrap_or_default();
    page(pages::connections(&s, Notice(q.notice), &all, &filter, &workspaces))
}

#[derive(Deserialize)]
pub(crate) struct RefreshForm {
    csrf: String,
    user_id: String,
}

/// `POST /admin/console/connections/refresh`: refreshes one OAuth connection now.
pub(crate) async fn refresh(
    State(state): State<AppState>,
    headers: HeaderMap,
    Form(form): Form<RefreshForm>,
) -> Response {
    let s = match checked(&state, &headers, &form.csrf) {
        Ok(s) => s,
        Err(r) => return r.into_response(),
    };
    tracing::info!(%s, user = %form.user_id, "console: refresh now");
    let known = state.store.connections(None).await.unwrap_or_default().into_iter().find(|c| c.user_id == form.user_id);
    let notice = match known {
        None => "No such connection.".to_owned(),
        Some(c) if c.auth_kind != AuthKind::Oauth => "An API-key connection has nothing to refresh.".to_owned(),
        Some(c) if c.status == ConnectionState::Disconnected => "The connection is disconnected.".to_owned(),
        Some(c) => match state.connections.refresh(&c.user_id, None).await {
            Ok(_) => format!("Refreshed {}.", c.name),
            Err(e) => {
                let e = super::error::ApiError::from(e);
                format!("The refresh of {} failed: {} ({})", c.name, e.message, e.code.as_str())
            }
        },
    };
    back("/admin/console/connections", &notice)
}

/// `GET /admin/console/webhooks`: every scope's endpoints, each with its latest deliveries.
pub(crate) async fn webhooks(State(state): State<AppState>, headers: HeaderMap, q: Query<NoticeQuery>) -> Response {
    let Some(s) = session::current(&state, &headers) else { return to_login() };
    let mut scopes = vec![("Operator (App Connect users)".to_owned(), Scope::Operator)];
    for w in state.store.workspaces().await.unwrap_or_default() {
        scopes.push((format!("{} ({})", w.name, w.id), Scope::Workspace(w.id)));
    }
    let mut groups = Vec::new();
    for (title, scope) in scopes {
        let mut endpoints = Vec::new();
        for endpoint in state.store.endpoints(&scope).await.unwrap_or_default() {
            let deliveries = state.store.deliveries(&endpoint.id, None, 10).await.unwrap_or_default();
            endpoints.push(pages::EndpointLog { endpoint, deliveries });
        }
        if !endpoints.is_empty() {
            groups.push(pages::ScopeEndpoints { title, endpoints });
        }
    }
    page(pages::webhooks(&s, Notice(q.0.notice), &groups))
}

#[derive(Deserialize)]
pub(crate) struct RecoverForm {
    csrf: String,
    endpoint_id: String,
    /// Re-send what failed in the last this many hours.
    #[serde(default = "day")]
    hours: i64,
}

fn day() -> i64 {
    24
}

/// `POST /admin/console/webhooks/recover`
pub(crate) async fn recover(
    State(state): State<AppState>,
    headers: HeaderMap,
    Form(form): Form<RecoverForm>,
) -> Response {
    let s = match checked(&state, &headers, &form.csrf) {
        Ok(s) => s,
        Err(r) => return r.into_response(),
    };
    tracing::info!(%s, endpoint = %form.endpoint_id, "console: replay failed deliveries");
    let since = now_millis() - form.hours.clamp(1, 24 * 30) * 3_600_000;
    let notice = match state.store.recover(&form.endpoint_id, since).await {
        Ok(n) => {
            state.store.outbox_written();
            format!("{n} failed deliveries of {} are sent again.", form.endpoint_id)
        }
        Err(e) => format!("The replay failed: {e}"),
    };
    back("/admin/console/webhooks", &notice)
}

/// `GET /admin/console/figures`: this process's counters, for the charts.
pub(crate) async fn figures(State(state): State<AppState>, headers: HeaderMap) -> Response {
    if session::current(&state, &headers).is_none() {
        return StatusCode::UNAUTHORIZED.into_response();
    }
    let mut r = axum::Json(figures::read(&state.metrics.encode(), now_millis())).into_response();
    r.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    r
}

/// When a unix time was, for people.
pub(crate) fn ago(secs: i64) -> String {
    let d = now_secs() - secs;
    match d {
        i64::MIN..=-1 => format!("in {}", human(-d)),
        0..=4 => "just now".into(),
        _ => format!("{} ago", human(d)),
    }
}

fn human(d: i64) -> String {
    match d {
        0..=59 => format!("{d} s"),
        60..=3599 => format!("{} min", d / 60),
        3600..=86_399 => format!("{} h", d / 3600),
        _ => format!("{} d", d / 86_400),
    }
}
