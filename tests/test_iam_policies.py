"""IAM managed policies, versions, attachments and inline policies end to end with the real
aws CLI v1 (boto3 where pagination or raw HTTP statuses are checked)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from botocore.exceptions import ClientError

from harness import eventually, unique

ISO_RE = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z$")
ANPA_RE = re.compile(r"^ANPA[A-Z0-9]{17}$")

ADMIN = "arn:aws:iam::aws:policy/AdministratorAccess"
READ_ONLY = "arn:aws:iam::aws:policy/ReadOnlyAccess"
IAM_READ_ONLY = "arn:aws:iam::aws:policy/IAMReadOnlyAccess"
ROOT_TASK = [
    "arn:aws:iam::aws:policy/root-task/IAMAuditRootUserCredentials",
    "arn:aws:iam::aws:policy/root-task/IAMCreateRootUserPassword",
    "arn:aws:iam::aws:policy/root-task/IAMDeleteRootUserCredentials",
    "arn:aws:iam::aws:policy/root-task/S3UnlockBucketPolicy",
    "arn:aws:iam::aws:policy/root-task/SQSUnlockQueuePolicy",
]
AWS_MANAGED = [
    ADMIN,
    "arn:aws:iam::aws:policy/PowerUserAccess",
    READ_ONLY,
    "arn:aws:iam::aws:policy/IAMFullAccess",
    IAM_READ_ONLY,
    "arn:aws:iam::aws:policy/AmazonS3FullAccess",
    "arn:aws:iam::aws:policy/AmazonS3ReadOnlyAccess",
    *ROOT_TASK,
]


def doc(*actions: str, resource: str = "*", sid: str | None = None) -> dict:
    st = {"Effect": "Allow", "Action": list(actions), "Resource": resource}
    if sid:
        st["Sid"] = sid
    return {"Version": "2012-10-17", "Statement": [st]}


def write_doc(tmp_path: Path, d: dict | str, name: str | None = None) -> str:
    """Write a policy document to a file and return the CLI's file:// argument."""
    p = tmp_path / (name or f"{unique('doc')}.json")
    p.write_text(d if isinstance(d, str) else json.dumps(d, indent=2))
    return f"file://{p}"


def client_error(fn, **kw) -> tuple[str, int, str]:
    with pytest.raises(ClientError) as ei:
        fn(**kw)
    r = ei.value.response
    return r["Error"]["Code"], r["ResponseMetadata"]["HTTPStatusCode"], r["Error"].get("Message", "")


def create_policy(server, tmp_path, name=None, d=None, path=None, *extra) -> dict:
    name = name or unique("pol")
    args = ["iam", "create-policy", "--policy-name", name,
            "--policy-document", write_doc(tmp_path, d or doc("s3:GetObject"))]
    if path:
        args += ["--path", path]
    return server.aws(*args, *extra)["Policy"]


def action_missing(server, *args) -> str | None:
    """The reason to skip when an action of another family is not implemented yet."""
    r = server.aws_run(*args)
    if r.returncode != 0 and r.error_code == "InvalidAction":
        return f"{args[1]} is not implemented yet (another family): {r.error_message}"
    return None


def make_role(server, name: str) -> None:
    trust = json.dumps({"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{server.account_id}:root"},
        "Action": "sts:AssumeRole"}]})
    reason = action_missing(server, "iam", "create-role", "--role-name", name,
                            "--assume-role-policy-document", trust)
    if reason:
        pytest.skip(reason)


def make_group(server, name: str) -> None:
    reason = action_missing(server, "iam", "create-group", "--group-name", name)
    if reason:
        pytest.skip(reason)


# --------------------------------------------------------------------------------------
# managed policies and versions
# --------------------------------------------------------------------------------------

def test_create_get_and_version_lifecycle(server, tmp_path):
    name = unique("pol")
    d1 = doc("s3:GetObject", "s3:ListBucket", sid="Read")
    out = server.aws("iam", "create-policy", "--policy-name", name, "--path", "/team/",
                     "--policy-document", write_doc(tmp_path, d1),
                     "--description", "read the bucket",
                     "--tags", "Key=team,Value=blue")["Policy"]
    arn = f"arn:aws:iam::{server.account_id}:policy/team/{name}"
    assert out["PolicyName"] == name
    assert out["Arn"] == arn
    assert out["Path"] == "/team/"
    assert ANPA_RE.match(out["PolicyId"]), out
    assert out["DefaultVersionId"] == "v1"
    assert out["AttachmentCount"] == 0
    assert out["PermissionsBoundaryUsageCount"] == 0
    assert out["IsAttachable"] is True
    assert ISO_RE.match(out["CreateDate"]) and ISO_RE.match(out["UpdateDate"]), out
    assert out.get("Tags") == [{"Key": "team", "Value": "blue"}]

    got = server.aws("iam", "get-policy", "--policy-arn", arn)["Policy"]
    for k in ("PolicyName", "PolicyId", "Arn", "Path", "DefaultVersionId", "CreateDate"):
        assert got[k] == out[k], (k, got, out)
    assert got["Description"] == "read the bucket"
    assert got["AttachmentCount"] == 0

    v1 = server.aws("iam", "get-policy-version", "--policy-arn", arn, "--version-id", "v1")["PolicyVersion"]
    assert v1["Document"] == d1  # the CLI URL-decodes and parses the document
    assert v1["VersionId"] == "v1" and v1["IsDefaultVersion"] is True

    # duplicate names (case-insensitively) are refused
    r = server.aws_error("iam", "create-policy", "--policy-name", name.upper(),
                         "--policy-document", write_doc(tmp_path, d1), code="EntityAlreadyExists")
    assert "already exists" in r.error_message

    # versions v2..v5, v3 made the default on creation
    docs = {1: d1}
    for n in range(2, 6):
        docs[n] = doc(f"s3:Action{n}")
        args = ["iam", "create-policy-version", "--policy-arn", arn,
                "--policy-document", write_doc(tmp_path, docs[n])]
        if n == 3:
            args.append("--set-as-default")
        pv = server.aws(*args)["PolicyVersion"]
        assert pv["VersionId"] == f"v{n}"
        assert pv["IsDefaultVersion"] is (n == 3)
        assert "Document" not in pv
    assert server.aws("iam", "get-policy", "--policy-arn", arn)["Policy"]["DefaultVersionId"] == "v3"

    # a sixth version is over the quota
    r = server.aws_error("iam", "create-policy-version", "--policy-arn", arn,
                         "--policy-document", write_doc(tmp_path, doc("s3:Six")), code="LimitExceeded")
    assert r.error_message == ("A managed policy can have up to 5 versions. Before you create a new "
                               "version, you must delete an existing version.")

    versions = server.aws("iam", "list-policy-versions", "--policy-arn", arn)["Versions"]
    assert [v["VersionId"] for v in versions] == ["v5", "v4", "v3", "v2", "v1"]
    assert [v["VersionId"] for v in versions if v["IsDefaultVersion"]] == ["v3"]
    assert all("Document" not in v for v in versions)

    assert server.aws("iam", "set-default-policy-version", "--policy-arn", arn, "--version-id", "v5") is None
    assert server.aws("iam", "get-policy", "--policy-arn", arn)["Policy"]["DefaultVersionId"] == "v5"
    got = server.aws("iam", "get-policy-version", "--policy-arn", arn, "--version-id", "v5")["PolicyVersion"]
    assert got["Document"] == docs[5] and got["IsDefaultVersion"] is True

    r = server.aws_error("iam", "delete-policy-version", "--policy-arn", arn, "--version-id", "v5",
                         code="DeleteConflict")
    assert r.error_message == "Cannot delete the default version of a policy."
    server.aws_error("iam", "delete-policy-version", "--policy-arn", arn, "--version-id", "v9",
                     code="NoSuchEntity")
    server.aws_error("iam", "set-default-policy-version", "--policy-arn", arn, "--version-id", "v9",
                     code="NoSuchEntity")
    server.aws_error("iam", "get-policy-version", "--policy-arn", arn, "--version-id", "v9",
                     code="NoSuchEntity")

    # deleting the policy while it has non-default versions is refused
    r = server.aws_error("iam", "delete-policy", "--policy-arn", arn, code="DeleteConflict")
    assert r.error_message.startswith("This policy has more than one version.")

    # after deleting v1 there is room for v6 (numbers are never reused)
    assert server.aws("iam", "delete-policy-version", "--policy-arn", arn, "--version-id", "v1") is None
    pv = server.aws("iam", "create-policy-version", "--policy-arn", arn,
                    "--policy-document", write_doc(tmp_path, doc("s3:Six")))["PolicyVersion"]
    assert pv["VersionId"] == "v6"

    for v in ("v2", "v3", "v4", "v6"):
        assert server.aws("iam", "delete-policy-version", "--policy-arn", arn, "--version-id", v) is None
    assert server.aws("iam", "delete-policy", "--policy-arn", arn) is None
    server.aws_error("iam", "get-policy", "--policy-arn", arn, code="NoSuchEntity")
    server.aws_error("iam", "delete-policy", "--policy-arn", arn, code="NoSuchEntity")


def test_policy_arn_must_name_the_right_path_and_account(server, tmp_path):
    p = create_policy(server, tmp_path, path="/a/")
    name = p["PolicyName"]
    wrong_path = f"arn:aws:iam::{server.account_id}:policy/{name}"
    r = server.aws_error("iam", "get-policy", "--policy-arn", wrong_path, code="NoSuchEntity")
    assert r.error_message == f"Policy {wrong_path} was not found."
    other = f"arn:aws:iam::123456789012:policy/a/{name}"
    server.aws_error("iam", "get-policy", "--policy-arn", other, code="NoSuchEntity")
    r = server.aws_error("iam", "get-policy", "--policy-arn", "arn:aws:iam::aws:user/not-a-policy",
                         code="InvalidInput")
    assert "is not valid" in r.error_message
    assert server.aws("iam", "get-policy", "--policy-arn", p["Arn"])["Policy"]["PolicyId"] == p["PolicyId"]


def test_malformed_and_oversized_documents(server, tmp_path):
    cases = [
        "{not json",
        json.dumps({"Version": "2012-10-17", "Statement": [
            {"Effect": "Allow", "Principal": "*", "Action": "s3:*", "Resource": "*"}]}),
        json.dumps({"Version": "2012-10-17", "Statement": [{"Effect": "Maybe", "Action": "s3:*", "Resource": "*"}]}),
        json.dumps({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:*"}]}),
    ]
    for text in cases:
        server.aws_error("iam", "create-policy", "--policy-name", unique("bad"),
                         "--policy-document", write_doc(tmp_path, text), code="MalformedPolicyDocument")
    p = create_policy(server, tmp_path)
    server.aws_error("iam", "create-policy-version", "--policy-arn", p["Arn"],
                     "--policy-document", write_doc(tmp_path, cases[1]), code="MalformedPolicyDocument")

    big = doc(*[f"s3:Action{i:05d}" for i in range(600)])
    r = server.aws_error("iam", "create-policy", "--policy-name", unique("big"),
                         "--policy-document", write_doc(tmp_path, big), code="LimitExceeded")
    assert r.error_message == "Cannot exceed quota for PolicySize: 6144"
    # white space does not count
    small_but_spaced = json.dumps(doc(*[f"s3:A{i:03d}" for i in range(300)]), indent=40)
    assert len(small_but_spaced) > 6144
    server.aws("iam", "create-policy", "--policy-name", unique("spaced"),
               "--policy-document", write_doc(tmp_path, small_but_spaced))

    # parameter validation
    r = server.aws_error("iam", "create-policy", "--policy-name", "bad name",
                         "--policy-document", write_doc(tmp_path, doc("s3:*")), code="ValidationError")
    assert "policyName" in r.error_message
    r = server.aws_error("iam", "create-policy", "--policy-name", unique("p"), "--path", "/no-trailing",
                         "--policy-document", write_doc(tmp_path, doc("s3:*")), code="ValidationError")
    assert "path" in r.error_message


def test_tags_on_policies(server, tmp_path):
    p = create_policy(server, tmp_path)
    arn = p["Arn"]
    assert server.aws("iam", "list-policy-tags", "--policy-arn", arn)["Tags"] == []
    assert server.aws("iam", "tag-policy", "--policy-arn", arn,
                      "--tags", "Key=a,Value=1", "Key=b,Value=2") is None
    assert server.aws("iam", "tag-policy", "--policy-arn", arn, "--tags", "Key=A,Value=3") is None
    tags = server.aws("iam", "list-policy-tags", "--policy-arn", arn)["Tags"]
    assert sorted((t["Key"], t["Value"]) for t in tags) == [("A", "3"), ("b", "2")]
    assert server.aws("iam", "untag-policy", "--policy-arn", arn, "--tag-keys", "a", "zzz") is None
    assert server.aws("iam", "list-policy-tags", "--policy-arn", arn)["Tags"] == [{"Key": "b", "Value": "2"}]
    server.aws_error("iam", "tag-policy", "--policy-arn", ADMIN, "--tags", "Key=a,Value=1", code="AccessDenied")
    assert server.aws("iam", "list-policy-tags", "--policy-arn", ADMIN)["Tags"] == []


# --------------------------------------------------------------------------------------
# AWS managed policies
# --------------------------------------------------------------------------------------

def test_aws_managed_policies_can_be_read_listed_and_attached(server):
    admin = server.aws("iam", "get-policy", "--policy-arn", ADMIN)["Policy"]
    assert admin["PolicyName"] == "AdministratorAccess"
    assert admin["PolicyId"] == "ANPAIWMBCKSKIEE64ZLYK"
    assert admin["Path"] == "/" and admin["DefaultVersionId"] == "v1"
    assert admin["Description"] == "Provides full access to AWS services and resources."
    v = server.aws("iam", "get-policy-version", "--policy-arn", ADMIN, "--version-id", "v1")["PolicyVersion"]
    assert v["Document"] == {"Version": "2012-10-17",
                             "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}
    assert v["IsDefaultVersion"] is True

    ro = server.aws("iam", "get-policy", "--policy-arn", READ_ONLY)["Policy"]
    ro_v = server.aws("iam", "get-policy-version", "--policy-arn", READ_ONLY,
                      "--version-id", ro["DefaultVersionId"])["PolicyVersion"]
    actions = [a for st in ro_v["Document"]["Statement"] for a in st["Action"]]
    assert len(actions) > 1000 and "s3:Get*" in actions and "iam:Get*" in actions
    vers = server.aws("iam", "list-policy-versions", "--policy-arn", READ_ONLY)["Versions"]
    assert [x["VersionId"] for x in vers] == [ro["DefaultVersionId"]]
    server.aws_error("iam", "get-policy-version", "--policy-arn", READ_ONLY, "--version-id", "v1",
                     code="NoSuchEntity")

    for arn in ROOT_TASK:
        p = server.aws("iam", "get-policy", "--policy-arn", arn)["Policy"]
        assert p["Path"] == "/root-task/" and p["Arn"] == arn and ANPA_RE.match(p["PolicyId"])
        d = server.aws("iam", "get-policy-version", "--policy-arn", arn, "--version-id", "v1")
        assert d["PolicyVersion"]["Document"]["Statement"][0]["Effect"] == "Deny"

    server.aws_error("iam", "get-policy", "--policy-arn", "arn:aws:iam::aws:policy/NoSuchAwsPolicy",
                     code="NoSuchEntity")

    listed = server.aws("iam", "list-policies", "--scope", "AWS")["Policies"]
    assert sorted(p["Arn"] for p in listed) == sorted(AWS_MANAGED)
    assert all("Description" not in p for p in listed)
    local = server.aws("iam", "list-policies", "--scope", "Local")["Policies"]
    assert not any(p["Arn"].startswith("arn:aws:iam::aws:") for p in local)
    everything = {p["Arn"] for p in server.aws("iam", "list-policies")["Policies"]}
    assert set(AWS_MANAGED) <= everything
    root_task = server.aws("iam", "list-policies", "--scope", "AWS", "--path-prefix", "/root-task/")["Policies"]
    assert sorted(p["Arn"] for p in root_task) == sorted(ROOT_TASK)

    # attach two AWS managed policies to a fresh user
    u = server.make_user(with_key=False)
    before = server.aws("iam", "get-policy", "--policy-arn", ADMIN)["Policy"]["AttachmentCount"]
    for arn in (ADMIN, READ_ONLY):
        assert server.aws("iam", "attach-user-policy", "--user-name", u.name, "--policy-arn", arn) is None
    att = server.aws("iam", "list-attached-user-policies", "--user-name", u.name)["AttachedPolicies"]
    assert sorted((a["PolicyName"], a["PolicyArn"]) for a in att) == [
        ("AdministratorAccess", ADMIN), ("ReadOnlyAccess", READ_ONLY)]
    assert server.aws("iam", "get-policy", "--policy-arn", ADMIN)["Policy"]["AttachmentCount"] == before + 1
    ents = server.aws("iam", "list-entities-for-policy", "--policy-arn", ADMIN)
    assert u.name in [x["UserName"] for x in ents["PolicyUsers"]]
    attached_aws = {p["Arn"] for p in server.aws("iam", "list-policies", "--scope", "AWS",
                                                 "--only-attached")["Policies"]}
    assert {ADMIN, READ_ONLY} <= attached_aws

    for arn in (ADMIN, READ_ONLY):
        assert server.aws("iam", "detach-user-policy", "--user-name", u.name, "--policy-arn", arn) is None
    assert server.aws("iam", "list-attached-user-policies", "--user-name", u.name)["AttachedPolicies"] == []


def test_aws_managed_policies_cannot_be_changed(server, tmp_path):
    f = write_doc(tmp_path, doc("s3:*"))
    server.aws_error("iam", "delete-policy", "--policy-arn", ADMIN, code="AccessDenied")
    server.aws_error("iam", "create-policy-version", "--policy-arn", ADMIN, "--policy-document", f,
                     code="AccessDenied")
    server.aws_error("iam", "set-default-policy-version", "--policy-arn", ADMIN, "--version-id", "v1",
                     code="AccessDenied")
    server.aws_error("iam", "delete-policy-version", "--policy-arn", ADMIN, "--version-id", "v1",
                     code="AccessDenied")
    server.aws_error("iam", "untag-policy", "--policy-arn", ADMIN, "--tag-keys", "a", code="AccessDenied")
    assert server.aws("iam", "get-policy", "--policy-arn", ADMIN)["Policy"]["DefaultVersionId"] == "v1"
    code, status, _ = client_error(server.iam().delete_policy, PolicyArn=ADMIN)
    assert (code, status) == ("AccessDenied", 403)


# --------------------------------------------------------------------------------------
# attachments
# --------------------------------------------------------------------------------------

def test_attach_user_policy_and_delete_conflicts(server, tmp_path):
    u = server.make_user(with_key=False)
    p = create_policy(server, tmp_path, path="/att/")
    arn = p["Arn"]
    assert server.aws("iam", "attach-user-policy", "--user-name", u.name, "--policy-arn", arn) is None
    # attaching twice is not an error and attaches once
    assert server.aws("iam", "attach-user-policy", "--user-name", u.name, "--policy-arn", arn) is None
    att = server.aws("iam", "list-attached-user-policies", "--user-name", u.name)["AttachedPolicies"]
    assert att == [{"PolicyName": p["PolicyName"], "PolicyArn": arn}]
    assert server.aws("iam", "list-attached-user-policies", "--user-name", u.name,
                      "--path-prefix", "/other/")["AttachedPolicies"] == []
    assert server.aws("iam", "list-attached-user-policies", "--user-name", u.name,
                      "--path-prefix", "/att/")["AttachedPolicies"] == att

    got = server.aws("iam", "get-policy", "--policy-arn", arn)["Policy"]
    assert got["AttachmentCount"] == 1

    ents = server.aws("iam", "list-entities-for-policy", "--policy-arn", arn)
    assert ents["PolicyUsers"] == [{"UserName": u.name, "UserId": u.user_id}]
    assert ents["PolicyGroups"] == [] and ents["PolicyRoles"] == []
    only_roles = server.aws("iam", "list-entities-for-policy", "--policy-arn", arn, "--entity-filter", "Role")
    assert only_roles["PolicyUsers"] == []
    as_boundary = server.aws("iam", "list-entities-for-policy", "--policy-arn", arn,
                             "--policy-usage-filter", "PermissionsBoundary")
    assert as_boundary["PolicyUsers"] == []

    attached = {x["Arn"] for x in server.aws("iam", "list-policies", "--scope", "Local",
                                            "--only-attached")["Policies"]}
    assert arn in attached

    r = server.aws_error("iam", "delete-policy", "--policy-arn", arn, code="DeleteConflict")
    assert r.error_message == "Cannot delete a policy attached to entities."
    r = server.aws_error("iam", "delete-user", "--user-name", u.name, code="DeleteConflict")
    assert "policies" in r.error_message

    assert server.aws("iam", "detach-user-policy", "--user-name", u.name, "--policy-arn", arn) is None
    r = server.aws_error("iam", "detach-user-policy", "--user-name", u.name, "--policy-arn", arn,
                         code="NoSuchEntity")
    assert r.error_message == f"Policy {arn} was not found."
    assert server.aws("iam", "get-policy", "--policy-arn", arn)["Policy"]["AttachmentCount"] == 0
    assert server.aws("iam", "delete-policy", "--policy-arn", arn) is None
    assert server.aws("iam", "delete-user", "--user-name", u.name) is None


def test_attach_errors_and_quota(server, tmp_path):
    u = server.make_user(with_key=False)
    missing = f"arn:aws:iam::{server.account_id}:policy/{unique('nope')}"
    r = server.aws_error("iam", "attach-user-policy", "--user-name", u.name, "--policy-arn", missing,
                         code="NoSuchEntity")
    assert r.error_message == f"Policy {missing} does not exist or is not attachable."
    server.aws_error("iam", "attach-user-policy", "--user-name", u.name,
                     "--policy-arn", "arn:aws:iam::aws:policy/NoSuchAwsPolicy", code="NoSuchEntity")
    server.aws_error("iam", "attach-user-policy", "--user-name", u.name,
                     "--policy-arn", "arn:aws:s3:::bucket-name-x", code="InvalidInput")
    r = server.aws_error("iam", "attach-user-policy", "--user-name", unique("ghost"), "--policy-arn", ADMIN,
                         code="NoSuchEntity")
    assert "cannot be found" in r.error_message

    arns = [create_policy(server, tmp_path)["Arn"] for _ in range(10)]
    for a in arns:
        server.aws("iam", "attach-user-policy", "--user-name", u.name, "--policy-arn", a)
    r = server.aws_error("iam", "attach-user-policy", "--user-name", u.name, "--policy-arn", ADMIN,
                         code="LimitExceeded")
    assert r.error_message == "Cannot exceed quota for PoliciesPerUser: 10"
    code, status, _ = client_error(server.iam().attach_user_policy, UserName=u.name, PolicyArn=ADMIN)
    assert (code, status) == ("LimitExceeded", 409)

    # pagination of the attached list
    iam = server.iam()
    pages = list(iam.get_paginator("list_attached_user_policies").paginate(
        UserName=u.name, PaginationConfig={"PageSize": 3}))
    assert len(pages) == 4
    assert sorted(a["PolicyArn"] for pg in pages for a in pg["AttachedPolicies"]) == sorted(arns)
    first = iam.list_attached_user_policies(UserName=u.name, MaxItems=3)
    assert first["IsTruncated"] is True and len(first["AttachedPolicies"]) == 3 and first["Marker"]

    for a in arns:
        server.aws("iam", "detach-user-policy", "--user-name", u.name, "--policy-arn", a)


# --------------------------------------------------------------------------------------
# inline policies
# --------------------------------------------------------------------------------------

def test_inline_user_policies(server, tmp_path):
    u = server.make_user(with_key=False)
    d = doc("s3:GetObject", resource="arn:aws:s3:::bucket/*", sid="X")
    assert server.aws("iam", "put-user-policy", "--user-name", u.name, "--policy-name", "read",
                      "--policy-document", write_doc(tmp_path, d)) is None
    got = server.aws("iam", "get-user-policy", "--user-name", u.name, "--policy-name", "read")
    assert got["UserName"] == u.name and got["PolicyName"] == "read"
    assert got["PolicyDocument"] == d
    assert server.aws("iam", "list-user-policies", "--user-name", u.name)["PolicyNames"] == ["read"]

    # raw text (white space and all) comes back exactly, URL-decoded by boto3
    raw = '{\n  "Version": "2012-10-17",\n  "Statement": {"Effect": "Deny", "Action": "s3:Delete*", "Resource": "*"}\n}'
    server.iam().put_user_policy(UserName=u.name, PolicyName="deny", PolicyDocument=raw)
    got = server.iam().get_user_policy(UserName=u.name, PolicyName="deny")
    assert json.loads(json.dumps(got["PolicyDocument"])) == json.loads(raw)

    # put again replaces
    d2 = doc("s3:PutObject")
    server.aws("iam", "put-user-policy", "--user-name", u.name, "--policy-name", "read",
               "--policy-document", write_doc(tmp_path, d2))
    assert server.aws("iam", "get-user-policy", "--user-name", u.name,
                      "--policy-name", "read")["PolicyDocument"] == d2
    assert server.aws("iam", "list-user-policies", "--user-name", u.name)["PolicyNames"] == ["deny", "read"]

    r = server.aws_error("iam", "delete-user", "--user-name", u.name, code="DeleteConflict")
    assert r.error_message == "Cannot delete entity, must delete policies first."

    server.aws_error("iam", "put-user-policy", "--user-name", u.name, "--policy-name", "bad",
                     "--policy-document", write_doc(tmp_path, "{nope"), code="MalformedPolicyDocument")
    server.aws_error("iam", "put-user-policy", "--user-name", u.name, "--policy-name", "bad",
                     "--policy-document", write_doc(tmp_path, json.dumps({"Version": "2012-10-17", "Statement": [
                         {"Effect": "Allow", "Principal": "*", "Action": "s3:*", "Resource": "*"}]})),
                     code="MalformedPolicyDocument")
    server.aws_error("iam", "put-user-policy", "--user-name", unique("ghost"), "--policy-name", "p",
                     "--policy-document", write_doc(tmp_path, d), code="NoSuchEntity")

    # the user's inline policies together may hold 2048 non-white-space characters
    big = doc(*[f"s3:Act{i:04d}" for i in range(180)])
    r = server.aws_error("iam", "put-user-policy", "--user-name", u.name, "--policy-name", "big",
                         "--policy-document", write_doc(tmp_path, big), code="LimitExceeded")
    assert r.error_message == f"Maximum policy size of 2048 bytes exceeded for user {u.name}"

    r = server.aws_error("iam", "get-user-policy", "--user-name", u.name, "--policy-name", "nope",
                         code="NoSuchEntity")
    assert r.error_message == "The user policy with name nope cannot be found."
    for n in ("read", "deny"):
        assert server.aws("iam", "delete-user-policy", "--user-name", u.name, "--policy-name", n) is None
    server.aws_error("iam", "delete-user-policy", "--user-name", u.name, "--policy-name", "read",
                     code="NoSuchEntity")
    assert server.aws("iam", "list-user-policies", "--user-name", u.name)["PolicyNames"] == []
    assert server.aws("iam", "delete-user", "--user-name", u.name) is None


def test_inline_policy_pagination(server):
    u = server.make_user(with_key=False)
    iam = server.iam()
    names = [f"p{i:02d}" for i in range(7)]
    for n in names:
        iam.put_user_policy(UserName=u.name, PolicyName=n, PolicyDocument=json.dumps(doc("s3:GetObject")))
    pages = list(iam.get_paginator("list_user_policies").paginate(
        UserName=u.name, PaginationConfig={"PageSize": 3}))
    assert [len(pg["PolicyNames"]) for pg in pages] == [3, 3, 1]
    assert [n for pg in pages for n in pg["PolicyNames"]] == names
    assert server.aws("iam", "list-user-policies", "--user-name", u.name)["PolicyNames"] == names


def test_role_policies(server, tmp_path):
    role = unique("role")
    make_role(server, role)
    d = doc("sqs:SendMessage")
    assert server.aws("iam", "put-role-policy", "--role-name", role, "--policy-name", "send",
                      "--policy-document", write_doc(tmp_path, d)) is None
    got = server.aws("iam", "get-role-policy", "--role-name", role, "--policy-name", "send")
    assert got == {"RoleName": role, "PolicyName": "send", "PolicyDocument": d}
    assert server.aws("iam", "list-role-policies", "--role-name", role)["PolicyNames"] == ["send"]
    r = server.aws_error("iam", "get-role-policy", "--role-name", role, "--policy-name", "x", code="NoSuchEntity")
    assert r.error_message == "The role policy with name x cannot be found."

    p = create_policy(server, tmp_path)
    for arn in (p["Arn"], ADMIN):
        assert server.aws("iam", "attach-role-policy", "--role-name", role, "--policy-arn", arn) is None
    att = server.aws("iam", "list-attached-role-policies", "--role-name", role)["AttachedPolicies"]
    assert sorted(a["PolicyArn"] for a in att) == sorted([p["Arn"], ADMIN])
    ents = server.aws("iam", "list-entities-for-policy", "--policy-arn", p["Arn"])
    assert [x["RoleName"] for x in ents["PolicyRoles"]] == [role]
    assert ents["PolicyRoles"][0]["RoleId"].startswith("AROA")
    server.aws_error("iam", "delete-policy", "--policy-arn", p["Arn"], code="DeleteConflict")
    r = server.aws_error("iam", "delete-role", "--role-name", role, code="DeleteConflict")
    assert "policies" in r.error_message

    # 10 attached at most
    more = [create_policy(server, tmp_path)["Arn"] for _ in range(8)]
    for a in more:
        server.aws("iam", "attach-role-policy", "--role-name", role, "--policy-arn", a)
    r = server.aws_error("iam", "attach-role-policy", "--role-name", role, "--policy-arn", READ_ONLY,
                         code="LimitExceeded")
    assert r.error_message == "Cannot exceed quota for PoliciesPerRole: 10"

    for a in [p["Arn"], ADMIN, *more]:
        assert server.aws("iam", "detach-role-policy", "--role-name", role, "--policy-arn", a) is None
    server.aws_error("iam", "detach-role-policy", "--role-name", role, "--policy-arn", ADMIN, code="NoSuchEntity")
    assert server.aws("iam", "delete-role-policy", "--role-name", role, "--policy-name", "send") is None
    assert server.aws("iam", "list-role-policies", "--role-name", role)["PolicyNames"] == []
    server.aws_error("iam", "put-role-policy", "--role-name", unique("ghost"), "--policy-name", "p",
                     "--policy-document", write_doc(tmp_path, d), code="NoSuchEntity")
    assert server.aws("iam", "delete-role", "--role-name", role) is None


def test_group_policies(server, tmp_path):
    group = unique("grp")
    make_group(server, group)
    d = doc("ec2:Describe*")
    assert server.aws("iam", "put-group-policy", "--group-name", group, "--policy-name", "describe",
                      "--policy-document", write_doc(tmp_path, d)) is None
    got = server.aws("iam", "get-group-policy", "--group-name", group, "--policy-name", "describe")
    assert got == {"GroupName": group, "PolicyName": "describe", "PolicyDocument": d}
    assert server.aws("iam", "list-group-policies", "--group-name", group)["PolicyNames"] == ["describe"]

    # groups hold 5120 non-white-space characters of inline policies
    big = doc(*[f"ec2:Action{i:04d}" for i in range(300)])
    r = server.aws_error("iam", "put-group-policy", "--group-name", group, "--policy-name", "big",
                         "--policy-document", write_doc(tmp_path, big), code="LimitExceeded")
    assert r.error_message == f"Maximum policy size of 5120 bytes exceeded for group {group}"

    p = create_policy(server, tmp_path)
    assert server.aws("iam", "attach-group-policy", "--group-name", group, "--policy-arn", p["Arn"]) is None
    att = server.aws("iam", "list-attached-group-policies", "--group-name", group)["AttachedPolicies"]
    assert att == [{"PolicyName": p["PolicyName"], "PolicyArn": p["Arn"]}]
    ents = server.aws("iam", "list-entities-for-policy", "--policy-arn", p["Arn"], "--entity-filter", "Group")
    assert [x["GroupName"] for x in ents["PolicyGroups"]] == [group]
    assert server.aws("iam", "get-policy", "--policy-arn", p["Arn"])["Policy"]["AttachmentCount"] == 1
    r = server.aws_error("iam", "delete-group", "--group-name", group, code="DeleteConflict")
    assert "policies" in r.error_message

    assert server.aws("iam", "detach-group-policy", "--group-name", group, "--policy-arn", p["Arn"]) is None
    assert server.aws("iam", "delete-group-policy", "--group-name", group, "--policy-name", "describe") is None
    server.aws_error("iam", "delete-group-policy", "--group-name", group, "--policy-name", "describe",
                     code="NoSuchEntity")
    assert server.aws("iam", "delete-group", "--group-name", group) is None


# --------------------------------------------------------------------------------------
# lists
# --------------------------------------------------------------------------------------

def test_list_policies_pagination_and_filters(server, tmp_path):
    prefix = f"/{unique('pg')}/"
    arns = sorted(create_policy(server, tmp_path, name=f"pg{i}-{unique('x')}", path=prefix)["Arn"]
                  for i in range(5))
    listed = server.aws("iam", "list-policies", "--scope", "Local", "--path-prefix", prefix)["Policies"]
    assert sorted(p["Arn"] for p in listed) == arns
    assert all(p["AttachmentCount"] == 0 for p in listed)

    iam = server.iam()
    pages = list(iam.get_paginator("list_policies").paginate(
        Scope="Local", PathPrefix=prefix, PaginationConfig={"PageSize": 2}))
    assert [len(pg["Policies"]) for pg in pages] == [2, 2, 1]
    assert sorted(p["Arn"] for pg in pages for p in pg["Policies"]) == arns
    first = iam.list_policies(Scope="Local", PathPrefix=prefix, MaxItems=2)
    assert first["IsTruncated"] is True
    code, _, _ = client_error(iam.list_policies, Scope="Local", Marker="!!not-a-marker!!")
    assert code == "ValidationError"

    u = server.make_user(with_key=False)
    server.aws("iam", "attach-user-policy", "--user-name", u.name, "--policy-arn", arns[0])
    only = server.aws("iam", "list-policies", "--scope", "Local", "--path-prefix", prefix, "--only-attached")
    assert [p["Arn"] for p in only["Policies"]] == [arns[0]]
    assert only["Policies"][0]["AttachmentCount"] == 1
    server.aws("iam", "detach-user-policy", "--user-name", u.name, "--policy-arn", arns[0])

    # versions paginate newest first
    for n in range(2, 5):
        server.aws("iam", "create-policy-version", "--policy-arn", arns[1],
                   "--policy-document", write_doc(tmp_path, doc(f"s3:V{n}")))
    pages = list(iam.get_paginator("list_policy_versions").paginate(
        PolicyArn=arns[1], PaginationConfig={"PageSize": 3}))
    assert [v["VersionId"] for pg in pages for v in pg["Versions"]] == ["v4", "v3", "v2", "v1"]
    assert len(pages) == 2


# --------------------------------------------------------------------------------------
# authorization
# --------------------------------------------------------------------------------------

def test_non_root_callers_need_permissions(server, tmp_path):
    u = server.make_user()
    f = write_doc(tmp_path, doc("s3:*"))
    server.aws_error("iam", "create-policy", "--policy-name", unique("p"), "--policy-document", f,
                     creds=u.creds, code="AccessDenied")
    server.aws_error("iam", "get-policy", "--policy-arn", ADMIN, creds=u.creds, code="AccessDenied")

    server.aws("iam", "attach-user-policy", "--user-name", u.name, "--policy-arn", IAM_READ_ONLY)

    def can_read():
        r = server.aws_run("iam", "get-policy", "--policy-arn", ADMIN, creds=u.creds)
        assert r.returncode == 0, r.describe()
    eventually(can_read, timeout=3)
    server.aws_error("iam", "create-policy", "--policy-name", unique("p"), "--policy-document", f,
                     creds=u.creds, code="AccessDenied")

    own = doc("iam:CreatePolicy", "iam:DeletePolicy",
              resource=f"arn:aws:iam::{server.account_id}:policy/self/*")
    server.aws("iam", "put-user-policy", "--user-name", u.name, "--policy-name", "self",
               "--policy-document", write_doc(tmp_path, own))

    def can_create():
        r = server.aws_run("iam", "create-policy", "--policy-name", "mine", "--path", "/self/",
                           "--policy-document", f, creds=u.creds)
        assert r.returncode == 0 or r.error_code == "EntityAlreadyExists", r.describe()
    eventually(can_create, timeout=3)
    server.aws_error("iam", "create-policy", "--policy-name", unique("p"), "--path", "/elsewhere/",
                     "--policy-document", f, creds=u.creds, code="AccessDenied")
    server.aws("iam", "delete-policy", "--policy-arn",
               f"arn:aws:iam::{server.account_id}:policy/self/mine", creds=u.creds)


def test_read_only_access_grants_reads(server):
    """ReadOnlyAccess (~90k characters, over the customer managed size limit) still takes effect."""
    u = server.make_user()
    server.aws("iam", "attach-user-policy", "--user-name", u.name, "--policy-arn", READ_ONLY)

    def can_list():
        r = server.aws_run("iam", "list-policies", "--scope", "AWS", "--max-items", "1", creds=u.creds)
        assert r.returncode == 0, r.describe()
    eventually(can_list, timeout=3)
    server.aws_error("iam", "create-user", "--user-name", unique("x"), creds=u.creds, code="AccessDenied")


# --------------------------------------------------------------------------------------
# persistence
# --------------------------------------------------------------------------------------

def test_everything_survives_a_restart(server_factory, tmp_path):
    srv = server_factory(root_creds=True)
    p = create_policy(srv, tmp_path, path="/keep/")
    arn = p["Arn"]
    srv.aws("iam", "create-policy-version", "--policy-arn", arn, "--set-as-default",
            "--policy-document", write_doc(tmp_path, doc("s3:Second")))
    srv.aws("iam", "tag-policy", "--policy-arn", arn, "--tags", "Key=k,Value=v")
    u = srv.make_user(with_key=False)
    srv.aws("iam", "attach-user-policy", "--user-name", u.name, "--policy-arn", arn)
    srv.aws("iam", "attach-user-policy", "--user-name", u.name, "--policy-arn", ADMIN)
    inline = doc("s3:GetObject", sid="Inline")
    srv.aws("iam", "put-user-policy", "--user-name", u.name, "--policy-name", "inl",
            "--policy-document", write_doc(tmp_path, inline))

    srv.restart()

    got = srv.aws("iam", "get-policy", "--policy-arn", arn)["Policy"]
    assert got["PolicyId"] == p["PolicyId"] and got["DefaultVersionId"] == "v2"
    assert got["AttachmentCount"] == 1
    assert got.get("Tags") == [{"Key": "k", "Value": "v"}]
    v2 = srv.aws("iam", "get-policy-version", "--policy-arn", arn, "--version-id", "v2")["PolicyVersion"]
    assert v2["Document"] == doc("s3:Second") and v2["IsDefaultVersion"] is True
    att = srv.aws("iam", "list-attached-user-policies", "--user-name", u.name)["AttachedPolicies"]
    assert sorted(a["PolicyArn"] for a in att) == sorted([arn, ADMIN])
    assert srv.aws("iam", "get-user-policy", "--user-name", u.name,
                   "--policy-name", "inl")["PolicyDocument"] == inline
    assert srv.aws("iam", "get-policy", "--policy-arn", ADMIN)["Policy"]["AttachmentCount"] == 1

