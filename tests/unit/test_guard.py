"""The address guard: what is public, every spelling of a private address, the allow list."""

from __future__ import annotations

import ipaddress
import urllib.error
from pathlib import Path

import pytest

from scraper.config import ConfigError, Settings, load_settings
from scraper.guard import (
    PRIVATE_ADDRESS,
    AddressGuard,
    AllowedEntry,
    guarded_opener,
    is_public,
    literal_address,
)
from tests.support.http_server import LocalHTTPServer, Route


@pytest.mark.parametrize(
    "address",
    [
        "127.0.0.1",
        "127.255.0.9",
        "0.0.0.0",
        "0.1.2.3",
        "10.1.2.3",
        "172.16.0.1",
        "172.31.255.255",
        "192.168.1.1",
        "169.254.169.254",
        "100.64.0.1",
        "100.127.255.254",
        "224.0.0.1",
        "239.255.255.250",
        "240.0.0.1",
        "255.255.255.255",
        "::1",
        "::",
        "fc00::1",
        "fd12:3456::1",
        "fe80::1",
        "ff02::1",
        "::ffff:127.0.0.1",
        "::ffff:10.0.0.1",
        "::127.0.0.1",
        "64:ff9b::7f00:1",
        "2002:7f00:1::",
    ],
)
def test_non_public_addresses_are_refused(address: str) -> None:
    assert not is_public(ipaddress.ip_address(address))


@pytest.mark.parametrize(
    "address",
    ["93.184.216.34", "8.8.8.8", "100.128.0.1", "172.32.0.1", "2606:4700::1111", "::ffff:8.8.8.8"],
)
def test_public_addresses_pass(address: str) -> None:
    assert is_public(ipaddress.ip_address(address))


@pytest.mark.parametrize(
    ("host", "expected"),
    [
        ("127.1", "127.0.0.1"),
        ("2130706433", "127.0.0.1"),
        ("0x7f.1", "127.0.0.1"),
        ("0x7f000001", "127.0.0.1"),
        ("0177.0.0.1", "127.0.0.1"),
        ("[::ffff:127.0.0.1]", "::ffff:7f00:1"),
        ("[::1]", "::1"),
        ("10.0.0.1.", "10.0.0.1"),
        ("example.org", None),
        ("1.example", None),
        ("deadbeef.com", None),
    ],
)
def test_every_spelling_of_an_address_is_read(host: str, expected: str | None) -> None:
    address = literal_address(host)
    assert (str(address) if address else None) == expected


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:9/x",
        "http://127.1/x",
        "http://2130706433/x",
        "http://0x7f.1/x",
        "http://[::ffff:127.0.0.1]/x",
        "http://[::1]:8080/x",
        "http://169.254.169.254/latest/meta-data/",
        "https://10.0.0.5/",
        "http://localhost:8080/",
        "http://api.localhost/",
    ],
)
def test_urls_to_private_addresses_are_refused(url: str) -> None:
    assert AddressGuard().url_refusal(url) == PRIVATE_ADDRESS


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("file:///etc/passwd", "unsupported scheme (file)"),
        ("ftp://example.org/x", "unsupported scheme (ftp)"),
        ("data:text/html,hi", "unsupported scheme (data)"),
        ("s3://bucket/key", "unsupported scheme (s3)"),
        ("gopher://example.org/", "unsupported scheme (gopher)"),
        ("http:///nohost", "invalid URL"),
        ("http://example.org:99999/", "invalid URL"),
    ],
)
def test_other_schemes_and_broken_urls_are_refused(url: str, reason: str) -> None:
    assert AddressGuard().url_refusal(url) == reason


def test_public_names_and_addresses_go_on_to_the_resolver() -> None:
    guard = AddressGuard()
    assert guard.url_refusal("https://www.president.gov.ua/en/news") is None
    assert guard.url_refusal("http://93.184.216.34/") is None


def test_the_allow_list_names_address_and_port_networks_and_host_names() -> None:
    guard = AddressGuard(["127.0.0.1:8080", "10.0.0.0/8", "intranet.example.org", "[::1]:81"])
    assert guard.url_refusal("http://127.0.0.1:8080/feed") is None
    assert guard.url_refusal("http://127.0.0.1:8081/feed") == PRIVATE_ADDRESS  # other port
    assert guard.url_refusal("http://127.1:8080/feed") is None  # same address, other spelling
    assert guard.url_refusal("http://10.200.3.4:1234/") is None
    assert guard.url_refusal("http://11.0.0.1/") is None  # public anyway
    assert guard.url_refusal("http://192.168.0.1/") == PRIVATE_ADDRESS
    assert guard.url_refusal("http://[::1]:81/") is None
    assert guard.url_refusal("http://[::1]:82/") == PRIVATE_ADDRESS
    # A host name is allowed by name, whatever it resolves to; other names are judged
    # by their addresses at connect time.
    assert guard.permits("intranet.example.org", ipaddress.ip_address("10.9.9.9"), 443)
    assert guard.permits("INTRANET.example.org.", ipaddress.ip_address("192.168.1.1"), 80)
    assert not guard.permits("evil.example.org", ipaddress.ip_address("192.168.1.1"), 80)


@pytest.mark.parametrize("entry", ["", "127.0.0.1:0", "127.0.0.1:http", "not a host", "a/b/c"])
def test_bad_allow_list_entries_are_refused(entry: str) -> None:
    with pytest.raises(ValueError):
        AllowedEntry.parse(entry)


def test_the_setting_is_validated_and_read_from_the_environment_as_json() -> None:
    settings = load_settings(
        Path("/nonexistent"),
        environ={"SCRAPER_ALLOW_PRIVATE_ADDRESSES": '["127.0.0.1:8080", "10.0.0.0/8"]'},
    )
    assert settings.allow_private_addresses == ["127.0.0.1:8080", "10.0.0.0/8"]
    assert Settings().allow_private_addresses == []
    with pytest.raises(ConfigError) as refused:
        load_settings(
            Path("/nonexistent"), environ={"SCRAPER_ALLOW_PRIVATE_ADDRESSES": '["nope nope"]'}
        )
    assert str(refused.value) == (
        "SCRAPER_ALLOW_PRIVATE_ADDRESSES: 'nope nope' is not an address, network or host name"
    )


def test_refused_names_are_remembered_in_bounded_memory() -> None:
    guard = AddressGuard()
    for number in range(5000):
        guard.note_refused(f"host{number}.example")
    assert guard.refused("host4999.example")
    assert not guard.refused("host0.example")
    assert len(guard._refused_names) <= 1024


def test_the_urllib_opener_connects_only_to_permitted_addresses() -> None:
    with LocalHTTPServer() as server, LocalHTTPServer() as internal:
        server.route("/page", Route(body="hello"))
        server.route("/to-internal", Route.redirect(internal.url("/secret")))
        server.route("/to-file", Route.redirect("file:///etc/passwd"))
        internal.route("/secret", Route(body="secret"))
        opener = guarded_opener(AddressGuard([server.authority]))

        with opener.open(server.url("/page"), timeout=5) as response:
            assert response.read() == b"hello"
        with pytest.raises(urllib.error.URLError, match="private address"):
            opener.open(internal.url("/secret"), timeout=5)
        with pytest.raises(urllib.error.URLError, match="private address"):
            opener.open(server.url("/to-internal"), timeout=5)
        with pytest.raises(urllib.error.URLError):
            opener.open(server.url("/to-file"), timeout=5)
        with pytest.raises(urllib.error.URLError, match="private address"):
            # A name that resolves to the loopback address, allowed by neither name nor port.
            opener.open(f"http://localhost:{internal.port}/secret", timeout=5)
        assert internal.requests == []
