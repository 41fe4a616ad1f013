"""Purge jobs (`PURGE#<id> / PURGE`, indexed by GSI1 `PURGES`): the item a deleting transaction
writes, its reads, and the updates of the worker's steps (domain/purge.py). The keys a purge
deletes are read through `db` by the purge's sources."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict

from strongroom import clock
from strongroom.data import db, keys

ENTITY = "purge_job"

Kind = Literal["org", "project", "environment", "webhook"]


class PurgeJob(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)
    kind: Kind
    target_id: str
    org_id: str
    project_id: str | None = None
    phase: str | None = None  # the source the next step starts from (None: the first)
    rounds: int = 0
    created_at: str


def job_op(kind: Kind, target_id: str, *, org_id: str, project_id: str | None = None) -> db.Put:
    """The job item, for the deleting transaction (create-only: a target is purged once)."""
    job = PurgeJob(kind=kind, target_id=target_id, org_id=org_id, project_id=project_id, created_at=clock.now_iso())
    return db.Put.new(
        {
            **keys.purge_job(target_id),
            **keys.purge_job_index(job.created_at, target_id),
            "entity": ENTITY,
            **job.model_dump(exclude_none=True),
        }
    )


def get(target_id: str) -> PurgeJob | None:
    item = db.get(keys.purge_job(target_id))
    return PurgeJob.model_validate(item) if item is not None else None


def advance(target_id: str, phase: str) -> None:
    """Record the source the next step starts from (its MODIFY record runs that step); nothing
    when the job is gone meanwhile."""
    db.update_plain(
        keys.purge_job(target_id),
        "SET #phase = :phase, #rounds = #rounds + :one",
        condition="attribute_exists(PK)",
        names={"#phase": "phase", "#rounds": "rounds"},
        values={":phase": phase, ":one": 1},
    )


def finish(target_id: str) -> None:
    """The job is done: its item goes."""
    db.delete_many([keys.purge_job(target_id)])
