"""Machine identities from the CLI, as a real process against the local server: an admin creates,
lists, shows and deletes an identity; a CI job logs in with its JWT (`--oidc-token`, or
`--oidc-token-file` as Kubernetes projects it) and an AWS workload with its ambient role
(`--aws-iam`: botocore's SigV4, moto's STS), and each reads its environment with the token."""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import boto3
import pytest
from conftest import Issuer

from support import Api

pytestmark = pytest.mark.http
CLI = str(Path(sys.executable).parent / "strongroom")
CliRun = Callable[..., subprocess.CompletedProcess[str]]
# This checkout's CLI and SDK, whichever checkout the shared virtualenv's editable install names.
PYTHONPATH = os.pathsep.join(str(Path(__file__).resolve().parents[2] / d / "src") for d in ("cli", "sdk"))


def _runner(local_stack: str, home: Path) -> CliRun:
    (home / "work").mkdir(parents=True, exist_ok=True)
    base = {
        "PATH": os.environ["PATH"],
        "HOME": str(home),
        "XDG_CONFIG_HOME": str(home / ".config"),
        "XDG_CACHE_HOME": str(home / ".cache"),
        "STRONGROOM_API_URL": local_stack,
        "STRONGROOM_NO_KEYRING": "1",
        "LC_ALL": "C.UTF-8",
        "AWS_CONFIG_FILE": os.devnull,
        "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
        "AWS_EC2_METADATA_DISABLED": "true",
        # This checkout's CLI, whichever checkout the shared virtualenv's editable install names.
        "PYTHONPATH": PYTHONPATH,
    }

    def run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
        done = subprocess.run(
            [CLI, *args], check=False, capture_output=True, text=True, env={**base, **(env or {})},
            cwd=home / "work", input="", timeout=60,
        )  # fmt: skip
        assert done.returncode == 0, (args, done.stdout, done.stderr)
        return done

    run.env = base  # type: ignore[attr-defined]  # for a caller that runs the CLI with its own stdin
    return run


def test_identities_and_keyless_login_from_the_cli(
    api: Api, local_stack: str, tmp_path: Path, workload_issuer: Issuer
) -> None:
    owner, org = f"cli-{secrets.token_hex(3)}@example.com", f"cli-idn-{secrets.token_hex(3)}"
    assert api("POST", "/v1/orgs", user=owner, json={"name": "CLI", "slug": org})[0] == 201
    assert api("POST", f"/v1/orgs/{org}/projects", user=owner, json={"name": "Web"})[0] == 201
    staging = f"/v1/orgs/{org}/projects/web/environments/staging"
    assert api("PUT", f"{staging}/secrets/DB_URL", user=owner, json={"value": "postgres://ci"})[0] == 200
    admin = _runner(local_stack, tmp_path / "admin")
    admin("login", "--dev-user", owner)
    scope = ("--org", org, "--project", "web", "--env", "staging")

    # an admin makes an OIDC identity and an AWS IAM one, and sees them
    made = json.loads(
        admin(*scope, "--json", "identities", "create", "ci", "--type", "oidc", "--issuer", workload_issuer.base,
              "--audience", "ci", "--claim", "sub=repo:acme/web:*", "--ttl", "60").stdout
    )  # fmt: skip
    role = json.loads(
        admin(*scope, "--json", "identities", "create", "lambda", "--type", "aws_iam", "--account", "123456789012",
              "--role-arn", "arn:aws:iam::123456789012:role/cli-*").stdout
    )  # fmt: skip
    listed = json.loads(admin("--org", org, "--json", "identities", "list").stdout)
    assert {i["id"] for i in listed} == {made["id"], role["id"]}
    assert json.loads(admin("--org", org, "--json", "identities", "show", made["id"]).stdout)["ttl_seconds"] == 60

    # a CI job logs in with its JWT (an argument, or a file) and reads staging
    job = _runner(local_stack, tmp_path / "job")
    job("login", "--identity", made["id"], "--oidc-token", workload_issuer.workload("ci"))
    assert json.loads(job("--json", "secrets", "list").stdout)[0]["key"] == "DB_URL"
    token_file = tmp_path / "token"
    token_file.write_text(workload_issuer.workload("ci") + "\n")
    job("login", "--identity", made["id"], "--oidc-token-file", str(token_file))
    assert "postgres://ci" in job("secrets", "get", "DB_URL").stdout

    # when that token dies (here: the identity is replaced), `run` logs in again from the file,
    # which the platform has rewritten meanwhile
    replaced = {**_oidc_body(workload_issuer), "ttl_seconds": 120}
    assert api("PUT", f"/v1/orgs/{org}/identities/{made['id']}", user=owner, json=replaced)[0] == 200
    token_file.write_text(workload_issuer.workload("ci") + "\n")
    assert job("run", "--", "sh", "-c", "echo $DB_URL").stdout.strip() == "postgres://ci"

    # an AWS workload logs in with its ambient role
    credentials = _assumed("cli-lambda")
    aws_env = {
        "AWS_ACCESS_KEY_ID": credentials["AccessKeyId"],
        "AWS_SECRET_ACCESS_KEY": credentials["SecretAccessKey"],
        "AWS_SESSION_TOKEN": credentials["SessionToken"],
        "AWS_REGION": "us-east-1",
    }
    worker = _runner(local_stack, tmp_path / "worker")
    worker("login", "--identity", role["id"], "--aws-iam", env=aws_env)
    assert "postgres://ci" in worker("secrets", "get", "DB_URL").stdout
    replaced = {**_aws_body(), "ttl_seconds": 60}
    assert api("PUT", f"/v1/orgs/{org}/identities/{role['id']}", user=owner, json=replaced)[0] == 200
    assert worker("run", "--", "sh", "-c", "echo $DB_URL", env=aws_env).stdout.strip() == "postgres://ci"

    # and deleting the identity ends that login
    admin("--org", org, "identities", "delete", role["id"], "--yes")
    home = tmp_path / "worker"
    refused = subprocess.run(
        [CLI, "secrets", "get", "DB_URL"], check=False, capture_output=True, text=True, timeout=60, input="",
        env={"PATH": os.environ["PATH"], "HOME": str(home), "STRONGROOM_API_URL": local_stack,
             "XDG_CONFIG_HOME": str(home / ".config"), "STRONGROOM_NO_KEYRING": "1",
             "XDG_CACHE_HOME": str(home / ".cache"), "PYTHONPATH": PYTHONPATH},
    )  # fmt: skip
    assert refused.returncode != 0


def _oidc_body(issuer: Issuer) -> dict[str, Any]:
    rules = {"issuer": issuer.base, "audience": "ci", "claims": {"sub": "repo:acme/web:*"}}
    return {"name": "ci", "type": "oidc", "project": "web", "environment": "staging", "rules": rules}


def _aws_body() -> dict[str, Any]:
    rules = {"account": "123456789012", "role_arn": "arn:aws:iam::123456789012:role/cli-*"}
    return {"name": "lambda", "type": "aws_iam", "project": "web", "environment": "staging", "rules": rules}


def _assumed(role_name: str) -> dict[str, Any]:
    """A session of a fresh IAM role `role_name-…` on moto (the stack's STS)."""
    name = f"{role_name}-{secrets.token_hex(3)}"
    trust = {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Principal": {"AWS": "*"}, "Action": "sts:AssumeRole"}],
    }
    boto3.client("iam", region_name="us-east-1").create_role(RoleName=name, AssumeRolePolicyDocument=json.dumps(trust))
    return dict(
        boto3.client("sts", region_name="us-east-1").assume_role(
            RoleArn=f"arn:aws:iam::123456789012:role/{name}", RoleSessionName="cli"
        )["Credentials"]
    )
