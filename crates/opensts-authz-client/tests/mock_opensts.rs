//! The client against a stand-in OpenSTS that verifies the call's SigV4 signature (service
//! `opensts`) with opensts-sigv4 and answers canned JSON. The real server is exercised by the
//! server's integration tests and the end-to-end suite (tests/test_authorization.py).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use http::{HeaderMap, Method, StatusCode, Uri};
use opensts_authz_client::{
    AuthorizeRequest, AuthzClient, Body, Credentials, Error, SignedRequest,
};

const KEY: &str = "AKIAMOCKMOCKMOCKMOCK";
const SECRET: &str = "mockmockmockmockmockmockmockmockmockmock";
const NOW: i64 = 1_800_000_000;

#[derive(Default)]
struct Seen {
    bodies: Vec<serde_json::Value>,
}

async fn authorize(
    State(seen): State<Arc<Mutex<Seen>>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let req = opensts_sigv4::Request {
        method: method.as_str(),
        path: uri.path(),
        query: uri.query().unwrap_or(""),
        headers: &headers,
        body: &body,
    };
    let verified = (|| {
        let p = opensts_sigv4::parse(&req)?
            .ok_or_else(opensts_sigv4::SigV4Error::missing_authentication_token)?;
        opensts_sigv4::check_scope(&p, "opensts", NOW)?;
        if p.access_key_id != KEY {
            return Err(opensts_sigv4::SigV4Error::invalid_client_token_id());
        }
        let key = opensts_sigv4::derive_signing_key(
            SECRET.as_bytes(),
            &p.scope_date,
            &p.region,
            &p.service,
        );
        opensts_sigv4::verify(&p, &req, &key)?;
        Ok::<_, opensts_sigv4::SigV4Error>(p.region)
    })();
    let region = match verified {
        Ok(r) => r,
        Err(e) => {
            let body = serde_json::json!({"error": {"code": e.code_str(), "message": e.message}, "requestId": "rid"});
            return (StatusCode::FORBIDDEN, body.to_string()).into_response();
        }
    };
    assert_eq!(uri.path(), "/base/opensts/authorize");
    assert_eq!(headers["content-type"], "application/json");
    let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
    seen.lock().unwrap().bodies.push(v.clone());
    let answer = match v["action"].as_str().unwrap() {
        "example:GetObject" => serde_json::json!({
            "allowed": true,
            "principal": {"arn": "arn:aws:iam::111122223333:user/alice", "id": "AIDAALICE", "type": "User"},
            "account": "111122223333", "accessKeyId": "AKIAALICE", "credentialType": "long-term",
            "requestId": format!("rid-{region}"),
        }),
        "example:PutObject" => serde_json::json!({
            "allowed": false,
            "principal": {"arn": "arn:aws:iam::111122223333:user/alice", "id": "AIDAALICE", "type": "User"},
            "account": "111122223333", "explicitDeny": false,
            "message": "User: arn:aws:iam::111122223333:user/alice is not authorized to perform: example:PutObject on resource: x because no identity-based policy allows the example:PutObject action",
            "encodedMessage": "ENC", "requestId": "rid",
        }),
        "example:Expired" => serde_json::json!({
            "allowed": false,
            "error": {"code": "ExpiredToken", "message": "The security token included in the request is expired"},
            "requestId": "rid",
        }),
        _ => {
            let body = serde_json::json!({"error": {"code": "ValidationError", "message": "bad"}, "requestId": "rid"});
            return (StatusCode::BAD_REQUEST, body.to_string()).into_response();
        }
    };
    (StatusCode::OK, answer.to_string()).into_response()
}

async fn mock() -> (SocketAddr, Arc<Mutex<Seen>>) {
    let seen = Arc::new(Mutex::new(Seen::default()));
    let app = Router::new()
        .route("/base/opensts/authorize", post(authorize))
        .with_state(seen.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        axum::serve(listener, app).await.unwrap();
    });
    (addr, seen)
}

fn client(addr: SocketAddr, key: &str) -> AuthzClient {
    AuthzClient::new(
        &format!("http://{addr}/base"),
        Credentials::new(key, SECRET, None),
    )
    .unwrap()
    .with_region("eu-central-1")
    .with_time_source(Arc::new(|| NOW))
}

fn question(action: &str) -> AuthorizeRequest {
    let mut h = HeaderMap::new();
    h.insert("host", "svc.local".parse().unwrap());
    h.insert(
        "authorization",
        "AWS4-HMAC-SHA256 Credential=…".parse().unwrap(),
    );
    let uri: Uri = "/objects/a?versionId=1".parse().unwrap();
    AuthorizeRequest::new(
        SignedRequest::from_parts(&Method::GET, &uri, &h, b""),
        "example",
        action,
        "arn:aws:example:::objects/a",
    )
    .context("example:tag", ["t"])
}

#[tokio::test]
async fn allowed_denied_client_error_and_api_error() {
    let (addr, seen) = mock().await;
    let c = client(addr, KEY);

    let d = c.authorize(&question("example:GetObject")).await.unwrap();
    assert!(d.allowed);
    assert_eq!(d.principal.unwrap().kind, "User");
    assert_eq!(d.account.as_deref(), Some("111122223333"));
    assert_eq!(d.request_id, "rid-eu-central-1");

    let d = c.authorize(&question("example:PutObject")).await.unwrap();
    assert!(!d.allowed);
    assert_eq!(d.encoded_message.as_deref(), Some("ENC"));
    assert!(
        d.access_denied_message()
            .unwrap()
            .ends_with(". Encoded authorization failure message: ENC")
    );

    let d = c.authorize(&question("example:Expired")).await.unwrap();
    assert!(!d.allowed);
    assert_eq!(d.error.unwrap().code, "ExpiredToken");

    match c.authorize(&question("example:Other")).await {
        Err(Error::Api { status, code, .. }) => {
            assert_eq!((status, code.as_str()), (400, "ValidationError"));
        }
        other => panic!("{other:?}"),
    }

    // What reached the server.
    let bodies = &seen.lock().unwrap().bodies;
    let b = &bodies[0];
    assert_eq!(b["service"], "example");
    assert_eq!(b["request"]["method"], "GET");
    assert_eq!(b["request"]["path"], "/objects/a");
    assert_eq!(b["request"]["query"], "versionId=1");
    assert_eq!(
        b["request"]["body_sha256"],
        opensts_sigv4::EMPTY_PAYLOAD_SHA256
    );
    assert_eq!(b["context"]["example:tag"], serde_json::json!(["t"]));
}

#[tokio::test]
async fn the_call_is_signed_with_the_service_credentials() {
    let (addr, _) = mock().await;
    match client(addr, "AKIAWRONGWRONGWRONG0")
        .authorize(&question("example:GetObject"))
        .await
    {
        Err(Error::Api {
            status,
            code,
            request_id,
            ..
        }) => {
            assert_eq!((status, code.as_str()), (403, "InvalidClientTokenId"));
            assert_eq!(request_id.as_deref(), Some("rid"));
        }
        other => panic!("{other:?}"),
    }
    // Another clock: outside the ±15 minute window.
    let late = client(addr, KEY).with_time_source(Arc::new(|| NOW + 3600));
    match late.authorize(&question("example:GetObject")).await {
        Err(Error::Api { code, .. }) => assert_eq!(code, "SignatureDoesNotMatch"),
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn unreachable_is_a_transport_error() {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap();
    drop(l);
    let mut q = question("example:GetObject");
    q.request.body = Body::Bytes(vec![1, 2, 3]);
    match client(addr, KEY).authorize(&q).await {
        Err(Error::Transport(_)) => {}
        other => panic!("{other:?}"),
    }
}
