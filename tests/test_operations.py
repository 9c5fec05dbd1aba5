"""Operating OpenSTS: audit trail, metrics, TLS, throttling, key rotation, config, lifecycle.

Each test starts its own server(s) so counts (audit events, metric counters, throttle buckets)
are exact.

* audit: the acceptance flows (root, IAM user, GetSessionToken, AssumeRole, web identity,
  SAML, MFA codes, a bad signature) → one CloudTrail-shaped event per call, and no secret key,
  session token, SAML assertion, JWT or MFA code in the audit file or the server's log.
* metrics: /metrics on a separate listener; counters match the calls made.
* TLS: HTTPS with a test CA (AWS_CA_BUNDLE for the aws CLI), certificate reload on SIGHUP.
* throttling: Throttling / Rate exceeded (HTTP 400) past a tiny configured rate, then recovery;
  body/head size limits and slow-client timeouts.
* keys: `opensts keys rotate` mid-run — old sessions keep working, new tokens carry the new
  key id (token bytes 1..5), `opensts keys list` shows both.
* config file precedence (flag > env > file > default), JSON logs, draining on SIGTERM.
"""

from __future__ import annotations

import base64
import datetime as dt
import http.server
import ipaddress
import json
import os
import re
import secrets
import signal
import socket
import ssl
import subprocess
import threading
import time
import urllib.parse
import uuid
from pathlib import Path

import botocore.exceptions
import jwt
import pytest
import requests
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from harness import (
    IAM_VERSION,
    STS_VERSION,
    Creds,
    OpenSTSServer,
    assert_client_error,
    clean_env,
    eventually,
    unique,
    utcnow,
    xml_error,
)

EVENT_TIME_RE = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$")
METRICS_LINE_RE = re.compile(r"^OpenSTS metrics on (http://127\.0\.0\.1:\d+)/metrics\s*$")
REQUIRED_EVENT_KEYS = {
    "eventVersion", "userIdentity", "eventTime", "eventSource", "eventName", "awsRegion",
    "sourceIPAddress", "userAgent", "requestParameters", "responseElements", "requestID",
    "eventID", "eventType",
}
SECRET_JSON_KEYS = {"secretAccessKey", "sessionToken", "sAMLAssertion", "samlAssertion", "webIdentityToken",
                    "tokenCode", "authenticationCode1", "authenticationCode2", "password", "base32StringSeed",
                    "qRCodePNG"}


# --------------------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------------------

class TestPKI:
    """A test CA (made with `cryptography`) that issues server certificates for 127.0.0.1."""

    __test__ = False

    def __init__(self, directory: Path, name: str = "OpenSTS ops test CA"):
        self.dir = directory
        directory.mkdir(parents=True, exist_ok=True)
        now = utcnow()
        self.key = ec.generate_private_key(ec.SECP256R1())
        self.name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"{name} {uuid.uuid4().hex[:8]}")])
        self.ski = x509.SubjectKeyIdentifier.from_public_key(self.key.public_key())
        self.cert = (
            x509.CertificateBuilder()
            .subject_name(self.name).issuer_name(self.name)
            .public_key(self.key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(hours=1))
            .not_valid_after(now + dt.timedelta(days=2))
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True,
                                         content_commitment=False, key_encipherment=False,
                                         data_encipherment=False, key_agreement=False,
                                         encipher_only=False, decipher_only=False), critical=True)
            .add_extension(self.ski, critical=False)
            .sign(self.key, hashes.SHA256())
        )
        self.ca_file = directory / "ca.pem"
        self.ca_file.write_bytes(self.cert.public_bytes(serialization.Encoding.PEM))

    def issue(self, stem: str, ip: str = "127.0.0.1") -> tuple[Path, Path, int]:
        """A leaf for localhost and `ip`: (chain file, key file, serial)."""
        now = utcnow()
        key = ec.generate_private_key(ec.SECP256R1())
        serial = x509.random_serial_number()
        leaf = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")]))
            .issuer_name(self.name)
            .public_key(key.public_key())
            .serial_number(serial)
            .not_valid_before(now - dt.timedelta(hours=1))
            .not_valid_after(now + dt.timedelta(days=1))
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.SubjectAlternativeName([
                x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address(ip))]), critical=False)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
            .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=False, crl_sign=False,
                                         content_commitment=False, key_encipherment=False,
                                         data_encipherment=False, key_agreement=False,
                                         encipher_only=False, decipher_only=False), critical=True)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(self.ski), critical=False)
            .sign(self.key, hashes.SHA256())
        )
        chain = self.dir / f"{stem}-chain.pem"
        keyf = self.dir / f"{stem}-key.pem"
        chain.write_bytes(leaf.public_bytes(serialization.Encoding.PEM)
                          + self.cert.public_bytes(serialization.Encoding.PEM))
        keyf.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
        keyf.chmod(0o600)
        return chain, keyf, serial


def install(src: Path, dst: Path) -> None:
    """Replace `dst` atomically with the content of `src` (how certificate renewals land)."""
    tmp = dst.with_name(dst.name + ".tmp")
    tmp.write_bytes(src.read_bytes())
    os.replace(tmp, dst)


def served_serial(port: int, ca_file: Path) -> int:
    ctx = ssl.create_default_context(cafile=str(ca_file))
    with socket.create_connection(("127.0.0.1", port), timeout=10) as raw:
        with ctx.wrap_socket(raw, server_hostname="localhost") as tls:
            der = tls.getpeercert(binary_form=True)
    return x509.load_der_x509_certificate(der).serial_number


class OidcIdp:
    """A minimal HTTPS OpenID Connect issuer (discovery + JWKS).

    IAM refuses provider URLs with a port, so the issuer listens on port 443 of a random
    127.x.y.z address (`https://127.x.y.z`) when it may bind there; otherwise on
    https://localhost:PORT (and `register` skips if the server refuses that URL)."""

    def __init__(self, pki: TestPKI):
        addr = None
        for _ in range(20):
            ip = f"127.{secrets.randbelow(250) + 2}.{secrets.randbelow(250) + 1}.{secrets.randbelow(250) + 1}"
            try:
                probe = socket.socket()
                probe.bind((ip, 443))
                probe.close()
                addr = (ip, 443)
                break
            except OSError:
                continue
        chain, keyf, _ = pki.issue("idp", ip=addr[0] if addr else "127.0.0.1")
        self.private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.kid = f"k-{uuid.uuid4().hex[:8]}"
        jwk = jwt.algorithms.RSAAlgorithm.to_jwk(self.private.public_key(), as_dict=True)
        jwk.update({"kid": self.kid, "use": "sig", "alg": "RS256"})
        idp = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_GET(self):
                if self.path == "/.well-known/openid-configuration":
                    body = {"issuer": idp.url, "jwks_uri": idp.url + "/keys", "response_types_supported": ["id_token"],
                            "subject_types_supported": ["public"], "id_token_signing_alg_values_supported": ["RS256"]}
                elif self.path == "/keys":
                    body = {"keys": [jwk]}
                else:
                    self.send_error(404)
                    return
                data = json.dumps(body).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.httpd = http.server.ThreadingHTTPServer(addr or ("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(certfile=str(chain), keyfile=str(keyf))
        self.httpd.socket = ctx.wrap_socket(self.httpd.socket, server_side=True)
        self.port = self.httpd.server_address[1]
        self.host = addr[0] if addr else f"localhost:{self.port}"
        self.url = f"https://{self.host}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()

    def token(self, sub: str = "system:serviceaccount:ci:deployer", aud: str = "sts.opensts.test") -> str:
        now = int(time.time())
        claims = {"iss": self.url, "sub": sub, "aud": aud, "iat": now, "nbf": now, "exp": now + 600}
        return jwt.encode(claims, self.private, algorithm="RS256", headers={"kid": self.kid})


def register_idp(srv: OpenSTSServer, idp: OidcIdp) -> None:
    r = srv.aws_run("iam", "create-open-id-connect-provider", "--url", idp.url,
                    "--client-id-list", "sts.opensts.test")
    if r.returncode != 0 and r.error_code == "InvalidInput" and ":" in idp.host:
        pytest.skip("the server refuses OIDC provider URLs with a port and port 443 cannot be bound here")
    assert r.returncode == 0, r.describe()


def read_events(path: Path) -> list[dict]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def parse_metrics(text: str) -> dict[tuple[str, frozenset], float]:
    out = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        m = re.match(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})? (\S+)$", line)
        assert m, f"not a Prometheus sample line: {line!r}"
        labels = frozenset(re.findall(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"', m.group(3) or ""))
        out[(m.group(1), labels)] = float(m.group(4))
    return out


def metric(samples: dict, name: str, **labels) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


def metrics_url(srv: OpenSTSServer) -> str:
    for line in srv.start_output:
        m = METRICS_LINE_RE.match(line)
        if m:
            return m.group(1) + "/metrics"
    raise AssertionError(f"no 'OpenSTS metrics on …' line in {srv.start_output!r}")


def token_key_id(token: str) -> int:
    raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
    assert raw[0] == 1, f"token version byte {raw[0]}"
    return int.from_bytes(raw[1:5], "big")


def gci_params() -> dict:
    return {"Action": "GetCallerIdentity", "Version": STS_VERSION}


def trust_policy(account: str, idp: OidcIdp | None = None, user: str | None = None) -> str:
    principal = f"arn:aws:iam::{account}:user/{user}" if user else f"arn:aws:iam::{account}:root"
    stmts = [{"Effect": "Allow", "Principal": {"AWS": principal}, "Action": ["sts:AssumeRole", "sts:TagSession"]}]
    if idp is not None:
        stmts.append({"Effect": "Allow",
                      "Principal": {"Federated": f"arn:aws:iam::{account}:oidc-provider/{idp.host}"},
                      "Action": "sts:AssumeRoleWithWebIdentity"})
    return json.dumps({"Version": "2012-10-17", "Statement": stmts})


def saml_metadata(pki: TestPKI) -> str:
    cert_b64 = base64.b64encode(pki.cert.public_bytes(serialization.Encoding.DER)).decode()
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" xmlns:ds="http://www.w3.org/2000/09/xmldsig#" entityID="https://idp.ops.test/">
  <md:IDPSSODescriptor protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol">
    <md:KeyDescriptor use="signing"><ds:KeyInfo><ds:X509Data><ds:X509Certificate>{cert_b64}</ds:X509Certificate></ds:X509Data></ds:KeyInfo></md:KeyDescriptor>
    <md:SingleSignOnService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST" Location="https://idp.ops.test/sso"/>
  </md:IDPSSODescriptor>
</md:EntityDescriptor>
"""


def unsigned_saml_assertion() -> str:
    """A well-formed but unsigned SAML Response (refused), base64 as the SAML POST binding sends it."""
    xml = f"""<samlp:Response xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion" ID="_{uuid.uuid4().hex}" Version="2.0" IssueInstant="{utcnow().strftime('%Y-%m-%dT%H:%M:%SZ')}" Destination="https://signin.aws.amazon.com/saml"><saml:Issuer>https://idp.ops.test/</saml:Issuer><samlp:Status><samlp:StatusCode Value="urn:oasis:names:tc:SAML:2.0:status:Success"/></samlp:Status><saml:Assertion ID="_{uuid.uuid4().hex}" Version="2.0" IssueInstant="{utcnow().strftime('%Y-%m-%dT%H:%M:%SZ')}"><saml:Issuer>https://idp.ops.test/</saml:Issuer><saml:Subject><saml:NameID>secret-subject-{uuid.uuid4().hex}</saml:NameID></saml:Subject></saml:Assertion></samlp:Response>"""
    return base64.b64encode(xml.encode()).decode()


# --------------------------------------------------------------------------------------
# audit trail
# --------------------------------------------------------------------------------------

@pytest.fixture
def pki(tmp_path) -> TestPKI:
    return TestPKI(tmp_path / "pki")


@pytest.fixture
def idp(pki):
    i = OidcIdp(pki)
    try:
        yield i
    finally:
        i.close()


def test_audit_events_shape_and_redaction(server_factory, tmp_path, pki, idp):
    audit = tmp_path / "audit" / "opensts-audit.log"
    srv = server_factory(name="audit", args=["--audit-log", str(audit)],
                         env={"OPENSTS_CA_FILE": str(pki.ca_file),
                              "OPENSTS_LOG": "debug,sqlx=info,hyper=info,h2=info,rustls=info,reqwest=info"})
    acct = srv.account_id
    secrets: list[str] = [srv.root.secret_access_key]
    expected: list[tuple[str, str, str | None]] = []  # (eventSource prefix, eventName, errorCode)

    def call(api: str, name: str, error: str | None = None):
        expected.append((api, name, error))

    # 1. root, aws CLI
    assert srv.aws("sts", "get-caller-identity")["Arn"] == srv.root_arn()
    call("sts", "GetCallerIdentity")
    # 2. an IAM user with a key, aws CLI
    user = unique("alice")
    srv.aws("iam", "create-user", "--user-name", user)
    call("iam", "CreateUser")
    key = srv.aws("iam", "create-access-key", "--user-name", user)["AccessKey"]
    call("iam", "CreateAccessKey")
    user_creds = Creds.from_access_key(key)
    secrets.append(user_creds.secret_access_key)
    # 3. the user's GetSessionToken and a call with the session
    sess = Creds.from_sts(srv.sts(user_creds).get_session_token(DurationSeconds=900)["Credentials"])
    call("sts", "GetSessionToken")
    secrets += [sess.secret_access_key, sess.session_token]
    assert srv.sts(sess).get_caller_identity()["Arn"].endswith(f":user/{user}")
    call("sts", "GetCallerIdentity")
    # 4. a role the user may assume; AssumeRole with the aws CLI; a call as the role session
    role = unique("deploy")
    role_arn = srv.aws("iam", "create-role", "--role-name", role,
                       "--assume-role-policy-document", trust_policy(acct, idp, user))["Role"]["Arn"]
    call("iam", "CreateRole")
    allow = json.dumps({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": ["sts:AssumeRole", "sts:TagSession"], "Resource": role_arn}]})
    srv.aws("iam", "put-user-policy", "--user-name", user, "--policy-name", "assume",
            "--policy-document", allow)
    call("iam", "PutUserPolicy")
    out = srv.aws("sts", "assume-role", "--role-arn", role_arn, "--role-session-name", "build-42",
                  "--duration-seconds", "900", "--tags", "Key=team,Value=blue", creds=user_creds)
    call("sts", "AssumeRole")
    role_creds = Creds.from_sts(out["Credentials"])
    secrets += [role_creds.secret_access_key, role_creds.session_token]
    session_arn = f"arn:aws:sts::{acct}:assumed-role/{role}/build-42"
    assert out["AssumedRoleUser"]["Arn"] == session_arn
    assert srv.sts(role_creds).get_caller_identity()["Arn"] == session_arn
    call("sts", "GetCallerIdentity")
    # 5. web identity: a good token and a tampered one
    register_idp(srv, idp)
    call("iam", "CreateOpenIDConnectProvider")
    good_jwt = idp.token()
    secrets.append(good_jwt)
    resp = srv.unsigned_request({"Action": "AssumeRoleWithWebIdentity", "Version": STS_VERSION, "RoleArn": role_arn,
                                 "RoleSessionName": "web-1", "WebIdentityToken": good_jwt})
    assert resp.status_code == 200, resp.text
    call("sts", "AssumeRoleWithWebIdentity")
    web_request_id = resp.headers["x-amzn-RequestId"]
    web_secret = re.search(r"<SecretAccessKey>([^<]+)</SecretAccessKey>", resp.text).group(1)
    web_token = re.search(r"<SessionToken>([^<]+)</SessionToken>", resp.text).group(1)
    secrets += [web_secret, web_token]
    header, payload, sig = idp.token(sub="mallory").split(".")
    bad_jwt = f"{header}.{payload}.{sig[:-6]}AAAAAA"
    secrets.append(bad_jwt)
    resp = srv.unsigned_request({"Action": "AssumeRoleWithWebIdentity", "Version": STS_VERSION, "RoleArn": role_arn,
                                 "RoleSessionName": "web-2", "WebIdentityToken": bad_jwt})
    bad_web_error = assert_client_error(resp).code
    call("sts", "AssumeRoleWithWebIdentity", bad_web_error)
    # 6. SAML: a provider and an unsigned assertion (refused)
    saml_arn = srv.aws("iam", "create-saml-provider", "--name", unique("idp"),
                       "--saml-metadata-document", saml_metadata(pki))["SAMLProviderArn"]
    call("iam", "CreateSAMLProvider")
    assertion = unsigned_saml_assertion()
    secrets.append(assertion)
    resp = srv.unsigned_request({"Action": "AssumeRoleWithSAML", "Version": STS_VERSION, "RoleArn": role_arn,
                                 "PrincipalArn": saml_arn, "SAMLAssertion": assertion})
    call("sts", "AssumeRoleWithSAML", assert_client_error(resp).code)
    # 7. MFA codes: GetSessionToken with a code for a device the user does not have; EnableMFADevice
    token_code, code1, code2 = "918273", "564738", "192837"
    secrets += [token_code, code1, code2]
    resp = srv.signed_request({"Action": "GetSessionToken", "Version": STS_VERSION,
                               "SerialNumber": f"arn:aws:iam::{acct}:mfa/{user}", "TokenCode": token_code},
                              creds=user_creds)
    call("sts", "GetSessionToken", assert_client_error(resp).code)
    resp = srv.signed_request({"Action": "EnableMFADevice", "Version": IAM_VERSION, "UserName": user,
                               "SerialNumber": f"arn:aws:iam::{acct}:mfa/none", "AuthenticationCode1": code1,
                               "AuthenticationCode2": code2}, service="iam")
    call("iam", "EnableMFADevice", assert_client_error(resp).code)
    # 8. a bad signature (the claimed key id is recorded, nothing else)
    wrong = Creds(user_creds.access_key_id, "x" * 40)
    resp = srv.signed_request(gci_params(), creds=wrong)
    call("sts", "GetCallerIdentity", assert_client_error(resp).code)
    bad_sig_request_id = resp.headers["x-amzn-RequestId"]

    # ---- the audit file: one event per call, in order ---------------------------------
    events = eventually(lambda: _exactly(read_events(audit), len(expected)), timeout=5)
    assert [(e["eventSource"].split(".")[0], e["eventName"], e.get("errorCode")) for e in events] == expected
    ids = set()
    for e in events:
        assert REQUIRED_EVENT_KEYS <= e.keys(), f"missing {REQUIRED_EVENT_KEYS - e.keys()} in {e}"
        assert e["eventVersion"] == "1.08"
        assert e["eventType"] == "AwsApiCall"
        assert EVENT_TIME_RE.match(e["eventTime"]), e["eventTime"]
        assert e["awsRegion"] == srv.region
        assert e["sourceIPAddress"] == "127.0.0.1"
        assert e["eventSource"] in ("sts.amazonaws.com", "iam.amazonaws.com")
        assert e["userIdentity"]["type"] in ("Root", "IAMUser", "AssumedRole", "WebIdentityUser", "SAMLUser", "Unknown")
        assert ("errorCode" in e) == ("errorMessage" in e)
        ids.add(e["eventID"])
        ids.add(e["requestID"])
    assert len(ids) == 2 * len(events), "eventID / requestID not unique"

    by_name = lambda name, err=None: [e for e in events if e["eventName"] == name and e.get("errorCode") == err]  # noqa: E731
    root_gci = by_name("GetCallerIdentity")[0]
    assert root_gci["userIdentity"] == {"type": "Root", "principalId": acct, "arn": srv.root_arn(),
                                        "accountId": acct, "accessKeyId": srv.root.access_key_id}
    assert root_gci["readOnly"] is True and root_gci["responseElements"] is None
    assert "aws-cli/" in root_gci["userAgent"]

    create_key = by_name("CreateAccessKey")[0]
    assert create_key["requestParameters"] == {"userName": user}
    assert create_key["responseElements"]["accessKey"]["accessKeyId"] == user_creds.access_key_id
    assert "secretAccessKey" not in create_key["responseElements"]["accessKey"]

    gst = by_name("GetSessionToken")[0]
    assert gst["userIdentity"]["type"] == "IAMUser" and gst["userIdentity"]["userName"] == user
    assert gst["requestParameters"] == {"durationSeconds": 900}
    assert gst["responseElements"]["credentials"] == {"accessKeyId": sess.access_key_id,
                                                      "expiration": sess.expiration}
    sess_gci = by_name("GetCallerIdentity")[1]
    assert sess_gci["userIdentity"]["type"] == "IAMUser"
    assert sess_gci["userIdentity"]["accessKeyId"] == sess.access_key_id
    assert sess_gci["userIdentity"]["sessionContext"]["attributes"]["mfaAuthenticated"] == "false"

    ar = by_name("AssumeRole")[0]
    assert ar["userIdentity"]["type"] == "IAMUser" and ar["userIdentity"]["userName"] == user
    assert ar["requestParameters"]["roleArn"] == role_arn
    assert ar["requestParameters"]["roleSessionName"] == "build-42"
    assert ar["requestParameters"]["durationSeconds"] == 900
    assert ar["requestParameters"]["tags"] == [{"key": "team", "value": "blue"}]
    creds_el = ar["responseElements"]["credentials"]
    assert creds_el == {"accessKeyId": role_creds.access_key_id, "expiration": role_creds.expiration}
    assert ar["responseElements"]["assumedRoleUser"]["arn"] == session_arn
    assert ar["recipientAccountId"] == acct

    role_gci = by_name("GetCallerIdentity")[2]
    ui = role_gci["userIdentity"]
    assert ui["type"] == "AssumedRole"
    assert ui["arn"] == session_arn, "assumed-role sessions are named by their ARN"
    assert ui["accessKeyId"] == role_creds.access_key_id
    assert ui["principalId"].endswith(":build-42")
    issuer = ui["sessionContext"]["sessionIssuer"]
    assert issuer == {"type": "Role", "principalId": ui["principalId"].split(":")[0], "arn": role_arn,
                      "accountId": acct, "userName": role}

    web = by_name("AssumeRoleWithWebIdentity")[0]
    assert web["requestID"] == web_request_id
    assert web["userIdentity"]["type"] == "WebIdentityUser"
    assert web["userIdentity"]["userName"] == "system:serviceaccount:ci:deployer"
    assert web["requestParameters"] == {"roleArn": role_arn, "roleSessionName": "web-1"}
    assert web["responseElements"]["assumedRoleUser"]["arn"] == f"arn:aws:sts::{acct}:assumed-role/{role}/web-1"
    assert set(web["responseElements"]["credentials"]) == {"accessKeyId", "expiration"}
    bad_web = by_name("AssumeRoleWithWebIdentity", bad_web_error)[0]
    assert bad_web["requestParameters"] == {"roleArn": role_arn, "roleSessionName": "web-2"}
    saml = [e for e in events if e["eventName"] == "AssumeRoleWithSAML"][0]
    assert saml["requestParameters"] == {"roleArn": role_arn, "principalArn": saml_arn}
    assert saml["userIdentity"]["type"] == "SAMLUser"

    mfa_gst = [e for e in events if e["eventName"] == "GetSessionToken" and e.get("errorCode")][0]
    assert mfa_gst["requestParameters"] == {"serialNumber": f"arn:aws:iam::{acct}:mfa/{user}"}
    enable = [e for e in events if e["eventName"] == "EnableMFADevice"][0]
    assert enable["requestParameters"] == {"userName": user, "serialNumber": f"arn:aws:iam::{acct}:mfa/none"}

    bad_sig = [e for e in events if e["requestID"] == bad_sig_request_id][0]
    assert bad_sig["errorCode"] == "SignatureDoesNotMatch"
    assert bad_sig["userIdentity"] == {"type": "Unknown", "accessKeyId": user_creds.access_key_id}

    # ---- redaction: no secret anywhere in the audit trail or the server's log --------
    srv.stop()
    audit_text = audit.read_text()
    log_text = srv.stderr_path.read_text(errors="replace")
    assert "AssumeRoleWithWebIdentity" in audit_text and len(log_text) > 0
    for s in secrets:
        parts = [s] + [p for p in s.split(".") if len(p) >= 16]
        for p in parts:
            assert p not in audit_text, f"secret {p[:12]}… found in the audit file"
            assert p not in log_text, f"secret {p[:12]}… found in the server log"

    def keys_of(v):
        if isinstance(v, dict):
            for k, x in v.items():
                yield k
                yield from keys_of(x)
        elif isinstance(v, list):
            for x in v:
                yield from keys_of(x)
    leaked = SECRET_JSON_KEYS & set(keys_of(events))
    assert not leaked, f"secret fields in audit events: {leaked}"


def _exactly(events: list[dict], n: int) -> list[dict]:
    assert len(events) == n, f"{len(events)} audit events, expected {n}"
    return events


def test_audit_to_stdout_and_rotation(server_factory, tmp_path):
    srv = server_factory(name="audit-stdout", args=["--audit-log", "-"])
    srv.sts().get_caller_identity()
    line = eventually(lambda: _event_line(srv), timeout=5)
    ev = json.loads(line)
    assert ev["eventName"] == "GetCallerIdentity" and ev["eventType"] == "AwsApiCall"

    audit = tmp_path / "rot" / "audit.log"
    srv2 = server_factory(name="audit-rot", args=["--audit-log", str(audit), "--audit-max-bytes", "4000",
                                                  "--audit-keep-files", "2"])
    sts = srv2.sts()
    for _ in range(20):
        sts.get_caller_identity()
    rotated = [audit, Path(str(audit) + ".1"), Path(str(audit) + ".2")]
    assert all(p.exists() for p in rotated), sorted(audit.parent.iterdir())
    assert not Path(str(audit) + ".3").exists()
    assert all(p.stat().st_size <= 4000 for p in rotated)
    assert oct(audit.stat().st_mode & 0o077) == "0o0", "audit log must not be group/world readable"
    # SIGHUP reopens the file (after an external rotation)
    moved = audit.with_name("moved.log")
    os.replace(audit, moved)
    srv2.proc.send_signal(signal.SIGHUP)
    time.sleep(0.5)
    sts.get_caller_identity()
    eventually(lambda: _nonempty(audit), timeout=5)
    assert srv2.alive


def _event_line(srv: OpenSTSServer) -> str:
    lines = [ln for ln in srv.stdout_lines if ln.startswith("{") and '"eventType"' in ln]
    assert lines, "no audit event on stdout"
    return lines[-1]


def _nonempty(p: Path):
    assert p.exists() and p.stat().st_size > 0, f"{p} empty"


# --------------------------------------------------------------------------------------
# metrics
# --------------------------------------------------------------------------------------

def test_metrics_counters_match_calls(server_factory, pki, idp):
    srv = server_factory(name="metrics", args=["--metrics-listen", "127.0.0.1:0"],
                         env={"OPENSTS_CA_FILE": str(pki.ca_file)})
    url = metrics_url(srv)
    # /metrics lives on the separate listener only
    main = requests.get(srv.endpoint + "/metrics", timeout=10)
    assert "opensts_requests_total" not in main.text
    assert requests.get(srv.endpoint + "/healthz", timeout=10).status_code == 200
    assert requests.get(srv.endpoint + "/readyz", timeout=10).status_code == 200

    n_ok, n_bad, n_iam = 7, 3, 2
    sts = srv.sts()
    for _ in range(n_ok):
        sts.get_caller_identity()
    wrong = Creds(srv.root.access_key_id, "y" * 40)
    for _ in range(n_bad):
        assert_client_error(srv.signed_request(gci_params(), creds=wrong))
    iam = srv.iam()
    for _ in range(n_iam):
        iam.list_users()
    # federation: one accepted web identity (one JWKS fetch), one refused, one refused SAML
    acct = srv.account_id
    register_idp(srv, idp)
    role_arn = iam.create_role(RoleName="web", AssumeRolePolicyDocument=trust_policy(acct, idp))["Role"]["Arn"]
    ok = srv.unsigned_request({"Action": "AssumeRoleWithWebIdentity", "Version": STS_VERSION, "RoleArn": role_arn,
                               "RoleSessionName": "web-session", "WebIdentityToken": idp.token()})
    assert ok.status_code == 200, ok.text
    h, p, s = idp.token().split(".")
    bad = srv.unsigned_request({"Action": "AssumeRoleWithWebIdentity", "Version": STS_VERSION, "RoleArn": role_arn,
                                "RoleSessionName": "web-session", "WebIdentityToken": f"{h}.{p}.{s[:-4]}AAAA"})
    assert assert_client_error(bad).code == "InvalidIdentityToken"
    saml_arn = iam.create_saml_provider(Name="ops", SAMLMetadataDocument=saml_metadata(pki))["SAMLProviderArn"]
    refused = srv.unsigned_request({"Action": "AssumeRoleWithSAML", "Version": STS_VERSION, "RoleArn": role_arn,
                                    "PrincipalArn": saml_arn, "SAMLAssertion": unsigned_saml_assertion()})
    saml_code = assert_client_error(refused).code

    text = requests.get(url, timeout=10)
    assert text.status_code == 200
    assert text.headers["Content-Type"].startswith("text/plain; version=0.0.4")
    m = parse_metrics(text.text)
    assert metric(m, "opensts_requests_total", api="sts", action="GetCallerIdentity", code="OK") == n_ok
    assert metric(m, "opensts_requests_total", api="sts", action="GetCallerIdentity",
                  code="SignatureDoesNotMatch") == n_bad
    assert metric(m, "opensts_requests_total", api="iam", action="ListUsers", code="OK") == n_iam
    assert metric(m, "opensts_request_duration_seconds_count", api="sts", action="GetCallerIdentity") == n_ok + n_bad
    assert metric(m, "opensts_request_duration_seconds_bucket", api="sts", action="GetCallerIdentity",
                  le="+Inf") == n_ok + n_bad
    assert metric(m, "opensts_request_duration_seconds_sum", api="sts", action="GetCallerIdentity") > 0
    assert metric(m, "opensts_requests_total", api="sts", action="AssumeRoleWithWebIdentity", code="OK") == 1
    assert metric(m, "opensts_requests_total", api="sts", action="AssumeRoleWithWebIdentity",
                  code="InvalidIdentityToken") == 1
    assert metric(m, "opensts_jwks_fetches_total") == 1
    assert metric(m, "opensts_federation_rejections_total", protocol="oidc", reason="bad_signature") == 1
    saml_rejections = sum(v for (name, labels), v in m.items()
                          if name == "opensts_federation_rejections_total" and ("protocol", "saml") in labels)
    assert saml_rejections == 1, saml_code
    assert metric(m, "opensts_current_key_id", purpose="session-token") == 1
    assert metric(m, "opensts_key_info", purpose="session-token", key_id="1", state="current") == 1
    assert metric(m, "opensts_inflight_requests") == 0
    total = sum(v for (name, _), v in m.items() if name == "opensts_requests_total")
    # + 3 IAM setup calls + 3 federation calls + the GET /metrics probe of the main listener
    # (an API request there: MissingAction)
    assert total == n_ok + n_bad + n_iam + 3 + 3 + 1
    assert metric(m, "opensts_requests_total", api="sts", action="unknown", code="MissingAction") == 1


# --------------------------------------------------------------------------------------
# TLS
# --------------------------------------------------------------------------------------

def test_https_with_test_ca_and_certificate_reload(server_factory, tmp_path, pki):
    chain, key, serial1 = pki.issue("server1")
    cert_file, key_file = tmp_path / "tls" / "cert.pem", tmp_path / "tls" / "key.pem"
    cert_file.parent.mkdir()
    install(chain, cert_file)
    install(key, key_file)
    audit = tmp_path / "audit.log"
    srv = server_factory(name="tls", args=["--tls-cert", str(cert_file), "--tls-key", str(key_file),
                                           "--audit-log", str(audit)], ca_bundle=pki.ca_file)
    assert srv.endpoint.startswith("https://127.0.0.1:")
    # the aws CLI with AWS_CA_BUNDLE, and boto3
    assert srv.aws("sts", "get-caller-identity")["Arn"] == srv.root_arn()
    assert srv.sts().get_caller_identity()["Account"] == srv.account_id
    user = unique("tls")
    srv.aws("iam", "create-user", "--user-name", user)
    # another CA is not trusted; plain HTTP on the TLS port gets no HTTP answer
    other = TestPKI(tmp_path / "other")
    r = srv.aws_run("sts", "get-caller-identity", env={"AWS_CA_BUNDLE": str(other.ca_file)})
    assert r.returncode != 0 and "SSL" in (r.stderr or ""), r.describe()
    with pytest.raises(requests.exceptions.ConnectionError):
        requests.get(srv.endpoint.replace("https://", "http://") + "/healthz", timeout=5)
    assert served_serial(srv.port, pki.ca_file) == serial1
    ev = eventually(lambda: _exactly(read_events(audit), 3), timeout=5)[0]
    assert ev["tlsDetails"]["tlsVersion"] in ("TLSv1.3", "TLSv1.2")
    assert ev["tlsDetails"]["cipherSuite"].startswith("TLS")

    # renew the certificate; SIGHUP; new connections get the new one
    chain2, key2, serial2 = pki.issue("server2")
    install(chain2, cert_file)
    install(key2, key_file)
    srv.proc.send_signal(signal.SIGHUP)
    eventually(lambda: _serial_is(srv, pki, serial2), timeout=5)
    assert srv.aws("sts", "get-caller-identity")["Arn"] == srv.root_arn()

    # a broken file is refused; the server keeps the certificate it has
    cert_file.write_text("-----BEGIN CERTIFICATE-----\nnot a certificate\n-----END CERTIFICATE-----\n")
    srv.proc.send_signal(signal.SIGHUP)
    time.sleep(0.5)
    assert srv.alive
    assert served_serial(srv.port, pki.ca_file) == serial2
    m = parse_metrics(requests.get(srv.endpoint + "/metrics", verify=str(pki.ca_file), timeout=10).text)
    assert metric(m, "opensts_tls_reloads_total", result="ok") >= 1
    assert metric(m, "opensts_tls_reloads_total", result="error") >= 1
    # the file watcher picks up a renewal without a signal, too
    chain3, key3, serial3 = pki.issue("server3")
    install(key3, key_file)
    install(chain3, cert_file)
    eventually(lambda: _serial_is(srv, pki, serial3), timeout=15, interval=0.5)
    assert srv.sts().get_caller_identity()["Account"] == srv.account_id


def _serial_is(srv, pki, serial):
    assert served_serial(srv.port, pki.ca_file) == serial


# --------------------------------------------------------------------------------------
# throttling and limits
# --------------------------------------------------------------------------------------

def test_throttling_per_account_then_recovery(server_factory):
    # one token per 10 s, bucket of 3: deterministic even on a slow machine
    srv = server_factory(name="throttle", args=["--rate-per-account", "0.1", "--burst-per-account", "3"])
    codes = []
    for _ in range(6):
        resp = srv.signed_request(gci_params())
        if resp.status_code == 200:
            codes.append("OK")
        else:
            err = xml_error(resp)
            assert (err.status, err.code, err.message, err.type) == (400, "Throttling", "Rate exceeded", "Sender")
            codes.append(err.code)
    assert codes == ["OK"] * 3 + ["Throttling"] * 3, codes
    exhausted = time.monotonic()
    # the aws CLI sees AWS's error (one attempt: the harness disables retries); boto3 too
    srv.aws_error("sts", "get-caller-identity", code="Throttling")
    with pytest.raises(botocore.exceptions.ClientError) as ei:
        srv.sts().get_caller_identity()
    assert ei.value.response["Error"]["Code"] == "Throttling"
    # another account is not affected
    other = srv.create_account("444455556666")
    other_creds = Creds(other["AccessKeyId"], other["SecretAccessKey"])
    assert srv.signed_request(gci_params(), creds=other_creds).status_code == 200
    # recovery: the next token arrives ~10 s after the bucket ran dry; refused calls cost nothing
    def recovered():
        resp = srv.signed_request(gci_params())
        assert resp.status_code == 200, resp.text
    eventually(recovered, timeout=20, interval=0.5)
    assert time.monotonic() - exhausted >= 5
    m = parse_metrics(requests.get(srv.endpoint + "/metrics", timeout=10).text)
    assert metric(m, "opensts_throttled_total", scope="account") >= 5
    assert metric(m, "opensts_requests_total", api="sts", action="GetCallerIdentity", code="Throttling") >= 5


def test_throttling_per_source_before_authentication(server_factory):
    srv = server_factory(name="throttle-src", args=["--rate-per-source", "0.2", "--burst-per-source", "4"])
    codes = []
    for _ in range(7):
        resp = srv.unsigned_request(gci_params())  # unsigned: refused after the throttle check
        codes.append(xml_error(resp).code)
    assert codes == ["MissingAuthenticationToken"] * 4 + ["Throttling"] * 3, codes
    resp = srv.signed_request(gci_params())
    assert xml_error(resp).code == "Throttling" and resp.status_code == 400
    # metrics/health are not throttled
    assert requests.get(srv.endpoint + "/healthz", timeout=10).status_code == 200
    eventually(lambda: _status(srv.signed_request(gci_params()), 200), timeout=15, interval=0.5)


def _status(resp, status):
    assert resp.status_code == status, resp.text


def test_request_size_limits_and_slow_clients(server_factory):
    srv = server_factory(name="limits", args=["--max-body-bytes", "10000", "--max-header-bytes", "16384",
                                              "--header-read-timeout-secs", "1", "--body-read-timeout-secs", "2"])
    # body over the limit
    resp = srv.unsigned_request(body="Action=GetCallerIdentity&Version=2011-06-15&Pad=" + "p" * 20000)
    err = xml_error(resp)
    assert (err.status, err.code) == (413, "RequestEntityTooLarge")
    # a request head over the limit
    resp = requests.get(srv.endpoint + "/?Action=GetCallerIdentity", headers={"X-Big": "b" * 20000}, timeout=10)
    assert resp.status_code == 431
    # a client that never finishes its head is disconnected
    host, port = "127.0.0.1", srv.port
    with socket.create_connection((host, port), timeout=10) as s:
        s.sendall(b"POST / HTTP/1.1\r\nHost: x\r\n")
        start = time.monotonic()
        data = s.recv(4096)
        while data:
            more = s.recv(4096)
            if not more:
                break
            data += more
        assert time.monotonic() - start < 8
        assert data == b"" or b" 408 " in data.split(b"\r\n", 1)[0], data[:200]
    # a client that never finishes its body gets RequestTimeout
    with socket.create_connection((host, port), timeout=10) as s:
        s.sendall(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\n"
                  b"Content-Length: 100\r\n\r\nAction=Get")
        start = time.monotonic()
        head = s.recv(65536)
        assert 1.5 <= time.monotonic() - start < 8
        assert head.startswith(b"HTTP/1.1 408"), head[:200]
        assert b"<Code>RequestTimeout</Code>" in head or b"RequestTimeout" in s.recv(65536)
    assert srv.sts().get_caller_identity()["Account"] == srv.account_id


# --------------------------------------------------------------------------------------
# key rotation
# --------------------------------------------------------------------------------------

def _opensts(srv: OpenSTSServer, *args: str) -> subprocess.CompletedProcess:
    full = [*args, "--data-dir", str(srv.data_dir)]
    if srv.database_url:
        full += ["--database-url", srv.database_url]
    cp = srv.run_opensts(*full)
    assert cp.returncode == 0, f"opensts {' '.join(full)} exited {cp.returncode}\n{cp.stdout}\n{cp.stderr[-2000:]}"
    return cp


def test_key_rotation_mid_run(server_factory, backend):
    srv = server_factory(name="keys", backend=backend)
    user = srv.make_user()
    old = srv.session_for(user.creds, duration=900)
    assert token_key_id(old.session_token) == 1
    listed = json.loads(_opensts(srv, "keys", "list").stdout)
    assert {(k["purpose"], k["id"], k["state"]) for k in listed if k["purpose"] in ("session-token", "auth-message")} \
        == {("session-token", 1, "current"), ("auth-message", 1, "current")}

    out = _opensts(srv, "keys", "rotate", "--purpose", "all").stdout
    reports = {r["purpose"]: r for r in map(json.loads, out.splitlines())}
    assert reports["session-token"] == {"purpose": "session-token", "new_key_id": 2, "retired": [1], "removed": []}
    assert reports["auth-message"]["new_key_id"] == 2

    # the running server picks up the new ring: new sessions are sealed with key 2 …
    def new_key():
        s = srv.session_for(user.creds, duration=900)
        assert token_key_id(s.session_token) == 2
        return s
    new = eventually(new_key, timeout=5, interval=0.2)
    # … and the old session still works (the retired key verifies), as does the new one
    assert srv.sts(old).get_caller_identity()["Arn"] == user.arn
    assert srv.sts(new).get_caller_identity()["Arn"] == user.arn
    assert srv.aws("sts", "get-caller-identity", creds=old)["Arn"] == user.arn

    listed = json.loads(_opensts(srv, "keys", "list").stdout)
    sess = {k["id"]: k for k in listed if k["purpose"] == "session-token"}
    assert sess[1]["state"] == "retired" and sess[1]["retired"] and sess[1]["removable_after"]
    assert sess[2]["state"] == "current" and sess[2]["retired"] is None
    removable = dt.datetime.strptime(sess[1]["removable_after"], "%Y-%m-%dT%H:%M:%SZ")
    retired = dt.datetime.strptime(sess[1]["retired"], "%Y-%m-%dT%H:%M:%SZ")
    assert (removable - retired).total_seconds() >= 129600, "kept at least as long as the longest session"
    m = parse_metrics(requests.get(srv.endpoint + "/metrics", timeout=10).text)
    assert metric(m, "opensts_current_key_id", purpose="session-token") == 2
    assert metric(m, "opensts_key_info", purpose="session-token", key_id="1", state="retired") == 1

    # a second rotation and a restart: every session issued so far still verifies
    _opensts(srv, "keys", "rotate", "--purpose", "session-token")
    newer = eventually(lambda: _session_with_key(srv, user.creds, 3), timeout=5, interval=0.2)
    srv.restart()
    for c in (old, new, newer):
        assert srv.sts(c).get_caller_identity()["Arn"] == user.arn
    assert token_key_id(srv.session_for(user.creds, duration=900).session_token) == 3


def _session_with_key(srv, creds, key_id):
    s = srv.session_for(creds, duration=900)
    assert token_key_id(s.session_token) == key_id
    return s


# --------------------------------------------------------------------------------------
# configuration, logs, lifecycle
# --------------------------------------------------------------------------------------

def _print_config(bin_path: Path, cwd: Path, *args: str, env: dict | None = None) -> dict:
    e = clean_env()
    e.update(env or {})
    cp = subprocess.run([str(bin_path), "serve", "--print-config", *args], env=e, capture_output=True,
                        text=True, timeout=60, cwd=cwd, stdin=subprocess.DEVNULL)
    assert cp.returncode == 0, cp.stderr
    return json.loads(cp.stdout)


def test_config_file_precedence(opensts_bin_path, tmp_path):
    cfg = tmp_path / "opensts.toml"
    cfg.write_text(
        'region = "eu-west-1"\n'
        'listen = "127.0.0.1:0"\n'
        'rate-per-account = 7\n'
        'rate_per_source = 70.5\n'
        'audit-log = "audit.jsonl"\n'
        'log-format = "json"\n'
        'master-key = "' + "ab" * 32 + '"\n'
    )
    defaults = _print_config(opensts_bin_path, tmp_path)
    assert defaults["region"] == "us-east-1" and defaults["rate-per-account"] == 600 and defaults["audit-log"] is None
    c = _print_config(opensts_bin_path, tmp_path, "--config", str(cfg), "--rate-per-account", "9",
                      env={"OPENSTS_REGION": "ap-south-1", "OPENSTS_BURST_PER_SOURCE": "11"})
    assert c["region"] == "ap-south-1", "env > file"
    assert c["rate-per-account"] == 9, "flag > file"
    assert c["rate-per-source"] == 70.5, "file > default (snake_case key)"
    assert c["burst-per-source"] == 11, "env > default"
    assert c["listen"] == "127.0.0.1:0" and c["audit-log"] == "audit.jsonl" and c["log-format"] == "json"
    assert c["master-key"] == "***", "secrets are masked"
    # flag > env, and OPENSTS_CONFIG names the file
    c = _print_config(opensts_bin_path, tmp_path, "--region", "sa-east-1",
                      env={"OPENSTS_REGION": "ap-south-1", "OPENSTS_CONFIG": str(cfg)})
    assert c["region"] == "sa-east-1" and c["rate-per-account"] == 7
    # typos are errors
    bad = tmp_path / "bad.toml"
    bad.write_text('lisen = "127.0.0.1:1"\n')
    e = clean_env()
    cp = subprocess.run([str(opensts_bin_path), "serve", "--config", str(bad)], env=e, capture_output=True,
                        text=True, timeout=60, cwd=tmp_path, stdin=subprocess.DEVNULL)
    assert cp.returncode != 0 and "lisen" in cp.stderr


def test_server_runs_from_config_file_with_json_logs(server_factory, tmp_path):
    cfg = tmp_path / "server.toml"
    audit = tmp_path / "from-config.log"
    cfg.write_text(f'audit-log = "{audit}"\nmetrics-listen = "127.0.0.1:0"\nlog-format = "json"\n')
    srv = server_factory(name="cfg", args=["--config", str(cfg)])
    srv.sts().get_caller_identity()
    eventually(lambda: _exactly(read_events(audit), 1), timeout=5)
    assert "opensts_requests_total" in requests.get(metrics_url(srv), timeout=10).text
    srv.stop()
    lines = [ln for ln in srv.stderr_path.read_text().splitlines() if ln.startswith("{")]
    assert lines, srv.stderr_tail()
    for ln in lines:
        obj = json.loads(ln)
        assert {"timestamp", "level", "target"} <= obj.keys(), obj
    assert any("draining" in json.loads(ln).get("message", "") for ln in lines)


def test_sigterm_drains_in_flight_request(server_factory):
    srv = server_factory(name="drain")
    req = srv.prepare_signed(gci_params())
    body = req.body if isinstance(req.body, bytes) else (req.body or "").encode()
    target = urllib.parse.urlsplit(req.url)
    head = f"POST {target.path or '/'} HTTP/1.1\r\nHost: {target.netloc}\r\n" + "".join(
        f"{k}: {v}\r\n" for k, v in req.headers.items() if k.lower() != "content-length"
    ) + f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
    with socket.create_connection(("127.0.0.1", srv.port), timeout=20) as s:
        s.sendall(head.encode() + body[:10])
        time.sleep(0.3)
        srv.proc.send_signal(signal.SIGTERM)
        time.sleep(0.7)
        assert srv.alive, "the server must wait for the in-flight request"
        # new connections are refused while draining
        with pytest.raises(OSError):
            socket.create_connection(("127.0.0.1", srv.port), timeout=2).close()
        s.sendall(body[10:])
        data = b""
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
    assert data.startswith(b"HTTP/1.1 200"), data[:300]
    assert b"<Arn>" + srv.root_arn().encode() + b"</Arn>" in data
    srv.proc.wait(timeout=10)
    assert srv.proc.returncode == 0
