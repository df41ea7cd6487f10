"""Titles without section labels, and the page's declared language over detection."""

from __future__ import annotations

from lxml.html import fromstring

from scraper.extract import PageMetadata, page_title, strip_section_label
from scraper.language import choose_language
from scraper.text import is_visible


def _metadata(og: str | None, h1: str | None, title: str | None) -> PageMetadata:
    return PageMetadata(
        og_title=og,
        jsonld_headline=None,
        h1=h1,
        html_title=title,
        site_names=("한국일보",),
        description=None,
        authors=(),
        dates=(),
    )


def test_korean_section_suffix_goes_when_the_h1_lacks_it() -> None:
    headline = '민주당 선호투표제 도입 또다시 불발 "당규 개정 왜 밀어붙이나"'
    metadata = _metadata(f"{headline}-정치ㅣ한국일보", headline, f"{headline}-정치ㅣ한국일보")
    assert page_title(metadata, "https://www.hankookilbo.com/News/Read/1") == headline


def test_a_trailing_word_without_evidence_stays() -> None:
    title = "Merkel trifft Macron - Analyse"
    assert strip_section_label(title, [title, "Merkel trifft Macron - Analyse"]) == title
    assert strip_section_label(title, [title, None or ""]) == title


def test_a_section_label_after_a_spaced_dash_goes_with_evidence() -> None:
    title = "Council approves the transport budget - Politics"
    assert strip_section_label(title, [title, "Council approves the transport budget"]) == (
        "Council approves the transport budget"
    )


NORWEGIAN = (
    "Regjeringen la tirsdag fram et nytt forslag til statsbudsjett for neste år. Forslaget "
    "innebærer økte bevilgninger til kollektivtransport, skoler og sykehus i hele landet, "
    "og finansministeren sa at budsjettet skal bidra til lavere prisvekst og flere jobber."
)
PORTUGUESE = (
    "O governo anunciou nesta terça-feira uma série de medidas para a educação pública. "
    "Segundo o ministério, as ações começam no próximo mês e incluem a reforma de escolas, "
    "a contratação de professores e a compra de equipamentos para os laboratórios."
)


def test_declared_norwegian_variant_is_kept_as_declared() -> None:
    for declared in ("nb", "no", "nn"):
        tree = fromstring(f"<html lang='{declared}-NO'><body><p>x</p></body></html>")
        assert choose_language(None, tree, NORWEGIAN) == declared


def test_a_template_language_clearly_contradicted_by_the_text_loses() -> None:
    tree = fromstring("<html lang='en-US'><body><p>x</p></body></html>")
    assert choose_language(None, tree, PORTUGUESE) == "pt"


def test_the_declaration_wins_over_a_short_or_unsure_text() -> None:
    tree = fromstring("<html lang='de'><body><p>x</p></body></html>")
    assert choose_language(None, tree, "Okay, danke.") == "de"


def test_the_configured_language_wins_over_everything() -> None:
    tree = fromstring("<html lang='en'><body><p>x</p></body></html>")
    assert choose_language("pt-BR", tree, NORWEGIAN) == "pt"


def test_the_shared_language_model_guesses_as_py3langid_does() -> None:
    """The model's tokenizer tables are kept as machine integers (so that workers
    sharing them with their fork server do not copy them); every guess, and its
    confidence, is py3langid's own."""
    from array import array

    from py3langid.langid import MODEL_FILE, LanguageIdentifier

    from scraper.language import _identifier

    published = LanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=True)
    ours = _identifier()
    assert isinstance(ours._rowbase, array) and isinstance(ours.tk_output, array)
    texts = [
        "The minister announced a new budget for public schools on Tuesday.",
        "O ministério anunciou nesta terça-feira um novo orçamento para as escolas.",
        "Министерство объявило о новом бюджете для государственных школ.",
        "교육부는 화요일 공립학교를 위한 새 예산을 발표했다.",
        "政府は火曜日、公立学校の新しい予算を発表した。",
        "ALL CAPITALS HEADLINE ABOUT THE ECONOMY",
        "x",
        "",
    ]
    for text in texts:
        assert ours.classify(text) == published.classify(text), text


def test_only_text_that_shows_something_is_visible() -> None:
    assert is_visible("Budget approved")
    assert is_visible("\u200b3")  # a digit after a zero-width space
    assert is_visible("\u00bb")  # a lone guillemet still shows
    assert not is_visible("")
    assert not is_visible(" \u00a0\u3000")  # separators
    assert not is_visible("\u200b\u200c\u200d\u2060\ufeff\u00ad")  # format characters
