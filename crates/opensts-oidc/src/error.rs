//! The one error type of this crate.
//!
//! [`OidcError::message`] (also `Display`) is the client-facing text the server puts in the STS
//! `ErrorResponse`; it never contains key material, internal addresses or transport details.
//! [`OidcError::detail`] carries those details for logs only. [`OidcError::reason_code`] is a
//! short stable label for metrics, [`OidcError::aws_error_code`] the STS error code.

use std::fmt;

/// The text AWS returns when it cannot get a usable verification key from the IdP.
pub const KEY_RETRIEVAL_MESSAGE: &str = "Couldn't retrieve verification key from your identity provider, please reference AssumeRoleWithWebIdentity documentation for requirements";

/// The text for an unreachable IdP (`IDPCommunicationError`, retryable).
pub const IDP_COMMUNICATION_MESSAGE: &str = "The identity provider could not be reached to verify the web identity token. Please try again.";

/// Why a web identity token was refused (or could not be checked).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum OidcError {
    /// Longer than [`crate::MAX_TOKEN_LEN`].
    TokenTooLarge { len: usize },
    /// Not a JWS compact JWT (wrong segment count, bad base64url, bad JSON, duplicate claims,
    /// unknown `crit` header, missing `alg`, …). The string says what, for logs and the message.
    Malformed(String),
    /// `alg` is `none`, an HMAC algorithm, or anything else not on the allow list.
    UnsupportedAlgorithm(String),
    /// No key in the IdP's key set has the token's `kid` (or the `kid` is implausible).
    UnknownKey,
    /// A key with the token's `kid` exists but cannot verify the token's `alg` (family, curve
    /// or the key's own `alg` differ).
    KeyAlgorithmMismatch,
    /// The signature does not verify.
    InvalidSignature,
    /// `iss` is not the provider URL. Holds the token's issuer (truncated, printable ASCII).
    IssuerMismatch(String),
    /// No `aud` (nor `azp`) value is one of the provider's client ids.
    IncorrectAudience,
    /// A required claim is absent (or empty).
    MissingClaim(&'static str),
    /// A claim has the wrong type or shape (e.g. a non-integer timestamp).
    InvalidClaim {
        claim: &'static str,
        problem: &'static str,
    },
    /// `exp` is not in the future. The server answers `ExpiredTokenException`.
    Expired,
    /// `nbf` is further in the future than the allowed clock skew.
    NotYetValid,
    /// `iat` is further in the future than the allowed clock skew.
    IssuedInFuture,
    /// The IdP answered but discovery / key set could not be used (bad JSON, no `jwks_uri`,
    /// non-HTTPS `jwks_uri`, no usable key, 4xx, body too large, …).
    KeyRetrieval(String),
    /// The IdP could not be reached (connect error, timeout, TLS failure, 5xx) and no usable
    /// cached keys exist. The server answers `IDPCommunicationError`.
    IdpCommunication(String),
    /// Thumbprints are configured for the provider and no certificate the JWKS host presented
    /// matches any of them.
    ThumbprintMismatch,
    /// Local misconfiguration (unreadable CA bundle, …): an internal failure, not the caller's.
    Config(String),
}

impl OidcError {
    /// A short, stable label for metrics and logs.
    pub fn reason_code(&self) -> &'static str {
        match self {
            OidcError::TokenTooLarge { .. } => "too_large",
            OidcError::Malformed(_) => "malformed",
            OidcError::UnsupportedAlgorithm(_) => "unsupported_alg",
            OidcError::UnknownKey => "unknown_kid",
            OidcError::KeyAlgorithmMismatch => "alg_key_mismatch",
            OidcError::InvalidSignature => "bad_signature",
            OidcError::IssuerMismatch(_) => "issuer_mismatch",
            OidcError::IncorrectAudience => "bad_audience",
            OidcError::MissingClaim(_) => "missing_claim",
            OidcError::InvalidClaim { .. } => "invalid_claim",
            OidcError::Expired => "expired",
            OidcError::NotYetValid => "not_yet_valid",
            OidcError::IssuedInFuture => "issued_in_future",
            OidcError::KeyRetrieval(_) => "key_retrieval",
            OidcError::IdpCommunication(_) => "idp_unreachable",
            OidcError::ThumbprintMismatch => "thumbprint_mismatch",
            OidcError::Config(_) => "config",
        }
    }

    /// The STS error code the server should answer with.
    pub fn aws_error_code(&self) -> &'static str {
        match self {
            OidcError::TokenTooLarge { .. } => "ValidationError",
            OidcError::Expired => "ExpiredTokenException",
            OidcError::IdpCommunication(_) => "IDPCommunicationError",
            OidcError::Config(_) => "InternalFailure",
            _ => "InvalidIdentityToken",
        }
    }

    /// HTTP status for [`Self::aws_error_code`] (all client errors except the IdP being down
    /// and local misconfiguration).
    pub fn http_status(&self) -> u16 {
        match self {
            OidcError::Config(_) => 500,
            _ => 400,
        }
    }

    /// True when retrying the same request later may succeed.
    pub fn is_retryable(&self) -> bool {
        matches!(self, OidcError::IdpCommunication(_))
    }

    /// The client-facing message (AWS wording where AWS has one).
    pub fn message(&self) -> String {
        match self {
            OidcError::TokenTooLarge { .. } => format!(
                "1 validation error detected: Value at 'webIdentityToken' failed to satisfy constraint: Member must have length less than or equal to {}",
                crate::MAX_TOKEN_LEN
            ),
            OidcError::Malformed(what) => format!("Invalid token: {what}"),
            OidcError::UnsupportedAlgorithm(alg) => format!("Unsupported algorithm: {alg}"),
            OidcError::UnknownKey => KEY_RETRIEVAL_MESSAGE.to_string(),
            OidcError::KeyAlgorithmMismatch => {
                "The token's algorithm does not match its verification key".to_string()
            }
            OidcError::InvalidSignature => "The token's signature is invalid".to_string(),
            OidcError::IssuerMismatch(iss) => {
                format!("No OpenIDConnect provider found in your account for {iss}")
            }
            OidcError::IncorrectAudience => "Incorrect token audience".to_string(),
            OidcError::MissingClaim(c) => format!("Missing a required claim: {c}"),
            OidcError::InvalidClaim { claim, problem } => {
                format!("Invalid claim {claim}: {problem}")
            }
            OidcError::Expired => "Token is expired".to_string(),
            OidcError::NotYetValid => "Token is not yet valid (nbf is in the future)".to_string(),
            OidcError::IssuedInFuture => "Token was issued in the future (iat)".to_string(),
            OidcError::KeyRetrieval(_) => KEY_RETRIEVAL_MESSAGE.to_string(),
            OidcError::IdpCommunication(_) => IDP_COMMUNICATION_MESSAGE.to_string(),
            OidcError::ThumbprintMismatch => {
                "OpenIDConnect provider's HTTPS certificate doesn't match configured thumbprint"
                    .to_string()
            }
            OidcError::Config(_) => "An internal error occurred".to_string(),
        }
    }

    /// Extra detail for logs (never sent to the client). Empty when there is none.
    pub fn detail(&self) -> &str {
        match self {
            OidcError::KeyRetrieval(d) | OidcError::IdpCommunication(d) | OidcError::Config(d) => d,
            OidcError::Malformed(d) => d,
            _ => "",
        }
    }
}

impl fmt::Display for OidcError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message())
    }
}

impl std::error::Error for OidcError {}

/// Makes an untrusted string safe to echo: printable ASCII only, at most `max` chars.
pub(crate) fn sanitize(s: &str, max: usize) -> String {
    let mut out: String = s
        .chars()
        .filter(|c| c.is_ascii_graphic() || *c == ' ')
        .take(max)
        .collect();
    if s.chars().count() > max {
        out.push('…');
    }
    out
}
