//! The operator console's session over plain HTTP (issue 16): the admin
//! token buys a cookie; forms need the session's CSRF token and this host's
//! origin; a new admin token ends every session. (`browser_console.rs`
//! drives the pages in chromium.)

#![allow(clippy::unwrap_used)] // a test crate: an unwrap that fails is a failed test

mod common;

use common::{ADMIN_TOKEN, Harness};
use switchboard::store::test_support;

/// An HTML form's body.
fn form(pairs: &[(&str, &str)]) -> String {
    let mut f = url::form_urlencoded::Serializer::new(String::new());
    for (k, v) in pairs {
        f.append_pair(k, v);
    }
    f.finish()
}

fn no_redirects() -> reqwest::Client {
    reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap()
}

/// Logs in; the session cookie (`name=value`).
async fn login(h: &Harness, token: &str) -> Option<String> {
    let r = no_redirects()
        .post(format!("{}/admin/console/login", h.base))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(form(&[("token", token)]))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303);
    r.headers().get("set-cookie").map(|c| c.to_str().unwrap().split(';').next().unwrap().to_owned())
}

async fn page(h: &Harness, path: &str, cookie: &str) -> (u16, String) {
    let r = no_redirects().get(format!("{}{path}", h.base)).header("cookie", cookie).send().await.unwrap();
    (r.status().as_u16(), r.text().await.unwrap())
}

fn csrf_in(html: &str) -> String {
    let at = html.find("name=\"csrf\" value=\"").unwrap() + "name=\"csrf\" value=\"".len();
    html[at..].split('"').next().unwrap().to_owned()
}

#[tokio::test]
async fn a_console_session_needs_its_csrf_token_and_ends_when_the_admin_token_changes() {
    let mut h = Harness::start_with(test_support::sqlite_url(), &["testcrm"], &[], |_| {}).await;
    assert_eq!(login(&h, "wrong").await, None, "a wrong token sets no cookie");
    let cookie = login(&h, ADMIN_TOKEN).await.unwrap();
    let (status, html) = page(&h, "/admin/console/adapters", &cookie).await;
    assert_eq!(status, 200);
    assert!(html.contains("testcrm.wasm"), "{html}");
    let csrf = csrf_in(&html);

    let reload = |csrf: String, origin: Option<&'static str>| {
        let (base, cookie) = (h.base.clone(), cookie.clone());
        async move {
            let mut req = no_redirects()
                .post(format!("{base}/admin/console/adapters/reload"))
                .header("cookie", cookie)
                .header("content-type", "application/x-www-form-urlencoded")
                .body(form(&[("csrf", &csrf)]));
            if let Some(o) = origin {
                req = req.header("origin", o);
            }
            req.send().await.unwrap().status().as_u16()
        }
    };
    assert_eq!(reload("0".repeat(64), None).await, 403, "a forged CSRF token");
    assert_eq!(reload(csrf.clone(), Some("https://evil.example")).await, 403, "another origin");
    assert_eq!(reload(csrf.clone(), None).await, 303, "the session's own form");
    // Without the cookie, pages send to the login; the figures answer 401.
    assert_eq!(page(&h, "/admin/console/connections", "").await.0, 303);
    assert_eq!(page(&h, "/admin/console/figures", "").await.0, 401);
    let (status, figures) = page(&h, "/admin/console/figures", &cookie).await;
    assert_eq!(status, 200);
    let figures: serde_json::Value = serde_json::from_str(&figures).unwrap();
    assert!(figures["requests"].as_f64().unwrap() >= 3.0, "{figures}");

    // A new admin token: the old session is over.
    h.config.admin_token = "another-admin-token-0123456789abcdef".into();
    h.restart().await;
    let (status, html) = page(&h, "/admin", &cookie).await;
    assert_eq!(status, 200);
    assert!(html.contains("name=\"token\""), "the login form again: {html}");
    h.stop().await;
}
