"""jusText's stop lists as trafilatura hands them over, read from a copy in the user's cache.

When a page's language is unknown, trafilatura gives jusText (its second fallback) the
stopwords of all of jusText's languages: ~154,000 words read from 100 files, decoded,
lower-cased and deduplicated in Python, 0.08 s of CPU each time an extraction fork
server starts (every crawl, every daemon job). The union is written once to the user's
cache folder (``scraper.language_model.cache_root``: ``$XDG_CACHE_HOME/scraper/``), one
word a line under a line that counts them, in a file named after a digest of the stop
lists and of the versions of jusText and trafilatura it was made with, so an upgrade
never meets a stale copy. Later starts read it in ~0.03 s.

A copy whose count does not match its words, or whose last line is cut short, is
rebuilt; a cache that cannot be written costs the next start the gathering again,
nothing else.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib
import logging
import os
from collections.abc import Callable, Iterable
from pathlib import Path

from scraper.language_model import cache_root, write_synced

logger = logging.getLogger(__name__)

_PREFIX = "justext-stoplists-"
_COUNT = "# words: "


def all_stopwords(gather: Callable[[], Iterable[str]], root: Path | None = None) -> frozenset[str]:
    """The words ``gather`` returns (trafilatura's ``jt_stoplist_init``), from the copy
    in the cache under ``root`` (default: ``cache_root()``), which the first call writes."""
    root = root if root is not None else cache_root()
    path = cached_path(root) if root is not None else None
    words = read_cached(path) if path is not None else None
    if words is None:
        words = frozenset(gather())
        if path is not None:
            write_cached(path, words)
    return words


def cached_path(root: Path) -> Path | None:
    """Where the copy made from the installed stop lists lives; None when they cannot be
    read (then nothing is cached)."""
    digest = hashlib.blake2b(digest_size=10)
    try:
        justext, trafilatura = map(importlib.import_module, ("justext", "trafilatura"))
        for module in (justext, trafilatura):
            digest.update(f"{module.__name__} {getattr(module, '__version__', '?')}\n".encode())
        folder = Path(str(justext.__file__)).parent / "stoplists"
        for path in sorted(folder.glob("*.txt")):
            digest.update(f"{path.name} {path.stat().st_size}\n".encode())
            digest.update(path.read_bytes())
    except (ImportError, OSError) as error:
        logger.info("jusText's stop lists not cached: %s", error)
        return None
    return root / f"{_PREFIX}{digest.hexdigest()}.txt"


def read_cached(path: Path) -> frozenset[str] | None:
    """The words of the copy at ``path``; None when there is none or it is damaged."""
    try:
        text = path.read_bytes().decode("utf-8")
    except (FileNotFoundError, NotADirectoryError):  # not written yet, or cannot be
        return None
    except (OSError, UnicodeDecodeError) as error:
        logger.warning("stop list cache %s unusable (%s): gathering them again", path, error)
        return None
    header, _, body = text.partition("\n")
    *words, after_last = body.split("\n")  # each word ends with a line break
    if header != f"{_COUNT}{len(words)}" or after_last:
        logger.warning("stop list cache %s unusable (cut short or changed)", path)
        return None
    return frozenset(words)


def write_cached(path: Path, words: frozenset[str]) -> None:
    """Written under a private name, then renamed into place: a reader finds the whole
    file or none (a copy another process wrote meanwhile holds the same words)."""
    # Words come from lines: none holds a line break, so the file splits back into them.
    ordered = sorted(words)
    text = f"{_COUNT}{len(ordered)}\n" + "".join(f"{word}\n" for word in ordered)
    temp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        write_synced(temp, lambda file: file.write(text.encode("utf-8")))
        os.replace(temp, path)
    except OSError as error:  # read-only home, full disk
        logger.info("jusText's stop lists not cached in %s: %s", path.parent, error)
    finally:
        with contextlib.suppress(OSError):
            temp.unlink(missing_ok=True)
