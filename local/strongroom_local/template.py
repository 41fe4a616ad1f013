"""template.yaml as data: a CloudFormation-aware YAML loader, the route table, the functions."""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = ROOT / "template.yaml"


class _CfnLoader(yaml.SafeLoader):
    """Reads `!Ref x`, `!GetAtt a.b`, `!Sub …` and friends as their long forms."""


def _tag(loader: yaml.SafeLoader, suffix: str, node: yaml.Node) -> dict[str, Any]:
    name = "Ref" if suffix == "Ref" else f"Fn::{suffix}"
    if isinstance(node, yaml.ScalarNode):
        value: Any = loader.construct_scalar(node)
        if suffix == "GetAtt":
            value = str(value).split(".", 1)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)  # type: ignore[arg-type]
    return {name: value}


_CfnLoader.add_multi_constructor("!", _tag)


@cache
def load_template(path: Path = TEMPLATE) -> dict[str, Any]:
    with path.open(encoding="utf-8") as fh:
        return yaml.load(fh, Loader=_CfnLoader)  # noqa: S506 - a SafeLoader subclass


@dataclass(frozen=True, slots=True)
class Function:
    logical_id: str
    code_uri: Path
    handler: str
    environment: dict[str, Any]
    timeout: int


@dataclass(frozen=True, slots=True)
class Route:
    method: str
    path: str  # API Gateway syntax: /v1/orgs/{org}
    function: str  # logical id
    regex: re.Pattern[str]

    @property
    def key(self) -> str:
        return "$default" if self.path == "$default" else f"{self.method} {self.path}"

    @property
    def static(self) -> bool:
        return "{" not in self.path


def functions(template: dict[str, Any]) -> dict[str, Function]:
    glob = template.get("Globals", {}).get("Function", {})
    out: dict[str, Function] = {}
    for logical_id, res in template["Resources"].items():
        if res["Type"] != "AWS::Serverless::Function":
            continue
        props = res["Properties"]
        env = dict(glob.get("Environment", {}).get("Variables", {}))
        env.update(props.get("Environment", {}).get("Variables", {}))
        out[logical_id] = Function(
            logical_id=logical_id,
            code_uri=ROOT / props["CodeUri"],
            handler=props["Handler"],
            environment=env,
            timeout=int(props.get("Timeout", glob.get("Timeout", 3))),
        )
    return out


def _path_regex(path: str) -> re.Pattern[str]:
    parts = re.split(r"(\{[A-Za-z0-9_]+\+?\})", path)
    pattern = "".join(
        (f"(?P<{p[1:-2]}>.+)" if p.endswith("+}") else f"(?P<{p[1:-1]}>[^/]+)") if p.startswith("{") else re.escape(p)
        for p in parts
    )
    return re.compile(f"^{pattern}$")


def routes(template: dict[str, Any]) -> list[Route]:
    """Every HttpApi event of every function; static routes sort before parameterised ones."""
    out: list[Route] = []
    for logical_id, res in template["Resources"].items():
        if res["Type"] != "AWS::Serverless::Function":
            continue
        for event in (res["Properties"].get("Events") or {}).values():
            if event.get("Type") != "HttpApi":
                continue
            props = event["Properties"]
            method, path = str(props["Method"]).upper(), str(props["Path"])
            if path == "$default":
                out.append(Route(method="ANY", path=path, function=logical_id, regex=re.compile(r"(?!)")))
                continue
            out.append(Route(method=method, path=path, function=logical_id, regex=_path_regex(path)))
    out.sort(key=lambda r: (not r.static, r.path.count("{"), r.path, r.method))
    return out


def resources_of(template: dict[str, Any], *types: str) -> dict[str, dict[str, Any]]:
    return {k: v for k, v in template["Resources"].items() if v["Type"] in types}
