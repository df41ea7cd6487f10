"""robots.txt read up to RFC 9309's parsing limit (scraper.robots)."""

from __future__ import annotations

from scrapy.robotstxt import ProtegoRobotParser

from scraper.config import Settings
from scraper.probe import Probe
from scraper.robots import PARSE_LIMIT, LimitedRobotParser, within_parse_limit
from tests.support.http_server import LocalHTTPServer, Route

RULES = b"User-agent: *\nDisallow: /private/\n"
PADDING = b"# " + b"x" * 97 + b"\n"  # 100 bytes a line
LATE_RULE = b"Disallow: /late/\n"


def robots_with_a_late_rule() -> bytes:
    """Rules, comments past the parsing limit, then one more rule."""
    return RULES + PADDING * (PARSE_LIMIT // len(PADDING) + 10) + LATE_RULE


def test_a_robots_txt_within_the_limit_is_read_whole() -> None:
    body = RULES + PADDING * 10 + b"Disallow: /no-newline-at-the-end"
    assert within_parse_limit(body) == body


def test_a_longer_one_is_cut_after_its_last_complete_line_within_the_limit() -> None:
    body = RULES + PADDING * (PARSE_LIMIT // len(PADDING) + 10)
    kept = within_parse_limit(body)
    whole_lines = (PARSE_LIMIT - len(RULES)) // len(PADDING)
    assert kept == RULES + PADDING * whole_lines
    assert len(kept) <= PARSE_LIMIT < len(kept) + len(PADDING)
    # Carriage returns end lines too (old Mac files).
    assert within_parse_limit(body.replace(b"\n", b"\r")) == kept.replace(b"\n", b"\r")


def test_rules_past_the_limit_are_not_read() -> None:
    body = robots_with_a_late_rule()
    limited = LimitedRobotParser(body, None)
    assert not limited.allowed("https://site.example/private/page", "bot")
    assert limited.allowed("https://site.example/late/page", "bot")
    # Scrapy's parser alone reads the late rule: the limit is what lets the page through.
    assert not ProtegoRobotParser(body, None).allowed("https://site.example/late/page", "bot")


def test_the_probe_of_add_and_check_reads_robots_txt_as_the_crawl_does() -> None:
    with LocalHTTPServer() as server:
        server.route(
            "/robots.txt", Route(body=robots_with_a_late_rule(), content_type="text/plain")
        )
        probe = Probe(Settings(allow_private_addresses=[server.authority]))
        robots = probe.robots_file(server.url("/news/1"))
    assert not robots.allows(server.url("/private/page"), "bot")
    assert robots.allows(server.url("/late/page"), "bot")
