"""The sync's state on the table (moto): one sync of an integration holds its lease at a time (an
expired lease is taken over), and a sync's outcome is recorded only under its own lease and never
over a newer revision (an older revision never overwrites a newer one)."""

from __future__ import annotations

import secrets

import pytest

from strongroom import clock, ids
from strongroom.data import db
from strongroom.data import integrations as data
from strongroom.data.integrations import IntegrationRecord
from strongroom.errors import Conflict
from strongroom_local import LocalStack

pytestmark = pytest.mark.usefixtures("stack")

LATER = "2999-01-01T00:00:00Z"


def _integration(_stack: LocalStack) -> IntegrationRecord:
    rec = IntegrationRecord(
        id=ids.new_id("int"),
        org_id=ids.new_id("org"),
        project_id=ids.new_id("prj"),
        environment_id=ids.new_id("env"),
        type="aws_secrets_manager",
        config={"name": "app"},
        created_at=clock.now_iso(),
        created_by="usr_test",
    )
    db.transact([data.create(rec, on_fail=Conflict("exists"))])
    return rec


def _synced(rec: IntegrationRecord, lease: str, revision: int) -> None:
    op = data.record_synced(
        rec, lease, (revision, f"tag-{revision}"), ["app"], clock.now_iso(), note=None, on_fail=Conflict("refused")
    )
    db.transact([op])


def test_one_sync_holds_the_lease_and_an_expired_one_is_taken_over(stack: LocalStack) -> None:
    rec = _integration(stack)
    now = clock.now_iso()
    first, second = secrets.token_hex(8), secrets.token_hex(8)
    assert data.take_lease(rec, first, now, LATER)
    assert not data.take_lease(rec, second, now, LATER)  # busy
    assert not data.release_lease(rec, second)  # not its lease to release
    assert data.release_lease(rec, first)
    assert data.take_lease(rec, second, now, "2000-01-01T00:00:00Z")  # taken, but already expired
    assert data.take_lease(rec, first, now, LATER)  # so the next sync takes it over


def test_an_older_revision_never_overwrites_a_newer_one(stack: LocalStack) -> None:
    rec = _integration(stack)
    now = clock.now_iso()
    lease = secrets.token_hex(8)
    assert data.take_lease(rec, lease, now, LATER)
    _synced(rec, lease, 5)
    stored = data.get(rec.org_id, rec.id)
    assert stored is not None
    assert (stored.status, stored.last_synced_revision, stored.last_synced_tag, stored.lease_id) == (
        "synced",
        5,
        "tag-5",
        None,
    )

    # A sync that read revision 3 (and held the lease after) is refused; revision 5 stays
    lease = secrets.token_hex(8)
    assert data.take_lease(rec, lease, now, LATER)
    with pytest.raises(Conflict):
        _synced(rec, lease, 3)
    assert data.get(rec.org_id, rec.id).last_synced_revision == 5  # type: ignore[union-attr]
    # The same revision again (a forced sync) is recorded; a newer one too
    _synced(rec, lease, 5)
    assert data.take_lease(rec, lease, now, LATER)
    _synced(rec, lease, 6)
    assert data.get(rec.org_id, rec.id).last_synced_revision == 6  # type: ignore[union-attr]


def test_an_outcome_needs_the_sync_own_lease(stack: LocalStack) -> None:
    rec = _integration(stack)
    now = clock.now_iso()
    assert data.take_lease(rec, "mine", now, LATER)
    with pytest.raises(Conflict):
        _synced(rec, "someone-else", 7)
    assert not data.fail_plain(rec, "someone-else", "error", now, [])
    assert data.fail_plain(rec, "mine", "github: GET … answered 503", now, ["A"])
    failing = data.get(rec.org_id, rec.id)
    assert failing is not None
    assert (failing.status, failing.last_error, failing.written, failing.lease_id) == (
        "failing",
        "github: GET … answered 503",
        ["A"],
        None,
    )


def test_the_fan_in_makes_one_message_per_integration_of_a_changed_environment(stack: LocalStack) -> None:
    from strongroom.domain.integration_sync import Message, messages_of

    rec = _integration(stack)
    other = _integration(stack)  # another org's, another environment's

    def event(action: str, **fields: object) -> dict[str, object]:
        return {
            "scope_id": rec.org_id,
            "action": action,
            "project_id": rec.project_id,
            "environment_id": rec.environment_id,
            "resource": {"type": "environment", "id": rec.environment_id},
            **fields,
        }

    # Two changes of the environment in one batch: one message; a read: none
    assert messages_of([event("secret.updated"), event("secrets.batch_changed")]) == [Message(rec.org_id, rec.id)]
    assert messages_of([event("secrets.read"), event("member.invited")]) == []
    # A forced sync wins over a change's message, and names only its integration
    forced = event("integration.sync_requested", resource={"type": "integration", "id": rec.id})
    assert messages_of([event("secret.updated"), forced]) == [Message(rec.org_id, rec.id, force=True)]
    assert other.id not in {m.integration_id for m in messages_of([event("secret.updated"), forced])}
    # Outside an org (a user's own scope): nothing
    assert messages_of([event("secret.updated", scope_id="usr_1")]) == []
    # A change of the org's shared secrets: every integration of the org (not another org's)
    third = _integration(stack)
    db.transact(
        [data.create(third.model_copy(update={"id": ids.new_id("int"), "org_id": rec.org_id}), on_fail=Conflict("x"))]
    )
    shared_change = {"scope_id": rec.org_id, "action": "shared_secret.updated", "resource": {"type": "shared_secret"}}
    found = {m.integration_id for m in messages_of([shared_change])}
    assert rec.id in found
    assert len(found) == 2
    assert other.id not in found
    assert messages_of([{**shared_change, "action": "shared_secret.read"}]) == []
