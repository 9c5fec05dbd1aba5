//! IAM users.

use std::collections::BTreeMap;

use opensts_core::principal::Principal;
use serde::{Deserialize, Serialize};

use super::Tag;

/// Entity kind of users in the store.
pub const KIND_USER: &str = "user";

/// An IAM user.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserDoc {
    pub name: String,
    /// `AIDA…`
    pub user_id: String,
    /// `/` or `/a/b/`.
    pub path: String,
    pub create_date: i64,
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
    /// Names of the groups the user belongs to.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub groups: Vec<String>,
    /// Serial numbers of the MFA devices enabled for the user (DeleteUser is refused while
    /// there are any).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub mfa_devices: Vec<String>,
}

impl UserDoc {
    pub fn principal(&self, account_id: &str) -> Principal {
        Principal::User {
            account_id: account_id.to_string(),
            name: self.name.clone(),
            path: self.path.clone(),
            user_id: self.user_id.clone(),
        }
    }

    pub fn arn(&self, account_id: &str) -> String {
        opensts_core::arn::user_arn(account_id, &self.path, &self.name)
    }
}
