"""DynamoDB access for the single table, generic: (de)serialization, reads, paginated queries with
opaque tamper-evident cursors, transactional writes and error translation. It knows no entity:
the audited write path of mutations is `data.chain.transact`, the keys and expressions of each
aggregate live in its `data/` module.

This module and `strongroom.data.*` are the only code that talks to DynamoDB.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from strongroom import aws
from strongroom.config import settings
from strongroom.context import current
from strongroom.data import keys
from strongroom.errors import AppError, Conflict, Internal, Invalid, Throttled, Unavailable

MAX_TRANSACTION_ITEMS = 100
_THROTTLING = frozenset(
    {
        "ProvisionedThroughputExceededException",
        "ThrottlingException",
        "RequestLimitExceeded",
    }
)


# --------------------------------------------------------------------------- (de)serialization


def _serializer() -> Any:
    from boto3.dynamodb.types import TypeSerializer  # noqa: PLC0415

    return TypeSerializer()


def _deserializer() -> Any:
    from boto3.dynamodb.types import TypeDeserializer  # noqa: PLC0415

    return TypeDeserializer()


def _plain(value: Any) -> Any:
    from boto3.dynamodb.types import Binary  # noqa: PLC0415

    if isinstance(value, Binary):
        return bytes(value.value)  # type: ignore[attr-defined]
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, set):
        return {_plain(v) for v in value}
    return value


def serialize(item: dict[str, Any]) -> dict[str, Any]:
    ser = _serializer()
    return {k: ser.serialize(_dynamo_value(v)) for k, v in item.items() if v is not None}


def _dynamo_value(value: Any) -> Any:
    if isinstance(value, float):
        return Decimal(str(value))
    if isinstance(value, dict):
        return {k: _dynamo_value(v) for k, v in value.items() if v is not None}
    if isinstance(value, list | tuple):
        return [_dynamo_value(v) for v in value]
    return value


def deserialize(item: dict[str, Any]) -> dict[str, Any]:
    de = _deserializer()
    return {k: _plain(de.deserialize(v)) for k, v in item.items()}


# --------------------------------------------------------------------------- errors


def translate(exc: Exception) -> AppError:
    """Map a botocore failure to the error hierarchy (callers `raise translate(e) from e`)."""
    from botocore.exceptions import BotoCoreError, ClientError  # noqa: PLC0415

    if isinstance(exc, ClientError):
        code = exc.response.get("Error", {}).get("Code", "")
        if code in _THROTTLING:
            return Throttled("the data store is busy; retry shortly", headers={"Retry-After": "1"})
        if code == "ConditionalCheckFailedException":
            return Conflict("the resource changed or already exists")
        if code == "TransactionConflictException":
            return Conflict("a concurrent change touched the same resource; retry")
        if code == "ValidationException":
            # A request DynamoDB refuses as malformed is our bug, not an outage: 500, logged by type.
            return Internal("an internal error occurred")
        return Unavailable("the data store is unavailable")
    if isinstance(exc, BotoCoreError):
        return Unavailable("the data store is unavailable")
    raise exc


def _table() -> str:
    return settings().table_name


def describe_table() -> None:
    """DescribeTable of the table (the health check); raises whatever the call raises."""
    aws.dynamodb().describe_table(TableName=_table())


# --------------------------------------------------------------------------- reads


def _ident(key: dict[str, Any]) -> tuple[str, str]:
    return str(key[keys.PK]), str(key[keys.SK])


def prefetch(keys_: Sequence[dict[str, str]]) -> None:
    """Read these items now, in one consistent BatchGetItem, for the rest of this request: a later
    `get` or `batch_get` of any of them is answered from it (present or absent) without a call,
    until this request writes that item. For a request whose reads are known up front (a service
    token's: the token, its org, project, environment and snapshot), so that it costs one round
    trip instead of one per item."""
    found = {_ident(i): i for i in batch_get(keys_)}
    memo = _prefetched()
    for key in keys_:
        memo[_ident(key)] = found.get(_ident(key))


def read_ahead(key: dict[str, str]) -> tuple[bool, dict[str, Any] | None]:
    """(whether this request read `key` ahead, the item then or None): no call either way."""
    memo = _prefetched()
    ident = _ident(key)
    return (True, memo[ident]) if ident in memo else (False, None)


def _prefetched() -> dict[tuple[str, str], dict[str, Any] | None]:
    return current().prefetched


def _forget(keys_: Iterable[dict[str, Any]]) -> None:
    """This request wrote these items: what was read ahead of them is stale."""
    memo = _prefetched()
    if memo:
        for key in keys_:
            memo.pop(_ident(key), None)


def get(
    key: dict[str, str], *, consistent: bool = True, attributes: Sequence[str] | None = None
) -> dict[str, Any] | None:
    """One item (consistent by default); `attributes` limits what it carries (its key always)."""
    from botocore.exceptions import BotoCoreError, ClientError  # noqa: PLC0415

    memo = _prefetched()
    if memo and (ident := _ident(key)) in memo:
        return memo[ident]
    params: dict[str, Any] = {"TableName": _table(), "Key": serialize(key), "ConsistentRead": consistent}
    if attributes:
        params["ExpressionAttributeNames"] = {}
        _project(params, [keys.PK, keys.SK, *attributes])
    try:
        resp = aws.dynamodb().get_item(**params)
    except (ClientError, BotoCoreError) as exc:
        raise translate(exc) from exc
    item = resp.get("Item")
    return deserialize(item) if item else None


def batch_get(keys_: Sequence[dict[str, str]], *, attributes: Sequence[str] | None = None) -> list[dict[str, Any]]:
    """These items (consistent), in requests of 100; `attributes` limits what they carry (their
    key always; an item read ahead by `prefetch` is answered whole)."""
    from botocore.exceptions import BotoCoreError, ClientError  # noqa: PLC0415

    out: list[dict[str, Any]] = []
    memo = _prefetched()
    if memo:
        unread = []
        for key in keys_:
            ident = _ident(key)
            if ident not in memo:
                unread.append(key)
            elif (item := memo[ident]) is not None:
                out.append(item)
        keys_ = unread
    pending = [serialize(k) for k in keys_]
    while pending:
        chunk, pending = pending[:100], pending[100:]
        request: dict[str, Any] = {_table(): {"Keys": chunk, "ConsistentRead": True}}
        if attributes:
            request[_table()]["ExpressionAttributeNames"] = {}
            _project(request[_table()], [keys.PK, keys.SK, *attributes])
        for _attempt in range(5):
            try:
                resp = aws.dynamodb().batch_get_item(RequestItems=request)
            except (ClientError, BotoCoreError) as exc:
                raise translate(exc) from exc
            out.extend(deserialize(i) for i in resp.get("Responses", {}).get(_table(), []))
            request = resp.get("UnprocessedKeys") or {}
            if not request:
                break
        else:
            raise Throttled("the data store is busy; retry shortly", headers={"Retry-After": "1"})
    return out


@dataclass(frozen=True, slots=True)
class Page:
    items: list[dict[str, Any]]
    next_cursor: str | None


def _mac(scope: str, payload: bytes) -> bytes:
    key = settings().cursor_signing_key.encode()
    return hmac.new(key, scope.encode() + b"\x00" + payload, hashlib.sha256).digest()[:16]


def seal(scope: str, data: dict[str, Any]) -> str:
    """An opaque, tamper-evident token carrying `data` (JSON), valid only for `scope`."""
    payload = json.dumps(data, separators=(",", ":"), sort_keys=True).encode()
    return base64.urlsafe_b64encode(_mac(scope, payload) + payload).decode().rstrip("=")


def unseal(scope: str, cursor: str) -> dict[str, Any]:
    """The data of a `seal`ed cursor; 400 when it was altered, or made for another scope."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
    except (binascii.Error, ValueError):
        raise Invalid(
            "cursor is not valid", details={"fields": [{"field": "cursor", "location": "query", "issue": "malformed"}]}
        ) from None
    mac, payload = raw[:16], raw[16:]
    if len(mac) != 16 or not hmac.compare_digest(mac, _mac(scope, payload)):
        raise Invalid(
            "cursor is not valid",
            details={"fields": [{"field": "cursor", "location": "query", "issue": "tampered or from another listing"}]},
        )
    data: dict[str, Any] = json.loads(payload)
    return data


def encode_cursor(scope: str, last_key: dict[str, Any]) -> str:
    return seal(scope, deserialize(last_key))


def query_cursor(partition: str, key: dict[str, str], *, prefix: str | None = None) -> str:
    """The cursor `query(partition, prefix=prefix)` (no index, no filter) would give to go on
    past `key`: for a listing that merges items from elsewhere into its first page."""
    return seal(f"table|{partition}|{prefix or ''}|", key)


def decode_cursor(scope: str, cursor: str) -> dict[str, Any]:
    """Reject cursors that were altered, or made for another listing (scope)."""
    return serialize(unseal(scope, cursor))


# A filtered query evaluates at most this many items per call (a page may then hold fewer matches
# than its limit, even none, and still carry a cursor): the work of one request stays bounded
# however sparse the filter.
FILTER_BUDGET = 1000


def query(
    partition: str,
    *,
    prefix: str | None = None,
    index: str | None = None,
    limit: int = 100,
    cursor: str | None = None,
    forward: bool = True,
    filter_expression: str | None = None,
    filter_values: dict[str, Any] | None = None,
    filter_names: dict[str, str] | None = None,
    attributes: Sequence[str] | None = None,
    after: dict[str, str] | None = None,
) -> Page:
    """One page of a partition (optionally a sort-key prefix), in key order. With a filter, at
    most max(limit, FILTER_BUDGET) items are evaluated: the page holds the matches among them
    and a cursor whenever the partition goes on. `attributes` limits what each item carries
    (its key always). `after` starts the page past a key the caller built (keys.py), instead of
    at a cursor."""
    pk_name, sk_name = (keys.GSI1PK, keys.GSI1SK) if index == keys.GSI1 else (keys.PK, keys.SK)
    expr = "#pk = :pk"
    names = {"#pk": pk_name, **(filter_names or {})}
    values: dict[str, Any] = {":pk": partition, **(filter_values or {})}
    if prefix:
        expr += " AND begins_with(#sk, :sk)"
        names["#sk"] = sk_name
        values[":sk"] = prefix
    scope = f"{index or 'table'}|{partition}|{prefix or ''}|{filter_expression or ''}"
    params: dict[str, Any] = {
        "TableName": _table(),
        "KeyConditionExpression": expr,
        "ExpressionAttributeNames": names,
        "ExpressionAttributeValues": serialize(values),
        "ScanIndexForward": forward,
    }
    if index:
        params["IndexName"] = index
    else:
        params["ConsistentRead"] = True
    if filter_expression:
        params["FilterExpression"] = filter_expression
    if attributes:
        _project(params, [keys.PK, keys.SK, *_index_keys(index), *attributes])
    if cursor or after:
        params["ExclusiveStartKey"] = decode_cursor(scope, cursor) if cursor else serialize(after or {})
    budget = max(limit, FILTER_BUDGET) if filter_expression else None
    items, last = _read(params, limit, budget, index)
    return Page(items=items, next_cursor=encode_cursor(scope, last) if last else None)


def _read(
    params: dict[str, Any], limit: int, budget: int | None, index: str | None
) -> tuple[list[dict[str, Any]], dict[str, Any] | None]:
    """(up to `limit` items, the key to go on from or None) of the Query `params` describes, with at
    most `budget` items evaluated when it filters."""
    from botocore.exceptions import BotoCoreError, ClientError  # noqa: PLC0415

    evaluated = 0
    items: list[dict[str, Any]] = []
    last: dict[str, Any] | None = None
    try:
        # With a filter, DynamoDB may return short pages: keep reading until the page is full or
        # the budget of evaluated items is spent.
        while True:
            want = limit - len(items)
            if budget is not None:
                want = min(max(want, 25), budget - evaluated)
            params["Limit"] = want
            resp = aws.dynamodb().query(**params)
            evaluated += int(resp.get("ScannedCount", len(resp.get("Items", []))))
            batch = [deserialize(i) for i in resp.get("Items", [])]
            room = limit - len(items)
            if len(batch) > room:
                batch = batch[:room]
                last = _key_of(resp["Items"][room - 1], index)
                items.extend(batch)
                break
            items.extend(batch)
            last = resp.get("LastEvaluatedKey")
            if not last or len(items) >= limit or (budget is not None and evaluated >= budget):
                break
            params["ExclusiveStartKey"] = last
    except (ClientError, BotoCoreError) as exc:
        raise translate(exc) from exc
    return items, last


def _project(params: dict[str, Any], attributes: list[str]) -> None:
    """Read only these attributes of each item (names aliased: some are reserved words)."""
    projected = list(dict.fromkeys(attributes))
    params["ExpressionAttributeNames"].update({f"#a{n}": a for n, a in enumerate(projected)})
    params["ProjectionExpression"] = ", ".join(f"#a{n}" for n in range(len(projected)))


def _index_keys(index: str | None) -> list[str]:
    return [keys.GSI1PK, keys.GSI1SK] if index == keys.GSI1 else []


def _key_of(raw_item: dict[str, Any], index: str | None) -> dict[str, Any]:
    names = [keys.PK, keys.SK, *_index_keys(index)]
    return {n: raw_item[n] for n in names if n in raw_item}


def scan_prefix(sk_prefix: str) -> Iterator[dict[str, Any]]:
    """Every item of the table whose sort key begins with `sk_prefix`, read consistently: for data
    migrations (data/migrations.py) only, never on a request path."""
    from botocore.exceptions import BotoCoreError, ClientError  # noqa: PLC0415

    params: dict[str, Any] = {
        "TableName": _table(),
        "FilterExpression": "begins_with(#sk, :sk)",
        "ExpressionAttributeNames": {"#sk": keys.SK},
        "ExpressionAttributeValues": serialize({":sk": sk_prefix}),
        "ConsistentRead": True,
    }
    while True:
        try:
            resp = aws.dynamodb().scan(**params)
        except (ClientError, BotoCoreError) as exc:
            raise translate(exc) from exc
        yield from (deserialize(i) for i in resp.get("Items", []))
        if not resp.get("LastEvaluatedKey"):
            return
        params["ExclusiveStartKey"] = resp["LastEvaluatedKey"]


def query_all(partition: str, *, prefix: str | None = None, index: str | None = None) -> Iterator[dict[str, Any]]:
    cursor: str | None = None
    while True:
        page = query(partition, prefix=prefix, index=index, limit=500, cursor=cursor)
        yield from page.items
        if not page.next_cursor:
            return
        cursor = page.next_cursor


# --------------------------------------------------------------------------- writes


@dataclass(slots=True, kw_only=True)
class _Op:
    """What every op of a transaction may carry beside its own fields: its condition's attribute
    names and values, and the error its failed condition means (else the transaction's)."""

    names: dict[str, str] = field(default_factory=dict)
    values: dict[str, Any] = field(default_factory=dict)
    on_fail: AppError | None = None

    def _request(self, kind: str, body: dict[str, Any], condition: str | None) -> dict[str, Any]:
        if condition:
            body["ConditionExpression"] = condition
        if self.names:
            body["ExpressionAttributeNames"] = self.names
        if self.values:
            body["ExpressionAttributeValues"] = serialize(self.values)
        return {kind: body}


@dataclass(slots=True)
class Put(_Op):
    item: dict[str, Any]
    condition: str | None = None

    @property
    def key(self) -> dict[str, Any]:
        return {keys.PK: self.item[keys.PK], keys.SK: self.item[keys.SK]}

    @classmethod
    def new(cls, item: dict[str, Any], on_fail: AppError | None = None) -> Put:
        """Create-only: fails if an item with this key exists."""
        return cls(item, condition="attribute_not_exists(PK)", on_fail=on_fail)

    def request(self) -> dict[str, Any]:
        return self._request("Put", {"TableName": _table(), "Item": serialize(self.item)}, self.condition)


@dataclass(slots=True)
class Update(_Op):
    key: dict[str, str]
    expression: str
    condition: str | None = "attribute_exists(PK)"

    @classmethod
    def set_fields(
        cls,
        key: dict[str, str],
        changes: dict[str, Any],
        *,
        updated_at: str,
        active_only: bool,
        on_fail: AppError,
        removes: tuple[str, ...] = (),
    ) -> Update:
        """`SET` each changed field and `updated_at` (and `REMOVE` `removes`), on an existing item;
        with `active_only`, only while its `status` is `active`."""
        names = {"#updated_at": "updated_at", **{f"#{f}": f for f in [*changes, *removes]}}
        values: dict[str, Any] = {":updated_at": updated_at, **{f":{f}": v for f, v in changes.items()}}
        expression = "SET " + ", ".join(f"#{f} = :{f}" for f in ["updated_at", *changes])
        if removes:
            expression += " REMOVE " + ", ".join(f"#{r}" for r in removes)
        condition = "attribute_exists(PK)"
        if active_only:
            names["#status"] = "status"
            values[":active"] = "active"
            condition = "#status = :active"
        return cls(key, expression, condition=condition, names=names, values=values, on_fail=on_fail)

    def request(self) -> dict[str, Any]:
        body = {"TableName": _table(), "Key": serialize(self.key), "UpdateExpression": self.expression}
        return self._request("Update", body, self.condition)


@dataclass(slots=True)
class Delete(_Op):
    key: dict[str, str]
    condition: str | None = None

    def request(self) -> dict[str, Any]:
        return self._request("Delete", {"TableName": _table(), "Key": serialize(self.key)}, self.condition)


@dataclass(slots=True)
class Check(_Op):
    key: dict[str, str]
    condition: str

    def request(self) -> dict[str, Any]:
        return self._request("ConditionCheck", {"TableName": _table(), "Key": serialize(self.key)}, self.condition)


Op = Put | Update | Delete | Check


class Contended(Conflict):
    """A lost race the caller may retry at once: a concurrent transaction touched one of its
    items, or an op marked with it as `on_fail` found its condition false (data/audit.py:
    the audit sealer marks its tree moves with it). A failed condition of any other op wins over it."""

    def __init__(self, message: str = "a concurrent change touched the same items; retry") -> None:
        super().__init__(message, code="contended")


def transact(all_ops: Sequence[Op]) -> None:
    """Write `all_ops` in one TransactWriteItems (at most 100). Mutations go through
    `data.chain.transact`, which adds their one audit event; this is the generic step under it."""
    from botocore.exceptions import BotoCoreError, ClientError  # noqa: PLC0415

    if len(all_ops) > MAX_TRANSACTION_ITEMS:
        raise ValueError(f"transaction of {len(all_ops)} items exceeds {MAX_TRANSACTION_ITEMS}")
    _forget(op.key for op in all_ops)
    try:
        aws.dynamodb().transact_write_items(TransactItems=[op.request() for op in all_ops])  # type: ignore[misc]
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") == "TransactionCanceledException":
            raise _cancelled(exc, all_ops) from exc
        raise translate(exc) from exc
    except BotoCoreError as exc:
        raise translate(exc) from exc


def _cancelled(exc: Any, ops: Sequence[Op]) -> Exception:
    reasons = exc.response.get("CancellationReasons") or []
    # A failed condition of the change itself wins over a contended one's (the change is refused,
    # whatever the audit chain did meanwhile).
    failed = [(op, r) for op, r in zip(ops, reasons, strict=False) if r.get("Code") == "ConditionalCheckFailed"]
    if failed and any(not isinstance(op.on_fail, Contended) for op, _ in failed):
        failed = [(op, r) for op, r in failed if not isinstance(op.on_fail, Contended)]
    for op, reason in failed or zip(ops, reasons, strict=False):
        code = reason.get("Code")
        if code == "ConditionalCheckFailed":
            return op.on_fail or Conflict("the resource changed or already exists")
        if code in {"ThrottlingError", "ProvisionedThroughputExceeded"}:
            return Throttled("the data store is busy; retry shortly", headers={"Retry-After": "1"})
        if code == "TransactionConflict":
            return Contended()  # a concurrent transaction on one of the same items: retry
    return Unavailable("the data store could not complete the change")


def delete_many(item_keys: Sequence[dict[str, str]]) -> None:
    """Bulk delete (purges after an audited tombstone). Not transactional; idempotent."""
    _forget(item_keys)
    _batch_write([{"DeleteRequest": {"Key": serialize(k)}} for k in item_keys])


def put_many(items: Sequence[dict[str, Any]]) -> None:
    """Bulk unconditional puts (BatchWriteItem, 25 a request): for items no reader can reach yet,
    or idempotent copies of published data. Not transactional."""
    _forget(items)
    _batch_write([{"PutRequest": {"Item": serialize(i)}} for i in items])


def _batch_write(requests: list[dict[str, Any]]) -> None:
    from botocore.exceptions import BotoCoreError, ClientError  # noqa: PLC0415

    pending = requests
    while pending:
        chunk, pending = pending[:25], pending[25:]
        request: dict[str, Any] = {_table(): chunk}
        for _attempt in range(8):
            try:
                resp = aws.dynamodb().batch_write_item(RequestItems=request)
            except (ClientError, BotoCoreError) as exc:
                raise translate(exc) from exc
            request = resp.get("UnprocessedItems") or {}
            if not request:
                break
        else:
            raise Throttled("the data store is busy; retry shortly", headers={"Retry-After": "1"})


def put_plain(item: dict[str, Any], *, condition: str | None = None) -> None:
    """A non-audited write, for bookkeeping that is not a mutation of the user's data
    (e.g. auto-provisioning a user record on first sign-in, last-used stamps)."""
    from botocore.exceptions import BotoCoreError, ClientError  # noqa: PLC0415

    _forget([item])
    params: dict[str, Any] = {"TableName": _table(), "Item": serialize(item)}
    if condition:
        params["ConditionExpression"] = condition
    try:
        aws.dynamodb().put_item(**params)
    except (ClientError, BotoCoreError) as exc:
        raise translate(exc) from exc


def delete_plain(key: dict[str, str]) -> None:
    """One unconditional, non-audited delete (bookkeeping: an aggregate's mark)."""
    from botocore.exceptions import BotoCoreError, ClientError  # noqa: PLC0415

    _forget([key])
    try:
        aws.dynamodb().delete_item(TableName=_table(), Key=serialize(key))
    except (ClientError, BotoCoreError) as exc:
        raise translate(exc) from exc


def update_plain(
    key: dict[str, str],
    expression: str,
    *,
    condition: str,
    values: dict[str, Any],
    names: dict[str, str] | None = None,
) -> bool:
    """A conditional, non-audited update for the follow-up work of an audited change (e.g. the
    re-wraps after `org.kms_enabled`). False when the condition does not hold."""
    from botocore.exceptions import BotoCoreError, ClientError  # noqa: PLC0415

    _forget([key])
    params = Update(key, expression, condition=condition, names=names or {}, values=values).request()["Update"]
    try:
        aws.dynamodb().update_item(**params)
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException":
            return False
        raise translate(exc) from exc
    except BotoCoreError as exc:
        raise translate(exc) from exc
    return True


def update_counted(
    key: dict[str, str],
    expression: str,
    *,
    condition: str,
    values: dict[str, Any],
    names: dict[str, str] | None = None,
) -> tuple[bool, dict[str, Any]]:
    """A conditional, non-audited counter update in one call: (True, the updated attributes), or
    (False, the item as it was) when the condition does not hold (no second read)."""
    from botocore.exceptions import BotoCoreError, ClientError  # noqa: PLC0415

    params = Update(key, expression, condition=condition, names=names or {}, values=values).request()["Update"]
    params["ReturnValues"] = "UPDATED_NEW"
    params["ReturnValuesOnConditionCheckFailure"] = "ALL_OLD"
    try:
        resp = aws.dynamodb().update_item(**params)
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException":
            old: dict[str, Any] = exc.response.get("Item") or {}  # type: ignore[assignment]
            return False, deserialize(old)
        raise translate(exc) from exc
    except BotoCoreError as exc:
        raise translate(exc) from exc
    return True, deserialize(resp.get("Attributes") or {})
