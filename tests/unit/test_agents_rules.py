"""Agents' rules without a store: the agents function's one KMS permission, an agent's status from
its heartbeats, discovered secrets' stable IDs, the bodies refused (400) before any lookup, a
wrap that cannot reach a log through repr, and the reference agent's reading of files (never
outside its directories; fingerprints keyed by its secret, never the value)."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from pydantic import TypeAdapter, ValidationError

from strongroom import clock
from strongroom.data.agents import AgentRecord
from strongroom.domain import agents, discovery
from strongroom.models.agents import JobCreate, ReadJobCreate, WrapCreate
from strongroom_cli.agent import Agent, JobError, read_file
from strongroom_local.template import load_template, resources_of

KEY32 = "A" * 43 + "="


def test_the_agents_function_may_only_generate_data_keys_under_its_context() -> None:
    function = resources_of(load_template(), "AWS::Serverless::Function")["AgentsFunction"]
    statements = [s for p in function["Properties"]["Policies"] for s in p["Statement"]]
    kms = [s for s in statements if any(str(a).startswith("kms:") for a in [s["Action"]] if isinstance(a, str))]
    assert kms == [
        {
            "Effect": "Allow",
            "Action": "kms:GenerateDataKey",
            "Resource": {"Fn::GetAtt": ["ServiceKey", "Arn"]},
            "Condition": {
                "StringEquals": {"kms:EncryptionContext:purpose": "agent_dek"},
                "ForAllValues:StringEquals": {"kms:EncryptionContextKeys": ["org", "agent", "purpose"]},
            },
        }
    ]


def _agent(**changes: object) -> AgentRecord:
    base = {"id": "agt_x", "org_id": "org_x", "name": "a", "created_at": "2026-01-01T00:00:00Z", "created_by": "usr_x"}
    return AgentRecord.model_validate({**base, **changes})


def test_status_comes_from_the_last_heartbeat() -> None:
    now = clock.now()
    assert agents.status(_agent()) == "stale"  # never seen
    assert agents.status(_agent(last_seen_at=clock.iso(now - timedelta(seconds=30)))) == "online"
    assert agents.status(_agent(last_seen_at=clock.iso(now - agents.STALE_AFTER - timedelta(seconds=1)))) == "stale"
    assert agents.status(_agent(status="revoked", last_seen_at=clock.iso(now))) == "revoked"


def test_a_discovered_secret_has_one_id_per_org_cluster_provider_and_ref() -> None:
    one = discovery.secret_id("org_a", "prod", "kubernetes", "ns/name#key")
    assert one == discovery.secret_id("org_a", "prod", "kubernetes", "ns/name#key")
    assert one.startswith("dsc_")
    assert len(one) == 30
    others = {
        discovery.secret_id("org_b", "prod", "kubernetes", "ns/name#key"),
        discovery.secret_id("org_a", "dev", "kubernetes", "ns/name#key"),
        discovery.secret_id("org_a", "prod", "vault", "ns/name#key"),
        discovery.secret_id("org_a", "prod", "kubernetes", "ns/name#other"),
    }
    assert one not in others
    assert len(others) == 4


@pytest.mark.parametrize(
    "params",
    [
        {},  # a read names its ref and key
        {"ref": "a#b"},
        {"ref": "a#b", "recipient_public_key": "A" * 40},  # not 32 bytes
        {"ref": "a#b", "recipient_public_key": KEY32, "extra": 1},
    ],
)
def test_a_read_job_needs_its_ref_and_a_32_byte_key(params: dict[str, object]) -> None:
    jobs: TypeAdapter[JobCreate] = TypeAdapter(JobCreate)
    with pytest.raises(ValidationError):
        jobs.validate_python({"agent": "agt_01m8rt5w37jqc2tb0rg5cwrxf3", "type": "read", "params": params})
    good = {"ref": "a#b", "recipient_public_key": KEY32}
    made = jobs.validate_python({"agent": "agt_01m8rt5w37jqc2tb0rg5cwrxf3", "type": "read", "params": good})
    assert isinstance(made, ReadJobCreate)
    assert made.params.model_dump() == good
    # a discovery's params are its own: a read's are refused there
    with pytest.raises(ValidationError):
        jobs.validate_python({"agent": "agt_01m8rt5w37jqc2tb0rg5cwrxf3", "type": "discover", "params": good})


def test_a_wrap_body_never_shows_its_sealed_box() -> None:
    sealed = "B" * 108
    body = WrapCreate(job="job_01m8rt5w37jqc2tb0rg5cwrxf3", sealed=sealed)
    assert sealed not in repr(body)
    assert sealed not in str(body)
    with pytest.raises(ValidationError):
        WrapCreate(job="job_01m8rt5w37jqc2tb0rg5cwrxf3", sealed="AAAA")  # shorter than a sealed box


def test_the_reference_agent_reads_env_yaml_and_json_and_nothing_outside(tmp_path: Path) -> None:
    root = tmp_path / "root"
    (root / "app").mkdir(parents=True)
    (root / "app" / ".env").write_text('A=1\nB="two words"\n')
    (root / "app" / "config.json").write_text('{"db": {"password": "pw"}, "port": 5432, "list": [1]}')
    (root / "app" / "values.yaml").write_text("token: t0k\nnested:\n  key: v\n")
    (root / "app" / "notes.txt").write_text("A=1\n")
    (tmp_path / "outside.env").write_text("STOLEN=x\n")
    assert read_file(root / "app" / ".env") == ("dotenv", {"A": "1", "B": "two words"})
    assert read_file(root / "app" / "config.json") == ("json", {"db.password": "pw", "port": "5432"})
    assert read_file(root / "app" / "values.yaml") == ("yaml", {"token": "t0k", "nested.key": "v"})
    assert read_file(root / "app" / "notes.txt") is None

    agent = Agent(url="http://127.0.0.1:9", agent_id="agt_x", secret="sr_agt_one", directories=[root], cluster="c")
    assert agent.resolve("app/.env#B") == "two words"
    for ref in ("../outside.env#STOLEN", "app/.env#MISSING", "no-key-part"):
        with pytest.raises(JobError):
            agent.resolve(ref)
    found = agent.discover([root])
    assert [i["ref"] for i in found] == [
        "app/.env#A",
        "app/.env#B",
        "app/config.json#db.password",
        "app/config.json#port",
        "app/values.yaml#nested.key",
        "app/values.yaml#token",
    ]
    # a fingerprint is keyed by the agent's secret: the same value, another agent, another print
    other = Agent(url="http://127.0.0.1:9", agent_id="agt_y", secret="sr_agt_two", directories=[root], cluster="c")
    assert agent.fingerprint("pw") != other.fingerprint("pw")
    assert agent.fingerprint("pw") == agent.fingerprint("pw")
