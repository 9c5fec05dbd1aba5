"""AssumeRoleWithSAML end to end.

A SAML 2.0 IdP is simulated in-process: a fresh RSA key and self-signed certificate are made at
test time (so every time in the assertions is current), its metadata is registered with the real
`aws iam create-saml-provider`, and responses are signed with Python `signxml` (enveloped
signature, exclusive C14N, RSA-SHA256 — never `inclusive_ns_prefixes`, see
crates/opensts-saml/tests/fixtures/gen.py for the signxml quirk). The role is assumed with the
real `aws sts assume-role-with-saml`, and every refusal is checked for its error code, a message
naming the failed check, and that it is never a 5xx.
"""

from __future__ import annotations

import base64
import copy
import datetime as dt
import hashlib
import json
import uuid

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID
from lxml import etree
from signxml import CanonicalizationMethod, DigestAlgorithm, SignatureMethod, XMLSigner

from harness import (
    ASIA_RE,
    SECRET_RE,
    STS_VERSION,
    Creds,
    OpenSTSServer,
    assert_client_error,
    parse_expiration,
    parse_xml,
    utcnow,
)

ACCOUNT = "123456789012"
PROVIDER_NAME = "SAML-test"
PROVIDER_ARN = f"arn:aws:iam::{ACCOUNT}:saml-provider/{PROVIDER_NAME}"
ROLE_NAME = "TestSaml"
ROLE_ARN = f"arn:aws:iam::{ACCOUNT}:role/{ROLE_NAME}"
ENTITY_ID = "https://idp.opensts.test/saml2/idp"
RECIPIENT = "https://signin.aws.amazon.com/saml"
AUDIENCE = "https://signin.aws.amazon.com/saml"
NAME_ID = "alice@example.org"
PERSISTENT = "urn:oasis:names:tc:SAML:2.0:nameid-format:persistent"

SAMLP = "urn:oasis:names:tc:SAML:2.0:protocol"
SAML = "urn:oasis:names:tc:SAML:2.0:assertion"
MD = "urn:oasis:names:tc:SAML:2.0:metadata"
DS = "http://www.w3.org/2000/09/xmldsig#"
SUCCESS = "urn:oasis:names:tc:SAML:2.0:status:Success"
ATTR = "https://aws.amazon.com/SAML/Attributes/"

# Running the CLI with these "credentials" means no credentials at all: botocore's environment
# provider ignores empty values, the config files are empty and IMDS is disabled.
NO_CREDS = Creds("", "")


def q(ns: str, local: str) -> str:
    return "{%s}%s" % (ns, local)


def iso(t: dt.datetime) -> str:
    return t.astimezone(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def name_qualifier(issuer: str, account: str, provider: str) -> str:
    return base64.b64encode(hashlib.sha1((issuer + account + "/" + provider).encode()).digest()).decode()


# --------------------------------------------------------------------------------------
# the simulated IdP
# --------------------------------------------------------------------------------------

class Idp:
    """A signing key and its self-signed certificate, generated now."""

    def __init__(self, cn: str = "idp.opensts.test"):
        self.key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])
        now = utcnow()
        self.cert = (
            x509.CertificateBuilder()
            .subject_name(name).issuer_name(name)
            .public_key(self.key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(days=1))
            .not_valid_after(now + dt.timedelta(days=365))
            .sign(self.key, hashes.SHA256())
        )
        self.key_pem = self.key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                              serialization.NoEncryption())
        self.cert_pem = self.cert.public_bytes(serialization.Encoding.PEM).decode()
        self.cert_b64 = base64.b64encode(self.cert.public_bytes(serialization.Encoding.DER)).decode()

    def metadata(self, entity_id: str = ENTITY_ID) -> str:
        return f"""<?xml version="1.0" encoding="UTF-8"?>
<md:EntityDescriptor xmlns:md="{MD}" xmlns:ds="{DS}" entityID="{entity_id}">
  <md:IDPSSODescriptor WantAuthnRequestsSigned="false" protocolSupportEnumeration="{SAMLP}">
    <md:KeyDescriptor use="signing">
      <ds:KeyInfo>
        <ds:X509Data>
          <ds:X509Certificate>{self.cert_b64}</ds:X509Certificate>
        </ds:X509Data>
      </ds:KeyInfo>
    </md:KeyDescriptor>
    <md:NameIDFormat>{PERSISTENT}</md:NameIDFormat>
    <md:SingleSignOnService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect" Location="https://idp.opensts.test/saml2/sso"/>
    <md:SingleSignOnService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST" Location="https://idp.opensts.test/saml2/sso"/>
  </md:IDPSSODescriptor>
</md:EntityDescriptor>
"""


def default_attributes(session_name: str = "alice", role_value: str | None = None) -> list[tuple[str, list[str]]]:
    return [
        (ATTR + "Role", [role_value or f"{ROLE_ARN},{PROVIDER_ARN}"]),
        (ATTR + "RoleSessionName", [session_name]),
        ("urn:oid:1.3.6.1.4.1.5923.1.1.1.1", ["member", "staff"]),
    ]


def build_assertion(*, assertion_id: str | None = None, issuer: str = ENTITY_ID, name_id: str = NAME_ID,
                    name_id_format: str | None = PERSISTENT, audience: str = AUDIENCE,
                    recipient: str = RECIPIENT, issued: dt.datetime | None = None,
                    not_on_or_after: dt.datetime | None = None, session_not_on_or_after: dt.datetime | None = None,
                    attributes: list[tuple[str, list[str]]] | None = None,
                    method: str = "urn:oasis:names:tc:SAML:2.0:cm:bearer") -> etree._Element:
    now = utcnow()
    issued = issued or now
    not_on_or_after = not_on_or_after or (issued + dt.timedelta(minutes=5))
    a = etree.Element(q(SAML, "Assertion"), nsmap={"saml": SAML})
    a.set("ID", assertion_id or ("_" + uuid.uuid4().hex))
    a.set("Version", "2.0")
    a.set("IssueInstant", iso(issued))
    etree.SubElement(a, q(SAML, "Issuer")).text = issuer
    subject = etree.SubElement(a, q(SAML, "Subject"))
    nid = etree.SubElement(subject, q(SAML, "NameID"))
    if name_id_format:
        nid.set("Format", name_id_format)
    nid.text = name_id
    sc = etree.SubElement(subject, q(SAML, "SubjectConfirmation"))
    sc.set("Method", method)
    scd = etree.SubElement(sc, q(SAML, "SubjectConfirmationData"))
    scd.set("NotOnOrAfter", iso(not_on_or_after))
    scd.set("Recipient", recipient)
    cond = etree.SubElement(a, q(SAML, "Conditions"))
    cond.set("NotBefore", iso(issued - dt.timedelta(minutes=1)))
    cond.set("NotOnOrAfter", iso(not_on_or_after))
    ar = etree.SubElement(cond, q(SAML, "AudienceRestriction"))
    etree.SubElement(ar, q(SAML, "Audience")).text = audience
    authn = etree.SubElement(a, q(SAML, "AuthnStatement"))
    authn.set("AuthnInstant", iso(issued))
    authn.set("SessionIndex", "_" + uuid.uuid4().hex)
    if session_not_on_or_after is not None:
        authn.set("SessionNotOnOrAfter", iso(session_not_on_or_after))
    ctx = etree.SubElement(authn, q(SAML, "AuthnContext"))
    etree.SubElement(ctx, q(SAML, "AuthnContextClassRef")).text = (
        "urn:oasis:names:tc:SAML:2.0:ac:classes:PasswordProtectedTransport")
    stmt = etree.SubElement(a, q(SAML, "AttributeStatement"))
    for name, values in (default_attributes() if attributes is None else attributes):
        at = etree.SubElement(stmt, q(SAML, "Attribute"))
        at.set("Name", name)
        for v in values:
            etree.SubElement(at, q(SAML, "AttributeValue")).text = v
    return a


def build_response(assertion: etree._Element | None, *, destination: str | None = RECIPIENT,
                   status: str = SUCCESS, issuer: str = ENTITY_ID) -> etree._Element:
    r = etree.Element(q(SAMLP, "Response"), nsmap={"samlp": SAMLP, "saml": SAML})
    r.set("ID", "_" + uuid.uuid4().hex)
    r.set("Version", "2.0")
    r.set("IssueInstant", iso(utcnow()))
    if destination:
        r.set("Destination", destination)
    etree.SubElement(r, q(SAML, "Issuer")).text = issuer
    st = etree.SubElement(r, q(SAMLP, "Status"))
    etree.SubElement(st, q(SAMLP, "StatusCode")).set("Value", status)
    if assertion is not None:
        r.append(assertion)
    return r


def sign(el: etree._Element, key_pem: bytes, cert_pem: str) -> etree._Element:
    """Enveloped signature (exclusive C14N, RSA-SHA256) right after the Issuer, as IdPs place it."""
    el = copy.deepcopy(el)
    placeholder = etree.Element(q(DS, "Signature"), nsmap={"ds": DS})
    placeholder.set("Id", "placeholder")
    el.find(q(SAML, "Issuer")).addnext(placeholder)
    signer = XMLSigner(signature_algorithm=SignatureMethod.RSA_SHA256, digest_algorithm=DigestAlgorithm.SHA256,
                       c14n_algorithm=CanonicalizationMethod.EXCLUSIVE_XML_CANONICALIZATION_1_0)
    signed = signer.sign(el, key=key_pem, cert=cert_pem)
    # signxml returns a re-parsed copy; parse once more so it can be moved into a Response.
    return etree.fromstring(etree.tostring(signed))


def b64(el: etree._Element | bytes) -> str:
    data = el if isinstance(el, bytes) else etree.tostring(el)
    return base64.b64encode(data).decode()


def signed_response(idp: Idp, **assertion_kw) -> str:
    """The usual IdP output: a Response whose Assertion is signed, base64."""
    return b64(build_response(sign(build_assertion(**assertion_kw), idp.key_pem, idp.cert_pem)))


def trust_policy(actions=("sts:AssumeRoleWithSAML",), condition: dict | None = None) -> str:
    stmt = {"Effect": "Allow", "Principal": {"Federated": PROVIDER_ARN}, "Action": list(actions)}
    if condition is not None:
        stmt["Condition"] = condition
    return json.dumps({"Version": "2012-10-17", "Statement": [stmt]})


# --------------------------------------------------------------------------------------
# fixtures
# --------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def idp() -> Idp:
    return Idp()


@pytest.fixture(scope="module")
def module_server(tmp_path_factory, opensts_bin_path):
    """One server for this module, in account 123456789012 so the documented ARNs are literal."""
    base = tmp_path_factory.mktemp("saml")
    srv = OpenSTSServer(data_dir=base / "data", work_dir=base / "work", account_id=ACCOUNT,
                        bin_path=opensts_bin_path, name="saml")
    srv.start()
    try:
        yield srv
    finally:
        srv.stop(timeout=10)


@pytest.fixture(scope="module")
def saml(module_server, idp):
    """The SAML provider (registered with the aws CLI) and the TestSaml role."""
    srv = module_server
    out = srv.aws("iam", "create-saml-provider", "--saml-metadata-document", idp.metadata(),
                  "--name", PROVIDER_NAME)
    assert out["SAMLProviderArn"] == PROVIDER_ARN, out
    srv.aws("iam", "create-role", "--role-name", ROLE_NAME, "--assume-role-policy-document",
            trust_policy(("sts:AssumeRoleWithSAML", "sts:TagSession", "sts:SetSourceIdentity"),
                         {"StringEquals": {"SAML:aud": RECIPIENT}}),
            "--max-session-duration", "43200")
    return srv


def assume_cli(srv: OpenSTSServer, assertion: str, *extra: str, role_arn: str = ROLE_ARN,
               principal_arn: str = PROVIDER_ARN):
    return srv.aws_run("sts", "assume-role-with-saml", "--role-arn", role_arn, "--principal-arn", principal_arn,
                       "--saml-assertion", assertion, *extra, creds=NO_CREDS)


def assume_raw(srv: OpenSTSServer, assertion: str, role_arn: str = ROLE_ARN, principal_arn: str = PROVIDER_ARN,
               **extra):
    params = {"Action": "AssumeRoleWithSAML", "Version": STS_VERSION, "RoleArn": role_arn,
              "PrincipalArn": principal_arn, "SAMLAssertion": assertion, **extra}
    return srv.unsigned_request(params)


def refused(srv: OpenSTSServer, assertion: str, code: str, message_part: str, **kw):
    """Refused over raw HTTP with `code` (HTTP 400, Sender) and a message naming the check."""
    resp = assume_raw(srv, assertion, **kw)
    assert resp.status_code < 500, f"HTTP {resp.status_code}: {resp.content[:800]!r}"
    err = assert_client_error(resp)
    assert (err.code, err.status) == (code, 400), f"expected {code}/400, got {err.code}/{err.status}: {err.message!r}"
    assert message_part.lower() in (err.message or "").lower(), (
        f"message {err.message!r} does not mention {message_part!r}")
    return err


# --------------------------------------------------------------------------------------
# success
# --------------------------------------------------------------------------------------

def test_assume_role_with_saml_cli_every_field(saml, idp):
    srv = saml
    before = utcnow()
    # The documented command, verbatim, with no credentials configured at all (the call is unsigned).
    r = srv.aws_run("sts", "assume-role-with-saml",
                    "--role-arn", "arn:aws:iam::123456789012:role/TestSaml",
                    "--principal-arn", "arn:aws:iam::123456789012:saml-provider/SAML-test",
                    "--saml-assertion", signed_response(idp), creds=NO_CREDS)
    after = utcnow()
    assert r.returncode == 0, r.describe()
    out = r.json
    role = srv.iam().get_role(RoleName=ROLE_NAME)["Role"]

    c = out["Credentials"]
    assert ASIA_RE.match(c["AccessKeyId"]), c
    assert SECRET_RE.match(c["SecretAccessKey"]), c
    assert c["SessionToken"]
    exp = parse_expiration(c["Expiration"])
    assert before + dt.timedelta(seconds=3595) <= exp <= after + dt.timedelta(seconds=3605), c["Expiration"]

    assert out["AssumedRoleUser"] == {
        "AssumedRoleId": f"{role['RoleId']}:alice",
        "Arn": f"arn:aws:sts::{ACCOUNT}:assumed-role/{ROLE_NAME}/alice",
    }
    assert out["PackedPolicySize"] == 0 or isinstance(out["PackedPolicySize"], int)
    assert out["Subject"] == NAME_ID
    assert out["SubjectType"] == "persistent"
    assert out["Issuer"] == ENTITY_ID
    assert out["Audience"] == RECIPIENT
    expected_nq = name_qualifier(ENTITY_ID, ACCOUNT, PROVIDER_NAME)
    assert out["NameQualifier"] == expected_nq
    # The formula, spelled out once more with AWS's documented example shape.
    assert out["NameQualifier"] == base64.b64encode(
        hashlib.sha1(f"{ENTITY_ID}{ACCOUNT}/{PROVIDER_NAME}".encode()).digest()).decode()
    assert "SourceIdentity" not in out

    # The credentials work.
    ident = srv.aws("sts", "get-caller-identity", creds=Creds.from_sts(c))
    assert ident == {"UserId": f"{role['RoleId']}:alice", "Account": ACCOUNT,
                     "Arn": f"arn:aws:sts::{ACCOUNT}:assumed-role/{ROLE_NAME}/alice"}


def test_raw_xml_response_and_signed_request_accepted(saml, idp):
    srv = saml
    resp = assume_raw(srv, signed_response(idp, name_id="bob@example.org",
                                           attributes=default_attributes("bob")))
    assert resp.status_code == 200, resp.content[:800]
    root = parse_xml(resp.content)
    assert root.tag == "AssumeRoleWithSAMLResponse"
    res = root.find("AssumeRoleWithSAMLResult")
    assert res.findtext("Subject") == "bob@example.org"
    assert res.findtext("NameQualifier") == name_qualifier(ENTITY_ID, ACCOUNT, PROVIDER_NAME)
    assert res.findtext("AssumedRoleUser/Arn") == f"arn:aws:sts::{ACCOUNT}:assumed-role/{ROLE_NAME}/bob"
    # A SigV4-signed request is accepted too (the signature is simply not needed).
    params = {"Action": "AssumeRoleWithSAML", "Version": STS_VERSION, "RoleArn": ROLE_ARN,
              "PrincipalArn": PROVIDER_ARN, "SAMLAssertion": signed_response(idp)}
    resp = srv.signed_request(params)
    assert resp.status_code == 200, resp.content[:800]


def test_boto3_role_attribute_either_order_and_several_roles(saml, idp):
    srv = saml
    sts = srv.sts()
    # provider,role order
    out = sts.assume_role_with_saml(RoleArn=ROLE_ARN, PrincipalArn=PROVIDER_ARN, SAMLAssertion=signed_response(
        idp, attributes=default_attributes(role_value=f"{PROVIDER_ARN},{ROLE_ARN}")))
    assert out["AssumedRoleUser"]["Arn"].endswith(f"assumed-role/{ROLE_NAME}/alice")
    # several roles offered; the requested one is among them
    attrs = default_attributes()
    attrs[0] = (ATTR + "Role", [f"arn:aws:iam::{ACCOUNT}:role/Other,{PROVIDER_ARN}", f"{ROLE_ARN},{PROVIDER_ARN}"])
    out = sts.assume_role_with_saml(RoleArn=ROLE_ARN, PrincipalArn=PROVIDER_ARN,
                                    SAMLAssertion=signed_response(idp, attributes=attrs))
    assert out["Subject"] == NAME_ID


def test_response_signed_instead_of_assertion(saml, idp):
    resp = build_response(build_assertion())
    out = saml.sts().assume_role_with_saml(RoleArn=ROLE_ARN, PrincipalArn=PROVIDER_ARN,
                                           SAMLAssertion=b64(sign(resp, idp.key_pem, idp.cert_pem)))
    assert out["Issuer"] == ENTITY_ID


def test_duration_tags_and_source_identity(saml, idp):
    srv = saml
    attrs = default_attributes("carol") + [
        (ATTR + "PrincipalTag:Department", ["Engineering"]),
        (ATTR + "PrincipalTag:CostCenter", ["1234"]),
        (ATTR + "TransitiveTagKeys", ["Department"]),
        (ATTR + "SourceIdentity", ["carol-si"]),
    ]
    before = utcnow()
    r = assume_cli(srv, signed_response(idp, name_id="carol", name_id_format=None, attributes=attrs),
                   "--duration-seconds", "7200")
    assert r.returncode == 0, r.describe()
    out = r.json
    exp = parse_expiration(out["Credentials"]["Expiration"])
    assert before + dt.timedelta(seconds=7195) <= exp <= utcnow() + dt.timedelta(seconds=7205)
    assert out["SourceIdentity"] == "carol-si"
    assert out["PackedPolicySize"] > 0, "session tags take packed space"
    assert out["Subject"] == "carol"
    # No NameID Format: AWS reports the SAML 2.0 default, unspecified (or omits it); never a made-up value.
    assert out.get("SubjectType") in (None, "", "urn:oasis:names:tc:SAML:1.1:nameid-format:unspecified",
                                      "unspecified")


def test_session_not_on_or_after_shortens_the_session(saml, idp):
    end = utcnow() + dt.timedelta(minutes=20)
    r = assume_cli(saml, signed_response(idp, session_not_on_or_after=end), "--duration-seconds", "3600")
    assert r.returncode == 0, r.describe()
    exp = parse_expiration(r.json["Credentials"]["Expiration"])
    assert exp <= end.replace(microsecond=0) + dt.timedelta(seconds=1), (exp, end)


def test_session_policies(saml, idp):
    srv = saml
    policy = json.dumps({"Version": "2012-10-17",
                         "Statement": [{"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"}]})
    r = assume_cli(srv, signed_response(idp), "--policy", policy,
                   "--policy-arns", "arn=arn:aws:iam::aws:policy/AmazonS3ReadOnlyAccess")
    assert r.returncode == 0, r.describe()
    assert r.json["PackedPolicySize"] > 0
    bad = assume_cli(srv, signed_response(idp), "--policy", "{not json")
    assert bad.returncode != 0 and bad.error_code == "MalformedPolicyDocument", bad.describe()


def test_trust_policy_saml_condition_keys(saml, idp):
    srv = saml
    nq = name_qualifier(ENTITY_ID, ACCOUNT, PROVIDER_NAME)
    role = "SamlKeys"
    role_arn = f"arn:aws:iam::{ACCOUNT}:role/{role}"
    srv.aws("iam", "create-role", "--role-name", role, "--assume-role-policy-document", trust_policy(
        condition={
            "StringEquals": {
                "saml:aud": RECIPIENT,
                "saml:iss": ENTITY_ID,
                "saml:sub": NAME_ID,
                "saml:sub_type": "persistent",
                "saml:namequalifier": nq,
                "saml:doc": f"{ACCOUNT}/{PROVIDER_NAME}",
            },
            "ForAnyValue:StringEquals": {"saml:edupersonaffiliation": "staff"},
        }))
    role_value = f"{role_arn},{PROVIDER_ARN}"
    ok = assume_cli(srv, signed_response(idp, attributes=default_attributes(role_value=role_value)),
                    role_arn=role_arn)
    assert ok.returncode == 0, ok.describe()
    assert ok.json["AssumedRoleUser"]["Arn"] == f"arn:aws:sts::{ACCOUNT}:assumed-role/{role}/alice"
    # another subject: saml:sub no longer matches
    denied = assume_cli(srv, signed_response(idp, name_id="mallory@example.org",
                                             attributes=default_attributes(role_value=role_value)),
                        role_arn=role_arn)
    assert denied.error_code == "AccessDenied", denied.describe()
    assert "sts:AssumeRoleWithSAML" in denied.error_message
    # another affiliation: the multi-valued attribute key no longer matches
    attrs = default_attributes(role_value=role_value)
    attrs[2] = ("urn:oid:1.3.6.1.4.1.5923.1.1.1.1", ["member"])
    denied = assume_cli(srv, signed_response(idp, attributes=attrs), role_arn=role_arn)
    assert denied.error_code == "AccessDenied", denied.describe()


def test_tags_need_sts_tag_session(saml, idp):
    srv = saml
    role = "SamlNoTags"
    role_arn = f"arn:aws:iam::{ACCOUNT}:role/{role}"
    srv.aws("iam", "create-role", "--role-name", role, "--assume-role-policy-document", trust_policy())
    role_value = f"{role_arn},{PROVIDER_ARN}"
    plain = assume_cli(srv, signed_response(idp, attributes=default_attributes(role_value=role_value)),
                       role_arn=role_arn)
    assert plain.returncode == 0, plain.describe()
    tagged = default_attributes(role_value=role_value) + [(ATTR + "PrincipalTag:Team", ["blue"])]
    r = assume_cli(srv, signed_response(idp, attributes=tagged), role_arn=role_arn)
    assert r.error_code == "AccessDenied", r.describe()
    assert "sts:TagSession" in r.error_message


# --------------------------------------------------------------------------------------
# refusals
# --------------------------------------------------------------------------------------

def test_tampered_attribute(saml, idp):
    signed = sign(build_assertion(), idp.key_pem, idp.cert_pem)
    for av in signed.iter(q(SAML, "AttributeValue")):
        if av.text == "alice":
            av.text = "admin"
    refused(saml, b64(build_response(signed)), "InvalidIdentityToken", "signature")


def test_tampered_name_id(saml, idp):
    signed = sign(build_assertion(), idp.key_pem, idp.cert_pem)
    signed.find(f"{q(SAML, 'Subject')}/{q(SAML, 'NameID')}").text = "root@example.org"
    refused(saml, b64(build_response(signed)), "InvalidIdentityToken", "signature")


def test_unsigned_assertion(saml, idp):
    err = refused(saml, b64(build_response(build_assertion())), "InvalidIdentityToken", "signature")
    assert "not signed" in err.message.lower(), err.message


def test_untrusted_certificate(saml, idp):
    evil = Idp()
    err = refused(saml, signed_response(evil), "InvalidIdentityToken", "signature")
    assert "certificate" in err.message.lower() or "trusted" in err.message.lower(), err.message


def test_certificate_swapped_in_key_info(saml, idp):
    """Signed with the attacker's key while KeyInfo carries the IdP's real certificate."""
    evil = Idp()
    signed = sign(build_assertion(name_id="mallory@example.org"), evil.key_pem, idp.cert_pem)
    assert idp.cert_b64 in etree.tostring(signed).decode().replace("\n", "")
    refused(saml, b64(build_response(signed)), "InvalidIdentityToken", "signature")
    # and the converse: the IdP's real signature with the attacker's certificate in KeyInfo
    # is still the IdP's signature (KeyInfo never chooses the key) — accepted.
    good = sign(build_assertion(), idp.key_pem, evil.cert_pem)
    resp = assume_raw(saml, b64(build_response(good)))
    assert resp.status_code == 200, resp.content[:800]


def test_wrapping_evil_assertion_beside_signed_one(saml, idp):
    signed = sign(build_assertion(), idp.key_pem, idp.cert_pem)
    evil = build_assertion(name_id="mallory@example.org", attributes=default_attributes("mallory"))
    for order in ((evil, signed), (signed, evil)):
        resp = build_response(None)
        for a in order:
            resp.append(copy.deepcopy(a))
        refused(saml, b64(resp), "InvalidIdentityToken", "Invalid SAML response")


def test_wrapping_signed_assertion_hidden_in_evil_one(saml, idp):
    """XSW: the signed assertion is moved inside the evil one (under Subject), keeping its ID valid."""
    signed = sign(build_assertion(), idp.key_pem, idp.cert_pem)
    evil = build_assertion(name_id="mallory@example.org", attributes=default_attributes("mallory"))
    evil.find(q(SAML, "Subject")).append(signed)
    refused(saml, b64(build_response(evil)), "InvalidIdentityToken", "Invalid SAML response")
    # the same assertion id on the evil copy
    evil2 = build_assertion(assertion_id=signed.get("ID"), name_id="mallory@example.org")
    resp = build_response(evil2)
    ext = etree.SubElement(resp, q(SAMLP, "Extensions"))
    ext.append(copy.deepcopy(signed))
    resp.find(q(SAMLP, "Status")).addprevious(ext)
    refused(saml, b64(resp), "InvalidIdentityToken", "Invalid SAML response")


def test_expired(saml, idp):
    # NotOnOrAfter 6 minutes ago (beyond the 5-minute clock skew), issued within the redemption window
    now = utcnow()
    err = refused(saml, signed_response(idp, issued=now - dt.timedelta(minutes=9),
                                        not_on_or_after=now - dt.timedelta(minutes=6)),
                  "ExpiredTokenException", "NotOnOrAfter")
    assert "expired" in err.message.lower(), err.message
    # long expired
    old = now - dt.timedelta(hours=2)
    refused(saml, signed_response(idp, issued=old, not_on_or_after=old + dt.timedelta(minutes=5)),
            "ExpiredTokenException", "")
    # a fresh NotOnOrAfter but issued long ago: AWS's 5-minute redemption rule
    r = assume_cli(saml, signed_response(idp, issued=now - dt.timedelta(minutes=30),
                                         not_on_or_after=now + dt.timedelta(minutes=30)))
    assert r.error_code == "ExpiredTokenException", r.describe()
    assert "5 minutes" in r.error_message


def test_wrong_audience(saml, idp):
    refused(saml, signed_response(idp, audience="https://sp.example.net/saml"), "InvalidIdentityToken", "audience")


def test_wrong_recipient(saml, idp):
    refused(saml, signed_response(idp, recipient="https://evil.example.net/saml"), "InvalidIdentityToken",
            "recipient")


def test_wrong_issuer(saml, idp):
    refused(saml, signed_response(idp, issuer="https://other-idp.example.net/"), "InvalidIdentityToken", "issuer")


def test_not_bearer(saml, idp):
    refused(saml, signed_response(idp, method="urn:oasis:names:tc:SAML:2.0:cm:holder-of-key"),
            "InvalidIdentityToken", "subject")


def test_replay_refused(saml, idp):
    assertion = signed_response(idp)
    first = assume_cli(saml, assertion)
    assert first.returncode == 0, first.describe()
    second = assume_cli(saml, assertion)
    assert second.error_code == "InvalidIdentityToken", second.describe()
    assert "already been used" in second.error_message
    refused(saml, assertion, "InvalidIdentityToken", "already been used")


def test_dtd_and_entity_bomb(saml, idp):
    body = etree.tostring(build_response(sign(build_assertion(), idp.key_pem, idp.cert_pem))).decode()
    bomb = ('<?xml version="1.0"?>\n<!DOCTYPE lolz [<!ENTITY lol "lol">'
            + "".join(f'<!ENTITY lol{i} "{("&lol%s;" % (i - 1 if i > 1 else "")) * 10}">' for i in range(1, 10))
            + "]>\n")
    refused(saml, b64((bomb + body.replace(NAME_ID, "&lol9;")).encode()), "InvalidIdentityToken",
            "Invalid SAML response")
    xxe = '<?xml version="1.0"?>\n<!DOCTYPE r [<!ENTITY x SYSTEM "file:///etc/passwd">]>\n'
    refused(saml, b64((xxe + body.replace(NAME_ID, "&x;")).encode()), "InvalidIdentityToken",
            "Invalid SAML response")


@pytest.mark.parametrize("garbage", ["!!!not-base64!!!", "QUJD", base64.b64encode(b"<not xml").decode(),
                                     base64.b64encode(b"\xff\xfe\x00garbage").decode(), "A" * 99_999 + "="])
def test_garbage(saml, garbage):
    refused(saml, garbage, "InvalidIdentityToken", "Invalid SAML response")


def test_too_long_is_a_validation_error(saml):
    resp = assume_raw(saml, "A" * 100_004)
    err = assert_client_error(resp)
    assert err.code == "ValidationError", err
    assert "100000" in err.message


def test_status_not_success_is_idp_rejected_claim(saml, idp):
    resp = build_response(sign(build_assertion(), idp.key_pem, idp.cert_pem),
                          status="urn:oasis:names:tc:SAML:2.0:status:Requester")
    refused(saml, b64(resp), "IDPRejectedClaim", "status")


def test_role_not_in_assertion(saml, idp):
    other = f"arn:aws:iam::{ACCOUNT}:role/Other"
    r = assume_cli(saml, signed_response(idp, attributes=default_attributes(role_value=f"{other},{PROVIDER_ARN}")))
    assert r.error_code == "AccessDenied", r.describe()
    assert "Role attribute" in r.error_message


def test_missing_role_session_name(saml, idp):
    attrs = [a for a in default_attributes() if not a[0].endswith("RoleSessionName")]
    refused(saml, signed_response(idp, attributes=attrs), "InvalidIdentityToken", "RoleSessionName")


def test_unknown_provider_and_other_account(saml, idp):
    refused(saml, signed_response(idp), "InvalidIdentityToken", "provider",
            principal_arn=f"arn:aws:iam::{ACCOUNT}:saml-provider/Nope")
    refused(saml, signed_response(idp), "InvalidIdentityToken", "same account",
            principal_arn="arn:aws:iam::210987654321:saml-provider/SAML-test")


def test_bad_session_tags_refused(saml, idp):
    attrs = default_attributes() + [(ATTR + "PrincipalTag:Bad", ["semi;colon"])]
    r = assume_cli(saml, signed_response(idp, attributes=attrs))
    assert r.returncode != 0 and r.error_code in ("InvalidIdentityToken", "InvalidParameterValue",
                                                   "ValidationError"), r.describe()
    attrs = default_attributes() + [(ATTR + "TransitiveTagKeys", ["NotATag"])]
    r = assume_cli(saml, signed_response(idp, attributes=attrs))
    assert r.returncode != 0 and r.error_code in ("InvalidIdentityToken", "InvalidParameterValue"), r.describe()


def test_packed_policy_too_large(saml, idp):
    attrs = default_attributes() + [(ATTR + f"PrincipalTag:Key{i:02d}", ["v" * 250]) for i in range(30)]
    r = assume_cli(saml, signed_response(idp, attributes=attrs))
    assert r.error_code == "PackedPolicyTooLarge", r.describe()


def test_refused_request_does_not_burn_the_assertion(saml, idp):
    """The one-time claim is made only when credentials are issued."""
    assertion = signed_response(idp)
    bad = assume_cli(saml, assertion, "--policy", "{not json")
    assert bad.error_code == "MalformedPolicyDocument", bad.describe()
    too_long = assume_cli(saml, assertion, "--duration-seconds", "129600")
    assert too_long.returncode != 0, too_long.describe()
    ok = assume_cli(saml, assertion)
    assert ok.returncode == 0, ok.describe()
    again = assume_cli(saml, assertion)
    assert again.error_code == "InvalidIdentityToken" and "already been used" in again.error_message, again.describe()


def test_no_name_id_format_omits_subject_type(saml, idp):
    r = assume_cli(saml, signed_response(idp, name_id_format=None))
    assert r.returncode == 0, r.describe()
    assert "SubjectType" not in r.json, r.json
    assert r.json["Subject"] == NAME_ID


def test_session_duration_attribute_does_not_shorten_api_sessions(saml, idp):
    """As in AWS: SessionDuration is for console sessions; the API uses DurationSeconds (default 3600)."""
    attrs = default_attributes() + [(ATTR + "SessionDuration", ["900"])]
    before = utcnow()
    r = assume_cli(saml, signed_response(idp, attributes=attrs))
    assert r.returncode == 0, r.describe()
    exp = parse_expiration(r.json["Credentials"]["Expiration"])
    assert before + dt.timedelta(seconds=3595) <= exp <= utcnow() + dt.timedelta(seconds=3605)
    bad = default_attributes() + [(ATTR + "SessionDuration", ["60"])]
    refused(saml, signed_response(idp, attributes=bad), "InvalidIdentityToken", "SessionDuration")


# --------------------------------------------------------------------------------------
# the replay cache across restarts and crashes (SQLite commits claims without fsync)
# --------------------------------------------------------------------------------------

def test_replay_refused_after_kill_and_after_a_machine_crash(tmp_path, opensts_bin_path, idp):
    """Claims are committed without fsync, guarded by the kernel boot id (see the SQLite store docs).

    * kill -9 (same boot): the claim is in the page cache, the assertion stays used;
    * a simulated machine crash (the server's run record carries another boot id, and the claim
      itself is gone, as if its commit never reached the disk): every assertion issued before
      the restart plus the 5-minute skew is refused with a distinct message, including the
      replayed one; one issued after that horizon is accepted; the horizon survives a clean
      restart.
    """
    import sqlite3
    import time

    srv = OpenSTSServer(data_dir=tmp_path / "data", work_dir=tmp_path / "work", account_id=ACCOUNT,
                        bin_path=opensts_bin_path, name="saml-crash")
    srv.start()
    try:
        srv.aws("iam", "create-saml-provider", "--saml-metadata-document", idp.metadata(),
                "--name", PROVIDER_NAME)
        srv.aws("iam", "create-role", "--role-name", ROLE_NAME, "--assume-role-policy-document",
                trust_policy())
        used = signed_response(idp)
        assert assume_cli(srv, used).returncode == 0

        srv.kill()
        db = srv.data_dir / "opensts.db"
        with sqlite3.connect(db) as con:
            runs = con.execute("SELECT value FROM settings WHERE name LIKE 'sqlite.unsynced-claims-run.%'").fetchall()
        assert len(runs) == 1, runs  # the killed process's record, with this boot's id
        srv.start()
        refused(srv, used, "InvalidIdentityToken", "already been used")
        assert assume_cli(srv, signed_response(idp)).returncode == 0, "fresh assertions still accepted"

        # The machine "crashes": the process dies, the page cache (the claim) is lost.
        srv.kill()
        with sqlite3.connect(db) as con:
            con.execute("UPDATE settings SET value = 'a-boot-before-the-crash' "
                        "WHERE name LIKE 'sqlite.unsynced-claims-run.%'")
            con.execute("DELETE FROM one_time_claims WHERE scope = 'saml-assertion'")
        restarted_at = utcnow()
        srv.start()
        err = refused(srv, used, "InvalidIdentityToken", "unclean shutdown")
        assert "already been used" not in err.message
        refused(srv, signed_response(idp), "InvalidIdentityToken", "unclean shutdown")
        # Issued after the horizon (an IdP clock up to 5 minutes ahead is accepted anyway).
        time.sleep(2)
        later = utcnow().replace(microsecond=0) + dt.timedelta(minutes=5)
        assert later > restarted_at + dt.timedelta(minutes=5, seconds=1)
        fresh = signed_response(idp, issued=later, not_on_or_after=later + dt.timedelta(minutes=5))
        ok = assume_cli(srv, fresh)
        assert ok.returncode == 0, ok.describe()

        # A clean restart keeps the horizon (it is durable) and removes the run record.
        srv.stop()
        assert srv.last_exit_code == 0 and not srv.last_stop_was_forced
        with sqlite3.connect(db) as con:
            assert con.execute("SELECT count(*) FROM settings "
                               "WHERE name LIKE 'sqlite.unsynced-claims-run.%'").fetchone()[0] == 0
            assert con.execute("SELECT value FROM settings "
                               "WHERE name = 'sqlite.claims-uncertain-until'").fetchone() is not None
        srv.start()
        refused(srv, used, "InvalidIdentityToken", "unclean shutdown")
        refused(srv, fresh, "InvalidIdentityToken", "already been used")
    finally:
        srv.stop(timeout=10)
