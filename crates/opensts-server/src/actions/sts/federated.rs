//! What AssumeRoleWithSAML and AssumeRoleWithWebIdentity share once the assertion or token is
//! verified: the role, the duration, session policies and tags, the trust-policy decision for
//! the federated principal, and the session itself.

use opensts_core::principal::Principal;
use opensts_core::secret::Secret;
use opensts_core::token::{SessionClaims, SessionKind};
use opensts_policy::{PolicyKind, PolicyRef, RequestPrincipal};

use crate::actions::ActionCtx;
use crate::actions::sts::assume_role::{DEFAULT_DURATION, MAX_DURATION, MIN_DURATION, parse_role_arn};
use crate::actions::sts::session::{SessionParams, parse_session_params};
use crate::actions::sts::{IssuedCredentials, issue};
use crate::authz;
use crate::error::{ApiError, ApiResult};
use crate::iam::model::Tag;
use crate::protocol::{Params, Violations};

/// Plain-text limit of the inline session policy of the federated AssumeRole* actions.
pub const POLICY_MAX_CHARS: usize = 2048;

/// A verified federated identity asking for a role.
pub struct FederatedRequest<'a> {
    pub role_arn: &'a str,
    pub session_name: String,
    /// `sts:AssumeRoleWithSAML` or `sts:AssumeRoleWithWebIdentity`.
    pub action: &'static str,
    pub principal: RequestPrincipal,
    /// `aws:FederatedProvider` (the provider ARN).
    pub provider: String,
    /// Provider condition keys (`saml:*`, `HOST/PATH:sub`, …).
    pub keys: Vec<(String, Vec<String>)>,
    pub tags: Vec<(String, String)>,
    pub transitive_tag_keys: Vec<String>,
    pub source_identity: Option<String>,
    /// The identity provider's own end of the session (SAML `SessionNotOnOrAfter`).
    pub not_after: Option<i64>,
    /// A session length the provider asks for (SAML `SessionDuration`): it can only shorten.
    pub provider_duration: Option<i64>,
    pub kind: SessionKind,
}

pub struct FederatedSession {
    pub credentials: IssuedCredentials,
    pub assumed_role_id: String,
    pub arn: String,
    pub packed_policy_size: i64,
    pub source_identity: Option<String>,
}

fn not_authorized(action: &str) -> ApiError {
    ApiError::access_denied(format!("Not authorized to perform {action}"))
}

pub async fn assume_federated(
    cx: &ActionCtx<'_>,
    p: &Params,
    req: FederatedRequest<'_>,
) -> ApiResult<FederatedSession> {
    let mut v = Violations::new();
    let duration = v.int(p, "DurationSeconds", false, MIN_DURATION, MAX_DURATION);
    v.into_result()?;
    let mut params: SessionParams = parse_session_params(cx, p, POLICY_MAX_CHARS, false).await?;
    // Tags come from the provider, never from parameters.
    params.tags = req
        .tags
        .iter()
        .map(|(k, v)| Tag {
            key: k.clone(),
            value: v.clone(),
        })
        .collect();
    params.transitive_tag_keys = req.transitive_tag_keys.clone();

    let Some((account, _, role_name)) = parse_role_arn(req.role_arn) else {
        return Err(ApiError::validation(format!(
            "{} is invalid: RoleArn must be an IAM role ARN",
            req.role_arn
        )));
    };
    let Some(role) = authz::role_doc(cx.state, &account, &role_name).await? else {
        return Err(not_authorized(req.action));
    };
    let role_arn = role.arn(&account);
    if role_arn != req.role_arn {
        return Err(not_authorized(req.action));
    }
    let duration = duration.unwrap_or(DEFAULT_DURATION);
    if duration > role.max_session_duration {
        return Err(ApiError::validation(
            "The requested DurationSeconds exceeds the MaxSessionDuration set for this role.",
        ));
    }
    let mut expires = cx.now + duration;
    if let Some(d) = req.provider_duration {
        expires = expires.min(cx.now + d);
    }
    if let Some(end) = req.not_after {
        expires = expires.min(end);
    }
    if expires <= cx.now {
        return Err(ApiError::new(
            "ExpiredTokenException",
            http::StatusCode::BAD_REQUEST,
            "The identity provider's session has already ended",
        ));
    }
    let packed = params.packed_size_percent(&[])?;

    // The trust policy alone decides for a federated principal.
    let Some(trust) = authz::parse_cached(cx.state, &role.assume_role_policy, PolicyKind::Trust)
    else {
        return Err(not_authorized(req.action));
    };
    let trust_id = format!("{role_arn}#trust");
    let mut actions = vec![req.action];
    if !params.tags.is_empty() {
        actions.push("sts:TagSession");
    }
    if req.source_identity.is_some() {
        actions.push("sts:SetSourceIdentity");
    }
    for action in actions {
        let mut ctx = authz::base_context(cx, req.principal.clone(), action, &role_arn)
            .with_resource_account(account.clone())
            .with_federated_provider(req.provider.clone());
        ctx = crate::actions::sts::assume_role::add_request_keys(
            ctx,
            &role,
            &req.session_name,
            &params,
            req.source_identity.as_deref(),
        );
        for (k, vals) in &req.keys {
            ctx = ctx.with_values(k.clone(), vals.clone());
        }
        let input = opensts_policy::EvaluationInput {
            resource: Some(PolicyRef::new(&trust_id, &trust)),
            ..Default::default()
        };
        if !opensts_policy::evaluate(&input, &ctx).allowed() {
            return Err(not_authorized(action));
        }
    }

    let principal = Principal::AssumedRole {
        account_id: account.clone(),
        role_name: role.name.clone(),
        role_path: role.path.clone(),
        role_id: role.role_id.clone(),
        session_name: req.session_name.clone(),
    };
    let assumed_role_id = principal.user_id();
    let arn = principal.arn();
    let mut claims = SessionClaims::new(principal, Secret::default(), req.kind, cx.now, expires);
    claims.federated_provider = Some(req.provider.clone());
    claims.source_identity = req.source_identity.clone();
    claims.tags = req.tags.clone();
    claims.transitive_tag_keys = req.transitive_tag_keys.clone();
    claims.session_policies = params.policy.iter().cloned().collect();
    claims.session_policy_arns = params.policy_arns.clone();
    let credentials = issue(cx, claims)?;
    Ok(FederatedSession {
        credentials,
        assumed_role_id,
        arn,
        packed_policy_size: packed,
        source_identity: req.source_identity,
    })
}
