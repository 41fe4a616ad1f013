"""SCIM 2.0 at /scim/v2 (RFC 7644) for an org's identity provider, with a SCIM token
(`Authorization: Bearer sr_scim_…`; domain/scim_tokens.py): discovery (ServiceProviderConfig,
ResourceTypes, Schemas), Users (domain/scim.py) and Groups, one per role (domain/scim_groups.py).
Errors in SCIM's own shape (`urn:ietf:params:scim:api:messages:2.0:Error`, application/scim+json). Documented by its own
discovery endpoints, not in docs/openapi.json (docs/decisions.md)."""

from __future__ import annotations

import json
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


def _user(user: ScimUser, params: ResponseParameters[Any] | None, ctx: Context, status: int = 200) -> Response[Any]:
    return _tagged(_scim(user.model_dump(scim_ctx=ctx, response_parameters=params), status), user)


def _list(
    org: OrgRecord, *, filter_: str | None, start_index: int, count: int, params: ResponseParameters[Any] | None
) -> Response[Any]:
    total, users = scim.list_users(org, user_name=scim.user_name_filter(filter_), start_index=start_index, count=count)
    listing = ListResponse[ScimUser](
        total_results=total, start_index=max(start_index, 1), items_per_page=len(users), resources=users
    )
    return _scim(listing.model_dump(scim_ctx=Context.SEARCH_RESPONSE, response_parameters=params))


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


# --------------------------------------------------------------------------- Users


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


def _located(response: Response[Any], meta: Any) -> Response[Any]:
    """A created resource's answer carries its location (RFC 7644 §3.3)."""
    if meta is not None and meta.location:
        response.headers["Location"] = meta.location
    return response


@app.get("/scim/v2/Users")
def list_users() -> Response[Any]:
    return _list(scim.caller_org(), **_listing())


def _root_filter(filter_: str | None) -> tuple[bool, bool, str | None, str | None]:
    """Which types a root search reaches, and their filters: `userName eq` reaches Users only,
    `displayName eq` Groups only, no filter both; any other filter is 400 invalidFilter."""
    if filter_ is None or not filter_.strip():
        return True, True, None, None
    try:
        return True, False, scim.user_name_filter(filter_), None
    except scim.ScimInvalid:
        pass
    try:
        return False, True, None, scim.display_name_filter(filter_)
    except scim.ScimInvalid:
        raise scim.ScimInvalid(
            'a search across types supports `userName eq "…"` (Users) or `displayName eq "…"` (Groups)',
            code="invalidFilter",
        ) from None


@app.post("/scim/v2/.search")
def search_root() -> Response[Any]:
    """A search across resource types (RFC 7644 §3.4.3): Users, then Groups, paged as one list."""
    searched = _searching()  # the body is checked first, as before the org is read
    org = scim.caller_org()
    with_users, with_groups, user_name, display_name = _root_filter(searched["filter_"])
    start, count = max(searched["start_index"], 1), max(min(searched["count"], MAX_RESULTS), 0)
    users: list[ScimUser] = []
    groups: list[ScimGroup] = []
    total_users = total_groups = 0
    if with_users:
        total_users, users = scim.list_users(org, user_name=user_name, start_index=start, count=count)
    if with_groups:
        left = count - len(users)
        total_groups, groups = scim_groups.list_groups(
            org, display_name=display_name, start_index=max(start - total_users, 1), count=left
        )
    found: list[ScimUser | ScimGroup] = [*users, *groups]
    listing = ListResponse[ScimUser | ScimGroup](
        total_results=total_users + total_groups, start_index=start, items_per_page=len(found), resources=found
    )
    return _scim(listing.model_dump(scim_ctx=Context.SEARCH_RESPONSE, response_parameters=searched["params"]))


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


@app.post("/scim/v2/Users/.search")
def search_users() -> Response[Any]:
    searched = _searching()  # the body is checked first, as before the org is read
    return _list(scim.caller_org(), **searched)


@app.post("/scim/v2/Users")
def create_user() -> Response[Any]:
    user = scim.parse_user(_body(), Context.RESOURCE_CREATION_REQUEST)
    created = scim.create_user(scim.caller_org(), user)
    response = _user(created, None, Context.RESOURCE_CREATION_RESPONSE, 201)
    return _located(response, created.meta)


@app.get("/scim/v2/Users/<id>")
def get_user(id: str) -> Response[Any]:  # noqa: A002 - SCIM's name
    params = _parameters(_query("attributes"), _query("excludedAttributes"))
    user = scim.get_user(scim.caller_org(), id)
    return _unchanged(user) or _user(user, params, Context.RESOURCE_QUERY_RESPONSE)


@app.put("/scim/v2/Users/<id>")
def replace_user(id: str) -> Response[Any]:  # noqa: A002 - SCIM's name
    user = scim.parse_user(_body(), Context.RESOURCE_REPLACEMENT_REQUEST)
    replaced = scim.replace_user(scim.caller_org(), id, user, if_match=_if_match())
    return _user(replaced, None, Context.RESOURCE_REPLACEMENT_RESPONSE)


@app.patch("/scim/v2/Users/<id>")
def patch_user(id: str) -> Response[Any]:  # noqa: A002 - SCIM's name
    patch = scim.parse_patch(_body())
    patched = scim.patch_user(scim.caller_org(), id, patch, if_match=_if_match())
    return _user(patched, None, Context.RESOURCE_PATCH_RESPONSE)


@app.delete("/scim/v2/Users/<id>")
def delete_user(id: str) -> Response[str]:  # noqa: A002 - SCIM's name
    scim.delete_user(scim.caller_org(), id, if_match=_if_match())
    return Response(status_code=204, body="")


# --------------------------------------------------------------------------- Groups


def _group(group: ScimGroup, params: ResponseParameters[Any] | None, ctx: Context, status: int = 200) -> Response[Any]:
    return _tagged(_scim(group.model_dump(scim_ctx=ctx, response_parameters=params), status), group)


def _group_list(
    org: OrgRecord, *, filter_: str | None, start_index: int, count: int, params: ResponseParameters[Any] | None
) -> Response[Any]:
    total, groups = scim_groups.list_groups(
        org, display_name=scim.display_name_filter(filter_), start_index=start_index, count=count
    )
    listing = ListResponse[ScimGroup](
        total_results=total, start_index=max(start_index, 1), items_per_page=len(groups), resources=groups
    )
    return _scim(listing.model_dump(scim_ctx=Context.SEARCH_RESPONSE, response_parameters=params))


@app.get("/scim/v2/Groups")
def list_groups() -> Response[Any]:
    return _group_list(scim.caller_org(), **_listing())


@app.post("/scim/v2/Groups/.search")
def search_groups() -> Response[Any]:
    searched = _searching()  # the body is checked first, as before the org is read
    return _group_list(scim.caller_org(), **searched)


@app.post("/scim/v2/Groups")
def create_group() -> Response[Any]:
    group = scim_groups.parse_group(_body(), Context.RESOURCE_CREATION_REQUEST)
    created = scim_groups.create_group(scim.caller_org(), group)
    response = _group(created, None, Context.RESOURCE_CREATION_RESPONSE, 201)
    return _located(response, created.meta)


@app.get("/scim/v2/Groups/<id>")
def get_group(id: str) -> Response[Any]:  # noqa: A002 - SCIM's name
    params = _parameters(_query("attributes"), _query("excludedAttributes"))
    group = scim_groups.get_group(scim.caller_org(), id)
    return _unchanged(group) or _group(group, params, Context.RESOURCE_QUERY_RESPONSE)


@app.put("/scim/v2/Groups/<id>")
def replace_group(id: str) -> Response[Any]:  # noqa: A002 - SCIM's name
    group = scim_groups.parse_group(_body(), Context.RESOURCE_REPLACEMENT_REQUEST)
    replaced = scim_groups.replace_group(scim.caller_org(), id, group, if_match=_if_match())
    return _group(replaced, None, Context.RESOURCE_REPLACEMENT_RESPONSE)


@app.patch("/scim/v2/Groups/<id>")
def patch_group(id: str) -> Response[Any]:  # noqa: A002 - SCIM's name
    patch = scim_groups.parse_patch(_body())
    patched = scim_groups.patch_group(scim.caller_org(), id, patch, if_match=_if_match())
    return _group(patched, None, Context.RESOURCE_PATCH_RESPONSE)


@app.delete("/scim/v2/Groups/<id>")
def delete_group(id: str) -> Response[str]:  # noqa: A002 - SCIM's name
    scim_groups.delete_group(scim.caller_org(), id, if_match=_if_match())
    return Response(status_code=204, body="")


lambda_handler = make_handler(app, raw=raw_error, media_types=frozenset({JSON, SCIM}))
