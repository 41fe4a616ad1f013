"""Account mail, through SES v2 (`SendEmail`, simple content, text only). The only code that
calls SES; the auth function is the only one allowed to (template.yaml)."""

from __future__ import annotations

from strongroom import aws
from strongroom.config import ConfigError, settings
from strongroom.errors import Unavailable


def send(to: str, subject: str, text: str) -> None:
    """One mail from the stack's sender (`MAIL_FROM`). A failure is a 503 that names no address."""
    from botocore.exceptions import BotoCoreError, ClientError  # noqa: PLC0415

    sender = settings().mail_from
    if not sender:
        raise ConfigError("invalid or missing configuration: MAIL_FROM")
    try:
        aws.client("sesv2").send_email(
            FromEmailAddress=sender,
            Destination={"ToAddresses": [to]},
            Content={
                "Simple": {
                    "Subject": {"Data": subject, "Charset": "UTF-8"},
                    "Body": {"Text": {"Data": text, "Charset": "UTF-8"}},
                }
            },
        )
    except (ClientError, BotoCoreError) as exc:
        raise Unavailable("the mail service is unavailable; retry later", code="mail_unavailable") from exc
