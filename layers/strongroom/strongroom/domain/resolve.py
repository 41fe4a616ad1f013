"""What a caller sees in an environment: its own secrets over those it inherits from its parents,
with `${…}` references expanded, identically for every client.

Inheritance: an environment with a `parent` sees the parent's keys (and the grandparent's…)
unless it sets them itself; the nearest environment wins. Reading a child reads its ancestors,
so each ancestor must be readable by the caller (403 naming it otherwise). The ancestors'
snapshots are read in one request (plus one for the parts of those past one item).

References, expanded on read:
- `${KEY}`: KEY as this environment sees it (own or inherited);
- `${env.KEY}`: KEY in another environment of the project (as that environment sees it);
- `${project.env.KEY}`: KEY in an environment of another project of the org;
- `${shared.KEY}`: the org's shared secret KEY (domain/shared_scope.py): `shared.` is reserved,
  never read as an environment or project slug.
Keys may contain dots, so a dotted name is read, in order, as a key of this environment, as
`env.KEY`, as `project.env.KEY`. A name that matches none of them is left as written; `$${`
writes a literal `${`. A cycle or a chain deeper than 10 is 422 naming the chain.

Who may expand what (docs/decisions.md (2026-12-02)). A reference that reaches another
environment's view expands only when both may read that environment (and its ancestors):
- the reader (else 403 `reference_forbidden` naming the reference, never its value);
- the value's writer, i.e. whoever made its current version (`updated_by`), with the rights they
  hold now (else 403 `reference_writer_forbidden`): a member by their current role, a service
  token or the system never beyond their own environment, someone who left not at all. Writes
  check the same rule against the writing principal (`check_writable`), so a refusal at read
  only happens when the writer's rights shrank since.
A `${KEY}` resolved in the view it is read from crosses no boundary (its result is visible only
to readers of that view, who can read KEY there) and needs neither check.

Bounds of one request: a value expands to at most MAX_RESOLVED_BYTES, all values whose
references expanded add up to at most MAX_EXPANDED_BYTES (422 `reference_too_large` naming the
chain); references reach at most MAX_ENVIRONMENTS snapshots and MAX_PROJECTS other projects
(422 `too_many_references`). Reads are batched and cached for the request: the org's projects
in one listing whatever the number of names, each project's environments once, the snapshots a
level of nesting reaches in one read, the roles of the writers in one read; each reference is
looked up and each value expanded once.
"""

from __future__ import annotations

import base64
import json
import re
import threading
from collections import OrderedDict
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

from strongroom import ids
from strongroom.context import Principal
from strongroom.data import orgs as org_data
from strongroom.data import projects as project_data
from strongroom.data import secrets as secret_data
from strongroom.data.projects import EnvironmentRecord, ProjectRecord
from strongroom.data.secrets import SnapshotRecord
from strongroom.domain import shared_scope
from strongroom.errors import Forbidden, Unprocessable
from strongroom.models import MAX_VALUE_BYTES
from strongroom.security import crypto
from strongroom.security.access import EnvironmentAccess, OrgAccess, role_grants

MAX_DEPTH = 10
MAX_ANCESTORS = 10
MAX_RESOLVED_BYTES = MAX_VALUE_BYTES  # one value, references expanded: no larger than a value written
MAX_EXPANDED_BYTES = 2_000_000  # every value with an expanded reference, in one request
MAX_ENVIRONMENTS = 30  # snapshots one request reads (the environment and its ancestors included)
MAX_PROJECTS = 10  # other projects whose environments one request's references list
REFERENCE = re.compile(r"\$\$\{|\$\{([^}]{1,300})\}")


@dataclass(frozen=True, slots=True)
class Entry:
    """One key as an environment sees it."""

    value: str
    version: int
    updated_at: str
    updated_by: str
    source: EnvironmentRecord  # the environment that holds the value


def etag(revisions: dict[str, int], first: str, *, variant: str = "") -> str:
    """An opaque strong ETag naming each snapshot read and its revision, the token's first, and
    the read's variant (a folder and `recursive`: none for the root alone, whose tags are those of
    before folders), so that a tag of one folder never answers 304 for another."""
    ordered = [first, *sorted(k for k in revisions if k != first)]
    raw = ",".join(f"{env_id}:{revisions[env_id]}" for env_id in ordered)
    if variant:
        raw += ";" + variant
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def open_snapshot(scope: crypto.Scope, snap: SnapshotRecord) -> tuple[bytes, dict[str, Any]]:
    """The snapshot's data key and its decrypted body ({live, trash, refs}): the one place a
    snapshot is opened (its AAD binds key version and revision)."""
    key, body, _size = _decrypt_snapshot(scope, snap)
    return key, body


def _decrypt_snapshot(scope: crypto.Scope, snap: SnapshotRecord) -> tuple[bytes, dict[str, Any], int]:
    if snap.client:  # a client-encrypted environment: the state as JSON, its values ciphertexts
        state: dict[str, Any] = json.loads(snap.blob)
        return b"", state, len(snap.blob)
    key = crypto.unwrap(scope, snap.key_version, snap.wrapped_key, snap.kms_key_id)
    plain = crypto.decrypt(key, snap.blob, scope.aad("snapshot", snap.key_version, snap.revision), what="snapshot")
    body: dict[str, Any] = json.loads(plain)
    return key, body, len(plain)


def holds_reference(value: str) -> bool:
    """Whether a value may expand on read (`${…}`, or a `$${` escape): what the snapshot's
    reference index lists (`refs`), decided once, when the snapshot is written."""
    return "${" in value


def reference_index(live: Mapping[str, Mapping[str, Any]]) -> list[str]:
    """The names of `live` whose value holds `${` (sorted): the snapshot's `refs`."""
    return sorted(name for name, e in live.items() if holds_reference(e["value"]))


@dataclass(frozen=True, slots=True)
class Opened:
    """The part of a snapshot reads use: its stamp, live secrets (read-only: a warm function may
    share it between requests) and the names whose values hold `${` (the snapshot's reference
    index, or computed from the values for a snapshot written before it had one)."""

    stamp: tuple[int, int, str]  # (revision, key version, updated_at)
    live: Mapping[str, dict[str, Any]]
    refs: frozenset[str]
    folders: Mapping[str, dict[str, Any]] = MappingProxyType({})  # path -> {id, created_at, created_by}

    @property
    def revision(self) -> int:
        return self.stamp[0]


def stamp_of(item: Mapping[str, Any]) -> tuple[int, int, str]:
    """What names one revision of a snapshot exactly (a SNAPSHOT item, or its record)."""
    return int(item["revision"]), int(item["key_version"]), str(item["updated_at"])


def open_body(scope: crypto.Scope, snap: SnapshotRecord) -> tuple[Opened, int]:
    """The snapshot opened for reading, and its plaintext size."""
    _key, body, size = _decrypt_snapshot(scope, snap)
    live: dict[str, dict[str, Any]] = body["live"]
    index = body.get("refs")
    refs = frozenset(index) if isinstance(index, list) else frozenset(reference_index(live))
    stamp = (snap.revision, snap.key_version, snap.updated_at)
    folders = MappingProxyType(dict(body.get("folders") or {}))
    return Opened(stamp, MappingProxyType(live), refs, folders), size


class SnapshotCache:
    """Opened snapshots of a warm function: one entry per environment (its latest revision read),
    at most MAX_ENTRIES and MAX_BYTES of plaintext (least recently used out first). An entry is
    served only for the same scope (org, project, environment) and the exact stamp (revision, key
    version, time of writing) that a consistent read of the SNAPSHOT item finds on that request,
    and only while the data key's own cache (or KMS) still gives the key: it never outlives what
    a read of the blob could decrypt. Values are never logged."""

    MAX_ENTRIES = 32
    MAX_BYTES = 12_000_000

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._entries: OrderedDict[str, tuple[crypto.Scope, Opened, int]] = OrderedDict()
        self._bytes = 0

    def holds(self, env_id: str) -> bool:
        with self._lock:
            return env_id in self._entries

    def get(self, scope: crypto.Scope, stamp: tuple[int, int, str]) -> Opened | None:
        with self._lock:
            entry = self._entries.get(scope.environment_id)
            if entry is None:
                return None
            if entry[0] != scope or entry[1].stamp != stamp:
                self._drop(scope.environment_id)
                return None
            self._entries.move_to_end(scope.environment_id)
            return entry[1]

    def put(self, scope: crypto.Scope, opened: Opened, size: int) -> None:
        with self._lock:
            self._drop(scope.environment_id)
            if size > self.MAX_BYTES:
                return
            self._entries[scope.environment_id] = (scope, opened, size)
            self._bytes += size
            while len(self._entries) > self.MAX_ENTRIES or self._bytes > self.MAX_BYTES:
                self._drop(next(iter(self._entries)))

    def drop(self, env_id: str) -> None:
        with self._lock:
            self._drop(env_id)

    def _drop(self, env_id: str) -> None:
        entry = self._entries.pop(env_id, None)
        if entry is not None:
            self._bytes -= entry[2]

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
            self._bytes = 0


snapshot_cache = SnapshotCache()


class View(Mapping[str, Entry]):
    """Every key an environment sees, own over inherited: each name's record as its snapshot
    holds it and the environment holding it (an Entry is made when one is asked for), and which
    of them hold `${` (`refs`)."""

    __slots__ = ("_holders", "_home", "_records", "folders", "refs")

    def __init__(self, layers: list[tuple[EnvironmentRecord, Opened]], home: EnvironmentRecord) -> None:
        # path -> (folder record, environment holding it): own over inherited, as keys are
        self.folders: dict[str, tuple[dict[str, Any], EnvironmentRecord]] = {}
        for holder, opened in reversed(layers):
            self.folders.update((path, (rec, holder)) for path, rec in opened.folders.items())
        filled = [(holder, opened) for holder, opened in layers if opened.live]  # nearest first
        self._home = filled[0][0] if len(filled) == 1 else home
        self._holders: dict[str, EnvironmentRecord] | None = None
        if len(filled) <= 1:
            self._records: Mapping[str, dict[str, Any]] = filled[0][1].live if filled else {}
            self.refs: frozenset[str] = filled[0][1].refs if filled else frozenset()
            return
        records: dict[str, dict[str, Any]] = {}
        holders: dict[str, EnvironmentRecord] = {}
        for holder, opened in reversed(filled):  # farthest first: nearer environments overwrite
            records.update(opened.live)
            holders.update(dict.fromkeys(opened.live, holder))
        self._records, self._holders = records, holders
        self.refs = frozenset(n for holder, opened in filled for n in opened.refs if holders[n].id == holder.id)

    def __getitem__(self, name: str) -> Entry:
        e = self._records[name]
        holder = self._home if self._holders is None else self._holders[name]
        return Entry(e["value"], e["version"], e["updated_at"], e["updated_by"], holder)

    def __contains__(self, name: object) -> bool:
        return name in self._records

    def __iter__(self) -> Iterator[str]:
        return iter(self._records)

    def __len__(self) -> int:
        return len(self._records)

    def raw(self, name: str) -> str:
        """The value as written (references not expanded)."""
        value: str = self._records[name]["value"]
        return value


def references(value: str) -> Iterator[str]:
    """The names a value refers to (`${name}`), each once, escapes (`$${`) left out."""
    if "${" not in value:
        return
    yield from dict.fromkeys(m.group(1) for m in REFERENCE.finditer(value) if m.group(1) is not None)


def _size(text: str) -> int:
    """UTF-8 length (values are bounded in bytes)."""
    return len(text) if text.isascii() else len(text.encode("utf-8", "surrogatepass"))


def _too_wide(reference: str | None, what: str, limit: int) -> Unprocessable:
    details: dict[str, Any] = {f"max_{what}": limit}
    if reference is not None:
        details["reference"] = reference
    return Unprocessable(
        f"the references of this request reach more than {limit} {what}",
        code="too_many_references",
        details=details,
    )


class Directory:
    """The projects and environments of the org that one request's references name: the org's
    projects listed once (one Query, whatever the number of names), each project's environments
    once, at most MAX_PROJECTS projects besides the request's own."""

    def __init__(self, org_id: str, home: ProjectRecord) -> None:
        self.org_id = org_id
        self.home = home
        self._envs: dict[str, list[EnvironmentRecord]] = {}
        self._ancestors: dict[str, list[EnvironmentRecord]] = {}
        self._by_id: dict[str, ProjectRecord] | None = None
        self._by_slug: dict[str, ProjectRecord] = {}
        self._shared: EnvironmentRecord | None = None

    def can_list(self, project_id: str) -> bool:
        others = sum(1 for p in self._envs if p != self.home.id)
        return project_id == self.home.id or project_id in self._envs or others < MAX_PROJECTS

    def environments(self, project_id: str, *, reference: str | None = None) -> list[EnvironmentRecord]:
        if project_id not in self._envs:
            if not self.can_list(project_id):
                raise _too_wide(reference, "projects", MAX_PROJECTS)
            self._envs[project_id] = project_data.environments(self.org_id, project_id)
        return self._envs[project_id]

    def environment(self, project_id: str, slug: str, *, reference: str | None = None) -> EnvironmentRecord | None:
        return next((e for e in self.environments(project_id, reference=reference) if e.slug == slug), None)

    def ancestors(self, env: EnvironmentRecord) -> list[EnvironmentRecord]:
        """env's parent, grandparent…, nearest first."""
        if env.parent_id is None:
            return []
        if env.id not in self._ancestors:
            by_id = {e.id: e for e in self.environments(env.project_id)}
            out: list[EnvironmentRecord] = []
            seen = {env.id}
            parent = by_id.get(env.parent_id)
            while parent is not None and parent.id not in seen and len(out) < MAX_ANCESTORS:
                out.append(parent)
                seen.add(parent.id)
                parent = by_id.get(parent.parent_id) if parent.parent_id else None
            self._ancestors[env.id] = out
        return self._ancestors[env.id]

    def project(self, name: str) -> ProjectRecord | None:
        """An active project of the org by ID or slug."""
        if name in (self.home.id, self.home.slug):
            return self.home
        if self._by_id is None:
            self._by_id = {}
            cursor: str | None = None
            while True:
                page, cursor = project_data.page(self.org_id, limit=500, cursor=cursor)
                for p in page:
                    self._by_id[p.id] = p
                    self._by_slug[p.slug] = p
                if not cursor:
                    break
        return self._by_id.get(name) if ids.is_id(name, "prj") else self._by_slug.get(name.lower())

    def known_project(self, project_id: str) -> ProjectRecord | None:
        """A project already read (no read)."""
        return self.home if project_id == self.home.id else (self._by_id or {}).get(project_id)

    def interpretations(
        self, env: EnvironmentRecord, ref: str, *, within_bounds: bool = False
    ) -> Iterator[tuple[EnvironmentRecord, str]]:
        """Where a dotted `${ref}` that is no key of env may point, in order: (environment, key)
        for `env.KEY`, then for `project.env.KEY`. `within_bounds` skips projects past the bound
        instead of refusing (reading ahead)."""
        if ref.startswith(shared_scope.PREFIX):  # the org's shared secrets, and nothing else
            self._shared = self._shared or shared_scope.environment(self.org_id)
            yield self._shared, ref.removeprefix(shared_scope.PREFIX)
            return
        if shared_scope.is_shared(env):  # a shared value reaches other shared secrets only
            return
        parts = ref.split(".")
        if len(parts) >= 2:
            other = self.environment(env.project_id, parts[0], reference=ref)
            if other is not None:
                yield other, ".".join(parts[1:])
        if len(parts) >= 3:
            project = self.project(parts[0])
            if project is not None and (not within_bounds or self.can_list(project.id)):
                other = self.environment(project.id, parts[1], reference=ref)
                if other is not None:
                    yield other, ".".join(parts[2:])


def _not_client_encrypted(env: EnvironmentRecord, ref: str) -> None:
    """A reference never reaches into a client-encrypted environment: its values are ciphertext
    the server cannot open (422 `client_encrypted`)."""
    if env.encryption == "client":
        raise Unprocessable(
            f"${{{ref}}} names a client-encrypted environment; references cannot reach its ciphertext",
            code="client_encrypted",
            details={"reference": ref},
        )


def check_writable(access: EnvironmentAccess, values: Mapping[str, str | None]) -> None:
    """Before a write: 403 `reference_forbidden` when a value refers to an environment (or one of
    its ancestors) that the writing principal cannot read. Every environment a dotted name could
    name counts, whether or not it holds that key yet, since it may later. Costs no read unless a
    value has a dotted reference."""
    env = access.environment
    directory: Directory | None = None
    for name in sorted(values):
        value = values[name]
        if value is None:
            continue
        for ref in references(value):
            if "." not in ref:
                continue
            directory = directory or Directory(access.org.id, access.project)
            for other, _key in directory.interpretations(env, ref):
                if other.id == env.id:
                    continue
                _not_client_encrypted(other, ref)
                if not all(shared_scope.may_read(access, e, writer=True) for e in [other, *directory.ancestors(other)]):
                    raise Forbidden(
                        f"{name} refers to ${{{ref}}}, which you ({access.role}) cannot read; "
                        "a reference may only expand to what its writer can read",
                        code="reference_forbidden",
                        details={"key": name, "reference": ref},
                    )


class Resolver:
    """The views of the environments one request touches, loaded once each."""

    def __init__(self, access: EnvironmentAccess) -> None:
        self.access = access
        self.directory = Directory(access.org.id, access.project)
        self._snaps: dict[str, Opened | None] = {}  # env_id -> snapshot read (None: none yet)
        self._merged: dict[str, View] = {}
        self._checked: set[str] = set()  # views whose ancestors the reader may read
        self._done: dict[tuple[str, str], tuple[str, int]] = {}  # (env, name) -> (value, UTF-8 size)
        self._targets: dict[tuple[str, str], tuple[EnvironmentRecord, str] | None] = {}
        self._roles: dict[str, str | None] = {}  # writer -> their role in the org now (None: reads nothing else)
        self._expanded = 0
        # env_id -> snapshot revision of every environment read so far (0: no snapshot yet)
        self.revisions: dict[str, int] = {}

    # ----------------------------------------------------------------- views

    def environments(self, project_id: str) -> list[EnvironmentRecord]:
        return self.directory.environments(project_id)

    def ancestors(self, env: EnvironmentRecord) -> list[EnvironmentRecord]:
        """env's parent, grandparent…, nearest first."""
        return self.directory.ancestors(env)

    def view(self, env: EnvironmentRecord, *, reference: str | None = None) -> View:
        """Every key env sees, own over inherited, raw (references not expanded)."""
        if env.id not in self._checked:
            chain = [env, *self.ancestors(env)]
            # A service token reads its environment as the environment sees itself, ancestors included
            # (its creator had to be able to read them: domain/tokens.py).
            through_token = self.access.principal.environment_id == env.id
            for ancestor in chain[1:]:
                if not through_token and not self.access.allows("secrets.read", ancestor):
                    raise Forbidden(
                        f"'{env.slug}' inherits from '{ancestor.slug}', "
                        f"which your role ({self.access.role}) cannot read",
                        code="inherits_unreadable",
                        details={"environment": ancestor.slug},
                    )
            self._load(chain, reference=reference)
            for link in chain:
                snap = self._snaps[link.id]
                self.revisions.setdefault(link.id, snap.revision if snap else 0)
            self._checked.add(env.id)
        return self._merged_view(env)

    def _merged_view(self, env: EnvironmentRecord) -> View:
        """env's view without the reader's checks (reading ahead, and for view())."""
        if env.id not in self._merged:
            chain = [env, *self.ancestors(env)]
            self._load(chain)
            layers = [(holder, opened) for holder in chain if (opened := self._snaps[holder.id]) is not None]
            self._merged[env.id] = View(layers, env)
        return self._merged[env.id]

    def _scope(self, env: EnvironmentRecord) -> crypto.Scope:
        return crypto.Scope(self.access.org.id, env.project_id, env.id)

    def _load(self, envs: Iterable[EnvironmentRecord], *, reference: str | None = None) -> None:
        """Read the snapshots of those of envs not read yet, in one request. One this warm
        function opened before is checked instead (the SNAPSHOT items alone, without their
        ciphertext, in one request): still at the same revision, it is not read nor decrypted
        again; any other is read whole (one more request) and opened."""
        missing = list({e.id: e for e in envs if e.id not in self._snaps}.values())
        if not missing:
            return
        if len(self._snaps) + len(missing) > MAX_ENVIRONMENTS:
            raise _too_wide(reference, "environments", MAX_ENVIRONMENTS)
        known = [e for e in missing if snapshot_cache.holds(e.id)]
        if known:
            stamps = secret_data.snapshot_stamps([e.id for e in known])
            for e in known:
                item = stamps.get(e.id)
                scope = self._scope(e)
                opened = snapshot_cache.get(scope, stamp_of(item)) if item is not None else None
                if item is None:
                    snapshot_cache.drop(e.id)
                    self._snaps[e.id] = None
                elif opened is not None:
                    # the data key as reading the blob would need it (KMS once its cache entry
                    # expired); a client-encrypted environment's snapshot has none
                    if item.get("kms_key_id"):
                        crypto.unwrap(scope, opened.stamp[1], bytes(item["wrapped_key"]), str(item["kms_key_id"]))
                    self._snaps[e.id] = opened
        unread = [e for e in missing if e.id not in self._snaps]
        found = secret_data.snapshots([e.id for e in unread]) if unread else {}
        for e in unread:
            snap = found.get(e.id)
            if snap is None:
                self._snaps[e.id] = None
                continue
            scope = self._scope(e)
            opened, size = open_body(scope, snap)
            snapshot_cache.put(scope, opened, size)
            self._snaps[e.id] = opened

    # ----------------------------------------------------------------- references

    def resolve(self, env: EnvironmentRecord, name: str) -> str:
        """The value of `name` as env sees it, references expanded."""
        return self.resolve_all(env, [name])[name]

    def resolve_all(self, env: EnvironmentRecord, names: Iterable[str]) -> dict[str, str]:
        """The values of `names` (keys env sees) as env sees them, references expanded, in order.
        Only the values the view's reference index names can expand; the others are as written."""
        wanted = list(names)
        view = self.view(env)
        refs = view.refs
        if not refs:
            return {name: view.raw(name) for name in wanted}
        self._read_ahead(env, [name for name in wanted if name in refs])
        return {name: self._value(env, name, []) if name in refs else view.raw(name) for name in wanted}

    def _read_ahead(self, env: EnvironmentRecord, names: list[str]) -> None:
        """Read, one request per level of nesting, the snapshots the references of `names` can
        reach, then in one request the roles of those who wrote references to other environments,
        so that expanding (below, which decides and checks) finds them in memory. Only reads:
        never refuses, and stops at the bounds (the expansion then refuses, naming the reference)."""
        frontier = [(env, name) for name in names]
        seen: set[tuple[str, str]] = set()
        writers: list[str] = []
        for _level in range(MAX_DEPTH + 1):
            following = self._next_level(frontier, seen, writers)
            frontier = self._load_level(following, seen)
            if not frontier:
                break
        self._fetch_roles(writers)

    def _next_level(
        self, frontier: list[tuple[EnvironmentRecord, str]], seen: set[tuple[str, str]], writers: list[str]
    ) -> dict[tuple[str, str], tuple[EnvironmentRecord, str]]:
        """The (environment, key) pairs the values of `frontier` not seen yet may refer to; the
        writers of those that refer to another environment go to `writers`."""
        following: dict[tuple[str, str], tuple[EnvironmentRecord, str]] = {}
        for where, name in frontier:
            if (where.id, name) in seen:
                continue
            seen.add((where.id, name))
            entry = self._merged_view(where).get(name)
            if entry is None:
                continue
            for other, key in self._reachable(where, entry):
                following.setdefault((other.id, key), (other, key))
                if other.id != where.id:
                    writers.append(entry.updated_by)
        return following

    def _reachable(self, where: EnvironmentRecord, entry: Entry) -> Iterator[tuple[EnvironmentRecord, str]]:
        """Where each reference of the value may point: a key of its own view, or else every
        reading of a dotted name into a view the reader may read (one it may not is refused when
        expanded; it is never read, nor decrypted, ahead)."""
        for ref in references(entry.value):
            if ref in self._merged_view(where):
                yield where, ref
                continue
            for other, key in self.directory.interpretations(where, ref, within_bounds=True):
                if self._may_read(other):
                    yield other, key

    def _load_level(
        self, following: dict[tuple[str, str], tuple[EnvironmentRecord, str]], seen: set[tuple[str, str]]
    ) -> list[tuple[EnvironmentRecord, str]]:
        """Read, in one request, the snapshots of the environments `following` reaches and of their
        ancestors (within MAX_ENVIRONMENTS); the pairs whose views are then whole, not seen yet."""
        reached = {other.id: other for other, _ in following.values()}
        wanted = {
            link.id: link
            for other in reached.values()
            for link in [other, *self.ancestors(other)]
            if link.id not in self._snaps
        }
        room = MAX_ENVIRONMENTS - len(self._snaps)
        if wanted and room > 0:
            self._load(list(wanted.values())[:room])
        loaded = {
            env_id
            for env_id, other in reached.items()
            if all(link.id in self._snaps for link in [other, *self.ancestors(other)])
        }
        return [(o, k) for o, k in following.values() if o.id in loaded and (o.id, k) not in seen]

    def _may_read(self, env: EnvironmentRecord) -> bool:
        """Whether the reader may read env's view (env and its ancestors)."""
        if self.access.principal.environment_id == env.id:
            return True  # a token's own environment, as view() reads it
        return all(shared_scope.may_read(self.access, e) for e in [env, *self.ancestors(env)])

    def _label(self, env: EnvironmentRecord, name: str, origin: EnvironmentRecord) -> str:
        if env.id == origin.id:
            return name
        if shared_scope.is_shared(env):
            return f"{shared_scope.PREFIX}{name}"
        if env.project_id == origin.project_id:
            return f"{env.slug}.{name}"
        project = self.directory.known_project(env.project_id)
        return f"{project.slug if project else env.project_id}.{env.slug}.{name}"

    def _chain(self, stack: list[tuple[EnvironmentRecord, str]]) -> list[str]:
        origin = stack[0][0]
        return [self._label(e, n, origin) for e, n in stack]

    def _value(self, env: EnvironmentRecord, name: str, stack: list[tuple[EnvironmentRecord, str]]) -> str:
        done = self._done.get((env.id, name))
        if done is not None:
            return done[0]
        if any(e.id == env.id and n == name for e, n in stack):
            chain = self._chain([*stack, (env, name)])
            raise Unprocessable(
                f"the references form a cycle: {' -> '.join(chain)}", code="reference_cycle", details={"chain": chain}
            )
        if len(stack) > MAX_DEPTH:  # MAX_DEPTH references followed is fine
            chain = self._chain([*stack, (env, name)])
            raise Unprocessable(
                f"references nest deeper than {MAX_DEPTH}", code="reference_too_deep", details={"chain": chain}
            )
        entry = self.view(env)[name]
        raw = entry.value
        if "${" not in raw:
            self._done[(env.id, name)] = (raw, _size(raw))
            return raw
        stack = [*stack, (env, name)]
        pieces: list[str] = []
        size, at, expanded = 0, 0, False
        for match in REFERENCE.finditer(raw):
            text, at = raw[at : match.start()], match.end()
            piece, piece_size, followed = self._piece(env, entry, name, match, stack)
            expanded = expanded or followed
            size += _size(text) + piece_size
            if size > MAX_RESOLVED_BYTES:
                raise self._too_large(stack, "value", MAX_RESOLVED_BYTES)
            pieces += (text, piece)
        pieces.append(raw[at:])
        size += _size(raw[at:])
        if size > MAX_RESOLVED_BYTES:
            raise self._too_large(stack, "value", MAX_RESOLVED_BYTES)
        if expanded:
            self._expanded += size
            if self._expanded > MAX_EXPANDED_BYTES:
                raise self._too_large(stack, "request", MAX_EXPANDED_BYTES)
        value = "".join(pieces)
        self._done[(env.id, name)] = (value, size)
        return value

    def _piece(
        self,
        env: EnvironmentRecord,
        entry: Entry,
        name: str,
        match: re.Match[str],
        stack: list[tuple[EnvironmentRecord, str]],
    ) -> tuple[str, int, bool]:
        """What one `${…}` of env's `name` becomes, its UTF-8 size, and whether it was a reference followed."""
        ref = match.group(1)
        if ref is None:  # `$${`
            return "${", 2, False
        target = self._target(env, ref)
        if target is None:
            return match.group(0), _size(match.group(0)), False
        other, key = target
        if other.id != env.id:
            self._writer_may_read(entry, name, other, ref)
        value = self._value(other, key, stack)
        return value, self._done[(other.id, key)][1], True

    def _too_large(self, stack: list[tuple[EnvironmentRecord, str]], limit: str, max_bytes: int) -> Unprocessable:
        chain = self._chain(stack)
        what = "one value" if limit == "value" else "the values of one request"
        return Unprocessable(
            f"references expand {what} past {max_bytes} bytes: {' -> '.join(chain)}",
            code="reference_too_large",
            details={"chain": chain, "limit": limit, "max_bytes": max_bytes},
        )

    def _target(self, env: EnvironmentRecord, ref: str) -> tuple[EnvironmentRecord, str] | None:
        """Where `${ref}` points from env, or None when it names nothing (looked up once)."""
        if (env.id, ref) in self._targets:
            return self._targets[(env.id, ref)]
        found: tuple[EnvironmentRecord, str] | None = None
        if ref in self.view(env):
            found = (env, ref)
        else:
            for other, key in self.directory.interpretations(env, ref):
                _not_client_encrypted(other, ref)
                self._readable(other, ref)
                if key in self.view(other, reference=ref):
                    found = (other, key)
                    break
        self._targets[(env.id, ref)] = found
        return found

    def _readable(self, env: EnvironmentRecord, ref: str) -> None:
        if not shared_scope.may_read(self.access, env):
            raise Forbidden(
                f"a value refers to ${{{ref}}}, which your role ({self.access.role}) cannot read",
                code="reference_forbidden",
                details={"reference": ref},
            )

    # ----------------------------------------------------------------- the writer's rights

    def _fetch_roles(self, writers: Iterable[str]) -> None:
        """The current role in this org of each writer not known yet, in one read. Only members
        have one: a service token or the system reads nothing beyond its own environment."""
        who = self.access.principal
        wanted: list[str] = []
        for writer in dict.fromkeys(writers):
            if writer in self._roles:
                continue
            if not ids.is_id(writer, "usr"):
                self._roles[writer] = None
            elif who.type == "user" and writer == who.id:
                self._roles[writer] = self.access.role
            else:
                wanted.append(writer)
        if wanted:
            found = org_data.memberships(self.access.org.id, wanted)
            for writer in wanted:
                self._roles[writer] = found[writer].role if writer in found else None

    def _writer_may_read(self, entry: Entry, name: str, target: EnvironmentRecord, ref: str) -> None:
        """403 unless the value's writer may read, now, the environment its reference reaches."""
        self._fetch_roles([entry.updated_by])
        role = self._roles[entry.updated_by]
        writer = (
            None
            if role is None
            else OrgAccess(
                principal=Principal(type="user", id=entry.updated_by),
                org=self.access.org,
                role=role,
                grants=role_grants(self.access.org.id, role),
            )
        )
        readable = [target, *self.ancestors(target)]
        if writer is None or not all(shared_scope.may_read(writer, e, writer=True) for e in readable):
            raise Forbidden(
                f"{name} refers to ${{{ref}}}, which the one who wrote it ({entry.updated_by}) cannot read; "
                "someone who can must write the value again",
                code="reference_writer_forbidden",
                details={"key": name, "reference": ref, "written_by": entry.updated_by},
            )
