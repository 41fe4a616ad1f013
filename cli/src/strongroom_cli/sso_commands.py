"""The CLI's SAML 2.0 single sign-on: `sso saml set|show|remove|metadata` (owners; --org), and
`sso oidc remove` beside `sso oidc delete` (the issue's verb for both methods)."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from strongroom_cli.commands import State, _org, emit, fail, sso, sso_oidc, sso_oidc_delete

_SAML = ["idp_entity_id", "idp_sso_url", "domains", "default_role", "sp_entity_id", "acs_url", "updated_at"]

sso_oidc.add_command(sso_oidc_delete, name="remove")


@sso.group("saml")
def sso_saml() -> None:
    """SAML 2.0: the org's identity provider (entity id, SSO URL, signing certificate), email
    domains and first sign-in role. Give the IdP the answer's sp_entity_id and acs_url (or its
    metadata: `strongroom sso saml metadata`)."""


def _certificate(source: str) -> str:
    """The certificate's text: a PEM (or base64 DER) file, or `-` for stdin."""
    text = sys.stdin.read() if source == "-" else Path(source).read_text(encoding="utf-8")
    if not text.strip():
        fail("the certificate is empty", 2)
    return text.strip()


@sso_saml.command("set")
@click.option("--idp-entity-id", required=True, help="The IdP's entity id (the Issuer of its Responses)")
@click.option("--idp-sso-url", required=True, help="Its SingleSignOnService URL (HTTP-Redirect binding)")
@click.option("--idp-cert", "cert", required=True, help="Its signing certificate: a PEM file, or - for stdin")
@click.option("--domain", "domains", multiple=True, required=True, help="Repeated: the email domains it takes")
@click.option("--default-role", required=True, help="The role of a first sign-in (not owner)")
@click.pass_obj
def sso_saml_set(
    state: State, idp_entity_id: str, idp_sso_url: str, cert: str, domains: tuple[str, ...], default_role: str
) -> None:
    """Create or replace the org's SAML configuration."""
    body = {
        "idp_entity_id": idp_entity_id,
        "idp_sso_url": idp_sso_url,
        "idp_x509_cert": _certificate(cert),
        "domains": list(domains),
        "default_role": default_role,
    }
    emit(state, state.call("PUT", f"/v1/orgs/{_org(state)}/sso/saml", body=body), _SAML)


@sso_saml.command("show")
@click.pass_obj
def sso_saml_show(state: State) -> None:
    """The configuration, and what the IdP needs of us (sp_entity_id, acs_url, metadata_url)."""
    emit(state, state.call("GET", f"/v1/orgs/{_org(state)}/sso/saml"), [*_SAML, "metadata_url"])


@sso_saml.command("remove")
@click.pass_obj
def sso_saml_remove(state: State) -> None:
    """Remove it: its domains sign in this way no more (members stay)."""
    state.call("DELETE", f"/v1/orgs/{_org(state)}/sso/saml")
    emit(state, {"method": "saml", "deleted": True}, ["method", "deleted"])


@sso_saml.command("metadata")
@click.pass_obj
def sso_saml_metadata(state: State) -> None:
    """The org's SP metadata XML, for the IdP (public; -o json wraps it as {org, metadata})."""
    org = _org(state)
    xml = state.call("GET", f"/v1/sso/saml/metadata?org={org}")
    if state.output:
        emit(state, {"org": org, "metadata": xml}, ["org", "metadata"])
        return
    click.echo(xml, nl=not str(xml).endswith("\n"))
