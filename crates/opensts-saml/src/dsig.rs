//! XML-DSig verification of one enveloped signature, for the narrow profile SAML IdPs use.
//!
//! The caller has already checked that `signature` is a direct child of `signed` (the element it
//! must sign). Here: the `Signature` element's shape is checked strictly, algorithms are
//! allow-listed, the one `Reference` must point at `#` + the `ID` of `signed`, and both the
//! signature over the canonicalized `SignedInfo` and the digest of the transformed `signed`
//! element are verified with a trusted key. `KeyInfo` is never used to choose a key: it only
//! turns "no trusted key verifies" into [`SamlError::UntrustedKey`] when the message names a
//! certificate that is not trusted.

use aws_lc_rs::digest;
use aws_lc_rs::signature::{self, UnparsedPublicKey, VerificationAlgorithm};
use roxmltree::Node;

use crate::c14n::{self, PrefixList};
use crate::cert::{KeyKind, SigningCert, decode_b64_ws};
use crate::error::SamlError;
use crate::xml::{NS_DS, NS_EXC_C14N, element_only, is, req_attr};

pub(crate) const ALG_EXC_C14N: &str = "http://www.w3.org/2001/10/xml-exc-c14n#";
const ALG_ENVELOPED: &str = "http://www.w3.org/2000/09/xmldsig#enveloped-signature";

/// Signature algorithms (SignatureMethod/@Algorithm).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum SigAlg {
    RsaSha1,
    RsaSha256,
    RsaSha384,
    RsaSha512,
    EcdsaSha256,
    EcdsaSha384,
}

impl SigAlg {
    fn from_uri(uri: &str, allow_sha1: bool) -> Result<SigAlg, SamlError> {
        Ok(match uri {
            "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256" => SigAlg::RsaSha256,
            "http://www.w3.org/2001/04/xmldsig-more#rsa-sha384" => SigAlg::RsaSha384,
            "http://www.w3.org/2001/04/xmldsig-more#rsa-sha512" => SigAlg::RsaSha512,
            "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha256" => SigAlg::EcdsaSha256,
            "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha384" => SigAlg::EcdsaSha384,
            "http://www.w3.org/2000/09/xmldsig#rsa-sha1" if allow_sha1 => SigAlg::RsaSha1,
            other => {
                return Err(SamlError::UnsupportedAlgorithm(format!(
                    "signature method {other}"
                )));
            }
        })
    }

    /// The aws-lc-rs algorithm for this signature method and key, if they fit together.
    fn verifier(self, kind: KeyKind) -> Option<&'static dyn VerificationAlgorithm> {
        match (self, kind) {
            (SigAlg::RsaSha1, KeyKind::Rsa { .. }) => {
                Some(&signature::RSA_PKCS1_2048_8192_SHA1_FOR_LEGACY_USE_ONLY)
            }
            (SigAlg::RsaSha256, KeyKind::Rsa { .. }) => {
                Some(&signature::RSA_PKCS1_2048_8192_SHA256)
            }
            (SigAlg::RsaSha384, KeyKind::Rsa { .. }) => {
                Some(&signature::RSA_PKCS1_2048_8192_SHA384)
            }
            (SigAlg::RsaSha512, KeyKind::Rsa { .. }) => {
                Some(&signature::RSA_PKCS1_2048_8192_SHA512)
            }
            (SigAlg::EcdsaSha256, KeyKind::EcP256) => Some(&signature::ECDSA_P256_SHA256_FIXED),
            (SigAlg::EcdsaSha384, KeyKind::EcP384) => Some(&signature::ECDSA_P384_SHA384_FIXED),
            _ => None,
        }
    }
}

fn digest_alg(uri: &str, allow_sha1: bool) -> Result<&'static digest::Algorithm, SamlError> {
    Ok(match uri {
        "http://www.w3.org/2001/04/xmlenc#sha256" => &digest::SHA256,
        "http://www.w3.org/2001/04/xmldsig-more#sha384" => &digest::SHA384,
        "http://www.w3.org/2001/04/xmlenc#sha512" => &digest::SHA512,
        "http://www.w3.org/2000/09/xmldsig#sha1" if allow_sha1 => &digest::SHA1_FOR_LEGACY_USE_ONLY,
        other => {
            return Err(SamlError::UnsupportedAlgorithm(format!(
                "digest method {other}"
            )));
        }
    })
}

/// Element children of `node` (whitespace text and comments skipped, anything else refused).
fn element_children<'a, 'i>(node: Node<'a, 'i>) -> Result<Vec<Node<'a, 'i>>, SamlError> {
    element_only(node)?;
    Ok(node.children().filter(|c| c.is_element()).collect())
}

fn expect_ds<'a, 'i>(
    it: &mut std::iter::Peekable<std::vec::IntoIter<Node<'a, 'i>>>,
    local: &'static str,
) -> Result<Node<'a, 'i>, SamlError> {
    match it.next() {
        Some(n) if is(n, NS_DS, local) => Ok(n),
        _ => Err(SamlError::Structure(format!("Signature: expected {local}"))),
    }
}

/// A `c14n` method or transform: exclusive C14N without comments, with an optional
/// `InclusiveNamespaces` child.
fn exc_c14n_params(method: Node<'_, '_>) -> Result<PrefixList, SamlError> {
    let alg = req_attr(method, "Algorithm")?;
    if alg != ALG_EXC_C14N {
        return Err(SamlError::UnsupportedAlgorithm(format!(
            "canonicalization {alg}"
        )));
    }
    let kids = element_children(method)?;
    match kids.as_slice() {
        [] => Ok(PrefixList::default()),
        [inc] if is(*inc, NS_EXC_C14N, "InclusiveNamespaces") => {
            if inc.children().any(|c| c.is_element()) {
                return Err(SamlError::Structure(
                    "InclusiveNamespaces with children".into(),
                ));
            }
            Ok(PrefixList::parse(
                inc.attribute("PrefixList").unwrap_or_default(),
            ))
        }
        _ => Err(SamlError::Structure(
            "unexpected canonicalization parameters".into(),
        )),
    }
}

/// The parsed signature.
struct Parsed<'a, 'i> {
    signed_info: Node<'a, 'i>,
    si_prefixes: PrefixList,
    sig_alg: SigAlg,
    ref_prefixes: PrefixList,
    digest: &'static digest::Algorithm,
    digest_value: Vec<u8>,
    signature_value: Vec<u8>,
    key_info_certs: Vec<Vec<u8>>,
}

fn parse_signature<'a, 'i>(
    signature: Node<'a, 'i>,
    signed: Node<'a, 'i>,
    allow_sha1: bool,
) -> Result<Parsed<'a, 'i>, SamlError> {
    let mut kids = element_children(signature)?.into_iter().peekable();
    let signed_info = expect_ds(&mut kids, "SignedInfo")?;
    let signature_value_node = expect_ds(&mut kids, "SignatureValue")?;
    let key_info = match kids.peek() {
        Some(n) if is(*n, NS_DS, "KeyInfo") => kids.next(),
        _ => None,
    };
    if let Some(extra) = kids.next() {
        // ds:Object and anything else: a classic place to hide wrapped content.
        return Err(SamlError::Structure(format!(
            "unexpected <{}> in Signature",
            extra.tag_name().name()
        )));
    }

    // SignedInfo: CanonicalizationMethod, SignatureMethod, exactly one Reference.
    let mut si = element_children(signed_info)?.into_iter().peekable();
    let c14n_method = expect_ds(&mut si, "CanonicalizationMethod")?;
    let sig_method = expect_ds(&mut si, "SignatureMethod")?;
    let reference = expect_ds(&mut si, "Reference")?;
    if si.next().is_some() {
        return Err(SamlError::Structure(
            "SignedInfo must hold exactly one Reference".into(),
        ));
    }
    let si_prefixes = exc_c14n_params(c14n_method)?;
    let sig_alg = SigAlg::from_uri(req_attr(sig_method, "Algorithm")?, allow_sha1)?;
    if sig_method.children().any(|c| c.is_element()) {
        // HMACOutputLength and other parameters.
        return Err(SamlError::UnsupportedAlgorithm(
            "signature method parameters".into(),
        ));
    }

    // Reference URI = "#" + ID of the signed element.
    let id = signed
        .attribute("ID")
        .filter(|v| !v.is_empty())
        .ok_or_else(|| SamlError::Structure("signed element has no ID".into()))?;
    let uri = req_attr(reference, "URI")?;
    if uri.strip_prefix('#') != Some(id) {
        return Err(SamlError::Structure(
            "Reference does not point at its parent element".into(),
        ));
    }

    let mut r = element_children(reference)?.into_iter().peekable();
    let transforms = expect_ds(&mut r, "Transforms")?;
    let digest_method = expect_ds(&mut r, "DigestMethod")?;
    let digest_value_node = expect_ds(&mut r, "DigestValue")?;
    if r.next().is_some() {
        return Err(SamlError::Structure(
            "unexpected element in Reference".into(),
        ));
    }
    let tlist = element_children(transforms)?;
    let ref_prefixes = match tlist.as_slice() {
        [env, c14n] if is(*env, NS_DS, "Transform") && is(*c14n, NS_DS, "Transform") => {
            let env_alg = req_attr(*env, "Algorithm")?;
            if env_alg != ALG_ENVELOPED {
                return Err(SamlError::UnsupportedAlgorithm(format!(
                    "transform {env_alg}"
                )));
            }
            if env.children().any(|c| c.is_element()) {
                return Err(SamlError::Structure(
                    "enveloped-signature with parameters".into(),
                ));
            }
            exc_c14n_params(*c14n)?
        }
        _ => {
            // Report an unsupported algorithm when one is named, else a structure error.
            for t in &tlist {
                if let Some(alg) = t.attribute("Algorithm")
                    && alg != ALG_ENVELOPED
                    && alg != ALG_EXC_C14N
                {
                    return Err(SamlError::UnsupportedAlgorithm(format!("transform {alg}")));
                }
            }
            return Err(SamlError::Structure(
                "Transforms must be enveloped-signature then exclusive C14N".into(),
            ));
        }
    };
    let digest = digest_alg(req_attr(digest_method, "Algorithm")?, allow_sha1)?;
    let digest_value = decode_b64_ws(&crate::xml::text_only(digest_value_node)?)
        .ok_or_else(|| SamlError::Malformed("DigestValue is not base64".into()))?;
    let signature_value = decode_b64_ws(&crate::xml::text_only(signature_value_node)?)
        .ok_or_else(|| SamlError::Malformed("SignatureValue is not base64".into()))?;

    // KeyInfo: only X509Certificate values are looked at, as hints.
    let key_info_certs = key_info
        .map(|ki| {
            ki.descendants()
                .filter(|n| is(*n, NS_DS, "X509Certificate"))
                .filter_map(|n| {
                    crate::xml::text_only(n)
                        .ok()
                        .and_then(|t| decode_b64_ws(&t))
                })
                .collect()
        })
        .unwrap_or_default();

    Ok(Parsed {
        signed_info,
        si_prefixes,
        sig_alg,
        ref_prefixes,
        digest,
        digest_value,
        signature_value,
        key_info_certs,
    })
}

/// Verify the enveloped `signature` (a direct child of `signed`) against the trusted
/// certificates.
pub(crate) fn verify_enveloped(
    signature: Node<'_, '_>,
    signed: Node<'_, '_>,
    trusted: &[SigningCert],
    allow_sha1: bool,
) -> Result<(), SamlError> {
    if signature.parent_element().map(|p| p.id()) != Some(signed.id()) {
        return Err(SamlError::Structure(
            "Signature is not a child of the signed element".into(),
        ));
    }
    let p = parse_signature(signature, signed, allow_sha1)?;

    // 1. The signature over the canonicalized SignedInfo, with a trusted key.
    let si_bytes = c14n::exclusive(p.signed_info, None, &p.si_prefixes)?;
    let verified = trusted.iter().any(|cert| {
        p.sig_alg.verifier(cert.kind()).is_some_and(|alg| {
            UnparsedPublicKey::new(alg, cert.public_key())
                .verify(&si_bytes, &p.signature_value)
                .is_ok()
        })
    });
    if !verified {
        let names_untrusted = !p.key_info_certs.is_empty()
            && !p
                .key_info_certs
                .iter()
                .any(|der| trusted.iter().any(|c| c.der() == der.as_slice()));
        let no_fitting_key = !trusted
            .iter()
            .any(|c| p.sig_alg.verifier(c.kind()).is_some());
        return Err(if names_untrusted || no_fitting_key {
            SamlError::UntrustedKey
        } else {
            SamlError::SignatureInvalid
        });
    }

    // 2. The digest of the referenced element, enveloped signature removed, exclusive C14N.
    let ref_bytes = c14n::exclusive(signed, Some(signature.id()), &p.ref_prefixes)?;
    let computed = digest::digest(p.digest, &ref_bytes);
    if computed.as_ref() != p.digest_value.as_slice() {
        return Err(SamlError::DigestMismatch);
    }
    Ok(())
}
