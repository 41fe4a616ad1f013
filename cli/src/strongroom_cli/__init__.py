"""The Strongroom CLI. `strongroom run` takes a fast path (standard library + AES-GCM only);
every other command is a click application (httpx, rich)."""

__version__ = "0.1.0"
