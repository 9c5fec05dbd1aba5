"""pytest fixtures for the OpenSTS end-to-end suite.

Fixtures
  opensts_bin      the server binary ($OPENSTS_BIN or target/debug/opensts); fails clearly when missing
  server_factory   make(**kw) -> a started OpenSTSServer with its own data dir on a free port;
                   kw: backend="sqlite"|"postgres", root_creds=Creds|True (True = generate and pass by env),
                   account_id, region, env, args, start=False. Every server made is killed at test end.
  server           one shared server per test process (xdist worker), generated root credentials
  user             a fresh IAM user with one access key on the shared server

The PostgreSQL backend is used when OPENSTS_TEST_DATABASE_URL is set (scripts/test sets it when
127.0.0.1:5432 answers); each server then gets a fresh database that is dropped afterwards.
Postgres-parametrized tests are skipped without it, or fail when OPENSTS_REQUIRE_POSTGRES=1.
OPENSTS_TEST_BACKEND=postgres makes PostgreSQL the default backend of `server`, `module_server`
and `server_factory` (scripts/test runs the spine suites a second time that way).
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from harness import (
    Creds,
    HarnessError,
    OpenSTSServer,
    PgDatabase,
    aws_cli_path,
    check_opensts_bin,
    opensts_bin,
    random_account_id,
    random_akid,
    random_secret,
)

# Keep boto3 in this process away from the developer's own AWS configuration.
for _k in [k for k in os.environ if k.startswith(("AWS_", "BOTO_"))]:
    del os.environ[_k]
_AWS_HOME = tempfile.mkdtemp(prefix="opensts-tests-aws-")
for _name, _var in (("config", "AWS_CONFIG_FILE"), ("credentials", "AWS_SHARED_CREDENTIALS_FILE")):
    Path(_AWS_HOME, _name).write_text("")
    os.environ[_var] = str(Path(_AWS_HOME, _name))
os.environ["AWS_EC2_METADATA_DISABLED"] = "true"

SERVERS_KEY = pytest.StashKey[list]()

# The backend of servers whose test does not choose one ("sqlite" or "postgres").
DEFAULT_BACKEND = os.environ.get("OPENSTS_TEST_BACKEND") or "sqlite"


def pytest_report_header(config):
    lines = []
    path = opensts_bin()
    lines.append(f"opensts binary: {path} ({'present' if path.exists() else 'MISSING'})")
    try:
        aws = aws_cli_path()
        v = subprocess.run([aws, "--version"], capture_output=True, text=True, timeout=60)
        lines.append(f"aws CLI: {aws}: {(v.stdout or v.stderr).strip()}")
    except Exception as e:  # noqa: BLE001
        lines.append(f"aws CLI: unavailable ({e})")
    import boto3
    import botocore

    lines.append(f"boto3 {boto3.__version__}, botocore {botocore.__version__}, python {sys.version.split()[0]}")
    db = os.environ.get("OPENSTS_TEST_DATABASE_URL")
    lines.append(f"PostgreSQL tests: {db if db else 'SKIPPED (OPENSTS_TEST_DATABASE_URL not set)'}")
    lines.append(f"default backend: {DEFAULT_BACKEND} (OPENSTS_TEST_BACKEND)")
    return lines


def pytest_configure(config):
    config.addinivalue_line("markers", "postgres: needs PostgreSQL (OPENSTS_TEST_DATABASE_URL)")


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    if report.failed:
        servers = list(item.stash.get(SERVERS_KEY, []))
        for fixture_name in ("server", "module_server"):
            if fixture_name in item.fixturenames:
                s = item.funcargs.get(fixture_name) if hasattr(item, "funcargs") else None
                if isinstance(s, OpenSTSServer) and s not in servers:
                    servers.append(s)
        for s in servers:
            state = "running" if s.alive else f"not running (exit code {s.last_exit_code})"
            report.sections.append((f"OpenSTS {s.name} stderr tail [{state}]", s.stderr_tail(60)))


@pytest.fixture(scope="session")
def opensts_bin_path() -> Path:
    try:
        return check_opensts_bin()
    except HarnessError as e:
        msg = str(e)
    pytest.fail(msg, pytrace=False)


def _make_server(tmp_factory, opensts_bin_path, *, name, backend=None, root_creds=None, account_id=None,
                 region="us-east-1", env=None, args=(), start=True, cleanups=None, ca_bundle=None):
    backend = backend or DEFAULT_BACKEND
    base = Path(tmp_factory.mktemp(name))
    database_url = None
    if backend == "postgres":
        base_url = os.environ.get("OPENSTS_TEST_DATABASE_URL")
        if not base_url:
            if os.environ.get("OPENSTS_REQUIRE_POSTGRES") == "1":
                pytest.fail("OPENSTS_REQUIRE_POSTGRES=1 but OPENSTS_TEST_DATABASE_URL is not set", pytrace=False)
            pytest.skip("PostgreSQL not available (OPENSTS_TEST_DATABASE_URL not set)")
        try:
            db = PgDatabase(base_url)
        except HarnessError as e:
            db, msg = None, str(e)
        if db is None:
            pytest.fail(msg, pytrace=False)
        cleanups.append(db.drop)
        database_url = db.url
    elif backend != "sqlite":
        raise ValueError(backend)
    if root_creds is True:
        root_creds = Creds(random_akid(), random_secret())
        account_id = account_id or random_account_id()
    srv = OpenSTSServer(
        data_dir=base / "data", work_dir=base / "work", region=region, database_url=database_url,
        root_creds=root_creds, account_id=account_id, env=env, args=args, bin_path=opensts_bin_path,
        name=name, ca_bundle=ca_bundle,
    )
    srv.backend = backend
    srv.pg = db if backend == "postgres" else None
    if start:
        msg = None
        try:
            srv.start()
        except HarnessError as e:
            msg = str(e)
        if msg:
            pytest.fail(msg, pytrace=False)
    return srv


@pytest.fixture
def server_factory(request, tmp_path_factory, opensts_bin_path):
    made: list[OpenSTSServer] = []
    cleanups: list = []
    request.node.stash[SERVERS_KEY] = made
    counter = iter(range(1, 1000))

    def make(**kw) -> OpenSTSServer:
        name = kw.pop("name", None) or f"srv{next(counter)}"
        srv = _make_server(tmp_path_factory, opensts_bin_path, name=name, cleanups=cleanups, **kw)
        made.append(srv)
        return srv

    try:
        yield make
    finally:
        for s in made:
            try:
                s.stop(timeout=10)
            except Exception:  # noqa: BLE001
                s.kill()
        for c in reversed(cleanups):
            c()


@pytest.fixture(scope="session")
def server(tmp_path_factory, opensts_bin_path):
    """One shared server for the tests of this process. Use unique names for what you create."""
    cleanups: list = []
    srv = _make_server(tmp_path_factory, opensts_bin_path, name="shared", cleanups=cleanups)
    try:
        yield srv
    finally:
        srv.stop(timeout=10)
        for c in reversed(cleanups):
            c()


@pytest.fixture(scope="module")
def module_server(tmp_path_factory, opensts_bin_path):
    """A server shared by the tests of one module (per process)."""
    cleanups: list = []
    srv = _make_server(tmp_path_factory, opensts_bin_path, name="module", cleanups=cleanups)
    try:
        yield srv
    finally:
        srv.stop(timeout=10)
        for c in reversed(cleanups):
            c()


@pytest.fixture
def user(server):
    """A fresh IAM user (path /) with one access key on the shared server."""
    return server.make_user()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def backend(request):
    return request.param
