//! A native test harness: run an adapter's operations with `cargo test`, no
//! wasm build and no host, against scripted HTTP answers.
//!
//! Off wasm32, the SDK's `http`, `log` and `config` calls go to the harness
//! installed on the current thread instead of the host's imports:
//!
//! ```ignore
//! use switchboard_sdk::harness::{Harness, reply};
//! let h = Harness::new()
//!     .on("GET", "https://api.crm.example/v1/me", reply(200, r#"{"data":{"id":"7","name":"Ada"}}"#))
//!     .setting("region", "eu");
//! let user = h.run(|| MyCrm::get_user_info(switchboard_sdk::harness::context()));
//! assert_eq!(user.unwrap().name, "Ada");
//! assert_eq!(h.requests()[0].url, "https://api.crm.example/v1/me");
//! ```
//!
//! A request no rule matches answers 404 and is recorded, so a wrong path or
//! query shows up as a failed assertion, not a hang. `config` answers the
//! settings the test gave, and the host's default request budget (25) for
//! [`crate::REQUEST_BUDGET_KEY`] unless the test set another
//! ([`Harness::request_budget`]).

use crate::bindings::switchboard::crm::http::{HttpError, Method, Request, Response};
use crate::bindings::switchboard::crm::types::{CallContext, CallLogInput, Direction, Message, MessageLogInput};
use std::cell::RefCell;
use std::collections::BTreeMap;
use std::rc::Rc;

/// A request the adapter sent.
#[derive(Debug, Clone, PartialEq)]
pub struct Sent {
    pub method: String,
    pub url: String,
    pub headers: Vec<(String, String)>,
    pub body: Option<String>,
}

impl Sent {
    /// The body parsed as JSON (`Null` when absent or not JSON).
    pub fn json(&self) -> serde_json::Value {
        self.body.as_deref().and_then(|b| serde_json::from_str(b).ok()).unwrap_or_default()
    }
}

type Answer = Box<dyn Fn(&Sent) -> Result<Response, HttpError>>;

struct Rule {
    method: String,
    /// Matches the URL exactly, or its prefix when it ends with `*`.
    url: String,
    answer: Answer,
}

#[derive(Default)]
struct State {
    rules: Vec<Rule>,
    sent: Vec<Sent>,
    settings: BTreeMap<String, String>,
    logs: Vec<String>,
}

/// Scripted HTTP, settings and captured logs for one test.
#[derive(Clone, Default)]
pub struct Harness(Rc<RefCell<State>>);

thread_local! {
    static CURRENT: RefCell<Option<Harness>> = const { RefCell::new(None) };
}

/// An answer with a status and a JSON (or any text) body.
pub fn reply(status: u16, body: &str) -> impl Fn(&Sent) -> Result<Response, HttpError> + 'static {
    let body = body.to_owned();
    move |_| {
        Ok(Response {
            status,
            headers: vec![("content-type".into(), "application/json".into())],
            body: body.clone().into_bytes(),
        })
    }
}

/// A 429 with `Retry-After`.
pub fn rate_limited(retry_after_secs: u32) -> impl Fn(&Sent) -> Result<Response, HttpError> + 'static {
    move |_| {
        Ok(Response {
            status: 429,
            headers: vec![("retry-after".into(), retry_after_secs.to_string())],
            body: b"{\"error\":\"rate_limited\"}".to_vec(),
        })
    }
}

/// A call context for tests.
pub fn context() -> CallContext {
    CallContext { request_id: "test".into(), crm_user_id: "test-user".into(), hostname: String::new() }
}

/// A call log as CRM-extension clients send it, for tests: session `s-1`, an
/// inbound connected call of 42 s from +16505551212 to +14155550100 with
/// "Luke Skywalker", note "Asked about the plans", started
/// 2024-05-27T09:33:20.000Z. Change fields with struct update syntax:
/// `CallLogInput { note: None, ..sample_call_log("c-1") }`.
pub fn sample_call_log(contact_id: &str) -> CallLogInput {
    CallLogInput {
        session_id: "s-1".into(),
        idempotency_key: "sb-test-call-s-1".into(),
        contact_id: contact_id.into(),
        contact_type: None,
        contact_name: Some("Luke Skywalker".into()),
        subject: None,
        note: Some("Asked about the plans".into()),
        direction: Some(Direction::Inbound),
        from_number: Some("+16505551212".into()),
        to_number: Some("+14155550100".into()),
        start_time: Some("2024-05-27T09:33:20.000Z".into()),
        duration_seconds: Some(42),
        call_result: Some("Call connected".into()),
        recording_link: None,
        additional_submission_json: None,
    }
}

/// One inbound SMS `text` of conversation `conv-1` with "Luke Skywalker",
/// from +16505551212, created at `at`, for tests.
pub fn sample_message(contact_id: &str, id: &str, text: &str, at: &str) -> MessageLogInput {
    MessageLogInput {
        idempotency_key: format!("sb-test-message-{id}"),
        contact_id: contact_id.into(),
        contact_type: None,
        contact_name: Some("Luke Skywalker".into()),
        message: Message {
            id: id.into(),
            conversation_id: "conv-1".into(),
            direction: Direction::Inbound,
            message_type: "SMS".into(),
            subject: text.into(),
            from_number: "+16505551212".into(),
            creation_time: at.into(),
        },
        additional_submission_json: None,
    }
}

impl Harness {
    pub fn new() -> Self {
        Self::default()
    }

    /// Answers `method` requests to `url` (a trailing `*` matches any suffix,
    /// query string included). Later rules win over earlier ones.
    pub fn on(self, method: &str, url: &str, answer: impl Fn(&Sent) -> Result<Response, HttpError> + 'static) -> Self {
        self.0.borrow_mut().rules.push(Rule {
            method: method.to_uppercase(),
            url: url.to_owned(),
            answer: Box::new(answer),
        });
        self
    }

    /// An operator setting the adapter reads with `switchboard_sdk::config`.
    pub fn setting(self, key: &str, value: &str) -> Self {
        self.0.borrow_mut().settings.insert(key.to_owned(), value.to_owned());
        self
    }

    /// The call's outbound request budget, as the host gives it
    /// ([`crate::request_budget`]); without this the harness answers the
    /// host's default, [`crate::DEFAULT_REQUEST_BUDGET`]. (The harness does
    /// not enforce it: count `requests()`.)
    pub fn request_budget(self, requests: usize) -> Self {
        self.setting(crate::REQUEST_BUDGET_KEY, &requests.to_string())
    }

    /// Runs `f` (an adapter operation) with this harness answering its calls.
    pub fn run<T>(&self, f: impl FnOnce() -> T) -> T {
        let previous = CURRENT.with(|c| c.replace(Some(self.clone())));
        let out = f();
        CURRENT.with(|c| *c.borrow_mut() = previous);
        out
    }

    /// Every request sent so far, in order.
    pub fn requests(&self) -> Vec<Sent> {
        self.0.borrow().sent.clone()
    }

    /// Every log line written so far, as `LEVEL message`.
    pub fn logs(&self) -> Vec<String> {
        self.0.borrow().logs.clone()
    }
}

fn with_current<T>(f: impl FnOnce(&Harness) -> T) -> T {
    CURRENT.with(|c| {
        let current = c.borrow();
        let h =
            current.as_ref().expect("no test harness: call the adapter inside `Harness::run` when testing natively");
        f(h)
    })
}

pub(crate) fn send(request: &Request) -> Result<Response, HttpError> {
    let method = match request.method {
        Method::Get => "GET",
        Method::Post => "POST",
        Method::Put => "PUT",
        Method::Patch => "PATCH",
        Method::Delete => "DELETE",
    };
    let sent = Sent {
        method: method.to_owned(),
        url: request.url.clone(),
        headers: request.headers.clone(),
        body: request.body.as_ref().map(|b| String::from_utf8_lossy(b).into_owned()),
    };
    with_current(|h| {
        h.0.borrow_mut().sent.push(sent.clone());
        let state = h.0.borrow();
        let rule = state.rules.iter().rev().find(|r| {
            r.method == sent.method
                && match r.url.strip_suffix('*') {
                    Some(prefix) => sent.url.starts_with(prefix),
                    None => r.url == sent.url,
                }
        });
        match rule {
            Some(r) => (r.answer)(&sent),
            None => Ok(Response {
                status: 404,
                headers: vec![],
                body: b"{\"error\":\"no rule in the test harness\"}".to_vec(),
            }),
        }
    })
}

pub(crate) fn config(key: &str) -> Option<String> {
    let set = with_current(|h| h.0.borrow().settings.get(key).cloned());
    // The host always answers the reserved budget key; so does the harness.
    set.or_else(|| (key == crate::REQUEST_BUDGET_KEY).then(|| crate::DEFAULT_REQUEST_BUDGET.to_string()))
}

pub(crate) fn log(level: &str, message: &str) {
    // Logging outside a harness (e.g. from a panic hook) must not panic.
    CURRENT.with(|c| {
        if let Some(h) = c.borrow().as_ref() {
            h.0.borrow_mut().logs.push(format!("{level} {message}"));
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_request_budget_is_the_hosts_default_unless_the_test_sets_it() {
        assert_eq!(Harness::new().run(crate::request_budget), 25);
        assert_eq!(Harness::new().request_budget(7).run(crate::request_budget), 7);
        assert_eq!(Harness::new().setting(crate::REQUEST_BUDGET_KEY, " 9 ").run(crate::request_budget), 9);
        let garbled = Harness::new().setting(crate::REQUEST_BUDGET_KEY, "many");
        assert_eq!(garbled.run(crate::request_budget), 25, "not a number: the host's default");
        assert_eq!(Harness::new().run(|| crate::config("other")), None);
    }
}
