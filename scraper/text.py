"""Whitespace and control-character hygiene shared by the document format and extraction.

The document format is line-based, so every single-line field must be free of anything a
reader could take for a line break (``str.splitlines`` knows more of them than ``\\n``).
"""

from __future__ import annotations

import re
import unicodedata

# Everything str.splitlines() treats as a line boundary, besides "\n" itself.
_LINE_BREAKS = re.compile("[\r\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029]")
# C0/C1 control characters other than tab and newline carry no text. Nor do surrogates:
# a Python string holds one only alone (a JSON-LD "\ud83d" decodes to one), which is no
# character, and no file or database takes it as UTF-8.
_CONTROL = re.compile("[\x00-\x08\x0e-\x1b\x7f-\x84\x86-\x9f\ud800-\udfff]")
_BLANK_LINES = re.compile(r"\n\s*\n")


def _scrub(text: str) -> str:
    text = unicodedata.normalize("NFC", text)
    text = text.replace("\r\n", "\n")
    text = _LINE_BREAKS.sub("\n", text)
    text = _CONTROL.sub("", text)
    return text.replace("\ufeff", "")


def single_line(text: str) -> str:
    """Collapse all whitespace (line breaks included) to single spaces and strip the ends."""
    # _scrub without its line-break rewriting: str.split() takes every line break as
    # whitespace anyway. (Called on every text node of a page: it has to be cheap.)
    text = unicodedata.normalize("NFC", text)
    if _CONTROL.search(text) is not None:
        text = _CONTROL.sub("", text)
    return " ".join(text.replace("\ufeff", "").split())


def is_visible(text: str) -> bool:
    """Whether ``text`` shows anything: a letter, digit, mark, punctuation or symbol. A
    title of zero-width spaces, joiners or soft hyphens (Unicode's format characters)
    and separators reads as empty."""
    return any(unicodedata.category(char)[0] not in "CZ" for char in text)


def paragraphs(text: str) -> list[str]:
    """Split text into paragraphs at blank lines.

    Inside a paragraph, each line is stripped and runs of spaces become one space; empty
    lines vanish. The result never contains a blank line or a trailing space.
    """
    result: list[str] = []
    for block in _BLANK_LINES.split(_scrub(text)):
        # A line holds no line break (_scrub made them all "\n"), so str.split()'s
        # whitespace is the horizontal space: runs become one space, the ends go.
        lines = [" ".join(line.split()) for line in block.split("\n")]
        kept = "\n".join(line for line in lines if line)
        if kept:
            result.append(kept)
    return result


def join_paragraphs(parts: list[str]) -> str:
    """The canonical content text: paragraphs separated by exactly one blank line."""
    return "\n\n".join(p for part in parts for p in paragraphs(part))


_NOT_ALPHANUMERIC = re.compile(r"[\W_]+")
# The ASCII characters that are neither letters nor digits (bytes.translate deletes them).
_ASCII_NOT_ALPHANUMERIC = bytes(code for code in range(128) if not chr(code).isalnum())


def comparable(text: str) -> str:
    """Letters and digits only, case-folded: "news.ORF.at" -> "newsorfat". How texts
    are compared across the page (headlines, links, captions, leads)."""
    if text.isascii():
        # The same result at a fraction of the cost: ASCII case folding is lower(), and
        # bytes.translate deletes in one C pass what the regex below removes.
        kept = text.encode("ascii").translate(None, _ASCII_NOT_ALPHANUMERIC)
        return kept.decode("ascii").lower()
    return _NOT_ALPHANUMERIC.sub("", text.casefold())
