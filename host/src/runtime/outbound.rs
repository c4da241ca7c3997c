//! Outbound HTTP for adapters: the only way an adapter reaches the network.
//!
//! Order of checks for every request (the deny path comes first):
//! 1. the per-call request budget;
//! 2. the URL's origin (scheme, host, port) must be in the adapter's allow-list
//!    — fail closed: an empty list allows nothing;
//! 3. the operator's upstream override may then point that origin elsewhere
//!    (a fake CRM, a sandbox) — it never widens the allow-list;
//! 4. the host adds the connection's credential header itself;
//! 5. redirects are not followed; timeouts and a response size cap apply;
//! 6. a CRM origin that answered 429 with `Retry-After` is held
//!    ([`super::retry_hold`]): the host answers for it until the time is up.

use super::retry_hold::RetryHolds;
use crate::allow_list::{AllowList, Origin};
use anyhow::Result;
use axum::http::{HeaderName, HeaderValue};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;
use url::Url;

#[derive(Debug, Clone)]
pub(crate) struct OutboundRequest {
    pub(crate) method: reqwest::Method,
    pub(crate) url: String,
    pub(crate) headers: Vec<(String, String)>,
    pub(crate) body: Option<Vec<u8>>,
}

#[derive(Debug, Clone)]
pub(crate) struct OutboundResponse {
    pub(crate) status: u16,
    pub(crate) headers: Vec<(String, String)>,
    pub(crate) body: Vec<u8>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum OutboundError {
    #[error("denied: {0}")]
    Denied(String),
    #[error("timed out")]
    Timeout,
    #[error("transport error: {0}")]
    Transport(String),
    #[error("limit exceeded: {0}")]
    LimitExceeded(String),
}

/// What one adapter call may do; owned by that call's store.
#[derive(Debug, Clone)]
pub(crate) struct CallPolicy {
    pub(crate) allowed: Arc<AllowList>,
    /// The header carrying the connection's credential, added by the host.
    pub(crate) credential: Option<(HeaderName, HeaderValue)>,
    pub(crate) remaining_requests: u32,
    /// Largest response body handed to the adapter.
    pub(crate) max_response_bytes: usize,
    /// Largest request body the adapter may send.
    pub(crate) max_request_bytes: usize,
}

/// The shared outbound client and the operator's overrides.
#[derive(Debug, Clone)]
pub(crate) struct Outbound {
    client: reqwest::Client,
    overrides: BTreeMap<Origin, Url>,
    holds: Arc<RetryHolds>,
}

impl Outbound {
    pub(crate) fn new(overrides: BTreeMap<Origin, Url>, timeout: Duration) -> Result<Self> {
        // reqwest is built without a default TLS provider (aws-lc needs cmake,
        // absent here); ring is ours. An error means one is already installed.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .connect_timeout(Duration::from_secs(5).min(timeout))
            .timeout(timeout)
            .user_agent(concat!("switchboard/", env!("CARGO_PKG_VERSION")))
            .build()?;
        Ok(Outbound { client, overrides, holds: Arc::default() })
    }

    /// The shared HTTP client (no redirects, timeouts set).
    pub(crate) fn client(&self) -> &reqwest::Client {
        &self.client
    }

    /// Applies the operator's upstream override to a URL the host itself calls
    /// (an OAuth token endpoint); other URLs are returned unchanged.
    pub(crate) fn rewrite(&self, url: &Url) -> Url {
        match Origin::of(url).and_then(|o| self.overrides.get(&o)) {
            Some(base) => rebase(url, base),
            None => url.clone(),
        }
    }

    /// Checks the request against the policy and rewrites it for the wire;
    /// the URL is parsed here once, after its length is checked.
    pub(crate) fn prepare(&self, policy: &mut CallPolicy, req: &OutboundRequest) -> Result<Prepared, OutboundError> {
        if policy.remaining_requests == 0 {
            return Err(OutboundError::LimitExceeded("too many outbound requests in one call".into()));
        }
        // Before parsing: IDNA on a megabyte host name takes seconds of a worker.
        if req.url.len() > MAX_URL_BYTES {
            return Err(OutboundError::LimitExceeded(format!(
                "a URL of {} bytes is over the limit of {MAX_URL_BYTES} bytes",
                req.url.len()
            )));
        }
        check_headers(&req.headers)?;
        let url = Url::parse(&req.url).map_err(|e| OutboundError::Denied(format!("invalid URL: {e}")))?;
        let origin =
            Origin::of(&url).ok_or_else(|| OutboundError::Denied(format!("not an http(s) URL: {}", url.scheme())))?;
        if !url.username().is_empty() || url.password().is_some() {
            return Err(OutboundError::Denied("URLs with credentials are not allowed".into()));
        }
        if !policy.allowed.admits(&origin) {
            return Err(OutboundError::Denied(format!("{origin} is not in the adapter's allowed hosts")));
        }
        let body_len = req.body.as_ref().map_or(0, Vec::len);
        if body_len > policy.max_request_bytes {
            return Err(OutboundError::LimitExceeded(format!(
                "request body of {body_len} bytes is over the limit of {} bytes",
                policy.max_request_bytes
            )));
        }
        policy.remaining_requests -= 1;
        // An allowed host: one of a fixed set, at most a DNS name long.
        let host = url.host_str().unwrap_or_default();
        let host = host[..host.floor_char_boundary(253)].to_owned();
        let url = match self.overrides.get(&origin) {
            Some(base) => rebase(&url, base),
            None => url,
        };
        Ok(Prepared { url, host })
    }

    /// Sends requests that [`Outbound::prepare`] already accepted, at most
    /// `concurrency` at a time; answers in the order given. The bodies of the
    /// whole batch together are capped at one response's limit
    /// (`outbound_max_response_bytes`): the host holds them all until the
    /// batch is done, so a response past the batch's cap fails.
    pub(crate) async fn execute_all(
        &self,
        policy: &CallPolicy,
        prepared: Vec<Result<(Prepared, OutboundRequest), OutboundError>>,
        concurrency: usize,
    ) -> Vec<Result<OutboundResponse, OutboundError>> {
        use futures_util::StreamExt;
        let batch = std::sync::atomic::AtomicUsize::new(0);
        let batch = &batch;
        futures_util::stream::iter(prepared)
            .map(|p| async move {
                let (prepared, req) = p?;
                self.execute(policy, prepared.url, req, Some(batch)).await
            })
            .buffered(concurrency.max(1))
            .collect()
            .await
    }

    /// [`Outbound::execute`] as a task of its own, awaited by the caller;
    /// dropping the wait (the call's wall-clock deadline, a client gone)
    /// aborts the request.
    ///
    /// Why a task: an adapter's host call runs on the guest's fiber stack,
    /// and every in-flight call keeps resident the deepest stack it touched;
    /// polled there, the HTTP client's frames were most of it. And each
    /// wake-up of the exchange (connection checkout, write, response head,
    /// every body chunk) polls only this small task instead of the whole
    /// request's futures down through the fiber.
    pub(crate) async fn execute_detached(
        self: &Arc<Self>,
        policy: &CallPolicy,
        url: Url,
        req: OutboundRequest,
    ) -> Result<OutboundResponse, OutboundError> {
        let (outbound, policy) = (self.clone(), policy.clone());
        Detached::spawn(async move { outbound.execute(&policy, url, req, None).await }).join().await?
    }

    /// [`Outbound::execute_all`] as a task of its own (see
    /// [`Outbound::execute_detached`]).
    pub(crate) async fn execute_all_detached(
        self: &Arc<Self>,
        policy: &CallPolicy,
        prepared: Vec<Result<(Prepared, OutboundRequest), OutboundError>>,
        concurrency: usize,
    ) -> Vec<Result<OutboundResponse, OutboundError>> {
        let (outbound, policy) = (self.clone(), policy.clone());
        let count = prepared.len();
        let task = Detached::spawn(async move { outbound.execute_all(&policy, prepared, concurrency).await });
        match task.join().await {
            Ok(results) => results,
            Err(e) => vec![Err(e); count],
        }
    }

    /// Sends one prepared request: the credential header is the host's, no
    /// redirects, the response body capped.
    pub(crate) async fn execute(
        &self,
        policy: &CallPolicy,
        url: Url,
        req: OutboundRequest,
        batch: Option<&std::sync::atomic::AtomicUsize>,
    ) -> Result<OutboundResponse, OutboundError> {
        let hold = RetryHolds::key(&url, policy.credential.as_ref().map(|(_, v)| v));
        if let Some(secs) = self.holds.held_for(hold) {
            return Ok(held_response(secs));
        }
        let mut builder = self.client.request(req.method.clone(), url);
        for (name, value) in &req.headers {
            let is_credential_header =
                policy.credential.as_ref().is_some_and(|(h, _)| h.as_str().eq_ignore_ascii_case(name));
            if !is_credential_header {
                builder = builder.header(name, value);
            }
        }
        if let Some((name, value)) = &policy.credential {
            builder = builder.header(name, value.clone());
        }
        if let Some(body) = req.body {
            builder = builder.body(body);
        }
        let mut response = builder.send().await.map_err(classify)?;
        let status = response.status().as_u16();
        let headers: Vec<(String, String)> = response
            .headers()
            .iter()
            .filter_map(|(k, v)| Some((k.as_str().to_owned(), v.to_str().ok()?.to_owned())))
            .collect();
        let mut body = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(classify)? {
            if body.len() + chunk.len() > policy.max_response_bytes {
                return Err(OutboundError::LimitExceeded(format!(
                    "response body larger than {} bytes",
                    policy.max_response_bytes
                )));
            }
            if let Some(batch) = batch {
                let before = batch.fetch_add(chunk.len(), std::sync::atomic::Ordering::Relaxed);
                if before + chunk.len() > policy.max_response_bytes {
                    return Err(OutboundError::LimitExceeded(format!(
                        "the responses of one send-all batch are larger than {} bytes together",
                        policy.max_response_bytes
                    )));
                }
            }
            body.extend_from_slice(&chunk);
        }
        if status == 429 {
            self.holds.note_429(hold, &headers);
        }
        Ok(OutboundResponse { status, headers, body })
    }
}

/// A spawned task that is aborted when this handle is dropped unjoined.
struct Detached<T>(tokio::task::JoinHandle<T>);

impl<T: Send + 'static> Detached<T> {
    fn spawn(future: impl std::future::Future<Output = T> + Send + 'static) -> Self {
        Detached(tokio::spawn(future))
    }

    /// The task's output. A panic in it fails this request alone, as a
    /// transport error; the log says so without the panic's text (it may
    /// hold a URL or a header).
    async fn join(mut self) -> Result<T, OutboundError> {
        (&mut self.0).await.map_err(|e| {
            tracing::error!(panicked = e.is_panic(), "an outbound request task failed");
            OutboundError::Transport("the host's request task failed".into())
        })
    }
}

impl<T> Drop for Detached<T> {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// A request [`Outbound::prepare`] accepted.
#[derive(Debug)]
pub(crate) struct Prepared {
    /// Where it goes on the wire (after the operator's upstream override).
    pub(crate) url: Url,
    /// The host the adapter asked for, for logs and metric labels.
    pub(crate) host: String,
}

/// The longest URL an adapter may send, in bytes (browsers and CRMs stop
/// well before: 8 KiB is the common server limit).
pub(crate) const MAX_URL_BYTES: usize = 8 * 1024;
/// At most this many headers, of at most this many bytes in all, per request.
const MAX_HEADERS: usize = 64;
const MAX_HEADER_BYTES: usize = 16 * 1024;

/// Headers an adapter may not set: where a request goes and how it travels
/// are the host's (`Host`, hop-by-hop headers, framing, proxy and forwarding
/// headers), like its credential. Every other valid header name passes.
fn reserved_header(name: &str) -> bool {
    const RESERVED: &[&str] = &[
        "host",
        "connection",
        "keep-alive",
        "transfer-encoding",
        "te",
        "trailer",
        "upgrade",
        "content-length",
        "expect",
        "forwarded",
        "via",
    ];
    let name = name.to_ascii_lowercase();
    RESERVED.contains(&name.as_str()) || name.starts_with("proxy-") || name.starts_with("x-forwarded-")
}

fn check_headers(headers: &[(String, String)]) -> Result<(), OutboundError> {
    if headers.len() > MAX_HEADERS {
        return Err(OutboundError::LimitExceeded(format!(
            "{} headers, over the limit of {MAX_HEADERS}",
            headers.len()
        )));
    }
    let bytes: usize = headers.iter().map(|(n, v)| n.len() + v.len()).sum();
    if bytes > MAX_HEADER_BYTES {
        return Err(OutboundError::LimitExceeded(format!(
            "{bytes} bytes of headers, over the limit of {MAX_HEADER_BYTES}"
        )));
    }
    for (name, value) in headers {
        if reqwest::header::HeaderName::from_bytes(name.as_bytes()).is_err()
            || reqwest::header::HeaderValue::from_str(value).is_err()
        {
            let shown: String = name.chars().take(64).flat_map(char::escape_default).collect();
            return Err(OutboundError::Denied(format!("header {shown:?} is not a valid HTTP header")));
        }
        if reserved_header(name) {
            return Err(OutboundError::Denied(format!(
                "header `{}` is set by the host, not by adapters",
                name.to_ascii_lowercase()
            )));
        }
    }
    Ok(())
}

/// The host's own 429 for a request to a CRM origin on hold.
fn held_response(secs: u64) -> OutboundResponse {
    OutboundResponse {
        status: 429,
        headers: vec![("retry-after".into(), secs.to_string()), ("content-type".into(), "application/json".into())],
        body: format!(
            "{{\"error\":\"rate_limited\",\"message\":\"held by switchboard: the CRM asked to wait {secs} more seconds\"}}"
        )
        .into_bytes(),
    }
}

fn classify(e: reqwest::Error) -> OutboundError {
    if e.is_timeout() {
        OutboundError::Timeout
    } else {
        // Without the URL: it may carry query parameters the user typed.
        OutboundError::Transport(e.without_url().to_string())
    }
}

/// `https://api.crm.example/v1/x?q=1` over `http://127.0.0.1:9000/prefix`
/// → `http://127.0.0.1:9000/prefix/v1/x?q=1`.
fn rebase(url: &Url, base: &Url) -> Url {
    let mut out = base.clone();
    let prefix = base.path().trim_end_matches('/');
    out.set_path(&format!("{prefix}{}", url.path()));
    out.set_query(url.query());
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(allowed: &[&str]) -> CallPolicy {
        CallPolicy {
            allowed: Arc::new(AllowList::new(allowed.iter().map(|a| a.parse().unwrap()).collect())),
            credential: None,
            remaining_requests: 2,
            max_response_bytes: 1024,
            max_request_bytes: 16,
        }
    }

    fn get(url: &str) -> OutboundRequest {
        OutboundRequest { method: reqwest::Method::GET, url: url.into(), headers: vec![], body: None }
    }

    fn outbound(overrides: &[(&str, &str)]) -> Outbound {
        let map = overrides.iter().map(|(a, b)| (a.parse().unwrap(), Url::parse(b).unwrap())).collect();
        Outbound::new(map, Duration::from_secs(1)).unwrap()
    }

    #[test]
    fn hosts_outside_the_allow_list_are_denied() {
        let o = outbound(&[]);
        let mut p = policy(&["https://api.crm.example"]);
        for url in [
            "https://evil.example/x",
            "http://api.crm.example/x",       // other scheme
            "https://api.crm.example:8443/x", // other port
            "https://api.crm.example.evil.example/x",
            "file:///etc/passwd",
            "https://user:pw@api.crm.example/x",
        ] {
            assert!(matches!(o.prepare(&mut p, &get(url)), Err(OutboundError::Denied(_))), "{url}");
        }
        assert_eq!(p.remaining_requests, 2, "denied requests do not use the budget");
        let mut empty = policy(&[]);
        assert!(matches!(o.prepare(&mut empty, &get("https://api.crm.example/")), Err(OutboundError::Denied(_))));
    }

    #[test]
    fn a_wildcard_entry_admits_subdomains_only() {
        let o = outbound(&[]);
        let mut p = policy(&["https://*.crm.example"]);
        p.remaining_requests = 10;
        for url in ["https://acme.crm.example/v1", "https://eu.acme.crm.example/v1"] {
            assert!(o.prepare(&mut p, &get(url)).is_ok(), "{url}");
        }
        for url in [
            "https://crm.example/v1",           // the bare domain
            "https://evilcrm.example/v1",       // not a subdomain
            "https://acme.crm.example.evil/v1", // suffix elsewhere
            "http://acme.crm.example/v1",       // other scheme
            "https://acme.crm.example:8443/v1", // other port
        ] {
            assert!(matches!(o.prepare(&mut p, &get(url)), Err(OutboundError::Denied(_))), "{url}");
        }
    }

    #[test]
    fn overrides_apply_after_the_allow_list_and_never_widen_it() {
        let o = outbound(&[
            ("https://api.crm.example", "http://127.0.0.1:9000/fake"),
            ("https://other.example", "http://127.0.0.1:9001"),
        ]);
        let mut p = policy(&["https://api.crm.example"]);
        let prepared = o.prepare(&mut p, &get("https://API.crm.example/v1/contacts?phone=%2B1")).unwrap();
        assert_eq!(prepared.url.as_str(), "http://127.0.0.1:9000/fake/v1/contacts?phone=%2B1");
        assert_eq!(prepared.host, "api.crm.example", "logs and labels name the host the adapter asked for");
        assert!(matches!(o.prepare(&mut p, &get("https://other.example/")), Err(OutboundError::Denied(_))));
    }

    #[test]
    fn oversize_request_bodies_are_refused() {
        let o = outbound(&[]);
        let mut p = policy(&["https://api.crm.example"]);
        let mut req = get("https://api.crm.example/x");
        req.body = Some(vec![0; 17]);
        assert!(matches!(o.prepare(&mut p, &req), Err(OutboundError::LimitExceeded(_))));
        req.body = Some(vec![0; 16]);
        assert!(o.prepare(&mut p, &req).is_ok());
    }

    #[test]
    fn the_request_budget_is_enforced() {
        let o = outbound(&[]);
        let mut p = policy(&["https://api.crm.example"]);
        assert!(o.prepare(&mut p, &get("https://api.crm.example/1")).is_ok());
        assert!(o.prepare(&mut p, &get("https://api.crm.example/2")).is_ok());
        assert!(matches!(o.prepare(&mut p, &get("https://api.crm.example/3")), Err(OutboundError::LimitExceeded(_))));
    }

    #[test]
    fn transport_headers_are_the_hosts() {
        let o = outbound(&[]);
        for name in [
            "Host",
            "connection",
            "Transfer-Encoding",
            "content-length",
            "Proxy-Authorization",
            "X-Forwarded-For",
            "forwarded",
        ] {
            let mut p = policy(&["https://api.crm.example"]);
            let mut req = get("https://api.crm.example/x");
            req.headers = vec![(name.into(), "evil.example".into())];
            let err = o.prepare(&mut p, &req).unwrap_err();
            assert!(
                matches!(&err, OutboundError::Denied(m) if m.contains(&name.to_ascii_lowercase())),
                "{name}: {err:?}"
            );
        }
        let mut p = policy(&["https://api.crm.example"]);
        let mut req = get("https://api.crm.example/x");
        req.headers = vec![("idempotency-key".into(), "k".into()), ("x-api-version".into(), "2".into())];
        assert!(o.prepare(&mut p, &req).is_ok(), "the CRM's own headers pass");
        req.headers = vec![("x-a".into(), "v\r\nhost: evil.example".into())];
        assert!(matches!(o.prepare(&mut p, &req), Err(OutboundError::Denied(_))), "no CR/LF in values");
        req.headers = (0..65).map(|i| (format!("x-{i}"), "v".into())).collect();
        assert!(matches!(o.prepare(&mut p, &req), Err(OutboundError::LimitExceeded(_))));
    }

    #[test]
    fn a_huge_url_is_refused_before_it_is_parsed() {
        let o = outbound(&[]);
        let mut p = policy(&["https://api.crm.example"]);
        let url = format!("https://{}.example/", "a".repeat(2 * 1024 * 1024));
        assert!(matches!(o.prepare(&mut p, &get(&url)), Err(OutboundError::LimitExceeded(_))));
        assert_eq!(p.remaining_requests, 2, "a refused request does not count");
    }
}
