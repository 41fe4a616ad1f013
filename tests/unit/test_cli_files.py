"""The files `run --mount`, `--template` and `render` write, as pure logic on a temporary folder."""

from __future__ import annotations

import json
import os
import signal
import stat
import threading
from pathlib import Path

import pytest

from strongroom_cli import files, watch
from strongroom_cli.config import Settings

VALUES = {"A": "1", "B": "two words"}


@pytest.mark.parametrize(
    ("name", "given", "expected"),
    [("s.json", None, "json"), ("s.YML", None, "yaml"), ("s.yaml", None, "yaml"), ("s.env", None, "dotenv"),
     ("secrets", None, "dotenv"), ("s.json", "yaml", "yaml")],
)  # fmt: skip
def test_the_format_is_given_or_by_extension(name: str, given: str | None, expected: str) -> None:
    assert files.format_for(name, given) == expected


def test_an_unknown_format_is_an_error_of_the_option() -> None:
    with pytest.raises(files.FileError) as refused:
        files.format_for("s", "toml")
    assert refused.value.code == 2


def test_a_written_file_is_0600_and_replaces_the_old_one(tmp_path: Path) -> None:
    target = tmp_path / "out.conf"
    target.write_text("old")
    target.chmod(0o644)
    files.write_file(str(target), "new")
    assert target.read_text() == "new"
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    assert [p.name for p in tmp_path.iterdir()] == ["out.conf"]  # no temporary left


def test_a_file_that_cannot_be_written_is_an_error_not_a_trace(tmp_path: Path) -> None:
    with pytest.raises(files.FileError, match="cannot write"):
        files.write_file(str(tmp_path / "missing" / "out"), "x")


def test_the_mount_directory_is_made_for_the_run_and_removed(tmp_path: Path) -> None:
    mount = files.Mount(str(tmp_path / "secrets.json"))
    mount.write(VALUES)
    path = Path(mount.path)
    assert path.parent.parent == tmp_path
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert json.loads(path.read_text()) == VALUES
    mount.remove()
    assert list(tmp_path.iterdir()) == []


def test_a_bare_name_goes_to_the_runtime_directory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(tmp_path))
    mount = files.Mount("app.env")
    try:
        assert Path(mount.path).parent.parent == tmp_path
    finally:
        mount.remove()


@pytest.mark.parametrize("name", ["", "dir/", ".", "x/.."])
def test_a_mount_needs_a_file_name(name: str) -> None:
    with pytest.raises(files.FileError) as refused:
        files.Mount(name)
    assert refused.value.code == 2


def test_a_fifo_mount_gives_each_reader_the_values_and_rests_on_no_disk(tmp_path: Path) -> None:
    mount = files.Mount(str(tmp_path / "s.env"), fifo=True)
    try:
        mount.write(VALUES)
        assert stat.S_ISFIFO(os.stat(mount.path).st_mode)
        got: list[str] = []
        for _ in range(2):
            reader = threading.Thread(target=lambda: got.append(Path(mount.path).read_text()))
            reader.start()
            reader.join(timeout=5)
        assert got == ["A='1'\nB='two words'\n"] * 2
    finally:
        mount.remove()
    assert list(tmp_path.iterdir()) == []


def test_a_template_spec_is_src_colon_dest(tmp_path: Path) -> None:
    with pytest.raises(files.FileError) as refused:
        files.Template("only-one-part")
    assert refused.value.code == 2
    with pytest.raises(files.FileError, match="cannot read"):
        files.Template(f"{tmp_path}/absent:{tmp_path}/out")


def test_a_template_with_a_missing_key_writes_nothing(tmp_path: Path) -> None:
    (tmp_path / "in").write_text("{{ A }} {{ MISSING }}")
    template = files.Template(f"{tmp_path}/in:{tmp_path}/out")
    with pytest.raises(files.FileError, match="MISSING"):
        template.render(VALUES)
    assert not (tmp_path / "out").exists()


class FakeChild:
    def __init__(self) -> None:
        self.signals: list[int] = []
        self.returncode = None

    def send_signal(self, number: int) -> None:
        self.signals.append(number)


def test_watch_with_signal_rerenders_the_template_then_signals(tmp_path: Path) -> None:
    (tmp_path / "in").write_text("a={{ A }}\n")
    options = {"watch": True, "signal": "HUP", "template": [f"{tmp_path}/in:{tmp_path}/out"]}
    supervisor = watch.Supervisor(Settings("http://127.0.0.1:9", token="sr_svc_x"), "/bin/true", ["true"], options)
    child = FakeChild()
    supervisor.child = child  # type: ignore[assignment]
    supervisor.apply({"A": "2"}, "A")
    assert (tmp_path / "out").read_text() == "a=2\n"
    assert child.signals == [signal.SIGHUP]
    # a change the template cannot take leaves the file and the command alone
    (tmp_path / "in").write_text("a={{ A }} {{ GONE }}\n")
    supervisor.templates = [files.Template(f"{tmp_path}/in:{tmp_path}/out")]
    supervisor.apply({"A": "3"}, "A")
    assert (tmp_path / "out").read_text() == "a=2\n"
    assert child.signals == [signal.SIGHUP]
