"""The Document: one article in the service's fixed text format (DESIGN section 2).

``render`` turns a Document into the exact text of a record file and ``parse`` reads such
text back into an equal Document, so producers and consumers share one definition.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime

from scraper.text import join_paragraphs, single_line
from scraper.urls import article_id

TITLE_PREFIX = "# Título: "
CONTENT_HEADER = "### Conteúdo:"
_HEADER_KEYS = ("Data", "Tipo", "URL", "Origem", "Idioma", "Agregador")
_ORIGIN = re.compile(r"\[(?P<name>.*)\]\((?P<url>[^()\s]*)\)")


class DocumentFormatError(ValueError):
    """The text is not a record in the document format."""


@dataclass(frozen=True)
class Document:
    """One normalized article. Field values are cleaned on construction so that every
    Document renders to a well-formed record and parses back to itself."""

    title: str
    published: datetime
    type: str
    url: str
    source_name: str
    source_url: str
    language: str
    aggregator: str
    content: str
    # Provenance of ``published`` (issue 8), stored in the database but not in the record
    # file, whose format is fixed: the value as the page or channel stated it (ISO 8601
    # with its own offset, or a bare YYYY-MM-DD), and which candidate gave it (feed,
    # sitemap, jsonld, meta, time, url, text, htmldate, crawl). None when unknown (a
    # record read back from its file). Not part of equality: a record parsed from its
    # file equals the document it was rendered from.
    published_original: str | None = field(default=None, compare=False)
    date_source: str | None = field(default=None, compare=False)
    # The identity of the page's same-site <link rel=canonical> when it names another
    # URL than ``url`` (issue 8): the crawl makes ``url`` an alias of that article when it
    # is stored already. Neither in the record file nor in the articles row.
    canonical_url: str | None = field(default=None, compare=False)
    # What the page says about itself besides its text (issue 11), stored in the database
    # but not in the record file: bylines, its description (standfirst), its image, when
    # it says it was last modified, its section and tags. Bounded on construction
    # (MAX_LIST_ITEMS, MAX_NAME_CHARS, ...), so a hostile page cannot bloat a row. None
    # when unknown (a record read back from its file); a crawled page that names no
    # author or tag has empty tuples. Not part of equality, as the provenance above.
    authors: tuple[str, ...] | None = field(default=None, compare=False)
    description: str | None = field(default=None, compare=False)
    image_url: str | None = field(default=None, compare=False)
    modified_at: datetime | None = field(default=None, compare=False)
    section: str | None = field(default=None, compare=False)
    tags: tuple[str, ...] | None = field(default=None, compare=False)
    id: str = field(init=False)

    def __post_init__(self) -> None:
        if self.published.tzinfo is None or self.published.utcoffset() is None:
            raise ValueError("Document.published must carry a time zone")
        set_ = object.__setattr__
        for name in ("title", "type", "url", "source_name", "source_url", "language", "aggregator"):
            set_(self, name, single_line(getattr(self, name)))
        set_(self, "title", bounded_title(self.title))
        # "(", ")" and a space would end the Origem link early (the record could not be
        # read back); percent-encoding keeps the URL equal.
        origin_url = self.source_url.replace("(", "%28").replace(")", "%29")
        set_(self, "source_url", origin_url.replace(" ", "%20"))
        set_(self, "published", self.published.replace(microsecond=0))
        set_(self, "content", join_paragraphs([self.content]))
        for name in ("title", "url", "content"):
            if not getattr(self, name):
                raise ValueError(f"Document.{name} must not be empty")
        set_(self, "id", article_id(self.url))
        _bound_page_metadata(self)

    @property
    def has_page_metadata(self) -> bool:
        """Whether the document knows what its page said about itself (a crawled page
        does, even when the page named nothing; a record read back from its file does
        not)."""
        return any(
            value is not None
            for value in (
                self.authors,
                self.description,
                self.image_url,
                self.modified_at,
                self.section,
                self.tags,
            )
        )

    def page_metadata_fields(self) -> dict[str, str | list[str] | None]:
        """The page's metadata as JSON-ready values (lists, ISO 8601), None where unknown:
        the same keys in the journal, the JSON of ``scraper extract`` and exports."""
        return {
            "authors": list(self.authors) if self.authors is not None else None,
            "description": self.description,
            "image_url": self.image_url,
            "modified_at": self.modified_at.isoformat() if self.modified_at else None,
            "section": self.section,
            "tags": list(self.tags) if self.tags is not None else None,
        }

    @property
    def paragraphs(self) -> list[str]:
        return self.content.split("\n\n")


# A headline is a line; a "title" of megabytes is a broken page or a hostile feed, and
# PostgreSQL's search vector of the row (title and body, at most 1 MB) could not hold it:
# the whole batch of rows would fail with it.
MAX_TITLE_CHARS = 1_000
# Bounds of the page's metadata: a page may declare anything, a row must stay small.
MAX_LIST_ITEMS = 20  # authors, tags
MAX_NAME_CHARS = 200  # an author, a tag, the section
MAX_DESCRIPTION_CHARS = 2_000
MAX_URL_CHARS = 2_048  # the image URL; a longer one is dropped, never cut
# Lone surrogates (a JSON-LD "\ud800" decodes to one) cannot be written as UTF-8: no
# database or file would take the row. (single_line drops them from text; a URL that
# holds one is refused.)
_SURROGATES = re.compile("[\ud800-\udfff]")


def bounded_title(title: str) -> str:
    """``title`` (one clean line) cut to MAX_TITLE_CHARS, at its last space before the
    limit unless that would drop more than half of it."""
    if len(title) <= MAX_TITLE_CHARS:
        return title
    space = title.rfind(" ", MAX_TITLE_CHARS // 2, MAX_TITLE_CHARS + 1)
    return title[: space if space > 0 else MAX_TITLE_CHARS].rstrip()


def bounded_text(value: object, limit: int) -> str | None:
    """``value`` as one clean line of at most ``limit`` characters; None when empty or
    not a string. Only a bounded prefix is cleaned: the cost stays small whatever the
    page holds."""
    if not isinstance(value, str):
        return None
    text = single_line(value[: 4 * limit + 64])[:limit].rstrip()
    return text or None


def bounded_names(values: object) -> tuple[str, ...] | None:
    """At most MAX_LIST_ITEMS distinct (case-insensitively) names of at most
    MAX_NAME_CHARS each, in their order; None stays None (unknown)."""
    if values is None:
        return None
    if isinstance(values, str) or not isinstance(values, list | tuple):
        raise ValueError("authors and tags must be sequences of strings")
    found: dict[str, str] = {}
    for value in values[: 8 * MAX_LIST_ITEMS]:
        name = bounded_text(value, MAX_NAME_CHARS)
        if name is not None:
            found.setdefault(name.casefold(), name)
        if len(found) == MAX_LIST_ITEMS:
            break
    return tuple(found.values())


def bounded_url(value: object) -> str | None:
    """An absolute http(s) URL of at most MAX_URL_CHARS without whitespace; else None."""
    if not isinstance(value, str) or len(value) > MAX_URL_CHARS:
        return None
    url = value.strip()
    if (
        not url.lower().startswith(("http://", "https://"))
        or any(ch.isspace() or ord(ch) < 32 or ord(ch) == 127 for ch in url)
        or _SURROGATES.search(url)
    ):
        return None
    return url


def _bound_page_metadata(doc: Document) -> None:
    set_ = object.__setattr__
    set_(doc, "authors", bounded_names(doc.authors))
    set_(doc, "tags", bounded_names(doc.tags))
    set_(doc, "description", bounded_text(doc.description, MAX_DESCRIPTION_CHARS))
    set_(doc, "section", bounded_text(doc.section, MAX_NAME_CHARS))
    set_(doc, "image_url", bounded_url(doc.image_url))
    if doc.modified_at is not None:
        if doc.modified_at.tzinfo is None or doc.modified_at.utcoffset() is None:
            raise ValueError("Document.modified_at must carry a time zone")
        set_(doc, "modified_at", doc.modified_at.replace(microsecond=0))


def format_date(moment: datetime) -> str:
    """``YYYY-MM-DD HH:MM:SS±HH:MM`` as in the record's ``Data`` line."""
    return moment.replace(microsecond=0).isoformat(sep=" ")


def render(doc: Document) -> str:
    """The record text of ``doc``: UTF-8 ready, ``\\n`` line ends, one final newline."""
    header = [
        f"{TITLE_PREFIX}{doc.title}",
        "",
        f">Data: {format_date(doc.published)}",
        f">Tipo: {doc.type}",
        f">URL: {doc.url}",
        f">Origem: [{doc.source_name}]({doc.source_url})",
        f">Idioma: {doc.language}",
        f">Agregador: {doc.aggregator}",
        "",
        CONTENT_HEADER,
        "",
    ]
    # An empty value must not leave a trailing space (">Tipo:" rather than ">Tipo: ").
    return "\n".join(line.rstrip() for line in header) + "\n" + doc.content + "\n"


def parse(text: str) -> Document:
    """Read record text back into a Document; DocumentFormatError says what is wrong."""
    lines = text.split("\n")
    if len(lines) < 13 or text.endswith("\n\n") or not text.endswith("\n"):
        raise DocumentFormatError("not a complete record (too short or wrong final newline)")
    if not lines[0].startswith(TITLE_PREFIX) or lines[1] != "":
        raise DocumentFormatError("first line must be '# Título: ...' followed by a blank line")
    values: dict[str, str] = {}
    for key, line in zip(_HEADER_KEYS, lines[2:8], strict=True):
        prefix = f">{key}: "
        if not line.startswith(prefix) and line != prefix.rstrip():
            raise DocumentFormatError(f"expected '>{key}:' line, found {line[:40]!r}")
        values[key] = line[len(prefix) :]
    if lines[8:11] != ["", CONTENT_HEADER, ""]:
        raise DocumentFormatError("expected a blank line, '### Conteúdo:' and a blank line")
    origin = _ORIGIN.fullmatch(values["Origem"])
    if origin is None:
        raise DocumentFormatError("'>Origem:' must be '[name](url)'")
    try:
        published = datetime.fromisoformat(values["Data"])
    except ValueError as exc:
        raise DocumentFormatError(f"bad '>Data:' value {values['Data']!r}") from exc
    try:
        return Document(
            title=lines[0][len(TITLE_PREFIX) :],
            published=published,
            type=values["Tipo"],
            url=values["URL"],
            source_name=origin["name"],
            source_url=origin["url"],
            language=values["Idioma"],
            aggregator=values["Agregador"],
            content="\n".join(lines[11:-1]),
        )
    except ValueError as exc:
        raise DocumentFormatError(str(exc)) from exc
