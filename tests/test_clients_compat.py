"""The same STS flows through four clients: the aws CLI v1, boto3, the AWS SDK for Rust
(crates/opensts-compat) and the AWS SDK for JavaScript v3 (tests/js). Only the endpoint changes.

Flows: GetCallerIdentity; AssumeRole with a session tag and a session policy (the tag is needed
by the role's permissions, the policy takes iam:ListUsers away); GetSessionToken with MFA;
AssumeRoleWithWebIdentity; AssumeRoleWithSAML; DecodeAuthorizationMessage; IAM GetUser; and
the typed errors AccessDenied, ExpiredTokenException, InvalidIdentityTokenException,
ValidationError and Throttling. Every client reports what it saw as JSON of one shape and this
module asserts the identities (ARNs) and error codes/types for each.

The Rust and JavaScript clients read the fixture JSON named by OPENSTS_COMPAT_FIXTURE and write
their report to OPENSTS_COMPAT_REPORT. Node.js or cargo missing: the test fails when CI is set,
and is skipped (loudly) otherwise.
"""

from __future__ import annotations

import fcntl
import functools
import json
import os
import shutil
import subprocess

import boto3
import botocore.config
import botocore.exceptions
import pytest

import clients_world as cw
from clients_world import ca, world  # noqa: F401  (module fixtures)
from harness import REPO_ROOT, Creds, OpenSTSServer, clean_env

JS_DIR = REPO_ROOT / "tests" / "js"
CLIENTS = ["cli", "boto3", "rust", "js"]


def missing_tool(what: str):
    msg = f"{what} — this client's compatibility suite cannot run"
    if os.environ.get("CI"):
        pytest.fail(msg, pytrace=False)
    print(f"\n*** SKIPPED: {msg}")
    pytest.skip(msg)


# --------------------------------------------------------------------------------------
# fixtures
# --------------------------------------------------------------------------------------

# --------------------------------------------------------------------------------------
# boto3
# --------------------------------------------------------------------------------------

def boto_client(service: str, d: dict, creds: dict | None, endpoint: str | None = None):
    kw = {}
    if creds is not None:
        kw = {"aws_access_key_id": creds["access_key_id"], "aws_secret_access_key": creds["secret_access_key"],
              "aws_session_token": creds.get("session_token")}
    else:
        kw = {"config": botocore.config.Config(signature_version=botocore.UNSIGNED, retries={"max_attempts": 1})}
    session = boto3.session.Session(region_name=d["region"])
    return session.client(service, endpoint_url=endpoint or d["endpoint"],
                          config=kw.pop("config", botocore.config.Config(retries={"max_attempts": 1})), **kw)


def sts_creds(c: dict) -> dict:
    return {"access_key_id": c["AccessKeyId"], "secret_access_key": c["SecretAccessKey"],
            "session_token": c["SessionToken"]}


def boto_error(fn, client, modeled: tuple[str, ...] = ()) -> dict:
    """Call fn; report the error code and the typed exception class boto3 raised."""
    try:
        fn()
    except botocore.exceptions.ClientError as e:
        typed = type(e).__name__
        for name in modeled:
            if isinstance(e, getattr(client.exceptions, name)):
                typed = name
        if typed == "ClientError":
            typed = e.response["Error"]["Code"]
        return {"code": e.response["Error"]["Code"], "typed": typed}
    raise AssertionError("the call succeeded")


def run_boto3(d: dict) -> dict:
    user = d["user"]
    sts = boto_client("sts", d, user)
    flows: dict = {}
    gci = sts.get_caller_identity()
    flows["get_caller_identity"] = {k: gci[k] for k in ("Arn", "Account", "UserId")}
    ar = d["assume_role"]
    out = sts.assume_role(RoleArn=ar["role_arn"], RoleSessionName=ar["session_name"], Tags=ar["tags"],
                          Policy=ar["policy"], DurationSeconds=ar["duration_seconds"])
    sc = sts_creds(out["Credentials"])
    iam = boto_client("iam", d, sc)
    iam.list_roles()
    flows["assume_role"] = {
        "Arn": out["AssumedRoleUser"]["Arn"],
        "whoami": boto_client("sts", d, sc).get_caller_identity()["Arn"],
        "list_roles": "ok",
        "list_users": boto_error(iam.list_users, iam)["code"],
    }
    m = d["mfa_user"]
    out = boto_client("sts", d, m).get_session_token(SerialNumber=m["serial"], TokenCode=m["code"])
    flows["get_session_token_mfa"] = {"whoami": boto_client("sts", d, sts_creds(out["Credentials"]))
                                      .get_caller_identity()["Arn"]}
    anon = boto_client("sts", d, None)
    w = d["web_identity"]
    out = anon.assume_role_with_web_identity(RoleArn=w["role_arn"], RoleSessionName=w["session_name"],
                                             WebIdentityToken=w["token"])
    flows["web_identity"] = {"Arn": out["AssumedRoleUser"]["Arn"],
                             "SubjectFromWebIdentityToken": out["SubjectFromWebIdentityToken"],
                             "whoami": boto_client("sts", d, sts_creds(out["Credentials"]))
                             .get_caller_identity()["Arn"]}
    s = d["saml"]
    out = anon.assume_role_with_saml(RoleArn=s["role_arn"], PrincipalArn=s["principal_arn"],
                                     SAMLAssertion=s["assertion"])
    flows["saml"] = {"Arn": out["AssumedRoleUser"]["Arn"], "Subject": out["Subject"],
                     "whoami": boto_client("sts", d, sts_creds(out["Credentials"])).get_caller_identity()["Arn"]}
    decoded = sts.decode_authorization_message(EncodedMessage=d["encoded_message"])["DecodedMessage"]
    flows["decode"] = cw.decoded_summary(decoded)
    flows["iam_get_user"] = {"Arn": boto_client("iam", d, user).get_user()["User"]["Arn"]}

    t = d["throttled"]
    throttled = boto_client("sts", d, t, endpoint=t["endpoint"])
    modeled = tuple(cw.MODELED)
    errors = {
        "access_denied": boto_error(lambda: sts.assume_role(RoleArn=d["denied_role_arn"], RoleSessionName="probe"), sts),
        "expired_token": boto_error(lambda: anon.assume_role_with_web_identity(
            RoleArn=w["role_arn"], RoleSessionName="probe", WebIdentityToken=w["expired_token"]), anon, modeled),
        "invalid_identity_token": boto_error(lambda: anon.assume_role_with_web_identity(
            RoleArn=w["role_arn"], RoleSessionName="probe", WebIdentityToken=w["invalid_token"]), anon, modeled),
        "expired_session": boto_error(boto_client("sts", d, d["expired_session"]).get_caller_identity, sts),
        "validation": boto_error(lambda: sts.assume_role(RoleArn=ar["role_arn"], RoleSessionName="probe",
                                                         DurationSeconds=43200), sts),
        "throttling": boto_error(throttled.get_caller_identity, throttled),
    }
    return {"flows": flows, "errors": errors}


# --------------------------------------------------------------------------------------
# the aws CLI v1
# --------------------------------------------------------------------------------------

def run_cli(srv: OpenSTSServer, d: dict) -> dict:
    user = Creds(d["user"]["access_key_id"], d["user"]["secret_access_key"])
    anon = Creds("", "")

    def cli(*args, creds=user, **kw):
        return srv.aws(*args, creds=creds, **kw)

    def cli_err(*args, creds=user, endpoint=None):
        if endpoint:
            r = srv.aws_run(*args, "--endpoint-url", endpoint, creds=creds, endpoint=False)
        else:
            r = srv.aws_run(*args, creds=creds)
        assert r.returncode != 0 and r.error_code, r.describe()
        return {"code": r.error_code, "typed": r.error_code}

    flows: dict = {}
    gci = cli("sts", "get-caller-identity")
    flows["get_caller_identity"] = {k: gci[k] for k in ("Arn", "Account", "UserId")}
    ar = d["assume_role"]
    out = cli("sts", "assume-role", "--role-arn", ar["role_arn"], "--role-session-name", ar["session_name"],
              "--tags", *[f"Key={t['Key']},Value={t['Value']}" for t in ar["tags"]],
              "--policy", ar["policy"], "--duration-seconds", str(ar["duration_seconds"]))
    sc = Creds.from_sts(out["Credentials"])
    cli("iam", "list-roles", creds=sc)
    flows["assume_role"] = {"Arn": out["AssumedRoleUser"]["Arn"],
                            "whoami": cli("sts", "get-caller-identity", creds=sc)["Arn"],
                            "list_roles": "ok", "list_users": cli_err("iam", "list-users", creds=sc)["code"]}
    m = d["mfa_user"]
    out = cli("sts", "get-session-token", "--serial-number", m["serial"], "--token-code", m["code"],
              creds=Creds(m["access_key_id"], m["secret_access_key"]))
    flows["get_session_token_mfa"] = {
        "whoami": cli("sts", "get-caller-identity", creds=Creds.from_sts(out["Credentials"]))["Arn"]}
    w = d["web_identity"]
    out = cli("sts", "assume-role-with-web-identity", "--role-arn", w["role_arn"], "--role-session-name",
              w["session_name"], "--web-identity-token", w["token"], creds=anon)
    flows["web_identity"] = {"Arn": out["AssumedRoleUser"]["Arn"],
                             "SubjectFromWebIdentityToken": out["SubjectFromWebIdentityToken"],
                             "whoami": cli("sts", "get-caller-identity",
                                           creds=Creds.from_sts(out["Credentials"]))["Arn"]}
    s = d["saml"]
    out = cli("sts", "assume-role-with-saml", "--role-arn", s["role_arn"], "--principal-arn", s["principal_arn"],
              "--saml-assertion", s["assertion"], creds=anon)
    flows["saml"] = {"Arn": out["AssumedRoleUser"]["Arn"], "Subject": out["Subject"],
                     "whoami": cli("sts", "get-caller-identity", creds=Creds.from_sts(out["Credentials"]))["Arn"]}
    decoded = cli("sts", "decode-authorization-message", "--encoded-message", d["encoded_message"])
    flows["decode"] = cw.decoded_summary(decoded["DecodedMessage"])
    flows["iam_get_user"] = {"Arn": cli("iam", "get-user")["User"]["Arn"]}
    t = d["throttled"]
    errors = {
        "access_denied": cli_err("sts", "assume-role", "--role-arn", d["denied_role_arn"],
                                 "--role-session-name", "probe"),
        "expired_token": cli_err("sts", "assume-role-with-web-identity", "--role-arn", w["role_arn"],
                                 "--role-session-name", "probe", "--web-identity-token", w["expired_token"], creds=anon),
        "invalid_identity_token": cli_err("sts", "assume-role-with-web-identity", "--role-arn", w["role_arn"],
                                          "--role-session-name", "probe", "--web-identity-token", w["invalid_token"],
                                          creds=anon),
        "expired_session": cli_err("sts", "get-caller-identity", creds=Creds(
            d["expired_session"]["access_key_id"], d["expired_session"]["secret_access_key"],
            d["expired_session"]["session_token"])),
        "validation": cli_err("sts", "assume-role", "--role-arn", ar["role_arn"], "--role-session-name", "probe",
                              "--duration-seconds", "43200"),
        "throttling": cli_err("sts", "get-caller-identity", endpoint=t["endpoint"],
                              creds=Creds(t["access_key_id"], t["secret_access_key"])),
    }
    return {"flows": flows, "errors": errors}


# --------------------------------------------------------------------------------------
# Rust and JavaScript: subprocesses reading the fixture file
# --------------------------------------------------------------------------------------

def compat_env(fixture_path, report_path) -> dict:
    env = clean_env()
    env.update({"OPENSTS_COMPAT_FIXTURE": str(fixture_path), "OPENSTS_COMPAT_REPORT": str(report_path),
                "AWS_EC2_METADATA_DISABLED": "true", "AWS_CONFIG_FILE": os.devnull,
                "AWS_SHARED_CREDENTIALS_FILE": os.devnull})
    return env


@functools.cache
def rust_test_binary() -> str:
    """Build (if needed) crates/opensts-compat's `compat` test and return its executable."""
    if not shutil.which("cargo"):
        missing_tool("cargo is not on PATH")
    cp = subprocess.run(["cargo", "test", "-p", "opensts-compat", "--test", "compat", "--no-run",
                         "--message-format=json"], cwd=REPO_ROOT, capture_output=True, text=True, timeout=3600)
    assert cp.returncode == 0, f"building the Rust compat test failed:\n{cp.stderr[-4000:]}"
    for line in cp.stdout.splitlines():
        msg = json.loads(line)
        if msg.get("reason") == "compiler-artifact" and msg.get("executable") and \
                msg.get("target", {}).get("name") == "compat":
            return msg["executable"]
    raise AssertionError(f"cargo did not report the compat test executable:\n{cp.stdout[-2000:]}")


def run_rust(env: dict, test: str) -> subprocess.CompletedProcess:
    """Run one (ignored-by-default) test of the Rust compat suite with `env` only."""
    return subprocess.run([rust_test_binary(), "--ignored", "--exact", test, "--nocapture"], cwd=REPO_ROOT,
                          env=env, capture_output=True, text=True, timeout=600)


def js_ready() -> str:
    """node, with tests/js/node_modules installed (scripts/test runs `npm ci`; a direct pytest run
    does it here, once, under a lock shared by the xdist workers)."""
    node = shutil.which("node")
    if not node or not shutil.which("npm"):
        missing_tool("node/npm are not on PATH")
    with open(JS_DIR / ".npm-ci.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (JS_DIR / "node_modules" / "@aws-sdk" / "client-sts").exists():
            cp = subprocess.run(["npm", "ci", "--no-audit", "--no-fund"], cwd=JS_DIR, capture_output=True,
                                text=True, timeout=600)
            assert cp.returncode == 0, f"npm ci failed:\n{cp.stdout}\n{cp.stderr}"
    return node


def run_js(env: dict, script: str) -> subprocess.CompletedProcess:
    node = js_ready()
    return subprocess.run([node, str(JS_DIR / script)], cwd=JS_DIR, env=env, capture_output=True, text=True,
                          timeout=300)


# --------------------------------------------------------------------------------------
# the tests
# --------------------------------------------------------------------------------------

@pytest.mark.parametrize("client", CLIENTS)
def test_same_flows_through_every_client(world, client, tmp_path):
    fx = cw.Fixture(world, client)
    if client == "boto3":
        report = run_boto3(fx.with_mfa_code())
    elif client == "cli":
        report = run_cli(world.srv, fx.with_mfa_code())
    else:
        fixture = fx.write(tmp_path / "fixture.json")
        out = tmp_path / "report.json"
        env = compat_env(fixture, out)
        cp = run_rust(env, "flows") if client == "rust" else run_js(env, "flows.mjs")
        assert cp.returncode == 0, f"{client} client failed:\n{cp.stdout[-4000:]}\n{cp.stderr[-4000:]}"
        report = json.loads(out.read_text())

    expected = fx.expected_flows()
    assert set(report["flows"]) == set(expected), report["flows"]
    for flow, want in expected.items():
        assert report["flows"][flow] == want, f"{client} {flow}: {report['flows'][flow]} != {want}"
    for flow, (code, typed) in cw.EXPECTED_ERRORS.items():
        want = {"code": code, "typed": code if client == "cli" else typed}
        assert report["errors"][flow] == want, f"{client} {flow}: {report['errors'][flow]} != {want}"
