"""Imported once by the extraction workers' fork server (scraper.workers), before it
forks any worker: the heavy imports and the language model are loaded there, and every
worker forked from it shares them (copy-on-write) instead of loading its own copy.

Importing this module is what does it (``multiprocessing`` preloads modules by name).
"""

from __future__ import annotations

import gc

from scraper.normalize import warm_up

warm_up()
# What is loaded now lives as long as the server: kept out of the garbage collector's
# sight, so that its passes do not write to (and so copy) the pages workers share.
gc.freeze()
