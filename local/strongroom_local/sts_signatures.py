"""SigV4 signatures checked for moto's STS GetCallerIdentity.

moto answers GetCallerIdentity for any request, signed or not, well or badly: it reads the access
key ID from the Authorization header and never checks the signature (its IAM authentication,
which does, is all-or-nothing per process and would refuse the stack's own fake credentials on
every DynamoDB call). A machine identity's token exchange (security/sts.py) relies on STS
refusing a signature that is not the key holder's, so here GetCallerIdentity alone checks it as
STS does, with moto's own checker (moto.iam.access_control: the canonical request recomputed
with the secret moto issued for the key, an IAM user's or an assumed role's, and its session
token compared), before moto answers. A request without a signature, with a key moto never
issued, or with a signature that does not match is refused with STS's error.
"""

from __future__ import annotations

from typing import Any

_PATCHED = "_strongroom_checks_signatures"


def check_sts_signatures() -> None:
    """Make moto's STS GetCallerIdentity verify the request's SigV4 signature (idempotent)."""
    from moto.core.exceptions import InvalidClientTokenIdError  # noqa: PLC0415 - moto loads lazily
    from moto.iam.access_control import IAMRequest  # noqa: PLC0415
    from moto.sts.responses import TokenResponse  # noqa: PLC0415

    if getattr(TokenResponse, _PATCHED, False):
        return
    answer = TokenResponse.get_caller_identity

    def get_caller_identity(self: Any) -> Any:
        if "Authorization" not in self.headers:
            raise InvalidClientTokenIdError()
        IAMRequest(
            account_id=self.current_account,
            method=self.method,
            path=self.raw_path,
            data=self.data,
            body=self.raw_body,
            headers=self.headers,
            action="GetCallerIdentity",
        ).check_signature()
        return answer(self)

    TokenResponse.get_caller_identity = get_caller_identity  # type: ignore[method-assign]
    setattr(TokenResponse, _PATCHED, True)
