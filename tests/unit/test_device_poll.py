"""What a device's poll answers (RFC 8628), decided from the request as read (`device.poll`),
without a store: pending, slow_down (the interval grows), expired, denied, used, or issue."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from strongroom import clock
from strongroom.data.devices import DeviceRequestRecord
from strongroom.domain.device import INTERVAL, SLOW_DOWN_STEP, Poll, poll

NOW = datetime(2026, 12, 2, 12, 0, tzinfo=UTC)


def _request(
    status: str, *, expires_in: int = 300, last_poll: float | None = None, interval: int = INTERVAL
) -> DeviceRequestRecord:
    return DeviceRequestRecord(
        status=status,
        client_name="cli",
        interval=interval,
        expires_at=clock.iso(NOW + timedelta(seconds=expires_in)),
        last_poll_at=clock.iso(NOW - timedelta(seconds=last_poll)) if last_poll is not None else None,
        user_id="usr_device" if status not in {"pending"} else None,
    )


@pytest.mark.parametrize("status", ["issued", "denied_seen"])
def test_a_used_code_is_invalid_grant(status: str) -> None:
    assert poll(_request(status), NOW) == Poll("invalid_grant")


def test_an_unknown_code_is_invalid_grant() -> None:
    assert poll(None, NOW) == Poll("invalid_grant")


def test_the_first_poll_of_a_pending_request_waits() -> None:
    assert poll(_request("pending"), NOW) == Poll("authorization_pending", INTERVAL)


def test_a_poll_after_the_interval_waits() -> None:
    assert poll(_request("pending", last_poll=INTERVAL), NOW) == Poll("authorization_pending", INTERVAL)


def test_a_poll_too_early_slows_down_by_a_step() -> None:
    assert poll(_request("pending", last_poll=INTERVAL - 1), NOW) == Poll("slow_down", INTERVAL + SLOW_DOWN_STEP)
    assert poll(_request("pending", last_poll=7, interval=10), NOW) == Poll("slow_down", 10 + SLOW_DOWN_STEP)


def test_a_request_without_an_interval_polls_at_the_default() -> None:
    req = _request("pending").model_copy(update={"interval": None})

    assert poll(req, NOW) == Poll("authorization_pending", INTERVAL)


@pytest.mark.parametrize("status", ["pending", "denied"])
def test_an_expired_request_is_expired(status: str) -> None:
    assert poll(_request(status, expires_in=0), NOW) == Poll("expired_token")


def test_a_denied_request_is_access_denied() -> None:
    assert poll(_request("denied"), NOW) == Poll("access_denied")


def test_an_approved_request_is_issued_even_after_expiry() -> None:
    assert poll(_request("approved"), NOW) == Poll("issue")
    assert poll(_request("approved", expires_in=-60), NOW) == Poll("issue")


def test_a_request_being_issued_goes_to_the_claim_which_refuses_it() -> None:
    # `issuing`: a racing poll; the claim (approved → issuing) fails and answers invalid_grant.
    assert poll(_request("issuing"), NOW) == Poll("issue")
