"""The flat files: layout, one file per article, atomic writes, concurrent writers."""

from __future__ import annotations

import hashlib
import multiprocessing
import os
import threading
from datetime import datetime, timedelta
from multiprocessing.synchronize import Barrier
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from scraper.document import Document, parse, render
from scraper.storage import files as files_module
from scraper.storage.files import FileStore, record_files

SAO_PAULO = ZoneInfo("America/Sao_Paulo")
DAY = datetime(2023, 12, 6, 5, 0, tzinfo=SAO_PAULO)


def make(n: int = 0, **changes: object) -> Document:
    fields: dict[str, object] = {
        "title": f"Article {n} - Example Gov",
        "published": DAY,
        "type": "Notícias",
        "url": f"https://www.example.gov/news/{n}",
        "source_name": "Example Gov",
        "source_url": "https://www.example.gov",
        "language": "en",
        "aggregator": "RSS",
        "content": f"First paragraph of {n}.\n\nSecond paragraph.",
    }
    fields.update(changes)
    return Document(**fields)  # type: ignore[arg-type]


def all_files(root: Path) -> list[str]:
    """Every file under root except the store's own bookkeeping (.lock, .journal)."""
    found = []
    for folder, _, names in os.walk(root):
        for name in names:
            if Path(folder) == root and name in (".lock", ".journal"):
                continue
            found.append((Path(folder) / name).relative_to(root).as_posix())
    return sorted(found)


def test_layout_date_folder_and_sequence_named_by_id(tmp_path: Path) -> None:
    store = FileStore(tmp_path)
    docs = [make(n) for n in range(3)]
    results = [store.write(doc) for doc in docs]

    assert [r.status for r in results] == ["new", "new", "new"]
    assert all_files(tmp_path) == [f"2023-12-06/{i:03d}_{d.id}.txt" for i, d in enumerate(docs)]
    for doc, result in zip(docs, results, strict=True):
        text = result.path.read_text(encoding="utf-8")
        assert text == render(doc)
        assert result.content_hash == hashlib.sha256(text.encode()).hexdigest()
        assert result.relative_path == result.path.relative_to(tmp_path).as_posix()
        assert store.path_of(doc.id) == result.path


def test_folder_is_the_calendar_day_in_the_documents_zone(tmp_path: Path) -> None:
    # 23:30 in São Paulo is already the next day in UTC: the folder keeps the local day.
    late = make(published=datetime(2024, 3, 1, 23, 30, tzinfo=SAO_PAULO))
    result = FileStore(tmp_path).write(late)
    assert result.path.parent.name == "2024-03-01"


def test_file_name_comes_from_the_id_never_the_title_or_url(tmp_path: Path) -> None:
    doc = make(title="../../etc/passwd / <b>", url="https://www.example.gov/a/../../b?x=/..")
    result = FileStore(tmp_path).write(doc)
    assert result.path.name == f"000_{doc.id}.txt"
    assert result.path.parent.parent == tmp_path


def test_rewriting_identical_content_is_unchanged_and_touches_nothing(tmp_path: Path) -> None:
    store = FileStore(tmp_path)
    first = store.write(make(1))
    os.utime(first.path, ns=(1_000_000_000, 1_000_000_000))

    again = store.write(make(1))
    # A fresh store (another process, a restart) finds the file from disk alone.
    fresh = FileStore(tmp_path).write(make(1))

    assert again.status == fresh.status == "unchanged"
    assert again.path == fresh.path == first.path
    assert first.path.stat().st_mtime_ns == 1_000_000_000
    assert all_files(tmp_path) == [first.relative_path]


def test_changed_content_rewrites_the_same_file(tmp_path: Path) -> None:
    store = FileStore(tmp_path)
    store.write(make(0))
    first = store.write(make(1))
    store.write(make(2))

    changed = make(1, content="A corrected first paragraph.\n\nSecond paragraph.")
    result = FileStore(tmp_path).write(changed)

    assert result.status == "updated"
    assert result.path == first.path
    assert parse(result.path.read_text(encoding="utf-8")) == changed
    assert len(all_files(tmp_path)) == 3


def test_moved_publication_date_moves_the_file(tmp_path: Path) -> None:
    store = FileStore(tmp_path)
    store.write(make(7, published=DAY + timedelta(days=1)))  # 2023-12-07/000 is taken
    old = store.write(make(1))
    moved = make(1, published=DAY + timedelta(days=1, hours=2))

    result = store.write(moved)

    assert result.status == "updated"
    assert result.relative_path == f"2023-12-07/001_{moved.id}.txt"
    assert not old.path.exists()
    assert store.path_of(moved.id) == result.path
    assert parse(result.path.read_text(encoding="utf-8")) == moved
    # The emptied folder's next article still gets a fresh sequence number.
    assert store.write(make(2)).relative_path.startswith("2023-12-06/000_")


def test_another_writers_date_move_is_seen_through_the_journal(tmp_path: Path) -> None:
    # Two stores stand for two processes: b indexed the root before a wrote anything.
    a, b = FileStore(tmp_path), FileStore(tmp_path)
    assert b.path_of(make(1).id) is None
    a.write(make(1))

    result = b.write(make(1, published=DAY + timedelta(days=3)))

    assert result.status == "updated"
    assert all_files(tmp_path) == [result.relative_path]


def test_sequence_numbers_widen_past_999_and_sort_numerically(tmp_path: Path) -> None:
    folder = tmp_path / "2023-12-06"
    folder.mkdir(parents=True)
    (folder / "999_00000000000000aa.txt").write_text(render(make(999)), encoding="utf-8")

    result = FileStore(tmp_path).write(make(1))

    assert result.path.name == f"1000_{make(1).id}.txt"
    names = [p.name for p in record_files(tmp_path)]
    assert names == ["999_00000000000000aa.txt", result.path.name]


def test_non_ascii_text_round_trips_as_utf8(tmp_path: Path) -> None:
    doc = make(
        title="Зеленський: «Україна» — ação, coração",
        source_name="Офіційне інтернет-представництво Президента України",
        content="Перший абзац з «лапками».\n\nSegundo parágrafo: não, são, 東京.",
    )
    result = FileStore(tmp_path).write(doc)
    raw = result.path.read_bytes()
    assert raw == render(doc).encode("utf-8")
    assert parse(raw.decode("utf-8")) == doc


def test_failed_write_leaves_the_old_file_and_no_temporary_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = FileStore(tmp_path)
    first = store.write(make(1))

    def fail(*_: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(files_module.os, "replace", fail)
    with pytest.raises(OSError, match="No space"):
        store.write(make(1, content="New text."))

    assert first.path.read_text(encoding="utf-8") == render(make(1))
    assert all_files(tmp_path) == [first.relative_path]


def test_leftover_temporary_files_are_ignored_then_cleaned(tmp_path: Path) -> None:
    doc = make(1)
    folder = tmp_path / "2023-12-06"
    folder.mkdir(parents=True)
    leftover = folder / f".{doc.id}.deadbeef.tmp"
    leftover.write_text("# Título: half a fi", encoding="utf-8")

    assert list(record_files(tmp_path)) == []
    result = FileStore(tmp_path).write(doc)

    assert result.status == "new"
    assert not leftover.exists()
    assert list(record_files(tmp_path)) == [result.path]


def test_a_reader_never_sees_half_a_file(tmp_path: Path) -> None:
    store = FileStore(tmp_path)
    long = "\n\n".join(f"Paragraph {i} " + "x" * 2000 for i in range(200))
    versions = [make(1, content=long), make(1, content=long.replace("x", "y"))]
    path = store.write(versions[0]).path
    expected = {render(v) for v in versions}
    stop = threading.Event()
    seen: list[str] = []

    def read() -> None:
        while not stop.is_set():
            seen.append(path.read_text(encoding="utf-8"))

    reader = threading.Thread(target=read)
    reader.start()
    try:
        for i in range(40):
            store.write(versions[i % 2])
    finally:
        stop.set()
        reader.join()

    assert seen
    assert set(seen) <= expected


def _write_many(root: str, numbers: list[int], move: bool, start: Barrier) -> None:
    store = FileStore(Path(root))
    start.wait(timeout=30)
    for n in numbers:
        # Both writers store the same articles; the "move" writer dates every third one a
        # day later, so it moves files the other one wrote (and the other moves them back).
        shift = timedelta(days=1) if move and n % 3 == 0 else timedelta()
        store.write(make(n, published=DAY + shift))


def test_two_processes_never_duplicate_an_article_or_reuse_a_number(tmp_path: Path) -> None:
    context = multiprocessing.get_context("fork")
    start = context.Barrier(2)
    numbers = list(range(60))
    workers = [
        context.Process(target=_write_many, args=(str(tmp_path), order, move, start))
        for order, move in ((numbers, False), (numbers[::-1], True))
    ]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=60)
        assert worker.exitcode == 0

    paths = list(record_files(tmp_path))
    ids = [p.name.split("_")[1].removesuffix(".txt") for p in paths]
    assert sorted(ids) == sorted({make(n).id for n in numbers})  # each article once
    for folder in {p.parent for p in paths}:
        sequence = sorted(int(p.name.split("_")[0]) for p in paths if p.parent == folder)
        assert len(sequence) == len(set(sequence))  # no number used twice
    for path in paths:
        assert parse(path.read_text(encoding="utf-8")).id in path.name
    assert [n for n in all_files(tmp_path) if n.endswith(".tmp")] == []


def test_threads_sharing_a_store_write_each_article_once(tmp_path: Path) -> None:
    store = FileStore(tmp_path)
    threads = [
        threading.Thread(target=lambda: [store.write(make(n)) for n in range(30)]) for _ in range(4)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    names = [p.name for p in record_files(tmp_path)]
    assert len(names) == 30
    assert [n.split("_")[0] for n in names] == [f"{i:03d}" for i in range(30)]


def test_asking_for_a_path_creates_nothing(tmp_path: Path) -> None:
    store = FileStore(tmp_path / "articles")
    assert store.path_of(make(1).id) is None
    assert list(store.iter_files()) == []
    assert not (tmp_path / "articles").exists()


@pytest.fixture
def listed(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every folder the store lists once the test starts, in order."""
    folders: list[str] = []
    real_listdir = os.listdir

    def listdir(path: str | os.PathLike[str]) -> list[str]:
        folders.append(os.fspath(path))
        return real_listdir(path)

    monkeypatch.setattr(files_module.os, "listdir", listdir)
    return folders


def test_writes_into_one_folder_list_it_once(tmp_path: Path, listed: list[str]) -> None:
    # A day's folder holds thousands of articles: listing it for every write made each
    # write cost in proportion to the articles already there.
    store = FileStore(tmp_path)
    store.prepare()
    results = [store.write(make(n)) for n in range(50)]

    assert [r.path.name for r in results] == [f"{n:03d}_{make(n).id}.txt" for n in range(50)]
    assert listed == [str(tmp_path / "2023-12-06")]


def test_a_file_put_in_the_folder_by_hand_is_still_found(tmp_path: Path) -> None:
    store = FileStore(tmp_path)
    first = store.write(make(1))
    by_hand = first.path.parent / f"007_{make(2).id}.txt"
    by_hand.write_text(render(make(2)), encoding="utf-8")
    # (a moment later than the store's own write: a folder's time moves in clock ticks)
    seen = os.stat(by_hand.parent)
    os.utime(by_hand.parent, ns=(seen.st_atime_ns, seen.st_mtime_ns + 1_000_000_000))

    assert store.write(make(2)).status == "unchanged"
    assert store.write(make(3)).path.name == f"008_{make(3).id}.txt"


def test_another_writers_file_counts_even_when_the_folder_time_did_not_move(
    tmp_path: Path,
) -> None:
    # Folder times move in clock ticks: two writes within one tick leave it as it was.
    # The journal still tells the other writer which number is taken.
    a, b = FileStore(tmp_path), FileStore(tmp_path)
    b.write(make(1))
    folder = tmp_path / "2023-12-06"
    seen = os.stat(folder)
    a.write(make(2))
    os.utime(folder, ns=(seen.st_atime_ns, seen.st_mtime_ns))

    result = b.write(make(3))

    assert result.path.name == f"002_{make(3).id}.txt"
    assert sorted(p.name for p in record_files(tmp_path)) == [
        f"000_{make(1).id}.txt",
        f"001_{make(2).id}.txt",
        result.path.name,
    ]


def test_restores_into_one_folder_list_it_once_and_keep_free_former_names(
    tmp_path: Path, listed: list[str]
) -> None:
    # Restoring a day's lost files (scraper.storage.level) listed their folder three
    # times for each file.
    store = FileStore(tmp_path)
    store.prepare()
    # Former names with gaps between their numbers, as rows keep them.
    results = [
        store.restore(make(n), f"2023-12-06/{2 * n:03d}_{make(n).id}.txt") for n in range(50)
    ]

    assert [r.relative_path if r else None for r in results] == [
        f"2023-12-06/{2 * n:03d}_{make(n).id}.txt" for n in range(50)
    ]
    assert listed == [str(tmp_path / "2023-12-06")]


def test_a_restored_file_takes_the_next_number_when_its_former_one_is_held(
    tmp_path: Path,
) -> None:
    store = FileStore(tmp_path)
    held = store.write(make(1))  # 000
    store.write(make(2))  # 001

    restored = store.restore(make(3), f"2023-12-06/000_{make(3).id}.txt")

    assert held.path.name == f"000_{make(1).id}.txt"
    assert restored is not None
    assert restored.relative_path == f"2023-12-06/002_{make(3).id}.txt"
    assert parse(restored.path.read_text(encoding="utf-8")) == make(3)


def test_nothing_is_restored_for_an_article_whose_file_was_put_there_by_hand(
    tmp_path: Path,
) -> None:
    store = FileStore(tmp_path)
    store.write(make(1))
    by_hand = tmp_path / "2023-12-06" / f"005_{make(2).id}.txt"
    by_hand.write_text(render(make(2)), encoding="utf-8")
    seen = os.stat(by_hand.parent)
    os.utime(by_hand.parent, ns=(seen.st_atime_ns, seen.st_mtime_ns + 1_000_000_000))

    assert store.restore(make(2), f"2023-12-06/001_{make(2).id}.txt") is None
    assert all_files(tmp_path) == [
        f"2023-12-06/000_{make(1).id}.txt",
        f"2023-12-06/005_{make(2).id}.txt",
    ]
