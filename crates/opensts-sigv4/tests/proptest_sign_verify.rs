//! Property tests: whatever our signer signs verifies; any single-byte change of the body,
//! the signature or a signed header value is refused; parsing never panics.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::authenticate;
use http::{HeaderMap, HeaderName, HeaderValue};
use opensts_sigv4::{
    ErrorCode, Request, SigningParams, check_scope, derive_signing_key, parse, presign_query,
    sign_request_with_signed_headers, verify,
};
use proptest::prelude::*;

const SECRET: &str = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";
const RESERVED: &[&str] = &[
    "host",
    "authorization",
    "x-amz-date",
    "x-amz-security-token",
    "x-amz-content-sha256",
    "date",
    "user-agent",
    "x-unsigned-noise",
    "x-sig-probe",
];

#[derive(Debug, Clone)]
struct Case {
    method: String,
    path: String,
    query: String,
    /// (name, value, signed?)
    headers: Vec<(String, String, bool)>,
    probe: String,
    body: Vec<u8>,
    token: Option<String>,
    region: String,
    service: String,
    time: i64,
}

fn case() -> impl Strategy<Value = Case> {
    (
        prop_oneof![Just("GET"), Just("POST"), Just("PUT"), Just("DELETE")],
        proptest::collection::vec("[a-zA-Z0-9._~%+:@!$'()*,;= -]{0,8}", 0..5),
        "[a-zA-Z0-9._~%+=&/: -]{0,40}",
        proptest::collection::vec(
            (
                "(x-test-[a-z0-9]{1,5}|[a-z][a-z0-9-]{0,8})",
                "[ -~\t]{0,16}",
                any::<bool>(),
            ),
            0..5,
        ),
        "[!-~]{1,16}",
        proptest::collection::vec(any::<u8>(), 0..64),
        proptest::option::of("[A-Za-z0-9+/=]{1,40}"),
        prop_oneof![Just("us-east-1"), Just("eu-west-3"), Just("local")],
        prop_oneof![Just("sts"), Just("iam")],
        0i64..4_102_444_800,
    )
        .prop_map(
            |(method, segs, query, headers, probe, body, token, region, service, time)| Case {
                method: method.to_string(),
                path: format!("/{}", segs.join("/")),
                query,
                headers: headers
                    .into_iter()
                    .filter(|(n, _, _)| !RESERVED.contains(&n.as_str()))
                    .collect(),
                probe,
                body,
                token,
                region: region.to_string(),
                service: service.to_string(),
                time,
            },
        )
}

/// Sign `c` with a header; returns the headers as sent.
fn sign(c: &Case) -> HeaderMap {
    let mut h = HeaderMap::new();
    h.insert("host", HeaderValue::from_static("sts.example.test:8443"));
    h.insert(
        "x-sig-probe",
        HeaderValue::from_str(&c.probe).expect("probe"),
    );
    let mut extra: Vec<&str> = vec!["x-sig-probe"];
    for (n, v, signed) in &c.headers {
        h.append(
            HeaderName::from_bytes(n.as_bytes()).expect("name"),
            HeaderValue::from_str(v).expect("value"),
        );
        if *signed {
            extra.push(n);
        }
    }
    let params = SigningParams {
        access_key_id: "AKIDEXAMPLE",
        secret: SECRET,
        session_token: c.token.as_deref(),
        region: &c.region,
        service: &c.service,
        time: c.time,
    };
    sign_request_with_signed_headers(
        &c.method, &c.path, &c.query, &mut h, &c.body, &params, &extra,
    )
    .expect("sign");
    h
}

fn request<'a>(c: &'a Case, h: &'a HeaderMap, body: &'a [u8]) -> Request<'a> {
    Request {
        method: &c.method,
        path: &c.path,
        query: &c.query,
        headers: h,
        body,
    }
}

fn refused(c: &Case, h: &HeaderMap, body: &[u8]) -> bool {
    match authenticate(&request(c, h, body), &c.service, c.time, SECRET) {
        Ok(_) => false,
        Err(e) => {
            assert_eq!(e.code, ErrorCode::SignatureDoesNotMatch, "{e}");
            true
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn signed_requests_verify(c in case()) {
        let h = sign(&c);
        let p = authenticate(&request(&c, &h, &c.body), &c.service, c.time, SECRET)
            .map_err(|e| TestCaseError::fail(format!("{e}")))?;
        prop_assert_eq!(p.session_token.as_deref(), c.token.as_deref());
        prop_assert!(p.is_header_signed("x-sig-probe"));
        for (n, _, signed) in &c.headers {
            if *signed {
                prop_assert!(p.is_header_signed(n));
            }
        }
    }

    #[test]
    fn body_mutation_fails(c in case(), idx in any::<prop::sample::Index>(), x in 1u8..=255) {
        let h = sign(&c);
        let mut body = c.body.clone();
        if body.is_empty() {
            body.push(x);
        } else {
            let i = idx.index(body.len());
            body[i] ^= x;
        }
        prop_assert!(refused(&c, &h, &body));
    }

    #[test]
    fn signature_mutation_fails(c in case(), idx in 0usize..64, x in 1u8..=255) {
        let mut h = sign(&c);
        let auth = h["authorization"].to_str().unwrap().to_string();
        let start = auth.len() - 64;
        let mut bytes = auth.into_bytes();
        let b = bytes[start + idx] ^ x;
        // Keep it a valid header value; any other byte is a different signature.
        prop_assume!((0x21..0x7f).contains(&b) && b != b',' && b != b'=');
        bytes[start + idx] = b;
        h.insert("authorization", HeaderValue::from_bytes(&bytes).unwrap());
        prop_assert!(refused(&c, &h, &c.body));
    }

    #[test]
    fn signed_header_value_mutation_fails(
        c in case(),
        idx in any::<prop::sample::Index>(),
        replacement in 0x21u8..0x7f,
    ) {
        let mut h = sign(&c);
        let mut probe = c.probe.clone().into_bytes();
        let i = idx.index(probe.len());
        prop_assume!(probe[i] != replacement);
        probe[i] = replacement;
        h.insert("x-sig-probe", HeaderValue::from_bytes(&probe).unwrap());
        prop_assert!(refused(&c, &h, &c.body));
    }

    #[test]
    fn unsigned_headers_do_not_matter(c in case(), v in "[ -~]{0,16}") {
        let mut h = sign(&c);
        h.insert("x-unsigned-noise", HeaderValue::from_str(&v).unwrap());
        h.insert("user-agent", HeaderValue::from_str(&v).unwrap());
        prop_assert!(!refused(&c, &h, &c.body));
    }

    #[test]
    fn skew_window(c in case(), delta in -2000i64..2000) {
        let h = sign(&c);
        let req = request(&c, &h, &c.body);
        let p = parse(&req).unwrap().unwrap();
        let r = check_scope(&p, &c.service, c.time + delta);
        prop_assert_eq!(r.is_ok(), delta.abs() <= 900);
    }

    #[test]
    fn presigned_requests_verify(
        pairs in proptest::collection::vec(("\\PC{1,8}", "\\PC{0,12}"), 0..5),
        token in proptest::option::of("\\PC{1,20}"),
        method in prop_oneof![Just("GET"), Just("POST")],
        k8s in proptest::option::of("[a-z0-9.-]{1,20}"),
        time in 0i64..4_102_444_800,
        sig_idx in 0usize..64,
    ) {
        let mut extra = HeaderMap::new();
        if let Some(k) = &k8s {
            extra.insert("x-k8s-aws-id", HeaderValue::from_str(k).unwrap());
        }
        let params = SigningParams {
            access_key_id: "ASIAEXAMPLE",
            secret: SECRET,
            session_token: token.as_deref(),
            region: "us-east-1",
            service: "sts",
            time,
        };
        let pairs_ref: Vec<(&str, &str)> =
            pairs.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        let q = presign_query(method, "sts.amazonaws.com", "/", &pairs_ref, &extra, &params, 60)
            .unwrap();
        let mut h = extra.clone();
        h.insert("host", HeaderValue::from_static("sts.amazonaws.com"));
        let req = Request { method, path: "/", query: &q, headers: &h, body: b"" };
        let p = authenticate(&req, "sts", time, SECRET)
            .map_err(|e| TestCaseError::fail(format!("{e}: {q}")))?;
        prop_assert_eq!(p.session_token.as_deref(), token.as_deref());

        // Flip one character of the signature.
        let start = q.len() - 64;
        let mut bad = q.clone().into_bytes();
        bad[start + sig_idx] = if bad[start + sig_idx] == b'0' { b'1' } else { b'0' };
        let bad = String::from_utf8(bad).unwrap();
        let req = Request { query: &bad, ..req };
        prop_assert!(authenticate(&req, "sts", time, SECRET).is_err());
    }

    /// `+` and `%20` are the same space: a request signed with one spelling verifies with the
    /// other (this is how botocore's params-based signing reaches the server).
    #[test]
    fn plus_and_percent_20_are_equivalent(
        pairs in proptest::collection::vec(("[a-zA-Z0-9 ]{1,6}", "[a-zA-Z0-9 +/]{0,10}"), 1..4),
        time in 0i64..4_102_444_800,
    ) {
        let enc = |s: &str, space: &str| -> String {
            let mut out = String::new();
            for b in s.bytes() {
                match b {
                    b' ' => out.push_str(space),
                    b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' => out.push(char::from(b)),
                    _ => out.push_str(&format!("%{b:02X}")),
                }
            }
            out
        };
        let build = |space: &str| -> String {
            pairs
                .iter()
                .map(|(k, v)| format!("{}={}", enc(k, space), enc(v, space)))
                .collect::<Vec<_>>()
                .join("&")
        };
        let (plus, pct) = (build("+"), build("%20"));
        let c = Case {
            method: "GET".into(),
            path: "/".into(),
            query: plus.clone(),
            headers: vec![],
            probe: "p".into(),
            body: vec![],
            token: None,
            region: "us-east-1".into(),
            service: "sts".into(),
            time,
        };
        let h = sign(&c);
        let c2 = Case { query: pct, ..c.clone() };
        prop_assert!(!refused(&c2, &h, b""));
    }

    /// Arbitrary auth material never panics any stage.
    #[test]
    fn never_panics(
        auth in proptest::option::of("[ -~\t]{0,200}"),
        auth_prefix in prop_oneof![Just(""), Just("AWS4-HMAC-SHA256 "), Just("AWS4-")],
        query in "[ -~]{0,200}",
        query_prefix in prop_oneof![Just(""), Just("X-Amz-Algorithm=AWS4-HMAC-SHA256&")],
        amz_date in proptest::option::of("[0-9TZ]{0,18}"),
        date in proptest::option::of("[ -~]{0,40}"),
        token in proptest::option::of("[ -~]{0,20}"),
        sha in proptest::option::of("[ -~]{0,70}"),
        body in proptest::collection::vec(any::<u8>(), 0..32),
        now in any::<i64>(),
    ) {
        let mut h = HeaderMap::new();
        h.insert("host", HeaderValue::from_static("sts.amazonaws.com"));
        if let Some(a) = &auth {
            h.insert("authorization", HeaderValue::from_str(&format!("{auth_prefix}{a}")).unwrap());
        }
        for (name, v) in [("x-amz-date", &amz_date), ("date", &date), ("x-amz-security-token", &token), ("x-amz-content-sha256", &sha)] {
            if let Some(v) = v {
                h.insert(name, HeaderValue::from_str(v).unwrap());
            }
        }
        let q = format!("{query_prefix}{query}");
        let req = Request { method: "POST", path: "/", query: &q, headers: &h, body: &body };
        if let Ok(Some(p)) = parse(&req) {
            let _ = check_scope(&p, "sts", now);
            let key = derive_signing_key(b"secret", &p.scope_date, &p.region, &p.service);
            let _ = verify(&p, &req, &key);
            let _ = opensts_sigv4::canonical_request(&p, &req);
        }
    }
}
