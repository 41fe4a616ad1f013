"""SCIM 2.0 Groups (RFC 7643 §4.2): one per role of the org, built-in and custom.

- A built-in role's Group has its slug as id and displayName (immutable); a custom role's has the
  role's id (`rol_…`) and name. Creating a Group creates a custom role of that name holding no
  permission (an admin grants it what it should hold); deleting one deletes the custom role,
  its members becoming viewers first (a built-in role's Group is never deleted: 400 mutability).
- The members of a Group are the users holding its role: the org's members with that role, and
  the provisioned users not active now whose role (data/scim.py) it is (they hold it again when
  reactivated). Making a user a member sets their role; removing one makes them a viewer (the
  viewers' Group loses a member only by another Group's gaining it, or by the user's
  deactivation: 400 mutability otherwise).
- Owners move only with a token an owner created and still is (403 `owner_removal`, as for
  Users), and the last owner never leaves the owners' Group (409 `last_owner`, as everywhere).
Every change is one transaction with one audit event (`scim_group.created`, `.updated`,
`.deleted`; actor: the SCIM token) naming the role and each member's move."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError
from scim2_models import Context, Meta, PatchOp, SCIMException

from strongroom import clock, ids
from strongroom.config import settings
from strongroom.data import chain, db
from strongroom.data import orgs as org_data
from strongroom.data import roles as role_data
from strongroom.data import scim as data
from strongroom.data.orgs import OrgRecord
from strongroom.data.roles import RoleRecord
from strongroom.domain import audit, roles
from strongroom.domain.scim import DEFAULT_ROLE, ScimInvalid, check_version, location, require_owner_authority
from strongroom.errors import Conflict, NotFound
from strongroom.models.common import slugify
from strongroom.models.scim_resources import MAX_RESULTS, GroupMember, ScimGroup, versioned
from strongroom.security import permissions

MAX_MOVES = 40  # members one request may move (each is a write of the transaction)
MAX_NAME = 100
_BUILT_IN = ("owner", "admin", "developer", "viewer")


def _not_found() -> NotFound:
    return NotFound("group not found")


@dataclass(slots=True)
class _Role:
    group_id: str
    slug: str
    name: str
    record: RoleRecord | None  # None: built-in
    created_at: str
    updated_at: str


def _builtin(org: OrgRecord, slug: str) -> _Role:
    return _Role(slug, slug, slug, None, org.created_at, org.created_at)


def _custom(rec: RoleRecord) -> _Role:
    return _Role(rec.id, rec.slug, rec.name, rec, rec.created_at, rec.updated_at)


def _roles(org: OrgRecord) -> list[_Role]:
    return [*(_builtin(org, s) for s in _BUILT_IN), *(_custom(r) for r in role_data.page(org.id))]


def _role(org: OrgRecord, group_id: str) -> _Role:
    if group_id in _BUILT_IN:
        return _builtin(org, group_id)
    rec = role_data.resolve(org.id, group_id) if ids.is_id(group_id, "rol") else None
    if rec is None:
        raise _not_found()
    return _custom(rec)


@dataclass(slots=True)
class _Holders:
    """Who holds which role: members by their membership, inactive provisioned users by their record."""

    by_role: dict[str, list[str]] = field(default_factory=lambda: defaultdict(list))
    members: dict[str, org_data.MembershipRecord] = field(default_factory=dict)
    records: dict[str, data.ScimUserRecord] = field(default_factory=dict)


def _holders(org: OrgRecord) -> _Holders:
    found = _Holders()
    cursor: str | None = None
    while True:
        page, cursor = org_data.members_page(org.id, limit=500, cursor=cursor)
        found.members.update({m.user_id: m for m in page})
        if not cursor:
            break
    found.records = {r.user_id: r for r in data.users_of_org(org.id)}
    for m in found.members.values():
        found.by_role[m.role].append(m.user_id)
    for r in found.records.values():
        if r.user_id not in found.members:
            found.by_role[r.role].append(r.user_id)
    return found


def _location(group_id: str) -> str | None:
    base = settings().api_url.rstrip("/")
    return f"{base}/scim/v2/Groups/{group_id}" if base else None


def _view(role: _Role, holders: _Holders, external_id: str | None) -> ScimGroup:
    members = [GroupMember(value=u, ref=location(u)) for u in sorted(holders.by_role.get(role.slug, []))]
    return versioned(
        ScimGroup(
            id=role.group_id,
            external_id=external_id,
            display_name=role.name,
            members=members or None,
            meta=Meta(
                resource_type="Group",
                created=clock.parse(role.created_at),
                last_modified=clock.parse(role.updated_at),
                location=_location(role.group_id),
            ),
        )
    )


# --------------------------------------------------------------------------- parsing


def parse_group(body: Any, ctx: Context) -> ScimGroup:
    if not isinstance(body, dict):
        raise ScimInvalid("the body is not a SCIM Group", code="invalidSyntax")
    try:
        group = ScimGroup.model_validate(body, scim_ctx=ctx)
    except (ValidationError, SCIMException, ValueError):
        raise ScimInvalid("the body is not a valid SCIM Group", code="invalidValue") from None
    if not group.display_name or len(group.display_name) > MAX_NAME:
        raise ScimInvalid(f"displayName is required (at most {MAX_NAME} characters)", code="invalidValue")
    return group


def parse_patch(body: Any) -> PatchOp[ScimGroup]:
    if not isinstance(body, dict):
        raise ScimInvalid("the body is not a SCIM PatchOp", code="invalidSyntax")
    try:
        return PatchOp[ScimGroup].model_validate(body, scim_ctx=Context.RESOURCE_PATCH_REQUEST)
    except (ValidationError, SCIMException, ValueError):
        raise ScimInvalid("the body is not a valid SCIM PatchOp", code="invalidValue") from None


def member_ids(group: ScimGroup) -> set[str]:
    """The user ids a Group's members name (by `value`, else the last segment of `$ref`)."""
    wanted = set()
    for member in group.members or []:
        value = member.value or (str(member.ref).rstrip("/").rsplit("/", 1)[-1] if member.ref else "")
        if not ids.is_id(value, "usr"):
            raise ScimInvalid("a member is not a User of this organization", code="invalidValue")
        wanted.add(value)
    return wanted


# --------------------------------------------------------------------------- membership moves


@dataclass(slots=True)
class _Moves:
    ops: list[db.Op]
    moved: list[dict[str, str]]  # {user_id, from, to}
    own: int  # holders the group's own role gains (+) or loses (-)


def _moves(org: OrgRecord, role: _Role, holders: _Holders, wanted: set[str], *, guard: bool = True) -> _Moves:
    """The writes that make `wanted` exactly the holders of `role` (its own `in_use` left to the
    caller, which may touch the role item once)."""
    current = set(holders.by_role.get(role.slug, []))
    added, removed = sorted(wanted - current), sorted(current - wanted)
    if removed and role.slug == DEFAULT_ROLE:
        raise ScimInvalid(
            "a user leaves the viewers' group by joining another, or by being deactivated", code="mutability"
        )
    if len(added) + len(removed) > MAX_MOVES:
        raise ScimInvalid(f"a request moves at most {MAX_MOVES} members", code="invalidValue")
    ops: list[db.Op] = []
    moved: list[dict[str, str]] = []
    deltas: dict[str, int] = defaultdict(int)
    owners = 0
    now = clock.now_iso()
    for user_id, new in [*((u, role.slug) for u in added), *((u, DEFAULT_ROLE) for u in removed)]:
        member, record = holders.members.get(user_id), holders.records.get(user_id)
        if member is None and record is None:
            raise ScimInvalid("a member is not a User of this organization", code="invalidValue")
        old = member.role if member is not None else record.role  # type: ignore[union-attr]
        if "owner" in (old, new):
            require_owner_authority(org)
        if member is not None:
            ops.append(org_data.set_role(member, new))
            owners += (new == "owner") - (old == "owner")
            deltas[old] -= 1
            deltas[new] += 1
        if record is not None and record.role != new:
            update = {"role": new, "updated_at": now, "version": record.version + 1}
            ops.append(data.replace_user(record.model_copy(update=update), on_fail=_changed()))
        moved.append({"user_id": user_id, "from": old, "to": new})
    own = deltas.pop(role.slug, 0) if role.record is not None else 0
    if owners and not guard:  # the transaction's one op on the org item is the role count
        raise ScimInvalid("owners move between groups by a PATCH of the owners' group", code="mutability")
    if guard:
        ops.append(org_data.guard(org.id, owners))
    ops += roles.uses(org.id, dict(deltas))
    return _Moves(ops, moved, own)


def _changed() -> Conflict:
    return Conflict("the group changed meanwhile; retry")


def _event(action: str, org: OrgRecord, role: _Role, moves: _Moves, **metadata: object) -> audit.AuditEvent:
    return audit.event(
        action,
        scope_id=org.id,
        resource_type="scim_group",
        resource_id=role.group_id,
        metadata={"role": role.slug, "members": moves.moved, "via": "scim", **metadata},
    )


# --------------------------------------------------------------------------- operations


def list_groups(
    org: OrgRecord, *, display_name: str | None, start_index: int, count: int
) -> tuple[int, list[ScimGroup]]:
    found = _roles(org)
    if display_name is not None:
        found = [r for r in found if r.name.lower() == display_name.lower()]
    start = max(start_index, 1) - 1
    page = found[start : start + max(min(count, MAX_RESULTS), 0)]
    holders = _holders(org) if page else _Holders()
    external = data.group_external_ids(org.id) if page else {}
    return len(found), [_view(r, holders, external.get(r.group_id)) for r in page]


def get_group(org: OrgRecord, group_id: str) -> ScimGroup:
    role = _role(org, group_id)
    return _view(role, _holders(org), data.group_external_ids(org.id).get(role.group_id))


def create_group(org: OrgRecord, group: ScimGroup) -> ScimGroup:
    name = str(group.display_name)
    slug = slugify(name)
    if not slug or slug in _BUILT_IN or permissions.builtin(slug):
        raise Conflict("a group with this displayName exists already", code="uniqueness")
    if role_data.get(org.id, slug) is not None:
        raise Conflict("a group with this displayName exists already", code="uniqueness")
    now = clock.now_iso()
    draft = RoleRecord(
        id=ids.new_id("rol"), org_id=org.id, slug=slug, name=name, permissions={}, created_at=now, updated_at=now
    )
    holders = _holders(org)
    # The org item takes one op: the role count (which checks the org is active) when no owner moves.
    moves = _moves(org, _custom(draft), holders, member_ids(group), guard=False)
    rec = draft.model_copy(update={"in_use": moves.own})
    taken = Conflict("a group with this displayName exists already", code="uniqueness")
    ops = [
        org_data.count_roles(org.id, 1, at_most=role_data.MAX_ROLES),
        *_create_role(rec, taken),
        *moves.ops,
    ]
    if group.external_id:
        ops.append(data.put_group_external_id(org.id, rec.id, group.external_id))
    chain.transact(ops, audit=_event("scim_group.created", org, _custom(rec), moves, name=name))
    return _view(_custom(rec), _moved(holders, moves), group.external_id)


def _create_role(rec: RoleRecord, taken: Conflict) -> list[db.Op]:
    ops = role_data.create(rec)
    first = ops[0]
    if isinstance(first, db.Put):
        first.on_fail = taken
    return ops


def _moved(holders: _Holders, moves: _Moves) -> _Holders:
    """The holders after `moves` (for the answer, without reading them again)."""
    by_role: dict[str, list[str]] = defaultdict(list)
    for slug, users in holders.by_role.items():
        by_role[slug] = list(users)
    for move in moves.moved:
        if move["user_id"] in by_role[move["from"]]:
            by_role[move["from"]].remove(move["user_id"])
        if move["user_id"] not in by_role[move["to"]]:
            by_role[move["to"]].append(move["user_id"])
    return _Holders(by_role=by_role, members=holders.members, records=holders.records)


def _replace(
    org: OrgRecord, role: _Role, group: ScimGroup, holders: _Holders, previous_external: str | None
) -> ScimGroup:
    name = str(group.display_name)
    renamed = name != role.name
    if renamed and role.record is None:
        raise ScimInvalid("a built-in role's group keeps its displayName", code="mutability")
    moves = _moves(org, role, holders, member_ids(group))
    ops = list(moves.ops)
    now = clock.now_iso()
    if role.record is not None and (renamed or moves.own):
        changes = {"name": name} if renamed else {}
        ops.append(role_data.update(role.record, changes, now, in_use_delta=moves.own))
    if group.external_id != previous_external:
        ops.append(data.put_group_external_id(org.id, role.group_id, group.external_id))
    chain.transact(ops, audit=_event("scim_group.updated", org, role, moves, renamed=renamed))
    after = _Role(role.group_id, role.slug, name, role.record, role.created_at, now if renamed else role.updated_at)
    return _view(after, _moved(holders, moves), group.external_id)


def replace_group(org: OrgRecord, group_id: str, group: ScimGroup, *, if_match: str | None = None) -> ScimGroup:
    role = _role(org, group_id)
    holders = _holders(org)
    external = data.group_external_ids(org.id).get(role.group_id)
    if if_match is not None:
        check_version(_view(role, holders, external), if_match)
    return _replace(org, role, group, holders, external)


def patch_group(org: OrgRecord, group_id: str, patch: PatchOp[ScimGroup], *, if_match: str | None = None) -> ScimGroup:
    role = _role(org, group_id)
    holders = _holders(org)
    external = data.group_external_ids(org.id).get(role.group_id)
    group = _view(role, holders, external)
    check_version(group, if_match)
    try:
        patch.patch(group)
    except SCIMException as exc:
        raise ScimInvalid("the patch does not apply to this Group", code=str(exc.scim_type or "invalidValue")) from None
    except ValueError:
        raise ScimInvalid("the patch does not apply to this Group", code="invalidValue") from None
    if not group.display_name or len(group.display_name) > MAX_NAME:
        raise ScimInvalid(f"displayName is required (at most {MAX_NAME} characters)", code="mutability")
    return _replace(org, role, group, holders, external)


def delete_group(org: OrgRecord, group_id: str, *, if_match: str | None = None) -> None:
    role = _role(org, group_id)
    if role.record is None:
        raise ScimInvalid("a built-in role's group is never deleted", code="mutability")
    holders = _holders(org)
    if if_match is not None:
        check_version(_view(role, holders, data.group_external_ids(org.id).get(role.group_id)), if_match)
    moves = _moves(org, role, holders, set(), guard=False)
    ops = [
        org_data.count_roles(org.id, -1, at_most=role_data.MAX_ROLES),
        *role_data.delete(role.record, holders=-moves.own),
        *moves.ops,
        data.put_group_external_id(org.id, role.group_id, None),
    ]
    chain.transact(ops, audit=_event("scim_group.deleted", org, role, moves))
