//! SAML and OpenID Connect identity providers, and the look-ups the federation actions
//! (`AssumeRoleWithSAML`, `AssumeRoleWithWebIdentity`) use.
//!
//! * SAML providers are stored under kind [`KIND_SAML_PROVIDER`], keyed by the provider name.
//! * OIDC providers are stored under kind [`KIND_OIDC_PROVIDER`], keyed by the provider URL
//!   without `https://` (host and path, as AWS returns it in `Url` and puts in the ARN). AWS
//!   compares provider URLs case-sensitively; the store's keys are case-insensitive, so two
//!   URLs that differ only in case are one provider here (hosts are case-insensitive anyway;
//!   only paths differing in case alone collide).

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use opensts_saml::{IdpMetadata, SamlError, SigningCert};
use serde::{Deserialize, Serialize};

use super::Tag;
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;

/// Entity kind of SAML providers in the store.
pub const KIND_SAML_PROVIDER: &str = "saml-provider";
/// Entity kind of OpenID Connect providers in the store.
pub const KIND_OIDC_PROVIDER: &str = "oidc-provider";

/// Seconds in 100 years (of 365.25 days): the `ValidUntil` AWS reports for metadata without
/// a `validUntil` attribute is about a century after creation.
pub const DEFAULT_SAML_VALIDITY_SECS: i64 = 3_155_760_000;

/// A SAML 2.0 identity provider (IAM `CreateSAMLProvider`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SamlProviderDoc {
    pub name: String,
    /// `SAMLProviderUUID`: 32 characters of `[0-9A-F]`.
    pub uuid: String,
    /// The metadata document as uploaded (returned by `GetSAMLProvider`).
    pub metadata: String,
    /// The IdP's `entityID`: the Issuer its assertions must carry.
    pub entity_id: String,
    /// Trusted signing certificates (standard base64 of the DER), several during a rotation.
    pub signing_certs: Vec<String>,
    /// `validUntil` of the metadata (Unix seconds), if it has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub valid_until: Option<i64>,
    pub create_date: i64,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<Tag>,
}

impl SamlProviderDoc {
    /// Build the document from validated metadata.
    pub fn from_metadata(
        name: &str,
        uuid: String,
        xml: &str,
        md: &IdpMetadata,
        create_date: i64,
        tags: Vec<Tag>,
    ) -> SamlProviderDoc {
        let mut doc = SamlProviderDoc {
            name: name.to_string(),
            uuid,
            metadata: String::new(),
            entity_id: String::new(),
            signing_certs: Vec::new(),
            valid_until: None,
            create_date,
            tags,
        };
        doc.set_metadata(xml, md);
        doc
    }

    /// Replace the metadata (UpdateSAMLProvider: new certificates, rotation).
    pub fn set_metadata(&mut self, xml: &str, md: &IdpMetadata) {
        self.metadata = xml.to_string();
        self.entity_id = md.entity_id.clone();
        self.signing_certs = md
            .signing_certs
            .iter()
            .map(|c| STANDARD.encode(c.der()))
            .collect();
        self.valid_until = md.valid_until;
    }

    pub fn arn(&self, account_id: &str) -> String {
        opensts_core::arn::saml_provider_arn(account_id, &self.name)
    }

    /// `ValidUntil` as reported: the metadata's, else 100 years after creation (as AWS).
    pub fn reported_valid_until(&self) -> i64 {
        self.valid_until
            .unwrap_or_else(|| self.create_date.saturating_add(DEFAULT_SAML_VALIDITY_SECS))
    }

    /// The trusted signing certificates, parsed.
    pub fn trusted_certs(&self) -> Result<Vec<SigningCert>, SamlError> {
        self.signing_certs
            .iter()
            .map(|b64| SigningCert::from_base64(b64))
            .collect()
    }

    /// What `opensts_saml::VerifyOptions::new` takes: entity id (expected Issuer), trusted
    /// certificates and `validUntil`.
    pub fn idp_metadata(&self) -> Result<IdpMetadata, SamlError> {
        Ok(IdpMetadata {
            entity_id: self.entity_id.clone(),
            signing_certs: self.trusted_certs()?,
            valid_until: self.valid_until,
        })
    }
}

/// An OpenID Connect identity provider (IAM `CreateOpenIDConnectProvider`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OidcProviderDoc {
    /// The URL without `https://` (host and optional path), as AWS returns it in `Url`.
    pub url: String,
    /// Client ids (audiences), in the order added.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub client_ids: Vec<String>,
    /// Server certificate thumbprints: 40 lower-case hex characters each.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub thumbprints: Vec<String>,
    pub create_date: i64,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<Tag>,
}

impl OidcProviderDoc {
    pub fn arn(&self, account_id: &str) -> String {
        opensts_core::arn::oidc_provider_arn(account_id, &self.url)
    }

    /// The issuer tokens of this provider carry (`iss`): `https://` + the URL.
    pub fn issuer(&self) -> String {
        format!("https://{}", self.url)
    }
}

fn decode<T: serde::de::DeserializeOwned>(doc: serde_json::Value, what: &str) -> ApiResult<T> {
    serde_json::from_value(doc).map_err(|err| {
        tracing::error!(error = %err, kind = what, "corrupt provider document");
        ApiError::internal()
    })
}

/// The SAML provider `name` of `account`, if it exists (for AssumeRoleWithSAML: its
/// [`SamlProviderDoc::idp_metadata`] gives the expected issuer and the trusted certificates).
pub async fn load_saml_provider(
    state: &AppState,
    account: &str,
    name: &str,
) -> ApiResult<Option<SamlProviderDoc>> {
    match state
        .store
        .get_entity(account, KIND_SAML_PROVIDER, name)
        .await?
    {
        Some(e) => Ok(Some(decode(e.doc, KIND_SAML_PROVIDER)?)),
        None => Ok(None),
    }
}

/// The store key of an OIDC provider for an issuer URL: the URL without `https://`. `None` if
/// the issuer is not an `https://` URL.
pub fn oidc_key_for_issuer(issuer_url: &str) -> Option<&str> {
    let rest = issuer_url.strip_prefix("https://")?;
    (!rest.is_empty()).then_some(rest)
}

/// The OIDC provider of `account` whose URL is `issuer_url` (a token's `iss`, with
/// `https://`), if it exists (for AssumeRoleWithWebIdentity). Matching is exact apart from
/// case (see the module documentation); a trailing `/` is significant, as in AWS.
pub async fn load_oidc_provider_by_issuer(
    state: &AppState,
    account: &str,
    issuer_url: &str,
) -> ApiResult<Option<OidcProviderDoc>> {
    let Some(key) = oidc_key_for_issuer(issuer_url) else {
        return Ok(None);
    };
    // Through the entity cache (request path of every AssumeRoleWithWebIdentity); IAM writes
    // invalidate it like any other entity.
    match state.entity(account, KIND_OIDC_PROVIDER, key).await? {
        Some(e) => Ok(Some(decode(e.doc.clone(), KIND_OIDC_PROVIDER)?)),
        None => Ok(None),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    const RSA: &str = include_str!("../../../../opensts-saml/tests/fixtures/metadata/idp_rsa.xml");
    const ROTATION: &str =
        include_str!("../../../../opensts-saml/tests/fixtures/metadata/rotation.xml");

    #[test]
    fn saml_doc_round_trips_certificates() {
        let md = IdpMetadata::parse(RSA).unwrap();
        let doc = SamlProviderDoc::from_metadata("Idp", "U".repeat(32), RSA, &md, 1000, vec![]);
        assert_eq!(doc.entity_id, md.entity_id);
        assert_eq!(doc.trusted_certs().unwrap(), md.signing_certs);
        let back = doc.idp_metadata().unwrap();
        assert_eq!(back, md);
        let json = serde_json::to_value(&doc).unwrap();
        let again: SamlProviderDoc = serde_json::from_value(json).unwrap();
        assert_eq!(again, doc);
        assert_eq!(
            doc.arn("123456789012"),
            "arn:aws:iam::123456789012:saml-provider/Idp"
        );
        assert_eq!(
            doc.reported_valid_until(),
            md.valid_until.unwrap_or(1000 + DEFAULT_SAML_VALIDITY_SECS)
        );
    }

    #[test]
    fn rotation_keeps_several_certificates() {
        let md = IdpMetadata::parse(ROTATION).unwrap();
        assert!(md.signing_certs.len() >= 2);
        let doc = SamlProviderDoc::from_metadata("R", "U".repeat(32), ROTATION, &md, 0, vec![]);
        assert_eq!(doc.trusted_certs().unwrap().len(), md.signing_certs.len());
    }

    #[test]
    fn oidc_keys() {
        assert_eq!(
            oidc_key_for_issuer("https://example.com/a"),
            Some("example.com/a")
        );
        assert_eq!(oidc_key_for_issuer("http://example.com"), None);
        assert_eq!(oidc_key_for_issuer("https://"), None);
        let d = OidcProviderDoc {
            url: "token.actions.githubusercontent.com".into(),
            client_ids: vec![],
            thumbprints: vec![],
            create_date: 0,
            tags: vec![],
        };
        assert_eq!(
            d.arn("123456789012"),
            "arn:aws:iam::123456789012:oidc-provider/token.actions.githubusercontent.com"
        );
        assert_eq!(d.issuer(), "https://token.actions.githubusercontent.com");
    }
}
