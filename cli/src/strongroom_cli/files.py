"""The files `run` writes for a command (`--mount`, `--template`) and `render` writes: standard
library only (formats.py renders), each written whole (a temporary name, then rename) and
readable by this user only.

`--mount NAME`: the values in a file NAME (format by `--format`, else by its extension: `.json`,
`.yaml`/`.yml`, else dotenv) inside a directory made for this run (mode 0700, under NAME's own
directory when it names one, else $XDG_RUNTIME_DIR or the temporary directory), removed with
the directory when `run` ends (the command's exit, SIGTERM or SIGINT included). Its path is the
command's STRONGROOM_SECRETS_PATH. With `--fifo` it is a named pipe instead, so the values never
rest on a disk: each open for reading reads them once.

`--template SRC:DEST` and `render -i SRC -o DEST`: SRC with `{{ KEY }}`, `{{ env.KEY }}`,
`${KEY}` or `${env.KEY}` filled (formats.fill); a key the environment lacks fails, naming it,
and writes nothing.
"""

from __future__ import annotations

import contextlib
import os
import threading
import time

from strongroom_cli import formats

MOUNT_FORMATS = ("dotenv", "json", "yaml")
PATH_VARIABLE = "STRONGROOM_SECRETS_PATH"


class FileError(Exception):
    """Something the user must fix (a bad path, a missing key): printed, never a trace. `code`:
    the exit status (2: the option itself is wrong)."""

    def __init__(self, message: str, code: int = 1) -> None:
        super().__init__(message)
        self.code = code


def format_for(path: str, given: str | None) -> str:
    if given is not None:
        if given not in MOUNT_FORMATS:
            raise FileError(f"--format {given}: one of {', '.join(MOUNT_FORMATS)}", 2)
        return given
    extension = os.path.splitext(path)[1].lower()
    return {".json": "json", ".yaml": "yaml", ".yml": "yaml"}.get(extension, "dotenv")


def write_file(path: str, text: str) -> None:
    """Replace `path` with `text` at once, mode 0600 (its directory is left as it is)."""
    folder = os.path.dirname(os.path.abspath(path))
    tmp = os.path.join(folder, f".{os.path.basename(path)}.{os.getpid()}.{time.monotonic_ns()}.tmp")
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        os.replace(tmp, path)
    except OSError as exc:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise FileError(f"cannot write {path}: {exc.strerror or exc}") from None


def filled(template: str, values: dict[str, str], source: str) -> str:
    text, missing = formats.fill(template, values)
    if missing:
        raise FileError(f"{source} names keys the environment does not have: {', '.join(missing)}")
    return text


def read_template(path: str) -> str:
    try:
        with open(path, encoding="utf-8") as handle:
            return handle.read()
    except (OSError, UnicodeDecodeError) as exc:
        raise FileError(f"cannot read the template {path}: {getattr(exc, 'strerror', None) or exc}") from None


class Template:
    """`--template SRC:DEST`: SRC read once, DEST (re)written from it."""

    def __init__(self, spec: str) -> None:
        source, sep, dest = spec.partition(":")
        if not sep or not source or not dest:
            raise FileError(f"--template {spec}: give SRC:DEST (the template, then the file to write)", 2)
        self.source, self.dest = source, dest
        self.text = read_template(source)

    def render(self, values: dict[str, str]) -> None:
        write_file(self.dest, filled(self.text, values, self.source))


class Mount:
    """`--mount NAME [--format F] [--fifo]`: the values in a file of a per-run directory."""

    def __init__(self, name: str, fmt: str | None = None, *, fifo: bool = False) -> None:
        base = os.path.basename(name)
        if base in {"", ".", ".."}:
            raise FileError(f"--mount {name}: give a file name (e.g. secrets.env)", 2)
        self.format = format_for(base, fmt)
        parent = os.path.dirname(name) or os.environ.get("XDG_RUNTIME_DIR") or _tempdir()
        import tempfile  # noqa: PLC0415

        try:
            self.dir = tempfile.mkdtemp(prefix="strongroom-run-", dir=parent)  # mode 0700
        except OSError as exc:
            raise FileError(f"--mount {name}: cannot make a directory in {parent}: {exc.strerror}") from None
        self.path = os.path.join(self.dir, base)
        self.fifo = fifo
        self._text = ""
        self._serving: threading.Thread | None = None
        self._closed = threading.Event()

    def write(self, values: dict[str, str]) -> None:
        try:
            text = formats.values_text(values, self.format)
        except formats.Unrepresentable as exc:
            raise FileError(str(exc)) from None
        if not self.fifo:
            write_file(self.path, text)
            return
        self._text = text
        if self._serving is None:
            os.mkfifo(self.path, 0o600)
            self._serving = threading.Thread(target=self._serve, daemon=True)
            self._serving.start()

    def _serve(self) -> None:
        """Each reader that opens the pipe gets the current values once."""
        while not self._closed.is_set():
            try:
                fd = os.open(self.path, os.O_WRONLY | os.O_NONBLOCK)
            except OSError:  # no reader yet (ENXIO), or removed
                time.sleep(0.02)
                continue
            try:
                os.set_blocking(fd, True)
                data = memoryview(self._text.encode("utf-8"))
                while data:
                    data = data[os.write(fd, data) :]
            except OSError:
                pass
            finally:
                os.close(fd)
            time.sleep(0.1)  # the reader sees the end before the next open

    def remove(self) -> None:
        self._closed.set()
        import shutil  # noqa: PLC0415

        shutil.rmtree(self.dir, ignore_errors=True)


def _tempdir() -> str:
    import tempfile  # noqa: PLC0415

    return tempfile.gettempdir()
