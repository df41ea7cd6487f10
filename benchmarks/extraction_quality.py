"""Main-text quality and cost on both labelled sets of the shared corpus, in one run.

- ``dev/extraction`` (943 pages): snippet precision, recall and F1, counted over all
  snippets of all pages (a ``with`` snippet found is a true positive, missed a false
  negative; a ``without`` snippet found is a false positive), as trafilatura's own
  evaluation counts them.
- ``expected/`` (38 pages): word-4-gram shingle F1 against the reference paragraphs,
  averaged over pages.

Extractors (tests/support/quality.py): ``pipeline`` (our main-text function, as
``process_page`` runs it, decoding and parsing included), ``document`` (the whole
``process_page``: dates and language too; its text is the pipeline's unless the page is
skipped), and baselines with their defaults: ``trafilatura`` (plain
``trafilatura.extract``), ``readability`` (readability-lxml) and ``justext`` (the last two
from the ``bench`` extra: ``pip install -U pip && pip install -e '.[bench]'``; pip 23.2
fails to resolve that set). CPU seconds per page are
measured in the worker processes (``time.process_time``), after a warm-up page.

    python benchmarks/extraction_quality.py [--corpus DIR] [--workers N] [--systems a,b]
        [--sets dev,expected] [--worst N] [--per-page FILE.tsv] [--dump DIR] [--limit N]
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import time
from collections.abc import Iterable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

DEFAULT_SYSTEMS = ("pipeline", "document", "trafilatura", "readability", "justext")


@dataclass(frozen=True)
class Task:
    kind: str  # "dev" or "expected"
    name: str
    url: str
    path: str
    with_snippets: tuple[str, ...] = ()
    without_snippets: tuple[str, ...] = ()
    reference: str = ""


@dataclass(frozen=True)
class Result:
    task: Task
    # per system: (score, CPU seconds); score is SnippetCounts (dev) or shingle F1 (expected)
    scores: dict[str, tuple[object, float]]


_SYSTEMS: tuple[str, ...] = ()
_DUMP: Path | None = None


def _init_worker(systems: tuple[str, ...], dump: str | None) -> None:
    global _SYSTEMS, _DUMP
    _SYSTEMS, _DUMP = systems, Path(dump) if dump else None
    logging.basicConfig(level=logging.CRITICAL)
    for name in ("trafilatura", "htmldate", "readability", "readability.readability"):
        logging.getLogger(name).setLevel(logging.CRITICAL)
    from tests.support.quality import EXTRACTORS

    # Warm-up outside the timings: imports, models, stop lists, caches.
    page = b"<html><head><title>t</title></head><body><p>" + b"Warm up text. " * 40 + b"</p>"
    for system in systems:
        EXTRACTORS[system](page + b"</body></html>", "https://warm.invalid/up")


def _read(task: Task) -> bytes:
    from tests.support.corpus import SnippetCase

    if task.kind == "dev":
        return SnippetCase(task.url, Path(task.path), (), ()).body()
    return Path(task.path).read_bytes()


def _run(task: Task) -> Result:
    from tests.support.quality import EXTRACTORS, shingle_f1, snippet_counts

    body = _read(task)
    scores: dict[str, tuple[object, float]] = {}
    for system in _SYSTEMS:
        started = time.process_time()
        try:
            text = EXTRACTORS[system](body, task.url)
        except Exception as exc:  # a baseline crashing on a page scores it empty
            text = ""
            print(f"{system} failed on {task.name}: {type(exc).__name__}: {exc}", file=sys.stderr)
        cpu = time.process_time() - started
        if _DUMP is not None:
            folder = _DUMP / system / task.kind
            folder.mkdir(parents=True, exist_ok=True)
            (folder / f"{task.name}.txt").write_text(text, encoding="utf-8")
        if task.kind == "dev":
            scores[system] = (snippet_counts(text, task.with_snippets, task.without_snippets), cpu)
        else:
            scores[system] = (shingle_f1(text, task.reference), cpu)
    return Result(task, scores)


def tasks(sets: Iterable[str], limit: int | None) -> list[Task]:
    from tests.support.corpus import dev_extraction_cases, expected_pages

    found: list[Task] = []
    if "dev" in sets:
        cases = dev_extraction_cases()[:limit]
        for case in cases:
            name = case.path.name.removesuffix(".html.gz")
            found.append(
                Task(
                    "dev", name, case.url, str(case.path), case.with_snippets, case.without_snippets
                )
            )
    if "expected" in sets:
        for page in expected_pages()[:limit]:
            found.append(
                Task(
                    "expected",
                    page.name,
                    page.url,
                    str(page.html_path),
                    reference=page.expected_text,
                )
            )
    return found


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--corpus", type=Path, help="corpus folder (default: ../shared/corpus)")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--systems", default=",".join(DEFAULT_SYSTEMS))
    parser.add_argument("--sets", default="dev,expected")
    parser.add_argument("--worst", type=int, default=15, help="worst pages listed per set")
    parser.add_argument("--per-page", type=Path, help="write every page's scores here (TSV)")
    parser.add_argument("--dump", type=Path, help="write every extracted text under DIR")
    parser.add_argument("--limit", type=int, help="only the first N pages of each set")
    args = parser.parse_args()
    if args.corpus:
        os.environ["SCRAPER_CORPUS_DIR"] = str(args.corpus)

    from tests.support.corpus import CORPUS_DIR, corpus_available, dev_extraction_available

    if not corpus_available() or not dev_extraction_available():
        print(f"corpus (with dev/extraction) not found at {CORPUS_DIR}", file=sys.stderr)
        return 1
    systems = tuple(s.strip() for s in args.systems.split(",") if s.strip())
    sets = {s.strip() for s in args.sets.split(",")}
    todo = tasks(sets, args.limit)
    started = time.perf_counter()
    with ProcessPoolExecutor(
        args.workers, initializer=_init_worker, initargs=(systems, str(args.dump or ""))
    ) as pool:
        results = list(pool.map(_run, todo, chunksize=4))
    wall = time.perf_counter() - started
    print(f"{len(todo)} pages, {args.workers} worker processes, {wall:.0f} s wall\n")
    if "dev" in sets:
        report_dev([r for r in results if r.task.kind == "dev"], systems, args.worst)
    if "expected" in sets:
        report_expected([r for r in results if r.task.kind == "expected"], systems, args.worst)
    if args.per_page:
        write_per_page(results, systems, args.per_page)
    return 0


def _cpu_line(results: list[Result], systems: tuple[str, ...]) -> str:
    cells = []
    for system in systems:
        cpu = sum(r.scores[system][1] for r in results) / max(len(results), 1)
        cells.append(f"{system} {cpu * 1000:.1f}")
    return "CPU ms per page: " + ", ".join(cells)


def report_dev(results: list[Result], systems: tuple[str, ...], worst: int) -> None:
    from tests.support.quality import SnippetCounts

    print(f"dev/extraction: {len(results)} pages, snippets counted over all pages")
    print(f"{'system':<12} {'prec.':>6} {'recall':>6} {'F1':>6} {'acc.':>6}   TP/FN/FP/TN")
    totals: dict[str, SnippetCounts] = {}
    for system in systems:
        total = sum((r.scores[system][0] for r in results), SnippetCounts())
        totals[system] = total
        print(
            f"{system:<12} {total.precision:6.3f} {total.recall:6.3f} {total.f1:6.3f} "
            f"{total.accuracy:6.3f}   {total.true_positives}/{total.false_negatives}/"
            f"{total.false_positives}/{total.true_negatives}"
        )
    print(_cpu_line(results, systems))
    main_system = systems[0]
    if worst and len(systems) > 1 and "trafilatura" in systems and main_system != "trafilatura":

        def errors(result: Result, system: str) -> int:
            counts = result.scores[system][0]
            return counts.false_negatives + counts.false_positives

        ranked = sorted(results, key=lambda r: errors(r, "trafilatura") - errors(r, main_system))
        print(f"\nworst pages for {main_system} (errors FN+FP, vs trafilatura):")
        for result in ranked[:worst]:
            if errors(result, main_system) <= errors(result, "trafilatura"):
                break
            print(
                f"  {result.task.name:<56} {main_system} {errors(result, main_system)}"
                f"  trafilatura {errors(result, 'trafilatura')}"
            )
        best = [r for r in reversed(ranked) if errors(r, main_system) < errors(r, "trafilatura")]
        print(
            f"pages better than trafilatura: {len(best)}, worse: "
            f"{sum(errors(r, main_system) > errors(r, 'trafilatura') for r in results)}"
        )
    print()


def report_expected(results: list[Result], systems: tuple[str, ...], worst: int) -> None:
    count = max(len(results), 1)
    print(f"expected/: {len(results)} pages, mean shingle F1")
    for system in systems:
        mean = sum(r.scores[system][0] for r in results) / count
        print(f"{system:<12} {mean:6.3f}")
    print(_cpu_line(results, systems))
    if worst:
        main_system = systems[0]
        ranked = sorted(results, key=lambda r: r.scores[main_system][0])
        print(f"\nworst pages for {main_system}:")
        header = "  ".join(f"{s[:11]:>11}" for s in systems)
        print(f"  {'page':<44} {header}")
        for result in ranked[:worst]:
            cells = "  ".join(f"{result.scores[s][0]:11.3f}" for s in systems)
            print(f"  {result.task.name:<44} {cells}")
    print()


def write_per_page(results: list[Result], systems: tuple[str, ...], path: Path) -> None:
    lines = ["set\tpage\tsystem\tscore\tTP\tFN\tFP\tTN\tcpu_ms"]
    for result in results:
        for system in systems:
            score, cpu = result.scores[system]
            if result.task.kind == "dev":
                c = score
                cells = (
                    f"{c.f1:.3f}\t{c.true_positives}\t{c.false_negatives}\t"
                    f"{c.false_positives}\t{c.true_negatives}"
                )
            else:
                cells = f"{score:.3f}\t\t\t\t"
            lines.append(
                f"{result.task.kind}\t{result.task.name}\t{system}\t{cells}\t{cpu * 1000:.1f}"
            )
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


if __name__ == "__main__":
    sys.exit(main())
