//! Holding back requests to a CRM that asked us to wait.
//!
//! When a CRM answers 429 with `Retry-After: N`, the host remembers it per
//! origin and credential and, for the next N seconds (at most an hour),
//! answers the adapter's requests to that origin with a 429 of its own instead
//! of sending them, so a busy client cannot hammer a CRM that asked it to wait
//! (Clio's 50 requests a minute, Jira's cost budget...). Other users and other
//! CRMs are not held. The key is a hash: the credential itself is not kept.

use crate::allow_list::Origin;
use axum::http::HeaderValue;
use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::sync::Mutex;
use std::time::{Duration, Instant};
use url::Url;

/// Longest `Retry-After` the host holds requests for; a CRM asking for more
/// still gets its full value reported to the client.
const MAX_HOLD: Duration = Duration::from_secs(3600);

/// The holds in force, by [`RetryHolds::key`].
#[derive(Debug, Default)]
pub(super) struct RetryHolds(Mutex<HashMap<u64, Instant>>);

impl RetryHolds {
    /// The hold key of a request: its origin and the connection's credential.
    pub(super) fn key(url: &Url, credential: Option<&HeaderValue>) -> u64 {
        let mut h = std::collections::hash_map::DefaultHasher::new();
        Origin::of(url).hash(&mut h);
        credential.map(HeaderValue::as_bytes).hash(&mut h);
        h.finish()
    }

    /// Whole seconds left while `key` is held, else `None` (send the request).
    pub(super) fn held_for(&self, key: u64) -> Option<u64> {
        Some(self.remaining(key)?.as_secs_f64().ceil() as u64)
    }

    /// Holds `key` for as long as a 429's `Retry-After` asks (if it says).
    pub(super) fn note_429(&self, key: u64, headers: &[(String, String)]) {
        if let Some(wait) = retry_after(headers) {
            self.hold(key, wait);
        }
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
        map.insert(key, now + retry_after.min(MAX_HOLD));
    }
}

/// `Retry-After` in seconds (the HTTP-date form is not used by the CRMs we serve).
fn retry_after(headers: &[(String, String)]) -> Option<Duration> {
    let value = headers.iter().find(|(k, _)| k.eq_ignore_ascii_case("retry-after"))?;
    value.1.trim().parse::<u64>().ok().filter(|s| *s > 0).map(Duration::from_secs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_holds_one_origin_and_credential_only() {
        let c = RetryHolds::default();
        let crm = Url::parse("https://api.crm.example/v1/contacts").unwrap();
        let other = Url::parse("https://other.crm.example/v1/contacts").unwrap();
        let (alice, bob) = (HeaderValue::from_static("Bearer a"), HeaderValue::from_static("Bearer b"));
        c.hold(RetryHolds::key(&crm, Some(&alice)), Duration::from_secs(30));
        let left = c.remaining(RetryHolds::key(&crm, Some(&alice))).expect("held");
        assert!(left > Duration::from_secs(28) && left <= Duration::from_secs(30), "{left:?}");
        assert_eq!(c.remaining(RetryHolds::key(&crm, Some(&bob))), None, "another user's credential");
        assert_eq!(c.remaining(RetryHolds::key(&other, Some(&alice))), None, "another origin");
        c.hold(RetryHolds::key(&other, None), Duration::ZERO);
        assert_eq!(c.remaining(RetryHolds::key(&other, None)), None, "Retry-After: 0 holds nothing");
        let headers = vec![("Retry-After".to_string(), " 17 ".to_string())];
        assert_eq!(retry_after(&headers), Some(Duration::from_secs(17)));
        assert_eq!(retry_after(&[("retry-after".into(), "Wed, 21 Oct 2015 07:28:00 GMT".into())]), None);
    }
}
