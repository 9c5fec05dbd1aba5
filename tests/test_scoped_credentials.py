"""GetScopedCredentials, end to end with boto3 (whose STS model has the operation).

A role session is scoped down with a policy and/or a shorter lifetime: the new credentials keep
the caller's identity (GetCallerIdentity returns the same ARN) but lose what the scope-down
policy does not allow; layers intersect; a fourth layer, a lifetime past the session's expiry
and long-term credentials are refused with AWS's error codes; MinimumSessionTokenSize pads the
token; ScopedSessionDescription reaches the audit trail.
"""

from __future__ import annotations

import json
import re

import pytest
from botocore.exceptions import ClientError

from harness import ASIA_RE, Creds, eventually, parse_expiration, unique, utcnow

ADMIN = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}


def allow(*actions: str) -> str:
    return json.dumps({"Version": "2012-10-17",
                       "Statement": [{"Effect": "Allow", "Action": list(actions), "Resource": "*"}]})


def code_of(e: ClientError) -> str:
    return e.response["Error"]["Code"]


@pytest.fixture(autouse=True)
def _needs_the_operation(server):
    if not hasattr(server.sts(), "get_scoped_credentials"):
        pytest.fail("the installed botocore has no GetScopedCredentials; see tests/requirements.txt")


def admin_role_session(server, duration: int = 3600) -> tuple[Creds, str, str]:
    """A session of a fresh role that may do anything; returns (creds, session ARN, role name)."""
    iam = server.iam()
    name = unique("scoped")
    account = server.sts().get_caller_identity()["Account"]
    trust = {"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{account}:root"}, "Action": "sts:AssumeRole"}]}
    iam.create_role(RoleName=name, AssumeRolePolicyDocument=json.dumps(trust))
    iam.put_role_policy(RoleName=name, PolicyName="admin", PolicyDocument=json.dumps(ADMIN))
    # roles may not be assumed by root: an IAM user that may do anything assumes it
    iam.create_user(UserName=name)
    iam.put_user_policy(UserName=name, PolicyName="admin", PolicyDocument=json.dumps(ADMIN))
    user = Creds.from_access_key(iam.create_access_key(UserName=name)["AccessKey"])
    r = server.sts(user).assume_role(RoleArn=f"arn:aws:iam::{account}:role/{name}", RoleSessionName="agent",
                                     DurationSeconds=duration)
    return Creds.from_sts(r["Credentials"]), r["AssumedRoleUser"]["Arn"], name


def test_scope_down_keeps_identity_and_narrows_permissions(server):
    creds, arn, role = admin_role_session(server)
    # the role can read itself
    assert server.iam(creds).get_role(RoleName=role)["Role"]["RoleName"] == role

    r = server.sts(creds).get_scoped_credentials(Policy=allow("s3:GetObject", "sts:GetCallerIdentity"),
                                                 ScopedSessionDescription="agent reading one bucket")
    scoped = Creds.from_sts(r["Credentials"])
    assert scoped.access_key_id != creds.access_key_id
    assert re.match(ASIA_RE, scoped.access_key_id)
    assert r["SessionInfo"]["Arn"] == arn
    assert r["SessionInfo"]["ScopedSessionId"].endswith(":agent")
    assert r["ScopedPoliciesCount"] == 1
    assert r["SessionTokenSize"] == len(scoped.session_token)
    assert 0 < r["SessionTokenUtilization"] <= 100
    # the same identity ...
    who = server.sts(scoped).get_caller_identity()
    assert who["Arn"] == arn
    # ... but iam:GetRole is outside the scope-down policy, though the role allows it
    with pytest.raises(ClientError) as e:
        server.iam(scoped).get_role(RoleName=role)
    assert code_of(e.value) == "AccessDenied"
    assert "iam:GetRole" in e.value.response["Error"]["Message"]
    # the original session is unchanged
    assert server.iam(creds).get_role(RoleName=role)["Role"]["RoleName"] == role
    # without an explicit duration the caller's expiry is inherited
    assert r["Credentials"]["Expiration"] == server.sts(creds).get_scoped_credentials(
        Policy=allow("*"))["Credentials"]["Expiration"]


def test_layers_intersect_and_a_fourth_is_refused(server):
    creds, arn, role = admin_role_session(server)
    sts_iam = allow("sts:GetCallerIdentity", "sts:GetScopedCredentials", "iam:GetRole", "iam:ListRoles")
    l1 = Creds.from_sts(server.sts(creds).get_scoped_credentials(Policy=sts_iam)["Credentials"])
    assert server.iam(l1).get_role(RoleName=role)["Role"]["RoleName"] == role
    # a second layer that allows only ListRoles and GetScopedCredentials (and, uselessly, s3)
    r2 = server.sts(l1).get_scoped_credentials(
        Policy=allow("iam:ListRoles", "sts:GetScopedCredentials", "sts:GetCallerIdentity", "s3:*"))
    assert r2["ScopedPoliciesCount"] == 2
    l2 = Creds.from_sts(r2["Credentials"])
    server.iam(l2).list_roles()
    with pytest.raises(ClientError) as e:  # the second layer does not allow it
        server.iam(l2).get_role(RoleName=role)
    assert code_of(e.value) == "AccessDenied"
    # a duration-only call adds no layer
    r3 = server.sts(l2).get_scoped_credentials(DurationSeconds=900)
    assert r3["ScopedPoliciesCount"] == 2
    l3 = Creds.from_sts(server.sts(l2).get_scoped_credentials(Policy=allow("*"))["Credentials"])
    assert server.sts(l3).get_caller_identity()["Arn"] == arn
    # the third layer allows everything, yet the first two still bind
    with pytest.raises(ClientError) as e:
        server.iam(l3).get_role(RoleName=role)
    assert code_of(e.value) == "AccessDenied"
    # a fourth layer is refused; a duration-only call still works
    with pytest.raises(ClientError) as e:
        server.sts(l3).get_scoped_credentials(Policy=allow("*"))
    assert code_of(e.value) == "AccessDenied"
    assert server.sts(l3).get_scoped_credentials(DurationSeconds=60)["ScopedPoliciesCount"] == 3


def test_scoped_session_needs_the_permission_to_scope_again(server):
    creds, _, _ = admin_role_session(server)
    l1 = Creds.from_sts(server.sts(creds).get_scoped_credentials(Policy=allow("sts:GetCallerIdentity"))["Credentials"])
    with pytest.raises(ClientError) as e:
        server.sts(l1).get_scoped_credentials(DurationSeconds=60)
    assert code_of(e.value) == "AccessDenied"
    assert "sts:GetScopedCredentials" in e.value.response["Error"]["Message"]


def test_duration_rules(server):
    creds, _, _ = admin_role_session(server, duration=900)
    before = utcnow()
    r = server.sts(creds).get_scoped_credentials(DurationSeconds=60)
    exp = parse_expiration(r["Credentials"]["Expiration"]) if isinstance(r["Credentials"]["Expiration"], str) \
        else r["Credentials"]["Expiration"]
    assert 50 <= (exp - before).total_seconds() <= 70
    assert r["ScopedPoliciesCount"] == 0
    # past the caller's expiry (900 s session)
    with pytest.raises(ClientError) as e:
        server.sts(creds).get_scoped_credentials(DurationSeconds=3600)
    assert code_of(e.value) == "InsufficientSessionLifetime"
    assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    # neither Policy nor DurationSeconds
    with pytest.raises(ClientError) as e:
        server.sts(creds).get_scoped_credentials(ScopedSessionDescription="nothing asked")
    assert code_of(e.value) == "ValidationError"


def test_bad_policies_and_long_term_credentials_are_refused(server):
    creds, _, _ = admin_role_session(server)
    with pytest.raises(ClientError) as e:
        server.sts(creds).get_scoped_credentials(Policy='{"Version":"2012-10-17","Statement":[{"Effect":"Maybe"}]}')
    assert code_of(e.value) == "MalformedPolicyDocument"
    # root's long-term keys
    with pytest.raises(ClientError) as e:
        server.sts().get_scoped_credentials(DurationSeconds=60)
    assert code_of(e.value) == "InvalidSubjectCredentials"
    assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    # an IAM user's long-term keys; after GetSessionToken the same user may scope down
    iam = server.iam()
    user = unique("scoped-user")
    iam.create_user(UserName=user)
    iam.put_user_policy(UserName=user, PolicyName="admin", PolicyDocument=json.dumps(ADMIN))
    key = Creds.from_access_key(iam.create_access_key(UserName=user)["AccessKey"])
    with pytest.raises(ClientError) as e:
        server.sts(key).get_scoped_credentials(DurationSeconds=60)
    assert code_of(e.value) == "InvalidSubjectCredentials"
    session = Creds.from_sts(server.sts(key).get_session_token(DurationSeconds=900)["Credentials"])
    r = server.sts(session).get_scoped_credentials(Policy=allow("sts:GetCallerIdentity"))
    who = server.sts(Creds.from_sts(r["Credentials"])).get_caller_identity()
    assert who["Arn"].endswith(f":user/{user}")


def test_minimum_session_token_size_pads_the_token(server):
    creds, arn, _ = admin_role_session(server)
    r = server.sts(creds).get_scoped_credentials(DurationSeconds=120, MinimumSessionTokenSize=4096)
    assert r["SessionTokenSize"] >= 4096
    assert len(r["Credentials"]["SessionToken"]) == r["SessionTokenSize"]
    padded = Creds.from_sts(r["Credentials"])
    assert server.sts(padded).get_caller_identity()["Arn"] == arn
    with pytest.raises(ClientError) as e:
        server.sts(creds).get_scoped_credentials(DurationSeconds=120, MinimumSessionTokenSize=4097)
    assert code_of(e.value) == "ValidationError"


def test_description_goes_to_the_audit_trail(server_factory, tmp_path):
    audit = tmp_path / "audit.log"
    srv = server_factory(name="scoped-audit", args=["--audit-log", str(audit)])
    creds, _, _ = admin_role_session(srv)
    srv.sts(creds).get_scoped_credentials(DurationSeconds=300, ScopedSessionDescription="ci job 42")

    def find():
        for line in audit.read_text().splitlines():
            ev = json.loads(line)
            if ev.get("eventName") == "GetScopedCredentials":
                return ev
        raise AssertionError("no GetScopedCredentials event yet")

    ev = eventually(find, timeout=5, what="audit event")
    assert ev["requestParameters"]["scopedSessionDescription"] == "ci job 42"
    text = audit.read_text()
    assert creds.secret_access_key not in text
