"""What resolving a request costs in DynamoDB requests, per kind of caller (issue #11).

    .venv/bin/python bench/request_cost.py [--sources DIR] [--json]

Starts the embedded local stack in this process (moto, `strongroom_local.LocalStack`, no workers)
and talks to it over real HTTP: a dev user makes an org, a project (its three environments), a PAT
and a service token, then `GET /v1/orgs/{org}/projects/{project}/environments/{env}/secrets` is
made by IDs and by slugs as the dev user and with the PAT (and, cold, by every other mix of IDs and slugs as
the dev user: "mix sis" names org and environment by slug, the project by ID), and `GET /runtime/v1/secrets` (and its
304) with the service token. For each it counts the DynamoDB requests the handler makes through
the shared boto3 client of `strongroom.aws` (botocore event hooks), by operation:
- "before route": until the environment is resolved (`projects.resolve_environment` returns): the
  caller, org, membership, project and environment, i.e. what every such request pays before its
  own work; the last-used stamp of a token (an UpdateItem at most once a minute) aside;
- "total": the whole request.
"cold" is a credential's first request in this function (what warm functions remember about
credentials, `strongroom.data.readahead`, is dropped before it; a service token's scope is
learned at its first request, so its cold figure is that one), "warm" the same request again.

Issue #18: each row also shows the rate limit's write ("rate writes": UpdateItems of the caller's
`RATE#` counter, one per counted request, none on the probes) and the time that write took here
(moto in-process: an upper bound of its share, not DynamoDB's latency), per route class: a
user's org route, a PAT's, a service token's runtime pull and its 304, an unauthenticated 401
(counted by source IP), a probe (not counted).

`--sources DIR` runs against another checkout's layer and local stack (e.g. main's worktree, for
the figures before the read-ahead); this script stays the same.
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import json
import secrets
import sys
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parents[1]
USER = "cost@example.com"
ADMIN = "admin@example.com"  # the local stack's platform admin


def use_sources(root: Path) -> None:
    for path in (root / "layers" / "strongroom", root / "local"):
        if str(path) not in sys.path:
            sys.path.insert(0, str(path))


class Recorder:
    """DynamoDB operations of the request in flight, and how many of them came before its route."""

    def __init__(self) -> None:
        self.calls: list[str] = []
        self.mark: int | None = None
        self.lock = threading.Lock()
        self.rate_writes = 0
        self.rate_seconds = 0.0
        self._rate_started: float | None = None

    def __call__(self, model: Any, **_: Any) -> None:
        with self.lock:
            self.calls.append(model.name)

    def update(self, params: dict[str, Any], **_: Any) -> None:
        """An UpdateItem about to be made: the rate limit's when its key is a RATE# counter."""
        if str(params.get("Key", {}).get("PK", {}).get("S", "")).startswith("RATE#"):
            self.rate_writes += 1
            self._rate_started = time.perf_counter()

    def updated(self, **_: Any) -> None:
        if self._rate_started is not None:
            self.rate_seconds += time.perf_counter() - self._rate_started
            self._rate_started = None

    def start(self) -> None:
        self.calls, self.mark, self.rate_writes, self.rate_seconds = [], None, 0, 0.0

    def resolved(self) -> None:
        if self.mark is None:
            self.mark = len(self.calls)


class Client:
    def __init__(self, url: str) -> None:
        split = urlsplit(url)
        self.host, self.port = split.hostname or "127.0.0.1", int(split.port or 80)

    def call(
        self, method: str, path: str, headers: dict[str, str], body: Any = None
    ) -> tuple[int, Any, dict[str, str]]:
        conn = http.client.HTTPConnection(self.host, self.port, timeout=60)
        try:
            data = None if body is None else json.dumps(body).encode()
            conn.request(method, path, body=data, headers={"Content-Type": "application/json", **headers})
            response = conn.getresponse()
            raw = response.read()
            return response.status, (json.loads(raw) if raw else None), dict(response.getheaders())
        finally:
            conn.close()


def _forget() -> None:
    try:
        from strongroom.data import readahead  # absent before the read-ahead
    except ImportError:
        return
    readahead.forget()


class Bench:
    def __init__(self, client: Client, recorder: Recorder) -> None:
        self.client, self.recorder = client, recorder
        self.rows: list[dict[str, Any]] = []

    def expect(self, status: int, method: str, path: str, headers: dict[str, str], body: Any = None) -> Any:
        got, parsed, _ = self.client.call(method, path, headers, body)
        if got != status:
            raise SystemExit(f"{method} {path}: {got} (wanted {status}): {str(parsed)[:300]}")
        return parsed

    def world(self) -> tuple[dict[str, str], str, str]:
        """(the secrets path by each mix of IDs and slugs, a PAT, a service token) of a fresh org:
        the mix is "iii" (org, project, environment by ID) … "sss" (all by slug)."""
        dev = {"X-Strongroom-Dev-User": USER}
        self.expect(200, "GET", "/v1/me", dev)
        org = self.expect(201, "POST", "/v1/orgs", dev, {"name": f"Cost {secrets.token_hex(3)}"})
        project = self.expect(201, "POST", f"/v1/orgs/{org['id']}/projects", dev, {"name": "Web"})
        env = next(e for e in project["environments"] if e["slug"] == "staging")
        named = [(org["id"], org["slug"]), (project["id"], project["slug"]), (env["id"], env["slug"])]
        paths = {}
        for mix in ("iii", "iis", "isi", "iss", "sii", "sis", "ssi", "sss"):
            o, p, e = (ref[c == "s"] for ref, c in zip(named, mix, strict=True))
            paths[mix] = f"/v1/orgs/{o}/projects/{p}/environments/{e}/secrets"
        pat = self.expect(201, "POST", "/v1/auth/tokens", dev, {"name": "bench"})["token"]
        body = {"name": "ci", "project": project["slug"], "environment": env["slug"]}
        svc = self.expect(201, "POST", f"/v1/orgs/{org['id']}/tokens", dev, body)["token"]
        # The local stack's orgs are on enterprise, whose requests are not counted: this one's are.
        admin, limits = {"X-Strongroom-Dev-User": ADMIN}, {"limit_overrides": {"requests_per_minute": 1_000_000}}
        with contextlib.suppress(SystemExit):  # a checkout without platform admin (--sources) counts nothing
            self.expect(200, "PATCH", f"/v1/admin/orgs/{org['id']}", admin, limits)
        return paths, pat, svc

    def once(self, name: str, phase: str, path: str, headers: dict[str, str], status: int = 200) -> None:
        if phase == "cold":
            _forget()
        self.recorder.start()
        self.expect(status, "GET", path, headers)
        calls = self.recorder.calls
        before = [c for c in calls[: self.recorder.mark] if c != "UpdateItem"]  # stamps and the rate write apart
        self.rows.append(
            {
                "route": name,
                "phase": phase,
                "before_route": len(before),
                "total": len(calls),
                "rate_writes": self.recorder.rate_writes,
                "rate_write_ms": round(self.recorder.rate_seconds * 1000, 2),
                "operations": dict(Counter(before)),
            }
        )

    def measure(self, name: str, path: str, headers: dict[str, str]) -> None:
        self.once(name, "cold", path, headers)
        self.once(name, "warm", path, headers)


def run() -> list[dict[str, Any]]:
    from strongroom import aws
    from strongroom.data import projects
    from strongroom_local import LocalStack

    stack = LocalStack("127.0.0.1", port=0, workers=[])
    stack.start()
    recorder = Recorder()
    resolve = projects.resolve_environment

    def marked(*args: Any, **kwargs: Any) -> Any:
        found = resolve(*args, **kwargs)
        recorder.resolved()
        return found

    projects.resolve_environment = marked  # type: ignore[assignment]
    events = aws.dynamodb().meta.events
    events.register("before-call.dynamodb.*", recorder)
    events.register("provide-client-params.dynamodb.UpdateItem", recorder.update)
    events.register("after-call.dynamodb.UpdateItem", recorder.updated)
    try:
        assert stack.url
        bench = Bench(Client(stack.url), recorder)
        paths, pat, svc = bench.world()
        dev, bearer = {"X-Strongroom-Dev-User": USER}, {"Authorization": f"Bearer {pat}"}
        bench.measure("dev user, by ID", paths["iii"], dev)
        bench.measure("dev user, by slug", paths["sss"], dev)
        for mix in ("iis", "isi", "iss", "sii", "sis", "ssi"):
            bench.once(f"dev user, mix {mix}", "cold", paths[mix], dev)
        bench.measure("PAT, by ID", paths["iii"], bearer)
        bench.measure("PAT, by slug", paths["sss"], bearer)
        runtime, token = "/runtime/v1/secrets?format=json", {"Authorization": f"Bearer {svc}"}
        bench.measure("service token", runtime, token)
        _, _, headers = bench.client.call("GET", runtime, token)
        etag = next(v for k, v in headers.items() if k.lower() == "etag")
        bench.once("service token, 304", "warm", runtime, {**token, "If-None-Match": etag}, status=304)
        bench.once("no credential, 401", "warm", "/v1/me", {}, status=401)
        bench.once("probe /healthz", "warm", "/healthz", {})
        return bench.rows
    finally:
        events.unregister("before-call.dynamodb.*", recorder)
        events.unregister("provide-client-params.dynamodb.UpdateItem", recorder.update)
        events.unregister("after-call.dynamodb.UpdateItem", recorder.updated)
        projects.resolve_environment = resolve  # type: ignore[assignment]
        stack.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--sources", type=Path, default=ROOT, help="the checkout whose layer and local stack run")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    use_sources(args.sources.resolve())
    rows = run()
    if args.json:
        print(json.dumps(rows, indent=2))
        return
    print(f"DynamoDB requests per request ({args.sources.resolve()})")
    print(
        f"{'route':<22} {'phase':<5} {'before route':>12} {'total':>6} {'rate writes':>11} {'rate ms':>8}"
        "  operations before route"
    )
    for r in rows:
        ops = ", ".join(f"{k} {v}" for k, v in sorted(r["operations"].items()))
        rate = f"{r.get('rate_writes', 0):>11} {r.get('rate_write_ms', 0.0):>8}"
        print(f"{r['route']:<22} {r['phase']:<5} {r['before_route']:>12} {r['total']:>6} {rate}  {ops}")


if __name__ == "__main__":
    main()
