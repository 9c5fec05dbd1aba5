//! SAML and OpenID Connect identity providers.
//!
//! SAML providers are keyed by name; their metadata is validated with `opensts-saml` and the
//! entity id and signing certificates are kept next to the document for AssumeRoleWithSAML.
//! OIDC providers are keyed by their URL without `https://` (see
//! [`crate::iam::model::provider`]).

pub mod add_client_id_to_open_id_connect_provider;
pub mod create_open_id_connect_provider;
pub mod create_saml_provider;
pub mod delete_open_id_connect_provider;
pub mod delete_saml_provider;
pub mod get_open_id_connect_provider;
pub mod get_saml_provider;
pub mod list_open_id_connect_provider_tags;
pub mod list_open_id_connect_providers;
pub mod list_saml_provider_tags;
pub mod list_saml_providers;
pub mod remove_client_id_from_open_id_connect_provider;
pub mod tag_open_id_connect_provider;
pub mod tag_saml_provider;
pub mod untag_open_id_connect_provider;
pub mod untag_saml_provider;
pub mod update_open_id_connect_provider_thumbprint;
pub mod update_saml_provider;

use opensts_saml::IdpMetadata;

use crate::actions::iam::{authorize, decode_entity};
use crate::actions::{ActionCtx, ActionSpec, Reply, signed};
use crate::auth::Caller;
use crate::error::{ApiError, ApiResult};
use crate::iam::model::{KIND_OIDC_PROVIDER, KIND_SAML_PROVIDER, OidcProviderDoc, SamlProviderDoc};
use crate::protocol::{Api, Params, Violations};

pub static ACTIONS: &[ActionSpec] = &[
    signed(Api::Iam, "AddClientIDToOpenIDConnectProvider"),
    signed(Api::Iam, "CreateOpenIDConnectProvider"),
    signed(Api::Iam, "CreateSAMLProvider"),
    signed(Api::Iam, "DeleteOpenIDConnectProvider"),
    signed(Api::Iam, "DeleteSAMLProvider"),
    signed(Api::Iam, "GetOpenIDConnectProvider"),
    signed(Api::Iam, "GetSAMLProvider"),
    signed(Api::Iam, "ListOpenIDConnectProviderTags"),
    signed(Api::Iam, "ListOpenIDConnectProviders"),
    signed(Api::Iam, "ListSAMLProviderTags"),
    signed(Api::Iam, "ListSAMLProviders"),
    signed(Api::Iam, "RemoveClientIDFromOpenIDConnectProvider"),
    signed(Api::Iam, "TagOpenIDConnectProvider"),
    signed(Api::Iam, "TagSAMLProvider"),
    signed(Api::Iam, "UntagOpenIDConnectProvider"),
    signed(Api::Iam, "UntagSAMLProvider"),
    signed(Api::Iam, "UpdateOpenIDConnectProviderThumbprint"),
    signed(Api::Iam, "UpdateSAMLProvider"),
];

/// Run one of this family's actions; `None` if the name is not one of them.
pub async fn run(
    name: &str,
    cx: &ActionCtx<'_>,
    caller: &Caller,
    p: &Params,
) -> Option<ApiResult<Reply>> {
    Some(match name {
        "AddClientIDToOpenIDConnectProvider" => {
            add_client_id_to_open_id_connect_provider::handle(cx, caller, p).await
        }
        "CreateOpenIDConnectProvider" => {
            create_open_id_connect_provider::handle(cx, caller, p).await
        }
        "CreateSAMLProvider" => create_saml_provider::handle(cx, caller, p).await,
        "DeleteOpenIDConnectProvider" => {
            delete_open_id_connect_provider::handle(cx, caller, p).await
        }
        "DeleteSAMLProvider" => delete_saml_provider::handle(cx, caller, p).await,
        "GetOpenIDConnectProvider" => get_open_id_connect_provider::handle(cx, caller, p).await,
        "GetSAMLProvider" => get_saml_provider::handle(cx, caller, p).await,
        "ListOpenIDConnectProviderTags" => {
            list_open_id_connect_provider_tags::handle(cx, caller, p).await
        }
        "ListOpenIDConnectProviders" => list_open_id_connect_providers::handle(cx, caller, p).await,
        "ListSAMLProviderTags" => list_saml_provider_tags::handle(cx, caller, p).await,
        "ListSAMLProviders" => list_saml_providers::handle(cx, caller, p).await,
        "RemoveClientIDFromOpenIDConnectProvider" => {
            remove_client_id_from_open_id_connect_provider::handle(cx, caller, p).await
        }
        "TagOpenIDConnectProvider" => tag_open_id_connect_provider::handle(cx, caller, p).await,
        "TagSAMLProvider" => tag_saml_provider::handle(cx, caller, p).await,
        "UntagOpenIDConnectProvider" => untag_open_id_connect_provider::handle(cx, caller, p).await,
        "UntagSAMLProvider" => untag_saml_provider::handle(cx, caller, p).await,
        "UpdateOpenIDConnectProviderThumbprint" => {
            update_open_id_connect_provider_thumbprint::handle(cx, caller, p).await
        }
        "UpdateSAMLProvider" => update_saml_provider::handle(cx, caller, p).await,
        _ => return None,
    })
}

/// Most SAML providers, and most OIDC providers, in one account (AWS's quotas).
pub const MAX_PROVIDERS_PER_ACCOUNT: usize = 100;
/// Most client ids of one OIDC provider.
pub const MAX_CLIENT_IDS: usize = 100;
/// Most thumbprints of one OIDC provider.
pub const MAX_THUMBPRINTS: usize = 5;

// ---- SAML ----

/// `Name` of CreateSAMLProvider: 1–128 of `[\w._-]`.
pub fn saml_provider_name<'a>(v: &mut Violations, p: &'a Params) -> Option<&'a str> {
    let name = v.string(p, "Name", true, 1, 128, None)?;
    if name
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c))
    {
        Some(name)
    } else {
        v.add(
            Some(name),
            "Name",
            "Member must satisfy regular expression pattern: [\\w._-]+",
        );
        None
    }
}

/// `SAMLMetadataDocument`: 1000–10,000,000 characters.
pub fn saml_metadata_param<'a>(
    v: &mut Violations,
    p: &'a Params,
    required: bool,
) -> Option<&'a str> {
    v.string(
        p,
        "SAMLMetadataDocument",
        required,
        opensts_saml::MIN_METADATA_LEN,
        opensts_saml::MAX_METADATA_LEN,
        None,
    )
}

/// Parse and check IdP metadata: `InvalidInput` with the reason when it is not usable.
pub fn parse_saml_metadata(xml: &str) -> ApiResult<IdpMetadata> {
    IdpMetadata::parse(xml).map_err(|e| {
        ApiError::invalid_input(format!("Could not parse metadata: {}: {e}", e.message()))
    })
}

/// Options of the SAML assertion encryption feature, which OpenSTS does not support
/// (`opensts-saml` refuses encrypted assertions): refused with `InvalidInput`.
pub fn refuse_saml_encryption_options(p: &Params) -> ApiResult<()> {
    if p.get("AddPrivateKey").is_some() || p.get("RemovePrivateKey").is_some() {
        return Err(ApiError::invalid_input(
            "SAML assertion encryption (private keys) is not supported by OpenSTS.",
        ));
    }
    match p.get("AssertionEncryptionMode") {
        None | Some("Allowed") => Ok(()),
        Some("Required") => Err(ApiError::invalid_input(
            "AssertionEncryptionMode Required is not supported by OpenSTS.",
        )),
        Some(other) => {
            let mut v = Violations::new();
            v.add(
                Some(other),
                "AssertionEncryptionMode",
                "Member must satisfy enum value set: [Required, Allowed]",
            );
            v.into_result()
        }
    }
}

/// `SAMLProviderArn`: 20–2048 characters.
pub fn saml_arn_param<'a>(v: &mut Violations, p: &'a Params) -> Option<&'a str> {
    v.string(p, "SAMLProviderArn", true, 20, 2048, None)
}

pub fn no_such_saml_provider(arn: &str) -> ApiError {
    ApiError::no_such_entity(format!("Manifest not found for arn {arn}"))
}

/// The provider name in a SAML provider ARN of this account. `InvalidInput` if the string is
/// not a SAML provider ARN; `NoSuchEntity` if it names another account.
pub fn saml_name_from_arn(account: &str, arn: &str) -> ApiResult<String> {
    let (acct, name) = provider_arn_parts(arn, "saml-provider")
        .ok_or_else(|| ApiError::invalid_input(format!("ARN {arn} is not valid.")))?;
    if acct != account {
        return Err(no_such_saml_provider(arn));
    }
    Ok(name.to_string())
}

/// `(account, resource)` of `arn:aws:iam::<account>:<kind>/<resource>`.
fn provider_arn_parts<'a>(arn: &'a str, kind: &str) -> Option<(&'a str, &'a str)> {
    let rest = arn.strip_prefix("arn:")?;
    let rest = rest.strip_prefix(opensts_core::arn::PARTITION)?;
    let rest = rest.strip_prefix(":iam::")?;
    let (acct, rest) = rest.split_once(':')?;
    let resource = rest.strip_prefix(kind)?.strip_prefix('/')?;
    if !opensts_core::ids::is_valid_account_id(acct) || resource.is_empty() {
        return None;
    }
    Some((acct, resource))
}

/// Authorize the call on `arn` (before anything about the provider is revealed), then read
/// the SAML provider it names. Returns the document and its store version.
pub async fn load_saml(
    cx: &ActionCtx<'_>,
    caller: &Caller,
    arn: &str,
) -> ApiResult<(SamlProviderDoc, i64)> {
    authorize(cx, caller, arn).await?;
    let account = caller.account_id();
    let name = saml_name_from_arn(account, arn)?;
    let Some(e) = cx
        .state
        .store
        .get_entity(account, KIND_SAML_PROVIDER, &name)
        .await?
    else {
        return Err(no_such_saml_provider(arn));
    };
    Ok((decode_entity(&e)?, e.version))
}

// ---- OpenID Connect ----

/// `OpenIDConnectProviderArn`: 20–2048 characters.
pub fn oidc_arn_param<'a>(v: &mut Violations, p: &'a Params) -> Option<&'a str> {
    v.string(p, "OpenIDConnectProviderArn", true, 20, 2048, None)
}

pub fn no_such_oidc_provider(arn: &str) -> ApiError {
    ApiError::no_such_entity(format!("OpenIDConnect Provider not found for arn {arn}"))
}

/// The store key (URL without `https://`) in an OIDC provider ARN of this account.
pub fn oidc_key_from_arn(account: &str, arn: &str) -> ApiResult<String> {
    let (acct, key) = provider_arn_parts(arn, "oidc-provider")
        .ok_or_else(|| ApiError::invalid_input(format!("ARN {arn} is not valid.")))?;
    if acct != account {
        return Err(no_such_oidc_provider(arn));
    }
    Ok(key.to_string())
}

/// Authorize the call on `arn`, then read the OIDC provider it names. Returns the document
/// and its store key.
pub async fn load_oidc(
    cx: &ActionCtx<'_>,
    caller: &Caller,
    arn: &str,
) -> ApiResult<(OidcProviderDoc, String)> {
    authorize(cx, caller, arn).await?;
    let account = caller.account_id();
    let key = oidc_key_from_arn(account, arn)?;
    let Some(e) = cx
        .state
        .store
        .get_entity(account, KIND_OIDC_PROVIDER, &key)
        .await?
    else {
        return Err(no_such_oidc_provider(arn));
    };
    Ok((decode_entity(&e)?, key))
}

/// Authorize on `arn`, then read-modify-write the OIDC provider it names.
pub async fn modify_oidc(
    cx: &ActionCtx<'_>,
    caller: &Caller,
    arn: &str,
    change: impl FnMut(&mut OidcProviderDoc) -> ApiResult<()>,
) -> ApiResult<OidcProviderDoc> {
    authorize(cx, caller, arn).await?;
    let account = caller.account_id();
    let key = oidc_key_from_arn(account, arn)?;
    crate::actions::iam::modify_entity(
        cx,
        account,
        KIND_OIDC_PROVIDER,
        &key,
        || no_such_oidc_provider(arn),
        change,
    )
    .await
}

/// Authorize on `arn`, then read-modify-write the SAML provider it names.
pub async fn modify_saml(
    cx: &ActionCtx<'_>,
    caller: &Caller,
    arn: &str,
    change: impl FnMut(&mut SamlProviderDoc) -> ApiResult<()>,
) -> ApiResult<SamlProviderDoc> {
    authorize(cx, caller, arn).await?;
    let account = caller.account_id();
    let name = saml_name_from_arn(account, arn)?;
    crate::actions::iam::modify_entity(
        cx,
        account,
        KIND_SAML_PROVIDER,
        &name,
        || no_such_saml_provider(arn),
        change,
    )
    .await
}

fn invalid_oidc_url() -> ApiError {
    ApiError::invalid_input("Invalid Open ID Connect Provider URL.")
}

/// Check an OIDC provider `Url` as IAM does and return its key (the URL without
/// `https://`): an `https://` URL with a host name and an optional path; no user info, query
/// or fragment. Unlike AWS, an explicit port (`https://idp.internal:8443/realms/x`) is
/// accepted: self-hosted IdPs often listen on one, and the token's `iss` then carries it too.
pub fn oidc_url_key(url: &str) -> ApiResult<String> {
    let Some((scheme, rest)) = url.split_once("://") else {
        return Err(ApiError::validation("Invalid Open ID Connect Provider URL"));
    };
    if scheme != "https" {
        return Err(ApiError::invalid_input(
            "Invalid Open ID Connect Provider URL. The URL must begin with https://.",
        ));
    }
    let (host, path) = match rest.find('/') {
        Some(i) => rest.split_at(i),
        None => (rest, ""),
    };
    if host.is_empty() {
        return Err(ApiError::validation("Invalid Open ID Connect Provider URL"));
    }
    let host = match host.rsplit_once(':') {
        Some((name, port)) => {
            let port_ok = !port.is_empty()
                && port.len() <= 5
                && port.bytes().all(|b| b.is_ascii_digit())
                && port.parse::<u32>().is_ok_and(|p| (1..=65535).contains(&p));
            if !port_ok {
                return Err(invalid_oidc_url());
            }
            name
        }
        None => host,
    };
    let host_ok = host
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '-')
        && !host.starts_with(['.', '-'])
        && !host.ends_with(['.', '-'])
        && !host.contains("..");
    let path_ok = path
        .chars()
        .all(|c| c.is_ascii_graphic() && !matches!(c, '?' | '#' | '\\'));
    if !host_ok || !path_ok || path.contains("//") {
        return Err(invalid_oidc_url());
    }
    Ok(rest.to_string())
}

/// `ClientIDList` / `ClientID` members: 1–255 characters each. Duplicates are dropped.
pub fn check_client_ids(v: &mut Violations, member: &str, ids: &[String]) -> Vec<String> {
    let mut out: Vec<String> = Vec::with_capacity(ids.len());
    for id in ids {
        let n = id.chars().count();
        if n == 0 || n > 255 {
            v.add(
                Some(id),
                member,
                "Member must have length less than or equal to 255, Member must have length greater than or equal to 1",
            );
        } else if !out.contains(id) {
            out.push(id.clone());
        }
    }
    out
}

/// `ThumbprintList`: at most 5 of exactly 40 hexadecimal characters; stored lower-case,
/// duplicates dropped.
pub fn check_thumbprints(list: &[String]) -> ApiResult<Vec<String>> {
    let mut v = Violations::new();
    for t in list {
        if t.chars().count() != 40 {
            v.add(
                Some(t),
                "ThumbprintList.member",
                "Member must have length less than or equal to 40, Member must have length greater than or equal to 40",
            );
        }
    }
    v.into_result()?;
    if list.len() > MAX_THUMBPRINTS {
        return Err(ApiError::invalid_input(
            "Thumbprint list must contain fewer than 5 entries.",
        ));
    }
    let mut out: Vec<String> = Vec::with_capacity(list.len());
    for t in list {
        if !t.chars().all(|c| c.is_ascii_hexdigit()) {
            return Err(ApiError::invalid_input(format!(
                "Thumbprint {t} is not a 40-character hexadecimal SHA-1 fingerprint."
            )));
        }
        let t = t.to_ascii_lowercase();
        if !out.contains(&t) {
            out.push(t);
        }
    }
    Ok(out)
}

pub fn client_id_limit() -> ApiError {
    ApiError::limit_exceeded(format!(
        "Cannot exceed quota for ClientIdsPerOpenIdConnectProvider: {MAX_CLIENT_IDS}"
    ))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    #[test]
    fn oidc_urls() {
        assert_eq!(oidc_url_key("https://example.com").unwrap(), "example.com");
        assert_eq!(
            oidc_url_key("https://token.actions.githubusercontent.com").unwrap(),
            "token.actions.githubusercontent.com"
        );
        assert_eq!(
            oidc_url_key("https://example.com/tenant/v2.0").unwrap(),
            "example.com/tenant/v2.0"
        );
        assert_eq!(
            oidc_url_key("https://example.com/").unwrap(),
            "example.com/"
        );
        let code = |u: &str| oidc_url_key(u).unwrap_err().code;
        assert_eq!(code("example.com"), "ValidationError");
        assert_eq!(code("https://"), "ValidationError");
        assert_eq!(code("http://example.com"), "InvalidInput");
        assert_eq!(code("https://example.com?x=1"), "InvalidInput");
        assert_eq!(code("https://example.com/a?x=1"), "InvalidInput");
        assert_eq!(code("https://example.com#f"), "InvalidInput");
        assert_eq!(code("https://u:p@example.com"), "InvalidInput");
        assert_eq!(
            oidc_url_key("https://example.com:8443/realms/x").unwrap(),
            "example.com:8443/realms/x"
        );
        assert_eq!(code("https://example.com:0"), "InvalidInput");
        assert_eq!(code("https://example.com:99999"), "InvalidInput");
        assert_eq!(code("https://example.com:"), "InvalidInput");
        assert_eq!(code("https://exa_mple.com"), "InvalidInput");
        assert_eq!(code("https://example.com/a b"), "InvalidInput");
    }

    #[test]
    fn arns() {
        let a = "123456789012";
        assert_eq!(
            saml_name_from_arn(a, "arn:aws:iam::123456789012:saml-provider/My_IdP").unwrap(),
            "My_IdP"
        );
        assert_eq!(
            saml_name_from_arn(a, "arn:aws:iam::210987654321:saml-provider/x")
                .unwrap_err()
                .code,
            "NoSuchEntity"
        );
        assert_eq!(
            saml_name_from_arn(a, "arn:aws:iam::123456789012:oidc-provider/x")
                .unwrap_err()
                .code,
            "InvalidInput"
        );
        assert_eq!(
            oidc_key_from_arn(a, "arn:aws:iam::123456789012:oidc-provider/example.com/p").unwrap(),
            "example.com/p"
        );
    }

    #[test]
    fn thumbprints_and_client_ids() {
        let t = "A".repeat(40);
        assert_eq!(
            check_thumbprints(&[t.clone(), t]).unwrap(),
            vec!["a".repeat(40)]
        );
        assert_eq!(
            check_thumbprints(&["z".repeat(40)]).unwrap_err().code,
            "InvalidInput"
        );
        assert_eq!(
            check_thumbprints(&["a".repeat(39)]).unwrap_err().code,
            "ValidationError"
        );
        let six: Vec<String> = (0..6).map(|i| format!("{i}").repeat(40)).collect();
        assert_eq!(check_thumbprints(&six).unwrap_err().code, "InvalidInput");
        let mut v = Violations::new();
        let ids = check_client_ids(
            &mut v,
            "ClientIDList.member",
            &["a".into(), "a".into(), "b".into()],
        );
        assert!(v.is_empty());
        assert_eq!(ids, vec!["a".to_string(), "b".to_string()]);
    }
}
