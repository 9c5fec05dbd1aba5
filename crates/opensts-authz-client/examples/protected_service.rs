//! A small object service whose routes are protected by OpenSTS credentials.
//!
//! Clients sign their requests with SigV4 for the service `example` (any AWS SDK can:
//! botocore's `SigV4Auth(credentials, "example", region)`); the service forwards each request to
//! OpenSTS's authorization API and serves it only when the signer's policies allow it.
//!
//! | route | action | resource |
//! |---|---|---|
//! | `GET /objects/{key}` | `example:GetObject` | `arn:aws:example:::objects/{key}` |
//! | `PUT /objects/{key}` | `example:PutObject` | `arn:aws:example:::objects/{key}` |
//!
//! Answers: 200 (the object / `{"stored": …}`) when allowed; 404 `NoSuchKey` for a missing
//! object (after authorization); 403 `AccessDenied` with the encoded authorization message when
//! denied by policy; 403 (400 for `IncompleteSignature`) with the code (`ExpiredToken`,
//! `InvalidClientTokenId`, `SignatureDoesNotMatch`, `MissingAuthenticationToken`) when the
//! client's signature or credentials are refused; 503 when OpenSTS cannot be asked. Error bodies
//! are JSON: `{"error": {"code", "message", "encodedMessage"?}, "requestId"?}`.
//!
//! Configuration (environment):
//! * `OPENSTS_ENDPOINT` — OpenSTS base URL (required), e.g. `http://127.0.0.1:8080`
//! * `OPENSTS_ACCESS_KEY_ID`, `OPENSTS_SECRET_ACCESS_KEY`, `OPENSTS_SESSION_TOKEN` (optional) —
//!   the service's own credentials; they need `opensts:AuthorizeRequest`
//! * `OPENSTS_REGION` — region of the service's signature (default `us-east-1`)
//! * `PORT` — port to listen on, 127.0.0.1 (default 0: any free port)
//!
//! Prints `listening on http://127.0.0.1:PORT` once ready.
//!
//! ```sh
//! OPENSTS_ENDPOINT=http://127.0.0.1:8080 OPENSTS_ACCESS_KEY_ID=AKIA… \
//! OPENSTS_SECRET_ACCESS_KEY=… cargo run -p opensts-authz-client --example protected_service
//! ```

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{ConnectInfo, Path, State};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use http::{HeaderMap, HeaderValue, Method, StatusCode, Uri, header};
use opensts_authz_client::{AuthorizeRequest, AuthzClient, Credentials, Decision, SignedRequest};

/// The credential-scope service clients sign for.
const SERVICE: &str = "example";

struct App {
    authz: AuthzClient,
    objects: Mutex<HashMap<String, Vec<u8>>>,
}

fn json_error(status: StatusCode, error: serde_json::Value) -> Response {
    let body = serde_json::json!({ "error": error }).to_string();
    let mut r = (status, body).into_response();
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    r
}

/// Ask OpenSTS; `Err` is the response to send instead of serving the request.
async fn guard(
    app: &App,
    peer: SocketAddr,
    action: &str,
    key: &str,
    parts: (&Method, &Uri, &HeaderMap, &[u8]),
) -> Result<Decision, Response> {
    let (method, uri, headers, body) = parts;
    let question = AuthorizeRequest::new(
        SignedRequest::from_parts(method, uri, headers, body),
        SERVICE,
        action,
        format!("arn:aws:example:::objects/{key}"),
    )
    .source_ip(peer.ip())
    .secure_transport(false);
    let d = match app.authz.authorize(&question).await {
        Ok(d) => d,
        Err(e) => {
            eprintln!("protected_service: cannot authorize with OpenSTS: {e}");
            return Err(json_error(
                StatusCode::SERVICE_UNAVAILABLE,
                serde_json::json!({
                    "code": "ServiceUnavailable",
                    "message": "The authorization service is unavailable.",
                }),
            ));
        }
    };
    if d.allowed {
        return Ok(d);
    }
    if let Some(e) = &d.error {
        let status = StatusCode::from_u16(e.http_status()).unwrap_or(StatusCode::FORBIDDEN);
        return Err(json_error(
            status,
            serde_json::json!({ "code": e.code, "message": e.message, "requestId": d.request_id }),
        ));
    }
    Err(json_error(
        StatusCode::FORBIDDEN,
        serde_json::json!({
            "code": "AccessDenied",
            "message": d.access_denied_message().unwrap_or_else(|| "Access Denied".to_string()),
            "encodedMessage": d.encoded_message,
            "requestId": d.request_id,
        }),
    ))
}

async fn get_object(
    State(app): State<Arc<App>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Path(key): Path<String>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let d = match guard(
        &app,
        peer,
        "example:GetObject",
        &key,
        (&method, &uri, &headers, &body),
    )
    .await
    {
        Ok(d) => d,
        Err(r) => return r,
    };
    let found = app.objects.lock().ok().and_then(|m| m.get(&key).cloned());
    match found {
        Some(bytes) => {
            let mut r = (StatusCode::OK, bytes).into_response();
            if let Some(p) = d.principal
                && let Ok(v) = HeaderValue::from_str(&p.arn)
            {
                r.headers_mut().insert("x-principal-arn", v);
            }
            r
        }
        None => json_error(
            StatusCode::NOT_FOUND,
            serde_json::json!({ "code": "NoSuchKey", "message": "The specified key does not exist." }),
        ),
    }
}

async fn put_object(
    State(app): State<Arc<App>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Path(key): Path<String>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let d = match guard(
        &app,
        peer,
        "example:PutObject",
        &key,
        (&method, &uri, &headers, &body),
    )
    .await
    {
        Ok(d) => d,
        Err(r) => return r,
    };
    let size = body.len();
    if let Ok(mut m) = app.objects.lock() {
        m.insert(key.clone(), body.to_vec());
    }
    let principal = d.principal.map(|p| p.arn).unwrap_or_default();
    let out = serde_json::json!({ "stored": key, "bytes": size, "principal": principal });
    let mut r = (StatusCode::OK, out.to_string()).into_response();
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    r
}

fn env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty())
}

fn config() -> Result<(AuthzClient, u16), String> {
    let endpoint = env("OPENSTS_ENDPOINT").ok_or("OPENSTS_ENDPOINT is not set")?;
    let key = env("OPENSTS_ACCESS_KEY_ID").ok_or("OPENSTS_ACCESS_KEY_ID is not set")?;
    let secret = env("OPENSTS_SECRET_ACCESS_KEY").ok_or("OPENSTS_SECRET_ACCESS_KEY is not set")?;
    let creds = Credentials::new(key, secret, env("OPENSTS_SESSION_TOKEN"));
    let region = env("OPENSTS_REGION").unwrap_or_else(|| "us-east-1".to_string());
    let port = match env("PORT") {
        Some(p) => p.parse().map_err(|_| format!("PORT {p:?} is not a port"))?,
        None => 0,
    };
    let authz = AuthzClient::new(&endpoint, creds)
        .map_err(|e| e.to_string())?
        .with_region(region);
    Ok((authz, port))
}

#[tokio::main]
async fn main() {
    let (authz, port) = match config() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("protected_service: {e}");
            std::process::exit(2);
        }
    };
    let app = Arc::new(App {
        authz,
        objects: Mutex::new(HashMap::new()),
    });
    let router = Router::new()
        .route("/objects/{*key}", get(get_object).put(put_object))
        .with_state(app);
    let listener = match tokio::net::TcpListener::bind(("127.0.0.1", port)).await {
        Ok(l) => l,
        Err(e) => {
            eprintln!("protected_service: cannot listen on 127.0.0.1:{port}: {e}");
            std::process::exit(1);
        }
    };
    match listener.local_addr() {
        Ok(addr) => println!("listening on http://{addr}"),
        Err(e) => {
            eprintln!("protected_service: {e}");
            std::process::exit(1);
        }
    }
    let served = axum::serve(
        listener,
        router.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .await;
    if let Err(e) = served {
        eprintln!("protected_service: {e}");
        std::process::exit(1);
    }
}
