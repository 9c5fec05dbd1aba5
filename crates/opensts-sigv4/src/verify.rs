//! Scope/time checks and signature verification.

use subtle::ConstantTimeEq;

use crate::canonical::{
    PayloadHash, parts_for, payload_for_verify, scope_of, write_canonical_request,
    write_string_to_sign,
};
use crate::date::format_amz_date;
use crate::error::SigV4Error;
use crate::key::{SigningKey, sha256_hex};
use crate::parse::ParsedSignature;
use crate::{MAX_CLOCK_SKEW_SECS, Request, TERMINATOR, UNSIGNED_PAYLOAD};

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
    require_host_signed(p)?;
    let (payload, try_unsigned) = payload_for_verify(p.location, req)?;
    let mut buf = Vec::with_capacity(512 + req.query.len() + req.path.len());
    if matches_signature(p, req, key, &payload, &mut buf) {
        return Ok(());
    }
    if try_unsigned
        && matches_signature(
            p,
            req,
            key,
            &PayloadHash::Header(UNSIGNED_PAYLOAD.as_bytes()),
            &mut buf,
        )
    {
        return Ok(());
    }
    Err(SigV4Error::signature_does_not_match())
}

fn matches_signature(
    p: &ParsedSignature,
    req: &Request<'_>,
    key: &SigningKey,
    payload: &PayloadHash<'_>,
    buf: &mut Vec<u8>,
) -> bool {
    buf.clear();
    write_canonical_request(buf, &parts_for(p, req, payload.as_bytes()));
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
