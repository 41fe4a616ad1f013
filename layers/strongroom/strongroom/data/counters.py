"""The platform's aggregates for /metrics (issue #18), read in one Query each, whatever the number
of orgs: live secrets (sharded counters moved in the transaction that changes an environment's
count), webhook deliveries by status (day buckets of sharded counters, moved by the write that
creates a delivery or changes its status) and the audit sealer's backlog (one item per scope the
sealer is behind on). Keys in keys.py; layout in docs/data-model.md; docs/decisions.md
(2026-12-07) says why.

Every op here is one more item in a write that happens anyway: a counter never costs a round trip
of its own on a request path."""

from __future__ import annotations

import random
from collections import Counter
from datetime import datetime, timedelta
from typing import Any

from strongroom import clock
from strongroom.data import db, keys

SECRET_SHARDS = 16  # a write picks one at random: 16 items absorb a platform's secret writes
DELIVERY_SHARDS = 8  # per day bucket
DELIVERY_STATUSES = ("pending", "retrying", "succeeded", "failed")
# Deliveries are kept 30 days (domain/webhooks.py DELIVERY_RETENTION, then TTL): a day bucket
# counts those created that day and is read while they are; it outlives them by a few days.
DELIVERY_DAYS = 30
_BUCKET_GRACE = timedelta(days=3)


def _shard(n: int) -> int:
    return random.randrange(n)  # noqa: S311 - spreading writes, not a secret


# --------------------------------------------------------------------------- secrets


def secrets_moved(delta: int) -> db.Update:
    """A transaction op: the platform's live secrets move by `delta` (one shard, at random)."""
    return db.Update(
        keys.secret_counter(_shard(SECRET_SHARDS)),
        "ADD #n :d SET entity = :e",
        condition=None,
        names={"#n": "n"},
        values={":d": delta, ":e": "counter"},
    )


def secrets_total() -> int:
    """Live secrets of the platform: the shards' sum (one Query of SECRET_SHARDS small items)."""
    return sum(int(i.get("n", 0)) for i in db.query_all(keys.PLATFORM_PARTITION, prefix=keys.SECRET_COUNTER_PREFIX))


def release_snapshot(head_key: dict[str, str], revision: int, count: int) -> None:
    """The purge's removal of an environment's SNAPSHOT item: deleted (conditional on the revision
    read) with its live secrets subtracted, in one transaction; a lost race (the item moved or is
    gone) does nothing (the purge reads it again)."""
    delete = db.Delete(
        head_key, condition="#rev = :r", names={"#rev": "revision"}, values={":r": revision}, on_fail=db.Contended()
    )
    ops: list[db.Op] = [delete]
    if count:
        ops.append(secrets_moved(-count))
    try:
        db.transact(ops)
    except db.Contended:
        return


# --------------------------------------------------------------------------- deliveries


def _day(created_at: str) -> str:
    return created_at[:10]


def delivery_moved(created_at: str, moves: dict[str, int]) -> db.Update:
    """A transaction op: deliveries created on `created_at`'s day move between statuses
    (`{"pending": 1}` for a new one, `{"pending": -1, "retrying": 1}` for an attempt…)."""
    day = _day(created_at)
    expires = int((clock.parse(f"{day}T00:00:00Z") + timedelta(days=DELIVERY_DAYS + 1) + _BUCKET_GRACE).timestamp())
    moves = {s: d for s, d in moves.items() if d}
    names = {"#exp": keys.TTL, **{f"#s{i}": s for i, s in enumerate(moves)}}
    values: dict[str, Any] = {":exp": expires, ":e": "counter", ":day": day}
    values |= {f":s{i}": d for i, d in enumerate(moves.values())}
    adds = ", ".join(f"#s{i} :s{i}" for i in range(len(moves)))
    return db.Update(
        keys.delivery_counter(day, _shard(DELIVERY_SHARDS)),
        (f"ADD {adds} " if adds else "") + "SET #exp = :exp, entity = :e, #day = :day",
        condition=None,
        names={**names, "#day": "day"},
        values=values,
    )


def deliveries_by_status(now: datetime | None = None) -> dict[str, int]:
    """Deliveries kept (created within DELIVERY_DAYS), by status: one Query of the day buckets."""
    oldest = _day(clock.iso((now or clock.now()) - timedelta(days=DELIVERY_DAYS)))
    out: Counter[str] = Counter(dict.fromkeys(DELIVERY_STATUSES, 0))
    for item in db.query_all(keys.PLATFORM_PARTITION, prefix=keys.DELIVERY_COUNTER_PREFIX):
        if str(item.get("day", "")) >= oldest:
            for status in DELIVERY_STATUSES:
                out[status] += int(item.get(status, 0))
    return dict(out)


def release_deliveries(items: list[dict[str, Any]]) -> None:
    """The purge's removal of deliveries (each item with its key, `status` and `created_at`): each
    deleted on the condition of the status read, their counters moved back, in one transaction (a
    status that moved meanwhile cancels it: the purge's step is retried by its stream)."""
    moves: dict[str, Counter[str]] = {}
    ops: list[db.Op] = []
    for item in items:
        status, created = str(item.get("status", "pending")), str(item.get("created_at", ""))
        key = {keys.PK: str(item[keys.PK]), keys.SK: str(item[keys.SK])}
        ops.append(db.Delete(key, condition="#st = :st", names={"#st": "status"}, values={":st": status}))
        if created:
            moves.setdefault(created, Counter())[status] -= 1
    by_day: dict[str, Counter[str]] = {}
    for created, moved in moves.items():
        by_day.setdefault(_day(created), Counter()).update(moved)
    ops += [delivery_moved(f"{day}T00:00:00.000Z", dict(moved)) for day, moved in by_day.items()]
    db.transact(ops)


def delivery_created(created_at: str) -> db.Update:
    return delivery_moved(created_at, {"pending": 1})


# --------------------------------------------------------------------------- sealing backlog


def sealing_behind(scope: str, since: str) -> None:
    """The sealer was told of events of `scope` appended from `since` on (the oldest of its stream
    records) and has not sealed them yet: the scope's mark keeps the oldest such time."""
    db.update_plain(
        keys.sealing_mark(scope),
        "SET #since = if_not_exists(#since, :t), entity = :e, #scope = :s",
        condition="",
        names={"#since": "since", "#scope": "scope"},
        values={":t": since, ":e": "sealing_mark", ":s": scope},
    )


def sealing_caught_up(scope: str) -> None:
    """Nothing of `scope` is left unsealed: its mark goes."""
    db.delete_plain(keys.sealing_mark(scope))


def sealing_marks() -> dict[str, str]:
    """The scopes the sealer is behind on → the oldest unsealed event's time it knows of."""
    return {
        str(i["scope"]): str(i["since"])
        for i in db.query_all(keys.PLATFORM_PARTITION, prefix=keys.SEALING_PREFIX)
        if i.get("since")
    }


# --------------------------------------------------------------------------- backfill


def seeded(name: str) -> bool:
    return db.get(keys.counter_seed(name)) is not None


def seed(name: str, ops: list[db.Op], at: str) -> None:
    """A backfill's counts and its marker, in one transaction (the marker is create-only: a second
    run of the backfill writes nothing)."""
    marker = db.Put.new({**keys.counter_seed(name), "entity": "counter_seed", "seeded_at": at})
    db.transact([marker, *ops])
