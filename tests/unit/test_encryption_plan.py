"""What a change of an org's key does, decided from the org as read (`encryption.plan_migration`),
without a store or KMS: the claims it moves, its audit metadata, a resumed run, the refusals. And
the functions take the access object a route resolved, holding `encryption.manage`."""

from __future__ import annotations

import pytest

from strongroom.context import Principal
from strongroom.data.orgs import OrgRecord
from strongroom.domain import encryption
from strongroom.domain.encryption import Migration, plan_migration
from strongroom.errors import Conflict, Forbidden
from strongroom.security.access import OrgAccess

KEY_1 = "arn:aws:kms:eu-west-1:111122223333:key/11111111-1111-1111-1111-111111111111"
KEY_2 = "arn:aws:kms:eu-west-1:111122223333:key/22222222-2222-2222-2222-222222222222"


def _org(kms_key_arn: str | None, status: str = "active") -> OrgRecord:
    return OrgRecord(
        id="org_plan",
        name="Plan",
        slug="plan",
        created_at="2026-12-01T00:00:00.000Z",
        updated_at="2026-12-01T00:00:00.000Z",
        kms_key_arn=kms_key_arn,
        encryption_status=status,
    )


def test_enabling_a_key_claims_it() -> None:
    migration = plan_migration(_org(None), KEY_1)

    assert migration == Migration(KEY_1, previous=None, resume=False)
    assert (migration.claim, migration.release) == (KEY_1, None)
    assert migration.audit_metadata() == {"kms_key_arn": KEY_1, "previous": "service"}


def test_switching_keys_gives_the_first_back_and_claims_the_second() -> None:
    migration = plan_migration(_org(KEY_1), KEY_2)

    assert (migration.claim, migration.release, migration.resume) == (KEY_2, KEY_1, False)
    assert migration.audit_metadata() == {"kms_key_arn": KEY_2, "previous": KEY_1}


def test_disabling_gives_the_key_back() -> None:
    migration = plan_migration(_org(KEY_1), None)

    assert (migration.claim, migration.release, migration.resume) == (None, KEY_1, False)
    assert migration.audit_metadata() == {"kms_key_arn": "service", "previous": KEY_1}


def test_an_interrupted_run_to_the_same_key_resumes_without_moving_claims() -> None:
    migration = plan_migration(_org(KEY_1, "migrating"), KEY_1)

    assert migration.resume
    assert (migration.claim, migration.release) == (None, None)


def test_another_key_while_migrating_is_refused() -> None:
    with pytest.raises(Conflict) as refused:
        plan_migration(_org(KEY_1, "migrating"), KEY_2)

    assert refused.value.code == "encryption_migrating"
    assert refused.value.details == {"kms_key_arn": KEY_1}


def test_the_key_in_use_is_refused() -> None:
    with pytest.raises(Conflict) as refused:
        plan_migration(_org(KEY_1), KEY_1)

    assert refused.value.code == "already_active"


def test_the_owners_access_object_reads_the_encryption() -> None:
    owner = OrgAccess(principal=Principal(type="user", id="usr_owner"), org=_org(KEY_1), role="owner")

    view = encryption.get(owner)

    assert (view.mode, view.kms_key_arn, view.status) == ("customer", KEY_1, "active")


def test_an_access_object_without_encryption_manage_is_refused() -> None:
    admin = OrgAccess(principal=Principal(type="user", id="usr_admin"), org=_org(KEY_1), role="admin")

    with pytest.raises(Forbidden) as refused:
        encryption.get(admin)

    assert refused.value.details == {"permission": "encryption.manage", "role": "admin"}
