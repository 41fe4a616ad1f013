"""`python -m strongroom_local` (what `make run` runs): the API on embedded moto.

--host H            address to listen on (default 127.0.0.1; env STRONGROOM_HOST)
--port P            port (default 3000; env STRONGROOM_PORT; 0 = any free port)
--auth-mode M       dev (default; env STRONGROOM_AUTH_MODE) or oidc
--data-dir PATH     where moto's state is kept across restarts (default .strongroom/ in the checkout;
                    env STRONGROOM_DATA_DIR); one server per directory; delete it to reset
--ephemeral         keep nothing: everything in memory, lost when the server stops
--parameter K=V     a template parameter, as `sam deploy --parameter-overrides` (repeatable),
                    e.g. OidcIssuer=https://issuer.example/ OidcAudience=strongroom
"""

from __future__ import annotations

import argparse
import errno
import os
import signal
import sys
import threading
import time
from pathlib import Path
from types import FrameType

from strongroom_local.persist import CorruptState, DataDirInUse
from strongroom_local.server import LocalStack

DEFAULT_DATA_DIR = Path(__file__).resolve().parents[2] / ".strongroom"


def _parameter(text: str) -> tuple[str, str]:
    key, sep, value = text.partition("=")
    if not sep or not key:
        raise argparse.ArgumentTypeError("expected KEY=VALUE")
    return key, value


def _port(text: str) -> int:
    port = int(text)
    if not 0 <= port <= 65535:
        raise argparse.ArgumentTypeError("a port is 0-65535")
    return port


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m strongroom_local", description="Serve the Strongroom API locally on embedded moto."
    )
    parser.add_argument("--host", default=os.environ.get("STRONGROOM_HOST", "127.0.0.1"))
    parser.add_argument("--port", type=_port, default=_port(os.environ.get("STRONGROOM_PORT", "3000")))
    parser.add_argument("--auth-mode", choices=["dev", "oidc"], default=os.environ.get("STRONGROOM_AUTH_MODE", "dev"))
    parser.add_argument(
        "--parameter", type=_parameter, action="append", default=[], metavar="KEY=VALUE", help="template parameter"
    )
    parser.add_argument(
        "--data-dir", type=Path, default=Path(os.environ.get("STRONGROOM_DATA_DIR") or DEFAULT_DATA_DIR)
    )
    parser.add_argument("--ephemeral", action="store_true", help="keep nothing across restarts")
    parser.add_argument("--quiet", action="store_true", help="no access log lines")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    started = time.perf_counter()
    stopping = threading.Event()

    def on_signal(_signum: int, _frame: FrameType | None) -> None:
        stopping.set()

    # Installed first: a Ctrl-C during startup stops cleanly too.
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, on_signal)
    args = parse_args(argv)
    stack = LocalStack(
        args.host,
        args.port,
        auth_mode=args.auth_mode,
        parameters=dict(args.parameter),
        quiet=args.quiet,
        data_dir=None if args.ephemeral else args.data_dir,
    )
    try:
        stack.start()
    except OSError as exc:
        if exc.errno == errno.EADDRINUSE:
            print(f"strongroom_local: port {args.port} is in use (try --port or STRONGROOM_PORT)", file=sys.stderr)
            return 1
        raise
    except (DataDirInUse, CorruptState) as exc:
        print(f"strongroom_local: {exc}", file=sys.stderr)
        return 1
    except ValueError as exc:  # a bad --parameter
        print(f"strongroom_local: {exc}", file=sys.stderr)
        return 2
    print(stack.quick_start(), flush=True)
    print(f"(ready in {time.perf_counter() - started:.1f}s)", flush=True)
    stopping.wait()
    print("stopping...", flush=True)
    stack.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
