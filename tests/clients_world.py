"""The world the client compatibility suites run in (tests/test_clients_*.py).

One OpenSTS server in account 123456789012 that trusts a loopback HTTPS OpenID Connect issuer
(test_web_identity.OidcIssuer) and a SAML IdP (test_saml.Idp), the roles every client assumes,
and a second server whose per-account rate is so low that every call after the first is
throttled. `Fixture` makes, per client run, a fresh IAM user with an access key and an enabled
virtual MFA device (a TOTP code is accepted once per device, so clients do not share devices)
and the tokens/assertions that client will present; `Fixture.data` is the JSON every non-Python
client (tests/js, crates/opensts-compat) reads from the file named by OPENSTS_COMPAT_FIXTURE.

Every client reports what it observed as JSON of the same shape (see `expected_flows`), and the
Python side asserts the same identities (ARNs) and typed errors for every client.
"""

from __future__ import annotations

import datetime as dt
import json
import time
from pathlib import Path

import boto3
import botocore
import botocore.config
import pytest

import test_saml as saml
import test_web_identity as webid
from harness import OpenSTSServer, unique, utcnow
from test_sts_assume_role import totp, wait_for_fresh_step

ACCOUNT = "123456789012"
ASSUME_ROLE = "CompatRole"
DENIED_ROLE = "CompatDeniedRole"
WEB_ROLE = "CompatWebRole"
SAML_ROLE = "CompatSamlRole"
CHAIN_ROLE = "CompatChainRole"
CHAIN_ROLE_2 = "CompatChainRole2"
MFA_ROLE = "CompatMfaRole"
EXTERNAL_ID = "compat-external-id"
TAG = {"Key": "team", "Value": "compat"}
# Session policy: only iam:ListRoles; the role itself also grants iam:ListUsers, so ListUsers
# with the session's credentials is AccessDenied exactly when the session policy is applied.
SESSION_POLICY = json.dumps({"Version": "2012-10-17", "Statement": [
    {"Effect": "Allow", "Action": ["iam:ListRoles"], "Resource": "*"}]})
# The role grants iam:ListRoles only to sessions tagged team=compat: ListRoles succeeding proves
# the session tag arrived.
ROLE_PERMISSIONS = json.dumps({"Version": "2012-10-17", "Statement": [
    {"Effect": "Allow", "Action": "iam:ListRoles", "Resource": "*",
     "Condition": {"StringEquals": {"aws:PrincipalTag/team": "compat"}}},
    {"Effect": "Allow", "Action": "iam:ListUsers", "Resource": "*"}]})
USER_POLICY = json.dumps({"Version": "2012-10-17", "Statement": [
    {"Effect": "Allow", "Action": ["sts:*", "iam:GetUser"], "Resource": "*"}]})
# Seconds until the IdP ends the session made to be expired (SAML SessionNotOnOrAfter).
EXPIRED_SESSION_SECS = 2
# A throttled server: one token per 1000 s, a bucket of one.
THROTTLE_ARGS = ["--rate-per-account", "0.001", "--burst-per-account", "1"]


def account_trust(actions=("sts:AssumeRole", "sts:TagSession"), condition: dict | None = None) -> str:
    stmt = {"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:root"}, "Action": list(actions)}
    if condition:
        stmt["Condition"] = condition
    return json.dumps({"Version": "2012-10-17", "Statement": [stmt]})


def role_arn(name: str) -> str:
    return f"arn:aws:iam::{ACCOUNT}:role/{name}"


def assumed_arn(role: str, session: str) -> str:
    return f"arn:aws:sts::{ACCOUNT}:assumed-role/{role}/{session}"


class World:
    def __init__(self, srv: OpenSTSServer, throttled: OpenSTSServer, issuer, idp, tmp: Path):
        self.srv, self.throttled, self.issuer, self.idp, self.tmp = srv, throttled, issuer, idp, tmp
        iam = srv.iam()
        webid.register(srv, issuer)
        srv.aws("iam", "create-saml-provider", "--saml-metadata-document", idp.metadata(),
                "--name", saml.PROVIDER_NAME)
        roles = {
            ASSUME_ROLE: account_trust(),
            DENIED_ROLE: json.dumps({"Version": "2012-10-17", "Statement": [{
                "Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::111111111111:root"},
                "Action": "sts:AssumeRole"}]}),
            WEB_ROLE: webid.trust_policy(issuer),
            SAML_ROLE: json.dumps({"Version": "2012-10-17", "Statement": [{
                "Effect": "Allow", "Principal": {"Federated": saml.PROVIDER_ARN},
                "Action": "sts:AssumeRoleWithSAML"}]}),
            CHAIN_ROLE: account_trust(("sts:AssumeRole",), {"StringEquals": {"sts:ExternalId": EXTERNAL_ID}}),
            CHAIN_ROLE_2: json.dumps({"Version": "2012-10-17", "Statement": [{
                "Effect": "Allow", "Principal": {"AWS": role_arn(CHAIN_ROLE)}, "Action": "sts:AssumeRole"}]}),
            MFA_ROLE: account_trust(("sts:AssumeRole",), {"Bool": {"aws:MultiFactorAuthPresent": "true"}}),
        }
        for name, trust in roles.items():
            iam.create_role(RoleName=name, AssumeRolePolicyDocument=trust, MaxSessionDuration=3600)
        iam.put_role_policy(RoleName=ASSUME_ROLE, PolicyName="p", PolicyDocument=ROLE_PERMISSIONS)
        # the first role of the chain may assume the second
        iam.put_role_policy(RoleName=CHAIN_ROLE, PolicyName="p", PolicyDocument=json.dumps({
            "Version": "2012-10-17", "Statement": [
                {"Effect": "Allow", "Action": "sts:AssumeRole", "Resource": role_arn(CHAIN_ROLE_2)}]}))
        # an encoded authorization message: a user without IAM permissions calls CreateUser
        nobody = srv.make_user(unique("compat-denied"))
        r = srv.aws_error("iam", "create-user", "--user-name", unique("x"), creds=nobody.creds, code="AccessDenied")
        message = r.error_message or ""
        marker = "Encoded authorization failure message: "
        assert marker in message, message
        self.encoded_message = message.split(marker, 1)[1].strip()
        self.denied_user_arn = nobody.arn
        # a session that has already expired: the IdP's SessionNotOnOrAfter ends it two seconds
        # from now (AWS and OpenSTS end a SAML session there, whatever DurationSeconds says)
        end = utcnow() + dt.timedelta(seconds=EXPIRED_SESSION_SECS)
        anon = boto3.client("sts", endpoint_url=srv.endpoint, region_name=srv.region,
                            config=botocore.config.Config(signature_version=botocore.UNSIGNED))
        short = anon.assume_role_with_saml(
            RoleArn=role_arn(SAML_ROLE), PrincipalArn=saml.PROVIDER_ARN,
            SAMLAssertion=saml.signed_response(idp, session_not_on_or_after=end, attributes=saml.default_attributes(
                session_name="expired", role_value=f"{role_arn(SAML_ROLE)},{saml.PROVIDER_ARN}")))["Credentials"]
        self.expired_session = {"access_key_id": short["AccessKeyId"], "secret_access_key": short["SecretAccessKey"],
                                "session_token": short["SessionToken"]}
        time.sleep(max(0.0, (short["Expiration"] - utcnow()).total_seconds()) + 1.5)
        # exhaust the throttled server's bucket
        throttled.sts().get_caller_identity()

    def user(self, prefix: str):
        """A fresh user (sts:* and iam:GetUser) with an access key."""
        u = self.srv.make_user(unique(prefix))
        self.srv.iam().put_user_policy(UserName=u.name, PolicyName="p", PolicyDocument=USER_POLICY)
        return u

    def mfa_user(self, prefix: str):
        """A fresh user with an enabled virtual MFA device: (user, serial, seed)."""
        u = self.user(prefix)
        serial, seed, _ = create_mfa_device(self.srv, u.name)
        return u, serial, seed


def create_mfa_device(srv: OpenSTSServer, user_name: str):
    from test_sts_assume_role import create_mfa
    return create_mfa(srv, user_name, unique("mfa"))


def fresh_code(seed: str) -> str:
    """The TOTP code of the current step, taken well inside the step."""
    return totp(seed, wait_for_fresh_step(12.0))


class Fixture:
    """Everything one client run needs; `data` is what it reads (JSON)."""

    def __init__(self, world: World, client: str):
        self.world = world
        self.client = client
        srv = world.srv
        self.user = world.user(f"compat-{client}")
        self.mfa_user, self.mfa_serial, self.mfa_seed = world.mfa_user(f"compat-{client}-mfa")
        self.session = f"{client}-session"
        issuer = world.issuer
        now = int(time.time())
        self.web_sub = f"system:serviceaccount:compat:{client}"
        self.data = {
            "client": client,
            "endpoint": srv.endpoint,
            "region": srv.region,
            "account": ACCOUNT,
            "user": {"access_key_id": self.user.creds.access_key_id,
                     "secret_access_key": self.user.creds.secret_access_key, "arn": self.user.arn},
            "mfa_user": {"access_key_id": self.mfa_user.creds.access_key_id,
                         "secret_access_key": self.mfa_user.creds.secret_access_key,
                         "arn": self.mfa_user.arn, "serial": self.mfa_serial},
            "assume_role": {"role_arn": role_arn(ASSUME_ROLE), "session_name": self.session,
                            "tags": [TAG], "policy": SESSION_POLICY, "duration_seconds": 900},
            "denied_role_arn": role_arn(DENIED_ROLE),
            "web_identity": {
                "role_arn": role_arn(WEB_ROLE), "session_name": f"{client}-web",
                "token": issuer.token(sub=self.web_sub),
                "expired_token": issuer.token(sub=self.web_sub, iat=now - 3600, nbf=now - 3600, exp=now - 600),
                "invalid_token": issuer.token(sub=self.web_sub)[:-8] + "AAAAAAAA",
            },
            "saml": {
                "role_arn": role_arn(SAML_ROLE), "principal_arn": saml.PROVIDER_ARN,
                "assertion": saml.signed_response(world.idp, attributes=saml.default_attributes(
                    session_name=f"{client}-saml", role_value=f"{role_arn(SAML_ROLE)},{saml.PROVIDER_ARN}")),
            },
            "encoded_message": world.encoded_message,
            "expired_session": world.expired_session,
            "throttled": {"endpoint": world.throttled.endpoint,
                          "access_key_id": world.throttled.root.access_key_id,
                          "secret_access_key": world.throttled.root.secret_access_key},
        }

    def with_mfa_code(self) -> dict:
        """`data` with a fresh MFA code (taken just before the client runs)."""
        return {**self.data, "mfa_user": {**self.data["mfa_user"], "code": fresh_code(self.mfa_seed)}}

    def write(self, path: Path) -> Path:
        path.write_text(json.dumps(self.with_mfa_code()))
        return path

    def expected_flows(self) -> dict:
        """What every client must report, flow by flow."""
        w = self.world
        return {
            "get_caller_identity": {"Arn": self.user.arn, "Account": ACCOUNT, "UserId": self.user.user_id},
            "assume_role": {"Arn": assumed_arn(ASSUME_ROLE, self.session),
                            "whoami": assumed_arn(ASSUME_ROLE, self.session),
                            "list_roles": "ok", "list_users": "AccessDenied"},
            "get_session_token_mfa": {"whoami": self.mfa_user.arn},
            "web_identity": {"Arn": assumed_arn(WEB_ROLE, f"{self.client}-web"),
                             "SubjectFromWebIdentityToken": self.web_sub,
                             "whoami": assumed_arn(WEB_ROLE, f"{self.client}-web")},
            "saml": {"Arn": assumed_arn(SAML_ROLE, f"{self.client}-saml"), "Subject": saml.NAME_ID,
                     "whoami": assumed_arn(SAML_ROLE, f"{self.client}-saml")},
            "decode": {"action": "iam:CreateUser", "principal_arn": w.denied_user_arn},
            "iam_get_user": {"Arn": self.user.arn},
        }


def decoded_summary(decoded_message: str) -> dict:
    """The parts of a DecodedMessage every client reports (action and principal ARN)."""
    m = json.loads(decoded_message)
    ctx = m["context"]
    return {"action": ctx["action"], "principal_arn": ctx["principal"]["arn"]}


# The error each client must surface, per error flow (expired_token: an expired web identity
# token; expired_session: a call signed with a session that has expired): (the error code on the wire, the typed
# error). The typed error is the modeled exception class for errors the STS model declares
# (ExpiredTokenException; InvalidIdentityTokenException, whose awsQuery code is
# InvalidIdentityToken); AccessDenied, ExpiredToken, ValidationError and Throttling are not
# modeled by STS, so every SDK surfaces its generic service error carrying that code (reported
# as the code). The aws CLI has no exception classes: it reports the wire code for both.
EXPECTED_ERRORS = {
    "access_denied": ("AccessDenied", "AccessDenied"),
    "expired_token": ("ExpiredTokenException", "ExpiredTokenException"),
    "expired_session": ("ExpiredToken", "ExpiredToken"),
    "invalid_identity_token": ("InvalidIdentityToken", "InvalidIdentityTokenException"),
    "validation": ("ValidationError", "ValidationError"),
    "throttling": ("Throttling", "Throttling"),
}
MODELED = {"ExpiredTokenException", "InvalidIdentityTokenException"}


# --------------------------------------------------------------------------------------
# module fixtures (imported by the test_clients_* modules)
# --------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def ca(tmp_path_factory):
    return webid.TestCA(tmp_path_factory.mktemp("compat-ca"))


@pytest.fixture(scope="module")
def world(tmp_path_factory, opensts_bin_path, ca):
    issuer = webid.OidcIssuer(ca)
    base = tmp_path_factory.mktemp("compat")
    srv = OpenSTSServer(data_dir=base / "data", work_dir=base / "work", account_id=ACCOUNT,
                        env={"OPENSTS_CA_FILE": str(ca.ca_file)}, bin_path=opensts_bin_path, name="compat")
    throttled = OpenSTSServer(data_dir=base / "tdata", work_dir=base / "twork", args=THROTTLE_ARGS,
                              bin_path=opensts_bin_path, name="compat-throttled")
    try:
        srv.start()
        throttled.start()
        yield World(srv, throttled, issuer, saml.Idp(), base)
    finally:
        srv.stop(timeout=10)
        throttled.stop(timeout=10)
        issuer.close()
