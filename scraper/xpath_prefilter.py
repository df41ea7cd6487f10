"""An XPath that skips its walk when the page's attribute values show it selects nothing.

trafilatura's boilerplate, comment and body expressions are mostly of one shape:
``.//*[self::div or self::section][re:test(@class, '...') or contains(@id, '...')]``.
libxml2 walks every element of the tree and tests each, and every ``re:test`` is a call
into Python. Yet whether *any* element can pass such a predicate follows from the
page's values of the attributes it tests: if no ``class`` or ``id`` value of the page
matches the pattern, contains the string, equals it..., no element passes, and the
expression selects nothing. Reading those values is a walk in C per attribute, and
testing them is mostly substring searches over all of them joined by newlines (patterns
are split into their alternatives, plain strings among them searched as such, the
others only run when a string every match contains is there), so the check costs a
fraction of the walk it can save (most pages have no comment section, no teaser, no
"mvp-post-add" container...).

The check is a necessary condition only: when it says "possible", the expression runs
as written, so the elements selected are always the ones libxml2 selects. Only a
single step below the context (``.//*[...]...`` or ``.//tag[...]...``, optionally
parenthesised with a position) is analysed, so the attribute values read (every
``@name`` below and at the context) cover every element the predicates look at;
predicates it cannot read (``not()``, axes, positions...) count as always possible.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from copy import copy
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


class Condition:
    """A test of joined attribute values that holds whenever some element could pass
    the predicate it stands for.

    The tests are built flat (see ``_any_of`` and ``_all_of``): an ``or`` of substring
    tests is one loop over its needles, and parts are tried cheapest first, which
    changes no outcome since ``any`` and ``all`` do not depend on the order."""

    __slots__ = ("attributes",)

    def __init__(self, attributes: frozenset[str]) -> None:
        self.attributes = attributes

    def possible(self, values: str) -> bool:
        raise NotImplementedError

    def key(self) -> tuple[object, ...]:
        """What the test does: two conditions with the same key give the same outcome
        on the same values."""
        raise NotImplementedError


class _Substrings(Condition):
    """One of ``needles`` occurs in the values."""

    __slots__ = ("needles",)

    def __init__(self, needles: tuple[str, ...], attributes: frozenset[str]) -> None:
        super().__init__(attributes)
        self.needles = needles

    def possible(self, values: str) -> bool:
        return any(needle in values for needle in self.needles)

    def key(self) -> tuple[object, ...]:
        return ("in", self.needles)


class _Translated(Condition):
    """``literal`` occurs in the values once translated by ``table``."""

    __slots__ = ("literal", "table")

    def __init__(
        self, table: dict[int, str | None], literal: str, attributes: frozenset[str]
    ) -> None:
        super().__init__(attributes)
        self.table = table
        self.literal = literal

    def possible(self, values: str) -> bool:
        return self.literal in values.translate(self.table)

    def key(self) -> tuple[object, ...]:
        return ("translate", tuple(sorted(self.table.items())), self.literal)


class _Pattern(Condition):
    """``pattern`` matches somewhere in the values. Every match contains ``literal``
    (see ``_longest_run``; may be empty), so its absence answers without running the
    pattern: most pages hold none of the strings tested, and a substring search is
    many times quicker than the search of a pattern."""

    __slots__ = ("literal", "pattern")

    def __init__(self, pattern: re.Pattern[str], literal: str, attributes: frozenset[str]) -> None:
        super().__init__(attributes)
        self.pattern = pattern
        self.literal = literal

    def possible(self, values: str) -> bool:
        return self.literal in values and self.pattern.search(values) is not None

    def key(self) -> tuple[object, ...]:
        return ("re", self.pattern.pattern, self.pattern.flags)


class _Combination(Condition):
    """Conditions joined by ``operator`` (``_AnyOf``, ``_AllOf``)."""

    __slots__ = ("parts",)
    operator = ""

    def __init__(self, parts: tuple[Condition, ...], attributes: frozenset[str]) -> None:
        super().__init__(attributes)
        self.parts = parts

    def key(self) -> tuple[object, ...]:
        return (self.operator, *(p.key() for p in self.parts))


class _AnyOf(_Combination):
    __slots__ = ()
    operator = "or"

    def possible(self, values: str) -> bool:
        return any(part.possible(values) for part in self.parts)


class _AllOf(_Combination):
    __slots__ = ()
    operator = "and"

    def possible(self, values: str) -> bool:
        return all(part.possible(values) for part in self.parts)


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
        self.condition = _all_of(conditions)
        self.attributes = self.condition.attributes
        self._readers = _values_xpaths(self.attributes)

    # lxml's stubs spell out every variable type; this passes them on untouched.
    def __call__(self, _etree_or_element: Any, /, **variables: Any) -> Any:  # type: ignore[override]
        if self.ruled_out(_etree_or_element):
            return []
        return super().__call__(_etree_or_element, **variables)

    def ruled_out(self, tree: HtmlElement) -> bool:
        """Whether the attribute values at and below ``tree`` fail one of the
        conditions."""
        return not self.condition.possible(_joined(tree, self._readers))


def joined_values(tree: HtmlElement, names: frozenset[str]) -> str:
    """The values of the attributes ``names`` at and below ``tree``, each between two
    separators."""
    return _joined(tree, _values_xpaths(names))


def _joined(tree: HtmlElement, readers: tuple[etree.XPath, ...]) -> str:
    values: list[str] = []
    for reader in readers:
        values += cast(list[str], reader(tree))
    return f"{_SEPARATOR}{_SEPARATOR.join(values)}{_SEPARATOR}"


@lru_cache(maxsize=64)
def _values_xpaths(names: frozenset[str]) -> tuple[etree.XPath, ...]:
    """One expression per attribute, where a union (``.//@class|.//@id``) would have
    libxml2 sort the values into document order; and ``descendant-or-self::*`` rather
    than ``.//`` (``descendant-or-self::node()``), which gathers every text node too
    before taking attributes: the same values in ~15% less time. Their order changes
    no outcome of a string test (none holds a newline, see ``_SEPARATOR``), and could
    change a pattern's only through a match spanning two values, which can only make
    an expression "possible", never rule one out wrongly (trafilatura's patterns
    match a newline only with a ``\\s`` at the edge of one value)."""
    return tuple(
        etree.XPath(f"descendant-or-self::*/@{name}", smart_strings=False) for name in sorted(names)
    )


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
    return _Substrings((framed(literal),), _names(attributes))


def _translated_test(attributes: str, source: str, target: str, literal: str) -> Condition | None:
    """``contains(translate(@a, source, target), literal)``: XPath's translate maps each
    character of ``source`` to the one at the same place in ``target`` (the first
    occurrence counts) and drops it when ``target`` is shorter."""
    if _SEPARATOR in source or _SEPARATOR in literal:
        return None
    table: dict[int, str | None] = {}
    for index, char in enumerate(source):
        table.setdefault(ord(char), target[index] if index < len(target) else None)
    return _Translated(table, literal, _names(attributes))


def _regex_test(attributes: str, pattern: str, flags: str) -> Condition | None:
    """``re:test`` as lxml runs it (Python's ``re``, "i" for ignoring case), searched
    over all values at once: with MULTILINE, ``^`` and ``$`` hold at each value's edges
    as at a lone value's, and a newline next to a value acts as its start or end does
    for the rest of the pattern, except for the parts ``_EDGE_SENSITIVE`` finds.

    A pattern of alternatives is tested one alternative at a time: some alternative
    matches exactly when the pattern does, and ``re`` searches for an alternative
    starting with a plain string (or one that is a plain string, then a substring
    test) several times faster than for the alternation, whose matches may start at
    any of its first characters."""
    if _EDGE_SENSITIVE.search(pattern):
        return None
    ignore_case = "i" in flags
    regex_flags = re.MULTILINE | (re.IGNORECASE if ignore_case else 0)
    try:
        compiled = re.compile(pattern, regex_flags)
    except re.error:
        return None
    names = _names(attributes)
    pieces = _pieces(pattern)
    if pieces is None:
        return _Pattern(compiled, "", names)
    parts: list[Condition] = []
    for branch in _expanded(_branches(pieces)):
        if not ignore_case and all(piece in _PLAIN for piece in branch):
            parts.append(_Substrings(("".join(branch),), names))
            continue
        try:
            alternative = re.compile("".join(branch), regex_flags)
        except re.error:
            return _Pattern(compiled, "", names)
        parts.append(_Pattern(alternative, "" if ignore_case else _longest_run(branch), names))
    return _any_of(parts)


def _pieces(pattern: str) -> list[str] | None:
    """The top-level pieces of ``pattern``: single characters, escapes (``\\s``),
    classes (``[...]``) and groups (``(...)``); None when it holds something they would
    not read right: a repetition count (``{2}``), an escape of more than one character
    (``\\x41``, ``\\1``), a group setting flags, naming or referring to one."""
    if "{" in pattern or _INLINE_FLAGS.search(pattern):
        return None
    pieces: list[str] = []
    index = 0
    while index < len(pattern):
        end = _piece_end(pattern, index)
        if end is None:
            return None
        pieces.append(pattern[index:end])
        index = end
    return pieces


def _piece_end(pattern: str, start: int) -> int | None:
    """Where the piece starting at ``start`` ends (see ``_pieces``)."""
    char = pattern[start]
    if char == "\\":
        escaped = pattern[start + 1 : start + 2]
        return start + 2 if escaped and escaped in _ONE_CHARACTER_ESCAPES else None
    if char == "[":
        index = start + 1
        if pattern.startswith("^", index):
            index += 1
        if pattern.startswith("]", index):
            index += 1
        while index < len(pattern) and pattern[index] != "]":
            index += 2 if pattern[index] == "\\" else 1
        return index + 1 if index < len(pattern) else None
    if char == "(":
        index = start + 1
        while index < len(pattern) and pattern[index] != ")":
            end = _piece_end(pattern, index)
            if end is None:
                return None
            index = end
        return index + 1 if index < len(pattern) else None
    return start + 1


def _branches(pieces: list[str]) -> list[list[str]]:
    """``pieces`` split at their alternatives."""
    branches: list[list[str]] = [[]]
    for piece in pieces:
        if piece == "|":
            branches.append([])
        else:
            branches[-1].append(piece)
    return branches


def _expanded(branches: list[list[str]]) -> list[list[str]]:
    """``branches`` with their groups of alternatives written out (``^(?:a|b)c`` as
    ``^ac|^bc``: the same matches) but for lookarounds, groups a quantifier follows
    and those that would make more than ``_MOST_BRANCHES`` alternatives."""
    done: list[list[str]] = []
    waiting = list(branches)
    while waiting:
        branch = waiting.pop(0)
        for index, piece in enumerate(branch):
            body = _GROUP_BODY.fullmatch(piece)
            following = branch[index + 1] if index + 1 < len(branch) else ""
            if body is None or following in _QUANTIFIERS:
                continue
            inner = _pieces(body.group(1))
            if inner is None:
                continue
            alternatives = _branches(inner)
            if len(done) + len(waiting) + len(alternatives) > _MOST_BRANCHES:
                continue
            before, after = branch[:index], branch[index + 1 :]
            waiting[:0] = [[*before, *alternative, *after] for alternative in alternatives]
            break
        else:
            done.append(branch)
    return done


# A capturing or non-capturing group (no lookaround: "(?=", "(?!"...).
_GROUP_BODY = re.compile(r"\((?:\?:)?(?!\?)(.*)\)", re.DOTALL)
_MOST_BRANCHES = 32


def _longest_run(pieces: list[str]) -> str:
    """The longest string that every match of ``pieces`` (one alternative, compiled
    without IGNORECASE) contains: plain characters in a row, less any one a
    quantifier follows (it may be absent or repeated)."""
    runs = [""]
    for piece in pieces:
        if piece in _PLAIN:
            runs[-1] += piece
        elif piece in _QUANTIFIERS:
            runs[-1] = runs[-1][:-1]
            runs.append("")
        else:
            runs.append("")
    return max(runs, key=len)


# Characters that stand for themselves in a pattern; quantifiers; escapes that read one
# character (classes, anchors and escaped punctuation).
_PLAIN = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_- ")
_QUANTIFIERS = frozenset("?*+")
_ONE_CHARACTER_ESCAPES = frozenset("sSdDwWbBAZ\\.^$|?*+()[]{}-/ ")
# A group that sets flags ("(?i)", "(?x:...)"), is named, or is not a plain,
# non-capturing or lookaround group.
_INLINE_FLAGS = re.compile(r"\(\?(?![:=!]|<[=!])")


def _any_of(parts: list[Condition]) -> Condition:
    """Some of ``parts`` holds: nested ``or`` parts lifted up, substring tests merged
    into one, repeated tests dropped (an id and a class tested alike read the same
    joined values), cheapest first."""
    flat: list[Condition] = []
    for part in parts:
        flat += part.parts if isinstance(part, _AnyOf) else [part]
    substrings = [p for p in flat if isinstance(p, _Substrings)]
    others = [p for p in flat if not isinstance(p, _Substrings)]
    if substrings:
        needles = tuple(dict.fromkeys(n for p in substrings for n in p.needles))
        others.append(_Substrings(needles, _attributes(substrings)))
    return _combined(_AnyOf, others)


def _all_of(parts: list[Condition]) -> Condition:
    """All of ``parts`` hold: nested ``and`` parts lifted up, repeated tests dropped,
    cheapest first."""
    flat: list[Condition] = []
    for part in parts:
        flat += part.parts if isinstance(part, _AllOf) else [part]
    return _combined(_AllOf, flat)


def _combined(kind: type[_AnyOf | _AllOf], parts: list[Condition]) -> Condition:
    """``parts`` as one condition of ``kind`` reading the attributes of all of them."""
    attributes = _attributes(parts)
    unique = list({p.key(): p for p in sorted(parts, key=_cost)}.values())
    if len(unique) > 1:
        return kind(tuple(unique), attributes)
    only = copy(unique[0])  # re:test(@id, 'x') or re:test(@class, 'x'): reads both
    only.attributes = attributes
    return only


def _cost(part: Condition) -> int:
    """Substring tests first, then translations, then patterns with a literal to look
    for before they run, then the others."""
    if isinstance(part, _Substrings):
        return 0
    if isinstance(part, _Translated):
        return 1
    if isinstance(part, _Pattern) and part.literal:
        return 2
    return 3


def _attributes(parts: Sequence[Condition]) -> frozenset[str]:
    return frozenset[str]().union(*(p.attributes for p in parts))


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
