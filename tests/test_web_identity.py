"""AssumeRoleWithWebIdentity end to end, against a real HTTPS OpenID Connect issuer on loopback.

The issuer (`OidcIssuer`) is Python's http.server behind ssl in a thread, with its own CA and a
leaf certificate for localhost/127.0.0.1 made with `cryptography` at test time; OpenSTS trusts
that CA only through `--ca-file`. It serves /.well-known/openid-configuration and a JWKS whose
keys (RSA, RSA-PSS, P-256, P-384, Ed25519) and tokens are made with PyJWT. The role is assumed
with the real aws CLI (the documented command, verbatim), boto3, and boto3's own credential
chain (AWS_ROLE_ARN + AWS_WEB_IDENTITY_TOKEN_FILE only).

The issuer listens on a free port, so its URL (and the IAM OIDC provider's) is
`https://localhost:PORT`.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import http.server
import ipaddress
import json
import re
import socket
import ssl
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import botocore.exceptions
import jwt
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from harness import (
    ASIA_RE,
    SECRET_RE,
    STS_VERSION,
    Creds,
    OpenSTSServer,
    assert_client_error,
    clean_env,
    parse_expiration,
    parse_xml,
    utcnow,
)

ACCOUNT = "123456789012"
ROLE_NAME = "FederatedWebIdentityRole"
ROLE_ARN = f"arn:aws:iam::{ACCOUNT}:role/{ROLE_NAME}"
CLIENT_ID = "sts.amazonaws.com"
OTHER_CLIENT_ID = "my-web-app"
TAGS_CLAIM = "https://aws.amazon.com/tags"
SOURCE_IDENTITY_CLAIM = "https://aws.amazon.com/source_identity"

# The aws CLI with these "credentials" runs with none at all: botocore's environment provider
# ignores empty values, the config files are empty and IMDS is disabled.
NO_CREDS = Creds("", "")


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


# --------------------------------------------------------------------------------------
# a private CA and the HTTPS OpenID Connect issuer
# --------------------------------------------------------------------------------------

class TestCA:
    """A CA and a leaf certificate for localhost / 127.0.0.1 signed by it (webpki-acceptable)."""

    __test__ = False

    def __init__(self, directory: Path):
        now = utcnow()
        self.key = ec.generate_private_key(ec.SECP256R1())
        ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"OpenSTS test CA {uuid.uuid4().hex[:8]}")])
        ski = x509.SubjectKeyIdentifier.from_public_key(self.key.public_key())
        self.cert = (
            x509.CertificateBuilder()
            .subject_name(ca_name).issuer_name(ca_name)
            .public_key(self.key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(hours=1))
            .not_valid_after(now + dt.timedelta(days=2))
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True,
                                         content_commitment=False, key_encipherment=False,
                                         data_encipherment=False, key_agreement=False,
                                         encipher_only=False, decipher_only=False), critical=True)
            .add_extension(ski, critical=False)
            .sign(self.key, hashes.SHA256())
        )
        self.leaf_key = ec.generate_private_key(ec.SECP256R1())
        self.leaf = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")]))
            .issuer_name(ca_name)
            .public_key(self.leaf_key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(hours=1))
            .not_valid_after(now + dt.timedelta(days=1))
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.SubjectAlternativeName([
                x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
            .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=False, crl_sign=False,
                                         content_commitment=False, key_encipherment=False,
                                         data_encipherment=False, key_agreement=False,
                                         encipher_only=False, decipher_only=False), critical=True)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ski), critical=False)
            .sign(self.key, hashes.SHA256())
        )
        directory.mkdir(parents=True, exist_ok=True)
        self.ca_file = directory / "ca.pem"
        self.ca_file.write_bytes(self.cert.public_bytes(serialization.Encoding.PEM))
        self.chain_file = directory / "leaf-chain.pem"
        self.chain_file.write_bytes(self.leaf.public_bytes(serialization.Encoding.PEM)
                                    + self.cert.public_bytes(serialization.Encoding.PEM))
        self.key_file = directory / "leaf-key.pem"
        self.key_file.write_bytes(self.leaf_key.private_bytes(serialization.Encoding.PEM,
                                                              serialization.PrivateFormat.PKCS8,
                                                              serialization.NoEncryption()))
        self.key_file.chmod(0o600)


class SigningKey:
    def __init__(self, alg: str):
        self.alg = alg
        self.kid = f"{alg.lower()}-{uuid.uuid4().hex[:12]}"
        if alg.startswith(("RS", "PS")):
            self.private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
            jwk = jwt.algorithms.RSAAlgorithm.to_jwk(self.private.public_key(), as_dict=True)
        elif alg == "ES256":
            self.private = ec.generate_private_key(ec.SECP256R1())
            jwk = jwt.algorithms.ECAlgorithm.to_jwk(self.private.public_key(), as_dict=True)
        elif alg == "ES384":
            self.private = ec.generate_private_key(ec.SECP384R1())
            jwk = jwt.algorithms.ECAlgorithm.to_jwk(self.private.public_key(), as_dict=True)
        elif alg == "EdDSA":
            self.private = ed25519.Ed25519PrivateKey.generate()
            jwk = jwt.algorithms.OKPAlgorithm.to_jwk(self.private.public_key(), as_dict=True)
        else:
            raise ValueError(alg)
        jwk.update({"kid": self.kid, "use": "sig", "alg": alg})
        self.jwk = jwk
        self.public_pem = self.private.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)


class OidcIssuer:
    """An HTTPS OpenID Connect issuer on 127.0.0.1:<free port>, reachable as https://localhost:PORT."""

    def __init__(self, ca: TestCA, algs=("RS256",)):
        self.ca = ca
        self.keys: dict[str, SigningKey] = {}
        self.published: list[str] = []
        self.hits: dict[str, int] = {}
        self.lock = threading.Lock()
        issuer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args):  # quiet
                pass

            def do_GET(self):
                with issuer.lock:
                    issuer.hits[self.path] = issuer.hits.get(self.path, 0) + 1
                    jwks = {"keys": [issuer.keys[k].jwk for k in issuer.published]}
                if self.path == "/.well-known/openid-configuration":
                    body = {
                        "issuer": issuer.url,
                        "jwks_uri": issuer.url + "/keys",
                        "response_types_supported": ["id_token"],
                        "subject_types_supported": ["public"],
                        "id_token_signing_alg_values_supported": ["RS256", "PS256", "ES256", "ES384", "EdDSA"],
                    }
                elif self.path == "/keys":
                    body = jwks
                else:
                    self.send_error(404)
                    return
                data = json.dumps(body).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(certfile=str(ca.chain_file), keyfile=str(ca.key_file))
        self.httpd.socket = ctx.wrap_socket(self.httpd.socket, server_side=True)
        self.port = self.httpd.server_address[1]
        self.url = f"https://localhost:{self.port}"
        self.host = f"localhost:{self.port}"  # the IAM provider's Url without https:// (and condition-key prefix)
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()
        # Every key is published before the first fetch, so no test waits for a refetch.
        self.alg_keys = {alg: self.add_key(alg) for alg in algs}
        self.key = self.alg_keys[algs[0]]

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()

    def add_key(self, alg: str, publish: bool = True) -> SigningKey:
        k = SigningKey(alg)
        with self.lock:
            self.keys[k.kid] = k
            if publish:
                self.published.append(k.kid)
        return k

    def retire(self, kid: str):
        with self.lock:
            self.published.remove(kid)

    def jwks_hits(self) -> int:
        with self.lock:
            return self.hits.get("/keys", 0)

    def claims(self, **overrides) -> dict:
        now = int(time.time())
        c = {"iss": self.url, "sub": "system:serviceaccount:default:app1", "aud": CLIENT_ID,
             "iat": now, "nbf": now, "exp": now + 600}
        for k, v in overrides.items():
            if v is None:
                c.pop(k, None)
            else:
                c[k] = v
        return c

    def token(self, key: SigningKey | None = None, *, headers: dict | None = None, **claims) -> str:
        key = key or self.key
        h = {"kid": key.kid}
        h.update(headers or {})
        return jwt.encode(self.claims(**claims), key.private, algorithm=key.alg, headers=h)

    def provider_arn(self) -> str:
        return f"arn:aws:iam::{ACCOUNT}:oidc-provider/{self.host}"


def trust_policy(issuer: OidcIssuer, actions=("sts:AssumeRoleWithWebIdentity",), condition: dict | None = None) -> str:
    stmt = {"Effect": "Allow", "Principal": {"Federated": issuer.provider_arn()}, "Action": list(actions)}
    if condition is not None:
        stmt["Condition"] = condition
    return json.dumps({"Version": "2012-10-17", "Statement": [stmt]})


def register(srv: OpenSTSServer, issuer: OidcIssuer, client_ids=(CLIENT_ID, OTHER_CLIENT_ID)) -> str:
    r = srv.aws_run("iam", "create-open-id-connect-provider", "--url", issuer.url, "--client-id-list", *client_ids)
    assert r.returncode == 0, (
        "CreateOpenIDConnectProvider must accept the loopback test issuer's URL with an explicit port "
        f"({issuer.url}):\n{r.describe()}")
    out = r.json
    assert out["OpenIDConnectProviderArn"] == issuer.provider_arn(), out
    return out["OpenIDConnectProviderArn"]


def make_role(srv: OpenSTSServer, name: str, policy: str, max_session: int = 43200) -> dict:
    return srv.aws("iam", "create-role", "--role-name", name, "--assume-role-policy-document", policy,
                   "--max-session-duration", str(max_session))["Role"]


# --------------------------------------------------------------------------------------
# fixtures
# --------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def ca(tmp_path_factory) -> TestCA:
    return TestCA(tmp_path_factory.mktemp("oidc-ca"))


@pytest.fixture(scope="module")
def issuer(ca):
    i = OidcIssuer(ca, algs=("RS256", "RS512", "PS256", "ES256", "ES384", "EdDSA"))
    try:
        yield i
    finally:
        i.close()


@pytest.fixture(scope="module")
def module_server(tmp_path_factory, opensts_bin_path, ca):
    """Account 123456789012 (the documented ARNs are literal); the issuer's CA via OPENSTS_CA_FILE."""
    base = tmp_path_factory.mktemp("webid")
    srv = OpenSTSServer(data_dir=base / "data", work_dir=base / "work", account_id=ACCOUNT,
                        env={"OPENSTS_CA_FILE": str(ca.ca_file)}, bin_path=opensts_bin_path, name="webid")
    srv.start()
    try:
        yield srv
    finally:
        srv.stop(timeout=10)


@pytest.fixture(scope="module")
def oidc(module_server, issuer):
    """The IAM OIDC provider for `issuer` and the FederatedWebIdentityRole trusting it."""
    srv = module_server
    register(srv, issuer)
    role = make_role(srv, ROLE_NAME, trust_policy(
        issuer, ("sts:AssumeRoleWithWebIdentity", "sts:TagSession", "sts:SetSourceIdentity"),
        {"StringEquals": {f"{issuer.host}:aud": CLIENT_ID}}))
    srv.role_id = role["RoleId"]
    return srv


def assume_cli(srv: OpenSTSServer, token: str, *extra: str, role_arn: str = ROLE_ARN, session: str = "app1"):
    return srv.aws_run("sts", "assume-role-with-web-identity", "--role-session-name", session,
                       "--role-arn", role_arn, "--web-identity-token", token, *extra, creds=NO_CREDS)


def assume_raw(srv: OpenSTSServer, token: str, role_arn: str = ROLE_ARN, session: str = "app1", **extra):
    return srv.unsigned_request({"Action": "AssumeRoleWithWebIdentity", "Version": STS_VERSION,
                                 "RoleArn": role_arn, "RoleSessionName": session,
                                 "WebIdentityToken": token, **extra})


def refused(srv: OpenSTSServer, token: str, code: str, message_part: str, **kw):
    resp = assume_raw(srv, token, **kw)
    assert resp.status_code < 500, f"HTTP {resp.status_code}: {resp.content[:800]!r}"
    err = assert_client_error(resp)
    assert (err.code, err.status) == (code, 400), f"expected {code}/400, got {err.code}/{err.status}: {err.message!r}"
    assert message_part.lower() in (err.message or "").lower(), f"message {err.message!r} lacks {message_part!r}"
    return err


# --------------------------------------------------------------------------------------
# success
# --------------------------------------------------------------------------------------

def test_documented_cli_command(oidc, issuer):
    srv = oidc
    token = issuer.token()
    before = utcnow()
    r = srv.aws_run("sts", "assume-role-with-web-identity", "--duration-seconds", "3600",
                    "--role-session-name", "app1",
                    "--policy-arns", "arn=arn:aws:iam::aws:policy/AmazonS3ReadOnlyAccess",
                    "--role-arn", "arn:aws:iam::123456789012:role/FederatedWebIdentityRole",
                    "--web-identity-token", token, creds=NO_CREDS)
    after = utcnow()
    assert r.returncode == 0, r.describe()
    out = r.json
    c = out["Credentials"]
    assert ASIA_RE.match(c["AccessKeyId"]) and SECRET_RE.match(c["SecretAccessKey"]) and c["SessionToken"]
    exp = parse_expiration(c["Expiration"])
    # 3600 s even though the token itself expires in 10 minutes
    assert before + dt.timedelta(seconds=3595) <= exp <= after + dt.timedelta(seconds=3605), c["Expiration"]
    assert out["SubjectFromWebIdentityToken"] == "system:serviceaccount:default:app1"
    assert out["Audience"] == CLIENT_ID
    assert out["Provider"] == issuer.provider_arn()
    assert out["AssumedRoleUser"] == {
        "AssumedRoleId": f"{srv.role_id}:app1",
        "Arn": f"arn:aws:sts::{ACCOUNT}:assumed-role/{ROLE_NAME}/app1",
    }
    assert isinstance(out["PackedPolicySize"], int) and out["PackedPolicySize"] > 0
    assert "SourceIdentity" not in out
    ident = srv.aws("sts", "get-caller-identity", creds=Creds.from_sts(c))
    assert ident == {"UserId": f"{srv.role_id}:app1", "Account": ACCOUNT,
                     "Arn": f"arn:aws:sts::{ACCOUNT}:assumed-role/{ROLE_NAME}/app1"}


def test_boto3_credential_chain_from_token_file(oidc, issuer, tmp_path):
    """boto3 finds AWS_ROLE_ARN + AWS_WEB_IDENTITY_TOKEN_FILE by itself (plus AWS_ENDPOINT_URL and the
    region); no access keys in the environment or in (empty) config files."""
    srv = oidc
    token_file = tmp_path / "token"
    token_file.write_text(issuer.token(sub="system:serviceaccount:prod:worker"))
    (tmp_path / "empty").write_text("")
    env = clean_env()
    env.update({
        "AWS_ROLE_ARN": ROLE_ARN,
        "AWS_WEB_IDENTITY_TOKEN_FILE": str(token_file),
        "AWS_ENDPOINT_URL": srv.endpoint,
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_CONFIG_FILE": str(tmp_path / "empty"),
        "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "empty"),
        "AWS_EC2_METADATA_DISABLED": "true",
        "HOME": str(tmp_path),
    })
    script = (
        "import boto3, json\n"
        "s = boto3.session.Session()\n"
        "ident = s.client('sts').get_caller_identity()\n"
        "creds = s.get_credentials()\n"
        "print(json.dumps({'Arn': ident['Arn'], 'Account': ident['Account'], 'UserId': ident['UserId'],\n"
        "                  'method': creds.method, 'key': creds.get_frozen_credentials().access_key}))\n"
    )
    cp = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=120)
    assert cp.returncode == 0, f"stdout: {cp.stdout}\nstderr: {cp.stderr}"
    out = json.loads(cp.stdout)
    assert out["method"] == "assume-role-with-web-identity", out
    assert ASIA_RE.match(out["key"]), out
    # botocore names the session itself when AWS_ROLE_SESSION_NAME is not set
    m = re.fullmatch(rf"arn:aws:sts::{ACCOUNT}:assumed-role/{ROLE_NAME}/(botocore-session-\d+)", out["Arn"])
    assert m, out
    assert out["Account"] == ACCOUNT
    assert out["UserId"] == f"{srv.role_id}:{m.group(1)}"


def test_boto3_and_signed_request(oidc, issuer):
    srv = oidc
    out = srv.sts().assume_role_with_web_identity(RoleArn=ROLE_ARN, RoleSessionName="b3",
                                                  WebIdentityToken=issuer.token(), DurationSeconds=900)
    assert out["Audience"] == CLIENT_ID
    assert out["SubjectFromWebIdentityToken"] == "system:serviceaccount:default:app1"
    assert out["AssumedRoleUser"]["Arn"] == f"arn:aws:sts::{ACCOUNT}:assumed-role/{ROLE_NAME}/b3"
    # the trust policy requires aud = sts.amazonaws.com: another registered client id is denied
    with pytest.raises(botocore.exceptions.ClientError) as ei:
        srv.sts().assume_role_with_web_identity(RoleArn=ROLE_ARN, RoleSessionName="b3",
                                                WebIdentityToken=issuer.token(aud=OTHER_CLIENT_ID))
    assert ei.value.response["Error"]["Code"] == "AccessDenied"
    exp = out["Credentials"]["Expiration"]
    remaining = (exp - utcnow()).total_seconds()
    assert 880 <= remaining <= 905, remaining
    # a SigV4-signed request is accepted as well
    resp = srv.signed_request({"Action": "AssumeRoleWithWebIdentity", "Version": STS_VERSION,
                               "RoleArn": ROLE_ARN, "RoleSessionName": "signed",
                               "WebIdentityToken": issuer.token()})
    assert resp.status_code == 200, resp.content[:800]
    res = parse_xml(resp.content).find("AssumeRoleWithWebIdentityResult")
    assert res.findtext("SubjectFromWebIdentityToken") == "system:serviceaccount:default:app1"
    assert res.findtext("Provider") == issuer.provider_arn()


def test_audience_list_and_default_duration(oidc, issuer):
    before = utcnow()
    r = assume_cli(oidc, issuer.token(aud=["someone-else", CLIENT_ID]))
    assert r.returncode == 0, r.describe()
    assert r.json["Audience"] == CLIENT_ID
    exp = parse_expiration(r.json["Credentials"]["Expiration"])
    assert before + dt.timedelta(seconds=3595) <= exp <= utcnow() + dt.timedelta(seconds=3605)


@pytest.mark.parametrize("alg", ["RS256", "RS512", "PS256", "ES256", "ES384", "EdDSA"])
def test_algorithms(oidc, issuer, alg):
    r = assume_raw(oidc, issuer.token(issuer.alg_keys[alg]))
    assert r.status_code == 200, r.content[:800]


def test_long_duration_up_to_role_max_and_beyond(oidc, issuer):
    r = assume_cli(oidc, issuer.token(exp=int(time.time()) + 120), "--duration-seconds", "43200")
    assert r.returncode == 0, r.describe()
    remaining = (parse_expiration(r.json["Credentials"]["Expiration"]) - utcnow()).total_seconds()
    assert remaining > 43000, remaining
    srv = oidc
    make_role(srv, "ShortRole", trust_policy(issuer), max_session=3600)
    r = assume_cli(srv, issuer.token(), "--duration-seconds", "7200",
                   role_arn=f"arn:aws:iam::{ACCOUNT}:role/ShortRole")
    assert r.error_code == "ValidationError", r.describe()
    assert "MaxSessionDuration" in r.error_message


def test_session_tags_and_source_identity(oidc, issuer):
    tags = {"principal_tags": {"Team": ["blue"], "Project": ["apollo"]}, "transitive_tag_keys": ["Team"]}
    r = assume_cli(oidc, issuer.token(**{TAGS_CLAIM: tags, SOURCE_IDENTITY_CLAIM: "alice"}))
    assert r.returncode == 0, r.describe()
    assert r.json["PackedPolicySize"] > 0
    assert r.json["SourceIdentity"] == "alice"


def test_tags_need_tag_session_and_source_identity_needs_set_source_identity(oidc, issuer):
    srv = oidc
    name = "WebIdNoTags"
    arn = f"arn:aws:iam::{ACCOUNT}:role/{name}"
    make_role(srv, name, trust_policy(issuer))
    ok = assume_cli(srv, issuer.token(), role_arn=arn)
    assert ok.returncode == 0, ok.describe()
    r = assume_cli(srv, issuer.token(**{TAGS_CLAIM: {"principal_tags": {"Team": ["blue"]}}}), role_arn=arn)
    assert r.error_code == "AccessDenied" and "sts:TagSession" in r.error_message, r.describe()
    r = assume_cli(srv, issuer.token(**{SOURCE_IDENTITY_CLAIM: "alice"}), role_arn=arn)
    assert r.error_code == "AccessDenied" and "sts:SetSourceIdentity" in r.error_message, r.describe()


def test_trust_policy_condition_keys(oidc, issuer):
    srv = oidc
    name = "WebIdConditions"
    arn = f"arn:aws:iam::{ACCOUNT}:role/{name}"
    h = issuer.host
    make_role(srv, name, trust_policy(issuer, condition={
        "StringEquals": {f"{h}:aud": OTHER_CLIENT_ID},
        "StringLike": {f"{h}:sub": "system:serviceaccount:prod:*"},
        "ForAnyValue:StringEquals": {f"{h}:amr": "mfa"},
    }))
    good = dict(aud=OTHER_CLIENT_ID, sub="system:serviceaccount:prod:api", amr=["pwd", "mfa"])
    r = assume_cli(srv, issuer.token(**good), role_arn=arn)
    assert r.returncode == 0, r.describe()
    for bad in (dict(good, aud=CLIENT_ID), dict(good, sub="system:serviceaccount:dev:api"),
                dict(good, amr=["pwd"]), dict(good, amr=None)):
        r = assume_cli(srv, issuer.token(**bad), role_arn=arn)
        assert r.error_code == "AccessDenied", (bad, r.describe())
        assert "sts:AssumeRoleWithWebIdentity" in r.error_message


def test_role_trusting_another_provider_denies(oidc, issuer):
    srv = oidc
    name = "WebIdOtherProvider"
    other = f"arn:aws:iam::{ACCOUNT}:oidc-provider/token.actions.githubusercontent.com"
    srv.aws("iam", "create-role", "--role-name", name, "--assume-role-policy-document", json.dumps({
        "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"Federated": other},
                                                "Action": "sts:AssumeRoleWithWebIdentity"}]}))
    r = assume_cli(srv, issuer.token(), role_arn=f"arn:aws:iam::{ACCOUNT}:role/{name}")
    assert r.error_code == "AccessDenied", r.describe()


def test_session_policy_malformed(oidc, issuer):
    r = assume_cli(oidc, issuer.token(), "--policy", "{not json")
    assert r.error_code == "MalformedPolicyDocument", r.describe()


# --------------------------------------------------------------------------------------
# refusals
# --------------------------------------------------------------------------------------

def test_expired(oidc, issuer):
    now = int(time.time())
    err = refused(oidc, issuer.token(iat=now - 3600, nbf=now - 3600, exp=now - 600), "ExpiredTokenException",
                  "expired")
    r = assume_cli(oidc, issuer.token(iat=now - 3600, nbf=now - 3600, exp=now - 600))
    assert r.error_code == "ExpiredTokenException", r.describe()
    assert err.message


def test_not_yet_valid_and_issued_in_future(oidc, issuer):
    now = int(time.time())
    refused(oidc, issuer.token(nbf=now + 600), "InvalidIdentityToken", "nbf")
    refused(oidc, issuer.token(iat=now + 600), "InvalidIdentityToken", "iat")


def test_wrong_audience(oidc, issuer):
    refused(oidc, issuer.token(aud="not-a-client-id"), "InvalidIdentityToken", "audience")


def test_wrong_issuer(oidc, issuer):
    other = SigningKey("RS256")
    token = jwt.encode(issuer.claims(iss="https://unknown-idp.example.com"), other.private, algorithm="RS256",
                       headers={"kid": other.kid})
    err = refused(oidc, token, "InvalidIdentityToken", "No OpenIDConnect provider found in your account for")
    assert "https://unknown-idp.example.com" in err.message
    # a plain-http issuer is never a provider
    token = jwt.encode(issuer.claims(iss=f"http://{issuer.host}"), issuer.key.private, algorithm="RS256",
                       headers={"kid": issuer.key.kid})
    refused(oidc, token, "InvalidIdentityToken", "No OpenIDConnect provider found")


def test_issuer_with_control_characters_is_answered_with_valid_xml(oidc, issuer):
    token = jwt.encode(issuer.claims(iss="https://evil\u0001\u001b]0;x\u0007.example.com/" + "a" * 5000),
                       issuer.key.private, algorithm="RS256", headers={"kid": issuer.key.kid})
    err = refused(oidc, token, "InvalidIdentityToken", "No OpenIDConnect provider found")
    assert "\u0001" not in err.message and len(err.message) < 1000, err.message


def test_bad_signature(oidc, issuer):
    token = issuer.token()
    h, p, s = token.split(".")
    claims = json.loads(base64.urlsafe_b64decode(p + "=" * (-len(p) % 4)))
    claims["sub"] = "system:serviceaccount:kube-system:admin"
    forged = ".".join([h, b64url(json.dumps(claims).encode()), s])
    refused(oidc, forged, "InvalidIdentityToken", "signature")
    # signed by another key that claims the IdP's kid
    impostor = SigningKey("RS256")
    token = jwt.encode(issuer.claims(), impostor.private, algorithm="RS256", headers={"kid": issuer.key.kid})
    refused(oidc, token, "InvalidIdentityToken", "signature")


def test_unknown_kid(oidc, issuer):
    stranger = SigningKey("RS256")
    token = jwt.encode(issuer.claims(), stranger.private, algorithm="RS256", headers={"kid": "no-such-key"})
    refused(oidc, token, "InvalidIdentityToken", "Couldn't retrieve verification key")


def test_alg_none(oidc, issuer):
    header = b64url(json.dumps({"alg": "none", "typ": "JWT", "kid": issuer.key.kid}).encode())
    payload = b64url(json.dumps(issuer.claims()).encode())
    for token in (f"{header}.{payload}.", f"{header}.{payload}.{b64url(b'x')}"):
        refused(oidc, token, "InvalidIdentityToken", "algorithm")
    header = b64url(json.dumps({"alg": "None", "kid": issuer.key.kid}).encode())
    refused(oidc, f"{header}.{payload}.", "InvalidIdentityToken", "algorithm")


def test_hs256_signed_with_the_public_key(oidc, issuer):
    """The classic key-confusion attack: HMAC with the RSA public key (PEM, and JWK n) as secret."""
    payload = b64url(json.dumps(issuer.claims(sub="system:serviceaccount:kube-system:admin")).encode())
    for alg, digest in (("HS256", hashlib.sha256), ("HS512", hashlib.sha512)):
        header = b64url(json.dumps({"alg": alg, "typ": "JWT", "kid": issuer.key.kid}).encode())
        for secret in (issuer.key.public_pem, issuer.key.jwk["n"].encode()):
            sig = hmac.new(secret, f"{header}.{payload}".encode(), digest).digest()
            refused(oidc, f"{header}.{payload}.{b64url(sig)}", "InvalidIdentityToken", "algorithm")


def test_missing_sub_and_exp(oidc, issuer):
    refused(oidc, issuer.token(sub=None), "InvalidIdentityToken", "sub")
    refused(oidc, issuer.token(sub=""), "InvalidIdentityToken", "sub")
    refused(oidc, issuer.token(exp=None), "InvalidIdentityToken", "exp")


@pytest.mark.parametrize("token", ["not-a-jwt", "a.b.c", "a.b.c.d.e", "....", "eyJhbGciOiJSUzI1NiJ9.e30.AAAA"])
def test_garbage_tokens(oidc, token):
    resp = assume_raw(oidc, token)
    err = assert_client_error(resp)
    assert err.code in ("InvalidIdentityToken", "ValidationError"), err


def test_provider_id_is_refused(oidc, issuer):
    refused(oidc, issuer.token(), "InvalidIdentityToken", "ProviderId", ProviderId="www.amazon.com")


def test_bad_tags_claim(oidc, issuer):
    refused(oidc, issuer.token(**{TAGS_CLAIM: "Team=blue"}), "InvalidIdentityToken", "tags")
    refused(oidc, issuer.token(**{TAGS_CLAIM: {"principal_tags": {"Bad;Key": ["v"]}}}), "InvalidIdentityToken",
            "tag")
    refused(oidc, issuer.token(**{TAGS_CLAIM: {"principal_tags": {"Team": ["blue"]},
                                               "transitive_tag_keys": ["Nope"]}}), "InvalidIdentityToken", "transitive")


# --------------------------------------------------------------------------------------
# keys: rotation, rate-limited refetch, reachability, trust
# --------------------------------------------------------------------------------------

def test_key_rotation_and_rate_limited_refetch(module_server, ca):
    """A new kid at the IdP is picked up by one refetch; unknown kids refetch at most every 15 s."""
    srv = module_server
    rot = OidcIssuer(ca)
    try:
        register(srv, rot)
        name = f"WebIdRotation{rot.port}"
        arn = f"arn:aws:iam::{ACCOUNT}:role/{name}"
        make_role(srv, name, trust_policy(rot))
        r = assume_raw(srv, rot.token(), role_arn=arn)
        assert r.status_code == 200, r.content[:800]
        first_fetch = time.monotonic()
        assert rot.jwks_hits() == 1
        # cached: no refetch for known kids
        assert assume_raw(srv, rot.token(), role_arn=arn).status_code == 200
        assert rot.jwks_hits() == 1

        # The IdP rotates: a new key is published next to the old one.
        new = rot.add_key("ES256")
        # Within 15 s of the last fetch, a flood of unknown kids does not reach the IdP.
        for _ in range(5):
            resp = assume_raw(srv, rot.token(new), role_arn=arn)
            err = assert_client_error(resp)
            assert err.code == "InvalidIdentityToken", err
        assert rot.jwks_hits() == 1, "unknown kids must not refetch within the rate limit"
        time.sleep(max(0.0, first_fetch + 16 - time.monotonic()))
        r = assume_raw(srv, rot.token(new), role_arn=arn)
        assert r.status_code == 200, r.content[:800]
        assert rot.jwks_hits() == 2
        # the old key is retired at the IdP; tokens of the new key keep working from the cache
        rot.retire(rot.key.kid)
        assert assume_raw(srv, rot.token(new), role_arn=arn).status_code == 200
    finally:
        rot.close()


def test_unreachable_idp_is_idp_communication_error(module_server, issuer):
    srv = module_server
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        dead_port = s.getsockname()[1]
    url = f"https://localhost:{dead_port}"
    srv.aws("iam", "create-open-id-connect-provider", "--url", url, "--client-id-list", CLIENT_ID)
    name = f"WebIdDead{dead_port}"
    srv.aws("iam", "create-role", "--role-name", name, "--assume-role-policy-document", json.dumps({
        "Version": "2012-10-17", "Statement": [{
            "Effect": "Allow", "Action": "sts:AssumeRoleWithWebIdentity",
            "Principal": {"Federated": f"arn:aws:iam::{ACCOUNT}:oidc-provider/localhost:{dead_port}"}}]}))
    token = jwt.encode(issuer.claims(iss=url), issuer.key.private, algorithm="RS256",
                       headers={"kid": issuer.key.kid})
    r = assume_cli(srv, token, role_arn=f"arn:aws:iam::{ACCOUNT}:role/{name}")
    assert r.error_code == "IDPCommunicationError", r.describe()
    refused(srv, token, "IDPCommunicationError", "could not be reached", role_arn=f"arn:aws:iam::{ACCOUNT}:role/{name}")


def test_issuer_ca_must_be_trusted(server_factory, issuer):
    """Without --ca-file the issuer's private CA is not trusted: the keys cannot be fetched."""
    srv = server_factory(account_id=ACCOUNT)
    register(srv, issuer)
    make_role(srv, ROLE_NAME, trust_policy(issuer))
    r = assume_cli(srv, issuer.token())
    assert r.error_code == "IDPCommunicationError", r.describe()


def test_ca_file_flag(server_factory, issuer, ca):
    """--ca-file works like OPENSTS_CA_FILE."""
    srv = server_factory(account_id=ACCOUNT, args=["--ca-file", str(ca.ca_file)])
    register(srv, issuer)
    make_role(srv, ROLE_NAME, trust_policy(issuer))
    r = assume_cli(srv, issuer.token())
    assert r.returncode == 0, r.describe()
    assert r.json["AssumedRoleUser"]["Arn"] == f"arn:aws:sts::{ACCOUNT}:assumed-role/{ROLE_NAME}/app1"


def test_subject_with_control_characters_refused(oidc, issuer):
    err = refused(oidc, issuer.token(sub="app\u0001\u001b[31m"), "InvalidIdentityToken", "sub")
    assert "\u0001" not in err.message
