"""Eight of trafilatura's steps done with less work and the same result (issue 9).

trafilatura is most of an article's extraction cost. Eight of its steps do work whose
outcome can be known in advance far more cheaply (and three of jusText's, its second
fallback, repeat work: ``scraper.justext_speedups``):

- **The comparison with readability.** In its balanced mode trafilatura runs its own
  port of readability on a copy of every page and keeps readability's text only when
  its own extraction is empty, or less than half as long as readability's, or has no
  paragraph text, or more tables than paragraphs; jusText is tried only when its own
  text is short (under ``min_extracted_size``) or holds "unclean" elements.
  Readability's text is a part of the page's text (scripts and styles dropped, plus
  "VIDEO" for each video iframe it keeps), so when trafilatura's own text is long,
  clean, made of paragraphs and at least half of that bound, none of those rules can
  fire and the comparison is skipped: the result is the one trafilatura would return.
  Where that bound is too loose, a tighter one leaves out the text of the elements
  readability drops first, whatever it then finds ("unlikely candidates": comment
  sections, footers, menus, sidebars by their class). On the 943 pages of the dev
  corpus the comparison is skipped on 699 of the 998 times it comes up (502 with the
  first bound alone).
- **The clean-up before its page measure and jusText.** ``basic_cleaning`` drops
  asides, footers, scripts, styles and cookie-consent boxes by one XPath whose
  consent test calls a Python regular expression (EXSLT ``re:test``) on every element
  of the page. The test can only match where some ``class`` or ``id`` value matches,
  which one regular-expression search over all those values (read in C) tells; when
  none does, the XPath without the test finds the same elements, else the original
  one runs.
- **Its XPath expressions' regular expressions.** Its discard, body and comment
  XPaths test attributes with ``re:test(@class, '...')``, a Python call for every
  element of the page, also for the many elements without that attribute, where the
  test reads an empty string. When the expression cannot match an empty string,
  ``(@class and re:test(@class, '...'))`` selects the same elements and libxml2
  skips the call where the attribute is missing: a quarter of those XPaths' cost.
- **jusText's stop list.** Without a page language trafilatura hands jusText the
  stopwords of all its languages as a tuple of ~150,000 words; jusText's cached
  ``define_stoplist`` hashes that tuple again on every call (~2 ms). The same words
  as a frozenset (whose hash Python keeps) make the cache hit at once. They are read
  from a copy in the user's cache (``scraper.stoplists``), not gathered from jusText's
  100 files at each start.
- **The page measure of its recall retry.** A short extraction covering under a fifth
  of the page's text (``html2txt``: a copy of the page cleaned up, ~2.5 ms) is retried
  in recall mode. The readability bound above also bounds that measure, so when the
  text covers a fifth of the bound no retry can follow and the measure is not taken.
- **The outermost of the boilerplate elements.** Before deleting them, trafilatura
  keeps those with no selected ancestor by walking every ancestor of every selected
  element; ``outermost`` walks each ancestor once.
- **Its copy of the page.** ``bare_extraction`` copies the tree it is given, because
  its first steps delete elements from it (a caller's expressions, "infinite scroll"
  blocks, comment sections). ``extraction_body`` does bare_extraction's work for the
  pipeline's options on the caller's tree and copies it only before the first
  deletion: 4 pages in 10 of the dev corpus are never copied.
- **Expressions that cannot select anything.** Most of its expressions test ``class``
  and ``id`` values; ``scraper.xpath_prefilter`` reads the values present once and
  skips the walk when none could pass (no comment section, no teaser...).

All are installed once per process by ``install`` (the extraction path calls it) by
replacing functions trafilatura's modules call through their globals and XPath objects
they hold in their lists; nothing else of trafilatura changes.
tests/unit/test_trafilatura_speedups.py checks on real pages that the outcome is the
same with and without them; if trafilatura's internals change shape, ``install``
leaves trafilatura as it is.
"""

from __future__ import annotations

import importlib
import logging
import re
import threading
import weakref
from bisect import bisect_right
from collections.abc import Iterator
from contextlib import contextmanager
from copy import copy
from functools import lru_cache
from itertools import accumulate
from types import ModuleType
from typing import Any, cast

from lxml import etree
from lxml.html import HtmlElement

from scraper import justext_speedups
from scraper.stoplists import all_stopwords
from scraper.xpath_prefilter import joined_values, prefiltered

log = logging.getLogger(__name__)

# The page's text nodes, and those readability drops with their scripts and styles (a
# script's or style's text is its only child; their tails stay).
_VISIBLE_TEXT_NODES = etree.XPath(
    ".//text()[normalize-space()][not(parent::script or parent::style)]", smart_strings=False
)
_IFRAMES = etree.XPath("count(.//iframe)")
# What readability writes into each video iframe it keeps, and the space around it.
_VIDEO_MARK_CHARS = len(" VIDEO ")
_PARAGRAPH_TEXT = etree.XPath(".//p//text()", smart_strings=False)
_CLASS_AND_ID = frozenset({"class", "id"})
# The values as strings that know their element.
_CLASS_VALUES = etree.XPath("descendant-or-self::*/@class")


# (module or list, attribute name or index, trafilatura's own value) of what ``install``
# replaced.
_REPLACED: list[tuple[ModuleType | type | list[Any], str | int, Any]] = []
# re:test( on an attribute or a union of attributes, up to its pattern argument.
_RE_TEST_CALL = re.compile(r"re:test\(\s*(@[\w-]+(?:\s*\|\s*@[\w-]+)*)\s*,")
_STRING_LITERAL = re.compile(r"\s*(['\"])(.*?)\1", re.DOTALL)


def _module(name: str) -> ModuleType:
    # import_module: the package's ``baseline`` attribute is a function of that name
    return importlib.import_module(f"trafilatura.{name}")


@lru_cache(maxsize=1)
def install() -> bool:
    """Put the speed-ups in place, once per process. False when trafilatura's
    modules do not have the expected shape (then trafilatura runs unchanged)."""
    baseline, core, external, settings = map(_module, ("baseline", "core", "external", "settings"))
    htmlprocessing, main_extractor = map(_module, ("htmlprocessing", "main_extractor"))
    shapes_known = (
        callable(getattr(core, "_extract_and_compare", None))
        and callable(getattr(core, "extract_content", None))
        and callable(getattr(core, "compare_extraction", None))
        and isinstance(getattr(external, "SANITIZED_XPATH", None), str)
        and isinstance(getattr(baseline, "BASIC_CLEAN_XPATH", None), etree.XPath)
        and isinstance(getattr(settings, "_COOKIE_CONSENT_RE", None), str)
        and "|.//*[re:test" in baseline.BASIC_CLEAN_XPATH.path
        # the newline-joined search below relies on no alternative matching across lines
        and not re.search(r"[.\\\s]", settings._COOKIE_CONSENT_RE)
        and callable(getattr(external, "jt_stoplist_init", None))
        and hasattr(external, "JT_STOPLIST")
        and getattr(core, "html2txt", None) is baseline.html2txt
        and isinstance(getattr(core, "ESCALATION_PAGE_SHARE", None), float)
        and getattr(main_extractor, "prune_unwanted_nodes", None)
        is htmlprocessing.prune_unwanted_nodes
        and getattr(core, "prune_unwanted_nodes", None) is htmlprocessing.prune_unwanted_nodes
        and callable(getattr(core, "trafilatura_sequence", None))
        and callable(getattr(htmlprocessing, "delete_element", None))
    )
    if not shapes_known:
        log.warning("trafilatura's internals changed: its extraction runs without speed-ups")
        return False
    consent = re.compile(settings._COOKIE_CONSENT_RE, re.IGNORECASE)
    _replace(core, "_extract_and_compare", _extract_and_compare)
    _replace(core, "html2txt", _html2txt_for_escalation)
    _replace(main_extractor, "prune_unwanted_nodes", _prune_unwanted_nodes)
    _replace(core, "prune_unwanted_nodes", _prune_unwanted_nodes)
    _replace(baseline, "BASIC_CLEAN_XPATH", _BasicCleaning(baseline.BASIC_CLEAN_XPATH, consent))
    _faster_xpaths(_module("xpaths"))
    stoplist = external.JT_STOPLIST or all_stopwords(external.jt_stoplist_init)
    if external.JT_STOPLIST is None:
        # What trafilatura as published holds once it has gathered them, for
        # ``suspended`` to bring back: the same words, not gathered again.
        _set(external, "JT_STOPLIST", tuple(stoplist))
    _replace(external, "JT_STOPLIST", frozenset(stoplist))
    _faster_justext()
    return True


def _faster_justext() -> None:
    """jusText's paragraphs built with less work (``scraper.justext_speedups``), when
    its modules have the shape those replace."""
    paragraph = importlib.import_module("justext.paragraph")
    core = importlib.import_module("justext.core")
    if not justext_speedups.shapes_known(paragraph, core):
        log.warning("jusText's internals changed: it runs without speed-ups")
        return
    _replace(paragraph, "normalize_whitespace", justext_speedups.normalize_whitespace)
    _replace(paragraph.Paragraph, "text", property(justext_speedups.paragraph_text))
    _replace(core.PathInfo, "append", justext_speedups.path_append)
    _replace(core.PathInfo, "xpath", property(justext_speedups.path_xpath))
    _replace(core.PathInfo, "dom", property(justext_speedups.path_dom))


def _replace(where: ModuleType | type | list[Any], key: str | int, value: Any) -> None:
    _REPLACED.append((where, key, _get(where, key)))
    _set(where, key, value)


def _get(where: ModuleType | type | list[Any], key: str | int) -> Any:
    if isinstance(where, list) and isinstance(key, int):
        return where[key]
    return getattr(where, str(key))


def _set(where: ModuleType | type | list[Any], key: str | int, value: Any) -> None:
    if isinstance(where, list) and isinstance(key, int):
        where[key] = value
    else:
        setattr(where, str(key), value)


@contextmanager
def suspended() -> Iterator[None]:
    """trafilatura exactly as published inside the block (for baselines and tests)."""
    ours = [(where, key, _get(where, key)) for where, key, _ in _REPLACED]
    for where, key, original in _REPLACED:
        _set(where, key, original)
    try:
        yield
    finally:
        for where, key, value in ours:
            _set(where, key, value)


# --------------------------------------------------------------------------- regex tests


def _faster_xpaths(xpaths: ModuleType) -> None:
    """Each XPath in the lists of trafilatura's ``xpaths`` module (the other modules hold
    the same lists) replaced in place by one with its ``re:test`` calls guarded and,
    where its predicates allow, a prefilter on the page's attribute values
    (``scraper.xpath_prefilter``)."""
    for value in vars(xpaths).values():
        if not isinstance(value, list):
            continue
        for index, expression in enumerate(value):
            if not isinstance(expression, etree.XPath):
                continue
            guarded = guard_regex_tests(expression.path)
            if guarded != expression.path:
                expression = etree.XPath(guarded, namespaces=_EXSLT_REGEXP)
            faster = prefiltered(expression, _EXSLT_REGEXP)
            if faster is not value[index]:
                _replace(value, index, faster)


_EXSLT_REGEXP = {"re": "http://exslt.org/regular-expressions"}


def guard_regex_tests(path: str) -> str:
    """``path`` with each ``re:test(@a, 'pattern'...)`` whose pattern cannot match an
    empty string written ``(@a and re:test(@a, 'pattern'...))``: the same elements, and
    no call where the attribute is missing."""
    parts: list[str] = []
    done = 0
    for call in _RE_TEST_CALL.finditer(path):
        if call.start() < done:
            continue
        end = _closing_parenthesis(path, call.end())
        pattern = _STRING_LITERAL.match(path, call.end())
        if end is None or pattern is None or _may_match_empty(pattern.group(2)):
            continue
        attribute = call.group(1)
        parts += [path[done : call.start()], f"({attribute} and {path[call.start() : end + 1]})"]
        done = end + 1
    return "".join([*parts, path[done:]])


def _may_match_empty(pattern: str) -> bool:
    """Whether ``pattern`` matches an empty string (or cannot be read: left alone)."""
    try:
        return re.search(pattern, "") is not None
    except re.error:
        return True


def _closing_parenthesis(path: str, start: int) -> int | None:
    """Index of the parenthesis closing the call whose arguments begin at ``start``
    (quoted strings skipped), or None."""
    depth, quote = 1, ""
    for index in range(start, len(path)):
        char = path[index]
        if quote:
            quote = "" if char == quote else quote
        elif char in "'\"":
            quote = char
        elif char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
            if depth == 0:
                return index
    return None


# --------------------------------------------------------------------------- comparison


class _Extraction:
    """The raw tree the main extractor last ran on (held weakly: the record must not keep
    a page's tree alive), the length of the text it found there, and the tree's
    visible-text measure once something asked for it."""

    def __init__(self, tree: HtmlElement, extracted: int) -> None:
        self.tree = weakref.ref(tree)
        self.extracted = extracted
        self.visible: int | None = None


_last_extraction: _Extraction | None = None


def _extract_and_compare(
    cleaned_tree: HtmlElement, cleaned_tree_backup: HtmlElement, tree: HtmlElement, options: Any
) -> tuple[Any, str]:
    """trafilatura's ``core._extract_and_compare``, skipping the comparison with the
    external extractors when it cannot change the result."""
    global _last_extraction
    core = _module("core")
    body, text = core.extract_content(cleaned_tree, options)
    _last_extraction = _Extraction(tree, len(text))
    if options.fast or comparison_cannot_change(body, text, tree, options):
        return body, text
    return core.compare_extraction(cleaned_tree_backup, copy(tree), body, text, options)  # type: ignore[no-any-return]


def comparison_cannot_change(body: Any, text: str, tree: HtmlElement, options: Any) -> bool:
    """Whether trafilatura's ``compare_extraction`` would return ``body`` and ``text``
    unchanged (balanced mode only): the text is long enough and clean enough not to call
    jusText, made of paragraphs, and at least half as long as any text readability could
    find in ``tree``."""
    from trafilatura.external import SANITIZED_XPATH

    if options.focus != "balanced" or len(text) < options.min_extracted_size:
        return False
    if body.xpath(SANITIZED_XPATH) or not _PARAGRAPH_TEXT(body):
        return False
    if len(body.findall(".//table")) > len(body.findall(".//p")):
        return False
    return any(2 * len(text) >= bound for bound in readability_text_bounds(tree))


def readability_text_bounds(tree: HtmlElement) -> Iterator[int]:
    """Upper bounds of the length of readability's text for ``tree``, each tighter and
    dearer than the one before (computed as they are asked for):

    - the page's text without scripts and styles, whitespace collapsed as trafilatura's
      ``trim`` does, plus the "VIDEO" readability writes into each iframe;
    - the same without the text of the elements readability drops before it looks for
      the article ("unlikely candidates": a class or id naming a comment section, a
      footer, a menu, a sidebar...), which on many pages is most of what is not the
      article."""
    iframes = _IFRAMES(tree)
    assert isinstance(iframes, float)  # XPath count() is a number
    video_marks = _VIDEO_MARK_CHARS * int(iframes)
    visible = visible_text_bound(tree)
    yield visible + video_marks
    yield max(visible - unlikely_text_measure(tree), 0) + video_marks


def unlikely_text_measure(tree: HtmlElement) -> int:
    """What the text of the elements readability drops as unlikely candidates adds to
    ``visible_text_bound`` (each text node's stripped length plus one): the nodes below
    the outermost of them. Their tails stay (lxml's ``drop_tree`` keeps a tail), and
    they are not below them. An element is counted only when readability's own test
    drops it, so the bound only gets tighter where readability's text is shorter;
    where trafilatura's readability has changed shape nothing is counted."""
    readability = _readability_rules()
    if readability is None:
        return 0
    unlikely, likely_after_all, never_dropped = readability
    # One search over all class values: only the elements whose class has a match (a
    # match lies within one value: the pattern is words) are tested one by one. Those
    # named unlikely by their id alone are not counted (reading ids too cost more than
    # the comparisons it would spare).
    values = cast(list[Any], _CLASS_VALUES(tree))
    starts = list(accumulate((len(value) + 1 for value in values), initial=0))
    lowered = "\n".join(values).lower()
    dropped: dict[HtmlElement, None] = {}
    tested: set[int] = set()
    for match in unlikely.finditer(lowered):
        index = bisect_right(starts, match.start()) - 1
        if index in tested:
            continue
        tested.add(index)
        element = values[index].getparent()
        # readability's own test (Readability.remove_unlikely_candidates)
        attributes = " ".join(filter(None, (element.get("class"), element.get("id"))))
        if len(attributes) < 2 or element.tag in never_dropped:
            continue
        attributes = attributes.lower()
        if unlikely.search(attributes) and not likely_after_all.search(attributes):
            dropped[element] = None
    return sum(_text_measure(element) for element in outermost(dropped))


@lru_cache(maxsize=1)
def _readability_rules() -> tuple[re.Pattern[str], re.Pattern[str], frozenset[str]] | None:
    """readability's unlikely-candidate pattern, the pattern that saves an element from
    it, and the tags it never drops; None when they are not where expected."""
    readability = _module("readability_lxml")
    patterns = getattr(readability, "REGEXES", {})
    unlikely = patterns.get("unlikelyCandidatesRe")
    likely = patterns.get("okMaybeItsACandidateRe")
    never = getattr(readability, "FRAME_TAGS", None)
    method = getattr(getattr(readability, "Document", None), "remove_unlikely_candidates", None)
    if not (
        isinstance(unlikely, re.Pattern)
        and isinstance(likely, re.Pattern)
        and isinstance(never, set | frozenset)
        and callable(method)
        # words only, so that a match in the joined values is a match in one value
        and re.fullmatch(r"[a-z-]+(\|[a-z-]+)*", unlikely.pattern)
    ):
        return None
    return unlikely, likely, frozenset(never)


def visible_text_bound(tree: HtmlElement) -> int:
    """An upper bound of the length of any text made of ``tree``'s text without scripts
    and styles (some of it removed, spaces added between nodes), whitespace collapsed.

    Collapsed, text joined by single spaces is its words' letters plus one space between
    two words. Removing text or joining two nodes' words only shortens it, so the page's
    text nodes, each counted as its own words and one space per word, bound it; a node
    stripped of its outer whitespace is at least that long minus one (its words are at
    least one space apart), and a node of XML whitespace alone has no word. Computed
    once per tree the main extractor ran on (readability's bound and the escalation
    measure both read it)."""
    record = _last_extraction
    if record is not None and record.tree() is tree and record.visible is not None:
        return record.visible
    bound = max(_text_measure(tree) - 1, 0)
    if record is not None and record.tree() is tree:
        record.visible = bound
    return bound


def _text_measure(element: HtmlElement) -> int:
    """Each text node below ``element`` (its own text, not its tail) that is not only
    whitespace, without scripts and styles: its stripped length plus one."""
    return sum(len(node.strip()) + 1 for node in _strings(_VISIBLE_TEXT_NODES, element))


def _html2txt_for_escalation(content: Any, clean: bool = True) -> str:
    """Stands in for ``html2txt`` in trafilatura's ``core``, whose only use of it is the
    page measure of its recall escalation: a retry when
    ``len(text) < ESCALATION_PAGE_SHARE * len(html2txt(tree))`` (an extraction covering
    little of the page; html2txt copies and cleans the whole page, ~2.5 ms).

    ``tree`` is the one the main extractor just ran on, and the text compared is the one
    it found or longer (the baseline rescue in between only replaces it by a longer one).
    When that text is already at least the share of an upper bound of html2txt's length,
    the retry cannot happen, and an empty string gives the same outcome; otherwise
    html2txt runs as published."""
    core = _module("core")
    record = _last_extraction
    if (
        clean
        and record is not None
        and record.tree() is content
        and record.extracted >= core.ESCALATION_PAGE_SHARE * visible_text_bound(content)
    ):
        return ""
    return _module("baseline").html2txt(content, clean)  # type: ignore[no-any-return]


def _strings(xpath: etree.XPath, tree: HtmlElement) -> list[str]:
    """The strings an XPath made with ``smart_strings=False`` returns."""
    return cast(list[str], xpath(tree))


# --------------------------------------------------------------------------- the page, uncopied


class _Borrowed(threading.local):
    """The caller's tree while ``extraction_body`` extracts from it without a copy, per
    thread (weakly held: a page's tree must not outlive its extraction because of this
    module)."""

    tree: weakref.ref[HtmlElement] | None = None


_borrowed = _Borrowed()


def extraction_body(tree: HtmlElement, options: Any, prune_xpath: list[str]) -> Any | None:
    """The ``body`` of ``bare_extraction(tree, options=options, prune_xpath=prune_xpath)``
    for options without metadata, deduplication or a target language, without
    bare_extraction's copy of ``tree``: None where bare_extraction returns None.

    bare_extraction copies an lxml tree it is given (~2% of a page's extraction)
    because its first steps delete elements from the raw tree: the ``prune_xpath``
    matches, trafilatura's "infinite scroll" blocks and, with comments off, comment
    sections. Every later step copies what it changes. Here those deletions go through
    ``_prune_unwanted_nodes``, which copies the tree only when an expression selects
    something, so ``tree`` stays as it was and most pages are never copied. The text of
    the whole body, which bare_extraction also renders, is not: the caller renders each
    block itself."""
    core = _module("core")
    # Only a whole document is borrowed: every element an expression selects is then in
    # ``tree``, whose copy has it at the same place.
    whole_document = tree.getparent() is None
    if (
        not install()
        or options.with_metadata
        or options.dedup
        or options.lang
        or not whole_document
    ):
        document = core.bare_extraction(tree, options=options, prune_xpath=prune_xpath)
        return getattr(document, "body", None)
    _borrowed.tree = weakref.ref(tree)
    try:
        pruned = core.prune_unwanted_nodes(tree, [_compiled(x) for x in prune_xpath])
        body, text, _comments, comments_text = core.trafilatura_sequence(
            pruned, options, options.url
        )
    except (TypeError, ValueError):  # what bare_extraction turns into None
        return None
    finally:
        _borrowed.tree = None
    if options.max_tree_size and len(body) > options.max_tree_size:
        etree.strip_tags(body, "hi")
        if len(body) > options.max_tree_size:
            return None
    too_short = len(text) < options.min_output_size
    if too_short and len(comments_text) < options.min_output_comm_size:
        return None
    return body


@lru_cache(maxsize=64)
def _compiled(path: str) -> etree.XPath:
    # The caller's expressions are the same on every page (the teaser cards, a site's).
    return etree.XPath(path)


def _is_borrowed(tree: HtmlElement) -> bool:
    return _borrowed.tree is not None and _borrowed.tree() is tree


def _prune_unwanted_nodes(
    tree: HtmlElement, nodelist: list[etree.XPath], with_backup: bool = False
) -> HtmlElement:
    """Stands in for trafilatura's ``htmlprocessing.prune_unwanted_nodes``, in its
    ``core`` and its main extractor: the same deletions, and the same tree returned but
    where a copy stands in for a borrowed one.

    - ``with_backup`` (the main extractor): see ``_prune_outermost``.
    - The tree ``extraction_body`` borrowed (``core``): see ``_prune_copy_on_write``.
    - Otherwise trafilatura's own function runs."""
    if with_backup:
        return _prune_outermost(tree, nodelist)
    if _is_borrowed(tree):
        return _prune_copy_on_write(tree, nodelist)
    return cast(HtmlElement, _module("htmlprocessing").prune_unwanted_nodes(tree, nodelist))


def _prune_copy_on_write(tree: HtmlElement, nodelist: list[etree.XPath]) -> HtmlElement:
    """trafilatura's pruning of the tree ``extraction_body`` borrowed: it is copied
    before the first expression that selects something, and the copy pruned (and
    returned, as trafilatura's callers use what the function returns)."""
    htmlprocessing = _module("htmlprocessing")
    for index, expression in enumerate(nodelist):
        selected = cast(list[HtmlElement], expression(tree))
        if selected:
            # Until here nothing was deleted: the copy is what the expression saw, and its
            # elements stand where the selected ones stand in ``tree``.
            copied = copy(tree)
            counterparts = [counterpart(element, tree, copied) for element in selected]
            rest = nodelist[index + 1 :]
            if None in counterparts:  # a node outside the root (a comment before it)
                rest = nodelist[index:]
            else:
                for element in counterparts:
                    htmlprocessing.delete_element(element)
            return cast(HtmlElement, htmlprocessing.prune_unwanted_nodes(copied, rest))
    return tree


def counterpart(element: HtmlElement, tree: HtmlElement, copied: HtmlElement) -> Any | None:
    """The node of ``copied`` (a copy of ``tree``) at the place ``element`` has in
    ``tree``; None when ``element`` is not below ``tree``."""
    steps: list[int] = []
    while element is not tree:
        parent = element.getparent()
        if parent is None:
            return None
        steps.append(parent.index(element))
        element = parent
    found: Any = copied
    for step in reversed(steps):
        found = found[step]
    return found


# --------------------------------------------------------------------------- guarded pruning


def _prune_outermost(tree: HtmlElement, nodelist: list[etree.XPath]) -> HtmlElement:
    """trafilatura's pruning ``with_backup``: it deletes the outermost of the elements
    the expressions select, unless no more than a seventh of the tree's text would be
    left. trafilatura finds the outermost ones by walking all ancestors of every
    selected element; ``outermost`` walks each ancestor once."""
    htmlprocessing = _module("htmlprocessing")
    selected = dict.fromkeys(
        element for expression in nodelist for element in cast(list[HtmlElement], expression(tree))
    )
    outer = outermost(selected)
    text_length = len(tree.text_content())
    if text_length - sum(len(element.text_content()) for element in outer) > text_length / 7:
        for element in outer:
            htmlprocessing.delete_element(element)
    return tree


def outermost(elements: dict[HtmlElement, None]) -> list[HtmlElement]:
    """The elements, in their order, that have no ancestor among them.

    Whether an element is inside one of them is remembered for every element passed on
    the way up, so each ancestor shared by several elements is looked at once. (lxml
    gives one Python object per element while some reference to it lives, and the
    memo holds them, so identity is the element's.)"""
    inside: dict[HtmlElement, bool] = {}

    def is_inside(element: HtmlElement | None) -> bool:
        passed: list[HtmlElement] = []
        found = False
        while element is not None:
            known = inside.get(element)
            if known is not None:
                found = known
                break
            if element in elements:
                found = True
                break
            passed.append(element)
            element = element.getparent()
        for node in passed:
            inside[node] = found
        return found

    return [element for element in elements if not is_inside(element.getparent())]


# --------------------------------------------------------------------------- basic clean-up


class _BasicCleaning:
    """Stands in for trafilatura's ``BASIC_CLEAN_XPATH``: the same elements, in the same
    (document) order. Its cookie-consent test is a regular expression on ``class`` and
    ``id``; every alternative of it is a run of letters, ``-`` and ``_``, so searching
    all values joined by newlines finds a match exactly when one value has one."""

    def __init__(self, original: etree.XPath, consent: re.Pattern[str]) -> None:
        self.original = original
        self.consent = consent
        source = original.path
        self.without_consent = etree.XPath(source[: source.index("|.//*[re:test")])

    def __call__(self, tree: HtmlElement) -> Any:
        if self.consent.search(joined_values(tree, _CLASS_AND_ID)):
            return self.original(tree)
        return self.without_consent(tree)
