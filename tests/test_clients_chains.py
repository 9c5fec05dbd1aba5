"""Credential chains configured the way users configure them — profile files and environment
variables, nothing in code — through the aws CLI v1, boto3, the AWS SDK for Rust and the AWS SDK
for JavaScript v3. Only the endpoint is OpenSTS's, given by `AWS_ENDPOINT_URL`,
`AWS_ENDPOINT_URL_STS` or `endpoint_url` in the profile.

Chains: an assume-role profile (`source_profile`, `role_arn`, `external_id`,
`duration_seconds`, `role_session_name`); the same with `endpoint_url` in the config file; a
role → role chain; `mfa_serial` with the code supplied (the CLI reads it from stdin, boto3 and
the JavaScript SDK get it from their prompter/`mfaCodeProvider`; aws-config for Rust has no
`mfa_serial` support: its AssumeRole without MFA is AccessDenied); `web_identity_token_file` in
a profile and `AWS_ROLE_ARN` + `AWS_WEB_IDENTITY_TOKEN_FILE` in the environment; `credential_process` running
`opensts credentials … --format process`. Every chain asserts the ARN the SDK ends up as.

Refresh before expiry: the assume-role profile asks for 900 s sessions. botocore refreshes
credentials that expire within 15 minutes (its advisory window) on their next use, and the Rust
SDK's identity cache refreshes them `buffer_time` before expiry (set through
OPENSTS_COMPAT_REFRESH_BUFFER_SECS): two GetCallerIdentity calls are then signed with two
different session keys, both of the role. The JavaScript SDK refreshes 5 minutes before expiry:
its check runs the process clock 700 s ahead (signing corrected through systemClockOffset), so
the 900 s session is due at once. Elsewhere the SDKs must reuse their cached key.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from unittest import mock

import boto3
import botocore.config
import pytest

import clients_world as cw
from clients_world import ca, world  # noqa: F401  (module fixtures)
from harness import ASIA_RE, Creds, aws_cli_path, clean_env, opensts_bin
from test_clients_compat import run_js, run_rust

CLIENTS = ["cli", "boto3", "rust", "js"]
# The Rust SDK's identity cache refreshes `buffer_time` before expiry, jittered down by up to
# half. aws-config does not pass a profile's duration_seconds on (its sessions get the default
# 3600 s), so 7200 s makes the session due at once and the second call of the refresh check
# (this many seconds later) is signed with refreshed credentials.
RUST_REFRESH_BUFFER_SECS = 7200
RUST_REFRESH_WAIT_SECS = 2
# The JavaScript SDK refreshes credentials 5 minutes before they expire; the refresh check runs
# its process clock this far ahead (telling the signers), so a 900 s session is due at once.
JS_CLOCK_AHEAD_SECS = 700


class Chain:
    def __init__(self, world: cw.World, client: str, tmp: Path):
        self.world, self.client, self.tmp = world, client, tmp
        self.endpoint = world.srv.endpoint
        self.config = ["[default]", "region = us-east-1"]
        self.credentials: list[str] = []
        self.env: dict[str, str] = {}
        self.mfa_code: str | None = None

    def profile(self, name: str, **keys) -> None:
        self.config.append(f"[profile {name}]")
        self.config.append("region = us-east-1")
        self.config += [f"{k} = {v}" for k, v in keys.items()]

    def static_keys(self, name: str, user) -> None:
        self.credentials += [f"[{name}]", f"aws_access_key_id = {user.creds.access_key_id}",
                             f"aws_secret_access_key = {user.creds.secret_access_key}"]

    def full_env(self) -> dict[str, str]:
        cfg, cred = self.tmp / "config", self.tmp / "credentials"
        cfg.write_text("\n".join(self.config) + "\n")
        cred.write_text("\n".join(self.credentials) + "\n")
        env = clean_env()
        env.update({"HOME": str(self.tmp), "AWS_CONFIG_FILE": str(cfg), "AWS_SHARED_CREDENTIALS_FILE": str(cred),
                     "AWS_EC2_METADATA_DISABLED": "true", "AWS_PAGER": ""})
        env.update(self.env)
        return env


# --------------------------------------------------------------------------------------
# the chains
# --------------------------------------------------------------------------------------

def chain_source_profile(c: Chain, endpoint_in_file: bool = False) -> str:
    base = c.world.user(f"chain-{c.client}")
    c.static_keys("base", base)
    extra = {"endpoint_url": c.endpoint} if endpoint_in_file else {}
    if endpoint_in_file:
        c.profile("base", **extra)
    c.profile("app", role_arn=cw.role_arn(cw.CHAIN_ROLE), source_profile="base", external_id=cw.EXTERNAL_ID,
              duration_seconds="900", role_session_name=f"{c.client}-app", **extra)
    if not endpoint_in_file:
        c.env["AWS_ENDPOINT_URL"] = c.endpoint
    c.env["AWS_PROFILE"] = "app"
    return cw.assumed_arn(cw.CHAIN_ROLE, f"{c.client}-app")


def chain_role_to_role(c: Chain) -> str:
    chain_source_profile(c)
    del c.env["AWS_ENDPOINT_URL"]
    c.env["AWS_ENDPOINT_URL_STS"] = c.endpoint
    c.profile("second", role_arn=cw.role_arn(cw.CHAIN_ROLE_2), source_profile="app",
              role_session_name=f"{c.client}-second")
    c.env["AWS_PROFILE"] = "second"
    return cw.assumed_arn(cw.CHAIN_ROLE_2, f"{c.client}-second")


def chain_mfa_serial(c: Chain) -> str:
    user, serial, seed = c.world.mfa_user(f"chain-{c.client}-mfa")
    c.static_keys("base", user)
    c.profile("mfa", role_arn=cw.role_arn(cw.MFA_ROLE), source_profile="base", mfa_serial=serial,
              role_session_name=f"{c.client}-mfa")
    c.env.update({"AWS_ENDPOINT_URL": c.endpoint, "AWS_PROFILE": "mfa"})
    c.mfa_code = cw.fresh_code(seed)
    return cw.assumed_arn(cw.MFA_ROLE, f"{c.client}-mfa")


def web_token_file(c: Chain) -> Path:
    path = c.tmp / "token"
    path.write_text(c.world.issuer.token(sub=f"system:serviceaccount:chain:{c.client}"))
    return path


def chain_web_identity_profile(c: Chain) -> str:
    c.profile("web", role_arn=cw.role_arn(cw.WEB_ROLE), web_identity_token_file=str(web_token_file(c)),
              role_session_name=f"{c.client}-webfile")
    c.env.update({"AWS_ENDPOINT_URL": c.endpoint, "AWS_PROFILE": "web"})
    return cw.assumed_arn(cw.WEB_ROLE, f"{c.client}-webfile")


def chain_web_identity_env(c: Chain) -> str:
    c.env.update({"AWS_ROLE_ARN": cw.role_arn(cw.WEB_ROLE), "AWS_WEB_IDENTITY_TOKEN_FILE": str(web_token_file(c)),
                  "AWS_ROLE_SESSION_NAME": f"{c.client}-webenv", "AWS_ENDPOINT_URL_STS": c.endpoint,
                  "AWS_REGION": "us-east-1"})
    return cw.assumed_arn(cw.WEB_ROLE, f"{c.client}-webenv")


def chain_credential_process(c: Chain) -> str:
    base = c.world.user(f"chain-{c.client}-proc")
    c.static_keys("base", base)
    c.profile("proc", credential_process=(
        f"{opensts_bin()} credentials --profile base --role-arn {cw.role_arn(cw.CHAIN_ROLE)} "
        f"--external-id {cw.EXTERNAL_ID} --role-session-name {c.client}-proc --format process"))
    # the SDK's own calls and `opensts credentials` (its child) both take the endpoint from here
    c.env.update({"AWS_ENDPOINT_URL": c.endpoint, "AWS_PROFILE": "proc"})
    return cw.assumed_arn(cw.CHAIN_ROLE, f"{c.client}-proc")


CHAINS = {
    "source_profile": chain_source_profile,
    "endpoint_url_in_profile": lambda c: chain_source_profile(c, endpoint_in_file=True),
    "role_to_role": chain_role_to_role,
    "mfa_serial": chain_mfa_serial,
    "web_identity_token_file_profile": chain_web_identity_profile,
    "web_identity_env": chain_web_identity_env,
    "credential_process": chain_credential_process,
}


# --------------------------------------------------------------------------------------
# running a client on a chain: {"arns": [...], "access_key_ids": [...]}
# --------------------------------------------------------------------------------------

def run_cli(c: Chain, env: dict) -> dict:
    # no --endpoint-url, no --profile: AWS_PROFILE and the endpoint variables only. With
    # mfa_serial the CLI prompts "Enter MFA code for …:" through getpass, which reads stdin when
    # there is no controlling terminal (start_new_session).
    cp = subprocess.run([aws_cli_path(), "sts", "get-caller-identity", "--output", "json"], env=env,
                        input=(c.mfa_code + "\n") if c.mfa_code else "", capture_output=True, text=True,
                        timeout=120, start_new_session=True, cwd=c.tmp)
    assert cp.returncode == 0, f"aws CLI failed:\n{cp.stdout}\n{cp.stderr}"
    if c.mfa_code:
        assert "MFA code" in cp.stderr, cp.stderr
    return {"arns": [json.loads(cp.stdout)["Arn"]], "access_key_ids": []}


def run_boto3(c: Chain, env: dict) -> dict:
    signed: list[str] = []

    def record(request, **_):
        auth = request.headers.get("Authorization", b"")
        auth = auth.decode() if isinstance(auth, bytes) else auth
        signed.append(auth.split("Credential=")[1].split("/")[0])

    with mock.patch.dict(os.environ, env, clear=True):
        session = boto3.Session()
        if c.mfa_code:
            provider = session._session.get_component("credential_provider").get_provider("assume-role")
            provider._prompter = lambda prompt: c.mfa_code
        sts = session.client("sts", config=botocore.config.Config(retries={"max_attempts": 1}))
        sts.meta.events.register("before-send.sts", record)
        arns = [sts.get_caller_identity()["Arn"] for _ in range(2)]
    return {"arns": arns, "access_key_ids": signed}


def run_sdk(kind: str, c: Chain, env: dict, refresh: bool) -> dict:
    out = c.tmp / "report.json"
    env = {**env, "OPENSTS_COMPAT_REPORT": str(out)}
    if kind == "rust":
        if refresh:
            env.update({"OPENSTS_COMPAT_REFRESH_BUFFER_SECS": str(RUST_REFRESH_BUFFER_SECS),
                        "OPENSTS_COMPAT_WAIT_SECS": str(RUST_REFRESH_WAIT_SECS)})
        cp = run_rust(env, "chain")
    else:
        if c.mfa_code:
            env["OPENSTS_COMPAT_MFA_CODE"] = c.mfa_code
        if refresh:
            env["OPENSTS_COMPAT_CLOCK_AHEAD_SECS"] = str(JS_CLOCK_AHEAD_SECS)
        cp = run_js(env, "chain.mjs")
    assert cp.returncode == 0, f"{kind} chain failed:\n{cp.stdout[-4000:]}\n{cp.stderr[-4000:]}"
    return json.loads(out.read_text())


@pytest.mark.parametrize("chain", list(CHAINS))
@pytest.mark.parametrize("client", CLIENTS)
def test_chain(world, client, chain, tmp_path):
    c = Chain(world, client, tmp_path)
    expected = CHAINS[chain](c)
    env = c.full_env()
    if client == "rust" and chain == "mfa_serial":
        # aws-config does not implement mfa_serial: it assumes the role without MFA, and OpenSTS
        # refuses that as AWS does (the role's trust policy requires aws:MultiFactorAuthPresent).
        cp = run_rust({**env, "OPENSTS_COMPAT_REPORT": str(tmp_path / "report.json")}, "chain")
        assert cp.returncode != 0 and "AccessDenied" in cp.stdout + cp.stderr, cp
        return
    refresh = chain == "source_profile"
    if client == "cli":
        report = run_cli(c, env)
    elif client == "boto3":
        report = run_boto3(c, env)
    else:
        report = run_sdk(client, c, env, refresh)
    calls = 1 if client == "cli" else 2
    assert report["arns"] == [expected] * calls, report
    akids = report["access_key_ids"]
    if client == "cli":
        return
    assert len(akids) == 2 and all(ASIA_RE.match(k) for k in akids), akids
    if refresh:
        # refreshed before expiry: a new session of the same role signed the second call
        assert akids[0] != akids[1], akids
    elif client != "boto3" or chain not in ("source_profile", "endpoint_url_in_profile", "role_to_role"):
        # cached: both calls signed with one key (botocore refreshes every 900 s session at once)
        assert akids[0] == akids[1], akids


def test_opensts_credentials_env_and_json(world, tmp_path):
    """`opensts credentials` for humans: env exports and JSON, and an AWS error on stderr."""
    user = world.user("creds-cli")
    env = clean_env()
    env.update({"AWS_ACCESS_KEY_ID": user.creds.access_key_id, "AWS_SECRET_ACCESS_KEY": user.creds.secret_access_key,
                "AWS_ENDPOINT_URL_STS": world.srv.endpoint, "HOME": str(tmp_path)})
    base = [str(opensts_bin()), "credentials"]
    cp = subprocess.run(base + ["--role-arn", cw.role_arn(cw.CHAIN_ROLE), "--external-id", cw.EXTERNAL_ID,
                                "--role-session-name", "human", "--format", "json"],
                        env=env, capture_output=True, text=True, timeout=60)
    assert cp.returncode == 0, cp.stderr
    out = json.loads(cp.stdout)
    assert out["Arn"] == cw.assumed_arn(cw.CHAIN_ROLE, "human"), out
    sts = world.srv.sts(Creds.from_sts(out["Credentials"]))
    assert sts.get_caller_identity()["Arn"] == out["Arn"]

    # GetSessionToken, printed as exports a shell can eval
    cp = subprocess.run(base + ["--duration-seconds", "900"], env=env, capture_output=True, text=True, timeout=60)
    assert cp.returncode == 0, cp.stderr
    exports = dict(line.removeprefix("export ").split("=", 1) for line in cp.stdout.splitlines())
    assert set(exports) == {"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN",
                            "AWS_CREDENTIAL_EXPIRATION"}, exports
    session = Creds(exports["AWS_ACCESS_KEY_ID"], exports["AWS_SECRET_ACCESS_KEY"], exports["AWS_SESSION_TOKEN"])
    assert world.srv.sts(session).get_caller_identity()["Arn"] == user.arn

    # GetSessionToken with MFA (process format); its session may assume the role that requires MFA
    mfa_user, serial, seed = world.mfa_user("creds-cli-mfa")
    mfa_env = {**env, "AWS_ACCESS_KEY_ID": mfa_user.creds.access_key_id,
               "AWS_SECRET_ACCESS_KEY": mfa_user.creds.secret_access_key}
    cp = subprocess.run(base + ["--serial-number", serial, "--token-code", cw.fresh_code(seed), "--format", "process"],
                        env=mfa_env, capture_output=True, text=True, timeout=60)
    assert cp.returncode == 0, cp.stderr
    proc = json.loads(cp.stdout)
    assert set(proc) == {"Version", "AccessKeyId", "SecretAccessKey", "SessionToken", "Expiration"}, proc
    assert proc["Version"] == 1 and ASIA_RE.match(proc["AccessKeyId"]), proc
    mfa_env.update({"AWS_ACCESS_KEY_ID": proc["AccessKeyId"], "AWS_SECRET_ACCESS_KEY": proc["SecretAccessKey"],
                    "AWS_SESSION_TOKEN": proc["SessionToken"]})
    cp = subprocess.run(base + ["--role-arn", cw.role_arn(cw.MFA_ROLE), "--role-session-name", "with-mfa",
                                "--format", "json"], env=mfa_env, capture_output=True, text=True, timeout=60)
    assert cp.returncode == 0, cp.stderr
    assert json.loads(cp.stdout)["Arn"] == cw.assumed_arn(cw.MFA_ROLE, "with-mfa")
    # without MFA the same role is refused
    cp = subprocess.run(base + ["--role-arn", cw.role_arn(cw.MFA_ROLE)], env=env, capture_output=True, text=True,
                        timeout=60)
    assert cp.returncode != 0 and "An error occurred (AccessDenied)" in cp.stderr, cp.stderr

    # a wrong external id: AccessDenied from the server, nothing on stdout
    cp = subprocess.run(base + ["--role-arn", cw.role_arn(cw.CHAIN_ROLE), "--external-id", "wrong",
                                "--format", "process"], env=env, capture_output=True, text=True, timeout=60)
    assert cp.returncode != 0 and cp.stdout == "", cp
    assert "An error occurred (AccessDenied)" in cp.stderr, cp.stderr
    # no endpoint at all
    env.pop("AWS_ENDPOINT_URL_STS")
    cp = subprocess.run(base, env=env, capture_output=True, text=True, timeout=60)
    assert cp.returncode != 0 and "AWS_ENDPOINT_URL" in cp.stderr, cp.stderr
