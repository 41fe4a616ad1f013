"""Secrets of server-managed environments: versioned, encrypted, O(1) to read.

Reading an environment is one GetItem of its snapshot and, on a warm container, no KMS call.
The snapshot is one AES-GCM blob, stored with the wrapped data key, holding the whole state of
the environment: live secrets (value, version, times, author) and the trash (deleted secrets and
their last version). Every change, of one secret or of many, is one transaction: a version item
per changed secret (immutable history), the snapshot conditional on the revision it read
(re-read and re-planned on a concurrent change) and exactly one audit event. If-Match and every
other precondition is checked against the state read, in the plan, so a retry re-checks it.
"""

from __future__ import annotations

import functools
import hashlib
import json
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from strongroom import clock, ids
from strongroom.config import settings
from strongroom.data import chain, db
from strongroom.data import counters as counter_data
from strongroom.data import grants as grant_data
from strongroom.data import projects as project_data
from strongroom.data import secrets as data
from strongroom.data.approval_requests import ChangeRequestRecord
from strongroom.data.secrets import DataKeyRecord, SnapshotRecord, VersionRecord
from strongroom.domain import audit, change_hold, formats, paths, patterns, plans
from strongroom.domain.resolve import Resolver, check_writable, etag, open_snapshot, reference_index
from strongroom.errors import Conflict, NotFound, PayloadTooLarge, PreconditionFailed, Unprocessable
from strongroom.models import (
    BatchResult,
    EnvironmentRestored,
    ImportResult,
    KeyRotated,
    PatternMismatch,
    PromoteResult,
    Secret,
    SecretChange,
    SecretListItem,
    SecretVersion,
    SecretWritten,
    ValidationReport,
)
from strongroom.models.e2e import client_value_issue
from strongroom.observability import logger
from strongroom.security import crypto
from strongroom.security.access import EnvironmentAccess, ProjectAccess

# An environment's ciphertext spills into part items past one item (data.CHUNK_BYTES).
MAX_SNAPSHOT_BYTES = 3_000_000
# A change whose items fit one TransactWriteItems (100 items, 4 MB) is written as one; a larger
# one is written ahead and published by one (docs/decisions.md, "changes of any size").
MAX_TRANSACTION_BYTES = 3_900_000
MAX_TRANSACTION_ITEMS = 100
AUDIT_ITEMS = 3  # what is added to a transaction: the event, a key check, the platform counter of secrets
MAX_ATTEMPTS = 5
# A point-in-time restore reads the environment's whole history (without values): at most this
# many version items, so that one request's work stays bounded.
MAX_RESTORE_VERSIONS = 50_000
# Audit events (and the webhook payloads made from them) name at most this many keys of a change,
# with the count and the SHA-256 of the sorted list of every key.
AUDIT_KEYS = 100


class _Retry(Conflict):
    """The snapshot moved under us: re-read and apply again."""


def _scope(access: EnvironmentAccess) -> crypto.Scope:
    return crypto.Scope(access.org.id, access.project.id, access.environment.id)


def _check_server_managed(access: EnvironmentAccess, what: str) -> None:
    """422 `client_encrypted` for what works on plaintext only (references, patterns, formats,
    copies between environments, server-side history): never applied to a client's ciphertext."""
    if access.environment.encryption != "server":
        raise Unprocessable(
            f"this environment is client-encrypted: the server holds only ciphertext, so {what} does not "
            "apply here (the client encrypts and decrypts)",
            code="client_encrypted",
        )


def _client(access: EnvironmentAccess) -> bool:
    return access.environment.encryption == "client"


def _check_ciphertexts(changes: Mapping[str, str | None]) -> None:
    """A client-encrypted environment stores values exactly as sent, and only what has the shape of
    the contract's ciphertext (base64 of nonce ‖ AES-GCM ciphertext ‖ tag): a plaintext sent by
    mistake is refused (422 `not_ciphertext`, naming the keys, never the values)."""
    bad = sorted(k for k, v in changes.items() if v is not None and client_value_issue(v) is not None)
    if bad:
        raise Unprocessable(
            "in a client-encrypted environment a value is the client's ciphertext: base64(nonce(12) ‖ AES-256-GCM)",
            code="not_ciphertext",
            details={"keys": bad[:20]},
        )


@dataclass(slots=True)
class State:
    """An environment as its snapshot holds it."""

    snapshot: SnapshotRecord | None
    key: bytes | None
    live: dict[str, dict[str, Any]]  # name -> {value, version, created_at, updated_at, updated_by}
    trash: dict[str, dict[str, Any]]  # name -> {version, deleted_at, deleted_by}
    # the environment's own folders: path -> {id, created_at, created_by} (domain/paths.py)
    folders: dict[str, dict[str, Any]] = field(default_factory=dict)

    @property
    def values(self) -> dict[str, dict[str, Any]]:
        return self.live

    @property
    def revision(self) -> int:
        return self.snapshot.revision if self.snapshot else 0

    def plain(self) -> dict[str, str]:
        return {k: v["value"] for k, v in self.live.items()}

    def next_version(self, name: str) -> int:
        return int(max(self.live.get(name, {}).get("version", 0), self.trash.get(name, {}).get("version", 0))) + 1


def _open(scope: crypto.Scope, snap: SnapshotRecord | None) -> State:
    if snap is None:
        return State(None, None, {}, {})
    key, body = open_snapshot(scope, snap)
    return State(snap, key, body["live"], body["trash"], dict(body.get("folders") or {}))


def keys_note(names: Iterable[str]) -> dict[str, Any]:
    """What an audit event says of a change's keys, bounded whatever its size: the first
    AUDIT_KEYS (sorted), how many, and the SHA-256 of the sorted list (one key a line)."""
    ordered = sorted(names)
    digest = hashlib.sha256("\n".join(ordered).encode()).hexdigest()
    return {"keys": ordered[:AUDIT_KEYS], "count": len(ordered), "keys_sha256": digest}


def keyed(name: str) -> dict[str, str]:
    """A snapshot name as responses show it: the key and the folder holding it."""
    path, key = paths.split(name)
    return {"key": key, "path": path}


def key_note(name: str) -> dict[str, str]:
    """What an event says of one key: the key, and its folder unless the root (whose events stay
    as they were before folders)."""
    path, key = paths.split(name)
    return {"key": key} if path == paths.ROOT else {"key": key, "path": path}


def _value_aad(scope: crypto.Scope, name: str, version: int, key_version: int) -> bytes:
    return scope.aad("value", name, version, key_version)


# --------------------------------------------------------------------------- reads


def list_secrets(
    access: EnvironmentAccess,
    *,
    prefix: str,
    with_values: bool,
    limit: int,
    cursor: str | None,
    resolve: bool = True,
    path: str = paths.ROOT,
    recursive: bool = False,
) -> tuple[list[SecretListItem], str | None]:
    """Own and inherited secrets of a folder (and its subfolders when `recursive`), by name; values
    with references expanded unless `resolve` is off (a client-encrypted environment's: its
    ciphertexts, as written)."""
    resolver = Resolver(access)
    env = access.environment
    view = resolver.view(env)
    paths.check_folder(view, path)
    whole = path == paths.ROOT and not recursive
    listing = f"secrets|{env.id}|{prefix}" if whole else f"secrets|{env.id}|{path}|{int(recursive)}|{prefix}"
    after = db.deserialize(db.decode_cursor(listing, cursor))["after"] if cursor else ""
    if whole:  # the root alone, as before folders (its names are bare keys; a folder's start with /)
        names = sorted(k for k in view if k.startswith(prefix) and k > after and not k.startswith("/"))
    else:
        names = sorted(
            k
            for k in view
            if k > after and paths.selects(k, path, recursive=recursive) and paths.split(k)[1].startswith(prefix)
        )
    page, more = names[:limit], len(names) > limit
    resolved = resolver.resolve_all(env, page) if with_values and resolve else {}
    items = [
        SecretListItem(
            **keyed(k),
            value=(resolved[k] if resolve else view[k].value) if with_values else None,
            version=view[k].version,
            updated_at=view[k].updated_at,
            source=view[k].source.slug,
            inherited=view[k].source.id != env.id,
        )
        for k in page
    ]
    if with_values and items:
        _record(
            [],
            audit.environment_event("secrets.read", env, {"keys": page[:100], "count": len(items)}),
        )
    next_cursor = db.encode_cursor(listing, db.serialize({"after": page[-1]})) if more and page else None
    return items, next_cursor


def get_secret(access: EnvironmentAccess, name: str, version: int | None = None, *, resolve: bool = True) -> Secret:
    """The current value (own or inherited, references expanded unless `resolve` is off), or an
    own past version as it was written (a client-encrypted environment's: its ciphertexts)."""
    scope = _scope(access)
    env_id = access.environment.id
    if version is None:
        resolver = Resolver(access)
        entry = resolver.view(access.environment).get(name)
        if entry is None:
            raise NotFound("secret not found")
        result = Secret(
            **keyed(name),
            value=resolver.resolve(access.environment, name) if resolve else entry.value,
            version=entry.version,
            updated_at=entry.updated_at,
            updated_by=entry.updated_by,
            source=entry.source.slug,
            inherited=entry.source.id != env_id,
        )
    else:
        rec = data.version(env_id, name, version)
        if rec is None or rec.action != "set" or rec.blob is None or rec.key_version is None:
            raise NotFound("secret version not found")
        result = Secret(
            **keyed(name),
            value=_version_text(scope, env_id, rec, client=_client(access)),
            version=version,
            updated_at=rec.created_at,
            updated_by=rec.created_by,
            source=access.environment.slug,
        )
    _record(
        [],
        audit.event(
            "secret.read",
            scope_id=access.org.id,
            resource_type="secret",
            resource_id=name,
            project_id=access.project.id,
            environment_id=env_id,
            metadata={**key_note(name), "version": result.version},
        ),
    )
    return result


def _version_text(scope: crypto.Scope, env_id: str, rec: VersionRecord, *, client: bool) -> str:
    """A set version's value: a client's ciphertext as stored, or decrypted under its data key."""
    if client:
        return bytes(rec.blob or b"").decode()
    key_rec = data.data_key(env_id, rec.key_version or 0)
    if key_rec is None or rec.blob is None:
        raise NotFound("secret version not found")
    key = crypto.unwrap(scope, key_rec.version, key_rec.wrapped_key, key_rec.kms_key_id)
    aad = _value_aad(scope, rec.key, rec.version, rec.key_version or 0)
    return crypto.decrypt(key, rec.blob, aad, what="version").decode()


def list_versions(
    access: EnvironmentAccess, name: str, *, limit: int, cursor: str | None
) -> tuple[list[SecretVersion], str | None]:
    records, next_cursor = data.versions_page(access.environment.id, name, limit=limit, cursor=cursor)
    if not records and cursor is None:
        raise NotFound("secret not found")
    return [
        SecretVersion.model_validate({**r.model_dump(exclude={"blob", "key_version"}), **keyed(r.key)}) for r in records
    ], next_cursor


# --------------------------------------------------------------------------- the change path


@dataclass(slots=True)
class Plan:
    """What one change does, decided from the state it read."""

    changes: dict[str, str | None]  # name -> new value; None deletes (to the trash)
    action: str
    resource_type: str
    resource_id: str
    metadata: dict[str, Any] = field(default_factory=dict)
    comment: str = ""
    # (project_id, environment_id) when not this environment's (None, None: the org's shared secrets)
    audit_scope: tuple[str | None, str | None] | None = None
    rotate_key: bool = False  # a new data key version for this and later writes
    # A client-encrypted environment's rekey: the key version its values are under, and the ops
    # published with it (the environment's key version moved, conditional on its grants).
    key_version: int | None = None
    extra_ops: list[db.Op] = field(default_factory=list)
    # Subject to approval policies (domain/change_hold.py); not a key rotation, a rekey, or the
    # application of an approved change request.
    governed: bool = True
    # The environment's folders after the change (None: as they are, plus those a value written
    # into a folder that does not exist yet creates, with its parents).
    folders: dict[str, dict[str, Any]] | None = None


@dataclass(slots=True)
class _Committed:
    revision: int
    versions: dict[str, int]
    before: State
    written: bool
    at: str = ""
    key_version: int = 0


def _commit(access: EnvironmentAccess, planner: Callable[[State], Plan]) -> _Committed:
    """Plan against the current state and write it as one transaction, re-reading and re-planning
    when another change got in first. A plan without changes writes nothing (and is no event)."""
    for _attempt in range(MAX_ATTEMPTS):
        state = _open(_scope(access), data.snapshot(access.environment.id))
        if state.snapshot is not None and (state.snapshot.pending or state.snapshot.stale_parts):
            _finish(access.environment.id, state.snapshot)  # an earlier writer stopped short
        plan = planner(state)
        if not plan.changes and not plan.rotate_key and plan.folders is None:
            return _Committed(state.revision, {}, state, written=False)
        if _client(access):
            _check_folderless(plan)
            _check_ciphertexts(plan.changes)
        else:  # the one writing a value is its writer: its references may reach only what they can read
            check_writable(access, plan.changes)
        if plan.governed and not plan.rotate_key:
            _gate(access, state, plan)
        try:
            return _write(access, state, plan)
        except _Retry:
            continue
    raise Conflict("the environment is changing too fast; retry", headers={"Retry-After": "1"})


def commit(access: EnvironmentAccess, planner: Callable[[State], Plan]) -> tuple[int, dict[str, int], State, str]:
    """One change planned by `planner`, for the other writers of an environment's state (folders,
    domain/folders.py) or of a store of its own (the org's shared secrets, domain/shared_secrets.py):
    (revision, versions written, state written over, time)."""
    done = _commit(access, planner)
    return done.revision, done.versions, done.before, done.at


def _check_folderless(plan: Plan) -> None:
    """A client-encrypted environment keeps its keys at the root (422 `client_encrypted`): its
    values' AAD, made by its clients, names the key alone."""
    if plan.folders or any(n.startswith("/") for n in plan.changes):
        raise Unprocessable(
            "a client-encrypted environment has no folders: its keys live at the root", code="client_encrypted"
        )


def _gate(access: EnvironmentAccess, state: State, plan: Plan) -> None:
    """A write into an environment whose changes need approval: held in a change request (raises
    the 202 `Held`), or, for an owner who may bypass, written with the bypass in its audit event."""
    policy = change_hold.gate(access)
    if policy is None:
        return
    if change_hold.bypasses(access, policy):
        plan.metadata["approval_bypassed"] = {"policy_id": policy.id}
        return
    key = _key_in_use(access, state, plan, clock.now_iso())
    held = change_hold.HeldWrite(
        changes=dict(plan.changes),
        action=plan.action,
        resource_type=plan.resource_type,
        resource_id=plan.resource_id,
        metadata=plan.metadata,
        comment=plan.comment,
        revision=state.revision,
        current={name: int(state.live[name]["version"]) for name in plan.changes if name in state.live},
        next_versions={name: state.next_version(name) for name in plan.changes},
    )
    sealing = change_hold.SealingKey(key.plaintext, key.version, key.wrapped, key.kms_key_id, client=key.client)
    raise change_hold.hold(access, policy, held, sealing)


def apply_held(
    access: EnvironmentAccess,
    rec: ChangeRequestRecord,
    values: Mapping[str, str | None],
    finish: Callable[[int], list[db.Op]],
) -> int:
    """Write an approved change request's values as one change, against the state it was opened
    on: 409 `stale` when a key it changes moved since (nothing written). `finish(revision)` gives
    the ops written with it (the request's own transition); its event is `change_request.applied`.
    Returns the new revision."""

    def plan(state: State) -> Plan:
        moved = sorted(c.key for c in rec.changes if state.next_version(c.key) != c.new_version)
        if moved:
            raise Conflict(
                "keys this change request changes moved since it was opened: open it again",
                code="stale",
                details={"keys": moved[:20]},
            )
        return Plan(
            dict(values),
            "change_request.applied",
            "change_request",
            rec.id,
            {**change_hold.keys_metadata(rec), "policy_id": rec.policy_id, "base_revision": rec.base_revision},
            rec.comment,
            extra_ops=finish(state.revision + 1),
            governed=False,
        )

    return _commit(access, plan).revision


@dataclass(frozen=True, slots=True)
class KeyInUse:
    """The data key a change encrypts under: the snapshot's, or a new version (`record`, to write
    with the change) on a first write or a rotation."""

    plaintext: bytes
    version: int
    wrapped: bytes
    kms_key_id: str
    record: DataKeyRecord | None = None
    client: bool = False  # a client-encrypted environment: values stored as sent, no data key


@dataclass(frozen=True, slots=True)
class Change:
    """What one change writes, decided from the state read (`decide`): the new snapshot, a version
    item per changed secret, the new data key if any, and the audit event's metadata."""

    snapshot: SnapshotRecord
    versions: list[VersionRecord]
    data_key: DataKeyRecord | None
    audit_metadata: dict[str, Any]

    @property
    def numbers(self) -> dict[str, int]:
        """name -> the version this change gives it."""
        return {v.key: v.version for v in self.versions}


def decide(state: State, plan: Plan, key: KeyInUse, *, scope: crypto.Scope, now: str, who: str) -> Change:
    """Pure (no store, no KMS): the change `plan` makes to `state`, encrypted under `key`, or the
    refusal (413 `environment_full`) when the environment would not hold it."""
    live, trash = dict(state.live), dict(state.trash)
    versions: list[VersionRecord] = []
    for name, value in sorted(plan.changes.items()):
        version = state.next_version(name)
        blob = None
        if value is None:
            live.pop(name, None)
            trash[name] = {"version": version, "deleted_at": now, "deleted_by": who}
        else:
            created = state.live[name]["created_at"] if name in state.live else now
            live[name] = {
                "value": value,
                "version": version,
                "created_at": created,
                "updated_at": now,
                "updated_by": who,
            }
            trash.pop(name, None)
            blob = (
                value.encode()
                if key.client
                else crypto.encrypt(key.plaintext, value.encode(), _value_aad(scope, name, version, key.version))
            )
        versions.append(
            VersionRecord(
                key=name,
                version=version,
                action="delete" if value is None else "set",
                blob=blob,
                key_version=None if value is None else key.version,
                comment=plan.comment,
                created_at=now,
                created_by=who,
            )
        )
    folders = with_folders(plan.folders if plan.folders is not None else state.folders, live, now=now, who=who)
    snapshot = _seal_snapshot(state, key, live, trash, now=now, scope=scope, folders=folders)
    return Change(snapshot, versions, key.record, {**plan.metadata, "revision": snapshot.revision})


def _seal_snapshot(
    state: State,
    key: KeyInUse,
    live: dict[str, dict[str, Any]],
    trash: dict[str, dict[str, Any]],
    *,
    now: str,
    scope: crypto.Scope,
    folders: Mapping[str, Any] | None = None,
) -> SnapshotRecord:
    """The next revision of the snapshot, encrypted; 413 `environment_full` past MAX_SNAPSHOT_BYTES."""
    revision = state.revision + 1
    # `refs`: the names whose values hold `${`, so that reads expand only those (resolve.py);
    # `folders` only once the environment has one (an environment without stays as it was)
    content: dict[str, Any] = {"live": live, "trash": trash, "refs": reference_index(live)}
    if folders:
        content["folders"] = dict(sorted(folders.items()))
    body = json.dumps(content, separators=(",", ":"), ensure_ascii=False).encode()
    blob = body if key.client else crypto.encrypt(key.plaintext, body, scope.aad("snapshot", key.version, revision))
    if len(blob) > MAX_SNAPSHOT_BYTES:
        raise PayloadTooLarge(
            f"the environment would exceed {MAX_SNAPSHOT_BYTES} bytes of ciphertext",
            code="environment_full",
            details={"max_bytes": MAX_SNAPSHOT_BYTES},
        )
    return SnapshotRecord(
        revision=revision,
        blob=blob,
        key_version=key.version,
        wrapped_key=key.wrapped,
        kms_key_id=key.kms_key_id,
        count=len(live),
        updated_at=now,
        client=key.client,
    )


def fits_one_transaction(state: State, change: Change) -> bool:
    """Pure: whether the change's items (its audit event's included) fit one TransactWriteItems:
    the version items, the data key, the snapshot's items and the previous revision's parts
    (deleted with it), within MAX_TRANSACTION_ITEMS and MAX_TRANSACTION_BYTES."""
    items = (
        len(change.versions)
        + (1 if change.data_key else 0)
        + data.snapshot_item_count(change.snapshot)
        + (state.snapshot.chunks if state.snapshot else 0)
        + AUDIT_ITEMS
    )
    size = (
        sum(len(v.blob) for v in change.versions if v.blob is not None)
        + (len(change.data_key.wrapped_key) if change.data_key else 0)
        + len(change.snapshot.blob)
        + len(change.snapshot.wrapped_key)
    )
    return items <= MAX_TRANSACTION_ITEMS and size <= MAX_TRANSACTION_BYTES


def _write(access: EnvironmentAccess, state: State, plan: Plan) -> _Committed:
    """Decide the change, then write it: the data key (KMS only for a new one, before anything is
    written), then one transaction when it fits one, else the large change's steps."""
    scope, env_id, now = _scope(access), access.environment.id, clock.now_iso()
    key = _key_in_use(access, state, plan, now)
    change = decide(state, plan, key, scope=scope, now=now, who=access.principal.id)
    _within_plan(access, len(state.live), change.snapshot.count)
    retry = _Retry("retry")
    ops: list[db.Op] = [data.create_data_key(env_id, change.data_key, on_fail=retry)] if change.data_key else []
    ops += plan.extra_ops
    if change.snapshot.count != len(state.live):  # the platform's live secrets (/metrics), same transaction
        ops.append(counter_data.secrets_moved(change.snapshot.count - len(state.live)))
    if _client(access) and not plan.extra_ops:  # values written under the key version the writer read
        moved = Conflict(
            "the environment was rekeyed meanwhile: fetch its key and encrypt again", code="key_version_mismatch"
        )
        ops.append(grant_data.key_is(access.environment, on_fail=moved))
    project_id, environment_id = plan.audit_scope or (access.project.id, env_id)
    event = audit.event(
        plan.action,
        scope_id=access.org.id,
        resource_type=plan.resource_type,
        resource_id=plan.resource_id,
        project_id=project_id,
        environment_id=environment_id,
        metadata=change.audit_metadata,
    )
    if fits_one_transaction(state, change):
        ops += [data.create_version(env_id, v, on_fail=retry) for v in change.versions]
        ops += data.replace_snapshot(env_id, change.snapshot, previous=state.snapshot, on_fail=retry)
        _record(ops, event)
    else:
        _write_large(env_id, state, change, ops=ops, event=event, retry=retry)
    return _Committed(change.snapshot.revision, change.numbers, state, written=True, at=now, key_version=key.version)


def with_folders(
    folders: Mapping[str, dict[str, Any]], live: Iterable[str], *, now: str, who: str
) -> dict[str, dict[str, Any]]:
    """Pure: `folders` with every folder (and parent folder) a live name is in: a value written
    into a folder that does not exist yet creates it, in the same change."""
    out = dict(folders)
    for folder in sorted({paths.path_of(n) for n in live if n.startswith("/")}):
        for path in paths.ancestors(folder):
            if path not in out:
                out[path] = {"id": ids.new_id("fld"), "created_at": now, "created_by": who}
    if len(out) > paths.MAX_FOLDERS and len(out) > len(folders):
        raise Unprocessable(
            f"an environment holds at most {paths.MAX_FOLDERS} folders",
            code="too_many_folders",
            details={"max_folders": paths.MAX_FOLDERS},
        )
    return out


def _within_plan(access: EnvironmentAccess, before: int, after: int) -> None:
    """A change that adds secrets keeps the environment within its plan's `secrets_per_environment`
    (403 `plan_limit`). Race-free without a counter of its own: the snapshot holds the count, and it
    is written conditional on the revision read."""
    if after > before:
        limit = plans.limit_of(access.org, "secrets_per_environment")
        if limit != plans.UNLIMITED and after > limit:
            raise plans.reached("secrets_per_environment", limit)


def _write_large(
    env_id: str, state: State, change: Change, *, ops: list[db.Op], event: audit.AuditEvent, retry: _Retry
) -> None:
    """A change too large for one transaction: its snapshot parts and change set written ahead
    under a fresh change id (no reader reaches them), published by one transaction (the SNAPSHOT
    item, conditional on the revision read, the data key if new, the audit event), then finished.
    A refused publication deletes what it wrote ahead; an unknown outcome leaves it (it may be
    published)."""
    head, staged = data.large_change(
        env_id, change.snapshot, change.versions, change_id=ids.new_id("chg"), previous=state.snapshot
    )
    data.stage(staged)
    try:
        _record([*ops, data.publish_snapshot(env_id, head, previous=state.snapshot, on_fail=retry)], event)
    except Conflict:  # refused (the revision moved, or the audit log is busy): nothing was published
        _best_effort(data.discard_items, staged)
        raise
    _best_effort(_finish, env_id, data.SnapshotRecord.model_validate(head), change.versions)


def _finish(env_id: str, head: SnapshotRecord, records: list[VersionRecord] | None = None) -> None:
    """Finish a published large change (idempotent; any writer may): its version items written
    from the change set, the previous revision's parts and the change set deleted, the marker
    cleared."""
    if head.pending:
        if records is None:
            records = data.change_set(env_id, head.pending, head.pending_parts)
        if records is not None:  # else deleted: materialized already
            data.materialize(env_id, records)
    data.discard_stale_parts(env_id, head)
    if head.pending:
        data.discard_change_set(env_id, head.pending, head.pending_parts)
        data.settle(env_id, head.pending)


def _best_effort(step: Callable[..., Any], *args: Any) -> None:
    """A step after the outcome is decided: its failure leaves work to the next writer, never
    fails the request."""
    try:
        step(*args)
    except Exception as exc:  # noqa: BLE001 - the change's outcome is already decided
        extra = {"step": getattr(step, "__name__", "step"), "error": type(exc).__name__}
        logger.warning("change follow-up left to the next writer", extra=extra)


def _key_in_use(access: EnvironmentAccess, state: State, plan: Plan, now: str) -> KeyInUse:
    """The snapshot's data key, or a new version from KMS (a first write, or a rotation); for a
    client-encrypted environment none (its key version is the environment's, or the rekey's)."""
    if _client(access):
        version = plan.key_version or access.environment.key_version or 1
        return KeyInUse(b"", version, b"", "", client=True)
    if state.snapshot is not None and state.key is not None and not plan.rotate_key:
        snap = state.snapshot
        return KeyInUse(state.key, snap.key_version, snap.wrapped_key, snap.kms_key_id)
    version = state.snapshot.key_version + 1 if state.snapshot else 1
    new = crypto.new_data_key(_scope(access), access.org.kms_key_arn or settings().kms_key_id, version=version)
    record = DataKeyRecord(version=version, wrapped_key=new.wrapped, kms_key_id=new.kms_key_id, created_at=now)
    return KeyInUse(new.plaintext, version, new.wrapped, new.kms_key_id, record)


def _record(ops: list[db.Op], event: audit.AuditEvent) -> None:
    """The one write of this module: a change's ops (none for a read) with its one audit event."""
    chain.transact(ops, audit=event)


def _stale(current: int | None) -> PreconditionFailed:
    return PreconditionFailed(
        "the secret changed since that version", code="version_mismatch", details={"current_version": current}
    )


def _one(name: str, value: str | None, action: str, comment: str = "", **metadata: Any) -> Plan:
    version_note = {k: v for k, v in metadata.items() if v is not None}
    return Plan({name: value}, action, "secret", name, {**key_note(name), **version_note}, comment)


def _written(name: str, committed: _Committed) -> SecretWritten:
    before = committed.before.live.get(name)
    return SecretWritten(
        **keyed(name),
        version=committed.versions[name],
        created_at=before["created_at"] if before else committed.at,
        updated_at=committed.at,
    )


# --------------------------------------------------------------------------- one secret


def put_secret(
    access: EnvironmentAccess, name: str, value: str, *, comment: str, if_match: int | None
) -> SecretWritten:
    def plan(state: State) -> Plan:
        current = state.live.get(name)
        if if_match is not None and (current is None or current["version"] != if_match):
            raise _stale(current["version"] if current else None)
        action = "secret.updated" if current else "secret.created"
        return _one(name, value, action, comment, version=state.next_version(name))

    return _written(name, _commit(access, plan))


def own_value(access: EnvironmentAccess, name: str) -> tuple[str, int] | None:
    """The environment's own current value of `name` as written, and its version (None when it has
    none): what a rotator reads to rotate from (never shown, so not a `secret.read`)."""
    _check_server_managed(access, "rotation (the client writes the value again)")
    entry = _open(_scope(access), data.snapshot(access.environment.id)).live.get(name)
    return (str(entry["value"]), int(entry["version"])) if entry else None


def write_rotated(
    access: EnvironmentAccess, name: str, value: str, finish: Callable[[int], list[db.Op]], **metadata: Any
) -> SecretWritten:
    """A rotation's new value (domain/rotation.py), written as any change is: a new version, the
    snapshot, the audit event `secret.rotated` (no value), with the rotation's own ops
    (`finish(version)`) in its transaction. Not held by approval policies: whoever set the policy
    scheduled it."""
    _check_server_managed(access, "rotation (the client writes the value again)")

    def plan(state: State) -> Plan:
        version = state.next_version(name)
        planned = _one(name, value, "secret.rotated", version=version, **metadata)
        planned.extra_ops = finish(version)
        planned.governed = False
        return planned

    return _written(name, _commit(access, plan))


def delete_secret(access: EnvironmentAccess, name: str, *, if_match: int | None) -> None:
    def plan(state: State) -> Plan:
        current = state.live.get(name)
        if if_match is not None and (current is None or current["version"] != if_match):
            raise _stale(current["version"] if current else None)
        if current is None:
            raise NotFound("secret not found")
        return _one(name, None, "secret.deleted", version=state.next_version(name))

    _commit(access, plan)


def restore_secret(access: EnvironmentAccess, name: str) -> SecretWritten:
    """Bring a deleted secret back with the value it had (a new version)."""
    _check_server_managed(access, "restoring from the trash (the client writes the value again)")

    def plan(state: State) -> Plan:
        if name in state.live:
            raise Conflict("the secret is not deleted", code="not_deleted")
        gone = state.trash.get(name)
        if gone is None:
            raise NotFound("secret not found")
        last_set = int(gone["version"]) - 1
        value = _version_value(access, name, last_set)
        return _one(name, value, "secret.restored", version=state.next_version(name), restored_version=last_set)

    return _written(name, _commit(access, plan))


def rollback_secret(
    access: EnvironmentAccess, name: str, version: int, *, comment: str, if_match: int | None
) -> SecretWritten:
    """A new version whose value is that of an earlier one."""
    _check_server_managed(access, "rollback (the client writes the value again)")

    def plan(state: State) -> Plan:
        current = state.live.get(name)
        if if_match is not None and (current is None or current["version"] != if_match):
            raise _stale(current["version"] if current else None)
        if current is None and name not in state.trash:
            raise NotFound("secret not found")
        value = _version_value(access, name, version)
        return _one(name, value, "secret.rolled_back", comment, version=state.next_version(name), from_version=version)

    return _written(name, _commit(access, plan))


def _version_value(access: EnvironmentAccess, name: str, version: int) -> str:
    """The value a secret had at `version` (decrypted from its version item)."""
    scope, env_id = _scope(access), access.environment.id
    rec = data.version(env_id, name, version)
    if rec is None:
        raise NotFound("secret version not found")
    return _decrypt_version(scope, env_id, rec, {})


def _decrypt_version(scope: crypto.Scope, env_id: str, rec: VersionRecord, key_cache: dict[int, bytes]) -> str:
    if rec.action != "set" or rec.blob is None or rec.key_version is None:
        raise Unprocessable(
            "that version is a deletion; it has no value",
            code="version_is_deletion",
            details={"key": rec.key, "version": rec.version},
        )
    key = key_cache.get(rec.key_version)
    if key is None:
        key_rec = data.data_key(env_id, rec.key_version)
        if key_rec is None:
            raise NotFound("secret version not found")
        key = key_cache[rec.key_version] = crypto.unwrap(
            scope, key_rec.version, key_rec.wrapped_key, key_rec.kms_key_id
        )
    value = crypto.decrypt(key, rec.blob, _value_aad(scope, rec.key, rec.version, rec.key_version), what="version")
    return value.decode()


# --------------------------------------------------------------------------- many secrets


def _changes(state: State, wanted: Mapping[str, str], *, overwrite: bool = True) -> dict[str, str | None]:
    """The subset of `wanted` that differs from the live values."""
    out: dict[str, str | None] = {}
    for name, value in wanted.items():
        current = state.live.get(name)
        if current is None or (overwrite and current["value"] != value):
            out[name] = value
    return out


def batch(
    access: EnvironmentAccess, set_values: Mapping[str, str], delete: Iterable[str], *, comment: str
) -> BatchResult:
    """Set and delete many secrets as one change; unchanged values get no new version."""
    deletions = sorted(set(delete))
    both = sorted(set(set_values) & set(deletions))
    if both:
        raise Unprocessable("a key is both set and deleted", code="conflicting_keys", details={"keys": both[:20]})

    def plan(state: State) -> Plan:
        missing = [k for k in deletions if k not in state.live]
        if missing:
            raise Unprocessable("some keys to delete do not exist", code="unknown_keys", details={"keys": missing[:20]})
        changes = _changes(state, set_values)
        changes.update(dict.fromkeys(deletions))
        return Plan(
            changes,
            "secrets.batch_changed",
            "environment",
            access.environment.id,
            {
                **keys_note(changes),
                "set": sorted(k for k, v in changes.items() if v is not None)[:AUDIT_KEYS],
                "deleted": deletions[:AUDIT_KEYS],
            },
            comment,
        )

    committed = _commit(access, plan)
    items: list[SecretChange] = []
    for name in sorted(set(set_values) | set(deletions)):
        if name not in committed.versions:
            items.append(
                SecretChange(**keyed(name), action="unchanged", version=committed.before.live[name]["version"])
            )
        elif name in deletions:
            items.append(SecretChange(**keyed(name), action="deleted", version=committed.versions[name]))
        else:
            action = "updated" if name in committed.before.live else "created"
            items.append(SecretChange(**keyed(name), action=action, version=committed.versions[name]))
    return BatchResult(revision=committed.revision, changes=items)


def import_secrets(
    access: EnvironmentAccess, fmt: formats.ImportFormat, content: str, *, overwrite: bool, path: str = paths.ROOT
) -> ImportResult:
    """Parse a dotenv or JSON document and set its keys, in the folder `path`, as one change."""
    _check_server_managed(access, "importing a document (the client encrypts each value)")
    incoming = {paths.name(path, k): v for k, v in formats.parse(content, fmt).items()}

    def plan(state: State) -> Plan:
        changes = _changes(state, incoming, overwrite=overwrite)
        return Plan(
            dict(changes),
            "secrets.imported",
            "environment",
            access.environment.id,
            {"format": fmt, **keys_note(changes), "overwrite": overwrite, **_path_note(path)},
        )

    committed = _commit(access, plan)
    created = sum(1 for k in committed.versions if k not in committed.before.live)
    updated = len(committed.versions) - created
    return ImportResult(
        created=created, updated=updated, unchanged=len(incoming) - created - updated, revision=committed.revision
    )


def export_secrets(
    access: EnvironmentAccess,
    fmt: formats.ExportFormat,
    *,
    resolve: bool = True,
    path: str = paths.ROOT,
    recursive: bool = False,
) -> tuple[str, str]:
    """Everything a folder of the environment sees (own and inherited; with `recursive`, its
    subfolders flattened into it, the nearest holder of a key winning), references expanded
    unless `resolve` is off."""
    _check_server_managed(access, "an export format")
    resolver = Resolver(access)
    env = access.environment
    view = resolver.view(env)
    paths.check_folder(view, path)
    chosen = paths.flatten(view, path, recursive=recursive)
    found = resolver.resolve_all(env, chosen.values()) if resolve else {n: view.raw(n) for n in chosen.values()}
    values = {key: found[n] for key, n in chosen.items()}
    text = formats.render(values, fmt)
    metadata = {"format": fmt, "count": len(values), "resolved": resolve, **_path_note(path, recursive)}
    _record([], audit.environment_event("secrets.exported", env, metadata))
    return text, etag(resolver.revisions, env.id, variant=paths.variant(path, recursive))


def _path_note(path: str | None, recursive: bool = False) -> dict[str, Any]:
    """An event's folder: none for the root alone (events as before folders)."""
    if path is None or (path == paths.ROOT and not recursive):
        return {}
    return {"path": path, "recursive": recursive}


def promotion_environments(project: ProjectAccess, *, from_: str, to: str) -> tuple[str, str]:
    """The ids of the environments a promotion's `from` and `to` name (IDs or slugs): references in
    the body, so one that names no environment of the project is 422, not 404."""
    found = []
    for field_name, ref in (("from", from_), ("to", to)):
        env = project_data.resolve_environment(project.org.id, project.project.id, ref)
        if env is None:
            raise Unprocessable(
                f"`{field_name}` names no environment of this project",
                code="unknown_environment",
                details={"fields": [{"field": field_name, "location": "body", "issue": "no such environment"}]},
            )
        found.append(env.id)
    return found[0], found[1]


def promote(
    source: EnvironmentAccess,
    target: EnvironmentAccess,
    keys: list[str] | None,
    *,
    dry_run: bool,
    path: str | None = None,
    recursive: bool = False,
) -> PromoteResult:
    """Copy values from one environment of a project to another: a diff, or one change. Every
    folder, or only `path` (and its subfolders when `recursive`); `keys` are keys of `path` (`/`
    when absent). Folders the values land in are created in the target."""
    _check_server_managed(target, "promotion")
    if source.environment.id == target.environment.id:
        raise Unprocessable("`from` and `to` are the same environment", code="same_environment")
    _check_server_managed(source, "promotion")
    src = _open(_scope(source), data.snapshot(source.environment.id)).plain()
    if path is not None:
        src = {n: v for n, v in src.items() if paths.selects(n, path, recursive=recursive)}
    names = None if keys is None else [paths.name(path or paths.ROOT, k) for k in keys]
    if names is not None:
        unknown = sorted(set(names) - set(src))
        if unknown:
            raise Unprocessable(
                f"some keys are not in '{source.environment.slug}'", code="unknown_keys", details={"keys": unknown[:20]}
            )
        src = {k: src[k] for k in names}
    if dry_run:
        _check_server_managed(target, "promotion")
        state = _open(_scope(target), data.snapshot(target.environment.id))
        return PromoteResult(changes=_diff(state, src), dry_run=True, revision=state.revision)

    def plan(state: State) -> Plan:
        changes = _changes(state, src)
        return Plan(
            dict(changes),
            "secrets.promoted",
            "environment",
            target.environment.id,
            {
                "from_environment": source.environment.id,
                "to_environment": target.environment.id,
                **keys_note(changes),
                **_path_note(path, recursive),
            },
        )

    committed = _commit(target, plan)
    return PromoteResult(changes=_diff(committed.before, src), dry_run=False, revision=committed.revision)


def _diff(state: State, src: Mapping[str, str]) -> list[SecretChange]:
    out = []
    for name in sorted(src):
        current = state.live.get(name)
        action = "add" if current is None else ("unchanged" if current["value"] == src[name] else "update")
        out.append(SecretChange(**keyed(name), action=action, version=current["version"] if current else None))
    return out


def validate(access: EnvironmentAccess, *, path: str = paths.ROOT, recursive: bool = False) -> ValidationReport:
    """Missing template keys and values (resolved, as applications get them) that do not match
    their pattern. Patterns run on RE2 (linear time in the value); one RE2 cannot run (stored
    before patterns moved to RE2) is reported as unsupported, never run by a backtracking engine."""
    _check_server_managed(access, "template validation of values")
    template = project_data.template(access.org.id, access.project.id)
    resolver = Resolver(access)
    env = access.environment
    view = resolver.view(env)
    paths.check_folder(view, path)
    seen = paths.flatten(view, path, recursive=recursive)  # the folder's keys, as a pull of it gets them
    missing = [t.key for t in template if t.key not in seen]
    patterned = [(t.key, t.pattern) for t in template if t.pattern is not None and t.key in seen]
    found = resolver.resolve_all(env, [seen[key] for key, _ in patterned])
    values = {key: found[seen[key]] for key, _ in patterned}
    mismatched: list[PatternMismatch] = []
    unsupported: list[str] = []
    for key, pattern in patterned:
        try:
            program = patterns.compile_pattern(pattern)
        except patterns.UnsupportedPattern:
            unsupported.append(key)
            continue
        if not patterns.fullmatch(program, values[key]):
            mismatched.append(PatternMismatch(key=key, pattern=pattern))
    return ValidationReport(
        valid=not missing and not mismatched and not unsupported,
        checked=len(template),
        missing=missing,
        mismatched=mismatched,
        unsupported=unsupported,
    )


def rekey_values(
    access: EnvironmentAccess,
    values: Mapping[str, str],
    *,
    key_version: int,
    publish: list[db.Op],
    metadata: dict[str, Any],
) -> int:
    """A client-encrypted environment's rekey, its values' part: every live value replaced by the
    client's ciphertext under the new key version (422 `values_mismatch` unless `values` names
    exactly the live keys), published with `publish` (the key version's move) as one change of
    any size, `environment.rekeyed`. The new revision."""

    def plan(state: State) -> Plan:
        live = set(state.live)
        missing, extra = sorted(live - set(values)), sorted(set(values) - live)
        if missing or extra:
            raise Unprocessable(
                "a rekey re-encrypts every live value, and only those",
                code="values_mismatch",
                details={"missing": missing[:20], "extra": extra[:20]},
            )
        return Plan(
            dict(values),
            "environment.rekeyed",
            "environment",
            access.environment.id,
            {**metadata, **keys_note(values)},
            rotate_key=True,
            key_version=key_version,
            extra_ops=publish,
        )

    return _commit(access, plan).revision


def rotate_key(access: EnvironmentAccess) -> KeyRotated:
    """A new data key (version n + 1) for the snapshot and every later write; versions written
    under older keys still decrypt with theirs. One change, audited."""
    _check_server_managed(access, "a server-side key rotation (a client rekeys: POST …/rekey)")

    def plan(state: State) -> Plan:
        current = state.snapshot.key_version if state.snapshot else 0
        return Plan(
            {},
            "environment.key_rotated",
            "environment",
            access.environment.id,
            {"from_key_version": current, "to_key_version": current + 1},
            rotate_key=True,
        )

    committed = _commit(access, plan)
    return KeyRotated(key_version=committed.key_version, revision=committed.revision, rotated_at=committed.at)


def restore_environment(
    access: EnvironmentAccess,
    at: datetime,
    *,
    dry_run: bool = False,
    path: str | None = None,
    recursive: bool = False,
) -> EnvironmentRestored:
    """The environment as it was at `at`, written as one new change: secrets deleted since come
    back, secrets created since go to the trash, changed values return to what they were. Reads
    the environment's history without its values (at most MAX_RESTORE_VERSIONS version items, or
    422 `history_too_long`), then the values it restores, in batches. `dry_run`: the changes it
    would make (keys and actions only), nothing written. `path`: only that folder (and its
    subfolders when `recursive`); the rest of the environment stays as it is."""
    if at > clock.now():
        raise Unprocessable("`at` is in the future", code="invalid_instant")
    _check_server_managed(access, "a point-in-time restore")
    env_id = access.environment.id
    then = state_at(_history(env_id), at)
    only = None if path is None else functools.partial(paths.selects, path=path, recursive=recursive)
    if only is not None:
        then = {n: h for n, h in then.items() if only(n)}
    past = _PastValues(_scope(access), env_id)
    planned: list[Plan] = []  # the last one planned is the one written

    def plan(state: State) -> Plan:
        values = past.of(then, moved_since(state, then))
        planned.append(restore_plan(state, then, values, at=at, env_id=env_id, only=only))
        planned[-1].metadata.update(_path_note(path, recursive))
        return planned[-1]

    if dry_run:
        state = _open(_scope(access), data.snapshot(env_id))
        changes = restore_changes(state, plan(state))
        revision = state.revision
    else:
        committed = _commit(access, plan)
        changes = restore_changes(committed.before, planned[-1]) if committed.written else []
        revision = committed.revision
    trashed = sum(1 for c in changes if c.action == "deleted")
    return EnvironmentRestored(
        at=clock.iso(at),
        revision=revision,
        restored=len(changes) - trashed,
        trashed=trashed,
        dry_run=dry_run,
        changes=changes,
    )


def restore_changes(state: State, plan: Plan) -> list[SecretChange]:
    """Pure: a restore plan's changes as keys and actions (created, updated, deleted), by key."""
    out = []
    for name in sorted(plan.changes):
        action = "deleted" if plan.changes[name] is None else ("updated" if name in state.live else "created")
        out.append(SecretChange(**keyed(name), action=action))
    return out


def _history(env_id: str) -> list[data.VersionHeader]:
    """Every version of the environment, without values; 422 `history_too_long` past MAX_RESTORE_VERSIONS."""
    history = data.version_headers(env_id, limit=MAX_RESTORE_VERSIONS + 1)
    if len(history) > MAX_RESTORE_VERSIONS:
        raise Unprocessable(
            f"the environment's history holds more than {MAX_RESTORE_VERSIONS} versions: too long to restore "
            "at once; roll keys back one by one instead",
            code="history_too_long",
            details={"max_versions": MAX_RESTORE_VERSIONS},
        )
    return history


def state_at(history: Iterable[data.VersionHeader], at: datetime) -> dict[str, data.VersionHeader]:
    """Pure: name -> the version each secret that was set at `at` had then (secrets deleted by
    then, or created after, are not in it)."""
    latest: dict[str, data.VersionHeader] = {}
    for head in history:
        if clock.parse(head.created_at) <= at and (head.key not in latest or head.version > latest[head.key].version):
            latest[head.key] = head
    return {k: h for k, h in latest.items() if h.action == "set"}


def moved_since(state: State, then: Mapping[str, data.VersionHeader]) -> list[str]:
    """Pure: the secrets set at that point whose live version is another one now (or none)."""
    return [n for n, h in then.items() if (c := state.live.get(n)) is None or c["version"] != h.version]


def restore_plan(
    state: State,
    then: Mapping[str, data.VersionHeader],
    values: Mapping[str, str],
    *,
    at: datetime,
    env_id: str,
    only: Callable[[str], bool] | None = None,
) -> Plan:
    """Pure: the change that brings `state` back to `then`; `values` holds the value each secret of
    `moved_since(state, then)` had then. A value equal to the live one is no change; a live
    secret that did not exist then goes to the trash. `only`: the names the restore covers (a
    folder's); the others are left as they are."""
    changes: dict[str, str | None] = {}
    for name in moved_since(state, then):
        current = state.live.get(name)
        if current is None or current["value"] != values[name]:
            changes[name] = values[name]
    changes.update(dict.fromkeys(k for k in state.live if k not in then and (only is None or only(k))))
    return Plan(
        changes,
        "environment.restored",
        "environment",
        env_id,
        {"at": clock.iso(at), **keys_note(changes)},
    )


class _PastValues:
    """Values of past versions for a restore: version items read in batches, each once, their data
    keys unwrapped once each."""

    def __init__(self, scope: crypto.Scope, env_id: str) -> None:
        self._scope, self._env_id = scope, env_id
        self._records: dict[str, VersionRecord] = {}
        self._keys: dict[int, bytes] = {}

    def of(self, then: Mapping[str, data.VersionHeader], names: list[str]) -> dict[str, str]:
        """The value each of `names` had at its version in `then` (404 when a version item is gone)."""
        missing = [(n, then[n].version) for n in names if n not in self._records]
        self._records.update((r.key, r) for r in data.versions(self._env_id, missing))
        out: dict[str, str] = {}
        for name in names:
            rec = self._records.get(name)
            if rec is None:
                raise NotFound("secret version not found")
            out[name] = _decrypt_version(self._scope, self._env_id, rec, self._keys)
        return out
