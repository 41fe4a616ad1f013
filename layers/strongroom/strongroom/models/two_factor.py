"""TOTP two-factor authentication (/v1/me/2fa)."""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import AfterValidator, Field, SecretStr

from strongroom.http.shown_once import ShownOnce
from strongroom.models.common import Request, Response

_CODE_CHARS = r"^[0-9A-Za-z -]+$"


def _code_chars(code: SecretStr) -> SecretStr:
    if not re.fullmatch(_CODE_CHARS, code.get_secret_value()):
        raise ValueError("digits, letters, spaces and dashes only")
    return code


# A 6-digit TOTP code, or a recovery code (`xxxxx-xxxxx`). A SecretStr, like a password: what
# logs the parsed request (Powertools at DEBUG) shows it masked.
SecondFactorCode = Annotated[
    SecretStr,
    Field(min_length=6, max_length=16, json_schema_extra={"pattern": _CODE_CHARS}),
    AfterValidator(_code_chars),
]


class TwoFactorCode(Request):
    code: SecondFactorCode = Field(description="A current 6-digit code, or (to turn 2FA off) a recovery code")


class TwoFactorSetup(Response):
    secret: ShownOnce = Field(description="The TOTP secret (base32), shown this once")
    otpauth_uri: ShownOnce = Field(description="otpauth://totp/… for an authenticator app (or its QR code)")


class TwoFactorEnabled(Response):
    recovery_codes: list[ShownOnce] = Field(description="10 single-use recovery codes, shown this once")
