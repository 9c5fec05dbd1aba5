//! The signer: header-signed requests (like botocore's `SigV4Auth`) and presigned query
//! strings (like botocore's `SigV4QueryAuth`). Used by tests, the benchmark load generator and
//! client helpers. It canonicalizes with exactly the rules the verifier uses, so whatever it
//! signs verifies as long as the path, query and headers reach the server unchanged.

use std::collections::BTreeSet;

use http::header::{AUTHORIZATION, HOST};
use http::{HeaderMap, HeaderName, HeaderValue};

use crate::canonical::{CanonicalParts, write_canonical_request, write_string_to_sign};
use crate::date::format_amz_date;
use crate::encode::encode_rfc3986;
use crate::error::SignError;
use crate::key::{derive_signing_key, sha256_hex};
use crate::{ALGORITHM, TERMINATOR};

/// Credentials, scope and time for signing.
#[derive(Clone, Copy)]
pub struct SigningParams<'a> {
    pub access_key_id: &'a str,
    pub secret: &'a str,
    pub session_token: Option<&'a str>,
    pub region: &'a str,
    pub service: &'a str,
    /// Unix seconds; becomes `X-Amz-Date`.
    pub time: i64,
}

impl std::fmt::Debug for SigningParams<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SigningParams")
            .field("access_key_id", &self.access_key_id)
            .field("secret", &"<redacted>")
            .field("session_token", &self.session_token.map(|_| "<redacted>"))
            .field("region", &self.region)
            .field("service", &self.service)
            .field("time", &self.time)
            .finish()
    }
}

struct Signed {
    signature: String,
    scope: String,
}

fn compute(params: &SigningParams<'_>, amz_date: &str, parts: &CanonicalParts<'_>) -> Signed {
    let date = amz_date.get(..8).unwrap_or(amz_date);
    let mut buf = Vec::with_capacity(512);
    write_canonical_request(&mut buf, parts);
    let creq_hash = sha256_hex(&buf);
    buf.clear();
    write_string_to_sign(
        &mut buf,
        amz_date,
        [date, params.region, params.service, TERMINATOR],
        &creq_hash,
    );
    let key = derive_signing_key(
        params.secret.as_bytes(),
        date,
        params.region,
        params.service,
    );
    let sig = key.sign_hex(&buf);
    Signed {
        signature: String::from_utf8_lossy(&sig).into_owned(),
        scope: format!("{date}/{}/{}/{TERMINATOR}", params.region, params.service),
    }
}

fn header_value(name: &str, value: &str) -> Result<HeaderValue, SignError> {
    HeaderValue::from_str(value).map_err(|_| SignError::new(format!("invalid {name} value")))
}

/// Sign a request with an `Authorization` header. Removes any previous `Authorization`,
/// `X-Amz-Date` and `X-Amz-Security-Token`, then adds `X-Amz-Date`, the session token (if
/// any) and `Authorization`. Signs `host` (which must be present), `content-type` (if present)
/// and every `x-amz-*` header. The payload hash is `X-Amz-Content-Sha256` if present, else the
/// SHA-256 of `body`.
///
/// `url_path` and `query` are the raw strings that will be sent (`query` without `?`); a `+`
/// in `query` means a space, as it does for the verifier.
pub fn sign_request(
    method: &str,
    url_path: &str,
    query: &str,
    headers: &mut HeaderMap,
    body: &[u8],
    params: &SigningParams<'_>,
) -> Result<(), SignError> {
    sign_request_with_signed_headers(method, url_path, query, headers, body, params, &[])
}

/// [`sign_request`] that additionally signs the headers named in `extra_signed` (each must be
/// present in `headers`).
pub fn sign_request_with_signed_headers(
    method: &str,
    url_path: &str,
    query: &str,
    headers: &mut HeaderMap,
    body: &[u8],
    params: &SigningParams<'_>,
    extra_signed: &[&str],
) -> Result<(), SignError> {
    headers.remove(AUTHORIZATION);
    headers.remove("x-amz-date");
    headers.remove("x-amz-security-token");
    if !headers.contains_key(HOST) {
        return Err(SignError::new("a host header is required"));
    }
    let amz_date = format_amz_date(params.time);
    headers.insert(
        HeaderName::from_static("x-amz-date"),
        header_value("x-amz-date", &amz_date)?,
    );
    if let Some(token) = params.session_token {
        headers.insert(
            HeaderName::from_static("x-amz-security-token"),
            header_value("x-amz-security-token", token)?,
        );
    }

    let mut names: BTreeSet<String> = BTreeSet::new();
    for name in headers.keys() {
        let n = name.as_str();
        if n == "host" || n == "content-type" || n.starts_with("x-amz-") {
            names.insert(n.to_string());
        }
    }
    for extra in extra_signed {
        let n = extra.to_ascii_lowercase();
        if !headers.contains_key(n.as_str()) {
            return Err(SignError::new(format!(
                "header {n} is to be signed but not present"
            )));
        }
        names.insert(n);
    }
    let signed: Vec<String> = names.into_iter().collect();
    let signed_raw = signed.join(";");

    let payload = match headers.get("x-amz-content-sha256") {
        Some(v) => v.as_bytes().to_vec(),
        None => sha256_hex(body).to_vec(),
    };
    let parts = CanonicalParts {
        method,
        path: url_path,
        query,
        skip_signature: false,
        headers,
        s3_uri: false,
        signed_headers: &signed,
        signed_headers_raw: &signed_raw,
        payload_hash: &payload,
    };
    let s = compute(params, &amz_date, &parts);
    let auth = format!(
        "{ALGORITHM} Credential={}/{}, SignedHeaders={signed_raw}, Signature={}",
        params.access_key_id, s.scope, s.signature
    );
    headers.insert(AUTHORIZATION, header_value("authorization", &auth)?);
    Ok(())
}

/// A presigned query string (without `?`), as botocore's `SigV4QueryAuth` builds it: the
/// operation parameters (RFC 3986-encoded, in the given order), then `X-Amz-Algorithm`,
/// `X-Amz-Credential`, `X-Amz-Date`, `X-Amz-Expires`, `X-Amz-SignedHeaders` and, with a session
/// token, `X-Amz-Security-Token` — all of them part of the canonical query — and finally
/// `X-Amz-Signature`. Signed headers: `host` plus every header of `extra_signed_headers` (e.g.
/// `x-k8s-aws-id` for EKS tokens); those headers must accompany the request. The payload is
/// the empty body.
pub fn presign_query(
    method: &str,
    host: &str,
    path: &str,
    query_pairs: &[(&str, &str)],
    extra_signed_headers: &HeaderMap,
    params: &SigningParams<'_>,
    expires: u64,
) -> Result<String, SignError> {
    let mut headers = HeaderMap::with_capacity(extra_signed_headers.len() + 1);
    for (name, value) in extra_signed_headers {
        if name != HOST {
            headers.append(name.clone(), value.clone());
        }
    }
    headers.insert(HOST, header_value("host", host)?);
    let signed: Vec<String> = headers
        .keys()
        .map(|n| n.as_str().to_string())
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    let signed_raw = signed.join(";");

    let amz_date = format_amz_date(params.time);
    let date = amz_date.get(..8).unwrap_or(&amz_date);
    let credential = format!(
        "{}/{date}/{}/{}/{TERMINATOR}",
        params.access_key_id, params.region, params.service
    );
    let expires = expires.to_string();
    let mut query = String::new();
    let mut push = |k: &str, v: &str| {
        if !query.is_empty() {
            query.push('&');
        }
        query.push_str(&encode_rfc3986(k.as_bytes()));
        query.push('=');
        query.push_str(&encode_rfc3986(v.as_bytes()));
    };
    for (k, v) in query_pairs {
        push(k, v);
    }
    push("X-Amz-Algorithm", ALGORITHM);
    push("X-Amz-Credential", &credential);
    push("X-Amz-Date", &amz_date);
    push("X-Amz-Expires", &expires);
    push("X-Amz-SignedHeaders", &signed_raw);
    if let Some(token) = params.session_token {
        push("X-Amz-Security-Token", token);
    }

    let empty = sha256_hex(b"");
    let parts = CanonicalParts {
        method,
        path,
        query: &query,
        skip_signature: true,
        headers: &headers,
        s3_uri: false,
        signed_headers: &signed,
        signed_headers_raw: &signed_raw,
        payload_hash: &empty,
    };
    let s = compute(params, &amz_date, &parts);
    query.push_str("&X-Amz-Signature=");
    query.push_str(&s.signature);
    Ok(query)
}
