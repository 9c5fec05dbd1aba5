//! Amazon Resource Names (sts-spec §8.1).

use std::fmt;

/// The only partition OpenSTS mints ARNs in.
pub const PARTITION: &str = "aws";

/// A parsed ARN: `arn:<partition>:<service>:<region>:<account>:<resource>`.
///
/// `resource` is everything after the fifth `:` and may itself contain `:` and `/`.
/// `region` and `account` may be empty (IAM and STS ARNs have an empty region).
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Arn {
    pub partition: String,
    pub service: String,
    pub region: String,
    pub account: String,
    pub resource: String,
}

/// Why a string is not an ARN.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ArnError {
    #[error("ARN must start with \"arn:\"")]
    MissingPrefix,
    #[error("ARN must have six ':'-separated parts")]
    TooFewParts,
    #[error("ARN partition is empty")]
    EmptyPartition,
    #[error("ARN service is empty")]
    EmptyService,
    #[error("ARN resource is empty")]
    EmptyResource,
    #[error("ARN exceeds {MAX_ARN_LEN} characters")]
    TooLong,
}

/// Upper bound on the length of an ARN accepted by [`Arn::parse`] (IAM's limit is 2048).
pub const MAX_ARN_LEN: usize = 2048;

impl Arn {
    /// Builds an ARN in the [`PARTITION`] partition.
    pub fn new(service: &str, region: &str, account: &str, resource: &str) -> Arn {
        Arn {
            partition: PARTITION.to_owned(),
            service: service.to_owned(),
            region: region.to_owned(),
            account: account.to_owned(),
            resource: resource.to_owned(),
        }
    }

    /// Parses `arn:partition:service:region:account:resource`.
    ///
    /// Partition, service and resource must be non-empty; region and account may be empty.
    /// The partition is not restricted to [`PARTITION`] (callers decide what they accept).
    pub fn parse(s: &str) -> Result<Arn, ArnError> {
        if s.len() > MAX_ARN_LEN {
            return Err(ArnError::TooLong);
        }
        let rest = s.strip_prefix("arn:").ok_or(ArnError::MissingPrefix)?;
        let mut parts = rest.splitn(5, ':');
        let mut next = || parts.next().ok_or(ArnError::TooFewParts);
        let partition = next()?;
        let service = next()?;
        let region = next()?;
        let account = next()?;
        let resource = next()?;
        if partition.is_empty() {
            return Err(ArnError::EmptyPartition);
        }
        if service.is_empty() {
            return Err(ArnError::EmptyService);
        }
        if resource.is_empty() {
            return Err(ArnError::EmptyResource);
        }
        Ok(Arn {
            partition: partition.to_owned(),
            service: service.to_owned(),
            region: region.to_owned(),
            account: account.to_owned(),
            resource: resource.to_owned(),
        })
    }

    /// The resource type: the part of `resource` before the first `/` (or `:`), e.g. `role`
    /// for `role/path/Name`, `root` for `root`.
    pub fn resource_type(&self) -> &str {
        let end = self
            .resource
            .find(['/', ':'])
            .unwrap_or(self.resource.len());
        &self.resource[..end]
    }

    /// Splits an IAM-style `type/path/name` resource into `(type, path, name)`, where `path`
    /// starts and ends with `/` (`"/"` when there is none): `role/a/b/R` → `("role", "/a/b/",
    /// "R")`. `None` when the resource has no `/` or the name is empty.
    ///
    /// Not meaningful for STS `assumed-role/<role>/<session>` resources; use
    /// [`Arn::assumed_role_parts`] for those.
    pub fn iam_path_and_name(&self) -> Option<(&str, &str, &str)> {
        let first = self.resource.find('/')?;
        let last = self.resource.rfind('/')?;
        let name = &self.resource[last + 1..];
        if name.is_empty() {
            return None;
        }
        Some((&self.resource[..first], &self.resource[first..=last], name))
    }

    /// For `arn:<p>:sts::<acct>:assumed-role/<role>/<session>`: `(role, session)`.
    pub fn assumed_role_parts(&self) -> Option<(&str, &str)> {
        if self.service != "sts" {
            return None;
        }
        let rest = self.resource.strip_prefix("assumed-role/")?;
        let (role, session) = rest.split_once('/')?;
        if role.is_empty() || session.is_empty() || session.contains('/') {
            return None;
        }
        Some((role, session))
    }
}

impl fmt::Display for Arn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "arn:{}:{}:{}:{}:{}",
            self.partition, self.service, self.region, self.account, self.resource
        )
    }
}

impl std::str::FromStr for Arn {
    type Err = ArnError;
    fn from_str(s: &str) -> Result<Arn, ArnError> {
        Arn::parse(s)
    }
}

/// Normalises an IAM path to start and end with `/` (`""` → `"/"`, `"a/b"` → `"/a/b/"`).
pub fn normalize_path(path: &str) -> String {
    let trimmed = path.trim_matches('/');
    if trimmed.is_empty() {
        "/".to_owned()
    } else {
        format!("/{trimmed}/")
    }
}

fn iam(account: &str, kind: &str, path: &str, name: &str) -> String {
    format!(
        "arn:{PARTITION}:iam::{account}:{kind}{}{name}",
        normalize_path(path)
    )
}

/// `arn:aws:iam::<acct>:user/<path/>name`. `path` is an IAM path (`/` or `/a/b/`; it is
/// normalised, so `""` and `a/b` work too).
pub fn user_arn(account: &str, path: &str, name: &str) -> String {
    iam(account, "user", path, name)
}

/// `arn:aws:iam::<acct>:role/<path/>name`.
pub fn role_arn(account: &str, path: &str, name: &str) -> String {
    iam(account, "role", path, name)
}

/// `arn:aws:iam::<acct>:group/<path/>name`.
pub fn group_arn(account: &str, path: &str, name: &str) -> String {
    iam(account, "group", path, name)
}

/// `arn:aws:iam::<acct>:policy/<path/>name`; pass `"aws"` as account for AWS-managed policies.
pub fn policy_arn(account: &str, path: &str, name: &str) -> String {
    iam(account, "policy", path, name)
}

/// `arn:aws:iam::<acct>:mfa/<path/>name` (virtual MFA devices have an IAM path; `"/"` gives
/// `mfa/<name>`).
pub fn mfa_arn(account: &str, path: &str, name: &str) -> String {
    iam(account, "mfa", path, name)
}

/// `arn:aws:iam::<acct>:root`.
pub fn root_arn(account: &str) -> String {
    format!("arn:{PARTITION}:iam::{account}:root")
}

/// `arn:aws:sts::<acct>:assumed-role/<RoleName>/<RoleSessionName>` (no role path, per AWS).
pub fn assumed_role_arn(account: &str, role_name: &str, session: &str) -> String {
    format!("arn:{PARTITION}:sts::{account}:assumed-role/{role_name}/{session}")
}

/// `arn:aws:sts::<acct>:federated-user/<Name>`.
pub fn federated_user_arn(account: &str, name: &str) -> String {
    format!("arn:{PARTITION}:sts::{account}:federated-user/{name}")
}

/// `arn:aws:iam::<acct>:saml-provider/<name>`.
pub fn saml_provider_arn(account: &str, name: &str) -> String {
    format!("arn:{PARTITION}:iam::{account}:saml-provider/{name}")
}

/// `arn:aws:iam::<acct>:oidc-provider/<host/path>`; a leading `https://` on `url` is removed.
pub fn oidc_provider_arn(account: &str, url: &str) -> String {
    let host_path = url.strip_prefix("https://").unwrap_or(url);
    format!("arn:{PARTITION}:iam::{account}:oidc-provider/{host_path}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn parse_and_format() {
        let cases = [
            "arn:aws:iam::123456789012:root",
            "arn:aws:iam::123456789012:user/division_abc/subdivision_xyz/JaneDoe",
            "arn:aws:sts::123456789012:assumed-role/Admin/my-session",
            "arn:aws:s3:::bucket/key:with:colons",
            "arn:aws-cn:ec2:cn-north-1:123456789012:instance/i-1",
            "arn:aws:iam::aws:policy/AdministratorAccess",
        ];
        for c in cases {
            let a = Arn::parse(c).unwrap();
            assert_eq!(a.to_string(), c);
            assert_eq!(c.parse::<Arn>().unwrap(), a);
        }
        let a = Arn::parse("arn:aws:s3:::bucket/key:with:colons").unwrap();
        assert_eq!(a.service, "s3");
        assert_eq!(a.region, "");
        assert_eq!(a.account, "");
        assert_eq!(a.resource, "bucket/key:with:colons");
    }

    #[test]
    fn parse_errors() {
        assert_eq!(Arn::parse(""), Err(ArnError::MissingPrefix));
        assert_eq!(
            Arn::parse("urn:aws:iam::1:root"),
            Err(ArnError::MissingPrefix)
        );
        assert_eq!(Arn::parse("arn:aws:iam::1"), Err(ArnError::TooFewParts));
        assert_eq!(
            Arn::parse("arn::iam::1:root"),
            Err(ArnError::EmptyPartition)
        );
        assert_eq!(Arn::parse("arn:aws:::1:root"), Err(ArnError::EmptyService));
        assert_eq!(Arn::parse("arn:aws:iam::1:"), Err(ArnError::EmptyResource));
        let long = format!("arn:aws:iam::1:{}", "x".repeat(MAX_ARN_LEN));
        assert_eq!(Arn::parse(&long), Err(ArnError::TooLong));
    }

    #[test]
    fn helpers() {
        let acct = "123456789012";
        assert_eq!(root_arn(acct), "arn:aws:iam::123456789012:root");
        assert_eq!(
            user_arn(acct, "/division_abc/subdivision_xyz/", "JaneDoe"),
            "arn:aws:iam::123456789012:user/division_abc/subdivision_xyz/JaneDoe"
        );
        assert_eq!(
            user_arn(acct, "/", "Bob"),
            "arn:aws:iam::123456789012:user/Bob"
        );
        assert_eq!(
            user_arn(acct, "", "Bob"),
            "arn:aws:iam::123456789012:user/Bob"
        );
        assert_eq!(
            role_arn(acct, "a/b", "R"),
            "arn:aws:iam::123456789012:role/a/b/R"
        );
        assert_eq!(
            group_arn(acct, "/", "G"),
            "arn:aws:iam::123456789012:group/G"
        );
        assert_eq!(
            policy_arn("aws", "/", "ReadOnlyAccess"),
            "arn:aws:iam::aws:policy/ReadOnlyAccess"
        );
        assert_eq!(
            assumed_role_arn(acct, "Admin", "s1"),
            "arn:aws:sts::123456789012:assumed-role/Admin/s1"
        );
        assert_eq!(
            federated_user_arn(acct, "Bob"),
            "arn:aws:sts::123456789012:federated-user/Bob"
        );
        assert_eq!(
            saml_provider_arn(acct, "MyIdP"),
            "arn:aws:iam::123456789012:saml-provider/MyIdP"
        );
        assert_eq!(
            oidc_provider_arn(acct, "https://token.actions.githubusercontent.com"),
            "arn:aws:iam::123456789012:oidc-provider/token.actions.githubusercontent.com"
        );
        assert_eq!(
            oidc_provider_arn(acct, "example.com/tenant"),
            "arn:aws:iam::123456789012:oidc-provider/example.com/tenant"
        );
        assert_eq!(
            mfa_arn(acct, "/", "dev"),
            "arn:aws:iam::123456789012:mfa/dev"
        );
    }

    #[test]
    fn resource_helpers() {
        let a = Arn::parse(&role_arn("1", "/a/b/", "R")).unwrap();
        assert_eq!(a.resource_type(), "role");
        assert_eq!(a.iam_path_and_name(), Some(("role", "/a/b/", "R")));
        let a = Arn::parse(&user_arn("1", "/", "U")).unwrap();
        assert_eq!(a.iam_path_and_name(), Some(("user", "/", "U")));
        let a = Arn::parse(&root_arn("1")).unwrap();
        assert_eq!(a.resource_type(), "root");
        assert_eq!(a.iam_path_and_name(), None);
        let a = Arn::parse(&assumed_role_arn("1", "R", "s")).unwrap();
        assert_eq!(a.assumed_role_parts(), Some(("R", "s")));
        assert_eq!(
            Arn::parse(&role_arn("1", "/", "R"))
                .unwrap()
                .assumed_role_parts(),
            None
        );
        assert_eq!(
            Arn::parse("arn:aws:iam::1:role/")
                .unwrap()
                .iam_path_and_name(),
            None
        );
    }

    proptest! {
        #[test]
        fn round_trip(
            partition in "[a-z][a-z-]{0,10}",
            service in "[a-z0-9-]{1,12}",
            region in "[a-z0-9-]{0,12}",
            account in "[0-9a-z]{0,12}",
            resource in "[ -~]{1,60}",
        ) {
            let a = Arn { partition, service, region, account, resource };
            let s = a.to_string();
            prop_assert_eq!(Arn::parse(&s), Ok(a));
        }

        #[test]
        fn parse_never_panics(s in "\\PC{0,80}") {
            if let Ok(a) = Arn::parse(&s) {
                prop_assert_eq!(a.to_string(), s);
            }
        }
    }
}
