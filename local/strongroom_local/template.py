"""template.yaml as data: a CloudFormation-aware YAML loader, the functions, and their HTTP routes."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = ROOT / "template.yaml"
LAYER_DIR = ROOT / "layers" / "strongroom"
DEFAULT_ROUTE = "$default"
# Lambda's defaults when neither the function nor Globals.Function says otherwise.
DEFAULT_TIMEOUT = 3
DEFAULT_MEMORY = 128


class CfnLoader(yaml.SafeLoader):  # type: ignore[misc]  # PyYAML is untyped
    """A SafeLoader that reads CloudFormation short tags as their long forms:
    `!Ref x` -> {"Ref": "x"}, `!Condition c` -> {"Condition": "c"}, `!GetAtt a.b` -> {"Fn::GetAtt": ["a", "b"]},
    and any other `!Name v` -> {"Fn::Name": v} (Sub, If, Join, Select, Split, Equals, Not, FindInMap, …)."""


def _short_tag(loader: yaml.SafeLoader, suffix: str, node: yaml.Node) -> dict[str, Any]:
    value: Any
    if isinstance(node, yaml.ScalarNode):
        value = loader.construct_scalar(node)
        if suffix == "GetAtt":
            value = str(value).split(".", 1)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)
    name = suffix if suffix in {"Ref", "Condition"} else f"Fn::{suffix}"
    return {name: value}


CfnLoader.add_multi_constructor("!", _short_tag)


def parse_template(text: str) -> dict[str, Any]:
    """A CloudFormation/SAM template (YAML or JSON text) as plain data."""
    data = yaml.load(text, Loader=CfnLoader)  # noqa: S506 - a SafeLoader subclass
    if not isinstance(data, dict):
        raise ValueError("a template is a mapping")
    return data


@cache
def load_template(path: Path = TEMPLATE) -> dict[str, Any]:
    """The template, parsed once per process (callers must not mutate it)."""
    return parse_template(path.read_text(encoding="utf-8"))


def resources_of(template: dict[str, Any], *types: str) -> dict[str, dict[str, Any]]:
    """Logical id -> resource, for the resources of the given types."""
    return {k: v for k, v in (template.get("Resources") or {}).items() if v.get("Type") in types}


# --------------------------------------------------------------------------- functions


@dataclass(frozen=True, slots=True)
class Function:
    """One AWS::Serverless::Function, with Globals.Function merged in (intrinsics unresolved)."""

    logical_id: str
    code_uri: Path
    handler: str
    environment: dict[str, Any] = field(default_factory=dict)
    timeout: int = DEFAULT_TIMEOUT
    memory_size: int = DEFAULT_MEMORY

    @property
    def module(self) -> str:
        return self.handler.rsplit(".", 1)[0]

    @property
    def attribute(self) -> str:
        return self.handler.rsplit(".", 1)[1]


def functions(template: dict[str, Any], root: Path = ROOT) -> dict[str, Function]:
    """Every AWS::Serverless::Function, by logical id."""
    glob = (template.get("Globals") or {}).get("Function") or {}
    out: dict[str, Function] = {}
    for logical_id, res in resources_of(template, "AWS::Serverless::Function").items():
        props = res.get("Properties") or {}
        env = dict(((glob.get("Environment") or {}).get("Variables")) or {})
        env.update(((props.get("Environment") or {}).get("Variables")) or {})
        out[logical_id] = Function(
            logical_id=logical_id,
            code_uri=root / str(props.get("CodeUri", glob.get("CodeUri", "."))),
            handler=str(props.get("Handler", glob.get("Handler", ""))),
            environment=env,
            timeout=int(props.get("Timeout", glob.get("Timeout", DEFAULT_TIMEOUT))),
            memory_size=int(props.get("MemorySize", glob.get("MemorySize", DEFAULT_MEMORY))),
        )
    return out


# --------------------------------------------------------------------------- routes


@dataclass(frozen=True, slots=True)
class Route:
    """One HttpApi event: `method` is upper-case or ANY; `path` uses API Gateway syntax (/v1/orgs/{org})."""

    method: str
    path: str
    function: str  # logical id

    @property
    def key(self) -> str:
        """The route key API Gateway puts in the event ("GET /v1/orgs/{org}", or "$default")."""
        return DEFAULT_ROUTE if self.path == DEFAULT_ROUTE else f"{self.method} {self.path}"

    @property
    def static(self) -> bool:
        return "{" not in self.path


def routes(template: dict[str, Any]) -> list[Route]:
    """Every HttpApi event of every function, in template order."""
    out: list[Route] = []
    for logical_id, res in resources_of(template, "AWS::Serverless::Function").items():
        for event in ((res.get("Properties") or {}).get("Events") or {}).values():
            if event.get("Type") != "HttpApi":
                continue
            props = event.get("Properties") or {}
            # SAM: an HttpApi event without Path/Method is the catch-all route.
            path = str(props.get("Path", DEFAULT_ROUTE))
            method = str(props.get("Method", "ANY")).upper()
            out.append(
                Route(
                    method="ANY" if method in {"*", "X-AMAZON-APIGATEWAY-ANY-METHOD"} else method,
                    path=path,
                    function=logical_id,
                )
            )
    return out


def http_api_properties(template: dict[str, Any]) -> dict[str, Any]:
    """Properties of the template's AWS::Serverless::HttpApi (the first one), or {}."""
    for res in resources_of(template, "AWS::Serverless::HttpApi").values():
        return dict(res.get("Properties") or {})
    return {}
