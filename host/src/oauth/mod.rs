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
//! revoked until the user logs in again.
//!
//! [`client`] sets up the `oauth2` crate; errors are [`OauthError`]s.

mod client;
mod error;

pub(crate) use client::Tokens;
pub use error::OauthError;

use crate::clock::now_secs;
use crate::config::Config;
use crate::runtime::Runtime;
use crate::runtime::manifest::{AuthSpec, Manifest};
use crate::secret::Secret;
use crate::store::{AuditEvent, AuditKind, AuthKind, ConnectionStatus, PendingLogin, Store, User};
use client::{AppCredentials, OauthApp, TokenHttp, describe, describe_server};
use oauth2::basic::BasicErrorResponseType;
use oauth2::{
    AuthorizationCode, CsrfToken, PkceCodeChallenge, PkceCodeVerifier, RefreshToken, RequestTokenError, Scope,
};
use rand::Rng;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use url::Url;

/// A completed code exchange.
#[derive(Debug)]
pub(crate) struct Exchanged {
    pub(crate) platform: String,
    /// The CRM host the login chose at its start (manifests with `hostnames`).
    pub(crate) chosen_hostname: Option<String>,
    pub(crate) tokens: Tokens,
}

/// How a refresh retries a token endpoint that fails transiently:
/// exponential back-off with full jitter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct RetryPolicy {
    pub(crate) max_retries: u32,
    pub(crate) initial_delay_ms: u64,
    pub(crate) max_delay_ms: u64,
}

/// Logins and refreshes of OAuth connections.
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
    pub(crate) fn new(config: Config, store: Store, runtime: Arc<Runtime>) -> Self {
        Connections { config, store, runtime, locks: Mutex::new(HashMap::new()) }
    }

    /// The OAuth app of a manifest with the operator's credentials;
    /// `hostname` fills `{hostname}` in its URLs.
    fn app(&self, manifest: &Manifest, hostname: &str) -> Result<OauthApp, OauthError> {
        self.app_redirecting_to(manifest, hostname, self.config.oauth_redirect_uri())
    }

    /// [`Self::app`] with another registered redirect URI.
    fn app_redirecting_to(
        &self,
        manifest: &Manifest,
        hostname: &str,
        redirect_uri: String,
    ) -> Result<OauthApp, OauthError> {
        let settings = self.config.adapters.get(&manifest.platform);
        let credentials = settings.and_then(|s| Some((s.client_id.as_deref()?, s.client_secret.as_deref()?)));
        if !matches!(manifest.auth, AuthSpec::Oauth { .. }) {
            return Err(OauthError::UnsupportedAuth { platform: manifest.platform.clone() });
        }
        let Some((client_id, client_secret)) = credentials else {
            return Err(OauthError::NotConfigured { platform: manifest.platform.clone() });
        };
        let app = AppCredentials { client_id, client_secret, redirect_uri };
        client::oauth_app(manifest, app, hostname)
    }

    fn http(&self) -> TokenHttp<'_> {
        TokenHttp { outbound: self.runtime.outbound() }
    }

    /// `GET /oauth/{platform}/start`: the CRM's authorize URL with a fresh
    /// single-use `state` and, where supported, a PKCE S256 challenge.
    /// `hostname` picks one of the manifest's regional hosts (default: the first).
    /// `purpose` is kept with the state and handed back by [`Self::take_login`].
    pub(crate) async fn start(
        &self,
        manifest: &Manifest,
        hostname: Option<&str>,
        purpose: Option<&str>,
    ) -> Result<Url, OauthError> {
        let chosen = manifest.oauth_hostname(hostname).map_err(OauthError::InvalidHostname)?;
        let app = self.app(manifest, chosen.as_deref().unwrap_or_default())?;
        let state = CsrfToken::new_random();
        let mut request = app.client.authorize_url(|| state.clone()).add_scopes(app.scopes.into_iter().map(Scope::new));
        if let AuthSpec::Oauth { authorize_params, .. } = &manifest.auth {
            for (name, value) in authorize_params {
                request = request.add_extra_param(name.clone(), value.clone());
            }
        }
        let mut verifier = None;
        if app.pkce {
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
                purpose,
                self.config.oauth.state_ttl_secs,
            )
            .await?;
        Ok(url)
    }

    /// Takes a login's `state` out (single use, unexpired): what it was
    /// started with, or `InvalidState`.
    pub(crate) async fn take_login(&self, state: &str) -> Result<PendingLogin, OauthError> {
        self.store.take_oauth_state(state).await?.ok_or(OauthError::InvalidState)
    }

    /// Exchanges the code of a login taken by [`Self::take_login`].
    pub(crate) async fn exchange_login(&self, pending: PendingLogin, code: &str) -> Result<Exchanged, OauthError> {
        let adapter = self.runtime.adapter(&pending.platform).ok_or(OauthError::InvalidState)?;
        let app = self.app(&adapter.manifest, pending.hostname.as_deref().unwrap_or_default())?;
        let tokens = self.exchange_code(&app, &adapter.manifest, code, pending.verifier.as_ref()).await?;
        Ok(Exchanged { platform: pending.platform, chosen_hostname: pending.hostname, tokens })
    }

    /// The token endpoint's answer to a code (with its PKCE verifier, if the login had one).
    async fn exchange_code(
        &self,
        app: &OauthApp,
        manifest: &Manifest,
        code: &str,
        verifier: Option<&Secret>,
    ) -> Result<Tokens, OauthError> {
        let mut request = app.client.exchange_code(AuthorizationCode::new(code.to_owned()));
        if let Some(v) = verifier {
            request = request.set_pkce_verifier(PkceCodeVerifier::new(v.expose().to_owned()));
        }
        let response =
            request.request_async(&self.http()).await.map_err(|e| OauthError::ExchangeFailed(describe(&e)))?;
        Ok(Tokens::of(&response, manifest))
    }

    /// A login the client started itself (App Connect's extension builds the
    /// authorize URL from the manifest, with `state=platform=<name>` and its
    /// own redirect page): no stored state and no PKCE to check, so the code
    /// is claimed once here before the exchange, and `redirect_uri` is the
    /// one the operator registered for such logins (the caller has matched
    /// the client's against it). `hostname` is the CRM host the client ran
    /// on: it picks a regional host where the manifest lists them.
    pub(crate) async fn exchange_client_login(
        &self,
        platform: &str,
        code: &str,
        redirect_uri: String,
        hostname: Option<&str>,
    ) -> Result<Exchanged, OauthError> {
        let adapter = self.runtime.adapter(platform).ok_or_else(|| OauthError::UnknownPlatform(platform.to_owned()))?;
        let chosen = adapter.manifest.oauth_hostname(hostname).map_err(OauthError::InvalidHostname)?;
        let app = self.app_redirecting_to(&adapter.manifest, chosen.as_deref().unwrap_or_default(), redirect_uri)?;
        if !self.store.claim_oauth_code(platform, code).await? {
            return Err(OauthError::CodeReused);
        }
        let tokens = self.exchange_code(&app, &adapter.manifest, code, None).await?;
        Ok(Exchanged { platform: platform.to_owned(), chosen_hostname: chosen, tokens })
    }

    /// The access token to use now, refreshed first if it expires within the margin.
    pub(crate) async fn access_token(&self, user: &User) -> Result<Secret, OauthError> {
        let current = user.credential.clone().ok_or(OauthError::NotConnected)?;
        if user.auth_kind != AuthKind::Oauth {
            return Ok(current);
        }
        if user.status == ConnectionStatus::Revoked {
            return Err(OauthError::Revoked);
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
    pub async fn refresh(&self, user_id: &str, stale: Option<&Secret>) -> Result<Secret, OauthError> {
        self.refresh_with(user_id, stale, self.default_retries()).await
    }

    /// The operator's retry policy for refreshes (`[oauth]`).
    pub(crate) fn default_retries(&self) -> RetryPolicy {
        let o = &self.config.oauth;
        RetryPolicy { max_retries: o.max_retries, initial_delay_ms: o.initial_delay_ms, max_delay_ms: o.max_delay_ms }
    }

    /// [`Self::refresh`] retrying transient failures as `retries` says.
    pub(crate) async fn refresh_with(
        &self,
        user_id: &str,
        stale: Option<&Secret>,
        retries: RetryPolicy,
    ) -> Result<Secret, OauthError> {
        let lock = {
            let mut locks = self.locks.lock().unwrap_or_else(|p| p.into_inner());
            locks.entry(user_id.to_owned()).or_default().clone()
        };
        let _in_process = lock.lock().await;
        // Boxed: a refresh (the lock's transaction, the token exchange, its
        // retries) is kilobytes of state, and every request that might refresh
        // (each adapter call, for an OAuth connection) would otherwise carry
        // it inline in its handler's future, copied whole at each move:
        // `GET /contact`'s was 10.8 KB (a uprobe on memcpy), now ~1.1 KB.
        Box::pin(self.store.with_refresh_lock(user_id, self.refresh_locked(user_id, stale, retries))).await?
    }

    async fn refresh_locked(
        &self,
        user_id: &str,
        stale: Option<&Secret>,
        retries: RetryPolicy,
    ) -> Result<Secret, OauthError> {
        let user = self.store.user(user_id).await?.ok_or(OauthError::NotConnected)?;
        if user.status == ConnectionStatus::Revoked {
            return Err(OauthError::Revoked);
        }
        let current = user.credential.clone().ok_or(OauthError::NotConnected)?;
        let fresh = user.expires_at.is_none_or(|t| t > now_secs() + self.config.oauth.refresh_margin_secs);
        if stale.is_some_and(|s| *s != current) && fresh {
            return Ok(current);
        }
        let refresh_token = user.refresh_token.clone().ok_or(OauthError::NoRefreshToken)?;
        let adapter =
            self.runtime.adapter(&user.platform).ok_or_else(|| OauthError::UnknownPlatform(user.platform.clone()))?;
        let app = self.app(&adapter.manifest, &user.hostname)?;
        let o = retries;
        let mut delay = Duration::from_millis(o.initial_delay_ms);
        let mut attempt = 0;
        let outcome = loop {
            let result = app
                .client
                .exchange_refresh_token(&RefreshToken::new(refresh_token.expose().to_owned()))
                .request_async(&self.http())
                .await;
            match result {
                Ok(response) => break Ok(Tokens::of(&response, &adapter.manifest)),
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
                self.audit(user_id, &user.platform, AuditKind::Refresh, None).await;
                tracing::info!(user = %user_id, "access token refreshed");
                Ok(t.access)
            }
            Err(RefreshFailure::Revoked(m)) => {
                self.store.record_refresh_failure(user_id, &m, true).await?;
                self.audit(user_id, &user.platform, AuditKind::Revoked, Some(&m)).await;
                Err(OauthError::Revoked)
            }
            Err(RefreshFailure::Transient(m)) => {
                self.store.record_refresh_failure(user_id, &m, false).await?;
                self.audit(user_id, &user.platform, AuditKind::RefreshFailed, Some(&m)).await;
                Err(OauthError::RefreshFailed(m))
            }
        }
    }

    async fn audit(&self, user_id: &str, platform: &str, event: AuditKind, detail: Option<&str>) {
        let e = AuditEvent { detail, ..AuditEvent::of(user_id, platform, event) };
        if let Err(err) = self.store.audit(&e).await {
            tracing::warn!(error = %err, "cannot write an audit event");
        }
    }

    /// Revokes a connection's tokens at the CRM (RFC 7009), where its manifest
    /// names a revocation endpoint. Best effort: logging out must always work.
    pub(crate) async fn revoke(&self, user: &User) {
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
