"""Cold import time of every function's handler module, against a baseline measured in the same run.

    python bench/cold_import.py [--runs 7]

Each measurement is a fresh interpreter (a Lambda cold start imports into an empty process):
- baseline: `from aws_lambda_powertools import Logger`, the `APIGatewayHttpResolver`, and a boto3
  DynamoDB and KMS client (what any Powertools + boto3 API function pays before its own code);
- each function: importing its handler module (which builds the resolver and registers routes).
Prints the median and ratio to the baseline. Creating a client makes no network call.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "local"))

from strongroom_local.template import functions, load_template  # noqa: E402

BASELINE = """
import time
t = time.perf_counter()
from aws_lambda_powertools import Logger
from aws_lambda_powertools.event_handler import APIGatewayHttpResolver
import boto3
Logger(); APIGatewayHttpResolver()
boto3.client("dynamodb"); boto3.client("kms")
print(time.perf_counter() - t)
"""

FUNCTION = """
import importlib, sys, time
sys.path[:0] = {paths!r}
t = time.perf_counter()
importlib.import_module({module!r})
print(time.perf_counter() - t)
"""


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update(
        {
            "AWS_DEFAULT_REGION": "us-east-1",
            "AWS_ACCESS_KEY_ID": "bench",
            "AWS_SECRET_ACCESS_KEY": "bench",
            "POWERTOOLS_TRACE_DISABLED": "true",
            "PYTHONDONTWRITEBYTECODE": "1",
        }
    )
    return env


def measure(code: str, runs: int) -> float:
    samples = []
    for _ in range(runs):
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=_env(), check=True)
        samples.append(float(out.stdout.strip().splitlines()[-1]))
    return statistics.median(samples) * 1000


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--json", action="store_true", help="print machine-readable results")
    args = parser.parse_args()
    # Warm the OS file cache once so the first measurement is not an outlier.
    measure(BASELINE, 1)
    baseline = measure(BASELINE, args.runs)
    rows = []
    for logical, fn in sorted(functions(load_template()).items()):
        module = fn.handler.rsplit(".", 1)[0]
        code = FUNCTION.format(paths=[str(fn.code_uri), str(ROOT / "layers" / "strongroom")], module=module)
        ms = measure(code, args.runs)
        rows.append({"function": logical, "module": module, "ms": round(ms, 1), "ratio": round(ms / baseline, 2)})
    if args.json:
        print(json.dumps({"baseline_ms": round(baseline, 1), "functions": rows}, indent=2))
        return 0
    print(f"cold import, median of {args.runs} fresh interpreters ({sys.version.split()[0]})")
    print(f"{'baseline (Logger + resolver + dynamodb/kms clients)':<52} {baseline:7.1f} ms   1.00x")
    for row in rows:
        print(f"{row['function'] + ' (' + row['module'] + ')':<52} {row['ms']:7.1f} ms   {row['ratio']:.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
