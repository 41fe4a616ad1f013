"""Every command but `run` (see run.py): click for the interface, httpx for the API, rich for
tables and progress on a terminal. `--json` prints machine-readable output everywhere, and every
command and group takes it, before or after its name; without a terminal, output is plain
tab-separated text.

A service token (`sr_svc_…`) belongs to one environment: `whoami`, `secrets list|get|export`
(and `run`) read it through the runtime API, whatever `.strongroom.toml` names; commands about
anything wider need a user login, and say so."""

from __future__ import annotations

import json
import os
import re
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn
from urllib.parse import quote, urlencode

import click

if TYPE_CHECKING:
    from collections.abc import Callable

    import httpx

from strongroom_cli import __version__
from strongroom_cli.config import (
    PROJECT_FILE,
    ConfigError,
    Settings,
    forget_login,
    resolve,
    save_login,
    write_project_file,
)

SECRET_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_.-]{0,254}$")
RUNTIME_FORMATS = frozenset({"dotenv", "json", "shell"})  # what /runtime/v1/secrets renders
_OUTPUT = "strongroom.output"  # ctx.meta: the output format given at some level (--json, -o)


def _http_error() -> type[Exception]:
    import httpx  # noqa: PLC0415 - already imported by whoever made the client

    return httpx.HTTPError


class State:
    def __init__(self, settings: Settings, as_json: bool, output: str | None = None, *, offline: bool = False) -> None:
        self.settings = settings
        self.output = output or ("json" if as_json else None)  # None: a table on a terminal, else tsv
        self.offline = offline  # --offline / STRONGROOM_OFFLINE: no request at all
        self._client: httpx.Client | None = None

    @property
    def as_json(self) -> bool:
        return self.output == "json"

    @as_json.setter
    def as_json(self, value: bool) -> None:
        if value:
            self.output = "json"

    @property
    def client(self) -> httpx.Client:
        if self.offline:
            fail(f"`{_command_path()}` needs the server, and --offline (STRONGROOM_OFFLINE) opens no connection: "
                 "offline, `run` and `render` read the local cache", 2)  # fmt: skip
        if self._client is None:
            import httpx  # noqa: PLC0415 - 60 ms to import: only commands that call the API pay it

            self._client = httpx.Client(
                base_url=self.settings.api_url,
                headers={**self.settings.auth_headers(), "User-Agent": f"strongroom-cli/{__version__}"},
                timeout=30.0,
                follow_redirects=False,
            )
        return self._client

    def request(self, method: str, path: str, *, body: Any = None, ok: tuple[int, ...] = (200, 201, 204)) -> Any:
        """The httpx response of a request the API answered with a status in `ok`; else a one-line failure."""
        try:
            resp = self.client.request(method, path, json=body)
        except _http_error() as exc:
            fail(f"cannot reach {self.settings.api_url}: {exc}")
        if resp.status_code not in ok:
            try:
                error = resp.json()["error"]
                message = f"{error['message']} ({error['code']}, {resp.status_code})"
                if error.get("details"):
                    message += f"\n  {json.dumps(error['details'])}"
            except (ValueError, KeyError, TypeError):
                message = f"{resp.status_code} {resp.text[:200]}"
            fail(message)
        return resp

    def call(self, method: str, path: str, *, body: Any = None, ok: tuple[int, ...] = (200, 201, 204)) -> Any:
        """The decoded answer (JSON, text, or None for an empty one)."""
        resp = self.request(method, path, body=body, ok=ok)
        if resp.status_code == 204 or not resp.content:
            return None
        if resp.headers.get("content-type", "").startswith("application/json"):
            return resp.json()
        return resp.text

    def pages(self, path: str, *, limit: int = 500) -> list[Any]:
        """Every item of a paginated list, following its cursors."""
        rows: list[Any] = []
        cursor = None
        join = "&" if "?" in path else "?"
        while True:
            page = self.call("GET", f"{path}{join}limit={limit}{f'&cursor={quote(cursor)}' if cursor else ''}")
            rows += page["data"]
            cursor = page.get("next_cursor")
            if not cursor:
                return rows

    def env_path(self) -> str:
        s = self.settings
        if s.is_service_token and not (s.org and s.project and s.env):
            fail(
                f"`{_command_path()}` is not served by the runtime API, and a service token reads its own "
                "environment only through it (`secrets list|get|export`, `run`, `whoami`): name the environment "
                "(--org, --project, --env) or log in as a user",
                2,
            )
        s.require_environment()
        return f"/v1/orgs/{s.org}/projects/{s.project}/environments/{s.env}"

    def user_only(self) -> None:
        """Commands about orgs, projects or other environments: a service token has one environment."""
        if self.settings.is_service_token:
            fail(
                f"`{_command_path()}` needs a user login: a service token reaches only its own environment "
                "(`secrets list|get|export`, `run`, `whoami`)",
                2,
            )


def _command_path() -> str:
    return click.get_current_context().command_path


def fail(message: str, code: int = 1) -> NoReturn:
    click.echo(f"strongroom: {message}", err=True)
    sys.exit(code)


def confirm(yes: bool, what: str, question: str) -> None:
    """Destructive commands: ask on a terminal; without one, only `--yes` goes on (exit 2 otherwise)."""
    if yes:
        return
    if not sys.stdin.isatty():
        fail(f"{what}: pass --yes to confirm without a terminal", 2)
    click.confirm(question, abort=True, err=True)


def emit(state: State, data: Any, columns: list[str] | None = None, *, title: str = "") -> None:
    """In the format -o/--output names (--json: json); else a rich table on a terminal and
    tab-separated lines otherwise (strongroom_cli.formats)."""
    from strongroom_cli import formats  # noqa: PLC0415

    output = state.output or ("table" if sys.stdout.isatty() else "tsv")
    if output == "table":
        rows, columns = formats.tabular(data, columns)
        from rich.console import Console  # noqa: PLC0415
        from rich.table import Table  # noqa: PLC0415

        table = Table(title=title or None)
        for column in columns:
            table.add_column(column)
        for row in rows:
            table.add_row(*(formats.cell(row.get(c)) for c in columns))
        Console(no_color=bool(os.environ.get("NO_COLOR")) or None).print(table)
        return
    try:
        click.echo(formats.output(data, columns, output), nl=False)
    except formats.Unrepresentable as exc:
        fail(str(exc), 2)


def _output_json(ctx: click.Context, _param: click.Parameter, value: bool) -> None:
    if value:
        _set_output(ctx, "json")


def _output_format(ctx: click.Context, _param: click.Parameter, value: str | None) -> None:
    if value:
        _set_output(ctx, value)


def _set_output(ctx: click.Context, output: str) -> None:
    ctx.meta[_OUTPUT] = output  # meta is shared by the whole invocation
    state = ctx.find_object(State)
    if state is not None:
        state.output = output


OUTPUTS = ("json", "yaml", "table", "tsv", "dotenv")


def _with_output_options(params: list[click.Parameter]) -> None:
    """--json and -o/--output FORMAT on every command and group (a command whose own -o means
    something else, as `render -o FILE`, keeps the long form only)."""
    short = [] if any("-o" in p.opts for p in params if isinstance(p, click.Option)) else ["-o"]
    params.append(
        click.Option(
            ["--json"], is_flag=True, expose_value=False, callback=_output_json, help="Machine-readable output"
        )
    )
    params.append(
        click.Option(
            [*short, "--output"],
            type=click.Choice(OUTPUTS),
            expose_value=False,
            callback=_output_format,
            help="Output format (--json is -o json)",
        )
    )


class Command(click.Command):
    """A command that takes the output options (--json) wherever they are written."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        _with_output_options(self.params)


class Group(click.Group):
    """A group whose commands and subgroups all take the output options too."""

    command_class = Command
    group_class = type  # subgroups are Groups

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        _with_output_options(self.params)


Row = dict[str, Any]


def resource_commands(
    group: click.Group,
    base: Callable[..., str],
    columns: list[str],
    *,
    noun: str,
    listing: bool = True,
    show: bool = True,
    remove: str | None = "delete",
    remove_help: str = "",
    row: Callable[[Row], Row] | None = None,
    paginated: bool = True,
    options: list[click.Option] | None = None,
    argument: str = "ID",
) -> None:
    """The commands every collection has, on `group`: `list` (every page), `show ID`, and `delete
    ID` (or `revoke`/`remove`: `remove` names the verb), which asks first on a terminal and needs
    --yes without one. `base(state, **options)` is the collection's path (`options`: extra click
    options each command takes, e.g. --personal); `row` shapes each item for output."""
    shape = row or (lambda r: r)
    extra = options or []

    def command(name: str, help_text: str, function: Callable[..., None], params: list[click.Parameter]) -> None:
        group.add_command(Command(name, callback=click.pass_obj(function), params=[*params, *extra], help=help_text))

    def listing_of(state: State, **given: Any) -> None:
        path = base(state, **given)
        items = state.pages(path) if paginated else state.call("GET", path)["data"]
        emit(state, [shape(r) for r in items], columns)

    def showing(state: State, item_id: str, **given: Any) -> None:
        emit(state, shape(state.call("GET", f"{base(state, **given)}/{quote(item_id, safe='')}")), columns)

    done = {"delete": "deleted", "revoke": "revoked", "remove": "removed"}.get(remove or "", "")

    def removing(state: State, item_id: str, yes: bool, **given: Any) -> None:
        path = f"{base(state, **given)}/{quote(item_id, safe='')}"
        confirm(yes, f"{remove} cannot be undone", f"{remove} {noun} {item_id}?")
        state.call("DELETE", path)
        emit(state, {"id": item_id, done: True}, ["id", done])

    item = click.Argument(["item_id"], metavar=argument)
    if listing:
        command("list", f"Every {noun}.", listing_of, [])
    if show:
        command("show", f"One {noun}.", showing, [item])
    if remove:
        yes = click.Option(["--yes"], is_flag=True, help="Do not ask (needed without a terminal)")
        why = f"; {remove_help}" if remove_help else ""
        text = f"{remove.capitalize()} the {noun} {argument}{why} (asks first on a terminal; --yes without one)."
        command(remove, text, removing, [click.Argument(["item_id"], metavar=argument), yes])


@click.group(cls=Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--api-url", help="Strongroom API (default http://127.0.0.1:3000)")
@click.option("--token", help="A service or personal access token (else STRONGROOM_TOKEN or your login)")
@click.option("--org", help="Org ID or slug (else STRONGROOM_ORG or .strongroom.toml)")
@click.option("--project", help="Project ID or slug")
@click.option("--env", "env", help="Environment ID or slug")
@click.option("--profile", help="A profile of the CLI's config.toml (else STRONGROOM_PROFILE; `configure profile`)")
@click.option(
    "--offline", is_flag=True, help="No network at all: `run` and `render` use the local cache (STRONGROOM_OFFLINE=1)"
)
@click.version_option(__version__, prog_name="strongroom")
@click.pass_context
def cli(ctx: click.Context, api_url: str | None, token: str | None, org: str | None, project: str | None,
        env: str | None, profile: str | None, offline: bool) -> None:  # fmt: skip
    """Strongroom: secrets for your teams, CI jobs and servers.

    `strongroom run -- cmd` runs a command with the environment's secrets as variables."""
    try:
        settings = resolve(api_url=api_url, token=token, org=org, project=project, env=env, profile=profile)
    except ConfigError as exc:
        fail(str(exc), 2)
    from strongroom_cli.run import is_offline  # noqa: PLC0415

    ctx.obj = State(settings, False, ctx.meta.get(_OUTPUT), offline=is_offline({"offline": offline}))


@cli.command("run", context_settings={"ignore_unknown_options": True, "allow_extra_args": True})
def run_help() -> None:
    """Run a command with the environment's secrets: strongroom run [options] -- cmd… (`run --help`:
    --fallback, --offline, --cache-max-age, --watch, --interval, --signal, --mount, --format, --fifo,
    --template, --require-valid, --only, --preserve-env, --no-inherit-env)"""
    fail("`run` is handled before this point; see `strongroom run --help`", 2)


@cli.command()
@click.argument("shell", type=click.Choice(["bash", "zsh", "fish"]))
def completion(shell: str) -> None:
    """Print the shell's completion script (click's own): `source <(strongroom completion bash)`."""
    from click.shell_completion import get_completion_class  # noqa: PLC0415

    complete = get_completion_class(shell)
    if complete is None:
        fail(f"no completion for {shell}", 2)
    click.echo(complete(cli, {}, "strongroom", "_STRONGROOM_COMPLETE").source())


# --------------------------------------------------------------------------- login


def _password(from_stdin: bool, *, confirm: bool = False) -> str:
    """From stdin's first line (--password-stdin), else a hidden prompt; never an argument."""
    if from_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = click.prompt("Password", hide_input=True, confirmation_prompt=confirm, err=True)
    if not password:
        fail("no password given", 2)
    return str(password)


def _anonymous(state: State, method: str, path: str, body: dict[str, Any]) -> tuple[int, Any]:
    import httpx  # noqa: PLC0415

    try:
        resp = httpx.Client(base_url=state.settings.api_url, timeout=30.0).request(method, path, json=body)
    except httpx.HTTPError as exc:
        fail(f"cannot reach {state.settings.api_url}: {exc}")
    try:
        return resp.status_code, resp.json()
    except ValueError:
        return resp.status_code, resp.text


def _public(state: State, path: str, body: dict[str, Any], want: int) -> Any:
    """POST to a route that authenticates nobody; its payload, or a one-line failure."""
    status, payload = _anonymous(state, "POST", path, body)
    if status != want:
        fail(_refused(status, payload))
    return payload


def _refused(status: int, payload: Any) -> str:
    error = payload.get("error", {}) if isinstance(payload, dict) else {}
    message = f"{error.get('message', payload)} ({error.get('code', status)}, {status})"
    if error.get("details"):
        message += f"\n  {json.dumps(error['details'])}"
    return message


@cli.command()
@click.option("--email", required=True, help="Your email address")
@click.option("--name", help="Your display name")
@click.option("--password-stdin", is_flag=True, help="Read the password from stdin's first line")
@click.pass_obj
def register(state: State, email: str, name: str | None, password_stdin: bool) -> None:
    """Create a password account (then `strongroom login --email`)."""
    state.settings.check_destination(origin="login")
    body: dict[str, Any] = {"email": email, "password": _password(password_stdin, confirm=not password_stdin)}
    if name:
        body["name"] = name
    payload = _public(state, "/v1/auth/register", body, 201)
    if state.as_json:
        emit(state, payload)
    else:
        click.echo(f"registered {email}; log in with: strongroom login --email {email}", err=True)


def _code(payload: Any) -> str:
    return str(payload.get("error", {}).get("code", "")) if isinstance(payload, dict) else ""


def _password_login(state: State, email: str, password_stdin: bool, totp: str | None) -> None:
    api = state.settings.api_url
    state.settings.check_destination(origin="login")  # the token comes back over this connection
    body: dict[str, Any] = {"email": email, "password": _password(password_stdin)}
    if totp:
        body["totp_code"] = totp
    status, payload = _anonymous(state, "POST", "/v1/auth/login", body)
    if status == 401 and _code(payload) == "totp_required" and not totp and sys.stdin.isatty():
        body["totp_code"] = click.prompt("Authenticator code (or a recovery code)", err=True)
        status, payload = _anonymous(state, "POST", "/v1/auth/login", body)
    if status != 200:
        fail(_refused(status, payload))
    where = save_login(api, {"token": payload["token"]})
    if state.as_json:
        emit(state, {"user": payload["user"], "expires_at": payload["expires_at"], "stored_in": where})
    else:
        click.echo(f"logged in to {api} as {email} until {payload['expires_at']} (session stored in {where})", err=True)


@cli.command("verify-email")
@click.argument("token")
@click.pass_obj
def verify_email(state: State, token: str) -> None:
    """Verify your email address with the token of the mail (`send-verification` sends one)."""
    payload = _public(state, "/v1/auth/verify-email", {"token": token}, 200)
    emit(state, payload["user"], ["id", "email", "email_verified"])


@cli.command("send-verification")
@click.pass_obj
def send_verification(state: State) -> None:
    """Mail a verification link to your account's address."""
    state.call("POST", "/v1/auth/send-verification", ok=(202,))
    emit(state, {"sent": True}, ["sent"])


@cli.command("forgot-password")
@click.option("--email", required=True)
@click.pass_obj
def forgot_password(state: State, email: str) -> None:
    """Mail a password reset link (the answer is the same whether the account exists or not)."""
    _public(state, "/v1/auth/forgot-password", {"email": email}, 202)
    emit(state, {"requested": True}, ["requested"])


@cli.command("reset-password")
@click.argument("token")
@click.option("--password-stdin", is_flag=True, help="Read the new password from stdin's first line")
@click.pass_obj
def reset_password(state: State, token: str, password_stdin: bool) -> None:
    """Set a new password with the token of the reset mail (every session of the account ends)."""
    body = {"token": token, "new_password": _password(password_stdin, confirm=not password_stdin)}
    _public(state, "/v1/auth/reset-password", body, 204)
    emit(state, {"reset": True}, ["reset"])


@cli.group("2fa")
def two_factor() -> None:
    """Two-factor authentication (TOTP) of your account."""


@two_factor.command("setup")
@click.pass_obj
def two_factor_setup(state: State) -> None:
    """A new TOTP secret: add it to your authenticator app, then `2fa enable CODE`."""
    payload = state.call("POST", "/v1/me/2fa/setup")
    if not state.as_json and sys.stdout.isatty():
        import segno  # noqa: PLC0415 - only for the terminal QR code

        segno.make(payload["otpauth_uri"]).terminal(compact=True)
    emit(state, payload, ["otpauth_uri"])


@two_factor.command("enable")
@click.argument("code")
@click.pass_obj
def two_factor_enable(state: State, code: str) -> None:
    """Turn 2FA on with a current code; prints the 10 recovery codes, once."""
    payload = state.call("POST", "/v1/me/2fa/enable", body={"code": code})
    if state.as_json:
        emit(state, payload)
    else:
        click.echo("\n".join(payload["recovery_codes"]))
        click.echo("keep these recovery codes somewhere safe: each works once, and they are not shown again", err=True)


@two_factor.command("disable")
@click.argument("code")
@click.pass_obj
def two_factor_disable(state: State, code: str) -> None:
    """Turn 2FA off (a current code or a recovery code)."""
    state.call("DELETE", "/v1/me/2fa", body={"code": code})
    emit(state, {"enabled": False}, ["enabled"])


@cli.command()
@click.option("--email", help="Log in with this account's password (else device login)")
@click.option("--password-stdin", is_flag=True, help="With --email: read the password from stdin's first line")
@click.option("--totp", help="With --email: the authenticator (or a recovery) code, when 2FA is on")
@click.option("--sso", is_flag=True, help="With --email: sign in through your org's single sign-on, in a browser")
@click.option("--sso-method", type=click.Choice(["oidc", "saml"]), help="With --sso: when the org has both")
@click.option("--no-browser", is_flag=True, help="With --sso: print the sign-in URL instead of opening it")
@click.option("--dev-user", help="Use the dev identity header against a stack with AUTH_MODE=dev")
@click.option("--token", "--with-token", "with_token", help="Store this token (e.g. for CI)")
@click.option("--approve", "approve_code", help="Approve another device's login code, as you")
@click.option("--poll-timeout", default=600, show_default=True, help="Seconds to wait for approval")
@click.option("--identity", "identity_id", help="A machine identity's ID (idn_…): sign in as it, keyless")
@click.option("--oidc-token", help="With --identity: the workload's OIDC JWT (e.g. GitHub Actions')")
@click.option(
    "--oidc-token-file",
    type=click.Path(dir_okay=False, path_type=Path),
    help="With --identity: a file holding the JWT (e.g. Kubernetes' projected service-account token)",
)
@click.option("--aws-iam", is_flag=True, help="With --identity: prove the ambient AWS role (SigV4, botocore)")
@click.option("--aws-region", help="With --aws-iam: the STS region to sign for (default: the ambient region)")
@click.pass_obj
def login(state: State, email: str | None, password_stdin: bool, totp: str | None, sso: bool,
          sso_method: str | None, no_browser: bool, dev_user: str | None, with_token: str | None,
          approve_code: str | None, poll_timeout: int, identity_id: str | None, oidc_token: str | None,
          oidc_token_file: Path | None, aws_iam: bool, aws_region: str | None) -> None:  # fmt: skip
    """Log in (device login by default; --email: with a password; --sso --email: through the org's
    single sign-on), or approve a device's code; a workload logs in as a machine identity with
    --identity and --oidc-token(-file) or --aws-iam."""
    api = state.settings.api_url
    if identity_id or oidc_token or oidc_token_file or aws_iam:
        _workload_login(state, identity_id, oidc_token, oidc_token_file, aws_iam, aws_region)
        return
    if sso:
        if not email or password_stdin or totp:
            fail("--sso takes --email (its domain finds your org's single sign-on), and no password or code", 2)
        _device_login(state, poll_timeout, sso=_sso_start(state, email, sso_method), open_browser=not no_browser)
        return
    if email:
        _password_login(state, email, password_stdin, totp)
        return
    if approve_code:
        state.user_only()
        state.settings.require_login()
        state.call("POST", "/v1/auth/device/approve", body={"user_code": approve_code})
        click.echo("approved", err=True)
        return
    if dev_user:
        where = save_login(api, {"dev_user": dev_user})
        click.echo(f"logged in to {api} as {dev_user} (dev identity; stored in {where})", err=True)
        return
    if with_token:
        state.settings.check_destination(origin="flag")  # a token from elsewhere: not to a file's URL
        where = save_login(api, {"token": with_token})
        click.echo(f"token stored for {api} ({where})", err=True)
        return
    _device_login(state, poll_timeout)


def _sso_start(state: State, email: str, method: str | None) -> str:
    """The path that starts a browser sign-in with the org whose single sign-on claims the email's
    domain (`GET /v1/sso/by-domain`), by `method` or the one it has (OIDC when it has both)."""
    import httpx  # noqa: PLC0415

    domain = email.rpartition("@")[2].strip().lower()
    if "@" not in email or not domain:
        fail("--email: give your work email address (its domain finds your org)", 2)
    state.settings.check_destination(origin="login")
    found = httpx.get(f"{state.settings.api_url}/v1/sso/by-domain", params={"domain": domain}, timeout=30.0)
    if found.status_code == 404:
        fail(f"no single sign-on is set up for {domain}")
    if found.status_code != 200:
        fail(f"single sign-on lookup failed: {_refused(found.status_code, found.json())}")
    discovered = found.json()
    methods: list[str] = discovered["methods"]
    if method is not None and method not in methods:
        fail(f"{domain} signs in with {', '.join(methods)}, not {method}", 2)
    chosen = method or ("oidc" if "oidc" in methods else methods[0])
    return f"/v1/sso/{chosen}/authorize?{urlencode({'org': discovered['org_id']})}"


def _device_login(state: State, poll_timeout: int, *, sso: str | None = None, open_browser: bool = False) -> None:
    """RFC 8628: start, show the code, poll until it is approved (or refused, or too late). With
    `sso` (the path that starts a single sign-on): the browser signs in there and lands on the
    console's device page with this code filled in, where the user approves it."""
    api = state.settings.api_url
    state.settings.check_destination(origin="login")  # the token comes back over this connection
    import httpx  # noqa: PLC0415

    anonymous = httpx.Client(base_url=api, timeout=30.0)
    started = anonymous.post("/v1/auth/device/start", json={"client_name": "strongroom-cli"})
    if started.status_code != 200:
        fail(f"device login unavailable: {started.status_code} {started.text[:200]}")
    flow = started.json()
    if sso is None:
        click.echo(f"To log in, approve code {flow['user_code']}", err=True)
        click.echo(
            f"  at {flow['verification_uri']} (signed in), or: strongroom login --approve {flow['user_code']}", err=True
        )
    click.echo(f"CODE {flow['user_code']}")  # one line a script can read
    if sso is not None:
        landing = "/device?" + urlencode({"user_code": flow["user_code"]})
        url = f"{api.rstrip('/')}{sso}&{urlencode({'return_to': landing})}"
        click.echo(
            f"Sign in with single sign-on, then approve code {flow['user_code']} on the page it opens:", err=True
        )
        click.echo(f"URL {url}")
        if open_browser:
            import webbrowser  # noqa: PLC0415

            webbrowser.open(url)
    sys.stdout.flush()
    interval = int(flow["interval"])
    deadline = time.monotonic() + min(poll_timeout, int(flow["expires_in"]))
    while time.monotonic() < deadline:
        time.sleep(interval)
        resp = anonymous.post("/v1/auth/device/token", json={"device_code": flow["device_code"]})
        if resp.status_code == 200:
            token = resp.json()["access_token"]
            where = save_login(api, {"token": token})
            click.echo(f"logged in to {api} (token stored in {where})", err=True)
            return
        code = resp.json().get("error", {}).get("code", "")
        if code == "slow_down":
            interval = int(resp.json()["error"].get("details", {}).get("interval", interval + 5))
        elif code != "authorization_pending":
            fail(f"login failed: {code or resp.status_code}")
    fail("login timed out; run `strongroom login` again")


def _workload_login(state: State, identity_id: str | None, oidc_token: str | None, oidc_token_file: Path | None,
                    aws_iam: bool, aws_region: str | None) -> None:  # fmt: skip
    """Exchange the workload's proof for a short-lived service token, and store it (with how to
    renew it, when the proof renews itself: `run` does it)."""
    from strongroom_cli import workload  # noqa: PLC0415

    proofs = sum((oidc_token is not None, oidc_token_file is not None, aws_iam))
    if not identity_id or proofs != 1:
        fail("give --identity ID and exactly one of --oidc-token, --oidc-token-file, --aws-iam", 2)
    api = state.settings.api_url
    state.settings.check_destination(origin="login")  # the token comes back over this connection
    how: dict[str, str] = {}
    try:
        if aws_iam:
            status, payload = workload.exchange(api, identity_id, aws=True, aws_region=aws_region)
            how = {"renew": "aws_iam", **({"aws_region": aws_region} if aws_region else {})}
        elif oidc_token_file is not None:
            status, payload = workload.exchange(api, identity_id, jwt=workload.read_token_file(oidc_token_file))
            how = {"renew": "oidc_token_file", "token_file": str(oidc_token_file.resolve())}
        else:
            status, payload = workload.exchange(api, identity_id, jwt=oidc_token)
    except workload.WorkloadError as exc:
        fail(str(exc), 2)
    if status != 200:
        fail(f"login as {identity_id} refused: {_refused(status, payload)}")
    where = save_login(api, workload.login_entry(identity_id, payload, how))
    click.echo(f"logged in to {api} as {identity_id} until {payload['expires_at']} ({where})", err=True)
    if state.as_json:
        emit(state, {"identity": identity_id, "expires_at": payload["expires_at"], "renewable": bool(how)})


@cli.command()
@click.pass_obj
def logout(state: State) -> None:
    """Forget the stored login for this API URL, and the values cached with it."""
    from strongroom_cli import cache  # noqa: PLC0415
    from strongroom_cli.config import load_login  # noqa: PLC0415

    login = load_login(state.settings.api_url)
    credential = login.get("token") or (f"dev:{login['dev_user']}" if login.get("dev_user") else "")
    if credential:
        cache.clear(credential=credential)
    forgotten = forget_login(state.settings.api_url)
    click.echo("logged out" if forgotten else "was not logged in", err=True)


@cli.command()
@click.pass_obj
def whoami(state: State) -> None:
    """Who the API sees: a user, or a service token and its environment."""
    state.settings.require_login()
    if state.settings.is_service_token:
        emit(state, state.call("GET", "/runtime/v1"), ["token_id", "environment", "permissions", "expires_at"])
    else:
        emit(state, state.call("GET", "/v1/me"), ["id", "email", "name"])


@cli.command()
@click.option("--org", "org_ref", required=True)
@click.option("--project", "project_ref", required=True)
@click.option("--env", "env_ref", required=True)
def setup(org_ref: str, project_ref: str, env_ref: str) -> None:
    """Write .strongroom.toml here: this directory's org, project and environment."""
    write_project_file(str(Path.cwd() / PROJECT_FILE), {"org": org_ref, "project": project_ref, "env": env_ref})
    click.echo(f"wrote {PROJECT_FILE}", err=True)


# --------------------------------------------------------------------------- orgs, projects, envs


@cli.group()
def orgs() -> None:
    """Organizations."""


@orgs.command("list")
@click.pass_obj
def orgs_list(state: State) -> None:
    state.user_only()
    emit(state, state.call("GET", "/v1/orgs")["data"], ["id", "slug", "name", "role"])


@orgs.command("create")
@click.argument("name")
@click.option("--slug")
@click.pass_obj
def orgs_create(state: State, name: str, slug: str | None) -> None:
    state.user_only()
    body = {"name": name, **({"slug": slug} if slug else {})}
    emit(state, state.call("POST", "/v1/orgs", body=body), ["id", "slug", "name", "role"])


@cli.group()
def projects() -> None:
    """Projects of the org (--org)."""


def _org(state: State) -> str:
    state.user_only()
    if not state.settings.org:
        fail("which org? pass --org, set STRONGROOM_ORG, or run `strongroom setup`", 2)
    return state.settings.org


@projects.command("list")
@click.pass_obj
def projects_list(state: State) -> None:
    emit(state, state.call("GET", f"/v1/orgs/{_org(state)}/projects")["data"], ["id", "slug", "name"])


@projects.command("create")
@click.argument("name")
@click.option("--slug")
@click.pass_obj
def projects_create(state: State, name: str, slug: str | None) -> None:
    body = {"name": name, **({"slug": slug} if slug else {})}
    emit(state, state.call("POST", f"/v1/orgs/{_org(state)}/projects", body=body), ["id", "slug", "name"])


@cli.group()
def members() -> None:
    """Members of the org (--org) and their invitations."""


_MEMBER = ["user_id", "email", "name", "role", "joined_at"]


@members.command("invite")
@click.argument("email")
@click.option("--role", required=True, help="owner, admin, developer, viewer or a custom role's slug")
@click.pass_obj
def members_invite(state: State, email: str, role: str) -> None:
    """Invite EMAIL: the invitation's token is shown once, to send to them."""
    invited = state.call("POST", f"/v1/orgs/{_org(state)}/invitations", body={"email": email, "role": role})
    emit(state, invited, ["id", "email", "role", "expires_at", "token"])


@members.command("set-role")
@click.argument("user_id")
@click.argument("role")
@click.pass_obj
def members_role(state: State, user_id: str, role: str) -> None:
    """Give the member USER_ID (usr_…) the role ROLE."""
    emit(state, state.call("PATCH", f"/v1/orgs/{_org(state)}/members/{user_id}", body={"role": role}), _MEMBER)


def _org_path(what: str) -> Callable[[State], str]:
    return lambda state: f"/v1/orgs/{_org(state)}/{what}"


resource_commands(members, _org_path("members"), _MEMBER, noun="member", show=False, remove="remove",
                  remove_help="their access ends now")  # fmt: skip


@cli.group()
def roles() -> None:
    """Custom roles of the org (--org)."""


_ROLE = ["id", "slug", "name", "permissions"]


def _grants(pairs: tuple[str, ...]) -> dict[str, str]:
    out: dict[str, str] = {}
    for pair in pairs:
        permission, sep, scope = pair.partition("=")
        if not sep or not permission or not scope:
            fail(f"--permission takes PERMISSION=SCOPE (e.g. secrets.read=non_production), not {pair!r}", 2)
        out[permission] = scope
    return out


@roles.command("create")
@click.argument("name")
@click.option("--slug")
@click.option("--description", default="")
@click.option(
    "--permission",
    "pairs",
    multiple=True,
    metavar="PERM=SCOPE",
    help="Repeated; SCOPE: all, non_production, development",
)
@click.pass_obj
def roles_create(state: State, name: str, slug: str | None, description: str, pairs: tuple[str, ...]) -> None:
    body = {"name": name, "description": description, "permissions": _grants(pairs), **({"slug": slug} if slug else {})}
    emit(state, state.call("POST", f"/v1/orgs/{_org(state)}/roles", body=body), _ROLE)


resource_commands(roles, _org_path("roles"), _ROLE, noun="custom role", paginated=False,
                  remove_help="refused while a member or a pending invitation holds it")  # fmt: skip


@cli.group()
def identities() -> None:
    """Machine identities of the org (--org): workloads that sign in keyless (`login --identity`)."""


_IDENTITY = ["id", "name", "type", "environment_id", "permissions", "ttl_seconds", "rules"]


def _claims(pairs: tuple[str, ...]) -> dict[str, str]:
    out: dict[str, str] = {}
    for pair in pairs:
        claim, sep, pattern = pair.partition("=")
        if not sep or not claim or not pattern:
            fail(f"--claim takes CLAIM=PATTERN (e.g. sub=repo:acme/web:ref:refs/heads/main), not {pair!r}", 2)
        out[claim] = pattern
    return out


resource_commands(identities, _org_path("identities"), _IDENTITY, noun="machine identity",
                  remove_help="the tokens issued to it stop working now")  # fmt: skip


@identities.command("create")
@click.argument("name")
@click.option("--type", "kind", type=click.Choice(["oidc", "aws_iam"]), required=True)
@click.option("--permission", "permissions", multiple=True, type=click.Choice(["read", "write"]), default=["read"])
@click.option("--ttl", "ttl_seconds", type=click.IntRange(5, 3600), default=900, show_default=True)
@click.option("--issuer", help="oidc: the issuer URL (the tokens' iss)")
@click.option("--audience", help="oidc: the tokens' aud")
@click.option("--claim", "claims", multiple=True, metavar="CLAIM=PATTERN", help="oidc, repeated; `*` is a wildcard")
@click.option("--account", help="aws_iam: the 12-digit account ID")
@click.option("--role-arn", help="aws_iam: arn:aws:iam::<account>:role/<name>; `*` is a wildcard")
@click.pass_obj
def identities_create(state: State, name: str, kind: str, permissions: tuple[str, ...], ttl_seconds: int,
                      issuer: str | None, audience: str | None, claims: tuple[str, ...], account: str | None,
                      role_arn: str | None) -> None:  # fmt: skip
    """An identity for the environment (--project, --env) whose workloads get PERMISSION tokens."""
    org = _org(state)
    if not state.settings.project or not state.settings.env:
        fail("which environment? pass --project and --env (or run `strongroom setup`)", 2)
    given = {"issuer": issuer, "audience": audience, "account": account, "role_arn": role_arn}
    rules: dict[str, Any] = {k: v for k, v in given.items() if v is not None}
    if claims:
        rules["claims"] = _claims(claims)
    body = {
        "name": name,
        "type": kind,
        "project": state.settings.project,
        "environment": state.settings.env,
        "permissions": list(permissions),
        "ttl_seconds": ttl_seconds,
        "rules": rules,
    }
    emit(state, state.call("POST", f"/v1/orgs/{org}/identities", body=body), _IDENTITY)


@cli.group()
def sso() -> None:
    """Single sign-on of the org (--org; owners)."""


@sso.group("oidc")
def sso_oidc() -> None:
    """OpenID Connect: the org's issuer, client, email domains and first sign-in role."""


_OIDC = ["issuer", "client_id", "domains", "default_role", "redirect_uri", "updated_at"]


@sso_oidc.command("set")
@click.option("--issuer", required=True, help="The issuer URL (its /.well-known/openid-configuration)")
@click.option("--client-id", required=True)
@click.option("--domain", "domains", multiple=True, required=True, help="Repeated: the email domains it takes")
@click.option("--default-role", required=True, help="The role of a first sign-in (not owner)")
@click.option("--client-secret-stdin", is_flag=True, help="Read the client secret from stdin's first line")
@click.pass_obj
def sso_oidc_set(
    state: State, issuer: str, client_id: str, domains: tuple[str, ...], default_role: str, client_secret_stdin: bool
) -> None:
    """Create or replace the configuration; the client secret is asked (hidden), never an argument.
    Register the answer's redirect_uri at the issuer."""
    if client_secret_stdin:
        secret = sys.stdin.readline().rstrip("\r\n")
    else:
        secret = click.prompt("Client secret", hide_input=True, err=True)
    if not secret:
        fail("no client secret given", 2)
    body = {
        "issuer": issuer,
        "client_id": client_id,
        "client_secret": secret,
        "domains": list(domains),
        "default_role": default_role,
    }
    emit(state, state.call("PUT", f"/v1/orgs/{_org(state)}/sso/oidc", body=body), _OIDC)


@sso_oidc.command("show")
@click.pass_obj
def sso_oidc_show(state: State) -> None:
    """The configuration (its client secret is never shown)."""
    emit(state, state.call("GET", f"/v1/orgs/{_org(state)}/sso/oidc"), _OIDC)


@sso_oidc.command("delete")
@click.pass_obj
def sso_oidc_delete(state: State) -> None:
    """Remove it: its domains sign in no more (members stay)."""
    state.call("DELETE", f"/v1/orgs/{_org(state)}/sso/oidc")
    emit(state, {"method": "oidc", "deleted": True}, ["method", "deleted"])


@cli.group()
def scim() -> None:
    """SCIM provisioning of the org (--org; admins): its identity provider's tokens for /scim/v2."""


@scim.group("tokens")
def scim_tokens() -> None:
    """SCIM tokens (sr_scim_…): the identity provider sends one as `Authorization: Bearer`."""


_SCIM_TOKEN = ["id", "name", "created_at", "created_by", "last_used_at"]


@scim_tokens.command("create")
@click.argument("name")
@click.pass_obj
def scim_tokens_create(state: State, name: str) -> None:
    """Mint one; its `token` is shown this once (give it to the identity provider with the URL
    <API>/scim/v2)."""
    emit(state, state.call("POST", f"/v1/orgs/{_org(state)}/scim/tokens", body={"name": name}), [*_SCIM_TOKEN, "token"])


resource_commands(scim_tokens, _org_path("scim/tokens"), _SCIM_TOKEN, noun="SCIM token", show=False, remove="revoke",
                  paginated=False, remove_help="the identity provider's next request with it is 401")  # fmt: skip


@cli.group()
def envs() -> None:
    """Environments of the project (--project)."""


def _project_path(state: State) -> str:
    if not state.settings.project:
        fail("which project? pass --project, set STRONGROOM_PROJECT, or run `strongroom setup`", 2)
    return f"/v1/orgs/{_org(state)}/projects/{state.settings.project}"


@envs.command("list")
@click.pass_obj
def envs_list(state: State) -> None:
    data = state.call("GET", f"{_project_path(state)}/environments")["data"]
    emit(state, data, ["id", "slug", "name", "production", "parent_id"])


@envs.command("create")
@click.argument("name")
@click.option("--slug")
@click.option("--parent")
@click.option("--production", is_flag=True)
@click.option(
    "--client-encrypted", is_flag=True, help="End-to-end: values encrypted here, under a key the server never holds"
)
@click.pass_obj
def envs_create(
    state: State, name: str, slug: str | None, parent: str | None, production: bool, client_encrypted: bool
) -> None:
    body: dict[str, Any] = {"name": name, "production": production}
    body |= {k: v for k, v in (("slug", slug), ("parent", parent)) if v}
    path = f"{_project_path(state)}/environments"
    if client_encrypted:
        from strongroom_cli import e2e_commands  # noqa: PLC0415

        emit(state, e2e_commands.create_client_environment(state, path, body), ["id", "slug", "name", "encryption"])
        return
    emit(state, state.call("POST", path, body=body), ["id", "slug", "name"])


# --------------------------------------------------------------------------- secrets


@cli.group()
def secrets() -> None:
    """Secrets of the environment (--org, --project, --env or .strongroom.toml); --path names a
    folder of it (`/backend/db`; default `/`, the root)."""


FOLDER = re.compile(r"^(?:/|(?:/[A-Za-z0-9_-][A-Za-z0-9_.-]{0,63}){1,10})$")


def _set_folder(ctx: click.Context, _param: click.Parameter, value: str | None) -> None:
    if value is None:
        return
    if len(value) > 255 or not FOLDER.match(value):
        fail(f"--path {value!r} is not a folder path (/seg/seg…, no . or .., no trailing /)", 2)
    ctx.find_object(State).settings.folder = value  # type: ignore[union-attr]


def _set_recursive(ctx: click.Context, _param: click.Parameter, value: bool) -> None:
    if value:
        ctx.find_object(State).settings.recursive = True  # type: ignore[union-attr]


def folder_option(*, recursive: bool = False) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """--path FOLDER (and --recursive) on a command working in one folder of the environment."""

    def decorate(f: Callable[..., Any]) -> Callable[..., Any]:
        f = click.option(
            "--path", "folder", expose_value=False, callback=_set_folder, metavar="/FOLDER",
            help="A folder of the environment (`/backend/db`; default: its root)",
        )(f)  # fmt: skip
        if recursive:
            f = click.option(
                "--recursive", is_flag=True, expose_value=False, callback=_set_recursive,
                help="With its subfolders (an export flattens them into keys, the nearest winning)",
            )(f)  # fmt: skip
        return f

    return decorate


def _q(state: State, query: str = "") -> str:
    """`query` with the folder's parameters, as `?…` (or "" when there is nothing to add)."""
    joined = (query + state.settings.folder_query()).lstrip("&")
    return f"?{joined}" if joined else ""


@secrets.command("list")
@click.option("--values/--no-values", default=False, help="Show values (default: names only)")
@click.option("--prefix", default="")
@folder_option(recursive=True)
@click.pass_obj
def secrets_list(state: State, values: bool, prefix: str) -> None:
    opened = _client_key(state) if values else None
    if state.settings.is_service_token:  # the token's environment, resolved, from the runtime API
        pulled = state.call("GET", f"/runtime/v1/secrets{_q(state, 'format=json')}")["secrets"]
        listed = [{"key": k, "value": _plain(opened, k, v)} for k, v in sorted(pulled.items()) if k.startswith(prefix)]
        emit(state, [r if values else {"key": r["key"]} for r in listed], ["key", *(["value"] if values else [])])
        return
    rows: list[dict[str, Any]] = []
    cursor = None
    while True:
        query = _q(state, f"limit=500&values={'true' if values else 'false'}&prefix={prefix}")
        page = state.call("GET", f"{state.env_path()}/secrets{query}{f'&cursor={cursor}' if cursor else ''}")
        rows += page["data"]
        cursor = page.get("next_cursor")
        if not cursor:
            break
    if opened is not None:
        rows = [{**r, "value": opened.decrypt(r["key"], r["value"])} for r in rows]
    folder = ["path"] if state.settings.recursive else []
    emit(state, rows, [*folder, "key", *(["value"] if values else []), "version", "source", "updated_at"])


def _client_key(state: State) -> Any:
    """The environment's data key when it is client-encrypted (strongroom_cli.e2e_commands), else None."""

    return e2e_commands.opened_if_client(state)


def _plain(opened: Any, key: str, value: str) -> str:
    return value if opened is None else str(opened.decrypt(key, value))


@secrets.command("get")
@click.argument("keys", nargs=-1, required=True, metavar="KEY...")
@click.option("--version", type=int, help="With one KEY: that version")
@click.option("--raw", is_flag=True, help="References unexpanded")
@folder_option()
@click.pass_obj
def secrets_get(state: State, keys: tuple[str, ...], version: int | None, raw: bool) -> None:
    """One KEY's value (verbatim), or several KEYs' as `key value` rows (--json: a list)."""
    if version is not None and len(keys) > 1:
        fail("--version takes one KEY", 2)
    got = [_secret(state, key, version, raw) for key in keys]
    if state.output:
        emit(state, got[0] if len(got) == 1 else got, ["key", "value"])
    elif len(got) == 1:
        click.echo(got[0]["value"])
    else:
        emit(state, [{"key": g["key"], "value": g["value"]} for g in got], ["key", "value"])


def _secret(state: State, key: str, version: int | None, raw: bool) -> dict[str, Any]:
    if not SECRET_KEY.match(key):
        fail(f"{key!r} is not a secret name", 2)
    if state.settings.is_service_token and version is None and not raw:
        opened = _client_key(state)
        secret: dict[str, Any] = state.call("GET", f"/runtime/v1/secrets/{key}{_q(state)}")
        secret["value"] = _plain(opened, key, secret["value"])
        return secret
    opened = None if raw else _client_key(state)
    query = "&".join(q for q in (f"version={version}" if version else "", "resolve=false" if raw else "") if q)
    secret = state.call("GET", f"{state.env_path()}/secrets/{key}{_q(state, query)}")
    secret["value"] = _plain(opened, key, secret["value"])
    return secret


def _assignments(args: tuple[str, ...]) -> dict[str, str | None]:
    """`KEY=VALUE …`, or `KEY [VALUE]` as before (None: the value is still to be read)."""
    if len(args) <= 2 and "=" not in args[0]:
        return {args[0]: args[1] if len(args) == 2 else None}
    pairs: dict[str, str | None] = {}
    for arg in args:
        key, sep, value = arg.partition("=")
        if not sep:
            fail(f"{arg!r}: give KEY=VALUE pairs (or one KEY [VALUE])", 2)
        pairs[key] = value
    return pairs


def _value_of(key: str, given: str | None, *, from_stdin: bool) -> str:
    """The value given, else standard input's (off a terminal, or --stdin), else a hidden prompt."""
    if given is not None:
        return given
    if from_stdin or not sys.stdin.isatty():
        return sys.stdin.read()
    return str(click.prompt(f"value for {key} (hidden)", hide_input=True, err=True))


@secrets.command("set")
@click.argument("args", nargs=-1, metavar="KEY=VALUE... | KEY [VALUE]")
@click.option(
    "--delete",
    "deletions",
    multiple=True,
    metavar="KEY",
    help="Repeated (or comma-separated): delete in the same change",
)
@click.option("--stdin", "from_stdin", is_flag=True, help="Read the value from standard input (default off a terminal)")
@click.option("--comment", default="")
@folder_option()
@click.pass_obj
def secrets_set(state: State, args: tuple[str, ...], deletions: tuple[str, ...], from_stdin: bool,
                comment: str) -> None:  # fmt: skip
    """Set KEY, or several KEY=VALUE pairs and --delete OLD as one atomic change. Without VALUE
    (which lands in shell history), the value is asked for with hidden input on a terminal, and
    read from standard input, verbatim, otherwise."""
    delete = [k.strip() for d in deletions for k in d.split(",") if k.strip()]
    if not args and not delete:
        fail("give KEY [VALUE], KEY=VALUE pairs, or --delete KEY", 2)
    pairs = _assignments(args) if args else {}
    for key in [*pairs, *delete]:
        if not SECRET_KEY.match(key):
            fail(f"{key!r} is not a secret name", 2)
    if from_stdin and (len(pairs) != 1 or None not in pairs.values()):
        fail("--stdin reads the value of one KEY given without a value", 2)
    values = {key: _value_of(key, given, from_stdin=from_stdin) for key, given in pairs.items()}
    opened = _client_key(state)
    if opened is not None:  # a client-encrypted environment: the server gets the ciphertext only
        values = {k: opened.encrypt(k, v) for k, v in values.items()}
    if len(values) == 1 and not delete:
        ((key, value),) = values.items()
        written = state.call(
            "PUT",
            f"{state.env_path()}/secrets/{key}{_q(state)}",
            body={"value": value, "comment": comment},
            ok=(200, 202),
        )
        columns = ["key", "version", "updated_at"]
    else:
        body = {"set": values, "delete": delete, **({"comment": comment} if comment else {})}
        written = state.call("PATCH", f"{state.env_path()}/secrets{_q(state)}", body=body, ok=(200, 202))
        columns = ["key", "action", "version"]
    if "change_request" in written:  # a protected environment: held for approval (governance_commands.py)
        emit(state, written["change_request"], ["id", "status"], title="change request opened")
        return
    emit(state, written.get("changes", written), columns)


@secrets.command("delete")
@click.argument("key")
@click.option("--yes", is_flag=True, help="Do not ask (needed without a terminal)")
@folder_option()
@click.pass_obj
def secrets_delete(state: State, key: str, yes: bool) -> None:
    """Delete KEY (its history stays): asks first on a terminal; --yes without one."""
    path = f"{state.env_path()}/secrets/{key}{_q(state)}"
    confirm(yes, "delete removes a secret", f"delete {key} from {state.settings.env}?")
    state.call("DELETE", path)
    emit(state, {"key": key, "deleted": True}, ["key", "deleted"])


@secrets.command("versions")
@click.argument("key")
@folder_option()
@click.pass_obj
def secrets_versions(state: State, key: str) -> None:
    data = state.call("GET", f"{state.env_path()}/secrets/{key}/versions{_q(state)}")["data"]
    emit(state, data, ["version", "action", "comment", "created_at", "created_by"])


@secrets.command("rollback")
@click.argument("key")
@click.argument("version", type=int)
@folder_option()
@click.pass_obj
def secrets_rollback(state: State, key: str, version: int) -> None:
    written = state.call("POST", f"{state.env_path()}/secrets/{key}/rollback{_q(state)}", body={"version": version})
    emit(state, written, ["key", "version", "updated_at"])


@secrets.command("export")
@click.option(
    "--format", "fmt", type=click.Choice(["dotenv", "json", "yaml", "shell", "docker", "k8s"]), default="dotenv"
)
@folder_option(recursive=True)
@click.pass_obj
def secrets_export(state: State, fmt: str) -> None:
    """The values as a file: docker (`--env-file`, unquoted) and k8s (a Secret manifest) are made
    here, and every format of a client-encrypted environment (decrypted here)."""
    opened = _client_key(state)
    if opened is not None:  # a client-encrypted environment: decrypted and rendered here
        from strongroom_cli import e2e_commands  # noqa: PLC0415

        click.echo(e2e_commands.export_here(opened, state, fmt), nl=False)
        return
    if fmt in {"docker", "k8s"}:
        _export_here(state, fmt)
        return
    if state.settings.is_service_token and fmt in RUNTIME_FORMATS:
        text = state.call("GET", f"/runtime/v1/secrets{_q(state, f'format={fmt}')}")
        if isinstance(text, dict):
            text = text["secrets"]  # the runtime API wraps them as {secrets, version}
        click.echo(json.dumps(text, indent=2, ensure_ascii=False) if isinstance(text, dict) else text, nl=False)
        return
    text = state.call("GET", f"{state.env_path()}/export{_q(state, f'format={fmt}')}")
    click.echo(json.dumps(text, indent=2, ensure_ascii=False) if isinstance(text, dict) else text, nl=False)


def _export_here(state: State, fmt: str) -> None:
    from strongroom_cli import formats  # noqa: PLC0415

    if state.settings.is_service_token:
        resp = state.request("GET", f"/runtime/v1/secrets{_q(state, 'format=json')}")
        values = resp.json()["secrets"]
    else:
        resp = state.request("GET", f"{state.env_path()}/export{_q(state, 'format=json')}")
        values = resp.json()
    etag = resp.headers.get("etag", "").removeprefix("W/").strip('"')
    name = "-".join(p for p in (state.settings.project, state.settings.env) if p) or "strongroom"
    try:
        click.echo(formats.values_text(values, fmt, name=name.lower(), etag=etag), nl=False)
    except formats.Unrepresentable as exc:
        fail(str(exc), 2)


@secrets.command("import")
@click.argument("file", type=click.File("r", encoding="utf-8"))
@click.option("--format", "fmt", type=click.Choice(["dotenv", "json"]), default=None, help="Default: by extension")
@click.option("--overwrite", is_flag=True, help="Replace the values of keys that exist")
@folder_option()
@click.pass_obj
def secrets_import(state: State, file: Any, fmt: str | None, overwrite: bool) -> None:
    """Import a dotenv or JSON file as one atomic change (every key or none; up to 1 MiB)."""
    content = file.read()
    fmt = fmt or ("json" if str(getattr(file, "name", "")).endswith(".json") else "dotenv")
    opened = _client_key(state)
    if opened is not None:  # a client-encrypted environment: parsed and encrypted here
        from strongroom_cli import e2e_commands  # noqa: PLC0415

        counts = e2e_commands.import_here(opened, state, content, fmt, overwrite=overwrite)
        emit(state, counts, ["created", "updated", "unchanged"])
        return
    counts = state.call(
        "POST",
        f"{state.env_path()}/import{_q(state)}",
        body={"format": fmt, "content": content, "overwrite": overwrite},
    )
    emit(state, {k: counts[k] for k in ("created", "updated", "unchanged")}, ["created", "updated", "unchanged"])


# --------------------------------------------------------------------------- diff / promote


def _promoted(state: State) -> list[str]:
    return ["path", "key", "action"] if state.settings.folder else ["key", "action"]


def _promote_call(state: State, source: str, target: str, keys: str | None, *, dry_run: bool) -> Any:
    body: dict[str, Any] = {"from": source, "to": target, "dry_run": dry_run}
    if state.settings.folder:  # one folder (and its subfolders with --recursive); else every folder
        body.update(path=state.settings.folder, recursive=state.settings.recursive)
    if keys:
        body["keys"] = [k.strip() for k in keys.split(",") if k.strip()]
    return state.call("POST", f"{_project_path(state)}/promote", body=body)


@cli.command()
@click.argument("source")
@click.argument("target", required=False)
@click.option(
    "--from-file",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Compare this dotenv file's keys (e.g. .env.example) with the environment SOURCE's",
)
@click.option("--exit-code", is_flag=True, help="Exit 1 when there is a difference (CI)")
@click.pass_obj
def diff(state: State, source: str, target: str | None, from_file: Path | None, exit_code: bool) -> None:
    """What promoting SOURCE to TARGET would change (keys only, never values); with --from-file
    FILE, the keys FILE names that the environment SOURCE lacks (missing) or it has beyond them (extra)."""
    if from_file is not None:
        _diff_file(state, from_file, source, target, exit_code=exit_code)
        return
    if target is None:
        fail("diff SOURCE TARGET, or diff --from-file FILE ENV", 2)
    result = _promote_call(state, source, target, None, dry_run=True)
    emit(state, result["changes"], ["key", "action"], title=f"{source} → {target}")
    if exit_code and any(c["action"] != "unchanged" for c in result["changes"]):
        sys.exit(1)


def _diff_file(state: State, file: Path, env: str, extra: str | None, *, exit_code: bool) -> None:
    from strongroom_cli import gates  # noqa: PLC0415

    if extra is not None:
        fail("diff --from-file FILE ENV takes one environment", 2)
    try:
        file_keys = gates.dotenv_keys(file.read_text(encoding="utf-8"))
    except (OSError, UnicodeError, ValueError) as exc:
        fail(f"--from-file {file}: {getattr(exc, 'strerror', None) or exc}", 2)
    if state.settings.is_service_token:  # its own environment, whatever ENV says
        env_keys = list(state.call("GET", "/runtime/v1/secrets?format=json")["secrets"])
    else:
        path = f"{_project_path(state)}/environments/{quote(env, safe='')}/secrets?values=false"
        env_keys = [row["key"] for row in state.pages(path)]
    changes = gates.key_diff(file_keys, env_keys)
    emit(state, changes, ["key", "action"], title=f"{file.name} → {env}")
    if exit_code and any(c["action"] != "present" for c in changes):
        sys.exit(1)


@cli.command()
@click.argument("source")
@click.argument("target")
@click.option("--keys", help="Comma-separated keys (default: all of SOURCE)")
@click.option("--dry-run", is_flag=True)
@click.option("--yes", is_flag=True, help="Do not ask")
@folder_option(recursive=True)
@click.pass_obj
def promote(state: State, source: str, target: str, keys: str | None, dry_run: bool, yes: bool) -> None:
    """Copy SOURCE's values to TARGET (one atomic change), after showing the diff."""
    plan = _promote_call(state, source, target, keys, dry_run=True)
    changing = [c for c in plan["changes"] if c["action"] != "unchanged"]
    if dry_run or not changing:
        emit(state, plan["changes"], _promoted(state))
        return
    if not yes and not state.as_json:
        if not sys.stdin.isatty():
            fail("promote changes values: pass --yes to confirm without a terminal", 2)
        emit(state, changing, _promoted(state), title=f"{source} → {target}")
        click.confirm(f"apply {len(changing)} change(s) to {target}?", abort=True)
    result = _promote_call(state, source, target, keys, dry_run=False)
    emit(state, result["changes"], _promoted(state))


# --------------------------------------------------------------------------- audit


@cli.group()
def audit() -> None:
    """The org's audit log (admin)."""


@audit.command("export")
@click.option("--format", "fmt", type=click.Choice(["csv", "json"]), default="json")
@click.option("--action", help="Exact, or a prefix ending in '.'")
@click.option("--since")
@click.option("--until")
@click.pass_obj
def audit_export(state: State, fmt: str, action: str | None, since: str | None, until: str | None) -> None:
    """Every matching event, oldest first, following the export's cursors page by page."""
    query = {k: v for k, v in (("format", fmt), ("action", action), ("since", since), ("until", until)) if v}
    cursor: str | None = None
    first = True
    events: list[Any] = []
    while True:
        params = {**query, **({"cursor": cursor} if cursor else {})}
        try:
            resp = state.client.get(f"/v1/orgs/{_org(state)}/audit/export", params=params)
        except _http_error() as exc:
            fail(f"cannot reach {state.settings.api_url}: {exc}")
        if resp.status_code != 200:
            fail(f"{resp.status_code}: {resp.text[:200]}")
        if fmt == "json":
            events += resp.json()
        else:
            text = resp.text if first else resp.text.split("\n", 1)[1]  # one header line in all
            click.echo(text, nl=False)
        first = False
        cursor = resp.headers.get("x-next-cursor")
        if not cursor:
            break
    if fmt == "json":
        click.echo(json.dumps(events, indent=2 if sys.stdout.isatty() else None))


REFUSALS = (200, 400, 404, 409, 422)  # answers `audit verify` judges itself instead of stopping


class AuditLog:
    """The org's audit routes for `transparency.verify` (answers are checked there, not here)."""

    def __init__(self, state: State, org: str) -> None:
        self.state = state
        self.path = f"/v1/orgs/{org}/audit"

    def head(self) -> Any:
        return self.state.call("GET", f"{self.path}/tree-head")

    def public_key(self) -> Any:
        return self.state.call("GET", f"{self.path}/public-key")

    def leaves(self, start: int, limit: int) -> Any:
        return self.state.call("GET", f"{self.path}/leaves?start={start}&limit={limit}")

    def event(self, event_id: str) -> Any:
        return self.state.call("GET", f"{self.path}/events/{quote(event_id, safe='')}")

    def proof(self, event_id: str, tree_size: int) -> Any:
        path = f"{self.path}/events/{quote(event_id, safe='')}/proof?tree_size={tree_size}"
        return self.state.call("GET", path, ok=REFUSALS)  # a refused proof proves nothing: verify says so

    def consistency(self, first: int, second: int) -> Any:
        path = f"{self.path}/consistency?first={first}&second={second}"
        return self.state.call("GET", path, ok=REFUSALS)


def _pinned_key(file: Path | None) -> str | None:
    if file is None:
        return None
    from strongroom_cli import transparency  # noqa: PLC0415

    try:
        pem = file.read_text(encoding="utf-8")
        transparency.public_key(pem)
    except (OSError, UnicodeError, transparency.Malformed) as exc:
        fail(f"--public-key {file}: {exc}", 2)
    return pem


@audit.command("verify")
@click.option("--event", "event_id", help="Check only this event's inclusion proof against the signed tree head")
@click.option(
    "--public-key",
    "key_file",
    type=click.Path(dir_okay=False, path_type=Path),
    help="The org's public key (PEM) to trust, instead of the one this CLI saw first",
)
@click.pass_obj
def audit_verify(state: State, event_id: str | None, key_file: Path | None) -> None:
    """Verify the org's audit log here, trusting only its public key: the tree head's signature,
    every leaf against the signed root (or one event's inclusion proof), and that the log extends
    the head this CLI verified last time."""
    from strongroom_cli import transparency  # noqa: PLC0415 - cryptography and rfc8785 only here

    state.user_only()
    org, api_url = _org(state), state.settings.api_url
    trust = transparency.remembered(api_url, org)
    verdict, key = transparency.verify(
        AuditLog(state, org),
        pinned_key=_pinned_key(key_file),
        remembered_key=trust.get("public_key"),
        remembered_head=trust.get("head"),
        event_id=event_id,
    )
    if verdict.ok and verdict.head is not None:
        transparency.remember(api_url, org, key=None if key_file else key, head=verdict.head)
    emit(state, verdict.output(), ["ok", "tree_size", "root_hash", "checked", "key_id", "reason"])
    if not verdict.ok:
        sys.exit(1)


# The rest of the API's commands (tokens, invitations, webhooks, template, validate, encryption,
# restore, audit search|tail) register themselves on `cli`.
import strongroom_cli.api_commands  # noqa: E402
import strongroom_cli.platform_commands  # noqa: E402

# Single sign-on with SAML (`sso saml …`) and `sso oidc remove` register themselves on `sso`.
import strongroom_cli.sso_commands  # noqa: E402, F401

# The end-to-end commands (keys, grant, grants, rekey) and governance's (request, requests,
# changes) register themselves on `cli`.
# Folders of an environment (`folders list|create|move|delete`) register themselves on `cli`.
from strongroom_cli import (  # noqa: E402, F401
    e2e_commands,
    folder_commands,
    governance_commands,
)

# `cache clear`, `configure` (profiles, `configure debug`) and `render` (templates filled from the
# environment's values) register themselves on `cli`.
from strongroom_cli import offline_commands as _offline_commands  # noqa: E402, F401
from strongroom_cli import profile_commands as _profile_commands  # noqa: E402, F401
from strongroom_cli import render as _render  # noqa: E402, F401

# isort: split
# The agents' commands (agents, jobs, discovered, wraps, agent run) register themselves on `cli`.
from strongroom_cli import agent_commands  # noqa: E402, F401

# isort: split
# `rotation show|set|remove|rotate` registers itself on `cli`.
from strongroom_cli import rotation_commands  # noqa: E402, F401

# isort: split
# The org's shared secrets (`shared list|get|set|delete|versions`) register themselves on `cli`.
from strongroom_cli import shared_commands  # noqa: E402, F401

# isort: split
# The integrations' commands (integrations list|create|show|status|sync|delete) register themselves on `cli`.
from strongroom_cli import integration_commands  # noqa: E402, F401
