"""Layering: only the data modules (`strongroom/data/`) and `db.py` speak DynamoDB.

Every other module of the layer reaches the table through them: no DynamoDB expression in its
string literals (update expressions, conditions, key conditions, `begins_with`, `#name = :value`),
no boto3 import and no `aws.dynamodb()` call. Read from the source (no import, no store);
docstrings are prose and are not read.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "layers" / "strongroom" / "strongroom"
# Allowed to speak DynamoDB: the data modules (the generic store data/db.py among them) and the client factory.
ALLOWED = {"aws.py"}

# Modules allowed to hold expressions while they move (none: a new one fails).
PENDING: set[str] = set()

EXPRESSIONS = {
    # an update expression, or its first word alone, to be concatenated ("SET " + …)
    "update expression": re.compile(r"^\s*(SET|ADD|REMOVE|DELETE)(\s+[#:A-Za-z_]|\s+$)"),
    "attribute_exists": re.compile(r"\battribute_exists\s*\("),
    "attribute_not_exists": re.compile(r"\battribute_not_exists\s*\("),
    "begins_with": re.compile(r"\bbegins_with\s*\("),
    "#name = :value condition": re.compile(r"#\w+(\.#\w+)*\s*(=|<>|<|>|<=|>=)\s*:\w+"),
    "KeyConditionExpression": re.compile(r"KeyConditionExpression"),
}


def _modules() -> Iterator[tuple[str, Path]]:
    for path in sorted(PACKAGE.rglob("*.py")):
        name = path.relative_to(PACKAGE).as_posix()
        if name.startswith("data/") or name in ALLOWED:
            continue
        yield name, path


MODULES = dict(_modules())


def _docstrings(tree: ast.Module) -> set[int]:
    """The ids of the docstring nodes (module, class, function)."""
    out: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef) and node.body:
            first = node.body[0]
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant):
                out.add(id(first.value))
    return out


def _literals(tree: ast.Module) -> Iterator[tuple[int, str]]:
    """Every string literal but docstrings (an f-string's constant parts joined with spaces)."""
    skip = _docstrings(tree)
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in skip:
            yield node.lineno, node.value
        elif isinstance(node, ast.JoinedStr):
            parts = [v.value for v in node.values if isinstance(v, ast.Constant) and isinstance(v.value, str)]
            yield node.lineno, " ".join(parts)


def expression_strings(source: str) -> list[str]:
    tree = ast.parse(source)
    found = []
    for line, text in _literals(tree):
        for what, pattern in EXPRESSIONS.items():
            if pattern.search(text):
                found.append(f"line {line}: {what}: {text!r}")
    return found


def dynamodb_calls(source: str) -> list[str]:
    tree = ast.parse(source)
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [f"line {node.lineno}: import {a.name}" for a in node.names if a.name.split(".")[0] == "boto3"]
        elif isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] == "boto3":
            found.append(f"line {node.lineno}: from {node.module} import …")
        elif (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr == "dynamodb"
            and isinstance(node.func.value, ast.Name)
            and node.func.value.id == "aws"
        ):
            found.append(f"line {node.lineno}: aws.dynamodb()")
    return found


def test_the_pending_modules_exist() -> None:
    assert set(MODULES) >= PENDING


@pytest.mark.parametrize("name", sorted(set(MODULES) - PENDING))
def test_no_dynamodb_expression_outside_the_data_modules(name: str) -> None:
    found = expression_strings(MODULES[name].read_text(encoding="utf-8"))
    assert not found, f"{name} holds DynamoDB expressions (move them into a data/ module): {found}"


@pytest.mark.parametrize("name", sorted(set(MODULES) - PENDING))
def test_no_dynamodb_client_outside_the_data_modules(name: str) -> None:
    found = dynamodb_calls(MODULES[name].read_text(encoding="utf-8"))
    assert not found, f"{name} calls DynamoDB directly (go through db or a data/ module): {found}"


@pytest.mark.parametrize(
    "source",
    [
        'x = "SET #st = :deleted, deleted_at = :now"',
        'x = "ADD owner_count :d"',
        'x = "REMOVE kms_key_arn"',
        'x = "DELETE tags :t"',
        'x = dict(condition="attribute_exists(PK)")',
        'x = "attribute_not_exists(PK) OR org_id = :org"',
        'x = "begins_with(#action, :action)"',
        'x = "#st = :active"',
        'x = "#resource.#type = :rtype"',
        'x = {"KeyConditionExpression": "PK = :pk"}',
        'x = f"SET #{name} = :{name}"',
        'x = "SET " + ", ".join(parts)',
    ],
)
def test_an_expression_is_found(source: str) -> None:
    assert expression_strings(source)


@pytest.mark.parametrize(
    "source",
    [
        '"""A docstring may say attribute_exists(PK) and #st = :active."""',
        'ROUTE = "DELETE /v1/auth/tokens/{id}"',
        'x = "set the value"',
        'x = "Settings"',
        'MUTATING = frozenset({"POST", "PUT", "PATCH", "DELETE"})',
    ],
)
def test_prose_and_routes_are_not_expressions(source: str) -> None:
    assert not expression_strings(source)


@pytest.mark.parametrize(
    "source", ["import boto3", "from boto3.dynamodb.types import TypeDeserializer", "aws.dynamodb().get_item()"]
)
def test_a_client_call_is_found(source: str) -> None:
    assert dynamodb_calls(source)
