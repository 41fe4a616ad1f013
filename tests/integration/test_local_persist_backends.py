"""The local stack's data directory keeps more than the table (#11): a BYOK key made on the stack's
moto (its key material: a data key wrapped before the restart unwraps after it; its policy: another
org's context is still refused), an alias, a queue and its unread message, the provisioned names
and ARNs. Each phase is its own process (one stack per process; this worker may have one), and
the first ends with os._exit, no clean stop, as a kill does."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]

_WRITE = """
import base64, json, os, boto3
from strongroom_local import LocalStack
from support import byok_key_policy
stack = LocalStack(port=0, workers=[], data_dir=DATA).start()
kms = boto3.client("kms", region_name="us-east-1")
sqs = boto3.client("sqs", region_name="us-east-1")
key = kms.create_key(Policy=json.dumps(byok_key_policy("org_a")))["KeyMetadata"]
kms.create_alias(AliasName="alias/kept", TargetKeyId=key["KeyId"])
blob = kms.generate_data_key(KeyId=key["KeyId"], KeySpec="AES_256", EncryptionContext={"org": "org_a"})
url = sqs.create_queue(QueueName="kept")["QueueUrl"]
sqs.send_message(QueueUrl=url, MessageBody="unread")
print(json.dumps({"key": key["Arn"], "blob": base64.b64encode(blob["CiphertextBlob"]).decode(),
                  "plain": base64.b64encode(blob["Plaintext"]).decode(),
                  "url": url, "refs": stack.resources.refs}), flush=True)
os._exit(0)
"""

_READ = """
import base64, json, boto3
from botocore.exceptions import ClientError
from strongroom_local import LocalStack
saved = json.loads(SAVED)
stack = LocalStack(port=0, workers=[], data_dir=DATA).start()
kms = boto3.client("kms", region_name="us-east-1")
sqs = boto3.client("sqs", region_name="us-east-1")
state = kms.describe_key(KeyId=saved["key"])["KeyMetadata"]["KeyState"]
blob = base64.b64decode(saved["blob"])
plain = base64.b64encode(kms.decrypt(CiphertextBlob=blob, EncryptionContext={"org": "org_a"})["Plaintext"]).decode()
try:
    kms.decrypt(CiphertextBlob=blob, EncryptionContext={"org": "org_b"})
    other = "allowed"
except ClientError as exc:
    other = exc.response["Error"]["Code"]
aliases = [a["AliasName"] for a in kms.list_aliases()["Aliases"]]
messages = sqs.receive_message(QueueUrl=saved["url"], WaitTimeSeconds=0).get("Messages", [])
print(json.dumps({"plain": plain, "other": other, "aliases": aliases, "refs": stack.resources.refs,
                  "messages": [m["Body"] for m in messages], "restored": stack.restored, "state": state}), flush=True)
stack.stop()
"""


def _run(script: str, **names: str) -> dict[str, Any]:
    header = "".join(f"{k} = {v!r}\n" for k, v in names.items())
    done = subprocess.run(
        [sys.executable, "-c", header + textwrap.dedent(script)],
        cwd=ROOT,
        env={"PYTHONPATH": "local:layers/strongroom:tests", "PATH": "/usr/bin:/bin", "POWERTOOLS_LOG_LEVEL": "ERROR"},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_byok_keys_policies_aliases_queues_and_names_survive_a_kill(tmp_path: Path) -> None:
    data = str(tmp_path / "data")
    saved = _run(_WRITE, DATA=data)
    after = _run(_READ, DATA=data, SAVED=json.dumps(saved))
    assert after["restored"] is True
    assert after["state"] == "Enabled"
    assert after["plain"] == saved["plain"]  # the key material was kept
    assert after["other"] == "AccessDeniedException"  # and its policy
    assert "alias/kept" in after["aliases"]
    assert after["messages"] == ["unread"]
    assert after["refs"] == saved["refs"]  # the table, the service key's id, the queue URLs, the secret


def test_without_a_data_directory_nothing_is_kept(tmp_path: Path) -> None:
    """The control: the same phases in memory, so the test above can fail."""
    script = _WRITE.replace("data_dir=DATA", "data_dir=None")
    saved = _run(script, DATA="")
    done = subprocess.run(
        [sys.executable, "-c", f"DATA = None\nSAVED = {json.dumps(saved)!r}\n" + textwrap.dedent(_READ)],
        cwd=ROOT,
        env={"PYTHONPATH": "local:layers/strongroom:tests", "PATH": "/usr/bin:/bin", "POWERTOOLS_LOG_LEVEL": "ERROR"},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode != 0
    assert "NotFoundException" in done.stderr, done.stderr[-2000:]  # describe_key: no such key
    assert not (tmp_path / "data").exists()
