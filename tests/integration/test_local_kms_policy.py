"""The local stack evaluates KMS key policies (and key states) for cryptographic calls, as KMS does
and moto 5.2 does not: a key whose policy limits Strongroom to one org's encryption context
refuses every other context with AccessDeniedException. A control test shows moto's own
behaviour (the call succeeds), which is why the local stack adds the evaluation."""

from __future__ import annotations

import json
import secrets
from typing import Any

import pytest
from botocore.exceptions import ClientError

from strongroom_local import LocalStack
from strongroom_local.kms_policy import allows
from support import STRONGROOM_ACCOUNT, byok_key_policy, customer_key

ACCOUNT = STRONGROOM_ACCOUNT


def _statement(**fields: Any) -> dict[str, Any]:
    return {"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:root"}, "Action": "kms:*", **fields}


def _policy(*statements: dict[str, Any]) -> dict[str, Any]:
    return {"Version": "2012-10-17", "Statement": list(statements)}


# --------------------------------------------------------------------------- evaluation, no store


def test_the_byok_policy_allows_its_org_and_no_other() -> None:
    policy = byok_key_policy("org_a")
    for permission in ("kms:GenerateDataKey", "kms:Decrypt", "kms:ReEncryptFrom", "kms:ReEncryptTo"):
        assert allows(policy, permission, {"org": "org_a", "project": "p", "environment": "e"}, ACCOUNT)
        assert not allows(policy, permission, {"org": "org_b", "project": "p", "environment": "e"}, ACCOUNT)
        assert not allows(policy, permission, {}, ACCOUNT)
    assert not allows(policy, "kms:Encrypt", {"org": "org_a"}, ACCOUNT)  # not an action it grants
    assert not allows(policy, "kms:Decrypt", {"org": "org_a"}, "999999999999")  # another account


def test_a_policy_for_two_orgs_allows_both() -> None:
    policy = byok_key_policy("org_a", "org_b")
    assert allows(policy, "kms:Decrypt", {"org": "org_a"}, ACCOUNT)
    assert allows(policy, "kms:Decrypt", {"org": "org_b"}, ACCOUNT)
    assert not allows(policy, "kms:Decrypt", {"org": "org_c"}, ACCOUNT)


@pytest.mark.parametrize(
    ("statement", "allowed"),
    [
        (_statement(), True),  # the account may do anything (KMS's default policy)
        (_statement(Principal="*"), True),
        (_statement(Principal={"AWS": f"arn:aws:iam::{ACCOUNT}:role/strongroom-orgs"}), True),
        (_statement(Principal={"AWS": "arn:aws:iam::111122223333:root"}), False),
        (_statement(Action=["kms:Decrypt", "kms:Gen*"]), True),
        (_statement(Action="kms:Encrypt"), False),
        (_statement(Condition={"StringLike": {"kms:EncryptionContext:org": "org_*"}}), True),
        (_statement(Condition={"StringEquals": {"kms:EncryptionContext:ORG": "org_x"}}), True),  # key names: any case
        (_statement(Condition={"StringEquals": {"kms:EncryptionContext:org": "ORG_X"}}), False),  # values: exact
        (_statement(Condition={"StringEqualsIfExists": {"kms:EncryptionContext:team": "t"}}), True),
        (_statement(Condition={"StringEquals": {"kms:EncryptionContext:team": "t"}}), False),
        (_statement(Condition={"StringEquals": {"kms:CallerAccount": ACCOUNT}}), True),
        (_statement(Condition={"StringEquals": {"aws:PrincipalTag/team": "t"}}), False),  # not understood
        (_statement(Condition={"ForAnyValue:StringEquals": {"kms:EncryptionContextKeys": "org"}}), False),
    ],
)
def test_statements(statement: dict[str, Any], allowed: bool) -> None:
    assert allows(_policy(statement), "kms:GenerateDataKey", {"org": "org_x"}, ACCOUNT) is allowed


def test_a_deny_wins_and_an_unreadable_deny_denies() -> None:
    deny = {**_statement(Condition={"StringEquals": {"kms:EncryptionContext:org": "org_x"}}), "Effect": "Deny"}
    assert not allows(_policy(_statement(), deny), "kms:Decrypt", {"org": "org_x"}, ACCOUNT)
    assert allows(_policy(_statement(), deny), "kms:Decrypt", {"org": "org_y"}, ACCOUNT)
    unreadable = {**_statement(Condition={"DateGreaterThan": {"aws:CurrentTime": "2020-01-01"}}), "Effect": "Deny"}
    assert not allows(_policy(_statement(), unreadable), "kms:Decrypt", {"org": "org_y"}, ACCOUNT)


# --------------------------------------------------------------------------- on the stack's moto


def _generate(org_id: str, key: str) -> dict[str, Any]:
    from strongroom import aws

    return aws.kms().generate_data_key(KeyId=key, KeySpec="AES_256", EncryptionContext={"org": org_id})


def _org_id() -> str:
    return f"org_{secrets.token_hex(8)}"


def test_kms_refuses_another_orgs_context_as_aws_does(stack: LocalStack) -> None:
    mine = _org_id()
    key = customer_key(mine)
    assert _generate(mine, key)["KeyId"] == key
    with pytest.raises(ClientError) as refused:
        _generate(_org_id(), key)
    assert refused.value.response["Error"]["Code"] == "AccessDeniedException"


def test_moto_alone_would_not_refuse(stack: LocalStack, monkeypatch: pytest.MonkeyPatch) -> None:
    """Control: with moto's own GenerateDataKey, the same call under another org succeeds."""
    from moto.kms.responses import KmsResponse

    monkeypatch.setattr(KmsResponse, "generate_data_key", KmsResponse.generate_data_key.__wrapped__)
    key = customer_key(_org_id())
    assert _generate(_org_id(), key)["KeyId"] == key


def test_a_disabled_key_is_refused_as_aws_does(stack: LocalStack) -> None:
    from strongroom import aws

    mine = _org_id()
    key = customer_key(mine)
    aws.kms().disable_key(KeyId=key.rsplit("/", 1)[-1])
    with pytest.raises(ClientError) as refused:
        _generate(mine, key)
    assert refused.value.response["Error"]["Code"] == "DisabledException"


def test_decrypt_and_reencrypt_are_checked_against_the_ciphertexts_key(stack: LocalStack) -> None:
    from strongroom import aws

    mine, other = _org_id(), _org_id()
    key, service_key = customer_key(mine), stack.resources.refs["ServiceKey"]  # type: ignore[union-attr]
    blob = _generate(mine, key)["CiphertextBlob"]
    kms = aws.kms()
    # Decrypt without KeyId: the ciphertext names the key, whose policy decides
    assert kms.decrypt(CiphertextBlob=blob, EncryptionContext={"org": mine})["KeyId"] == key
    with pytest.raises(ClientError) as refused:
        kms.re_encrypt(
            CiphertextBlob=kms.encrypt(KeyId=service_key, Plaintext=b"x", EncryptionContext={"org": other})[
                "CiphertextBlob"
            ],
            SourceEncryptionContext={"org": other},
            DestinationKeyId=key,
            DestinationEncryptionContext={"org": other},
        )
    assert refused.value.response["Error"]["Code"] == "AccessDeniedException"
    assert json.loads(kms.get_key_policy(KeyId=key, PolicyName="default")["Policy"]) == byok_key_policy(mine)
