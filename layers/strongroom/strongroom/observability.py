"""Powertools Logger and Metrics shared by every function (no AWS calls at import).

No Powertools Tracer: it imports the X-Ray SDK (about 270 ms of every cold start, measured by
bench/cold_import.py). Lambda's active tracing still records each invocation; the org id goes
into the structured log keys instead of a trace annotation (docs/decisions.md)."""

from __future__ import annotations

import functools
import warnings
from collections.abc import Callable
from typing import Any

from aws_lambda_powertools import Logger, Metrics

# Most requests emit no business metric; Powertools warns about every such flush.
warnings.filterwarnings("ignore", message="No application metrics to publish")

logger = Logger(use_rfc3339=True)
metrics = Metrics(namespace="Strongroom")


def log_metrics[Handler: Callable[..., Any]](handler: Handler) -> Handler:
    """Powertools' `log_metrics` (the invocation's metrics flushed as one EMF document), and the
    metrics cleared afterwards in every case: with POWERTOOLS_METRICS_DISABLED (the local stack)
    Powertools skips the flush and keeps them, so a long-running process would gather every
    metric of every request, and the next flush that is on would print them all."""
    flushed = metrics.log_metrics(handler)

    @functools.wraps(handler)
    def run(*args: Any, **kwargs: Any) -> Any:
        try:
            return flushed(*args, **kwargs)
        finally:
            metrics.clear_metrics()

    return run  # type: ignore[return-value]
