"""Keyless sign-in of a workload (`strongroom login --oidc-token … | --aws-iam --identity ID`): the
proof the platform already gave the job, exchanged at `POST /v1/auth/identity/token` for a
short-lived service token.

For AWS IAM, the CLI signs an `sts:GetCallerIdentity` request with botocore's SigV4 and the
ambient credentials (environment, profile, instance or task role), bound to the identity by the
signed header `X-Strongroom-Identity`, and sends the signed request, never the credentials: the
server forwards it to STS, which names the caller. botocore is optional for the CLI
(`pip install 'strongroom-cli[aws]'`); without it `--aws-iam` says so."""

from __future__ import annotations

import re
import secrets
from typing import Any

BODY = "Action=GetCallerIdentity&Version=2011-06-15"
STS_URL = re.compile(r"^https://sts\.([a-z0-9-]{1,32})\.amazonaws\.com(?:\.cn)?/$")


class WorkloadError(Exception):
    """The proof cannot be made here (no botocore, no credentials, an unreadable token file)."""


def sts_url(region: str) -> str:
    return f"https://sts.{region}.amazonaws.com/"


def region_of(url: str) -> str | None:
    """The region of a regional STS endpoint URL; None for anything else (never signed for)."""
    found = STS_URL.match(url)
    return found.group(1) if found else None


def ambient_region() -> str:
    """The region botocore's configuration names (AWS_REGION, AWS_DEFAULT_REGION, the profile),
    else us-east-1."""
    try:
        import botocore.session  # noqa: PLC0415
    except ImportError:
        return "us-east-1"
    return str(botocore.session.Session().get_config_variable("region") or "us-east-1")


def signed_caller_identity(identity_id: str, region: str) -> dict[str, Any]:
    """A GetCallerIdentity for `region`'s STS endpoint, signed with the ambient credentials."""
    try:
        import botocore.session  # noqa: PLC0415
        from botocore.auth import SigV4Auth  # noqa: PLC0415
        from botocore.awsrequest import AWSRequest  # noqa: PLC0415
    except ImportError:
        raise WorkloadError(
            "--aws-iam signs with botocore, which is not installed: pip install 'strongroom-cli[aws]'"
        ) from None
    credentials = botocore.session.Session().get_credentials()
    if credentials is None:
        raise WorkloadError("no AWS credentials found (environment, profile, or instance/task role)")
    url = sts_url(region)
    request = AWSRequest(
        method="POST",
        url=url,
        data=BODY,
        headers={
            "Content-Type": "application/x-www-form-urlencoded; charset=utf-8",
            "X-Strongroom-Identity": identity_id,
            # SigV4 is deterministic: without it, two logins in a second would be one (a replay)
            "X-Strongroom-Nonce": secrets.token_hex(16),
        },
    )
    SigV4Auth(credentials.get_frozen_credentials(), "sts", region).add_auth(request)
    return {"method": "POST", "url": url, "headers": dict(request.headers.items()), "body": BODY}
