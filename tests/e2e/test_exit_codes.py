"""Nothing fails in silence: every exit code of ``scraper crawl``, a callback that raises,
an output folder that refuses writes (and the next crawl after the fix)."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests.e2e.test_crawl import crawl, feed_source, serve_articles
from tests.support.cli import Project, run_scraper, scraper_command
from tests.support.http_server import LocalHTTPServer, RecordedRequest, Route
from tests.support.pages import article_page, article_paragraphs, rss_feed

pytestmark = pytest.mark.e2e


def serve_feed(server: LocalHTTPServer, count: int = 2, path: str = "/feed.xml") -> None:
    items = [(f"S{n}", server.url(p), None) for n, p in enumerate(serve_articles(server, count))]
    server.route(path, Route(body=rss_feed(items), content_type="application/rss+xml"))


def last_run_status(project: Project) -> list[tuple[str, str]]:
    with sqlite3.connect(project.root / "data" / "scraper.db") as db:
        return db.execute("SELECT source_id, status FROM crawl_runs ORDER BY id").fetchall()


def test_exit_0_when_everything_was_stored(server: LocalHTTPServer, project: Project) -> None:
    serve_feed(server)
    project.write_source(feed_source(server))
    code, out, err = crawl(project, "city")
    assert code == 0, err
    assert err == ""
    assert "new 2" in out.split(",")[3]
    assert last_run_status(project) == [("city", "ok")]


def test_a_crawl_stopped_by_a_signal_is_exit_5_and_its_run_partial(
    server: LocalHTTPServer, project: Project
) -> None:
    # SIGTERM (or Ctrl-C) stopped the crawl gracefully, and it exited 0 with its run
    # recorded "ok": the articles it never got to were counted nowhere.
    # Slow pages, one at a time: the signal comes mid-way. More than Scrapy takes into
    # its downloader at once (32), which a graceful stop still fetches; the rest it drops.
    paths = [f"/news/story-{n}" for n in range(60)]
    for n, path in enumerate(paths):
        page = article_page(f"Story number {n}", article_paragraphs(n))
        server.route(path, Route(body=page, delay=0.1))
    items = [(f"S{n}", server.url(p), None) for n, p in enumerate(paths)]
    server.route("/feed.xml", Route(body=rss_feed(items), content_type="application/rss+xml"))
    project.write_source(feed_source(server, crawl={"delay": 0, "concurrency": 1}))
    environment = {k: v for k, v in os.environ.items() if not k.startswith("SCRAPER_")}
    process = subprocess.Popen(
        [*scraper_command(), "crawl", "city", "--config", str(project.config)],
        cwd=project.root,
        env=environment,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 60
    while not project.files() and time.monotonic() < deadline:
        time.sleep(0.05)
    process.send_signal(signal.SIGTERM)
    out, err = process.communicate(timeout=60)

    assert process.returncode == 5, out + err
    last = err.strip().splitlines()[-1]
    assert last == "error: not everything was crawled: stopped by a signal before the end"
    assert "\n  failed: stopped by a signal before the end (1)\n" in out
    assert last_run_status(project) == [("city", "partial")]
    assert 1 <= len(project.files()) < len(paths)


def test_a_crawl_closes_the_runs_a_killed_crawl_of_this_host_left_running(
    server: LocalHTTPServer, project: Project
) -> None:
    # Only the daemon closed them: after a crawl killed (or aborted by a second signal)
    # every later crawl took its run for a crawl still writing files.
    serve_feed(server)
    project.write_source(feed_source(server))
    assert crawl(project, "city")[0] == 0
    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        capture_output=True,
        text=True,
        check=True,
    )
    worker = f"{socket.gethostname()}:{int(dead.stdout)}"
    with sqlite3.connect(project.root / "data" / "scraper.db") as db:
        db.execute(
            "INSERT INTO crawl_runs (source_id, started_at, status, worker) "
            "VALUES ('city', '2024-05-02T09:30:00+00:00', 'running', ?)",
            (worker,),
        )

    code, _, err = crawl(project, "city")

    assert code == 0, err
    assert last_run_status(project) == [("city", "ok"), ("city", "abandoned"), ("city", "ok")]
    assert "closed 1 run(s) a killed process left running as abandoned" in err


def test_one_unreachable_source_of_two_is_exit_5(server: LocalHTTPServer, project: Project) -> None:
    serve_feed(server)
    project.write_source(feed_source(server))
    project.write_source(
        {
            **feed_source(server),
            "id": "gone",
            "discovery": [{"kind": "feed", "url": server.url("/x")}],
        }
    )
    code, out, err = crawl(project, "city", "gone")
    assert code == 5
    assert err.strip().splitlines()[-1] == "error: not everything was crawled: gone unreachable"
    assert "city: discovered 2, known 0, fetched 2, new 2," in out
    assert sorted(last_run_status(project)) == [("city", "ok"), ("gone", "failed")]


def test_an_html_page_at_the_feed_url_fails_the_channel(
    server: LocalHTTPServer, project: Project
) -> None:
    server.route("/feed.xml", Route(body="<html><body><p>We moved!</p></body></html>"))
    project.write_source(feed_source(server))
    code, out, err = crawl(project, "city")
    assert code == 5
    assert err.strip().splitlines()[-1] == (
        "error: not everything was crawled: city: channel failed (feed)"
    )
    assert "  failed: feed: not a feed (1)" in out.splitlines()
    assert last_run_status(project) == [("city", "failed")]


def test_a_json_feed_whose_items_are_no_list_fails_the_channel(
    server: LocalHTTPServer, project: Project
) -> None:
    body = '{"version": "https://jsonfeed.org/version/1.1", "title": "x", "items": 5}'
    server.route("/feed.xml", Route(body=body, content_type="application/feed+json"))
    project.write_source(feed_source(server))
    code, out, _ = crawl(project, "city")
    assert code == 5
    assert "  failed: feed: not a feed (1)" in out.splitlines()


def test_a_callback_that_raises_is_counted_and_fails_the_run(
    server: LocalHTTPServer, project: Project
) -> None:
    serve_feed(server)
    project.write_source(feed_source(server))
    # The real command, with the feed spider's callback replaced by one that raises.
    program = (
        "import sys, spiders.feed\n"
        "def broken(self, response):\n"
        "    raise RuntimeError('boom in the callback')\n"
        "spiders.feed.FeedSpider.parse_feed = broken\n"
        "from scraper.cli import main\n"
        "sys.argv = ['scraper', *sys.argv[1:]]\n"
        "main()\n"
    )
    args = [sys.executable, "-c", program, "crawl", "city", "--config", str(project.config)]
    quiet = subprocess.run(args, cwd=project.root, capture_output=True, text=True, timeout=120)

    assert quiet.returncode == 5
    assert "  failed: feed: error (RuntimeError) (1)" in quiet.stdout.splitlines()
    assert "city: feed: error (RuntimeError): boom in the callback" in quiet.stderr
    assert "Traceback" not in quiet.stderr  # one line; the traceback from -v on
    assert last_run_status(project) == [("city", "failed")]

    verbose = subprocess.run([*args, "-v"], cwd=project.root, capture_output=True, text=True)
    assert verbose.returncode == 5
    assert "Traceback" in verbose.stderr and "boom in the callback" in verbose.stderr


@contextmanager
def refusing_writes(folder: Path) -> Iterator[None]:
    """``folder`` exists but refuses new files, even to root (the immutable attribute)."""
    folder.mkdir(parents=True, exist_ok=True)
    if shutil.which("chattr") is None:
        pytest.skip("chattr is not available")
    made = subprocess.run(["chattr", "+i", str(folder)], capture_output=True, check=False)
    if made.returncode != 0:
        pytest.skip(f"cannot make {folder} immutable: {made.stderr!r}")
    try:
        yield
    finally:
        subprocess.run(["chattr", "-i", str(folder)], check=True)


def test_an_unwritable_output_folder_fails_and_keeps_no_validator(
    server: LocalHTTPServer, project: Project
) -> None:
    paths = serve_articles(server, 2)
    feed = rss_feed([(f"S{n}", server.url(p), None) for n, p in enumerate(paths)])

    def feed_answer(request: RecordedRequest) -> Route:
        if request.headers.get("If-None-Match") == '"v1"':
            return Route(status=304, content_type=None)
        return Route(body=feed, content_type="application/rss+xml", headers={"ETag": '"v1"'})

    server.route("/feed.xml", feed_answer)
    project.write_source(feed_source(server))

    with refusing_writes(project.output):
        code, out, err = crawl(project, "city")
    assert code == 6
    last = err.strip().splitlines()[-1]
    assert last.startswith("error: cannot write the output folder: ")
    assert str(project.output) in last
    assert "failed: output not writable: " in out
    assert project.files() == []
    assert last_run_status(project) == [("city", "failed")]

    # Fixed: the next crawl asks for the whole feed again and writes every article.
    code, out, err = crawl(project, "city")
    assert code == 0, err
    assert len(project.files()) == 2
    assert all("If-None-Match" not in r.headers for r in server.requests_to("/feed.xml"))
    assert last_run_status(project) == [("city", "failed"), ("city", "ok")]


def test_bad_arguments_are_exit_2_and_nothing_reachable_exit_3(
    server: LocalHTTPServer, project: Project
) -> None:
    project.write_source(feed_source(server))  # /feed.xml answers 404
    result = run_scraper("crawl", "--config", project.config, cwd=project.root)
    assert result.returncode == 2
    code, _, err = crawl(project, "city")
    assert code == 3
    assert err.strip().splitlines()[-1] == "error: nothing reachable: no discovery channel answered"
