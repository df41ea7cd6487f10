"""Main-text clean-up (scraper.body): furniture out by evidence, article text kept."""

from __future__ import annotations

from typing import Any

from lxml.html import fromstring

from scraper.body import Block, link_share, link_texts, main_text, remove_furniture

PARAGRAPHS = [
    "The regional council approved the new budget for public transport on Tuesday.",
    "Officials said the money will pay for forty electric buses and two new depots.",
    "Residents had asked for more frequent services on the routes to the hospital.",
    "The first buses are expected to enter service before the end of the year.",
]


def _page(middle: str = "", after: str = "", before: str = "") -> str:
    text = "".join(f"<p>{p}</p>" for p in PARAGRAPHS[:2])
    rest = "".join(f"<p>{p}</p>" for p in PARAGRAPHS[2:])
    return (
        "<html><head><title>Budget</title></head><body><nav><a href='/a'>Home</a></nav>"
        f"<article><h1>Council approves budget</h1>{before}{text}{middle}{rest}{after}"
        "</article><footer><a href='/imprint'>Imprint</a></footer></body></html>"
    )


def _text(html: str) -> list[str]:
    return main_text(
        fromstring(html), "https://news.example/a/1", ["Council approves budget"], [], None
    )


def test_plain_article_is_kept_whole() -> None:
    assert _text(_page()) == PARAGRAPHS


def test_see_also_lines_and_linked_teasers_are_removed() -> None:
    middle = (
        "<p>Read more: <a href='/b/2'>Mayor opens the new tram line to the airport</a></p>"
        "<p>Lesen Sie auch: Neue Radwege in der Innenstadt geplant</p>"
        "<p><a href='/c/3'>Bus drivers vote on a new contract with the city this week</a></p>"
    )
    assert _text(_page(middle=middle)) == PARAGRAPHS


def test_calls_to_action_credits_and_trailing_related_lists_are_removed() -> None:
    after = (
        "<p>Sign up for our newsletter and never miss the latest news.</p>"
        "<p>Foto: Jane Doe/dpa</p>"
        "<h3>Related articles</h3>"
        "<ul><li><a href='/d/4'>Ticket prices rise in the spring</a></li>"
        "<li><a href='/e/5'>New depot opens in the north of the city</a></li></ul>"
    )
    assert _text(_page(after=after)) == PARAGRAPHS


def test_real_paragraphs_lists_quotes_and_subheadings_stay() -> None:
    middle = (
        "<h2>What changes for riders</h2>"
        "<ul><li>Buses every ten minutes on the main lines</li>"
        "<li>Night buses on weekends from June</li></ul>"
        "<blockquote>We asked for this for years, and now it happens, said a rider.</blockquote>"
        "<p>More details are in <a href='/report'>the council's report</a>, published on "
        "Tuesday evening together with the budget tables for the next two years.</p>"
    )
    text = _text(_page(middle=middle))
    assert "What changes for riders" in text
    assert any("Night buses on weekends from June" in block for block in text)
    assert any(block.startswith("We asked for this") for block in text)
    assert any(block.startswith("More details are in the council") for block in text)
    assert PARAGRAPHS[0] in text and PARAGRAPHS[-1] in text


def test_a_short_sign_off_at_the_end_stays() -> None:
    text = _text(_page(after="<p>Jane, for the editors</p>"))
    assert text[-1] == "Jane, for the editors"


def test_the_lead_marked_by_the_page_is_restored_before_the_text() -> None:
    lead = (
        "The council passed a budget that doubles the money for buses, trams and new "
        "depots over the next two years."
    )
    html = _page(before=f"<div class='article-teaser'><p>{lead}</p></div>")
    assert _text(html)[0] == lead


def test_link_share_counts_lines_that_end_with_a_link() -> None:
    tree = fromstring(
        "<div><a href='/x'>Mayor opens the new tram line</a><a href='#top'>Top of page</a>"
        "<a href='https://news.example/a/1'>This very page</a></div>"
    )
    links = link_texts(tree, "https://news.example/a/1")
    assert link_share("Read more: Mayor opens the new tram line", links) > 0.7
    assert link_share("Top of page", links) == 0.0  # a link within the page
    assert link_share("This very page", links) == 0.0


def test_clean_up_never_takes_most_of_the_text() -> None:
    blocks = [Block("p", "Newsletter: sign up here for our daily briefing today")]
    assert remove_furniture(blocks, link_texts(fromstring("<div></div>"))) == blocks


def test_a_paragraph_repeating_a_figure_caption_is_removed() -> None:
    caption = "The new electric buses at the depot in the north of the city."
    # The caption also printed as a paragraph of its own, as some templates do.
    middle = (
        f"<p>{caption}</p><figure><img src='/bus.jpg'><figcaption>{caption}</figcaption></figure>"
    )
    assert _text(_page(middle=middle)) == PARAGRAPHS


def test_a_paragraph_is_kept_when_the_caption_differs_or_is_too_short_to_tell() -> None:
    from scraper.body import caption_texts, remove_captions

    tree = fromstring(
        "<div><figure><figcaption>Photo: AP</figcaption></figure>"
        f"<figure><figcaption>{PARAGRAPHS[0]}</figcaption></figure></div>"
    )
    blocks = [Block("p", f"{PARAGRAPHS[0]}\n\n{PARAGRAPHS[1]}"), Block("p", "Photo: AP")]
    assert remove_captions(blocks, caption_texts(tree)) == [
        Block("p", PARAGRAPHS[1]),
        Block("p", "Photo: AP"),
    ]


def test_captions_stay_when_they_are_most_of_the_text() -> None:
    from scraper.body import caption_texts, remove_captions

    tree = fromstring(f"<div><figure><figcaption>{PARAGRAPHS[0]}</figcaption></figure></div>")
    blocks = [Block("p", PARAGRAPHS[0])]
    assert remove_captions(blocks, caption_texts(tree)) == blocks


def _first_characters(parsed: Any) -> set[str]:
    """The characters a parsed regular expression (re._parser) can start a match with;
    zero-width assertions (\\b) are looked through."""
    from re import _constants as c  # type: ignore[attr-defined]

    for op, value in parsed:
        if op is c.AT:
            continue
        if op is c.LITERAL:
            return {chr(value)}
        if op is c.IN:
            return {chr(v) for kind, v in value if kind is c.LITERAL}
        if op is c.BRANCH:
            return set().union(*(_first_characters(branch) for branch in value[1]))
        if op is c.SUBPATTERN:
            return _first_characters(value[3])
        raise AssertionError(f"unexpected {op}")
    return set()


def test_call_to_action_lookahead_admits_every_phrase() -> None:
    """The lookahead in front of the call-to-action phrases only skips positions where
    none of them can start."""
    import re
    from re import _parser  # type: ignore[attr-defined]

    from scraper.body import _CALL_TO_ACTION

    lookahead, phrases = _parser.parse(_CALL_TO_ACTION.pattern, _CALL_TO_ACTION.flags)
    guard = re.compile(
        f"[{''.join(sorted(_first_characters(lookahead[1][1])))}]", _CALL_TO_ACTION.flags
    )
    assert all(guard.match(char) for char in _first_characters([phrases]))
