//! Origins and allow-lists: which hosts an adapter may call.
//!
//! An [`Origin`] is scheme, host and port, parsed once from text such as
//! `https://api.crm.example` (a manifest's `allowed_hosts`, the operator's
//! narrowing lists and upstream overrides) through [`FromStr`] or serde.
//! An [`AllowList`] admits a URL's origin only when one of its entries does:
//! fail closed, an empty list admits nothing.
//!
//! An entry whose host starts with `*.` admits any subdomain (one or more
//! labels) of the rest on the same scheme and port, never the bare domain.

use serde::{Deserialize, Deserializer};
use std::str::FromStr;
use url::Url;

/// Scheme, host and port: what an allow-list entry names.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) struct Origin {
    pub(crate) scheme: String,
    pub(crate) host: String,
    pub(crate) port: u16,
}

/// Why a text is not an origin.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum OriginError {
    #[error("{0:?} is not a URL: {1}")]
    NotAUrl(String, url::ParseError),
    #[error("an origin has no path, query or fragment: {0:?}")]
    HasPath(String),
    #[error("an origin carries no credentials: {0:?}")]
    HasCredentials(String),
    #[error("not an http(s) origin: {0:?}")]
    NotHttp(String),
    #[error("only the first label of a host may be a wildcard: {0:?}")]
    MisplacedWildcard(String),
}

impl FromStr for Origin {
    type Err = OriginError;

    /// Parses `https://api.example.com[:port]` or `https://*.example.com`.
    fn from_str(s: &str) -> Result<Origin, OriginError> {
        // `url` does not accept `*` in a host: parse a stand-in label and put
        // the wildcard back, so `https://*.crm.example` is checked like any origin.
        if let Some((scheme, rest)) = s.split_once("://*.").filter(|(scheme, _)| matches!(*scheme, "http" | "https")) {
            if rest.contains('*') {
                return Err(OriginError::MisplacedWildcard(s.to_owned()));
            }
            let mut origin: Origin = format!("{scheme}://wildcard.{rest}").parse()?;
            origin.host = origin.host.replacen("wildcard.", "*.", 1);
            return Ok(origin);
        }
        let url = Url::parse(s).map_err(|e| OriginError::NotAUrl(s.to_owned(), e))?;
        if url.path() != "/" || url.query().is_some() || url.fragment().is_some() {
            return Err(OriginError::HasPath(s.to_owned()));
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err(OriginError::HasCredentials(s.to_owned()));
        }
        let origin = Origin::of(&url).ok_or_else(|| OriginError::NotHttp(s.to_owned()))?;
        if origin.host.contains('*') {
            return Err(OriginError::MisplacedWildcard(s.to_owned()));
        }
        Ok(origin)
    }
}

impl<'de> Deserialize<'de> for Origin {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d)?.parse().map_err(serde::de::Error::custom)
    }
}

impl Origin {
    /// The origin of an http(s) URL; `None` for other schemes.
    pub(crate) fn of(url: &Url) -> Option<Origin> {
        if url.scheme() != "http" && url.scheme() != "https" {
            return None;
        }
        Some(Origin {
            scheme: url.scheme().to_owned(),
            host: url.host_str()?.to_ascii_lowercase(),
            port: url.port_or_known_default()?,
        })
    }

    /// Whether `self`, an allow-list entry, admits `other`.
    pub(crate) fn admits(&self, other: &Origin) -> bool {
        if self.scheme != other.scheme || self.port != other.port {
            return false;
        }
        match self.host.strip_prefix("*.") {
            Some(domain) => other
                .host
                .strip_suffix(domain)
                .and_then(|sub| sub.strip_suffix('.'))
                .is_some_and(|sub| !sub.is_empty() && !sub.contains('*')),
            None => self.host == other.host,
        }
    }
}

impl std::fmt::Display for Origin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}://{}:{}", self.scheme, self.host, self.port)
    }
}

/// The origins one adapter may call.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct AllowList(Vec<Origin>);

impl AllowList {
    pub(crate) fn new(origins: Vec<Origin>) -> Self {
        AllowList(origins)
    }

    /// Whether any entry admits `origin`.
    pub(crate) fn admits(&self, origin: &Origin) -> bool {
        self.0.iter().any(|entry| entry.admits(origin))
    }

    /// Keeps only the entries the operator also listed: narrowing never widens.
    pub(crate) fn narrowed_to(mut self, operator: &[Origin]) -> Self {
        self.0.retain(|o| operator.contains(o));
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn origin(s: &str) -> Origin {
        s.parse().unwrap()
    }

    #[test]
    fn origins_parse_without_paths_or_credentials() {
        assert_eq!(
            origin("https://API.crm.example"),
            Origin { scheme: "https".into(), host: "api.crm.example".into(), port: 443 }
        );
        assert_eq!(origin("http://127.0.0.1:9000").port, 9000);
        for bad in ["api.crm.example", "https://crm.example/v1", "https://u:p@crm.example", "ftp://crm.example"] {
            assert!(bad.parse::<Origin>().is_err(), "{bad}");
        }
        assert!("https://*.*.crm.example".parse::<Origin>().is_err());
        assert!("https://a.*.crm.example".parse::<Origin>().is_err());
        assert_eq!(origin("https://*.crm.example").host, "*.crm.example");
    }

    #[test]
    fn narrowing_keeps_only_entries_on_both_lists() {
        let list = AllowList::new(vec![origin("https://a.example"), origin("https://b.example")]);
        let narrowed = list.narrowed_to(&[origin("https://b.example"), origin("https://c.example")]);
        assert!(narrowed.admits(&origin("https://b.example")));
        assert!(!narrowed.admits(&origin("https://a.example")));
        assert!(!narrowed.admits(&origin("https://c.example")), "never widened");
        assert!(!AllowList::default().admits(&origin("https://b.example")), "empty admits nothing");
    }
}
