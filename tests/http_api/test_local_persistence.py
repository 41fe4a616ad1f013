"""`make run` keeps its data (#11): `python -m strongroom_local --data-dir D` as a real process,
killed with SIGKILL mid-burst and restarted on D, still has every write it acknowledged (and the
secrets decrypt: the KMS key material was kept), a torn journal tail included; `--ephemeral`
keeps nothing; one server per directory."""

from __future__ import annotations

import base64
import secrets as pysecrets
import signal
import threading
import time
from collections.abc import Callable
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

from http_api.conftest import LocalProcess
from support import http_call, unique_email

RunLocal = Callable[..., AbstractContextManager[LocalProcess]]


def _org(url: str, owner: str) -> str:
    slug = f"keep-{pysecrets.token_hex(4)}"
    assert http_call(url, "POST", "/v1/orgs", user=owner, json_body={"name": "Keep", "slug": slug})[0] == 201
    status, _, _ = http_call(url, "POST", f"/v1/orgs/{slug}/projects", user=owner, json_body={"name": "Web"})
    assert status == 201
    return f"/v1/orgs/{slug}/projects/web/environments/development/secrets"


def _sealed_head(url: str, org_path: str, owner: str, *, at_least: int) -> dict[str, Any]:
    """The org's signed head once the workers' sealer has sealed `at_least` events (10 s at most)."""
    deadline = time.monotonic() + 10
    while True:
        status, _, head = http_call(url, "GET", f"{org_path}/audit/tree-head", user=owner)
        if status == 200 and head["tree_size"] >= at_least:
            return dict(head)
        assert time.monotonic() < deadline, (status, head)
        time.sleep(0.1)


def _check_signature(pem: str, head: dict[str, Any]) -> None:
    import rfc8785
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    key = serialization.load_pem_public_key(pem.encode())
    assert isinstance(key, ec.EllipticCurvePublicKey)
    message = rfc8785.dumps({k: head[k] for k in ("org_id", "tree_size", "root_hash", "timestamp")})
    key.verify(base64.b64decode(head["signature"]), message, ec.ECDSA(hashes.SHA256()))  # raises if not


def test_every_acknowledged_write_survives_sigkill_and_decrypts_after_restart(
    run_local: RunLocal, tmp_path: Path
) -> None:
    data = tmp_path / "data"
    owner = unique_email("owner")
    acked: dict[str, str] = {}
    with run_local("--data-dir", str(data), "--quiet") as proc:
        assert proc.wait_healthy() == 200
        assert "state is kept in" in proc.output()
        assert "(new)" in proc.output()
        base = _org(proc.url, owner)
        stop = threading.Event()

        def burst() -> None:
            i = 0
            while not stop.is_set():
                name, value = f"K{i}", f"value-{i}-{pysecrets.token_hex(8)}"
                try:
                    status, _, _ = http_call(proc.url, "PUT", f"{base}/{name}", user=owner, json_body={"value": value})
                except OSError:
                    return  # the server died under this request: not acknowledged
                if status == 200:
                    acked[name] = value
                i += 1

        writer = threading.Thread(target=burst)
        writer.start()
        while len(acked) < 15 and writer.is_alive():
            threading.Event().wait(0.05)
        proc.process.send_signal(signal.SIGKILL)  # mid-burst: requests are in flight
        proc.process.wait(timeout=10)
        stop.set()
        writer.join(timeout=30)
    assert len(acked) >= 15
    # A record torn by the kill (its header promises more bytes than were written) is cut off.
    with (data / "journal.log").open("ab") as journal:
        journal.write(b"\x00\x00\x10\x00\x12\x34\x56\x78torn")

    with run_local("--data-dir", str(data), "--quiet") as proc:
        assert proc.wait_healthy() == 200
        assert "(restored)" in proc.output()
        for name, value in acked.items():
            status, _, body = http_call(proc.url, "GET", f"{base}/{name}", user=owner)
            assert (status, body.get("value") if isinstance(body, dict) else body) == (200, value), name
        # ...and the restored stack keeps taking writes on the same table and key.
        assert http_call(proc.url, "PUT", f"{base}/AFTER", user=owner, json_body={"value": "after"})[0] == 200
        org_path = base.split("/projects/")[0]
        head_before = _sealed_head(proc.url, org_path, owner, at_least=len(acked) + 3)
        pem_before = http_call(proc.url, "GET", f"{org_path}/audit/public-key", user=owner)[2]
        assert proc.stop(signal.SIGTERM) == 0

    with run_local("--data-dir", str(data), "--quiet") as proc:
        assert proc.wait_healthy() == 200
        assert http_call(proc.url, "GET", f"{base}/AFTER", user=owner)[2]["value"] == "after"
        assert http_call(proc.url, "GET", f"{base}/K0", user=owner)[2]["value"] == acked["K0"]
        # The audit signing key was kept: the same public key, which verifies the head signed before,
        # and the sealer goes on from the kept tree.
        assert http_call(proc.url, "GET", f"{org_path}/audit/public-key", user=owner)[2] == pem_before
        _check_signature(pem_before, head_before)
        assert http_call(proc.url, "PUT", f"{base}/LATER", user=owner, json_body={"value": "x"})[0] == 200
        head_after = _sealed_head(proc.url, org_path, owner, at_least=head_before["tree_size"] + 1)
        _check_signature(pem_before, head_after)
        assert http_call(proc.url, "GET", f"{org_path}/audit/verify", user=owner)[2]["ok"] is True


def test_ephemeral_keeps_nothing_across_a_restart(run_local: RunLocal, tmp_path: Path) -> None:
    data = tmp_path / "data"
    owner = unique_email("owner")
    with run_local("--ephemeral", "--data-dir", str(data), "--quiet") as proc:
        assert proc.wait_healthy() == 200
        assert "state is in memory" in proc.output()
        base = _org(proc.url, owner)
        assert http_call(proc.url, "PUT", f"{base}/GONE", user=owner, json_body={"value": "x"})[0] == 200
        assert http_call(proc.url, "GET", f"{base}/GONE", user=owner)[0] == 200
    assert not data.exists()
    with run_local("--ephemeral", "--data-dir", str(data), "--quiet") as proc:
        assert proc.wait_healthy() == 200
        assert http_call(proc.url, "GET", "/v1/orgs", user=owner)[2]["data"] == []
        assert http_call(proc.url, "GET", f"{base}/GONE", user=owner)[0] in {403, 404}


def test_two_servers_on_one_data_directory_is_a_clear_error(run_local: RunLocal, tmp_path: Path) -> None:
    data = tmp_path / "data"
    with run_local("--data-dir", str(data), "--quiet") as first:
        assert first.wait_healthy() == 200
        with run_local("--data-dir", str(data), "--quiet", wait=False) as second:
            code = second.process.wait(timeout=60)
            assert second.wait_for("is in use by another strongroom_local") is not None, second.output()
        assert code == 1
        assert "Traceback" not in second.output()
        assert first.wait_healthy() == 200
