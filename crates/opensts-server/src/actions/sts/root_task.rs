//! AWS's root-task policies (`arn:aws:iam::aws:policy/root-task/…`): the task policies that
//! scope an AssumeRoot session. Their documents (version v1, 2024-11-06) are deny-only: they
//! cut root's implicit all-allow down to one task.

/// ARN prefix of the task policies.
pub const ROOT_TASK_ARN_PREFIX: &str = "arn:aws:iam::aws:policy/root-task/";

/// (name, document) of every task policy.
pub const ROOT_TASK_POLICIES: &[(&str, &str)] = &[
    (
        "IAMAuditRootUserCredentials",
        r#"{"Version":"2012-10-17","Statement":[{"Sid":"DenyAllOtherActionsOnAnyResource","Effect":"Deny","NotAction":["iam:ListAccessKeys","iam:ListSigningCertificates","iam:GetLoginProfile","iam:ListMFADevices","iam:GetAccountSummary","iam:GetUser","iam:GetAccessKeyLastUsed"],"Resource":"*"},{"Sid":"DenyAuditingCredentialsOnNonRootUserResource","Effect":"Deny","Action":["iam:ListAccessKeys","iam:ListSigningCertificates","iam:GetLoginProfile","iam:ListMFADevices","iam:GetUser","iam:GetAccessKeyLastUsed"],"NotResource":"arn:aws:iam::*:root"}]}"#,
    ),
    (
        "IAMCreateRootUserPassword",
        r#"{"Version":"2012-10-17","Statement":[{"Sid":"DenyAllOtherActionsOnAnyResource","Effect":"Deny","NotAction":["iam:CreateLoginProfile","iam:GetLoginProfile"],"Resource":"*"},{"Sid":"DenyCreatingPasswordOnNonRootUserResource","Effect":"Deny","Action":["iam:CreateLoginProfile","iam:GetLoginProfile"],"NotResource":"arn:aws:iam::*:root"}]}"#,
    ),
    (
        "IAMDeleteRootUserCredentials",
        r#"{"Version":"2012-10-17","Statement":[{"Sid":"DenyAllOtherActionsOnAnyResource","Effect":"Deny","NotAction":["iam:DeleteAccessKey","iam:DeleteSigningCertificate","iam:DeleteLoginProfile","iam:DeactivateMFADevice","iam:DeleteVirtualMFADevice","iam:ListAccessKeys","iam:ListSigningCertificates","iam:GetLoginProfile","iam:ListMFADevices","iam:GetUser","iam:GetAccessKeyLastUsed"],"Resource":"*"},{"Sid":"DenyDeletingRootUserCredentialsOnNonRootUserResource","Effect":"Deny","Action":["iam:DeleteAccessKey","iam:DeleteSigningCertificate","iam:DeleteLoginProfile","iam:DeactivateMFADevice","iam:DeleteVirtualMFADevice","iam:ListAccessKeys","iam:ListSigningCertificates","iam:GetLoginProfile","iam:ListMFADevices","iam:GetUser","iam:GetAccessKeyLastUsed"],"NotResource":"arn:aws:iam::*:root"}]}"#,
    ),
    (
        "S3UnlockBucketPolicy",
        r#"{"Version":"2012-10-17","Statement":[{"Sid":"DenyAllOtherActionsOnAnyResource","Effect":"Deny","NotAction":["s3:DeleteBucketPolicy","s3:PutBucketPolicy","s3:GetBucketPolicy","s3:ListAllMyBuckets"],"Resource":"*"},{"Sid":"DenyManagingBucketPolicyForNonRootCallers","Effect":"Deny","Action":["s3:DeleteBucketPolicy","s3:PutBucketPolicy","s3:GetBucketPolicy","s3:ListAllMyBuckets"],"Resource":"*","Condition":{"StringNotLike":{"aws:PrincipalArn":"arn:aws:iam::*:root"}}}]}"#,
    ),
    (
        "SQSUnlockQueuePolicy",
        r#"{"Version":"2012-10-17","Statement":[{"Sid":"DenyAllOtherActionsOnAnyResource","Effect":"Deny","NotAction":["sqs:SetQueueAttributes","sqs:GetQueueAttributes","sqs:ListQueues","sqs:GetQueueUrl"],"Resource":"*"},{"Sid":"DenyGettingQueueAttributesOnNonOwnQueue","Effect":"Deny","Action":["sqs:GetQueueAttributes"],"Resource":"arn:aws:sqs:*:*:*","Condition":{"StringNotEqualsIfExists":{"aws:ResourceAccount":["${aws:PrincipalAccount}"]}}},{"Sid":"DenyActionsForNonRootUser","Effect":"Deny","Action":["sqs:SetQueueAttributes","sqs:GetQueueAttributes","sqs:ListQueues","sqs:GetQueueUrl"],"Resource":"*","Condition":{"StringNotLike":{"aws:PrincipalArn":"arn:aws:iam::*:root"}}}]}"#,
    ),
];

/// Root's side of a privileged root session: everything, before the task policy's denies.
pub const ROOT_SESSION_ALLOW_ALL: &str =
    r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"*","Resource":"*"}]}"#;

/// The document of a task policy ARN, if it is one.
pub fn task_policy(arn: &str) -> Option<&'static str> {
    let name = arn.strip_prefix(ROOT_TASK_ARN_PREFIX)?;
    ROOT_TASK_POLICIES
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, d)| *d)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
    use super::*;
    use opensts_policy::{
        EvaluationInput, Policy, PolicyKind, PolicyRef, RequestContext, RequestPrincipal, evaluate,
    };

    fn allowed(task: &str, action: &str, resource: &str) -> bool {
        let allow = Policy::parse(ROOT_SESSION_ALLOW_ALL, PolicyKind::Session).unwrap();
        let task = Policy::parse(task_policy(task).unwrap(), PolicyKind::Session).unwrap();
        let session = [PolicyRef::new("a", &allow), PolicyRef::new("t", &task)];
        let ctx = RequestContext::new(action, resource)
            .with_principal(RequestPrincipal::root("aws", "111122223333"));
        let input = EvaluationInput {
            session: Some(&session),
            ..Default::default()
        };
        evaluate(&input, &ctx).allowed()
    }

    #[test]
    fn every_task_policy_parses_as_a_session_policy() {
        for (name, doc) in ROOT_TASK_POLICIES {
            Policy::parse(doc, PolicyKind::Session).unwrap_or_else(|e| panic!("{name}: {e:?}"));
        }
        assert!(task_policy("arn:aws:iam::aws:policy/root-task/Nope").is_none());
        assert!(task_policy("arn:aws:iam::aws:policy/IAMAuditRootUserCredentials").is_none());
    }

    #[test]
    fn audit_task_allows_audit_actions_on_root_only() {
        let t = "arn:aws:iam::aws:policy/root-task/IAMAuditRootUserCredentials";
        let root = "arn:aws:iam::111122223333:root";
        assert!(allowed(t, "iam:ListAccessKeys", root));
        assert!(allowed(t, "iam:GetUser", root));
        assert!(allowed(t, "iam:GetAccountSummary", "*"));
        assert!(!allowed(
            t,
            "iam:ListAccessKeys",
            "arn:aws:iam::111122223333:user/bob"
        ));
        assert!(!allowed(
            t,
            "iam:CreateUser",
            "arn:aws:iam::111122223333:user/bob"
        ));
        assert!(!allowed(t, "iam:DeleteLoginProfile", root));
        let d = "arn:aws:iam::aws:policy/root-task/IAMDeleteRootUserCredentials";
        assert!(allowed(d, "iam:DeleteLoginProfile", root));
        assert!(!allowed(d, "iam:CreateLoginProfile", root));
    }
}
