"""SSRF defence for webhook URLs: what `check_url` refuses and accepts, and `is_public_address`.

No test does real DNS: names go through an injected resolver, literal IPs are never resolved
(the resolver used for them fails the test if called).
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Callable

import pytest

from strongroom.security import netguard
from strongroom.security.netguard import UnsafeUrl, check_url, is_public_address

Resolver = Callable[[str, int], list[str]]


class FakeResolver:
    """Answers from a fixed table and records every lookup; an unknown name does not resolve."""

    def __init__(self, table: dict[str, list[str]] | None = None) -> None:
        self.table = table or {}
        self.calls: list[tuple[str, int]] = []

    def __call__(self, host: str, port: int) -> list[str]:
        self.calls.append((host, port))
        if host not in self.table:
            raise OSError("Name or service not known")
        return self.table[host]


def no_dns(host: str, port: int) -> list[str]:
    pytest.fail(f"unexpected resolution of {host}:{port}")


# (url, what the injected resolver answers for the URL's host (None: must not be resolved), reason)
# Refused whatever the mode: dev mode only relaxes loopback, and none of these is a loopback host.
REFUSED_ALWAYS: list[tuple[str, list[str] | None, str]] = [
    ("https://10.0.0.1/hook", None, "address is not public"),
    ("https://172.16.5.4/hook", None, "address is not public"),
    ("https://192.168.1.1/hook", None, "address is not public"),
    ("https://169.254.169.254/latest/meta-data/", None, "address is not public"),
    ("https://[fd00:ec2::254]/latest/meta-data/", None, "address is not public"),
    ("https://100.64.0.1/hook", None, "address is not public"),
    ("https://[::ffff:127.0.0.1]/hook", None, "address is not public"),
    ("https://[::ffff:169.254.169.254]/hook", None, "address is not public"),
    ("https://0.0.0.0/hook", None, "address is not public"),
    ("https://[::]/hook", None, "address is not public"),
    # Numeric forms libc reads as 127.0.0.1: refused before resolving, even if the resolver
    # (here answering like libc would) is never consulted.
    ("https://2130706433/hook", ["127.0.0.1"], "host is not a canonical IP address"),
    ("https://0177.0.0.1/hook", ["127.0.0.1"], "host is not a canonical IP address"),
    ("https://0x7f.0.0.1/hook", ["127.0.0.1"], "host is not a canonical IP address"),
    ("https://0x7f000001/hook", ["127.0.0.1"], "host is not a canonical IP address"),
    ("https://0X7F000001/hook", ["127.0.0.1"], "host is not a canonical IP address"),
    ("https://127.1/hook", ["127.0.0.1"], "host is not a canonical IP address"),
    ("https://127.0.0.1./hook", ["127.0.0.1"], "host is not a canonical IP address"),
    ("https://8.8.8.010/hook", ["8.8.8.8"], "host is not a canonical IP address"),
    ("https://example.0x1/hook", ["0.0.0.1"], "host is not a canonical IP address"),
    # Names whose addresses are not all public.
    ("https://rebind.example.com/hook", ["127.0.0.1"], "address is not public"),
    ("https://mixed.example.com/hook", ["93.184.216.34", "10.1.2.3"], "address is not public"),
    ("https://mixed6.example.com/hook", ["93.184.216.34", "fe80::1%eth0"], "address is not public"),
    ("https://metadata.google.internal/x", ["169.254.169.254"], "address is not public"),
    ("https://sub.localhost/hook", ["127.0.0.1"], "address is not public"),
    # http to anything but loopback, other schemes, credentials, no host, malformed.
    ("ftp://hooks.example.com/hook", ["93.184.216.34"], "scheme must be https"),
    ("file:///etc/passwd", None, "scheme must be https"),
    ("gopher://127.0.0.1:6379/_", None, "scheme must be https"),
    ("hooks.example.com/hook", None, "scheme must be https"),
    ("https://user:pw@example.com/hook", ["93.184.216.34"], "credentials in the URL are not allowed"),
    ("https://token@example.com/hook", ["93.184.216.34"], "credentials in the URL are not allowed"),
    ("https://example.com@127.0.0.1/hook", None, "credentials in the URL are not allowed"),
    ("https:///hook", None, "host is missing"),
    ("https:hook", None, "host is missing"),
    ("https://:443/hook", None, "host is missing"),
    ("https://hooks.example.com/hook#frag", ["93.184.216.34"], "fragments are not allowed"),
    ("https://hooks.example.com:0/hook", ["93.184.216.34"], "invalid port"),
    ("https://hooks.example.com:65536/hook", ["93.184.216.34"], "invalid port"),
    ("https://hooks.example.com:/hook", ["93.184.216.34"], "invalid port"),
    ("https://hooks.example.com:+443/hook", ["93.184.216.34"], "invalid port"),
    ("https://[::1]x/hook", None, "invalid port"),
    ("https://[fe80::1%25eth0]/hook", None, "scoped IPv6 addresses are not allowed"),
    ("https://%31%32%37.0.0.1/hook", None, "invalid host"),
    ("https://hooks..example.com/hook", None, "invalid host"),
    ("https://127.0.0.1\\@hooks.example.com/", None, "URL must be printable ASCII without spaces or backslashes"),
    ("https://hooks.example.com/a b", None, "URL must be printable ASCII without spaces or backslashes"),
    ("https://hooks.example.com/\n", None, "URL must be printable ASCII without spaces or backslashes"),
    (
        "https://\uff11\uff12\uff17.\uff10.\uff10.\uff11/",
        None,
        "URL must be printable ASCII without spaces or backslashes",
    ),
    ("https://hooks.example.com/" + "a" * 2030, ["93.184.216.34"], "URL is too long"),
    ("https://unknown.example.com/hook", [], "host does not resolve"),
]

# Loopback hosts: refused outside dev mode, accepted in it (see test_dev_mode_accepts_loopback).
LOOPBACK: list[tuple[str, list[str] | None, list[str]]] = [
    ("https://127.0.0.1/hook", None, ["127.0.0.1"]),
    ("https://127.8.9.10:8443/hook", None, ["127.8.9.10"]),
    ("https://[::1]/hook", None, ["::1"]),
    ("https://[0:0:0:0:0:0:0:1]/hook", None, ["::1"]),
    ("https://localhost/hook", ["127.0.0.1", "::1"], ["127.0.0.1", "::1"]),
]


def _resolver_for(url: str, answer: list[str] | None) -> Resolver:
    if answer is None:
        return no_dns
    host = url.split("://", 1)[-1].split("/", 1)[0].rsplit("@", 1)[-1].rsplit(":", 1)[0].lower()
    return FakeResolver({host: answer})


@pytest.mark.parametrize("dev", [False, True], ids=["prod", "dev"])
@pytest.mark.parametrize(("url", "answer", "reason"), REFUSED_ALWAYS)
def test_refused(url: str, answer: list[str] | None, reason: str, dev: bool) -> None:
    with pytest.raises(UnsafeUrl) as caught:
        check_url(url, allow_http_loopback=dev, resolve=_resolver_for(url, answer))
    assert caught.value.reason == reason
    assert str(caught.value) == reason
    assert isinstance(caught.value, ValueError)


@pytest.mark.parametrize(("url", "answer", "expected"), LOOPBACK)
def test_loopback_refused_outside_dev_mode(url: str, answer: list[str] | None, expected: list[str]) -> None:
    with pytest.raises(UnsafeUrl) as caught:
        check_url(url, resolve=_resolver_for(url, answer))
    assert caught.value.reason == "address is not public"


@pytest.mark.parametrize(("url", "answer", "expected"), LOOPBACK)
def test_dev_mode_accepts_loopback(url: str, answer: list[str] | None, expected: list[str]) -> None:
    assert check_url(url, allow_http_loopback=True, resolve=_resolver_for(url, answer)) == expected
    http_url = "http" + url.removeprefix("https")
    assert check_url(http_url, allow_http_loopback=True, resolve=_resolver_for(http_url, answer)) == expected


def test_dev_mode_http_to_loopback() -> None:
    assert check_url("http://127.0.0.1:8080/hook", allow_http_loopback=True, resolve=no_dns) == ["127.0.0.1"]
    resolver = FakeResolver({"localhost": ["127.0.0.1"]})
    assert check_url("http://localhost:9000/", allow_http_loopback=True, resolve=resolver) == ["127.0.0.1"]
    assert resolver.calls == [("localhost", 9000)]


def test_http_to_loopback_refused_outside_dev_mode() -> None:
    for url in ("http://127.0.0.1:8080/hook", "http://localhost:9000/", "http://[::1]/"):
        with pytest.raises(UnsafeUrl) as caught:
            check_url(url, resolve=FakeResolver({"localhost": ["127.0.0.1"]}))
        assert caught.value.reason == "scheme must be https"


def test_http_to_public_host_refused_outside_dev_mode() -> None:
    resolver = FakeResolver({"hooks.example.com": ["93.184.216.34"]})
    for url in ("http://hooks.example.com/hook", "http://8.8.8.8/hook"):
        with pytest.raises(UnsafeUrl) as caught:
            check_url(url, resolve=resolver)
        assert caught.value.reason == "scheme must be https"
    assert resolver.calls == []


def test_localhost_refused_outside_dev_mode_whatever_it_resolves_to() -> None:
    resolver = FakeResolver({"localhost": ["93.184.216.34"], "x.localhost": ["93.184.216.34"]})
    for url in ("https://localhost/hook", "https://LOCALHOST./hook", "https://x.localhost/hook"):
        with pytest.raises(UnsafeUrl) as caught:
            check_url(url, resolve=resolver)
        assert caught.value.reason == "address is not public"
    assert resolver.calls == []


def test_dev_mode_still_refuses_names_resolving_to_loopback() -> None:
    # Only `localhost` and loopback literals count as loopback hosts: a name that happens to
    # resolve to 127.0.0.1 (DNS rebinding) is refused in dev mode too, over http or https.
    resolver = FakeResolver({"rebind.example.com": ["127.0.0.1"]})
    with pytest.raises(UnsafeUrl) as caught:
        check_url("https://rebind.example.com/", allow_http_loopback=True, resolve=resolver)
    assert caught.value.reason == "address is not public"
    with pytest.raises(UnsafeUrl) as caught:
        check_url("http://rebind.example.com/", allow_http_loopback=True, resolve=resolver)
    assert caught.value.reason == "http is only allowed to loopback"


def test_dev_mode_http_to_public_host_refused() -> None:
    resolver = FakeResolver({"hooks.example.com": ["93.184.216.34"]})
    with pytest.raises(UnsafeUrl) as caught:
        check_url("http://hooks.example.com/x", allow_http_loopback=True, resolve=resolver)
    assert caught.value.reason == "http is only allowed to loopback"
    with pytest.raises(UnsafeUrl) as caught:
        check_url("http://8.8.8.8/x", allow_http_loopback=True, resolve=no_dns)
    assert caught.value.reason == "http is only allowed to loopback"


@pytest.mark.parametrize(
    "answer",
    [["127.0.0.1", "10.0.0.1"], ["93.184.216.34"], ["::ffff:127.0.0.1"], ["not-an-ip"]],
)
def test_dev_mode_localhost_must_resolve_to_loopback_only(answer: list[str]) -> None:
    with pytest.raises(UnsafeUrl) as caught:
        check_url("http://localhost:9000/", allow_http_loopback=True, resolve=FakeResolver({"localhost": answer}))
    assert caught.value.reason == "address is not loopback"


def test_accepts_public_name_and_returns_resolved_addresses() -> None:
    resolver = FakeResolver({"hooks.example.com": ["93.184.216.34"]})
    assert check_url("https://hooks.example.com/x", resolve=resolver) == ["93.184.216.34"]
    assert resolver.calls == [("hooks.example.com", 443)]


def test_accepts_every_public_address_of_a_name() -> None:
    answer = ["93.184.216.34", "2606:2800:220:1:248:1893:25c8:1946"]
    resolver = FakeResolver({"hooks.example.com": answer})
    assert check_url("https://Hooks.Example.com:8443/x?y=1", resolve=resolver) == answer
    assert resolver.calls == [("hooks.example.com", 8443)]


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("https://8.8.8.8/hook", ["8.8.8.8"]),
        ("https://[2001:4860:4860::8888]/hook", ["2001:4860:4860::8888"]),
        ("https://[::ffff:8.8.8.8]:8443/hook", ["::ffff:8.8.8.8"]),
    ],
)
def test_accepts_public_literal_without_resolving(url: str, expected: list[str]) -> None:
    assert check_url(url, resolve=no_dns) == expected


def test_dns_failure() -> None:
    with pytest.raises(UnsafeUrl) as caught:
        check_url("https://nowhere.example.com/", resolve=FakeResolver())
    assert caught.value.reason == "host does not resolve"


def test_default_resolver_uses_getaddrinfo(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[tuple[object, ...]] = []

    def fake_getaddrinfo(host: str, port: int, **kwargs: object) -> list[tuple[object, ...]]:
        calls.append((host, port, kwargs))
        return [
            (2, 1, 6, "", ("93.184.216.34", port)),
            (2, 1, 6, "", ("93.184.216.34", port)),
            (10, 1, 6, "", ("2606:2800:220:1:248:1893:25c8:1946", port, 0, 0)),
        ]

    monkeypatch.setattr(socket, "getaddrinfo", fake_getaddrinfo)
    assert check_url("https://hooks.example.com/x") == ["93.184.216.34", "2606:2800:220:1:248:1893:25c8:1946"]
    assert calls == [("hooks.example.com", 443, {"type": socket.SOCK_STREAM})]


def test_default_resolver_refuses_what_getaddrinfo_resolves_to_loopback(monkeypatch: pytest.MonkeyPatch) -> None:
    def fake_getaddrinfo(host: str, port: int, **kwargs: object) -> list[tuple[object, ...]]:
        return [(2, 1, 6, "", ("127.0.0.1", port))]

    monkeypatch.setattr(socket, "getaddrinfo", fake_getaddrinfo)
    with pytest.raises(UnsafeUrl) as caught:
        check_url("https://rebind.example.com/x")
    assert caught.value.reason == "address is not public"


def test_default_resolver_dns_failure(monkeypatch: pytest.MonkeyPatch) -> None:
    def fake_getaddrinfo(host: str, port: int, **kwargs: object) -> list[tuple[object, ...]]:
        raise socket.gaierror(-2, "Name or service not known")

    monkeypatch.setattr(socket, "getaddrinfo", fake_getaddrinfo)
    with pytest.raises(UnsafeUrl) as caught:
        check_url("https://nowhere.example.com/x")
    assert caught.value.reason == "host does not resolve"


def test_reason_does_not_repeat_the_url() -> None:
    url = "https://user:s3cr3t-token@example.com/hook?key=s3cr3t-token"
    with pytest.raises(UnsafeUrl) as caught:
        check_url(url, resolve=no_dns)
    assert "s3cr3t" not in str(caught.value)
    assert "s3cr3t" not in repr(caught.value)


@pytest.mark.parametrize(
    "ip",
    [
        "8.8.8.8",
        "1.1.1.1",
        "93.184.216.34",
        "2001:4860:4860::8888",
        "2606:4700:4700::1111",
        "::ffff:8.8.8.8",
        "64:ff9b::808:808",  # NAT64 to a public address
    ],
)
def test_public_addresses(ip: str) -> None:
    assert is_public_address(ip) is True


@pytest.mark.parametrize(
    "ip",
    [
        "127.0.0.1",
        "127.255.255.254",
        "::1",
        "10.0.0.1",
        "172.16.5.4",
        "172.31.255.255",
        "192.168.1.1",
        "169.254.169.254",
        "169.254.1.1",
        "fe80::1",
        "fe80::1%eth0",
        "100.64.0.1",
        "100.100.100.200",  # Alibaba metadata, in CGNAT
        "0.0.0.0",
        "0.1.2.3",
        "::",
        "224.0.0.1",
        "233.252.0.1",
        "ff02::1",
        "ff0e::1",
        "240.0.0.1",
        "255.255.255.255",
        "fd00:ec2::254",
        "fc00::1",
        "::ffff:127.0.0.1",
        "::ffff:10.0.0.1",
        "::ffff:169.254.169.254",
        "::127.0.0.1",  # IPv4-compatible
        "::8.8.8.8",  # IPv4-compatible, deprecated: refused outright
        "::ffff:0:127.0.0.1",  # IPv4-translated
        "2002:7f00:1::1",  # 6to4 embedding 127.0.0.1
        "2002:a00:1::1",  # 6to4 embedding 10.0.0.1
        "2001:0:4136:e378:8000:63bf:3fff:fdd2",  # Teredo
        "64:ff9b::7f00:1",  # NAT64 embedding 127.0.0.1
        "64:ff9b::a9fe:a9fe",  # NAT64 embedding 169.254.169.254
        "64:ff9b:1::1",  # local-use NAT64
        "192.0.2.1",
        "198.51.100.1",
        "203.0.113.1",
        "2001:db8::1",
        "3fff::1",
        "198.18.0.1",
        "198.19.255.255",
        "192.0.0.192",  # Oracle metadata, IETF protocol assignments
        "fec0::1",
        "100::1",
        "not-an-ip",
        "",
        "127.1",
        "2130706433",
        "0x7f000001",
        " 8.8.8.8",
    ],
)
def test_non_public_addresses(ip: str) -> None:
    assert is_public_address(ip) is False


@pytest.mark.parametrize(
    "network",
    [
        "0.0.0.0/8",
        "10.0.0.0/8",
        "100.64.0.0/10",
        "127.0.0.0/8",
        "169.254.0.0/16",
        "172.16.0.0/12",
        "192.0.2.0/24",
        "192.168.0.0/16",
        "198.18.0.0/15",
        "198.51.100.0/24",
        "203.0.113.0/24",
        "224.0.0.0/4",
        "255.255.255.255/32",
        "::/128",
        "::1/128",
        "2001:db8::/32",
        "fc00::/7",
        "fe80::/10",
        "ff00::/8",
    ],
)
def test_explicit_deny_list_does_not_rely_on_ipaddress_tables(network: str) -> None:
    # `is_global` and friends changed between Python releases; the explicit list is the floor.
    net = ipaddress.ip_network(network)
    denied = netguard._DENIED_V4 if isinstance(net, ipaddress.IPv4Network) else netguard._DENIED_V6
    assert any(net.subnet_of(d) for d in denied)  # type: ignore[arg-type]
