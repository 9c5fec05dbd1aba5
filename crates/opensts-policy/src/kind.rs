//! Policy kinds and their size limits.

/// Maximum size of a customer managed policy (IAM `CreatePolicy`/`CreatePolicyVersion`), in
/// characters, white space not counted. Also the limit for a permissions boundary, which is a
/// managed policy.
pub const MANAGED_POLICY_MAX_CHARS: usize = 6_144;
/// Maximum size of the inline policies of an IAM user (`PutUserPolicy`), white space not counted.
/// AWS applies it to the *total* of a user's inline policies; [`policy_size`] lets the caller
/// add them up.
pub const USER_INLINE_POLICY_MAX_CHARS: usize = 2_048;
/// Maximum size of the inline policies of an IAM role (`PutRolePolicy`), white space not counted
/// (total over the role's inline policies).
pub const ROLE_INLINE_POLICY_MAX_CHARS: usize = 10_240;
/// Maximum size of the inline policies of an IAM group (`PutGroupPolicy`), white space not
/// counted (total over the group's inline policies).
pub const GROUP_INLINE_POLICY_MAX_CHARS: usize = 5_120;
/// Default maximum size of a role trust policy (`AssumeRolePolicyDocument`), white space not
/// counted. AWS lets an account raise it (quota "Role trust policy length").
pub const TRUST_POLICY_DEFAULT_MAX_CHARS: usize = 2_048;
/// The highest value the trust policy limit can be configured to.
pub const TRUST_POLICY_MAX_CHARS_CEILING: usize = 4_096;
/// Maximum size of an STS session policy passed as `Policy` (plain text, white space counted).
/// `AssumeRoleWithSAML`, `AssumeRoleWithWebIdentity` and `GetFederationToken` model it as 2048;
/// `AssumeRole`'s `Policy` has no model maximum (it is limited by the packed size), so the
/// server parses it with [`SizeLimit::Unlimited`].
pub const SESSION_POLICY_MAX_CHARS: usize = 2_048;
/// Maximum size of an Organizations service control policy, in characters.
pub const SERVICE_CONTROL_POLICY_MAX_CHARS: usize = 5_120;
/// Maximum size of an Organizations resource control policy, in characters.
pub const RESOURCE_CONTROL_POLICY_MAX_CHARS: usize = 5_120;

/// Where an identity-based policy is attached; selects the size limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum IdentityAttachment {
    /// Inline policy of an IAM user ([`USER_INLINE_POLICY_MAX_CHARS`]).
    UserInline,
    /// Inline policy of an IAM role ([`ROLE_INLINE_POLICY_MAX_CHARS`]).
    RoleInline,
    /// Inline policy of an IAM group ([`GROUP_INLINE_POLICY_MAX_CHARS`]).
    GroupInline,
    /// Customer managed policy ([`MANAGED_POLICY_MAX_CHARS`]); requires `Version` 2012-10-17.
    Managed,
}

/// What a policy document is used as. Selects the validation rules (which elements are
/// required or prohibited) and the size limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PolicyKind {
    /// Identity-based permissions policy: no `Principal`, `Resource` required.
    Identity(IdentityAttachment),
    /// Role trust policy (the role's resource-based policy): `Principal` required,
    /// `NotPrincipal`, `Resource` and `NotResource` prohibited.
    Trust,
    /// STS session policy (inline `Policy` or a managed policy passed as `PolicyArns`):
    /// identity rules, plain-text limit [`SESSION_POLICY_MAX_CHARS`] with white space counted.
    Session,
    /// Permissions boundary (a managed policy): identity rules, managed limit, Version 2012-10-17.
    Boundary,
    /// Organizations service control policy: identity rules.
    ServiceControl,
    /// Organizations resource control policy: `Principal` required.
    ResourceControl,
    /// A generic resource-based policy (S3 bucket policy, KMS key policy, …) for resource
    /// servers reusing this crate: `Principal` required, no size limit.
    Resource,
}

impl PolicyKind {
    /// The default size limit for this kind, if any.
    pub fn default_max_chars(self) -> Option<usize> {
        Some(match self {
            PolicyKind::Identity(IdentityAttachment::UserInline) => USER_INLINE_POLICY_MAX_CHARS,
            PolicyKind::Identity(IdentityAttachment::RoleInline) => ROLE_INLINE_POLICY_MAX_CHARS,
            PolicyKind::Identity(IdentityAttachment::GroupInline) => GROUP_INLINE_POLICY_MAX_CHARS,
            PolicyKind::Identity(IdentityAttachment::Managed) | PolicyKind::Boundary => {
                MANAGED_POLICY_MAX_CHARS
            }
            PolicyKind::Trust => TRUST_POLICY_DEFAULT_MAX_CHARS,
            PolicyKind::Session => SESSION_POLICY_MAX_CHARS,
            PolicyKind::ServiceControl => SERVICE_CONTROL_POLICY_MAX_CHARS,
            PolicyKind::ResourceControl => RESOURCE_CONTROL_POLICY_MAX_CHARS,
            PolicyKind::Resource => return None,
        })
    }

    /// IAM-stored policies do not count white space towards their size; STS session policies
    /// are limited as plain text.
    pub fn counts_whitespace(self) -> bool {
        matches!(self, PolicyKind::Session)
    }

    /// Kinds whose statements carry a `Principal`/`NotPrincipal` (resource-based policies).
    pub fn is_resource_based(self) -> bool {
        matches!(
            self,
            PolicyKind::Trust | PolicyKind::ResourceControl | PolicyKind::Resource
        )
    }

    /// Kinds that must use `Version` 2012-10-17 (managed policies).
    pub(crate) fn requires_current_version(self) -> bool {
        matches!(
            self,
            PolicyKind::Identity(IdentityAttachment::Managed) | PolicyKind::Boundary
        )
    }

    /// The message AWS returns when the limit is exceeded.
    pub(crate) fn too_large_message(self, limit: usize) -> String {
        match self {
            PolicyKind::Identity(IdentityAttachment::Managed) | PolicyKind::Boundary => {
                format!("Cannot exceed quota for PolicySize: {limit}")
            }
            PolicyKind::Trust => format!("Cannot exceed quota for ACLSizePerRole: {limit}"),
            PolicyKind::Identity(IdentityAttachment::UserInline) => {
                format!("Maximum policy size of {limit} bytes exceeded for user")
            }
            PolicyKind::Identity(IdentityAttachment::RoleInline) => {
                format!("Maximum policy size of {limit} bytes exceeded for role")
            }
            PolicyKind::Identity(IdentityAttachment::GroupInline) => {
                format!("Maximum policy size of {limit} bytes exceeded for group")
            }
            PolicyKind::Session => format!(
                "Value at 'policy' failed to satisfy constraint: Member must have length less than or equal to {limit}"
            ),
            PolicyKind::ServiceControl | PolicyKind::ResourceControl | PolicyKind::Resource => {
                format!("Policy document exceeds the maximum size of {limit} characters.")
            }
        }
    }
}

/// Which size limit to apply when parsing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SizeLimit {
    /// The kind's default ([`PolicyKind::default_max_chars`]).
    #[default]
    Default,
    /// An explicit limit in characters (e.g. a trust policy limit raised to
    /// [`TRUST_POLICY_MAX_CHARS_CEILING`]).
    Chars(usize),
    /// No size check (the caller enforces its own, e.g. packed size for AssumeRole).
    Unlimited,
}

/// The size of a policy document as AWS counts it for `kind`: characters, white space excluded
/// unless the kind counts it (session policies).
pub fn policy_size(json: &str, kind: PolicyKind) -> usize {
    if kind.counts_whitespace() {
        json.chars().count()
    } else {
        json.chars().filter(|c| !c.is_whitespace()).count()
    }
}
