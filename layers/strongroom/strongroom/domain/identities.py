"""Machine identities: a CI job, a pod or a Lambda function proves who it is with the identity its
platform already gave it, and gets a short-lived service token; it holds no long-lived secret.

An identity names one environment, the permissions its tokens get there (`read`, maybe `write`),
their lifetime (`ttl_seconds`, 5 to 3600) and the rules a workload must satisfy:
- `oidc`: a JWT of `issuer` (its keys found by OIDC discovery, both fetched through netguard),
  for `audience`, unexpired, whose claims match every entry of `claims` (an exact value or a glob);
- `aws_iam`: a SigV4-signed `sts:GetCallerIdentity` that STS accepts (security/sts.py), whose
  caller is in `account` and is (or has assumed) a role whose ARN matches `role_arn`.

Managing identities needs `identities.manage` and, like a service token, the creator's own
`secrets.read` (and `secrets.write` for a writing identity) on its environment: an identity
never does more than its creator could when it was made or last replaced.

`POST /v1/auth/identity/token` authenticates nobody: the credential is the proof. Whatever is
wrong with the identity named or the credential (an unknown or deleted identity, one whose
environment is gone, a credential of the wrong kind, a bad signature, another issuer, an expired
token, a wrong audience) is the same 401, so an identity ID is not confirmed to anyone who cannot
prove it. A rule that does not match is 403 naming the rule (`claims.sub`, `account`,
`role_arn`), never the credential's contents. A credential is accepted once: its replay record
(by the SHA-256 of `iss` + `jti`, of the whole JWT when it has no `jti`, or of the AWS signature)
is created in the same transaction as the token and the `identity.token_issued` event, on the
condition that none is alive, and lives as long as the credential does.

The token is an ordinary service token (`sr_svc_…`) with `expires_at` = now + `ttl_seconds`
(verification refuses it from then on; TTL only tidies up) and the identity's ID and revision:
replacing or deleting the identity ends its tokens at once. Its audit actor is
`{type: "identity", id}`; the issuing event records the subject (the JWT's `sub`, or the caller's
ARN).
"""

from __future__ import annotations

import hashlib
import re
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from typing import Any

from strongroom import clock, ids
from strongroom.config import AuthMode, settings
from strongroom.context import Principal, acting_as
from strongroom.data import chain
from strongroom.data import identities as identity_data
from strongroom.data import tokens as token_data
from strongroom.data.identities import IdentityRecord
from strongroom.data.tokens import TokenRecord
from strongroom.domain import audit, tokens
from strongroom.errors import Conflict, Forbidden, NotFound, Unauthorized, Unprocessable
from strongroom.models import Identity, IdentityCreate, IdentityRules, IdentityToken, IdentityTokenRequest
from strongroom.security.access import OrgAccess

PERMISSION = "identities.manage"
_OIDC_FIELDS = ("issuer", "audience", "claims")
_AWS_FIELDS = ("account", "role_arn")
_ROLE_ARN = re.compile(r"^arn:aws[a-z-]*:iam::(?P<account>[0-9]{12}):role/(?P<name>[^/]+)$")


def _not_accepted() -> Unauthorized:
    return Unauthorized("the identity or its credential was not accepted", code="invalid_identity_credential")


# --------------------------------------------------------------------------- globs


@lru_cache(maxsize=1024)
def _compiled(pattern: str) -> re.Pattern[str]:
    return re.compile(".*".join(re.escape(part) for part in pattern.split("*")), re.DOTALL)


def glob_matches(pattern: str, value: str) -> bool:
    """`*` matches any run of characters (none, `/` and `:` included); every other character only
    itself; case matters; the whole value must match."""
    return _compiled(pattern).fullmatch(value) is not None


def glob_problem(pattern: str) -> str | None:
    """Why a pattern is refused, or None: it must say something beyond `*`, and `**` is refused
    (it would read as a path glob, and `*` already crosses `/`)."""
    if not pattern.strip("*"):
        return "a pattern of `*` alone matches every value"
    if "**" in pattern:
        return "`**` is not a pattern here: `*` already matches any run of characters, `/` included"
    return None


def claim_matches(value: Any, pattern: str) -> bool:
    """A claim satisfies a pattern when it is a string (or a number, or a boolean written `true` or
    `false`) that the pattern matches; lists, objects and a missing claim never do."""
    if isinstance(value, bool):
        text = "true" if value else "false"
    elif isinstance(value, int | str):
        text = str(value)
    else:
        return False
    return glob_matches(pattern, text)


# --------------------------------------------------------------------------- rules


def _invalid(field: str, issue: str) -> Unprocessable:
    return Unprocessable(
        f"`{field}`: {issue}",
        code="invalid_identity_rules",
        details={"fields": [{"field": field, "location": "body", "issue": issue}]},
    )


def _check_issuer(issuer: str) -> None:
    from strongroom.security.netguard import UnsafeUrl, check_url  # noqa: PLC0415

    try:
        check_url(issuer, allow_http_loopback=settings().auth_mode is AuthMode.DEV)
    except UnsafeUrl as exc:
        raise _invalid("rules.issuer", f"this issuer cannot be used: {exc.reason}") from None


def checked_rules(kind: str, rules: IdentityRules) -> dict[str, Any]:
    """The rules to store for an identity of `kind`, or 422 naming the field that is missing, out of
    place or malformed."""
    given = {k: v for k, v in rules.model_dump(exclude_none=True).items() if v != {}}  # no claims: none given
    wanted, foreign = (_OIDC_FIELDS, _AWS_FIELDS) if kind == "oidc" else (_AWS_FIELDS, _OIDC_FIELDS)
    for name in foreign:
        if name in given:
            raise _invalid(f"rules.{name}", f"not a rule of a `{kind}` identity")
    for name in wanted:
        if not given.get(name):
            raise _invalid(f"rules.{name}", f"required for a `{kind}` identity")
    if kind == "oidc":
        _check_oidc(given)
    else:
        _check_aws(given)
    return given


def _check_oidc(given: dict[str, Any]) -> None:
    _check_issuer(given["issuer"])
    for claim, pattern in sorted(given["claims"].items()):
        if claim in {"iss", "aud", "exp", "nbf", "iat"}:
            raise _invalid(f"rules.claims.{claim}", "checked by `issuer`, `audience` and the clock, not a claim rule")
        problem = glob_problem(pattern)
        if problem:
            raise _invalid(f"rules.claims.{claim}", problem)


def _check_aws(given: dict[str, Any]) -> None:
    found = _ROLE_ARN.match(given["role_arn"])
    if found is None:
        raise _invalid(
            "rules.role_arn",
            "must be arn:aws:iam::<account>:role/<name> (a role's path is not in STS's answer: match the name)",
        )
    if found.group("account") != given["account"]:
        raise _invalid("rules.role_arn", "names another account than `account`")
    problem = glob_problem(found.group("name"))
    if problem:
        raise _invalid("rules.role_arn", problem)


# --------------------------------------------------------------------------- management


def _view(rec: IdentityRecord) -> Identity:
    return Identity.model_validate(rec.model_dump())


def _event(action: str, rec: IdentityRecord, metadata: dict[str, Any] | None = None) -> audit.AuditEvent:
    return audit.event(
        action,
        scope_id=rec.org_id,
        resource_type="identity",
        resource_id=rec.id,
        project_id=rec.project_id,
        environment_id=rec.environment_id,
        metadata={"name": rec.name, "type": rec.type, **(metadata or {})},
    )


def _describe(rec: IdentityRecord) -> dict[str, Any]:
    return {"permissions": rec.permissions, "ttl_seconds": rec.ttl_seconds, "rules": rec.rules}


def _record(base: OrgAccess, body: IdentityCreate, *, previous: IdentityRecord | None) -> IdentityRecord:
    """The identity `body` describes, checked: the creator's access to its environment (and to
    what it grants there) and its rules."""
    access = tokens.target(base, body.project, body.environment, PERMISSION)
    tokens.check_grantable(access, body.permissions)
    rules = checked_rules(body.type, body.rules)
    now = clock.now_iso()
    return IdentityRecord(
        id=previous.id if previous else ids.new_id("idn"),
        org_id=access.org.id,
        name=body.name,
        type=body.type,
        project_id=access.project.id,
        environment_id=access.environment.id,
        permissions=sorted({*body.permissions, "read"}),  # writing implies reading
        ttl_seconds=body.ttl_seconds,
        rules=rules,
        revision=previous.revision + 1 if previous else 1,
        created_at=previous.created_at if previous else now,
        created_by=previous.created_by if previous else access.principal.id,
        updated_at=now if previous else None,
    )


def create(base: OrgAccess, body: IdentityCreate) -> Identity:
    base.require(PERMISSION)
    rec = _record(base, body, previous=None)
    chain.transact(
        [identity_data.create(rec, on_fail=Conflict("identity id collision; retry"))],
        audit=_event("identity.created", rec, _describe(rec)),
    )
    return _view(rec)


def _get(org_id: str, identity_id: str) -> IdentityRecord:
    rec = identity_data.get(identity_id) if ids.is_id(identity_id, "idn") else None
    if rec is None or rec.org_id != org_id:
        raise NotFound("identity not found")
    return rec


def get(access: OrgAccess, identity_id: str) -> Identity:
    access.require(PERMISSION)
    return _view(_get(access.org.id, identity_id))


def list_identities(access: OrgAccess, *, limit: int, cursor: str | None) -> tuple[list[Identity], str | None]:
    access.require(PERMISSION)
    records, next_cursor = identity_data.page(access.org.id, limit=limit, cursor=cursor)
    return [_view(r) for r in records], next_cursor


def replace(access: OrgAccess, identity_id: str, body: IdentityCreate) -> Identity:
    """The identity replaced whole (same ID); the tokens issued under its previous revision stop
    verifying at once."""
    access.require(PERMISSION)
    old = _get(access.org.id, identity_id)
    rec = _record(access, body, previous=old)
    chain.transact(
        [identity_data.replace(old, rec, on_fail=Conflict("the identity changed meanwhile; retry"))],
        audit=_event("identity.updated", rec, _describe(rec)),
    )
    return _view(rec)


def delete(access: OrgAccess, identity_id: str) -> None:
    """Deleted, and every token issued to it stops verifying at once."""
    access.require(PERMISSION)
    rec = _get(access.org.id, identity_id)
    chain.transact(
        [identity_data.delete(rec, on_fail=NotFound("identity not found"))], audit=_event("identity.deleted", rec)
    )


# --------------------------------------------------------------------------- the exchange


def _prove_oidc(rec: IdentityRecord, token: str) -> tuple[str, str, datetime]:
    """(subject, replay digest, lifetime end) of a JWT that proves the identity; 401/403 otherwise."""
    from strongroom.security import auth  # noqa: PLC0415

    rules = rec.rules
    try:
        claims = auth.verify_issuer_jwt(token, issuer=str(rules["issuer"]), audience=str(rules["audience"]))
    except Unauthorized:
        raise _not_accepted() from None
    for claim, pattern in sorted(dict(rules["claims"]).items()):
        if not claim_matches(claims.get(claim), str(pattern)):
            raise Forbidden(
                f"the token does not satisfy the identity's rule `claims.{claim}`",
                code="identity_rule_failed",
                details={"rule": f"claims.{claim}"},
            )
    jti = claims.get("jti")
    seen = f"jti:{claims['iss']}\n{jti}" if isinstance(jti, str) and jti else f"jwt:{token}"
    lifetime_end = datetime.fromtimestamp(int(claims["exp"]), tz=UTC) + timedelta(seconds=auth.CLOCK_SKEW_SECONDS)
    return str(claims["sub"]), hashlib.sha256(seen.encode()).hexdigest(), lifetime_end


def _prove_aws(rec: IdentityRecord, body: IdentityTokenRequest) -> tuple[str, str, datetime]:
    """(caller ARN, replay digest, signature's end) of a signed GetCallerIdentity that proves the
    identity; 401/403 otherwise."""
    from strongroom.security import sts  # noqa: PLC0415

    assert body.aws is not None
    signed = sts.check(
        body.aws.method,
        body.aws.url,
        {name: value.get_secret_value() for name, value in body.aws.headers.items()},
        body.aws.body,
        rec.id,
    )
    if signed.valid_until <= clock.now():
        raise _not_accepted()
    caller = sts.caller(signed)
    if caller.account != rec.rules["account"]:
        raise Forbidden(
            "the caller is not in the identity's account", code="identity_rule_failed", details={"rule": "account"}
        )
    if caller.role_arn is None or not glob_matches(str(rec.rules["role_arn"]), caller.role_arn):
        raise Forbidden(
            "the caller's role does not match the identity's rule `role_arn`",
            code="identity_rule_failed",
            details={"rule": "role_arn"},
        )
    return caller.arn, signed.digest, signed.valid_until


def _standing(rec: IdentityRecord) -> bool:
    """Whether the identity's org, project and environment still stand (one BatchGetItem)."""
    probe = TokenRecord(
        id="tok_probe",
        org_id=rec.org_id,
        name=rec.name,
        project_id=rec.project_id,
        environment_id=rec.environment_id,
        permissions=rec.permissions,
        token_hash="",
        created_at=rec.created_at,
        created_by=rec.id,
        identity_id=rec.id,
        identity_revision=rec.revision,
    )
    return bool(token_data.standing([probe]))


def exchange(body: IdentityTokenRequest) -> IdentityToken:
    """A service token for the identity `body` names, in exchange for a credential that proves it."""
    rec = identity_data.get(body.identity) if ids.is_id(body.identity, "idn") else None
    if rec is None or not _standing(rec):
        raise _not_accepted()
    if rec.type == "oidc" and body.jwt is not None and body.aws is None:
        subject, seen, lifetime_end = _prove_oidc(rec, body.jwt.get_secret_value())
    elif rec.type == "aws_iam" and body.aws is not None and body.jwt is None:
        subject, seen, lifetime_end = _prove_aws(rec, body)
    else:
        raise _not_accepted()
    now = clock.now()
    token_id = ids.new_id("tok")
    token = tokens.mint(token_id)
    expires_at = clock.iso(now + timedelta(seconds=rec.ttl_seconds))
    issued = TokenRecord(
        id=token_id,
        org_id=rec.org_id,
        name=rec.name,
        project_id=rec.project_id,
        environment_id=rec.environment_id,
        permissions=rec.permissions,
        token_hash=tokens.digest(token),
        expires_at=expires_at,
        created_at=clock.iso(now),
        created_by=rec.id,
        identity_id=rec.id,
        identity_revision=rec.revision,
        subject=subject[:1024],
    )
    replayed = Unauthorized("this credential was already exchanged once", code="credential_replayed")
    with acting_as(Principal(type="system", id=rec.id, via="identity", identity_id=rec.id)):
        event = audit.event(
            "identity.token_issued",
            scope_id=rec.org_id,
            resource_type="service_token",
            resource_id=token_id,
            project_id=rec.project_id,
            environment_id=rec.environment_id,
            metadata={
                "identity_id": rec.id,
                "identity": rec.name,
                "type": rec.type,
                "subject": issued.subject,
                "permissions": rec.permissions,
                "expires_at": expires_at,
            },
        )
    chain.transact(
        [
            identity_data.credential_used(seen, identity_id=rec.id, until=lifetime_end, on_fail=replayed),
            token_data.create(issued, on_fail=Conflict("token id collision; retry")),
        ],
        audit=event,
    )
    return IdentityToken(token=token, expires_at=expires_at)
