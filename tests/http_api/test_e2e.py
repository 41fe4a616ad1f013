"""End-to-end encrypted environments over HTTP, with an independent client: written here directly
on `cryptography` from the contract's byte formats (neither the CLI's nor the server's code).

Alice (owner) publishes an X-Wing key, Bob (developer) an X25519 key; Alice creates a client
environment with her own grant, writes a ciphertext, grants Bob with the key the members list
publishes; Bob decrypts it; revoked, Bob gets 403 on E/key; a rekey replaces the key, every grant
and every value at once. A canary scan of the partitions involved, the audit log and the responses
(and the server's log) finds neither the plaintext nor the data key. A client-made token reads its
grant and the ciphertexts through the runtime API; a rekey of more than one transaction's items is
one change; grant changes are webhook events without key material."""

from __future__ import annotations

import base64
import hashlib
import io
import json
import os
import secrets as pysecrets
import time
import zlib
from typing import Any

import pytest
from cryptography.hazmat.primitives import hpke
from cryptography.hazmat.primitives.asymmetric import mlkem, x25519
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from strongroom_local import LocalStack
from support import Api, query_partition, unique_email

pytestmark = pytest.mark.http

# --------------------------------------------------------------------------- the independent client

SUITES = {
    "xwing": hpke.Suite(hpke.KEM.MLKEM768_X25519, hpke.KDF.HKDF_SHA256, hpke.AEAD.AES_256_GCM),
    "x25519": hpke.Suite(hpke.KEM.X25519, hpke.KDF.HKDF_SHA256, hpke.AEAD.AES_256_GCM),
}
CROCKFORD = "0123456789abcdefghjkmnpqrstvwxyz"
B62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"


def b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode()


class Keys:
    """A key pair of a suite, from a 32-byte seed (X-Wing: SHAKE-256 to ML-KEM seed ‖ X25519)."""

    def __init__(self, suite: str, seed: bytes | None = None) -> None:
        self.suite, seed = suite, seed or os.urandom(32)
        if suite == "xwing":
            expanded = hashlib.shake_256(seed).digest(96)
            m, x = (
                mlkem.MLKEM768PrivateKey.from_seed_bytes(expanded[:64]),
                x25519.X25519PrivateKey.from_private_bytes(expanded[64:]),
            )
            self.private: Any = hpke.MLKEM768X25519PrivateKey(m, x)
            self.public = m.public_key().public_bytes_raw() + x.public_key().public_bytes_raw()
        else:
            self.private = x25519.X25519PrivateKey.from_private_bytes(seed)
            self.public = self.private.public_key().public_bytes_raw()

    def open(self, grant: dict[str, Any], env_id: str) -> bytes:
        info = f"strongroom grant v1:{env_id}:{grant['key_version']}".encode()
        return SUITES[self.suite].decrypt(base64.b64decode(grant["wrapped_key"]), self.private, info=info)


def seal(suite: str, public: bytes, data_key: bytes, env_id: str, key_version: int) -> str:
    if suite == "xwing":
        key: Any = hpke.MLKEM768X25519PublicKey(
            mlkem.MLKEM768PublicKey.from_public_bytes(public[:1184]),
            x25519.X25519PublicKey.from_public_bytes(public[1184:]),
        )
    else:
        key = x25519.X25519PublicKey.from_public_bytes(public)
    info = f"strongroom grant v1:{env_id}:{key_version}".encode()
    return b64(SUITES[suite].encrypt(data_key, key, info=info))


def encrypt(data_key: bytes, plaintext: str, org_id: str, env_id: str, name: str, *, key_version: int) -> str:
    nonce = os.urandom(12)
    aad = f"{org_id}/{env_id}/{name}/{key_version}".encode()
    return b64(nonce + AESGCM(data_key).encrypt(nonce, plaintext.encode(), aad))


def decrypt(data_key: bytes, value: str, org_id: str, env_id: str, name: str, *, key_version: int) -> str:
    raw, aad = base64.b64decode(value), f"{org_id}/{env_id}/{name}/{key_version}".encode()
    return AESGCM(data_key).decrypt(raw[:12], raw[12:], aad).decode()


def new_id(prefix: str) -> str:
    value = (int(time.time() * 1000) << 80) | pysecrets.randbits(80)
    return prefix + "_" + "".join(CROCKFORD[(value >> (5 * i)) & 31] for i in reversed(range(26)))


def make_token(token_id: str) -> str:
    body = f"sr_svc_{token_id[4:]}_{''.join(pysecrets.choice(B62) for _ in range(32))}"
    crc, check = zlib.crc32(body.encode()), ""
    for _ in range(6):
        crc, digit = divmod(crc, 62)
        check = B62[digit] + check
    return body + check


# --------------------------------------------------------------------------- the flow


@pytest.fixture(scope="module")
def world(api: Api) -> dict[str, Any]:
    alice, bob, slug = unique_email("alice"), unique_email("bob"), f"e2e-{pysecrets.token_hex(4)}"
    status, _, org = api("POST", "/v1/orgs", user=alice, json={"name": "E2E", "slug": slug})
    assert status == 201, org
    assert api("POST", f"/v1/orgs/{slug}/projects", user=alice, json={"name": "Web"})[0] == 201
    _, _, inv = api("POST", f"/v1/orgs/{slug}/invitations", user=alice, json={"email": bob, "role": "developer"})
    assert api("POST", f"/v1/invitations/{inv['token']}/accept", user=bob)[0] == 200
    keys = {"alice": Keys("xwing"), "bob": Keys("x25519")}
    for who, email in (("alice", alice), ("bob", bob)):
        body = {
            "keys": [
                {
                    "suite": keys[who].suite,
                    "public_key": b64(keys[who].public),
                    "encrypted_private_key": b64(os.urandom(64)),
                }
            ]
        }
        status, _, put = api("PUT", "/v1/me/keys", user=email, json=body)
        assert status == 200, put
    return {
        "alice": alice,
        "bob": bob,
        "slug": slug,
        "org_id": org["id"],
        "keys": keys,
        "envs": f"/v1/orgs/{slug}/projects/web/environments",
    }


def create_client_env(api: Api, world: dict[str, Any], name: str) -> tuple[str, bytes]:
    env_id, data_key = new_id("env"), os.urandom(32)
    me = world["keys"]["alice"]
    grant = {"suite": "xwing", "wrapped_key": seal("xwing", me.public, data_key, env_id, 1)}
    body = {"name": name, "encryption": "client", "id": env_id, "grant": grant}
    status, _, env = api("POST", world["envs"], user=world["alice"], json=body)
    assert status == 201, env
    assert (env["id"], env["encryption"], env["key_version"]) == (env_id, "client", 1)
    return env_id, data_key


def test_user_keys_are_published_to_the_members_list(api: Api, world: dict[str, Any], server_log: io.StringIO) -> None:
    status, _, mine = api("GET", "/v1/me/keys", user=world["bob"])
    assert status == 200
    assert [(k["suite"], k["public_key"]) for k in mine["data"]] == [("x25519", b64(world["keys"]["bob"].public))]
    _, _, members = api("GET", f"/v1/orgs/{world['slug']}/members", user=world["alice"])
    published = {m["email"]: m["public_keys"] for m in members["data"]}
    assert published[world["bob"]] == [{"suite": "x25519", "public_key": b64(world["keys"]["bob"].public)}]
    assert published[world["alice"]][0]["suite"] == "xwing"
    # the lengths the suites define, and one key per suite
    short = {"suite": "xwing", "public_key": b64(bytes(32)), "encrypted_private_key": "AAAA"}
    assert api("PUT", "/v1/me/keys", user=world["bob"], json={"keys": [short]})[0] == 400
    twice = {"suite": "x25519", "public_key": b64(bytes(32)), "encrypted_private_key": "AAAA"}
    assert api("PUT", "/v1/me/keys", user=world["bob"], json={"keys": [twice, twice]})[0] == 400
    # a sealed private key (material for guessing its passphrase offline) is in no log line
    sealed = b64(os.urandom(96))
    again = {"suite": "x25519", "public_key": b64(world["keys"]["bob"].public), "encrypted_private_key": sealed}
    assert api("PUT", "/v1/me/keys", user=world["bob"], json={"keys": [again]})[0] == 200
    assert "encrypted_private_key=" in server_log.getvalue()  # the route arguments were logged, masked
    assert sealed not in server_log.getvalue()


def test_grant_decrypt_revoke_rekey(
    api: Api, world: dict[str, Any], stack: LocalStack, server_log: io.StringIO
) -> None:
    alice, bob, org_id, keys = world["alice"], world["bob"], world["org_id"], world["keys"]
    env_id, data_key = create_client_env(api, world, "Vault")
    e = f"{world['envs']}/{env_id}"
    canary = f"canary-{pysecrets.token_hex(16)}"

    # a client-chosen ID: taken is 409, malformed 400
    again = {
        "name": "Other",
        "encryption": "client",
        "id": env_id,
        "grant": {"suite": "xwing", "wrapped_key": seal("xwing", keys["alice"].public, data_key, env_id, 1)},
    }
    assert api("POST", world["envs"], user=alice, json=again)[0] == 409
    assert api("POST", world["envs"], user=alice, json={**again, "id": "env_NOT-AN-ID"})[0] == 400

    # Alice opens her grant and writes a ciphertext; a plaintext is refused
    status, _, mine = api("GET", f"{e}/key", user=alice)
    assert status == 200, mine
    assert keys["alice"].open(mine, env_id) == data_key
    value = encrypt(data_key, canary, org_id, env_id, "DB_URL", key_version=1)
    assert api("PUT", f"{e}/secrets/DB_URL", user=alice, json={"value": value})[0] == 200
    status, _, refused = api("PUT", f"{e}/secrets/PLAIN", user=alice, json={"value": canary})
    assert (status, refused["error"]["code"]) == (422, "not_ciphertext")
    for method, path, body in (
        ("GET", f"{e}/export?format=dotenv", None),
        ("POST", f"{e}/import", {"format": "dotenv", "content": "A=1\n"}),
        ("GET", f"{e}/validate", None),
        ("POST", f"{e}/rotate-key", None),
        ("POST", f"/v1/orgs/{world['slug']}/projects/web/promote", {"from": "development", "to": env_id}),
    ):
        status, _, refused = api(method, path, user=alice, json=body)
        assert (status, refused["error"]["code"]) == (422, "client_encrypted"), (method, path)

    # Bob has no grant yet; Alice grants him with the key the members list publishes
    assert api("GET", f"{e}/key", user=bob)[0] == 403
    _, _, members = api("GET", f"/v1/orgs/{world['slug']}/members", user=alice)
    bob_member = next(m for m in members["data"] if m["email"] == bob)
    bob_key = base64.b64decode(bob_member["public_keys"][0]["public_key"])
    grant = {
        "principal": {"type": "user", "id": bob_member["user_id"]},
        "suite": "x25519",
        "wrapped_key": seal("x25519", bob_key, data_key, env_id, 1),
        "key_version": 1,
    }
    assert api("POST", f"{e}/grants", user=bob, json=grant)[0] == 403  # a developer cannot grant
    status, _, granted = api("POST", f"{e}/grants", user=alice, json=grant)
    assert status == 201, granted
    assert api("POST", f"{e}/grants", user=alice, json=grant)[0] == 409  # one grant per principal
    assert api("POST", f"{e}/grants", user=alice, json={**grant, "key_version": 2})[0] == 409

    # Bob opens his grant and decrypts the value as stored
    _, _, his = api("GET", f"{e}/key", user=bob)
    bob_data_key = keys["bob"].open(his, env_id)
    _, _, got = api("GET", f"{e}/secrets/DB_URL", user=bob)
    assert got["value"] == value
    assert decrypt(bob_data_key, got["value"], org_id, env_id, "DB_URL", key_version=his["key_version"]) == canary
    _, _, listed = api("GET", f"{e}/grants", user=alice)
    assert sorted(g["principal"]["id"] for g in listed["data"]) == sorted(
        [bob_member["user_id"], mine_user(api, alice)]
    )

    # revoked, Bob gets 403 on E/key
    assert api("DELETE", f"{e}/grants/{granted['id']}", user=alice)[0] == 204
    status, _, gone = api("GET", f"{e}/key", user=bob)
    assert (status, gone["error"]["code"]) == (403, "no_grant")

    # rekey: a new key, a grant for every remaining principal only, every value
    new_key = os.urandom(32)
    rekey = {
        "key_version": 2,
        "grants": [
            {
                "principal": {"type": "user", "id": mine_user(api, alice)},
                "suite": "xwing",
                "wrapped_key": seal("xwing", keys["alice"].public, new_key, env_id, 2),
            }
        ],
        "values": {"DB_URL": encrypt(new_key, canary, org_id, env_id, "DB_URL", key_version=2)},
    }
    with_bob = {
        **rekey,
        "grants": [
            *rekey["grants"],
            {**grant, "key_version": None, "wrapped_key": seal("x25519", bob_key, new_key, env_id, 2)},
        ],
    }
    with_bob["grants"][1].pop("key_version")
    assert api("POST", f"{e}/rekey", user=alice, json=with_bob)[2]["error"]["code"] == "grants_mismatch"
    assert api("POST", f"{e}/rekey", user=alice, json={**rekey, "values": {}})[2]["error"]["code"] == "values_mismatch"
    status, _, done = api("POST", f"{e}/rekey", user=alice, json=rekey)
    assert status == 200, done
    assert (done["key_version"], done["grants"], done["values"]) == (2, 1, 1)
    _, _, mine = api("GET", f"{e}/key", user=alice)
    assert mine["key_version"] == 2
    assert keys["alice"].open(mine, env_id) == new_key
    _, _, got = api("GET", f"{e}/secrets/DB_URL", user=alice)
    assert decrypt(new_key, got["value"], org_id, env_id, "DB_URL", key_version=2) == canary
    assert api("GET", f"{e}/key", user=bob)[0] == 403
    assert not query_partition(stack, f"ENV#{env_id}", "GRANT#000001#")  # the old version's grants are gone

    # the canary: neither the plaintext nor a data key anywhere the server keeps or says anything
    _, _, audit = api("GET", f"/v1/orgs/{world['slug']}/audit/export?format=json", user=alice)
    users = [mine_user(api, alice), bob_member["user_id"]]
    kept = [
        *query_partition(stack, f"ENV#{env_id}"),
        *query_partition(stack, f"ORG#{org_id}"),
        *query_partition(stack, f"AUDIT#{org_id}"),
        *(i for u in users for p in (f"USER#{u}", f"AUDIT#{u}") for i in query_partition(stack, p)),
    ]
    log = server_log.getvalue()  # the server's log, at DEBUG (it runs in this process)
    assert "grant" in log  # the scan reads a log that saw these requests
    for sent in (value, rekey["values"]["DB_URL"], grant["wrapped_key"]):  # no ciphertext either
        assert sent not in log
    haystack = json.dumps(kept, default=str) + json.dumps(audit) + json.dumps([done, listed, got, mine]) + log
    assert rekey["values"]["DB_URL"] in haystack  # the scan reads what the server keeps: the ciphertext
    for needle in (canary, *(_forms(k) for k in (data_key, new_key))):
        for form in [needle] if isinstance(needle, str) else needle:
            assert form not in haystack


def _forms(raw: bytes) -> list[str]:
    """How a key could show: base64 (whole and in DynamoDB's typed B form), hex."""
    return [b64(raw), raw.hex(), b64(raw)[:24]]


_users: dict[str, str] = {}


def mine_user(api: Api, email: str) -> str:
    if email not in _users:
        _users[email] = api("GET", "/v1/me", user=email)[2]["id"]
    return _users[email]


def test_a_client_made_token_reads_its_grant_and_ciphertexts(api: Api, world: dict[str, Any]) -> None:
    alice, org_id = world["alice"], world["org_id"]
    env_id, data_key = create_client_env(api, world, "Deploy")
    e, tokens = f"{world['envs']}/{env_id}", f"/v1/orgs/{world['slug']}/tokens"
    canary = f"canary-{pysecrets.token_hex(16)}"
    value = encrypt(data_key, canary, org_id, env_id, "API_KEY", key_version=1)
    assert api("PUT", f"{e}/secrets/API_KEY", user=alice, json={"value": value})[0] == 200

    # the client makes the token and its key pair (derived from the token); the server gets the ID,
    # the SHA-256 of the token string and the public key
    token_id = new_id("tok")
    token = make_token(token_id)
    pair = Keys("xwing", hashlib.sha256(b"strongroom token key v1:" + token.encode()).digest())
    body = {
        "name": "ci",
        "project": "web",
        "environment": env_id,
        "permissions": ["read"],
        "token_id": token_id,
        "token_hash": hashlib.sha256(token.encode()).hexdigest(),
        "public_key": b64(pair.public),
        "suite": "xwing",
    }
    status, _, made = api("POST", tokens, user=alice, json=body)
    assert status == 201, made
    assert (made["id"], made.get("token"), made["public_key"]) == (token_id, None, b64(pair.public))
    assert api("POST", tokens, user=alice, json=body)[2]["error"]["code"] == "id_taken"
    assert api("POST", tokens, user=alice, json={**body, "token_id": "tok_" + "U" * 26})[0] == 400
    server_made = {k: body[k] for k in ("name", "project", "environment", "permissions")}
    assert api("POST", tokens, user=alice, json=server_made)[2]["error"]["code"] == "client_made_token_required"
    assert api("POST", f"{tokens}/{token_id}/rotate", user=alice)[0] == 422

    # no grant yet; then its grant, sealed to the public key it published
    bearer = {"Authorization": f"Bearer {token}"}
    assert api("GET", "/runtime/v1/key", headers=bearer)[2]["error"]["code"] == "no_grant"
    grant = {
        "principal": {"type": "token", "id": token_id},
        "suite": "xwing",
        "wrapped_key": seal("xwing", pair.public, data_key, env_id, 1),
        "key_version": 1,
    }
    assert api("POST", f"{e}/grants", user=alice, json=grant)[0] == 201

    # the token alone: its grant, the ciphertexts, and 304 on an unchanged environment
    status, _, mine = api("GET", "/runtime/v1/key", headers=bearer)
    assert status == 200, mine
    opened = pair.open(mine, env_id)
    status, headers, pulled = api("GET", "/runtime/v1/secrets", headers=bearer)
    assert status == 200, pulled
    assert pulled["secrets"] == {"API_KEY": value}
    # the pull carries what opens it: the token's grant and the IDs of the values' AAD
    assert (pulled["encryption"], pulled["org_id"], pulled["environment_id"]) == ("client", org_id, env_id)
    assert pulled["key"] == mine
    assert decrypt(opened, pulled["secrets"]["API_KEY"], org_id, env_id, "API_KEY", key_version=1) == canary
    assert api("GET", "/runtime/v1/secrets", headers={**bearer, "If-None-Match": headers["etag"]})[0] == 304
    assert api("GET", "/runtime/v1/secrets?format=dotenv", headers=bearer)[0] == 422
    assert api("GET", "/runtime/v1/secrets/API_KEY", headers=bearer)[2]["value"] == value

    # revoked, the token's grant goes with it (one transaction): nothing is left to rekey for it
    assert api("DELETE", f"{tokens}/{token_id}", user=alice)[0] == 204
    _, _, listed = api("GET", f"{e}/grants", user=alice)
    assert [g["principal"]["type"] for g in listed["data"]] == ["user"]


def test_a_rekey_of_any_size_is_one_change(api: Api, world: dict[str, Any], stack: LocalStack) -> None:
    """150 values and a grant: more items than one transaction holds, so the rekey takes the large
    change's path; the new key version, its grants and every value appear together."""
    alice, org_id, keys = world["alice"], world["org_id"], world["keys"]
    env_id, data_key = create_client_env(api, world, "Large")
    e = f"{world['envs']}/{env_id}"
    names = [f"K{i:03d}" for i in range(150)]
    values = {n: encrypt(data_key, f"v-{n}", org_id, env_id, n, key_version=1) for n in names}
    assert api("PATCH", f"{e}/secrets", user=alice, json={"set": values})[0] == 200
    new_key, me = os.urandom(32), mine_user(api, alice)
    body = {
        "key_version": 2,
        "grants": [
            {
                "principal": {"type": "user", "id": me},
                "suite": "xwing",
                "wrapped_key": seal("xwing", keys["alice"].public, new_key, env_id, 2),
            }
        ],
        "values": {n: encrypt(new_key, f"v-{n}", org_id, env_id, n, key_version=2) for n in names},
    }
    status, _, done = api("POST", f"{e}/rekey", user=alice, json=body)
    assert status == 200, done
    assert done["values"] == 150
    _, _, mine = api("GET", f"{e}/key", user=alice)
    opened = keys["alice"].open(mine, env_id)
    _, _, listed = api("GET", f"{e}/secrets?limit=500", user=alice)
    assert {i["key"]: decrypt(opened, i["value"], org_id, env_id, i["key"], key_version=2) for i in listed["data"]} == {
        n: f"v-{n}" for n in names
    }
    assert {i["version"] for i in listed["data"]} == {2}
    # the change's version items were written (history complete), the old grants deleted
    assert len(query_partition(stack, f"ENV#{env_id}", "VERSION#K000#")) == 2
    assert [i["SK"]["S"][:13] for i in query_partition(stack, f"ENV#{env_id}", "GRANT#")] == ["GRANT#000002#"]
    assert api("POST", f"{e}/rekey", user=alice, json=body)[2]["error"]["code"] == "key_version_mismatch"


def test_grant_changes_are_webhook_events_without_key_material(
    api: Api, world: dict[str, Any], stack_workers: Any, server_log: io.StringIO
) -> None:
    from http_api.test_webhooks import Receiver

    alice, bob = world["alice"], world["bob"]
    receiver = Receiver()
    try:
        hook = {"url": receiver.url, "events": ["grant.*"]}
        assert api("POST", f"/v1/orgs/{world['slug']}/webhooks", user=alice, json=hook)[0] == 201
        env_id, data_key = create_client_env(api, world, "Hooked")
        e = f"{world['envs']}/{env_id}"
        bob_id = mine_user(api, bob)
        wrapped = seal("x25519", world["keys"]["bob"].public, data_key, env_id, 1)
        grant = {
            "principal": {"type": "user", "id": bob_id},
            "suite": "x25519",
            "wrapped_key": wrapped,
            "key_version": 1,
        }
        status, _, granted = api("POST", f"{e}/grants", user=alice, json=grant)
        assert status == 201, granted
        assert api("DELETE", f"{e}/grants/{granted['id']}", user=alice)[0] == 204
        calls = receiver.wait(2)
    finally:
        receiver.close()
    events = [json.loads(body) for _, body in calls]
    assert [ev["type"] for ev in events] == ["grant.created", "grant.revoked"]
    assert events[0]["data"]["metadata"]["principal"] == {"type": "user", "id": bob_id}
    assert events[0]["data"]["environment_id"] == env_id
    log = server_log.getvalue()
    for form in (wrapped, *_forms(data_key)):
        assert form not in json.dumps(events)
        assert form not in log
