//! The authorization API for resource servers: `POST /opensts/authorize` (see
//! `docs/authorization-api.md`).
//!
//! A resource server (an S3-compatible store, an internal service) receives a request its client
//! signed with OpenSTS credentials. It forwards the parts SigV4 covers — method, raw path, raw
//! query, headers, and the body or its SHA-256 — plus the action, resource and extra condition
//! keys it wants checked. OpenSTS verifies the client's signature (long-term or temporary
//! credentials, expiry), evaluates the client's policies and answers who the client is and
//! whether the action is allowed; a denial carries an encoded authorization message sealed for
//! the client's account.
//!
//! The call itself is an ordinary SigV4-signed request with the resource server's own OpenSTS
//! credentials for the credential-scope service `opensts`, and needs `opensts:AuthorizeRequest`
//! (account roots always may). Failures of that call are 4xx/5xx JSON errors; problems with the
//! client's request (bad signature, unknown or expired credentials) are a 200 answer with
//! `"allowed": false` and an `error`, because the authorizer worked and the client is refused.

use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::extract::{ConnectInfo, Extension, State};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use bytes::Bytes;
use http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode, Uri, header};
use opensts_policy::RequestContext;
use opensts_sigv4 as sigv4;
use serde::{Deserialize, Serialize};

use crate::actions::ActionCtx;
use crate::auth::{self, Caller};
use crate::authz;
use crate::error::{ApiError, ApiResult};
use crate::protocol::Api;
use crate::protocol::xml::timestamp;
use crate::state::AppState;
use crate::throttle::throttled;
use crate::tls::ConnMeta;

/// Where the API is served (main listener).
pub const PATH: &str = "/opensts/authorize";
/// Credential-scope service of the resource server's own signature.
pub const SIGNING_SERVICE: &str = "opensts";
/// The permission a resource server needs.
pub const ACTION: &str = "opensts:AuthorizeRequest";
/// Condition key of `opensts:AuthorizeRequest`: the scope service the client signed for.
pub const KEY_SIGNING_SERVICE: &str = "opensts:SigningService";
/// Condition key of `opensts:AuthorizeRequest`: the action the resource server asks about.
pub const KEY_AUTHORIZED_ACTION: &str = "opensts:AuthorizedAction";
/// Condition key of `opensts:AuthorizeRequest`: the account of the client whose signature
/// verified (absent when it did not).
pub const KEY_CLIENT_ACCOUNT: &str = "opensts:ClientAccount";

const MAX_HEADERS: usize = 200;
const MAX_CONTEXT_KEYS: usize = 100;
const MAX_CONTEXT_VALUES: usize = 100;
const MAX_ACTION_LEN: usize = 256;
const MAX_RESOURCE_LEN: usize = 2048;
const MAX_KEY_LEN: usize = 256;

/// Condition keys OpenSTS derives from the verified client request; a resource server may not
/// set them (compared case-insensitively, by prefix).
const RESERVED_KEY_PREFIXES: &[&str] = &[
    "aws:principal",
    "aws:userid",
    "aws:username",
    "aws:multifactorauth",
    "aws:tokenissuetime",
    "aws:currenttime",
    "aws:epochtime",
    "aws:federatedprovider",
    "aws:sourceidentity",
    "aws:requestedregion",
    "aws:sourceip",
    "aws:securetransport",
    "aws:useragent",
    "aws:viaawsservice",
    "aws:calledvia",
    "aws:assumedroot",
    "opensts:",
];

// ---- wire format -----------------------------------------------------------------------

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct AuthorizeRequest {
    request: ClientRequest,
    /// The credential-scope service the client signed for (`s3`, `example`, …).
    service: String,
    action: String,
    resource: String,
    #[serde(default)]
    context: BTreeMap<String, ContextValue>,
    /// The client's address as the resource server saw it (`aws:SourceIp`).
    #[serde(default)]
    source_ip: Option<String>,
    /// Whether the client used TLS (`aws:SecureTransport`); default false.
    #[serde(default)]
    secure_transport: Option<bool>,
    /// Canonical URI rules: `"s3"` (path as received) or `"default"` (normalized and encoded
    /// again, every other service). Default: `"s3"` when `service` is `s3`.
    #[serde(default)]
    uri_rules: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ClientRequest {
    method: String,
    /// Raw path as received (still percent-encoded).
    path: String,
    /// Raw query string as received, without `?`.
    #[serde(default)]
    query: String,
    /// `[[name, value], …]` in order of arrival (repeated names allowed).
    #[serde(default)]
    headers: Vec<(String, String)>,
    /// Hex SHA-256 of the body received, or `UNSIGNED-PAYLOAD` when the resource server did
    /// not hash the body and checks it against `X-Amz-Content-Sha256` itself.
    #[serde(default)]
    body_sha256: Option<String>,
    /// The body itself (base64). Neither field: the empty body.
    #[serde(default)]
    body_base64: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum ContextValue {
    One(String),
    Many(Vec<String>),
}

#[derive(Debug, Serialize, Default)]
struct Answer {
    allowed: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    principal: Option<PrincipalOut>,
    #[serde(skip_serializing_if = "Option::is_none")]
    account: Option<String>,
    #[serde(rename = "accessKeyId", skip_serializing_if = "Option::is_none")]
    access_key_id: Option<String>,
    /// `long-term` or `session`.
    #[serde(rename = "credentialType", skip_serializing_if = "Option::is_none")]
    credential_type: Option<&'static str>,
    #[serde(rename = "sessionExpiration", skip_serializing_if = "Option::is_none")]
    session_expiration: Option<String>,
    #[serde(rename = "explicitDeny", skip_serializing_if = "Option::is_none")]
    explicit_deny: Option<bool>,
    /// AWS's AccessDenied text (denials).
    #[serde(skip_serializing_if = "Option::is_none")]
    message: Option<String>,
    /// The decision sealed for the client's account (denials); DecodeAuthorizationMessage.
    #[serde(rename = "encodedMessage", skip_serializing_if = "Option::is_none")]
    encoded_message: Option<String>,
    /// The client's request was refused before policy evaluation.
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<ErrorOut>,
    #[serde(rename = "requestId")]
    request_id: String,
}

#[derive(Debug, Serialize)]
struct PrincipalOut {
    arn: String,
    id: String,
    #[serde(rename = "type")]
    kind: &'static str,
}

#[derive(Debug, Serialize)]
struct ErrorOut {
    code: &'static str,
    message: String,
}

#[derive(Serialize)]
struct ErrorBody<'a> {
    error: ErrorOut,
    #[serde(rename = "requestId")]
    request_id: &'a str,
}

// ---- handler ---------------------------------------------------------------------------

/// `POST /opensts/authorize`.
pub async fn handle(
    State(state): State<Arc<AppState>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    conn: Option<Extension<Arc<ConnMeta>>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let started = Instant::now();
    let _inflight = state.metrics.inflight();
    let request_id = uuid::Uuid::new_v4().to_string();
    let conn = conn.map(|Extension(c)| c).unwrap_or_default();
    let result = run(
        &state,
        peer,
        &conn,
        &method,
        &uri,
        &headers,
        body,
        &request_id,
    )
    .await;
    let code = match &result {
        Ok(_) => "OK",
        Err(e) => e.code,
    };
    state
        .metrics
        .observe_request(SIGNING_SERVICE, "AuthorizeRequest", code, started.elapsed());
    let (status, body) = match result {
        Ok(answer) => (
            StatusCode::OK,
            serde_json::to_vec(&answer).unwrap_or_default(),
        ),
        Err(e) => {
            if e.status.is_server_error() {
                tracing::warn!(code = e.code, request_id = %request_id, "authorize call failed");
            } else {
                tracing::debug!(code = e.code, request_id = %request_id, "authorize call refused");
            }
            let body = ErrorBody {
                error: ErrorOut {
                    code: e.code,
                    message: e.message,
                },
                request_id: &request_id,
            };
            (e.status, serde_json::to_vec(&body).unwrap_or_default())
        }
    };
    let mut resp = (status, body).into_response();
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    if let Ok(v) = HeaderValue::from_str(&request_id) {
        h.insert("x-amzn-requestid", v);
    }
    resp
}

#[allow(clippy::too_many_arguments)]
async fn run(
    state: &AppState,
    peer: SocketAddr,
    conn: &ConnMeta,
    method: &Method,
    uri: &Uri,
    headers: &HeaderMap,
    body: Body,
    request_id: &str,
) -> ApiResult<Answer> {
    if !state.throttle.allow_source(peer.ip()) {
        return Err(throttled(&state.metrics, "source"));
    }
    if method != Method::POST {
        return Err(ApiError::new(
            "MethodNotAllowed",
            StatusCode::METHOD_NOT_ALLOWED,
            "Only POST is supported",
        ));
    }
    let ops = &state.config.ops;
    let read = tokio::time::timeout(
        Duration::from_secs(ops.body_read_timeout_secs.max(1)),
        axum::body::to_bytes(body, ops.max_body_bytes),
    )
    .await;
    let body: Bytes = match read {
        Ok(Ok(b)) => b,
        Ok(Err(_)) => return Err(ApiError::payload_too_large(ops.max_body_bytes)),
        Err(_) => {
            return Err(ApiError::new(
                "RequestTimeout",
                StatusCode::REQUEST_TIMEOUT,
                "Your socket connection to the server was not read from or written to within the timeout period.",
            ));
        }
    };

    // 1. The resource server's own call: signed for `opensts`.
    let h2_headers;
    let own_headers = match (headers.contains_key(header::HOST), uri.authority()) {
        (false, Some(a)) => {
            let mut h = headers.clone();
            if let Ok(v) = HeaderValue::from_str(a.as_str()) {
                h.insert(header::HOST, v);
            }
            h2_headers = h;
            &h2_headers
        }
        _ => headers,
    };
    let sreq = sigv4::Request {
        method: method.as_str(),
        path: uri.path(),
        query: uri.query().unwrap_or(""),
        headers: own_headers,
        body: &body,
    };
    let Some(server) = auth::authenticate_for_service(state, &sreq, SIGNING_SERVICE).await? else {
        return Err(ApiError::missing_authentication_token());
    };
    if !state.throttle.allow_account(server.account_id()) {
        return Err(throttled(&state.metrics, "account"));
    }
    let req: AuthorizeRequest = serde_json::from_slice(&body).map_err(|e| {
        ApiError::validation(format!(
            "The request body is not a valid authorize request: {e}"
        ))
    })?;
    let checked = validate(&req)?;

    let now = state.now();
    let server_cx = ActionCtx {
        state,
        api: Api::Sts,
        action: "AuthorizeRequest",
        now,
        source_ip: peer.ip(),
        user_agent: own_headers
            .get(header::USER_AGENT)
            .and_then(|v| v.to_str().ok())
            .unwrap_or(""),
        secure_transport: conn.tls.is_some(),
    };
    // 2. The client's signature (its account is a condition key of the resource server's
    // permission, so it is verified first; nothing about it is answered before step 3).
    let verified = verify_client(state, &req, &checked, now).await;
    if let Err(e) = &verified
        && e.status.is_server_error()
    {
        return Err(e.clone());
    }

    // 3. May the resource server ask?
    let service = req.service.clone();
    let asked = req.action.clone();
    let client_account = verified
        .as_ref()
        .ok()
        .map(|(c, _)| c.account_id().to_string());
    authz::authorize(&server_cx, &server, ACTION, "*", |c| {
        let c = c
            .with_key(KEY_SIGNING_SERVICE, service)
            .with_key(KEY_AUTHORIZED_ACTION, asked);
        match client_account {
            Some(a) => c.with_key(KEY_CLIENT_ACCOUNT, a),
            None => c,
        }
    })
    .await?;

    let mut answer = Answer {
        request_id: request_id.to_string(),
        ..Answer::default()
    };
    let (client, region) = match verified {
        Ok(c) => c,
        Err(e) => {
            tracing::debug!(code = e.code, request_id, service = %req.service, "client request refused");
            answer.error = Some(ErrorOut {
                code: e.code,
                message: e.message,
            });
            return Ok(answer);
        }
    };
    let principal = client.principal();
    answer.principal = Some(PrincipalOut {
        arn: principal.arn(),
        id: principal.user_id(),
        kind: principal.principal_type(),
    });
    answer.account = Some(client.account_id().to_string());
    answer.access_key_id = Some(client.access_key_id().to_string());
    answer.credential_type = Some(if client.session().is_some() {
        "session"
    } else {
        "long-term"
    });
    answer.session_expiration = client.session().map(|s| timestamp(s.exp));

    // 4. The client's policies.
    if authz::root_unrestricted(state, &client) {
        answer.allowed = true;
        return Ok(answer);
    }
    let client_cx = ActionCtx {
        state,
        api: Api::Sts,
        action: "AuthorizeRequest",
        now,
        source_ip: checked.source_ip.unwrap_or(peer.ip()),
        user_agent: checked.user_agent.as_deref().unwrap_or(""),
        secure_transport: req.secure_transport.unwrap_or(false),
    };
    let policies = authz::principal_policies(state, &client).await?;
    let mut ctx =
        authz::request_context(&client_cx, &client, &policies, &req.action, &req.resource);
    if checked.source_ip.is_none() {
        // The resource server did not say where the client is: no aws:SourceIp at all
        // (the resource server's own address would be wrong).
        ctx.keys.remove("aws:SourceIp");
    }
    ctx = ctx.with_key("aws:RequestedRegion", region);
    ctx = add_context(ctx, &req.context);
    let mut refs = Vec::new();
    let mut srefs = Vec::new();
    let d = authz::evaluate_for(&policies, None, &ctx, &mut refs, &mut srefs);
    answer.allowed = d.allowed();
    if !d.allowed() {
        answer.explicit_deny = Some(d.explicit_deny());
        answer.message = Some(authz::denial_message(
            &client,
            &req.action,
            &req.resource,
            d.reason(),
        ));
        answer.encoded_message = seal(state, client.account_id(), d.authorization_message(), now);
    }
    tracing::debug!(
        request_id,
        allowed = answer.allowed,
        principal = %principal.arn(),
        action = %req.action,
        resource = %req.resource,
        "authorize decision"
    );
    Ok(answer)
}

/// What validation extracted from the request.
struct Checked {
    headers: HeaderMap,
    body: Option<Vec<u8>>,
    payload: Payload,
    s3_uri: bool,
    source_ip: Option<IpAddr>,
    user_agent: Option<String>,
}

enum Payload {
    /// `body_base64` given (or nothing: the empty body).
    Body,
    Sha256(String),
    Unverified,
}

fn invalid(msg: impl Into<String>) -> ApiError {
    ApiError::validation(msg)
}

fn validate(req: &AuthorizeRequest) -> ApiResult<Checked> {
    let svc = req.service.as_bytes();
    if svc.is_empty()
        || svc.len() > 63
        || !svc
            .iter()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'-')
    {
        return Err(invalid(
            "service must be a credential-scope service name (1-63 of a-z 0-9 -)",
        ));
    }
    if req.service == SIGNING_SERVICE {
        return Err(invalid(
            "requests signed for the opensts service cannot be authorized",
        ));
    }
    let action_ok = req.action.len() <= MAX_ACTION_LEN
        && matches!(req.action.split_once(':'), Some((v, a)) if !v.is_empty() && !a.is_empty() && !a.contains(':'))
        && !req.action.contains(['*', '?'])
        && !req.action.chars().any(char::is_control);
    if !action_ok {
        return Err(invalid(
            "action must be vendor:Action without wildcards (e.g. s3:GetObject)",
        ));
    }
    if req.resource.is_empty()
        || req.resource.len() > MAX_RESOURCE_LEN
        || req.resource.chars().any(char::is_control)
    {
        return Err(invalid(format!(
            "resource must be 1-{MAX_RESOURCE_LEN} characters without control characters"
        )));
    }
    if req.context.len() > MAX_CONTEXT_KEYS {
        return Err(invalid(format!("at most {MAX_CONTEXT_KEYS} context keys")));
    }
    for (k, v) in &req.context {
        let lower = k.to_ascii_lowercase();
        if k.is_empty()
            || k.len() > MAX_KEY_LEN
            || !k.contains(':')
            || k.chars().any(char::is_control)
        {
            return Err(invalid(format!("invalid context key {k:?}")));
        }
        if RESERVED_KEY_PREFIXES.iter().any(|p| lower.starts_with(p)) {
            return Err(invalid(format!(
                "context key {k} is derived from the client's request by OpenSTS and cannot be set (aws:SourceIp and aws:SecureTransport: use source_ip and secure_transport)"
            )));
        }
        if let ContextValue::Many(vs) = v
            && vs.len() > MAX_CONTEXT_VALUES
        {
            return Err(invalid(format!(
                "at most {MAX_CONTEXT_VALUES} values per context key"
            )));
        }
    }
    let source_ip = match &req.source_ip {
        None => None,
        Some(s) => Some(
            s.parse::<IpAddr>()
                .map_err(|_| invalid("source_ip must be an IPv4 or IPv6 address"))?,
        ),
    };
    let s3_uri = match req.uri_rules.as_deref() {
        None => req.service == "s3",
        Some("s3") => true,
        Some("default") => false,
        Some(_) => return Err(invalid("uri_rules must be \"s3\" or \"default\"")),
    };

    let r = &req.request;
    if r.method.is_empty()
        || r.method.len() > 32
        || !r
            .method
            .bytes()
            .all(|c| c.is_ascii_alphabetic() || c == b'-')
    {
        return Err(invalid("request.method must be an HTTP method"));
    }
    if !r.path.starts_with('/')
        || r.path.bytes().any(|c| c <= b' ' || c == 0x7f)
        || r.query.bytes().any(|c| c <= b' ' || c == 0x7f)
    {
        return Err(invalid(
            "request.path must be the raw path (starting with /) and request.query the raw query string, both without spaces or control characters",
        ));
    }
    if r.headers.len() > MAX_HEADERS {
        return Err(invalid(format!("at most {MAX_HEADERS} headers")));
    }
    let mut headers = HeaderMap::with_capacity(r.headers.len());
    for (name, value) in &r.headers {
        let n = HeaderName::from_bytes(name.as_bytes())
            .map_err(|_| invalid(format!("invalid header name {name:?}")))?;
        let v = HeaderValue::from_str(value)
            .map_err(|_| invalid(format!("invalid value of header {name}")))?;
        headers.append(n, v);
    }
    let user_agent = headers
        .get(header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let (body, payload) = match (&r.body_sha256, &r.body_base64) {
        (Some(_), Some(_)) => {
            return Err(invalid(
                "give request.body_sha256 or request.body_base64, not both",
            ));
        }
        (None, Some(b64)) => {
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(b64)
                .map_err(|_| invalid("request.body_base64 is not base64"))?;
            (Some(bytes), Payload::Body)
        }
        (Some(h), None) if h == sigv4::UNSIGNED_PAYLOAD => (None, Payload::Unverified),
        (Some(h), None) => {
            if h.len() != 64 || !h.bytes().all(|c| c.is_ascii_hexdigit()) {
                return Err(invalid(
                    "request.body_sha256 must be 64 hex digits or UNSIGNED-PAYLOAD",
                ));
            }
            (None, Payload::Sha256(h.clone()))
        }
        (None, None) => (None, Payload::Body),
    };
    Ok(Checked {
        headers,
        body,
        payload,
        s3_uri,
        source_ip,
        user_agent,
    })
}

/// Verify the client's signature for `req.service`: presigned requests follow S3's
/// `X-Amz-Expires` rule, header-signed ones the ±15 minute window. Returns the client and the
/// region it signed for.
async fn verify_client(
    state: &AppState,
    req: &AuthorizeRequest,
    checked: &Checked,
    now: i64,
) -> ApiResult<(Caller, String)> {
    let r = &req.request;
    let creq = sigv4::Request {
        method: &r.method,
        path: &r.path,
        query: &r.query,
        headers: &checked.headers,
        body: checked.body.as_deref().unwrap_or(b""),
    };
    let Some(parsed) = sigv4::parse(&creq)? else {
        return Err(ApiError::missing_authentication_token());
    };
    sigv4::check_scope_presigned(&parsed, &req.service, now)?;
    let opts = sigv4::VerifyOptions {
        payload: match &checked.payload {
            Payload::Body => None,
            Payload::Sha256(h) => Some(sigv4::PayloadDigest::Sha256Hex(h)),
            Payload::Unverified => Some(sigv4::PayloadDigest::Unverified),
        },
        s3_uri: checked.s3_uri,
    };
    let caller = auth::verify_signature(state, &creq, &parsed, &opts).await?;
    Ok((caller, parsed.region))
}

fn add_context(mut ctx: RequestContext, keys: &BTreeMap<String, ContextValue>) -> RequestContext {
    for (k, v) in keys {
        match v {
            ContextValue::One(s) => ctx.keys.set(k.clone(), s.clone()),
            ContextValue::Many(vs) => ctx.keys.set_all(k.clone(), vs.iter().cloned()),
        }
    }
    ctx
}

/// The decision sealed for `account`, small enough for DecodeAuthorizationMessage (the
/// request's condition keys are dropped when the whole record would be too long).
fn seal(
    state: &AppState,
    account: &str,
    mut decision: serde_json::Value,
    now: i64,
) -> Option<String> {
    use opensts_core::authmsg::{MAX_ENCODED_LEN, seal_message};
    let ring = state.message_ring();
    let sealed = seal_message(&ring, account, decision.clone(), now).ok()?;
    if sealed.len() <= MAX_ENCODED_LEN {
        return Some(sealed);
    }
    if let Some(c) = decision.pointer_mut("/context/conditions/items") {
        *c = serde_json::Value::Array(Vec::new());
    }
    seal_message(&ring, account, decision, now).ok()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
    use super::*;

    fn req(v: serde_json::Value) -> AuthorizeRequest {
        serde_json::from_value(v).unwrap()
    }

    fn base() -> serde_json::Value {
        serde_json::json!({
            "request": {"method": "GET", "path": "/objects/a", "query": "x=1",
                        "headers": [["host", "svc"], ["x-multi", "1"], ["x-multi", "2"]]},
            "service": "example", "action": "example:GetObject",
            "resource": "arn:aws:example:::objects/a",
        })
    }

    fn err(v: serde_json::Value) -> String {
        match validate(&req(v)) {
            Ok(_) => panic!("accepted"),
            Err(e) => {
                assert_eq!(e.code, "ValidationError");
                e.message
            }
        }
    }

    #[test]
    fn accepts_a_plain_question() {
        let c = validate(&req(base())).unwrap();
        assert_eq!(c.headers.get_all("x-multi").iter().count(), 2);
        assert!(matches!(c.payload, Payload::Body));
        assert!(c.body.is_none());
        assert!(!c.s3_uri);
        assert!(c.source_ip.is_none());
    }

    #[test]
    fn body_forms() {
        let mut v = base();
        v["request"]["body_sha256"] = serde_json::json!("AB".repeat(32));
        assert!(matches!(
            validate(&req(v.clone())).unwrap().payload,
            Payload::Sha256(_)
        ));
        v["request"]["body_sha256"] = serde_json::json!("UNSIGNED-PAYLOAD");
        assert!(matches!(
            validate(&req(v.clone())).unwrap().payload,
            Payload::Unverified
        ));
        v["request"]["body_sha256"] = serde_json::json!("abc");
        assert!(err(v.clone()).contains("body_sha256"));
        v["request"]["body_base64"] = serde_json::json!("aGk=");
        assert!(err(v.clone()).contains("not both"));
        v["request"].as_object_mut().unwrap().remove("body_sha256");
        assert_eq!(validate(&req(v.clone())).unwrap().body.unwrap(), b"hi");
        v["request"]["body_base64"] = serde_json::json!("!!");
        assert!(err(v).contains("base64"));
    }

    #[test]
    fn uri_rules_follow_the_service() {
        let mut v = base();
        v["service"] = serde_json::json!("s3");
        assert!(validate(&req(v.clone())).unwrap().s3_uri);
        v["uri_rules"] = serde_json::json!("default");
        assert!(!validate(&req(v.clone())).unwrap().s3_uri);
        v["service"] = serde_json::json!("example");
        v["uri_rules"] = serde_json::json!("s3");
        assert!(validate(&req(v.clone())).unwrap().s3_uri);
        v["uri_rules"] = serde_json::json!("other");
        err(v);
    }

    #[test]
    fn refuses_bad_fields() {
        for (field, value) in [
            ("service", serde_json::json!("opensts")),
            ("service", serde_json::json!("S3")),
            ("service", serde_json::json!("")),
            ("action", serde_json::json!("GetObject")),
            ("action", serde_json::json!("s3:Get*")),
            ("action", serde_json::json!("s3:a:b")),
            ("resource", serde_json::json!("")),
            ("resource", serde_json::json!("arn:\n")),
            ("source_ip", serde_json::json!("localhost")),
        ] {
            let mut v = base();
            v[field] = value.clone();
            err(v);
        }
        for (field, value) in [
            ("method", serde_json::json!("GET /")),
            ("path", serde_json::json!("objects")),
            ("path", serde_json::json!("/a b")),
            ("query", serde_json::json!("a=\n")),
            ("headers", serde_json::json!([["bad name", "x"]])),
            ("headers", serde_json::json!([["x", "a\nb"]])),
        ] {
            let mut v = base();
            v["request"][field] = value.clone();
            err(v);
        }
    }

    #[test]
    fn derived_context_keys_are_reserved() {
        for key in [
            "aws:PrincipalArn",
            "AWS:PRINCIPALTAG/x",
            "aws:userid",
            "aws:SourceIp",
            "aws:SecureTransport",
            "aws:MultiFactorAuthAge",
            "aws:CurrentTime",
            "aws:RequestedRegion",
            "opensts:ClientAccount",
        ] {
            let mut v = base();
            v["context"] = serde_json::json!({ key: "x" });
            assert!(err(v).contains("cannot be set"), "{key}");
        }
        let mut v = base();
        v["context"] = serde_json::json!({
            "s3:prefix": ["a/", "b/"], "aws:ResourceTag/team": "blue", "aws:Referer": "x",
        });
        validate(&req(v.clone())).unwrap();
        let ctx = add_context(RequestContext::new("s3:ListBucket", "*"), &req(v).context);
        assert_eq!(ctx.keys.get("s3:prefix").unwrap(), ["a/", "b/"]);
        assert_eq!(ctx.keys.get_single("aws:resourcetag/team"), Some("blue"));
    }

    #[test]
    fn unknown_fields_are_refused() {
        let mut v = base();
        v["surprise"] = serde_json::json!(1);
        assert!(serde_json::from_value::<AuthorizeRequest>(v).is_err());
        let mut v = base();
        v["request"]["body"] = serde_json::json!("x");
        assert!(serde_json::from_value::<AuthorizeRequest>(v).is_err());
    }
}
