"""Extraction quality and speed on the shared corpus: our pipeline vs trafilatura alone.

For each of the corpus pages with a human-labelled reference (``corpus/expected``), prints
the word-4-gram shingle F1 of our Conteúdo (``scraper.normalize.process_page``) and of plain
``trafilatura.extract(html)`` against the reference paragraphs, then the means and the
pages per second of each (ours includes decoding, metadata, dates and language; the
baseline is text extraction only). Run from the project root:

    python benchmarks/extraction_quality.py [--corpus DIR]
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--corpus", type=Path, help="corpus folder (default: ../shared/corpus)")
    args = parser.parse_args()
    if args.corpus:
        os.environ["SCRAPER_CORPUS_DIR"] = str(args.corpus)
    # trafilatura and htmldate log every page they discard; the scores say enough.
    logging.basicConfig(level=logging.ERROR)
    logging.getLogger("trafilatura").setLevel(logging.CRITICAL)

    from tests.support.corpus import CORPUS_DIR, corpus_available, expected_pages
    from tests.support.quality import score_page

    if not corpus_available():
        print(f"corpus not found at {CORPUS_DIR}", file=sys.stderr)
        return 1
    # Warm-up outside the timings: imports, the language model, trafilatura's caches.
    pages = expected_pages()
    score_page(pages[0])

    print(f"{'page':<48} {'ours':>6} {'traf.':>6} {'diff':>7}")
    scores = []
    for page in pages:
        score = score_page(page)
        scores.append(score)
        diff = score.ours_f1 - score.baseline_f1
        print(f"{page.name:<48} {score.ours_f1:6.3f} {score.baseline_f1:6.3f} {diff:+7.3f}")
    count = len(scores)
    ours_mean = sum(s.ours_f1 for s in scores) / count
    baseline_mean = sum(s.baseline_f1 for s in scores) / count
    print(f"{'mean over ' + str(count) + ' pages':<48} {ours_mean:6.3f} {baseline_mean:6.3f}")
    ours_rate = count / sum(s.ours_seconds for s in scores)
    baseline_rate = count / sum(s.baseline_seconds for s in scores)
    print(
        f"pages/second (one process): ours {ours_rate:.1f}, trafilatura alone {baseline_rate:.1f}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
