"""Entry point: `run` takes the fast path; everything else loads the click application."""

from __future__ import annotations

import sys


def main() -> None:
    argv = sys.argv[1:]
    if argv and argv[0] == "run":
        from strongroom_cli.run import main as run  # noqa: PLC0415

        sys.exit(run(argv[1:]))
    from strongroom_cli.commands import cli  # noqa: PLC0415
    from strongroom_cli.config import ConfigError  # noqa: PLC0415

    try:
        cli(prog_name="strongroom", standalone_mode=True)
    except ConfigError as exc:
        print(f"strongroom: {exc}", file=sys.stderr)
        sys.exit(2)


if __name__ == "__main__":
    main()
