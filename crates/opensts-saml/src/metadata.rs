//! SAML 2.0 IdP metadata: the entityID (expected Issuer) and the signing certificates.

use roxmltree::Node;

use crate::cert::SigningCert;
use crate::datetime::parse_instant;
use crate::error::SamlError;
use crate::xml::{METADATA_LIMITS, NS_DS, NS_MD, NS_SAMLP, children, is, parse, text_only};

/// Minimum length of a metadata document (IAM `SAMLMetadataDocument`, in characters).
pub const MIN_METADATA_LEN: usize = 1_000;
/// Maximum length of a metadata document (IAM `SAMLMetadataDocument`, in characters).
pub const MAX_METADATA_LEN: usize = 10_000_000;
/// At most this many distinct signing certificates are kept (every one is tried on each
/// verification, so this bounds the work per request).
pub const MAX_SIGNING_CERTS: usize = 20;
/// Maximum length of an entityID (SAML core: at most 1024 characters).
pub const MAX_ENTITY_ID_LEN: usize = 1024;

/// What OpenSTS keeps of an IdP's metadata.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdpMetadata {
    /// `EntityDescriptor/@entityID`: the Issuer every assertion must carry.
    pub entity_id: String,
    /// Signing certificates (`KeyDescriptor` with `use="signing"` or no `use`), deduplicated,
    /// in document order. Several are allowed for key rollover.
    pub signing_certs: Vec<SigningCert>,
    /// The earliest `validUntil` of the EntityDescriptor and its EntitiesDescriptor ancestors
    /// (Unix seconds), if any. Informational: this crate has no clock.
    pub valid_until: Option<i64>,
}

impl IdpMetadata {
    /// Parse and validate IdP metadata: an `EntityDescriptor`, or an `EntitiesDescriptor`
    /// holding exactly one entity with an `IDPSSODescriptor` supporting SAML 2.0.
    /// A metadata signature, if present, is not checked (the document is uploaded by an
    /// authenticated administrator, as with IAM).
    pub fn parse(xml: &str) -> Result<IdpMetadata, SamlError> {
        if xml.len() > MAX_METADATA_LEN * 4 || xml.chars().count() > MAX_METADATA_LEN {
            return Err(SamlError::TooLarge {
                what: "SAMLMetadataDocument",
                limit: MAX_METADATA_LEN,
            });
        }
        if xml.chars().count() < MIN_METADATA_LEN {
            return Err(SamlError::TooSmall {
                what: "SAMLMetadataDocument",
                limit: MIN_METADATA_LEN,
            });
        }
        let doc = parse(xml, METADATA_LIMITS)?;
        let root = doc.root_element();

        let mut idps: Vec<(Node<'_, '_>, Option<i64>)> = Vec::new();
        if is(root, NS_MD, "EntityDescriptor") {
            idps.push((root, None));
        } else if is(root, NS_MD, "EntitiesDescriptor") {
            collect_entities(root, None, &mut idps)?;
            idps.retain(|(e, _)| idp_descriptors(*e).next().is_some());
        } else {
            return Err(SamlError::InvalidMetadata(
                "root is not md:EntityDescriptor or md:EntitiesDescriptor".into(),
            ));
        }
        let [(entity, inherited_valid_until)] = idps.as_slice() else {
            return Err(SamlError::InvalidMetadata(format!(
                "expected exactly one identity provider, found {}",
                idps.len()
            )));
        };
        let entity = *entity;

        let entity_id = entity
            .attribute("entityID")
            .map(|s| s.trim_matches(crate::xml::is_xml_ws))
            .filter(|s| !s.is_empty())
            .ok_or_else(|| SamlError::InvalidMetadata("missing entityID".into()))?;
        if entity_id.chars().count() > MAX_ENTITY_ID_LEN {
            return Err(SamlError::InvalidMetadata("entityID too long".into()));
        }
        let valid_until = min_opt(*inherited_valid_until, valid_until_of(entity)?);

        let mut signing_certs: Vec<SigningCert> = Vec::new();
        let mut any_idp = false;
        for idp in idp_descriptors(entity) {
            any_idp = true;
            for kd in children(idp, NS_MD, "KeyDescriptor") {
                match kd.attribute("use") {
                    None | Some("signing") => {}
                    Some(_) => continue,
                }
                for ki in children(kd, NS_DS, "KeyInfo") {
                    for x509 in children(ki, NS_DS, "X509Data") {
                        for c in children(x509, NS_DS, "X509Certificate") {
                            let cert = SigningCert::from_base64(&text_only(c)?)?;
                            if !signing_certs.contains(&cert) {
                                signing_certs.push(cert);
                            }
                        }
                    }
                }
            }
        }
        if !any_idp {
            return Err(SamlError::InvalidMetadata(
                "no IDPSSODescriptor supporting SAML 2.0".into(),
            ));
        }
        if signing_certs.is_empty() {
            return Err(SamlError::NoSigningCertificate);
        }
        if signing_certs.len() > MAX_SIGNING_CERTS {
            return Err(SamlError::InvalidMetadata(
                "too many signing certificates".into(),
            ));
        }
        Ok(IdpMetadata {
            entity_id: entity_id.to_string(),
            signing_certs,
            valid_until,
        })
    }
}

fn idp_descriptors<'a, 'i>(entity: Node<'a, 'i>) -> impl Iterator<Item = Node<'a, 'i>> {
    children(entity, NS_MD, "IDPSSODescriptor").filter(|d| {
        d.attribute("protocolSupportEnumeration")
            .is_some_and(|p| p.split(crate::xml::is_xml_ws).any(|u| u == NS_SAMLP))
    })
}

fn valid_until_of(node: Node<'_, '_>) -> Result<Option<i64>, SamlError> {
    node.attribute("validUntil")
        .map(parse_instant)
        .transpose()
        .map_err(|_| SamlError::InvalidMetadata("invalid validUntil".into()))
}

fn min_opt(a: Option<i64>, b: Option<i64>) -> Option<i64> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

/// Entity descriptors under an EntitiesDescriptor (nested ones included), with the earliest
/// `validUntil` of their EntitiesDescriptor ancestors. Depth is bounded by the parser limits.
fn collect_entities<'a, 'i>(
    group: Node<'a, 'i>,
    inherited: Option<i64>,
    out: &mut Vec<(Node<'a, 'i>, Option<i64>)>,
) -> Result<(), SamlError> {
    let here = min_opt(inherited, valid_until_of(group)?);
    for child in group.children().filter(|c| c.is_element()) {
        if is(child, NS_MD, "EntityDescriptor") {
            out.push((child, here));
        } else if is(child, NS_MD, "EntitiesDescriptor") {
            collect_entities(child, here, out)?;
        }
    }
    Ok(())
}
