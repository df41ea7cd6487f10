"""From the bytes of an article page to its text, title and metadata (DESIGN section 2).

The page is decoded and parsed once; the lxml tree is then shared by the metadata
readers, trafilatura (main text) and htmldate (dates), which copy it before changing it.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any
from urllib.parse import urlsplit

from lxml import etree
from lxml.html import HtmlElement

from scraper.dates import DateClue, Role, find_visible_date
from scraper.text import comparable as _comparable
from scraper.text import is_visible, single_line
from scraper.text import paragraphs as split_paragraphs


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
    """True for bytes that are clearly not a text document: a known binary signature,
    or NUL bytes in number (binary data, or UTF-16/32 text, which is recognised by its
    BOM first). A stray NUL or two in a page's head (a CMS's slip inside a meta tag)
    does not make the page binary: it lost the whole article as "not HTML"."""
    head = body[:1024]
    if head.startswith(_UTF16_32_BOMS):
        return False
    return head.lstrip().startswith(_BINARY_SIGNATURES) or head.count(b"\x00") * 16 > len(head)


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
    _use_fast_element_lookup()
    tree = load_html(text)
    if tree is not None and tree.tag != "html" and "<html" in text[:65536].lower():
        # Output before the document (a PHP warning above <!DOCTYPE>) makes the parser
        # take the page for a fragment; browsers show it all the same, and so does this.
        document = _parse_document(text)
        tree = document if document is not None else tree
    if tree is None or tree.find(".//body") is None:
        raise UnusablePage("not HTML")
    return tree


@lru_cache(maxsize=1)
def _use_fast_element_lookup() -> None:
    """Make the parser trafilatura's ``load_html`` uses build every element as a plain
    HtmlElement, chosen in C, and read pages nested deeper than 256 levels (below).
    lxml.html's own lookup is a Python method called for every element object lxml
    creates (each tree walk of the extractors, metadata readers and htmldate creates
    thousands): about a tenth of a page's extraction time. The only difference is that
    form fields lose their form-specific classes (FormElement, InputElement...), which
    nothing here uses. Done once per process."""
    from lxml.html import HtmlComment, HtmlEntity, HtmlProcessingInstruction
    from trafilatura import utils

    parser = getattr(utils, "HTML_PARSER", None)
    if isinstance(parser, etree.HTMLParser):
        # trafilatura's own options, and huge_tree: without it libxml2 stops nesting
        # elements 256 levels deep and drops what lies deeper, so an old page of
        # unclosed <font> tags lost its whole text ("no article text"). The body is
        # bounded by max_download_size, which is what the parser's limits guard.
        options: dict[str, Any] = {  # default_doctype is missing from lxml's stubs
            "collect_ids": False,
            "default_doctype": False,
            "encoding": "utf-8",
            "remove_comments": True,
            "remove_pis": True,
            "huge_tree": True,
        }
        parser = etree.HTMLParser(**options)
        utils.HTML_PARSER = parser  # type: ignore[assignment]  # its lxml.html subclass
        lookup = etree.ElementDefaultClassLookup(
            element=HtmlElement,
            comment=HtmlComment,
            pi=HtmlProcessingInstruction,
            entity=HtmlEntity,
        )
        parser.set_element_class_lookup(lookup)


def _parse_document(text: str) -> HtmlElement | None:
    import lxml.html

    try:
        document = lxml.html.document_fromstring(text)
    except ValueError:  # a str with an XML encoding declaration
        document = lxml.html.document_fromstring(text.encode("utf-8"))
    except Exception:
        return None
    return document if document.find(".//body") is not None else None


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
# Meta tags with the publication time, most trusted first; then any other key that says
# it holds a publication (or modification) date. Their meaning is in their names.
_PUBLISHED_META = (
    "article:published_time",
    "og:article:published_time",
    "og:published_time",
    "datepublished",
    "pubdate",
    "publishdate",
    "publish-date",
    "publish_date",
    "dc.date.issued",
    "dcterms.issued",
    "dc.date.created",
    "dcterms.created",
    "parsely-pub-date",
    "sailthru.date",
    "cxenseparse:publishtime",
    "article.published",
    "published",
    "release_date",
)
_MODIFIED_META = (
    "article:modified_time",
    "og:updated_time",
    "og:article:modified_time",
    "datemodified",
    "dc.date.modified",
    "dcterms.modified",
    "last-modified",
    "lastmod",
    "modified",
    "updated",
)
# A date of unsaid meaning: some sites put the publication there, others the last update.
_UNSAID_META = ("date", "dc.date", "dcterms.date")
_PUBLISHED_KEY = re.compile(r"publi(?:sh|cation)|pub[-_.]?date|created|issued|release")
_MODIFIED_KEY = re.compile(r"modif|updat|revis|lastmod")
# Names of the page's dates in microdata (itemprop) and JSON-LD.
_SCHEMA_DATES: tuple[tuple[str, Role], ...] = (
    ("datePublished", "published"),
    ("dateCreated", "published"),
    ("uploadDate", "published"),
    ("dateModified", "modified"),
)


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
    # Dates as found (JSON-LD, meta tags, <time> elements, date lines by the headline),
    # each source's most trusted first; scraper.dates reads and weighs them.
    dates: tuple[DateClue, ...]
    # How the page writes "12/06/2023": month first (US) or day first; None: unknown.
    month_first: bool | None = None
    # Stored with the article, not in its record (issue 11): the page's image (as
    # written: maybe relative), its section and its tags. The modification date is
    # among ``dates`` (role "modified").
    image: str | None = None
    section: str | None = None
    tags: tuple[str, ...] = ()
    # The main JSON-LD object's articleBody as written (scraper.declared_body reads it).
    article_body: str | None = None

    @property
    def headlines(self) -> tuple[str, ...]:
        """Every form of the headline the page shows or declares."""
        found = (self.og_title, self.jsonld_headline, self.h1, self.html_title)
        return tuple(value for value in found if value)


def read_metadata(tree: HtmlElement) -> PageMetadata:
    objects = list(_article_objects(tree))
    jsonld = objects[0] if objects else {}
    month_first = _month_first(tree)
    metas = _MetaTags(tree)
    og_title = metas.first("og:title", "twitter:title")
    head_title = _first_text(tree.xpath("//head/title"))
    jsonld_headline = _jsonld_text(jsonld.get("headline"))
    # The titles the page declares, which its headline element shows.
    declared = (og_title, jsonld_headline, head_title)
    headings = _Headings.of(tree)
    return PageMetadata(
        og_title=og_title,
        jsonld_headline=jsonld_headline or _jsonld_text(jsonld.get("name")),
        # A page-level <h1> often holds the logo; the one in <article>/<main> is the headline.
        h1=_first_text(headings.h1_in_article) or _first_text(headings.h1_in_body),
        html_title=head_title or _first_text(tree.xpath("//title")),
        site_names=_site_names(metas, objects),
        description=metas.first("og:description", "description", "twitter:description")
        or _jsonld_text(jsonld.get("description")),
        authors=_authors(metas, objects),
        dates=_date_clues(tree, objects, metas, headings, declared, month_first),
        month_first=month_first,
        article_body=_article_body(jsonld),
        **_page_details(metas, jsonld),
    )


def _article_body(jsonld: dict[str, Any]) -> str | None:
    value = jsonld.get("articleBody")
    return value if isinstance(value, str) and value.strip() else None


# Meta tags of the page's image, section and tags (issue 11), most trusted first.
_IMAGE_META = (
    "og:image",
    "og:image:secure_url",
    "og:image:url",
    "twitter:image",
    "twitter:image:src",
)
_SECTION_META = ("article:section", "og:article:section")
_TAG_META = ("article:tag", "og:article:tag")
_KEYWORD_META = ("news_keywords", "keywords")
_DETAIL_META = frozenset((*_IMAGE_META, *_SECTION_META, *_TAG_META, *_KEYWORD_META))
# More candidates than this are not read: Document keeps 20 tags (scraper.document).
_MAX_TAG_CANDIDATES = 100
_MAX_KEYWORDS_CHARS = 10_000


def _page_details(metas: _MetaTags, jsonld: dict[str, Any]) -> dict[str, Any]:
    """The page's image, section and tags from its meta tags (one pass over them) and
    its main JSON-LD object: ``image``, ``articleSection``, ``keywords``."""
    first: dict[str, str] = {}
    tags: list[str] = []
    for key, element in metas.keyed:
        if key not in _DETAIL_META:
            continue
        content = (element.get("content") or "").strip()
        if not content:
            continue
        if key in _TAG_META:
            if len(tags) < _MAX_TAG_CANDIDATES:
                tags.append(content)
        else:
            first.setdefault(key, content)

    def meta(names: tuple[str, ...]) -> str | None:
        return next((first[name] for name in names if name in first), None)

    image = meta(_IMAGE_META[:3]) or _jsonld_image(jsonld.get("image")) or meta(_IMAGE_META[3:])
    section = meta(_SECTION_META) or _jsonld_text(jsonld.get("articleSection"))
    keyword_lists = (
        tags,
        _keywords(jsonld.get("keywords")),
        *(_keywords(first.get(name)) for name in _KEYWORD_META),
    )
    return {
        "image": image,
        "section": section,
        "tags": tuple(next((found for found in keyword_lists if found), [])),
    }


def _jsonld_image(value: Any) -> str | None:
    """The URL of a JSON-LD ``image``: a URL, an ImageObject, or a list of them."""
    if isinstance(value, list):
        value = value[0] if value else None
    if isinstance(value, dict):
        value = value.get("url") or value.get("contentUrl") or value.get("@id")
    return (value.strip() or None) if isinstance(value, str) else None


def _keywords(value: Any) -> list[str]:
    """Tags from a JSON-LD ``keywords`` (a list, or one comma-separated text) or a
    keywords meta tag."""
    if isinstance(value, str):
        return [part for part in value[:_MAX_KEYWORDS_CHARS].split(",") if part.strip()][
            :_MAX_TAG_CANDIDATES
        ]
    if isinstance(value, list):
        return [text for item in value[:_MAX_TAG_CANDIDATES] if (text := _jsonld_text(item))]
    return []


def _meta_key(element: HtmlElement) -> str:
    key = element.get("property") or element.get("name") or element.get("itemprop") or ""
    return key.strip().lower()


class _MetaTags:
    """The page's <meta> elements in page order, each with its key (``_meta_key``): read
    once, as most metadata fields are looked for among them."""

    def __init__(self, tree: HtmlElement) -> None:
        self.keyed = [(_meta_key(element), element) for element in tree.iter("meta")]
        self._by_key: dict[str, list[HtmlElement]] = {}
        for key, element in self.keyed:
            self._by_key.setdefault(key, []).append(element)

    def first(self, *names: str) -> str | None:
        """The content of the first of ``names`` (most trusted first) that the page
        gives a non-blank value, from its first such tag."""
        for name in names:
            for element in self._by_key.get(name, ()):
                content = single_line(element.get("content") or "")
                if content:
                    return content
        return None


def _first_text(elements: list[Any]) -> str | None:
    for element in elements:
        text = single_line(element.text_content()) if isinstance(element, HtmlElement) else ""
        if text:
            return text
    return None


def document_elements(tree: HtmlElement, *tags: str) -> Iterator[HtmlElement]:
    """The elements named ``tags`` in the whole document ``tree`` is in, in document
    order, as the XPath //tag finds them (a tag-filtered walk costs less). Broken pages
    can have more than one top-level element: the root's siblings count too."""
    root = tree.getroottree().getroot()
    before = list(root.itersiblings(preceding=True))[::-1]
    for top in (*before, root, *root.itersiblings()):
        yield from top.iter(*tags)


@dataclass(frozen=True)
class _Headings:
    """The document's headings that the headline is looked for among, found in one walk
    (the XPath unions they replace walked the page once per step)."""

    in_body: list[HtmlElement]  # //body//h1 | //body//h2 | //body//h3
    h1_in_article: list[HtmlElement]  # //article//h1 | //main//h1
    h1_in_body: list[HtmlElement]  # //body//h1

    @classmethod
    def of(cls, tree: HtmlElement) -> _Headings:
        in_body: list[HtmlElement] = []
        h1_in_article: list[HtmlElement] = []
        for element in document_elements(tree, "h1", "h2", "h3"):
            if _has_ancestor(element, "body"):
                in_body.append(element)
            if element.tag == "h1" and _has_ancestor(element, "article", "main"):
                h1_in_article.append(element)
        h1_in_body = [element for element in in_body if element.tag == "h1"]
        return cls(in_body, h1_in_article, h1_in_body)


def _has_ancestor(element: HtmlElement, *tags: str) -> bool:
    return next(element.iterancestors(*tags), None) is not None


_JSON_WRAPPER = re.compile(r"^\s*(?:<!--|<!\[CDATA\[)|(?:-->|\]\]>)\s*$")
_JSON_WRAPPER_STARTS = ("<!--", "<![CDATA[")
_JSON_WRAPPER_ENDS = ("-->", "]]>")


def _jsonld_objects(tree: HtmlElement) -> Iterator[dict[str, Any]]:
    for script in tree.xpath("//script[@type='application/ld+json']"):
        raw = (script.text or "").strip()
        # Some CMSs wrap the JSON in an HTML comment or CDATA section. (A stripped text
        # that neither starts nor ends like one has nothing for the regex to remove; it
        # would scan all of the JSON to find that out.)
        if raw.startswith(_JSON_WRAPPER_STARTS) or raw.endswith(_JSON_WRAPPER_ENDS):
            raw = _JSON_WRAPPER.sub("", raw)
        try:
            # strict=False: raw line breaks inside strings are common and harmless.
            data = json.loads(raw, strict=False)
        except (ValueError, RecursionError):  # nested past the parser's stack: unread
            continue
        yield from _flatten_jsonld(data)


# Objects nested deeper than this in lists, @graph and mainEntity are not looked at:
# real pages nest a few levels, and each level is a frame of Python's stack.
_MAX_JSONLD_DEPTH = 20


def _flatten_jsonld(data: Any, depth: int = 0) -> Iterator[dict[str, Any]]:
    if depth > _MAX_JSONLD_DEPTH:
        return
    if isinstance(data, list):
        for item in data:
            yield from _flatten_jsonld(item, depth + 1)
    elif isinstance(data, dict):
        yield data
        for key in ("@graph", "mainEntity", "mainEntityOfPage"):
            if isinstance(data.get(key), list | dict):
                yield from _flatten_jsonld(data[key], depth + 1)


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


def _site_names(metas: _MetaTags, objects: list[dict[str, Any]]) -> tuple[str, ...]:
    names = [
        metas.first("og:site_name"),
        metas.first("application-name"),
        metas.first("twitter:site"),
        *(name for item in objects for name in _jsonld_names(item.get("publisher"))),
    ]
    return tuple(dict.fromkeys(n.lstrip("@") for n in names if n))


def _authors(metas: _MetaTags, objects: list[dict[str, Any]]) -> tuple[str, ...]:
    names = [name for item in objects[:1] for name in _jsonld_names(item.get("author"))]
    for key, element in metas.keyed:
        if key in ("author", "article:author", "byl", "dc.creator"):
            names.append(single_line(element.get("content") or ""))
    # A profile URL is not a name that could appear in a byline.
    return tuple(dict.fromkeys(n for n in names if n and "://" not in n))


def _date_clues(
    tree: HtmlElement,
    objects: list[dict[str, Any]],
    metas: _MetaTags,
    headings: _Headings,
    declared_titles: Sequence[str | None],
    month_first: bool | None,
) -> tuple[DateClue, ...]:
    lines = _TextLines(tree)
    headline = _headline_element(headings, declared_titles, lines)
    return (
        *_jsonld_date_clues(objects),
        *_meta_date_clues(tree, metas),
        *_time_clues(tree, headline),
        *_text_date_clues(tree, headline, lines, month_first),
    )


def _jsonld_date_clues(objects: list[dict[str, Any]]) -> list[DateClue]:
    """The dates of the most article-like JSON-LD object that has any (a page's other
    objects, such as the site's WebPage, date other things)."""
    for item in objects:
        clues = [
            DateClue(text, "jsonld", role)
            for key, role in _SCHEMA_DATES
            if (text := _jsonld_text(item.get(key))) is not None
        ]
        if clues:
            return clues
    return []


_KNOWN_DATE_META_RANKS = {
    name: rank for rank, name in enumerate((*_PUBLISHED_META, *_MODIFIED_META))
}


@lru_cache(maxsize=4096)  # pages of the web share most of their keys
def _meta_role(key: str) -> Role | None:
    if key in _PUBLISHED_META:
        return "published"
    if key in _MODIFIED_META:
        return "modified"
    if key in _UNSAID_META:
        return "date"
    if _MODIFIED_KEY.search(key):
        return "modified"
    if _PUBLISHED_KEY.search(key) and "publisher" not in key:
        return "published"
    return None


# Every microdata date candidate in one pass over the body (then sorted by name).
_DATED_ITEMPROPS = (
    "//body/descendant::*[@itemprop][@datetime or @content]["
    + " or ".join(f"@itemprop='{name}'" for name, _role in _SCHEMA_DATES)
    + "]"
)


def _meta_date_clues(tree: HtmlElement, metas: _MetaTags) -> list[DateClue]:
    """Meta tags and microdata (itemprop) that name a date, the best known names first."""
    known = _KNOWN_DATE_META_RANKS
    found: list[tuple[int, int, DateClue]] = []
    for order, (key, element) in enumerate(metas.keyed):
        role = _meta_role(key)
        if role is None:  # most tags: only the key's meaning is needed
            continue
        content = single_line(element.get("content") or "")
        if content:
            found.append((known.get(key, len(known)), order, DateClue(content, "meta", role)))
    dated = [
        element
        for element in tree.xpath(_DATED_ITEMPROPS)
        if isinstance(element, HtmlElement) and element.tag not in ("meta", "time")  # read as such
    ]
    for name, role in _SCHEMA_DATES:
        for element in dated:
            if element.get("itemprop") == name:
                text = element.get("datetime") or element.get("content") or ""
                rank = known.get(name.lower(), len(known))
                found.append((rank, 0, DateClue(text, "meta", role)))
    return [clue for _rank, _order, clue in sorted(found, key=lambda item: item[:2])]


# A heading this short (letters and digits) matches too many titles by chance.
_MIN_HEADLINE_MATCH = 8
# The most characters str.casefold() makes of one (U+0390 makes three; tests check it).
_MAX_CASEFOLD_GROWTH = 3


def _headline_element(
    headings: _Headings, declared_titles: Sequence[str | None], lines: _TextLines
) -> HtmlElement | None:
    """The element showing the article's headline, where its date line is near: the
    heading (h1-h3) that best matches the title the page declares (``declared_titles``:
    og:title, JSON-LD headline, <title> in <head>), else the first line of text that
    shows that title, else the article's <h1> (as PageMetadata.h1 is found). On many
    sites the <h1> is the site's name and the headline an <h2>, or a styled <div>."""
    declared = [_comparable(title) for title in declared_titles if title]
    best: tuple[int, HtmlElement] | None = None
    for element in headings.in_body:
        shown = _comparable(element.text_content())
        if len(shown) < _MIN_HEADLINE_MATCH:
            continue
        score = max((_overlap(shown, title) for title in declared), default=0)
        if score >= _MIN_HEADLINE_MATCH and (best is None or score > best[0]):
            best = (score, element)
    if best is not None:
        return best[1]
    shown_in = _line_showing(lines, declared)
    if shown_in is not None:
        return shown_in
    for elements in (headings.h1_in_article, headings.h1_in_body):
        for element in elements:
            if single_line(element.text_content()):
                return element
    return None


def _line_showing(lines: _TextLines, declared: list[str]) -> HtmlElement | None:
    """The element of the first line whose comparable text is one of the ``declared``
    titles (comparable), if any."""
    if not declared:
        return None  # not a line of the page needs reading
    # Case folding makes a text at most _MAX_CASEFOLD_GROWTH times longer: a line too
    # short to show the shortest title is not compared.
    shortest = max(_MIN_HEADLINE_MATCH, min(len(title) for title in declared))
    for text, owner in lines:
        if len(text) * _MAX_CASEFOLD_GROWTH < shortest:
            continue
        shown = _comparable(text)
        if len(shown) >= _MIN_HEADLINE_MATCH and shown in declared:
            return owner
    return None


def _overlap(shown: str, title: str) -> int:
    """How much of a declared title a heading shows: all of the heading when the title
    contains it ("Headline | Site" shows "Headline"), all of the title when the heading
    contains it; 0 otherwise."""
    if shown in title:
        return len(shown)
    if title in shown:
        return len(title)
    return 0


def _article_region(tree: HtmlElement, headline: HtmlElement | None) -> HtmlElement | None:
    """The part of the page that belongs to the article: the <article> or <main> around
    its headline, else the headline's surroundings; None without headline or article."""
    if headline is None:
        found = tree.xpath("//article | //main")
        return found[0] if found and isinstance(found[0], HtmlElement) else None
    for ancestor in headline.iterancestors():
        if ancestor.tag in ("article", "main"):
            return ancestor
    parent = headline.getparent()
    grandparent = parent.getparent() if parent is not None else None
    return grandparent if grandparent is not None and grandparent.tag != "html" else parent


_PUBLISHED_WORDS = re.compile(
    r"publi|pubdate|posted|created|erschienen|veröffentlicht|gepubliceerd|opublikowano"
    r"|опубл",
    re.IGNORECASE,
)
_MODIFIED_WORDS = re.compile(
    r"updat|modif|revis|aktualisiert|geändert|actualiz|mis à jour|atualiz|aggiorn"
    r"|bijgewerkt|zaktualizowano|обновл|оновл",
    re.IGNORECASE,
)


def _role_of(label: str) -> Role:
    """What a date's label (class, itemprop or the words before it) says it is."""
    if _MODIFIED_WORDS.search(label):
        return "modified"
    if _PUBLISHED_WORDS.search(label):
        return "published"
    return "date"


def _time_clues(tree: HtmlElement, headline: HtmlElement | None) -> list[DateClue]:
    """The first <time> element of each role in the article (a page's other <time>
    elements date teasers, comments or today's date in the menu bar)."""
    region = _article_region(tree, headline)
    if region is None:
        return []
    clues: dict[Role, DateClue] = {}
    for element in region.iter("time"):
        label = " ".join(
            filter(None, (element.get("class"), element.get("itemprop"), element.get("id")))
        )
        role = "published" if element.get("pubdate") is not None else _role_of(label)
        text = element.get("datetime") or element.get("content") or element.text_content()
        text = single_line(text or "")
        if text and role not in clues:
            clues[role] = DateClue(text, "time", role)
    return list(clues.values())


# Text inside these is not shown (an <option>'s is shown only when chosen).
_HIDDEN_TAGS = frozenset(("script", "style", "noscript", "template", "select", "option"))
# A date line by the headline: one of the few lines of text before it (kicker,
# dateline) or after it (byline, "Published ..."), short and not a sentence of the text.
_LINES_BEFORE_HEADLINE = 6
_LINES_AFTER_HEADLINE = 25
_MAX_DATE_LINE_CHARS = 120
_MAX_DATE_LINE_WORDS_NEAR_HEADLINE = 8
# A longer line counts only when it starts with the date ("01.02.2022 The council...").
_DATELINE_START_CHARS = 1
_DATELINE_PREFIX_CHARS = 40


class _TextLines:
    """The page's visible, non-blank text nodes in order, each with its element (for a
    tail text, the element it follows is not its container: its parent is), read from
    the page only as far as they are asked for: the date line is looked for by the
    headline, most often in the first part of the page."""

    def __init__(self, tree: HtmlElement) -> None:
        self._unread = (
            (text, owner)
            for raw, owner in body_texts(tree, _HIDDEN_TAGS)
            if (text := single_line(raw))
        )
        self._read: list[tuple[str, HtmlElement]] = []

    def has(self, index: int) -> bool:
        """Whether the page has a line ``index`` (reading up to it)."""
        while len(self._read) <= index:
            line = next(self._unread, None)
            if line is None:
                return False
            self._read.append(line)
        return True

    def __getitem__(self, index: int) -> tuple[str, HtmlElement]:
        if not self.has(index):
            raise IndexError(index)
        return self._read[index]

    def __iter__(self) -> Iterator[tuple[str, HtmlElement]]:
        index = 0
        while self.has(index):
            yield self._read[index]
            index += 1

    def count_up_to(self, limit: int) -> int:
        """How many lines the page has, counting no further than ``limit``."""
        return limit if self.has(limit - 1) else len(self._read)


def body_texts(
    tree: HtmlElement, hidden: frozenset[str], *, only_parent: bool = False
) -> Iterator[tuple[str, HtmlElement]]:
    """The text nodes of the page's first <body> in document order that are not only
    whitespace, each with the element holding it, leaving out those inside a ``hidden``
    element (``only_parent``: those directly inside one). The XPath
    ``//body//text()[not(ancestor::script or ...)]`` says the same at twice the cost:
    libxml2 walks up from every text node once per excluded tag."""
    bodies = tree.xpath("//body")
    if not bodies:
        return
    body = bodies[0]
    depth = 0  # hidden elements around the current position
    for event, element in etree.iterwalk(body, events=("start", "end")):
        is_hidden = element.tag in hidden
        if event == "start":
            depth += is_hidden
            text = element.text
            shown = not is_hidden if only_parent else depth == 0
            if shown and text and not text.isspace() and isinstance(element.tag, str):
                yield text, element
            continue
        depth -= is_hidden
        tail = element.tail
        if element is body or not tail or tail.isspace():
            continue
        owner = element.getparent()
        if owner is not None and (owner.tag not in hidden if only_parent else depth == 0):
            yield tail, owner


def _text_date_clues(
    tree: HtmlElement,
    headline: HtmlElement | None,
    lines: _TextLines,
    month_first: bool | None,
) -> list[DateClue]:
    """The date line printed by the headline: the first after it, else the nearest
    before it. Only short lines: a date in a sentence of the article is another event."""
    if headline is None:
        return []
    # Held, so that each element keeps the one Python proxy whose id is compared.
    members = list(headline.iter())
    inside = {id(element) for element in members}
    at = next((i for i, (_, owner) in enumerate(lines) if id(owner) in inside), None)
    if at is None:
        return []
    end = at
    while lines.has(end) and id(lines[end][1]) in inside:
        end += 1
    # Below the headline, the article's own lines: past its <article> come teasers.
    stop = lines.count_up_to(end + _LINES_AFTER_HEADLINE)
    region = _article_region(tree, headline)
    if region is not None and region.tag in ("article", "main"):
        stop = next((i for i in range(end, stop) if not _is_within(lines[i][1], region)), stop)
    after = range(end, stop)
    before = range(at - 1, max(-1, at - 1 - _LINES_BEFORE_HEADLINE), -1)
    for i in (*after, *before):
        line = _date_line(lines[i][0], month_first)
        if line is not None:
            label = (lines[i - 1][0][-40:] if i else "") + " " + line
            return [DateClue(line, "text", _role_of(label))]
    return []


def _is_within(element: HtmlElement, region: HtmlElement) -> bool:
    """Whether ``element`` is ``region`` or inside it. (A few lines are asked about: their
    ancestors of the region's tag are fewer than the region's elements.)"""
    return element is region or any(
        ancestor is region for ancestor in element.iterancestors(region.tag)
    )


def _date_line(line: str, month_first: bool | None) -> str | None:
    """``line`` when it is a date line, or the date that starts a longer line; else None."""
    if not any(map(str.isdigit, line)):
        return None
    short = len(line) <= _MAX_DATE_LINE_CHARS and (
        len(_WORD.findall(line)) <= _MAX_DATE_LINE_WORDS_NEAR_HEADLINE
    )
    found = find_visible_date(line if short else line[:_DATELINE_PREFIX_CHARS], month_first)
    if found is None:
        return None
    if short:
        return line
    return line[:_DATELINE_PREFIX_CHARS] if found[0] <= _DATELINE_START_CHARS else None


def _month_first(tree: HtmlElement) -> bool | None:
    """Whether the page writes month before day in "12/06/2023": the US and a few
    others do, most of the world does not; an English page of unknown country may be
    either."""
    lang = (tree.get("lang") or tree.get("xml:lang") or "").strip().lower().replace("_", "-")
    if not lang:
        return None
    language, _, region = lang.partition("-")
    if region in ("us", "ph", "fm", "mh", "pw"):
        return True
    if language == "en" and not region:
        return None
    return False


# --------------------------------------------------------------------------- title

# Separators between a headline and the site name in <title> and og:title:
# "Headline | Site", "Headline - Site", "Headline – DW – 30.01.2024", "見出し：朝日新聞".
_TITLE_SEPARATOR = re.compile(r"\s+(?:[|\-–—·•»:]|::|--)\s+|\s*(?:\||｜|：|--|ㅣ)\s*")
_DATE_SEGMENT = re.compile(r"[\d\s./:-]{6,}")


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
    """The page's own title: og:title, JSON-LD headline, <h1>, <title>, without site name
    and without a section label that another form of the headline shows it without."""
    host = urlsplit(url).hostname or ""
    forms = [strip_site_name(c, metadata.site_names, host) for c in metadata.headlines]
    for title in forms:
        if is_visible(title):
            return strip_section_label(title, forms)
    return None


# "Headline-정치", "Headline - Politik", "Headline | Sport": a short last segment after a
# dash or bar, one or two words without digits, that may be the site's section.
_SECTION_SUFFIX = re.compile(
    r"^(?P<headline>.*?\S)\s*[-–—|ㅣ]\s*(?P<label>[^\W\d_]+(?: [^\W\d_]+)?)$"
)
_MAX_SECTION_LABEL_CHARS = 16


def strip_section_label(title: str, other_forms: Sequence[str]) -> str:
    """``title`` without a trailing section label ("...-정치"), only when the evidence says
    it is one: another form of the headline on the page (og:title, <h1>, JSON-LD,
    <title>) is the title without it. A headline ending in " - a word" stays otherwise."""
    match = _SECTION_SUFFIX.match(title)
    if match is None or len(match.group("label")) > _MAX_SECTION_LABEL_CHARS:
        return title
    headline = match.group("headline")
    known = _comparable(headline)
    if any(_comparable(form) == known for form in other_forms if form and form != title):
        return headline
    return title


# --------------------------------------------------------------------------- main text


# Block-level content wrapped in a link is a teaser card ("related news", "you might
# also like"): never the article itself, yet extractors sometimes keep it.
# (One walk over each link's descendants, not one per heading level.)
TEASER_CARDS_XPATH = (
    "//a[.//*[self::p or self::h1 or self::h2 or self::h3 or self::h4 or self::h5 or self::h6]]"
)


def extract_paragraphs(tree: HtmlElement, url: str | None) -> list[str]:
    """The extracted text's paragraphs, in page order, before any clean-up (the blocks of
    ``scraper.body.extract_blocks``, which documents the extraction options)."""
    from scraper.body import extract_blocks

    return [p for block in extract_blocks(tree, url) for p in split_paragraphs(block.text)]


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
# Text directly inside these is not shown (text in a script or style is its direct
# child; what a noscript or template holds as elements counts, as it always did).
_LEAD_HIDDEN = frozenset(("script", "style", "noscript", "template"))
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
    probe = _comparable(blocks[0])[:_FIRST_BLOCK_PROBE_CHARS]
    if not probe:
        return blocks
    # The page's shown text, read only as far as needed: up to where the first block
    # starts, and far enough past it to hold any showing of the lead that starts before.
    shown = ""
    text_at = -1
    for text, _ in body_texts(tree, _LEAD_HIDDEN, only_parent=True):
        read = len(shown)
        shown += _comparable(text)
        if text_at < 0:
            text_at = shown.find(probe, max(0, read - len(probe) + 1))
        if text_at >= 0 and len(shown) >= text_at + len(lead):
            break
    lead_at = shown.find(lead)
    if lead_at < 0 or text_at < 0 or lead_at >= text_at:
        return blocks
    return [single_line(description), *blocks]
