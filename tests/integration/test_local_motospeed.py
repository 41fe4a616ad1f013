"""The local stack's direct JSON serialization of DynamoDB results (strongroom_local/motospeed.py)
changes no response: the same calls, with the patch on and off, give the same parsed responses and
the same errors, and every body the fast path writes is byte for byte the one moto's serializer
writes for the same result."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError

from strongroom_local import LocalStack, motospeed

BLOB = bytes(range(256)) * 3


@pytest.fixture
def table(stack: LocalStack) -> Iterator[str]:
    assert stack.resources is not None
    name = f"motospeed-{secrets.token_hex(4)}"
    client = boto3.client("dynamodb")
    client.create_table(
        TableName=name,
        KeySchema=[{"AttributeName": "PK", "KeyType": "HASH"}, {"AttributeName": "SK", "KeyType": "RANGE"}],
        AttributeDefinitions=[
            {"AttributeName": "PK", "AttributeType": "S"},
            {"AttributeName": "SK", "AttributeType": "S"},
            {"AttributeName": "G", "AttributeType": "S"},
        ],
        GlobalSecondaryIndexes=[
            {
                "IndexName": "ByG",
                "KeySchema": [{"AttributeName": "G", "KeyType": "HASH"}],
                "Projection": {"ProjectionType": "KEYS_ONLY"},
            }
        ],
        BillingMode="PAY_PER_REQUEST",
    )
    yield name
    client.delete_table(TableName=name)


def _item(pk: str, sk: str, n: int) -> dict[str, Any]:
    return {
        "PK": {"S": pk},
        "SK": {"S": sk},
        "G": {"S": "g"},
        "n": {"N": str(n)},
        "f": {"N": "-1.25e-3"},
        "big": {"N": "123456789012345678901234567890"},
        "b": {"B": BLOB[: n + 1]},
        "bs": {"BS": [b"\x00", b"\xff\xfe", BLOB[:7]]},
        "ss": {"SS": ["a", "é", "\u2603"]},
        "ns": {"NS": ["1", "2.5"]},
        "t": {"BOOL": n % 2 == 0},
        "z": {"NULL": True},
        "s": {"S": 'quote " backslash \\ newline \n tab \t nul \x00 emoji \U0001f600'},
        "m": {
            "M": {
                "x": {"L": [{"N": "1"}, {"S": "two"}, {"M": {"deep": {"B": b"\x01\x02"}}}, {"L": []}]},
                "e": {"M": {}},
            }
        },
    }


def _scenario(table: str) -> list[Any]:
    """A representative set of DynamoDB calls: each outcome, parsed (ResponseMetadata removed) or the error."""
    client = boto3.client("dynamodb")
    out: list[Any] = []

    def call(operation: str, **params: Any) -> None:
        try:
            response = getattr(client, operation)(**params)
        except ClientError as error:
            response = {
                "error": error.response["Error"],
                **{k: v for k, v in error.response.items() if k not in {"Error", "ResponseMetadata"}},
            }
        else:
            response.pop("ResponseMetadata", None)
        out.append((operation, response))

    key = {"PK": {"S": "p"}, "SK": {"S": "0"}}
    for i in range(12):
        call("put_item", TableName=table, Item=_item("p", f"{i:02}", i))
    call("put_item", TableName=table, Item=_item("p", "00", 99), ReturnValues="ALL_OLD", ReturnConsumedCapacity="TOTAL")
    call("get_item", TableName=table, Key={"PK": {"S": "p"}, "SK": {"S": "00"}}, ConsistentRead=True)
    call("get_item", TableName=table, Key=key)  # absent: no Item
    call(
        "get_item",
        TableName=table,
        Key={"PK": {"S": "p"}, "SK": {"S": "03"}},
        ProjectionExpression="#n, m.x[2], bs",
        ExpressionAttributeNames={"#n": "n"},
        ReturnConsumedCapacity="INDEXES",
    )
    keys = [{"PK": {"S": "p"}, "SK": {"S": f"{i:02}"}} for i in (1, 4, 7)] + [key]
    call("batch_get_item", RequestItems={table: {"Keys": keys}})
    call(
        "batch_get_item",
        RequestItems={table: {"Keys": keys, "ProjectionExpression": "SK, ss"}},
        ReturnConsumedCapacity="TOTAL",
    )
    start: dict[str, Any] | None = None
    for _ in range(5):  # pagination: LastEvaluatedKey until the end
        extra = {"ExclusiveStartKey": start} if start else {}
        call(
            "query",
            TableName=table,
            KeyConditionExpression="PK = :p AND SK > :s",
            ExpressionAttributeValues={":p": {"S": "p"}, ":s": {"S": "00"}},
            Limit=4,
            ProjectionExpression="SK, b, m.x",
            **extra,
        )
        start = out[-1][1].get("LastEvaluatedKey")
        if not start:
            break
    call(
        "query",
        TableName=table,
        KeyConditionExpression="PK = :p",
        ExpressionAttributeValues={":p": {"S": "p"}},
        Select="COUNT",
    )
    call(
        "query",
        TableName=table,
        IndexName="ByG",
        KeyConditionExpression="G = :g",
        ExpressionAttributeValues={":g": {"S": "g"}},
        Limit=3,
    )
    call(
        "query",
        TableName=table,
        KeyConditionExpression="PK = :p",
        FilterExpression="n > :n",
        ExpressionAttributeValues={":p": {"S": "p"}, ":n": {"N": "5"}},
        ScanIndexForward=False,
    )
    call("scan", TableName=table, Limit=5)
    for returns in ("ALL_NEW", "UPDATED_OLD", "UPDATED_NEW", "ALL_OLD", "NONE"):
        call(
            "update_item",
            TableName=table,
            Key={"PK": {"S": "p"}, "SK": {"S": "02"}},
            UpdateExpression=(
                "SET n = n + :one, m.x[0] = :b, newlist = list_append(if_not_exists(newlist, :empty), :l) ADD ns :ns"
            ),
            ExpressionAttributeValues={
                ":one": {"N": "1"},
                ":b": {"B": b"\x00\x10"},
                ":empty": {"L": []},
                ":l": {"L": [{"NULL": True}]},
                ":ns": {"NS": ["7"]},
            },
            ReturnValues=returns,
        )
    call(
        "put_item",
        TableName=table,
        Item=_item("p", "01", 1),
        ConditionExpression="attribute_not_exists(PK)",
        ReturnValuesOnConditionCheckFailure="ALL_OLD",
    )
    call(
        "update_item",
        TableName=table,
        Key=key,
        UpdateExpression="SET a = :a",
        ConditionExpression="attribute_exists(PK)",
        ExpressionAttributeValues={":a": {"S": "x"}},
    )
    call(
        "transact_write_items",
        TransactItems=[
            {
                "Put": {
                    "TableName": table,
                    "Item": _item("q", "1", 1),
                    "ConditionExpression": "attribute_not_exists(PK)",
                }
            },
            {
                "ConditionCheck": {
                    "TableName": table,
                    "Key": {"PK": {"S": "p"}, "SK": {"S": "05"}},
                    "ConditionExpression": "n = :zero",
                    "ExpressionAttributeValues": {":zero": {"N": "0"}},
                    "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
                }
            },
        ],
    )
    call(
        "transact_write_items",
        TransactItems=[
            {"Put": {"TableName": table, "Item": _item("q", "1", 1)}},
            {"Delete": {"TableName": table, "Key": {"PK": {"S": "p"}, "SK": {"S": "11"}}}},
        ],
    )
    call(
        "transact_get_items",
        TransactItems=[
            {"Get": {"TableName": table, "Key": {"PK": {"S": "q"}, "SK": {"S": "1"}}}},
            {"Get": {"TableName": table, "Key": key}},
        ],
    )
    call(
        "batch_write_item",
        RequestItems={
            table: [{"PutRequest": {"Item": _item("r", str(i), i)}} for i in range(3)]
            + [{"DeleteRequest": {"Key": {"PK": {"S": "p"}, "SK": {"S": "10"}}}}]
        },
    )
    call("delete_item", TableName=table, Key={"PK": {"S": "p"}, "SK": {"S": "09"}}, ReturnValues="ALL_OLD")
    call("get_item", TableName="no-such-table", Key=key)
    call("query", TableName=table, KeyConditionExpression="nope = :p", ExpressionAttributeValues={":p": {"S": "p"}})
    call("describe_table", TableName=table)
    return out


def _normalised(outcomes: list[Any]) -> list[Any]:
    """describe_table's clock-dependent fields aside, outcomes as they are."""
    for operation, response in outcomes:
        if operation == "describe_table":
            response["Table"].pop("CreationDateTime", None)
            for index in response["Table"].get("GlobalSecondaryIndexes", []):
                index.pop("IndexCreationDateTime", None)
    return outcomes


def test_same_responses_and_errors_with_and_without_the_patch(
    table: str, stack: LocalStack, monkeypatch: pytest.MonkeyPatch
) -> None:
    from moto.core.responses import ActionResult

    assert motospeed._dynamodb_installed
    fast = motospeed.fast_dynamodb_json
    checked: list[str] = []

    def checking(result: Any, operation_model: Any) -> Any:  # every fast body against moto's own for the same result
        import copy

        from moto.core.responses import ActionContext, BaseResponse
        from moto.core.serialize import JSONSerializer
        from moto.core.utils import get_service_model

        mine = fast(copy.deepcopy(result), operation_model)
        context = ActionContext(
            get_service_model("dynamodb"), operation_model, JSONSerializer, BaseResponse("dynamodb")
        )
        theirs = ActionResult.execute_result.__wrapped__(ActionResult(result), context)  # type: ignore[attr-defined]
        assert mine == tuple(theirs), operation_model.name
        checked.append(operation_model.name)
        return mine

    monkeypatch.setattr(motospeed, "fast_dynamodb_json", checking)
    with_patch = _normalised(_scenario(table))
    assert {
        "GetItem",
        "BatchGetItem",
        "Query",
        "Scan",
        "PutItem",
        "UpdateItem",
        "DeleteItem",
        "TransactGetItems",
        "BatchWriteItem",
    } <= set(checked)
    assert len(checked) >= 30

    for operation, response in with_patch:  # the scenario covers what it says
        if "error" in response:
            continue
        assert operation != "batch_get_item" or not response.get("UnprocessedKeys")
    errors = {response["error"]["Code"] for _, response in with_patch if "error" in response}
    assert {
        "ConditionalCheckFailedException",
        "TransactionCanceledException",
        "ResourceNotFoundException",
        "ValidationException",
    } <= errors
    cancelled = next(r for op, r in with_patch if op == "transact_write_items" and "error" in r)
    assert [reason["Code"] for reason in cancelled["CancellationReasons"]] == ["None", "ConditionalCheckFailed"]
    assert sum(1 for op, r in with_patch if op == "query" and "LastEvaluatedKey" in r) >= 2

    client = boto3.client("dynamodb")
    client.delete_table(TableName=table)
    motospeed.uninstall_dynamodb_json()
    try:
        assert not hasattr(ActionResult.execute_result, "__wrapped__")
        checked.clear()
        without = _normalised(_scenario(_recreate(client, table)))
        assert checked == []
    finally:
        motospeed.serialize_dynamodb_json_directly()
    assert hasattr(ActionResult.execute_result, "__wrapped__")
    assert with_patch == without


def _recreate(client: Any, name: str) -> str:
    """The same empty table again (the fixture's definition, read back from the one just deleted)."""
    client.create_table(
        TableName=name,
        KeySchema=[{"AttributeName": "PK", "KeyType": "HASH"}, {"AttributeName": "SK", "KeyType": "RANGE"}],
        AttributeDefinitions=[
            {"AttributeName": "PK", "AttributeType": "S"},
            {"AttributeName": "SK", "AttributeType": "S"},
            {"AttributeName": "G", "AttributeType": "S"},
        ],
        GlobalSecondaryIndexes=[
            {
                "IndexName": "ByG",
                "KeySchema": [{"AttributeName": "G", "KeyType": "HASH"}],
                "Projection": {"ProjectionType": "KEYS_ONLY"},
            }
        ],
        BillingMode="PAY_PER_REQUEST",
    )
    return name


def test_install_is_idempotent(stack: LocalStack) -> None:
    from moto.core.responses import ActionResult

    patched = ActionResult.execute_result
    motospeed.serialize_dynamodb_json_directly()
    assert ActionResult.execute_result is patched
