//! JSON over the host's `http` import.
//!
//! The host checks every URL against the adapter's allow-list, adds the
//! connection's credentials, applies timeouts and size caps. This module adds
//! what every CRM client needs on top: query strings, JSON bodies, and mapping of
//! HTTP statuses to [`CrmError`] ([`StatusMap`]: one mapping for every adapter,
//! with hooks for what differs per CRM).
//!
//! One long file: the request builder, `send`/`send_all` and the one status mapping (`StatusMap`)
//! belong together; a third is tests.

use crate::CrmError;
use crate::bindings::switchboard::crm::http::{self as wit, HttpError, Method};
use serde::Serialize;
use serde::de::DeserializeOwned;

/// An outbound request under construction.
#[derive(Debug, Clone)]
pub struct Request {
    method: Method,
    url: String,
    query: Vec<(String, String)>,
    headers: Vec<(String, String)>,
    body: Option<Vec<u8>>,
}

impl Request {
    pub fn new(method: Method, url: impl Into<String>) -> Self {
        Request {
            method,
            url: url.into(),
            query: Vec::new(),
            headers: vec![("accept".into(), "application/json".into())],
            body: None,
        }
    }
    pub fn get(url: impl Into<String>) -> Self {
        Self::new(Method::Get, url)
    }
    pub fn post(url: impl Into<String>) -> Self {
        Self::new(Method::Post, url)
    }
    pub fn patch(url: impl Into<String>) -> Self {
        Self::new(Method::Patch, url)
    }
    pub fn put(url: impl Into<String>) -> Self {
        Self::new(Method::Put, url)
    }
    pub fn delete(url: impl Into<String>) -> Self {
        Self::new(Method::Delete, url)
    }

    /// Adds a query parameter (percent-encoded).
    pub fn query(mut self, name: &str, value: &str) -> Self {
        self.query.push((name.to_owned(), value.to_owned()));
        self
    }

    pub fn header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.to_owned(), value.to_owned()));
        self
    }

    /// Sets a JSON body and its content type.
    pub fn json<T: Serialize + ?Sized>(mut self, body: &T) -> Result<Self, CrmError> {
        let bytes =
            serde_json::to_vec(body).map_err(|e| CrmError::Internal(format!("cannot encode request body: {e}")))?;
        self.headers.push(("content-type".into(), "application/json".into()));
        self.body = Some(bytes);
        Ok(self)
    }

    /// The full URL with its query string.
    pub fn full_url(&self) -> String {
        if self.query.is_empty() {
            return self.url.clone();
        }
        let sep = if self.url.contains('?') { '&' } else { '?' };
        let qs: Vec<String> =
            self.query.iter().map(|(k, v)| format!("{}={}", percent_encode(k), percent_encode(v))).collect();
        format!("{}{}{}", self.url, sep, qs.join("&"))
    }

    fn into_wit(self) -> wit::Request {
        wit::Request { method: self.method, url: self.full_url(), headers: self.headers, body: self.body }
    }

    /// Sends the request; any status is returned as a [`Response`].
    pub fn send_raw(self) -> Result<Response, CrmError> {
        let request = self.into_wit();
        #[cfg(target_arch = "wasm32")]
        let answer = wit::send(&request);
        #[cfg(not(target_arch = "wasm32"))]
        let answer = crate::harness::send(&request);
        from_wit(answer)
    }

    /// Sends the request; a non-2xx status becomes a [`CrmError`] by
    /// [`StatusMap::DEFAULT`].
    pub fn send(self) -> Result<Response, CrmError> {
        self.send_with(&StatusMap::DEFAULT)
    }

    /// Sends the request and decodes a 2xx JSON answer.
    pub fn send_json<T: DeserializeOwned>(self) -> Result<T, CrmError> {
        self.send()?.json()
    }

    /// Sends the request; a non-2xx status becomes a [`CrmError`] by `statuses`.
    pub fn send_with(self, statuses: &StatusMap) -> Result<Response, CrmError> {
        statuses.check(self.send_raw()?)
    }

    /// Sends the request and decodes a 2xx JSON answer; a non-2xx status
    /// becomes a [`CrmError`] by `statuses`.
    pub fn send_json_with<T: DeserializeOwned>(self, statuses: &StatusMap) -> Result<T, CrmError> {
        self.send_with(statuses)?.json()
    }
}

fn from_wit(answer: Result<wit::Response, HttpError>) -> Result<Response, CrmError> {
    match answer {
        Ok(r) => Ok(Response { status: r.status, headers: r.headers, body: r.body }),
        Err(HttpError::Denied(m)) => Err(CrmError::Internal(format!("request denied: {m}"))),
        Err(HttpError::Timeout) => Err(CrmError::Upstream("the CRM did not answer in time".into())),
        Err(HttpError::Transport(m)) => Err(CrmError::Upstream(format!("cannot reach the CRM: {m}"))),
        Err(HttpError::LimitExceeded(m)) => Err(CrmError::Internal(format!("limit exceeded: {m}"))),
    }
}

/// Sends several requests at once: the host runs a bounded number of them
/// concurrently and answers in the order given. Any status comes back as a
/// [`Response`]; use [`Response::error_for_status`] (or [`StatusMap::check`])
/// on each. Every request
/// counts against the per-call request budget; a batch larger than what is
/// left of it is refused whole (nothing is sent).
///
/// ```ignore
/// let deals = send_all(ids.iter().map(|id| Request::get(format!("{base}/deals")).query("person_id", id)).collect());
/// ```
pub fn send_all(requests: Vec<Request>) -> Vec<Result<Response, CrmError>> {
    let requests: Vec<wit::Request> = requests.into_iter().map(Request::into_wit).collect();
    #[cfg(target_arch = "wasm32")]
    let answers = wit::send_all(&requests);
    #[cfg(not(target_arch = "wasm32"))]
    let answers: Vec<_> = requests.iter().map(crate::harness::send).collect();
    answers.into_iter().map(from_wit).collect()
}

/// A CRM's answer.
#[derive(Debug, Clone)]
pub struct Response {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Response {
    /// The first header with this name (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }

    pub fn json<T: DeserializeOwned>(&self) -> Result<T, CrmError> {
        Ok(serde_json::from_slice(&self.body)?)
    }

    /// Maps a non-2xx status to the matching [`CrmError`] by [`StatusMap::DEFAULT`].
    pub fn error_for_status(self) -> Result<Response, CrmError> {
        StatusMap::DEFAULT.check(self)
    }
}

/// The first 200 characters of a body: the default error text of a [`StatusMap`].
pub fn body_snippet(body: &[u8]) -> String {
    String::from_utf8_lossy(body).chars().take(200).collect()
}

/// How a CRM's non-2xx answers become [`CrmError`]s: one mapping for every
/// adapter, with hooks for what differs from one CRM to the next.
///
/// | status          | error                                               |
/// |-----------------|-----------------------------------------------------|
/// | 401, 403        | `unauthorized`                                      |
/// | 404             | `not-found`                                         |
/// | 429             | `rate-limited`: the first [retry header](Self::retry_after_headers) that holds a number of seconds (`Retry-After`), else 60 |
/// | 400, 422        | `invalid-input`                                     |
/// | any other       | `upstream`                                          |
///
/// Messages read "{name} answered {status}: {error text}", the name being
/// "the CRM" unless [`StatusMap::new`] says otherwise, and the error text the
/// [`error_text`](Self::error_text) hook's (by default the body's first 200
/// characters). [`Request::send`], [`Request::send_json`] and
/// [`Response::error_for_status`] use [`StatusMap::DEFAULT`]; a CRM that needs
/// more defines its own map once, as a `const`, and sends with
/// [`Request::send_with`] / [`Request::send_json_with`]:
///
/// ```
/// use switchboard_sdk::CrmError;
/// use switchboard_sdk::http::{Response, StatusMap};
///
/// const STATUSES: StatusMap = StatusMap::new("Acme")
///     // A 429 without Retry-After: Acme's own header, then at least a second.
///     .retry_after_headers(&["retry-after", "x-ratelimit-reset"])
///     .min_retry_after(1)
///     // Acme's 409 is a conflict in what the user sent.
///     .overrides(|resp, text| match resp.status {
///         409 => Some(CrmError::InvalidInput(format!("Acme refused: {text}"))),
///         _ => None,
///     });
///
/// let conflict = Response { status: 409, headers: vec![], body: b"duplicate".to_vec() };
/// assert!(matches!(STATUSES.check(conflict), Err(CrmError::InvalidInput(m)) if m == "Acme refused: duplicate"));
/// ```
#[derive(Clone, Copy)]
pub struct StatusMap {
    name: &'static str,
    error_text: fn(&[u8]) -> String,
    overrides: Option<fn(&Response, &str) -> Option<CrmError>>,
    retry_after_headers: &'static [&'static str],
    default_retry_after: u32,
    min_retry_after: u32,
    on_rate_limited: Option<fn(&Response, u32)>,
}

impl StatusMap {
    /// The mapping of the table above, with "the CRM" in messages.
    pub const DEFAULT: StatusMap = StatusMap::new("the CRM");

    /// The default mapping, naming the CRM `name` in messages ("Jira answered 404: ...").
    pub const fn new(name: &'static str) -> StatusMap {
        StatusMap {
            name,
            error_text: body_snippet,
            overrides: None,
            retry_after_headers: &["retry-after"],
            default_retry_after: 60,
            min_retry_after: 0,
            on_rate_limited: None,
        }
    }

    /// How to read what the CRM said from an error answer's body (e.g. the
    /// messages of its JSON error shape); the default is [`body_snippet`].
    pub const fn error_text(mut self, read: fn(&[u8]) -> String) -> StatusMap {
        self.error_text = read;
        self
    }

    /// A CRM's own mapping, asked first for every non-2xx answer with the
    /// answer and its error text: `Some(error)` wins, `None` leaves the status
    /// to the table.
    pub const fn overrides(mut self, map: fn(&Response, &str) -> Option<CrmError>) -> StatusMap {
        self.overrides = Some(map);
        self
    }

    /// The headers that may hold the seconds to wait after a 429, tried in
    /// order; the default is `["retry-after"]`. (Only a number of seconds is
    /// understood, not an HTTP date.)
    pub const fn retry_after_headers(mut self, headers: &'static [&'static str]) -> StatusMap {
        self.retry_after_headers = headers;
        self
    }

    /// The seconds to wait after a 429 when no header says; the default is 60.
    pub const fn default_retry_after(mut self, secs: u32) -> StatusMap {
        self.default_retry_after = secs;
        self
    }

    /// The least seconds to wait after a 429 (e.g. 1 when the CRM may say
    /// `0`); the default is 0.
    pub const fn min_retry_after(mut self, secs: u32) -> StatusMap {
        self.min_retry_after = secs;
        self
    }

    /// Called with a 429 answer and the seconds to wait (e.g. to log the CRM's
    /// reason header) before it becomes `rate-limited`.
    pub const fn on_rate_limited(mut self, hook: fn(&Response, u32)) -> StatusMap {
        self.on_rate_limited = Some(hook);
        self
    }

    /// The seconds to wait after this 429 answer.
    pub fn retry_after(&self, resp: &Response) -> u32 {
        self.retry_after_headers
            .iter()
            .find_map(|name| resp.header(name).and_then(|v| v.trim().parse::<u32>().ok()))
            .unwrap_or(self.default_retry_after)
            .max(self.min_retry_after)
    }

    /// A 2xx answer as it came; any other status as its [`CrmError`].
    pub fn check(&self, resp: Response) -> Result<Response, CrmError> {
        if (200..300).contains(&resp.status) {
            return Ok(resp);
        }
        Err(self.error(&resp))
    }

    /// The [`CrmError`] of a non-2xx answer.
    pub fn error(&self, resp: &Response) -> CrmError {
        let text = (self.error_text)(&resp.body);
        if let Some(e) = self.overrides.and_then(|map| map(resp, &text)) {
            return e;
        }
        let said = || format!("{} answered {}: {text}", self.name, resp.status);
        match resp.status {
            401 | 403 => CrmError::Unauthorized(said()),
            404 => CrmError::NotFound(said()),
            429 => {
                let secs = self.retry_after(resp);
                if let Some(hook) = self.on_rate_limited {
                    hook(resp, secs);
                }
                CrmError::RateLimited(secs)
            }
            400 | 422 => CrmError::InvalidInput(said()),
            _ => CrmError::Upstream(said()),
        }
    }
}

impl std::fmt::Debug for StatusMap {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StatusMap")
            .field("name", &self.name)
            .field("overrides", &self.overrides.is_some())
            .field("retry_after_headers", &self.retry_after_headers)
            .field("default_retry_after", &self.default_retry_after)
            .field("min_retry_after", &self.min_retry_after)
            .field("on_rate_limited", &self.on_rate_limited.is_some())
            .finish_non_exhaustive()
    }
}

/// Percent-encodes a query component (RFC 3986 unreserved characters pass).
pub fn percent_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => out.push(b as char),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_strings_are_encoded() {
        let r =
            Request::get("https://crm.example/v1/search").query("phone", "+1 (650) 555-1212").query("fields", "phone");
        assert_eq!(r.full_url(), "https://crm.example/v1/search?phone=%2B1%20%28650%29%20555-1212&fields=phone");
    }

    #[test]
    fn statuses_map_to_crm_errors() {
        let resp = |status, headers: Vec<(String, String)>| Response { status, headers, body: b"nope".to_vec() };
        assert!(matches!(resp(401, vec![]).error_for_status(), Err(CrmError::Unauthorized(_))));
        assert!(matches!(resp(404, vec![]).error_for_status(), Err(CrmError::NotFound(_))));
        assert!(matches!(
            resp(429, vec![("Retry-After".into(), "17".into())]).error_for_status(),
            Err(CrmError::RateLimited(17))
        ));
        assert!(matches!(resp(503, vec![]).error_for_status(), Err(CrmError::Upstream(_))));
        assert!(resp(201, vec![]).error_for_status().is_ok());
    }

    fn answer(status: u16, headers: &[(&str, &str)], body: &str) -> Response {
        Response {
            status,
            headers: headers.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
            body: body.as_bytes().to_vec(),
        }
    }

    #[test]
    fn the_default_map_names_the_status_and_the_body() {
        let m = |status, body: &str| StatusMap::DEFAULT.error(&answer(status, &[], body));
        assert!(matches!(m(403, "no"), CrmError::Unauthorized(s) if s == "the CRM answered 403: no"));
        assert!(matches!(m(404, "gone"), CrmError::NotFound(s) if s == "the CRM answered 404: gone"));
        assert!(matches!(m(422, "bad"), CrmError::InvalidInput(s) if s == "the CRM answered 422: bad"));
        assert!(
            matches!(m(400, &"x".repeat(300)), CrmError::InvalidInput(s) if s.len() == "the CRM answered 400: ".len() + 200)
        );
        assert!(matches!(m(500, ""), CrmError::Upstream(s) if s == "the CRM answered 500: "));
        assert!(matches!(m(429, ""), CrmError::RateLimited(60)), "no Retry-After: a minute");
        assert!(matches!(
            StatusMap::DEFAULT.error(&answer(429, &[("retry-after", "0")], "")),
            CrmError::RateLimited(0)
        ));
    }

    #[test]
    fn a_vendor_map_reads_its_error_text_overrides_statuses_and_falls_back_on_its_headers() {
        thread_local! {
            static LIMITED: std::cell::Cell<Option<u32>> = const { std::cell::Cell::new(None) };
        }
        const ACME: StatusMap = StatusMap::new("Acme")
            .error_text(|body| String::from_utf8_lossy(body).to_uppercase())
            .overrides(|resp, text| match resp.status {
                403 => Some(CrmError::InvalidInput(format!("Acme refused: {text}"))),
                _ => None,
            })
            .retry_after_headers(&["retry-after", "x-ratelimit-reset"])
            .min_retry_after(1)
            .on_rate_limited(|_, secs| LIMITED.with(|l| l.set(Some(secs))));
        assert!(
            matches!(ACME.error(&answer(403, &[], "scope")), CrmError::InvalidInput(s) if s == "Acme refused: SCOPE")
        );
        assert!(
            matches!(ACME.error(&answer(401, &[], "expired")), CrmError::Unauthorized(s) if s == "Acme answered 401: EXPIRED")
        );
        let limited = |headers: &[(&str, &str)]| ACME.error(&answer(429, headers, ""));
        assert!(matches!(limited(&[("Retry-After", "17"), ("x-ratelimit-reset", "2")]), CrmError::RateLimited(17)));
        assert!(matches!(limited(&[("Retry-After", "soon"), ("x-ratelimit-reset", "2")]), CrmError::RateLimited(2)));
        assert!(matches!(limited(&[("x-ratelimit-reset", "0")]), CrmError::RateLimited(1)), "at least a second");
        assert!(matches!(limited(&[]), CrmError::RateLimited(60)));
        assert_eq!(LIMITED.with(|l| l.get()), Some(60), "the hook saw the last one");
        assert!(ACME.check(answer(204, &[], "")).is_ok());
    }
}
