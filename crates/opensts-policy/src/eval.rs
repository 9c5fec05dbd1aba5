//! The decision procedure across policy sets (IAM User Guide, "Policy evaluation logic" and
//! "Cross-account policy evaluation logic"; Organizations RCP evaluation).

use serde::Serialize;
use serde::ser::{SerializeMap, SerializeSeq, Serializer};

use crate::context::{PrincipalType, RequestContext};
use crate::kind::PolicyKind;
use crate::policy::{Effect, Policy, Statement};
use crate::principal::PrincipalMatch;

/// A policy with the caller's label for it (managed policy ARN, `user/bob/inline/name`, …).
#[derive(Debug, Clone, Copy)]
pub struct PolicyRef<'a> {
    /// Caller-given identifier, echoed in [`MatchedStatement::policy_id`].
    pub id: &'a str,
    /// The policy.
    pub policy: &'a Policy,
}

impl<'a> PolicyRef<'a> {
    /// Labels `policy` with `id`.
    pub fn new(id: &'a str, policy: &'a Policy) -> Self {
        PolicyRef { id, policy }
    }
}

/// The policies that apply to one request, borrowed. Build it with struct-update syntax:
/// `EvaluationInput { identity: &ids, resource: Some(trust), ..Default::default() }`.
#[derive(Debug, Clone, Copy, Default)]
pub struct EvaluationInput<'a> {
    /// Identity-based policies of the principal (for a user: its inline and managed policies
    /// and those of its groups; for a role session: the role's).
    pub identity: &'a [PolicyRef<'a>],
    /// The resource-based policy of the resource, if any. A policy parsed as
    /// [`PolicyKind::Trust`] is evaluated with the role-trust rule: it must always allow.
    pub resource: Option<PolicyRef<'a>>,
    /// The permissions boundary of the principal's user or role, if set.
    pub boundary: Option<PolicyRef<'a>>,
    /// Session policies (inline and managed) of a session principal. `None` (or empty) means
    /// none were passed: a role session is then not limited, a federated user gets nothing.
    pub session: Option<&'a [PolicyRef<'a>]>,
    /// Scope-down layers of the session (`GetScopedCredentials`), oldest first. Unlike the
    /// session policies (of which one allowing suffices) every layer must allow, on every path
    /// to an allow (a resource policy naming the session cannot widen them); a deny in any is
    /// an explicit deny in a session policy.
    pub scope_layers: &'a [PolicyRef<'a>],
    /// SCPs of the principal's account, one slice per level of the organization (root, each
    /// OU, the account); every level must allow. Empty: no SCPs apply.
    pub scps: &'a [&'a [PolicyRef<'a>]],
    /// RCPs of the resource's account, per level. Only their denies matter.
    pub rcps: &'a [&'a [PolicyRef<'a>]],
    /// The principal is a `GetFederationToken` session (also inferred from
    /// [`PrincipalType::FederatedUser`]).
    pub is_federated_user: bool,
    /// Principal and resource are in the same account. `None`: compare the principal's
    /// account with [`RequestContext::resource_account`] (a principal without an account,
    /// such as a web-identity caller, counts as same-account: only the resource policy speaks).
    pub same_account: Option<bool>,
    /// The principal's account is the organization's management account: SCPs do not apply.
    pub scp_exempt: bool,
}

/// Which policy set a statement came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
pub enum PolicyType {
    /// Identity-based policy.
    Identity,
    /// Resource-based policy other than a trust policy.
    Resource,
    /// Role trust policy.
    Trust,
    /// Permissions boundary.
    PermissionsBoundary,
    /// Session policy.
    Session,
    /// Service control policy.
    ServiceControl,
    /// Resource control policy.
    ResourceControl,
}

/// Why the decision came out as it did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
pub enum Reason {
    /// Allowed; the principal's own policies granted it (identity policy, with boundary,
    /// session policies and SCPs allowing).
    AllowedByIdentityPolicy,
    /// Allowed because the resource-based policy named the principal (`Exact`) or its role /
    /// parent user (`Entity`, still limited by boundary and session policies).
    AllowedByResourcePolicy,
    /// Allowed because the principal is the account root user (no identity policy needed).
    AllowedAsRoot,
    /// An applicable `Deny` statement in a policy of the given type.
    ExplicitDeny(PolicyType),
    /// A level of SCPs has no applicable `Allow`.
    ScpImplicitDeny,
    /// The role trust policy does not allow the principal.
    TrustPolicyImplicitDeny,
    /// Cross-account request not allowed by the resource-based policy.
    ResourcePolicyImplicitDeny,
    /// No identity-based policy allows the action.
    NoIdentityPolicyAllow,
    /// The permissions boundary does not allow the action.
    BoundaryImplicitDeny,
    /// The session policies do not allow the action.
    SessionPolicyImplicitDeny,
    /// A federated user (`GetFederationToken`) without session policies has no permissions.
    FederatedUserWithoutSessionPolicy,
}

impl Reason {
    /// A sentence for logs and error messages (AWS style:
    /// `... because no identity-based policy allows the sts:AssumeRole action`).
    pub fn describe(self) -> &'static str {
        match self {
            Reason::AllowedByIdentityPolicy => "allowed by an identity-based policy",
            Reason::AllowedByResourcePolicy => "allowed by a resource-based policy",
            Reason::AllowedAsRoot => "allowed for the account root user",
            Reason::ExplicitDeny(PolicyType::Identity) => {
                "with an explicit deny in an identity-based policy"
            }
            Reason::ExplicitDeny(PolicyType::Resource) => {
                "with an explicit deny in a resource-based policy"
            }
            Reason::ExplicitDeny(PolicyType::Trust) => "with an explicit deny in the trust policy",
            Reason::ExplicitDeny(PolicyType::PermissionsBoundary) => {
                "with an explicit deny in a permissions boundary"
            }
            Reason::ExplicitDeny(PolicyType::Session) => {
                "with an explicit deny in a session policy"
            }
            Reason::ExplicitDeny(PolicyType::ServiceControl) => {
                "with an explicit deny in a service control policy"
            }
            Reason::ExplicitDeny(PolicyType::ResourceControl) => {
                "with an explicit deny in a resource control policy"
            }
            Reason::ScpImplicitDeny => "with an implicit deny in a service control policy",
            Reason::TrustPolicyImplicitDeny => "because the trust policy does not allow it",
            Reason::ResourcePolicyImplicitDeny => {
                "because no resource-based policy allows the action"
            }
            Reason::NoIdentityPolicyAllow => "because no identity-based policy allows the action",
            Reason::BoundaryImplicitDeny => "with an implicit deny in a permissions boundary",
            Reason::SessionPolicyImplicitDeny => "because no session policy allows the action",
            Reason::FederatedUserWithoutSessionPolicy => {
                "because a federated user session without session policies has no permissions"
            }
        }
    }
}

/// A statement that took part in the decision.
#[derive(Debug, Clone, Copy)]
pub struct MatchedStatement<'a> {
    /// The caller-given policy id.
    pub policy_id: &'a str,
    /// Which set the policy was in.
    pub policy_type: PolicyType,
    /// Position of the statement in its policy.
    pub index: usize,
    /// The statement.
    pub statement: &'a Statement,
    /// For resource-based statements, how the principal was named.
    pub principal_match: Option<PrincipalMatch>,
}

impl MatchedStatement<'_> {
    /// The `Sid`, or `<policy id>#<index>` when the statement has none.
    pub fn label(&self) -> String {
        match self.statement.sid() {
            Some(s) => s.to_owned(),
            None => format!("{}#{}", self.policy_id, self.index),
        }
    }
}

impl Serialize for MatchedStatement<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let st = self.statement;
        let mut m = s.serialize_map(None)?;
        m.serialize_entry("policyId", self.policy_id)?;
        m.serialize_entry("policyType", &self.policy_type)?;
        m.serialize_entry("index", &self.index)?;
        m.serialize_entry("sid", &st.sid())?;
        m.serialize_entry("effect", st.effect().as_str())?;
        let principals: Vec<&str> = st
            .principal()
            .or(st.not_principal())
            .map(|b| b.values())
            .unwrap_or_default();
        m.serialize_entry("principals", &principals)?;
        m.serialize_entry("notPrincipal", &st.not_principal().is_some())?;
        m.serialize_entry("actions", &st.actions().collect::<Vec<_>>())?;
        m.serialize_entry("notAction", &st.is_not_action())?;
        m.serialize_entry("resources", &st.resources().collect::<Vec<_>>())?;
        m.serialize_entry("notResource", &st.is_not_resource())?;
        m.serialize_entry("conditions", &Conditions(st))?;
        m.serialize_entry("principalMatch", &self.principal_match)?;
        m.end()
    }
}

struct Conditions<'a>(&'a Statement);

impl Serialize for Conditions<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut seq = s.serialize_seq(Some(self.0.conditions().len()))?;
        for c in self.0.conditions() {
            seq.serialize_element(&serde_json::json!({
                "operator": c.operator_name(),
                "key": c.key(),
                "values": c.values(),
            }))?;
        }
        seq.end()
    }
}

/// The result of [`evaluate`].
///
/// Serializes (serde) as:
/// `{"allowed", "explicitDeny", "reason", "matchedStatements": [{"policyId", "policyType",
/// "index", "sid", "effect", "principals", "notPrincipal", "actions", "notAction", "resources",
/// "notResource", "conditions": [{"operator","key","values"}], "principalMatch"}],
/// "context": {"principal": {"id","arn"}, "action", "resource", "conditions": [{"key","values"}]}}`.
/// [`Decision::authorization_message`] renders the AWS `DecodeAuthorizationMessage` shape.
#[derive(Debug, Clone)]
pub struct Decision<'a> {
    allowed: bool,
    explicit_deny: bool,
    reason: Reason,
    matched: Vec<MatchedStatement<'a>>,
    context: &'a RequestContext,
}

impl<'a> Decision<'a> {
    /// True if the request is allowed.
    pub fn allowed(&self) -> bool {
        self.allowed
    }

    /// True if an explicit `Deny` decided it.
    pub fn explicit_deny(&self) -> bool {
        self.explicit_deny
    }

    /// Why.
    pub fn reason(&self) -> Reason {
        self.reason
    }

    /// The statements that decided it: for an explicit deny, the applicable `Deny` statements;
    /// otherwise the applicable `Allow` statements of every policy set (for an implicit deny,
    /// those that matched but were not enough).
    pub fn matched_statements(&self) -> &[MatchedStatement<'a>] {
        &self.matched
    }

    /// The request context the decision was made for.
    pub fn context(&self) -> &'a RequestContext {
        self.context
    }

    /// The decoded form of an AWS encoded authorization failure message
    /// (`sts:DecodeAuthorizationMessage`): `allowed`, `explicitDeny`,
    /// `matchedStatements.items[]` with `statementId`, `effect` (`ALLOW`/`DENY`),
    /// `principals`, `principalGroups`, `actions`, `resources`, `conditions` (each
    /// `{"items":[…]}`), `failures`, and `context{principal{id,arn},action,resource,conditions}`.
    pub fn authorization_message(&self) -> serde_json::Value {
        use serde_json::{Value, json};
        let items = |v: Vec<&str>| -> Value {
            json!({ "items": v.into_iter().map(|x| json!({ "value": x })).collect::<Vec<_>>() })
        };
        let ctx = self.context;
        let matched: Vec<Value> = self
            .matched
            .iter()
            .map(|m| {
                let st = m.statement;
                // A statement of a resource-based policy lists its principals; an identity
                // policy's statement names the identity the policy belongs to by its unique
                // id: the role id (`AROA…`, without the session name) for role sessions, the
                // user id (`AIDA…`) for IAM users, as in AWS's documented example.
                let principals = match st.principal().or(st.not_principal()) {
                    Some(b) => b.values(),
                    None => vec![
                        ctx.principal
                            .parent_id
                            .as_deref()
                            .unwrap_or(ctx.principal.id.as_str()),
                    ],
                };
                let conditions: Vec<Value> = st
                    .conditions()
                    .iter()
                    .map(|c| {
                        json!({
                            "key": format!("{}:{}", c.operator_name(), c.key()),
                            "values": items(c.values().iter().map(String::as_str).collect()),
                        })
                    })
                    .collect();
                json!({
                    "statementId": st.sid().unwrap_or_default(),
                    "effect": match st.effect() { Effect::Allow => "ALLOW", Effect::Deny => "DENY" },
                    "principals": items(principals),
                    "principalGroups": { "items": [] },
                    "actions": items(st.actions().collect()),
                    "resources": items(if st.resources().next().is_none() { vec!["*"] } else { st.resources().collect() }),
                    "conditions": { "items": conditions },
                })
            })
            .collect();
        // Sorted by key: the message does not depend on hash order.
        let mut keys: Vec<(&str, &[String])> = ctx.keys.iter().collect();
        keys.sort_unstable_by(|a, b| a.0.cmp(b.0));
        let conditions: Vec<Value> = keys
            .into_iter()
            .map(|(k, v)| json!({ "key": k, "values": items(v.iter().map(String::as_str).collect()) }))
            .collect();
        json!({
            "allowed": self.allowed,
            "explicitDeny": self.explicit_deny,
            "matchedStatements": { "items": matched },
            "failures": { "items": [] },
            "context": {
                "principal": { "id": ctx.principal.id, "arn": ctx.principal.arn },
                "action": ctx.action,
                "resource": ctx.resource,
                "conditions": { "items": conditions },
            },
        })
    }
}

impl Serialize for Decision<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let ctx = self.context;
        let mut m = s.serialize_map(Some(5))?;
        m.serialize_entry("allowed", &self.allowed)?;
        m.serialize_entry("explicitDeny", &self.explicit_deny)?;
        m.serialize_entry("reason", &self.reason)?;
        m.serialize_entry("matchedStatements", &self.matched)?;
        let conditions: Vec<serde_json::Value> = ctx
            .keys
            .iter()
            .map(|(k, v)| serde_json::json!({ "key": k, "values": v }))
            .collect();
        m.serialize_entry(
            "context",
            &serde_json::json!({
                "principal": { "id": ctx.principal.id, "arn": ctx.principal.arn },
                "action": ctx.action,
                "resource": ctx.resource,
                "conditions": conditions,
            }),
        )?;
        m.end()
    }
}

/// Applicable statements of one policy set.
#[derive(Default)]
struct SetResult<'a> {
    allows: Vec<MatchedStatement<'a>>,
    denies: Vec<MatchedStatement<'a>>,
}

impl<'a> SetResult<'a> {
    fn scan(&mut self, r: &PolicyRef<'a>, ty: PolicyType, ctx: &RequestContext) {
        for (index, st) in r.policy.statements().iter().enumerate() {
            if let Some(pm) = st.applies(ctx) {
                let m = MatchedStatement {
                    policy_id: r.id,
                    policy_type: ty,
                    index,
                    statement: st,
                    principal_match: r.policy.kind().is_resource_based().then_some(pm),
                };
                match st.effect() {
                    Effect::Allow => self.allows.push(m),
                    Effect::Deny => self.denies.push(m),
                }
            }
        }
    }

    fn best_principal_match(&self) -> Option<PrincipalMatch> {
        self.allows.iter().filter_map(|m| m.principal_match).max()
    }
}

/// Decides whether `ctx` is allowed under `input`, following AWS's order: explicit deny in any
/// policy → deny; SCPs must allow (unless exempt), RCPs must not deny; then the resource-based
/// policy (same-account rules: a grant naming the exact principal needs nothing else, one
/// naming the role or parent user needs the boundary and session policies to allow, one naming
/// the account needs an identity-policy allow; a trust policy must always allow; cross-account
/// needs both sides); identity policies; permissions boundary; session policies; default deny.
pub fn evaluate<'a>(input: &EvaluationInput<'a>, ctx: &'a RequestContext) -> Decision<'a> {
    let mut identity = SetResult::default();
    for r in input.identity {
        identity.scan(r, PolicyType::Identity, ctx);
    }
    let mut resource = SetResult::default();
    let resource_type = match input.resource {
        Some(r) if r.policy.kind() == PolicyKind::Trust => PolicyType::Trust,
        _ => PolicyType::Resource,
    };
    if let Some(r) = &input.resource {
        resource.scan(r, resource_type, ctx);
    }
    let mut boundary = SetResult::default();
    if let Some(r) = &input.boundary {
        boundary.scan(r, PolicyType::PermissionsBoundary, ctx);
    }
    let mut session = SetResult::default();
    let session_policies = input.session.unwrap_or(&[]);
    for r in session_policies {
        session.scan(r, PolicyType::Session, ctx);
    }
    let mut layers: Vec<SetResult<'a>> = Vec::with_capacity(input.scope_layers.len());
    for r in input.scope_layers {
        let mut l = SetResult::default();
        l.scan(r, PolicyType::Session, ctx);
        layers.push(l);
    }
    let scp_applies = !input.scp_exempt && !input.scps.is_empty();
    let mut scp_levels: Vec<SetResult<'a>> = Vec::new();
    if scp_applies {
        for level in input.scps {
            let mut s = SetResult::default();
            for r in *level {
                s.scan(r, PolicyType::ServiceControl, ctx);
            }
            scp_levels.push(s);
        }
    }
    let mut rcp = SetResult::default();
    for level in input.rcps {
        for r in *level {
            rcp.scan(r, PolicyType::ResourceControl, ctx);
        }
    }

    // 1. Explicit deny anywhere.
    let mut denies: Vec<MatchedStatement<'a>> = Vec::new();
    for s in scp_levels.iter() {
        denies.extend(s.denies.iter().copied());
    }
    for s in [&rcp, &resource, &identity, &boundary, &session] {
        denies.extend(s.denies.iter().copied());
    }
    for l in &layers {
        denies.extend(l.denies.iter().copied());
    }
    if let Some(first) = denies.first() {
        let reason = Reason::ExplicitDeny(first.policy_type);
        return Decision {
            allowed: false,
            explicit_deny: true,
            reason,
            matched: denies,
            context: ctx,
        };
    }

    let mut allows: Vec<MatchedStatement<'a>> = Vec::new();
    for s in scp_levels.iter() {
        allows.extend(s.allows.iter().copied());
    }
    for s in [&rcp, &resource, &identity, &boundary, &session] {
        allows.extend(s.allows.iter().copied());
    }
    for l in &layers {
        allows.extend(l.allows.iter().copied());
    }
    let deny = |reason: Reason, allows: Vec<MatchedStatement<'a>>| Decision {
        allowed: false,
        explicit_deny: false,
        reason,
        matched: allows,
        context: ctx,
    };

    // 2. SCPs: every level must allow.
    if scp_levels.iter().any(|l| l.allows.is_empty()) {
        return deny(Reason::ScpImplicitDeny, allows);
    }

    let principal = &ctx.principal;
    let same_account = input.same_account.unwrap_or_else(|| {
        match (principal.account.as_deref(), ctx.resource_account()) {
            (Some(a), Some(b)) => a == b,
            _ => true,
        }
    });
    let is_root = principal.kind == PrincipalType::Account;
    let identity_allows = is_root || !identity.allows.is_empty();
    let boundary_allows = input.boundary.is_none() || !boundary.allows.is_empty();
    let federated = input.is_federated_user || principal.kind == PrincipalType::FederatedUser;
    let session_check = if session_policies.is_empty() {
        if federated {
            Err(Reason::FederatedUserWithoutSessionPolicy)
        } else {
            Ok(())
        }
    } else if session.allows.is_empty() {
        Err(Reason::SessionPolicyImplicitDeny)
    } else {
        Ok(())
    };
    let resource_match = resource.best_principal_match();
    let is_trust = resource_type == PolicyType::Trust && input.resource.is_some();

    // The principal-side chain: identity, boundary, session.
    let principal_side = |allow_reason: Reason| -> Result<Reason, Reason> {
        if !identity_allows {
            return Err(Reason::NoIdentityPolicyAllow);
        }
        if !boundary_allows {
            return Err(Reason::BoundaryImplicitDeny);
        }
        session_check?;
        Ok(allow_reason)
    };
    let identity_reason = if is_root && identity.allows.is_empty() {
        Reason::AllowedAsRoot
    } else {
        Reason::AllowedByIdentityPolicy
    };

    let outcome: Result<Reason, Reason> = if same_account {
        if is_trust && resource_match.is_none() {
            Err(Reason::TrustPolicyImplicitDeny)
        } else {
            match resource_match {
                Some(PrincipalMatch::Exact) => Ok(Reason::AllowedByResourcePolicy),
                Some(PrincipalMatch::Entity) => {
                    if !boundary_allows {
                        Err(Reason::BoundaryImplicitDeny)
                    } else {
                        session_check.map(|_| Reason::AllowedByResourcePolicy)
                    }
                }
                Some(PrincipalMatch::Account) | None => principal_side(identity_reason),
            }
        }
    } else if resource_match.is_none() {
        Err(if is_trust {
            Reason::TrustPolicyImplicitDeny
        } else {
            Reason::ResourcePolicyImplicitDeny
        })
    } else {
        principal_side(identity_reason)
    };

    // 3. Scope-down layers: each must allow, whatever allowed above.
    let outcome = outcome.and_then(|reason| {
        if layers.iter().any(|l| l.allows.is_empty()) {
            Err(Reason::SessionPolicyImplicitDeny)
        } else {
            Ok(reason)
        }
    });

    match outcome {
        Ok(reason) => Decision {
            allowed: true,
            explicit_deny: false,
            reason,
            matched: allows,
            context: ctx,
        },
        Err(reason) => deny(reason, allows),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
    use super::*;
    use crate::context::RequestPrincipal;
    use crate::kind::IdentityAttachment;

    fn deny_policy() -> Policy {
        Policy::parse(
            r#"{"Version":"2012-10-17","Statement":[
              {"Sid":"VisualEditor0","Effect":"Deny","Action":"ec2:RunInstances","Resource":"*",
               "Condition":{"StringEquals":{"aws:RequestedRegion":"us-east-1"}}},
              {"Effect":"Allow","Action":"ec2:*","Resource":"*"}]}"#,
            PolicyKind::Identity(IdentityAttachment::RoleInline),
        )
        .unwrap()
    }

    #[test]
    fn authorization_message_shape() {
        let p = deny_policy();
        let ctx = RequestContext::new(
            "ec2:RunInstances",
            "arn:aws:ec2:us-east-1:111122223333:instance/*",
        )
        .with_principal(RequestPrincipal::assumed_role(
            "arn:aws:sts::111122223333:assumed-role/Developer/Ana",
            "arn:aws:iam::111122223333:role/Developer",
            "AROA123456789EXAMPLE",
        ))
        .with_key("aws:RequestedRegion", "us-east-1");
        let refs = [PolicyRef::new("role/Developer/inline", &p)];
        let d = evaluate(
            &EvaluationInput {
                identity: &refs,
                ..Default::default()
            },
            &ctx,
        );
        assert!(!d.allowed());
        assert!(d.explicit_deny());
        assert_eq!(d.reason(), Reason::ExplicitDeny(PolicyType::Identity));
        let m = d.authorization_message();
        assert_eq!(m["allowed"], false);
        assert_eq!(m["explicitDeny"], true);
        let st = &m["matchedStatements"]["items"][0];
        assert_eq!(st["statementId"], "VisualEditor0");
        assert_eq!(st["effect"], "DENY");
        assert_eq!(
            st["principals"]["items"][0]["value"],
            "AROA123456789EXAMPLE"
        );
        assert_eq!(st["actions"]["items"][0]["value"], "ec2:RunInstances");
        assert_eq!(st["resources"]["items"][0]["value"], "*");
        assert_eq!(st["principalGroups"]["items"].as_array().unwrap().len(), 0);
        assert_eq!(m["failures"]["items"].as_array().unwrap().len(), 0);
        assert_eq!(
            m["context"]["principal"]["arn"],
            "arn:aws:sts::111122223333:assumed-role/Developer/Ana"
        );
        assert_eq!(m["context"]["action"], "ec2:RunInstances");
        let keys: Vec<&str> = m["context"]["conditions"]["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| i["key"].as_str().unwrap())
            .collect();
        assert!(keys.contains(&"aws:RequestedRegion"));

        let v = serde_json::to_value(&d).unwrap();
        assert_eq!(v["reason"]["ExplicitDeny"], "Identity");
        assert_eq!(v["matchedStatements"][0]["sid"], "VisualEditor0");
        assert_eq!(
            v["matchedStatements"][0]["policyId"],
            "role/Developer/inline"
        );
        assert_eq!(
            v["matchedStatements"][0]["conditions"][0]["operator"],
            "StringEquals"
        );
        assert_eq!(v["context"]["principal"]["id"], "AROA123456789EXAMPLE:Ana");
    }

    /// The example of the AWS CLI reference (`aws sts decode-authorization-message`), field for
    /// field: same names, nesting and value types. Only the request's own condition keys differ
    /// (the example carries EC2's), and `context.action` keeps the service prefix
    /// (`ec2:RunInstances`; the example shows `RunInstances`, real messages show both forms).
    #[test]
    fn authorization_message_matches_the_documented_example() {
        let p = Policy::parse(
            r#"{"Version":"2012-10-17","Statement":[
              {"Sid":"VisualEditor0","Effect":"Deny","Action":"ec2:RunInstances","Resource":"*"}]}"#,
            PolicyKind::Identity(IdentityAttachment::RoleInline),
        )
        .unwrap();
        let ctx = RequestContext::new(
            "ec2:RunInstances",
            "arn:aws:ec2:us-east-1:111122223333:instance/*",
        )
        .with_principal(RequestPrincipal::assumed_role(
            "arn:aws:sts::111122223333:assumed-role/Developer/Ana",
            "arn:aws:iam::111122223333:role/Developer",
            "AROA123456789EXAMPLE",
        ));
        let mut ctx = ctx;
        // Only the example's request keys.
        let derived: Vec<String> = ctx.keys.iter().map(|(k, _)| k.to_string()).collect();
        for k in derived {
            ctx.keys.remove(&k);
        }
        ctx.keys.set("ec2:InstanceMarketType", "on-demand");
        ctx.keys.set("aws:Account", "111122223333");
        let refs = [PolicyRef::new("role/Developer#inline", &p)];
        let d = evaluate(
            &EvaluationInput {
                identity: &refs,
                ..Default::default()
            },
            &ctx,
        );
        let documented: serde_json::Value = serde_json::from_str(
            r#"{"allowed":false,"explicitDeny":true,"matchedStatements":{"items":[{"statementId":"VisualEditor0","effect":"DENY","principals":{"items":[{"value":"AROA123456789EXAMPLE"}]},"principalGroups":{"items":[]},"actions":{"items":[{"value":"ec2:RunInstances"}]},"resources":{"items":[{"value":"*"}]},"conditions":{"items":[]}}]},"failures":{"items":[]},"context":{"principal":{"id":"AROA123456789EXAMPLE:Ana","arn":"arn:aws:sts::111122223333:assumed-role/Developer/Ana"},"action":"ec2:RunInstances","resource":"arn:aws:ec2:us-east-1:111122223333:instance/*","conditions":{"items":[{"key":"aws:Account","values":{"items":[{"value":"111122223333"}]}},{"key":"ec2:InstanceMarketType","values":{"items":[{"value":"on-demand"}]}}]}}}"#,
        )
        .unwrap();
        assert_eq!(d.authorization_message(), documented);
    }

    #[test]
    fn authorization_message_of_a_user_and_of_statement_conditions() {
        let p = Policy::parse(
            r#"{"Version":"2012-10-17","Statement":[
              {"Sid":"NoTags","Effect":"Deny","Action":["iam:TagUser","iam:CreateUser"],
               "Resource":["arn:aws:iam::111122223333:user/*"],
               "Condition":{"StringLike":{"aws:PrincipalTag/team":["a*","b"]}}}]}"#,
            PolicyKind::Identity(IdentityAttachment::UserInline),
        )
        .unwrap();
        let ctx = RequestContext::new("iam:CreateUser", "arn:aws:iam::111122223333:user/bob")
            .with_principal(RequestPrincipal::user(
                "arn:aws:iam::111122223333:user/alice",
                "AIDAEXAMPLEALICE00001",
            ))
            .with_principal_tag("team", "alpha");
        let refs = [PolicyRef::new("user/alice#p", &p)];
        let d = evaluate(
            &EvaluationInput {
                identity: &refs,
                ..Default::default()
            },
            &ctx,
        );
        let m = d.authorization_message();
        let st = &m["matchedStatements"]["items"][0];
        assert_eq!(st["statementId"], "NoTags");
        assert_eq!(
            st["principals"],
            serde_json::json!({"items": [{"value": "AIDAEXAMPLEALICE00001"}]})
        );
        assert_eq!(
            st["actions"],
            serde_json::json!({"items": [{"value": "iam:TagUser"}, {"value": "iam:CreateUser"}]})
        );
        assert_eq!(
            st["resources"],
            serde_json::json!({"items": [{"value": "arn:aws:iam::111122223333:user/*"}]})
        );
        assert_eq!(
            st["conditions"],
            serde_json::json!({"items": [{"key": "StringLike:aws:PrincipalTag/team",
                "values": {"items": [{"value": "a*"}, {"value": "b"}]}}]})
        );
        assert_eq!(m["context"]["principal"]["id"], "AIDAEXAMPLEALICE00001");
        // Condition keys in key order, each {"key", "values": {"items": [{"value"}]}}.
        let keys: Vec<&str> = m["context"]["conditions"]["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| i["key"].as_str().unwrap())
            .collect();
        let mut sorted = keys.clone();
        sorted.sort_unstable();
        assert_eq!(keys, sorted);
        assert!(keys.contains(&"aws:username"), "{keys:?}");
        for item in m["context"]["conditions"]["items"].as_array().unwrap() {
            for v in item["values"]["items"].as_array().unwrap() {
                assert!(v["value"].is_string(), "{item}");
            }
        }
    }

    #[test]
    fn labels_without_sid() {
        let p = deny_policy();
        let ctx = RequestContext::new("ec2:DescribeInstances", "*");
        let refs = [PolicyRef::new("p", &p)];
        let d = evaluate(
            &EvaluationInput {
                identity: &refs,
                ..Default::default()
            },
            &ctx,
        );
        assert!(d.allowed());
        assert_eq!(d.matched_statements()[0].label(), "p#1");
        assert!(!Reason::NoIdentityPolicyAllow.describe().is_empty());
    }

    fn policy(kind: PolicyKind, doc: &str) -> Policy {
        Policy::parse(doc, kind).unwrap()
    }

    #[test]
    fn every_scope_layer_must_allow_even_when_session_policies_union() {
        let session = PolicyKind::Session;
        let admin = policy(
            PolicyKind::Identity(IdentityAttachment::RoleInline),
            r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"*","Resource":"*"}]}"#,
        );
        let s3 = policy(
            session,
            r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:*","Resource":"*"}]}"#,
        );
        let iam = policy(
            session,
            r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"iam:*","Resource":"*"}]}"#,
        );
        let get_object = policy(
            session,
            r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:GetObject","Resource":"*"},
               {"Effect":"Deny","Action":"s3:GetObject","Resource":"arn:aws:s3:::secret/*"}]}"#,
        );
        let ids = [PolicyRef::new("role", &admin)];
        let run = |action: &str, resource: &str, layers: &[PolicyRef<'_>]| {
            let ctx = RequestContext::new(action, resource).with_principal(
                RequestPrincipal::assumed_role(
                    "arn:aws:sts::111122223333:assumed-role/Dev/ana",
                    "arn:aws:iam::111122223333:role/Dev",
                    "AROADEVEXAMPLE0000001",
                ),
            );
            let input = EvaluationInput {
                identity: &ids,
                scope_layers: layers,
                ..Default::default()
            };
            let d = evaluate(&input, &ctx);
            (d.allowed(), d.reason())
        };
        // no layers: the role's permissions
        assert!(run("iam:GetRole", "*", &[]).0);
        // two layers that do not overlap: nothing (they intersect, unlike session policies)
        let disjoint = [PolicyRef::new("l1", &s3), PolicyRef::new("l2", &iam)];
        assert_eq!(
            run("iam:GetRole", "*", &disjoint),
            (false, Reason::SessionPolicyImplicitDeny)
        );
        assert!(!run("s3:GetObject", "*", &disjoint).0);
        // nested layers: the narrowest wins, and a layer's deny is explicit
        let nested = [PolicyRef::new("l1", &s3), PolicyRef::new("l2", &get_object)];
        assert!(run("s3:GetObject", "arn:aws:s3:::b/k", &nested).0);
        assert!(!run("s3:PutObject", "arn:aws:s3:::b/k", &nested).0);
        assert_eq!(
            run("s3:GetObject", "arn:aws:s3:::secret/k", &nested),
            (false, Reason::ExplicitDeny(PolicyType::Session))
        );
    }
}
