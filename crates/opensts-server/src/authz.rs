//! Authorization: gather the caller's policies (identity, boundary, session), build the request
//! context with the global condition keys, and ask the policy engine. Every IAM and STS
//! permission check goes through [`authorize`] (or [`evaluate_for`] when the caller needs the
//! decision itself, e.g. AssumeRole with its trust policy).

use std::sync::Arc;

use opensts_core::principal::Principal;
use opensts_core::token::SessionKind;
use opensts_policy::{
    Decision, EvaluationInput, IdentityAttachment, Policy, PolicyKind, PolicyRef, Reason,
    RequestContext, RequestPrincipal, evaluate,
};

use crate::actions::ActionCtx;
use crate::auth::Caller;
use crate::error::{ApiError, ApiResult};
use crate::iam::model::{GroupDoc, KIND_GROUP, KIND_POLICY, KIND_ROLE, PolicyDoc, RoleDoc};
use crate::state::AppState;

/// A parsed policy with the id it is reported under (its ARN, or `ENTITY#inline-name`).
#[derive(Clone)]
pub struct LabelledPolicy {
    pub id: String,
    pub policy: Arc<Policy>,
}

/// Everything that limits what a principal may do.
#[derive(Default, Clone)]
pub struct PrincipalPolicies {
    pub identity: Vec<LabelledPolicy>,
    pub boundary: Option<LabelledPolicy>,
    /// `Some` when the session carries session policies.
    pub session: Option<Vec<LabelledPolicy>>,
    /// The session's `GetScopedCredentials` scope-down layers, oldest first; each must allow.
    pub scope_layers: Vec<LabelledPolicy>,
    pub federated_user: bool,
    /// Tags of the principal (user or role tags, overridden by session tags).
    pub principal_tags: Vec<(String, String)>,
    /// SCPs of the principal's account per organization level (empty: none apply).
    pub scps: Vec<Vec<LabelledPolicy>>,
    /// RCPs of the resource's account per level; set by the caller that knows the resource.
    pub rcps: Vec<Vec<LabelledPolicy>>,
}

/// The request principal as the policy engine sees it.
pub fn request_principal(p: &Principal) -> RequestPrincipal {
    match p {
        Principal::Root { account_id } => RequestPrincipal::root("aws", account_id),
        Principal::User { user_id, .. } => RequestPrincipal::user(&p.arn(), user_id),
        Principal::AssumedRole { role_id, .. } => {
            RequestPrincipal::assumed_role(&p.arn(), &p.role_arn().unwrap_or_default(), role_id)
        }
        Principal::FederatedUser { account_id, .. } => {
            RequestPrincipal::federated_user(&p.arn(), &opensts_core::arn::root_arn(account_id))
        }
    }
}

fn datetime(unix: i64) -> time::OffsetDateTime {
    time::OffsetDateTime::from_unix_timestamp(unix).unwrap_or(time::OffsetDateTime::UNIX_EPOCH)
}

/// A request context with the global keys every request carries, for any principal
/// (including the web-identity and SAML principals of unsigned calls).
pub fn base_context(
    cx: &ActionCtx<'_>,
    principal: RequestPrincipal,
    action: &str,
    resource: &str,
) -> RequestContext {
    let mut ctx = RequestContext::new(action, resource)
        .with_principal(principal)
        .with_current_time(datetime(cx.now))
        .with_source_ip(cx.source_ip)
        .with_secure_transport(cx.secure_transport)
        .with_key("aws:RequestedRegion", cx.state.config.region.clone());
    if !cx.user_agent.is_empty() {
        ctx = ctx.with_key("aws:UserAgent", cx.user_agent.to_string());
    }
    ctx
}

/// A request context for a signed caller: the global keys plus its tags and session facts.
pub fn request_context(
    cx: &ActionCtx<'_>,
    caller: &Caller,
    policies: &PrincipalPolicies,
    action: &str,
    resource: &str,
) -> RequestContext {
    let mut ctx = base_context(cx, request_principal(caller.principal()), action, resource)
        // Every account is in the organization (crate::org).
        .with_key(
            "aws:PrincipalOrgID",
            crate::org::org_id(crate::org::management_account(cx.state)),
        );
    for (k, v) in &policies.principal_tags {
        ctx = ctx.with_principal_tag(k, v.clone());
    }
    if let Some(s) = caller.session() {
        let age = s
            .mfa_auth_time
            .map(|t| u64::try_from(cx.now - t).unwrap_or(0));
        ctx = ctx
            .with_mfa(s.mfa_auth_time.is_some(), age)
            .with_token_issue_time(datetime(s.iat));
        if let Some(si) = &s.source_identity {
            ctx = ctx.with_source_identity(si.clone());
        }
        if let Some(fp) = &s.federated_provider {
            ctx = ctx.with_federated_provider(fp.clone());
        }
    }
    ctx
}

/// Parse a policy, memoised by (kind, text): the same document is parsed once per process.
pub fn parse_cached(state: &AppState, doc: &str, kind: PolicyKind) -> Option<Arc<Policy>> {
    parse_cached_with(state, doc, kind, false)
}

/// A policy that only limits (a session policy or scope-down layer carried by a session token,
/// an SCP or RCP), parsed; one that no longer parses (it was valid when it was stored) is
/// replaced by a policy that denies everything, so that it narrows rather than silently
/// disappearing.
pub fn parse_or_deny_all(state: &AppState, doc: &str, kind: PolicyKind) -> ApiResult<Arc<Policy>> {
    const DENY_ALL: &str = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Deny","Principal":"*","Action":"*","Resource":"*"}]}"#;
    const DENY_ALL_NO_PRINCIPAL: &str =
        r#"{"Version":"2012-10-17","Statement":[{"Effect":"Deny","Action":"*","Resource":"*"}]}"#;
    parse_cached(state, doc, kind)
        .or_else(|| parse_cached(state, DENY_ALL_NO_PRINCIPAL, kind))
        .or_else(|| parse_cached(state, DENY_ALL, kind))
        .ok_or_else(ApiError::internal)
}

/// [`parse_cached`]; `unlimited` skips the size limit (AWS managed documents such as
/// ReadOnlyAccess are far larger than customer policies may be).
fn parse_cached_with(
    state: &AppState,
    doc: &str,
    kind: PolicyKind,
    unlimited: bool,
) -> Option<Arc<Policy>> {
    let key = format!("{kind:?}\u{0}{unlimited}\u{0}{doc}");
    if let Some(p) = state.cache.policy(&key) {
        return Some(p);
    }
    // Session policies were size-checked when the session was issued (AssumeRole's inline
    // policy is bounded by the packed budget, not by a character limit).
    let options = opensts_policy::ParseOptions {
        size_limit: if unlimited || kind == PolicyKind::Session {
            opensts_policy::SizeLimit::Unlimited
        } else {
            opensts_policy::SizeLimit::Default
        },
    };
    match Policy::parse_with(doc, kind, &options) {
        Ok(p) => {
            let p = Arc::new(p);
            state.cache.insert_policy(key, p.clone());
            Some(p)
        }
        Err(e) => {
            // A stored policy that no longer parses grants nothing (deny by default).
            tracing::warn!(error = %e.message(), "stored policy does not parse; ignored");
            None
        }
    }
}

/// The default-version document of a managed policy ARN (AWS managed or customer managed).
pub async fn managed_policy_document(state: &AppState, arn: &str) -> ApiResult<Option<String>> {
    if let Some(p) = crate::iam::aws_managed::get(arn) {
        return Ok(Some(p.document.to_string()));
    }
    let Ok(parsed) = opensts_core::arn::Arn::parse(arn) else {
        return Ok(None);
    };
    let Some(("policy", path, name)) = parsed.iam_path_and_name() else {
        return Ok(None);
    };
    let Some(e) = state.entity(&parsed.account, KIND_POLICY, name).await? else {
        return Ok(None);
    };
    let doc: PolicyDoc = serde_json::from_value(e.doc.clone()).map_err(|_| ApiError::internal())?;
    if doc.path != path {
        return Ok(None);
    }
    Ok(doc.default_document().map(str::to_string))
}

async fn add_managed(
    state: &AppState,
    out: &mut Vec<LabelledPolicy>,
    arns: &[String],
    kind: PolicyKind,
) -> ApiResult<()> {
    for arn in arns {
        let aws = crate::iam::aws_managed::is_aws_managed_arn(arn);
        if let Some(doc) = managed_policy_document(state, arn).await?
            && let Some(p) = parse_cached_with(state, &doc, kind, aws)
        {
            out.push(LabelledPolicy {
                id: arn.clone(),
                policy: p,
            });
        }
    }
    Ok(())
}

fn add_inline<'a>(
    state: &AppState,
    out: &mut Vec<LabelledPolicy>,
    owner_arn: &str,
    inline: impl Iterator<Item = (&'a String, &'a String)>,
    kind: PolicyKind,
) {
    for (name, doc) in inline {
        if let Some(p) = parse_cached(state, doc, kind) {
            out.push(LabelledPolicy {
                id: format!("{owner_arn}#{name}"),
                policy: p,
            });
        }
    }
}

async fn boundary(state: &AppState, arn: Option<&String>) -> ApiResult<Option<LabelledPolicy>> {
    let Some(arn) = arn else { return Ok(None) };
    // A boundary that cannot be resolved any more allows nothing.
    let aws = crate::iam::aws_managed::is_aws_managed_arn(arn);
    let policy = match managed_policy_document(state, arn).await? {
        Some(doc) => parse_cached_with(state, &doc, PolicyKind::Boundary, aws),
        None => None,
    };
    let policy = match policy {
        Some(p) => p,
        None => Arc::new(
            Policy::parse(
                r#"{"Version":"2012-10-17","Statement":[{"Effect":"Deny","Action":"*","Resource":"*"}]}"#,
                PolicyKind::Boundary,
            )
            .map_err(|_| ApiError::internal())?,
        ),
    };
    Ok(Some(LabelledPolicy {
        id: arn.clone(),
        policy,
    }))
}

/// The identity policies and boundary of an IAM user (its own and its groups').
async fn user_policies(
    state: &AppState,
    account: &str,
    name: &str,
    out: &mut PrincipalPolicies,
) -> ApiResult<()> {
    let Some(user) = state.get_user_doc(account, name).await? else {
        return Ok(());
    };
    let arn = user.arn(account);
    add_inline(
        state,
        &mut out.identity,
        &arn,
        user.inline_policies.iter(),
        PolicyKind::Identity(IdentityAttachment::UserInline),
    );
    add_managed(
        state,
        &mut out.identity,
        &user.attached_policies,
        PolicyKind::Identity(IdentityAttachment::Managed),
    )
    .await?;
    for g in &user.groups {
        let Some(e) = state.entity(account, KIND_GROUP, g).await? else {
            continue;
        };
        let group: GroupDoc =
            serde_json::from_value(e.doc.clone()).map_err(|_| ApiError::internal())?;
        group_policies(state, account, &group, &mut out.identity).await?;
    }
    out.boundary = boundary(state, user.permissions_boundary.as_ref()).await?;
    out.principal_tags = user
        .tags
        .iter()
        .map(|t| (t.key.clone(), t.value.clone()))
        .collect();
    Ok(())
}

/// The identity policies of a group (inline and attached), appended to `out`.
pub async fn group_policies(
    state: &AppState,
    account: &str,
    group: &GroupDoc,
    out: &mut Vec<LabelledPolicy>,
) -> ApiResult<()> {
    add_inline(
        state,
        out,
        &group.arn(account),
        group.inline_policies.iter(),
        PolicyKind::Identity(IdentityAttachment::GroupInline),
    );
    add_managed(
        state,
        out,
        &group.attached_policies,
        PolicyKind::Identity(IdentityAttachment::Managed),
    )
    .await
}

/// Load a role document (cached).
pub async fn role_doc(state: &AppState, account: &str, name: &str) -> ApiResult<Option<RoleDoc>> {
    let Some(e) = state.entity(account, KIND_ROLE, name).await? else {
        return Ok(None);
    };
    let doc: RoleDoc = serde_json::from_value(e.doc.clone()).map_err(|_| ApiError::internal())?;
    Ok(Some(doc))
}

/// The identity policies and boundary of a role (for its sessions).
pub async fn role_policies(
    state: &AppState,
    account: &str,
    role: &RoleDoc,
    out: &mut PrincipalPolicies,
) -> ApiResult<()> {
    let arn = role.arn(account);
    add_inline(
        state,
        &mut out.identity,
        &arn,
        role.inline_policies.iter(),
        PolicyKind::Identity(IdentityAttachment::RoleInline),
    );
    add_managed(
        state,
        &mut out.identity,
        &role.attached_policies,
        PolicyKind::Identity(IdentityAttachment::Managed),
    )
    .await?;
    out.boundary = boundary(state, role.permissions_boundary.as_ref()).await?;
    out.principal_tags = role
        .tags
        .iter()
        .map(|t| (t.key.clone(), t.value.clone()))
        .collect();
    Ok(())
}

/// What the account root contributes to the permissions of its GetFederationToken users.
const ROOT_PARENT_POLICY: &str =
    r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"*","Resource":"*"}]}"#;

/// The path of service-linked roles (SCPs and RCPs do not restrict them).
pub const SERVICE_ROLE_PATH: &str = "/aws-service-role/";

/// Gather every policy that limits `caller`.
pub async fn principal_policies(state: &AppState, caller: &Caller) -> ApiResult<PrincipalPolicies> {
    let mut out = PrincipalPolicies::default();
    let account = caller.account_id();
    match caller.principal() {
        Principal::Root { .. } => {}
        Principal::User { name, .. } => user_policies(state, account, name, &mut out).await?,
        Principal::AssumedRole {
            role_name, role_id, ..
        } => {
            // A role deleted (or deleted and recreated: another unique id) leaves its sessions
            // without permissions.
            if let Some(role) = role_doc(state, account, role_name).await?
                && &role.role_id == role_id
            {
                role_policies(state, account, &role, &mut out).await?;
            }
        }
        Principal::FederatedUser { .. } => {
            out.federated_user = true;
            if let Some(s) = caller.session() {
                match &s.parent {
                    Some(Principal::User { name, .. }) => {
                        user_policies(state, account, name, &mut out).await?;
                        out.principal_tags.clear();
                    }
                    // Root's federated users are limited by their session policies only:
                    // on the parent's side, root may do everything.
                    Some(Principal::Root { .. }) => {
                        if let Some(p) = parse_cached(
                            state,
                            ROOT_PARENT_POLICY,
                            PolicyKind::Identity(IdentityAttachment::Managed),
                        ) {
                            out.identity.push(LabelledPolicy {
                                id: opensts_core::arn::root_arn(account),
                                policy: p,
                            });
                        }
                    }
                    None | Some(_) => {}
                }
            }
        }
    }
    // SCPs limit every principal of a member account except service-linked roles.
    let service_linked = matches!(caller.principal(),
        Principal::AssumedRole { role_path, .. } if role_path.starts_with(SERVICE_ROLE_PATH));
    if !service_linked {
        out.scps = crate::org::scp_levels(state, account).await?;
    }
    if let Some(s) = caller.session() {
        let mut session = Vec::new();
        for doc in &s.session_policies {
            session.push(LabelledPolicy {
                id: "session-policy".to_string(),
                policy: parse_or_deny_all(state, doc, PolicyKind::Session)?,
            });
        }
        add_managed(
            state,
            &mut session,
            &s.session_policy_arns,
            PolicyKind::Session,
        )
        .await?;
        for (i, layer) in s.scope_layers.iter().enumerate() {
            out.scope_layers.push(LabelledPolicy {
                id: format!("scoped-policy-{}", i + 1),
                policy: parse_or_deny_all(state, layer, PolicyKind::Session)?,
            });
        }
        let had_session_policies =
            !s.session_policies.is_empty() || !s.session_policy_arns.is_empty();
        if had_session_policies || out.federated_user {
            out.session = Some(session);
        }
        // Session tags override principal tags with the same key (case-insensitively).
        for (k, v) in &s.tags {
            out.principal_tags
                .retain(|(ok, _)| !ok.eq_ignore_ascii_case(k));
            out.principal_tags.push((k.clone(), v.clone()));
        }
    }
    Ok(out)
}

/// Evaluate a request of `caller` against its policies plus an optional resource policy.
/// `refs` and `levels` are storage the decision borrows from (pass empty vectors).
pub fn evaluate_for<'a>(
    policies: &'a PrincipalPolicies,
    resource_policy: Option<&'a LabelledPolicy>,
    ctx: &'a RequestContext,
    refs: &'a mut Vec<PolicyRef<'a>>,
    levels: &'a mut Vec<&'a [PolicyRef<'a>]>,
) -> Decision<'a> {
    let as_ref = |p: &'a LabelledPolicy| PolicyRef::new(&p.id, &p.policy);
    // One flat list: identity, session policies, scope-down layers, then each SCP and RCP
    // level; sliced below.
    refs.extend(policies.identity.iter().map(as_ref));
    let identity_end = refs.len();
    if let Some(s) = &policies.session {
        refs.extend(s.iter().map(as_ref));
    }
    let session_end = refs.len();
    refs.extend(policies.scope_layers.iter().map(as_ref));
    let layers_end = refs.len();
    let mut bounds = Vec::new();
    for level in policies.scps.iter().chain(policies.rcps.iter()) {
        let start = refs.len();
        refs.extend(level.iter().map(as_ref));
        bounds.push((start, refs.len()));
    }
    let all: &'a [PolicyRef<'a>] = refs;
    levels.extend(bounds.iter().map(|&(a, b)| &all[a..b]));
    let levels: &'a [&'a [PolicyRef<'a>]] = levels;
    let (scps, rcps) = levels.split_at(policies.scps.len());
    let input = EvaluationInput {
        identity: &all[..identity_end],
        resource: resource_policy.map(as_ref),
        boundary: policies.boundary.as_ref().map(as_ref),
        session: policies
            .session
            .as_ref()
            .map(|_| &all[identity_end..session_end]),
        scope_layers: &all[session_end..layers_end],
        scps,
        rcps,
        is_federated_user: policies.federated_user,
        ..Default::default()
    };
    evaluate(&input, ctx)
}

/// AWS's AccessDenied text for a denied decision.
pub fn denial_message(caller: &Caller, action: &str, resource: &str, reason: Reason) -> String {
    let who = match caller.principal() {
        Principal::Root { .. } => "User",
        Principal::User { .. } => "User",
        Principal::AssumedRole { .. } => "User",
        Principal::FederatedUser { .. } => "User",
    };
    let arn = caller.principal().arn();
    let why = match reason {
        Reason::ExplicitDeny(t) => format!(
            " with an explicit deny in {}",
            match t {
                opensts_policy::PolicyType::Identity => "an identity-based policy",
                opensts_policy::PolicyType::Resource | opensts_policy::PolicyType::Trust =>
                    "a resource-based policy",
                opensts_policy::PolicyType::PermissionsBoundary => "a permissions boundary",
                opensts_policy::PolicyType::Session => "a session policy",
                opensts_policy::PolicyType::ServiceControl => "a service control policy",
                opensts_policy::PolicyType::ResourceControl => "a resource control policy",
            }
        ),
        Reason::BoundaryImplicitDeny => {
            format!(" because no permissions boundary allows the {action} action")
        }
        Reason::SessionPolicyImplicitDeny | Reason::FederatedUserWithoutSessionPolicy => {
            format!(" because no session policy allows the {action} action")
        }
        Reason::TrustPolicyImplicitDeny | Reason::ResourcePolicyImplicitDeny => {
            format!(" because no resource-based policy allows the {action} action")
        }
        Reason::ScpImplicitDeny => {
            format!(" because no service control policy allows the {action} action")
        }
        _ => format!(" because no identity-based policy allows the {action} action"),
    };
    format!("{who}: {arn} is not authorized to perform: {action} on resource: {resource}{why}")
}

/// Require `action` on `resource` for the caller; `extra` adds request-specific keys.
pub async fn authorize(
    cx: &ActionCtx<'_>,
    caller: &Caller,
    action: &str,
    resource: &str,
    extra: impl FnOnce(RequestContext) -> RequestContext,
) -> ApiResult<()> {
    // Credential types AWS limits regardless of policies.
    if let Some(s) = caller.session() {
        let iam = action.len() > 4 && action[..4].eq_ignore_ascii_case("iam:");
        match s.kind {
            SessionKind::FederationToken if iam => {
                return Err(encoded_denial(
                    cx,
                    caller.account_id(),
                    format!(
                        "{} is not authorized to perform: {action}: federated users cannot call IAM",
                        caller.principal().arn()
                    ),
                    plain_decision(caller.principal(), action, resource),
                ));
            }
            SessionKind::SessionToken if iam && s.mfa_auth_time.is_none() => {
                return Err(encoded_denial(
                    cx,
                    caller.account_id(),
                    format!(
                        "User: {} is not authorized to perform: {action} on resource: {resource} because credentials from GetSessionToken without MFA cannot call IAM",
                        caller.principal().arn()
                    ),
                    plain_decision(caller.principal(), action, resource),
                ));
            }
            _ => {}
        }
    }
    if root_unrestricted(cx.state, caller) {
        return Ok(());
    }
    let policies = principal_policies(cx.state, caller).await?;
    let mut ctx = request_context(cx, caller, &policies, action, resource);
    if crate::iam::aws_managed::is_aws_managed_arn(resource) {
        // AWS managed policies belong to no account; reading them is an in-account request.
        ctx = ctx.with_resource_account(caller.account_id().to_string());
    }
    let ctx = extra(ctx);
    let mut refs = Vec::new();
    let mut srefs = Vec::new();
    let d = evaluate_for(&policies, None, &ctx, &mut refs, &mut srefs);
    if d.allowed() {
        Ok(())
    } else {
        Err(encoded_denial(
            cx,
            caller.account_id(),
            denial_message(caller, action, resource, d.reason()),
            d.authorization_message(),
        ))
    }
}

/// The root user's long-term credentials (or GetSessionToken session) of an account no SCP
/// limits may do anything in its account. Privileged root sessions (AssumeRoot) and the
/// roots of member accounts go through policy evaluation.
pub fn root_unrestricted(state: &AppState, caller: &Caller) -> bool {
    caller.is_root()
        && caller.session().is_none_or(|s| s.kind != SessionKind::Root)
        && crate::org::is_management(state, caller.account_id())
}

/// The decision record of a denial that did not come from policy evaluation (e.g. a role
/// that does not exist, or a credential type the action refuses): nothing matched.
pub fn plain_decision(principal: &Principal, action: &str, resource: &str) -> serde_json::Value {
    serde_json::json!({
        "allowed": false,
        "explicitDeny": false,
        "matchedStatements": {"items": []},
        "failures": {"items": []},
        "context": {
            "principal": {"id": principal.user_id(), "arn": principal.arn()},
            "action": action,
            "resource": resource,
            "conditions": {"items": []}
        }
    })
}

/// `AccessDenied` whose message ends with `Encoded authorization failure message: …`, the
/// decision sealed for `account` (decode it with DecodeAuthorizationMessage).
pub fn encoded_denial(
    cx: &ActionCtx<'_>,
    account: &str,
    message: String,
    mut decision: serde_json::Value,
) -> ApiError {
    let ring = cx.state.message_ring();
    let mut sealed = opensts_core::authmsg::seal_message(&ring, account, decision.clone(), cx.now);
    if matches!(&sealed, Ok(m) if m.len() > opensts_core::authmsg::MAX_ENCODED_LEN) {
        // Too big to be decoded: drop the request's condition keys, keep the verdict.
        if let Some(c) = decision.pointer_mut("/context/conditions/items") {
            *c = serde_json::Value::Array(Vec::new());
        }
        sealed = opensts_core::authmsg::seal_message(&ring, account, decision, cx.now);
    }
    match sealed {
        Ok(m) => ApiError::access_denied(format!(
            "{message}. Encoded authorization failure message: {m}"
        )),
        Err(_) => ApiError::access_denied(message),
    }
}
