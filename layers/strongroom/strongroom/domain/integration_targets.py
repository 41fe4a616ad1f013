"""The destinations of integrations: what one sync writes and removes there.

Each `push` takes the environment's whole key set (as the runtime export gives it), the names the
previous successful sync wrote, and writes the key set; names written before and not wanted any
more are removed. Every step is idempotent (a retry after a partial failure writes the same
thing): values equal to what the destination holds are not written again (AWS), and each write
of a state carries a request token derived from that state.

- AWS Secrets Manager / SSM Parameter Store: in the customer's account through sts:AssumeRole of
  their role with their external id (a 15-minute session named after the integration); `json`
  mode writes one secret (parameter) holding a JSON object of every key, `per_key` one per key,
  named `name` + key. SSM parameters are SecureString under the customer's `kms_key_id`.
- GitHub Actions: the repository's public key, then each value sealed to it (libsodium's sealed
  box, PyNaCl) and PUT; removed keys DELETEd. Calls go through netguard (https, public addresses,
  the checked address connected to, no redirects); dev mode allows a loopback server.

Errors never carry a value or a token: an AWS error is its service, operation and error code; a
GitHub one its method, path template and status.
"""

from __future__ import annotations

import base64
import http.client
import json
import re
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote, urlsplit

from strongroom import aws
from strongroom.config import settings

SESSION_SECONDS = 900
# One destination name per key (per_key, GitHub) at most this many: the names written are kept on the
# integration's item (400 KB), and one sync must finish within the worker's timeout.
MAX_NAMES = 1000
TIMEOUT = 10.0
_TOKEN_NAMESPACE = uuid.UUID("7d3f1c4e-52c0-4d0e-9b61-0f6f8e1f3a10")
# GitHub: "Secret names can only contain alphanumeric characters ([a-z], [A-Z], [0-9]) or
# underscores (_)… must not start with the GITHUB_ prefix… must not start with a number."
_GITHUB_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


class DestinationError(Exception):
    """A sync that did not complete; `message` is safe to store and show (no value, no token)."""

    def __init__(self, message: str, *, retryable: bool = True, written: list[str] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.retryable = retryable
        self.written = written


@dataclass
class Pushed:
    """What a sync left at the destination: the names it wrote (what the next removes from) and
    the keys it could not name there (skipped, said in last_error)."""

    written: list[str]
    skipped: list[str] = field(default_factory=list)


def request_token(integration_id: str, name: str, state: str) -> str:
    """An idempotency token per (integration, destination name, state): a retry of the same state
    writes nothing new, any other state writes a new version."""
    return str(uuid.uuid5(_TOKEN_NAMESPACE, f"{integration_id}|{name}|{state}"))


def desired(config: dict[str, Any], values: dict[str, str]) -> dict[str, str]:
    """Destination name -> value of an AWS integration (json: one name holding the object)."""
    if config.get("mode", "json") == "json":
        return {str(config["name"]): json.dumps(values, sort_keys=True, separators=(",", ":"))}
    prefix = str(config["name"])
    return {f"{prefix}{key}": value for key, value in values.items()}


def check_size(wanted: dict[str, str]) -> None:
    if len(wanted) > MAX_NAMES:
        raise DestinationError(
            f"{len(wanted)} keys: an integration writes at most {MAX_NAMES} names (use mode json)", retryable=False
        )


def removed(previous: Iterable[str], wanted: Iterable[str]) -> list[str]:
    keep = set(wanted)
    return sorted(n for n in set(previous) if n not in keep)


def github_names(values: dict[str, str]) -> tuple[dict[str, str], list[str]]:
    """GitHub secret name (upper case: GitHub's names are case-insensitive) -> value, and the keys
    GitHub cannot name (characters, the GITHUB_ prefix, two keys differing only by case)."""
    out: dict[str, str] = {}
    skipped: list[str] = []
    seen: dict[str, str] = {}
    for key in sorted(values):
        name = key.upper()
        if not _GITHUB_NAME.match(key) or name.startswith("GITHUB_") or name in seen:
            skipped.append(key)
            continue
        seen[name] = key
        out[name] = values[key]
    return out, skipped


# --------------------------------------------------------------------------- AWS


def _aws_error(service: str, operation: str, exc: Exception) -> DestinationError:
    from botocore.exceptions import ClientError  # noqa: PLC0415

    code = exc.response.get("Error", {}).get("Code", "error") if isinstance(exc, ClientError) else type(exc).__name__
    return DestinationError(f"{service} {operation}: {code}")


def _error_code(exc: Exception) -> str:
    from botocore.exceptions import ClientError  # noqa: PLC0415

    return str(exc.response.get("Error", {}).get("Code", "")) if isinstance(exc, ClientError) else ""


def assume(integration_id: str, config: dict[str, Any]) -> dict[str, Any]:
    from botocore.exceptions import BotoCoreError, ClientError  # noqa: PLC0415

    try:
        resp = aws.client("sts").assume_role(
            RoleArn=config["role_arn"],
            RoleSessionName=f"strongroom-{integration_id}"[:64],
            ExternalId=config["external_id"],
            DurationSeconds=SESSION_SECONDS,
        )
    except (ClientError, BotoCoreError) as exc:
        raise _aws_error("sts", "AssumeRole", exc) from None
    credentials: dict[str, Any] = resp["Credentials"]
    return credentials


def _call(service: str, operation: str, fn: Callable[..., Any], **params: Any) -> Any:
    from botocore.exceptions import BotoCoreError, ClientError  # noqa: PLC0415

    try:
        return fn(**params)
    except (ClientError, BotoCoreError) as exc:
        raise _aws_error(service, operation, exc) from None


def _current_secret(client: Any, name: str) -> str | None:
    from botocore.exceptions import BotoCoreError, ClientError  # noqa: PLC0415

    try:
        resp = client.get_secret_value(SecretId=name, VersionStage="AWSCURRENT")
    except ClientError as exc:
        if _error_code(exc) == "ResourceNotFoundException":
            return None
        raise _aws_error("secretsmanager", "GetSecretValue", exc) from None
    except BotoCoreError as exc:
        raise _aws_error("secretsmanager", "GetSecretValue", exc) from None
    value = resp.get("SecretString")
    return str(value) if value is not None else None


def push_secrets_manager(
    integration_id: str, config: dict[str, Any], values: dict[str, str], previous: list[str], state: str
) -> Pushed:
    wanted = desired(config, values)
    check_size(wanted)
    client = aws.assumed_client("secretsmanager", region=config["region"], credentials=assume(integration_id, config))
    written: list[str] = sorted(set(previous) | set(wanted))  # what may be there, until the removals are done
    try:
        for name, value in sorted(wanted.items()):
            current = _current_secret(client, name)
            if current == value:
                continue
            token = request_token(integration_id, name, state)
            if current is None:
                params: dict[str, Any] = {
                    "Name": name,
                    "SecretString": value,
                    "ClientRequestToken": token,
                    "Description": f"Managed by Strongroom (integration {integration_id})",
                    "Tags": [{"Key": "strongroom:integration", "Value": integration_id}],
                }
                if config.get("kms_key_id"):
                    params["KmsKeyId"] = config["kms_key_id"]
                _call("secretsmanager", "CreateSecret", client.create_secret, **params)
            else:
                # moto (and AWS) move AWSCURRENT to the new version; said explicitly (moto 5.2.5).
                _call(
                    "secretsmanager",
                    "PutSecretValue",
                    client.put_secret_value,
                    SecretId=name,
                    SecretString=value,
                    ClientRequestToken=token,
                    VersionStages=["AWSCURRENT"],
                )
        for name in removed(previous, wanted):
            try:
                client.delete_secret(SecretId=name, ForceDeleteWithoutRecovery=True)
            except Exception as exc:  # noqa: BLE001 - a secret already gone is removed
                if _error_code(exc) != "ResourceNotFoundException":
                    raise _aws_error("secretsmanager", "DeleteSecret", exc) from None
            written.remove(name)
    except DestinationError as exc:
        exc.written = written
        raise
    return Pushed(sorted(wanted))


def push_ssm(
    integration_id: str, config: dict[str, Any], values: dict[str, str], previous: list[str], state: str
) -> Pushed:
    del state  # SSM's PutParameter takes no request token: Overwrite of the same value is the retry
    wanted = desired(config, values)
    check_size(wanted)
    empty = sorted(n for n, v in wanted.items() if v == "")
    if empty:
        raise DestinationError(
            f"SSM parameters cannot be empty: {', '.join(empty[:10])}", retryable=False, written=list(previous)
        )
    client = aws.assumed_client("ssm", region=config["region"], credentials=assume(integration_id, config))
    names = sorted(wanted)
    written: list[str] = sorted(set(previous) | set(wanted))
    try:
        current: dict[str, str] = {}
        for i in range(0, len(names), 10):
            resp = _call("ssm", "GetParameters", client.get_parameters, Names=names[i : i + 10], WithDecryption=True)
            current.update({p["Name"]: p.get("Value", "") for p in resp.get("Parameters", [])})
        for name in names:
            if current.get(name) == wanted[name]:
                continue
            _call(
                "ssm",
                "PutParameter",
                client.put_parameter,
                Name=name,
                Value=wanted[name],
                Type="SecureString",
                KeyId=config["kms_key_id"],
                Overwrite=True,
                Tier="Intelligent-Tiering",
            )
        gone = removed(previous, wanted)
        for i in range(0, len(gone), 10):
            _call("ssm", "DeleteParameters", client.delete_parameters, Names=gone[i : i + 10])
            for name in gone[i : i + 10]:
                written.remove(name)
    except DestinationError as exc:
        exc.written = written
        raise
    return Pushed(names)


# --------------------------------------------------------------------------- GitHub


def _github_request(
    base: str, method: str, path: str, token: str, body: dict[str, Any] | None = None
) -> tuple[int, dict[str, Any] | None]:
    """One call of GitHub's REST API at `base` (netguard-checked, the checked address pinned)."""
    from strongroom.domain.delivery import _PinnedHTTPConnection, _PinnedHTTPSConnection  # noqa: PLC0415
    from strongroom.security.netguard import UnsafeUrl, check_url  # noqa: PLC0415

    url = base.rstrip("/") + path
    try:
        addresses = check_url(url, allow_http_loopback=settings().auth_mode.value == "dev")
    except UnsafeUrl as exc:
        raise DestinationError(f"github: api_url refused: {exc.reason}") from None
    parts = urlsplit(url)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    kind = _PinnedHTTPSConnection if parts.scheme == "https" else _PinnedHTTPConnection
    conn = kind(parts.hostname or "", addresses[0], port, TIMEOUT)
    headers = {
        "Accept": "application/vnd.github+json",
        "Authorization": f"Bearer {token}",
        "X-GitHub-Api-Version": "2022-11-28",
        "User-Agent": "Strongroom-Sync/1",
    }
    payload = None
    if body is not None:
        payload = json.dumps(body)
        headers["Content-Type"] = "application/json"
    try:
        conn.request(method, parts.path, body=payload, headers=headers)
        resp = conn.getresponse()
        raw = resp.read(1024 * 1024)
        status = resp.status
    except (OSError, http.client.HTTPException) as exc:
        raise DestinationError(f"github: {method} {_template(path)}: {type(exc).__name__}") from None
    finally:
        conn.close()
    try:
        parsed = json.loads(raw) if raw else None
    except ValueError:
        parsed = None
    return status, parsed if isinstance(parsed, dict) else None


def _template(path: str) -> str:
    """The path with the repository and secret name out of it (what an error may say)."""
    return re.sub(r"^/repos/[^/]+/[^/]+", "/repos/{owner}/{repo}", path.split("/secrets/", maxsplit=1)[0]) + (
        "/secrets/…" if "/secrets/" in path else ""
    )


def seal(public_key_b64: str, value: str) -> str:
    """libsodium's crypto_box_seal of the value to the repository's key, base64 (GitHub's format)."""
    from nacl.public import PublicKey, SealedBox  # noqa: PLC0415

    box = SealedBox(PublicKey(base64.b64decode(public_key_b64)))
    return base64.b64encode(box.encrypt(value.encode())).decode()


def push_github(config: dict[str, Any], token: str, values: dict[str, str], previous: list[str]) -> Pushed:
    wanted, skipped = github_names(values)
    check_size(wanted)
    base = str(config.get("api_url") or "https://api.github.com")
    owner, repo = str(config["repository"]).split("/", 1)
    repo_path = f"/repos/{quote(owner, safe='')}/{quote(repo, safe='')}/actions/secrets"
    status, key = _github_request(base, "GET", f"{repo_path}/public-key", token)
    if status != 200 or not key or not isinstance(key.get("key"), str) or not isinstance(key.get("key_id"), str):
        raise DestinationError(f"github: GET /repos/{{owner}}/{{repo}}/actions/secrets/public-key answered {status}")
    written = sorted(set(previous) | set(wanted))
    try:
        for name, value in sorted(wanted.items()):
            try:
                sealed = seal(key["key"], value)
            except (ValueError, TypeError) as exc:
                raise DestinationError("github: the repository's public key is not an X25519 key") from exc
            body = {"encrypted_value": sealed, "key_id": key["key_id"]}
            status, _ = _github_request(base, "PUT", f"{repo_path}/{name}", token, body)
            if status not in (201, 204):
                raise DestinationError(f"github: PUT /repos/{{owner}}/{{repo}}/actions/secrets/… answered {status}")
        for name in removed(previous, wanted):
            status, _ = _github_request(base, "DELETE", f"{repo_path}/{name}", token)
            if status not in (204, 404):
                raise DestinationError(f"github: DELETE /repos/{{owner}}/{{repo}}/actions/secrets/… answered {status}")
            written.remove(name)
    except DestinationError as exc:
        exc.written = written
        raise
    return Pushed(sorted(wanted), skipped)
