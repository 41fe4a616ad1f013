"""Wall time of `strongroom run -- true` against a warm local server, next to `python -c pass`.

    .venv/bin/python bench/cli_run.py [--runs 15] [--json]

Starts the embedded local stack in this process, creates an org, a project, a few secrets in
staging and a read-only service token, then times, interleaved, after one warm-up each:
- `python -c pass` with this interpreter (bare Python start);
- `strongroom run -- true` with STRONGROOM_TOKEN (the runtime API; the second and later runs of
  an unchanged environment are one 304 and the locally cached, encrypted values);
- `strongroom run --fallback -- true` with the same cache;
- `strongroom --version` (the click application's start, for comparison).
Goal (issue #4): `run` ≤ 0.3 s and ≤ 2 times a bare Python start (medians). The CPU time (user +
system) of each run is reported too: on a machine busy with other work, wall times stretch with
the load while CPU times stay close to what the work itself costs.

Also counted, server-side, over the timed `run`s: KMS calls, AES-GCM decryptions and DynamoDB
requests (a warm token's 304 is one BatchGetItem). The commands run with a minimal environment
(no PYTHONDONTWRITEBYTECODE), so the CLI's bytecode is cached after the warm-up, as it is for an
installed package.
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import tempfile
import time

from harness import CLI, cli_env, new_environment, read_token, server_work

CPU: dict[str, list[float]] = {}  # command name -> the CPU seconds (user + system) of each timed run


def timed(command: list[str], env: dict[str, str], name: str = "") -> float:
    """Wall seconds of one run; its CPU seconds go to CPU[name] (load-independent, unlike wall time
    on a busy machine)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    done = subprocess.run(command, env=env, capture_output=True, check=False)
    elapsed = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        raise SystemExit(f"{command}: exit {done.returncode}: {done.stderr.decode()[:400]}")
    if name:
        cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
        CPU.setdefault(name, []).append(cpu)
    return elapsed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    from strongroom_local import LocalStack

    with LocalStack("127.0.0.1", port=0, workers=[]) as stack, tempfile.TemporaryDirectory() as home:
        token = read_token(*new_environment(stack.url))
        env = cli_env(stack.url, token, home)
        commands = {
            "python -c pass": [sys.executable, "-c", "pass"],
            "strongroom run -- true": [CLI, "run", "--", "true"],
            "strongroom run --fallback -- true": [CLI, "run", "--fallback", "--", "true"],
            "strongroom --version": [CLI, "--version"],
        }
        samples: dict[str, list[float]] = {name: [] for name in commands}
        for command in commands.values():
            timed(command, env)  # warm-up: the first run fills the cache
        # What the server does for the timed runs (harness.server_work counts it).
        with server_work() as work:
            for _ in range(args.runs):
                for name, command in commands.items():
                    samples[name].append(timed(command, env, name))
    result = {
        name: {
            "median_ms": statistics.median(v) * 1000,
            "min_ms": min(v) * 1000,
            "cpu_median_ms": statistics.median(CPU[name]) * 1000,
            "runs": len(v),
        }
        for name, v in samples.items()
    }
    bare = result["python -c pass"]["median_ms"]
    run = result["strongroom run -- true"]["median_ms"]
    cpu_ratio = result["strongroom run -- true"]["cpu_median_ms"] / result["python -c pass"]["cpu_median_ms"]
    summary = {
        "ratio_to_bare_python": run / bare,
        "cpu_ratio_to_bare_python": cpu_ratio,
        "goal_ms": 300,
        "goal_ratio": 2.0,
        "server_work": work,
    }
    if args.json:
        print(json.dumps({"results": result, **summary}, indent=2))
        return 0
    print(f"`strongroom run -- true` against a warm local server, {args.runs} interleaved runs (after a warm-up)")
    print(f"{'command':<36} {'median':>10} {'min':>10} {'CPU median':>12}")
    for name, figures in result.items():
        print(
            f"{name:<36} {figures['median_ms']:>8.1f}ms {figures['min_ms']:>8.1f}ms {figures['cpu_median_ms']:>10.1f}ms"
        )
    print(
        f"server work during the {2 * args.runs} timed `run`s (304s of an unchanged environment): "
        f"{work['kms_calls']} KMS calls, {work['decrypts']} decryptions, "
        f"{work['dynamodb_requests']} DynamoDB requests ({work['dynamodb_requests'] / (2 * args.runs):.2f} per run)"
    )
    verdict = "meets" if run <= 300 and run <= 2 * bare else "misses"
    print(f"run / bare python = {run / bare:.2f}x; goal ≤ 300 ms and ≤ 2.0x: {verdict} it")
    print(f"CPU time (user + system), which a busy machine does not inflate: run / bare python = {cpu_ratio:.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
