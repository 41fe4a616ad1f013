"""Password login latency at the chosen Argon2id parameters, split into Argon2 and the rest.

    .venv/bin/python bench/login.py [--logins 30] [--json]

Starts the embedded local stack in this process (moto), registers one account, then logs in N
times over HTTP. Each login's server time is split into the time spent in Argon2 (the
`PasswordHasher.verify` call, timed by wrapping it) and the rest (gateway, handler, the reads of
the lock counter, email pointer and password item, the session's audited transaction on moto).
Also printed: Argon2 alone, hashing and verifying, outside the stack.
"""

from __future__ import annotations

import argparse
import json
import secrets
import statistics
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
for _path in (ROOT / "layers" / "strongroom", ROOT / "local"):
    sys.path.insert(0, str(_path))

PASSWORD = "plover-quartz-umbrella-9"


def _ms(values: list[float]) -> dict[str, float]:
    ordered = sorted(values)
    return {
        "p50": round(statistics.median(ordered), 1),
        "p90": round(ordered[int(len(ordered) * 0.9) - 1 if len(ordered) > 1 else 0], 1),
        "mean": round(statistics.fmean(ordered), 1),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--logins", type=int, default=30)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()

    from argon2 import PasswordHasher

    from strongroom.security import passwords
    from strongroom_local import LocalStack
    from support import http_call  # type: ignore[import-not-found]

    hasher = passwords._hasher()
    argon_ms: list[float] = []
    verify = PasswordHasher.verify

    def timed_verify(self: PasswordHasher, stored: Any, password: Any) -> bool:
        started = time.perf_counter()
        try:
            return verify(self, stored, password)
        finally:
            argon_ms.append((time.perf_counter() - started) * 1000)

    hash_ms, alone_ms = [], []
    for _ in range(10):
        started = time.perf_counter()
        hashed = hasher.hash(PASSWORD)
        hash_ms.append((time.perf_counter() - started) * 1000)
        started = time.perf_counter()
        hasher.verify(hashed, PASSWORD)
        alone_ms.append((time.perf_counter() - started) * 1000)

    total_ms: list[float] = []
    with LocalStack("127.0.0.1", port=0, workers=[]) as stack:
        email = f"bench-{secrets.token_hex(4)}@example.com"
        status, _h, body = http_call(
            stack.url, "POST", "/v1/auth/register", json_body={"email": email, "password": PASSWORD}
        )
        assert status == 201, body
        http_call(stack.url, "POST", "/v1/auth/login", json_body={"email": email, "password": PASSWORD})  # warm
        PasswordHasher.verify = timed_verify  # type: ignore[method-assign]
        argon_ms.clear()
        try:
            for _ in range(args.logins):
                started = time.perf_counter()
                status, _h, body = http_call(
                    stack.url, "POST", "/v1/auth/login", json_body={"email": email, "password": PASSWORD}
                )
                total_ms.append((time.perf_counter() - started) * 1000)
                assert status == 200, body
        finally:
            PasswordHasher.verify = verify  # type: ignore[method-assign]
    rest = [t - a for t, a in zip(total_ms, argon_ms, strict=True)]
    result = {
        "parameters": {"memory_kib": passwords.MEMORY_KIB, "time_cost": passwords.TIME_COST, "parallelism": 1},
        "argon2_hash_ms": _ms(hash_ms),
        "argon2_verify_ms": _ms(alone_ms),
        "login_total_ms": _ms(total_ms),
        "login_argon2_ms": _ms(argon_ms),
        "login_rest_ms": _ms(rest),
    }
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        p = result["parameters"]
        print(f"Argon2id m={p['memory_kib']} KiB t={p['time_cost']} p=1, {args.logins} logins over HTTP (moto)")
        for name in ("argon2_hash_ms", "argon2_verify_ms", "login_total_ms", "login_argon2_ms", "login_rest_ms"):
            r = result[name]
            print(f"  {name:<18} p50 {r['p50']:>6} ms  p90 {r['p90']:>6} ms  mean {r['mean']:>6} ms")
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT / "tests"))
    raise SystemExit(main())
