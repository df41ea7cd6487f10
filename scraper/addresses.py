"""What an address is: public or not, however a URL spells it, and the entries of
``allow_private_addresses``. Only the standard library: the configuration validates its
allow list with this without loading Scrapy and Twisted, which the address guard that
enforces it (scraper.guard, where the rules are described) needs."""

from __future__ import annotations

import ipaddress
import re
import socket
from dataclasses import dataclass

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")
_SHARED = ipaddress.IPv4Network("100.64.0.0/10")
# Legacy IPv4 spellings that inet_aton (and so getaddrinfo) accepts: 127.1, 2130706433,
# 0x7f.1, 0177.0.0.1. A host made only of these characters is an address, not a name.
_NUMERIC_HOST = re.compile(r"^(?:0x[0-9a-f]*|[0-9]+)(?:\.(?:0x[0-9a-f]*|[0-9]+)){0,3}\.?$")


# --- what is public ------------------------------------------------------------------------


def embedded_ipv4(address: IPAddress) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 address stands for, if it is one of the forms that
    reach an IPv4 host (mapped, compatible, 6to4, NAT64)."""
    if isinstance(address, ipaddress.IPv4Address):
        return None
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address.sixtofour is not None:
        return address.sixtofour
    if address in _NAT64:
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    if int(address) >> 32 == 0 and int(address) > 1:  # ::a.b.c.d, deprecated "compatible"
        return ipaddress.IPv4Address(int(address))
    return None


def is_public(address: IPAddress) -> bool:
    """True for an address on the public internet; False for loopback, private,
    link-local, shared, multicast, reserved and unspecified ones (and IPv6 forms of them)."""
    inner = embedded_ipv4(address)
    if inner is not None:
        return is_public(inner)
    if isinstance(address, ipaddress.IPv4Address) and address in _SHARED:
        return False
    return address.is_global and not (
        address.is_multicast
        or address.is_reserved
        or address.is_loopback
        or address.is_link_local
        or address.is_unspecified
        or address.is_private
    )


def literal_address(host: str) -> IPAddress | None:
    """The address a URL's host spells, in any spelling a resolver accepts; None for
    a host name."""
    host = host.strip("[]").lower()
    try:
        return ipaddress.ip_address(host.split("%", 1)[0])
    except ValueError:
        pass
    if _NUMERIC_HOST.match(host):
        try:
            return ipaddress.IPv4Address(socket.inet_aton(host.rstrip(".")))
        except OSError:
            return None
    return None


# --- the allow list ----------------------------------------------------------------------


@dataclass(frozen=True)
class AllowedEntry:
    """One entry of ``allow_private_addresses``: a network or a host name, with an
    optional port."""

    network: IPNetwork | None = None
    name: str | None = None
    port: int | None = None

    @classmethod
    def parse(cls, text: str) -> AllowedEntry:
        """``10.0.0.0/8``, ``127.0.0.1``, ``127.0.0.1:8080``, ``[::1]:8080``,
        ``intranet.example.org``, ``intranet.example.org:8080``; ValueError otherwise."""
        value = text.strip().lower()
        if not value:
            raise ValueError("empty entry")
        try:
            return cls(network=ipaddress.ip_network(value.strip("[]"), strict=False))
        except ValueError:
            pass
        host, port = _split_port(value, text)
        address = literal_address(host)
        if address is not None:
            return cls(network=ipaddress.ip_network(address), port=port)
        if not re.fullmatch(r"[a-z0-9_]([a-z0-9_.-]*[a-z0-9_])?\.?", host):
            raise ValueError(f"{text!r} is not an address, network or host name")
        return cls(name=host.rstrip("."), port=port)

    def allows(self, host: str, address: IPAddress | None, port: int | None) -> bool:
        if self.port is not None and port != self.port:
            return False
        if self.name is not None:
            return host.rstrip(".").lower() == self.name
        assert self.network is not None
        return (
            address is not None
            and address.version == self.network.version
            and address in self.network
        )


def _split_port(value: str, text: str) -> tuple[str, int | None]:
    if value.startswith("["):
        host, _, rest = value[1:].partition("]")
        port_text = rest.removeprefix(":") if rest else ""
    elif value.count(":") == 1:
        host, _, port_text = value.partition(":")
    else:
        return value, None
    if not port_text:
        return host, None
    if not port_text.isdigit() or not 0 < int(port_text) < 65536:
        raise ValueError(f"{text!r}: bad port {port_text!r}")
    return host, int(port_text)
