//! Vectors from the STS engineering spec: §7.3 (header and presigned GetCallerIdentity) and
//! the botocore AssumeRole capture of §6.1.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::{authenticate, header_map};
use http::HeaderMap;
use opensts_sigv4::{
    AuthLocation, Request, SigningParams, canonical_request, parse, parse_amz_date, presign_query,
    sign_request, string_to_sign,
};

const SECRET: &str = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";
const T_2015: &str = "20150830T123600Z";

fn sha256_hex(data: &[u8]) -> String {
    hex::encode(aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, data))
}

#[test]
fn spec_7_3_header_get_caller_identity() {
    let now = parse_amz_date(T_2015).unwrap();
    let body = b"Action=GetCallerIdentity&Version=2011-06-15";
    assert_eq!(
        sha256_hex(body),
        "ab821ae955788b0e33ebd34c208442ccfc2d406e2edc5e7a39bd6458fbb4f843"
    );

    // Our signer reproduces the spec's signature.
    let mut headers = header_map(&[
        ("host", "sts.amazonaws.com"),
        (
            "content-type",
            "application/x-www-form-urlencoded; charset=utf-8",
        ),
    ]);
    let params = SigningParams {
        access_key_id: "AKIDEXAMPLE",
        secret: SECRET,
        session_token: None,
        region: "us-east-1",
        service: "sts",
        time: now,
    };
    sign_request("POST", "/", "", &mut headers, body, &params).unwrap();
    assert_eq!(
        headers["authorization"],
        "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/sts/aws4_request, \
         SignedHeaders=content-type;host;x-amz-date, \
         Signature=6fb20d31f734d876c5682fdd2678d194cf68b862755f83b7ba1373c0874be25c"
    );
    assert_eq!(headers["x-amz-date"], T_2015);

    // And the verifier accepts it, with the documented intermediate values.
    let req = Request {
        method: "POST",
        path: "/",
        query: "",
        headers: &headers,
        body,
    };
    let p = authenticate(&req, "sts", now, SECRET).unwrap();
    assert_eq!(p.location, AuthLocation::Header);
    let creq = canonical_request(&p, &req).unwrap();
    assert_eq!(
        sha256_hex(&creq),
        "db0f231bd5fb16e6f5461c322c611c18d360f776c1ec9aea36032f7469ea7559"
    );
    assert!(
        string_to_sign(&p, &creq)
            .ends_with("db0f231bd5fb16e6f5461c322c611c18d360f776c1ec9aea36032f7469ea7559")
    );
}

const PRESIGNED_7_3: &str = "Action=GetCallerIdentity&Version=2011-06-15&X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=ASIDEXAMPLE%2F20150830%2Fus-east-1%2Fsts%2Faws4_request&X-Amz-Date=20150830T123600Z&X-Amz-Expires=900&X-Amz-SignedHeaders=host&X-Amz-Security-Token=SESSIONTOKEN&X-Amz-Signature=3dc34c37188e0e73f582b4d608911c6ee138dbf73fc99afb1f1ab456ea9dbe3b";

#[test]
fn spec_7_3_presigned_get_caller_identity() {
    let now = parse_amz_date(T_2015).unwrap();
    let headers = header_map(&[("host", "sts.amazonaws.com")]);
    let req = Request {
        method: "GET",
        path: "/",
        query: PRESIGNED_7_3,
        headers: &headers,
        body: b"",
    };
    let p = authenticate(&req, "sts", now, SECRET).unwrap();
    assert_eq!(p.location, AuthLocation::Query);
    assert_eq!(p.access_key_id, "ASIDEXAMPLE");
    assert_eq!(p.session_token.as_deref(), Some("SESSIONTOKEN"));
    assert_eq!(p.expires, Some(900));
    assert_eq!(p.signed_headers, vec!["host".to_string()]);

    // The token is part of the canonical query; the signature is not.
    let creq = String::from_utf8(canonical_request(&p, &req).unwrap()).unwrap();
    let query_line = creq.lines().nth(2).unwrap();
    assert!(query_line.contains("X-Amz-Security-Token=SESSIONTOKEN"));
    assert!(!query_line.contains("X-Amz-Signature"));

    // Our presigner produces the identical query string.
    let params = SigningParams {
        access_key_id: "ASIDEXAMPLE",
        secret: SECRET,
        session_token: Some("SESSIONTOKEN"),
        region: "us-east-1",
        service: "sts",
        time: now,
    };
    let q = presign_query(
        "GET",
        "sts.amazonaws.com",
        "/",
        &[("Action", "GetCallerIdentity"), ("Version", "2011-06-15")],
        &HeaderMap::new(),
        &params,
        900,
    )
    .unwrap();
    assert_eq!(q, PRESIGNED_7_3);
}

const ASSUME_ROLE_BODY: &str = "Action=AssumeRole&Version=2011-06-15&RoleArn=arn%3Aaws%3Aiam%3A%3A111122223333%3Arole%2Fdemo&RoleSessionName=alice-session&DurationSeconds=3600&ExternalId=ext-1234&PolicyArns.member.1.arn=arn%3Aaws%3Aiam%3A%3A111122223333%3Apolicy%2FReadOnlyS3&Tags.member.1.Key=Project&Tags.member.1.Value=Pegasus&Tags.member.2.Key=Cost-Center&Tags.member.2.Value=12345&TransitiveTagKeys.member.1=Project&SourceIdentity=alice";

#[test]
fn spec_6_1_botocore_assume_role_capture() {
    assert_eq!(ASSUME_ROLE_BODY.len(), 409);
    let headers = header_map(&[
        ("Host", "sts.us-east-1.amazonaws.com"),
        (
            "Content-Type",
            "application/x-www-form-urlencoded; charset=utf-8",
        ),
        ("X-Amz-Date", "20260115T093000Z"),
        (
            "Authorization",
            "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20260115/us-east-1/sts/aws4_request, SignedHeaders=content-type;host;x-amz-date, Signature=77b811076389b5310d795112e2094657c06a6e933b1f80553bd34b9c5a740b6b",
        ),
        (
            "amz-sdk-invocation-id",
            "0b3f4c2e-9a55-4f7e-8d2a-1c2d3e4f5a6b",
        ),
        ("amz-sdk-request", "attempt=1"),
        ("Content-Length", "409"),
        ("User-Agent", "Boto3/1.43.11 md/Botocore#1.43.11"),
    ]);
    let req = Request {
        method: "POST",
        path: "/",
        query: "",
        headers: &headers,
        body: ASSUME_ROLE_BODY.as_bytes(),
    };
    let now = parse_amz_date("20260115T093000Z").unwrap() + 5;
    let p = authenticate(&req, "sts", now, SECRET).unwrap();
    let creq = canonical_request(&p, &req).unwrap();
    assert_eq!(
        String::from_utf8(creq.clone()).unwrap(),
        "POST\n/\n\ncontent-type:application/x-www-form-urlencoded; charset=utf-8\nhost:sts.us-east-1.amazonaws.com\nx-amz-date:20260115T093000Z\n\ncontent-type;host;x-amz-date\n8efecabcee3c6b557943e36fbc6dbbe4c7a6b18100396ff6952ba52f55dcf79c"
    );
    assert_eq!(
        string_to_sign(&p, &creq),
        "AWS4-HMAC-SHA256\n20260115T093000Z\n20260115/us-east-1/sts/aws4_request\n4d94977412d975356c77aa11b39462b927e6592a34613984ec0b3bfedb5bfc79"
    );
}

#[test]
fn parse_is_deterministic() {
    // Parsing is pure: the same request parses to the same value twice.
    let headers = header_map(&[
        ("host", "sts.amazonaws.com"),
        ("x-amz-date", T_2015),
        (
            "authorization",
            "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/sts/aws4_request,SignedHeaders=host;x-amz-date,Signature=00",
        ),
    ]);
    let req = Request {
        method: "GET",
        path: "/",
        query: "",
        headers: &headers,
        body: b"",
    };
    assert_eq!(parse(&req).unwrap(), parse(&req).unwrap());
}
