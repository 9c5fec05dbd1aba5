"""200 malformed requests: every answer must be a 4xx with a well-formed ErrorResponse (never a 5xx, never a
dropped connection), and the server must still be alive afterwards.

Every case is invalid under the contract whichever way a server reads it (signed cases carry an invalid
Action/Version/parameter, or an authentication defect), so "4xx" is the only right answer.
Cases are generated from a fixed seed; each case has its own seed, so a case id always means the same bytes.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import http.client
import random
import string
import urllib.parse

import botocore.auth
import pytest
from botocore.awsrequest import AWSRequest

from harness import (
    IAM_VERSION,
    STS_VERSION,
    OpenSTSServer,
    assert_client_error,
    botocore_clock,
    random_akid,
    random_secret,
    Creds,
)

SEED = 20261126
GCI_BODY = f"Action=GetCallerIdentity&Version={STS_VERSION}"
URI_CHARS = string.ascii_letters + string.digits + "-._~:/?[]@!$&'()*+,;=%"
TEXT_CHARS = string.ascii_letters + string.digits + string.punctuation + " "


@dataclasses.dataclass
class Raw:
    method: str
    target: str
    headers: list[tuple[str, str]]
    body: bytes = b""


@dataclasses.dataclass
class Answer:
    status: int
    headers: http.client.HTTPMessage
    body: bytes

    # enough of requests.Response for harness.xml_error / assert_client_error
    @property
    def status_code(self):
        return self.status

    @property
    def content(self):
        return self.body


def send(server: OpenSTSServer, req: Raw) -> Answer:
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
    try:
        conn.putrequest(req.method, req.target, skip_host=True, skip_accept_encoding=True)
        names = {k.lower() for k, _ in req.headers}
        if "host" not in names:
            conn.putheader("Host", f"127.0.0.1:{server.port}")
        for k, v in req.headers:
            conn.putheader(k, v)
        if "content-length" not in names and (req.body or req.method == "POST"):
            conn.putheader("Content-Length", str(len(req.body)))
        conn.putheader("Connection", "close")
        conn.endheaders(req.body or None)
        resp = conn.getresponse()
        return Answer(resp.status, resp.headers, resp.read())
    except (ConnectionError, http.client.HTTPException, TimeoutError) as e:
        raise AssertionError(f"connection dropped / no valid HTTP answer: {type(e).__name__}: {e}") from None
    finally:
        conn.close()


def check_answer(server: OpenSTSServer, req: Raw) -> None:
    ans = send(server, req)
    try:
        err = assert_client_error(ans)
    except AssertionError as e:
        raise AssertionError(f"{e}\nrequest: {req.method} {req.target[:300]!r} headers={req.headers!r} "
                             f"body={req.body[:300]!r}") from None
    assert err.code not in ("InternalFailure", "ServiceUnavailable"), err


# --------------------------------------------------------------------------------------
# request builders
# --------------------------------------------------------------------------------------

def rtext(rng: random.Random, lo: int, hi: int, chars: str = TEXT_CHARS) -> str:
    return "".join(rng.choice(chars) for _ in range(rng.randint(lo, hi)))


def form_headers(extra=()):
    return [("Content-Type", "application/x-www-form-urlencoded; charset=utf-8"), *extra]


def unsigned_post(body: bytes | str, headers=None) -> Raw:
    if isinstance(body, str):
        body = body.encode()
    return Raw("POST", "/", headers if headers is not None else form_headers(), body)


def signed_post(server, body: bytes | str, *, creds=None, service="sts", when=None, content_type=None) -> Raw:
    if isinstance(body, str):
        body = body.encode()
    hdrs = {"Content-Type": content_type or "application/x-www-form-urlencoded; charset=utf-8"}
    req = AWSRequest(method="POST", url=server.endpoint + "/", data=body, headers=hdrs)
    with botocore_clock(when):
        botocore.auth.SigV4Auth((creds or server.root).botocore(), service, server.region).add_auth(req)
    p = req.prepare()
    return Raw("POST", "/", list(p.headers.items()), p.body or b"")


def signed_get(server, query: str, *, creds=None) -> Raw:
    req = AWSRequest(method="GET", url=server.endpoint + "/?" + query, headers={})
    botocore.auth.SigV4Auth((creds or server.root).botocore(), "sts", server.region).add_auth(req)
    p = req.prepare()
    target = urllib.parse.urlsplit(p.url)
    return Raw("GET", target.path + ("?" + target.query if target.query else ""), list(p.headers.items()))


def presigned_query(server, creds=None) -> str:
    req = AWSRequest(method="GET", url=server.endpoint + "/?" + GCI_BODY, headers={})
    botocore.auth.SigV4QueryAuth((creds or server.root).botocore(), "sts", server.region, expires=900).add_auth(req)
    return urllib.parse.urlsplit(req.prepare().url).query


def with_header(raw: Raw, name: str, value: str | None) -> Raw:
    hs = [(k, v) for k, v in raw.headers if k.lower() != name.lower()]
    if value is not None:
        hs.append((name, value))
    return dataclasses.replace(raw, headers=hs)


def get_header(raw: Raw, name: str) -> str:
    return next(v for k, v in raw.headers if k.lower() == name.lower())


def mutate_auth(server, fn) -> Raw:
    raw = signed_post(server, GCI_BODY)
    return with_header(raw, "Authorization", fn(get_header(raw, "Authorization")))


def set_qparam(query: str, name: str, value: str | None, *, append: bool = False) -> str:
    pairs = [p for p in query.split("&") if append or p.split("=", 1)[0] != name]
    if value is not None:
        pairs.append(f"{name}={value}")
    return "&".join(pairs)


# ---- categories ----------------------------------------------------------------------

def c_random_form(server, rng, i):
    pairs = []
    for _ in range(rng.randint(0, 8)):
        k, v = rtext(rng, 0, 20), rtext(rng, 0, 40)
        pairs.append(f"{urllib.parse.quote(k)}={urllib.parse.quote(v)}" if rng.random() < 0.5 else f"{k}={v}")
    # never a real action: a random word, or none at all
    if rng.random() < 0.7:
        pairs.insert(rng.randint(0, len(pairs)), "Action=" + urllib.parse.quote(rtext(rng, 1, 30, string.ascii_letters)) + "Zq")
    if rng.random() < 0.7:
        pairs.insert(rng.randint(0, len(pairs)), "Version=" + rng.choice([STS_VERSION, IAM_VERSION, "x", ""]))
    body = "&".join(pairs)
    return signed_post(server, body) if i % 2 else unsigned_post(body)


def c_binary(server, rng, i):
    body = bytes(rng.getrandbits(8) for _ in range(rng.choice([1, 7, 64, 512, 4096])))
    return signed_post(server, body) if i % 2 else unsigned_post(body)


BROKEN_PCT = [
    "Action=GetCallerIdentity%ZZ&Version=2011-06-15",
    "Action=%&Version=2011-06-15",
    "Action=GetCallerIdentity&Version=2011-06-15%",
    "Action=GetSessionToken&Version=2011-06-15&DurationSeconds=%G900",
    "Action=GetSessionToken&Version=2011-06-15&DurationSeconds=900%",
    "Action%=GetCallerIdentity&Version=2011-06-15",
    "Action=Get%2CallerIdentity&Version=2011-06-15",
    "%%%%%%=%%%%",
    "Action=GetCallerIdentity&Version=2011%2-06-15",
    "Action=%C3%28%E2%82&Version=2011-06-15",
]


def c_broken_pct(server, rng, i):
    body = BROKEN_PCT[i]
    return signed_post(server, body) if i % 3 else unsigned_post(body)


INVALID_UTF8 = [
    b"Action=GetCallerIdentity\xff&Version=2011-06-15",
    b"Action=\xc3\x28&Version=2011-06-15",
    b"Action=%FF%FE&Version=2011-06-15",
    b"Action=CreateUser&Version=2010-05-08&UserName=%FF%FE%FD",
    b"Action=CreateUser&Version=2010-05-08&UserName=\xed\xa0\x80",
    b"Action=GetSessionToken&Version=2011-06-15&DurationSeconds=%C3%28",
    b"Action=GetAccessKeyInfo&Version=2011-06-15&AccessKeyId=AKIA%80%80",
    b"Action=GetCallerIdentity&Version=2011-06-15%C0%80",
    b"\xf8\x88\x80\x80\x80=\xfe",
    b"Action=ListUsers&Version=2010-05-08&PathPrefix=%2F%FF%2F",
]


def c_invalid_utf8(server, rng, i):
    body = INVALID_UTF8[i]
    service = "iam" if b"2010-05-08" in body else "sts"
    return signed_post(server, body, service=service) if i % 4 else unsigned_post(body)


def c_huge(server, rng, i):
    size = [1024, 8192, 32768, 65536][i % 4]
    if i < 4:  # a huge parameter name next to a valid-looking request, unsigned
        return unsigned_post(f"{GCI_BODY}&{'N' * size}=1")
    if i == 4:  # huge name, signed, no Action
        return signed_post(server, f"{'N' * size}=1&Version={STS_VERSION}")
    if i == 5:  # huge Action value, signed
        return signed_post(server, f"Action={'A' * size}&Version={STS_VERSION}")
    if i == 6:  # huge UserName, signed
        return signed_post(server, f"Action=CreateUser&Version={IAM_VERSION}&UserName={'u' * size}", service="iam")
    return signed_post(server, f"Action=GetCallerIdentity&Version={'9' * size}")


def c_auth_missing_parts(server, rng, i):
    muts = [
        lambda a: a.replace("Credential=", "Credentialx="),
        lambda a: a.replace("SignedHeaders=", "SignedHeadersx="),
        lambda a: a.split(", Signature=")[0],
        lambda a: a.split("Credential=")[0] + "Credential=, " + a.split(", ", 1)[1],
        lambda a: a.split(", SignedHeaders=")[0] + ", SignedHeaders=, Signature=" + a.split("Signature=")[1],
        lambda a: a.split("Signature=")[0] + "Signature=",
        lambda a: "AWS4-HMAC-SHA256 Credential=" + a.split("Credential=")[1].split("/")[0] + ", " + a.split(", ", 1)[1],
        lambda a: "AWS4-HMAC-SHA256 Credential=" + "/".join(a.split("Credential=")[1].split("/")[:2]) + ", " + a.split(", ", 1)[1],
        lambda a: a.replace("/sts/aws4_request", "/aws4_request"),
        lambda a: a.replace("/sts/aws4_request", "/sts"),
        lambda a: a.replace(f"/{server.region}/", "/"),
        lambda a: "AWS4-HMAC-SHA256 ",
        lambda a: "",
        lambda a: "AWS4-HMAC-SHA256 " + ", ".join(a.split(", ")[1:]),
        lambda a: a.replace("Credential=", "Credential").replace("Signature=", "Signature"),
    ]
    return mutate_auth(server, muts[i])


def c_wrong_algorithm(server, rng, i):
    algs = ["AWS4-HMAC-SHA512", "AWS4-ECDSA-P256-SHA256", "AWS4-HMAC-SHA1", "AWS3-HTTPS", "AWS4-HMAC-SHA256X",
            "HMAC", None, None]
    if i == 6:
        return mutate_auth(server, lambda a: "Bearer " + rtext(rng, 10, 60, string.ascii_letters))
    if i == 7:
        return mutate_auth(server, lambda a: "Basic dXNlcjpwYXNzd29yZA==")
    return mutate_auth(server, lambda a: a.replace("AWS4-HMAC-SHA256", algs[i], 1))


def c_non_hex_signature(server, rng, i):
    sigs = ["z" * 64, "G" * 64, "0" * 63, "a" * 65, "b" * 128, "0x" + "c" * 62, "-1", "ab" * 16 + "  " + "cd" * 15]
    return mutate_auth(server, lambda a: a.split("Signature=")[0] + "Signature=" + sigs[i])


def c_absurd_date(server, rng, i):
    dates = ["99999999T999999Z", "00000000T000000Z", "20261301T250000Z", "20260230T000000Z", "yesterday", "",
             "1", "20260101T000000", "2026-01-01T00:00:00Z", "9" * 100]
    if i < len(dates):
        raw = signed_post(server, GCI_BODY)
        return with_header(raw, "X-Amz-Date", dates[i])
    when = dt.datetime(1970, 1, 1, tzinfo=dt.timezone.utc) if i == 10 else \
        dt.datetime(9999, 12, 31, 23, 59, 59, tzinfo=dt.timezone.utc)
    return signed_post(server, GCI_BODY, when=when)


def c_duplicates(server, rng, i):
    bodies = [
        f"Action=GetCallerIdentity&Action=GetSessionToken&Version={STS_VERSION}",
        f"Action=GetCallerIdentity&Version={STS_VERSION}&Version={IAM_VERSION}",
        f"{GCI_BODY}&{GCI_BODY}",
        f"Action=CreateUser&Version={IAM_VERSION}&UserName=a&UserName=b",
        f"Action=GetSessionToken&Version={STS_VERSION}&DurationSeconds=900&DurationSeconds=abc",
        f"Action=&Action=GetCallerIdentity&Version={STS_VERSION}",
    ]
    if i < len(bodies):
        return unsigned_post(bodies[i])
    # presigned query with duplicated auth parameters and a wrong signature
    q = presigned_query(server)
    q = set_qparam(q, "X-Amz-Signature", "0" * 64)
    dup = {6: ("X-Amz-Signature", "1" * 64), 7: ("X-Amz-Credential", urllib.parse.quote(f"{random_akid()}/20260101/us-east-1/sts/aws4_request", safe="")),
           8: ("X-Amz-Date", "20260101T000000Z"), 9: ("Action", "GetSessionToken")}[i]
    return Raw("GET", "/?" + set_qparam(q, dup[0], dup[1], append=True), [])


def c_empty_action(server, rng, i):
    cases = [
        (f"Action=&Version={STS_VERSION}", "sts"),
        ("Action=", "sts"),
        ("Action=GetCallerIdentity", "sts"),
        ("Action=GetSessionToken&DurationSeconds=900", "sts"),
        ("Action=CreateUser&UserName=never-created", "iam"),
        (f"Version={STS_VERSION}", "sts"),
        ("", "sts"),
        ("Action", "sts"),
        ("=&=&=", "sts"),
        (f"Version={IAM_VERSION}&Action=", "iam"),
    ]
    body, service = cases[i]
    return signed_post(server, body, service=service)


def c_get_garbage(server, rng, i):
    q = rtext(rng, 0, 200 if i % 5 else 4000, URI_CHARS)
    if i % 2:
        # signed with the Authorization header (the signature covers the garbage query; no real Action)
        return signed_get(server, "Action=" + rtext(rng, 1, 12, string.ascii_letters) + "Zq&" + q)
    return Raw("GET", "/?" + q, [])


def c_invalid_values(server, rng, i):
    sts = [
        "Action=GetSessionToken&Version=2011-06-15&DurationSeconds=abc",
        "Action=GetSessionToken&Version=2011-06-15&DurationSeconds=-1",
        "Action=GetSessionToken&Version=2011-06-15&DurationSeconds=1e5",
        "Action=GetSessionToken&Version=2011-06-15&DurationSeconds=99999999999999999999999",
        "Action=GetSessionToken&Version=2011-06-15&DurationSeconds=9OO",
        "Action=GetSessionToken&Version=2011-06-15&DurationSeconds=900.5",
        "Action=GetSessionToken&Version=2011-06-15&DurationSeconds=0x384",
        "Action=GetSessionToken&Version=2011-06-15&DurationSeconds=%2B%2B900",
        "Action=GetAccessKeyInfo&Version=2011-06-15",
        "Action=GetAccessKeyInfo&Version=2011-06-15&AccessKeyId=",
        "Action=GetAccessKeyInfo&Version=2011-06-15&AccessKeyId=x",
        "Action=GetAccessKeyInfo&Version=2011-06-15&AccessKeyId=" + "A" * 200,
    ]
    iam = [
        "Action=CreateUser&Version=2010-05-08",
        "Action=CreateUser&Version=2010-05-08&UserName=",
        "Action=CreateUser&Version=2010-05-08&UserName=" + "x" * 65,
        "Action=CreateUser&Version=2010-05-08&UserName=a%20b",
        "Action=CreateUser&Version=2010-05-08&UserName=ok-{r}&Path=nopath",
        "Action=ListUsers&Version=2010-05-08&MaxItems=0",
        "Action=ListUsers&Version=2010-05-08&MaxItems=-1",
        "Action=ListUsers&Version=2010-05-08&MaxItems=abc",
        "Action=ListUsers&Version=2010-05-08&MaxItems=1001",
        "Action=UpdateAccessKey&Version=2010-05-08&AccessKeyId=AKIAAAAAAAAAAAAAAAAA",
        "Action=DeleteUser&Version=2010-05-08&UserName=",
        "Action=CreateUser&Version=2010-05-08&UserName=ok-{r}&Tags.member.1.Value=v",
    ]
    body = (sts + iam)[i].replace("{r}", rtext(rng, 8, 8, string.ascii_lowercase))
    return signed_post(server, body, service="iam" if "2010-05-08" in body else "sts")


def c_content_types(server, rng, i):
    if i == 0:
        return signed_post(server, '{"Action": "FlyZq", "Version": "2011-06-15"}', content_type="application/json")
    if i == 1:
        return signed_post(server, "--b\r\nContent-Disposition: form-data; name=\"Action\"\r\n\r\nFlyZq\r\n--b--\r\n",
                           content_type="multipart/form-data; boundary=b")
    if i == 2:
        return signed_post(server, "<Action>GetCallerIdentity</Action>", content_type="text/xml")
    if i == 3:
        return signed_post(server, "Action=FlyZq&Version=2011-06-15", content_type="text/plain")
    if i == 4:
        return signed_post(server, rtext(rng, 10, 100), content_type="a/b/c;;;==")
    if i == 5:
        return unsigned_post(GCI_BODY, headers=[])
    if i == 6:
        return unsigned_post(GCI_BODY, headers=[("Content-Type", "text/plain")])
    if i == 7:
        return unsigned_post('{"Action":"GetCallerIdentity"}', headers=[("Content-Type", "application/json")])
    if i == 8:
        return unsigned_post(GCI_BODY, headers=form_headers([("Content-Encoding", "gzip")]))
    return unsigned_post(GCI_BODY, headers=[("Content-Type", "a/b/c;;;==")])


def c_presigned(server, rng, i):
    q = presigned_query(server)
    cred = urllib.parse.parse_qs(q)["X-Amz-Credential"][0]
    if i == 0:
        q = set_qparam(q, "X-Amz-Credential", urllib.parse.quote(cred.split("/")[0], safe=""))
    elif i == 1:
        q = set_qparam(q, "X-Amz-SignedHeaders", "")
    elif i == 2:
        q = set_qparam(q, "X-Amz-SignedHeaders", "x-amz-date")
    elif i == 3:
        q = set_qparam(q, "X-Amz-Algorithm", "AWS4-HMAC-SHA512")
    elif i == 4:
        q = set_qparam(q, "X-Amz-Signature", None)
    elif i == 5:
        q = set_qparam(q, "X-Amz-Signature", "q" * 64)
    elif i == 6:
        q = set_qparam(q, "X-Amz-Date", "99999999T999999Z")
    elif i == 7:  # header auth and query auth at once
        raw = signed_post(server, GCI_BODY)
        return Raw("GET", "/?" + q, [("Authorization", get_header(raw, "Authorization")),
                                     ("X-Amz-Date", get_header(raw, "X-Amz-Date"))])
    elif i == 8:  # unknown ASIA key with a garbage token
        fake = Creds(random_akid("ASIA"), random_secret(), "garbage-token-" + rtext(rng, 10, 40, string.ascii_letters))
        q = presigned_query(server, creds=fake)
    else:
        q = set_qparam(q, "X-Amz-Credential", urllib.parse.quote(cred.replace(server.root.access_key_id, random_akid()), safe=""))
    return Raw("GET", "/?" + q, [])


def c_scope(server, rng, i):
    def cred_mut(fn):
        def m(a):
            head, rest = a.split("Credential=", 1)
            cred, tail = rest.split(",", 1)
            return head + "Credential=" + fn(cred) + "," + tail
        return m

    muts = [
        lambda c: c.replace(f"/{server.region}/", "//"),
        lambda c: c.replace("/sts/", "//"),
        lambda c: c.replace("/sts/", "/s3/"),
        lambda c: c.replace("aws4_request", "aws4_reques"),
        lambda c: c.split("/")[0] + "/19990101/" + "/".join(c.split("/")[2:]),
        lambda c: "/" + "/".join(c.split("/")[1:]),
        lambda c: "K" * 1000 + "/" + "/".join(c.split("/")[1:]),
        lambda c: c + "/extra",
        lambda c: "/////",
        lambda c: c.split("/")[0].lower() + "/" + "/".join(c.split("/")[1:]),
    ]
    return mutate_auth(server, cred_mut(muts[i]))


CATEGORIES = [
    ("random-form", c_random_form, 20),
    ("binary", c_binary, 15),
    ("broken-percent", c_broken_pct, 10),
    ("invalid-utf8", c_invalid_utf8, 10),
    ("huge", c_huge, 8),
    ("auth-missing-parts", c_auth_missing_parts, 15),
    ("wrong-algorithm", c_wrong_algorithm, 8),
    ("non-hex-signature", c_non_hex_signature, 8),
    ("absurd-date", c_absurd_date, 12),
    ("duplicates", c_duplicates, 10),
    ("empty-action-no-version", c_empty_action, 10),
    ("get-garbage-query", c_get_garbage, 20),
    ("invalid-values", c_invalid_values, 24),
    ("content-type", c_content_types, 10),
    ("presigned", c_presigned, 10),
    ("credential-scope", c_scope, 10),
]
CASES = [(f"{name}-{i:02d}", fn, i, SEED * 1000 + n)
         for n, (name, fn, i) in enumerate((name, fn, i) for name, fn, count in CATEGORIES for i in range(count))]
assert len(CASES) == 200


def build(server, case) -> Raw:
    _, fn, i, seed = case
    return fn(server, random.Random(seed), i)


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_malformed_request(module_server, case):
    req = build(module_server, case)
    check_answer(module_server, req)
    assert module_server.alive, f"server died (exit code {module_server.proc and module_server.proc.returncode})"


def test_all_malformed_then_still_serving(server_factory):
    """All 200 in one burst against a fresh server, then a normal signed call still works."""
    srv = server_factory(name="burst")
    failures = []
    for case in CASES:
        try:
            check_answer(srv, build(srv, case))
        except AssertionError as e:
            failures.append(f"{case[0]}: {str(e).splitlines()[0]}")
        if not srv.alive:
            failures.append(f"server died after {case[0]}")
            break
    assert srv.alive, "\n".join(failures)
    assert srv.sts().get_caller_identity()["Arn"] == srv.root_arn()
    assert srv.aws("sts", "get-caller-identity")["Arn"] == srv.root_arn()
    assert not failures, f"{len(failures)} malformed requests got a wrong answer:\n" + "\n".join(failures)
