"""Integrations' pure logic: which audit actions make a sync, GitHub's secret names, the names an
AWS integration writes and removes, request tokens, and the configurations a request may carry."""

from __future__ import annotations

import json
from typing import Any

import pytest
from pydantic import ValidationError

from strongroom.domain import integration_sync, integration_targets
from strongroom.models.integrations import IntegrationCreate

ROLE = "arn:aws:iam::111122223333:role/strongroom-sync"


@pytest.mark.parametrize(
    ("action", "syncs"),
    [
        ("secret.created", True),
        ("secret.updated", True),
        ("secret.deleted", True),
        ("secrets.batch_changed", True),
        ("secrets.imported", True),
        ("secrets.promoted", True),
        ("secret.rotated", True),  # rotation's event (another part of #17): a change like any
        ("environment.restored", True),
        ("environment.updated", True),  # a new parent changes what it inherits
        ("change_request.applied", True),  # governance's held change, applied
        ("environment.deleted", False),  # its integrations go with it (the purge)
        ("change_request.approved", False),
        ("secret.read", False),
        ("secrets.read", False),
        ("secrets.exported", False),
        ("member.invited", False),
        ("integration.synced", False),  # the sync's own event never makes another
    ],
)
def test_which_actions_change_an_environment(action: str, syncs: bool) -> None:
    assert integration_sync.changes_environment(action) is syncs


def test_github_names_are_upper_case_and_skip_what_github_cannot_name() -> None:
    names, skipped = integration_targets.github_names(
        {"DB_URL": "a", "api_key": "b", "app.port": "c", "x-y": "d", "GITHUB_TOKEN": "e", "Api_Key": "f", "_Z9": "g"}
    )
    assert names == {"DB_URL": "a", "API_KEY": "f", "_Z9": "g"}  # Api_Key sorts before api_key
    assert sorted(skipped) == ["GITHUB_TOKEN", "api_key", "app.port", "x-y"]


def test_json_mode_writes_one_name_per_key_mode_one_per_key() -> None:
    values = {"B": "2", "A": "1"}
    assert integration_targets.desired({"mode": "json", "name": "app/prod"}, values) == {
        "app/prod": '{"A":"1","B":"2"}'
    }
    assert json.loads(integration_targets.desired({"name": "x"}, values)["x"]) == values  # json is the default
    assert integration_targets.desired({"mode": "per_key", "name": "/app/prod/"}, values) == {
        "/app/prod/B": "2",
        "/app/prod/A": "1",
    }


def test_removed_is_what_was_written_and_is_not_wanted() -> None:
    assert integration_targets.removed(["/p/A", "/p/B", "/p/C"], ["/p/A", "/p/D"]) == ["/p/B", "/p/C"]
    assert integration_targets.removed([], ["/p/A"]) == []


def test_request_tokens_name_one_state_of_one_name() -> None:
    token = integration_targets.request_token("int_1", "app/prod", "tag-1")
    assert token == integration_targets.request_token("int_1", "app/prod", "tag-1")  # a retry: the same
    assert 32 <= len(token) <= 64  # Secrets Manager's ClientRequestToken bounds
    others = {
        integration_targets.request_token("int_2", "app/prod", "tag-1"),
        integration_targets.request_token("int_1", "app/dev", "tag-1"),
        integration_targets.request_token("int_1", "app/prod", "tag-2"),
    }
    assert token not in others
    assert len(others) == 3


def test_a_sealed_value_opens_with_the_repository_key_only() -> None:
    import base64

    from nacl.public import PrivateKey, SealedBox

    key = PrivateKey.generate()
    sealed = integration_targets.seal(base64.b64encode(bytes(key.public_key)).decode(), "s3cret")
    assert SealedBox(key).decrypt(base64.b64decode(sealed)) == b"s3cret"
    with pytest.raises(Exception):  # noqa: B017, PT011 - any failure to open
        SealedBox(PrivateKey.generate()).decrypt(base64.b64decode(sealed))


def _create(type_: str, config: dict[str, Any]) -> IntegrationCreate:
    return IntegrationCreate.model_validate({"type": type_, "project": "web", "environment": "prod", "config": config})


AWS = {"role_arn": ROLE, "external_id": "ext-1", "region": "eu-west-1", "name": "app/prod"}


def test_good_configurations() -> None:
    assert _create("aws_secrets_manager", AWS).config.mode == "json"  # type: ignore[union-attr]
    assert _create("aws_ssm_parameter_store", {**AWS, "name": "/app/prod/", "kms_key_id": "alias/app"})
    made = _create("github_actions", {"repository": "acme/web", "token": "ghp_x"})
    assert made.config.api_url == "https://api.github.com"  # type: ignore[union-attr]
    assert "ghp_x" not in repr(made)  # the token is a SecretStr


@pytest.mark.parametrize(
    ("type_", "config"),
    [
        ("aws_secrets_manager", {k: v for k, v in AWS.items() if k != "role_arn"}),
        ("aws_secrets_manager", {**AWS, "external_id": "x"}),  # too short
        ("aws_secrets_manager", {**AWS, "region": "mars"}),
        ("aws_secrets_manager", {**AWS, "mode": "csv"}),
        ("aws_ssm_parameter_store", AWS),  # no kms_key_id
        ("aws_ssm_parameter_store", {**AWS, "kms_key_id": "alias/app", "name": "a+b"}),  # not a parameter name
        ("aws_secrets_manager", {"repository": "acme/web", "token": "t"}),
        ("github_actions", AWS),
        ("github_actions", {"repository": "acme", "token": "t"}),
        ("github_actions", {"repository": "acme/web/extra", "token": "t"}),
        ("github_actions", {"repository": "acme/web", "token": ""}),
        ("github_actions", {"repository": "acme/web", "token": "t", "extra": 1}),
        ("gitlab", AWS),
    ],
)
def test_bad_configurations_are_refused(type_: str, config: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        _create(type_, config)


def test_more_names_than_an_integration_keeps_fail_without_retries() -> None:
    integration_targets.check_size({f"K{i}": "v" for i in range(integration_targets.MAX_NAMES)})
    with pytest.raises(integration_targets.DestinationError) as refused:
        integration_targets.check_size({f"K{i}": "v" for i in range(integration_targets.MAX_NAMES + 1)})
    assert refused.value.retryable is False
    assert "mode json" in refused.value.message
