"""Encoded authorization failures, DecodeAuthorizationMessage, and the authorization API for
resource servers (POST /opensts/authorize, driven through the example service of
crates/opensts-authz-client).

(a) An IAM user with an explicit Deny (Sid VisualEditor0) calls the denied IAM action with the aws
    CLI; another principal with sts:DecodeAuthorizationMessage decodes the message and every field
    is checked against the shape of AWS's documented example. Without the permission:
    AccessDenied. Tampered, or decoded from another account: InvalidAuthorizationMessageException.
(b) The example service, driven by requests signed with botocore's SigV4Auth for the service
    "example": allowed → 200; denied → 403 with an encoded message that decodes to the action and
    resource; bad client credentials → 403 with their code. (True session expiry needs a clock:
    crates/opensts-server/tests/it/authorize_api.rs.)
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import queue
import re
import shutil
import subprocess
import threading
import time
from pathlib import Path

import botocore.auth
import pytest
import requests
from botocore.awsrequest import AWSRequest
from botocore.exceptions import ClientError

from harness import (
    AIDA_RE,
    REPO_ROOT,
    Creds,
    botocore_clock,
    clean_env,
    eventually,
    opensts_bin,
    random_account_id,
    unique,
)

ENCODED_RE = re.compile(r"Encoded authorization failure message: (\S+)$")
SERVICE_POLICY = {"Version": "2012-10-17", "Statement": [
    {"Effect": "Allow", "Action": "opensts:AuthorizeRequest", "Resource": "*"}]}
DECODER_POLICY = {"Version": "2012-10-17", "Statement": [
    {"Effect": "Allow", "Action": "sts:DecodeAuthorizationMessage", "Resource": "*"}]}


def make_user(server, policy: dict | None, prefix: str = "u"):
    u = server.make_user(unique(prefix))
    if policy is not None:
        server.iam().put_user_policy(UserName=u.name, PolicyName="p", PolicyDocument=json.dumps(policy))
    return u


def encoded_from(message: str) -> str:
    m = ENCODED_RE.search(message.strip())
    assert m, f"no 'Encoded authorization failure message: …' at the end of {message!r}"
    return m.group(1)


def decode_cli(server, creds: Creds, encoded: str) -> dict:
    out = server.aws("sts", "decode-authorization-message", "--encoded-message", encoded, creds=creds)
    assert set(out) == {"DecodedMessage"}, out
    assert isinstance(out["DecodedMessage"], str)
    return json.loads(out["DecodedMessage"])


def items(values: list) -> dict:
    return {"items": [{"value": v} for v in values]}


def check_aws_shape(m: dict, *, explicit: bool, principal_id: str, principal_arn: str, action: str,
                    resource: str, statement: dict | None) -> dict:
    """Every field of a decoded message against AWS's documented example (aws sts
    decode-authorization-message); returns the request's condition keys as {key: [values]}."""
    assert set(m) == {"allowed", "explicitDeny", "matchedStatements", "failures", "context"}, m.keys()
    assert m["allowed"] is False
    assert m["explicitDeny"] is explicit
    assert set(m["matchedStatements"]) == {"items"}
    if statement is None:
        assert m["matchedStatements"]["items"] == [] or not explicit
    else:
        assert len(m["matchedStatements"]["items"]) == 1, m["matchedStatements"]
        st = m["matchedStatements"]["items"][0]
        assert set(st) == {"statementId", "effect", "principals", "principalGroups", "actions", "resources",
                           "conditions"}, st.keys()
        assert st == statement, st
    assert m["failures"] == {"items": []}
    ctx = m["context"]
    assert set(ctx) == {"principal", "action", "resource", "conditions"}, ctx.keys()
    assert ctx["principal"] == {"id": principal_id, "arn": principal_arn}
    assert ctx["action"] == action
    assert ctx["resource"] == resource
    assert set(ctx["conditions"]) == {"items"}
    keys: dict[str, list[str]] = {}
    for item in ctx["conditions"]["items"]:
        assert set(item) == {"key", "values"}, item
        assert isinstance(item["key"], str) and item["key"]
        assert set(item["values"]) == {"items"}, item
        vals = []
        for v in item["values"]["items"]:
            assert set(v) == {"value"} and isinstance(v["value"], str), item
            vals.append(v["value"])
        keys[item["key"]] = vals
    return keys


# --------------------------------------------------------------------------------------
# (a) encoded failures and DecodeAuthorizationMessage
# --------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def denied_setup(module_server):
    srv = module_server
    deny = {"Version": "2012-10-17", "Statement": [
        {"Sid": "VisualEditor0", "Effect": "Deny", "Action": "iam:CreateUser", "Resource": "*"},
        {"Effect": "Allow", "Action": "iam:ListUsers", "Resource": "*"}]}
    denied = make_user(srv, deny, "denied")
    decoder = make_user(srv, DECODER_POLICY, "decoder")
    target = unique("target")

    def refused():
        r = srv.aws_error("iam", "create-user", "--user-name", target, creds=denied.creds, code="AccessDenied")
        return r
    r = eventually(refused, timeout=2)
    return srv, denied, decoder, target, r.error_message


def test_denied_iam_action_message_ends_with_encoded_message(denied_setup):
    srv, denied, _, target, message = denied_setup
    assert message.startswith(f"User: {denied.arn} is not authorized to perform: iam:CreateUser on resource: "
                              f"arn:aws:iam::{srv.account_id}:user/{target}"), message
    assert "with an explicit deny in an identity-based policy" in message
    encoded = encoded_from(message)
    assert len(encoded) <= 10240
    # An implicit deny carries one too.
    r = srv.aws_error("iam", "delete-user", "--user-name", target, creds=denied.creds, code="AccessDenied")
    assert "because no identity-based policy allows the iam:DeleteUser action" in r.error_message
    encoded_from(r.error_message)


def test_decode_visual_editor_deny_matches_the_documented_shape(denied_setup):
    srv, denied, decoder, target, message = denied_setup
    m = decode_cli(srv, decoder.creds, encoded_from(message))
    assert AIDA_RE.match(denied.user_id)
    keys = check_aws_shape(
        m, explicit=True, principal_id=denied.user_id, principal_arn=denied.arn, action="iam:CreateUser",
        resource=f"arn:aws:iam::{srv.account_id}:user/{target}",
        statement={
            "statementId": "VisualEditor0",
            "effect": "DENY",
            "principals": items([denied.user_id]),
            "principalGroups": {"items": []},
            "actions": items(["iam:CreateUser"]),
            "resources": items(["*"]),
            "conditions": {"items": []},
        })
    # The request context: who asked, from where.
    assert keys["aws:userid"] == [denied.user_id]
    assert keys["aws:username"] == [denied.name]
    assert keys["aws:PrincipalArn"] == [denied.arn]
    assert keys["aws:PrincipalAccount"] == [srv.account_id]
    assert keys["aws:SourceIp"] == ["127.0.0.1"]
    # The raw JSON text is what the CLI printed: compact, no XML entities left over.
    raw = srv.aws("sts", "decode-authorization-message", "--encoded-message", encoded_from(message),
                  creds=decoder.creds)["DecodedMessage"]
    assert raw.startswith("{") and "&quot;" not in raw


def test_decode_role_session_deny_names_the_role_id(module_server):
    """AWS's example is a role session: principals name the role id, context the session id."""
    srv = module_server
    iam = srv.iam()
    role = unique("Developer")
    trust = {"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{srv.account_id}:root"}, "Action": "sts:AssumeRole"}]}
    role_id = iam.create_role(RoleName=role, AssumeRolePolicyDocument=json.dumps(trust))["Role"]["RoleId"]
    iam.put_role_policy(RoleName=role, PolicyName="p", PolicyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": [
            {"Sid": "VisualEditor0", "Effect": "Deny", "Action": "iam:ListUsers", "Resource": "*"}]}))
    assumer = make_user(srv, {"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": "sts:AssumeRole", "Resource": "*"}]}, "assumer")
    decoder = make_user(srv, DECODER_POLICY, "decoder")

    def assume():
        return srv.sts(assumer.creds).assume_role(RoleArn=f"arn:aws:iam::{srv.account_id}:role/{role}",
                                                   RoleSessionName="Ana")
    out = eventually(lambda: _no_client_error(assume), timeout=2)
    session = Creds.from_sts(out["Credentials"])
    r = srv.aws_error("iam", "list-users", creds=session, code="AccessDenied")
    m = decode_cli(srv, decoder.creds, encoded_from(r.error_message))
    keys = check_aws_shape(
        m, explicit=True, principal_id=f"{role_id}:Ana",
        principal_arn=f"arn:aws:sts::{srv.account_id}:assumed-role/{role}/Ana", action="iam:ListUsers",
        resource=m["context"]["resource"],
        statement={
            "statementId": "VisualEditor0", "effect": "DENY", "principals": items([role_id]),
            "principalGroups": {"items": []}, "actions": items(["iam:ListUsers"]),
            "resources": items(["*"]), "conditions": {"items": []},
        })
    assert role_id.startswith("AROA"), role_id
    assert m["context"]["resource"].startswith(f"arn:aws:iam::{srv.account_id}:"), m["context"]
    assert keys["aws:userid"] == [f"{role_id}:Ana"]
    assert keys["aws:PrincipalArn"] == [f"arn:aws:iam::{srv.account_id}:role/{role}"]


def _no_client_error(fn):
    try:
        return fn()
    except ClientError as e:
        raise AssertionError(str(e)) from None


def test_decode_needs_the_permission(denied_setup):
    srv, _, _, _, message = denied_setup
    nobody = make_user(srv, None, "nobody")
    r = srv.aws_error("sts", "decode-authorization-message", "--encoded-message", encoded_from(message),
                      creds=nobody.creds, code="AccessDenied")
    assert "sts:DecodeAuthorizationMessage" in r.error_message
    encoded_from(r.error_message)


def test_tampered_message_is_invalid(denied_setup):
    srv, _, decoder, _, message = denied_setup
    enc = encoded_from(message)
    i = len(enc) // 2
    tampered = enc[:i] + ("A" if enc[i] != "A" else "B") + enc[i + 1:]
    for bad in (tampered, enc[:-4], "not-a-message", "A" * 100):
        srv.aws_error("sts", "decode-authorization-message", "--encoded-message", bad, creds=decoder.creds,
                      code="InvalidAuthorizationMessageException")
    # The status is 400, like AWS.
    with pytest.raises(ClientError) as ei:
        srv.sts(decoder.creds).decode_authorization_message(EncodedMessage=tampered)
    assert ei.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400


def test_message_of_another_account_is_invalid(denied_setup):
    srv, _, _, _, message = denied_setup
    other = srv.create_account(random_account_id(), name="other")
    other_root = Creds(other["AccessKeyId"], other["SecretAccessKey"])

    def decode_other():
        srv.aws_error("sts", "decode-authorization-message", "--encoded-message", encoded_from(message),
                      creds=other_root, code="InvalidAuthorizationMessageException")
    eventually(decode_other, timeout=3)


# --------------------------------------------------------------------------------------
# (b) the example service protected by the authorization API
# --------------------------------------------------------------------------------------

def _example_from_cargo() -> Path | None:
    cargo = shutil.which("cargo")
    if not cargo:
        return None
    env = dict(os.environ)
    cp = subprocess.run(
        [cargo, "build", "-p", "opensts-authz-client", "--examples", "--message-format=json-render-diagnostics"],
        cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=1800, stdin=subprocess.DEVNULL)
    if cp.returncode != 0:
        raise AssertionError(f"cargo build -p opensts-authz-client --examples failed:\n{cp.stderr[-4000:]}")
    for line in cp.stdout.splitlines():
        with contextlib.suppress(json.JSONDecodeError):
            msg = json.loads(line)
            if msg.get("reason") == "compiler-artifact" and msg.get("target", {}).get("name") == "protected_service":
                exe = msg.get("executable")
                if exe:
                    return Path(exe)
    return None


@pytest.fixture(scope="session")
def protected_service_bin() -> Path:
    """$PROTECTED_SERVICE_BIN, else built with `cargo build -p opensts-authz-client --examples`
    (the target dir cargo uses), else next to the server binary (scripts/test builds all targets)."""
    env = os.environ.get("PROTECTED_SERVICE_BIN")
    if env:
        return Path(env)
    built = _example_from_cargo()
    if built and built.exists():
        return built
    beside = opensts_bin().parent / "examples" / "protected_service"
    if beside.exists():
        return beside
    pytest.fail("protected_service example not found: run `cargo build -p opensts-authz-client --examples` "
                "or set PROTECTED_SERVICE_BIN", pytrace=False)


class ExampleService:
    def __init__(self, bin_path: Path, server, creds: Creds):
        env = clean_env()
        env.update({
            "OPENSTS_ENDPOINT": server.endpoint,
            "OPENSTS_ACCESS_KEY_ID": creds.access_key_id,
            "OPENSTS_SECRET_ACCESS_KEY": creds.secret_access_key,
            "OPENSTS_REGION": server.region,
            "PORT": "0",
        })
        if creds.session_token:
            env["OPENSTS_SESSION_TOKEN"] = creds.session_token
        self.proc = subprocess.Popen([str(bin_path)], env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, text=True)
        lines: queue.Queue = queue.Queue()
        threading.Thread(target=lambda: [lines.put(x) for x in self.proc.stdout], daemon=True).start()
        deadline = time.monotonic() + 30
        self.url = None
        while time.monotonic() < deadline:
            try:
                line = lines.get(timeout=0.5)
            except queue.Empty:
                if self.proc.poll() is not None:
                    break
                continue
            m = re.match(r"^listening on (http://127\.0\.0\.1:\d+)\s*$", line)
            if m:
                self.url = m.group(1)
                break
        if self.url is None:
            self.stop()
            raise AssertionError(f"protected_service did not start: {self.proc.stderr.read()[-2000:]}")

    def stop(self):
        if self.proc.poll() is None:
            self.proc.kill()
        with contextlib.suppress(Exception):
            self.proc.wait(timeout=10)

    def call(self, method: str, key: str, creds: Creds | None, body: bytes = b"",
             when: dt.datetime | None = None, region: str = "us-east-1") -> requests.Response:
        url = f"{self.url}/objects/{key}"
        req = AWSRequest(method=method, url=url, data=body, headers={})
        if creds is not None:
            with botocore_clock(when):
                botocore.auth.SigV4Auth(creds.botocore(), "example", region).add_auth(req)
        p = req.prepare()
        return requests.request(method, p.url, headers=dict(p.headers.items()), data=p.body, timeout=30)


def error_of(resp: requests.Response) -> dict:
    assert resp.headers.get("content-type", "").startswith("application/json"), resp.headers
    body = resp.json()
    assert set(body) == {"error"}, body
    return body["error"]


@pytest.fixture(scope="module")
def example(module_server, protected_service_bin):
    srv = module_server
    svc = make_user(srv, SERVICE_POLICY, "svc")
    reader = make_user(srv, {"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": ["example:GetObject", "example:PutObject"],
         "Resource": "arn:aws:example:::objects/*"}]}, "reader")
    denied = make_user(srv, {"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": "example:PutObject", "Resource": "arn:aws:example:::objects/*"},
        {"Sid": "VisualEditor0", "Effect": "Deny", "Action": "example:GetObject",
         "Resource": "arn:aws:example:::objects/*"}]}, "denied")
    decoder = make_user(srv, DECODER_POLICY, "decoder")
    service = ExampleService(protected_service_bin, srv, svc.creds)
    try:
        # Policies just written are enforced within a second.
        eventually(lambda: _status(service.call("PUT", "ready.txt", reader.creds, b"x"), 200), timeout=3)
        yield srv, service, svc, reader, denied, decoder
    finally:
        service.stop()


def _status(resp: requests.Response, want: int):
    assert resp.status_code == want, f"HTTP {resp.status_code}: {resp.text[:500]}"
    return resp


def test_example_allowed_calls_pass(example):
    srv, service, _, reader, _, _ = example
    r = _status(service.call("PUT", "docs/hello.txt", reader.creds, b"hello world"), 200)
    assert r.json() == {"stored": "docs/hello.txt", "bytes": 11, "principal": reader.arn}
    r = _status(service.call("GET", "docs/hello.txt", reader.creds), 200)
    assert r.content == b"hello world"
    assert r.headers["x-principal-arn"] == reader.arn
    # Temporary credentials of the same user.
    session = srv.session_for(reader.creds, duration=900)
    r = _status(service.call("GET", "docs/hello.txt", session), 200)
    assert r.content == b"hello world"
    # Authorized but absent: the service's own 404.
    assert error_of(_status(service.call("GET", "nothing-here", reader.creds), 404))["code"] == "NoSuchKey"


def test_example_denied_call_is_403_with_a_decodable_message(example):
    srv, service, _, reader, denied, decoder = example
    _status(service.call("PUT", "secret.txt", reader.creds, b"s3cr3t"), 200)
    r = _status(service.call("GET", "secret.txt", denied.creds), 403)
    err = error_of(r)
    assert err["code"] == "AccessDenied"
    assert err["message"].startswith(
        f"User: {denied.arn} is not authorized to perform: example:GetObject on resource: "
        f"arn:aws:example:::objects/secret.txt with an explicit deny"), err["message"]
    assert encoded_from(err["message"]) == err["encodedMessage"]
    m = decode_cli(srv, decoder.creds, err["encodedMessage"])
    keys = check_aws_shape(
        m, explicit=True, principal_id=denied.user_id, principal_arn=denied.arn, action="example:GetObject",
        resource="arn:aws:example:::objects/secret.txt",
        statement={
            "statementId": "VisualEditor0", "effect": "DENY", "principals": items([denied.user_id]),
            "principalGroups": {"items": []}, "actions": items(["example:GetObject"]),
            "resources": items(["arn:aws:example:::objects/*"]), "conditions": {"items": []},
        })
    # The client's facts as the service saw them.
    assert keys["aws:SourceIp"] == ["127.0.0.1"]
    assert keys["aws:RequestedRegion"] == ["us-east-1"]
    assert keys["aws:username"] == [denied.name]

    # Implicit deny: a user without any policy.
    nobody = make_user(srv, None, "nobody")
    err = error_of(_status(service.call("PUT", "x.txt", nobody.creds, b"x"), 403))
    assert err["code"] == "AccessDenied"
    m = decode_cli(srv, decoder.creds, err["encodedMessage"])
    assert m["allowed"] is False and m["explicitDeny"] is False
    assert m["context"]["action"] == "example:PutObject"
    assert m["context"]["resource"] == "arn:aws:example:::objects/x.txt"
    assert m["context"]["principal"] == {"id": nobody.user_id, "arn": nobody.arn}


def test_example_refuses_bad_client_credentials(example):
    srv, service, _, reader, _, _ = example
    session = srv.session_for(reader.creds, duration=900)
    _status(service.call("GET", "ready.txt", session), 200)
    # A tampered session token.
    tok = session.session_token
    bad = session.replace(session_token=tok[:20] + ("A" if tok[20] != "A" else "B") + tok[21:])
    assert error_of(_status(service.call("GET", "ready.txt", bad), 403))["code"] == "InvalidClientTokenId"
    # A wrong secret.
    wrong = reader.creds.replace(secret_access_key="x" * 40)
    assert error_of(_status(service.call("GET", "ready.txt", wrong), 403))["code"] == "SignatureDoesNotMatch"
    # An unknown access key.
    ghost = Creds("AKIA" + "Q" * 16, "x" * 40)
    assert error_of(_status(service.call("GET", "ready.txt", ghost), 403))["code"] == "InvalidClientTokenId"
    # A signature from 20 minutes ago.
    old = dt.datetime.now(dt.timezone.utc) - dt.timedelta(minutes=20)
    err = error_of(_status(service.call("GET", "ready.txt", reader.creds, when=old), 403))
    assert err["code"] == "SignatureDoesNotMatch" and err["message"].startswith("Signature expired"), err
    # Not signed at all.
    err = error_of(_status(service.call("GET", "ready.txt", None), 403))
    assert err["code"] == "MissingAuthenticationToken"
    # A body swapped under the signature.
    req = AWSRequest(method="PUT", url=f"{service.url}/objects/swap.txt", data=b"original", headers={})
    botocore.auth.SigV4Auth(reader.creds.botocore(), "example", "us-east-1").add_auth(req)
    p = req.prepare()
    r = requests.put(p.url, headers=dict(p.headers.items()), data=b"tampered", timeout=30)
    assert error_of(_status(r, 403))["code"] == "SignatureDoesNotMatch"
    # Deleted access key.
    user = make_user(srv, {"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": "example:*", "Resource": "*"}]}, "gone")
    eventually(lambda: _status(service.call("GET", "ready.txt", user.creds), 200), timeout=3)
    srv.iam().delete_access_key(UserName=user.name, AccessKeyId=user.creds.access_key_id)
    eventually(lambda: _status(service.call("GET", "ready.txt", user.creds), 403), timeout=3)


def test_authorize_api_needs_the_resource_servers_permission(example):
    """Direct calls to POST /opensts/authorize: signed for `opensts` by a principal allowed
    opensts:AuthorizeRequest; anyone else gets AWS-style JSON errors."""
    srv, _, svc, reader, _, _ = example
    client_req = AWSRequest(method="GET", url="http://svc.test/objects/a", data=b"", headers={})
    botocore.auth.SigV4Auth(reader.creds.botocore(), "example", "us-east-1").add_auth(client_req)
    question = json.dumps({
        "request": {"method": "GET", "path": "/objects/a", "query": "",
                    "headers": [[k, v] for k, v in client_req.headers.items()] + [["host", "svc.test"]],
                    "body_sha256": "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"},
        "service": "example", "action": "example:GetObject", "resource": "arn:aws:example:::objects/a"})

    def call(creds: Creds | None, service: str = "opensts") -> requests.Response:
        req = AWSRequest(method="POST", url=f"{srv.endpoint}/opensts/authorize", data=question.encode(),
                         headers={"Content-Type": "application/json"})
        if creds is not None:
            botocore.auth.SigV4Auth(creds.botocore(), service, srv.region).add_auth(req)
        p = req.prepare()
        return requests.post(p.url, headers=dict(p.headers.items()), data=p.body, timeout=30)

    ok = _status(call(svc.creds), 200).json()
    assert ok["allowed"] is True
    assert ok["principal"] == {"arn": reader.arn, "id": reader.user_id, "type": "User"}
    assert ok["account"] == srv.account_id
    assert _status(call(srv.root), 200).json()["allowed"] is True

    nobody = make_user(srv, None, "nobody")
    r = _status(call(nobody.creds), 403)
    assert r.json()["error"]["code"] == "AccessDenied"
    encoded_from(r.json()["error"]["message"])
    assert r.headers["x-amzn-RequestId"] == r.json()["requestId"]
    assert _status(call(None), 403).json()["error"]["code"] == "MissingAuthenticationToken"
    assert _status(call(svc.creds, service="sts"), 403).json()["error"]["code"] == "SignatureDoesNotMatch"
    assert requests.get(f"{srv.endpoint}/opensts/authorize", timeout=30).status_code == 405
