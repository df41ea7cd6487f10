"""The pending journal (.db-pending.jsonl) is read only after each line is checked: a bad
line is skipped with its reason and its path is never followed."""

from __future__ import annotations

import json
import logging
import os
from datetime import UTC, datetime
from pathlib import Path

import pytest

from scraper.document import Document
from scraper.storage.base import ArticleRecord
from scraper.storage.files import FileStore
from scraper.storage.sqlite import SQLiteDatabase
from scraper.storage.sync import (
    MAX_LINE_BYTES,
    load_pending,
    note_pending,
    pending_path,
    read_pending,
    sync_pending,
)


def make(n: int) -> Document:
    return Document(
        title=f"Article {n}",
        published=datetime(2024, 5, 2, 9, 30, tzinfo=UTC),
        type="Notícias",
        url=f"https://news.example.org/article-{n}",
        source_name="Example News",
        source_url="https://news.example.org",
        language="en",
        aggregator="RSS",
        content=f"Body of article {n}.\n\nSecond paragraph.",
    )


def line(article: str, source: str, file: str) -> str:
    return json.dumps({"id": article, "source_id": source, "file": file})


def write_journal(root: Path, *lines: str) -> None:
    pending_path(root).write_text("".join(f"{text}\n" for text in lines), encoding="utf-8")


@pytest.fixture
def root(tmp_path: Path) -> Path:
    return tmp_path / "articles"


def test_only_the_good_line_is_used(
    root: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    store = FileStore(root)
    good, other = store.write(make(1)), store.write(make(2))
    other_id = make(2).id
    # A record-shaped file outside the output folder, for the bad lines to point at.
    outside = tmp_path / "outside" / "2024-05-02"
    outside.mkdir(parents=True)
    (outside / f"001_{other_id}.txt").write_text("not yours", encoding="utf-8")
    write_journal(
        root,
        line(other_id, "traversal", f"../outside/2024-05-02/001_{other_id}.txt"),
        line(other_id, "dotdot", f"2024-05-02/../../outside/2024-05-02/001_{other_id}.txt"),
        line(other_id, "absolute", str(outside / f"001_{other_id}.txt")),
        "{garbage, not json",
        line(make(1).id, "good-source", good.relative_path),
    )

    with caplog.at_level(logging.WARNING, logger="scraper.storage.sync"):
        journal = load_pending(root)
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]

    assert read_pending(root) == {make(1).id: "good-source"}
    assert [(e.id, e.source_id, e.file) for e in journal.entries] == [
        (make(1).id, "good-source", good.path.resolve())
    ]
    assert journal.skipped == [
        "line 1: file: '..' in the path",
        "line 2: file: '..' in the path",
        "line 3: file: absolute path",
        "line 4: not JSON",
    ]
    assert len(warnings) == 4 and all("\n" not in message for message in warnings)
    assert other.path.exists()


def test_sync_takes_the_source_from_good_lines_only(root: Path, tmp_path: Path) -> None:
    store = FileStore(root)
    first, second = store.write(make(1)), store.write(make(2))
    write_journal(
        root,
        # Names the second article, but by a path out of the folder: not believed.
        line(make(2).id, "forged", f"../{second.relative_path}"),
        line(make(1).id, "noted", first.relative_path),
    )
    db = SQLiteDatabase(tmp_path / "scraper.db")
    db.migrate()
    try:
        assert sync_pending(db, store) == 2
        rows = {row["id"]: row["source_id"] for row in db.articles_since()}
    finally:
        db.close()

    assert rows == {make(1).id: "noted", make(2).id: ""}
    assert not pending_path(root).exists()


def test_symlinks_out_of_the_output_folder_are_refused(root: Path, tmp_path: Path) -> None:
    store = FileStore(root)
    good = store.write(make(1))
    target = make(2).id
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / f"001_{target}.txt").write_text("secret", encoding="utf-8")
    # A date folder that is a symlink out of the root, and a record file that is one.
    (root / "2024-06-01").symlink_to(elsewhere, target_is_directory=True)
    (root / "2024-05-02" / f"009_{target}.txt").symlink_to(elsewhere / f"001_{target}.txt")
    write_journal(
        root,
        line(target, "linked-folder", f"2024-06-01/001_{target}.txt"),
        line(target, "linked-file", f"2024-05-02/009_{target}.txt"),
        line(make(1).id, "good", good.relative_path),
    )

    journal = load_pending(root)

    assert journal.sources == {make(1).id: "good"}
    assert journal.skipped == [
        "line 1: file: leads out of the output folder (symlink)",
        "line 2: file: leads out of the output folder (symlink)",
    ]


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("[1, 2]", "not a JSON object"),
        ('{"id": "0123456789abcdef", "source_id": "s"}', "expected the keys"),
        (line("0123456789ABCDEF", "s", "2024-05-02/001_0123456789ABCDEF.txt"), "id: not an"),
        (line("0123456789abcdef", "Bad Source", "2024-05-02/001_0123456789abcdef.txt"), "source"),
        (line("0123456789abcdef", "s", "2024-05-02/001_fedcba9876543210.txt"), "another article"),
        (line("0123456789abcdef", "s", "notes/001_0123456789abcdef.txt"), "not <YYYY-MM-DD>"),
        (line("0123456789abcdef", "s", "2024-05-02/001_0123456789abcdef.txt"), "no such record"),
        (json.dumps({"id": "0123456789abcdef", "source_id": "s", "file": 7}), "not a string"),
    ],
)
def test_each_malformed_line_is_skipped_with_its_reason(root: Path, text: str, reason: str) -> None:
    root.mkdir()
    write_journal(root, text)

    journal = load_pending(root)

    assert journal.entries == []
    assert len(journal.skipped) == 1 and reason in journal.skipped[0], journal.skipped


def test_an_overlong_line_is_skipped_without_losing_the_next(root: Path) -> None:
    good = FileStore(root).write(make(1))
    write_journal(root, "x" * (MAX_LINE_BYTES * 3), line(make(1).id, "good", good.relative_path))

    journal = load_pending(root)

    assert journal.sources == {make(1).id: "good"}
    assert journal.skipped == [f"line 1: longer than {MAX_LINE_BYTES} bytes"]


def test_a_journal_that_is_a_symlink_is_not_read(root: Path, tmp_path: Path) -> None:
    good = FileStore(root).write(make(1))
    decoy = tmp_path / "decoy.jsonl"
    decoy.write_text(line(make(1).id, "decoy", good.relative_path) + "\n", encoding="utf-8")
    pending_path(root).symlink_to(decoy)

    journal = load_pending(root)

    assert journal.entries == [] and journal.skipped == ["journal: a symlink"]


def test_what_note_pending_writes_reads_back(root: Path) -> None:
    store = FileStore(root)
    written = store.write(make(1))
    note_pending(root, [ArticleRecord(make(1), "city", written.relative_path, "")])

    assert read_pending(root) == {make(1).id: "city"}
    assert load_pending(root).skipped == []
    assert os.path.getsize(pending_path(root)) > 0
