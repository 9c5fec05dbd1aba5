//! AWS meaning of a verified assertion: the `https://aws.amazon.com/SAML/Attributes/*`
//! attributes, `NameQualifier`, and the `saml:*` condition keys (sts-spec §9).

use std::collections::BTreeMap;

use base64::Engine;

use crate::error::SamlError;
use crate::response::VerifiedAssertion;

/// Prefix of the AWS SAML attribute names.
pub const AWS_ATTR_PREFIX: &str = "https://aws.amazon.com/SAML/Attributes/";
pub const ATTR_ROLE: &str = "https://aws.amazon.com/SAML/Attributes/Role";
pub const ATTR_ROLE_SESSION_NAME: &str = "https://aws.amazon.com/SAML/Attributes/RoleSessionName";
pub const ATTR_SESSION_DURATION: &str = "https://aws.amazon.com/SAML/Attributes/SessionDuration";
pub const ATTR_PRINCIPAL_TAG_PREFIX: &str = "https://aws.amazon.com/SAML/Attributes/PrincipalTag:";
pub const ATTR_TRANSITIVE_TAG_KEYS: &str =
    "https://aws.amazon.com/SAML/Attributes/TransitiveTagKeys";
pub const ATTR_SOURCE_IDENTITY: &str = "https://aws.amazon.com/SAML/Attributes/SourceIdentity";

/// `SessionDuration` bounds (seconds).
pub const SESSION_DURATION_MIN: u32 = 900;
pub const SESSION_DURATION_MAX: u32 = 43_200;

/// One `role-arn,provider-arn` value of the Role attribute (either order accepted).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RolePair {
    pub role_arn: String,
    pub provider_arn: String,
}

/// The AWS attributes of an assertion. Session tag keys/values and SourceIdentity are returned
/// as sent: their limits (sts-spec §5.3, §5.4) are checked by the server with the other tag rules.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AwsSamlAttributes {
    /// Well-formed Role pairs (malformed values are skipped; at least one is required).
    pub roles: Vec<RolePair>,
    /// Validated `[a-zA-Z_0-9+=,.@-]{2,64}`.
    pub role_session_name: String,
    /// Validated 900..=43200 if present.
    pub session_duration: Option<u32>,
    /// `PrincipalTag:<Key>` → (key, value), in document order.
    pub principal_tags: Vec<(String, String)>,
    pub transitive_tag_keys: Vec<String>,
    pub source_identity: Option<String>,
}

impl AwsSamlAttributes {
    /// Whether the assertion allows this (role, provider) pair.
    pub fn allows(&self, role_arn: &str, provider_arn: &str) -> bool {
        self.roles
            .iter()
            .any(|r| r.role_arn == role_arn && r.provider_arn == provider_arn)
    }
}

fn is_role_arn(s: &str) -> bool {
    iam_arn_resource(s).is_some_and(|r| {
        r.strip_prefix("role/")
            .is_some_and(|rest| !rest.is_empty() && !rest.ends_with('/'))
    })
}

fn is_provider_arn(s: &str) -> bool {
    iam_arn_resource(s).is_some_and(|r| {
        r.strip_prefix("saml-provider/").is_some_and(|name| {
            !name.is_empty()
                && name.len() <= 128
                && name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c))
        })
    })
}

/// `arn:<partition>:iam::<12 digits>:<resource>` → resource.
fn iam_arn_resource(s: &str) -> Option<&str> {
    let mut parts = s.splitn(6, ':');
    let (arn, partition, service, region, account, resource) = (
        parts.next()?,
        parts.next()?,
        parts.next()?,
        parts.next()?,
        parts.next()?,
        parts.next()?,
    );
    let ok = arn == "arn"
        && !partition.is_empty()
        && partition
            .chars()
            .all(|c| c.is_ascii_lowercase() || c == '-')
        && service == "iam"
        && region.is_empty()
        && account.len() == 12
        && account.bytes().all(|b| b.is_ascii_digit());
    ok.then_some(resource)
}

fn parse_role_pair(value: &str) -> Option<RolePair> {
    let (a, b) = value.split_once(',')?;
    let (a, b) = (a.trim(), b.trim());
    if b.contains(',') {
        return None;
    }
    if is_role_arn(a) && is_provider_arn(b) {
        Some(RolePair {
            role_arn: a.to_string(),
            provider_arn: b.to_string(),
        })
    } else if is_provider_arn(a) && is_role_arn(b) {
        Some(RolePair {
            role_arn: b.to_string(),
            provider_arn: a.to_string(),
        })
    } else {
        None
    }
}

fn valid_role_session_name(s: &str) -> bool {
    (2..=64).contains(&s.len())
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "_+=,.@-".contains(c))
}

fn single<'a>(
    a: &'a VerifiedAssertion,
    name: &str,
    short: &'static str,
) -> Result<Option<&'a str>, SamlError> {
    match a.attribute(name) {
        None => Ok(None),
        Some([v]) => Ok(Some(v.trim())),
        Some(_) => Err(SamlError::InvalidAttribute(short)),
    }
}

/// Extract and check the AWS attributes. Errors: `MissingAttribute("Role")` when no well-formed
/// Role pair is present, `MissingAttribute("RoleSessionName")` / `InvalidAttribute(…)` with
/// AWS's messages.
pub fn aws_attributes(a: &VerifiedAssertion) -> Result<AwsSamlAttributes, SamlError> {
    let roles: Vec<RolePair> = a
        .attribute(ATTR_ROLE)
        .unwrap_or_default()
        .iter()
        .filter_map(|v| parse_role_pair(v))
        .collect();
    if roles.is_empty() {
        return Err(SamlError::MissingAttribute("Role"));
    }
    let role_session_name = single(a, ATTR_ROLE_SESSION_NAME, "RoleSessionName")?
        .ok_or(SamlError::MissingAttribute("RoleSessionName"))?;
    if !valid_role_session_name(role_session_name) {
        return Err(SamlError::InvalidAttribute("RoleSessionName"));
    }
    let session_duration = single(a, ATTR_SESSION_DURATION, "SessionDuration")?
        .map(|v| {
            v.parse::<u32>()
                .ok()
                .filter(|d| (SESSION_DURATION_MIN..=SESSION_DURATION_MAX).contains(d))
                .ok_or(SamlError::InvalidAttribute("SessionDuration"))
        })
        .transpose()?;
    let mut principal_tags = Vec::new();
    for (name, values) in &a.attributes {
        if let Some(key) = name.strip_prefix(ATTR_PRINCIPAL_TAG_PREFIX) {
            let [value] = values.as_slice() else {
                return Err(SamlError::InvalidAttribute("PrincipalTag"));
            };
            if key.is_empty() {
                return Err(SamlError::InvalidAttribute("PrincipalTag"));
            }
            principal_tags.push((key.to_string(), value.clone()));
        }
    }
    let transitive_tag_keys = a
        .attribute(ATTR_TRANSITIVE_TAG_KEYS)
        .unwrap_or_default()
        .iter()
        .map(|v| v.trim().to_string())
        .collect();
    let source_identity = single(a, ATTR_SOURCE_IDENTITY, "SourceIdentity")?.map(str::to_string);
    Ok(AwsSamlAttributes {
        roles,
        role_session_name: role_session_name.to_string(),
        session_duration,
        principal_tags,
        transitive_tag_keys,
        source_identity,
    })
}

/// `NameQualifier` = `Base64(SHA1(issuer + account_id + "/" + provider_name))`.
pub fn name_qualifier(issuer: &str, account_id: &str, provider_name: &str) -> String {
    let mut ctx = aws_lc_rs::digest::Context::new(&aws_lc_rs::digest::SHA1_FOR_LEGACY_USE_ONLY);
    ctx.update(issuer.as_bytes());
    ctx.update(account_id.as_bytes());
    ctx.update(b"/");
    ctx.update(provider_name.as_bytes());
    base64::engine::general_purpose::STANDARD.encode(ctx.finish().as_ref())
}

/// Attribute Name → `saml:` condition key, per the AWS IAM User Guide tables (eduPerson/eduOrg,
/// Active Directory claims, X.500). Where several names map to one key, the first one present
/// in this table wins (AWS: "only one claim per key is mapped").
pub const SAML_ATTRIBUTE_KEYS: &[(&str, &str)] = &[
    (
        "urn:oid:1.3.6.1.4.1.5923.1.1.1.1",
        "saml:edupersonaffiliation",
    ),
    ("urn:oid:1.3.6.1.4.1.5923.1.1.1.2", "saml:edupersonnickname"),
    ("urn:oid:1.3.6.1.4.1.5923.1.1.1.3", "saml:edupersonorgdn"),
    (
        "urn:oid:1.3.6.1.4.1.5923.1.1.1.4",
        "saml:edupersonorgunitdn",
    ),
    (
        "urn:oid:1.3.6.1.4.1.5923.1.1.1.5",
        "saml:edupersonprimaryaffiliation",
    ),
    (
        "urn:oid:1.3.6.1.4.1.5923.1.1.1.6",
        "saml:edupersonprincipalname",
    ),
    (
        "urn:oid:1.3.6.1.4.1.5923.1.1.1.7",
        "saml:edupersonentitlement",
    ),
    (
        "urn:oid:1.3.6.1.4.1.5923.1.1.1.8",
        "saml:edupersonprimaryorgunitdn",
    ),
    (
        "urn:oid:1.3.6.1.4.1.5923.1.1.1.9",
        "saml:edupersonscopedaffiliation",
    ),
    (
        "urn:oid:1.3.6.1.4.1.5923.1.1.1.10",
        "saml:edupersontargetedid",
    ),
    (
        "urn:oid:1.3.6.1.4.1.5923.1.1.1.11",
        "saml:edupersonassurance",
    ),
    ("urn:oid:1.3.6.1.4.1.5923.1.2.1.2", "saml:eduorghomepageuri"),
    (
        "urn:oid:1.3.6.1.4.1.5923.1.2.1.3",
        "saml:eduorgidentityauthnpolicyuri",
    ),
    ("urn:oid:1.3.6.1.4.1.5923.1.2.1.4", "saml:eduorglegalname"),
    ("urn:oid:1.3.6.1.4.1.5923.1.2.1.5", "saml:eduorgsuperioruri"),
    (
        "urn:oid:1.3.6.1.4.1.5923.1.2.1.6",
        "saml:eduorgwhitepagesuri",
    ),
    ("urn:oid:2.5.4.3", "saml:cn"),
    (
        "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/name",
        "saml:name",
    ),
    (
        "http://schemas.xmlsoap.org/claims/CommonName",
        "saml:commonName",
    ),
    (
        "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/givenname",
        "saml:givenName",
    ),
    (
        "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/surname",
        "saml:surname",
    ),
    (
        "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/emailaddress",
        "saml:mail",
    ),
    (
        "http://schemas.microsoft.com/ws/2008/06/identity/claims/primarygroupsid",
        "saml:uid",
    ),
    ("2.5.4.3", "saml:commonName"),
    ("2.5.4.4", "saml:surname"),
    // "2.4.5.42" (sic) is what AWS's table lists for givenName; the real OID 2.5.4.42 too.
    ("2.4.5.42", "saml:givenName"),
    ("2.5.4.42", "saml:givenName"),
    ("2.5.4.45", "saml:x500UniqueIdentifier"),
    ("0.9.2342.19200300100.1.1", "saml:uid"),
    ("0.9.2342.19200300100.1.3", "saml:mail"),
    ("0.9.2342.19200300.100.1.45", "saml:organizationStatus"),
];

/// The `saml:*` condition keys for a role trust-policy evaluation. `provider_name` is the
/// last segment of the provider ARN. Every key maps to its values (single-valued keys have one).
/// `saml:primaryGroupSID` has no documented source attribute and is never set.
pub fn condition_keys(
    a: &VerifiedAssertion,
    account_id: &str,
    provider_name: &str,
) -> BTreeMap<String, Vec<String>> {
    let mut keys: BTreeMap<String, Vec<String>> = BTreeMap::new();
    keys.insert("saml:aud".into(), vec![a.recipient.clone()]);
    keys.insert("saml:iss".into(), vec![a.issuer.clone()]);
    keys.insert("saml:sub".into(), vec![a.name_id.clone()]);
    if let Some(t) = a.subject_type() {
        keys.insert("saml:sub_type".into(), vec![t]);
    }
    keys.insert(
        "saml:namequalifier".into(),
        vec![name_qualifier(&a.issuer, account_id, provider_name)],
    );
    keys.insert(
        "saml:doc".into(),
        vec![format!("{account_id}/{provider_name}")],
    );
    for (attr_name, key) in SAML_ATTRIBUTE_KEYS {
        if keys.contains_key(*key) {
            continue;
        }
        if let Some(values) = a.attribute(attr_name) {
            keys.insert((*key).to_string(), values.to_vec());
        }
    }
    keys
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn name_qualifier_matches_known_value() {
        // base64(sha1("https://example.com/saml123456789012/MySAMLIdP")), computed with
        // `printf %s … | openssl sha1 -binary | base64`.
        assert_eq!(
            name_qualifier("https://example.com/saml", "123456789012", "MySAMLIdP"),
            "1uAJanUnBc2XeUkHURMht+xam2c="
        );
    }

    #[test]
    fn role_pairs_either_order() {
        let r = "arn:aws:iam::123456789012:role/Admin";
        let p = "arn:aws:iam::123456789012:saml-provider/Okta";
        let want = RolePair {
            role_arn: r.into(),
            provider_arn: p.into(),
        };
        assert_eq!(parse_role_pair(&format!("{r},{p}")), Some(want.clone()));
        assert_eq!(parse_role_pair(&format!("{p}, {r}")), Some(want));
        assert_eq!(parse_role_pair(&format!("{r},{r}")), None);
        assert_eq!(parse_role_pair(&format!("{r},{p},{p}")), None);
        assert_eq!(
            parse_role_pair("arn:aws:iam::12345:role/x,arn:aws:iam::12345:saml-provider/y"),
            None
        );
        assert!(parse_role_pair(
            "arn:aws-cn:iam::123456789012:role/path/R,arn:aws-cn:iam::123456789012:saml-provider/P"
        )
        .is_some());
    }

    #[test]
    fn session_names() {
        assert!(valid_role_session_name("alice@example.com"));
        assert!(!valid_role_session_name("a"));
        assert!(!valid_role_session_name("has space"));
        assert!(!valid_role_session_name(&"x".repeat(65)));
    }
}
