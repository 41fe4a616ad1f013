"""Integrations: an environment's values pushed to AWS Secrets Manager, SSM Parameter Store or a
repository's GitHub Actions secrets after every change (docs/design.md, "Integrations").

Managed by `integrations.manage` (owner, admin); creating one also needs `secrets.read` on the
environment, since it sends every value elsewhere. The GitHub token is envelope-encrypted at
creation (a KMS data key with the context {org, integration, purpose}, AES-256-GCM with the same
binding as AAD) and never returned; AWS destinations hold no credential at all (sts:AssumeRole of
the customer's role with their external id, at each sync). Syncs never run in a request: a change
of the environment (its audit event, the outbox) or `POST …/sync` (its own audit event) reaches
the sync worker through the stream and a queue (domain/integration_sync.py).
"""

from __future__ import annotations

from strongroom import clock, ids
from strongroom.config import settings
from strongroom.data import chain
from strongroom.data import integrations as data
from strongroom.data import orgs as org_data
from strongroom.data.integrations import IntegrationRecord
from strongroom.domain import audit
from strongroom.errors import NotFound, Unprocessable
from strongroom.models.integrations import (
    GithubConfig,
    Integration,
    IntegrationCreate,
    IntegrationStatus,
)
from strongroom.security import crypto
from strongroom.security.access import EnvironmentAccess, OrgAccess

GITHUB_API = "https://api.github.com"
TOKEN_PURPOSE = "integration_token"  # noqa: S105 - a KMS context value


def _context(org_id: str, integration_id: str) -> dict[str, str]:
    return {"org": org_id, "integration": integration_id, "purpose": TOKEN_PURPOSE}


def _aad(org_id: str, integration_id: str) -> bytes:
    fields = [org_id, integration_id, TOKEN_PURPOSE]
    return b"".join(len(f.encode()).to_bytes(2, "big") + f.encode() for f in fields)


def seal_token(org_id: str, integration_id: str, token: str) -> tuple[bytes, bytes]:
    """(ciphertext, wrapped data key): a fresh KMS data key under the service key, bound to the org
    and the integration; KMS down is 503 before anything is written."""
    resp = crypto.kms_call(
        "generate_data_key",
        KeyId=settings().kms_key_id,
        KeySpec="AES_256",
        EncryptionContext=_context(org_id, integration_id),
    )
    return crypto.encrypt(resp["Plaintext"], token.encode(), _aad(org_id, integration_id)), resp["CiphertextBlob"]


def unseal_token(rec: IntegrationRecord) -> str:
    if rec.sealed_token is None or rec.wrapped_key is None:
        raise Unprocessable("this integration holds no token")
    key = crypto.unseal(rec.wrapped_key, _context(rec.org_id, rec.id))
    return crypto.decrypt(key, rec.sealed_token, _aad(rec.org_id, rec.id), what="integration token").decode()


def check_api_url(url: str) -> None:
    """422 naming why GitHub's API may not be called there (netguard, as webhook URLs: https and
    public addresses only; dev mode allows a loopback server). The worker checks it again."""
    from strongroom.security.netguard import UnsafeUrl, check_url  # noqa: PLC0415

    try:
        check_url(url, allow_http_loopback=settings().auth_mode.value == "dev")
    except UnsafeUrl as exc:
        raise Unprocessable(
            f"this api_url cannot be called: {exc.reason}",
            code="unsafe_url",
            details={"fields": [{"field": "config.api_url", "location": "body", "issue": exc.reason}]},
        ) from None


def event(action: str, rec: IntegrationRecord, **metadata: object) -> audit.AuditEvent:
    """The audit event of an integration's change (its routes' and its sync's)."""
    return audit.event(
        action,
        scope_id=rec.org_id,
        resource_type="integration",
        resource_id=rec.id,
        project_id=rec.project_id,
        environment_id=rec.environment_id,
        metadata={"type": rec.type, **metadata},
    )


def view(rec: IntegrationRecord) -> Integration:
    return Integration(
        id=rec.id,
        type=rec.type,  # type: ignore[arg-type]
        project_id=rec.project_id,
        environment_id=rec.environment_id,
        config={k: str(v) for k, v in rec.config.items()},
        status=rec.status,  # type: ignore[arg-type]
        last_synced_revision=rec.last_synced_revision,
        last_error=rec.last_error,
        last_synced_at=rec.last_synced_at,
        created_at=rec.created_at,
        created_by=rec.created_by,
    )


def status_of(rec: IntegrationRecord) -> IntegrationStatus:
    return IntegrationStatus(
        status=rec.status,  # type: ignore[arg-type]
        last_synced_revision=rec.last_synced_revision,
        last_error=rec.last_error,
        last_synced_at=rec.last_synced_at,
    )


def create(access: OrgAccess, env_access: EnvironmentAccess, body: IntegrationCreate) -> Integration:
    """A new integration of the environment; its first sync follows at once (its audit event is
    in the outbox like a change of the environment)."""
    access.require("integrations.manage")
    env_access.require("secrets.read", env_access.environment)
    env = env_access.environment
    if env.encryption == "client":
        raise Unprocessable(
            "this environment is client-encrypted: the server cannot read its values to push them",
            code="client_encrypted",
        )
    integration_id = ids.new_id("int")
    config = body.config
    sealed: tuple[bytes, bytes] | None = None
    if isinstance(config, GithubConfig):
        if config.api_url.rstrip("/") != GITHUB_API:  # GitHub's own needs no check here (the worker checks each call)
            check_api_url(config.api_url)
        stored = {"repository": config.repository, "api_url": config.api_url.rstrip("/")}
        sealed = seal_token(access.org.id, integration_id, config.token.get_secret_value())
    else:
        stored = config.model_dump(exclude_none=True)
    rec = IntegrationRecord(
        id=integration_id,
        org_id=access.org.id,
        project_id=env.project_id,
        environment_id=env.id,
        type=body.type,
        config=stored,
        sealed_token=sealed[0] if sealed else None,
        wrapped_key=sealed[1] if sealed else None,
        created_at=clock.now_iso(),
        created_by=access.principal.id,
    )
    target = stored.get("repository") or stored.get("name")
    chain.transact(
        [org_data.guard(access.org.id), data.create(rec, on_fail=NotFound("integration id collision; retry"))],
        audit=event("integration.created", rec, target=target, environment=env.slug),
    )
    return view(rec)


def _record(access: OrgAccess, integration_id: str) -> IntegrationRecord:
    access.require("integrations.manage")
    rec = data.get(access.org.id, integration_id) if ids.is_id(integration_id, "int") else None
    if rec is None:
        raise NotFound("integration not found")
    return rec


def get(access: OrgAccess, integration_id: str) -> Integration:
    return view(_record(access, integration_id))


def status(access: OrgAccess, integration_id: str) -> IntegrationStatus:
    return status_of(_record(access, integration_id))


def list_integrations(access: OrgAccess, *, limit: int, cursor: str | None) -> tuple[list[Integration], str | None]:
    access.require("integrations.manage")
    records, next_cursor = data.page(access.org.id, limit=limit, cursor=cursor)
    return [view(r) for r in records], next_cursor


def delete(access: OrgAccess, integration_id: str) -> None:
    """Removed: no sync after this one (what it pushed stays at the destination)."""
    rec = _record(access, integration_id)
    chain.transact(
        [data.delete(rec, on_fail=NotFound("integration not found"))], audit=event("integration.deleted", rec)
    )


def request_sync(access: OrgAccess, integration_id: str) -> IntegrationStatus:
    """A sync forced: its audit event (the outbox) makes the worker push the environment's current
    values even when the revision did not move (a destination changed by hand, back from failing)."""
    rec = _record(access, integration_id)
    chain.transact(
        [data.exists(rec, on_fail=NotFound("integration not found"))], audit=event("integration.sync_requested", rec)
    )
    return status_of(rec)
