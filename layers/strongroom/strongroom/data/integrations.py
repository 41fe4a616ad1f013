"""Integration items (keys in keys.py, layout in docs/data-model.md): one per destination an
environment's values are pushed to, `ORG#<org> / INTEGRATION#<id>`, indexed on GSI1 by its
environment (`ENV#<env>#INTEGRATIONS`), so that the sync's fan-in finds an environment's
integrations with one Query. The item carries its sync state too (status, the revision last
pushed, what it wrote, the lease of the sync in progress). Every condition and update expression
of them is built here; domain/integrations.py and domain/integration_sync.py decide."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict

from strongroom.data import db, keys
from strongroom.errors import AppError

ENTITY = "integration"


class IntegrationRecord(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)
    id: str
    org_id: str
    project_id: str
    environment_id: str
    type: str  # aws_secrets_manager | aws_ssm_parameter_store | github_actions
    config: dict[str, Any]  # never the token
    # github_actions: the token, envelope-encrypted (a KMS data key bound to org and integration,
    # AES-256-GCM with the same binding as AAD).
    sealed_token: bytes | None = None
    wrapped_key: bytes | None = None
    status: str = "pending"  # pending | synced | failing
    last_synced_revision: int | None = None
    last_synced_at: str | None = None
    # Every snapshot the last pushed state was read from, with its revision (the runtime ETag): a
    # sync of the same state changes nothing unless forced.
    last_synced_tag: str | None = None
    last_error: str | None = None
    failing_since: str | None = None
    # The destination names the last successful sync wrote (per key), so removals propagate.
    written: list[str] = []
    lease_id: str | None = None
    lease_until: str | None = None
    created_at: str
    created_by: str


def get(org_id: str, integration_id: str, *, consistent: bool = True) -> IntegrationRecord | None:
    item = db.get(keys.integration(org_id, integration_id), consistent=consistent)
    return IntegrationRecord.model_validate(item) if item is not None else None


def page(org_id: str, *, limit: int, cursor: str | None) -> tuple[list[IntegrationRecord], str | None]:
    found = db.query(keys.org_partition(org_id), prefix=keys.INTEGRATION_PREFIX, limit=limit, cursor=cursor)
    return [IntegrationRecord.model_validate(i) for i in found.items], found.next_cursor


def of_org(org_id: str) -> list[str]:
    """The IDs of every integration of the org (its partition, one paged Query)."""
    return [str(item["id"]) for item in db.query_all(keys.org_partition(org_id), prefix=keys.INTEGRATION_PREFIX)]


def of_environment(env_id: str) -> list[tuple[str, str]]:
    """(org, integration) of every integration of the environment (GSI1, eventually consistent:
    the worker reads each item consistently before it acts)."""
    out: list[tuple[str, str]] = []
    for item in db.query_all(keys.environment_integrations_partition(env_id), index=keys.GSI1):
        out.append((str(item["org_id"]), str(item["id"])))
    return out


def create(rec: IntegrationRecord, *, on_fail: AppError) -> db.Put:
    item = {
        **keys.integration(rec.org_id, rec.id),
        **keys.integration_index(rec.environment_id, rec.id),
        "entity": ENTITY,
        **rec.model_dump(exclude_none=True),
    }
    return db.Put.new(item, on_fail=on_fail)


def delete(rec: IntegrationRecord, *, on_fail: AppError) -> db.Delete:
    return db.Delete(keys.integration(rec.org_id, rec.id), condition="attribute_exists(PK)", on_fail=on_fail)


def exists(rec: IntegrationRecord, *, on_fail: AppError) -> db.Check:
    """A transaction op: the integration is still there (a forced sync's audit event)."""
    return db.Check(keys.integration(rec.org_id, rec.id), "attribute_exists(PK)", on_fail=on_fail)


# --------------------------------------------------------------------------- the sync's state


def take_lease(rec: IntegrationRecord, lease_id: str, now: str, until: str) -> bool:
    """The integration's sync lease taken (one sync of an integration at a time, so that pushes to
    its destination never interleave): free, or expired. False when another sync holds it."""
    return db.update_plain(
        keys.integration(rec.org_id, rec.id),
        "SET lease_id = :lease, lease_until = :until",
        condition="attribute_exists(PK) AND (attribute_not_exists(lease_until) OR lease_until < :now)",
        values={":lease": lease_id, ":until": until, ":now": now},
    )


def release_lease(rec: IntegrationRecord, lease_id: str) -> bool:
    return db.update_plain(
        keys.integration(rec.org_id, rec.id),
        "REMOVE lease_id, lease_until",
        condition="lease_id = :lease",
        values={":lease": lease_id},
    )


def record_synced(
    rec: IntegrationRecord,
    lease_id: str,
    synced: tuple[int, str],
    written: list[str],
    now: str,
    *,
    note: str | None,
    on_fail: AppError,
) -> db.Update:
    """The sync of `synced` (revision, tag) done: recorded only under this sync's lease and when
    no newer revision was recorded meanwhile (an older revision never overwrites a newer one); the
    lease released. `note` (keys skipped) stays as last_error, else last_error is removed."""
    revision, tag = synced
    values: dict[str, Any] = {
        ":synced": "synced",
        ":rev": revision,
        ":tag": tag,
        ":now": now,
        ":written": written,
        ":lease": lease_id,
    }
    sets = "SET #status = :synced, last_synced_revision = :rev, last_synced_tag = :tag, last_synced_at = :now, "
    sets += "written = :written"
    removes = "REMOVE failing_since, lease_id, lease_until"
    if note:
        sets += ", last_error = :note"
        values[":note"] = note
    else:
        removes += ", last_error"
    return db.Update(
        keys.integration(rec.org_id, rec.id),
        f"{sets} {removes}",
        condition="lease_id = :lease AND (attribute_not_exists(last_synced_revision) OR last_synced_revision <= :rev)",
        names={"#status": "status"},
        values=values,
        on_fail=on_fail,
    )


def record_failure(rec: IntegrationRecord, lease_id: str, error: str, now: str, written: list[str]) -> db.Update:
    """The attempt failed: `failing` with its error (since the first failure), what it did write
    kept (so a later sync still removes it), the lease released."""
    return db.Update(
        keys.integration(rec.org_id, rec.id),
        "SET #status = :failing, last_error = :error, failing_since = if_not_exists(failing_since, :now), "
        "written = :written REMOVE lease_id, lease_until",
        condition="lease_id = :lease",
        names={"#status": "status"},
        values={":failing": "failing", ":error": error, ":now": now, ":written": written, ":lease": lease_id},
    )


def fail_plain(rec: IntegrationRecord, lease_id: str, error: str, now: str, written: list[str]) -> bool:
    """record_failure, unaudited (a retry of an integration already failing)."""
    op = record_failure(rec, lease_id, error, now, written)
    return db.update_plain(op.key, op.expression, condition=op.condition or "", values=op.values, names=op.names)
