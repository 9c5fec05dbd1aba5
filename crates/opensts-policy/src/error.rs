//! Parse/validation errors.

use std::fmt;

/// Why a document was rejected: the server maps this to the AWS error code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PolicyErrorKind {
    /// The document is not a valid policy of the requested kind. AWS code:
    /// `MalformedPolicyDocument` (IAM and STS).
    Malformed,
    /// The document is larger than the kind allows. AWS reports this with a different code
    /// depending on the API: `LimitExceeded` for IAM (`Cannot exceed quota for PolicySize: 6144`,
    /// `Cannot exceed quota for ACLSizePerRole: 2048`), a `ValidationError` or
    /// `PackedPolicyTooLarge` for STS session policies.
    TooLarge {
        /// The limit that applied, in characters.
        limit: usize,
        /// The counted size of the document, in characters.
        size: usize,
    },
}

/// A policy document was rejected. [`PolicyError::message`] is the text to return to the client
/// (for `Malformed`, the `MalformedPolicyDocument` message; AWS's own wording where it is known).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicyError {
    kind: PolicyErrorKind,
    message: String,
}

impl PolicyError {
    pub(crate) fn malformed(message: impl Into<String>) -> Self {
        PolicyError {
            kind: PolicyErrorKind::Malformed,
            message: message.into(),
        }
    }

    /// AWS's generic text for documents that are not valid policy JSON or contain unknown or
    /// duplicated elements.
    pub(crate) fn syntax() -> Self {
        Self::malformed(SYNTAX_ERRORS)
    }

    pub(crate) fn too_large(limit: usize, size: usize, message: String) -> Self {
        PolicyError {
            kind: PolicyErrorKind::TooLarge { limit, size },
            message,
        }
    }

    /// The client-facing message (e.g. `Syntax errors in policy.`).
    pub fn message(&self) -> &str {
        &self.message
    }

    /// What kind of failure this is.
    pub fn kind(&self) -> &PolicyErrorKind {
        &self.kind
    }

    /// True for [`PolicyErrorKind::TooLarge`].
    pub fn is_too_large(&self) -> bool {
        matches!(self.kind, PolicyErrorKind::TooLarge { .. })
    }
}

impl fmt::Display for PolicyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for PolicyError {}

pub(crate) const SYNTAX_ERRORS: &str = "Syntax errors in policy.";
