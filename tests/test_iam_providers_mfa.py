"""IAM SAML / OpenID Connect providers and virtual MFA devices end to end, with the real aws
CLI v1 (and boto3 where the HTTP status or raw bytes matter)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import struct
import time
from pathlib import Path

import pytest
from botocore.exceptions import ClientError

from harness import REPO_ROOT, unique

FIXTURES = REPO_ROOT / "crates" / "opensts-saml" / "tests" / "fixtures" / "metadata"
ISO_RE = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|\+00:00)$")
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def client_error(fn, **kw) -> tuple[str, int, str]:
    with pytest.raises(ClientError) as ei:
        fn(**kw)
    r = ei.value.response
    return r["Error"]["Code"], r["ResponseMetadata"]["HTTPStatusCode"], r["Error"].get("Message", "")


# --------------------------------------------------------------------------------------
# RFC 6238 (HMAC-SHA-1, 6 digits, 30 s)
# --------------------------------------------------------------------------------------

def hotp(seed: bytes, counter: int) -> str:
    mac = hmac.new(seed, struct.pack(">Q", counter), hashlib.sha1).digest()
    off = mac[-1] & 0x0F
    n = struct.unpack(">I", mac[off:off + 4])[0] & 0x7FFFFFFF
    return f"{n % 1_000_000:06d}"


def b32decode(text: str) -> bytes:
    text = text.strip().upper()
    return base64.b32decode(text + "=" * (-len(text) % 8))


def code_pair(seed: bytes) -> tuple[str, str]:
    """Two consecutive codes ending at the current step (EnableMFADevice/ResyncMFADevice)."""
    step = int(time.time()) // 30
    return hotp(seed, step - 1), hotp(seed, step)


def wrong_pair(seed: bytes) -> tuple[str, str]:
    """Six-digit codes that are not a valid consecutive pair anywhere near now."""
    step = int(time.time()) // 30
    valid = {hotp(seed, s) for s in range(step - 3, step + 4)}
    c = 0
    while f"{c:06d}" in valid:
        c += 1
    return f"{c:06d}", f"{c:06d}"


# --------------------------------------------------------------------------------------
# SAML providers
# --------------------------------------------------------------------------------------

def test_saml_provider_lifecycle_cli(server):
    name = unique("Idp")
    acct = server.account_id
    arn = f"arn:aws:iam::{acct}:saml-provider/{name}"
    rsa = FIXTURES / "idp_rsa.xml"
    out = server.aws("iam", "create-saml-provider", "--name", name,
                     "--saml-metadata-document", f"file://{rsa}",
                     "--tags", "Key=team,Value=id")
    assert out["SAMLProviderArn"] == arn
    assert out.get("Tags") == [{"Key": "team", "Value": "id"}]

    got = server.aws("iam", "get-saml-provider", "--saml-provider-arn", arn)
    assert got["SAMLMetadataDocument"] == rsa.read_text()
    assert ISO_RE.match(got["CreateDate"]), got
    assert ISO_RE.match(got["ValidUntil"]), got
    assert re.match(r"^[A-Z0-9]{22,64}$", got["SAMLProviderUUID"]), got
    assert got["Tags"] == [{"Key": "team", "Value": "id"}]

    listed = server.aws("iam", "list-saml-providers")["SAMLProviderList"]
    entry = [p for p in listed if p["Arn"] == arn]
    assert len(entry) == 1, listed
    assert ISO_RE.match(entry[0]["ValidUntil"]) and ISO_RE.match(entry[0]["CreateDate"]), entry

    # duplicate name (case-insensitively)
    r = server.aws_error("iam", "create-saml-provider", "--name", name.upper(),
                         "--saml-metadata-document", f"file://{rsa}", code="EntityAlreadyExists")
    assert name.upper() in r.error_message

    # rotation: metadata with two signing certificates
    out = server.aws("iam", "update-saml-provider", "--saml-provider-arn", arn,
                     "--saml-metadata-document", f"file://{FIXTURES / 'rotation.xml'}")
    assert out["SAMLProviderArn"] == arn
    got = server.aws("iam", "get-saml-provider", "--saml-provider-arn", arn)
    assert got["SAMLMetadataDocument"] == (FIXTURES / "rotation.xml").read_text()

    # tags
    server.aws("iam", "tag-saml-provider", "--saml-provider-arn", arn, "--tags", "Key=env,Value=prod")
    tags = server.aws("iam", "list-saml-provider-tags", "--saml-provider-arn", arn)["Tags"]
    assert sorted((t["Key"], t["Value"]) for t in tags) == [("env", "prod"), ("team", "id")]
    server.aws("iam", "untag-saml-provider", "--saml-provider-arn", arn, "--tag-keys", "TEAM")
    tags = server.aws("iam", "list-saml-provider-tags", "--saml-provider-arn", arn)["Tags"]
    assert tags == [{"Key": "env", "Value": "prod"}]

    assert server.aws("iam", "delete-saml-provider", "--saml-provider-arn", arn) is None
    r = server.aws_error("iam", "get-saml-provider", "--saml-provider-arn", arn, code="NoSuchEntity")
    assert r.error_message == f"Manifest not found for arn {arn}"
    server.aws_error("iam", "delete-saml-provider", "--saml-provider-arn", arn, code="NoSuchEntity")
    server.aws_error("iam", "update-saml-provider", "--saml-provider-arn", arn,
                     "--saml-metadata-document", f"file://{rsa}", code="NoSuchEntity")
    assert arn not in [p["Arn"] for p in server.aws("iam", "list-saml-providers")["SAMLProviderList"]]


def test_saml_provider_invalid_metadata(server, tmp_path):
    iam = server.iam()
    name = unique("Bad")
    # parses as XML but the RSA key is too weak / there is no signing certificate
    for fixture in ("weak_rsa.xml", "encryption_only.xml", "entities_two_idps.xml"):
        doc = (FIXTURES / fixture).read_text()
        code, status, msg = client_error(iam.create_saml_provider, Name=name, SAMLMetadataDocument=doc)
        assert (code, status) == ("InvalidInput", 400), (fixture, code, msg)
        assert msg.startswith("Could not parse metadata"), msg
    # not XML at all (but long enough)
    bad = tmp_path / "bad.xml"
    bad.write_text("<not-metadata>" + "x" * 1200 + "</not-metadata>")
    server.aws_error("iam", "create-saml-provider", "--name", name,
                     "--saml-metadata-document", f"file://{bad}", code="InvalidInput")
    # too short: the model's length constraint
    raw = server.iam(parameter_validation=False)
    code, status, msg = client_error(raw.create_saml_provider, Name=name, SAMLMetadataDocument="<x/>" * 10)
    assert (code, status) == ("ValidationError", 400), msg
    assert "sAMLMetadataDocument" in msg, msg
    # bad name
    doc = (FIXTURES / "idp_ec.xml").read_text()
    code, status, msg = client_error(iam.create_saml_provider, Name="bad name", SAMLMetadataDocument=doc)
    assert (code, status) == ("ValidationError", 400), msg
    assert r"[\w._-]+" in msg
    # nothing was created
    arns = [p["Arn"] for p in iam.list_saml_providers()["SAMLProviderList"]]
    assert not any(a.endswith("/" + name) for a in arns)
    # invalid update leaves the provider as it was
    good = unique("Good")
    arn = iam.create_saml_provider(Name=good, SAMLMetadataDocument=doc)["SAMLProviderArn"]
    code, _, _ = client_error(iam.update_saml_provider, SAMLProviderArn=arn,
                              SAMLMetadataDocument=(FIXTURES / "weak_rsa.xml").read_text())
    assert code == "InvalidInput"
    assert iam.get_saml_provider(SAMLProviderArn=arn)["SAMLMetadataDocument"] == doc
    # malformed ARN
    code, status, _ = client_error(iam.get_saml_provider, SAMLProviderArn="arn:aws:iam::123:nothing-here")
    assert (code, status) == ("InvalidInput", 400)
    iam.delete_saml_provider(SAMLProviderArn=arn)


# --------------------------------------------------------------------------------------
# OpenID Connect providers
# --------------------------------------------------------------------------------------

def test_oidc_provider_lifecycle_cli(server):
    host = f"{unique('oidc')}.example.com"
    url = f"https://{host}/tenant"
    arn = f"arn:aws:iam::{server.account_id}:oidc-provider/{host}/tenant"
    tp1 = "9E99A48A9960B14926BB7F3B02E22DA2B0AB7280"
    tp2 = "a" * 40
    out = server.aws("iam", "create-open-id-connect-provider", "--url", url,
                     "--client-id-list", "sts.amazonaws.com", "app-1",
                     "--thumbprint-list", tp1, "--tags", "Key=k,Value=v")
    assert out["OpenIDConnectProviderArn"] == arn

    got = server.aws("iam", "get-open-id-connect-provider", "--open-id-connect-provider-arn", arn)
    assert got["Url"] == f"{host}/tenant"
    assert got["ClientIDList"] == ["sts.amazonaws.com", "app-1"]
    assert got["ThumbprintList"] == [tp1.lower()]
    assert ISO_RE.match(got["CreateDate"]), got
    assert got["Tags"] == [{"Key": "k", "Value": "v"}]

    r = server.aws_error("iam", "create-open-id-connect-provider", "--url", url,
                         "--thumbprint-list", tp1, code="EntityAlreadyExists")
    assert url in r.error_message

    server.aws("iam", "add-client-id-to-open-id-connect-provider",
               "--open-id-connect-provider-arn", arn, "--client-id", "app-2")
    server.aws("iam", "add-client-id-to-open-id-connect-provider",
               "--open-id-connect-provider-arn", arn, "--client-id", "app-2")  # idempotent
    server.aws("iam", "remove-client-id-from-open-id-connect-provider",
               "--open-id-connect-provider-arn", arn, "--client-id", "app-1")
    server.aws("iam", "remove-client-id-from-open-id-connect-provider",
               "--open-id-connect-provider-arn", arn, "--client-id", "never-added")
    server.aws("iam", "update-open-id-connect-provider-thumbprint",
               "--open-id-connect-provider-arn", arn, "--thumbprint-list", tp1, tp2)
    got = server.aws("iam", "get-open-id-connect-provider", "--open-id-connect-provider-arn", arn)
    assert got["ClientIDList"] == ["sts.amazonaws.com", "app-2"]
    assert got["ThumbprintList"] == [tp1.lower(), tp2]

    server.aws("iam", "tag-open-id-connect-provider", "--open-id-connect-provider-arn", arn,
               "--tags", "Key=k,Value=v2", "Key=other,Value=x")
    tags = server.aws("iam", "list-open-id-connect-provider-tags", "--open-id-connect-provider-arn", arn)["Tags"]
    assert sorted((t["Key"], t["Value"]) for t in tags) == [("k", "v2"), ("other", "x")]
    server.aws("iam", "untag-open-id-connect-provider", "--open-id-connect-provider-arn", arn,
               "--tag-keys", "k")
    tags = server.aws("iam", "list-open-id-connect-provider-tags", "--open-id-connect-provider-arn", arn)["Tags"]
    assert tags == [{"Key": "other", "Value": "x"}]

    listed = server.aws("iam", "list-open-id-connect-providers")["OpenIDConnectProviderList"]
    assert {"Arn": arn} in listed

    assert server.aws("iam", "delete-open-id-connect-provider", "--open-id-connect-provider-arn", arn) is None
    r = server.aws_error("iam", "get-open-id-connect-provider", "--open-id-connect-provider-arn", arn,
                         code="NoSuchEntity")
    assert r.error_message == f"OpenIDConnect Provider not found for arn {arn}"
    server.aws_error("iam", "delete-open-id-connect-provider", "--open-id-connect-provider-arn", arn,
                     code="NoSuchEntity")
    server.aws_error("iam", "add-client-id-to-open-id-connect-provider",
                     "--open-id-connect-provider-arn", arn, "--client-id", "x", code="NoSuchEntity")
    listed = server.aws("iam", "list-open-id-connect-providers")["OpenIDConnectProviderList"]
    assert {"Arn": arn} not in listed


def test_oidc_provider_validation(server):
    iam = server.iam()
    host = f"{unique('v')}.example.com"
    cases = [
        (f"http://{host}", "InvalidInput"),
        (f"https://{host}?a=b", "InvalidInput"),
        (f"https://{host}#frag", "InvalidInput"),
        (f"https://{host}:0", "InvalidInput"),  # ports are allowed (private IdPs), port 0 is not
        (f"https://user@{host}", "InvalidInput"),
        (host, "ValidationError"),
    ]
    for url, want in cases:
        code, status, msg = client_error(iam.create_open_id_connect_provider, Url=url)
        assert (code, status) == (want, 400), (url, code, msg)
    code, _, msg = client_error(iam.create_open_id_connect_provider, Url=f"https://{host}",
                                ThumbprintList=["a" * 40] * 3 + ["b" * 40, "c" * 40, "d" * 40])
    assert code == "InvalidInput" and "Thumbprint list" in msg, msg
    code, _, msg = client_error(iam.create_open_id_connect_provider, Url=f"https://{host}",
                                ThumbprintList=["z" * 40])
    assert code == "InvalidInput", msg
    code, _, msg = client_error(iam.create_open_id_connect_provider, Url=f"https://{host}",
                                ClientIDList=[f"c{i}" for i in range(101)])
    assert code == "LimitExceeded", msg
    # no thumbprints and no client ids are fine
    arn = iam.create_open_id_connect_provider(Url=f"https://{host}")["OpenIDConnectProviderArn"]
    assert arn == f"arn:aws:iam::{server.account_id}:oidc-provider/{host}"
    got = iam.get_open_id_connect_provider(OpenIDConnectProviderArn=arn)
    assert got["Url"] == host and got["ClientIDList"] == [] and got["ThumbprintList"] == []
    code, _, _ = client_error(server.iam(parameter_validation=False).update_open_id_connect_provider_thumbprint,
                              OpenIDConnectProviderArn=arn, ThumbprintList=["abc"])
    assert code == "ValidationError"
    iam.delete_open_id_connect_provider(OpenIDConnectProviderArn=arn)


# --------------------------------------------------------------------------------------
# virtual MFA devices
# --------------------------------------------------------------------------------------

def create_device(server, tmp_path: Path, name: str, method: str = "Base32StringSeed", path: str | None = None):
    outfile = tmp_path / f"{name}.{method}"
    args = ["iam", "create-virtual-mfa-device", "--virtual-mfa-device-name", name,
            "--outfile", str(outfile), "--bootstrap-method", method]
    if path:
        args += ["--path", path]
    out = server.aws(*args)["VirtualMFADevice"]
    return out, outfile.read_bytes()


def test_virtual_mfa_lifecycle_cli(server, tmp_path):
    acct = server.account_id
    dev = unique("dev")
    out, seed_text = create_device(server, tmp_path, dev)
    serial = out["SerialNumber"]
    assert serial == f"arn:aws:iam::{acct}:mfa/{dev}"
    # the CLI removed the bootstrap data from its output and wrote the base32 seed to the file
    assert "Base32StringSeed" not in out and "QRCodePNG" not in out
    assert re.fullmatch(rb"[A-Z2-7]{64}", seed_text), seed_text
    seed = b32decode(seed_text.decode())
    assert len(seed) == 40

    # a QR code PNG through the CLI
    qr_out, png = create_device(server, tmp_path, unique("qr"), method="QRCodePNG", path="/team/")
    assert png.startswith(PNG_MAGIC), png[:16]
    assert png[12:16] == b"IHDR"
    assert qr_out["SerialNumber"].startswith(f"arn:aws:iam::{acct}:mfa/team/")

    # boto3 sees both blobs at creation only (base64-decoded by botocore)
    raw = server.iam().create_virtual_mfa_device(VirtualMFADeviceName=unique("raw"))["VirtualMFADevice"]
    assert re.fullmatch(rb"[A-Z2-7]{64}", raw["Base32StringSeed"])
    assert raw["QRCodePNG"].startswith(PNG_MAGIC)

    server.aws_error("iam", "create-virtual-mfa-device", "--virtual-mfa-device-name", dev.upper(),
                     "--outfile", str(tmp_path / "dup"), "--bootstrap-method", "Base32StringSeed",
                     code="EntityAlreadyExists")

    listed = server.aws("iam", "list-virtual-mfa-devices", "--assignment-status", "Unassigned")["VirtualMFADevices"]
    assert serial in [d["SerialNumber"] for d in listed]
    listed = server.aws("iam", "list-virtual-mfa-devices", "--assignment-status", "Assigned")["VirtualMFADevices"]
    assert serial not in [d["SerialNumber"] for d in listed]

    user = server.make_user(with_key=False)
    # wrong codes
    w1, w2 = wrong_pair(seed)
    r = server.aws_error("iam", "enable-mfa-device", "--user-name", user.name, "--serial-number", serial,
                         "--authentication-code1", w1, "--authentication-code2", w2,
                         code="InvalidAuthenticationCode")
    assert r.error_message == "Authentication code for device is not valid."
    code, status, _ = client_error(server.iam().enable_mfa_device, UserName=user.name, SerialNumber=serial,
                                   AuthenticationCode1=w1, AuthenticationCode2=w2)
    assert (code, status) == ("InvalidAuthenticationCode", 403)
    # codes in the wrong order
    c1, c2 = code_pair(seed)
    if c1 != c2:
        server.aws_error("iam", "enable-mfa-device", "--user-name", user.name, "--serial-number", serial,
                         "--authentication-code1", c2, "--authentication-code2", c1,
                         code="InvalidAuthenticationCode")
    # unknown user / device
    server.aws_error("iam", "enable-mfa-device", "--user-name", unique("nobody"), "--serial-number", serial,
                     "--authentication-code1", c1, "--authentication-code2", c2, code="NoSuchEntity")
    server.aws_error("iam", "enable-mfa-device", "--user-name", user.name,
                     "--serial-number", f"arn:aws:iam::{acct}:mfa/{unique('none')}",
                     "--authentication-code1", c1, "--authentication-code2", c2, code="NoSuchEntity")

    c1, c2 = code_pair(seed)
    assert server.aws("iam", "enable-mfa-device", "--user-name", user.name, "--serial-number", serial,
                      "--authentication-code1", c1, "--authentication-code2", c2) is None
    # enabled devices cannot be enabled again (for anyone)
    other = server.make_user(with_key=False)
    server.aws_error("iam", "enable-mfa-device", "--user-name", other.name, "--serial-number", serial,
                     "--authentication-code1", c1, "--authentication-code2", c2, code="EntityAlreadyExists")

    devices = server.aws("iam", "list-mfa-devices", "--user-name", user.name)["MFADevices"]
    assert [(d["UserName"], d["SerialNumber"]) for d in devices] == [(user.name, serial)]
    assert ISO_RE.match(devices[0]["EnableDate"]), devices
    assert server.aws("iam", "list-mfa-devices", "--user-name", other.name)["MFADevices"] == []
    server.aws_error("iam", "list-mfa-devices", "--user-name", unique("nobody"), code="NoSuchEntity")

    listed = server.aws("iam", "list-virtual-mfa-devices", "--assignment-status", "Assigned")["VirtualMFADevices"]
    mine = [d for d in listed if d["SerialNumber"] == serial]
    assert len(mine) == 1, listed
    assert mine[0]["User"]["UserName"] == user.name and mine[0]["User"]["Arn"] == user.arn
    assert ISO_RE.match(mine[0]["EnableDate"])
    listed = server.aws("iam", "list-virtual-mfa-devices")["VirtualMFADevices"]  # Any
    assert serial in [d["SerialNumber"] for d in listed]
    assert qr_out["SerialNumber"] in [d["SerialNumber"] for d in listed]

    # neither the user nor the device can be deleted while enabled
    r = server.aws_error("iam", "delete-user", "--user-name", user.name, code="DeleteConflict")
    assert r.error_message == "Cannot delete entity, must delete MFA device first."
    code, status, _ = client_error(server.iam().delete_user, UserName=user.name)
    assert (code, status) == ("DeleteConflict", 409)
    server.aws_error("iam", "delete-virtual-mfa-device", "--serial-number", serial, code="DeleteConflict")

    # deactivate, then the enabling codes cannot be replayed
    assert server.aws("iam", "deactivate-mfa-device", "--user-name", user.name, "--serial-number", serial) is None
    assert server.aws("iam", "list-mfa-devices", "--user-name", user.name)["MFADevices"] == []
    server.aws_error("iam", "deactivate-mfa-device", "--user-name", user.name, "--serial-number", serial,
                     code="NoSuchEntity")
    server.aws_error("iam", "enable-mfa-device", "--user-name", user.name, "--serial-number", serial,
                     "--authentication-code1", c1, "--authentication-code2", c2,
                     code="InvalidAuthenticationCode")

    # tags
    server.aws("iam", "tag-mfa-device", "--serial-number", serial, "--tags", "Key=a,Value=1")
    assert server.aws("iam", "list-mfa-device-tags", "--serial-number", serial)["Tags"] == [{"Key": "a", "Value": "1"}]
    server.aws("iam", "untag-mfa-device", "--serial-number", serial, "--tag-keys", "a")
    assert server.aws("iam", "list-mfa-device-tags", "--serial-number", serial)["Tags"] == []

    assert server.aws("iam", "delete-user", "--user-name", user.name) is None
    assert server.aws("iam", "delete-virtual-mfa-device", "--serial-number", serial) is None
    r = server.aws_error("iam", "delete-virtual-mfa-device", "--serial-number", serial, code="NoSuchEntity")
    assert r.error_message == f"VirtualMFADevice with serial number {serial} doesn't exist."
    listed = server.aws("iam", "list-virtual-mfa-devices")["VirtualMFADevices"]
    assert serial not in [d["SerialNumber"] for d in listed]


def test_virtual_mfa_validation_and_pagination(server, tmp_path):
    iam = server.iam()
    code, status, msg = client_error(iam.create_virtual_mfa_device, VirtualMFADeviceName="bad name")
    assert (code, status) == ("ValidationError", 400), msg
    code, _, msg = client_error(iam.list_virtual_mfa_devices, AssignmentStatus="Maybe")
    assert code == "ValidationError", msg
    code, _, msg = client_error(server.iam(parameter_validation=False).enable_mfa_device, UserName="u", SerialNumber="arn:aws:iam::1:mfa/x",
                                AuthenticationCode1="12345", AuthenticationCode2="abcdef")
    assert code == "ValidationError", msg

    prefix = unique("pg")
    serials = []
    for i in range(5):
        d = iam.create_virtual_mfa_device(VirtualMFADeviceName=f"{prefix}-{i}", Path="/pg/")["VirtualMFADevice"]
        serials.append(d["SerialNumber"])
    seen, marker = [], None
    while True:
        kw = {"AssignmentStatus": "Unassigned", "MaxItems": 2}
        if marker:
            kw["Marker"] = marker
        page = iam.list_virtual_mfa_devices(**kw)
        assert len(page["VirtualMFADevices"]) <= 2
        seen += [d["SerialNumber"] for d in page["VirtualMFADevices"]]
        if not page["IsTruncated"]:
            break
        marker = page["Marker"]
    assert [s for s in seen if s in serials] == serials
    assert len(seen) == len(set(seen))
    # the CLI's auto-pagination gives the same
    listed = server.aws("iam", "list-virtual-mfa-devices", "--assignment-status", "Unassigned",
                        "--page-size", "2")["VirtualMFADevices"]
    assert [d["SerialNumber"] for d in listed if d["SerialNumber"] in serials] == serials
    for s in serials:
        iam.delete_virtual_mfa_device(SerialNumber=s)


def test_mfa_seed_sealed_and_everything_survives_restart(server_factory, tmp_path):
    srv = server_factory()
    iam = srv.iam()
    dev = unique("persist")
    out, seed_text = create_device(srv, tmp_path, dev)
    serial = out["SerialNumber"]
    seed = b32decode(seed_text.decode())
    user = srv.make_user(with_key=False)
    c1, c2 = code_pair(seed)
    iam.enable_mfa_device(UserName=user.name, SerialNumber=serial, AuthenticationCode1=c1, AuthenticationCode2=c2)
    unassigned = iam.create_virtual_mfa_device(VirtualMFADeviceName=unique("spare"))["VirtualMFADevice"]
    spare_seed = unassigned["Base32StringSeed"]

    saml_name = unique("Persist")
    saml_arn = iam.create_saml_provider(Name=saml_name,
                                        SAMLMetadataDocument=(FIXTURES / "idp_rsa.xml").read_text(),
                                        Tags=[{"Key": "k", "Value": "v"}])["SAMLProviderArn"]
    host = f"{unique('persist')}.example.com"
    oidc_arn = iam.create_open_id_connect_provider(Url=f"https://{host}", ClientIDList=["aud"],
                                                   ThumbprintList=["b" * 40])["OpenIDConnectProviderArn"]

    # the seed is sealed at rest: neither its base32 text nor its bytes are in the data dir
    def blobs() -> dict[str, bytes]:
        return {str(p.relative_to(srv.data_dir)): p.read_bytes() for p in srv.data_files()}

    needles = [seed_text, seed, spare_seed, b32decode(spare_seed.decode())]
    for name, data in blobs().items():
        for n in needles:
            assert n not in data, f"MFA seed found in plaintext in {name}"

    srv.restart()
    for name, data in blobs().items():
        for n in needles:
            assert n not in data, f"MFA seed found in plaintext in {name} after restart"

    iam = srv.iam()
    devices = iam.list_mfa_devices(UserName=user.name)["MFADevices"]
    assert [d["SerialNumber"] for d in devices] == [serial]
    listed = {d["SerialNumber"]: d for d in iam.list_virtual_mfa_devices()["VirtualMFADevices"]}
    assert listed[serial]["User"]["UserName"] == user.name
    assert "User" not in listed[unassigned["SerialNumber"]]
    # the sealed seed still opens after the restart: a resync with fresh codes works
    # (or, when the step has not moved on since enabling, is refused as a replay)
    r1, r2 = code_pair(seed)
    if (r1, r2) != (c1, c2):
        iam.resync_mfa_device(UserName=user.name, SerialNumber=serial, AuthenticationCode1=r1,
                              AuthenticationCode2=r2)
    else:
        code, _, _ = client_error(iam.resync_mfa_device, UserName=user.name, SerialNumber=serial,
                                  AuthenticationCode1=r1, AuthenticationCode2=r2)
        assert code == "InvalidAuthenticationCode"
    code, _, _ = client_error(iam.delete_user, UserName=user.name)
    assert code == "DeleteConflict"

    got = iam.get_saml_provider(SAMLProviderArn=saml_arn)
    assert got["SAMLMetadataDocument"] == (FIXTURES / "idp_rsa.xml").read_text()
    assert got["Tags"] == [{"Key": "k", "Value": "v"}]
    got = srv.aws("iam", "get-open-id-connect-provider", "--open-id-connect-provider-arn", oidc_arn)
    assert (got["Url"], got["ClientIDList"], got["ThumbprintList"]) == (host, ["aud"], ["b" * 40])

    # clean-up works after the restart too
    iam.deactivate_mfa_device(UserName=user.name, SerialNumber=serial)
    iam.delete_virtual_mfa_device(SerialNumber=serial)
    iam.delete_user(UserName=user.name)
    iam.delete_saml_provider(SAMLProviderArn=saml_arn)
    iam.delete_open_id_connect_provider(OpenIDConnectProviderArn=oidc_arn)
