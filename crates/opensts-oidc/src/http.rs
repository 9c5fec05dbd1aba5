//! The real [`JwksFetcher`]: OIDC discovery and JWKS over HTTPS with reqwest + rustls.
//!
//! - Only `https://` URLs: the configured provider URL, its
//!   `/.well-known/openid-configuration`, and the `jwks_uri` named there. Nothing from a
//!   token is ever fetched. Redirects: at most [`MAX_REDIRECTS`], HTTPS only.
//! - Trust: the system roots plus an optional operator CA bundle (PEM; the server's
//!   `OPENSTS_CA_FILE` / `--ca-file`), or the bundle alone
//!   ([`HttpFetcherConfig::use_system_roots`] = false). Chain and host name are always
//!   validated (WebPKI); thumbprints never replace that.
//! - Thumbprints (IAM `ThumbprintList`): AWS defines a thumbprint as the SHA-1 of the DER of
//!   the last certificate `openssl s_client -showcerts` prints for the **JWKS host**, i.e. the
//!   top certificate of the chain that host presents. Here, when a provider has thumbprints,
//!   the TLS connection to the `jwks_uri` host succeeds only if the SHA-1 over the DER of *at
//!   least one certificate the server presented* (end-entity or any intermediate it sent, so
//!   including the top one AWS means) equals one of them, compared as 20 raw bytes (hex
//!   case-insensitive). Trust anchors the server did not send are not compared. The
//!   discovery document is fetched without pinning, as AWS pins only the JWKS host.
//! - Optional SSRF guard ([`HttpFetcherConfig::deny_private_networks`], off by default since
//!   self-hosted IdPs usually live on private networks): IdP hosts that are, or resolve only
//!   to, loopback / private / link-local (incl. cloud metadata) / CGNAT / reserved addresses
//!   are refused, also after redirects.
//! - Limits: [`CONNECT_TIMEOUT`], [`REQUEST_TIMEOUT`] (whole request incl. body), response
//!   bodies at most [`MAX_DISCOVERY_BYTES`] / [`crate::MAX_JWKS_BYTES`].
//! - Errors: cannot connect, timeout, TLS failure, HTTP 5xx/408/429 →
//!   [`OidcError::IdpCommunication`]; other HTTP statuses, bad JSON, no / non-HTTPS
//!   `jwks_uri`, oversized bodies, no usable key → [`OidcError::KeyRetrieval`]; pin mismatch
//!   → [`OidcError::ThumbprintMismatch`].

use std::collections::HashMap;
use std::error::Error as StdError;
use std::fmt;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use reqwest::Url;
use reqwest::header::{ACCEPT, CACHE_CONTROL, DATE, EXPIRES, HeaderMap};
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::{CertificateError, DigitallySignedStruct, OtherError, SignatureScheme};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, ServerName, UnixTime};
use serde_json::Value;

use crate::cache::{FetchedJwks, JwksFetcher};
use crate::error::OidcError;
use crate::jwks::{Jwks, MAX_JWKS_BYTES};
use crate::verify::ProviderConfig;

/// TCP + TLS connect timeout.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// Timeout for one whole HTTP request, body included.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
/// Largest accepted discovery document.
pub const MAX_DISCOVERY_BYTES: usize = 64 * 1024;
/// Most redirects followed per request.
pub const MAX_REDIRECTS: usize = 3;
/// At most this many distinct thumbprint sets get their own HTTP client (connection pool).
const MAX_CLIENTS: usize = 256;

const THUMBPRINT_MARKER: &str =
    "opensts: no presented certificate matches the configured thumbprints";
const PRIVATE_DESTINATION_MARKER: &str = "opensts: IdP host is not on a public network";

/// Configuration of [`HttpFetcher`].
#[derive(Clone)]
pub struct HttpFetcherConfig {
    /// Extra trusted CA certificates (PEM bundle), e.g. the operator's private CA.
    pub ca_bundle_pem: Option<Vec<u8>>,
    /// Trust the system's root store too (default true).
    pub use_system_roots: bool,
    /// TCP + TLS connect timeout.
    pub connect_timeout: Duration,
    /// Whole-request timeout.
    pub request_timeout: Duration,
    /// Refuse IdP hosts on non-public networks (see the module docs). Default false.
    pub deny_private_networks: bool,
}

impl Default for HttpFetcherConfig {
    fn default() -> Self {
        HttpFetcherConfig {
            ca_bundle_pem: None,
            use_system_roots: true,
            connect_timeout: CONNECT_TIMEOUT,
            request_timeout: REQUEST_TIMEOUT,
            deny_private_networks: false,
        }
    }
}

impl fmt::Debug for HttpFetcherConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HttpFetcherConfig")
            .field("ca_bundle_pem", &self.ca_bundle_pem.as_ref().map(Vec::len))
            .field("use_system_roots", &self.use_system_roots)
            .field("connect_timeout", &self.connect_timeout)
            .field("request_timeout", &self.request_timeout)
            .field("deny_private_networks", &self.deny_private_networks)
            .finish()
    }
}

/// Fetches discovery + JWKS over HTTPS. Build once and share (it keeps connection pools).
pub struct HttpFetcher {
    config: HttpFetcherConfig,
    provider: Arc<CryptoProvider>,
    /// The chain verifier, or why there is none (e.g. no system roots and no bundle): then
    /// every fetch fails with `IdpCommunication` instead of the server failing to start.
    base_verifier: Result<Arc<dyn ServerCertVerifier>, String>,
    clients: Mutex<HashMap<Vec<[u8; 20]>, reqwest::Client>>,
}

impl fmt::Debug for HttpFetcher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HttpFetcher")
            .field("config", &self.config)
            .field("trust", &self.base_verifier.as_ref().map(|_| "ok"))
            .finish_non_exhaustive()
    }
}

impl HttpFetcher {
    /// Builds a fetcher. Fails (`OidcError::Config`) only for an unusable CA bundle.
    pub fn new(config: HttpFetcherConfig) -> Result<Self, OidcError> {
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let extra = match &config.ca_bundle_pem {
            Some(pem) => parse_ca_bundle(pem)?,
            None => Vec::new(),
        };
        let base_verifier = build_verifier(&extra, config.use_system_roots, provider.clone());
        if let Err(e) = &base_verifier {
            tracing::warn!(error = %e, "no TLS trust anchors for OIDC key fetching");
        }
        Ok(HttpFetcher {
            config,
            provider,
            base_verifier,
            clients: Mutex::new(HashMap::new()),
        })
    }

    /// A fetcher with system roots plus the PEM bundle at `ca_file`, if given.
    pub fn from_ca_file(ca_file: Option<&Path>) -> Result<Self, OidcError> {
        let ca_bundle_pem = match ca_file {
            Some(p) => Some(std::fs::read(p).map_err(|e| {
                OidcError::Config(format!("cannot read CA bundle {}: {e}", p.display()))
            })?),
            None => None,
        };
        Self::new(HttpFetcherConfig {
            ca_bundle_pem,
            ..HttpFetcherConfig::default()
        })
    }

    fn client(&self, pins: &[[u8; 20]]) -> Result<reqwest::Client, OidcError> {
        let key = pins.to_vec();
        let mut clients = self.clients.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(c) = clients.get(&key) {
            return Ok(c.clone());
        }
        let base = self
            .base_verifier
            .as_ref()
            .map_err(|e| OidcError::IdpCommunication(format!("no TLS trust anchors: {e}")))?
            .clone();
        let verifier = Arc::new(PinningVerifier {
            inner: base,
            pins: key.clone(),
        });
        let tls = rustls::ClientConfig::builder_with_provider(self.provider.clone())
            .with_safe_default_protocol_versions()
            .map_err(|e| OidcError::Config(format!("TLS configuration: {e}")))?
            .dangerous()
            .with_custom_certificate_verifier(verifier)
            .with_no_client_auth();
        let deny_private = self.config.deny_private_networks;
        let redirect = reqwest::redirect::Policy::custom(move |attempt| {
            if attempt.previous().len() >= MAX_REDIRECTS {
                attempt.error("too many redirects")
            } else if attempt.url().scheme() != "https" {
                attempt.error("redirect to a non-HTTPS URL")
            } else if deny_private && !host_is_allowed(attempt.url()) {
                attempt.error(PRIVATE_DESTINATION_MARKER)
            } else {
                attempt.follow()
            }
        });
        let mut builder = reqwest::Client::builder();
        if deny_private {
            builder = builder.dns_resolver(Arc::new(PublicOnlyResolver));
        }
        let client = builder
            .tls_backend_preconfigured(tls)
            .https_only(true)
            .redirect(redirect)
            .connect_timeout(self.config.connect_timeout)
            .timeout(self.config.request_timeout)
            .user_agent(concat!("opensts-oidc/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| OidcError::Config(format!("HTTP client: {e}")))?;
        if clients.len() >= MAX_CLIENTS {
            clients.clear();
        }
        clients.insert(key, client.clone());
        Ok(client)
    }

    async fn get(
        &self,
        client: &reqwest::Client,
        url: &Url,
        max_bytes: usize,
    ) -> Result<(Vec<u8>, HeaderMap), OidcError> {
        let mut resp = client
            .get(url.clone())
            .header(ACCEPT, "application/json")
            .send()
            .await
            .map_err(|e| classify(&e, url))?;
        let status = resp.status();
        if status != reqwest::StatusCode::OK {
            let detail = format!("GET {url}: HTTP {status}");
            return Err(
                if status.is_server_error()
                    || status == reqwest::StatusCode::REQUEST_TIMEOUT
                    || status == reqwest::StatusCode::TOO_MANY_REQUESTS
                {
                    OidcError::IdpCommunication(detail)
                } else {
                    OidcError::KeyRetrieval(detail)
                },
            );
        }
        if resp.content_length().is_some_and(|l| l > max_bytes as u64) {
            return Err(OidcError::KeyRetrieval(format!(
                "GET {url}: body larger than {max_bytes} bytes"
            )));
        }
        let headers = resp.headers().clone();
        let mut body = Vec::new();
        while let Some(chunk) = resp.chunk().await.map_err(|e| classify(&e, url))? {
            if body.len() + chunk.len() > max_bytes {
                return Err(OidcError::KeyRetrieval(format!(
                    "GET {url}: body larger than {max_bytes} bytes"
                )));
            }
            body.extend_from_slice(&chunk);
        }
        Ok((body, headers))
    }
}

#[async_trait]
impl JwksFetcher for HttpFetcher {
    async fn fetch(&self, provider: &ProviderConfig) -> Result<FetchedJwks, OidcError> {
        let pins = parse_thumbprints(&provider.thumbprints)?;
        let issuer = self.checked_url(&provider.url, "provider URL")?;
        let discovery = self.checked_url(
            &format!(
                "{}/.well-known/openid-configuration",
                issuer.as_str().trim_end_matches('/')
            ),
            "discovery URL",
        )?;
        let (body, _) = self
            .get(&self.client(&[])?, &discovery, MAX_DISCOVERY_BYTES)
            .await?;
        let doc: Value = serde_json::from_slice(&body).map_err(|_| {
            OidcError::KeyRetrieval(format!("{discovery}: discovery document is not JSON"))
        })?;
        let jwks_uri = doc
            .get("jwks_uri")
            .and_then(Value::as_str)
            .ok_or_else(|| OidcError::KeyRetrieval(format!("{discovery}: no jwks_uri")))?;
        let jwks_url = self.checked_url(jwks_uri, "jwks_uri")?;
        let (body, headers) = self
            .get(&self.client(&pins)?, &jwks_url, MAX_JWKS_BYTES)
            .await?;
        let jwks = Jwks::from_json(&body)?;
        if jwks.is_empty() {
            return Err(OidcError::KeyRetrieval(format!(
                "{jwks_url}: no usable signature keys"
            )));
        }
        let header = |name| headers.get(name).and_then(|v| v.to_str().ok());
        let now = time::OffsetDateTime::now_utc().unix_timestamp();
        let max_age = cache_lifetime(header(CACHE_CONTROL), header(EXPIRES), header(DATE), now);
        Ok(FetchedJwks { jwks, max_age })
    }
}

impl HttpFetcher {
    fn checked_url(&self, s: &str, what: &str) -> Result<Url, OidcError> {
        let url = https_url(s, what)?;
        if self.config.deny_private_networks && !host_is_allowed(&url) {
            return Err(OidcError::KeyRetrieval(format!(
                "{what} host is not on a public network: {url}"
            )));
        }
        Ok(url)
    }
}

/// False for an IP-literal host that is not public (names are checked when resolved).
fn host_is_allowed(url: &Url) -> bool {
    let Some(host) = url.host_str() else {
        return false;
    };
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    match bare.parse::<std::net::IpAddr>() {
        Ok(ip) => is_public_ip(ip),
        Err(_) => true,
    }
}

/// True for globally routable unicast addresses.
pub fn is_public_ip(ip: std::net::IpAddr) -> bool {
    use std::net::IpAddr;
    match ip {
        IpAddr::V4(v4) => {
            let o = v4.octets();
            !(v4.is_private()
                || v4.is_loopback()
                || v4.is_link_local()
                || v4.is_unspecified()
                || v4.is_broadcast()
                || v4.is_documentation()
                || v4.is_multicast()
                || o[0] == 0
                || (o[0] == 100 && (o[1] & 0xC0) == 64) // 100.64.0.0/10 shared (CGNAT)
                || (o[0] == 192 && o[1] == 0 && o[2] == 0) // 192.0.0.0/24 IETF
                || (o[0] == 198 && (o[1] & 0xFE) == 18) // 198.18.0.0/15 benchmarking
                || o[0] >= 240) // reserved
        }
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return is_public_ip(IpAddr::V4(v4));
            }
            let s = v6.segments();
            !(v6.is_loopback()
                || v6.is_unspecified()
                || v6.is_multicast()
                || v6.is_unique_local()
                || v6.is_unicast_link_local()
                || (s[0] == 0x2001 && s[1] == 0x0db8) // documentation
                || (s[0] == 0x0064 && s[1] == 0xff9b)) // NAT64 (embeds IPv4)
        }
    }
}

/// A resolver that drops non-public addresses and fails when none is left.
struct PublicOnlyResolver;

#[derive(Debug)]
struct PrivateDestinationError;

impl fmt::Display for PrivateDestinationError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(PRIVATE_DESTINATION_MARKER)
    }
}

impl StdError for PrivateDestinationError {}

impl reqwest::dns::Resolve for PublicOnlyResolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let host = name.as_str().to_string();
        Box::pin(async move {
            let addrs = tokio::net::lookup_host((host.as_str(), 0)).await?;
            let allowed: Vec<std::net::SocketAddr> =
                addrs.filter(|a| is_public_ip(a.ip())).collect();
            if allowed.is_empty() {
                return Err(Box::new(PrivateDestinationError) as Box<dyn StdError + Send + Sync>);
            }
            Ok(Box::new(allowed.into_iter()) as reqwest::dns::Addrs)
        })
    }
}

fn https_url(s: &str, what: &str) -> Result<Url, OidcError> {
    let url =
        Url::parse(s).map_err(|_| OidcError::KeyRetrieval(format!("{what} is not a valid URL")))?;
    if url.scheme() != "https" {
        return Err(OidcError::KeyRetrieval(format!(
            "{what} is not https: {url}"
        )));
    }
    if !url.username().is_empty() || url.password().is_some() || url.host().is_none() {
        return Err(OidcError::KeyRetrieval(format!(
            "{what} must have a host and no user info"
        )));
    }
    Ok(url)
}

/// Parses IAM thumbprints (40 hex characters each, any case; `:` separators tolerated).
pub fn parse_thumbprints(list: &[String]) -> Result<Vec<[u8; 20]>, OidcError> {
    let mut out = Vec::with_capacity(list.len());
    for t in list {
        let clean: String = t.trim().chars().filter(|c| *c != ':').collect();
        let mut b = [0u8; 20];
        hex::decode_to_slice(&clean, &mut b).map_err(|_| {
            OidcError::KeyRetrieval("the provider has an invalid thumbprint configured".into())
        })?;
        out.push(b);
    }
    out.sort();
    out.dedup();
    Ok(out)
}

/// SHA-1 of a certificate's DER, as lowercase hex: the form of an IAM thumbprint.
pub fn certificate_thumbprint(der: &[u8]) -> String {
    hex::encode(sha1(der))
}

fn sha1(der: &[u8]) -> [u8; 20] {
    let d = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA1_FOR_LEGACY_USE_ONLY, der);
    let mut out = [0u8; 20];
    out.copy_from_slice(d.as_ref());
    out
}

fn parse_ca_bundle(pem: &[u8]) -> Result<Vec<CertificateDer<'static>>, OidcError> {
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(pem)
        .collect::<Result<_, _>>()
        .map_err(|e| OidcError::Config(format!("CA bundle is not valid PEM: {e}")))?;
    if certs.is_empty() {
        return Err(OidcError::Config("CA bundle has no certificates".into()));
    }
    Ok(certs)
}

fn build_verifier(
    extra: &[CertificateDer<'static>],
    use_system_roots: bool,
    provider: Arc<CryptoProvider>,
) -> Result<Arc<dyn ServerCertVerifier>, String> {
    if use_system_roots {
        let v = rustls_platform_verifier::Verifier::new_with_extra_roots(
            extra.iter().cloned(),
            provider,
        )
        .map_err(|e| e.to_string())?;
        Ok(Arc::new(v))
    } else {
        let mut roots = rustls::RootCertStore::empty();
        for c in extra {
            roots.add(c.clone()).map_err(|e| e.to_string())?;
        }
        let v =
            rustls::client::WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider)
                .build()
                .map_err(|e| e.to_string())?;
        Ok(v)
    }
}

/// Chain validation by `inner`, then (when pins are set) the thumbprint check.
#[derive(Debug)]
struct PinningVerifier {
    inner: Arc<dyn ServerCertVerifier>,
    pins: Vec<[u8; 20]>,
}

#[derive(Debug)]
struct ThumbprintMismatchError;

impl fmt::Display for ThumbprintMismatchError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(THUMBPRINT_MARKER)
    }
}

impl StdError for ThumbprintMismatchError {}

impl ServerCertVerifier for PinningVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let verified = self.inner.verify_server_cert(
            end_entity,
            intermediates,
            server_name,
            ocsp_response,
            now,
        )?;
        if self.pins.is_empty() {
            return Ok(verified);
        }
        let matched = std::iter::once(end_entity)
            .chain(intermediates.iter())
            .any(|c| self.pins.contains(&sha1(c.as_ref())));
        if matched {
            Ok(verified)
        } else {
            Err(rustls::Error::InvalidCertificate(CertificateError::Other(
                OtherError(Arc::new(ThumbprintMismatchError)),
            )))
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.inner.supported_verify_schemes()
    }
}

/// Maps a transport error to the crate's errors (details for logs only).
fn classify(e: &reqwest::Error, url: &Url) -> OidcError {
    let chain = error_chain(e);
    if chain.contains(THUMBPRINT_MARKER) || has_thumbprint_error(e) {
        return OidcError::ThumbprintMismatch;
    }
    let detail = format!("GET {url}: {chain}");
    if e.is_redirect() || e.is_builder() || chain.contains(PRIVATE_DESTINATION_MARKER) {
        OidcError::KeyRetrieval(detail)
    } else {
        OidcError::IdpCommunication(detail)
    }
}

fn error_chain(e: &(dyn StdError + 'static)) -> String {
    let mut parts = Vec::new();
    let mut cur: Option<&(dyn StdError + 'static)> = Some(e);
    while let Some(err) = cur {
        if parts.len() >= 12 {
            break;
        }
        parts.push(err.to_string());
        cur = next_error(err);
    }
    parts.join(": ")
}

/// `source()`, except that an `io::Error` wrapping a custom error yields that error (its own
/// `source()` skips it).
fn next_error<'a>(err: &'a (dyn StdError + 'static)) -> Option<&'a (dyn StdError + 'static)> {
    if let Some(io) = err.downcast_ref::<std::io::Error>()
        && let Some(inner) = io.get_ref()
    {
        return Some(inner as &(dyn StdError + 'static));
    }
    err.source()
}

fn has_thumbprint_error(e: &(dyn StdError + 'static)) -> bool {
    let mut cur: Option<&(dyn StdError + 'static)> = Some(e);
    let mut depth = 0;
    while let Some(err) = cur {
        depth += 1;
        if depth > 16 {
            break;
        }
        if err.downcast_ref::<ThumbprintMismatchError>().is_some() {
            return true;
        }
        if let Some(rustls::Error::InvalidCertificate(CertificateError::Other(o))) =
            err.downcast_ref::<rustls::Error>()
        {
            let inner: &(dyn StdError + 'static) = o.0.as_ref();
            if inner.downcast_ref::<ThumbprintMismatchError>().is_some() {
                return true;
            }
        }
        cur = next_error(err);
    }
    false
}

/// Freshness lifetime (seconds) from a response's caching headers: `Cache-Control`
/// `no-store`/`no-cache` → 0, else `max-age`; otherwise `Expires` minus `Date` (or minus
/// `now` without a usable `Date`); an unparsable `Expires` means already stale (RFC 9111).
/// `None` when there are no caching headers.
pub fn cache_lifetime(
    cache_control: Option<&str>,
    expires: Option<&str>,
    date: Option<&str>,
    now: i64,
) -> Option<i64> {
    if let Some(cc) = cache_control {
        let mut max_age = None;
        for directive in cc.split(',') {
            let d = directive.trim().to_ascii_lowercase();
            if d == "no-store" || d == "no-cache" {
                return Some(0);
            }
            if let Some(v) = d.strip_prefix("max-age=") {
                let v = v.trim_matches('"');
                max_age = Some(if !v.is_empty() && v.bytes().all(|b| b.is_ascii_digit()) {
                    // RFC 9111 §1.2.2: an overflowing delta-seconds means "very long".
                    v.parse::<i64>().unwrap_or(i64::MAX)
                } else {
                    0
                });
            }
        }
        if max_age.is_some() {
            return max_age;
        }
    }
    let expires = expires?;
    let Some(exp) = parse_http_date(expires) else {
        return Some(0);
    };
    let base = date.and_then(parse_http_date).unwrap_or(now);
    Some(exp.saturating_sub(base))
}

/// Parses an IMF-fixdate (`Sun, 06 Nov 1994 08:49:37 GMT`) to Unix seconds.
pub fn parse_http_date(s: &str) -> Option<i64> {
    let fmt = time::macros::format_description!(
        "[weekday repr:short], [day] [month repr:short] [year] [hour]:[minute]:[second] GMT"
    );
    time::PrimitiveDateTime::parse(s.trim(), &fmt)
        .ok()
        .map(|t| t.assume_utc().unix_timestamp())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cache_headers() {
        let now = 1_000_000;
        assert_eq!(cache_lifetime(None, None, None, now), None);
        assert_eq!(
            cache_lifetime(Some("public, max-age=600"), None, None, now),
            Some(600)
        );
        assert_eq!(
            cache_lifetime(Some("max-age=\"90\""), None, None, now),
            Some(90)
        );
        assert_eq!(
            cache_lifetime(Some("max-age=600, no-cache"), None, None, now),
            Some(0)
        );
        assert_eq!(cache_lifetime(Some("no-store"), None, None, now), Some(0));
        assert_eq!(
            cache_lifetime(Some("max-age=99999999999999999999"), None, None, now),
            Some(i64::MAX)
        );
        assert_eq!(cache_lifetime(Some("max-age=-5"), None, None, now), Some(0));
        assert_eq!(
            cache_lifetime(
                Some("public"),
                Some("Sun, 06 Nov 1994 09:49:37 GMT"),
                Some("Sun, 06 Nov 1994 08:49:37 GMT"),
                now
            ),
            Some(3600)
        );
        assert_eq!(cache_lifetime(None, Some("0"), None, now), Some(0));
        let exp = parse_http_date("Sun, 06 Nov 1994 08:49:37 GMT");
        assert_eq!(exp, Some(784_111_777));
        assert_eq!(
            cache_lifetime(
                None,
                Some("Sun, 06 Nov 1994 08:49:37 GMT"),
                None,
                784_111_700
            ),
            Some(77)
        );
    }

    #[test]
    fn thumbprints() {
        let ok = parse_thumbprints(&[
            "990F4193972F2BECF12DDEDA5237F9C952F20D9E".into(),
            "99:0f:41:93:97:2f:2b:ec:f1:2d:de:da:52:37:f9:c9:52:f2:0d:9e".into(),
        ]);
        assert_eq!(ok.map(|v| v.len()), Ok(1));
        assert!(parse_thumbprints(&["abc".into()]).is_err());
        assert!(parse_thumbprints(&["zz".repeat(20)]).is_err());
    }

    #[test]
    fn ca_bundle_errors() {
        assert!(matches!(
            HttpFetcher::new(HttpFetcherConfig {
                ca_bundle_pem: Some(b"not pem".to_vec()),
                ..HttpFetcherConfig::default()
            }),
            Err(OidcError::Config(_))
        ));
        assert!(matches!(
            HttpFetcher::from_ca_file(Some(Path::new("/nonexistent/ca.pem"))),
            Err(OidcError::Config(_))
        ));
    }

    #[test]
    fn public_ips() {
        let public = ["8.8.8.8", "1.1.1.1", "2606:4700:4700::1111", "140.82.112.3"];
        let private = [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "255.255.255.255",
            "224.0.0.1",
            "198.18.0.1",
            "::1",
            "::",
            "fc00::1",
            "fd00:ec2::254",
            "fe80::1",
            "::ffff:127.0.0.1",
            "::ffff:10.0.0.1",
            "64:ff9b::a00:1",
            "2001:db8::1",
        ];
        for ip in public {
            assert!(
                is_public_ip(ip.parse().unwrap_or(std::net::IpAddr::from([0, 0, 0, 0]))),
                "{ip}"
            );
        }
        for ip in private {
            assert!(
                !is_public_ip(ip.parse().unwrap_or(std::net::IpAddr::from([8, 8, 8, 8]))),
                "{ip}"
            );
        }
    }

    #[test]
    fn only_https_urls() {
        assert!(https_url("http://idp.example.com", "x").is_err());
        assert!(https_url("https://user:pw@idp.example.com", "x").is_err());
        assert!(https_url("file:///etc/passwd", "x").is_err());
        assert!(https_url("https://idp.example.com/path", "x").is_ok());
    }
}
