//! Authenticated principals and their GetCallerIdentity forms (sts-spec §8.3).

use serde::{Deserialize, Serialize};

use crate::arn;

/// Who a request is made as.
///
/// Serde uses short names (it is embedded in every session token): externally tagged with
/// `root` / `user` / `role` / `fed`, fields `a` (account id), `n` (name), `p` (path), `id`
/// (unique id), `s` (session name).
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub enum Principal {
    /// The account root user.
    #[serde(rename = "root")]
    Root {
        #[serde(rename = "a")]
        account_id: String,
    },
    /// An IAM user (long-term keys, or a GetSessionToken session of the user).
    #[serde(rename = "user")]
    User {
        #[serde(rename = "a")]
        account_id: String,
        #[serde(rename = "n")]
        name: String,
        /// IAM path, `/` or `/a/b/`.
        #[serde(rename = "p")]
        path: String,
        /// The user's unique id, `AIDA…`.
        #[serde(rename = "id")]
        user_id: String,
    },
    /// A role session (any AssumeRole*).
    #[serde(rename = "role")]
    AssumedRole {
        #[serde(rename = "a")]
        account_id: String,
        #[serde(rename = "n")]
        role_name: String,
        /// The role's IAM path (`/` or `/a/b/`); not part of the session ARN.
        #[serde(rename = "p")]
        role_path: String,
        /// The role's unique id, `AROA…`.
        #[serde(rename = "id")]
        role_id: String,
        #[serde(rename = "s")]
        session_name: String,
    },
    /// A GetFederationToken session.
    #[serde(rename = "fed")]
    FederatedUser {
        #[serde(rename = "a")]
        account_id: String,
        #[serde(rename = "n")]
        name: String,
    },
}

impl Principal {
    /// The account the principal belongs to.
    pub fn account_id(&self) -> &str {
        match self {
            Principal::Root { account_id }
            | Principal::User { account_id, .. }
            | Principal::AssumedRole { account_id, .. }
            | Principal::FederatedUser { account_id, .. } => account_id,
        }
    }

    /// GetCallerIdentity `Arn` (also `aws:PrincipalArn` for users, root and federated users;
    /// for role sessions `aws:PrincipalArn` is [`Principal::role_arn`]).
    ///
    /// Root: `arn:aws:iam::<acct>:root`; User: `arn:aws:iam::<acct>:user/<path/>name`;
    /// AssumedRole: `arn:aws:sts::<acct>:assumed-role/<Role>/<Session>` (no role path);
    /// FederatedUser: `arn:aws:sts::<acct>:federated-user/<Name>`.
    pub fn arn(&self) -> String {
        match self {
            Principal::Root { account_id } => arn::root_arn(account_id),
            Principal::User {
                account_id,
                name,
                path,
                ..
            } => arn::user_arn(account_id, path, name),
            Principal::AssumedRole {
                account_id,
                role_name,
                session_name,
                ..
            } => arn::assumed_role_arn(account_id, role_name, session_name),
            Principal::FederatedUser { account_id, name } => {
                arn::federated_user_arn(account_id, name)
            }
        }
    }

    /// GetCallerIdentity `UserId` (= `aws:userid`): Root → account id; User → `AIDA…`;
    /// AssumedRole → `AROA…:<session>`; FederatedUser → `<account>:<name>`.
    pub fn user_id(&self) -> String {
        match self {
            Principal::Root { account_id } => account_id.clone(),
            Principal::User { user_id, .. } => user_id.clone(),
            Principal::AssumedRole {
                role_id,
                session_name,
                ..
            } => format!("{role_id}:{session_name}"),
            Principal::FederatedUser { account_id, name } => format!("{account_id}:{name}"),
        }
    }

    /// `aws:PrincipalType`: `Account`, `User`, `AssumedRole` or `FederatedUser`.
    pub fn principal_type(&self) -> &'static str {
        match self {
            Principal::Root { .. } => "Account",
            Principal::User { .. } => "User",
            Principal::AssumedRole { .. } => "AssumedRole",
            Principal::FederatedUser { .. } => "FederatedUser",
        }
    }

    /// For role sessions, the role's ARN (with its path); `None` otherwise.
    pub fn role_arn(&self) -> Option<String> {
        match self {
            Principal::AssumedRole {
                account_id,
                role_name,
                role_path,
                ..
            } => Some(arn::role_arn(account_id, role_path, role_name)),
            _ => None,
        }
    }

    /// `aws:username`: only IAM users have one.
    pub fn username(&self) -> Option<&str> {
        match self {
            Principal::User { name, .. } => Some(name),
            _ => None,
        }
    }

    /// The role session name, for role sessions.
    pub fn session_name(&self) -> Option<&str> {
        match self {
            Principal::AssumedRole { session_name, .. } => Some(session_name),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ACCT: &str = "123456789012";

    fn samples() -> Vec<(Principal, &'static str, &'static str, &'static str)> {
        vec![
            (
                Principal::Root {
                    account_id: ACCT.into(),
                },
                "123456789012",
                "arn:aws:iam::123456789012:root",
                "Account",
            ),
            (
                Principal::User {
                    account_id: ACCT.into(),
                    name: "JaneDoe".into(),
                    path: "/division_abc/subdivision_xyz/".into(),
                    user_id: "AIDACKCEVSQ6C2EXAMPLE".into(),
                },
                "AIDACKCEVSQ6C2EXAMPLE",
                "arn:aws:iam::123456789012:user/division_abc/subdivision_xyz/JaneDoe",
                "User",
            ),
            (
                Principal::User {
                    account_id: ACCT.into(),
                    name: "Bob".into(),
                    path: "/".into(),
                    user_id: "AIDAEXAMPLEEXAMPLE12".into(),
                },
                "AIDAEXAMPLEEXAMPLE12",
                "arn:aws:iam::123456789012:user/Bob",
                "User",
            ),
            (
                Principal::AssumedRole {
                    account_id: ACCT.into(),
                    role_name: "Admin".into(),
                    role_path: "/service-role/".into(),
                    role_id: "AROADBQP57FF2AEXAMPLE".into(),
                    session_name: "my-session".into(),
                },
                "AROADBQP57FF2AEXAMPLE:my-session",
                "arn:aws:sts::123456789012:assumed-role/Admin/my-session",
                "AssumedRole",
            ),
            (
                Principal::AssumedRole {
                    account_id: ACCT.into(),
                    role_name: "Ec2Role".into(),
                    role_path: "/".into(),
                    role_id: "AROADBQP57FF2AEXAMPLE".into(),
                    session_name: "i-0123456789abcdef0".into(),
                },
                "AROADBQP57FF2AEXAMPLE:i-0123456789abcdef0",
                "arn:aws:sts::123456789012:assumed-role/Ec2Role/i-0123456789abcdef0",
                "AssumedRole",
            ),
            (
                Principal::FederatedUser {
                    account_id: ACCT.into(),
                    name: "Bob".into(),
                },
                "123456789012:Bob",
                "arn:aws:sts::123456789012:federated-user/Bob",
                "FederatedUser",
            ),
        ]
    }

    #[test]
    fn get_caller_identity_table() {
        for (p, user_id, arn, ty) in samples() {
            assert_eq!(p.user_id(), user_id);
            assert_eq!(p.arn(), arn);
            assert_eq!(p.principal_type(), ty);
            assert_eq!(p.account_id(), ACCT);
        }
    }

    #[test]
    fn role_helpers() {
        let s = samples();
        assert_eq!(
            s[3].0.role_arn().as_deref(),
            Some("arn:aws:iam::123456789012:role/service-role/Admin")
        );
        assert_eq!(s[3].0.session_name(), Some("my-session"));
        assert_eq!(s[1].0.username(), Some("JaneDoe"));
        for (p, ..) in &s {
            if !matches!(p, Principal::AssumedRole { .. }) {
                assert_eq!(p.role_arn(), None);
                assert_eq!(p.session_name(), None);
            }
            if !matches!(p, Principal::User { .. }) {
                assert_eq!(p.username(), None);
            }
        }
    }

    #[test]
    fn serde_round_trip_and_compact() {
        for (p, ..) in samples() {
            let j = serde_json::to_string(&p).unwrap();
            let back: Principal = serde_json::from_str(&j).unwrap();
            assert_eq!(back, p);
        }
        let j = serde_json::to_string(&samples()[0].0).unwrap();
        assert_eq!(j, r#"{"root":{"a":"123456789012"}}"#);
        assert!(
            serde_json::from_str::<Principal>(r#"{"root":{"a":"123456789012","x":1}}"#).is_err()
        );
    }
}
