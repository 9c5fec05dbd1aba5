"""Several `opensts serve` processes on one PostgreSQL database (docs/deployment.md).

Every test gets a fresh database (harness.PgDatabase) that all its nodes share, and one random
OPENSTS_MASTER_KEY that all its nodes get. Checked here:

* credentials (long-term keys, session tokens) minted on node A work on node B;
* IAM changes made through one node (or by `opensts` commands against the database) are
  enforced by the others within one second — also when the other node had the old state
  cached;
* one-time state is shared: an MFA code or a SAML assertion used on A is refused on B;
* a node with a different master key refuses to start;
* killing one node during a load run fails only requests sent to it;
* several nodes starting at once on an empty database make ONE default account and ONE key
  per key ring (advisory-locked migrations, leased bootstrap claim);
* a node whose database becomes unreachable keeps answering from its caches, refuses the
  rest with 503 ServiceUnavailable, reports /readyz 503, and recovers by itself.

PostgreSQL: $OPENSTS_TEST_DATABASE_URL, else postgres://postgres@127.0.0.1:5432/test (trust
auth). When it is not reachable every test here is SKIPPED (loudly), or FAILS when
OPENSTS_REQUIRE_POSTGRES=1.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import hmac
import importlib
import json
import os
import secrets
import select
import shutil
import socket
import struct
import subprocess
import threading
import time
import urllib.parse
import warnings
from pathlib import Path

import pytest
import requests
from botocore.exceptions import ClientError

from harness import (
    CREATED_RE,
    AK_RE,
    SK_RE,
    Creds,
    HarnessError,
    OpenSTSServer,
    PgDatabase,
    clean_env,
    random_account_id,
    random_akid,
    random_secret,
    unique,
    xml_error,
)

DEFAULT_PG_URL = "postgres://postgres@127.0.0.1:5432/test"
# The promise: a change through one node is enforced on every other within one second.
COHERENCE_SECS = 1.0
STS = {"Version": "2011-06-15"}


# --------------------------------------------------------------------------------------
# PostgreSQL availability and the cluster fixture
# --------------------------------------------------------------------------------------

def _pg_base_url() -> str:
    return os.environ.get("OPENSTS_TEST_DATABASE_URL") or DEFAULT_PG_URL


def _pg_problem(url: str) -> str | None:
    """None if PostgreSQL answers at `url` (and psql is there to create databases)."""
    if not shutil.which("psql"):
        return "psql not found (needed to create the test databases)"
    env = clean_env()
    env["PGCONNECT_TIMEOUT"] = "5"
    try:
        cp = subprocess.run(["psql", "-X", "-q", "-tA", "-d", url, "-c", "SELECT 1"], env=env,
                            capture_output=True, text=True, timeout=30, stdin=subprocess.DEVNULL)
    except (OSError, subprocess.TimeoutExpired) as e:
        return f"psql failed: {e}"
    if cp.returncode != 0:
        return cp.stderr.strip() or f"psql exited {cp.returncode}"
    return None


def _redacted(url: str) -> str:
    parts = urllib.parse.urlsplit(url)
    if parts.password is None:
        return url
    return urllib.parse.urlunsplit(parts._replace(netloc=parts.netloc.replace(":" + parts.password + "@", ":***@")))


@pytest.fixture(scope="module")
def pg_base_url() -> str:
    url = _pg_base_url()
    problem = _pg_problem(url)
    if problem is None:
        return url
    msg = (f"PostgreSQL NOT reachable at {_redacted(url)} ({problem}): "
           "ALL MULTI-NODE TESTS ARE SKIPPED (set OPENSTS_TEST_DATABASE_URL, or OPENSTS_REQUIRE_POSTGRES=1 "
           "to make this a failure)")
    if os.environ.get("OPENSTS_REQUIRE_POSTGRES") in ("1", "true"):
        pytest.fail(msg, pytrace=False)
    warnings.warn(msg, stacklevel=1)
    pytest.skip("*** " + msg + " ***")


def psql(url: str, sql: str) -> str:
    env = clean_env()
    env["PGCONNECT_TIMEOUT"] = "10"
    cp = subprocess.run(["psql", "-X", "-q", "-tA", "-v", "ON_ERROR_STOP=1", "-d", url, "-c", sql], env=env,
                        capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)
    assert cp.returncode == 0, f"psql {sql!r}: {cp.stderr}"
    return cp.stdout.strip()


class Cluster:
    """Nodes sharing one database and one master key."""

    def __init__(self, request, tmp_path_factory, bin_path: Path, db: PgDatabase):
        self.request = request
        self.tmp = tmp_path_factory
        self.bin = bin_path
        self.db = db
        self.master_key = secrets.token_hex(32)
        self.root = Creds(random_akid(), random_secret())
        self.account_id = random_account_id()
        self.nodes: list[OpenSTSServer] = []
        # Threads that started nodes stay alive until teardown: the harness sets
        # PR_SET_PDEATHSIG, which kills a child when the *thread* that forked it exits.
        self.release = threading.Event()
        self.keepers: list[threading.Thread] = []

    def node(self, name: str, *, start: bool = True, database_url: str | None = None,
             configured_root: bool = True) -> OpenSTSServer:
        base = Path(self.tmp.mktemp(name))
        srv = OpenSTSServer(
            data_dir=base / "data", work_dir=base / "work", database_url=database_url or self.db.url,
            root_creds=self.root if configured_root else None,
            account_id=self.account_id if configured_root else None,
            # as behind a load balancer: every client has the same address (docs/deployment.md)
            env={"OPENSTS_MASTER_KEY": self.master_key, "OPENSTS_RATE_PER_SOURCE": "0"},
            bin_path=self.bin, name=name,
        )
        self.nodes.append(srv)
        # failure reports show every node's stderr tail (see conftest.pytest_runtest_makereport)
        with contextlib.suppress(Exception):
            from conftest import SERVERS_KEY

            self.request.node.stash.setdefault(SERVERS_KEY, []).append(srv)
        if start:
            try:
                srv.start()
            except HarnessError as e:
                pytest.fail(str(e), pytrace=False)
        return srv

    def start_at_once(self, nodes: list[OpenSTSServer]) -> list[str]:
        """Start `nodes` concurrently; returns the start errors."""
        errors: list[str] = []
        started = threading.Barrier(len(nodes) + 1)

        def run(n: OpenSTSServer):
            try:
                n.start()
            except HarnessError as e:
                errors.append(f"{n.name}: {e}")
            finally:
                started.wait()
            self.release.wait()

        for n in nodes:
            t = threading.Thread(target=run, args=(n,), daemon=True)
            self.keepers.append(t)
            t.start()
        started.wait(timeout=180)
        return errors

    def opensts(self, *args: str) -> subprocess.CompletedProcess:
        """Run an `opensts` command against the shared database (with the master key)."""
        env = clean_env()
        env["OPENSTS_LOG"] = "warn"
        env["OPENSTS_MASTER_KEY"] = self.master_key
        data_dir = Path(self.tmp.mktemp("cli"))
        cmd = [str(self.bin), *args, "--data-dir", str(data_dir), "--database-url", self.db.url]
        return subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)

    def sql(self, query: str) -> str:
        return psql(self.db.url, query)


@pytest.fixture
def cluster(request, tmp_path_factory, opensts_bin_path, pg_base_url):
    try:
        db = PgDatabase(pg_base_url)
    except HarnessError as e:
        pytest.fail(str(e), pytrace=False)
    c = Cluster(request, tmp_path_factory, opensts_bin_path, db)
    try:
        yield c
    finally:
        for n in c.nodes:
            try:
                n.stop(timeout=10)
            except Exception:  # noqa: BLE001
                n.kill()
        c.release.set()
        for t in c.keepers:
            t.join(timeout=10)
        db.drop()


# --------------------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------------------

def within(seconds: float, fn, what: str, interval: float = 0.02):
    """Call fn until it returns truthy; fail if that takes longer than `seconds` (measured from
    now, i.e. from just after the change was acknowledged). Returns (value, elapsed)."""
    t0 = time.monotonic()
    last = None
    while True:
        try:
            value = fn()
        except AssertionError as e:
            value, last = None, e
        elapsed = time.monotonic() - t0
        if value:
            return value, elapsed
        if elapsed > seconds:
            raise AssertionError(f"{what}: not seen within {seconds:.1f} s (last: {last})")
        time.sleep(interval)


def err_code(fn, **kw) -> str | None:
    """None if the boto3 call succeeds, else its error code."""
    try:
        fn(**kw)
    except ClientError as e:
        return e.response["Error"]["Code"]
    return None


def hotp(seed: bytes, counter: int) -> str:
    """RFC 4226/6238: HMAC-SHA-1, 6 digits (the step is the TOTP counter)."""
    mac = hmac.new(seed, struct.pack(">Q", counter), hashlib.sha1).digest()
    off = mac[-1] & 0x0F
    n = struct.unpack(">I", mac[off:off + 4])[0] & 0x7FFFFFFF
    return f"{n % 1_000_000:06d}"


def b32decode(text: str) -> bytes:
    text = text.strip().upper()
    return base64.b32decode(text + "=" * (-len(text) % 8))


def assert_one_key_per_ring(cluster: "Cluster") -> None:
    rings = dict(line.split("|") for line in cluster.sql(
        "SELECT purpose, count(*) FROM keyring GROUP BY purpose ORDER BY purpose").splitlines())
    assert {"session-token", "auth-message"} <= rings.keys(), rings
    assert all(n == "1" for n in rings.values()), f"keys per ring: {rings}"


def gci_arn(node: OpenSTSServer, creds: Creds) -> str:
    return node.sts(creds).get_caller_identity()["Arn"]


def trust_for(principal_arn: str) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Principal": {"AWS": principal_arn}, "Action": "sts:AssumeRole"}]})


def policy(effect: str, action: str | list[str], resource: str = "*") -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": [
        {"Effect": effect, "Action": action, "Resource": resource}]})


# --------------------------------------------------------------------------------------
# credentials travel between nodes
# --------------------------------------------------------------------------------------

def test_credentials_from_one_node_work_on_the_other(cluster):
    a, b = cluster.node("A"), cluster.node("B")
    assert a.account_id == b.account_id
    # root on both
    for n in (a, b):
        assert n.aws("sts", "get-caller-identity")["Arn"] == f"arn:aws:iam::{cluster.account_id}:root"

    # a user and access key made on A sign requests to B (aws CLI)
    name = unique("mn")
    a.aws("iam", "create-user", "--user-name", name, "--path", "/multi/")
    key = Creds.from_access_key(a.aws("iam", "create-access-key", "--user-name", name)["AccessKey"])
    arn = f"arn:aws:iam::{cluster.account_id}:user/multi/{name}"
    assert b.aws("sts", "get-caller-identity", creds=key)["Arn"] == arn

    # session tokens minted on A verify on B and vice versa (the key ring lives in the database)
    from_a = Creds.from_sts(a.aws("sts", "get-session-token", creds=key)["Credentials"])
    assert b.aws("sts", "get-caller-identity", creds=from_a)["Arn"] == arn
    from_b = Creds.from_sts(b.aws("sts", "get-session-token")["Credentials"])
    assert a.aws("sts", "get-caller-identity", creds=from_b)["Arn"] == f"arn:aws:iam::{cluster.account_id}:root"

    # an IAM user listed through B right after A created it
    names = [u["UserName"] for u in b.aws("iam", "list-users", "--path-prefix", "/multi/")["Users"]]
    assert names == [name]
    # ...and every node holds the same single key per ring
    assert_one_key_per_ring(cluster)


def test_role_created_on_a_is_assumable_through_b_and_policy_changes_on_b_deny_on_a(cluster):
    """The timed writes go through boto3 (it returns as soon as the node answered; the aws CLI
    takes most of a second to exit), so "within one second" is measured from the moment the
    write was acknowledged. The other steps use the aws CLI."""
    a, b = cluster.node("A"), cluster.node("B")
    acct = cluster.account_id
    user = a.make_user(name=unique("assumer"))
    # The user may assume roles and list users (set on A, read by both).
    a.aws("iam", "put-user-policy", "--user-name", user.name, "--policy-name", "base",
          "--policy-document", policy("Allow", ["sts:AssumeRole", "iam:ListUsers"]))
    role = unique("role")
    role_arn = f"arn:aws:iam::{acct}:role/{role}"
    time.sleep(0.5)  # both nodes have processed the writes above

    # B has the role's absence cached before it is created (the hard case for coherence).
    sts_b = b.sts(user.creds)
    assert err_code(sts_b.assume_role, RoleArn=role_arn, RoleSessionName="s0") == "AccessDenied"

    a.iam().create_role(RoleName=role, AssumeRolePolicyDocument=trust_for(user.arn))

    def assumed_on_b():
        try:
            return sts_b.assume_role(RoleArn=role_arn, RoleSessionName="s1")["Credentials"]
        except ClientError as e:
            assert e.response["Error"]["Code"] == "AccessDenied", e.response
            return None

    _, took = within(COHERENCE_SECS, assumed_on_b, "role created on A assumable through B")

    # The same with the aws CLI: create-role on A, assume-role through B.
    role2 = unique("clirole")
    role2_arn = f"arn:aws:iam::{acct}:role/{role2}"
    assert b.aws_error("sts", "assume-role", "--role-arn", role2_arn, "--role-session-name", "cli",
                       creds=user.creds, code="AccessDenied")
    a.aws("iam", "create-role", "--role-name", role2, "--assume-role-policy-document", trust_for(user.arn))
    out = within(COHERENCE_SECS, lambda: b.aws("sts", "assume-role", "--role-arn", role2_arn,
                                               "--role-session-name", "cli", creds=user.creds),
                 "role created on A (aws CLI) assumable through B (aws CLI)")[0]
    assert out["AssumedRoleUser"]["Arn"] == f"arn:aws:sts::{acct}:assumed-role/{role2}/cli"
    session = Creds.from_sts(b.aws("sts", "assume-role", "--role-arn", role_arn, "--role-session-name", "cli",
                                   creds=user.creds)["Credentials"])

    # The role session may list users through a role policy set on B (aws CLI); used on A.
    b.aws("iam", "put-role-policy", "--role-name", role, "--policy-name", "list",
          "--policy-document", policy("Allow", "iam:ListUsers"))
    iam_a_session = a.iam(session)
    within(COHERENCE_SECS, lambda: err_code(iam_a_session.list_users) is None, "role policy put on B allowed on A")

    # A has everything cached and allowed; then B changes the policies.
    time.sleep(0.5)
    iam_a_user, sts_a_user = a.iam(user.creds), a.sts(user.creds)
    assert err_code(iam_a_user.list_users) is None
    assert err_code(sts_a_user.assume_role, RoleArn=role_arn, RoleSessionName="s2") is None
    assert err_code(iam_a_session.list_users) is None

    b.iam().put_user_policy(UserName=user.name, PolicyName="deny",
                            PolicyDocument=policy("Deny", ["sts:AssumeRole", "iam:ListUsers"]))
    _, took_user = within(COHERENCE_SECS, lambda: err_code(sts_a_user.assume_role, RoleArn=role_arn,
                                                           RoleSessionName="s3") == "AccessDenied",
                          "user policy put on B denies AssumeRole on A")
    assert err_code(iam_a_user.list_users) == "AccessDenied"
    r = a.aws_error("sts", "assume-role", "--role-arn", role_arn, "--role-session-name", "cli2",
                    creds=user.creds, code="AccessDenied")
    assert "not authorized to perform: sts:AssumeRole" in r.error_message

    b.iam().delete_role_policy(RoleName=role, PolicyName="list")
    _, took_role = within(COHERENCE_SECS, lambda: err_code(iam_a_session.list_users) == "AccessDenied",
                          "role policy deleted on B denies the role session on A")
    print(f"coherence: create-role {took:.3f}s, user policy {took_user:.3f}s, role policy {took_role:.3f}s")


def test_opensts_commands_against_the_database_reach_running_nodes(cluster):
    """`opensts account create` and `opensts role revoke-sessions` run as separate processes."""
    a, b = cluster.node("A"), cluster.node("B")
    new_acct = random_account_id()
    cp = cluster.opensts("account", "create", "--account-id", new_acct, "--name", "second")
    assert cp.returncode == 0, cp.stderr
    made = json.loads(cp.stdout)
    root2 = Creds(made["AccessKeyId"], made["SecretAccessKey"])
    for n in (a, b):
        assert gci_arn(n, root2) == f"arn:aws:iam::{new_acct}:root"

    # a role session allowed to list users, then revoked from the command line
    user = a.make_user(name=unique("u"))
    a.iam().put_user_policy(UserName=user.name, PolicyName="p", PolicyDocument=policy("Allow", "sts:AssumeRole"))
    role = unique("r")
    a.iam().create_role(RoleName=role, AssumeRolePolicyDocument=trust_for(user.arn))
    a.iam().put_role_policy(RoleName=role, PolicyName="l", PolicyDocument=policy("Allow", "iam:ListUsers"))
    session = Creds.from_sts(a.sts(user.creds).assume_role(
        RoleArn=f"arn:aws:iam::{cluster.account_id}:role/{role}", RoleSessionName="s0")["Credentials"])
    clients = [n.iam(session) for n in (a, b)]
    for c in clients:
        within(COHERENCE_SECS, lambda c=c: err_code(c.list_users) is None, "role session allowed")
    time.sleep(1.1)  # the revocation cutoff has one-second resolution
    cp = cluster.opensts("role", "revoke-sessions", "--role-name", role)
    assert cp.returncode == 0, cp.stderr
    for c, n in zip(clients, "AB"):
        within(COHERENCE_SECS, lambda c=c: err_code(c.list_users) == "AccessDenied",
               f"revoke-sessions enforced on node {n}")


# --------------------------------------------------------------------------------------
# one-time state
# --------------------------------------------------------------------------------------

def test_mfa_code_used_on_a_is_refused_on_b(cluster, tmp_path):
    a, b = cluster.node("A"), cluster.node("B")
    user = a.make_user(name=unique("mfa"))
    dev = unique("dev")
    seed_file = tmp_path / "seed.txt"
    out = a.aws("iam", "create-virtual-mfa-device", "--virtual-mfa-device-name", dev,
                "--outfile", str(seed_file), "--bootstrap-method", "Base32StringSeed")
    serial = out["VirtualMFADevice"]["SerialNumber"]
    seed = b32decode(seed_file.read_text())

    # Stay clear of a 30 s step boundary so the codes below keep their meaning.
    if time.time() % 30 > 25:
        time.sleep(30 - time.time() % 30 + 0.5)
    step = int(time.time()) // 30
    # enable with the codes of steps N-1 and N; then N+1 (inside the ±1 step window) is the
    # first code that may be used, exactly once, cluster-wide
    a.aws("iam", "enable-mfa-device", "--user-name", user.name, "--serial-number", serial,
          "--authentication-code1", hotp(seed, step - 1), "--authentication-code2", hotp(seed, step))
    code = hotp(seed, step + 1)

    got = a.aws("sts", "get-session-token", "--serial-number", serial, "--token-code", code, creds=user.creds)
    assert got["Credentials"]["AccessKeyId"].startswith("ASIA")
    r = b.aws_error("sts", "get-session-token", "--serial-number", serial, "--token-code", code,
                    creds=user.creds, code="AccessDenied")
    assert "MultiFactorAuthentication failed" in r.error_message, r.describe()
    # and on A again
    a.aws_error("sts", "get-session-token", "--serial-number", serial, "--token-code", code,
                creds=user.creds, code="AccessDenied")
    # the session with MFA from A works on B
    mfa_session = Creds.from_sts(got["Credentials"])
    assert b.aws("sts", "get-caller-identity", creds=mfa_session)["Arn"] == user.arn


def test_saml_assertion_used_on_a_is_refused_on_b(cluster):
    # The IdP simulation of test_saml.py (imported here so that only this test depends on it).
    saml = importlib.import_module("test_saml")
    cluster.account_id = saml.ACCOUNT  # its role and provider ARNs name this account
    a, b = cluster.node("A"), cluster.node("B")
    idp = saml.Idp()
    a.aws("iam", "create-saml-provider", "--saml-metadata-document", idp.metadata(), "--name", saml.PROVIDER_NAME)
    a.aws("iam", "create-role", "--role-name", saml.ROLE_NAME, "--assume-role-policy-document",
          saml.trust_policy())
    assertion = saml.signed_response(idp)
    first = saml.assume_cli(a, assertion)
    assert first.returncode == 0, first.describe()
    second = saml.assume_cli(b, assertion)
    assert second.error_code == "InvalidIdentityToken", second.describe()
    assert "already been used" in second.error_message
    # a fresh assertion works through B
    assert saml.assume_cli(b, saml.signed_response(idp)).returncode == 0


# --------------------------------------------------------------------------------------
# losing a node
# --------------------------------------------------------------------------------------

def test_killing_one_node_fails_only_requests_to_it(cluster):
    a, b = cluster.node("A"), cluster.node("B")
    user = a.make_user(name=unique("load"))
    session_from_a = a.session_for(user.creds)
    params = {"Action": "GetCallerIdentity", **STS}
    results: list[tuple[str, float, float, int | str]] = []  # (node, sent, done, status or error)
    lock = threading.Lock()
    stop_at = time.monotonic() + 3.0
    kill_at: list[float] = []

    def worker(offset: int):
        nodes = [("A", a.endpoint, a), ("B", b.endpoint, b)]
        i = offset
        while time.monotonic() < stop_at:
            name, _, node = nodes[i % 2]
            i += 1
            creds = user.creds if i % 3 else a.root
            prepared = node.prepare_signed(params, creds=creds)
            sent = time.monotonic()
            try:
                resp = requests.post(prepared.url, data=prepared.body, headers=dict(prepared.headers.items()),
                                     timeout=5)
                outcome: int | str = resp.status_code
            except requests.RequestException as e:
                outcome = type(e).__name__
            with lock:
                results.append((name, sent, time.monotonic(), outcome))
            # a bounded load (about 100 requests/s per thread), well inside the default
            # per-account rate limit even when every request goes to the surviving node
            time.sleep(max(0.0, 0.01 - (time.monotonic() - sent)))

    threads = [threading.Thread(target=worker, args=(k,)) for k in range(2)]
    for t in threads:
        t.start()
    time.sleep(1.0)
    kill_at.append(time.monotonic())
    a.kill()  # SIGKILL: no draining
    kill_at.append(time.monotonic())
    for t in threads:
        t.join(timeout=30)
    killing, killed = kill_at  # requests to A that overlap [killing, killed] were in flight

    on_b = [r for r in results if r[0] == "B"]
    on_a = [r for r in results if r[0] == "A"]
    assert on_b and on_a
    bad_b = [r for r in on_b if r[3] != 200]
    assert not bad_b, f"node B failed {len(bad_b)} of {len(on_b)} requests: {bad_b[:5]}"
    assert sum(1 for r in on_b if r[1] > killed) >= 5, "node B stopped answering after A was killed"
    # A: fine before the kill; only connection errors (never an HTTP error) from then on
    assert all(r[3] == 200 for r in on_a if r[2] < killing), [r for r in on_a if r[2] < killing and r[3] != 200]
    assert all(r[3] in (200,) or isinstance(r[3], str) for r in on_a), [r for r in on_a if r[3] != 200][:5]
    assert all(isinstance(r[3], str) for r in on_a if r[1] > killed + 0.2), "A answered after it was killed?"
    assert any(isinstance(r[3], str) for r in on_a), "no request to A failed — was it killed during the run?"

    print(f"load: A {len(on_a)} requests ({sum(isinstance(r[3], str) for r in on_a)} failed), "
          f"B {len(on_b)} requests ({sum(1 for r in on_b if r[1] > killed)} after the kill, all 200)")
    # B still serves IAM and STS, including a session minted on the dead node before
    assert gci_arn(b, session_from_a) == user.arn
    assert b.iam().get_user(UserName=user.name)["User"]["Arn"] == user.arn
    s = b.sts(user.creds).get_session_token()["Credentials"]
    assert gci_arn(b, Creds.from_sts(s)) == user.arn


# --------------------------------------------------------------------------------------
# starting together
# --------------------------------------------------------------------------------------

def test_three_nodes_starting_at_once_make_one_account_and_one_key_per_ring(cluster):
    # Generated root credentials (no OPENSTS_ROOT_* / OPENSTS_ACCOUNT_ID): every node would
    # pick its own random account if the bootstrap were not serialised.
    nodes = [cluster.node(f"N{i}", start=False, configured_root=False) for i in range(3)]
    placeholder = Creds("placeholder", "placeholder")
    for n in nodes:  # the harness insists on knowing root credentials; we find them below
        n.root, n.account_id = placeholder, "000000000000"
    errors = cluster.start_at_once(nodes)
    assert not errors, "\n".join(errors)

    printed = []
    for n in nodes:
        text = "\n".join(n.start_output)
        m, ak, sk = CREATED_RE.search(text), AK_RE.search(text), SK_RE.search(text)
        if m:
            assert ak and sk, text
            printed.append((n.name, m.group(1), Creds(ak.group(1), sk.group(1))))
    assert len(printed) == 1, f"root credentials printed by {[p[0] for p in printed]} (expected exactly one node)"
    _, account, root = printed[0]

    assert cluster.sql("SELECT count(*) FROM accounts") == "1"
    assert cluster.sql("SELECT id FROM accounts") == account
    assert cluster.sql("SELECT value FROM settings WHERE name = 'default_account_id'") == account
    assert cluster.sql("SELECT count(*) FROM access_keys") == "1"
    assert_one_key_per_ring(cluster)
    # one migration history, applied once
    assert cluster.sql("SELECT count(*) FROM _sqlx_migrations") == cluster.sql(
        "SELECT count(DISTINCT version) FROM _sqlx_migrations")

    for n in nodes:
        n.root, n.account_id = root, account
    session = Creds.from_sts(nodes[0].sts(root).get_session_token()["Credentials"])
    for n in nodes:
        assert gci_arn(n, root) == f"arn:aws:iam::{account}:root"
        assert gci_arn(n, session) == f"arn:aws:iam::{account}:root"


# --------------------------------------------------------------------------------------
# the database goes away
# --------------------------------------------------------------------------------------

class TcpCut:
    """A TCP forwarder to PostgreSQL that the test can cut: while cut, live connections are
    closed and new ones are accepted and closed at once (what a node sees when the database
    host goes away or the network between them breaks)."""

    def __init__(self, target_host: str, target_port: int):
        self.target = (target_host, target_port)
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.cut = threading.Event()
        self.closed = threading.Event()
        self.conns: set[socket.socket] = set()
        self.lock = threading.Lock()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while not self.closed.is_set():
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            if self.cut.is_set():
                client.close()
                continue
            try:
                upstream = socket.create_connection(self.target, timeout=5)
            except OSError:
                client.close()
                continue
            with self.lock:
                self.conns.update((client, upstream))
            threading.Thread(target=self._pump, args=(client, upstream), daemon=True).start()

    def _pump(self, a: socket.socket, b: socket.socket):
        try:
            while not self.cut.is_set():
                ready, _, _ = select.select([a, b], [], [], 0.2)
                for s in ready:
                    data = s.recv(65536)
                    if not data:
                        return
                    (b if s is a else a).sendall(data)
        except OSError:
            pass
        finally:
            with self.lock:
                self.conns.discard(a)
                self.conns.discard(b)
            for s in (a, b):
                with contextlib.suppress(OSError):
                    s.close()

    def set_cut(self, cut: bool):
        if cut:
            self.cut.set()
            with self.lock:
                conns = list(self.conns)
            for s in conns:
                with contextlib.suppress(OSError):
                    s.shutdown(socket.SHUT_RDWR)
        else:
            self.cut.clear()

    def close(self):
        self.closed.set()
        self.set_cut(True)
        with contextlib.suppress(OSError):
            self.listener.close()


def _via(url: str, port: int) -> str:
    parts = urllib.parse.urlsplit(url)
    netloc = parts.netloc.rsplit("@", 1)
    userinfo = netloc[0] + "@" if len(netloc) == 2 else ""
    return urllib.parse.urlunsplit(parts._replace(netloc=f"{userinfo}127.0.0.1:{port}"))


def test_database_outage_serves_cache_refuses_writes_and_recovers(cluster):
    parts = urllib.parse.urlsplit(cluster.db.url)
    proxy = TcpCut(parts.hostname or "127.0.0.1", parts.port or 5432)
    try:
        a = cluster.node("A", database_url=_via(cluster.db.url, proxy.port))
        b = cluster.node("B")  # direct: keeps working, and changes the database meanwhile
        warm = a.make_user(name=unique("warm"))
        cold = a.make_user(name=unique("cold"))  # never used on A before the outage
        role = unique("r")
        role_arn = f"arn:aws:iam::{cluster.account_id}:role/{role}"
        a.iam().put_user_policy(UserName=warm.name, PolicyName="p", PolicyDocument=policy("Allow", "sts:AssumeRole"))
        a.iam().create_role(RoleName=role, AssumeRolePolicyDocument=trust_for(warm.arn))
        # Every write drops the account's cache on every node (within one poll): warm up after
        # the last write has been seen.
        time.sleep(0.6)
        assert gci_arn(a, warm.creds) == warm.arn
        assert gci_arn(a, a.root).endswith(":root")
        session = a.session_for(warm.creds)
        # the role assumed once before the outage (caches role, user and their policies)
        assert err_code(a.sts(warm.creds).assume_role, RoleArn=role_arn, RoleSessionName="before") is None
        assert requests.get(a.endpoint + "/readyz", timeout=10).status_code == 200

        proxy.set_cut(True)
        time.sleep(0.5)  # the change poller fails a few times; the caches must stay

        # from memory: cached keys, sessions, new sessions for cached keys
        t0 = time.monotonic()
        assert gci_arn(a, a.root).endswith(":root")
        assert gci_arn(a, warm.creds) == warm.arn
        assert gci_arn(a, session) == warm.arn
        fresh = Creds.from_sts(a.sts(warm.creds).get_session_token()["Credentials"])
        assert gci_arn(a, fresh) == warm.arn
        assumed = a.sts(warm.creds).assume_role(RoleArn=role_arn, RoleSessionName="during")
        assert assumed["AssumedRoleUser"]["Arn"].endswith(f":assumed-role/{role}/during")
        assert time.monotonic() - t0 < 5, "cached answers were slow during the outage"

        # needs the database: a clean 503 ServiceUnavailable (Receiver), not an auth error
        for what, resp in (
            ("uncached key", a.signed_request({"Action": "GetCallerIdentity", **STS}, creds=cold.creds, timeout=60)),
            ("CreateUser", a.signed_request({"Action": "CreateUser", "UserName": unique("x"),
                                             "Version": "2010-05-08"}, service="iam", timeout=60)),
        ):
            err = xml_error(resp)
            assert (err.status, err.code, err.type) == (503, "ServiceUnavailable", "Receiver"), \
                f"{what}: {err.status} {err.code} {err.message}"
            assert err.request_id and err.header_request_id == err.request_id
        r = a.aws_error("iam", "create-user", "--user-name", unique("y"), code="ServiceUnavailable")
        assert "unavailable" in (r.error_message or "").lower()
        t0 = time.monotonic()
        ready = requests.get(a.endpoint + "/readyz", timeout=10)
        assert ready.status_code == 503 and time.monotonic() - t0 < 5
        assert requests.get(a.endpoint + "/healthz", timeout=10).status_code == 200
        # the other node is unaffected and changes the database: it deactivates the warm key
        b.iam().update_access_key(UserName=warm.name, AccessKeyId=warm.creds.access_key_id, Status="Inactive")
        assert gci_arn(a, warm.creds) == warm.arn  # A cannot know yet (documented)

        proxy.set_cut(False)
        # A reconnects by itself, catches up with what changed meanwhile, and writes again
        within(15, lambda: requests.get(a.endpoint + "/readyz", timeout=10).status_code == 200, "A ready again")
        within(COHERENCE_SECS, lambda: err_code(a.sts(warm.creds).get_caller_identity) == "InvalidClientTokenId",
               "key deactivated during the outage refused after it")
        assert gci_arn(a, cold.creds) == cold.arn
        a.aws("iam", "create-user", "--user-name", unique("after"))
    finally:
        proxy.close()


def test_a_node_with_another_master_key_refuses_to_start(cluster):
    cluster.node("A")
    good = cluster.master_key
    cluster.master_key = secrets.token_hex(32)
    try:
        with pytest.raises(HarnessError) as ei:
            n = cluster.node("wrongkey", start=False)
            n.start(timeout=30)
    finally:
        cluster.master_key = good
    assert "exited with code" in str(ei.value), str(ei.value)
    assert "the master key differs from the one that sealed it" in str(ei.value), str(ei.value)
