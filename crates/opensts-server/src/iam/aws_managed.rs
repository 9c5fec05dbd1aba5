//! AWS managed policies (`arn:aws:iam::aws:policy/…`): built in, never stored, the same in every
//! account. They can be attached, read (GetPolicy, GetPolicyVersion, ListPolicyVersions) and
//! listed (ListPolicies `Scope=AWS|All`), but not changed or deleted.
//!
//! The documents are AWS's published default versions (as mirrored by the public
//! `zoph-io/IAMTrail`, formerly MAMIP, snapshot of 2026-08), kept verbatim in
//! `aws_managed/<PolicyName>.json` (re-indented: four spaces, `ReadOnlyAccess` two so that it
//! stays under IAM's 131072-character document limit). Policy ids, version ids and dates are
//! AWS's. The descriptions of the `root-task/` policies are paraphrased (AWS does not return
//! them from ListPolicies and no copy was at hand); the others are AWS's text.

use std::sync::OnceLock;

use opensts_policy::{IdentityAttachment, ParseOptions, Policy, PolicyKind, SizeLimit};

/// The account part of AWS managed policy ARNs.
pub const AWS_ACCOUNT: &str = "aws";

/// One AWS managed policy (its default version).
#[derive(Debug)]
pub struct AwsManagedPolicy {
    pub name: &'static str,
    /// `/` or e.g. `/root-task/`.
    pub path: &'static str,
    pub arn: &'static str,
    /// `ANPA…`, AWS's id.
    pub policy_id: &'static str,
    pub default_version_id: &'static str,
    pub description: &'static str,
    /// Unix seconds.
    pub create_date: i64,
    /// Unix seconds; also the create date of the default version.
    pub update_date: i64,
    /// The default version's document.
    pub document: &'static str,
}

impl AwsManagedPolicy {
    /// The default version's document, parsed as an identity policy (cached). `None` only if
    /// the built-in document failed to parse, which the unit tests rule out.
    pub fn policy(&'static self) -> Option<&'static Policy> {
        let index = POLICIES.iter().position(|p| std::ptr::eq(p, self))?;
        parsed().get(index)?.as_ref()
    }
}

/// Parse an AWS managed policy document. AWS's own policies are not bound by the customer
/// managed size limit (`ReadOnlyAccess` is ~90k characters), so no size limit applies.
pub fn parse_document(doc: &str) -> Result<Policy, opensts_policy::PolicyError> {
    Policy::parse_with(
        doc,
        PolicyKind::Identity(IdentityAttachment::Managed),
        &ParseOptions {
            size_limit: SizeLimit::Unlimited,
        },
    )
}

fn parsed() -> &'static [Option<Policy>] {
    static PARSED: OnceLock<Vec<Option<Policy>>> = OnceLock::new();
    PARSED.get_or_init(|| {
        POLICIES
            .iter()
            .map(|p| match parse_document(p.document) {
                Ok(policy) => Some(policy),
                Err(e) => {
                    tracing::error!(policy = p.arn, error = %e, "built-in AWS managed policy does not parse");
                    None
                }
            })
            .collect()
    })
}

/// The AWS managed policy with this ARN (exact, case-sensitive as AWS compares ARNs).
pub fn get(arn: &str) -> Option<&'static AwsManagedPolicy> {
    POLICIES.iter().find(|p| p.arn == arn)
}

/// Every built-in AWS managed policy, ordered by name.
pub fn all() -> &'static [AwsManagedPolicy] {
    POLICIES
}

/// True for ARNs in the AWS managed namespace (`arn:aws:iam::aws:…`), built in or not.
pub fn is_aws_managed_arn(arn: &str) -> bool {
    arn.starts_with("arn:aws:iam::aws:")
}

static POLICIES: &[AwsManagedPolicy] = &[
    AwsManagedPolicy {
        name: "AdministratorAccess",
        path: "/",
        arn: "arn:aws:iam::aws:policy/AdministratorAccess",
        policy_id: "ANPAIWMBCKSKIEE64ZLYK",
        default_version_id: "v1",
        description: "Provides full access to AWS services and resources.",
        create_date: 1_423_247_986,
        update_date: 1_423_247_986,
        document: include_str!("aws_managed/AdministratorAccess.json"),
    },
    AwsManagedPolicy {
        name: "AmazonS3FullAccess",
        path: "/",
        arn: "arn:aws:iam::aws:policy/AmazonS3FullAccess",
        policy_id: "ANPAIFIR6V6BVTRAHWINE",
        default_version_id: "v2",
        description: "Provides full access to all buckets via the AWS Management Console.",
        create_date: 1_423_248_058,
        update_date: 1_632_773_797,
        document: include_str!("aws_managed/AmazonS3FullAccess.json"),
    },
    AwsManagedPolicy {
        name: "AmazonS3ReadOnlyAccess",
        path: "/",
        arn: "arn:aws:iam::aws:policy/AmazonS3ReadOnlyAccess",
        policy_id: "ANPAIZTJ4DXE7G6AGAE6M",
        default_version_id: "v3",
        description: "Provides read only access to all buckets via the AWS Management Console.",
        create_date: 1_423_248_059,
        update_date: 1_691_703_099,
        document: include_str!("aws_managed/AmazonS3ReadOnlyAccess.json"),
    },
    AwsManagedPolicy {
        name: "IAMAuditRootUserCredentials",
        path: "/root-task/",
        arn: "arn:aws:iam::aws:policy/root-task/IAMAuditRootUserCredentials",
        policy_id: "ANPAZKAPJZG4BDSCREYVS",
        default_version_id: "v1",
        description: "Grants the permissions needed to audit the root user credentials of a member account (privileged root task).",
        create_date: 1_730_932_078,
        update_date: 1_730_932_078,
        document: include_str!("aws_managed/IAMAuditRootUserCredentials.json"),
    },
    AwsManagedPolicy {
        name: "IAMCreateRootUserPassword",
        path: "/root-task/",
        arn: "arn:aws:iam::aws:policy/root-task/IAMCreateRootUserPassword",
        policy_id: "ANPAZKAPJZG4OEGTN7YT5",
        default_version_id: "v1",
        description: "Grants the permissions needed to allow password recovery for the root user of a member account (privileged root task).",
        create_date: 1_730_932_379,
        update_date: 1_730_932_379,
        document: include_str!("aws_managed/IAMCreateRootUserPassword.json"),
    },
    AwsManagedPolicy {
        name: "IAMDeleteRootUserCredentials",
        path: "/root-task/",
        arn: "arn:aws:iam::aws:policy/root-task/IAMDeleteRootUserCredentials",
        policy_id: "ANPAZKAPJZG4CX73XKORQ",
        default_version_id: "v1",
        description: "Grants the permissions needed to delete the root user credentials of a member account (privileged root task).",
        create_date: 1_730_933_278,
        update_date: 1_730_933_278,
        document: include_str!("aws_managed/IAMDeleteRootUserCredentials.json"),
    },
    AwsManagedPolicy {
        name: "IAMFullAccess",
        path: "/",
        arn: "arn:aws:iam::aws:policy/IAMFullAccess",
        policy_id: "ANPAI7XKCFMBPM3QQRRVQ",
        default_version_id: "v2",
        description: "Provides full access to IAM via the AWS Management Console.",
        create_date: 1_423_248_038,
        update_date: 1_561_146_000,
        document: include_str!("aws_managed/IAMFullAccess.json"),
    },
    AwsManagedPolicy {
        name: "IAMReadOnlyAccess",
        path: "/",
        arn: "arn:aws:iam::aws:policy/IAMReadOnlyAccess",
        policy_id: "ANPAJKSO7NDY4T57MWDSQ",
        default_version_id: "v4",
        description: "Provides read only access to IAM via the AWS Management Console.",
        create_date: 1_423_248_039,
        update_date: 1_516_907_487,
        document: include_str!("aws_managed/IAMReadOnlyAccess.json"),
    },
    AwsManagedPolicy {
        name: "PowerUserAccess",
        path: "/",
        arn: "arn:aws:iam::aws:policy/PowerUserAccess",
        policy_id: "ANPAJYRXTHIB4FOVS3ZXS",
        default_version_id: "v12",
        description: "Provides full access to AWS services and resources, but does not allow management of Users and groups.",
        create_date: 1_423_247_987,
        update_date: 1_770_919_154,
        document: include_str!("aws_managed/PowerUserAccess.json"),
    },
    AwsManagedPolicy {
        name: "ReadOnlyAccess",
        path: "/",
        arn: "arn:aws:iam::aws:policy/ReadOnlyAccess",
        policy_id: "ANPAILL3HVNFSB6DCOWYQ",
        default_version_id: "v188",
        description: "Provides read-only access to AWS services and resources.",
        create_date: 1_423_247_988,
        update_date: 1_784_659_350,
        document: include_str!("aws_managed/ReadOnlyAccess.json"),
    },
    AwsManagedPolicy {
        name: "S3UnlockBucketPolicy",
        path: "/root-task/",
        arn: "arn:aws:iam::aws:policy/root-task/S3UnlockBucketPolicy",
        policy_id: "ANPAZKAPJZG4OALTIPZOF",
        default_version_id: "v1",
        description: "Grants the permissions needed to delete a misconfigured bucket policy that denies all principals access to an Amazon S3 bucket in a member account (privileged root task).",
        create_date: 1_730_930_156,
        update_date: 1_730_930_156,
        document: include_str!("aws_managed/S3UnlockBucketPolicy.json"),
    },
    AwsManagedPolicy {
        name: "SQSUnlockQueuePolicy",
        path: "/root-task/",
        arn: "arn:aws:iam::aws:policy/root-task/SQSUnlockQueuePolicy",
        policy_id: "ANPAZKAPJZG4HPZI4FDUV",
        default_version_id: "v1",
        description: "Grants the permissions needed to delete a misconfigured queue policy that denies all principals access to an Amazon SQS queue in a member account (privileged root task).",
        create_date: 1_730_929_862,
        update_date: 1_730_929_862,
        document: include_str!("aws_managed/SQSUnlockQueuePolicy.json"),
    },
];

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
    use super::*;

    #[test]
    fn every_document_parses_as_a_managed_identity_policy() {
        for p in all() {
            let policy = parse_document(p.document)
                .unwrap_or_else(|e| panic!("{} does not parse: {}", p.name, e.message()));
            assert!(!policy.statements().is_empty(), "{}", p.name);
            // AWS's own documents are valid JSON the CLI decodes, and within the model's
            // 131072-character document limit.
            assert!(p.document.len() <= 131_072, "{}", p.name);
            assert!(
                p.document
                    .chars()
                    .all(|c| matches!(c, '\t' | '\n' | '\r') || ('\u{20}'..='\u{ff}').contains(&c)),
                "{}",
                p.name
            );
            assert!(p.policy().is_some(), "{}", p.name);
        }
    }

    #[test]
    fn small_documents_parse_with_the_default_managed_limit() {
        for p in all().iter().filter(|p| p.name != "ReadOnlyAccess") {
            Policy::parse(
                p.document,
                PolicyKind::Identity(IdentityAttachment::Managed),
            )
            .unwrap_or_else(|e| panic!("{}: {}", p.name, e.message()));
        }
    }

    #[test]
    fn metadata_is_consistent() {
        let mut names: Vec<&str> = all().iter().map(|p| p.name).collect();
        let sorted = {
            let mut s = names.clone();
            s.sort_unstable();
            s
        };
        assert_eq!(names, sorted, "ordered by name");
        names.dedup();
        assert_eq!(names.len(), all().len(), "unique names");
        for p in all() {
            assert_eq!(
                p.arn,
                format!("arn:aws:iam::aws:policy{}{}", p.path, p.name),
                "{}",
                p.name
            );
            assert!(p.policy_id.starts_with("ANPA") && p.policy_id.len() == 21);
            assert!(p.default_version_id.starts_with('v'));
            assert!(p.update_date >= p.create_date);
            assert!(is_aws_managed_arn(p.arn));
            assert!(std::ptr::eq(get(p.arn).unwrap(), p));
        }
        for required in [
            "arn:aws:iam::aws:policy/AdministratorAccess",
            "arn:aws:iam::aws:policy/PowerUserAccess",
            "arn:aws:iam::aws:policy/ReadOnlyAccess",
            "arn:aws:iam::aws:policy/IAMFullAccess",
            "arn:aws:iam::aws:policy/IAMReadOnlyAccess",
            "arn:aws:iam::aws:policy/AmazonS3FullAccess",
            "arn:aws:iam::aws:policy/AmazonS3ReadOnlyAccess",
            "arn:aws:iam::aws:policy/root-task/IAMAuditRootUserCredentials",
            "arn:aws:iam::aws:policy/root-task/IAMCreateRootUserPassword",
            "arn:aws:iam::aws:policy/root-task/IAMDeleteRootUserCredentials",
            "arn:aws:iam::aws:policy/root-task/S3UnlockBucketPolicy",
            "arn:aws:iam::aws:policy/root-task/SQSUnlockQueuePolicy",
        ] {
            assert!(get(required).is_some(), "{required}");
        }
        assert!(get("arn:aws:iam::aws:policy/administratoraccess").is_none());
        assert!(get("arn:aws:iam::aws:policy/NoSuchPolicy").is_none());
    }

    #[test]
    fn administrator_access_allows_everything() {
        let p = get("arn:aws:iam::aws:policy/AdministratorAccess")
            .unwrap()
            .policy()
            .unwrap();
        let s = &p.statements()[0];
        assert_eq!(s.actions().collect::<Vec<_>>(), vec!["*"]);
        assert_eq!(s.resources().collect::<Vec<_>>(), vec!["*"]);
    }
}
