//! AWS Signature Version 4 (`AWS4-HMAC-SHA256`) for the server side of an AWS-compatible
//! service: parse the auth material, check time and credential scope, recompute and compare the
//! signature. Also a signer (header-signed requests and presigned query strings) for tests, the
//! benchmark load generator and client helpers.
//!
//! Pure: no I/O, no clock (the current time is an argument), no global state.
//!
//! # Server flow
//! ```text
//! let Some(p) = parse(&req)? else { /* MissingAuthenticationToken (signed operations) */ };
//! check_scope(&p, "sts", now)?;            // skew ±15 min, host signed, scope
//! let secret = lookup(&p.access_key_id);    // InvalidClientTokenId when unknown; ASIA… needs
//!                                           // p.session_token (the server's job)
//! let key = cache.get_or(|| derive_signing_key(secret, &p.scope_date, &p.region, &p.service));
//! verify(&p, &req, &key)?;                  // SignatureDoesNotMatch
//! ```
//!
//! # Decisions worth knowing
//! * **`+` in the query string means a space** when canonicalizing (form decoding), so `a+b`
//!   and `a%20b` both canonicalize to `a%20b`; a literal plus must be sent as `%2B`. botocore
//!   never puts a raw `+` in a URL it builds (presign encodes a space as `%20`, a plus as
//!   `%2B`), Go and the Rust SDK decode `+` as a space too, and the server's own form decoder
//!   reads `+` as a space, so the signature covers what the server acts on. The only client
//!   output this rejects is a hand-built URL with a raw `+` signed by botocore's "use the query
//!   string verbatim" path (covered by a fixture that documents it).
//! * **Query keys and values are decoded, then RFC 3986-encoded**, so the canonical query does
//!   not depend on how the client escaped the URL (`%2f` vs `%2F`, raw UTF-8, `=` in values).
//!   Empty segments (`a=1&&b=2`) are ignored; a key without `=` has an empty value.
//! * **Canonical URI**: non-S3 rules — the raw path is normalized (dot segments, duplicate
//!   slashes) and percent-encoded again (double encoding). For STS the path is `/`.
//! * **Header values** are trimmed, inner runs of spaces/tabs collapsed, repeated headers
//!   joined with `,` in order of arrival. The canonical header block follows the client's
//!   `SignedHeaders` (lower-cased names, order as sent) and the `SignedHeaders` line is the
//!   value exactly as received. A signed header that is absent contributes an empty value
//!   (and therefore, in practice, a mismatch). For HTTP/2 the server must put the URI authority
//!   into a `host` header before calling in: `host` must always be signed.
//! * **Payload hash**: SHA-256 of the raw body. An `X-Amz-Content-Sha256` header is honoured
//!   (botocore puts it in the canonical request) only if it is the body's hash or
//!   `UNSIGNED-PAYLOAD` with an empty body; otherwise `SignatureDoesNotMatch`. A presigned
//!   request with an empty body also verifies when it was signed with `UNSIGNED-PAYLOAD`.
//! * **Both `Authorization` and `X-Amz-Algorithm`** → `SignatureDoesNotMatch` with AWS's text
//!   "Found both 'X-Amz-Algorithm' as a query-string param and 'Authorization' as HTTP header."
//!   (AWS reports it as an invalid signature).
//! * **An `Authorization` header not starting with `AWS4-`** (Bearer, SigV2) counts as no auth
//!   material (`Ok(None)`), which is how AWS ends up answering `MissingAuthenticationToken`.
//! * **Own choices where AWS's answer is unknown** (all `IncompleteSignature`): more than one
//!   `Authorization` header; a repeated `X-Amz-*` auth parameter in a presigned query; more than
//!   one `X-Amz-Date` value (reported as a bad date).
//! * **`X-Amz-Expires`** must be a number but is otherwise ignored: STS applies the fixed
//!   ±15 minute window to presigned requests too.
//!   [`check_scope_presigned`] applies S3's rule instead (valid until `X-Amz-Date` +
//!   `X-Amz-Expires`, at most seven days), for services that hand out presigned URLs.
//! * **Authorizers without the body**: [`verify_with`] takes the body's SHA-256
//!   ([`PayloadDigest::Sha256Hex`], same rules as the body itself) or accepts an unhashed body
//!   ([`PayloadDigest::Unverified`]), and can apply S3's canonical URI (the path as received).
//! * **Error order** follows AWS (key=value syntax, missing parameters, date format, algorithm,
//!   credential shape in [`parse`]; skew, `host` signed, scope in [`check_scope`]). One
//!   deviation: algorithm and credential-shape errors are reported before skew, because
//!   `parse` has no clock.

#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used, clippy::panic))]

mod canonical;
mod date;
mod encode;
mod error;
mod key;
mod parse;
mod sign;
mod verify;

pub use canonical::{canonical_request, string_to_sign};
pub use date::{format_amz_date, parse_amz_date, parse_http_date};
pub use error::{
    ErrorCode, MSG_CONTENT_SHA256_MISMATCH, MSG_EXPIRED_TOKEN, MSG_INVALID_CLIENT_TOKEN_ID,
    MSG_MISSING_AUTHENTICATION_TOKEN, MSG_SIGNATURE_DOES_NOT_MATCH, SigV4Error, SignError,
};
pub use key::{SigningKey, derive_signing_key};
pub use parse::{AuthLocation, ParsedSignature, parse};
pub use sign::{SigningParams, presign_query, sign_request, sign_request_with_signed_headers};
pub use verify::{
    MAX_PRESIGNED_EXPIRES_SECS, PayloadDigest, VerifyOptions, check_scope, check_scope_presigned,
    is_valid_region, verify, verify_with,
};

/// Allowed difference between `X-Amz-Date` and the server clock, either direction (STS: 15 min).
pub const MAX_CLOCK_SKEW_SECS: i64 = 900;
/// The only algorithm supported.
pub const ALGORITHM: &str = "AWS4-HMAC-SHA256";
/// Last element of every credential scope.
pub const TERMINATOR: &str = "aws4_request";
/// Payload-hash placeholder for an unsigned body.
pub const UNSIGNED_PAYLOAD: &str = "UNSIGNED-PAYLOAD";
/// Hex SHA-256 of the empty body.
pub const EMPTY_PAYLOAD_SHA256: &str =
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

/// The parts of an HTTP request that SigV4 covers, exactly as received.
#[derive(Debug, Clone, Copy)]
pub struct Request<'a> {
    /// `GET`, `POST`, … (used as is).
    pub method: &'a str,
    /// Raw path as received (still percent-encoded), e.g. `/`.
    pub path: &'a str,
    /// Raw query string as received, without the `?` (empty when there is none).
    pub query: &'a str,
    pub headers: &'a http::HeaderMap,
    /// Raw body bytes.
    pub body: &'a [u8],
}
