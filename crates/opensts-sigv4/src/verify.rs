//! Scope/time checks and signature verification.

use subtle::ConstantTimeEq;

use crate::canonical::{
    KnownPayload, PayloadHash, parts_for, payload_for_known, payload_for_verify, scope_of,
    write_canonical_request, write_string_to_sign,
};
use crate::date::format_amz_date;
use crate::error::{MSG_CONTENT_SHA256_MISMATCH, SigV4Error};
use crate::key::{SigningKey, sha256_hex};
use crate::parse::{AuthLocation, ParsedSignature};
use crate::{MAX_CLOCK_SKEW_SECS, Request, TERMINATOR, UNSIGNED_PAYLOAD};

/// Longest `X-Amz-Expires` a presigned request may carry under
/// [`check_scope_presigned`] (seven days, as in S3).
pub const MAX_PRESIGNED_EXPIRES_SECS: u64 = 604_800;

/// What the verifier knows about the body when it does not have the bytes (a service that
/// hands a request to a separate authorizer without its body).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PayloadDigest<'a> {
    /// Hex SHA-256 (either case) of the body as received. The rules of [`verify`] apply as if
    /// the body were present: an `X-Amz-Content-Sha256` header must equal it (or be
    /// `UNSIGNED-PAYLOAD` with the empty body's hash).
    Sha256Hex(&'a str),
    /// The body was not hashed: an `X-Amz-Content-Sha256` header is taken verbatim (and the
    /// caller must check the body against it, as S3 does while streaming) and without one the
    /// payload is `UNSIGNED-PAYLOAD` (presigned S3 URLs). Use it only when the body is
    /// verified elsewhere or does not matter.
    Unverified,
}

/// Options of [`verify_with`]. The default verifies exactly like [`verify`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct VerifyOptions<'a> {
    /// Use this instead of hashing `req.body` (which is then ignored).
    pub payload: Option<PayloadDigest<'a>>,
    /// S3's canonical URI: the path exactly as received (S3 neither normalizes the path nor
    /// encodes it a second time; every other service does both).
    pub s3_uri: bool,
}

const MSG_HOST_NOT_SIGNED: &str = "'Host' must be a 'SignedHeader' in the AWS Authorization.";

/// A syntactically valid region: 1–63 of `a-z 0-9 -`, not starting or ending with `-`
/// (`us-east-1`, `eu-isoe-west-1`, `local`). Any such region is accepted.
pub fn is_valid_region(region: &str) -> bool {
    let b = region.as_bytes();
    !b.is_empty()
        && b.len() <= 63
        && b.iter()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'-')
        && b[0] != b'-'
        && b[b.len() - 1] != b'-'
}

fn require_host_signed(p: &ParsedSignature) -> Result<(), SigV4Error> {
    if p.is_header_signed("host") {
        Ok(())
    } else {
        Err(SigV4Error::signature_mismatch_with(MSG_HOST_NOT_SIGNED))
    }
}

/// Check the request time and the credential scope, in AWS's order:
/// 1. clock skew beyond ±[`MAX_CLOCK_SKEW_SECS`] (`Signature expired: …` / `Signature not yet
///    current: …`);
/// 2. `host` must be a signed header;
/// 3. scope: region syntactically valid, service == `expected_service`, terminator
///    `aws4_request`, scope date == date of `X-Amz-Date` (all failures in one message, like AWS).
///
/// Every failure is `SignatureDoesNotMatch` (403).
pub fn check_scope(
    p: &ParsedSignature,
    expected_service: &str,
    now_unix: i64,
) -> Result<(), SigV4Error> {
    if p.timestamp < now_unix.saturating_sub(MAX_CLOCK_SKEW_SECS) {
        return Err(SigV4Error::signature_mismatch_with(format!(
            "Signature expired: {} is now earlier than {} ({} - 15 min.)",
            p.amz_date,
            format_amz_date(now_unix.saturating_sub(MAX_CLOCK_SKEW_SECS)),
            format_amz_date(now_unix)
        )));
    }
    if p.timestamp > now_unix.saturating_add(MAX_CLOCK_SKEW_SECS) {
        return Err(SigV4Error::signature_mismatch_with(format!(
            "Signature not yet current: {} is still later than {} ({} + 15 min.)",
            p.amz_date,
            format_amz_date(now_unix.saturating_add(MAX_CLOCK_SKEW_SECS)),
            format_amz_date(now_unix)
        )));
    }
    require_host_signed(p)?;

    let mut msg = String::new();
    if !is_valid_region(&p.region) {
        msg.push_str(&format!(
            "Credential should be scoped to a valid region, not '{}'. ",
            p.region
        ));
    }
    if p.service != expected_service {
        msg.push_str(&format!(
            "Credential should be scoped to correct service: '{expected_service}'. "
        ));
    }
    if p.terminator != TERMINATOR {
        msg.push_str(&format!(
            "Credential should be scoped with a valid terminator: 'aws4_request', not '{}'. ",
            p.terminator
        ));
    }
    let http_date = p.amz_date.get(..8).unwrap_or(&p.amz_date);
    if p.scope_date != http_date {
        msg.push_str(&format!(
            "Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP: '{}' != '{}', from '{}'.",
            p.scope_date, http_date, p.amz_date
        ));
    }
    if msg.is_empty() {
        Ok(())
    } else {
        Err(SigV4Error::signature_mismatch_with(msg))
    }
}

/// Recompute the signature of `req` with the derived `key` (for `p`'s date, region and
/// service) and compare it in constant time with the one the client sent.
///
/// The canonical request uses the client's `SignedHeaders` exactly as received. Call
/// [`check_scope`] first; `verify` re-checks only that `host` is signed.
pub fn verify(p: &ParsedSignature, req: &Request<'_>, key: &SigningKey) -> Result<(), SigV4Error> {
    verify_with(p, req, key, &VerifyOptions::default())
}

/// [`verify`] with options: a body digest instead of the body, S3 canonical URI rules.
pub fn verify_with(
    p: &ParsedSignature,
    req: &Request<'_>,
    key: &SigningKey,
    opts: &VerifyOptions<'_>,
) -> Result<(), SigV4Error> {
    require_host_signed(p)?;
    let (payload, try_unsigned) = match opts.payload {
        None => payload_for_verify(p.location, req)?,
        Some(PayloadDigest::Sha256Hex(hex)) => {
            let b = hex.as_bytes();
            if b.len() != 64 || !b.iter().all(u8::is_ascii_hexdigit) {
                return Err(SigV4Error::signature_mismatch_with(
                    MSG_CONTENT_SHA256_MISMATCH,
                ));
            }
            let mut h = [0u8; 64];
            for (d, s) in h.iter_mut().zip(b) {
                *d = s.to_ascii_lowercase();
            }
            payload_for_known(p.location, req.headers, KnownPayload::Sha256(h))?
        }
        Some(PayloadDigest::Unverified) => {
            payload_for_known(p.location, req.headers, KnownPayload::Unverified)?
        }
    };
    let mut buf = Vec::with_capacity(512 + req.query.len() + req.path.len());
    if matches_signature(p, req, key, &payload, opts.s3_uri, &mut buf) {
        return Ok(());
    }
    if try_unsigned
        && matches_signature(
            p,
            req,
            key,
            &PayloadHash::Header(UNSIGNED_PAYLOAD.as_bytes()),
            opts.s3_uri,
            &mut buf,
        )
    {
        return Ok(());
    }
    Err(SigV4Error::signature_does_not_match())
}

/// [`check_scope`] with S3's validity rule for presigned requests that carry
/// `X-Amz-Expires`: valid from `X-Amz-Date` − 15 minutes until `X-Amz-Date` + `X-Amz-Expires`
/// (at most [`MAX_PRESIGNED_EXPIRES_SECS`]), instead of the fixed ±15 minute window.
/// Header-signed requests, and presigned ones without `X-Amz-Expires`, get the fixed window.
///
/// A presigned request past its expiry is `SignatureDoesNotMatch` ("Request has expired …");
/// an `X-Amz-Expires` above seven days is `IncompleteSignature` (400).
pub fn check_scope_presigned(
    p: &ParsedSignature,
    expected_service: &str,
    now_unix: i64,
) -> Result<(), SigV4Error> {
    let expires = match (p.location, p.expires) {
        (AuthLocation::Query, Some(e)) => e,
        _ => return check_scope(p, expected_service, now_unix),
    };
    if expires > MAX_PRESIGNED_EXPIRES_SECS {
        return Err(SigV4Error::incomplete_signature(format!(
            "X-Amz-Expires must be less than a week (in seconds) that is {MAX_PRESIGNED_EXPIRES_SECS}"
        )));
    }
    let expires = i64::try_from(expires).unwrap_or(i64::MAX);
    let until = p.timestamp.saturating_add(expires);
    if now_unix > until {
        return Err(SigV4Error::signature_mismatch_with(format!(
            "Request has expired: X-Amz-Date {} + X-Amz-Expires {expires} s is earlier than {}",
            p.amz_date,
            format_amz_date(now_unix)
        )));
    }
    // Not yet current, host, region, service, terminator and date: as for any request, with
    // the clock placed inside the validity period when the request is not from the future.
    let probe = if p.timestamp <= now_unix {
        p.timestamp
    } else {
        now_unix
    };
    check_scope(p, expected_service, probe)
}

fn matches_signature(
    p: &ParsedSignature,
    req: &Request<'_>,
    key: &SigningKey,
    payload: &PayloadHash<'_>,
    s3_uri: bool,
    buf: &mut Vec<u8>,
) -> bool {
    buf.clear();
    write_canonical_request(buf, &parts_for(p, req, payload.as_bytes(), s3_uri));
    let creq_hash = sha256_hex(buf);
    buf.clear();
    write_string_to_sign(buf, &p.amz_date, scope_of(p), &creq_hash);
    let expected = key.sign_hex(buf);
    let provided = p.signature.as_bytes();
    provided.len() == expected.len() && bool::from(expected[..].ct_eq(provided))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn regions() {
        for ok in ["us-east-1", "eu-isoe-west-1", "local", "a", "cn-north-1"] {
            assert!(is_valid_region(ok), "{ok}");
        }
        for bad in [
            "",
            "-us",
            "us-",
            "US-EAST-1",
            "us_east_1",
            "us east",
            &"a".repeat(64),
        ] {
            assert!(!is_valid_region(bad), "{bad}");
        }
    }
}
