//! Client of the OpenSTS authorization API (`POST /opensts/authorize`, see
//! `docs/authorization-api.md` in the OpenSTS repository).
//!
//! A resource server — an S3-compatible store, an internal service — whose clients sign their
//! requests with OpenSTS credentials (SigV4, like any AWS SDK does) hands each request to OpenSTS
//! together with the action and resource it is about to serve, and gets back who signed it and
//! whether that principal may do it:
//!
//! ```no_run
//! # async fn demo(method: http::Method, uri: http::Uri, headers: http::HeaderMap, body: Vec<u8>)
//! # -> Result<(), opensts_authz_client::Error> {
//! use opensts_authz_client::{AuthorizeRequest, AuthzClient, Credentials, SignedRequest};
//!
//! let client = AuthzClient::new(
//!     "http://127.0.0.1:8080",
//!     Credentials::new("AKIA…", "secret", None), // the resource server's own credentials
//! )?;
//! let req = AuthorizeRequest::new(
//!     SignedRequest::from_parts(&method, &uri, &headers, &body),
//!     "s3",                          // the service the client signed for
//!     "s3:GetObject",
//!     "arn:aws:s3:::bucket/key",
//! )
//! .context("s3:prefix", ["docs/"]);
//! let d = client.authorize(&req).await?;
//! if d.allowed {
//!     // serve it; d.principal names the caller
//! } else if let Some(e) = &d.error {
//!     // the client's signature or credentials are bad: answer e.code (ExpiredToken, …)
//! } else {
//!     // denied by policy: answer AccessDenied with d.encoded_message
//! }
//! # Ok(()) }
//! ```
//!
//! The call to OpenSTS is signed with the resource server's credentials for the service
//! `opensts`; they need `opensts:AuthorizeRequest`.

use std::collections::BTreeMap;
use std::fmt;
use std::net::IpAddr;
use std::sync::Arc;

use base64::Engine as _;
use serde::{Deserialize, Serialize};

/// Path of the API on the OpenSTS listener.
pub const AUTHORIZE_PATH: &str = "/opensts/authorize";
/// Credential-scope service of the call to OpenSTS.
pub const SIGNING_SERVICE: &str = "opensts";

/// The resource server's own OpenSTS credentials.
#[derive(Clone)]
pub struct Credentials {
    pub access_key_id: String,
    pub secret_access_key: String,
    pub session_token: Option<String>,
}

impl Credentials {
    pub fn new(
        access_key_id: impl Into<String>,
        secret_access_key: impl Into<String>,
        session_token: Option<String>,
    ) -> Self {
        Credentials {
            access_key_id: access_key_id.into(),
            secret_access_key: secret_access_key.into(),
            session_token,
        }
    }
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credentials")
            .field("access_key_id", &self.access_key_id)
            .field("secret_access_key", &"<redacted>")
            .field(
                "session_token",
                &self.session_token.as_ref().map(|_| "<redacted>"),
            )
            .finish()
    }
}

/// What OpenSTS needs to know about the client's body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Body {
    /// Hex SHA-256 of the body as received (the body stays with the resource server).
    Sha256(String),
    /// The body itself (sent base64-encoded; fine for small bodies).
    Bytes(Vec<u8>),
    /// The resource server did not hash the body: OpenSTS takes the client's
    /// `X-Amz-Content-Sha256` as is, and the resource server must check the body against it
    /// (S3's `UNSIGNED-PAYLOAD` / streaming model).
    Unverified,
}

impl Body {
    /// [`Body::Sha256`] of `bytes`.
    pub fn hash_of(bytes: &[u8]) -> Body {
        let d = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, bytes);
        Body::Sha256(hex::encode(d.as_ref()))
    }
}

/// The client's request exactly as the resource server received it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedRequest {
    pub method: String,
    /// Raw path (still percent-encoded), e.g. `/objects/a%20b`.
    pub path: String,
    /// Raw query string without `?` (empty when none).
    pub query: String,
    /// Headers in order of arrival; repeated names are repeated.
    pub headers: Vec<(String, String)>,
    pub body: Body,
}

impl SignedRequest {
    /// From the parts of an incoming `http` request and its body (hashed here). An HTTP/2
    /// request carries its host in the URI authority; it is added as `host` (which SigV4
    /// signs). Header values that are not visible ASCII/UTF-8 are passed lossily.
    pub fn from_parts(
        method: &http::Method,
        uri: &http::Uri,
        headers: &http::HeaderMap,
        body: &[u8],
    ) -> SignedRequest {
        let mut out: Vec<(String, String)> = headers
            .iter()
            .map(|(k, v)| {
                (
                    k.as_str().to_string(),
                    String::from_utf8_lossy(v.as_bytes()).into_owned(),
                )
            })
            .collect();
        if !headers.contains_key(http::header::HOST)
            && let Some(a) = uri.authority()
        {
            out.push(("host".to_string(), a.as_str().to_string()));
        }
        SignedRequest {
            method: method.as_str().to_string(),
            path: uri.path().to_string(),
            query: uri.query().unwrap_or("").to_string(),
            headers: out,
            body: Body::hash_of(body),
        }
    }
}

/// One authorization question: the client's request plus what the resource server is about
/// to do for it.
#[derive(Debug, Clone)]
pub struct AuthorizeRequest {
    pub request: SignedRequest,
    /// The credential-scope service the client signed for (`s3`, `example`, …).
    pub service: String,
    /// `vendor:Action`, e.g. `s3:GetObject`.
    pub action: String,
    /// The resource ARN (or `*`).
    pub resource: String,
    /// Extra condition keys (`s3:prefix`, `aws:ResourceTag/…`, …). Keys OpenSTS derives from
    /// the verified request (`aws:PrincipalArn`, `aws:SourceIp`, …) cannot be set.
    pub context: BTreeMap<String, Vec<String>>,
    /// The client's address (`aws:SourceIp`).
    pub source_ip: Option<IpAddr>,
    /// Whether the client used TLS (`aws:SecureTransport`; OpenSTS assumes false).
    pub secure_transport: Option<bool>,
    /// Force S3's canonical URI rules (`Some(true)`) or the default rules (`Some(false)`);
    /// `None`: S3 rules exactly when `service` is `s3`.
    pub s3_uri_rules: Option<bool>,
}

impl AuthorizeRequest {
    pub fn new(
        request: SignedRequest,
        service: impl Into<String>,
        action: impl Into<String>,
        resource: impl Into<String>,
    ) -> Self {
        AuthorizeRequest {
            request,
            service: service.into(),
            action: action.into(),
            resource: resource.into(),
            context: BTreeMap::new(),
            source_ip: None,
            secure_transport: None,
            s3_uri_rules: None,
        }
    }

    /// Add a condition key with its values.
    pub fn context<I, V>(mut self, key: impl Into<String>, values: I) -> Self
    where
        I: IntoIterator<Item = V>,
        V: Into<String>,
    {
        self.context
            .insert(key.into(), values.into_iter().map(Into::into).collect());
        self
    }

    pub fn source_ip(mut self, ip: IpAddr) -> Self {
        self.source_ip = Some(ip);
        self
    }

    pub fn secure_transport(mut self, secure: bool) -> Self {
        self.secure_transport = Some(secure);
        self
    }

    /// The JSON body of `POST /opensts/authorize`.
    pub fn to_json(&self) -> serde_json::Value {
        let r = &self.request;
        let mut request = serde_json::json!({
            "method": r.method,
            "path": r.path,
            "query": r.query,
            "headers": r.headers.iter().map(|(k, v)| [k, v]).collect::<Vec<_>>(),
        });
        match &r.body {
            Body::Sha256(h) => request["body_sha256"] = serde_json::json!(h),
            Body::Unverified => {
                request["body_sha256"] = serde_json::json!(opensts_sigv4::UNSIGNED_PAYLOAD)
            }
            Body::Bytes(b) => {
                request["body_base64"] =
                    serde_json::json!(base64::engine::general_purpose::STANDARD.encode(b))
            }
        }
        let mut v = serde_json::json!({
            "request": request,
            "service": self.service,
            "action": self.action,
            "resource": self.resource,
        });
        if !self.context.is_empty() {
            v["context"] = serde_json::json!(self.context);
        }
        if let Some(ip) = self.source_ip {
            v["source_ip"] = serde_json::json!(ip.to_string());
        }
        if let Some(s) = self.secure_transport {
            v["secure_transport"] = serde_json::json!(s);
        }
        if let Some(s3) = self.s3_uri_rules {
            v["uri_rules"] = serde_json::json!(if s3 { "s3" } else { "default" });
        }
        v
    }
}

/// Who signed the client's request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Principal {
    pub arn: String,
    /// `AIDA…` (user), `AROA…:session` (role session), the account id (root), …
    pub id: String,
    /// `User`, `AssumedRole`, `FederatedUser` or `Account` (root), as GetCallerIdentity says.
    #[serde(rename = "type")]
    pub kind: String,
}

/// Why the client's request was refused before any policy was looked at.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClientError {
    /// `SignatureDoesNotMatch`, `InvalidClientTokenId`, `ExpiredToken`,
    /// `MissingAuthenticationToken`, `IncompleteSignature`.
    pub code: String,
    pub message: String,
}

impl ClientError {
    /// The HTTP status AWS uses for this code (400 for a malformed signature, else 403).
    pub fn http_status(&self) -> u16 {
        if self.code == "IncompleteSignature" {
            400
        } else {
            403
        }
    }
}

/// OpenSTS's answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Decision {
    /// Serve the request only when true.
    pub allowed: bool,
    /// Present whenever the signature verified.
    #[serde(default)]
    pub principal: Option<Principal>,
    /// The client's account.
    #[serde(default)]
    pub account: Option<String>,
    #[serde(default)]
    pub access_key_id: Option<String>,
    /// `long-term` or `session`.
    #[serde(default)]
    pub credential_type: Option<String>,
    /// Session credentials: when they expire (`YYYY-MM-DDTHH:MM:SSZ`).
    #[serde(default)]
    pub session_expiration: Option<String>,
    /// Denied by policy: whether an explicit `Deny` decided it.
    #[serde(default)]
    pub explicit_deny: Option<bool>,
    /// Denied by policy: AWS's AccessDenied text.
    #[serde(default)]
    pub message: Option<String>,
    /// Denied by policy: the decision sealed for the client's account; a principal of that
    /// account with `sts:DecodeAuthorizationMessage` can read it.
    #[serde(default)]
    pub encoded_message: Option<String>,
    /// The client's signature or credentials were refused.
    #[serde(default)]
    pub error: Option<ClientError>,
    #[serde(default)]
    pub request_id: String,
}

impl Decision {
    /// The AWS-style `AccessDenied` message for a policy denial, ending with
    /// `Encoded authorization failure message: …` like OpenSTS's own denials.
    pub fn access_denied_message(&self) -> Option<String> {
        let base = self.message.as_deref()?;
        Some(match &self.encoded_message {
            Some(m) => format!("{base}. Encoded authorization failure message: {m}"),
            None => base.to_string(),
        })
    }
}

/// A failure to get an answer (as opposed to a negative answer, which is a [`Decision`]).
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("invalid OpenSTS endpoint: {0}")]
    Endpoint(String),
    #[error("cannot sign the call to OpenSTS: {0}")]
    Sign(String),
    #[error("cannot reach OpenSTS: {0}")]
    Transport(#[from] reqwest::Error),
    /// OpenSTS refused the resource server's own call (its credentials, its permission
    /// `opensts:AuthorizeRequest`, a malformed question) or failed.
    #[error("OpenSTS answered {status} {code}: {message}")]
    Api {
        status: u16,
        code: String,
        message: String,
        request_id: Option<String>,
    },
    #[error("unexpected answer from OpenSTS: {0}")]
    Decode(String),
}

/// Where the time comes from (Unix seconds); replaceable for tests.
pub type TimeSource = Arc<dyn Fn() -> i64 + Send + Sync>;

fn system_time() -> i64 {
    match std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH) {
        Ok(d) => i64::try_from(d.as_secs()).unwrap_or(i64::MAX),
        Err(_) => 0,
    }
}

/// A client of one OpenSTS endpoint, signing with one set of credentials. Cheap to clone.
#[derive(Clone)]
pub struct AuthzClient {
    http: reqwest::Client,
    url: reqwest::Url,
    host: String,
    path: String,
    credentials: Credentials,
    region: String,
    clock: TimeSource,
}

impl fmt::Debug for AuthzClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AuthzClient")
            .field("url", &self.url.as_str())
            .field("credentials", &self.credentials)
            .field("region", &self.region)
            .finish()
    }
}

impl AuthzClient {
    /// `endpoint` is OpenSTS's base URL (`http://127.0.0.1:8080`, `https://sts.internal`);
    /// the region of the signature is `us-east-1` unless [`AuthzClient::with_region`].
    pub fn new(endpoint: &str, credentials: Credentials) -> Result<Self, Error> {
        let base = reqwest::Url::parse(endpoint).map_err(|e| Error::Endpoint(e.to_string()))?;
        if !matches!(base.scheme(), "http" | "https") {
            return Err(Error::Endpoint(format!(
                "scheme {} is not http or https",
                base.scheme()
            )));
        }
        let host = match (base.host_str(), base.port()) {
            (Some(h), Some(p)) => format!("{h}:{p}"),
            (Some(h), None) => h.to_string(),
            (None, _) => return Err(Error::Endpoint("no host".into())),
        };
        let path = format!("{}{AUTHORIZE_PATH}", base.path().trim_end_matches('/'));
        let mut url = base.clone();
        url.set_path(&path);
        url.set_query(None);
        let http = reqwest::Client::builder()
            .timeout(std::time::Duration::from_secs(10))
            .build()?;
        Ok(AuthzClient {
            http,
            url,
            host,
            path,
            credentials,
            region: "us-east-1".to_string(),
            clock: Arc::new(system_time),
        })
    }

    pub fn with_region(mut self, region: impl Into<String>) -> Self {
        self.region = region.into();
        self
    }

    /// Use this HTTP client (timeouts, proxies, TLS roots).
    pub fn with_http_client(mut self, http: reqwest::Client) -> Self {
        self.http = http;
        self
    }

    /// Sign with this clock instead of the system clock (tests).
    pub fn with_time_source(mut self, clock: TimeSource) -> Self {
        self.clock = clock;
        self
    }

    /// The URL of the API.
    pub fn url(&self) -> &str {
        self.url.as_str()
    }

    /// Ask OpenSTS. `Ok` whenever OpenSTS answered the question — including "the client's
    /// signature is bad" ([`Decision::error`]) and "denied"; `Err` when it could not be asked.
    pub async fn authorize(&self, req: &AuthorizeRequest) -> Result<Decision, Error> {
        let body = serde_json::to_vec(&req.to_json()).map_err(|e| Error::Sign(e.to_string()))?;
        let mut headers = http::HeaderMap::new();
        let host = http::HeaderValue::from_str(&self.host)
            .map_err(|_| Error::Endpoint("host is not a valid header value".into()))?;
        headers.insert(http::header::HOST, host);
        headers.insert(
            http::header::CONTENT_TYPE,
            http::HeaderValue::from_static("application/json"),
        );
        let c = &self.credentials;
        let params = opensts_sigv4::SigningParams {
            access_key_id: &c.access_key_id,
            secret: &c.secret_access_key,
            session_token: c.session_token.as_deref(),
            region: &self.region,
            service: SIGNING_SERVICE,
            time: (self.clock)(),
        };
        opensts_sigv4::sign_request("POST", &self.path, "", &mut headers, &body, &params)
            .map_err(|e| Error::Sign(e.to_string()))?;
        let resp = self
            .http
            .post(self.url.clone())
            .headers(headers)
            .body(body)
            .send()
            .await?;
        let status = resp.status();
        let bytes = resp.bytes().await?;
        if status.is_success() {
            return serde_json::from_slice(&bytes).map_err(|e| Error::Decode(e.to_string()));
        }
        #[derive(Deserialize)]
        struct ErrBody {
            error: ClientError,
            #[serde(rename = "requestId")]
            request_id: Option<String>,
        }
        match serde_json::from_slice::<ErrBody>(&bytes) {
            Ok(e) => Err(Error::Api {
                status: status.as_u16(),
                code: e.error.code,
                message: e.error.message,
                request_id: e.request_id,
            }),
            Err(_) => Err(Error::Api {
                status: status.as_u16(),
                code: String::new(),
                message: String::from_utf8_lossy(&bytes).chars().take(500).collect(),
                request_id: None,
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn request_json() {
        let mut h = http::HeaderMap::new();
        h.insert("x-amz-date", "20240101T000000Z".parse().unwrap());
        h.append("x-multi", "a".parse().unwrap());
        h.append("x-multi", "b".parse().unwrap());
        let uri: http::Uri = "https://svc.example:8443/objects/a%20b?x=1&y"
            .parse()
            .unwrap();
        let r = SignedRequest::from_parts(&http::Method::PUT, &uri, &h, b"hello");
        assert_eq!(r.path, "/objects/a%20b");
        assert_eq!(r.query, "x=1&y");
        assert!(
            r.headers
                .contains(&("host".into(), "svc.example:8443".into()))
        );
        let q = AuthorizeRequest::new(r, "example", "example:PutObject", "arn:aws:example:::x")
            .context("example:tag", ["a", "b"])
            .source_ip("192.0.2.1".parse().unwrap())
            .secure_transport(true);
        let v = q.to_json();
        assert_eq!(v["service"], "example");
        assert_eq!(
            v["request"]["body_sha256"],
            "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824"
        );
        assert_eq!(
            v["request"]["headers"][1],
            serde_json::json!(["x-multi", "a"])
        );
        assert_eq!(
            v["request"]["headers"][2],
            serde_json::json!(["x-multi", "b"])
        );
        assert_eq!(v["context"]["example:tag"], serde_json::json!(["a", "b"]));
        assert_eq!(v["source_ip"], "192.0.2.1");
        assert_eq!(v["secure_transport"], true);
        assert!(v.get("uri_rules").is_none());

        let mut q2 = q.clone();
        q2.request.body = Body::Bytes(b"hi".to_vec());
        q2.s3_uri_rules = Some(true);
        let v = q2.to_json();
        assert_eq!(v["request"]["body_base64"], "aGk=");
        assert!(v["request"].get("body_sha256").is_none());
        assert_eq!(v["uri_rules"], "s3");
        q2.request.body = Body::Unverified;
        assert_eq!(q2.to_json()["request"]["body_sha256"], "UNSIGNED-PAYLOAD");
    }

    #[test]
    fn decision_json() {
        let d: Decision = serde_json::from_str(
            r#"{"allowed":false,"principal":{"arn":"arn:aws:iam::111122223333:user/a","id":"AIDAX","type":"User"},
                "account":"111122223333","accessKeyId":"AKIAX","credentialType":"long-term","explicitDeny":true,
                "message":"User: arn:aws:iam::111122223333:user/a is not authorized","encodedMessage":"abc","requestId":"r"}"#,
        )
        .unwrap();
        assert!(!d.allowed);
        assert_eq!(d.principal.as_ref().unwrap().kind, "User");
        assert_eq!(
            d.access_denied_message().unwrap(),
            "User: arn:aws:iam::111122223333:user/a is not authorized. Encoded authorization failure message: abc"
        );
        let e: Decision = serde_json::from_str(
            r#"{"allowed":false,"error":{"code":"ExpiredToken","message":"m"},"requestId":"r"}"#,
        )
        .unwrap();
        assert_eq!(e.error.as_ref().unwrap().http_status(), 403);
        assert!(e.principal.is_none());
    }

    #[test]
    fn endpoints() {
        let c = || Credentials::new("AKIA", "s", None);
        let a = AuthzClient::new("http://127.0.0.1:8080", c()).unwrap();
        assert_eq!(a.url(), "http://127.0.0.1:8080/opensts/authorize");
        assert_eq!(a.host, "127.0.0.1:8080");
        let b = AuthzClient::new("https://sts.internal/base/", c()).unwrap();
        assert_eq!(b.url(), "https://sts.internal/base/opensts/authorize");
        assert_eq!(b.host, "sts.internal");
        assert_eq!(b.path, "/base/opensts/authorize");
        assert!(AuthzClient::new("ftp://x", c()).is_err());
        assert!(AuthzClient::new("not a url", c()).is_err());
        assert!(!format!("{:?}", c()).contains("\"s\""));
    }
}
