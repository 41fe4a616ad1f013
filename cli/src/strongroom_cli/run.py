"""`strongroom run [options] -- command args…`: the environment's resolved secrets as environment
variables for a command. Standard library (+ AES-GCM for the cache) only, so it starts fast.

One request: the runtime API for a service token, the export for a user, with the cached ETag in
If-None-Match (304: the cached values, nothing decrypted server-side). A machine identity's
stored login that can be renewed (`login --aws-iam`, `--oidc-token-file`) is renewed first when
it has expired, or once when the server refuses it (workload.py). `--fallback` uses the cache
when the server cannot be reached. Then the command *replaces* this process (exec): its exit
status is the command's, and signals reach it directly.
"""

from __future__ import annotations

import os
import re
import sys

from strongroom_cli import cache
from strongroom_cli.config import ConfigError, Settings, parse_duration, resolve
from strongroom_cli.config import split_url as _split  # noqa: F401 - run's URL rules, as tests read them
from strongroom_sdk import wire

TYPE_CHECKING = False  # typing costs `run` 2 ms to import; mypy reads this name as True
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any

    Response = tuple[int, dict[str, str], bytes]

USAGE = (
    "usage: strongroom run [--project P] [--env E] [--org O] [--api-url URL] [--token T] [--fallback]\n"
    "       [--watch [--interval 10s] [--signal HUP]] [--mount NAME [--format dotenv|json|yaml] [--fifo]]\n"
    "       [--template SRC:DEST]… [--require-valid] [--only K1,K2] [--preserve-env K] [--no-inherit-env]\n"
    "       [--offline] [--cache-max-age 1h] [--profile NAME] [--path /FOLDER [--recursive]]\n"
    "       -- command [args…]"
)
TIMEOUT = 10.0
# A client-encrypted environment's pull carries the token's grant and the values' IDs: kept with
# the ciphertexts (in the cache too) under this name, which no environment variable can have.
E2E_ENTRY = "\x00strongroom-e2e"


class RunError(Exception):
    def __init__(self, message: str, code: int = 1, status: int = 0) -> None:
        super().__init__(message)
        self.code = code
        self.status = status  # the server's, when it refused


class Unreachable(RunError):
    """No answer from the server (a network error): `run --watch` keeps its child running."""


VALUE_OPTIONS = frozenset({"project", "env", "org", "api-url", "token", "profile"})  # settings (config.resolve)
# What `run` itself takes: flags, and options with a value. Only what run implements: an option it
# would ignore is refused like any unknown one (the tables grow with --watch, --mount, --only, ...).
RUN_FLAGS = frozenset({"fallback", "json", "watch", "fifo", "require-valid", "no-inherit-env", "offline", "recursive"})
RUN_VALUES = frozenset({"output", "interval", "signal", "mount", "format", "cache-max-age", "path"})
REPEATED = frozenset({"template", "only", "preserve-env"})
SHORT = {"-o": "output"}


def _parse(argv: list[str]) -> tuple[dict[str, str | None], dict[str, Any], list[str]]:
    """(settings flags, run's own options, the command): options up to `--` or the first argument
    that is not one (the command); an unknown option is an error, never the command."""
    flags: dict[str, str | None] = {}
    options: dict[str, Any] = {}
    i = 0
    while i < len(argv):
        arg = argv[i]
        if arg == "--":
            return flags, options, argv[i + 1 :]
        if arg in {"-h", "--help"}:
            raise RunError(USAGE, 0)
        if not arg.startswith("-"):
            return flags, options, argv[i:]  # the command starts here (no `--`)
        name, equals, value = (SHORT[arg], "", "") if arg in SHORT else (*arg[2:].partition("="),)
        if name in RUN_FLAGS and arg.startswith("--") and not equals:
            options[name] = True
        elif name in VALUE_OPTIONS or name in RUN_VALUES or name in REPEATED:
            if not equals:
                i += 1
                if i >= len(argv):
                    raise RunError(f"--{name} needs a value\n{USAGE}", 2)
                value = argv[i]
            _take(flags, options, name, value)
        else:
            raise RunError(f"no such option: {arg} (the command goes after `--`)\n{USAGE}", 2)
        i += 1
    return flags, options, []


def _take(flags: dict[str, str | None], options: dict[str, Any], name: str, value: str) -> None:
    if name in VALUE_OPTIONS:
        flags[name.replace("-", "_")] = value
    elif name == "template":  # SRC:DEST, repeated (a path may hold a comma)
        options.setdefault(name, []).append(value)
    elif name in REPEATED:
        options.setdefault(name, []).extend(v.strip() for v in value.split(",") if v.strip())
    else:
        options[name] = value


def _segment(value: str) -> str:
    """A path segment: IDs and slugs are [A-Za-z0-9_-]; anything else is refused, not encoded."""
    if not value or not all(c.isascii() and (c.isalnum() or c in "_-") for c in value):
        raise RunError(f"{value!r} is not an ID or a slug", 2)
    return value


FOLDER = re.compile(r"^(?:/|(?:/[A-Za-z0-9_-][A-Za-z0-9_.-]{0,63}){1,10})$")


def _folder(value: str) -> str:
    """--path: a folder of the environment (`/backend/db`), checked as the server checks it."""
    if value and (len(value) > 255 or not FOLDER.match(value)):
        raise RunError(f"--path {value!r} is not a folder path (/seg/seg…, no . or .., no trailing /)", 2)
    return value


def _url(settings: Settings) -> str:
    folder = settings.folder_query()  # a folder of the environment (--path), else its root
    if settings.is_service_token:
        return f"{settings.api_url}/runtime/v1/secrets?format=json{folder}"
    org, project, env = (_segment(v) for v in (settings.org, settings.project, settings.env))
    return f"{settings.api_url}/v1/orgs/{org}/projects/{project}/environments/{env}/export?format=json{folder}"


def _send(url: str, headers: dict[str, str]) -> Callable[[], Response]:
    """Send a GET now; the returned function waits for the answer (so that the caller can work
    while the server does). The wire code is the SDK's (strongroom_sdk.wire)."""
    try:
        return wire.send(url, {**headers, "User-Agent": "strongroom-cli"})
    except wire.WireError as exc:
        raise RunError("the token or a setting holds characters an HTTP header cannot carry", 2) from exc


def _parse_response(raw: bytes) -> Response:
    try:
        return wire.parse_response(raw)
    except wire.WireError as exc:
        raise RunError(str(exc)) from None


def offline_values(settings: Settings, max_age: float | None) -> dict[str, str]:
    """`--offline`: the cached values, without a socket opened; RunError when there are none or
    they are older than `max_age` seconds."""
    url, credential = _url(settings), settings.credential()
    entry = cache.read(url, credential)
    values = entry.values(credential) if entry is not None else None
    if entry is None or values is None:
        raise RunError("--offline: no cached values of this environment for this credential (run once online)")
    if max_age is not None and entry.age() > max_age:
        raise RunError(f"--offline: the cached values are {entry.age():.0f}s old, more than --cache-max-age")
    _debug("offline: cached values")
    return values


def fetch(settings: Settings, *, fallback: bool, max_age: float | None = None) -> dict[str, str]:
    """The environment's values: from the server (or the cache on 304), else the cache
    (--fallback; not when it is older than `max_age` seconds).

    The request goes out first, with the cached ETag (stored readable beside the ciphertext);
    loading AES and decrypting the cache then overlap the server's work instead of adding to it."""
    url = _url(settings)
    credential = settings.credential()
    entry = cache.read(url, credential)
    too_old = ""
    if fallback and max_age is not None and entry is not None and entry.age() > max_age:
        fallback = False  # too old to fall back on
        too_old = f" (the cached values are {entry.age():.0f}s old, more than --cache-max-age)"
    headers = settings.auth_headers()
    if entry is not None and entry.etag:
        headers["If-None-Match"] = f'"{entry.etag}"'
    cached, answer = _ask(url, headers, entry, credential)
    if isinstance(answer, OSError):
        if fallback and cached is not None:
            _note(f"server unreachable ({type(answer).__name__}); using the cached values (--fallback)")
            return cached
        hint = too_old or (" (--fallback uses the last values received)" if cached is not None else "")
        raise Unreachable(f"cannot reach {settings.api_url}: {answer}{hint}") from None
    status, response_headers, body = answer
    if status == 304 and cached is not None:
        _debug("304: the environment is unchanged; cached values")
        cache.touch(url, credential)
        return cached
    if status == 304:  # the cache file was unreadable after all: ask again without it
        headers.pop("If-None-Match", None)
        status, response_headers, body = _send(url, headers)()
    if status == 422 and not settings.is_service_token and b"client_encrypted" in body:
        return _client_values_for_user(settings)
    if status == 200:
        values = _values_of(body, service_token=settings.is_service_token)
        etag = response_headers.get("etag", "").removeprefix("W/").strip('"')
        cache.save(url, credential, etag, values)
        _debug("200: fresh values")
        return values
    if status >= 500 and fallback and cached is not None:
        _note(f"server answered {status}; using the cached values (--fallback)")
        return cached
    raise RunError(f"{status}: {_message(body)}", status=status)


def _ask(
    url: str, headers: dict[str, str], entry: cache.Entry | None, credential: str
) -> tuple[dict[str, str] | None, Response | OSError]:
    """(the cached values, the server's answer or why it could not be had): the request goes out,
    the cache is decrypted while the server works, then the answer is read."""
    try:
        receive = _send(url, headers)
    except OSError as exc:
        return (entry.values(credential) if entry is not None else None), exc
    cached = entry.values(credential) if entry is not None else None  # while the server works
    try:
        return cached, receive()
    except OSError as exc:
        return cached, exc


def _values_of(body: bytes, *, service_token: bool) -> dict[str, str]:
    """KEY -> value from a 200's JSON: the runtime API's `secrets`, or the management export's object."""
    import json  # noqa: PLC0415 - only a changed environment has a body to parse

    try:
        data = json.loads(body)
        values = data["secrets"] if service_token else data
        out = {str(k): str(v) for k, v in values.items()}
        if service_token and data.get("encryption") == "client":
            context = {k: data.get(k) for k in ("key", "org_id", "environment_id")}
            out[E2E_ENTRY] = json.dumps(context)
        return out
    except (ValueError, KeyError, TypeError, AttributeError):
        raise RunError("the server's answer is not the expected JSON") from None


def opened(values: dict[str, str], settings: Settings) -> dict[str, str]:
    """The values to export: a client-encrypted environment's ciphertexts decrypted here with the
    token's own key pair (derived from the token) and its grant; anything else as it came."""
    if E2E_ENTRY not in values:
        return values
    import json  # noqa: PLC0415

    from strongroom_cli import e2e  # noqa: PLC0415 - cryptography, for client-encrypted environments only

    context = json.loads(values[E2E_ENTRY])
    grant = context.get("key")
    if not grant:
        raise RunError("this token holds no grant of its client-encrypted environment's key: `strongroom grant` it")
    env_id, org_id, version = context["environment_id"], context["org_id"], int(grant["key_version"])
    try:
        pair = e2e.token_keypair(settings.token, grant["suite"])
        data_key = e2e.open_grant(pair, grant["wrapped_key"], env_id=env_id, key_version=version)
        return {
            k: e2e.decrypt_value(data_key, v, org_id=org_id, env_id=env_id, key=k, key_version=version)
            for k, v in values.items()
            if k != E2E_ENTRY
        }
    except Exception as exc:  # noqa: BLE001 - whatever fails, nothing is decrypted and nothing runs
        raise RunError(f"the environment's values do not open with this token ({type(exc).__name__})") from None


def _client_values_for_user(settings: Settings) -> dict[str, str]:
    """A user's `run` in a client-encrypted environment: the grant opened with the passphrase
    (STRONGROOM_PASSPHRASE, else a prompt), every value read and decrypted here; not cached."""
    from strongroom_cli import e2e_commands  # noqa: PLC0415 - the slow path: click, httpx, cryptography
    from strongroom_cli.commands import State  # noqa: PLC0415

    state = State(settings, as_json=False)
    key = e2e_commands.Opened(state)
    return {k: key.decrypt(k, v) for k, v in e2e_commands.secret_values(state, state.env_path()).items()}


def _message(body: bytes) -> str:
    import json  # noqa: PLC0415

    try:
        error = json.loads(body)["error"]
        return f"{error['message']} ({error['code']})"
    except (ValueError, KeyError, TypeError):
        return body[:200].decode("utf-8", "replace")


def _note(message: str) -> None:
    print(f"strongroom: {message}", file=sys.stderr)


def _debug(message: str) -> None:
    if os.environ.get("STRONGROOM_DEBUG"):
        _note(message)


def _renew(settings: Settings) -> None:
    """Make the stored machine-identity login again and use it (workload.renew)."""
    from strongroom_cli import workload  # noqa: PLC0415 - only a login to renew pays for it
    from strongroom_cli.config import save_login  # noqa: PLC0415

    try:
        login = workload.renew(settings.api_url, settings.login)
    except workload.WorkloadError as exc:
        raise RunError(str(exc)) from None
    save_login(settings.api_url, login)
    settings.login, settings.token = login, login["token"]
    _debug("renewed the machine identity's login")


def _fetch_renewing(
    settings: Settings, *, fallback: bool, offline: bool = False, max_age: float | None = None
) -> dict[str, str]:
    """fetch, with a machine identity's renewable login renewed when it has expired, or once when
    the server refuses it (401); offline, the cache only."""
    if offline:
        return offline_values(settings, max_age)
    login = settings.login
    renewable = settings.sources.get("token") == "login" and login.get("renew") in {"aws_iam", "oidc_token_file"}
    if renewable:
        from strongroom_cli import workload  # noqa: PLC0415 - only a machine identity's login pays for it

        if workload.due(login):
            _renew(settings)
    try:
        return fetch(settings, fallback=fallback, max_age=max_age)
    except RunError as exc:
        if not renewable or exc.status != 401:
            raise
    _renew(settings)
    return fetch(settings, fallback=fallback, max_age=max_age)


def _which(name: str) -> str | None:
    if os.sep in name:
        return name if os.access(name, os.X_OK) else None
    for folder in os.environ.get("PATH", os.defpath).split(os.pathsep):
        candidate = os.path.join(folder or ".", name)
        if os.path.isfile(candidate) and os.access(candidate, os.X_OK):
            return candidate
    return None


def only(values: dict[str, str], keys: list[str] | None) -> dict[str, str]:
    """`--only K1,K2`: just those of the environment's values (RunError naming those it lacks)."""
    if not keys:
        return values
    missing = sorted(k for k in set(keys) if k not in values)
    if missing:
        raise RunError(f"--only names keys the environment does not have: {', '.join(missing)}")
    return {k: values[k] for k in keys}


def child_environment(inherited: dict[str, str], values: dict[str, str], options: dict[str, Any]) -> dict[str, str]:
    """The command's environment: what `run` inherited (none of it with --no-inherit-env, but the
    --preserve-env names), then the values, except that a --preserve-env name the caller has set
    keeps the caller's value."""
    preserved = {k: inherited[k] for k in options.get("preserve-env", []) if k in inherited}
    base = preserved if options.get("no-inherit-env") else inherited
    return {**base, **values, **preserved}


def _render(specs: list[str], values: dict[str, str]) -> None:
    """`--template SRC:DEST` without a supervisor: written once, before the exec."""
    from strongroom_cli import files  # noqa: PLC0415

    try:
        for spec in specs:
            files.Template(spec).render(values)
    except files.FileError as exc:
        raise RunError(str(exc), exc.code) from None


def is_offline(options: dict[str, Any]) -> bool:
    """--offline, or STRONGROOM_OFFLINE set to anything but empty, 0, false or no."""
    given = os.environ.get("STRONGROOM_OFFLINE", "").strip().lower()
    return bool(options.get("offline")) or given not in {"", "0", "false", "no"}


def supervised(options: dict[str, Any]) -> bool:
    """Whether `run` stays as the command's parent (watching, or owning files) instead of exec."""
    return bool(options.get("watch") or options.get("mount"))


def main(argv: list[str]) -> int:
    try:
        flags, options, command = _parse(argv)
        fallback = bool(options.get("fallback"))
        if not command:
            raise RunError(f"no command to run\n{USAGE}", 2)
        settings = resolve(**flags)
        settings.folder = _folder(options.get("path", ""))
        settings.recursive = bool(options.get("recursive"))
        settings.require_login()
        settings.require_environment()
        offline = is_offline(options)
        if offline and (options.get("watch") or options.get("require-valid")):
            raise RunError("--offline opens no connection: not with --watch or --require-valid", 2)
        max_age = parse_duration(options["cache-max-age"]) if "cache-max-age" in options else None
        received = _fetch_renewing(settings, fallback=fallback, offline=offline, max_age=max_age)
        values = only(opened(received, settings), options.get("only"))
        program = _which(command[0])
        if program is None:
            raise RunError(f"{command[0]}: command not found", 127)
        if options.get("require-valid"):
            from strongroom_cli import gates  # noqa: PLC0415 - a CI gate: one more request, when asked

            gates.require_valid(settings, command[0])
        if supervised(options):
            from strongroom_cli import watch  # noqa: PLC0415 - the supervisor: only when asked for

            return watch.supervise(settings, program, command, received, options)
        if options.get("template"):
            _render(options["template"], values)
    except ConfigError as exc:
        _note(str(exc))
        return 2
    except RunError as exc:
        if exc.code == 0:
            print(str(exc))
            return 0
        _note(str(exc))
        return exc.code
    environ = child_environment(dict(os.environ), values, options)
    sys.stdout.flush()
    sys.stderr.flush()
    os.execve(program, command, environ)  # noqa: S606 - the user's own command, as asked
    return 0  # not reached
