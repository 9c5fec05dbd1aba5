//! Locating and parsing SigV4 auth material: the `Authorization` header or the presigned
//! query parameters. Only syntax is checked here; time, scope and signature are checked by
//! [`crate::check_scope`] and [`crate::verify`].

use std::borrow::Cow;
use std::fmt;

use http::HeaderMap;

use crate::date::{format_amz_date, parse_amz_date, parse_http_date};
use crate::encode::{X_AMZ_SIGNATURE, query_decode_str, raw_pairs};
use crate::error::SigV4Error;
use crate::{ALGORITHM, Request};

pub(crate) const X_AMZ_ALGORITHM: &str = "X-Amz-Algorithm";
pub(crate) const X_AMZ_CREDENTIAL: &str = "X-Amz-Credential";
pub(crate) const X_AMZ_DATE: &str = "X-Amz-Date";
pub(crate) const X_AMZ_EXPIRES: &str = "X-Amz-Expires";
pub(crate) const X_AMZ_SIGNED_HEADERS: &str = "X-Amz-SignedHeaders";
pub(crate) const X_AMZ_SECURITY_TOKEN: &str = "X-Amz-Security-Token";

/// Where the signature was found.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AuthLocation {
    /// `Authorization: AWS4-HMAC-SHA256 Credential=…, SignedHeaders=…, Signature=…`
    Header,
    /// Presigned URL: `X-Amz-Algorithm`, `X-Amz-Credential`, … in the query string.
    Query,
}

/// The syntactically valid SigV4 auth material of a request.
#[derive(Clone, PartialEq, Eq)]
pub struct ParsedSignature {
    pub location: AuthLocation,
    /// First element of the credential (`AKIA…` / `ASIA…`), as received.
    pub access_key_id: String,
    /// Credential scope date (`yyyymmdd`), as received (checked by `check_scope`).
    pub scope_date: String,
    /// Credential scope region, as received (checked by `check_scope`).
    pub region: String,
    /// Credential scope service, as received (checked by `check_scope`).
    pub service: String,
    /// Credential scope terminator, as received (must be `aws4_request`; checked by `check_scope`).
    pub terminator: String,
    /// The request time in basic format (`20150830T123600Z`), the second line of the string to
    /// sign. Taken from `X-Amz-Date`; when only a `Date` header exists it is that time reformatted.
    pub amz_date: String,
    /// Unix seconds of `amz_date`.
    pub timestamp: i64,
    /// The `SignedHeaders` names, lower-cased, in the order received.
    pub signed_headers: Vec<String>,
    /// The `SignedHeaders` value exactly as received (it is a line of the canonical request).
    pub signed_headers_raw: String,
    /// The signature as received (a valid one is 64 lowercase hex characters).
    pub signature: String,
    /// `X-Amz-Security-Token` (header for header auth, query parameter for presigned requests,
    /// each falling back to the other).
    pub session_token: Option<String>,
    /// `X-Amz-Expires` of a presigned request. Parsed but not enforced: STS applies its fixed
    /// ±15 minute window instead.
    pub expires: Option<u64>,
}

impl ParsedSignature {
    /// `yyyymmdd/region/service/terminator`.
    pub fn credential_scope(&self) -> String {
        format!(
            "{}/{}/{}/{}",
            self.scope_date, self.region, self.service, self.terminator
        )
    }

    /// Whether the client signed header `name` (case-insensitive).
    pub fn is_header_signed(&self, name: &str) -> bool {
        self.signed_headers
            .iter()
            .any(|h| h.eq_ignore_ascii_case(name))
    }
}

impl fmt::Debug for ParsedSignature {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ParsedSignature")
            .field("location", &self.location)
            .field("access_key_id", &self.access_key_id)
            .field("scope_date", &self.scope_date)
            .field("region", &self.region)
            .field("service", &self.service)
            .field("terminator", &self.terminator)
            .field("amz_date", &self.amz_date)
            .field("timestamp", &self.timestamp)
            .field("signed_headers_raw", &self.signed_headers_raw)
            .field("signature", &self.signature)
            .field(
                "session_token",
                &self.session_token.as_ref().map(|_| "<redacted>"),
            )
            .field("expires", &self.expires)
            .finish()
    }
}

/// All values of header `name` joined with `,` (as text; invalid UTF-8 replaced).
pub(crate) fn header_text<'h>(headers: &'h HeaderMap, name: &str) -> Option<Cow<'h, str>> {
    let mut values = headers.get_all(name).iter();
    let first = values.next()?;
    let mut text = String::from_utf8_lossy(first.as_bytes());
    for v in values {
        let t = text.to_mut();
        t.push(',');
        t.push_str(&String::from_utf8_lossy(v.as_bytes()));
    }
    Some(text)
}

/// The query-string auth parameters (decoded), first occurrence of each.
#[derive(Default)]
struct QueryParams<'q> {
    algorithm: Option<Cow<'q, str>>,
    credential: Option<Cow<'q, str>>,
    date: Option<Cow<'q, str>>,
    expires: Option<Cow<'q, str>>,
    signed_headers: Option<Cow<'q, str>>,
    signature: Option<Cow<'q, str>>,
    security_token: Option<Cow<'q, str>>,
    duplicate: Option<&'static str>,
}

impl<'q> QueryParams<'q> {
    fn scan(query: &'q str) -> Self {
        let mut q = QueryParams::default();
        if !query.contains("X-Amz-") && !query.contains('%') {
            return q;
        }
        for (k, v) in raw_pairs(query) {
            let key = query_decode_str(k);
            let (slot, name) = match &*key {
                X_AMZ_ALGORITHM => (&mut q.algorithm, X_AMZ_ALGORITHM),
                X_AMZ_CREDENTIAL => (&mut q.credential, X_AMZ_CREDENTIAL),
                X_AMZ_DATE => (&mut q.date, X_AMZ_DATE),
                X_AMZ_EXPIRES => (&mut q.expires, X_AMZ_EXPIRES),
                X_AMZ_SIGNED_HEADERS => (&mut q.signed_headers, X_AMZ_SIGNED_HEADERS),
                X_AMZ_SIGNATURE => (&mut q.signature, X_AMZ_SIGNATURE),
                X_AMZ_SECURITY_TOKEN => (&mut q.security_token, X_AMZ_SECURITY_TOKEN),
                _ => continue,
            };
            if slot.is_some() {
                q.duplicate.get_or_insert(name);
            } else {
                *slot = Some(query_decode_str(v));
            }
        }
        q
    }
}

fn non_empty<'a>(v: &'a Option<Cow<'_, str>>) -> Option<&'a str> {
    v.as_deref().filter(|s| !s.is_empty())
}

fn date_error(got: &str) -> SigV4Error {
    SigV4Error::incomplete_signature(format!(
        "Date must be in ISO-8601 'basic format'. Got '{got}'. See http://en.wikipedia.org/wiki/ISO_8601"
    ))
}

fn check_algorithm(algorithm: &str) -> Result<(), SigV4Error> {
    if algorithm == ALGORITHM {
        Ok(())
    } else {
        Err(SigV4Error::incomplete_signature(format!(
            "Unsupported AWS 'algorithm': '{algorithm}' (only AWS4-HMAC-SHA256 for now). "
        )))
    }
}

/// `keyid/date/region/service/term` (trailing slashes ignored) → the five elements.
fn split_credential(credential: &str) -> Result<[&str; 5], SigV4Error> {
    let trimmed = credential.trim_end_matches('/');
    let mut out = [""; 5];
    let mut n = 0;
    for part in trimmed.split('/') {
        if n == 5 {
            n += 1;
            break;
        }
        out[n] = part;
        n += 1;
    }
    if n != 5 {
        return Err(SigV4Error::incomplete_signature(format!(
            "Credential must have exactly 5 slash-delimited elements, e.g. keyid/date/region/service/term, got '{credential}'"
        )));
    }
    Ok(out)
}

fn split_signed_headers(raw: &str) -> Vec<String> {
    raw.split(';').map(|h| h.to_ascii_lowercase()).collect()
}

#[allow(clippy::too_many_arguments)]
fn build(
    location: AuthLocation,
    credential: &str,
    amz_date: String,
    timestamp: i64,
    signed_headers_raw: &str,
    signature: &str,
    session_token: Option<String>,
    expires: Option<u64>,
) -> Result<ParsedSignature, SigV4Error> {
    let [akid, date, region, service, terminator] = split_credential(credential)?;
    Ok(ParsedSignature {
        location,
        access_key_id: akid.to_string(),
        scope_date: date.to_string(),
        region: region.to_string(),
        service: service.to_string(),
        terminator: terminator.to_string(),
        amz_date,
        timestamp,
        signed_headers: split_signed_headers(signed_headers_raw),
        signed_headers_raw: signed_headers_raw.to_string(),
        signature: signature.to_string(),
        session_token,
        expires,
    })
}

/// Find and parse the request's SigV4 auth material.
///
/// * `Ok(None)`: no auth material at all — no `Authorization` header and no `X-Amz-Algorithm`
///   query parameter, or an `Authorization` header that is not SigV4 (does not start with
///   `AWS4-`, e.g. `Bearer …` or SigV2 `AWS AKID:sig`). AWS answers both with
///   `MissingAuthenticationToken`; the caller decides.
/// * `Err(IncompleteSignature)`: malformed header/parameters, unsupported algorithm, bad
///   credential shape, unparsable date.
/// * `Err(SignatureDoesNotMatch)`: both an `Authorization` header and `X-Amz-Algorithm`.
pub fn parse(req: &Request<'_>) -> Result<Option<ParsedSignature>, SigV4Error> {
    let mut auth_values = req.headers.get_all(http::header::AUTHORIZATION).iter();
    let auth = auth_values.next();
    if auth.is_some() && auth_values.next().is_some() {
        return Err(SigV4Error::incomplete_signature(
            "Found more than one 'Authorization' header.",
        ));
    }
    let query = QueryParams::scan(req.query);
    match (auth, query.algorithm.is_some()) {
        (Some(_), true) => Err(SigV4Error::signature_mismatch_with(
            "Found both 'X-Amz-Algorithm' as a query-string param and 'Authorization' as HTTP header.",
        )),
        (Some(value), false) => {
            let text = String::from_utf8_lossy(value.as_bytes());
            if !text.trim_start().starts_with("AWS4-") {
                return Ok(None);
            }
            parse_header_auth(req, &text, &query).map(Some)
        }
        (None, true) => parse_query_auth(req, &query).map(Some),
        (None, false) => Ok(None),
    }
}

fn parse_header_auth(
    req: &Request<'_>,
    auth: &str,
    query: &QueryParams<'_>,
) -> Result<ParsedSignature, SigV4Error> {
    let mut tokens = auth.split([' ', '\t', ',']).filter(|t| !t.is_empty());
    let algorithm = tokens.next().unwrap_or_default();
    let (mut credential, mut signed_headers, mut signature) = (None, None, None);
    for token in tokens {
        let Some(eq) = token.find('=') else {
            return Err(SigV4Error::incomplete_signature(format!(
                "'{token}' not a valid key=value pair (missing equal-sign) in Authorization header: '{auth}'."
            )));
        };
        let value = &token[eq + 1..];
        match &token[..eq] {
            "Credential" => credential = Some(value),
            "SignedHeaders" => signed_headers = Some(value),
            "Signature" => signature = Some(value),
            _ => {}
        }
    }
    let x_amz_date = header_text(req.headers, "x-amz-date");
    let date = header_text(req.headers, "date");

    let credential = credential.filter(|c| !c.is_empty());
    let signature = signature.filter(|s| !s.is_empty());
    let mut missing = String::new();
    if credential.is_none() {
        missing.push_str("Authorization header requires 'Credential' parameter. ");
    }
    if signature.is_none() {
        missing.push_str("Authorization header requires 'Signature' parameter. ");
    }
    if signed_headers.is_none() {
        missing.push_str("Authorization header requires 'SignedHeaders' parameter. ");
    }
    if x_amz_date.is_none() && date.is_none() {
        missing.push_str(
            "Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header. ",
        );
    }
    let (Some(credential), Some(signature), Some(signed_headers), true) =
        (credential, signature, signed_headers, missing.is_empty())
    else {
        missing.push_str("Authorization=");
        missing.push_str(auth);
        return Err(SigV4Error::incomplete_signature(missing));
    };

    let (amz_date, timestamp) = match (x_amz_date, date) {
        (Some(v), _) => match parse_amz_date(&v) {
            Some(t) => (v.into_owned(), t),
            None => return Err(date_error(&v)),
        },
        (None, Some(d)) => match parse_http_date(&d) {
            Some(t) => (format_amz_date(t), t),
            None => return Err(date_error(&d)),
        },
        (None, None) => return Err(date_error("")),
    };
    check_algorithm(algorithm)?;

    let session_token = match header_text(req.headers, "x-amz-security-token") {
        Some(t) => Some(t.into_owned()),
        None => query.security_token.as_deref().map(str::to_string),
    };
    build(
        AuthLocation::Header,
        credential,
        amz_date,
        timestamp,
        signed_headers,
        signature,
        session_token,
        None,
    )
}

fn parse_query_auth(req: &Request<'_>, q: &QueryParams<'_>) -> Result<ParsedSignature, SigV4Error> {
    if let Some(name) = q.duplicate {
        return Err(SigV4Error::incomplete_signature(format!(
            "AWS query-string parameter '{name}' must not be repeated. Re-examine the query-string parameters."
        )));
    }
    let algorithm = non_empty(&q.algorithm);
    let credential = non_empty(&q.credential);
    let signature = non_empty(&q.signature);
    let signed_headers = non_empty(&q.signed_headers);
    let date = non_empty(&q.date);
    let mut missing = String::new();
    for (value, name) in [
        (algorithm, X_AMZ_ALGORITHM),
        (credential, X_AMZ_CREDENTIAL),
        (signature, X_AMZ_SIGNATURE),
        (signed_headers, X_AMZ_SIGNED_HEADERS),
        (date, X_AMZ_DATE),
    ] {
        if value.is_none() {
            missing.push_str("AWS query-string parameters must include '");
            missing.push_str(name);
            missing.push_str("'. ");
        }
    }
    let (Some(algorithm), Some(credential), Some(signature), Some(signed_headers), Some(date)) =
        (algorithm, credential, signature, signed_headers, date)
    else {
        missing.push_str("Re-examine the query-string parameters.");
        return Err(SigV4Error::incomplete_signature(missing));
    };

    let Some(timestamp) = parse_amz_date(date) else {
        return Err(date_error(date));
    };
    check_algorithm(algorithm)?;
    // Shape of the credential before X-Amz-Expires, as for the header form.
    split_credential(credential)?;
    let expires = match q.expires.as_deref() {
        None => None,
        Some(v) => match v.parse::<u64>() {
            Ok(n) if v.bytes().all(|b| b.is_ascii_digit()) => Some(n),
            _ => {
                return Err(SigV4Error::incomplete_signature(
                    "X-Amz-Expires should be a number",
                ));
            }
        },
    };
    let session_token = match q.security_token.as_deref() {
        Some(t) => Some(t.to_string()),
        None => header_text(req.headers, "x-amz-security-token").map(Cow::into_owned),
    };
    build(
        AuthLocation::Query,
        credential,
        date.to_string(),
        timestamp,
        signed_headers,
        signature,
        session_token,
        expires,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (n, v) in pairs {
            h.append(*n, HeaderValue::from_str(v).unwrap());
        }
        h
    }

    fn req<'a>(h: &'a HeaderMap, query: &'a str) -> Request<'a> {
        Request {
            method: "GET",
            path: "/",
            query,
            headers: h,
            body: b"",
        }
    }

    #[test]
    fn credential_split() {
        assert_eq!(
            split_credential("AKID/20150830/us-east-1/sts/aws4_request").unwrap(),
            ["AKID", "20150830", "us-east-1", "sts", "aws4_request"]
        );
        assert_eq!(
            split_credential("AKID/20150830/us-east-1/sts/aws4_request///").unwrap()[4],
            "aws4_request"
        );
        assert!(split_credential("a/b/c/d").is_err());
        assert!(split_credential("a/b/c/d/e/f").is_err());
        assert!(split_credential("").is_err());
        // Empty elements are kept (the scope check reports them).
        assert_eq!(split_credential("a//c/d/e").unwrap()[1], "");
    }

    #[test]
    fn header_form() {
        let h = headers(&[
            ("x-amz-date", "20150830T123600Z"),
            (
                "authorization",
                "AWS4-HMAC-SHA256 Credential=AKID/20150830/us-east-1/sts/aws4_request,SignedHeaders=Host;X-Amz-Date,Signature=ab,Unknown=1",
            ),
            ("x-amz-security-token", "t1"),
            ("x-amz-security-token", "t2"),
        ]);
        let p = parse(&req(&h, "X-Amz-Security-Token=q")).unwrap().unwrap();
        assert_eq!(p.location, AuthLocation::Header);
        assert_eq!(p.access_key_id, "AKID");
        assert_eq!(p.credential_scope(), "20150830/us-east-1/sts/aws4_request");
        assert_eq!(p.signed_headers, ["host", "x-amz-date"]);
        assert_eq!(p.signed_headers_raw, "Host;X-Amz-Date");
        assert_eq!(p.signature, "ab");
        assert_eq!(p.timestamp, 1_440_938_160);
        assert_eq!(p.session_token.as_deref(), Some("t1,t2"));
        assert_eq!(p.expires, None);
    }

    #[test]
    fn date_header_fallback() {
        let h = headers(&[
            ("date", "Sun, 30 Aug 2015 12:36:00 GMT"),
            (
                "authorization",
                "AWS4-HMAC-SHA256 Credential=AKID/20150830/us-east-1/sts/aws4_request, SignedHeaders=date;host, Signature=ab",
            ),
        ]);
        let p = parse(&req(&h, "")).unwrap().unwrap();
        assert_eq!(p.amz_date, "20150830T123600Z");
        assert_eq!(p.timestamp, 1_440_938_160);
        // X-Amz-Date wins over Date.
        let mut h2 = h.clone();
        h2.insert("x-amz-date", HeaderValue::from_static("20150830T000000Z"));
        let p = parse(&req(&h2, "")).unwrap().unwrap();
        assert_eq!(p.amz_date, "20150830T000000Z");
        // Two X-Amz-Date values are not a date.
        h2.append("x-amz-date", HeaderValue::from_static("20150830T000000Z"));
        assert!(parse(&req(&h2, "")).is_err());
    }

    #[test]
    fn query_form_decodes_values() {
        let h = headers(&[]);
        let q = "X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKID%2F20150830%2Fus-east-1%2Fsts%2Faws4_request&X-Amz-Date=20150830T123600Z&X-Amz-Expires=60&X-Amz-SignedHeaders=host%3Bx-k8s-aws-id&X-Amz-Security-Token=a%2Bb+c&X-Amz-Signature=ab";
        let p = parse(&req(&h, q)).unwrap().unwrap();
        assert_eq!(p.location, AuthLocation::Query);
        assert_eq!(p.access_key_id, "AKID");
        assert_eq!(p.signed_headers, ["host", "x-k8s-aws-id"]);
        assert_eq!(p.session_token.as_deref(), Some("a+b c"));
        assert_eq!(p.expires, Some(60));
        // Percent-encoded parameter names are recognised too.
        let p2 = parse(&req(&h, &q.replace("X-Amz-Algorithm", "X-Amz-%41lgorithm")))
            .unwrap()
            .unwrap();
        assert_eq!(p2.location, AuthLocation::Query);
        // Expires: digits only.
        for bad in ["-1", "+5", "1e3", "99999999999999999999999"] {
            let q = q.replace("X-Amz-Expires=60", &format!("X-Amz-Expires={bad}"));
            assert!(parse(&req(&h, &q)).is_err(), "{bad}");
        }
        // No X-Amz-Expires at all is fine.
        let q = q.replace("&X-Amz-Expires=60", "");
        assert_eq!(parse(&req(&h, &q)).unwrap().unwrap().expires, None);
    }
}
