"""The CLI's output formats, without a server: a command's result as yaml, tsv and dotenv; an
environment's values as docker and k8s; templates filled or refused naming the missing keys.
Read back by independent parsers (PyYAML, python-dotenv, base64) where there is one."""

from __future__ import annotations

import base64
import io

import dotenv
import pytest
import yaml

from strongroom_cli import formats

ROWS = [
    {"id": "tok_1", "name": "ci", "permissions": ["read"], "expires_at": None, "enabled": True},
    {
        "id": "tok_2",
        "name": 'q"uote: yes',
        "permissions": ["read", "write"],
        "expires_at": "2027-01-01",
        "enabled": False,
    },
]


def test_yaml_output_reads_back_as_the_same_data() -> None:
    tricky = {"a": "yes", "b": "0123", "c": "", "d": {"nested": ["x", {"y": "null"}]}, "e": [], "f": {}, "g": 1.5}
    for data in (ROWS, tricky, [], {}, "plain"):
        assert yaml.safe_load(formats.output(data, None, "yaml")) == data


def test_tsv_output_is_one_line_per_row_in_the_columns_asked() -> None:
    text = formats.output(ROWS, ["id", "permissions", "expires_at", "enabled"], "tsv")
    assert text.splitlines() == ['tok_1\t["read"]\t\ttrue', 'tok_2\t["read", "write"]\t2027-01-01\tfalse']


def test_dotenv_output_of_key_value_rows_reads_back_as_the_values() -> None:
    rows = [{"key": "A", "value": 'it\'s \\ "q"'}, {"key": "B", "value": "line 1\nline 2"}]
    parsed = dotenv.dotenv_values(stream=io.StringIO(formats.output(rows, None, "dotenv")), interpolate=False)
    assert parsed == {"A": 'it\'s \\ "q"', "B": "line 1\nline 2"}


def test_docker_env_file_is_unquoted_and_refuses_what_it_cannot_carry_naming_the_keys() -> None:
    assert formats.values_text({"B": "x y 'z'", "A": "a=b"}, "docker") == "A=a=b\nB=x y 'z'\n"
    with pytest.raises(formats.Unrepresentable) as refused:
        formats.values_text({"OK": "1", "PEM": "line 1\nline 2", "a.b": "x"}, "docker")
    assert "PEM" in str(refused.value)
    assert "a.b" in str(refused.value)
    assert "OK" not in str(refused.value)
    assert "line 1" not in str(refused.value)


def test_k8s_manifest_is_a_secret_with_base64_data_and_the_etag() -> None:
    values = {"DB_URL": "postgres://db/app", "PEM": "line 1\nline 2", "é": "ü"}
    manifest = yaml.safe_load(formats.values_text(values, "k8s", name="web-staging", etag="env_1:7"))
    assert manifest["kind"] == "Secret"
    assert manifest["apiVersion"] == "v1"
    assert manifest["metadata"] == {"name": "web-staging", "annotations": {"strongroom.dev/etag": "env_1:7"}}
    assert {k: base64.b64decode(v).decode() for k, v in manifest["data"].items()} == values


def test_fill_replaces_both_syntaxes_and_names_every_missing_key() -> None:
    template = "url={{ DB_URL }} user={{env.USER}} key=${API_KEY} ${env.REGION} {{ MISSING }} ${ALSO_MISSING}"
    text, missing = formats.fill(template, {"DB_URL": "pg://x", "USER": "app", "API_KEY": "k", "REGION": "eu"})
    assert missing == ["ALSO_MISSING", "MISSING"]
    text, missing = formats.fill("url={{ DB_URL }} user={{env.USER}} key=${API_KEY} ${env.REGION}", {
        "DB_URL": "pg://x", "USER": "app", "API_KEY": "k", "REGION": "eu"})  # fmt: skip
    assert (text, missing) == ("url=pg://x user=app key=k eu", [])
