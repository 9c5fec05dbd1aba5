"""IAM users and access keys end to end with the real aws CLI v1 (plus boto3 for HTTP statuses)."""

from __future__ import annotations

import re

import pytest
from botocore.exceptions import ClientError

from harness import (
    AIDA_RE,
    AKIA_RE,
    SECRET_RE,
    Creds,
    eventually,
    unique,
)

ISO_RE = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z$")


def gci_error(server, creds) -> str | None:
    """Error code of GetCallerIdentity with creds (None when it succeeds)."""
    try:
        server.sts(creds).get_caller_identity()
        return None
    except ClientError as e:
        return e.response["Error"]["Code"]


def wait_refused(server, creds, code="InvalidClientTokenId"):
    def check():
        got = gci_error(server, creds)
        assert got == code, f"GetCallerIdentity with {creds.access_key_id}: expected {code}, got {got or 'success'}"
    eventually(check, timeout=1.5)


def wait_accepted(server, creds):
    def check():
        got = gci_error(server, creds)
        assert got is None, f"GetCallerIdentity with {creds.access_key_id} still refused: {got}"
    eventually(check, timeout=1.5)


def client_error(fn, **kw) -> tuple[str, int, str]:
    with pytest.raises(ClientError) as ei:
        fn(**kw)
    r = ei.value.response
    return r["Error"]["Code"], r["ResponseMetadata"]["HTTPStatusCode"], r["Error"].get("Message", "")


# --------------------------------------------------------------------------------------
# users
# --------------------------------------------------------------------------------------

def test_user_lifecycle_cli(server):
    name = unique("bob")
    out = server.aws("iam", "create-user", "--user-name", name, "--path", "/division/",
                     "--tags", "Key=team,Value=blue", "Key=env,Value=prod")
    u = out["User"]
    assert u["UserName"] == name
    assert u["Path"] == "/division/"
    assert AIDA_RE.match(u["UserId"]), u
    assert u["Arn"] == f"arn:aws:iam::{server.account_id}:user/division/{name}"
    assert ISO_RE.match(u["CreateDate"]), u["CreateDate"]
    assert sorted((t["Key"], t["Value"]) for t in u.get("Tags", [])) == [("env", "prod"), ("team", "blue")], u

    got = server.aws("iam", "get-user", "--user-name", name)["User"]
    for k in ("UserName", "Path", "UserId", "Arn"):
        assert got[k] == u[k], (k, got, u)
    assert sorted((t["Key"], t["Value"]) for t in got.get("Tags", [])) == [("env", "prod"), ("team", "blue")], got

    listed = server.aws("iam", "list-users", "--path-prefix", "/division/")["Users"]
    assert [x["UserId"] for x in listed if x["UserName"] == name] == [u["UserId"]]

    assert server.aws("iam", "delete-user", "--user-name", name) is None
    server.aws_error("iam", "get-user", "--user-name", name, code="NoSuchEntity")
    listed = server.aws("iam", "list-users", "--path-prefix", "/division/")["Users"]
    assert name not in [x["UserName"] for x in listed]


def test_get_user_without_name_is_caller_root(server):
    u = server.aws("iam", "get-user")["User"]
    assert u["Arn"] == server.root_arn(), u
    assert u["UserId"] == server.account_id, u


def test_user_names_are_case_insensitive_unique(server):
    name = unique("Carol")
    server.aws("iam", "create-user", "--user-name", name)
    server.aws_error("iam", "create-user", "--user-name", name, code="EntityAlreadyExists")
    server.aws_error("iam", "create-user", "--user-name", name.lower(), code="EntityAlreadyExists")
    # lookup is case-insensitive too, and the original spelling is kept
    assert server.aws("iam", "get-user", "--user-name", name.upper())["User"]["UserName"] == name


def test_list_users_pagination_cli(server):
    prefix = f"/{unique('pg')}/"
    names = sorted(unique(f"p{i}") for i in range(5))
    iam = server.iam()
    for n in names:
        iam.create_user(UserName=n, Path=prefix)
    # a user outside the prefix is not listed
    iam.create_user(UserName=unique("outside"), Path="/elsewhere/")

    # --page-size: the CLI follows Marker/IsTruncated across pages of 2
    all_users = server.aws("iam", "list-users", "--path-prefix", prefix, "--page-size", "2")["Users"]
    assert sorted(u["UserName"] for u in all_users) == names
    assert all(u["Path"] == prefix for u in all_users)

    # --max-items: 2 at a time with NextToken / --starting-token
    seen: list[str] = []
    out = server.aws("iam", "list-users", "--path-prefix", prefix, "--max-items", "2")
    pages = 1
    seen += [u["UserName"] for u in out["Users"]]
    assert len(out["Users"]) == 2 and out.get("NextToken"), out
    while out.get("NextToken"):
        out = server.aws("iam", "list-users", "--path-prefix", prefix, "--max-items", "2",
                         "--starting-token", out["NextToken"])
        seen += [u["UserName"] for u in out["Users"]]
        pages += 1
        assert pages <= 5, "pagination does not terminate"
    assert sorted(seen) == names and len(seen) == len(set(seen)), seen
    assert pages == 3


def test_list_users_marker_wire(server):
    prefix = f"/{unique('mk')}/"
    iam = server.iam()
    names = sorted(unique("m") for _ in range(3))
    for n in names:
        iam.create_user(UserName=n, Path=prefix)
    page = iam.list_users(PathPrefix=prefix, MaxItems=2)
    assert len(page["Users"]) == 2 and page["IsTruncated"] is True and page.get("Marker"), page
    page2 = iam.list_users(PathPrefix=prefix, MaxItems=2, Marker=page["Marker"])
    assert len(page2["Users"]) == 1 and page2["IsTruncated"] is False and not page2.get("Marker"), page2
    got = [u["UserName"] for u in page["Users"] + page2["Users"]]
    assert sorted(got) == names
    # default page holds them all
    full = iam.list_users(PathPrefix=prefix)
    assert full["IsTruncated"] is False and sorted(u["UserName"] for u in full["Users"]) == names


def test_list_users_path_prefix(server):
    base = f"/{unique('pp')}/"
    iam = server.iam()
    a = unique("a")
    b = unique("b")
    c = unique("c")
    iam.create_user(UserName=a, Path=base + "x/")
    iam.create_user(UserName=b, Path=base + "y/")
    iam.create_user(UserName=c, Path=base)
    listed = lambda p: sorted(u["UserName"] for u in server.aws("iam", "list-users", "--path-prefix", p)["Users"])  # noqa: E731
    assert listed(base) == sorted([a, b, c])
    assert listed(base + "x/") == [a]
    assert listed(base + "nothing/") == []


@pytest.mark.parametrize("args", [
    pytest.param(["--user-name", "x" * 65], id="name-too-long"),
    pytest.param(["--user-name", "bad name"], id="name-space"),
    pytest.param(["--user-name", "bad/name"], id="name-slash"),
    pytest.param(["--user-name", "ok-name-{u}", "--path", "division"], id="path-no-slashes"),
    pytest.param(["--user-name", "ok-name-{u}", "--path", "/noend"], id="path-no-trailing-slash"),
    pytest.param(["--user-name", "ok-name-{u}", "--path", "/" + "p" * 511 + "/"], id="path-too-long"),
])
def test_create_user_validation_error(server, args):
    u = unique("v")
    args = [a.replace("{u}", u) for a in args]
    server.aws_error("iam", "create-user", *args, code="ValidationError")


def test_no_such_entity_cli(server, user):
    missing = unique("ghost")
    server.aws_error("iam", "get-user", "--user-name", missing, code="NoSuchEntity")
    server.aws_error("iam", "delete-user", "--user-name", missing, code="NoSuchEntity")
    server.aws_error("iam", "create-access-key", "--user-name", missing, code="NoSuchEntity")
    server.aws_error("iam", "list-access-keys", "--user-name", missing, code="NoSuchEntity")
    other = server.make_user(with_key=False)
    # a key id that exists, but belongs to another user
    server.aws_error("iam", "update-access-key", "--user-name", other.name, "--access-key-id",
                     user.creds.access_key_id, "--status", "Inactive", code="NoSuchEntity")
    server.aws_error("iam", "delete-access-key", "--user-name", other.name, "--access-key-id",
                     user.creds.access_key_id, code="NoSuchEntity")
    server.aws_error("iam", "delete-access-key", "--user-name", user.name, "--access-key-id",
                     "AKIAAAAAAAAAAAAAAAAA", code="NoSuchEntity")
    # and the key was not touched
    assert gci_error(server, user.creds) is None


# --------------------------------------------------------------------------------------
# access keys
# --------------------------------------------------------------------------------------

def test_access_key_lifecycle_cli(server):
    name = unique("keys")
    server.aws("iam", "create-user", "--user-name", name)
    k = server.aws("iam", "create-access-key", "--user-name", name)["AccessKey"]
    assert k["UserName"] == name and k["Status"] == "Active", k
    assert AKIA_RE.match(k["AccessKeyId"]), k
    assert SECRET_RE.match(k["SecretAccessKey"]), k
    assert ISO_RE.match(k["CreateDate"]), k
    creds = Creds.from_access_key(k)
    kid = k["AccessKeyId"]
    assert server.aws("sts", "get-caller-identity", creds=creds)["Arn"].endswith(f":user/{name}")

    meta = server.aws("iam", "list-access-keys", "--user-name", name)["AccessKeyMetadata"]
    assert [(m["AccessKeyId"], m["Status"], m["UserName"]) for m in meta] == [(kid, "Active", name)], meta
    assert all("SecretAccessKey" not in m for m in meta)

    # Inactive: refused with InvalidClientTokenId
    assert server.aws("iam", "update-access-key", "--user-name", name, "--access-key-id", kid,
                      "--status", "Inactive") is None
    meta = server.aws("iam", "list-access-keys", "--user-name", name)["AccessKeyMetadata"]
    assert [m["Status"] for m in meta] == ["Inactive"]
    wait_refused(server, creds)
    server.aws_error("sts", "get-caller-identity", creds=creds, code="InvalidClientTokenId")

    # reactivated: works again
    server.aws("iam", "update-access-key", "--user-name", name, "--access-key-id", kid, "--status", "Active")
    wait_accepted(server, creds)
    assert server.aws("sts", "get-caller-identity", creds=creds)["Arn"].endswith(f":user/{name}")

    # deleted: refused
    assert server.aws("iam", "delete-access-key", "--user-name", name, "--access-key-id", kid) is None
    wait_refused(server, creds)
    server.aws_error("sts", "get-caller-identity", creds=creds, code="InvalidClientTokenId")
    assert server.aws("iam", "list-access-keys", "--user-name", name)["AccessKeyMetadata"] == []
    server.aws("iam", "delete-user", "--user-name", name)


def test_update_access_key_bad_status(server, user):
    server.aws_error("iam", "update-access-key", "--user-name", user.name, "--access-key-id",
                     user.creds.access_key_id, "--status", "Sleeping", code="ValidationError")


def test_access_key_limit_two_per_user(server):
    name = unique("lim")
    server.aws("iam", "create-user", "--user-name", name)
    k1 = server.aws("iam", "create-access-key", "--user-name", name)["AccessKey"]
    k2 = server.aws("iam", "create-access-key", "--user-name", name)["AccessKey"]
    assert k1["AccessKeyId"] != k2["AccessKeyId"]
    server.aws_error("iam", "create-access-key", "--user-name", name, code="LimitExceeded")
    ids = sorted(m["AccessKeyId"] for m in
                 server.aws("iam", "list-access-keys", "--user-name", name)["AccessKeyMetadata"])
    assert ids == sorted([k1["AccessKeyId"], k2["AccessKeyId"]])
    # an inactive key still counts; a deleted one does not
    server.aws("iam", "update-access-key", "--user-name", name, "--access-key-id", k1["AccessKeyId"],
               "--status", "Inactive")
    server.aws_error("iam", "create-access-key", "--user-name", name, code="LimitExceeded")
    server.aws("iam", "delete-access-key", "--user-name", name, "--access-key-id", k1["AccessKeyId"])
    k3 = server.aws("iam", "create-access-key", "--user-name", name)["AccessKey"]
    assert server.aws("sts", "get-caller-identity", creds=Creds.from_access_key(k3))["Arn"].endswith(name)


def test_delete_user_with_keys_is_conflict(server):
    name = unique("dc")
    server.aws("iam", "create-user", "--user-name", name)
    k = server.aws("iam", "create-access-key", "--user-name", name)["AccessKey"]
    creds = Creds.from_access_key(k)
    server.aws_error("iam", "delete-user", "--user-name", name, code="DeleteConflict")
    # still there, key still works
    assert server.aws("iam", "get-user", "--user-name", name)["User"]["UserName"] == name
    assert gci_error(server, creds) is None
    server.aws("iam", "delete-access-key", "--user-name", name, "--access-key-id", k["AccessKeyId"])
    server.aws("iam", "delete-user", "--user-name", name)
    server.aws_error("iam", "get-user", "--user-name", name, code="NoSuchEntity")
    wait_refused(server, creds)


def test_recreated_user_gets_new_identity(server):
    name = unique("again")
    first = server.aws("iam", "create-user", "--user-name", name)["User"]
    server.aws("iam", "delete-user", "--user-name", name)
    second = server.aws("iam", "create-user", "--user-name", name)["User"]
    assert first["UserId"] != second["UserId"]


def test_root_access_keys(server_factory):
    srv = server_factory(name="rootkeys")
    k = srv.aws("iam", "create-access-key")["AccessKey"]
    assert AKIA_RE.match(k["AccessKeyId"]), k
    new_root = Creds.from_access_key(k)
    assert srv.aws("sts", "get-caller-identity", creds=new_root)["Arn"] == srv.root_arn()
    ids = sorted(m["AccessKeyId"] for m in srv.aws("iam", "list-access-keys")["AccessKeyMetadata"])
    assert ids == sorted([srv.root.access_key_id, k["AccessKeyId"]])
    srv.aws_error("iam", "create-access-key", code="LimitExceeded")
    # the second root key can manage IAM too
    name = unique("byroot2")
    srv.aws("iam", "create-user", "--user-name", name, creds=new_root)


# --------------------------------------------------------------------------------------
# authorization: only root for now
# --------------------------------------------------------------------------------------

@pytest.mark.parametrize("args", [
    pytest.param(["list-users"], id="list-users"),
    pytest.param(["get-user"], id="get-user-self"),
    pytest.param(["get-user", "--user-name", "{self}"], id="get-user-by-name"),
    pytest.param(["create-user", "--user-name", "{new}"], id="create-user"),
    pytest.param(["create-access-key"], id="create-access-key-self"),
    pytest.param(["list-access-keys"], id="list-access-keys-self"),
    pytest.param(["delete-user", "--user-name", "{self}"], id="delete-user-self"),
])
def test_non_root_user_denied_iam(server, user, args):
    args = [a.replace("{self}", user.name).replace("{new}", unique("nope")) for a in args]
    server.aws_error("iam", *args, creds=user.creds, code="AccessDenied")


def test_non_root_session_denied_iam(server, user):
    session = server.session_for(user.creds)
    server.aws_error("iam", "list-users", creds=session, code="AccessDenied")
    # nothing was created by the denied calls, and the user is intact
    assert server.aws("iam", "get-user", "--user-name", user.name)["User"]["UserId"] == user.user_id


# --------------------------------------------------------------------------------------
# HTTP statuses as boto3 sees them
# --------------------------------------------------------------------------------------

def test_iam_error_http_statuses(server, user):
    iam = server.iam()
    name = unique("st")
    iam.create_user(UserName=name)
    assert client_error(iam.get_user, UserName=unique("none"))[:2] == ("NoSuchEntity", 404)
    assert client_error(iam.create_user, UserName=name)[:2] == ("EntityAlreadyExists", 409)
    assert client_error(iam.create_user, UserName="bad name")[:2] == ("ValidationError", 400)
    iam.create_access_key(UserName=name)
    assert client_error(iam.delete_user, UserName=name)[:2] == ("DeleteConflict", 409)
    iam.create_access_key(UserName=name)
    assert client_error(iam.create_access_key, UserName=name)[:2] == ("LimitExceeded", 409)
    assert client_error(server.iam(user.creds).list_users)[:2] == ("AccessDenied", 403)
    assert client_error(iam.list_users, MaxItems=1001)[:2] == ("ValidationError", 400)
