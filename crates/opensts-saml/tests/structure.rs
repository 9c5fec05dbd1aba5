//! Hand-made structural attacks on top of the signed fixtures, and a mutation sweep: no change
//! to a validly signed document may produce a different verified result.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::Path;

use opensts_saml::{SamlError, SigningCert, VerifiedAssertion, VerifyOptions, verify_response_xml};

const NOW: i64 = 1_893_456_060;

fn fixture(rel: &str) -> String {
    let p = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(rel);
    String::from_utf8(std::fs::read(p).expect(rel)).expect("utf-8")
}

fn opts() -> VerifyOptions {
    VerifyOptions {
        trusted_certs: vec![SigningCert::from_pem(&fixture("certs/idp_rsa.pem")).expect("cert")],
        expected_issuer: "https://idp.example.org/saml2/idp".into(),
        audiences: opensts_saml::DEFAULT_AUDIENCES
            .iter()
            .map(|s| s.to_string())
            .collect(),
        recipients: opensts_saml::DEFAULT_RECIPIENTS
            .iter()
            .map(|s| s.to_string())
            .collect(),
        clock_skew_secs: opensts_saml::DEFAULT_CLOCK_SKEW_SECS,
        max_issue_age_secs: Some(opensts_saml::DEFAULT_MAX_ISSUE_AGE_SECS),
        allow_sha1: false,
    }
}

fn verify(xml: &str) -> Result<VerifiedAssertion, SamlError> {
    verify_response_xml(xml, &opts(), NOW)
}

const DS_DECL: &str = "xmlns:ds=\"http://www.w3.org/2000/09/xmldsig#\"";

#[test]
fn prefixes_do_not_matter_namespaces_do() {
    let xml = fixture("responses/rsa_assertion_signed.xml");
    assert!(verify(&xml).is_ok());
    // The samlp prefix bound to another namespace: not a SAML Response.
    let evil_root = xml.replacen(
        "xmlns:samlp=\"urn:oasis:names:tc:SAML:2.0:protocol\"",
        "xmlns:samlp=\"urn:example:evil\"",
        1,
    );
    assert!(matches!(verify(&evil_root), Err(SamlError::Structure(_))));
    // The ds prefix bound to another namespace: the Signature is not a signature.
    assert_eq!(
        verify(&xml.replacen(DS_DECL, "xmlns:ds=\"urn:example:evil\"", 1)),
        Err(SamlError::Unsigned)
    );
    // Another prefix for ds (same namespace) is fine, but changes SignedInfo's bytes... only
    // where it is signed: here SignedInfo uses ds, so the signature must fail, not pass.
    let renamed = xml
        .replace("ds:", "dsig:")
        .replace("xmlns:ds=", "xmlns:dsig=");
    assert_eq!(verify(&renamed), Err(SamlError::SignatureInvalid));
}

#[test]
fn root_must_be_a_response() {
    let xml = fixture("responses/rsa_assertion_signed.xml");
    let start = xml.find("<saml:Assertion").expect("assertion");
    let end = xml.rfind("</samlp:Response>").expect("end");
    let assertion = xml[start..end].replacen(
        "<saml:Assertion",
        "<saml:Assertion xmlns:saml=\"urn:oasis:names:tc:SAML:2.0:assertion\"",
        1,
    );
    assert!(matches!(verify(&assertion), Err(SamlError::Structure(_))));
}

#[test]
fn comments_and_markup_in_identity_fields() {
    let xml = fixture("responses/rsa_assertion_signed.xml");
    // A comment in the signed Issuer leaves the digest unchanged but is refused.
    let issuer = "<saml:Issuer>https://idp.example.org/saml2/idp</saml:Issuer><ds:Signature";
    assert!(xml.contains(issuer));
    let commented = xml.replacen(
        issuer,
        "<saml:Issuer>https://idp.example.org<!-- x -->/saml2/idp</saml:Issuer><ds:Signature",
        1,
    );
    assert_eq!(
        verify(&commented),
        Err(SamlError::MixedContent("Issuer".into()))
    );
    // Comments between elements are harmless and ignored (C14N drops them).
    let between = xml.replacen("<saml:Subject>", "<!-- hello --><saml:Subject>", 1);
    assert_eq!(verify(&between), verify(&xml));
    // CDATA and character references are the same text as signed.
    let cdata = xml.replacen(
        ">alice@example.org<",
        "><![CDATA[alice@]]>&#101;xample.org<",
        1,
    );
    assert_eq!(
        verify(&cdata).map(|a| a.name_id),
        Ok("alice@example.org".to_string())
    );
}

#[test]
fn dtd_and_limits() {
    let xml = fixture("responses/rsa_assertion_signed.xml");
    assert_eq!(verify(&format!("<!DOCTYPE x>{xml}")), Err(SamlError::Dtd));
    let deep = format!("{}{}", "<a>".repeat(100), "</a>".repeat(100));
    assert_eq!(verify(&deep), Err(SamlError::LimitExceeded("depth")));
    let attrs: String = (0..100).map(|i| format!(" a{i}=\"x\"")).collect();
    assert_eq!(
        verify(&format!("<r{attrs}/>")),
        Err(SamlError::LimitExceeded("attributes per element"))
    );
    assert!(matches!(verify("<r>"), Err(SamlError::Malformed(_))));
}

#[test]
fn signature_in_object_or_extra_reference_refused() {
    let xml = fixture("responses/rsa_assertion_signed.xml");
    // A ds:Object in the Signature.
    let with_object = xml.replacen("</ds:Signature>", "<ds:Object/></ds:Signature>", 1);
    assert!(matches!(verify(&with_object), Err(SamlError::Structure(_))));
    // A second Reference in SignedInfo.
    let start = xml.find("<ds:Reference ").expect("reference");
    let end = xml.find("</ds:Reference>").expect("reference end") + "</ds:Reference>".len();
    let two = format!("{}{}", &xml[..end], &xml[start..]);
    assert!(matches!(verify(&two), Err(SamlError::Structure(_))));
    // Reference URI pointing elsewhere (the Response).
    let elsewhere = xml.replacen("URI=\"#_assertion-1\"", "URI=\"#_response-1\"", 1);
    assert!(matches!(verify(&elsewhere), Err(SamlError::Structure(_))));
    // Empty URI (whole document).
    let whole = xml.replacen("URI=\"#_assertion-1\"", "URI=\"\"", 1);
    assert!(matches!(verify(&whole), Err(SamlError::Structure(_))));
    // HMACOutputLength.
    let hmac = xml.replacen(
        "xmldsig-more#rsa-sha256\"/>",
        "xmldsig-more#rsa-sha256\"><ds:HMACOutputLength>8</ds:HMACOutputLength></ds:SignatureMethod>",
        1,
    );
    assert!(matches!(
        verify(&hmac),
        Err(SamlError::UnsupportedAlgorithm(_))
    ));
}

/// Every single-byte change and every comment insertion must either be refused or give exactly
/// the result of the untouched document (changes to unsigned, unread parts of the Response).
#[test]
fn mutation_sweep() {
    for name in [
        "rsa_assertion_signed",
        "rsa_response_signed",
        "xmlsec1_assertion_in_context_prefixlist",
    ] {
        let xml = fixture(&format!("responses/{name}.xml"));
        let baseline = verify(&xml).expect(name);
        let bytes = xml.as_bytes();
        let mut accepted = 0;
        let mut tried = 0;
        let step = (bytes.len() / 700).max(1);
        for i in (0..bytes.len()).step_by(step) {
            for replacement in [b'A', b' ', b'"', b'<'] {
                if bytes[i] == replacement {
                    continue;
                }
                let mut m = bytes.to_vec();
                m[i] = replacement;
                let Ok(m) = String::from_utf8(m) else {
                    continue;
                };
                tried += 1;
                if let Ok(a) = verify(&m) {
                    accepted += 1;
                    assert_eq!(
                        a, baseline,
                        "{name}: byte {i} -> {replacement} changed the result"
                    );
                }
            }
            if xml.is_char_boundary(i) {
                let m = format!("{}<!---->{}", &xml[..i], &xml[i..]);
                if let Ok(a) = verify(&m) {
                    assert_eq!(a, baseline, "{name}: comment at {i} changed the result");
                }
            }
        }
        assert!(tried > 1000, "{name}: {tried}");
        // Some mutations of unsigned parts are expected to pass; most must not.
        assert!(accepted < tried / 4, "{name}: {accepted}/{tried} accepted");
    }
}
