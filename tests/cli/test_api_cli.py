"""The API's capabilities from the CLI, as a user runs it: a real `strongroom` process against the
local server, with its own HOME. One test per command group; each destructive command is refused
without --yes off a terminal (exit 2, nothing done) and done with it."""

from __future__ import annotations

import base64
import json
import secrets
import time
from typing import Any

import pytest
import yaml

from cli.conftest import CliRun
from cli.listener import Capture
from support import customer_key

pytestmark = pytest.mark.http


def _owner_of_new_org(cli: CliRun, prefix: str) -> tuple[str, str]:
    email, org = f"{prefix}-{secrets.token_hex(3)}@example.com", f"{prefix}-{secrets.token_hex(3)}"
    cli("login", "--dev-user", email)
    cli("orgs", "create", prefix, "--slug", org)
    cli("--org", org, "projects", "create", "Web")
    return email, org


def _json(cli: CliRun, *args: str, **kw: Any) -> Any:
    return json.loads(cli(*args, "--json", **kw).stdout)


def test_a_service_token_is_minted_used_by_run_rotated_and_revoked_as_the_audit_shows(cli: CliRun) -> None:
    _, org = _owner_of_new_org(cli, "tok")
    here = ("--org", org, "--project", "web", "--env", "staging")
    cli(*here, "secrets", "set", "DB_URL", "postgres://db/app")
    made = _json(cli, "--org", org, "tokens", "create", "ci", "--project", "web", "--env", "staging", "--read",
                 "--expires-in", "1d", "--cidr", "127.0.0.0/8")  # fmt: skip
    assert made["token"].startswith("sr_svc_")
    assert (made["permissions"], made["allowed_cidrs"]) == (["read"], ["127.0.0.0/8"])
    assert made["expires_at"][:10] > time.strftime("%Y-%m-%d", time.gmtime())
    show = ["run", "--", "sh", "-c", 'printf %s "$DB_URL"']
    assert cli(*show, env={"STRONGROOM_TOKEN": made["token"]}).stdout == "postgres://db/app"
    listed = cli("--org", org, "tokens", "list", "--json").stdout
    assert [t["id"] for t in json.loads(listed)] == [made["id"]]
    assert made["token"] not in listed

    rotated = _json(cli, "--org", org, "tokens", "rotate", made["id"])
    assert rotated["token"].startswith("sr_svc_")
    assert rotated["token"] != made["token"]
    old = cli(*show, env={"STRONGROOM_TOKEN": made["token"]}, check=False)
    assert (old.returncode, "401" in old.stderr) == (1, True)
    assert cli(*show, env={"STRONGROOM_TOKEN": rotated["token"]}).stdout == "postgres://db/app"

    refused = cli("--org", org, "tokens", "revoke", made["id"], check=False)
    assert (refused.returncode, "--yes" in refused.stderr) == (2, True)
    assert cli(*show, env={"STRONGROOM_TOKEN": rotated["token"]}).returncode == 0  # still alive
    assert _json(cli, "--org", org, "tokens", "revoke", made["id"], "--yes") == {"id": made["id"], "revoked": True}
    revoked = cli(*show, env={"STRONGROOM_TOKEN": rotated["token"]}, check=False)
    assert (revoked.returncode, "401" in revoked.stderr) == (1, True)

    events = _json(cli, "--org", org, "audit", "search", "--action", "token.")
    assert [e["action"] for e in events] == ["token.revoked", "token.rotated", "token.created"]
    assert {e["resource"]["id"] for e in events} == {made["id"]}
    assert made["token"] not in json.dumps(events)
    assert rotated["token"] not in json.dumps(events)
    table = cli("--org", org, "audit", "search", "--action", "token.", "--since", "1h").stdout
    assert [line.split("\t")[1] for line in table.splitlines()] == ["token.revoked", "token.rotated", "token.created"]
    tail = cli("--org", org, "audit", "tail", "--since", "1h", "--no-follow", "--action", "token.", "--json").stdout
    expected = ["token.created", "token.rotated", "token.revoked"]
    assert [json.loads(line)["action"] for line in tail.splitlines()] == expected


def test_personal_access_tokens(cli: CliRun) -> None:
    email, _ = _owner_of_new_org(cli, "pat")
    made = _json(cli, "tokens", "create", "laptop", "--personal", "--read", "--expires-in", "7d")
    assert made["token"].startswith("sr_pat_")
    assert made["read_only"] is True
    assert _json(cli, "whoami", env={"STRONGROOM_TOKEN": made["token"]})["email"] == email
    assert made["id"] in [t["id"] for t in _json(cli, "tokens", "list", "--personal")]
    assert _json(cli, "tokens", "revoke", made["id"], "--personal", "--yes")["revoked"] is True
    assert cli("whoami", env={"STRONGROOM_TOKEN": made["token"]}, check=False).returncode == 1


def test_members_and_invitations(cli: CliRun) -> None:
    owner, org = _owner_of_new_org(cli, "inv")
    bob, carol = (f"{n}-{secrets.token_hex(3)}@example.com" for n in ("bob", "carol"))
    first = _json(cli, "--org", org, "members", "invite", carol, "--role", "viewer")
    assert [i["email"] for i in _json(cli, "--org", org, "invitations", "list")] == [carol]
    assert cli("--org", org, "invitations", "revoke", first["id"], check=False).returncode == 2
    assert _json(cli, "--org", org, "invitations", "revoke", first["id"], "--yes")["revoked"] is True
    invited = _json(cli, "--org", org, "members", "invite", bob, "--role", "developer")

    cli("login", "--dev-user", bob)
    cli("invitations", "accept", invited["token"])
    cli("login", "--dev-user", owner)
    listed = {m["email"]: m for m in _json(cli, "--org", org, "members", "list")}
    assert {e: m["role"] for e, m in listed.items()} == {owner: "owner", bob: "developer"}
    bob_id = listed[bob]["user_id"]
    assert _json(cli, "--org", org, "members", "set-role", bob_id, "viewer")["role"] == "viewer"
    assert cli("--org", org, "members", "remove", bob_id, check=False).returncode == 2
    cli("--org", org, "members", "remove", bob_id, "--yes")
    assert [m["email"] for m in _json(cli, "--org", org, "members", "list")] == [owner]


def test_webhooks(cli: CliRun, capture: Capture) -> None:
    _, org = _owner_of_new_org(cli, "hook")
    made = _json(cli, "--org", org, "webhooks", "create", capture.url, "--event", "secret.updated",
                 "--description", "ci")  # fmt: skip
    assert made["secret"].startswith("whsec_")
    hook = made["id"]
    assert [h["id"] for h in _json(cli, "--org", org, "webhooks", "list")] == [hook]
    assert made["secret"] not in cli("--org", org, "webhooks", "list", "--json").stdout
    assert _json(cli, "--org", org, "webhooks", "show", hook)["events"] == ["secret.updated"]
    assert _json(cli, "--org", org, "webhooks", "update", hook, "--disable")["enabled"] is False
    assert cli("--org", org, "webhooks", "update", hook, check=False).returncode == 2  # nothing to change
    cli("--org", org, "webhooks", "update", hook, "--enable")
    sent = _json(cli, "--org", org, "webhooks", "test", hook)
    assert sent["event_type"] == "webhook.test"
    assert sent["id"] in [d["id"] for d in _json(cli, "--org", org, "webhooks", "deliveries", hook)]
    again = _json(cli, "--org", org, "webhooks", "redeliver", hook, sent["id"])
    assert again["event_type"] == "webhook.test"
    rotated = _json(cli, "--org", org, "webhooks", "rotate-secret", hook, "--grace", "1h")
    assert rotated["secret"].startswith("whsec_")
    assert rotated["secret"] != made["secret"]
    assert cli("--org", org, "webhooks", "delete", hook, check=False).returncode == 2
    cli("--org", org, "webhooks", "delete", hook, "--yes")
    assert _json(cli, "--org", org, "webhooks", "list") == []


def test_templates_validate_and_restores(cli: CliRun) -> None:
    _, org = _owner_of_new_org(cli, "tpl")
    here = ("--org", org, "--project", "web", "--env", "staging")
    cli(*here, "template", "add", "DB_URL", "--pattern", "postgres://.*")
    cli(*here, "template", "add", "API_KEY")
    assert [t["key"] for t in _json(cli, *here, "template", "list")] == ["API_KEY", "DB_URL"]
    cli(*here, "secrets", "set", "DB_URL", "mysql://wrong")
    report = _json(cli, *here, "validate")
    assert (report["valid"], report["missing"]) == (False, ["API_KEY"])
    assert cli(*here, "validate").returncode == 0  # a report, not a gate
    assert cli(*here, "validate", "--exit-code", check=False).returncode == 1
    cli(*here, "secrets", "set", "DB_URL", "postgres://db/app")
    cli(*here, "secrets", "set", "API_KEY", "k")
    assert cli(*here, "validate", "--exit-code").returncode == 0
    assert cli(*here, "template", "remove", "API_KEY", check=False).returncode == 2
    cli(*here, "template", "remove", "API_KEY", "--yes")
    assert [t["key"] for t in _json(cli, *here, "template", "list")] == ["DB_URL"]

    # a deleted secret comes back; the whole environment goes back to an instant
    cli(*here, "secrets", "delete", "API_KEY", "--yes")
    assert _json(cli, *here, "secrets", "restore", "API_KEY")["key"] == "API_KEY"
    assert cli(*here, "secrets", "get", "API_KEY").stdout == "k\n"
    time.sleep(1.1)
    before = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    time.sleep(1.1)
    cli(*here, "secrets", "set", "DB_URL", "postgres://db2/app")
    cli(*here, "secrets", "set", "NEW", "n")
    plan = _json(cli, *here, "envs", "restore", "--at", before, "--dry-run")
    assert [(c["key"], c["action"]) for c in plan] == [("DB_URL", "updated"), ("NEW", "deleted")]
    assert cli(*here, "secrets", "get", "NEW").stdout == "n\n"  # a dry run changed nothing
    assert cli(*here, "envs", "restore", "--at", before, check=False).returncode == 2
    assert _json(cli, *here, "envs", "restore", "--at", before, "--yes") == plan
    assert {r["key"] for r in _json(cli, *here, "secrets", "list")} == {"API_KEY", "DB_URL"}
    assert cli(*here, "secrets", "get", "DB_URL").stdout == "postgres://db/app\n"
    assert cli(*here, "secrets", "export", "--format", "docker").stdout == "API_KEY=k\nDB_URL=postgres://db/app\n"
    assert cli(*here, "diff", "staging", "production", "--exit-code", "--json", check=False).returncode == 1
    cli(*here, "promote", "staging", "production", "--yes")
    assert _json(cli, *here, "diff", "staging", "production", "--exit-code")[0]["action"] == "unchanged"
    manifest = yaml.safe_load(cli(*here, "secrets", "export", "--format", "k8s").stdout)
    assert manifest["metadata"]["name"] == "web-staging"
    assert manifest["metadata"]["annotations"]["strongroom.dev/etag"]
    assert base64.b64decode(manifest["data"]["DB_URL"]) == b"postgres://db/app"


def test_encryption(cli: CliRun) -> None:
    _, org = _owner_of_new_org(cli, "enc")
    assert _json(cli, "--org", org, "encryption", "show")["mode"] == "service"
    assert _json(cli, "--org", org, "encryption", "rotate")["environments"] == 3
    key = customer_key(_json(cli, "orgs", "list")[0]["id"])
    assert _json(cli, "--org", org, "encryption", "kms-test", key)["ok"] is True
    assert cli("--org", org, "encryption", "kms-enable", key, check=False).returncode == 2
    enabled = _json(cli, "--org", org, "encryption", "kms-enable", key, "--yes")
    assert (enabled["kms_key_arn"], enabled["rewrapped"]) == (key, 3)
    assert cli("--org", org, "encryption", "kms-disable", check=False).returncode == 2
    assert _json(cli, "--org", org, "encryption", "kms-disable", "--yes")["mode"] == "service"
