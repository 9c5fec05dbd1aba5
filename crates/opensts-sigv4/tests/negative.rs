//! Refusals: each with the AWS code and the exact message.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::{authenticate, header_map};
use http::{HeaderMap, HeaderValue};
use opensts_sigv4::{
    AuthLocation, ErrorCode, MSG_CONTENT_SHA256_MISMATCH, MSG_SIGNATURE_DOES_NOT_MATCH, Request,
    SigV4Error, SigningKey, SigningParams, check_scope, derive_signing_key, parse, parse_amz_date,
    presign_query, sign_request, verify,
};

const SECRET: &str = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";
const BODY: &[u8] = b"Action=GetCallerIdentity&Version=2011-06-15";
const AMZ_DATE: &str = "20150830T123600Z";

fn t0() -> i64 {
    parse_amz_date(AMZ_DATE).unwrap()
}

fn params(token: Option<&'static str>) -> SigningParams<'static> {
    SigningParams {
        access_key_id: if token.is_some() {
            "ASIAEXAMPLE"
        } else {
            "AKIDEXAMPLE"
        },
        secret: SECRET,
        session_token: token,
        region: "us-east-1",
        service: "sts",
        time: t0(),
    }
}

/// A POST signed by our signer at t0.
fn signed_post() -> HeaderMap {
    let mut h = header_map(&[
        ("host", "sts.amazonaws.com"),
        (
            "content-type",
            "application/x-www-form-urlencoded; charset=utf-8",
        ),
    ]);
    sign_request("POST", "/", "", &mut h, BODY, &params(None)).unwrap();
    h
}

fn post(headers: &HeaderMap) -> Request<'_> {
    Request {
        method: "POST",
        path: "/",
        query: "",
        headers,
        body: BODY,
    }
}

fn with_auth(auth: &str) -> HeaderMap {
    header_map(&[
        ("host", "sts.amazonaws.com"),
        ("x-amz-date", AMZ_DATE),
        ("authorization", auth),
    ])
}

fn parse_err(headers: &HeaderMap, query: &str) -> SigV4Error {
    let req = Request {
        method: "GET",
        path: "/",
        query,
        headers,
        body: b"",
    };
    parse(&req).expect_err("parse must fail")
}

fn assert_err(e: &SigV4Error, code: ErrorCode, message: &str) {
    assert_eq!(e.code, code, "{e}");
    assert_eq!(e.message, message);
    assert_eq!(
        e.http_status(),
        if code == ErrorCode::IncompleteSignature {
            400
        } else {
            403
        }
    );
}

#[test]
fn baseline_verifies() {
    let h = signed_post();
    let p = authenticate(&post(&h), "sts", t0(), SECRET).unwrap();
    assert_eq!(p.location, AuthLocation::Header);
    assert_eq!(p.signed_headers, ["content-type", "host", "x-amz-date"]);
}

#[test]
fn wrong_secret() {
    let h = signed_post();
    let e = authenticate(&post(&h), "sts", t0(), "not-the-secret").unwrap_err();
    assert_err(
        &e,
        ErrorCode::SignatureDoesNotMatch,
        MSG_SIGNATURE_DOES_NOT_MATCH,
    );
}

#[test]
fn key_for_another_scope_does_not_verify() {
    let h = signed_post();
    let req = post(&h);
    let p = parse(&req).unwrap().unwrap();
    for (date, region, service) in [
        ("20150831", "us-east-1", "sts"),
        ("20150830", "us-west-2", "sts"),
        ("20150830", "us-east-1", "iam"),
    ] {
        let key = derive_signing_key(SECRET.as_bytes(), date, region, service);
        assert_eq!(
            verify(&p, &req, &key).unwrap_err().code,
            ErrorCode::SignatureDoesNotMatch
        );
    }
    let key = derive_signing_key(SECRET.as_bytes(), "20150830", "us-east-1", "sts");
    verify(&p, &req, &key).unwrap();
    // A key made elsewhere from the same bytes works the same (verify never re-derives).
    verify(&p, &req, &SigningKey::from_bytes(*key.as_bytes())).unwrap();
}

#[test]
fn wrong_service_scope() {
    let h = signed_post();
    let e = authenticate(&post(&h), "iam", t0(), SECRET).unwrap_err();
    assert_err(
        &e,
        ErrorCode::SignatureDoesNotMatch,
        "Credential should be scoped to correct service: 'iam'. ",
    );
}

#[test]
fn clock_skew_both_ways() {
    let h = signed_post();
    let req = post(&h);
    let p = parse(&req).unwrap().unwrap();
    // Exactly 15 minutes either way is still fine.
    check_scope(&p, "sts", t0() + 900).unwrap();
    check_scope(&p, "sts", t0() - 900).unwrap();
    assert!(check_scope(&p, "sts", t0() + 901).is_err());
    assert!(check_scope(&p, "sts", t0() - 901).is_err());

    // Server clock 16 minutes ahead: the request is too old.
    let e = check_scope(&p, "sts", t0() + 16 * 60).unwrap_err();
    assert_err(
        &e,
        ErrorCode::SignatureDoesNotMatch,
        "Signature expired: 20150830T123600Z is now earlier than 20150830T123700Z (20150830T125200Z - 15 min.)",
    );
    // Server clock 16 minutes behind: the request is from the future.
    let e = check_scope(&p, "sts", t0() - 16 * 60).unwrap_err();
    assert_err(
        &e,
        ErrorCode::SignatureDoesNotMatch,
        "Signature not yet current: 20150830T123600Z is still later than 20150830T123500Z (20150830T122000Z + 15 min.)",
    );
}

#[test]
fn skew_reported_in_aws_format_of_spec() {
    // The example of the spec (aws-cli#6676): 20160609T184512Z vs now 20160610T014508Z.
    let h = header_map(&[
        ("host", "sts.amazonaws.com"),
        ("x-amz-date", "20160609T184512Z"),
        (
            "authorization",
            "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20160609/us-east-1/sts/aws4_request, SignedHeaders=host;x-amz-date, Signature=0000000000000000000000000000000000000000000000000000000000000000",
        ),
    ]);
    let req = post(&h);
    let p = parse(&req).unwrap().unwrap();
    let now = parse_amz_date("20160610T014508Z").unwrap();
    assert_eq!(
        check_scope(&p, "sts", now).unwrap_err().message,
        "Signature expired: 20160609T184512Z is now earlier than 20160610T013008Z (20160610T014508Z - 15 min.)"
    );
}

#[test]
fn malformed_authorization_headers() {
    let auth = "AWS4-HMAC-SHA256 Credential= AKIDEXAMPLE/20150830/us-east-1/sts/aws4_request, SignedHeaders=host;x-amz-date, Signature=abc";
    assert_err(
        &parse_err(&with_auth(auth), ""),
        ErrorCode::IncompleteSignature,
        &format!(
            "'AKIDEXAMPLE/20150830/us-east-1/sts/aws4_request' not a valid key=value pair (missing equal-sign) in Authorization header: '{auth}'."
        ),
    );

    let auth = "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/sts/aws4_request, SignedHeaders=host;x-amz-date";
    assert_err(
        &parse_err(&with_auth(auth), ""),
        ErrorCode::IncompleteSignature,
        &format!("Authorization header requires 'Signature' parameter. Authorization={auth}"),
    );

    let auth =
        "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/sts/aws4_request, Signature=";
    assert_err(
        &parse_err(&with_auth(auth), ""),
        ErrorCode::IncompleteSignature,
        &format!(
            "Authorization header requires 'Signature' parameter. Authorization header requires 'SignedHeaders' parameter. Authorization={auth}"
        ),
    );

    // Everything missing, including the date.
    let h = header_map(&[
        ("host", "sts.amazonaws.com"),
        ("authorization", "AWS4-HMAC-SHA256"),
    ]);
    assert_err(
        &parse_err(&h, ""),
        ErrorCode::IncompleteSignature,
        "Authorization header requires 'Credential' parameter. Authorization header requires 'Signature' parameter. Authorization header requires 'SignedHeaders' parameter. Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header. Authorization=AWS4-HMAC-SHA256",
    );

    // Unknown algorithms (SigV4A included).
    for alg in ["AWS4-HMAC-SHA512", "AWS4-ECDSA-P256-SHA256"] {
        let auth = format!(
            "{alg} Credential=AKIDEXAMPLE/20150830/us-east-1/sts/aws4_request, SignedHeaders=host;x-amz-date, Signature=abc"
        );
        assert_err(
            &parse_err(&with_auth(&auth), ""),
            ErrorCode::IncompleteSignature,
            &format!("Unsupported AWS 'algorithm': '{alg}' (only AWS4-HMAC-SHA256 for now). "),
        );
    }

    // Credential shape.
    let auth = "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/sts, SignedHeaders=host;x-amz-date, Signature=abc";
    assert_err(
        &parse_err(&with_auth(auth), ""),
        ErrorCode::IncompleteSignature,
        "Credential must have exactly 5 slash-delimited elements, e.g. keyid/date/region/service/term, got 'AKIDEXAMPLE/20150830/us-east-1/sts'",
    );
    let auth = "AWS4-HMAC-SHA256 Credential=A/B/20150830/us-east-1/sts/aws4_request, SignedHeaders=host;x-amz-date, Signature=abc";
    assert_eq!(
        parse_err(&with_auth(auth), "").code,
        ErrorCode::IncompleteSignature
    );

    // Bad dates.
    let mut h = with_auth(
        "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/sts/aws4_request, SignedHeaders=host;x-amz-date, Signature=abc",
    );
    h.insert(
        "x-amz-date",
        HeaderValue::from_static("2015-08-30T12:36:00Z"),
    );
    assert_err(
        &parse_err(&h, ""),
        ErrorCode::IncompleteSignature,
        "Date must be in ISO-8601 'basic format'. Got '2015-08-30T12:36:00Z'. See http://en.wikipedia.org/wiki/ISO_8601",
    );
    h.remove("x-amz-date");
    h.insert("date", HeaderValue::from_static("yesterday"));
    assert_eq!(parse_err(&h, "").code, ErrorCode::IncompleteSignature);

    // Two Authorization headers.
    let mut h = signed_post();
    let again = h["authorization"].clone();
    h.append("authorization", again);
    assert_eq!(parse_err(&h, "").code, ErrorCode::IncompleteSignature);
}

#[test]
fn tolerant_separators() {
    // No space after commas, extra spaces and tabs: all the same header.
    let good = signed_post();
    let auth = good["authorization"].to_str().unwrap().to_string();
    for variant in [
        auth.replace(", ", ","),
        auth.replace(", ", " ,  \t"),
        format!("  {auth}  "),
        auth.replace("AWS4-HMAC-SHA256 ", "AWS4-HMAC-SHA256\t"),
    ] {
        let mut h = good.clone();
        h.insert("authorization", HeaderValue::from_str(&variant).unwrap());
        authenticate(&post(&h), "sts", t0(), SECRET).unwrap_or_else(|e| panic!("{variant}: {e}"));
    }
}

#[test]
fn no_auth_material() {
    let h = header_map(&[("host", "sts.amazonaws.com")]);
    let req = Request {
        method: "POST",
        path: "/",
        query: "",
        headers: &h,
        body: BODY,
    };
    assert_eq!(parse(&req).unwrap(), None);
    // Not SigV4: AWS answers MissingAuthenticationToken, so this is "no auth material".
    for auth in [
        "Bearer abc",
        "AWS AKIDEXAMPLE:c2lnbmF0dXJl",
        "",
        "aws4-hmac-sha256 x=y",
    ] {
        let h = header_map(&[("host", "sts.amazonaws.com"), ("authorization", auth)]);
        let req = Request {
            method: "POST",
            path: "/",
            query: "",
            headers: &h,
            body: BODY,
        };
        assert_eq!(parse(&req).unwrap(), None, "{auth}");
    }
    // X-Amz-* query parameters without X-Amz-Algorithm are not query auth either.
    let req = Request {
        method: "GET",
        path: "/",
        query: "X-Amz-Credential=a&X-Amz-Signature=b",
        headers: &h,
        body: b"",
    };
    assert_eq!(parse(&req).unwrap(), None);
}

#[test]
fn header_and_query_auth_together() {
    let h = signed_post();
    let e = parse_err(&h, "X-Amz-Algorithm=AWS4-HMAC-SHA256");
    assert_err(
        &e,
        ErrorCode::SignatureDoesNotMatch,
        "Found both 'X-Amz-Algorithm' as a query-string param and 'Authorization' as HTTP header.",
    );
}

#[test]
fn host_must_be_signed() {
    let mut h = header_map(&[("host", "sts.amazonaws.com")]);
    sign_request("POST", "/", "", &mut h, BODY, &params(None)).unwrap();
    let auth = h["authorization"]
        .to_str()
        .unwrap()
        .replace("SignedHeaders=host;x-amz-date", "SignedHeaders=x-amz-date");
    h.insert("authorization", HeaderValue::from_str(&auth).unwrap());
    let req = post(&h);
    let p = parse(&req).unwrap().unwrap();
    let msg = "'Host' must be a 'SignedHeader' in the AWS Authorization.";
    assert_err(
        &check_scope(&p, "sts", t0()).unwrap_err(),
        ErrorCode::SignatureDoesNotMatch,
        msg,
    );
    let key = derive_signing_key(SECRET.as_bytes(), "20150830", "us-east-1", "sts");
    assert_err(
        &verify(&p, &req, &key).unwrap_err(),
        ErrorCode::SignatureDoesNotMatch,
        msg,
    );
    // Case-insensitive, like AWS.
    let auth = auth.replace("SignedHeaders=x-amz-date", "SignedHeaders=Host;x-amz-date");
    h.insert("authorization", HeaderValue::from_str(&auth).unwrap());
    let p = parse(&post(&h)).unwrap().unwrap();
    check_scope(&p, "sts", t0()).unwrap();
}

#[test]
fn bad_scope_pieces_reported_together() {
    let h = with_auth(
        "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150829/US_EAST/s3/aws4_req, SignedHeaders=host;x-amz-date, Signature=abc",
    );
    let req = post(&h);
    let p = parse(&req).unwrap().unwrap();
    assert_err(
        &check_scope(&p, "sts", t0()).unwrap_err(),
        ErrorCode::SignatureDoesNotMatch,
        "Credential should be scoped to a valid region, not 'US_EAST'. Credential should be scoped to correct service: 'sts'. Credential should be scoped with a valid terminator: 'aws4_request', not 'aws4_req'. Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP: '20150829' != '20150830', from '20150830T123600Z'.",
    );
    let h = with_auth(
        "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/xx_yy/sts/aws4_request, SignedHeaders=host;x-amz-date, Signature=abc",
    );
    let p = parse(&post(&h)).unwrap().unwrap();
    assert_err(
        &check_scope(&p, "sts", t0()).unwrap_err(),
        ErrorCode::SignatureDoesNotMatch,
        "Credential should be scoped to a valid region, not 'xx_yy'. ",
    );
    // Any syntactically valid region is accepted; trailing slashes on the credential too.
    let h = with_auth(
        "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/my-dc-1/sts/aws4_request//, SignedHeaders=host;x-amz-date, Signature=abc",
    );
    let p = parse(&post(&h)).unwrap().unwrap();
    assert_eq!(p.region, "my-dc-1");
    check_scope(&p, "sts", t0()).unwrap();
}

#[test]
fn signature_format() {
    let good = signed_post();
    let auth = good["authorization"].to_str().unwrap().to_string();
    let sig = auth.rsplit('=').next().unwrap().to_string();
    for bad in [
        sig.to_uppercase(),
        sig[..63].to_string(),
        format!("{sig}0"),
        format!("{}g", &sig[..63]),
    ] {
        let mut h = good.clone();
        h.insert(
            "authorization",
            HeaderValue::from_str(&auth.replace(&sig, &bad)).unwrap(),
        );
        let e = authenticate(&post(&h), "sts", t0(), SECRET).unwrap_err();
        assert_err(
            &e,
            ErrorCode::SignatureDoesNotMatch,
            MSG_SIGNATURE_DOES_NOT_MATCH,
        );
    }
}

#[test]
fn tampering() {
    let good = signed_post();
    // Body.
    let req = Request {
        body: b"Action=GetCallerIdentity&Version=2011-06-16",
        ..post(&good)
    };
    assert_eq!(
        authenticate(&req, "sts", t0(), SECRET).unwrap_err().code,
        ErrorCode::SignatureDoesNotMatch
    );
    // Query added.
    let req = Request {
        query: "Action=AssumeRole",
        ..post(&good)
    };
    assert!(authenticate(&req, "sts", t0(), SECRET).is_err());
    // Path.
    let req = Request {
        path: "/x",
        ..post(&good)
    };
    assert!(authenticate(&req, "sts", t0(), SECRET).is_err());
    // Method.
    let req = Request {
        method: "PUT",
        ..post(&good)
    };
    assert!(authenticate(&req, "sts", t0(), SECRET).is_err());
    // Signed header changed; a second value appended.
    let mut h = good.clone();
    h.insert("content-type", HeaderValue::from_static("text/plain"));
    assert!(authenticate(&post(&h), "sts", t0(), SECRET).is_err());
    let mut h = good.clone();
    h.append("host", HeaderValue::from_static("evil.example"));
    assert!(authenticate(&post(&h), "sts", t0(), SECRET).is_err());
    // Unsigned headers may change; whitespace inside signed values is canonicalized away.
    let mut h = good.clone();
    h.insert("user-agent", HeaderValue::from_static("anything"));
    h.insert(
        "content-type",
        HeaderValue::from_static("  application/x-www-form-urlencoded;   charset=utf-8 "),
    );
    authenticate(&post(&h), "sts", t0(), SECRET).unwrap();
}

#[test]
fn content_sha256_header_must_describe_the_body() {
    let good = signed_post();
    let body_hash = "ab821ae955788b0e33ebd34c208442ccfc2d406e2edc5e7a39bd6458fbb4f843";
    // Present but not signed: accepted when it is the body's hash.
    let mut h = good.clone();
    h.insert("x-amz-content-sha256", HeaderValue::from_static(body_hash));
    authenticate(&post(&h), "sts", t0(), SECRET).unwrap();
    // It is used verbatim (as botocore does): the uppercase spelling describes the body but is
    // not what this client signed.
    let mut h = good.clone();
    h.insert(
        "x-amz-content-sha256",
        HeaderValue::from_str(&body_hash.to_uppercase()).unwrap(),
    );
    assert_err(
        &authenticate(&post(&h), "sts", t0(), SECRET).unwrap_err(),
        ErrorCode::SignatureDoesNotMatch,
        MSG_SIGNATURE_DOES_NOT_MATCH,
    );
    // Anything else is refused before the signature is even computed.
    for v in [
        "UNSIGNED-PAYLOAD",
        "STREAMING-AWS4-HMAC-SHA256-PAYLOAD",
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
        "nope",
    ] {
        let mut h = good.clone();
        h.insert("x-amz-content-sha256", HeaderValue::from_static(v));
        assert_err(
            &authenticate(&post(&h), "sts", t0(), SECRET).unwrap_err(),
            ErrorCode::SignatureDoesNotMatch,
            MSG_CONTENT_SHA256_MISMATCH,
        );
    }
    // Signed together with a swapped body: still refused.
    let mut h = header_map(&[
        ("host", "sts.amazonaws.com"),
        ("x-amz-content-sha256", body_hash),
    ]);
    sign_request("POST", "/", "", &mut h, BODY, &params(None)).unwrap();
    let req = Request {
        body: b"Action=AssumeRole",
        ..post(&h)
    };
    assert_err(
        &authenticate(&req, "sts", t0(), SECRET).unwrap_err(),
        ErrorCode::SignatureDoesNotMatch,
        MSG_CONTENT_SHA256_MISMATCH,
    );
    authenticate(&post(&h), "sts", t0(), SECRET).unwrap();
}

fn presigned(token: Option<&'static str>) -> String {
    presign_query(
        "GET",
        "sts.amazonaws.com",
        "/",
        &[("Action", "GetCallerIdentity"), ("Version", "2011-06-15")],
        &HeaderMap::new(),
        &params(token),
        900,
    )
    .unwrap()
}

#[test]
fn presigned_refusals() {
    let h = header_map(&[("host", "sts.amazonaws.com")]);
    let get = |q: &str| -> Result<(), SigV4Error> {
        let req = Request {
            method: "GET",
            path: "/",
            query: q,
            headers: &h,
            body: b"",
        };
        authenticate(&req, "sts", t0(), SECRET).map(|_| ())
    };
    let q = presigned(Some("TOKEN"));
    get(&q).unwrap();

    // Missing parameters, listed together.
    let stripped: String = q
        .split('&')
        .filter(|kv| !kv.starts_with("X-Amz-Credential=") && !kv.starts_with("X-Amz-Signature="))
        .collect::<Vec<_>>()
        .join("&");
    let req = Request {
        method: "GET",
        path: "/",
        query: &stripped,
        headers: &h,
        body: b"",
    };
    assert_err(
        &parse(&req).unwrap_err(),
        ErrorCode::IncompleteSignature,
        "AWS query-string parameters must include 'X-Amz-Credential'. AWS query-string parameters must include 'X-Amz-Signature'. Re-examine the query-string parameters.",
    );
    // Repeated parameter.
    assert_eq!(
        parse_err(&h, &format!("{q}&X-Amz-Date={AMZ_DATE}")).code,
        ErrorCode::IncompleteSignature
    );
    // X-Amz-Expires must be a number (its value is otherwise ignored).
    assert_err(
        &parse_err(&h, &q.replace("X-Amz-Expires=900", "X-Amz-Expires=soon")),
        ErrorCode::IncompleteSignature,
        "X-Amz-Expires should be a number",
    );
    // The session token is signed: changing or dropping it breaks the signature.
    assert!(get(&q.replace("X-Amz-Security-Token=TOKEN", "X-Amz-Security-Token=TOKEM")).is_err());
    let no_token = q.replace("&X-Amz-Security-Token=TOKEN", "");
    assert!(get(&no_token).is_err());
    // Extra or changed operation parameters break it too.
    assert!(get(&format!("{q}&RoleArn=x")).is_err());
    assert!(get(&q.replace("Version=2011-06-15", "Version=2011-06-16")).is_err());
    // A body cannot be attached to a presigned request.
    let req = Request {
        method: "GET",
        path: "/",
        query: &q,
        headers: &h,
        body: b"Action=AssumeRole",
    };
    assert!(authenticate(&req, "sts", t0(), SECRET).is_err());
    // X-Amz-Expires is ignored: a 1-second expiry is still valid 10 minutes later, and the
    // 15 minute window still applies to a week-long expiry.
    let q1 = q.replace("X-Amz-Expires=900", "X-Amz-Expires=1");
    let req = Request {
        method: "GET",
        path: "/",
        query: &q1,
        headers: &h,
        body: b"",
    };
    let p = parse(&req).unwrap().unwrap();
    assert_eq!(p.expires, Some(1));
    check_scope(&p, "sts", t0() + 600).unwrap();
    assert!(check_scope(&p, "sts", t0() + 16 * 60).is_err());
}

#[test]
fn session_token_locations() {
    // Header auth with the token header not signed (AWS test suite "post-sts-header-after").
    let mut h = signed_post();
    h.insert("x-amz-security-token", HeaderValue::from_static("TOK"));
    let p = authenticate(&post(&h), "sts", t0(), SECRET).unwrap();
    assert_eq!(p.session_token.as_deref(), Some("TOK"));
    assert!(!p.is_header_signed("x-amz-security-token"));

    // Signed by our signer when the params carry one.
    let mut h = header_map(&[("host", "sts.amazonaws.com")]);
    sign_request("POST", "/", "", &mut h, BODY, &params(Some("TOK+/="))).unwrap();
    let p = authenticate(&post(&h), "sts", t0(), SECRET).unwrap();
    assert_eq!(p.session_token.as_deref(), Some("TOK+/="));
    assert!(p.is_header_signed("x-amz-security-token"));

    // Presigned: decoded from the query.
    let q = presigned(Some("a+b/c=="));
    assert!(q.contains("X-Amz-Security-Token=a%2Bb%2Fc%3D%3D"));
    let h = header_map(&[("host", "sts.amazonaws.com")]);
    let req = Request {
        method: "GET",
        path: "/",
        query: &q,
        headers: &h,
        body: b"",
    };
    let p = authenticate(&req, "sts", t0(), SECRET).unwrap();
    assert_eq!(p.session_token.as_deref(), Some("a+b/c=="));
    assert!(format!("{p:?}").contains("<redacted>"));
    assert!(!format!("{p:?}").contains("a+b/c=="));
}

#[test]
fn presigned_unsigned_payload_variant() {
    // An S3-style presigner puts UNSIGNED-PAYLOAD in the canonical request. Build one by hand:
    // sign the same canonical request with UNSIGNED-PAYLOAD as the payload line.
    let q = presigned(None);
    let h = header_map(&[("host", "sts.amazonaws.com")]);
    let req = Request {
        method: "GET",
        path: "/",
        query: &q,
        headers: &h,
        body: b"",
    };
    let p = parse(&req).unwrap().unwrap();
    let creq = opensts_sigv4::canonical_request(&p, &req).unwrap();
    let creq = String::from_utf8(creq).unwrap();
    let unsigned = creq.replace(opensts_sigv4::EMPTY_PAYLOAD_SHA256, "UNSIGNED-PAYLOAD");
    let sts = opensts_sigv4::string_to_sign(&p, unsigned.as_bytes());
    let key = derive_signing_key(SECRET.as_bytes(), "20150830", "us-east-1", "sts");
    let tag = aws_lc_rs::hmac::sign(
        &aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, key.as_bytes()),
        sts.as_bytes(),
    );
    let q2 = q.replace(&p.signature, &hex::encode(tag.as_ref()));
    let req2 = Request { query: &q2, ..req };
    authenticate(&req2, "sts", t0(), SECRET).unwrap();
    // With a body, UNSIGNED-PAYLOAD is not tried.
    let req3 = Request { body: b"x", ..req2 };
    assert!(authenticate(&req3, "sts", t0(), SECRET).is_err());
}

#[test]
fn extra_signed_headers_and_ports() {
    // EKS-style: an extra signed header on a presigned GET, host with a port.
    let mut extra = HeaderMap::new();
    extra.insert("x-k8s-aws-id", HeaderValue::from_static("my-cluster"));
    let q = presign_query(
        "GET",
        "localhost:8443",
        "/",
        &[("Action", "GetCallerIdentity"), ("Version", "2011-06-15")],
        &extra,
        &params(Some("T")),
        60,
    )
    .unwrap();
    assert!(q.contains("X-Amz-SignedHeaders=host%3Bx-k8s-aws-id"));
    let h = header_map(&[("host", "localhost:8443"), ("x-k8s-aws-id", "my-cluster")]);
    let req = Request {
        method: "GET",
        path: "/",
        query: &q,
        headers: &h,
        body: b"",
    };
    authenticate(&req, "sts", t0(), SECRET).unwrap();
    for bad in [
        header_map(&[
            ("host", "localhost:8443"),
            ("x-k8s-aws-id", "other-cluster"),
        ]),
        header_map(&[("host", "localhost:8443")]),
        header_map(&[("host", "localhost"), ("x-k8s-aws-id", "my-cluster")]),
    ] {
        let req = Request {
            headers: &bad,
            ..req
        };
        assert!(authenticate(&req, "sts", t0(), SECRET).is_err());
    }
}

#[test]
fn signer_input_errors() {
    let mut h = HeaderMap::new();
    assert!(sign_request("POST", "/", "", &mut h, BODY, &params(None)).is_err());
    let mut h = header_map(&[("host", "sts.amazonaws.com")]);
    assert!(sign_request("POST", "/", "", &mut h, BODY, &params(Some("bad\ntoken"))).is_err());
    assert!(
        opensts_sigv4::sign_request_with_signed_headers(
            "POST",
            "/",
            "",
            &mut h,
            BODY,
            &params(None),
            &["x-absent"],
        )
        .is_err()
    );
    assert!(
        presign_query(
            "GET",
            "bad\nhost",
            "/",
            &[],
            &HeaderMap::new(),
            &params(None),
            1
        )
        .is_err()
    );
}
