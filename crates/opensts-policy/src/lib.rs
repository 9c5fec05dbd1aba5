//! The IAM policy language: parse, validate and decide like AWS.
//!
//! Pure: no I/O and no clock. Time and everything else about the request are inputs
//! ([`RequestContext`]). Every policy OpenSTS enforces — trust policies, identity policies,
//! session policies, permissions boundaries, SCPs and RCPs — goes through this one engine.
//!
//! # Parsing
//!
//! [`Policy::parse`] validates a document for a [`PolicyKind`] (which elements are required or
//! prohibited, the size limit) and compiles it for evaluation (patterns, condition values,
//! policy variables). A rejected document yields a [`PolicyError`] whose
//! [`message`](PolicyError::message) is the `MalformedPolicyDocument` text, AWS's own wording
//! where it is known (`Syntax errors in policy.`, `Policy document should not specify a
//! principal.`, `Has prohibited field Resource`, `Missing required field Principal`,
//! `Invalid principal in policy: "AWS":"…"`, `Policy statement must contain actions.`, …);
//! [`PolicyError::kind`] tells a size-limit failure apart (AWS reports those with another code).
//! Size limits are the constants in this crate root ([`MANAGED_POLICY_MAX_CHARS`], …).
//!
//! # Evaluating
//!
//! [`evaluate`] takes an [`EvaluationInput`] (borrowed policy sets, each policy labelled by a
//! caller-given id) and a [`RequestContext`], and returns a [`Decision`]: allowed or not,
//! whether an explicit deny decided it, a [`Reason`], the statements that decided it and the
//! context. `Decision` is serde-serializable; [`Decision::authorization_message`] renders the
//! AWS `DecodeAuthorizationMessage` JSON.
//!
//! ```
//! use opensts_policy::*;
//!
//! // AssumeRole: the caller (a user in the same account) is named in the role's trust policy.
//! let trust = Policy::parse(r#"{
//!   "Version": "2012-10-17",
//!   "Statement": [{
//!     "Sid": "TrustBob", "Effect": "Allow",
//!     "Principal": {"AWS": "arn:aws:iam::111122223333:user/bob"},
//!     "Action": "sts:AssumeRole",
//!     "Condition": {"StringEquals": {"sts:ExternalId": "x-1"}}
//!   }]
//! }"#, PolicyKind::Trust).unwrap();
//! let ctx = RequestContext::new("sts:AssumeRole", "arn:aws:iam::111122223333:role/Deploy")
//!     .with_principal(RequestPrincipal::user("arn:aws:iam::111122223333:user/bob", "AIDAEXAMPLEBOB000001"))
//!     .with_external_id("x-1");
//! let input = EvaluationInput {
//!     resource: Some(PolicyRef::new("role/Deploy#trust", &trust)),
//!     ..Default::default()
//! };
//! let d = evaluate(&input, &ctx);
//! assert!(d.allowed());
//! assert_eq!(d.matched_statements()[0].statement.sid(), Some("TrustBob"));
//!
//! // An IAM action checked against the caller's identity policies.
//! let identity = Policy::parse(r#"{
//!   "Version": "2012-10-17",
//!   "Statement": {"Effect": "Allow", "Action": "iam:*AccessKey*",
//!                 "Resource": "arn:aws:iam::111122223333:user/${aws:username}"}
//! }"#, PolicyKind::Identity(IdentityAttachment::Managed)).unwrap();
//! let ctx = RequestContext::new("iam:CreateAccessKey", "arn:aws:iam::111122223333:user/bob")
//!     .with_principal(RequestPrincipal::user("arn:aws:iam::111122223333:user/bob", "AIDAEXAMPLEBOB000001"));
//! let refs = [PolicyRef::new("arn:aws:iam::111122223333:policy/self-keys", &identity)];
//! let d = evaluate(&EvaluationInput { identity: &refs, ..Default::default() }, &ctx);
//! assert!(d.allowed());
//! assert_eq!(d.reason(), Reason::AllowedByIdentityPolicy);
//! ```
//!
//! # Semantics summary
//!
//! * Actions: case-insensitive, `*`/`?` anywhere. Resources: case-sensitive, matched per ARN
//!   component (wildcards never cross the first five colons; `*` in the resource part spans
//!   `/` and `:`).
//! * Principals: an account id or `arn:…:root` names every principal of the account
//!   ([`PrincipalMatch::Account`]); a role ARN names that role's sessions
//!   ([`PrincipalMatch::Entity`]); a user, session or federated-user ARN, a unique id, `*`, or a
//!   `Federated`/`Service`/`CanonicalUser` value names exactly one principal
//!   ([`PrincipalMatch::Exact`]). `NotPrincipal` exempts a principal only when its account,
//!   role and session (or account and user) are all listed.
//! * Conditions: operators AND, keys AND, values OR (NOR for negated operators). Key names
//!   are case-insensitive. An absent (or empty) key: positive operators false, negated
//!   operators true, `…IfExists` true, `ForAllValues` true, `ForAnyValue` false.
//! * Variables (`${aws:username}`, `${aws:PrincipalTag/team, 'default'}`, `${*}`, `${?}`,
//!   `${$}`, provider claims) in `Resource` and in String/ARN/Bool condition values when the
//!   policy's `Version` is 2012-10-17; an unresolvable variable makes that comparison fail.

#![warn(missing_docs)]

mod condition;
mod context;
mod error;
mod eval;
mod json;
mod kind;
mod pattern;
mod policy;
mod principal;

pub use condition::{BaseOperator, Condition, Operator, SetQualifier, parse_date};
pub use context::{ContextKeys, PrincipalType, RequestContext, RequestPrincipal};
pub use error::{PolicyError, PolicyErrorKind};
pub use eval::{
    Decision, EvaluationInput, MatchedStatement, PolicyRef, PolicyType, Reason, evaluate,
};
pub use kind::{
    GROUP_INLINE_POLICY_MAX_CHARS, IdentityAttachment, MANAGED_POLICY_MAX_CHARS, PolicyKind,
    RESOURCE_CONTROL_POLICY_MAX_CHARS, ROLE_INLINE_POLICY_MAX_CHARS,
    SERVICE_CONTROL_POLICY_MAX_CHARS, SESSION_POLICY_MAX_CHARS, SizeLimit,
    TRUST_POLICY_DEFAULT_MAX_CHARS, TRUST_POLICY_MAX_CHARS_CEILING, USER_INLINE_POLICY_MAX_CHARS,
    policy_size,
};
pub use pattern::{arn_match, wildcard_match};
pub use policy::{Effect, ParseOptions, Policy, PolicyVersion, Statement};
pub use principal::{PrincipalBlock, PrincipalMatch};
