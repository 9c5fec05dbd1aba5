"""IAM calls are authorized by the policy engine: identity, group and boundary policies."""

from __future__ import annotations

import json

from harness import Creds, eventually, unique


def doc(actions, effect="Allow", resource="*"):
    return json.dumps({"Version": "2012-10-17", "Statement": [
        {"Effect": effect, "Action": actions, "Resource": resource}]})


def test_get_only_user_cannot_create(server):
    u = server.make_user()
    server.aws("iam", "put-user-policy", "--user-name", u.name, "--policy-name", "get",
               "--policy-document", doc("iam:Get*"))
    eventually(lambda: server.aws("iam", "get-user", "--user-name", u.name, creds=u.creds), timeout=3)
    r = server.aws_error("iam", "create-user", "--user-name", unique("x"), creds=u.creds, code="AccessDenied")
    assert "is not authorized to perform: iam:CreateUser" in r.stderr
    assert "Encoded authorization failure message:" in r.stderr


def test_explicit_deny_beats_allow(server):
    u = server.make_user()
    server.aws("iam", "put-user-policy", "--user-name", u.name, "--policy-name", "all",
               "--policy-document", doc("iam:*"))
    server.aws("iam", "put-user-policy", "--user-name", u.name, "--policy-name", "deny",
               "--policy-document", doc("iam:ListUsers", effect="Deny"))
    eventually(lambda: server.aws("iam", "get-user", "--user-name", u.name, creds=u.creds), timeout=3)
    r = server.aws_error("iam", "list-users", creds=u.creds, code="AccessDenied")
    assert "explicit deny" in r.stderr


def test_group_policy_grants_and_removal_revokes(server):
    u = server.make_user()
    group = unique("readers")
    server.aws("iam", "create-group", "--group-name", group)
    server.aws("iam", "put-group-policy", "--group-name", group, "--policy-name", "list",
               "--policy-document", doc("iam:ListUsers"))
    server.aws_error("iam", "list-users", creds=u.creds, code="AccessDenied")
    server.aws("iam", "add-user-to-group", "--user-name", u.name, "--group-name", group)
    eventually(lambda: server.aws("iam", "list-users", creds=u.creds), timeout=3)
    server.aws("iam", "remove-user-from-group", "--user-name", u.name, "--group-name", group)

    def denied():
        r = server.aws_run("iam", "list-users", creds=u.creds)
        assert r.returncode != 0 and r.error_code == "AccessDenied", r.describe()
    eventually(denied, timeout=3)


def test_permissions_boundary_limits(server):
    bname = unique("boundary")
    b = server.aws("iam", "create-policy", "--policy-name", bname,
                   "--policy-document", doc(["iam:Get*", "iam:List*"]))["Policy"]["Arn"]
    name = unique("bounded")
    server.aws("iam", "create-user", "--user-name", name, "--permissions-boundary", b)
    server.aws("iam", "put-user-policy", "--user-name", name, "--policy-name", "all",
               "--policy-document", doc("iam:*"))
    creds = Creds.from_access_key(server.aws("iam", "create-access-key", "--user-name", name)["AccessKey"])
    eventually(lambda: server.aws("iam", "list-users", creds=creds), timeout=3)
    r = server.aws_error("iam", "create-user", "--user-name", unique("x"), creds=creds, code="AccessDenied")
    assert "permissions boundary" in r.stderr
