"""template.yaml as data: short tags, intrinsics, functions and routes."""

from __future__ import annotations

import json

import pytest

from strongroom_local.environment import EnvironmentConflict, shared_environment
from strongroom_local.intrinsics import NO_VALUE, Intrinsics, UnresolvedError, references
from strongroom_local.provision import Resources, template_parameters
from strongroom_local.template import ROOT, Function, functions, load_template, parse_template, routes

SHORT_TAGS = """
A: !Ref Table
B: !GetAtt Table.Arn
C: !GetAtt [Queue, QueueName]
D: !Sub "arn:${AWS::Partition}:s3:::${Bucket}"
E: !Sub ["${X}-${Y}", {X: !Ref Stage, Y: two}]
F: !If [IsProd, !Ref AWS::NoValue, [!Ref Topic]]
G: !Not [!Equals [!Ref P, ""]]
H: !Condition IsProd
I: !Join [",", [a, !Select [0, !Split ["-", "x-y"]]]]
J: !FindInMap [M, k, v]
"""


def test_short_tags_become_their_long_forms() -> None:
    data = parse_template(SHORT_TAGS)
    assert data["A"] == {"Ref": "Table"}
    assert data["B"] == {"Fn::GetAtt": ["Table", "Arn"]}
    assert data["C"] == {"Fn::GetAtt": ["Queue", "QueueName"]}
    assert data["D"] == {"Fn::Sub": "arn:${AWS::Partition}:s3:::${Bucket}"}
    assert data["E"] == {"Fn::Sub": ["${X}-${Y}", {"X": {"Ref": "Stage"}, "Y": "two"}]}
    assert data["F"] == {"Fn::If": ["IsProd", {"Ref": "AWS::NoValue"}, [{"Ref": "Topic"}]]}
    assert data["G"] == {"Fn::Not": [{"Fn::Equals": [{"Ref": "P"}, ""]}]}
    assert data["H"] == {"Condition": "IsProd"}
    assert data["I"] == {"Fn::Join": [",", ["a", {"Fn::Select": [0, {"Fn::Split": ["-", "x-y"]}]}]]}
    assert data["J"] == {"Fn::FindInMap": ["M", "k", "v"]}


def _intrinsics(**params: str) -> Intrinsics:
    return Intrinsics(
        parameters={"Stage": "local", "P": "", **params},
        conditions={
            "IsProd": {"Fn::Equals": [{"Ref": "Stage"}, "prod"]},
            "HasP": {"Fn::Not": [{"Fn::Equals": [{"Ref": "P"}, ""]}]},
        },
        mappings={"M": {"k": {"v": "mapped"}}},
        refs={"Table": "t-name", "Topic": "topic-arn", "Bucket": "b", "Secret": "arn:secret:s"},
        attrs={"Table": {"Arn": "arn:table"}, "Queue": {"QueueName": "q"}},
        secret_values={"arn:secret:s": "s3cr3t", "json-secret": json.dumps({"password": "pw"})},
    )


def test_intrinsics_resolve_against_what_was_created() -> None:
    data = parse_template(SHORT_TAGS)
    i = _intrinsics()
    resolved = i.resolve(data)
    assert resolved["A"] == "t-name"
    assert resolved["B"] == "arn:table"
    assert resolved["C"] == "q"
    assert resolved["D"] == "arn:aws:s3:::b"
    assert resolved["E"] == "local-two"
    assert resolved["F"] == ["topic-arn"]
    assert resolved["G"] is False
    assert resolved["H"] is False
    assert resolved["I"] == "a,x"
    assert resolved["J"] == "mapped"
    assert "F" not in _intrinsics(Stage="prod").resolve(data)  # AWS::NoValue removes the key


def test_no_value_removes_the_property_or_list_item() -> None:
    i = _intrinsics(Stage="prod")
    assert i.resolve({"Ref": "AWS::NoValue"}) is NO_VALUE
    assert i.resolve({"Keep": 1, "Drop": {"Fn::If": ["IsProd", {"Ref": "AWS::NoValue"}, 2]}}) == {"Keep": 1}
    assert i.resolve(["a", {"Ref": "AWS::NoValue"}, "b"]) == ["a", "b"]


def test_sub_keeps_escaped_literals_and_reads_getatt_variables() -> None:
    i = _intrinsics()
    assert i.resolve({"Fn::Sub": "${!Literal}-${Table.Arn}-${AWS::Region}"}) == "${Literal}-arn:table-us-east-1"


def test_dynamic_references_resolve_to_generated_secrets() -> None:
    i = _intrinsics()
    assert i.resolve({"Fn::Sub": "{{resolve:secretsmanager:${Secret}:SecretString}}"}) == "s3cr3t"
    assert i.resolve("{{resolve:secretsmanager:json-secret:SecretString:password}}") == "pw"
    with pytest.raises(UnresolvedError):
        i.resolve("{{resolve:secretsmanager:unknown:SecretString}}")


def test_unknown_names_fail_loudly() -> None:
    with pytest.raises(UnresolvedError, match="Nope"):
        _intrinsics().resolve({"Ref": "Nope"})
    with pytest.raises(UnresolvedError, match=r"Table\.StreamArn"):
        _intrinsics().resolve({"Fn::GetAtt": ["Table", "StreamArn"]})


def test_references_find_what_a_value_depends_on() -> None:
    value = parse_template(
        'X: [!Ref A, !GetAtt B.Arn, !Sub "${C}-${D.Arn}-${!E}-${AWS::Region}", !Sub ["${F}", {F: !Ref G}]]'
    )
    assert references(value) - {"AWS::Region"} == {"A", "B", "C", "D", "G"}


def test_parameter_overrides_are_checked_against_the_template() -> None:
    template = load_template()
    params = template_parameters(template, {"AuthMode": "dev"})
    assert params["AuthMode"] == "dev"
    assert params["Stage"] == str(template["Parameters"]["Stage"]["Default"])
    with pytest.raises(ValueError, match="not one of"):
        template_parameters(template, {"AuthMode": "magic"})
    with pytest.raises(ValueError, match="unknown"):
        template_parameters(template, {"NoSuchParameter": "x"})


def test_functions_merge_globals_under_their_own_settings() -> None:
    template = load_template()
    fns = functions(template)
    globals_fn = template["Globals"]["Function"]
    health = fns["HealthFunction"]
    assert health.code_uri == ROOT / "functions" / "health"
    assert health.handler == "health_api.app.lambda_handler"
    assert health.module == "health_api.app"
    assert health.attribute == "lambda_handler"
    assert health.memory_size == template["Resources"]["HealthFunction"]["Properties"]["MemorySize"]
    assert health.timeout == globals_fn["Timeout"]
    assert health.environment["TABLE_NAME"] == {"Ref": "Table"}
    assert health.environment["POWERTOOLS_SERVICE_NAME"] == "health"
    for fn in fns.values():
        assert (fn.code_uri / (fn.module.replace(".", "/") + ".py")).is_file(), fn.handler


def test_routes_are_every_http_api_event_of_the_template() -> None:
    template = load_template()
    expected = {
        (str(e["Properties"]["Method"]).upper(), e["Properties"]["Path"], logical)
        for logical, r in template["Resources"].items()
        if r["Type"] == "AWS::Serverless::Function"
        for e in (r["Properties"].get("Events") or {}).values()
        if e["Type"] == "HttpApi"
    }
    got = {(r.method, r.path, r.function) for r in routes(template)}
    assert got == expected
    assert ("GET", "/health", "HealthFunction") in got


def _fn(name: str, **env: object) -> Function:
    return Function(logical_id=name, code_uri=ROOT, handler="m.h", environment=dict(env))


def test_the_shared_environment_resolves_intrinsics_and_applies_local_values() -> None:
    res = Resources(parameters={"AuthMode": "oidc"}, refs={"Table": "t-name", "Topic": "topic"})
    res.placeholders.append("Topic")
    env, notes = shared_environment(
        [
            _fn("A", TABLE_NAME={"Ref": "Table"}, AUTH_MODE={"Ref": "AuthMode"}, TOPIC={"Ref": "Topic"}),
            _fn("B", TABLE_NAME={"Ref": "Table"}, FLAG=True),
        ],
        res,
        {"AUTH_MODE": "dev"},
    )
    assert env == {"TABLE_NAME": "t-name", "AUTH_MODE": "dev", "TOPIC": "topic", "FLAG": "true"}
    assert notes == ["TOPIC refers to Topic, which the local stack does not create"]


def test_functions_that_disagree_on_a_variable_cannot_share_a_process() -> None:
    with pytest.raises(EnvironmentConflict, match="QUEUE"):
        shared_environment([_fn("A", QUEUE="a"), _fn("B", QUEUE="b")], Resources(), {})
