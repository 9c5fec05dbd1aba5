//! Customer managed policies and their versions. AWS managed policies
//! (`arn:aws:iam::aws:policy/…`) are built in (see `crate::iam::aws_managed`) and never stored.

use serde::{Deserialize, Serialize};

use super::Tag;

/// Entity kind of managed policies in the store (keyed by policy name).
pub const KIND_POLICY: &str = "policy";
/// Most versions a managed policy keeps.
pub const MAX_POLICY_VERSIONS: usize = 5;

/// One version of a managed policy.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PolicyVersionDoc {
    /// `v1`, `v2`, …
    pub version_id: String,
    /// The document as given.
    pub document: String,
    pub create_date: i64,
}

/// A customer managed policy.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PolicyDoc {
    pub name: String,
    /// `ANPA…`
    pub policy_id: String,
    pub path: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    pub create_date: i64,
    pub update_date: i64,
    pub default_version_id: String,
    /// Next version number to assign (versions are never renumbered).
    pub next_version: u32,
    pub versions: Vec<PolicyVersionDoc>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<Tag>,
}

impl PolicyDoc {
    pub fn arn(&self, account_id: &str) -> String {
        opensts_core::arn::policy_arn(account_id, &self.path, &self.name)
    }

    pub fn default_document(&self) -> Option<&str> {
        self.versions
            .iter()
            .find(|v| v.version_id == self.default_version_id)
            .map(|v| v.document.as_str())
    }
}
