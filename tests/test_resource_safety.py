"""Resource safety: oversized and pathological input is refused quickly, with a clean error, in bounded
memory — and slow or idle clients cannot hold the server.

Limits under test (crates/opensts-server/src/config.rs, protocol/query.rs, opensts-policy):
  MAX_BODY_BYTES 256 KiB → 413 RequestEntityTooLarge; MAX_PARAMS 1000 → 400 MalformedQueryString;
  MAX_HEADER_BYTES 64 KiB → 431; JSON nesting (serde_json's recursion limit) → MalformedPolicyDocument /
  InvalidIdentityToken; HEADER_READ_TIMEOUT_SECS (10; 3 here when the binary has
  --header-read-timeout-secs) closes connections that do not finish their request head.

The configured limits (--max-body-bytes, --max-header-bytes) and the body read timeout (408 RequestTimeout)
are tested in tests/test_operations.py::test_request_size_limits_and_slow_clients; this module tests the
defaults, memory bounds and many slow clients at once.
"""

from __future__ import annotations

import base64
import functools
import socket
import subprocess
import threading
import time

import pytest
import requests
from botocore.exceptions import ClientError

from harness import (
    IAM_VERSION,
    STS_VERSION,
    OpenSTSServer,
    assert_error,
    caller_identity_from_xml,
    clean_env,
    opensts_bin,
    unique,
)
from test_attacks import FORM, GCI, exchange, send, sign

MAX_BODY_BYTES = 256 * 1024        # config.rs MAX_BODY_BYTES (the default of --max-body-bytes)
HEADER_READ_TIMEOUT = 10           # config.rs HEADER_READ_TIMEOUT_SECS
FAST = 3.0                         # seconds a refusal may take on a loaded CI machine


@functools.cache
def serve_flags() -> str:
    cp = subprocess.run([str(opensts_bin()), "serve", "--help"], capture_output=True, text=True, timeout=60,
                        env=clean_env())
    return cp.stdout


def rss_kib(srv: OpenSTSServer) -> int:
    with open(f"/proc/{srv.proc.pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise AssertionError("no VmRSS")


def timed(fn, *a, **kw):
    t = time.monotonic()
    out = fn(*a, **kw)
    return out, time.monotonic() - t


# --------------------------------------------------------------------------------------
# bodies
# --------------------------------------------------------------------------------------

def _form_of_size(n: int) -> bytes:
    body = (GCI + "&Pad=").encode()
    return body + b"x" * (n - len(body))


def test_body_at_the_limit_is_read_and_one_byte_over_is_413(module_server):
    srv = module_server
    at, _ = timed(send, srv, [("Content-Type", FORM)], _form_of_size(MAX_BODY_BYTES))
    assert_error(at, "MissingAuthenticationToken", 403)  # read and decoded: refused only for the missing auth
    over, took = timed(send, srv, [("Content-Type", FORM)], _form_of_size(MAX_BODY_BYTES + 1))
    err = assert_error(over, "RequestEntityTooLarge", 413)
    assert str(MAX_BODY_BYTES) in err.message
    assert took < FAST, f"413 took {took:.1f}s"
    # signed does not matter: the size is checked before anything else
    lines, body = sign(srv, _form_of_size(MAX_BODY_BYTES + 1))
    assert_error(send(srv, lines, body), "RequestEntityTooLarge", 413)


def test_chunked_body_over_the_limit_is_413(module_server):
    srv = module_server
    chunk = b"x" * 65536
    data = (f"POST / HTTP/1.1\r\nHost: 127.0.0.1:{srv.port}\r\nContent-Type: {FORM}\r\n"
            f"Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n").encode()
    data += (b"%x\r\n" % len(chunk) + chunk + b"\r\n") * 5 + b"0\r\n\r\n"
    (resp,), took = timed(exchange, srv, data)
    assert_error(resp, "RequestEntityTooLarge", 413)
    assert took < FAST


def _stream(srv: OpenSTSServer, total: int, chunked: bool, results: list):
    """Send up to `total` body bytes as fast as the server takes them; record (bytes sent, answer head)."""
    s = socket.create_connection(("127.0.0.1", srv.port), timeout=30)
    framing = "Transfer-Encoding: chunked" if chunked else f"Content-Length: {total}"
    s.sendall(f"POST / HTTP/1.1\r\nHost: 127.0.0.1:{srv.port}\r\nContent-Type: {FORM}\r\n{framing}\r\n\r\n".encode())
    chunk = b"A" * 65536
    sent = 0
    try:
        while sent < total:
            s.sendall(b"%x\r\n" % len(chunk) + chunk + b"\r\n" if chunked else chunk)
            sent += len(chunk)
    except (BrokenPipeError, ConnectionResetError):
        pass
    head = b""
    try:
        while b"\r\n\r\n" not in head:
            b = s.recv(4096)
            if not b:
                break
            head += b
    except (ConnectionResetError, socket.timeout):
        pass
    s.close()
    results.append((sent, head))


def test_20_mb_bodies_are_refused_in_bounded_memory(module_server):
    srv = module_server
    before = rss_kib(srv)
    results: list = []
    threads = [threading.Thread(target=_stream, args=(srv, 20 * 1024 * 1024, i % 2 == 1, results)) for i in range(4)]
    t0 = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    took = time.monotonic() - t0
    after = rss_kib(srv)
    assert len(results) == 4
    for sent, head in results:
        assert head.startswith(b"HTTP/1.1 413"), f"answer {head[:200]!r} after {sent} bytes"
        assert b"content-type: text/xml" in head.lower()
    grown_mib = (after - before) / 1024
    assert grown_mib < 100, f"RSS grew by {grown_mib:.0f} MiB for 4 × 20 MB refused bodies ({before} → {after} KiB)"
    assert took < 20, f"refusing 4 × 20 MB took {took:.1f}s"
    # the server is still fine
    lines, body = sign(srv)
    assert caller_identity_from_xml(send(srv, lines, body))["Arn"] == srv.root_arn()


def test_request_head_over_64_kib_is_431(module_server):
    srv = module_server
    r, took = timed(requests.post, srv.endpoint + "/", data=GCI,
                    headers={"Content-Type": FORM, "X-Big": "a" * (70 * 1024)}, timeout=30)
    assert r.status_code == 431, (r.status_code, r.content[:200])
    assert took < FAST
    lines, body = sign(srv)
    assert caller_identity_from_xml(send(srv, lines, body))["Arn"] == srv.root_arn()


# --------------------------------------------------------------------------------------
# parameters
# --------------------------------------------------------------------------------------

@pytest.mark.parametrize("where", ["body", "query", "signed-body"])
def test_5000_parameters(module_server, where):
    srv = module_server
    many = "&".join(f"p{i}=v" for i in range(5000))
    if where == "body":
        resp, took = timed(send, srv, [("Content-Type", FORM)], f"{GCI}&{many}".encode())
    elif where == "query":
        resp, took = timed(send, srv, [], method="GET", target=f"/?{GCI}&{many}")
    else:
        lines, body = sign(srv, f"{GCI}&{many}")
        resp, took = timed(send, srv, lines, body)
    assert_error(resp, "MalformedQueryString", 400, "Too many parameters (more than 1000)")
    assert took < FAST, f"took {took:.1f}s"


def test_parameter_list_index_far_out_of_range(module_server):
    """`Tags.member.99999999.Key`: no allocation proportional to the index."""
    srv = module_server
    name = unique("idx")
    lines, body = sign(srv, f"Action=CreateUser&Version={IAM_VERSION}&UserName={name}"
                            "&Tags.member.99999999.Key=k&Tags.member.99999999.Value=v", service="iam")
    resp, took = timed(send, srv, lines, body)
    assert_error(resp, "MalformedQueryString", 400)
    assert took < FAST
    with pytest.raises(ClientError):
        srv.iam().get_user(UserName=name)


# --------------------------------------------------------------------------------------
# deeply nested JSON
# --------------------------------------------------------------------------------------

def _nested_policy(depth: int) -> str:
    return ('{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"*","Resource":"*",'
            '"Condition":{"StringEquals":{"aws:username":' + "[" * depth + '"x"' + "]" * depth + "}}}]}")


@pytest.mark.parametrize("shape", ["arrays", "objects", "bare"])
def test_policy_nested_10000_levels_is_malformed_not_a_crash(module_server, shape):
    srv = module_server
    iam = srv.iam()
    user = unique("deep")
    iam.create_user(UserName=user)
    doc = {"arrays": _nested_policy(10_000),
           "objects": '{"Version":"2012-10-17","Statement":' + '{"a":' * 10_000 + "1" + "}" * 10_000 + "}",
           "bare": "[" * 10_000 + "]" * 10_000}[shape]
    t = time.monotonic()
    with pytest.raises(ClientError) as ei:
        iam.put_user_policy(UserName=user, PolicyName="deep", PolicyDocument=doc)
    took = time.monotonic() - t
    err = ei.value.response
    assert (err["Error"]["Code"], err["ResponseMetadata"]["HTTPStatusCode"]) == ("MalformedPolicyDocument", 400), err
    assert took < FAST
    assert srv.alive
    assert iam.list_user_policies(UserName=user)["PolicyNames"] == []


def test_deep_policies_within_the_size_quotas_are_malformed(module_server):
    """Managed (6144 chars) and trust (2048 chars) policies are size-checked first; nested as deep as those
    sizes allow (far beyond any parser's recursion limit) they are MalformedPolicyDocument."""
    srv = module_server
    iam = srv.iam()
    name = unique("deep")
    for call, depth in ((lambda d: iam.create_policy(PolicyName=name, PolicyDocument=d), 2_900),
                        (lambda d: iam.create_role(RoleName=name, AssumeRolePolicyDocument=d), 900)):
        with pytest.raises(ClientError) as ei:
            call(_nested_policy(depth))
        assert ei.value.response["Error"]["Code"] == "MalformedPolicyDocument", ei.value.response
    with pytest.raises(ClientError):
        iam.get_role(RoleName=name)


def test_web_identity_token_with_deeply_nested_claims(module_server):
    srv = module_server

    def b64(d: bytes) -> str:
        return base64.urlsafe_b64encode(d).rstrip(b"=").decode()

    claims = '{"iss":"https://idp.example","a":' + "[" * 6500 + "]" * 6500 + "}"
    header = b64(b'{"alg":"RS256","kid":"k"}')
    token = f"{header}.{b64(claims.encode())}.{b64(b'sig')}"
    assert len(token) <= 20_000
    resp = srv.unsigned_request({"Action": "AssumeRoleWithWebIdentity", "Version": STS_VERSION,
                                 "RoleArn": f"arn:aws:iam::{srv.account_id}:role/r", "RoleSessionName": "s1",
                                 "WebIdentityToken": token})
    assert_error(resp, "InvalidIdentityToken", 400, "Invalid token")
    assert srv.alive


# --------------------------------------------------------------------------------------
# slow and idle clients
# --------------------------------------------------------------------------------------

def _header_timeout_server(server_factory, name: str) -> tuple[OpenSTSServer, int]:
    """A server with a short head timeout when the binary has --header-read-timeout-secs, else the default."""
    if "--header-read-timeout-secs" in serve_flags():
        return server_factory(name=name, args=["--header-read-timeout-secs", "3"]), 3
    return server_factory(name=name), HEADER_READ_TIMEOUT


def _closed_within(sock: socket.socket, seconds: float) -> tuple[bool, float, bytes]:
    """Wait for the server to close (EOF/reset); returns (closed, elapsed, bytes received)."""
    t0 = time.monotonic()
    sock.settimeout(0.5)
    got = b""
    while time.monotonic() - t0 < seconds:
        try:
            b = sock.recv(4096)
        except socket.timeout:
            continue
        except (ConnectionResetError, BrokenPipeError):
            return True, time.monotonic() - t0, got
        if not b:
            return True, time.monotonic() - t0, got
        got += b
    return False, time.monotonic() - t0, got


def test_slowloris_does_not_stop_normal_requests(server_factory):
    """200 connections dripping a request head one byte per second: a normal request is still served
    within 2 s, and the dripping connections are closed by the head timeout."""
    srv, head_timeout = _header_timeout_server(server_factory, "slowloris")
    head = f"POST / HTTP/1.1\r\nHost: 127.0.0.1:{srv.port}\r\nContent-Type: {FORM}\r\nX-Pad: {'p' * 200}\r\n".encode()
    socks = []
    for _ in range(200):
        s = socket.create_connection(("127.0.0.1", srv.port), timeout=5)
        s.setblocking(False)
        socks.append(s)
    t0 = time.monotonic()
    closed: set[int] = set()
    latencies = []
    lines, body = sign(srv)
    i = 0
    deadline = t0 + head_timeout + 5
    while time.monotonic() < deadline and len(closed) < len(socks):
        for n, s in enumerate(socks):
            if n in closed:
                continue
            try:
                s.send(head[i:i + 1])
                while s.recv(4096):
                    pass
                closed.add(n)  # EOF
            except BlockingIOError:
                pass
            except OSError:
                closed.add(n)
        i += 1
        if i <= 4:  # normal requests while all 200 drip
            r0 = time.monotonic()
            resp = requests.post(srv.endpoint + "/", data=body, headers=dict(lines), timeout=10)
            latencies.append(time.monotonic() - r0)
            assert caller_identity_from_xml(resp)["Arn"] == srv.root_arn()
        time.sleep(max(0.0, t0 + i - time.monotonic()))
    elapsed = time.monotonic() - t0
    for s in socks:
        s.close()
    assert max(latencies) < 2.0, f"normal request latencies under slowloris: {latencies}"
    assert len(closed) == len(socks), (
        f"{len(socks) - len(closed)} of {len(socks)} dripping connections still open after {elapsed:.0f}s "
        f"(head timeout {head_timeout}s)")
    assert srv.alive


def test_incomplete_head_and_idle_keep_alive_connections_are_closed(server_factory):
    srv, head_timeout = _header_timeout_server(server_factory, "idle")
    partial = socket.create_connection(("127.0.0.1", srv.port), timeout=5)
    partial.sendall(b"POST / HTTP/1.1\r\nHo")
    keepalive = socket.create_connection(("127.0.0.1", srv.port), timeout=5)
    keepalive.sendall(f"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1:{srv.port}\r\n\r\n".encode())
    results = {}

    def watch(name, s):
        results[name] = _closed_within(s, head_timeout + 5)

    ts = [threading.Thread(target=watch, args=a) for a in (("partial", partial), ("keep-alive", keepalive))]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    closed, took, got = results["partial"]
    assert closed, f"a connection with an incomplete request head was still open after {took:.0f}s"
    closed, took, got = results["keep-alive"]
    assert got.startswith(b"HTTP/1.1 200"), got[:100]
    assert closed, f"an idle keep-alive connection was still open after {took:.0f}s"
    partial.close()
    keepalive.close()


def test_silent_connection_is_closed(server_factory):
    srv, head_timeout = _header_timeout_server(server_factory, "silent")
    shapes = {
        "no byte at all": b"",
        "part of the HTTP/2 preface": b"PRI * HTTP/2.0\r\n",
        # the preface and an empty SETTINGS frame, then nothing (an idle h2c connection)
        "idle HTTP/2 connection": b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + b"\x00\x00\x00\x04\x00\x00\x00\x00\x00",
    }
    results = {}

    def watch(name, data):
        with socket.create_connection(("127.0.0.1", srv.port), timeout=5) as s:
            if data:
                s.sendall(data)
            results[name] = _closed_within(s, head_timeout + 5)

    ts = [threading.Thread(target=watch, args=item) for item in shapes.items()]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    still_open = [f"{name} (open after {took:.0f}s)" for name, (closed, took, _) in results.items() if not closed]
    assert not still_open, f"connections never closed (head timeout {head_timeout}s): {still_open}"


def test_idle_watchdog_spares_a_request_in_flight(server_factory):
    """The idle watchdog closes connections with no request in flight; a request whose body is still
    arriving (within the body timeout) after the head timeout has passed is answered, not cut off."""
    srv, head_timeout = _header_timeout_server(server_factory, "inflight")
    body = b"Action=GetCallerIdentity&Version=2011-06-15"
    head = (f"POST / HTTP/1.1\r\nHost: 127.0.0.1:{srv.port}\r\nContent-Type: {FORM}\r\n"
            f"Content-Length: {len(body)}\r\n\r\n").encode()
    with socket.create_connection(("127.0.0.1", srv.port), timeout=5) as s:
        s.sendall(head)
        s.sendall(body[:10])
        time.sleep(head_timeout + 2)  # longer than the idle timeout, shorter than the body timeout
        s.sendall(body[10:])
        s.settimeout(10)
        got = s.recv(65536)
    # an unsigned request: the server read the whole body and answered with an AWS error
    assert got.startswith(b"HTTP/1.1 4"), got[:200]
    assert b"<ErrorResponse" in got, got[:400]
