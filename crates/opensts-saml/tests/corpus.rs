//! The third-party-signed corpus (tests/fixtures/gen.py: signxml + xmlsec1) and the
//! differential check against xmlsec1's recorded verdicts.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::{Path, PathBuf};

use base64::Engine;
use opensts_saml::{
    IdpMetadata, SamlError, SigningCert, VerifyOptions, aws_attributes, condition_keys,
    name_qualifier, verify_response, verify_signatures_xml,
};
use serde_json::Value;

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

fn read(rel: &str) -> Vec<u8> {
    std::fs::read(fixtures().join(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"))
}

fn manifest() -> Value {
    serde_json::from_slice(&read("manifest.json")).expect("manifest.json")
}

fn cert(name: &str) -> SigningCert {
    let pem = String::from_utf8(read(&format!("certs/{name}.pem"))).expect("utf-8");
    SigningCert::from_pem(&pem).expect("certificate")
}

fn options(m: &Value, case: &Value) -> VerifyOptions {
    let trust = case["trust"].as_str().expect("trust");
    VerifyOptions {
        trusted_certs: vec![cert(trust)],
        expected_issuer: m["issuer"].as_str().expect("issuer").to_string(),
        allow_sha1: case["allow_sha1"].as_bool().unwrap_or(false),
        ..VerifyOptions::new(&rsa_metadata())
    }
}

fn rsa_metadata() -> IdpMetadata {
    IdpMetadata::parse(&String::from_utf8(read("metadata/idp_rsa.xml")).expect("utf-8"))
        .expect("idp_rsa metadata")
}

/// The SAMLAssertion parameter for a case.
fn b64(case: &Value) -> String {
    let bytes = read(case["file"].as_str().expect("file"));
    match case["encoding"].as_str() {
        Some("b64") => String::from_utf8(bytes).expect("utf-8"),
        _ => base64::engine::general_purpose::STANDARD.encode(bytes),
    }
}

fn outcome(r: &Result<opensts_saml::VerifiedAssertion, SamlError>) -> String {
    match r {
        Ok(_) => "ok".to_string(),
        Err(e) => e.reason_code().to_string(),
    }
}

#[test]
fn corpus_expected_outcomes() {
    let m = manifest();
    let now = m["now"].as_i64().expect("now");
    let mut failures = Vec::new();
    for case in m["cases"].as_array().expect("cases") {
        let name = case["name"].as_str().expect("name");
        let opts = options(&m, case);
        let result = verify_response(&b64(case), &opts, now);
        let got = outcome(&result);
        let want = case["expect"].as_str().expect("expect");
        if got != want {
            failures.push(format!("{name}: expected {want}, got {got} ({result:?})"));
            continue;
        }
        if let Ok(a) = &result {
            assert_eq!(
                a.name_id,
                case["name_id"].as_str().expect("name_id"),
                "{name}"
            );
            assert_eq!(a.issuer, m["issuer"].as_str().expect("issuer"), "{name}");
        }
        if let Some(with_sha1) = case["expect_with_allow_sha1"].as_str() {
            let opts = VerifyOptions {
                allow_sha1: true,
                ..opts
            };
            let got = outcome(&verify_response(&b64(case), &opts, now));
            if got != with_sha1 {
                failures.push(format!(
                    "{name} (allow_sha1): expected {with_sha1}, got {got}"
                ));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// OpenSTS's signature verdict vs xmlsec1's, on every document where signature validity is
/// what is compared; wrapped documents must be refused or yield only signed content.
#[test]
fn differential_against_xmlsec1() {
    let m = manifest();
    let now = m["now"].as_i64().expect("now");
    let mut report = Vec::new();
    let mut failures = Vec::new();
    for case in m["cases"].as_array().expect("cases") {
        let name = case["name"].as_str().expect("name");
        let compare = case["compare"].as_str().expect("compare");
        let xmlsec1 = case["xmlsec1"].as_str().expect("xmlsec1");
        let xml = match case["encoding"].as_str() {
            Some("xml") => String::from_utf8(read(case["file"].as_str().expect("file"))),
            _ => {
                report.push(format!("{name:42} xmlsec1=n/a"));
                continue;
            }
        };
        let Ok(xml) = xml else {
            failures.push(format!("{name}: not UTF-8"));
            continue;
        };
        let opts = options(&m, case);
        match compare {
            "signature" => {
                // SHA-1 is compared with SHA-1 allowed: the question is signature validity.
                let allow_sha1 = opts.allow_sha1 || case["expect_with_allow_sha1"].is_string();
                let ours = verify_signatures_xml(&xml, &opts.trusted_certs, allow_sha1);
                let ours_valid = ours.is_ok();
                let theirs_valid = xmlsec1 == "valid";
                report.push(format!(
                    "{name:42} xmlsec1={xmlsec1:8} opensts={}",
                    ours.as_ref().map_or_else(|e| e.reason_code(), |_| "valid")
                ));
                if ours_valid != theirs_valid {
                    failures.push(format!("{name}: xmlsec1 {xmlsec1}, OpenSTS {ours:?}"));
                }
            }
            "wrapping" => {
                let result = verify_response(&b64(case), &opts, now);
                report.push(format!(
                    "{name:42} xmlsec1={xmlsec1:8} opensts={}",
                    outcome(&result)
                ));
                let evil: Vec<&str> = case["evil_values"]
                    .as_array()
                    .map(|v| v.iter().filter_map(Value::as_str).collect())
                    .unwrap_or_default();
                if let Ok(a) = &result {
                    let leaked = evil.iter().any(|e| {
                        a.name_id == *e
                            || a.attributes.iter().any(|(_, vs)| vs.iter().any(|v| v == e))
                    });
                    if leaked {
                        failures.push(format!("{name}: evil value accepted: {a:?}"));
                    }
                }
            }
            "policy" => {
                // Refused by policy whatever the signature: unsupported algorithms, encryption.
                let result = verify_signatures_xml(&xml, &opts.trusted_certs, true);
                let got = result
                    .as_ref()
                    .map_or_else(|e| e.reason_code(), |_| "valid");
                report.push(format!(
                    "{name:42} xmlsec1={xmlsec1:8} opensts={got} (policy)"
                ));
                if got != case["expect"].as_str().expect("expect") {
                    failures.push(format!("{name}: expected a policy refusal, got {result:?}"));
                }
            }
            _ => {
                let result = verify_response(&b64(case), &opts, now);
                report.push(format!(
                    "{name:42} xmlsec1={xmlsec1:8} opensts={}",
                    outcome(&result)
                ));
            }
        }
    }
    eprintln!(
        "differential (xmlsec1 verdicts recorded by gen.py):\n{}",
        report.join("\n")
    );
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

fn case<'m>(m: &'m Value, name: &str) -> &'m Value {
    m["cases"]
        .as_array()
        .and_then(|c| c.iter().find(|c| c["name"] == name))
        .unwrap_or_else(|| panic!("no case {name}"))
}

#[test]
fn extracted_content_and_aws_attributes() {
    let m = manifest();
    let now = m["now"].as_i64().expect("now");
    let c = case(&m, "rsa_assertion_signed");
    let a = verify_response(&b64(c), &options(&m, c), now).expect("valid");
    assert_eq!(a.assertion_id, "_assertion-1");
    assert_eq!(a.name_id, "alice@example.org");
    assert_eq!(a.subject_type().as_deref(), Some("persistent"));
    assert_eq!(a.recipient, "https://signin.aws.amazon.com/saml");
    assert_eq!(a.audiences, vec!["urn:amazon:webservices".to_string()]);
    assert_eq!(a.issue_instant, 1_893_456_000);
    assert_eq!(a.not_on_or_after, 1_893_459_600);
    assert_eq!(a.session_not_on_or_after, Some(1_893_484_800));
    assert!(a.assertion_signed && !a.response_signed);
    assert_eq!(
        a.attribute("urn:oid:1.3.6.1.4.1.5923.1.1.1.1"),
        Some(&["member".to_string(), "staff".to_string()][..])
    );

    let aws = aws_attributes(&a).expect("aws attributes");
    let role = m["role_arn"].as_str().expect("role");
    let provider = m["provider_arn"].as_str().expect("provider");
    assert!(aws.allows(role, provider));
    assert_eq!(aws.role_session_name, "alice");
    assert_eq!(aws.session_duration, Some(3600));
    assert_eq!(
        aws.principal_tags,
        vec![("Department".into(), "Engineering & Ops".into())]
    );
    assert_eq!(aws.transitive_tag_keys, vec!["Department".to_string()]);
    assert_eq!(aws.source_identity.as_deref(), Some("alice"));

    let keys = condition_keys(&a, "123456789012", "ExampleIdP");
    let one = |k: &str| keys.get(k).and_then(|v| v.first()).map(String::as_str);
    assert_eq!(one("saml:aud"), Some("https://signin.aws.amazon.com/saml"));
    assert_eq!(one("saml:iss"), Some("https://idp.example.org/saml2/idp"));
    assert_eq!(one("saml:sub"), Some("alice@example.org"));
    assert_eq!(one("saml:sub_type"), Some("persistent"));
    assert_eq!(one("saml:doc"), Some("123456789012/ExampleIdP"));
    let nq = name_qualifier(
        "https://idp.example.org/saml2/idp",
        "123456789012",
        "ExampleIdP",
    );
    assert_eq!(one("saml:namequalifier"), Some(nq.as_str()));
    assert_eq!(keys.get("saml:edupersonaffiliation").map(Vec::len), Some(2));
    assert_eq!(
        keys.get("saml:edupersontargetedid"),
        Some(&vec!["tid-6f1e2d".to_string()])
    );

    // Both-signed and response-signed read the same content.
    for name in [
        "rsa_response_signed",
        "rsa_both_signed",
        "xmlsec1_assertion_in_context_prefixlist",
    ] {
        let c = case(&m, name);
        let b = verify_response(&b64(c), &options(&m, c), now).expect(name);
        assert_eq!(b.attributes, a.attributes, "{name}");
    }
}

#[test]
fn role_session_name_rules() {
    let m = manifest();
    let now = m["now"].as_i64().expect("now");
    let c = case(&m, "bad_role_session_name");
    let a = verify_response(&b64(c), &options(&m, c), now).expect("verifies");
    let err = aws_attributes(&a).expect_err("invalid session name");
    assert_eq!(err, SamlError::InvalidAttribute("RoleSessionName"));
    assert_eq!(
        err.message(),
        "RoleSessionName in AuthnResponse must match [a-zA-Z_0-9+=,.@-]{2,64}"
    );
    let mut missing = a.clone();
    missing
        .attributes
        .retain(|(n, _)| !n.ends_with("/RoleSessionName"));
    let err = aws_attributes(&missing).expect_err("missing");
    assert_eq!(
        err.message(),
        "RoleSessionName is required in AuthnResponse"
    );
}

#[test]
fn time_window_and_skew() {
    let m = manifest();
    let c = case(&m, "rsa_assertion_signed");
    let opts = options(&m, c);
    let s = b64(c);
    // NotOnOrAfter 2030-01-01T01:00:00Z, skew 300 s; IssueInstant 00:00 + 300 s age + 300 s skew.
    let issue = 1_893_456_000;
    assert!(verify_response(&s, &opts, issue - 300).is_ok());
    assert_eq!(
        verify_response(&s, &opts, issue - 301),
        Err(SamlError::NotYetValid)
    );
    assert!(verify_response(&s, &opts, issue + 600).is_ok());
    assert_eq!(
        verify_response(&s, &opts, issue + 601),
        Err(SamlError::IssuedTooLongAgo)
    );
    let no_age = VerifyOptions {
        max_issue_age_secs: None,
        ..opts.clone()
    };
    assert!(verify_response(&s, &no_age, 1_893_459_600 + 299).is_ok());
    assert_eq!(
        verify_response(&s, &no_age, 1_893_459_600 + 300),
        Err(SamlError::Expired)
    );
    assert_eq!(SamlError::Expired.message(), "Response has expired");
    assert_eq!(SamlError::Expired.aws_error_code(), "ExpiredTokenException");
}

#[test]
fn configurable_audience_and_recipient() {
    let m = manifest();
    let now = m["now"].as_i64().expect("now");
    let c = case(&m, "wrong_audience");
    let mut opts = options(&m, c);
    assert_eq!(
        verify_response(&b64(c), &opts, now),
        Err(SamlError::WrongAudience)
    );
    opts.audiences.push("https://sp.example.net/".into());
    assert!(verify_response(&b64(c), &opts, now).is_ok());

    let c = case(&m, "wrong_recipient");
    let mut opts = options(&m, c);
    assert_eq!(
        verify_response(&b64(c), &opts, now),
        Err(SamlError::WrongRecipient)
    );
    opts.recipients.push("https://sp.example.net/acs".into());
    assert!(verify_response(&b64(c), &opts, now).is_ok());
}

#[test]
fn trust_comes_from_metadata_only() {
    let m = manifest();
    let now = m["now"].as_i64().expect("now");
    // The rotation metadata trusts both RSA keys: documents signed by either verify.
    let md = IdpMetadata::parse(&String::from_utf8(read("metadata/rotation.xml")).expect("utf-8"))
        .expect("rotation metadata");
    let opts = VerifyOptions::new(&md);
    for name in ["rsa_assertion_signed", "rsa_next_key_rotation"] {
        assert!(
            verify_response(&b64(case(&m, name)), &opts, now).is_ok(),
            "{name}"
        );
    }
    // No certificates: never verifies.
    let empty = VerifyOptions {
        trusted_certs: vec![],
        ..opts
    };
    assert_eq!(
        verify_response(&b64(case(&m, "rsa_assertion_signed")), &empty, now),
        Err(SamlError::NoSigningCertificate)
    );
}

#[test]
fn base64_handling() {
    let m = manifest();
    let now = m["now"].as_i64().expect("now");
    let c = case(&m, "rsa_assertion_signed");
    let opts = options(&m, c);
    let s = b64(c);
    // MIME-wrapped base64 is accepted.
    let wrapped: String = s
        .as_bytes()
        .chunks(76)
        .map(|l| String::from_utf8_lossy(l).into_owned())
        .collect::<Vec<_>>()
        .join("\r\n");
    assert!(verify_response(&wrapped, &opts, now).is_ok());
    // Spaces (a '+' lost to form decoding) and URL-safe alphabet are not.
    assert_eq!(
        verify_response(&s.replace('+', " "), &opts, now),
        Err(SamlError::InvalidBase64)
    );
    assert_eq!(
        verify_response(&s.replace('+', "-").replace('/', "_"), &opts, now).map(|_| ()),
        if s.contains('+') || s.contains('/') {
            Err(SamlError::InvalidBase64)
        } else {
            Ok(())
        }
    );
    // Too large.
    let big = "A".repeat(opensts_saml::MAX_SAML_RESPONSE_B64_LEN + 4);
    assert!(matches!(
        verify_response(&big, &opts, now),
        Err(SamlError::TooLarge { .. })
    ));
}

#[test]
fn metadata_documents() {
    let md = |name: &str| {
        IdpMetadata::parse(&String::from_utf8(read(&format!("metadata/{name}"))).expect("utf-8"))
    };
    let rsa = md("idp_rsa.xml").expect("rsa");
    assert_eq!(rsa.entity_id, "https://idp.example.org/saml2/idp");
    assert_eq!(rsa.signing_certs, vec![cert("idp_rsa")]);
    assert_eq!(rsa.valid_until, None);

    let ec = md("idp_ec.xml").expect("ec (KeyDescriptor without use)");
    assert_eq!(ec.signing_certs, vec![cert("idp_ec")]);
    assert_eq!(ec.signing_certs[0].kind(), opensts_saml::KeyKind::EcP256);
    assert_eq!(
        md("idp_ec384.xml").expect("p384").signing_certs[0].kind(),
        opensts_saml::KeyKind::EcP384
    );

    let rot = md("rotation.xml").expect("rotation");
    assert_eq!(
        rot.signing_certs,
        vec![cert("idp_rsa"), cert("idp_rsa_next")]
    );
    assert_eq!(rot.valid_until, Some(1_924_992_000));
    assert_eq!(
        rot.signing_certs[1].kind(),
        opensts_saml::KeyKind::Rsa { bits: 3072 }
    );

    let group = md("entities_one_idp.xml").expect("EntitiesDescriptor with one IdP");
    assert_eq!(group.entity_id, "https://idp.example.org/saml2/idp");
    assert_eq!(group.valid_until, Some(1_906_502_400));

    assert!(matches!(
        md("weak_rsa.xml"),
        Err(SamlError::InvalidCertificate(_))
    ));
    assert_eq!(
        md("encryption_only.xml"),
        Err(SamlError::NoSigningCertificate)
    );
    assert!(matches!(
        md("entities_two_idps.xml"),
        Err(SamlError::InvalidMetadata(_))
    ));

    // Size limits.
    assert!(matches!(
        IdpMetadata::parse("<x/>"),
        Err(SamlError::TooSmall { .. })
    ));
    let huge = format!("<x>{}</x>", " ".repeat(opensts_saml::MAX_METADATA_LEN));
    assert!(matches!(
        IdpMetadata::parse(&huge),
        Err(SamlError::TooLarge { .. })
    ));
    // DTD refused.
    let dtd = format!(
        "<!DOCTYPE x [<!ENTITY a 'b'>]>{}",
        String::from_utf8(read("metadata/idp_rsa.xml"))
            .expect("utf-8")
            .replace("<?xml version='1.0' encoding='UTF-8'?>", "")
    );
    assert_eq!(IdpMetadata::parse(&dtd), Err(SamlError::Dtd));
}
