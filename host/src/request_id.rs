//! Request ids: taken from a sane incoming `X-Request-Id` or generated, kept in
//! a task-local for the request's lifetime (so every error body and log line can
//! carry it), and returned in the `X-Request-Id` response header (see
//! `api::middleware`). Knows nothing of HTTP errors or the API above it.

use axum::http::HeaderValue;
use std::sync::{Arc, Mutex};
use tracing::Instrument;

pub(crate) const HEADER: &str = "x-request-id";

/// What is known about the request being served, shared by its tasks.
#[derive(Debug)]
pub(crate) struct RequestContext {
    pub(crate) id: String,
    adapter: Mutex<Option<String>>,
}

impl RequestContext {
    pub(crate) fn new(id: String) -> Arc<Self> {
        Arc::new(RequestContext { id, adapter: Mutex::new(None) })
    }

    pub(crate) fn adapter(&self) -> Option<String> {
        self.adapter.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }
}

tokio::task_local! {
    static CONTEXT: Arc<RequestContext>;
}

/// The current request's id, or an empty string outside a request.
pub(crate) fn current() -> String {
    CONTEXT.try_with(|c| c.id.clone()).unwrap_or_default()
}

/// Records which adapter version served the current request.
pub(crate) fn note_adapter(platform: &str, version: &str) {
    let _ = CONTEXT
        .try_with(|c| *c.adapter.lock().unwrap_or_else(|p| p.into_inner()) = Some(format!("{platform}/{version}")));
}

/// An incoming `X-Request-Id` worth keeping, else a new one.
pub(crate) fn from_header(value: Option<&HeaderValue>) -> String {
    value.and_then(|v| v.to_str().ok()).filter(|v| acceptable(v)).map(str::to_owned).unwrap_or_else(new_id)
}

/// A random (version 4) UUID from the thread's CSPRNG: `Uuid::new_v4` asks
/// the kernel (a `getrandom` system call) for every request.
fn new_id() -> String {
    uuid::Builder::from_random_bytes(rand::random()).into_uuid().to_string()
}

fn acceptable(id: &str) -> bool {
    !id.is_empty() && id.len() <= 128 && id.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_.:".contains(&b))
}

/// Runs `future` with `context` as the current request.
pub(crate) async fn scope<F: std::future::Future>(context: Arc<RequestContext>, future: F) -> F::Output {
    CONTEXT.scope(context, future).await
}

/// Spawns `future` as its own task, carrying the current request id.
///
/// Used for work that must finish even if the client disconnects and axum
/// drops the handler (e.g. between reserving a call-log key and recording the
/// CRM's answer), so no reservation is left dangling.
pub(crate) fn spawn<F>(future: F) -> tokio::task::JoinHandle<F::Output>
where
    F: std::future::Future + Send + 'static,
    F::Output: Send + 'static,
{
    let span = tracing::Span::current();
    // Boxed first: the task's future (a whole call-log write, say) is
    // kilobytes, and each wrapper below would otherwise copy it again.
    let future = Box::pin(future);
    match CONTEXT.try_with(Arc::clone) {
        Ok(context) => tokio::spawn(CONTEXT.scope(context, future.instrument(span))),
        Err(_) => tokio::spawn(future.instrument(span)),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn only_sane_incoming_ids_are_kept() {
        assert!(super::acceptable("abc-123_x.y:z"));
        assert!(!super::acceptable(""));
        assert!(!super::acceptable("has space"));
        assert!(!super::acceptable(&"a".repeat(200)));
    }

    #[test]
    fn a_request_without_an_id_gets_a_new_random_uuid() {
        let a = super::from_header(None);
        let b = super::from_header(None);
        assert_ne!(a, b);
        for id in [a, b] {
            let parsed = uuid::Uuid::parse_str(&id).unwrap();
            assert_eq!(parsed.get_version(), Some(uuid::Version::Random), "{id}");
            assert_eq!(parsed.get_variant(), uuid::Variant::RFC4122, "{id}");
        }
    }
}
