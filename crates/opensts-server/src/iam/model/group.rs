//! IAM groups. Membership is stored on the user (`UserDoc::groups`).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// Entity kind of groups in the store.
pub const KIND_GROUP: &str = "group";

/// An IAM group.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GroupDoc {
    pub name: String,
    /// `AGPA…`
    pub group_id: String,
    pub path: String,
    pub create_date: i64,
    /// Inline policies: name → document (as given).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub inline_policies: BTreeMap<String, String>,
    /// Attached managed policy ARNs.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub attached_policies: Vec<String>,
}

impl GroupDoc {
    pub fn arn(&self, account_id: &str) -> String {
        opensts_core::arn::group_arn(account_id, &self.path, &self.name)
    }
}
