"""A machine identity's proof, made where the workload runs: an OIDC JWT (given, or read from a
file the platform rewrites, as Kubernetes does its projected token), or an `sts:GetCallerIdentity`
signed with botocore's SigV4 from the ambient AWS credentials (botocore is in every Lambda
runtime; elsewhere `pip install 'strongroom-sdk[aws]'`). The signed request, never a credential,
goes to Strongroom, which forwards it to STS. Shared by the SDK's Client and the CLI's login."""

from __future__ import annotations

import re
import secrets
from pathlib import Path
from typing import Any

EXCHANGE = "/v1/auth/identity/token"
BODY = "Action=GetCallerIdentity&Version=2011-06-15"
STS_URL = re.compile(r"^https://sts\.([a-z0-9-]{1,32})\.amazonaws\.com(?:\.cn)?/$")


class ProofError(Exception):
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
    """A GetCallerIdentity for `region`'s STS endpoint, signed with the ambient credentials and
    bound to the identity (the signed header X-Strongroom-Identity)."""
    try:
        import botocore.session  # noqa: PLC0415
        from botocore.auth import SigV4Auth  # noqa: PLC0415
        from botocore.awsrequest import AWSRequest  # noqa: PLC0415
    except ImportError:
        raise ProofError("an AWS IAM proof is signed with botocore, which is not installed") from None
    credentials = botocore.session.Session().get_credentials()
    if credentials is None:
        raise ProofError("no AWS credentials found (environment, profile, or instance/task role)")
    url = sts_url(region)
    request = AWSRequest(
        method="POST",
        url=url,
        data=BODY,
        headers={
            "Content-Type": "application/x-www-form-urlencoded; charset=utf-8",
            "X-Strongroom-Identity": identity_id,
            # SigV4 is deterministic: without it, two sign-ins in a second would be one (a replay)
            "X-Strongroom-Nonce": secrets.token_hex(16),
        },
    )
    SigV4Auth(credentials.get_frozen_credentials(), "sts", region).add_auth(request)
    return {"method": "POST", "url": url, "headers": dict(request.headers.items()), "body": BODY}


def read_token_file(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8").strip()
    except OSError as exc:
        raise ProofError(f"cannot read {path}: {exc.strerror}") from None
