"""`strongroom configure`: named profiles (several API URLs, orgs, environments) in the CLI's
config.toml, and `configure debug`, which shows each setting and where it came from (flag,
environment, profile, .strongroom.toml, login, default), never a token's value."""

from __future__ import annotations

import os
import re

import click

from strongroom_cli.commands import State, cli, emit, fail
from strongroom_cli.config import (
    PROFILE_KEYS,
    ConfigError,
    cache_dir,
    config_dir,
    find_project_file,
    profiles_file,
    read_profiles,
    split_url,
    write_profiles,
)

PROFILE_NAME = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


@cli.group()
def configure() -> None:
    """The CLI's own settings: profiles, and where each setting comes from."""


@configure.command("profile")
@click.argument("name")
@click.option("--api-url", "profile_api_url", help="The profile's API URL")
@click.option("--org", "profile_org")
@click.option("--project", "profile_project")
@click.option("--env", "profile_env")
@click.option("--delete", is_flag=True, help="Remove the profile")
def configure_profile(name: str, profile_api_url: str | None, profile_org: str | None, profile_project: str | None,
                      profile_env: str | None, delete: bool) -> None:  # fmt: skip
    """Create or change the profile NAME (only the options given change); `--profile NAME` or
    STRONGROOM_PROFILE uses it, and a profile called `default` applies when none is named."""
    if not PROFILE_NAME.match(name):
        fail(f"{name!r} is not a profile name ([A-Za-z0-9_-], up to 64)", 2)
    try:
        profiles = read_profiles()
        if profile_api_url:
            split_url(profile_api_url)
        if delete:
            if profiles.pop(name, None) is None:
                fail(f"no profile {name!r}", 1)
        else:
            given = dict(zip(PROFILE_KEYS, (profile_api_url, profile_org, profile_project, profile_env), strict=True))
            profiles[name] = {**profiles.get(name, {}), **{k: v for k, v in given.items() if v}}
        where = write_profiles(profiles)
    except ConfigError as exc:
        fail(str(exc), 2)
    click.echo(f"{'removed' if delete else 'saved'} profile {name} ({where})", err=True)


@configure.command("profiles")
@click.pass_obj
def configure_profiles(state: State) -> None:
    """Every profile and its settings."""
    try:
        profiles = read_profiles()
    except ConfigError as exc:
        fail(str(exc), 2)
    emit(state, [{"name": n, **p} for n, p in sorted(profiles.items())], ["name", *PROFILE_KEYS])


def credential_kind(token: str, dev_user: str) -> str:
    """What kind of credential is in use, never its value."""
    if token.startswith("sr_svc_"):
        return "service token (sr_svc_…)"
    if token.startswith("sr_pat_"):
        return "personal access token (sr_pat_…)"
    if token:
        return "session (JWT)"
    if dev_user:
        return f"dev identity {dev_user}"
    return "none (not logged in)"


def debug_rows(state: State) -> list[dict[str, str]]:
    s = state.settings
    project_file = find_project_file()

    def source(name: str, default: str = "default") -> str:
        where = s.sources.get(name, "")
        if where == ".strongroom.toml" and project_file:
            return project_file
        if where == "environment":
            return f"environment (STRONGROOM_{name.upper()})"
        return where or default

    offline = os.environ.get("STRONGROOM_OFFLINE", "")
    return [
        {"setting": "api_url", "value": s.api_url, "source": source("api_url")},
        {"setting": "org", "value": s.org, "source": source("org", "unset")},
        {"setting": "project", "value": s.project, "source": source("project", "unset")},
        {"setting": "env", "value": s.env, "source": source("env", "unset")},
        {"setting": "credential", "value": credential_kind(s.token, s.dev_user), "source": source("token", "unset")},
        {"setting": "profile", "value": s.profile, "source": profiles_file() if s.profile else "none"},
        {"setting": "config_dir", "value": config_dir(), "source": _dir_source("XDG_CONFIG_HOME")},
        {"setting": "cache_dir", "value": cache_dir(), "source": _dir_source("XDG_CACHE_HOME")},
        {"setting": "keyring", "value": "off" if os.environ.get("STRONGROOM_NO_KEYRING") else "when available",
         "source": "environment (STRONGROOM_NO_KEYRING)" if os.environ.get("STRONGROOM_NO_KEYRING") else "default"},
        {"setting": "offline", "value": "on" if offline else "off",
         "source": "environment (STRONGROOM_OFFLINE)" if offline else "default"},
        {"setting": "color", "value": "off" if os.environ.get("NO_COLOR") else "on a terminal",
         "source": "environment (NO_COLOR)" if os.environ.get("NO_COLOR") else "default"},
        {"setting": "telemetry", "value": "none (no usage data, no update check)", "source": "built in"},
    ]  # fmt: skip


def _dir_source(variable: str) -> str:
    return f"environment ({variable})" if os.environ.get(variable) else "default"


@configure.command("debug")
@click.pass_obj
def configure_debug(state: State) -> None:
    """Each setting, its value and where it came from (a token's kind, never its value)."""
    emit(state, debug_rows(state), ["setting", "value", "source"])
