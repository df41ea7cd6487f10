"""The trafilatura speed-ups give what trafilatura gives (scraper/trafilatura_speedups.py):
the same extracted text with and without them, on small pages built to hit each rule and
on real pages of the shared corpus (skipped when it is absent)."""

from __future__ import annotations

import weakref
from copy import copy
from typing import Any

import pytest
from lxml.html import HtmlElement

from scraper import trafilatura_speedups
from scraper.extract import parse_html
from tests.support.corpus import dev_extraction_available, parsed_dev_pages

LONG = "A sentence of the article that is long enough to count as running text. "


def _page(body: str) -> HtmlElement:
    return parse_html(f"<html><head><title>T</title></head><body>{body}</body></html>")


def _text(tree: HtmlElement) -> str:
    """trafilatura's text, as the pipeline calls it (balanced, no comments)."""
    import trafilatura

    return trafilatura.extract(copy(tree), include_comments=False, deduplicate=False) or ""


def _both(tree: HtmlElement) -> tuple[str, str]:
    assert trafilatura_speedups.install()
    faster = _text(tree)
    with trafilatura_speedups.suspended():
        published = _text(tree)
    return faster, published


def _balanced_options() -> Any:
    from trafilatura.settings import Extractor

    return Extractor()


def test_readability_bound_counts_visible_text_nodes_stripped_and_video_marks() -> None:
    tree = _page(
        "<script>var x = 'not text';</script><style>p {}</style>"
        "<p>one   two</p>\n\n<div> three </div><iframe src='https://v.invalid/embed'></iframe>"
    )
    # the visible nodes "T" (the title counts: readability could in principle keep it),
    # "one   two" and "three", stripped, one space after each but the last: at least
    # "T one two three" collapsed; plus " VIDEO "
    first, _ = trafilatura_speedups.readability_text_bounds(tree)
    assert first == len("T one   two three") + 7


def test_comparison_is_skipped_only_when_readability_cannot_win() -> None:
    from lxml.etree import fromstring

    options = _balanced_options()
    body = fromstring(f"<body><p>{LONG * 5}</p></body>")
    text = LONG * 5
    whole_page = _page(f"<p>{LONG * 5}</p><nav>Home News Sport</nav>")
    twice_as_much_elsewhere = _page(f"<p>{LONG * 5}</p><div>{LONG * 6}</div>")
    assert trafilatura_speedups.comparison_cannot_change(body, text, whole_page, options)
    assert not trafilatura_speedups.comparison_cannot_change(
        body, text, twice_as_much_elsewhere, options
    )
    # short text: trafilatura would try jusText
    assert not trafilatura_speedups.comparison_cannot_change(
        fromstring(f"<body><p>{LONG}</p></body>"), LONG, _page(f"<p>{LONG}</p>"), options
    )
    # an "unclean" element in the text: jusText again
    unclean = fromstring(f"<body><p>{LONG * 5}</p><figure>x</figure></body>")
    assert not trafilatura_speedups.comparison_cannot_change(unclean, text, whole_page, options)
    # more tables than paragraphs: readability may be preferred
    tables = fromstring(f"<body><table><row><cell>{LONG * 5}</cell></row></table></body>")
    assert not trafilatura_speedups.comparison_cannot_change(tables, text, whole_page, options)


def test_basic_cleaning_finds_the_same_elements_with_and_without_a_consent_box() -> None:
    import importlib

    assert trafilatura_speedups.install()
    baseline = importlib.import_module("trafilatura.baseline")
    plain = _page(f"<aside>a</aside><p>{LONG}</p><div class='page-footer'>f</div><footer/>")
    consent = _page(
        f"<p>{LONG}</p><div id='CookieBanner'>We use cookies</div>"
        "<div class='x'><script>s</script><div class='cmplz-soft'>c</div></div><aside/>"
    )
    for tree in (plain, consent):
        ours = baseline.BASIC_CLEAN_XPATH(tree)
        with trafilatura_speedups.suspended():
            published = baseline.BASIC_CLEAN_XPATH(tree)
        assert ours == published
    assert [
        e.get("id") or e.get("class") or e.tag for e in baseline.BASIC_CLEAN_XPATH(consent)
    ] == [
        "CookieBanner",
        "script",
        "cmplz-soft",
        "aside",
    ]


def test_suspended_restores_trafilatura_as_published_and_back() -> None:
    import importlib

    assert trafilatura_speedups.install()
    core = importlib.import_module("trafilatura.core")
    external = importlib.import_module("trafilatura.external")
    with trafilatura_speedups.suspended():
        assert core._extract_and_compare is not trafilatura_speedups._extract_and_compare
        assert isinstance(external.JT_STOPLIST, tuple)
        published_words = set(external.JT_STOPLIST)
    assert core._extract_and_compare is trafilatura_speedups._extract_and_compare
    assert isinstance(external.JT_STOPLIST, frozenset)
    assert published_words == external.JT_STOPLIST


def test_same_text_on_small_pages() -> None:
    pages = [
        _page(f"<article><h1>Title</h1><p>{LONG * 6}</p><p>{LONG * 4}</p></article>"),
        _page(f"<nav>{'<a href=/x>Link</a> ' * 40}</nav><article><p>{LONG * 3}</p></article>"),
        _page(f"<div><p>{LONG}</p></div><div id='cookie-notice'>{LONG}</div>"),
        _page(f"<table><tr><td>{LONG * 6}</td></tr></table>"),
    ]
    for tree in pages:
        faster, published = _both(tree)
        assert faster == published


@pytest.mark.corpus
def test_same_text_on_real_pages() -> None:
    """Every fourth page of the dev corpus: the same text, and the comparison skipped on
    some of them (else the speed-up would not be exercised)."""
    if not dev_extraction_available():
        pytest.skip("shared corpus (dev/extraction) not found")
    assert trafilatura_speedups.install()
    skipped = compared = 0
    checked = 0
    for url, tree in parsed_dev_pages():
        faster, published = _both(tree)
        assert faster == published, url
        checked += 1
        if trafilatura_speedups.comparison_cannot_change(
            *_extraction(tree), tree, _balanced_options()
        ):
            skipped += 1
        else:
            compared += 1
    assert checked > 200
    assert skipped > 50 and compared > 50


def _extraction(tree: HtmlElement) -> tuple[Any, str]:
    """trafilatura's own extraction (before any comparison) of ``tree``."""
    from trafilatura.core import _prepare_tree, extract_content

    cleaned, _ = _prepare_tree(copy(tree), _balanced_options(), None)
    body, text = extract_content(cleaned, _balanced_options())
    return body, text


def test_regex_tests_are_guarded_by_their_attribute_unless_they_match_empty() -> None:
    path = (
        "//*[re:test(@id|@style, 'hidden') or re:test(@class, 'a(b)c', 'i')"
        " or re:test(@x, 'a*') or contains(@y, ')')]"
    )
    assert trafilatura_speedups.guard_regex_tests(path) == (
        "//*[(@id|@style and re:test(@id|@style, 'hidden'))"
        " or (@class and re:test(@class, 'a(b)c', 'i'))"
        " or re:test(@x, 'a*') or contains(@y, ')')]"
    )


def test_guarded_xpaths_select_the_same_elements() -> None:
    from lxml.etree import XPath

    namespaces = {"re": "http://exslt.org/regular-expressions"}
    path = ".//*[re:test(@class, '^hide|nav$') or re:test(@id|@style, 'hidden')]"
    tree = _page(
        "<div class='hide-me'>a</div><div>b</div><p style='visibility:hidden'>c</p>"
        "<span id='x' style='hidden'>d</span><ul class='top nav'><li>e</li></ul>"
    )
    published = XPath(path, namespaces=namespaces)(tree)
    guarded = XPath(trafilatura_speedups.guard_regex_tests(path), namespaces=namespaces)(tree)
    assert guarded == published
    assert [e.text for e in guarded if e.text] == ["a", "c"]
    assert [e.tag for e in guarded] == ["div", "p", "ul"]


def test_a_pattern_python_cannot_read_is_left_alone() -> None:
    path = "//*[re:test(@class, '(unclosed')]"
    assert trafilatura_speedups.guard_regex_tests(path) == path


def test_the_escalation_measure_is_skipped_only_when_no_retry_can_follow() -> None:
    """trafilatura measures the page (html2txt, a copy and clean-up of it) to retry in
    recall mode when its text covers under a fifth of the page; the stand-in answers ""
    (no retry) only when the text already covers a fifth of a bound of that measure."""
    from trafilatura.baseline import html2txt
    from trafilatura.core import _prepare_tree

    assert trafilatura_speedups.install()
    options = _balanced_options()
    covered = _page(f"<article><p>{LONG * 3}</p></article><nav>Home News</nav>")
    sidebar = "".join(f"<p>{LONG}</p>" for _ in range(30))
    little = _page(f"<article><p>{LONG * 3}</p></article><div class='sidebar'>{sidebar}</div>")
    for tree, retry_possible in ((covered, False), (little, True)):
        cleaned, backup = _prepare_tree(copy(tree), options, None)
        trafilatura_speedups._extract_and_compare(cleaned, backup, tree, options)
        measure = trafilatura_speedups._html2txt_for_escalation(tree)
        assert measure == (html2txt(tree) if retry_possible else "")
    # a tree the main extractor did not just run on is measured as published
    assert trafilatura_speedups._html2txt_for_escalation(covered) == html2txt(covered)


def test_outermost_keeps_the_elements_no_other_one_contains() -> None:
    tree = _page(
        "<div id='a'><div id='b'><p id='c'>1</p></div></div>"
        "<section id='d'><p id='e'>2</p><p id='f'>3</p></section><p id='g'>4</p>"
    )
    chosen = {tree.get_element_by_id(name): None for name in ("c", "b", "e", "d", "g")}
    assert [e.get("id") for e in trafilatura_speedups.outermost(chosen)] == ["b", "d", "g"]


def _pipeline_options(url: str | None = None) -> Any:
    from trafilatura.settings import Extractor

    return Extractor(output_format="python", url=url, comments=False, formatting=False)


def _uncopied_and_published_bodies(tree: HtmlElement, prune: list[str]) -> tuple[str, str]:
    """The body ``extraction_body`` gives for ``tree`` (which must come back unchanged),
    and the one bare_extraction as published gives for a copy of it, serialised."""
    from lxml.etree import tostring
    from trafilatura import bare_extraction

    assert trafilatura_speedups.install()
    before = tostring(tree)
    body = trafilatura_speedups.extraction_body(tree, _pipeline_options(), prune)
    assert tostring(tree) == before
    with trafilatura_speedups.suspended():
        document = bare_extraction(copy(tree), options=_pipeline_options(), prune_xpath=prune)
    published = getattr(document, "body", None)
    return (
        tostring(body).decode() if body is not None else "",
        tostring(published).decode() if published is not None else "",
    )


def test_extraction_leaves_the_page_as_it_was_and_finds_what_bare_extraction_finds() -> None:
    teaser = "<div class='teaser'><a href='/other'><h3>Another story</h3></a></div>"
    comments = f"<div id='comments'><p>{LONG}</p></div>"
    pages = [
        # nothing to prune: the page is never copied
        _page(f"<article><p>{LONG * 6}</p><p>{LONG * 4}</p></article>"),
        # the caller's expression, and trafilatura's comment section, prune a copy
        _page(f"<article><p>{LONG * 6}</p>{teaser}</article>{comments}"),
        # no text: bare_extraction gives no body
        _page("<div><span> </span></div>"),
    ]
    prune = ["//div[@class='teaser']"]
    bodies = [_uncopied_and_published_bodies(tree, prune) for tree in pages]
    for uncopied, published in bodies:
        assert uncopied == published
    assert "Another story" not in bodies[1][0] and LONG.strip() in bodies[1][0]
    assert bodies[2] == ("", "")


def _prune_borrowed(tree: HtmlElement, nodelist: list[Any]) -> HtmlElement:
    """trafilatura's pruning of ``tree`` as ``extraction_body`` has it, borrowed."""
    trafilatura_speedups._borrowed.tree = weakref.ref(tree)
    try:
        return trafilatura_speedups._prune_unwanted_nodes(tree, nodelist)
    finally:
        trafilatura_speedups._borrowed.tree = None


def test_a_tree_is_copied_only_before_the_first_expression_that_selects_something() -> None:
    from lxml.etree import XPath

    assert trafilatura_speedups.install()
    tree = _page("<div class='keep'><p>text</p></div><div class='drop'><p>gone</p></div>")
    nothing, drop = XPath("//div[@class='none']"), XPath("//div[@class='drop']")
    assert _prune_borrowed(tree, [nothing]) is tree
    pruned = _prune_borrowed(tree, [nothing, drop])
    assert pruned is not tree
    assert drop(tree) and not drop(pruned)
    # a tree that is not borrowed is pruned in place, as trafilatura does
    assert trafilatura_speedups._prune_unwanted_nodes(tree, [drop]) is tree and not drop(tree)


def test_the_copy_is_pruned_as_trafilatura_prunes_one() -> None:
    """Selected elements nested in one another, with tails, deep in the page: the
    borrowed tree's copy loses what trafilatura's own pruning of a copy loses."""
    from lxml.etree import XPath, tostring
    from trafilatura.htmlprocessing import prune_unwanted_nodes

    assert trafilatura_speedups.install()
    tree = _page(
        "<div><section><p>one</p><aside class='x'>a<aside class='x'>b</aside>tail b</aside>"
        "tail a<p>two</p></section><aside class='x'>c</aside>tail c</div><p>three</p>"
    )
    nodelist = [XPath(".//aside[@class='x']"), XPath(".//p[.='two']")]
    published = tostring(prune_unwanted_nodes(copy(tree), nodelist))
    before = tostring(tree)
    pruned = _prune_borrowed(tree, nodelist)
    assert tostring(pruned) == published
    assert tostring(tree) == before


@pytest.mark.corpus
def test_extraction_without_a_copy_on_real_pages() -> None:
    """Every fourth page of the dev corpus: the same body as bare_extraction, with the
    pipeline's teaser-card expression, and the page unchanged."""
    from scraper.extract import TEASER_CARDS_XPATH

    if not dev_extraction_available():
        pytest.skip("shared corpus (dev/extraction) not found")
    checked = 0
    for url, tree in parsed_dev_pages(1):
        uncopied, published = _uncopied_and_published_bodies(tree, [TEASER_CARDS_XPATH])
        assert uncopied == published, url
        checked += 1
    assert checked > 200


def _readability_length(tree: HtmlElement) -> int:
    """The length of readability's text as trafilatura's comparison measures it."""
    from lxml.html import tostring
    from trafilatura.external import try_readability
    from trafilatura.utils import trim

    algo = try_readability(copy(tree))
    return len(trim(tostring(algo, method="text", encoding="utf-8").decode("utf-8")))


def test_the_text_readability_drops_as_unlikely_is_left_out_of_its_bound() -> None:
    assert trafilatura_speedups.install()
    tree = _page(
        f"<div class='Sidebar'><p>{LONG}</p><div class='footer'><p>inner</p></div></div>tail"
        f"<div class='sidebar-content'><p>{LONG}</p></div>"  # "content" saves it
        f"<div id='menu'><p>by id only</p></div>"
        f"<article><p>{LONG * 2}</p></article>"
    )
    # the outer sidebar once (its nested footer inside it), not its tail, not the
    # saved one; an element named unlikely by its id alone is not counted
    assert (
        trafilatura_speedups.unlikely_text_measure(tree) == len(LONG.strip()) + 1 + len("inner") + 1
    )
    first, tight = trafilatura_speedups.readability_text_bounds(tree)
    assert tight == first - len(LONG) - len("inner ")
    assert _readability_length(tree) <= tight


@pytest.mark.corpus
def test_readability_text_never_exceeds_the_tighter_bound_on_real_pages() -> None:
    """The bound must hold wherever it lets the comparison be skipped: every fourth dev
    page, and it is tighter than the first bound on many of them."""
    if not dev_extraction_available():
        pytest.skip("shared corpus (dev/extraction) not found")
    assert trafilatura_speedups.install()
    checked = tighter = 0
    for url, tree in parsed_dev_pages(2):
        first, tight = trafilatura_speedups.readability_text_bounds(tree)
        assert _readability_length(tree) <= tight, url
        checked += 1
        tighter += tight < first
    assert checked > 200
    assert tighter > checked // 2


def test_an_expression_reaching_outside_the_root_prunes_the_copy_as_trafilatura_does() -> None:
    # A site rule may drop comments: one stands before <html>, outside the root element.
    from lxml.etree import XPath, tostring
    from trafilatura.htmlprocessing import prune_unwanted_nodes

    assert trafilatura_speedups.install()
    tree = parse_html("<!-- before --><html><body><!-- inside --><p>text</p></body></html>")
    nodelist = [XPath("//comment()")]
    assert len(nodelist[0](tree)) == 2
    published = tostring(prune_unwanted_nodes(copy(tree), nodelist))
    pruned = _prune_borrowed(tree, nodelist)
    assert tostring(pruned) == published
    assert len(nodelist[0](tree)) == 2  # the page itself is untouched


def test_a_borrowed_tree_is_borrowed_in_its_own_thread_only() -> None:
    # Another thread extracting meanwhile must prune its own pages as trafilatura does.
    import threading

    tree = _page("<p>text</p>")
    trafilatura_speedups._borrowed.tree = weakref.ref(tree)
    try:
        seen: list[bool] = []
        other = threading.Thread(
            target=lambda: seen.append(trafilatura_speedups._is_borrowed(tree))
        )
        other.start()
        other.join()
        assert trafilatura_speedups._is_borrowed(tree)
    finally:
        trafilatura_speedups._borrowed.tree = None
    assert seen == [False]
