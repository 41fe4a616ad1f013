"""`strongroom cache clear [--older-than 7d]`: remove the local cache of values `run` received
(cache.py); `logout` removes the logged-out credential's files by itself."""

from __future__ import annotations

import click

from strongroom_cli import cache
from strongroom_cli.commands import State, cli, emit, fail
from strongroom_cli.config import ConfigError, cache_dir, parse_duration


@cli.group("cache")
def cache_group() -> None:
    """The local, encrypted cache of the values `run` received (for 304s, --fallback, --offline)."""


@cache_group.command("clear")
@click.option("--older-than", help="Only files the server last confirmed this long ago (e.g. 7d, 12h)")
@click.pass_obj
def cache_clear(state: State, older_than: str | None) -> None:
    """Remove cached values (all, or those older than --older-than)."""
    try:
        seconds = parse_duration(older_than) if older_than else None
    except ConfigError as exc:
        fail(str(exc), 2)
    emit(state, {"removed": cache.clear(older_than=seconds), "cache_dir": cache_dir()}, ["removed", "cache_dir"])
