"""A fetched article page becomes a Document, or a Skip saying why not (DESIGN section 2).

``process_page`` is what the crawl's extraction workers run: a top-level function of
picklable values that never raises, so one odd page cannot stop a crawl. Each field of
the Document comes from its own small rule below, in the order DESIGN section 2 gives.
"""

from __future__ import annotations

import logging
import re
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

from lxml.html import HtmlElement

from scraper.dates import (
    DateValue,
    best_metadata_date,
    find_date_in_page,
    is_plausible,
    to_output_zone,
)
from scraper.document import Document
from scraper.extract import (
    PageMetadata,
    UnusablePage,
    decode_html,
    extract_paragraphs,
    page_title,
    parse_html,
    read_metadata,
    restore_lead,
    strip_leading_furniture,
    strip_site_name,
)
from scraper.language import choose_language
from scraper.models import Discovery, FetchedPage, Skip
from scraper.text import join_paragraphs, single_line
from scraper.urls import normalize_url

log = logging.getLogger(__name__)

# Less article text than this (letters and digits) is a cookie banner, a "page moved"
# stub or a media page, not an article.
MIN_ARTICLE_CHARS = 40
_NOT_ALPHANUMERIC = re.compile(r"[\W_]+")


def process_page(page: FetchedPage) -> Document | Skip:
    """The Document of ``page``, or a Skip with a short reason. Never raises."""
    try:
        return build_document(page)
    except UnusablePage as unusable:
        return Skip(page.url, unusable.reason)
    except Exception as exc:  # a bug must cost one page, not the crawl
        log.exception("extraction failed on %s", page.url)
        return Skip(page.url, f"extraction error: {type(exc).__name__}", failure=True)


def build_document(page: FetchedPage) -> Document:
    """Like process_page, but raises UnusablePage (with the reason) instead of skipping."""
    zone = ZoneInfo(page.timezone)
    url = document_url(page)
    tree = parse_html(decode_html(page.body, page.encoding))
    metadata = read_metadata(tree)
    content = article_text(tree, url, metadata, page.discovery)
    title = document_title(page.discovery, metadata, url)
    if not title:
        raise UnusablePage("no title")
    published = publication_time(page, tree, metadata, url)
    language = choose_language(page.source.language, tree, content)
    if language is None:
        raise UnusablePage("no language")
    source_name, source_url = document_origin(page)
    return Document(
        title=title,
        published=to_output_zone(published, zone),
        type=page.source.type,
        url=url,
        source_name=source_name,
        source_url=source_url,
        language=language,
        aggregator=page.discovery.aggregator,
        content=content,
    )


def document_url(page: FetchedPage) -> str:
    """The final URL after redirects, normalized; a <link rel=canonical> is not followed
    (it may name another host, and the discovery decided which article this is)."""
    try:
        return normalize_url(page.url)
    except ValueError:
        return page.discovery.url


def document_title(discovery: Discovery, metadata: PageMetadata, url: str) -> str | None:
    """The channel's title as given (Google News keeps its " - Publisher" suffix), else
    the page's own headline without its site name."""
    given = single_line(discovery.title or "")
    return given or page_title(metadata, url)


def article_text(tree: HtmlElement, url: str, metadata: PageMetadata, discovery: Discovery) -> str:
    """The main text, paragraphs separated by one blank line, starting with the article's
    first sentence (headline, date line and byline removed; a dropped lead restored)."""
    blocks = extract_paragraphs(tree, url)
    blocks = strip_leading_furniture(blocks, _headlines(metadata, discovery), metadata.authors)
    blocks = restore_lead(blocks, tree, metadata.description)
    content = join_paragraphs(blocks)
    if len(_NOT_ALPHANUMERIC.sub("", content[: 4 * MIN_ARTICLE_CHARS])) < MIN_ARTICLE_CHARS:
        raise UnusablePage("no article text")
    return content


def _headlines(metadata: PageMetadata, discovery: Discovery) -> list[str]:
    """Every form of the headline that the text might repeat at its top."""
    headlines = list(metadata.headlines)
    if discovery.title:
        publisher = [discovery.publisher_name] if discovery.publisher_name else []
        headlines.append(strip_site_name(discovery.title, [*metadata.site_names, *publisher], ""))
    return headlines


def publication_time(
    page: FetchedPage, tree: HtmlElement, metadata: PageMetadata, url: str
) -> DateValue:
    """First of: the channel's date, the page's metadata (JSON-LD, meta tags), htmldate's
    original publication day; the crawl time only when the source allows it."""
    now = page.fetched_at
    given = page.discovery.published
    if given is not None and is_plausible(given, now):
        return given
    found = best_metadata_date(metadata.published, now) or find_date_in_page(tree, url, now)
    if found is not None:
        return found
    if page.source.allow_crawl_time:
        return now
    raise UnusablePage("no publication date")


def document_origin(page: FetchedPage) -> tuple[str, str]:
    """``(name, home URL)`` for "Origem": the publisher a Google News item names, else the
    source's own configuration."""
    discovery = page.discovery
    if discovery.publisher_name:
        home = discovery.publisher_url or _site_home(page.url) or page.source.homepage
        return discovery.publisher_name, home
    return page.source.name, page.source.homepage


def _site_home(url: str) -> str | None:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}" if parts.scheme and parts.netloc else None
