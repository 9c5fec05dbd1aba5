//! `verify_with` (a body digest instead of the body, S3 canonical URIs) and
//! `check_scope_presigned` (S3's X-Amz-Expires window). The S3 vectors were produced by
//! botocore's `S3SigV4Auth` / `S3SigV4QueryAuth` (botocore 1.x, time fixed at
//! 2024-05-01T12:00:00Z, credentials AKIDEXAMPLE / wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::header_map;
use http::HeaderMap;
use opensts_sigv4::{
    EMPTY_PAYLOAD_SHA256, ErrorCode, MAX_PRESIGNED_EXPIRES_SECS, PayloadDigest, Request,
    SigningParams, UNSIGNED_PAYLOAD, VerifyOptions, check_scope, check_scope_presigned,
    derive_signing_key, parse, presign_query, sign_request, verify, verify_with,
};

const SECRET: &str = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";
/// 2024-05-01T12:00:00Z
const T: i64 = 1_714_564_800;

fn s3_put_headers() -> HeaderMap {
    header_map(&[
        ("content-type", "text/plain"),
        ("x-amz-date", "20240501T120000Z"),
        (
            "x-amz-content-sha256",
            "b94d27b9934d3e08a52e52d7da7dabfac484efe37a5380ee9088f7ace2efcde9",
        ),
        (
            "authorization",
            "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20240501/us-east-1/s3/aws4_request, SignedHeaders=content-type;host;x-amz-content-sha256;x-amz-date, Signature=4e6f77a7438c96b3110ff5d77669751a5cb6d39a1398de8642582d88efe16a18",
        ),
        ("content-length", "11"),
        ("host", "s3.local:9000"),
    ])
}

const S3_PUT_PATH: &str = "/bucket/my%20key//x.txt";
const HELLO_SHA256: &str = "b94d27b9934d3e08a52e52d7da7dabfac484efe37a5380ee9088f7ace2efcde9";

fn s3(payload: PayloadDigest<'_>) -> VerifyOptions<'_> {
    VerifyOptions {
        payload: Some(payload),
        s3_uri: true,
    }
}

fn check(
    req: &Request<'_>,
    opts: &VerifyOptions<'_>,
    service: &str,
) -> Result<(), opensts_sigv4::SigV4Error> {
    let p = parse(req)?.expect("auth material");
    check_scope_presigned(&p, service, T)?;
    let key = derive_signing_key(SECRET.as_bytes(), &p.scope_date, &p.region, &p.service);
    verify_with(&p, req, &key, opts)
}

#[test]
fn botocore_s3_put_verifies_with_the_body_digest_and_s3_uri() {
    let h = s3_put_headers();
    let req = Request {
        method: "PUT",
        path: S3_PUT_PATH,
        query: "",
        headers: &h,
        body: b"",
    };
    // Digest of the body the service received: verifies without the body.
    check(&req, &s3(PayloadDigest::Sha256Hex(HELLO_SHA256)), "s3").unwrap();
    check(
        &req,
        &s3(PayloadDigest::Sha256Hex(&HELLO_SHA256.to_ascii_uppercase())),
        "s3",
    )
    .unwrap();
    // The body itself, S3 URI rules.
    let with_body = Request {
        body: b"hello world",
        ..req
    };
    check(
        &with_body,
        &VerifyOptions {
            payload: None,
            s3_uri: true,
        },
        "s3",
    )
    .unwrap();
    // Unverified: the header is taken as is (the service checks the body itself).
    check(&req, &s3(PayloadDigest::Unverified), "s3").unwrap();

    // Another body: the header no longer describes it.
    let e = check(
        &req,
        &s3(PayloadDigest::Sha256Hex(EMPTY_PAYLOAD_SHA256)),
        "s3",
    )
    .unwrap_err();
    assert_eq!(e.code, ErrorCode::SignatureDoesNotMatch);
    assert!(e.message.contains("x-amz-content-sha256"), "{}", e.message);
    // Not a digest.
    let e = check(&req, &s3(PayloadDigest::Sha256Hex("abc")), "s3").unwrap_err();
    assert_eq!(e.code, ErrorCode::SignatureDoesNotMatch);
    // Non-S3 URI rules (normalized, encoded again) give another canonical request.
    let e = check(
        &req,
        &VerifyOptions {
            payload: Some(PayloadDigest::Sha256Hex(HELLO_SHA256)),
            s3_uri: false,
        },
        "s3",
    )
    .unwrap_err();
    assert_eq!(e.code, ErrorCode::SignatureDoesNotMatch);
}

const PRESIGNED_QUERY: &str = "X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIDEXAMPLE%2F20240501%2Fus-east-1%2Fs3%2Faws4_request&X-Amz-Date=20240501T120000Z&X-Amz-Expires=3600&X-Amz-SignedHeaders=host&X-Amz-Signature=e9b8836731cfa20f872fbb2af72f2082aab30568e3fec533710d072694fc0436";

#[test]
fn botocore_s3_presigned_get_and_its_expiry() {
    let h = header_map(&[("host", "s3.local:9000")]);
    let req = Request {
        method: "GET",
        path: "/bucket/a%2Bb/c",
        query: PRESIGNED_QUERY,
        headers: &h,
        body: b"",
    };
    let p = parse(&req).unwrap().unwrap();
    let key = derive_signing_key(SECRET.as_bytes(), &p.scope_date, &p.region, &p.service);
    for payload in [
        None,
        Some(PayloadDigest::Sha256Hex(EMPTY_PAYLOAD_SHA256)),
        Some(PayloadDigest::Unverified),
    ] {
        let opts = VerifyOptions {
            payload,
            s3_uri: true,
        };
        verify_with(&p, &req, &key, &opts).unwrap();
    }
    // Valid for X-Amz-Expires (3600 s), not only for the ±15 minute window.
    check_scope_presigned(&p, "s3", T + 3600).unwrap();
    assert!(check_scope(&p, "s3", T + 3600).is_err());
    let e = check_scope_presigned(&p, "s3", T + 3601).unwrap_err();
    assert_eq!(e.code, ErrorCode::SignatureDoesNotMatch);
    assert!(
        e.message.starts_with("Request has expired"),
        "{}",
        e.message
    );
    // From the future: the usual 15 minutes of skew.
    check_scope_presigned(&p, "s3", T - 900).unwrap();
    let e = check_scope_presigned(&p, "s3", T - 901).unwrap_err();
    assert!(
        e.message.starts_with("Signature not yet current"),
        "{}",
        e.message
    );
    // Scope still checked.
    let e = check_scope_presigned(&p, "example", T).unwrap_err();
    assert!(e.message.contains("correct service"), "{}", e.message);
}

#[test]
fn presigned_expiry_is_capped_at_seven_days() {
    let h = header_map(&[("host", "svc.local")]);
    let params = SigningParams {
        access_key_id: "AKIDEXAMPLE",
        secret: SECRET,
        session_token: None,
        region: "us-east-1",
        service: "example",
        time: T,
    };
    for (expires, ok) in [
        (MAX_PRESIGNED_EXPIRES_SECS, true),
        (MAX_PRESIGNED_EXPIRES_SECS + 1, false),
    ] {
        let q = presign_query(
            "GET",
            "svc.local",
            "/x",
            &[],
            &HeaderMap::new(),
            &params,
            expires,
        )
        .unwrap();
        let req = Request {
            method: "GET",
            path: "/x",
            query: &q,
            headers: &h,
            body: b"",
        };
        let p = parse(&req).unwrap().unwrap();
        let r = check_scope_presigned(&p, "example", T + 86_400);
        assert_eq!(r.is_ok(), ok, "{expires}: {r:?}");
        if !ok {
            assert_eq!(r.unwrap_err().code, ErrorCode::IncompleteSignature);
        }
    }
}

#[test]
fn header_signed_requests_keep_the_fixed_window() {
    let mut h = header_map(&[("host", "svc.local")]);
    let params = SigningParams {
        access_key_id: "AKIDEXAMPLE",
        secret: SECRET,
        session_token: None,
        region: "us-east-1",
        service: "example",
        time: T,
    };
    sign_request("GET", "/x", "", &mut h, b"", &params).unwrap();
    let req = Request {
        method: "GET",
        path: "/x",
        query: "",
        headers: &h,
        body: b"",
    };
    let p = parse(&req).unwrap().unwrap();
    check_scope_presigned(&p, "example", T + 900).unwrap();
    assert!(check_scope_presigned(&p, "example", T + 901).is_err());
}

#[test]
fn digest_rules_match_the_body_rules() {
    let params = SigningParams {
        access_key_id: "AKIDEXAMPLE",
        secret: SECRET,
        session_token: None,
        region: "us-east-1",
        service: "example",
        time: T,
    };
    let key = derive_signing_key(SECRET.as_bytes(), "20240501", "us-east-1", "example");
    let body = b"{\"a\":1}";
    let digest = hex::encode(sha256(body));

    // No X-Amz-Content-Sha256 header: the signature covers the body's hash.
    let mut h = header_map(&[("host", "svc.local"), ("content-type", "application/json")]);
    sign_request("POST", "/objects/a", "x=1", &mut h, body, &params).unwrap();
    let req = Request {
        method: "POST",
        path: "/objects/a",
        query: "x=1",
        headers: &h,
        body,
    };
    let p = parse(&req).unwrap().unwrap();
    verify(&p, &req, &key).unwrap();
    let no_body = Request { body: b"", ..req };
    fn with(d: PayloadDigest<'_>) -> VerifyOptions<'_> {
        VerifyOptions {
            payload: Some(d),
            s3_uri: false,
        }
    }
    verify_with(&p, &no_body, &key, &with(PayloadDigest::Sha256Hex(&digest))).unwrap();
    // Another body's digest fails; so does "unverified" (the client signed the real hash).
    assert!(
        verify_with(
            &p,
            &no_body,
            &key,
            &with(PayloadDigest::Sha256Hex(EMPTY_PAYLOAD_SHA256))
        )
        .is_err()
    );
    assert!(verify_with(&p, &no_body, &key, &with(PayloadDigest::Unverified)).is_err());

    // UNSIGNED-PAYLOAD header: only for the empty body when a digest is given.
    let mut h = header_map(&[
        ("host", "svc.local"),
        ("x-amz-content-sha256", UNSIGNED_PAYLOAD),
    ]);
    sign_request("GET", "/objects/a", "", &mut h, b"", &params).unwrap();
    let req = Request {
        method: "GET",
        path: "/objects/a",
        query: "",
        headers: &h,
        body: b"",
    };
    let p = parse(&req).unwrap().unwrap();
    verify_with(
        &p,
        &req,
        &key,
        &with(PayloadDigest::Sha256Hex(EMPTY_PAYLOAD_SHA256)),
    )
    .unwrap();
    let e = verify_with(&p, &req, &key, &with(PayloadDigest::Sha256Hex(&digest))).unwrap_err();
    assert_eq!(e.code, ErrorCode::SignatureDoesNotMatch);
    verify_with(&p, &req, &key, &with(PayloadDigest::Unverified)).unwrap();
}

fn sha256(body: &[u8]) -> Vec<u8> {
    aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, body)
        .as_ref()
        .to_vec()
}
