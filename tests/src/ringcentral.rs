//! A fake of the one RingCentral API call Switchboard makes: `GET
//! /restapi/v1.0/account/~/extension/~` with `Authorization: Bearer <RingCentral
//! access token>`, answered as RingCentral does (the extension's `id`,
//! `account.id`, `permissions.admin.enabled`; 401 `{errorCode: "TokenInvalid"}`
//! for an unknown token). Used for App Connect's account-admin settings.

use axum::Json;
use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde_json::json;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

/// An access token of an admin of account `ACCOUNT_ID` (extension 1001).
pub const ADMIN_TOKEN: &str = "rc-admin-access-token";
/// An access token of a user of the same account without admin rights (extension 1002).
pub const USER_TOKEN: &str = "rc-user-access-token";
pub const ACCOUNT_ID: u64 = 37439510;

#[derive(Clone)]
struct Extension {
    id: u64,
    account: u64,
    admin: bool,
}

type Shared = Arc<Mutex<HashMap<String, Extension>>>;

pub struct RingCentral {
    pub addr: SocketAddr,
    tokens: Shared,
}

impl RingCentral {
    pub async fn start() -> RingCentral {
        let tokens: Shared = Arc::new(Mutex::new(HashMap::from([
            (ADMIN_TOKEN.to_owned(), Extension { id: 1001, account: ACCOUNT_ID, admin: true }),
            (USER_TOKEN.to_owned(), Extension { id: 1002, account: ACCOUNT_ID, admin: false }),
        ])));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind the RingCentral fake");
        let addr = listener.local_addr().expect("address");
        let app = Router::new().route("/restapi/v1.0/account/~/extension/~", get(extension)).with_state(tokens.clone());
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        RingCentral { addr, tokens }
    }

    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Adds a user: `token` belongs to extension `id` of `account`.
    pub fn add(&self, token: &str, id: u64, account: u64, admin: bool) {
        self.tokens.lock().unwrap_or_else(|p| p.into_inner()).insert(token.into(), Extension { id, account, admin });
    }
}

async fn extension(State(tokens): State<Shared>, headers: HeaderMap) -> Response {
    let token = headers.get("authorization").and_then(|v| v.to_str().ok()).and_then(|v| v.strip_prefix("Bearer "));
    let found = token.and_then(|t| tokens.lock().unwrap_or_else(|p| p.into_inner()).get(t).cloned());
    match found {
        Some(e) => Json(json!({
            "id": e.id,
            "extensionNumber": e.id.to_string(),
            "account": {"id": e.account.to_string()},
            "permissions": {"admin": {"enabled": e.admin}, "internationalCalling": {"enabled": false}},
            "status": "Enabled",
        }))
        .into_response(),
        None => (
            StatusCode::UNAUTHORIZED,
            Json(json!({"errorCode": "TokenInvalid", "message": "Token not found", "errors": []})),
        )
            .into_response(),
    }
}
