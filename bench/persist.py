"""The cost of the local stack keeping its data (#11): per-write latency in memory vs with a data
directory (journal record + fsync before the call returns), for a raw DynamoDB PutItem (on a small
and on a large table) and for a secret write over HTTP (PUT .../secrets/K: several AWS calls).

    .venv/bin/python bench/persist.py [--writes 200] [--preload 5000] [--json]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
for path in (ROOT / "layers" / "strongroom", ROOT / "local", ROOT / "tests"):
    if str(path) not in sys.path:
        sys.path.insert(0, str(path))


def _ms(samples: list[float]) -> dict[str, float]:
    ordered = sorted(samples)
    return {
        "median_ms": round(statistics.median(ordered) * 1000, 3),
        "p95_ms": round(ordered[int(len(ordered) * 0.95) - 1] * 1000, 3),
    }


def _puts(ddb: Any, table: str, n: int, tag: str) -> list[float]:
    out = []
    for i in range(n):
        item = {"PK": {"S": f"BENCH#{tag}"}, "SK": {"S": f"{i:08d}"}, "blob": {"S": "x" * 1000}}
        started = time.perf_counter()
        ddb.put_item(TableName=table, Item=item)
        out.append(time.perf_counter() - started)
    return out


def run(data_dir: Path | None, writes: int, preload: int) -> dict[str, Any]:
    import boto3

    from strongroom_local import LocalStack
    from support import http_call

    with LocalStack("127.0.0.1", port=0, workers=[], data_dir=data_dir) as stack:
        ddb = boto3.client("dynamodb", region_name="us-east-1")
        table = stack.resources.refs["Table"]  # type: ignore[union-attr]
        small = _puts(ddb, table, writes, "small")
        for start in range(0, preload, 25):
            items = [
                {"PK": {"S": "BENCH#pre"}, "SK": {"S": f"{i:08d}"}, "b": {"S": "y" * 500}}
                for i in range(start, min(start + 25, preload))
            ]
            ddb.batch_write_item(RequestItems={table: [{"PutRequest": {"Item": item}} for item in items]})
        large = _puts(ddb, table, writes, "large")
        owner = "bench@example.com"
        assert http_call(stack.url, "POST", "/v1/orgs", user=owner, json_body={"name": "B", "slug": "bench"})[0] == 201
        assert http_call(stack.url, "POST", "/v1/orgs/bench/projects", user=owner, json_body={"name": "Web"})[0] == 201
        base = "/v1/orgs/bench/projects/web/environments/development/secrets"
        secret = []
        for i in range(writes):
            started = time.perf_counter()
            status, _, _ = http_call(stack.url, "PUT", f"{base}/K{i}", user=owner, json_body={"value": f"v{i}"})
            secret.append(time.perf_counter() - started)
            assert status == 200
        journal = (data_dir / "journal.log").stat().st_size if data_dir else 0
        records = stack.store.writes if stack.store else 0
        compaction = 0.0
        if stack.store is not None:  # what a compaction (and each start) costs at this size
            started = time.perf_counter()
            stack.store.snapshot()
            compaction = time.perf_counter() - started
    return {
        "put_item_small_table": _ms(small),
        f"put_item_after_{preload}_items": _ms(large),
        "http_put_secret": _ms(secret),
        "journal_bytes": journal,
        "journal_bytes_per_record": journal // records if records else 0,
        "journal_records": records,
        "snapshot_ms": round(compaction * 1000, 1),
        "snapshot_bytes": (data_dir / "snapshot.pickle").stat().st_size if data_dir else 0,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--writes", type=int, default=200)
    parser.add_argument("--preload", type=int, default=5000)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    results = {"ephemeral": run(None, args.writes, args.preload)}
    with tempfile.TemporaryDirectory(dir=ROOT) as tmp:  # the checkout's disk, as .strongroom/ is
        results["data_dir"] = run(Path(tmp) / "data", args.writes, args.preload)
    if args.json:
        print(json.dumps(results, indent=2))
    else:
        for mode, figures in results.items():
            print(mode)
            for name, value in figures.items():
                print(f"  {name:32} {value}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
