"""Shared fixtures. One embedded stack per test session: moto in-process with the resources of
template.yaml, and the API on a real socket. In-process tests (integration) use the same moto
world, so a second mock never resets the first."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from strongroom_local import LocalStack
from support import Api, http_call


@pytest.fixture(scope="session")
def stack() -> Iterator[LocalStack]:
    with LocalStack(port=0) as running:
        yield running


@pytest.fixture(scope="session")
def local_stack(stack: LocalStack) -> str:
    """Base URL of the local server."""
    return stack.url


@pytest.fixture(scope="session")
def api(local_stack: str) -> Api:
    """api(method, path, *, user=None, json=None, body=None, headers=None) -> (status, headers, body)."""

    def call(
        method: str,
        path: str,
        *,
        user: str | None = None,
        json: Any = None,
        body: bytes | None = None,
        headers: dict[str, str] | None = None,
    ) -> tuple[int, dict[str, str], Any]:
        return http_call(local_stack, method, path, user=user, json_body=json, body=body, headers=headers)

    return call
