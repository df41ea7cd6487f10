"""The article's main text: trafilatura's extraction, then the page furniture it lets
through taken out by evidence, and the lead it dropped put back (DESIGN section 2).

trafilatura (with its own readability and jusText fallbacks) finds the article's blocks
well; what it keeps too often are small blocks around them: "Read more: <other headline>"
lines, related-link lists and their headings, newsletter and subscription boxes, photo
credits. Each is recognised by what the block is, never by the site it is on:

- a block whose text is mostly the text of the page's own links is navigation;
- a short block that opens with a "see also" label ("Lesen Sie auch:", "Lea también:")
  is a teaser for another article;
- a short call to action (subscribe, newsletter, follow us, all rights reserved) or a
  photo credit line is not the article;
- a paragraph that repeats the text of one of the page's ``<figcaption>`` elements is
  a photo's caption;
- a heading or short label left with nothing after it introduced what was removed.

The article's standfirst is often printed in its own block between the headline and the
text, which extractors take for a teaser and drop; it is put back when the page marks it
as the lead (class or id such as "lead", "intro", "standfirst", "teaser") and shows it
right before the first extracted block. Measured on the labelled sets of the shared
corpus with ``benchmarks/extraction_quality.py``.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from lxml.html import HtmlElement

from scraper.extract import TEASER_CARDS_XPATH, restore_lead, strip_leading_furniture
from scraper.text import comparable as _comparable
from scraper.text import paragraphs as split_paragraphs
from scraper.text import single_line


@dataclass(frozen=True)
class Block:
    """One block of the extracted text: its kind (trafilatura's element: ``p``, ``head``,
    ``list``, ``quote``, ``table``...) and its text (paragraph breaks kept)."""

    kind: str
    text: str


def extract_blocks(
    tree: HtmlElement, url: str | None, prune_xpath: Sequence[str] = ()
) -> list[Block]:
    """trafilatura's main text of ``tree`` as blocks, in page order.

    Options, measured on the corpus: comments off (reader comments are not the article);
    the balanced default (favor_precision dropped real paragraphs, favor_recall brought in
    teasers and captions); tables kept (some articles are a table of figures); no
    deduplication (its cache is process-wide, so it would drop text because another page
    had it); teaser cards, and whatever a site rule names, pruned first.
    """
    from trafilatura.settings import Extractor
    from trafilatura.xml import xmltotxt

    from scraper import trafilatura_speedups

    # bare_extraction's options for these arguments (output "python", not fast).
    options = Extractor(
        output_format="python",
        url=url,
        comments=False,
        tables=True,
        images=False,
        links=False,
        formatting=False,
        dedup=False,
        with_metadata=False,
    )
    prune = [TEASER_CARDS_XPATH, *prune_xpath]
    body = trafilatura_speedups.extraction_body(tree, options, prune)
    if body is None:
        return []
    blocks: list[Block] = []
    for element in body:
        text = "\n\n".join(split_paragraphs(xmltotxt(element, False)))
        if text:
            blocks.append(Block(str(element.tag), text))
    return blocks


def main_text(
    tree: HtmlElement,
    url: str | None,
    headlines: Sequence[str],
    authors: Sequence[str],
    description: str | None,
    prune_xpath: Sequence[str] = (),
) -> list[str]:
    """The article's paragraphs: extraction, furniture removed, headline, date line and
    byline above the text removed, the lead restored (from the page's description when
    shown above the text, else from the element the page marks as its lead)."""
    # Read before the extraction (which works on copies, leaving ``tree`` as it is),
    # while the page is still in the processor's cache: a walk over it then costs less.
    anchors = link_texts(tree, url)
    captions = caption_texts(tree)
    blocks = remove_captions(extract_blocks(tree, url, prune_xpath), captions)
    blocks = remove_furniture(blocks, anchors)
    texts = strip_leading_furniture([b.text for b in blocks], headlines, authors)
    restored = restore_lead(texts, tree, description)
    if restored is texts and texts:
        lead = structural_lead(tree, [Block("p", t) for t in texts], anchors)
        if lead is not None:
            restored = [lead, *texts]
    return restored


# --------------------------------------------------------------------------- evidence

_WORDS = re.compile(r"\w+")


def _word_count(text: str) -> int:
    return len(_WORDS.findall(text))


# Anchor texts shorter than this match too much by chance to count as evidence.
_MIN_ANCHOR_CHARS = 4


@dataclass(frozen=True)
class Links:
    """The comparable texts of the page's links to other pages, indexed by their last
    characters so that "does this line end with a link?" costs one lookup."""

    texts: frozenset[str]
    by_ending: dict[str, tuple[str, ...]]

    @classmethod
    def of(cls, texts: set[str]) -> Links:
        by_ending: dict[str, list[str]] = {}
        for text in texts:
            by_ending.setdefault(text[-_MIN_ANCHOR_CHARS:], []).append(text)
        return cls(frozenset(texts), {k: tuple(v) for k, v in by_ending.items()})

    def longest_ending(self, text: str) -> int:
        """Length of the longest link text that ``text`` (comparable) ends with."""
        candidates = self.by_ending.get(text[-_MIN_ANCHOR_CHARS:], ())
        return max((len(c) for c in candidates if text.endswith(c)), default=0)


NO_LINKS = Links(frozenset(), {})


def link_texts(tree: HtmlElement, url: str | None = None) -> Links:
    """The texts of the page's links to other pages, which a block made of them repeats.
    Left out: links within this page (a table of contents, a heading's permalink), e-mail
    and phone links, and links that show their own address (a cited source is text)."""
    here = _without_fragment(url or "")
    # This page's own address, with and without scheme (an href here has no fragment).
    itself = {here, here.split("://", 1)[-1]} if here else set()
    found = set()
    # Menus and teasers repeat link texts; a text read once gives the same answer again.
    seen: set[str] = set()
    for anchor in tree.iter("a"):
        href = (anchor.get("href") or "").strip()
        if not href or "#" in href or href.startswith(_NOT_PAGE_LINKS):
            continue
        if href.rstrip("/") in itself:
            continue
        content = anchor.text_content()
        if content in seen:
            continue
        seen.add(content)
        raw = single_line(content)
        if raw.lower().startswith(("http", "www.")):
            continue
        text = _comparable(raw)
        if len(text) >= _MIN_ANCHOR_CHARS:
            found.add(text)
    return Links.of(found)


_NOT_PAGE_LINKS = ("javascript:", "mailto:", "tel:")


def _without_fragment(url: str) -> str:
    return url.split("#", 1)[0].rstrip("/")


def link_share(text: str, links: Links) -> float:
    """How much of ``text`` (letters and digits) is the text of links on the page: whole
    lines that are a link, or lines that end with one ("Read more: <linked headline>")."""
    block = _comparable(text)
    if not block:
        return 0.0
    if block in links.texts:
        return 1.0
    covered = 0
    for line in text.split("\n"):
        line_text = _comparable(line)
        covered += len(line_text) if line_text in links.texts else links.longest_ending(line_text)
    return covered / len(block)


# A block this much made of link text is navigation, a related-links list or a teaser.
_MAX_LINK_SHARE = 0.7
# ... unless it is long: a real paragraph that happens to be one long link stays.
_MAX_LINK_BLOCK_WORDS = 40

# "See also" labels that open a line pointing to another article, in the languages the
# service sees most; followed by ":", "»", "|", "-" or an arrow.
_SEE_ALSO = re.compile(
    r"^\W*(?:read (?:more|also|next)|see also|related(?: articles?| stories| news| content)?|"
    r"more on this(?: story)?|also read|recommended|you (?:may|might) also like|"
    r"lesen sie (?:auch|mehr|hier|weiter)|auch lesen|mehr zum thema|weiterlesen|zum artikel|"
    r"siehe auch|das könnte sie (?:auch )?interessieren|auch interessant|"
    r"lea (?:también|además|más)|lee (?:también|más)|lea|vea (?:también|más)|ver también|"
    r"mira|mire|le puede interesar|te puede interesar|puedes ver|noticias relacionadas|"
    r"notas relacionadas|contenido relacionado|leia (?:também|mais)|veja (?:também|mais)|"
    r"saiba mais|leia|à lire (?:aussi|également)|lire aussi|voir aussi|leggi anche|"
    r"czytaj (?:też|także|więcej)|zobacz (?:też|także)|dowiedz się więcej|"
    r"читайте (?:также|тоже)|также читайте|читайте|див\. також|читайте також|"
    r"lees ook|läs (?:också|mer)|les også|læs også|lue myös|"
    r"関連記事|相关阅读|相关新闻|延伸阅读|관련기사)\s*(?::|»|›|\||-|–|—|→|>|\W*$)",
    re.IGNORECASE,
)
_MAX_SEE_ALSO_WORDS = 30

# Calls to action and site notices: subscribing, newsletters, following the site,
# apps, donations, rights notices, paywall messages. Searched at every position of a
# block, so the lookahead in front lets a position fail on one character (the first
# letters of the phrases; tests/unit/test_body.py checks it admits every phrase) instead
# of on each phrase in turn. The notices that open a block are in _NOTICE_OPENING.
_CALL_TO_ACTION = re.compile(
    r"(?=[nsjaifdckeotvu有会無])(?:"
    r"newsletter|\bsubscribe\b|\bsubscription\b|\bsubscribers?\b|\bsign(?:ing)? up\b|"
    r"suscr[ií]be|suscribirse|suscripci[oó]n|jetzt abonnieren|abonnieren sie|abonnez-vous|"
    r"\bassine\b|inscreva-se|"
    r"\bfollow (?:us|the \w+ on|@)|s[ií]guenos|folgen sie uns|suivez-nous|seguici|"
    r"download (?:our|the) app|"
    r"(?:canal|channel|kanal|en|on|auf|via) (?:de )?(?:telegram|whatsapp)\b|"
    r"all rights reserved|todos los derechos|alle rechte vorbehalten|tous droits réservés|"
    r"有料会員|会員限定|会員登録|無料登録|"
    r"\bunterstütze\b|unterstützen sie uns|\bsupport us\b|support our (?:work|journalism)|"
    r"\bdonate\b)",
    re.IGNORECASE,
)
# Rights notices and advertising labels that open a block (matched at its start).
_NOTICE_OPENING = re.compile(
    r"\W*(?:©|copyright\b|"
    r"(?:werbung|anzeige|advertisement|publicidad|publicité|reklama|sponsored)\b)",
    re.IGNORECASE,
)
_MAX_CALL_TO_ACTION_WORDS = 40

# Photo credit lines: "Foto: dpa", "Titelbild: X/Y", "(Credit: X)", "© X/Getty Images".
_CREDIT = re.compile(
    r"^\W*(?:fotos?|photos?|bild(?:er)?|titelbild|beitragsbild|credits?|crédits?(?: photos?)?|"
    r"image(?: illustrative)?|imagen|foto de portada|fonte|source(?: de l'image)?|"
    r"quelle|copyright)\s*:|"
    r"\b(?:getty images|afp|reuters|dpa|picture[- ]alliance|imago|shutterstock|istock|"
    r"epa|ap photo|keystone|efe)\W*\)?\s*$",
    re.IGNORECASE,
)
_MAX_CREDIT_WORDS = 12

# A heading or label with nothing after it: short, no sentence end.
_MAX_LABEL_WORDS = 8
_SENTENCE_END = (".", "!", "?", "。", "！", "？", '"', "”", "»")


def _is_label(block: Block) -> bool:
    """A heading, or a short line without a sentence end ("Weitere Themen")."""
    text = block.text.strip()
    if block.kind == "head":
        return _word_count(text) <= 2 * _MAX_LABEL_WORDS
    return (
        block.kind == "p"
        and _word_count(text) <= _MAX_LABEL_WORDS
        and not text.endswith(_SENTENCE_END)
    )


# Words of the labels above related links, comments and topic lists: a short line
# without a sentence end that says one of these and ends the text introduced something
# that was not extracted. (A short last line without them may be a sign-off: kept.)
_SECTION_LABEL = re.compile(
    r"\b(?:themen|thema|temas?|topics?|tags?|schlagw|artikel|articles?|beiträge|posts?|"
    r"stories|news|nachrichten|noticias|notícias|actualités|notizie|related|relacionad|"
    r"verwandt|ähnlich|similar|interess|empfohlen|recommended|kommentare?|comments?|"
    r"comentarios?|mehr|more|más|mais|plus|weiter|read|lesen|lea|leia|lire|kategorie|"
    r"category|categoría|rubrik|ressort|sección)",
    re.IGNORECASE,
)


def _is_heading(block: Block) -> bool:
    """A heading, a short line announcing what follows ("Mehr zum Thema:"), or a short
    section label ("Weitere Themen")."""
    text = block.text.strip()
    if block.kind == "head":
        return _word_count(text) <= 2 * _MAX_LABEL_WORDS
    if block.kind != "p" or _word_count(text) > _MAX_LABEL_WORDS:
        return False
    return text.endswith(":") or (
        not text.endswith(_SENTENCE_END) and _SECTION_LABEL.search(text) is not None
    )


def is_furniture(block: Block, anchors: Links) -> bool:
    """True for a block that is page furniture rather than article text (see above)."""
    text = block.text
    words = _word_count(text)
    if words == 0:
        return True
    if words <= _MAX_SEE_ALSO_WORDS and _SEE_ALSO.match(text):
        return True
    if words <= _MAX_CALL_TO_ACTION_WORDS and (
        _NOTICE_OPENING.match(text) or _CALL_TO_ACTION.search(text)
    ):
        return True
    if words <= _MAX_CREDIT_WORDS and _CREDIT.search(text):
        return True
    if block.kind == "list":
        items = [line for line in text.split("\n") if line.strip()]
        linked = sum(link_share(item, anchors) >= _MAX_LINK_SHARE for item in items)
        return bool(items) and 2 * linked > len(items) and words <= 15 * len(items)
    return words <= _MAX_LINK_BLOCK_WORDS and link_share(text, anchors) >= _MAX_LINK_SHARE


# Cleaning must never take the article itself: when it would remove more than this share
# of the text, the evidence is wrong for the page (a page of links, a short notice).
_MAX_REMOVED_SHARE = 0.5


def remove_furniture(blocks: list[Block], anchors: Links) -> list[Block]:
    """``blocks`` without the furniture blocks, and without headings and labels that are
    left introducing nothing (they stood above what was removed, or end the text)."""
    kept: list[Block] = []
    dropped_after_label = False
    for block in blocks:
        if is_furniture(block, anchors):
            # A label right above removed furniture introduced it: "Auch interessant:".
            if kept and _is_label(kept[-1]) and not dropped_after_label:
                kept.pop()
            dropped_after_label = True
            continue
        kept.append(block)
        dropped_after_label = False
    while kept and _is_heading(kept[-1]):
        kept.pop()
    before = sum(len(b.text) for b in blocks)
    after = sum(len(b.text) for b in kept)
    if not kept or after < (1 - _MAX_REMOVED_SHARE) * before:
        return blocks
    return kept


# --------------------------------------------------------------------------- captions

# A caption this short (letters and digits) repeats a paragraph by chance ("Photo: AP").
_MIN_CAPTION_CHARS = 15


def caption_texts(tree: HtmlElement) -> frozenset[str]:
    """The comparable texts of the page's figure captions (``<figcaption>``)."""
    found = (_comparable(element.text_content()) for element in tree.iter("figcaption"))
    return frozenset(text for text in found if len(text) >= _MIN_CAPTION_CHARS)


def remove_captions(blocks: list[Block], captions: frozenset[str]) -> list[Block]:
    """``blocks`` without the paragraphs that repeat a figure caption of the page (a
    block left empty goes); unchanged when that would take most of the text (a photo
    page whose text is its caption)."""
    if not captions:
        return blocks
    kept = []
    for block in blocks:
        parts = block.text.split("\n\n")
        text = "\n\n".join(part for part in parts if _comparable(part) not in captions)
        if text:
            kept.append(block if len(text) == len(block.text) else Block(block.kind, text))
    before = sum(len(b.text) for b in blocks)
    if sum(len(b.text) for b in kept) < (1 - _MAX_REMOVED_SHARE) * before:
        return blocks
    return kept


# --------------------------------------------------------------------------- lead

# Class or id words that mark the standfirst between the headline and the text.
_LEAD_MARKS = re.compile(
    r"(?:^|[\s_-])(?:lead|lede|intro|introduction|standfirst|teaser(?:-?text)?|summary|"
    r"abstract|excerpt|chapo|chapeau|deck|dek|subtitle|sub-?headline|kicker-text|"
    r"article-?intro|article-?lead|article-?teaser|article-?excerpt|article-?summary|"
    r"entradilla|bajada|sumario|copete|linha-fina|olho)(?:$|[\s_-])",
    re.IGNORECASE,
)
_LEAD_TAGS = ("p", "div", "h2", "h3", "span", "section", "header")
_MIN_LEAD_WORDS = 8
_NOT_AROUND_LEAD = "ancestor::a|ancestor::nav|ancestor::aside|ancestor::footer|ancestor::li"
_NOT_IN_LEAD = ".//h1|.//h2|.//h3|.//ul|.//ol|.//nav|.//time|.//figure|.//img|.//table|.//form"
_MIN_LEAD_CHARS = 40
_MAX_LEAD_CHARS = 1200
_FIRST_BLOCK_PROBE_CHARS = 60
# Pages mark many things "teaser"; only the first few candidates are looked at.
_MAX_LEAD_CANDIDATES = 5


def structural_lead(tree: HtmlElement, blocks: list[Block], anchors: Links) -> str | None:
    """The standfirst the page marks as such, when it stands right before the first
    extracted block and the extraction does not have it yet; else None."""
    if not blocks:
        return None
    first = _comparable(blocks[0].text)[:_FIRST_BLOCK_PROBE_CHARS]
    if not first:
        return None
    extracted = _comparable("".join(b.text for b in blocks[:3]))
    tried = 0
    # Whether a class and id mark a lead; a page repeats its classes on many elements.
    marked: dict[tuple[str | None, str | None], bool] = {}
    for element in tree.iter(*_LEAD_TAGS):
        classes, name = element.get("class"), element.get("id")
        if not classes and not name:  # most elements: nothing to mark them
            continue
        is_marked = marked.get((classes, name))
        if is_marked is None:
            is_marked = _LEAD_MARKS.search(f"{classes or ''} {name or ''}") is not None
            marked[classes, name] = is_marked
        if not is_marked:
            continue
        text = single_line(element.text_content())
        lead = _comparable(text)
        if not (_MIN_LEAD_CHARS <= len(lead) <= _MAX_LEAD_CHARS) or lead in extracted:
            continue
        # A standfirst is whole sentences; a teaser of another article is cut short
        # ("..."), and a header block holding the headline, links or a list is no lead.
        if not text.endswith(_SENTENCE_END) or text.endswith(("...", "…")):
            continue
        if _word_count(text) < _MIN_LEAD_WORDS or element.xpath(_NOT_IN_LEAD):
            continue
        if first in lead:  # the lead element holds the text itself (a wrapper)
            return None
        if element.xpath(_NOT_AROUND_LEAD):
            continue
        if link_share(text, anchors) >= _MAX_LINK_SHARE:
            continue
        # It must be followed, in the page, by the first extracted block: the next
        # element with text after it should start the article.
        if _followed_by(element, first):
            return text
        tried += 1
        if tried >= _MAX_LEAD_CANDIDATES:
            return None
    return None


def _followed_by(element: HtmlElement, first: str, budget: int = 800) -> bool:
    """True when the text that follows ``element`` in document order contains the probe
    ``first`` within ``budget`` characters (bylines, dates and images may stand between)."""
    seen = ""
    for following in element.itersiblings():
        seen += _comparable(following.text_content())
        if first in seen:
            return True
        if len(seen) > budget:
            return False
    parent = element.getparent()
    if parent is not None and parent.tag not in ("body", "html"):
        return _followed_by(parent, first, budget - len(seen))
    return False
