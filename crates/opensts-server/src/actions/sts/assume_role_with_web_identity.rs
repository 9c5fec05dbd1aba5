//! AssumeRoleWithWebIdentity: exchange an OIDC ID token (Kubernetes service-account tokens,
//! GitHub Actions, Keycloak, …) for role credentials. Unsigned. The token's issuer must be an
//! IAM OIDC provider of the role's account; its signature is verified against the issuer's
//! JWKS (discovered over HTTPS and cached by `opensts-oidc`); `aud` must be one of the
//! provider's client ids; the trust policy is evaluated with the provider's condition keys.

use opensts_core::token::SessionKind;
use opensts_oidc::{OidcError, ProviderConfig, peek_issuer};
use opensts_policy::RequestPrincipal;

use crate::actions::sts::assume_role::parse_role_arn;
use crate::actions::sts::federated::{FederatedRequest, assume_federated};
use crate::actions::sts::session::write_assumed_role_user;
use crate::actions::sts::write_credentials;
use crate::actions::{ActionCtx, Reply};
use crate::error::{ApiError, ApiResult};
use crate::iam::model::provider::load_oidc_provider_by_issuer;
use crate::protocol::xml::Xml;
use crate::protocol::{CharRule, Params, Violations};

/// Longest `WebIdentityToken`, as AWS.
pub const MAX_TOKEN_CHARS: usize = 20_000;

fn oidc_error(e: &OidcError) -> ApiError {
    if e.http_status() >= 500 {
        tracing::error!(detail = ?e.detail(), "OIDC verification failed on our side");
        return ApiError::internal();
    }
    let status =
        http::StatusCode::from_u16(e.http_status()).unwrap_or(http::StatusCode::BAD_REQUEST);
    tracing::info!(reason = e.reason_code(), detail = ?e.detail(), "web identity token refused");
    crate::metrics::note_rejection(e.reason_code());
    match e.aws_error_code() {
        "ValidationError" => ApiError::validation(e.message()),
        "ExpiredTokenException" => ApiError::new("ExpiredTokenException", status, e.message()),
        "IDPCommunicationError" => ApiError::new("IDPCommunicationError", status, e.message()),
        _ => ApiError::new("InvalidIdentityToken", status, e.message()),
    }
}

/// At most this much of an unverified `iss` is echoed in a message.
const MAX_ECHOED_ISSUER_CHARS: usize = 256;

/// An untrusted string made safe to echo: printable ASCII only (XML 1.0 cannot carry most
/// control characters even escaped), at most `max` characters.
fn printable(s: &str, max: usize) -> String {
    let mut out: String = s
        .chars()
        .filter(|c| c.is_ascii_graphic() || *c == ' ')
        .take(max)
        .collect();
    if s.chars().count() > max {
        out.push('…');
    }
    out
}

fn invalid_token(msg: impl Into<String>) -> ApiError {
    ApiError::new("InvalidIdentityToken", http::StatusCode::BAD_REQUEST, msg)
}

pub async fn handle(cx: &ActionCtx<'_>, p: &Params) -> ApiResult<Reply> {
    let mut v = Violations::new();
    let role_arn = v.string(p, "RoleArn", true, 20, 2048, Some(CharRule::ArnChars));
    let session_name = v.string(p, "RoleSessionName", true, 2, 64, Some(CharRule::NameChars));
    let token = v.string(p, "WebIdentityToken", true, 4, MAX_TOKEN_CHARS, None);
    let provider_id = v.string(p, "ProviderId", false, 4, 2048, None);
    v.into_result()?;
    let (Some(role_arn), Some(session_name), Some(token)) = (role_arn, session_name, token) else {
        return Err(ApiError::internal());
    };
    if provider_id.is_some() {
        return Err(invalid_token(
            "ProviderId (OAuth 2.0 access tokens of www.amazon.com / graph.facebook.com) is not supported; use an OpenID Connect provider",
        ));
    }
    let Some((account, _, _)) = parse_role_arn(role_arn) else {
        return Err(ApiError::validation(format!(
            "{role_arn} is invalid: RoleArn must be an IAM role ARN"
        )));
    };
    let issuer = peek_issuer(token).map_err(|e| oidc_error(&e))?;
    let no_provider = || {
        invalid_token(format!(
            "No OpenIDConnect provider found in your account for {}",
            printable(&issuer, MAX_ECHOED_ISSUER_CHARS)
        ))
    };
    if !issuer.starts_with("https://") {
        return Err(no_provider());
    }
    let Some(provider) = load_oidc_provider_by_issuer(cx.state, &account, &issuer).await? else {
        return Err(no_provider());
    };
    let config = ProviderConfig::new(provider.issuer(), provider.client_ids.clone())
        .with_thumbprints(provider.thumbprints.clone());
    let verified = cx
        .state
        .jwks
        .verify(token, &config)
        .await
        .map_err(|e| oidc_error(&e))?;
    // `sub` is echoed in SubjectFromWebIdentityToken and the session: XML 1.0 cannot carry
    // control characters, so a token whose subject has any is refused rather than answered
    // with a document no client can parse.
    if verified.subject.chars().any(char::is_control) {
        return Err(invalid_token(
            "Invalid claim sub: must not contain control characters",
        ));
    }
    let tags = verified.session_tags().map_err(|e| oidc_error(&e))?;
    let source_identity = verified.source_identity().map_err(|e| oidc_error(&e))?;
    let provider_arn = provider.arn(&account);
    let keys = verified.condition_keys().into_iter().collect::<Vec<_>>();
    let (tags, transitive) = match tags {
        Some(t) => (t.principal_tags, t.transitive_tag_keys),
        None => (Vec::new(), Vec::new()),
    };
    let session = assume_federated(
        cx,
        p,
        FederatedRequest {
            role_arn,
            session_name: session_name.to_string(),
            action: "sts:AssumeRoleWithWebIdentity",
            principal: RequestPrincipal::web_identity(&provider_arn),
            provider: provider_arn.clone(),
            keys,
            tags,
            transitive_tag_keys: transitive,
            source_identity,
            not_after: None,
            kind: SessionKind::WebIdentity,
            origin: "web identity token",
            one_time: None,
        },
    )
    .await?;

    let mut x = Xml::new();
    write_credentials(&mut x, &session.credentials);
    x.elem("SubjectFromWebIdentityToken", &verified.subject);
    write_assumed_role_user(&mut x, &session.assumed_role_id, &session.arn);
    x.num("PackedPolicySize", session.packed_policy_size)
        .elem("Provider", &provider_arn)
        .elem("Audience", &verified.audience);
    x.opt("SourceIdentity", session.source_identity.as_deref());
    Ok(Some(x.into_string()))
}
