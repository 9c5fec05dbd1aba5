//! Helpers shared by the integration tests.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use http::{HeaderMap, HeaderName, HeaderValue};
use opensts_sigv4::{
    ParsedSignature, Request, SigV4Error, check_scope, derive_signing_key, parse, verify,
};

/// A HeaderMap from ordered (name, value) pairs; repeated names are appended in order.
pub fn header_map<N: AsRef<str>, V: AsRef<[u8]>>(pairs: &[(N, V)]) -> HeaderMap {
    let mut h = HeaderMap::new();
    for (n, v) in pairs {
        h.append(
            HeaderName::from_bytes(n.as_ref().as_bytes()).expect("header name"),
            HeaderValue::from_bytes(v.as_ref()).expect("header value"),
        );
    }
    h
}

/// The whole server-side flow: parse → check_scope → derive key → verify.
pub fn authenticate(
    req: &Request<'_>,
    service: &str,
    now: i64,
    secret: &str,
) -> Result<ParsedSignature, SigV4Error> {
    let p = parse(req)?.expect("auth material present");
    check_scope(&p, service, now)?;
    let key = derive_signing_key(secret.as_bytes(), &p.scope_date, &p.region, &p.service);
    verify(&p, req, &key)?;
    Ok(p)
}

/// A request as it appears in the AWS test-suite `.txt` files.
pub struct RawRequest {
    pub method: String,
    pub path: String,
    pub query: String,
    pub headers: Vec<(String, Vec<u8>)>,
    pub body: Vec<u8>,
}

impl RawRequest {
    /// Parse `METHOD target HTTP/1.1`, `Name:value` lines (a line starting with whitespace
    /// continues the previous value: obs-fold, unfolded with one space as RFC 7230 says), an
    /// empty line, then the body.
    pub fn parse(text: &[u8]) -> RawRequest {
        let mut lines: Vec<&[u8]> = Vec::new();
        let mut rest = text;
        let body;
        loop {
            match rest.iter().position(|&b| b == b'\n') {
                Some(i) => {
                    let line = &rest[..i];
                    rest = &rest[i + 1..];
                    if line.is_empty() {
                        body = rest.to_vec();
                        break;
                    }
                    lines.push(line);
                }
                None => {
                    if !rest.is_empty() {
                        lines.push(rest);
                    }
                    body = Vec::new();
                    break;
                }
            }
        }
        let request_line = std::str::from_utf8(lines[0]).expect("utf8 request line");
        let (method, rest_line) = request_line.split_once(' ').expect("method");
        let (target, _version) = rest_line.rsplit_once(' ').expect("version");
        let (path, query) = match target.split_once('?') {
            Some((p, q)) => (p.to_string(), q.to_string()),
            None => (target.to_string(), String::new()),
        };
        let mut headers: Vec<(String, Vec<u8>)> = Vec::new();
        for line in &lines[1..] {
            if line[0] == b' ' || line[0] == b'\t' {
                let last = headers.last_mut().expect("continuation after a header");
                last.1.push(b' ');
                last.1.extend_from_slice(line.trim_ascii());
                continue;
            }
            let colon = line.iter().position(|&b| b == b':').expect("colon");
            let name = std::str::from_utf8(&line[..colon])
                .expect("name")
                .to_string();
            headers.push((name, line[colon + 1..].to_vec()));
        }
        RawRequest {
            method: method.to_string(),
            path,
            query,
            headers,
            body,
        }
    }

    pub fn header_map(&self) -> HeaderMap {
        header_map(&self.headers)
    }
}
