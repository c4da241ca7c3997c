//! A trapping adapter is contained: its caller gets a clean 502 JSON error and
//! the host keeps serving every adapter, including the one that trapped.

#![allow(clippy::unwrap_used)] // a test crate: an unwrap that fails is a failed test

mod common;

use common::Harness;
use switchboard::store::test_support;

#[tokio::test]
async fn a_trap_is_a_clean_error_and_other_adapters_keep_serving() {
    let h = Harness::start_with(test_support::sqlite_url(), &["testcrm"], &["trapcrm"], |_| {}).await;
    let good = h.login().await;
    let trap = h.login_as("trapcrm", "any-key").await;

    // Interleave trapping calls with healthy ones.
    let mut traps = Vec::new();
    let mut healthy = Vec::new();
    for _ in 0..10 {
        traps.push(h.get("/contact?phoneNumber=%2B15550001", Some(&trap)));
        healthy.push(h.get("/contact?phoneNumber=%2B16505551212", Some(&good)));
    }
    let (traps, healthy) =
        futures::future::join(futures::future::join_all(traps), futures::future::join_all(healthy)).await;
    for r in &traps {
        let body = r.assert_error(502, "ADAPTER_TRAPPED");
        let message = body["returnMessage"]["message"].as_str().unwrap();
        assert!(
            message.contains("trapcrm 0.1.0") && message.contains("find-contact"),
            "names adapter, version and operation: {message}"
        );
    }
    for r in &healthy {
        assert_eq!(r.json()["successful"], true, "{}", r.text);
    }

    // The trapping adapter is not poisoned: a fresh instance serves its next call.
    let r = h.get("/authValidation", Some(&trap)).await;
    assert_eq!(r.json()["successful"], true, "{}", r.text);
    assert_eq!(h.get("/isAlive", None).await.text, "OK");
    h.stop().await;
}
