"""Credentials a response hands out once (tokens, webhook secrets, device codes), marked where the
response model declares them:

    class ServiceTokenCreated(ServiceToken):
        token: ShownOnce = Field(description="Shown once (sr_svc_…)")

The mark is a JSON-schema extra (`"x-shown-once": true`, so the OpenAPI document shows it too).
Whatever keeps a response (the idempotency records) passes it through `redact` with the type the
route declares: every marked value, at any depth (nested models, lists, dicts, unions), becomes
PLACEHOLDER, so no stored copy holds a credential. Nothing here is a list of field names.
"""

from __future__ import annotations

import types
from collections.abc import Iterable, Mapping, Sequence
from typing import Annotated, Any, Union, get_args, get_origin

from pydantic import BaseModel, Field
from pydantic.fields import FieldInfo

MARK = "x-shown-once"
PLACEHOLDER = "[shown once]"

ShownOnce = Annotated[str, Field(json_schema_extra={MARK: True})]


def _marks(metadata: Iterable[Any]) -> bool:
    return any(
        isinstance(m, FieldInfo) and isinstance(m.json_schema_extra, dict) and m.json_schema_extra.get(MARK) is True
        for m in metadata
    )


def is_marked(field: FieldInfo) -> bool:
    return _marks([field, *field.metadata])


def redact(data: Any, annotation: Any) -> Any:
    """`data` (JSON-shaped, as serialized) with every value `annotation` marks shown-once replaced."""
    if data is None:
        return None
    origin, args = get_origin(annotation), get_args(annotation)
    if origin is Annotated:
        return PLACEHOLDER if _marks(annotation.__metadata__) else redact(data, args[0])
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return _redact_model(data, annotation)
    if origin in (Union, types.UnionType):
        for member in args:  # each member's marks apply: the safe superset
            data = redact(data, member)
        return data
    return _redact_container(data, origin, args) if isinstance(origin, type) else data


def _redact_container(data: Any, origin: type, args: tuple[Any, ...]) -> Any:
    if isinstance(data, list) and issubclass(origin, tuple) and args and args[-1] is not Ellipsis:
        return [redact(v, a) for v, a in zip(data, args, strict=False)] + data[len(args) :]
    if isinstance(data, list) and issubclass(origin, Sequence | set | frozenset):
        return [redact(v, args[0] if args else Any) for v in data]
    if isinstance(data, dict) and issubclass(origin, Mapping):
        return {k: redact(v, args[1] if len(args) == 2 else Any) for k, v in data.items()}
    return data


def _redact_model(data: Any, model: type[BaseModel]) -> Any:
    if not isinstance(data, dict):
        return data
    out = dict(data)
    for name, field in model.model_fields.items():
        for key in {name, field.alias, field.serialization_alias} - {None}:
            if key in out and out[key] is not None:
                out[key] = PLACEHOLDER if is_marked(field) else redact(out[key], field.annotation)
    return out
