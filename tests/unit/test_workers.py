from __future__ import annotations

import asyncio

from scraper.document import Document
from scraper.models import Discovery, FetchedPage, SourceDefaults
from scraper.workers import ExtractionPool
from tests.support.pages import article_page, article_paragraphs

DEFAULTS = SourceDefaults("s", "Site", "https://site.example", "en", "Notícias", False)


def page(n: int) -> FetchedPage:
    url = f"https://site.example/news/{n}"
    body = article_page(f"Story {n}", article_paragraphs(n)).encode()
    return FetchedPage(
        Discovery(url, "s", "feed", "RSS"), DEFAULTS, url, body, "utf-8", "America/Sao_Paulo"
    )


def test_workers_are_replaced_without_losing_or_stalling_work() -> None:
    pool = ExtractionPool(workers=1, timeout=60, tasks_per_worker=3)

    async def extract_all() -> list[object]:
        return list(await asyncio.gather(*(pool.extract(page(n)) for n in range(8))))

    try:
        outcomes = asyncio.run(asyncio.wait_for(extract_all(), 90))
    finally:
        pool.close()
    assert all(isinstance(o, Document) for o in outcomes)
    assert [o.title for o in outcomes if isinstance(o, Document)] == [
        f"Story {n}" for n in range(8)
    ]
    assert pool.executors_started == 3  # 8 tasks, 3 per executor
