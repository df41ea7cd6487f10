"""``scraper db identities``: stored rows whose identity the rule before issue 8 got
wrong, and their repair.

Until issue 8 an article's identity came from courlan's normalizer (``legacy_identity``),
which dropped bare query keys and parameters such as ``pk_no``, ``ref`` or ``source``:
``spip.php?article101`` and ``spip.php?article102`` were both stored as ``spip.php``, the
second overwriting the first. What that lost cannot be recovered from the database (the
parameters are gone), but the rows it produced can be found and removed, so that the next
crawl fetches each article again under its own identity (scraper.urls.identity).

A row is judged by its stored URL only, with this rule (documented in docs/schema.md):

* **collapsed**: the URL is one the old rule could have written (it leaves it as it is)
  and either
    - the row and its earlier versions hold more than one title *and* more than one
      publication time: different articles overwrote one another under one URL (an
      article corrected in place keeps its publication time); or
    - its path is a dynamic script (``.php``, ``.asp``, ``.aspx``, ``.jsp``, ``.cgi``,
      ``.do``, ``.pl``; SPIP's ``spip.php`` among them) or the site's root, with no query
      at all: such a URL names a front page, not an article, so the old rule most likely
      dropped the parameters that named it.
  Repair deletes the row (its versions and aliases go with it), its discoveries and its
  record file, and forgets every feed's HTTP validators, so the next crawl reads every
  feed whole. An article that no channel lists any more is not fetched again.
* **re-key**: the new rule gives the stored URL another identity (courlan changed
  something the new rule keeps, e.g. the case of a percent-escape, or kept a tracking key
  the new rule drops). Repair moves the row, its versions, aliases and discoveries to the
  new identity and rewrites its record file under the new id (its ``>URL:`` line too).
* **duplicate**: as re-key, but the new identity is stored already: the row is a second
  copy of that article. Repair deletes it as above.

Rows stored by the new rule are not fixed points of the old one whenever their query
holds what the old rule dropped, so they are never judged collapsed for it. A script URL
without any query is judged collapsed whoever stored it: listing it costs nothing, and
repairing it only fetches that page again. Run the command once after upgrading.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

from scraper.reader import read_document
from scraper.storage.base import Database, StoredIdentity
from scraper.storage.files import FileStore
from scraper.urls import article_id, identity, legacy_identity

log = logging.getLogger(__name__)

# The last path segment of a dynamic page: the article is named by the query, if at all.
DYNAMIC_SCRIPT = re.compile(r"\.(?:php[0-9]?|aspx?|jsp|cgi|do|pl)$", re.IGNORECASE)

ProblemKind = Literal["collapsed", "re-key", "duplicate"]


@dataclass(frozen=True)
class IdentityProblem:
    kind: ProblemKind
    id: str
    url: str
    reason: str
    new_url: str | None = None  # re-key and duplicate: the identity under the new rule

    def describe(self) -> str:
        if self.new_url is not None:
            return f"{self.kind} {self.id} {self.url} -> {article_id(self.new_url)} {self.new_url}"
        return f"{self.kind} {self.id} {self.url} ({self.reason})"


def collapse_reason(row: StoredIdentity) -> str | None:
    """Why the old rule may have collapsed several articles into ``row``; None when
    nothing says so (see the module's docstring)."""
    try:
        if legacy_identity(row.url) != row.url:
            return None  # the old rule would have changed it: it did not write it
    except ValueError:
        return None
    if row.titles > 1 and row.dates > 1:
        return f"{row.titles} titles and {row.dates} publication times under one URL"
    parts = urlsplit(row.url)
    if not parts.query:
        if DYNAMIC_SCRIPT.search(parts.path.rsplit("/", 1)[-1]):
            return "a script URL without its parameters"
        if parts.path == "/":
            return "the site's root URL"
    return None


def find_problems(database: Database) -> list[IdentityProblem]:
    """Every stored row that needs a repair, in id order."""
    rows = list(_judged(database.stored_identities()))
    problems: list[IdentityProblem] = []
    rekeyed = [p for p in rows if p.kind == "re-key"]
    taken = database.content_hashes(article_id(p.new_url or "") for p in rekeyed)
    claimed: set[str] = set()  # new identities an earlier row of this list moves to
    for problem in rows:
        if problem.kind == "re-key":
            new_id = article_id(problem.new_url or "")
            if new_id in taken:
                problem = replace(problem, kind="duplicate", reason="its new identity is stored")
            elif new_id in claimed:
                # Two old rows, one new identity: the first moves there, the second is
                # a copy of it (moved too, it would overwrite the first's new file).
                reason = "its new identity is another row's too"
                problem = replace(problem, kind="duplicate", reason=reason)
            claimed.add(new_id)
        problems.append(problem)
    return problems


def _judged(rows: Iterator[StoredIdentity]) -> Iterator[IdentityProblem]:
    for row in rows:
        try:
            new_url = identity(row.url)
        except ValueError:
            continue  # not an http(s) URL: nothing this command can say about it
        if new_url != row.url:
            yield IdentityProblem("re-key", row.id, row.url, "new identity rule", new_url)
        elif (reason := collapse_reason(row)) is not None:
            yield IdentityProblem("collapsed", row.id, row.url, reason)


@dataclass
class RepairResult:
    deleted: int = 0
    rekeyed: int = 0
    failed: list[str] = field(default_factory=list)  # "<id>: reason", rows left as they were


def repair(database: Database, output_dir: Path, problems: list[IdentityProblem]) -> RepairResult:
    """Fix ``problems`` (see the module's docstring). Database errors propagate; a record
    file that cannot be read or written leaves its row as it was (listed in ``failed``)."""
    files = FileStore(output_dir)
    result = RepairResult()
    doomed = [p for p in problems if p.kind in ("collapsed", "duplicate")]
    if doomed:
        paths = [files.path_of(p.id) for p in doomed]
        result.deleted = database.forget_articles([p.id for p in doomed])
        for path in paths:
            if path is not None:
                path.unlink(missing_ok=True)
    for problem in problems:
        if problem.kind == "re-key" and problem.new_url is not None:
            reason = _rekey(database, files, problem.id, problem.new_url)
            if reason is None:
                result.rekeyed += 1
            else:
                result.failed.append(f"{problem.id}: {reason}")
    return result


def _rekey(database: Database, files: FileStore, old_id: str, new_url: str) -> str | None:
    """Rewrite the record file of ``old_id`` under ``new_url`` and move its row; the
    reason when the file stands in the way (the row then stays as it was)."""
    old_path = files.path_of(old_id)
    if old_path is None:
        return "no record file"
    try:
        document = read_document(old_path)
    except (OSError, ValueError) as exc:
        return f"record file unreadable ({exc})"
    try:
        written = files.write(replace(document, url=new_url))
    except OSError as exc:
        return f"record file not written ({exc.strerror or exc})"
    try:
        database.rekey_article(old_id, new_url, written.relative_path, written.content_hash)
    except BaseException:
        if written.status == "new":  # else the file is another row's (stored meanwhile)
            written.path.unlink(missing_ok=True)
        raise
    old_path.unlink(missing_ok=True)
    return None
