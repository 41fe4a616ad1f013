"""Resources are created from a template's own definitions (here a small template exercising
what template.yaml may grow into), on the session's moto world, under a unique prefix."""

from __future__ import annotations

import json
import os
import secrets

import boto3
import pytest

from strongroom_local import LocalStack
from strongroom_local.provision import Resources, provision
from strongroom_local.template import parse_template

TEMPLATE = """
Parameters:
  Stage: {Type: String, Default: dev}
  Flavour: {Type: String, Default: plain, AllowedValues: [plain, fancy]}
Conditions:
  IsFancy: !Equals [!Ref Flavour, fancy]
Resources:
  Events:
    Type: AWS::DynamoDB::Table
    Properties:
      BillingMode: PAY_PER_REQUEST
      AttributeDefinitions:
        - {AttributeName: PK, AttributeType: S}
        - {AttributeName: SK, AttributeType: S}
        - {AttributeName: BY, AttributeType: S}
      KeySchema: [{AttributeName: PK, KeyType: HASH}, {AttributeName: SK, KeyType: RANGE}]
      LocalSecondaryIndexes:
        - IndexName: ByBy
          KeySchema: [{AttributeName: PK, KeyType: HASH}, {AttributeName: BY, KeyType: RANGE}]
          Projection: {ProjectionType: KEYS_ONLY}
      StreamSpecification: {StreamViewType: NEW_IMAGE}
      TimeToLiveSpecification: {AttributeName: ttl, Enabled: true}
      DeletionProtectionEnabled: !If [IsFancy, true, false]
  DataKey:
    Type: AWS::KMS::Key
    Properties:
      Description: !Sub "data key for ${Stage}"
      EnableKeyRotation: false
  DataKeyAlias:
    Type: AWS::KMS::Alias
    Properties:
      AliasName: !Sub "alias/${AWS::StackName}-${Stage}-data"
      TargetKeyId: !Ref DataKey
  Dlq:
    Type: AWS::SQS::Queue
    Properties:
      FifoQueue: true
      MessageRetentionPeriod: 1209600
  Jobs:
    Type: AWS::SQS::Queue
    Properties:
      FifoQueue: true
      ContentBasedDeduplication: true
      VisibilityTimeout: 45
      RedrivePolicy:
        deadLetterTargetArn: !GetAtt Dlq.Arn
        maxReceiveCount: 3
  DbPassword:
    Type: AWS::SecretsManager::Secret
    Properties:
      Description: generated
      GenerateSecretString:
        SecretStringTemplate: '{"username": "app"}'
        GenerateStringKey: password
        PasswordLength: 24
        ExcludeCharacters: '"@/\\'
  FancyQueue:
    Type: AWS::SQS::Queue
    Condition: IsFancy
  Alarm:
    Type: AWS::CloudWatch::Alarm
    Properties:
      AlarmActions: [!Ref Jobs]
"""


@pytest.fixture(scope="module")
def created(stack: LocalStack) -> Resources:
    """`stack` only to have moto running; everything here is under its own prefix."""
    assert stack.resources is not None
    return provision(parse_template(TEMPLATE), prefix=f"probe-{secrets.token_hex(4)}")


def test_table_is_created_from_its_definition(created: Resources) -> None:
    name = created.refs["Events"]
    table = boto3.client("dynamodb", region_name="us-east-1").describe_table(TableName=name)["Table"]
    assert table["KeySchema"] == [
        {"AttributeName": "PK", "KeyType": "HASH"},
        {"AttributeName": "SK", "KeyType": "RANGE"},
    ]
    assert [i["IndexName"] for i in table["LocalSecondaryIndexes"]] == ["ByBy"]
    assert table["StreamSpecification"] == {"StreamEnabled": True, "StreamViewType": "NEW_IMAGE"}
    assert created.attrs["Events"]["StreamArn"] == table["LatestStreamArn"]
    assert created.attrs["Events"]["Arn"] == table["TableArn"]
    assert table.get("DeletionProtectionEnabled") is False  # the !If resolved against the parameter default
    ttl = boto3.client("dynamodb", region_name="us-east-1").describe_time_to_live(TableName=name)
    assert ttl["TimeToLiveDescription"] == {"AttributeName": "ttl", "TimeToLiveStatus": "ENABLED"}


def test_key_and_alias(created: Resources) -> None:
    kms = boto3.client("kms", region_name="us-east-1")
    meta = kms.describe_key(KeyId=created.refs["DataKey"])["KeyMetadata"]
    assert meta["Description"] == "data key for dev"
    assert meta["KeySpec"] == "SYMMETRIC_DEFAULT"
    assert kms.get_key_rotation_status(KeyId=meta["KeyId"])["KeyRotationEnabled"] is False
    alias = created.refs["DataKeyAlias"]
    assert alias.endswith("-dev-data")
    assert kms.describe_key(KeyId=alias)["KeyMetadata"]["KeyId"] == meta["KeyId"]


def test_fifo_queues_and_redrive_to_the_dead_letter_queue(created: Resources) -> None:
    sqs = boto3.client("sqs", region_name="us-east-1")
    attributes = sqs.get_queue_attributes(QueueUrl=created.refs["Jobs"], AttributeNames=["All"])["Attributes"]
    assert created.attrs["Jobs"]["QueueName"].endswith("-Jobs.fifo")
    assert attributes["FifoQueue"] == "true"
    assert attributes["ContentBasedDeduplication"] == "true"
    assert attributes["VisibilityTimeout"] == "45"
    assert json.loads(attributes["RedrivePolicy"]) == {
        "deadLetterTargetArn": created.attrs["Dlq"]["Arn"],
        "maxReceiveCount": 3,
    }


def test_generated_secret_follows_its_template(created: Resources) -> None:
    arn = created.refs["DbPassword"]
    value = boto3.client("secretsmanager", region_name="us-east-1").get_secret_value(SecretId=arn)["SecretString"]
    doc = json.loads(value)
    assert doc["username"] == "app"
    assert len(doc["password"]) == 24
    assert not set(doc["password"]) & set('"@/\\')
    assert created.secret_values[arn] == value
    assert created.resolve(f"{{{{resolve:secretsmanager:{arn}:SecretString:password}}}}") == doc["password"]


def test_conditions_skip_resources_and_others_get_placeholders(created: Resources) -> None:
    assert created.skipped == ["FancyQueue"]
    assert "FancyQueue" not in created.refs
    assert created.placeholders == ["Alarm"]
    assert created.resolve({"Fn::GetAtt": ["Alarm", "Arn"]}).startswith("arn:aws:cloudwatch:us-east-1:")


def test_the_functions_environment_points_at_the_template_resources(stack: LocalStack) -> None:
    assert stack.resources is not None
    env = stack.environment
    secret_arn = stack.resources.refs["CursorSigningSecret"]
    secret = boto3.client("secretsmanager", region_name="us-east-1").get_secret_value(SecretId=secret_arn)
    assert env["CURSOR_SIGNING_KEY"] == secret["SecretString"]
    assert "{{resolve:" not in env["CURSOR_SIGNING_KEY"]
    assert env["TABLE_NAME"] == stack.resources.refs["Table"]
    assert env["KMS_KEY_ID"] == stack.resources.attrs["ServiceKey"]["Arn"]
    assert env["AUTH_MODE"] == stack.auth_mode == "dev"
    assert env["STAGE"] == "local"
    assert env["POWERTOOLS_METRICS_DISABLED"] == env["POWERTOOLS_TRACE_DISABLED"] == "true"
    assert env["POWERTOOLS_DEV"] == "false"
    # Set in this process, which every function shares.
    assert {k: v for k, v in env.items() if os.environ.get(k) == v} == env
