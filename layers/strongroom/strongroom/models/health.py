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
