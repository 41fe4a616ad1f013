"""Keyless sign-in of a workload (`strongroom login --oidc-token … | --aws-iam --identity ID`): the
proof the platform already gave the job, exchanged at `POST /v1/auth/identity/token` for a
short-lived service token.

The proofs are made by the SDK's code (strongroom_sdk.identity). For AWS IAM, the CLI signs an
`sts:GetCallerIdentity` request with botocore's SigV4 and the ambient credentials (environment,
profile, instance or task role), bound to the identity by the signed header
`X-Strongroom-Identity`, and sends the signed request, never the credentials: the server forwards
it to STS, which names the caller. botocore is optional for the CLI
(`pip install 'strongroom-cli[aws]'`); without it `--aws-iam` says so.

A login made from a proof the platform renews (`--aws-iam`: the ambient credentials;
`--oidc-token-file`: a file the platform rewrites, as Kubernetes does its projected token) is
stored with how to make it again, and `run` renews it when it has expired (or the server refuses
it): a short-lived token needs no cron job. A JWT given as an argument is accepted once, so that
login is not renewed."""

from __future__ import annotations

import time
from datetime import datetime
from pathlib import Path
from typing import Any

from strongroom_sdk.identity import EXCHANGE, ambient_region, region_of, signed_caller_identity
from strongroom_sdk.identity import ProofError as WorkloadError
from strongroom_sdk.identity import read_token_file as _read

__all__ = ["WorkloadError", "ambient_region", "region_of", "signed_caller_identity"]


RENEW_AHEAD_SECONDS = 30


def _post(api_url: str, body: dict[str, Any]) -> tuple[int, Any]:
    import httpx  # noqa: PLC0415

    try:
        resp = httpx.Client(base_url=api_url, timeout=30.0).post(EXCHANGE, json=body)
    except httpx.HTTPError as exc:
        raise WorkloadError(f"cannot reach {api_url}: {exc}") from None
    try:
        return resp.status_code, resp.json()
    except ValueError:
        return resp.status_code, resp.text


def exchange(
    api_url: str, identity_id: str, *, jwt: str | None = None, aws_region: str | None = None, aws: bool = False
) -> tuple[int, Any]:
    """(status, payload) of the token exchange with a JWT, or a GetCallerIdentity signed for
    `aws_region` (default: the ambient region, and once more for the region the stack names)."""
    body: dict[str, Any] = {"identity": identity_id}
    if not aws:
        body["jwt"] = (jwt or "").strip()
        return _post(api_url, body)
    body["aws"] = signed_caller_identity(identity_id, aws_region or ambient_region())
    status, payload = _post(api_url, body)
    wanted = payload.get("error", {}).get("details", {}).get("sts_url", "") if isinstance(payload, dict) else ""
    if status == 401 and not aws_region and region_of(wanted):
        # signed for another region than the stack's: once more, for the endpoint it names
        body["aws"] = signed_caller_identity(identity_id, str(region_of(wanted)))
        status, payload = _post(api_url, body)
    return status, payload


def read_token_file(path: Path) -> str:
    return _read(path)


def login_entry(identity_id: str, payload: dict[str, Any], how: dict[str, str]) -> dict[str, str]:
    """The stored login of an exchanged token, with how to renew it (`how`: empty when it cannot be)."""
    return {"token": str(payload["token"]), "identity": identity_id, "expires_at": str(payload["expires_at"]), **how}


def renewable(login: dict[str, str]) -> bool:
    return bool(login.get("identity")) and login.get("renew") in {"aws_iam", "oidc_token_file"}


def due(login: dict[str, str]) -> bool:
    """Whether the stored token expires within RENEW_AHEAD_SECONDS (or its expiry is unreadable)."""
    try:
        expires = datetime.fromisoformat(login.get("expires_at", "").replace("Z", "+00:00")).timestamp()
    except ValueError:
        return True
    return expires - time.time() < RENEW_AHEAD_SECONDS


def renew(api_url: str, login: dict[str, str]) -> dict[str, str]:
    """The login made again from the proof it was made with; WorkloadError when refused."""
    identity_id = login["identity"]
    if login["renew"] == "aws_iam":
        status, payload = exchange(api_url, identity_id, aws=True, aws_region=login.get("aws_region") or None)
    else:
        jwt = read_token_file(Path(login["token_file"]))
        status, payload = exchange(api_url, identity_id, jwt=jwt)
    if status != 200 or not isinstance(payload, dict):
        error = payload.get("error", {}) if isinstance(payload, dict) else {}
        raise WorkloadError(f"renewing the login as {identity_id} was refused: {error.get('code', status)}")
    how = {k: login[k] for k in ("renew", "token_file", "aws_region") if login.get(k)}
    return login_entry(identity_id, payload, how)
