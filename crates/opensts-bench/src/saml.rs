//! A SAML IdP for the benchmark: a fresh, ECDSA-P256-signed Response per request (the server
//! refuses a replayed assertion id, as AWS does).
//!
//! The assertion is written directly in its exclusive-C14N form (no whitespace between
//! elements, attributes in canonical order, explicit end tags), so its digest is the SHA-256
//! of the bytes written and no XML library is needed; a test checks the output with the
//! server's own verifier.

use aws_lc_rs::digest::{SHA256, digest};
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::BoxError;

const NS_SAML: &str = "urn:oasis:names:tc:SAML:2.0:assertion";
const NS_SAMLP: &str = "urn:oasis:names:tc:SAML:2.0:protocol";
const NS_DS: &str = "http://www.w3.org/2000/09/xmldsig#";
/// AWS's recipient and audience for SAML sign-in.
pub const AWS_SAML_ENDPOINT: &str = "https://signin.aws.amazon.com/saml";
/// Validity of each generated assertion (`NotOnOrAfter` − `IssueInstant`).
pub const ASSERTION_LIFETIME_SECS: i64 = 300;

/// The IdP: its signing key, entityID and the role/provider pair put in the Role attribute.
pub struct SamlIdp {
    key: EcdsaKeyPair,
    rng: SystemRandom,
    entity_id: String,
    role_attr: String,
}

fn iso(t: i64) -> Result<String, BoxError> {
    let dt = OffsetDateTime::from_unix_timestamp(t)?;
    let s = dt.format(&Rfc3339)?;
    Ok(s)
}

impl SamlIdp {
    /// `pkcs8_der`: the ECDSA P-256 private key whose certificate is in the provider metadata.
    pub fn new(
        pkcs8_der: &[u8],
        entity_id: &str,
        role_arn: &str,
        provider_arn: &str,
    ) -> Result<SamlIdp, BoxError> {
        let key = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8_der)
            .map_err(|e| format!("SAML key: {e}"))?;
        Ok(SamlIdp {
            key,
            rng: SystemRandom::new(),
            entity_id: entity_id.to_string(),
            role_attr: format!("{role_arn},{provider_arn}"),
        })
    }

    /// A base64 `samlp:Response` with one signed assertion issued at `now` (unique ID).
    pub fn response_b64(&self, now: i64) -> Result<String, BoxError> {
        let id = format!("_{}", uuid::Uuid::new_v4().simple());
        let issued = iso(now)?;
        let before = iso(now - 60)?;
        let after = iso(now + ASSERTION_LIFETIME_SECS)?;
        let entity = &self.entity_id;
        let role = &self.role_attr;
        let head = format!(
            "<saml:Assertion xmlns:saml=\"{NS_SAML}\" ID=\"{id}\" IssueInstant=\"{issued}\" Version=\"2.0\"><saml:Issuer>{entity}</saml:Issuer>"
        );
        let body = format!(
            "<saml:Subject><saml:NameID Format=\"urn:oasis:names:tc:SAML:2.0:nameid-format:persistent\">bench@example.org</saml:NameID>\
<saml:SubjectConfirmation Method=\"urn:oasis:names:tc:SAML:2.0:cm:bearer\"><saml:SubjectConfirmationData NotOnOrAfter=\"{after}\" Recipient=\"{AWS_SAML_ENDPOINT}\"></saml:SubjectConfirmationData></saml:SubjectConfirmation></saml:Subject>\
<saml:Conditions NotBefore=\"{before}\" NotOnOrAfter=\"{after}\"><saml:AudienceRestriction><saml:Audience>{AWS_SAML_ENDPOINT}</saml:Audience></saml:AudienceRestriction></saml:Conditions>\
<saml:AuthnStatement AuthnInstant=\"{issued}\" SessionIndex=\"s{id}\"><saml:AuthnContext><saml:AuthnContextClassRef>urn:oasis:names:tc:SAML:2.0:ac:classes:PasswordProtectedTransport</saml:AuthnContextClassRef></saml:AuthnContext></saml:AuthnStatement>\
<saml:AttributeStatement><saml:Attribute Name=\"https://aws.amazon.com/SAML/Attributes/Role\"><saml:AttributeValue>{role}</saml:AttributeValue></saml:Attribute>\
<saml:Attribute Name=\"https://aws.amazon.com/SAML/Attributes/RoleSessionName\"><saml:AttributeValue>bench</saml:AttributeValue></saml:Attribute></saml:AttributeStatement></saml:Assertion>"
        );
        let canonical = format!("{head}{body}");
        let digest_b64 = STANDARD.encode(digest(&SHA256, canonical.as_bytes()));
        let signed_info = format!(
            "<ds:SignedInfo xmlns:ds=\"{NS_DS}\"><ds:CanonicalizationMethod Algorithm=\"http://www.w3.org/2001/10/xml-exc-c14n#\"></ds:CanonicalizationMethod>\
<ds:SignatureMethod Algorithm=\"http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha256\"></ds:SignatureMethod><ds:Reference URI=\"#{id}\"><ds:Transforms>\
<ds:Transform Algorithm=\"http://www.w3.org/2000/09/xmldsig#enveloped-signature\"></ds:Transform><ds:Transform Algorithm=\"http://www.w3.org/2001/10/xml-exc-c14n#\"></ds:Transform></ds:Transforms>\
<ds:DigestMethod Algorithm=\"http://www.w3.org/2001/04/xmlenc#sha256\"></ds:DigestMethod><ds:DigestValue>{digest_b64}</ds:DigestValue></ds:Reference></ds:SignedInfo>"
        );
        let sig = self
            .key
            .sign(&self.rng, signed_info.as_bytes())
            .map_err(|e| format!("SAML signing: {e}"))?;
        let sig_b64 = STANDARD.encode(sig.as_ref());
        let response = format!(
            "<samlp:Response xmlns:samlp=\"{NS_SAMLP}\" xmlns:saml=\"{NS_SAML}\" Destination=\"{AWS_SAML_ENDPOINT}\" ID=\"r{id}\" IssueInstant=\"{issued}\" Version=\"2.0\">\
<saml:Issuer>{entity}</saml:Issuer><samlp:Status><samlp:StatusCode Value=\"urn:oasis:names:tc:SAML:2.0:status:Success\"></samlp:StatusCode></samlp:Status>\
{head}<ds:Signature xmlns:ds=\"{NS_DS}\">{signed_info}<ds:SignatureValue>{sig_b64}</ds:SignatureValue></ds:Signature>{body}</samlp:Response>"
        );
        Ok(STANDARD.encode(response))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use opensts_saml::{IdpMetadata, VerifyOptions, verify_response};

    const ENTITY: &str = "https://idp.bench.test/saml2/idp";
    const ROLE: &str = "arn:aws:iam::123456789012:role/bench-saml-role";
    const PROVIDER: &str = "arn:aws:iam::123456789012:saml-provider/bench-saml";

    /// The generated Response verifies with the server's own verifier (digest, ECDSA signature,
    /// audience, recipient, times), and every call has a new assertion id.
    #[test]
    fn generated_response_verifies_with_the_server_verifier() {
        let kp = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
        let cert = rcgen::CertificateParams::new(vec!["idp.bench.test".to_string()])
            .unwrap()
            .self_signed(&kp)
            .unwrap();
        let metadata = format!(
            "<md:EntityDescriptor xmlns:md=\"urn:oasis:names:tc:SAML:2.0:metadata\" xmlns:ds=\"{NS_DS}\" entityID=\"{ENTITY}\">\
<md:IDPSSODescriptor protocolSupportEnumeration=\"{NS_SAMLP}\"><md:KeyDescriptor use=\"signing\"><ds:KeyInfo><ds:X509Data><ds:X509Certificate>{}</ds:X509Certificate></ds:X509Data></ds:KeyInfo></md:KeyDescriptor>\
<md:NameIDFormat>urn:oasis:names:tc:SAML:2.0:nameid-format:persistent</md:NameIDFormat>\
<md:SingleSignOnService Binding=\"urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect\" Location=\"https://idp.bench.test/saml2/sso\"/>\
<md:SingleSignOnService Binding=\"urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST\" Location=\"https://idp.bench.test/saml2/sso\"/></md:IDPSSODescriptor></md:EntityDescriptor>",
            STANDARD.encode(cert.der())
        );
        let md = IdpMetadata::parse(&metadata).unwrap();
        let idp = SamlIdp::new(&kp.serialize_der(), ENTITY, ROLE, PROVIDER).unwrap();
        let now = 1_790_000_000;
        let a = verify_response(
            &idp.response_b64(now).unwrap(),
            &VerifyOptions::new(&md),
            now,
        )
        .unwrap();
        let b = verify_response(
            &idp.response_b64(now).unwrap(),
            &VerifyOptions::new(&md),
            now,
        )
        .unwrap();
        assert_ne!(a.assertion_id, b.assertion_id);
        assert_eq!(a.name_id, "bench@example.org");
        assert_eq!(
            a.attribute("https://aws.amazon.com/SAML/Attributes/Role")
                .unwrap(),
            [format!("{ROLE},{PROVIDER}")]
        );
        // A different key is refused: the signature is really checked.
        let other = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
        let forged = SamlIdp::new(&other.serialize_der(), ENTITY, ROLE, PROVIDER).unwrap();
        assert!(
            verify_response(
                &forged.response_b64(now).unwrap(),
                &VerifyOptions::new(&md),
                now
            )
            .is_err()
        );
    }
}
