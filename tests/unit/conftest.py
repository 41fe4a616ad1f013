"""The unit tier runs without the embedded stack: `make test-unit` (tests/unit) starts no moto, no
server and no worker. A unit test that requests `stack`, or a fixture built on it (`api`,
`local_stack`, `invoke`, `stack_workers`, ...), fails here: it belongs in tests/integration or
tests/http_api."""

from __future__ import annotations

import pytest

STACK_FIXTURES = {"stack", "local_stack", "api", "invoke", "stack_workers", "_stack_workers"}


def pytest_runtest_setup(item: pytest.Item) -> None:
    used = STACK_FIXTURES.intersection(getattr(item, "fixturenames", ()))
    if used or item.get_closest_marker("isolated") is not None:
        pytest.fail(
            f"{item.nodeid}: a unit test runs without the stack, but this one uses {sorted(used) or 'isolated'}; "
            "move it to tests/integration or tests/http_api",
            pytrace=False,
        )
