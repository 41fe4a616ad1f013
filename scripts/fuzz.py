"""Fuzz the API with schemathesis, against the embedded local stack, with every check on.

    python scripts/fuzz.py            # FUZZ_MAX_EXAMPLES (default 20) cases per operation
    FUZZ_SEED=123 python scripts/fuzz.py

Starts the local stack in this process (moto, AUTH_MODE=dev) on a free port, then runs the
schemathesis CLI against its /openapi.json as the dev user fuzz@example.com, with all phases
(examples, coverage, fuzzing, stateful via the document's links). Exits non-zero on any failure:
the goal is 0 server errors and 0 schema violations.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "local"), str(ROOT / "layers" / "strongroom")]

from strongroom_local import LocalStack  # noqa: E402


def main() -> int:
    max_examples = os.environ.get("FUZZ_MAX_EXAMPLES", "20")
    seed = os.environ.get("FUZZ_SEED", "20261122")
    schemathesis = Path(sys.executable).with_name("schemathesis")
    with LocalStack(port=0) as stack:
        started = time.perf_counter()
        command = [
            str(schemathesis),
            "--config-file",
            str(ROOT / "scripts" / "schemathesis.toml"),
            "run",
            f"{stack.url}/openapi.json",
            "--url",
            stack.url,
            "--checks",
            "all",
            "--max-examples",
            max_examples,
            "--seed",
            seed,
            "--workers",
            "2",
            "--header",
            "X-Strongroom-Dev-User: fuzz@example.com",
            "--request-timeout",
            "30",
            "--no-color",
            "--suppress-health-check",
            "too_slow",
        ]
        result = subprocess.run(command, cwd=ROOT, check=False)
        print(f"fuzz: schemathesis exited {result.returncode} after {time.perf_counter() - started:.0f}s")
        return result.returncode


if __name__ == "__main__":
    sys.exit(main())
