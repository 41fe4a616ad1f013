"""The audit log under concurrency: N writers (or N runtime pulls) on one org at once, and the
sealer keeping up.

    .venv/bin/python bench/audit_chain.py [--writers 1,16,64,256] [--events 1024] [--json]

Every mutation writes its own audit event in its own transaction (strongroom/data/chain.py): no
item that other writers of the org touch. This runs N threads at once in-process on moto (the
local gateway runs HTTP handlers one at a time, so threads call `chain.transact` directly, as a
handler does): "mutation" rows give each call an op of its own (a create-only item, as a change
has), "pull" rows none (what `runtime._audit` does for every pull that returns values: one
PutItem). Meanwhile the local stack's `audit-sealer` worker (the stand-in for the stream event
source: it reads the table's stream every 0.2 s and invokes AuditSealerFunction with the records)
seals the org's events into its Merkle tree. Printed per row: mutations committed and
failed, DynamoDB write attempts per mutation (1.0 = no retry), throughput, events sealed per
second (first write to last seal), the p50/p99 seal lag (an event's `sealed_at` minus its
`created_at`), the sealer's own rate (events per second of its runs, what it can take when it is
not sharing one Python process and one emulator lock with the writers), and whether the org's log
then verifies (`GET …/audit/verify` to its end, and the
latest head's signature checked here with `cryptography` against `…/audit/public-key`).
"""

from __future__ import annotations

import argparse
import base64
import json
import sys
import threading
import time
from datetime import datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
for path in (ROOT / "layers" / "strongroom", ROOT / "local", ROOT / "tests"):
    if str(path) not in sys.path:
        sys.path.insert(0, str(path))

SEAL_EVERY = 0.2
WRITER = "bench-writer"


class Counter:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.attempts = 0
        self.failures = 0

    def add(self, attempts: int = 0, failures: int = 0) -> None:
        with self.lock:
            self.attempts += attempts
            self.failures += failures


def _count_writes(counter: Counter) -> Any:
    from strongroom.data import db

    originals = (db.transact, db.put_plain)

    def mine() -> bool:  # the writers' attempts, not the sealer's transactions
        return threading.current_thread().name.startswith(WRITER)

    def transact(ops: Any) -> None:
        counter.add(attempts=int(mine()))
        originals[0](ops)

    def put_plain(item: Any, **kw: Any) -> None:
        counter.add(attempts=int(mine()))
        originals[1](item, **kw)

    db.transact, db.put_plain = transact, put_plain  # type: ignore[assignment]
    return originals


def _write(kind: str, org_id: str, w: int, i: int) -> None:
    from strongroom.data import chain, db
    from strongroom.domain import audit

    if kind == "pull":
        event = audit.event("secrets.read", scope_id=org_id, resource_type="environment", resource_id=f"env_{w}")
        chain.transact([], audit=event)
        return
    marker = db.Put.new({"PK": f"BENCH#{org_id}#{w}", "SK": f"ITEM#{i}", "entity": "bench"})
    event = audit.event("secret.updated", scope_id=org_id, resource_type="secret", resource_id=f"W{w}K{i}")
    chain.transact([marker], audit=event)


def _sealed(stack: Any, org_id: str, total: int, timeout: float = 600.0) -> None:
    """Wait until the worker has sealed `total` events of the org."""
    from support import query_partition

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        tree = query_partition(stack, f"AUDIT#{org_id}", "TREE")
        if tree and int(tree[0]["size"]["N"]) >= total and "signed" in tree[0]:
            return
        time.sleep(0.05)
    raise SystemExit(f"the sealer did not seal {total} events of {org_id} in {timeout} s")


class Busy:
    """Seconds the sealer spends in its runs (the worker's invocations of AuditSealerFunction)."""

    def __init__(self) -> None:
        self.seconds = 0.0

    def install(self) -> None:
        from strongroom.domain import sealer

        original = sealer.seal

        def timed(*args: Any, **kwargs: Any) -> Any:
            started = time.perf_counter()
            try:
                return original(*args, **kwargs)
            finally:
                self.seconds += time.perf_counter() - started

        sealer.seal = timed  # type: ignore[assignment]


BUSY = Busy()


def run(stack: Any, kind: str, writers: int, events: int, org_id: str) -> dict[str, Any]:
    from strongroom.data import db

    counter = Counter()
    originals = _count_writes(counter)
    per_writer = max(1, events // writers)
    busy_before = BUSY.seconds
    started = time.perf_counter()

    def writer(w: int) -> None:
        for i in range(per_writer):
            try:
                _write(kind, org_id, w, i)
            except Exception:  # noqa: BLE001 - a failed mutation is what this counts
                counter.add(failures=1)

    threads = [threading.Thread(target=writer, args=(w,), name=f"{WRITER}-{w}") for w in range(writers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wrote = time.perf_counter() - started
    db.transact, db.put_plain = originals  # type: ignore[assignment]
    committed = per_writer * writers - counter.failures
    _sealed(stack, org_id, committed + 1)  # and the org's own org.created
    sealed_after = time.perf_counter() - started
    return {
        "kind": kind,
        "writers": writers,
        "mutations": committed,
        "failed": counter.failures,
        "attempts_per_mutation": round(counter.attempts / max(committed, 1), 3),
        "mutations_per_second": round(committed / wrote, 1),
        "sealed_per_second": round(committed / sealed_after, 1),
        "sealed_per_busy_second": round(committed / max(BUSY.seconds - busy_before, 1e-9), 1),
    }


def _lags(stack: Any, org_id: str) -> tuple[float, float, int]:
    from support import query_partition

    items = query_partition(stack, f"AUDIT#{org_id}", "EVT#")
    lags = sorted(
        (datetime.fromisoformat(i["sealed_at"]["S"]) - datetime.fromisoformat(i["created_at"]["S"])).total_seconds()
        for i in items
        if "sealed_at" in i
    )
    if not lags:
        return 0.0, 0.0, len(items)
    return lags[len(lags) // 2], lags[min(len(lags) - 1, int(len(lags) * 0.99))], len(items) - len(lags)


def _verifies(url: str, slug: str, owner: str) -> bool:
    import rfc8785
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    from support import http_call

    cursor, verdict = "", {"ok": False}
    while True:
        status, _, verdict = http_call(url, "GET", f"/v1/orgs/{slug}/audit/verify{cursor}", user=owner, timeout=300)
        if status != 200 or not verdict["ok"] or not verdict["next_cursor"]:
            break
        cursor = f"?cursor={verdict['next_cursor']}"
    _, _, head = http_call(url, "GET", f"/v1/orgs/{slug}/audit/tree-head", user=owner)
    _, _, pem = http_call(url, "GET", f"/v1/orgs/{slug}/audit/public-key", user=owner)
    key = serialization.load_pem_public_key(pem.encode())
    assert isinstance(key, ec.EllipticCurvePublicKey)
    signed = rfc8785.dumps({k: head[k] for k in ("org_id", "tree_size", "root_hash", "timestamp")})
    key.verify(base64.b64decode(head["signature"]), signed, ec.ECDSA(hashes.SHA256()))  # raises if forged
    return bool(verdict["ok"]) and verdict["pending"] == 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--writers", default="1,16,64,256")
    parser.add_argument("--events", type=int, default=1024, help="per row, spread over its writers")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    from strongroom_local import LocalStack
    from support import http_call

    rows = []
    from strongroom_local.workers import registered_workers

    sealer = [w for w in registered_workers() if w.name == "audit-sealer"]
    BUSY.install()
    with LocalStack("127.0.0.1", port=0, workers=sealer) as stack:
        owner = "chain@example.com"
        plan = [("mutation", int(n)) for n in args.writers.split(",")] + [("pull", 256)]
        for kind, n in plan:
            slug = f"chain-{kind}-{n}"
            status, _, org = http_call(stack.url, "POST", "/v1/orgs", user=owner, json_body={"name": "C", "slug": slug})
            if status != 201:
                raise SystemExit(f"org: {status} {org}")
            row = run(stack, kind, n, args.events, org["id"])
            row["p50_seal_lag_s"], row["p99_seal_lag_s"], row["unsealed"] = _lags(stack, org["id"])
            row["verifies"] = _verifies(stack.url, slug, owner)
            rows.append(row)
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    print("audit log: N concurrent writers on one org, the audit-sealer worker on the stream (moto in-process)")
    head = ("kind", "writers", "mutations", "failed", "attempts/mut", "mut/s", "sealed/s", "p50 lag", "p99 lag")
    print(("{:>9}" * len(head)).format(*head) + f"{'unsealed':>9}{'verifies':>9}{'sealed/busy s':>14}")
    for r in rows:
        print(
            f"{r['kind']:>9}{r['writers']:>9}{r['mutations']:>9}{r['failed']:>9}{r['attempts_per_mutation']:>9}"
            f"{r['mutations_per_second']:>9}{r['sealed_per_second']:>9}{r['p50_seal_lag_s']:>9.3f}"
            f"{r['p99_seal_lag_s']:>9.3f}{r['unsealed']:>9}{r['verifies']!s:>9}{r['sealed_per_busy_second']:>14}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
