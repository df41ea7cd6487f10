"""Parsing of discovery documents: feeds, sitemaps and listing pages.

Pure functions (bytes and the document's URL in, entries out) so every format quirk is
unit-tested without Scrapy; the spiders only download and call these. A document that
cannot be used raises DiscoveryError whose ``reason`` is short and aggregatable (the
spider prefixes it with the channel kind, e.g. "feed: not a feed").

The spiders call these parsers off the event loop, in a thread: their cost grows with
the number of elements or links, and strangers write the documents. A 9 MB feed of 1.5
million empty elements took 15-22 s (feedparser handles each element in Python, ~10
us), a 10 MB listing page of links 2.6-4.1 s. On the event loop that held every
download of the process still, and the daemon's health endpoint with it; in a thread
the loop keeps its turn (Python switches threads every 5 ms).
"""

from __future__ import annotations

import heapq
import itertools
import json
import re
import zlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, time
from io import BytesIO
from typing import Any, Literal
from urllib.parse import urljoin, urlsplit

import feedparser
from feedparser.encodings import convert_to_utf8
from lxml import etree
from parsel import Selector
from w3lib.encoding import html_to_unicode, read_bom
from w3lib.html import remove_tags, replace_entities

# Entry dates are read by scraper.dates.parse_date, the one date parser of the service
# (re-exported here): an instant keeps its offset, a zone-less time stays naive (read
# later in the source's zone, else the output zone), a day or a zone-less midnight is a
# ``date``.
from scraper.dates import parse_date as parse_date
from scraper.dates import parse_feed_date, to_output_zone

# Decompressed documents are bounded like downloads are (the spiders pass the download
# size limit): a gzip bomb must not eat memory.
DEFAULT_MAX_UNCOMPRESSED = 50 * 1024 * 1024
# A .xml.gz sent gzip-encoded once more is two layers; anything deeper is hostile.
MAX_GZIP_LAYERS = 2
# The skip reason (after "<kind>: ") of entries past Settings.max_items_per_channel.
OVER_MAX_ITEMS = "over max_items_per_channel"
# An entry that names no article: a feed's without link, alternate link or URL id, a
# sitemap's without <loc>.
NO_LINK = "entry without a link"
_GZIP_MAGIC = b"\x1f\x8b"
_CHARSET = re.compile(r"""charset\s*=\s*["']?([^"';\s]+)""", re.IGNORECASE)


class DiscoveryError(ValueError):
    """A discovery document that cannot be used; ``reason`` goes into the crawl summary."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class Entry:
    """One article (or, in a sitemap index, one child sitemap) listed by a document."""

    url: str  # absolute, as listed; the spider normalizes it
    title: str | None = None
    published: datetime | date | None = None
    modified: datetime | None = None


@dataclass(frozen=True)
class GNewsItem:
    """One item of a Google News RSS feed, before its link is resolved."""

    link: str
    title: str | None
    published: datetime | date | None
    publisher_name: str | None
    publisher_url: str | None


@dataclass(frozen=True)
class FeedDocument:
    entries: list[Entry]  # in document order
    dropped: int = 0  # entries past ``max_items``, not parsed
    unlinked: int = 0  # entries that name no article (NO_LINK), not in ``entries``


@dataclass(frozen=True)
class GNewsFeed:
    items: list[GNewsItem]  # in document order
    dropped: int = 0  # items past ``max_items``, not parsed
    unlinked: int = 0  # items that name no article (NO_LINK), not in ``items``


@dataclass(frozen=True)
class SitemapDocument:
    kind: Literal["urlset", "sitemapindex"]
    entries: list[Entry]  # articles of a urlset, child sitemaps of an index
    damaged: bool = False  # not well-formed: entries are what could be recovered
    dropped: int = 0  # entries past ``max_items`` (the oldest), not returned
    unlinked: int = 0  # <url> or <sitemap> elements without a <loc> (NO_LINK)
    not_urls: int = 0  # lines of a text sitemap that are no http(s) URL, skipped


@dataclass(frozen=True)
class ListingPage:
    article_urls: list[str]  # absolute, matching ``follow``, in page order, no repeats
    next_url: str | None
    dropped: int = 0  # matching links past ``max_items``, not returned


# --- dates ---------------------------------------------------------------------------


def as_modified(value: datetime | date | None) -> datetime | None:
    """A change time for Discovery.modified, which only compares: a bare day is its
    start, a zone-less time like any other (scraper.dates.to_output_zone reads both)."""
    if value is None or isinstance(value, datetime):
        return value
    return datetime.combine(value, time(0, 0))


# --- feeds ---------------------------------------------------------------------------


def charset_from_content_type(content_type: str | None) -> str | None:
    """The charset a Content-Type header declares, lower-cased, or None."""
    if not content_type:
        return None
    match = _CHARSET.search(content_type)
    return match.group(1).lower() if match else None


def parse_feed(
    body: bytes,
    url: str,
    content_type: str | None = None,
    *,
    max_size: int = DEFAULT_MAX_UNCOMPRESSED,
) -> list[Entry]:
    """The entries of parse_feed_document, all of them."""
    return parse_feed_document(body, url, content_type, max_size=max_size).entries


def parse_feed_document(
    body: bytes,
    url: str,
    content_type: str | None = None,
    *,
    max_items: int | None = None,
    max_size: int = DEFAULT_MAX_UNCOMPRESSED,
) -> FeedDocument:
    """Entries of an RSS 0.9x/1.0/2.0, Atom or JSON Feed document, in document order.

    ``content_type`` is the HTTP header: its charset wins over the XML declaration, as
    in browsers. A gzip body (magic bytes) is decompressed up to ``max_size`` bytes.
    Only the first ``max_items`` entries are parsed; ``dropped`` counts the rest.
    Raises DiscoveryError("not a feed") for anything else (an HTML page served at the
    feed URL, an empty body, broken JSON), "unsafe XML" for a document that declares
    entities, and the gunzip_bounded errors.
    """
    body = _gunzip_layers(body, max_size)
    if _looks_like_json(body):
        return _parse_json_feed(body, url, max_items)
    parsed, dropped = _feedparser(body, content_type, max_items)
    is_atom = str(parsed.version).startswith("atom")
    found = [_feed_entry(raw, url, is_atom=is_atom) for raw in parsed.entries]
    entries = [entry for entry in found if entry is not None]
    return FeedDocument(entries=entries, dropped=dropped, unlinked=len(found) - len(entries))


def _feedparser(body: bytes, content_type: str | None, max_items: int | None) -> tuple[Any, int]:
    """feedparser's result for an XML feed, and how many entries were cut off unparsed."""
    # Without a Content-Type feedparser assumes text/xml's us-ascii default and then
    # guesses; application/xml makes it honour the XML declaration and default to UTF-8.
    # No Content-Location: feedparser would resolve a non-URL guid ("item-7") against it
    # into a plausible but wrong link; relative links are resolved by _entry_link instead.
    headers = {"content-type": content_type or "application/xml"}
    # feedparser's first step, done here so the checks below see the very bytes its
    # parsers will see, whatever the document's encoding (UTF-16, EBCDIC, UTF-7...).
    decoding: dict[str, Any] = {}
    try:
        data = convert_to_utf8(headers, body, decoding)
    except (UnicodeError, LookupError):  # it trips on some broken declarations
        decoding = {}
    if decoding.get("encoding"):
        headers = {"content-type": "application/xml; charset=utf-8"}  # now it is
    else:
        data = body  # undecodable: feedparser's loose parser reads it as it is
    dropped = 0
    if max_items is not None:
        data, dropped = _first_entries_only(data, max_items)
    data = _repaired_character_references(data)
    # Last: no later step may join bytes into a new declaration.
    data = _without_entity_declarations(data)
    try:
        # A byte stream, never bytes or str: feedparser.parse takes those for a file name
        # or URL when they look like one, and would read the file or fetch the URL.
        # Neither sanitizing nor resolving the links inside entries' HTML (descriptions,
        # content): nothing here reads that HTML, and resolving it re-parses it in pure
        # Python, 5.8 s for one 9 MB description (links of entries are resolved anyway).
        parsed = feedparser.parse(
            BytesIO(data),
            response_headers=headers,
            sanitize_html=False,
            resolve_relative_uris=False,
        )
    except Exception as exc:
        # feedparser is meant to take any input and flag what is broken, but some broken
        # documents still make it raise (feedparser issues #591 and #599): a broken
        # document, counted with the exception's name, not an error inside the spider.
        raise DiscoveryError(f"unreadable feed ({type(exc).__name__})") from exc
    # feedparser's loose parser accepts almost anything; a feed has a recognized version.
    if not parsed.get("version"):
        raise DiscoveryError("not a feed")
    return parsed, dropped


# Entity declarations are refused, not left to the parsers, because feedparser has two
# and neither is safe with them. Its strict parser (expat through xml.sax) expands
# internal entities: billion laughs is stopped only by expat >= 2.4's amplification
# limit, which depends on the Python build. Its loose fallback expands the entities a
# regex finds in the prolog, once each but without any limit: one 1 MB entity used 300
# times is a 300 MB title (measured: 9 s, 1 GB). defusedxml was considered: it guards
# xml.sax, but only by replacing feedparser's module-level parser choice, and does
# nothing for the loose parser. So the DOCTYPE that declares entities is removed,
# which keeps the entries of a feed that merely declared some (their references stay
# as literal text), and a document that still has an entity declaration anywhere
# after that (hidden from the DOCTYPE scan, or outside any DOCTYPE) is refused whole.
# Safety rests on that last check only; the DOCTYPE scan just saves good entries.
# Without entity declarations, nothing is left to expand or to fetch: feedparser turns
# off xml.sax's external entities, and an external DTD is never loaded (tested).
_ENTITY_DECLARATION = re.compile(rb"<!ENTITY", re.IGNORECASE)
# What can hide a "]" or ">" inside a DOCTYPE: quoted strings, comments, PIs.
_DOCTYPE_TOKEN = re.compile(rb"""["'\[\]>]|<!--|<\?""")
_TOKEN_END = {b'"': b'"', b"'": b"'", b"<!--": b"-->", b"<?": b"?>"}


def _without_entity_declarations(data: bytes) -> bytes:
    if not _ENTITY_DECLARATION.search(data):
        return data
    span = _doctype_span(data)
    if span is not None:
        data = data[: span[0]] + data[span[1] :]
    if _ENTITY_DECLARATION.search(data):
        raise DiscoveryError("unsafe XML")
    return data


def _doctype_span(data: bytes) -> tuple[int, int] | None:
    """Where the first <!DOCTYPE ...> starts and ends, internal subset included; None
    when there is none or it never ends. Linear: each byte is scanned once."""
    start = data.find(b"<!DOCTYPE")
    if start < 0:
        return None
    pos, in_subset = start + len(b"<!DOCTYPE"), False
    while (token := _DOCTYPE_TOKEN.search(data, pos)) is not None:
        text, pos = token.group(), token.end()
        if text in _TOKEN_END:
            end = data.find(_TOKEN_END[text], pos)
            if end < 0:
                return None
            pos = end + len(_TOKEN_END[text])
        elif text == b"[":
            in_subset = True
        elif text == b"]":
            in_subset = False
        elif not in_subset:  # ">"
            return start, pos
    return None


_CHARACTER_REFERENCE = re.compile(rb"&#(?:[xX]([0-9A-Fa-f]+)|([0-9]+));")
# Only references that may stand for no character are worth a look: U+D800 and up take
# at least five decimal or four hexadecimal digits, and zero is written with zeros.
_SUSPECT_REFERENCE = re.compile(rb"&#(?:[xX][0-9A-Fa-f]{4,}|[0-9]{5,}|[xX]?0+;)")
_REPLACEMENT_REFERENCE = b"&#xFFFD;"
_HIGH_SURROGATES = range(0xD800, 0xDC00)
_LOW_SURROGATES = range(0xDC00, 0xE000)
_LAST_CODE_POINT = 0x10FFFF


def _repaired_character_references(data: bytes) -> bytes:
    """``data`` with the numeric character references that stand for no character
    rewritten, as browsers read them: a UTF-16 surrogate pair written as two references
    (an emoji as ``&#55357;&#56832;``, as some publishing systems write it) becomes the
    one character it encodes; a lone surrogate, ``&#0;`` or a code point past U+10FFFF
    becomes U+FFFD. feedparser's loose parser raises on each of them, which lost the
    whole feed (feedparser issue #591)."""
    if _SUSPECT_REFERENCE.search(data) is None:
        return data
    pieces: list[bytes] = []
    copied = 0  # data[:copied] is in pieces
    held: re.Match[bytes] | None = None  # a high surrogate, waiting for its low half

    def replace(match: re.Match[bytes], text: bytes) -> None:
        nonlocal copied
        pieces.extend((data[copied : match.start()], text))
        copied = match.end()

    for match in _CHARACTER_REFERENCE.finditer(data):
        value = _code_point(match)
        if held is not None:
            high, held = held, None
            if match.start() == high.end() and value in _LOW_SURROGATES:
                joined = 0x10000 + ((_code_point(high) - 0xD800) << 10) + (value - 0xDC00)
                pieces.append(data[copied : high.start()])
                copied = high.end()  # both references give way to the one character
                replace(match, b"&#x%X;" % joined)
                continue
            replace(high, _REPLACEMENT_REFERENCE)
        if value in _HIGH_SURROGATES:
            held = match
        elif not 0 < value <= _LAST_CODE_POINT or value in _LOW_SURROGATES:
            replace(match, _REPLACEMENT_REFERENCE)
    if held is not None:
        replace(held, _REPLACEMENT_REFERENCE)
    if not pieces:
        return data
    pieces.append(data[copied:])
    return b"".join(pieces)


def _code_point(match: re.Match[bytes]) -> int:
    """The reference's number; -1 when it has more digits than any code point."""
    hexadecimal, decimal = match.group(1), match.group(2)
    digits = hexadecimal or decimal
    if len(digits) > 10:
        return -1
    return int(digits, 16 if hexadecimal else 10)


# The start and end tags of RSS <item>s and Atom <entry>s, with any namespace prefix.
_ENTRY_START = re.compile(rb"<(?:[\w.-]+:)?(?:item|entry)[\s/>]")
_ENTRY_END = re.compile(rb"</(?:[\w.-]+:)?(?:item|entry)\s*>")


def _first_entries_only(data: bytes, max_items: int) -> tuple[bytes, int]:
    """The document without its entries past the first ``max_items``, and how many
    those were. feedparser can't stop early and takes ~50 us an entry (a 10 MB feed of
    200,000 tiny items: 11 s on the event loop), so they are cut from the bytes: from
    the first surplus entry's start tag to the last entry's end tag. A document this cut
    no longer parses strictly (e.g. a tag name inside CDATA was counted) falls back to
    feedparser's loose parser, which still reads the entries before the cut."""
    starts = _ENTRY_START.finditer(data)
    first_surplus = next(itertools.islice(starts, max_items, None), None)
    if first_surplus is None:
        return data, 0
    dropped = 1 + sum(1 for _ in starts)
    ends = _ENTRY_END.finditer(data, first_surplus.start())
    resume = max((end.end() for end in ends), default=len(data))
    return data[: first_surplus.start()] + data[resume:], dropped


def _feed_entry(raw: Any, feed_url: str, *, is_atom: bool) -> Entry | None:
    link = _entry_link(raw, feed_url)
    if link is None:
        return None
    published = _entry_date(raw, "published")
    updated = _entry_date(raw, "updated")
    # feedparser files Dublin Core dc:date (RSS 1.0's only date) under "updated"; in RSS
    # it is the publication date, while Atom's <updated> is a real modification time.
    if published is None and not is_atom:
        published = updated
    return Entry(
        url=link,
        title=_entry_title(raw),
        published=published,
        modified=as_modified(updated),
    )


# What feedparser calls an entry's title that is markup: Atom's type="html" and
# type="xhtml", and an RSS title it found tags in (often inside CDATA).
_MARKUP_TYPES = frozenset({"text/html", "application/xhtml+xml"})


def _entry_title(raw: Any) -> str | None:
    """The entry's title as text. feedparser hands a markup title over as markup
    ("Tom &amp; Jerry <em>return</em>"): its tags are dropped and its entities read,
    so that the record's title says "Tom & Jerry return"."""
    title = raw.get("title")
    if not isinstance(title, str):
        return None
    detail = raw.get("title_detail")
    kind = detail.get("type") if isinstance(detail, dict) else None
    if kind in _MARKUP_TYPES and ("<" in title or "&" in title):
        title = replace_entities(remove_tags(title))
    return title.strip() or None


def _entry_link(raw: Any, feed_url: str) -> str | None:
    """The entry's article URL, resolved against the feed. Not filtered: a link that is
    not a usable URL reaches the spider, which counts it as invalid."""
    link = raw.get("link")
    if dict.get(raw, "guidislink") and not _is_http(str(link or "").strip()):
        # RSS 2.0 guids are permalinks unless isPermaLink="false"; many feeds forget the
        # attribute on ids like "item-7", which are no link at all.
        link = None
    candidates: list[Any] = [link]
    candidates += [alt.get("href") for alt in raw.get("links", []) if alt.get("rel") == "alternate"]
    for candidate in candidates:
        if isinstance(candidate, str) and candidate.strip():
            return _join(feed_url, candidate.strip())
    # An id that is itself an http(s) URL is the permalink (Atom ids, RSS guids).
    entry_id = raw.get("id")
    if isinstance(entry_id, str) and _is_http(entry_id.strip()):
        return entry_id.strip()
    return None


def _join(base: str, link: str) -> str:
    """``link`` made absolute; as given when it can't be (e.g. a broken IPv6 host)."""
    try:
        return urljoin(base, link)
    except ValueError:
        return link


def _is_http(url: str) -> bool:
    try:
        parts = urlsplit(url)
    except ValueError:
        return False
    return parts.scheme in ("http", "https") and bool(parts.netloc)


def _entry_date(raw: Any, key: str) -> datetime | date | None:
    # dict.get: feedparser's own lookup answers "updated" with "published" when an entry
    # has no update time, which would invent a modification.
    text = dict.get(raw, key)
    return parse_feed_date(text if isinstance(text, str) else None, dict.get(raw, f"{key}_parsed"))


def _looks_like_json(body: bytes) -> bool:
    return body.lstrip(b"\xef\xbb\xbf \t\r\n")[:1] == b"{"


def _parse_json_feed(body: bytes, url: str, max_items: int | None) -> FeedDocument:
    """JSON Feed 1.0/1.1 (https://jsonfeed.org/version/1.1), which feedparser 6 lacks."""
    try:
        data = json.loads(body.decode("utf-8-sig"))
    # ValueError: also an integer of more than 4300 digits; RecursionError: deep nesting.
    except (ValueError, RecursionError) as exc:
        raise DiscoveryError("not a feed") from exc
    if not (isinstance(data, dict) and "jsonfeed.org" in str(data.get("version", ""))):
        raise DiscoveryError("not a feed")
    items = data.get("items", [])
    if not isinstance(items, list):  # "items": 5 is a broken feed, not an empty one
        raise DiscoveryError("not a feed")
    kept = items if max_items is None else items[:max_items]
    entries = [e for e in (_json_item(i, url) for i in kept) if e is not None]
    return FeedDocument(
        entries=entries, dropped=len(items) - len(kept), unlinked=len(kept) - len(entries)
    )


def _json_item(item: Any, feed_url: str) -> Entry | None:
    if not isinstance(item, dict):
        return None
    link = item.get("url") or item.get("external_url")
    if not isinstance(link, str) or not link.strip():
        return None
    title = item.get("title")
    published = item.get("date_published")
    modified = item.get("date_modified")
    return Entry(
        url=_join(feed_url, link.strip()),
        title=title.strip() or None if isinstance(title, str) else None,
        published=parse_date(published if isinstance(published, str) else None),
        modified=as_modified(parse_date(modified if isinstance(modified, str) else None)),
    )


def parse_gnews_feed(
    body: bytes,
    url: str,
    content_type: str | None = None,
    *,
    max_size: int = DEFAULT_MAX_UNCOMPRESSED,
) -> list[GNewsItem]:
    """The items of parse_gnews_document, all of them."""
    return parse_gnews_document(body, url, content_type, max_size=max_size).items


def parse_gnews_document(
    body: bytes,
    url: str,
    content_type: str | None = None,
    *,
    max_items: int | None = None,
    max_size: int = DEFAULT_MAX_UNCOMPRESSED,
) -> GNewsFeed:
    """Items of a Google News RSS feed (any era): link, title with its " - Publisher"
    suffix, pubDate, and the publisher from ``<source url="...">name</source>``.

    The 2011-era feeds have no <source>: the publisher name is then the title's suffix
    (the spider fills in the publisher URL once it knows the article's host). Parsed as
    parse_feed_document parses feeds: the same limits, safety and errors."""
    parsed, dropped = _feedparser(_gunzip_layers(body, max_size), content_type, max_items)
    items = []
    unlinked = 0
    for raw in parsed.entries:
        link = raw.get("link")
        if not isinstance(link, str) or not link.strip():
            unlinked += 1
            continue
        title = raw.get("title") if isinstance(raw.get("title"), str) else None
        source = raw.get("source") or {}
        name = source.get("title") if isinstance(source.get("title"), str) else None
        href = source.get("href") if isinstance(source.get("href"), str) else None
        if not name and title and " - " in title:
            name = title.rsplit(" - ", 1)[1]
        items.append(
            GNewsItem(
                link=_join(url, link.strip()),
                title=title.strip() or None if title else None,
                # Google's pubDate is an instant, even at 00:00:00 GMT (as any time
                # with an offset is).
                published=_entry_date(raw, "published"),
                publisher_name=name.strip() or None if name else None,
                publisher_url=href.strip() or None if href else None,
            )
        )
    return GNewsFeed(items=items, dropped=dropped, unlinked=unlinked)


# --- sitemaps ------------------------------------------------------------------------
#
# Scrapy's scrapy.utils.sitemap.Sitemap was considered: it is hardened the right way
# (lxml iterparse, recover, no entity resolution, elements cleared as it goes) but keeps
# only the text of the direct children of <url>, so a Google News sitemap's
# <news:news><news:title>/<news:publication_date> is lost, and it needs Scrapy. The
# parser below uses the same lxml iterparse hardening (plus no_network and no huge
# trees) and reads the news extension.


def gunzip_bounded(data: bytes, max_size: int = DEFAULT_MAX_UNCOMPRESSED) -> bytes:
    """Decompress gzip data, refusing more than ``max_size`` bytes of output. zlib stops
    at ``max_size + 1`` bytes, so a bomb costs that much memory and time, no more."""
    inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
    try:
        out = inflater.decompress(data, max_size + 1)
    except zlib.error as exc:
        raise DiscoveryError("invalid gzip") from exc
    if len(out) > max_size:
        raise DiscoveryError("too large after decompression")
    return out


def _gunzip_layers(body: bytes, max_size: int) -> bytes:
    """``body`` decompressed for as long as it starts with gzip's magic bytes (a .gz
    file that was gzip-encoded once more is two layers), each layer bounded by
    ``max_size``; more than MAX_GZIP_LAYERS layers is refused."""
    for _ in range(MAX_GZIP_LAYERS):
        if body[:2] != _GZIP_MAGIC:
            return body
        body = gunzip_bounded(body, max_size)
    if body[:2] == _GZIP_MAGIC:
        raise DiscoveryError("gzip nested too deep")
    return body


def parse_sitemap(
    body: bytes,
    url: str,
    max_size: int = DEFAULT_MAX_UNCOMPRESSED,
    *,
    max_items: int | None = None,
) -> SitemapDocument:
    """A urlset (articles), a sitemap index (child sitemaps) or a plain-text sitemap.

    Gzip is recognized by its magic bytes, not the URL: servers send .xml.gz files
    both raw and already decoded; each layer is bounded by ``max_size``. Each <url>'s
    lastmod becomes ``modified``; a Google News extension gives ``title`` and
    ``published``. Past ``max_items`` entries only the newest are kept (a sitemap has
    no order, and a crawl wants the latest news), in document order; ``dropped`` counts
    the others. Raises DiscoveryError with "invalid XML" (nothing parseable), "not a
    sitemap" (e.g. an HTML page) or a gunzip_bounded error.
    """
    body = _utf8_from_wide(_gunzip_layers(body, max_size))
    stripped = body.lstrip(b"\xef\xbb\xbf \t\r\n")
    if stripped and not stripped.startswith(b"<"):
        return _parse_text_sitemap(stripped, url, max_items)
    return _parse_xml_sitemap(body, url, max_items)


_XML_DECLARATION = re.compile(r"\A\s*<\?xml[^>]*\?>")
# An http(s) URL alone on its line: no space (Unicode's line and paragraph separators
# included), no control character, no U+FFFD (bytes the encoding could not read).
_TEXT_SITEMAP_URL = re.compile(r"(?i:https?)://[^\s\x00-\x1f\x7f\ufffd]+")
_TEXT_SITEMAP_LINE = re.compile(r"[^\r\n]+")


def _utf8_from_wide(body: bytes) -> bytes:
    """``body`` in UTF-8 when a byte order mark says it is UTF-16 or UTF-32, less the
    XML declaration (which names the old encoding), so that both a text sitemap and
    libxml2 (which reads no UTF-32) see what the server meant; else ``body`` as it is."""
    encoding, bom = read_bom(body)
    if encoding is None or bom is None or encoding == "utf-8":
        return body
    text = body[len(bom) :].decode(encoding, "replace")
    return _XML_DECLARATION.sub("", text, count=1).encode("utf-8")


def _parse_text_sitemap(body: bytes, url: str, max_items: int | None) -> SitemapDocument:
    """The sitemap protocol's text format: one URL per line. A line that is not one (a
    comment, a line cut short) is skipped and counted, not taken for the end of the
    sitemap; a text of more such lines than URLs is no sitemap (an error page in plain
    text, say)."""
    kept: list[str] = []  # undated: the first ones
    urls = not_urls = 0
    # Read a line at a time, keeping only what is used: millions of short lines held as
    # a list cost hundreds of MB. Lines end at CR and LF only: str.splitlines also
    # breaks at U+2028, form feeds..., which would cut a URL and keep its first part.
    for match in _TEXT_SITEMAP_LINE.finditer(body.decode("utf-8", "replace")):
        line = match.group().strip()
        if not line:
            continue
        if not _TEXT_SITEMAP_URL.fullmatch(line):
            not_urls += 1
            continue
        urls += 1
        if max_items is None or len(kept) < max_items:
            kept.append(line)
    if not urls or not_urls > urls:
        raise DiscoveryError("not a sitemap")
    return SitemapDocument(
        kind="urlset",
        # Joined as an XML sitemap's entries are ("HTTPS://" becomes "https://").
        entries=[Entry(url=_join(url, u)) for u in kept],
        dropped=urls - len(kept),
        not_urls=not_urls,
    )


def _parse_xml_sitemap(body: bytes, url: str, max_items: int | None) -> SitemapDocument:
    # libxml2 writes a reference to a surrogate as bytes that are no UTF-8 (read back,
    # they fail to decode); an emoji written as a surrogate pair is one character.
    body = _repaired_character_references(body)
    # No entity is expanded (libxml2 also refuses billion laughs outright), no DTD is
    # loaded and nothing is fetched; huge_tree=False keeps libxml2's size limits on.
    events = etree.iterparse(
        BytesIO(body),
        events=("start", "end"),
        recover=True,
        resolve_entities=False,
        load_dtd=False,
        no_network=True,
        huge_tree=False,
        remove_comments=True,
        remove_pis=True,
    )
    try:
        kind = _sitemap_kind(events)
    except (etree.XMLSyntaxError, UnicodeDecodeError) as exc:
        raise DiscoveryError("invalid XML") from exc
    item_tag = "url" if kind == "urlset" else "sitemap"
    newest = _NewestEntries(max_items)
    damaged = False
    unlinked = 0
    try:
        for event, element in events:
            if event == "end" and _local(element) == item_tag:
                try:
                    entry = _sitemap_entry(element)
                    unlinked += entry is None
                except UnicodeDecodeError:
                    # Recovering, libxml2 can keep bytes that are not the declared
                    # encoding in a text, which lxml then fails to decode: the entry is
                    # lost, the others are not.
                    entry, damaged = None, True
                if entry is not None:
                    newest.add(entry)
                _release(element)
    except etree.XMLSyntaxError as exc:
        if not newest.seen:
            raise DiscoveryError("invalid XML") from exc
        damaged = True
    damaged = damaged or len(events.error_log) > 0
    if damaged and not newest.seen:
        raise DiscoveryError("invalid XML")
    # Joined only now: urljoin is most of an entry's cost, and most of a huge
    # sitemap's entries are not kept.
    entries = [replace(e, url=_join(url, e.url)) for e in newest.entries()]
    return SitemapDocument(
        kind=kind, entries=entries, damaged=damaged, dropped=newest.dropped, unlinked=unlinked
    )


_UNDATED = datetime.min.replace(tzinfo=UTC)


def entry_time(entry: Entry) -> datetime:
    """How new an entry is: its publication time, else its lastmod; undated entries
    are the oldest. Only for ordering: a zone-less value is taken as UTC."""
    value = entry.published or entry.modified
    return _UNDATED if value is None else to_output_zone(value, UTC)


class _NewestEntries:
    """The ``limit`` newest entries added (by entry_time; among equals the earlier
    ones), in memory proportional to ``limit``; None keeps them all."""

    def __init__(self, limit: int | None) -> None:
        self.limit = limit
        self.seen = 0
        self.dropped = 0
        # A min-heap: the entry to drop next is on top. The negated position makes
        # every key unique, so entries themselves are never compared.
        self._heap: list[tuple[datetime, int, Entry]] = []

    def add(self, entry: Entry) -> None:
        item = (entry_time(entry), -self.seen, entry)
        self.seen += 1
        if self.limit is None or len(self._heap) < self.limit:
            heapq.heappush(self._heap, item)
        else:
            heapq.heappushpop(self._heap, item)
            self.dropped += 1

    def entries(self) -> list[Entry]:
        """The kept entries, in the order they were added."""
        return [entry for _, _, entry in sorted(self._heap, key=lambda item: -item[1])]


def _sitemap_kind(events: Iterator[tuple[str, Any]]) -> Literal["urlset", "sitemapindex"]:
    try:
        _, root = next(events)
    except StopIteration as exc:
        raise DiscoveryError("invalid XML") from exc
    name = _local(root)
    if name == "urlset":
        return "urlset"
    if name == "sitemapindex":
        return "sitemapindex"
    raise DiscoveryError("not a sitemap")


def _sitemap_entry(element: Any) -> Entry | None:
    """The entry of a <url> or <sitemap>, its URL as written (not yet absolute)."""
    loc = _child_text(element, "loc")
    if not loc:
        return None
    news = next((c for c in element if _local(c) == "news"), None)
    title = _child_text(news, "title") if news is not None else None
    published = _child_text(news, "publication_date") if news is not None else None
    return Entry(
        url=loc,
        title=title or None,
        published=parse_date(published),
        modified=as_modified(parse_date(_child_text(element, "lastmod"))),
    )


def _child_text(element: Any, name: str) -> str | None:
    """Text of the direct child called ``name`` (any namespace): <image:loc> and other
    extensions nest their own <loc>, which must not be taken for the page's."""
    for child in element:
        if _local(child) == name:
            return _text(child).strip() or None
    return None


def _text(element: Any) -> str:
    """The element's own text. An unexpanded entity reference is a child node: its
    "&name;" stays in the text, so "https://a.example/news/&x;" is not cut down to a
    plausible but wrong "https://a.example/news/"."""
    parts = [element.text or ""]
    for child in element:
        if child.tag is etree.Entity:
            parts.append(child.text or "")
        parts.append(child.tail or "")
    return "".join(parts)


def _local(element: Any) -> str:
    tag = element.tag
    return tag.rpartition("}")[2] if isinstance(tag, str) else ""


def _release(element: Any) -> None:
    """Free parsed elements so a 50,000-URL sitemap is read in constant memory."""
    element.clear()
    parent = element.getparent()
    if parent is not None:
        while element.getprevious() is not None:
            del parent[0]


# --- listings ------------------------------------------------------------------------


def decode_html(body: bytes, content_type: str | None = None) -> str:
    """HTML text, decoded by HTTP charset, then BOM and <meta charset>, then sniffing."""
    _, text = html_to_unicode(content_type, body)
    return str(text)


def parse_listing(
    body: bytes,
    url: str,
    follow: str | re.Pattern[str],
    next_css: str | None = None,
    content_type: str | None = None,
    *,
    max_items: int | None = None,
) -> ListingPage:
    """Article links of a news index page and the URL of its next page.

    A link is kept when its absolute URL (resolved against <base href> or ``url``, without
    fragment) matches ``follow`` with re.search; the first ``max_items`` are returned,
    ``dropped`` counts the rest. ``next_css`` selects the next-page link (an element
    with href, or a ``::attr(...)`` selection). lxml's HTML parser loads no DTD, expands
    no declared entity and fetches nothing (tested)."""
    pattern = re.compile(follow) if isinstance(follow, str) else follow
    # type="html": parsel reads a text that parses as JSON ("[]", "null") as JSON, on
    # which the CSS queries below raise.
    selector = Selector(text=decode_html(body, content_type), base_url=url, type="html")
    base = _base_url(selector, url)
    hrefs = selector.css("a::attr(href), area::attr(href)").getall()
    links = _unique(u for u in (_absolute(base, h) for h in hrefs) if u and pattern.search(u))
    kept = links if max_items is None else links[:max_items]
    next_url = _next_page(selector, base, next_css) if next_css else None
    return ListingPage(article_urls=kept, next_url=next_url, dropped=len(links) - len(kept))


def _base_url(selector: Selector, url: str) -> str:
    base = selector.css("base::attr(href)").get()
    return _join(url, base.strip()) if base else url


def _absolute(base: str, href: str) -> str | None:
    """An http(s) link without fragment; None for javascript:, mailto:, broken hrefs."""
    href = href.strip()
    if not href or href.startswith("#"):
        return None
    absolute = _join(base, href).split("#", 1)[0]
    return absolute if _is_http(absolute) else None


def _next_page(selector: Selector, base: str, css: str) -> str | None:
    for match in selector.css(css):
        value = match.get() if isinstance(match.root, str) else match.attrib.get("href")
        absolute = _absolute(base, value) if isinstance(value, str) else None
        if absolute:
            return absolute
    return None


def _unique(urls: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(urls))
