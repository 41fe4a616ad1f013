"""Typed configuration, read from the environment once per invocation.

A missing or malformed variable fails loudly: there are no made-up defaults for
resources (no default table name, no default key).
"""

from __future__ import annotations

import os
from enum import StrEnum
from functools import lru_cache

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator


class AuthMode(StrEnum):
    OIDC = "oidc"
    DEV = "dev"


class ConfigError(RuntimeError):
    """The function was deployed or started without a setting it needs."""


class Settings(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")

    table_name: str = Field(min_length=3)
    kms_key_id: str = Field(min_length=1)
    audit_signing_key_id: str = ""  # the audit log's ECC_NIST_P256 key (sealer: Sign; audit: GetPublicKey)
    auth_mode: AuthMode = AuthMode.OIDC
    oidc_issuer: str = ""
    oidc_audience: str = ""
    oidc_jwks_url: str = ""
    stage: str = "dev"
    # Secret used to sign pagination cursors; derived per deployment.
    cursor_signing_key: str = Field(min_length=16)
    # Secret the session tokens' HMAC key is derived from (security/sessions.py); only the code
    # that signs or verifies a session needs it, and fails loudly without it.
    session_signing_key: str = ""
    # Registrations one source IP may make per clock hour (domain/accounts.py).
    registrations_per_ip_hour: int = Field(default=20, ge=1)
    # Password-reset requests one source IP may make per clock hour (domain/account_mail.py).
    forgot_password_per_ip_hour: int = Field(default=20, ge=1)
    # The sender of account mail (an SES identity of the stack's account), and the console whose
    # pages the mailed links open (`<console_url>/verify-email?token=…`).
    mail_from: str = ""
    console_url: str = "http://127.0.0.1:3000"
    # The API's own base URL: single sign-on's redirect URI is `<api_url>/v1/sso/oidc/callback`.
    api_url: str = ""
    invitation_ttl_hours: int = Field(default=168, ge=1, le=24 * 30)
    idempotency_ttl_seconds: int = Field(default=86_400, ge=60, le=7 * 86_400)
    webhook_queue_url: str = ""
    # Seconds between delivery attempts; the queue's maxReceiveCount is one more than its length.
    webhook_retry_schedule: str = "60,300,1800,3600,10800,21600,43200"
    # Platform (issue #18): the platform admins' emails (comma-separated), the plan new orgs start
    # on, the rate limits of requests without an org's limit (by source IP when unauthenticated,
    # by principal outside any org), the bearer token /metrics also accepts, the queues /readyz
    # and /metrics look at, and Stripe's settings (functions/billing).
    platform_admins: str = ""
    new_org_plan: str = Field(default="free", pattern="^(free|team|enterprise)$")
    anonymous_requests_per_minute: int = Field(default=300, ge=-1)
    default_requests_per_minute: int = Field(default=600, ge=-1)
    metrics_token: str = ""
    webhook_dlq_url: str = ""
    # Integrations (#17): the sync queue and the seconds between a failed sync's attempts (the
    # queue's maxReceiveCount is one more than their number).
    sync_queue_url: str = ""
    sync_dlq_url: str = ""  # its dead-letter queue (/readyz and /metrics)
    sync_retry_schedule: str = "30,120,600,1800,3600"
    stripe_secret_key: str = ""
    stripe_secret_arn: str = ""
    stripe_webhook_secret: str = ""
    stripe_webhook_secret_arn: str = ""
    stripe_api_base: str = ""
    stripe_prices: str = ""  # "team=price_…,enterprise=price_…"

    @model_validator(mode="after")
    def _oidc_complete(self) -> Settings:
        if self.auth_mode is AuthMode.OIDC and bool(self.oidc_issuer) != bool(self.oidc_audience):
            raise ValueError("OIDC_ISSUER and OIDC_AUDIENCE must be set together")
        return self

    @property
    def admin_emails(self) -> frozenset[str]:
        return frozenset(e.strip().lower() for e in self.platform_admins.split(",") if e.strip())

    @property
    def jwks_url(self) -> str:
        if self.oidc_jwks_url:
            return self.oidc_jwks_url
        return self.oidc_issuer.rstrip("/") + "/.well-known/jwks.json"


_ENV = {
    "table_name": "TABLE_NAME",
    "kms_key_id": "KMS_KEY_ID",
    "audit_signing_key_id": "AUDIT_SIGNING_KEY_ID",
    "auth_mode": "AUTH_MODE",
    "oidc_issuer": "OIDC_ISSUER",
    "oidc_audience": "OIDC_AUDIENCE",
    "oidc_jwks_url": "OIDC_JWKS_URL",
    "stage": "STAGE",
    "cursor_signing_key": "CURSOR_SIGNING_KEY",
    "session_signing_key": "SESSION_SIGNING_KEY",
    "registrations_per_ip_hour": "REGISTRATIONS_PER_IP_HOUR",
    "forgot_password_per_ip_hour": "FORGOT_PASSWORD_PER_IP_HOUR",
    "mail_from": "MAIL_FROM",
    "console_url": "CONSOLE_URL",
    "api_url": "API_URL",
    "invitation_ttl_hours": "INVITATION_TTL_HOURS",
    "idempotency_ttl_seconds": "IDEMPOTENCY_TTL_SECONDS",
    "webhook_queue_url": "WEBHOOK_QUEUE_URL",
    "webhook_retry_schedule": "WEBHOOK_RETRY_SCHEDULE",
    "platform_admins": "PLATFORM_ADMINS",
    "new_org_plan": "NEW_ORG_PLAN",
    "anonymous_requests_per_minute": "ANONYMOUS_REQUESTS_PER_MINUTE",
    "default_requests_per_minute": "DEFAULT_REQUESTS_PER_MINUTE",
    "metrics_token": "METRICS_TOKEN",
    "webhook_dlq_url": "WEBHOOK_DLQ_URL",
    "sync_queue_url": "SYNC_QUEUE_URL",
    "sync_dlq_url": "SYNC_DLQ_URL",
    "sync_retry_schedule": "SYNC_RETRY_SCHEDULE",
    "stripe_secret_key": "STRIPE_SECRET_KEY",
    "stripe_secret_arn": "STRIPE_SECRET_ARN",
    "stripe_webhook_secret": "STRIPE_WEBHOOK_SECRET",
    "stripe_webhook_secret_arn": "STRIPE_WEBHOOK_SECRET_ARN",
    "stripe_api_base": "STRIPE_API_BASE",
    "stripe_prices": "STRIPE_PRICES",
}


@lru_cache(maxsize=1)
def _load(snapshot: tuple[tuple[str, str], ...]) -> Settings:
    raw = dict(snapshot)
    try:
        return Settings.model_validate(raw)
    except ValidationError as exc:
        names = sorted({_ENV[str(err["loc"][0])] for err in exc.errors() if err["loc"]})
        raise ConfigError(f"invalid or missing configuration: {', '.join(names) or exc}") from None


def settings() -> Settings:
    """The settings for this invocation (cached while the environment is unchanged)."""
    snapshot = tuple((field, os.environ[var]) for field, var in _ENV.items() if os.environ.get(var, "") != "")
    return _load(snapshot)
