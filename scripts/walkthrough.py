"""A scripted walk-through of the foundation over real HTTP, against a running stack.

    python scripts/walkthrough.py [--url http://127.0.0.1:3000]

User A creates an org and a project (three environments appear), invites B as developer, B
accepts, both list members; B cannot delete the project (403); C (no membership) gets 404 for
the org, the project and its environments, by ID and by slug. Exits non-zero on the first
deviation; prints one line per step.
"""

from __future__ import annotations

import argparse
import json
import secrets
import sys
import urllib.error
import urllib.request
from typing import Any


class Client:
    def __init__(self, base: str) -> None:
        self.base = base.rstrip("/")

    def call(self, method: str, path: str, *, user: str | None = None, body: Any = None) -> tuple[int, Any]:
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(self.base + path, data=data, method=method)  # noqa: S310 - loopback
        request.add_header("Content-Type", "application/json")
        if user:
            request.add_header("X-Strongroom-Dev-User", user)
        try:
            with urllib.request.urlopen(request, timeout=30) as resp:  # noqa: S310
                raw = resp.read()
                return resp.status, json.loads(raw) if raw else None
        except urllib.error.HTTPError as err:
            raw = err.read()
            return err.code, json.loads(raw) if raw else None


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
    print("walk-through passed")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--url", default="http://127.0.0.1:3000")
    run(parser.parse_args(argv).url)
    return 0


if __name__ == "__main__":
    sys.exit(main())
