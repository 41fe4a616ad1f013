"""SCIM 2.0 at /scim/v2 (RFC 7644) for an org's identity provider, with a SCIM token
(`Authorization: Bearer sr_scim_…`; domain/scim_tokens.py): discovery (ServiceProviderConfig,
ResourceTypes, Schemas), Users (domain/scim.py) and Groups, one per role (domain/scim_groups.py).
Errors in SCIM's own shape (`urn:ietf:params:scim:api:messages:2.0:Error`, application/scim+json). Documented by its own
discovery endpoints, not in docs/openapi.json (docs/decisions.md)."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from aws_lambda_powertools.event_handler import Response
from scim2_models import Context, ListResponse, ResourceType, ResponseParameters, Schema, SearchRequest

from strongroom import errors
from strongroom.data.orgs import OrgRecord
from strongroom.domain import scim, scim_groups
from strongroom.http import unmatched
from strongroom.http.app import build_app, make_handler
from strongroom.http.envelope import JSON
from strongroom.models.scim_resources import (
    MAX_RESULTS,
    ScimGroup,
    ScimUser,
    group_resource_type,
    group_schema,
    matches,
    service_provider_config,
    user_resource_type,
    user_schema,
)

SCIM = "application/scim+json"
ERROR_SCHEMA = "urn:ietf:params:scim:api:messages:2.0:Error"
SCIM_TYPES = frozenset(
    {
        "invalidFilter",
        "tooMany",
        "uniqueness",
        "mutability",
        "invalidSyntax",
        "invalidPath",
        "noTarget",
        "invalidValue",
        "invalidVers",
        "sensitive",
    }
)
# The routes (method, path below /scim/v2) this function serves: what is not one of them is 404,
# or 405 on a path served under other methods.
ROUTES = (
    ("GET", "/ServiceProviderConfig"),
    ("GET", "/ResourceTypes"),
    ("GET", "/ResourceTypes/{id}"),
    ("GET", "/Schemas"),
    ("GET", "/Schemas/{id}"),
    ("GET", "/Users"),
    ("POST", "/Users"),
    ("POST", "/Users/.search"),
    ("POST", "/.search"),
    ("GET", "/Users/{id}"),
    ("PUT", "/Users/{id}"),
    ("PATCH", "/Users/{id}"),
    ("DELETE", "/Users/{id}"),
    ("GET", "/Groups"),
    ("POST", "/Groups"),
    ("POST", "/Groups/.search"),
    ("GET", "/Groups/{id}"),
    ("PUT", "/Groups/{id}"),
    ("PATCH", "/Groups/{id}"),
    ("DELETE", "/Groups/{id}"),
)
PREFIX = "/scim/v2"


def error_body(exc: errors.AppError) -> dict[str, Any]:
    body: dict[str, Any] = {"schemas": [ERROR_SCHEMA], "status": str(exc.status), "detail": exc.message}
    if exc.code in SCIM_TYPES:
        body["scimType"] = exc.code
    return body


def error_response(exc: errors.AppError, request_id: str) -> Response[Any]:
    return Response(
        status_code=exc.status,
        content_type=SCIM,
        body=json.dumps(error_body(exc)),
        headers={"X-Request-Id": request_id, **exc.headers},
    )


def raw_error(exc: errors.AppError, request_id: str) -> dict[str, Any]:
    return {
        "statusCode": exc.status,
        "headers": {"Content-Type": SCIM, "X-Request-Id": request_id, **exc.headers},
        "body": json.dumps(error_body(exc)),
        "isBase64Encoded": False,
    }


app = build_app(render=error_response)


@app.not_found
def _unmatched(_exc: Exception) -> Response[Any]:
    event = app.current_event
    routes = [f"{method} {PREFIX}{path}" for method, path in ROUTES]
    request_id = str(event.request_context.request_id or "")
    return error_response(unmatched.error(event.http_method, event.path, routes), request_id)


def _scim(body: dict[str, Any], status: int = 200) -> Response[Any]:
    return Response(status_code=status, content_type=SCIM, body=json.dumps(body))


def _query(name: str) -> str | None:
    return app.current_event.get_query_string_value(name)


def _int(name: str, default: int) -> int:
    raw = _query(name)
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except ValueError:
        raise scim.ScimInvalid(f"`{name}` is an integer", code="invalidValue") from None


def _parameters(attributes: str | None, excluded: str | None) -> ResponseParameters[Any] | None:
    if not attributes and not excluded:
        return None
    try:
        return ResponseParameters.model_validate({"attributes": attributes, "excludedAttributes": excluded})
    except ValueError:
        raise scim.ScimInvalid("`attributes` or `excludedAttributes` is not valid", code="invalidValue") from None


def _body() -> Any:
    try:
        return app.current_event.json_body
    except (ValueError, TypeError):
        raise scim.ScimInvalid("the body is not JSON", code="invalidSyntax") from None


def _tagged(response: Response[Any], resource: Any) -> Response[Any]:
    """A single resource's answer carries its version as the ETag (RFC 7644 §3.14)."""
    if resource.meta is not None and resource.meta.version:
        response.headers["ETag"] = resource.meta.version
    return response


def _if_match() -> str | None:
    return app.current_event.headers.get("if-match")


def _unchanged(resource: Any) -> Response[Any] | None:
    """304 for a GET whose If-None-Match names the resource's version."""
    if matches(resource, app.current_event.headers.get("if-none-match")):
        return _tagged(Response(status_code=304, body=""), resource)
    return None


def _answer(resource: Any, params: ResponseParameters[Any] | None, ctx: Context, status: int = 200) -> Response[Any]:
    return _tagged(_scim(resource.model_dump(scim_ctx=ctx, response_parameters=params), status), resource)


# --------------------------------------------------------------------------- discovery


@app.get("/scim/v2/ServiceProviderConfig")
def get_service_provider_config() -> Response[Any]:
    scim.caller_org()  # a SCIM token of an active org
    return _scim(service_provider_config().model_dump(scim_ctx=Context.RESOURCE_QUERY_RESPONSE))


def _resource_types() -> list[ResourceType]:
    return [user_resource_type(), group_resource_type()]


def _schemas() -> list[Schema]:
    return [user_schema(), group_schema()]


@app.get("/scim/v2/ResourceTypes")
def list_resource_types() -> Response[Any]:
    scim.caller_org()  # a SCIM token of an active org
    found = _resource_types()
    listing = ListResponse[ResourceType](
        total_results=len(found), start_index=1, items_per_page=len(found), resources=found
    )
    return _scim(listing.model_dump(scim_ctx=Context.SEARCH_RESPONSE))


@app.get("/scim/v2/ResourceTypes/<id>")
def get_resource_type(id: str) -> Response[Any]:  # noqa: A002 - SCIM's name
    scim.caller_org()  # a SCIM token of an active org
    found = next((r for r in _resource_types() if r.id == id), None)
    if found is None:
        raise errors.NotFound("no such resource type")
    return _scim(found.model_dump(scim_ctx=Context.RESOURCE_QUERY_RESPONSE))


@app.get("/scim/v2/Schemas")
def list_schemas() -> Response[Any]:
    scim.caller_org()  # a SCIM token of an active org
    found = _schemas()
    listing = ListResponse[Schema](total_results=len(found), start_index=1, items_per_page=len(found), resources=found)
    return _scim(listing.model_dump(scim_ctx=Context.SEARCH_RESPONSE))


@app.get("/scim/v2/Schemas/<id>")
def get_schema(id: str) -> Response[Any]:  # noqa: A002 - SCIM's name
    scim.caller_org()  # a SCIM token of an active org
    found = next((s for s in _schemas() if s.id == id), None)
    if found is None:
        raise errors.NotFound("no such schema")
    return _scim(found.model_dump(scim_ctx=Context.RESOURCE_QUERY_RESPONSE))


# --------------------------------------------------------------------------- Users and Groups


@dataclass(frozen=True)
class _Kind:
    """What the routes of one resource type call (domain/scim.py for Users, scim_groups.py for
    Groups): the same nine routes serve both."""

    name: str  # the path segment: Users, Groups
    check_filter: Callable[[str | None], object]  # 400 invalidFilter for a filter the type cannot run
    parse: Callable[[Any, Context], Any]
    parse_patch: Callable[[Any], Any]
    page: Callable[[OrgRecord, str | None, int, int], tuple[int, list[Any]]]  # (filter, start, count)
    get: Callable[[OrgRecord, str], Any]
    create: Callable[[OrgRecord, Any], Any]
    replace: Callable[..., Any]
    patch: Callable[..., Any]
    delete: Callable[..., None]


USERS = _Kind(
    name="Users",
    check_filter=scim.user_name_filter,
    parse=scim.parse_user,
    parse_patch=scim.parse_patch,
    page=lambda org, f, start, count: scim.list_users(
        org, user_name=scim.user_name_filter(f), start_index=start, count=count
    ),
    get=scim.get_user,
    create=scim.create_user,
    replace=scim.replace_user,
    patch=scim.patch_user,
    delete=scim.delete_user,
)
GROUPS = _Kind(
    name="Groups",
    check_filter=scim.display_name_filter,
    parse=scim_groups.parse_group,
    parse_patch=scim_groups.parse_patch,
    page=lambda org, f, start, count: scim_groups.list_groups(
        org, display_name=scim.display_name_filter(f), start_index=start, count=count
    ),
    get=scim_groups.get_group,
    create=scim_groups.create_group,
    replace=scim_groups.replace_group,
    patch=scim_groups.patch_group,
    delete=scim_groups.delete_group,
)


def _listing() -> dict[str, Any]:
    """A list's filter, page and attributes, from the URL's query (RFC 7644 §3.4.2)."""
    return {
        "filter_": _query("filter"),
        "start_index": _int("startIndex", 1),
        "count": _int("count", MAX_RESULTS),
        "params": _parameters(_query("attributes"), _query("excludedAttributes")),
    }


def _searching() -> dict[str, Any]:
    """The same, from a POST …/.search body (RFC 7644 §3.4.3)."""
    request = _search_request()
    return {
        "filter_": str(request.filter) if request.filter is not None else None,
        "start_index": request.start_index or 1,
        "count": request.count if request.count is not None else MAX_RESULTS,
        "params": request if (request.attributes or request.excluded_attributes) else None,
    }


def _search_request() -> SearchRequest[Any]:
    body = _body()
    try:
        request: SearchRequest[Any] = SearchRequest.model_validate(
            body if isinstance(body, dict) else {}, scim_ctx=Context.SEARCH_REQUEST
        )
    except ValueError:
        raise scim.ScimInvalid("the body is not a valid SearchRequest", code="invalidValue") from None
    if request.sort_by is not None:
        raise scim.ScimInvalid("sorting is not supported", code="invalidValue")
    return request


def _list(
    kind: _Kind,
    org: OrgRecord,
    *,
    filter_: str | None,
    start_index: int,
    count: int,
    params: ResponseParameters[Any] | None,
) -> Response[Any]:
    total, found = kind.page(org, filter_, start_index, count)
    listing = ListResponse[ScimUser | ScimGroup](
        total_results=total, start_index=max(start_index, 1), items_per_page=len(found), resources=found
    )
    return _scim(listing.model_dump(scim_ctx=Context.SEARCH_RESPONSE, response_parameters=params))


def _created(kind: _Kind, org: OrgRecord, body: Any) -> Response[Any]:
    made = kind.create(org, body)
    response = _answer(made, None, Context.RESOURCE_CREATION_RESPONSE, 201)
    if made.meta is not None and made.meta.location:
        response.headers["Location"] = made.meta.location  # RFC 7644 §3.3
    return response


def _got(kind: _Kind, org: OrgRecord, id_: str) -> Response[Any]:
    params = _parameters(_query("attributes"), _query("excludedAttributes"))
    found = kind.get(org, id_)
    return _unchanged(found) or _answer(found, params, Context.RESOURCE_QUERY_RESPONSE)


def _replaced(kind: _Kind, org: OrgRecord, id_: str, body: Any) -> Response[Any]:
    done = kind.replace(org, id_, body, if_match=_if_match())
    return _answer(done, None, Context.RESOURCE_REPLACEMENT_RESPONSE)


def _patched(kind: _Kind, org: OrgRecord, id_: str, patch: Any) -> Response[Any]:
    return _answer(kind.patch(org, id_, patch, if_match=_if_match()), None, Context.RESOURCE_PATCH_RESPONSE)


def _deleted(kind: _Kind, org: OrgRecord, id_: str) -> Response[str]:
    kind.delete(org, id_, if_match=_if_match())
    return Response(status_code=204, body="")


# Each route names its caller (scim.caller_org: a SCIM token of an active org) after checking its
# body, as tests/unit/test_route_permissions.py reads it; what it does is the type's (_Kind).


@app.get(f"{PREFIX}/Users")
def list_users() -> Response[Any]:
    return _list(USERS, scim.caller_org(), **_listing())


@app.post(f"{PREFIX}/Users/.search")
def search_users() -> Response[Any]:
    searched = _searching()
    return _list(USERS, scim.caller_org(), **searched)


@app.post(f"{PREFIX}/Users")
def create_user() -> Response[Any]:
    body = USERS.parse(_body(), Context.RESOURCE_CREATION_REQUEST)
    return _created(USERS, scim.caller_org(), body)


@app.get(f"{PREFIX}/Users/<id>")
def get_user(id: str) -> Response[Any]:  # noqa: A002 - SCIM's name
    return _got(USERS, scim.caller_org(), id)


@app.put(f"{PREFIX}/Users/<id>")
def replace_user(id: str) -> Response[Any]:  # noqa: A002 - SCIM's name
    body = USERS.parse(_body(), Context.RESOURCE_REPLACEMENT_REQUEST)
    return _replaced(USERS, scim.caller_org(), id, body)


@app.patch(f"{PREFIX}/Users/<id>")
def patch_user(id: str) -> Response[Any]:  # noqa: A002 - SCIM's name
    patch = USERS.parse_patch(_body())
    return _patched(USERS, scim.caller_org(), id, patch)


@app.delete(f"{PREFIX}/Users/<id>")
def delete_user(id: str) -> Response[str]:  # noqa: A002 - SCIM's name
    return _deleted(USERS, scim.caller_org(), id)


@app.get(f"{PREFIX}/Groups")
def list_groups() -> Response[Any]:
    return _list(GROUPS, scim.caller_org(), **_listing())


@app.post(f"{PREFIX}/Groups/.search")
def search_groups() -> Response[Any]:
    searched = _searching()
    return _list(GROUPS, scim.caller_org(), **searched)


@app.post(f"{PREFIX}/Groups")
def create_group() -> Response[Any]:
    body = GROUPS.parse(_body(), Context.RESOURCE_CREATION_REQUEST)
    return _created(GROUPS, scim.caller_org(), body)


@app.get(f"{PREFIX}/Groups/<id>")
def get_group(id: str) -> Response[Any]:  # noqa: A002 - SCIM's name
    return _got(GROUPS, scim.caller_org(), id)


@app.put(f"{PREFIX}/Groups/<id>")
def replace_group(id: str) -> Response[Any]:  # noqa: A002 - SCIM's name
    body = GROUPS.parse(_body(), Context.RESOURCE_REPLACEMENT_REQUEST)
    return _replaced(GROUPS, scim.caller_org(), id, body)


@app.patch(f"{PREFIX}/Groups/<id>")
def patch_group(id: str) -> Response[Any]:  # noqa: A002 - SCIM's name
    patch = GROUPS.parse_patch(_body())
    return _patched(GROUPS, scim.caller_org(), id, patch)


@app.delete(f"{PREFIX}/Groups/<id>")
def delete_group(id: str) -> Response[str]:  # noqa: A002 - SCIM's name
    return _deleted(GROUPS, scim.caller_org(), id)


def _root_filter(filter_: str | None) -> list[tuple[_Kind, str | None]]:
    """The types a root search reaches, each with its filter: `userName eq` reaches Users only,
    `displayName eq` Groups only, no filter both; any other filter is 400 invalidFilter."""
    if filter_ is None or not filter_.strip():
        return [(USERS, None), (GROUPS, None)]
    for kind in (USERS, GROUPS):
        try:
            kind.check_filter(filter_)
        except scim.ScimInvalid:
            continue
        return [(kind, filter_)]
    raise scim.ScimInvalid(
        'a search across types supports `userName eq "…"` (Users) or `displayName eq "…"` (Groups)',
        code="invalidFilter",
    )


@app.post(f"{PREFIX}/.search")
def search_root() -> Response[Any]:
    """A search across resource types (RFC 7644 §3.4.3): Users, then Groups, paged as one list."""
    searched = _searching()  # the body is checked first, as before the org is read
    org = scim.caller_org()
    start, count = max(searched["start_index"], 1), max(min(searched["count"], MAX_RESULTS), 0)
    found: list[ScimUser | ScimGroup] = []
    total = before = 0
    for kind, filter_ in _root_filter(searched["filter_"]):
        # this type's part of the page: what is left of `count`, from where the page reaches it
        of_kind, page = kind.page(org, filter_, max(start - before, 1), count - len(found))
        found.extend(page)
        total, before = total + of_kind, before + of_kind
    listing = ListResponse[ScimUser | ScimGroup](
        total_results=total, start_index=start, items_per_page=len(found), resources=found
    )
    return _scim(listing.model_dump(scim_ctx=Context.SEARCH_RESPONSE, response_parameters=searched["params"]))


lambda_handler = make_handler(app, raw=raw_error, media_types=frozenset({JSON, SCIM}))
