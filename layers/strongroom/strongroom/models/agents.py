"""Agents (in-cluster helpers), their jobs, the sealed wraps they hand back, the data keys they are
issued and the secrets they discover (docs/design.md, "Agents")."""

from __future__ import annotations

from typing import Annotated, Any, Literal, Self

from pydantic import Field, StringConstraints, model_validator

from strongroom.http.shown_once import ShownOnce
from strongroom.models.common import NAME_PATTERN, Name, Page, Request, Response
from strongroom.models.e2e import Base64, b64_length

X25519_KEY_BYTES = 32
SEALED_OVERHEAD = 48  # crypto_box_seal: the ephemeral public key (32) and the MAC (16)
MAX_SEALED_BYTES = 96 * 1024  # a 64 KiB value, sealed, with room
MAX_BULK = 5000
AgentId = Annotated[str, StringConstraints(pattern=r"^agt_[0-9a-hjkmnp-tv-z]{26}$")]
JobId = Annotated[str, StringConstraints(pattern=r"^job_[0-9a-hjkmnp-tv-z]{26}$")]
# What names a secret where an agent runs (a file and a key, a Kubernetes namespace/name/key…): no
# control characters.
Ref = Annotated[str, StringConstraints(min_length=1, max_length=512, pattern=NAME_PATTERN)]
Token = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9._/-]{0,127}$")]
LabelKey = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9._/-]{0,62}$")]
LabelValue = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9._/-]{0,63}$")]
# `label=k:v` of a listing (repeats are joined by commas on the way in, so neither holds one).
LabelFilter = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9._/-]{0,62}:[A-Za-z0-9._/-]{0,63}$")]
Fingerprint = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9+/=:_-]{8,128}$")]

# An X25519 public key: exactly 32 bytes in padded standard base64 (44 characters; the last one
# before `=` carries 4 bits, so it is one of 16), in the schema itself, so clients know.
X25519Key = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9+/]{42}[AEIMQUYcgkosw048]=$")]

AgentStatus = Literal["online", "stale", "revoked"]
JobType = Literal["discover", "read"]
JobStatus = Literal["queued", "claimed", "succeeded", "failed", "expired"]


# --------------------------------------------------------------------------- agents


class AgentCreate(Request):
    name: Name


class Agent(Response):
    id: str
    name: str
    status: AgentStatus = Field(description="online: a heartbeat in the last 3 minutes; stale: none since; revoked")
    public_key: str | None = Field(default=None, description="The X25519 key the agent registered (base64)")
    last_seen_at: str | None = None
    created_at: str
    created_by: str
    revoked_at: str | None = None


class AgentCreated(Agent):
    agent_secret: ShownOnce = Field(description="Shown once (sr_agt_…)")


AgentList = Page[Agent]


class PublicKeyPut(Request):
    public_key: X25519Key = Field(description="The agent's X25519 public key, 32 bytes in base64")


# --------------------------------------------------------------------------- jobs


class ReadParams(Request):
    """A read job: the agent seals the value at `ref` to `recipient_public_key` (crypto_box_seal)."""

    ref: Ref
    recipient_public_key: X25519Key = Field(description="The requester's X25519 public key (base64)")


class DiscoverParams(Request):
    """A discovery run: the agent reports what it finds (refs and fingerprints, never values)."""

    paths: list[Ref] = Field(
        default_factory=list, max_length=50, description="Where to look (the agent's own, if none)"
    )


class _JobCreate(Request):
    agent: AgentId
    ttl_seconds: int = Field(default=3600, ge=60, le=86_400, description="Unclaimed after this long, it expires")


class ReadJobCreate(_JobCreate):
    """Read one agent-managed value, sealed to the requester's key."""

    type: Literal["read"]
    params: ReadParams


class DiscoverJobCreate(_JobCreate):
    """Report what the agent finds (refs and fingerprints, never values)."""

    type: Literal["discover"]
    params: DiscoverParams = Field(default_factory=DiscoverParams)


# A job's params are typed by its type (the OpenAPI document says which go with which).
JobCreate = Annotated[ReadJobCreate | DiscoverJobCreate, Field(discriminator="type")]


class JobEvent(Response):
    status: JobStatus
    at: str
    by: str


class Job(Response):
    id: str
    agent_id: str
    type: JobType
    params: dict[str, Any]
    status: JobStatus
    error: str | None = None
    wrap_id: str | None = Field(default=None, description="A read job's sealed answer (GET …/wraps/{wrap}, once)")
    access_request_id: str | None = None
    created_at: str
    created_by: str
    expires_at: str
    claimed_at: str | None = None
    completed_at: str | None = None
    history: list[JobEvent]


JobList = Page[Job]


class JobComplete(Request):
    status: Literal["succeeded", "failed"]
    error: Annotated[str, StringConstraints(max_length=1000)] | None = None


# --------------------------------------------------------------------------- sealed hand-off


class WrapCreate(Request):
    job: JobId
    sealed: Base64 = Field(description="base64 of crypto_box_seal(value, the job's recipient_public_key)")

    @model_validator(mode="after")
    def _size(self) -> Self:
        size = b64_length(self.sealed)
        if size is None or not SEALED_OVERHEAD < size <= MAX_SEALED_BYTES:
            raise ValueError(f"sealed: a sealed box is {SEALED_OVERHEAD + 1}-{MAX_SEALED_BYTES} bytes, in base64")
        return self

    def __repr__(self) -> str:  # the wrap must not reach a log through repr (Powertools logs route arguments)
        return f"WrapCreate(job={self.job!r}, sealed='**********')"

    __str__ = __repr__


class WrapCreated(Response):
    id: str
    job_id: str
    expires_at: str


class WrapFetched(Response):
    id: str
    job_id: str
    sealed: ShownOnce = Field(description="Given once: a second fetch is 410")


# --------------------------------------------------------------------------- data keys


class DataKeyIssued(Response):
    key_id: str
    plaintext_key: ShownOnce = Field(description="base64 of the 32-byte data key: keep it in memory only")
    wrapped_key: str = Field(description="base64 of the KMS ciphertext of that key")
    encryption_context: dict[str, str]


# --------------------------------------------------------------------------- discovery


class DiscoveredIn(Request):
    ref: Ref
    provider: Token
    cluster_name: Token
    labels: dict[LabelKey, LabelValue] = Field(default_factory=dict, max_length=32)
    fingerprint: Fingerprint = Field(description="A keyed digest of the value, never the value")


class DiscoveryBulk(Request):
    secrets: list[DiscoveredIn] = Field(min_length=1, max_length=MAX_BULK)


class DiscoveryResult(Response):
    received: int
    created: int
    updated: int


class DiscoveredSecret(Response):
    id: str
    ref: str
    provider: str
    cluster_name: str
    labels: dict[str, str]
    fingerprint: str
    agent_id: str
    status: Literal["active", "stale"] = Field(description="stale: not reported for 24 hours")
    first_seen_at: str
    last_seen_at: str


DiscoveredList = Page[DiscoveredSecret]
