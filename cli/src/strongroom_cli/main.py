"""Entry point: `run` takes the fast path; everything else loads the click application."""

from __future__ import annotations

import sys

# The group's options that `strongroom [options] run …` hands on to `run` (which takes them too).
_GROUP_VALUE_OPTIONS = frozenset({"--api-url", "--token", "--org", "--project", "--env", "--profile", "-o", "--output"})


def _run_argv(argv: list[str]) -> list[str] | None:
    """`run`'s arguments, the group's options before it included; None when the command is not `run`."""
    i = 0
    while i < len(argv):
        arg = argv[i]
        if arg == "run":
            return argv[:i] + argv[i + 1 :]
        if arg in _GROUP_VALUE_OPTIONS:
            i += 2
        elif arg in {"--json", "--offline"} or arg.split("=", 1)[0] in _GROUP_VALUE_OPTIONS:
            i += 1
        else:
            return None
    return None


def main() -> None:
    run_argv = _run_argv(sys.argv[1:])
    if run_argv is not None:
        from strongroom_cli.run import main as run  # noqa: PLC0415

        sys.exit(run(run_argv))
    from strongroom_cli.commands import cli  # noqa: PLC0415
    from strongroom_cli.config import ConfigError  # noqa: PLC0415

    try:
        cli(prog_name="strongroom", standalone_mode=True)
    except ConfigError as exc:
        print(f"strongroom: {exc}", file=sys.stderr)
        sys.exit(2)


if __name__ == "__main__":
    main()
