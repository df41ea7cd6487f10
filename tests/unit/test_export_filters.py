"""`scraper export` (issue 11): --since/--until on publication time, --stored-since as the
consumer's cursor, --language, --limit, CSV, an unknown source refused; from the embedded
database and from the files (PostgreSQL: tests/integration and tests/e2e)."""

from __future__ import annotations

import csv
import io
import json
import os
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from typer.testing import CliRunner

from scraper.cli_db import parse_until
from scraper.document import Document
from scraper.export import COLUMNS, ExportFilters, export
from scraper.storage.sqlite import SQLiteDatabase
from tests.unit.test_reader_export import (
    SAO_PAULO,
    config,  # noqa: F401  (a fixture)
    export_app,
    make,
    store_all,
    write_all,
)

runner = CliRunner()
# make(n) is published at DAY + 7n hours: 2023-12-06 05:00, 12:00, 19:00, 12-07 02:00 ...


def ids(output: str) -> list[str]:
    return [json.loads(line)["id"] for line in output.splitlines()]


@pytest.fixture
def stored(config: Path, tmp_path: Path) -> list[Document]:  # noqa: F811
    """Five articles in the embedded database (and their files); number 3 in Portuguese."""
    docs = [make(n) for n in range(5)]
    docs[3] = make(3, language="pt")
    db = SQLiteDatabase(tmp_path / "data" / "scraper.db")
    db.migrate()
    store_all(db, tmp_path / "articles", docs, source="president-gov-ua")
    db.close()
    return docs


def invoke(config: Path, *args: str) -> tuple[int, str, str]:  # noqa: F811
    result = runner.invoke(export_app(), ["--config", str(config), *args])
    return result.exit_code, result.stdout, result.stderr


@pytest.mark.parametrize("from_files", [False, True])
def test_since_and_until_filter_on_publication_time(
    config: Path,  # noqa: F811
    stored: list[Document],
    from_files: bool,
) -> None:
    where = ["--from-files"] if from_files else []
    code, out, err = invoke(
        config, *where, "--since", "2023-12-06T19:00", "--until", "2023-12-07T05:00"
    )
    assert code == 0, err
    assert sorted(ids(out)) == sorted([stored[2].id, stored[3].id])
    assert "warning" not in err  # --until shows the new meaning is meant

    code, out, _ = invoke(config, *where, "--until", "2023-12-06")  # the whole day
    assert sorted(ids(out)) == sorted(d.id for d in stored[:3])
    code, out, _ = invoke(config, *where, "--until", "2023-12-06T12:00")  # that second included
    assert sorted(ids(out)) == sorted(d.id for d in stored[:2])
    code, out, _ = invoke(config, *where, "--since", "2023-12-06T15:00:00+00:00")  # 12:00 -03
    assert sorted(ids(out)) == sorted(d.id for d in stored[1:])


@pytest.mark.parametrize("from_files", [False, True])
def test_language_and_limit(
    config: Path,  # noqa: F811
    stored: list[Document],
    from_files: bool,
) -> None:
    where = ["--from-files"] if from_files else []
    code, out, err = invoke(config, *where, "--language", "PT")
    assert (code, ids(out)) == (0, [stored[3].id]), err
    code, everything, _ = invoke(config, *where)
    code, out, _ = invoke(config, *where, "--limit", "2")
    assert ids(out) == ids(everything)[:2]
    code, out, _ = invoke(config, *where, "--limit", "0")
    assert (code, out) == (0, "")
    code, out, _ = invoke(
        config, *where, "--language", "en", "--since", "2023-12-07", "--limit", "1"
    )
    assert ids(out) == [stored[4].id]


def test_stored_since_is_the_cursor_and_since_alone_warns(
    config: Path,  # noqa: F811
    stored: list[Document],
    tmp_path: Path,
) -> None:
    tomorrow = (datetime.now(UTC) + timedelta(days=1)).date().isoformat()
    code, out, err = invoke(config, "--stored-since", tomorrow)
    assert (code, out, err) == (0, "", "")
    code, out, err = invoke(config, "--stored-since", "2000-01-01")
    assert len(ids(out)) == 5 and err == ""

    # --since alone now means published since; a script of before is told, on one line.
    code, out, err = invoke(config, "--since", tomorrow)
    assert (code, out) == (0, "")
    assert err.count("\n") == 1 and "--stored-since" in err and err.startswith("warning:")

    # From the files, --stored-since is their modification time.
    old = datetime(2020, 1, 1, tzinfo=UTC).timestamp()
    files = sorted((tmp_path / "articles").rglob("*.txt"))
    for path in files[1:]:
        os.utime(path, (old, old))
    code, out, _ = invoke(config, "--from-files", "--stored-since", "2024-01-01")
    assert len(ids(out)) == 1


def test_csv_has_a_header_and_one_quoted_row_per_article(
    config: Path,  # noqa: F811
    tmp_path: Path,
) -> None:
    tricky = make(
        1,
        title='Budget, "approved"',
        content='First, with a comma.\n\nSecond "quoted" paragraph.',
        authors=("Jane Doe", "John, Roe"),
        tags=(),
        section="City",
    )
    db = SQLiteDatabase(tmp_path / "data" / "scraper.db")
    db.migrate()
    store_all(db, tmp_path / "articles", [tricky, make(2)], source="president-gov-ua")
    db.close()
    out = tmp_path / "export.csv"

    code, _, err = invoke(config, "--format", "csv", "-o", str(out))

    assert code == 0, err
    data = out.read_bytes()
    assert data.startswith(b"id,url,title,published_at,")
    assert data.count(b"\r\n") >= 3  # RFC 4180 row ends (and inside quoted content)
    rows = list(csv.DictReader(io.StringIO(data.decode("utf-8"), newline="")))
    assert len(rows) == 2 and list(rows[0]) == list(COLUMNS)
    row = next(r for r in rows if r["id"] == tricky.id)
    assert row["title"] == 'Budget, "approved"'
    assert row["content"] == tricky.content  # whole, its paragraphs included
    assert json.loads(row["authors"]) == ["Jane Doe", "John, Roe"]
    assert (row["tags"], row["section"], row["description"]) == ("[]", "City", "")
    assert row["published_at"] == "2023-12-06T12:00:00-03:00"
    other = next(r for r in rows if r["id"] == make(2).id)
    assert other["authors"] == ""  # unknown: stored without the page's metadata

    files = tmp_path / "files.csv"
    code, _, _ = invoke(config, "--from-files", "--format", "csv", "-o", str(files))
    from_files = list(csv.DictReader(io.StringIO(files.read_text("utf-8"), newline="")))
    assert code == 0 and {r["id"] for r in from_files} == {tricky.id, make(2).id}


def test_an_unknown_source_is_an_error_naming_the_known_ones(
    config: Path,  # noqa: F811
    stored: list[Document],
    tmp_path: Path,
) -> None:
    db = SQLiteDatabase(tmp_path / "data" / "scraper.db")
    store_all(db, tmp_path / "articles", [make(9)], source="removed-source")
    db.close()

    code, out, err = invoke(config, "--source", "nope")
    assert (code, out) == (2, "")
    assert err == "error: unknown source 'nope' (known: president-gov-ua, removed-source)\n"

    # A source no longer configured but stored is known; so is a configured one.
    code, out, _ = invoke(config, "--source", "removed-source")
    assert (code, ids(out)) == (0, [make(9).id])
    code, out, _ = invoke(config, "--source", "president-gov-ua", "--limit", "1")
    assert (code, len(ids(out))) == (0, 1)

    code, _, err = invoke(config, "--from-files", "--source", "nope")
    assert code == 2 and err == "error: unknown source 'nope' (known: president-gov-ua)\n"
    code, _, err = invoke(config, "--from-files", "--source", "president-gov-ua")
    assert code == 2 and "--source needs the database" in err and err.count("\n") == 1


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--since", "soon"], "error: --since: 'soon' is not a date"),
        (["--until", "2024-13-01"], "error: --until: '2024-13-01' is not a date"),
        (["--language", "english"], "error: --language: 'english' is not a language code"),
    ],
)
def test_bad_values_end_with_one_line(
    config: Path,  # noqa: F811
    args: list[str],
    message: str,
) -> None:
    code, out, err = invoke(config, *args)
    assert (code, out) == (2, "")
    assert err.startswith(message) and err.count("\n") == 1


def test_parse_until_is_the_end_of_the_day_or_of_the_second() -> None:
    assert parse_until("2024-01-31", SAO_PAULO) == datetime(2024, 2, 1, tzinfo=SAO_PAULO)
    assert parse_until("2024-01-31T08:00", SAO_PAULO) == datetime(
        2024, 1, 31, 8, 0, 1, tzinfo=SAO_PAULO
    )


def test_export_function_filters_and_the_old_keyword(tmp_path: Path) -> None:
    docs = [replace(make(n), section=f"S{n}", authors=(), tags=()) for n in range(3)]
    write_all(tmp_path, docs)
    out = io.StringIO()
    start = docs[1].published
    assert export(out, folder=tmp_path, filters=ExportFilters(published_since=start)) == 2

    with pytest.warns(DeprecationWarning, match="stored_since"):
        export(io.StringIO(), folder=tmp_path, since=datetime(2000, 1, 1, tzinfo=UTC))
    with pytest.raises(ValueError, match="time zone"):
        ExportFilters(published_before=datetime(2024, 1, 1))
    with pytest.raises(ValueError, match="unknown export format"):
        export(io.StringIO(), folder=tmp_path, fmt="xml")  # type: ignore[arg-type]
