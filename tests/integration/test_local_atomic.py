"""DynamoDB requests are atomic on the local stack, as on DynamoDB: of 20 concurrent conditional
writes of one key, exactly one succeeds; a cancelled transaction leaves nothing and takes nothing
with it.

moto evaluates a condition and then writes, and nothing holds other threads back in between;
the race is real but its window is a few bytecodes wide. These tests widen it (a pause after
moto evaluates a condition) so that a missing lock is caught every time, not once in a while,
and control tests show that without the lock the same races do go wrong.
"""

from __future__ import annotations

import secrets
import threading
import time
from collections.abc import Callable
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError

from strongroom_local import LocalStack, atomic

THREADS = 20
PAUSE = 0.05  # seconds after each condition evaluation: wider than 20 requests' parsing


@pytest.fixture
def table(stack: LocalStack) -> str:
    assert stack.resources is not None
    assert atomic.is_installed()
    return stack.resources.refs["Table"]


@pytest.fixture
def condition_evaluated(monkeypatch: pytest.MonkeyPatch) -> threading.Event:
    """Make moto pause after it evaluates a condition (before it writes, or cancels a transaction);
    the event is set as the pause begins."""
    import moto.dynamodb.models.table as table_module
    from moto.dynamodb import models

    evaluated = threading.Event()

    def slowed(original: Callable[..., Any]) -> Callable[..., Any]:
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            op = original(*args, **kwargs)
            evaluate = op.expr

            def expr(item: Any) -> Any:
                result = evaluate(item)
                evaluated.set()
                time.sleep(PAUSE)
                return result

            op.expr = expr
            return op

        return wrapper

    monkeypatch.setattr(table_module, "get_filter_expression", slowed(table_module.get_filter_expression))
    monkeypatch.setattr(models, "get_filter_expression", slowed(models.get_filter_expression))
    return evaluated


def client() -> Any:
    return boto3.client("dynamodb", region_name="us-east-1")


def race(write: Callable[[Any, int], None]) -> tuple[list[int], list[str]]:
    """Run `write(client, i)` in THREADS threads released together; (winners, error codes of the rest)."""
    shared = client()  # botocore clients are thread-safe
    barrier = threading.Barrier(THREADS)
    winners: list[int] = []
    errors: list[str] = []
    lock = threading.Lock()

    def run(i: int) -> None:
        barrier.wait()
        try:
            write(shared, i)
        except ClientError as exc:
            with lock:
                errors.append(exc.response["Error"]["Code"])
        else:
            with lock:
                winners.append(i)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(THREADS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    return winners, errors


def items_of(table: str, pk: str) -> dict[str, dict[str, Any]]:
    items = client().query(
        TableName=table,
        KeyConditionExpression="PK = :pk",
        ExpressionAttributeValues={":pk": {"S": pk}},
        ConsistentRead=True,
    )["Items"]
    return {i["SK"]["S"]: i for i in items}


# --------------------------------------------------------------------------- conditional puts


def conditional_puts(table: str, pk: str) -> Callable[[Any, int], None]:
    def write(c: Any, i: int) -> None:
        c.put_item(
            TableName=table,
            Item={"PK": {"S": pk}, "SK": {"S": "lock"}, "writer": {"N": str(i)}},
            ConditionExpression="attribute_not_exists(PK)",
        )

    return write


@pytest.mark.usefixtures("condition_evaluated")
def test_twenty_concurrent_conditional_puts_one_success(table: str) -> None:
    pk = f"TEST#atomic#{secrets.token_hex(6)}"
    winners, errors = race(conditional_puts(table, pk))
    assert len(winners) == 1, f"{len(winners)} writers passed attribute_not_exists"
    assert errors == ["ConditionalCheckFailedException"] * (THREADS - 1)
    assert items_of(table, pk)["lock"]["writer"]["N"] == str(winners[0])  # the winner's item, not overwritten


# --------------------------------------------------------------------------- cancelled transactions


def transactions_and_puts(table: str, pk: str, evaluated: threading.Event) -> Callable[[Any, int], None]:
    """Even writers: a transaction that puts an item, then fails a condition check (so it is
    cancelled and must leave nothing). Odd writers: a plain put of their own item, sent while a
    transaction is under way (once some condition has been evaluated)."""

    def write(c: Any, i: int) -> None:
        if i % 2:
            evaluated.wait(timeout=5)
            c.put_item(TableName=table, Item={"PK": {"S": pk}, "SK": {"S": f"plain#{i}"}})
            return
        c.transact_write_items(
            TransactItems=[
                {"Put": {"TableName": table, "Item": {"PK": {"S": pk}, "SK": {"S": f"cancelled#{i}"}}}},
                {
                    "ConditionCheck": {
                        "TableName": table,
                        "Key": {"PK": {"S": pk}, "SK": {"S": "guard"}},
                        "ConditionExpression": "attribute_not_exists(PK)",
                    }
                },
            ]
        )

    return write


def expected_after_transactions() -> list[str]:
    """Every plain write, no cancelled transaction's item."""
    return sorted(["guard", *(f"plain#{i}" for i in range(1, THREADS, 2))])


def _guarded_key(table: str) -> str:
    pk = f"TEST#atomic-tx#{secrets.token_hex(6)}"
    client().put_item(TableName=table, Item={"PK": {"S": pk}, "SK": {"S": "guard"}})
    return pk


def test_a_cancelled_transaction_never_erases_a_concurrent_write(
    table: str, condition_evaluated: threading.Event
) -> None:
    # moto cancels a transaction by restoring a copy of the whole table taken when it began, so a
    # write that landed in between would vanish. On DynamoDB it cannot.
    pk = _guarded_key(table)
    winners, errors = race(transactions_and_puts(table, pk, condition_evaluated))
    assert sorted(winners) == list(range(1, THREADS, 2))
    assert errors == ["TransactionCanceledException"] * (THREADS // 2)
    assert sorted(items_of(table, pk)) == expected_after_transactions()


def test_a_transaction_copies_no_table_and_still_rolls_back(table: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """moto backs the whole table up once per item of a transaction; the local stack keeps only
    the touched items, and a cancelled transaction still leaves nothing behind."""
    import copy

    from moto.dynamodb.models.table import Table

    copies: list[str] = []
    real = copy.deepcopy

    def counting(obj: Any, memo: Any = None) -> Any:
        if isinstance(obj, Table):
            copies.append(obj.name)
        return real(obj, memo)

    monkeypatch.setattr(copy, "deepcopy", counting)
    client = boto3.client("dynamodb", region_name="us-east-1")
    pk = f"TEST#copies#{secrets.token_hex(6)}"
    puts = [{"Put": {"TableName": table, "Item": {"PK": {"S": pk}, "SK": {"S": f"item#{i}"}}}} for i in range(10)]
    shard = _stream_shard(table)
    before = len(shard.items)
    client.transact_write_items(TransactItems=puts)
    assert copies == []
    assert len(shard.items) == before + 10  # committed writes reach the stream
    # a transaction whose last item fails writes none of the others
    copies.clear()
    doomed = [{"Put": {"TableName": table, "Item": {"PK": {"S": pk}, "SK": {"S": f"new#{i}"}}}} for i in range(5)] + [
        {
            "Put": {
                "TableName": table,
                "Item": {"PK": {"S": pk}, "SK": {"S": "item#0"}},
                "ConditionExpression": "attribute_not_exists(PK)",
            }
        }
    ]
    with pytest.raises(ClientError):
        client.transact_write_items(TransactItems=doomed)
    assert copies == []
    assert len(_stream_shard(table).items) == before + 10  # the cancelled one's five applied puts do not
    left = client.query(TableName=table, KeyConditionExpression="PK = :p", ExpressionAttributeValues={":p": {"S": pk}})[
        "Items"
    ]
    assert sorted(i["SK"]["S"] for i in left) == [f"item#{i}" for i in range(10)]


def _stream_shard(table: str) -> Any:
    from moto.core import DEFAULT_ACCOUNT_ID
    from moto.dynamodb.models import dynamodb_backends

    shard = dynamodb_backends[DEFAULT_ACCOUNT_ID]["us-east-1"].tables[table].stream_shard
    assert shard is not None
    return shard


def test_moto_keeps_no_registry_of_items_or_table_copies(table: str) -> None:
    """moto's BaseModel lists every instance it creates (for resetting a mock), the table copy of
    each transaction included: a long-running stack grew by gigabytes. The local stack keeps
    DynamoDB's models out of that registry."""
    from moto.core.model_instances import model_data

    client = boto3.client("dynamodb", region_name="us-east-1")
    pk = f"TEST#registry#{secrets.token_hex(6)}"
    for n in range(5):
        puts = [{"Put": {"TableName": table, "Item": {"PK": {"S": pk}, "SK": {"S": f"{n}#{i}"}}}} for i in range(3)]
        client.transact_write_items(TransactItems=puts)
    tracked = {name: len(model.instances_tracked) for name, model in model_data["dynamodb"].items()}
    assert tracked == dict.fromkeys(model_data["dynamodb"], 0)
