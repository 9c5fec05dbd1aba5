"""Restarts, `opensts account create` against a running server, secrets at rest, graceful shutdown."""

from __future__ import annotations

import stat
import time

import pytest
from botocore.exceptions import ClientError

from harness import AKIA_RE, SECRET_RE, Creds, unique


def _gci(srv, creds):
    return srv.sts(creds).get_caller_identity()


def test_restart_keeps_users_keys_and_sessions(server_factory, backend):
    srv = server_factory(backend=backend)
    first_output = "\n".join(srv.start_output)
    assert f"OpenSTS created account {srv.account_id} with root credentials (shown once):" in first_output
    assert f"export AWS_ACCESS_KEY_ID={srv.root.access_key_id}" in first_output
    assert f"export AWS_SECRET_ACCESS_KEY={srv.root.secret_access_key}" in first_output

    u = srv.make_user(path="/persist/")
    user_session = srv.session_for(u.creds)
    root_session = srv.session_for()
    tag_user = unique("tagged")
    srv.iam().create_user(UserName=tag_user, Tags=[{"Key": "k", "Value": "v"}])

    rc = srv.stop()
    assert rc == 0 and not srv.last_stop_was_forced, f"SIGTERM: exit code {rc}, forced={srv.last_stop_was_forced}"
    srv.start()

    second_output = "\n".join(srv.start_output)
    assert "created account" not in second_output and "AWS_SECRET_ACCESS_KEY" not in second_output, \
        f"root credentials printed again on restart:\n{second_output}"

    # root, user key, and sessions minted before the restart still work (aws CLI)
    assert srv.aws("sts", "get-caller-identity")["Arn"] == srv.root_arn()
    assert srv.aws("sts", "get-caller-identity", creds=u.creds)["Arn"] == u.arn
    assert srv.aws("sts", "get-caller-identity", creds=user_session)["Arn"] == u.arn
    assert srv.aws("sts", "get-caller-identity", creds=root_session)["Arn"] == srv.root_arn()
    got = srv.aws("iam", "get-user", "--user-name", u.name)["User"]
    assert (got["UserId"], got["Path"], got["Arn"]) == (u.user_id, "/persist/", u.arn)
    keys = srv.aws("iam", "list-access-keys", "--user-name", u.name)["AccessKeyMetadata"]
    assert [k["AccessKeyId"] for k in keys] == [u.creds.access_key_id]
    tags = srv.aws("iam", "get-user", "--user-name", tag_user)["User"].get("Tags", [])
    assert tags == [{"Key": "k", "Value": "v"}]

    # state changed after a restart survives the next one too
    srv.iam().update_access_key(UserName=u.name, AccessKeyId=u.creds.access_key_id, Status="Inactive")
    srv.restart()
    with pytest.raises(ClientError) as ei:
        _gci(srv, u.creds)
    assert ei.value.response["Error"]["Code"] == "InvalidClientTokenId"
    assert _gci(srv, srv.root)["Arn"] == srv.root_arn()


def test_root_credentials_printed_only_once_even_if_killed(server_factory):
    srv = server_factory()
    srv.kill()  # no graceful shutdown
    srv.start()
    assert not any("AWS_SECRET_ACCESS_KEY" in line for line in srv.start_output), srv.start_output
    assert _gci(srv, srv.root)["Arn"] == srv.root_arn()


def test_sigterm_is_graceful(server_factory):
    srv = server_factory()
    assert _gci(srv, srv.root)
    t0 = time.monotonic()
    rc = srv.stop(timeout=10)
    took = time.monotonic() - t0
    assert not srv.last_stop_was_forced, "server ignored SIGTERM for 10 s"
    assert rc == 0, f"exit code after SIGTERM: {rc}"
    assert took < 5, f"graceful shutdown took {took:.1f}s"


def test_account_create_seen_by_running_server(server_factory, backend):
    srv = server_factory(backend=backend)
    u = srv.make_user()
    new_id = "246813579024"
    out = srv.create_account(new_id, name="second")
    t_created = time.monotonic()
    assert out["AccountId"] == new_id, out
    assert AKIA_RE.match(out["AccessKeyId"]), out
    assert SECRET_RE.match(out["SecretAccessKey"]), out
    new_root = Creds(out["AccessKeyId"], out["SecretAccessKey"])

    last = None
    while True:
        try:
            ident = _gci(srv, new_root)
            break
        except ClientError as e:
            last = e.response["Error"]
        if time.monotonic() - t_created > 1.0:
            pytest.fail(f"new account's root not accepted within 1 s: {last}")
        time.sleep(0.05)
    assert ident["Account"] == new_id and ident["Arn"] == f"arn:aws:iam::{new_id}:root"
    assert ident["UserId"] == new_id

    # via the aws CLI too, and accounts are isolated from each other
    assert srv.aws("sts", "get-caller-identity", creds=new_root)["Account"] == new_id
    assert srv.aws("iam", "list-users", creds=new_root)["Users"] == []
    srv.aws_error("iam", "get-user", "--user-name", u.name, creds=new_root, code="NoSuchEntity")
    assert srv.aws("sts", "get-access-key-info", "--access-key-id", new_root.access_key_id) == {"Account": new_id}
    assert srv.aws("sts", "get-caller-identity")["Account"] == srv.account_id
    # a user in the new account
    name = unique("second")
    srv.aws("iam", "create-user", "--user-name", name, creds=new_root)
    k = srv.aws("iam", "create-access-key", "--user-name", name, creds=new_root)["AccessKey"]
    assert srv.aws("sts", "get-caller-identity", creds=Creds.from_access_key(k))["Arn"] == \
        f"arn:aws:iam::{new_id}:user/{name}"
    # and it survives a restart
    srv.restart()
    assert _gci(srv, new_root)["Account"] == new_id


def _secrets_present(blobs: dict[str, bytes], secrets: dict[str, str]) -> list[str]:
    found = []
    for label, secret in secrets.items():
        needle = secret.encode()
        for name, data in blobs.items():
            if needle in data:
                found.append(f"{label} found in {name}")
    return found


def test_secrets_encrypted_at_rest(server_factory, backend):
    srv = server_factory(backend=backend)
    u = srv.make_user()
    user_session = srv.session_for(u.creds)
    root_session = srv.session_for()
    secrets = {
        "root secret access key": srv.root.secret_access_key,
        "user secret access key": u.creds.secret_access_key,
        "user session secret": user_session.secret_access_key,
        "user session token": user_session.session_token,
        "root session secret": root_session.secret_access_key,
        "root session token": root_session.session_token,
    }
    # do something with every credential so caches/last-used bookkeeping get written
    for c in (srv.root, u.creds, user_session, root_session):
        _gci(srv, c)

    def blobs() -> dict[str, bytes]:
        out = {str(p.relative_to(srv.data_dir)): p.read_bytes() for p in srv.data_files()}
        if srv.pg is not None:
            out["pg_dump"] = srv.pg.dump()
        return out

    running = blobs()
    assert running, "data dir is empty"
    assert not _secrets_present(running, secrets), _secrets_present(running, secrets)
    srv.stop()
    stopped = blobs()
    assert not _secrets_present(stopped, secrets), _secrets_present(stopped, secrets)

    # nor in the server's logs (stderr)
    logs = {"stderr log": srv.stderr_path.read_bytes()}
    assert not _secrets_present(logs, secrets), _secrets_present(logs, secrets)

    key = srv.data_dir / "master.key"
    assert key.is_file(), f"no master key file in {sorted(stopped)}"
    mode = stat.S_IMODE(key.stat().st_mode)
    assert mode == 0o600, f"master.key has mode {oct(mode)}"


def test_postgres_backend_end_to_end(server_factory):
    """Smoke: the spine's CLI flows on the PostgreSQL backend."""
    srv = server_factory(backend="postgres")
    name = unique("pg")
    srv.aws("iam", "create-user", "--user-name", name, "--path", "/pg/")
    k = srv.aws("iam", "create-access-key", "--user-name", name)["AccessKey"]
    creds = Creds.from_access_key(k)
    session = Creds.from_sts(srv.aws("sts", "get-session-token", creds=creds)["Credentials"])
    assert srv.aws("sts", "get-caller-identity", creds=session)["Arn"] == \
        f"arn:aws:iam::{srv.account_id}:user/pg/{name}"
    srv.aws_error("iam", "delete-user", "--user-name", name, code="DeleteConflict")
