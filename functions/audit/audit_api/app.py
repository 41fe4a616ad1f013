"""An org's audit log: search (newest first), export page by page (CSV or JSON), its signed
Merkle tree (head, public key, events with their leaf, inclusion and consistency proofs, leaves in
order) and the verification of the tree against its signed heads. Admin or owner."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.openapi.params import Path, Query

from strongroom.domain import audit_log
from strongroom.errors import Invalid
from strongroom.http.app import build_app, make_handler
from strongroom.http.params import REF_PATTERN, Cursor, Limit, OrgRef
from strongroom.models import (
    AuditEventView,
    AuditList,
    AuditVerification,
    ConsistencyProof,
    InclusionProof,
    LeafPage,
    TreeHead,
)
from strongroom.security.access import org_access

app = build_app()

Action = Annotated[
    str | None, Query(max_length=100, pattern=r"^[a-z_.*]+$", description="Exact, or a prefix: `secret.` / `secret.*`")
]
Text = Annotated[str | None, Query(max_length=128, pattern=r"^[A-Za-z0-9_.:@/+=-]+$")]
RFC3339 = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]{1,9})?(Z|[+-][0-9]{2}:[0-9]{2})$"
Instant = Annotated[
    str | None, Query(pattern=RFC3339, description="RFC 3339 with an offset, e.g. 2026-12-01T12:00:00Z")
]


def _instant(name: str, value: str | None) -> datetime | None:
    """`since`/`until` as an aware datetime (the pattern admits only RFC 3339 with an offset)."""
    if value is None:
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise Invalid(
            f"`{name}` is not an RFC 3339 instant",
            details={"fields": [{"field": name, "location": "query", "issue": "not RFC 3339"}]},
        ) from None


@app.get("/v1/orgs/<org>/audit")
def search(
    org: OrgRef,
    action: Action = None,
    resource_type: Text = None,
    actor: Text = None,
    project: Text = None,
    environment: Text = None,
    since: Instant = None,
    until: Instant = None,
    request_id: Text = None,
    correlation_id: Text = None,
    limit: Limit = 100,
    cursor: Cursor = None,
) -> AuditList:
    """Events newest first. `correlation_id` is the request id (X-Request-Id) of the change."""
    filters = audit_log.AuditFilter(
        action=action,
        resource_type=resource_type,
        actor=actor,
        project=project,
        environment=environment,
        since=_instant("since", since),
        until=_instant("until", until),
        request_id=request_id or correlation_id,
    )
    access = org_access(org, "audit.read")
    return AuditList.of(audit_log.search(access, filters=filters, limit=limit, cursor=cursor))


@app.get(
    "/v1/orgs/<org>/audit/export",
    responses={
        200: {
            "description": (
                "Up to 1000 events (of at most 1000 read), oldest first; X-Next-Cursor names the next page, "
                "which may follow an empty one"
            ),
            "content": {"text/csv": {"schema": {"type": "string"}}, "application/json": {"schema": {"type": "array"}}},
        }
    },
)
def export(
    org: OrgRef,
    format: Annotated[Literal["csv", "json"], Query(description="csv or json")] = "json",  # noqa: A002
    action: Action = None,
    resource_type: Text = None,
    actor: Text = None,
    since: Instant = None,
    until: Instant = None,
    cursor: Cursor = None,
) -> Response[str]:
    filters = audit_log.AuditFilter(
        action=action,
        resource_type=resource_type,
        actor=actor,
        since=_instant("since", since),
        until=_instant("until", until),
    )
    access = org_access(org, "audit.read")
    text, next_cursor = audit_log.export(access, format, filters=filters, cursor=cursor)
    headers = {"Cache-Control": "no-store"}
    if next_cursor:
        headers["X-Next-Cursor"] = next_cursor
    content_type = "text/csv; charset=utf-8" if format == "csv" else "application/json"
    return Response(status_code=200, content_type=content_type, body=text, headers=headers)


@app.get("/v1/orgs/<org>/audit/verify")
def verify(org: OrgRef, cursor: Cursor = None) -> AuditVerification:
    """Recompute the org's Merkle tree from its events and check it against the signed heads, up to
    1000 events a call; report the first leaf that does not verify. While `next_cursor` is set,
    the walk goes on from it."""
    access = org_access(org, "audit.read")
    return audit_log.verify(access, cursor=cursor)


EventId = Annotated[str, Path(pattern=REF_PATTERN, description="Audit event ID (evt_…)")]
Size = Annotated[int | None, Query(ge=1, le=10**12, description="A tree size (number of leaves); required")]


@app.get("/v1/orgs/<org>/audit/tree-head")
def tree_head(org: OrgRef) -> TreeHead:
    """The latest signed tree head of the org's audit log."""
    return audit_log.tree_head(org_access(org, "audit.read"))


@app.get(
    "/v1/orgs/<org>/audit/public-key",
    responses={
        200: {
            "description": "The PEM public key",
            "content": {"application/x-pem-file": {"schema": {"type": "string"}}},
        }
    },
)
def public_key(org: OrgRef) -> Response[str]:
    """The public key (PEM, ECDSA P-256) that verifies every signed tree head."""
    pem = audit_log.public_key(org_access(org, "audit.read"))
    return Response(status_code=200, content_type="application/x-pem-file", body=pem)


@app.get("/v1/orgs/<org>/audit/events/<id>")
def get_event(org: OrgRef, id: EventId) -> AuditEventView:  # noqa: A002 - the contract's name
    """One event and its leaf index (null until sealed)."""
    return audit_log.get_event(org_access(org, "audit.read"), id)


@app.get("/v1/orgs/<org>/audit/events/<id>/proof")
def event_proof(
    org: OrgRef,
    id: EventId,  # noqa: A002 - the contract's name
    tree_size: Annotated[int | None, Query(ge=1, le=10**12)] = None,
) -> InclusionProof:
    """The RFC 9162 inclusion proof of the event in the tree of `tree_size` leaves (default: the
    latest signed head's)."""
    return audit_log.inclusion(org_access(org, "audit.read"), id, tree_size)


@app.get("/v1/orgs/<org>/audit/consistency")
def consistency(org: OrgRef, first: Size = None, second: Size = None) -> ConsistencyProof:
    """The RFC 9162 consistency proof between the trees of `first` and `second` leaves."""
    return audit_log.consistency(org_access(org, "audit.read"), first, second)


@app.get("/v1/orgs/<org>/audit/leaves")
def leaves(
    org: OrgRef,
    start: Annotated[int, Query(ge=0, le=10**12, description="The first leaf index")] = 0,
    limit: Annotated[int, Query(ge=1, le=1000, description="Leaves a page (1-1000)")] = 1000,
) -> LeafPage:
    """Events in leaf order from `start`, up to the latest signed head: what a client needs to
    recompute the root itself."""
    return audit_log.leaves(org_access(org, "audit.read"), start, limit)


lambda_handler = make_handler(app)
