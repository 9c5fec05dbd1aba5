//! The AWS SigV4 test suite (aws-c-auth `tests/aws-signing-test-suite/v4`, Apache-2.0, see
//! `tests/aws-sig-v4-test-suite/NOTICE`). Every vector comes as a header-signed and a
//! presigned (query) request; both must verify, and our canonical request and string to sign
//! must equal the suite's, except where the vector encodes behaviour that is not STS's:
//!
//! * `*-unnormalized` vectors sign the path without normalization (S3 rules). Where that
//!   differs from the normalized path, the verifier (non-S3 rules) must refuse them.
//! * `omit_session_token` vectors add `X-Amz-Security-Token` to the presigned URL *after*
//!   signing (some IoT services). STS signs it (§7.1 of the spec), so the presigned variant must
//!   fail.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::fs;
use std::path::{Path, PathBuf};

use common::{RawRequest, authenticate};
use opensts_sigv4::{
    AuthLocation, ErrorCode, Request, canonical_request, parse, parse_amz_date, string_to_sign,
};
use serde_json::Value;

const SUITE: &str = "tests/aws-sig-v4-test-suite";

fn suite_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(SUITE)
}

fn read(dir: &Path, name: &str) -> Vec<u8> {
    fs::read(dir.join(name)).unwrap_or_else(|e| panic!("{}/{name}: {e}", dir.display()))
}

struct Vector {
    name: String,
    dir: PathBuf,
    ctx: Value,
}

fn vectors() -> Vec<Vector> {
    let mut out = Vec::new();
    for entry in fs::read_dir(suite_dir()).expect("suite dir") {
        let entry = entry.expect("entry");
        if !entry.file_type().expect("type").is_dir() {
            continue;
        }
        let dir = entry.path();
        let ctx: Value = serde_json::from_slice(&read(&dir, "context.json")).expect("json");
        out.push(Vector {
            name: entry.file_name().to_string_lossy().into_owned(),
            dir,
            ctx,
        });
    }
    out.sort_by(|a, b| a.name.cmp(&b.name));
    out
}

/// How one signed variant of a vector must come out.
#[derive(Debug, PartialEq)]
enum Outcome {
    /// Verifies, and the canonical request / string to sign equal the suite's.
    Valid,
    /// Must be refused with SignatureDoesNotMatch (S3 path rules / unsigned token).
    Mismatch,
}

fn run_variant(v: &Vector, prefix: &str, location: AuthLocation) -> Outcome {
    let raw = RawRequest::parse(&read(&v.dir, &format!("{prefix}-signed-request.txt")));
    let headers = raw.header_map();
    let req = Request {
        method: &raw.method,
        path: &raw.path,
        query: &raw.query,
        headers: &headers,
        body: &raw.body,
    };
    let ctx = &v.ctx;
    let creds = &ctx["credentials"];
    let secret = creds["secret_access_key"].as_str().expect("secret");
    let service = ctx["service"].as_str().expect("service");
    let ts = ctx["timestamp"].as_str().expect("timestamp");
    let now = parse_amz_date(&ts.replace(['-', ':'], "")).expect("timestamp");

    let p = parse(&req)
        .unwrap_or_else(|e| panic!("{} {prefix}: parse: {e}", v.name))
        .expect("auth material");
    assert_eq!(p.location, location, "{} {prefix}", v.name);
    assert_eq!(
        p.access_key_id,
        creds["access_key_id"].as_str().expect("akid")
    );
    assert_eq!(p.region, ctx["region"].as_str().expect("region"));
    if let Some(token) = creds["token"].as_str() {
        assert_eq!(
            p.session_token.as_deref(),
            Some(token),
            "{} {prefix}",
            v.name
        );
    }

    let ours = canonical_request(&p, &req).expect("canonical request");
    let theirs = read(&v.dir, &format!("{prefix}-canonical-request.txt"));
    let result = authenticate(&req, service, now, secret);
    if ours == theirs {
        assert_eq!(
            string_to_sign(&p, &ours).as_bytes(),
            &read(&v.dir, &format!("{prefix}-string-to-sign.txt"))[..],
            "{} {prefix}: string to sign",
            v.name
        );
        let sig = String::from_utf8(read(&v.dir, &format!("{prefix}-signature.txt"))).expect("sig");
        assert_eq!(p.signature, sig.trim(), "{} {prefix}", v.name);
        result.unwrap_or_else(|e| panic!("{} {prefix}: {e}", v.name));
        Outcome::Valid
    } else {
        let err = result.expect_err("a different canonical request must not verify");
        assert_eq!(
            err.code,
            ErrorCode::SignatureDoesNotMatch,
            "{} {prefix}",
            v.name
        );
        Outcome::Mismatch
    }
}

fn expected(v: &Vector, prefix: &str) -> Outcome {
    let unnormalized = v.ctx["normalize"].as_bool() == Some(false);
    if unnormalized {
        // Their canonical URI is the raw path; ours is normalized. Same → must verify.
        let creq = String::from_utf8(read(&v.dir, &format!("{prefix}-canonical-request.txt")))
            .expect("utf8");
        let their_uri = creq.lines().nth(1).expect("uri line");
        let normalized_differs =
            their_uri.contains("//") || their_uri.split('/').any(|s| s == "." || s == "..");
        if normalized_differs {
            return Outcome::Mismatch;
        }
    }
    if prefix == "query" && v.ctx["omit_session_token"].as_bool() == Some(true) {
        return Outcome::Mismatch;
    }
    Outcome::Valid
}

#[test]
fn suite_is_present() {
    let vs = vectors();
    assert!(vs.len() >= 38, "found {} vectors", vs.len());
    for must in [
        "get-vanilla",
        "post-x-www-form-urlencoded",
        "get-header-value-trim",
        "get-slashes-normalized",
        "get-vanilla-query-order-key-case",
        "get-header-key-duplicate",
        "get-utf8",
        "post-sts-header-before",
    ] {
        assert!(vs.iter().any(|v| v.name == must), "{must} missing");
    }
}

#[test]
fn header_signed_vectors() {
    let mut valid = 0;
    for v in vectors() {
        let got = run_variant(&v, "header", AuthLocation::Header);
        assert_eq!(got, expected(&v, "header"), "{}", v.name);
        if got == Outcome::Valid {
            valid += 1;
        }
    }
    // 38 vectors minus the 6 unnormalized ones whose path normalization changes.
    assert_eq!(valid, 32, "header vectors verified");
}

#[test]
fn presigned_vectors() {
    let mut valid = 0;
    for v in vectors() {
        let got = run_variant(&v, "query", AuthLocation::Query);
        assert_eq!(got, expected(&v, "query"), "{}", v.name);
        if got == Outcome::Valid {
            valid += 1;
        }
    }
    // As above, minus post-sts-header-after (token added after presigning).
    assert_eq!(valid, 31, "presigned vectors verified");
}

/// The suite's original header-canonicalization cases, spelled out.
#[test]
fn named_canonicalization_cases() {
    let dir = suite_dir();
    for (name, line) in [
        ("get-header-value-trim", "my-header2:\"a b c\""),
        (
            "get-header-key-duplicate",
            "my-header1:value2,value2,value1",
        ),
        (
            "get-header-value-multiline",
            "my-header1:value1 value2 value3",
        ),
        (
            "get-header-value-order",
            "my-header1:value4,value1,value3,value2",
        ),
        (
            "get-vanilla-query-order-key-case",
            "Param1=value1&Param2=value2",
        ),
        ("get-utf8", "/%E1%88%B4"),
        ("get-space-normalized", "/example%20space/"),
        ("get-slashes-normalized", "/example/"),
        ("get-relative-relative-normalized", "/"),
        ("get-vanilla-utf8-query", "%E1%88%B4=bar"),
    ] {
        let v = Vector {
            name: name.to_string(),
            dir: dir.join(name),
            ctx: serde_json::from_slice(&read(&dir.join(name), "context.json")).expect("json"),
        };
        let raw = RawRequest::parse(&read(&v.dir, "header-signed-request.txt"));
        let headers = raw.header_map();
        let req = Request {
            method: &raw.method,
            path: &raw.path,
            query: &raw.query,
            headers: &headers,
            body: &raw.body,
        };
        let p = parse(&req).expect("parse").expect("auth");
        let creq = String::from_utf8(canonical_request(&p, &req).expect("creq")).expect("utf8");
        assert!(
            creq.lines().any(|l| l == line),
            "{name}: no line {line:?} in\n{creq}"
        );
    }
}
