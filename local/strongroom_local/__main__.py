"""`python -m strongroom_local [--host H] [--port P] [--auth-mode dev|oidc]` (what `make run` runs)."""

from __future__ import annotations

import argparse
import os
import signal
import sys
import threading
import time

from strongroom_local.server import LocalStack


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="strongroom_local", description=__doc__)
    parser.add_argument("--host", default=os.environ.get("STRONGROOM_HOST", "127.0.0.1"))
    parser.add_argument("--port", type=int, default=int(os.environ.get("STRONGROOM_PORT", "3000")))
    parser.add_argument("--auth-mode", choices=["dev", "oidc"], default=os.environ.get("STRONGROOM_AUTH_MODE", "dev"))
    args = parser.parse_args(argv)

    started = time.perf_counter()
    stack = LocalStack(args.host, args.port, auth_mode=args.auth_mode, quiet=False).start()
    print(stack.quick_start(), flush=True)
    print(f"(ready in {time.perf_counter() - started:.1f}s)", flush=True)
    done = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: done.set())
    done.wait()
    print("stopping…", flush=True)
    stack.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
