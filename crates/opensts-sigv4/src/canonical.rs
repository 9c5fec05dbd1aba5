//! Canonical request and string to sign, shared by the verifier and the signer.

use http::HeaderMap;

use crate::encode::{write_canonical_query, write_canonical_uri, write_s3_canonical_uri};
use crate::error::{MSG_CONTENT_SHA256_MISMATCH, SigV4Error};
use crate::key::sha256_hex;
use crate::parse::{AuthLocation, ParsedSignature};
use crate::{ALGORITHM, EMPTY_PAYLOAD_SHA256, Request, UNSIGNED_PAYLOAD};

/// What goes on the last line of the canonical request.
pub(crate) enum PayloadHash<'a> {
    /// Lowercase hex SHA-256 of the body.
    Computed([u8; 64]),
    /// The client's `X-Amz-Content-Sha256` value, used verbatim (already checked against the body).
    Header(&'a [u8]),
}

impl PayloadHash<'_> {
    pub(crate) fn as_bytes(&self) -> &[u8] {
        match self {
            PayloadHash::Computed(h) => h,
            PayloadHash::Header(v) => v,
        }
    }
}

/// What the verifier knows about the body.
#[derive(Clone, Copy)]
pub(crate) enum KnownPayload {
    /// Lowercase hex SHA-256 of the body received.
    Sha256([u8; 64]),
    /// The body's hash is not known to the verifier: an `X-Amz-Content-Sha256` value is used
    /// verbatim (the caller checks the body against it), and without one the payload is
    /// `UNSIGNED-PAYLOAD`.
    Unverified,
}

/// The payload hash for verification, and whether `UNSIGNED-PAYLOAD` may be tried as well.
///
/// An `X-Amz-Content-Sha256` header is used verbatim (botocore does) but only after checking
/// that it describes the body received: the hex SHA-256 of the body (any case), or
/// `UNSIGNED-PAYLOAD` with an empty body. Anything else is refused, so a body can never be
/// swapped under a signature. A presigned request without that header and with an empty body
/// may have been signed with `UNSIGNED-PAYLOAD` (S3-style presigners); that is tried second.
pub(crate) fn payload_for_verify<'a>(
    location: AuthLocation,
    req: &Request<'a>,
) -> Result<(PayloadHash<'a>, bool), SigV4Error> {
    payload_for_known(
        location,
        req.headers,
        KnownPayload::Sha256(sha256_hex(req.body)),
    )
}

/// [`payload_for_verify`] when only the body's hash (or nothing) is known. With
/// [`KnownPayload::Sha256`] the rules are exactly those of [`payload_for_verify`] (an empty body
/// is the body whose hash is [`crate::EMPTY_PAYLOAD_SHA256`]).
pub(crate) fn payload_for_known<'a>(
    location: AuthLocation,
    headers: &'a HeaderMap,
    known: KnownPayload,
) -> Result<(PayloadHash<'a>, bool), SigV4Error> {
    let empty =
        matches!(known, KnownPayload::Sha256(h) if h[..] == *EMPTY_PAYLOAD_SHA256.as_bytes());
    let mut values = headers.get_all("x-amz-content-sha256").iter();
    let Some(v) = values.next() else {
        return Ok(match known {
            KnownPayload::Sha256(h) => (
                PayloadHash::Computed(h),
                location == AuthLocation::Query && empty,
            ),
            KnownPayload::Unverified => (PayloadHash::Header(UNSIGNED_PAYLOAD.as_bytes()), false),
        });
    };
    let mismatch = || SigV4Error::signature_mismatch_with(MSG_CONTENT_SHA256_MISMATCH);
    if values.next().is_some() {
        return Err(mismatch());
    }
    let v = v.as_bytes();
    let ok = match known {
        KnownPayload::Sha256(h) => {
            if v == UNSIGNED_PAYLOAD.as_bytes() {
                empty
            } else {
                v.len() == 64 && v.eq_ignore_ascii_case(&h)
            }
        }
        KnownPayload::Unverified => true,
    };
    if ok {
        Ok((PayloadHash::Header(v), false))
    } else {
        Err(mismatch())
    }
}

/// Append a header value with leading/trailing blanks removed and inner runs of spaces/tabs
/// collapsed to one space.
fn write_trimmed(out: &mut Vec<u8>, value: &[u8]) {
    let mut started = false;
    let mut pending_space = false;
    for &b in value {
        if b == b' ' || b == b'\t' {
            pending_space = started;
        } else {
            if pending_space {
                out.push(b' ');
                pending_space = false;
            }
            out.push(b);
            started = true;
        }
    }
}

/// Everything needed to write a canonical request.
pub(crate) struct CanonicalParts<'a> {
    pub method: &'a str,
    pub path: &'a str,
    pub query: &'a str,
    /// Leave `X-Amz-Signature` out of the canonical query (presigned requests).
    pub skip_signature: bool,
    pub headers: &'a HeaderMap,
    /// S3 rules for the canonical URI: the path as received, neither normalized nor encoded
    /// again.
    pub s3_uri: bool,
    /// Lower-cased names, in `SignedHeaders` order.
    pub signed_headers: &'a [String],
    /// `SignedHeaders` as it appears on the wire.
    pub signed_headers_raw: &'a str,
    pub payload_hash: &'a [u8],
}

/// Append the canonical request.
pub(crate) fn write_canonical_request(out: &mut Vec<u8>, c: &CanonicalParts<'_>) {
    out.extend_from_slice(c.method.as_bytes());
    out.push(b'\n');
    if c.s3_uri {
        write_s3_canonical_uri(out, c.path);
    } else {
        write_canonical_uri(out, c.path);
    }
    out.push(b'\n');
    write_canonical_query(out, c.query, c.skip_signature);
    out.push(b'\n');
    for name in c.signed_headers {
        out.extend_from_slice(name.as_bytes());
        out.push(b':');
        for (i, v) in c.headers.get_all(name.as_str()).iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            write_trimmed(out, v.as_bytes());
        }
        out.push(b'\n');
    }
    out.push(b'\n');
    out.extend_from_slice(c.signed_headers_raw.as_bytes());
    out.push(b'\n');
    out.extend_from_slice(c.payload_hash);
}

/// Append the string to sign.
pub(crate) fn write_string_to_sign(
    out: &mut Vec<u8>,
    amz_date: &str,
    scope: [&str; 4],
    canonical_request_hash: &[u8; 64],
) {
    out.extend_from_slice(ALGORITHM.as_bytes());
    out.push(b'\n');
    out.extend_from_slice(amz_date.as_bytes());
    out.push(b'\n');
    for (i, part) in scope.iter().enumerate() {
        if i > 0 {
            out.push(b'/');
        }
        out.extend_from_slice(part.as_bytes());
    }
    out.push(b'\n');
    out.extend_from_slice(canonical_request_hash);
}

pub(crate) fn parts_for<'a>(
    p: &'a ParsedSignature,
    req: &'a Request<'a>,
    payload_hash: &'a [u8],
    s3_uri: bool,
) -> CanonicalParts<'a> {
    CanonicalParts {
        method: req.method,
        path: req.path,
        query: req.query,
        skip_signature: p.location == AuthLocation::Query,
        headers: req.headers,
        s3_uri,
        signed_headers: &p.signed_headers,
        signed_headers_raw: &p.signed_headers_raw,
        payload_hash,
    }
}

pub(crate) fn scope_of(p: &ParsedSignature) -> [&str; 4] {
    [&p.scope_date, &p.region, &p.service, &p.terminator]
}

/// The canonical request the verifier computes for `req` (for debugging and tests). Uses the
/// body hash (or the validated `X-Amz-Content-Sha256`), never the `UNSIGNED-PAYLOAD` fallback.
pub fn canonical_request(p: &ParsedSignature, req: &Request<'_>) -> Result<Vec<u8>, SigV4Error> {
    let (payload, _) = payload_for_verify(p.location, req)?;
    let mut out = Vec::with_capacity(512);
    write_canonical_request(&mut out, &parts_for(p, req, payload.as_bytes(), false));
    Ok(out)
}

/// The string to sign for a canonical request under `p`'s date and scope.
pub fn string_to_sign(p: &ParsedSignature, canonical_request: &[u8]) -> String {
    let mut out = Vec::with_capacity(160);
    write_string_to_sign(
        &mut out,
        &p.amz_date,
        scope_of(p),
        &sha256_hex(canonical_request),
    );
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn trimmed(v: &str) -> String {
        let mut out = Vec::new();
        write_trimmed(&mut out, v.as_bytes());
        String::from_utf8(out).unwrap_or_default()
    }

    #[test]
    fn trimming() {
        assert_eq!(trimmed("value1"), "value1");
        assert_eq!(trimmed("  \"a   b   c\"  "), "\"a b c\"");
        assert_eq!(trimmed("a\t \tb"), "a b");
        assert_eq!(trimmed("   "), "");
        assert_eq!(trimmed(""), "");
        assert_eq!(trimmed("x "), "x");
    }
}
