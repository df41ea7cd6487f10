"""The ``Idioma`` of a document: an ISO 639-1 code (DESIGN section 2).

Order: the source's configured language, else what the page declares about itself
(``<html lang>``, ``og:locale``, a content-language meta tag), else a guess from the text.
A declaration is believed unless the text clearly says otherwise: site templates often
declare their default language ("en-US") on every page, whatever the article's language.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from lxml.html import HtmlElement

# Primary subtag of a BCP 47 tag or POSIX locale ("en-US", "pt_BR", "zh-Hans-CN").
_PRIMARY_SUBTAG = re.compile(r"^\s*([A-Za-z]{2,3})(?:[-_][A-Za-z0-9-_]*)?\s*$")
# Deprecated ISO 639-1 codes still found in the wild, and the three-letter codes of the
# languages this service sees most; anything else three-letter is left to detection.
_CODE_ALIASES = {
    "iw": "he",
    "in": "id",
    "ji": "yi",
    "jw": "jv",
    "mo": "ro",
    "eng": "en",
    "por": "pt",
    "spa": "es",
    "fra": "fr",
    "fre": "fr",
    "deu": "de",
    "ger": "de",
    "ukr": "uk",
    "rus": "ru",
    "zho": "zh",
    "chi": "zh",
}
_DECLARED_LANGUAGE_XPATHS = (
    "/html/@lang",
    "/html/@xml:lang",
    "//meta[@property='og:locale']/@content",
    "//meta[translate(@http-equiv, 'CONTENT-LANGUAGE', 'content-language')"
    "='content-language']/@content",
    "//meta[@name='language' or @name='Language' or @name='dc.language'"
    " or @name='DC.language']/@content",
)
# Enough text for a stable guess; the whole article is not needed.
_DETECTION_SAMPLE_CHARS = 800
# A guess overrules the page's declaration only with this much text and confidence.
_MIN_CHARS_TO_OVERRULE = 200
_MIN_CONFIDENCE_TO_OVERRULE = 0.99
# Codes a detector cannot tell apart reliably; a declaration inside the group stands.
_CLOSE_LANGUAGES = (
    frozenset({"no", "nb", "nn"}),
    frozenset({"sr", "hr", "bs"}),
    frozenset({"ms", "id"}),
)


def normalize_language_code(value: str | None) -> str | None:
    """``"en-US"`` -> ``"en"``; None when ``value`` is not a recognizable language tag."""
    if not value:
        return None
    # "en-US, de" (content-language may list several): the first one is the main one.
    match = _PRIMARY_SUBTAG.match(value.split(",")[0])
    if match is None:
        return None
    code = match.group(1).lower()
    code = _CODE_ALIASES.get(code, code)
    return code if len(code) == 2 else None


def declared_language(tree: HtmlElement) -> str | None:
    """The language the page declares for itself, if any declaration is usable."""
    for xpath in _DECLARED_LANGUAGE_XPATHS:
        for value in tree.xpath(xpath, namespaces={"xml": "http://www.w3.org/XML/1998/namespace"}):
            code = normalize_language_code(str(value))
            if code is not None:
                return code
    return None


@dataclass(frozen=True)
class LanguageGuess:
    code: str
    confidence: float  # probability in [0, 1]


@lru_cache(maxsize=1)
def _identifier() -> Any:
    # Loaded on first use (once per fork server, whose workers share it).
    from scraper.language_model import load_identifier

    return load_identifier()


def detect_language(text: str) -> LanguageGuess | None:
    """A statistical guess from the text itself (py3langid); None for empty text."""
    sample = text[:_DETECTION_SAMPLE_CHARS].strip()
    if not sample:
        return None
    label, confidence = _identifier().classify(sample)
    code = normalize_language_code(str(label))
    return LanguageGuess(code, float(confidence)) if code is not None else None


def _close(first: str, second: str) -> bool:
    return first == second or any({first, second} <= group for group in _CLOSE_LANGUAGES)


def choose_language(configured: str | None, tree: HtmlElement | None, text: str) -> str | None:
    """Configured language, else the page's declaration (unless the text clearly is in
    another language), else detection from the text."""
    code = normalize_language_code(configured)
    if code is not None:
        return code
    declared = declared_language(tree) if tree is not None else None
    if declared is not None and len(text) < _MIN_CHARS_TO_OVERRULE:
        return declared  # too little text to overrule it: no need to guess
    guess = detect_language(text)
    if declared is None:
        return guess.code if guess is not None else None
    if (
        guess is not None
        and len(text) >= _MIN_CHARS_TO_OVERRULE
        and guess.confidence >= _MIN_CONFIDENCE_TO_OVERRULE
        and not _close(declared, guess.code)
    ):
        return guess.code
    return declared
