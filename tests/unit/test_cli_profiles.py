"""Profiles, settings' provenance (`configure debug`), and `run`'s environment options, as pure logic."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from strongroom_cli import config, run
from strongroom_cli.commands import _assignments, cli

TOKEN = "sr_svc_" + "a" * 26 + "_" + "b" * 38


@pytest.fixture(autouse=True)
def clean(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    for name in ("STRONGROOM_API_URL", "STRONGROOM_TOKEN", "STRONGROOM_ORG", "STRONGROOM_PROJECT", "STRONGROOM_ENV",
                 "STRONGROOM_PROFILE", "STRONGROOM_OFFLINE", "NO_COLOR"):  # fmt: skip
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.setenv("STRONGROOM_NO_KEYRING", "1")
    (tmp_path / "work").mkdir()
    monkeypatch.chdir(tmp_path / "work")
    return tmp_path


def profiles(data: dict[str, dict[str, str]]) -> None:
    config.write_profiles(data)


def test_a_named_profile_beats_the_project_file_and_the_environment_beats_it(
    clean: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    profiles({"prod": {"api_url": "https://prod.example.com", "org": "acme", "env": "production"}})
    (clean / "work" / ".strongroom.toml").write_text('[strongroom]\norg = "local"\nproject = "web"\nenv = "dev"\n')
    settings = config.resolve(profile="prod")
    assert (settings.api_url, settings.org, settings.project, settings.env) == (
        "https://prod.example.com", "acme", "web", "production",
    )  # fmt: skip
    assert settings.sources == {"api_url": "profile prod", "org": "profile prod", "project": ".strongroom.toml",
                                "env": "profile prod"}  # fmt: skip
    monkeypatch.setenv("STRONGROOM_ORG", "from-env")
    assert config.resolve(profile="prod").org == "from-env"
    assert config.resolve(profile="prod", org="from-flag").org == "from-flag"
    monkeypatch.setenv("STRONGROOM_PROFILE", "prod")
    assert config.resolve().api_url == "https://prod.example.com"


def test_the_default_profile_is_below_the_project_file(clean: Path) -> None:
    profiles({"default": {"api_url": "https://api.example.com", "org": "acme", "env": "staging"}})
    (clean / "work" / ".strongroom.toml").write_text('[strongroom]\nenv = "dev"\n')
    settings = config.resolve()
    assert (settings.api_url, settings.org, settings.env, settings.profile) == (
        "https://api.example.com", "acme", "dev", "default",
    )  # fmt: skip


def test_an_unknown_profile_is_an_error_naming_the_known_ones() -> None:
    profiles({"a": {"org": "x"}, "b": {"org": "y"}})
    with pytest.raises(config.ConfigError, match=r"no profile 'c'.*profiles: a, b"):
        config.resolve(profile="c")


def test_a_token_from_the_environment_may_go_to_a_profiles_url(monkeypatch: pytest.MonkeyPatch) -> None:
    profiles({"prod": {"api_url": "https://prod.example.com"}})
    monkeypatch.setenv("STRONGROOM_TOKEN", TOKEN)
    assert config.resolve(profile="prod").auth_headers() == {"Authorization": f"Bearer {TOKEN}"}


def test_the_profiles_file_is_private(clean: Path) -> None:
    profiles({"p": {"org": "o"}})
    file = clean / "config" / "strongroom" / "config.toml"
    assert file.stat().st_mode & 0o777 == 0o600
    assert config.read_profiles() == {"p": {"org": "o"}}


def test_configure_debug_shows_each_source_and_never_the_token(monkeypatch: pytest.MonkeyPatch) -> None:
    runner = CliRunner()
    assert (
        runner.invoke(
            cli, ["configure", "profile", "prod", "--api-url", "https://prod.example.com", "--org", "acme"]
        ).exit_code
        == 0
    )
    monkeypatch.setenv("STRONGROOM_TOKEN", TOKEN)
    monkeypatch.setenv("NO_COLOR", "1")
    done = runner.invoke(cli, ["--profile", "prod", "--env", "staging", "configure", "debug", "--json"])
    assert done.exit_code == 0, done.output
    assert TOKEN[7:20] not in done.output
    rows = {r["setting"]: (r["value"], r["source"]) for r in json.loads(done.output)}
    assert rows["api_url"] == ("https://prod.example.com", "profile prod")
    assert rows["org"] == ("acme", "profile prod")
    assert rows["env"] == ("staging", "flag")
    assert rows["project"] == ("", "unset")
    assert rows["credential"] == ("service token (sr_svc_…)", "environment (STRONGROOM_TOKEN)")
    assert rows["color"] == ("off", "environment (NO_COLOR)")
    assert rows["telemetry"][0].startswith("none")
    monkeypatch.delenv("STRONGROOM_TOKEN")
    plain = {r["setting"]: r["source"] for r in json.loads(runner.invoke(cli, ["configure", "debug", "--json"]).output)}
    assert plain["api_url"] == "default"


def test_a_bad_profile_name_or_url_is_refused() -> None:
    runner = CliRunner()
    assert runner.invoke(cli, ["configure", "profile", "no spaces"]).exit_code == 2
    assert runner.invoke(cli, ["configure", "profile", "p", "--api-url", "ftp://x"]).exit_code == 2


@pytest.mark.parametrize(
    ("args", "expected"),
    [(("K",), {"K": None}), (("K", "v=1"), {"K": "v=1"}), (("A=1", "B=x=y", "C="), {"A": "1", "B": "x=y", "C": ""})],
)
def test_set_takes_pairs_or_one_key_and_its_value(args: tuple[str, ...], expected: dict[str, str | None]) -> None:
    assert _assignments(args) == expected


def test_only_picks_keys_and_names_the_missing() -> None:
    assert run.only({"A": "1", "B": "2"}, ["B"]) == {"B": "2"}
    assert run.only({"A": "1"}, None) == {"A": "1"}
    with pytest.raises(run.RunError, match="C, D"):
        run.only({"A": "1"}, ["A", "D", "C"])


def test_the_commands_environment() -> None:
    inherited = {"PATH": "/bin", "HOME": "/h", "A": "mine"}
    values = {"A": "server", "B": "2"}
    assert run.child_environment(inherited, values, {}) == {"PATH": "/bin", "HOME": "/h", "A": "server", "B": "2"}
    assert run.child_environment(inherited, values, {"preserve-env": ["A"]})["A"] == "mine"
    assert run.child_environment(inherited, values, {"no-inherit-env": True}) == values
    kept = run.child_environment(inherited, values, {"no-inherit-env": True, "preserve-env": ["PATH", "NOT_SET"]})
    assert kept == {"PATH": "/bin", "A": "server", "B": "2"}


def test_run_parses_its_environment_options() -> None:
    _, options, command = run._parse(["--only", "A,B", "--only=C", "--preserve-env", "PATH", "--no-inherit-env", "x"])
    assert options == {"only": ["A", "B", "C"], "preserve-env": ["PATH"], "no-inherit-env": True}
    assert command == ["x"]


def test_the_groups_profile_and_offline_before_run_reach_it() -> None:
    from strongroom_cli import main

    argv = ["--profile", "prod", "--offline", "--json", "run", "--", "app"]
    assert main._run_argv(argv) == ["--profile", "prod", "--offline", "--json", "--", "app"]
    flags, options, command = run._parse(main._run_argv(argv) or [])
    assert (flags, options, command) == ({"profile": "prod"}, {"offline": True, "json": True}, ["app"])
