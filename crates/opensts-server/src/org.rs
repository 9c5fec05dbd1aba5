//! The organization: the default account is its management account, every other account is a
//! member. Service control policies (SCPs) and resource control policies (RCPs) are kept in one
//! document in the management account (entity kind [`KIND_ORG`]) and read through the entity
//! cache, so authorization sees them without extra store round trips.
//!
//! Levels: the organization root and the account (no OUs). AWS's `FullAWSAccess` SCP and
//! `RCPFullAWSAccess` RCP are attached to the root and to every account unless detached;
//! an account created later gets them too.

use std::collections::BTreeSet;

use opensts_policy::PolicyKind;
use serde::{Deserialize, Serialize};

use crate::authz::{LabelledPolicy, parse_or_deny_all};
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;

/// Entity kind (in the management account) of the organization document.
pub const KIND_ORG: &str = "organization";
/// Entity name of the organization document.
pub const ORG_ENTITY: &str = "organization";

pub const SCP: &str = "SERVICE_CONTROL_POLICY";
pub const RCP: &str = "RESOURCE_CONTROL_POLICY";
/// The AWS managed SCP attached everywhere by default.
pub const FULL_AWS_ACCESS_ID: &str = "p-FullAWSAccess";
/// The AWS managed RCP attached everywhere by default.
pub const RCP_FULL_AWS_ACCESS_ID: &str = "p-RCPFullAWSAccess";
const FULL_AWS_ACCESS_DOC: &str =
    r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"*","Resource":"*"}]}"#;
const RCP_FULL_AWS_ACCESS_DOC: &str = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":"*","Action":"*","Resource":"*"}]}"#;

/// Services whose resources RCPs govern (AWS's list; of them this server answers STS).
pub const RCP_SERVICES: &[&str] = &[
    "s3",
    "sts",
    "kms",
    "sqs",
    "secretsmanager",
    "cognito-identity",
    "logs",
    "ecr",
    "dynamodb",
    "aoss",
];

/// A customer managed organization policy.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct OrgPolicy {
    pub id: String,
    pub name: String,
    #[serde(default)]
    pub description: String,
    /// [`SCP`] or [`RCP`].
    #[serde(rename = "type")]
    pub policy_type: String,
    pub content: String,
    /// Root and account ids it is attached to.
    #[serde(default)]
    pub targets: Vec<String>,
}

/// The organization document.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct OrgDoc {
    #[serde(default)]
    pub policies: Vec<OrgPolicy>,
    /// (AWS managed policy id, target) pairs detached from their default attachment.
    #[serde(default)]
    pub detached_defaults: BTreeSet<(String, String)>,
    /// E-mail addresses of accounts made by CreateAccount.
    #[serde(default)]
    pub emails: std::collections::BTreeMap<String, String>,
    /// CreateAccountStatus records, oldest first (bounded).
    #[serde(default)]
    pub create_requests: Vec<serde_json::Value>,
}

/// A policy as the Organizations API shows it (customer or AWS managed).
#[derive(Debug, Clone, PartialEq)]
pub struct PolicyView {
    pub id: String,
    pub name: String,
    pub description: String,
    pub policy_type: String,
    pub content: String,
    pub aws_managed: bool,
}

/// The two AWS managed policies.
pub fn aws_managed() -> [PolicyView; 2] {
    [
        PolicyView {
            id: FULL_AWS_ACCESS_ID.to_string(),
            name: "FullAWSAccess".to_string(),
            description: "Allows access to every operation".to_string(),
            policy_type: SCP.to_string(),
            content: FULL_AWS_ACCESS_DOC.to_string(),
            aws_managed: true,
        },
        PolicyView {
            id: RCP_FULL_AWS_ACCESS_ID.to_string(),
            name: "RCPFullAWSAccess".to_string(),
            description: "Allows access to every operation".to_string(),
            policy_type: RCP.to_string(),
            content: RCP_FULL_AWS_ACCESS_DOC.to_string(),
            aws_managed: true,
        },
    ]
}

fn digest_chars(seed: &str, alphabet: &[u8], n: usize) -> String {
    let d = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, seed.as_bytes());
    d.as_ref()
        .iter()
        .take(n)
        .map(|b| char::from(alphabet[usize::from(*b) % alphabet.len()]))
        .collect()
}

const LOWER_ALNUM: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";

/// The organization id (`o-` + 10 characters), derived from the management account id so
/// every node agrees without a write.
pub fn org_id(management: &str) -> String {
    format!(
        "o-{}",
        digest_chars(&format!("org:{management}"), LOWER_ALNUM, 10)
    )
}

/// The root id (`r-` + 4 characters).
pub fn root_id(management: &str) -> String {
    format!(
        "r-{}",
        digest_chars(&format!("root:{management}"), LOWER_ALNUM, 4)
    )
}

/// The management account (the server's default account).
pub fn management_account(state: &AppState) -> &str {
    &state.default_account_id
}

pub fn is_management(state: &AppState, account: &str) -> bool {
    account == state.default_account_id
}

/// The organization document, through the entity cache.
pub async fn load(state: &AppState) -> ApiResult<OrgDoc> {
    let Some(e) = state
        .entity(management_account(state), KIND_ORG, ORG_ENTITY)
        .await?
    else {
        return Ok(OrgDoc::default());
    };
    serde_json::from_value(e.doc.clone()).map_err(|err| {
        tracing::error!(error = %err, "corrupt organization document");
        ApiError::internal()
    })
}

impl OrgDoc {
    /// Ids of the policies of `policy_type` attached to `target`, AWS managed first.
    pub fn attached(&self, policy_type: &str, target: &str) -> Vec<String> {
        let mut out = Vec::new();
        for m in aws_managed() {
            if m.policy_type == policy_type
                && !self
                    .detached_defaults
                    .contains(&(m.id.clone(), target.to_string()))
            {
                out.push(m.id);
            }
        }
        out.extend(
            self.policies
                .iter()
                .filter(|p| p.policy_type == policy_type && p.targets.iter().any(|t| t == target))
                .map(|p| p.id.clone()),
        );
        out
    }

    /// A policy by id (customer or AWS managed).
    pub fn view(&self, id: &str) -> Option<PolicyView> {
        if let Some(m) = aws_managed().into_iter().find(|m| m.id == id) {
            return Some(m);
        }
        self.policies
            .iter()
            .find(|p| p.id == id)
            .map(|p| PolicyView {
                id: p.id.clone(),
                name: p.name.clone(),
                description: p.description.clone(),
                policy_type: p.policy_type.clone(),
                content: p.content.clone(),
                aws_managed: false,
            })
    }
}

fn policy_kind(policy_type: &str) -> PolicyKind {
    if policy_type == RCP {
        PolicyKind::ResourceControl
    } else {
        PolicyKind::ServiceControl
    }
}

/// The parsed policies of `policy_type` per level (root, then account) for `account`. A stored
/// policy that no longer parses counts as denying everything (see
/// [`crate::authz::parse_or_deny_all`]); an attachment whose policy is gone counts as nothing.
fn levels(
    state: &AppState,
    doc: &OrgDoc,
    policy_type: &str,
    account: &str,
) -> ApiResult<Vec<Vec<LabelledPolicy>>> {
    let root = root_id(management_account(state));
    let mut out = Vec::with_capacity(2);
    for target in [root.as_str(), account] {
        let mut level = Vec::new();
        for id in doc.attached(policy_type, target) {
            let Some(v) = doc.view(&id) else {
                continue;
            };
            level.push(LabelledPolicy {
                id: policy_arn(management_account(state), &v),
                policy: parse_or_deny_all(state, &v.content, policy_kind(policy_type))?,
            });
        }
        out.push(level);
    }
    Ok(out)
}

/// The ARN of an organization policy (AWS managed ones live in account `aws`).
pub fn policy_arn(management: &str, v: &PolicyView) -> String {
    let type_path = v.policy_type.to_ascii_lowercase();
    if v.aws_managed {
        format!("arn:aws:organizations::aws:policy/{type_path}/{}", v.id)
    } else {
        format!(
            "arn:aws:organizations::{management}:policy/{}/{type_path}/{}",
            org_id(management),
            v.id
        )
    }
}

/// SCP levels that limit principals of `account`: none for the management account (AWS:
/// SCPs never restrict it) or an account that does not exist.
pub async fn scp_levels(state: &AppState, account: &str) -> ApiResult<Vec<Vec<LabelledPolicy>>> {
    if is_management(state, account) || account.is_empty() {
        return Ok(Vec::new());
    }
    let doc = load(state).await?;
    levels(state, &doc, SCP, account)
}

/// RCP levels that limit requests to resources of `resource_account` for `action`: none for
/// the management account's resources or services RCPs do not cover.
pub async fn rcp_levels(
    state: &AppState,
    resource_account: &str,
    action: &str,
) -> ApiResult<Vec<Vec<LabelledPolicy>>> {
    let service = action.split(':').next().unwrap_or_default();
    if is_management(state, resource_account)
        || resource_account.is_empty()
        || !RCP_SERVICES.iter().any(|s| s.eq_ignore_ascii_case(service))
    {
        return Ok(Vec::new());
    }
    let doc = load(state).await?;
    levels(state, &doc, RCP, resource_account)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    #[test]
    fn ids_are_stable_and_well_formed() {
        let o = org_id("123456789012");
        assert_eq!(o, org_id("123456789012"));
        assert_ne!(o, org_id("123456789013"));
        assert_eq!(o.len(), 12);
        assert!(o[2..].bytes().all(|b| LOWER_ALNUM.contains(&b)));
        let r = root_id("123456789012");
        assert!(r.starts_with("r-") && r.len() == 6);
    }

    #[test]
    fn defaults_attach_everywhere_until_detached() {
        let mut doc = OrgDoc::default();
        assert_eq!(doc.attached(SCP, "r-abcd"), vec![FULL_AWS_ACCESS_ID]);
        assert_eq!(
            doc.attached(RCP, "111122223333"),
            vec![RCP_FULL_AWS_ACCESS_ID]
        );
        doc.policies.push(OrgPolicy {
            id: "p-12345678".into(),
            name: "deny".into(),
            description: String::new(),
            policy_type: SCP.into(),
            content: "{}".into(),
            targets: vec!["111122223333".into()],
        });
        doc.detached_defaults
            .insert((FULL_AWS_ACCESS_ID.into(), "111122223333".into()));
        assert_eq!(doc.attached(SCP, "111122223333"), vec!["p-12345678"]);
        assert_eq!(doc.attached(SCP, "r-abcd"), vec![FULL_AWS_ACCESS_ID]);
        assert!(doc.attached(RCP, "444455556666").len() == 1);
    }
}
