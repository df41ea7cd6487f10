"""Publication dates on the shared corpus: our pipeline vs htmldate alone.

Two labelled sets: ``dev/dates`` (300 hand-dated pages, the label being the page's own
calendar day or "no date") and the 38 pages of ``expected/`` (``publishing_date``).
For each, prints accuracy (right day or rightly undated / all), precision (right /
answered) and coverage (answered / all) of

- our pipeline, the page-only path of the normalizer (``publication_time`` with a
  Discovery without date, fetched now), scored on the day as the page stated it (the
  calendar day of ``published_original``), and also on the day of its "Data" line after
  conversion to the output zone;
- htmldate alone: ``find_date(html, extensive_search=True, original_date=True)``.

Then the sources our dates came from and, with ``--failures``, every page we get wrong.
Run from the project root:

    python benchmarks/dates.py [--corpus DIR] [--processes N] [--failures]
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--corpus", type=Path, help="corpus folder (default: ../shared/corpus)")
    parser.add_argument(
        "--processes", type=int, default=min(2, os.cpu_count() or 1), help="worker processes"
    )
    parser.add_argument("--failures", action="store_true", help="list the pages we get wrong")
    args = parser.parse_args()
    if args.corpus:
        os.environ["SCRAPER_CORPUS_DIR"] = str(args.corpus)
    logging.basicConfig(level=logging.ERROR)

    from tests.support.corpus import CORPUS_DIR, corpus_available
    from tests.support.date_quality import (
        DateResult,
        dev_date_cases,
        dev_dates_available,
        expected_date_cases,
        score_all,
        scores,
    )

    if not corpus_available() or not dev_dates_available():
        print(f"corpus (with dev/dates) not found at {CORPUS_DIR}", file=sys.stderr)
        return 1

    def report(title: str, results: list[DateResult]) -> None:
        rows = [
            ("ours, page's own day", [(r.ours, r.case.day) for r in results]),
            ("ours, in the output zone", [(r.ours_converted, r.case.day) for r in results]),
            ("htmldate alone", [(r.htmldate, r.case.day) for r in results]),
        ]
        print(f"\n{title} ({len(results)} pages)")
        print(f"  {'':<28} {'accuracy':>8} {'precision':>9} {'coverage':>8}")
        for name, pairs in rows:
            s = scores(pairs)
            print(f"  {name:<28} {s.accuracy:8.3f} {s.precision:9.3f} {s.coverage:8.3f}")
        ours_time = sum(r.ours_seconds for r in results)
        htmldate_time = sum(r.htmldate_seconds for r in results)
        print(
            f"  ms per page: ours {1000 * ours_time / len(results):.1f},"
            f" htmldate alone {1000 * htmldate_time / len(results):.1f}"
        )
        sources = Counter(r.source or "(none)" for r in results)
        print("  our date sources: " + ", ".join(f"{k} {v}" for k, v in sources.most_common()))
        if args.failures:
            for r in results:
                if r.ours != r.case.day:
                    mark = "htmldate right" if r.htmldate == r.case.day else ""
                    print(
                        f"  WRONG {r.case.day} ours {r.ours} ({r.source} {r.original})"
                        f" htmldate {r.htmldate} {mark}\n        {r.case.name[:110]}"
                    )

    report("dev/dates", score_all(dev_date_cases(), args.processes))
    report("expected/", score_all(expected_date_cases(), args.processes))
    return 0


if __name__ == "__main__":
    sys.exit(main())
