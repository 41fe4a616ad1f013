"""What resolving a request's caller, org, membership, project and environment costs in DynamoDB
requests (issue #11): the calls a GET of an environment's secrets makes until its environment is
resolved (`projects.resolve_environment` returns: the route's own work starts there), counted on
the DynamoDB client (botocore event hooks) as tests/integration/test_db_prefetch.py does; a token's
last-used stamp (a write at most once a minute) aside.

A user's request (dev header, OIDC, PAT) costs at most 3 by IDs (2: credential and path, then user
and membership), by slugs at most 3 once its credential has resolved them in this function, and
at most 4 the first time when org, project and environment are all slugs (each slug pointer needs
its parent's ID); a service token's costs 1."""

from __future__ import annotations

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
from strongroom_local import LocalStack

if TYPE_CHECKING:
    from conftest import Issuer


class Cost:
    """DynamoDB calls of this thread until the environment is resolved."""

    def __init__(self) -> None:
        self.thread = threading.current_thread()
        self.calls: list[str] = []
        self.before_route: list[str] | None = None

    def __call__(self, model: Any, **_: Any) -> None:
        if threading.current_thread() is self.thread:
            self.calls.append(model.name)

    def start(self) -> None:
        self.calls, self.before_route = [], None


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
    aws.dynamodb().meta.events.register("before-call.dynamodb.*", recorder)
    readahead.forget()
    try:
        yield recorder
    finally:
        aws.dynamodb().meta.events.unregister("before-call.dynamodb.*", recorder)


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


def test_a_dev_user_request_costs_two_by_ids_and_at_most_three_by_slugs(invoke: Invoke, cost: Cost) -> None:
    world = _world(invoke, dev_user())
    readahead.forget()
    assert _list(invoke, cost, world.user, world.path("id")) == ["BatchGetItem"] * 2
    assert len(_list(invoke, cost, world.user, world.path("id"))) == 1  # warm: the user is known
    readahead.forget()
    cold = _list(invoke, cost, world.user, world.path("slug"))
    assert cold == ["BatchGetItem"] * 4  # org, project and environment all by slug: one level each
    assert len(_list(invoke, cost, world.user, world.path("slug"))) == 1  # warm: the slugs are known
    mixed = {**world.path("slug"), "env": world.env[0]}
    readahead.forget()
    assert len(_list(invoke, cost, world.user, mixed)) == 3


def test_a_pat_request_costs_at_most_three(invoke: Invoke, cost: Cost) -> None:
    world = _world(invoke, dev_user())
    token = _pat(invoke, world.user)
    readahead.forget()
    assert _list(invoke, cost, _bearer(token), world.path("id")) == ["BatchGetItem"] * 2
    assert len(_list(invoke, cost, _bearer(token), world.path("slug"))) == 1
    readahead.forget()
    assert len(_list(invoke, cost, _bearer(token), world.path("slug"))) == 4
    assert len(_list(invoke, cost, _bearer(token), world.path("id"))) == 1
    narrowed = _pat(invoke, world.user, orgs=[world.org[1]], read_only=True)
    readahead.forget()
    assert len(_list(invoke, cost, _bearer(narrowed), world.path("id"))) == 2


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
    headers = {"authorization": f"Bearer {body_of(created)['token']}"}
    invoke("RuntimeFunction", load_event("runtime_secrets", headers=headers))  # its scope is learned
    cost.start()
    pulled = invoke("RuntimeFunction", load_event("runtime_secrets", headers=headers))
    assert pulled["statusCode"] == 200
    assert cost.before_route == ["BatchGetItem"]


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
