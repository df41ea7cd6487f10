"""Imported once by the extraction workers' fork server (scraper.workers), before it
forks any worker: the heavy imports and the language model are loaded there, and every
worker forked from it shares them (copy-on-write) instead of loading its own copy.

Importing this module is what does it (``multiprocessing`` preloads modules by name).
"""

from __future__ import annotations

import gc
import importlib
from collections.abc import Mapping
from multiprocessing import spawn
from typing import Any

from scraper.memory import trim_heap
from scraper.normalize import warm_up

_prepare = spawn.prepare


def _prepare_without_main(data: Mapping[str, Any]) -> None:
    """``multiprocessing`` runs the parent's main script again in every new worker (as
    ``__mp_main__``), for pickles that name its functions. The crawl's main script is the
    ``scraper`` command: that would import the whole command line, Scrapy and Twisted
    into every worker (~35 MB of its own and ~0.5 s of CPU each time a worker starts).
    Workers only run top-level functions of importable modules (``scraper.workers``),
    so the forked workers skip it."""
    _prepare({k: v for k, v in data.items() if not k.startswith("init_main_from_")})


def _load_justext_stoplists() -> None:
    """jusText (trafilatura's second fallback) makes its lower-cased set of the
    stopwords of all its languages (~150,000 words, 33 MB with the words themselves,
    0.035 s of CPU once the words are read from the cache: ``scraper.stoplists``) the
    first time a page without a known language falls back to it: done here, once, every
    worker shares it instead of building its own after each start."""
    try:
        justext = importlib.import_module("justext.core")
        external = importlib.import_module("trafilatura.external")
    except ImportError:  # pragma: no cover - dependencies of trafilatura
        return
    init = getattr(external, "jt_stoplist_init", None)
    define = getattr(justext, "define_stoplist", None)
    if callable(init) and callable(define):  # else trafilatura changed: nothing to share
        define(getattr(external, "JT_STOPLIST", None) or init())


# Read by each worker the fork server forks (spawned workers are unaffected).
spawn.prepare = _prepare_without_main

warm_up()
_load_justext_stoplists()
# What is loaded now lives as long as the server: kept out of the garbage collector's
# sight, so that its passes do not write to (and so copy) the pages workers share.
gc.freeze()
# The loading's temporary objects (the stop-list files, the warm-up page) left ~3 MB of
# free heap that every worker would inherit: given back before the first fork.
trim_heap()
