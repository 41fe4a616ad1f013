"""The functions' environment, locally: every function runs in this one process, so the variables
they have in common (Globals.Function plus their own, intrinsics resolved) are set once in
os.environ, plus a few local values."""

from __future__ import annotations

import os
from collections.abc import Iterable

from strongroom_local.intrinsics import REGION, references
from strongroom_local.provision import Resources
from strongroom_local.template import Function

# Per-function in Lambda; one process here, so one value.
LOCAL_SERVICE_NAME = "strongroom-local"


def local_values(auth_mode: str) -> dict[str, str]:
    """What the local stack sets whatever the template says."""
    return {
        "AUTH_MODE": auth_mode,
        "STAGE": "local",
        "POWERTOOLS_TRACE_DISABLED": "true",
        "POWERTOOLS_METRICS_DISABLED": "true",
        "POWERTOOLS_DEV": "false",
        "POWERTOOLS_SERVICE_NAME": LOCAL_SERVICE_NAME,
        "POWERTOOLS_LOG_LEVEL": os.environ.get("POWERTOOLS_LOG_LEVEL", "WARNING"),
        "AWS_LAMBDA_FUNCTION_NAME": LOCAL_SERVICE_NAME,
        "AWS_REGION": REGION,
        "AWS_DEFAULT_REGION": REGION,
    }


class EnvironmentConflict(RuntimeError):
    """Two functions need different values for one variable; one process cannot give both."""


def shared_environment(
    functions: Iterable[Function], resources: Resources, overrides: dict[str, str]
) -> tuple[dict[str, str], list[str]]:
    """The variables to set, and notes about variables that name resources not created locally."""
    env: dict[str, str] = {}
    owners: dict[str, str] = {}
    notes: dict[str, str] = {}
    placeholders = set(resources.placeholders)
    for fn in functions:
        for key, raw in fn.environment.items():
            if key in overrides:
                continue
            value = resources.resolve(raw)
            text = "true" if value is True else "false" if value is False else str(value)
            if key in env and env[key] != text:
                raise EnvironmentConflict(
                    f"{owners[key]} and {fn.logical_id} set {key} differently; the local stack runs every "
                    "function in one process, with one environment"
                )
            env[key], owners[key] = text, fn.logical_id
            unmade = sorted(references(raw) & placeholders)
            if unmade:
                notes[key] = f"{key} refers to {', '.join(unmade)}, which the local stack does not create"
    env.update(overrides)
    return env, list(notes.values())
