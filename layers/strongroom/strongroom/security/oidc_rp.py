"""Strongroom as an OpenID Connect relying party (an org's single sign-on, domain/sso.py).

- `discover(issuer)`: the issuer's discovery document (`/.well-known/openid-configuration`),
  whose `issuer` must be the configured one exactly (OIDC Discovery 1.0, section 4.3); cached 300 s.
- `exchange(...)`: the authorization code for tokens at the token endpoint, authenticated with
  `client_secret_basic` (RFC 6749, section 2.3.1: id and secret form-encoded, then Basic), with the
  PKCE verifier (RFC 7636).
- `check_id_token(...)`: the ID token's checks (OIDC Core 1.0, section 3.1.3.7), pure: an algorithm
  of the allow-list (never `none`, never HMAC: a client secret is no key here), a signature by a
  key of the issuer's JWKS with that kid, `iss`, `aud` (and `azp` when there are several
  audiences), `exp`, `iat`, and the `nonce` this sign-in sent.
- `signing_keys(jwks_uri)`: PyJWKClient (its JWK-set cache, 300 s) fetching through the same guard.

Every outbound call goes through netguard (security/netguard.py): https only outside dev mode
(http to loopback in dev mode), public addresses only (else 422 `issuer_refused`), the connection pinned to the checked
address (no second DNS answer), no redirects followed, bodies of at most MAX_BODY bytes. Nothing
here logs or raises a token, a code or a secret.
"""

from __future__ import annotations

import base64
import hmac
import ssl
import time
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from typing import TYPE_CHECKING, Any
from urllib.parse import SplitResult, quote, urlsplit, urlunsplit

from strongroom.config import AuthMode, settings
from strongroom.errors import Unauthorized, Unavailable, Unprocessable
from strongroom.observability import logger

if TYPE_CHECKING:
    import httpx
    import jwt

ALGORITHMS = ("RS256", "PS256", "ES256", "EdDSA")
LEEWAY_SECONDS = 30
TIMEOUT_SECONDS = 5.0
MAX_BODY = 256 * 1024
DISCOVERY_TTL_SECONDS = 300.0
# What verifies an issuer's TLS certificate: httpx's default (certifi's CA bundle); tests that run
# an https issuer of their own put an ssl.SSLContext trusting its CA here.
tls_verify: ssl.SSLContext | bool = True


class IdTokenRefused(Unauthorized):
    """The ID token fails one of the checks; the message says which, never what the token holds."""

    def __init__(self, message: str) -> None:
        super().__init__(message, code="invalid_id_token")


# --------------------------------------------------------------------------- guarded HTTP


def _dev() -> bool:
    return settings().auth_mode is AuthMode.DEV


def _request(method: str, url: str, **kwargs: Any) -> httpx.Response:
    """One request to the issuer through netguard: an address it refuses is 422 `issuer_refused`, an
    unreachable issuer 503 `idp_unavailable`."""
    import httpx  # noqa: PLC0415

    from strongroom.security.netguard import UnsafeUrl, check_url  # noqa: PLC0415

    try:
        addresses = check_url(url, allow_http_loopback=_dev())
    except UnsafeUrl as exc:
        logger.warning("identity provider address refused", extra={"reason": exc.reason})
        # The configuration names an issuer Strongroom will not call: the owner's to fix, not an outage.
        raise Unprocessable(
            f"the organization's identity provider is refused: {exc.reason}", code="issuer_refused"
        ) from None
    parts = urlsplit(url)
    headers = {"Host": parts.netloc, "Accept": "application/json", **kwargs.pop("headers", {})}
    sni = {"sni_hostname": parts.hostname or ""}
    response: httpx.Response | None = None
    failure = ""
    with httpx.Client(timeout=TIMEOUT_SECONDS, follow_redirects=False, trust_env=False, verify=tls_verify) as client:
        # Each address netguard checked, in its order, until one connects (an IPv6 address first
        # where the function has no IPv6 route, say); never a name resolved again.
        for address in addresses:
            try:
                response = client.request(method, _pinned(parts, address), headers=headers, extensions=sni, **kwargs)
                break
            except httpx.ConnectError as exc:
                failure = type(exc).__name__
            except httpx.HTTPError as exc:
                failure = type(exc).__name__
                break
    if response is None:
        logger.warning("identity provider unreachable", extra={"error_type": failure})
        raise Unavailable("the identity provider is unreachable", code="idp_unavailable")
    if len(response.content) > MAX_BODY:
        raise Unavailable("the identity provider's answer is too large", code="idp_unavailable")
    return response


def _pinned(parts: SplitResult, address: str) -> str:
    """The URL with the checked address in place of the name (the name goes as Host and SNI)."""
    netloc = f"[{address}]" if ":" in address else address
    if parts.port:
        netloc += f":{parts.port}"
    return urlunsplit((parts.scheme, netloc, parts.path or "/", parts.query, ""))


def _json(response: httpx.Response, what: str) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError:
        body = None
    if not isinstance(body, dict):
        raise Unavailable(f"the identity provider's {what} is not a JSON object", code="idp_unavailable")
    return body


# --------------------------------------------------------------------------- discovery


@dataclass(frozen=True, slots=True)
class Discovery:
    issuer: str
    authorization_endpoint: str
    token_endpoint: str
    jwks_uri: str


_discovered: dict[str, tuple[float, Discovery]] = {}


def discover(issuer: str) -> Discovery:
    now = time.monotonic()
    hit = _discovered.get(issuer)
    if hit is not None and hit[0] > now:
        return hit[1]
    response = _request("GET", issuer.rstrip("/") + "/.well-known/openid-configuration")
    if response.status_code != 200:
        raise Unavailable("the identity provider's discovery document could not be read", code="idp_unavailable")
    doc = _json(response, "discovery document")
    fields = ("authorization_endpoint", "token_endpoint", "jwks_uri")
    if doc.get("issuer") != issuer or not all(isinstance(doc.get(f), str) and doc[f] for f in fields):
        raise Unavailable(
            "the identity provider's discovery document does not match its issuer", code="idp_unavailable"
        )
    found = Discovery(issuer, *(str(doc[f]) for f in fields))
    _discovered[issuer] = (now + DISCOVERY_TTL_SECONDS, found)
    return found


# --------------------------------------------------------------------------- token endpoint


def basic_credentials(client_id: str, client_secret: str) -> str:
    """RFC 6749, section 2.3.1: each part form-encoded, then HTTP Basic."""
    pair = f"{quote(client_id, safe='')}:{quote(client_secret, safe='')}"
    return "Basic " + base64.b64encode(pair.encode()).decode()


def exchange(
    discovery: Discovery, *, code: str, redirect_uri: str, client_id: str, client_secret: str, verifier: str
) -> str:
    """The ID token for an authorization code (401 `sso_code_refused` when the issuer says no)."""
    response = _request(
        "POST",
        discovery.token_endpoint,
        headers={"Authorization": basic_credentials(client_id, client_secret)},
        data={
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": redirect_uri,
            "code_verifier": verifier,
        },
    )
    if response.status_code != 200:
        # The issuer's error code is a short ASCII token (RFC 6749, 5.2): safe to log, never the body.
        error = ""
        try:
            error = str(response.json().get("error", ""))[:64]
        except (ValueError, AttributeError):
            error = ""
        logger.info("identity provider refused the code", extra={"status": response.status_code, "idp_error": error})
        raise Unauthorized("the identity provider refused the authorization code", code="sso_code_refused")
    token = _json(response, "token response").get("id_token")
    if not isinstance(token, str) or not token:
        raise Unauthorized("the identity provider answered no ID token", code="sso_code_refused")
    return token


# --------------------------------------------------------------------------- keys


@cache
def _jwks_client(uri: str) -> jwt.PyJWKClient:
    import jwt  # noqa: PLC0415

    class GuardedJWKClient(jwt.PyJWKClient):
        def fetch_data(self) -> Any:
            response = _request("GET", self.uri)
            if response.status_code != 200:
                raise jwt.PyJWKClientConnectionError("the JWKS could not be fetched")
            data = _json(response, "JWKS")
            if self.jwk_set_cache is not None:
                self.jwk_set_cache.put(data)
            return data

    return GuardedJWKClient(uri, cache_keys=False, lifespan=300, timeout=int(TIMEOUT_SECONDS))


def signing_keys(jwks_uri: str, *, refresh: bool = False) -> list[jwt.PyJWK]:
    import jwt  # noqa: PLC0415

    try:
        return _jwks_client(jwks_uri).get_signing_keys(refresh=refresh)
    except (jwt.PyJWKClientError, jwt.PyJWKSetError, jwt.PyJWKError, ValueError):
        raise Unavailable("the identity provider's keys could not be read", code="idp_unavailable") from None


def keys_for(jwks_uri: str, token: str) -> list[jwt.PyJWK]:
    """The issuer's keys, fetched again once when the token's kid is not among the cached ones (the
    issuer rotated). The token came from the token endpoint itself, so this is no lever for others."""
    import jwt  # noqa: PLC0415

    keys = signing_keys(jwks_uri)
    try:
        kid = jwt.get_unverified_header(token).get("kid")
    except jwt.PyJWTError:
        return keys
    if kid and all(k.key_id != kid for k in keys):
        keys = signing_keys(jwks_uri, refresh=True)
    return keys


# --------------------------------------------------------------------------- the ID token


def _key_for(header: dict[str, Any], keys: Sequence[jwt.PyJWK]) -> jwt.PyJWK:
    alg, kid = header.get("alg"), header.get("kid")
    if alg not in ALGORITHMS:
        raise IdTokenRefused("the ID token's algorithm is not allowed")
    candidates = [k for k in keys if (k.key_id == kid if kid else True)]
    if not kid and len(candidates) != 1:
        raise IdTokenRefused("the ID token names no key")
    if not candidates:
        raise IdTokenRefused("the ID token is signed by an unknown key")
    key = candidates[0]
    if getattr(key, "algorithm_name", None) not in (None, alg):
        raise IdTokenRefused("the ID token's algorithm is not its key's")
    return key


def check_id_token(token: str, *, keys: Sequence[jwt.PyJWK], issuer: str, client_id: str, nonce: str) -> dict[str, Any]:
    """The claims of a valid ID token for this sign-in; IdTokenRefused (401) naming the failed check."""
    import jwt  # noqa: PLC0415

    try:
        header = jwt.get_unverified_header(token)
    except jwt.PyJWTError:
        raise IdTokenRefused("the ID token is malformed") from None
    key = _key_for(header, keys)
    try:
        claims: dict[str, Any] = jwt.decode(
            token,
            key.key,
            algorithms=[str(header["alg"])],
            audience=client_id,
            issuer=issuer,
            leeway=LEEWAY_SECONDS,
            options={"require": ["exp", "iat", "iss", "aud", "sub"]},
        )
    except jwt.ExpiredSignatureError:
        raise IdTokenRefused("the ID token has expired") from None
    except jwt.InvalidAudienceError:
        raise IdTokenRefused("the ID token is for another client") from None
    except jwt.InvalidIssuerError:
        raise IdTokenRefused("the ID token is from another issuer") from None
    except jwt.InvalidSignatureError:
        raise IdTokenRefused("the ID token's signature does not verify") from None
    except jwt.PyJWTError:
        raise IdTokenRefused("the ID token is invalid") from None
    audiences = claims["aud"] if isinstance(claims["aud"], list) else [claims["aud"]]
    if len(audiences) > 1 and claims.get("azp") != client_id:
        raise IdTokenRefused("the ID token is for another client")
    sent = str(claims.get("nonce", ""))
    if not sent or not hmac.compare_digest(sent.encode(), nonce.encode()):
        raise IdTokenRefused("the ID token is not for this sign-in (nonce)")
    return claims
