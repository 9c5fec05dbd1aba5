//! The one error type of this crate.
//!
//! Every failed check has its own variant, a stable [`SamlError::reason_code`] (for metrics and
//! logs) and a [`SamlError::message`] meant for the API caller. Messages copy AWS's texts where
//! they are known (sts-spec §9); the others are OpenSTS's own wording. Keep detail (the `String`
//! payloads) for logs: the messages never echo attacker-controlled content.

/// Why a SAML message or IdP metadata document was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SamlError {
    /// Input longer than the limit (`what` names the input, `limit` is in characters/bytes).
    #[error("{what} is larger than {limit}")]
    TooLarge { what: &'static str, limit: usize },
    /// Metadata shorter than AWS's minimum document length.
    #[error("{what} is shorter than {limit}")]
    TooSmall { what: &'static str, limit: usize },
    /// `SAMLAssertion` is not strict base64.
    #[error("SAML response is not valid base64")]
    InvalidBase64,
    /// The document has a DTD (`<!DOCTYPE`); DTDs are refused (XXE, entity expansion).
    #[error("XML with a DTD is refused")]
    Dtd,
    /// Parser limits (nodes, depth, attributes per element) exceeded.
    #[error("XML limit exceeded: {0}")]
    LimitExceeded(&'static str),
    /// Not well-formed XML, not UTF-8, a required element or attribute missing or invalid.
    #[error("malformed SAML: {0}")]
    Malformed(String),
    /// Structure that signature-wrapping attacks use: duplicate IDs, more than one assertion,
    /// a Signature that is not a direct child of what it signs, a Reference to something else …
    #[error("SAML structure refused: {0}")]
    Structure(String),
    /// A comment, processing instruction or element inside an identity field (NameID, Issuer,
    /// Audience, AttributeValue …). Canonicalization drops comments, so such text could read
    /// differently from what was signed (CVE-2017-11427 family).
    #[error("comment or markup inside <{0}> is refused")]
    MixedContent(String),
    /// Response `Status` is not Success.
    #[error("SAML status is not Success: {0}")]
    StatusNotSuccess(String),
    /// An `EncryptedAssertion` (or `EncryptedID`): not supported yet.
    #[error("encrypted SAML assertions are not supported")]
    EncryptedAssertionUnsupported,
    /// Neither the Response nor the Assertion carries a signature.
    #[error("SAML response is not signed")]
    Unsigned,
    /// Signature, digest or canonicalization algorithm, or transform, outside the allow-list.
    #[error("unsupported algorithm: {0}")]
    UnsupportedAlgorithm(String),
    /// The signature does not verify with any trusted key, and the message names (KeyInfo) a
    /// certificate that is not one of the trusted ones.
    #[error("signature is not from a trusted key")]
    UntrustedKey,
    /// The signature over SignedInfo does not verify with any trusted key.
    #[error("signature invalid")]
    SignatureInvalid,
    /// The signature is valid but the referenced content was changed (digest mismatch).
    #[error("digest mismatch")]
    DigestMismatch,
    /// `NotOnOrAfter` (Conditions, SubjectConfirmationData or SessionNotOnOrAfter) has passed.
    #[error("SAML response has expired")]
    Expired,
    /// The assertion was issued longer ago than `VerifyOptions::max_issue_age_secs`.
    #[error("SAML assertion issued too long ago")]
    IssuedTooLongAgo,
    /// `NotBefore` (or `IssueInstant`) is in the future.
    #[error("SAML response is not yet valid")]
    NotYetValid,
    /// Issuer differs from the provider's entityID.
    #[error("wrong issuer")]
    WrongIssuer,
    /// No accepted audience in `AudienceRestriction`.
    #[error("wrong audience")]
    WrongAudience,
    /// Recipient (or Response `Destination`) is not an accepted endpoint.
    #[error("wrong recipient")]
    WrongRecipient,
    /// `Subject`/`NameID` missing or not usable, or not exactly one bearer SubjectConfirmation.
    #[error("subject invalid: {0}")]
    Subject(String),
    /// A certificate that does not parse or whose key is not acceptable.
    #[error("invalid certificate: {0}")]
    InvalidCertificate(String),
    /// IdP metadata without a usable structure (no IdP, several IdPs, no entityID …).
    #[error("invalid metadata: {0}")]
    InvalidMetadata(String),
    /// Metadata with no usable signing certificate.
    #[error("metadata has no signing certificate")]
    NoSigningCertificate,
    /// An AWS attribute that is required is missing (the name is in the payload).
    #[error("missing attribute {0}")]
    MissingAttribute(&'static str),
    /// An AWS attribute has an invalid value.
    #[error("invalid attribute {0}")]
    InvalidAttribute(&'static str),
}

impl SamlError {
    /// A stable, low-cardinality identifier for metrics and logs. Never changes once released.
    pub fn reason_code(&self) -> &'static str {
        match self {
            SamlError::TooLarge { .. } => "too_large",
            SamlError::TooSmall { .. } => "too_small",
            SamlError::InvalidBase64 => "invalid_base64",
            SamlError::Dtd => "dtd",
            SamlError::LimitExceeded(_) => "limit_exceeded",
            SamlError::Malformed(_) => "malformed",
            SamlError::Structure(_) => "structure",
            SamlError::MixedContent(_) => "mixed_content",
            SamlError::StatusNotSuccess(_) => "status_not_success",
            SamlError::EncryptedAssertionUnsupported => "encrypted_assertion_unsupported",
            SamlError::Unsigned => "unsigned",
            SamlError::UnsupportedAlgorithm(_) => "unsupported_algorithm",
            SamlError::UntrustedKey => "untrusted_key",
            SamlError::SignatureInvalid => "signature_invalid",
            SamlError::DigestMismatch => "digest_mismatch",
            SamlError::Expired => "expired",
            SamlError::IssuedTooLongAgo => "issued_too_long_ago",
            SamlError::NotYetValid => "not_yet_valid",
            SamlError::WrongIssuer => "wrong_issuer",
            SamlError::WrongAudience => "wrong_audience",
            SamlError::WrongRecipient => "wrong_recipient",
            SamlError::Subject(_) => "subject",
            SamlError::InvalidCertificate(_) => "invalid_certificate",
            SamlError::InvalidMetadata(_) => "invalid_metadata",
            SamlError::NoSigningCertificate => "no_signing_certificate",
            SamlError::MissingAttribute(_) => "missing_attribute",
            SamlError::InvalidAttribute(_) => "invalid_attribute",
        }
    }

    /// The text for the API caller. AWS's wording where it is known (sts-spec §9.2), else
    /// OpenSTS's. Never contains input-derived text.
    pub fn message(&self) -> String {
        match self {
            SamlError::TooLarge { what, limit } => {
                format!("{what} must be at most {limit} characters long")
            }
            SamlError::TooSmall { what, limit } => {
                format!("{what} must be at least {limit} characters long")
            }
            SamlError::InvalidBase64
            | SamlError::Dtd
            | SamlError::LimitExceeded(_)
            | SamlError::Malformed(_)
            | SamlError::Structure(_)
            | SamlError::MixedContent(_) => "Invalid SAML response".to_string(),
            SamlError::StatusNotSuccess(_) => "SAML response status is not Success".to_string(),
            SamlError::EncryptedAssertionUnsupported => {
                "Encrypted SAML assertions are not supported".to_string()
            }
            SamlError::Unsigned
            | SamlError::UntrustedKey
            | SamlError::SignatureInvalid
            | SamlError::DigestMismatch => "Response signature invalid".to_string(),
            SamlError::UnsupportedAlgorithm(_) => {
                "Response signature uses an unsupported algorithm".to_string()
            }
            SamlError::Expired => "Response has expired".to_string(),
            SamlError::IssuedTooLongAgo => {
                "Token must be redeemed within 5 minutes of issuance".to_string()
            }
            SamlError::NotYetValid => "Response is not yet valid".to_string(),
            SamlError::WrongIssuer => "Issuer not present in specified provider".to_string(),
            SamlError::WrongAudience => {
                "Response does not contain the required audience.".to_string()
            }
            SamlError::WrongRecipient => "Response does not contain a valid recipient.".to_string(),
            SamlError::Subject(_) => "Response does not contain a valid subject".to_string(),
            SamlError::InvalidCertificate(_) => {
                "Invalid certificate in the SAML metadata document".to_string()
            }
            SamlError::InvalidMetadata(_) => "Invalid SAML metadata document".to_string(),
            SamlError::NoSigningCertificate => {
                "The SAML metadata document has no signing certificate".to_string()
            }
            SamlError::MissingAttribute("RoleSessionName") => {
                "RoleSessionName is required in AuthnResponse".to_string()
            }
            SamlError::InvalidAttribute("RoleSessionName") => {
                "RoleSessionName in AuthnResponse must match [a-zA-Z_0-9+=,.@-]{2,64}".to_string()
            }
            SamlError::MissingAttribute(name) => format!("{name} is required in AuthnResponse"),
            SamlError::InvalidAttribute(name) => format!("{name} in AuthnResponse is invalid"),
        }
    }

    /// The AWS error code the server should answer with (a suggestion; the server owns the
    /// mapping). `ExpiredTokenException` for time failures, `ValidationError` for metadata
    /// problems, `InvalidIdentityToken` for everything else about the assertion.
    pub fn aws_error_code(&self) -> &'static str {
        match self {
            SamlError::Expired | SamlError::IssuedTooLongAgo => "ExpiredTokenException",
            SamlError::InvalidCertificate(_)
            | SamlError::InvalidMetadata(_)
            | SamlError::NoSigningCertificate
            | SamlError::TooSmall { .. }
            | SamlError::TooLarge { .. } => "ValidationError",
            _ => "InvalidIdentityToken",
        }
    }

    /// True for failures of the cryptographic check itself (used by the differential test and
    /// useful for alerting: these are the ones that mean "forged or corrupted").
    pub fn is_signature_failure(&self) -> bool {
        matches!(
            self,
            SamlError::Unsigned
                | SamlError::UntrustedKey
                | SamlError::SignatureInvalid
                | SamlError::DigestMismatch
        )
    }
}
