//! `POST /opensts/authorize`: a resource server forwards its clients' signed requests; OpenSTS
//! verifies them and evaluates the clients' policies. Time is the app's manual clock, so true
//! session expiry and presigned-URL expiry are covered here.

use http::HeaderMap;
use opensts_sigv4::{SigningParams, presign_query, sign_request};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::helpers::*;

const POLICY_SERVICE: &str = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"opensts:AuthorizeRequest","Resource":"*","Condition":{"StringEquals":{"opensts:SigningService":"example"}}},{"Effect":"Allow","Action":"sts:DecodeAuthorizationMessage","Resource":"*"}]}"#;
const POLICY_READER: &str = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["example:GetObject","example:PutObject"],"Resource":"arn:aws:example:::objects/*"},{"Sid":"VisualEditor0","Effect":"Deny","Action":"example:GetObject","Resource":"arn:aws:example:::objects/secret*"},{"Effect":"Allow","Action":"example:ListObjects","Resource":"*","Condition":{"StringEquals":{"example:prefix":["public/"]}}}]}"#;

fn enc(s: &str) -> String {
    form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

fn now(app: &TestApp) -> i64 {
    opensts_server::state::Clock::now(app.clock.as_ref())
}

/// A user with one access key and one inline policy.
async fn user(app: &TestApp, name: &str, policy: Option<&str>) -> Creds {
    let root = app.root();
    let r = app
        .iam(&root, &format!("Action=CreateUser&UserName={name}"))
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    if let Some(doc) = policy {
        let r = app
            .iam(
                &root,
                &format!(
                    "Action=PutUserPolicy&UserName={name}&PolicyName=p&PolicyDocument={}",
                    enc(doc)
                ),
            )
            .await;
        assert_eq!(r.status, 200, "{}", r.body);
    }
    let r = app
        .iam(&root, &format!("Action=CreateAccessKey&UserName={name}"))
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    Creds {
        key: r.field("AccessKeyId").unwrap(),
        secret: r.field("SecretAccessKey").unwrap(),
        token: None,
    }
}

fn params<'a>(c: &'a Creds, service: &'a str, time: i64) -> SigningParams<'a> {
    SigningParams {
        access_key_id: &c.key,
        secret: &c.secret,
        session_token: c.token.as_deref(),
        region: "eu-west-3",
        service,
        time,
    }
}

/// A client request to the (imaginary) resource server, signed for `example`, as the JSON
/// `request` object the resource server forwards.
fn client_request(c: &Creds, method: &str, path: &str, body: &[u8], time: i64) -> Value {
    let mut h = HeaderMap::new();
    h.insert("host", "objects.example.test:8443".parse().unwrap());
    h.insert("user-agent", "test-client/1.0".parse().unwrap());
    sign_request(method, path, "", &mut h, body, &params(c, "example", time)).unwrap();
    json!({
        "method": method,
        "path": path,
        "query": "",
        "headers": headers_json(&h),
        "body_sha256": hex(&sha256(body)),
    })
}

fn headers_json(h: &HeaderMap) -> Value {
    Value::Array(
        h.iter()
            .map(|(k, v)| json!([k.as_str(), v.to_str().unwrap()]))
            .collect(),
    )
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn sha256(b: &[u8]) -> Vec<u8> {
    aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, b)
        .as_ref()
        .to_vec()
}

struct JsonResp {
    status: u16,
    body: Value,
}

/// `POST /opensts/authorize` signed by `svc` (for `opensts`) at `time`; `None` = unsigned.
async fn authorize_at(app: &TestApp, svc: Option<&Creds>, body: &Value, time: i64) -> JsonResp {
    let body = body.to_string();
    let mut h = HeaderMap::new();
    h.insert("host", app.addr.to_string().parse().unwrap());
    h.insert("content-type", "application/json".parse().unwrap());
    if let Some(c) = svc {
        sign_request(
            "POST",
            "/opensts/authorize",
            "",
            &mut h,
            body.as_bytes(),
            &params(c, "opensts", time),
        )
        .unwrap();
    }
    let mut req = String::from("POST /opensts/authorize HTTP/1.1\r\n");
    for (k, v) in &h {
        req.push_str(&format!("{}: {}\r\n", k, v.to_str().unwrap()));
    }
    req.push_str(&format!(
        "content-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    ));
    let mut s = tokio::net::TcpStream::connect(app.addr).await.unwrap();
    s.write_all(req.as_bytes()).await.unwrap();
    let mut out = Vec::new();
    s.read_to_end(&mut out).await.unwrap();
    let text = String::from_utf8_lossy(&out).to_string();
    let status = text
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let (head, body) = text.split_once("\r\n\r\n").unwrap();
    assert!(
        head.to_ascii_lowercase()
            .contains("content-type: application/json"),
        "{head}"
    );
    JsonResp {
        status,
        body: serde_json::from_str(body).unwrap_or_else(|e| panic!("{e}: {body}")),
    }
}

async fn authorize(app: &TestApp, svc: &Creds, body: &Value) -> JsonResp {
    authorize_at(app, Some(svc), body, now(app)).await
}

fn ask(request: Value, action: &str, resource: &str) -> Value {
    json!({
        "request": request,
        "service": "example",
        "action": action,
        "resource": resource,
        "source_ip": "203.0.113.7",
    })
}

/// DecodeAuthorizationMessage by `creds`; the decoded JSON.
async fn decode(app: &TestApp, creds: &Creds, msg: &str) -> Value {
    let r = app
        .sts(
            creds,
            &format!(
                "Action=DecodeAuthorizationMessage&EncodedMessage={}",
                enc(msg)
            ),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let text = r.field("DecodedMessage").unwrap();
    let text = text
        .replace("&quot;", "\"")
        .replace("&apos;", "'")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&");
    serde_json::from_str(&text).unwrap()
}

#[tokio::test]
async fn allow_deny_and_the_decision_record() {
    let app = spawn_app().await;
    let svc = user(&app, "svc", Some(POLICY_SERVICE)).await;
    let alice = user(&app, "alice", Some(POLICY_READER)).await;
    let t = now(&app);

    // Allowed.
    let r = authorize(
        &app,
        &svc,
        &ask(
            client_request(&alice, "GET", "/objects/a.txt", b"", t),
            "example:GetObject",
            "arn:aws:example:::objects/a.txt",
        ),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let b = &r.body;
    assert_eq!(b["allowed"], true, "{b}");
    assert_eq!(b["account"], app.account_id);
    assert_eq!(
        b["principal"]["arn"],
        format!("arn:aws:iam::{}:user/alice", app.account_id)
    );
    assert!(b["principal"]["id"].as_str().unwrap().starts_with("AIDA"));
    assert_eq!(b["principal"]["type"], "User");
    assert_eq!(b["accessKeyId"], alice.key);
    assert_eq!(b["credentialType"], "long-term");
    assert!(b.get("encodedMessage").is_none());
    assert!(b.get("error").is_none());
    assert!(b["requestId"].is_string());

    // PUT with a body, forwarded as its hash and as the body itself.
    let put = client_request(&alice, "PUT", "/objects/b.txt", b"hello", t);
    for request in [put.clone(), {
        let mut with_body = put.clone();
        with_body.as_object_mut().unwrap().remove("body_sha256");
        with_body["body_base64"] = json!("aGVsbG8=");
        with_body
    }] {
        let r = authorize(
            &app,
            &svc,
            &ask(
                request,
                "example:PutObject",
                "arn:aws:example:::objects/b.txt",
            ),
        )
        .await;
        assert_eq!(r.body["allowed"], true, "{}", r.body);
    }
    // Another body under the same signature.
    let mut swapped = put.clone();
    swapped["body_sha256"] = json!(hex(&sha256(b"HELLO")));
    let r = authorize(
        &app,
        &svc,
        &ask(
            swapped,
            "example:PutObject",
            "arn:aws:example:::objects/b.txt",
        ),
    )
    .await;
    assert_eq!(r.status, 200);
    assert_eq!(r.body["allowed"], false);
    assert_eq!(r.body["error"]["code"], "SignatureDoesNotMatch");
    assert!(r.body.get("principal").is_none());

    // Explicit deny: the encoded message decodes (by a principal of the account allowed
    // sts:DecodeAuthorizationMessage) to the client's action and resource.
    let r = authorize(
        &app,
        &svc,
        &ask(
            client_request(&alice, "GET", "/objects/secret.txt", b"", t),
            "example:GetObject",
            "arn:aws:example:::objects/secret.txt",
        ),
    )
    .await;
    assert_eq!(r.status, 200);
    let b = &r.body;
    assert_eq!(b["allowed"], false, "{b}");
    assert_eq!(b["explicitDeny"], true);
    assert_eq!(
        b["principal"]["arn"],
        format!("arn:aws:iam::{}:user/alice", app.account_id)
    );
    let message = b["message"].as_str().unwrap();
    assert!(
        message.ends_with("with an explicit deny in an identity-based policy"),
        "{message}"
    );
    let m = decode(&app, &svc, b["encodedMessage"].as_str().unwrap()).await;
    assert_eq!(m["allowed"], false);
    assert_eq!(m["explicitDeny"], true);
    let st = &m["matchedStatements"]["items"][0];
    assert_eq!(st["statementId"], "VisualEditor0");
    assert_eq!(st["effect"], "DENY");
    assert_eq!(st["principals"]["items"][0]["value"], b["principal"]["id"]);
    assert_eq!(
        st["actions"]["items"][0]["value"],
        json!("example:GetObject")
    );
    assert_eq!(m["context"]["action"], "example:GetObject");
    assert_eq!(
        m["context"]["resource"],
        "arn:aws:example:::objects/secret.txt"
    );
    let keys: std::collections::HashMap<String, Value> = m["context"]["conditions"]["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| {
            (
                i["key"].as_str().unwrap().to_string(),
                i["values"]["items"][0]["value"].clone(),
            )
        })
        .collect();
    // The client's facts, not the resource server's.
    assert_eq!(keys["aws:SourceIp"], "203.0.113.7");
    assert_eq!(keys["aws:RequestedRegion"], "eu-west-3");
    assert_eq!(keys["aws:UserAgent"], "test-client/1.0");
    assert_eq!(keys["aws:username"], "alice");

    // Implicit deny (no statement allows DeleteObject).
    let r = authorize(
        &app,
        &svc,
        &ask(
            client_request(&alice, "DELETE", "/objects/a.txt", b"", t),
            "example:DeleteObject",
            "arn:aws:example:::objects/a.txt",
        ),
    )
    .await;
    assert_eq!(r.body["allowed"], false);
    assert_eq!(r.body["explicitDeny"], false);
    assert!(r.body["encodedMessage"].is_string());
    assert!(
        r.body["message"]
            .as_str()
            .unwrap()
            .contains("because no identity-based policy allows the example:DeleteObject action")
    );
}

#[tokio::test]
async fn context_keys_from_the_resource_server() {
    let app = spawn_app().await;
    let svc = user(&app, "svc", Some(POLICY_SERVICE)).await;
    let alice = user(&app, "alice", Some(POLICY_READER)).await;
    let t = now(&app);
    let req = |prefix: Option<Value>| {
        let mut v = ask(
            client_request(&alice, "GET", "/objects", b"", t),
            "example:ListObjects",
            "arn:aws:example:::objects",
        );
        if let Some(p) = prefix {
            v["context"] = json!({ "example:prefix": p });
        }
        v
    };
    for (prefix, allowed) in [
        (Some(json!(["public/"])), true),
        (Some(json!("public/")), true),
        (Some(json!(["private/"])), false),
        (None, false),
    ] {
        let r = authorize(&app, &svc, &req(prefix.clone())).await;
        assert_eq!(r.body["allowed"], allowed, "{prefix:?}: {}", r.body);
    }
    // Keys OpenSTS derives from the verified request cannot be supplied.
    for key in [
        "aws:PrincipalArn",
        "aws:userid",
        "AWS:SourceIp",
        "aws:MultiFactorAuthPresent",
        "aws:PrincipalTag/team",
    ] {
        let mut body = req(None);
        body["context"] = json!({ key: "x" });
        let r = authorize(&app, &svc, &body).await;
        assert_eq!(r.status, 400, "{key}: {}", r.body);
        assert_eq!(r.body["error"]["code"], "ValidationError");
    }
}

#[tokio::test]
async fn the_resource_server_needs_credentials_and_permission() {
    let app = spawn_app().await;
    let alice = user(&app, "alice", Some(POLICY_READER)).await;
    let nobody = user(&app, "nobody", None).await;
    let t = now(&app);
    let body = ask(
        client_request(&alice, "GET", "/objects/a.txt", b"", t),
        "example:GetObject",
        "arn:aws:example:::objects/a.txt",
    );

    // Unsigned.
    let r = authorize_at(&app, None, &body, t).await;
    assert_eq!(r.status, 403);
    assert_eq!(r.body["error"]["code"], "MissingAuthenticationToken");
    // Signed by a principal without opensts:AuthorizeRequest: AccessDenied with an encoded
    // message, like every OpenSTS denial.
    let r = authorize(&app, &nobody, &body).await;
    assert_eq!(r.status, 403);
    assert_eq!(r.body["error"]["code"], "AccessDenied");
    let msg = r.body["error"]["message"].as_str().unwrap();
    assert!(msg.contains("opensts:AuthorizeRequest"), "{msg}");
    assert!(
        msg.contains("Encoded authorization failure message: "),
        "{msg}"
    );
    // The account root may.
    let r = authorize(&app, &app.root(), &body).await;
    assert_eq!(r.body["allowed"], true, "{}", r.body);
    // A scope limited by opensts:SigningService.
    let svc = user(&app, "svc", Some(POLICY_SERVICE)).await;
    let mut s3 = body.clone();
    s3["service"] = json!("s3");
    let r = authorize(&app, &svc, &s3).await;
    assert_eq!(r.status, 403, "{}", r.body);
    // A scope limited by opensts:ClientAccount (the account of the verified client).
    let by_account = |acct: &str| {
        format!(
            r#"{{"Version":"2012-10-17","Statement":[{{"Effect":"Allow","Action":"opensts:AuthorizeRequest","Resource":"*","Condition":{{"StringEquals":{{"opensts:ClientAccount":"{acct}"}}}}}}]}}"#
        )
    };
    let mine = user(&app, "mine", Some(&by_account(&app.account_id))).await;
    let theirs = user(&app, "theirs", Some(&by_account("999999999999"))).await;
    let r = authorize(&app, &mine, &body).await;
    assert_eq!(r.body["allowed"], true, "{}", r.body);
    let r = authorize(&app, &theirs, &body).await;
    assert_eq!(r.status, 403, "{}", r.body);
    assert_eq!(r.body["error"]["code"], "AccessDenied");
    // A client request that does not verify has no account: the condition cannot match.
    let mut broken = body.clone();
    broken["request"]["path"] = json!("/objects/other.txt");
    let r = authorize(&app, &mine, &broken).await;
    assert_eq!(r.status, 403, "{}", r.body);
    let r = authorize(&app, &svc, &broken).await;
    assert_eq!(
        r.body["error"]["code"], "SignatureDoesNotMatch",
        "{}",
        r.body
    );
    // Signed for another service than opensts.
    let mut h = HeaderMap::new();
    h.insert("host", app.addr.to_string().parse().unwrap());
    let raw = body.to_string();
    sign_request(
        "POST",
        "/opensts/authorize",
        "",
        &mut h,
        raw.as_bytes(),
        &params(&svc, "sts", t),
    )
    .unwrap();
    let r = raw_post_path(&app, "/opensts/authorize", &h, &raw).await;
    assert_eq!(r.0, 403);
    assert_eq!(r.1["error"]["code"], "SignatureDoesNotMatch");
    // Malformed bodies.
    for bad in [
        json!({"request": body["request"], "service": "example", "action": "GetObject", "resource": "*"}),
        json!({"request": body["request"], "service": "opensts", "action": "a:b", "resource": "*"}),
        json!({"request": body["request"], "service": "example", "action": "a:b", "resource": "*", "extra": 1}),
        json!({"service": "example", "action": "a:b", "resource": "*"}),
    ] {
        let r = authorize(&app, &svc, &bad).await;
        assert_eq!(r.status, 400, "{bad}: {}", r.body);
        assert_eq!(r.body["error"]["code"], "ValidationError");
    }
}

async fn raw_post_path(app: &TestApp, path: &str, h: &HeaderMap, body: &str) -> (u16, Value) {
    let mut req = format!("POST {path} HTTP/1.1\r\n");
    for (k, v) in h {
        req.push_str(&format!("{}: {}\r\n", k, v.to_str().unwrap()));
    }
    req.push_str(&format!(
        "content-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    ));
    let mut s = tokio::net::TcpStream::connect(app.addr).await.unwrap();
    s.write_all(req.as_bytes()).await.unwrap();
    let mut out = Vec::new();
    s.read_to_end(&mut out).await.unwrap();
    let text = String::from_utf8_lossy(&out).to_string();
    let status = text
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let body = text.split_once("\r\n\r\n").map(|x| x.1).unwrap_or("");
    (status, serde_json::from_str(body).unwrap_or(Value::Null))
}

#[tokio::test]
async fn client_session_credentials_expire() {
    let app = spawn_app().await;
    let svc = user(&app, "svc", Some(POLICY_SERVICE)).await;
    let alice = user(&app, "alice", Some(POLICY_READER)).await;
    let r = app
        .sts(&alice, "Action=GetSessionToken&DurationSeconds=900")
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let session = session_creds(&r);
    let check = |t: i64| {
        ask(
            client_request(&session, "GET", "/objects/a.txt", b"", t),
            "example:GetObject",
            "arn:aws:example:::objects/a.txt",
        )
    };
    let r = authorize(&app, &svc, &check(now(&app))).await;
    assert_eq!(r.body["allowed"], true, "{}", r.body);
    assert_eq!(r.body["credentialType"], "session");
    assert_eq!(r.body["accessKeyId"], session.key);
    assert!(r.body["sessionExpiration"].as_str().unwrap().ends_with('Z'));
    // A tampered session token.
    let mut bad = Creds {
        key: session.key.clone(),
        secret: session.secret.clone(),
        token: session.token.clone(),
    };
    bad.token = bad.token.map(|t| format!("x{t}"));
    let r = authorize(
        &app,
        &svc,
        &ask(
            client_request(&bad, "GET", "/objects/a.txt", b"", now(&app)),
            "example:GetObject",
            "arn:aws:example:::objects/a.txt",
        ),
    )
    .await;
    assert_eq!(
        r.body["error"]["code"], "InvalidClientTokenId",
        "{}",
        r.body
    );

    app.clock.advance(899);
    let r = authorize(&app, &svc, &check(now(&app))).await;
    assert_eq!(r.body["allowed"], true, "{}", r.body);
    app.clock.advance(1);
    let r = authorize(&app, &svc, &check(now(&app))).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.body["allowed"], false);
    assert_eq!(r.body["error"]["code"], "ExpiredToken", "{}", r.body);
    assert_eq!(
        r.body["error"]["message"],
        "The security token included in the request is expired"
    );
    assert!(r.body.get("encodedMessage").is_none());
}

#[tokio::test]
async fn client_signatures_outside_the_window_or_for_another_service() {
    let app = spawn_app().await;
    let svc = user(&app, "svc", Some(POLICY_SERVICE)).await;
    let alice = user(&app, "alice", Some(POLICY_READER)).await;
    let t = now(&app);
    let old = ask(
        client_request(&alice, "GET", "/objects/a.txt", b"", t - 901),
        "example:GetObject",
        "arn:aws:example:::objects/a.txt",
    );
    let r = authorize(&app, &svc, &old).await;
    assert_eq!(r.body["error"]["code"], "SignatureDoesNotMatch");
    assert!(
        r.body["error"]["message"]
            .as_str()
            .unwrap()
            .starts_with("Signature expired")
    );
    // Signed for `example` but presented as `other`.
    let mut other = ask(
        client_request(&alice, "GET", "/objects/a.txt", b"", t),
        "example:GetObject",
        "arn:aws:example:::objects/a.txt",
    );
    other["service"] = json!("other");
    let r = authorize(&app, &svc, &other).await;
    assert_eq!(r.status, 403, "{}", r.body); // svc may only authorize `example`
    let r = authorize(&app, &app.root(), &other).await;
    assert_eq!(r.body["error"]["code"], "SignatureDoesNotMatch");
    // No auth material at all.
    let mut unsigned = old.clone();
    unsigned["request"]["headers"] = json!([["host", "objects.example.test:8443"]]);
    let r = authorize(&app, &svc, &unsigned).await;
    assert_eq!(r.body["error"]["code"], "MissingAuthenticationToken");
    // Unknown access key.
    let ghost = Creds {
        key: "AKIAGHOSTGHOSTGHOST2".into(),
        secret: "x".repeat(40),
        token: None,
    };
    let r = authorize(
        &app,
        &svc,
        &ask(
            client_request(&ghost, "GET", "/objects/a.txt", b"", t),
            "example:GetObject",
            "arn:aws:example:::objects/a.txt",
        ),
    )
    .await;
    assert_eq!(r.body["error"]["code"], "InvalidClientTokenId");
}

#[tokio::test]
async fn presigned_client_urls_live_for_x_amz_expires() {
    let app = spawn_app().await;
    let svc = user(&app, "svc", Some(POLICY_SERVICE)).await;
    let alice = user(&app, "alice", Some(POLICY_READER)).await;
    let t = now(&app);
    let q = presign_query(
        "GET",
        "objects.example.test",
        "/objects/a.txt",
        &[],
        &HeaderMap::new(),
        &params(&alice, "example", t),
        3600,
    )
    .unwrap();
    let body = ask(
        json!({
            "method": "GET",
            "path": "/objects/a.txt",
            "query": q,
            "headers": [["host", "objects.example.test"]],
        }),
        "example:GetObject",
        "arn:aws:example:::objects/a.txt",
    );
    let r = authorize(&app, &svc, &body).await;
    assert_eq!(r.body["allowed"], true, "{}", r.body);
    app.clock.advance(3600);
    let r = authorize(&app, &svc, &body).await;
    assert_eq!(r.body["allowed"], true, "{}", r.body);
    app.clock.advance(1);
    let r = authorize(&app, &svc, &body).await;
    assert_eq!(r.body["allowed"], false);
    assert_eq!(r.body["error"]["code"], "SignatureDoesNotMatch");
    assert!(
        r.body["error"]["message"]
            .as_str()
            .unwrap()
            .starts_with("Request has expired"),
        "{}",
        r.body
    );
}
