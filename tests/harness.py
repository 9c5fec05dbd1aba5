"""Harness for the OpenSTS end-to-end tests.

Starts the real `opensts` binary, drives it with the real aws CLI (v1) and
boto3/botocore, and offers raw SigV4 helpers for the wire-level checks.

Everything here is plain Python; the pytest fixtures live in conftest.py.
"""

from __future__ import annotations

import atexit
import contextlib
import ctypes
import dataclasses
import datetime as dt
import json
import os
import queue
import re
import secrets
import shutil
import signal
import string
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
import uuid
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any, Callable, Iterable
from unittest import mock

import boto3
import botocore.auth
import botocore.config
import botocore.credentials
import requests
from botocore.awsrequest import AWSRequest

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_BIN = REPO_ROOT / "target" / "debug" / "opensts"

START_TIMEOUT = float(os.environ.get("OPENSTS_TEST_START_TIMEOUT", "30"))
STOP_TIMEOUT = float(os.environ.get("OPENSTS_TEST_STOP_TIMEOUT", "15"))
CLI_TIMEOUT = float(os.environ.get("OPENSTS_TEST_CLI_TIMEOUT", "120"))
HTTP_TIMEOUT = 30

STS_VERSION = "2011-06-15"
IAM_VERSION = "2010-05-08"

LISTEN_RE = re.compile(r"^OpenSTS listening on (https?://127\.0\.0\.1:(\d+))\s*$")
CREATED_RE = re.compile(r"OpenSTS created account (\d{12}) with root credentials")
AK_RE = re.compile(r"export AWS_ACCESS_KEY_ID=(\S+)")
SK_RE = re.compile(r"export AWS_SECRET_ACCESS_KEY=(\S+)")
CLI_ERROR_RE = re.compile(r"An error occurred \(([^)]+)\)(?: when calling the (\w+) operation)?(?:\s*\(reached max retries: \d+\))?: ?(.*)", re.S)
EXPIRATION_RE = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$")
ACCOUNT_RE = re.compile(r"^\d{12}$")
AKIA_RE = re.compile(r"^AKIA[A-Z0-9]{16}$")
ASIA_RE = re.compile(r"^ASIA[A-Z0-9]{16}$")
AIDA_RE = re.compile(r"^AIDA[A-Z0-9]{17}$")
SECRET_RE = re.compile(r"^[A-Za-z0-9/+]{40}$")


class HarnessError(Exception):
    """A problem with the test environment or the server start (not an assertion)."""


# --------------------------------------------------------------------------------------
# environment
# --------------------------------------------------------------------------------------

def opensts_bin() -> Path:
    """The binary under test: $OPENSTS_BIN or target/debug/opensts."""
    env = os.environ.get("OPENSTS_BIN")
    path = Path(env) if env else DEFAULT_BIN
    if not path.is_absolute():
        path = (REPO_ROOT / path).resolve()
    return path


def check_opensts_bin() -> Path:
    path = opensts_bin()
    if not path.exists():
        raise HarnessError(
            f"OpenSTS server binary not found at {path}.\n"
            "Build it first (`cargo build` in the repo, or run scripts/test which builds it), "
            "or point OPENSTS_BIN at an existing opensts binary."
        )
    if not os.access(path, os.X_OK):
        raise HarnessError(f"OpenSTS binary {path} is not executable")
    return path


def aws_cli_path() -> str:
    """The aws CLI of the interpreter running pytest (the venv), else the one on PATH."""
    candidate = Path(sys.executable).parent / "aws"
    if candidate.exists():
        return str(candidate)
    found = shutil.which("aws")
    if not found:
        raise HarnessError("aws CLI not found: install tests/requirements.txt into the venv running pytest")
    return found


def clean_env(drop_prefixes: Iterable[str] = ("AWS_", "BOTO_", "OPENSTS_")) -> dict[str, str]:
    prefixes = tuple(drop_prefixes)
    return {k: v for k, v in os.environ.items() if not k.startswith(prefixes)}


def unique(prefix: str = "u") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


def parse_expiration(text: str) -> dt.datetime:
    """Parse an STS Expiration as sent on the wire (`YYYY-MM-DDTHH:MM:SSZ`)."""
    assert EXPIRATION_RE.match(text), f"Expiration {text!r} is not YYYY-MM-DDTHH:MM:SSZ"
    return dt.datetime.strptime(text, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=dt.timezone.utc)


def random_akid(prefix: str = "AKIA") -> str:
    alphabet = string.ascii_uppercase + "234567"
    return prefix + "".join(secrets.choice(alphabet) for _ in range(16))


def random_secret() -> str:
    alphabet = string.ascii_letters + string.digits + "/+"
    return "".join(secrets.choice(alphabet) for _ in range(40))


def random_account_id() -> str:
    return str(secrets.randbelow(9 * 10**11) + 10**11)


def eventually(fn: Callable[[], Any], *, timeout: float = 1.5, interval: float = 0.05, what: str = "condition") -> Any:
    """Call fn until it returns without AssertionError (returns its value) or the timeout passes."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            return fn()
        except AssertionError:
            if time.monotonic() >= deadline:
                raise
        time.sleep(interval)


# --------------------------------------------------------------------------------------
# credentials / XML
# --------------------------------------------------------------------------------------

@dataclasses.dataclass(frozen=True)
class Creds:
    access_key_id: str
    secret_access_key: str
    session_token: str | None = None
    expiration: str | None = None

    @classmethod
    def from_sts(cls, c: dict) -> "Creds":
        """From a `Credentials` structure (aws CLI JSON or boto3; Expiration kept as text)."""
        exp = c.get("Expiration")
        if isinstance(exp, dt.datetime):
            exp = exp.astimezone(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
        return cls(c["AccessKeyId"], c["SecretAccessKey"], c.get("SessionToken"), exp)

    @classmethod
    def from_access_key(cls, k: dict) -> "Creds":
        """From an IAM `AccessKey` structure."""
        return cls(k["AccessKeyId"], k["SecretAccessKey"])

    def botocore(self) -> botocore.credentials.Credentials:
        return botocore.credentials.Credentials(self.access_key_id, self.secret_access_key, self.session_token)

    def replace(self, **kw) -> "Creds":
        return dataclasses.replace(self, **kw)


def strip_ns(elem: ET.Element) -> ET.Element:
    for e in elem.iter():
        if isinstance(e.tag, str) and "}" in e.tag:
            e.tag = e.tag.split("}", 1)[1]
    return elem


def parse_xml(data: bytes | str) -> ET.Element:
    if isinstance(data, str):
        data = data.encode()
    return strip_ns(ET.fromstring(data))


@dataclasses.dataclass
class XmlError:
    status: int
    code: str | None
    message: str | None
    type: str | None
    request_id: str | None
    header_request_id: str | None
    body: bytes


def xml_error(resp: requests.Response) -> XmlError:
    """Parse an AWS ErrorResponse; raises AssertionError if the body is not one."""
    try:
        root = parse_xml(resp.content)
    except ET.ParseError as e:
        raise AssertionError(f"HTTP {resp.status_code}: body is not XML ({e}): {resp.content[:500]!r}") from None
    assert root.tag == "ErrorResponse", f"HTTP {resp.status_code}: root element {root.tag!r}, body {resp.content[:500]!r}"
    err = root.find("Error")
    assert err is not None, f"ErrorResponse without <Error>: {resp.content[:500]!r}"
    return XmlError(
        status=resp.status_code,
        code=err.findtext("Code"),
        message=err.findtext("Message"),
        type=err.findtext("Type"),
        request_id=root.findtext("RequestId"),
        header_request_id=resp.headers.get("x-amzn-RequestId"),
        body=resp.content,
    )


def assert_error(resp: requests.Response, code: str, status: int, message_prefix: str | None = None) -> XmlError:
    err = xml_error(resp)
    assert (err.code, err.status) == (code, status), (
        f"expected {code}/{status}, got {err.code}/{err.status}: {err.message!r}"
    )
    assert err.type == "Sender", f"Type {err.type!r} for a client error"
    assert err.request_id, "ErrorResponse has no RequestId"
    assert err.header_request_id == err.request_id, (
        f"x-amzn-RequestId header {err.header_request_id!r} != body RequestId {err.request_id!r}"
    )
    if message_prefix is not None:
        assert (err.message or "").startswith(message_prefix), f"message {err.message!r} does not start with {message_prefix!r}"
    return err


def assert_client_error(resp: requests.Response) -> XmlError:
    """Any 4xx answer carrying a well-formed ErrorResponse (Type Sender, RequestId = x-amzn-RequestId)."""
    assert 400 <= resp.status_code < 500, f"HTTP {resp.status_code} (expected 4xx): {resp.content[:500]!r}"
    err = xml_error(resp)
    assert err.code, f"empty <Code>: {resp.content[:500]!r}"
    assert err.message is not None, f"no <Message>: {resp.content[:500]!r}"
    assert err.type == "Sender", f"Type {err.type!r} for HTTP {resp.status_code}"
    assert err.request_id, "ErrorResponse has no RequestId"
    assert err.header_request_id == err.request_id, (
        f"x-amzn-RequestId header {err.header_request_id!r} != body RequestId {err.request_id!r}")
    return err


def caller_identity_from_xml(resp: requests.Response) -> dict:
    assert resp.status_code == 200, f"HTTP {resp.status_code}: {resp.content[:500]!r}"
    root = parse_xml(resp.content)
    assert root.tag == "GetCallerIdentityResponse", root.tag
    res = root.find("GetCallerIdentityResult")
    assert res is not None
    rid = root.findtext("ResponseMetadata/RequestId")
    assert rid, "no ResponseMetadata/RequestId"
    assert resp.headers.get("x-amzn-RequestId") == rid, "x-amzn-RequestId header differs from body RequestId"
    return {k: res.findtext(k) for k in ("UserId", "Account", "Arn")}


# --------------------------------------------------------------------------------------
# botocore time control
# --------------------------------------------------------------------------------------

@contextlib.contextmanager
def botocore_clock(when: dt.datetime | None):
    """Make botocore's SigV4 signers believe the current time is `when` (UTC)."""
    if when is None:
        yield
        return
    when_utc = when.astimezone(dt.timezone.utc)

    def fake(remove_tzinfo: bool = True):
        return when_utc.replace(tzinfo=None) if remove_tzinfo else when_utc

    with mock.patch.object(botocore.auth, "get_current_datetime", fake):
        yield


# --------------------------------------------------------------------------------------
# aws CLI result
# --------------------------------------------------------------------------------------

@dataclasses.dataclass
class CliResult:
    cmd: list[str]
    returncode: int
    stdout: str
    stderr: str

    @property
    def json(self) -> Any:
        return json.loads(self.stdout) if self.stdout.strip() else None

    @property
    def _err(self):
        return CLI_ERROR_RE.search(self.stderr)

    @property
    def error_code(self) -> str | None:
        m = self._err
        return m.group(1) if m else None

    @property
    def error_message(self) -> str | None:
        m = self._err
        return m.group(3).strip() if m else None

    def describe(self) -> str:
        args = " ".join(self.cmd[1:])
        return f"`aws {args}` exited {self.returncode}\nstdout: {self.stdout[-2000:]}\nstderr: {self.stderr[-2000:]}"


# --------------------------------------------------------------------------------------
# PostgreSQL helper (one fresh database per server)
# --------------------------------------------------------------------------------------

class PgDatabase:
    def __init__(self, base_url: str):
        if not shutil.which("psql"):
            raise HarnessError("psql not found: needed to create per-test PostgreSQL databases")
        self.base_url = base_url
        self.name = f"opensts_t_{uuid.uuid4().hex[:16]}"
        parts = urllib.parse.urlsplit(base_url)
        self.url = urllib.parse.urlunsplit(parts._replace(path="/" + self.name))
        self._psql(f'CREATE DATABASE "{self.name}"')

    def _psql(self, sql: str) -> None:
        env = clean_env()
        env["PGCONNECT_TIMEOUT"] = "10"
        cp = subprocess.run(
            ["psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", self.base_url, "-c", sql],
            env=env, capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL,
        )
        if cp.returncode != 0:
            raise HarnessError(f"psql failed ({sql}): {cp.stderr.strip()}")

    def dump(self) -> bytes:
        env = clean_env()
        env["PGCONNECT_TIMEOUT"] = "10"
        cp = subprocess.run(["pg_dump", "--no-owner", "-d", self.url], env=env, capture_output=True, timeout=120,
                            stdin=subprocess.DEVNULL)
        if cp.returncode != 0:
            raise HarnessError(f"pg_dump failed: {cp.stderr.decode(errors='replace')}")
        return cp.stdout

    def drop(self) -> None:
        with contextlib.suppress(Exception):
            self._psql(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)')


# --------------------------------------------------------------------------------------
# the server
# --------------------------------------------------------------------------------------

_LIVE: set["OpenSTSServer"] = set()
_LIVE_LOCK = threading.Lock()


def _kill_all_live() -> None:
    with _LIVE_LOCK:
        servers = list(_LIVE)
    for s in servers:
        with contextlib.suppress(Exception):
            s.kill()


atexit.register(_kill_all_live)


def _child_setup() -> None:  # runs in the child between fork and exec
    # If the test process dies (even by SIGKILL), take the server down with it.
    with contextlib.suppress(Exception):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG


class OpenSTSServer:
    """One `opensts serve` process (restartable) on 127.0.0.1:<free port>."""

    def __init__(
        self,
        *,
        data_dir: Path,
        work_dir: Path,
        region: str = "us-east-1",
        database_url: str | None = None,
        root_creds: Creds | None = None,
        account_id: str | None = None,
        env: dict[str, str] | None = None,
        args: Iterable[str] = (),
        bin_path: Path | None = None,
        name: str = "opensts",
        ca_bundle: Path | None = None,
    ):
        self.bin = bin_path or check_opensts_bin()
        self.data_dir = Path(data_dir)
        self.work_dir = Path(work_dir)
        self.work_dir.mkdir(parents=True, exist_ok=True)
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.region = region
        self.database_url = database_url
        self.name = name
        self.extra_env = dict(env or {})
        self.extra_args = list(args)
        self.env_root = root_creds
        self.env_account_id = account_id
        self.root: Creds | None = root_creds
        self.account_id: str | None = account_id
        self.proc: subprocess.Popen | None = None
        self.endpoint: str | None = None
        self.port: int | None = None
        self.starts = 0
        self.start_outputs: list[list[str]] = []  # stdout lines before the listening line, per start
        self.stdout_lines: list[str] = []
        self.stderr_path = self.work_dir / f"{name}.stderr.log"
        self.last_exit_code: int | None = None
        self.last_stop_was_forced = False
        self._reader: threading.Thread | None = None
        self._lines: queue.Queue = queue.Queue()
        self._aws = None
        # PEM CA bundle trusted for an HTTPS server (aws CLI: AWS_CA_BUNDLE; boto3/requests: verify).
        self.ca_bundle: Path | None = Path(ca_bundle) if ca_bundle else None

    @property
    def verify(self) -> str | bool:
        """`verify=` for requests/boto3: the CA bundle when set, else the default trust store."""
        return str(self.ca_bundle) if self.ca_bundle else True

    # ---- process control ---------------------------------------------------------------

    def command(self) -> list[str]:
        cmd = [str(self.bin), "serve", "--listen", "127.0.0.1:0", "--data-dir", str(self.data_dir),
               "--region", self.region]
        if self.database_url:
            cmd += ["--database-url", self.database_url]
        return cmd + self.extra_args

    def server_env(self) -> dict[str, str]:
        env = clean_env()
        env["OPENSTS_LOG"] = os.environ.get("OPENSTS_LOG", "info")
        if self.env_root is not None:
            env["OPENSTS_ROOT_ACCESS_KEY_ID"] = self.env_root.access_key_id
            env["OPENSTS_ROOT_SECRET_ACCESS_KEY"] = self.env_root.secret_access_key
        if self.env_account_id is not None:
            env["OPENSTS_ACCOUNT_ID"] = self.env_account_id
        env.update(self.extra_env)
        return env

    @property
    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    @property
    def start_output(self) -> list[str]:
        """stdout lines printed before the listening line by the latest start."""
        return self.start_outputs[-1] if self.start_outputs else []

    def _read_stdout(self, proc: subprocess.Popen, q: queue.Queue) -> None:
        assert proc.stdout is not None
        for raw in iter(proc.stdout.readline, b""):
            line = raw.decode("utf-8", errors="replace").rstrip("\r\n")
            self.stdout_lines.append(line)
            q.put(line)
        q.put(None)

    def start(self, timeout: float = START_TIMEOUT) -> "OpenSTSServer":
        if self.alive:
            raise HarnessError("server already running")
        self.starts += 1
        stderr = open(self.stderr_path, "ab")
        stderr.write(f"\n===== start #{self.starts}: {' '.join(self.command())}\n".encode())
        stderr.flush()
        try:
            proc = subprocess.Popen(
                self.command(), stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=stderr,
                cwd=self.work_dir, env=self.server_env(), preexec_fn=_child_setup,
            )
        finally:
            stderr.close()
        self.proc = proc
        with _LIVE_LOCK:
            _LIVE.add(self)
        q: queue.Queue = queue.Queue()
        self._lines = q
        self._reader = threading.Thread(target=self._read_stdout, args=(proc, q), daemon=True)
        self._reader.start()

        before: list[str] = []
        deadline = time.monotonic() + timeout
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                self.kill()
                raise HarnessError(
                    f"OpenSTS did not print 'OpenSTS listening on http://127.0.0.1:PORT' within {timeout:.0f}s\n"
                    + self._diagnostics(before))
            try:
                line = q.get(timeout=min(remaining, 0.5))
            except queue.Empty:
                continue
            if line is None:
                rc = proc.wait(timeout=10)
                self.last_exit_code = rc
                with _LIVE_LOCK:
                    _LIVE.discard(self)
                raise HarnessError(
                    f"OpenSTS exited with code {rc} before printing its listening line\n"
                    + self._diagnostics(before))
            m = LISTEN_RE.match(line)
            if m:
                self.endpoint = m.group(1)
                self.port = int(m.group(2))
                break
            before.append(line)
        self.start_outputs.append(before)
        self._parse_created(before)
        if self.root is None or self.account_id is None:
            self.kill()
            raise HarnessError(
                "OpenSTS started on a fresh data dir without root credentials in the environment, but did not "
                "print 'OpenSTS created account ID with root credentials (shown once):' + the export lines\n"
                + self._diagnostics(before))
        return self

    def _parse_created(self, lines: list[str]) -> None:
        text = "\n".join(lines)
        m = CREATED_RE.search(text)
        ak, sk = AK_RE.search(text), SK_RE.search(text)
        if m and ak and sk and self.root is None:
            self.account_id = m.group(1)
            self.root = Creds(ak.group(1), sk.group(1))
        elif m and self.account_id is None:
            self.account_id = m.group(1)

    def _diagnostics(self, stdout_lines: list[str]) -> str:
        return (f"command: {' '.join(self.command())}\n"
                f"stdout:\n  " + "\n  ".join(stdout_lines[-20:]) + "\n"
                f"stderr (tail of {self.stderr_path}):\n{self.stderr_tail()}")

    def stderr_tail(self, lines: int = 40) -> str:
        try:
            data = self.stderr_path.read_text(errors="replace").splitlines()
        except FileNotFoundError:
            return "(no stderr log)"
        return "\n".join(data[-lines:])

    def stop(self, timeout: float = STOP_TIMEOUT) -> int | None:
        """SIGTERM, wait, SIGKILL after `timeout`. Returns the exit code."""
        proc = self.proc
        if proc is None:
            return self.last_exit_code
        self.last_stop_was_forced = False
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.last_stop_was_forced = True
                proc.kill()
                proc.wait(timeout=10)
        self._finish(proc)
        return self.last_exit_code

    def kill(self) -> None:
        proc = self.proc
        if proc is None:
            return
        if proc.poll() is None:
            proc.kill()
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=10)
        self._finish(proc)

    def _finish(self, proc: subprocess.Popen) -> None:
        self.last_exit_code = proc.returncode
        if self._reader is not None:
            self._reader.join(timeout=5)
        if proc.stdout:
            with contextlib.suppress(Exception):
                proc.stdout.close()
        with _LIVE_LOCK:
            _LIVE.discard(self)
        self.proc = None

    def restart(self, timeout: float = START_TIMEOUT) -> "OpenSTSServer":
        self.stop()
        return self.start(timeout=timeout)

    # ---- aws CLI ------------------------------------------------------------------------

    def aws_run(self, *args: str, creds: Creds | None = None, unsigned: bool = False, region: str | None = None,
                config_text: str = "", env: dict[str, str] | None = None, endpoint: bool = True,
                timeout: float = CLI_TIMEOUT) -> CliResult:
        """Run the real aws CLI against this server (root credentials unless `creds`)."""
        if self._aws is None:
            self._aws = aws_cli_path()
        creds = creds or self.root
        with tempfile.TemporaryDirectory(prefix="awscli-", dir=self.work_dir) as home:
            cfg = Path(home) / "config"
            cfg.write_text(config_text)
            cred_file = Path(home) / "credentials"
            cred_file.write_text("")
            e = clean_env()
            e.update({
                "HOME": home,
                "AWS_CONFIG_FILE": str(cfg),
                "AWS_SHARED_CREDENTIALS_FILE": str(cred_file),
                "AWS_EC2_METADATA_DISABLED": "true",
                "AWS_DEFAULT_REGION": region or self.region,
                "AWS_MAX_ATTEMPTS": "1",
                "AWS_RETRY_MODE": "standard",
                "AWS_PAGER": "",
            })
            if self.ca_bundle:
                e["AWS_CA_BUNDLE"] = str(self.ca_bundle)
            if not unsigned and creds is not None:
                e["AWS_ACCESS_KEY_ID"] = creds.access_key_id
                e["AWS_SECRET_ACCESS_KEY"] = creds.secret_access_key
                if creds.session_token:
                    e["AWS_SESSION_TOKEN"] = creds.session_token
            e.update(env or {})
            cmd = [self._aws, *args, "--output", "json"]
            if endpoint:
                cmd += ["--endpoint-url", self.endpoint]
            if unsigned:
                cmd += ["--no-sign-request"]
            cp = subprocess.run(cmd, env=e, capture_output=True, text=True, timeout=timeout,
                                stdin=subprocess.DEVNULL, cwd=home)
        return CliResult(cmd, cp.returncode, cp.stdout, cp.stderr)

    def aws(self, *args: str, **kw) -> Any:
        """Run the aws CLI; it must succeed. Returns the parsed JSON output (None if empty)."""
        r = self.aws_run(*args, **kw)
        assert r.returncode == 0, r.describe()
        try:
            return r.json
        except json.JSONDecodeError:
            raise AssertionError(f"aws CLI printed non-JSON output:\n{r.describe()}") from None

    def aws_error(self, *args: str, code: str | None = None, **kw) -> CliResult:
        """Run the aws CLI; it must fail with a service error (`An error occurred (Code)`)."""
        r = self.aws_run(*args, **kw)
        assert r.returncode != 0, f"expected an error{f' ({code})' if code else ''} but it succeeded:\n{r.describe()}"
        assert r.error_code, f"no 'An error occurred (Code)' in stderr:\n{r.describe()}"
        if code is not None:
            assert r.error_code == code, f"expected error code {code}, got {r.error_code}:\n{r.describe()}"
        return r

    # ---- boto3 --------------------------------------------------------------------------

    def client(self, service: str, creds: Creds | None = None, *, region: str | None = None,
               parameter_validation: bool = True, **config_kw):
        creds = creds or self.root
        session = boto3.session.Session(
            aws_access_key_id=creds.access_key_id,
            aws_secret_access_key=creds.secret_access_key,
            aws_session_token=creds.session_token,
            region_name=region or self.region,
        )
        cfg = botocore.config.Config(
            retries={"max_attempts": 1, "mode": "standard"},
            connect_timeout=10, read_timeout=60,
            parameter_validation=parameter_validation,
            **config_kw,
        )
        return session.client(service, endpoint_url=self.endpoint, config=cfg, verify=self.verify)

    def sts(self, creds: Creds | None = None, **kw):
        return self.client("sts", creds, **kw)

    def iam(self, creds: Creds | None = None, **kw):
        return self.client("iam", creds, **kw)

    # ---- raw HTTP -----------------------------------------------------------------------

    def signed_request(self, params: dict | list | None = None, *, body: bytes | str | None = None,
                       creds: Creds | None = None, service: str = "sts", region: str | None = None,
                       method: str = "POST", headers: dict[str, str] | None = None,
                       when: dt.datetime | None = None, query: str | None = None,
                       timeout: float = HTTP_TIMEOUT) -> requests.Response:
        """Sign a request with botocore's SigV4Auth (optionally at a fixed time) and send it with requests."""
        prepared = self.prepare_signed(params, body=body, creds=creds, service=service, region=region,
                                       method=method, headers=headers, when=when, query=query)
        return requests.request(method, prepared.url, data=prepared.body,
                                headers=dict(prepared.headers.items()), timeout=timeout, verify=self.verify)

    def prepare_signed(self, params=None, *, body=None, creds=None, service="sts", region=None, method="POST",
                       headers=None, when=None, query=None):
        creds = creds or self.root
        if body is None and params is not None and method == "POST":
            body = urllib.parse.urlencode(params)
        if isinstance(body, str):
            body = body.encode()
        url = self.endpoint + "/"
        if query is None and method == "GET" and params is not None:
            query = urllib.parse.urlencode(params, quote_via=urllib.parse.quote)
        if query:
            url += "?" + query
        hdrs = {}
        if method == "POST":
            hdrs["Content-Type"] = "application/x-www-form-urlencoded; charset=utf-8"
        hdrs.update(headers or {})
        req = AWSRequest(method=method, url=url, data=body or b"", headers=hdrs)
        with botocore_clock(when):
            botocore.auth.SigV4Auth(creds.botocore(), service, region or self.region).add_auth(req)
        return req.prepare()

    def unsigned_request(self, params: dict | list | None = None, *, body: bytes | str | None = None,
                         method: str = "POST", headers: dict[str, str] | None = None, query: str | None = None,
                         timeout: float = HTTP_TIMEOUT) -> requests.Response:
        if body is None and params is not None and method == "POST":
            body = urllib.parse.urlencode(params)
        url = self.endpoint + "/"
        if query is None and method == "GET" and params is not None:
            query = urllib.parse.urlencode(params)
        if query:
            url += "?" + query
        hdrs = {"Content-Type": "application/x-www-form-urlencoded; charset=utf-8"} if method == "POST" else {}
        hdrs.update(headers or {})
        return requests.request(method, url, data=body, headers=hdrs, timeout=timeout, verify=self.verify)

    # ---- the opensts binary's other subcommands -----------------------------------------

    def run_opensts(self, *args: str, env: dict[str, str] | None = None, timeout: float = 60) -> subprocess.CompletedProcess:
        e = clean_env()
        e["OPENSTS_LOG"] = os.environ.get("OPENSTS_LOG", "info")
        e.update(env or {})
        return subprocess.run([str(self.bin), *args], env=e, capture_output=True, text=True, timeout=timeout,
                              stdin=subprocess.DEVNULL, cwd=self.work_dir)

    def create_account(self, account_id: str, name: str | None = None) -> dict:
        """`opensts account create` against this server's data dir (and database); returns its JSON."""
        args = ["account", "create", "--account-id", account_id, "--data-dir", str(self.data_dir)]
        if name:
            args += ["--name", name]
        if self.database_url:
            args += ["--database-url", self.database_url]
        cp = self.run_opensts(*args)
        assert cp.returncode == 0, f"opensts {' '.join(args)} exited {cp.returncode}\nstdout: {cp.stdout}\nstderr: {cp.stderr[-3000:]}"
        try:
            return json.loads(cp.stdout)
        except json.JSONDecodeError:
            raise AssertionError(f"opensts account create did not print one JSON object:\n{cp.stdout!r}") from None

    # ---- convenience (boto3; for setup, not for the behaviour under test) ----------------

    def make_user(self, name: str | None = None, path: str = "/", with_key: bool = True) -> "User":
        iam = self.iam()
        name = name or unique("user")
        u = iam.create_user(UserName=name, Path=path)["User"]
        creds = None
        if with_key:
            creds = Creds.from_access_key(iam.create_access_key(UserName=name)["AccessKey"])
        return User(name=name, path=path, user_id=u["UserId"], arn=u["Arn"], creds=creds)

    def session_for(self, creds: Creds | None = None, duration: int | None = None) -> Creds:
        kw = {"DurationSeconds": duration} if duration else {}
        return Creds.from_sts(self.sts(creds).get_session_token(**kw)["Credentials"])

    def root_arn(self) -> str:
        return f"arn:aws:iam::{self.account_id}:root"

    def data_files(self) -> list[Path]:
        return sorted(p for p in self.data_dir.rglob("*") if p.is_file())

    def __repr__(self) -> str:
        return f"<OpenSTSServer {self.name} {self.endpoint} data={self.data_dir}>"


@dataclasses.dataclass
class User:
    name: str
    path: str
    user_id: str
    arn: str
    creds: Creds | None
