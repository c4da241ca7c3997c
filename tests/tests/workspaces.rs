//! Workspaces of the Connect platform (issue 14, first step): created and
//! managed from the command line (`switchboard workspace …`) and the admin
//! API, against a running host on the same database. The key pair is checked
//! with an independent implementation (the `openssl` command), and neither
//! secret is ever stored or listed.

#![allow(clippy::unwrap_used)] // a test crate: an unwrap that fails is a failed test

mod common;

use common::{ADMIN_TOKEN, Harness};
use serde_json::{Value, json};
use std::path::Path;
use std::process::Command;

/// Runs `switchboard workspace <args>` on the harness's database.
fn cli(h: &Harness, args: &[&str]) -> std::process::Output {
    common::cli(h, &[&["workspace"], args].concat())
}

fn cli_json(h: &Harness, args: &[&str]) -> Value {
    let out = cli(h, args);
    assert!(out.status.success(), "{args:?}: {}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stdout)))
}

fn openssl(args: &[&str], input: Option<&Path>) -> String {
    let mut cmd = Command::new("openssl");
    cmd.args(args);
    if let Some(file) = input {
        cmd.arg("-in").arg(file);
    }
    let out = cmd.output().expect("the openssl command");
    assert!(out.status.success(), "openssl {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap()
}

/// A new RSA key made by openssl: (private key file, public key PEM).
fn openssl_key(dir: &Path, name: &str, bits: u32) -> String {
    let private = dir.join(format!("{name}.pem"));
    let made = openssl(&["genpkey", "-algorithm", "RSA", "-pkeyopt", &format!("rsa_keygen_bits:{bits}")], None);
    std::fs::write(&private, made).unwrap();
    openssl(&["pkey", "-pubout"], Some(&private))
}

fn pem_eq(a: &str, b: &str) -> bool {
    let strip = |s: &str| s.split_whitespace().collect::<String>();
    strip(a) == strip(b)
}

async fn admin(h: &Harness, method: reqwest::Method, path: &str, body: Option<Value>) -> (u16, Value) {
    let mut req = h.client.request(method, format!("{}{path}", h.base)).bearer_auth(ADMIN_TOKEN);
    if let Some(body) = body {
        req = req.json(&body);
    }
    let r = req.send().await.unwrap();
    let status = r.status().as_u16();
    let text = r.text().await.unwrap();
    (status, if text.is_empty() { Value::Null } else { serde_json::from_str(&text).unwrap() })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_workspace_created_on_the_command_line_is_served_by_the_running_host_with_its_secrets_kept_nowhere() {
    let h = Harness::start().await;
    let created = cli_json(&h, &["create", "Acme", "--origin", "https://App.Acme.test/", "--json"]);
    let id = created["id"].as_str().unwrap().to_owned();
    let api_key = created["apiKey"]["key"].as_str().unwrap().to_owned();
    let private = created["privateKeyPem"].as_str().unwrap().to_owned();
    let kid = created["kid"].as_str().unwrap().to_owned();
    assert!(id.starts_with("ws_") && api_key.starts_with("sbk_"), "{created}");
    assert_eq!(created["allowedOrigins"], json!(["https://app.acme.test"]));

    // openssl reads the private key and derives the public key the host keeps.
    let private_file = h.data.path().join("acme-private.pem");
    std::fs::write(&private_file, &private).unwrap();
    assert!(openssl(&["pkey", "-noout", "-text"], Some(&private_file)).contains("2048 bit"));
    let derived = openssl(&["pkey", "-pubout"], Some(&private_file));
    let (status, listed) = admin(&h, reqwest::Method::GET, &format!("/admin/workspaces/{id}"), None).await;
    assert_eq!(status, 200, "{listed}");
    assert_eq!(listed["signingKeys"][0]["kid"], kid.as_str());
    assert!(pem_eq(&derived, listed["signingKeys"][0]["publicKeyPem"].as_str().unwrap()), "{listed}");
    // Listed masked, never whole; the private key is nowhere.
    let masked = listed["apiKeys"][0]["masked"].as_str().unwrap();
    assert!(api_key.starts_with(masked.trim_end_matches('…')) && masked.len() < api_key.len(), "{listed}");
    let everything = admin(&h, reqwest::Method::GET, "/admin/workspaces", None).await.1.to_string();
    assert!(!everything.contains(&api_key) && !everything.contains("PRIVATE KEY"), "{everything}");

    // The customer's own keys (openssl-made), for rotation; several at once.
    let (a, b) = (openssl_key(h.data.path(), "a", 2048), openssl_key(h.data.path(), "b", 3072));
    std::fs::write(h.data.path().join("a.pub"), &a).unwrap();
    std::fs::write(h.data.path().join("b.pub"), &b).unwrap();
    let (a_file, b_file) = (h.data.path().join("a.pub"), h.data.path().join("b.pub"));
    let added = cli_json(
        &h,
        &["add-key", &id, "--public-key", a_file.to_str().unwrap(), "--kid", "cust-2026-12"]
            .into_iter()
            .chain(["--public-key", b_file.to_str().unwrap(), "--json"])
            .collect::<Vec<_>>(),
    );
    assert_eq!(added[0]["kid"], "cust-2026-12");
    assert!(pem_eq(added[0]["publicKeyPem"].as_str().unwrap(), &a));
    assert_eq!(added[1]["origin"], "customer");
    // A 1024-bit key is refused, with a reason.
    let weak = openssl_key(h.data.path(), "weak", 1024);
    std::fs::write(h.data.path().join("weak.pub"), weak).unwrap();
    let out = cli(&h, &["add-key", &id, "--public-key", h.data.path().join("weak.pub").to_str().unwrap()]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("too weak"), "{}", String::from_utf8_lossy(&out.stderr));

    // Another API key; the first revoked.
    let second = cli_json(&h, &["issue-api-key", &id, "--name", "ci", "--json"]);
    let first_id = created["apiKey"]["id"].as_str().unwrap();
    assert!(cli(&h, &["revoke-api-key", &id, first_id]).status.success());
    let (_, listed) = admin(&h, reqwest::Method::GET, &format!("/admin/workspaces/{id}"), None).await;
    let keys = listed["apiKeys"].as_array().unwrap();
    assert_eq!(keys.len(), 2, "{listed}");
    assert!(keys.iter().any(|k| k["id"] == first_id && k["revokedAt"].is_i64()), "{listed}");
    assert!(keys.iter().any(|k| k["id"] == second["id"] && k["revokedAt"].is_null()), "{listed}");
    assert_eq!(listed["signingKeys"].as_array().unwrap().len(), 3);

    let out = cli(&h, &["issue-api-key", "ws_nosuch"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("no workspace"), "{}", String::from_utf8_lossy(&out.stderr));

    // The database files hold neither secret.
    let db = h.config.database_url.trim_start_matches("sqlite://").split('?').next().unwrap().to_owned();
    h.stop().await;
    for file in [db.clone(), format!("{db}-wal")] {
        let bytes = std::fs::read(&file).unwrap_or_default();
        let text = String::from_utf8_lossy(&bytes);
        assert!(!text.contains(&api_key), "{file} holds the API key");
        assert!(!text.contains(second["key"].as_str().unwrap()), "{file} holds the second API key");
        assert!(!text.contains("PRIVATE KEY"), "{file} holds a private key");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_admin_api_manages_workspaces_and_refuses_bad_input_with_stable_codes() {
    let h = Harness::start().await;
    let anonymous = h.client.post(format!("{}/admin/workspaces", h.base)).json(&json!({"name": "x"})).send().await;
    assert_eq!(anonymous.unwrap().status(), 401);

    let (status, created) = admin(
        &h,
        reqwest::Method::POST,
        "/admin/workspaces",
        Some(json!({"name": "Beta", "allowedOrigins": ["http://localhost:5173"]})),
    )
    .await;
    assert_eq!(status, 201, "{created}");
    assert!(created["privateKeyPem"].as_str().unwrap().starts_with("-----BEGIN PRIVATE KEY-----"));
    let id = created["id"].as_str().unwrap();

    let post = reqwest::Method::POST;
    let bad = [
        (
            "/admin/workspaces".to_owned(),
            json!({"name": "B", "allowedOrigins": ["localhost"]}),
            400,
            "INVALID_PARAMETER",
        ),
        ("/admin/workspaces".to_owned(), json!({"name": "  "}), 400, "INVALID_PARAMETER"),
        ("/admin/workspaces".to_owned(), json!({"nam": "typo"}), 400, "INVALID_PARAMETER"),
        (
            format!("/admin/workspaces/{id}/signing-keys"),
            json!({"keys": [{"publicKeyPem": "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----"}]}),
            400,
            "INVALID_PUBLIC_KEY",
        ),
        (
            format!("/admin/workspaces/{id}/signing-keys"),
            json!({"keys": [{"kid": created["kid"], "publicKeyPem": openssl_key(h.data.path(), "c", 2048)}]}),
            409,
            "KID_TAKEN",
        ),
        (
            "/admin/workspaces/ws_nosuch/signing-keys".to_owned(),
            json!({"keys": [{"publicKeyPem": openssl_key(h.data.path(), "d", 2048)}]}),
            404,
            "WORKSPACE_NOT_FOUND",
        ),
        ("/admin/workspaces/ws_nosuch/api-keys".to_owned(), json!({}), 404, "WORKSPACE_NOT_FOUND"),
    ];
    for (path, body, status, code) in bad {
        let (got, answer) = admin(&h, post.clone(), &path, Some(body.clone())).await;
        assert_eq!((got, answer["errorCode"].as_str()), (status, Some(code)), "{path} {body}: {answer}");
        assert!(answer["requestId"].as_str().is_some_and(|r| !r.is_empty()), "{answer}");
    }
    let (status, answer) =
        admin(&h, reqwest::Method::DELETE, &format!("/admin/workspaces/{id}/api-keys/key_nosuch"), None).await;
    assert_eq!((status, answer["errorCode"].as_str()), (404, Some("KEY_NOT_FOUND")), "{answer}");

    // Issue, revoke a signing key: the listing shows both changes.
    let (status, issued) =
        admin(&h, post.clone(), &format!("/admin/workspaces/{id}/api-keys"), Some(json!({"name": "ci"}))).await;
    assert_eq!(status, 201, "{issued}");
    assert!(issued["key"].as_str().unwrap().starts_with("sbk_"));
    let kid = created["kid"].as_str().unwrap();
    let (status, _) =
        admin(&h, reqwest::Method::DELETE, &format!("/admin/workspaces/{id}/signing-keys/{kid}"), None).await;
    assert_eq!(status, 204);
    // The keys open the integrations API; a revoked or unknown one gets a problem document.
    let whoami = |key: String| {
        let req = h.client.get(format!("{}/api/v1/workspace", h.base)).bearer_auth(key);
        async move { req.send().await.unwrap() }
    };
    let r = whoami(issued["key"].as_str().unwrap().to_owned()).await;
    assert_eq!(r.status(), 200);
    let me: Value = r.json().await.unwrap();
    assert_eq!((me["id"].as_str(), me["apiKeyId"].as_str()), (Some(id), issued["id"].as_str()), "{me}");
    let first = created["apiKey"]["id"].as_str().unwrap();
    let (status, _) =
        admin(&h, reqwest::Method::DELETE, &format!("/admin/workspaces/{id}/api-keys/{first}"), None).await;
    assert_eq!(status, 204);
    for key in [created["apiKey"]["key"].as_str().unwrap().to_owned(), "sbk_guess".to_owned(), String::new()] {
        let r = whoami(key.clone()).await;
        assert_eq!(r.status(), 401, "{key:?}");
        assert_eq!(r.headers()["content-type"], "application/problem+json");
        let request_id = r.headers()["x-request-id"].to_str().unwrap().to_owned();
        let problem: Value = r.json().await.unwrap();
        assert_eq!(problem["code"], "UNAUTHENTICATED", "{problem}");
        assert_eq!(problem["status"], 401, "{problem}");
        assert_eq!(problem["retryable"], false, "{problem}");
        assert_eq!(problem["correlationId"], request_id.as_str(), "{problem}");
    }

    let (_, listed) = admin(&h, reqwest::Method::GET, "/admin/workspaces", None).await;
    let beta = &listed["workspaces"][0];
    let used = beta["apiKeys"].as_array().unwrap().iter().find(|k| k["id"] == issued["id"]).unwrap();
    assert!(used["lastUsedAt"].is_i64(), "a key in use shows when: {listed}");
    assert_eq!(beta["apiKeys"].as_array().unwrap().len(), 2, "{listed}");
    assert!(beta["signingKeys"][0]["revokedAt"].is_i64(), "{listed}");
    h.stop().await;
}
