"""The caller's own account (/v1/me), its second factor (TOTP), personal access tokens, and device
login (RFC 8628)."""

from __future__ import annotations

from typing import Annotated

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.openapi.params import Path, Query

from strongroom.domain import device, e2e, identity, orgs, pats, two_factor
from strongroom.http.app import build_app, make_handler
from strongroom.http.params import REF_PATTERN, created, no_content
from strongroom.models import (
    DeviceApprove,
    DeviceStart,
    DeviceStartBody,
    DeviceToken,
    DeviceTokenBody,
    MyPermissions,
    PersonalTokenCreate,
    PersonalTokenCreated,
    PersonalTokenList,
    TwoFactorCode,
    TwoFactorEnabled,
    TwoFactorSetup,
    User,
    UserKeys,
    UserKeysPut,
    UserPatch,
)

app = build_app()


@app.get("/v1/me")
def get_me() -> User:
    return identity.me()


@app.patch("/v1/me")
def patch_me(body: UserPatch) -> User:
    return identity.update_me(body)


@app.get("/v1/me/keys")
def get_my_keys() -> UserKeys:
    """The caller's end-to-end key pairs: public keys, and private keys as the client sealed them."""
    return e2e.my_keys()


@app.put("/v1/me/keys")
def put_my_keys(body: UserKeysPut) -> UserKeys:
    """Replace the caller's key pairs (one per suite; the private key sealed under a passphrase by
    the client, opaque to the server)."""
    return e2e.put_my_keys(body)


OrgQuery = Annotated[str, Query(pattern=REF_PATTERN, description="Org ID (org_…) or slug")]


@app.get("/v1/me/permissions")
def get_my_permissions(org: OrgQuery) -> MyPermissions:
    return orgs.my_permissions(org)


# --------------------------------------------------------------------------- two-factor authentication


@app.post("/v1/me/2fa/setup")
def setup_two_factor() -> TwoFactorSetup:
    """A new TOTP secret (shown this once) until a code enables it."""
    return two_factor.setup()


@app.post("/v1/me/2fa/enable")
def enable_two_factor(body: TwoFactorCode) -> TwoFactorEnabled:
    """A code of the pending secret turns 2FA on; the 10 recovery codes are shown this once."""
    return two_factor.enable(body)


@app.delete("/v1/me/2fa", responses={204: {"description": "Two-factor authentication is off"}})
def disable_two_factor(body: TwoFactorCode) -> Response[str]:
    """Needs a current code or a recovery code."""
    two_factor.disable(body)
    return no_content()


# --------------------------------------------------------------------------- personal access tokens

PatRef = Annotated[str, Path(pattern=REF_PATTERN, description="Token ID (pat_…)")]


@app.get("/v1/auth/tokens")
def list_personal_tokens() -> PersonalTokenList:
    return PersonalTokenList(data=pats.list_mine())


@app.post("/v1/auth/tokens", responses={201: {"description": "Created; `token` is shown this once"}})
def create_personal_token(body: PersonalTokenCreate) -> Response[PersonalTokenCreated]:
    """A token that acts as you, optionally only in some orgs, read-only, expiring."""
    return created(pats.create(body))


@app.delete("/v1/auth/tokens/<id>", responses={204: {"description": "Revoked"}})
def revoke_personal_token(id: PatRef) -> Response[str]:  # noqa: A002 - the contract's name
    pats.revoke(id)
    return no_content()


# --------------------------------------------------------------------------- device login (RFC 8628)


@app.post("/v1/auth/device/start")
def device_start(body: DeviceStartBody) -> DeviceStart:
    """No credentials. Show `user_code` to the user; poll /v1/auth/device/token every `interval`."""
    event = app.current_event
    host = (event.headers or {}).get("host", "localhost")
    scheme = (event.headers or {}).get("x-forwarded-proto", "https" if "." in host else "http")
    # The console's device page, on the API's own origin (functions/console serves it).
    return device.start(f"{scheme}://{host}/device", body.client_name)


@app.post("/v1/auth/device/approve", responses={204: {"description": "Approved (or denied)"}})
def device_approve(body: DeviceApprove) -> Response[str]:
    """A signed-in user approves (or denies) the login showing this user code."""
    device.approve(body.user_code.get_secret_value(), deny=body.deny)
    return no_content()


@app.post("/v1/auth/device/token")
def device_token(body: DeviceTokenBody) -> DeviceToken:
    """No credentials. 400 with code authorization_pending, slow_down, expired_token,
    access_denied or invalid_grant (RFC 8628), or the personal access token, once."""
    return device.token(body.device_code.get_secret_value())


lambda_handler = make_handler(app)
