"""Four of trafilatura's steps done with less work and the same result (issue 9).

trafilatura is most of an article's extraction cost. Four of its steps do work whose
outcome can be known in advance far more cheaply:

- **The comparison with readability.** In its balanced mode trafilatura runs its own
  port of readability on a copy of every page and keeps readability's text only when
  its own extraction is empty, or less than half as long as readability's, or has no
  paragraph text, or more tables than paragraphs; jusText is tried only when its own
  text is short (under ``min_extracted_size``) or holds "unclean" elements.
  Readability's text is a part of the page's text (scripts and styles dropped, plus
  "VIDEO" for each video iframe it keeps), so when trafilatura's own text is long,
  clean, made of paragraphs and at least half of that bound, none of those rules can
  fire and the comparison is skipped: the result is the one trafilatura would return.
  On the 943 pages of the dev corpus this skips the comparison on about half of them.
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
  as a frozenset (whose hash Python keeps) make the cache hit at once.

All are installed once per process by ``install`` (the extraction path calls it) by
replacing one function of trafilatura's and XPath objects it holds in its module
globals and lists; nothing else of trafilatura changes.
tests/unit/test_trafilatura_speedups.py checks on real pages that the outcome is the
same with and without them; if trafilatura's internals change shape, ``install``
leaves trafilatura as it is.
"""

from __future__ import annotations

import importlib
import logging
import re
from collections.abc import Iterator
from contextlib import contextmanager
from copy import copy
from functools import lru_cache
from types import ModuleType
from typing import Any, cast

from lxml import etree
from lxml.html import HtmlElement

log = logging.getLogger(__name__)

# The page's text nodes, and those readability drops with their scripts and styles (a
# script's or style's text is its only child; their tails stay).
_TEXT_NODES = etree.XPath(".//text()", smart_strings=False)
_SCRIPT_TEXT = etree.XPath(".//script/text()|.//style/text()", smart_strings=False)
_IFRAMES = etree.XPath("count(.//iframe)")
# What readability writes into each video iframe it keeps, and the space around it.
_VIDEO_MARK_CHARS = len(" VIDEO ")
_PARAGRAPH_TEXT = etree.XPath(".//p//text()", smart_strings=False)
_CLASS_AND_ID_VALUES = etree.XPath(".//@class|.//@id", smart_strings=False)


# (module or list, attribute name or index, trafilatura's own value) of what ``install``
# replaced.
_REPLACED: list[tuple[ModuleType | list[Any], str | int, Any]] = []
# re:test( on an attribute or a union of attributes, up to its pattern argument.
_RE_TEST_CALL = re.compile(r"re:test\(\s*(@[\w-]+(?:\s*\|\s*@[\w-]+)*)\s*,")
_STRING_LITERAL = re.compile(r"\s*(['\"])(.*?)\1", re.DOTALL)


def _module(name: str) -> ModuleType:
    # import_module: the package's ``baseline`` attribute is a function of that name
    return importlib.import_module(f"trafilatura.{name}")


@lru_cache(maxsize=1)
def install() -> bool:
    """Put the four speed-ups in place, once per process. False when trafilatura's
    modules do not have the expected shape (then trafilatura runs unchanged)."""
    baseline, core, external, settings = map(_module, ("baseline", "core", "external", "settings"))
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
    )
    if not shapes_known:
        log.warning("trafilatura's internals changed: its extraction runs without speed-ups")
        return False
    consent = re.compile(settings._COOKIE_CONSENT_RE, re.IGNORECASE)
    _replace(core, "_extract_and_compare", _extract_and_compare)
    _replace(baseline, "BASIC_CLEAN_XPATH", _BasicCleaning(baseline.BASIC_CLEAN_XPATH, consent))
    _guard_regex_tests(_module("xpaths"))
    stoplist = external.JT_STOPLIST or external.jt_stoplist_init()
    _replace(external, "JT_STOPLIST", frozenset(stoplist))
    return True


def _replace(where: ModuleType | list[Any], key: str | int, value: Any) -> None:
    _REPLACED.append((where, key, _get(where, key)))
    _set(where, key, value)


def _get(where: ModuleType | list[Any], key: str | int) -> Any:
    if isinstance(where, list) and isinstance(key, int):
        return where[key]
    return getattr(where, str(key))


def _set(where: ModuleType | list[Any], key: str | int, value: Any) -> None:
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


def _guard_regex_tests(xpaths: ModuleType) -> None:
    """Each XPath in the lists of trafilatura's ``xpaths`` module (the other modules hold
    the same lists) with its ``re:test`` calls guarded, replaced in place."""
    for value in vars(xpaths).values():
        if not isinstance(value, list):
            continue
        for index, expression in enumerate(value):
            if not isinstance(expression, etree.XPath):
                continue
            guarded = guard_regex_tests(expression.path)
            if guarded != expression.path:
                _replace(value, index, etree.XPath(guarded, namespaces=_EXSLT_REGEXP))


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


def _extract_and_compare(
    cleaned_tree: HtmlElement, cleaned_tree_backup: HtmlElement, tree: HtmlElement, options: Any
) -> tuple[Any, str]:
    """trafilatura's ``core._extract_and_compare``, skipping the comparison with the
    external extractors when it cannot change the result."""
    core = _module("core")
    body, text = core.extract_content(cleaned_tree, options)
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
    return 2 * len(text) >= readability_text_bound(tree)


def readability_text_bound(tree: HtmlElement) -> int:
    """An upper bound of the length of readability's text for ``tree``: the page's text
    without scripts and styles, whitespace collapsed as trafilatura's ``trim`` does,
    plus the "VIDEO" readability writes into each iframe."""
    # Collapsed, text joined by single spaces is its words' letters plus one space between
    # two words; what a set of nodes adds is its own words and one space each.
    visible = _words_and_spaces(_TEXT_NODES, tree) - _words_and_spaces(_SCRIPT_TEXT, tree)
    collapsed = max(visible - 1, 0)
    iframes = _IFRAMES(tree)
    assert isinstance(iframes, float)  # XPath count() is a number
    return collapsed + _VIDEO_MARK_CHARS * int(iframes)


def _words_and_spaces(xpath: etree.XPath, tree: HtmlElement) -> int:
    """The letters of the words of the texts ``xpath`` selects, plus one per word."""
    words = " ".join(_strings(xpath, tree)).split()
    return sum(map(len, words)) + len(words)


def _strings(xpath: etree.XPath, tree: HtmlElement) -> list[str]:
    """The strings an XPath made with ``smart_strings=False`` returns."""
    return cast(list[str], xpath(tree))


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
        if self.consent.search("\n".join(_strings(_CLASS_AND_ID_VALUES, tree))):
            return self.original(tree)
        return self.without_consent(tree)
