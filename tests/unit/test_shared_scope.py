"""The org's shared-secrets scope, pure: its derived ID, who may read it (members by
`shared_secrets.read`, service tokens only to read their own environment's references, never to
write one), and the runtime ETags that may name it."""

from __future__ import annotations

import base64

import pytest

from strongroom import ids
from strongroom.context import Principal
from strongroom.data.orgs import OrgRecord
from strongroom.domain import runtime, shared_scope
from strongroom.security.access import OrgAccess

ORG = "org_01m8rt5w37jqc2tb0rg5cwrxf3"
ENV = "env_01m8rt5w37jqc2tb0rg5cwrxf4"
ORG_RECORD = OrgRecord(id=ORG, name="Acme", slug="acme", created_at="t", updated_at="t")


def _access(principal: Principal, role: str, grants: dict[str, str] | None = None) -> OrgAccess:
    return OrgAccess(principal=principal, org=ORG_RECORD, role=role, grants=grants)  # type: ignore[arg-type]


def test_the_shared_id_is_the_orgs_own_characters_under_a_prefix_no_environment_has() -> None:
    assert shared_scope.shared_id(ORG) == "shr_01m8rt5w37jqc2tb0rg5cwrxf3"
    env = shared_scope.environment(ORG)
    assert ids.is_id(env.id, "shr")
    assert not ids.is_id(env.id, "env")
    assert shared_scope.is_shared(env)
    assert (env.org_id, env.project_id, env.production) == (ORG, "shared", True)


@pytest.mark.parametrize(
    ("role", "grants", "reads"),
    [
        ("owner", None, True),
        ("admin", None, True),
        ("developer", None, True),
        ("viewer", None, True),
        ("ci", {"secrets.read": "all", "projects.read": "all"}, False),  # a custom role narrows it
        ("readers", {"shared_secrets.read": "all"}, True),
    ],
)
def test_members_read_by_their_role(role: str, grants: dict[str, str] | None, reads: bool) -> None:
    access = _access(Principal(type="user", id="usr_01m8rt5w37jqc2tb0rg5cwrxf5"), role, grants)
    shared = shared_scope.environment(ORG)
    assert shared_scope.may_read(access, shared) is reads
    assert shared_scope.may_read(access, shared, writer=True) is reads


def test_a_service_token_reads_references_in_its_environment_but_never_writes_one() -> None:
    token = Principal(
        type="service_token",
        id="tok_01m8rt5w37jqc2tb0rg5cwrxf6",
        project_id="prj_01m8rt5w37jqc2tb0rg5cwrxf7",
        environment_id=ENV,
        permissions=frozenset({"secrets.read", "secrets.write"}),
    )
    access = _access(token, "service_token")
    shared = shared_scope.environment(ORG)
    assert shared_scope.may_read(access, shared)
    assert not shared_scope.may_read(access, shared, writer=True)
    assert not access.allows("shared_secrets.read")  # the management routes stay closed to it


def _tag(raw: str) -> str:
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def test_an_etag_may_name_the_shared_store_beside_the_environment() -> None:
    shr = shared_scope.shared_id(ORG)
    assert runtime._parse(_tag(f"{ENV}:3,{shr}:7")) == {ENV: 3, shr: 7}
    assert runtime.etag({ENV: 3, shr: 7}, ENV) == _tag(f"{ENV}:3,{shr}:7")
    assert runtime._parse(_tag(f"{ENV}:3,prj_01m8rt5w37jqc2tb0rg5cwrxf7:7")) is None
    assert runtime._parse(_tag(f"{ENV}:3,shr_x:7")) is None
