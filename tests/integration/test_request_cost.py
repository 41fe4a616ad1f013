"""What resolving a request's caller, org, membership, project and environment costs in DynamoDB
requests (issue #11): the calls a GET of an environment's secrets makes until its environment is
resolved (`projects.resolve_environment` returns: the route's own work starts there), counted on
the DynamoDB client (botocore event hooks) as tests/integration/test_db_prefetch.py does; a token's
last-used stamp (a write at most once a minute) aside.

A user's request (dev header, OIDC, PAT) costs 2 by IDs (credential and path, then user and
membership) and at most 3 at any mix of IDs and slugs (the org's slug pointer, then the pointers
computable from the org's ID, a project's slug pointer indexing its environments, then what they
name); 1 once its function has seen the credential; a service token's costs 1, its 304 too.

A slug pointer never resolves across tenants, nor to a deleted project's environment: another org's
project and environment with the same slugs, and a project deleted and re-created under its slug,
are never what a request by slugs reaches (the keys each round reads are asserted)."""

from __future__ import annotations

import json
import secrets
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import pytest

from integration.conftest import Invoke, body_of, dev_user, load_event
from strongroom import aws
from strongroom.data import projects as project_data
from strongroom.data import readahead
from strongroom.domain import plans
from strongroom.domain.projects import MAX_ENVIRONMENTS
from strongroom.errors import Conflict
from strongroom_local import LocalStack
from support import get_item, table_name

if TYPE_CHECKING:
    from conftest import Issuer


class Cost:
    """DynamoDB calls of this thread until the environment is resolved, and the keys its
    BatchGetItems asked for (PK, SK). The rate limit's one write per request (an UpdateItem of the
    caller's `RATE#` counter, issue #18) is counted apart, in `rate_writes`."""

    def __init__(self) -> None:
        self.thread = threading.current_thread()
        self.calls: list[str] = []
        self.before_route: list[str] | None = None
        self.batched: list[tuple[str, str]] = []
        self.rate_writes = 0
        self._rate_write = False

    def __call__(self, model: Any, **_: Any) -> None:
        if threading.current_thread() is self.thread:
            if model.name == "UpdateItem" and self._rate_write:
                self._rate_write = False
                return
            self.calls.append(model.name)

    def update(self, params: dict[str, Any], **_: Any) -> None:
        if threading.current_thread() is self.thread and params["Key"]["PK"]["S"].startswith("RATE#"):
            self.rate_writes += 1
            self._rate_write = True

    def batch(self, params: dict[str, Any], **_: Any) -> None:
        if threading.current_thread() is self.thread:
            for table in params["RequestItems"].values():
                self.batched += [(k["PK"]["S"], k["SK"]["S"]) for k in table["Keys"]]

    def start(self) -> None:
        # The plans' stored limits are read once a minute per container (domain/plans.py), not per
        # request: read now, so that what follows is the request's own.
        plans.stored_configs()
        self.calls, self.before_route, self.batched, self.rate_writes = [], None, [], 0


@pytest.fixture
def cost(stack: LocalStack, monkeypatch: pytest.MonkeyPatch) -> Iterator[Cost]:
    assert stack.url
    recorder = Cost()
    resolve = project_data.resolve_environment

    def marked(*args: Any, **kwargs: Any) -> Any:
        found = resolve(*args, **kwargs)
        if recorder.before_route is None:
            recorder.before_route = list(recorder.calls)
        return found

    monkeypatch.setattr(project_data, "resolve_environment", marked)
    events = aws.dynamodb().meta.events
    events.register("before-call.dynamodb.*", recorder)
    events.register("before-parameter-build.dynamodb.BatchGetItem", recorder.batch)
    events.register("before-parameter-build.dynamodb.UpdateItem", recorder.update)
    readahead.forget()
    try:
        yield recorder
    finally:
        events.unregister("before-call.dynamodb.*", recorder)
        events.unregister("before-parameter-build.dynamodb.BatchGetItem", recorder.batch)
        events.unregister("before-parameter-build.dynamodb.UpdateItem", recorder.update)


@dataclass
class World:
    user: dict[str, str]
    org: tuple[str, str]  # (id, slug)
    project: tuple[str, str]
    env: tuple[str, str]

    def path(self, by: str) -> dict[str, str]:
        n = 0 if by == "id" else 1
        return {"org": self.org[n], "project": self.project[n], "env": self.env[n]}


def _world(invoke: Invoke, user: dict[str, str]) -> World:
    slug = f"rc-{secrets.token_hex(4)}"
    org = invoke("OrgsFunction", load_event("orgs_create", headers=user, body={"name": "Rc", "slug": slug}))
    assert org["statusCode"] == 201, org
    project = invoke("ProjectsFunction", load_event("projects_create", headers=user, path_parameters={"org": slug}))
    assert project["statusCode"] == 201, project
    env = next(e for e in body_of(project)["environments"] if e["slug"] == "staging")
    return World(
        user,
        (body_of(org)["id"], slug),
        (body_of(project)["id"], body_of(project)["slug"]),
        (env["id"], env["slug"]),
    )


def _list(invoke: Invoke, cost: Cost, headers: dict[str, str], path: dict[str, str]) -> list[str]:
    cost.start()
    response = invoke("SecretsFunction", load_event("secrets_list", headers=headers, path_parameters=path))
    assert response["statusCode"] == 200, response
    assert cost.before_route is not None
    # A token's last-used stamp (an UpdateItem, at most once a minute per token) is bookkeeping
    # after its check, not a read of the request's resolution.
    return [c for c in cost.before_route if c != "UpdateItem"]


def _pat(invoke: Invoke, user: dict[str, str], **body: Any) -> str:
    event = load_event("identity_get_me", headers=user, routeKey="POST /v1/auth/tokens", body={"name": "rc", **body})
    created = invoke("IdentityFunction", event)
    assert created["statusCode"] == 201, created
    return str(body_of(created)["token"])


def _bearer(token: str) -> Any:
    return {"x-strongroom-dev-user": None, "authorization": f"Bearer {token}"}


# Cold DynamoDB requests before the route, by how the path names (org, project, environment): "i"
# an ID, "s" a slug. Round 1 reads the credential and what the path names by ID (or the org's
# slug pointer); round 2 the user, the membership and the pointers computable from the org's ID
# (a project's slug pointer indexes its environments); round 3 what those pointers name.
COLD = {"iii": 2, "iis": 2, "isi": 2, "iss": 2, "sii": 2, "sis": 3, "ssi": 3, "sss": 3}


def _named(world: World, how: str) -> dict[str, str]:
    ids, slugs = world.path("id"), world.path("slug")
    return {level: (ids if c == "i" else slugs)[level] for level, c in zip(("org", "project", "env"), how, strict=True)}


@pytest.mark.parametrize("credential", ["dev", "pat"])
@pytest.mark.parametrize("how", sorted(COLD))
def test_a_user_request_costs_at_most_three_at_every_mix_of_ids_and_slugs(
    invoke: Invoke, cost: Cost, credential: str, how: str
) -> None:
    # Given a user's org, project and environment, and the credential the request carries
    world = _world(invoke, dev_user())
    headers = world.user if credential == "dev" else _bearer(_pat(invoke, world.user))
    # When its function has not seen the credential yet, then again
    readahead.forget()
    cold = _list(invoke, cost, headers, _named(world, how))
    warm = _list(invoke, cost, headers, _named(world, how))
    # Then the cold request costs its rounds (3 at most), all BatchGetItems, the warm one 1
    assert cold == ["BatchGetItem"] * COLD[how]
    assert warm == ["BatchGetItem"]


def test_a_pat_narrowed_to_its_org_costs_the_same(invoke: Invoke, cost: Cost) -> None:
    world = _world(invoke, dev_user())
    narrowed = _pat(invoke, world.user, orgs=[world.org[1]], read_only=True)
    readahead.forget()
    assert len(_list(invoke, cost, _bearer(narrowed), world.path("id"))) == 2
    readahead.forget()
    assert len(_list(invoke, cost, _bearer(narrowed), world.path("slug"))) == 3


def test_an_oidc_user_request_costs_at_most_three(invoke: Invoke, cost: Cost, oidc_mode: Issuer) -> None:
    subject, email = f"rc-{secrets.token_hex(4)}", f"rc-{secrets.token_hex(4)}@example.com"
    token = oidc_mode.mint(sub=subject, email=email)
    world = _world(invoke, _bearer(token))
    readahead.forget()
    assert _list(invoke, cost, world.user, world.path("id")) == ["BatchGetItem"] * 2
    assert len(_list(invoke, cost, world.user, world.path("slug"))) == 1  # the ID request taught the slugs


def test_a_service_token_request_costs_one(invoke: Invoke, cost: Cost) -> None:
    world = _world(invoke, dev_user())
    body = {"name": "ci", "project": world.project[1], "environment": world.env[1]}
    event = load_event(
        "tokens_list",
        headers=world.user,
        routeKey="POST /v1/orgs/{org}/tokens",
        body=body,
        path_parameters={"org": world.org[1]},
    )
    created = invoke("TokensFunction", event)
    assert created["statusCode"] == 201, created
    # its org's requests are counted (the local stack's enterprise plan counts none): issue #18
    limit = load_event(
        "orgs_create",
        headers={"x-strongroom-dev-user": "admin@example.com"},
        routeKey="PATCH /v1/admin/orgs/{org}",
        body={"limit_overrides": {"requests_per_minute": 1_000_000}},
        path_parameters={"org": world.org[0]},
    )
    assert invoke("AdminFunction", limit)["statusCode"] == 200
    headers = {"authorization": f"Bearer {body_of(created)['token']}"}
    invoke("RuntimeFunction", load_event("runtime_secrets", headers=headers))  # its scope is learned
    cost.start()
    pulled = invoke("RuntimeFunction", load_event("runtime_secrets", headers=headers))
    assert pulled["statusCode"] == 200
    assert cost.before_route == ["BatchGetItem"]
    # and its 304 costs that one request in all
    etag = next(v for k, v in pulled["headers"].items() if k.lower() == "etag")
    cost.start()
    unchanged = invoke("RuntimeFunction", load_event("runtime_secrets", headers={**headers, "if-none-match": etag}))
    assert unchanged["statusCode"] == 304
    assert [c for c in cost.calls if c != "UpdateItem"] == ["BatchGetItem"]
    # and the rate limit adds one write to it, no read (issue #18)
    assert cost.rate_writes == 1


def _refused(invoke: Invoke, cost: Cost, headers: dict[str, str], path: dict[str, str]) -> tuple[int, str, int]:
    cost.start()
    response = invoke("SecretsFunction", load_event("secrets_list", headers=headers, path_parameters=path))
    reads = [c for c in cost.calls if c != "UpdateItem"]  # a token's last-used stamp
    return response["statusCode"], body_of(response)["error"]["message"], len(reads)


@pytest.mark.parametrize("by", ["id", "slug"])
def test_an_outsider_pays_the_same_whether_or_not_the_project_exists(invoke: Invoke, cost: Cost, by: str) -> None:
    # Given another tenant's org, project and environment, and an outsider (no member)
    world, outsider = _world(invoke, dev_user()), dev_user()
    invoke("IdentityFunction", load_event("identity_get_me", headers=outsider))
    real = world.path(by)
    made_up = {**real, "project": "nope" if by == "slug" else "prj_01m8vt10z88gte2bbeamf7g3tq"}
    answers = []
    for path in (real, made_up, real):
        readahead.forget()
        answers.append(_refused(invoke, cost, outsider, path))
    # Then every answer is the org's 404, for the same number of DynamoDB requests
    assert {a[:2] for a in answers} == {(404, "organization not found")}
    assert len({a[2] for a in answers}) == 1
    assert answers[0][2] <= 2


def test_a_pat_narrowed_to_another_org_costs_no_more_there(invoke: Invoke, cost: Cost) -> None:
    world = _world(invoke, dev_user())
    other = _world(invoke, world.user)
    token = _pat(invoke, world.user, orgs=[other.org[1]])
    readahead.forget()
    status, message, calls = _refused(invoke, cost, _bearer(token), world.path("slug"))
    assert (status, message) == (404, "organization not found")
    assert calls <= 3  # the credential and the slug, the user, then org_access's read of the org


def test_what_a_function_remembers_never_decides(invoke: Invoke, cost: Cost) -> None:
    # Given a user whose function remembers their org's slug
    world, stranger = _world(invoke, dev_user()), dev_user()
    old = world.path("slug")
    _list(invoke, cost, world.user, old)
    assert len(_list(invoke, cost, world.user, old)) == 1
    # When the org moves to another slug and a stranger's org takes the old one
    new_slug = f"rc-{secrets.token_hex(4)}"
    event = load_event(
        "orgs_create", headers=world.user, routeKey="PATCH /v1/orgs/{org}", path_parameters={"org": world.org[0]}
    )
    event["body"] = f'{{"slug": "{new_slug}"}}'
    moved = invoke("OrgsFunction", event)
    assert moved["statusCode"] == 200, moved
    taken = invoke("OrgsFunction", load_event("orgs_create", headers=stranger, body={"name": "S", "slug": old["org"]}))
    assert taken["statusCode"] == 201, taken
    # Then the old slug names the stranger's org (404 for the user), the new one theirs
    status, message, _calls = _refused(invoke, cost, world.user, old)
    assert (status, message) == (404, "organization not found")
    assert len(_list(invoke, cost, world.user, {**old, "org": new_slug})) <= 3
    # and the stranger, by the user's IDs, finds nothing either
    assert _refused(invoke, cost, stranger, world.path("id"))[:2] == (404, "organization not found")


# --------------------------------------------------------------------------- the index of a project's environments

E_ROUTE = "/v1/orgs/{org}/projects/{project}/environments/{env}"


def _call(invoke: Invoke, headers: dict[str, str], route: str, path: dict[str, str], body: Any = None) -> Any:
    event = load_event("projects_list", headers=headers, routeKey=route, path_parameters=path)
    if body is not None:
        event["body"] = json.dumps(body)
    response = invoke("ProjectsFunction", event)
    assert response["statusCode"] < 300, response
    return body_of(response)


def _env_by_slugs(invoke: Invoke, cost: Cost, headers: dict[str, str], *slugs: str) -> Any:
    """GET E with the path named by (org, project, environment)."""
    org, project, env = slugs
    cost.start()
    event = load_event(
        "projects_list",
        headers=headers,
        routeKey=f"GET {E_ROUTE}",
        path_parameters={"org": org, "project": project, "env": env},
    )
    return invoke("ProjectsFunction", event)


def _env_partition_reads(cost: Cost) -> set[str]:
    """The org partitions whose projects or environments the batches read."""
    return {pk for pk, sk in cost.batched if sk.startswith(("PROJECT#", "ENV#", "ENVSLUG#", "PROJSLUG#"))}


def _index(stack: LocalStack, org_id: str, project_slug: str) -> dict[str, str] | None:
    item = get_item(stack, f"ORG#{org_id}", f"PROJSLUG#{project_slug}")
    if item is None:
        return None
    return {k.removeprefix("env:"): v["S"] for k, v in item.items() if k.startswith("env:")}


def test_a_slug_pointer_never_crosses_orgs(invoke: Invoke, cost: Cost) -> None:
    # Given a user in two orgs, each with a project and environments of the same slugs
    user = dev_user()
    mine, theirs = _world(invoke, user), _world(invoke, user)
    assert (mine.project[1], mine.env[1]) == (theirs.project[1], theirs.env[1])
    readahead.forget()
    for world in (mine, theirs, mine):  # cold, then with what the function learned of the other org
        # When the user names one org's project and environment by slugs
        got = _env_by_slugs(invoke, cost, user, world.org[1], world.project[1], world.env[1])
        # Then it is that org's environment, read from that org's partition only, in 3 requests at most
        assert got["statusCode"] == 200, got
        assert body_of(got)["id"] == world.env[0]
        assert _env_partition_reads(cost) == {f"ORG#{world.org[0]}"}
        assert len([c for c in cost.before_route or [] if c != "UpdateItem"]) <= 3
    # and an outsider naming the other org by its slugs reads nothing below its org
    outsider = dev_user()
    invoke("IdentityFunction", load_event("identity_get_me", headers=outsider))
    readahead.forget()
    refused = _env_by_slugs(invoke, cost, outsider, theirs.org[1], theirs.project[1], theirs.env[1])
    assert refused["statusCode"] == 404
    assert not {sk for _pk, sk in cost.batched if sk.startswith(("PROJECT#", "ENV#"))}


def test_a_deleted_project_s_environments_are_never_reached_by_its_slug(
    invoke: Invoke, cost: Cost, stack: LocalStack
) -> None:
    # Given a project whose environments a warm function knows by slug
    world = _world(invoke, dev_user())
    org, slug = world.org[1], world.project[1]
    assert _env_by_slugs(invoke, cost, world.user, org, slug, "staging")["statusCode"] == 200
    # When the project is deleted and another takes its slug
    _call(invoke, world.user, "DELETE /v1/orgs/{org}/projects/{project}", {"org": org, "project": slug})
    assert _index(stack, world.org[0], slug) is None  # the pointer and its index went with the project
    gone = _env_by_slugs(invoke, cost, world.user, org, slug, "staging")
    assert gone["statusCode"] == 404, gone
    event = load_event(
        "projects_create", headers=world.user, path_parameters={"org": org}, body={"name": "Web", "slug": slug}
    )
    created = invoke("ProjectsFunction", event)
    assert created["statusCode"] == 201, created
    staging = next(e["id"] for e in body_of(created)["environments"] if e["slug"] == "staging")
    # Then the slugs reach the new project's environment, warm and cold, never the old one
    for forget in (False, True):
        if forget:
            readahead.forget()
        got = _env_by_slugs(invoke, cost, world.user, org, slug, "staging")
        assert got["statusCode"] == 200, got
        assert body_of(got)["id"] == staging != world.env[0]
        assert len([c for c in cost.before_route or [] if c != "UpdateItem"]) <= 3


def test_the_index_follows_every_change_of_the_environments_and_the_project_slug(
    invoke: Invoke, cost: Cost, stack: LocalStack
) -> None:
    # Given a project (its three environments indexed at creation)
    world = _world(invoke, dev_user())
    org_id, org, headers = world.org[0], world.org[1], world.user
    project = world.project[1]
    envs = {
        e["slug"]: e["id"]
        for e in _call(invoke, headers, "GET /v1/orgs/{org}/projects/{project}", {"org": org, "project": project})[
            "environments"
        ]
    }
    assert _index(stack, org_id, project) == envs
    # When an environment is created, renamed, deleted, and the project's slug changes
    base = {"org": org, "project": project}
    made = _call(invoke, headers, "POST /v1/orgs/{org}/projects/{project}/environments", base, {"name": "QA"})
    envs["qa"] = made["id"]
    assert _index(stack, org_id, project) == envs
    _call(invoke, headers, f"PATCH {E_ROUTE}", {**base, "env": "qa"}, {"slug": "qa-2"})
    envs["qa-2"] = envs.pop("qa")
    assert _index(stack, org_id, project) == envs
    _call(invoke, headers, f"DELETE {E_ROUTE}", {**base, "env": "qa-2"})
    del envs["qa-2"]
    assert _index(stack, org_id, project) == envs
    _call(invoke, headers, "PATCH /v1/orgs/{org}/projects/{project}", base, {"slug": "renamed"})
    # Then the index moved with the pointer, and every environment is reached by slugs in 3 requests
    assert _index(stack, org_id, project) is None
    assert _index(stack, org_id, "renamed") == envs
    for env_slug, env_id in envs.items():
        readahead.forget()
        got = _env_by_slugs(invoke, cost, headers, org, "renamed", env_slug)
        assert body_of(got)["id"] == env_id
        assert cost.before_route == ["BatchGetItem"] * 3


def test_a_project_with_the_most_environments_changes_its_slug_in_one_transaction(
    invoke: Invoke, cost: Cost, stack: LocalStack
) -> None:
    # Given a project with MAX_ENVIRONMENTS environments
    world = _world(invoke, dev_user())
    base = {"org": world.org[1], "project": world.project[1]}
    for n in range(MAX_ENVIRONMENTS - 3):
        _call(invoke, world.user, "POST /v1/orgs/{org}/projects/{project}/environments", base, {"name": f"E{n}"})
    # When its slug changes
    cost.start()
    _call(invoke, world.user, "PATCH /v1/orgs/{org}/projects/{project}", base, {"slug": "big"})
    # Then one TransactWriteItems moved the pointer with its 50 entries, and the last one is reached
    assert cost.calls.count("TransactWriteItems") == 1
    assert len(_index(stack, world.org[0], "big") or {}) == MAX_ENVIRONMENTS
    readahead.forget()
    got = _env_by_slugs(invoke, cost, world.user, world.org[1], "big", f"e{MAX_ENVIRONMENTS - 4}")
    assert got["statusCode"] == 200, got
    assert cost.before_route == ["BatchGetItem"] * 3


def test_a_slug_rename_racing_an_environment_change_is_refused(invoke: Invoke, stack: LocalStack) -> None:
    # Given a project, and an environment created after a rename read the project's pointer
    world = _world(invoke, dev_user())
    pointer = get_item(stack, f"ORG#{world.org[0]}", f"PROJSLUG#{world.project[1]}")
    assert pointer is not None
    base = {"org": world.org[1], "project": world.project[1]}
    _call(invoke, world.user, "POST /v1/orgs/{org}/projects/{project}/environments", base, {"name": "Late"})
    # When the rename writes what it read (the pointer's revision as read then)
    from strongroom.data import db
    from strongroom.data import projects as data

    stale = data.SlugPointer(world.project[1], world.project[0], {}, int(pointer["env_rev"]["N"]))
    with pytest.raises(Conflict) as refused:
        db.transact(data.move_slug(world.org[0], stale, "raced"))
    # Then it is refused, and nothing moved
    assert refused.value.code == "project_changed"
    assert _index(stack, world.org[0], "raced") is None
    assert "late" in (_index(stack, world.org[0], world.project[1]) or {})


def test_the_migration_indexes_pointers_written_before_the_index(invoke: Invoke, cost: Cost, stack: LocalStack) -> None:
    # Given a project whose slug pointer was written before the index (no env:* nor env_rev)
    from strongroom.data import migrations

    world = _world(invoke, dev_user())
    key = {"PK": {"S": f"ORG#{world.org[0]}"}, "SK": {"S": f"PROJSLUG#{world.project[1]}"}}
    legacy = {
        k: v for k, v in (get_item(stack, key["PK"]["S"], key["SK"]["S"]) or {}).items() if not k.startswith("env")
    }
    aws.dynamodb().put_item(TableName=table_name(stack), Item=legacy)
    # Then a request by slugs is still answered right, for one round more
    readahead.forget()
    assert _list(invoke, cost, world.user, world.path("slug")) == ["BatchGetItem"] * 4
    # When the migrations run (twice: the second changes nothing)
    first, again = migrations.run(), migrations.run()
    # Then the pointer indexes the environments, and the request costs 3 again
    assert first["2026-12-02 index environments by slug"] >= 1
    assert set(again.values()) == {0}
    assert (_index(stack, world.org[0], world.project[1]) or {}).get("staging") == world.env[0]
    readahead.forget()
    assert _list(invoke, cost, world.user, world.path("slug")) == ["BatchGetItem"] * 3


def _custom_role_member(invoke: Invoke, world: World) -> dict[str, str]:
    """A second member of the world's org, holding a custom role (staging's secrets only)."""
    from strongroom.data import db
    from strongroom.data import orgs as org_data

    role = {"name": "Reader", "slug": "reader", "permissions": {"secrets.read": "non_production"}}
    route = "POST /v1/orgs/{org}/roles"
    event = load_event(
        "orgs_create", headers=world.user, routeKey=route, body=role, path_parameters={"org": world.org[1]}
    )
    created = invoke("OrgsFunction", event)
    assert created["statusCode"] == 201, created
    member = dev_user()
    me = invoke("IdentityFunction", load_event("identity_get_me", headers=member))
    record = org_data.MembershipRecord(
        org_id=world.org[0],
        user_id=body_of(me)["id"],
        email=body_of(me)["email"],
        role="reader",
        joined_at="2026-12-02",
    )
    db.transact([org_data.add_member(record)])
    return member


@pytest.mark.parametrize("how", ["iii", "sss"])
def test_a_custom_role_s_member_costs_at_most_three_and_one_warm(invoke: Invoke, cost: Cost, how: str) -> None:
    # Given a member whose role is a custom one (its item read with, or after, the membership)
    world = _world(invoke, dev_user())
    member = _custom_role_member(invoke, world)
    readahead.forget()
    cold = _list(invoke, cost, member, _named(world, how))
    warm = _list(invoke, cost, member, _named(world, how))
    # Then the role's item costs no round past the third, and none warm (the role is remembered)
    assert cold == ["BatchGetItem"] * 3
    assert warm == ["BatchGetItem"]
    assert (f"ORG#{world.org[0]}", "ROLE#reader") in cost.batched
