"""Local only: the mail the stack sent, at `GET /_local/mailbox?to=<email>` →
`{data: [{to, subject, text, sent_at}]}` (oldest first). Served by the local server, never by
API Gateway: not in template.yaml, not in the OpenAPI document.

moto's SES v2 `SendEmail` keeps each message in the SES backend's `sent_messages` (shared with
SES v1), and refuses a sender that is not a verified identity: the local stack verifies the
template's `MailFrom` (the functions' `MAIL_FROM`) when it starts. moto records no send time, so
the backend's `send_email` is wrapped once per process to stamp each message.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qs

from strongroom_local.events import HttpResponse
from strongroom_local.intrinsics import ACCOUNT, REGION

MAILBOX_PATH = "/_local/mailbox"
_installed = False


def stamp_send_times() -> None:
    """Wrap moto's SES `send_email` (which SES v2 uses) to record `sent_at` on each message."""
    global _installed  # noqa: PLW0603 - one patch per process
    if _installed:
        return
    from moto.ses.models import SESBackend  # noqa: PLC0415 - moto loads lazily

    original = SESBackend.send_email

    def send_email(self: Any, *args: Any, **kwargs: Any) -> Any:
        message = original(self, *args, **kwargs)
        message.sent_at = datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")  # type: ignore[attr-defined]
        return message

    SESBackend.send_email = send_email  # type: ignore[method-assign]
    _installed = True


def verify_sender(address: str) -> None:
    """Make `address` a verified SES identity on moto (idempotent), so that it may send."""
    import boto3  # noqa: PLC0415 - only once moto is active

    client = boto3.client("sesv2", region_name=REGION)
    known = {i["IdentityName"] for i in client.list_email_identities().get("EmailIdentities", [])}
    if address not in known:
        client.create_email_identity(EmailIdentity=address)


def is_mailbox_path(method: str, path: str) -> bool:
    return method.upper() == "GET" and path == MAILBOX_PATH


def _messages() -> list[Any]:
    from moto.ses.models import ses_backends  # noqa: PLC0415

    return list(ses_backends[ACCOUNT][REGION].sent_messages)


def serve(query: str) -> HttpResponse | None:
    """The mail sent to `to` (None without it: the caller answers 400)."""
    wanted = (parse_qs(query).get("to") or [""])[0].strip().lower()
    if not wanted:
        return None
    data = []
    for message in _messages():
        recipients = [a.lower() for a in (getattr(message, "destinations", None) or {}).get("ToAddresses", [])]
        if wanted in recipients and hasattr(message, "subject"):
            data.append(
                {
                    "to": wanted,
                    "subject": message.subject,
                    "text": message.body,
                    "sent_at": getattr(message, "sent_at", ""),
                }
            )
    body = json.dumps({"data": data}).encode()
    return HttpResponse(200, [("Content-Type", "application/json"), ("Cache-Control", "no-store")], body)
