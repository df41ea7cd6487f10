"""An XPath that skips its walk when the page's attribute values show it selects nothing.

trafilatura's boilerplate, comment and body expressions are mostly of one shape:
``.//*[self::div or self::section][re:test(@class, '...') or contains(@id, '...')]``.
libxml2 walks every element of the tree and tests each, and every ``re:test`` is a call
into Python. Yet whether *any* element can pass such a predicate follows from the
page's values of the attributes it tests: if no ``class`` or ``id`` value of the page
matches the pattern, contains the string, equals it..., no element passes, and the
expression selects nothing. Reading those values is one walk in C, and testing them is
one search over all of them joined by newlines, so the check costs a fraction of the
walk it can save (most pages have no comment section, no teaser, no "mvp-post-add"
container...).

The check is a necessary condition only: when it says "possible", the expression runs
as written, so the elements selected are always the ones libxml2 selects. Only a
single step below the context (``.//*[...]...`` or ``.//tag[...]...``, optionally
parenthesised with a position) is analysed, so the attribute values read (every
``@name`` below and at the context) cover every element the predicates look at;
predicates it cannot read (``not()``, axes, positions...) count as always possible.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, cast

from lxml import etree
from lxml.html import HtmlElement

# Values are joined with a newline and framed by one on each side, so that "equals"
# and "starts with" are substring searches and no literal without a newline can match
# across two values.
_SEPARATOR = "\n"

_ATTRIBUTE = r"@[\w-]+(?:\s*\|\s*@[\w-]+)*"
_LITERAL = r"""(?:'([^']*)'|"([^"]*)")"""
_EQUALS = re.compile(rf"({_ATTRIBUTE})\s*=\s*{_LITERAL}")
_CONTAINS = re.compile(rf"contains\(\s*({_ATTRIBUTE})\s*,\s*{_LITERAL}\s*\)")
_STARTS_WITH = re.compile(rf"starts-with\(\s*({_ATTRIBUTE})\s*,\s*{_LITERAL}\s*\)")
_TRANSLATED_CONTAINS = re.compile(
    rf"contains\(\s*translate\(\s*({_ATTRIBUTE})\s*,\s*{_LITERAL}\s*,\s*{_LITERAL}\s*\)"
    rf"\s*,\s*{_LITERAL}\s*\)"
)
_REGEX_TEST = re.compile(rf"re:test\(\s*({_ATTRIBUTE})\s*,\s*{_LITERAL}\s*(?:,\s*{_LITERAL}\s*)?\)")
# One step below the context node with its predicates, or such a step in parentheses
# followed by predicates of its own (a position, usually).
_ONE_STEP = re.compile(r"\.//(?:\*|[\w-]+)\s*(\[.*\])", re.DOTALL)
_PARENTHESISED = re.compile(r"\((.*)\)\s*(?:\[[^\[\]]*\]\s*)*", re.DOTALL)
# Regular-expression parts whose outcome at a value's edge could differ when a newline
# stands there instead of the end of the string: \A and \Z, and lookarounds other than
# plain words (a lookaround of letters, digits, "_", "-" or spaces fails on a newline
# just as on the end of the string).
_EDGE_SENSITIVE = re.compile(r"\\[AZ]|\(\?<?[=!](?![\w -]+\))")


@dataclass(frozen=True)
class Condition:
    """A test of joined attribute values that holds whenever some element could pass
    the predicate it stands for."""

    test: Callable[[str], bool]
    attributes: frozenset[str]

    def possible(self, values: str) -> bool:
        return self.test(values)


def prefiltered(expression: etree.XPath, namespaces: dict[str, str] | None = None) -> etree.XPath:
    """``expression`` as a ``PrefilteredXPath`` when some predicate of it can be
    checked on attribute values, else ``expression`` itself."""
    conditions = step_conditions(expression.path)
    if not conditions:
        return expression
    return PrefilteredXPath(expression.path, conditions, namespaces)


class PrefilteredXPath(etree.XPath):
    """An ``etree.XPath`` that returns ``[]`` at once when one of ``conditions`` (all
    necessary for any element to be selected) fails on the attribute values at and
    below the context."""

    def __init__(
        self, path: str, conditions: list[Condition], namespaces: dict[str, str] | None = None
    ) -> None:
        super().__init__(path, namespaces=namespaces)
        self.conditions = conditions
        self.attributes = frozenset[str]().union(*(c.attributes for c in conditions))

    # lxml's stubs spell out every variable type; this passes them on untouched.
    def __call__(self, _etree_or_element: Any, /, **variables: Any) -> Any:  # type: ignore[override]
        if self.ruled_out(_etree_or_element):
            return []
        return super().__call__(_etree_or_element, **variables)

    def ruled_out(self, tree: HtmlElement) -> bool:
        """Whether the attribute values at and below ``tree`` fail one of the
        conditions."""
        values = joined_values(tree, self.attributes)
        return not all(condition.possible(values) for condition in self.conditions)


def joined_values(tree: HtmlElement, names: frozenset[str]) -> str:
    """The values of the attributes ``names`` at and below ``tree``, each between two
    separators."""
    values = cast(list[str], _values_xpath(names)(tree))
    return f"{_SEPARATOR}{_SEPARATOR.join(values)}{_SEPARATOR}"


@lru_cache(maxsize=64)
def _values_xpath(names: frozenset[str]) -> etree.XPath:
    return etree.XPath("|".join(f".//@{name}" for name in sorted(names)), smart_strings=False)


# --------------------------------------------------------------------------- analysis


def step_conditions(path: str) -> list[Condition]:
    """The checkable predicates of ``path`` when it is one step below the context node
    (see the module's docstring), else none."""
    path = path.strip()
    wrapped = _PARENTHESISED.fullmatch(path)
    if wrapped is not None and _closing(path, 0) == path.rindex(")"):
        path = wrapped.group(1).strip()
    step = _ONE_STEP.fullmatch(path)
    if step is None or _top_level_positions(path, "|"):
        return []
    predicates = _bracketed(step.group(1))
    if predicates is None:
        return []
    return [c for c in map(condition, predicates) if c is not None]


def condition(predicate: str) -> Condition | None:
    """A necessary condition on attribute values for ``predicate``, or None when it
    cannot be read as one (it may then hold anywhere)."""
    predicate = _unwrapped(predicate.strip())
    alternatives = _split(predicate, "or")
    if len(alternatives) > 1:
        parts = [condition(p) for p in alternatives]
        if any(p is None for p in parts):
            return None
        return _any_of(cast(list[Condition], parts))
    conjuncts = _split(predicate, "and")
    if len(conjuncts) > 1:
        known = [c for c in map(condition, conjuncts) if c is not None]
        return _all_of(known) if known else None
    return _atomic(predicate)


def _atomic(term: str) -> Condition | None:
    if match := _EQUALS.fullmatch(term):
        return _literal_test(match.group(1), _literal(match, 2), lambda s: f"\n{s}\n")
    if match := _CONTAINS.fullmatch(term):
        return _literal_test(match.group(1), _literal(match, 2), lambda s: s)
    if match := _STARTS_WITH.fullmatch(term):
        return _literal_test(match.group(1), _literal(match, 2), lambda s: f"\n{s}")
    if match := _TRANSLATED_CONTAINS.fullmatch(term):
        return _translated_test(
            match.group(1), _literal(match, 2), _literal(match, 4), _literal(match, 6)
        )
    if match := _REGEX_TEST.fullmatch(term):
        flags = match.group(4) or match.group(5) or ""
        return _regex_test(match.group(1), _literal(match, 2), flags)
    return None


def _literal(match: re.Match[str], group: int) -> str:
    """The text of the quoted literal whose single-quoted form is ``group``."""
    single = match.group(group)
    return single if single is not None else match.group(group + 1)


def _names(attributes: str) -> frozenset[str]:
    return frozenset(name.strip().lstrip("@") for name in attributes.split("|"))


def _literal_test(attributes: str, literal: str, framed: Callable[[str], str]) -> Condition | None:
    if _SEPARATOR in literal:
        return None
    needle = framed(literal)
    return Condition(lambda values: needle in values, _names(attributes))


def _translated_test(attributes: str, source: str, target: str, literal: str) -> Condition | None:
    """``contains(translate(@a, source, target), literal)``: XPath's translate maps each
    character of ``source`` to the one at the same place in ``target`` (the first
    occurrence counts) and drops it when ``target`` is shorter."""
    if _SEPARATOR in source or _SEPARATOR in literal:
        return None
    table: dict[int, str | None] = {}
    for index, char in enumerate(source):
        table.setdefault(ord(char), target[index] if index < len(target) else None)
    return Condition(lambda values: literal in values.translate(table), _names(attributes))


def _regex_test(attributes: str, pattern: str, flags: str) -> Condition | None:
    """``re:test`` as lxml runs it (Python's ``re``, "i" for ignoring case), searched
    over all values at once: with MULTILINE, ``^`` and ``$`` hold at each value's edges
    as at a lone value's, and a newline next to a value acts as its start or end does
    for the rest of the pattern, except for the parts ``_EDGE_SENSITIVE`` finds."""
    if _EDGE_SENSITIVE.search(pattern):
        return None
    try:
        compiled = re.compile(pattern, re.MULTILINE | (re.IGNORECASE if "i" in flags else 0))
    except re.error:
        return None
    return Condition(lambda values: compiled.search(values) is not None, _names(attributes))


def _any_of(parts: list[Condition]) -> Condition:
    return Condition(
        lambda values: any(p.possible(values) for p in parts),
        frozenset().union(*(p.attributes for p in parts)),
    )


def _all_of(parts: list[Condition]) -> Condition:
    return Condition(
        lambda values: all(p.possible(values) for p in parts),
        frozenset().union(*(p.attributes for p in parts)),
    )


# --------------------------------------------------------------------------- scanning


def _depths(text: str) -> list[int]:
    """For each character of ``text``: the nesting depth of parentheses and brackets
    around it, -1 inside a quoted string."""
    depths: list[int] = []
    depth, quote = 0, ""
    for char in text:
        if quote:
            depths.append(-1)
            quote = "" if char == quote else quote
            continue
        if char in "'\"":
            quote = char
            depths.append(-1)
            continue
        if char in "([":
            depths.append(depth)
            depth += 1
            continue
        if char in ")]":
            depth -= 1
        depths.append(depth)
    return depths


def _top_level_positions(text: str, char: str) -> list[int]:
    depths = _depths(text)
    return [i for i, c in enumerate(text) if c == char and depths[i] == 0]


def _closing(text: str, start: int) -> int | None:
    """Where the parenthesis or bracket opened at ``start`` closes."""
    depths = _depths(text)
    level = depths[start]
    for index in range(start + 1, len(text)):
        if depths[index] == level and text[index] in ")]":
            return index
    return None


def _bracketed(text: str) -> list[str] | None:
    """The contents of a run of ``[...]`` groups, or None when ``text`` is not one."""
    groups: list[str] = []
    index = 0
    while index < len(text):
        if text[index].isspace():
            index += 1
            continue
        if text[index] != "[":
            return None
        end = _closing(text, index)
        if end is None:
            return None
        groups.append(text[index + 1 : end])
        index = end + 1
    return groups


def _unwrapped(text: str) -> str:
    """``text`` without parentheses around all of it."""
    while text.startswith("(") and _closing(text, 0) == len(text) - 1:
        text = text[1:-1].strip()
    return text


def _split(text: str, operator: str) -> list[str]:
    """``text`` split at its top-level ``or`` / ``and`` operators."""
    depths = _depths(text)
    pieces: list[str] = []
    start = 0
    for match in re.finditer(rf"\s{operator}\s", text):
        if depths[match.start()] == 0:
            pieces.append(text[start : match.start()].strip())
            start = match.end()
    pieces.append(text[start:].strip())
    return pieces
