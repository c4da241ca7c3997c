//! JSON over the host's `http` import.
//!
//! The host checks every URL against the adapter's allow-list, adds the
//! connection's credentials, applies timeouts and size caps. This module adds
//! what every CRM client needs on top: query strings, JSON bodies, and mapping of
//! HTTP statuses to [`CrmError`].

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

    /// Sends the request; a non-2xx status becomes a [`CrmError`].
    pub fn send(self) -> Result<Response, CrmError> {
        self.send_raw()?.error_for_status()
    }

    /// Sends the request and decodes a 2xx JSON answer.
    pub fn send_json<T: DeserializeOwned>(self) -> Result<T, CrmError> {
        self.send()?.json()
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
/// [`Response`]; use [`Response::error_for_status`] on each. Every request
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

    /// Maps a non-2xx status to the matching [`CrmError`].
    pub fn error_for_status(self) -> Result<Response, CrmError> {
        if (200..300).contains(&self.status) {
            return Ok(self);
        }
        let snippet: String = String::from_utf8_lossy(&self.body).chars().take(200).collect();
        Err(match self.status {
            401 | 403 => CrmError::Unauthorized(format!("the CRM answered {}: {snippet}", self.status)),
            404 => CrmError::NotFound(format!("the CRM answered 404: {snippet}")),
            429 => CrmError::RateLimited(self.header("retry-after").and_then(|v| v.trim().parse().ok()).unwrap_or(60)),
            400 | 422 => CrmError::InvalidInput(format!("the CRM answered {}: {snippet}", self.status)),
            s => CrmError::Upstream(format!("the CRM answered {s}: {snippet}")),
        })
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
}
