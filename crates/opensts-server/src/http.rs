//! HTTP: the axum router and the one handler that runs the request path
//! decode → authenticate → act → encode.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::extract::{ConnectInfo, State};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Method, StatusCode, Uri, header};

use crate::actions::{self, ActionCtx};
use crate::auth;
use crate::config::MAX_BODY_BYTES;
use crate::error::ApiError;
use crate::protocol::xml::{error_body, success_body};
use crate::protocol::{Api, Params};
use crate::state::AppState;

pub fn router(state: Arc<AppState>) -> Router {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .fallback(api)
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

async fn healthz() -> &'static str {
    "ok"
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

/// What one API request produced, before encoding.
struct Outcome {
    api: Api,
    action: Option<String>,
    result: Result<Option<String>, ApiError>,
}

async fn api(
    State(state): State<Arc<AppState>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let request_id = uuid::Uuid::new_v4().to_string();
    let outcome = match axum::body::to_bytes(body, MAX_BODY_BYTES).await {
        Ok(bytes) => handle(&state, peer, &method, &uri, &headers, bytes).await,
        Err(_) => Outcome {
            api: Api::Sts,
            action: None,
            result: Err(ApiError::payload_too_large(MAX_BODY_BYTES)),
        },
    };
    let (status, xml) = match &outcome.result {
        Ok(result) => {
            let action = outcome.action.as_deref().unwrap_or_default();
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

async fn handle(
    state: &AppState,
    peer: SocketAddr,
    method: &Method,
    uri: &Uri,
    headers: &HeaderMap,
    body: Bytes,
) -> Outcome {
    let mut out = Outcome {
        api: Api::Sts,
        action: None,
        result: Ok(None),
    };
    if method != Method::GET && method != Method::POST {
        out.result = Err(ApiError::new(
            "MethodNotAllowed",
            StatusCode::METHOD_NOT_ALLOWED,
            "Only GET and POST are supported",
        ));
        return out;
    }
    let query = uri.query().unwrap_or("");
    let form_body: &[u8] = if method == Method::POST { &body } else { b"" };
    let params = match Params::decode(&[query.as_bytes(), form_body]) {
        Ok(p) => p,
        Err(e) => {
            out.result = Err(e);
            return out;
        }
    };
    // Version chooses the API; Action the operation.
    let version = params.get("Version");
    if let Some(api) = version.and_then(Api::from_version) {
        out.api = api;
    }
    let Some(action) = params.get("Action").filter(|a| !a.is_empty()) else {
        out.result = Err(ApiError::missing_action());
        return out;
    };
    let Some(version) = version else {
        out.result = Err(ApiError::missing_version());
        return out;
    };
    let Some(api) = Api::from_version(version) else {
        out.result = Err(ApiError::invalid_action_for_version(action, version));
        return out;
    };
    let Some(spec) = actions::lookup(api, action) else {
        out.result = Err(ApiError::invalid_action_for_version(action, version));
        return out;
    };
    out.action = Some(spec.name.to_string());

    // HTTP/2 carries the host in the URI authority; SigV4 signs it as `host`.
    let h2_headers;
    let headers = match (headers.contains_key(header::HOST), uri.authority()) {
        (false, Some(auth)) => {
            let mut h = headers.clone();
            if let Ok(v) = HeaderValue::from_str(auth.as_str()) {
                h.insert(header::HOST, v);
            }
            h2_headers = h;
            &h2_headers
        }
        _ => headers,
    };
    let sreq = opensts_sigv4::Request {
        method: method.as_str(),
        path: uri.path(),
        query,
        headers,
        body: &body,
    };
    let caller = match auth::authenticate(state, &sreq, api).await {
        Ok(c) => c,
        Err(e) => {
            out.result = Err(e);
            return out;
        }
    };
    if caller.is_none() && !spec.unsigned {
        out.result = Err(ApiError::missing_authentication_token());
        return out;
    }
    let cx = ActionCtx {
        state,
        api,
        action: spec.name,
        now: state.now(),
        source_ip: peer.ip(),
        user_agent: headers
            .get(header::USER_AGENT)
            .and_then(|v| v.to_str().ok())
            .unwrap_or(""),
        secure_transport: false,
    };
    out.result = actions::run(spec, &cx, caller.as_ref(), &params).await;
    out
}
