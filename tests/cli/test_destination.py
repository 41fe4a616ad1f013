"""Where a credential may go: a token given by flag or environment only to a URL given the same
way (never to one a cloned repository's `.strongroom.toml` names), a stored login only to its
own URL, and plain http only to loopback. Both clients: httpx (every command) and `run`'s own."""

from __future__ import annotations

import json
import secrets
import socket
from pathlib import Path

import pytest

from cli.conftest import Run
from cli.listener import Capture
from strongroom_cli import config
from strongroom_cli.config import PROJECT_FILE, ConfigError, Settings

COMMANDS = [
    pytest.param(["secrets", "list"], id="secrets-list"),
    pytest.param(["secrets", "get", "DB_URL"], id="secrets-get"),
    pytest.param(["secrets", "export"], id="secrets-export"),
    pytest.param(["whoami"], id="whoami"),
    pytest.param(["run", "--", "true"], id="run"),
]


def _token() -> str:
    return f"sr_svc_{secrets.token_hex(16)}"


def _project_file(folder: Path, api_url: str) -> None:
    (folder / PROJECT_FILE).write_text(
        f'[strongroom]\napi_url = "{api_url}"\norg = "o"\nproject = "p"\nenv = "e"\n', encoding="utf-8"
    )


@pytest.mark.parametrize("command", COMMANDS)
def test_a_project_file_cannot_redirect_a_token_from_the_environment(
    offline_cli: Run, offline_home: Path, capture: Capture, command: list[str]
) -> None:
    token = _token()
    _project_file(offline_home / "work", capture.url)
    done = offline_cli(*command, env={"STRONGROOM_TOKEN": token})
    assert token.encode() not in capture.seen()
    assert capture.received == []
    assert done.returncode == 2, done.stderr
    assert "STRONGROOM_TOKEN is not sent to the api_url" in done.stderr


@pytest.mark.parametrize("command", COMMANDS)
def test_a_project_file_cannot_redirect_a_token_flag(
    offline_cli: Run, offline_home: Path, capture: Capture, command: list[str]
) -> None:
    token = _token()
    _project_file(offline_home / "work", capture.url)
    at = 1 if command[0] == "run" else 0  # `run --token T` and `strongroom --token T <command>`
    done = offline_cli(*command[:at], "--token", token, *command[at:])
    assert token.encode() not in capture.seen()
    assert done.returncode == 2, done.stderr
    assert "--token is not sent to the api_url" in done.stderr


@pytest.mark.parametrize("command", COMMANDS)
def test_the_token_goes_to_a_url_given_by_the_environment_even_beside_a_project_file(
    offline_cli: Run, offline_home: Path, capture: Capture, command: list[str]
) -> None:
    token = _token()
    elsewhere = Capture()
    try:
        _project_file(offline_home / "work", elsewhere.url)
        offline_cli(*command, env={"STRONGROOM_TOKEN": token, "STRONGROOM_API_URL": capture.url})
        assert f"Authorization: Bearer {token}".encode() in capture.seen()
        assert elsewhere.received == []
    finally:
        elsewhere.close()


def test_a_stored_login_goes_only_to_the_url_it_is_stored_for(
    offline_cli: Run, offline_home: Path, capture: Capture
) -> None:
    token = f"sr_pat_{secrets.token_hex(16)}"
    assert offline_cli("login", "--token", token, env={"STRONGROOM_API_URL": capture.url}).returncode == 0
    _project_file(offline_home / "work", capture.url)  # the login's own URL: used
    offline_cli("secrets", "list")
    assert f"Authorization: Bearer {token}".encode() in capture.seen()

    elsewhere = Capture()
    try:
        _project_file(offline_home / "work", elsewhere.url)  # another URL: no login there
        offline_cli("secrets", "list")
        assert token.encode() not in elsewhere.seen()
        assert b"authorization:" not in elsewhere.seen().lower()
    finally:
        elsewhere.close()


def test_login_does_not_store_a_token_for_a_project_files_url(
    offline_cli: Run, offline_home: Path, capture: Capture
) -> None:
    _project_file(offline_home / "work", capture.url)
    done = offline_cli("login", "--token", f"sr_pat_{secrets.token_hex(16)}")
    assert done.returncode == 2, done.stderr
    assert not (offline_home / "home" / ".config" / "strongroom" / "credentials.json").exists()


def _remote_address() -> str | None:
    """One of this machine's own addresses that is not loopback (a listener there is "remote"):
    the source address of a route outward (a UDP connect sends nothing)."""
    for target in ("192.0.2.1", "10.255.255.255", "203.0.113.1"):
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
            try:
                probe.connect((target, 9))
            except OSError:
                continue
            address = str(probe.getsockname()[0])
        if not address.startswith("127.") and address != "0.0.0.0":
            return address
    return None


@pytest.mark.parametrize("command", COMMANDS)
def test_plain_http_to_a_host_that_is_not_loopback_carries_no_credential(offline_cli: Run, command: list[str]) -> None:
    host = _remote_address()
    if host is None:
        pytest.skip("this machine has no address but loopback")
    remote = Capture(host)
    try:
        token = _token()
        done = offline_cli(*command, env={"STRONGROOM_TOKEN": token, "STRONGROOM_API_URL": remote.url})
        assert token.encode() not in remote.seen()
        assert done.returncode == 2, done.stderr
        assert "plain http" in done.stderr
    finally:
        remote.close()


def _settings(api_url: str, **sources: str) -> Settings:
    return Settings(api_url, token="sr_svc_x", sources={"token": "environment", "api_url": "environment", **sources})


@pytest.mark.parametrize(
    "url",
    [
        "http://192.0.2.10:3000",
        "http://api.example.com",
        "http://127.0.0.1.example.com",
        "http://localhost.example.com",
        "http://[fd00::2]:3000",
        "http://127.1",  # shorthand that resolvers accept: not written plainly, so not trusted
    ],
)
def test_plain_http_is_only_for_loopback(url: str) -> None:
    with pytest.raises(ConfigError, match="plain http"):
        _settings(url).auth_headers()


@pytest.mark.parametrize(
    "url",
    ["https://api.example.com", "http://127.0.0.1:3000", "http://127.9.9.9", "http://[::1]:3000", "http://localhost"],
)
def test_https_anywhere_and_http_to_loopback_carry_the_token(url: str) -> None:
    assert _settings(url).auth_headers() == {"Authorization": "Bearer sr_svc_x"}


def test_the_rule_covers_the_dev_identity_too() -> None:
    dev = Settings("http://192.0.2.10", dev_user="a@example.com", sources={"token": "login"})
    with pytest.raises(ConfigError, match="plain http"):
        dev.auth_headers()


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:3000@api.example.com",  # user info: clients disagree about the host
        "http://127.0.0.1@api.example.com",
        "http://127.0.0.1\\@api.example.com",
        "http://127.0.0.1#@api.example.com",
        "http://127.0.0.1:99999",
        "http://127.0.0.1:x",
        "ftp://127.0.0.1",
        "127.0.0.1:3000",
        "http://",
        "http://[::1",
        "http://a b",
    ],
)
def test_urls_that_do_not_name_one_host_plainly_are_refused(url: str) -> None:
    with pytest.raises(ConfigError, match="not an http"):
        config.split_url(url)


def test_loopback_is_written_plainly() -> None:
    assert [config.is_loopback(h) for h in ("127.0.0.1", "127.255.0.9", "::1", "localhost")] == [True] * 4
    assert [config.is_loopback(h) for h in ("128.0.0.1", "127.0.0", "0.0.0.0", "localhost.", "::2")] == [False] * 5


def test_the_project_file_may_still_name_the_url_for_anonymous_commands(
    offline_cli: Run, offline_home: Path, capture: Capture
) -> None:
    """Only credentials are held back: `setup` and the rest work beside any project file."""
    _project_file(offline_home / "work", capture.url)
    done = offline_cli("setup", "--org", "o", "--project", "p", "--env", "e", env={"STRONGROOM_TOKEN": _token()})
    assert done.returncode == 0, done.stderr
    assert json.dumps("e") in (offline_home / "work" / PROJECT_FILE).read_text(encoding="utf-8")
