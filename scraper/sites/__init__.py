"""Site rules: what one site needs that the generic extraction cannot know.

A rule is a small class in its own module of this package, registered with ``@site``
for the hosts it names, that overrides only what differs for those hosts:

- ``body``: CSS selector of the element(s) holding the article text; extraction then
  runs inside them only (the generic clean-up still applies);
- ``drop``: CSS selectors of elements to remove before extraction (info boxes, captions,
  "more on this" blocks the generic path keeps);
- ``title``: CSS selector of the headline, when the page's metadata gets it wrong;
- ``published``: CSS selector of an element whose ``datetime``/``content`` attribute or
  text is the publication date, read before the page's other dates.

A host matches its own rules and those of its parent domains ("www.wdr1.de" and
"wdr1.de" both match a rule for "wdr1.de"). See docs/site-rules.md.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable
from dataclasses import replace
from functools import lru_cache
from typing import ClassVar, TypeVar
from urllib.parse import urlsplit

from lxml.html import HtmlElement

from scraper.dates import DateClue
from scraper.extract import PageMetadata
from scraper.text import single_line


class SiteRule:
    """The generic behaviour: every override empty. Subclass and set only what differs."""

    hosts: ClassVar[tuple[str, ...]] = ()
    body: ClassVar[str | None] = None
    drop: ClassVar[tuple[str, ...]] = ()
    title: ClassVar[str | None] = None
    published: ClassVar[str | None] = None

    @classmethod
    def drop_xpaths(cls) -> list[str]:
        """``drop`` as XPath expressions (what trafilatura's pruning takes)."""
        from cssselect import GenericTranslator

        translator = GenericTranslator()
        return [translator.css_to_xpath(selector) for selector in cls.drop]

    @classmethod
    def body_tree(cls, tree: HtmlElement) -> HtmlElement | None:
        """A page made of the ``body`` elements only (copies; ``tree`` is not changed),
        or None when the rule has no body selector or the page has no such element."""
        if not cls.body:
            return None
        from copy import deepcopy

        from lxml.html import fromstring

        found = tree.cssselect(cls.body)
        if not found:
            return None
        page: HtmlElement = fromstring("<html><head></head><body></body></html>")
        body = page.find("body")
        assert body is not None
        for element in found:
            body.append(deepcopy(element))
        return page

    @classmethod
    def page_metadata(cls, tree: HtmlElement, metadata: PageMetadata) -> PageMetadata:
        """``metadata`` with what the rule reads instead: its title goes first among the
        headlines, its date first among the page's dates."""
        title = cls.title_text(tree)
        if title:
            metadata = replace(metadata, og_title=title)
        published = cls.published_text(tree)
        if published:
            metadata = replace(metadata, dates=(DateClue(published, "meta"), *metadata.dates))
        return metadata

    @classmethod
    def title_text(cls, tree: HtmlElement) -> str | None:
        return _first_text(tree, cls.title)

    @classmethod
    def published_text(cls, tree: HtmlElement) -> str | None:
        if not cls.published:
            return None
        for element in tree.cssselect(cls.published):
            value = element.get("datetime") or element.get("content") or element.text_content()
            text = single_line(value or "")
            if text:
                return text
        return None


def _first_text(tree: HtmlElement, selector: str | None) -> str | None:
    if not selector:
        return None
    for element in tree.cssselect(selector):
        text = single_line(element.text_content())
        if text:
            return text
    return None


_REGISTRY: dict[str, type[SiteRule]] = {}
Rule = TypeVar("Rule", bound=type[SiteRule])


def site(*hosts: str) -> Callable[[Rule], Rule]:
    """Class decorator: register a rule for ``hosts`` (lower-case host names)."""

    def register(rule: Rule) -> Rule:
        rule.hosts = tuple(h.lower().removeprefix("www.") for h in hosts)
        for host in rule.hosts:
            if host in _REGISTRY and _REGISTRY[host] is not rule:
                raise ValueError(f"two site rules for {host}: {_REGISTRY[host]}, {rule}")
            _REGISTRY[host] = rule
        return rule

    return register


@lru_cache(maxsize=1)
def _load_rules() -> None:
    """Import every module of this package once, so that each registers its rules."""
    for module in pkgutil.iter_modules(__path__):
        importlib.import_module(f"{__name__}.{module.name}")


def rule_for(url: str) -> type[SiteRule] | None:
    """The rule registered for the URL's host or its closest parent domain, if any."""
    _load_rules()
    host = (urlsplit(url).hostname or "").lower().removeprefix("www.")
    labels = host.split(".")
    for start in range(len(labels) - 1):
        rule = _REGISTRY.get(".".join(labels[start:]))
        if rule is not None:
            return rule
    return None
