//! HTTP: the axum router and the one handler that runs the request path
//! decode → authenticate → act → encode.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Body;
use axum::extract::{ConnectInfo, Extension, State};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Method, StatusCode, Uri, header};

use crate::actions::{self, ActionCtx};
use crate::app::{AUTH_MESSAGE_PURPOSE, SESSION_TOKEN_PURPOSE};
use crate::audit::{self, CallRecord};
use crate::auth::{self, Caller};
use crate::error::ApiError;
use crate::metrics::{self, KeyInfo};
use crate::protocol::xml::{error_body, success_body};
use crate::protocol::{Api, Params};
use crate::state::AppState;
use crate::throttle::throttled;
use crate::tls::ConnMeta;

pub fn router(state: Arc<AppState>) -> Router {
    let mut r = Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        // The authorization API for resource servers (JSON; docs/authorization-api.md).
        .route(
            crate::authorize_api::PATH,
            axum::routing::any(crate::authorize_api::handle),
        )
        .merge(crate::oidc_issuer::routes());
    // `/metrics` moves to its own listener when `--metrics-listen` is set.
    if state.config.ops.metrics_listen.is_none() {
        r = r.route("/metrics", get(metrics_endpoint));
    }
    r.fallback(api)
        .with_state(state)
        .layer(tower_http::catch_panic::CatchPanicLayer::custom(
            panic_response,
        ))
}

/// A bug must never drop the connection: a panic becomes an `InternalFailure` answer.
fn panic_response(_err: Box<dyn std::any::Any + Send + 'static>) -> Response {
    tracing::error!("request handler panicked");
    let request_id = uuid::Uuid::new_v4().to_string();
    let e = ApiError::internal();
    let mut resp = (e.status, error_body(&e, Api::Sts.namespace(), &request_id)).into_response();
    resp.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static("text/xml"));
    if let Ok(v) = HeaderValue::from_str(&request_id) {
        resp.headers_mut().insert("x-amzn-requestid", v);
    }
    resp
}

/// The router of the separate metrics listener (`--metrics-listen`).
pub fn metrics_router(state: Arc<AppState>) -> Router {
    Router::new()
        .route("/metrics", get(metrics_endpoint))
        .route("/healthz", get(healthz))
        .with_state(state)
}

async fn healthz() -> &'static str {
    "ok"
}

/// Every key of both key rings, for `opensts_key_info`.
fn key_infos(state: &AppState) -> Vec<KeyInfo> {
    let mut out = Vec::new();
    for (purpose, ring) in [
        (SESSION_TOKEN_PURPOSE, state.session_ring()),
        (AUTH_MESSAGE_PURPOSE, state.message_ring()),
    ] {
        let current = ring.current_id();
        out.extend(ring.ids().map(|key_id| KeyInfo {
            purpose,
            key_id,
            current: key_id == current,
        }));
    }
    // The JWKS signing keys (GetWebIdentityToken), once generated.
    let jwks = state.oidc_issuer.key_set();
    for alg in crate::oidc_issuer::SigningAlg::ALL {
        let current = jwks.current(alg).map(|k| k.key_id);
        out.extend(
            jwks.keys()
                .iter()
                .filter(|k| k.alg == alg)
                .map(|k| KeyInfo {
                    purpose: alg.purpose(),
                    key_id: k.key_id,
                    current: Some(k.key_id) == current,
                }),
        );
    }
    out
}

async fn metrics_endpoint(State(state): State<Arc<AppState>>) -> Response {
    let body = state.metrics.render(&key_infos(&state));
    (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
        )],
        body,
    )
        .into_response()
}

/// How long `/readyz` waits for the store before reporting it unavailable (the store's own
/// connection timeout is longer than a load balancer's health check).
const READYZ_STORE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(2);

async fn readyz(State(state): State<Arc<AppState>>) -> Response {
    match tokio::time::timeout(READYZ_STORE_TIMEOUT, state.store.change_counter()).await {
        Ok(Ok(_)) => (StatusCode::OK, "ready").into_response(),
        _ => (StatusCode::SERVICE_UNAVAILABLE, "store unavailable").into_response(),
    }
}

/// What one API request produced, before encoding; also what the audit trail and the
/// metrics record.
struct Outcome {
    api: Api,
    /// The action from the action table, once resolved.
    action: Option<&'static str>,
    result: Result<Option<String>, ApiError>,
    /// The verified caller (audit `userIdentity`).
    caller: Option<Caller>,
    /// The decoded parameters (audit `requestParameters`, redacted there).
    params: Option<Params>,
    /// The reason a federation handler noted when it refused the call.
    rejection: Option<&'static str>,
}

impl Outcome {
    fn new() -> Outcome {
        Outcome {
            api: Api::Sts,
            action: None,
            result: Ok(None),
            caller: None,
            params: None,
            rejection: None,
        }
    }

    fn error(e: ApiError) -> Outcome {
        Outcome {
            result: Err(e),
            ..Outcome::new()
        }
    }
}

/// The client did not send its body in time (`--body-read-timeout-secs`).
fn request_timeout() -> ApiError {
    ApiError::new(
        "RequestTimeout",
        StatusCode::REQUEST_TIMEOUT,
        "Your socket connection to the server was not read from or written to within the timeout period.",
    )
}

async fn api(
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
    let ops = &state.config.ops;
    let body_timeout = Duration::from_secs(ops.body_read_timeout_secs.max(1));
    let read =
        tokio::time::timeout(body_timeout, axum::body::to_bytes(body, ops.max_body_bytes)).await;
    // The Organizations API speaks JSON (awsJson1_1), chosen by its X-Amz-Target.
    if let Ok(Ok(bytes)) = &read
        && crate::organizations::is_organizations_request(&headers)
    {
        return crate::organizations::serve(
            &state,
            peer,
            &conn,
            &method,
            &uri,
            &headers,
            bytes.clone(),
        )
        .await;
    }
    let outcome = match read {
        Ok(Ok(bytes)) => handle(&state, peer, &conn, &method, &uri, &headers, bytes).await,
        Ok(Err(_)) => Outcome::error(ApiError::payload_too_large(ops.max_body_bytes)),
        Err(_) => Outcome::error(request_timeout()),
    };
    record(
        &state,
        &outcome,
        started,
        &request_id,
        peer,
        &conn,
        &uri,
        &headers,
    );
    let (status, xml) = match &outcome.result {
        Ok(result) => {
            let action = outcome.action.unwrap_or_default();
            (
                StatusCode::OK,
                success_body(
                    action,
                    outcome.api.namespace(),
                    result.as_deref(),
                    &request_id,
                ),
            )
        }
        Err(e) => {
            if e.status.is_server_error() {
                tracing::warn!(code = e.code, request_id = %request_id, action = ?outcome.action, "request failed");
            } else {
                tracing::debug!(code = e.code, request_id = %request_id, action = ?outcome.action, "request refused");
            }
            (
                e.status,
                error_body(e, outcome.api.namespace(), &request_id),
            )
        }
    };
    let mut resp = (status, xml).into_response();
    let h = resp.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/xml"));
    if let Ok(v) = HeaderValue::from_str(&request_id) {
        h.insert("x-amzn-requestid", v);
    }
    resp
}

/// Metrics and the audit event of a finished request.
#[allow(clippy::too_many_arguments)]
fn record(
    state: &AppState,
    outcome: &Outcome,
    started: Instant,
    request_id: &str,
    peer: SocketAddr,
    conn: &ConnMeta,
    uri: &Uri,
    headers: &HeaderMap,
) {
    let action = outcome.action.unwrap_or("unknown");
    let code = match &outcome.result {
        Ok(_) => "OK",
        Err(e) => e.code,
    };
    state.metrics.observe_request(
        outcome.api.signing_service(),
        action,
        code,
        started.elapsed(),
    );
    if let Err(e) = &outcome.result
        && e.status.is_client_error()
        && e.code != "Throttling"
    {
        let protocol = match action {
            "AssumeRoleWithSAML" => Some("saml"),
            "AssumeRoleWithWebIdentity" => Some("oidc"),
            _ => None,
        };
        if let Some(protocol) = protocol {
            state
                .metrics
                .federation_rejection(protocol, outcome.rejection.unwrap_or(e.code));
        }
    }
    let Some(audit_log) = &state.audit else {
        return;
    };
    let header_str = |name: header::HeaderName| headers.get(name).and_then(|v| v.to_str().ok());
    let claimed = if outcome.caller.is_none() {
        audit::claimed_access_key_id(header_str(header::AUTHORIZATION), uri.query().unwrap_or(""))
    } else {
        None
    };
    let host = header_str(header::HOST).or_else(|| uri.authority().map(|a| a.as_str()));
    let event_id = uuid::Uuid::new_v4().to_string();
    let event = audit::event(&CallRecord {
        api: outcome.api,
        action: outcome.action,
        region: &state.config.region,
        now: state.now(),
        source_ip: peer.ip(),
        user_agent: header_str(header::USER_AGENT).unwrap_or(""),
        caller: outcome.caller.as_ref(),
        claimed_access_key_id: claimed.as_deref(),
        params: outcome.params.as_ref(),
        result: &outcome.result,
        request_id,
        event_id: &event_id,
        tls: conn.tls.as_ref(),
        host,
    });
    audit_log.write(&event);
}

async fn handle(
    state: &AppState,
    peer: SocketAddr,
    conn: &ConnMeta,
    method: &Method,
    uri: &Uri,
    headers: &HeaderMap,
    body: Bytes,
) -> Outcome {
    let mut out = Outcome::new();
    // Per-source throttling comes first: a flood is refused before any HMAC or store work.
    let source_allowed = state.throttle.allow_source(peer.ip());
    if method != Method::GET && method != Method::POST {
        out.result = Err(if source_allowed {
            ApiError::new(
                "MethodNotAllowed",
                StatusCode::METHOD_NOT_ALLOWED,
                "Only GET and POST are supported",
            )
        } else {
            throttled(&state.metrics, "source")
        });
        return out;
    }
    let query = uri.query().unwrap_or("");
    let form_body: &[u8] = if method == Method::POST { &body } else { b"" };
    let params = match Params::decode(&[query.as_bytes(), form_body]) {
        Ok(p) => p,
        Err(e) => {
            out.result = Err(if source_allowed {
                e
            } else {
                throttled(&state.metrics, "source")
            });
            return out;
        }
    };
    let request = Request {
        peer,
        conn,
        method,
        uri,
        headers,
        query,
        body: &body,
        source_allowed,
    };
    run(state, &mut out, &request, &params).await;
    out.params = Some(params);
    out
}

/// The parts of the HTTP request the request path reads.
struct Request<'a> {
    peer: SocketAddr,
    conn: &'a ConnMeta,
    method: &'a Method,
    uri: &'a Uri,
    headers: &'a HeaderMap,
    query: &'a str,
    body: &'a [u8],
    source_allowed: bool,
}

/// Resolve the action, throttle, authenticate, throttle per account, run the action.
async fn run(state: &AppState, out: &mut Outcome, req: &Request<'_>, params: &Params) {
    // Version chooses the API; Action the operation.
    let version = params.get("Version");
    if let Some(api) = version.and_then(Api::from_version) {
        out.api = api;
        out.action = params
            .get("Action")
            .and_then(|a| actions::lookup(api, a))
            .map(|spec| spec.name);
    }
    if !req.source_allowed {
        out.result = Err(throttled(&state.metrics, "source"));
        return;
    }
    let Some(action) = params.get("Action").filter(|a| !a.is_empty()) else {
        out.result = Err(ApiError::missing_action());
        return;
    };
    let Some(version) = version else {
        out.result = Err(ApiError::missing_version());
        return;
    };
    let Some(api) = Api::from_version(version) else {
        out.result = Err(ApiError::invalid_action_for_version(action, version));
        return;
    };
    let Some(spec) = actions::lookup(api, action) else {
        out.result = Err(ApiError::invalid_action_for_version(action, version));
        return;
    };

    // HTTP/2 carries the host in the URI authority; SigV4 signs it as `host`.
    let h2_headers;
    let headers = match (req.headers.contains_key(header::HOST), req.uri.authority()) {
        (false, Some(auth)) => {
            let mut h = req.headers.clone();
            if let Ok(v) = HeaderValue::from_str(auth.as_str()) {
                h.insert(header::HOST, v);
            }
            h2_headers = h;
            &h2_headers
        }
        _ => req.headers,
    };
    let sreq = opensts_sigv4::Request {
        method: req.method.as_str(),
        path: req.uri.path(),
        query: req.query,
        headers,
        body: req.body,
    };
    let caller = match auth::authenticate(state, &sreq, api).await {
        Ok(c) => c,
        Err(e) => {
            out.result = Err(e);
            return;
        }
    };
    if caller.is_none() && !spec.unsigned {
        out.result = Err(ApiError::missing_authentication_token());
        return;
    }
    // Per-account throttling: right after authentication, before the action's work.
    if let Some(c) = &caller
        && !state.throttle.allow_account(c.account_id())
    {
        out.result = Err(throttled(&state.metrics, "account"));
        out.caller = caller;
        return;
    }
    let cx = ActionCtx {
        state,
        api,
        action: spec.name,
        now: state.now(),
        source_ip: req.peer.ip(),
        user_agent: headers
            .get(header::USER_AGENT)
            .and_then(|v| v.to_str().ok())
            .unwrap_or(""),
        secure_transport: req.conn.tls.is_some(),
    };
    let (result, rejection) =
        metrics::with_rejection_scope(actions::run(spec, &cx, caller.as_ref(), params)).await;
    // A change made through this node is enforced by this node at once (other nodes learn of
    // it through the change poller within a second).
    if api == Api::Iam
        && result.is_ok()
        && !["Get", "List", "Simulate"]
            .iter()
            .any(|p| spec.name.starts_with(p))
        && let Some(c) = &caller
    {
        state
            .cache
            .invalidate_accounts(&[c.account_id().to_string()]);
    }
    out.result = result;
    out.rejection = rejection;
    out.caller = caller;
}
