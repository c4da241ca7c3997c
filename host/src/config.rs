//! Operator configuration: one TOML file, every field overridable from the
//! environment, validated before the server starts.
//!
//! Precedence: built-in defaults < config file < environment variables.
//! The file is `--config <path>`, else `$SWITCHBOARD_CONFIG`, else
//! `./switchboard.toml` when it exists.
//!
//! One long file: the configuration is one struct, its environment overrides and its validation,
//! read in one place; the last third is its tests.

use crate::allow_list::Origin;
use anyhow::{Context, Result, bail};
use base64::Engine as _;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use url::Url;

/// Minimum length of `APP_SERVER_SECRET_KEY` (HS256 keys should be ≥ 256 bits).
pub const MIN_SECRET_LEN: usize = 32;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Address the HTTP server listens on.
    pub bind: SocketAddr,
    /// Directory for the SQLite database and other local state.
    pub data_dir: PathBuf,
    /// `sqlite://...` or `postgres://...`; empty means `<data_dir>/switchboard.db`.
    pub database_url: String,
    /// Directory holding `<name>.wasm` adapters, each with `<name>.toml` beside it.
    pub adapters_dir: PathBuf,
    /// HS256 secret for the jwtToken (`APP_SERVER_SECRET_KEY`).
    pub app_server_secret_key: String,
    /// Base64 of a 32-byte AES-256-GCM key for credentials at rest.
    pub encryption_key: String,
    /// Earlier keys, still accepted for reading until `switchboard rotate-key`
    /// has re-encrypted everything with `encryption_key`.
    pub previous_encryption_keys: Vec<String>,
    /// `human` or `json`.
    pub log_format: LogFormat,
    /// The server's address as clients reach it (the manifest's `serverUrl`);
    /// empty: the address each `/crmManifest` request came to.
    pub public_url: String,
    pub app_connect: AppConnectConfig,
    /// Real origin → replacement base URL, applied after the allow-list check.
    pub upstream_overrides: BTreeMap<String, String>,
    pub limits: Limits,
    /// Per-adapter operator settings, keyed by platform.
    pub adapters: BTreeMap<String, AdapterSettings>,
    /// Bearer token for `/admin/*` and `/metrics`; empty disables them.
    pub admin_token: String,
    /// Origins browsers may call the API from (CORS); `*` allows any (tokens
    /// travel in the query or a header, never in cookies).
    pub cors_allowed_origins: Vec<String>,
    /// Reload adapters when files in `adapters_dir` change.
    pub watch_adapters: bool,
    /// Keep compiled adapters in `<data_dir>/compiled` so a restart does not recompile.
    pub compile_cache: bool,
    /// Let adapter manifests list plain `http://` origins (development
    /// only: the host sends users' credentials to those origins).
    pub allow_insecure_adapter_hosts: bool,
    pub oauth: OauthConfig,
    pub sessions: SessionConfig,
    pub webhooks: WebhookConfig,
}

/// What App Connect clients are told in `GET /crmManifest`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AppConnectConfig {
    /// Shown as "Developed by ..." (`author.name`).
    pub author_name: String,
    pub author_website_url: String,
    /// Where the client's OAuth logins land (`redirectUri`): it watches the
    /// login window until it reaches this address. The App Connect extension
    /// always sends its own page as `redirect_uri`; register that one with
    /// the CRM (see `client_redirect_uri` under `[adapters.<platform>]`).
    pub redirect_uri: String,
    /// The App Connect release clients are told this server is (`version` of
    /// the manifest and of `/serverVersionInfo`): the extension compares it
    /// with its own to offer updates and release notes, so it is the client
    /// release whose API Switchboard serves, not Switchboard's own version
    /// (which is served beside it as `serverVersion`).
    pub version: String,
    /// RingCentral's API, asked who an `rcAccessToken` belongs to and whether
    /// they administer their account (`/admin/settings`).
    pub ringcentral_api_url: String,
    /// RingCentral extension ids treated as account admins even without the
    /// admin permission (App Connect's `ADMIN_EXTENSION_ID_DEV_PASS_LIST`).
    pub admin_extension_ids: Vec<String>,
}

/// RingCentral's production API.
pub const RINGCENTRAL_API_URL: &str = "https://platform.ringcentral.com";

/// The App Connect client release whose API this server serves.
pub const APP_CONNECT_VERSION: &str = "1.6.7";

/// The redirect page of the App Connect browser extension.
pub const APP_CONNECT_REDIRECT_URI: &str = "https://ringcentral.github.io/ringcentral-embeddable/redirect.html";

impl Default for AppConnectConfig {
    fn default() -> Self {
        AppConnectConfig {
            author_name: "Switchboard".into(),
            author_website_url: String::new(),
            redirect_uri: APP_CONNECT_REDIRECT_URI.into(),
            version: APP_CONNECT_VERSION.into(),
            ringcentral_api_url: RINGCENTRAL_API_URL.into(),
            admin_extension_ids: Vec::new(),
        }
    }
}

/// The sessions a jwtToken names (see README, "Sessions").
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SessionConfig {
    /// A session unused this long ends; each use renews it.
    pub idle_timeout_days: i64,
    /// The jwtToken's own `exp`: the longest a session can last, used or not.
    pub lifetime_days: i64,
}

impl Default for SessionConfig {
    fn default() -> Self {
        SessionConfig { idle_timeout_days: 30, lifetime_days: 365 }
    }
}

/// Outgoing webhooks (see README, "Webhooks").
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct WebhookConfig {
    /// Deliver webhooks from this process (every replica may: each delivery
    /// is claimed by one).
    pub deliver: bool,
    /// Let endpoints be loopback addresses, plain `http` included
    /// (development only: in production that reaches the host's own services).
    pub allow_loopback: bool,
    /// One attempt's whole time: connect, send, answer.
    pub timeout_ms: u64,
    /// Attempts in flight at once in this process.
    pub max_in_flight: u32,
    /// Attempts in flight at once to one endpoint, so a slow receiver
    /// cannot hold every worker.
    pub max_in_flight_per_endpoint: u32,
    /// How often workers look for due deliveries (they are also woken by
    /// every event this process writes).
    pub poll_interval_ms: u64,
    /// Events, deliveries and attempts older than this are forgotten.
    pub retention_days: u32,
    /// Endpoints a workspace (or the operator) may create per hour.
    pub max_endpoints_created_per_hour: u32,
}

impl Default for WebhookConfig {
    fn default() -> Self {
        WebhookConfig {
            deliver: true,
            allow_loopback: false,
            timeout_ms: 15_000,
            max_in_flight: 32,
            max_in_flight_per_endpoint: 4,
            poll_interval_ms: 500,
            retention_days: 30,
            max_endpoints_created_per_hour: 20,
        }
    }
}

/// OAuth login and token refresh.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct OauthConfig {
    /// Registered redirect URI (matched exactly); empty = `http://<bind>/oauth-callback`.
    pub redirect_uri: String,
    /// How long a login's `state` stays valid.
    pub state_ttl_secs: i64,
    /// Refresh an access token that expires within this margin.
    pub refresh_margin_secs: i64,
    /// Retries of a refresh that failed for a transient reason.
    pub max_retries: u32,
    pub initial_delay_ms: u64,
    pub max_delay_ms: u64,
}

impl Default for OauthConfig {
    fn default() -> Self {
        OauthConfig {
            redirect_uri: String::new(),
            state_ttl_secs: 600,
            refresh_margin_secs: 60,
            max_retries: 3,
            initial_delay_ms: 200,
            max_delay_ms: 5000,
        }
    }
}

#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Human,
    Json,
}

/// Limits applied to every request and adapter call.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Limits {
    /// Largest accepted request body.
    pub max_body_bytes: usize,
    /// Linear memory an adapter instance may grow to.
    pub adapter_memory_mib: u64,
    /// CPU time an adapter call may use (epoch deadline), in milliseconds.
    pub adapter_cpu_ms: u64,
    /// Wall-clock time for one adapter call, host calls included.
    pub adapter_wall_ms: u64,
    /// Outbound requests one adapter call may make.
    pub outbound_requests_per_call: u32,
    /// Timeout of one outbound request.
    pub outbound_timeout_ms: u64,
    /// Largest outbound response body handed to an adapter.
    pub outbound_max_response_bytes: usize,
    /// Largest outbound request body an adapter may send.
    pub outbound_max_request_bytes: usize,
    /// Most `sessionIds` accepted by `GET /callLog`.
    pub max_session_ids: usize,
    /// Largest result an adapter may return (strings and lists, added up).
    pub adapter_max_output_bytes: usize,
    /// Adapter calls in flight at once (the instance pool's size); more wait.
    pub max_concurrent_calls: u32,
    /// Memory the adapter calls in flight may hold together, in MiB, counted
    /// as they use it (twice: the memory and a result lifted out of it): a
    /// call waits at its start while the budget is spent, and a call refused
    /// more memory fails with `ADAPTER_MEMORY_BUDGET` (retryable). See
    /// `runtime::memory_budget`.
    pub adapter_memory_budget_mib: u64,
    /// Client connections open at once; more wait in the kernel's backlog.
    pub max_connections: usize,
    /// How long a client has to send a request's headers, and how long an
    /// idle keep-alive connection stays open, in milliseconds.
    pub header_read_timeout_ms: u64,
}

/// What the operator configures for one adapter.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AdapterSettings {
    /// Non-secret settings the adapter reads through its `config` import.
    pub settings: BTreeMap<String, String>,
    /// Narrows the manifest's `allowed_hosts` (never widens it).
    pub allowed_hosts: Option<Vec<String>>,
    /// Overrides of `[limits]` for this adapter.
    pub limits: AdapterLimits,
    /// OAuth client registered with the CRM (OAuth adapters only).
    pub client_id: Option<String>,
    pub client_secret: Option<String>,
    /// The redirect URI of client-initiated logins (the App Connect extension
    /// builds the authorize URL itself, with its own redirect page), registered
    /// with the CRM and matched exactly; default: `app_connect.redirect_uri`.
    pub client_redirect_uri: Option<String>,
}

/// Per-adapter overrides of the call limits; unset fields use `[limits]`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AdapterLimits {
    pub memory_mib: Option<u64>,
    pub cpu_ms: Option<u64>,
    pub wall_ms: Option<u64>,
    pub outbound_requests_per_call: Option<u32>,
    pub outbound_max_response_bytes: Option<usize>,
    pub outbound_max_request_bytes: Option<usize>,
    pub max_output_bytes: Option<usize>,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_body_bytes: 1024 * 1024,
            adapter_memory_mib: 64,
            adapter_cpu_ms: 2_000,
            adapter_wall_ms: 20_000,
            outbound_requests_per_call: 25,
            outbound_timeout_ms: 10_000,
            outbound_max_response_bytes: 8 * 1024 * 1024,
            outbound_max_request_bytes: 1024 * 1024,
            max_session_ids: 5,
            adapter_max_output_bytes: 4 * 1024 * 1024,
            max_concurrent_calls: 1000,
            adapter_memory_budget_mib: 4096,
            max_connections: 4096,
            header_read_timeout_ms: 15_000,
        }
    }
}

impl Default for Config {
    fn default() -> Self {
        Config {
            bind: "127.0.0.1:8080".parse().expect("valid default address"),
            data_dir: PathBuf::from("data"),
            database_url: String::new(),
            adapters_dir: PathBuf::from("target/adapters"),
            app_server_secret_key: String::new(),
            encryption_key: String::new(),
            previous_encryption_keys: Vec::new(),
            log_format: LogFormat::Human,
            public_url: String::new(),
            app_connect: AppConnectConfig::default(),
            upstream_overrides: BTreeMap::new(),
            limits: Limits::default(),
            adapters: BTreeMap::new(),
            admin_token: String::new(),
            cors_allowed_origins: vec!["*".into()],
            watch_adapters: true,
            compile_cache: true,
            allow_insecure_adapter_hosts: false,
            oauth: OauthConfig::default(),
            sessions: SessionConfig::default(),
            webhooks: WebhookConfig::default(),
        }
    }
}

impl Config {
    /// How long a logging reservation is leased: the longest wall-clock
    /// deadline any adapter call has, and 5 s more for the database writes
    /// around it. A request that finds a lease ended takes the work over.
    pub fn reservation_lease(&self) -> std::time::Duration {
        let longest = self.largest_limit(self.limits.adapter_wall_ms, |l| l.wall_ms);
        std::time::Duration::from_millis(longest) + std::time::Duration::from_secs(5)
    }

    /// The largest value of one per-call limit: the default, or an adapter's
    /// override above it.
    pub(crate) fn largest_limit(&self, default: u64, of: impl Fn(&AdapterLimits) -> Option<u64>) -> u64 {
        self.adapters.values().filter_map(|a| of(&a.limits)).fold(default, u64::max)
    }

    /// Loads the file (if any), applies environment overrides and validates.
    pub fn load(file: Option<&Path>, env: impl Fn(&str) -> Option<String>) -> Result<Config> {
        let mut config = match file {
            Some(path) => {
                let text = std::fs::read_to_string(path)
                    .with_context(|| format!("cannot read config file {}", path.display()))?;
                toml::from_str(&text).with_context(|| format!("invalid config file {}", path.display()))?
            }
            None => Config::default(),
        };
        config.apply_env(env)?;
        config.validate()?;
        Ok(config)
    }

    fn apply_env(&mut self, env: impl Fn(&str) -> Option<String>) -> Result<()> {
        let get = |k: &str| env(k).filter(|v| !v.is_empty());
        if let Some(v) = get("SWITCHBOARD_BIND") {
            self.bind =
                v.parse().with_context(|| format!("SWITCHBOARD_BIND={v:?} is not an address like 127.0.0.1:8080"))?;
        }
        if let Some(v) = get("SWITCHBOARD_DATA_DIR") {
            self.data_dir = v.into();
        }
        if let Some(v) = get("DATABASE_URL") {
            self.database_url = v;
        }
        if let Some(v) = get("SWITCHBOARD_ADAPTERS_DIR") {
            self.adapters_dir = v.into();
        }
        if let Some(v) = get("APP_SERVER_SECRET_KEY") {
            self.app_server_secret_key = v;
        }
        if let Some(v) = get("SWITCHBOARD_ENCRYPTION_KEY") {
            self.encryption_key = v;
        }
        if let Some(v) = get("SWITCHBOARD_PREVIOUS_ENCRYPTION_KEYS") {
            self.previous_encryption_keys =
                v.split(',').map(|k| k.trim().to_owned()).filter(|k| !k.is_empty()).collect();
        }
        if let Some(v) = get("SWITCHBOARD_LOG_FORMAT") {
            self.log_format = match v.as_str() {
                "human" => LogFormat::Human,
                "json" => LogFormat::Json,
                _ => bail!("SWITCHBOARD_LOG_FORMAT={v:?}: expected \"human\" or \"json\""),
            };
        }
        if let Some(v) = get("SWITCHBOARD_PUBLIC_URL") {
            self.public_url = v;
        }
        if let Some(v) = get("SWITCHBOARD_CORS_ALLOWED_ORIGINS") {
            self.cors_allowed_origins = v.split(',').map(|o| o.trim().to_owned()).filter(|o| !o.is_empty()).collect();
        }
        if let Some(v) = get("SWITCHBOARD_ADMIN_TOKEN") {
            self.admin_token = v;
        }
        if let Some(v) = get("SWITCHBOARD_UPSTREAM_OVERRIDES") {
            for pair in v.split(',').map(str::trim).filter(|p| !p.is_empty()) {
                let (from, to) = pair
                    .split_once('=')
                    .with_context(|| format!("SWITCHBOARD_UPSTREAM_OVERRIDES: {pair:?} is not origin=url"))?;
                self.upstream_overrides.insert(from.trim().to_owned(), to.trim().to_owned());
            }
        }
        Ok(())
    }

    /// Refuses a configuration the server cannot run with, saying what to fix.
    pub fn validate(&self) -> Result<()> {
        if self.app_server_secret_key.is_empty() {
            bail!(
                "APP_SERVER_SECRET_KEY is not set: set it (env or `app_server_secret_key` in the config file) to a random string of at least {MIN_SECRET_LEN} characters, e.g. `openssl rand -hex 32`"
            );
        }
        if self.app_server_secret_key.len() < MIN_SECRET_LEN {
            bail!(
                "APP_SERVER_SECRET_KEY is too short ({} characters): use at least {MIN_SECRET_LEN}",
                self.app_server_secret_key.len()
            );
        }
        self.sealer()?;
        if !self.adapters_dir.is_dir() {
            bail!(
                "the adapters directory {} does not exist: build the bundled adapters with `cargo xtask adapters` or set SWITCHBOARD_ADAPTERS_DIR",
                self.adapters_dir.display()
            );
        }
        self.upstream_override_map()?;
        if !self.public_url.is_empty() {
            let url = Url::parse(&self.public_url).with_context(|| {
                format!("public_url {:?} is not a URL like https://switchboard.example.com", self.public_url)
            })?;
            if !matches!(url.scheme(), "http" | "https") {
                bail!("public_url must be http(s), got {:?}", self.public_url);
            }
        }
        for origin in self.cors_allowed_origins.iter().filter(|o| *o != "*") {
            if axum::http::HeaderValue::from_str(origin).is_err() || !origin.contains("://") {
                bail!(
                    "cors_allowed_origins: {origin:?} is not an origin like chrome-extension://<id> or https://app.example.com"
                );
            }
        }
        let url = self.database_url();
        if !(url.starts_with("sqlite:") || url.starts_with("postgres:") || url.starts_with("postgresql:")) {
            bail!("DATABASE_URL must start with sqlite: or postgres:, got {:?}", redact_url(&url));
        }
        if !self.admin_token.is_empty() && self.admin_token.len() < 16 {
            bail!(
                "SWITCHBOARD_ADMIN_TOKEN is too short: use at least 16 characters, or leave it empty to disable /admin and /metrics"
            );
        }
        for platform in self.adapters.keys() {
            self.narrowed_hosts(platform)?;
        }
        let l = &self.limits;
        if self.sessions.idle_timeout_days <= 0 || self.sessions.lifetime_days < self.sessions.idle_timeout_days {
            bail!("sessions: idle_timeout_days must be positive and lifetime_days at least as long");
        }
        if l.max_body_bytes == 0 || l.adapter_memory_mib == 0 || l.adapter_cpu_ms == 0 || l.adapter_wall_ms == 0 {
            bail!("limits must be greater than zero");
        }
        Ok(())
    }

    /// The 32-byte credential encryption key.
    pub fn encryption_key_bytes(&self) -> Result<[u8; 32]> {
        if self.encryption_key.is_empty() {
            bail!(
                "SWITCHBOARD_ENCRYPTION_KEY is not set: set it to the base64 of 32 random bytes, e.g. `openssl rand -base64 32`"
            );
        }
        decode_key("SWITCHBOARD_ENCRYPTION_KEY", &self.encryption_key)
    }

    /// The keyring: the current key seals, previous keys still open.
    pub(crate) fn sealer(&self) -> Result<crate::crypto::Sealer> {
        let previous = self
            .previous_encryption_keys
            .iter()
            .map(|k| decode_key("SWITCHBOARD_PREVIOUS_ENCRYPTION_KEYS", k))
            .collect::<Result<Vec<_>>>()?;
        Ok(crate::crypto::Sealer::new(self.encryption_key_bytes()?).with_previous(previous))
    }

    /// The upstream overrides, parsed: real origin → replacement base URL.
    pub(crate) fn upstream_override_map(&self) -> Result<BTreeMap<Origin, Url>> {
        let mut map = BTreeMap::new();
        for (from, to) in &self.upstream_overrides {
            let origin: Origin = from.parse().with_context(|| {
                format!("upstream override: {from:?} is not an origin like https://api.example.com")
            })?;
            let url = Url::parse(to).with_context(|| format!("upstream override for {from}: {to:?} is not a URL"))?;
            map.insert(origin, url);
        }
        Ok(map)
    }

    /// The operator's narrowing of one adapter's allow-list, parsed; `None`
    /// when the operator did not narrow it.
    pub(crate) fn narrowed_hosts(&self, platform: &str) -> Result<Option<Vec<Origin>>> {
        let Some(hosts) = self.adapters.get(platform).and_then(|a| a.allowed_hosts.as_ref()) else {
            return Ok(None);
        };
        let parsed = hosts
            .iter()
            .map(|h| h.parse().with_context(|| format!("adapters.{platform}.allowed_hosts: {h:?} is not an origin")))
            .collect::<Result<Vec<Origin>>>()?;
        Ok(Some(parsed))
    }

    /// The OAuth redirect URI registered with the CRMs.
    pub fn oauth_redirect_uri(&self) -> String {
        if self.oauth.redirect_uri.is_empty() {
            format!("http://{}/oauth-callback", self.bind)
        } else {
            self.oauth.redirect_uri.clone()
        }
    }

    /// The redirect URI of a platform's client-initiated OAuth logins.
    pub fn client_redirect_uri(&self, platform: &str) -> String {
        self.adapters
            .get(platform)
            .and_then(|a| a.client_redirect_uri.clone())
            .unwrap_or_else(|| self.app_connect.redirect_uri.clone())
    }

    /// Where compiled adapters are cached, if caching is on.
    pub fn compile_cache_dir(&self) -> Option<PathBuf> {
        self.compile_cache.then(|| self.data_dir.join("compiled"))
    }

    /// The effective database URL.
    pub fn database_url(&self) -> String {
        if self.database_url.is_empty() {
            format!("sqlite://{}?mode=rwc", self.data_dir.join("switchboard.db").display())
        } else {
            self.database_url.clone()
        }
    }
}

fn decode_key(name: &str, value: &str) -> Result<[u8; 32]> {
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(value.trim())
        .with_context(|| format!("{name} is not valid base64"))?;
    bytes.try_into().map_err(|b: Vec<u8>| anyhow::anyhow!("{name} must decode to 32 bytes, got {}", b.len()))
}

/// A database URL with any password removed, for messages and logs.
pub fn redact_url(url: &str) -> String {
    match Url::parse(url) {
        Ok(mut u) if u.password().is_some() => {
            let _ = u.set_password(Some("***"));
            u.to_string()
        }
        _ => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env<'a>(vars: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<String> + 'a {
        move |k| vars.iter().find(|(n, _)| *n == k).map(|(_, v)| v.to_string())
    }

    const KEY: &str = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=";

    #[test]
    fn refuses_to_start_without_the_secret() {
        let err = Config::load(None, env(&[])).unwrap_err().to_string();
        assert!(err.contains("APP_SERVER_SECRET_KEY is not set"), "{err}");
    }

    #[test]
    fn refuses_a_short_secret_and_a_bad_encryption_key() {
        let err = Config::load(None, env(&[("APP_SERVER_SECRET_KEY", "short")])).unwrap_err();
        assert!(err.to_string().contains("too short"), "{err}");
        let secret = "x".repeat(40);
        let err =
            Config::load(None, env(&[("APP_SERVER_SECRET_KEY", &secret), ("SWITCHBOARD_ENCRYPTION_KEY", "AAAA")]))
                .unwrap_err();
        assert!(err.to_string().contains("32 bytes"), "{err}");
    }

    #[test]
    fn env_overrides_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("switchboard.toml");
        let adapters = dir.path().to_str().unwrap().to_owned();
        std::fs::write(
            &file,
            format!(
                "bind = \"127.0.0.1:1\"\nadapters_dir = {adapters:?}\n[upstream_overrides]\n\"https://api.a.example\" = \"http://127.0.0.1:9\"\n[limits]\nadapter_memory_mib = 16\n"
            ),
        )
        .unwrap();
        let secret = "y".repeat(40);
        let c = Config::load(
            Some(&file),
            env(&[
                ("APP_SERVER_SECRET_KEY", &secret),
                ("SWITCHBOARD_ENCRYPTION_KEY", KEY),
                ("SWITCHBOARD_BIND", "127.0.0.1:2"),
                ("SWITCHBOARD_UPSTREAM_OVERRIDES", "https://api.b.example=http://127.0.0.1:10"),
            ]),
        )
        .unwrap();
        assert_eq!(c.bind.port(), 2);
        assert_eq!(c.limits.adapter_memory_mib, 16);
        assert_eq!(c.upstream_overrides.len(), 2);
    }

    #[test]
    fn the_documented_example_config_is_valid() {
        let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("../switchboard.example.toml");
        let dir = tempfile::tempdir().unwrap();
        let secret = "z".repeat(40);
        let c = Config::load(
            Some(&example),
            env(&[
                ("APP_SERVER_SECRET_KEY", &secret),
                ("SWITCHBOARD_ENCRYPTION_KEY", KEY),
                ("SWITCHBOARD_ADAPTERS_DIR", dir.path().to_str().unwrap()),
            ]),
        )
        .unwrap();
        assert_eq!(c.limits, Limits::default(), "the example documents the defaults");
        assert_eq!(c.sessions, SessionConfig::default(), "the example documents the defaults");
        assert_eq!(c.app_connect, AppConnectConfig::default(), "the example documents the defaults");
        assert_eq!(c.bind, Config::default().bind);
    }

    #[test]
    fn unknown_keys_in_the_file_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("c.toml");
        std::fs::write(&file, "bnid = \"127.0.0.1:1\"\n").unwrap();
        let err = format!("{:#}", Config::load(Some(&file), env(&[])).unwrap_err());
        assert!(err.contains("unknown field `bnid`"), "{err}");
    }
}
