//! What a store holds during one adapter call, and the host side of the
//! adapter's imports (`http`, `log`, `config`).

use super::limits::CallLimiter;
use super::outbound::{CallPolicy, Outbound, OutboundError, OutboundRequest, OutboundResponse};
use super::world::latest::switchboard::crm::{config, http, log, types};
use crate::metrics::Metrics;
use std::collections::BTreeMap;
use std::sync::Arc;
use wasmtime::component::ResourceTable;
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};

/// Who is calling what, for log lines and policy.
#[derive(Debug, Clone)]
pub(crate) struct CallScope {
    pub(crate) platform: Arc<str>,
    pub(crate) version: Arc<str>,
    pub(crate) operation: &'static str,
    pub(crate) request_id: String,
}

/// A request the host refused on the adapter's behalf.
#[derive(Debug, Clone)]
pub(crate) enum Violation {
    /// Outside the allow-list.
    Denied(String),
    /// Over the per-call request budget or the response size cap.
    Limit(String),
}

pub struct HostState {
    wasi: WasiCtx,
    table: ResourceTable,
    pub(super) limiter: CallLimiter,
    /// The guest's running time, paused while the host works for it.
    pub(super) cpu: super::cpu_meter::CpuMeter,
    /// The last request the host refused during this call.
    pub(super) violation: Option<Violation>,
    scope: CallScope,
    policy: CallPolicy,
    /// The call's whole outbound request budget (the policy counts it down).
    request_budget: u32,
    outbound: Arc<Outbound>,
    settings: Arc<BTreeMap<String, String>>,
    metrics: Arc<Metrics>,
    /// Log lines the adapter has written in this call.
    log_lines: u32,
}

impl HostState {
    pub(crate) fn new(
        scope: CallScope,
        policy: CallPolicy,
        outbound: Arc<Outbound>,
        settings: Arc<BTreeMap<String, String>>,
        max_memory: usize,
        reservation: super::memory_budget::Reservation,
        metrics: Arc<Metrics>,
    ) -> Self {
        HostState {
            // Empty: no preopened dirs, no env, no args, no network.
            wasi: WasiCtx::builder().build(),
            table: ResourceTable::new(),
            limiter: CallLimiter::new(max_memory, reservation),
            cpu: Default::default(),
            violation: None,
            scope,
            request_budget: policy.remaining_requests,
            policy,
            outbound,
            settings,
            metrics,
            log_lines: 0,
        }
    }
}

impl WasiView for HostState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView { ctx: &mut self.wasi, table: &mut self.table }
    }
}

impl types::Host for HostState {}

/// How many of one `send-all` batch are in flight at once.
const SEND_ALL_CONCURRENCY: usize = 8;

fn outbound_request(request: http::Request) -> OutboundRequest {
    let method = match request.method {
        http::Method::Get => reqwest::Method::GET,
        http::Method::Post => reqwest::Method::POST,
        http::Method::Put => reqwest::Method::PUT,
        http::Method::Patch => reqwest::Method::PATCH,
        http::Method::Delete => reqwest::Method::DELETE,
    };
    OutboundRequest { method, url: request.url, headers: request.headers, body: request.body }
}

fn wit_result(result: Result<OutboundResponse, OutboundError>) -> Result<http::Response, http::HttpError> {
    result.map(|r| http::Response { status: r.status, headers: r.headers, body: r.body }).map_err(|e| match e {
        OutboundError::Denied(m) => http::HttpError::Denied(m),
        OutboundError::Timeout => http::HttpError::Timeout,
        OutboundError::Transport(m) => http::HttpError::Transport(m),
        OutboundError::LimitExceeded(m) => http::HttpError::LimitExceeded(m),
    })
}

impl HostState {
    /// Metrics, the call's violation record and a log line for one request.
    fn observe(
        &mut self,
        target: &str,
        elapsed: std::time::Duration,
        result: &Result<OutboundResponse, OutboundError>,
    ) {
        let status = match result {
            Ok(r) => r.status.to_string(),
            Err(OutboundError::Denied(_)) => "denied".into(),
            Err(OutboundError::Timeout) => "timeout".into(),
            Err(OutboundError::Transport(_)) => "transport_error".into(),
            Err(OutboundError::LimitExceeded(_)) => "limit_exceeded".into(),
        };
        // A refused request's host is whatever the adapter wrote: it never
        // becomes a label (the allowed hosts are a fixed set).
        let label = if matches!(result, Err(OutboundError::Denied(_) | OutboundError::LimitExceeded(_))) {
            "refused"
        } else {
            target
        };
        self.metrics.record_outbound(&self.scope.platform, label, &status);
        match result {
            Err(OutboundError::Denied(d)) => self.violation = Some(Violation::Denied(d.clone())),
            Err(OutboundError::LimitExceeded(d)) => self.violation = Some(Violation::Limit(d.clone())),
            _ => {}
        }
        let s = &self.scope;
        match result {
            Ok(r) => tracing::debug!(
                adapter = %s.platform, operation = s.operation, request_id = %s.request_id,
                host = %target, status = r.status, elapsed_ms = elapsed.as_secs_f64() * 1000.0,
                "outbound request"
            ),
            Err(OutboundError::Denied(reason)) => tracing::warn!(
                adapter = %s.platform, operation = s.operation, request_id = %s.request_id,
                host = %target, %reason, "outbound request denied"
            ),
            Err(e) => tracing::warn!(
                adapter = %s.platform, operation = s.operation, request_id = %s.request_id,
                host = %target, error = %e, "outbound request failed"
            ),
        }
    }
}

impl http::Host for HostState {
    async fn send(&mut self, request: http::Request) -> Result<http::Response, http::HttpError> {
        let req = outbound_request(request);
        // The wait for the CRM is not the adapter's CPU time.
        self.cpu.pause();
        let started = std::time::Instant::now();
        let (target, result) = match self.outbound.prepare(&mut self.policy, &req) {
            Ok(prepared) => {
                let host = prepared.host.clone();
                (host, self.outbound.execute_detached(&self.policy, prepared.url, req).await)
            }
            // Refused before it was sent: the reason names what was wrong.
            Err(e) => (String::new(), Err(e)),
        };
        self.observe(&target, started.elapsed(), &result);
        self.cpu.resume();
        wit_result(result)
    }

    async fn send_all(&mut self, requests: Vec<http::Request>) -> Vec<Result<http::Response, http::HttpError>> {
        // A batch that does not fit the call's remaining budget is refused
        // whole: none of it is sent.
        if requests.len() > self.policy.remaining_requests as usize {
            let reason = format!(
                "a batch of {} outbound requests is over the {} left in this call's budget",
                requests.len(),
                self.policy.remaining_requests
            );
            let refused = Err(OutboundError::LimitExceeded(reason));
            self.observe("", std::time::Duration::ZERO, &refused);
            return requests.iter().map(|_| wit_result(refused.clone())).collect();
        }
        // Every request is checked (allow-list, size) before any is sent.
        self.cpu.pause();
        let started = std::time::Instant::now();
        let mut targets = Vec::with_capacity(requests.len());
        let mut prepared = Vec::with_capacity(requests.len());
        for request in requests {
            let req = outbound_request(request);
            let checked = self.outbound.prepare(&mut self.policy, &req);
            targets.push(checked.as_ref().map(|p| p.host.clone()).unwrap_or_default());
            prepared.push(checked.map(|p| (p, req)));
        }
        let results = self.outbound.execute_all_detached(&self.policy, prepared, SEND_ALL_CONCURRENCY).await;
        let elapsed = started.elapsed();
        for (target, result) in targets.iter().zip(&results) {
            self.observe(target, elapsed, result);
        }
        self.cpu.resume();
        results.into_iter().map(wit_result).collect()
    }
}

/// The first `max` characters of `s`, control characters (newlines, escape
/// sequences) written as escapes.
fn escape_controls(s: &str, max: usize) -> String {
    let mut out = String::with_capacity(s.len().min(max));
    for c in s.chars().take(max) {
        if c.is_control() {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    out
}

/// The most log lines one adapter call writes, and the longest of them.
const MAX_LOG_LINES: u32 = 100;
const MAX_LOG_CHARS: usize = 2000;

impl log::Host for HostState {
    async fn log(&mut self, level: log::Level, message: String) {
        // Adapter text is untrusted: one call writes at most MAX_LOG_LINES
        // lines of at most MAX_LOG_CHARS characters, control characters
        // escaped (a newline cannot forge a log line of its own).
        self.log_lines += 1;
        if self.log_lines > MAX_LOG_LINES {
            return;
        }
        let s = &self.scope;
        let mut message = escape_controls(&message, MAX_LOG_CHARS);
        if self.log_lines == MAX_LOG_LINES {
            message.push_str(" (log limit of this call reached: further lines are dropped)");
        }
        match level {
            log::Level::Trace => {
                tracing::trace!(adapter = %s.platform, version = %s.version, operation = s.operation, request_id = %s.request_id, "{message}")
            }
            log::Level::Debug => {
                tracing::debug!(adapter = %s.platform, version = %s.version, operation = s.operation, request_id = %s.request_id, "{message}")
            }
            log::Level::Info => {
                tracing::info!(adapter = %s.platform, version = %s.version, operation = s.operation, request_id = %s.request_id, "{message}")
            }
            log::Level::Warn => {
                tracing::warn!(adapter = %s.platform, version = %s.version, operation = s.operation, request_id = %s.request_id, "{message}")
            }
            log::Level::Error => {
                tracing::error!(adapter = %s.platform, version = %s.version, operation = s.operation, request_id = %s.request_id, "{message}")
            }
        }
    }
}

/// The `config` key under which the host tells an adapter its per-call
/// outbound request budget (`limits.outbound_requests_per_call`, or the
/// adapter's override). Keys under `switchboard.` are the host's: an operator
/// setting of the same name is not seen.
pub(crate) const REQUEST_BUDGET_KEY: &str = "switchboard.outbound_requests_per_call";

impl config::Host for HostState {
    async fn get(&mut self, key: String) -> Option<String> {
        if key == REQUEST_BUDGET_KEY {
            return Some(self.request_budget.to_string());
        }
        if key.starts_with("switchboard.") {
            return None;
        }
        self.settings.get(&key).cloned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::allow_list::AllowList;
    use config::Host as _;

    fn state(settings: &[(&str, &str)], budget: u32) -> HostState {
        let scope =
            CallScope { platform: "x".into(), version: "0".into(), operation: "test", request_id: String::new() };
        let policy = CallPolicy {
            allowed: Arc::new(AllowList::default()),
            credential: None,
            remaining_requests: budget,
            max_response_bytes: 1,
            max_request_bytes: 1,
        };
        let outbound = Outbound::new(BTreeMap::new(), std::time::Duration::from_secs(1)).unwrap();
        let settings = settings.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        HostState::new(
            scope,
            policy,
            Arc::new(outbound),
            Arc::new(settings),
            1 << 20,
            super::super::memory_budget::Reservation::uncounted(),
            Arc::default(),
        )
    }

    #[tokio::test]
    async fn the_config_import_tells_the_request_budget_and_keeps_the_host_keys() {
        let mut s = state(&[(REQUEST_BUDGET_KEY, "999"), ("switchboard.other", "x"), ("activity_type", "call")], 7);
        assert_eq!(s.get(REQUEST_BUDGET_KEY.into()).await.as_deref(), Some("7"), "the host's value, not a setting");
        assert_eq!(s.get("switchboard.other".into()).await, None, "host keys are not operator settings");
        assert_eq!(s.get("activity_type".into()).await.as_deref(), Some("call"));
        assert_eq!(s.get("missing".into()).await, None);
    }

    /// A log sink for one test.
    #[derive(Clone, Default)]
    struct Capture(Arc<std::sync::Mutex<Vec<u8>>>);

    impl std::io::Write for Capture {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[tokio::test]
    async fn an_adapters_log_is_capped_per_call_and_cannot_forge_lines() {
        let sink = Capture::default();
        let writer = sink.clone();
        let subscriber = tracing_subscriber::fmt().with_writer(move || writer.clone()).with_ansi(false).finish();
        let _guard = tracing::subscriber::set_default(subscriber);
        let mut s = state(&[], 1);
        for i in 0..150 {
            let message = format!("line {i}\nINFO forged: the admin logged in \u{1b}[2J");
            log::Host::log(&mut s, log::Level::Info, message).await;
        }
        log::Host::log(&mut s, log::Level::Info, "x".repeat(10_000)).await;
        let text = String::from_utf8(sink.0.lock().unwrap().clone()).unwrap();
        assert_eq!(text.lines().count(), MAX_LOG_LINES as usize, "{text}");
        assert!(text.lines().all(|l| !l.starts_with("INFO forged")), "a newline stays inside its line");
        assert!(!text.contains('\u{1b}'), "no terminal escapes reach the log");
        assert!(text.contains("log limit of this call reached"));
    }
}
