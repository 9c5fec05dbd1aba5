#!/usr/bin/env python3
"""Identity-provider fixtures for scripts/bench (not a test).

Usage: bench_idp.py DIR

Writes DIR/ca.pem (a private CA: pass it to `opensts serve --ca-file`), starts an HTTPS OpenID
Connect issuer on https://localhost:<free port> (discovery document + JWKS with one RS256 key),
and writes DIR/idp.json:

  {"oidc_issuer": "https://localhost:PORT", "oidc_client_id": "...",
   "web_identity_token": "<RS256 JWT valid for TOKEN_LIFETIME_SECS>",
   "saml_entity_id": "...", "saml_metadata": "<IdP metadata XML, both certificates>",
   "saml_key_pkcs8_b64": "<ECDSA P-256 private key, PKCS#8 DER, base64>",
   "saml_rsa_key_pkcs8_b64": "<RSA-2048 private key, PKCS#8 DER, base64>"}

The load generator signs a fresh SAML assertion per request with one of those keys
(`--saml-key`; the server refuses a replayed assertion id). Then it serves the issuer until SIGTERM. The JWKS hit count is printed
on exit, so the bench can show the JWKS was cached (fetched once, not per request).
"""

from __future__ import annotations

import base64
import datetime as dt
import http.server
import ipaddress
import json
import signal
import ssl
import sys
import threading
import time
from pathlib import Path

import jwt
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

TOKEN_LIFETIME_SECS = 6 * 3600  # long enough for the 1,000,000-session run
CLIENT_ID = "opensts-bench"
SAML_ENTITY_ID = "https://idp.bench.opensts.test/saml2/idp"
MD = "urn:oasis:names:tc:SAML:2.0:metadata"
DS = "http://www.w3.org/2000/09/xmldsig#"
SAMLP = "urn:oasis:names:tc:SAML:2.0:protocol"


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def make_ca(directory: Path):
    now = dt.datetime.now(dt.timezone.utc)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "OpenSTS bench CA")])
    ski = x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key())
    ku = dict(content_commitment=False, key_encipherment=False, data_encipherment=False,
              key_agreement=False, encipher_only=False, decipher_only=False)
    ca = (x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name)
          .public_key(ca_key.public_key()).serial_number(x509.random_serial_number())
          .not_valid_before(now - dt.timedelta(hours=1)).not_valid_after(now + dt.timedelta(days=2))
          .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
          .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True, **ku), critical=True)
          .add_extension(ski, critical=False)
          .sign(ca_key, hashes.SHA256()))
    leaf_key = ec.generate_private_key(ec.SECP256R1())
    leaf = (x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")]))
            .issuer_name(ca_name).public_key(leaf_key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(hours=1)).not_valid_after(now + dt.timedelta(days=1))
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.SubjectAlternativeName([
                x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
            .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=False, crl_sign=False, **ku), critical=True)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ski), critical=False)
            .sign(ca_key, hashes.SHA256()))
    pem = serialization.Encoding.PEM
    (directory / "ca.pem").write_bytes(ca.public_bytes(pem))
    (directory / "leaf-chain.pem").write_bytes(leaf.public_bytes(pem) + ca.public_bytes(pem))
    key_file = directory / "leaf-key.pem"
    key_file.write_bytes(leaf_key.private_bytes(pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
    key_file.chmod(0o600)


def signing_cert(key) -> str:
    """A self-signed certificate for `key`, DER base64."""
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "idp.bench.opensts.test")])
    now = dt.datetime.now(dt.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(days=1)).not_valid_after(now + dt.timedelta(days=30))
            .sign(key, hashes.SHA256()))
    return base64.b64encode(cert.public_bytes(serialization.Encoding.DER)).decode()


def pkcs8_b64(key) -> str:
    der = key.private_bytes(serialization.Encoding.DER, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption())
    return base64.b64encode(der).decode()


def saml_idp() -> tuple[str, str, str]:
    """(metadata XML, ECDSA P-256 key, RSA-2048 key): the metadata lists both signing
    certificates (as an IdP does during a key rollover); keys are PKCS#8 DER, base64."""
    ec_key = ec.generate_private_key(ec.SECP256R1())
    rsa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    descriptors = "".join(
        f"""
    <md:KeyDescriptor use="signing"><ds:KeyInfo><ds:X509Data><ds:X509Certificate>{signing_cert(k)}</ds:X509Certificate></ds:X509Data></ds:KeyInfo></md:KeyDescriptor>"""
        for k in (rsa_key, ec_key))
    metadata = f"""<?xml version="1.0" encoding="UTF-8"?>
<md:EntityDescriptor xmlns:md="{MD}" xmlns:ds="{DS}" entityID="{SAML_ENTITY_ID}">
  <md:IDPSSODescriptor protocolSupportEnumeration="{SAMLP}">{descriptors}
    <md:NameIDFormat>urn:oasis:names:tc:SAML:2.0:nameid-format:persistent</md:NameIDFormat>
    <md:SingleSignOnService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect" Location="https://idp.bench.opensts.test/saml2/sso"/>
    <md:SingleSignOnService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST" Location="https://idp.bench.opensts.test/saml2/sso"/>
  </md:IDPSSODescriptor>
</md:EntityDescriptor>
"""
    return metadata, pkcs8_b64(ec_key), pkcs8_b64(rsa_key)


def main() -> int:
    directory = Path(sys.argv[1])
    directory.mkdir(parents=True, exist_ok=True)
    make_ca(directory)
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    jwk = jwt.algorithms.RSAAlgorithm.to_jwk(key.public_key(), as_dict=True)
    jwk.update({"kid": "bench-rs256", "use": "sig", "alg": "RS256"})
    hits = {"/keys": 0}
    state: dict[str, str] = {}

    class Handler(http.server.BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def do_GET(self):
            if self.path == "/.well-known/openid-configuration":
                body = {"issuer": state["url"], "jwks_uri": state["url"] + "/keys",
                        "response_types_supported": ["id_token"], "subject_types_supported": ["public"],
                        "id_token_signing_alg_values_supported": ["RS256"]}
            elif self.path == "/keys":
                hits["/keys"] += 1
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

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    httpd.daemon_threads = True
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(certfile=str(directory / "leaf-chain.pem"), keyfile=str(directory / "leaf-key.pem"))
    httpd.socket = ctx.wrap_socket(httpd.socket, server_side=True)
    state["url"] = f"https://localhost:{httpd.server_address[1]}"
    now = int(time.time())
    token = jwt.encode({"iss": state["url"], "sub": "system:serviceaccount:bench:app", "aud": CLIENT_ID,
                        "iat": now, "nbf": now, "exp": now + TOKEN_LIFETIME_SECS},
                       key, algorithm="RS256", headers={"kid": "bench-rs256"})
    metadata, saml_key, saml_rsa_key = saml_idp()
    out = {"oidc_issuer": state["url"], "oidc_client_id": CLIENT_ID, "web_identity_token": token,
           "saml_entity_id": SAML_ENTITY_ID, "saml_metadata": metadata, "saml_key_pkcs8_b64": saml_key,
           "saml_rsa_key_pkcs8_b64": saml_rsa_key}
    tmp = directory / "idp.json.tmp"
    tmp.write_text(json.dumps(out))
    tmp.rename(directory / "idp.json")

    def stop(*_):
        print(f"bench_idp: JWKS fetched {hits['/keys']} time(s)", file=sys.stderr, flush=True)
        threading.Thread(target=httpd.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    httpd.serve_forever()
    return 0


if __name__ == "__main__":
    sys.exit(main())
