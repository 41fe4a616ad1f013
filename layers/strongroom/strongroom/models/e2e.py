"""End-to-end encrypted environments: users' key pairs, grants, rekeys. The server checks shapes
and lengths only; every byte string here is opaque to it (docs/design.md, "End-to-end encrypted
environments")."""

from __future__ import annotations

import base64
import binascii
import re
from typing import Annotated, Any, Literal, Self

from pydantic import Field, SecretStr, StringConstraints, model_validator

from strongroom.models.common import Items, Request, Response
from strongroom.models.secrets import SecretName

SuiteName = Literal["xwing", "x25519"]
# Raw public key bytes per suite: X-Wing is the ML-KEM-768 encapsulation key (1184) ‖ X25519 (32).
PUBLIC_KEY_BYTES: dict[str, int] = {"xwing": 1216, "x25519": 32}
# A grant is HPKE `enc ‖ ciphertext` of a 32-byte data key: enc (1120 for X-Wing, 32 for X25519)
# + 32 + the 16-byte AES-GCM tag.
WRAPPED_KEY_BYTES: dict[str, int] = {"xwing": 1120 + 48, "x25519": 32 + 48}
MAX_SEALED_PRIVATE_KEY = 8192  # base64 characters: a seed sealed under a passphrase, with its parameters
# A client value: base64(nonce(12) ‖ ciphertext ‖ tag(16)) of at most 64 KiB of plaintext.
MIN_VALUE_BYTES = 12 + 16
MAX_CLIENT_VALUE_CHARS = 4 * ((65536 + MIN_VALUE_BYTES + 2) // 3)
ENV_ID_PATTERN = r"^env_[0-9a-hjkmnp-tv-z]{26}$"
TOKEN_ID_PATTERN = r"^tok_[0-9a-hjkmnp-tv-z]{26}$"  # noqa: S105 - an ID pattern
GRANT_ID_PATTERN = r"^grt_[0-9a-hjkmnp-tv-z]{26}$"
_B64 = re.compile(r"^[A-Za-z0-9+/]*={0,2}$")

MAX_GRANTS = 500  # per environment (and so per rekey)
_B64_PATTERN = r"^[A-Za-z0-9+/]*={0,2}$"


def _b64_chars(size: int) -> int:
    return 4 * -(-size // 3)


# Each at most its largest suite's length (the exact length per suite is checked with the suite).
PublicKeyText = Annotated[
    str, StringConstraints(pattern=_B64_PATTERN, min_length=4, max_length=_b64_chars(max(PUBLIC_KEY_BYTES.values())))
]
WrappedKeyText = Annotated[
    str, StringConstraints(pattern=_B64_PATTERN, min_length=4, max_length=_b64_chars(max(WRAPPED_KEY_BYTES.values())))
]
Base64 = PublicKeyText  # a client-made token's public key
KeyVersion = Annotated[int, Field(ge=1, le=1_000_000)]


def b64_length(value: str) -> int | None:
    """The decoded length of a strict (padded, standard alphabet) base64 string, else None."""
    if not _B64.match(value) or len(value) % 4:
        return None
    try:
        return len(base64.b64decode(value, validate=True))
    except (binascii.Error, ValueError):
        return None


def _field_error(name: str, issue: str) -> ValueError:
    return ValueError(f"{name}: {issue}")


ClientValue = Annotated[str, StringConstraints(max_length=MAX_CLIENT_VALUE_CHARS)]


class PublicKey(Response):
    suite: SuiteName
    public_key: str = Field(description="base64 of the raw public key (32 bytes x25519, 1216 bytes xwing)")


class UserKeyPut(Request):
    suite: SuiteName = Field(description="`xwing` (ML-KEM-768 + X25519, the default) or `x25519`")
    public_key: PublicKeyText
    # A SecretStr: sealed under a passphrase, still material for guessing it offline, so it is in
    # no log (Powertools logs parsed route arguments at DEBUG) and no repr.
    encrypted_private_key: Annotated[SecretStr, Field(min_length=4, max_length=MAX_SEALED_PRIVATE_KEY)] = Field(
        description="The private key sealed under the user's passphrase by the client: opaque to the server"
    )

    @model_validator(mode="after")
    def _lengths(self) -> Self:
        if b64_length(self.public_key) != PUBLIC_KEY_BYTES[self.suite]:
            raise _field_error("public_key", f"a {self.suite} public key is {PUBLIC_KEY_BYTES[self.suite]} bytes")
        return self

    def __repr__(self) -> str:
        return f"UserKeyPut(suite={self.suite!r}, public_key=…, encrypted_private_key=…)"

    __str__ = __repr__


class UserKeysPut(Request):
    keys: list[UserKeyPut] = Field(min_length=1, max_length=2, description="At most one key per suite")

    @model_validator(mode="after")
    def _one_per_suite(self) -> Self:
        suites = [k.suite for k in self.keys]
        if len(set(suites)) != len(suites):
            raise _field_error("keys", "at most one key per suite")
        return self


class UserKey(Response):
    suite: SuiteName
    public_key: str
    encrypted_private_key: str
    created_at: str


class UserKeys(Items[UserKey]):
    """The caller's key pairs (`data`), one per suite."""


class GrantBody(Request):
    """An environment's data key sealed to a principal's public key (HPKE, `info` =
    "strongroom grant v1:<env_id>:<key_version>")."""

    suite: SuiteName
    wrapped_key: WrappedKeyText = Field(description="base64(enc ‖ ciphertext)")

    def __repr_args__(self) -> Any:  # no ciphertext in a log line (route arguments are logged at DEBUG)
        for name, value in super().__repr_args__():
            yield name, ("…" if name == "wrapped_key" else value)

    @model_validator(mode="after")
    def _length(self) -> Self:
        if b64_length(self.wrapped_key) != WRAPPED_KEY_BYTES[self.suite]:
            raise _field_error(
                "wrapped_key", f"a {self.suite} grant of a 32-byte key is {WRAPPED_KEY_BYTES[self.suite]} bytes"
            )
        return self


class Principal(Request):
    type: Literal["user", "token"]
    id: Annotated[str, StringConstraints(pattern=r"^(usr|tok)_[0-9a-hjkmnp-tv-z]{26}$")]

    @model_validator(mode="after")
    def _prefix(self) -> Self:
        if not self.id.startswith("usr_" if self.type == "user" else "tok_"):
            raise _field_error("id", f"a {self.type} id starts with {'usr_' if self.type == 'user' else 'tok_'}")
        return self


class GrantCreate(GrantBody):
    principal: Principal
    key_version: KeyVersion = Field(description="The environment's current key version")


class PrincipalView(Response):
    type: Literal["user", "token"]
    id: str


class Grant(Response):
    id: str
    principal: PrincipalView
    suite: SuiteName
    wrapped_key: str
    key_version: int
    created_at: str
    created_by: str


class GrantList(Items[Grant]):
    pass


class EnvironmentKey(Response):
    """The caller's grant: what it needs to open the environment's data key."""

    id: str
    suite: SuiteName
    wrapped_key: str
    key_version: int


class RekeyGrant(GrantBody):
    principal: Principal


class Rekey(Request):
    key_version: KeyVersion = Field(description="The new key version: the current one + 1")
    grants: list[RekeyGrant] = Field(min_length=1, max_length=MAX_GRANTS, description="Every principal's new grant")
    values: dict[SecretName, ClientValue] = Field(
        max_length=25_000, description="Every live key's value, encrypted under the new key"
    )

    def __repr_args__(self) -> Any:  # no ciphertext in a log line: how many values, not what
        for name, value in super().__repr_args__():
            yield name, (f"<{len(self.values)} values>" if name == "values" else value)


class Rekeyed(Response):
    key_version: int
    revision: int
    grants: int
    values: int


def client_value_issue(value: str) -> str | None:
    """Why `value` is not a client ciphertext (base64 of nonce ‖ ciphertext ‖ tag), or None."""
    if len(value) > MAX_CLIENT_VALUE_CHARS:
        return "longer than the ciphertext of 64 KiB"
    size = b64_length(value)
    if size is None:
        return "not base64"
    if size < MIN_VALUE_BYTES:
        return "shorter than a nonce and a tag"
    return None
