"""Google News links: from an RSS item's link to the publisher's article URL.

Google has used three kinds of item links:

* 2011-era redirects, ``news.google.com/news/url?...&url=<publisher URL>``;
* article ids (``/rss/articles/CBMi...``, ``/__i/rss/rd/articles/CBMi...``) that are a
  base64url protobuf holding the publisher URL itself: decoded here, offline;
* current ids whose protobuf holds an opaque token (``AU_yqL...``) instead: resolving one
  takes two requests, made by the gnews spider with the helpers below: GET
  ``/rss/articles/<id>`` for a signature and timestamp, then POST them to the
  ``batchexecute`` RPC endpoint, whose answer carries the URL.

Everything here is pure and total: junk input gives None, never an exception, because a
feed with one odd link must not stop the crawl of the others.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import lxml.html
from lxml import etree

BATCHEXECUTE_PATH = "/_/DotsSplashUi/data/batchexecute"
BATCHEXECUTE_CONTENT_TYPE = "application/x-www-form-urlencoded;charset=UTF-8"
_RPC_ID = "Fbv4je"
_XSSI_PREFIX = ")]}'"
_CURRENT_TOKEN = b"AU_yqL"
_ARTICLE_PATH = re.compile(r"/(?:__i/rss/rd/)?(?:rss/)?(?:articles|read)/([A-Za-z0-9_-]+)/?$")
_LEGACY_REDIRECT_PATHS = ("/news/url", "/url")
# The protobuf fields of an article id: 4 is the article URL (or the current opaque
# token), 26 an AMP URL some 2019-era ids add after it.
_URL_FIELD = 4
_AMP_URL_FIELD = 26


@dataclass(frozen=True)
class DecodingParams:
    """What the article page gives for the batchexecute call."""

    signature: str  # data-n-a-sg
    timestamp: int  # data-n-a-ts


def search_feed_url(base_url: str, query: str, hl: str, gl: str, ceid: str) -> str:
    """The RSS search URL; the query is form-encoded (spaces as +, quotes as %22), and
    ":" stays literal as in Google's own links (``ceid=US:en``, ``site:example.gov``)."""
    params = urlencode({"q": query, "hl": hl, "gl": gl, "ceid": ceid}, safe=":")
    return f"{base_url.rstrip('/')}/rss/search?{params}"


def signature_page_url(base_url: str, article_id: str) -> str:
    return f"{base_url.rstrip('/')}/rss/articles/{article_id}"


def batchexecute_url(base_url: str) -> str:
    return f"{base_url.rstrip('/')}{BATCHEXECUTE_PATH}"


def article_id_from_link(link: str) -> str | None:
    """The article id of a Google News article link (any host, so a local test server
    can stand in for news.google.com), or None."""
    try:
        path = urlsplit(link.strip()).path
    except ValueError:
        return None
    match = _ARTICLE_PATH.search(path)
    return match.group(1) if match else None


def legacy_redirect_target(link: str) -> str | None:
    """The ``url`` parameter of a 2011-era ``news/url?...&url=...`` redirect link."""
    try:
        parts = urlsplit(link.strip())
    except ValueError:
        return None
    if parts.path not in _LEGACY_REDIRECT_PATHS:
        return None
    target = (parse_qs(parts.query).get("url") or [""])[0].strip()
    return target if _is_http_url(target) else None


def decode_article_id(article_id: str) -> str | None:
    """The publisher URL held in an article id, when the id holds one (offline ids).

    The id is base64url (unpadded) of a protobuf message: field 1 varint, then field 4
    length-delimited = the URL, its length a 1- or 2-byte varint, optionally followed by
    field 26 = an AMP URL (used when field 4 is missing). None for current ids (see
    is_current_article_id) and for junk."""
    fields = dict(_length_delimited_fields(_b64decode(article_id) or b""))
    for number in (_URL_FIELD, _AMP_URL_FIELD):
        value = fields.get(number)
        if value is not None:
            url = _as_url(value)
            if url is not None:
                return url
    return None


def is_current_article_id(article_id: str) -> bool:
    """True for ids whose URL only Google can give (the protobuf holds an AU_yqL token)."""
    fields = dict(_length_delimited_fields(_b64decode(article_id) or b""))
    return fields.get(_URL_FIELD, b"").startswith(_CURRENT_TOKEN)


def resolve_offline(link: str) -> str | None:
    """The publisher URL of an item link when no request is needed: a legacy redirect's
    target, a decodable article id, or a link that already points to the publisher."""
    target = legacy_redirect_target(link)
    if target is not None:
        return target
    article_id = article_id_from_link(link)
    if article_id is not None:
        return decode_article_id(article_id)
    if _is_http_url(link) and not _is_google_host(link):
        return link.strip()
    return None


def parse_signature_page(html: bytes) -> DecodingParams | None:
    """Signature and timestamp from the element of the article page that carries
    ``data-n-a-sg`` and ``data-n-a-ts``."""
    try:
        root = lxml.html.fromstring(html)
    except (etree.ParserError, ValueError, TypeError):
        return None
    element = next(
        (e for e in root.iter("*") if e.get("data-n-a-sg") and e.get("data-n-a-ts")), None
    )
    if element is None:
        return None
    signature = (element.get("data-n-a-sg") or "").strip()
    timestamp = (element.get("data-n-a-ts") or "").strip()
    if not signature or not timestamp.isdigit():
        return None
    return DecodingParams(signature=signature, timestamp=int(timestamp))


def batchexecute_body(article_id: str, params: DecodingParams) -> bytes:
    """The form body of the batchexecute POST that asks for one article's URL.

    ``f.req`` is JSON of one RPC call ``[rpc id, <inner JSON as a string>, null,
    "generic"]``; the inner JSON is the "garturlreq" request with a fixed client
    description, the id, the timestamp and the signature."""
    client = [
        [
            "X",
            "X",
            ["X", "X"],
            None,
            None,
            1,
            1,
            "US:en",
            None,
            1,
            None,
            None,
            None,
            None,
            None,
            0,
            1,
        ],
        "X",
        "X",
        1,
        [1, 1, 1],
        1,
        1,
        None,
        0,
        0,
        None,
        0,
    ]
    inner = ["garturlreq", client, article_id, params.timestamp, params.signature]
    call = [_RPC_ID, _compact_json(inner), None, "generic"]
    return urlencode({"f.req": _compact_json([[call]])}).encode("ascii")


def parse_batchexecute_response(body: bytes) -> str | None:
    """The publisher URL in a batchexecute answer, or None.

    The answer is ``)]}'``, a blank line, then JSON (sometimes split into chunks, each
    preceded by its length on a line of its own). The URL is in the envelope
    ``["wrb.fr", "Fbv4je", "<JSON string>", ...]`` whose string decodes to
    ``["garturlres", "<url>", 1]``."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        return None
    text = text.lstrip()
    if text.startswith(_XSSI_PREFIX):
        text = text[len(_XSSI_PREFIX) :]
    for document in _json_documents(text):
        for envelope in _envelopes(document, depth=0):
            url = _garturlres_url(envelope[2])
            if url is not None:
                return url
    return None


# --- helpers -------------------------------------------------------------------------


def _compact_json(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def _b64decode(text: str) -> bytes | None:
    text = text.strip()
    try:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError):
        return None


def _read_varint(data: bytes, pos: int) -> tuple[int, int]:
    """A protobuf base-128 varint at ``pos``: (value, next position)."""
    value = 0
    for shift in range(0, 64, 7):
        if pos >= len(data):
            raise ValueError("truncated varint")
        byte = data[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return value, pos
    raise ValueError("varint too long")


def _length_delimited_fields(data: bytes) -> Iterator[tuple[int, bytes]]:
    """(field number, bytes) of each length-delimited field, until the data ends or
    stops making sense (the fields read so far are still yielded)."""
    pos = 0
    try:
        while pos < len(data):
            key, pos = _read_varint(data, pos)
            number, wire_type = key >> 3, key & 0x07
            if wire_type == 0:
                _, pos = _read_varint(data, pos)
            elif wire_type == 1:
                pos += 8
            elif wire_type == 5:
                pos += 4
            elif wire_type == 2:
                length, pos = _read_varint(data, pos)
                if pos + length > len(data):
                    return
                yield number, data[pos : pos + length]
                pos += length
            else:
                return
    except ValueError:
        return


def _as_url(value: bytes) -> str | None:
    try:
        text = value.decode("utf-8")
    except UnicodeDecodeError:
        return None
    return text if _is_http_url(text) else None


def _is_http_url(text: str) -> bool:
    try:
        parts = urlsplit(text.strip())
    except ValueError:
        return False
    return parts.scheme in ("http", "https") and bool(parts.hostname) and " " not in text.strip()


def _is_google_host(link: str) -> bool:
    host = urlsplit(link.strip()).hostname or ""
    return host == "google.com" or host.endswith(".google.com") or ".google." in f".{host}"


def _json_documents(text: str) -> Iterator[Any]:
    """The whole text as JSON, else each line that is JSON (the chunked form)."""
    try:
        yield json.loads(text)
        return
    except (ValueError, RecursionError):  # JSONDecodeError, and an int too long to read
        pass
    for line in text.splitlines():
        line = line.strip()
        if line.startswith("["):
            try:
                yield json.loads(line)
            except (ValueError, RecursionError):  # JSONDecodeError, and an int too long to read
                continue


def _envelopes(value: Any, depth: int) -> Iterator[list[Any]]:
    """RPC result envelopes of our call, at any (small) nesting depth."""
    if not isinstance(value, list) or depth > 4:
        return
    if len(value) >= 3 and value[0] == "wrb.fr" and value[1] == _RPC_ID:
        if isinstance(value[2], str):
            yield value
        return
    for item in value:
        yield from _envelopes(item, depth + 1)


def _garturlres_url(payload: str) -> str | None:
    try:
        data = json.loads(payload)
    except (ValueError, RecursionError):  # JSONDecodeError, and an int too long to read
        return None
    if (
        isinstance(data, list)
        and len(data) >= 2
        and data[0] == "garturlres"
        and isinstance(data[1], str)
        and _is_http_url(data[1])
    ):
        return str(data[1].strip())
    return None
