"""The embedded local stack: moto in-process, resources created from template.yaml, and real
HTTP turned into API Gateway HTTP API (v2) events for the same handlers Lambda runs."""

from strongroom_local.server import LocalStack

__all__ = ["LocalStack"]
