"""The CLI's integrations: `integrations list|create|show|status|sync|delete` (destinations an
environment's values are pushed to after every change: AWS Secrets Manager, SSM Parameter Store,
GitHub Actions). A GitHub token is asked hidden on a terminal or read from stdin's first line
(`--token-stdin`), never an argument; it is never shown again."""

from __future__ import annotations

import sys

import click

from strongroom_cli.commands import State, _org, cli, confirm, emit, fail

_INTEGRATION = ["id", "type", "environment_id", "status", "last_synced_revision", "last_synced_at", "last_error"]
_STATUS = ["status", "last_synced_revision", "last_synced_at", "last_error"]
_TYPES = {"secrets-manager": "aws_secrets_manager", "ssm": "aws_ssm_parameter_store", "github": "github_actions"}


def _path(state: State, integration_id: str = "") -> str:
    base = f"/v1/orgs/{_org(state)}/integrations"
    return f"{base}/{integration_id}" if integration_id else base


@cli.group()
def integrations() -> None:
    """Push an environment's values to AWS Secrets Manager, SSM Parameter Store or GitHub Actions."""


@integrations.command("list")
@click.pass_obj
def integrations_list(state: State) -> None:
    state.user_only()
    emit(state, state.call("GET", _path(state))["data"], columns=_INTEGRATION)


def _aws_config(
    role_arn: str | None,
    external_id: str | None,
    region: str | None,
    mode: str,
    name: str | None,
    kms_key_id: str | None,
) -> dict[str, str]:
    if not (role_arn and external_id and region and name):
        fail("AWS integrations need --role-arn, --external-id, --region and --name", 2)
    config = {"role_arn": role_arn, "external_id": external_id, "region": region, "mode": mode, "name": name}
    if kms_key_id:
        config["kms_key_id"] = kms_key_id
    return config


def _github_config(repository: str | None, api_url: str | None, token_stdin: bool) -> dict[str, str]:
    if not repository:
        fail("GitHub integrations need --repository owner/name", 2)
    token = (
        sys.stdin.readline().rstrip("\r\n") if token_stdin else click.prompt("GitHub token", hide_input=True, err=True)
    )
    if not token:
        fail("no token given", 2)
    config = {"repository": repository, "token": token}
    if api_url:
        config["api_url"] = api_url
    return config


@integrations.command("create")
@click.argument("kind", type=click.Choice(sorted(_TYPES)))
@click.option("--role-arn", help="AWS: the role to assume in your account")
@click.option("--external-id", help="AWS: the external id its trust policy requires")
@click.option("--region", help="AWS: where the secrets or parameters live")
@click.option("--mode", type=click.Choice(["json", "per_key"]), default="json", show_default=True, help="AWS")
@click.option("--name", help="AWS: the secret/parameter name (json) or the prefix of each name (per_key)")
@click.option("--kms-key-id", help="AWS: the KMS key to encrypt under (required for SSM)")
@click.option("--repository", help="GitHub: owner/name")
@click.option("--api-url", help="GitHub Enterprise Server: https://HOST/api/v3")
@click.option("--token-stdin", is_flag=True, help="GitHub: read the token from stdin's first line")
@click.pass_obj
def integrations_create(
    state: State,
    kind: str,
    role_arn: str | None,
    external_id: str | None,
    region: str | None,
    mode: str,
    name: str | None,
    kms_key_id: str | None,
    repository: str | None,
    api_url: str | None,
    token_stdin: bool,
) -> None:
    """A new integration of the environment (--project, --env): KIND is secrets-manager, ssm or
    github. Its first sync follows at once; `integrations status ID` shows it."""
    state.user_only()
    state.settings.require_environment()
    if kind == "github":
        config = _github_config(repository, api_url, token_stdin)
    else:
        config = _aws_config(role_arn, external_id, region, mode, name, kms_key_id)
    s = state.settings
    body = {"type": _TYPES[kind], "project": s.project, "environment": s.env, "config": config}
    emit(state, state.call("POST", _path(state), body=body), columns=_INTEGRATION)


@integrations.command("show")
@click.argument("integration_id")
@click.pass_obj
def integrations_show(state: State, integration_id: str) -> None:
    """The integration and its configuration (never its token)."""
    state.user_only()
    emit(state, state.call("GET", _path(state, integration_id)), columns=[*_INTEGRATION, "config"])


@integrations.command("status")
@click.argument("integration_id")
@click.pass_obj
def integrations_status(state: State, integration_id: str) -> None:
    """synced (with the environment's revision pushed), pending, or failing (with the error)."""
    state.user_only()
    emit(state, state.call("GET", f"{_path(state, integration_id)}/status"), columns=_STATUS)


@integrations.command("sync")
@click.argument("integration_id")
@click.pass_obj
def integrations_sync(state: State, integration_id: str) -> None:
    """Push the environment's current values now (even when nothing changed)."""
    state.user_only()
    emit(state, state.call("POST", f"{_path(state, integration_id)}/sync", ok=(202,)), columns=_STATUS)


@integrations.command("delete")
@click.argument("integration_id")
@click.option("--yes", is_flag=True, help="Do not ask (needed without a terminal)")
@click.pass_obj
def integrations_delete(state: State, integration_id: str, yes: bool) -> None:
    """No sync after this one; what it pushed stays at the destination."""
    state.user_only()
    confirm(yes, "integrations delete", f"Delete the integration {integration_id}?")
    state.call("DELETE", _path(state, integration_id))
    emit(state, {"id": integration_id, "deleted": True}, columns=["id", "deleted"])
