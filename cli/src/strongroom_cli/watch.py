"""`strongroom run --watch` (and `--mount`): `run` stays the command's parent instead of replacing itself (the plain
`run` keeps its exec fast path, run.py), and keeps the command's secrets current.

Every `--interval` (default 10s) it asks the server with the last ETag in If-None-Match: an
unchanged environment is a 304 (one DynamoDB request server-side for a service token, no KMS call,
nothing decrypted). A change restarts the command once: it is polled again every SETTLE seconds
until a poll shows nothing newer (a burst of writes is one restart; at most SETTLE_MAX seconds of
it), then the command gets SIGTERM (SIGKILL after GRACE seconds) and starts again with the new
values, or, with `--signal HUP`, is sent that signal instead (its environment cannot change in
place: what changes reaches it through `--mount` / `--template` files). A 200 whose values equal
the running ones (the same value set again) restarts nothing.

Signals sent to `run` are forwarded to the command (SIGINT only without a terminal: on one, the
terminal already sent it to the whole foreground group); after SIGTERM, SIGINT or SIGQUIT it
stops watching and waits for the command. Its exit status is the command's (a command killed by
a signal: `run` ends by the same signal). While the server cannot be reached (or refuses), the
command keeps running with the values it has, with one warning, and polling goes on: when the
server answers again, so does the watch.

With `--require-valid`, a change is applied only when the environment still passes its template:
one that fails it is noted and the command keeps the values it has (as it would not have started).

`--mount` and `--template` files (files.py) are written before the command starts and again
before each restart or signal; the mount's directory is removed when `run` ends (SIGTERM too).
Without `--watch`, `--mount` still makes `run` the parent (someone must remove the file).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from typing import Any

from strongroom_cli import cache, files, run
from strongroom_cli.config import ConfigError, Settings, parse_duration
from strongroom_sdk import wire

DEFAULT_INTERVAL = 10.0
SETTLE = 0.5  # after a change: polled again this soon, until a poll shows nothing newer
SETTLE_MAX = 10.0  # a burst of changes longer than this restarts the command anyway
GRACE = 10.0  # a restarted command's time to exit after SIGTERM, before SIGKILL
FORWARDED = ("SIGTERM", "SIGINT", "SIGHUP", "SIGQUIT", "SIGUSR1", "SIGUSR2", "SIGWINCH")
STOPPING = frozenset({"SIGTERM", "SIGINT", "SIGQUIT"})


def interval_of(options: dict[str, Any]) -> float:
    text = options.get("interval")
    if text is None:
        return DEFAULT_INTERVAL
    seconds = parse_duration(str(text))
    if seconds <= 0:
        raise ConfigError(f"--interval {text}: must be more than 0")
    return seconds


def signal_of(name: str | None) -> signal.Signals | None:
    """`HUP`, `SIGHUP` or a number; ConfigError otherwise (None: restart instead)."""
    if name is None:
        return None
    text = name.strip().upper()
    try:
        return (
            signal.Signals(int(text))
            if text.isdigit()
            else signal.Signals[text if text.startswith("SIG") else f"SIG{text}"]
        )
    except (KeyError, ValueError):
        raise ConfigError(f"--signal {name}: not a signal (e.g. HUP, USR1, TERM)") from None


def changed_keys(before: dict[str, str], after: dict[str, str]) -> list[str]:
    """The names (never the values) of what differs."""
    return sorted(k for k in before.keys() | after.keys() if before.get(k) != after.get(k))


class Changes:
    """What each poll's outcome means (pure; tests/unit/test_cli_watch.py): `observe` answers
    "apply" (the command must get the pending values now), "settle" (a change is pending: poll
    again soon) or "idle"."""

    def __init__(self, applied: dict[str, str]) -> None:
        self.applied = applied  # the values the command runs with
        self.pending: dict[str, str] | None = None
        self.since = 0.0  # when the pending change was first seen

    def observe(self, values: dict[str, str] | None, now: float) -> str:
        """`values`: what a 200 brought, or None when nothing changed since the last poll (304)."""
        if values is not None:
            if values == self.applied:
                self.pending = None  # set back, or set to what it was: nothing to do
                return "idle"
            if values != self.pending:
                if self.pending is None:
                    self.since = now
                self.pending = values
                return "apply" if now - self.since >= SETTLE_MAX else "settle"
        if self.pending is None:
            return "idle"
        return "apply"

    def take(self) -> dict[str, str]:
        assert self.pending is not None
        self.applied, self.pending = self.pending, None
        return self.applied


class Poller:
    """If-None-Match requests for the environment, with the ETag of the last values received."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.url = run._url(settings)
        entry = cache.read(self.url, settings.credential())
        self.etag = entry.etag if entry is not None else ""

    def poll(self) -> dict[str, str] | None:
        """The environment's values when a 200 brought them, None on 304; run.Unreachable when
        there is no answer (or a 5xx), run.RunError when the server refuses."""
        settings = self.settings
        for attempt in (1, 2):
            headers = settings.auth_headers()
            if self.etag:
                headers["If-None-Match"] = f'"{self.etag}"'
            try:
                status, response_headers, body = run._send(self.url, headers)()
            except OSError as exc:
                raise run.Unreachable(f"cannot reach {settings.api_url}: {exc}") from None
            if status == 304:
                return None
            if status == 200:
                values = run._values_of(body, service_token=settings.is_service_token)
                self.etag = response_headers.get("etag", "").removeprefix("W/").strip('"')
                cache.save(self.url, settings.credential(), self.etag, values)
                return values
            renewable = settings.sources.get("token") == "login" and settings.login.get("renew")
            if status == 401 and attempt == 1 and renewable:
                run._renew(settings)
                continue
            if status >= 500:
                raise run.Unreachable(f"{settings.api_url} answered {status}")
            raise run.RunError(f"{status}: {run._message(body)}", status=status)
        return None  # not reached


class Supervisor:
    """The command as a child process, restarted (or signalled) when its values change."""

    def __init__(self, settings: Settings, program: str, command: list[str], options: dict[str, Any]) -> None:
        self.settings = settings
        self.program = program
        self.command = command
        self.interval = interval_of(options)
        self.reload_signal = signal_of(options.get("signal"))
        self.watching = bool(options.get("watch"))
        self.options = options
        self.child: subprocess.Popen[bytes] | None = None
        self.stopping = False
        self.warned = ""  # the warning given for the current outage (one per outage)
        self.templates = [files.Template(spec) for spec in options.get("template", [])]
        mount = options.get("mount")
        self.mount = files.Mount(mount, options.get("format"), fifo=bool(options.get("fifo"))) if mount else None

    def view(self, values: dict[str, str]) -> dict[str, str]:
        """What the watch compares: with --only, only those keys change anything."""
        keys = self.options.get("only")
        return values if not keys else {k: v for k, v in values.items() if k in keys or k == run.E2E_ENTRY}

    def opened(self, values: dict[str, str]) -> dict[str, str]:
        """What the command gets of the received values (decrypted here when client-encrypted; --only)."""
        return run.only(run.opened(values, self.settings), self.options.get("only"))

    def write_files(self, values: dict[str, str]) -> None:
        """The mount and the templates, from the opened values (files.FileError when one cannot be)."""
        for template in self.templates:
            template.render(values)
        if self.mount is not None:
            self.mount.write(values)

    def cleanup(self) -> None:
        if self.mount is not None:
            self.mount.remove()

    # ------------------------------------------------------------------ the child

    def start(self, values: dict[str, str]) -> None:
        opened = self.opened(values)
        self.write_files(opened)
        environ = run.child_environment(dict(os.environ), opened, self.options)
        if self.mount is not None:
            environ[files.PATH_VARIABLE] = self.mount.path
        sys.stdout.flush()
        sys.stderr.flush()
        self.child = subprocess.Popen(self.command, executable=self.program, env=environ)  # noqa: S603 - the user's command
        run._debug(f"started {self.command[0]} (pid {self.child.pid})")

    def restart(self, values: dict[str, str]) -> None:
        old = self.child
        assert old is not None
        old.send_signal(signal.SIGTERM)
        try:
            old.wait(GRACE)
        except subprocess.TimeoutExpired:
            old.kill()
            old.wait()
        if not self.stopping:  # a SIGTERM meanwhile: the command is not started again
            self.start(values)

    def _forward(self, number: int, _frame: object) -> None:
        name = signal.Signals(number).name
        if name in STOPPING:
            self.stopping = True
        if name == "SIGINT" and sys.stdin.isatty():
            return  # the terminal sent it to the command too
        if self.child is not None and self.child.returncode is None:
            self.child.send_signal(number)

    # ------------------------------------------------------------------ the watch

    def _warn(self, message: str) -> None:
        if message != self.warned:
            run._note(
                f"{message}; {self.command[0]} keeps running with the values it has (retrying every {self.interval:g}s)"
            )
            self.warned = message

    def _poll(self, poller: Poller, changes: Changes) -> float:
        """One poll; the seconds until the next."""
        try:
            values = poller.poll()
            values = None if values is None else self.view(values)
        except run.Unreachable as exc:
            self._warn(str(exc))
            return self.interval
        except (run.RunError, ConfigError) as exc:
            self._warn(f"the server refused the watch ({exc})")
            return self.interval
        if self.warned:
            run._note(f"{self.settings.api_url} answers again: watching")
            self.warned = ""
        verdict = changes.observe(values, time.monotonic())
        run._debug(f"poll: {'304' if values is None else '200'} {verdict}")
        if verdict == "settle":
            return min(SETTLE, self.interval)
        if verdict == "apply":
            before = changes.applied
            after = changes.take()
            keys = ", ".join(changed_keys(before, after)[:20])
            self.apply(after, keys)
        return self.interval

    def invalid(self) -> str:
        """With --require-valid: why the changed environment fails its template ("" when it
        passes): the command goes on with the values it has, as when it started."""
        if not self.options.get("require-valid"):
            return ""
        from strongroom_cli import gates  # noqa: PLC0415 - a CI gate: one more request, when asked

        try:
            found = gates.template_failures(self.settings)
        except run.RunError as exc:
            return f"its template could not be checked ({exc})"
        return f"the environment fails its template ({found})" if found else ""

    def apply(self, values: dict[str, str], keys: str) -> None:
        refused = self.invalid()
        if refused:
            run._note(f"changed: {keys}, but not applied: {refused}")
            return
        try:
            self.write_files(self.opened(values))  # a template that fails changes nothing
        except (files.FileError, run.RunError) as exc:
            run._note(f"changed: {keys}, but not applied: {exc}")
            return
        if self.reload_signal is not None:
            run._note(f"changed: {keys}; sending {self.reload_signal.name} to {self.command[0]}")
            assert self.child is not None
            self.child.send_signal(self.reload_signal)
            return
        run._note(f"changed: {keys}; restarting {self.command[0]}")
        self.restart(values)

    def run(self, values: dict[str, str]) -> int:
        for name in FORWARDED:
            signal.signal(getattr(signal, name), self._forward)
        self.start(values)
        changes = Changes(self.view(values))
        poller = Poller(self.settings)
        wire.TIMEOUT = max(2.0, min(wire.TIMEOUT, self.interval))  # a hung server is given up on in time
        next_poll = time.monotonic() + (self.interval if self.watching else float("inf"))
        while True:
            child = self.child
            assert child is not None
            try:
                code = child.wait(timeout=max(0.0, min(0.2, next_poll - time.monotonic())))
            except subprocess.TimeoutExpired:
                code = None
            if code is not None and child is self.child:
                return self.exit(code)
            if not self.stopping and time.monotonic() >= next_poll:
                next_poll = time.monotonic() + self._poll(poller, changes)

    def exit(self, code: int) -> int:
        """The command's status as `run`'s: a signal's death is passed on as the same death."""
        self.cleanup()
        if code >= 0:
            return code
        sys.stdout.flush()
        sys.stderr.flush()
        signal.signal(-code, signal.SIG_DFL)
        os.kill(os.getpid(), -code)
        return 128 - code  # if the signal did not end this process


def supervise(
    settings: Settings, program: str, command: list[str], values: dict[str, str], options: dict[str, Any]
) -> int:
    try:
        supervisor = Supervisor(settings, program, command, options)
    except ConfigError as exc:
        raise run.RunError(str(exc), 2) from None
    except files.FileError as exc:
        raise run.RunError(str(exc), exc.code) from None
    try:
        return supervisor.run(values)
    except files.FileError as exc:
        raise run.RunError(str(exc), exc.code) from None
    finally:
        supervisor.cleanup()
