//! Evaluation cost of a realistic 10-statement identity policy with conditions.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use opensts_policy::*;

const POLICY: &str = r#"{
  "Version": "2012-10-17",
  "Statement": [
    {"Sid": "ListOwnPrefix", "Effect": "Allow", "Action": "s3:ListBucket", "Resource": "arn:aws:s3:::corp-data",
     "Condition": {"StringLike": {"s3:prefix": ["home/${aws:username}/*", "shared/*"]}}},
    {"Sid": "OwnObjects", "Effect": "Allow", "Action": ["s3:GetObject", "s3:PutObject"],
     "Resource": "arn:aws:s3:::corp-data/home/${aws:username}/*"},
    {"Sid": "TeamObjects", "Effect": "Allow", "Action": "s3:GetObject*",
     "Resource": "arn:aws:s3:::corp-data/teams/*",
     "Condition": {"StringEquals": {"aws:PrincipalTag/team": ["blue", "green"]}, "Bool": {"aws:SecureTransport": "true"}}},
    {"Sid": "OfficeOnly", "Effect": "Deny", "Action": "*", "Resource": "*",
     "Condition": {"NotIpAddress": {"aws:SourceIp": ["203.0.113.0/24", "2001:db8::/32"]}, "BoolIfExists": {"aws:ViaAWSService": "false"}}},
    {"Sid": "RequireMfaForDelete", "Effect": "Deny", "Action": "s3:Delete*", "Resource": "*",
     "Condition": {"BoolIfExists": {"aws:MultiFactorAuthPresent": "false"}}},
    {"Sid": "AssumeDeployRoles", "Effect": "Allow", "Action": "sts:AssumeRole", "Resource": "arn:aws:iam::*:role/deploy-*",
     "Condition": {"StringEquals": {"aws:RequestedRegion": "eu-west-1"}}},
    {"Sid": "TagSessions", "Effect": "Allow", "Action": "sts:TagSession", "Resource": "*",
     "Condition": {"ForAllValues:StringEquals": {"aws:TagKeys": ["Project", "CostCenter"]}}},
    {"Sid": "BusinessHours", "Effect": "Allow", "Action": "ec2:*", "Resource": "*",
     "Condition": {"DateGreaterThan": {"aws:CurrentTime": "2024-01-01T00:00:00Z"}, "DateLessThan": {"aws:CurrentTime": "2030-01-01T00:00:00Z"}}},
    {"Sid": "OwnKeys", "Effect": "Allow", "Action": "iam:*AccessKey*", "Resource": "arn:aws:iam::111122223333:user/${aws:username}"},
    {"Sid": "NoIamWrites", "Effect": "Deny", "NotAction": ["iam:Get*", "iam:List*", "iam:*AccessKey*"], "Resource": "arn:aws:iam::*:*",
     "Condition": {"StringNotEquals": {"aws:PrincipalTag/role": "admin"}}}
  ]
}"#;

fn bench(c: &mut Criterion) {
    let policy = Policy::parse(POLICY, PolicyKind::Identity(IdentityAttachment::Managed)).unwrap();
    let ctx = RequestContext::new(
        "s3:GetObject",
        "arn:aws:s3:::corp-data/teams/blue/report.csv",
    )
    .with_principal(RequestPrincipal::user(
        "arn:aws:iam::111122223333:user/alice",
        "AIDAALICEEXAMPLE00001",
    ))
    .with_principal_tag("team", "blue")
    .with_secure_transport(true)
    .with_key("aws:SourceIp", "203.0.113.42")
    .with_key("aws:CurrentTime", "2025-06-01T12:00:00Z")
    .with_key("aws:MultiFactorAuthPresent", "true");
    let refs = [PolicyRef::new(
        "arn:aws:iam::111122223333:policy/engineers",
        &policy,
    )];
    let input = EvaluationInput {
        identity: &refs,
        ..Default::default()
    };
    assert!(evaluate(&input, &ctx).allowed());

    c.bench_function("evaluate_10_statements_with_conditions", |b| {
        b.iter(|| black_box(evaluate(black_box(&input), black_box(&ctx))).allowed())
    });

    let trust = Policy::parse(
        r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:root"},
            "Action":"sts:AssumeRole","Condition":{"StringEquals":{"sts:ExternalId":"x-1"},"Bool":{"aws:MultiFactorAuthPresent":"true"}}}]}"#,
        PolicyKind::Trust,
    )
    .unwrap();
    let assume = RequestContext::new(
        "sts:AssumeRole",
        "arn:aws:iam::111122223333:role/deploy-web",
    )
    .with_principal(RequestPrincipal::user(
        "arn:aws:iam::111122223333:user/alice",
        "AIDAALICEEXAMPLE00001",
    ))
    .with_external_id("x-1")
    .with_principal_tag("role", "admin")
    .with_key("aws:SourceIp", "203.0.113.42")
    .with_key("aws:MultiFactorAuthPresent", "true")
    .with_key("aws:RequestedRegion", "eu-west-1");
    let input = EvaluationInput {
        identity: &refs,
        resource: Some(PolicyRef::new("role/deploy-web", &trust)),
        ..Default::default()
    };
    assert!(evaluate(&input, &assume).allowed());
    c.bench_function("evaluate_assume_role_trust_plus_identity", |b| {
        b.iter(|| black_box(evaluate(black_box(&input), black_box(&assume))).allowed())
    });

    c.bench_function("parse_10_statement_policy", |b| {
        b.iter(|| {
            Policy::parse(
                black_box(POLICY),
                PolicyKind::Identity(IdentityAttachment::Managed),
            )
            .unwrap()
        })
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
