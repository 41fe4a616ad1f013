"""Background workers: the local stand-in for Lambda event source mappings and schedules.

A worker is a function that runs in its own thread for the stack's lifetime and returns once
`ctx.stop` is set, e.g. a loop that polls the table's stream or a queue on moto and hands the
records to a worker Lambda's handler with `ctx.invoke("FanOutFunction", event)`:

    from strongroom_local.workers import WorkerContext, register_worker

    @register_worker("webhook-queue")
    def webhook_queue(ctx: WorkerContext) -> None:
        url = ctx.resources.queues["WebhookQueue"]
        ctx.every(1.0, lambda: poll_once(ctx, url))

Registered workers start with every LocalStack (after the resources and the HTTP server) and are
stopped, then joined, when it stops. A worker that raises is logged (its type and place) and
stops; it never takes the server down.
"""

from __future__ import annotations

import sys
import threading
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from strongroom_local.provision import Resources

Log = Callable[[str], None]

# Pausing: a test that swaps an AWS client for a stub pauses the workers, so that no background
# step uses (or consumes) the stub. A step in progress finishes first.
_PAUSED = threading.Event()
_STEP = threading.RLock()


def pause() -> None:
    _PAUSED.set()
    with _STEP:  # waits for the step in progress, if any
        pass


def resume() -> None:
    _PAUSED.clear()


def _stderr(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


@dataclass(frozen=True)
class WorkerContext:
    """What a worker gets: the stop signal, the created resources, and a way to invoke a function."""

    stop: threading.Event
    resources: Resources
    invoke: Callable[[str, dict[str, Any]], Any]  # (function logical id, event) -> the handler's result
    log: Log = _stderr

    def running(self) -> bool:
        return not self.stop.is_set()

    def sleep(self, seconds: float) -> bool:
        """Wait up to `seconds`; False as soon as the stack is stopping."""
        return not self.stop.wait(seconds)

    def every(self, seconds: float, step: Callable[[], Any], *, name: str = "worker") -> None:
        """Call `step` every `seconds` until stopped. A failing step is logged and retried next time,
        as Lambda retries a failed batch."""
        while self.running():
            try:
                with _STEP:
                    if not _PAUSED.is_set():
                        step()
            except Exception as exc:  # noqa: BLE001 - a worker survives a failing step
                self.log(f"[local] {name}: step failed: {type(exc).__name__} at {_where(exc)}")
            if not self.sleep(seconds):
                return


WorkerFn = Callable[[WorkerContext], None]


@dataclass(frozen=True)
class Worker:
    name: str
    run: WorkerFn


_registry: dict[str, Worker] = {}


def register_worker(name: str, run: WorkerFn | None = None) -> Any:
    """Register a worker for every stack started afterwards; usable as `@register_worker("name")`."""

    def add(fn: WorkerFn) -> WorkerFn:
        _registry[name] = Worker(name, fn)
        return fn

    return add(run) if run is not None else add


def unregister_worker(name: str) -> None:
    _registry.pop(name, None)


def registered_workers() -> list[Worker]:
    return list(_registry.values())


def _where(exc: BaseException) -> str:
    frames = traceback.extract_tb(exc.__traceback__)
    return f"{frames[-1].filename.rsplit('/', 1)[-1]}:{frames[-1].lineno}" if frames else "?"


@dataclass
class WorkerRunner:
    """Runs workers in daemon threads and stops them together."""

    log: Log = _stderr
    stop_event: threading.Event = field(default_factory=threading.Event)
    _threads: list[threading.Thread] = field(default_factory=list)

    def start(self, workers: list[Worker], resources: Resources, invoke: Callable[[str, dict[str, Any]], Any]) -> None:
        ctx = WorkerContext(stop=self.stop_event, resources=resources, invoke=invoke, log=self.log)
        for worker in workers:
            thread = threading.Thread(
                target=self._run, args=(worker, ctx), name=f"strongroom-worker-{worker.name}", daemon=True
            )
            thread.start()
            self._threads.append(thread)

    def _run(self, worker: Worker, ctx: WorkerContext) -> None:
        try:
            worker.run(ctx)
        except Exception as exc:  # noqa: BLE001 - a broken worker must not take the server down
            self.log(f"[local] worker {worker.name} stopped: {type(exc).__name__} at {_where(exc)}")

    @property
    def alive(self) -> list[str]:
        return [t.name for t in self._threads if t.is_alive()]

    def stop(self, timeout: float = 5.0) -> list[str]:
        """Signal every worker and wait for it; the names of those still running after `timeout`."""
        self.stop_event.set()
        for thread in self._threads:
            thread.join(timeout=timeout)
        left = self.alive
        self._threads.clear()
        return left
