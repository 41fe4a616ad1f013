"""moto's cost per byte of a response, for the local stack.

moto runs `re.sub(r"(?<=<RequestId>).*(?=</RequestId>)", …)` over the body of every response,
to put the request id into XML ones. DynamoDB and KMS answer in JSON, which has no such tag, so
the substitution never changes anything there, but the look-behind scan costs ~10 ms per MB: a
pull of 10,000 secrets (2.7 MB of snapshot, 3.6 MB as JSON) spent ~30 ms of its ~80 ms inside
moto on it. Here it runs only on a body that holds the tag: the same bodies, without the scan.
Emulator time only; AWS never did this work.
"""

from __future__ import annotations

import json
from typing import Any

_installed = False


def skip_idle_request_id_rewrite() -> None:
    """Patch moto's response enrichment to scan only bodies with a `<RequestId>` (idempotent)."""
    global _installed  # noqa: PLW0603 - one patch per process
    if _installed:
        return
    from moto.core.responses import BaseResponse  # noqa: PLC0415 - moto loads lazily

    original = BaseResponse._enrich_response

    def _enrich_response(headers: dict[str, str], body: Any) -> tuple[dict[str, str], Any]:
        if isinstance(body, str) and "<RequestId>" not in body:
            original(headers, "")  # the headers as moto sets them (status, request id)
            return headers, body
        return original(headers, body)  # type: ignore[no-any-return]

    _enrich_response.__wrapped__ = original  # type: ignore[attr-defined]
    BaseResponse._enrich_response = staticmethod(_enrich_response)  # type: ignore[method-assign,assignment]
    _installed = True


# --------------------------------------------------------------------------- DynamoDB's JSON responses
#
# moto 5.2 turns the dict a DynamoDB action returns into its JSON body through the model-driven
# serializer (moto/core/serialize.py): for every member of every structure of the output shape it
# builds an AttributePickerContext, tries up to a dozen key aliases (ExplicitAlias, ShapeNameAlias,
# the key, its snake_case form, prefixes...) and only then writes the value. Every attribute of
# every item is an AttributeValue structure of ten members, so a response costs ~200 alias lookups
# per item, and ~1 ms for even a small one. The dict the action returns already has DynamoDB's wire
# shape; what the serializer changes is only: member order (the shape's), None members dropped,
# strings/numbers coerced, blobs base64-encoded, timestamps converted, and aliased keys picked up.
#
# `fast_dynamodb_json` serializes such a dict from a plan compiled once per operation from the same
# output shape, and only when the result is plain data the plan reproduces exactly: every dict key
# of a structure is one of its members or a key no member's alias can name (moto drops it), each
# value has its shape's exact Python type (str, bool, int, float, dict, list; str or bytes for a
# blob), no None inside a list or map, no timestamp member present, and no structure whose
# members' aliases could name another member. Anything else raises `_Unfit` and the original
# serializer runs, as it does for errors, other services, results other than ActionResult and
# DynamoResult (PaginatedResult, EmptyResult), pretty printing and registered response
# transformers. Same status, headers and body bytes (tests/integration/test_local_motospeed.py
# compares both on a set of DynamoDB calls). Emulator time only.

_dynamodb_installed = False


class _Unfit(Exception):
    """The result is not plain data that the compiled plan serializes exactly as moto would."""


def _ident_str(value: Any) -> Any:
    if type(value) is not str:
        raise _Unfit
    return value


def _ident_bool(value: Any) -> Any:
    if type(value) is not bool:
        raise _Unfit
    return value


def _to_int(value: Any) -> Any:
    if type(value) is not int:
        raise _Unfit
    return value


def _to_float(value: Any) -> Any:
    if type(value) is not float and type(value) is not int:
        raise _Unfit
    return float(value)


def _to_blob(value: Any) -> Any:
    import base64  # noqa: PLC0415 - rare

    if type(value) is str:
        value = value.encode("utf-8")
    elif type(value) is not bytes:
        raise _Unfit
    return base64.b64encode(value).strip().decode("utf-8")


def _document(value: Any) -> Any:
    return value


def _unfit(value: Any) -> Any:
    raise _Unfit


def _aliases(key: str, member: Any, parent: Any) -> list[str]:
    """Every key moto's XFormedAttributePicker may try for member `key` of a dict (DEFAULT_ALIAS_PROVIDERS)."""
    from botocore import xform_name  # noqa: PLC0415

    found = []
    if member.type_name in ("list", "structure") and member.name not in parent.members and key != member.name:
        found.append(member.name)  # ShapeNameAlias
    found.append(key)  # NoAlias
    if key.lower().startswith(parent.name.lower()) and key[len(parent.name) :] not in parent.members:
        found.append(key[len(parent.name) :])  # ShapePrefixAlias
    if key.lower().startswith("dict"):
        found.append(key[4:])  # ClassPrefixAlias, for a dict
    if "name" in member.serialization:
        found.append(member.serialization["name"])  # ModelAlias
    return found + [xform_name(alias) for alias in found]


_SCALARS = {
    "string": _ident_str,
    "boolean": _ident_bool,
    "integer": _to_int,
    "long": _to_int,
    "float": _to_float,
    "double": _to_float,
    "blob": _to_blob,
}


def _compile(shape: Any, plans: dict[str, Any]) -> Any:
    """A function from a value of `shape` to what moto's JSON serializer writes for it (or `_Unfit`)."""
    kind = shape.type_name
    if kind in _SCALARS:
        return _SCALARS[kind]
    if kind == "structure":
        return _document if shape.is_document_type else _compile_structure(shape, plans)
    if kind == "list" and "name" not in shape.member.serialization:  # else moto appends the raw item
        item = _compile(shape.member, plans)

        def convert_list(value: Any) -> Any:
            if type(value) is not list:
                raise _Unfit
            return [item(v) for v in value]  # a None item raises in its converter

        return convert_list
    if kind == "map" and shape.key.type_name == "string" and "name" not in shape.value.serialization:
        sub = _compile(shape.value, plans)

        def convert_map(value: Any) -> Any:
            if type(value) is not dict:
                raise _Unfit
            return {k: sub(v) for k, v in value.items()}  # None values raise; keys as given (moto's too)

        return convert_map
    return _unfit  # timestamps and anything else: the original serializer


def _compile_structure(shape: Any, plans: dict[str, Any]) -> Any:
    # recursive shapes (AttributeValue -> M -> AttributeValue) share one plan by name, looked up late
    if shape.name in plans:
        return lambda value: plans[shape.name](value)  # noqa: PLW0108 - bound when the plan is complete
    plans[shape.name] = _unfit
    members = dict(shape.members)
    for key, member in members.items():
        if "name" in member.serialization or any(
            alias in members and alias != key for alias in _aliases(key, member, shape)
        ):
            return _unfit  # an alias could pick another member's value: not plain
    converters = {key: _compile(member, plans) for key, member in members.items()}
    picked = {alias for key, member in members.items() for alias in _aliases(key, member, shape)}
    plans[shape.name] = convert = _structure(converters, list(members), picked)
    return convert


def _structure(converters: dict[str, Any], order: list[str], picked: set[str]) -> Any:
    """A structure's converter: its members in the shape's order, None members dropped; a key that is
    no member is dropped as moto drops it, unless moto could pick it as a member's alias (unfit)."""

    def convert_structure(value: Any) -> Any:
        if type(value) is not dict:
            raise _Unfit
        for key in value:
            if key not in converters and key in picked:
                raise _Unfit
        out = {}
        if len(value) == 1:  # one member set (an AttributeValue, mostly): the order is the shape's
            for key, v in value.items():
                if v is not None and key in converters:
                    out[key] = converters[key](v)
            return out
        for key in order:
            v = value.get(key)
            if v is not None:
                out[key] = converters[key](v)
        return out

    return convert_structure


_plans: dict[str, Any] = {}


def _plan(operation_model: Any) -> Any:
    name = operation_model.name
    plan = _plans.get(name)
    if plan is None:
        from moto.core.serialize import JSONSerializer  # noqa: PLC0415

        output = operation_model.output_shape
        convert = _compile(output, {}) if output is not None else None
        content_type = JSONSerializer(operation_model)._get_protocol_specific_content_type()
        status = operation_model.http.get("responseCode", JSONSerializer.DEFAULT_RESPONSE_CODE)
        plan = _plans[name] = (convert, content_type, status)
    return plan


def fast_dynamodb_json(result: Any, operation_model: Any) -> tuple[int, dict[str, str], str]:
    """(status, headers, body) as moto's JSONSerializer makes them for a successful DynamoDB result, or `_Unfit`."""
    convert, content_type, status = _plan(operation_model)
    if convert is None:
        raise _Unfit
    body = json.dumps(convert(result), indent=None)
    return status, {"Content-Type": content_type}, body


def serialize_dynamodb_json_directly() -> None:
    """Patch moto's ActionResult to write DynamoDB's plain JSON results without the alias walk (idempotent)."""
    global _dynamodb_installed  # noqa: PLW0603 - one patch per process
    if _dynamodb_installed:
        return
    from moto import settings  # noqa: PLC0415 - moto loads lazily
    from moto.core.responses import ActionResult  # noqa: PLC0415
    from moto.core.serialize import JSONSerializer  # noqa: PLC0415
    from moto.dynamodb.responses import DynamoResult  # noqa: PLC0415

    original = ActionResult.execute_result
    plain = (ActionResult, DynamoResult)  # DynamoResult only turns DynamoType values into dicts first

    def execute_result(self: Any, context: Any) -> Any:
        if (
            type(self) in plain
            and context.serializer_class is JSONSerializer
            and context.service_model.service_name == "dynamodb"
            and not settings.PRETTIFY_RESPONSES
            and not getattr(context.response, "RESPONSE_KEY_PATH_TO_TRANSFORMER", None)
            and not isinstance(self.result, Exception)
        ):
            try:
                return fast_dynamodb_json(self.result, context.operation_model)
            except _Unfit:
                pass
        return original(self, context)

    execute_result.__wrapped__ = original  # type: ignore[attr-defined]
    ActionResult.execute_result = execute_result  # type: ignore[method-assign]
    _dynamodb_installed = True


def uninstall_dynamodb_json() -> None:
    """Undo `serialize_dynamodb_json_directly` (for the equivalence test)."""
    global _dynamodb_installed  # noqa: PLW0603
    from moto.core.responses import ActionResult  # noqa: PLC0415

    wrapped = getattr(ActionResult.execute_result, "__wrapped__", None)
    if wrapped is not None:
        ActionResult.execute_result = wrapped  # type: ignore[method-assign]
    _dynamodb_installed = False
