//! Hostile adapters are stopped with their documented error within their
//! limit, while a healthy adapter keeps serving.

#![allow(clippy::unwrap_used)] // a test crate: an unwrap that fails is a failed test

mod common;

use common::Harness;
use std::time::Duration;
use switchboard::config::{AdapterLimits, AdapterSettings, Config};
use switchboard::store::test_support;

fn hostile(config: &mut Config, platform: &str, mode: &str, limits: AdapterLimits) {
    let mut s = AdapterSettings { limits, ..Default::default() };
    s.settings.insert("mode".into(), mode.into());
    config.adapters.insert(platform.into(), s);
}

const HOSTILE: &[&str] = &["loopcrm", "memorycrm", "bigoutputcrm", "forbiddenhostcrm"];

#[tokio::test]
async fn hostile_adapters_are_stopped_and_the_healthy_one_keeps_serving() {
    let h = Harness::start_with(test_support::sqlite_url(), &["testcrm"], HOSTILE, |c| {
        hostile(c, "loopcrm", "loop", AdapterLimits { cpu_ms: Some(200), ..Default::default() });
        hostile(c, "memorycrm", "memory", AdapterLimits { memory_mib: Some(32), ..Default::default() });
        hostile(c, "bigoutputcrm", "big-output", AdapterLimits { memory_mib: Some(128), ..Default::default() });
        hostile(c, "forbiddenhostcrm", "forbidden-host", AdapterLimits::default());
    })
    .await;
    let good = h.login().await;
    let cases = [
        ("loopcrm", 504, "ADAPTER_CPU_LIMIT", "200 ms"),
        ("memorycrm", 502, "ADAPTER_MEMORY_LIMIT", "32 MiB"),
        ("bigoutputcrm", 502, "ADAPTER_OUTPUT_TOO_LARGE", "output limit"),
        ("forbiddenhostcrm", 502, "ADAPTER_HTTP_DENIED", "evil.example"),
    ];
    for (platform, status, code, names_limit) in cases {
        let token = h.login_as(platform, "any-key").await;
        let bad_path = "/contact?phoneNumber=%2B15550001";
        // Ten healthy requests run while the hostile one is being stopped.
        let healthy =
            futures::future::join_all((0..10).map(|_| h.get("/contact?phoneNumber=%2B16505551212", Some(&good))));
        let (bad, healthy) = futures::future::join(h.get(bad_path, Some(&token)), healthy).await;
        let body = bad.assert_error(status, code);
        let message = body["returnMessage"]["message"].as_str().unwrap();
        assert!(message.contains(&format!("{platform} 0.1.0")), "names the adapter and version: {message}");
        assert!(message.contains(names_limit), "names the limit: {message}");
        for r in healthy {
            assert_eq!(r.json()["successful"], true, "healthy adapter during {platform}: {}", r.text);
        }
    }
    // The forbidden request never left the host.
    assert!(h.crm.seen("/steal").is_empty());
    // Metrics count the outcomes by code.
    assert_eq!(h.metric("switchboard_errors_total{code=\"ADAPTER_CPU_LIMIT\"}").await, 1.0);
    h.stop().await;
}

#[tokio::test]
async fn a_slow_crm_is_not_a_looping_adapter_waits_do_not_count_as_cpu() {
    let h = Harness::start_with(test_support::sqlite_url(), &["testcrm"], &[], |c| {
        let limits = AdapterLimits { cpu_ms: Some(500), wall_ms: Some(10_000), ..Default::default() };
        c.adapters.insert("testcrm".into(), AdapterSettings { limits, ..Default::default() });
    })
    .await;
    // Logging in and finding a contact each wait on the CRM four times the CPU deadline.
    h.crm.set_delay(Duration::from_secs(2));
    let token = h.login().await;
    let r = h.get("/contact?phoneNumber=%2B16505551212", Some(&token)).await;
    assert_eq!(r.json()["contact"][0]["name"], "Luke Skywalker", "{}", r.text);
    h.stop().await;
}

#[tokio::test]
async fn a_call_stuck_on_a_slow_crm_hits_the_wall_clock_deadline() {
    let h = Harness::start_with(test_support::sqlite_url(), &["testcrm"], &["slowhostcrm"], |c| {
        hostile(c, "slowhostcrm", "slow-host", AdapterLimits { wall_ms: Some(300), ..Default::default() });
    })
    .await;
    let token = h.login_as("slowhostcrm", "any-key").await;
    h.crm.set_delay(Duration::from_secs(3));
    let body = h.get("/contact?phoneNumber=%2B15550001", Some(&token)).await.assert_error(504, "ADAPTER_TIMEOUT");
    assert!(body["returnMessage"]["message"].as_str().unwrap().contains("300 ms"), "{body}");
    assert_eq!(body["retryable"], true);
    // The stopped call's request to the CRM is given up with it (its
    // connection closed), not left waiting for the CRM's answer 3 s later.
    let mut abandoned = 0;
    for _ in 0..100 {
        abandoned = h.crm.state().abandoned;
        if abandoned > 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(abandoned, 1, "the CRM saw the request abandoned within a second");
    assert_eq!(h.crm.state().max_in_flight, 1);
    h.stop().await;
}

#[tokio::test]
async fn an_operator_can_narrow_an_adapters_allow_list() {
    let h = Harness::start_with(test_support::sqlite_url(), &["testcrm"], &[], |c| {
        let s = AdapterSettings { allowed_hosts: Some(vec!["https://other.example".into()]), ..Default::default() };
        c.adapters.insert("testcrm".into(), s);
    })
    .await;
    // Login itself needs the CRM: the narrowed list forbids it.
    let r = h.post("/apiKeyLogin", None, &serde_json::json!({"platform": "testcrm", "apiKey": "demo-api-key"})).await;
    r.assert_error(502, "ADAPTER_HTTP_DENIED");
    assert!(h.crm.seen("/v1/me").is_empty());
    h.stop().await;
}

fn fan_out(config: &mut Config, limits: AdapterLimits) {
    hostile(config, "fanoutcrm", "fan-out", limits);
    let settings = config.adapters.get_mut("fanoutcrm").unwrap();
    settings.settings.insert("fanout".into(), "20".into());
}

#[tokio::test]
async fn a_send_all_batch_runs_concurrently_and_answers_in_order() {
    let h = Harness::start_with(test_support::sqlite_url(), &["testcrm"], &["fanoutcrm"], |c| {
        fan_out(c, AdapterLimits::default())
    })
    .await;
    let token = h.login_as("fanoutcrm", switchboard_e2e::testcrm::DEMO_API_KEY).await;
    h.crm.set_delay(Duration::from_millis(200));
    let r = h.get("/contact?phoneNumber=%2B15550001", Some(&token)).await;
    let contacts = r.json()["contact"].as_array().cloned().unwrap_or_default();
    let names: Vec<&str> = contacts.iter().filter_map(|c| c["name"].as_str()).collect();
    let expected: Vec<String> = (0..20).map(|i| format!("answer {i}")).collect();
    assert_eq!(names, expected, "every request answered, in order: {}", r.text);
    let seen = h.crm.seen("/v1/me");
    assert_eq!(seen.len(), 20);
    assert!(seen.iter().all(|s| s.api_key.as_deref() == Some(switchboard_e2e::testcrm::DEMO_API_KEY)));
    let most = h.crm.state().max_in_flight;
    assert!((2..=8).contains(&most), "several at once, never more than 8: {most}");
    h.stop().await;
}

#[tokio::test]
async fn a_send_all_batch_over_the_request_budget_sends_nothing() {
    let h = Harness::start_with(test_support::sqlite_url(), &["testcrm"], &["fanoutcrm"], |c| {
        fan_out(c, AdapterLimits { outbound_requests_per_call: Some(10), ..Default::default() })
    })
    .await;
    let token = h.login_as("fanoutcrm", switchboard_e2e::testcrm::DEMO_API_KEY).await;
    let body = h.get("/contact?phoneNumber=%2B15550001", Some(&token)).await.assert_error(502, "ADAPTER_HTTP_LIMIT");
    let message = body["returnMessage"]["message"].as_str().unwrap();
    assert!(message.contains("fanoutcrm 0.1.0"), "{message}");
    assert!(h.crm.seen("/v1/me").is_empty(), "no request of the batch left the host");
    h.stop().await;
}

#[tokio::test]
async fn the_responses_of_a_send_all_batch_are_capped_together() {
    // Each /v1/me answer is under 300 bytes; twenty of them are not.
    let h = Harness::start_with(test_support::sqlite_url(), &["testcrm"], &["fanoutcrm"], |c| {
        fan_out(c, AdapterLimits { outbound_max_response_bytes: Some(300), ..Default::default() })
    })
    .await;
    let token = h.login_as("fanoutcrm", switchboard_e2e::testcrm::DEMO_API_KEY).await;
    let body = h.get("/contact?phoneNumber=%2B15550001", Some(&token)).await.assert_error(502, "ADAPTER_HTTP_LIMIT");
    let message = body["returnMessage"]["message"].as_str().unwrap();
    assert!(message.contains("send-all batch"), "{message}");
    h.stop().await;
}
