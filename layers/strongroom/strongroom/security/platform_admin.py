"""Platform admins (issue #18): the users whose email the stack's PLATFORM_ADMINS lists, signed in
as themselves with that email proven (an unverified password account naming an admin's email is
nobody's admin), by an unnarrowed credential (access.admit refuses narrowed ones on /v1/admin)."""

from __future__ import annotations

from strongroom.config import settings
from strongroom.context import Principal, principal
from strongroom.errors import Forbidden


def is_admin(who: Principal) -> bool:
    return who.type == "user" and who.email_verified and who.email.lower() in settings().admin_emails


def admitted(who: Principal) -> Principal:
    """`who`, a platform admin; else 403 `platform_admin_required` (access.admit, on /v1/admin/)."""
    if not is_admin(who):
        raise Forbidden("this is for platform admins", code="platform_admin_required")
    return who


def platform_access() -> Principal:
    """The request's principal, a platform admin (what each admin route names; access.admit has
    already refused anyone else on /v1/admin/)."""
    return admitted(principal())
