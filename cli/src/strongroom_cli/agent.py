"""The reference agent (`strongroom agent run`): the model of an in-cluster agent.

It authenticates with its own secret (`sr_agt_…`, never a user's login), registers an X25519
public key, heartbeats, and claims jobs one at a time:

- `discover`: walks its directories for `.env`, YAML and JSON files and reports each key it finds
  (`<file relative to its directory>#<KEY>`, provider `file`, its cluster, labels naming the
  format and the directory) with a fingerprint: HMAC-SHA256 of the value under a key derived from
  the agent's secret, so that the server (which stores only the secret's hash) cannot test guesses
  of a value against it. Values never leave the machine.
- `read`: reads the value a ref names (within its directories only) and answers with a libsodium
  sealed box of it to the job's `recipient_public_key` (`POST /v1/agents/{id}/wraps`), which only
  the requester can open.

Errors back off exponentially (to `max_backoff`); SIGTERM (or SIGINT) stops it between two
requests, and it exits 0. A Kubernetes agent is the same loop with another discovery (Secrets of
the namespaces it may read, provider `kubernetes`, cluster and namespace as labels) and another
read (the Secret's key), running as a Deployment whose secret comes from a Kubernetes Secret.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import signal
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

REPORT_BATCH = 1000
DOTENV_NAMES = (".env",)
YAML_SUFFIXES = (".yaml", ".yml")
JSON_SUFFIXES = (".json",)
MAX_FILE_BYTES = 1024 * 1024


class JobError(Exception):
    """A job that cannot be done; its message (never a value) is the job's error."""


def _is_dotenv(path: Path) -> bool:
    return path.name in DOTENV_NAMES or path.name.startswith(".env.") or path.suffix == ".env"


def _leaves(data: Any, prefix: str = "") -> Iterator[tuple[str, str]]:
    if isinstance(data, dict):
        for key, value in data.items():
            yield from _leaves(value, f"{prefix}.{key}" if prefix else str(key))
    elif isinstance(data, list):
        return
    elif data is not None:
        yield prefix, data if isinstance(data, str) else json.dumps(data)


def _yaml(text: str) -> Any:
    try:
        import yaml  # noqa: PLC0415 - optional: PyYAML where it is installed
    except ImportError:  # a flat `key: value` file, without PyYAML
        pairs = (line.split(":", 1) for line in text.splitlines() if ":" in line and not line.startswith((" ", "#")))
        return {k.strip(): v.strip().strip("'\"") for k, v in pairs}
    return yaml.safe_load(text)


def _parse(path: Path, text: str) -> tuple[str, dict[str, str]] | None:
    if _is_dotenv(path):
        from dotenv import dotenv_values  # noqa: PLC0415

        return "dotenv", {k: v for k, v in dotenv_values(stream=_stream(text)).items() if v is not None}
    if path.suffix in JSON_SUFFIXES:
        return "json", dict(_leaves(json.loads(text)))
    if path.suffix in YAML_SUFFIXES:
        return "yaml", dict(_leaves(_yaml(text)))
    return None


def read_file(path: Path) -> tuple[str, dict[str, str]] | None:
    """(format, {key: value}) of a secret file, or None when it is not one (or unreadable)."""
    try:
        if path.stat().st_size > MAX_FILE_BYTES:
            return None
        return _parse(path, path.read_text(encoding="utf-8"))
    except Exception:  # noqa: BLE001 - unreadable or malformed (a YAML error of any kind): not a secret file
        return None


def _stream(text: str) -> Any:
    import io  # noqa: PLC0415

    return io.StringIO(text)


@dataclass
class Agent:
    url: str
    agent_id: str
    secret: str = field(repr=False)
    directories: list[Path]
    cluster: str
    poll_interval: float = 5.0
    heartbeat_interval: float = 60.0
    max_backoff: float = 60.0
    log: Callable[[str], None] = print
    stop: threading.Event = field(default_factory=threading.Event)
    _client: httpx.Client | None = None

    # ------------------------------------------------------------------ HTTP

    @property
    def client(self) -> httpx.Client:
        if self._client is None:
            self._client = httpx.Client(
                base_url=self.url, headers={"Authorization": f"Bearer {self.secret}"}, timeout=30.0
            )
        return self._client

    def _call(self, method: str, path: str, body: Any = None) -> httpx.Response:
        resp = self.client.request(method, f"/v1/agents/{self.agent_id}{path}", json=body)
        if resp.status_code >= 400:
            try:
                code = resp.json()["error"]["code"]
            except (ValueError, KeyError, TypeError):
                code = "?"
            raise RuntimeError(f"{method} {path}: {resp.status_code} {code}")
        return resp

    # ------------------------------------------------------------------ jobs

    def fingerprint(self, value: str) -> str:
        key = hashlib.sha256(b"strongroom agent fingerprint\x00" + self.secret.encode()).digest()
        return "hmac-sha256:" + hmac.new(key, value.encode(), hashlib.sha256).hexdigest()[:32]

    def _files(self, roots: list[Path]) -> Iterator[tuple[Path, Path]]:
        for root in roots:
            for dirpath, dirnames, filenames in os.walk(root):
                dirnames[:] = sorted(d for d in dirnames if d not in {".git", "node_modules"})
                for name in sorted(filenames):
                    yield root, Path(dirpath) / name

    def discover(self, roots: list[Path]) -> list[dict[str, Any]]:
        found = []
        for root, path in self._files(roots):
            parsed = read_file(path)
            if parsed is None:
                continue
            kind, values = parsed
            relative = path.relative_to(root).as_posix()
            for key, value in sorted(values.items()):
                found.append(
                    {
                        "ref": f"{relative}#{key}",
                        "provider": "file",
                        "cluster_name": self.cluster,
                        "labels": {"format": kind, "directory": root.name or "root"},
                        "fingerprint": self.fingerprint(value),
                    }
                )
        return found

    def resolve(self, ref: str) -> str:
        """The value a ref names, in one of the agent's directories (never outside them)."""
        relative, sep, key = ref.rpartition("#")
        if not sep or not relative:
            raise JobError("the ref is not <file>#<key>")
        for root in self.directories:
            base = root.resolve()
            path = (base / relative).resolve()
            if not path.is_relative_to(base) or not path.is_file():
                continue
            parsed = read_file(path)
            if parsed is not None and key in parsed[1]:
                return parsed[1][key]
        raise JobError("no such ref here")

    def _roots(self, params: dict[str, Any]) -> list[Path]:
        """The agent's directories, or those of them the job names."""
        wanted = [str(p) for p in params.get("paths") or []]
        if not wanted:
            return self.directories
        return [d for d in self.directories if str(d) in wanted or d.name in wanted]

    def run_job(self, job: dict[str, Any]) -> None:
        job_id, kind = job["id"], job["type"]
        self.log(f"agent: claimed {kind} job {job_id}")
        try:
            if kind == "discover":
                items = self.discover(self._roots(job.get("params") or {}))
                for start in range(0, len(items), REPORT_BATCH):
                    self._call("POST", "/secrets/bulk", {"secrets": items[start : start + REPORT_BATCH]})
                self.log(f"agent: reported {len(items)} secrets")
            elif kind == "read":
                from nacl.public import PublicKey, SealedBox  # noqa: PLC0415

                value = self.resolve(str(job["params"]["ref"]))
                recipient = PublicKey(base64.b64decode(job["params"]["recipient_public_key"]))
                sealed = base64.b64encode(SealedBox(recipient).encrypt(value.encode())).decode()
                self._call("POST", "/wraps", {"job": job_id, "sealed": sealed})
            else:
                raise JobError(f"unknown job type {kind}")
        except JobError as exc:
            self._call("POST", f"/jobs/{job_id}/complete", {"status": "failed", "error": str(exc)})
            self.log(f"agent: job {job_id} failed: {exc}")
            return
        self._call("POST", f"/jobs/{job_id}/complete", {"status": "succeeded"})
        self.log(f"agent: job {job_id} succeeded")

    # ------------------------------------------------------------------ the loop

    def register_key(self) -> None:
        from nacl.public import PrivateKey  # noqa: PLC0415

        self._key = PrivateKey.generate()  # the agent's wire key (kept in memory only)
        public = base64.b64encode(bytes(self._key.public_key)).decode()
        self._call("PUT", "/public-key", {"public_key": public})

    def step(self, last_beat: float, now: float) -> tuple[float, bool]:
        """One heartbeat (when due) and one claim: (when it last beat, whether a job ran)."""
        if now - last_beat >= self.heartbeat_interval:
            self._call("POST", "/heartbeat")
            last_beat = now
        resp = self._call("POST", "/jobs/claim")
        if resp.status_code == 204:
            return last_beat, False
        self.run_job(resp.json())
        return last_beat, True

    def run(self) -> int:
        import time  # noqa: PLC0415

        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, lambda *_: self.stop.set())
        backoff, registered, last_beat = 0.0, False, float("-inf")
        self.log(f"agent: {self.agent_id} watching {', '.join(str(d) for d in self.directories)}")
        while not self.stop.is_set():
            try:
                if not registered:
                    self.register_key()
                    registered = True
                last_beat, worked = self.step(last_beat, time.monotonic())
                backoff = 0.0
                if not worked:
                    self.stop.wait(self.poll_interval)
            except (httpx.HTTPError, RuntimeError, KeyError, ValueError) as exc:
                backoff = min(max(backoff * 2, self.poll_interval), self.max_backoff)
                self.log(f"agent: {type(exc).__name__}: {exc}; retrying in {backoff:g}s")
                self.stop.wait(backoff)
        if self._client is not None:
            self._client.close()
        self.log("agent: stopped")
        return 0
