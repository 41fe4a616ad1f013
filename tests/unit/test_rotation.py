"""The rotation's pure parts: random values, the postgres URL's two-user switch, the IAM key a
value names and when the old one retires, the policy's due time, and the request models."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from pydantic import ValidationError

from strongroom.data.rotation import Retirement, RotationRecord
from strongroom.domain import rotators
from strongroom.domain.rotators import PgUrl, RotationFailed, Target
from strongroom.models.rotation import RotationPut

NOW = datetime(2026, 12, 7, 12, 0, tzinfo=UTC)


def target(config: dict[str, object], current: str | None) -> Target:
    return Target(config, {}, current, {}, NOW)


def test_random_values_have_the_length_and_alphabet_asked_for() -> None:
    values = {rotators.random_value(16, "xyz") for _ in range(50)}
    assert all(len(v) == 16 and set(v) <= set("xyz") for v in values)
    assert len(values) == 50  # 3^16 possibilities: a repeat would mean no randomness


def test_the_postgres_url_switches_to_the_other_user_and_keeps_the_rest() -> None:
    config = {"type": "postgres", "users": ["app_a", "app_b"]}
    current = "postgresql://app_a:old%40pw@db.example.com:6543/orders?sslmode=require"
    pending = rotators.create(target(config, current))["value"]
    new = PgUrl.parse(pending)
    assert (new.user, new.host, new.port, new.database, new.query) == (
        "app_b",
        "db.example.com",
        6543,
        "orders",
        "sslmode=require",
    )
    assert len(new.password) == 32
    assert new.password.isalnum()
    back = PgUrl.parse(rotators.create(target(config, pending))["value"])
    assert back.user == "app_a"
    # a URL naming neither user starts with the first
    assert PgUrl.parse(rotators.create(target(config, "postgres://other:x@h/d"))["value"]).user == "app_a"


@pytest.mark.parametrize("bad", [None, "mysql://u:p@h/d", "postgresql://h/d", "not a url"])
def test_a_value_that_is_not_a_postgres_url_fails_without_echoing_it(bad: str | None) -> None:
    with pytest.raises(RotationFailed) as raised:
        rotators.create(target({"type": "postgres", "users": ["a", "b"]}, bad))
    assert bad is None or bad not in raised.value.reason


def test_the_old_iam_key_retires_after_the_grace_period() -> None:
    config = {"type": "aws_iam_access_key", "user_name": "u", "grace_period_hours": 6}
    current = json.dumps({"access_key_id": "AKIAOLD", "secret_access_key": "s"})
    due = rotators.retirements(target(config, current), {"credential_id": "AKIANEW"})
    assert due == [("AKIAOLD", NOW + timedelta(hours=6))]
    assert rotators.retirements(target(config, "not json"), {"credential_id": "AKIANEW"}) == []
    assert rotators.retirements(target({"type": "random"}, current), {}) == []


def test_a_policy_is_due_at_its_next_rotation_or_an_earlier_retirement() -> None:
    base = {
        "org_id": "o",
        "project_id": "p",
        "environment_id": "e",
        "key": "K",
        "interval_days": 1,
        "rotator": {"type": "random"},
        "next_rotation_at": "2026-12-08T00:00:00.000Z",
        "created_at": "x",
        "updated_at": "x",
        "created_by": "x",
    }
    assert RotationRecord.model_validate(base).due_at == "2026-12-08T00:00:00.000Z"
    retire = [Retirement(credential_id="AKIA", after="2026-12-07T18:00:00.000Z")]
    assert RotationRecord.model_validate({**base, "retire": retire}).due_at == "2026-12-07T18:00:00.000Z"


@pytest.mark.parametrize(
    "rotator",
    [
        {"type": "lambda", "function_arn": "arn:aws:lambda:us-east-1:1:function:f"},
        {"type": "random", "alphabet": "a"},
        {"type": "random", "alphabet": "ab c"},
        {"type": "random", "alphabet": "${}"},
        {"type": "random", "length": 5000},
        {"type": "postgres", "users": ["a"], "master_username": "m", "master_password": "p"},
        {"type": "postgres", "users": ["a", "b"], "master_username": "m", "master_password": ""},
        {"type": "postgres", "users": ["a", "B;DROP"], "master_username": "m", "master_password": "p"},
        {"type": "aws_iam_access_key", "user_name": "bad name"},
        {"type": "aws_iam_access_key", "user_name": "u", "grace_period_hours": -1},
        {"type": "webhook", "url": "ftp://example.com"},
    ],
)
def test_bad_rotators_are_refused(rotator: dict[str, object]) -> None:
    with pytest.raises(ValidationError):
        RotationPut.model_validate({"interval_days": 1, "rotator": rotator})


def test_the_master_password_does_not_show_in_a_repr() -> None:
    body = RotationPut.model_validate(
        {
            "interval_days": 1,
            "rotator": {"type": "postgres", "users": ["a", "b"], "master_username": "m", "master_password": "hunter2"},
        }
    )
    assert "hunter2" not in repr(body)
    assert "hunter2" not in str(body.model_dump())
