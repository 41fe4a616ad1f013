"""What a caller sees in an environment: its own secrets over those it inherits from its parents,
with `${…}` references expanded, identically for every client.

Inheritance: an environment with a `parent` sees the parent's keys (and the grandparent's…)
unless it sets them itself; the nearest environment wins. Reading a child reads its ancestors,
so each ancestor must be readable by the caller (403 naming it otherwise). The ancestors'
snapshots are read in one request (plus one for the parts of those past one item).

References, expanded on read:
- `${KEY}`: KEY as this environment sees it (own or inherited);
- `${env.KEY}`: KEY in another environment of the project (as that environment sees it);
- `${project.env.KEY}`: KEY in an environment of another project of the org.
Keys may contain dots, so a dotted name is read, in order, as a key of this environment, as
`env.KEY`, as `project.env.KEY`. A name that matches none of them is left as written; `$${`
writes a literal `${`. A reference into an environment the caller may not read is 403 naming
it (never its value); a cycle or a chain deeper than 10 is 422 naming the chain.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from strongroom import crypto
from strongroom.access import EnvironmentAccess
from strongroom.data import projects as project_data
from strongroom.data import secrets as secret_data
from strongroom.data.projects import EnvironmentRecord, ProjectRecord
from strongroom.data.secrets import SnapshotRecord
from strongroom.errors import Forbidden, Unprocessable

MAX_DEPTH = 10
MAX_ANCESTORS = 10
REFERENCE = re.compile(r"\$\$\{|\$\{([^}]{1,300})\}")


@dataclass(frozen=True, slots=True)
class Entry:
    """One key as an environment sees it."""

    value: str
    version: int
    updated_at: str
    updated_by: str
    source: EnvironmentRecord  # the environment that holds the value


def open_snapshot(scope: crypto.Scope, snap: SnapshotRecord) -> tuple[bytes, dict[str, Any]]:
    """The snapshot's data key and its decrypted body ({live, trash}): the one place a snapshot
    is opened (its AAD binds key version and revision)."""
    key = crypto.unwrap(scope, snap.key_version, snap.wrapped_key, snap.kms_key_id)
    plain = crypto.decrypt(key, snap.blob, scope.aad("snapshot", snap.key_version, snap.revision), what="snapshot")
    body: dict[str, Any] = json.loads(plain)
    return key, body


def open_live(scope: crypto.Scope, snap: SnapshotRecord | None) -> dict[str, dict[str, Any]]:
    """The live secrets of a snapshot: name -> {value, version, created_at, updated_at, updated_by}."""
    if snap is None:
        return {}
    live: dict[str, dict[str, Any]] = open_snapshot(scope, snap)[1]["live"]
    return live


class Resolver:
    """The views of the environments one request touches, loaded once each."""

    def __init__(self, access: EnvironmentAccess) -> None:
        self.access = access
        self._envs: dict[str, list[EnvironmentRecord]] = {}
        self._projects: dict[str, ProjectRecord | None] = {access.project.slug: access.project}
        self._views: dict[str, dict[str, Entry]] = {}
        self._done: dict[tuple[str, str], str] = {}
        # env_id -> snapshot revision of every environment read so far (0: no snapshot yet)
        self.revisions: dict[str, int] = {}

    # ----------------------------------------------------------------- views

    def environments(self, project_id: str) -> list[EnvironmentRecord]:
        if project_id not in self._envs:
            self._envs[project_id] = project_data.environments(self.access.org.id, project_id)
        return self._envs[project_id]

    def ancestors(self, env: EnvironmentRecord) -> list[EnvironmentRecord]:
        """env's parent, grandparent…, nearest first."""
        if env.parent_id is None:
            return []
        by_id = {e.id: e for e in self.environments(env.project_id)}
        out: list[EnvironmentRecord] = []
        seen = {env.id}
        parent = by_id.get(env.parent_id)
        while parent is not None and parent.id not in seen and len(out) < MAX_ANCESTORS:
            out.append(parent)
            seen.add(parent.id)
            parent = by_id.get(parent.parent_id) if parent.parent_id else None
        return out

    def view(self, env: EnvironmentRecord) -> dict[str, Entry]:
        """Every key env sees, own over inherited, raw (references not expanded)."""
        if env.id in self._views:
            return self._views[env.id]
        chain = [env, *self.ancestors(env)]
        # A service token reads its environment as the environment sees itself, ancestors included
        # (its creator had to be able to read them: domain/tokens.py).
        through_token = self.access.principal.environment_id == env.id
        for ancestor in chain[1:]:
            if not through_token and not self.access.allows("secrets.read", ancestor):
                raise Forbidden(
                    f"'{env.slug}' inherits from '{ancestor.slug}', which your role ({self.access.role}) cannot read",
                    code="inherits_unreadable",
                    details={"environment": ancestor.slug},
                )
        snaps = secret_data.snapshots([e.id for e in chain])
        for link in chain:
            self.revisions.setdefault(link.id, snaps[link.id].revision if link.id in snaps else 0)
        merged: dict[str, Entry] = {}
        for holder in reversed(chain):  # farthest first: nearer environments overwrite
            scope = crypto.Scope(self.access.org.id, holder.project_id, holder.id)
            for name, e in open_live(scope, snaps.get(holder.id)).items():
                merged[name] = Entry(e["value"], e["version"], e["updated_at"], e["updated_by"], holder)
        self._views[env.id] = merged
        return merged

    # ----------------------------------------------------------------- references

    def resolve(self, env: EnvironmentRecord, name: str) -> str:
        """The value of `name` as env sees it, references expanded."""
        return self._value(env, name, [])

    def _label(self, env: EnvironmentRecord, name: str, origin: EnvironmentRecord) -> str:
        if env.id == origin.id:
            return name
        if env.project_id == origin.project_id:
            return f"{env.slug}.{name}"
        project = next((p for p in self._projects.values() if p and p.id == env.project_id), None)
        return f"{project.slug if project else env.project_id}.{env.slug}.{name}"

    def _value(self, env: EnvironmentRecord, name: str, stack: list[tuple[EnvironmentRecord, str]]) -> str:
        done = self._done.get((env.id, name))
        if done is not None:
            return done
        origin = stack[0][0] if stack else env
        if any(e.id == env.id and n == name for e, n in stack):
            chain = [self._label(e, n, origin) for e, n in stack] + [self._label(env, name, origin)]
            raise Unprocessable(
                f"the references form a cycle: {' -> '.join(chain)}", code="reference_cycle", details={"chain": chain}
            )
        if len(stack) > MAX_DEPTH:  # MAX_DEPTH references followed is fine
            chain = [self._label(e, n, origin) for e, n in stack] + [self._label(env, name, origin)]
            raise Unprocessable(
                f"references nest deeper than {MAX_DEPTH}", code="reference_too_deep", details={"chain": chain}
            )
        raw = self.view(env)[name].value
        stack = [*stack, (env, name)]

        def expand(match: re.Match[str]) -> str:
            if match.group(0) == "$${":
                return "${"
            target = self._target(env, match.group(1), stack)
            if target is None:
                return match.group(0)
            return self._value(target[0], target[1], stack)

        value = REFERENCE.sub(expand, raw)
        self._done[(env.id, name)] = value
        return value

    def _target(
        self, env: EnvironmentRecord, ref: str, stack: list[tuple[EnvironmentRecord, str]]
    ) -> tuple[EnvironmentRecord, str] | None:
        """Where `${ref}` points from env, or None when it names nothing."""
        if ref in self.view(env):
            return env, ref
        parts = ref.split(".")
        if len(parts) >= 2:
            other = self._environment(env.project_id, parts[0])
            if other is not None:
                self._readable(other, ref)
                if ".".join(parts[1:]) in self.view(other):
                    return other, ".".join(parts[1:])
        if len(parts) >= 3:
            project = self._project(parts[0])
            other = self._environment(project.id, parts[1]) if project else None
            if other is not None:
                self._readable(other, ref)
                if ".".join(parts[2:]) in self.view(other):
                    return other, ".".join(parts[2:])
        return None

    def _readable(self, env: EnvironmentRecord, ref: str) -> None:
        if not self.access.allows("secrets.read", env):
            raise Forbidden(
                f"a value refers to ${{{ref}}}, which your role ({self.access.role}) cannot read",
                code="reference_forbidden",
                details={"reference": ref},
            )

    def _environment(self, project_id: str, slug: str) -> EnvironmentRecord | None:
        return next((e for e in self.environments(project_id) if e.slug == slug), None)

    def _project(self, slug: str) -> ProjectRecord | None:
        if slug not in self._projects:
            found = project_data.resolve(self.access.org.id, slug)
            self._projects[slug] = (
                found if found is not None and getattr(found, "status", "active") == "active" else None
            )
        return self._projects[slug]
