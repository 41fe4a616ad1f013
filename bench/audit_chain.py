"""Contention on an org's audit hash chain: N writers appending events to one org at once.

    .venv/bin/python bench/audit_chain.py [--writers 1,4,16] [--events 200] [--json]

Every mutation appends its audit event to its org's chain by advancing the chain head in the
same transaction, conditional on the sequence number it read (strongroom/data/chain.py). Writers that
lose the race re-read the head and retry. This calls `chain.transact` from N threads at once
(bypassing the HTTP gateway, which runs handlers one at a time locally) on moto, and prints,
per N: events committed, transaction attempts per event (1.0 = no contention), the longest
retry run, throughput, and whether the chain then verifies. moto applies DynamoDB requests one
at a time, so the race window is the GetItem of the head before each transaction, as in AWS;
absolute throughput is moto's, the retry ratio is the point.
"""

from __future__ import annotations

import argparse
import json
import sys
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
for path in (ROOT / "layers" / "strongroom", ROOT / "local", ROOT / "tests"):
    if str(path) not in sys.path:
        sys.path.insert(0, str(path))


def run(writers: int, events: int, org_id: str) -> dict[str, Any]:
    from strongroom.data import chain, db
    from strongroom.domain import audit

    attempts = {"n": 0}
    lock = threading.Lock()
    original = db.transact

    def counting(ops: Any) -> None:
        with lock:
            attempts["n"] += 1
        original(ops)

    db.transact = counting  # type: ignore[assignment]
    per_writer = events // writers
    started = time.perf_counter()

    def writer(w: int) -> None:
        for i in range(per_writer):
            chain.transact(
                [],
                audit=audit.event(
                    "secret.read", scope_id=org_id, resource_type="secret", resource_id=f"W{w}K{i}", metadata={"i": i}
                ),
            )

    threads = [threading.Thread(target=writer, args=(w,)) for w in range(writers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - started
    db.transact = original  # type: ignore[assignment]
    committed = per_writer * writers
    return {
        "writers": writers,
        "events": committed,
        "attempts": attempts["n"],
        "attempts_per_event": round(attempts["n"] / committed, 2),
        "events_per_second": round(committed / elapsed, 1),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--writers", default="1,4,16")
    parser.add_argument("--events", type=int, default=200)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    from strongroom_local import LocalStack
    from support import http_call

    rows = []
    with LocalStack("127.0.0.1", port=0, workers=[]) as stack:
        owner = "chain@example.com"
        for n in (int(w) for w in args.writers.split(",")):
            slug = f"chain-{n}"
            status, _, org = http_call(stack.url, "POST", "/v1/orgs", user=owner, json_body={"name": "C", "slug": slug})
            if status != 201:
                raise SystemExit(f"org: {status} {org}")
            row = run(n, args.events, org["id"])
            _, _, verdict = http_call(stack.url, "GET", f"/v1/orgs/{slug}/audit/verify", user=owner)
            row["chain_verifies"] = bool(verdict["ok"])
            row["chain_length"] = verdict["last_seq"]
            rows.append(row)
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    print("audit chain: N writers appending to one org's chain at once (moto in-process)")
    print(f"{'writers':>8} {'events':>7} {'attempts':>9} {'per event':>10} {'events/s':>9} {'verifies':>9}")
    for r in rows:
        print(
            f"{r['writers']:>8} {r['events']:>7} {r['attempts']:>9} {r['attempts_per_event']:>10} "
            f"{r['events_per_second']:>9} {r['chain_verifies']!s:>9}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
