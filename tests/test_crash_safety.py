"""Crash safety of the embedded store: `kill -9` at random moments during a write-heavy run, restart on
the same data dir, and every acknowledged write must be there, with the store consistent.

One server (SQLite in its data dir, root credentials from the environment), CYCLES times:

1. start it on the data dir (after the first cycle: a restart after SIGKILL);
2. verify: every write ever acknowledged (HTTP 200) is present — users and roles in ListUsers/ListRoles
   with their ids, and for the writes of the previous cycle GetUser / GetRole / ListAccessKeys one by
   one, each acknowledged access key listed under its user *and* still authenticating (its sealed secret
   decrypts after the crash); every user the previous cycle left behind, acknowledged or not, answers
   GetUser and ListAccessKeys; SQLite `PRAGMA integrity_check` is `ok`; no 5xx anywhere;
3. WRITERS threads create users, access keys and roles as fast as the server answers, recording each
   write only once its 200 has been received;
4. SIGKILL after a seeded random delay (so kills land before, between and in the middle of commits).

The random delays and each writer's choices come from SEED, so a failing cycle number means the same
schedule on a rerun (the exact interleaving still depends on timing). OPENSTS_CRASH_CYCLES overrides
the number of cycles (default 50).
"""

from __future__ import annotations

import dataclasses
import json
import os
import random
import sqlite3
import subprocess
import threading
import time
import urllib.parse

import boto3
import botocore.config
import botocore.exceptions
import urllib3.exceptions

from harness import STS_VERSION, Creds, OpenSTSServer, caller_identity_from_xml

SEED = 20261126
CYCLES = int(os.environ.get("OPENSTS_CRASH_CYCLES", "50"))
WRITERS = 2
KILL_AFTER = (0.02, 0.6)  # seconds after the writers start
NO_RATE_LIMITS = {"OPENSTS_RATE_PER_SOURCE": "0", "OPENSTS_RATE_PER_ACCOUNT": "0"}
TRUST = json.dumps({"Version": "2012-10-17", "Statement": [
    {"Effect": "Allow", "Principal": {"AWS": "*"}, "Action": "sts:AssumeRole"}]})

# What a request interrupted by the kill raises (no HTTP answer at all).
CONNECTION_LOST = (
    botocore.exceptions.ConnectionError,  # EndpointConnectionError (refused or reset), ConnectTimeoutError
    botocore.exceptions.HTTPClientError,  # ConnectionClosedError, ReadTimeoutError, …
    botocore.exceptions.ResponseStreamingError,
    urllib3.exceptions.HTTPError,
    ConnectionError,
)


@dataclasses.dataclass
class Acked:
    """Writes whose 200 was received, and the cycle each was made in."""
    users: dict = dataclasses.field(default_factory=dict)   # name -> (user_id, cycle)
    roles: dict = dataclasses.field(default_factory=dict)   # name -> (role_id, cycle)
    keys: dict = dataclasses.field(default_factory=dict)    # access key id -> (user name, secret, cycle)
    attempted_users: dict = dataclasses.field(default_factory=dict)  # name -> cycle (sent, answered or not)
    lock: threading.Lock = dataclasses.field(default_factory=threading.Lock)


class Clients:
    """boto3 clients for one run of the server (its port changes on every start)."""

    _session = None

    def __init__(self, srv: OpenSTSServer):
        if Clients._session is None:
            Clients._session = boto3.session.Session()
        self.srv = srv
        cfg = botocore.config.Config(retries={"max_attempts": 1, "mode": "standard"}, connect_timeout=5,
                                     read_timeout=30)
        kw = dict(endpoint_url=srv.endpoint, region_name=srv.region, config=cfg,
                  aws_access_key_id=srv.root.access_key_id, aws_secret_access_key=srv.root.secret_access_key)
        self.iam = Clients._session.client("iam", **kw)
        self.sts = Clients._session.client("sts", **kw)

    def new_iam(self):
        return Clients(self.srv).iam


def paginate(client, op: str, key: str) -> list:
    out = []
    for page in client.get_paginator(op).paginate(PaginationConfig={"PageSize": 1000}):
        out.extend(page[key])
    return out


def writer(iam, acked: Acked, cycle: int, w: int, rng: random.Random, stop: threading.Event, problems: list,
           counts: dict):
    mine: list[str] = []          # acknowledged users of this writer in this cycle
    keys_of: dict[str, int] = {}
    i = 0
    while not stop.is_set():
        i += 1
        op = rng.choices(["user", "key", "role"], weights=[4, 3, 2])[0]
        if op == "key" and not [u for u in mine if keys_of[u] < 2]:
            op = "user"
        try:
            if op == "user":
                name = f"c{cycle}-w{w}-u{i}"
                with acked.lock:
                    acked.attempted_users[name] = cycle
                out = iam.create_user(UserName=name, Path=f"/crash/c{cycle}/")["User"]
                with acked.lock:
                    acked.users[name] = (out["UserId"], cycle)
                mine.append(name)
                keys_of[name] = 0
            elif op == "key":
                name = rng.choice([u for u in mine if keys_of[u] < 2])
                out = iam.create_access_key(UserName=name)["AccessKey"]
                with acked.lock:
                    acked.keys[out["AccessKeyId"]] = (name, out["SecretAccessKey"], cycle)
                keys_of[name] += 1
            else:
                name = f"c{cycle}-w{w}-r{i}"
                out = iam.create_role(RoleName=name, AssumeRolePolicyDocument=TRUST)["Role"]
                with acked.lock:
                    acked.roles[name] = (out["RoleId"], cycle)
            with acked.lock:
                counts["acked"] += 1
        except CONNECTION_LOST:
            with acked.lock:
                counts["interrupted"] += 1
            return  # the server is gone
        except botocore.exceptions.ClientError as e:
            if stop.is_set():
                return
            problems.append(f"cycle {cycle} writer {w} {op}: {e.response['Error']} "
                            f"HTTP {e.response['ResponseMetadata'].get('HTTPStatusCode')}")
            return
        except Exception as e:  # noqa: BLE001 — anything else is a finding
            if stop.is_set():
                return
            problems.append(f"cycle {cycle} writer {w} {op}: {type(e).__name__}: {e}")
            return


def authenticates(srv: OpenSTSServer, key_id: str, secret: str) -> dict:
    resp = srv.signed_request({"Action": "GetCallerIdentity", "Version": STS_VERSION},
                              creds=Creds(key_id, secret), timeout=30)
    return caller_identity_from_xml(resp)


def integrity_check(srv: OpenSTSServer) -> str:
    db = srv.data_dir / "opensts.db"
    assert db.exists(), f"no SQLite database at {db}: {srv.data_files()}"
    con = sqlite3.connect(f"file:{urllib.parse.quote(str(db))}?mode=ro", uri=True, timeout=30)
    try:
        return ";".join(r[0] for r in con.execute("PRAGMA integrity_check").fetchall())
    finally:
        con.close()


def verify(srv: OpenSTSServer, c: Clients, acked: Acked, cycle: int, *, everything: bool = False) -> dict:
    """Everything acknowledged so far is present; the previous cycle's writes are checked one by one
    (all of them when `everything`)."""
    stats = {"checked_one_by_one": 0, "keys_authenticated": 0, "unacked_present": 0}
    assert c.sts.get_caller_identity()["Arn"] == srv.root_arn()

    users = {u["UserName"]: u for u in paginate(c.iam, "list_users", "Users")}
    roles = {r["RoleName"]: r for r in paginate(c.iam, "list_roles", "Roles")}
    missing_users = [n for n in acked.users if n not in users]
    missing_roles = [n for n in acked.roles if n not in roles]
    assert not missing_users, f"cycle {cycle}: acknowledged users lost: {missing_users[:20]}"
    assert not missing_roles, f"cycle {cycle}: acknowledged roles lost: {missing_roles[:20]}"
    wrong_ids = [n for n, (uid, _) in acked.users.items() if users[n]["UserId"] != uid]
    wrong_ids += [n for n, (rid, _) in acked.roles.items() if roles[n]["RoleId"] != rid]
    assert not wrong_ids, f"cycle {cycle}: ids changed for {wrong_ids[:20]}"

    recent = (lambda made: True) if everything else (lambda made: made == cycle - 1)
    for name, (uid, made) in acked.users.items():
        if recent(made):
            assert c.iam.get_user(UserName=name)["User"]["UserId"] == uid
            stats["checked_one_by_one"] += 1
    for name, (rid, made) in acked.roles.items():
        if recent(made):
            assert c.iam.get_role(RoleName=name)["Role"]["RoleId"] == rid
            stats["checked_one_by_one"] += 1
    # every user the previous cycle tried to create that exists (acknowledged or not) is whole
    listed_keys: dict[str, set] = {}
    for name, made in acked.attempted_users.items():
        if not recent(made) or name not in users:
            continue
        if name not in acked.users:
            stats["unacked_present"] += 1
        c.iam.get_user(UserName=name)
        metas = c.iam.list_access_keys(UserName=name)["AccessKeyMetadata"]
        assert all(m["UserName"] == name and m["Status"] == "Active" for m in metas), metas
        assert len(metas) <= 2, f"{name} has {len(metas)} access keys"
        listed_keys[name] = {m["AccessKeyId"] for m in metas}
    for key_id, (name, secret, made) in acked.keys.items():
        if not recent(made):
            continue
        assert key_id in listed_keys.get(name, set()), \
            f"cycle {cycle}: acknowledged key {key_id} of {name} not listed: {listed_keys.get(name)}"
        ident = authenticates(srv, key_id, secret)
        assert ident["Arn"] == users[name]["Arn"], ident
        stats["keys_authenticated"] += 1
    assert integrity_check(srv) == "ok"
    return stats


def test_kill_9_during_writes_loses_no_acknowledged_write(server_factory):
    rng = random.Random(SEED)
    # The final verification is a burst of a few thousand requests from 127.0.0.1: no rate limits.
    srv = server_factory(name="crash", backend="sqlite", root_creds=True, env=NO_RATE_LIMITS)
    acked = Acked()
    problems: list[str] = []
    counts = {"acked": 0, "interrupted": 0, "kills": 0, "unacked_present": 0, "keys_authenticated": 0}
    started = time.monotonic()
    writers: list[threading.Thread] = []
    for cycle in range(CYCLES):
        if cycle:
            srv.start()
            # The previous cycle's writers see their connection refused or reset; botocore takes a while
            # to say so, hence joined only now. Nothing they do after the kill is recorded as acknowledged
            # unless it got a 200 (from this new process, if the port was reused: still a real write).
            for t in writers:
                t.join(timeout=30)
                assert not t.is_alive(), f"cycle {cycle - 1}: a writer hung after the kill"
            assert not problems, "\n".join(problems)
        c = Clients(srv)
        stats = verify(srv, c, acked, cycle)
        counts["unacked_present"] += stats["unacked_present"]
        counts["keys_authenticated"] += stats["keys_authenticated"]

        stop = threading.Event()
        writers = [threading.Thread(target=writer, daemon=True,
                                    args=(c.new_iam(), acked, cycle, w, random.Random(rng.random()), stop,
                                          problems, counts))
                   for w in range(WRITERS)]
        delay = rng.uniform(*KILL_AFTER)
        for t in writers:
            t.start()
        time.sleep(delay)
        assert srv.alive, f"cycle {cycle}: the server died on its own (exit code {srv.proc and srv.proc.poll()})"
        srv.kill()  # SIGKILL
        counts["kills"] += 1
        stop.set()

    # the final restart: everything, one by one
    srv.start()
    for t in writers:
        t.join(timeout=30)
        assert not t.is_alive(), "last cycle: a writer hung after the kill"
    assert not problems, "\n".join(problems)
    c = Clients(srv)
    stats = verify(srv, c, acked, CYCLES, everything=True)
    elapsed = time.monotonic() - started
    summary = (f"{counts['kills']} kills in {elapsed:.0f}s: {len(acked.users)} users, {len(acked.roles)} roles, "
               f"{len(acked.keys)} access keys acknowledged and all present ({stats['keys_authenticated']} keys "
               f"authenticated at the end); {counts['interrupted']} writes got no answer (in flight at the kill, "
               f"or sent just after it); {counts['unacked_present']} unanswered CreateUser calls had committed")
    print(summary)
    assert counts["kills"] == CYCLES
    assert len(acked.users) >= CYCLES and len(acked.keys) >= CYCLES // 2 and len(acked.roles) >= CYCLES // 2, \
        f"too few writes to mean anything: {summary}"
    assert counts["interrupted"] >= 1, f"the kills never met a writer: {summary}"
    assert srv.stop() == 0


def test_kill_9_before_the_first_start_completes_is_recoverable(server_factory):
    """A server killed during its very first start (account creation, key rings) starts cleanly the next
    time with the same root credentials."""
    rng = random.Random(SEED + 1)
    srv = server_factory(name="crash-first-start", backend="sqlite", root_creds=True, start=False)
    for _ in range(5):
        proc = subprocess.Popen(srv.command(), env=srv.server_env(), stdin=subprocess.DEVNULL,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=srv.work_dir)
        time.sleep(rng.uniform(0.0, 0.15))
        proc.kill()
        proc.wait(timeout=10)
    srv.start()
    assert srv.sts().get_caller_identity()["Arn"] == srv.root_arn()
    assert integrity_check(srv) == "ok"
    srv.iam().create_user(UserName="after-first-start-crashes")
    srv.kill()
    srv.start()
    assert srv.iam().get_user(UserName="after-first-start-crashes")["User"]["UserName"] == "after-first-start-crashes"

