//! The policy simulator: SimulatePrincipalPolicy (the policies of a user, role or group, plus
//! optional extra ones) and SimulateCustomPolicy (policies given in the request), both run
//! through the same engine that enforces every request.

use opensts_core::arn::Arn;
use opensts_policy::{
    EvaluationInput, IdentityAttachment, Policy, PolicyKind, PolicyRef, RequestContext,
    RequestPrincipal, evaluate,
};

use crate::actions::iam::authorize;
use crate::actions::{ActionCtx, ActionSpec, Reply, signed};
use crate::auth::Caller;
use crate::authz::{self, LabelledPolicy, PrincipalPolicies};
use crate::error::{ApiError, ApiResult};
use crate::iam::model::{GroupDoc, KIND_GROUP};
use crate::protocol::xml::Xml;
use crate::protocol::{Api, CharRule, Params, Violations};

pub static ACTIONS: &[ActionSpec] = &[
    signed(Api::Iam, "SimulatePrincipalPolicy"),
    signed(Api::Iam, "SimulateCustomPolicy"),
];

/// Most actions × resources one simulation evaluates.
pub const MAX_EVALUATIONS: usize = 1000;

/// Run one of this family's actions; `None` if the name is not one of them.
pub async fn run(
    name: &str,
    cx: &ActionCtx<'_>,
    caller: &Caller,
    p: &Params,
) -> Option<ApiResult<Reply>> {
    Some(match name {
        "SimulatePrincipalPolicy" => simulate(cx, caller, p, true).await,
        "SimulateCustomPolicy" => simulate(cx, caller, p, false).await,
        _ => return None,
    })
}

fn parse_list(
    p: &Params,
    member: &str,
    kind: PolicyKind,
    label: &str,
) -> ApiResult<Vec<LabelledPolicy>> {
    let docs = p.list(member)?.unwrap_or_default();
    let mut out = Vec::with_capacity(docs.len());
    for (i, d) in docs.iter().enumerate() {
        let policy =
            Policy::parse(d, kind).map_err(|e| ApiError::malformed_policy_document(e.message()))?;
        out.push(LabelledPolicy {
            id: format!("{label}{}", i + 1),
            policy: std::sync::Arc::new(policy),
        });
    }
    Ok(out)
}

async fn simulate(
    cx: &ActionCtx<'_>,
    caller: &Caller,
    p: &Params,
    principal: bool,
) -> ApiResult<Reply> {
    let mut v = Violations::new();
    let source = if principal {
        v.string(
            p,
            "PolicySourceArn",
            true,
            20,
            2048,
            Some(CharRule::ArnChars),
        )
    } else {
        None
    };
    let caller_arn = v.string(p, "CallerArn", false, 1, 2048, Some(CharRule::ArnChars));
    let resource_policy = v.string(
        p,
        "ResourcePolicy",
        false,
        1,
        131_072,
        Some(CharRule::PolicyChars),
    );
    v.into_result()?;
    let actions = p.list("ActionNames")?.unwrap_or_default();
    if actions.is_empty() {
        return Err(ApiError::validation(
            "1 validation error detected: Value null at 'actionNames' failed to satisfy constraint: Member must not be null",
        ));
    }
    let resources = p
        .list("ResourceArns")?
        .filter(|r| !r.is_empty())
        .unwrap_or_else(|| vec!["*".to_string()]);
    if actions.len().saturating_mul(resources.len()) > MAX_EVALUATIONS {
        return Err(ApiError::validation(format!(
            "A simulation may evaluate at most {MAX_EVALUATIONS} action and resource pairs"
        )));
    }
    let account = caller.account_id().to_string();

    // Whose policies.
    let mut policies = PrincipalPolicies::default();
    let mut request_principal = RequestPrincipal::anonymous();
    if let Some(src) = source {
        authorize(cx, caller, src).await?;
        let arn =
            Arn::parse(src).map_err(|_| ApiError::invalid_input(format!("Invalid ARN: {src}")))?;
        let Some((kind, _path, name)) = arn.iam_path_and_name() else {
            return Err(ApiError::invalid_input(format!("Invalid ARN: {src}")));
        };
        if arn.account != account {
            return Err(ApiError::no_such_entity(format!(
                "Entity {src} does not exist."
            )));
        }
        match kind {
            "user" => {
                let Some(user) = cx.state.get_user_doc(&account, name).await? else {
                    return Err(ApiError::no_such_entity(format!(
                        "The user with name {name} cannot be found."
                    )));
                };
                request_principal = RequestPrincipal::user(&user.arn(&account), &user.user_id);
                let fake = crate::auth::Caller::simulated(user.principal(&account));
                policies = authz::principal_policies(cx.state, &fake).await?;
            }
            "role" => {
                let Some(role) = authz::role_doc(cx.state, &account, name).await? else {
                    return Err(ApiError::no_such_entity(format!(
                        "The role with name {name} cannot be found."
                    )));
                };
                let role_arn = role.arn(&account);
                request_principal = RequestPrincipal::assumed_role(
                    &opensts_core::arn::assumed_role_arn(&account, &role.name, "simulation"),
                    &role_arn,
                    &role.role_id,
                );
                authz::role_policies(cx.state, &account, &role, &mut policies).await?;
            }
            "group" => {
                let Some(e) = cx.state.entity(&account, KIND_GROUP, name).await? else {
                    return Err(ApiError::no_such_entity(format!(
                        "The group with name {name} cannot be found."
                    )));
                };
                let group: GroupDoc = crate::actions::iam::decode_entity(&e)?;
                authz::group_policies(cx.state, &account, &group, &mut policies.identity).await?;
            }
            _ => return Err(ApiError::invalid_input(format!("Invalid ARN: {src}"))),
        }
    } else {
        authorize(cx, caller, "*").await?;
        if let Some(c) = caller_arn {
            request_principal = RequestPrincipal::user(c, "AIDASIMULATEDCALLER1");
        }
    }
    // SimulatePrincipalPolicy includes the SCPs of the account (none for the management
    // account or a service-linked role), as AWS's simulator does.
    let service_linked = source.is_some_and(|s| s.contains(":role/aws-service-role/"));
    policies.scps = if source.is_some() && !service_linked {
        crate::org::scp_levels(cx.state, &account).await?
    } else {
        Vec::new()
    };
    let scp_refs: Vec<Vec<PolicyRef>> = policies
        .scps
        .iter()
        .map(|level| {
            level
                .iter()
                .map(|l| PolicyRef::new(&l.id, &l.policy))
                .collect()
        })
        .collect();
    let scp_levels: Vec<&[PolicyRef]> = scp_refs.iter().map(Vec::as_slice).collect();
    let allow_all = Policy::parse(
        r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"*","Resource":"*"}]}"#,
        PolicyKind::Identity(IdentityAttachment::Managed),
    )
    .map_err(|_| ApiError::internal())?;
    let allow_all = [PolicyRef::new("allow-all", &allow_all)];
    policies.identity.extend(parse_list(
        p,
        "PolicyInputList",
        PolicyKind::Identity(IdentityAttachment::Managed),
        "PolicyInputList.",
    )?);
    let boundaries = parse_list(
        p,
        "PermissionsBoundaryPolicyInputList",
        PolicyKind::Boundary,
        "PermissionsBoundaryPolicyInputList.",
    )?;
    if let Some(b) = boundaries.into_iter().next() {
        policies.boundary = Some(b);
    }
    let resource_policy = match resource_policy {
        Some(doc) => Some(LabelledPolicy {
            id: "ResourcePolicy".to_string(),
            policy: std::sync::Arc::new(
                Policy::parse(doc, PolicyKind::Resource)
                    .map_err(|e| ApiError::malformed_policy_document(e.message()))?,
            ),
        }),
        None => None,
    };
    // Context entries.
    let mut entries: Vec<(String, Vec<String>)> = Vec::new();
    for e in p.struct_list("ContextEntries")?.unwrap_or_default() {
        let Some(key) = e.get("ContextKeyName") else {
            continue;
        };
        let mut values = Vec::new();
        for i in 1.. {
            match e.get(&format!("ContextKeyValues.member.{i}")) {
                Some(val) => values.push(val.clone()),
                None => break,
            }
        }
        entries.push((key.clone(), values));
    }

    let mut x = Xml::new();
    x.open("EvaluationResults");
    for action in &actions {
        for resource in &resources {
            let mut ctx = authz::base_context(cx, request_principal.clone(), action, resource);
            for (k, vals) in &entries {
                ctx = ctx.with_values(k.clone(), vals.clone());
            }
            let ctx: RequestContext = ctx;
            let ids: Vec<PolicyRef> = policies
                .identity
                .iter()
                .map(|l| PolicyRef::new(&l.id, &l.policy))
                .collect();
            let input = EvaluationInput {
                identity: &ids,
                resource: resource_policy
                    .as_ref()
                    .map(|l| PolicyRef::new(&l.id, &l.policy)),
                boundary: policies
                    .boundary
                    .as_ref()
                    .map(|l| PolicyRef::new(&l.id, &l.policy)),
                scps: &scp_levels,
                ..Default::default()
            };
            let d = evaluate(&input, &ctx);
            // What the SCPs alone say (OrganizationsDecisionDetail).
            let by_orgs = (!scp_levels.is_empty()).then(|| {
                let only_scps = EvaluationInput {
                    identity: &allow_all,
                    scps: &scp_levels,
                    ..Default::default()
                };
                evaluate(&only_scps, &ctx).allowed()
            });
            let decision = if d.allowed() {
                "allowed"
            } else if d.explicit_deny() {
                "explicitDeny"
            } else {
                "implicitDeny"
            };
            x.open("member")
                .elem("EvalActionName", action)
                .elem("EvalResourceName", resource)
                .elem("EvalDecision", decision);
            x.open("MatchedStatements");
            for m in d.matched_statements() {
                x.open("member")
                    .elem("SourcePolicyId", m.policy_id)
                    .elem("SourcePolicyType", "IAM Policy")
                    .close("member");
            }
            x.close("MatchedStatements");
            x.open("MissingContextValues").close("MissingContextValues");
            if let Some(allowed) = by_orgs {
                x.open("OrganizationsDecisionDetail")
                    .bool("AllowedByOrganizations", allowed)
                    .close("OrganizationsDecisionDetail");
            }
            x.close("member");
        }
    }
    x.close("EvaluationResults");
    x.bool("IsTruncated", false);
    Ok(Some(x.into_string()))
}
