"""The premise of the integration tests: the moto resources the handlers run against are the
ones template.yaml declares (provisioned from its own definitions by strongroom_local), and the
functions' environment points at them."""

from __future__ import annotations

import os
from typing import Any

from strongroom import aws
from strongroom_local import LocalStack
from strongroom_local.template import load_template


def _declared(logical_id: str) -> dict[str, Any]:
    return dict(load_template()["Resources"][logical_id]["Properties"])


def _pairs(items: list[dict[str, str]], *names: str) -> set[tuple[str, ...]]:
    return {tuple(i[n] for n in names) for i in items}


def test_the_table_is_the_one_the_template_declares(stack: LocalStack) -> None:
    assert stack.resources is not None
    declared = _declared("Table")
    name = stack.resources.refs["Table"]
    assert os.environ["TABLE_NAME"] == name
    table = aws.dynamodb().describe_table(TableName=name)["Table"]

    assert table["KeySchema"] == declared["KeySchema"]
    assert _pairs(table["AttributeDefinitions"], "AttributeName", "AttributeType") == _pairs(
        declared["AttributeDefinitions"], "AttributeName", "AttributeType"
    )
    assert table["BillingModeSummary"]["BillingMode"] == declared["BillingMode"]
    indexes = {i["IndexName"]: i for i in table.get("GlobalSecondaryIndexes", [])}
    assert set(indexes) == {i["IndexName"] for i in declared["GlobalSecondaryIndexes"]}
    for index in declared["GlobalSecondaryIndexes"]:
        assert indexes[index["IndexName"]]["KeySchema"] == index["KeySchema"]
        assert indexes[index["IndexName"]]["Projection"]["ProjectionType"] == index["Projection"]["ProjectionType"]
    assert table["StreamSpecification"]["StreamViewType"] == declared["StreamSpecification"]["StreamViewType"]

    ttl = aws.dynamodb().describe_time_to_live(TableName=name)["TimeToLiveDescription"]
    assert ttl["AttributeName"] == declared["TimeToLiveSpecification"]["AttributeName"]
    assert ttl["TimeToLiveStatus"] == "ENABLED"


def test_the_service_key_is_the_one_the_template_declares(stack: LocalStack) -> None:
    assert stack.resources is not None
    declared = _declared("ServiceKey")
    key_id = stack.resources.refs["ServiceKey"]
    # The template hands the functions the key's ARN (!GetAtt ServiceKey.Arn).
    assert os.environ["KMS_KEY_ID"] == stack.resources.attrs["ServiceKey"]["Arn"]
    meta = aws.kms().describe_key(KeyId=os.environ["KMS_KEY_ID"])["KeyMetadata"]
    assert meta["KeyId"] == key_id
    assert meta["Description"] == declared["Description"]
    assert meta["KeyUsage"] == declared.get("KeyUsage", "ENCRYPT_DECRYPT")
    assert meta["Enabled"] is True
    rotation = aws.kms().get_key_rotation_status(KeyId=key_id)["KeyRotationEnabled"]
    assert rotation is bool(declared.get("EnableKeyRotation"))
    # Usable the way the layer uses it: wrap a data key under an encryption context.
    context = {"org": "org_x", "project": "prj_x", "environment": "env_x"}
    data_key = aws.kms().generate_data_key(KeyId=os.environ["KMS_KEY_ID"], KeySpec="AES_256", EncryptionContext=context)
    unwrapped = aws.kms().decrypt(CiphertextBlob=data_key["CiphertextBlob"], EncryptionContext=context)
    assert unwrapped["Plaintext"] == data_key["Plaintext"]
    assert len(data_key["Plaintext"]) == 32
