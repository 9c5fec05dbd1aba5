//! Inline and managed policies, versions, attachments.
//!
//! Customer managed policies are `PolicyDoc`s keyed by name (their ARN carries the path); AWS
//! managed policies are built in (`crate::iam::aws_managed`) and read-only. Attachments are
//! the policy ARNs in the `attached_policies` of users, roles and groups; inline policies are
//! their `inline_policies` (name → document as given).

pub mod attach_group_policy;
pub mod attach_role_policy;
pub mod attach_user_policy;
pub mod create_policy;
pub mod create_policy_version;
pub mod delete_group_policy;
pub mod delete_policy;
pub mod delete_policy_version;
pub mod delete_role_policy;
pub mod delete_user_policy;
pub mod detach_group_policy;
pub mod detach_role_policy;
pub mod detach_user_policy;
pub mod get_group_policy;
pub mod get_policy;
pub mod get_policy_version;
pub mod get_role_policy;
pub mod get_user_policy;
pub mod list_attached_group_policies;
pub mod list_attached_role_policies;
pub mod list_attached_user_policies;
pub mod list_entities_for_policy;
pub mod list_group_policies;
pub mod list_policies;
pub mod list_policy_tags;
pub mod list_policy_versions;
pub mod list_role_policies;
pub mod list_user_policies;
pub mod put_group_policy;
pub mod put_role_policy;
pub mod put_user_policy;
pub mod set_default_policy_version;
pub mod tag_policy;
pub mod untag_policy;

use std::collections::{BTreeMap, HashMap};

use opensts_policy::{
    IdentityAttachment, ParseOptions, Policy, PolicyKind, SizeLimit, policy_size,
};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::actions::iam::{
    authorize, decode_entity, encode_policy_document, managed_policy_arn_parts, modify_entity,
    paginate, write_page_end, write_tags,
};
use crate::actions::{ActionCtx, ActionSpec, Reply, signed};
use crate::auth::Caller;
use crate::error::{ApiError, ApiResult};
use crate::iam::aws_managed::{self, AwsManagedPolicy};
use crate::iam::model::{
    GroupDoc, KIND_GROUP, KIND_POLICY, KIND_ROLE, KIND_USER, PolicyDoc, RoleDoc, Tag, UserDoc,
};
use crate::protocol::xml::{Xml, timestamp};
use crate::protocol::{Api, CharRule, Params, Violations};

pub static ACTIONS: &[ActionSpec] = &[
    signed(Api::Iam, "AttachGroupPolicy"),
    signed(Api::Iam, "AttachRolePolicy"),
    signed(Api::Iam, "AttachUserPolicy"),
    signed(Api::Iam, "CreatePolicy"),
    signed(Api::Iam, "CreatePolicyVersion"),
    signed(Api::Iam, "DeleteGroupPolicy"),
    signed(Api::Iam, "DeletePolicy"),
    signed(Api::Iam, "DeletePolicyVersion"),
    signed(Api::Iam, "DeleteRolePolicy"),
    signed(Api::Iam, "DeleteUserPolicy"),
    signed(Api::Iam, "DetachGroupPolicy"),
    signed(Api::Iam, "DetachRolePolicy"),
    signed(Api::Iam, "DetachUserPolicy"),
    signed(Api::Iam, "GetGroupPolicy"),
    signed(Api::Iam, "GetPolicy"),
    signed(Api::Iam, "GetPolicyVersion"),
    signed(Api::Iam, "GetRolePolicy"),
    signed(Api::Iam, "GetUserPolicy"),
    signed(Api::Iam, "ListAttachedGroupPolicies"),
    signed(Api::Iam, "ListAttachedRolePolicies"),
    signed(Api::Iam, "ListAttachedUserPolicies"),
    signed(Api::Iam, "ListEntitiesForPolicy"),
    signed(Api::Iam, "ListGroupPolicies"),
    signed(Api::Iam, "ListPolicies"),
    signed(Api::Iam, "ListPolicyTags"),
    signed(Api::Iam, "ListPolicyVersions"),
    signed(Api::Iam, "ListRolePolicies"),
    signed(Api::Iam, "ListUserPolicies"),
    signed(Api::Iam, "PutGroupPolicy"),
    signed(Api::Iam, "PutRolePolicy"),
    signed(Api::Iam, "PutUserPolicy"),
    signed(Api::Iam, "SetDefaultPolicyVersion"),
    signed(Api::Iam, "TagPolicy"),
    signed(Api::Iam, "UntagPolicy"),
];

/// Run one of this family's actions; `None` if the name is not one of them.
pub async fn run(
    name: &str,
    cx: &ActionCtx<'_>,
    caller: &Caller,
    p: &Params,
) -> Option<ApiResult<Reply>> {
    Some(match name {
        "AttachGroupPolicy" => attach_group_policy::handle(cx, caller, p).await,
        "AttachRolePolicy" => attach_role_policy::handle(cx, caller, p).await,
        "AttachUserPolicy" => attach_user_policy::handle(cx, caller, p).await,
        "CreatePolicy" => create_policy::handle(cx, caller, p).await,
        "CreatePolicyVersion" => create_policy_version::handle(cx, caller, p).await,
        "DeleteGroupPolicy" => delete_group_policy::handle(cx, caller, p).await,
        "DeletePolicy" => delete_policy::handle(cx, caller, p).await,
        "DeletePolicyVersion" => delete_policy_version::handle(cx, caller, p).await,
        "DeleteRolePolicy" => delete_role_policy::handle(cx, caller, p).await,
        "DeleteUserPolicy" => delete_user_policy::handle(cx, caller, p).await,
        "DetachGroupPolicy" => detach_group_policy::handle(cx, caller, p).await,
        "DetachRolePolicy" => detach_role_policy::handle(cx, caller, p).await,
        "DetachUserPolicy" => detach_user_policy::handle(cx, caller, p).await,
        "GetGroupPolicy" => get_group_policy::handle(cx, caller, p).await,
        "GetPolicy" => get_policy::handle(cx, caller, p).await,
        "GetPolicyVersion" => get_policy_version::handle(cx, caller, p).await,
        "GetRolePolicy" => get_role_policy::handle(cx, caller, p).await,
        "GetUserPolicy" => get_user_policy::handle(cx, caller, p).await,
        "ListAttachedGroupPolicies" => list_attached_group_policies::handle(cx, caller, p).await,
        "ListAttachedRolePolicies" => list_attached_role_policies::handle(cx, caller, p).await,
        "ListAttachedUserPolicies" => list_attached_user_policies::handle(cx, caller, p).await,
        "ListEntitiesForPolicy" => list_entities_for_policy::handle(cx, caller, p).await,
        "ListGroupPolicies" => list_group_policies::handle(cx, caller, p).await,
        "ListPolicies" => list_policies::handle(cx, caller, p).await,
        "ListPolicyTags" => list_policy_tags::handle(cx, caller, p).await,
        "ListPolicyVersions" => list_policy_versions::handle(cx, caller, p).await,
        "ListRolePolicies" => list_role_policies::handle(cx, caller, p).await,
        "ListUserPolicies" => list_user_policies::handle(cx, caller, p).await,
        "PutGroupPolicy" => put_group_policy::handle(cx, caller, p).await,
        "PutRolePolicy" => put_role_policy::handle(cx, caller, p).await,
        "PutUserPolicy" => put_user_policy::handle(cx, caller, p).await,
        "SetDefaultPolicyVersion" => set_default_policy_version::handle(cx, caller, p).await,
        "TagPolicy" => tag_policy::handle(cx, caller, p).await,
        "UntagPolicy" => untag_policy::handle(cx, caller, p).await,
        _ => return None,
    })
}

/// Most managed policies attached to one user, role or group.
pub const MAX_ATTACHED_POLICIES: usize = 10;
/// Longest policy document the API accepts (the model's `policyDocumentType`).
pub const MAX_DOCUMENT_CHARS: usize = 131_072;

// ---------------------------------------------------------------------------------------
// parameters
// ---------------------------------------------------------------------------------------

/// `PolicyName` (1–128 of `[\w+=,.@-]`).
pub fn policy_name<'a>(v: &mut Violations, p: &'a Params) -> Option<&'a str> {
    v.string(p, "PolicyName", true, 1, 128, Some(CharRule::IamName))
}

/// `PolicyArn` (20–2048 characters; its form is checked when it is resolved).
pub fn policy_arn<'a>(v: &mut Violations, p: &'a Params) -> Option<&'a str> {
    v.string(p, "PolicyArn", true, 20, 2048, None)
}

/// `PolicyDocument`: 1–131072 characters of `[\u0009\u000A\u000D\u0020-\u00FF]`.
pub fn policy_document<'a>(v: &mut Violations, p: &'a Params) -> Option<&'a str> {
    v.string(
        p,
        "PolicyDocument",
        true,
        1,
        MAX_DOCUMENT_CHARS,
        Some(CharRule::PolicyChars),
    )
}

const VERSION_ID_PATTERN: &str = "v[1-9][0-9]*(\\.[A-Za-z0-9-]*)?";

fn is_version_id(s: &str) -> bool {
    let Some(rest) = s.strip_prefix('v') else {
        return false;
    };
    let (num, suffix) = match rest.split_once('.') {
        Some((n, sfx)) => (n, Some(sfx)),
        None => (rest, None),
    };
    let num_ok = num.starts_with(|c: char| ('1'..='9').contains(&c))
        && num.chars().all(|c| c.is_ascii_digit());
    let suffix_ok = suffix.is_none_or(|s| s.chars().all(|c| c.is_ascii_alphanumeric() || c == '-'));
    num_ok && suffix_ok
}

/// `VersionId` (`v[1-9][0-9]*(\.[A-Za-z0-9-]*)?`).
pub fn version_id<'a>(v: &mut Violations, p: &'a Params) -> Option<&'a str> {
    let id = v.string(p, "VersionId", true, 0, usize::MAX, None)?;
    if is_version_id(id) {
        Some(id)
    } else {
        v.add(
            Some(id),
            "VersionId",
            &format!("Member must satisfy regular expression pattern: {VERSION_ID_PATTERN}"),
        );
        None
    }
}

const POLICY_PATH_PATTERN: &str = "((/[A-Za-z0-9\\.,\\+@=_-]+)*)/";

fn is_policy_path(s: &str) -> bool {
    if s == "/" {
        return true;
    }
    let Some(inner) = s.strip_prefix('/').and_then(|r| r.strip_suffix('/')) else {
        return false;
    };
    !inner.is_empty()
        && inner.split('/').all(|seg| {
            !seg.is_empty()
                && seg
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || ".,+@=_-".contains(c))
        })
}

/// A policy path (`Path`, `PathPrefix` of policy lists): 1–512 characters of
/// `((/[A-Za-z0-9\.,\+@=_-]+)*)/`.
pub fn policy_path(v: &mut Violations, p: &Params, member: &str) -> Option<String> {
    let path = v.string(p, member, false, 1, 512, None)?;
    if is_policy_path(path) {
        Some(path.to_string())
    } else {
        v.add(
            Some(path),
            member,
            &format!("Member must satisfy regular expression pattern: {POLICY_PATH_PATTERN}"),
        );
        None
    }
}

/// An optional boolean member (`true`/`false`, as botocore sends them).
pub fn bool_param(v: &mut Violations, p: &Params, member: &str) -> Option<bool> {
    let s = p.get(member)?;
    if s.eq_ignore_ascii_case("true") {
        Some(true)
    } else if s.eq_ignore_ascii_case("false") {
        Some(false)
    } else {
        v.add(Some(s), member, "Member must be a boolean");
        None
    }
}

/// An optional member restricted to a set of values.
pub fn enum_param<'a>(
    v: &mut Violations,
    p: &'a Params,
    member: &str,
    allowed: &[&str],
) -> Option<&'a str> {
    let s = p.get(member)?;
    if allowed.contains(&s) {
        Some(s)
    } else {
        v.add(
            Some(s),
            member,
            &format!(
                "Member must satisfy enum value set: [{}]",
                allowed.join(", ")
            ),
        );
        None
    }
}

// ---------------------------------------------------------------------------------------
// policy documents
// ---------------------------------------------------------------------------------------

/// Validate a customer managed policy document: `MalformedPolicyDocument` with the engine's
/// message, `LimitExceeded` (`Cannot exceed quota for PolicySize: 6144`) when too large.
pub fn check_managed_document(doc: &str) -> ApiResult<()> {
    match Policy::parse(doc, PolicyKind::Identity(IdentityAttachment::Managed)) {
        Ok(_) => Ok(()),
        Err(e) if e.is_too_large() => Err(ApiError::limit_exceeded(e.message())),
        Err(e) => Err(ApiError::malformed_policy_document(e.message())),
    }
}

/// Validate an inline policy put on `holder` under `name`: the document must be a valid
/// identity policy, and the holder's inline policies together (this one replacing any of the
/// same name) must stay within IAM's aggregate size limit (white space not counted).
pub fn check_inline_document<H: Holder>(holder: &H, name: &str, doc: &str) -> ApiResult<()> {
    let kind = PolicyKind::Identity(H::ATTACHMENT);
    if let Err(e) = Policy::parse_with(
        doc,
        kind,
        &ParseOptions {
            size_limit: SizeLimit::Unlimited,
        },
    ) {
        return Err(ApiError::malformed_policy_document(e.message()));
    }
    let limit = kind.default_max_chars().unwrap_or(usize::MAX);
    let others: usize = holder
        .inline()
        .iter()
        .filter(|(n, _)| !n.eq_ignore_ascii_case(name))
        .map(|(_, d)| policy_size(d, kind))
        .sum();
    if others + policy_size(doc, kind) > limit {
        return Err(ApiError::limit_exceeded(format!(
            "Maximum policy size of {limit} bytes exceeded for {} {}",
            H::WORD,
            holder.name()
        )));
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------
// managed policies
// ---------------------------------------------------------------------------------------

/// A managed policy an ARN names: built in (AWS managed) or stored (customer managed).
#[derive(Debug, Clone)]
pub enum ManagedPolicy {
    Aws(&'static AwsManagedPolicy),
    /// A customer managed policy and its store version.
    Local(Box<PolicyDoc>, i64),
}

impl ManagedPolicy {
    pub fn arn(&self, account: &str) -> String {
        match self {
            ManagedPolicy::Aws(p) => p.arn.to_string(),
            ManagedPolicy::Local(d, _) => d.arn(account),
        }
    }

    pub fn name(&self) -> &str {
        match self {
            ManagedPolicy::Aws(p) => p.name,
            ManagedPolicy::Local(d, _) => &d.name,
        }
    }
}

/// `NoSuchEntity` for a managed policy that GetPolicy & co. cannot find.
pub fn policy_not_found(arn: &str) -> ApiError {
    ApiError::no_such_entity(format!("Policy {arn} was not found."))
}

/// `NoSuchEntity` for a managed policy that cannot be attached (missing, another account's).
pub fn policy_not_attachable(arn: &str) -> ApiError {
    ApiError::no_such_entity(format!("Policy {arn} does not exist or is not attachable."))
}

/// `InvalidInput` for a `PolicyArn` that is not a managed policy ARN.
pub fn invalid_policy_arn(arn: &str) -> ApiError {
    ApiError::invalid_input(format!("ARN {arn} is not valid."))
}

/// AWS managed policies cannot be changed by anyone: AWS answers `AccessDenied`.
pub fn aws_managed_unmodifiable(cx: &ActionCtx<'_>, caller: &Caller, arn: &str) -> ApiError {
    ApiError::access_denied(format!(
        "User: {} is not authorized to perform: iam:{} on resource: policy {arn} because policies managed by AWS cannot be modified",
        caller.principal().arn(),
        cx.action
    ))
}

/// Authorize an action on a managed policy ARN. AWS managed policies live in the `aws`
/// pseudo-account but every account may use them: their ARN is evaluated as a resource of the
/// caller's own account, so the caller's identity policies alone decide (no resource-based
/// policy is needed, as in AWS).
pub async fn authorize_policy(cx: &ActionCtx<'_>, caller: &Caller, arn: &str) -> ApiResult<()> {
    if aws_managed::is_aws_managed_arn(arn) {
        let account = caller.account_id().to_string();
        let action = format!("iam:{}", cx.action);
        crate::authz::authorize(cx, caller, &action, arn, |c| {
            c.with_resource_account(account)
        })
        .await
    } else {
        authorize(cx, caller, arn).await
    }
}

/// Resolve a managed policy ARN. `InvalidInput` if it is not a policy ARN; `Ok(None)` if it
/// names nothing this account can use (a missing policy, another account's policy, an AWS
/// managed policy that is not built in). The path in the ARN must be the policy's.
pub async fn find_policy(
    cx: &ActionCtx<'_>,
    account: &str,
    arn: &str,
) -> ApiResult<Option<ManagedPolicy>> {
    let Some((owner, path, name)) = managed_policy_arn_parts(arn) else {
        return Err(invalid_policy_arn(arn));
    };
    if owner == aws_managed::AWS_ACCOUNT {
        return Ok(aws_managed::get(arn).map(ManagedPolicy::Aws));
    }
    if owner != account {
        return Ok(None);
    }
    let Some(e) = cx
        .state
        .store
        .get_entity(account, KIND_POLICY, &name)
        .await?
    else {
        return Ok(None);
    };
    let doc: PolicyDoc = decode_entity(&e)?;
    if doc.path != path || doc.name != name {
        return Ok(None);
    }
    Ok(Some(ManagedPolicy::Local(Box::new(doc), e.version)))
}

/// For the actions that change a managed policy: authorize on the ARN, refuse AWS managed
/// policies, and return the customer managed policy (`NoSuchEntity` if there is none) with its
/// store version.
pub async fn load_local_policy(
    cx: &ActionCtx<'_>,
    caller: &Caller,
    arn: &str,
) -> ApiResult<(PolicyDoc, i64)> {
    authorize_policy(cx, caller, arn).await?;
    match find_policy(cx, caller.account_id(), arn).await? {
        Some(ManagedPolicy::Local(doc, version)) => Ok((*doc, version)),
        Some(ManagedPolicy::Aws(_)) => Err(aws_managed_unmodifiable(cx, caller, arn)),
        None => Err(policy_not_found(arn)),
    }
}

/// Read-modify-write of a customer managed policy (found by [`load_local_policy`]).
pub async fn modify_policy(
    cx: &ActionCtx<'_>,
    account: &str,
    policy: &PolicyDoc,
    mut change: impl FnMut(&mut PolicyDoc) -> ApiResult<()>,
) -> ApiResult<PolicyDoc> {
    let arn = policy.arn(account);
    let path = policy.path.clone();
    modify_entity(
        cx,
        account,
        KIND_POLICY,
        &policy.name,
        || policy_not_found(&arn),
        |doc: &mut PolicyDoc| {
            if doc.path != path {
                // Deleted and created again elsewhere in between.
                return Err(policy_not_found(&arn));
            }
            change(doc)
        },
    )
    .await
}

/// How a managed policy is used in the account.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    /// Users, roles and groups it is attached to.
    pub attachments: i64,
    /// Users and roles it is the permissions boundary of.
    pub boundaries: i64,
}

/// Attachment and boundary counts of every managed policy used in the account, by ARN.
pub async fn usage(cx: &ActionCtx<'_>, account: &str) -> ApiResult<HashMap<String, Counts>> {
    let store = &cx.state.store;
    let mut by_arn: HashMap<String, Counts> = HashMap::new();
    let mut count = |arns: &[String], boundary: Option<&String>| {
        for a in arns {
            by_arn.entry(a.clone()).or_default().attachments += 1;
        }
        if let Some(b) = boundary {
            by_arn.entry(b.clone()).or_default().boundaries += 1;
        }
    };
    for e in store.list_entities(account, KIND_USER).await? {
        let u: UserDoc = decode_entity(&e)?;
        count(&u.attached_policies, u.permissions_boundary.as_ref());
    }
    for e in store.list_entities(account, KIND_ROLE).await? {
        let r: RoleDoc = decode_entity(&e)?;
        count(&r.attached_policies, r.permissions_boundary.as_ref());
    }
    for e in store.list_entities(account, KIND_GROUP).await? {
        let g: GroupDoc = decode_entity(&e)?;
        count(&g.attached_policies, None);
    }
    Ok(by_arn)
}

/// Which members of the `Policy` shape a response carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PolicyView {
    /// GetPolicy, CreatePolicy: with Description and Tags.
    Full,
    /// ListPolicies: AWS leaves out Description and Tags.
    Listed,
}

/// The `Policy` shape (members in the model's order).
pub fn write_policy(
    x: &mut Xml,
    policy: &ManagedPolicy,
    account: &str,
    counts: Counts,
    view: PolicyView,
) {
    let f = policy.fields();
    x.elem("PolicyName", f.name)
        .elem("PolicyId", f.id)
        .elem("Arn", &policy.arn(account))
        .elem("Path", f.path)
        .elem("DefaultVersionId", f.default_version)
        .num("AttachmentCount", counts.attachments)
        .num("PermissionsBoundaryUsageCount", counts.boundaries)
        .bool("IsAttachable", true);
    if view == PolicyView::Full {
        x.opt("Description", f.description);
    }
    x.elem("CreateDate", &timestamp(f.created))
        .elem("UpdateDate", &timestamp(f.updated));
    if view == PolicyView::Full {
        write_tags(x, f.tags);
    }
}

/// The members of the `Policy` shape, whichever kind of managed policy it is.
struct PolicyFields<'a> {
    name: &'a str,
    id: &'a str,
    path: &'a str,
    default_version: &'a str,
    description: Option<&'a str>,
    created: i64,
    updated: i64,
    tags: &'a [Tag],
}

impl ManagedPolicy {
    fn fields(&self) -> PolicyFields<'_> {
        match self {
            ManagedPolicy::Aws(p) => PolicyFields {
                name: p.name,
                id: p.policy_id,
                path: p.path,
                default_version: p.default_version_id,
                description: Some(p.description),
                created: p.create_date,
                updated: p.update_date,
                tags: &[],
            },
            ManagedPolicy::Local(d, _) => PolicyFields {
                name: &d.name,
                id: &d.policy_id,
                path: &d.path,
                default_version: &d.default_version_id,
                description: d.description.as_deref(),
                created: d.create_date,
                updated: d.update_date,
                tags: &d.tags,
            },
        }
    }
}

/// The `PolicyVersion` shape; the document (URL-encoded, as IAM returns documents) only where
/// AWS includes it (GetPolicyVersion).
pub fn write_policy_version(
    x: &mut Xml,
    document: Option<&str>,
    version_id: &str,
    is_default: bool,
    created: i64,
) {
    if let Some(d) = document {
        x.elem("Document", &encode_policy_document(d));
    }
    x.elem("VersionId", version_id)
        .bool("IsDefaultVersion", is_default)
        .elem("CreateDate", &timestamp(created));
}

/// The number part of a `vN` version id (0 for what is not one).
pub fn version_number(id: &str) -> u32 {
    id.strip_prefix('v')
        .and_then(|n| n.parse().ok())
        .unwrap_or(0)
}

// ---------------------------------------------------------------------------------------
// users, roles and groups as policy holders
// ---------------------------------------------------------------------------------------

/// What inline policies and attachments are stored on: users, roles, groups.
pub trait Holder: Serialize + DeserializeOwned {
    /// Entity kind in the store.
    const KIND: &'static str;
    /// `user`, `role`, `group` (messages).
    const WORD: &'static str;
    /// `User`, `Role`, `Group` (quota names, XML members).
    const TITLE: &'static str;
    /// Which inline size limit applies.
    const ATTACHMENT: IdentityAttachment;

    fn name(&self) -> &str;
    fn arn(&self, account: &str) -> String;
    /// The ARN a missing entity is authorized on.
    fn arn_of_missing(account: &str, name: &str) -> String;
    fn inline(&self) -> &BTreeMap<String, String>;
    fn inline_mut(&mut self) -> &mut BTreeMap<String, String>;
    fn attached(&self) -> &[String];
    fn attached_mut(&mut self) -> &mut Vec<String>;
    /// Refuse changes to entities only AWS may change (service-linked roles).
    fn check_modifiable(&self) -> ApiResult<()> {
        Ok(())
    }

    fn not_found(name: &str) -> ApiError {
        ApiError::no_such_entity(format!(
            "The {} with name {name} cannot be found.",
            Self::WORD
        ))
    }

    fn inline_not_found(name: &str) -> ApiError {
        ApiError::no_such_entity(format!(
            "The {} policy with name {name} cannot be found.",
            Self::WORD
        ))
    }
}

impl Holder for UserDoc {
    const KIND: &'static str = KIND_USER;
    const WORD: &'static str = "user";
    const TITLE: &'static str = "User";
    const ATTACHMENT: IdentityAttachment = IdentityAttachment::UserInline;

    fn name(&self) -> &str {
        &self.name
    }
    fn arn(&self, account: &str) -> String {
        UserDoc::arn(self, account)
    }
    fn arn_of_missing(account: &str, name: &str) -> String {
        opensts_core::arn::user_arn(account, "/", name)
    }
    fn inline(&self) -> &BTreeMap<String, String> {
        &self.inline_policies
    }
    fn inline_mut(&mut self) -> &mut BTreeMap<String, String> {
        &mut self.inline_policies
    }
    fn attached(&self) -> &[String] {
        &self.attached_policies
    }
    fn attached_mut(&mut self) -> &mut Vec<String> {
        &mut self.attached_policies
    }
}

impl Holder for RoleDoc {
    const KIND: &'static str = KIND_ROLE;
    const WORD: &'static str = "role";
    const TITLE: &'static str = "Role";
    const ATTACHMENT: IdentityAttachment = IdentityAttachment::RoleInline;

    fn name(&self) -> &str {
        &self.name
    }
    fn arn(&self, account: &str) -> String {
        RoleDoc::arn(self, account)
    }
    fn arn_of_missing(account: &str, name: &str) -> String {
        opensts_core::arn::role_arn(account, "/", name)
    }
    fn inline(&self) -> &BTreeMap<String, String> {
        &self.inline_policies
    }
    fn inline_mut(&mut self) -> &mut BTreeMap<String, String> {
        &mut self.inline_policies
    }
    fn attached(&self) -> &[String] {
        &self.attached_policies
    }
    fn attached_mut(&mut self) -> &mut Vec<String> {
        &mut self.attached_policies
    }
    fn check_modifiable(&self) -> ApiResult<()> {
        if self.path.starts_with("/aws-service-role/") {
            return Err(ApiError::new(
                "UnmodifiableEntity",
                http::StatusCode::BAD_REQUEST,
                format!(
                    "Cannot perform the operation on the protected role '{}' - this role is only modifiable by AWS",
                    self.name
                ),
            ));
        }
        Ok(())
    }
}

impl Holder for GroupDoc {
    const KIND: &'static str = KIND_GROUP;
    const WORD: &'static str = "group";
    const TITLE: &'static str = "Group";
    const ATTACHMENT: IdentityAttachment = IdentityAttachment::GroupInline;

    fn name(&self) -> &str {
        &self.name
    }
    fn arn(&self, account: &str) -> String {
        GroupDoc::arn(self, account)
    }
    fn arn_of_missing(account: &str, name: &str) -> String {
        opensts_core::arn::group_arn(account, "/", name)
    }
    fn inline(&self) -> &BTreeMap<String, String> {
        &self.inline_policies
    }
    fn inline_mut(&mut self) -> &mut BTreeMap<String, String> {
        &mut self.inline_policies
    }
    fn attached(&self) -> &[String] {
        &self.attached_policies
    }
    fn attached_mut(&mut self) -> &mut Vec<String> {
        &mut self.attached_policies
    }
}

/// The holder's name member (`UserName`, `RoleName`, `GroupName`) with its model length.
pub fn holder_name<'a, H: Holder>(
    v: &mut Violations,
    p: &'a Params,
    max: usize,
) -> Option<&'a str> {
    v.string(
        p,
        &format!("{}Name", H::TITLE),
        true,
        1,
        max,
        Some(CharRule::IamName),
    )
}

/// Read a user, role or group and authorize the call on it (on `<kind>/<name>` when it does
/// not exist, so a caller without permission learns nothing).
pub async fn load_holder<H: Holder>(
    cx: &ActionCtx<'_>,
    caller: &Caller,
    name: &str,
) -> ApiResult<H> {
    let account = caller.account_id();
    let Some(e) = cx.state.store.get_entity(account, H::KIND, name).await? else {
        authorize(cx, caller, &H::arn_of_missing(account, name)).await?;
        return Err(H::not_found(name));
    };
    let doc: H = decode_entity(&e)?;
    authorize(cx, caller, &doc.arn(account)).await?;
    Ok(doc)
}

/// Read-modify-write of a user, role or group, authorized on it first.
pub async fn modify_holder<H: Holder>(
    cx: &ActionCtx<'_>,
    caller: &Caller,
    name: &str,
    mut change: impl FnMut(&mut H) -> ApiResult<()>,
) -> ApiResult<H> {
    let first: H = load_holder(cx, caller, name).await?;
    first.check_modifiable()?;
    modify_entity(
        cx,
        caller.account_id(),
        H::KIND,
        name,
        || H::not_found(name),
        |doc: &mut H| change(doc),
    )
    .await
}

/// The inline policy of `holder` called `name` (names compare case-insensitively, as IAM's).
pub fn find_inline<'a, H: Holder>(holder: &'a H, name: &str) -> Option<(&'a String, &'a String)> {
    holder
        .inline()
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(name))
}

// ---------------------------------------------------------------------------------------
// the shared bodies of the per-entity actions
// ---------------------------------------------------------------------------------------

/// Attach{User,Role,Group}Policy.
pub async fn attach<H: Holder>(
    cx: &ActionCtx<'_>,
    caller: &Caller,
    p: &Params,
    name_max: usize,
) -> ApiResult<Reply> {
    let mut v = Violations::new();
    let name = holder_name::<H>(&mut v, p, name_max);
    let arn = policy_arn(&mut v, p);
    v.into_result()?;
    let (Some(name), Some(arn)) = (name, arn) else {
        return Err(ApiError::internal());
    };
    let account = caller.account_id();
    let holder: H = load_holder(cx, caller, name).await?;
    holder.check_modifiable()?;
    let Some(policy) = find_policy(cx, account, arn).await? else {
        return Err(policy_not_attachable(arn));
    };
    let canonical = policy.arn(account);
    modify_holder(cx, caller, name, |h: &mut H| {
        if h.attached().contains(&canonical) {
            return Ok(()); // attaching twice is not an error
        }
        if h.attached().len() >= MAX_ATTACHED_POLICIES {
            return Err(ApiError::limit_exceeded(format!(
                "Cannot exceed quota for PoliciesPer{}: {MAX_ATTACHED_POLICIES}",
                H::TITLE
            )));
        }
        h.attached_mut().push(canonical.clone());
        Ok(())
    })
    .await?;
    Ok(None)
}

/// Detach{User,Role,Group}Policy.
pub async fn detach<H: Holder>(
    cx: &ActionCtx<'_>,
    caller: &Caller,
    p: &Params,
    name_max: usize,
) -> ApiResult<Reply> {
    let mut v = Violations::new();
    let name = holder_name::<H>(&mut v, p, name_max);
    let arn = policy_arn(&mut v, p);
    v.into_result()?;
    let (Some(name), Some(arn)) = (name, arn) else {
        return Err(ApiError::internal());
    };
    if managed_policy_arn_parts(arn).is_none() {
        // Authorize before saying anything about the request's target.
        load_holder::<H>(cx, caller, name).await?;
        return Err(invalid_policy_arn(arn));
    }
    modify_holder(cx, caller, name, |h: &mut H| {
        let before = h.attached().len();
        h.attached_mut().retain(|a| a != arn);
        if h.attached().len() == before {
            return Err(policy_not_found(arn));
        }
        Ok(())
    })
    .await?;
    Ok(None)
}

/// ListAttached{User,Role,Group}Policies.
pub async fn list_attached<H: Holder>(
    cx: &ActionCtx<'_>,
    caller: &Caller,
    p: &Params,
    name_max: usize,
) -> ApiResult<Reply> {
    let mut v = Violations::new();
    let name = holder_name::<H>(&mut v, p, name_max);
    let prefix = policy_path(&mut v, p, "PathPrefix");
    let page = crate::actions::iam::parse_page(&mut v, p);
    v.into_result()?;
    let Some(name) = name else {
        return Err(ApiError::internal());
    };
    let holder: H = load_holder(cx, caller, name).await?;
    let prefix = prefix.unwrap_or_else(|| "/".to_string());
    let mut items: Vec<(String, String)> = holder
        .attached()
        .iter()
        .filter_map(|arn| {
            let (_, path, pname) = managed_policy_arn_parts(arn)?;
            path.starts_with(&prefix).then(|| (pname, arn.clone()))
        })
        .collect();
    items.sort_by(|a, b| a.1.cmp(&b.1));
    let (items, next) = paginate(items, |(_, arn)| arn.clone(), &page)?;
    let mut x = Xml::new();
    x.open("AttachedPolicies");
    for (pname, arn) in &items {
        x.open("member")
            .elem("PolicyName", pname)
            .elem("PolicyArn", arn)
            .close("member");
    }
    x.close("AttachedPolicies");
    write_page_end(&mut x, next.as_deref());
    Ok(Some(x.into_string()))
}

/// Put{User,Role,Group}Policy.
pub async fn put_inline<H: Holder>(
    cx: &ActionCtx<'_>,
    caller: &Caller,
    p: &Params,
    name_max: usize,
) -> ApiResult<Reply> {
    let mut v = Violations::new();
    let name = holder_name::<H>(&mut v, p, name_max);
    let pname = policy_name(&mut v, p);
    let doc = policy_document(&mut v, p);
    v.into_result()?;
    let (Some(name), Some(pname), Some(doc)) = (name, pname, doc) else {
        return Err(ApiError::internal());
    };
    modify_holder(cx, caller, name, |h: &mut H| {
        check_inline_document(h, pname, doc)?;
        // Replacing a policy keeps one entry per name (compared case-insensitively).
        h.inline_mut().retain(|n, _| !n.eq_ignore_ascii_case(pname));
        h.inline_mut().insert(pname.to_string(), doc.to_string());
        Ok(())
    })
    .await?;
    Ok(None)
}

/// Get{User,Role,Group}Policy.
pub async fn get_inline<H: Holder>(
    cx: &ActionCtx<'_>,
    caller: &Caller,
    p: &Params,
    name_max: usize,
) -> ApiResult<Reply> {
    let mut v = Violations::new();
    let name = holder_name::<H>(&mut v, p, name_max);
    let pname = policy_name(&mut v, p);
    v.into_result()?;
    let (Some(name), Some(pname)) = (name, pname) else {
        return Err(ApiError::internal());
    };
    let holder: H = load_holder(cx, caller, name).await?;
    let Some((stored_name, doc)) = find_inline(&holder, pname) else {
        return Err(H::inline_not_found(pname));
    };
    let mut x = Xml::new();
    x.elem(&format!("{}Name", H::TITLE), holder.name())
        .elem("PolicyName", stored_name)
        .elem("PolicyDocument", &encode_policy_document(doc));
    Ok(Some(x.into_string()))
}

/// Delete{User,Role,Group}Policy.
pub async fn delete_inline<H: Holder>(
    cx: &ActionCtx<'_>,
    caller: &Caller,
    p: &Params,
    name_max: usize,
) -> ApiResult<Reply> {
    let mut v = Violations::new();
    let name = holder_name::<H>(&mut v, p, name_max);
    let pname = policy_name(&mut v, p);
    v.into_result()?;
    let (Some(name), Some(pname)) = (name, pname) else {
        return Err(ApiError::internal());
    };
    modify_holder(cx, caller, name, |h: &mut H| {
        let before = h.inline().len();
        h.inline_mut().retain(|n, _| !n.eq_ignore_ascii_case(pname));
        if h.inline().len() == before {
            return Err(H::inline_not_found(pname));
        }
        Ok(())
    })
    .await?;
    Ok(None)
}

/// List{User,Role,Group}Policies.
pub async fn list_inline<H: Holder>(
    cx: &ActionCtx<'_>,
    caller: &Caller,
    p: &Params,
    name_max: usize,
) -> ApiResult<Reply> {
    let mut v = Violations::new();
    let name = holder_name::<H>(&mut v, p, name_max);
    let page = crate::actions::iam::parse_page(&mut v, p);
    v.into_result()?;
    let Some(name) = name else {
        return Err(ApiError::internal());
    };
    let holder: H = load_holder(cx, caller, name).await?;
    let mut names: Vec<String> = holder.inline().keys().cloned().collect();
    names.sort_by_key(|n| n.to_lowercase());
    let (names, next) = paginate(names, |n| n.to_lowercase(), &page)?;
    Ok(Some(write_name_list(&names, next.as_deref())))
}

fn write_name_list(names: &[String], next: Option<&str>) -> String {
    let mut x = Xml::new();
    x.open("PolicyNames");
    for n in names {
        x.elem("member", n);
    }
    x.close("PolicyNames");
    write_page_end(&mut x, next);
    x.into_string()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn version_ids() {
        for ok in ["v1", "v12", "v5.abc-1", "v9."] {
            assert!(is_version_id(ok), "{ok}");
        }
        for bad in ["", "v", "v0", "v01", "1", "V1", "v1.a_b", "vx"] {
            assert!(!is_version_id(bad), "{bad}");
        }
        assert_eq!(version_number("v12"), 12);
        assert_eq!(version_number("x"), 0);
    }

    #[test]
    fn policy_paths() {
        for ok in ["/", "/a/", "/a/b-c/", "/x.y,z+w@q=r_s/"] {
            assert!(is_policy_path(ok), "{ok}");
        }
        for bad in ["", "a/", "/a", "//", "/a//b/", "/a b/", "/é/", "/a~/"] {
            assert!(!is_policy_path(bad), "{bad}");
        }
    }

    fn user() -> UserDoc {
        // From JSON, so fields other families add (with serde defaults) need no change here.
        serde_json::from_value(serde_json::json!({
            "name": "bob",
            "user_id": "AIDAEXAMPLE0000000001",
            "path": "/",
            "create_date": 0
        }))
        .unwrap()
    }

    fn doc_of_size(n_actions: usize) -> String {
        let actions: Vec<String> = (0..n_actions).map(|i| format!("\"s3:A{i:04}\"")).collect();
        format!(
            "{{\"Version\":\"2012-10-17\",\"Statement\":[{{\"Effect\":\"Allow\",\"Action\":[{}],\"Resource\":\"*\"}}]}}",
            actions.join(",")
        )
    }

    #[test]
    fn inline_size_is_aggregated_over_the_holder() {
        let mut u = user();
        let d = doc_of_size(90); // 1073 non-white-space characters
        let size = policy_size(&d, PolicyKind::Identity(IdentityAttachment::UserInline));
        assert!(size > 1000 && size < 1100, "{size}");
        check_inline_document(&u, "a", &d).unwrap();
        u.inline_policies.insert("a".into(), d.clone());
        // A second one of the same size still fits (≈2000 < 2048) …
        let small = doc_of_size(80);
        check_inline_document(&u, "b", &small).unwrap();
        // … a bigger one does not, with AWS's message.
        let e = check_inline_document(&u, "b", &d).unwrap_err();
        assert_eq!(e.code, "LimitExceeded");
        assert_eq!(
            e.message,
            "Maximum policy size of 2048 bytes exceeded for user bob"
        );
        // Replacing "a" (any case) does not count the old version.
        check_inline_document(&u, "A", &d).unwrap();
        // White space is not counted.
        let spaced = d.replace(',', " ,   \n ");
        check_inline_document(&u, "a", &spaced).unwrap();
    }

    #[test]
    fn inline_documents_are_validated() {
        let u = user();
        let e = check_inline_document(&u, "a", "{").unwrap_err();
        assert_eq!(e.code, "MalformedPolicyDocument");
        let with_principal = r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Principal":"*","Action":"s3:*","Resource":"*"}}"#;
        let e = check_inline_document(&u, "a", with_principal).unwrap_err();
        assert_eq!(e.code, "MalformedPolicyDocument");
    }

    #[test]
    fn managed_documents_are_validated() {
        check_managed_document(&doc_of_size(10)).unwrap();
        let e = check_managed_document(&doc_of_size(700)).unwrap_err();
        assert_eq!(e.code, "LimitExceeded");
        assert_eq!(e.message, "Cannot exceed quota for PolicySize: 6144");
        let e = check_managed_document("not json").unwrap_err();
        assert_eq!(e.code, "MalformedPolicyDocument");
    }
}
