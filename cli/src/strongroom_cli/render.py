"""`strongroom render -i TEMPLATE [-o FILE]`: a template filled from the environment's values.

The values come as `run` gets them (run.fetch: the runtime API for a service token, the export for
a user, the local cache on 304, decrypted here for a client-encrypted environment). `{{ KEY }}`,
`{{ env.KEY }}`, `${KEY}` and `${env.KEY}` are filled (formats.fill); a key the environment lacks
fails, naming every such key, and nothing is written. FILE is written whole, mode 0600 (files.py)."""

from __future__ import annotations

import click

from strongroom_cli import files
from strongroom_cli.commands import State, cli, fail
from strongroom_cli.config import ConfigError


def environment_values(state: State) -> dict[str, str]:
    """The environment's values as `run` would export them (fail() with run's message otherwise)."""
    from strongroom_cli import run  # noqa: PLC0415

    settings = state.settings
    try:
        settings.require_login()
        settings.require_environment()
        return run.opened(run._fetch_renewing(settings, fallback=False, offline=state.offline), settings)
    except ConfigError as exc:
        fail(str(exc), 2)
    except run.RunError as exc:
        fail(str(exc), exc.code)


@cli.command()
@click.option("-i", "--input", "source", required=True, metavar="TEMPLATE", help="The template to fill")
@click.option("-o", "--out", "dest", metavar="FILE", help="The file to write, mode 0600 (default: standard output)")
@click.pass_obj
def render(state: State, source: str, dest: str | None) -> None:
    """Fill TEMPLATE's {{ KEY }}, {{ env.KEY }}, ${KEY} and ${env.KEY} with the environment's values;
    a key it lacks fails, naming it, and nothing is written."""
    try:
        text = files.read_template(source)
        filled = files.filled(text, environment_values(state), source)
        if dest is None or dest == "-":
            click.echo(filled, nl=False)
        else:
            files.write_file(dest, filled)
    except files.FileError as exc:
        fail(str(exc), exc.code)
