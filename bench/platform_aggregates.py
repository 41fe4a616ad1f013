"""What the aggregates of /metrics cost (issue #18; strongroom/data/counters.py).

    .venv/bin/python bench/platform_aggregates.py [--orgs N] [--json]

Starts the embedded local stack in this process (moto, no workers) and talks to it over HTTP.
- The write path: for a secret's create, update and delete (and a webhook's test delivery), the
  DynamoDB requests the request made and the items of its TransactWriteItems, and whether one of
  them is a platform counter: a create or delete carries one more item (the counter shard) in the
  transaction it made anyway, an update none; the number of requests does not change.
- The scrape: `GET /metrics`'s DynamoDB requests and time with 1 org, then with `--orgs` more
  (default 200), each with a project and secrets: the aggregates' Queries do not grow; the org
  listing's paged Query grows by a page every 100 orgs (the plan counters it sums).
Figures are moto in-process (CPU, no network): an upper bound of the share, not DynamoDB latency.
"""

from __future__ import annotations

import argparse
import http.client
import json
import secrets
import sys
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
for _path in (ROOT / "layers" / "strongroom", ROOT / "local", ROOT / "bench"):
    if str(_path) not in sys.path:
        sys.path.insert(0, str(_path))

ADMIN = "admin@example.com"


class Client:
    def __init__(self, url: str) -> None:
        self.port = int(url.rsplit(":", 1)[1].split("/", maxsplit=1)[0])

    def call(self, method: str, path: str, headers: dict[str, str], body: Any = None) -> tuple[int, Any]:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=120)
        try:
            data = None if body is None else json.dumps(body).encode()
            conn.request(method, path, body=data, headers={"Content-Type": "application/json", **headers})
            response = conn.getresponse()
            raw = response.read()
            if response.getheader("content-type", "").startswith("application/json") and raw:
                return response.status, json.loads(raw)
            return response.status, raw.decode()
        finally:
            conn.close()


class Recorder:
    def __init__(self) -> None:
        self.calls: Counter[str] = Counter()
        self.items: list[tuple[int, bool]] = []  # per transaction: items, whether a counter is one
        self.lock = threading.Lock()

    def __call__(self, model: Any, **_: Any) -> None:
        with self.lock:
            self.calls[model.name] += 1

    def transact(self, params: dict[str, Any], **_: Any) -> None:
        items = params.get("TransactItems", [])
        keys = [next(iter(i.values())).get("Key") or next(iter(i.values())).get("Item") or {} for i in items]
        counted = any(str(k.get("SK", {}).get("S", "")).startswith("COUNT#") for k in keys)
        with self.lock:
            self.items.append((len(items), counted))

    def reset(self) -> None:
        with self.lock:
            self.calls.clear()
            self.items.clear()


def _call(client: Client, recorder: Recorder, method: str, path: str, user: str, *, body: Any = None) -> dict[str, Any]:
    recorder.reset()
    started = time.perf_counter()
    status, parsed = client.call(method, path, {"X-Strongroom-Dev-User": user}, body)
    elapsed = time.perf_counter() - started
    if status >= 300:
        raise SystemExit(f"{method} {path}: {status}: {str(parsed)[:300]}")
    return {
        "requests": sum(recorder.calls.values()),
        "by_operation": dict(recorder.calls),
        "transactions": [{"items": n, "with_counter": c} for n, c in recorder.items],
        "ms": round(elapsed * 1000, 1),
        "body": parsed,
    }


def _org(client: Client, recorder: Recorder, n: int) -> tuple[str, str, str]:
    user = f"agg{n}-{secrets.token_hex(3)}@example.com"
    org = _call(client, recorder, "POST", "/v1/orgs", user, body={"name": f"Agg {n} {secrets.token_hex(3)}"})["body"]
    project = _call(client, recorder, "POST", f"/v1/orgs/{org['id']}/projects", user, body={"name": "Web"})["body"]
    return user, org["id"], f"/v1/orgs/{org['id']}/projects/{project['id']}/environments/development/secrets"


def run(orgs: int) -> dict[str, Any]:
    from strongroom import aws
    from strongroom_local import LocalStack

    stack = LocalStack("127.0.0.1", port=0, workers=[])
    stack.start()
    recorder = Recorder()
    events = aws.dynamodb().meta.events
    events.register("before-call.dynamodb.*", recorder)
    events.register("provide-client-params.dynamodb.TransactWriteItems", recorder.transact)
    try:
        assert stack.url
        client = Client(stack.url)
        user, org_id, secrets_path = _org(client, recorder, 0)
        writes = {}
        for name, (method, path, body) in {
            "secret create": ("PUT", f"{secrets_path}/A", {"value": "one"}),
            "secret update": ("PUT", f"{secrets_path}/A", {"value": "two"}),
            "secret delete": ("DELETE", f"{secrets_path}/A", None),
        }.items():
            row = _call(client, recorder, method, path, user, body=body)
            writes[name] = {k: v for k, v in row.items() if k != "body"}
        hook = {"url": "http://127.0.0.1:9/hook", "events": ["org.never_sent"]}
        made = _call(client, recorder, "POST", f"/v1/orgs/{org_id}/webhooks", user, body=hook)["body"]
        row = _call(client, recorder, "POST", f"/v1/orgs/{org_id}/webhooks/{made['id']}/test", user)
        writes["webhook test delivery"] = {k: v for k, v in row.items() if k != "body"}

        scrapes = {}
        first = _call(client, recorder, "GET", "/metrics", ADMIN)
        scrapes["1 org"] = {k: v for k, v in first.items() if k not in {"body", "transactions"}}
        for n in range(1, orgs + 1):
            u, _, path = _org(client, recorder, n)
            _call(client, recorder, "PUT", f"{path}/S", u, body={"value": "v"})
        again = _call(client, recorder, "GET", "/metrics", ADMIN)
        scrapes[f"{orgs + 1} orgs"] = {k: v for k, v in again.items() if k not in {"body", "transactions"}}
        return {"writes": writes, "scrapes": scrapes}
    finally:
        events.unregister("before-call.dynamodb.*", recorder)
        events.unregister("provide-client-params.dynamodb.TransactWriteItems", recorder.transact)
        stack.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--orgs", type=int, default=200)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    result = run(args.orgs)
    if args.json:
        print(json.dumps(result, indent=2))
        return
    print(f"{'write':24} {'requests':>8} {'transaction items':>18} {'counter in it':>14} {'ms':>7}")
    for name, row in result["writes"].items():
        tx = row["transactions"][-1] if row["transactions"] else {"items": 0, "with_counter": False}
        print(f"{name:24} {row['requests']:>8} {tx['items']:>18} {tx['with_counter']!s:>14} {row['ms']:>7}")
    print()
    print(f"{'scrape':24} {'requests':>8} {'by operation':40} {'ms':>7}")
    for name, row in result["scrapes"].items():
        ops = ", ".join(f"{k} {v}" for k, v in sorted(row["by_operation"].items()))
        print(f"{name:24} {row['requests']:>8} {ops:40} {row['ms']:>7}")


if __name__ == "__main__":
    main()
