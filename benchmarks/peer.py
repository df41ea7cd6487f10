"""One peer of the crawl benchmark: newspaper4k or news-please, each fetching and extracting
a list of URLs with its own downloader and extractor, in N processes.

    python benchmarks/peer.py newspaper4k urls.txt out/ --processes 2

Run by ``benchmarks/crawl.py --peers`` with the Python that has the peer installed
(``--peers-python``; neither is a dependency of this project: news-please alone pulls in
a second Scrapy, psycopg2 and more). Each page's title, date and text are written to
``out/<n>.json``, as a user of the library would keep them; a page the library cannot
fetch or parse is written with its error. Neither library fetches images here: the pages
name images on hosts this machine cannot reach, and the crawl fetches none either.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import logging
import sys
import warnings
from collections.abc import Callable
from multiprocessing import get_context
from pathlib import Path
from typing import Any

Extractor = Callable[[str], dict[str, Any]]
# The exit status when the peer's library is not installed for this Python.
NOT_INSTALLED = 3


def newspaper4k(url: str) -> dict[str, Any]:
    from newspaper import Article, Config

    config = Config()
    config.fetch_images = False
    article = Article(url, config=config)
    article.download()
    article.parse()
    date = article.publish_date
    return {"title": article.title, "date": date and date.isoformat(), "text": article.text}


def news_please(url: str) -> dict[str, Any]:
    from newsplease import NewsPlease

    article = NewsPlease.from_url(url, fetch_images=False)
    date = getattr(article, "date_publish", None)
    return {
        "title": getattr(article, "title", None),
        "date": date and date.isoformat(),
        "text": getattr(article, "maintext", None),
    }


# Each peer's name, the module it imports and how it extracts a URL.
PEERS: dict[str, tuple[str, Extractor]] = {
    "newspaper4k": ("newspaper", newspaper4k),
    "news-please": ("newsplease", news_please),
}


def _extract(job: tuple[str, int, str, str]) -> bool:
    """Fetch and extract one URL into ``<folder>/<number>.json``; True when it gave text."""
    peer, number, url, folder = job
    try:
        record = PEERS[peer][1](url)
    except Exception as exc:  # a peer's failure on one page is its result for that page
        record = {"error": f"{type(exc).__name__}: {exc}"[:300]}
    record["url"] = url
    path = Path(folder) / f"{number}.json"
    path.write_text(json.dumps(record, ensure_ascii=False), encoding="utf-8")
    return bool(record.get("text"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("peer", choices=sorted(PEERS))
    parser.add_argument("urls", type=Path, help="a file of URLs, one a line")
    parser.add_argument("output", type=Path, help="a folder for the records")
    parser.add_argument("--processes", type=int, default=2)
    args = parser.parse_args()
    if importlib.util.find_spec(PEERS[args.peer][0]) is None:
        print(f"{args.peer}: not installed for {sys.executable}", file=sys.stderr)
        sys.exit(NOT_INSTALLED)
    urls = args.urls.read_text(encoding="utf-8").split()
    args.output.mkdir(parents=True, exist_ok=True)
    jobs = [(args.peer, n, url, str(args.output)) for n, url in enumerate(urls)]
    # tldextract (news-please's) tries to download the Public Suffix List, fails on this
    # offline machine and falls back to its own copy, logging the traceback each time.
    logging.getLogger("tldextract").setLevel(logging.CRITICAL)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # e.g. newspaper4k's "nltk is not installed"
        with get_context("fork").Pool(args.processes) as pool:
            texts = sum(pool.imap_unordered(_extract, jobs, chunksize=4))
    print(f"{args.peer}: {texts} of {len(urls)} pages with text")


if __name__ == "__main__":
    main()
