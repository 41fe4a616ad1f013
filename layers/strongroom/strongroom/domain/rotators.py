"""The rotators: what each step of a rotation does at its target (AWS Secrets Manager's four steps).

- `create`: a pending value (and what the rotator must remember of it), recorded sealed before
  anything else happens, so every later step reads it back instead of making another;
- `put` (Secrets Manager's setSecret): the pending value set in the target; idempotent (setting
  the same password twice, a key that exists already);
- `test`: the pending value works at the target;
- `finish` is domain/rotation.py's: the value promoted as the secret's new version, then
  `retirements` says which old credentials go later (an IAM key after its grace period).

A failure raises `RotationFailed` whose message names what failed, never a value, a password or a
URL's credentials; `abandon` undoes what `create` made at the target (a created IAM key).
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import http.client
import json
import secrets
import socket
import ssl
import string
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import quote, unquote, urlsplit, urlunsplit

from strongroom import aws, clock
from strongroom.config import settings

TIMEOUT = 10.0
MAX_ANSWER = 64 * 1024
_PG_PASSWORD_ALPHABET = string.ascii_letters + string.digits


class RotationFailed(Exception):
    """A step failed; `reason` is safe to record and show (no secret in it)."""

    def __init__(self, reason: str, *, transient: bool = True) -> None:
        super().__init__(reason)
        self.reason = reason
        self.transient = transient  # worth trying again soon (else at the next interval)


@dataclass(slots=True)
class Target:
    """What a rotator works with: its configuration, its credentials, the secret's current value."""

    config: dict[str, Any]
    credentials: dict[str, str]
    current: str | None
    subject: dict[str, Any]  # org_id, project_id, environment_id, key (what a webhook is told)
    now: datetime = field(default_factory=clock.now)
    # A create step resumed after a crash: when the first attempt began (what it may have made at
    # the target since then is its own, unrecorded: an IAM key), and the old credentials still kept.
    resumed_since: datetime | None = None
    retiring: frozenset[str] = frozenset()


def random_value(length: int, alphabet: str) -> str:
    return "".join(secrets.choice(alphabet) for _ in range(length))


# --------------------------------------------------------------------------- random


def _random_create(t: Target) -> dict[str, Any]:
    return {"value": random_value(int(t.config["length"]), str(t.config["alphabet"]))}


# --------------------------------------------------------------------------- postgres (two users)


@dataclass(frozen=True, slots=True)
class PgUrl:
    scheme: str
    user: str
    password: str
    host: str
    port: int
    database: str
    query: str

    @classmethod
    def parse(cls, text: str) -> PgUrl:
        parts = urlsplit(text)
        if parts.scheme not in {"postgres", "postgresql"} or not parts.hostname or not parts.username:
            raise RotationFailed("the secret's value is not a postgresql://user:password@host/database URL")
        try:
            port = parts.port or 5432
        except ValueError:
            raise RotationFailed("the secret's URL has an invalid port") from None
        return cls(
            parts.scheme,
            unquote(parts.username),
            unquote(parts.password or ""),
            parts.hostname,
            port,
            unquote(parts.path.lstrip("/")) or "postgres",
            parts.query,
        )

    def with_login(self, user: str, password: str) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        netloc = f"{quote(user, safe='')}:{quote(password, safe='')}@{host}:{self.port}"
        return urlunsplit((self.scheme, netloc, "/" + quote(self.database), self.query, ""))


def _pg_connect(url: PgUrl, user: str, password: str) -> Any:
    import pg8000.native  # noqa: PLC0415 - only the rotation functions carry it

    try:
        return pg8000.native.Connection(
            user, host=url.host, port=url.port, database=url.database, password=password, timeout=TIMEOUT
        )
    except pg8000.native.DatabaseError as exc:
        code = exc.args[0].get("C", "") if exc.args and isinstance(exc.args[0], dict) else ""
        raise RotationFailed(f"the database refused the login of {user!r} (SQLSTATE {code or 'unknown'})") from None
    except (OSError, pg8000.native.InterfaceError):
        raise RotationFailed(f"could not connect to the database at {url.host}:{url.port}") from None


def _pg_inactive(t: Target) -> tuple[PgUrl, str]:
    if t.current is None:
        raise RotationFailed("the secret holds no connection URL to rotate")
    url = PgUrl.parse(t.current)
    users = [str(u) for u in t.config["users"]]
    return url, users[1] if url.user == users[0] else users[0]


def _pg_create(t: Target) -> dict[str, Any]:
    url, inactive = _pg_inactive(t)
    password = random_value(32, _PG_PASSWORD_ALPHABET)
    return {"value": url.with_login(inactive, password)}


def _pg_failure(exc: Exception, what: str) -> RotationFailed:
    code = exc.args[0].get("C", "") if exc.args and isinstance(exc.args[0], dict) else ""
    return RotationFailed(f"{what} (SQLSTATE {code})" if code else f"{what} ({type(exc).__name__})")


def _pg_put(t: Target, pending: dict[str, Any]) -> dict[str, Any]:
    import pg8000.native  # noqa: PLC0415

    new = PgUrl.parse(str(pending["value"]))
    conn = _pg_connect(new, str(t.config["master_username"]), t.credentials["master_password"])
    try:
        # A utility statement takes no bind parameters: the role is a checked name (models/rotation.py)
        # and the password comes from an alphanumeric alphabet, so both quote safely.
        conn.run(f"ALTER ROLE {pg8000.native.identifier(new.user)} WITH PASSWORD {pg8000.native.literal(new.password)}")
    except (pg8000.native.DatabaseError, pg8000.native.InterfaceError, OSError) as exc:
        raise _pg_failure(exc, f"the database refused to set the password of {new.user!r}") from None
    finally:
        _pg_close(conn)
    return pending


def _pg_close(conn: Any) -> None:
    import pg8000.native  # noqa: PLC0415

    with contextlib.suppress(pg8000.native.InterfaceError, OSError):  # the connection is gone already
        conn.close()


def _pg_test(_t: Target, pending: dict[str, Any]) -> None:
    import pg8000.native  # noqa: PLC0415

    new = PgUrl.parse(str(pending["value"]))
    conn = _pg_connect(new, new.user, new.password)
    try:
        conn.run("SELECT 1")
    except (pg8000.native.DatabaseError, pg8000.native.InterfaceError, OSError) as exc:
        raise _pg_failure(exc, "the new credentials do not work") from None
    finally:
        _pg_close(conn)


# --------------------------------------------------------------------------- AWS IAM access keys


def _iam_call(operation: str, **params: Any) -> dict[str, Any]:
    from botocore.exceptions import BotoCoreError, ClientError  # noqa: PLC0415

    try:
        return getattr(aws.client("iam"), operation)(**params)  # type: ignore[no-any-return]
    except ClientError as exc:
        code = exc.response.get("Error", {}).get("Code", "error")
        raise RotationFailed(f"IAM {operation} failed: {code}") from None
    except BotoCoreError as exc:
        raise RotationFailed(f"IAM {operation} failed: {type(exc).__name__}") from None


def current_key_id(value: str | None) -> str | None:
    try:
        parsed = json.loads(value) if value else None
    except ValueError:
        return None
    found = parsed.get("access_key_id") if isinstance(parsed, dict) else None
    return str(found) if found else None


# IAM's CreateDate is whole seconds: a key the crashed attempt made may look up to a second older.
_CREATE_DATE_SLACK = timedelta(seconds=2)


def _iam_create(t: Target) -> dict[str, Any]:
    """A new key. Resumed after a crash, the key the first attempt created (made after it began,
    neither the current key nor one retiring) was never recorded: it is deleted first, so a resumed
    create makes one key, not two."""
    user = str(t.config["user_name"])
    held = _iam_call("list_access_keys", UserName=user).get("AccessKeyMetadata", [])
    if t.resumed_since is not None:
        known = {current_key_id(t.current), *t.retiring}
        since = t.resumed_since - _CREATE_DATE_SLACK
        for orphan in [k for k in held if k["AccessKeyId"] not in known and k["CreateDate"] >= since]:
            retire(t.config, orphan["AccessKeyId"])
            held.remove(orphan)
    if len(held) >= 2:
        raise RotationFailed(
            "the IAM user already has two access keys (the most IAM allows): the last rotation's old key "
            "is still in its grace period, or a key Strongroom does not manage exists"
        )
    made = _iam_call("create_access_key", UserName=user)["AccessKey"]
    value = json.dumps({"access_key_id": made["AccessKeyId"], "secret_access_key": made["SecretAccessKey"]})
    return {"value": value, "credential_id": made["AccessKeyId"]}


def _iam_test(t: Target, pending: dict[str, Any]) -> None:
    held = _iam_call("list_access_keys", UserName=str(t.config["user_name"])).get("AccessKeyMetadata", [])
    if not any(k["AccessKeyId"] == pending["credential_id"] and k.get("Status") == "Active" for k in held):
        raise RotationFailed("the new access key is not active at IAM")


def _iam_abandon(t: Target, pending: dict[str, Any]) -> None:
    retire(t.config, str(pending["credential_id"]))


def retire(config: dict[str, Any], credential_id: str) -> None:
    """Delete an old credential at the target (idempotent: one already gone is done)."""
    if config.get("type") != "aws_iam_access_key":
        return
    from botocore.exceptions import ClientError  # noqa: PLC0415

    try:
        aws.client("iam").delete_access_key(UserName=str(config["user_name"]), AccessKeyId=credential_id)
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") != "NoSuchEntity":
            raise RotationFailed(f"IAM delete_access_key failed: {exc.response.get('Error', {}).get('Code')}") from None


def retirements(t: Target, pending: dict[str, Any]) -> list[tuple[str, datetime]]:
    """The old credentials a finished rotation leaves to remove, and when."""
    if t.config["type"] != "aws_iam_access_key":
        return []
    old = current_key_id(t.current)
    if old is None or old == pending.get("credential_id"):
        return []
    return [(old, t.now + timedelta(hours=int(t.config.get("grace_period_hours", 24))))]


# --------------------------------------------------------------------------- webhook


def new_signing_secret() -> str:
    return "whsec_" + base64.b64encode(secrets.token_bytes(24)).decode()


def sign(secret: str, message_id: str, timestamp: int, body: str) -> str:
    """Standard Webhooks' `v1,<base64 HMAC-SHA256(id.timestamp.body)>` (as domain/webhooks.sign)."""
    from strongroom.domain import webhooks  # noqa: PLC0415

    return webhooks.sign([secret], message_id, timestamp, body)


def _post(url: str, body: str, headers: dict[str, str]) -> tuple[int, bytes]:
    """One POST to the address netguard checked (no second DNS answer, no redirects)."""
    from strongroom.security.netguard import UnsafeUrl, check_url  # noqa: PLC0415

    try:
        addresses = check_url(url, allow_http_loopback=settings().auth_mode.value == "dev")
    except UnsafeUrl as exc:
        raise RotationFailed(f"the rotation endpoint was refused: {exc.reason}") from None
    parts = urlsplit(url)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    sock: socket.socket | None = None
    try:
        sock = socket.create_connection((addresses[0], port), TIMEOUT)
        conn: http.client.HTTPConnection
        if parts.scheme == "https":
            conn = http.client.HTTPSConnection(parts.hostname or "", port, timeout=TIMEOUT)
            conn.sock = ssl.create_default_context().wrap_socket(sock, server_hostname=parts.hostname)
        else:
            conn = http.client.HTTPConnection(parts.hostname or "", port, timeout=TIMEOUT)
            conn.sock = sock
        target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        conn.request("POST", target, body=body, headers=headers)
        resp = conn.getresponse()
        return resp.status, resp.read(MAX_ANSWER + 1)
    except (OSError, http.client.HTTPException) as exc:
        raise RotationFailed(f"the rotation endpoint did not answer ({type(exc).__name__})") from None
    finally:
        if sock is not None:
            sock.close()


def _webhook_put(t: Target, pending: dict[str, Any]) -> dict[str, Any]:
    """The endpoint is asked to set the pending value (it may answer with a value of its own,
    `{"value": …}`); a 2xx is success, anything else (a redirect included) a failure."""
    message_id = "rot_" + hashlib.sha256(f"{pending['rotation_id']}".encode()).hexdigest()[:26]
    body = json.dumps({"type": "secret.rotation", "data": {**t.subject, "value": pending["value"]}})
    timestamp = int(time.time())
    headers = {
        "content-type": "application/json",
        "user-agent": "Strongroom-Rotation/1",
        "webhook-id": message_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": sign(t.credentials["signing_secret"], message_id, timestamp, body),
    }
    status, answer = _post(str(t.config["url"]), body, headers)
    if not 200 <= status < 300:
        raise RotationFailed(f"the rotation endpoint answered {status}")
    chosen = _answered_value(answer)
    return {**pending, "value": chosen} if chosen is not None else pending


def _answered_value(answer: bytes) -> str | None:
    if not answer.strip():
        return None
    if len(answer) > MAX_ANSWER:
        raise RotationFailed("the rotation endpoint's answer is too large")
    try:
        parsed = json.loads(answer)
    except ValueError:
        return None
    value = parsed.get("value") if isinstance(parsed, dict) else None
    if value is None:
        return None
    if not isinstance(value, str) or not value or "${" in value:
        raise RotationFailed("the rotation endpoint answered a value that is not a non-empty string without `${`")
    return value


# --------------------------------------------------------------------------- dispatch


def create(t: Target) -> dict[str, Any]:
    kind = t.config["type"]
    if kind == "postgres":
        return _pg_create(t)
    if kind == "aws_iam_access_key":
        return _iam_create(t)
    return _random_create(t)  # random, and the value a webhook endpoint is asked to set


def put(t: Target, pending: dict[str, Any]) -> dict[str, Any]:
    kind = t.config["type"]
    if kind == "postgres":
        return _pg_put(t, pending)
    if kind == "webhook":
        return _webhook_put(t, pending)
    return pending


def test(t: Target, pending: dict[str, Any]) -> None:
    kind = t.config["type"]
    if kind == "postgres":
        _pg_test(t, pending)
    elif kind == "aws_iam_access_key":
        _iam_test(t, pending)


def abandon(t: Target, pending: dict[str, Any]) -> None:
    if t.config["type"] == "aws_iam_access_key" and pending.get("credential_id"):
        _iam_abandon(t, pending)
