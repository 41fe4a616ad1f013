"""A SAML 2.0 identity provider for the tests: it reads our AuthnRequest (HTTP-Redirect: base64 of
raw DEFLATE) and answers a Response whose Assertion it signs with `signxml` (an implementation
independent of python3-saml/xmlsec, which verify it), the `<Signature>` right after the
Assertion's `<Issuer>` as SAML's schema wants. Each test builds the Response it needs by changing
one thing (audience, times, InResponseTo, the signing key, the NameID after signing)."""

from __future__ import annotations

import base64
import datetime
import secrets
import zlib
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID
from lxml import etree
from signxml import SignatureConstructionMethod, XMLSigner

SAMLP = "urn:oasis:names:tc:SAML:2.0:protocol"
SAML = "urn:oasis:names:tc:SAML:2.0:assertion"
DS = "http://www.w3.org/2000/09/xmldsig#"


@dataclass(frozen=True)
class KeyPair:
    key: rsa.RSAPrivateKey
    cert_pem: str

    @classmethod
    def new(cls, name: str = "Test IdP") -> KeyPair:
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
        now = datetime.datetime.now(datetime.UTC)
        cert = (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(days=1))
            .not_valid_after(now + datetime.timedelta(days=30))
            .sign(key, hashes.SHA256())
        )
        return cls(key=key, cert_pem=cert.public_bytes(serialization.Encoding.PEM).decode())


def authn_request(location: str) -> tuple[etree._Element, str | None]:
    """The AuthnRequest a redirect carries (inflated, parsed) and its RelayState."""
    query = parse_qs(urlsplit(location).query)
    raw = zlib.decompress(base64.b64decode(query["SAMLRequest"][0]), -15)
    parser = etree.XMLParser(resolve_entities=False, no_network=True)
    relay = query.get("RelayState", [None])[0]
    return etree.fromstring(raw, parser), relay


def _iso(moment: datetime.datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass
class Idp:
    entity_id: str = field(default_factory=lambda: f"https://idp-{secrets.token_hex(4)}.test/saml")
    keys: KeyPair = field(default_factory=KeyPair.new)

    @property
    def sso_url(self) -> str:
        return self.entity_id.replace("/saml", "/sso")

    def response(
        self,
        *,
        name_id: str,
        in_response_to: str,
        audience: str,
        acs: str,
        assertion_id: str | None = None,
        not_before: datetime.timedelta = datetime.timedelta(minutes=-1),
        not_on_or_after: datetime.timedelta = datetime.timedelta(minutes=5),
        signer: KeyPair | None = None,
        tamper_name_id: str | None = None,
    ) -> str:
        """A base64 Response whose Assertion is signed (by `signer`, else the IdP's key); times are
        relative to now; `tamper_name_id` changes the NameID after signing."""
        now = datetime.datetime.now(datetime.UTC)
        nsmap = {"samlp": SAMLP, "saml": SAML}
        response = etree.Element(
            f"{{{SAMLP}}}Response",
            nsmap=nsmap,
            ID=f"_r{secrets.token_hex(16)}",
            Version="2.0",
            IssueInstant=_iso(now),
            Destination=acs,
            InResponseTo=in_response_to,
        )
        etree.SubElement(response, f"{{{SAML}}}Issuer").text = self.entity_id
        status = etree.SubElement(response, f"{{{SAMLP}}}Status")
        etree.SubElement(status, f"{{{SAMLP}}}StatusCode", Value="urn:oasis:names:tc:SAML:2.0:status:Success")
        assertion = etree.SubElement(
            response,
            f"{{{SAML}}}Assertion",
            ID=assertion_id or f"_a{secrets.token_hex(16)}",
            Version="2.0",
            IssueInstant=_iso(now),
        )
        etree.SubElement(assertion, f"{{{SAML}}}Issuer").text = self.entity_id
        etree.SubElement(assertion, f"{{{DS}}}Signature", Id="placeholder", nsmap={"ds": DS})
        subject = etree.SubElement(assertion, f"{{{SAML}}}Subject")
        name = etree.SubElement(
            subject, f"{{{SAML}}}NameID", Format="urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress"
        )
        name.text = name_id
        confirmation = etree.SubElement(
            subject, f"{{{SAML}}}SubjectConfirmation", Method="urn:oasis:names:tc:SAML:2.0:cm:bearer"
        )
        etree.SubElement(
            confirmation,
            f"{{{SAML}}}SubjectConfirmationData",
            InResponseTo=in_response_to,
            Recipient=acs,
            NotOnOrAfter=_iso(now + not_on_or_after),
        )
        conditions = etree.SubElement(
            assertion,
            f"{{{SAML}}}Conditions",
            NotBefore=_iso(now + not_before),
            NotOnOrAfter=_iso(now + not_on_or_after),
        )
        restriction = etree.SubElement(conditions, f"{{{SAML}}}AudienceRestriction")
        etree.SubElement(restriction, f"{{{SAML}}}Audience").text = audience
        statement = etree.SubElement(
            assertion, f"{{{SAML}}}AuthnStatement", AuthnInstant=_iso(now), SessionIndex=f"_s{secrets.token_hex(8)}"
        )
        context = etree.SubElement(statement, f"{{{SAML}}}AuthnContext")
        etree.SubElement(
            context, f"{{{SAML}}}AuthnContextClassRef"
        ).text = "urn:oasis:names:tc:SAML:2.0:ac:classes:PasswordProtectedTransport"
        keys = signer or self.keys
        signed = XMLSigner(
            method=SignatureConstructionMethod.enveloped,
            signature_algorithm="rsa-sha256",
            digest_algorithm="sha256",
            c14n_algorithm="http://www.w3.org/2001/10/xml-exc-c14n#",
        ).sign(assertion, key=keys.key, cert=keys.cert_pem, reference_uri=assertion.get("ID"))
        response.replace(assertion, signed)
        if tamper_name_id is not None:
            signed.find(f".//{{{SAML}}}NameID").text = tamper_name_id  # type: ignore[union-attr]
        return base64.b64encode(etree.tostring(response)).decode()


def acs_form(api: Any, org_id: str, idp: Idp, email: str) -> bytes:
    """A sign-in's HTTP-POST form for our ACS: authorize's AuthnRequest, answered by `idp` for
    `email` (`api`: the tests' HTTP call)."""
    status, headers, _ = api("GET", f"/v1/sso/saml/authorize?org={org_id}")
    assert status == 302, status
    request, _relay = authn_request(headers["location"])
    sp_entity_id = request.findtext(f"{{{SAML}}}Issuer")
    saml_response = idp.response(
        name_id=email,
        in_response_to=str(request.get("ID")),
        audience=str(sp_entity_id),
        acs=str(request.get("AssertionConsumerServiceURL")),
    )
    return urlencode({"SAMLResponse": saml_response}).encode()
