"""Run the data migrations (strongroom.data.migrations) against the table of a deployed stack.

    TABLE_NAME=… KMS_KEY_ID=… CURSOR_SIGNING_KEY=… AWS_REGION=… .venv/bin/python scripts/migrate.py

with the environment the stack's functions have (strongroom/config.py reads it).

Each migration is idempotent; run it once after deploying a version that adds one (the local
stack runs them itself when it starts on kept data). Prints what each changed.
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    sys.path.insert(0, str(ROOT / "layers" / "strongroom"))
    from strongroom.data import migrations  # noqa: PLC0415 - after the layer is on the path

    for name, changed in migrations.run().items():
        print(f"{name}: {changed} item(s) changed")


if __name__ == "__main__":
    main()
