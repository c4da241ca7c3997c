//! The embeddable widget in a real browser (issue 16): a product's page on
//! an allowed origin embeds two widgets for two customers with one script
//! tag each; Debian chromium, driven by playwright-core
//! (`tests/browser/widget_flows.mjs`), connects by API key and by OAuth in
//! the popup, disconnects, lets a token run out and brings it back with
//! `setToken()`, replaces and removes widgets; a page on an origin no
//! workspace allows gets nothing. No console errors on the allowed pages.

#![allow(clippy::unwrap_used)] // a test crate: an unwrap that fails is a failed test

mod common;

use common::browser::{self, browser_ready, screenshots_dir, serve_page};
use serde_json::{Value, json};
use switchboard_e2e::testcrm::DEMO_API_KEY;

/// The product's settings page: its own CSS (yellow buttons) and two widgets.
fn demo_page(host: &str, alice: &str, bob: &str) -> String {
    format!(
        r#"<!doctype html><html><head><meta charset="utf-8"><title>Acme settings</title>
<style>body {{ font-family: serif; }} button {{ background: rgb(255, 255, 0); }}</style>
<script>
sessionStorage.loads = String(Number(sessionStorage.loads || 0) + 1);
window.pageLoads = Number(sessionStorage.loads);
window.seen = [];
for (const type of ["switchboard:token-expiring", "switchboard:token-expired", "switchboard:change"]) {{
  document.addEventListener(type, (e) => window.seen.push({{ type, widget: e.detail.widgetId }}));
}}
</script></head><body>
<h1>Acme settings</h1><button id="page-button" type="button">A page button</button>
<section id="alice-slot"><h2>Alice</h2>
<script type="module" id="w-alice" src="{host}/widget/widget.js" token="{alice}"></script></section>
<section id="bob-slot"><h2>Bob</h2>
<script type="module" id="w-bob" src="{host}/widget/widget.js" token="{bob}" connectors="testcrm" theme="dark"></script></section>
<section id="bogus-slot"></section>
</body></html>"#
    )
}

fn foreign_page(host: &str, token: &str) -> String {
    format!(
        r#"<!doctype html><html><head><meta charset="utf-8"><title>Elsewhere</title></head><body>
<script type="module" id="w-foreign" src="{host}/widget/widget.js" token="{token}"></script></body></html>"#
    )
}

#[tokio::test]
async fn widgets_connect_disconnect_expire_and_come_back_in_chromium_and_a_foreign_origin_gets_nothing() {
    if !browser_ready() {
        return;
    }
    let (h, host) = browser::host_with_oauth().await;
    // The demo's origin is known before its page is: the page needs the tokens, the tokens the origin.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let demo_port = listener.local_addr().unwrap().port();
    drop(listener);
    let demo = format!("http://127.0.0.1:{demo_port}");
    let ws = browser::workspace_on(&h, &demo).await;
    let api_key = ws["apiKey"]["key"].as_str().unwrap().to_owned();
    let token = |customer: &'static str, ttl: i64| {
        let (client, host, api_key) = (h.client.clone(), host.clone(), api_key.clone());
        async move {
            let r = client
                .post(format!("{host}/api/v1/widget-tokens"))
                .bearer_auth(api_key)
                .json(&json!({"customerId": customer, "ttl": ttl}))
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), 201);
            r.json::<Value>().await.unwrap()["token"].as_str().unwrap().to_owned()
        }
    };
    // Alice's lasts a day; Bob's an hour (the page's clock is moved past it), then a fresh one for 3 h.
    let (alice, bob, bob_fresh, carol) = (
        token("alice", 86_400).await,
        token("bob", 3600).await,
        token("bob", 10_800).await,
        token("carol", 3600).await,
    );
    let page = demo_page(&host, &alice, &bob);
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", demo_port)).await.unwrap();
    let app = axum::Router::new().route("/", axum::routing::get(move || async move { axum::response::Html(page) }));
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    let foreign = serve_page(foreign_page(&host, &carol)).await;

    let jobs = json!({
        "host": host,
        "demoUrl": demo,
        "foreignUrl": foreign,
        "fakeCrm": h.crm.base_url(),
        "apiKey": DEMO_API_KEY,
        "bobFreshToken": bob_fresh,
        "foreignToken": carol,
        "screenshots": screenshots_dir(),
    });
    let seen = browser::run("widget_flows.mjs", &jobs).await;

    // Two widgets, each its customer's: Bob's shows only the connector it asked for, dark.
    assert_eq!(seen["aliceConnectors"], json!(["testcrm", "testcrm-oauth"]), "{seen}");
    assert_eq!(seen["bobConnectors"], json!(["testcrm"]), "{seen}");
    assert_eq!(seen["bobTheme"], "dark");
    assert_eq!(seen["initial"], json!({"alice": "none", "bob": "none"}), "{seen}");
    assert_eq!(seen["connectLabel"], "Connect Test CRM", "labelled for a screen reader");
    // The Shadow root keeps the page's CSS out and the widget's in.
    assert_ne!(seen["widgetButtonBackground"], "rgb(255, 255, 0)", "{seen}");
    assert_eq!(seen["pageButtonBackground"], "rgb(255, 255, 0)", "{seen}");

    // API key and OAuth connects in the popup; the row changes without a reload; Bob's stays his.
    let api = &seen["apiKey"];
    assert_eq!((api["status"].as_str(), api["bobStill"].as_str()), (Some("active"), Some("none")), "{seen}");
    assert_eq!(api["label"], "Connected");
    assert!(api["notice"].as_str().unwrap().contains("Test CRM is connected"), "{seen}");
    assert_eq!(seen["oauth"], "active", "{seen}");

    // Disconnect asks first; Cancel keeps it and gives the focus back; the keyboard confirms.
    assert!(seen["confirmText"].as_str().unwrap().starts_with("Disconnect Test CRM?"), "{seen}");
    assert_eq!(seen["afterCancel"], "active");
    assert_eq!(seen["focusAfterCancel"], "disconnect");
    assert_eq!(seen["disconnected"], "none", "{seen}");

    // An expired token: the two events, the fallback; setToken() brings the widget back.
    assert_eq!(seen["events"], json!(["switchboard:token-expiring", "switchboard:token-expired"]), "{seen}");
    assert!(seen["expiredText"].as_str().unwrap().contains("expired"), "{seen}");
    assert_eq!(seen["expiredCard"], seen["expiredText"], "nothing but the message (no retry: a new token is needed)");
    assert_eq!(seen["afterSetToken"], "none", "{seen}");
    // An unknown token: the fallback with the server's reason and a Try again button.
    assert_eq!(seen["bogus"], json!({"code": "WIDGET_TOKEN_INVALID", "retry": 1}), "{seen}");

    // The same id replaced its widget (one, with the new filter); a removed script took its widget along.
    assert_eq!(seen["bobWidgetsAfterReinject"], 1, "{seen}");
    assert_eq!(seen["bogusAfterRemove"], 0);
    assert_eq!(seen["aliceAfterOthers"], "active", "Alice's widget did not notice: {seen}");
    assert_eq!(seen["reloads"], 1, "everything happened without a page reload");

    // The foreign origin: neither the widget nor the page's own fetch could read a thing.
    let f = &seen["foreign"];
    assert_eq!(f["code"], "NETWORK_ERROR", "{seen}");
    assert_eq!(f["rows"], 0);
    assert_eq!(f["direct"], "refused: TypeError", "{seen}");
    // The only console errors: the browser reporting the refusals the test asked for
    // (an unknown token's 401, the foreign origin's CORS refusals), none from a script.
    for e in seen["foreignConsole"].as_array().unwrap() {
        let text = e["text"].as_str().unwrap();
        assert!(text.contains("blocked by CORS policy") || text.contains("net::ERR_FAILED"), "{e}");
    }
    for e in seen["consoleErrors"].as_array().unwrap() {
        let refused = e["step"] == "bogus" && e["text"].as_str().unwrap().contains("status of 401");
        assert!(refused, "a console error on an allowed page: {e}\n{}", seen["failedResponses"]);
    }

    // What the backend sees: Alice's two integrations, the Test CRM disconnected.
    let (_, found) = browser::integrations_of(&h, &api_key, "alice").await;
    assert_eq!(found, [("testcrm".into(), "disconnected".into()), ("testcrm-oauth".into(), "active".into())]);
    h.stop().await;
}
