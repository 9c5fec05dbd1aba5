//! AssumeRoleWithSAML: exchange a SAML response signed by a registered IdP for role
//! credentials. Unsigned. The signature is verified by `opensts-saml` against the provider's
//! metadata certificates only; attributes are read only from the signed assertion; each
//! assertion id is accepted once (across nodes, through the store).

use opensts_core::token::SessionKind;
use opensts_policy::RequestPrincipal;
use opensts_saml::{SamlError, VerifyOptions, aws_attributes, condition_keys, name_qualifier};

use crate::actions::sts::federated::{FederatedRequest, assume_federated};
use crate::actions::sts::session::write_assumed_role_user;
use crate::actions::sts::write_credentials;
use crate::actions::{ActionCtx, Reply};
use crate::error::{ApiError, ApiResult};
use crate::iam::model::provider::{KIND_SAML_PROVIDER, SamlProviderDoc};
use crate::protocol::xml::Xml;
use crate::protocol::{CharRule, Params, Violations};

/// Longest `SAMLAssertion` (base64 characters), as AWS.
pub const MAX_ASSERTION_CHARS: usize = 100_000;

fn saml_error(e: &SamlError) -> ApiError {
    let status = http::StatusCode::BAD_REQUEST;
    match e.aws_error_code() {
        "ExpiredTokenException" => ApiError::new("ExpiredTokenException", status, e.message()),
        "ValidationError" => ApiError::validation(e.message()),
        _ => ApiError::new("InvalidIdentityToken", status, e.message()),
    }
}

fn invalid_token(msg: impl Into<String>) -> ApiError {
    ApiError::new("InvalidIdentityToken", http::StatusCode::BAD_REQUEST, msg)
}

pub async fn handle(cx: &ActionCtx<'_>, p: &Params) -> ApiResult<Reply> {
    let mut v = Violations::new();
    let role_arn = v.string(p, "RoleArn", true, 20, 2048, Some(CharRule::ArnChars));
    let principal_arn = v.string(p, "PrincipalArn", true, 20, 2048, Some(CharRule::ArnChars));
    let assertion = v.string(p, "SAMLAssertion", true, 4, MAX_ASSERTION_CHARS, None);
    v.into_result()?;
    let (Some(role_arn), Some(principal_arn), Some(assertion)) = (role_arn, principal_arn, assertion)
    else {
        return Err(ApiError::internal());
    };

    // The provider: arn:aws:iam::ACCOUNT:saml-provider/NAME in the role's account.
    let provider = opensts_core::arn::Arn::parse(principal_arn)
        .ok()
        .and_then(|a| {
            a.resource
                .strip_prefix("saml-provider/")
                .map(|n| (a.account.clone(), n.to_string()))
        });
    let Some((account, provider_name)) = provider else {
        return Err(ApiError::validation(format!(
            "{principal_arn} is not a SAML provider ARN"
        )));
    };
    let role_account = crate::actions::sts::assume_role::parse_role_arn(role_arn).map(|r| r.0);
    if role_account.as_deref() != Some(account.as_str()) {
        return Err(invalid_token(
            "The SAML provider must be in the same account as the role",
        ));
    }
    let doc: SamlProviderDoc = match cx
        .state
        .entity(&account, KIND_SAML_PROVIDER, &provider_name)
        .await?
    {
        Some(e) => serde_json::from_value(e.doc.clone()).map_err(|_| ApiError::internal())?,
        None => {
            return Err(invalid_token(format!(
                "No SAML provider found in your account for {principal_arn}"
            )));
        }
    };
    let metadata = doc.idp_metadata().map_err(|e| saml_error(&e))?;
    let opts = VerifyOptions::new(&metadata);
    let verified =
        opensts_saml::verify_response(assertion, &opts, cx.now).map_err(|e| saml_error(&e))?;
    let attrs = aws_attributes(&verified).map_err(|e| saml_error(&e))?;
    if !attrs.allows(role_arn, principal_arn) {
        return Err(ApiError::access_denied(
            "Not authorized to perform sts:AssumeRoleWithSAML: the assertion's Role attribute does not name this role and provider",
        ));
    }
    // One use per assertion, across every node, until it expires.
    let replay_key = format!("{account}/{provider_name}/{}", verified.assertion_id);
    let expires = verified.not_on_or_after + opts.clock_skew_secs;
    if !cx
        .state
        .store
        .claim_once("saml-assertion", &replay_key, expires, cx.now)
        .await?
    {
        return Err(invalid_token("This SAML assertion has already been used"));
    }

    let keys = condition_keys(&verified, &account, &provider_name)
        .into_iter()
        .collect::<Vec<_>>();
    let qualifier = name_qualifier(&verified.issuer, &account, &provider_name);
    let session = assume_federated(
        cx,
        p,
        FederatedRequest {
            role_arn,
            session_name: attrs.role_session_name.clone(),
            action: "sts:AssumeRoleWithSAML",
            principal: RequestPrincipal::saml(principal_arn),
            provider: principal_arn.to_string(),
            keys,
            tags: attrs.principal_tags.clone(),
            transitive_tag_keys: attrs.transitive_tag_keys.clone(),
            source_identity: attrs.source_identity.clone(),
            not_after: verified.session_not_on_or_after,
            provider_duration: attrs.session_duration.map(i64::from),
            kind: SessionKind::Saml,
        },
    )
    .await?;

    let mut x = Xml::new();
    write_credentials(&mut x, &session.credentials);
    write_assumed_role_user(&mut x, &session.assumed_role_id, &session.arn);
    x.num("PackedPolicySize", session.packed_policy_size)
        .elem("Subject", &verified.name_id)
        .elem("SubjectType", &verified.subject_type().unwrap_or_default())
        .elem("Issuer", &verified.issuer)
        .elem("Audience", &verified.recipient)
        .elem("NameQualifier", &qualifier);
    x.opt("SourceIdentity", session.source_identity.as_deref());
    Ok(Some(x.into_string()))
}
