"""SCIM 2.0 provisioning (RFC 7643/7644): an org's identity provider manages its members.

The caller is a SCIM token (domain/scim_tokens.py): its org is the only one it sees. A User is a
provisioning record of the org (data/scim.py) for one account; `active` is whether that account
is a member right now:
- create: the account with the email (created, unverified, when there is none: the identity
  provider vouches for the email to this org only, as single sign-on does) and, when active, its
  membership with DEFAULT_ROLE;
- `active: false` (PUT or PATCH) removes the membership, `active: true` restores it (with
  DEFAULT_ROLE); DELETE removes the record and the membership; never the account;
- the last owner is never removed (409, as everywhere: `orgs.guard`), and an owner only by a
  token an owner of the org created and still is (403 `owner_removal`): a token acts with its
  creator's authority, and through the API only owners remove owners.
Every change is one transaction with one audit event (actor: the SCIM token): `member.joined` or
`member.removed` when the membership moves (so webhooks see them as any member change), else
`scim_user.created`, `scim_user.updated` or `scim_user.deleted`."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError
from scim2_models import Context, Meta, PatchOp, SCIMException

from strongroom import clock
from strongroom.config import settings
from strongroom.context import principal
from strongroom.data import chain, db, invitations, users
from strongroom.data import orgs as org_data
from strongroom.data import scim as data
from strongroom.data.invitations import InvitationRecord
from strongroom.data.orgs import MembershipRecord, OrgRecord
from strongroom.data.scim import ScimUserRecord
from strongroom.domain import audit, plans, roles
from strongroom.errors import (
    Conflict,
    Forbidden,
    Invalid,
    NotFound,
    PayloadTooLarge,
    PreconditionFailed,
    Unauthorized,
)
from strongroom.models.common import EMAIL_PATTERN
from strongroom.models.scim_resources import MAX_RESULTS, ScimUser, matches, versioned

DEFAULT_ROLE = "viewer"
VIA = "scim"
MAX_ATTRIBUTES_BYTES = 16 * 1024
_EMAIL = re.compile(EMAIL_PATTERN)
_FILTER = re.compile(r'^\s*userName\s+eq\s+"((?:[^"\\]|\\.){1,320})"\s*$', re.IGNORECASE)
# The attributes a record keeps (the rest is the membership, or the server's own).
_STORED = ("userName", "name", "displayName", "emails", "externalId")


class ScimInvalid(Invalid):
    """400 with a SCIM `scimType` (its code)."""


def _not_found() -> NotFound:
    return NotFound("user not found")


def _changed() -> Conflict:
    return Conflict("the user changed meanwhile; retry")


def caller_org() -> OrgRecord:
    """The org of the SCIM token (one); a deleted org's token does not verify."""
    who = principal()
    org = org_data.get(next(iter(who.org_ids))) if who.type == "scim_token" and who.org_ids else None
    if org is None:
        raise Unauthorized("invalid token")
    return org


# --------------------------------------------------------------------------- parsing


def parse_user(body: Any, ctx: Context) -> ScimUser:
    """A User of a request body (400 invalidValue / invalidSyntax, the input never echoed)."""
    if not isinstance(body, dict):
        raise ScimInvalid("the body is not a SCIM User", code="invalidSyntax")
    if not any(key.lower() == "active" for key in body):
        body = {**body, "active": True}  # published as required; a request without it means true
    user_name = next((v for k, v in body.items() if k.lower() == "username"), None)
    if not any(key.lower() == "emails" for key in body) and isinstance(user_name, str) and _EMAIL.match(user_name):
        body = {**body, "emails": [{"value": user_name, "primary": True}]}  # required; the userName is one
    try:
        return ScimUser.model_validate(body, scim_ctx=ctx)
    except (ValidationError, SCIMException, ValueError):
        raise ScimInvalid("the body is not a valid SCIM User", code="invalidValue") from None


def parse_patch(body: Any) -> PatchOp[ScimUser]:
    if not isinstance(body, dict):
        raise ScimInvalid("the body is not a SCIM PatchOp", code="invalidSyntax")
    try:
        return PatchOp[ScimUser].model_validate(body, scim_ctx=Context.RESOURCE_PATCH_REQUEST)
    except (ValidationError, SCIMException, ValueError):
        raise ScimInvalid("the body is not a valid SCIM PatchOp", code="invalidValue") from None


def user_name_filter(expression: str | None) -> str | None:
    """The userName of `userName eq "…"`, None without a filter; any other filter is 400
    invalidFilter (not advertised beyond that)."""
    if expression is None or not expression.strip():
        return None
    found = _FILTER.match(expression)
    if found is None:
        raise ScimInvalid('only the filter `userName eq "…"` is supported', code="invalidFilter")
    try:
        return str(json.loads(f'"{found.group(1)}"'))
    except ValueError:  # an escape JSON does not know
        raise ScimInvalid("the filter's string is not valid", code="invalidFilter") from None


_GROUP_FILTER = re.compile(r'^\s*displayName\s+eq\s+"((?:[^"\\]|\\.){1,200})"\s*$', re.IGNORECASE)


def display_name_filter(expression: str | None) -> str | None:
    """The displayName of `displayName eq "…"` (Groups), None without a filter; any other is 400
    invalidFilter."""
    if expression is None or not expression.strip():
        return None
    found = _GROUP_FILTER.match(expression)
    if found is None:
        raise ScimInvalid('only the filter `displayName eq "…"` is supported on Groups', code="invalidFilter")
    try:
        return str(json.loads(f'"{found.group(1)}"'))
    except ValueError:
        raise ScimInvalid("the filter's string is not valid", code="invalidFilter") from None


# --------------------------------------------------------------------------- views


def _attributes(user: ScimUser) -> str:
    dumped = user.model_dump(scim_ctx=Context.RESOURCE_REPLACEMENT_REQUEST)
    text = json.dumps({k: dumped[k] for k in _STORED if dumped.get(k) not in (None, [])}, sort_keys=True)
    if len(text.encode()) > MAX_ATTRIBUTES_BYTES:
        raise PayloadTooLarge(f"a User's attributes are at most {MAX_ATTRIBUTES_BYTES} bytes")
    return text


def _view(rec: ScimUserRecord, active: bool) -> ScimUser:
    user = ScimUser.model_validate(
        {"schemas": [ScimUser.__schema__], **json.loads(rec.attributes)}, scim_ctx=Context.DEFAULT
    )
    user.id = rec.user_id
    user.active = active
    user.meta = Meta(
        resource_type="User",
        created=clock.parse(rec.created_at),
        last_modified=clock.parse(rec.updated_at),
        location=location(rec.user_id),
    )
    return versioned(user)


def check_version(current: Any, if_match: str | None) -> None:
    """A write with If-Match applies only to the version it names (RFC 7644 §3.14): 412 otherwise."""
    if if_match is not None and not matches(current, if_match):
        raise PreconditionFailed("the resource has changed since that version (If-Match)")


def location(user_id: str) -> str | None:
    """The User's URI (`<API_URL>/scim/v2/Users/<id>`), None when the stack does not know its URL."""
    base = settings().api_url.rstrip("/")
    return f"{base}/scim/v2/Users/{user_id}" if base else None


def _email_of(user: ScimUser) -> str:
    """The account's email: the userName when it is an email address, else the primary (or first)
    of `emails`."""
    if user.user_name and _EMAIL.match(user.user_name):
        return user.user_name.lower()
    emails = sorted(user.emails or [], key=lambda e: not e.primary)
    for email in emails:
        if email.value and _EMAIL.match(email.value):
            return email.value.lower()
    raise ScimInvalid("userName or one of emails must be an email address", code="invalidValue")


# --------------------------------------------------------------------------- membership moves


@dataclass(slots=True)
class _Move:
    ops: list[db.Op]
    action: str | None  # member.joined / member.removed, None when the membership stays
    role: str | None = None
    note: dict[str, object] = field(default_factory=dict)  # what a join released


def _move(
    org: OrgRecord,
    user_id: str,
    email: str,
    active: bool,
    role: str = DEFAULT_ROLE,
    *,
    released: list[InvitationRecord] | None = None,
) -> _Move:
    """`role`: what a (re)activation grants, the role of the user's Group (data/scim.py). A join
    at the plan's `members` limit releases the expired invitations given (`released`), as an
    invitation or a single sign-on's first join does (plans.create_releasing)."""
    member = org_data.membership(org.id, user_id)
    if active and member is None:
        if role == "owner":
            require_owner_authority(org)
        at = clock.now_iso()
        joined = MembershipRecord(org_id=org.id, user_id=user_id, email=email, role=role, joined_at=at)
        joins, note = plans.joins_releasing(org, role, released or [], at, owner_delta=1 if role == "owner" else 0)
        return _Move([*joins, org_data.add_member(joined, on_fail=_changed())], "member.joined", role, note)
    if not active and member is not None:
        if member.role == "owner":
            require_owner_authority(org)
        ops = [
            org_data.remove_member(member),
            org_data.guard(org.id, -1 if member.role == "owner" else 0, usage={"members": -1}),
            *roles.uses(org.id, {member.role: -1}),
        ]
        return _Move(ops, "member.removed", member.role)
    return _Move([org_data.guard(org.id)], None)


def require_owner_authority(org: OrgRecord) -> None:
    """The calling token's creator is an owner of the org now (one token read, one membership read)."""
    token = data.get(principal().id)
    creator = org_data.membership(org.id, token.created_by) if token is not None else None
    if creator is None or creator.role != "owner":
        raise Forbidden(
            "only a SCIM token created by an owner (who still is one) removes an owner",
            code="owner_removal",
        )


def _event(org: OrgRecord, move: _Move, otherwise: str, user_id: str) -> audit.AuditEvent:
    metadata: dict[str, Any] = {"via": VIA}
    if move.role is not None:
        metadata["role"] = move.role
    metadata.update(move.note)
    return audit.event(
        move.action or otherwise, scope_id=org.id, resource_type="member", resource_id=user_id, metadata=metadata
    )


def _record(org: OrgRecord, user_id: str) -> ScimUserRecord:
    rec = data.user(org.id, user_id) if user_id.startswith("usr_") else None
    if rec is None:
        raise _not_found()
    return rec


def _active(org: OrgRecord, user_id: str) -> bool:
    return org_data.membership(org.id, user_id) is not None


# --------------------------------------------------------------------------- operations


def get_user(org: OrgRecord, user_id: str) -> ScimUser:
    rec = _record(org, user_id)
    return _view(rec, _active(org, rec.user_id))


def list_users(org: OrgRecord, *, user_name: str | None, start_index: int, count: int) -> tuple[int, list[ScimUser]]:
    """(totalResults, the page): startIndex is 1-based, count at most MAX_RESULTS."""
    if user_name is not None:
        found = data.user_by_name(org.id, user_name)
        records = [found] if found is not None else []
    else:
        records = data.users_of_org(org.id)
    start = max(start_index, 1) - 1
    page = records[start : start + max(min(count, MAX_RESULTS), 0)]
    members = org_data.memberships(org.id, [r.user_id for r in page]) if page else {}
    return len(records), [_view(r, r.user_id in members) for r in page]


def create_user(org: OrgRecord, user: ScimUser) -> ScimUser:
    if not user.user_name:
        raise ScimInvalid("userName is required", code="invalidValue")
    email = _email_of(user)
    attributes = _attributes(user)
    if data.user_by_name(org.id, user.user_name) is not None:
        raise Conflict("a user with this userName is provisioned already", code="uniqueness")
    account = users.by_email(email)
    if account is None:
        account = users.create(email, (user.display_name or email.split("@", 1)[0])[:100], via=VIA, verified=False)
    now = clock.now_iso()
    rec = ScimUserRecord(
        org_id=org.id,
        user_id=account.id,
        user_name=user.user_name,
        email=email,
        attributes=attributes,
        created_at=now,
        updated_at=now,
    )
    taken = Conflict("a user with this userName or email is provisioned already", code="uniqueness")

    def attempt(released: list[InvitationRecord]) -> None:
        move = _move(org, account.id, email, user.active is not False, released=released)
        chain.transact(
            [*data.create_user(rec, taken=taken), *move.ops], audit=_event(org, move, "scim_user.created", rec.user_id)
        )

    plans.create_releasing(attempt, lambda: _expired_invitations(org))
    return _view(rec, user.active is not False)


def _expired_invitations(org: OrgRecord) -> list[InvitationRecord]:
    return invitations.expired_pending(org.id, clock.now_iso(), limit=plans.RELEASE_AT_MOST)


def _replace(org: OrgRecord, rec: ScimUserRecord, user: ScimUser) -> ScimUser:
    if user.user_name is None or user.user_name.lower() != rec.user_name.lower():
        raise ScimInvalid("userName is immutable", code="mutability")
    active = user.active is not False
    replaced: list[ScimUserRecord] = []

    def attempt(released: list[InvitationRecord]) -> None:
        move = _move(org, rec.user_id, rec.email, active, rec.role, released=released)
        new = rec.model_copy(
            update={
                "attributes": _attributes(user),
                "updated_at": clock.now_iso(),
                "version": rec.version + 1,
                "role": move.role or rec.role,  # a deactivated member's role is kept for a reactivation
            }
        )
        chain.transact(
            [data.replace_user(new, on_fail=_changed()), *move.ops],
            audit=_event(org, move, "scim_user.updated", rec.user_id),
        )
        replaced.append(new)

    plans.create_releasing(attempt, lambda: _expired_invitations(org))
    return _view(replaced[-1], active)


def replace_user(org: OrgRecord, user_id: str, user: ScimUser, *, if_match: str | None = None) -> ScimUser:
    rec = _record(org, user_id)
    if if_match is not None:
        check_version(_view(rec, _active(org, rec.user_id)), if_match)
    return _replace(org, rec, user)


def patch_user(org: OrgRecord, user_id: str, patch: PatchOp[ScimUser], *, if_match: str | None = None) -> ScimUser:
    rec = _record(org, user_id)
    user = _view(rec, _active(org, rec.user_id))
    check_version(user, if_match)
    try:
        patch.patch(user)
    except SCIMException as exc:
        raise ScimInvalid("the patch does not apply to this User", code=str(exc.scim_type or "invalidValue")) from None
    except ValueError:
        raise ScimInvalid("the patch does not apply to this User", code="invalidValue") from None
    return _replace(org, rec, user)


def delete_user(org: OrgRecord, user_id: str, *, if_match: str | None = None) -> None:
    rec = _record(org, user_id)
    if if_match is not None:
        check_version(_view(rec, _active(org, rec.user_id)), if_match)
    move = _move(org, rec.user_id, rec.email, active=False)
    chain.transact(
        [*data.delete_user(rec, on_fail=_not_found()), *move.ops],
        audit=_event(org, move, "scim_user.deleted", rec.user_id),
    )
