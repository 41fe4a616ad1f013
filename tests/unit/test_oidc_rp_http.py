"""Single sign-on's calls to an issuer over https (security/oidc_rp.py `_request`): connected to the
address netguard checked, with the issuer's name as TLS SNI and Host, so that the certificate is
verified for the name, not the address; and netguard's refusals. A TLS server of the test's own on
loopback (dev mode: loopback allowed), with a certificate for `localhost` from a CA made here."""

from __future__ import annotations

import datetime
import ssl
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from strongroom.errors import Unavailable, Unprocessable
from strongroom.security import netguard, oidc_rp


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    monkeypatch.setenv("TABLE_NAME", "unit-table")
    monkeypatch.setenv("KMS_KEY_ID", "unit-key")
    monkeypatch.setenv("CURSOR_SIGNING_KEY", "unit-cursor-signing-key")
    monkeypatch.delenv("OIDC_ISSUER", raising=False)
    monkeypatch.delenv("OIDC_AUDIENCE", raising=False)
    monkeypatch.setenv("AUTH_MODE", "dev")
    return monkeypatch


def _certificate(tmp: Path, name: str) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = tmp / f"{name}.pem", tmp / f"{name}.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return cert_path, key_path


@pytest.fixture
def tls_issuer(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[str, list[str]]]:
    """https://localhost:<port> (its certificate names localhost only), trusted by oidc_rp; yields
    its URL and the Host headers it received."""
    cert, key = _certificate(tmp_path, "localhost")
    hosts: list[str] = []

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            hosts.append(str(self.headers["Host"]))
            body = b'{"ok": true}'
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *_args: object) -> None:
            pass

    server = HTTPServer(("127.0.0.1", 0), Handler)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    monkeypatch.setattr(oidc_rp, "tls_verify", ssl.create_default_context(cafile=str(cert)))
    try:
        yield f"https://localhost:{server.server_address[1]}", hosts
    finally:
        server.shutdown()
        server.server_close()


def test_https_verifies_the_issuers_name_on_the_checked_address(
    env: pytest.MonkeyPatch, tls_issuer: tuple[str, list[str]]
) -> None:
    url, hosts = tls_issuer
    response = oidc_rp._request("GET", f"{url}/.well-known/openid-configuration")
    assert response.status_code == 200
    assert response.json() == {"ok": True}
    assert hosts == [url.removeprefix("https://")]  # the name, not the address netguard connected to


def test_the_next_checked_address_is_tried_when_one_does_not_connect(
    env: pytest.MonkeyPatch, tls_issuer: tuple[str, list[str]]
) -> None:
    url, hosts = tls_issuer
    # localhost resolves to a loopback address nothing listens on first (as ::1 may), then the server's.
    env.setattr(netguard, "_resolve", lambda _host, _port: ["127.0.0.2", "127.0.0.1"])
    assert oidc_rp._request("GET", f"{url}/x").status_code == 200
    assert len(hosts) == 1
    env.setattr(netguard, "_resolve", lambda _host, _port: ["127.0.0.2"])
    with pytest.raises(Unavailable):
        oidc_rp._request("GET", f"{url}/x")


def test_a_certificate_not_for_the_name_is_unavailable(
    env: pytest.MonkeyPatch, tls_issuer: tuple[str, list[str]]
) -> None:
    url, hosts = tls_issuer
    # The same server by its address: the certificate names localhost, not 127.0.0.1.
    with pytest.raises(Unavailable) as refused:
        oidc_rp._request("GET", url.replace("localhost", "127.0.0.1") + "/x")
    assert refused.value.code == "idp_unavailable"
    assert hosts == []


def test_an_untrusted_certificate_is_unavailable(env: pytest.MonkeyPatch, tls_issuer: tuple[str, list[str]]) -> None:
    url, _hosts = tls_issuer
    env.setattr(oidc_rp, "tls_verify", True)  # the public trust store: it knows no test CA
    with pytest.raises(Unavailable):
        oidc_rp._request("GET", f"{url}/x")


@pytest.mark.parametrize(
    "url",
    ["http://localhost:9/x", "https://127.0.0.1:9/x", "https://10.0.0.1/x", "https://169.254.169.254/latest"],
)
def test_outside_dev_mode_only_public_https_is_called(env: pytest.MonkeyPatch, url: str) -> None:
    env.setenv("AUTH_MODE", "oidc")
    with pytest.raises(Unprocessable) as refused:
        oidc_rp._request("GET", url)
    assert refused.value.code == "issuer_refused"
