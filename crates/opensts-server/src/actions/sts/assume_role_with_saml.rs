//! AssumeRoleWithSAML: exchange a SAML response signed by a registered IdP for role
//! credentials. Unsigned. The signature is verified by `opensts-saml` against the provider's
//! metadata certificates only; attributes are read only from the signed assertion; each
//! assertion id is accepted once (across nodes, through the store).

use opensts_core::token::SessionKind;
use opensts_policy::RequestPrincipal;
use opensts_saml::{SamlError, VerifyOptions, aws_attributes, condition_keys, name_qualifier};

use crate::actions::sts::federated::{FederatedRequest, OneTimeUse, assume_federated};
use crate::actions::sts::session::write_assumed_role_user;
use crate::actions::sts::write_credentials;
use crate::actions::{ActionCtx, Reply};
use crate::error::{ApiError, ApiResult};
use crate::iam::model::provider::{KIND_SAML_PROVIDER, SamlProviderDoc};
use crate::protocol::xml::Xml;
use crate::protocol::{CharRule, Params, Violations};

/// Longest `SAMLAssertion` (base64 characters), as AWS.
pub const MAX_ASSERTION_CHARS: usize = 100_000;

/// Map a verification failure to STS: `ExpiredTokenException` for time, `IDPRejectedClaim` when
/// the IdP itself reported a failed authentication (Status not Success), `ValidationError` for
/// an unusable stored metadata document, `InvalidIdentityToken` for everything else. The
/// message is AWS's text where it has one, followed by which check failed (never echoing the
/// assertion's content).
fn saml_error(e: &SamlError) -> ApiError {
    tracing::info!(reason = e.reason_code(), detail = %e, "SAML assertion refused");
    crate::metrics::note_rejection(e.reason_code());
    let status = http::StatusCode::BAD_REQUEST;
    let message = saml_message(e);
    if matches!(e, SamlError::StatusNotSuccess(_)) {
        return ApiError::new("IDPRejectedClaim", status, message);
    }
    match e.aws_error_code() {
        "ExpiredTokenException" => ApiError::new("ExpiredTokenException", status, message),
        "ValidationError" => ApiError::validation(message),
        _ => ApiError::new("InvalidIdentityToken", status, message),
    }
}

fn saml_message(e: &SamlError) -> String {
    let why = match e {
        SamlError::InvalidBase64 => "SAMLAssertion is not valid base64",
        SamlError::Dtd => "a DTD or entity declaration is not allowed",
        SamlError::LimitExceeded(_) => {
            "the document exceeds the XML size, depth or attribute limits"
        }
        SamlError::Malformed(_) => {
            "the document is not a well-formed SAML 2.0 Response (not UTF-8, not XML, or a required element or attribute is missing)"
        }
        SamlError::Structure(_) => {
            "the structure is refused (more than one Assertion, duplicate IDs, or a Signature that does not sign exactly its parent element)"
        }
        SamlError::MixedContent(_) => "an identity field contains a comment or markup",
        SamlError::StatusNotSuccess(_) => {
            "the identity provider reported that authentication failed"
        }
        SamlError::EncryptedAssertionUnsupported => "use an unencrypted, signed assertion",
        SamlError::Unsigned => {
            "the response is not signed (neither the Response nor its Assertion carries a signature)"
        }
        SamlError::UntrustedKey => {
            "the signing certificate is not one of the trusted certificates in the SAML provider's metadata"
        }
        SamlError::SignatureInvalid => {
            "the signature does not verify with the trusted certificates in the SAML provider's metadata"
        }
        SamlError::DigestMismatch => {
            "the signed content was modified after signing (digest mismatch)"
        }
        SamlError::UnsupportedAlgorithm(_) => {
            "only RSA-SHA256/384/512 and ECDSA-SHA256/384 with exclusive C14N are accepted"
        }
        SamlError::Expired => "NotOnOrAfter has passed",
        SamlError::NotYetValid => "NotBefore or IssueInstant is in the future",
        SamlError::WrongIssuer => "the Issuer is not the SAML provider's entityID",
        SamlError::WrongAudience => {
            "the AudienceRestriction must name https://signin.aws.amazon.com/saml or urn:amazon:webservices"
        }
        SamlError::WrongRecipient => {
            "the bearer SubjectConfirmationData Recipient (and Response Destination) must be https://signin.aws.amazon.com/saml"
        }
        SamlError::Subject(_) => {
            "a NameID and exactly one bearer SubjectConfirmation with Recipient and NotOnOrAfter are required"
        }
        _ => return e.message(),
    };
    format!("{}: {why}", e.message())
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
    let (Some(role_arn), Some(principal_arn), Some(assertion)) =
        (role_arn, principal_arn, assertion)
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
    let Some((role_account, _, _)) = crate::actions::sts::assume_role::parse_role_arn(role_arn)
    else {
        return Err(ApiError::validation(format!(
            "{role_arn} is invalid: RoleArn must be an IAM role ARN"
        )));
    };
    if role_account != account {
        return Err(invalid_token(
            "The SAML provider must be in the same account as the role",
        ));
    }
    // The provider document and its parsed metadata (certificates), cached with the entity.
    let Some(provider) = cx
        .state
        .entity_derived(&account, KIND_SAML_PROVIDER, &provider_name, |e| {
            let doc: SamlProviderDoc =
                serde_json::from_value(e.doc.clone()).map_err(|_| ApiError::internal())?;
            let metadata = doc.idp_metadata().map_err(|e| saml_error(&e))?;
            Ok((doc, metadata))
        })
        .await?
    else {
        return Err(invalid_token(format!(
            "No SAML provider found in your account for {principal_arn}"
        )));
    };
    let (doc, metadata) = &*provider;
    // Names are case-insensitive in the store; the ARN must name the provider exactly (it is
    // compared with the assertion's Role attribute and goes into NameQualifier).
    if doc.arn(&account) != principal_arn {
        return Err(invalid_token(format!(
            "No SAML provider found in your account for {principal_arn}"
        )));
    }
    if doc.valid_until.is_some_and(|until| until <= cx.now) {
        return Err(invalid_token(
            "The SAML provider's metadata has expired (validUntil has passed); update it with UpdateSAMLProvider",
        ));
    }
    let opts = VerifyOptions::new(metadata);
    let verified =
        opensts_saml::verify_response(assertion, &opts, cx.now).map_err(|e| saml_error(&e))?;
    let attrs = aws_attributes(&verified).map_err(|e| saml_error(&e))?;
    if !attrs.allows(role_arn, principal_arn) {
        return Err(ApiError::access_denied(
            "Not authorized to perform sts:AssumeRoleWithSAML: the assertion's Role attribute does not name this role and provider",
        ));
    }
    // One use per assertion, across every node, until it expires (claimed by
    // `assume_federated` once every other check has passed).
    let one_time = OneTimeUse {
        scope: "saml-assertion",
        id: format!("{account}/{provider_name}/{}", verified.assertion_id),
        expires_at: verified.not_on_or_after + opts.clock_skew_secs,
        issued_at: verified.issue_instant,
        issuer_skew_secs: opts.clock_skew_secs,
        message: "This SAML assertion has already been used",
        uncertain_message: "This SAML assertion was issued before the server recovered from an unclean shutdown of its machine, so its one-time use cannot be checked; sign in to the identity provider again",
    };

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
            kind: SessionKind::Saml,
            origin: "SAML assertion",
            one_time: Some(one_time),
        },
    )
    .await?;

    let mut x = Xml::new();
    write_credentials(&mut x, &session.credentials);
    write_assumed_role_user(&mut x, &session.assumed_role_id, &session.arn);
    x.num("PackedPolicySize", session.packed_policy_size)
        .elem("Subject", &verified.name_id)
        .opt("SubjectType", verified.subject_type().as_deref())
        .elem("Issuer", &verified.issuer)
        .elem("Audience", &verified.recipient)
        .elem("NameQualifier", &qualifier);
    x.opt("SourceIdentity", session.source_identity.as_deref());
    Ok(Some(x.into_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_map_to_sts_codes_and_say_which_check_failed() {
        let cases: &[(SamlError, &str, &str)] = &[
            (SamlError::Unsigned, "InvalidIdentityToken", "not signed"),
            (
                SamlError::UntrustedKey,
                "InvalidIdentityToken",
                "trusted certificates",
            ),
            (
                SamlError::SignatureInvalid,
                "InvalidIdentityToken",
                "does not verify",
            ),
            (
                SamlError::DigestMismatch,
                "InvalidIdentityToken",
                "digest mismatch",
            ),
            (SamlError::InvalidBase64, "InvalidIdentityToken", "base64"),
            (SamlError::Dtd, "InvalidIdentityToken", "DTD"),
            (
                SamlError::Structure("x".into()),
                "InvalidIdentityToken",
                "more than one Assertion",
            ),
            (SamlError::Expired, "ExpiredTokenException", "NotOnOrAfter"),
            (
                SamlError::IssuedTooLongAgo,
                "ExpiredTokenException",
                "5 minutes",
            ),
            (SamlError::WrongAudience, "InvalidIdentityToken", "audience"),
            (
                SamlError::WrongRecipient,
                "InvalidIdentityToken",
                "Recipient",
            ),
            (SamlError::WrongIssuer, "InvalidIdentityToken", "entityID"),
            (
                SamlError::StatusNotSuccess("x".into()),
                "IDPRejectedClaim",
                "authentication failed",
            ),
            (
                SamlError::MissingAttribute("RoleSessionName"),
                "InvalidIdentityToken",
                "RoleSessionName",
            ),
            (
                SamlError::NoSigningCertificate,
                "ValidationError",
                "signing certificate",
            ),
        ];
        for (e, code, part) in cases {
            let api = saml_error(e);
            assert_eq!(api.code, *code, "{e:?}");
            assert_eq!(api.status, http::StatusCode::BAD_REQUEST, "{e:?}");
            assert!(api.message.contains(part), "{e:?}: {}", api.message);
        }
    }
}
