//! AssumeRole: temporary credentials for a role, after the role's trust policy and the
//! caller's own policies allow `sts:AssumeRole` (and `sts:TagSession` /
//! `sts:SetSourceIdentity` when tags or a source identity are passed).

use opensts_core::arn::Arn;
use opensts_core::principal::Principal;
use opensts_core::secret::Secret;
use opensts_core::token::{SessionClaims, SessionKind};
use opensts_policy::{PolicyKind, RequestContext};

use crate::actions::sts::session::{
    SessionParams, parse_session_params, parse_source_identity, verify_caller_mfa,
    write_assumed_role_user,
};
use crate::actions::sts::{issue, write_credentials};
use crate::actions::{ActionCtx, Reply};
use crate::auth::Caller;
use crate::authz::{self, LabelledPolicy};
use crate::error::{ApiError, ApiResult};
use crate::iam::model::RoleDoc;
use crate::protocol::xml::Xml;
use crate::protocol::{CharRule, Params, Violations};

pub const MIN_DURATION: i64 = 900;
pub const MAX_DURATION: i64 = 43_200;
pub const DEFAULT_DURATION: i64 = 3_600;
/// Sessions created from role sessions ("role chaining") last at most one hour.
pub const CHAINED_MAX_DURATION: i64 = 3_600;

/// Parse `arn:aws:iam::ACCOUNT:role/PATH/NAME` → (account, path, name).
pub fn parse_role_arn(arn: &str) -> Option<(String, String, String)> {
    let a = Arn::parse(arn).ok()?;
    if a.service != "iam" {
        return None;
    }
    match a.iam_path_and_name()? {
        ("role", path, name) => Some((a.account.clone(), path.to_string(), name.to_string())),
        _ => None,
    }
}

fn not_authorized(caller: &Caller, action: &str, role_arn: &str) -> ApiError {
    ApiError::access_denied(format!(
        "User: {} is not authorized to perform: {action} on resource: {role_arn}",
        caller.principal().arn()
    ))
}

/// The trust-policy context keys of an AssumeRole* request.
pub fn add_request_keys(
    mut ctx: RequestContext,
    role: &RoleDoc,
    session_name: &str,
    params: &SessionParams,
    source_identity: Option<&str>,
) -> RequestContext {
    ctx = ctx.with_role_session_name(session_name);
    for t in &role.tags {
        ctx = ctx.with_resource_tag(&t.key, t.value.clone());
    }
    for t in &params.tags {
        ctx = ctx.with_request_tag(&t.key, t.value.clone());
    }
    if !params.transitive_tag_keys.is_empty() {
        ctx = ctx.with_transitive_tag_keys(params.transitive_tag_keys.clone());
    }
    if let Some(si) = source_identity {
        ctx = ctx.with_sts_source_identity(si);
    }
    ctx
}

pub async fn handle(cx: &ActionCtx<'_>, caller: &Caller, p: &Params) -> ApiResult<Reply> {
    let mut v = Violations::new();
    let role_arn = v.string(p, "RoleArn", true, 20, 2048, Some(CharRule::ArnChars));
    let session_name = v.string(p, "RoleSessionName", true, 2, 64, Some(CharRule::NameChars));
    let duration = v.int(p, "DurationSeconds", false, MIN_DURATION, MAX_DURATION);
    let external_id = v.string(p, "ExternalId", false, 2, 1224, Some(CharRule::ExternalId));
    let serial = v.string(
        p,
        "SerialNumber",
        false,
        9,
        256,
        Some(CharRule::SerialNumber),
    );
    let code = v.string(p, "TokenCode", false, 6, 6, Some(CharRule::Digits));
    v.into_result()?;
    let (Some(role_arn), Some(session_name)) = (role_arn, session_name) else {
        return Err(ApiError::internal());
    };
    if p.struct_list("ProvidedContexts")?
        .is_some_and(|l| !l.is_empty())
    {
        return Err(ApiError::invalid_parameter_value(
            "ProvidedContexts is not supported by this STS",
        ));
    }
    let source_identity = parse_source_identity(p)?;
    let params = parse_session_params(cx, p, usize::MAX, true).await?;

    // Who may call AssumeRole at all (AWS's credential-type table).
    if caller.is_root() {
        return Err(ApiError::access_denied(
            "Roles may not be assumed by root accounts.",
        ));
    }
    let caller_session = caller.session();
    if let Some(s) = caller_session
        && s.kind == SessionKind::FederationToken
    {
        return Err(not_authorized(caller, "sts:AssumeRole", role_arn));
    }

    // Duration. Role chaining caps at one hour whatever the role allows; the role's own
    // MaxSessionDuration is checked after authorization (it must not reveal the role).
    let chained = caller_session.is_some();
    let duration = duration.unwrap_or(DEFAULT_DURATION);
    if chained && duration > CHAINED_MAX_DURATION {
        return Err(ApiError::validation(
            "The requested DurationSeconds exceeds the 1 hour session limit for roles assumed by role chaining.",
        ));
    }

    // MFA supplied with the call (else what the calling session carries).
    let mfa_this_call = verify_caller_mfa(cx, caller, serial, code).await?;
    let mfa_auth_time = mfa_this_call.or_else(|| caller_session.and_then(|s| s.mfa_auth_time));

    // Tags inherited through role chaining.
    let inherited: Vec<(String, String)> = caller_session
        .map(|s| {
            s.tags
                .iter()
                .filter(|(k, _)| {
                    s.transitive_tag_keys
                        .iter()
                        .any(|t| t.eq_ignore_ascii_case(k))
                })
                .cloned()
                .collect()
        })
        .unwrap_or_default();
    for t in &params.tags {
        if inherited
            .iter()
            .any(|(k, _)| k.eq_ignore_ascii_case(&t.key))
        {
            return Err(ApiError::invalid_parameter_value(format!(
                "Cannot override transitive tag {} inherited from the calling session",
                t.key
            )));
        }
    }
    // Source identity is immutable once set.
    let inherited_si = caller_session.and_then(|s| s.source_identity.clone());
    if let (Some(old), Some(new)) = (&inherited_si, &source_identity)
        && old != new
    {
        return Err(ApiError::access_denied(
            "SourceIdentity cannot be changed once set for a session.",
        ));
    }
    let packed = params.packed_size_percent(&inherited)?;

    // The role (a missing role is reported exactly like a denied one).
    let Some((account, _path, role_name)) = parse_role_arn(role_arn) else {
        return Err(ApiError::validation(format!(
            "{role_arn} is invalid: RoleArn must be an IAM role ARN"
        )));
    };
    let Some(role) = authz::role_doc(cx.state, &account, &role_name).await? else {
        return Err(not_authorized(caller, "sts:AssumeRole", role_arn));
    };
    let canonical_arn = role.arn(&account);
    if canonical_arn != role_arn {
        return Err(not_authorized(caller, "sts:AssumeRole", role_arn));
    }

    // Authorization: trust policy (resource policy) + the caller's policies.
    let trust =
        authz::parse_cached(cx.state, &role.assume_role_policy, PolicyKind::Trust).map(|policy| {
            LabelledPolicy {
                id: format!("{canonical_arn}#trust"),
                policy,
            }
        });
    let Some(trust) = trust else {
        return Err(not_authorized(caller, "sts:AssumeRole", role_arn));
    };
    let mut policies = authz::principal_policies(cx.state, caller).await?;
    // RCPs of the role's account (a member's) must not deny; service-linked roles are exempt.
    if !role.path.starts_with(authz::SERVICE_ROLE_PATH) {
        policies.rcps = crate::org::rcp_levels(cx.state, &account, "sts:AssumeRole").await?;
    }
    let mut actions = vec!["sts:AssumeRole"];
    if !params.tags.is_empty() {
        actions.push("sts:TagSession");
    }
    if source_identity.is_some() {
        actions.push("sts:SetSourceIdentity");
    }
    for action in actions {
        let mut ctx = authz::request_context(cx, caller, &policies, action, &canonical_arn)
            .with_resource_account(account.clone());
        ctx = add_request_keys(
            ctx,
            &role,
            session_name,
            &params,
            source_identity.as_deref(),
        );
        if let Some(e) = external_id {
            ctx = ctx.with_external_id(e);
        }
        // A code verified with this very call counts as MFA for the trust policy.
        if mfa_this_call.is_some() {
            ctx = ctx.with_mfa(true, Some(0));
        }
        if let Some(s) = &inherited_si {
            ctx = ctx.with_source_identity(s.clone());
        }
        let mut refs = Vec::new();
        let mut srefs = Vec::new();
        let d = authz::evaluate_for(&policies, Some(&trust), &ctx, &mut refs, &mut srefs);
        if !d.allowed() {
            return Err(not_authorized(caller, action, role_arn));
        }
    }
    if duration > role.max_session_duration {
        return Err(ApiError::validation(
            "The requested DurationSeconds exceeds the MaxSessionDuration set for this role.",
        ));
    }

    // Issue.
    let principal = Principal::AssumedRole {
        account_id: account.clone(),
        role_name: role.name.clone(),
        role_path: role.path.clone(),
        role_id: role.role_id.clone(),
        session_name: session_name.to_string(),
    };
    let assumed_role_id = principal.user_id();
    let arn = principal.arn();
    let mut claims = SessionClaims::new(
        principal,
        Secret::default(),
        SessionKind::AssumedRole,
        cx.now,
        cx.now + duration,
    );
    claims.chained = chained;
    claims.mfa_auth_time = mfa_auth_time;
    claims.source_identity = source_identity.clone().or(inherited_si);
    claims.tags = inherited.clone();
    claims
        .tags
        .extend(params.tags.iter().map(|t| (t.key.clone(), t.value.clone())));
    claims.transitive_tag_keys = caller_session
        .map(|s| s.transitive_tag_keys.clone())
        .unwrap_or_default();
    claims
        .transitive_tag_keys
        .extend(params.transitive_tag_keys.iter().cloned());
    claims.session_policies = params.policy.iter().map(|p| p.to_string()).collect();
    claims.session_policy_arns = params.policy_arns.clone();
    let source_identity = claims.source_identity.clone();
    let creds = issue(cx, claims)?;

    let mut x = Xml::new();
    write_credentials(&mut x, &creds);
    write_assumed_role_user(&mut x, &assumed_role_id, &arn);
    // AWS reports PackedPolicySize only when the request packed something (session policies,
    // session tags or inherited transitive tags).
    if params.has_any() || !inherited.is_empty() {
        x.num("PackedPolicySize", packed);
    }
    x.opt("SourceIdentity", source_identity.as_deref());
    Ok(Some(x.into_string()))
}
