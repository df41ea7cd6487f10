"""py3langid's language model, loaded from an uncompressed copy in the user's cache.

The published model is an LZMA-compressed archive: decompressing its 68 MB costs
~0.4 s of CPU each time an extraction fork server starts (once per crawl), more than
any other step of the server's start. The first load writes the tables, uncompressed,
to ``$XDG_CACHE_HOME/scraper/`` (``~/.cache/scraper/``), in a folder named after the
published model's digest, so an upgraded model never meets a stale copy. Later loads
map the two large tables from there: nothing to decompress or copy, and a process holds
in memory only the pages of the tables its guesses touch (the mapped pages are shared
with every other process mapping them, as the fork server's workers do).

The values are the published model's, so every guess, and its confidence, is too. When
the cache cannot be read or written (a read-only home, a full disk), the published
model is loaded as before.
"""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
from array import array
from collections.abc import Callable
from pathlib import Path
from typing import Any, BinaryIO, NamedTuple

import numpy as np
from py3langid.langid import MODEL_DIR, MODEL_FILE, LanguageIdentifier
from py3langid.modelio import load_model

logger = logging.getLogger(__name__)

_PTC = "ptc.npy"  # feature x language log-probabilities: 28 MB
_NEXTMOVE = "nextmove.npy"  # the tokenizer automaton's distinct rows: 39 MB
_SMALL = "tables.npz"  # language priors, labels, row of each state, output of each state


class ModelTables(NamedTuple):
    ptc: Any  # numpy array, float16, (features, languages)
    pc: Any  # numpy array, float32, (languages,)
    classes: list[str]
    nextmove: Any  # a sequence of ints indexed by row * 256 + byte
    nextmove_row: Any  # numpy array: the row of each state
    out_feat: Any  # numpy array: the feature each state emits, -1 for none


def published_model() -> Path:
    return Path(MODEL_DIR) / str(MODEL_FILE)


def cache_root() -> Path | None:
    """``$XDG_CACHE_HOME/scraper``, else ``~/.cache/scraper``; None without a home."""
    base = os.environ.get("XDG_CACHE_HOME", "")
    if not os.path.isabs(base):
        home = os.path.expanduser("~")
        if not os.path.isabs(home):
            return None
        base = os.path.join(home, ".cache")
    return Path(base) / "scraper"


def cache_folder(model: Path, root: Path) -> Path:
    digest = hashlib.blake2b(model.read_bytes(), digest_size=10).hexdigest()
    return root / f"py3langid-{digest}"


def load_identifier(root: Path | None = None) -> LanguageIdentifier:
    """py3langid's identifier with normalized probabilities, its tables from the cache
    under ``root`` (default: ``cache_root()``), which the first call fills."""
    model = published_model()
    root = root if root is not None else cache_root()
    folder = cache_folder(model, root) if root is not None else None
    # Whether a copy was there before reading it: if it then proves unusable, it is
    # damaged and replaced; one that appears meanwhile is another process's, and stays.
    existed = folder is not None and folder.is_dir()
    tables = read_cached(folder) if folder is not None and existed else None
    if tables is None:
        tables = read_published(model)
        if folder is not None:
            write_cached(folder, tables, replace=existed)
    return identifier_from(tables)


def read_published(model: Path) -> ModelTables:
    ptc, pc, classes, nextmove, nextmove_row, out_feat = load_model(model)
    return ModelTables(
        np.asarray(ptc),
        np.asarray(pc),
        list(classes),
        nextmove,
        np.frombuffer(nextmove_row, dtype=f"u{nextmove_row.itemsize}"),
        np.asarray(out_feat, dtype=np.int32),
    )


def read_cached(folder: Path) -> ModelTables | None:
    """The tables from ``folder`` (which ``load_identifier`` found there), the two large
    ones mapped read-only; None when its files are missing, unreadable or do not fit
    together."""
    try:
        ptc = np.load(folder / _PTC, mmap_mode="r", allow_pickle=False)
        nextmove = np.load(folder / _NEXTMOVE, mmap_mode="r", allow_pickle=False)
        with np.load(folder / _SMALL, allow_pickle=False) as small:
            pc, classes = small["pc"], small["classes"].tolist()
            nextmove_row, out_feat = small["nextmove_row"], small["out_feat"]
    except (OSError, ValueError, KeyError) as error:
        logger.warning(
            "language model cache %s unusable (%s): loading the published model", folder, error
        )
        return None
    # Plain arrays over the mapped memory: indexing a memmap would build a memmap object.
    tables = ModelTables(
        np.asarray(ptc), pc, classes, np.asarray(nextmove).data, nextmove_row, out_feat
    )
    if not _consistent(tables):
        logger.warning("language model cache %s unusable (tables that do not fit together)", folder)
        return None
    return tables


def _consistent(tables: ModelTables) -> bool:
    """Shapes that fit together (what a truncated or foreign file would break); the
    values themselves are checked by the folder's name, the published model's digest."""
    features, languages = tables.ptc.shape if tables.ptc.ndim == 2 else (0, 0)
    return (
        languages == len(tables.pc) == len(tables.classes)
        and len(tables.nextmove_row) == len(tables.out_feat) > 0
        and len(tables.nextmove) % 256 == 0
        and int(tables.nextmove_row.max()) * 256 < len(tables.nextmove)
        and int(tables.out_feat.max()) < features
    )


def write_cached(folder: Path, tables: ModelTables, replace: bool = False) -> None:
    """Written into a private folder, then renamed into place: a reader finds all of
    the files or none. With ``replace`` (the copy there is damaged) the folder there is
    set aside first; without it, a folder another process has just put there stays.
    A failure only costs the next start another decompression."""
    temp = folder.with_name(f".{folder.name}.{os.getpid()}.tmp")
    damaged = folder.with_name(f".{folder.name}.{os.getpid()}.damaged")
    try:
        temp.mkdir(parents=True, exist_ok=True)
        nextmove = np.frombuffer(tables.nextmove, dtype=f"u{tables.nextmove.itemsize}")
        write_synced(temp / _PTC, lambda f: np.save(f, tables.ptc, allow_pickle=False))
        write_synced(temp / _NEXTMOVE, lambda f: np.save(f, nextmove, allow_pickle=False))
        small = {
            "pc": tables.pc,
            "classes": np.array(tables.classes),
            "nextmove_row": tables.nextmove_row,
            "out_feat": tables.out_feat,
        }
        write_synced(temp / _SMALL, lambda f: np.savez(f, **small))
        if replace:
            folder.rename(damaged)
        os.rename(temp, folder)
    except OSError as error:  # read-only home, full disk, another process was first
        if not folder.is_dir():
            logger.info("language model not cached in %s: %s", folder, error)
    finally:
        # Processes that mapped the damaged copy keep its files until they exit.
        for leftover in (temp, damaged):
            shutil.rmtree(leftover, ignore_errors=True)


def write_synced(path: Path, write: Callable[[BinaryIO], object]) -> None:
    """``write`` into a new file at ``path``, on disk before this returns."""
    with open(path, "wb") as file:
        write(file)
        file.flush()
        os.fsync(file.fileno())


def identifier_from(tables: ModelTables) -> LanguageIdentifier:
    identifier = LanguageIdentifier(
        tables.ptc,
        tables.pc,
        tables.classes,
        tables.nextmove,
        None,
        norm_probs=True,
        tk_row=tables.nextmove_row.tolist(),
    )
    # The tokenizer's tables of states (104,583 entries each) as machine integers, not
    # lists of Python ints: each lookup would write an int's reference count, so every
    # extraction worker, which shares the model with its fork server, would end up
    # copying the pages of those ints (~6 MB) into memory of its own.
    identifier._rowbase = array("q", identifier._rowbase)
    identifier.tk_output = array("q", tables.out_feat.tolist())
    return identifier
