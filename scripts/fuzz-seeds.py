#!/usr/bin/env python3
"""Regenerate the committed seed corpora of the fuzz targets that take structured input.

    python3 scripts/fuzz-seeds.py      (botocore from the test venv for the SigV4 seeds)

* saml_response: every SAML response fixture of crates/opensts-saml (selector byte 0x00) and every
  metadata fixture (0x01).
* jwt_verify: every token of crates/opensts-oidc/tests/fixtures/tokens.json (0x00), the JWKS
  fixtures (0x01), and a few caching-header triples (0x02).
* sigv4_parse: requests signed by botocore's SigV4 signer (header and presigned-query forms),
  laid out as the target reads them (fields separated by 0x00).
"""
import hashlib
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CORPUS = ROOT / "fuzz" / "corpus"


def write(target: str, data: bytes) -> None:
    d = CORPUS / target
    d.mkdir(parents=True, exist_ok=True)
    (d / ("seed-" + hashlib.sha256(data).hexdigest()[:16])).write_bytes(data)


def saml() -> None:
    fx = ROOT / "crates" / "opensts-saml" / "tests" / "fixtures"
    for f in sorted((fx / "responses").glob("*.xml")):
        write("saml_response", b"\x00" + f.read_bytes())
    for f in sorted((fx / "metadata").glob("*.xml")):
        write("saml_response", b"\x01" + f.read_bytes())


def jwt() -> None:
    fx = ROOT / "crates" / "opensts-oidc" / "tests" / "fixtures"
    for case in json.loads((fx / "tokens.json").read_text())["cases"]:
        if isinstance(case.get("token"), str):
            write("jwt_verify", b"\x00" + case["token"].encode())
    for name in ("jwks.json", "jwks_rotated.json"):
        write("jwt_verify", b"\x01" + (fx / name).read_bytes())
    for triple in (b"max-age=300\n\nWed, 21 Oct 2015 07:28:00 GMT",
                   b"no-store\nWed, 21 Oct 2015 07:28:00 GMT\n",
                   b"public, max-age=86400, must-revalidate\nThu, 01 Jan 1970 00:00:00 GMT\nSun, 06 Nov 1994 08:49:37 GMT"):
        write("jwt_verify", b"\x02" + triple)


def sigv4() -> None:
    try:
        import botocore.auth
        import botocore.credentials
        from botocore.awsrequest import AWSRequest
    except ImportError:
        sys.exit("botocore is needed for the SigV4 seeds (.venv/bin/python scripts/fuzz-seeds.py)")
    import time

    creds = botocore.credentials.Credentials("AKIDEXAMPLE", "secret")
    session = botocore.credentials.Credentials("ASIAEXAMPLE", "secret", "FQoGZXIvYXdzEXAMPLETOKEN")
    # the target's "now" field: the signing time, so that the seeds verify
    now = str(int(time.time())).encode()

    def fields(method, path, query, headers, body):
        h = {k.lower(): v for k, v in headers.items()}
        get = lambda k: h.get(k, "").encode()
        return b"\x00".join([method.encode(), path.encode(), query.encode(), get("authorization"),
                             get("x-amz-date"), get("date"), get("x-amz-security-token"),
                             get("x-amz-content-sha256"), b"x-amz-target", b"", body, now])

    body = b"Action=GetCallerIdentity&Version=2011-06-15"
    for c in (creds, session):
        req = AWSRequest("POST", "https://sts.amazonaws.com/", data=body,
                         headers={"Content-Type": "application/x-www-form-urlencoded"})
        botocore.auth.SigV4Auth(c, "sts", "us-east-1").add_auth(req)
        write("sigv4_parse", fields("POST", "/", "", dict(req.headers.items()), body))
    for c in (creds, session):
        req = AWSRequest("GET", "https://sts.amazonaws.com/?Action=GetCallerIdentity&Version=2011-06-15")
        botocore.auth.SigV4QueryAuth(c, "sts", "us-east-1", expires=900).add_auth(req)
        path, _, query = req.url.partition("sts.amazonaws.com")[2].partition("?")
        write("sigv4_parse", fields("GET", path, query, dict(req.headers.items()), b""))


if __name__ == "__main__":
    saml()
    jwt()
    sigv4()
    for t in ("saml_response", "jwt_verify", "sigv4_parse"):
        print(t, len(list((CORPUS / t).iterdir())), "seeds")
