"""The service-token and webhook functions take the access object a route resolved and refuse
one without their permission (`tokens.manage`, `webhooks.manage`) before reading anything: a
developer's access is 403 naming the permission, with no store to read from."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from strongroom.context import Principal
from strongroom.data.orgs import OrgRecord
from strongroom.domain import tokens, webhooks
from strongroom.errors import Forbidden
from strongroom.models import ServiceTokenCreate, WebhookCreate, WebhookPatch, WebhookSecretRotate
from strongroom.security.access import OrgAccess

ORG = OrgRecord(
    id="org_access",
    name="Access",
    slug="access",
    created_at="2026-12-01T00:00:00.000Z",
    updated_at="2026-12-01T00:00:00.000Z",
)
DEVELOPER = OrgAccess(principal=Principal(type="user", id="usr_dev"), org=ORG, role="developer")
TOKEN = "tok_01JZZZZZZZZZZZZZZZZZZZZZZZ"
HOOK = "whk_01JZZZZZZZZZZZZZZZZZZZZZZZ"
DLV = "dlv_01JZZZZZZZZZZZZZZZZZZZZZZZ"

TOKEN_CALLS: dict[str, Callable[[OrgAccess], Any]] = {
    "list": lambda a: tokens.list_tokens(a, limit=10, cursor=None),
    "create": lambda a: tokens.create(a, ServiceTokenCreate(name="ci", project="api", environment="development")),
    "rotate": lambda a: tokens.rotate(a, TOKEN),
    "revoke": lambda a: tokens.revoke(a, TOKEN),
}
WEBHOOK_CALLS: dict[str, Callable[[OrgAccess], Any]] = {
    "list": webhooks.list_webhooks,
    "create": lambda a: webhooks.create(a, WebhookCreate(url="https://receiver.example/h", events=["*"])),
    "get": lambda a: webhooks.get(a, HOOK),
    "update": lambda a: webhooks.update(a, HOOK, WebhookPatch(description="x")),
    "delete": lambda a: webhooks.delete(a, HOOK),
    "test": lambda a: webhooks.test(a, HOOK),
    "rotate_secret": lambda a: webhooks.rotate_secret(a, HOOK, WebhookSecretRotate()),
    "deliveries": lambda a: webhooks.list_deliveries(a, HOOK, limit=10, cursor=None),
    "redeliver": lambda a: webhooks.redeliver(a, HOOK, DLV),
}


@pytest.mark.parametrize("name", sorted(TOKEN_CALLS))
def test_token_functions_need_tokens_manage(name: str) -> None:
    with pytest.raises(Forbidden) as refused:
        TOKEN_CALLS[name](DEVELOPER)

    assert refused.value.details == {"permission": "tokens.manage", "role": "developer"}


@pytest.mark.parametrize("name", sorted(WEBHOOK_CALLS))
def test_webhook_functions_need_webhooks_manage(name: str) -> None:
    with pytest.raises(Forbidden) as refused:
        WEBHOOK_CALLS[name](DEVELOPER)

    assert refused.value.details == {"permission": "webhooks.manage", "role": "developer"}
