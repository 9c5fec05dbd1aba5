//! IAM roles.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::Tag;

/// Entity kind of roles in the store.
pub const KIND_ROLE: &str = "role";
/// Bounds of a role's `MaxSessionDuration` (seconds).
pub const MIN_MAX_SESSION_DURATION: i64 = 3_600;
pub const MAX_MAX_SESSION_DURATION: i64 = 43_200;

/// An IAM role.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RoleDoc {
    pub name: String,
    /// `AROA…`
    pub role_id: String,
    pub path: String,
    pub create_date: i64,
    /// The trust policy exactly as given (IAM echoes it URL-encoded).
    pub assume_role_policy: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Seconds, 3600–43200 (default 3600).
    pub max_session_duration: i64,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<Tag>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub permissions_boundary: Option<String>,
    /// Inline policies: name → document (as given).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub inline_policies: BTreeMap<String, String>,
    /// Attached managed policy ARNs.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub attached_policies: Vec<String>,
    /// Sessions issued before this time are denied (the "revoke active sessions" policy is
    /// also written as an inline policy, as AWS does; this field is informational).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_used: Option<i64>,
    /// The region of the last use (`RoleLastUsed.Region`), set together with `last_used`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_used_region: Option<String>,
}

impl RoleDoc {
    pub fn arn(&self, account_id: &str) -> String {
        opensts_core::arn::role_arn(account_id, &self.path, &self.name)
    }
}
