"""Powertools Logger, Tracer and Metrics shared by every function (no AWS calls at import)."""

from __future__ import annotations

from aws_lambda_powertools import Logger, Metrics, Tracer

logger = Logger(use_rfc3339=True)
tracer = Tracer()
metrics = Metrics(namespace="Strongroom")
