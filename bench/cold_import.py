"""Cold import time of every function's handler module, against a baseline measured in the same run.

    python bench/cold_import.py [--runs 7] [--json] [--detail 8]

Each measurement is a fresh interpreter (a Lambda cold start imports into an empty process), timed
with time.perf_counter() around the import (interpreter start-up is the same for all and excluded):
- baseline: `from aws_lambda_powertools import Logger`, `APIGatewayHttpResolver`, and boto3 DynamoDB
  and KMS clients (region set, dummy credentials; creating a client makes no network call), i.e.
  what any Powertools + boto3 API function pays before its own code;
- each AWS::Serverless::Function of template.yaml: importing its handler module (CodeUri and the
  layer on sys.path), which builds its resolver and registers its routes.
Runs are interleaved (baseline, every function, again...) so that machine noise spreads evenly;
the table shows the median and the ratio to the baseline. Byte-code caches are used where they
exist, as for the baseline. `--detail N` adds, per function, the N packages that cost most in one
`python -X importtime` run (self time summed by top-level package).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
TEMPLATE = ROOT / "template.yaml"
LAYER = ROOT / "layers" / "strongroom"
if str(ROOT / "local") not in sys.path:
    sys.path.insert(0, str(ROOT / "local"))  # the one template reader: strongroom_local.template

BASELINE = """
import time
t = time.perf_counter()
from aws_lambda_powertools import Logger
from aws_lambda_powertools.event_handler import APIGatewayHttpResolver
import boto3
boto3.client("dynamodb")
boto3.client("kms")
print(time.perf_counter() - t)
"""

FUNCTION = """
import importlib, sys, time
sys.path[:0] = {paths!r}
t = time.perf_counter()
importlib.import_module({module!r})
print(time.perf_counter() - t)
"""


@dataclass(frozen=True, slots=True)
class Function:
    logical_id: str
    module: str
    code: str
    service: str


def template_functions() -> list[Function]:
    from strongroom_local.template import load_template

    template = load_template(TEMPLATE)
    out = []
    for logical_id, res in sorted(template["Resources"].items()):
        if res.get("Type") != "AWS::Serverless::Function":
            continue
        props = res["Properties"]
        module = str(props["Handler"]).rpartition(".")[0]
        code = FUNCTION.format(paths=[str(ROOT / props["CodeUri"]), str(LAYER)], module=module)
        variables = (props.get("Environment") or {}).get("Variables") or {}
        out.append(Function(logical_id, module, code, str(variables.get("POWERTOOLS_SERVICE_NAME", logical_id))))
    return out


def _env(service: str = "bench") -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "POWERTOOLS_", "PYTHON"))}
    env.update(
        {
            "AWS_DEFAULT_REGION": "us-east-1",
            "AWS_REGION": "us-east-1",
            "AWS_ACCESS_KEY_ID": "bench",
            "AWS_SECRET_ACCESS_KEY": "bench",
            "AWS_ENDPOINT_URL": "http://127.0.0.1:9",  # nothing may reach AWS
            "POWERTOOLS_SERVICE_NAME": service,
            "POWERTOOLS_TRACE_DISABLED": "true",
        }
    )
    return env


def _once(code: str, env: dict[str, str]) -> float:
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=False)
    if out.returncode != 0:
        raise SystemExit(f"import failed:\n{out.stderr[-2000:]}")
    return float(out.stdout.strip().splitlines()[-1]) * 1000


def import_breakdown(code: str, env: dict[str, str], top: int) -> list[tuple[str, float]]:
    """Where one cold import spends its time: `-X importtime` self times summed by top-level
    package (the standard library as one), largest first. The parts add up to the whole."""
    out = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", code], capture_output=True, text=True, env=env, check=True
    )
    found: dict[str, float] = {}
    for line in out.stderr.splitlines():
        if not line.startswith("import time:") or "|" not in line:
            continue
        self_us, _, name = line.removeprefix("import time:").split("|", 2)
        if not self_us.strip().isdigit():
            continue
        package = name.strip().split(".", 1)[0]
        package = "(standard library)" if package.lstrip("_") in sys.stdlib_module_names else package
        found[package] = found.get(package, 0.0) + int(self_us) / 1000
    return sorted(found.items(), key=lambda kv: -kv[1])[:top]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=7, help="fresh interpreters per measurement (>= 5)")
    parser.add_argument("--json", action="store_true", help="print machine-readable results")
    parser.add_argument("--detail", type=int, default=0, metavar="N", help="N costliest packages per function")
    args = parser.parse_args()
    if args.runs < 5:
        parser.error("--runs must be at least 5")
    functions = template_functions()
    subjects: list[tuple[str, str, dict[str, str]]] = [("baseline", BASELINE, _env())]
    subjects += [(fn.logical_id, fn.code, _env(fn.service)) for fn in functions]
    for _, code, env in subjects:  # warm the OS file cache: the first run of each is not an outlier
        _once(code, env)
    samples: dict[str, list[float]] = {name: [] for name, _, _ in subjects}
    for _ in range(args.runs):
        for name, code, env in subjects:
            samples[name].append(_once(code, env))
    baseline = statistics.median(samples["baseline"])
    rows: list[dict[str, Any]] = []
    for fn in functions:
        ms = statistics.median(samples[fn.logical_id])
        row: dict[str, Any] = {
            "function": fn.logical_id,
            "module": fn.module,
            "median_ms": round(ms, 1),
            "min_ms": round(min(samples[fn.logical_id]), 1),
            "ratio": round(ms / baseline, 2),
        }
        if args.detail:
            row["breakdown_ms"] = [
                [name, round(ms, 1)] for name, ms in import_breakdown(fn.code, _env(fn.service), args.detail)
            ]
        rows.append(row)
    if args.json:
        result = {"runs": args.runs, "python": sys.version.split()[0], "baseline_ms": round(baseline, 1)}
        print(json.dumps({**result, "functions": rows}, indent=2))
        return 0
    print(f"cold import, median of {args.runs} fresh interpreters (Python {sys.version.split()[0]})")
    print(f"{'':<48} {'median':>9} {'min':>9}  ratio")
    label = "baseline (Logger, resolver, dynamodb+kms clients)"
    print(f"{label:<48} {baseline:6.1f} ms {min(samples['baseline']):6.1f} ms  1.00x")
    for row in rows:
        name = f"{row['function']} ({row['module']})"
        print(f"{name:<48} {row['median_ms']:6.1f} ms {row['min_ms']:6.1f} ms  {row['ratio']:.2f}x")
        for package, ms in row.get("breakdown_ms", []):
            print(f"    {package:<44} {ms:6.1f} ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())
