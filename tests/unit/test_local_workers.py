"""The extension point for background workers: they start, can invoke functions, survive a failing
step, and stop (and are joined) with the runner."""

from __future__ import annotations

import threading
from typing import Any

from strongroom_local.provision import Resources
from strongroom_local.workers import (
    Worker,
    WorkerContext,
    WorkerRunner,
    register_worker,
    registered_workers,
    unregister_worker,
)


def test_workers_run_until_stopped_and_are_joined() -> None:
    seen: list[Any] = []
    started = threading.Event()

    def poller(ctx: WorkerContext) -> None:
        started.set()
        while ctx.sleep(0.01):
            pass
        seen.append(ctx.invoke("WorkerFunction", {"Records": []}))

    runner = WorkerRunner(log=lambda _line: None)
    runner.start([Worker("poller", poller)], Resources(), lambda fn, event: (fn, event))
    assert started.wait(5)
    assert runner.alive == ["strongroom-worker-poller"]
    assert runner.stop(timeout=5) == []
    assert seen == [("WorkerFunction", {"Records": []})]  # it ran to its end, after the stop signal
    assert runner.alive == []


def test_a_failing_step_is_logged_and_retried_and_a_crashing_worker_stays_contained() -> None:
    lines: list[str] = []
    calls: list[int] = []
    retried = threading.Event()

    def step() -> None:
        calls.append(1)
        if len(calls) >= 2:
            retried.set()
        raise RuntimeError("secret detail that must not be logged")

    def every_worker(ctx: WorkerContext) -> None:
        ctx.every(0.01, step, name="flaky")

    def crashing(_ctx: WorkerContext) -> None:
        raise KeyError("boom")

    runner = WorkerRunner(log=lines.append)
    runner.start([Worker("flaky", every_worker), Worker("crashing", crashing)], Resources(), lambda *_: None)
    assert retried.wait(5)
    assert runner.stop(timeout=5) == []
    assert any("flaky: step failed: RuntimeError" in line for line in lines)
    assert any("worker crashing stopped: KeyError" in line for line in lines)
    assert not any("secret detail" in line for line in lines)


def test_register_worker_works_as_a_decorator() -> None:
    @register_worker("decorated")
    def decorated(_ctx: WorkerContext) -> None:
        return None

    try:
        assert [w.run for w in registered_workers() if w.name == "decorated"] == [decorated]
    finally:
        unregister_worker("decorated")
    assert all(w.name != "decorated" for w in registered_workers())
