"""CI gates: `run --require-valid` (the environment against its project's template before the
command runs) and `diff --from-file FILE ENV` (the keys of a dotenv file such as `.env.example`
against an environment's). Standard library only: `run` imports this when asked to."""

from __future__ import annotations

import json

from strongroom_cli import run
from strongroom_cli.config import Settings

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any


def _get(settings: Settings, path: str) -> Any:
    """The JSON of a GET the server answered 200 (run.RunError otherwise)."""
    try:
        status, _, body = run._send(f"{settings.api_url}{path}", settings.auth_headers())()
    except OSError as exc:
        raise run.Unreachable(f"cannot reach {settings.api_url}: {exc}") from None
    if status != 200:
        raise run.RunError(f"{status}: {run._message(body)}", status=status)
    try:
        return json.loads(body)
    except ValueError:
        raise run.RunError("the server's answer is not the expected JSON") from None


def environment_path(settings: Settings) -> str:
    """E of the settings' environment; a service token's from its introspection (`GET /runtime/v1`)."""
    if settings.is_service_token and not (settings.org and settings.project and settings.env):
        me = _get(settings, "/runtime/v1")
        return f"/v1/orgs/{me['org_id']}/projects/{me['project_id']}/environments/{me['environment_id']}"
    org, project, env = (run._segment(v) for v in (settings.org, settings.project, settings.env))
    return f"/v1/orgs/{org}/projects/{project}/environments/{env}"


def failures(report: dict[str, Any]) -> str:
    """What a validation report found, keys and patterns only ("" when valid)."""
    if report.get("valid"):
        return ""
    parts = []
    if report.get("missing"):
        parts.append(f"missing: {', '.join(report['missing'])}")
    if report.get("mismatched"):
        parts.append(f"not matching their pattern: {', '.join(m['key'] for m in report['mismatched'])}")
    if report.get("unsupported"):
        parts.append(f"patterns that cannot run: {', '.join(report['unsupported'])}")
    return "; ".join(parts) or "invalid"


def template_failures(settings: Settings) -> str:
    """What the environment fails of its project's template, now ("" when it passes); with
    `run --path`, the template against that folder's keys."""
    folder = settings.folder_query().lstrip("&")
    return failures(_get(settings, f"{environment_path(settings)}/validate{'?' + folder if folder else ''}"))


def require_valid(settings: Settings, command: str) -> None:
    """run.RunError (exit 1) when the environment fails its template: the command does not run."""
    found = template_failures(settings)
    if found:
        raise run.RunError(f"not running {command}: the environment fails its template ({found})")


def dotenv_keys(text: str) -> list[str]:
    """The keys a dotenv file sets, in order (`KEY=…`, `export KEY=…`; comments, blank lines and
    quoted values over several lines skipped); ValueError names the first line that is not one."""
    keys: list[str] = []
    lines = text.splitlines()
    i = 0
    while i < len(lines):
        line = lines[i].strip()
        i += 1
        if not line or line.startswith("#"):
            continue
        line = line.removeprefix("export ").lstrip()
        key, sep, value = line.partition("=")
        key = key.strip()
        if (
            not sep
            or not key
            or not (key[0].isalpha() or key[0] == "_")
            or not all(c.isalnum() or c in "_.-" for c in key)
        ):
            raise ValueError(f"line {i} is not KEY=value")
        keys.append(key)
        value = value.strip()
        if value[:1] in {'"', "'"}:
            quote, rest = value[0], value[1:]
            while not _closes(rest, quote) and i < len(lines):  # a quoted value over several lines
                rest += "\n" + lines[i]
                i += 1
    return keys


def _closes(text: str, quote: str) -> bool:
    escaped = False
    for c in text:
        if escaped:
            escaped = False
        elif c == "\\" and quote == '"':
            escaped = True
        elif c == quote:
            return True
    return False


def key_diff(file_keys: list[str], env_keys: list[str]) -> list[dict[str, str]]:
    """[{key, action}] sorted by key: `missing` (the file names it, the environment lacks it),
    `extra` (only the environment has it), `present` (both)."""
    in_file, in_env = set(file_keys), set(env_keys)
    actions = dict.fromkeys(in_file - in_env, "missing") | dict.fromkeys(in_env - in_file, "extra")
    actions |= dict.fromkeys(in_file & in_env, "present")
    return [{"key": k, "action": actions[k]} for k in sorted(actions)]
