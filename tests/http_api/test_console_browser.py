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
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyotp
import pytest
from playwright.sync_api import Browser, BrowserContext, ConsoleMessage, Page, Playwright, expect, sync_playwright

from strongroom_local import LocalStack
from support import seal, unique_email

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


def test_delete_history_and_rollback(page: Page, local_stack: str, api: Api) -> None:
    w = world(api, {"COLOR": "red", "OLD": "x"})
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
