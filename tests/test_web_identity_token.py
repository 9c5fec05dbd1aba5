"""GetWebIdentityToken end to end: OpenSTS as an OpenID Connect issuer (outbound federation).

* The IAM switch (Enable/Disable/GetOutboundWebIdentityFederationInfo) per account.
* boto3 `get_web_identity_token` (and the aws CLI); the token is verified by PyJWT using only
  the discovery document and the JWKS fetched over HTTP from the server's public endpoints.
* Claims (issuer per account, sub, aud, iat/nbf/exp/jti, the "https://sts.amazonaws.com/"
  namespace with account, region, principal/request tags and source identity).
* Errors: OutboundWebIdentityFederationDisabledException, SessionDurationEscalationException,
  JWTPayloadSizeExceededException, validation, authorization with sts:IdentityTokenAudience /
  sts:DurationSeconds.
* Key rotation with `opensts keys rotate --purpose jwks` (old tokens keep verifying).
* Round trip: a token is accepted by the server's own AssumeRoleWithWebIdentity once the
  account registers its issuer URL as an IAM OIDC provider (server run with an https issuer
  base URL).
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import json
import ssl
import subprocess
import time
from pathlib import Path

import botocore.exceptions
import jwt
import pytest
import requests
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from harness import (
    STS_VERSION,
    Creds,
    OpenSTSServer,
    eventually,
    parse_xml,
    random_account_id,
    unique,
)

NS = "https://sts.amazonaws.com/"
AUD = "https://api.example.com"
ALGS = ("RS256", "ES384")


# --------------------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------------------

def client_error(fn, *args, **kw) -> botocore.exceptions.ClientError:
    with pytest.raises(botocore.exceptions.ClientError) as ei:
        fn(*args, **kw)
    return ei.value


def assert_code(err: botocore.exceptions.ClientError, code: str, status: int) -> None:
    e = err.response["Error"]
    got = (e.get("Code"), err.response["ResponseMetadata"]["HTTPStatusCode"])
    assert got == (code, status), f"expected {code}/{status}, got {got}: {e.get('Message')!r}"


def new_account(srv: OpenSTSServer) -> tuple[str, Creds]:
    """A fresh account (via `opensts account create`) and its root credentials."""
    acct = random_account_id()
    out = srv.create_account(acct)
    creds = Creds(out["AccessKeyId"], out["SecretAccessKey"])

    def ready():
        try:
            return srv.sts(creds).get_caller_identity()["Account"]
        except botocore.exceptions.ClientError as e:
            raise AssertionError(str(e)) from None

    assert eventually(ready, timeout=5, what="new account visible") == acct
    return acct, creds


def enable(srv: OpenSTSServer, creds: Creds) -> str:
    return srv.iam(creds).enable_outbound_web_identity_federation()["IssuerIdentifier"]


def make_user(srv: OpenSTSServer, root: Creds, policy: dict | None, tags=()) -> tuple[dict, Creds]:
    iam = srv.iam(root)
    name = unique("wit")
    user = iam.create_user(UserName=name, Tags=list(tags))["User"] if tags else iam.create_user(UserName=name)["User"]
    if policy is not None:
        iam.put_user_policy(UserName=name, PolicyName="p", PolicyDocument=json.dumps(policy))
    creds = Creds.from_access_key(iam.create_access_key(UserName=name)["AccessKey"])
    return user, creds


def allow(action, resource="*", condition=None) -> dict:
    st = {"Effect": "Allow", "Action": action, "Resource": resource}
    if condition:
        st["Condition"] = condition
    return {"Version": "2012-10-17", "Statement": [st]}


def get_token(srv: OpenSTSServer, creds: Creds, **kw) -> dict:
    kw.setdefault("Audience", [AUD])
    kw.setdefault("SigningAlgorithm", "RS256")
    return srv.sts(creds).get_web_identity_token(**kw)


def retrying(fn, timeout=5.0):
    """Call fn until it stops raising ClientError (an IAM change propagating, ≤ 1 s)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            return fn()
        except botocore.exceptions.ClientError:
            if time.monotonic() >= deadline:
                raise
            time.sleep(0.1)


def discovery(issuer: str) -> requests.Response:
    return requests.get(issuer + "/.well-known/openid-configuration", timeout=10)


def verify_with_discovery(issuer: str, token: str, audience: str = AUD, ca_file: Path | None = None) -> dict:
    """What a third party does: discovery → jwks_uri → key by kid → PyJWT decode."""
    resp = requests.get(issuer + "/.well-known/openid-configuration", timeout=10,
                        verify=str(ca_file) if ca_file else True)
    assert resp.status_code == 200, resp.text
    cfg = resp.json()
    assert cfg["issuer"] == issuer
    ctx = ssl.create_default_context(cafile=str(ca_file)) if ca_file else None
    client = jwt.PyJWKClient(cfg["jwks_uri"], cache_keys=False, cache_jwk_set=False, ssl_context=ctx)
    key = client.get_signing_key_from_jwt(token)
    return jwt.decode(token, key.key, algorithms=list(ALGS), audience=audience, issuer=issuer,
                      options={"require": ["exp", "iat", "nbf", "iss", "aud", "sub", "jti"]})


def jwks(issuer: str) -> dict:
    r = requests.get(issuer + "/.well-known/jwks.json", timeout=10)
    assert r.status_code == 200, r.text
    return r.json()


def header(token: str) -> dict:
    return jwt.get_unverified_header(token)


# --------------------------------------------------------------------------------------
# fixtures
# --------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def srv(tmp_path_factory, opensts_bin_path):
    base = tmp_path_factory.mktemp("wit")
    s = OpenSTSServer(data_dir=base / "data", work_dir=base / "work", bin_path=opensts_bin_path, name="wit")
    s.start()
    try:
        yield s
    finally:
        s.stop(timeout=10)


@pytest.fixture(scope="module")
def enabled(srv):
    """The default account with outbound federation enabled; returns its issuer."""
    return enable(srv, srv.root)


# --------------------------------------------------------------------------------------
# the switch
# --------------------------------------------------------------------------------------

def test_disabled_until_enabled_then_info_and_disable(srv):
    acct, root = new_account(srv)
    iam = srv.iam(root)
    issuer = f"{srv.endpoint}/accounts/{acct}"

    assert_code(client_error(get_token, srv, root), "OutboundWebIdentityFederationDisabledException", 403)
    assert_code(client_error(iam.get_outbound_web_identity_federation_info), "FeatureDisabled", 404)
    assert_code(client_error(iam.disable_outbound_web_identity_federation), "FeatureDisabled", 404)
    # Not published before the first Enable.
    assert discovery(issuer).status_code == 404
    assert requests.get(issuer + "/.well-known/jwks.json", timeout=10).status_code == 404

    assert iam.enable_outbound_web_identity_federation()["IssuerIdentifier"] == issuer
    assert_code(client_error(iam.enable_outbound_web_identity_federation), "FeatureEnabled", 409)
    info = iam.get_outbound_web_identity_federation_info()
    assert (info["IssuerIdentifier"], info["JwtVendingEnabled"]) == (issuer, True)
    tok = retrying(lambda: get_token(srv, root))["WebIdentityToken"]

    iam.disable_outbound_web_identity_federation()
    info = iam.get_outbound_web_identity_federation_info()
    assert (info["IssuerIdentifier"], info["JwtVendingEnabled"]) == (issuer, False)
    eventually(lambda: assert_code(client_error(get_token, srv, root),
                                   "OutboundWebIdentityFederationDisabledException", 403), timeout=5)
    # Tokens issued before stay verifiable: discovery and JWKS stay up.
    assert verify_with_discovery(issuer, tok)["sub"] == f"arn:aws:iam::{acct}:root"
    assert_code(client_error(iam.disable_outbound_web_identity_federation), "FeatureDisabled", 404)

    iam.enable_outbound_web_identity_federation()
    retrying(lambda: get_token(srv, root))
    # The switch is per account: another fresh account is still disabled.
    _, other = new_account(srv)
    assert_code(client_error(get_token, srv, other), "OutboundWebIdentityFederationDisabledException", 403)


def test_switch_needs_iam_permissions(srv):
    acct, root = new_account(srv)
    _, nobody = make_user(srv, root, None)
    iam = srv.iam(nobody)
    assert_code(client_error(iam.enable_outbound_web_identity_federation), "AccessDenied", 403)
    assert_code(client_error(iam.get_outbound_web_identity_federation_info), "AccessDenied", 403)
    _, admin = make_user(srv, root, allow(["iam:EnableOutboundWebIdentityFederation",
                                           "iam:GetOutboundWebIdentityFederationInfo"]))
    out = retrying(lambda: srv.iam(admin).enable_outbound_web_identity_federation())
    assert out["IssuerIdentifier"] == f"{srv.endpoint}/accounts/{acct}"
    assert srv.iam(admin).get_outbound_web_identity_federation_info()["JwtVendingEnabled"] is True


# --------------------------------------------------------------------------------------
# tokens, verified by a third-party library from discovery + JWKS only
# --------------------------------------------------------------------------------------

@pytest.mark.parametrize("alg", ALGS)
def test_token_verifies_with_pyjwt_from_discovery(srv, enabled, alg):
    acct = srv.account_id
    user, creds = make_user(srv, srv.root, allow("sts:GetWebIdentityToken"),
                            tags=[{"Key": "team", "Value": "data"}])
    before = int(time.time())
    out = retrying(lambda: get_token(srv, creds, Audience=[AUD, "second-audience"], SigningAlgorithm=alg,
                                     DurationSeconds=600, Tags=[{"Key": "job", "Value": "42"},
                                                                {"Key": "env", "Value": "test"}]))
    token = out["WebIdentityToken"]
    assert enabled == f"{srv.endpoint}/accounts/{acct}"
    h = header(token)
    assert (h["alg"], h["typ"]) == (alg, "JWT") and h["kid"]

    claims = verify_with_discovery(enabled, token)
    assert claims["iss"] == enabled
    assert claims["sub"] == user["Arn"]
    assert claims["aud"] == [AUD, "second-audience"]
    assert claims["iat"] == claims["nbf"]
    assert before - 2 <= claims["iat"] <= int(time.time()) + 2
    assert claims["exp"] - claims["iat"] == 600
    assert isinstance(claims["jti"], str) and len(claims["jti"]) >= 16
    exp = out["Expiration"]
    assert isinstance(exp, dt.datetime)
    assert int(exp.timestamp()) == claims["exp"]
    assert claims[NS] == {
        "aws_account": acct,
        "source_region": srv.region,
        "principal_tags": {"team": "data"},
        "request_tags": {"job": "42", "env": "test"},
    }
    # The other audience verifies too; a foreign one does not.
    verify_with_discovery(enabled, token, audience="second-audience")
    with pytest.raises(jwt.InvalidAudienceError):
        verify_with_discovery(enabled, token, audience="someone-else")
    # Every token gets its own jti.
    again = get_token(srv, creds, SigningAlgorithm=alg)["WebIdentityToken"]
    c2 = verify_with_discovery(enabled, again)
    assert c2["jti"] != claims["jti"]
    assert c2["aud"] == AUD  # one audience: a string
    assert c2["exp"] - c2["iat"] == 300  # the default
    assert "request_tags" not in c2[NS]


def test_discovery_and_jwks_documents(srv, enabled):
    r = discovery(enabled)
    assert r.status_code == 200
    assert r.headers["Content-Type"].startswith("application/json")
    cc = r.headers["Cache-Control"]
    assert cc.startswith("public") and "max-age=" in cc
    cfg = r.json()
    assert cfg["issuer"] == enabled
    assert cfg["jwks_uri"] == enabled + "/.well-known/jwks.json"
    assert set(cfg["id_token_signing_alg_values_supported"]) == set(ALGS)
    assert "public" in cfg["subject_types_supported"]
    assert "id_token" in cfg["response_types_supported"]

    r = requests.get(cfg["jwks_uri"], timeout=10)
    assert r.status_code == 200
    cc = r.headers["Cache-Control"]
    assert cc.startswith("public") and "max-age=" in cc
    keys = r.json()["keys"]
    by_alg = {k["alg"]: k for k in keys}
    assert set(by_alg) == set(ALGS)
    assert by_alg["RS256"]["kty"] == "RSA" and by_alg["RS256"]["e"] and len(by_alg["RS256"]["n"]) >= 342
    assert by_alg["ES384"]["kty"] == "EC" and by_alg["ES384"]["crv"] == "P-384"
    assert all(k["use"] == "sig" for k in keys)
    assert len({k["kid"] for k in keys}) == len(keys)
    for k in keys:  # no private members
        assert not {"d", "p", "q", "dp", "dq", "qi"} & set(k)
    # Public: no signature needed, and unknown issuers are 404.
    assert requests.get(f"{srv.endpoint}/accounts/000000000000/.well-known/jwks.json", timeout=10).status_code == 404
    assert requests.get(f"{srv.endpoint}/accounts/nope/.well-known/openid-configuration", timeout=10).status_code == 404


def test_cli_get_web_identity_token(srv, enabled):
    # (aws CLI v1 would fetch an http(s):// parameter value as a URL: use a plain audience.)
    out = srv.aws("sts", "get-web-identity-token", "--audience", "my-service", "other-service",
                  "--signing-algorithm", "ES384", "--duration-seconds", "120")
    claims = verify_with_discovery(enabled, out["WebIdentityToken"], audience="my-service")
    assert claims["aud"] == ["my-service", "other-service"]
    assert claims["sub"] == f"arn:aws:iam::{srv.account_id}:root"
    assert claims["exp"] - claims["iat"] == 120
    assert "principal_tags" not in claims[NS]


def test_role_session_claims_and_duration_escalation(srv, enabled):
    acct = srv.account_id
    iam = srv.iam()
    user, ucreds = make_user(srv, srv.root, None)
    role_name = unique("witrole")
    trust = {"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Principal": {"AWS": user["Arn"]},
        "Action": ["sts:AssumeRole", "sts:TagSession", "sts:SetSourceIdentity"]}]}
    role = iam.create_role(RoleName=role_name, Path="/svc/", AssumeRolePolicyDocument=json.dumps(trust),
                           Tags=[{"Key": "team", "Value": "role-team"}, {"Key": "env", "Value": "prod"}])["Role"]
    iam.put_role_policy(RoleName=role_name, PolicyName="p", PolicyDocument=json.dumps(allow("sts:GetWebIdentityToken")))

    def assume():
        return srv.sts(ucreds).assume_role(
            RoleArn=role["Arn"], RoleSessionName="sess1", DurationSeconds=900, SourceIdentity="alice",
            Tags=[{"Key": "team", "Value": "session-team"}])["Credentials"]

    sess = Creds.from_sts(retrying(assume))
    out = retrying(lambda: get_token(srv, sess, SigningAlgorithm="ES384", DurationSeconds=600))
    claims = verify_with_discovery(enabled, out["WebIdentityToken"])
    # As AWS: the subject of a role session is the role's ARN.
    assert claims["sub"] == role["Arn"] == f"arn:aws:iam::{acct}:role/svc/{role_name}"
    assert claims[NS]["aws_account"] == acct
    assert claims[NS]["principal_tags"] == {"team": "session-team", "env": "prod"}
    assert claims[NS]["source_identity"] == "alice"

    # The token may not outlive the 900-second session.
    err = client_error(get_token, srv, sess, DurationSeconds=3600)
    assert_code(err, "SessionDurationEscalationException", 403)
    # Without DurationSeconds the default (300 s) fits.
    c = verify_with_discovery(enabled, get_token(srv, sess)["WebIdentityToken"])
    assert c["exp"] - c["iat"] == 300


def test_payload_size_limit(srv, enabled):
    tags = [{"Key": f"k{i:02d}" + "x" * 100, "Value": "v" * 256} for i in range(50)]
    assert_code(client_error(get_token, srv, srv.root, Tags=tags), "JWTPayloadSizeExceededException", 400)
    # A few tags are fine.
    get_token(srv, srv.root, Tags=tags[:3])


def test_validation(srv, enabled):
    sts = srv.sts(parameter_validation=False)
    cases = [
        dict(Audience=[AUD], SigningAlgorithm="HS256"),
        dict(Audience=[AUD], SigningAlgorithm="rs256"),
        dict(Audience=[AUD], SigningAlgorithm="RS256", DurationSeconds=59),
        dict(Audience=[AUD], SigningAlgorithm="RS256", DurationSeconds=3601),
        dict(Audience=[f"a{i}" for i in range(11)], SigningAlgorithm="RS256"),
        dict(Audience=["x" * 1001], SigningAlgorithm="RS256"),
        dict(Audience=[AUD]),
        dict(SigningAlgorithm="RS256"),
    ]
    for kw in cases:
        assert_code(client_error(sts.get_web_identity_token, **kw), "ValidationError", 400)
    err = client_error(sts.get_web_identity_token, Audience=[AUD], SigningAlgorithm="RS256",
                       Tags=[{"Key": "aws:x", "Value": "y"}])
    assert err.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    # Bounds are inclusive.
    for d in (60, 3600):
        c = verify_with_discovery(enabled, get_token(srv, srv.root, DurationSeconds=d)["WebIdentityToken"])
        assert c["exp"] - c["iat"] == d


def test_authorization_with_audience_and_duration_conditions(srv, enabled):
    _, nobody = make_user(srv, srv.root, None)
    err = retrying(lambda: client_error(get_token, srv, nobody))
    assert_code(err, "AccessDenied", 403)
    assert "sts:GetWebIdentityToken" in err.response["Error"]["Message"]

    policy = allow("sts:GetWebIdentityToken", condition={
        "ForAllValues:StringEquals": {"sts:IdentityTokenAudience": AUD},
        "NumericLessThanEquals": {"sts:DurationSeconds": 300}})
    _, limited = make_user(srv, srv.root, policy)
    retrying(lambda: get_token(srv, limited))  # default duration 300, allowed audience
    get_token(srv, limited, DurationSeconds=300)
    assert_code(client_error(get_token, srv, limited, DurationSeconds=600), "AccessDenied", 403)
    assert_code(client_error(get_token, srv, limited, Audience=["https://evil.example"]), "AccessDenied", 403)
    assert_code(client_error(get_token, srv, limited, Audience=[AUD, "https://evil.example"]), "AccessDenied", 403)

    # Credentials from GetSessionToken may call only AssumeRole / GetCallerIdentity.
    _, full = make_user(srv, srv.root, allow("sts:GetWebIdentityToken"))
    retrying(lambda: get_token(srv, full))
    sess = srv.session_for(full, duration=900)
    assert_code(client_error(get_token, srv, sess), "AccessDenied", 403)


# --------------------------------------------------------------------------------------
# rotation
# --------------------------------------------------------------------------------------

def run_keys(srv: OpenSTSServer, *args: str) -> subprocess.CompletedProcess:
    return srv.run_opensts("keys", *args, "--data-dir", str(srv.data_dir))


def test_rotation_keeps_old_tokens_verifiable(srv, enabled):
    if run_keys(srv, "list").returncode != 0:
        pytest.skip("this opensts binary has no `keys` subcommand")
    old = {alg: get_token(srv, srv.root, SigningAlgorithm=alg)["WebIdentityToken"] for alg in ALGS}
    old_kids = {alg: header(t)["kid"] for alg, t in old.items()}

    cp = run_keys(srv, "rotate", "--purpose", "jwks")
    assert cp.returncode == 0, cp.stderr[-2000:]

    def rotated():
        kids = {k["kid"] for k in jwks(enabled)["keys"]}
        assert len(kids) == 4, kids
        return kids

    kids = eventually(rotated, timeout=5, what="new keys published")
    assert set(old_kids.values()) <= kids
    for alg in ALGS:
        new = eventually(lambda: _new_kid_token(srv, alg, old_kids[alg]), timeout=5)
        assert header(new)["kid"] in kids
        # Old and new tokens verify from discovery + JWKS.
        verify_with_discovery(enabled, old[alg])
        verify_with_discovery(enabled, new)

    listed = json.loads(run_keys(srv, "list").stdout)
    jw = [k for k in listed if k["purpose"].startswith("jwks-")]
    assert sorted((k["purpose"], k["state"]) for k in jw) == sorted(
        [("jwks-rs256", "retired"), ("jwks-rs256", "current"), ("jwks-es384", "retired"), ("jwks-es384", "current")])


def _new_kid_token(srv, alg, old_kid):
    t = get_token(srv, srv.root, SigningAlgorithm=alg)["WebIdentityToken"]
    assert header(t)["kid"] != old_kid
    return t


# --------------------------------------------------------------------------------------
# round trip into the server's own AssumeRoleWithWebIdentity
# --------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def https_issuer_srv(tmp_path_factory, opensts_bin_path):
    """A server whose issuer base URL is https (IAM accepts only https OIDC providers)."""
    base = tmp_path_factory.mktemp("wit-rt")
    s = OpenSTSServer(data_dir=base / "data", work_dir=base / "work", bin_path=opensts_bin_path, name="wit-rt",
                      args=["--issuer-base-url", "https://opensts.test/"])
    s.start()
    try:
        yield s
    finally:
        s.stop(timeout=10)


def test_round_trip_into_assume_role_with_web_identity(https_issuer_srv):
    srv = https_issuer_srv
    acct = srv.account_id
    issuer = enable(srv, srv.root)
    assert issuer == f"https://opensts.test/accounts/{acct}"
    # The public endpoints name the configured issuer (served on the real listener).
    cfg = requests.get(f"{srv.endpoint}/accounts/{acct}/.well-known/openid-configuration", timeout=10).json()
    assert cfg["issuer"] == issuer
    assert cfg["jwks_uri"] == issuer + "/.well-known/jwks.json"

    host = issuer.removeprefix("https://")
    iam = srv.iam()
    prov = iam.create_open_id_connect_provider(Url=issuer, ClientIDList=["roundtrip-aud"])
    provider_arn = prov["OpenIDConnectProviderArn"]
    assert provider_arn == f"arn:aws:iam::{acct}:oidc-provider/{host}"
    role_name = unique("rt")
    trust = {"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Principal": {"Federated": provider_arn},
        "Action": "sts:AssumeRoleWithWebIdentity",
        "Condition": {"StringEquals": {f"{host}:aud": "roundtrip-aud",
                                       f"{host}:sub": f"arn:aws:iam::{acct}:root"}}}]}
    role = iam.create_role(RoleName=role_name, AssumeRolePolicyDocument=json.dumps(trust))["Role"]

    token = retrying(lambda: get_token(srv, srv.root, Audience=["roundtrip-aud"], SigningAlgorithm="ES384"))[
        "WebIdentityToken"]

    def assume(tok):
        return srv.unsigned_request({"Action": "AssumeRoleWithWebIdentity", "Version": STS_VERSION,
                                     "RoleArn": role["Arn"], "RoleSessionName": "roundtrip",
                                     "WebIdentityToken": tok})

    resp = assume(token)
    assert resp.status_code == 200, resp.text
    x = parse_xml(resp.content)
    r = x.find("AssumeRoleWithWebIdentityResult")
    assert r.findtext("SubjectFromWebIdentityToken") == f"arn:aws:iam::{acct}:root"
    assert r.findtext("Provider") == provider_arn
    assert r.findtext("Audience") == "roundtrip-aud"
    assert r.findtext("AssumedRoleUser/Arn") == f"arn:aws:sts::{acct}:assumed-role/{role_name}/roundtrip"
    creds = Creds(r.findtext("Credentials/AccessKeyId"), r.findtext("Credentials/SecretAccessKey"),
                  r.findtext("Credentials/SessionToken"))
    assert srv.sts(creds).get_caller_identity()["Arn"].endswith(f":assumed-role/{role_name}/roundtrip")

    # RS256 works as well; a token for another audience is refused by the provider.
    rs = get_token(srv, srv.root, Audience=["roundtrip-aud"], SigningAlgorithm="RS256")["WebIdentityToken"]
    assert assume(rs).status_code == 200
    other = get_token(srv, srv.root, Audience=["not-registered"])["WebIdentityToken"]
    resp = assume(other)
    assert resp.status_code == 400, resp.text
    assert parse_xml(resp.content).findtext("Error/Code") == "InvalidIdentityToken"


# --------------------------------------------------------------------------------------
# over HTTPS: one OpenSTS (TLS, default https issuer) federates into another one, which
# fetches discovery + JWKS over HTTPS like any OIDC relying party
# --------------------------------------------------------------------------------------

def _test_ca(directory: Path) -> tuple[Path, Path, Path]:
    """A throw-away CA and a leaf for 127.0.0.1/localhost: (ca file, chain file, key file)."""
    directory.mkdir(parents=True, exist_ok=True)
    now = dt.datetime.now(dt.timezone.utc)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "OpenSTS outbound federation test CA")])
    ca = (x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name)
          .public_key(ca_key.public_key()).serial_number(x509.random_serial_number())
          .not_valid_before(now - dt.timedelta(hours=1)).not_valid_after(now + dt.timedelta(days=1))
          .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
          .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True,
                                       content_commitment=False, key_encipherment=False, data_encipherment=False,
                                       key_agreement=False, encipher_only=False, decipher_only=False), critical=True)
          .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
          .sign(ca_key, hashes.SHA256()))
    key = ec.generate_private_key(ec.SECP256R1())
    leaf = (x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")]))
            .issuer_name(ca_name).public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(hours=1)).not_valid_after(now + dt.timedelta(days=1))
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.SubjectAlternativeName([
                x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
            .sign(ca_key, hashes.SHA256()))
    ca_file, chain, keyf = directory / "ca.pem", directory / "chain.pem", directory / "key.pem"
    ca_file.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    chain.write_bytes(leaf.public_bytes(serialization.Encoding.PEM) + ca.public_bytes(serialization.Encoding.PEM))
    keyf.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                       serialization.NoEncryption()))
    keyf.chmod(0o600)
    return ca_file, chain, keyf


def test_https_issuer_verified_by_pyjwt_and_by_another_opensts(server_factory, tmp_path):
    ca_file, chain, key = _test_ca(tmp_path / "pki")
    try:
        issuing = server_factory(name="issuing-tls", args=["--tls-cert", str(chain), "--tls-key", str(key)],
                                 ca_bundle=ca_file)
    except TypeError:
        pytest.skip("this harness cannot run TLS servers")
    if not issuing.endpoint.startswith("https://"):
        pytest.skip("this opensts binary does not serve TLS")
    relying = server_factory(name="relying", args=["--ca-file", str(ca_file)])

    # The issuer URL defaults to https://<listen address> when serving TLS.
    issuer = enable(issuing, issuing.root)
    assert issuer == f"{issuing.endpoint}/accounts/{issuing.account_id}"
    token = get_token(issuing, issuing.root, Audience=["cross-aud"], SigningAlgorithm="RS256")["WebIdentityToken"]
    # A third-party library over HTTPS, trusting only the test CA.
    claims = verify_with_discovery(issuer, token, audience="cross-aud", ca_file=ca_file)
    assert claims["sub"] == f"arn:aws:iam::{issuing.account_id}:root"

    # Another deployment registers the issuer and fetches its discovery + JWKS over HTTPS.
    host = issuer.removeprefix("https://")
    iam = relying.iam()
    arn = iam.create_open_id_connect_provider(Url=issuer, ClientIDList=["cross-aud"])["OpenIDConnectProviderArn"]
    trust = {"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Principal": {"Federated": arn}, "Action": "sts:AssumeRoleWithWebIdentity",
        "Condition": {"StringEquals": {f"{host}:aud": "cross-aud"}}}]}
    role = iam.create_role(RoleName=unique("cross"), AssumeRolePolicyDocument=json.dumps(trust))["Role"]

    def assume(tok):
        return relying.unsigned_request({"Action": "AssumeRoleWithWebIdentity", "Version": STS_VERSION,
                                         "RoleArn": role["Arn"], "RoleSessionName": "cross",
                                         "WebIdentityToken": tok})

    resp = eventually(lambda: _ok(assume(token)), timeout=5)
    r = parse_xml(resp.content).find("AssumeRoleWithWebIdentityResult")
    assert r.findtext("SubjectFromWebIdentityToken") == f"arn:aws:iam::{issuing.account_id}:root"
    assert r.findtext("Provider") == arn
    es = get_token(issuing, issuing.root, Audience=["cross-aud"], SigningAlgorithm="ES384")["WebIdentityToken"]
    _ok(assume(es))


def _ok(resp: requests.Response) -> requests.Response:
    assert resp.status_code == 200, resp.text
    return resp
