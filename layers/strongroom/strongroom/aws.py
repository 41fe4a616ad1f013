"""Lazily created, cached boto3 clients. Nothing is created at import time; tests may replace them."""

from __future__ import annotations

from functools import cache
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_kms import KMSClient
    from mypy_boto3_sqs import SQSClient

_overrides: dict[str, Any] = {}


@cache
def _client(name: str) -> Any:
    import boto3  # noqa: PLC0415 - deferred so that importing the layer stays cheap
    from botocore.config import Config  # noqa: PLC0415

    config = Config(retries={"mode": "standard", "max_attempts": 3}, connect_timeout=2, read_timeout=5)
    return boto3.session.Session().client(name, config=config)  # type: ignore[call-overload]


def client(name: str) -> Any:
    return _overrides.get(name) or _client(name)


@cache
def _unsigned_client(name: str) -> Any:
    import boto3  # noqa: PLC0415
    from botocore import UNSIGNED  # noqa: PLC0415
    from botocore.config import Config  # noqa: PLC0415

    config = Config(
        signature_version=UNSIGNED, retries={"mode": "standard", "max_attempts": 2}, connect_timeout=2, read_timeout=5
    )
    return boto3.session.Session().client(name, config=config)  # type: ignore[call-overload]


def unsigned_client(name: str) -> Any:
    """A client that signs nothing (this function's credentials never go out with its requests):
    for requests the caller signed (security/sts.py). Tests may replace it as `<name>:unsigned`."""
    return _overrides.get(f"{name}:unsigned") or _unsigned_client(name)


def assumed_client(name: str, *, region: str, credentials: dict[str, Any]) -> Any:
    """A client of a customer's account, with the temporary credentials sts:AssumeRole gave (the
    integrations' destinations). Never cached: the credentials live minutes. Tests may replace
    it as `<name>:assumed`."""
    import boto3  # noqa: PLC0415
    from botocore.config import Config  # noqa: PLC0415

    if f"{name}:assumed" in _overrides:
        return _overrides[f"{name}:assumed"]
    config = Config(retries={"mode": "standard", "max_attempts": 3}, connect_timeout=3, read_timeout=10)
    return boto3.session.Session(
        aws_access_key_id=credentials["AccessKeyId"],
        aws_secret_access_key=credentials["SecretAccessKey"],
        aws_session_token=credentials["SessionToken"],
        region_name=region,
    ).client(name, config=config)  # type: ignore[call-overload]


def dynamodb() -> DynamoDBClient:
    return client("dynamodb")  # type: ignore[no-any-return]


def kms() -> KMSClient:
    return client("kms")  # type: ignore[no-any-return]


def sqs() -> SQSClient:
    return client("sqs")  # type: ignore[no-any-return]


def override(name: str, value: Any) -> None:
    """Replace a client (tests: a botocore Stubber-wrapped client)."""
    _overrides[name] = value


def reset() -> None:
    _overrides.clear()
    _client.cache_clear()
    _unsigned_client.cache_clear()
