"""`run --watch`'s decisions as pure logic: when a poll's outcome restarts the command."""

from __future__ import annotations

import signal

import pytest

from strongroom_cli import run, watch
from strongroom_cli.config import ConfigError


def test_a_change_settles_then_applies_once() -> None:
    changes = watch.Changes({"A": "1"})
    assert changes.observe(None, 0.0) == "idle"
    assert changes.observe({"A": "2"}, 1.0) == "settle"
    assert changes.observe(None, 1.5) == "apply"
    assert changes.take() == {"A": "2"}
    assert changes.observe(None, 2.5) == "idle"


def test_a_burst_is_one_apply_with_the_last_values() -> None:
    changes = watch.Changes({"A": "1"})
    assert changes.observe({"A": "2"}, 1.0) == "settle"
    assert changes.observe({"A": "2", "B": "1"}, 1.5) == "settle"
    assert changes.observe({"A": "3", "B": "1"}, 2.0) == "settle"
    assert changes.observe(None, 2.5) == "apply"
    assert changes.take() == {"A": "3", "B": "1"}


def test_a_burst_that_never_ends_applies_after_settle_max() -> None:
    changes = watch.Changes({})
    now = 0.0
    verdicts = []
    for i in range(100):
        now += watch.SETTLE
        verdicts.append(changes.observe({"A": str(i)}, now))
        if verdicts[-1] == "apply":
            break
    assert verdicts[-1] == "apply"
    assert now - watch.SETTLE <= watch.SETTLE_MAX + watch.SETTLE


def test_the_same_values_again_or_set_back_change_nothing() -> None:
    changes = watch.Changes({"A": "1"})
    assert changes.observe({"A": "1"}, 1.0) == "idle"  # a 200 of the same values
    assert changes.observe({"A": "2"}, 2.0) == "settle"
    assert changes.observe({"A": "1"}, 2.5) == "idle"  # set back before it settled
    assert changes.observe(None, 3.0) == "idle"


def test_changed_keys_names_only_what_differs() -> None:
    assert watch.changed_keys({"A": "1", "B": "2", "C": "3"}, {"A": "1", "B": "x", "D": "4"}) == ["B", "C", "D"]


@pytest.mark.parametrize(
    ("text", "expected"), [("HUP", signal.SIGHUP), ("sigusr1", signal.SIGUSR1), ("15", signal.SIGTERM)]
)
def test_signals_by_name_or_number(text: str, expected: signal.Signals) -> None:
    assert watch.signal_of(text) == expected


@pytest.mark.parametrize("text", ["NOPE", "", "SIG"])
def test_an_unknown_signal_is_a_config_error(text: str) -> None:
    with pytest.raises(ConfigError, match="not a signal"):
        watch.signal_of(text)


@pytest.mark.parametrize(
    ("options", "seconds"),
    [({}, watch.DEFAULT_INTERVAL), ({"interval": "1"}, 1.0), ({"interval": "0.5s"}, 0.5), ({"interval": "2m"}, 120.0)],
)
def test_intervals(options: dict[str, str], seconds: float) -> None:
    assert watch.interval_of(options) == seconds


@pytest.mark.parametrize("text", ["0", "-1", "soon"])
def test_a_bad_interval_is_a_config_error(text: str) -> None:
    with pytest.raises(ConfigError):
        watch.interval_of({"interval": text})


def test_run_takes_the_watch_options() -> None:
    flags, options, command = run._parse(["--watch", "--interval", "1", "--signal=HUP", "--", "app"])
    assert (flags, options, command) == ({}, {"watch": True, "interval": "1", "signal": "HUP"}, ["app"])
    assert run.supervised(options)
    assert not run.supervised(run._parse(["--", "app"])[1])
