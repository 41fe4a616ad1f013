"""The web console in a real browser: Debian's Chromium driven by Playwright (`make chromium`
installs it), against the local server over a socket, as a user sees it. Elements are found by
their accessible names (labels, button and link names, roles), which is the console's test
interface (docs/design.md, "Console").

One browser per test process (module-scoped: `--dist loadfile` keeps this file on one worker); a
fresh context, so fresh cookies, per test. Every test fails on a script error or a console error,
except the browser's own log line for a request the test makes fail on purpose (`refusals`).

`CONSOLE_SCREENSHOTS=docs/console` saves the screenshots the README shows while the tests run.
"""

from __future__ import annotations

import os
import re
import secrets
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyotp
import pytest
from playwright.sync_api import (
    Browser,
    BrowserContext,
    ConsoleMessage,
    Page,
    Playwright,
    Route,
    expect,
    sync_playwright,
)

from strongroom_local import LocalStack
from support import SAML_CERT, seal, unique_email

pytestmark = pytest.mark.http

Api = Callable[..., tuple[int, dict[str, str], Any]]
CHROMIUM = "/usr/bin/chromium"
PASSWORD = "plover-quartz-umbrella-9"
SCREENSHOTS = os.environ.get("CONSOLE_SCREENSHOTS", "")
# The routes of the console function (template.yaml's ConsoleFunction events) and a file it serves.
CONSOLE_PAGES = ["/", "/device", "/verify-email", "/reset-password"]
CONSOLE_ASSETS = ["/console/app.js", "/console/console.css", "/console/pico.min.css", "/console/favicon.svg"]
_REFUSED = re.compile(r"^Failed to load resource: the server responded with a status of (\d{3})")


# --------------------------------------------------------------------------- the browser


@pytest.fixture(scope="module")
def playwright() -> Iterator[Playwright]:
    with sync_playwright() as p:
        yield p


@pytest.fixture(scope="module")
def browser(playwright: Playwright) -> Iterator[Browser]:
    assert Path(CHROMIUM).exists(), f"{CHROMIUM} is missing: `make chromium` installs Debian's chromium"
    browser = playwright.chromium.launch(executable_path=CHROMIUM)
    yield browser
    browser.close()


@dataclass
class Console:
    """What the page said: console messages and script errors; the refusals a test expects."""

    messages: list[ConsoleMessage] = field(default_factory=list)
    page_errors: list[str] = field(default_factory=list)
    refusals: set[tuple[int, str]] = field(default_factory=set)  # (status, path) the test makes fail

    def unexpected(self) -> list[str]:
        out = list(self.page_errors)
        for message in self.messages:
            if message.type not in {"error", "warning"}:
                continue
            refused = _REFUSED.match(message.text)
            path = "/" + message.location.get("url", "").split("/", 3)[-1].split("?")[0]
            if refused and (int(refused.group(1)), path) in self.refusals:
                continue
            out.append(f"{message.type}: {message.text} ({message.location.get('url', '')})")
        return out


@dataclass
class Person:
    email: str
    token: str

    @property
    def bearer(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


@pytest.fixture
def console() -> Console:
    return Console()


@pytest.fixture
def context(browser: Browser, console: Console) -> Iterator[BrowserContext]:
    ctx = browser.new_context(viewport={"width": 1200, "height": 860})
    yield ctx
    ctx.close()
    assert console.unexpected() == []


@pytest.fixture
def page(context: BrowserContext, console: Console) -> Page:
    page = context.new_page()
    page.set_default_timeout(10_000)

    def record(message: ConsoleMessage) -> None:  # Playwright cannot take a bound builtin method
        console.messages.append(message)

    page.on("console", record)
    page.on("pageerror", lambda exc: console.page_errors.append(f"pageerror: {exc}"))
    return page


def shot(page: Page, name: str) -> None:
    if SCREENSHOTS:
        Path(SCREENSHOTS).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(Path(SCREENSHOTS) / f"{name}.png"), full_page=True)


# --------------------------------------------------------------------------- state made through the API


def person(api: Api) -> Person:
    email = unique_email("console")
    status, _h, body = api("POST", "/v1/auth/register", json={"email": email, "password": PASSWORD})
    assert status == 201, body
    status, _h, body = api("POST", "/v1/auth/login", json={"email": email, "password": PASSWORD})
    assert status == 200, body
    return Person(email, body["token"])


def verified(api: Api, who: Person) -> Person:
    """`who` with a verified email (accepting an invitation needs one): the mailed link's token."""
    assert api("POST", "/v1/auth/send-verification", headers=who.bearer)[0] == 202
    [mail] = api("GET", f"/_local/mailbox?to={who.email}")[2]["data"]
    found = re.search(r"/verify-email\?token=([A-Za-z0-9_-]+)", mail["text"])
    assert found, mail["text"]
    assert api("POST", "/v1/auth/verify-email", json={"token": found.group(1)})[0] == 200
    return who


def signed_in(context: BrowserContext, local_stack: str, who: Person) -> None:
    """The session cookie the sign-in sets (the sign-in form itself is tested on its own)."""
    context.add_cookies(
        [{"name": "sr_session", "value": who.token, "url": local_stack, "httpOnly": True, "secure": True}]
    )


@dataclass
class World:
    owner: Person
    org: dict[str, Any]
    project: dict[str, Any]

    def env(self, slug: str) -> str:
        return f"/v1/orgs/{self.org['slug']}/projects/{self.project['slug']}/environments/{slug}"


def world(api: Api, secrets_in_staging: dict[str, str] | None = None) -> World:
    owner = person(api)
    tag = secrets.token_hex(3)
    status, _h, org = api("POST", "/v1/orgs", headers=owner.bearer, json={"name": f"Acme {tag}"})
    assert status == 201, org
    status, _h, project = api(
        "POST", f"/v1/orgs/{org['slug']}/projects", headers=owner.bearer, json={"name": f"Web {tag}"}
    )
    assert status == 201, project
    w = World(owner, org, project)
    for key, value in (secrets_in_staging or {}).items():
        status, _h, body = api("PUT", f"{w.env('staging')}/secrets/{key}", headers=owner.bearer, json={"value": value})
        assert status == 200, body
    return w


def open_environment(page: Page, local_stack: str, w: World, env: str = "Staging") -> None:
    """From the console's home, by link names: the org, the project, the environment."""
    page.goto(f"{local_stack}/")
    page.get_by_role("link", name=w.org["name"]).click()
    page.get_by_role("link", name=w.project["name"]).click()
    page.get_by_role("link", name=env, exact=True).click()
    expect(page.get_by_role("heading", level=1)).to_contain_text(env)


# --------------------------------------------------------------------------- sign-in


def test_sign_in_with_a_wrong_then_the_right_password(page: Page, console: Console, local_stack: str, api: Api) -> None:
    # Given an account, and the console signed out (its first look at /v1/me is refused)
    who = person(api)
    console.refusals |= {(401, "/v1/me"), (401, "/v1/auth/login")}
    page.goto(f"{local_stack}/")
    expect(page.get_by_label("Email")).to_be_focused()
    # When the wrong password is given
    page.get_by_label("Email").fill(who.email)
    page.get_by_label("Password").fill("not-the-password-at-all")
    page.get_by_role("button", name="Sign in", exact=True).click()
    # Then an alert says so, and the sign-in stays
    expect(page.get_by_role("alert").filter(has_text="Wrong email or password")).to_be_visible()
    shot(page, "sign-in")
    # When the right one is given with the keyboard alone (Tab from the email, type, Enter)
    page.get_by_label("Email").focus()
    page.keyboard.press("Tab")
    expect(page.get_by_label("Password")).to_be_focused()
    page.keyboard.press("ControlOrMeta+A")
    page.keyboard.type(PASSWORD)
    page.keyboard.press("Enter")
    # Then the console shows the user's organizations and who is signed in
    expect(page.get_by_role("heading", name="Organizations")).to_be_visible()
    expect(page.get_by_role("button", name="Sign out")).to_be_visible()
    assert any(c["name"] == "sr_session" for c in page.context.cookies())


def test_create_an_account_sign_out_and_sign_in_with_the_second_factor(
    page: Page, console: Console, local_stack: str, api: Api
) -> None:
    # Given the console signed out, a new account is created through it (and signed in)
    email = unique_email("console-new")
    console.refusals |= {(401, "/v1/me"), (401, "/v1/auth/login")}
    page.goto(f"{local_stack}/")
    page.get_by_role("button", name="Create an account").click()
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Create account").click()
    expect(page.get_by_role("heading", name="Organizations")).to_be_visible()
    # Its owner turns on two-factor authentication (through the API)
    status, _h, login = api("POST", "/v1/auth/login", json={"email": email, "password": PASSWORD})
    assert status == 200, login
    who = Person(email, login["token"])
    setup = api("POST", "/v1/me/2fa/setup", headers=who.bearer)[2]
    code = pyotp.TOTP(setup["secret"]).now()
    status, _h, enabled = api("POST", "/v1/me/2fa/enable", headers=who.bearer, json={"code": code})
    assert status == 200, enabled
    # Signing out ends that session server-side, not only in the page
    session = next(c["value"] for c in page.context.cookies() if c["name"] == "sr_session")
    page.get_by_role("button", name="Sign out").click()
    expect(page.get_by_role("button", name="Sign in", exact=True)).to_be_visible()
    assert api("GET", "/v1/me", headers={"Authorization": f"Bearer {session}"})[0] == 401
    # Signing in again asks for the second factor after the password (a recovery code works once)
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in", exact=True).click()
    expect(page.get_by_role("alert")).to_contain_text("authenticator app")
    page.get_by_label("Authentication code").fill(enabled["recovery_codes"][0])
    page.get_by_role("button", name="Sign in", exact=True).click()
    expect(page.get_by_role("heading", name="Organizations")).to_be_visible()


# --------------------------------------------------------------------------- secrets


def test_navigate_by_link_names_and_a_value_is_not_in_the_page_until_reveal(
    page: Page, local_stack: str, api: Api
) -> None:
    # Given an environment with a secret
    value = f"postgres://app:{secrets.token_hex(8)}@db/app"
    w = world(api, {"DB_URL": value, "API_KEY": "k-" + secrets.token_hex(6)})
    signed_in(page.context, local_stack, w.owner)
    # When the user walks org → project → environment by link names
    page.goto(f"{local_stack}/")
    shot(page, "orgs")
    page.get_by_role("link", name=w.org["name"]).click()
    shot(page, "org")
    page.get_by_role("link", name=w.project["name"]).click()
    page.get_by_role("link", name="Staging", exact=True).click()
    # Then the keys are listed, the value nowhere in the page (nor in what the page fetched)
    row = page.get_by_role("row").filter(has=page.get_by_role("rowheader", name="DB_URL"))
    expect(row).to_be_visible()
    assert value not in page.content()
    # When Reveal is pressed, then it is shown
    row.get_by_role("button", name="Reveal").click()
    expect(row.get_by_text(value)).to_be_visible()
    shot(page, "secrets")
    # and Hide takes it out of the page again
    row.get_by_role("button", name="Hide").click()
    expect(row.get_by_role("button", name="Reveal")).to_be_visible()
    assert value not in page.content()


def test_names_and_values_are_text_never_markup(page: Page, local_stack: str, api: Api) -> None:
    # Given an org, a project and a value that are HTML meant to run a script
    owner = person(api)
    org_name = "<img src=x onerror=window.pwned=1>"
    _s, _h, org = api("POST", "/v1/orgs", headers=owner.bearer, json={"name": org_name})
    project_name = "<svg onload=window.pwned=2>"
    _s, _h, project = api("POST", f"/v1/orgs/{org['slug']}/projects", headers=owner.bearer, json={"name": project_name})
    w = World(owner, org, project)
    value = "<script>window.pwned=3</script><b>bold</b>"
    assert api("PUT", f"{w.env('staging')}/secrets/HTML", headers=owner.bearer, json={"value": value})[0] == 200
    signed_in(page.context, local_stack, owner)
    # When the user opens them and reveals the value
    open_environment(page, local_stack, w)
    page.get_by_role("button", name="Reveal HTML").click()
    # Then each is shown as the text it is, and nothing ran
    expect(page.get_by_text(value, exact=True)).to_be_visible()
    expect(page.get_by_role("link", name=project_name)).to_be_visible()
    assert page.evaluate("() => window.pwned === undefined")
    assert page.locator("main img, main svg, main script, main b").count() == 0


def test_add_a_secret_through_the_form_and_read_it_back_through_the_api(page: Page, local_stack: str, api: Api) -> None:
    w = world(api)
    signed_in(page.context, local_stack, w.owner)
    open_environment(page, local_stack, w)
    value = 'line one\nline "two" = ' + secrets.token_hex(4)
    page.get_by_label("Key").fill("NEW_SECRET")
    page.get_by_label("Value").fill(value)
    page.get_by_role("button", name="Add secret").click()
    expect(page.get_by_role("status").filter(has_text="NEW_SECRET added")).to_be_visible()
    expect(page.get_by_role("rowheader", name="NEW_SECRET")).to_be_visible()
    status, _h, body = api("GET", f"{w.env('staging')}/secrets/NEW_SECRET", headers=w.owner.bearer)
    assert (status, body["value"], body["version"]) == (200, value, 1)


def test_edit_saves_with_if_match_and_a_stale_edit_is_refused(
    page: Page, console: Console, local_stack: str, api: Api
) -> None:
    w = world(api, {"TOKEN": "one"})
    signed_in(page.context, local_stack, w.owner)
    open_environment(page, local_stack, w)
    # An edit of version 1 saves version 2
    page.get_by_role("button", name="Edit TOKEN").click()
    expect(page.get_by_label("Value of TOKEN")).to_have_value("one")
    page.get_by_label("Value of TOKEN").fill("two")
    page.get_by_role("button", name="Save").click()
    expect(page.get_by_role("status").filter(has_text="TOKEN saved (version 2)")).to_be_visible()
    # An edit started on version 2 while someone else writes version 3 is refused (412), not lost
    page.get_by_role("button", name="Edit TOKEN").click()
    expect(page.get_by_label("Value of TOKEN")).to_have_value("two")
    assert api("PUT", f"{w.env('staging')}/secrets/TOKEN", headers=w.owner.bearer, json={"value": "three"})[0] == 200
    console.refusals.add((412, f"{w.env('staging')}/secrets/TOKEN"))
    page.get_by_label("Value of TOKEN").fill("mine")
    page.get_by_role("button", name="Save").click()
    expect(page.get_by_role("alert").filter(has_text="changed since this page loaded")).to_be_visible()
    assert api("GET", f"{w.env('staging')}/secrets/TOKEN", headers=w.owner.bearer)[2]["value"] == "three"


def test_delete_history_and_rollback(page: Page, console: Console, local_stack: str, api: Api) -> None:
    w = world(api, {"COLOR": "red", "OLD": "x"})
    console.refusals.add((404, f"{w.env('staging')}/secrets/COLOR/rotation"))  # no rotation policy
    assert api("PUT", f"{w.env('staging')}/secrets/COLOR", headers=w.owner.bearer, json={"value": "blue"})[0] == 200
    signed_in(page.context, local_stack, w.owner)
    open_environment(page, local_stack, w)
    # Delete (after the confirmation)
    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_role("button", name="Delete OLD").click()
    expect(page.get_by_role("status").filter(has_text="OLD deleted")).to_be_visible()
    assert api("GET", f"{w.env('staging')}/secrets/OLD", headers=w.owner.bearer)[0] == 404
    # History, then roll back to version 1
    page.get_by_role("link", name="History of COLOR").click()
    expect(page.get_by_role("cell", name="v2", exact=True)).to_be_visible()
    shot(page, "history")
    page.get_by_role("button", name="Roll back to v1").click()
    expect(page.get_by_role("status").filter(has_text="version 3 has the value of v1")).to_be_visible()
    status, _h, body = api("GET", f"{w.env('staging')}/secrets/COLOR", headers=w.owner.bearer)
    assert (status, body["value"], body["version"]) == (200, "red", 3)


def test_diff_between_environments_with_a_dry_run_then_promote(page: Page, local_stack: str, api: Api) -> None:
    w = world(api, {"FEATURE": "on"})
    signed_in(page.context, local_stack, w.owner)
    page.goto(f"{local_stack}/#/orgs/{w.org['slug']}/projects/{w.project['slug']}")
    page.get_by_label("From").select_option("staging")
    page.get_by_label("To").select_option("production")
    page.get_by_role("button", name="Compare").click()
    expect(page.get_by_role("row", name="FEATURE add")).to_be_visible()
    shot(page, "promote")
    # the dry run wrote nothing
    assert api("GET", f"{w.env('production')}/secrets/FEATURE", headers=w.owner.bearer)[0] == 404
    page.get_by_role("button", name="Promote 1 change").click()
    expect(page.get_by_role("status").filter(has_text="Promoted 1 change")).to_be_visible()
    assert api("GET", f"{w.env('production')}/secrets/FEATURE", headers=w.owner.bearer)[2]["value"] == "on"


# --------------------------------------------------------------------------- members, tokens, webhooks, audit


def test_change_a_members_role_then_remove_them(page: Page, local_stack: str, api: Api) -> None:
    # Given an org with a developer who accepted their invitation
    w = world(api)
    bob = unique_email("console-bob")
    members = f"/v1/orgs/{w.org['slug']}/members"
    _s, _h, inv = api(
        "POST",
        f"/v1/orgs/{w.org['slug']}/invitations",
        headers=w.owner.bearer,
        json={"email": bob, "role": "developer"},
    )
    assert api("POST", f"/v1/invitations/{inv['token']}/accept", user=bob)[0] == 200
    signed_in(page.context, local_stack, w.owner)
    page.goto(f"{local_stack}/#/orgs/{w.org['slug']}/members")
    # When the owner makes them an admin
    page.get_by_label(f"Role of {bob}").select_option("admin")
    expect(page.get_by_role("status")).to_contain_text(f"{bob} is now admin")
    roles = {m["email"]: m["role"] for m in api("GET", members, headers=w.owner.bearer)[2]["data"]}
    assert roles == {w.owner.email: "owner", bob: "admin"}
    # and then removes them (after the confirmation)
    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_role("button", name=f"Remove {bob}").click()
    expect(page.get_by_role("status")).to_contain_text(f"{bob} removed")
    assert [m["email"] for m in api("GET", members, headers=w.owner.bearer)[2]["data"]] == [w.owner.email]


def test_invite_a_member_and_create_a_service_token_shown_once(page: Page, local_stack: str, api: Api) -> None:
    w = world(api, {"DB_URL": "postgres://db"})
    signed_in(page.context, local_stack, w.owner)
    page.goto(f"{local_stack}/#/orgs/{w.org['slug']}")
    # Members: invite, the token shown once
    page.get_by_role("link", name="Members").click()
    page.get_by_label("Email").fill("bob@example.com")
    page.get_by_label("Role").select_option("developer")
    page.get_by_role("button", name="Invite").click()
    expect(page.get_by_label("Invitation token")).to_contain_text("sr_inv_")
    expect(page.get_by_role("cell", name="bob@example.com", exact=True)).to_be_visible()
    shot(page, "members")
    # Service tokens: created, shown once, and it reads its environment
    page.get_by_role("link", name="Service tokens").click()
    page.get_by_label("Token name").fill("ci")
    page.get_by_label("Environment").select_option("staging")
    page.get_by_role("button", name="Create token").click()
    token = page.get_by_label("Service token", exact=True).inner_text().strip()
    assert token.startswith("sr_svc_")
    expect(page.get_by_role("cell", name="ci", exact=True)).to_be_visible()
    shot(page, "tokens")
    status, _h, body = api("GET", "/runtime/v1/secrets", headers={"Authorization": f"Bearer {token}"})
    assert (status, body["secrets"]) == (200, {"DB_URL": "postgres://db"})
    # once: the page reloaded does not have it
    page.reload()
    expect(page.get_by_role("cell", name="ci", exact=True)).to_be_visible()
    assert token not in page.content()


def test_webhooks_their_delivery_log_and_the_audit_log_with_its_verification(
    page: Page, local_stack: str, api: Api, stack: LocalStack
) -> None:
    w = world(api)
    signed_in(page.context, local_stack, w.owner)
    page.goto(f"{local_stack}/#/orgs/{w.org['slug']}/webhooks")
    page.get_by_label("Endpoint URL").fill("http://127.0.0.1:9/hook")
    page.get_by_role("button", name="Create webhook").click()
    expect(page.get_by_label("Signing secret")).to_contain_text("whsec_")
    page.get_by_role("link", name="http://127.0.0.1:9/hook").click()
    page.get_by_role("button", name="Send test event").click()
    expect(page.get_by_role("cell", name="webhook.test")).to_be_visible()
    shot(page, "webhook")
    # The audit log, filtered, and the log's integrity checked against its signed head
    seal(stack, w.org["id"])
    page.get_by_role("link", name="Audit log").click()
    expect(page.get_by_text("Signed tree head:")).to_be_visible()
    page.get_by_label("Action").fill("webhook.")
    page.get_by_role("button", name="Filter").click()
    expect(page.get_by_role("cell", name="webhook.created")).to_be_visible()
    expect(page.get_by_role("cell", name="project.created")).to_have_count(0)
    page.get_by_role("button", name="Verify the log").click()
    expect(page.get_by_role("status")).to_contain_text("Verified")
    shot(page, "audit")


# --------------------------------------------------------------------------- device login


def test_approve_a_device_login_started_through_the_api(
    page: Page, console: Console, local_stack: str, api: Api
) -> None:
    # Given a device login started by a client, whose verification_uri is the console's page
    who = person(api)
    status, _h, started = api("POST", "/v1/auth/device/start", json={"client_name": "strongroom-cli"})
    assert status == 200, started
    assert started["verification_uri"] == f"{local_stack}/device"
    # When the user opens it signed out, signs in, and approves the code shown
    console.refusals.add((401, "/v1/me"))
    page.goto(started["verification_uri_complete"])
    page.get_by_label("Email").fill(who.email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in", exact=True).click()
    expect(page.get_by_label("Code")).to_have_value(started["user_code"])
    shot(page, "device")
    page.get_by_role("button", name="Approve").click()
    # Then the page says so, and the device's poll gets its token, which acts as the user
    expect(page.get_by_role("status")).to_contain_text("Approved")
    status, _h, issued = api("POST", "/v1/auth/device/token", json={"device_code": started["device_code"]})
    assert status == 200, issued
    me = api("GET", "/v1/me", headers={"Authorization": f"Bearer {issued['access_token']}"})[2]
    assert me["email"] == who.email
    # A second device's login, denied on its page: its poll is refused
    _s, _h, other = api("POST", "/v1/auth/device/start", json={"client_name": "strongroom-cli"})
    page.goto(other["verification_uri_complete"])
    expect(page.get_by_label("Code")).to_have_value(other["user_code"])
    page.get_by_role("button", name="Deny").click()
    expect(page.get_by_role("status")).to_contain_text("Denied")
    status, _h, body = api("POST", "/v1/auth/device/token", json={"device_code": other["device_code"]})
    assert (status, body["error"]["code"]) == (400, "access_denied")


# --------------------------------------------------------------------------- headers and CSRF


def test_a_cookie_mutation_without_the_header_is_refused_in_the_browser_too(
    page: Page, console: Console, local_stack: str, api: Api
) -> None:
    who = person(api)
    signed_in(page.context, local_stack, who)
    page.goto(f"{local_stack}/")
    expect(page.get_by_role("heading", name="Organizations")).to_be_visible()
    console.refusals.add((403, "/v1/orgs"))
    script = """async (headers) => {
        const r = await fetch("/v1/orgs", {method: "POST", credentials: "same-origin",
            headers: {"Content-Type": "application/json", ...headers}, body: JSON.stringify({name: "Forged"})});
        return [r.status, (await r.json())];
    }"""
    status, body = page.evaluate(script, {})
    assert (status, body["error"]["code"]) == (403, "csrf")
    status, body = page.evaluate(script, {"X-Requested-With": "strongroom"})
    assert (status, body["name"]) == (201, "Forged")


def test_the_page_refuses_inline_script_and_framing(page: Page, console: Console, local_stack: str) -> None:
    console.refusals.add((401, "/v1/me"))
    page.goto(f"{local_stack}/")
    violated = page.evaluate(
        """() => new Promise((resolve) => {
            document.addEventListener("securitypolicyviolation", (e) => resolve(e.violatedDirective));
            const s = document.createElement("script");
            s.textContent = "window.injected = true";
            document.body.append(s);
        })"""
    )
    assert violated.startswith("script-src")
    assert page.evaluate("() => window.injected === undefined")
    # the browser's own report of what it refused is expected here
    console.messages[:] = [m for m in console.messages if "Content Security Policy" not in m.text]


@pytest.mark.parametrize("path", [*CONSOLE_PAGES, *CONSOLE_ASSETS, "/console/missing.js"])
def test_every_console_response_carries_the_security_headers(path: str, api: Api) -> None:
    status, headers, _body = api("GET", path)
    assert status == (404 if "missing" in path else 200)
    csp = headers["content-security-policy"]
    assert "frame-ancestors 'none'" in csp
    assert "script-src 'self'" in csp
    assert "unsafe-inline" not in csp
    assert "unsafe-eval" not in csp
    assert headers["x-frame-options"] == "DENY"
    assert headers["x-content-type-options"] == "nosniff"


# --------------------------------------------------------------------------- account security


def test_a_page_left_before_its_read_answers_does_not_draw_over_the_next(
    page: Page, local_stack: str, api: Api
) -> None:
    who = person(api)
    signed_in(page.context, local_stack, who)
    held: list[Route] = []

    def hold(route: Route) -> None:  # Playwright cannot take a bound builtin method
        held.append(route)

    page.route("**/v1/orgs?limit=500", hold)  # the organizations' list waits
    page.goto(f"{local_stack}/")
    page.get_by_role("link", name="Account security").click()
    expect(page.get_by_role("heading", name="Account security", level=1)).to_be_visible()
    assert len(held) == 1
    with page.expect_response("**/v1/orgs?limit=500"):
        held[0].continue_()
    page.evaluate("() => new Promise((done) => setTimeout(done, 300))")  # time for a late draw
    expect(page.get_by_role("heading", name="Account security", level=1)).to_be_visible()
    expect(page.get_by_role("heading", name="Organizations")).to_have_count(0)
    assert page.title() == "Account security · Strongroom"


def test_two_factor_set_up_turned_on_with_a_code_and_off_with_a_recovery_code(
    page: Page, console: Console, local_stack: str, api: Api
) -> None:
    who = person(api)
    signed_in(page.context, local_stack, who)
    page.goto(f"{local_stack}/")
    page.get_by_role("link", name="Account security").click()
    expect(page.get_by_text("Two-factor authentication is off")).to_be_visible()
    # Set up: the secret and its otpauth link are shown (this once)
    page.get_by_role("button", name="Set up two-factor authentication").click()
    secret = page.get_by_label("Setup key", exact=True).inner_text().strip()
    expect(page.get_by_label("Setup link", exact=True)).to_contain_text("otpauth://totp/")
    # A wrong code is refused in the alert box, and nothing is turned on
    console.refusals.add((400, "/v1/me/2fa/enable"))
    page.get_by_label("Authentication code").fill(pyotp.TOTP(secret).at(time.time() - 3600))
    page.get_by_role("button", name="Turn on two-factor authentication").click()
    expect(page.get_by_role("alert").filter(has_text="the code is wrong")).to_be_visible()
    assert api("GET", "/v1/me", headers=who.bearer)[2]["two_factor_enabled"] is False
    # So is a malformed one, the field named
    console.refusals.add((422, "/v1/me/2fa/enable"))
    page.get_by_label("Authentication code").fill("12")
    page.get_by_role("button", name="Turn on two-factor authentication").click()
    expect(page.get_by_role("alert").filter(has_text="the request is not valid: code")).to_be_visible()
    # The authenticator app's code turns it on; the 10 recovery codes are shown once
    page.get_by_label("Authentication code").fill(pyotp.TOTP(secret).now())
    page.get_by_role("button", name="Turn on two-factor authentication").click()
    expect(page.get_by_role("status").filter(has_text="Two-factor authentication is on")).to_be_visible()
    codes = page.get_by_label("Recovery codes", exact=True).inner_text().split()
    assert len(set(codes)) == 10
    shot(page, "account")
    assert api("GET", "/v1/me", headers=who.bearer)[2]["two_factor_enabled"] is True
    status, _h, body = api("POST", "/v1/auth/login", json={"email": who.email, "password": PASSWORD})
    assert (status, body["error"]["code"]) == (401, "totp_required")
    login = {"email": who.email, "password": PASSWORD, "totp_code": codes[0]}
    assert api("POST", "/v1/auth/login", json=login)[0] == 200
    # Once: the page opened again shows neither the secret nor the codes
    page.reload()
    expect(page.get_by_text("Two-factor authentication is on")).to_be_visible()
    assert secret not in page.content()
    assert not any(code in page.content() for code in codes)
    # A recovery code turns it off
    page.get_by_label("Authentication code").fill(codes[1])
    page.get_by_role("button", name="Turn off two-factor authentication").click()
    expect(page.get_by_role("status").filter(has_text="Two-factor authentication is off")).to_be_visible()
    assert api("GET", "/v1/me", headers=who.bearer)[2]["two_factor_enabled"] is False


# --------------------------------------------------------------------------- roles


def test_a_custom_role_created_edited_refused_while_in_use_then_deleted(
    page: Page, console: Console, local_stack: str, api: Api
) -> None:
    w = world(api)
    roles = f"/v1/orgs/{w.org['slug']}/roles"
    signed_in(page.context, local_stack, w.owner)
    page.goto(f"{local_stack}/#/orgs/{w.org['slug']}")
    page.get_by_role("link", name="Roles").click()
    # The built-in roles are listed with their permissions
    expect(
        page.get_by_role("row").filter(has=page.get_by_role("rowheader", name="developer", exact=True))
    ).to_contain_text("secrets.write (Non-production)")
    # Created with a scope per permission
    page.get_by_label("Role name").fill("Auditor")
    page.get_by_label("audit.read", exact=True).select_option("all")
    page.get_by_label("secrets.read", exact=True).select_option("non_production")
    page.get_by_role("button", name="Create role").click()
    expect(page.get_by_role("status").filter(has_text="Role Auditor created (auditor)")).to_be_visible()
    role = api("GET", f"{roles}/auditor", headers=w.owner.bearer)[2]
    assert (role["permissions"]["audit.read"], role["permissions"]["secrets.read"]) == ("all", "non_production")
    shot(page, "roles")
    # Edited: the form holds its scopes; one taken away, a description added
    page.get_by_role("button", name="Edit role Auditor").click()
    expect(page.get_by_label("secrets.read", exact=True)).to_have_value("non_production")
    page.get_by_label("secrets.read", exact=True).select_option(label="—")
    page.get_by_label("Description").fill("Reads the audit log")
    page.get_by_role("button", name="Save role").click()
    expect(page.get_by_role("status").filter(has_text="Role Auditor saved")).to_be_visible()
    role = api("GET", f"{roles}/auditor", headers=w.owner.bearer)[2]
    assert ("secrets.read" in role["permissions"], role["description"]) == (False, "Reads the audit log")
    # A role a pending invitation holds is refused (the API's reason in the alert), then deleted
    invitations = f"/v1/orgs/{w.org['slug']}/invitations"
    _s, _h, inv = api("POST", invitations, headers=w.owner.bearer, json={"email": "aud@example.com", "role": "auditor"})
    console.refusals.add((409, f"{roles}/auditor"))
    page.on("dialog", lambda dialog: dialog.accept())
    page.get_by_role("button", name="Delete role Auditor").click()
    expect(page.get_by_role("alert").filter(has_text="the role is in use")).to_be_visible()
    assert api("GET", f"{roles}/auditor", headers=w.owner.bearer)[0] == 200
    assert api("DELETE", f"{invitations}/{inv['id']}", headers=w.owner.bearer)[0] == 204
    page.get_by_role("button", name="Delete role Auditor").click()
    expect(page.get_by_role("status").filter(has_text="Role Auditor deleted")).to_be_visible()
    assert api("GET", f"{roles}/auditor", headers=w.owner.bearer)[0] == 404


# --------------------------------------------------------------------------- single sign-on and SCIM


def test_oidc_and_saml_settings_and_a_scim_token_shown_once_then_revoked(
    page: Page, console: Console, local_stack: str, api: Api
) -> None:
    w = world(api)
    org = f"/v1/orgs/{w.org['slug']}"
    tag = secrets.token_hex(4)
    client_secret = f"idp-secret-{tag}"
    console.refusals |= {(404, f"{org}/sso/oidc"), (404, f"{org}/sso/saml")}
    signed_in(page.context, local_stack, w.owner)
    page.goto(f"{local_stack}/#/orgs/{w.org['slug']}")
    page.get_by_role("link", name="Single sign-on").click()
    # OpenID Connect: saved; the client secret is sealed, never in the page again
    oidc = page.get_by_role("form", name="OpenID Connect")
    oidc.get_by_label("Issuer").fill("https://idp.example.test")
    oidc.get_by_label("Client ID").fill("strongroom")
    oidc.get_by_label("Client secret").fill(client_secret)
    oidc.get_by_label("Email domains").fill(f"oidc-{tag}.test")
    oidc.get_by_label("Default role").select_option("developer")
    oidc.get_by_role("button", name="Save OpenID Connect").click()
    expect(page.get_by_role("status").filter(has_text="OpenID Connect sign-in saved")).to_be_visible()
    expect(page.get_by_text("/v1/sso/oidc/callback")).to_be_visible()
    config = api("GET", f"{org}/sso/oidc", headers=w.owner.bearer)[2]
    assert (config["client_id"], config["domains"], config["default_role"], config["client_secret_set"]) == (
        "strongroom",
        [f"oidc-{tag}.test"],
        "developer",
        True,
    )
    assert client_secret not in page.content()
    # SAML: saved; the service provider's entity ID, ACS URL and metadata are shown
    saml = page.get_by_role("form", name="SAML")
    saml.get_by_label("IdP entity ID").fill("https://idp.example.test/saml")
    saml.get_by_label("IdP sign-in URL").fill("https://idp.example.test/sso")
    saml.get_by_label("IdP signing certificate").fill(SAML_CERT)
    saml.get_by_label("Email domains").fill(f"saml-{tag}.test")
    saml.get_by_role("button", name="Save SAML").click()
    expect(page.get_by_role("status").filter(has_text="SAML sign-in saved")).to_be_visible()
    expect(page.get_by_text(f"{local_stack}/v1/sso/saml/acs")).to_be_visible()
    metadata = page.get_by_role("link", name="Service provider metadata (XML)").get_attribute("href") or ""
    assert metadata.startswith(f"{local_stack}/v1/sso/saml/metadata?org=")
    assert api("GET", f"{org}/sso/saml", headers=w.owner.bearer)[2]["domains"] == [f"saml-{tag}.test"]
    shot(page, "sso")
    # SCIM: a token shown once works against /scim/v2 until revoked
    page.get_by_label("SCIM token name").fill("okta")
    page.get_by_role("button", name="Create SCIM token").click()
    token = page.get_by_label("SCIM token", exact=True).inner_text().strip()
    assert token.startswith("sr_scim_")
    scim = {"Authorization": f"Bearer {token}"}
    assert api("GET", "/scim/v2/Users", headers=scim)[0] == 200
    page.on("dialog", lambda dialog: dialog.accept())
    page.get_by_role("button", name="Revoke SCIM token okta").click()
    expect(page.get_by_role("status").filter(has_text="SCIM token okta revoked")).to_be_visible()
    assert api("GET", "/scim/v2/Users", headers=scim)[0] == 401
    # The settings reloaded: the client secret nowhere; removing OIDC leaves SAML
    page.reload()
    expect(page.get_by_role("form", name="OpenID Connect").get_by_label("Client ID")).to_have_value("strongroom")
    assert client_secret not in page.content()
    assert token not in page.content()
    page.get_by_role("button", name="Remove OpenID Connect").click()
    expect(page.get_by_role("status").filter(has_text="OpenID Connect sign-in removed")).to_be_visible()
    assert api("GET", f"{org}/sso/oidc", headers=w.owner.bearer)[0] == 404
    assert api("GET", f"{org}/sso/saml", headers=w.owner.bearer)[0] == 200


# --------------------------------------------------------------------------- governance


def test_governance_a_policy_access_requests_decided_and_a_change_request_approved_then_applied(
    page: Page, local_stack: str, api: Api
) -> None:
    # Given an org with a developer
    w = world(api)
    org = f"/v1/orgs/{w.org['slug']}"
    dev = verified(api, person(api))
    _s, _h, inv = api(
        "POST", f"{org}/invitations", headers=w.owner.bearer, json={"email": dev.email, "role": "developer"}
    )
    assert api("POST", f"/v1/invitations/{inv['token']}/accept", headers=dev.bearer)[0] == 200
    assert (
        api("PUT", f"{w.env('production')}/secrets/DB_URL", headers=w.owner.bearer, json={"value": "pg://prod"})[0]
        == 200
    )
    signed_in(page.context, local_stack, w.owner)
    page.goto(f"{local_stack}/#/orgs/{w.org['slug']}")
    page.get_by_role("link", name="Governance").click()
    # The owner creates an approval policy over access requests and changes
    page.get_by_text("New approval policy").click()
    form = page.get_by_role("form", name="New approval policy")
    form.get_by_label("Policy name").fill("Guard")
    form.get_by_label("Environments").fill("staging, production")
    form.get_by_label("Changes to secrets").check()
    form.get_by_role("button", name="Create policy").click()
    expect(page.get_by_role("status").filter(has_text="Policy Guard created")).to_be_visible()
    [policy] = api("GET", f"{org}/approval-policies", headers=w.owner.bearer)[2]["data"]
    assert (policy["name"], policy["applies_to"], len(policy["environment_ids"])) == (
        "Guard",
        ["access_requests", "changes"],
        2,
    )
    # The developer asks for production; the owner approves it in the console, then rejects another
    ask = {
        "project": w.project["slug"],
        "environment": "production",
        "permission": "secrets.read",
        "duration_seconds": 600,
    }
    status, _h, first = api("POST", f"{org}/access-requests", headers=dev.bearer, json={**ask, "reason": "incident 42"})
    assert status == 201, first
    assert api("GET", f"{w.env('production')}/secrets/DB_URL", headers=dev.bearer)[0] == 403
    page.reload()
    page.get_by_role("button", name=f"Approve the request of {dev.email}").click()
    expect(page.get_by_role("status").filter(has_text="approved")).to_be_visible()
    status, _h, read = api("GET", f"{w.env('production')}/secrets/DB_URL", headers=dev.bearer)
    assert (status, read["value"]) == (200, "pg://prod")
    _s, _h, second = api("POST", f"{org}/access-requests", headers=dev.bearer, json={**ask, "reason": "curious"})
    page.reload()
    page.once("dialog", lambda dialog: dialog.accept("not without an incident"))
    page.get_by_role("button", name=f"Reject the request of {dev.email}").click()
    expect(page.get_by_role("status").filter(has_text="rejected")).to_be_visible()
    shown = api("GET", f"{org}/access-requests/{second['id']}", headers=dev.bearer)[2]
    assert (shown["status"], shown["decision_reason"]) == ("rejected", "not without an incident")
    shot(page, "governance")
    # A developer's write into staging waits as a change request; the owner reviews it (no value)
    proposed = f"proposed-{secrets.token_hex(4)}"
    status, _h, held = api("PUT", f"{w.env('staging')}/secrets/FLAG", headers=dev.bearer, json={"value": proposed})
    assert status == 202, held
    cr = held["change_request"]
    page.reload()
    page.get_by_role("link", name=f"Change request {cr['id']}").click()
    expect(page.get_by_role("row", name="FLAG added new → v1")).to_be_visible()
    assert proposed not in page.content()
    expect(page.get_by_text("null", exact=True)).to_have_count(0)
    page.get_by_role("textbox", name="Comment").fill("looks right")
    page.get_by_role("button", name="Add comment").click()
    expect(page.get_by_role("listitem").filter(has_text="looks right")).to_be_visible()
    page.get_by_role("button", name="Approve").click()
    expect(page.get_by_role("status").filter(has_text="Approved")).to_be_visible()
    expect(page.get_by_role("button", name="Apply")).to_have_count(0)  # the author applies
    assert api("GET", f"{w.env('staging')}/secrets/FLAG", headers=dev.bearer)[0] == 404
    shot(page, "change-request")
    # The developer: no policy form, no SSO settings; applies their change, asks and cancels
    page.context.clear_cookies()
    signed_in(page.context, local_stack, dev)
    page.reload()
    expect(page.get_by_role("button", name="Apply")).to_be_visible()
    expect(page.get_by_role("button", name="Approve")).to_have_count(0)
    page.get_by_role("button", name="Apply").click()
    expect(page.get_by_role("status").filter(has_text="Applied")).to_be_visible()
    assert api("GET", f"{w.env('staging')}/secrets/FLAG", headers=dev.bearer)[2]["value"] == proposed
    page.get_by_role("navigation", name="breadcrumb").get_by_role("link", name="Governance").click()
    expect(page.get_by_role("heading", name="Approval policies")).to_be_visible()
    expect(page.get_by_text("New approval policy")).to_have_count(0)
    expect(page.get_by_role("link", name="Single sign-on")).to_have_count(0)
    page.get_by_text("Ask for access", exact=True).click()
    request = page.get_by_role("form", name="Request access")
    request.get_by_label("Environment").select_option("production")
    request.get_by_label("Permission").select_option("secrets.write")
    request.get_by_label("Reason").fill("hotfix")
    request.get_by_role("button", name="Request access").click()
    expect(page.get_by_role("status").filter(has_text="Access requested")).to_be_visible()
    page.get_by_role("button", name=f"Cancel the request of {dev.email}").click()
    expect(page.get_by_role("status").filter(has_text="cancelled")).to_be_visible()
    listed = api("GET", f"{org}/access-requests?status=cancelled", headers=dev.bearer)[2]["data"]
    assert [(r["permission"], r["reason"]) for r in listed] == [("secrets.write", "hotfix")]


# --------------------------------------------------------------------------- folders, shared secrets, rotation


def test_folders_navigated_by_links_a_secret_added_into_one_and_only_an_empty_one_deleted(
    page: Page, console: Console, local_stack: str, api: Api
) -> None:
    # Given a root key and a key in /backend/db (writing into a folder creates it and its parents)
    w = world(api, {"ROOT_ONLY": "r"})
    staging = w.env("staging")
    status, _h, body = api(
        "PUT", f"{staging}/secrets/DB_URL?path=/backend/db", headers=w.owner.bearer, json={"value": "pg://folder"}
    )
    assert (status, body["path"]) == (200, "/backend/db"), body
    signed_in(page.context, local_stack, w.owner)
    open_environment(page, local_stack, w)
    # When the user opens the folders by their links
    page.get_by_role("link", name="Folder backend").click()
    page.get_by_role("link", name="Folder db").click()
    # Then the path is a breadcrumb, and only that folder's secrets are listed
    trail = page.get_by_role("navigation", name="Folder path")
    expect(trail.get_by_text("db", exact=True)).to_have_attribute("aria-current", "location")
    expect(page.get_by_role("rowheader", name="DB_URL")).to_be_visible()
    expect(page.get_by_role("rowheader", name="ROOT_ONLY")).to_have_count(0)
    assert "path=%2Fbackend%2Fdb" in page.url
    # A secret added here is written at the path
    page.get_by_label("Key").fill("DB_PASSWORD")
    page.get_by_label("Value").fill("in-the-folder")
    page.get_by_role("button", name="Add secret").click()
    expect(page.get_by_role("status").filter(has_text="DB_PASSWORD added")).to_be_visible()
    got = api("GET", f"{staging}/secrets/DB_PASSWORD?path=/backend/db", headers=w.owner.bearer)[2]
    assert (got["value"], got["path"]) == ("in-the-folder", "/backend/db")
    assert api("GET", f"{staging}/secrets/DB_PASSWORD", headers=w.owner.bearer)[0] == 404
    # The secret page of a key in a folder shows its history and path, and its rotation (none yet)
    console.refusals.add((404, f"{staging}/secrets/DB_URL/rotation"))
    page.get_by_role("link", name="History of DB_URL").click()
    expect(page.get_by_role("cell", name="v1", exact=True)).to_be_visible()
    expect(page.locator("main").get_by_text("/backend/db", exact=True)).to_be_visible()
    expect(page.get_by_text("No rotation policy.")).to_be_visible()
    page.get_by_text("Rotate with a random value").click()
    page.get_by_label("Interval (days)").fill("5")
    page.get_by_label("Length").fill("16")
    page.get_by_role("button", name="Set rotation").click()
    expect(page.get_by_role("status").filter(has_text="Rotation every 5 days")).to_be_visible()
    policy = api("GET", f"{staging}/secrets/DB_URL/rotation?path=/backend/db", headers=w.owner.bearer)[2]
    assert (policy["path"], policy["rotator"]["length"]) == ("/backend/db", 16)
    assert api("GET", f"{staging}/secrets/DB_URL/rotation", headers=w.owner.bearer)[0] == 404  # not the root's
    page.go_back()
    expect(page.get_by_role("rowheader", name="DB_PASSWORD")).to_be_visible()
    # Up to /backend by the breadcrumb: a new folder there, created then deleted (it is empty)
    page.get_by_role("navigation", name="Folder path").get_by_role("link", name="backend").click()
    expect(page.get_by_role("link", name="Folder db")).to_be_visible()
    page.get_by_text("New folder", exact=True).click()
    page.get_by_label("Folder name").fill("empty")
    page.get_by_role("button", name="Create folder").click()
    expect(page.get_by_role("status").filter(has_text="Folder /backend/empty created")).to_be_visible()
    listed = api("GET", f"{staging}/folders?path=/backend", headers=w.owner.bearer)[2]["data"]
    assert sorted(f["path"] for f in listed) == ["/backend/db", "/backend/empty"]
    shot(page, "folders")
    # renamed (a prompt asks the new path), then deleted after the confirmation
    page.once("dialog", lambda dialog: dialog.accept("/backend/spare"))
    page.get_by_role("button", name="Move folder empty").click()
    expect(page.get_by_role("status").filter(has_text="Folder /backend/empty moved to /backend/spare")).to_be_visible()
    moved = api("GET", f"{staging}/folders?path=/backend", headers=w.owner.bearer)[2]["data"]
    assert sorted(f["path"] for f in moved) == ["/backend/db", "/backend/spare"]
    page.on("dialog", lambda dialog: dialog.accept())
    page.get_by_role("button", name="Delete folder spare").click()
    expect(page.get_by_role("status").filter(has_text="Folder /backend/spare deleted")).to_be_visible()
    # and a folder with secrets is refused with the API's message (nothing deleted)
    db = next(f for f in listed if f["path"] == "/backend/db")
    console.refusals.add((409, f"{staging}/folders/{db['id']}"))
    page.get_by_role("button", name="Delete folder db").click()
    expect(page.get_by_role("alert").filter(has_text="the folder is not empty")).to_be_visible()
    after = api("GET", f"{staging}/folders?path=/backend", headers=w.owner.bearer)[2]["data"]
    assert [f["path"] for f in after] == ["/backend/db"]


def test_shared_secrets_revealed_on_demand_added_edited_with_if_match_versions_and_deleted(
    page: Page, console: Console, local_stack: str, api: Api
) -> None:
    # Given an org with a shared secret and a developer (who reads them, never writes them)
    w = world(api)
    shared = f"/v1/orgs/{w.org['slug']}/shared-secrets"
    value = f"db-{secrets.token_hex(6)}.internal"
    status, _h, made = api("POST", shared, headers=w.owner.bearer, json={"key": "DB_HOST", "value": value})
    assert status == 201, made
    dev = verified(api, person(api))
    _s, _h, inv = api(
        "POST",
        f"/v1/orgs/{w.org['slug']}/invitations",
        headers=w.owner.bearer,
        json={"email": dev.email, "role": "developer"},
    )
    assert api("POST", f"/v1/invitations/{inv['token']}/accept", headers=dev.bearer)[0] == 200
    signed_in(page.context, local_stack, w.owner)
    page.goto(f"{local_stack}/#/orgs/{w.org['slug']}")
    page.get_by_role("link", name="Shared secrets").click()
    # The key is listed, its value only after Reveal
    row = page.get_by_role("row").filter(has=page.get_by_role("rowheader", name="DB_HOST"))
    expect(row).to_contain_text("v1")
    assert value not in page.content()
    page.get_by_role("button", name="Reveal DB_HOST").click()
    expect(row.get_by_text(value)).to_be_visible()
    page.get_by_role("button", name="Hide DB_HOST").click()
    assert value not in page.content()
    # Added through the form
    page.get_by_label("Key").fill("API_BASE")
    page.get_by_label("Value", exact=True).fill("https://api.example.com")
    page.get_by_role("button", name="Add shared secret").click()
    expect(page.get_by_role("status").filter(has_text="API_BASE added")).to_be_visible()
    assert api("GET", f"{shared}/API_BASE", headers=w.owner.bearer)[2]["value"] == "https://api.example.com"
    # Edited with If-Match: version 2; an edit of a version someone else replaced is refused (412)
    page.get_by_role("button", name="Edit DB_HOST").click()
    expect(page.get_by_label("Value of DB_HOST")).to_have_value(value)
    page.get_by_label("Value of DB_HOST").fill("db-two.internal")
    page.get_by_role("button", name="Save").click()
    expect(page.get_by_role("status").filter(has_text="DB_HOST saved (version 2)")).to_be_visible()
    page.get_by_role("button", name="Edit DB_HOST").click()
    expect(page.get_by_label("Value of DB_HOST")).to_have_value("db-two.internal")
    assert api("PUT", f"{shared}/DB_HOST", headers=w.owner.bearer, json={"value": "db-three.internal"})[0] == 200
    console.refusals.add((412, f"{shared}/DB_HOST"))
    page.get_by_label("Value of DB_HOST").fill("db-lost.internal")
    page.get_by_role("button", name="Save").click()
    expect(page.get_by_role("alert").filter(has_text="changed since this page loaded")).to_be_visible()
    assert api("GET", f"{shared}/DB_HOST", headers=w.owner.bearer)[2]["value"] == "db-three.internal"
    # Versions, newest first, no value
    page.reload()
    page.get_by_role("button", name="Versions of DB_HOST").click()
    versions = page.get_by_role("table").filter(has_text="Versions of DB_HOST")
    expect(versions.get_by_role("cell", name="v3", exact=True)).to_be_visible()
    expect(versions.get_by_role("cell", name="v1", exact=True)).to_be_visible()
    shot(page, "shared-secrets")
    # Deleted after the confirmation
    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_role("button", name="Delete API_BASE").click()
    expect(page.get_by_role("status").filter(has_text="API_BASE deleted")).to_be_visible()
    assert api("GET", f"{shared}/API_BASE", headers=w.owner.bearer)[0] == 404
    # The developer reads and reveals, with no form or button to write
    page.context.clear_cookies()
    signed_in(page.context, local_stack, dev)
    page.reload()
    page.get_by_role("button", name="Reveal DB_HOST").click()
    expect(page.get_by_text("db-three.internal")).to_be_visible()
    expect(page.get_by_role("button", name="Edit DB_HOST")).to_have_count(0)
    expect(page.get_by_role("button", name="Delete DB_HOST")).to_have_count(0)
    expect(page.get_by_role("button", name="Add shared secret")).to_have_count(0)


def test_rotation_a_random_policy_set_rotated_now_with_the_value_hidden_until_reveal_then_removed(
    page: Page, console: Console, local_stack: str, api: Api
) -> None:
    # Given a secret without a rotation policy (its 404 is "none")
    w = world(api, {"TOKEN": "initial-value"})
    staging = w.env("staging")
    console.refusals.add((404, f"{staging}/secrets/TOKEN/rotation"))
    signed_in(page.context, local_stack, w.owner)
    open_environment(page, local_stack, w)
    page.get_by_role("link", name="History of TOKEN").click()
    expect(page.get_by_text("No rotation policy.")).to_be_visible()
    # When a random policy is set
    page.get_by_text("Rotate with a random value").click()
    page.get_by_label("Interval (days)").fill("7")
    page.get_by_label("Length").fill("40")
    page.get_by_role("button", name="Set rotation").click()
    expect(page.get_by_role("status").filter(has_text="Rotation every 7 days")).to_be_visible()
    policy = api("GET", f"{staging}/secrets/TOKEN/rotation", headers=w.owner.bearer)[2]
    assert (policy["interval_days"], policy["rotator"]["type"], policy["rotator"]["length"]) == (7, "random", 40)
    expect(page.get_by_role("cell", name="random, 40 characters")).to_be_visible()
    # Rotate now: the new version is shown, the new value only after Reveal
    page.get_by_role("button", name="Rotate now").click()
    expect(page.get_by_role("status").filter(has_text="Rotated: version 2")).to_be_visible()
    rotated = api("GET", f"{staging}/secrets/TOKEN", headers=w.owner.bearer)[2]
    assert (rotated["version"], len(rotated["value"])) == (2, 40)
    expect(page.get_by_role("cell", name="v2", exact=True)).to_be_visible()
    assert rotated["value"] not in page.content()
    page.get_by_role("button", name="Reveal TOKEN").click()
    expect(page.get_by_text(rotated["value"], exact=True)).to_be_visible()
    shot(page, "rotation")
    # Removed after the confirmation
    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_role("button", name="Remove rotation").click()
    expect(page.get_by_role("status").filter(has_text="Rotation removed")).to_be_visible()
    expect(page.get_by_text("No rotation policy.")).to_be_visible()
    assert api("GET", f"{staging}/secrets/TOKEN/rotation", headers=w.owner.bearer)[0] == 404


def test_integrations_created_for_aws_and_github_synced_on_demand_the_token_never_shown_then_deleted(
    page: Page, local_stack: str, api: Api
) -> None:
    w = world(api)
    base = f"/v1/orgs/{w.org['slug']}/integrations"
    signed_in(page.context, local_stack, w.owner)
    page.goto(f"{local_stack}/#/orgs/{w.org['slug']}")
    page.get_by_role("link", name="Integrations").click()
    expect(page.get_by_text("No integration yet.")).to_be_visible()
    # An AWS Secrets Manager integration (no real role behind it: it never syncs here)
    page.get_by_text("New integration", exact=True).click()
    form = page.get_by_role("form", name="New integration")
    form.get_by_label("Environment").select_option("staging")
    form.get_by_label("Role ARN").fill("arn:aws:iam::123456789012:role/strongroom-sync")
    form.get_by_label("External ID").fill("acme-external-7f3a")
    form.get_by_label("Region").fill("eu-west-1")
    form.get_by_label("Mode").select_option("per_key")
    form.get_by_label("Name or prefix").fill("app/")
    form.get_by_role("button", name="Create integration").click()
    expect(
        page.get_by_role("status").filter(has_text="AWS Secrets Manager eu-west-1 per_key app/ created")
    ).to_be_visible()
    [aws] = api("GET", base, headers=w.owner.bearer)[2]["data"]
    assert (aws["type"], aws["config"]["mode"], aws["config"]["name"]) == ("aws_secrets_manager", "per_key", "app/")
    row = page.get_by_role("row").filter(has_text="AWS Secrets Manager")
    expect(row).to_contain_text("Staging")
    expect(row.get_by_role("cell", name=re.compile(r"^(pending|synced|failing)$"))).to_be_visible()
    # Sync now and its status
    page.get_by_role("button", name=re.compile(r"^Sync AWS Secrets Manager .* now$")).click()
    expect(page.get_by_role("status").filter(has_text="requested")).to_be_visible()
    page.get_by_role("button", name=re.compile(r"^Status of AWS Secrets Manager")).click()
    expect(page.get_by_role("status").filter(has_text="refreshed")).to_be_visible()
    shown = api("GET", f"{base}/{aws['id']}/status", headers=w.owner.bearer)[2]
    assert shown["status"] in {"pending", "synced", "failing"}
    # A GitHub Actions integration: the token is a password field, sent once, in no answer or page
    token = f"ghp_{secrets.token_hex(18)}"
    form.get_by_label("Type").select_option("github_actions")
    expect(form.get_by_label("Role ARN")).to_be_hidden()
    form.get_by_label("Environment").select_option("staging")
    form.get_by_label("Repository").fill("acme/web")
    form.get_by_label("Token", exact=True).fill(token)
    expect(form.get_by_label("Token", exact=True)).to_have_attribute("type", "password")
    form.get_by_label("API URL").fill("http://127.0.0.1:9/api/v3")
    form.get_by_role("button", name="Create integration").click()
    expect(page.get_by_role("status").filter(has_text="GitHub Actions acme/web created")).to_be_visible()
    expect(form.get_by_label("Token", exact=True)).to_have_value("")
    assert token not in page.content()
    listed = api("GET", base, headers=w.owner.bearer)[2]["data"]
    assert sorted(i["type"] for i in listed) == ["aws_secrets_manager", "github_actions"]
    assert token not in str(listed)
    shot(page, "integrations")
    # Deleted after the confirmation
    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_role("button", name="Delete GitHub Actions acme/web").click()
    expect(page.get_by_role("status").filter(has_text="Integration GitHub Actions acme/web deleted")).to_be_visible()
    assert [i["type"] for i in api("GET", base, headers=w.owner.bearer)[2]["data"]] == ["aws_secrets_manager"]
