"""SAML single sign-on from the CLI, as a real process against the local server: `sso saml set`
(the certificate from a file), `show` (what the IdP needs of us), `metadata` (SP metadata XML),
`remove`; `sso oidc remove`, the same verb for OIDC; and `login --sso`, a device login whose
browser signs in through the org's single sign-on (the test IdP of tests/saml_idp.py) and
approves the code on the console's device page."""

from __future__ import annotations

import json
import secrets
import subprocess
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from cli.conftest import CLI, CliRun
from saml_idp import Idp, authn_request
from support import SAML_CERT, Api, cookie_of

pytestmark = pytest.mark.http


def test_saml_single_sign_on_from_the_cli(cli: CliRun, api: Api, tmp_path: Path) -> None:
    email, org = f"saml-{secrets.token_hex(3)}@example.com", f"saml-{secrets.token_hex(3)}"
    cli("login", "--dev-user", email)
    cli("orgs", "create", "SAML", "--slug", org)
    cert = tmp_path / "idp.pem"
    cert.write_text(SAML_CERT)
    domain = f"{org}.test"
    args = ["--org", org, "sso", "saml", "set", "--idp-entity-id", "https://idp.example.test/saml"]
    args += ["--idp-sso-url", "https://idp.example.test/sso", "--idp-cert", str(cert)]
    created = json.loads(cli(*args, "--domain", domain, "--default-role", "developer", "--json").stdout)
    assert created["domains"] == [domain]
    assert created["acs_url"].endswith("/v1/sso/saml/acs")
    shown = json.loads(cli("--org", org, "sso", "saml", "show", "-o", "json").stdout)
    assert shown["sp_entity_id"] == created["sp_entity_id"]
    assert api("GET", f"/v1/sso/by-domain?domain={domain}")[2]["methods"] == ["saml"]
    metadata = cli("--org", org, "sso", "saml", "metadata").stdout
    assert f'entityID="{created["sp_entity_id"]}"' in metadata.replace("&amp;", "&")
    wrapped = json.loads(cli("--org", org, "sso", "saml", "metadata", "--json").stdout)
    assert wrapped["org"] == org
    assert wrapped["metadata"].startswith("<?xml")
    assert "AssertionConsumerService" in wrapped["metadata"]
    refused = cli(*args, "--domain", domain, "--default-role", "owner", check=False)
    assert refused.returncode != 0
    assert "default_role" in refused.stderr
    assert json.loads(cli("--org", org, "sso", "saml", "remove", "--json").stdout) == {
        "method": "saml",
        "deleted": True,
    }
    assert cli("--org", org, "sso", "saml", "show", check=False).returncode != 0
    # The same verb for OIDC
    oidc = ["--org", org, "sso", "oidc", "set", "--issuer", "https://idp.example.test", "--client-id", "cli"]
    cli(*oidc, "--domain", domain, "--default-role", "viewer", "--client-secret-stdin", stdin="s3cret\n")
    assert json.loads(cli("--org", org, "sso", "oidc", "remove", "--json").stdout)["deleted"] is True


def test_login_with_single_sign_on(cli: CliRun, cli_env: dict[str, str], api: Api, local_stack: str) -> None:
    owner, idp, domain = f"owner-{secrets.token_hex(3)}@example.com", Idp(), f"sso-{secrets.token_hex(4)}.test"
    org = api("POST", "/v1/orgs", user=owner, json={"name": "Login SSO"})[2]["id"]
    configured = {"idp_entity_id": idp.entity_id, "idp_sso_url": idp.sso_url, "idp_x509_cert": idp.keys.cert_pem}
    status, _h, saml = api(
        "PUT",
        f"/v1/orgs/{org}/sso/saml",
        user=owner,
        json={**configured, "domains": [domain], "default_role": "viewer"},
    )
    assert status == 200, saml
    email = f"ana-{secrets.token_hex(3)}@{domain}"
    login = subprocess.Popen(
        [CLI, "login", "--sso", "--email", email.upper(), "--no-browser", "--poll-timeout", "60"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=cli_env,
    )
    assert login.stdout is not None
    code = login.stdout.readline().split()[1]
    url_line = login.stdout.readline()
    assert url_line.startswith(f"URL {local_stack}/v1/sso/saml/authorize?")
    # the browser: the org's IdP, then the console's device page with the code filled in
    started = httpx.get(url_line.split()[1], follow_redirects=False)
    assert started.status_code == 302, started.text
    request_id = str(authn_request(started.headers["location"])[0].get("ID"))
    landed = httpx.post(
        saml["acs_url"],
        data={"RelayState": org, "SAMLResponse": idp.response(
            name_id=email, in_response_to=request_id, audience=saml["sp_entity_id"], acs=saml["acs_url"]
        )},
        follow_redirects=False,
    )  # fmt: skip
    assert landed.status_code == 303, landed.text
    page = urlsplit(landed.headers["location"])
    assert (page.path, parse_qs(page.query)["user_code"]) == ("/device", [code])
    session = cookie_of(landed, "sr_session")
    assert session
    approved = httpx.post(
        f"{local_stack}/v1/auth/device/approve",
        json={"user_code": code},
        cookies={"sr_session": session},
        headers={"X-Requested-With": "strongroom"},
    )
    assert approved.status_code == 204, approved.text
    assert login.wait(timeout=60) == 0, login.stderr.read() if login.stderr else ""
    me = json.loads(cli("--json", "whoami").stdout)
    assert me["email"] == email
    assert [o["id"] for o in json.loads(cli("--json", "orgs", "list").stdout)] == [org]


def test_login_with_single_sign_on_needs_a_domain_that_has_it(cli: CliRun) -> None:
    nowhere = cli("login", "--sso", "--email", f"x@none-{secrets.token_hex(3)}.test", "--no-browser", check=False)
    assert (nowhere.returncode, "no single sign-on is set up" in nowhere.stderr) == (1, True)
    no_email = cli("login", "--sso", check=False)
    assert (no_email.returncode, "--sso takes --email" in no_email.stderr) == (2, True)
