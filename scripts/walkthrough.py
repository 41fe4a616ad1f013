"""A scripted walk-through of the foundation and of secrets over real HTTP, against a running stack.

    python scripts/walkthrough.py [--url http://127.0.0.1:3000]

Foundation: user A creates an org and a project (three environments appear), invites B as
developer, B accepts, both list members; B cannot delete the project (403); C (no membership)
gets 404 for the org, the project and its environments, by ID and by slug.

Secrets (A, in the project's environments): sets a secret and reads it back; updates it with
If-Match (a stale If-Match is 412) and reads a past version; lists (pages with a cursor, a
prefix, without values); rolls back to an old version; deletes (404 after) and restores it from
the trash; changes several keys in one batch (created/updated/deleted/unchanged; a batch naming
an unknown key writes nothing); imports a tricky dotenv (multiline, quotes, `export` prefix, `#`
in values, empty values, unicode) and lists exactly the values written out by hand; exports
each format (dotenv and json imported again into development give the same values, json read
directly; yaml and shell name every key); promotes staging -> production with a dry run first
(which writes nothing); restores production to a past instant, undoing a later change.

Exits non-zero on the first deviation; prints one line per step. Standard library only.
"""

from __future__ import annotations

import argparse
import json
import secrets
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from email.message import Message
from typing import Any


class Client:
    def __init__(self, base: str) -> None:
        self.base = base.rstrip("/")

    def call(
        self,
        method: str,
        path: str,
        *,
        user: str | None = None,
        body: Any = None,
        headers: dict[str, str] | None = None,
    ) -> tuple[int, Any]:
        """(status, body): the body parsed when the response is JSON, text otherwise, None if empty."""
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(self.base + path, data=data, method=method)  # noqa: S310 - loopback
        request.add_header("Content-Type", "application/json")
        if user:
            request.add_header("X-Strongroom-Dev-User", user)
        for name, value in (headers or {}).items():
            request.add_header(name, value)
        try:
            with urllib.request.urlopen(request, timeout=30) as resp:  # noqa: S310
                return resp.status, _decode(resp.headers, resp.read())
        except urllib.error.HTTPError as err:
            return err.code, _decode(err.headers, err.read())


def _decode(headers: Message, raw: bytes) -> Any:
    if not raw:
        return None
    media_type = headers.get_content_type()
    if media_type == "application/json" or media_type.endswith("+json"):
        return json.loads(raw)
    return raw.decode(headers.get_content_charset() or "utf-8")


def expect(step: str, got: int, want: int, body: Any = None) -> None:
    ok = got == want
    print(f"{'ok ' if ok else 'FAIL'} {step}: {got}" + ("" if ok else f" (wanted {want}) {json.dumps(body)[:300]}"))
    if not ok:
        raise SystemExit(1)


def check(condition: bool, what: str, detail: Any) -> None:
    if not condition:
        print(f"FAIL {what}: {json.dumps(detail)[:300]}")
        raise SystemExit(1)


def run(base: str) -> None:
    api = Client(base)
    run_id = secrets.token_hex(3)
    a, b, c = (f"{who}-{run_id}@example.com" for who in ("alice", "bob", "carol"))
    slug = f"acme-{run_id}"

    status, org = api.call("POST", "/v1/orgs", user=a, body={"name": f"Acme {run_id}", "slug": slug})
    expect("A creates an org", status, 201, org)
    check(org["role"] == "owner" and org["slug"] == slug, "the creator owns the org", org)

    status, project = api.call("POST", f"/v1/orgs/{slug}/projects", user=a, body={"name": "Web"})
    expect("A creates a project", status, 201, project)
    envs = {e["slug"]: e for e in project["environments"]}
    check(set(envs) == {"development", "staging", "production"}, "three environments", sorted(envs))
    check(envs["production"]["production"] is True, "production is flagged", envs["production"])
    check(not envs["staging"]["production"] and not envs["development"]["production"], "others are not", envs)
    print("ok  three environments appear, production flagged")

    status, invitation = api.call(
        "POST", f"/v1/orgs/{slug}/invitations", user=a, body={"email": b, "role": "developer"}
    )
    expect("A invites B as developer", status, 201, invitation)
    status, accepted = api.call("POST", f"/v1/invitations/{invitation['token']}/accept", user=b)
    expect("B accepts", status, 200, accepted)
    status, again = api.call("POST", f"/v1/invitations/{invitation['token']}/accept", user=b)
    expect("B accepts again (once only)", status, 409, again)

    for who in (a, b):
        status, members = api.call("GET", f"/v1/orgs/{slug}/members", user=who)
        expect(f"{who.split('-')[0]} lists members", status, 200, members)
        roles = {m["email"]: m["role"] for m in members["data"]}
        check(roles == {a: "owner", b: "developer"}, "both members with their roles", roles)
    a_id = next(m["user_id"] for m in members["data"] if m["email"] == a)

    status, body = api.call("DELETE", f"/v1/orgs/{slug}/projects/{project['slug']}", user=b)
    expect("B cannot delete the project", status, 403, body)

    refs = {"org": (org["id"], slug), "project": (project["id"], project["slug"])}
    for org_ref in refs["org"]:
        status, body = api.call("GET", f"/v1/orgs/{org_ref}", user=c)
        expect(f"C gets the org by {org_ref}", status, 404, body)
        for project_ref in refs["project"]:
            base_path = f"/v1/orgs/{org_ref}/projects/{project_ref}"
            status, body = api.call("GET", base_path, user=c)
            expect(f"C gets the project {org_ref}/{project_ref}", status, 404, body)
            status, body = api.call("GET", f"{base_path}/environments", user=c)
            expect("C lists its environments", status, 404, body)
            for env in envs.values():
                for env_ref in (env["id"], env["slug"]):
                    status, body = api.call("GET", f"{base_path}/environments/{env_ref}", user=c)
                    expect(f"C gets environment {env_ref}", status, 404, body)

    walk_secrets(api, owner=a, owner_id=a_id, outsider=c, project_path=f"/v1/orgs/{slug}/projects/{project['slug']}")
    print("walk-through passed")


# --------------------------------------------------------------------------- secrets

# A dotenv file with the usual traps, and what it means (python-dotenv's reading, which the server
# uses, without interpolation), written out by hand.
TRICKY_DOTENV = r"""# tricky.env: comments and blank lines are not secrets

export EXPORTED=from-a-shell-script
MULTILINE="-----BEGIN KEY-----
abc
def
-----END KEY-----"
SINGLE='it\'s'
DOUBLE="say \"hi\""
HASH_QUOTED="pa#ss # not a comment"
HASH_UNQUOTED=value # a trailing comment
HASH_INSIDE=pa#ss
EMPTY=
EMPTY_QUOTED=''
UNICODE="ünïcødé ☃ 😀"
UNICODE_BARE=żółć
TAB="a\tb"
SPACED = spaced value
"""
TRICKY_MEANS = {
    "EXPORTED": "from-a-shell-script",
    "MULTILINE": "-----BEGIN KEY-----\nabc\ndef\n-----END KEY-----",
    "SINGLE": "it's",
    "DOUBLE": 'say "hi"',
    "HASH_QUOTED": "pa#ss # not a comment",
    "HASH_UNQUOTED": "value",
    "HASH_INSIDE": "pa#ss",
    "EMPTY": "",
    "EMPTY_QUOTED": "",
    "UNICODE": "ünïcødé ☃ 😀",
    "UNICODE_BARE": "żółć",
    "TAB": "a\tb",
    "SPACED": "spaced value",
}


def listing(api: Client, user: str, env_path: str) -> dict[str, dict[str, Any]]:
    """Every secret of an environment, key -> list item, following the cursor."""
    items: dict[str, dict[str, Any]] = {}
    query = {"limit": "100"}
    while True:
        status, page = api.call("GET", f"{env_path}/secrets?{urllib.parse.urlencode(query)}", user=user)
        check(status == 200, f"list {env_path}", page)
        items.update((item["key"], item) for item in page["data"])
        if not page["next_cursor"]:
            return items
        query["cursor"] = page["next_cursor"]


def values_of(api: Client, user: str, env_path: str) -> dict[str, str]:
    return {key: item["value"] for key, item in listing(api, user, env_path).items()}


def history(api: Client, user: str, secret_path: str) -> list[tuple[int, str, str]]:
    status, body = api.call("GET", f"{secret_path}/versions", user=user)
    check(status == 200, f"versions of {secret_path}", body)
    return [(v["version"], v["action"], v["comment"]) for v in body["data"]]


def walk_secrets(api: Client, *, owner: str, owner_id: str, outsider: str, project_path: str) -> None:
    env = {slug: f"{project_path}/environments/{slug}" for slug in ("development", "staging", "production")}
    one_key(api, owner, owner_id, outsider, env["staging"])
    list_keys(api, owner, env["staging"])
    rollback_delete_restore(api, owner, env["staging"])
    batch_values = batch_change(api, owner, env["staging"])
    staged = import_tricky_dotenv(api, owner, env["staging"], batch_values)
    export_each_format(api, owner, env["staging"], env["development"], staged)
    promoted = promote(api, owner, project_path, env["production"], staged)
    restore_past_instant(api, owner, env["production"], promoted)


def one_key(api: Client, a: str, owner_id: str, outsider: str, staging: str) -> None:
    """Set, read, update with If-Match (stale is 412), a past version; an outsider gets 404."""
    db_url = f"{staging}/secrets/DB_URL"
    status, written = api.call("PUT", db_url, user=a, body={"value": "postgres://one", "comment": "first"})
    expect("A sets DB_URL in staging", status, 200, written)
    check(written["key"] == "DB_URL" and written["version"] == 1, "the first version is 1", written)
    status, got = api.call("GET", db_url, user=a)
    expect("A reads DB_URL", status, 200, got)
    check(
        (got["value"], got["version"], got["updated_by"]) == ("postgres://one", 1, owner_id),
        "the value, its version and who set it",
        got,
    )
    status, written = api.call("PUT", db_url, user=a, body={"value": "postgres://two"}, headers={"If-Match": "1"})
    expect("A updates DB_URL with If-Match: 1", status, 200, written)
    check(written["version"] == 2, "the update is version 2", written)
    status, body = api.call("PUT", db_url, user=a, body={"value": "postgres://lost"}, headers={"If-Match": "1"})
    expect("a stale If-Match: 1 is refused", status, 412, body)
    status, got = api.call("GET", db_url, user=a)
    expect("A reads DB_URL again", status, 200, got)
    check((got["value"], got["version"]) == ("postgres://two", 2), "the stale write did not land", got)
    status, got = api.call("GET", f"{db_url}?version=1", user=a)
    expect("A reads version 1", status, 200, got)
    check((got["value"], got["version"]) == ("postgres://one", 1), "the past value", got)
    status, body = api.call("GET", db_url, user=outsider)
    expect("C cannot read it", status, 404, body)


def list_keys(api: Client, a: str, staging: str) -> None:
    """Pages with a cursor, a prefix, names without values."""
    for key, value in (("API_KEY", "k-1"), ("API_URL", "https://api.example.com")):
        status, written = api.call("PUT", f"{staging}/secrets/{key}", user=a, body={"value": value})
        expect(f"A sets {key}", status, 200, written)
    status, first = api.call("GET", f"{staging}/secrets?limit=2", user=a)
    expect("A lists two at a time", status, 200, first)
    check([i["key"] for i in first["data"]] == ["API_KEY", "API_URL"] and first["next_cursor"], "page one", first)
    cursor = urllib.parse.quote(first["next_cursor"], safe="")
    status, second = api.call("GET", f"{staging}/secrets?limit=2&cursor={cursor}", user=a)
    expect("A lists the next page", status, 200, second)
    check([i["key"] for i in second["data"]] == ["DB_URL"] and not second["next_cursor"], "the last page", second)
    status, api_only = api.call("GET", f"{staging}/secrets?prefix=API_", user=a)
    expect("A lists prefix=API_", status, 200, api_only)
    check([i["key"] for i in api_only["data"]] == ["API_KEY", "API_URL"], "only the API_ keys", api_only)
    status, names = api.call("GET", f"{staging}/secrets?values=false", user=a)
    expect("A lists without values", status, 200, names)
    check(
        [i["key"] for i in names["data"]] == ["API_KEY", "API_URL", "DB_URL"]
        and all(i.get("value") is None and i["version"] >= 1 for i in names["data"]),
        "names and versions, no values",
        names,
    )
    check(
        values_of(api, a, staging)
        == {"API_KEY": "k-1", "API_URL": "https://api.example.com", "DB_URL": "postgres://two"},
        "the listed values",
        values_of(api, a, staging),
    )


def rollback_delete_restore(api: Client, a: str, staging: str) -> None:
    """Roll back to version 1 (a new version), delete (404 after), restore from the trash (once)."""
    db_url = f"{staging}/secrets/DB_URL"
    status, rolled = api.call("POST", f"{db_url}/rollback", user=a, body={"version": 1, "comment": "bad deploy"})
    expect("A rolls DB_URL back to version 1", status, 200, rolled)
    check(rolled["version"] == 3, "the rollback is a new version, 3", rolled)
    status, got = api.call("GET", db_url, user=a)
    check(status == 200 and got["value"] == "postgres://one", "the old value is back", got)
    versions = history(api, a, db_url)
    check(
        versions == [(3, "set", "bad deploy"), (2, "set", ""), (1, "set", "first")],
        "three versions, newest first, with comments",
        versions,
    )
    print("ok  DB_URL is postgres://one again, as version 3")
    status, body = api.call("DELETE", db_url, user=a)
    expect("A deletes DB_URL", status, 204, body)
    status, body = api.call("GET", db_url, user=a)
    expect("DB_URL is gone", status, 404, body)
    check("DB_URL" not in listing(api, a, staging), "and not listed", sorted(listing(api, a, staging)))
    status, restored = api.call("POST", f"{db_url}/restore", user=a)
    expect("A restores DB_URL from the trash", status, 200, restored)
    check(restored["version"] == 5, "the restore is version 5", restored)
    status, got = api.call("GET", db_url, user=a)
    check(status == 200 and got["value"] == "postgres://one", "the value is back", got)
    status, body = api.call("POST", f"{db_url}/restore", user=a)
    expect("restoring a live secret is refused", status, 409, body)
    check(body["error"]["code"] == "not_deleted", "not_deleted", body)
    versions = history(api, a, db_url)
    check(
        [(v, action) for v, action, _ in versions] == [(5, "set"), (4, "delete"), (3, "set"), (2, "set"), (1, "set")],
        "the deletion and the restore are versions too",
        versions,
    )
    print("ok  versions 5 set, 4 delete, 3..1 set")


def batch_change(api: Client, a: str, staging: str) -> dict[str, str]:
    """A refused batch writes nothing; one batch creates, updates, deletes and skips. The values after."""
    before = values_of(api, a, staging)
    status, body = api.call("PATCH", f"{staging}/secrets", user=a, body={"set": {"X": "1"}, "delete": ["NOPE"]})
    expect("a batch deleting an unknown key is refused", status, 422, body)
    check(values_of(api, a, staging) == before, "and writes nothing", values_of(api, a, staging))
    change = {
        "set": {"DB_URL": "postgres://one", "API_KEY": "k-2", "FEATURE_FLAGS": "beta"},
        "delete": ["API_URL"],
        "comment": "rotate the API key",
    }
    status, batch = api.call("PATCH", f"{staging}/secrets", user=a, body=change)
    expect("A changes four keys in one batch", status, 200, batch)
    actions = {ch["key"]: (ch["action"], ch["version"]) for ch in batch["changes"]}
    check(
        actions
        == {
            "DB_URL": ("unchanged", 5),
            "API_KEY": ("updated", 2),
            "FEATURE_FLAGS": ("created", 1),
            "API_URL": ("deleted", 2),
        },
        "created, updated, deleted, unchanged",
        actions,
    )
    batch_values = {"API_KEY": "k-2", "DB_URL": "postgres://one", "FEATURE_FLAGS": "beta"}
    check(values_of(api, a, staging) == batch_values, "the values after the batch", values_of(api, a, staging))
    print("ok  one batch: API_KEY updated, FEATURE_FLAGS created, API_URL deleted, DB_URL unchanged")
    return batch_values


def import_tricky_dotenv(api: Client, a: str, staging: str, batch_values: dict[str, str]) -> dict[str, str]:
    """The staging values after the import."""
    status, counts = api.call("POST", f"{staging}/import", user=a, body={"format": "dotenv", "content": TRICKY_DOTENV})
    expect("A imports a tricky dotenv into staging", status, 200, counts)
    check(
        (counts["created"], counts["updated"], counts["unchanged"]) == (len(TRICKY_MEANS), 0, 0),
        f"{len(TRICKY_MEANS)} created",
        counts,
    )
    staged = values_of(api, a, staging)
    check(staged == {**batch_values, **TRICKY_MEANS}, "exactly the values meant", staged)
    print(f"ok  the {len(TRICKY_MEANS)} imported values are exactly those written out by hand")
    return staged


def export_each_format(api: Client, a: str, staging: str, development: str, staged: dict[str, str]) -> None:
    """dotenv and json imported again into development give the same values; yaml and shell name every key."""
    exported: dict[str, Any] = {}
    for fmt in ("dotenv", "json", "yaml", "shell"):
        status, exported[fmt] = api.call("GET", f"{staging}/export?format={fmt}", user=a)
        expect(f"A exports staging as {fmt}", status, 200, exported[fmt])
    check(exported["json"] == staged, "the json export is the values", exported["json"])
    line_starts = {"dotenv": ("{}=",), "shell": ("export {}=",), "yaml": ('"{}": ', "{}: ")}
    for fmt, forms in line_starts.items():
        text = exported[fmt]
        check(isinstance(text, str), f"the {fmt} export is text", text)
        lines = text.splitlines()
        missing = [k for k in staged if not any(ln.startswith(f.format(k)) for f in forms for ln in lines)]
        check(not missing, f"the {fmt} export has a line for every key", {"missing": missing, "text": text})
    body = {"format": "dotenv", "content": exported["dotenv"]}
    status, counts = api.call("POST", f"{development}/import", user=a, body=body)
    expect("A imports the dotenv export into development", status, 200, counts)
    check(counts["created"] == len(staged), "every key created", counts)
    check(values_of(api, a, development) == staged, "the same values", values_of(api, a, development))
    body = {"format": "json", "content": json.dumps(exported["json"]), "overwrite": True}
    status, counts = api.call("POST", f"{development}/import", user=a, body=body)
    expect("A imports the json export over development", status, 200, counts)
    check(
        (counts["created"], counts["updated"], counts["unchanged"]) == (0, 0, len(staged)),
        "every value unchanged",
        counts,
    )
    print("ok  dotenv and json exports read back to the same values")


def promote(
    api: Client, a: str, project_path: str, production: str, staged: dict[str, str]
) -> dict[str, dict[str, Any]]:
    """staging -> production, a dry run first. The production listing after."""
    prod_before = {"DB_URL": "postgres://prod", "EXPORTED": TRICKY_MEANS["EXPORTED"], "PROD_ONLY": "keep me"}
    status, body = api.call("PATCH", f"{production}/secrets", user=a, body={"set": prod_before})
    expect("A sets three keys in production", status, 200, body)
    promotion = {"from": "staging", "to": "production"}
    status, dry = api.call("POST", f"{project_path}/promote", user=a, body={**promotion, "dry_run": True})
    expect("A promotes staging -> production, dry run", status, 200, dry)
    planned = {ch["key"]: ch["action"] for ch in dry["changes"]}
    wanted = dict.fromkeys(staged, "add") | {"DB_URL": "update", "EXPORTED": "unchanged"}
    check(dry["dry_run"] is True and planned == wanted, "add, update, unchanged", dry)
    check(values_of(api, a, production) == prod_before, "the dry run wrote nothing", values_of(api, a, production))
    print(f"ok  dry run: {len(staged) - 2} to add, DB_URL to update, EXPORTED unchanged, nothing written")
    status, applied = api.call("POST", f"{project_path}/promote", user=a, body=promotion)
    expect("A promotes staging -> production", status, 200, applied)
    check(
        applied["dry_run"] is False and applied["revision"] == dry["revision"] + 1,
        "applied as one change",
        applied,
    )
    check({ch["key"]: ch["action"] for ch in applied["changes"]} == planned, "as planned", applied)
    promoted = listing(api, a, production)
    check(
        {k: i["value"] for k, i in promoted.items()} == {**staged, "PROD_ONLY": "keep me"},
        "production has staging's values and keeps its own",
        promoted,
    )
    return promoted


def restore_past_instant(api: Client, a: str, production: str, promoted: dict[str, dict[str, Any]]) -> None:
    """A mistake after the promotion, undone by restoring production to the promotion's instant."""
    at = max(item["updated_at"] for item in promoted.values())  # the server's clock: the promotion
    time.sleep(0.02)  # times are kept to the millisecond
    mistake = {"set": {"DB_URL": "postgres://oops", "LEAKED": "x"}, "delete": ["PROD_ONLY"]}
    status, body = api.call("PATCH", f"{production}/secrets", user=a, body=mistake)
    expect("A then changes production by mistake", status, 200, body)
    status, restored = api.call("POST", f"{production}/restore", user=a, body={"at": at})
    expect(f"A restores production to {at}", status, 200, restored)
    check(
        (restored["restored"], restored["trashed"]) == (2, 1),
        "DB_URL and PROD_ONLY restored, LEAKED trashed",
        restored,
    )
    now = values_of(api, a, production)
    check(now == {k: i["value"] for k, i in promoted.items()}, "production is as it was", now)
    print("ok  production is exactly as it was after the promotion")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--url", default="http://127.0.0.1:3000")
    run(parser.parse_args(argv).url)
    return 0


if __name__ == "__main__":
    sys.exit(main())
