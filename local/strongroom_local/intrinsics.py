"""CloudFormation intrinsic functions, evaluated against what the local stack created.

Supported: Ref (resources, parameters, pseudo parameters), Fn::GetAtt, Fn::Sub (both forms,
`${!Literal}`), Fn::Join, Fn::Select, Fn::Split, Fn::If / Fn::Equals / Fn::Not / Fn::And /
Fn::Or / Condition, Fn::FindInMap, Fn::Base64, AWS::NoValue, and `{{resolve:secretsmanager:…}}`
dynamic references to secrets the stack generated.
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

REGION = "us-east-1"
ACCOUNT = "123456789012"
STACK_NAME = "strongroom-local"
PSEUDO = {
    "AWS::Region": REGION,
    "AWS::AccountId": ACCOUNT,
    "AWS::Partition": "aws",
    "AWS::URLSuffix": "amazonaws.com",
    "AWS::StackName": STACK_NAME,
    "AWS::StackId": f"arn:aws:cloudformation:{REGION}:{ACCOUNT}:stack/{STACK_NAME}/local",
    "AWS::NotificationARNs": [],
}
_SUB_VAR = re.compile(r"\$\{(!?)([^}]*)\}")
_DYNAMIC_REF = re.compile(r"\{\{resolve:secretsmanager:(?P<id>.+?):SecretString(?::(?P<key>[^:}]*))?(?::[^}]*)?\}\}")


class _NoValue:
    """AWS::NoValue: the property or list item it stands for is removed."""

    def __repr__(self) -> str:
        return "AWS::NoValue"


NO_VALUE = _NoValue()


class UnresolvedError(KeyError):
    """An intrinsic names something the local stack does not know."""


@dataclass
class Intrinsics:
    """What names resolve to: parameters, condition definitions, and per-resource Ref/GetAtt values."""

    parameters: dict[str, Any] = field(default_factory=dict)
    conditions: dict[str, Any] = field(default_factory=dict)
    mappings: dict[str, Any] = field(default_factory=dict)
    refs: dict[str, str] = field(default_factory=dict)
    attrs: dict[str, dict[str, str]] = field(default_factory=dict)
    secret_values: dict[str, str] = field(default_factory=dict)  # secret ARN or name -> value
    _condition_cache: dict[str, bool] = field(default_factory=dict, repr=False)

    # ------------------------------------------------------------------ entry point

    def resolve(self, value: Any) -> Any:
        """Evaluate every intrinsic inside `value` (recursively); AWS::NoValue entries are dropped."""
        if isinstance(value, dict):
            if len(value) == 1:
                ((name, arg),) = value.items()
                fn = _FUNCTIONS.get(name)
                if fn is not None:
                    return fn(self, arg)
            out = {k: self.resolve(v) for k, v in value.items()}
            return {k: v for k, v in out.items() if v is not NO_VALUE}
        if isinstance(value, list):
            return [item for item in (self.resolve(v) for v in value) if item is not NO_VALUE]
        if isinstance(value, str):
            return self.dynamic(value)
        return value

    # ------------------------------------------------------------------ names

    def ref(self, name: str) -> Any:
        if name == "AWS::NoValue":
            return NO_VALUE
        if name in PSEUDO:
            return PSEUDO[name]
        if name in self.parameters:
            return self.parameters[name]
        if name in self.refs:
            return self.refs[name]
        raise UnresolvedError(f"Ref {name}: no such parameter or created resource")

    def get_att(self, logical: str, attribute: str) -> str:
        try:
            return self.attrs[logical][attribute]
        except KeyError:
            raise UnresolvedError(f"Fn::GetAtt {logical}.{attribute}: not created locally") from None

    def condition(self, name: str) -> bool:
        if name not in self._condition_cache:
            if name not in self.conditions:
                raise UnresolvedError(f"Condition {name}: not defined")
            self._condition_cache[name] = bool(self.resolve(self.conditions[name]))
        return self._condition_cache[name]

    def dynamic(self, text: str) -> str:
        """Replace `{{resolve:secretsmanager:<id>:SecretString[:<json-key>]}}` with the generated value."""

        def one(match: re.Match[str]) -> str:
            secret_id, key = match.group("id"), match.group("key")
            if secret_id not in self.secret_values:
                raise UnresolvedError(f"dynamic reference to unknown secret {secret_id}")
            value = self.secret_values[secret_id]
            return str(json.loads(value)[key]) if key else value

        return _DYNAMIC_REF.sub(one, text) if "{{resolve:" in text else text

    # ------------------------------------------------------------------ functions

    def _fn_ref(self, arg: Any) -> Any:
        return self.ref(str(arg))

    def _fn_get_att(self, arg: Any) -> str:
        logical, attribute = (arg[0], arg[1]) if isinstance(arg, list) else str(arg).split(".", 1)
        return self.get_att(str(self.resolve(logical)), str(self.resolve(attribute)))

    def _fn_sub(self, arg: Any) -> str:
        text, extra = (arg, {}) if isinstance(arg, str) else (arg[0], self.resolve(arg[1]))

        def one(match: re.Match[str]) -> str:
            literal, name = match.group(1), match.group(2)
            if literal:
                return "${" + name + "}"
            if name in extra:
                return str(extra[name])
            if "." in name and name not in PSEUDO:
                logical, attribute = name.split(".", 1)
                return self.get_att(logical, attribute)
            return str(self.ref(name))

        return self.dynamic(_SUB_VAR.sub(one, text))

    def _fn_join(self, arg: Any) -> str:
        separator, items = arg
        return str(separator).join(str(i) for i in self.resolve(items))

    def _fn_select(self, arg: Any) -> Any:
        index, items = self.resolve(arg)
        return items[int(index)]

    def _fn_split(self, arg: Any) -> list[str]:
        separator, text = self.resolve(arg)
        return str(text).split(str(separator))

    def _fn_if(self, arg: Any) -> Any:
        name, when_true, when_false = arg
        return self.resolve(when_true if self.condition(str(name)) else when_false)

    def _fn_equals(self, arg: Any) -> bool:
        left, right = self.resolve(arg)
        return _scalar(left) == _scalar(right)

    def _fn_not(self, arg: Any) -> bool:
        return not self._truth(arg[0])

    def _fn_and(self, arg: Any) -> bool:
        return all(self._truth(a) for a in arg)

    def _fn_or(self, arg: Any) -> bool:
        return any(self._truth(a) for a in arg)

    def _fn_condition(self, arg: Any) -> bool:
        return self.condition(str(arg))

    def _fn_find_in_map(self, arg: Any) -> Any:
        name, top, second = self.resolve(arg)
        return self.mappings[name][top][second]

    def _fn_base64(self, arg: Any) -> str:
        return base64.b64encode(str(self.resolve(arg)).encode()).decode()

    def _truth(self, value: Any) -> bool:
        resolved = self.resolve(value)
        return resolved if isinstance(resolved, bool) else str(resolved).lower() == "true"


def _scalar(value: Any) -> str:
    """How CloudFormation compares values: as strings, booleans as true/false."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


_FUNCTIONS: Mapping[str, Callable[[Intrinsics, Any], Any]] = {
    "Ref": Intrinsics._fn_ref,
    "Condition": Intrinsics._fn_condition,
    "Fn::GetAtt": Intrinsics._fn_get_att,
    "Fn::Sub": Intrinsics._fn_sub,
    "Fn::Join": Intrinsics._fn_join,
    "Fn::Select": Intrinsics._fn_select,
    "Fn::Split": Intrinsics._fn_split,
    "Fn::If": Intrinsics._fn_if,
    "Fn::Equals": Intrinsics._fn_equals,
    "Fn::Not": Intrinsics._fn_not,
    "Fn::And": Intrinsics._fn_and,
    "Fn::Or": Intrinsics._fn_or,
    "Fn::FindInMap": Intrinsics._fn_find_in_map,
    "Fn::Base64": Intrinsics._fn_base64,
}


def references(value: Any) -> set[str]:
    """The logical ids / parameter names that `value` refers to (Ref, GetAtt, Sub variables)."""
    found: set[str] = set()
    if isinstance(value, dict):
        if len(value) == 1:
            ((name, arg),) = value.items()
            if name == "Ref":
                return {str(arg)}
            if name == "Fn::GetAtt":
                return {str(arg[0]) if isinstance(arg, list) else str(arg).split(".", 1)[0]}
            if name == "Fn::Sub":
                text = arg if isinstance(arg, str) else arg[0]
                local = set() if isinstance(arg, str) else set(arg[1])
                found |= {m.group(2).split(".", 1)[0] for m in _SUB_VAR.finditer(text) if not m.group(1)} - local
                if not isinstance(arg, str):
                    found |= references(arg[1])
                return found
        for item in value.values():
            found |= references(item)
    elif isinstance(value, list):
        for item in value:
            found |= references(item)
    return found
