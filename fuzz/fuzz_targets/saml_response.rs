// SAML responses and IdP metadata (opensts-saml). Seed corpus (scripts/fuzz-seeds.py):
// crates/opensts-saml/tests/fixtures/responses/*.xml and metadata/*.xml, each prefixed with a
// selector byte: 0x00 for responses, 0x01 for metadata.
//
// The input is split on its first byte: even → the bytes are a SAML Response (both as the
// base64 `SAMLAssertion` text and, decoded, as XML), odd → an IdP metadata document.
// Nothing may panic. A verified result (possible when the fuzzer starts from the committed valid
// fixtures) must satisfy the checks it claims, and be the same from both entry points.
#![no_main]

use libfuzzer_sys::fuzz_target;
use opensts_saml::{IdpMetadata, SigningCert, VerifyOptions, verify_response, verify_response_xml};

// Any committed test certificate works; its private key was thrown away by gen.py.
const TRUSTED_PEM: &str = include_str!("../../crates/opensts-saml/tests/fixtures/certs/idp_rsa.pem");

fuzz_target!(|data: &[u8]| {
    let Some((selector, rest)) = data.split_first() else { return };
    let Ok(text) = std::str::from_utf8(rest) else { return };
    if selector % 2 == 1 {
        let _ = IdpMetadata::parse(text);
        return;
    }
    let Ok(cert) = SigningCert::from_pem(TRUSTED_PEM) else { return };
    let opts = VerifyOptions {
        trusted_certs: vec![cert],
        expected_issuer: "https://idp.example.org/saml2/idp".to_string(),
        audiences: opensts_saml::DEFAULT_AUDIENCES.iter().map(|s| s.to_string()).collect(),
        recipients: opensts_saml::DEFAULT_RECIPIENTS.iter().map(|s| s.to_string()).collect(),
        clock_skew_secs: opensts_saml::DEFAULT_CLOCK_SKEW_SECS,
        max_issue_age_secs: None,
        allow_sha1: selector & 2 == 2,
    };
    let now = 1_893_456_060;
    let _ = verify_response(text, &opts, now);
    if let Ok(a) = verify_response_xml(text, &opts, now) {
        assert_eq!(a.issuer, opts.expected_issuer);
        assert!(opts.recipients.contains(&a.recipient));
        assert!(a.audiences.iter().any(|x| opts.audiences.contains(x)));
        assert!(a.not_on_or_after > now - opts.clock_skew_secs);
        assert!(!a.name_id.is_empty());
        use base64::Engine as _;
        let b64 = base64::engine::general_purpose::STANDARD.encode(text);
        assert_eq!(verify_response(&b64, &opts, now), Ok(a));
    }
});
