"""AssumeRole, GetFederationToken and GetSessionToken with MFA, end to end.

AWS's documented CLI examples are run verbatim with the real aws CLI v1 (the setup — roles,
users, policies, virtual MFA devices — goes through `aws iam` too):

    aws sts assume-role --role-arn arn:aws:iam::123456789012:role/xaccounts3access --role-session-name s3-access-example
    aws sts get-federation-token --name Bob --policy file://myfile.json --policy-arns arn=arn:aws:iam::aws:policy/AmazonS3ReadOnlyAccess --duration-seconds 900
    aws sts get-session-token --duration-seconds 900 --serial-number arn:aws:iam::123456789012:mfa/NAME --token-code 123456

(the token code is, of course, the current RFC 6238 code of device NAME). The module's server is
started with OPENSTS_ACCOUNT_ID=123456789012 so that the ARNs of the examples are literally
valid; a second account made with `opensts account create` serves the cross-account cases.

The enforcement tests cover the trust-policy rules (exact principal vs account, cross-account,
ExternalId, explicit denies), session policies, durations and role chaining, session tags and
transitive tags, SourceIdentity, MFA (RFC 6238 codes computed here, replay refused),
ProvidedContexts, PackedPolicySize/PackedPolicyTooLarge and session revocation
(`opensts role revoke-sessions`).
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import json
import math
import re
import struct
import subprocess
import tempfile
import time
from pathlib import Path

import pytest
from botocore.exceptions import ClientError

from harness import (
    ASIA_RE,
    SECRET_RE,
    STS_VERSION,
    Creds,
    aws_cli_path,
    OpenSTSServer,
    assert_error,
    clean_env,
    xml_error,
    eventually,
    parse_expiration,
    random_account_id,
    random_akid,
    random_secret,
    unique,
    utcnow,
)

ACCOUNT = "123456789012"
AROA_RE = r"^AROA[A-Z0-9]{17}$"
# The packed budget documented in crates/opensts-server/src/actions/sts/session.rs.
PACKED_LIMIT_BYTES = 4096
CHAIN_MSG = "The requested DurationSeconds exceeds the 1 hour session limit for roles assumed by role chaining."
MAX_SESSION_MSG = "The requested DurationSeconds exceeds the MaxSessionDuration set for this role."
MFA_MSG = "MultiFactorAuthentication failed with invalid MFA one time pass code."
ROOT_MSG = "Roles may not be assumed by root accounts."


# --------------------------------------------------------------------------------------
# fixtures
# --------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def module_server(tmp_path_factory, opensts_bin_path):
    """This module's server: default account 123456789012 (the account of AWS's examples)."""
    base = Path(tmp_path_factory.mktemp("sts-assume-role"))
    srv = OpenSTSServer(
        data_dir=base / "data", work_dir=base / "work", root_creds=Creds(random_akid(), random_secret()),
        account_id=ACCOUNT, bin_path=opensts_bin_path, name="assume-role",
    )
    srv.start()
    try:
        yield srv
    finally:
        srv.stop(timeout=10)


@pytest.fixture(scope="module")
def other(module_server):
    """A second account on the same server: (account id, root creds)."""
    acct = random_account_id()
    while acct == ACCOUNT:
        acct = random_account_id()
    out = module_server.create_account(acct, name="other")
    assert out["AccountId"] == acct, out
    return acct, Creds(out["AccessKeyId"], out["SecretAccessKey"])


@pytest.fixture
def srv(module_server):
    return module_server


# --------------------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------------------

def pdoc(*statements) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)})


def allow(action, resource="*", condition=None) -> dict:
    st = {"Effect": "Allow", "Action": action, "Resource": resource}
    if condition:
        st["Condition"] = condition
    return st


def deny(action, resource="*", condition=None) -> dict:
    st = allow(action, resource, condition)
    st["Effect"] = "Deny"
    return st


def trust_stmt(principal, actions=("sts:AssumeRole",), condition=None) -> dict:
    st = {"Effect": "Allow", "Principal": {"AWS": principal}, "Action": list(actions)}
    if condition:
        st["Condition"] = condition
    return st


def trust(principal, actions=("sts:AssumeRole",), condition=None) -> str:
    return pdoc(trust_stmt(principal, actions, condition))


def role_arn(name, account=ACCOUNT) -> str:
    return f"arn:aws:iam::{account}:role/{name}"


def make_role(srv, name, trust_doc, *, creds=None, max_duration=None, inline=None, managed=(), tags=()):
    """Create a role with boto3 (setup only); returns the Role structure."""
    iam = srv.iam(creds)
    kw = {"RoleName": name, "AssumeRolePolicyDocument": trust_doc}
    if max_duration:
        kw["MaxSessionDuration"] = max_duration
    if tags:
        kw["Tags"] = [{"Key": k, "Value": v} for k, v in tags]
    role = iam.create_role(**kw)["Role"]
    if inline:
        iam.put_role_policy(RoleName=name, PolicyName="inline", PolicyDocument=inline)
    for arn in managed:
        iam.attach_role_policy(RoleName=name, PolicyArn=arn)
    return role


def make_user(srv, *, creds=None, policy=None, name=None):
    """An IAM user with one access key (optionally an inline policy); returns (User, Creds)."""
    iam = srv.iam(creds)
    name = name or unique("user")
    u = iam.create_user(UserName=name)["User"]
    if policy:
        iam.put_user_policy(UserName=name, PolicyName="inline", PolicyDocument=policy)
    key = iam.create_access_key(UserName=name)["AccessKey"]
    return u, Creds.from_access_key(key)


def assume(srv, creds, arn, session_name=None, **kw) -> dict:
    return srv.sts(creds).assume_role(RoleArn=arn, RoleSessionName=session_name or unique("s"), **kw)


def session_creds(resp) -> Creds:
    return Creds.from_sts(resp["Credentials"])


def client_error(fn, *args, **kw) -> tuple[str, int, str]:
    with pytest.raises(ClientError) as ei:
        fn(*args, **kw)
    r = ei.value.response
    return r["Error"]["Code"], r["ResponseMetadata"]["HTTPStatusCode"], r["Error"].get("Message", "").strip()


def denied_assume(srv, creds, arn, **kw) -> str:
    """AssumeRole must be refused with AccessDenied (AssertionError otherwise, for `eventually`)."""
    try:
        assume(srv, creds, arn, **kw)
    except ClientError as e:
        r = e.response
        code, status = r["Error"]["Code"], r["ResponseMetadata"]["HTTPStatusCode"]
        msg = r["Error"].get("Message", "").strip()
        assert (code, status) == ("AccessDenied", 403), (code, status, msg)
        return msg
    raise AssertionError(f"AssumeRole of {arn} succeeded but should have been refused")


def iam_error(srv, creds, op, **kw) -> str | None:
    """Error code of an IAM call (None when it succeeds)."""
    try:
        getattr(srv.iam(creds), op)(**kw)
        return None
    except ClientError as e:
        return e.response["Error"]["Code"]


def check_expiration(text: str, before: dt.datetime, after: dt.datetime, duration: int) -> None:
    exp = parse_expiration(text)
    lo = before.replace(microsecond=0) + dt.timedelta(seconds=duration - 2)
    hi = after + dt.timedelta(seconds=duration + 2)
    assert lo <= exp <= hi, f"Expiration {text} is not now+{duration}s ({lo:%H:%M:%S}..{hi:%H:%M:%S})"


def check_credentials(c: dict, before, after, duration) -> None:
    assert set(c) == {"AccessKeyId", "SecretAccessKey", "SessionToken", "Expiration"}, c
    assert ASIA_RE.match(c["AccessKeyId"]), c["AccessKeyId"]
    assert SECRET_RE.match(c["SecretAccessKey"]), c["SecretAccessKey"]
    assert len(c["SessionToken"]) > 40, c["SessionToken"]
    check_expiration(c["Expiration"], before, after, duration)


def expected_packed(policy: str | None = None, arns=(), tags=()) -> int:
    """PackedPolicySize as documented: compact policy JSON + ARNs + tag keys and values, as a
    percentage (rounded up) of PACKED_LIMIT_BYTES."""
    n = 0
    if policy is not None:
        n += len(json.dumps(json.loads(policy), separators=(",", ":"), ensure_ascii=False).encode())
    n += sum(len(a.encode()) for a in arns)
    n += sum(len(k.encode()) + len(v.encode()) for k, v in tags)
    return math.ceil(n * 100 / PACKED_LIMIT_BYTES)


def aws_cli_in(srv, cwd: Path, *args, creds: Creds | None = None):
    """The real aws CLI run from `cwd` (so `file://relative.json` resolves there)."""
    with tempfile.TemporaryDirectory(prefix="awscli-", dir=srv.work_dir) as home:
        (Path(home) / "config").write_text("")
        (Path(home) / "credentials").write_text("")
        creds = creds or srv.root
        e = clean_env()
        e.update({
            "HOME": home, "AWS_CONFIG_FILE": str(Path(home) / "config"),
            "AWS_SHARED_CREDENTIALS_FILE": str(Path(home) / "credentials"),
            "AWS_EC2_METADATA_DISABLED": "true", "AWS_DEFAULT_REGION": srv.region, "AWS_MAX_ATTEMPTS": "1",
            "AWS_PAGER": "", "AWS_ACCESS_KEY_ID": creds.access_key_id,
            "AWS_SECRET_ACCESS_KEY": creds.secret_access_key,
        })
        if creds.session_token:
            e["AWS_SESSION_TOKEN"] = creds.session_token
        cmd = [aws_cli_path(), *args, "--output", "json", "--endpoint-url", srv.endpoint]
        cp = subprocess.run(cmd, env=e, capture_output=True, text=True, timeout=120, cwd=cwd,
                            stdin=subprocess.DEVNULL)
    assert cp.returncode == 0, f"`{' '.join(args)}` exited {cp.returncode}\nstdout: {cp.stdout}\nstderr: {cp.stderr}"
    return json.loads(cp.stdout)


def raw_sts(srv, creds, params: dict):
    return srv.signed_request({"Version": STS_VERSION, **params}, creds=creds)


# ---- RFC 6238 ------------------------------------------------------------------------

def totp(seed_b32: str, at: float | None = None, step_offset: int = 0) -> str:
    """RFC 6238 (HMAC-SHA-1, 6 digits, 30 s) code of `seed_b32` for the step of `at` + offset."""
    key = base64.b32decode(seed_b32 + "=" * (-len(seed_b32) % 8))
    counter = int((time.time() if at is None else at) // 30) + step_offset
    mac = hmac.new(key, struct.pack(">Q", counter), hashlib.sha1).digest()
    off = mac[-1] & 0x0F
    code = (struct.unpack(">I", mac[off:off + 4])[0] & 0x7FFFFFFF) % 1_000_000
    return f"{code:06d}"


def wait_for_fresh_step(margin: float = 8.0) -> float:
    """Return a time well inside a TOTP step (sleeping past a step boundary if it is near)."""
    left = 30 - (time.time() % 30)
    if left < margin:
        time.sleep(left + 0.3)
    return time.time()


def create_mfa(srv, user_name: str, device_name: str, *, creds=None, cli=False) -> tuple[str, str, int]:
    """Create and enable a virtual MFA device for the user; returns (serial, base32 seed, step)
    where `step` is the TOTP step whose code is the first one still unused (the enabling codes
    are the two steps before it)."""
    outfile = srv.work_dir / f"{unique('mfa')}.txt"
    if cli:
        out = srv.aws("iam", "create-virtual-mfa-device", "--virtual-mfa-device-name", device_name,
                      "--outfile", str(outfile), "--bootstrap-method", "Base32StringSeed", creds=creds)
        serial = out["VirtualMFADevice"]["SerialNumber"]
        seed = outfile.read_text().strip()
    else:
        out = srv.iam(creds).create_virtual_mfa_device(VirtualMFADeviceName=device_name)["VirtualMFADevice"]
        serial = out["SerialNumber"]
        seed = out["Base32StringSeed"].decode() if isinstance(out["Base32StringSeed"], bytes) else out["Base32StringSeed"]
    now = wait_for_fresh_step()
    step = int(now // 30)
    c1, c2 = totp(seed, now, -2), totp(seed, now, -1)
    if cli:
        srv.aws("iam", "enable-mfa-device", "--user-name", user_name, "--serial-number", serial,
                "--authentication-code1", c1, "--authentication-code2", c2, creds=creds)
    else:
        srv.iam(creds).enable_mfa_device(UserName=user_name, SerialNumber=serial,
                                         AuthenticationCode1=c1, AuthenticationCode2=c2)
    return serial, seed, step


def code_at(seed: str, step: int) -> str:
    return totp(seed, step * 30)


# ======================================================================================
# AWS's documented examples, verbatim
# ======================================================================================

def test_example_assume_role_cross_account_verbatim(server_factory):
    """`aws sts assume-role --role-arn arn:aws:iam::123456789012:role/xaccounts3access
    --role-session-name s3-access-example`, with account 123456789012 added to a running server
    by `opensts account create` and the caller a user of the server's default account."""
    s = server_factory(root_creds=True)
    assert s.account_id != ACCOUNT
    acct = s.create_account(ACCOUNT, name="examples")
    target = Creds(acct["AccessKeyId"], acct["SecretAccessKey"])
    arn = "arn:aws:iam::123456789012:role/xaccounts3access"

    created = s.aws("iam", "create-role", "--role-name", "xaccounts3access",
                    "--assume-role-policy-document", trust(f"arn:aws:iam::{s.account_id}:root"),
                    creds=target)["Role"]
    assert created["Arn"] == arn
    s.aws("iam", "attach-role-policy", "--role-name", "xaccounts3access",
          "--policy-arn", "arn:aws:iam::aws:policy/AmazonS3ReadOnlyAccess", creds=target)
    caller = s.aws("iam", "create-user", "--user-name", "s3-example-user")["User"]
    key = s.aws("iam", "create-access-key", "--user-name", "s3-example-user")["AccessKey"]
    creds = Creds.from_access_key(key)

    example = ["sts", "assume-role", "--role-arn", "arn:aws:iam::123456789012:role/xaccounts3access",
               "--role-session-name", "s3-access-example"]
    # Cross-account: the trust policy alone is not enough, the caller's identity policy must allow.
    r = s.aws_error(*example, code="AccessDenied", creds=creds)
    assert r.error_message == f"User: {caller['Arn']} is not authorized to perform: sts:AssumeRole on resource: {arn}"
    s.aws("iam", "put-user-policy", "--user-name", "s3-example-user", "--policy-name", "assume",
          "--policy-document", pdoc(allow("sts:AssumeRole", arn)))

    before = utcnow()
    out = eventually(lambda: s.aws(*example, creds=creds), timeout=2)
    after = utcnow()
    assert set(out) == {"Credentials", "AssumedRoleUser"}, out  # no policies/tags → no PackedPolicySize
    check_credentials(out["Credentials"], before, after, 3600)
    aru = out["AssumedRoleUser"]
    assert aru == {"AssumedRoleId": f"{created['RoleId']}:s3-access-example",
                   "Arn": "arn:aws:sts::123456789012:assumed-role/xaccounts3access/s3-access-example"}, aru
    assert re.match(AROA_RE, created["RoleId"]), created["RoleId"]

    # The session authenticates later calls, as the role in the role's account.
    sess = session_creds(out)
    assert s.aws("sts", "get-caller-identity", creds=sess) == {
        "UserId": aru["AssumedRoleId"], "Account": ACCOUNT, "Arn": aru["Arn"]}
    # It holds only the role's permissions (S3 read-only): no IAM.
    assert s.aws_error("iam", "list-users", creds=sess, code="AccessDenied")


def test_example_get_federation_token_verbatim(srv, tmp_path):
    """`aws sts get-federation-token --name Bob --policy file://myfile.json --policy-arns
    arn=arn:aws:iam::aws:policy/AmazonS3ReadOnlyAccess --duration-seconds 900`."""
    name = unique("federator")
    srv.aws("iam", "create-user", "--user-name", name)
    srv.aws("iam", "put-user-policy", "--user-name", name, "--policy-name", "federate", "--policy-document",
            pdoc(allow("sts:GetFederationToken", f"arn:aws:sts::{ACCOUNT}:federated-user/*"),
                 allow(["s3:*", "ec2:*"])))
    creds = Creds.from_access_key(srv.aws("iam", "create-access-key", "--user-name", name)["AccessKey"])
    myfile = {"Version": "2012-10-17",
              "Statement": [{"Sid": "Stmt1", "Effect": "Allow", "Action": "s3:*", "Resource": "*"}]}
    (tmp_path / "myfile.json").write_text(json.dumps(myfile, indent=4) + "\n")

    before = utcnow()
    out = aws_cli_in(srv, tmp_path, "sts", "get-federation-token", "--name", "Bob", "--policy", "file://myfile.json",
                     "--policy-arns", "arn=arn:aws:iam::aws:policy/AmazonS3ReadOnlyAccess",
                     "--duration-seconds", "900", creds=creds)
    after = utcnow()
    assert set(out) == {"Credentials", "FederatedUser", "PackedPolicySize"}, out
    check_credentials(out["Credentials"], before, after, 900)
    assert out["FederatedUser"] == {"FederatedUserId": "123456789012:Bob",
                                    "Arn": "arn:aws:sts::123456789012:federated-user/Bob"}
    want = expected_packed(json.dumps(myfile), ["arn:aws:iam::aws:policy/AmazonS3ReadOnlyAccess"])
    assert out["PackedPolicySize"] == want, (out["PackedPolicySize"], want)
    assert 0 < want <= 100

    fed = session_creds(out)
    assert srv.aws("sts", "get-caller-identity", creds=fed) == {
        "UserId": "123456789012:Bob", "Account": ACCOUNT, "Arn": "arn:aws:sts::123456789012:federated-user/Bob"}
    # Federated users may call no IAM API and no STS API but GetCallerIdentity.
    srv.aws_error("iam", "list-users", creds=fed, code="AccessDenied")
    r = srv.aws_error("sts", "get-federation-token", "--name", "Again", creds=fed, code="AccessDenied")
    assert r.error_message == "Cannot call GetFederationToken with session credentials"
    r = srv.aws_error("sts", "get-session-token", creds=fed, code="AccessDenied")
    assert r.error_message == "Cannot call GetSessionToken with session credentials"
    srv.aws_error("sts", "assume-role", "--role-arn", role_arn("anything"), "--role-session-name", "xx",
                  creds=fed, code="AccessDenied")


def test_example_get_session_token_mfa_verbatim(srv):
    """`aws sts get-session-token --duration-seconds 900 --serial-number
    arn:aws:iam::123456789012:mfa/NAME --token-code <code>`; a replayed code is refused."""
    name = unique("mfauser")
    srv.aws("iam", "create-user", "--user-name", name)
    mfa_only = {"Bool": {"aws:MultiFactorAuthPresent": "true"},
                "NumericLessThan": {"aws:MultiFactorAuthAge": "3600"}}
    srv.aws("iam", "put-user-policy", "--user-name", name, "--policy-name", "mfa-iam",
            "--policy-document", pdoc(allow(["iam:ListUsers", "iam:GetUser"], "*", mfa_only)))
    creds = Creds.from_access_key(srv.aws("iam", "create-access-key", "--user-name", name)["AccessKey"])
    serial, seed, step = create_mfa(srv, name, "NAME", cli=True)
    assert serial == "arn:aws:iam::123456789012:mfa/NAME"
    devices = srv.aws("iam", "list-mfa-devices", "--user-name", name)["MFADevices"]
    assert [d["SerialNumber"] for d in devices] == [serial]

    code = code_at(seed, step)
    example = ["sts", "get-session-token", "--duration-seconds", "900",
               "--serial-number", "arn:aws:iam::123456789012:mfa/NAME", "--token-code", code]
    before = utcnow()
    out = srv.aws(*example, creds=creds)
    after = utcnow()
    assert set(out) == {"Credentials"}, out
    check_credentials(out["Credentials"], before, after, 900)
    mfa_sess = session_creds(out)

    # The same code again: refused (one use per code), with AWS's MFA message.
    r = srv.aws_error(*example, creds=creds, code="AccessDenied")
    assert r.error_message == MFA_MSG, r.error_message
    # A wrong code: refused the same way.
    wrong = f"{(int(code_at(seed, step + 1)) + 1) % 1_000_000:06d}"
    r = srv.aws_error(*example[:-1], wrong, creds=creds, code="AccessDenied")
    assert r.error_message == MFA_MSG

    # The MFA session is the user, with MFA present: the MFA-conditioned policy allows IAM reads.
    ident = srv.aws("sts", "get-caller-identity", creds=mfa_sess)
    assert ident["Arn"] == f"arn:aws:iam::{ACCOUNT}:user/{name}"
    assert srv.aws("iam", "get-user", creds=mfa_sess)["User"]["UserName"] == name
    # Without MFA: long-term keys lack aws:MultiFactorAuthPresent; plain sessions cannot call IAM.
    srv.aws_error("iam", "get-user", creds=creds, code="AccessDenied")
    plain = Creds.from_sts(srv.aws("sts", "get-session-token", "--duration-seconds", "900", creds=creds)["Credentials"])
    srv.aws_error("iam", "get-user", creds=plain, code="AccessDenied")


# ======================================================================================
# AssumeRole: who may assume
# ======================================================================================

def test_trust_naming_the_exact_user_needs_no_identity_policy(srv):
    u, creds = make_user(srv)
    name = unique("role")
    role = make_role(srv, name, trust(u["Arn"]))
    out = assume(srv, creds, role["Arn"], "direct")
    assert out["AssumedRoleUser"]["Arn"] == f"arn:aws:sts::{ACCOUNT}:assumed-role/{name}/direct"
    assert out["AssumedRoleUser"]["AssumedRoleId"] == f"{role['RoleId']}:direct"
    # sts:AssumeRole is a real, deniable action: an explicit identity deny wins over the trust policy.
    srv.iam().put_user_policy(UserName=u["UserName"], PolicyName="no-assume",
                              PolicyDocument=pdoc(deny("sts:AssumeRole", role["Arn"])))
    msg = eventually(lambda: denied_assume(srv, creds, role["Arn"]), timeout=2)
    assert msg.startswith(f"User: {u['Arn']} is not authorized to perform: sts:AssumeRole on resource: {role['Arn']}")


def test_trust_naming_the_account_needs_an_identity_policy(srv):
    u, creds = make_user(srv)
    for principal in (f"arn:aws:iam::{ACCOUNT}:root", ACCOUNT):
        role = make_role(srv, unique("role"), trust(principal))
        denied_assume(srv, creds, role["Arn"])
        srv.iam().put_user_policy(UserName=u["UserName"], PolicyName="assume",
                                  PolicyDocument=pdoc(allow("sts:AssumeRole", role["Arn"])))
        eventually(lambda: assume(srv, creds, role["Arn"]), timeout=2)


def test_untrusted_principal_refused_cli(srv):
    trusted, _ = make_user(srv)
    untrusted, creds = make_user(srv, policy=pdoc(allow("sts:AssumeRole")))
    role = make_role(srv, unique("role"), trust(trusted["Arn"]))
    r = srv.aws_error("sts", "assume-role", "--role-arn", role["Arn"], "--role-session-name", "nope",
                      creds=creds, code="AccessDenied")
    assert r.error_message == (f"User: {untrusted['Arn']} is not authorized to perform: sts:AssumeRole "
                               f"on resource: {role['Arn']}")


def test_nonexistent_role_refused_like_a_denied_one_cli(srv):
    u, creds = make_user(srv, policy=pdoc(allow("sts:AssumeRole")))
    missing = role_arn(unique("ghost"))
    r = srv.aws_error("sts", "assume-role", "--role-arn", missing, "--role-session-name", "xx",
                      creds=creds, code="AccessDenied")
    assert r.error_message == f"User: {u['Arn']} is not authorized to perform: sts:AssumeRole on resource: {missing}"
    # An existing role that does not trust the caller answers with the same words.
    existing = make_role(srv, unique("role"), trust(f"arn:aws:iam::{ACCOUNT}:user/somebody-else"))
    r2 = srv.aws_error("sts", "assume-role", "--role-arn", existing["Arn"], "--role-session-name", "xx",
                       creds=creds, code="AccessDenied")
    assert r2.error_message == r.error_message.replace(missing, existing["Arn"])
    # A role in an account that does not exist, too.
    nowhere = role_arn("r", account="999999999999")
    r3 = srv.aws_error("sts", "assume-role", "--role-arn", nowhere, "--role-session-name", "xx",
                       creds=creds, code="AccessDenied")
    assert r3.error_message == r.error_message.replace(missing, nowhere)


def test_root_cannot_assume_role(srv):
    role = make_role(srv, unique("role"), trust(f"arn:aws:iam::{ACCOUNT}:root"))
    code, status, msg = client_error(assume, srv, srv.root, role["Arn"])
    assert (code, status, msg) == ("AccessDenied", 403, ROOT_MSG)
    # Root sessions (GetSessionToken) neither.
    code, _, msg = client_error(assume, srv, srv.session_for(), role["Arn"])
    assert (code, msg) == ("AccessDenied", ROOT_MSG)


def test_cross_account_needs_trust_and_identity_policy_cli(srv, other):
    other_acct, other_root = other
    name = unique("xacct")
    role = make_role(srv, name, trust(f"arn:aws:iam::{other_acct}:root"), inline=pdoc(allow("iam:ListRoles")))
    u, creds = make_user(srv, creds=other_root)
    assert u["Arn"].startswith(f"arn:aws:iam::{other_acct}:user/")
    args = ["sts", "assume-role", "--role-arn", role["Arn"], "--role-session-name", "xs"]
    # Trusted account, but no identity policy in the caller's account: refused.
    r = srv.aws_error(*args, creds=creds, code="AccessDenied")
    assert r.error_message == f"User: {u['Arn']} is not authorized to perform: sts:AssumeRole on resource: {role['Arn']}"
    srv.iam(other_root).put_user_policy(UserName=u["UserName"], PolicyName="a",
                                        PolicyDocument=pdoc(allow("sts:AssumeRole", role["Arn"])))
    out = eventually(lambda: srv.aws(*args, creds=creds), timeout=2)
    assert out["AssumedRoleUser"]["Arn"] == f"arn:aws:sts::{ACCOUNT}:assumed-role/{name}/xs"
    sess = session_creds(out)
    assert srv.sts(sess).get_caller_identity()["Account"] == ACCOUNT
    assert iam_error(srv, sess, "list_roles") is None  # the role's permissions, in the role's account

    # Cross-account trust naming the exact user still needs the identity policy.
    u2, creds2 = make_user(srv, creds=other_root)
    role2 = make_role(srv, unique("xacct"), trust(u2["Arn"]))
    denied_assume(srv, creds2, role2["Arn"])
    # A role of another account that does not trust us: refused even with an identity allow.
    role3 = make_role(srv, unique("xacct"), trust(f"arn:aws:iam::{ACCOUNT}:root"), creds=other_root)
    _, mine = make_user(srv, policy=pdoc(allow("sts:AssumeRole")))
    u4, creds4 = make_user(srv, policy=pdoc(allow("sts:AssumeRole")))
    role4 = make_role(srv, unique("xacct"), trust(f"arn:aws:iam::{ACCOUNT}:user/not-{u4['UserName']}"),
                      creds=other_root)
    denied_assume(srv, creds4, role4["Arn"])
    assume(srv, mine, role3["Arn"])  # trusted account + identity allow: fine


def test_external_id_cli(srv):
    u, creds = make_user(srv)
    role = make_role(srv, unique("vendor"), trust(u["Arn"], condition={"StringEquals": {"sts:ExternalId": "Unique-ID-4242"}}))
    base = ["sts", "assume-role", "--role-arn", role["Arn"], "--role-session-name", "vendor"]
    srv.aws_error(*base, creds=creds, code="AccessDenied")                       # missing
    srv.aws_error(*base, "--external-id", "Wrong-ID", creds=creds, code="AccessDenied")  # wrong
    out = srv.aws(*base, "--external-id", "Unique-ID-4242", creds=creds)           # right
    assert out["AssumedRoleUser"]["Arn"].endswith("/vendor")
    # ExternalId validation: 2..1224 of [\w+=,.@:/-].
    r = raw_sts(srv, creds, {"Action": "AssumeRole", "RoleArn": role["Arn"], "RoleSessionName": "v",
                             "ExternalId": "bad id!"})
    assert_error(r, "ValidationError", 400)


# ======================================================================================
# AssumeRole: parameters
# ======================================================================================

def test_session_policy_narrows_an_admin_role_cli(srv):
    u, creds = make_user(srv)
    name = unique("admin")
    role = make_role(srv, name, trust(u["Arn"]), managed=["arn:aws:iam::aws:policy/AdministratorAccess"])
    base = ["sts", "assume-role", "--role-arn", role["Arn"], "--role-session-name", "narrow"]

    full = session_creds(srv.aws(*base, creds=creds))
    victim = unique("made-by-admin")
    srv.aws("iam", "create-user", "--user-name", victim, creds=full)

    narrow_policy = pdoc(allow(["iam:Get*", "iam:List*"]))
    out = srv.aws(*base, "--policy", narrow_policy, creds=creds)
    assert out["PackedPolicySize"] == expected_packed(narrow_policy)
    narrow = session_creds(out)
    assert srv.aws("iam", "get-user", "--user-name", victim, creds=narrow)["User"]["UserName"] == victim
    r = srv.aws_error("iam", "create-user", "--user-name", unique("nope"), creds=narrow, code="AccessDenied")
    assert "because no session policy allows the iam:CreateUser action" in r.error_message, r.error_message

    # A managed session policy narrows the same way.
    out = srv.aws(*base, "--policy-arns", "arn=arn:aws:iam::aws:policy/IAMReadOnlyAccess", creds=creds)
    ro = session_creds(out)
    assert out["PackedPolicySize"] == expected_packed(None, ["arn:aws:iam::aws:policy/IAMReadOnlyAccess"])
    assert iam_error(srv, ro, "list_users") is None
    assert iam_error(srv, ro, "create_user", UserName=unique("nope")) == "AccessDenied"

    # Inline + managed session policies: the union of the two, intersected with the role.
    out = srv.aws(*base, "--policy", pdoc(allow("iam:CreateUser")),
                  "--policy-arns", "arn=arn:aws:iam::aws:policy/IAMReadOnlyAccess", creds=creds)
    both = session_creds(out)
    assert iam_error(srv, both, "list_users") is None
    assert iam_error(srv, both, "create_user", UserName=unique("ok")) is None
    assert iam_error(srv, both, "delete_user", UserName=victim) == "AccessDenied"

    # A session policy never grants more than the role has.
    small = make_role(srv, unique("small"), trust(u["Arn"]), inline=pdoc(allow("iam:ListRoles")))
    wide = session_creds(assume(srv, creds, small["Arn"], Policy=pdoc(allow("*"))))
    assert iam_error(srv, wide, "list_roles") is None
    assert iam_error(srv, wide, "list_users") == "AccessDenied"
    # Session policies limit sts:AssumeRole like any action: the narrowed session cannot chain
    # into a role that trusts the admin role, the unrestricted one can.
    onward = make_role(srv, unique("onward"), trust(role["Arn"]))
    assume(srv, full, onward["Arn"])
    denied_assume(srv, narrow, onward["Arn"])


def test_session_policy_errors(srv):
    u, creds = make_user(srv)
    role = make_role(srv, unique("role"), trust(u["Arn"]))
    code, status, _ = client_error(assume, srv, creds, role["Arn"],
                                   Policy='{"Version":"2012-10-17","Statement":[{"Effect":"Allow"}]}')
    assert (code, status) == ("MalformedPolicyDocument", 400)
    code, status, _ = client_error(assume, srv, creds, role["Arn"], Policy="not json")
    assert (code, status) == ("MalformedPolicyDocument", 400)
    code, status, _ = client_error(assume, srv, creds, role["Arn"],
                                   PolicyArns=[{"arn": f"arn:aws:iam::{ACCOUNT}:policy/does-not-exist"}])
    assert (code, status) == ("MalformedPolicyDocument", 400)
    # Up to 10 managed session policies.
    params = {"Action": "AssumeRole", "RoleArn": role["Arn"], "RoleSessionName": "many"}
    for i in range(1, 12):
        params[f"PolicyArns.member.{i}.arn"] = "arn:aws:iam::aws:policy/IAMReadOnlyAccess"
    assert_error(raw_sts(srv, creds, params), "ValidationError", 400)
    del params["PolicyArns.member.11.arn"]
    r = raw_sts(srv, creds, params)
    assert r.status_code == 200, r.text
    # Over the packed budget: PackedPolicyTooLarge, with the percentage.
    big = pdoc(*[allow(f"iam:Get{'x' * 40}{i}", f"arn:aws:iam::{ACCOUNT}:user/{'y' * 40}{i}") for i in range(60)])
    code, status, msg = client_error(assume, srv, creds, role["Arn"], Policy=big)
    assert (code, status) == ("PackedPolicyTooLarge", 400), (code, msg)
    pct = expected_packed(big)
    assert pct > 100
    assert msg == f"Packed size of session policies and tags consumes {pct}% of allotted space.", msg


def test_durations(srv):
    u, creds = make_user(srv)
    short = make_role(srv, unique("short"), trust(u["Arn"]))  # MaxSessionDuration 3600 (default)
    long = make_role(srv, unique("long"), trust(u["Arn"]), max_duration=43200)
    for role, duration, want in ((short, None, 3600), (short, 900, 900), (short, 3600, 3600),
                                 (long, 43200, 43200), (long, 7200, 7200)):
        kw = {"DurationSeconds": duration} if duration else {}
        before = utcnow()
        out = assume(srv, creds, role["Arn"], **kw)
        check_expiration(out["Credentials"]["Expiration"].astimezone(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
                         before, utcnow(), want)
    code, status, msg = client_error(assume, srv, creds, short["Arn"], DurationSeconds=7200)
    assert (code, status, msg) == ("ValidationError", 400, MAX_SESSION_MSG)
    for bad, suffix in (("899", "greater than or equal to 900"), ("43201", "less than or equal to 43200")):
        r = raw_sts(srv, creds, {"Action": "AssumeRole", "RoleArn": long["Arn"], "RoleSessionName": "d",
                                 "DurationSeconds": bad})
        err = assert_error(r, "ValidationError", 400)
        assert f"Value '{bad}' at 'durationSeconds'" in err.message and suffix in err.message, err.message


def test_role_session_name_rules(srv):
    u, creds = make_user(srv)
    role = make_role(srv, unique("role"), trust(u["Arn"]))
    for ok in ("ab", "a" * 64, "Az09_+=,.@-"):
        out = assume(srv, creds, role["Arn"], ok)
        assert out["AssumedRoleUser"]["Arn"].endswith("/" + ok)
    for bad, constraint in (("a", "length greater than or equal to 2"),
                            ("a" * 65, "length less than or equal to 64"),
                            ("has space", "regular expression pattern: [\\w+=,.@-]*"),
                            ("slash/no", "regular expression pattern")):
        r = raw_sts(srv, creds, {"Action": "AssumeRole", "RoleArn": role["Arn"], "RoleSessionName": bad})
        err = assert_error(r, "ValidationError", 400)
        assert f"at 'roleSessionName' failed to satisfy constraint: Member must" in err.message, err.message
        assert constraint in err.message, err.message
    r = raw_sts(srv, creds, {"Action": "AssumeRole", "RoleArn": role["Arn"]})
    assert_error(r, "ValidationError", 400)
    r = raw_sts(srv, creds, {"Action": "AssumeRole", "RoleArn": f"arn:aws:iam::{ACCOUNT}:user/notarole",
                             "RoleSessionName": "xx"})
    assert xml_code(r) in ("ValidationError", "AccessDenied")


def xml_code(resp) -> str | None:
    return xml_error(resp).code


def test_role_chaining(srv):
    u, creds = make_user(srv)
    r2name = unique("second")
    first = make_role(srv, unique("first"), trust(u["Arn"]), max_duration=43200,
                      inline=pdoc(allow("sts:AssumeRole")))
    second = make_role(srv, r2name, trust(first["Arn"]), max_duration=43200, inline=pdoc(allow("iam:ListRoles")))
    s1 = session_creds(assume(srv, creds, first["Arn"], DurationSeconds=7200))

    before = utcnow()
    out = assume(srv, s1, second["Arn"], "hop")
    check_expiration(out["Credentials"]["Expiration"].astimezone(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
                     before, utcnow(), 3600)
    s2 = session_creds(out)
    assert srv.sts(s2).get_caller_identity()["Arn"] == f"arn:aws:sts::{ACCOUNT}:assumed-role/{r2name}/hop"
    assert iam_error(srv, s2, "list_roles") is None
    assume(srv, s1, second["Arn"], DurationSeconds=3600)

    # More than one hour in a chain: refused with AWS's message, whatever the role allows.
    args = ["sts", "assume-role", "--role-arn", second["Arn"], "--role-session-name", "long",
            "--duration-seconds", "3601"]
    r = srv.aws_error(*args, creds=s1, code="ValidationError")
    assert r.error_message == CHAIN_MSG
    code, _, msg = client_error(assume, srv, s1, second["Arn"], DurationSeconds=43200)
    assert (code, msg) == ("ValidationError", CHAIN_MSG)

    # Sessions cannot call GetSessionToken / GetFederationToken.
    code, _, msg = client_error(srv.sts(s1).get_session_token)
    assert (code, msg) == ("AccessDenied", "Cannot call GetSessionToken with session credentials")
    code, _, msg = client_error(srv.sts(s1).get_federation_token, Name="fed")
    assert (code, msg) == ("AccessDenied", "Cannot call GetFederationToken with session credentials")

    # GetSessionToken credentials may call AssumeRole (treated as chaining: 1 hour at most).
    user_sess = srv.session_for(creds)
    assume(srv, user_sess, first["Arn"])
    code, _, msg = client_error(assume, srv, user_sess, first["Arn"], DurationSeconds=7200)
    assert (code, msg) == ("ValidationError", CHAIN_MSG)

    # A tampered session token does not authenticate.
    bad = s2.replace(session_token=s2.session_token[:-4] + ("AAAA" if not s2.session_token.endswith("AAAA") else "BBBB"))
    code, _, _ = client_error(srv.sts(bad).get_caller_identity)
    assert code == "InvalidClientTokenId"


def test_session_tags(srv):
    u, creds = make_user(srv)
    cond_blue = {"StringEquals": {"aws:PrincipalTag/team": "blue"}}
    no_tag_session = make_role(srv, unique("notag"), trust(u["Arn"]))
    role = make_role(srv, unique("tagged"), trust(u["Arn"], ["sts:AssumeRole", "sts:TagSession"]),
                     inline=pdoc(allow("iam:ListRoles", "*", cond_blue)), tags=[("team", "green")])
    # Tags need sts:TagSession in the trust policy.
    denied_assume(srv, creds, no_tag_session["Arn"], Tags=[{"Key": "team", "Value": "blue"}])
    assume(srv, creds, no_tag_session["Arn"])

    out = srv.aws("sts", "assume-role", "--role-arn", role["Arn"], "--role-session-name", "blue",
                  "--tags", "Key=team,Value=blue", "Key=cost-center,Value=12345", creds=creds)
    assert out["PackedPolicySize"] == expected_packed(tags=[("team", "blue"), ("cost-center", "12345")])
    blue = session_creds(out)
    assert iam_error(srv, blue, "list_roles") is None          # session tag overrides the role tag
    red = session_creds(assume(srv, creds, role["Arn"], Tags=[{"Key": "TEAM", "Value": "red"}]))
    assert iam_error(srv, red, "list_roles") == "AccessDenied"  # key case-insensitive: replaces team=green
    plain = session_creds(assume(srv, creds, role["Arn"]))
    assert iam_error(srv, plain, "list_roles") == "AccessDenied"  # role tag team=green applies

    # 50 tags at most.
    params = {"Action": "AssumeRole", "RoleArn": role["Arn"], "RoleSessionName": "many"}
    for i in range(1, 52):
        params[f"Tags.member.{i}.Key"] = f"k{i}"
        params[f"Tags.member.{i}.Value"] = "v"
    assert_error(raw_sts(srv, creds, params), "ValidationError", 400)
    del params["Tags.member.51.Key"], params["Tags.member.51.Value"]
    r = raw_sts(srv, creds, params)
    assert r.status_code == 200, r.text
    assert f"<PackedPolicySize>{expected_packed(tags=[(f'k{i}', 'v') for i in range(1, 51)])}</PackedPolicySize>" in r.text
    # Tags that do not fit the packed budget.
    huge = [{"Key": f"{i:02d}" + "k" * 126, "Value": "v" * 256} for i in range(50)]
    code, status, msg = client_error(assume, srv, creds, role["Arn"], Tags=huge)
    assert (code, status) == ("PackedPolicyTooLarge", 400), (code, msg)
    # Reserved prefix.
    code, status, _ = client_error(assume, srv, creds, role["Arn"], Tags=[{"Key": "aws:team", "Value": "x"}])
    assert status == 400, code
    # Transitive keys must be among the tags.
    code, status, _ = client_error(assume, srv, creds, role["Arn"], Tags=[{"Key": "team", "Value": "blue"}],
                                   TransitiveTagKeys=["project"])
    assert status == 400, code


def test_transitive_tags_carry_into_chained_sessions(srv):
    u, creds = make_user(srv)
    tagging = ["sts:AssumeRole", "sts:TagSession"]
    first = make_role(srv, unique("t1"), trust(u["Arn"], tagging), inline=pdoc(allow(tagging)))
    second = make_role(srv, unique("t2"), trust(first["Arn"], tagging), inline=pdoc(
        allow(tagging),
        allow("iam:ListRoles", "*", {"StringEquals": {"aws:PrincipalTag/team": "blue"}}),
        allow("iam:ListUsers", "*", {"StringEquals": {"aws:PrincipalTag/project": "apollo"}})))
    third = make_role(srv, unique("t3"), trust(second["Arn"], tagging), inline=pdoc(
        allow("iam:ListRoles", "*", {"StringEquals": {"aws:PrincipalTag/team": "blue"}})))

    out = srv.aws("sts", "assume-role", "--role-arn", first["Arn"], "--role-session-name", "origin",
                  "--tags", "Key=team,Value=blue", "Key=project,Value=apollo",
                  "--transitive-tag-keys", "team", creds=creds)
    s1 = session_creds(out)
    s2 = session_creds(assume(srv, s1, second["Arn"], "hop1"))
    assert iam_error(srv, s2, "list_roles") is None       # transitive team=blue arrived
    assert iam_error(srv, s2, "list_users") == "AccessDenied"  # project was not transitive
    s3 = session_creds(assume(srv, s2, third["Arn"], "hop2"))
    assert iam_error(srv, s3, "list_roles") is None       # and keeps going down the chain
    # An inherited transitive key cannot be overridden.
    code, status, _ = client_error(assume, srv, s1, second["Arn"], Tags=[{"Key": "Team", "Value": "red"}])
    assert status == 400, code
    # Other tags may be added on the way.
    s2b = session_creds(assume(srv, s1, second["Arn"], Tags=[{"Key": "project", "Value": "apollo"}]))
    assert iam_error(srv, s2b, "list_users") is None


def test_source_identity(srv):
    u, creds = make_user(srv)
    si_actions = ["sts:AssumeRole", "sts:SetSourceIdentity"]
    plain = make_role(srv, unique("plain"), trust(u["Arn"]))
    first = make_role(srv, unique("si1"), trust(u["Arn"], si_actions), inline=pdoc(allow(si_actions)))
    second = make_role(srv, unique("si2"), trust(first["Arn"], si_actions), inline=pdoc(
        allow("iam:ListRoles", "*", {"StringEquals": {"aws:SourceIdentity": "alice"}})))
    # sts:SetSourceIdentity is required in the trust policy.
    denied_assume(srv, creds, plain["Arn"], SourceIdentity="alice")
    out = srv.aws("sts", "assume-role", "--role-arn", first["Arn"], "--role-session-name", "si",
                  "--source-identity", "alice", creds=creds)
    assert out["SourceIdentity"] == "alice"
    s1 = session_creds(out)
    # It persists through chaining without being passed again...
    out2 = assume(srv, s1, second["Arn"])
    assert out2["SourceIdentity"] == "alice"
    assert iam_error(srv, session_creds(out2), "list_roles") is None  # aws:SourceIdentity in later requests
    assert assume(srv, s1, second["Arn"], SourceIdentity="alice")["SourceIdentity"] == "alice"
    # ...and cannot be changed.
    code, status, _ = client_error(assume, srv, s1, second["Arn"], SourceIdentity="mallory")
    assert (code, status) == ("AccessDenied", 403)
    # Validation: 2..64 of [\w+=,.@-], not starting with aws:.
    for bad in ("a", "aws:alice", "has space"):
        r = raw_sts(srv, creds, {"Action": "AssumeRole", "RoleArn": first["Arn"], "RoleSessionName": "s",
                                 "SourceIdentity": bad})
        assert_error(r, "ValidationError", 400)
    # Trust policies can require a particular source identity (sts:SourceIdentity).
    pinned = make_role(srv, unique("pinned"), trust(u["Arn"], si_actions,
                                                    {"StringEquals": {"sts:SourceIdentity": "alice"}}))
    assume(srv, creds, pinned["Arn"], SourceIdentity="alice")
    denied_assume(srv, creds, pinned["Arn"], SourceIdentity="bob")


def test_assume_role_with_mfa(srv):
    name = unique("mfa-assumer")
    u, creds = make_user(srv, name=name)
    serial, seed, step = create_mfa(srv, name, unique("dev"))
    mfa = {"Bool": {"aws:MultiFactorAuthPresent": "true"}}
    role = make_role(srv, unique("mfarole"), trust(u["Arn"], condition=mfa), inline=pdoc(
        allow("iam:ListRoles", "*", {"Bool": {"aws:MultiFactorAuthPresent": "true"},
                                     "NumericLessThan": {"aws:MultiFactorAuthAge": "600"}})))
    denied_assume(srv, creds, role["Arn"])  # trust requires MFA

    code, _, msg = client_error(assume, srv, creds, role["Arn"], SerialNumber=serial,
                                TokenCode=f"{(int(code_at(seed, step)) + 1) % 1_000_000:06d}")
    assert (code, msg) == ("AccessDenied", MFA_MSG)
    good = code_at(seed, step)
    out = srv.aws("sts", "assume-role", "--role-arn", role["Arn"], "--role-session-name", "mfa",
                  "--serial-number", serial, "--token-code", good, creds=creds)
    sess = session_creds(out)
    assert iam_error(srv, sess, "list_roles") is None  # MultiFactorAuthPresent/Age in the session
    code, _, msg = client_error(assume, srv, creds, role["Arn"], SerialNumber=serial, TokenCode=good)
    assert (code, msg) == ("AccessDenied", MFA_MSG)  # replay

    # Another user's device is no good (and the attempt does not use up the code).
    _, other_creds = make_user(srv)
    code, _, msg = client_error(assume, srv, other_creds, role["Arn"], SerialNumber=serial,
                                TokenCode=code_at(seed, step + 1))
    assert (code, msg) == ("AccessDenied", MFA_MSG)
    # MFA from GetSessionToken carries into AssumeRole.
    mfa_sess = Creds.from_sts(srv.sts(creds).get_session_token(
        DurationSeconds=900, SerialNumber=serial, TokenCode=code_at(seed, step + 1))["Credentials"])
    chained = session_creds(assume(srv, mfa_sess, role["Arn"]))
    assert iam_error(srv, chained, "list_roles") is None
    # A role session cannot present an MFA device (only IAM users own devices).
    code, _, msg = client_error(assume, srv, chained, role["Arn"], SerialNumber=serial,
                                TokenCode=code_at(seed, step + 2))
    assert (code, msg) == ("AccessDenied", MFA_MSG)


def test_get_session_token_mfa_rules(srv):
    name = unique("gst")
    _, creds = make_user(srv, name=name)
    serial, seed, step = create_mfa(srv, name, unique("dev"))
    sts = srv.sts(creds)
    # Serial number without a code (and the reverse) is refused.
    code, _, _ = client_error(sts.get_session_token, SerialNumber=serial)
    assert code == "AccessDenied"
    code, _, _ = client_error(sts.get_session_token, TokenCode=code_at(seed, step))
    assert code == "AccessDenied"
    # A device that does not exist, or belongs to nobody / someone else.
    code, _, msg = client_error(sts.get_session_token, SerialNumber=f"arn:aws:iam::{ACCOUNT}:mfa/{unique('none')}",
                                TokenCode="123456")
    assert (code, msg) == ("AccessDenied", MFA_MSG)
    # Root cannot use a user's device.
    code, _, msg = client_error(srv.sts().get_session_token, SerialNumber=serial, TokenCode=code_at(seed, step))
    assert (code, msg) == ("AccessDenied", MFA_MSG)
    out = sts.get_session_token(SerialNumber=serial, TokenCode=code_at(seed, step))
    before = utcnow()
    c = Creds.from_sts(out["Credentials"])
    check_expiration(c.expiration, before - dt.timedelta(seconds=5), utcnow(), 43200)
    # Malformed codes: ValidationError.
    r = raw_sts(srv, creds, {"Action": "GetSessionToken", "SerialNumber": serial, "TokenCode": "12345a"})
    assert_error(r, "ValidationError", 400)
    # Root sessions are clamped to one hour.
    before = utcnow()
    root_sess = srv.sts().get_session_token(DurationSeconds=7200)["Credentials"]
    check_expiration(Creds.from_sts(root_sess).expiration, before, utcnow(), 3600)


def test_provided_contexts_rejected(srv):
    u, creds = make_user(srv)
    role = make_role(srv, unique("role"), trust(u["Arn"], ["sts:AssumeRole", "sts:SetContext"]))
    r = srv.aws_error("sts", "assume-role", "--role-arn", role["Arn"], "--role-session-name", "ctx",
                      "--provided-contexts",
                      "ProviderArn=arn:aws:iam::aws:contextProvider/IdentityCenter,ContextAssertion=abcdefgh",
                      creds=creds)
    assert r.error_code in ("InvalidParameterValue", "ValidationError"), r.describe()
    assert "ProvidedContexts" in (r.error_message or ""), r.error_message


# ======================================================================================
# GetFederationToken
# ======================================================================================

def test_get_federation_token_rules(srv):
    fed_arn = f"arn:aws:sts::{ACCOUNT}:federated-user/*"
    _, creds = make_user(srv, policy=pdoc(allow(["sts:GetFederationToken", "iam:*"], "*")))
    sts = srv.sts(creds)
    before = utcnow()
    out = sts.get_federation_token(Name="carol")
    assert set(out) - {"ResponseMetadata"} == {"Credentials", "FederatedUser"}, out  # no policies: no PackedPolicySize
    check_expiration(Creds.from_sts(out["Credentials"]).expiration, before, utcnow(), 43200)
    assert out["FederatedUser"] == {"FederatedUserId": f"{ACCOUNT}:carol", "Arn": f"arn:aws:sts::{ACCOUNT}:federated-user/carol"}
    before = utcnow()
    out = sts.get_federation_token(Name="dave", DurationSeconds=129600, Policy=pdoc(allow("s3:*")))
    check_expiration(Creds.from_sts(out["Credentials"]).expiration, before, utcnow(), 129600)
    assert out["PackedPolicySize"] == expected_packed(pdoc(allow("s3:*")))

    for params in ({"Name": "has space"}, {"Name": "x"}, {"Name": "n" * 33}, {"Name": "ok", "DurationSeconds": "899"},
                   {"Name": "ok", "DurationSeconds": "129601"}, {"Name": "ok", "Policy": pdoc(allow("s3:*", "x" * 2100))}):
        r = raw_sts(srv, creds, {"Action": "GetFederationToken", **params})
        assert_error(r, "ValidationError", 400)
    code, _, _ = client_error(sts.get_federation_token, Name="bad", Policy="{")
    assert code == "MalformedPolicyDocument"

    # sts:GetFederationToken on the federated-user ARN is required.
    _, nobody = make_user(srv)
    code, _, msg = client_error(srv.sts(nobody).get_federation_token, Name="eve")
    assert code == "AccessDenied"
    assert f"sts:GetFederationToken on resource: arn:aws:sts::{ACCOUNT}:federated-user/eve" in msg, msg
    _, limited = make_user(srv, policy=pdoc(allow("sts:GetFederationToken", fed_arn.replace("*", "only-*"))))
    srv.sts(limited).get_federation_token(Name="only-me")
    code, _, _ = client_error(srv.sts(limited).get_federation_token, Name="someone")
    assert code == "AccessDenied"

    # Root may federate; its sessions are clamped to one hour.
    before = utcnow()
    out = srv.sts().get_federation_token(Name="rootfed", DurationSeconds=7200, Policy=pdoc(allow("*")))
    check_expiration(Creds.from_sts(out["Credentials"]).expiration, before, utcnow(), 3600)
    fed = session_creds(out)
    assert srv.sts(fed).get_caller_identity()["UserId"] == f"{ACCOUNT}:rootfed"
    assert iam_error(srv, fed, "list_users") == "AccessDenied"

    # Session tags need sts:TagSession.
    code, _, _ = client_error(sts.get_federation_token, Name="tagged", Tags=[{"Key": "team", "Value": "blue"}])
    assert code == "AccessDenied"
    _, tagger = make_user(srv, policy=pdoc(allow(["sts:GetFederationToken", "sts:TagSession"])))
    out = srv.sts(tagger).get_federation_token(Name="tagged", Tags=[{"Key": "team", "Value": "blue"}])
    assert out["PackedPolicySize"] == expected_packed(tags=[("team", "blue")])


# ======================================================================================
# Revocation
# ======================================================================================

def test_revoke_sessions_command(srv):
    u, creds = make_user(srv)
    name = unique("revocable")
    role = make_role(srv, name, trust(u["Arn"]), inline=pdoc(allow(["iam:ListRoles", "sts:AssumeRole"])))
    target = make_role(srv, unique("target"), trust(role["Arn"]))
    old = session_creds(assume(srv, creds, role["Arn"], "old"))
    assert iam_error(srv, old, "list_roles") is None
    assume(srv, old, target["Arn"])

    cp = srv.run_opensts("role", "revoke-sessions", "--role-name", name, "--account-id", ACCOUNT,
                         "--data-dir", str(srv.data_dir))
    assert cp.returncode == 0, cp.stderr
    report = json.loads(cp.stdout)
    assert report["AccountId"] == ACCOUNT and report["RoleName"] == name, report
    cutoff = parse_expiration(report["RevokedBefore"])
    assert cutoff > utcnow() - dt.timedelta(seconds=5)

    def refused():
        assert iam_error(srv, old, "list_roles") == "AccessDenied"
    eventually(refused, timeout=2)
    code, _, _ = client_error(assume, srv, old, target["Arn"])  # and no chaining out of it
    assert code == "AccessDenied"
    # The role's policies now hold AWS's revocation policy.
    got = srv.iam().get_role_policy(RoleName=name, PolicyName="AWSRevokeOlderSessions")["PolicyDocument"]
    assert "aws:TokenIssueTime" in json.dumps(got)
    # New sessions (issued after the cutoff) work.
    while utcnow() < cutoff:
        time.sleep(0.1)
    new = session_creds(assume(srv, creds, role["Arn"], "new"))
    assert iam_error(srv, new, "list_roles") is None
    # The default account is used without --account-id; an unknown role is an error.
    cp = srv.run_opensts("role", "revoke-sessions", "--role-name", unique("ghost"), "--data-dir", str(srv.data_dir))
    assert cp.returncode != 0
    assert "not found" in cp.stderr


def test_revocation_by_token_issue_time_policy(srv):
    u, creds = make_user(srv)
    name = unique("manual")
    role = make_role(srv, name, trust(u["Arn"]), inline=pdoc(allow("iam:ListRoles")))
    old = session_creds(assume(srv, creds, role["Arn"]))
    assert iam_error(srv, old, "list_roles") is None
    time.sleep(1.1)
    cutoff = utcnow().strftime("%Y-%m-%dT%H:%M:%SZ")
    time.sleep(1.1)
    srv.iam().put_role_policy(RoleName=name, PolicyName="revoke", PolicyDocument=pdoc(
        deny("*", "*", {"DateLessThan": {"aws:TokenIssueTime": cutoff}})))
    def refused():
        assert iam_error(srv, old, "list_roles") == "AccessDenied"
    eventually(refused, timeout=2)
    new = session_creds(assume(srv, creds, role["Arn"]))
    assert iam_error(srv, new, "list_roles") is None
