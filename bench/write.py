"""What a write costs: AWS calls by operation, items per TransactWriteItems, KMS calls and latency.

    .venv/bin/python bench/write.py [--runs 20] [--sizes 10,100,1000] [--patch-base 100] [--quick] [--json]

The design's write path (strongroom/domain/secrets.py): every change, of one secret or of 95, reads
the snapshot, then writes one TransactWriteItems holding a version item per changed secret, the
new snapshot (conditional on the revision read) and one audit event; KMS only when the data key
is not in the container's cache (a new environment generates its key). Each scenario runs on a
fresh embedded stack (bench/pull.py's harness: moto in-process, real HTTP as a dev user, botocore
hooks on the shared clients of `strongroom.aws`), after one warm-up request:
- PUT .../secrets/BENCH_PUT {value} in an environment of N other secrets (a new value each time,
  so a new version each time), N from --sizes;
- PATCH .../secrets {set} of 1, 10 and 95 existing keys, new values each time, in an environment
  of --patch-base secrets;
- once or a few times each: the first write into an empty environment (it generates the data key),
  a PUT with the data-key cache emptied (`strongroom.security.crypto.cache.clear()`, a new execution
  environment), and a PATCH of 96 keys (refused: 413 too_many_changes).
Figures are per request: calls by operation name and the items of each TransactWriteItems by kind
(version, snapshot, audit, data-key), min-max when requests differ; latency as in bench/pull.py
(client wall time on a new connection, the stack's dispatch, time inside moto), medians and p95.
"""

from __future__ import annotations

import argparse
import json
import secrets
import sys
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
import pull  # the harness, next to this file

DEFAULT_SIZES = "10,100,1000"
QUICK_SIZES = "10,100"
PATCH_KEYS = (1, 10, 95)
FIRST_WRITES = 3  # one project's environments


def written(sample: pull.Sample) -> Counter[str]:
    """Items of the request's TransactWriteItems, by kind."""
    return sum((c.written for c in sample.transactions()), Counter())


def transaction_sizes(sample: pull.Sample) -> Counter[str]:
    """Items per TransactWriteItems call, e.g. {"97": 1}."""
    return Counter(str(sum(c.written.values())) for c in sample.transactions())


def figures(samples: list[pull.Sample]) -> dict[str, Any]:
    return {
        "requests": len(samples),
        "statuses": sorted({s.status for s in samples}),
        "codes": sorted({s.code for s in samples if s.code}),
        "operations": pull.ops_spread(samples, pull.Sample.operations),
        "kms": pull.ops_spread(samples, pull.Sample.kms),
        "transaction_items": pull.ops_spread(samples, transaction_sizes),
        "items_by_kind": pull.ops_spread(samples, written),
        "env_data_reads": pull.spread(len(s.reads(env_data=True)) for s in samples),
        "other_reads": pull.spread(len(s.reads(env_data=False)) for s in samples),
        "median_ms": pull.median(s.ms for s in samples),
        "p95_ms": pull.p95(s.ms for s in samples),
        "server_median_ms": pull.median(s.server_ms for s in samples),
        "aws_median_ms": pull.median(s.aws_ms() for s in samples),
        "aws_median_ms_by_operation": {
            op: pull.median(sum(c.ms for c in s.calls if c.operation == op) for s in samples)
            for op in sorted({c.operation for s in samples for c in s.calls})
        },
    }


def _filled(bench: pull.Bench, count: int) -> str:
    env, _ = bench.environment()
    refused = bench.fill(env, count)
    if refused is not None:
        raise SystemExit(f"filling {count} secrets: {refused.status} {refused.code}")
    return env


def _put(bench: pull.Bench, env: str) -> pull.Sample:
    return bench.measure("PUT", f"{env}/secrets/BENCH_PUT", {"value": secrets.token_urlsafe(75)})


def _repeat(make: Callable[[], pull.Sample], runs: int) -> list[pull.Sample]:
    make()  # warm-up
    return [make() for _ in range(runs)]


def scenarios(runs: int, sizes: list[int], patch_base: int) -> list[dict[str, Any]]:
    pull.use_sources()
    from strongroom.security import crypto

    rows: list[dict[str, Any]] = []
    for size in sizes:
        with pull.Bench() as bench:
            env = _filled(bench, size)
            samples = _repeat(lambda env=env, bench=bench: _put(bench, env), runs)
            rows.append({"operation": "PUT 1 secret", "secrets": size, **figures(samples)})
            if size == sizes[-1]:
                cold = []
                for _ in range(3):
                    crypto.cache.clear()
                    cold.append(_put(bench, env))
                rows.append({"operation": "PUT, key cache emptied", "secrets": size, **figures(cold)})
    for keys in PATCH_KEYS:
        with pull.Bench() as bench:
            env = _filled(bench, patch_base)

            def patch(env: str = env, bench: pull.Bench = bench, keys: int = keys) -> pull.Sample:
                return bench.measure("PATCH", f"{env}/secrets", {"set": pull.values(0, keys)})

            rows.append(
                {
                    "operation": f"PATCH {keys} key{'s' if keys > 1 else ''}",
                    "secrets": patch_base,
                    **figures(_repeat(patch, runs)),
                }
            )
            if keys == PATCH_KEYS[-1]:
                refused = bench.measure("PATCH", f"{env}/secrets", {"set": pull.values(0, keys + 1)})
                rows.append({"operation": f"PATCH {keys + 1} keys", "secrets": patch_base, **figures([refused])})
    with pull.Bench() as bench:
        firsts = [_put(bench, bench.environment()[0]) for _ in range(FIRST_WRITES)]
        rows.append({"operation": "PUT, first in environment", "secrets": 0, **figures(firsts)})
    return rows


def print_table(result: dict[str, Any]) -> None:
    print(
        f"writes: {result['runs']} requests per scenario after one warm-up (Python {result['python']}, embedded moto"
        "); per request, a-b when requests differ"
    )
    head = (
        f"{'operation':<26} {'secrets':>7} {'status':>6} | {'median':>9} {'p95':>9} {'server':>9} {'in AWS':>9} | "
        f"{'KMS':<18} | {'TWI items':>9} | AWS calls; items written by kind"
    )
    print(head)
    print("-" * len(head))
    for row in result["scenarios"]:
        status = "/".join(str(s) for s in row["statuses"])
        dynamodb = {op: pair for op, pair in row["operations"].items() if op not in row["kms"]}
        sizes = "+".join(row["transaction_items"]) or "-"
        code = f" {'/'.join(row['codes'])}" if row["codes"] else ""
        print(
            f"{row['operation']:<26} {row['secrets']:>7} {status:>6} | {row['median_ms']:>6.1f} ms "
            f"{row['p95_ms']:>6.1f} ms {row['server_median_ms']:>6.1f} ms {row['aws_median_ms']:>6.1f} ms | "
            f"{pull.show_ops(row['kms']) if row['kms'] else '0':<18} | {sizes:>9} | "
            f"{pull.show_ops(dynamodb)}; {pull.show_ops(row['items_by_kind']) if row['items_by_kind'] else '-'}{code}"
        )
    print(
        "TWI items: items of the one TransactWriteItems (version per changed secret + snapshot + audit event "
        "[+ data key])"
    )
    print("inside moto, by operation (median ms per request):")
    for row in result["scenarios"]:
        parts = ", ".join(f"{op} {ms:.1f}" for op, ms in row["aws_median_ms_by_operation"].items())
        print(f"  {row['operation']:<26} {row['secrets']:>6}: {parts}")
    print(f"({result['seconds']} s)")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=None, help="requests per scenario (>= 5; default 20, quick 5)")
    parser.add_argument("--sizes", default=None, help=f"secrets before the PUT; default {DEFAULT_SIZES}")
    parser.add_argument("--patch-base", type=int, default=100, help="secrets in the environment PATCHed")
    parser.add_argument("--quick", action="store_true", help=f"PUT sizes {QUICK_SIZES}, 5 runs")
    parser.add_argument("--json", action="store_true", help="print machine-readable results")
    args = parser.parse_args()
    runs = args.runs if args.runs is not None else (5 if args.quick else 20)
    if runs < 5:
        parser.error("--runs must be at least 5")
    try:
        sizes = pull.parse_sizes(args.sizes or (QUICK_SIZES if args.quick else DEFAULT_SIZES))
    except argparse.ArgumentTypeError as exc:
        parser.error(str(exc))
    if "max" in sizes or args.patch_base < max(PATCH_KEYS) + 1:
        parser.error(f"--sizes takes numbers; --patch-base at least {max(PATCH_KEYS) + 1}")
    started = time.perf_counter()
    rows = scenarios(runs, [int(s) for s in sizes], args.patch_base)
    result = {
        "python": sys.version.split()[0],
        "runs": runs,
        "seconds": round(time.perf_counter() - started, 1),
        "scenarios": rows,
    }
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        print_table(result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
