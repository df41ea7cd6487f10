"""A fetched article page becomes a Document, or a Skip saying why not (DESIGN section 2).

``process_page`` is what the crawl's extraction workers run: a top-level function of
picklable values that never raises, so one odd page cannot stop a crawl. Each field of
the Document comes from its own small rule below, in the order DESIGN section 2 gives.
"""

from __future__ import annotations

import logging
import re
from datetime import datetime
from typing import Any
from urllib.parse import urljoin, urlsplit
from zoneinfo import ZoneInfo

from lxml.html import HtmlElement

from scraper.body import main_text
from scraper.dates import (
    Candidate,
    ChosenDate,
    DateSource,
    choose_date,
    htmldate_candidates,
    is_plausible,
    parse_date,
    read_clues,
    to_output_zone,
    url_candidates,
)
from scraper.declared_body import preferred_paragraphs
from scraper.document import Document
from scraper.extract import (
    PageMetadata,
    UnusablePage,
    decode_html,
    document_elements,
    page_title,
    parse_html,
    read_metadata,
    strip_site_name,
)
from scraper.language import choose_language
from scraper.models import Discovery, FetchedPage, Skip, SourceDefaults
from scraper.sites import rule_for
from scraper.text import is_visible, join_paragraphs, single_line
from scraper.urls import identity, same_site

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


def warm_up() -> None:
    """Import everything extraction imports on first use (trafilatura, its fallbacks,
    htmldate) and load the language model, by extracting a small page: a worker process
    does it before its first real page."""
    paragraph = "This is a sentence of a warm-up article, long enough to be text. " * 8
    html = (
        f"<html><head><title>Warm-up</title></head><body><article><h1>Warm-up</h1>"
        f"<p>{paragraph}</p><p>{paragraph}</p></article></body></html>"
    )
    discovery = Discovery(
        url="https://warm-up.invalid/", source_id="", channel="feed", aggregator=""
    )
    source = SourceDefaults("", "", "https://warm-up.invalid", None, "", allow_crawl_time=True)
    process_page(FetchedPage(discovery, source, discovery.url, html.encode(), None, "UTC"))


def build_document(page: FetchedPage) -> Document:
    """Like process_page, but raises UnusablePage (with the reason) instead of skipping."""
    zone = ZoneInfo(page.timezone)
    url = document_url(page)
    tree = parse_html(decode_html(page.body, page.encoding))
    metadata = read_metadata(tree)
    # Read with the metadata, while the page is in the processor's cache: the text
    # extraction works on copies of it and pushes it out.
    canonical_url = canonical_identity(tree, page.url, url)
    rule = rule_for(url)
    if rule is not None:
        metadata = rule.page_metadata(tree, metadata)
    content = article_text(tree, url, metadata, page.discovery)
    title = document_title(page.discovery, metadata, url)
    if not title:
        raise UnusablePage("no title")
    published = publication_time(page, tree, metadata, url)
    local_zone = ZoneInfo(page.source.timezone) if page.source.timezone else None
    language = choose_language(page.source.language, tree, content)
    if language is None:
        raise UnusablePage("no language")
    source_name, source_url = document_origin(page)
    return Document(
        title=title,
        published=to_output_zone(published.value, zone, local_zone),
        published_original=published.original,
        date_source=published.source,
        type=page.source.type,
        url=url,
        source_name=source_name,
        source_url=source_url,
        language=language,
        aggregator=page.discovery.aggregator,
        content=content,
        canonical_url=canonical_url,
        **page_details(page, metadata, zone, local_zone),
    )


def page_details(
    page: FetchedPage, metadata: PageMetadata, zone: ZoneInfo, local_zone: ZoneInfo | None
) -> dict[str, Any]:
    """What the page says about itself besides its text, for the database (issue 11):
    authors, description, image URL (absolute), modification time, section and tags.
    Read from the metadata already parsed; the Document bounds their sizes."""
    return {
        "authors": metadata.authors,
        "description": metadata.description,
        "image_url": image_url(page.url, metadata.image) if metadata.image else None,
        "modified_at": modification_time(metadata, page.fetched_at, zone, local_zone),
        "section": metadata.section,
        "tags": metadata.tags,
    }


def image_url(page_url: str, declared: str) -> str | None:
    """The absolute http(s) URL of the image a page declares (og:image...); None for a
    malformed one ("http://[::1") or another scheme (javascript:, data:): a detail the
    article is kept without, not a reason to lose it."""
    try:
        url = urljoin(page_url, declared.strip())
        scheme = urlsplit(url).scheme.lower()
    except ValueError:
        return None
    return url if scheme in ("http", "https") else None


def modification_time(
    metadata: PageMetadata, now: datetime, zone: ZoneInfo, local_zone: ZoneInfo | None
) -> datetime | None:
    """When the page says it was last modified: its JSON-LD ``dateModified``, else its
    modification meta tag (article:modified_time, ...), read as publication dates are."""
    for clue in metadata.dates:
        if clue.role != "modified" or clue.source not in ("jsonld", "meta"):
            continue
        value = parse_date(clue.text)
        if value is not None and is_plausible(value, now):
            return to_output_zone(value, zone, local_zone)
    return None


def document_url(page: FetchedPage) -> str:
    """The identity (scraper.urls) of the final URL after redirects; a <link
    rel=canonical> does not replace it (it may name another host, and the discovery
    decided which article this is), see ``canonical_identity``."""
    try:
        return identity(page.url)
    except ValueError:
        return page.discovery.url


def canonical_identity(tree: HtmlElement, page_url: str, url: str) -> str | None:
    """The identity of the page's <link rel=canonical> when it is on the same site as
    the page (host without "www.", any scheme) and names another URL than ``url``; else
    None."""
    canonical = declared_canonical(tree, page_url)
    return (
        canonical
        if canonical is not None and canonical != url and same_site(canonical, url)
        else None
    )


def declared_canonical(tree: HtmlElement, base_url: str) -> str | None:
    """The identity of the URL the page's <link rel=canonical> names (relative links
    resolved against ``base_url``), whatever its site; None when it names none, or
    several different ones (a page that declares two declares none)."""
    found: set[str] = set()
    for link in document_elements(tree, "link"):  # //link[@rel and @href], faster
        if link.get("rel") is None or link.get("href") is None:
            continue
        if "canonical" not in str(link.get("rel", "")).lower().split():
            continue
        try:
            found.add(identity(urljoin(base_url, str(link.get("href", "")).strip())))
        except ValueError:
            continue
    return found.pop() if len(found) == 1 else None


def document_title(discovery: Discovery, metadata: PageMetadata, url: str) -> str | None:
    """The channel's title as given (Google News keeps its " - Publisher" suffix), else
    the page's own headline without its site name."""
    given = single_line(discovery.title or "")
    return given if is_visible(given) else page_title(metadata, url)


def article_text(tree: HtmlElement, url: str, metadata: PageMetadata, discovery: Discovery) -> str:
    """The main text, paragraphs separated by one blank line, starting with the article's
    first sentence (headline, date line and byline removed; a dropped lead restored)."""
    rule = rule_for(url)
    body = rule.body_tree(tree) if rule is not None else None
    blocks = main_text(
        body if body is not None else tree,
        url,
        _headlines(metadata, discovery),
        metadata.authors,
        metadata.description,
        prune_xpath=rule.drop_xpaths() if rule is not None else (),
    )
    content = join_paragraphs(blocks)
    if rule is None:
        # A site rule says where the body is; without one the page's own JSON-LD copy of
        # its body may be the better candidate (scraper.declared_body says when).
        declared = preferred_paragraphs(content, metadata)
        if declared is not None:
            content = join_paragraphs(declared)
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


# The date_source of a channel's entry date: Google News is an RSS feed too.
_CHANNEL_DATE_SOURCE: dict[str, DateSource] = {
    "feed": "feed",
    "gnews": "feed",
    "sitemap": "sitemap",
}


def publication_time(
    page: FetchedPage, tree: HtmlElement, metadata: PageMetadata, url: str
) -> ChosenDate:
    """The publication date the evidence points to (scraper.dates.choose_date): the
    channel's entry date, the page's JSON-LD, meta tags, <time> elements, date line and
    URL, and htmldate when those leave it open; the crawl time only when the source
    allows it. Raises UnusablePage("no publication date") otherwise."""
    now = page.fetched_at
    candidates = [
        *channel_date(page.discovery),
        *read_clues(metadata.dates, metadata.month_first),
        *url_candidates(page.url),
    ]
    chosen = choose_date(candidates, now, more=lambda: htmldate_candidates(tree, url, now))
    if chosen is not None:
        return chosen
    if page.source.allow_crawl_time:
        return ChosenDate(now, "crawl")
    raise UnusablePage("no publication date")


def channel_date(discovery: Discovery) -> list[Candidate]:
    """The date the discovery channel gave the article, as a candidate (a listing gives
    none)."""
    source = _CHANNEL_DATE_SOURCE.get(discovery.channel)
    if discovery.published is None or source is None:
        return []
    return [Candidate(discovery.published, source)]


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
