"""One change, 100 subscribed webhooks: how many SQS calls the fan-out makes and how long until
every receiver has its delivery, on the local stack (stream and queue workers polling moto).

    .venv/bin/python bench/fanout.py [--webhooks 100] [--json]

Goal (issue #5): ≤ 10 SQS calls for the fan-out of one change to 100 webhooks.
"""

from __future__ import annotations

import argparse
import json
import sys
import threading
import time
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
for path in (ROOT / "layers" / "strongroom", ROOT / "local", ROOT / "tests"):
    if str(path) not in sys.path:
        sys.path.insert(0, str(path))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--webhooks", type=int, default=100)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()

    received: list[float] = []
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("content-length", "0")))
            with lock:
                received.append(time.perf_counter())
            self.send_response(200)
            self.send_header("content-length", "0")
            self.end_headers()

        def log_message(self, *_: Any) -> None:
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}/hook"

    from strongroom import aws
    from strongroom_local import LocalStack
    from support import http_call

    with LocalStack("127.0.0.1", port=0) as stack:
        owner = "fanout@example.com"

        def call(method: str, path: str, body: Any = None) -> Any:
            status, _, payload = http_call(stack.url, method, path, user=owner, json_body=body)
            if status >= 300:
                raise SystemExit(f"{method} {path}: {status} {payload}")
            return payload

        call("POST", "/v1/orgs", {"name": "Fanout", "slug": "fanout"})
        call("POST", "/v1/orgs/fanout/projects", {"name": "Web"})
        for i in range(args.webhooks):
            call("POST", "/v1/orgs/fanout/webhooks", {"url": f"{url}?n={i}", "events": ["secret.*"]})
        sqs_calls: Counter[str] = Counter()

        def count(model: Any, **_: Any) -> None:
            sqs_calls[model.name] += 1

        aws.sqs().meta.events.register("provide-client-params.sqs.*", count)
        started = time.perf_counter()
        call("PUT", "/v1/orgs/fanout/projects/web/environments/staging/secrets/CHANGED", {"value": "v"})
        deadline = started + 120
        while time.perf_counter() < deadline:
            with lock:
                if len(received) >= args.webhooks:
                    break
            time.sleep(0.05)
        aws.sqs().meta.events.unregister("provide-client-params.sqs.*", count)
        with lock:
            got = len(received)
            last = max(received) if received else time.perf_counter()
    server.shutdown()
    fanout_calls = sqs_calls.get("SendMessageBatch", 0) + sqs_calls.get("SendMessage", 0)
    result = {
        "webhooks": args.webhooks,
        "delivered": got,
        "sqs_send_calls_by_fanout": fanout_calls,
        "sqs_calls_by_operation": dict(sqs_calls),
        "seconds_to_all_deliveries": round(last - started, 2),
        "goal_sqs_calls": 10,
    }
    if args.json:
        print(json.dumps(result, indent=2))
        return 0
    print(f"1 change x {args.webhooks} webhooks on the local stack")
    print(f"  delivered:                {got}/{args.webhooks}")
    print(f"  SQS send calls (fan-out): {fanout_calls}  (goal <= 10)")
    print(f"  SQS calls by operation:   {dict(sqs_calls)} (the dispatcher's visibility changes included)")
    print(f"  time to all deliveries:   {last - started:.2f} s (0.2 s polling of the stream and the queue)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
