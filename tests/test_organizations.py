"""Organizations, SCPs/RCPs and AssumeRoot, end to end with the real aws CLI v1 and boto3.

The server's default account is the organization's management account; `aws organizations
create-account` (or `opensts account create`) makes member accounts. Checked here:

* the Organizations JSON API (describe-organization, list-roots, create-account and its
  status, list/describe-account, create/describe/update/delete/attach/detach policies, the
  list-* calls) and its errors;
* an SCP denying iam:CreateUser in a member account denies it even to the member's admin role
  (OrganizationAccountAccessRole), while the management account is not restricted by SCPs;
* AssumeRoot with IAMAuditRootUserCredentials: the session is the member's root, may run the
  audit actions on the root user and nothing else; its limits (duration, caller, target, task);
* an RCP denying sts:AssumeRole in a member account refuses a cross-account AssumeRole.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest
from botocore.exceptions import ClientError

from harness import ASIA_RE, Creds, OpenSTSServer, eventually, random_akid, random_secret, unique

MANAGEMENT = "210987654321"
AUDIT_TASK = "arn:aws:iam::aws:policy/root-task/IAMAuditRootUserCredentials"
ADMIN = "arn:aws:iam::aws:policy/AdministratorAccess"
ACCESS_ROLE = "OrganizationAccountAccessRole"


def pdoc(*statements) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)})


@pytest.fixture(scope="module")
def srv(tmp_path_factory, opensts_bin_path):
    base = Path(tmp_path_factory.mktemp("organizations"))
    s = OpenSTSServer(
        data_dir=base / "data", work_dir=base / "work", root_creds=Creds(random_akid(), random_secret()),
        account_id=MANAGEMENT, bin_path=opensts_bin_path, name="organizations",
    )
    s.start()
    try:
        yield s
    finally:
        s.stop(timeout=10)


@pytest.fixture(scope="module")
def admin(srv) -> Creds:
    """An IAM user of the management account with AdministratorAccess."""
    iam = srv.iam()
    name = unique("orgadmin")
    iam.create_user(UserName=name)
    iam.attach_user_policy(UserName=name, PolicyArn=ADMIN)
    return Creds.from_access_key(iam.create_access_key(UserName=name)["AccessKey"])


def create_member(srv, admin) -> str:
    """A new member account made with `aws organizations create-account`; returns its id."""
    out = srv.aws("organizations", "create-account", "--email", f"{unique('m')}@example.com",
                  "--account-name", unique("member"), creds=admin)
    status = out["CreateAccountStatus"]
    assert status["State"] == "SUCCEEDED", out
    assert status["Id"].startswith("car-")
    again = srv.aws("organizations", "describe-create-account-status",
                    "--create-account-request-id", status["Id"], creds=admin)
    assert again["CreateAccountStatus"]["AccountId"] == status["AccountId"]
    return status["AccountId"]


@pytest.fixture(scope="module")
def member(srv, admin) -> str:
    return create_member(srv, admin)


def member_admin(srv, admin, account) -> Creds:
    """The management admin in the member account through OrganizationAccountAccessRole."""
    out = srv.sts(admin).assume_role(RoleArn=f"arn:aws:iam::{account}:role/{ACCESS_ROLE}",
                                     RoleSessionName="orgadmin")
    return Creds.from_sts(out["Credentials"])


def org(srv, creds=None):
    return srv.client("organizations", creds or srv.root, region="us-east-1")


def root_id(srv) -> str:
    roots = srv.aws("organizations", "list-roots")["Roots"]
    assert len(roots) == 1
    return roots[0]["Id"]


def create_policy(srv, kind: str, *statements) -> str:
    out = org(srv).create_policy(Content=pdoc(*statements), Description="test", Name=unique("pol"), Type=kind)
    return out["Policy"]["PolicySummary"]["Id"]


def error_code(e: ClientError) -> str:
    return e.response["Error"]["Code"]


# --------------------------------------------------------------------------------------
# the Organizations API
# --------------------------------------------------------------------------------------

def test_organization_model(srv, admin, member):
    o = srv.aws("organizations", "describe-organization")["Organization"]
    assert o["MasterAccountId"] == MANAGEMENT
    assert o["Id"].startswith("o-") and len(o["Id"]) == 12
    assert o["Arn"] == f"arn:aws:organizations::{MANAGEMENT}:organization/{o['Id']}"
    assert {"Type": "SERVICE_CONTROL_POLICY", "Status": "ENABLED"} in o["AvailablePolicyTypes"]
    rid = root_id(srv)
    assert rid.startswith("r-")

    ids = {a["Id"]: a for a in srv.aws("organizations", "list-accounts")["Accounts"]}
    assert MANAGEMENT in ids and member in ids
    assert ids[member]["Status"] == "ACTIVE"
    assert ids[member]["Arn"] == f"arn:aws:organizations::{MANAGEMENT}:account/{o['Id']}/{member}"
    d = srv.aws("organizations", "describe-account", "--account-id", member)["Account"]
    assert d["Id"] == member and d["Email"].endswith("@example.com")
    e = srv.aws_error("organizations", "describe-account", "--account-id", "999999999999")
    assert e.error_code == "AccountNotFoundException"

    # FullAWSAccess is attached to the root and to the new account.
    for target in (rid, member):
        pols = srv.aws("organizations", "list-policies-for-target", "--target-id", target,
                       "--filter", "SERVICE_CONTROL_POLICY")["Policies"]
        assert [p["Id"] for p in pols] == ["p-FullAWSAccess"], pols
        assert pols[0]["AwsManaged"] is True
    targets = srv.aws("organizations", "list-targets-for-policy", "--policy-id", "p-FullAWSAccess")["Targets"]
    assert {t["TargetId"] for t in targets} >= {rid, member, MANAGEMENT}

    # A member account may describe its organization but not manage it.
    madmin = member_admin(srv, admin, member)
    assert srv.aws("organizations", "describe-organization", creds=madmin)["Organization"]["Id"] == o["Id"]
    e = srv.aws_error("organizations", "list-accounts", creds=madmin)
    assert e.error_code == "AccessDeniedException"
    # A management principal needs organizations:* permissions.
    user = srv.make_user()
    e = srv.aws_error("organizations", "list-accounts", creds=user.creds)
    assert e.error_code == "AccessDeniedException"


def test_policy_lifecycle_and_errors(srv, member):
    c = org(srv)
    deny_all = pdoc({"Effect": "Deny", "Action": "*", "Resource": "*"})
    name = unique("scp")
    p = c.create_policy(Content=deny_all, Description="d", Name=name, Type="SERVICE_CONTROL_POLICY")["Policy"]
    pid = p["PolicySummary"]["Id"]
    assert pid.startswith("p-") and p["PolicySummary"]["AwsManaged"] is False
    assert p["PolicySummary"]["Arn"].endswith(f"/service_control_policy/{pid}")
    assert json.loads(c.describe_policy(PolicyId=pid)["Policy"]["Content"]) == json.loads(deny_all)
    names = [x["Name"] for x in c.list_policies(Filter="SERVICE_CONTROL_POLICY")["Policies"]]
    assert name in names and "FullAWSAccess" in names

    with pytest.raises(ClientError) as e:
        c.create_policy(Content=deny_all, Description="d", Name=name, Type="SERVICE_CONTROL_POLICY")
    assert error_code(e.value) == "DuplicatePolicyException"
    with pytest.raises(ClientError) as e:
        c.create_policy(Content="{not json", Description="d", Name=unique("x"), Type="SERVICE_CONTROL_POLICY")
    assert error_code(e.value) == "MalformedPolicyDocumentException"
    with pytest.raises(ClientError) as e:
        c.attach_policy(PolicyId=pid, TargetId="000000000000")
    assert error_code(e.value) == "TargetNotFoundException"
    with pytest.raises(ClientError) as e:
        c.describe_policy(PolicyId="p-doesnotexist")
    assert error_code(e.value) == "PolicyNotFoundException"

    updated = c.update_policy(PolicyId=pid, Description="new")["Policy"]["PolicySummary"]
    assert updated["Description"] == "new"
    # Attached: cannot be deleted; the last SCP of a target cannot be detached.
    c.attach_policy(PolicyId=pid, TargetId=member)
    try:
        with pytest.raises(ClientError) as e:
            c.attach_policy(PolicyId=pid, TargetId=member)
        assert error_code(e.value) == "DuplicatePolicyAttachmentException"
        with pytest.raises(ClientError) as e:
            c.delete_policy(PolicyId=pid)
        assert error_code(e.value) == "PolicyInUseException"
    finally:
        c.detach_policy(PolicyId=pid, TargetId=member)
    with pytest.raises(ClientError) as e:
        c.detach_policy(PolicyId="p-FullAWSAccess", TargetId=member)
    assert error_code(e.value) == "ConstraintViolationException"
    with pytest.raises(ClientError) as e:
        c.update_policy(PolicyId="p-FullAWSAccess", Description="x")
    assert error_code(e.value) == "AccessDeniedException"
    c.delete_policy(PolicyId=pid)
    with pytest.raises(ClientError) as e:
        c.describe_policy(PolicyId=pid)
    assert error_code(e.value) == "PolicyNotFoundException"


# --------------------------------------------------------------------------------------
# SCPs
# --------------------------------------------------------------------------------------

def test_scp_denies_member_admin_but_not_management(srv, admin):
    account = create_member(srv, admin)
    madmin = member_admin(srv, admin, account)
    miam = srv.iam(madmin)
    miam.create_user(UserName=unique("before"))  # allowed before the SCP

    pid = create_policy(srv, "SERVICE_CONTROL_POLICY",
                        {"Effect": "Deny", "Action": "iam:CreateUser", "Resource": "*"})
    c = org(srv)
    c.attach_policy(PolicyId=pid, TargetId=account)
    try:
        with pytest.raises(ClientError) as e:
            miam.create_user(UserName=unique("after"))
        assert error_code(e.value) == "AccessDenied"
        assert "explicit deny in a service control policy" in e.value.response["Error"]["Message"]
        # Other actions are still allowed by FullAWSAccess.
        miam.list_users()
        # The same SCP on the root does not restrict the management account.
        c.attach_policy(PolicyId=pid, TargetId=root_id(srv))
        try:
            srv.iam(admin).create_user(UserName=unique("mgmt"))
            srv.iam().create_user(UserName=unique("mgmtroot"))
        finally:
            c.detach_policy(PolicyId=pid, TargetId=root_id(srv))
    finally:
        c.detach_policy(PolicyId=pid, TargetId=account)
    miam.create_user(UserName=unique("again"))


def test_scp_allow_list_replaces_full_access(srv, admin):
    """Every level must allow: with FullAWSAccess replaced by an allow-list, others are denied."""
    account = create_member(srv, admin)
    madmin = member_admin(srv, admin, account)
    pid = create_policy(srv, "SERVICE_CONTROL_POLICY",
                        {"Effect": "Allow", "Action": ["iam:List*", "sts:*"], "Resource": "*"})
    c = org(srv)
    c.attach_policy(PolicyId=pid, TargetId=account)
    c.detach_policy(PolicyId="p-FullAWSAccess", TargetId=account)
    try:
        miam = srv.iam(madmin)
        miam.list_roles()
        with pytest.raises(ClientError) as e:
            miam.create_group(GroupName=unique("g"))
        assert error_code(e.value) == "AccessDenied"
        assert "no service control policy allows" in e.value.response["Error"]["Message"]
    finally:
        c.attach_policy(PolicyId="p-FullAWSAccess", TargetId=account)
        c.detach_policy(PolicyId=pid, TargetId=account)


# --------------------------------------------------------------------------------------
# AssumeRoot
# --------------------------------------------------------------------------------------

def test_assume_root_audit_session(srv, admin, member):
    out = srv.aws("sts", "assume-root", "--target-principal", member,
                  "--task-policy-arn", f"arn={AUDIT_TASK}", "--duration-seconds", "900", creds=admin)
    creds = Creds.from_sts(out["Credentials"])
    assert ASIA_RE.match(creds.access_key_id)
    ident = srv.aws("sts", "get-caller-identity", creds=creds)
    assert ident["Arn"] == f"arn:aws:iam::{member}:root"
    assert ident["Account"] == member

    # The audit actions on the root user work ...
    user = srv.aws("iam", "get-user", creds=creds)["User"]
    assert user["Arn"] == f"arn:aws:iam::{member}:root"
    srv.aws("iam", "list-access-keys", creds=creds)
    srv.aws("iam", "list-mfa-devices", creds=creds)
    # ... nothing else.
    e = srv.aws_error("iam", "create-user", "--user-name", unique("x"), creds=creds)
    assert e.error_code == "AccessDenied"
    assert "explicit deny in a session policy" in e.error_message
    e = srv.aws_error("iam", "list-roles", creds=creds)
    assert e.error_code == "AccessDenied"
    # Audit actions on other users are denied too.
    madmin = member_admin(srv, admin, member)
    bob = unique("bob")
    srv.iam(madmin).create_user(UserName=bob)
    e = srv.aws_error("iam", "list-access-keys", "--user-name", bob, creds=creds)
    assert e.error_code == "AccessDenied"


def test_assume_root_boto3_account_root_arn_target(srv, admin, member):
    out = srv.sts(admin).assume_root(TargetPrincipal=f"arn:aws:iam::{member}:root",
                                     TaskPolicyArn={"arn": AUDIT_TASK}, DurationSeconds=60)
    remaining = (out["Credentials"]["Expiration"] - dt.datetime.now(dt.timezone.utc)).total_seconds()
    assert 0 < remaining <= 65, remaining
    ident = srv.sts(Creds.from_sts(out["Credentials"])).get_caller_identity()
    assert ident["Arn"] == f"arn:aws:iam::{member}:root"


def test_assume_root_limits(srv, admin, member):
    task = f"arn={AUDIT_TASK}"
    e = srv.aws_error("sts", "assume-root", "--target-principal", member, "--task-policy-arn", task,
                      "--duration-seconds", "901", creds=admin)
    assert e.error_code == "ValidationError"
    e = srv.aws_error("sts", "assume-root", "--target-principal", member,
                      "--task-policy-arn", "arn=arn:aws:iam::aws:policy/root-task/NotATask", creds=admin)
    assert e.error_code == "ValidationError"
    # The management account's root user may not call it.
    e = srv.aws_error("sts", "assume-root", "--target-principal", member, "--task-policy-arn", task)
    assert e.error_code == "AccessDenied"
    # Nor a principal of a member account.
    e = srv.aws_error("sts", "assume-root", "--target-principal", member, "--task-policy-arn", task,
                      creds=member_admin(srv, admin, member))
    assert e.error_code == "AccessDenied"
    # Nor a management principal without sts:AssumeRoot.
    e = srv.aws_error("sts", "assume-root", "--target-principal", member, "--task-policy-arn", task,
                      creds=srv.make_user().creds)
    assert e.error_code == "AccessDenied"
    # Only member accounts are targets.
    for target in (MANAGEMENT, "999999999999"):
        e = srv.aws_error("sts", "assume-root", "--target-principal", target, "--task-policy-arn", task,
                          creds=admin)
        assert e.error_code == "AccessDenied"
    e = srv.aws_error("sts", "assume-root", "--target-principal", "arn:aws:iam::123456789012:user/x",
                      "--task-policy-arn", task, creds=admin)
    assert e.error_code == "ValidationError"


def test_assume_root_session_is_subject_to_scps(srv, admin):
    account = create_member(srv, admin)
    pid = create_policy(srv, "SERVICE_CONTROL_POLICY",
                        {"Effect": "Deny", "Action": "iam:ListMFADevices", "Resource": "*"})
    c = org(srv)
    c.attach_policy(PolicyId=pid, TargetId=account)
    try:
        out = srv.sts(admin).assume_root(TargetPrincipal=account, TaskPolicyArn={"arn": AUDIT_TASK})
        creds = Creds.from_sts(out["Credentials"])
        srv.iam(creds).list_access_keys()
        with pytest.raises(ClientError) as e:
            srv.iam(creds).list_mfa_devices()
        assert "service control policy" in e.value.response["Error"]["Message"]
    finally:
        c.detach_policy(PolicyId=pid, TargetId=account)


# --------------------------------------------------------------------------------------
# RCPs
# --------------------------------------------------------------------------------------

def test_rcp_denies_cross_account_assume_role(srv, admin):
    account = create_member(srv, admin)
    role_arn = f"arn:aws:iam::{account}:role/{ACCESS_ROLE}"
    srv.sts(admin).assume_role(RoleArn=role_arn, RoleSessionName="before")
    pid = create_policy(srv, "RESOURCE_CONTROL_POLICY", {
        "Effect": "Deny", "Principal": "*", "Action": "sts:AssumeRole", "Resource": "*",
        "Condition": {"StringNotEquals": {"aws:PrincipalAccount": account}},
    })
    c = org(srv)
    c.attach_policy(PolicyId=pid, TargetId=account)
    try:
        with pytest.raises(ClientError) as e:
            srv.sts(admin).assume_role(RoleArn=role_arn, RoleSessionName="after")
        assert error_code(e.value) == "AccessDenied"
        pols = c.list_policies_for_target(TargetId=account, Filter="RESOURCE_CONTROL_POLICY")["Policies"]
        assert {p["Id"] for p in pols} == {"p-RCPFullAWSAccess", pid}
    finally:
        c.detach_policy(PolicyId=pid, TargetId=account)
    srv.sts(admin).assume_role(RoleArn=role_arn, RoleSessionName="again")


def test_principal_org_id_condition_key(srv):
    """aws:PrincipalOrgID is the organization's id for every signed principal."""
    org_id = srv.aws("organizations", "describe-organization")["Organization"]["Id"]
    user = srv.make_user()
    iam = srv.iam()
    iam.put_user_policy(UserName=user.name, PolicyName="org", PolicyDocument=pdoc(
        {"Effect": "Allow", "Action": "iam:ListUsers", "Resource": "*",
         "Condition": {"StringEquals": {"aws:PrincipalOrgID": org_id}}},
        {"Effect": "Allow", "Action": "iam:ListRoles", "Resource": "*",
         "Condition": {"StringEquals": {"aws:PrincipalOrgID": "o-0000000000"}}},
    ))
    srv.iam(user.creds).list_users()
    with pytest.raises(ClientError) as e:
        srv.iam(user.creds).list_roles()
    assert error_code(e.value) == "AccessDenied"


def test_organizations_wire_errors(srv):
    """Bad requests are clean awsJson 4xx errors, never 5xx."""
    target = "AWSOrganizationsV20161128."

    def call(op: str, body: str, creds=None, signed=True):
        headers = {"X-Amz-Target": target + op, "Content-Type": "application/x-amz-json-1.1"}
        if signed:
            return srv.signed_request(body=body, service="organizations", headers=headers, creds=creds)
        return srv.unsigned_request(body=body, headers=headers)

    ok = call("DescribeOrganization", "{}")
    assert ok.status_code == 200, ok.text
    assert ok.headers["Content-Type"] == "application/x-amz-json-1.1"
    for op, body, code in [
        ("NoSuchOperation", "{}", "UnknownOperationException"),
        ("ListPolicies", "[1, 2]", "SerializationException"),
        ("ListPolicies", "{not json", "SerializationException"),
        ("CreatePolicy", json.dumps({"Name": 7, "Content": "{}", "Description": "", "Type": "SERVICE_CONTROL_POLICY"}),
         "SerializationException"),
        ("ListPolicies", json.dumps({"Filter": "TAG_POLICY"}), "InvalidInputException"),
        ("ListAccounts", json.dumps({"MaxResults": 0}), "InvalidInputException"),
        ("ListAccounts", json.dumps({"NextToken": "x"}), "InvalidInputException"),
        ("CreatePolicy", json.dumps({"Name": "n", "Content": "{}", "Description": "", "Type": "TAG_POLICY"}),
         "PolicyTypeNotEnabledException"),
        ("CreateAccount", json.dumps({"Email": "not-an-email", "AccountName": "x"}), "InvalidInputException"),
    ]:
        r = call(op, body)
        assert r.status_code == 400, (op, body, r.status_code, r.text)
        assert r.json()["__type"] == code, (op, body, r.text)
        assert r.json()["Message"]
    r = call("ListAccounts", "{}", signed=False)
    assert r.status_code == 400 and r.json()["__type"] == "MissingAuthenticationTokenException", r.text
    r = call("ListAccounts", "{}", creds=Creds(random_akid(), random_secret()))
    assert r.status_code == 400 and r.json()["__type"] == "UnrecognizedClientException", r.text
    # Signed for another service: refused like AWS does.
    r = srv.signed_request(body="{}", service="sts",
                           headers={"X-Amz-Target": target + "ListAccounts",
                                    "Content-Type": "application/x-amz-json-1.1"})
    assert r.status_code == 400 and r.json()["__type"] == "InvalidSignatureException", r.text


def test_organizations_calls_are_audited(server_factory, tmp_path):
    audit = tmp_path / "audit" / "audit.log"
    s = server_factory(name="org-audit", args=["--audit-log", str(audit)])
    name = unique("scp")
    out = s.aws("organizations", "create-policy", "--name", name, "--description", "d",
                "--type", "SERVICE_CONTROL_POLICY",
                "--content", pdoc({"Effect": "Deny", "Action": "iam:CreateUser", "Resource": "*"}))
    pid = out["Policy"]["PolicySummary"]["Id"]
    s.aws("organizations", "list-policies", "--filter", "SERVICE_CONTROL_POLICY")
    s.aws_error("organizations", "describe-policy", "--policy-id", "p-missing0", code="PolicyNotFoundException")

    def events():
        evs = [json.loads(line) for line in audit.read_text().splitlines() if line.strip()] if audit.exists() else []
        evs = [e for e in evs if e["eventSource"] == "organizations.amazonaws.com"]
        assert len(evs) == 3, evs
        return evs

    created, listed, failed = eventually(events, timeout=5)
    assert created["eventName"] == "CreatePolicy" and created["readOnly"] is False
    assert created["userIdentity"]["arn"] == s.root_arn()
    assert created["requestParameters"]["Name"] == name
    assert created["responseElements"]["Policy"]["PolicySummary"]["Id"] == pid
    assert listed["eventName"] == "ListPolicies" and listed["readOnly"] is True
    assert listed["responseElements"] is None
    assert failed["errorCode"] == "PolicyNotFoundException"


def test_simulator_includes_scps(srv, admin):
    account = create_member(srv, admin)
    miam = srv.iam(member_admin(srv, admin, account))
    name = unique("simuser")
    user_arn = miam.create_user(UserName=name)["User"]["Arn"]
    miam.attach_user_policy(UserName=name, PolicyArn=ADMIN)
    pid = create_policy(srv, "SERVICE_CONTROL_POLICY",
                        {"Effect": "Deny", "Action": "iam:CreateUser", "Resource": "*"})
    c = org(srv)
    c.attach_policy(PolicyId=pid, TargetId=account)
    try:
        res = miam.simulate_principal_policy(PolicySourceArn=user_arn,
                                             ActionNames=["iam:CreateUser", "iam:ListUsers"])
        by_action = {r["EvalActionName"]: r for r in res["EvaluationResults"]}
        assert by_action["iam:CreateUser"]["EvalDecision"] == "explicitDeny"
        assert by_action["iam:CreateUser"]["OrganizationsDecisionDetail"] == {"AllowedByOrganizations": False}
        assert by_action["iam:ListUsers"]["EvalDecision"] == "allowed"
        assert by_action["iam:ListUsers"]["OrganizationsDecisionDetail"] == {"AllowedByOrganizations": True}
    finally:
        c.detach_policy(PolicyId=pid, TargetId=account)
    # The management account is not limited by SCPs: no Organizations detail there.
    u = srv.make_user()
    res = srv.iam().simulate_principal_policy(PolicySourceArn=u.arn, ActionNames=["iam:ListUsers"])
    assert "OrganizationsDecisionDetail" not in res["EvaluationResults"][0]
