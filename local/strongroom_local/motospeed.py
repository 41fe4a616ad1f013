"""moto's cost per byte of a response, for the local stack.

moto runs `re.sub(r"(?<=<RequestId>).*(?=</RequestId>)", …)` over the body of every response,
to put the request id into XML ones. DynamoDB and KMS answer in JSON, which has no such tag, so
the substitution never changes anything there, but the look-behind scan costs ~10 ms per MB: a
pull of 10,000 secrets (2.7 MB of snapshot, 3.6 MB as JSON) spent ~30 ms of its ~80 ms inside
moto on it. Here it runs only on a body that holds the tag: the same bodies, without the scan.
Emulator time only; AWS never did this work.
"""

from __future__ import annotations

from typing import Any

_installed = False


def skip_idle_request_id_rewrite() -> None:
    """Patch moto's response enrichment to scan only bodies with a `<RequestId>` (idempotent)."""
    global _installed  # noqa: PLW0603 - one patch per process
    if _installed:
        return
    from moto.core.responses import BaseResponse  # noqa: PLC0415 - moto loads lazily

    original = BaseResponse._enrich_response

    def _enrich_response(headers: dict[str, str], body: Any) -> tuple[dict[str, str], Any]:
        if isinstance(body, str) and "<RequestId>" not in body:
            original(headers, "")  # the headers as moto sets them (status, request id)
            return headers, body
        return original(headers, body)  # type: ignore[no-any-return]

    _enrich_response.__wrapped__ = original  # type: ignore[attr-defined]
    BaseResponse._enrich_response = staticmethod(_enrich_response)  # type: ignore[method-assign,assignment]
    _installed = True
