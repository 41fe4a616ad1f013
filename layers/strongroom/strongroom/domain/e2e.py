"""End-to-end encrypted environments (docs/design.md, "End-to-end encrypted environments"): users'
key pairs, the grants of a client-encrypted environment's data key, and its rekey. The server
never holds a plaintext value nor a data key: a grant is the data key sealed by a client to a
principal's public key (HPKE), a value the client's AES-GCM ciphertext. What the server decides is
who holds a grant: only principals who may read the environment, one grant each, at the
environment's current key version; a rekey replaces every grant and every value in one change.

Grants live in the environment's partition, keyed by key version (data/grants.py): a rekey writes
the next version's grants ahead, then publishes them with the values (the secrets' change path,
small or large) in the transaction that moves the environment's `key_version`, conditional on the
set of grants it was planned from (`grant_rev`)."""

from __future__ import annotations

from typing import Any

from strongroom import clock, ids
from strongroom.context import principal
from strongroom.data import chain, db, user_keys
from strongroom.data import grants as data
from strongroom.data import orgs as org_data
from strongroom.data import tokens as token_data
from strongroom.data.grants import GrantRecord
from strongroom.data.projects import EnvironmentRecord
from strongroom.data.user_keys import UserKeyRecord
from strongroom.domain import audit, secrets
from strongroom.errors import Conflict, Forbidden, NotFound, Unprocessable
from strongroom.models import (
    EnvironmentKey,
    Grant,
    GrantBody,
    GrantCreate,
    GrantList,
    Rekey,
    Rekeyed,
    UserKey,
    UserKeys,
    UserKeysPut,
)
from strongroom.security import permissions
from strongroom.security.access import EnvironmentAccess, role_grants

# --------------------------------------------------------------------------- users' keys


def _me() -> str:
    who = principal()
    if who.type != "user":
        raise Forbidden("this endpoint is for users; service tokens use /runtime/v1")
    return who.id


def my_keys() -> UserKeys:
    """The caller's key pairs (the private keys as the client sealed them)."""
    return UserKeys(data=[UserKey.model_validate(r.model_dump()) for r in user_keys.get(_me())])


def put_my_keys(body: UserKeysPut) -> UserKeys:
    """Replace the caller's key pairs (one per suite), audited in the user's own log (`user.keys_updated`:
    suites and public-key fingerprints; never a private key)."""
    user_id, now = _me(), clock.now_iso()
    before = {r.suite: r for r in user_keys.get(user_id)}
    records = [
        UserKeyRecord(
            suite=k.suite,
            public_key=k.public_key,
            encrypted_private_key=k.encrypted_private_key.get_secret_value(),
            # a re-sealed private key (a new passphrase) keeps its key pair's age
            created_at=before[k.suite].created_at
            if k.suite in before and before[k.suite].public_key == k.public_key
            else now,
        )
        for k in sorted(body.keys, key=lambda k: k.suite)
    ]
    chain.transact(
        [user_keys.replace(user_id, records, now)],
        audit=audit.event(
            "user.keys_updated",
            scope_id=user_id,
            resource_type="user",
            resource_id=user_id,
            metadata={
                "suites": [r.suite for r in records],
                "fingerprints": [fingerprint(r.public_key) for r in records],
            },
        ),
    )
    return UserKeys(data=[UserKey.model_validate(r.model_dump()) for r in records])


def fingerprint(public_key: str) -> str:
    """A public key's short name in audit events: the first 16 hex digits of its SHA-256."""
    import hashlib  # noqa: PLC0415

    return hashlib.sha256(public_key.encode()).hexdigest()[:16]


# --------------------------------------------------------------------------- who may hold a grant


def _principal_type() -> tuple[str, str]:
    who = principal()
    return ("token" if who.type == "service_token" else who.type), who.id


def _check_client(access: EnvironmentAccess) -> EnvironmentRecord:
    env = access.environment
    if env.encryption != "client":
        raise Unprocessable(
            "this environment is server-managed: it has no grants (its data key never leaves KMS unwrapped "
            "but in the server)",
            code="not_client_encrypted",
        )
    return env


def _member_may_read(org_id: str, user_id: str, env: EnvironmentRecord) -> bool:
    membership = org_data.membership(org_id, user_id)
    if membership is None:
        return False
    held = role_grants(org_id, membership.role)
    scope = permissions.scope_of(membership.role, "secrets.read") if held is None else held.get("secrets.read")
    return permissions.scope_allows(scope, env_slug=env.slug, production=env.production)


def _refuse(message: str, code: str, field: str) -> Unprocessable:
    return Unprocessable(message, code=code, details={"fields": [{"field": field, "location": "body", "issue": code}]})


def _check_grantee(access: EnvironmentAccess, principal_type: str, principal_id: str, suite: str) -> None:
    """422 unless the principal may read the environment and published a public key of `suite`:
    a user who is a member reading it by role, or a client-made token of this environment."""
    env = access.environment
    if principal_type == "user":
        if not _member_may_read(access.org.id, principal_id, env):
            raise _refuse("that user is not a member who may read this environment", "cannot_read", "principal")
        if suite not in {k.suite for k in user_keys.get(principal_id)}:
            raise _refuse(f"that user has published no {suite} public key", "no_public_key", "suite")
        return
    token = token_data.get(principal_id)
    if token is None or token.org_id != access.org.id or token.environment_id != env.id:
        raise _refuse("that token is not a token of this environment", "cannot_read", "principal")
    if token.suite != suite or token.public_key is None:
        raise _refuse(f"that token has no {suite} public key (a client-made token has one)", "no_public_key", "suite")


def _view(rec: GrantRecord) -> Grant:
    return Grant.model_validate({**rec.model_dump(), "principal": {"type": rec.principal_type, "id": rec.principal_id}})


def _event(action: str, env: EnvironmentRecord, rec: GrantRecord) -> audit.AuditEvent:
    return audit.event(
        action,
        scope_id=env.org_id,
        resource_type="grant",
        resource_id=rec.id,
        project_id=env.project_id,
        environment_id=env.id,
        metadata={
            "principal": {"type": rec.principal_type, "id": rec.principal_id},
            "suite": rec.suite,
            "key_version": rec.key_version,
        },
    )


# --------------------------------------------------------------------------- a client environment's creation


def first_grant(env: EnvironmentRecord, grant: GrantBody) -> tuple[list[db.Op], dict[str, Any]]:
    """The ops that make a new client environment's ID unique and give its creator its first
    grant (key version 1), and what its `environment.created` event says of them. The creator must
    have published a public key of the grant's suite."""
    who_type, who_id = _principal_type()
    if who_type != "user" or grant.suite not in {k.suite for k in user_keys.get(who_id)}:
        raise _refuse(
            f"publish a {grant.suite} public key first (PUT /v1/me/keys): the creator's grant is sealed to it",
            "no_public_key",
            "grant",
        )
    rec = GrantRecord(
        id=ids.new_id("grt"),
        principal_type=who_type,
        principal_id=who_id,
        suite=grant.suite,
        wrapped_key=grant.wrapped_key,
        key_version=1,
        created_at=env.created_at,
        created_by=who_id,
    )
    return [data.claim(env), *data.first(env, rec)], {"grant_id": rec.id, "suite": rec.suite, "key_version": 1}


# --------------------------------------------------------------------------- grants


def my_key(access: EnvironmentAccess) -> EnvironmentKey:
    """The caller's grant at the environment's key version (403 `no_grant` without one)."""
    env = _check_client(access)
    principal_type, principal_id = _principal_type()
    rec = data.of(env, principal_type, principal_id)
    if rec is None:
        raise Forbidden("you hold no grant of this environment's key", code="no_grant")
    return EnvironmentKey.model_validate(rec.model_dump())


def list_grants(access: EnvironmentAccess) -> GrantList:
    env = _check_client(access)
    return GrantList(data=[_view(r) for r in data.current(env)])


def add_grant(access: EnvironmentAccess, body: GrantCreate) -> Grant:
    """A grant for a principal who may read the environment, at its current key version (409
    `key_version_mismatch` otherwise; 409 `grant_exists` when the principal holds one)."""
    env = _check_client(access)
    access.require("secrets.read", env)  # nobody grants what they cannot read
    if body.key_version != env.key_version:
        raise Conflict(
            "the environment's key version is another: fetch its key again",
            code="key_version_mismatch",
            details={"key_version": env.key_version},
        )
    _check_grantee(access, body.principal.type, body.principal.id, body.suite)
    rec = GrantRecord(
        id=ids.new_id("grt"),
        principal_type=body.principal.type,
        principal_id=body.principal.id,
        suite=body.suite,
        wrapped_key=body.wrapped_key,
        key_version=body.key_version,
        created_at=clock.now_iso(),
        created_by=access.principal.id,
    )
    moved = Conflict(
        f"the environment was rekeyed meanwhile, or holds {data.MAX_GRANTS} grants",
        code="key_version_mismatch",
    )
    exists = Conflict("that principal holds a grant of this environment", code="grant_exists")
    chain.transact(data.add(env, rec, on_fail=moved, exists=exists), audit=_event("grant.created", env, rec))
    return _view(rec)


def revoke_grant(access: EnvironmentAccess, grant_id: str) -> None:
    """The grant deleted: its principal can no longer fetch the key (a rekey then makes what it
    may have kept useless)."""
    env = _check_client(access)
    rec = data.by_id(env, grant_id) if ids.is_id(grant_id, "grt") else None
    if rec is None:
        raise NotFound("grant not found")
    moved = Conflict("the environment was rekeyed meanwhile; retry", code="key_version_mismatch")
    chain.transact(data.remove(env, rec, on_fail=moved), audit=_event("grant.revoked", env, rec))


# --------------------------------------------------------------------------- rekey


def _rekey_grants(env: EnvironmentRecord, body: Rekey, now: str, who: str) -> list[GrantRecord]:
    """The new key version's grants: one for each principal holding one now, and only those
    (422 `grants_mismatch` naming the missing and the extra ones)."""
    current = {(r.principal_type, r.principal_id): r for r in data.current(env)}
    given = {(g.principal.type, g.principal.id): g for g in body.grants}
    missing, extra = sorted(set(current) - set(given)), sorted(set(given) - set(current))
    if missing or extra or len(given) != len(body.grants):
        raise Unprocessable(
            "a rekey gives a new grant to every principal holding one now, and to nobody else",
            code="grants_mismatch",
            details={
                "missing": [{"type": t, "id": i} for t, i in missing[:20]],
                "extra": [{"type": t, "id": i} for t, i in extra[:20]],
            },
        )
    return [
        GrantRecord(
            id=current[ident].id,
            principal_type=ident[0],
            principal_id=ident[1],
            suite=g.suite,
            wrapped_key=g.wrapped_key,
            key_version=body.key_version,
            created_at=now,
            created_by=who,
        )
        for ident, g in sorted(given.items())
    ]


def rekey(access: EnvironmentAccess, body: Rekey) -> Rekeyed:
    """A new data key version: every grant and every live value replaced, in one change. The new
    grants are written ahead at the new version (no reader reads it yet); the values go through
    the secrets' change path (one transaction, or a large change's publication), whose publishing
    transaction also moves the environment's key version, conditional on the key version and the
    set of grants read. A refused publication deletes the grants written ahead; a published one
    deletes the old version's."""
    env = _check_client(access)
    access.require("secrets.write", env)
    current_version = env.key_version or 1
    if body.key_version != current_version + 1:
        raise Conflict(
            "a rekey's key version is the current one + 1",
            code="key_version_mismatch",
            details={"key_version": current_version},
        )
    now = clock.now_iso()
    new_grants = _rekey_grants(env, body, now, access.principal.id)
    old_grants = data.current(env)
    # what an earlier rekey to this version left (refused, or its outcome unknown) is never published
    data.discard(data.at_version(env.id, body.key_version))
    staged = data.stage(env.id, new_grants)
    moved = Conflict(
        "the environment's grants or key changed meanwhile; fetch them and rekey again", code="grants_changed"
    )
    try:
        revision = secrets.rekey_values(
            access,
            body.values,
            key_version=body.key_version,
            publish=[data.rekeyed(env, body.key_version, on_fail=moved)],
            metadata={
                "from_key_version": current_version,
                "to_key_version": body.key_version,
                "grants": len(new_grants),
            },
        )
    except (Conflict, Unprocessable):  # refused: nothing was published (an unknown outcome leaves them)
        _best_effort_discard(staged)
        raise
    _best_effort_discard(data.keys_at(env.id, old_grants))
    return Rekeyed(key_version=body.key_version, revision=revision, grants=len(new_grants), values=len(body.values))


def _best_effort_discard(item_keys: list[dict[str, str]]) -> None:
    try:
        data.discard(item_keys)
    except Exception as exc:  # noqa: BLE001 - the outcome is decided; what is left no reader reaches
        from strongroom.observability import logger  # noqa: PLC0415

        logger.warning("unreachable grants left behind", extra={"error": type(exc).__name__, "count": len(item_keys)})
