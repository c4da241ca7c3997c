//! The frontend library in a real browser (issue 14): a product's page on
//! its own origin imports `/sdk/connect.js` from Switchboard and calls
//! `connect()`; Debian chromium, driven by playwright-core
//! (`tests/browser/connect_flows.mjs`), completes the API-key and OAuth
//! flows in the popup, closes it, and has it blocked. The page must get
//! `READY` then `INSTALLED`, the promise `true`, or `USER_CLOSED`.

#![allow(clippy::unwrap_used)] // a test crate: an unwrap that fails is a failed test

mod common;

use common::browser::{self, browser_ready, serve_page};
use common::pyjwt::{pyjwt, sign};
use serde_json::{Value, json};
use switchboard_e2e::testcrm::DEMO_API_KEY;

/// The product's page, on its own origin: a Connect button calling the library.
fn demo_page(host: &str) -> String {
    format!(
        r#"<!doctype html><html><head><meta charset="utf-8"><title>Acme settings</title></head><body>
<h1>Acme: connect your CRM</h1><button id="connect">Connect</button>
<script type="module">
import {{ connect }} from "{host}/sdk/connect.js";
window.events = [];
window.outcome = null;
document.getElementById("connect").addEventListener("click", () => {{
  connect(window.job.connector, window.job.secret, (e) => window.events.push(e)).then(
    (ok) => {{ window.outcome = {{ ok }}; }},
    (e) => {{ window.outcome = {{ error: {{ type: e.type, code: e.code, message: e.message }} }}; }},
  );
}});
window.demoReady = true;
</script></body></html>"#
    )
}

fn now() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64
}

#[tokio::test]
async fn connect_in_chromium_installs_by_api_key_and_oauth_and_rejects_when_the_window_is_closed() {
    if !browser_ready() || !pyjwt() {
        return;
    }
    let (h, host) = browser::host_with_oauth().await;
    let demo = serve_page(demo_page(&host)).await;

    let ws = browser::workspace_on(&h, &demo).await;
    let (ws_id, kid, private) =
        (ws["id"].as_str().unwrap(), ws["kid"].as_str().unwrap(), ws["privateKeyPem"].as_str().unwrap());
    let api_key = ws["apiKey"]["key"].as_str().unwrap();
    let claims = json!({"workspace_id": ws_id, "customer_id": "cust42", "name": "Customer 42",
                        "jti": uuid::Uuid::new_v4().to_string(), "iat": now(), "exp": now() + 300});
    let secret = sign(private, "RS256", kid, &claims);
    let session = |connector: &'static str| {
        let (client, host, api_key) = (h.client.clone(), host.clone(), api_key.to_owned());
        async move {
            let r = client
                .post(format!("{host}/api/v1/connect-sessions"))
                .bearer_auth(api_key)
                .json(&json!({"connector": connector, "customerId": "cust42"}))
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), 201);
            r.json::<Value>().await.unwrap()["sessionToken"].as_str().unwrap().to_owned()
        }
    };
    let jobs = json!({
        "demoUrl": demo,
        "fakeCrm": h.crm.base_url(),
        "apiKey": DEMO_API_KEY,
        "apiKeySecret": secret,
        "oauthSession": session("testcrm-oauth").await,
        "closeSession": session("testcrm").await,
        "blockedSession": session("testcrm").await,
    });

    let seen = browser::run("connect_flows.mjs", &jobs).await;

    // API key: the form came from the manifest, a wrong key was refused in place, the right one installed.
    assert_eq!(seen["apiKeyTitle"], "Connect Test CRM", "{seen}");
    assert!(seen["wrongKeyMessage"].as_str().unwrap().contains("did not accept"), "{seen}");
    assert!(!seen["urlAfterLoad"].as_str().unwrap().contains("cs_"), "the session token left the address bar: {seen}");
    let api = &seen["apiKey"];
    assert_eq!(api["outcome"], json!({"ok": true}), "{seen}");
    let types: Vec<&str> = api["events"].as_array().unwrap().iter().map(|e| e["type"].as_str().unwrap()).collect();
    assert_eq!(types, ["READY", "INSTALLED"], "{seen}");
    let installed = &api["events"][1];
    assert_eq!(installed["status"], "connected");
    let integration = installed["integrationId"].as_str().unwrap();
    assert_eq!(seen["apiKeyPopupClosed"], true, "the library closes its window");

    // OAuth: consent at the CRM, then back; a second connector, a second integration.
    let oauth = &seen["oauth"];
    assert_eq!(oauth["outcome"], json!({"ok": true}), "{seen}");
    let installed = oauth["events"].as_array().unwrap().iter().find(|e| e["type"] == "INSTALLED").unwrap();
    assert_eq!(
        (installed["status"].as_str(), installed["connector"].as_str()),
        (Some("connected"), Some("testcrm-oauth"))
    );
    let oauth_integration = installed["integrationId"].as_str().unwrap();
    assert_ne!(oauth_integration, integration);

    // Closed by the customer: the promise rejects with USER_CLOSED, the callback hears it too.
    let closed = &seen["closed"];
    assert_eq!(closed["outcome"]["error"]["code"], "USER_CLOSED", "{seen}");
    assert_eq!(closed["outcome"]["error"]["type"], "error");
    assert!(closed["events"].as_array().unwrap().iter().any(|e| e["type"] == "error" && e["code"] == "USER_CLOSED"));

    // Blocked popup: one click in the library's dialog, then the same install (a renewal now).
    assert!(seen["fallbackText"].as_str().unwrap().contains("blocked"), "{seen}");
    let blocked = &seen["blocked"];
    assert_eq!(blocked["outcome"], json!({"ok": true}), "{seen}");
    let installed = blocked["events"].as_array().unwrap().iter().find(|e| e["type"] == "INSTALLED").unwrap();
    assert_eq!(
        (installed["integrationId"].as_str(), installed["status"].as_str()),
        (Some(integration), Some("reconnected"))
    );
    assert_eq!(seen["dialogGone"], true);

    // What the backend now sees.
    let (listed, found) = browser::integrations_of(&h, api_key, "cust42").await;
    assert_eq!(found, [("testcrm".into(), "active".into()), ("testcrm-oauth".into(), "active".into())]);
    let by_secret = listed["integrations"].as_array().unwrap().iter().find(|i| i["connector"] == "testcrm").unwrap();
    assert_eq!(by_secret["name"], "Customer 42", "named by the secret: {listed}");
    h.stop().await;
}
