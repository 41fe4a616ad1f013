"""Create, on moto, the AWS resources that template.yaml declares, from their own definitions,
and resolve the intrinsic functions (Ref, GetAtt, Sub, dynamic references) the functions'
environment uses."""

from __future__ import annotations

import json
import re
import secrets
import string
import threading
from dataclasses import dataclass, field
from typing import Any

from strongroom_local.template import resources_of

REGION = "us-east-1"
ACCOUNT = "123456789012"
PREFIX = "strongroom-local"
_DYNAMIC_REF = re.compile(r"\{\{resolve:secretsmanager:([^:}]+(?::[^:}]+)*?):SecretString(?::[^}]*)?\}\}")


@dataclass
class Resources:
    """What the template's logical ids became on moto."""

    refs: dict[str, str] = field(default_factory=dict)
    attrs: dict[str, dict[str, str]] = field(default_factory=dict)
    secret_values: dict[str, str] = field(default_factory=dict)  # secret ARN -> generated value
    parameters: dict[str, str] = field(default_factory=dict)
    tables: list[str] = field(default_factory=list)
    queues: dict[str, str] = field(default_factory=dict)  # logical id -> URL

    def resolve(self, value: Any) -> Any:
        """Evaluate Ref / Fn::GetAtt / Fn::Sub / Fn::Join against what was created."""
        if isinstance(value, dict) and len(value) == 1:
            ((fn, arg),) = value.items()
            if fn == "Ref":
                return self._ref(arg)
            if fn == "Fn::GetAtt":
                logical, attr = arg if isinstance(arg, list) else str(arg).split(".", 1)
                return self.attrs[logical][attr]
            if fn == "Fn::Sub":
                text, extra = (arg, {}) if isinstance(arg, str) else (arg[0], arg[1])
                return self._dynamic(self._sub(text, {k: self.resolve(v) for k, v in extra.items()}))
            if fn == "Fn::Join":
                sep, items = arg
                return sep.join(str(self.resolve(i)) for i in items)
        if isinstance(value, str):
            return self._dynamic(value)
        return value

    def _ref(self, name: str) -> str:
        pseudo = {
            "AWS::Region": REGION,
            "AWS::AccountId": ACCOUNT,
            "AWS::Partition": "aws",
            "AWS::URLSuffix": "amazonaws.com",
            "AWS::StackName": PREFIX,
        }
        if name in pseudo:
            return pseudo[name]
        if name in self.parameters:
            return self.parameters[name]
        return self.refs[name]

    def _sub(self, text: str, extra: dict[str, Any]) -> str:
        def one(match: re.Match[str]) -> str:
            name = match.group(1)
            if name in extra:
                return str(extra[name])
            if "." in name:
                logical, attr = name.split(".", 1)
                return self.attrs[logical][attr]
            return str(self._ref(name))

        return re.sub(r"\$\{([A-Za-z0-9:.]+)\}", one, text)

    def _dynamic(self, text: str) -> str:
        return _DYNAMIC_REF.sub(lambda m: self.secret_values[m.group(1)], text)


def _parameters(template: dict[str, Any], overrides: dict[str, str]) -> dict[str, str]:
    params = {k: str(v.get("Default", "")) for k, v in (template.get("Parameters") or {}).items()}
    params.update(overrides)
    return params


def provision(template: dict[str, Any], *, parameters: dict[str, str] | None = None) -> Resources:
    """Create tables, keys, queues and secrets on the active moto backend."""
    import boto3  # noqa: PLC0415

    res = Resources(parameters=_parameters(template, parameters or {}))
    ddb = boto3.client("dynamodb", region_name=REGION)
    kms = boto3.client("kms", region_name=REGION)
    sqs = boto3.client("sqs", region_name=REGION)
    sm = boto3.client("secretsmanager", region_name=REGION)

    for logical, r in resources_of(template, "AWS::DynamoDB::Table").items():
        _create_table(ddb, logical, r["Properties"], res)
    for logical, r in resources_of(template, "AWS::KMS::Key").items():
        props = r["Properties"]
        meta = kms.create_key(
            Description=str(props.get("Description", logical)), KeyUsage=str(props.get("KeyUsage", "ENCRYPT_DECRYPT"))
        )["KeyMetadata"]
        if props.get("EnableKeyRotation"):
            kms.enable_key_rotation(KeyId=meta["KeyId"])
        res.refs[logical] = meta["KeyId"]
        res.attrs[logical] = {"Arn": meta["Arn"], "KeyId": meta["KeyId"]}
    for logical, r in resources_of(template, "AWS::SecretsManager::Secret").items():
        gen = r["Properties"].get("GenerateSecretString") or {}
        alphabet = string.ascii_letters + string.digits + ("" if gen.get("ExcludePunctuation") else "!#$%&*+-.:=?@^_~")
        value = "".join(secrets.choice(alphabet) for _ in range(int(gen.get("PasswordLength", 32))))
        arn = sm.create_secret(Name=f"{PREFIX}-{logical}", SecretString=value)["ARN"]
        res.refs[logical] = arn
        res.attrs[logical] = {"Id": arn}
        res.secret_values[arn] = value
    queues = resources_of(template, "AWS::SQS::Queue")
    # Dead-letter queues first, so that redrive policies can name them.
    for logical, r in sorted(queues.items(), key=lambda kv: "RedrivePolicy" in kv[1].get("Properties", {})):
        _create_queue(sqs, logical, r.get("Properties") or {}, res)
    return res


def _create_table(ddb: Any, logical: str, props: dict[str, Any], res: Resources) -> None:
    name = f"{PREFIX}-{logical.lower()}"
    kwargs: dict[str, Any] = {
        "TableName": name,
        "AttributeDefinitions": props["AttributeDefinitions"],
        "KeySchema": props["KeySchema"],
        "BillingMode": props.get("BillingMode", "PAY_PER_REQUEST"),
    }
    if props.get("GlobalSecondaryIndexes"):
        kwargs["GlobalSecondaryIndexes"] = props["GlobalSecondaryIndexes"]
    stream = props.get("StreamSpecification")
    if stream:
        kwargs["StreamSpecification"] = {"StreamEnabled": True, "StreamViewType": stream["StreamViewType"]}
    desc = ddb.create_table(**kwargs)["TableDescription"]
    ttl = props.get("TimeToLiveSpecification")
    if ttl and ttl.get("Enabled"):
        ddb.update_time_to_live(
            TableName=name, TimeToLiveSpecification={"AttributeName": ttl["AttributeName"], "Enabled": True}
        )
    res.refs[logical] = name
    res.attrs[logical] = {"Arn": desc["TableArn"], "StreamArn": desc.get("LatestStreamArn", "")}
    res.tables.append(name)


def _create_queue(sqs: Any, logical: str, props: dict[str, Any], res: Resources) -> None:
    attributes: dict[str, str] = {}
    for key in ("VisibilityTimeout", "MessageRetentionPeriod", "DelaySeconds", "ReceiveMessageWaitTimeSeconds"):
        if key in props:
            attributes[key] = str(props[key])
    if "RedrivePolicy" in props:
        policy = props["RedrivePolicy"]
        attributes["RedrivePolicy"] = json.dumps(
            {
                "deadLetterTargetArn": res.resolve(policy["deadLetterTargetArn"]),
                "maxReceiveCount": int(policy["maxReceiveCount"]),
            }
        )
    url = sqs.create_queue(QueueName=f"{PREFIX}-{logical}", Attributes=attributes)["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    res.refs[logical] = url
    res.attrs[logical] = {"Arn": arn, "QueueName": f"{PREFIX}-{logical}", "QueueUrl": url}
    res.queues[logical] = url


_atomic_lock = threading.RLock()
_patched = False


def make_dynamodb_atomic() -> None:
    """Real DynamoDB applies each request atomically (a conditional write or a transaction is
    all-or-nothing against concurrent requests). moto's backend is not thread-safe, so serve its
    DynamoDB requests one at a time. This serializes the emulator; it does not fake it."""
    global _patched  # noqa: PLW0603
    if _patched:
        return
    from moto.dynamodb.responses import DynamoHandler  # noqa: PLC0415

    original = DynamoHandler.call_action

    def call_action(self: Any) -> Any:
        with _atomic_lock:
            return original(self)

    DynamoHandler.call_action = call_action  # type: ignore[method-assign]
    _patched = True
