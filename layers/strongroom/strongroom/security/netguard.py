"""SSRF defence for webhook URLs (standard library only).

`check_url` validates a URL a client asked us to call and returns the IP addresses it resolves to,
every one of them public. It refuses, raising `UnsafeUrl` with a short reason that never repeats
the URL (its path or query may hold a token):

- any scheme but `https` (`http` only in dev mode, and only to loopback), user info
  (`user:pass@`), fragments, URLs over 2048 characters or with anything but printable ASCII
  (IDN hosts must be written in punycode), a missing or malformed host, a port outside 1-65535;
- hosts that look like a numeric IPv4 address but are not the canonical dotted quad: libc reads
  `2130706433`, `0177.0.0.1`, `0x7f.0.0.1`, `0x7f000001` and `127.1` as 127.0.0.1, and browsers'
  URL parsers treat a host whose last label is numeric as an IPv4 address, so any such host is
  refused before resolving;
- `localhost` and `*.localhost` (RFC 6761) outside dev mode;
- a host any of whose addresses is not public (`is_public_address`). Literal IP hosts are not
  resolved; names are resolved (`socket.getaddrinfo`, or the injected `resolve`) and every
  address is checked, so a name pointing at an internal address is refused.

Dev mode (`allow_http_loopback=True`) additionally accepts `http` or `https` to a loopback host:
a 127.0.0.0/8 or ::1 literal, or `localhost` when everything it resolves to is loopback. Private,
link-local, metadata and other non-public addresses are still refused there, and so is a name
other than `localhost` that resolves to loopback.

The caller must connect to one of the returned addresses (sending the original host name for TLS
and the Host header) rather than resolving the name again, otherwise DNS rebinding can swap in an
internal address between the check and the request. Redirects must not be followed (or each
target must be checked again).
"""

from __future__ import annotations

import ipaddress
import re
import socket
import urllib.parse
from collections.abc import Callable

__all__ = ["UnsafeUrl", "check_url", "is_public_address"]

MAX_URL_LENGTH = 2048

_IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

_AWS_METADATA_V4 = ipaddress.IPv4Address("169.254.169.254")
_AWS_METADATA_V6 = ipaddress.IPv6Address("fd00:ec2::254")

# Refused even where `ipaddress` calls them global (it changes between Python versions): this list
# is the floor, `is_global` and the other properties are checked as well.
_DENIED_V4 = tuple(
    ipaddress.IPv4Network(net)
    for net in (
        "0.0.0.0/8",  # "this network", includes unspecified
        "10.0.0.0/8",  # private
        "100.64.0.0/10",  # carrier-grade NAT (also Alibaba's metadata 100.100.100.200)
        "127.0.0.0/8",  # loopback
        "169.254.0.0/16",  # link-local, cloud metadata (169.254.169.254)
        "172.16.0.0/12",  # private
        "192.0.0.0/24",  # IETF protocol assignments (Oracle's metadata 192.0.0.192)
        "192.0.2.0/24",  # documentation TEST-NET-1
        "192.88.99.0/24",  # deprecated 6to4 relay anycast
        "192.168.0.0/16",  # private
        "198.18.0.0/15",  # benchmarking
        "198.51.100.0/24",  # documentation TEST-NET-2
        "203.0.113.0/24",  # documentation TEST-NET-3
        "224.0.0.0/4",  # multicast
        "240.0.0.0/4",  # reserved, includes broadcast 255.255.255.255
    )
)
_DENIED_V6 = tuple(
    ipaddress.IPv6Network(net)
    for net in (
        "::/96",  # unspecified, loopback, deprecated IPv4-compatible
        "::ffff:0:0:0/96",  # IPv4-translated (SIIT)
        "64:ff9b:1::/48",  # local-use NAT64
        "100::/64",  # discard-only
        "2001::/32",  # Teredo
        "2001:db8::/32",  # documentation
        "2002::/16",  # 6to4
        "3fff::/20",  # documentation (RFC 9637)
        "5f00::/16",  # SRv6 SIDs
        "fc00::/7",  # unique local, includes AWS's metadata fd00:ec2::254
        "fe80::/10",  # link-local
        "fec0::/10",  # deprecated site-local
        "ff00::/8",  # multicast
    )
)
_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")
_LOOPBACK_V4 = ipaddress.IPv4Network("127.0.0.0/8")
_LOOPBACK_V6 = ipaddress.IPv6Address("::1")

_DNS_NAME = re.compile(r"[a-z0-9_-]{1,63}(?:\.[a-z0-9_-]{1,63})*\.?")
_NUMERIC_LABEL = re.compile(r"0x[0-9a-f]*|[0-9]+")
_PORT = re.compile(r"[0-9]{1,5}")


class UnsafeUrl(ValueError):
    """A webhook URL that must not be called; `reason` is short and never repeats the URL."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def is_public_address(ip: str) -> bool:
    """Whether `ip` (an address string) is a public unicast address it is safe to send requests to.

    False for anything that does not parse (including scoped IPv6 such as `fe80::1%eth0`), loopback,
    private, link-local, CGNAT, unspecified, multicast, reserved, broadcast, documentation,
    benchmarking, unique-local, cloud metadata addresses, and IPv6 addresses that embed a non-public
    IPv4 address (IPv4-mapped, NAT64, 6to4, Teredo; IPv4-compatible and IPv4-translated are refused
    outright).
    """
    if "%" in ip:
        return False
    try:
        address = ipaddress.ip_address(ip)
    except ValueError:
        return False
    return _is_public(address)


def _is_public(address: _IPAddress) -> bool:
    if isinstance(address, ipaddress.IPv6Address):
        if address.scope_id is None and address.ipv4_mapped is not None:
            return _is_public(address.ipv4_mapped)
        if address.scope_id is None and address in _NAT64:
            # The well-known NAT64 prefix reaches the IPv4 address in its last 32 bits.
            return _is_public(ipaddress.IPv4Address(int(address) & 0xFFFFFFFF))
        embedded = [address.sixtofour] if address.sixtofour is not None else []
        embedded += address.teredo or ()
        if (
            address.scope_id is not None
            or not all(_is_public(v4) for v4 in embedded)
            or address == _AWS_METADATA_V6
            or any(address in net for net in _DENIED_V6)
        ):
            return False
    elif address == _AWS_METADATA_V4 or any(address in net for net in _DENIED_V4):
        return False
    return (
        address.is_global
        and not address.is_private
        and not address.is_loopback
        and not address.is_link_local
        and not address.is_multicast
        and not address.is_reserved
        and not address.is_unspecified
    )


def _is_loopback(address: _IPAddress) -> bool:
    if isinstance(address, ipaddress.IPv6Address):
        return address == _LOOPBACK_V6 and address.scope_id is None
    return address in _LOOPBACK_V4


def _resolve(host: str, port: int) -> list[str]:
    """Every address `host` resolves to for a TCP connection, in order, without duplicates."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


def _split_netloc(netloc: str) -> tuple[str, int | None]:
    """The host (brackets removed, lowercased) and port of a netloc without user info."""
    if netloc.startswith("["):
        host, bracket, rest = netloc[1:].partition("]")
        if not bracket or ":" not in host:
            raise UnsafeUrl("invalid host")
    else:
        host, colon, port_text = netloc.partition(":")
        rest = colon + port_text
    if not host:
        raise UnsafeUrl("host is missing")
    if not rest:
        return host.lower(), None
    if not rest.startswith(":") or not _PORT.fullmatch(rest[1:]):
        raise UnsafeUrl("invalid port")
    port = int(rest[1:])
    if not 1 <= port <= 65535:
        raise UnsafeUrl("invalid port")
    return host.lower(), port


def _looks_numeric(host: str) -> bool:
    """Whether a URL parser would take `host` for an IPv4 address (its last label is numeric)."""
    return _NUMERIC_LABEL.fullmatch(host.removesuffix(".").rsplit(".", 1)[-1]) is not None


def _split_url(url: str, *, allow_http: bool) -> tuple[str, str, int]:
    """The scheme, host (lowercased, without brackets) and port (defaulted) of an acceptable URL."""
    if len(url) > MAX_URL_LENGTH:
        raise UnsafeUrl("URL is too long")
    if not url.isascii() or not url.isprintable() or " " in url or "\\" in url:
        raise UnsafeUrl("URL must be printable ASCII without spaces or backslashes")
    if "#" in url:
        raise UnsafeUrl("fragments are not allowed")
    try:
        parts = urllib.parse.urlsplit(url)
    except ValueError:
        raise UnsafeUrl("invalid URL") from None
    if parts.scheme not in {"https", "http"} or (parts.scheme == "http" and not allow_http):
        raise UnsafeUrl("scheme must be https")
    if "@" in parts.netloc:
        raise UnsafeUrl("credentials in the URL are not allowed")
    if not parts.netloc:
        raise UnsafeUrl("host is missing")
    host, port = _split_netloc(parts.netloc)
    if port is None:
        port = 443 if parts.scheme == "https" else 80
    return parts.scheme, host, port


def _literal(host: str) -> _IPAddress | None:
    """The address a literal IP host stands for, None for a DNS name; refuses anything else."""
    if ":" in host:
        if "%" in host:
            raise UnsafeUrl("scoped IPv6 addresses are not allowed")
        try:
            return ipaddress.IPv6Address(host)
        except ValueError:
            raise UnsafeUrl("invalid host") from None
    if not _DNS_NAME.fullmatch(host) or len(host) > 254:
        raise UnsafeUrl("invalid host")
    if not _looks_numeric(host):
        return None
    try:
        return ipaddress.IPv4Address(host)
    except ValueError:
        raise UnsafeUrl("host is not a canonical IP address") from None


def _is_loopback_host(host: str, literal: _IPAddress | None, *, allow_localhost: bool) -> bool:
    """Whether the host names loopback: a loopback literal, or `localhost` (only when allowed)."""
    if literal is not None:
        return _is_loopback(literal)
    name = host.removesuffix(".")
    if name == "localhost" or name.endswith(".localhost"):
        if not allow_localhost or name != "localhost":
            raise UnsafeUrl("address is not public")
        return True
    return False


def _check_loopback(address: str) -> None:
    try:
        parsed = ipaddress.ip_address(address)
    except ValueError:
        raise UnsafeUrl("address is not loopback") from None
    if not _is_loopback(parsed):
        raise UnsafeUrl("address is not loopback")


def check_url(
    url: str,
    *,
    allow_http_loopback: bool = False,
    resolve: Callable[[str, int], list[str]] | None = None,
) -> list[str]:
    """Validate a webhook URL and return the IP addresses it may be sent to (the resolved ones, all safe).

    Raises UnsafeUrl otherwise. `allow_http_loopback` is dev mode: http and https to a loopback
    host are then accepted. `resolve(host, port)` replaces the DNS lookup (tests inject one).
    """
    scheme, host, port = _split_url(url, allow_http=allow_http_loopback)
    literal = _literal(host)
    loopback_host = _is_loopback_host(host, literal, allow_localhost=allow_http_loopback)
    dev_loopback = allow_http_loopback and loopback_host
    if scheme == "http" and not dev_loopback:
        raise UnsafeUrl("http is only allowed to loopback")

    if literal is not None:
        addresses = [str(literal)]
    else:
        try:
            addresses = list((resolve or _resolve)(host, port))
        except (OSError, UnicodeError, ValueError):
            raise UnsafeUrl("host does not resolve") from None
        if not addresses:
            raise UnsafeUrl("host does not resolve")

    for address in addresses:
        if dev_loopback:
            _check_loopback(address)
        elif not is_public_address(address):
            raise UnsafeUrl("address is not public")
    return addresses
