"""From the bytes of an article page to its text, title and metadata (DESIGN section 2).

The page is decoded and parsed once; the lxml tree is then shared by the metadata
readers, trafilatura (main text) and htmldate (dates), which copy it before changing it.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from lxml.html import HtmlElement

from scraper.text import paragraphs as split_paragraphs
from scraper.text import single_line


class UnusablePage(Exception):
    """The page cannot yield a document; ``reason`` is a short, aggregatable phrase."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


# --------------------------------------------------------------------------- decoding

# File signatures of the binary documents a news link can lead to (PDF, images, archives,
# office files, audio/video): parsing them as HTML would only produce garbage text.
_BINARY_SIGNATURES = (
    b"%PDF",
    b"\x89PNG",
    b"GIF8",
    b"\xff\xd8\xff",
    b"PK\x03\x04",
    b"\x1f\x8b",
    b"BZh",
    b"\xd0\xcf\x11\xe0",
    b"RIFF",
    b"ID3",
    b"OggS",
    b"fLaC",
    b"7z\xbc\xaf",
    b"Rar!",
)
_UTF16_32_BOMS = (b"\xff\xfe", b"\xfe\xff")
_WIDE_ENCODINGS = ("utf-16", "utf-32")
# A page whose text is more than this share of U+FFFD was not decoded, only damaged.
_MAX_REPLACEMENT_SHARE = 0.02
_DETECTION_SAMPLE_BYTES = 64 * 1024
_NOT_HTML_ROOTS = re.compile(
    r"^\s*(?:<\?xml[^>]*>\s*)?(?:<!--.*?-->\s*)*<(?:rss|feed|rdf:RDF|urlset|sitemapindex)\b",
    re.DOTALL,
)


def looks_binary(body: bytes) -> bool:
    """True for bytes that are clearly not a text document (NUL bytes included, which
    only UTF-16/32 text has, and that is recognised by its BOM or declaration first)."""
    head = body[:1024]
    if head.startswith(_UTF16_32_BOMS):
        return False
    return head.lstrip().startswith(_BINARY_SIGNATURES) or b"\x00" in head


def decode_html(body: bytes, http_charset: str | None) -> str:
    """The page as text.

    Order: a byte-order mark; UTF-8 when the bytes are valid UTF-8 (a declaration that
    says otherwise is then wrong: legacy-encoded text with non-ASCII characters is
    practically never valid UTF-8, and for pure ASCII every choice reads the same);
    the HTTP charset, then the page's own ``<meta charset>``, each only if the bytes
    decode with it; then statistical detection. Declared labels go through the WHATWG
    mapping browsers use (``iso-8859-1`` means windows-1252, ``gb2312`` means GB18030).
    Raises UnusablePage when nothing yields readable text.
    """
    from w3lib.encoding import html_body_declared_encoding, read_bom

    if not body.strip():
        raise UnusablePage("empty page")
    if http_charset and http_charset.lower().replace("_", "-").startswith(_WIDE_ENCODINGS):
        text = _decode_strictly(body, http_charset)
        if text is not None:
            return text
    if looks_binary(body):
        raise UnusablePage("not HTML")
    bom_encoding, bom = read_bom(body)
    if bom_encoding is not None and bom is not None:
        return body[len(bom) :].decode(bom_encoding, errors="replace")
    try:
        return body.decode("utf-8")
    except UnicodeDecodeError:
        pass
    for label in (http_charset, html_body_declared_encoding(body)):
        text = _decode_strictly(body, label)
        if text is not None:
            return text
    return _decode_by_detection(body)


def _decode_strictly(body: bytes, label: str | None) -> str | None:
    from w3lib.encoding import resolve_encoding

    encoding = resolve_encoding(label) if label else None
    if encoding is None:
        return None
    try:
        return body.decode(encoding)
    except (UnicodeDecodeError, LookupError):
        return None


def _decode_by_detection(body: bytes) -> str:
    text = body.decode(_detect_encoding(body[:_DETECTION_SAMPLE_BYTES]), errors="replace")
    if text.count("\ufffd") > _MAX_REPLACEMENT_SHARE * len(text):
        raise UnusablePage("undecodable page")
    return text


def _detect_encoding(sample: bytes) -> str:
    """charset-normalizer's best guess; among equally good guesses, windows-1252 (what
    browsers assume for an undeclared page), as single-byte Latin encodings often tie."""
    from charset_normalizer import from_bytes

    matches = list(from_bytes(sample))
    if not matches:
        return "utf-8"
    best = matches[0]
    tied = [m.encoding for m in matches if (m.chaos, m.coherence) == (best.chaos, best.coherence)]
    return "cp1252" if "cp1252" in tied else best.encoding


def parse_html(text: str) -> HtmlElement:
    """The lxml tree of an HTML document; UnusablePage when ``text`` is not HTML."""
    from trafilatura.utils import load_html

    if _NOT_HTML_ROOTS.match(text[:4096]):
        raise UnusablePage("not HTML")
    if "<" not in text:
        raise UnusablePage("not HTML")
    tree = load_html(text)
    if tree is None or tree.find(".//body") is None:
        raise UnusablePage("not HTML")
    return tree


# --------------------------------------------------------------------------- metadata

# JSON-LD types that describe the article itself, most specific first; other objects on
# the page (videos, breadcrumbs, the organization) carry dates and names of other things.
_ARTICLE_TYPES = (
    "NewsArticle",
    "ReportageNews",
    "AnalysisNewsArticle",
    "OpinionNewsArticle",
    "BackgroundNewsArticle",
    "LiveBlogPosting",
    "Article",
    "BlogPosting",
    "Report",
    "WebPage",
)
# Meta tags with the publication time, most trusted first.
_PUBLISHED_META = (
    "article:published_time",
    "og:article:published_time",
    "og:published_time",
    "datepublished",
    "pubdate",
    "publishdate",
    "publish-date",
    "publish_date",
    "date",
    "dc.date.issued",
    "dc.date",
    "dcterms.issued",
    "dcterms.date",
    "dc.date.created",
    "sailthru.date",
    "parsely-pub-date",
    "cxenseparse:publishtime",
    "article.published",
    "published",
    "release_date",
)
_PUBLISHED_META_RANK = {name: rank for rank, name in enumerate(_PUBLISHED_META)}


@dataclass(frozen=True)
class PageMetadata:
    """What the page says about itself, as found (cleaned of whitespace only)."""

    og_title: str | None
    jsonld_headline: str | None
    h1: str | None
    html_title: str | None
    site_names: tuple[str, ...]
    description: str | None
    authors: tuple[str, ...]
    # Raw date strings, most trusted first: JSON-LD datePublished, then meta tags.
    published: tuple[str, ...]

    @property
    def headlines(self) -> tuple[str, ...]:
        """Every form of the headline the page shows or declares."""
        found = (self.og_title, self.jsonld_headline, self.h1, self.html_title)
        return tuple(value for value in found if value)


def read_metadata(tree: HtmlElement) -> PageMetadata:
    objects = list(_article_objects(tree))
    jsonld = objects[0] if objects else {}
    return PageMetadata(
        og_title=_first_meta(tree, "og:title", "twitter:title"),
        jsonld_headline=_jsonld_text(jsonld.get("headline")) or _jsonld_text(jsonld.get("name")),
        h1=_first_h1(tree),
        html_title=_first_text(tree.xpath("//head/title")) or _first_text(tree.xpath("//title")),
        site_names=_site_names(tree, objects),
        description=_first_meta(tree, "og:description", "description", "twitter:description")
        or _jsonld_text(jsonld.get("description")),
        authors=_authors(tree, objects),
        published=_published_candidates(tree, objects),
    )


def _meta_key(element: HtmlElement) -> str:
    key = element.get("property") or element.get("name") or element.get("itemprop") or ""
    return key.strip().lower()


def _first_meta(tree: HtmlElement, *names: str) -> str | None:
    found: dict[str, str] = {}
    for element in tree.iter("meta"):
        key = _meta_key(element)
        content = single_line(element.get("content") or "")
        if key in names and content and key not in found:
            found[key] = content
    return next((found[name] for name in names if name in found), None)


def _first_text(elements: list[Any]) -> str | None:
    for element in elements:
        text = single_line(element.text_content()) if isinstance(element, HtmlElement) else ""
        if text:
            return text
    return None


def _first_h1(tree: HtmlElement) -> str | None:
    # A page-level <h1> often holds the logo; the one inside <article>/<main> is the headline.
    return _first_text(tree.xpath("//article//h1 | //main//h1")) or _first_text(
        tree.xpath("//body//h1")
    )


def _jsonld_objects(tree: HtmlElement) -> Iterator[dict[str, Any]]:
    for script in tree.xpath("//script[@type='application/ld+json']"):
        raw = (script.text or "").strip()
        # Some CMSs wrap the JSON in an HTML comment or CDATA section.
        raw = re.sub(r"^\s*(?:<!--|<!\[CDATA\[)|(?:-->|\]\]>)\s*$", "", raw)
        try:
            # strict=False: raw line breaks inside strings are common and harmless.
            data = json.loads(raw, strict=False)
        except ValueError:
            continue
        yield from _flatten_jsonld(data)


def _flatten_jsonld(data: Any) -> Iterator[dict[str, Any]]:
    if isinstance(data, list):
        for item in data:
            yield from _flatten_jsonld(item)
    elif isinstance(data, dict):
        yield data
        for key in ("@graph", "mainEntity", "mainEntityOfPage"):
            if isinstance(data.get(key), list | dict):
                yield from _flatten_jsonld(data[key])


def _jsonld_types(item: dict[str, Any]) -> list[str]:
    value = item.get("@type")
    values = value if isinstance(value, list) else [value]
    return [str(v).rsplit("/", 1)[-1] for v in values if v]


def _article_objects(tree: HtmlElement) -> list[dict[str, Any]]:
    """JSON-LD objects describing an article or page, the most article-like first."""
    ranked: list[tuple[int, int, dict[str, Any]]] = []
    for order, item in enumerate(_jsonld_objects(tree)):
        ranks = [_ARTICLE_TYPES.index(t) for t in _jsonld_types(item) if t in _ARTICLE_TYPES]
        if ranks:
            ranked.append((min(ranks), order, item))
    return [item for _rank, _order, item in sorted(ranked, key=lambda r: (r[0], r[1]))]


def _jsonld_text(value: Any) -> str | None:
    if isinstance(value, list):
        value = value[0] if value else None
    if isinstance(value, dict):
        value = value.get("name") or value.get("@value")
    if isinstance(value, str | int | float) and not isinstance(value, bool):
        text = single_line(str(value))
        return text or None
    return None


def _jsonld_names(value: Any) -> list[str]:
    values = value if isinstance(value, list) else [value]
    names = [_jsonld_text(v) for v in values]
    return [name for name in names if name]


def _site_names(tree: HtmlElement, objects: list[dict[str, Any]]) -> tuple[str, ...]:
    names = [
        _first_meta(tree, "og:site_name"),
        _first_meta(tree, "application-name"),
        _first_meta(tree, "twitter:site"),
        *(name for item in objects for name in _jsonld_names(item.get("publisher"))),
    ]
    return tuple(dict.fromkeys(n.lstrip("@") for n in names if n))


def _authors(tree: HtmlElement, objects: list[dict[str, Any]]) -> tuple[str, ...]:
    names = [name for item in objects[:1] for name in _jsonld_names(item.get("author"))]
    for element in tree.iter("meta"):
        if _meta_key(element) in ("author", "article:author", "byl", "dc.creator"):
            names.append(single_line(element.get("content") or ""))
    # A profile URL is not a name that could appear in a byline.
    return tuple(dict.fromkeys(n for n in names if n and "://" not in n))


def _published_candidates(tree: HtmlElement, objects: list[dict[str, Any]]) -> tuple[str, ...]:
    from_jsonld = [
        text for item in objects if (text := _jsonld_text(item.get("datePublished"))) is not None
    ]
    from_meta: list[tuple[int, str]] = []
    for element in tree.iter("meta"):
        key = _meta_key(element)
        content = element.get("content")
        if key in _PUBLISHED_META_RANK and content and content.strip():
            from_meta.append((_PUBLISHED_META_RANK[key], content.strip()))
    for element in tree.xpath("//*[@itemprop='datePublished'][@datetime or @content]"):
        from_meta.append((_PUBLISHED_META_RANK["datepublished"], element.get("datetime") or ""))
    ranked_meta = [text for _rank, text in sorted(from_meta, key=lambda item: item[0])]
    return tuple(dict.fromkeys(t for t in (*from_jsonld, *ranked_meta) if t))


# --------------------------------------------------------------------------- title

# Separators between a headline and the site name in <title> and og:title:
# "Headline | Site", "Headline - Site", "Headline – DW – 30.01.2024", "見出し：朝日新聞".
_TITLE_SEPARATOR = re.compile(r"\s+(?:[|\-–—·•»:]|::|--)\s+|\s*(?:\||｜|：|--|ㅣ)\s*")
_DATE_SEGMENT = re.compile(r"[\d\s./:-]{6,}")


_NOT_ALPHANUMERIC = re.compile(r"[\W_]+")


def _comparable(text: str) -> str:
    """Letters and digits only, case-folded: "news.ORF.at" -> "newsorfat"."""
    return _NOT_ALPHANUMERIC.sub("", text.casefold())


def _site_labels(host: str) -> list[str]:
    """The distinctive labels of a host name: "www.president.gov.ua" -> ["president"]."""
    generic = {"www", "m", "amp", "news", "com", "org", "net", "gov", "edu", "co", "ac", "int"}
    labels = host.lower().split(".")[:-1]  # the last label is the TLD
    return [label for label in labels if label not in generic and len(label) >= 2]


def _is_site_name(segment: str, site_names: Sequence[str], host: str) -> bool:
    candidate = _comparable(segment)
    if not candidate:
        return False
    if _DATE_SEGMENT.fullmatch(segment.strip()):
        return True  # "Headline – DW – 30.01.2024": a date is never part of a headline's end
    for name in site_names:
        known = _comparable(name)
        if known and (
            candidate == known
            or (len(candidate) >= 3 and candidate in known)
            or (len(candidate) >= 2 and known.startswith(candidate))  # "DW" for "dw.com"
        ):
            return True
        if known and len(known) >= 3 and known in candidate and len(candidate) <= 2 * len(known):
            return True
    return any(
        label in candidate and len(candidate) <= 3 * len(label) for label in _site_labels(host)
    )


def strip_site_name(title: str, site_names: Sequence[str], host: str) -> str:
    """``title`` without a leading or trailing site name ("Headline | Site" -> "Headline").

    Only segments that are clearly the site (its declared name, its host name, or a date)
    are removed, so a headline that itself contains " - " or ": " stays whole.
    """
    title = single_line(title)
    while True:
        parts = list(_TITLE_SEPARATOR.finditer(title))
        if not parts:
            return title
        last, first = parts[-1], parts[0]
        if title[: last.start()].strip() and _is_site_name(title[last.end() :], site_names, host):
            title = title[: last.start()].rstrip()
        elif title[first.end() :].strip() and _is_site_name(
            title[: first.start()], site_names, host
        ):
            title = title[first.end() :].lstrip()
        else:
            return title


def page_title(metadata: PageMetadata, url: str) -> str | None:
    """The page's own title: og:title, JSON-LD headline, <h1>, <title>, without site name."""
    host = urlsplit(url).hostname or ""
    for candidate in metadata.headlines:
        title = strip_site_name(candidate, metadata.site_names, host)
        if title:
            return title
    return None


# --------------------------------------------------------------------------- main text


# Block-level content wrapped in a link is a teaser card ("related news", "you might
# also like"): never the article itself, yet extractors sometimes keep it.
TEASER_CARDS_XPATH = "//a[.//p or .//h1 or .//h2 or .//h3 or .//h4 or .//h5 or .//h6]"


def extract_paragraphs(tree: HtmlElement, url: str | None) -> list[str]:
    """The article's main text as paragraphs, in page order (trafilatura).

    Options, measured on the corpus (benchmarks/extraction_quality.py): comments off
    (reader comments are not the article); the balanced default, because favor_precision
    dropped real paragraphs and favor_recall brought in teasers and captions; tables kept
    (some articles are a table of figures); no deduplication (its cache is process-wide,
    so it would drop text because another page had it); teaser cards pruned first.
    """
    from trafilatura import bare_extraction
    from trafilatura.xml import xmltotxt

    document = bare_extraction(
        tree,
        url=url,
        include_comments=False,
        include_tables=True,
        include_images=False,
        include_links=False,
        include_formatting=False,
        deduplicate=False,
        with_metadata=False,
        prune_xpath=TEASER_CARDS_XPATH,
    )
    body = getattr(document, "body", None)
    if body is None:
        return []
    # One paragraph per block trafilatura kept; line breaks inside a block stay lines.
    found: list[str] = []
    for block in body:
        found.extend(split_paragraphs(xmltotxt(block, False)))
    return found


# --------------------------------------------------------------------------- furniture

# Only the first few blocks can be the headline, dateline or byline repeated above the text.
_MAX_FURNITURE_BLOCKS = 6
_DATE_OR_TIME = re.compile(
    r"\b(?:19|20)\d\d\b|\b\d{1,2}[./-]\d{1,2}(?:[./-]\d{2,4})?\b|\b\d{1,2}[:h]\d{2}\b"
)
_WORD = re.compile(r"[^\W\d_]+")
# "By Jane Doe", "Von Nina Magoley", "Por Ana Souza", "Texto: ...": a byline word, then a name.
_BYLINE_START = re.compile(
    r"^(?:by|von|par|por|di|door|av|af|od|от|автор|text|texto|foto|photo|fotos|bild)\b[:\s]+",
    re.IGNORECASE,
)
# A date line above the text may carry a few words ("Last updated: Wednesday ..."); once
# the text began, only a bare date line is taken out, not a short sentence with a date.
_MAX_DATE_LINE_WORDS = 6
_MAX_DATE_LINE_WORDS_IN_TEXT = 3
_MAX_BYLINE_NAME_WORDS = 6


def _is_headline(block: str, headlines: Sequence[str]) -> bool:
    """The headline (or its kicker, or headline plus a site name) repeated as a block."""
    text = _comparable(block)
    if not text:
        return False
    for headline in headlines:
        known = _comparable(headline)
        if not known:
            continue
        if text in known:  # the headline, or a part of it such as its kicker
            return True
        if known in text and len(text) <= len(known) + 40:  # "Headline | Site name"
            return True
    return False


def _is_date_line(block: str, max_words: int = _MAX_DATE_LINE_WORDS) -> bool:
    """A short line that is mostly a date or time: "Stand: 22.04.2024, 06:00 Uhr",
    "6 December 2023 - 10:46", "Updated 12:03 GMT"."""
    return (
        len(block) <= 100
        and _DATE_OR_TIME.search(block) is not None
        and len(_WORD.findall(block)) <= max_words
    )


def _is_byline(block: str, authors: Sequence[str]) -> bool:
    if len(block) > 120:
        return False
    text = _comparable(block)
    for author in authors:
        known = _comparable(author)
        if known and known in text and len(text) <= len(known) + 40:
            return True
    start = _BYLINE_START.match(block)
    if start is None or block.rstrip().endswith((".", "!", "?")):  # a sentence, not a name
        return False
    names = block[start.end() :].split()
    capitalized = [word for word in names if word[:1].isupper()]
    return 0 < len(names) <= _MAX_BYLINE_NAME_WORDS and 2 * len(capitalized) >= len(names)


def strip_leading_furniture(
    blocks: list[str], headlines: Sequence[str], authors: Sequence[str]
) -> list[str]:
    """``blocks`` without the headline, date line and byline printed above the article's
    first sentence (the document format starts directly with the text).

    Sites print the date line and byline below the lead as often as above it, so those
    are also dropped from the first few blocks after the text began; a headline only
    counts before it.
    """
    start = 0
    while start < min(len(blocks), _MAX_FURNITURE_BLOCKS) and (
        _is_headline(blocks[start], headlines)
        or _is_date_line(blocks[start])
        or _is_byline(blocks[start], authors)
    ):
        start += 1
    near_top = start + _MAX_FURNITURE_BLOCKS
    return [
        block
        for i, block in enumerate(blocks[start:], start)
        if i >= near_top
        or not (_is_date_line(block, _MAX_DATE_LINE_WORDS_IN_TEXT) or _is_byline(block, authors))
    ]


# --------------------------------------------------------------------------- lead

# A description shorter than this is a slogan or a label rather than a lead paragraph.
_MIN_LEAD_CHARS = 40
_VISIBLE_TEXT = (
    "//body//text()[not(ancestor::script or ancestor::style or ancestor::noscript"
    " or ancestor::template)]"
)
_FIRST_BLOCK_PROBE_CHARS = 60


def restore_lead(blocks: list[str], tree: HtmlElement, description: str | None) -> list[str]:
    """Put back the article's lead (standfirst) when text extraction dropped it.

    Many sites print the summary in their own block above the text, styled apart, and
    extractors often take it for furniture. It is recognised as the page's declared
    description shown verbatim in the body before the first extracted block.
    """
    if not blocks or not description:
        return blocks
    lead = _comparable(description)
    if len(lead) < _MIN_LEAD_CHARS or lead in _comparable("".join(blocks)):
        return blocks
    shown = _comparable("".join(str(t) for t in tree.xpath(_VISIBLE_TEXT)))
    lead_at = shown.find(lead)
    text_at = shown.find(_comparable(blocks[0])[:_FIRST_BLOCK_PROBE_CHARS])
    if lead_at < 0 or text_at < 0 or lead_at >= text_at:
        return blocks
    return [single_line(description), *blocks]
