"""Custom roles: the business rules. Nobody creates, changes or deletes a role holding a permission
or a scope they lack (`permissions.covers`); a built-in role's slug is never a custom role's; a role
that a member or a pending invitation names is never deleted (its `in_use`, moved with them in
domain/orgs.py); an org holds at most `roles.MAX_ROLES` (the org's `role_count`, moved in the
same transactions: 409 `too_many_roles`). Every mutation is one `data.chain.transact` with one audit event."""

from __future__ import annotations

from strongroom import clock, ids
from strongroom.data import chain, db, roles
from strongroom.data import orgs as org_data
from strongroom.data.roles import RoleRecord
from strongroom.domain import audit
from strongroom.errors import Conflict, Forbidden, Invalid, NotFound
from strongroom.models import CustomRole, RoleCreate, RolePut, slugify
from strongroom.security import permissions
from strongroom.security.access import OrgAccess


def view(role: RoleRecord) -> CustomRole:
    return CustomRole.model_validate(role.model_dump())


def _event(name: str, role: RoleRecord, **metadata: object) -> audit.AuditEvent:
    return audit.event(
        name,
        scope_id=role.org_id,
        resource_type="role",
        resource_id=role.id,
        metadata={"slug": role.slug, **metadata},
    )


def _require_covers(access: OrgAccess, grants: dict[str, permissions.Scope], verb: str) -> None:
    if not permissions.covers(access.holds(), grants):
        lacking = sorted(p for p in grants if not permissions.covers(access.holds(), {p: grants[p]}))
        raise Forbidden(
            f"your role ({access.role}) cannot {verb} a role holding permissions or scopes it lacks",
            details={"role": access.role, "permissions": lacking},
        )


def _find(access: OrgAccess, ref: str) -> RoleRecord:
    found = roles.resolve(access.org.id, ref)
    if found is None:
        raise NotFound("role not found")
    return found


def list_roles(access: OrgAccess) -> list[CustomRole]:
    """The org's custom roles (`members.read`: whoever sees members sees what their roles are)."""
    return [view(r) for r in roles.page(access.org.id)]


def get(access: OrgAccess, ref: str) -> CustomRole:
    return view(_find(access, ref))


def create(access: OrgAccess, body: RoleCreate) -> CustomRole:
    """A new custom role (`roles.manage`)."""
    slug = body.slug or slugify(body.name)
    if not slug:
        raise Invalid(
            "the name gives no slug; pass one",
            details={"fields": [{"field": "slug", "location": "body", "issue": "required"}]},
        )
    if slug in roles.BUILT_IN:
        raise Conflict(
            "this slug is a built-in role's",
            code="slug_taken",
            details={"fields": [{"field": "slug", "location": "body", "issue": "a built-in role"}]},
        )
    _require_covers(access, dict(body.permissions), "create")
    now = clock.now_iso()
    role = RoleRecord(
        id=ids.new_id("rol"),
        org_id=access.org.id,
        slug=slug,
        name=body.name,
        description=body.description,
        permissions=dict(sorted(body.permissions.items())),
        created_at=now,
        updated_at=now,
    )
    chain.transact(
        [org_data.count_roles(access.org.id, 1, at_most=roles.MAX_ROLES), *roles.create(role)],
        audit=_event("role.created", role, permissions=role.permissions),
    )
    return view(role)


def update(access: OrgAccess, ref: str, body: RolePut) -> CustomRole:
    """Replace a role's name, description and permissions (`roles.manage`): the caller must hold
    what it held and what it will hold."""
    role = _find(access, ref)
    _require_covers(access, dict(role.permissions), "change")
    _require_covers(access, dict(body.permissions), "change")
    now = clock.now_iso()
    changes = {
        "name": body.name,
        "description": body.description,
        "permissions": dict(sorted(body.permissions.items())),
    }
    chain.transact(
        [roles.update(role, changes, now)],
        audit=_event("role.updated", role, permissions=changes["permissions"], previous=role.permissions),
    )
    return view(role.model_copy(update={**changes, "updated_at": now, "version": role.version + 1}))


def delete(access: OrgAccess, ref: str) -> None:
    """Delete a role nobody holds or is invited to (`roles.manage`; in use: 409 `role_in_use`)."""
    role = _find(access, ref)
    _require_covers(access, dict(role.permissions), "delete")
    if role.in_use > 0:
        raise Conflict(
            "the role is in use: change its members' roles and revoke its pending invitations first",
            code="role_in_use",
            details={"in_use": role.in_use},
        )
    chain.transact(
        [org_data.count_roles(access.org.id, -1, at_most=roles.MAX_ROLES), *roles.delete(role)],
        audit=_event("role.deleted", role),
    )


def grants(org_id: str, role: str) -> dict[str, permissions.Scope]:
    """What `role` holds in the org, for granting it: a built-in role's matrix, a custom role's
    permissions; an unknown role is a 400 on the field `role`."""
    if permissions.builtin(role):
        return permissions.role_permissions(role)
    found = roles.get(org_id, role)
    if found is None:
        raise Invalid(
            "no such role in this organization",
            details={"fields": [{"field": "role", "location": "body", "issue": "unknown role"}]},
        )
    return dict(found.permissions)


def uses(org_id: str, deltas: dict[str, int]) -> list[db.Op]:
    """The ops moving the `in_use` of the custom roles among `deltas` (role -> +1/-1)."""
    return [roles.use(org_id, slug, d) for slug, d in deltas.items() if d and not permissions.builtin(slug)]
