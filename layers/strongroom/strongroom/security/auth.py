"""Authentication: who is calling. One function, `authenticate`, called for every non-public route.

- `X-Strongroom-Dev-User: <email>` only when AUTH_MODE=dev (refused otherwise);
- `Authorization: Bearer sr_<kind>_…`: dispatched to the verifier registered for that kind
  (service, personal and SCIM tokens register themselves);
- `Authorization: Bearer <JWT>`: a session token of this stack (HS256, its kid: the session item
  decides, domain/accounts.py), else an OIDC token verified against the issuer's JWKS;
- the `sr_session` cookie (a session token) when neither header is sent: a mutating request so
  authenticated also needs `X-Requested-With: strongroom`, else 403 `csrf`.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from typing import TYPE_CHECKING, Any

from strongroom.config import AuthMode, settings
from strongroom.context import Principal
from strongroom.errors import Forbidden, Unauthorized
from strongroom.security import sessions

if TYPE_CHECKING:
    import jwt

DEV_HEADER = "x-strongroom-dev-user"
ALLOWED_ALGORITHMS = frozenset({"RS256", "ES256", "EdDSA"})
CLOCK_SKEW_SECONDS = 30
_DEV_EMAIL = re.compile(r"^[^@\s]{1,64}@[A-Za-z0-9.-]{1,190}$")

# Token kind ("pat", "svc", "scim") -> verifier(token, source_ip) -> Principal.
TokenVerifier = Callable[[str, str], Principal]
_token_verifiers: dict[str, TokenVerifier] = {}


def _service_token(token: str, source_ip: str) -> Principal:
    from strongroom.domain import tokens  # noqa: PLC0415 - only token requests load it

    return tokens.verify(token, source_ip)


def _personal_token(token: str, source_ip: str) -> Principal:
    from strongroom.domain import pats  # noqa: PLC0415 - only token requests load it

    return pats.verify(token, source_ip)


def _scim_token(token: str, source_ip: str) -> Principal:
    from strongroom.domain import scim_tokens  # noqa: PLC0415 - only token requests load it

    return scim_tokens.verify(token, source_ip)


def _agent_secret(token: str, source_ip: str) -> Principal:
    from strongroom.domain import agents  # noqa: PLC0415 - only agent requests load it

    return agents.verify(token, source_ip)


_token_verifiers["svc"] = _service_token
_token_verifiers["pat"] = _personal_token
_token_verifiers["scim"] = _scim_token
_token_verifiers["agt"] = _agent_secret
# An agent may also send its secret as `X-Agent-Secret: sr_agt_…` (the broker's header).
AGENT_HEADER = "x-agent-secret"


def register_token_verifier(kind: str, verifier: TokenVerifier) -> None:
    _token_verifiers[kind] = verifier


def authenticate(
    headers: Mapping[str, str], source_ip: str, *, cookies: Sequence[str] = (), method: str = "GET"
) -> Principal:
    """Headers are lower-cased (HTTP API v2); `cookies` are the event's ("name=value"). Raises
    Unauthorized; never says why a token failed beyond a generic reason, and never echoes the
    credential."""
    cfg = settings()
    dev_user = headers.get(DEV_HEADER)
    authorization = headers.get("authorization", "")
    if AGENT_HEADER in headers:
        return _agent_header(headers, source_ip)
    if dev_user is None and "authorization" not in headers and (cookie := sessions.cookie_value(list(cookies))):
        return _cookie_principal(cookie, method, headers)
    if dev_user is not None:
        if cfg.auth_mode is not AuthMode.DEV:
            raise Unauthorized("the dev identity header is only accepted when the stack runs with AUTH_MODE=dev")
        if "authorization" in headers:
            # Two credentials are ambiguous; never let one silently win over the other.
            raise Unauthorized("send either Authorization or X-Strongroom-Dev-User, not both")
        return _dev_principal(dev_user.strip())

    scheme, _, credential = authorization.partition(" ")
    credential = credential.strip()
    if scheme.lower() != "bearer" or not credential:
        raise Unauthorized("missing bearer token", headers={"WWW-Authenticate": 'Bearer realm="strongroom"'})
    if credential.startswith("sr_"):
        kind = credential[3:].split("_", 1)[0]
        verifier = _token_verifiers.get(kind)
        if verifier is None:
            raise Unauthorized("invalid token")
        return verifier(credential, source_ip)
    if sessions.is_session_token(credential):
        return _session_principal(credential)
    return _oidc_principal(credential)


def _agent_header(headers: Mapping[str, str], source_ip: str) -> Principal:
    """`X-Agent-Secret: sr_agt_…`, alone (two credentials are ambiguous)."""
    if DEV_HEADER in headers or "authorization" in headers:
        raise Unauthorized("send one credential: X-Agent-Secret alone")
    agent_secret = headers[AGENT_HEADER].strip()
    if not agent_secret.startswith("sr_agt_"):
        raise Unauthorized("invalid token")
    return _agent_secret(agent_secret, source_ip)


def _cookie_principal(token: str, method: str, headers: Mapping[str, str]) -> Principal:
    """The session of the `sr_session` cookie; a mutation so signed in needs the CSRF header."""
    if not sessions.csrf_ok(method, headers):
        raise Forbidden(
            "a request signed in by cookie that changes something needs the header X-Requested-With: strongroom",
            code="csrf",
        )
    return _session_principal(token)


def _session_principal(token: str) -> Principal:
    from strongroom.domain import accounts  # noqa: PLC0415 - only session requests load it

    return accounts.verify(token)


def _dev_principal(email: str) -> Principal:
    from strongroom.data import keys, users  # noqa: PLC0415

    if not _DEV_EMAIL.match(email):
        raise Unauthorized("the dev identity header must be an email address")
    # The dev header is the operator's own assertion of the email (AUTH_MODE=dev, local only).
    _read_ahead(keys.user_email(email))
    user = users.by_email(email) or _provision(email, via="dev")
    return _user_principal(user, via="dev")


def _read_ahead(pointer: dict[str, str]) -> None:
    """The caller (by this email or identity pointer) and what the route names, in a few batches
    (data/readahead.py); the reads below are answered from them."""
    from strongroom.data import readahead  # noqa: PLC0415

    readahead.user_request(pointer, lambda item: readahead.Caller(str(item["user_id"])) if item else None)


def _user_principal(user: Any, *, via: str) -> Principal:
    return Principal(
        type="user",
        id=user.id,
        email=user.email,
        email_verified=user.email_verified,
        via=via,
        two_factor=user.two_factor_enabled,
    )


def _provision(
    email: str, *, via: str, issuer: str | None = None, subject: str | None = None, replacing: Any = None
) -> Any:
    """A user for a verified email (its caller checked that); `replacing` is the unverified record
    that held the email, which is no identity for it."""
    from strongroom.context import acting_as  # noqa: PLC0415
    from strongroom.data import users  # noqa: PLC0415
    from strongroom.errors import Conflict  # noqa: PLC0415

    # The audit actor of a self-provisioning is the sign-up itself (no principal yet).
    with acting_as(Principal(type="system", id="signup", via=via)):
        try:
            return users.create(
                email, email.split("@", 1)[0], issuer=issuer, subject=subject, via=via, replacing=replacing
            )
        except Conflict:
            # Raced with a concurrent first request of the same user.
            found = users.by_identity(issuer, subject) if issuer and subject else users.by_email(email)
            if found is None:
                raise
            return found


# --------------------------------------------------------------------------- OIDC


@dataclass(slots=True)
class _Jwks:
    client: jwt.PyJWKClient
    last_forced_refresh: float = float("-inf")


@cache
def _jwks_client(url: str) -> _Jwks:
    import jwt  # noqa: PLC0415

    # cache_keys=False: the JWK set itself is cached for 300 s, so a key the issuer withdraws stops
    # verifying within that time (a per-kid memo would trust it for the container's whole life).
    return _Jwks(jwt.PyJWKClient(url, cache_keys=False, lifespan=300, timeout=3))


def _signing_keys(url: str, *, refresh: bool, guarded: bool = False) -> list[Any]:
    """The issuer's signing keys (cached 300 s). An unreachable or unusable JWKS is the issuer's
    failure, not the caller's: 503. `guarded`: a client-configured issuer's (a machine identity's),
    fetched through netguard by oidc_rp."""
    import jwt  # noqa: PLC0415

    from strongroom.errors import Unavailable  # noqa: PLC0415

    if guarded:
        from strongroom.security import oidc_rp  # noqa: PLC0415

        return oidc_rp.signing_keys(url, refresh=refresh)
    try:
        return _jwks_client(url).client.get_signing_keys(refresh=refresh)
    except jwt.PyJWKClientConnectionError:
        raise Unavailable("the identity provider's keys could not be fetched") from None
    except (jwt.PyJWKClientError, jwt.PyJWKSetError, jwt.PyJWKError, ValueError):
        raise Unavailable("the identity provider's keys could not be read") from None


_REFRESH_COOLDOWN_SECONDS = 30.0
# A machine identity's JWKS URL -> when an unknown kid last made its set be fetched again
_forced_refreshes: dict[str, float] = {}


def _signing_key(url: str, kid: str, *, guarded: bool = False) -> Any:
    """The key with this kid. An unknown kid refreshes the set (the issuer may have rotated), at
    most once per 30 s per issuer, so tokens with made-up kids cannot make every request fetch it."""
    import time  # noqa: PLC0415

    found = next((k for k in _signing_keys(url, refresh=False, guarded=guarded) if k.key_id == kid), None)
    last = _forced_refreshes.get(url, float("-inf")) if guarded else _jwks_client(url).last_forced_refresh
    if found is None and time.monotonic() - last >= _REFRESH_COOLDOWN_SECONDS:
        if guarded:
            if len(_forced_refreshes) >= 1024:
                _forced_refreshes.clear()
            _forced_refreshes[url] = time.monotonic()
        else:
            _jwks_client(url).last_forced_refresh = time.monotonic()
        found = next((k for k in _signing_keys(url, refresh=True, guarded=guarded) if k.key_id == kid), None)
    if found is None:
        raise Unauthorized("invalid token")
    return found


def decode_jwt(token: str, signing_key: Callable[[str], Any], *, issuer: str, audience: str) -> dict[str, Any]:
    """The claims of a JWT, verified: alg allow-list, signature by `signing_key(kid)` (whose own
    algorithm, when the JWK names one, must be the token's), iss, aud, exp, nbf (30 s of skew),
    `sub` present. Any failure is a 401 with a generic message. For every issuer: the stack's own
    (user sign-in, below) and the machine identities' (domain/identities.py)."""
    import jwt  # noqa: PLC0415

    try:
        header = jwt.get_unverified_header(token)
    except jwt.PyJWTError:
        raise Unauthorized("invalid token") from None
    alg = header.get("alg")
    if alg not in ALLOWED_ALGORITHMS or not header.get("kid"):
        raise Unauthorized("invalid token")
    key = signing_key(str(header["kid"]))
    key_alg = getattr(key, "algorithm_name", None)
    if key_alg and key_alg != alg:
        raise Unauthorized("invalid token")
    try:
        return jwt.decode(
            token,
            key.key,
            algorithms=[alg],
            audience=audience,
            issuer=issuer,
            leeway=CLOCK_SKEW_SECONDS,
            options={"require": ["exp", "iss", "aud", "sub"], "verify_nbf": True},
        )
    except jwt.PyJWTError:
        raise Unauthorized("invalid token") from None


def verify_jwt(token: str) -> dict[str, Any]:
    """Verify an OIDC JWT of the configured issuer against its JWKS (decode_jwt)."""
    cfg = settings()
    if not cfg.oidc_issuer:
        raise Unauthorized("invalid token")
    return decode_jwt(
        token, lambda kid: _signing_key(cfg.jwks_url, kid), issuer=cfg.oidc_issuer, audience=cfg.oidc_audience
    )


# --------------------------------------------------------------------------- machine identities' issuers


def verify_issuer_jwt(token: str, *, issuer: str, audience: str) -> dict[str, Any]:
    """A JWT of a client-configured issuer (a machine identity's), verified as decode_jwt does,
    with the keys of the JWKS its discovery document names (both fetched through netguard by
    oidc_rp; an unknown kid fetches the set again at most once per 30 s, as for the stack's own
    issuer, so JWTs with made-up kids cannot make every exchange call the issuer)."""
    from strongroom.security import oidc_rp  # noqa: PLC0415

    def key(kid: str) -> Any:
        return _signing_key(oidc_rp.jwks_uri(issuer), kid, guarded=True)

    return decode_jwt(token, key, issuer=issuer, audience=audience)


def _oidc_principal(token: str) -> Principal:
    """The user of an OIDC token. A known (iss, sub) is its user. An unknown one is provisioned,
    or linked to the account holding its email, only on an email the issuer says it verified
    (`email_verified: true`): an unverified email never provisions, links or takes anything over,
    so nobody can sign in first with someone else's address and wait for them. An account whose
    email is unverified (stored before the flag existed) is no identity for that email: a verified
    sign-in of another subject gets an account of its own and the email; the record's own subject
    verifies it by signing in with `email_verified: true` while the email is still its own."""
    from strongroom.data import keys, users  # noqa: PLC0415

    claims = verify_jwt(token)
    issuer, subject = str(claims["iss"]), str(claims["sub"])
    verified = claims.get("email_verified") is True
    email = str(claims.get("email") or "").lower()
    _read_ahead(keys.user_identity(issuer, subject))
    known = users.by_identity(issuer, subject)
    if known is not None:
        if known.email_verified or not verified or email != known.email:
            return _user_principal(known, via="oidc")
        proven = _as_actor(known, lambda: users.mark_verified(known, issuer), fallback=known)
        return _user_principal(proven, via="oidc")
    if not _DEV_EMAIL.match(email):
        raise Unauthorized("the identity token carries no email address")
    if not verified:
        raise Unauthorized("your identity provider has not verified your email address; verify it there first")
    existing = users.by_email(email)
    if existing is not None and existing.email_verified:
        _as_actor(existing, lambda: users.link_identity(existing, issuer, subject), fallback=None)
        linked = users.by_identity(issuer, subject)  # this link, or a concurrent first request's
        if linked is None:
            raise Unauthorized("this sign-in could not be linked to its account; retry")
        return _user_principal(linked, via="oidc")
    user = _provision(email, via="oidc", issuer=issuer, subject=subject, replacing=existing)
    return _user_principal(user, via="oidc")


def _as_actor(user: Any, write: Callable[[], Any], *, fallback: Any) -> Any:
    """`write()` with `user` as the audit actor (authentication runs before there is a principal);
    `fallback` when the write lost a race (its conditions no longer held)."""
    from strongroom.context import current  # noqa: PLC0415
    from strongroom.errors import Conflict  # noqa: PLC0415

    ctx = current()
    ctx.principal = _user_principal(user, via="oidc")
    try:
        return write()
    except Conflict:
        return fallback
    finally:
        ctx.principal = None
