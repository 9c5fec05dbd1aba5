//! The one error type of this crate, carrying the AWS error code and message the server returns.

use std::fmt;

/// `SignatureDoesNotMatch` text AWS returns when the recomputed signature differs.
pub const MSG_SIGNATURE_DOES_NOT_MATCH: &str = "The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method. Consult the service documentation for details.";
/// `InvalidClientTokenId` text (unknown access key id, bad or missing session token).
pub const MSG_INVALID_CLIENT_TOKEN_ID: &str =
    "The security token included in the request is invalid.";
/// `MissingAuthenticationToken` text (signed operation without any auth material).
pub const MSG_MISSING_AUTHENTICATION_TOKEN: &str = "Request is missing Authentication Token";
/// `ExpiredToken` text (session credentials past their expiration). AWS omits the final period.
pub const MSG_EXPIRED_TOKEN: &str = "The security token included in the request is expired";
/// Text used when `X-Amz-Content-Sha256` does not describe the body that was received
/// (S3's wording; STS clients normally never send the header).
pub const MSG_CONTENT_SHA256_MISMATCH: &str =
    "The provided 'x-amz-content-sha256' header does not match what was computed.";

/// The AWS error codes this crate produces (and the few the server adds around it).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorCode {
    /// 400: the Authorization header / presigned query parameters are malformed or incomplete.
    IncompleteSignature,
    /// 403: bad signature, bad credential scope or clock skew.
    SignatureDoesNotMatch,
    /// 403: unknown access key id or invalid session token (decided by the server).
    InvalidClientTokenId,
    /// 403: a signed operation arrived without any authentication material.
    MissingAuthenticationToken,
    /// 403: the session credentials used to sign have expired (decided by the server).
    ExpiredToken,
}

impl ErrorCode {
    /// The wire `<Code>`.
    pub const fn as_str(self) -> &'static str {
        match self {
            ErrorCode::IncompleteSignature => "IncompleteSignature",
            ErrorCode::SignatureDoesNotMatch => "SignatureDoesNotMatch",
            ErrorCode::InvalidClientTokenId => "InvalidClientTokenId",
            ErrorCode::MissingAuthenticationToken => "MissingAuthenticationToken",
            ErrorCode::ExpiredToken => "ExpiredToken",
        }
    }

    /// The HTTP status STS uses for this code.
    pub const fn http_status(self) -> u16 {
        match self {
            ErrorCode::IncompleteSignature => 400,
            ErrorCode::SignatureDoesNotMatch
            | ErrorCode::InvalidClientTokenId
            | ErrorCode::MissingAuthenticationToken
            | ErrorCode::ExpiredToken => 403,
        }
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An authentication failure: AWS code plus the exact message to send back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SigV4Error {
    pub code: ErrorCode,
    pub message: String,
}

impl SigV4Error {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        SigV4Error {
            code,
            message: message.into(),
        }
    }

    /// The wire `<Code>`, e.g. `"SignatureDoesNotMatch"`.
    pub fn code_str(&self) -> &'static str {
        self.code.as_str()
    }

    /// 400 or 403.
    pub fn http_status(&self) -> u16 {
        self.code.http_status()
    }

    pub fn incomplete_signature(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::IncompleteSignature, message)
    }

    /// `SignatureDoesNotMatch` with a specific message (scope, skew, ...).
    pub fn signature_mismatch_with(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::SignatureDoesNotMatch, message)
    }

    /// `SignatureDoesNotMatch` with AWS's standard "we calculated" text.
    pub fn signature_does_not_match() -> Self {
        Self::new(
            ErrorCode::SignatureDoesNotMatch,
            MSG_SIGNATURE_DOES_NOT_MATCH,
        )
    }

    pub fn invalid_client_token_id() -> Self {
        Self::new(ErrorCode::InvalidClientTokenId, MSG_INVALID_CLIENT_TOKEN_ID)
    }

    pub fn missing_authentication_token() -> Self {
        Self::new(
            ErrorCode::MissingAuthenticationToken,
            MSG_MISSING_AUTHENTICATION_TOKEN,
        )
    }

    pub fn expired_token() -> Self {
        Self::new(ErrorCode::ExpiredToken, MSG_EXPIRED_TOKEN)
    }
}

impl fmt::Display for SigV4Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.code, self.message)
    }
}

impl std::error::Error for SigV4Error {}

/// Failure of the client-side signer (bad input such as a session token that is not a valid
/// header value, or a request without a `host` header).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignError {
    pub message: String,
}

impl SignError {
    pub(crate) fn new(message: impl Into<String>) -> Self {
        SignError {
            message: message.into(),
        }
    }
}

impl fmt::Display for SignError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "cannot sign request: {}", self.message)
    }
}

impl std::error::Error for SignError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_and_statuses() {
        assert_eq!(
            SigV4Error::incomplete_signature("x").code_str(),
            "IncompleteSignature"
        );
        assert_eq!(SigV4Error::incomplete_signature("x").http_status(), 400);
        assert_eq!(SigV4Error::signature_does_not_match().http_status(), 403);
        assert_eq!(SigV4Error::invalid_client_token_id().http_status(), 403);
        assert_eq!(
            SigV4Error::missing_authentication_token().code_str(),
            "MissingAuthenticationToken"
        );
        assert_eq!(SigV4Error::expired_token().code_str(), "ExpiredToken");
        assert_eq!(
            SigV4Error::signature_does_not_match().to_string(),
            format!("SignatureDoesNotMatch: {MSG_SIGNATURE_DOES_NOT_MATCH}")
        );
    }
}
