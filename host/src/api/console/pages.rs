//! The console's HTML, with `maud` (every interpolation escaped).

use super::ago;
use super::session::Session;
use crate::runtime::registry::AdapterStatus;
use crate::store::{AuthKind, ConnectionInfo, ConnectionState, Delivery, Endpoint, Workspace};
use maud::{DOCTYPE, Markup, html};

/// A message for the operator after an action (from the redirect's query).
pub(crate) struct Notice(pub(crate) Option<String>);

fn layout(title: &str, session: Option<&Session>, current: &str, notice: &Notice, body: Markup) -> Markup {
    let nav = [
        ("/admin", "Overview"),
        ("/admin/console/adapters", "Adapters"),
        ("/admin/console/connections", "Connections"),
        ("/admin/console/webhooks", "Webhooks"),
    ];
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                link rel="icon" href="data:,";
                title { (title) " · Switchboard console" }
                link rel="stylesheet" href="/admin/console/assets/console.css";
                script type="module" src="/admin/console/assets/console.js" {}
            }
            body {
                header.top {
                    span.brand { "Switchboard" }
                    @if let Some(s) = session {
                        nav aria-label="Console" {
                            @for (href, label) in nav {
                                a href=(href) aria-current=[(href == current).then_some("page")] { (label) }
                            }
                        }
                        form.logout method="post" action="/admin/console/logout" {
                            input type="hidden" name="csrf" value=(s.csrf());
                            button type="submit" { "Log out" }
                        }
                    }
                }
                main {
                    h1 { (title) }
                    @if let Some(n) = &notice.0 {
                        p.notice role="status" { (n) }
                    }
                    (body)
                }
            }
        }
    }
}

pub(crate) fn login(notice: Option<&str>, disabled: bool) -> Markup {
    let body = html! {
        @if disabled {
            p.error { "The console is off: set SWITCHBOARD_ADMIN_TOKEN (admin_token) to use it." }
        } @else {
            form.login method="post" action="/admin/console/login" {
                label for="token" { "Admin token" }
                input #token type="password" name="token" required autocomplete="current-password" autofocus;
                button type="submit" { "Log in" }
            }
            p.muted { "The token stays on this server; the browser keeps a session cookie for 12 hours." }
        }
    };
    layout("Log in", None, "", &Notice(notice.map(str::to_owned)), body)
}

pub(crate) fn forbidden() -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" { head { meta charset="utf-8"; title { "Refused" } }
            body { h1 { "Refused" } p { "This form is not from your console session. " a href="/admin" { "Back to the console" } } } }
    }
}

fn csrf(s: &Session) -> Markup {
    html! { input type="hidden" name="csrf" value=(s.csrf()); }
}

fn state_badge(state: &str) -> Markup {
    let tone = match state {
        "active" | "delivered" => "ok",
        "expired" | "pending" => "warn",
        "revoked" | "failed" | "disabled" => "bad",
        _ => "muted",
    };
    html! { span.badge data-tone=(tone) { (state) } }
}

fn when(secs: Option<i64>) -> Markup {
    match secs {
        Some(t) => html! { time datetime=(crate::webhooks::event::rfc3339_millis(t * 1000)) { (ago(t)) } },
        None => html! { span.muted { "never" } },
    }
}

fn connection_state(s: ConnectionState) -> &'static str {
    match s {
        ConnectionState::Active => "active",
        ConnectionState::Expired => "expired",
        ConnectionState::Revoked => "revoked",
        ConnectionState::Disconnected => "disconnected",
    }
}

pub(crate) fn overview(
    s: &Session,
    notice: Notice,
    adapters: &[AdapterStatus],
    connections: &[ConnectionInfo],
) -> Markup {
    let serving = adapters.iter().filter(|a| a.state == "active").count();
    let failing = adapters.iter().filter(|a| a.last_error.is_some()).count();
    let count = |st: ConnectionState| connections.iter().filter(|c| c.status == st).count();
    let body = html! {
        section.cards aria-label="Summary" {
            a.card href="/admin/console/adapters" { strong { (serving) } " adapters serving" @if failing > 0 { br; span.bad { (failing) " with an error" } } }
            a.card href="/admin/console/connections?status=active" { strong { (count(ConnectionState::Active)) } " connections active" }
            a.card href="/admin/console/connections?status=revoked" { strong { (count(ConnectionState::Revoked)) } " revoked" }
            a.card href="/admin/console/connections?status=expired" { strong { (count(ConnectionState::Expired)) } " expired" }
        }
        section #figures aria-label="Live figures" data-source="/admin/console/figures" {
            h2 { "Live figures " span.muted { "(this process, sampled every 2 s)" } }
            div.charts {
                figure.chart data-chart="requests" { figcaption { "Requests per second" } svg role="img" aria-label="Requests per second" {} p.value {} }
                figure.chart data-chart="latency" { figcaption { "Latency p50 / p99 (ms)" } svg role="img" aria-label="Request latency" {} p.value {} }
                figure.chart data-chart="adapter" { figcaption { "Adapter calls p50 / p99 (ms)" } svg role="img" aria-label="Adapter call duration" {} p.value {} }
                figure.chart data-chart="errors" { figcaption { "Errors per second" } svg role="img" aria-label="Errors per second" {} p.value {} }
            }
            h3 { "Errors by code (since this process started)" }
            table.errors { thead { tr { th { "Code" } th.num { "Count" } } } tbody {} }
        }
        (adapter_table(s, adapters.iter().map(|a| AdapterRow { status: a, allowed_hosts: Vec::new() }).collect::<Vec<_>>().as_slice(), false))
    };
    layout("Overview", Some(s), "/admin", &notice, body)
}

/// An adapter file's row: its status and the hosts its manifest allows.
pub(crate) struct AdapterRow<'a> {
    pub(crate) status: &'a AdapterStatus,
    pub(crate) allowed_hosts: Vec<String>,
}

fn adapter_table(s: &Session, rows: &[AdapterRow<'_>], details: bool) -> Markup {
    html! {
        section aria-label="Adapters" {
            div.bar {
                h2 { "Adapters" }
                form method="post" action="/admin/console/adapters/reload" { (csrf(s)) button type="submit" data-action="reload-all" { "Reload all" } }
            }
            table.adapters {
                thead { tr { th { "File" } th { "Platform" } th { "Version" } th { "WIT" } th { "State" } th { "Loaded" } @if details { th { "Allowed hosts" } } th { "Last error" } @if details { th {} } } }
                tbody {
                    @for r in rows {
                        @let a = r.status;
                        tr data-file=(a.file) data-state=(a.state) {
                            td { code { (a.file) } }
                            td { (a.platform.as_deref().unwrap_or("—")) }
                            td { (a.version.as_deref().unwrap_or("—")) }
                            td { (a.wit_version.as_deref().unwrap_or("—")) }
                            td { (state_badge(if a.state == "active" { "active" } else { "failed" })) }
                            td { (when(a.loaded_at.map(|t| t as i64))) }
                            @if details { td.hosts { @for h in &r.allowed_hosts { code { (h) } " " } } }
                            td.error { @if let Some(e) = &a.last_error { span.bad { (e) } " " (when(a.last_error_at.map(|t| t as i64))) } @else { span.muted { "—" } } }
                            @if details {
                                td { form method="post" action="/admin/console/adapters/reload" {
                                    (csrf(s)) input type="hidden" name="file" value=(a.file);
                                    button type="submit" aria-label={ "Reload " (a.file) } { "Reload" }
                                } }
                            }
                        }
                    }
                }
            }
        }
    }
}

pub(crate) fn adapters(s: &Session, notice: Notice, dir: &str, rows: &[AdapterRow<'_>]) -> Markup {
    let body = html! {
        p.muted { "From " code { (dir) } ". A file that fails keeps its previous version serving; a reload reads only what changed." }
        (adapter_table(s, rows, true))
    };
    layout("Adapters", Some(s), "/admin/console/adapters", &notice, body)
}

/// What the connections page shows.
pub(crate) struct ConnectionFilter {
    pub(crate) platform: Option<String>,
    pub(crate) workspace: Option<String>,
    pub(crate) status: Option<String>,
}

pub(crate) fn connections(
    s: &Session,
    notice: Notice,
    all: &[ConnectionInfo],
    f: &ConnectionFilter,
    workspaces: &[Workspace],
) -> Markup {
    let mut platforms: Vec<&str> = all.iter().map(|c| c.platform.as_str()).collect();
    platforms.sort_unstable();
    platforms.dedup();
    let shown: Vec<&ConnectionInfo> = all
        .iter()
        .filter(|c| f.platform.as_ref().is_none_or(|p| *p == c.platform))
        .filter(|c| match f.workspace.as_deref() {
            None => true,
            Some("app-connect") => c.workspace_id.is_none(),
            Some(w) => c.workspace_id.as_deref() == Some(w),
        })
        .filter(|c| f.status.as_ref().is_none_or(|st| st == connection_state(c.status)))
        .collect();
    let selected = |v: &Option<String>, x: &str| v.as_deref() == Some(x);
    let body = html! {
        form.filters method="get" action="/admin/console/connections" {
            label { "Platform " select name="platform" { option value="" { "all" } @for p in &platforms { option value=(p) selected[selected(&f.platform, p)] { (p) } } } }
            label { "Workspace " select name="workspace" {
                option value="" { "all" }
                option value="app-connect" selected[selected(&f.workspace, "app-connect")] { "App Connect users" }
                @for w in workspaces { option value=(w.id) selected[selected(&f.workspace, &w.id)] { (w.name) } }
            } }
            label { "Status " select name="status" { option value="" { "all" } @for st in ["active", "expired", "revoked", "disconnected"] { option value=(st) selected[selected(&f.status, st)] { (st) } } } }
            button type="submit" { "Filter" }
        }
        p.muted { (shown.len()) " of " (all.len()) " connections." }
        table.connections {
            thead { tr { th { "Connection" } th { "Platform" } th { "Workspace / customer" } th { "Auth" } th { "Status" } th { "Last refresh" } th { "Last error" } th {} } }
            tbody {
                @for c in &shown {
                    tr data-user=(c.user_id) data-status=(connection_state(c.status)) {
                        td { (c.name) br; code.muted { (c.user_id) } }
                        td { (c.platform) }
                        td { @if let (Some(w), Some(cu)) = (&c.workspace_id, &c.customer_id) { code { (w) } " / " (cu) } @else { span.muted { "App Connect" } } }
                        td { @if c.auth_kind == AuthKind::Oauth { "OAuth" } @else { "API key" } }
                        td { (state_badge(connection_state(c.status))) }
                        td { (when(c.last_refresh_at)) }
                        td.error { @if let Some(e) = &c.last_error { span.bad { (e) } } @else { span.muted { "—" } } }
                        td { @if c.auth_kind == AuthKind::Oauth && c.status != ConnectionState::Disconnected {
                            form method="post" action="/admin/console/connections/refresh" {
                                (csrf(s)) input type="hidden" name="user_id" value=(c.user_id);
                                button type="submit" aria-label={ "Refresh " (c.name) " now" } { "Refresh now" }
                            }
                        } }
                    }
                }
            }
        }
    };
    layout("Connections", Some(s), "/admin/console/connections", &notice, body)
}

/// An endpoint and its latest deliveries.
pub(crate) struct EndpointLog {
    pub(crate) endpoint: Endpoint,
    pub(crate) deliveries: Vec<Delivery>,
}

/// One scope's endpoints (the operator's, or a workspace's).
pub(crate) struct ScopeEndpoints {
    pub(crate) title: String,
    pub(crate) endpoints: Vec<EndpointLog>,
}

pub(crate) fn webhooks(s: &Session, notice: Notice, groups: &[ScopeEndpoints]) -> Markup {
    let body = html! {
        @if groups.is_empty() { p.muted { "No webhook endpoints yet (POST /api/v1/webhooks, or /admin/webhooks for the operator's)." } }
        @for group in groups {
            section aria-label=(group.title) {
                h2 { (group.title) }
                @for log in &group.endpoints {
                    @let (e, deliveries) = (&log.endpoint, &log.deliveries);
                    article.endpoint data-endpoint=(e.id) {
                        div.bar {
                            h3 { code { (e.url) } " " (state_badge(if e.disabled_at.is_some() { "disabled" } else { "active" })) }
                            form method="post" action="/admin/console/webhooks/recover" {
                                (csrf(s)) input type="hidden" name="endpoint_id" value=(e.id);
                                input type="hidden" name="hours" value="24";
                                button type="submit" aria-label={ "Replay what failed to " (e.url) " in the last 24 hours" } { "Replay failed (24 h)" }
                            }
                        }
                        p.muted {
                            code { (e.id) } " · events: "
                            @match &e.events { Some(ev) => { (ev.join(", ")) }, None => { "all" } }
                            @if let Some(r) = &e.disabled_reason { " · " span.bad { (r) } }
                        }
                        table.deliveries {
                            thead { tr { th { "Event" } th { "Type" } th { "State" } th.num { "Attempts" } th { "Last status" } th { "Created" } } }
                            tbody {
                                @for d in deliveries {
                                    tr data-state=(d.state) {
                                        td { code { (d.event_id) } }
                                        td { (d.event_type) }
                                        td { (state_badge(&d.state)) }
                                        td.num { (d.attempts) }
                                        td { @if let Some(st) = d.last_status { (st) } @else if let Some(e) = &d.last_error { span.bad { (e) } } @else { "—" } }
                                        td { (when(Some(d.created_at / 1000))) }
                                    }
                                }
                                @if deliveries.is_empty() { tr { td colspan="6" { span.muted { "No deliveries yet." } } } }
                            }
                        }
                    }
                }
            }
        }
    };
    layout("Webhooks", Some(s), "/admin/console/webhooks", &notice, body)
}
