"""The CLI's agents: `agents create|list|show|revoke` (admin), `jobs create|list|show`, `discovered
list`, `wraps keygen|fetch` (a read job's requester opens its sealed answer), and `agent run`, the
reference agent (strongroom_cli/agent.py)."""

from __future__ import annotations

import base64
import os
import socket
from pathlib import Path
from typing import Any
from urllib.parse import quote

import click

from strongroom_cli.commands import State, _org, cli, emit, fail

_AGENT = ["id", "name", "status", "last_seen_at", "created_at"]
_JOB = ["id", "agent_id", "type", "status", "error", "wrap_id", "created_at"]
_DISCOVERED = ["id", "ref", "provider", "cluster_name", "status", "last_seen_at"]


@cli.group()
def agents() -> None:
    """Agents of the org: in-cluster helpers that discover secrets and answer sealed reads."""


@agents.command("create")
@click.argument("name")
@click.pass_obj
def agents_create(state: State, name: str) -> None:
    """Mint an agent; its secret (sr_agt_…) is shown this once."""
    emit(state, state.call("POST", f"/v1/orgs/{_org(state)}/agents", body={"name": name}), [*_AGENT, "agent_secret"])


@agents.command("list")
@click.pass_obj
def agents_list(state: State) -> None:
    emit(state, state.pages(f"/v1/orgs/{_org(state)}/agents"), _AGENT)


@agents.command("show")
@click.argument("agent_id")
@click.pass_obj
def agents_show(state: State, agent_id: str) -> None:
    emit(state, state.call("GET", f"/v1/orgs/{_org(state)}/agents/{agent_id}"), [*_AGENT, "public_key"])


@agents.command("revoke")
@click.argument("agent_id")
@click.pass_obj
def agents_revoke(state: State, agent_id: str) -> None:
    """Its next request is 401."""
    emit(state, state.call("POST", f"/v1/orgs/{_org(state)}/agents/{agent_id}/revoke"), _AGENT)


@cli.group()
def jobs() -> None:
    """Jobs of the org's agents."""


@jobs.command("create")
@click.option("--agent", "agent_id", required=True)
@click.option("--type", "job_type", type=click.Choice(["discover", "read"]), required=True)
@click.option("--ref", help="read: the ref to read (as discovered)")
@click.option("--recipient-public-key", help="read: the X25519 key (base64) to seal it to (`wraps keygen`)")
@click.option("--path", "paths", multiple=True, help="discover: only these of the agent's directories")
@click.option("--ttl", "ttl_seconds", type=int, default=3600, show_default=True, help="Seconds it may wait")
@click.pass_obj
def jobs_create(state: State, agent_id: str, job_type: str, ref: str | None, recipient_public_key: str | None,
                paths: tuple[str, ...], ttl_seconds: int) -> None:  # fmt: skip
    params: dict[str, Any] = {"paths": list(paths)} if job_type == "discover" else {}
    if job_type == "read":
        if not ref or not recipient_public_key:
            fail("a read job needs --ref and --recipient-public-key", 2)
        params = {"ref": ref, "recipient_public_key": recipient_public_key}
    body = {"agent": agent_id, "type": job_type, "params": params, "ttl_seconds": ttl_seconds}
    emit(state, state.call("POST", f"/v1/orgs/{_org(state)}/jobs", body=body), _JOB)


@jobs.command("list")
@click.option("--agent", "agent_id")
@click.option("--status", type=click.Choice(["queued", "claimed", "succeeded", "failed", "expired"]))
@click.pass_obj
def jobs_list(state: State, agent_id: str | None, status: str | None) -> None:
    query = "&".join(f"{k}={quote(v)}" for k, v in (("agent", agent_id), ("status", status)) if v)
    emit(state, state.pages(f"/v1/orgs/{_org(state)}/jobs" + (f"?{query}" if query else "")), _JOB)


@jobs.command("show")
@click.argument("job_id")
@click.pass_obj
def jobs_show(state: State, job_id: str) -> None:
    emit(state, state.call("GET", f"/v1/orgs/{_org(state)}/jobs/{job_id}"), [*_JOB, "completed_at"])


@cli.group()
def discovered() -> None:
    """The secrets the org's agents discovered (refs and fingerprints, never values)."""


@discovered.command("list")
@click.option("--cluster", "cluster_name")
@click.option("--provider")
@click.option("--ref-prefix")
@click.option("--status", type=click.Choice(["active", "stale"]))
@click.option("--label", "labels", multiple=True, help="k:v, repeatable: every one must match")
@click.pass_obj
def discovered_list(state: State, cluster_name: str | None, provider: str | None, ref_prefix: str | None,
                    status: str | None, labels: tuple[str, ...]) -> None:  # fmt: skip
    filters = [("cluster_name", cluster_name), ("provider", provider), ("ref_prefix", ref_prefix), ("status", status)]
    query = [f"{k}={quote(v, safe='')}" for k, v in filters if v] + [f"label={quote(v, safe='')}" for v in labels]
    path = f"/v1/orgs/{_org(state)}/discovered-secrets" + (f"?{'&'.join(query)}" if query else "")
    emit(state, state.pages(path), _DISCOVERED)


@cli.group()
def wraps() -> None:
    """The sealed answers of read jobs: made for one requester's key, fetched once."""


@wraps.command("keygen")
@click.option("--out", "out", type=click.Path(dir_okay=False, path_type=Path), required=True,
              help="Where to keep the private key (mode 0600)")  # fmt: skip
@click.pass_obj
def wraps_keygen(state: State, out: Path) -> None:
    """An X25519 key pair for a read: prints the public key to give a read job (or request)."""
    from nacl.public import PrivateKey  # noqa: PLC0415

    key = PrivateKey.generate()
    fd = os.open(out, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(base64.b64encode(bytes(key)).decode() + "\n")
    emit(state, {"public_key": base64.b64encode(bytes(key.public_key)).decode(), "private_key_file": str(out)},
         ["public_key", "private_key_file"])  # fmt: skip


@wraps.command("fetch")
@click.argument("wrap_id")
@click.option("--key", "key_file", type=click.Path(exists=True, dir_okay=False, path_type=Path), required=True,
              help="The private key file of `wraps keygen`")  # fmt: skip
@click.pass_obj
def wraps_fetch(state: State, wrap_id: str, key_file: Path) -> None:
    """Fetch (once) and open the value; printed as is, to stdout."""
    from nacl.exceptions import CryptoError  # noqa: PLC0415
    from nacl.public import PrivateKey, SealedBox  # noqa: PLC0415

    fetched = state.call("GET", f"/v1/orgs/{_org(state)}/wraps/{wrap_id}")
    try:
        key = PrivateKey(base64.b64decode(key_file.read_text(encoding="utf-8").strip()))
        value = SealedBox(key).decrypt(base64.b64decode(fetched["sealed"])).decode()
    except (CryptoError, ValueError) as exc:
        fail(f"the wrap does not open with that key ({type(exc).__name__})")
    if state.as_json:
        emit(state, {"id": fetched["id"], "job_id": fetched["job_id"], "value": value})
    else:
        click.echo(value)


@cli.group()
def agent() -> None:
    """Run an agent (this machine as one)."""


@agent.command("run")
@click.option("--agent-id", envvar="STRONGROOM_AGENT_ID", required=True)
@click.option(
    "--dir",
    "directories",
    multiple=True,
    required=True,
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    help="Where to discover (repeatable)",
)
@click.option("--cluster", default=socket.gethostname, show_default="this host's name")
@click.option("--interval", "poll_interval", type=float, default=5.0, show_default=True, help="Seconds between polls")
@click.option("--heartbeat", "heartbeat_interval", type=float, default=60.0, show_default=True)
@click.option("--max-backoff", type=float, default=60.0, show_default=True)
@click.pass_obj
def agent_run(state: State, agent_id: str, directories: tuple[Path, ...], cluster: str, poll_interval: float,
              heartbeat_interval: float, max_backoff: float) -> None:  # fmt: skip
    """The reference agent: heartbeats, claims jobs (discover, read), backs off on errors, stops
    on SIGTERM. Its secret comes from STRONGROOM_AGENT_SECRET (never a flag: process lists show those)."""
    from strongroom_cli.agent import Agent  # noqa: PLC0415

    secret = os.environ.get("STRONGROOM_AGENT_SECRET", "")
    if not secret.startswith("sr_agt_"):
        fail("set STRONGROOM_AGENT_SECRET to the agent's secret (sr_agt_…)", 2)
    runner = Agent(
        url=state.settings.api_url,
        agent_id=agent_id,
        secret=secret,
        directories=list(directories),
        cluster=cluster,
        poll_interval=poll_interval,
        heartbeat_interval=heartbeat_interval,
        max_backoff=max_backoff,
        log=lambda line: click.echo(line, err=True),
    )
    raise SystemExit(runner.run())
