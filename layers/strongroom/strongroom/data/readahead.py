"""The read-ahead of a user's request (dev header, OIDC, PAT; service tokens: data/tokens.py): the
caller and the org, membership, project and environment its route names, read in a few consistent
BatchGetItems (`db.prefetch`) before anything else reads them one GetItem at a time. The reads that
follow (auth, access) are then answered from those batches; they decide, exactly as before.

Each round asks for every key computable from what is known: the credential's item (identity or
email pointer, PAT), the path's org / project / environment item when named by ID or their slug
pointer when named by slug, the user and the membership once both IDs are known, and whatever the
pointers of the last round name. A project's slug pointer also indexes its environments by slug
(data/projects.py): the environment it names is read in the next round with the environment's own
slug pointer, which decides (a guess it contradicts costs one more round, never a wrong answer).
By IDs that is two rounds ({credential, org, project, environment}, {user, membership}); three at
most for any mix of slugs: {credential, org slug}, {user, org, membership, project or its pointer,
environment pointer}, {project, environment}.

A warm function remembers, per credential, its user and the slugs of the org, project and
environment of its requests that reached their org as a member (from the pointers or the items
read, never another credential's, never a guess): the next request of that credential reads those
guesses' items in the first round together with the pointers that confirm them; a guess a pointer
contradicts is dropped and the round after reads what the pointer names. So a credential's next
request in the same org costs one round, whether it names things by ID or by slug.

What a round may ask for must not depend on what the caller may not see (docs/decisions.md,
2026-12-02): it goes below the org only while the org's items do not say the caller is out (org
missing or deleted, no membership, a PAT narrowed to other orgs, a read-only credential on a
mutating route), and below a project only while it stands. A non-member's request therefore costs
the same rounds whether or not the project or environment it names exists.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from strongroom import ids
from strongroom.context import current
from strongroom.data import db, keys, projects, roles
from strongroom.models.common import SLUG_PATTERN

MAX_ROUNDS = 4
REMEMBERED = 4096  # credentials
SLUGS_PER_CREDENTIAL = 64
_SLUG = re.compile(SLUG_PATTERN)


@dataclass(frozen=True, slots=True)
class Caller:
    """What the credential's item says, once the credential checked out."""

    user_id: str
    org_ids: frozenset[str] | None = None
    read_only: bool = False


# The credential's item (pointer or PAT) -> the Caller it stands for, or None (the credential
# failed: nothing past the first round is read).
Trust = Callable[[dict[str, Any] | None], Caller | None]


@dataclass(slots=True)
class _Learned:
    user_id: str | None = None
    slugs: dict[tuple[str, ...], str] = field(default_factory=dict)  # (level, parent IDs…, slug) -> ID
    roles: dict[str, str] = field(default_factory=dict)  # org ID -> the custom role its membership named


_learned: dict[tuple[str, str], _Learned] = {}


def _ident(key: dict[str, str]) -> tuple[str, str]:
    return key[keys.PK], key[keys.SK]


@dataclass(slots=True)
class _Plan:
    """The keys of one round, and the chain of IDs they resolved to so far."""

    credential: dict[str, str]
    trust: Trust
    learned: _Learned
    wanted: list[dict[str, str]] = field(default_factory=list)
    resolved: dict[tuple[str, ...], str] = field(default_factory=dict)  # verified slugs, to learn
    reached: bool = False  # the caller is a member of the org the path names
    role: tuple[str, str | None] | None = None  # (org ID, the custom role the membership names or None)

    def want(self, key: dict[str, str]) -> tuple[bool, dict[str, Any] | None]:
        self.wanted.append(key)
        return db.read_ahead(key)

    def level(
        self,
        name: tuple[str, ...],
        ref: str,
        id_type: str,
        pointer: dict[str, str],
        field_: str,
        *,
        hint: str | None = None,
    ) -> str | None:
        """The ID `ref` names: itself, what its slug pointer says once read, or (before) a guess:
        `hint` (what an index read this request says), else what the credential's requests learned."""
        if ids.is_id(ref, id_type):
            return ref
        if not _SLUG.match(name[-1]):
            return None  # no such slug: left to the resolver, as ever (nor a key DynamoDB refuses)
        known, item = self.want(pointer)
        if known:
            if item is None:
                return None
            self.resolved[name] = str(item[field_])
            return self.resolved[name]
        return hint or self.learned.slugs.get(name)

    def round_keys(self) -> list[dict[str, str]]:
        self.wanted, self.resolved, self.reached, self.role = [], {}, False, None
        known, item = self.want(self.credential)
        caller = self.trust(item) if known else None
        if known and caller is None:
            return self.wanted
        user_id = caller.user_id if caller else self.learned.user_id
        if user_id:
            self.want(keys.user(user_id))
        refs = current().refs
        if not (org_ref := refs.get("org")):
            return self.wanted
        if caller and caller.read_only and current().mutating:
            return self.wanted  # access.admit refuses it before any resource
        slug = org_ref.lower()
        org_id = self.level(("org", slug), org_ref, "org", keys.org_slug(slug), "org_id")
        if org_id is None or (caller and caller.org_ids is not None and org_id not in caller.org_ids):
            return self.wanted
        org_known, org = self.want(keys.org(org_id))
        member_known, member = self.want(keys.member(org_id, user_id)) if user_id else (False, None)
        if (org_known and (org is None or org.get("status") != "active")) or (member_known and member is None):
            return self.wanted
        self.reached = org_known and member_known
        self._custom_role(org_id, member_known, member)
        if self.reached and org is not None:
            self.resolved[("org", str(org["slug"]))] = org_id
        self._below(org_id, refs)
        return self.wanted

    def _custom_role(self, org_id: str, member_known: bool, member: dict[str, Any] | None) -> None:
        """A custom role's item, once the membership names it (or, before, the role the
        credential's last request in this org had: a guess the membership confirms or not)."""
        slug = str(member["role"]) if member is not None else None if member_known else self.learned.roles.get(org_id)
        custom = slug if slug is not None and slug not in roles.BUILT_IN else None
        if member is not None:
            self.role = (org_id, custom)
        if custom is not None:
            self.want(keys.role(org_id, custom))

    def _below(self, org_id: str, refs: dict[str, str]) -> None:
        if not (project_ref := refs.get("project")):
            return
        slug = project_ref.lower()
        name: tuple[str, ...] = ("project", org_id, slug)
        project_id = self.level(name, project_ref, "prj", keys.project_slug(org_id, slug), "project_id")
        if project_id is None:
            return
        known, project = self.want(keys.project(org_id, project_id))
        if known and (project is None or project.get("status") != "active"):
            return
        if project is not None:
            self.resolved[("project", org_id, str(project["slug"]))] = project_id
        if not (env_ref := refs.get("env")):
            return
        slug = env_ref.lower()
        name = ("env", org_id, project_id, slug)
        hint = _indexed(org_id, project_ref, project_id, slug)
        pointer = keys.environment_slug(org_id, project_id, slug)
        env_id = self.level(name, env_ref, "env", pointer, "environment_id", hint=hint)
        if env_id is not None:
            _known, env = self.want(keys.environment(org_id, project_id, env_id))
            if env is not None:
                self.resolved[("env", org_id, project_id, str(env["slug"]))] = env_id


def _indexed(org_id: str, project_ref: str, project_id: str, env_slug: str) -> str | None:
    """The environment that the index of the project's slug pointer, when read and naming
    `project_id`, gives `env_slug`: a guess, confirmed (or not) by the environment's own pointer
    read in the same round."""
    if ids.is_id(project_ref, "prj"):
        return None
    known, pointer = db.read_ahead(keys.project_slug(org_id, project_ref.lower()))
    if not known or pointer is None or pointer.get("project_id") != project_id:
        return None
    return projects.indexed_environments(pointer).get(env_slug)


def user_request(credential: dict[str, str], trust: Trust) -> None:
    """Read ahead, for this request, what resolving its caller and route will read (see above)."""
    learned = _learned.get(_ident(credential)) or _Learned()
    plan = _Plan(credential, trust, learned)
    for _round in range(MAX_ROUNDS):
        unread = list({_ident(k): k for k in plan.round_keys() if not db.read_ahead(k)[0]}.values())
        if not unread:
            break
        db.prefetch(unread)
    plan.round_keys()  # what the last round resolved
    _learn(plan)


def _learn(plan: _Plan) -> None:
    """Remember the user and the slugs of a request that reached its org as a member."""
    known, item = db.read_ahead(plan.credential)
    caller = plan.trust(item) if known else None
    if caller is None:
        _learned.pop(_ident(plan.credential), None)
        return
    learned = _learned.pop(_ident(plan.credential), None) or _Learned()
    if learned.user_id != caller.user_id:
        learned = _Learned(user_id=caller.user_id)
    if plan.reached:
        learned.slugs.update(plan.resolved)
        if plan.role is not None and plan.role[1] is None:
            learned.roles.pop(plan.role[0], None)
        elif plan.role is not None and plan.role[1] is not None:
            learned.roles[plan.role[0]] = plan.role[1]
            while len(learned.roles) > SLUGS_PER_CREDENTIAL:
                del learned.roles[next(iter(learned.roles))]
        while len(learned.slugs) > SLUGS_PER_CREDENTIAL:
            del learned.slugs[next(iter(learned.slugs))]
    if len(_learned) >= REMEMBERED:
        _learned.pop(next(iter(_learned)), None)  # the least recently used
    _learned[_ident(plan.credential)] = learned


def forget() -> None:
    """Drop what warm requests learned (tests)."""
    _learned.clear()
