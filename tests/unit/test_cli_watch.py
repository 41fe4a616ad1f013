"""`run --watch`'s decisions as pure logic: when a poll's outcome restarts the command."""

from __future__ import annotations

import signal

import pytest

from strongroom_cli import run, watch
from strongroom_cli.config import ConfigError, Settings


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


class ScriptedPoller:
    """Answers in turn: an exception to raise, or what a poll returns (None: a 304)."""

    def __init__(self, *answers: object) -> None:
        self.answers = list(answers)

    def poll(self) -> dict[str, str] | None:
        answer = self.answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer  # type: ignore[return-value]


class FakeChild:
    def __init__(self) -> None:
        self.signals: list[int] = []
        self.returncode = None

    def send_signal(self, number: int) -> None:
        self.signals.append(number)


def test_an_unreachable_server_warns_once_keeps_the_command_and_the_watch_resumes(
    capsys: pytest.CaptureFixture[str],
) -> None:
    settings = Settings("http://127.0.0.1:9", token="sr_svc_x")
    supervisor = watch.Supervisor(settings, "/bin/true", ["app"], {"watch": True, "interval": "1", "signal": "HUP"})
    child = FakeChild()
    supervisor.child = child  # type: ignore[assignment]
    changes = watch.Changes({"A": "1"})
    gone = run.Unreachable("cannot reach http://127.0.0.1:9: [Errno 111] Connection refused")
    poller = ScriptedPoller(gone, gone, run.Unreachable("http://127.0.0.1:9 answered 503"), None, {"A": "2"}, None)
    delays = [supervisor._poll(poller, changes) for _ in range(6)]  # type: ignore[arg-type]
    err = capsys.readouterr().err
    assert err.count("Connection refused") == 1  # one warning for the outage, not one per poll
    assert err.count("keeps running") == 2  # the 503 is news: said once too
    assert "answers again" in err
    assert child.signals == [signal.SIGHUP]  # the change after the outage is applied, once
    assert delays[:4] == [1.0, 1.0, 1.0, 1.0]
    assert delays[4] == watch.SETTLE
    assert "sr_svc_x" not in err
