//! A SAML IdP for the benchmark: a fresh signed Response per request (the server refuses a
//! replayed assertion id, as AWS does), signed with RSA-2048 / RSA-SHA256 — what IdPs sign
//! SAML with (AD FS, Entra ID, Okta, Google, Keycloak's default) — or ECDSA P-256 / SHA-256.
//!
//! The assertion is written directly in its exclusive-C14N form (no whitespace between
//! elements, attributes in canonical order, explicit end tags), so its digest is the SHA-256
//! of the bytes written and no XML library is needed; a test checks the output with the
//! server's own verifier.

use aws_lc_rs::digest::{SHA256, digest};
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{
    ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, RSA_PKCS1_SHA256, RsaKeyPair,
};
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

/// The IdP's signing key.
pub enum SigningKey {
    /// RSA (PKCS#1 v1.5) with SHA-256.
    Rsa(RsaKeyPair),
    /// ECDSA P-256 with SHA-256.
    Ecdsa(EcdsaKeyPair),
}

impl SigningKey {
    /// An RSA key from its PKCS#8 DER.
    pub fn rsa(pkcs8_der: &[u8]) -> Result<SigningKey, BoxError> {
        let key = RsaKeyPair::from_pkcs8(pkcs8_der).map_err(|e| format!("SAML RSA key: {e}"))?;
        Ok(SigningKey::Rsa(key))
    }

    /// An ECDSA P-256 key from its PKCS#8 DER.
    pub fn ecdsa(pkcs8_der: &[u8]) -> Result<SigningKey, BoxError> {
        let key = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8_der)
            .map_err(|e| format!("SAML ECDSA key: {e}"))?;
        Ok(SigningKey::Ecdsa(key))
    }

    fn signature_method(&self) -> &'static str {
        match self {
            SigningKey::Rsa(_) => "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256",
            SigningKey::Ecdsa(_) => "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha256",
        }
    }

    fn sign(&self, rng: &SystemRandom, msg: &[u8]) -> Result<Vec<u8>, BoxError> {
        match self {
            SigningKey::Rsa(key) => {
                let mut sig = vec![0; key.public_modulus_len()];
                key.sign(&RSA_PKCS1_SHA256, rng, msg, &mut sig)
                    .map_err(|e| format!("SAML signing: {e}"))?;
                Ok(sig)
            }
            SigningKey::Ecdsa(key) => Ok(key
                .sign(rng, msg)
                .map_err(|e| format!("SAML signing: {e}"))?
                .as_ref()
                .to_vec()),
        }
    }
}

/// The IdP: its signing key, entityID and the role/provider pair put in the Role attribute.
pub struct SamlIdp {
    key: SigningKey,
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
    /// `key`: a private key whose certificate is in the provider metadata.
    pub fn new(
        key: SigningKey,
        entity_id: &str,
        role_arn: &str,
        provider_arn: &str,
    ) -> Result<SamlIdp, BoxError> {
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
        let method = self.key.signature_method();
        let signed_info = format!(
            "<ds:SignedInfo xmlns:ds=\"{NS_DS}\"><ds:CanonicalizationMethod Algorithm=\"http://www.w3.org/2001/10/xml-exc-c14n#\"></ds:CanonicalizationMethod>\
<ds:SignatureMethod Algorithm=\"{method}\"></ds:SignatureMethod><ds:Reference URI=\"#{id}\"><ds:Transforms>\
<ds:Transform Algorithm=\"http://www.w3.org/2000/09/xmldsig#enveloped-signature\"></ds:Transform><ds:Transform Algorithm=\"http://www.w3.org/2001/10/xml-exc-c14n#\"></ds:Transform></ds:Transforms>\
<ds:DigestMethod Algorithm=\"http://www.w3.org/2001/04/xmlenc#sha256\"></ds:DigestMethod><ds:DigestValue>{digest_b64}</ds:DigestValue></ds:Reference></ds:SignedInfo>"
        );
        let sig = self.key.sign(&self.rng, signed_info.as_bytes())?;
        let sig_b64 = STANDARD.encode(sig);
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

    /// The generated Response verifies with the server's own verifier (digest, signature,
    /// audience, recipient, times), for either key kind, and every call has a new assertion id.
    #[test]
    fn generated_response_verifies_with_the_server_verifier() {
        check(&rcgen::PKCS_RSA_SHA256, SigningKey::rsa);
        check(&rcgen::PKCS_ECDSA_P256_SHA256, SigningKey::ecdsa);
    }

    fn keypair(alg: &'static rcgen::SignatureAlgorithm) -> rcgen::KeyPair {
        if alg == &rcgen::PKCS_RSA_SHA256 {
            rcgen::KeyPair::generate_rsa_for(alg, rcgen::RsaKeySize::_2048).unwrap()
        } else {
            rcgen::KeyPair::generate_for(alg).unwrap()
        }
    }

    fn check(
        alg: &'static rcgen::SignatureAlgorithm,
        key: fn(&[u8]) -> Result<SigningKey, BoxError>,
    ) {
        let kp = keypair(alg);
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
        let idp = SamlIdp::new(key(&kp.serialize_der()).unwrap(), ENTITY, ROLE, PROVIDER).unwrap();
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
        let other = keypair(alg);
        let forged =
            SamlIdp::new(key(&other.serialize_der()).unwrap(), ENTITY, ROLE, PROVIDER).unwrap();
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
