"""Service tokens: one environment's credential for machines."""

from __future__ import annotations

from typing import Annotated, Literal, Self

from pydantic import AwareDatetime, Field, StringConstraints, model_validator

from strongroom.http.shown_once import ShownOnce
from strongroom.models.common import (
    Name,
    Page,
    Request,
    Response,
)
from strongroom.models.e2e import PUBLIC_KEY_BYTES, TOKEN_ID_PATTERN, Base64, SuiteName, b64_length

MAX_CIDRS = 20


class ServiceTokenCreate(Request):
    name: Name
    project: Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_-]{1,64}$")] = Field(description="ID or slug")
    environment: Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_-]{1,64}$")] = Field(description="ID or slug")
    permissions: list[Literal["read", "write"]] = Field(
        default=["read"], min_length=1, max_length=2, description='["read"] or ["read", "write"]'
    )
    expires_at: AwareDatetime | None = None
    allowed_cidrs: list[Annotated[str, StringConstraints(min_length=1, max_length=64)]] = Field(
        default_factory=list, max_length=MAX_CIDRS, description="Source networks allowed (API Gateway's view)"
    )
    # A client-made token (a client-encrypted environment's): the client made the token
    # (`sr_svc_<26>_<32 base62><6 base62 CRC-32>`) and its key pair; the server stores its ID, the
    # SHA-256 of the whole token string and the public key its grant is sealed to.
    token_id: Annotated[str, StringConstraints(pattern=TOKEN_ID_PATTERN)] | None = Field(
        default=None, description='A client-made token\'s ID: "tok_" + 26 lower-case Crockford base32 characters'
    )
    token_hash: Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{64}$")] | None = Field(
        default=None, description="SHA-256 (lower-case hex) of the whole token string"
    )
    public_key: Base64 | None = Field(default=None, description="base64 of the token's raw public key")
    suite: SuiteName | None = None

    @model_validator(mode="after")
    def _client_made(self) -> Self:
        given = [self.token_id, self.token_hash, self.public_key, self.suite]
        if any(v is not None for v in given) and any(v is None for v in given):
            raise ValueError("a client-made token names `token_id`, `token_hash`, `public_key` and `suite`")
        if self.suite is not None and b64_length(self.public_key or "") != PUBLIC_KEY_BYTES[self.suite]:
            raise ValueError(f"public_key: a {self.suite} public key is {PUBLIC_KEY_BYTES[self.suite]} bytes")
        return self

    @property
    def client_made(self) -> bool:
        return self.token_id is not None


class ServiceToken(Response):
    id: str
    name: str
    project_id: str
    environment_id: str
    permissions: list[str]
    expires_at: str | None = None
    allowed_cidrs: list[str] = Field(default=[])
    created_at: str
    created_by: str
    rotated_at: str | None = None
    last_used_at: str | None = None
    identity_id: str | None = Field(default=None, description="The machine identity it was issued to, if any")
    suite: str | None = Field(default=None, description="A client-made token's suite")
    public_key: str | None = Field(default=None, description="A client-made token's public key")


class ServiceTokenCreated(ServiceToken):
    token: ShownOnce | None = Field(
        default=None,
        description="Shown once (sr_svc_…). Stored only as a SHA-256 hash. Absent for a client-made token "
        "(its client holds it).",
    )


class ServiceTokenList(Page[ServiceToken]):
    pass
