"""Who an AWS workload is, asked of STS with the workload's own signature.

The workload signs (SigV4, its ambient credentials) an `sts:GetCallerIdentity` request for this
stack's STS endpoint and sends us the request: method, URL, headers, body. We check its shape,
then send those headers and that body to STS ourselves, with a client that signs nothing: STS
verifies the signature and answers with the caller's ARN. No AWS credential of the workload ever
reaches us (a signature is no credential), and ours never go out with the request.

- The endpoint is the one botocore resolves for this function's region (the regional
  `https://sts.<region>.amazonaws.com`), never a URL the caller names: a request signed for
  another URL is refused here (and would fail STS's check of the signed Host anyway).
- The signature must cover `Host` and `X-Strongroom-Identity: <the identity's ID>`, so that a
  GetCallerIdentity signed for something else (another service that verifies callers this way)
  cannot be replayed here, nor one meant for another identity.
- Only the SigV4 headers (and an optional signed `X-Strongroom-Nonce`) are forwarded; the body
  must be exactly GetCallerIdentity's.
"""

from __future__ import annotations

import hashlib
import re
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qsl

from strongroom import aws
from strongroom.errors import Unauthorized, Unavailable

BODY = {"Action": "GetCallerIdentity", "Version": "2011-06-15"}
BINDING_HEADER = "x-strongroom-identity"
# Optional, signed: SigV4 is deterministic, so two requests signed in the same second with the
# same credentials are the same request (a replay) unless something in them differs.
NONCE_HEADER = "x-strongroom-nonce"
# STS accepts a signature for 15 minutes after X-Amz-Date (and a little before it).
SIGNATURE_LIFETIME = timedelta(minutes=15)
_FORWARDED = {
    "authorization": "Authorization",
    "content-type": "Content-Type",
    "x-amz-date": "X-Amz-Date",
    "x-amz-security-token": "X-Amz-Security-Token",
    "x-amz-content-sha256": "X-Amz-Content-SHA256",
    BINDING_HEADER: "X-Strongroom-Identity",
    NONCE_HEADER: "X-Strongroom-Nonce",
}
_AUTHORIZATION = re.compile(
    r"^AWS4-HMAC-SHA256 Credential=(?P<key>[A-Z0-9]{16,128})/(?P<date>[0-9]{8})/(?P<region>[a-z0-9-]{1,32})/sts/"
    r"aws4_request, ?SignedHeaders=(?P<signed>[a-z0-9;-]{1,512}), ?Signature=(?P<signature>[0-9a-f]{64})$"
)
_ARN = re.compile(
    r"^arn:(?P<partition>aws[a-z-]*):(?P<service>sts|iam)::(?P<account>[0-9]{12}):"
    r"(?P<kind>assumed-role|role|user)/(?P<rest>[\w+=,.@/-]{1,512})$"
)
_REFUSED_CODES = frozenset({"Throttling", "ThrottlingException", "RequestLimitExceeded", "ServiceUnavailable"})


@dataclass(frozen=True, slots=True)
class SignedRequest:
    """A signed GetCallerIdentity that passed the shape checks: what to forward, and what makes it
    one of a kind (the SHA-256 of its signature) until when."""

    headers: dict[str, str]
    body: str
    digest: str
    valid_until: datetime


@dataclass(frozen=True, slots=True)
class Caller:
    arn: str  # what STS answered (an assumed role's ARN names the role and the session)
    account: str
    role_arn: str | None  # the IAM role's ARN, for a role or an assumed role (without its path)


def endpoint() -> str:
    """This stack's STS endpoint: botocore's for the function's region."""
    return str(aws.unsigned_client("sts").meta.endpoint_url).rstrip("/")


def _refuse(reason: str) -> Unauthorized:
    return Unauthorized(
        f"the signed GetCallerIdentity request was not accepted: {reason}", code="invalid_aws_signature"
    )


def check(method: str, url: str, headers: dict[str, str], body: str, identity_id: str) -> SignedRequest:
    """401 unless this is a SigV4-signed GetCallerIdentity for our endpoint, bound to the identity."""
    if method != "POST" or url.rstrip("/") != endpoint():
        raise Unauthorized(
            "the request must be a POST signed for this stack's STS endpoint",
            code="invalid_aws_signature",
            details={"sts_url": endpoint() + "/"},
        )
    if dict(parse_qsl(body, keep_blank_values=True)) != BODY or body.count("&") != 1:
        raise _refuse("the body must be GetCallerIdentity's")
    lowered = {k.lower(): v for k, v in headers.items()}
    found = _AUTHORIZATION.match(lowered.get("authorization", ""))
    if found is None:
        raise _refuse("Authorization is not an AWS4-HMAC-SHA256 signature for STS")
    signed = set(found.group("signed").split(";"))
    if not {"host", "x-amz-date", BINDING_HEADER} <= signed:
        raise _refuse("the signature must cover Host, X-Amz-Date and X-Strongroom-Identity")
    if lowered.get(BINDING_HEADER) != identity_id:
        raise _refuse("X-Strongroom-Identity must be the identity's ID")
    try:
        signed_at = datetime.strptime(lowered.get("x-amz-date", ""), "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
    except ValueError:
        raise _refuse("X-Amz-Date is missing or malformed") from None
    forwarded = {_FORWARDED[k]: v for k, v in lowered.items() if k in _FORWARDED}
    digest = hashlib.sha256(f"sigv4:{found.group('signature')}".encode()).hexdigest()
    return SignedRequest(forwarded, body, digest, signed_at + SIGNATURE_LIFETIME)


_pending: ContextVar[SignedRequest | None] = ContextVar("strongroom_sts_signed_request", default=None)


def _use_callers_signature(request: Any, **_: Any) -> None:
    """botocore's `request-created` hook: the request goes out with the caller's signed headers and
    the exact body they signed (and nothing of ours)."""
    signed = _pending.get()
    if signed is None:
        raise RuntimeError("a GetCallerIdentity without a caller's signature")
    for name in list(request.headers.keys()):
        del request.headers[name]
    for name, value in signed.headers.items():
        request.headers[name] = value
    request.data = signed.body


def _client() -> Any:
    client = aws.unsigned_client("sts")
    if not getattr(client, "_strongroom_forwards", False):
        client.meta.events.register("request-created.sts.GetCallerIdentity", _use_callers_signature)
        client._strongroom_forwards = True
    return client


def caller(signed: SignedRequest) -> Caller:
    """Forward the signed request to STS: the caller it names, or 401 for a signature STS refuses
    (tampered, expired, unknown key), 503 when STS cannot answer."""
    from botocore.exceptions import BotoCoreError, ClientError  # noqa: PLC0415

    token = _pending.set(signed)
    try:
        answer = _client().get_caller_identity()
    except ClientError as exc:
        code = str(exc.response.get("Error", {}).get("Code", ""))
        status = int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0) or 0)
        if code in _REFUSED_CODES or status >= 500:
            raise Unavailable("AWS STS could not answer; retry") from None
        raise _refuse("STS refused its signature") from None
    except BotoCoreError:
        raise Unavailable("AWS STS could not be reached; retry") from None
    finally:
        _pending.reset(token)
    return parse_arn(str(answer.get("Arn", "")))


def parse_arn(arn: str) -> Caller:
    """The caller an STS ARN names; an assumed role's ARN maps to its role's ARN (STS's answer does
    not carry the role's path, so neither does the mapped ARN)."""
    found = _ARN.match(arn)
    if found is None:
        raise Unavailable("AWS STS answered with an ARN this stack cannot read")
    partition, account, kind, rest = found.group("partition", "account", "kind", "rest")
    role_arn = None
    if kind == "assumed-role":
        role_arn = f"arn:{partition}:iam::{account}:role/{rest.split('/', 1)[0]}"
    elif kind == "role":
        role_arn = f"arn:{partition}:iam::{account}:role/{rest.rsplit('/', 1)[-1]}"
    return Caller(arn=arn, account=account, role_arn=role_arn)
