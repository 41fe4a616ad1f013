"""The health check's answer."""

from __future__ import annotations

from typing import Literal

from strongroom.models.common import (
    Response,
)


class Health(Response):
    status: Literal["ok", "degraded"]
    checks: dict[str, Literal["ok", "fail"]]
    version: str


class Readiness(Response):
    """GET /readyz: each dependency's check; `failing` names those that failed (503 then)."""

    status: Literal["ready", "not_ready"]
    checks: dict[str, Literal["ok", "fail"]]
    failing: list[str]


class Liveness(Response):
    status: Literal["alive"]
