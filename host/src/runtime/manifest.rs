//! The adapter manifest, `<name>.toml` beside `<name>.wasm`.
//!
//! ```toml
//! platform = "testcrm"            # the jwtToken `platform` and App Connect platform key
//! display_name = "Test CRM"
//! version = "0.1.0"               # the adapter's own version
//! wit_version = "0.2.0"           # the switchboard:crm world it was built against
//! allowed_hosts = ["https://api.testcrm.example"]
//! contact_types = ["person"]
//! [auth]
//! kind = "api-key"                # or "oauth": authorize_url, token_url, scopes, pkce,
//!                                 # client_auth, revoke_url, authorize_params, hostnames
//!                                 # ({hostname} in the URLs), hostname_from_token
//! header = "x-api-key"            # where the host puts the credential
//! value = "{api_key}"             # `{api_key}` is replaced by the user's key
//! ```

use crate::allow_list::Origin;
use anyhow::{Context, Result, bail};
use axum::http::{HeaderName, HeaderValue};
use serde::Deserialize;
use std::collections::BTreeMap;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Manifest {
    pub(crate) platform: String,
    pub(crate) display_name: String,
    pub(crate) version: String,
    pub(crate) wit_version: String,
    #[serde(default)]
    pub(crate) description: String,
    /// The origins the adapter may call (parsed when the manifest is read).
    pub(crate) allowed_hosts: Vec<Origin>,
    #[serde(default)]
    pub(crate) contact_types: Vec<String>,
    pub(crate) auth: AuthSpec,
    /// What CRM-extension clients show for this CRM (`GET /crmManifest`).
    #[serde(default)]
    pub(crate) app_connect: ClientFacing,
}

/// The client-facing parts of an adapter, served in the App Connect manifest
/// format by `GET /crmManifest`. The `*_fields` and `settings` lists are App
/// Connect's own shapes (camelCase keys such as `const`, `title`, `type`,
/// `contactDependent`), passed to clients as written.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ClientFacing {
    /// Pattern of the CRM's page URLs (`*.pipedrive.com`): the client offers
    /// this CRM on pages that match.
    #[serde(default)]
    pub(crate) url_identifier: String,
    pub(crate) logo_url: Option<String>,
    /// Page of a contact; `{hostname}`, `{contactId}`, `{contactType}` are filled by the client.
    pub(crate) contact_page_url: Option<String>,
    /// Page of a logged call; also `{logId}`.
    pub(crate) log_page_url: Option<String>,
    /// The API-key login form (API-key CRMs; default: one "API key" field).
    pub(crate) login_form: Option<LoginForm>,
    #[serde(default)]
    pub(crate) call_log_fields: Vec<toml::Table>,
    #[serde(default)]
    pub(crate) message_log_fields: Vec<toml::Table>,
    #[serde(default)]
    pub(crate) new_contact_fields: Vec<toml::Table>,
    #[serde(default)]
    pub(crate) settings: Vec<toml::Table>,
    /// How long clients wait for this CRM's answers.
    pub(crate) request_timeout_secs: Option<u64>,
    /// Offer the contact search by name (default: when the adapter's WIT
    /// world has `find-contact-by-name`, 0.2.0 on).
    pub(crate) contact_search: Option<bool>,
    /// Let clients set call dispositions (default: when the world has
    /// `set-call-disposition`, 0.2.0 on).
    pub(crate) dispositions: Option<bool>,
}

/// An API-key login form: a title, an optional warning, and its fields (App
/// Connect's `{const, title, type, description?, required?}`); the field
/// whose `const` is `apiKey` carries the key.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct LoginForm {
    pub(crate) title: String,
    pub(crate) warning: Option<String>,
    pub(crate) fields: Vec<toml::Table>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, tag = "kind", rename_all = "kebab-case")]
pub(crate) enum AuthSpec {
    /// The user pastes an API key at login; the host sends it in `header`.
    ApiKey { header: String, value: String },
    /// OAuth 2.0; the host sends `Authorization: Bearer`.
    Oauth {
        authorize_url: String,
        token_url: String,
        #[serde(default)]
        scopes: Vec<String>,
        /// PKCE (S256) when the CRM supports it.
        #[serde(default = "yes")]
        pkce: bool,
        /// How the client authenticates at the token endpoint.
        #[serde(default)]
        client_auth: ClientAuth,
        /// RFC 7009 revocation endpoint, if the CRM has one.
        #[serde(default)]
        revoke_url: Option<String>,
        /// Extra query parameters on the authorize URL (Atlassian's
        /// `audience` and `prompt`...).
        #[serde(default)]
        authorize_params: BTreeMap<String, String>,
        /// The CRM's hosts a login may choose from (regional hosts); the
        /// chosen one replaces `{hostname}` in the URLs above and becomes
        /// the connection's hostname. The first is the default.
        #[serde(default)]
        hostnames: Vec<String>,
        /// A field of the token response that names the connection's host
        /// (Pipedrive's `api_domain`); it becomes the connection's hostname.
        #[serde(default)]
        hostname_from_token: Option<String>,
    },
}

/// How an OAuth client authenticates at the CRM's token endpoint.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum ClientAuth {
    /// HTTP Basic with the client id and secret (RFC 6749's default).
    #[default]
    Basic,
    /// `client_id` and `client_secret` in the form body.
    Body,
}

fn yes() -> bool {
    true
}

impl Manifest {
    pub(crate) fn validate(&self) -> Result<()> {
        if self.platform.is_empty()
            || !self.platform.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        {
            bail!("`platform` must be non-empty letters, digits, '-' or '_', got {:?}", self.platform);
        }
        if !super::world::SUPPORTED.contains(&self.wit_version.as_str()) {
            bail!(
                "`wit_version` {:?} is not served by this host; it serves {}",
                self.wit_version,
                super::world::SUPPORTED.join(", ")
            );
        }
        if let AuthSpec::Oauth { authorize_url, token_url, revoke_url, hostnames, .. } = &self.auth {
            let templated = [Some(authorize_url), Some(token_url), revoke_url.as_ref()]
                .into_iter()
                .flatten()
                .any(|u| u.contains("{hostname}"));
            if templated && hostnames.is_empty() {
                bail!("`auth` URLs use {{hostname}}: list the CRM's hosts in `auth.hostnames`");
            }
            for h in hostnames {
                if h.is_empty() || !h.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.') {
                    bail!("`auth.hostnames` entry {h:?} is not a host name");
                }
            }
            for url in [Some(authorize_url), Some(token_url), revoke_url.as_ref()].into_iter().flatten() {
                let sample = url.replace("{hostname}", hostnames.first().map_or("crm.example", String::as_str));
                url::Url::parse(&sample).with_context(|| format!("`auth` URL {url:?}"))?;
            }
        }
        if let AuthSpec::ApiKey { header, value } = &self.auth {
            if axum::http::HeaderName::try_from(header.as_str()).is_err() {
                bail!("`auth.header` {header:?} is not a valid HTTP header name");
            }
            if !value.contains("{api_key}") {
                bail!("`auth.value` must contain {{api_key}}, got {value:?}");
            }
        }
        Ok(())
    }

    /// The header the host adds to every request of a connection.
    pub(crate) fn credential_header(&self, credential: &str) -> Option<(HeaderName, HeaderValue)> {
        let (name, value) = match &self.auth {
            AuthSpec::ApiKey { header, value } => (header.as_str(), value.replace("{api_key}", credential)),
            AuthSpec::Oauth { .. } => ("authorization", format!("Bearer {credential}")),
        };
        let name = HeaderName::try_from(name).ok()?;
        let mut value = HeaderValue::try_from(value).ok()?;
        value.set_sensitive(true);
        Some((name, value))
    }

    /// The OAuth hostname a login asked for, checked against `auth.hostnames`
    /// (`None` picks the first); `Ok(None)` for CRMs without regional hosts.
    pub(crate) fn oauth_hostname(&self, asked: Option<&str>) -> Result<Option<String>, String> {
        let AuthSpec::Oauth { hostnames, .. } = &self.auth else { return Ok(None) };
        if hostnames.is_empty() {
            return Ok(None);
        }
        match asked.map(str::trim).filter(|h| !h.is_empty()) {
            None => Ok(hostnames.first().cloned()),
            Some(h) => match hostnames.iter().find(|known| known.eq_ignore_ascii_case(h)) {
                Some(known) => Ok(Some(known.clone())),
                None => Err(format!("{} serves the hosts {}, not {h:?}", self.platform, hostnames.join(", "))),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(s: &str) -> Result<Manifest> {
        let m: Manifest = toml::from_str(s)?;
        m.validate()?;
        Ok(m)
    }

    const GOOD: &str = r#"
platform = "testcrm"
display_name = "Test CRM"
version = "0.1.0"
wit_version = "0.1.0"
allowed_hosts = ["https://api.testcrm.example"]
[auth]
kind = "api-key"
header = "x-api-key"
value = "{api_key}"
"#;

    #[test]
    fn a_valid_manifest_parses() {
        let m = parse(GOOD).unwrap();
        assert!(matches!(m.auth, AuthSpec::ApiKey { .. }));
        assert_eq!(m.allowed_hosts.len(), 1);
    }

    #[test]
    fn an_unserved_wit_version_is_refused_with_the_served_list() {
        let err =
            format!("{:#}", parse(&GOOD.replace("wit_version = \"0.1.0\"", "wit_version = \"9.0.0\"")).unwrap_err());
        assert!(err.contains("9.0.0") && err.contains("serves 0.1.0, 0.2.0"), "{err}");
    }

    const REGIONAL: &str = r#"
platform = "regional"
display_name = "Regional CRM"
version = "0.1.0"
wit_version = "0.1.0"
allowed_hosts = ["https://app.crm.example", "https://eu.app.crm.example"]
[auth]
kind = "oauth"
authorize_url = "https://{hostname}/oauth/authorize"
token_url = "https://{hostname}/oauth/token"
hostnames = ["app.crm.example", "eu.app.crm.example"]
authorize_params = { audience = "api.crm.example" }
"#;

    #[test]
    fn regional_hosts_are_chosen_from_the_manifest_list() {
        let m = parse(REGIONAL).unwrap();
        assert_eq!(m.oauth_hostname(None).unwrap().as_deref(), Some("app.crm.example"));
        assert_eq!(m.oauth_hostname(Some("EU.app.crm.example")).unwrap().as_deref(), Some("eu.app.crm.example"));
        let err = m.oauth_hostname(Some("evil.example")).unwrap_err();
        assert!(err.contains("app.crm.example, eu.app.crm.example"), "{err}");
        assert_eq!(parse(GOOD).unwrap().oauth_hostname(Some("x")).unwrap(), None, "API-key CRMs have none");
    }

    #[test]
    fn templated_urls_need_a_host_list() {
        let err = format!(
            "{:#}",
            parse(&REGIONAL.replace("hostnames = [\"app.crm.example\", \"eu.app.crm.example\"]", "")).unwrap_err()
        );
        assert!(err.contains("auth.hostnames"), "{err}");
        let err = format!("{:#}", parse(&REGIONAL.replace("\"eu.app.crm.example\"]", "\"eu/x\"]")).unwrap_err());
        assert!(err.contains("not a host name"), "{err}");
    }

    #[test]
    fn allowed_hosts_must_be_origins() {
        let err =
            format!("{:#}", parse(&GOOD.replace("https://api.testcrm.example", "api.testcrm.example")).unwrap_err());
        assert!(err.contains("allowed_hosts"), "{err}");
    }
}
