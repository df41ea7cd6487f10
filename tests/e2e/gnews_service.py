"""A stand-in for Google News on a local server: the RSS search, the article page that
carries the decoding signature, and the batchexecute endpoint that answers the
publisher URL (the two-step flow of current article ids)."""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from email.utils import format_datetime
from html import escape
from urllib.parse import parse_qs

from tests.support.http_server import LocalHTTPServer, RecordedRequest, Route


@dataclass(frozen=True)
class GNewsItem:
    title: str
    publisher_url: str  # what batchexecute resolves the item's id to
    published: str  # RFC 822, as Google writes pubDate
    source_name: str
    source_url: str
    token: str  # makes the current-style article id unique


def current_article_id(token: str) -> str:
    """An id shaped like Google's current ones: base64url protobuf whose URL field holds
    an opaque "AU_yqL..." token instead of a URL, so only batchexecute can resolve it."""
    payload = ("AU_yqL" + token).encode()
    message = b"\x08\x13\x22" + bytes([len(payload)]) + payload
    return base64.urlsafe_b64encode(message).decode().rstrip("=")


def search_feed(items: list[GNewsItem], base_url: str) -> str:
    entries = "".join(
        f"<item><title>{escape(i.title)}</title>"
        f"<link>{base_url}/rss/articles/{current_article_id(i.token)}?oc=5</link>"
        f'<guid isPermaLink="false">{current_article_id(i.token)}</guid>'
        f"<pubDate>{i.published}</pubDate>"
        f"<description>{escape(i.title)}</description>"
        f'<source url="{escape(i.source_url)}">{escape(i.source_name)}</source></item>'
        for i in items
    )
    return (
        '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
        '<rss version="2.0" xmlns:media="http://search.yahoo.com/mrss/"><channel>'
        "<generator>NFE/5.0</generator><title>search - Google News</title>"
        f"<link>{base_url}/search</link><language>en-US</language>"
        f"{entries}</channel></rss>"
    )


def signature_page(article_id: str) -> str:
    return (
        "<!DOCTYPE html><html><body><c-wiz>"
        f'<div jscontroller="x" data-n-a-id="{article_id}" data-n-a-ts="1700000000" '
        f'data-n-a-sg="SIG{article_id[-6:]}"></div></c-wiz></body></html>'
    )


def batchexecute_answer(urls_by_id: dict[str, str]) -> object:
    def answer(request: RecordedRequest) -> Route:
        form = parse_qs(request.body.decode())
        inner = json.loads(json.loads(form["f.req"][0])[0][0][1])
        url = urls_by_id.get(inner[2])  # ["garturlreq", [...], id, timestamp, signature]
        if url is None:
            return Route(status=400, body="unknown id", content_type="text/plain")
        envelope = [
            ["wrb.fr", "Fbv4je", json.dumps(["garturlres", url, 1]), None, None, None, "generic"]
        ]
        return Route(body=")]}'\n\n" + json.dumps(envelope), content_type="application/json")

    return answer


def serve_gnews(server: LocalHTTPServer, items: list[GNewsItem]) -> None:
    """Google News routes for ``items`` on ``server`` (search at /rss/search)."""
    urls_by_id = {current_article_id(i.token): i.publisher_url for i in items}
    server.route(
        "/rss/search",
        Route(body=search_feed(items, server.base_url), content_type="application/rss+xml"),
    )
    for article_id in urls_by_id:
        server.route(f"/rss/articles/{article_id}", Route(body=signature_page(article_id)))
    server.route("/_/DotsSplashUi/data/batchexecute", batchexecute_answer(urls_by_id))  # type: ignore[arg-type]


def rfc822(moment: object) -> str:
    return format_datetime(moment, usegmt=True)  # type: ignore[arg-type]
