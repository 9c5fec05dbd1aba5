"""STS end to end: GetCallerIdentity, GetSessionToken, GetAccessKeyInfo, presigned URLs and SigV4 errors,
driven with the real aws CLI v1, boto3/botocore and raw HTTP."""

from __future__ import annotations

import base64
import datetime as dt
import urllib.parse

import pytest
import requests
from botocore.exceptions import ClientError

from harness import (
    ACCOUNT_RE,
    AIDA_RE,
    AKIA_RE,
    ASIA_RE,
    EXPIRATION_RE,
    SECRET_RE,
    STS_VERSION,
    Creds,
    assert_client_error,
    assert_error,
    caller_identity_from_xml,
    parse_expiration,
    parse_xml,
    random_akid,
    random_secret,
    unique,
    utcnow,
)

GCI = {"Action": "GetCallerIdentity", "Version": STS_VERSION}
NO_VALIDATION = "[default]\nparameter_validation = false\n"


def check_expiration(text: str, before: dt.datetime, after: dt.datetime, duration: int) -> None:
    exp = parse_expiration(text)
    lo = before + dt.timedelta(seconds=duration - 5)
    hi = after + dt.timedelta(seconds=duration + 5)
    assert lo <= exp <= hi, (
        f"Expiration {text} is not now+{duration}s (expected between {lo:%H:%M:%S} and {hi:%H:%M:%S})")


def root_identity(server) -> dict:
    return {"UserId": server.account_id, "Account": server.account_id, "Arn": server.root_arn()}


# --------------------------------------------------------------------------------------
# GetCallerIdentity
# --------------------------------------------------------------------------------------

def test_root_caller_identity_cli(server):
    assert ACCOUNT_RE.match(server.account_id), server.account_id
    assert AKIA_RE.match(server.root.access_key_id), server.root.access_key_id
    assert SECRET_RE.match(server.root.secret_access_key)
    assert server.aws("sts", "get-caller-identity") == root_identity(server)


def test_user_caller_identity_cli_with_path(server):
    name = unique("alice")
    created = server.aws("iam", "create-user", "--user-name", name, "--path", "/division/")["User"]
    key = server.aws("iam", "create-access-key", "--user-name", name)["AccessKey"]
    creds = Creds.from_access_key(key)
    out = server.aws("sts", "get-caller-identity", creds=creds)
    assert AIDA_RE.match(out["UserId"]), out
    assert out == {
        "UserId": created["UserId"],
        "Account": server.account_id,
        "Arn": f"arn:aws:iam::{server.account_id}:user/division/{name}",
    }


def test_session_caller_identity_root_and_user_cli(server):
    u = server.make_user(path="/division/sub/")
    cases = [
        (server.root, root_identity(server)),
        (u.creds, {"UserId": u.user_id, "Account": server.account_id,
                   "Arn": f"arn:aws:iam::{server.account_id}:user/division/sub/{u.name}"}),
    ]
    for creds, expected in cases:
        c = server.aws("sts", "get-session-token", creds=creds)["Credentials"]
        assert ASIA_RE.match(c["AccessKeyId"]), c
        assert SECRET_RE.match(c["SecretAccessKey"]), c
        assert c["SessionToken"], c
        session = Creds.from_sts(c)
        assert server.aws("sts", "get-caller-identity", creds=session) == expected


def test_caller_identity_boto3_and_raw_xml(server, user):
    ident = server.sts(user.creds).get_caller_identity()
    assert ident["Arn"] == user.arn and ident["UserId"] == user.user_id
    assert ident["ResponseMetadata"]["HTTPStatusCode"] == 200

    r = server.signed_request(GCI, creds=user.creds)
    assert r.headers.get("Content-Type", "").startswith("text/xml"), r.headers
    assert r.headers.get("Date"), "no Date header (SDK clock-skew correction needs it)"
    assert caller_identity_from_xml(r) == {"UserId": user.user_id, "Account": server.account_id, "Arn": user.arn}


def test_get_query_signed_with_authorization_header(server):
    """GET /?Action=... with the Authorization header (not presigned) works too."""
    r = server.signed_request(GCI, method="GET")
    assert caller_identity_from_xml(r)["Arn"] == server.root_arn()


# --------------------------------------------------------------------------------------
# GetSessionToken durations
# --------------------------------------------------------------------------------------

def _session_cli(server, creds, *extra, config_text=""):
    before = utcnow()
    out = server.aws("sts", "get-session-token", *extra, creds=creds, config_text=config_text)
    after = utcnow()
    exp = out["Credentials"]["Expiration"]
    # aws CLI v1 prints the timestamp exactly as received on the wire
    assert EXPIRATION_RE.match(exp), f"Expiration {exp!r} is not YYYY-MM-DDTHH:MM:SSZ"
    return exp, before, after


def test_session_duration_default_user_43200(server, user):
    check_expiration(*_session_cli(server, user.creds), 43200)


@pytest.mark.parametrize("duration", [900, 129600])
def test_session_duration_user_bounds_accepted(server, user, duration):
    check_expiration(*_session_cli(server, user.creds, "--duration-seconds", str(duration)), duration)


def test_session_duration_root_default_is_3600(server):
    check_expiration(*_session_cli(server, server.root), 3600)


def test_session_duration_root_clamped_to_3600(server):
    check_expiration(*_session_cli(server, server.root, "--duration-seconds", "7200"), 3600)


def test_session_duration_root_900(server):
    check_expiration(*_session_cli(server, server.root, "--duration-seconds", "900"), 900)


@pytest.mark.parametrize("duration", [899, 0, 129601, 1000000])
def test_session_duration_out_of_range_validation_error(server, user, duration):
    # botocore checks the model minimum client side: switch that off so the server must answer
    r = server.aws_error("sts", "get-session-token", "--duration-seconds", str(duration),
                         creds=user.creds, config_text=NO_VALIDATION, code="ValidationError")
    assert r.error_message, r.describe()
    with pytest.raises(ClientError) as ei:
        server.sts(user.creds, parameter_validation=False).get_session_token(DurationSeconds=duration)
    assert ei.value.response["Error"]["Code"] == "ValidationError"
    assert ei.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400


def test_session_duration_root_below_minimum(server):
    server.aws_error("sts", "get-session-token", "--duration-seconds", "899", config_text=NO_VALIDATION,
                     code="ValidationError")


def test_session_expiration_wire_format(server, user):
    before = utcnow()
    r = server.signed_request({"Action": "GetSessionToken", "Version": STS_VERSION, "DurationSeconds": "1800"},
                              creds=user.creds)
    after = utcnow()
    assert r.status_code == 200, r.text
    root = parse_xml(r.content)
    assert root.tag == "GetSessionTokenResponse"
    c = root.find("GetSessionTokenResult/Credentials")
    assert c is not None, r.text
    check_expiration(c.findtext("Expiration"), before, after, 1800)
    assert ASIA_RE.match(c.findtext("AccessKeyId"))
    assert r.headers.get("x-amzn-RequestId") == root.findtext("ResponseMetadata/RequestId")


def test_get_session_token_with_session_creds_denied(server, user):
    for creds in (user.creds, server.root):
        session = server.session_for(creds)
        r = server.aws_error("sts", "get-session-token", creds=session, code="AccessDenied")
        assert "Cannot call GetSessionToken with session credentials" in r.error_message, r.describe()
    r = server.signed_request({"Action": "GetSessionToken", "Version": STS_VERSION}, creds=session)
    assert_error(r, "AccessDenied", 403)


# --------------------------------------------------------------------------------------
# GetAccessKeyInfo
# --------------------------------------------------------------------------------------

def test_get_access_key_info_akia_and_asia(server, user):
    session = server.session_for(user.creds)
    for key in (user.creds.access_key_id, session.access_key_id, server.root.access_key_id):
        out = server.aws("sts", "get-access-key-info", "--access-key-id", key)
        assert out == {"Account": server.account_id}, (key, out)
    # any principal may ask
    out = server.aws("sts", "get-access-key-info", "--access-key-id", server.root.access_key_id, creds=session)
    assert out == {"Account": server.account_id}


# --------------------------------------------------------------------------------------
# presigned URLs (boto3) and EKS tokens
# --------------------------------------------------------------------------------------

def test_presigned_get_caller_identity(server, user):
    session = server.session_for(user.creds)
    for creds, arn in ((server.root, server.root_arn()), (user.creds, user.arn), (session, user.arn)):
        url = server.sts(creds).generate_presigned_url("get_caller_identity", Params={}, ExpiresIn=900,
                                                       HttpMethod="GET")
        q = urllib.parse.parse_qs(urllib.parse.urlsplit(url).query)
        assert q["Action"] == ["GetCallerIdentity"] and "X-Amz-Signature" in q, url
        assert ("X-Amz-Security-Token" in q) == bool(creds.session_token)
        r = requests.get(url, timeout=30)
        ident = caller_identity_from_xml(r)
        assert ident["Arn"] == arn and ident["Account"] == server.account_id


def test_presigned_url_tampered_signature(server):
    url = server.sts().generate_presigned_url("get_caller_identity", Params={}, ExpiresIn=900, HttpMethod="GET")
    sig = urllib.parse.parse_qs(urllib.parse.urlsplit(url).query)["X-Amz-Signature"][0]
    bad = sig[:-1] + ("0" if sig[-1] != "0" else "1")
    r = requests.get(url.replace(sig, bad), timeout=30)
    assert_error(r, "SignatureDoesNotMatch", 403)


def _eks_presigned_url(server, creds, cluster):
    """Build the URL exactly as aws-iam-authenticator / `aws eks get-token` do with botocore."""
    sts = server.sts(creds)

    def inject(request, **kwargs):
        request.headers["x-k8s-aws-id"] = cluster

    sts.meta.events.register("before-sign.sts.GetCallerIdentity", inject)
    return sts.generate_presigned_url("get_caller_identity", Params={}, ExpiresIn=60, HttpMethod="GET")


def test_eks_token_botocore(server, user):
    cluster = "demo-cluster"
    url = _eks_presigned_url(server, user.creds, cluster)
    q = urllib.parse.parse_qs(urllib.parse.urlsplit(url).query)
    assert q["X-Amz-SignedHeaders"] == ["host;x-k8s-aws-id"], url

    r = requests.get(url, headers={"x-k8s-aws-id": cluster}, timeout=30)
    assert caller_identity_from_xml(r)["Arn"] == user.arn

    r = requests.get(url, timeout=30)  # header missing
    assert_error(r, "SignatureDoesNotMatch", 403)
    r = requests.get(url, headers={"x-k8s-aws-id": "other-cluster"}, timeout=30)
    assert_error(r, "SignatureDoesNotMatch", 403)


def test_eks_token_from_aws_cli(server, user):
    """`aws eks get-token` (STS endpoint via AWS_ENDPOINT_URL_STS), decoded and replayed like the authenticator."""
    out = server.aws("eks", "get-token", "--cluster-name", "prod", creds=user.creds, endpoint=False,
                     env={"AWS_ENDPOINT_URL_STS": server.endpoint})
    token = out["status"]["token"]
    prefix = "k8s-aws-v1."
    assert token.startswith(prefix), token
    b64 = token[len(prefix):]
    url = base64.urlsafe_b64decode(b64 + "=" * (-len(b64) % 4)).decode()
    assert url.startswith(server.endpoint), url
    r = requests.get(url, headers={"x-k8s-aws-id": "prod"}, timeout=30)
    ident = caller_identity_from_xml(r)
    assert ident == {"UserId": user.user_id, "Account": server.account_id, "Arn": user.arn}
    assert_error(requests.get(url, timeout=30), "SignatureDoesNotMatch", 403)


# --------------------------------------------------------------------------------------
# SigV4 failures: codes and HTTP statuses
# --------------------------------------------------------------------------------------

def test_wrong_secret(server, user):
    bad = user.creds.replace(secret_access_key=random_secret())
    assert_error(server.signed_request(GCI, creds=bad), "SignatureDoesNotMatch", 403)
    server.aws_error("sts", "get-caller-identity", creds=bad, code="SignatureDoesNotMatch")
    with pytest.raises(ClientError) as ei:
        server.sts(bad).get_caller_identity()
    assert ei.value.response["Error"]["Code"] == "SignatureDoesNotMatch"
    assert ei.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403


def test_unknown_access_key(server):
    unknown = Creds(random_akid(), random_secret())
    err = assert_error(server.signed_request(GCI, creds=unknown), "InvalidClientTokenId", 403)
    assert err.message == "The security token included in the request is invalid.", err.message
    server.aws_error("sts", "get-caller-identity", creds=unknown, code="InvalidClientTokenId")


def test_unknown_session_key(server):
    session = server.session_for()
    unknown = session.replace(access_key_id=random_akid("ASIA"))
    assert_error(server.signed_request(GCI, creds=unknown), "InvalidClientTokenId", 403)


def _tamper(token: str, pos: int) -> str:
    ch = token[pos]
    repl = "A" if ch != "A" else "B"
    return token[:pos] + repl + token[pos + 1:]


def test_tampered_session_token(server, user):
    session = server.session_for(user.creds)
    token = session.session_token
    for pos in (len(token) // 2, len(token) - 5, 8):
        bad = session.replace(session_token=_tamper(token, pos))
        assert_error(server.signed_request(GCI, creds=bad), "InvalidClientTokenId", 403)
    for bad_token in (token[: len(token) // 2], token + "AAAA", "not-a-token", "A" * 400):
        bad = session.replace(session_token=bad_token)
        assert_error(server.signed_request(GCI, creds=bad), "InvalidClientTokenId", 403)
    server.aws_error("sts", "get-caller-identity", creds=session.replace(session_token=_tamper(token, len(token) // 2)),
                     code="InvalidClientTokenId")


def test_session_key_without_or_with_foreign_token(server, user):
    a = server.session_for(user.creds)
    b = server.session_for(user.creds)
    # ASIA key without X-Amz-Security-Token
    assert_error(server.signed_request(GCI, creds=a.replace(session_token=None)), "InvalidClientTokenId", 403)
    # a's key + secret with b's token: the token is bound to its access key id
    assert_error(server.signed_request(GCI, creds=a.replace(session_token=b.session_token)),
                 "InvalidClientTokenId", 403)


@pytest.mark.parametrize("minutes,prefix", [(-20, "Signature expired"), (20, "Signature not yet current"),
                                            (-16, "Signature expired"), (16, "Signature not yet current")])
def test_clock_skew_rejected(server, user, minutes, prefix):
    when = utcnow() + dt.timedelta(minutes=minutes)
    r = server.signed_request(GCI, creds=user.creds, when=when)
    assert_error(r, "SignatureDoesNotMatch", 403, message_prefix=prefix)


@pytest.mark.parametrize("minutes", [-10, 10])
def test_clock_skew_within_15_minutes_accepted(server, user, minutes):
    r = server.signed_request(GCI, creds=user.creds, when=utcnow() + dt.timedelta(minutes=minutes))
    assert caller_identity_from_xml(r)["Arn"] == user.arn


def test_clock_skew_boto3(server, user):
    from harness import botocore_clock

    sts = server.sts(user.creds)
    with botocore_clock(utcnow() - dt.timedelta(minutes=20)), pytest.raises(ClientError) as ei:
        sts.get_caller_identity()
    err = ei.value.response["Error"]
    assert err["Code"] == "SignatureDoesNotMatch" and err["Message"].startswith("Signature expired"), err


def test_unsigned_request(server):
    for method in ("POST", "GET"):
        r = server.unsigned_request(GCI, method=method)
        err = assert_error(r, "MissingAuthenticationToken", 403)
        assert err.message == "Request is missing Authentication Token", err.message
    server.aws_error("sts", "get-caller-identity", unsigned=True, code="MissingAuthenticationToken")


def _auth_parts(server, **kw):
    p = server.prepare_signed(GCI, **kw)
    return dict(p.headers.items()), p.body


@pytest.mark.parametrize("mutate", [
    pytest.param(lambda a: a.split(", Signature=")[0], id="no-signature"),
    pytest.param(lambda a: a.replace("SignedHeaders=", "SignedHeaderz="), id="no-signedheaders"),
    pytest.param(lambda a: a.replace(" Credential=", " Credentials="), id="no-credential"),
    pytest.param(lambda a: a.replace("Credential=", "Credential"), id="missing-equals"),
    pytest.param(lambda a: "AWS4-HMAC-SHA256", id="algorithm-only"),
])
def test_malformed_authorization_incomplete_signature(server, mutate):
    headers, body = _auth_parts(server)
    headers["Authorization"] = mutate(headers["Authorization"])
    r = requests.post(server.endpoint + "/", data=body, headers=headers, timeout=30)
    assert_error(r, "IncompleteSignature", 400)


def test_scope_service_must_match(server):
    # an STS action signed for iam, and an IAM action signed for sts
    r = server.signed_request(GCI, service="iam")
    assert_error(r, "SignatureDoesNotMatch", 403)
    r = server.signed_request({"Action": "ListUsers", "Version": "2010-05-08"}, service="sts")
    assert_error(r, "SignatureDoesNotMatch", 403)


def test_unknown_action(server):
    r = server.signed_request({"Action": "FlyToTheMoon", "Version": STS_VERSION})
    assert_error(r, "InvalidAction", 400)
    r = server.signed_request({"Action": "FlyToTheMoon", "Version": "2010-05-08"}, service="iam")
    assert_error(r, "InvalidAction", 400)
    # an IAM action under the STS version (and vice versa) is not an action of that service
    r = server.signed_request({"Action": "ListUsers", "Version": STS_VERSION})
    assert_error(r, "InvalidAction", 400)


@pytest.mark.parametrize("params", [
    pytest.param({"Action": "GetCallerIdentity", "Version": "2099-01-01"}, id="unknown-version"),
    pytest.param({"Action": "GetCallerIdentity"}, id="missing-version"),
    pytest.param({"Action": "GetCallerIdentity", "Version": ""}, id="empty-version"),
])
def test_wrong_or_missing_version(server, params):
    err = assert_client_error(server.signed_request(params))
    assert err.status == 400, (err.status, err.code, err.message)


def test_request_id_header_on_success_and_error(server):
    ok = server.signed_request(GCI)
    assert ok.status_code == 200
    rid = ok.headers.get("x-amzn-RequestId")
    assert rid and parse_xml(ok.content).findtext("ResponseMetadata/RequestId") == rid
    bad = server.unsigned_request(GCI)
    rid2 = bad.headers.get("x-amzn-RequestId")
    assert rid2 and rid2 != rid
    assert parse_xml(bad.content).findtext("RequestId") == rid2
    # boto3 sees the same id
    resp = server.sts().get_caller_identity()
    assert resp["ResponseMetadata"]["RequestId"] == resp["ResponseMetadata"]["HTTPHeaders"]["x-amzn-requestid"]


def test_root_credentials_from_environment(server_factory):
    root = Creds(random_akid(), random_secret())
    srv = server_factory(root_creds=root, account_id="210987654321")
    assert not any("created account" in line or "AWS_SECRET_ACCESS_KEY" in line for line in srv.start_output), \
        srv.start_output
    assert srv.aws("sts", "get-caller-identity", creds=root) == {
        "UserId": "210987654321", "Account": "210987654321", "Arn": "arn:aws:iam::210987654321:root"}


def test_generated_root_for_configured_account_id(server_factory):
    srv = server_factory(env={"OPENSTS_ACCOUNT_ID": "333344445555"}, name="acctid")
    assert srv.account_id == "333344445555", srv.start_output
    assert srv.aws("sts", "get-caller-identity")["Arn"] == "arn:aws:iam::333344445555:root"
