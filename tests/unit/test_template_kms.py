"""The functions' KMS permissions (template.yaml): the service key by its ARN; any other key only
as a key (never `Resource: "*"`), only for data-key calls under Strongroom's encryption context
with an `org` in it; no DescribeKey on keys the service does not own (it told one tenant about
another's key). Which org a customer key serves is the key policy's to say (docs/byok.md)."""

from __future__ import annotations

from typing import Any

import pytest

from strongroom_local.template import load_template, resources_of

SERVICE_KEY = {"Fn::GetAtt": ["ServiceKey", "Arn"]}
SIGNING_KEY = {"Fn::GetAtt": ["AuditSigningKey", "Arn"]}
SEALER = "AuditSealerFunction"
ANY_KEY = {"Fn::Sub": "arn:${AWS::Partition}:kms:*:*:key/*"}
DATA_KEY_CALLS = {"kms:GenerateDataKey", "kms:Decrypt", "kms:ReEncryptFrom", "kms:ReEncryptTo"}


def _kms_statements() -> list[tuple[str, dict[str, Any]]]:
    found = []
    for name, resource in resources_of(load_template(), "AWS::Serverless::Function").items():
        for policy in resource.get("Properties", {}).get("Policies", []) or []:
            if not isinstance(policy, dict):
                continue
            for statement in policy.get("Statement", []):
                actions = statement.get("Action", [])
                actions = [actions] if isinstance(actions, str) else actions
                if any(str(a).startswith("kms:") for a in actions):
                    found.append((name, {**statement, "Action": actions}))
    return found


STATEMENTS = _kms_statements()


def test_there_are_kms_statements_to_check() -> None:
    assert {"OrgsFunction", "SecretsFunction", "RuntimeFunction"} <= {name for name, _ in STATEMENTS}


@pytest.mark.parametrize(("function", "statement"), STATEMENTS, ids=[f"{n}-{i}" for i, (n, _) in enumerate(STATEMENTS)])
def test_kms_statement_is_narrow(function: str, statement: dict[str, Any]) -> None:
    resource = statement["Resource"]
    if resource == SERVICE_KEY:
        assert not {"kms:Sign", "kms:GetPublicKey"} & set(statement["Action"]), function
        return
    if resource == SIGNING_KEY:  # the audit log's signing key: Sign for the sealer, the public key for readers
        assert set(statement["Action"]) == ({"kms:Sign"} if function == SEALER else {"kms:GetPublicKey"}), function
        return
    # Any other key: a key ARN pattern, data-key calls only, under Strongroom's context with an org
    assert resource == ANY_KEY, (function, resource)
    assert set(statement["Action"]) <= DATA_KEY_CALLS, (function, statement["Action"])
    condition = statement["Condition"]
    assert set(condition["ForAllValues:StringEquals"]["kms:EncryptionContextKeys"]) <= {
        "org",
        "project",
        "environment",
        "purpose",
    }
    assert condition["ForAnyValue:StringEquals"]["kms:EncryptionContextKeys"] == ["org"]
    assert condition["Null"]["kms:EncryptionContextKeys"] == "false"


def test_only_the_sealer_signs_tree_heads() -> None:
    signers = {name for name, statement in STATEMENTS if "kms:Sign" in statement["Action"]}
    assert signers == {SEALER}
    assert all(s["Resource"] == SIGNING_KEY for name, s in STATEMENTS if name == SEALER)


def test_the_grants_function_can_open_no_key() -> None:
    """Client-encrypted environments' grants and values are sealed by clients: the function that
    serves them holds no KMS permission at all (nothing there could unwrap a data key)."""
    assert "GrantsFunction" in resources_of(load_template(), "AWS::Serverless::Function")
    assert [name for name, _ in STATEMENTS if name == "GrantsFunction"] == []
