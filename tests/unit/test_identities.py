"""``scraper db identities``: rows the identity rule before issue 8 collapsed are found
and, with --repair, removed (or moved to their new identity), on an embedded database."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from typer.testing import CliRunner

from scraper.cli_db import db_app
from scraper.document import Document
from scraper.identities import collapse_reason, find_problems, repair
from scraper.reader import read_document
from scraper.storage.base import AliasRecord, ArticleRecord, FeedValidators, StoredIdentity
from scraper.storage.files import FileStore
from scraper.storage.sqlite import SQLiteDatabase
from scraper.urls import article_id

runner = CliRunner()
ZONE = ZoneInfo("America/Sao_Paulo")
T0 = datetime(2024, 3, 1, 10, 0, tzinfo=ZONE)


def doc(url: str, title: str, hours: int = 0) -> Document:
    return Document(
        title=title,
        published=T0 + timedelta(hours=hours),
        type="Notícias",
        url=url,
        source_name="Example Gov",
        source_url="https://x.gov",
        language="en",
        aggregator="RSS",
        content=f"{title}: the first paragraph of this article.\n\nA second one.",
    )


class Store:
    """Record files and an SQLite database, written as a crawl writes them."""

    def __init__(self, root: Path) -> None:
        self.output = root / "articles"
        self.files = FileStore(self.output)
        self.db = SQLiteDatabase(root / "data" / "scraper.db")
        self.db.migrate()

    def store(self, document: Document) -> None:
        written = self.files.write(document)
        record = ArticleRecord(document, "x", written.relative_path, written.content_hash)
        self.db.save_articles([record])

    def ids(self) -> set[str]:
        return {row.id for row in self.db.stored_identities()}


@pytest.fixture
def store(tmp_path: Path) -> Store:
    return Store(tmp_path)


# Rows as the old rule stored them, and as the new one does.
COLLAPSED_BY_VERSIONS = "https://x.gov/show"  # show?source=4001, then ?source=4002
SCRIPT = "https://x.gov/spip.php"  # spip.php?article101
ROOT = "https://x.gov/"  # /?article103
CORRECTED = "https://x.gov/en/news/a-1"  # one article, its title corrected
NEW_RULE = "https://x.gov/spip.php?article102"  # stored by the new rule
WITH_QUERY = "https://x.gov/news.php?id=5"  # a script that kept its parameter
REKEY = "https://x.gov/a%2fb"  # the new rule writes "%2F"
DUPLICATE = "https://x.gov/c%2fd"  # ... and "c%2Fd" is stored as well


def fill(store: Store) -> None:
    store.store(doc(COLLAPSED_BY_VERSIONS, "Budget approved", 0))
    store.store(doc(COLLAPSED_BY_VERSIONS, "Bridge opened", 5))  # overwrote the budget
    store.store(doc(SCRIPT, "SPIP article"))
    store.store(doc(ROOT, "Root article"))
    store.store(doc(CORRECTED, "Ferry resumes"))
    store.store(doc(CORRECTED, "Ferry service resumes"))  # same publication time
    store.store(doc(NEW_RULE, "Another SPIP article"))
    store.store(doc(WITH_QUERY, "News five"))
    store.store(doc(REKEY, "Slash article"))
    store.store(doc(DUPLICATE, "Twice stored"))
    store.store(doc("https://x.gov/c%2Fd", "Twice stored"))


def test_collapse_reasons() -> None:
    def row(url: str, titles: int = 1, dates: int = 1) -> StoredIdentity:
        return StoredIdentity(article_id(url), url, "f", titles, dates)

    assert collapse_reason(row("https://x.gov/show", 2, 2)) is not None
    assert collapse_reason(row("https://x.gov/show", 2, 1)) is None  # a correction
    for script in ("spip.php", "mnews.asp", "a.aspx", "b.jsp", "c.cgi", "d.do", "e.PHP"):
        assert collapse_reason(row(f"https://x.gov/{script}")) is not None, script
    assert collapse_reason(row("https://x.gov/")) is not None
    assert collapse_reason(row("https://x.gov/news.php?id=5")) is None
    assert collapse_reason(row("https://x.gov/news/php")) is None
    # Not what the old rule would write: never judged collapsed.
    assert collapse_reason(row("https://x.gov/spip.php?article101", 3, 3)) is None


def test_find_problems(store: Store) -> None:
    fill(store)
    problems = {p.url: p for p in find_problems(store.db)}
    assert {url: p.kind for url, p in problems.items()} == {
        COLLAPSED_BY_VERSIONS: "collapsed",
        SCRIPT: "collapsed",
        ROOT: "collapsed",
        REKEY: "re-key",
        DUPLICATE: "duplicate",
    }
    assert problems[REKEY].new_url == "https://x.gov/a%2Fb"
    assert "2 titles and 2 publication times" in problems[COLLAPSED_BY_VERSIONS].describe()


def test_repair_deletes_collapsed_rows_and_rekeys_the_others(store: Store) -> None:
    fill(store)
    store.db.save_aliases([AliasRecord("https://x.gov/a%2fb?print", article_id(REKEY), T0)])
    store.db.save_feed_validators(FeedValidators("https://x.gov/rss", '"v1"', None))
    problems = find_problems(store.db)

    result = repair(store.db, store.output, problems)

    assert (result.deleted, result.rekeyed, result.failed) == (4, 1, [])
    new_id = article_id("https://x.gov/a%2Fb")
    kept = {CORRECTED, NEW_RULE, WITH_QUERY, "https://x.gov/c%2Fd"}
    assert store.ids() == {article_id(u) for u in kept} | {new_id}
    files = {p.name.split("_")[1][:16]: p for p in store.output.rglob("*.txt")}
    assert set(files) == store.ids()  # every deleted row's file went with it
    moved = read_document(files[new_id])
    assert (moved.url, moved.title) == ("https://x.gov/a%2Fb", "Slash article")
    assert store.db.aliases() == {"https://x.gov/a%2fb?print": new_id}
    # Every feed is read whole again, so the next crawl finds the lost articles.
    assert store.db.feed_validators("https://x.gov/rss") is None
    assert find_problems(store.db) == []  # nothing left to repair


def test_two_rows_that_move_to_one_new_identity_keep_one_article_and_its_file(
    store: Store,
) -> None:
    # Both were listed "re-key": the second move overwrote the first's new record file,
    # then failed on the database's unique id and deleted that file on its way out.
    store.store(doc("https://x.gov/e%2ff", "Moved once"))
    store.store(doc("https://x.gov/e%2ff?utm_source=x", "Moved once, with a tracker"))
    problems = find_problems(store.db)
    assert sorted(p.kind for p in problems) == ["duplicate", "re-key"]

    result = repair(store.db, store.output, problems)

    new_id = article_id("https://x.gov/e%2Ff")
    assert (result.deleted, result.rekeyed, result.failed) == (1, 1, [])
    assert store.ids() == {new_id}
    [kept] = store.output.rglob("*.txt")
    assert new_id in kept.name
    assert read_document(kept).url == "https://x.gov/e%2Ff"
    assert find_problems(store.db) == []


def test_db_identities_command(store: Store, tmp_path: Path) -> None:
    fill(store)
    config = tmp_path / "config"
    config.mkdir()
    (config / "settings.yaml").write_text(
        f"output_dir: {store.output}\nsqlite_path: {tmp_path / 'data' / 'scraper.db'}\n",
        encoding="utf-8",
    )

    listed = runner.invoke(db_app, ["identities", "--config", str(config)])
    assert listed.exit_code == 0, listed.output
    lines = listed.stdout.splitlines()
    assert len(lines) == 6
    assert f"collapsed {article_id(SCRIPT)} {SCRIPT} (a script URL" in listed.stdout
    assert f"re-key {article_id(REKEY)} {REKEY} -> " in listed.stdout
    assert lines[-1] == "5 rows to repair; run with --repair to fix them"
    assert len(store.ids()) == 9  # listing changes nothing

    repaired = runner.invoke(db_app, ["identities", "--config", str(config), "--repair"])
    assert repaired.exit_code == 0, repaired.output
    assert repaired.stdout.splitlines()[-1] == (
        "repaired 5 rows: 4 deleted (fetched again by the next crawl), 1 re-keyed"
    )
    again = runner.invoke(db_app, ["identities", "--config", str(config)])
    assert again.stdout == "0 rows to repair\n"
