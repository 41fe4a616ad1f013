"""What `strongroom run --watch` costs while nothing changes: one If-None-Match poll per interval.

    .venv/bin/python bench/cli_watch.py [--polls 60] [--interval 0.25] [--json]

Starts the embedded local stack in this process, creates an org, a project, 21 secrets in
staging and a read-only service token, starts `strongroom run --watch --interval I -- sleep …`
(STRONGROOM_DEBUG=1: one `poll:` line on stderr after each poll), and counts, server-side, the
KMS calls, AES-GCM decryptions and DynamoDB requests of `--polls` idle polls (the supervisor is
stopped, SIGSTOP, as soon as it reports the last one, so no other poll is counted). Goal (issue
#21): 60 idle polls cost 60 DynamoDB requests (the token's read-ahead batch) and 0 KMS calls.
"""

from __future__ import annotations

import argparse
import json
import signal
import subprocess
import sys
import tempfile
import time

from harness import CLI, cli_env, new_environment, read_token, server_work


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--polls", type=int, default=60)
    parser.add_argument("--interval", type=float, default=0.25)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    from strongroom_local import LocalStack

    with LocalStack("127.0.0.1", port=0, workers=[]) as stack, tempfile.TemporaryDirectory() as home:
        token = read_token(*new_environment(stack.url))
        env = cli_env(stack.url, token, home, STRONGROOM_DEBUG="1")
        command = [CLI, "run", "--watch", "--interval", str(args.interval), "--", "sleep", "3600"]
        proc = subprocess.Popen(command, env=env, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL, text=True)
        assert proc.stderr is not None
        polls, statuses = 0, {"304": 0, "200": 0}
        started = 0.0
        try:
            while "started" not in (line := proc.stderr.readline()):
                if not line:
                    raise SystemExit("the supervisor ended before it started its command")
            with server_work() as work:
                started = time.perf_counter()
                while polls < args.polls:
                    line = proc.stderr.readline()
                    if not line:
                        raise SystemExit("the supervisor ended early")
                    if line.startswith("strongroom: poll: "):
                        polls += 1
                        statuses[line.split()[2]] += 1
                proc.send_signal(signal.SIGSTOP)  # no poll after the last one counted
                elapsed = time.perf_counter() - started
        finally:
            proc.send_signal(signal.SIGCONT)
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=15)
    result = {
        "polls": polls,
        "interval_s": args.interval,
        "answered": statuses,
        "server": work,
        "per_poll": {k: v / polls for k, v in work.items()},
        "seconds": elapsed,
        "goal": {"dynamodb_requests": polls, "kms_calls": 0},
    }
    if args.json:
        print(json.dumps(result, indent=2))
        return 0
    print(f"`strongroom run --watch --interval {args.interval:g}` of an unchanged environment (21 secrets):")
    print(f"  {polls} polls in {elapsed:.1f} s: {statuses['304']} answered 304, {statuses['200']} answered 200")
    print(
        f"  server-side: {work['dynamodb_requests']} DynamoDB requests, {work['kms_calls']} KMS calls, "
        f"{work['decrypts']} decryptions ({work['dynamodb_requests'] / polls:.2f} DynamoDB requests per poll)"
    )
    verdict = "meets" if work["dynamodb_requests"] <= polls and work["kms_calls"] == 0 else "misses"
    print(f"goal: {polls} polls ≤ {polls} DynamoDB requests and 0 KMS calls: {verdict} it")
    return 0


if __name__ == "__main__":
    sys.exit(main())
