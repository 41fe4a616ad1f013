"""Powertools Logger and Metrics shared by every function (no AWS calls at import).

No Powertools Tracer: it imports the X-Ray SDK (about 270 ms of every cold start, measured by
bench/cold_import.py). Lambda's active tracing still records each invocation; the org id goes
into the structured log keys instead of a trace annotation (docs/decisions.md)."""

from __future__ import annotations

import warnings

from aws_lambda_powertools import Logger, Metrics

# Most requests emit no business metric; Powertools warns about every such flush.
warnings.filterwarnings("ignore", message="No application metrics to publish")

logger = Logger(use_rfc3339=True)
metrics = Metrics(namespace="Strongroom")
