//! The `oauth2` crate, set up for our CRMs: a client built from an adapter
//! manifest and the operator's app credentials, token responses that keep
//! their extra fields (Pipedrive's `api_domain`), and an HTTP client that is
//! our reqwest client behind the operator's upstream overrides.

use super::error::OauthError;
use crate::clock::now_secs;
use crate::runtime::manifest::{AuthSpec, ClientAuth, Manifest};
use crate::runtime::outbound::Outbound;
use crate::secret::Secret;
use oauth2::basic::{
    BasicErrorResponse, BasicRevocationErrorResponse, BasicTokenIntrospectionResponse, BasicTokenType,
};
use oauth2::{
    AuthType, AuthUrl, ClientId, ClientSecret, EndpointNotSet, EndpointSet, ExtraTokenFields, HttpRequest,
    HttpResponse, RedirectUrl, RequestTokenError, StandardRevocableToken, StandardTokenResponse, TokenResponse,
    TokenUrl,
};
use serde::{Deserialize, Serialize};
use url::Url;

/// Whatever else a token response carries (Pipedrive's `api_domain`...).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub(super) struct ExtraFields {
    #[serde(flatten)]
    fields: std::collections::BTreeMap<String, serde_json::Value>,
}

impl ExtraTokenFields for ExtraFields {}

pub(super) type TokenResponseWithExtras = StandardTokenResponse<ExtraFields, BasicTokenType>;

/// The oauth2 crate's basic client, but keeping the token response's extra fields.
type UnconfiguredClient = oauth2::Client<
    BasicErrorResponse,
    TokenResponseWithExtras,
    BasicTokenIntrospectionResponse,
    StandardRevocableToken,
    BasicRevocationErrorResponse,
>;

pub(super) type Client = oauth2::Client<
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

/// The OAuth parts of a manifest a login needs besides the client.
pub(super) struct OauthApp {
    pub(super) client: Client,
    pub(super) scopes: Vec<String>,
    pub(super) pkce: bool,
}

/// The operator's app registered with the CRM.
pub(super) struct AppCredentials<'a> {
    pub(super) client_id: &'a str,
    pub(super) client_secret: &'a str,
    pub(super) redirect_uri: String,
}

/// The OAuth client of a manifest; `hostname` fills `{hostname}` in its URLs.
pub(super) fn oauth_app(manifest: &Manifest, app: AppCredentials<'_>, hostname: &str) -> Result<OauthApp, OauthError> {
    let AuthSpec::Oauth { authorize_url, token_url, scopes, pkce, client_auth, .. } = &manifest.auth else {
        return Err(OauthError::UnsupportedAuth { platform: manifest.platform.clone() });
    };
    let bad = |what: &'static str, e: &dyn std::error::Error| OauthError::BadManifestUrl {
        platform: manifest.platform.clone(),
        what,
        error: e.to_string(),
    };
    let fill = |url: &str| url.replace("{hostname}", hostname);
    let client = UnconfiguredClient::new(ClientId::new(app.client_id.to_owned()))
        .set_client_secret(ClientSecret::new(app.client_secret.to_owned()))
        .set_auth_uri(AuthUrl::new(fill(authorize_url)).map_err(|e| bad("authorize_url", &e))?)
        .set_token_uri(TokenUrl::new(fill(token_url)).map_err(|e| bad("token_url", &e))?)
        .set_redirect_uri(RedirectUrl::new(app.redirect_uri).map_err(|e| bad("redirect URI", &e))?)
        .set_auth_type(match client_auth {
            ClientAuth::Basic => AuthType::BasicAuth,
            ClientAuth::Body => AuthType::RequestBody,
        });
    Ok(OauthApp { client, scopes: scopes.clone(), pkce: *pkce })
}

/// Tokens from the CRM's token endpoint.
#[derive(Debug)]
pub(crate) struct Tokens {
    pub(crate) access: Secret,
    pub(crate) refresh: Option<Secret>,
    pub(crate) expires_at: Option<i64>,
    /// The connection's host, where the manifest's `hostname_from_token`
    /// names a field of the token response that carries it.
    pub(crate) hostname: Option<String>,
}

impl Tokens {
    /// An API key as a connection's only token.
    pub(crate) fn api_key(key: Secret) -> Tokens {
        Tokens { access: key, refresh: None, expires_at: None, hostname: None }
    }

    pub(super) fn of(r: &TokenResponseWithExtras, manifest: &Manifest) -> Tokens {
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
}

#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub(super) struct HttpError(String);

/// The oauth2 crate's HTTP client: our reqwest client, through the
/// operator's upstream overrides. (A named type with a boxed `Send` future: a
/// closure here makes the refresh future not `Send` for every lifetime.)
pub(super) struct TokenHttp<'a> {
    pub(super) outbound: &'a Outbound,
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
            let mut out = HttpResponse::new(Vec::new());
            *out.status_mut() = resp.status();
            *out.headers_mut() = resp.headers().clone();
            *out.body_mut() = resp.bytes().await.map_err(|e| HttpError(e.to_string()))?.to_vec();
            Ok(out)
        })
    }
}

pub(super) fn describe_server(r: &BasicErrorResponse) -> String {
    match r.error_description() {
        Some(d) => format!("{}: {d}", r.error()),
        None => r.error().to_string(),
    }
}

/// A token-endpoint failure in words, without any token.
pub(super) fn describe<E: std::error::Error>(e: &RequestTokenError<E, BasicErrorResponse>) -> String {
    match e {
        RequestTokenError::ServerResponse(r) => describe_server(r),
        RequestTokenError::Request(e) => format!("cannot reach the token endpoint: {e}"),
        RequestTokenError::Parse(e, _) => format!("unexpected token response: {e}"),
        RequestTokenError::Other(m) => m.clone(),
    }
}
