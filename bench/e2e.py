"""End-to-end encrypted environments (#14): what granting 100 members, rekeying a 1,000-secret
environment, and decrypting 1,000 values client-side cost, over HTTP against the local stack on
embedded moto.

    .venv/bin/python bench/e2e.py [--members 100] [--secrets 1000] [--json]

Setup: an org whose 100 members (developers) each published an X-Wing public key, and a client
environment (the owner's X-Wing grant) holding 1,000 ciphertexts of 100-character values.
Measured: each of the 100 `POST E/grants` (sealed client-side to the key the members list
publishes), then one `POST E/rekey` replacing the key, the 101 grants and the 1,000 values in one
change (the large change's path), and on the client (`strongroom_cli.e2e`, this process): sealing
the 101 grants, encrypting and decrypting 1,000 values, opening one grant.
"""

from __future__ import annotations

import argparse
import http.client
import json
import secrets
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "cli" / "src"))
import pull  # the harness, next to this file

from strongroom_cli import e2e


def _as(bench: pull.Bench, user: str, method: str, path: str, body: Any = None) -> tuple[int, Any]:
    """One request as another dev user (setup only: not measured)."""
    assert bench.api is not None
    conn = http.client.HTTPConnection(bench.api.host, bench.api.port, timeout=300)
    try:
        headers = {"X-Strongroom-Dev-User": user, "Content-Type": "application/json"}
        conn.request(method, path, body=None if body is None else json.dumps(body).encode(), headers=headers)
        response = conn.getresponse()
        raw = response.read()
    finally:
        conn.close()
    return response.status, json.loads(raw) if raw else None


def _ms(started: float) -> float:
    return round((time.perf_counter() - started) * 1000, 1)


def measure(members: int, count: int) -> dict[str, Any]:  # noqa: PLR0915 - one scenario, step by step
    with pull.Bench() as bench:
        org = f"/v1/orgs/{bench.org}"
        bench.expect(201, "POST", f"{org}/projects", {"name": "E2E"})
        owner_keys = e2e.keypair("xwing")
        sealed = e2e.seal_private_key(owner_keys, "bench", params={"m": 1024, "t": 1, "p": 1})
        key = {"suite": "xwing", "public_key": e2e.b64(owner_keys.public_bytes), "encrypted_private_key": sealed}
        bench.expect(200, "PUT", "/v1/me/keys", {"keys": [key]})
        for i in range(members):
            email = f"member{i}-{secrets.token_hex(3)}@example.com"
            _, invitation = _as(bench, pull.USER, "POST", f"{org}/invitations", {"email": email, "role": "developer"})
            _as(bench, email, "POST", f"/v1/invitations/{invitation['token']}/accept")
            pair = e2e.keypair("xwing")
            body = {"suite": "xwing", "public_key": e2e.b64(pair.public_bytes), "encrypted_private_key": "AAAA"}
            _as(bench, email, "PUT", "/v1/me/keys", {"keys": [body]})
        env_id, data_key = e2e.new_id("env"), e2e.new_data_key()
        grant = {
            "suite": "xwing",
            "wrapped_key": e2e.seal_grant("xwing", owner_keys.public_bytes, data_key, env_id=env_id, key_version=1),
        }
        body = {"name": "Vault", "encryption": "client", "id": env_id, "grant": grant}
        project = bench.expect(200, "GET", f"{org}/projects", None)["data"][0]["id"]
        bench.expect(201, "POST", f"{org}/projects/{project}/environments", body)
        env = f"{org}/projects/{project}/environments/{env_id}"
        started = time.perf_counter()
        values = {
            f"KEY_{n:05d}": e2e.encrypt_value(
                data_key, "v" * 100, org_id=bench.org, env_id=env_id, key=f"KEY_{n:05d}", key_version=1
            )
            for n in range(count)
        }
        encrypt_ms = _ms(started)
        bench.expect(200, "PATCH", f"{env}/secrets", {"set": values})

        # 1. grant every member, with the key the members list publishes
        listed = bench.expect(200, "GET", f"{org}/members?limit=500", None)["data"]
        others = [m for m in listed if m["role"] == "developer"]
        started = time.perf_counter()
        bodies = [
            {
                "principal": {"type": "user", "id": m["user_id"]},
                "suite": "xwing",
                "wrapped_key": e2e.seal_grant(
                    "xwing", e2e.unb64(m["public_keys"][0]["public_key"]), data_key, env_id=env_id, key_version=1
                ),
                "key_version": 1,
            }
            for m in others
        ]
        seal_ms = _ms(started)
        grants = [bench.measure("POST", f"{env}/grants", b) for b in bodies]
        assert {g.status for g in grants} == {201}, {g.status for g in grants}

        # 2. rekey: a new key, 1 + members grants, every value
        me = bench.expect(200, "GET", "/v1/me", None)["id"]
        new_key = e2e.new_data_key()
        principals = [("user", me, owner_keys.public_bytes)] + [
            ("user", m["user_id"], e2e.unb64(m["public_keys"][0]["public_key"])) for m in others
        ]
        rekey = {
            "key_version": 2,
            "grants": [
                {
                    "principal": {"type": t, "id": i},
                    "suite": "xwing",
                    "wrapped_key": e2e.seal_grant("xwing", pk, new_key, env_id=env_id, key_version=2),
                }
                for t, i, pk in principals
            ],
            "values": {
                k: e2e.encrypt_value(new_key, "v" * 100, org_id=bench.org, env_id=env_id, key=k, key_version=2)
                for k in values
            },
        }
        body_bytes = len(json.dumps(rekey))
        rekeyed = bench.measure("POST", f"{env}/rekey", rekey)
        assert rekeyed.status == 200, rekeyed.body

        # 3. the client's side of a read: its grant, every value
        mine = bench.expect(200, "GET", f"{env}/key", None)
        started = time.perf_counter()
        opened = e2e.open_grant(owner_keys, mine["wrapped_key"], env_id=env_id, key_version=mine["key_version"])
        open_ms = _ms(started)
        items = bench.expect(200, "GET", f"{env}/secrets?limit=500", None)
        page = items["data"]
        while items.get("next_cursor"):
            items = bench.expect(200, "GET", f"{env}/secrets?limit=500&cursor={items['next_cursor']}", None)
            page += items["data"]
        started = time.perf_counter()
        plain = [
            e2e.decrypt_value(opened, i["value"], org_id=bench.org, env_id=env_id, key=i["key"], key_version=2)
            for i in page
        ]
        decrypt_ms = _ms(started)
        assert len(plain) == count
        assert set(plain) == {"v" * 100}
    ddb = Counter(c.operation for c in rekeyed.calls if c.service == "dynamodb")
    return {
        "members": members,
        "secrets": count,
        "grant_median_ms": pull.median(g.ms for g in grants),
        "grant_total_ms": round(sum(g.ms for g in grants), 1),
        "grant_dynamodb_requests": pull.median(sum(1 for c in g.calls if c.service == "dynamodb") for g in grants),
        "grant_kms_calls": sum(sum(g.kms().values()) for g in grants),
        "rekey_ms": round(rekeyed.ms, 1),
        "rekey_body_bytes": body_bytes,
        "rekey_dynamodb_requests": sum(ddb.values()),
        "rekey_requests_by_operation": dict(sorted(ddb.items())),
        "rekey_kms_calls": sum(rekeyed.kms().values()),
        "client_seal_grants_ms": seal_ms,
        "client_encrypt_values_ms": encrypt_ms,
        "client_open_grant_ms": open_ms,
        "client_decrypt_values_ms": decrypt_ms,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--members", type=int, default=100)
    parser.add_argument("--secrets", type=int, default=1000)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    started = time.perf_counter()
    result = measure(args.members, args.secrets)
    result["seconds"] = round(time.perf_counter() - started, 1)
    if args.json:
        print(json.dumps(result, indent=2))
        return 0
    for name, value in result.items():
        print(f"{name:>30}: {value}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
