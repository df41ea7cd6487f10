"""jusText's paragraphs with less work and the same result (issue 9).

trafilatura falls back to jusText on short or unclean extractions and in its recall
retry (~1 ms a page on average over the dev corpus). Three of jusText's steps repeat
work:

- **A paragraph's text** (``Paragraph.text``) is a property that joins the paragraph's
  text nodes, strips them and normalizes their whitespace each time it is read, and
  jusText's classification reads it five or six times per paragraph (its length, its
  words twice, its stopwords, its link density). The text only changes when a node is
  appended (``append_text``, the only writer), so it is kept with the number of nodes
  it was made from and made again only when that number moved.
- **Whitespace normalization** (``normalize_whitespace``: each run of whitespace
  becomes one line feed when it holds a line feed or a carriage return, else one
  space) calls a Python function for every run. Two substitutions with fixed
  replacements do the same in C: runs holding a line break become a line feed (the
  run is matched whole: from its first character, ``\\s*`` reaches its last break and
  the rest of it), then the remaining runs of other whitespace become a space; a lone
  space, already what it would become, is left alone.
- **The path of each paragraph.** Each paragraph jusText starts (~700 on a page: every
  block element starts one) records its XPath ("/html[1]/body[1]/div[2]") and DOM path
  ("html.body.div"), each made by formatting every element of the current path again.
  Each element appended to the path now keeps both strings up to itself, so reading
  them is a lookup.

``scraper.trafilatura_speedups.install`` puts them in place (and ``suspended`` takes
them out); tests/unit/test_justext_speedups.py checks the normalization against
jusText's own on generated text and the paragraphs on real pages.
"""

from __future__ import annotations

import re
from typing import Any

# A whole run of whitespace holding at least one line break.
_RUN_WITH_BREAK = re.compile(r"\s*[\n\r]\s*")
# A run of whitespace without line breaks, except a lone space (unchanged anyway).
_RUN_TO_SPACE = re.compile(r"[^\S\n\r]{2,}|[^\S \n\r]")


def normalize_whitespace(text: str) -> str:
    """jusText's ``normalize_whitespace``, without a Python call per run."""
    has_break = "\n" in text or "\r" in text
    if text.isspace():  # most text nodes between two tags: one run
        return "\n" if has_break else " "
    if has_break:
        text = _RUN_WITH_BREAK.sub("\n", text)
    return _RUN_TO_SPACE.sub(" ", text)


def paragraph_text(paragraph: Any) -> str:
    """``Paragraph.text``, made again only after a text node was appended."""
    nodes = paragraph.text_nodes
    kept = paragraph.__dict__.get("_scraper_text")
    if kept is not None and kept[0] == len(nodes):
        return str(kept[1])
    text = normalize_whitespace("".join(nodes).strip())
    paragraph._scraper_text = (len(nodes), text)
    return text


def path_append(path: Any, tag_name: str) -> Any:
    """``PathInfo.append``, each element of the path also holding the path's XPath and
    DOM path up to it: jusText reads both for every paragraph it starts (~700 a page),
    and made each by formatting every element of the path again."""
    elements = path._elements
    children = elements[-1][2] if elements else {}
    order = children.get(tag_name, 0) + 1
    children[tag_name] = order
    if elements:
        xpath, dom = f"{elements[-1][3]}/{tag_name}[{order}]", f"{elements[-1][4]}.{tag_name}"
    else:
        xpath, dom = f"/{tag_name}[{order}]", tag_name
    elements.append((tag_name, order, {}, xpath, dom))
    return path


def path_xpath(path: Any) -> str:
    """``PathInfo.xpath``: "/html[1]/body[1]/div[2]"."""
    elements = path._elements
    return str(elements[-1][3]) if elements else "/"


def path_dom(path: Any) -> str:
    """``PathInfo.dom``: "html.body.div"."""
    elements = path._elements
    return str(elements[-1][4]) if elements else ""


def shapes_known(paragraph_module: Any, core_module: Any) -> bool:
    """Whether jusText's paragraph module has the shape these replace."""
    paragraph = getattr(paragraph_module, "Paragraph", None)
    path = getattr(core_module, "PathInfo", None)
    return (
        callable(getattr(paragraph_module, "normalize_whitespace", None))
        and isinstance(getattr(paragraph, "text", None), property)
        and callable(getattr(paragraph, "append_text", None))
        and callable(getattr(path, "append", None))
        and callable(getattr(path, "_get_children", None))
        and isinstance(getattr(path, "xpath", None), property)
        and isinstance(getattr(path, "dom", None), property)
    )
