//! `verify_response`: the SAML Response → a verified assertion.
//!
//! Order: size and base64 → parse once (no DTD, limits) → structure (the XSW defences) →
//! signatures → SAML semantics. Everything returned is read from the one `Assertion` element,
//! which is either itself the element a verified Reference resolved to, or a direct child of the
//! Response that a verified Reference resolved to. The Response's own `Status`, `Issuer` and
//! `Destination` are only used to refuse.

use base64::Engine;
use roxmltree::Node;

use crate::cert::SigningCert;
use crate::datetime::parse_instant;
use crate::dsig::verify_enveloped;
use crate::error::SamlError;
use crate::metadata::IdpMetadata;
use crate::xml::{
    NS_DS, NS_SAML, NS_SAMLP, NS_XENC, NS_XSI, RESPONSE_LIMITS, children, element_only, is,
    one_child, opt_child, parse, reject_duplicate_ids, req_attr, text_only, trimmed_text,
};

/// Maximum length of `SAMLAssertion` (the base64 text), as in AWS.
pub const MAX_SAML_RESPONSE_B64_LEN: usize = 100_000;
/// Default allowed clock skew for every time check, in seconds.
pub const DEFAULT_CLOCK_SKEW_SECS: i64 = 300;
/// Default maximum age of an assertion (`IssueInstant`) at redemption, in seconds
/// (AWS: "Token must be redeemed within 5 minutes of issuance"). The skew is added on top.
pub const DEFAULT_MAX_ISSUE_AGE_SECS: i64 = 300;
/// Audiences AWS accepts.
pub const DEFAULT_AUDIENCES: [&str; 2] = [
    "https://signin.aws.amazon.com/saml",
    "urn:amazon:webservices",
];
/// Recipients AWS accepts (the global sign-in endpoint; add regional ones as needed).
pub const DEFAULT_RECIPIENTS: [&str; 1] = ["https://signin.aws.amazon.com/saml"];

const STATUS_SUCCESS: &str = "urn:oasis:names:tc:SAML:2.0:status:Success";
const CM_BEARER: &str = "urn:oasis:names:tc:SAML:2.0:cm:bearer";
const NAMEID_FORMAT_PREFIX: &str = "urn:oasis:names:tc:SAML:2.0:nameid-format:";

/// What `verify_response` checks against.
#[derive(Debug, Clone)]
pub struct VerifyOptions {
    /// Trusted signing certificates: from the provider's metadata only, never from the message.
    pub trusted_certs: Vec<SigningCert>,
    /// The provider's entityID; the assertion's Issuer must equal it.
    pub expected_issuer: String,
    /// Accepted `AudienceRestriction/Audience` values.
    pub audiences: Vec<String>,
    /// Accepted `SubjectConfirmationData/@Recipient` (and Response `@Destination`) values.
    pub recipients: Vec<String>,
    /// Allowed clock skew for every time check, in seconds.
    pub clock_skew_secs: i64,
    /// Maximum age of the assertion's IssueInstant at redemption (None: no limit).
    pub max_issue_age_secs: Option<i64>,
    /// Accept rsa-sha1 signatures and sha1 digests (off by default, per provider).
    pub allow_sha1: bool,
}

impl VerifyOptions {
    /// Defaults for a provider: its certificates and entityID, AWS's audiences and recipient,
    /// [`DEFAULT_CLOCK_SKEW_SECS`], [`DEFAULT_MAX_ISSUE_AGE_SECS`], no SHA-1.
    pub fn new(metadata: &IdpMetadata) -> VerifyOptions {
        VerifyOptions {
            trusted_certs: metadata.signing_certs.clone(),
            expected_issuer: metadata.entity_id.clone(),
            audiences: DEFAULT_AUDIENCES.iter().map(|s| s.to_string()).collect(),
            recipients: DEFAULT_RECIPIENTS.iter().map(|s| s.to_string()).collect(),
            clock_skew_secs: DEFAULT_CLOCK_SKEW_SECS,
            max_issue_age_secs: Some(DEFAULT_MAX_ISSUE_AGE_SECS),
            allow_sha1: false,
        }
    }
}

/// The verified content of the assertion.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedAssertion {
    /// `Assertion/@ID`: the replay-cache key (keep it until `not_on_or_after`).
    pub assertion_id: String,
    /// `Assertion/Issuer` (equals the expected issuer).
    pub issuer: String,
    /// `Subject/NameID` text (XML whitespace trimmed).
    pub name_id: String,
    /// `NameID/@Format`, verbatim.
    pub name_id_format: Option<String>,
    /// `NameID/@NameQualifier`, verbatim.
    pub name_qualifier: Option<String>,
    /// All `AudienceRestriction/Audience` values.
    pub audiences: Vec<String>,
    /// `SubjectConfirmationData/@Recipient` (STS's `Audience` output and `saml:aud`).
    pub recipient: String,
    /// Earliest of Conditions/@NotOnOrAfter and SubjectConfirmationData/@NotOnOrAfter.
    pub not_on_or_after: i64,
    /// Earliest `AuthnStatement/@SessionNotOnOrAfter`.
    pub session_not_on_or_after: Option<i64>,
    /// `Assertion/@IssueInstant`.
    pub issue_instant: i64,
    /// Attributes by `Name`, in document order; values of same-named attributes are merged.
    pub attributes: Vec<(String, Vec<String>)>,
    /// Whether the Response carried a (verified) signature.
    pub response_signed: bool,
    /// Whether the Assertion carried a (verified) signature.
    pub assertion_signed: bool,
}

impl VerifiedAssertion {
    /// The values of an attribute, if present.
    pub fn attribute(&self, name: &str) -> Option<&[String]> {
        self.attributes
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_slice())
    }

    /// `SubjectType`: the NameID format with `urn:oasis:names:tc:SAML:2.0:nameid-format:`
    /// stripped; other formats verbatim; `unspecified`'s 1.1 URI verbatim as well.
    pub fn subject_type(&self) -> Option<String> {
        self.name_id_format.as_ref().map(|f| {
            f.strip_prefix(NAMEID_FORMAT_PREFIX)
                .unwrap_or(f)
                .to_string()
        })
    }
}

/// Verify a base64 SAML Response (the `SAMLAssertion` parameter) at time `now` (Unix seconds).
pub fn verify_response(
    saml_response_b64: &str,
    opts: &VerifyOptions,
    now: i64,
) -> Result<VerifiedAssertion, SamlError> {
    if saml_response_b64.len() > MAX_SAML_RESPONSE_B64_LEN {
        return Err(SamlError::TooLarge {
            what: "SAMLAssertion",
            limit: MAX_SAML_RESPONSE_B64_LEN,
        });
    }
    // Strict base64: standard alphabet, canonical padding. Only CR/LF (MIME line wrapping, as
    // some IdPs post it) are removed first.
    let raw = saml_response_b64.as_bytes();
    let compact: std::borrow::Cow<'_, [u8]> = if raw.contains(&b'\r') || raw.contains(&b'\n') {
        raw.iter()
            .copied()
            .filter(|b| *b != b'\r' && *b != b'\n')
            .collect::<Vec<u8>>()
            .into()
    } else {
        raw.into()
    };
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(&compact)
        .map_err(|_| SamlError::InvalidBase64)?;
    let xml = String::from_utf8(bytes).map_err(|_| SamlError::Malformed("not UTF-8".into()))?;
    verify_response_xml(&xml, opts, now)
}

/// [`verify_response`] on the decoded XML.
pub fn verify_response_xml(
    xml: &str,
    opts: &VerifyOptions,
    now: i64,
) -> Result<VerifiedAssertion, SamlError> {
    let doc = parse(xml, RESPONSE_LIMITS)?;
    let SignedParts {
        root,
        assertion,
        response_signed,
        assertion_signed,
    } = signed_parts(&doc, &opts.trusted_certs, opts.allow_sha1)?;

    // ---- Response-level checks (refuse only) ----
    let status = one_child(root, NS_SAMLP, "Status")?;
    let code = one_child(status, NS_SAMLP, "StatusCode")?;
    let code_value = req_attr(code, "Value")?;
    if code_value != STATUS_SUCCESS {
        return Err(SamlError::StatusNotSuccess(code_value.to_string()));
    }
    if let Some(issuer) = opt_child(root, NS_SAML, "Issuer")?
        && trimmed_text(issuer)? != opts.expected_issuer
    {
        return Err(SamlError::WrongIssuer);
    }
    if let Some(dest) = root.attribute("Destination")
        && !opts.recipients.iter().any(|r| r == dest)
    {
        return Err(SamlError::WrongRecipient);
    }

    read_assertion(assertion, opts, now, response_signed, assertion_signed)
}

/// Parse, check the structure (XSW defences) and verify every signature, without any SAML
/// semantics or clock: "is this document validly signed by one of these keys, in a shape we
/// accept?". `verify_response` runs exactly this first. Useful for diagnostics and for the
/// differential tests against xmlsec1.
pub fn verify_signatures_xml(
    xml: &str,
    trusted_certs: &[SigningCert],
    allow_sha1: bool,
) -> Result<(), SamlError> {
    let doc = parse(xml, RESPONSE_LIMITS)?;
    signed_parts(&doc, trusted_certs, allow_sha1).map(|_| ())
}

/// The Response root and its one Assertion, after structure checks and signature verification.
struct SignedParts<'a, 'i> {
    root: Node<'a, 'i>,
    assertion: Node<'a, 'i>,
    response_signed: bool,
    assertion_signed: bool,
}

fn signed_parts<'a, 'i>(
    doc: &'a roxmltree::Document<'i>,
    trusted_certs: &[SigningCert],
    allow_sha1: bool,
) -> Result<SignedParts<'a, 'i>, SamlError> {
    if trusted_certs.is_empty() {
        // Never "verify" without keys.
        return Err(SamlError::NoSigningCertificate);
    }
    // ---- Structure (XSW defences) ----
    reject_duplicate_ids(doc)?;
    let root = doc.root_element();
    if !is(root, NS_SAMLP, "Response") {
        return Err(SamlError::Structure("root is not samlp:Response".into()));
    }
    if doc.descendants().any(|n| {
        is(n, NS_SAML, "EncryptedAssertion")
            || is(n, NS_SAML, "EncryptedID")
            || is(n, NS_SAML, "EncryptedAttribute")
            || is(n, NS_XENC, "EncryptedData")
    }) {
        return Err(SamlError::EncryptedAssertionUnsupported);
    }
    let assertions: Vec<Node<'_, '_>> = doc
        .descendants()
        .filter(|n| is(*n, NS_SAML, "Assertion"))
        .collect();
    let [assertion] = assertions.as_slice() else {
        return Err(SamlError::Structure(format!(
            "expected exactly one Assertion, found {}",
            assertions.len()
        )));
    };
    let assertion = *assertion;
    if assertion.parent_element().map(|p| p.id()) != Some(root.id()) {
        return Err(SamlError::Structure(
            "Assertion is not a child of the Response".into(),
        ));
    }
    element_only(root)?;
    element_only(assertion)?;
    let mut response_sig = None;
    let mut assertion_sig = None;
    for sig in doc.descendants().filter(|n| is(*n, NS_DS, "Signature")) {
        let parent = sig.parent_element().map(|p| p.id());
        let slot = if parent == Some(root.id()) {
            &mut response_sig
        } else if parent == Some(assertion.id()) {
            &mut assertion_sig
        } else {
            return Err(SamlError::Structure(
                "Signature in an unexpected place".into(),
            ));
        };
        if slot.replace(sig).is_some() {
            return Err(SamlError::Structure(
                "more than one Signature on an element".into(),
            ));
        }
    }
    if response_sig.is_none() && assertion_sig.is_none() {
        return Err(SamlError::Unsigned);
    }

    // ---- Signatures ----
    if let Some(sig) = response_sig {
        verify_enveloped(sig, root, trusted_certs, allow_sha1)?;
    }
    if let Some(sig) = assertion_sig {
        verify_enveloped(sig, assertion, trusted_certs, allow_sha1)?;
    }

    Ok(SignedParts {
        root,
        assertion,
        response_signed: response_sig.is_some(),
        assertion_signed: assertion_sig.is_some(),
    })
}

fn check_not_before(instant: Option<i64>, opts: &VerifyOptions, now: i64) -> Result<(), SamlError> {
    match instant {
        Some(t) if now.saturating_add(opts.clock_skew_secs) < t => Err(SamlError::NotYetValid),
        _ => Ok(()),
    }
}

fn check_not_on_or_after(instant: i64, opts: &VerifyOptions, now: i64) -> Result<(), SamlError> {
    if now.saturating_sub(opts.clock_skew_secs) >= instant {
        Err(SamlError::Expired)
    } else {
        Ok(())
    }
}

fn opt_instant(node: Node<'_, '_>, name: &str) -> Result<Option<i64>, SamlError> {
    node.attribute(name).map(parse_instant).transpose()
}

fn read_assertion(
    assertion: Node<'_, '_>,
    opts: &VerifyOptions,
    now: i64,
    response_signed: bool,
    assertion_signed: bool,
) -> Result<VerifiedAssertion, SamlError> {
    if req_attr(assertion, "Version")? != "2.0" {
        return Err(SamlError::Malformed("Assertion Version is not 2.0".into()));
    }
    let assertion_id = req_attr(assertion, "ID")?.to_string();
    let issue_instant = parse_instant(req_attr(assertion, "IssueInstant")?)?;

    // Issuer
    let issuer = trimmed_text(one_child(assertion, NS_SAML, "Issuer")?)?;
    if issuer != opts.expected_issuer {
        return Err(SamlError::WrongIssuer);
    }

    // IssueInstant
    check_not_before(Some(issue_instant), opts, now)?;
    if let Some(max_age) = opts.max_issue_age_secs {
        let limit = issue_instant
            .saturating_add(max_age)
            .saturating_add(opts.clock_skew_secs);
        if now > limit {
            return Err(SamlError::IssuedTooLongAgo);
        }
    }

    // Conditions
    let conditions = one_child(assertion, NS_SAML, "Conditions")?;
    check_not_before(opt_instant(conditions, "NotBefore")?, opts, now)?;
    let cond_not_on_or_after = opt_instant(conditions, "NotOnOrAfter")?;
    if let Some(t) = cond_not_on_or_after {
        check_not_on_or_after(t, opts, now)?;
    }
    element_only(conditions)?;
    let mut audiences = Vec::new();
    let mut restrictions = 0usize;
    for cond in conditions.children().filter(|c| c.is_element()) {
        if is(cond, NS_SAML, "AudienceRestriction") {
            restrictions += 1;
            element_only(cond)?;
            let mut ok = false;
            for aud in cond.children().filter(|c| c.is_element()) {
                if !is(aud, NS_SAML, "Audience") {
                    return Err(SamlError::Malformed(
                        "unexpected element in AudienceRestriction".into(),
                    ));
                }
                let value = trimmed_text(aud)?;
                ok |= opts.audiences.contains(&value);
                audiences.push(value);
            }
            if !ok {
                return Err(SamlError::WrongAudience);
            }
        } else if is(cond, NS_SAML, "OneTimeUse") || is(cond, NS_SAML, "ProxyRestriction") {
            // OneTimeUse: the server's replay cache enforces it for every assertion anyway.
        } else {
            // An unknown condition makes the assertion Indeterminate (SAML core 2.5.1).
            return Err(SamlError::Malformed("unsupported condition".into()));
        }
    }
    if restrictions == 0 {
        return Err(SamlError::WrongAudience);
    }

    // Subject
    let subject = opt_child(assertion, NS_SAML, "Subject")?
        .ok_or_else(|| SamlError::Subject("missing Subject".into()))?;
    element_only(subject)?;
    if opt_child(subject, NS_SAML, "BaseID")?.is_some() {
        return Err(SamlError::Subject("BaseID is not supported".into()));
    }
    let name_id_node = opt_child(subject, NS_SAML, "NameID")?
        .ok_or_else(|| SamlError::Subject("missing NameID".into()))?;
    let name_id = trimmed_text(name_id_node)?;
    if name_id.is_empty() {
        return Err(SamlError::Subject("empty NameID".into()));
    }
    let name_id_format = name_id_node.attribute("Format").map(str::to_string);
    let name_qualifier = name_id_node.attribute("NameQualifier").map(str::to_string);

    let confirmations: Vec<Node<'_, '_>> =
        children(subject, NS_SAML, "SubjectConfirmation").collect();
    let [confirmation] = confirmations.as_slice() else {
        return Err(SamlError::Subject(format!(
            "expected exactly one SubjectConfirmation, found {}",
            confirmations.len()
        )));
    };
    if confirmation.attribute("Method") != Some(CM_BEARER) {
        return Err(SamlError::Subject(
            "SubjectConfirmation is not bearer".into(),
        ));
    }
    let scd = one_child(*confirmation, NS_SAML, "SubjectConfirmationData")
        .map_err(|_| SamlError::Subject("expected one SubjectConfirmationData".into()))?;
    let recipient = scd
        .attribute("Recipient")
        .ok_or_else(|| SamlError::Subject("SubjectConfirmationData without Recipient".into()))?;
    let scd_not_on_or_after = opt_instant(scd, "NotOnOrAfter")?
        .ok_or_else(|| SamlError::Subject("SubjectConfirmationData without NotOnOrAfter".into()))?;
    check_not_before(opt_instant(scd, "NotBefore")?, opts, now)?;
    check_not_on_or_after(scd_not_on_or_after, opts, now)?;
    if !opts.recipients.iter().any(|r| r == recipient) {
        return Err(SamlError::WrongRecipient);
    }

    // AuthnStatement(s)
    let mut session_not_on_or_after: Option<i64> = None;
    for authn in children(assertion, NS_SAML, "AuthnStatement") {
        if let Some(t) = opt_instant(authn, "SessionNotOnOrAfter")? {
            check_not_on_or_after(t, opts, now)?;
            session_not_on_or_after = Some(session_not_on_or_after.map_or(t, |s| s.min(t)));
        }
    }

    // Attributes
    let mut attributes: Vec<(String, Vec<String>)> = Vec::new();
    for statement in children(assertion, NS_SAML, "AttributeStatement") {
        element_only(statement)?;
        for attr in statement.children().filter(|c| c.is_element()) {
            if !is(attr, NS_SAML, "Attribute") {
                return Err(SamlError::Malformed(
                    "unexpected element in AttributeStatement".into(),
                ));
            }
            let name = req_attr(attr, "Name")?.to_string();
            element_only(attr)?;
            let mut values = Vec::new();
            for v in attr.children().filter(|c| c.is_element()) {
                if !is(v, NS_SAML, "AttributeValue") {
                    return Err(SamlError::Malformed(
                        "unexpected element in Attribute".into(),
                    ));
                }
                if v.attribute((NS_XSI, "nil"))
                    .is_some_and(|n| n == "true" || n == "1")
                {
                    values.push(String::new());
                    continue;
                }
                if let Some(value) = attribute_value(v)? {
                    values.push(value);
                }
            }
            match attributes.iter_mut().find(|(n, _)| *n == name) {
                Some((_, existing)) => existing.extend(values),
                None => attributes.push((name, values)),
            }
        }
    }

    let not_on_or_after =
        cond_not_on_or_after.map_or(scd_not_on_or_after, |c| c.min(scd_not_on_or_after));
    Ok(VerifiedAssertion {
        assertion_id,
        issuer,
        name_id,
        name_id_format,
        name_qualifier,
        audiences,
        recipient: recipient.to_string(),
        not_on_or_after,
        session_not_on_or_after,
        issue_instant,
        attributes,
        response_signed,
        assertion_signed,
    })
}

/// The string value of an `AttributeValue`: its text (comments and processing instructions are
/// refused, as in every identity field). Element content is not a string: a single `saml:NameID`
/// child (how eduPersonTargetedID is usually encoded) yields the NameID's text; any other
/// element content is skipped (`None`), never flattened.
fn attribute_value(v: Node<'_, '_>) -> Result<Option<String>, SamlError> {
    let elements: Vec<Node<'_, '_>> = v.children().filter(|c| c.is_element()).collect();
    if elements.is_empty() {
        return text_only(v).map(Some);
    }
    element_only(v)?;
    if v.children().any(|c| c.is_comment()) {
        return Err(SamlError::MixedContent("AttributeValue".into()));
    }
    match elements.as_slice() {
        [one] if is(*one, NS_SAML, "NameID") => trimmed_text(*one).map(Some),
        _ => Ok(None),
    }
}
