"""An org's encryption state (BYOK) on its ORG item (`kms_key_arn`, `encryption_status`,
`encryption_updated_at`). The data keys themselves live with the secrets (data/secrets.py), the
claim of a customer key with the org (data/orgs.py), and the org-wide listings the key
operations walk (every environment, the active projects) with the projects (data/projects.py)."""

from __future__ import annotations

from strongroom.data import db, keys
from strongroom.errors import AppError

MIGRATING = "migrating"
ACTIVE = "active"


def begin_migration(org_id: str, target: str | None, now: str, *, on_fail: AppError) -> db.Update:
    """A transaction op: the org now uses `target` (None: the service key) and is `migrating`;
    only while the org is active and no other change of key is in progress."""
    return db.Update(
        keys.org(org_id),
        ("SET kms_key_arn = :arn, " if target else "REMOVE kms_key_arn SET ")
        + "encryption_status = :migrating, encryption_updated_at = :now",
        condition="#st = :active AND (attribute_not_exists(encryption_status) OR encryption_status = :done)",
        names={"#st": "status"},
        values={
            **({":arn": target} if target else {}),
            ":migrating": MIGRATING,
            ":now": now,
            ":active": "active",
            ":done": ACTIVE,
        },
        on_fail=on_fail,
    )


def finish_migration(org_id: str, now: str) -> bool:
    """Mark the migration done (unaudited: the follow-up of the audited `begin_migration`);
    False when it was not in progress."""
    return db.update_plain(
        keys.org(org_id),
        "SET encryption_status = :done, encryption_updated_at = :now",
        condition="encryption_status = :migrating",
        values={":done": ACTIVE, ":migrating": MIGRATING, ":now": now},
    )
