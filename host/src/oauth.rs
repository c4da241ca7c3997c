//! OAuth 2.0 connections: the login dance (`state` + PKCE) and token refresh
//! that never races.
//!
//! Refresh is single-flight per connection inside a process (a mutex per
//! connection) and across replicas sharing PostgreSQL (an advisory lock).
//! Inside the lock the row is read again: if another request or replica has
//! refreshed meanwhile, its token is used and the token endpoint is not
//! called. A rotated refresh token is stored, in the same statement as the
//! new access token, before that access token is used; a response without a
//! refresh token keeps the old one. Transient failures are retried with
//! exponential back-off and jitter; `invalid_grant` marks the connection
//! revoked (401 `CRM_SESSION_REVOKED`) until the user logs in again.

use crate::auth::now_secs;
use crate::config::Config;
use crate::error::{ApiError, code};
use crate::runtime::Runtime;
use crate::runtime::manifest::{AuthSpec, Manifest};
use crate::store::{AuditEvent, Secret, Store, User};
use oauth2::basic::{
    BasicErrorResponse, BasicErrorResponseType, BasicRevocationErrorResponse, BasicTokenIntrospectionResponse,
    BasicTokenType,
};
use oauth2::{
    AuthType, AuthUrl, AuthorizationCode, ClientId, ClientSecret, CsrfToken, EndpointNotSet, EndpointSet,
    ExtraTokenFields, HttpRequest, HttpResponse, PkceCodeChallenge, PkceCodeVerifier, RedirectUrl, RefreshToken,
    RequestTokenError, Scope, StandardRevocableToken, StandardTokenResponse, TokenResponse, TokenUrl,
};
use rand::Rng;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use url::Url;

/// Whatever else a token response carries (Pipedrive's `api_domain`...).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct ExtraFields {
    #[serde(flatten)]
    fields: std::collections::BTreeMap<String, serde_json::Value>,
}

impl ExtraTokenFields for ExtraFields {}

type TokenResponseWithExtras = StandardTokenResponse<ExtraFields, BasicTokenType>;

/// The oauth2 crate's basic client, but keeping the token response's extra fields.
type UnconfiguredClient = oauth2::Client<
    BasicErrorResponse,
    TokenResponseWithExtras,
    BasicTokenIntrospectionResponse,
    StandardRevocableToken,
    BasicRevocationErrorResponse,
>;

type Client = oauth2::Client<
    BasicErrorResponse,
    TokenResponseWithExtras,
    BasicTokenIntrospectionResponse,
    StandardRevocableToken,
    BasicRevocationErrorResponse,
    EndpointSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointSet,
>;

/// Tokens from the CRM's token endpoint.
#[derive(Debug)]
pub struct Tokens {
    pub access: Secret,
    pub refresh: Option<Secret>,
    pub expires_at: Option<i64>,
    /// The connection's host, where the manifest's `hostname_from_token`
    /// names a field of the token response that carries it.
    pub hostname: Option<String>,
}

/// A completed code exchange.
#[derive(Debug)]
pub struct Exchanged {
    pub platform: String,
    /// The CRM host the login chose at its start (manifests with `hostnames`).
    pub chosen_hostname: Option<String>,
    pub tokens: Tokens,
}

#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct HttpError(String);

pub struct Connections {
    config: Config,
    store: Store,
    runtime: Arc<Runtime>,
    /// One refresh at a time per connection, in this process.
    locks: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
}

enum RefreshFailure {
    /// The CRM refused the refresh token: the user must log in again.
    Revoked(String),
    /// The token endpoint failed; a later attempt may work.
    Transient(String),
}

impl Connections {
    pub fn new(config: Config, store: Store, runtime: Arc<Runtime>) -> Self {
        Connections { config, store, runtime, locks: Mutex::new(HashMap::new()) }
    }

    /// The OAuth client of a manifest; `hostname` fills `{hostname}` in its URLs.
    fn oauth_client(&self, manifest: &Manifest, hostname: &str) -> Result<(Client, Vec<String>, bool), ApiError> {
        let AuthSpec::Oauth { authorize_url, token_url, scopes, pkce, client_auth, .. } = &manifest.auth else {
            return Err(ApiError::bad_request(
                code::UNSUPPORTED_AUTH,
                format!("{} does not use OAuth", manifest.platform),
            ));
        };
        let settings = self.config.adapters.get(&manifest.platform);
        let (Some(id), Some(secret)) =
            (settings.and_then(|s| s.client_id.clone()), settings.and_then(|s| s.client_secret.clone()))
        else {
            return Err(ApiError::bad_request(
                code::OAUTH_NOT_CONFIGURED,
                format!(
                    "OAuth for {} needs client_id and client_secret under [adapters.{}]",
                    manifest.platform, manifest.platform
                ),
            ));
        };
        let bad = |what: &str, e: &dyn std::error::Error| {
            ApiError::internal(format!("the {} manifest's {what} is not a URL: {e}", manifest.platform))
        };
        let fill = |url: &str| url.replace("{hostname}", hostname);
        let client = UnconfiguredClient::new(ClientId::new(id))
            .set_client_secret(ClientSecret::new(secret))
            .set_auth_uri(AuthUrl::new(fill(authorize_url)).map_err(|e| bad("authorize_url", &e))?)
            .set_token_uri(TokenUrl::new(fill(token_url)).map_err(|e| bad("token_url", &e))?)
            .set_redirect_uri(RedirectUrl::new(self.config.oauth_redirect_uri()).map_err(|e| bad("redirect URI", &e))?)
            .set_auth_type(if client_auth == "body" { AuthType::RequestBody } else { AuthType::BasicAuth });
        Ok((client, scopes.clone(), *pkce))
    }

    fn http(&self) -> TokenHttp<'_> {
        TokenHttp { outbound: self.runtime.outbound() }
    }

    /// `GET /oauth/{platform}/start`: the CRM's authorize URL with a fresh
    /// single-use `state` and, where supported, a PKCE S256 challenge.
    /// `hostname` picks one of the manifest's regional hosts (default: the first).
    pub async fn start(&self, manifest: &Manifest, hostname: Option<&str>) -> Result<Url, ApiError> {
        let chosen = manifest
            .oauth_hostname(hostname)
            .map_err(|m| ApiError::bad_request(code::INVALID_PARAMETER, format!("hostname: {m}")))?;
        let (client, scopes, pkce) = self.oauth_client(manifest, chosen.as_deref().unwrap_or_default())?;
        let state = CsrfToken::new_random();
        let mut request = client.authorize_url(|| state.clone()).add_scopes(scopes.into_iter().map(Scope::new));
        if let AuthSpec::Oauth { authorize_params, .. } = &manifest.auth {
            for (name, value) in authorize_params {
                request = request.add_extra_param(name.clone(), value.clone());
            }
        }
        let mut verifier = None;
        if pkce {
            let (challenge, v) = PkceCodeChallenge::new_random_sha256();
            request = request.set_pkce_challenge(challenge);
            verifier = Some(Secret::new(v.secret().clone()));
        }
        let (url, _) = request.url();
        self.store
            .insert_oauth_state(
                state.secret(),
                &manifest.platform,
                chosen.as_deref(),
                verifier.as_ref(),
                self.config.oauth.state_ttl_secs,
            )
            .await?;
        Ok(url)
    }

    /// Checks the `state` (single use, unexpired, for this platform) and
    /// exchanges the code for tokens.
    pub async fn exchange(&self, state: &str, code: &str) -> Result<Exchanged, ApiError> {
        let invalid = || {
            ApiError::bad_request(
                code::INVALID_STATE,
                "the login's state is unknown, expired or already used: start the login again",
            )
        };
        let pending = self.store.take_oauth_state(state).await?.ok_or_else(invalid)?;
        let adapter = self.runtime.adapter(&pending.platform).ok_or_else(invalid)?;
        let (client, _, _) = self.oauth_client(&adapter.manifest, pending.hostname.as_deref().unwrap_or_default())?;
        let mut request = client.exchange_code(AuthorizationCode::new(code.to_owned()));
        if let Some(v) = pending.verifier {
            request = request.set_pkce_verifier(PkceCodeVerifier::new(v.expose().to_owned()));
        }
        let response = request.request_async(&self.http()).await.map_err(|e| {
            ApiError::bad_request(
                code::OAUTH_EXCHANGE_FAILED,
                format!("the CRM did not accept the login: {}", describe(&e)),
            )
        })?;
        Ok(Exchanged {
            platform: pending.platform,
            chosen_hostname: pending.hostname,
            tokens: tokens(&response, &adapter.manifest),
        })
    }

    /// The access token to use now, refreshed first if it expires within the margin.
    pub async fn access_token(&self, user: &User) -> Result<Secret, ApiError> {
        let current = user.credential.clone().ok_or_else(not_connected)?;
        if user.auth_kind != "oauth" {
            return Ok(current);
        }
        if user.status == "revoked" {
            return Err(revoked());
        }
        let expiring = user.expires_at.is_some_and(|t| t <= now_secs() + self.config.oauth.refresh_margin_secs);
        if !expiring {
            return Ok(current);
        }
        self.refresh(&user.id, Some(&current)).await
    }

    /// Refreshes a connection's tokens, once, however many callers ask at the
    /// same time. `stale` is the access token the caller found wanting: if the
    /// stored one differs and is fresh, someone else already refreshed.
    pub async fn refresh(&self, user_id: &str, stale: Option<&Secret>) -> Result<Secret, ApiError> {
        let lock = {
            let mut locks = self.locks.lock().unwrap_or_else(|p| p.into_inner());
            locks.entry(user_id.to_owned()).or_default().clone()
        };
        let _in_process = lock.lock().await;
        self.store.with_refresh_lock(user_id, self.refresh_locked(user_id, stale)).await?
    }

    async fn refresh_locked(&self, user_id: &str, stale: Option<&Secret>) -> Result<Secret, ApiError> {
        let user = self.store.user(user_id).await?.ok_or_else(not_connected)?;
        if user.status == "revoked" {
            return Err(revoked());
        }
        let current = user.credential.clone().ok_or_else(not_connected)?;
        let fresh = user.expires_at.is_none_or(|t| t > now_secs() + self.config.oauth.refresh_margin_secs);
        if stale.is_some_and(|s| *s != current) && fresh {
            return Ok(current);
        }
        let refresh_token = user.refresh_token.clone().ok_or_else(|| {
            ApiError::unauthorized(code::TOKEN_EXPIRED, "the CRM session expired and cannot be refreshed: log in again")
        })?;
        let adapter = self.runtime.adapter(&user.platform).ok_or_else(|| {
            ApiError::bad_request(code::UNKNOWN_PLATFORM, format!("no adapter serves platform {:?}", user.platform))
        })?;
        let (client, _, _) = self.oauth_client(&adapter.manifest, &user.hostname)?;
        let o = &self.config.oauth;
        let mut delay = Duration::from_millis(o.initial_delay_ms);
        let mut attempt = 0;
        let outcome = loop {
            let result = client
                .exchange_refresh_token(&RefreshToken::new(refresh_token.expose().to_owned()))
                .request_async(&self.http())
                .await;
            match result {
                Ok(response) => break Ok(tokens(&response, &adapter.manifest)),
                Err(RequestTokenError::ServerResponse(r)) if *r.error() == BasicErrorResponseType::InvalidGrant => {
                    break Err(RefreshFailure::Revoked(describe_server(&r)));
                }
                Err(e) if attempt < o.max_retries => {
                    tracing::warn!(user = %user_id, attempt, error = %describe(&e), "token refresh failed; retrying");
                    // Full jitter: anywhere up to the current delay.
                    let jittered = rand::rng().random_range(0..=delay.as_millis() as u64);
                    tokio::time::sleep(Duration::from_millis(jittered)).await;
                    delay = (delay * 2).min(Duration::from_millis(o.max_delay_ms));
                    attempt += 1;
                }
                Err(e) => break Err(RefreshFailure::Transient(describe(&e))),
            }
        };
        match outcome {
            Ok(t) => {
                // Stored before anyone uses the new access token: a rotated
                // refresh token is never lost.
                self.store.update_tokens(user_id, &t.access, t.refresh.as_ref(), t.expires_at).await?;
                self.audit(user_id, &user.platform, "refresh", None).await;
                tracing::info!(user = %user_id, "access token refreshed");
                Ok(t.access)
            }
            Err(RefreshFailure::Revoked(m)) => {
                self.store.record_refresh_failure(user_id, &m, true).await?;
                self.audit(user_id, &user.platform, "revoked", Some(&m)).await;
                Err(revoked())
            }
            Err(RefreshFailure::Transient(m)) => {
                self.store.record_refresh_failure(user_id, &m, false).await?;
                self.audit(user_id, &user.platform, "refresh_failed", Some(&m)).await;
                Err(ApiError::unsuccessful(
                    code::TOKEN_REFRESH_ERROR,
                    format!("could not refresh the CRM session: {m}"),
                )
                .retryable())
            }
        }
    }
}

impl Connections {
    async fn audit(&self, user_id: &str, platform: &str, event: &str, detail: Option<&str>) {
        let e = AuditEvent { user_id: Some(user_id), platform, event, detail, ..Default::default() };
        if let Err(err) = self.store.audit(&e).await {
            tracing::warn!(error = %err, "cannot write an audit event");
        }
    }

    /// Revokes a connection's tokens at the CRM (RFC 7009), where its manifest
    /// names a revocation endpoint. Best effort: logging out must always work.
    pub async fn revoke(&self, user: &User) {
        let Some(adapter) = self.runtime.adapter(&user.platform) else { return };
        let AuthSpec::Oauth { revoke_url: Some(revoke_url), .. } = &adapter.manifest.auth else { return };
        let settings = self.config.adapters.get(&user.platform);
        let (Some(id), Some(secret)) =
            (settings.and_then(|s| s.client_id.as_deref()), settings.and_then(|s| s.client_secret.as_deref()))
        else {
            return;
        };
        let Ok(url) = Url::parse(&revoke_url.replace("{hostname}", &user.hostname)) else { return };
        let outbound = self.runtime.outbound();
        for (token, hint) in [(&user.refresh_token, "refresh_token"), (&user.credential, "access_token")] {
            let Some(token) = token else { continue };
            let form = url::form_urlencoded::Serializer::new(String::new())
                .append_pair("token", token.expose())
                .append_pair("token_type_hint", hint)
                .finish();
            let sent = outbound
                .client()
                .post(outbound.rewrite(&url))
                .basic_auth(id, Some(secret))
                .header("content-type", "application/x-www-form-urlencoded")
                .body(form)
                .send()
                .await;
            match sent {
                Ok(r) if r.status().is_success() => {}
                Ok(r) => tracing::warn!(user = %user.id, status = r.status().as_u16(), "token revocation refused"),
                Err(e) => tracing::warn!(user = %user.id, error = %e.without_url(), "token revocation failed"),
            }
        }
    }
}

/// The oauth2 crate's HTTP client: our reqwest client, through the
/// operator's upstream overrides. (A named type with a boxed `Send` future: a
/// closure here makes the refresh future not `Send` for every lifetime.)
struct TokenHttp<'a> {
    outbound: &'a crate::runtime::outbound::Outbound,
}

impl<'c> oauth2::AsyncHttpClient<'c> for TokenHttp<'_> {
    type Error = HttpError;
    type Future = std::pin::Pin<Box<dyn std::future::Future<Output = Result<HttpResponse, HttpError>> + Send + 'c>>;

    fn call(&'c self, request: HttpRequest) -> Self::Future {
        Box::pin(async move {
            let (parts, body) = request.into_parts();
            let url = Url::parse(&parts.uri.to_string()).map_err(|e| HttpError(e.to_string()))?;
            let mut req = self.outbound.client().request(parts.method, self.outbound.rewrite(&url)).body(body);
            for (name, value) in &parts.headers {
                req = req.header(name, value);
            }
            let resp = req.send().await.map_err(|e| HttpError(e.without_url().to_string()))?;
            let mut out = http_response(resp.status());
            *out.headers_mut() = resp.headers().clone();
            *out.body_mut() = resp.bytes().await.map_err(|e| HttpError(e.to_string()))?.to_vec();
            Ok(out)
        })
    }
}

fn http_response(status: reqwest::StatusCode) -> HttpResponse {
    let mut r = HttpResponse::new(Vec::new());
    *r.status_mut() = status;
    r
}

fn tokens(r: &TokenResponseWithExtras, manifest: &Manifest) -> Tokens {
    let hostname = match &manifest.auth {
        AuthSpec::Oauth { hostname_from_token: Some(field), .. } => {
            r.extra_fields().fields.get(field).and_then(|v| v.as_str()).map(str::to_owned)
        }
        _ => None,
    };
    Tokens {
        access: Secret::new(r.access_token().secret().clone()),
        refresh: r.refresh_token().map(|t| Secret::new(t.secret().clone())),
        expires_at: r.expires_in().map(|d| now_secs() + d.as_secs() as i64),
        hostname,
    }
}

fn describe_server(r: &BasicErrorResponse) -> String {
    match r.error_description() {
        Some(d) => format!("{}: {d}", r.error()),
        None => r.error().to_string(),
    }
}

/// A token-endpoint failure in words, without any token.
fn describe<E: std::error::Error>(e: &RequestTokenError<E, BasicErrorResponse>) -> String {
    match e {
        RequestTokenError::ServerResponse(r) => describe_server(r),
        RequestTokenError::Request(e) => format!("cannot reach the token endpoint: {e}"),
        RequestTokenError::Parse(e, _) => format!("unexpected token response: {e}"),
        RequestTokenError::Other(m) => m.clone(),
    }
}

fn not_connected() -> ApiError {
    ApiError::unauthorized(code::NOT_CONNECTED, "this user has disconnected the CRM: log in again")
}

fn revoked() -> ApiError {
    ApiError::unauthorized(code::CRM_SESSION_REVOKED, "the CRM refused to renew this session: log in again")
}
