//! The requests: the two App Connect calls through the host, and the upstream
//! requests the testcrm adapter makes for them, sent straight to the fake CRM
//! (the floor). See `adapters/testcrm/src/{lib,wire}.rs` for what it sends.

use crate::loadgen::MakeRequest;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use switchboard_e2e::testcrm::DEMO_API_KEY;

/// Found by the fake: Luke Skywalker, seeded as contact `c-1001`.
pub const PHONE: &str = "+16505551212";
pub const PHONE_QUERY: &str = "%2B16505551212";
pub const CONTACT_ID: &str = "c-1001";

/// The headers the host's outbound client adds to the adapter's request
/// (reqwest's user agent; the credential header from the manifest).
fn upstream_headers(crm: &str) -> String {
    format!(
        "host: {crm}\r\naccept: application/json\r\nuser-agent: switchboard/{}\r\nx-api-key: {DEMO_API_KEY}\r\n",
        env!("CARGO_PKG_VERSION")
    )
}

/// `GET /contact?phoneNumber=` through the host.
pub fn host_find_contact(host: &str, jwt: &str) -> MakeRequest {
    let bytes = format!(
        "GET /contact?phoneNumber={PHONE_QUERY} HTTP/1.1\r\nhost: {host}\r\nauthorization: Bearer {jwt}\r\n\r\n"
    )
    .into_bytes();
    Arc::new(move |_| bytes.clone())
}

/// `POST /callLog` through the host, a new sessionId every time: `run`
/// names the run, the counter (kept across load runs) the request.
pub fn host_call_log(host: &str, jwt: &str, run: &str) -> MakeRequest {
    let head = format!(
        "POST /callLog HTTP/1.1\r\nhost: {host}\r\nauthorization: Bearer {jwt}\r\ncontent-type: application/json\r\n"
    );
    let run = run.to_owned();
    let counter = AtomicU64::new(0);
    Arc::new(move |_| {
        let n = counter.fetch_add(1, Ordering::Relaxed);
        let body = format!(
            r#"{{"logInfo":{{"sessionId":"{run}-{n}","direction":"Inbound","startTime":1716800000000,"duration":42,"result":"Call connected","from":{{"phoneNumber":"{PHONE}"}},"to":{{"phoneNumber":"+14155550100"}}}},"contactId":"{CONTACT_ID}","contactName":"Luke Skywalker","note":"Asked about the plans"}}"#
        );
        with_body(&head, &body)
    })
}

/// What the adapter sends for `GET /contact` (one search: no overriding formats).
pub fn crm_find_contact(crm: &str) -> MakeRequest {
    let bytes = format!("GET /v1/contacts?phone={PHONE_QUERY} HTTP/1.1\r\n{}\r\n", upstream_headers(crm)).into_bytes();
    Arc::new(move |_| bytes.clone())
}

/// What the adapter sends for `POST /callLog` (`NewActivity::from_call`).
pub fn crm_create_activity(crm: &str, run: &str) -> MakeRequest {
    let head = format!("POST /v1/activities HTTP/1.1\r\n{}content-type: application/json\r\n", upstream_headers(crm));
    let run = run.to_owned();
    let counter = AtomicU64::new(0);
    Arc::new(move |_| {
        let n = counter.fetch_add(1, Ordering::Relaxed);
        let body = format!(
            r#"{{"kind":"call","contactId":"{CONTACT_ID}","contactName":"Luke Skywalker","subject":"Inbound call from Luke Skywalker","body":"Asked about the plans","direction":"inbound","startedAt":"2024-05-27T08:53:20.000Z","durationSeconds":42,"result":"Call connected","recordingUrl":null,"externalId":"{run}-{n}"}}"#
        );
        with_body(&head, &body)
    })
}

fn with_body(head: &str, body: &str) -> Vec<u8> {
    format!("{head}content-length: {}\r\n\r\n{body}", body.len()).into_bytes()
}

/// The host answered 200 with `successful: true`.
pub fn host_ok(status: u16, body: &[u8]) -> bool {
    status == 200 && body.windows(17).any(|w| w == br#""successful":true"#)
}

/// The fake CRM found the contact.
pub fn crm_found(status: u16, body: &[u8]) -> bool {
    status == 200 && body.windows(CONTACT_ID.len()).any(|w| w == CONTACT_ID.as_bytes())
}

/// The fake CRM created the activity.
pub fn crm_created(status: u16, _body: &[u8]) -> bool {
    status == 201
}
