"""Where the CLI talks to, as whom, and about which environment — standard library only (the
`run` fast path imports this).

Precedence, highest first: command-line flags; environment variables (`STRONGROOM_API_URL`,
`STRONGROOM_TOKEN`, `STRONGROOM_ORG`, `STRONGROOM_PROJECT`, `STRONGROOM_ENV`); the profile named
by `--profile` or `STRONGROOM_PROFILE` (`[profiles.NAME]` of $XDG_CONFIG_HOME/strongroom/config.toml:
api_url, org, project, env); the nearest `.strongroom.toml` from the working directory up
(per-directory org/project/env, like `doppler setup`); the profile `default` when none is named;
the stored login for the API URL. A service token (`sr_svc_…`) implies its own
org, project and environment.

Where credentials go (`Settings.auth_headers` is the only way into a request, and it checks):
a token given by flag or environment goes only to an API URL given by flag or environment (or the
default), never to one a `.strongroom.toml` names, since a cloned repository is not trusted to
redirect a CI token; a stored login goes only to the URL it is stored for. Plain http only to
loopback (127.0.0.0/8, ::1, localhost); anything else needs https.

Credentials: the OS keyring when it has a usable backend (and `STRONGROOM_NO_KEYRING` is unset),
else `credentials.json` under $XDG_CONFIG_HOME/strongroom (mode 0600, directory 0700).
"""

from __future__ import annotations

import os

TYPE_CHECKING = False  # typing and pathlib cost `run` 5 ms to import; mypy reads this name as True
if TYPE_CHECKING:
    from typing import Any

DEFAULT_API_URL = "http://127.0.0.1:3000"
PROJECT_FILE = ".strongroom.toml"
KEYRING_SERVICE = "strongroom"


class ConfigError(Exception):
    """Something the user must fix (printed without a trace)."""


_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def parse_duration(text: str) -> float:
    """Seconds of `90`, `90s`, `15m`, `12h`, `30d`, `2w` (ConfigError otherwise)."""
    value = text.strip().lower()
    number, unit = (value[:-1], value[-1]) if value[-1:] in _UNITS else (value, "s")
    try:
        seconds = float(number) * _UNITS[unit]
    except ValueError:
        raise ConfigError(f"{text!r} is not a duration (e.g. 90s, 15m, 12h, 30d)") from None
    if not 0 <= seconds < float("inf"):  # negative, infinite or NaN
        raise ConfigError(f"{text!r} is not a duration (e.g. 90s, 15m, 12h, 30d)")
    return seconds


def config_dir() -> str:
    base = os.environ.get("XDG_CONFIG_HOME") or os.path.join(os.path.expanduser("~"), ".config")
    return os.path.join(base, "strongroom")


def cache_dir() -> str:
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "strongroom")


def profiles_file() -> str:
    return os.path.join(config_dir(), "config.toml")


PROFILE_KEYS = ("api_url", "org", "project", "env")


def read_profiles() -> dict[str, dict[str, str]]:
    """NAME -> its settings, from config.toml's `[profiles.NAME]` tables ({} without the file)."""
    path = profiles_file()
    if not os.path.isfile(path):
        return {}
    import tomllib  # noqa: PLC0415 - only when the file exists

    try:
        with open(path, encoding="utf-8") as handle:
            data = tomllib.loads(handle.read())
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"{path}: {exc}") from None
    profiles = data.get("profiles", {})
    if not isinstance(profiles, dict) or not all(isinstance(v, dict) for v in profiles.values()):
        raise ConfigError(f"{path}: [profiles.NAME] must be tables")
    return {str(n): {k: str(v) for k, v in t.items() if k in PROFILE_KEYS} for n, t in profiles.items()}


def write_profiles(profiles: dict[str, dict[str, str]]) -> str:
    import json  # noqa: PLC0415 - TOML basic strings are JSON strings for what we write

    lines: list[str] = []
    for name in sorted(profiles):
        lines += ["", f"[profiles.{json.dumps(name)}]"]
        lines += [f"{k} = {json.dumps(v)}" for k, v in profiles[name].items() if v]
    write_private(profiles_file(), ("\n".join(lines).lstrip("\n") + "\n").encode("utf-8"))
    return profiles_file()


def _credentials_file() -> str:
    return os.path.join(config_dir(), "credentials.json")


def split_url(url: str) -> tuple[str, str, int, str]:
    """(scheme, host, port, path?query) of an absolute http(s) URL, strictly (strongroom_sdk.wire:
    the host decides where a credential goes); ConfigError for anything else."""
    from strongroom_sdk import wire  # noqa: PLC0415

    try:
        return wire.split_url(url)
    except wire.WireError as exc:
        raise ConfigError(str(exc)) from None


def is_loopback(host: str) -> bool:
    """127.0.0.0/8, ::1 or localhost, written plainly (anything else counts as remote)."""
    if host in {"localhost", "::1"}:
        return True
    parts = host.split(".")
    return len(parts) == 4 and parts[0] == "127" and all(p.isdigit() and int(p) < 256 for p in parts)


def find_project_file(start: str | None = None) -> str | None:
    """The nearest .strongroom.toml from `start` (the working directory) up."""
    here = os.path.realpath(start or os.getcwd())
    while True:
        candidate = os.path.join(here, PROJECT_FILE)
        if os.path.isfile(candidate):
            return candidate
        parent = os.path.dirname(here)
        if parent == here:
            return None
        here = parent


def read_project_file(path: str | None) -> dict[str, str]:
    if path is None:
        return {}
    import tomllib  # noqa: PLC0415 - only when a project file exists

    try:
        with open(path, encoding="utf-8") as handle:
            data = tomllib.loads(handle.read())
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"{path}: {exc}") from None
    section = data.get("strongroom", data)
    if not isinstance(section, dict):
        raise ConfigError(f"{path}: [strongroom] must be a table")
    return {k: str(v) for k, v in section.items() if k in {"api_url", "org", "project", "env"}}


def write_project_file(path: str, values: dict[str, str]) -> None:
    import json  # noqa: PLC0415 - TOML basic strings are JSON strings for what we write

    lines = ["[strongroom]"] + [f"{k} = {json.dumps(v)}" for k, v in values.items() if v]
    with open(path, "w", encoding="utf-8") as handle:
        handle.write("\n".join(lines) + "\n")


# --------------------------------------------------------------------------- credentials


def _load_file() -> dict[str, Any]:
    import json  # noqa: PLC0415 - `run` with a token in the environment never reads the file

    path = _credentials_file()
    try:
        with open(path, encoding="utf-8") as handle:
            data: dict[str, Any] = json.loads(handle.read())
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as exc:
        raise ConfigError(f"{path} is unreadable: {exc}") from None
    return data


def write_private(path: str, data: bytes) -> None:
    """Replace `path` atomically with `data`, readable by this user only (file 0600, folder 0700)."""
    folder = os.path.dirname(path)
    os.makedirs(folder, mode=0o700, exist_ok=True)
    os.chmod(folder, 0o700)
    tmp = path + ".tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)
    os.replace(tmp, path)


def _save_file(data: dict[str, Any]) -> None:
    import json  # noqa: PLC0415

    write_private(_credentials_file(), json.dumps(data, indent=2).encode("utf-8"))


def _keyring() -> Any | None:
    """The keyring module when it has a usable backend, else None (imported only when needed)."""
    if os.environ.get("STRONGROOM_NO_KEYRING"):
        return None
    try:
        import keyring  # noqa: PLC0415 - slow to import; only login/logout and keyring users pay
        from keyring.backends import fail  # noqa: PLC0415
    except ImportError:
        return None
    backend = keyring.get_keyring()
    if isinstance(backend, fail.Keyring) or getattr(backend, "priority", 0) < 1:
        return None
    return keyring


def save_login(api_url: str, login: dict[str, str]) -> str:
    """Store a login for an API URL; returns where it went ("keyring" or the file's path)."""
    data = _load_file()
    secret = login.get("token")
    ring = _keyring() if secret else None
    entry = dict(login)
    if ring is not None and secret:
        ring.set_password(KEYRING_SERVICE, api_url, secret)
        entry["token"] = ""
        entry["storage"] = "keyring"
    data[api_url] = entry
    _save_file(data)
    return "keyring" if entry.get("storage") == "keyring" else _credentials_file()


def load_login(api_url: str) -> dict[str, str]:
    entry = dict(_load_file().get(api_url, {}))
    if entry.get("storage") == "keyring":
        ring = _keyring()
        entry["token"] = (ring.get_password(KEYRING_SERVICE, api_url) if ring else None) or ""
    return entry


def forget_login(api_url: str) -> bool:
    data = _load_file()
    entry = data.pop(api_url, None)
    if entry is None:
        return False
    if entry.get("storage") == "keyring":
        ring = _keyring()
        if ring is not None:
            import contextlib  # noqa: PLC0415

            with contextlib.suppress(Exception):  # already gone
                ring.delete_password(KEYRING_SERVICE, api_url)
    _save_file(data)
    return True


# --------------------------------------------------------------------------- resolution


class Settings:
    """What one invocation talks to (a plain class: `dataclasses` costs `run` 11 ms to import)."""

    __slots__ = (
        "api_url",
        "dev_user",
        "env",
        "folder",
        "login",
        "org",
        "profile",
        "project",
        "recursive",
        "sources",
        "token",
    )

    def __init__(
        self,
        api_url: str,
        *,
        token: str = "",
        dev_user: str = "",
        org: str = "",
        project: str = "",
        env: str = "",
        sources: dict[str, str] | None = None,
    ) -> None:
        self.api_url = api_url
        self.token = token
        self.dev_user = dev_user
        self.org = org
        self.project = project
        self.env = env
        self.sources = sources if sources is not None else {}
        # The stored login the token came from (a machine identity's says how to renew it).
        self.login: dict[str, str] = {}
        self.profile = ""  # the profile read, if any
        # The folder of the environment read (`run --path`, `secrets … --path`): "" or "/" is its root;
        # `recursive` takes its subfolders too, flattened into keys.
        self.folder = ""
        self.recursive = False

    def folder_query(self) -> str:
        """`&path=…[&recursive=true]` for a pull, export or secret route, or "" for the root alone."""
        from urllib.parse import quote  # noqa: PLC0415

        query = f"&path={quote(self.folder, safe='/')}" if self.folder not in {"", "/"} else ""
        return query + ("&recursive=true" if self.recursive else "")

    @property
    def is_service_token(self) -> bool:
        return self.token.startswith("sr_svc_")

    def auth_headers(self) -> dict[str, str]:
        """The credential's header, after `check_destination` (so no request carries it elsewhere)."""
        if self.token:
            self.check_destination()
            return {"Authorization": f"Bearer {self.token}"}
        if self.dev_user:
            self.check_destination()
            return {"X-Strongroom-Dev-User": self.dev_user}
        return {}

    def check_destination(self, *, origin: str | None = None) -> None:
        """Refuse (ConfigError) to send a credential to this API URL when the URL came from a
        `.strongroom.toml` and the token from a flag or the environment (`origin` says where a
        token about to be sent or stored comes from, as `login` does), or when it is plain http to
        a host that is not loopback."""
        scheme, host, _, _ = split_url(self.api_url)
        source = origin or self.sources.get("token", "")
        if source in {"flag", "environment"} and self.sources.get("api_url") == PROJECT_FILE:
            given = "--token" if source == "flag" else "STRONGROOM_TOKEN"
            raise ConfigError(
                f"{given} is not sent to the api_url a {PROJECT_FILE} names ({self.api_url}): "
                "give that URL with --api-url or STRONGROOM_API_URL if you trust it"
            )
        if scheme == "http" and not is_loopback(host):
            raise ConfigError(
                f"refusing to send credentials over plain http to {host}: use https "
                "(plain http is only for 127.0.0.1, ::1 and localhost)"
            )

    def credential(self) -> str:
        """What the local cache's key is derived from."""
        return self.token or f"dev:{self.dev_user}"

    def require_login(self) -> None:
        if not self.token and not self.dev_user:
            raise ConfigError("not logged in: run `strongroom login` (or set STRONGROOM_TOKEN, or pass --token)")

    def require_environment(self) -> None:
        missing = [name for name in ("org", "project", "env") if not getattr(self, name)]
        if missing and not self.is_service_token:
            raise ConfigError(
                f"which {', '.join(missing)}? pass --{missing[0]}, set STRONGROOM_{missing[0].upper()}, "
                "or run `strongroom setup` here"
            )


def resolve(**flags: str | None) -> Settings:
    """Settings from flags > environment > the named profile > .strongroom.toml > the default
    profile > stored login."""
    project_file = read_project_file(find_project_file())
    sources: dict[str, str] = {}
    named = flags.get("profile") or os.environ.get("STRONGROOM_PROFILE") or ""
    profiles = read_profiles()
    if named and named not in profiles:
        known = ", ".join(sorted(profiles)) or "none yet: `strongroom configure profile NAME --api-url …`"
        raise ConfigError(f"no profile {named!r} in {profiles_file()} (profiles: {known})")
    chosen = profiles.get(named, {}) if named else {}
    fallback = {} if named else profiles.get("default", {})
    profile_name = named or ("default" if fallback else "")

    def pick(name: str, env_name: str, default: str = "") -> str:
        for source, value in (
            ("flag", flags.get(name)),
            ("environment", os.environ.get(env_name)),
            (f"profile {profile_name}", chosen.get(name)),
            (PROJECT_FILE, project_file.get(name)),
            (f"profile {profile_name}", fallback.get(name)),
        ):
            if value:
                sources[name] = source
                return value
        return default

    api_url = pick("api_url", "STRONGROOM_API_URL", DEFAULT_API_URL).rstrip("/")
    settings = Settings(
        api_url=api_url,
        org=pick("org", "STRONGROOM_ORG"),
        project=pick("project", "STRONGROOM_PROJECT"),
        env=pick("env", "STRONGROOM_ENV"),
        sources=sources,
    )
    settings.profile = profile_name
    token = flags.get("token") or os.environ.get("STRONGROOM_TOKEN")
    if token:
        settings.token = token
        sources["token"] = "flag" if flags.get("token") else "environment"
    else:
        login = load_login(api_url)
        settings.login = login
        settings.token = login.get("token", "")
        settings.dev_user = login.get("dev_user", "")
        if settings.token or settings.dev_user:
            sources["token"] = "login"  # noqa: S105 - where the token came from
    return settings
