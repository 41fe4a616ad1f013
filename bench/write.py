"""What a change of 1, 100, 1,000 and 5,000 secrets costs (#11 part 2), over HTTP against the local
stack on embedded moto: DynamoDB requests by operation, items written by kind, and time.

    .venv/bin/python bench/write.py [--runs 3] [--sizes 1,100,1000,5000] [--json]

Each size runs in a new environment holding that many secrets (100-character values, filled by
PATCHes of 2,000 keys); the measured request is a PATCH giving every one of them a new value. A
change that fits one TransactWriteItems (about 95 keys into a small environment) is one; a larger
one writes its snapshot parts and change set ahead (BatchWriteItem), is published by one
TransactWriteItems (snapshot, audit event), then writes its version items and deletes the
change set and the replaced parts (BatchWriteItem) (docs/decisions.md, "changes of any size").
Time: client wall time on a new connection, the stack's dispatch (server), inside moto.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
import pull  # the harness, next to this file

DEFAULT_SIZES = "1,100,1000,5000"


def written(sample: pull.Sample) -> Counter[str]:
    return sum((c.written for c in sample.calls), Counter())


def dynamodb_calls(sample: pull.Sample) -> Counter[str]:
    return Counter(c.operation for c in sample.calls if c.service == "dynamodb")


def measure(size: int, runs: int) -> dict[str, Any]:
    with pull.Bench() as bench:
        env, _ = bench.environment()
        refused = bench.fill(env, size)
        if refused is not None:
            raise SystemExit(f"filling {size} secrets: {refused.status} {refused.code}")
        samples = [bench.measure("PATCH", f"{env}/secrets", {"set": pull.values(0, size)}) for _ in range(runs)]
    return {
        "keys": size,
        "statuses": sorted({s.status for s in samples}),
        "dynamodb_requests": pull.median(sum(dynamodb_calls(s).values()) for s in samples),
        "requests_by_operation": pull.ops_spread(samples, dynamodb_calls),
        "items_written": pull.median(sum(written(s).values()) for s in samples),
        "items_by_kind": pull.ops_spread(samples, written),
        "median_ms": pull.median(s.ms for s in samples),
        "server_median_ms": pull.median(s.server_ms for s in samples),
        "aws_median_ms": pull.median(s.aws_ms() for s in samples),
    }


def print_table(result: dict[str, Any]) -> None:
    print(
        f"a PATCH of every key of an environment of that size ({result['runs']} runs, medians; "
        f"Python {result['python']})"
    )
    head = (
        f"{'keys':>6} {'status':>6} | {'DynamoDB req':>12} {'items':>6} | {'client':>9} {'server':>9} "
        f"{'in moto':>9} | by operation; items by kind"
    )
    print(head)
    print("-" * len(head))
    for row in result["rows"]:
        print(
            f"{row['keys']:>6} {'/'.join(map(str, row['statuses'])):>6} | {row['dynamodb_requests']:>12.0f} "
            f"{row['items_written']:>6.0f} | {row['median_ms']:>6.0f} ms {row['server_median_ms']:>6.0f} ms "
            f"{row['aws_median_ms']:>6.0f} ms | {pull.show_ops(row['requests_by_operation'])}; "
            f"{pull.show_ops(row['items_by_kind'])}"
        )
    print(f"({result['seconds']} s)")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=3, help="measured PATCHes per size (default 3)")
    parser.add_argument("--sizes", default=DEFAULT_SIZES, help=f"keys per change; default {DEFAULT_SIZES}")
    parser.add_argument("--json", action="store_true", help="print machine-readable results")
    args = parser.parse_args()
    pull.use_sources()
    started = time.perf_counter()
    rows = [measure(int(s), max(args.runs, 1)) for s in args.sizes.split(",")]
    result = {
        "python": sys.version.split()[0],
        "runs": args.runs,
        "seconds": round(time.perf_counter() - started, 1),
        "rows": rows,
    }
    print(json.dumps(result, indent=2) if args.json else "", end="")
    if not args.json:
        print_table(result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
