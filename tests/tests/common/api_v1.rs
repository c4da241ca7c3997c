//! Calling `/api/v1` as a workspace's backend does: workspaces made through
//! the admin API, requests with the workspace API key, problem documents checked.

use super::{ADMIN_TOKEN, Harness, Reply};
use reqwest::Method;
use serde_json::{Value, json};

/// The origin workspaces made here allow.
pub const ORIGIN: &str = "https://app.example.test";

/// A workspace made through the admin API: (id, backend API key).
pub async fn workspace(h: &Harness, name: &str) -> (String, String) {
    let r = h
        .client
        .post(format!("{}/admin/workspaces", h.base))
        .bearer_auth(ADMIN_TOKEN)
        .json(&json!({"name": name, "allowedOrigins": [ORIGIN]}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let v: Value = r.json().await.unwrap();
    (v["id"].as_str().unwrap().to_owned(), v["apiKey"]["key"].as_str().unwrap().to_owned())
}

/// A request to `/api/v1` of the harness's host with a workspace API key.
pub async fn api(h: &Harness, method: Method, path: &str, key: &str, body: Option<&Value>) -> Reply {
    api_at(&h.client, &h.base, method, path, key, body).await
}

/// A request to `/api/v1` of the host at `base`, from a backend-like client;
/// a failure must be a problem document naming the request id.
pub async fn api_at(
    client: &reqwest::Client,
    base: &str,
    method: Method,
    path: &str,
    key: &str,
    body: Option<&Value>,
) -> Reply {
    let mut req = client
        .request(method, format!("{base}/api/v1{path}"))
        .bearer_auth(key)
        .header("user-agent", "acme-backend/1.0");
    if let Some(b) = body {
        req = req.json(b);
    }
    let resp = req.send().await.unwrap();
    let reply = Reply { status: resp.status(), headers: resp.headers().clone(), text: resp.text().await.unwrap() };
    if reply.status.as_u16() >= 400 {
        assert_eq!(reply.header("content-type").as_deref(), Some("application/problem+json"), "{}", reply.text);
        let problem = reply.json();
        assert_eq!(problem["correlationId"].as_str(), reply.header("x-request-id").as_deref(), "{problem}");
        assert_eq!(problem["status"], reply.status.as_u16(), "{problem}");
    }
    reply
}

/// Asserts a problem document's status and code; the document.
pub fn problem(r: &Reply, status: u16, code: &str) -> Value {
    assert_eq!(r.status.as_u16(), status, "{}", r.text);
    let p = r.json();
    assert_eq!(p["code"], code, "{p}");
    p
}
