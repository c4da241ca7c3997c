//! The SSRF guard: a webhook URL may only reach the public internet.
//!
//! Checked when an endpoint is created or changed, and again at every
//! delivery: the URL must be `https` (plain `http` only to a loopback
//! address, and only when the operator allows loopback for development);
//! its host name is resolved and **every** address checked; the connection
//! is then made to the checked addresses only (the [`GuardedResolver`] is the
//! HTTP client's resolver, so there is no second lookup a rebinding DNS
//! server could answer differently).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;
use url::{Host, Url};

/// Why a URL may not be called.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum Refused {
    #[error("the URL is not valid: {0}")]
    Invalid(String),
    #[error("webhook URLs must use https")]
    NotHttps,
    #[error("webhook URLs must not carry credentials")]
    Credentials,
    #[error("{host} resolves to {addr}, which is not a public address ({why})")]
    Internal { host: String, addr: IpAddr, why: &'static str },
    #[error("{host} does not resolve: {reason}")]
    Unresolvable { host: String, reason: String },
}

/// What the guard lets through.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Policy {
    /// Loopback addresses (and plain http to them) allowed: development only.
    pub(crate) allow_loopback: bool,
}

/// Checks a URL's form (scheme, no user info, a host); the host's
/// addresses are checked by [`Policy::check_addresses`].
pub(crate) fn parse(raw: &str, policy: Policy) -> Result<Url, Refused> {
    if raw.len() > 2048 {
        return Err(Refused::Invalid("longer than 2048 bytes".into()));
    }
    let url = Url::parse(raw).map_err(|e| Refused::Invalid(e.to_string()))?;
    if !url.username().is_empty() || url.password().is_some() {
        return Err(Refused::Credentials);
    }
    let host = url.host().ok_or_else(|| Refused::Invalid("the URL has no host".into()))?;
    match url.scheme() {
        "https" => {}
        "http" if policy.allow_loopback && is_loopback_host(&host) => {}
        _ => return Err(Refused::NotHttps),
    }
    // An address written in the URL is checked here: the resolver never sees it.
    if let Some(ip) = literal(&host) {
        policy.check(&host.to_string(), ip)?;
    }
    Ok(url)
}

fn literal(host: &Host<&str>) -> Option<IpAddr> {
    match *host {
        Host::Ipv4(v4) => Some(IpAddr::V4(v4)),
        Host::Ipv6(v6) => Some(IpAddr::V6(v6)),
        Host::Domain(_) => None,
    }
}

fn is_loopback_host(host: &Host<&str>) -> bool {
    match *host {
        Host::Domain(d) => d.eq_ignore_ascii_case("localhost"),
        _ => literal(host).is_some_and(|ip| canonical(ip).is_loopback()),
    }
}

impl Policy {
    /// Refuses `addr` unless it is a public unicast address (or loopback
    /// when allowed).
    pub(crate) fn check(&self, host: &str, addr: IpAddr) -> Result<(), Refused> {
        match why_internal(addr) {
            Some("loopback") if self.allow_loopback => Ok(()),
            Some(why) => Err(Refused::Internal { host: host.to_owned(), addr, why }),
            None => Ok(()),
        }
    }

    /// Every address of a resolved name must pass: one internal address
    /// refuses the name.
    pub(crate) fn check_addresses(&self, host: &str, addrs: &[IpAddr]) -> Result<(), Refused> {
        if addrs.is_empty() {
            return Err(Refused::Unresolvable { host: host.to_owned(), reason: "no addresses".into() });
        }
        addrs.iter().try_for_each(|a| self.check(host, *a))
    }
}

/// An IPv4 address hidden in an IPv6 one (mapped, compatible, 6to4, NAT64)
/// is judged as that IPv4 address.
fn canonical(addr: IpAddr) -> IpAddr {
    let IpAddr::V6(v6) = addr else { return addr };
    if let Some(v4) = v6.to_ipv4_mapped() {
        return IpAddr::V4(v4);
    }
    let s = v6.segments();
    let embedded = |hi: u16, lo: u16| IpAddr::V4(Ipv4Addr::from((u32::from(hi) << 16) | u32::from(lo)));
    match s {
        // ::a.b.c.d (deprecated IPv4-compatible), but not :: and ::1
        [0, 0, 0, 0, 0, 0, hi, lo] if hi != 0 => embedded(hi, lo),
        // 64:ff9b::a.b.c.d (NAT64)
        [0x64, 0xff9b, 0, 0, 0, 0, hi, lo] => embedded(hi, lo),
        // 2002:AABB:CCDD::/48 (6to4)
        [0x2002, hi, lo, ..] => embedded(hi, lo),
        _ => addr,
    }
}

/// Why an address is not a public one, or `None` when it is.
pub(crate) fn why_internal(addr: IpAddr) -> Option<&'static str> {
    match canonical(addr) {
        IpAddr::V4(v4) => why_internal_v4(v4),
        IpAddr::V6(v6) => why_internal_v6(v6),
    }
}

fn why_internal_v4(ip: Ipv4Addr) -> Option<&'static str> {
    let [a, b, c, _] = ip.octets();
    Some(match (a, b, c) {
        _ if ip.is_loopback() => "loopback",
        (169, 254, _) => "link-local (cloud metadata lives at 169.254.169.254)",
        (0, _, _) => "this-network",
        (10, _, _) | (192, 168, _) => "private",
        (172, 16..=31, _) => "private",
        (100, 64..=127, _) => "carrier-grade NAT",
        (192, 0, 0) => "IETF protocol assignments",
        (192, 0, 2) | (198, 51, 100) | (203, 0, 113) => "documentation",
        (198, 18..=19, _) => "benchmarking",
        (224..=239, _, _) => "multicast",
        (240..=255, _, _) => "reserved or broadcast",
        _ => return None,
    })
}

fn why_internal_v6(ip: Ipv6Addr) -> Option<&'static str> {
    let s = ip.segments();
    Some(match s[0] {
        _ if ip.is_loopback() => "loopback",
        _ if ip.is_unspecified() => "unspecified",
        0xfc00..=0xfdff => "unique local",
        0xfe80..=0xfebf => "link-local",
        0xfec0..=0xfeff => "site-local",
        0xff00..=0xffff => "multicast",
        0x2001 if s[1] == 0x0db8 => "documentation",
        0x2001 if s[1] < 0x0200 => "IETF special purpose (Teredo, ORCHID, benchmarking)",
        0x0100 if s[1..4] == [0, 0, 0] => "discard-only",
        // anything else outside 2000::/3 is not globally routed unicast
        0x0000..=0x1fff | 0x4000..=0xfbff => "not global unicast",
        _ => return None,
    })
}

/// How names are looked up: the system resolver, or a fixed table in tests.
pub(crate) trait Lookup: Send + Sync + 'static {
    fn lookup(&self, host: String) -> futures_util::future::BoxFuture<'static, std::io::Result<Vec<IpAddr>>>;
}

/// The system's resolver (`getaddrinfo`, through tokio).
pub(crate) struct SystemLookup;

impl Lookup for SystemLookup {
    fn lookup(&self, host: String) -> futures_util::future::BoxFuture<'static, std::io::Result<Vec<IpAddr>>> {
        Box::pin(async move { Ok(tokio::net::lookup_host((host.as_str(), 0)).await?.map(|a| a.ip()).collect()) })
    }
}

/// The delivery client's resolver: resolves, checks every address, and
/// hands the client only those, so it connects to what was checked.
#[derive(Clone)]
pub(crate) struct GuardedResolver {
    policy: Policy,
    lookup: Arc<dyn Lookup>,
}

impl GuardedResolver {
    pub(crate) fn new(policy: Policy, lookup: Arc<dyn Lookup>) -> Self {
        GuardedResolver { policy, lookup }
    }

    /// The checked addresses of `host`.
    pub(crate) async fn resolve_checked(&self, host: &str) -> Result<Vec<IpAddr>, Refused> {
        let addrs = self
            .lookup
            .lookup(host.to_owned())
            .await
            .map_err(|e| Refused::Unresolvable { host: host.to_owned(), reason: e.to_string() })?;
        self.policy.check_addresses(host, &addrs)?;
        Ok(addrs)
    }
}

impl reqwest::dns::Resolve for GuardedResolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let this = self.clone();
        Box::pin(async move {
            let addrs = this
                .resolve_checked(name.as_str())
                .await
                .map_err(|e| Box::new(e) as Box<dyn std::error::Error + Send + Sync>)?;
            let sockets: Box<dyn Iterator<Item = SocketAddr> + Send> =
                Box::new(addrs.into_iter().map(|ip| SocketAddr::new(ip, 0)));
            Ok(sockets)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    /// A resolver answering from a table, as a hostile DNS server might.
    pub(crate) struct Table(pub(crate) HashMap<&'static str, Vec<IpAddr>>);

    impl Lookup for Table {
        fn lookup(&self, host: String) -> futures_util::future::BoxFuture<'static, std::io::Result<Vec<IpAddr>>> {
            let found = self.0.get(host.as_str()).cloned();
            Box::pin(async move { found.ok_or_else(|| std::io::Error::other("NXDOMAIN")) })
        }
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn every_internal_form_is_refused_and_public_addresses_pass() {
        for internal in [
            "127.0.0.1",
            "127.8.9.10",
            "0.0.0.0",
            "10.1.2.3",
            "172.16.0.1",
            "172.31.255.255",
            "192.168.1.1",
            "169.254.169.254",
            "169.254.0.1",
            "100.64.0.1",
            "100.127.255.254",
            "192.0.0.170",
            "198.18.0.1",
            "224.0.0.1",
            "255.255.255.255",
            "::1",
            "::",
            "fc00::1",
            "fd12:3456::1",
            "fe80::1",
            "ff02::1",
            "::ffff:127.0.0.1",
            "::ffff:169.254.169.254",
            "::ffff:10.0.0.1",
            "::127.0.0.1",
            "64:ff9b::a9fe:a9fe",
            "2002:7f00:1::1",
            "2001:db8::1",
            "2001::1",
        ] {
            assert!(why_internal(ip(internal)).is_some(), "{internal} must be refused");
        }
        for public in ["8.8.8.8", "1.1.1.1", "172.32.0.1", "100.128.0.1", "2606:4700:4700::1111", "::ffff:8.8.8.8"] {
            assert_eq!(why_internal(ip(public)), None, "{public} is public");
        }
    }

    #[test]
    fn urls_must_be_https_to_a_public_host_unless_loopback_is_allowed() {
        let strict = Policy::default();
        let dev = Policy { allow_loopback: true };
        assert!(parse("https://hooks.example.com/in", strict).is_ok());
        assert_eq!(parse("http://hooks.example.com/in", strict), Err(Refused::NotHttps));
        assert_eq!(parse("http://hooks.example.com/in", dev), Err(Refused::NotHttps), "http only to loopback");
        assert_eq!(parse("ftp://hooks.example.com/", strict), Err(Refused::NotHttps));
        assert_eq!(parse("https://user:pw@hooks.example.com/", strict), Err(Refused::Credentials));
        assert!(matches!(parse("not a url", strict), Err(Refused::Invalid(_))));
        for literal in [
            "https://127.0.0.1/",
            "https://[::1]/",
            "https://169.254.169.254/latest/meta-data/",
            "https://[::ffff:169.254.169.254]/",
            "https://[::ffff:7f00:1]/",
            "https://10.0.0.1/",
            "https://0x7f000001/",
            "https://2130706433/",
            "https://0177.0.0.1/",
        ] {
            assert!(matches!(parse(literal, strict), Err(Refused::Internal { .. })), "{literal} must be refused");
        }
        assert!(parse("http://127.0.0.1:9000/hook", dev).is_ok());
        assert!(parse("http://localhost:9000/hook", dev).is_ok());
        assert!(matches!(parse("https://169.254.169.254/", dev), Err(Refused::Internal { .. })), "loopback only");
    }

    #[tokio::test]
    async fn a_name_resolving_to_loopback_or_metadata_is_refused_and_so_is_a_mixed_answer() {
        let table = Table(HashMap::from([
            ("loopback.example", vec![ip("127.0.0.1")]),
            ("metadata.example", vec![ip("169.254.169.254")]),
            ("mixed.example", vec![ip("93.184.216.34"), ip("10.0.0.7")]),
            ("mapped.example", vec![ip("::ffff:127.0.0.1")]),
            ("public.example", vec![ip("93.184.216.34")]),
        ]));
        let guard = GuardedResolver::new(Policy::default(), Arc::new(table));
        for name in ["loopback.example", "metadata.example", "mixed.example", "mapped.example"] {
            assert!(
                matches!(guard.resolve_checked(name).await, Err(Refused::Internal { .. })),
                "{name} must be refused"
            );
        }
        assert!(matches!(guard.resolve_checked("nowhere.example").await, Err(Refused::Unresolvable { .. })));
        assert_eq!(guard.resolve_checked("public.example").await.unwrap(), vec![ip("93.184.216.34")]);
    }

    #[tokio::test]
    async fn the_client_connects_only_to_checked_addresses() {
        // A name that resolves to 127.0.0.1 (where a server listens): the
        // client using the guard refuses to connect; with loopback allowed,
        // it reaches the server at the address the guard returned.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        tokio::spawn(async move {
            while let Ok((mut s, _)) = listener.accept().await {
                use tokio::io::{AsyncReadExt, AsyncWriteExt};
                let mut head = Vec::new();
                let mut buf = [0u8; 1024];
                while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                    match s.read(&mut buf).await {
                        Ok(0) | Err(_) => break,
                        Ok(n) => head.extend_from_slice(&buf[..n]),
                    }
                }
                let _ = s.write_all(b"HTTP/1.1 204 No Content\r\ncontent-length: 0\r\n\r\n").await;
            }
        });
        let table = || Arc::new(Table(HashMap::from([("rebind.example", vec![ip("127.0.0.1")])])));
        let client = |policy| {
            reqwest::Client::builder()
                .dns_resolver(Arc::new(GuardedResolver::new(policy, table())))
                .no_proxy()
                .build()
                .unwrap()
        };
        let url = format!("http://rebind.example:{port}/");
        let refused = client(Policy::default()).get(&url).send().await.unwrap_err();
        let chain = std::iter::successors(Some(&refused as &dyn std::error::Error), |e| e.source())
            .map(|e| e.to_string())
            .collect::<Vec<_>>()
            .join(": ");
        assert!(chain.contains("not a public address"), "{chain}");
        let allowed = client(Policy { allow_loopback: true }).get(&url).send().await.unwrap();
        assert_eq!(allowed.status(), 204);
    }
}
