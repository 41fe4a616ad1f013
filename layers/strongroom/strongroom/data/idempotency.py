"""Idempotency records (`IDEMPOTENCY#<function> / http#…`): Powertools' DynamoDB persistence
layer on the table, the one place outside `db` that hands the table's client to a library."""

from __future__ import annotations

import os
from typing import Any

from strongroom import aws
from strongroom.config import settings
from strongroom.data import keys


def persistence() -> Any:
    """The store of this function's idempotency records (strongroom.http.app's middleware)."""
    from aws_lambda_powertools.utilities.idempotency import DynamoDBPersistenceLayer  # noqa: PLC0415

    function = os.environ.get("AWS_LAMBDA_FUNCTION_NAME", "local")
    return DynamoDBPersistenceLayer(
        table_name=settings().table_name,
        key_attr=keys.PK,
        sort_key_attr=keys.SK,
        static_pk_value=keys.idempotency_partition(function),
        expiry_attr=keys.TTL,
        in_progress_expiry_attr="in_progress_expires_at",
        status_attr="idempotency_status",
        data_attr="idempotency_data",
        validation_key_attr="idempotency_validation",
        boto3_client=aws.dynamodb(),
    )
