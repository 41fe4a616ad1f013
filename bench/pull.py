"""Reading all values of an environment: DynamoDB reads, KMS calls and latency per request, by size.

    .venv/bin/python bench/pull.py [--runs 20] [--cold 3] [--sizes 10,100,1000,10000,max] [--quick] [--json]
                                   [--shared 50] [--no-folders]

The design's read-path claim (strongroom/domain/secrets.py): reading an environment is one read of
its snapshot and, on a warm container, no KMS call, whatever its number of secrets. For each size
N this starts the embedded local stack in this process (moto, `strongroom_local.LocalStack`, no
workers; a fresh one per size, so that each table holds one filled environment) and talks to it over
real HTTP as a dev user: it fills an environment with N secrets of 100 characters (PATCH
.../secrets, 95 keys a change), makes one warm-up export, then times `--runs` requests of
`GET .../export?format=json` (org, project and environment named by ID) and counts, per request,
the AWS calls the handlers make through the shared boto3 clients of `strongroom.aws` (botocore
event hooks on the DynamoDB and KMS clients):
- reads of the environment's data (partition ENV#<id>: the snapshot) and the items they return;
- the other reads: the caller (email pointer, user), org, membership, project and environment,
  the same at every size (read ahead in one or two BatchGetItems, `bench/request_cost.py`);
- KMS calls, and the audit event every read of values writes (one PutItem: a write, not a read
  of secrets);
- new revision: the function's opened snapshots (`strongroom.domain.resolve.snapshot_cache`)
  emptied before each of `--runs` requests, the data key kept: what the first read after a change
  costs (the snapshot read whole, decrypted and parsed); a warm request reads the SNAPSHOT item
  without its ciphertext and, at the same revision, opens nothing;
- cold: the data-key cache (`strongroom.security.crypto.cache.clear()`) and the opened snapshots
  emptied before each of `--cold` requests, as in a new execution environment (process-wide here);
- an environment created with the filled one as its parent and no secrets of its own (inheritance);
- the paginated listing with values, `GET .../secrets?limit=500`, walked once to its end;
- folders (`--folders`, on by default): an environment of FOLDERS folders x FOLDER_KEYS keys
  (`/folder0` … each with its own keys), read whole (`export?recursive=true`: every path, the
  same one snapshot read) and one folder of it (`export?path=/folder2`), warm, new revision and
  cold, against the floor of the same snapshot;
- shared secrets (`--shared N`, default 50, 0 skips): an environment whose N values each reference
  one of the org's shared secrets (`${shared.KEY}`): its export (warm, new revision, cold), a
  service token's runtime pull and its 304, against the floor of decrypting both snapshots. The
  goal: the environment's reads plus one for the shared snapshot, no KMS call warm.
"max" fills until a change is refused (413 environment_full: a snapshot holds at most
MAX_SNAPSHOT_BYTES of ciphertext) and measures the largest size that fitted.

Latency: the client's wall time of one request (a new connection each, as a CLI makes), "server"
the local stack's dispatch of it (gateway, handler, moto), "in AWS" the time inside the DynamoDB
and KMS calls, i.e. moto in this process: how cost grows with N, not what AWS would take. moto backs up the whole
table before every TransactWriteItems (the local stack makes that one copy per call, without the
stream: strongroom_local/atomic.py), so each write, the audit event of a read included, copies the
table once: emulator time, not AWS's.
`bench/write.py` reuses this harness.
"""

from __future__ import annotations

import argparse
import http.client
import json
import secrets
import statistics
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

ROOT = Path(__file__).resolve().parents[1]
SOURCES = (ROOT / "local", ROOT / "layers" / "strongroom")
USER = "bench@example.com"
VALUE_CHARS = 100
BATCH = 2000  # keys per PATCH (any size is one change; 2,000 keep the body far under 1 MiB)
LIST_PAGE = 500
READ_OPERATIONS = frozenset({"GetItem", "Query", "BatchGetItem", "Scan", "TransactGetItems"})
DEFAULT_SIZES = "10,1000,10000"
FOLDERS, FOLDER_KEYS = 5, 200
QUICK_SIZES = "10,100,max"


def use_sources() -> None:
    """The local stack and the layer, importable as `make run` has them (PYTHONPATH=local:layers/strongroom)."""
    for path in reversed(SOURCES):
        if str(path) not in sys.path:
            sys.path.insert(0, str(path))


# --------------------------------------------------------------------------- counting AWS calls


def _partitions(params: dict[str, Any]) -> Iterator[str]:
    """The partition keys (PK) a read names: Key, Keys of BatchGetItem, TransactGetItems, :pk of a Query."""
    if "Key" in params:
        yield str(params["Key"].get("PK", {}).get("S", ""))
    for request in params.get("RequestItems", {}).values():
        for key in request.get("Keys", []):
            yield str(key.get("PK", {}).get("S", ""))
    for entry in params.get("TransactItems", []):
        yield from _partitions(next(iter(entry.values())))
    pk = params.get("ExpressionAttributeValues", {}).get(":pk")
    if pk is not None:
        yield str(pk.get("S", ""))


def item_kind(item: dict[str, Any]) -> str:
    """What a written item is, from its (typed) key."""
    pk, sk = item.get("PK", {}).get("S", ""), item.get("SK", {}).get("S", "")
    if pk.startswith("AUDIT#"):
        return "audit"
    if pk.startswith("ENV#"):
        if sk == "SNAPSHOT":
            return "snapshot"
        kinds = {"VERSION": "version", "DATAKEY": "data-key", "SNAPSHOT": "snapshot-part", "CHANGE": "change-set"}
        return kinds.get(sk.split("#", 1)[0], "env other")
    return "other"


@dataclass
class Call:
    """One AWS API call a handler made: what it asked for, what came back, how long it took."""

    service: str
    operation: str
    started: float
    env_data: bool = False  # a read of an environment's own partition (ENV#<id>)
    keys: int = 0  # keys a read asked for (a Query: 0)
    items: int = 0  # items returned by a read
    written: Counter[str] = field(default_factory=Counter)  # TransactWriteItems, BatchWriteItem: items by kind
    snapshot_bytes: int = 0  # ciphertext of the snapshots a read returned
    ms: float = 0.0
    error: str = ""

    @property
    def is_read(self) -> bool:
        return self.service == "dynamodb" and self.operation in READ_OPERATIONS


def _snapshot_bytes(items: Iterable[dict[str, Any]]) -> int:
    total = 0
    for item in items:
        blob = item.get("blob", {}).get("B") if item.get("SK", {}).get("S") == "SNAPSHOT" else None
        total += len(blob) if isinstance(blob, bytes | bytearray) else 0
    return total


class Recorder:
    """Records the calls of the stack's shared DynamoDB and KMS clients (hooks on the process-wide clients)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._calls: list[Call] = []
        self._open = threading.local()

    def install(self) -> None:
        from strongroom import aws

        for service, client in (("dynamodb", aws.dynamodb()), ("kms", aws.kms())):
            client.meta.events.register(f"provide-client-params.{service}.*", self._before)
            client.meta.events.register(f"after-call.{service}.*", self._after)

    def _before(self, params: dict[str, Any], model: Any, **_: Any) -> None:
        call = Call(model.service_model.service_name, model.name, time.perf_counter())
        if call.is_read:
            call.env_data = any(pk.startswith("ENV#") for pk in _partitions(params))
            call.keys = 0 if call.operation in {"Query", "Scan"} else sum(1 for _ in _partitions(params))
        if call.operation == "TransactWriteItems":
            for entry in params.get("TransactItems", []):
                body = next(iter(entry.values()))
                call.written[item_kind(body.get("Item") or body.get("Key") or {})] += 1
        if call.operation == "BatchWriteItem":
            for requests in params.get("RequestItems", {}).values():
                for entry in requests:
                    put = entry.get("PutRequest")
                    kind = item_kind(put["Item"]) if put else f"{item_kind(entry['DeleteRequest']['Key'])} (delete)"
                    call.written[kind] += 1
        self._open.call = call
        with self._lock:
            self._calls.append(call)

    def _after(self, http_response: Any, parsed: dict[str, Any], model: Any, **_: Any) -> None:
        call: Call | None = getattr(self._open, "call", None)
        if call is None or call.operation != model.name:
            return
        self._open.call = None
        call.ms = (time.perf_counter() - call.started) * 1000
        if getattr(http_response, "status_code", 200) >= 300:
            call.error = str(parsed.get("Error", {}).get("Code", "error"))
            return
        if call.operation == "GetItem":
            item = parsed.get("Item") or {}
            call.items, call.snapshot_bytes = (1 if item else 0), _snapshot_bytes([item])
        elif call.operation in {"Query", "Scan"}:
            call.items = int(parsed.get("Count", 0))
        elif call.operation == "BatchGetItem":
            items = [i for found in parsed.get("Responses", {}).values() for i in found]
            call.items, call.snapshot_bytes = len(items), _snapshot_bytes(items)

    def take(self) -> list[Call]:
        with self._lock:
            out, self._calls = self._calls, []
        return out


# --------------------------------------------------------------------------- one request


@dataclass
class Sample:
    """One HTTP request: status, body, client wall time and the AWS calls made while serving it."""

    status: int
    ms: float  # the client's wall time
    body: Any
    calls: list[Call]
    server_ms: float  # the local stack's dispatch of the request (gateway, handler, moto)

    @property
    def code(self) -> str:
        return str(self.body.get("error", {}).get("code", "")) if isinstance(self.body, dict) else ""

    def reads(self, *, env_data: bool) -> list[Call]:
        return [c for c in self.calls if c.is_read and c.env_data == env_data]

    def kms(self) -> Counter[str]:
        return Counter(c.operation for c in self.calls if c.service == "kms")

    def transactions(self) -> list[Call]:
        return [c for c in self.calls if c.operation == "TransactWriteItems"]

    def operations(self) -> Counter[str]:
        return Counter(c.operation for c in self.calls)

    def aws_ms(self) -> float:
        return sum(c.ms for c in self.calls)

    def snapshot_bytes(self) -> int:
        return sum(c.snapshot_bytes for c in self.calls)


class Api:
    """HTTP/1.1 client as the dev user: a new connection per request, as a CLI pulling values makes.
    (On a kept-alive connection the local server's response waits ~40 ms for the client's delayed
    ACK: it writes headers and body separately, with Nagle on; a fresh connection ACKs at once.)"""

    def __init__(self, base_url: str) -> None:
        split = urlsplit(base_url)
        self.host, self.port = split.hostname or "127.0.0.1", int(split.port or 80)

    def request(
        self, method: str, path: str, body: Any = None, extra: dict[str, str] | None = None
    ) -> tuple[int, Any, float]:
        data = None if body is None else json.dumps(body).encode()
        # a bearer credential (a service token) instead of the dev user when `extra` has one
        who = {} if extra and "Authorization" in extra else {"X-Strongroom-Dev-User": USER}
        headers = {**who, "Content-Type": "application/json", **(extra or {})}
        conn = http.client.HTTPConnection(self.host, self.port, timeout=300)
        try:
            started = time.perf_counter()
            conn.request(method, path, body=data, headers=headers)
            response = conn.getresponse()
            raw = response.read()
            ms = (time.perf_counter() - started) * 1000
        finally:
            conn.close()
        try:
            parsed = json.loads(raw) if raw else None
        except ValueError:
            parsed = raw.decode(errors="replace")
        return response.status, parsed, ms


class Bench:
    """One embedded stack with a recorder on its AWS clients, an HTTP client, an org, and fresh environments."""

    def __init__(self) -> None:
        use_sources()
        from strongroom_local import LocalStack

        self.stack = LocalStack("127.0.0.1", port=0, workers=[])
        self.recorder = Recorder()
        self.api: Api | None = None
        self.org = self.org_slug = ""
        self.project = ""
        self._spare: list[tuple[str, str]] = []
        self._server_ms = 0.0

    def __enter__(self) -> Bench:
        self.stack.start()
        self.recorder.install()
        dispatch = self.stack.dispatch

        def timed(request: Any) -> Any:  # the stack's whole work on one request: gateway, handler, moto
            started = time.perf_counter()
            try:
                return dispatch(request)
            finally:
                self._server_ms = (time.perf_counter() - started) * 1000

        self.stack.dispatch = timed  # type: ignore[method-assign]
        self.api = Api(self.stack.url)
        self.expect(200, "GET", "/v1/me")  # provisions the dev user
        org = self.expect(201, "POST", "/v1/orgs", {"name": f"Bench {secrets.token_hex(3)}"})
        self.org, self.org_slug = org["id"], org["slug"]
        self.recorder.take()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stack.stop()

    def measure(self, method: str, path: str, body: Any = None, headers: dict[str, str] | None = None) -> Sample:
        assert self.api is not None
        self.recorder.take()
        self._server_ms = 0.0
        status, parsed, ms = self.api.request(method, path, body, headers)
        return Sample(status, ms, parsed, self.recorder.take(), self._server_ms)

    def expect(self, status: int, method: str, path: str, body: Any = None) -> Any:
        sample = self.measure(method, path, body)
        if sample.status != status:
            raise SystemExit(f"{method} {path}: {sample.status} (wanted {status}): {str(sample.body)[:400]}")
        return sample.body

    def environment(self) -> tuple[str, str]:
        """A fresh, empty environment: its path (.../environments/<id>) by IDs, and the same by slugs."""
        if not self._spare:
            body = {"name": f"P {secrets.token_hex(3)}"}
            project = self.expect(201, "POST", f"/v1/orgs/{self.org}/projects", body)
            self.project = f"/v1/orgs/{self.org}/projects/{project['id']}"
            self._spare = [
                (
                    f"{self.project}/environments/{env['id']}",
                    f"/v1/orgs/{self.org_slug}/projects/{project['slug']}/environments/{env['slug']}",
                )
                for env in project["environments"]
            ]
        return self._spare.pop(0)

    def child_of(self, env: str) -> str:
        """A new environment of env's project inheriting from env, with no secrets of its own."""
        project, _, parent = env.rpartition("/environments/")
        body = {"name": f"child {secrets.token_hex(3)}", "parent": parent}
        return f"{project}/environments/{self.expect(201, 'POST', f'{project}/environments', body)['id']}"

    def fill(self, env: str, count: int, *, start: int = 0) -> Sample | None:
        """Set keys start..start+count-1 (100-character values), BATCH a change. The refusal, if any."""
        done = 0
        while done < count:
            batch = min(BATCH, count - done)
            sample = self.measure("PATCH", f"{env}/secrets", {"set": values(start + done, batch)})
            if sample.status != 200:
                return sample
            done += batch
        return None

    def fill_until_full(self, env: str) -> tuple[int, Sample]:
        """Add secrets until a change of one is refused: (how many fitted, the refusal)."""
        count, batch = 0, BATCH
        while True:
            sample = self.measure("PATCH", f"{env}/secrets", {"set": values(count, batch)})
            if sample.status == 200:
                count += batch
                continue
            if sample.code != "environment_full":
                raise SystemExit(f"filling: {sample.status} {str(sample.body)[:400]}")
            if batch == 1:
                return count, sample
            batch = max(1, batch // 4)


def values(start: int, count: int) -> dict[str, str]:
    return {f"SECRET_{i:05d}": secrets.token_urlsafe(VALUE_CHARS)[:VALUE_CHARS] for i in range(start, start + count)}


# --------------------------------------------------------------------------- figures


def median(xs: Iterable[float]) -> float:
    return round(statistics.median(list(xs)), 2)


def p95(xs: Iterable[float]) -> float:
    data = sorted(xs)
    return round(statistics.quantiles(data, n=100, method="inclusive")[94] if len(data) > 1 else data[0], 2)


def spread(xs: Iterable[int]) -> list[int]:
    """[min, max] of a per-request figure (equal when every request cost the same)."""
    data = list(xs)
    return [min(data), max(data)]


def show(pair: list[int]) -> str:
    return str(pair[0]) if pair[0] == pair[1] else f"{pair[0]}-{pair[1]}"


def ops_spread(samples: list[Sample], pick: Callable[[Sample], Counter[str]]) -> dict[str, list[int]]:
    """Per operation name, [min, max] calls per request."""
    names = sorted({name for s in samples for name in pick(s)})
    return {name: spread(pick(s).get(name, 0) for s in samples) for name in names}


def show_ops(found: dict[str, list[int]]) -> str:
    return " ".join(f"{op}x{show(pair)}" for op, pair in found.items()) or "none"


def read_figures(samples: list[Sample]) -> dict[str, Any]:
    """Per request ([min, max] over the samples): reads of environment data and the rest, KMS, audit, time."""
    return {
        "requests": len(samples),
        "statuses": sorted({s.status for s in samples}),
        "env_data_reads": spread(len(s.reads(env_data=True)) for s in samples),
        "env_data_keys": spread(sum(c.keys for c in s.reads(env_data=True)) for s in samples),
        "env_data_items": spread(sum(c.items for c in s.reads(env_data=True)) for s in samples),
        "access_reads": spread(len(s.reads(env_data=False)) for s in samples),
        "access_items": spread(sum(c.items for c in s.reads(env_data=False)) for s in samples),
        "kms": ops_spread(samples, Sample.kms),
        "audit_transactions": spread(len(s.transactions()) for s in samples),
        "audit_transaction_items": spread(sum(sum(c.written.values()) for c in s.transactions()) for s in samples),
        "operations": ops_spread(samples, Sample.operations),
        "median_ms": median(s.ms for s in samples),
        "p95_ms": p95(s.ms for s in samples),
        "server_median_ms": median(s.server_ms for s in samples),
        "aws_median_ms": median(s.aws_ms() for s in samples),
        "aws_median_ms_by_operation": {
            op: median(sum(c.ms for c in s.calls if c.operation == op) for s in samples)
            for op in sorted({c.operation for s in samples for c in s.calls})
        },
    }


def floor_ms(env: str, runs: int) -> float:
    parts = env.split("/")  # /v1/orgs/<org>/projects/<prj>/environments/<env>
    return floor_of([(parts[3], parts[5], parts[7])], runs)


def floor_of(scopes: list[tuple[str, str, str]], runs: int) -> float:
    """The least a pull of this environment costs in the same run (the issue's "decode + AES-GCM
    decrypt + serialize of the same data"): decode the snapshot's ciphertext from the form the
    store sends it in (base64, as DynamoDB's JSON carries a binary attribute), AES-GCM decrypt it
    (its data key unwrapped once, outside), parse it and serialize its values as JSON (compact,
    json's C encoder: the cheapest serialization of them; median of `runs`). Several snapshots
    (an environment and the org's shared secrets it references): each decoded and decrypted, the
    values serialized once."""
    import base64

    from strongroom.data import secrets as data
    from strongroom.security import crypto

    opened = []
    for org_id, project_id, env_id in scopes:
        scope = crypto.Scope(org_id, project_id, env_id)
        snap = data.snapshot(env_id)
        assert snap is not None
        key = crypto.unwrap(scope, snap.key_version, snap.wrapped_key, snap.kms_key_id)
        aad = scope.aad("snapshot", snap.key_version, snap.revision)
        step = data.CHUNK_BYTES
        opened.append((key, aad, [base64.b64encode(snap.blob[i : i + step]) for i in range(0, len(snap.blob), step)]))
    timings = []
    for _ in range(max(runs, 5)):
        started = time.perf_counter()
        values: dict[str, str] = {}
        for key, aad, wire in opened:
            blob = b"".join([base64.b64decode(part) for part in wire])
            body = json.loads(crypto.decrypt(key, blob, aad, what="snapshot"))
            values.update({k: v["value"] for k, v in body["live"].items()})
        json.dumps(values, separators=(",", ":"), ensure_ascii=False)
        timings.append((time.perf_counter() - started) * 1000)
    return median(timings)


def read_series(bench: Bench, url: str, runs: int, cold_runs: int) -> tuple[list[Sample], list[Sample], list[Sample]]:
    """(warm, new revision, cold) reads of `url` (after the caller's warm-up): `runs` as they come;
    `runs` each the first read of a new revision (the opened snapshots emptied, the data key
    cached); `cold_runs` with the data-key cache emptied too, as in a new execution environment."""
    from strongroom.domain import resolve
    from strongroom.security import crypto

    warm = [bench.measure("GET", url) for _ in range(runs)]
    fresh = []
    for _ in range(runs):
        resolve.snapshot_cache.clear()
        fresh.append(bench.measure("GET", url))
    cold = []
    for _ in range(cold_runs):
        crypto.cache.clear()  # the module's data-key cache: empty in a new execution environment
        resolve.snapshot_cache.clear()  # and the opened snapshots
        cold.append(bench.measure("GET", url))
    return warm, fresh, cold


def measure_shared(count: int, runs: int, cold_runs: int) -> dict[str, Any]:
    """An environment whose `count` values each reference one of the org's shared secrets
    (`KEY_i = ${shared.SHARED_i}`): its export as the dev user (warm, new revision, cold) and a
    service token's runtime pull and its 304, against the floor of decrypting both snapshots."""
    from strongroom.domain import shared_scope

    with Bench() as bench:
        env, _by_slug = bench.environment()
        shared = f"/v1/orgs/{bench.org}/shared-secrets"
        for i in range(count):
            bench.expect(201, "POST", shared, {"key": f"SHARED_{i:03d}", "value": "s" * VALUE_CHARS})
        refs = {f"KEY_{i:03d}": f"${{shared.SHARED_{i:03d}}}" for i in range(count)}
        bench.expect(200, "PATCH", f"{env}/secrets", {"set": refs})
        parts = env.split("/")
        floor = floor_of(
            [(parts[3], parts[5], parts[7]), (bench.org, shared_scope.PROJECT_ID, shared_scope.shared_id(bench.org))],
            runs,
        )
        export = f"{env}/export?format=json"
        first = bench.expect(200, "GET", export)  # warm-up
        assert first == dict.fromkeys(refs, "s" * VALUE_CHARS), "references did not resolve"
        warm, fresh, cold = read_series(bench, export, runs, cold_runs)
        body = {"name": "bench", "project": parts[5], "environment": parts[7], "permissions": ["read"]}
        token = bench.expect(201, "POST", f"/v1/orgs/{bench.org}/tokens", body)["token"]
        auth = {"Authorization": f"Bearer {token}"}
        bench.measure("GET", "/runtime/v1/secrets", headers=auth)  # warm-up (the token's first sight)
        pulls = [bench.measure("GET", "/runtime/v1/secrets", headers=auth) for _ in range(runs)]
        tag = _etag_of(bench, auth)
        not_modified = [
            bench.measure("GET", "/runtime/v1/secrets", headers={**auth, "If-None-Match": tag}) for _ in range(runs)
        ]
    return {
        "shared_secrets": count,
        "floor_ms": floor,
        "warm": read_figures(warm),
        "new_revision": read_figures(fresh),
        "cold": read_figures(cold),
        "runtime_pull": read_figures(pulls),
        "runtime_304": read_figures(not_modified),
    }


def _etag_of(bench: Bench, auth: dict[str, str]) -> str:
    """The ETag of a runtime pull (a response header, which Api.request does not return)."""
    assert bench.api is not None
    conn = http.client.HTTPConnection(bench.api.host, bench.api.port, timeout=60)
    try:
        conn.request("GET", "/runtime/v1/secrets", headers=auth)
        response = conn.getresponse()
        response.read()
        return str(response.getheader("ETag"))
    finally:
        conn.close()


def measure_size(size: int | str, runs: int, cold_runs: int) -> dict[str, Any]:
    with Bench() as bench:
        env, env_by_slug = bench.environment()
        row: dict[str, Any] = {}
        started = time.perf_counter()
        if size == "max":
            count, refused = bench.fill_until_full(env)
            row["limit"] = {"adding_one_more": refused.status, "code": refused.code}
        else:
            count = int(size)
            refused_sample = bench.fill(env, count)
            if refused_sample is not None:
                return {"asked": count, "status": refused_sample.status, "code": refused_sample.code}
        row["fill_seconds"] = round(time.perf_counter() - started, 1)
        row["floor_ms"] = floor_ms(env, runs)
        export = f"{env}/export?format=json"
        bench.expect(200, "GET", export)  # warm-up
        warm, fresh, cold = read_series(bench, export, runs, cold_runs)
        from strongroom.domain import resolve
        from strongroom.security import crypto

        by_slug = bench.measure("GET", f"{env_by_slug}/export?format=json")
        child = bench.child_of(env)
        bench.expect(200, "GET", f"{child}/export?format=json")  # warm-up
        inherited = [bench.measure("GET", f"{child}/export?format=json") for _ in range(max(5, runs // 4))]
        crypto.cache.clear()
        resolve.snapshot_cache.clear()
        inherited_cold = bench.measure("GET", f"{child}/export?format=json")
        pages, cursor = [], ""
        while True:
            query = f"limit={LIST_PAGE}" + (f"&cursor={quote(cursor)}" if cursor else "")
            page = bench.measure("GET", f"{env}/secrets?{query}")
            pages.append(page)
            cursor = page.body.get("next_cursor") if page.status == 200 else None
            if not cursor:
                break
    return {
        "secrets": count,
        **row,
        "values_returned": len(warm[-1].body) if isinstance(warm[-1].body, dict) else None,
        "snapshot_ciphertext_bytes": fresh[-1].snapshot_bytes(),  # a warm read carries no ciphertext
        "warm": read_figures(warm),
        "new_revision": read_figures(fresh),
        "cold": read_figures(cold),
        "by_slug": read_figures([by_slug]),
        "inheriting": {
            **read_figures(inherited),
            "values_returned": len(inherited[-1].body) if isinstance(inherited[-1].body, dict) else None,
            "cold_kms": dict(inherited_cold.kms()),
        },
        "listing": {
            "page_size": LIST_PAGE,
            "requests": len(pages),
            "statuses": sorted({s.status for s in pages}),
            "env_data_reads": sum(len(s.reads(env_data=True)) for s in pages),
            "kms": dict(sum((s.kms() for s in pages), Counter())),
            "audit_transactions": sum(len(s.transactions()) for s in pages),
        },
    }


def measure_folders(runs: int, cold_runs: int) -> dict[str, Any]:
    """An environment of FOLDERS folders x FOLDER_KEYS keys: the whole tree, and one folder, read."""

    with Bench() as bench:
        env, _ = bench.environment()
        started = time.perf_counter()
        for i in range(FOLDERS):
            bench.expect(200, "PATCH", f"{env}/secrets?path=/folder{i}", {"set": values(i * FOLDER_KEYS, FOLDER_KEYS)})
        fill_seconds = round(time.perf_counter() - started, 1)
        floor = floor_ms(env, runs)
        out: dict[str, Any] = {"folders": FOLDERS, "keys_per_folder": FOLDER_KEYS, "fill_seconds": fill_seconds}
        out["floor_ms"] = floor
        for label, query in (("all_paths", "recursive=true"), ("one_folder", "path=/folder2")):
            export = f"{env}/export?format=json&{query}"
            bench.expect(200, "GET", export)  # warm-up
            warm, fresh, cold = read_series(bench, export, runs, cold_runs)
            out[label] = {
                "query": query,
                "values_returned": len(warm[-1].body) if isinstance(warm[-1].body, dict) else None,
                "warm": read_figures(warm),
                "new_revision": read_figures(fresh),
                "cold": read_figures(cold),
            }
        out["snapshot_ciphertext_bytes"] = fresh[-1].snapshot_bytes()
    return out


def print_folders(f: dict[str, Any]) -> None:
    print()
    print(
        f"folders: {f['folders']} folders x {f['keys_per_folder']} keys ({f['folders'] * f['keys_per_folder']} "
        f"secrets of {VALUE_CHARS} characters in one snapshot); floor {f['floor_ms']:.1f} ms"
    )
    for label in ("all_paths", "one_folder"):
        r = f[label]
        w, n, c = r["warm"], r["new_revision"], r["cold"]
        requests = [a + b for a, b in zip(w["env_data_reads"], w["access_reads"], strict=True)]
        print(
            f"  {label:<10} ({r['query']}): values {r['values_returned']}, DynamoDB reads a request "
            f"{show(requests)} (env {show(w['env_data_reads'])}, other {show(w['access_reads'])}), "
            f"KMS warm {show_ops(w['kms'])}, cold {show_ops(c['kms'])}; server warm {w['server_median_ms']:.1f} ms "
            f"({w['server_median_ms'] / max(f['floor_ms'], 0.001):.1f}x floor), new revision "
            f"{n['server_median_ms']:.1f} ms ({n['server_median_ms'] / max(f['floor_ms'], 0.001):.1f}x), "
            f"statuses {sorted(set(w['statuses']) | set(n['statuses']) | set(c['statuses']))}"
        )


def parse_sizes(text: str) -> list[int | str]:
    out: list[int | str] = []
    for raw in text.split(","):
        part = raw.strip().lower()
        if part == "max":
            out.append("max")
        elif part.isdigit() and int(part) > 0:
            out.append(int(part))
        else:
            raise argparse.ArgumentTypeError(f"not a size: {part!r} (positive integers or 'max')")
    return out


def print_table(result: dict[str, Any]) -> None:
    print(
        f"reading all values: GET .../export?format=json, {result['runs']} warm requests per size after one "
        f"warm-up (Python {result['python']}, embedded moto)"
    )
    print(
        "per request, a-b when requests differ; env reads: of the environment's partition (its snapshot); "
        "median/p95: client, server: the stack's dispatch, in AWS: inside moto (medians)"
    )
    head = (
        f"{'secrets':>8} {'snapshot':>9} {'values':>6} | {'env reads':>9} {'items':>5} | {'other reads':>11} | "
        f"{'KMS':>3} | {'audit TWI':>9} {'items':>5} | {'median':>9} {'p95':>9} {'server':>9} {'in AWS':>9} | "
        f"{'cold KMS':>10} {'cold':>9} | {'floor':>8} {'server/floor':>12} | {'new rev':>9} {'/floor':>6}"
    )
    print(head)
    print("-" * len(head))
    for row in result["sizes"]:
        if "secrets" not in row:
            print(f"{row['asked']:>8} refused while filling: {row['status']} {row['code']}")
            continue
        w, c, n = row["warm"], row["cold"], row["new_revision"]
        kms = max((pair[1] for pair in w["kms"].values()), default=0)
        label = f"{row['secrets']}{'*' if 'limit' in row else ''}"
        print(
            f"{label:>8} {row['snapshot_ciphertext_bytes'] / 1000:>6.1f} KB {row['values_returned']:>6} | "
            f"{show(w['env_data_reads']):>9} {show(w['env_data_items']):>5} | {show(w['access_reads']):>11} | "
            f"{kms:>3} | {show(w['audit_transactions']):>9} {show(w['audit_transaction_items']):>5} | "
            f"{w['median_ms']:>6.1f} ms {w['p95_ms']:>6.1f} ms {w['server_median_ms']:>6.1f} ms "
            f"{w['aws_median_ms']:>6.1f} ms | "
            f"{show_ops(c['kms']):>10} {c['median_ms']:>6.1f} ms | {row['floor_ms']:>5.1f} ms "
            f"{w['server_median_ms'] / max(row['floor_ms'], 0.001):>11.1f}x | "
            f"{n['server_median_ms']:>6.1f} ms {n['server_median_ms'] / max(row['floor_ms'], 0.001):>5.1f}x"
        )
    rows = [r for r in result["sizes"] if "secrets" in r]
    for row in rows:
        answers = {
            part: row[part]["statuses"] for part in ("warm", "new_revision", "cold", "by_slug", "inheriting", "listing")
        }
        if any(statuses != [200] for statuses in answers.values()):
            print(f"! {row['secrets']} secrets: not every request answered 200: {answers}")
    for row in rows:
        if "limit" in row:
            print(
                f"* the largest that fits: {row['secrets']} secrets of {VALUE_CHARS} characters "
                f"({row['snapshot_ciphertext_bytes']} bytes of snapshot ciphertext, limit "
                f"{result['max_snapshot_bytes']}); one more is {row['limit']['adding_one_more']} {row['limit']['code']}"
            )
    if not rows:
        return
    first = rows[0]
    print(
        "new rev: the server's median for the first read of a revision (the function's opened snapshot "
        "emptied before each, its data key cached): read whole, decrypted, parsed"
    )
    print(
        "new revision, inside moto (median ms per request): "
        + "; ".join(
            f"{row['secrets']}: "
            + ", ".join(f"{op} {ms:.1f}" for op, ms in row["new_revision"]["aws_median_ms_by_operation"].items())
            for row in rows
        )
    )
    print(f"operations of a warm export: {show_ops(first['warm']['operations'])}")
    print(
        "other reads: caller (email pointer, user), org, membership, project, environment, named by ID; "
        f"by slug: {show(first['by_slug']['access_reads'])} other reads, {show(first['by_slug']['env_data_reads'])} env"
    )
    print(
        f"cold: crypto.cache.clear() before each of {result['cold_runs']} requests; those requests: "
        f"{show_ops(first['cold']['operations'])}"
    )
    print(
        "inside moto, by operation (median ms per request): "
        + "; ".join(
            f"{row['secrets']}: "
            + ", ".join(f"{op} {ms:.1f}" for op, ms in row["warm"]["aws_median_ms_by_operation"].items())
            for row in rows
        )
    )
    print()
    print("an environment inheriting from it (parent = the filled one, no own secrets), warm:")
    for row in rows:
        i = row["inheriting"]
        print(
            f"{row['secrets']:>8} secrets: values {i['values_returned']}, {show_ops(i['operations'])}; env reads "
            f"{show(i['env_data_reads'])} ({show(i['env_data_keys'])} keys, {show(i['env_data_items'])} items), "
            f"KMS {show_ops(i['kms'])}, "
            f"median {i['median_ms']:.1f} ms; cold KMS {' '.join(f'{k}x{v}' for k, v in i['cold_kms'].items())}"
        )
    print(f"listing with values, GET .../secrets?limit={LIST_PAGE} walked to its end:")
    for row in rows:
        listing = row["listing"]
        kms = " ".join(f"{k}x{v}" for k, v in listing["kms"].items()) or "none"
        print(
            f"{row['secrets']:>8} secrets: {listing['requests']} requests, {listing['env_data_reads']} env reads, "
            f"KMS {kms}, {listing['audit_transactions']} audit writes"
        )
    print(f"({result['seconds']} s; filling: {', '.join(f'{r["secrets"]}: {r["fill_seconds"]} s' for r in rows)})")


def print_shared(row: dict[str, Any]) -> None:
    print()
    print(
        f"an environment of {row['shared_secrets']} values, "
        "each `${shared.KEY}` of one of the org's shared secrets (floor: both snapshots decoded, "
        f"decrypted, parsed, the values serialized: {row['floor_ms']:.2f} ms):"
    )
    for label, part in (
        ("export, warm", "warm"),
        ("export, new revision", "new_revision"),
        ("export, cold", "cold"),
        ("runtime pull (token)", "runtime_pull"),
        ("runtime 304 (If-None-Match)", "runtime_304"),
    ):
        f = row[part]
        print(
            f"{label:>28}: {f['statuses']} env reads {show(f['env_data_reads'])} "
            f"({show(f['env_data_keys'])} keys), other reads {show(f['access_reads'])}, "
            f"KMS {show_ops(f['kms'])}, server {f['server_median_ms']:.1f} ms "
            f"({f['server_median_ms'] / max(row['floor_ms'], 0.001):.1f}x floor), ops {show_ops(f['operations'])}"
        )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=None, help="warm requests per size (>= 5; default 20, quick 5)")
    parser.add_argument("--cold", type=int, default=3, help="requests per size with the data-key cache emptied")
    parser.add_argument("--sizes", type=parse_sizes, default=None, help=f"default {DEFAULT_SIZES}; quick {QUICK_SIZES}")
    parser.add_argument("--quick", action="store_true", help=f"sizes {QUICK_SIZES}, 5 runs")
    parser.add_argument("--json", action="store_true", help="print machine-readable results")
    parser.add_argument(
        "--folders",
        action=argparse.BooleanOptionalAction,
        default=True,
        help=f"also an environment of {FOLDERS} folders x {FOLDER_KEYS} keys (default on)",
    )
    parser.add_argument(
        "--shared", type=int, default=50, help="an environment referencing this many shared secrets (0: none)"
    )
    args = parser.parse_args()
    runs = args.runs if args.runs is not None else (5 if args.quick else 20)
    if runs < 5:
        parser.error("--runs must be at least 5")
    if args.cold < 1:
        parser.error("--cold must be at least 1")
    sizes = args.sizes or parse_sizes(QUICK_SIZES if args.quick else DEFAULT_SIZES)
    started = time.perf_counter()
    rows = [measure_size(size, runs, args.cold) for size in sizes]
    folders = measure_folders(runs, args.cold) if args.folders else None
    shared = measure_shared(args.shared, runs, args.cold) if args.shared > 0 else None
    from strongroom.domain import secrets as domain

    result = {
        "python": sys.version.split()[0],
        "runs": runs,
        "cold_runs": args.cold,
        "value_characters": VALUE_CHARS,
        "max_snapshot_bytes": domain.MAX_SNAPSHOT_BYTES,
        "seconds": round(time.perf_counter() - started, 1),
        "sizes": rows,
        "folders": folders,
        "shared": shared,
    }
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        print_table(result)
        if folders is not None:
            print_folders(folders)
        if shared is not None:
            print_shared(shared)
    return 0


if __name__ == "__main__":
    sys.exit(main())
