"""Secrets over HTTP, beyond one key: batch changes, export and import, restore and rollback,
promotion between environments and whole-environment point-in-time restore."""

from __future__ import annotations

import json
import os
import secrets as pysecrets
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import dotenv
import pytest
import yaml

from strongroom.security import crypto
from strongroom_local import LocalStack
from support import Api, query_partition, unique_email

pytestmark = pytest.mark.http


@pytest.fixture
def env(api: Api) -> dict[str, Any]:
    owner, slug = unique_email("owner"), f"chg-{pysecrets.token_hex(4)}"
    assert api("POST", "/v1/orgs", user=owner, json={"name": "Changes", "slug": slug})[0] == 201
    assert api("POST", f"/v1/orgs/{slug}/projects", user=owner, json={"name": "Web"})[0] == 201
    project = f"/v1/orgs/{slug}/projects/web"
    return {"owner": owner, "project": project, "staging": f"{project}/environments/staging"}


def values_of(api: Api, user: str, env_path: str) -> dict[str, str]:
    status, _, body = api("GET", f"{env_path}/secrets?limit=500", user=user)
    assert status == 200, body
    return {item["key"]: item["value"] for item in body["data"]}


def versions_of(api: Api, user: str, env_path: str, key: str) -> list[tuple[int, str]]:
    status, _, body = api("GET", f"{env_path}/secrets/{key}/versions", user=user)
    assert status == 200, body
    return [(v["version"], v["action"]) for v in body["data"]]


# --------------------------------------------------------------------------- batch


def test_batch_sets_and_deletes_atomically_and_skips_unchanged_values(api: Api, env: dict[str, Any]) -> None:
    owner, staging = env["owner"], env["staging"]
    status, _, first = api("PATCH", f"{staging}/secrets", user=owner, json={"set": {"A": "1", "B": "2", "C": "3"}})
    assert status == 200, first
    assert [(c["key"], c["action"], c["version"]) for c in first["changes"]] == [
        ("A", "created", 1),
        ("B", "created", 1),
        ("C", "created", 1),
    ]
    body = {"set": {"A": "1", "B": "two", "D": "4"}, "delete": ["C"], "comment": "rotate B"}
    status, _, second = api("PATCH", f"{staging}/secrets", user=owner, json=body)
    assert status == 200, second
    assert second["revision"] == first["revision"] + 1
    assert {c["key"]: (c["action"], c["version"]) for c in second["changes"]} == {
        "A": ("unchanged", 1),
        "B": ("updated", 2),
        "C": ("deleted", 2),
        "D": ("created", 1),
    }
    assert values_of(api, owner, staging) == {"A": "1", "B": "two", "D": "4"}
    assert versions_of(api, owner, staging, "A") == [(1, "set")]  # no version for an unchanged value


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        ({"set": {"X": "1"}, "delete": ["NOPE"]}, 422, "unknown_keys"),
        ({"set": {"A": "1"}, "delete": ["A"]}, 422, "conflicting_keys"),
        ({"set": {"bad key": "1"}}, 400, "validation_error"),
        ({"set": {"NUL": "a\u0000b"}}, 400, "validation_error"),
        ({"set": {f"K{i:05d}": "v" * 100 for i in range(12_000)}}, 413, "payload_too_large"),  # past 1 MiB
    ],
)
def test_a_refused_batch_writes_nothing(
    api: Api, env: dict[str, Any], body: dict[str, Any], status: int, code: str
) -> None:
    owner, staging = env["owner"], env["staging"]
    assert api("PUT", f"{staging}/secrets/A", user=owner, json={"value": "kept"})[0] == 200
    got, _, payload = api("PATCH", f"{staging}/secrets", user=owner, json=body)
    assert (got, payload["error"]["code"]) == (status, code)
    assert values_of(api, owner, staging) == {"A": "kept"}


def test_hundreds_of_changes_are_one_batch(api: Api, env: dict[str, Any]) -> None:
    # past one transaction (100 items): written ahead and published as one revision
    owner, staging = env["owner"], env["staging"]
    wanted = {f"K{i:03d}": f"v{i}" for i in range(500)}
    status, _, body = api("PATCH", f"{staging}/secrets", user=owner, json={"set": wanted})
    assert status == 200, body
    assert body["revision"] == 1
    assert values_of(api, owner, staging) == wanted
    assert versions_of(api, owner, staging, "K499") == [(1, "set")]


# --------------------------------------------------------------------------- export / import

TRICKY = {
    "MULTILINE": "-----BEGIN KEY-----\nabc\ndef\n-----END KEY-----",
    "SINGLE": "it's",
    "DOUBLE": 'say "hi"',
    "BOTH": 'it\'s "both" and $HOME and ${PATH} and `cmd`',
    "HASH": "pa#ss # not a comment",
    "EMPTY": "",
    "UNICODE": "ünïcødé ☃ 😀",
    "BACKSLASH": "C:\\new\\table\\",
    "SPACES": "  padded  ",
    "dotted.key-name": "ok",
}


# What a dotenv export cannot carry (listed by name in a comment): a value with a `'` and a `$`
# (no quoting python-dotenv and a shell both read back), and a name a shell cannot hold.
NOT_IN_DOTENV = ["BOTH", "dotted.key-name"]


def _sourced(script: Path, command: str = "sh") -> dict[str, str]:
    """The environment `sh -c 'set -a; . script'` ends with; fails on any output on stderr."""
    dump = f"exec {sys.executable} -c 'import json, os; print(json.dumps(dict(os.environ)))'"
    out = subprocess.run(
        [command, "-c", f'set -a; . "{script}"; {dump}'],
        capture_output=True,
        check=True,
        env={"PATH": os.environ.get("PATH", ""), "LC_ALL": "C.UTF-8"},
    )
    assert out.stderr == b""
    environ: dict[str, str] = json.loads(out.stdout)
    return environ


def test_export_in_every_format_reads_back_to_the_same_values(api: Api, env: dict[str, Any], tmp_path: Path) -> None:
    owner, staging = env["owner"], env["staging"]
    assert api("PATCH", f"{staging}/secrets", user=owner, json={"set": TRICKY})[0] == 200
    exported = {}
    for fmt in ("dotenv", "json", "yaml", "shell"):
        status, headers, body = api("GET", f"{staging}/export?format={fmt}", user=owner)
        assert status == 200, body
        assert headers["cache-control"] == "no-store"
        exported[fmt] = body if isinstance(body, str) else json.dumps(body)
    assert json.loads(exported["json"]) == TRICKY
    assert yaml.safe_load(exported["yaml"]) == TRICKY
    shell_names = {k: v for k, v in TRICKY.items() if k.isidentifier()}
    script = tmp_path / "env.sh"
    script.write_text(exported["shell"], encoding="utf-8")
    environ = _sourced(script)
    assert {k: environ.get(k) for k in shell_names} == shell_names
    assert "dotted.key-name" in exported["shell"].splitlines()[-1]  # listed as not exportable
    # dotenv: python-dotenv and a shell read the same values; what neither can is listed by name
    in_dotenv = {k: v for k, v in TRICKY.items() if k not in NOT_IN_DOTENV}
    dotenv_file = tmp_path / ".env"
    dotenv_file.write_text(exported["dotenv"], encoding="utf-8")
    assert dotenv.dotenv_values(dotenv_file) == in_dotenv
    environ = _sourced(dotenv_file)
    assert {k: environ.get(k) for k in TRICKY} == {**dict.fromkeys(TRICKY), **in_dotenv}
    listed = " ".join(line for line in exported["dotenv"].splitlines() if line.startswith("# not exported"))
    assert all(key in listed for key in NOT_IN_DOTENV)


TRICKY_DOTENV = r"""# a comment line
export EXPORTED=plain
MULTILINE="line one
line two"
SINGLE='it\'s'
QUOTED="say \"hi\""
HASH_QUOTED="a # b"
HASH_UNQUOTED=value # a trailing comment
EMPTY=
EMPTY_QUOTED=""
UNICODE=ünïcødé ☃
SPACED = spaced value
REF=${OTHER}/path
"""

# What the file above means (python-dotenv's reading, without interpolation), written out by hand.
TRICKY_DOTENV_MEANS = {
    "EXPORTED": "plain",
    "MULTILINE": "line one\nline two",
    "SINGLE": "it's",
    "QUOTED": 'say "hi"',
    "HASH_QUOTED": "a # b",
    "HASH_UNQUOTED": "value",
    "EMPTY": "",
    "EMPTY_QUOTED": "",
    "UNICODE": "ünïcødé ☃",
    "SPACED": "spaced value",
    "REF": "${OTHER}/path",
}


def test_import_a_tricky_dotenv_then_export_gives_the_same_values(api: Api, env: dict[str, Any]) -> None:
    owner, staging = env["owner"], env["staging"]
    body = {"format": "dotenv", "content": TRICKY_DOTENV}
    status, _, counts = api("POST", f"{staging}/import", user=owner, json=body)
    assert status == 200, counts
    assert (counts["created"], counts["updated"], counts["unchanged"]) == (len(TRICKY_DOTENV_MEANS), 0, 0)
    assert values_of(api, owner, staging) == TRICKY_DOTENV_MEANS
    # exported and imported again elsewhere: the same values, but for `${…}`, which python-dotenv
    # would expand (REF names nothing, so it reads back as written): listed, not exported
    _, _, text = api("GET", f"{staging}/export?format=dotenv", user=owner)
    assert text.splitlines()[-1].endswith("): REF")
    development = staging.replace("staging", "development")
    assert api("POST", f"{development}/import", user=owner, json={"format": "dotenv", "content": text})[0] == 200
    assert values_of(api, owner, development) == {k: v for k, v in TRICKY_DOTENV_MEANS.items() if k != "REF"}


def test_import_keeps_existing_values_unless_overwrite(api: Api, env: dict[str, Any]) -> None:
    owner, staging = env["owner"], env["staging"]
    assert api("PATCH", f"{staging}/secrets", user=owner, json={"set": {"A": "old", "B": "same"}})[0] == 200
    content = json.dumps({"A": "new", "B": "same", "C": "added"})
    _, _, kept = api("POST", f"{staging}/import", user=owner, json={"format": "json", "content": content})
    assert (kept["created"], kept["updated"], kept["unchanged"]) == (1, 0, 2)
    assert values_of(api, owner, staging) == {"A": "old", "B": "same", "C": "added"}
    body = {"format": "json", "content": content, "overwrite": True}
    _, _, replaced = api("POST", f"{staging}/import", user=owner, json=body)
    assert (replaced["created"], replaced["updated"], replaced["unchanged"]) == (0, 1, 2)
    assert values_of(api, owner, staging)["A"] == "new"


@pytest.mark.parametrize(
    ("fmt", "content", "code"),
    [
        ("dotenv", "GOOD=1\nthis is not an assignment\n", "invalid_content"),
        ("dotenv", "BARE_KEY\n", "invalid_content"),
        ("dotenv", "9STARTS_WITH_DIGIT=1\n", "invalid_keys"),
        ("json", "[1, 2]", "invalid_content"),
        ("json", '{"A": 1}', "invalid_content"),
        ("json", "{not json", "invalid_content"),
    ],
)
def test_a_bad_import_is_422_naming_the_problem_and_writes_nothing(
    api: Api, env: dict[str, Any], fmt: str, content: str, code: str
) -> None:
    owner, staging = env["owner"], env["staging"]
    status, _, body = api("POST", f"{staging}/import", user=owner, json={"format": fmt, "content": content})
    assert (status, body["error"]["code"]) == (422, code)
    assert "1" not in json.dumps(body["error"].get("details", {})).replace("lines", "")  # no value echoed
    assert values_of(api, owner, staging) == {}


# --------------------------------------------------------------------------- restore / rollback


def test_delete_restore_and_rollback_keep_versions_gapless(api: Api, env: dict[str, Any]) -> None:
    owner, staging = env["owner"], env["staging"]
    path = f"{staging}/secrets/DB_URL"
    for value in ("one", "two", "three"):
        assert api("PUT", path, user=owner, json={"value": value})[0] == 200
    status, _, rolled = api("POST", f"{path}/rollback", user=owner, json={"version": 1, "comment": "bad deploy"})
    assert (status, rolled["version"]) == (200, 4)
    assert api("GET", path, user=owner)[2]["value"] == "one"
    assert api("POST", f"{path}/restore", user=owner)[2]["error"]["code"] == "not_deleted"
    assert api("DELETE", path, user=owner)[0] == 204
    assert api("GET", path, user=owner)[0] == 404
    status, _, restored = api("POST", f"{path}/restore", user=owner)
    assert (status, restored["version"]) == (200, 6)
    assert api("GET", path, user=owner)[2]["value"] == "one"
    assert versions_of(api, owner, staging, "DB_URL") == [
        (6, "set"),
        (5, "delete"),
        (4, "set"),
        (3, "set"),
        (2, "set"),
        (1, "set"),
    ]
    # a deletion has no value to roll back to; an unknown version or key is 404
    assert api("POST", f"{path}/rollback", user=owner, json={"version": 5})[2]["error"]["code"] == "version_is_deletion"
    assert api("POST", f"{path}/rollback", user=owner, json={"version": 99})[0] == 404
    assert api("POST", f"{staging}/secrets/NOPE/rollback", user=owner, json={"version": 1})[0] == 404
    assert api("POST", f"{staging}/secrets/NOPE/restore", user=owner)[0] == 404
    # If-Match guards a rollback too
    stale = api("POST", f"{path}/rollback", user=owner, json={"version": 2}, headers={"If-Match": "5"})
    assert stale[0] == 412


# --------------------------------------------------------------------------- promote


def test_promote_staging_to_production_dry_run_first(api: Api, env: dict[str, Any]) -> None:
    owner, project, staging = env["owner"], env["project"], env["staging"]
    production = f"{project}/environments/production"
    assert api("PATCH", f"{staging}/secrets", user=owner, json={"set": {"A": "1", "B": "new", "C": "3"}})[0] == 200
    assert api("PATCH", f"{production}/secrets", user=owner, json={"set": {"B": "old", "C": "3", "P": "p"}})[0] == 200
    body = {"from": "staging", "to": "production", "dry_run": True}
    status, _, dry = api("POST", f"{project}/promote", user=owner, json=body)
    assert status == 200, dry
    assert dry["dry_run"] is True
    assert {c["key"]: c["action"] for c in dry["changes"]} == {"A": "add", "B": "update", "C": "unchanged"}
    assert values_of(api, owner, production) == {"B": "old", "C": "3", "P": "p"}  # nothing written
    status, _, applied = api("POST", f"{project}/promote", user=owner, json={"from": "staging", "to": "production"})
    assert (status, applied["dry_run"], applied["revision"]) == (200, False, dry["revision"] + 1)
    assert values_of(api, owner, production) == {"A": "1", "B": "new", "C": "3", "P": "p"}


def test_promote_a_key_list_and_its_refusals(api: Api, env: dict[str, Any]) -> None:
    owner, project, staging = env["owner"], env["project"], env["staging"]
    production = f"{project}/environments/production"
    assert api("PATCH", f"{staging}/secrets", user=owner, json={"set": {"A": "1", "B": "2"}})[0] == 200
    body = {"from": "staging", "to": "production", "keys": ["B"]}
    assert api("POST", f"{project}/promote", user=owner, json=body)[0] == 200
    assert values_of(api, owner, production) == {"B": "2"}
    unknown = {"from": "staging", "to": "production", "keys": ["ZZZ"]}
    assert api("POST", f"{project}/promote", user=owner, json=unknown)[2]["error"]["code"] == "unknown_keys"
    same = {"from": "staging", "to": "staging"}
    assert api("POST", f"{project}/promote", user=owner, json=same)[2]["error"]["code"] == "same_environment"
    missing = {"from": "staging", "to": "nowhere"}
    assert api("POST", f"{project}/promote", user=owner, json=missing)[2]["error"]["code"] == "unknown_environment"


# --------------------------------------------------------------------------- point-in-time restore


def test_restore_an_environment_to_a_past_instant(api: Api, env: dict[str, Any]) -> None:
    owner, staging = env["owner"], env["staging"]
    assert api("PATCH", f"{staging}/secrets", user=owner, json={"set": {"A": "1", "B": "1", "C": "1"}})[0] == 200
    at = api("GET", f"{staging}/secrets/A", user=owner)[2]["updated_at"]
    time.sleep(0.01)  # times are kept to the millisecond
    body = {"set": {"A": "2", "D": "new"}, "delete": ["B"]}
    assert api("PATCH", f"{staging}/secrets", user=owner, json=body)[0] == 200
    assert api("PUT", f"{staging}/secrets/C", user=owner, json={"value": "1"})[0] == 200  # same value, new version

    status, _, restored = api("POST", f"{staging}/restore", user=owner, json={"at": at})
    assert status == 200, restored
    assert (restored["restored"], restored["trashed"]) == (2, 1)  # A and B back; D to the trash; C unchanged
    assert values_of(api, owner, staging) == {"A": "1", "B": "1", "C": "1"}
    # D is in the trash, restorable; the restore itself is a new version of each key it touched
    assert api("POST", f"{staging}/secrets/D/restore", user=owner)[2]["version"] == 3
    assert versions_of(api, owner, staging, "A")[0] == (3, "set")
    future = {"at": "2999-01-01T00:00:00Z"}
    assert api("POST", f"{staging}/restore", user=owner, json=future)[2]["error"]["code"] == "invalid_instant"
    naive = {"at": "2026-01-01T00:00:00"}
    assert api("POST", f"{staging}/restore", user=owner, json=naive)[0] == 400


def test_restore_reads_a_bounded_history_or_says_it_is_too_long(
    api: Api, env: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    from strongroom.domain import secrets as domain

    owner, staging = env["owner"], env["staging"]
    assert api("PATCH", f"{staging}/secrets", user=owner, json={"set": {"A": "1", "B": "1", "C": "1"}})[0] == 200
    at = api("GET", f"{staging}/secrets/A", user=owner)[2]["updated_at"]
    time.sleep(0.01)
    body = {"set": {"A": "2", "D": "new"}, "delete": ["B"]}
    assert api("PATCH", f"{staging}/secrets", user=owner, json=body)[0] == 200  # six versions in all
    # Given a bound one short of the history: 422, and nothing changed
    monkeypatch.setattr(domain, "MAX_RESTORE_VERSIONS", 5, raising=False)
    status, _, refused = api("POST", f"{staging}/restore", user=owner, json={"at": at})
    assert (status, refused["error"]["code"], refused["error"]["details"]) == (
        422,
        "history_too_long",
        {"max_versions": 5},
    )
    assert values_of(api, owner, staging) == {"A": "2", "C": "1", "D": "new"}
    # Given a bound that holds it: restored
    monkeypatch.setattr(domain, "MAX_RESTORE_VERSIONS", 6)
    status, _, restored = api("POST", f"{staging}/restore", user=owner, json={"at": at})
    assert (status, restored["restored"], restored["trashed"]) == (200, 2, 1), restored
    assert values_of(api, owner, staging) == {"A": "1", "B": "1", "C": "1"}


# --------------------------------------------------------------------------- key rotation


def test_rotate_key_new_writes_use_the_new_key_and_old_versions_still_decrypt(
    api: Api, env: dict[str, Any], stack: LocalStack
) -> None:
    owner, staging = env["owner"], env["staging"]
    assert api("PUT", f"{staging}/secrets/A", user=owner, json={"value": "under-key-1"})[0] == 200
    status, _, rotated = api("POST", f"{staging}/rotate-key", user=owner)
    assert (status, rotated["key_version"]) == (200, 2), rotated
    assert api("PUT", f"{staging}/secrets/A", user=owner, json={"value": "under-key-2"})[0] == 200
    status, _, again = api("POST", f"{staging}/rotate-key", user=owner)
    assert (status, again["key_version"], again["revision"]) == (200, 3, rotated["revision"] + 2)

    # the stored items say which key each ciphertext is under
    env_id = api("GET", staging, user=owner)[2]["id"]
    items = {i["SK"]["S"]: i for i in query_partition(stack, f"ENV#{env_id}")}
    assert sorted(k for k in items if k.startswith("DATAKEY#")) == [
        "DATAKEY#000001",
        "DATAKEY#000002",
        "DATAKEY#000003",
    ]
    assert items["SNAPSHOT"]["key_version"] == {"N": "3"}
    assert items["VERSION#A#0000000001"]["key_version"] == {"N": "1"}
    assert items["VERSION#A#0000000002"]["key_version"] == {"N": "2"}
    # and every one still reads, cold cache included
    crypto.cache.clear()
    assert api("GET", f"{staging}/secrets/A?version=1", user=owner)[2]["value"] == "under-key-1"
    assert api("GET", f"{staging}/secrets/A?version=2", user=owner)[2]["value"] == "under-key-2"
    assert api("GET", f"{staging}/secrets/A", user=owner)[2]["value"] == "under-key-2"
    # rotating is the owner's: a developer may write staging but not rotate its key
    dev = unique_email("dev")
    org_path = env["project"].rsplit("/projects", 1)[0]
    _, _, inv = api("POST", f"{org_path}/invitations", user=owner, json={"email": dev, "role": "developer"})
    assert api("POST", f"/v1/invitations/{inv['token']}/accept", user=dev)[0] == 200
    assert api("POST", f"{staging}/rotate-key", user=dev)[0] == 403


# --------------------------------------------------------------------------- large environments


def test_an_environment_past_one_item_spills_into_parts_and_reads_whole(
    api: Api, env: dict[str, Any], stack: LocalStack
) -> None:
    owner, staging = env["owner"], env["staging"]
    big = {f"BIG_{i:02d}": pysecrets.token_urlsafe(45_000) for i in range(20)}  # 60 KB each, 1.2 MB in all
    names = sorted(big)
    for half in (names[:10], names[10:]):  # request bodies stop at 1 MiB
        status, _, body = api("PATCH", f"{staging}/secrets", user=owner, json={"set": {k: big[k] for k in half}})
        assert status == 200, body
    assert values_of(api, owner, staging) == big
    env_id = api("GET", staging, user=owner)[2]["id"]

    def parts() -> list[str]:
        return sorted(i["SK"]["S"] for i in query_partition(stack, f"ENV#{env_id}") if "SNAPSHOT#" in i["SK"]["S"])

    first = parts()
    assert len(first) == 3  # 1.2 MB: the SNAPSHOT item and three parts of at most 350 KB
    assert api("PUT", f"{staging}/secrets/SMALL", user=owner, json={"value": "s"})[0] == 200
    second = parts()
    assert len(second) == 3
    assert not set(first) & set(second)  # the previous revision's parts went with it
    crypto.cache.clear()
    assert api("GET", f"{staging}/secrets/BIG_07", user=owner)[2]["value"] == big["BIG_07"]
    _, _, exported = api("GET", f"{staging}/export?format=json", user=owner)
    assert exported == {**big, "SMALL": "s"}
    # a child reads its parent's parts too
    body = {"name": "QA", "slug": "qa", "parent": "staging"}
    assert api("POST", staging.rsplit("/", 1)[0], user=owner, json=body)[0] == 201
    assert values_of(api, owner, staging.replace("staging", "qa")) == {**big, "SMALL": "s"}


def test_an_environment_stops_at_its_size_limit_with_413(api: Api, env: dict[str, Any]) -> None:
    owner, staging = env["owner"], env["staging"]
    statuses = []
    for i in range(60):  # 60 KB each: the limit (3 MB of ciphertext) is reached before 60
        status, _, body = api("PUT", f"{staging}/secrets/K{i:02d}", user=owner, json={"value": "v" * 60_000})
        statuses.append(status)
        if status != 200:
            assert (status, body["error"]["code"]) == (413, "environment_full")
            break
    assert 40 < statuses.index(413) < 60
    assert len(values_of(api, owner, staging)) == statuses.index(413)  # nothing of the refused write
