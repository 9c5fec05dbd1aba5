// Fuzz target for opensts-sigv4: parse + check_scope + verify on arbitrary header/query input,
// plus a sign → verify round trip on the fuzzed method/path/query/body as an oracle.
//
// Cargo.toml of the fuzz crate needs: libfuzzer-sys, http, opensts-sigv4.
// Input layout: fields separated by 0x00 bytes, missing fields are empty:
//   0 method | 1 path | 2 query | 3 Authorization | 4 X-Amz-Date | 5 Date |
//   6 X-Amz-Security-Token | 7 X-Amz-Content-Sha256 | 8 extra header name |
//   9 extra header value | 10 body | 11 "now" (decimal, optional)
// Header fields that are not valid header values are left out.

#![no_main]

use http::{HeaderMap, HeaderName, HeaderValue};
use libfuzzer_sys::fuzz_target;
use opensts_sigv4::{
    Request, SigningParams, check_scope, derive_signing_key, parse, sign_request, verify,
};

fuzz_target!(|data: &[u8]| {
    let mut fields = data.split(|&b| b == 0);
    let mut next = || fields.next().unwrap_or_default();
    let method = String::from_utf8_lossy(next()).into_owned();
    let path = String::from_utf8_lossy(next()).into_owned();
    let query = String::from_utf8_lossy(next()).into_owned();
    let auth = next();
    let amz_date = next();
    let date = next();
    let token = next();
    let sha = next();
    let extra_name = next();
    let extra_value = next();
    let body = next().to_vec();
    let now: i64 = std::str::from_utf8(next())
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(1_440_938_160);

    let mut headers = HeaderMap::new();
    headers.insert("host", HeaderValue::from_static("sts.amazonaws.com"));
    for (name, value) in [
        ("authorization", auth),
        ("x-amz-date", amz_date),
        ("date", date),
        ("x-amz-security-token", token),
        ("x-amz-content-sha256", sha),
    ] {
        if !value.is_empty() {
            if let Ok(v) = HeaderValue::from_bytes(value) {
                headers.append(name, v);
            }
        }
    }
    if let (Ok(n), Ok(v)) = (
        HeaderName::from_bytes(extra_name),
        HeaderValue::from_bytes(extra_value),
    ) {
        headers.append(n, v);
    }

    // 1. Whatever arrives: no panic at any stage.
    let req = Request {
        method: &method,
        path: &path,
        query: &query,
        headers: &headers,
        body: &body,
    };
    if let Ok(Some(p)) = parse(&req) {
        let _ = check_scope(&p, "sts", now);
        let key = derive_signing_key(b"secret", &p.scope_date, &p.region, &p.service);
        let _ = verify(&p, &req, &key);
        let _ = opensts_sigv4::canonical_request(&p, &req);
    }

    // 2. Oracle: a request our signer signs must verify, unless the fuzzed query itself
    //    carries query auth (X-Amz-Algorithm, possibly percent-encoded), which the signer
    //    does not produce.
    let mut signed = HeaderMap::new();
    signed.insert("host", HeaderValue::from_static("sts.amazonaws.com"));
    let probe = Request {
        method: &method,
        path: &path,
        query: &query,
        headers: &signed,
        body: &body,
    };
    if !matches!(parse(&probe), Ok(None)) {
        return;
    }
    if let (Ok(n), Ok(v)) = (
        HeaderName::from_bytes(extra_name),
        HeaderValue::from_bytes(extra_value),
    ) {
        let reserved = ["host", "authorization", "x-amz-date", "x-amz-security-token",
            "x-amz-content-sha256", "date"];
        if !reserved.contains(&n.as_str()) {
            signed.append(n, v);
        }
    }
    let params = SigningParams {
        access_key_id: "AKIDEXAMPLE",
        secret: "secret",
        session_token: None,
        region: "us-east-1",
        service: "sts",
        time: 1_440_938_160,
    };
    if sign_request(&method, &path, &query, &mut signed, &body, &params).is_err() {
        return;
    }
    let req = Request {
        method: &method,
        path: &path,
        query: &query,
        headers: &signed,
        body: &body,
    };
    let p = parse(&req)
        .expect("signed request parses")
        .expect("signed request has auth");
    check_scope(&p, "sts", 1_440_938_160).expect("scope of a signed request");
    let key = derive_signing_key(b"secret", &p.scope_date, &p.region, &p.service);
    verify(&p, &req, &key).expect("a request we signed verifies");
});
