"""Strongroom as a SAML 2.0 service provider (an org's single sign-on, domain/sso_saml.py), with
python3-saml (xmlsec and lxml underneath: static wheels, no system library, no binary to shell out
to). Imported by the SAML routes only.

Per org, the SP's entityID is `<API_URL>/v1/sso/saml/metadata?org=<org id>` (where its metadata is
served) and its one Assertion Consumer Service is `<API_URL>/v1/sso/saml/acs` (HTTP-POST); requests
go out unsigned over HTTP-Redirect. A Response is accepted only when python3-saml in strict mode
says so: a signature (of the Response or of the Assertion; SHA-1 refused) that verifies with the
org's IdP certificate, Issuer = the IdP's entity id, Audience = our entityID, Destination and
Recipient = our ACS, NotBefore/NotOnOrAfter within the library's drift (300 s), InResponseTo = the
request named, a success status and a NameID. What a refusal says is fixed text: never the
assertion, never the library's message (it may quote the document)."""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from strongroom.errors import Invalid, Unauthorized
from strongroom.observability import logger

ACS_PATH = "/v1/sso/saml/acs"
METADATA_PATH = "/v1/sso/saml/metadata"
NAMEID_EMAIL = "urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress"
_POST = "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST"
_REDIRECT = "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect"
MAX_RESPONSE_BYTES = 256 * 1024


@dataclass(frozen=True, slots=True)
class Sp:
    entity_id: str
    acs_url: str


@dataclass(frozen=True, slots=True)
class Idp:
    entity_id: str
    sso_url: str
    x509_cert: str  # PEM


@dataclass(frozen=True, slots=True)
class Assertion:
    name_id: str
    assertion_id: str
    not_on_or_after: int | None  # epoch seconds, when the assertion said
    attributes: dict[str, list[str]]


def sp_for(api_url: str, org_id: str) -> Sp:
    base = api_url.rstrip("/")
    return Sp(entity_id=f"{base}{METADATA_PATH}?org={org_id}", acs_url=f"{base}{ACS_PATH}")


def normalized_cert(text: str) -> str:
    """The certificate as PEM, from PEM or bare base64 DER (400 when it is not an X.509 certificate)."""
    raw = text.strip()
    try:
        if raw.startswith("-----BEGIN CERTIFICATE-----"):
            cert = x509.load_pem_x509_certificate(raw.encode())
        else:
            cert = x509.load_der_x509_certificate(base64.b64decode("".join(raw.split()), validate=True))
    except (ValueError, binascii.Error):
        raise Invalid(
            "idp_x509_cert is not an X.509 certificate (PEM or base64 DER)",
            details={"fields": [{"field": "idp_x509_cert", "location": "body", "issue": "not a certificate"}]},
        ) from None
    return cert.public_bytes(Encoding.PEM).decode()


def _settings(sp: Sp, idp: Idp) -> Any:
    from onelogin.saml2.settings import OneLogin_Saml2_Settings  # noqa: PLC0415 - the SAML routes only

    return OneLogin_Saml2_Settings(
        {
            "strict": True,
            "debug": False,
            "sp": {
                "entityId": sp.entity_id,
                "assertionConsumerService": {"url": sp.acs_url, "binding": _POST},
                "NameIDFormat": NAMEID_EMAIL,
            },
            "idp": {
                "entityId": idp.entity_id,
                "singleSignOnService": {"url": idp.sso_url, "binding": _REDIRECT},
                "x509cert": idp.x509_cert,
            },
            "security": {
                "authnRequestsSigned": False,
                "wantAssertionsSigned": False,  # either the Response or the Assertion (always one)
                "wantMessagesSigned": False,
                "wantAssertionsEncrypted": False,
                "wantNameId": True,
                "wantNameIdEncrypted": False,
                "wantAttributeStatement": False,
                "requestedAuthnContext": False,
                "rejectDeprecatedAlgorithm": True,
                "signatureAlgorithm": "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256",
                "digestAlgorithm": "http://www.w3.org/2001/04/xmlenc#sha256",
            },
        },
        sp_validation_only=False,
    )


def metadata(sp: Sp, idp: Idp) -> str:
    """The SP's metadata XML (entityID, the ACS, NameID format)."""
    document = _settings(sp, idp).get_sp_metadata()
    return document.decode() if isinstance(document, bytes) else str(document)


@dataclass(frozen=True, slots=True)
class Request:
    id: str
    location: str  # the IdP's SSO URL with SAMLRequest (deflated, base64) and RelayState


def authn_request(sp: Sp, idp: Idp, relay_state: str) -> Request:
    from onelogin.saml2.authn_request import OneLogin_Saml2_Authn_Request  # noqa: PLC0415
    from onelogin.saml2.utils import OneLogin_Saml2_Utils  # noqa: PLC0415

    request = OneLogin_Saml2_Authn_Request(_settings(sp, idp))
    location = OneLogin_Saml2_Utils.redirect(
        idp.sso_url, {"SAMLRequest": request.get_request(deflate=True), "RelayState": relay_state}
    )
    return Request(id=str(request.get_id()), location=str(location))


def _refused() -> Unauthorized:
    return Unauthorized("the SAML response is not valid for this service provider", code="invalid_saml_response")


def in_response_to(saml_response: str) -> str:
    """The InResponseTo of a (base64) Response, read before it is verified: it names the request,
    hence the org whose certificate verifies it. 401 when there is none."""
    from onelogin.saml2.xml_utils import OneLogin_Saml2_XML  # noqa: PLC0415

    if len(saml_response) > MAX_RESPONSE_BYTES:
        raise _refused()
    try:
        document = OneLogin_Saml2_XML.to_etree(base64.b64decode(saml_response, validate=True))
    except Exception:  # noqa: BLE001 - any unreadable document is refused the same way
        raise _refused() from None
    value = document.get("InResponseTo")
    if not value or len(value) > 256:
        raise _refused()
    return str(value)


def verify(sp: Sp, idp: Idp, saml_response: str, request_id: str) -> Assertion:
    """The Response's assertion, if python3-saml in strict mode accepts it (see the module
    docstring); 401 `invalid_saml_response` otherwise."""
    from onelogin.saml2.response import OneLogin_Saml2_Response  # noqa: PLC0415

    acs = urlsplit(sp.acs_url)
    request_data = {
        "https": "on" if acs.scheme == "https" else "off",
        "http_host": acs.netloc,
        "script_name": acs.path,
        "get_data": {},
        "post_data": {"SAMLResponse": saml_response},
    }
    try:
        response = OneLogin_Saml2_Response(_settings(sp, idp), saml_response)
        response.is_valid(request_data, request_id=request_id, raise_exceptions=True)
        name_id = response.get_nameid()
        assertion_id = response.get_assertion_id()
        not_on_or_after = response.get_assertion_not_on_or_after()
        attributes = response.get_attributes()
    except Exception as exc:  # noqa: BLE001 - a malformed document is refused, never a 500
        # The library's code (a number) says which check failed; its message may quote the document.
        code = getattr(exc, "code", None)
        logger.info("saml response refused", extra={"error_type": type(exc).__name__, "code": code})
        raise _refused() from None
    if not name_id or not assertion_id:
        raise _refused()
    return Assertion(
        name_id=str(name_id),
        assertion_id=str(assertion_id),
        not_on_or_after=int(not_on_or_after) if not_on_or_after else None,
        attributes={str(k): [str(v) for v in vs] for k, vs in (attributes or {}).items()},
    )
