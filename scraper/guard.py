"""The address guard: requests go only to public addresses, over http(s).

Links, redirects and child sitemaps are written by strangers; without a guard a feed
could make the service fetch the operator's own network (127.0.0.1, 10.x, the cloud
metadata service at 169.254.169.254) and store the answer as an article.

Refused: loopback, private, link-local, shared (100.64/10), multicast, reserved and
unspecified addresses, and the IPv6 forms that embed such an IPv4 address (mapped,
compatible, 6to4, NAT64), however the URL spells them (``127.1``, ``2130706433``,
``0x7f.1``, ``[::ffff:127.0.0.1]``) and whatever name resolves to them.

The check is enforced where the connection is made: ``GuardedResolver`` wraps the
reactor's host name resolver, so every connection Scrapy opens goes to an address that
was checked, and no DNS answer can change between check and connect (no rebinding
window). ``AddressGuardMiddleware`` refuses literal addresses and other schemes before
a request is sent, and names the refusal "private address" when the resolver refused
a host name. ``guarded_opener`` does the same for the plain-urllib fetch of
``scraper extract URL``.

The setting ``allow_private_addresses`` lists what an operator allows anyway:
``"127.0.0.1:8080"`` (an address and port), ``"10.0.0.0/8"`` or ``"10.1.2.3"`` (a
network or address, any port) and ``"intranet.example.org"`` or
``"intranet.example.org:8080"`` (a host name, by the name the URL uses).
"""

from __future__ import annotations

import contextlib
import http.client
import ipaddress
import socket
import urllib.error
import urllib.request
from collections import OrderedDict
from collections.abc import Iterable
from typing import Any, Self
from urllib.parse import urljoin, urlsplit

from scrapy import Request
from scrapy.crawler import Crawler
from scrapy.exceptions import IgnoreRequest
from scrapy.http import Response
from twisted.internet.interfaces import (
    IHostnameResolver,
    IHostResolution,
    IResolutionReceiver,
)
from zope.interface import implementer

# The addresses' vocabulary (what is public, the allow list) lives in scraper.addresses,
# which the configuration reads without loading Scrapy; named here as before.
from scraper.addresses import AllowedEntry as AllowedEntry
from scraper.addresses import IPAddress
from scraper.addresses import is_public as is_public
from scraper.addresses import literal_address as literal_address
from scraper.urls import identity

PRIVATE_ADDRESS = "private address"
ALLOWED_SCHEMES = frozenset({"http", "https"})
# How many refused host names are remembered to word a failed connection.
REFUSED_NAMES_KEPT = 1024


class RefusedRequest(IgnoreRequest):
    """A request the guard did not send; ``reason`` goes into the crawl summary."""

    def __init__(self, reason: str, url: str) -> None:
        super().__init__(f"{reason}: {url}")
        self.reason = reason
        self.url = url


class AddressGuard:
    """Decides whether a host, address and port may be connected to."""

    def __init__(self, allowed: Iterable[str] = ()) -> None:
        self.allowed = [AllowedEntry.parse(entry) for entry in allowed]
        # Host names whose every address was refused, most recent last: a failed
        # connection to one of them is worded "private address", not "DNS lookup failed".
        self._refused_names: OrderedDict[str, None] = OrderedDict()

    def permits(self, host: str, address: IPAddress | None, port: int | None) -> bool:
        if address is not None and is_public(address):
            return True
        return any(entry.allows(host, address, port) for entry in self.allowed)

    def url_refusal(self, url: str) -> str | None:
        """Why ``url`` must not be fetched, judged from the URL alone (its scheme, a
        literal address); None when it may go on to the resolver."""
        try:
            parts = urlsplit(url)
            port = parts.port
        except ValueError:
            return "invalid URL"
        if not parts.scheme:
            return "invalid URL"
        if (refusal := scheme_refusal(url)) is not None:
            return refusal
        scheme = parts.scheme.lower()
        host = parts.hostname or ""
        if not host:
            return "invalid URL"
        port = port or (443 if scheme == "https" else 80)
        address = literal_address(host)
        if address is not None and not self.permits(host, address, port):
            return PRIVATE_ADDRESS
        if address is None and not is_public_name(host) and not self.permits(host, None, port):
            return PRIVATE_ADDRESS
        return None

    def note_refused(self, host: str) -> None:
        self._refused_names[host.lower()] = None
        self._refused_names.move_to_end(host.lower())
        while len(self._refused_names) > REFUSED_NAMES_KEPT:
            self._refused_names.popitem(last=False)

    def refused(self, host: str) -> bool:
        return host.lower() in self._refused_names

    @property
    def refused_count(self) -> int:
        return len(self._refused_names)


def scheme_refusal(url: str) -> str | None:
    """The refusal of a URL with a scheme other than http(s) ("unsupported scheme
    (file)"); None for http(s), and for text with no scheme at all."""
    scheme = urlsplit(url.strip()).scheme.lower() if ":" in url else ""
    if not scheme or scheme in ALLOWED_SCHEMES:
        return None
    return f"unsupported scheme ({scheme})"


def link_refusal(url: str) -> str | None:
    """Why ``url`` is no link the crawl fetches: "unsupported scheme (mailto)", or
    "invalid URL" for a malformed or relative one ("http://[::1", "/x.xml", a host with
    a space); None for a usable http(s) URL (one that has an identity)."""
    try:
        refusal = scheme_refusal(url)
        if refusal is None:
            identity(url)
    except ValueError:
        return "invalid URL"
    return refusal


def is_public_name(host: str) -> bool:
    """False for names that can only be local (``localhost``, ``*.localhost``): refused
    without asking a resolver. Every other name is judged by the addresses it resolves to."""
    name = host.rstrip(".").lower()
    return not (name == "localhost" or name.endswith(".localhost"))


# --- enforcement at connect time (Twisted) ---------------------------------------------------


@implementer(IResolutionReceiver)
class _FilteringReceiver:
    """Passes on only the addresses the guard permits."""

    def __init__(self, guard: AddressGuard, outer: Any, host: str, port: int) -> None:
        self.guard, self.outer, self.host, self.port = guard, outer, host, port
        self.passed = 0
        self.refused = 0

    def resolutionBegan(self, resolution: IHostResolution) -> None:
        self.outer.resolutionBegan(resolution)

    def addressResolved(self, address: Any) -> None:
        try:
            ip = ipaddress.ip_address(str(address.host).split("%", 1)[0])
        except ValueError:
            self.refused += 1
            return
        if self.guard.permits(self.host, ip, self.port):
            self.passed += 1
            self.outer.addressResolved(address)
        else:
            self.refused += 1

    def resolutionComplete(self) -> None:
        if self.refused and not self.passed:
            self.guard.note_refused(self.host)
        self.outer.resolutionComplete()


@implementer(IHostnameResolver)
class GuardedResolver:
    """The reactor's name resolver, wrapped: connections only go to permitted addresses."""

    def __init__(self, inner: Any, guard: AddressGuard) -> None:
        self.inner = inner
        self.guard = guard

    def resolveHostName(
        self,
        resolutionReceiver: Any,
        hostName: str,
        portNumber: int = 0,
        addressTypes: Any = None,
        transportSemantics: str = "TCP",
    ) -> Any:
        receiver = _FilteringReceiver(self.guard, resolutionReceiver, hostName, portNumber)
        self.inner.resolveHostName(receiver, hostName, portNumber, addressTypes, transportSemantics)
        return resolutionReceiver


def current_guard() -> AddressGuard | None:
    """The guard installed on this process's reactor, if any."""
    from twisted.internet import reactor

    resolver = getattr(reactor, "nameResolver", None)
    return resolver.guard if isinstance(resolver, GuardedResolver) else None


def install_guard(guard: AddressGuard) -> AddressGuard:
    """Guard every connection of this process's reactor (once; a later call with
    another allow list replaces the guard's list)."""
    from twisted.internet import reactor

    current = getattr(reactor, "nameResolver", None)
    if isinstance(current, GuardedResolver):
        current.guard.allowed = guard.allowed
        return current.guard
    reactor.installNameResolver(GuardedResolver(current, guard))
    return guard


class AddressGuardMiddleware:
    """Scrapy downloader middleware (after HostMapMiddleware, so a mapped request is
    judged by where it really goes; before the retry middleware handles exceptions, so a
    refusal is not retried). Setting ADDRESS_GUARD_ALLOW: the allow list."""

    def __init__(self, guard: AddressGuard) -> None:
        self.guard = guard

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> Self:
        allowed = crawler.settings.getlist("ADDRESS_GUARD_ALLOW")
        return cls(install_guard(AddressGuard(allowed)))

    def process_request(self, request: Request) -> None:
        reason = self.guard.url_refusal(request.url)
        if reason is not None:
            raise RefusedRequest(reason, request.url)

    def process_exception(self, request: Request, exception: Exception) -> None:
        """A connection whose every address the resolver refused fails as a DNS error;
        say what really happened (raising here ends the middleware chain: no retry)."""
        host = urlsplit(request.url).hostname or ""
        refused_name = not isinstance(exception, RefusedRequest) and self.guard.refused(host)
        if refused_name and _is_dns_failure(exception):
            raise RefusedRequest(PRIVATE_ADDRESS, request.url) from exception


class RedirectTargetMiddleware:
    """Refuses a redirect to what is no http(s) URL, like a link to it: another scheme
    (file:, ftp:, javascript:, mailto:) or a malformed URL ("http://[::1", a host with
    a space). Scrapy's redirect middleware hands the first kind on as an HTTP 3xx
    failure and fails on the others with a bare ValueError ("error (ValueError)"). Set
    after it (a higher number), so that it sees the 3xx answer first."""

    def process_response(self, request: Request, response: Response) -> Response:
        location = response.headers.get(b"Location") if 300 <= response.status < 400 else None
        if location:
            target = location.decode("latin-1").strip()
            with contextlib.suppress(ValueError):  # else refused below as it stands
                target = urljoin(request.url, target)
            reason = link_refusal(target)
            if reason is not None:
                raise RefusedRequest(f"redirect to {reason}", target)
        return response


def _is_dns_failure(exception: Exception) -> bool:
    from twisted.internet.error import DNSLookupError

    return isinstance(exception, DNSLookupError) or type(exception).__name__ in {
        "CannotResolveHostError",
        "DNSLookupError",
    }


# --- enforcement for urllib (scraper extract URL) ------------------------------------------


class AddressRefused(OSError):
    """A connection the guard did not let the urllib opener make."""


class _GuardedConnectionMixin:
    """Connects only to an address the guard permits: the one that was checked."""

    guard: AddressGuard
    host: str
    port: int
    timeout: float | None
    sock: socket.socket | None
    source_address: tuple[str, int] | None

    def connect(self) -> None:
        infos = socket.getaddrinfo(self.host, self.port, type=socket.SOCK_STREAM)
        error: OSError = OSError(f"no address for {self.host}")
        for family, kind, proto, _name, address in infos:
            ip = ipaddress.ip_address(str(address[0]).split("%", 1)[0])
            if not self.guard.permits(self.host, ip, self.port):
                error = AddressRefused(f"{PRIVATE_ADDRESS} ({ip})")
                continue
            sock = socket.socket(family, kind, proto)
            try:
                if self.timeout is not None:
                    sock.settimeout(self.timeout)
                sock.connect(address)
            except OSError as exc:
                sock.close()
                error = exc
                continue
            self.sock = sock
            return
        raise error


def guarded_opener(guard: AddressGuard) -> urllib.request.OpenerDirector:
    """A urllib opener that speaks http(s) only (redirects included) and connects only
    to addresses the guard permits."""

    class Connection(_GuardedConnectionMixin, http.client.HTTPConnection):
        pass

    class TLSConnection(_GuardedConnectionMixin, http.client.HTTPSConnection):
        def connect(self) -> None:
            _GuardedConnectionMixin.connect(self)
            assert self.sock is not None
            self.sock = self._context.wrap_socket(  # type: ignore[attr-defined]
                self.sock, server_hostname=self.host
            )

    Connection.guard = guard
    TLSConnection.guard = guard

    class HTTPHandler(urllib.request.HTTPHandler):
        def http_open(self, req: urllib.request.Request) -> http.client.HTTPResponse:
            _refuse(guard, req.full_url)
            return self.do_open(Connection, req)

    class HTTPSHandler(urllib.request.HTTPSHandler):
        def https_open(self, req: urllib.request.Request) -> http.client.HTTPResponse:
            _refuse(guard, req.full_url)
            return self.do_open(TLSConnection, req)

    opener = urllib.request.OpenerDirector()
    for handler in (
        HTTPHandler(),
        HTTPSHandler(),
        urllib.request.HTTPRedirectHandler(),
        urllib.request.HTTPDefaultErrorHandler(),
        urllib.request.HTTPErrorProcessor(),
        urllib.request.UnknownHandler(),
    ):
        opener.add_handler(handler)
    return opener


def _refuse(guard: AddressGuard, url: str) -> None:
    reason = guard.url_refusal(url)
    if reason is not None:
        raise urllib.error.URLError(f"{reason}: {url}")
