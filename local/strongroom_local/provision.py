"""Create, on the active moto backend, the AWS resources that template.yaml declares, from their own
definitions (never hand-written duplicates), and record what their Ref/GetAtt resolve to.

Created: AWS::DynamoDB::Table, AWS::KMS::Key, AWS::KMS::Alias, AWS::SQS::Queue,
AWS::SecretsManager::Secret. Every other resource gets a placeholder name so that intrinsics
naming it still resolve; `Resources.placeholders` lists them.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from graphlib import CycleError, TopologicalSorter
from typing import Any

from strongroom_local.intrinsics import ACCOUNT, REGION, STACK_NAME, Intrinsics, references
from strongroom_local.secret_gen import generate_secret_string

PREFIX = STACK_NAME
__all__ = ["ACCOUNT", "PREFIX", "REGION", "Resources", "provision"]


@dataclass
class Resources(Intrinsics):
    """What the template's logical ids became on moto (and the intrinsics evaluated against them)."""

    tables: list[str] = field(default_factory=list)
    queues: dict[str, str] = field(default_factory=dict)  # logical id -> URL
    placeholders: list[str] = field(default_factory=list)  # logical ids not created locally
    skipped: list[str] = field(default_factory=list)  # logical ids whose Condition is false


@dataclass(frozen=True)
class _Clients:
    dynamodb: Any
    kms: Any
    sqs: Any
    secretsmanager: Any


Provisioner = Callable[[_Clients, str, dict[str, Any], Resources, str], None]


def template_parameters(template: dict[str, Any], overrides: dict[str, str] | None = None) -> dict[str, Any]:
    """Parameter defaults, then overrides (like `sam deploy --parameter-overrides`)."""
    declared = template.get("Parameters") or {}
    unknown = set(overrides or {}) - set(declared)
    if unknown:
        raise ValueError(f"unknown template parameters: {', '.join(sorted(unknown))}")
    params: dict[str, Any] = {}
    for name, spec in declared.items():
        value = spec.get("Default", "")
        params[name] = value if spec.get("Type") == "CommaDelimitedList" else str(value)
    for name, value in (overrides or {}).items():
        allowed = declared[name].get("AllowedValues")
        if allowed and value not in [str(a) for a in allowed]:
            raise ValueError(f"parameter {name}: {value!r} is not one of {allowed}")
        params[name] = value
    return params


def provision(template: dict[str, Any], *, parameters: dict[str, str] | None = None, prefix: str = PREFIX) -> Resources:
    """Create the template's tables, keys, aliases, queues and secrets on the active moto backend."""
    import boto3  # noqa: PLC0415 - only once moto is active

    res = Resources(
        parameters=template_parameters(template, parameters),
        conditions=dict(template.get("Conditions") or {}),
        mappings=dict(template.get("Mappings") or {}),
    )
    clients = _Clients(*(boto3.client(s, region_name=REGION) for s in ("dynamodb", "kms", "sqs", "secretsmanager")))
    declared = template.get("Resources") or {}
    wanted = {k: v for k, v in declared.items() if "Condition" not in v or res.condition(str(v["Condition"]))}
    res.skipped = sorted(set(declared) - set(wanted))
    for logical, resource in wanted.items():
        if resource.get("Type") not in PROVISIONERS:
            _placeholder(logical, resource, res, prefix)
    for logical in _creation_order(wanted):
        resource = wanted[logical]
        props = res.resolve(resource.get("Properties") or {})
        PROVISIONERS[resource["Type"]](clients, logical, props, res, prefix)
    return res


def _creation_order(resources: dict[str, dict[str, Any]]) -> list[str]:
    """The resources to create, each after the ones it refers to."""
    creatable = {k for k, v in resources.items() if v.get("Type") in PROVISIONERS}
    graph = {k: references(resources[k].get("Properties") or {}) & creatable for k in sorted(creatable)}
    try:
        return list(TopologicalSorter(graph).static_order())
    except CycleError as exc:
        raise ValueError(f"circular references between resources: {exc.args[1]}") from None


def _placeholder(logical: str, resource: dict[str, Any], res: Resources, prefix: str) -> None:
    """Names for a resource the local stack does not create (functions, log groups, alarms, the API…)."""
    kind = str(resource.get("Type", ""))
    name = f"{prefix}-{logical}"
    service = kind.split("::")[1].lower() if kind.count("::") >= 2 else "local"
    res.refs[logical] = "local" if kind == "AWS::Serverless::HttpApi" else name
    res.attrs[logical] = {"Arn": f"arn:aws:{service}:{REGION}:{ACCOUNT}:{name}", "Name": name}
    res.placeholders.append(logical)


# --------------------------------------------------------------------------- DynamoDB


def _table(clients: _Clients, logical: str, props: dict[str, Any], res: Resources, prefix: str) -> None:
    name = str(props.get("TableName") or f"{prefix}-{logical}")
    kwargs: dict[str, Any] = {
        "TableName": name,
        "AttributeDefinitions": props["AttributeDefinitions"],
        "KeySchema": props["KeySchema"],
        "BillingMode": props.get("BillingMode", "PROVISIONED"),
    }
    for key in ("GlobalSecondaryIndexes", "LocalSecondaryIndexes", "ProvisionedThroughput", "Tags"):
        if props.get(key):
            kwargs[key] = props[key]
    stream = props.get("StreamSpecification")
    if stream:
        kwargs["StreamSpecification"] = {"StreamEnabled": True, "StreamViewType": stream["StreamViewType"]}
    sse = props.get("SSESpecification") or {}
    if _truthy(sse.get("SSEEnabled")):
        kwargs["SSESpecification"] = {"Enabled": True, "SSEType": sse.get("SSEType", "KMS")}
    if "DeletionProtectionEnabled" in props:
        kwargs["DeletionProtectionEnabled"] = _truthy(props["DeletionProtectionEnabled"])
    desc = clients.dynamodb.create_table(**kwargs)["TableDescription"]
    ttl = props.get("TimeToLiveSpecification") or {}
    if _truthy(ttl.get("Enabled")):
        clients.dynamodb.update_time_to_live(
            TableName=name, TimeToLiveSpecification={"AttributeName": ttl["AttributeName"], "Enabled": True}
        )
    pitr = props.get("PointInTimeRecoverySpecification") or {}
    if _truthy(pitr.get("PointInTimeRecoveryEnabled")):
        clients.dynamodb.update_continuous_backups(
            TableName=name, PointInTimeRecoverySpecification={"PointInTimeRecoveryEnabled": True}
        )
    res.refs[logical] = name
    res.attrs[logical] = {"Arn": desc["TableArn"], "StreamArn": desc.get("LatestStreamArn", "")}
    res.tables.append(name)


# --------------------------------------------------------------------------- KMS


def _key(clients: _Clients, logical: str, props: dict[str, Any], res: Resources, _prefix: str) -> None:
    kwargs: dict[str, Any] = {
        "Description": str(props.get("Description", "")),
        "KeyUsage": str(props.get("KeyUsage", "ENCRYPT_DECRYPT")),
        "KeySpec": str(props.get("KeySpec", "SYMMETRIC_DEFAULT")),
    }
    if props.get("KeyPolicy"):
        kwargs["Policy"] = json.dumps(props["KeyPolicy"])
    meta = clients.kms.create_key(**kwargs)["KeyMetadata"]
    if _truthy(props.get("EnableKeyRotation")):
        clients.kms.enable_key_rotation(KeyId=meta["KeyId"])
    if "Enabled" in props and not _truthy(props["Enabled"]):
        clients.kms.disable_key(KeyId=meta["KeyId"])
    res.refs[logical] = meta["KeyId"]
    res.attrs[logical] = {"Arn": meta["Arn"], "KeyId": meta["KeyId"]}


def _alias(clients: _Clients, logical: str, props: dict[str, Any], res: Resources, _prefix: str) -> None:
    name = str(props["AliasName"])
    clients.kms.create_alias(AliasName=name, TargetKeyId=str(props["TargetKeyId"]))
    res.refs[logical] = name
    res.attrs[logical] = {"Arn": f"arn:aws:kms:{REGION}:{ACCOUNT}:{name}"}


# --------------------------------------------------------------------------- Secrets Manager


def _secret(clients: _Clients, logical: str, props: dict[str, Any], res: Resources, prefix: str) -> None:
    name = str(props.get("Name") or f"{prefix}-{logical}")
    if "GenerateSecretString" in props:
        value = generate_secret_string(props["GenerateSecretString"])
    else:
        value = str(props.get("SecretString", ""))
    kwargs: dict[str, Any] = {"Name": name, "SecretString": value}
    if props.get("Description"):
        kwargs["Description"] = str(props["Description"])
    arn = clients.secretsmanager.create_secret(**kwargs)["ARN"]
    res.refs[logical] = arn
    res.attrs[logical] = {"Id": arn}
    # A dynamic reference may name the secret by ARN or by name.
    res.secret_values[arn] = res.secret_values[name] = value


# --------------------------------------------------------------------------- SQS

_QUEUE_ATTRIBUTES = (
    "ContentBasedDeduplication",
    "DeduplicationScope",
    "DelaySeconds",
    "FifoThroughputLimit",
    "KmsDataKeyReusePeriodSeconds",
    "KmsMasterKeyId",
    "MaximumMessageSize",
    "MessageRetentionPeriod",
    "ReceiveMessageWaitTimeSeconds",
    "SqsManagedSseEnabled",
    "VisibilityTimeout",
)


def _queue(clients: _Clients, logical: str, props: dict[str, Any], res: Resources, prefix: str) -> None:
    fifo = _truthy(props.get("FifoQueue"))
    name = str(props.get("QueueName") or f"{prefix}-{logical}{'.fifo' if fifo else ''}")
    attributes = {key: _attribute(props[key]) for key in _QUEUE_ATTRIBUTES if key in props}
    if fifo:
        attributes["FifoQueue"] = "true"
    for key in ("RedrivePolicy", "RedriveAllowPolicy"):
        if key in props:
            policy = props[key]
            attributes[key] = policy if isinstance(policy, str) else json.dumps(policy)
    url = clients.sqs.create_queue(QueueName=name, Attributes=attributes)["QueueUrl"]
    arn = clients.sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    res.refs[logical] = url
    res.attrs[logical] = {"Arn": arn, "QueueName": name, "QueueUrl": url}
    res.queues[logical] = url


def _attribute(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _truthy(value: Any) -> bool:
    return value is True or str(value).lower() == "true"


PROVISIONERS: dict[str, Provisioner] = {
    "AWS::DynamoDB::Table": _table,
    "AWS::KMS::Key": _key,
    "AWS::KMS::Alias": _alias,
    "AWS::SecretsManager::Secret": _secret,
    "AWS::SQS::Queue": _queue,
}
