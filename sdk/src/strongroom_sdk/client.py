"""The SDK's client: an environment's secrets for a service token or a machine identity.

    client = Client("https://api.example.com", token=os.environ["STRONGROOM_TOKEN"])
    client = Client(url, identity=Identity("idn_…", jwt_file="/var/run/secrets/tokens/strongroom"))
    client = Client(url, identity=Identity("idn_…", aws=True))      # a Lambda function's own role
    client.secrets()          # {KEY: value}; an unchanged environment costs one 304
    client.get("DB_URL")

`refresh_interval=` keeps the values fresh in a background thread (one If-None-Match request per
interval; `secrets()` then answers from memory). Errors are typed: Unauthorized (401: a revoked,
expired or unknown token, a refused proof), Forbidden (403), NotFound (404), Unavailable (5xx, or
the server unreachable), all StrongroomError. A machine identity's token is renewed before it
expires and once when the server refuses it. Standard library only (botocore for AWS proofs).
"""

from __future__ import annotations

import json
import threading
import time
import urllib.parse
from datetime import datetime
from pathlib import Path
from typing import Any

from strongroom_sdk import identity as proofs
from strongroom_sdk import wire

RENEW_AHEAD_SECONDS = 30


class StrongroomError(Exception):
    """An answer other than the one asked for: `status` (0: no answer) and the API's `code`."""

    def __init__(self, message: str, *, status: int = 0, code: str = "") -> None:
        super().__init__(message)
        self.status, self.code = status, code


class Unauthorized(StrongroomError):
    """401: the token is revoked, expired or unknown, or the identity's proof was refused."""


class Forbidden(StrongroomError):
    """403: the credential may not do this (or a machine identity's rule did not match)."""


class NotFound(StrongroomError):
    """404."""


class Unavailable(StrongroomError):
    """5xx, or the server could not be reached."""


_BY_STATUS: dict[int, type[StrongroomError]] = {401: Unauthorized, 403: Forbidden, 404: NotFound}


def _error(status: int, body: bytes) -> StrongroomError:
    try:
        error = json.loads(body)["error"]
        message, code = f"{error['message']} ({error['code']})", str(error["code"])
    except (ValueError, KeyError, TypeError):
        message, code = body[:200].decode("utf-8", "replace"), ""
    kind = _BY_STATUS.get(status, Unavailable if status >= 500 else StrongroomError)
    return kind(f"{status}: {message}", status=status, code=code)


class Identity:
    """A machine identity and how this workload proves it: `jwt` (accepted once: not renewable),
    `jwt_file` (read again at each renewal), or `aws=True` (the ambient AWS credentials)."""

    def __init__(
        self,
        identity_id: str,
        *,
        jwt: str | None = None,
        jwt_file: str | Path | None = None,
        aws: bool = False,
        aws_region: str | None = None,
    ) -> None:
        if sum((jwt is not None, jwt_file is not None, aws)) != 1:
            raise ValueError("an Identity takes exactly one of jwt, jwt_file, aws")
        self.id = identity_id
        self._jwt, self._jwt_file, self.aws, self.aws_region = jwt, jwt_file, aws, aws_region

    def proof(self) -> dict[str, Any]:
        """The exchange's body (without the signature's region retry)."""
        if self.aws:
            region = self.aws_region or proofs.ambient_region()
            return {"identity": self.id, "aws": proofs.signed_caller_identity(self.id, region)}
        jwt = self._jwt if self._jwt is not None else proofs.read_token_file(Path(str(self._jwt_file)))
        return {"identity": self.id, "jwt": jwt}

    @property
    def renewable(self) -> bool:
        """Whether it can be proved again (a given JWT is accepted once)."""
        return self.aws or self._jwt_file is not None


class Client:
    def __init__(
        self,
        url: str,
        *,
        token: str | None = None,
        identity: Identity | None = None,
        refresh_interval: float | None = None,
        path: str = "/",
        recursive: bool = False,
    ) -> None:
        """`path`: a folder of the token's environment (`/backend/db`; `/`, the default, is its
        root), `recursive` its subfolders too, flattened into keys (the server checks the path)."""
        if (token is None) == (identity is None):
            raise ValueError("a Client takes a token or an identity")
        wire.split_url(url)  # refuses what is not an http(s) URL of a host
        self.url = url.rstrip("/")
        folder = "" if path == "/" else "&path=" + urllib.parse.quote(path, safe="/")
        self._pull_path = f"/runtime/v1/secrets?format=json{folder}{'&recursive=true' if recursive else ''}"
        self._token, self._identity = token, identity
        self._expires_at: float | None = None
        self._values: dict[str, str] | None = None
        self._etag = ""
        self._lock = threading.Lock()
        self.requests = 0  # what this client asked the runtime API, and how many answers were 304
        self.not_modified = 0
        self._stop = threading.Event()
        self._refresher: threading.Thread | None = None
        self.last_error: StrongroomError | None = None
        if refresh_interval is not None:
            self._refresher = threading.Thread(
                target=self._refresh_every, args=(refresh_interval,), name="strongroom-refresh", daemon=True
            )
            self._refresher.start()

    # ------------------------------------------------------------------ the token

    def _exchange(self) -> None:
        assert self._identity is not None
        body = self._identity.proof()
        status, _, answer = self._call("POST", proofs.EXCHANGE, {}, json.dumps(body).encode())
        if status == 401 and "aws" in body and self._identity.aws_region is None:
            wanted = _json(answer).get("error", {}).get("details", {}).get("sts_url", "")
            region = proofs.region_of(str(wanted))
            if region:  # signed for another region than the stack's: once more, for the one it names
                body["aws"] = proofs.signed_caller_identity(self._identity.id, region)
                status, _, answer = self._call("POST", proofs.EXCHANGE, {}, json.dumps(body).encode())
        if status != 200:
            raise _error(status, answer)
        issued = _json(answer)
        self._token = str(issued["token"])
        self._expires_at = datetime.fromisoformat(str(issued["expires_at"]).replace("Z", "+00:00")).timestamp()

    def _bearer(self) -> str:
        if self._identity is not None and (
            self._token is None or self._expires_at is None or self._expires_at - time.time() < RENEW_AHEAD_SECONDS
        ):
            self._exchange()
        assert self._token is not None
        return self._token

    # ------------------------------------------------------------------ reads

    def _call(self, method: str, path: str, headers: dict[str, str], body: bytes = b"") -> tuple[int, Any, bytes]:
        try:
            return wire.send(self.url + path, {"User-Agent": "strongroom-sdk", **headers}, method=method, body=body)()
        except OSError as exc:
            raise Unavailable(f"cannot reach {self.url}: {exc}") from None
        except wire.WireError as exc:
            raise StrongroomError(str(exc)) from None

    def _pull(self) -> dict[str, str]:
        headers = {"Authorization": f"Bearer {self._bearer()}"}
        if self._etag and self._values is not None:
            headers["If-None-Match"] = f'"{self._etag}"'
        status, response_headers, body = self._call("GET", self._pull_path, headers)
        self.requests += 1
        if status == 401 and self._identity is not None and self._identity.renewable:
            self._exchange()  # the token died early (the identity was replaced): prove it again, once
            headers["Authorization"] = f"Bearer {self._token}"
            status, response_headers, body = self._call("GET", self._pull_path, headers)
            self.requests += 1
        if status == 304 and self._values is not None:
            self.not_modified += 1
            return self._values
        if status != 200:
            raise _error(status, body)
        values = _json(body).get("secrets", {})
        self._values = {str(k): str(v) for k, v in values.items()}
        self._etag = str(response_headers.get("etag", "")).removeprefix("W/").strip('"')
        return self._values

    def secrets(self) -> dict[str, str]:
        """The environment's values: asked again (one 304 when unchanged), or, with a background
        refresh, the last ones it received."""
        with self._lock:
            if self._refresher is not None and self._values is not None:
                return dict(self._values)
            return dict(self._pull())

    def get(self, key: str, default: str | None = None) -> str | None:
        return self.secrets().get(key, default)

    # ------------------------------------------------------------------ background refresh

    def _refresh_every(self, interval: float) -> None:
        while not self._stop.wait(interval):
            try:
                with self._lock:
                    self._pull()
                self.last_error = None
            except StrongroomError as exc:
                self.last_error = exc  # the last values stay; secrets() keeps answering them

    def close(self) -> None:
        self._stop.set()
        if self._refresher is not None:
            self._refresher.join(timeout=5)

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _json(body: bytes) -> dict[str, Any]:
    try:
        data = json.loads(body)
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}
