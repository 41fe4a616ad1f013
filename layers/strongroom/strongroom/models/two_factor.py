"""TOTP two-factor authentication (/v1/me/2fa)."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field, StringConstraints

from strongroom.http.shown_once import ShownOnce
from strongroom.models.common import Request, Response

# A 6-digit TOTP code, or a recovery code (`xxxxx-xxxxx`).
SecondFactorCode = Annotated[str, StringConstraints(min_length=6, max_length=16, pattern=r"^[0-9A-Za-z -]+$")]


class TwoFactorCode(Request):
    code: SecondFactorCode = Field(description="A current 6-digit code, or (to turn 2FA off) a recovery code")


class TwoFactorSetup(Response):
    secret: ShownOnce = Field(description="The TOTP secret (base32), shown this once")
    otpauth_uri: ShownOnce = Field(description="otpauth://totp/… for an authenticator app (or its QR code)")


class TwoFactorEnabled(Response):
    recovery_codes: list[ShownOnce] = Field(description="10 single-use recovery codes, shown this once")
