"""Powertools Logger, Tracer and Metrics shared by every function (no AWS calls at import)."""

from __future__ import annotations

import warnings

from aws_lambda_powertools import Logger, Metrics, Tracer

# Most requests emit no business metric; Powertools warns about every such flush.
warnings.filterwarnings("ignore", message="No application metrics to publish")

logger = Logger(use_rfc3339=True)
tracer = Tracer()
metrics = Metrics(namespace="Strongroom")
