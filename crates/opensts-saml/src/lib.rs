//! SAML 2.0 Response verification for `AssumeRoleWithSAML` — pure Rust, no I/O, no clock.
//!
//! - [`IdpMetadata::parse`]: an IdP's metadata → entityID + signing certificates.
//! - [`verify_response`]: the base64 `SAMLAssertion` → [`VerifiedAssertion`], or a
//!   [`SamlError`] naming the failed check.
//! - [`aws_attributes`], [`name_qualifier`], [`condition_keys`]: the AWS meaning of it.
//!
//! Security design (dependencies.md §4.4):
//! - one parse (roxmltree, DTD refused, node/depth/attribute limits), verify and read from the
//!   same tree;
//! - duplicate IDs refused anywhere; exactly one `saml:Assertion`, a direct child of the
//!   `samlp:Response` root; every `ds:Signature` a direct child of the Response or of the
//!   Assertion, at most one each, with exactly one Reference to `#` + its parent's ID;
//!   elements compared by namespace URI and local name, never by prefix;
//! - transforms exactly enveloped-signature + exclusive C14N (optional PrefixList); SignedInfo
//!   canonicalized with exclusive C14N; RSA-SHA256/384/512 and ECDSA-SHA256 (P-256) /
//!   ECDSA-SHA384 (P-384), SHA-1 only with `allow_sha1`; no HMAC, DSA, XPath, XSLT, comments;
//! - signature over SignedInfo *and* digest of the referenced element both verified, with
//!   keys from metadata only (KeyInfo is never used to pick a key);
//! - everything returned is read from the single Assertion (the signed element or a direct
//!   child of the signed Response), which defeats XSW1–XSW8;
//! - identity fields (Issuer, NameID, Audience, AttributeValue) must be text only: comments,
//!   processing instructions and child elements are refused (`user@evil.com<!---->.victim.com`
//!   is an error, not an identity);
//! - encrypted assertions are refused with [`SamlError::EncryptedAssertionUnsupported`]
//!   (follow-up). Inclusive C14N 1.0 is refused as well.
//!
//! Replay protection is the server's: store [`VerifiedAssertion::assertion_id`] until
//! [`VerifiedAssertion::not_on_or_after`].

#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used, clippy::panic))]

mod aws;
mod c14n;
mod cert;
mod datetime;
mod dsig;
mod error;
mod metadata;
mod response;
mod xml;

pub use aws::{
    ATTR_PRINCIPAL_TAG_PREFIX, ATTR_ROLE, ATTR_ROLE_SESSION_NAME, ATTR_SESSION_DURATION,
    ATTR_SOURCE_IDENTITY, ATTR_TRANSITIVE_TAG_KEYS, AWS_ATTR_PREFIX, AwsSamlAttributes, RolePair,
    SAML_ATTRIBUTE_KEYS, SESSION_DURATION_MAX, SESSION_DURATION_MIN, aws_attributes,
    condition_keys, name_qualifier,
};
pub use c14n::exclusive_c14n_of_element;
pub use cert::{KeyKind, MAX_RSA_BITS, MIN_RSA_BITS, SigningCert};
pub use error::SamlError;
pub use metadata::{
    IdpMetadata, MAX_ENTITY_ID_LEN, MAX_METADATA_LEN, MAX_SIGNING_CERTS, MIN_METADATA_LEN,
};
pub use response::{
    DEFAULT_AUDIENCES, DEFAULT_CLOCK_SKEW_SECS, DEFAULT_MAX_ISSUE_AGE_SECS, DEFAULT_RECIPIENTS,
    MAX_SAML_RESPONSE_B64_LEN, VerifiedAssertion, VerifyOptions, verify_response,
    verify_response_xml, verify_signatures_xml,
};
