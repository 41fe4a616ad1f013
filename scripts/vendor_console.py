"""Copy the console's front-end dependencies from npm (console/node_modules, installed by `npm ci`
from the committed console/package-lock.json) into the console function's static files.

    python scripts/vendor_console.py --write   # copies them (after `make console`'s npm ci)
    python scripts/vendor_console.py --check   # exits 1 when a vendored copy differs from npm's

The copies are committed, so `sam build` packages them without npm; `--check` (run by `make
test-http`) fails when they drifted from what the lock file installs.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
NODE_MODULES = ROOT / "console" / "node_modules"
LOCK = ROOT / "console" / "package-lock.json"
STATIC = ROOT / "functions" / "console" / "console_api" / "static"
# static file -> (npm package, file inside it)
VENDORED = {"pico.min.css": ("@picocss/pico", "css/pico.min.css")}


def _locked_version(package: str) -> str:
    lock = json.loads(LOCK.read_text(encoding="utf-8"))
    return str(lock["packages"][f"node_modules/{package}"]["version"])


def _source(package: str, inner: str) -> Path:
    installed = json.loads((NODE_MODULES / package / "package.json").read_text(encoding="utf-8"))
    if installed["version"] != _locked_version(package):
        raise SystemExit(f"{package} {installed['version']} is installed, the lock says {_locked_version(package)}")
    return NODE_MODULES / package / inner


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    mode = parser.add_mutually_exclusive_group(required=True)
    mode.add_argument("--write", action="store_true", help="copy the files into the console's static folder")
    mode.add_argument("--check", action="store_true", help="fail if a vendored copy differs from npm's")
    args = parser.parse_args(argv)
    if not NODE_MODULES.is_dir():
        print("console/node_modules is missing: run `make console` (npm ci)", file=sys.stderr)
        return 1
    stale = []
    for name, (package, inner) in VENDORED.items():
        data = _source(package, inner).read_bytes()
        target = STATIC / name
        if args.write:
            target.write_bytes(data)
            print(f"{target.relative_to(ROOT)} <- {package}@{_locked_version(package)}/{inner}")
        elif not target.exists() or target.read_bytes() != data:
            stale.append(f"{target.relative_to(ROOT)} differs from {package}/{inner}")
    if stale:
        print("\n".join(stale) + "\nrun `make console`", file=sys.stderr)
        return 1
    if args.check:
        print(f"the console's {len(VENDORED)} vendored file(s) match console/package-lock.json")
    return 0


if __name__ == "__main__":
    sys.exit(main())
