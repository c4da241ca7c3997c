//! Outbound HTTP for adapters: the only way an adapter reaches the network.
//!
//! Order of checks for every request (the deny path comes first):
//! 1. the per-call request budget;
//! 2. the URL's origin (scheme, host, port) must be in the adapter's allow-list
//!    — fail closed: an empty list allows nothing;
//! 3. the operator's upstream override may then point that origin elsewhere
//!    (a fake CRM, a sandbox) — it never widens the allow-list;
//! 4. the host adds the connection's credential header itself;
//! 5. redirects are not followed; timeouts and a response size cap apply.

use anyhow::{Result, bail};
use axum::http::{HeaderName, HeaderValue};
use std::collections::{BTreeMap, HashMap};
use std::hash::{Hash, Hasher};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use url::Url;

/// Scheme, host and port: what an allow-list entry names.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Origin {
    pub scheme: String,
    pub host: String,
    pub port: u16,
}

impl Origin {
    /// Parses `https://api.example.com[:port]` (no path, query or credentials).
    pub fn parse(s: &str) -> Result<Origin> {
        // `url` does not accept `*` in a host: parse a stand-in label and put
        // the wildcard back, so `https://*.crm.example` is checked like any origin.
        if let Some(rest) = s.strip_prefix("https://*.").or_else(|| s.strip_prefix("http://*.")) {
            let scheme = if s.starts_with("https") { "https" } else { "http" };
            if rest.contains('*') {
                bail!("only the first label of a host may be a wildcard: {s:?}");
            }
            let mut origin = Self::parse(&format!("{scheme}://wildcard.{rest}"))?;
            origin.host = origin.host.replacen("wildcard.", "*.", 1);
            return Ok(origin);
        }
        let url = Url::parse(s)?;
        if url.path() != "/" || url.query().is_some() || url.fragment().is_some() {
            bail!("an origin has no path, query or fragment: {s:?}");
        }
        if !url.username().is_empty() || url.password().is_some() {
            bail!("an origin carries no credentials");
        }
        let origin = Self::of(&url).ok_or_else(|| anyhow::anyhow!("not an http(s) origin: {s:?}"))?;
        if origin.host.contains('*') {
            bail!("only the first label of a host may be a wildcard: {s:?}");
        }
        Ok(origin)
    }

    /// Whether `self`, an allow-list entry, admits `other`. An entry whose
    /// host starts with `*.` admits any subdomain (one or more labels) of the
    /// rest, never the bare domain itself.
    pub fn admits(&self, other: &Origin) -> bool {
        if self.scheme != other.scheme || self.port != other.port {
            return false;
        }
        match self.host.strip_prefix("*.") {
            Some(domain) => other
                .host
                .strip_suffix(domain)
                .and_then(|sub| sub.strip_suffix('.'))
                .is_some_and(|sub| !sub.is_empty() && !sub.contains('*')),
            None => self.host == other.host,
        }
    }

    pub fn of(url: &Url) -> Option<Origin> {
        if url.scheme() != "http" && url.scheme() != "https" {
            return None;
        }
        Some(Origin {
            scheme: url.scheme().to_owned(),
            host: url.host_str()?.to_ascii_lowercase(),
            port: url.port_or_known_default()?,
        })
    }
}

impl std::fmt::Display for Origin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}://{}:{}", self.scheme, self.host, self.port)
    }
}

#[derive(Debug, Clone)]
pub struct OutboundRequest {
    pub method: reqwest::Method,
    pub url: String,
    pub headers: Vec<(String, String)>,
    pub body: Option<Vec<u8>>,
}

#[derive(Debug, Clone)]
pub struct OutboundResponse {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OutboundError {
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
pub struct CallPolicy {
    pub allowed: std::sync::Arc<Vec<Origin>>,
    /// The header carrying the connection's credential, added by the host.
    pub credential: Option<(HeaderName, HeaderValue)>,
    pub remaining_requests: u32,
    /// Largest response body handed to the adapter.
    pub max_response_bytes: usize,
    /// Largest request body the adapter may send.
    pub max_request_bytes: usize,
}

/// The shared outbound client and the operator's overrides.
#[derive(Debug, Clone)]
pub struct Outbound {
    client: reqwest::Client,
    overrides: BTreeMap<Origin, Url>,
    cooldowns: Arc<Cooldowns>,
}

/// Longest `Retry-After` the host holds requests for; a CRM asking for more
/// still gets its full value reported to the client.
const MAX_COOLDOWN: Duration = Duration::from_secs(3600);

/// CRMs that answered 429 with `Retry-After`, per origin and credential: until
/// then the host answers the adapter's requests to them with a 429 of its own
/// instead of sending them, so a busy client cannot hammer a CRM that asked
/// it to wait (Clio's 50 requests a minute, Jira's cost budget...).
#[derive(Debug, Default)]
struct Cooldowns(Mutex<HashMap<u64, Instant>>);

impl Cooldowns {
    /// Keyed by a hash of the origin and the credential: the credential itself
    /// is not kept.
    fn key(url: &Url, credential: Option<&HeaderValue>) -> u64 {
        let mut h = std::collections::hash_map::DefaultHasher::new();
        Origin::of(url).hash(&mut h);
        credential.map(HeaderValue::as_bytes).hash(&mut h);
        h.finish()
    }

    fn remaining(&self, key: u64) -> Option<Duration> {
        let mut map = self.0.lock().unwrap_or_else(|p| p.into_inner());
        let until = *map.get(&key)?;
        let left = until.saturating_duration_since(Instant::now());
        if left.is_zero() {
            map.remove(&key);
            return None;
        }
        Some(left)
    }

    fn hold(&self, key: u64, retry_after: Duration) {
        let mut map = self.0.lock().unwrap_or_else(|p| p.into_inner());
        let now = Instant::now();
        map.retain(|_, until| *until > now);
        map.insert(key, now + retry_after.min(MAX_COOLDOWN));
    }
}

/// `Retry-After` in seconds (the HTTP-date form is not used by the CRMs we serve).
fn retry_after(headers: &[(String, String)]) -> Option<Duration> {
    let value = headers.iter().find(|(k, _)| k.eq_ignore_ascii_case("retry-after"))?;
    value.1.trim().parse::<u64>().ok().filter(|s| *s > 0).map(Duration::from_secs)
}

impl Outbound {
    pub fn new(overrides: &BTreeMap<String, String>, timeout: Duration) -> Result<Self> {
        // reqwest is built without a default TLS provider (aws-lc needs cmake,
        // absent here); ring is ours. An error means one is already installed.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .connect_timeout(Duration::from_secs(5).min(timeout))
            .timeout(timeout)
            .user_agent(concat!("switchboard/", env!("CARGO_PKG_VERSION")))
            .build()?;
        let mut map = BTreeMap::new();
        for (from, to) in overrides {
            map.insert(Origin::parse(from)?, Url::parse(to)?);
        }
        Ok(Outbound { client, overrides: map, cooldowns: Arc::default() })
    }

    /// The shared HTTP client (no redirects, timeouts set).
    pub fn client(&self) -> &reqwest::Client {
        &self.client
    }

    /// Applies the operator's upstream override to a URL the host itself calls
    /// (an OAuth token endpoint); other URLs are returned unchanged.
    pub fn rewrite(&self, url: &Url) -> Url {
        match Origin::of(url).and_then(|o| self.overrides.get(&o)) {
            Some(base) => rebase(url, base),
            None => url.clone(),
        }
    }

    /// Checks the request against the policy and rewrites it for the wire.
    pub fn prepare(&self, policy: &mut CallPolicy, req: &OutboundRequest) -> Result<Url, OutboundError> {
        if policy.remaining_requests == 0 {
            return Err(OutboundError::LimitExceeded("too many outbound requests in one call".into()));
        }
        let url = Url::parse(&req.url).map_err(|e| OutboundError::Denied(format!("invalid URL: {e}")))?;
        let origin =
            Origin::of(&url).ok_or_else(|| OutboundError::Denied(format!("not an http(s) URL: {}", url.scheme())))?;
        if !url.username().is_empty() || url.password().is_some() {
            return Err(OutboundError::Denied("URLs with credentials are not allowed".into()));
        }
        if !policy.allowed.iter().any(|a| a.admits(&origin)) {
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
        Ok(match self.overrides.get(&origin) {
            Some(base) => rebase(&url, base),
            None => url,
        })
    }

    pub async fn send(&self, policy: &mut CallPolicy, req: OutboundRequest) -> Result<OutboundResponse, OutboundError> {
        let url = self.prepare(policy, &req)?;
        self.execute(policy, url, req).await
    }

    /// Sends requests that [`Outbound::prepare`] already accepted, at most
    /// `concurrency` at a time; answers in the order given.
    pub async fn execute_all(
        &self,
        policy: &CallPolicy,
        prepared: Vec<Result<(Url, OutboundRequest), OutboundError>>,
        concurrency: usize,
    ) -> Vec<Result<OutboundResponse, OutboundError>> {
        use futures_util::StreamExt;
        futures_util::stream::iter(prepared)
            .map(|p| async move {
                let (url, req) = p?;
                self.execute(policy, url, req).await
            })
            .buffered(concurrency.max(1))
            .collect()
            .await
    }

    /// Sends one prepared request: the credential header is the host's, no
    /// redirects, the response body capped.
    pub async fn execute(
        &self,
        policy: &CallPolicy,
        url: Url,
        req: OutboundRequest,
    ) -> Result<OutboundResponse, OutboundError> {
        let cooldown = Cooldowns::key(&url, policy.credential.as_ref().map(|(_, v)| v));
        if let Some(left) = self.cooldowns.remaining(cooldown) {
            let secs = left.as_secs_f64().ceil() as u64;
            return Ok(OutboundResponse {
                status: 429,
                headers: vec![
                    ("retry-after".into(), secs.to_string()),
                    ("content-type".into(), "application/json".into()),
                ],
                body: format!(
                    "{{\"error\":\"rate_limited\",\"message\":\"held by switchboard: the CRM asked to wait {secs} more seconds\"}}"
                )
                .into_bytes(),
            });
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
            body.extend_from_slice(&chunk);
        }
        if status == 429
            && let Some(wait) = retry_after(&headers)
        {
            self.cooldowns.hold(cooldown, wait);
        }
        Ok(OutboundResponse { status, headers, body })
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
            allowed: std::sync::Arc::new(allowed.iter().map(|a| Origin::parse(a).unwrap()).collect()),
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
        let map = overrides.iter().map(|(a, b)| (a.to_string(), b.to_string())).collect();
        Outbound::new(&map, Duration::from_secs(1)).unwrap()
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
        assert!(Origin::parse("https://*.*.crm.example").is_err());
        assert!(Origin::parse("https://a.*.crm.example").is_err());
    }

    #[test]
    fn overrides_apply_after_the_allow_list_and_never_widen_it() {
        let o = outbound(&[
            ("https://api.crm.example", "http://127.0.0.1:9000/fake"),
            ("https://other.example", "http://127.0.0.1:9001"),
        ]);
        let mut p = policy(&["https://api.crm.example"]);
        let url = o.prepare(&mut p, &get("https://API.crm.example/v1/contacts?phone=%2B1")).unwrap();
        assert_eq!(url.as_str(), "http://127.0.0.1:9000/fake/v1/contacts?phone=%2B1");
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
    fn retry_after_holds_one_origin_and_credential_only() {
        let c = Cooldowns::default();
        let crm = Url::parse("https://api.crm.example/v1/contacts").unwrap();
        let other = Url::parse("https://other.crm.example/v1/contacts").unwrap();
        let (alice, bob) = (HeaderValue::from_static("Bearer a"), HeaderValue::from_static("Bearer b"));
        c.hold(Cooldowns::key(&crm, Some(&alice)), Duration::from_secs(30));
        let left = c.remaining(Cooldowns::key(&crm, Some(&alice))).expect("held");
        assert!(left > Duration::from_secs(28) && left <= Duration::from_secs(30), "{left:?}");
        assert_eq!(c.remaining(Cooldowns::key(&crm, Some(&bob))), None, "another user's credential");
        assert_eq!(c.remaining(Cooldowns::key(&other, Some(&alice))), None, "another origin");
        c.hold(Cooldowns::key(&other, None), Duration::ZERO);
        assert_eq!(c.remaining(Cooldowns::key(&other, None)), None, "Retry-After: 0 holds nothing");
        let headers = vec![("Retry-After".to_string(), " 17 ".to_string())];
        assert_eq!(retry_after(&headers), Some(Duration::from_secs(17)));
        assert_eq!(retry_after(&[("retry-after".into(), "Wed, 21 Oct 2015 07:28:00 GMT".into())]), None);
    }

    #[test]
    fn the_request_budget_is_enforced() {
        let o = outbound(&[]);
        let mut p = policy(&["https://api.crm.example"]);
        assert!(o.prepare(&mut p, &get("https://api.crm.example/1")).is_ok());
        assert!(o.prepare(&mut p, &get("https://api.crm.example/2")).is_ok());
        assert!(matches!(o.prepare(&mut p, &get("https://api.crm.example/3")), Err(OutboundError::LimitExceeded(_))));
    }
}
