"""Smoke run of the benchmark tools (scripts/bench is not part of scripts/test: it takes minutes).

The load generator (target/…/opensts-bench, next to $OPENSTS_BIN) runs every scenario for one
second on two connections against a real server with throttling off, plus the bare-hyper ceiling
server and the HTTPS OIDC/SAML IdP of scripts/bench_idp.py. Every scenario must have answered
successfully (the generator checks each 200 carries the action's Result element) with no error,
the JSON summary must hold ratios to the ceiling, and the server's memory must be reported.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

from harness import REPO_ROOT, opensts_bin

SCENARIOS = ["ceiling", "gci-user", "gci-session", "assume-role", "web-identity", "saml", "get-role"]


def tool(name: str) -> Path:
    path = opensts_bin().parent / name
    if not path.exists():
        pytest.fail(f"{path} missing: `cargo build --workspace` builds it")
    return path


@pytest.fixture
def idp(tmp_path):
    proc = subprocess.Popen([sys.executable, str(REPO_ROOT / "scripts" / "bench_idp.py"), str(tmp_path / "idp")],
                            stderr=subprocess.PIPE, text=True)
    fixtures = tmp_path / "idp" / "idp.json"
    deadline = time.monotonic() + 30
    while not fixtures.exists():
        assert proc.poll() is None, proc.stderr.read()
        assert time.monotonic() < deadline, "bench_idp.py did not write idp.json"
        time.sleep(0.05)
    yield tmp_path / "idp"
    proc.terminate()
    _, err = proc.communicate(timeout=10)
    # The server cached the JWKS: fetched once for the whole run, not per request.
    assert "JWKS fetched 1 time(s)" in err, err


@pytest.fixture
def ceiling():
    proc = subprocess.Popen([str(tool("bench-ceiling")), "127.0.0.1:0"], stdout=subprocess.PIPE, text=True)
    line = proc.stdout.readline()
    m = re.search(r"http://127\.0\.0\.1:\d+", line)
    assert m, line
    yield m.group(0)
    proc.kill()
    proc.wait(timeout=10)


def test_load_generator_smoke(server_factory, idp, ceiling, tmp_path):
    srv = server_factory(root_creds=True, env={"OPENSTS_CA_FILE": str(idp / "ca.pem")},
                         args=["--rate-per-source", "0", "--rate-per-account", "0"])
    out = tmp_path / "bench.json"
    env = dict(os.environ, OPENSTS_BENCH_ROOT_ACCESS_KEY_ID=srv.root.access_key_id,
               OPENSTS_BENCH_ROOT_SECRET_ACCESS_KEY=srv.root.secret_access_key)
    r = subprocess.run([str(tool("opensts-bench")), "--endpoint", srv.endpoint, "--ceiling", ceiling,
                        "--idp-fixtures", str(idp / "idp.json"), "--server-pid", str(srv.proc.pid),
                        "--scenarios", ",".join(SCENARIOS), "--signature", "both",
                        "--duration", "1", "--warmup", "0", "--connections", "2",
                        "--load-roles", "5", "--load-users", "3", "--strict", "--output", str(out),
                        # a small pre-signed SAML pool, used up during the run (then signed per request)
                        "--saml-presigned", "20", "--adjacent-ceiling", "0.5"],
                       env=env, capture_output=True, text=True, timeout=180)
    assert r.returncode == 0, r.stderr
    summary = json.loads(out.read_text())
    runs = {(x["scenario"], x["signature"]): x for x in summary["results"]}
    # SAML is never replayed (the server refuses a reused assertion id); everything else is.
    expected = {(s, "fresh") for s in SCENARIOS} | {(s, "replayed") for s in SCENARIOS if s != "saml"}
    assert set(runs) == expected
    for key, run in runs.items():
        assert run["requests"] > 0 and run["errors"] == 0, (key, run)
        assert run["latency"]["p50_us"] > 0, (key, run)
    for row in summary["table"]:
        assert row["ratio_to_ceiling"] > 0, row
        # every run is compared with a ceiling run made just before it (the machine drifts)
        assert row["ceiling_rps"] > 0, row
        if row["scenario"] != "ceiling":
            assert abs(row["ratio_to_ceiling"] - row["rps"] / row["ceiling_rps"]) < 1e-9, row
    assert "20 responses pre-signed" in r.stderr and "used up" in r.stderr, r.stderr[-2000:]
    assert runs[("saml", "fresh")]["requests"] > 20, "past the pool, responses are signed per request"
    assert summary["bulk_load"] == {"roles": 5, "users": 3, "seconds": summary["bulk_load"]["seconds"]}
    assert summary["memory_after_run"]["vm_rss_bytes"] > 1_000_000
    assert summary["machine"]["nproc"] >= 1
