"""The attribute prefilter of XPath expressions (scraper/xpath_prefilter.py): it rules an
expression out only when no element could be selected, so a prefiltered expression
selects exactly what the expression selects, on small pages built for each kind of test
and on real pages of the shared corpus (skipped when it is absent)."""

from __future__ import annotations

import re

import pytest
from lxml.etree import XPath
from lxml.html import HtmlElement

from scraper.extract import parse_html
from scraper.xpath_prefilter import PrefilteredXPath, condition, prefiltered, step_conditions
from tests.support.corpus import dev_extraction_available, parsed_dev_pages

NAMESPACES = {"re": "http://exslt.org/regular-expressions"}


def _page(body: str) -> HtmlElement:
    return parse_html(f"<html><head><title>T</title></head><body>{body}</body></html>")


def _pair(path: str) -> tuple[XPath, XPath]:
    published = XPath(path, namespaces=NAMESPACES)
    return published, prefiltered(published, NAMESPACES)


def _ruled_out(path: str, tree: HtmlElement) -> bool:
    faster = prefiltered(XPath(path, namespaces=NAMESPACES), NAMESPACES)
    return isinstance(faster, PrefilteredXPath) and faster.ruled_out(tree)


PAGE = _page(
    "<div class='story-body main'>text <span id='Share-bar'>s</span></div>"
    "<section class='NavBox'><p style='display: none'>hidden</p></section>"
    "<div id='comments' data-component='MostPopularStories'>c</div>"
)


@pytest.mark.parametrize(
    ("path", "ruled_out"),
    [
        # equality: a whole value
        (".//*[@class='story-body']", True),
        (".//*[@class='story-body main']", False),
        # contains / starts-with: inside or at the start of one value
        (".//*[contains(@class, 'body ma')]", False),
        (".//*[contains(@class, 'main story')]", True),
        (".//*[starts-with(@id, 'Share')]", False),
        (".//*[starts-with(@id, 'bar')]", True),
        # translate: XPath's character mapping ('N' to 'n', 'B' dropped)
        (".//*[contains(translate(@class, 'NB', 'n'), 'navox')]", False),
        (".//*[contains(@class, 'navbox')]", True),
        # re:test: per value, with ^ and $ at each value's edges, and the "i" flag
        (".//*[re:test(@class, '^main')]", True),
        (".//*[re:test(@class, 'main$')]", False),
        (".//*[re:test(@id, '^share', 'i')]", False),
        (".//*[re:test(@id, '^share')]", True),
        (".//*[re:test(@id|@class, '^(?:comment(?!ary))')]", False),
        # a union of attributes, and a guarded test
        (".//*[(@style and re:test(@style, 'display: ?none'))]", False),
        # every alternative must be impossible; one unknown term keeps it possible
        (".//*[self::div][@class='x' or contains(@id, 'q') or @data-component='Z']", True),
        (".//*[self::div][@class='x' or not(@id)]", False),
        # the step's tag test is not read; a second predicate can rule it out alone
        (".//div[@id='comments'][re:test(@data-component, 'Popular')]", False),
        (".//div[@id='comments'][re:test(@data-component, 'popular')]", True),
        # in parentheses with a position
        ("(.//*[self::article or self::div][@class='story'])[1]", True),
    ],
)
def test_an_expression_is_ruled_out_only_when_no_value_can_match(
    path: str, ruled_out: bool
) -> None:
    assert _ruled_out(path, PAGE) is ruled_out
    published, faster = _pair(path)
    assert faster(PAGE) == published(PAGE)
    assert (published(PAGE) == []) or not ruled_out


def test_a_literal_never_matches_across_two_values() -> None:
    tree = _page("<div class='ab'>1</div><div class='cd'>2</div>")
    assert _ruled_out(".//*[contains(@class, 'bc')]", tree)
    assert not _ruled_out(".//*[contains(@class, 'cd')]", tree)


@pytest.mark.parametrize(
    "path",
    [
        ".//*[@a]|.//*[@class='x']",  # a union of paths
        ".//div//p[@class='x']",  # more than one step
        "ancestor::*[@class='x']",  # not below the context
        ".//*[not(@class='x')]",  # a test it cannot read
        ".//*[re:test(@class, '\\Ax')]",  # \A differs at a value's edge inside the join
        ".//*[re:test(@class, 'x(?=\\s)')]",  # so does a lookahead that can see a newline
        ".//*[re:test(@class, '(unclosed')]",  # not a Python pattern
    ],
)
def test_expressions_it_cannot_read_run_as_written(path: str) -> None:
    assert step_conditions(path) == []
    published = XPath(path, namespaces=NAMESPACES) if "(unclosed" not in path else None
    if published is not None:
        assert prefiltered(published, NAMESPACES) is published


def test_an_and_keeps_the_parts_it_can_read() -> None:
    read = condition("@class and contains(@class, 'x') and not(@id)")
    assert read is not None
    assert read.attributes == frozenset({"class"})
    assert read.possible("\nax\n") and not read.possible("\nab\n")


def test_one_test_on_two_attributes_reads_both() -> None:
    read = condition("re:test(@id, '^x') or re:test(@class, '^x')")
    assert read is not None
    assert read.attributes == frozenset({"id", "class"})


VALUES = [
    "\n" + "\n".join(values) + "\n"
    for values in (
        [],
        ["entry-content", "main"],
        ["art-contents x", "nav"],
        ["post_entry", "postentry"],
        ["post-entry"],
        ["a bottom", "link"],
        ["bottoms", "links", "unlink"],
        ["Commentary", "comment-list"],
        ["comments", "xComment"],
        ["ad", "abbd", "ac", "acd"],
        ["abd"],
        ["abcd"],
        ["x]y", "x)y", "x|y", "x(y"],
        ["FullText", "AA"],
        ["foo bar", "foobar"],
    )
]


@pytest.mark.parametrize(
    ("pattern", "flags"),
    [
        # written out into alternatives, some of them plain strings
        ("(?:entry|page|art)-content|article__content", ""),
        ("mvp-(?:box|wrap)|post-?entry", ""),
        ("(^|\\s)bottom|bottom(\\s|$)", ""),
        ("(^|\\s)link(\\s|$)", ""),
        ("^[Cc]omment(?!ary)|(?:article|post)-comments", ""),
        ("^(?:[Cc]omment(?!ary)|comol)", ""),
        # a quantified group or character stays as it is
        ("a(?:b|c)?d", ""),
        ("ab+d|a(?:bb)*d", ""),
        ("a(?:bc)*d", ""),
        ("a(b|c)+d", ""),
        # classes and escapes holding parentheses or bars
        ("x[)|(]y", ""),
        ("x\\)y|x\\|y", ""),
        ("\\bbar", ""),
        # ignoring case: no literal to look for first
        ("fulltext|(?:aa|bb)", "i"),
        # read as a whole: a count, an escape of several characters, a named group
        ("a{2}|ad", ""),
        ("\\x41", ""),
        ("(?P<n>foo) ?bar", ""),
    ],
)
def test_a_pattern_is_possible_exactly_where_it_matches(pattern: str, flags: str) -> None:
    read = condition(f"re:test(@class, '{pattern}'" + (f", '{flags}')" if flags else ")"))
    assert read is not None
    compiled = re.compile(pattern, re.MULTILINE | (re.IGNORECASE if flags else 0))
    for values in VALUES:
        assert read.possible(values) is (compiled.search(values) is not None), values


def test_trafilatura_expressions_are_prefiltered_where_their_shape_allows() -> None:
    from scraper import trafilatura_speedups

    assert trafilatura_speedups.install()
    from trafilatura import xpaths

    kinds = {
        name: [isinstance(x, PrefilteredXPath) for x in value]
        for name, value in vars(xpaths).items()
        if isinstance(value, list)
    }
    assert all(kinds["RAW_TREE_PRUNE_XPATH"])
    assert all(kinds["REMOVE_COMMENTS_AND_LISTS_XPATH"])
    assert all(kinds["TEASER_DISCARD_XPATH"])
    assert kinds["BODY_XPATH"] == [True, False, True, True, False]  # 1: no predicate; 4: a union
    assert kinds["OVERALL_DISCARD_XPATH"] == [False, True]  # 0: a bare @attribute alternative


@pytest.mark.corpus
def test_the_same_elements_on_real_pages() -> None:
    """Every trafilatura expression that is prefiltered selects the same elements as the
    published one on every fourth dev page, and rules some pages out."""
    if not dev_extraction_available():
        pytest.skip("shared corpus (dev/extraction) not found")
    from scraper import trafilatura_speedups

    assert trafilatura_speedups.install()
    from trafilatura import xpaths

    expressions = [x for value in vars(xpaths).values() if isinstance(value, list) for x in value]
    prefilters = [x for x in expressions if isinstance(x, PrefilteredXPath)]
    ruled_out = checked = 0
    for url, tree in parsed_dev_pages():
        for faster in prefilters:
            published = XPath(faster.path, namespaces=NAMESPACES)
            assert faster(tree) == published(tree), (url, faster.path)
            ruled_out += faster.ruled_out(tree)
            checked += 1
    assert checked > 2000
    assert ruled_out > checked / 4
