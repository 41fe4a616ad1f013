"""What one attempt of a webhook delivery decides, without a store, a queue or a receiver
(`delivery.outcome`, `delivery.hook_change`, `delivery.attempt_fields`): retry after the
schedule's step (jittered), give up after the last, and what that makes of the webhook."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from strongroom.data.webhooks import WebhookRecord
from strongroom.domain import delivery
from strongroom.domain.delivery import Outcome, hook_change, outcome
from strongroom.domain.webhooks import DISABLE_AFTER

STEPS = [60, 300, 1800]
NOW = datetime(2026, 12, 2, 12, 0, tzinfo=UTC)


def _hook(status: str = "active", failing_since: datetime | None = None) -> WebhookRecord:
    return WebhookRecord(
        id="whk_outcome",
        org_id="org_outcome",
        url="https://receiver.example/hook",
        events=["*"],
        status=status,
        failing_since=failing_since.isoformat().replace("+00:00", "Z") if failing_since else None,
        secrets=[],
        created_at="2026-12-01T00:00:00.000Z",
        updated_at="2026-12-01T00:00:00.000Z",
    )


@pytest.mark.parametrize("status", [200, 204, 299])
def test_a_2xx_succeeds_on_any_attempt(status: int) -> None:
    assert outcome(status, 1, STEPS) == Outcome("succeeded")
    assert outcome(status, len(STEPS) + 1, STEPS) == Outcome("succeeded")


@pytest.mark.parametrize("status", [None, 199, 301, 404, 500])
def test_a_failure_is_retried_after_the_step_of_its_attempt(status: int | None) -> None:
    assert [outcome(status, n, STEPS) for n in (1, 2, 3)] == [
        Outcome("retrying", 60),
        Outcome("retrying", 300),
        Outcome("retrying", 1800),
    ]


def test_a_failure_past_the_last_step_fails_for_good() -> None:
    assert outcome(500, len(STEPS) + 1, STEPS) == Outcome("failed")
    assert outcome(None, len(STEPS) + 5, STEPS) == Outcome("failed")


def test_without_a_schedule_the_first_failure_is_final() -> None:
    assert outcome(500, 1, []) == Outcome("failed")


def test_jitter_scales_the_delay_and_never_below_a_second() -> None:
    assert outcome(500, 1, STEPS, jitter=0.8) == Outcome("retrying", 48)
    assert outcome(500, 1, STEPS, jitter=1.2) == Outcome("retrying", 72)
    assert outcome(500, 1, [1], jitter=0.8) == Outcome("retrying", 1)


def test_a_failing_webhook_that_delivers_recovers() -> None:
    assert hook_change(_hook("failing", NOW - timedelta(hours=1)), Outcome("succeeded"), NOW) == "recover"
    assert hook_change(_hook("active"), Outcome("succeeded"), NOW) is None


def test_a_retry_changes_nothing_of_the_webhook() -> None:
    assert hook_change(_hook("failing", NOW - DISABLE_AFTER * 2), Outcome("retrying", 60), NOW) is None


def test_failing_for_good_marks_it_failing_until_it_has_failed_for_days() -> None:
    assert hook_change(_hook("active"), Outcome("failed"), NOW) == "fail"
    assert hook_change(_hook("failing", NOW - DISABLE_AFTER + timedelta(minutes=1)), Outcome("failed"), NOW) == "fail"
    assert hook_change(_hook("failing", NOW - DISABLE_AFTER), Outcome("failed"), NOW) == "disable"


def test_the_attempt_records_the_answer_and_when_it_is_tried_again() -> None:
    fields, attempt = delivery.attempt_fields(Outcome("retrying", 60), 503, None, 42, NOW)

    assert fields == {
        "status": "retrying",
        "response_code": 503,
        "latency_ms": 42,
        "error": None,
        "next_attempt_at": "2026-12-02T12:01:00.000Z",
        "updated_at": "2026-12-02T12:00:00.000Z",
    }
    assert attempt == {"at": "2026-12-02T12:00:00.000Z", "status_code": 503, "latency_ms": 42, "error": None}


def test_a_finished_delivery_has_no_next_attempt() -> None:
    fields, _ = delivery.attempt_fields(Outcome("failed"), None, "TimeoutError", 10_000, NOW)

    assert (fields["status"], fields["next_attempt_at"], fields["error"]) == ("failed", None, "TimeoutError")
