"""The data directory's parts that need no moto (#11): which AWS actions are recorded, pickling what
moto's backends hold (locks, cryptography private keys), and the one-server-per-directory lock."""

from __future__ import annotations

import pickle
import threading
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from strongroom_local import persist


@pytest.mark.parametrize(
    "action",
    [
        "GetItem",
        "Query",
        "Scan",
        "BatchGetItem",
        "TransactGetItems",
        "Decrypt",
        "GenerateDataKey",
        "DescribeKey",
        "ListAliases",
        "GetQueueUrl",
        "GetSecretValue",
    ],
)
def test_reads_are_not_recorded(action: str) -> None:
    assert persist.is_read_only(action)


@pytest.mark.parametrize(
    "action",
    [
        "PutItem",
        "UpdateItem",
        "DeleteItem",
        "TransactWriteItems",
        "BatchWriteItem",
        "CreateKey",
        "PutKeyPolicy",
        "CreateAlias",
        "ScheduleKeyDeletion",
        "SendMessage",
        "ReceiveMessage",
        "DeleteMessage",
        "CreateSecret",
        "PutSecretValue",
    ],
)
def test_writes_are_recorded(action: str) -> None:
    assert not persist.is_read_only(action)


def test_locks_and_private_keys_pickle_and_come_back_working() -> None:
    rsa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    ec_key = ec.generate_private_key(ec.SECP256R1())
    held = threading.RLock()
    held.acquire()
    state = {"lock": threading.Lock(), "rlock": held, "rsa": rsa_key, "ec": ec_key}
    back = pickle.loads(persist.dumps(state))
    assert back["rsa"].private_numbers() == rsa_key.private_numbers()
    assert back["ec"].private_numbers() == ec_key.private_numbers()
    assert back["lock"].acquire(blocking=False)  # a new, unlocked lock
    assert back["rlock"].acquire(blocking=False)
    with pytest.raises(TypeError):
        pickle.dumps(state)  # why persist has its own pickler


def test_a_second_store_on_one_directory_is_refused_until_the_first_is_released(tmp_path: Path) -> None:
    first, second = persist.Store(tmp_path / "d"), persist.Store(tmp_path / "d")
    first.acquire()
    with pytest.raises(persist.DataDirInUse, match="in use by another strongroom_local"):
        second.acquire()
    first.release()
    second.acquire()
    second.release()
