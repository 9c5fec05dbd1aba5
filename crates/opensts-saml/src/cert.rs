//! IdP signing certificates: parsed and checked once (from metadata), kept as the DER plus the
//! public key bytes aws-lc-rs verifies with.

use base64::Engine;
use x509_parser::oid_registry::{
    OID_EC_P256, OID_KEY_TYPE_EC_PUBLIC_KEY, OID_NIST_EC_P384, OID_PKCS1_RSAENCRYPTION,
};
use x509_parser::prelude::FromDer;

use crate::error::SamlError;

/// Minimum RSA modulus size accepted for IdP signing keys.
pub const MIN_RSA_BITS: usize = 2048;
/// Maximum RSA modulus size (aws-lc-rs's `RSA_PKCS1_2048_8192_*` range).
pub const MAX_RSA_BITS: usize = 8192;

/// The kind of key in a signing certificate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyKind {
    /// RSA with the modulus size in bits.
    Rsa { bits: usize },
    /// ECDSA on NIST P-256.
    EcP256,
    /// ECDSA on NIST P-384.
    EcP384,
}

/// A trusted IdP signing certificate (from metadata).
#[derive(Clone, PartialEq, Eq)]
pub struct SigningCert {
    der: Vec<u8>,
    kind: KeyKind,
    /// RSA: the PKCS#1 `RSAPublicKey`; EC: the SEC1 point. The formats aws-lc-rs's
    /// `UnparsedPublicKey` takes for `RSA_PKCS1_*` and `ECDSA_*_FIXED`.
    public_key: Vec<u8>,
    not_after: i64,
}

impl std::fmt::Debug for SigningCert {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SigningCert")
            .field("kind", &self.kind)
            .field("sha256", &self.sha256_hex())
            .finish()
    }
}

impl SigningCert {
    /// Parse and check a DER certificate: it must parse completely with x509-parser, and hold an
    /// RSA key of at least [`MIN_RSA_BITS`] bits or an EC key on P-256 or P-384. Validity dates
    /// are not checked (IdP signing certificates are trust anchors configured by the admin, as in
    /// AWS); [`SigningCert::not_after`] exposes the end date.
    pub fn from_der(der: &[u8]) -> Result<SigningCert, SamlError> {
        let (rest, cert) = x509_parser::certificate::X509Certificate::from_der(der)
            .map_err(|e| SamlError::InvalidCertificate(format!("does not parse: {e}")))?;
        if !rest.is_empty() {
            return Err(SamlError::InvalidCertificate("trailing bytes".into()));
        }
        let spki = cert.public_key();
        let key_bytes: &[u8] = &spki.subject_public_key.data;
        let alg = &spki.algorithm.algorithm;
        let kind = if *alg == OID_PKCS1_RSAENCRYPTION {
            let parsed = spki
                .parsed()
                .map_err(|_| SamlError::InvalidCertificate("invalid RSA key".into()))?;
            let x509_parser::public_key::PublicKey::RSA(rsa) = parsed else {
                return Err(SamlError::InvalidCertificate("invalid RSA key".into()));
            };
            let bits = modulus_bits(rsa.modulus);
            if !(MIN_RSA_BITS..=MAX_RSA_BITS).contains(&bits) {
                return Err(SamlError::InvalidCertificate(format!(
                    "RSA key of {bits} bits (need {MIN_RSA_BITS}..={MAX_RSA_BITS})"
                )));
            }
            KeyKind::Rsa { bits }
        } else if *alg == OID_KEY_TYPE_EC_PUBLIC_KEY {
            let curve = spki
                .algorithm
                .parameters
                .as_ref()
                .and_then(|p| p.clone().try_into().ok())
                .ok_or_else(|| {
                    SamlError::InvalidCertificate("EC key without named curve".into())
                })?;
            let curve: x509_parser::der_parser::oid::Oid<'_> = curve;
            if curve == OID_EC_P256 {
                KeyKind::EcP256
            } else if curve == OID_NIST_EC_P384 {
                KeyKind::EcP384
            } else {
                return Err(SamlError::InvalidCertificate(format!(
                    "EC curve {curve} not allowed"
                )));
            }
        } else {
            return Err(SamlError::InvalidCertificate(format!(
                "key algorithm {alg} not allowed"
            )));
        };
        // Make sure aws-lc-rs accepts the key now, not at the first login.
        let check = match kind {
            KeyKind::Rsa { .. } => aws_lc_rs::signature::ParsedPublicKey::new(
                &aws_lc_rs::signature::RSA_PKCS1_2048_8192_SHA256,
                key_bytes,
            )
            .is_ok(),
            KeyKind::EcP256 => aws_lc_rs::signature::ParsedPublicKey::new(
                &aws_lc_rs::signature::ECDSA_P256_SHA256_FIXED,
                key_bytes,
            )
            .is_ok(),
            KeyKind::EcP384 => aws_lc_rs::signature::ParsedPublicKey::new(
                &aws_lc_rs::signature::ECDSA_P384_SHA384_FIXED,
                key_bytes,
            )
            .is_ok(),
        };
        if !check {
            return Err(SamlError::InvalidCertificate(
                "public key rejected by aws-lc-rs".into(),
            ));
        }
        Ok(SigningCert {
            der: der.to_vec(),
            kind,
            public_key: key_bytes.to_vec(),
            not_after: cert.validity().not_after.timestamp(),
        })
    }

    /// Parse the base64 text of a `ds:X509Certificate` element (XML whitespace allowed).
    pub fn from_base64(text: &str) -> Result<SigningCert, SamlError> {
        let der = decode_b64_ws(text)
            .ok_or_else(|| SamlError::InvalidCertificate("invalid base64".into()))?;
        SigningCert::from_der(&der)
    }

    /// Parse a PEM `CERTIFICATE` block (for configuration and tests).
    pub fn from_pem(pem: &str) -> Result<SigningCert, SamlError> {
        let body: String = pem
            .lines()
            .map(str::trim)
            .skip_while(|l| *l != "-----BEGIN CERTIFICATE-----")
            .skip(1)
            .take_while(|l| *l != "-----END CERTIFICATE-----")
            .collect();
        SigningCert::from_base64(&body)
    }

    /// The certificate DER.
    pub fn der(&self) -> &[u8] {
        &self.der
    }

    /// The key kind.
    pub fn kind(&self) -> KeyKind {
        self.kind
    }

    /// The certificate's notAfter (Unix seconds); informational.
    pub fn not_after(&self) -> i64 {
        self.not_after
    }

    /// SHA-256 of the DER, lower-case hex (for logs and admin output).
    pub fn sha256_hex(&self) -> String {
        let d = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, &self.der);
        d.as_ref().iter().map(|b| format!("{b:02x}")).collect()
    }

    pub(crate) fn public_key(&self) -> &[u8] {
        &self.public_key
    }
}

fn modulus_bits(modulus: &[u8]) -> usize {
    let trimmed: &[u8] = {
        let start = modulus
            .iter()
            .position(|b| *b != 0)
            .unwrap_or(modulus.len());
        &modulus[start..]
    };
    match trimmed.first() {
        None => 0,
        Some(first) => (trimmed.len() - 1) * 8 + (8 - first.leading_zeros() as usize),
    }
}

/// Decode base64 that may be wrapped with XML whitespace (as in `ds:X509Certificate`,
/// `ds:SignatureValue`, `ds:DigestValue`). Otherwise strict: standard alphabet, canonical
/// padding.
pub(crate) fn decode_b64_ws(text: &str) -> Option<Vec<u8>> {
    let compact: String = text
        .chars()
        .filter(|c| !crate::xml::is_xml_ws(*c))
        .collect();
    base64::engine::general_purpose::STANDARD
        .decode(compact.as_bytes())
        .ok()
}
