"""The API's remaining capabilities as commands: `tokens` (service tokens and, with --personal,
personal access tokens), `invitations`, `webhooks`, `template`, `validate`, `encryption`,
`secrets restore`, `envs restore`, `audit search|tail`. Collections use the one command factory
(`resource_commands`); what a command destroys asks first on a terminal and needs --yes without one."""

from __future__ import annotations

import datetime as dt
import sys
import time
from typing import Any
from urllib.parse import quote, urlencode

import click

from strongroom_cli.commands import (
    Row,
    State,
    _org,
    _org_path,
    _project_path,
    _q,
    audit,
    cli,
    confirm,
    emit,
    envs,
    fail,
    folder_option,
    resource_commands,
    secrets,
)
from strongroom_cli.config import ConfigError, parse_duration


def seconds(text: str) -> float:
    """A duration option's seconds (90s, 15m, 12h, 30d), or a usage error."""
    try:
        return parse_duration(text)
    except ConfigError as exc:
        fail(str(exc), 2)


def _instant(offset: float) -> str:
    return (dt.datetime.now(dt.UTC) + dt.timedelta(seconds=offset)).isoformat(timespec="seconds")


def _in(text: str) -> str:
    """The RFC 3339 instant a duration (30d) from now."""
    return _instant(seconds(text))


def _ago(text: str) -> str:
    """An instant: RFC 3339 as given, or a duration (15m, 2h, 7d) before now."""
    if text[:1].isdigit() and text[-1:].lower() in "smhdw" and "-" not in text:
        return _instant(-seconds(text))
    return text


# --------------------------------------------------------------------------- tokens

_TOKEN = ["id", "name", "environment_id", "permissions", "expires_at", "allowed_cidrs", "last_used_at"]
_PAT = ["id", "name", "read_only", "org_ids", "expires_at", "last_used_at"]
_PERSONAL = click.Option(["--personal"], is_flag=True, help="Personal access tokens (sr_pat_…) of your account")


@cli.group()
def tokens() -> None:
    """Service tokens of the org (--org; admins), or your personal access tokens (--personal)."""


def _tokens_path(state: State, personal: bool = False) -> str:
    return "/v1/auth/tokens" if personal else f"/v1/orgs/{_org(state)}/tokens"


def _token_row(row: Row) -> Row:
    return {k: v for k, v in row.items() if k != "token" or v}


resource_commands(tokens, _tokens_path, _TOKEN, noun="token", show=False, remove="revoke", options=[_PERSONAL],
                  row=_token_row, remove_help="its next request is 401")  # fmt: skip


@tokens.command("create")
@click.argument("name")
@click.option("--project", help="Service token: its project (default: the one configured)")
@click.option("--env", "env", help="Service token: its environment (default: the one configured)")
@click.option("--read", "access", flag_value="read", default=True, help="Read only (the default)")
@click.option("--write", "access", flag_value="write", help="Read and write")
@click.option("--expires-in", help="e.g. 90d, 12h (default: never)")
@click.option("--cidr", "cidrs", multiple=True, help="Repeated: the networks it may be used from")
@click.option("--personal", is_flag=True, help="A personal access token (sr_pat_…) of your account instead")
@click.option("--org-scope", "org_scope", multiple=True, help="With --personal: repeated, the orgs it may reach")
@click.pass_obj
def tokens_create(state: State, name: str, project: str | None, env: str | None, access: str,
                  expires_in: str | None, cidrs: tuple[str, ...], personal: bool,
                  org_scope: tuple[str, ...]) -> None:  # fmt: skip
    """Mint a token; its secret (`token`) is shown this once. A client-encrypted environment's
    token is made here, and granted its key."""
    state.user_only()
    expiry = {"expires_at": _in(expires_in)} if expires_in else {}
    if personal:
        body = {
            "name": name,
            "read_only": access == "read",
            **expiry,
            **({"orgs": list(org_scope)} if org_scope else {}),
        }
        emit(state, state.call("POST", "/v1/auth/tokens", body=body), [*_PAT, "token"])
        return
    state.settings.project = project or state.settings.project
    state.settings.env = env or state.settings.env
    body = {
        "name": name,
        "project": state.settings.project,
        "environment": state.settings.env,
        "permissions": ["read", "write"] if access == "write" else ["read"],
        **expiry,
        **({"allowed_cidrs": list(cidrs)} if cidrs else {}),
    }
    environment = state.call("GET", state.env_path())
    if environment.get("encryption") == "client":
        from strongroom_cli import e2e_commands  # noqa: PLC0415

        made = e2e_commands.client_token(state, environment, body)
    else:
        made = state.call("POST", f"/v1/orgs/{_org(state)}/tokens", body=body)
    emit(state, made, [*_TOKEN, "token"])


@tokens.command("rotate")
@click.argument("token_id", metavar="ID")
@click.pass_obj
def tokens_rotate(state: State, token_id: str) -> None:
    """A new secret for the service token ID (shown this once); the old one is 401 from now on."""
    made = state.call("POST", f"/v1/orgs/{_org(state)}/tokens/{quote(token_id, safe='')}/rotate")
    emit(state, made, [*_TOKEN, "token"])


# --------------------------------------------------------------------------- invitations

_INVITATION = ["id", "email", "role", "status", "expires_at", "invited_by"]


@cli.group()
def invitations() -> None:
    """Invitations to the org (--org; admins), and accepting one (`invitations accept TOKEN`)."""


resource_commands(invitations, _org_path("invitations"), _INVITATION, noun="invitation", show=False,
                  remove="revoke", remove_help="its token accepts nothing from now on")  # fmt: skip


@invitations.command("accept")
@click.argument("token")
@click.pass_obj
def invitations_accept(state: State, token: str) -> None:
    """Join the org of the invitation TOKEN (sr_inv_…), as the signed-in user it was sent to."""
    state.user_only()
    emit(state, state.call("POST", f"/v1/invitations/{quote(token, safe='')}/accept"))


# --------------------------------------------------------------------------- webhooks

_WEBHOOK = ["id", "url", "events", "enabled", "status", "project_id", "environment_id", "description"]
_DELIVERY = ["id", "event_type", "status", "attempts", "response_code", "latency_ms", "created_at", "error"]


@cli.group()
def webhooks() -> None:
    """Webhooks of the org (--org; admins): signed per Standard Webhooks (`whsec_…` secrets)."""


resource_commands(webhooks, _org_path("webhooks"), _WEBHOOK, noun="webhook", paginated=False,
                  remove_help="no more deliveries")  # fmt: skip


def _webhook_body(url: str | None, events: tuple[str, ...], project: str | None, env: str | None,
                  description: str | None, enabled: bool | None) -> dict[str, Any]:  # fmt: skip
    given = {"url": url, "project": project, "environment": env, "description": description, "enabled": enabled}
    return {k: v for k, v in given.items() if v is not None} | ({"events": list(events)} if events else {})


def _webhook_options(f: Any) -> Any:
    for option in reversed(
        [
            click.option(
                "--event", "events", multiple=True, help="Repeated: event types (e.g. secret.updated, secret.*)"
            ),
            click.option("--project", "hook_project", help="Only this project's events"),
            click.option("--env", "hook_env", help="Only this environment's events (with --project)"),
            click.option("--description"),
        ]
    ):
        f = option(f)
    return f


@webhooks.command("create")
@click.argument("url")
@_webhook_options
@click.pass_obj
def webhooks_create(state: State, url: str, events: tuple[str, ...], hook_project: str | None, hook_env: str | None,
                    description: str | None) -> None:  # fmt: skip
    """Send the org's events to URL; the signing secret (`secret`) is shown this once."""
    body = _webhook_body(url, events, hook_project, hook_env, description, None)
    emit(state, state.call("POST", f"/v1/orgs/{_org(state)}/webhooks", body=body), [*_WEBHOOK, "secret"])


@webhooks.command("update")
@click.argument("webhook_id", metavar="ID")
@click.option("--url")
@_webhook_options
@click.option("--enable/--disable", "enabled", default=None)
@click.pass_obj
def webhooks_update(state: State, webhook_id: str, url: str | None, events: tuple[str, ...], hook_project: str | None,
                    hook_env: str | None, description: str | None, enabled: bool | None) -> None:  # fmt: skip
    body = _webhook_body(url, events, hook_project, hook_env, description, enabled)
    if not body:
        fail("nothing to change: give --url, --event, --project, --env, --description or --enable/--disable", 2)
    emit(state, state.call("PATCH", f"{_hook(state, webhook_id)}", body=body), _WEBHOOK)


def _hook(state: State, webhook_id: str) -> str:
    return f"/v1/orgs/{_org(state)}/webhooks/{quote(webhook_id, safe='')}"


@webhooks.command("test")
@click.argument("webhook_id", metavar="ID")
@click.pass_obj
def webhooks_test(state: State, webhook_id: str) -> None:
    """Send it a `webhook.test` event now."""
    emit(state, state.call("POST", f"{_hook(state, webhook_id)}/test"))


@webhooks.command("deliveries")
@click.argument("webhook_id", metavar="ID")
@click.pass_obj
def webhooks_deliveries(state: State, webhook_id: str) -> None:
    """Its deliveries, newest first, with their attempts and answers."""
    emit(state, state.pages(f"{_hook(state, webhook_id)}/deliveries", limit=100), _DELIVERY)


@webhooks.command("redeliver")
@click.argument("webhook_id", metavar="ID")
@click.argument("delivery_id", metavar="DELIVERY")
@click.pass_obj
def webhooks_redeliver(state: State, webhook_id: str, delivery_id: str) -> None:
    """Send a delivery's event again (a new delivery, the same webhook-id)."""
    path = f"{_hook(state, webhook_id)}/deliveries/{quote(delivery_id, safe='')}/redeliver"
    emit(state, state.call("POST", path), _DELIVERY)


@webhooks.command("rotate-secret")
@click.argument("webhook_id", metavar="ID")
@click.option("--grace", default="1d", show_default=True, help="How long the old secret still signs too (up to 7d)")
@click.pass_obj
def webhooks_rotate_secret(state: State, webhook_id: str, grace: str) -> None:
    """A new signing secret (shown this once); deliveries carry both signatures during --grace."""
    body = {"grace_seconds": int(seconds(grace))}
    made = state.call("POST", f"{_hook(state, webhook_id)}/rotate-secret", body=body)
    emit(state, made, ["id", "secret"])


# --------------------------------------------------------------------------- restore

_CHANGE = ["key", "action"]


@secrets.command("restore")
@click.argument("key")
@folder_option()
@click.pass_obj
def secrets_restore(state: State, key: str) -> None:
    """Bring back the deleted secret KEY (its last value, as a new version)."""
    written = state.call("POST", f"{state.env_path()}/secrets/{quote(key, safe='')}/restore{_q(state)}")
    emit(state, written, ["key", "version", "updated_at"])


@envs.command("restore")
@click.option("--at", "at", required=True, help="RFC 3339 instant, or how long ago (e.g. 2h, 1d)")
@click.option("--dry-run", is_flag=True, help="Only list what would change (keys only)")
@click.option("--yes", is_flag=True, help="Do not ask (needed without a terminal)")
@folder_option(recursive=True)
@click.pass_obj
def envs_restore(state: State, at: str, dry_run: bool, yes: bool) -> None:
    """The environment (or one folder of it: --path) as it was at --at, as one new change: deleted
    secrets back, newer ones trashed."""
    path = f"{state.env_path()}/restore"
    instant = _ago(at)
    folder = state.settings.folder
    scope = {"path": folder, "recursive": state.settings.recursive} if folder else {}
    plan = state.call("POST", path, body={"at": instant, "dry_run": True, **scope})
    if dry_run or not plan["changes"]:
        emit(state, plan["changes"], _CHANGE)
        return
    if not yes and sys.stdin.isatty() and not state.output:
        emit(state, plan["changes"], _CHANGE, title=f"{state.settings.env} as of {plan['at']}")
    confirm(yes, "restore rewrites the environment", f"apply {len(plan['changes'])} change(s)?")
    done = state.call("POST", path, body={"at": instant, **scope})
    emit(state, done["changes"], _CHANGE)


# --------------------------------------------------------------------------- template, validate

_TEMPLATE = ["key", "pattern", "description", "updated_at"]


@cli.group()
def template() -> None:
    """The project's template (--project): the keys each environment must have, and their patterns."""


@template.command("list")
@click.pass_obj
def template_list(state: State) -> None:
    emit(state, state.call("GET", f"{_project_path(state)}/template")["data"], _TEMPLATE)


@template.command("add")
@click.argument("key")
@click.option("--pattern", help="A regular expression (RE2) the value must match")
@click.option("--description", default="")
@click.pass_obj
def template_add(state: State, key: str, pattern: str | None, description: str) -> None:
    """Require KEY in every environment (or change its pattern)."""
    body = {"key": key, "description": description, **({"pattern": pattern} if pattern else {})}
    emit(state, state.call("POST", f"{_project_path(state)}/template", body=body), _TEMPLATE)


resource_commands(template, lambda state: f"{_project_path(state)}/template", _TEMPLATE, noun="template key",
                  listing=False, show=False, remove="remove", argument="KEY")  # fmt: skip


def validation(state: State) -> dict[str, Any]:
    report: dict[str, Any] = state.call("GET", f"{state.env_path()}/validate{_q(state)}")
    return report


@cli.command()
@click.option("--exit-code", is_flag=True, help="Exit 1 when the environment fails its template")
@folder_option(recursive=True)
@click.pass_obj
def validate(state: State, exit_code: bool) -> None:
    """The environment against the project's template: missing keys, values that do not match."""
    report = validation(state)
    emit(state, report, ["valid", "checked", "missing", "mismatched", "unsupported"])
    if exit_code and not report["valid"]:
        sys.exit(1)


# --------------------------------------------------------------------------- encryption

_ENCRYPTION = ["mode", "kms_key_arn", "status", "environments", "rewrapped", "updated_at"]


@cli.group()
def encryption() -> None:
    """The org's encryption (--org): the service key, or its own KMS key (BYOK; owners)."""


def _encryption(state: State) -> str:
    return f"/v1/orgs/{_org(state)}/encryption"


@encryption.command("show")
@click.pass_obj
def encryption_show(state: State) -> None:
    emit(state, state.call("GET", _encryption(state)), _ENCRYPTION)


@encryption.command("kms-test")
@click.argument("kms_key_arn")
@click.pass_obj
def encryption_kms_test(state: State, kms_key_arn: str) -> None:
    """Check that Strongroom may use the KMS key (exit 1 when not)."""
    result = state.call("POST", f"{_encryption(state)}/kms/test", body={"kms_key_arn": kms_key_arn})
    emit(state, result, ["ok", "kms_key_arn", "checks"])
    if not result.get("ok"):
        sys.exit(1)


@encryption.command("kms-enable")
@click.argument("kms_key_arn")
@click.option("--yes", is_flag=True, help="Do not ask (needed without a terminal)")
@click.pass_obj
def encryption_kms_enable(state: State, kms_key_arn: str, yes: bool) -> None:
    """Wrap every environment key of the org under KMS_KEY_ARN (whoever disables that key locks the org out)."""
    confirm(yes, "kms-enable re-wraps every key", f"re-wrap every environment key under {kms_key_arn}?")
    emit(state, state.call("POST", f"{_encryption(state)}/kms/enable", body={"kms_key_arn": kms_key_arn}), _ENCRYPTION)


@encryption.command("kms-disable")
@click.option("--yes", is_flag=True, help="Do not ask (needed without a terminal)")
@click.pass_obj
def encryption_kms_disable(state: State, yes: bool) -> None:
    """Back to the service key: every environment key re-wrapped under it."""
    confirm(yes, "kms-disable re-wraps every key", "re-wrap every environment key under the service key?")
    emit(state, state.call("DELETE", f"{_encryption(state)}/kms"), _ENCRYPTION)


@encryption.command("rotate")
@click.pass_obj
def encryption_rotate(state: State) -> None:
    """A new data-key version for every environment of the org (new writes use it)."""
    emit(state, state.call("POST", f"{_encryption(state)}/rotate"), ["environments", "rotated_at"])


# --------------------------------------------------------------------------- audit search / tail

_EVENT = ["created_at", "action", "actor", "resource", "request_id", "id"]
_FILTERS = ("action", "resource_type", "actor", "project", "environment", "request_id", "correlation_id")


def _audit_filters(f: Any) -> Any:
    for name in reversed(_FILTERS):
        f = click.option(f"--{name.replace('_', '-')}", name, help=f"Only events with this {name.replace('_', ' ')}")(f)
    return f


def _audit_query(filters: dict[str, str | None], **extra: str | None) -> str:
    return urlencode({k: v for k, v in {**filters, **extra}.items() if v})


def _event_row(event: Row) -> Row:
    actor, resource = event.get("actor") or {}, event.get("resource") or {}
    return {
        **event,
        "actor": f"{actor.get('type')}:{actor.get('id')}",
        "resource": f"{resource.get('type')}:{resource.get('id')}",
    }


@audit.command("search")
@_audit_filters
@click.option("--since", help="RFC 3339, or how long ago (15m, 2h, 7d)")
@click.option("--until", help="RFC 3339, or how long ago")
@click.option("--limit", type=click.IntRange(1, 500), default=100, show_default=True)
@click.pass_obj
def audit_search(state: State, /, since: str | None, until: str | None, limit: int, **filters: str | None) -> None:
    """Matching events, newest first (--action takes a prefix ending in '.', e.g. `token.`)."""
    query = _audit_query(filters, since=_ago(since) if since else None, until=_ago(until) if until else None)
    events = state.call("GET", f"/v1/orgs/{_org(state)}/audit?{query}&limit={limit}")["data"]
    emit(state, events if state.output in {"json", "yaml"} else [_event_row(e) for e in events], _EVENT)


@audit.command("tail")
@_audit_filters
@click.option("--since", default="0s", help="Start from events this recent (default: new ones only)")
@click.option("--interval", default=2.0, show_default=True, help="Seconds between polls")
@click.option("--follow/--no-follow", default=True, help="Keep polling (default) or stop after the first poll")
@click.pass_obj
def audit_tail(state: State, /, since: str, interval: float, follow: bool, **filters: str | None) -> None:
    """New events as they happen, oldest first, one line each (JSON lines with --json)."""
    path = f"/v1/orgs/{_org(state)}/audit"
    after, seen = _ago(since), set[str]()
    while True:
        events = state.call("GET", f"{path}?{_audit_query(filters, since=after)}&limit=500")["data"]
        for event in reversed([e for e in events if e["id"] not in seen]):
            seen.add(event["id"])  # `since` is inclusive: the newest instant's events come again
            _print_event(state, event)
        after = events[0]["created_at"] if events else after
        if not follow:
            return
        time.sleep(interval)


def _print_event(state: State, event: Row) -> None:
    if state.output in {"json", "yaml"}:
        import json  # noqa: PLC0415

        click.echo(json.dumps(event, ensure_ascii=False))
    else:
        row = _event_row(event)
        click.echo("\t".join(str(row.get(c, "")) for c in _EVENT))
    sys.stdout.flush()
