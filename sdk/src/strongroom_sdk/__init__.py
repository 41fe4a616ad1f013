"""Strongroom's Python SDK: an environment's secrets for a service token or a machine identity."""

from strongroom_sdk.client import (
    Client,
    Forbidden,
    Identity,
    NotFound,
    StrongroomError,
    Unauthorized,
    Unavailable,
)

__all__ = ["Client", "Forbidden", "Identity", "NotFound", "StrongroomError", "Unauthorized", "Unavailable"]
__version__ = "0.1.0"
