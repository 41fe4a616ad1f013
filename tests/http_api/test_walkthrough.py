"""The acceptance walk-through of the foundation and of secrets (scripts/walkthrough.py), run over
HTTP against the local server in CI too."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.http

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "walkthrough.py"


def test_walkthrough_passes(local_stack: str, capsys: pytest.CaptureFixture[str]) -> None:
    spec = importlib.util.spec_from_file_location("walkthrough", SCRIPT)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["walkthrough"] = module
    spec.loader.exec_module(module)
    module.run(local_stack)  # exits non-zero (SystemExit) on the first deviation
    out = capsys.readouterr().out
    assert "walk-through passed" in out
    assert "B cannot delete the project: 403" in out
    assert "a stale If-Match: 1 is refused: 412" in out  # the secrets section ran too
    assert "production is exactly as it was after the promotion" in out
    assert "FAIL" not in out
