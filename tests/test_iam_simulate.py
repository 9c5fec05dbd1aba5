"""The IAM policy simulator (SimulatePrincipalPolicy, SimulateCustomPolicy) with the aws CLI."""

from __future__ import annotations

import json

from harness import unique


def decisions(out) -> dict[tuple[str, str], str]:
    return {(r["EvalActionName"], r["EvalResourceName"]): r["EvalDecision"] for r in out["EvaluationResults"]}


def test_simulate_principal_policy_of_a_user_with_groups(server):
    name = unique("sim")
    server.aws("iam", "create-user", "--user-name", name)
    server.aws("iam", "put-user-policy", "--user-name", name, "--policy-name", "own",
               "--policy-document", json.dumps({"Version": "2012-10-17", "Statement": [
                   {"Sid": "Reads", "Effect": "Allow", "Action": "iam:Get*", "Resource": "*"},
                   {"Sid": "NoKeys", "Effect": "Deny", "Action": "iam:GetAccessKeyLastUsed", "Resource": "*"}]}))
    group = unique("simg")
    server.aws("iam", "create-group", "--group-name", group)
    server.aws("iam", "put-group-policy", "--group-name", group, "--policy-name", "g",
               "--policy-document", json.dumps({"Version": "2012-10-17", "Statement": [
                   {"Effect": "Allow", "Action": "sts:AssumeRole", "Resource": "arn:aws:iam::*:role/app-*"}]}))
    server.aws("iam", "add-user-to-group", "--user-name", name, "--group-name", group)
    arn = f"arn:aws:iam::{server.account_id}:user/{name}"
    out = server.aws("iam", "simulate-principal-policy", "--policy-source-arn", arn,
                     "--action-names", "iam:GetUser", "iam:CreateUser", "iam:GetAccessKeyLastUsed", "sts:AssumeRole",
                     "--resource-arns", f"arn:aws:iam::{server.account_id}:role/app-1")
    d = decisions(out)
    role = f"arn:aws:iam::{server.account_id}:role/app-1"
    assert d[("iam:GetUser", role)] == "allowed"
    assert d[("iam:CreateUser", role)] == "implicitDeny"
    assert d[("iam:GetAccessKeyLastUsed", role)] == "explicitDeny"
    assert d[("sts:AssumeRole", role)] == "allowed"  # granted through the group
    allowed = next(r for r in out["EvaluationResults"] if r["EvalActionName"] == "iam:GetUser")
    assert allowed["MatchedStatements"], allowed


def test_simulate_custom_policy_with_conditions_and_boundary(server):
    policy = json.dumps({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": "s3:*", "Resource": "*",
         "Condition": {"StringEquals": {"aws:RequestedRegion": "eu-west-1"}}}]})
    boundary = json.dumps({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": "s3:Get*", "Resource": "*"}]})
    base = ["iam", "simulate-custom-policy", "--policy-input-list", policy,
            "--action-names", "s3:GetObject", "s3:PutObject"]
    # Without the context key the condition does not hold.
    d = decisions(server.aws(*base))
    assert set(d.values()) == {"implicitDeny"}
    ctx = ["--context-entries", "ContextKeyName=aws:RequestedRegion,ContextKeyValues=eu-west-1,ContextKeyType=string"]
    d = decisions(server.aws(*base, *ctx))
    assert d[("s3:GetObject", "*")] == "allowed" and d[("s3:PutObject", "*")] == "allowed"
    d = decisions(server.aws(*base, *ctx, "--permissions-boundary-policy-input-list", boundary))
    assert d[("s3:GetObject", "*")] == "allowed"
    assert d[("s3:PutObject", "*")] == "implicitDeny"


def test_simulate_errors(server):
    r = server.aws_error("iam", "simulate-custom-policy", "--policy-input-list", "{not json",
                         "--action-names", "s3:GetObject", code="MalformedPolicyDocument")
    assert r.returncode != 0
    server.aws_error("iam", "simulate-principal-policy", "--policy-source-arn",
                     f"arn:aws:iam::{server.account_id}:user/{unique('nobody')}",
                     "--action-names", "s3:GetObject", code="NoSuchEntity")
