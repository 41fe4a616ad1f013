"""SAML single sign-on from the CLI, as a real process against the local server: `sso saml set`
(the certificate from a file), `show` (what the IdP needs of us), `metadata` (SP metadata XML),
`remove`; and `sso oidc remove`, the same verb for OIDC."""

from __future__ import annotations

import json
import secrets
from pathlib import Path

import pytest

from cli.conftest import CliRun
from support import SAML_CERT, Api

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
