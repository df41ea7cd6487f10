"""Invalid config as an operator meets it: every problem at once, named where it is, and
an invalid source file never stops the valid ones."""

from __future__ import annotations

import json

import pytest

from tests.support.cli import Project, run_scraper
from tests.support.http_server import LocalHTTPServer, Route
from tests.support.pages import article_page, article_paragraphs, rss_feed

pytestmark = pytest.mark.e2e

TYPO = """\
id: typo
name: Typo News
homepage: www.typo.example
schedule: {every: 1h}
crawl: {dealy: 1}
discovery:
  - kind: feed
    ulr: https://typo.example/rss.xml
"""
BROKEN_YAML = "id: broken\nname: [unclosed\n"


def write_invalid_sources(project: Project) -> dict[str, list[str]]:
    """Two invalid files; returns the stderr lines each must give."""
    folder = project.config / "sources"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "typo.yaml").write_text(TYPO, encoding="utf-8")
    (folder / "broken.yaml").write_text(BROKEN_YAML, encoding="utf-8")
    typo = folder / "typo.yaml"
    return {
        "typo": [
            f"error: {typo}: homepage: not an http(s) URL: 'www.typo.example'",
            f"error: {typo}: discovery[0].url: Field required",
            f"error: {typo}: discovery[0].ulr: unknown key; did you mean 'url'?",
            f"error: {typo}: crawl.dealy: unknown key; did you mean 'delay'?",
        ],
        "broken": [f"error: {folder / 'broken.yaml'}: line 3: "],
    }


def serve_good_source(server: LocalHTTPServer, project: Project) -> None:
    server.route("/news/one", Route(body=article_page("Story one", article_paragraphs(1))))
    server.route(
        "/feed.xml",
        Route(
            body=rss_feed(
                [("Story one", server.url("/news/one"), "Thu, 02 May 2024 09:30:00 GMT")]
            ),
            content_type="application/rss+xml",
        ),
    )
    project.write_source(
        {
            "id": "good",
            "name": "Good News",
            "homepage": server.base_url,
            "schedule": {"every": "1h"},
            "discovery": [{"kind": "feed", "url": server.url("/feed.xml")}],
        }
    )


def error_lines(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.startswith("error: ")]


def test_invalid_source_files_are_all_reported_and_the_valid_source_still_crawls(
    server: LocalHTTPServer, project: Project
) -> None:
    project.write_settings(allow_private_addresses=[f"127.0.0.1:{server.port}"])
    serve_good_source(server, project)
    expected = write_invalid_sources(project)

    listed = run_scraper("sources", "--config", project.config, cwd=project.root)
    assert listed.returncode == 2, listed.stderr
    assert listed.stdout.splitlines()[0].split() == ["good", "Good", "News", "every", "1h", "feed"]
    errors = error_lines(listed.stderr)
    assert len(errors) == 5, listed.stderr
    for line in expected["typo"]:
        assert line in errors
    assert any(line.startswith(expected["broken"][0]) for line in errors), listed.stderr

    crawled = run_scraper("crawl", "good", "--config", project.config, cwd=project.root)
    assert crawled.returncode == 0, crawled.stderr
    assert "good: discovered 1" in crawled.stdout and "new 1" in crawled.stdout
    (document,) = project.documents()
    assert document.title == "Story one"
    warnings = [line for line in crawled.stderr.splitlines() if line.startswith("warning: ")]
    assert len(warnings) == 2 and all("invalid" in line for line in warnings), crawled.stderr

    refused = run_scraper("crawl", "typo", "--config", project.config, cwd=project.root)
    assert refused.returncode == 2
    assert error_lines(refused.stderr)[:4] == expected["typo"]
    assert "nothing to crawl" in refused.stderr

    every = run_scraper("crawl", "--all", "--config", project.config, cwd=project.root)
    assert every.returncode == 2, every.stderr
    assert "good: discovered 1, known 1" in every.stdout
    for line in expected["typo"]:
        assert line in every.stderr
    assert "not crawled, invalid:" in error_lines(every.stderr)[-1]


def test_a_bad_variable_or_flag_is_named_not_settings_yaml(project: Project) -> None:
    project.write_settings()
    project.write_source(
        {
            "id": "good",
            "name": "Good News",
            "homepage": "https://good.example",
            "discovery": [{"kind": "feed", "url": "https://good.example/rss.xml"}],
        }
    )
    by_variable = run_scraper(
        "sources",
        "--config",
        project.config,
        cwd=project.root,
        env={"SCRAPER_DOWNLOAD_TIMEOUT": "soon"},
    )
    assert by_variable.returncode == 2
    assert by_variable.stderr.splitlines() == [
        "error: SCRAPER_DOWNLOAD_TIMEOUT: Input should be a valid number, "
        "unable to parse string as a number"
    ]

    by_flag = run_scraper(
        "crawl", "good", "--config", project.config, "--database", "mysql://x", cwd=project.root
    )
    assert by_flag.returncode == 2
    assert by_flag.stderr.splitlines() == [
        "error: --database: must start with postgresql://, postgres:// or sqlite:///"
    ]


def test_the_environment_is_checked_and_json_logs_cover_the_final_error(project: Project) -> None:
    project.write_source(
        {
            "id": "city",
            "name": "City",
            "homepage": "https://city.example",
            "discovery": [{"kind": "feed", "url": "https://city.example/rss.xml"}],
        }
    )
    invalid = run_scraper(
        "sources", "--config", project.config, cwd=project.root, env={"SCRAPER_LOG_FORMAT": "xml"}
    )
    assert invalid.returncode == 2
    assert invalid.stderr == "error: SCRAPER_LOG_FORMAT: 'xml' is not one of: text, json\n"

    misspelt = run_scraper(
        "sources", "--config", project.config, cwd=project.root, env={"SCRAPER_TIMEZOEN": "UTC"}
    )
    assert misspelt.returncode == 0
    assert misspelt.stderr.splitlines()[0] == (
        "warning: SCRAPER_TIMEZOEN is not a setting and is ignored (did you mean SCRAPER_TIMEZONE?)"
    )

    as_json = run_scraper(
        "crawl",
        "nope",
        "--config",
        project.config,
        cwd=project.root,
        env={"SCRAPER_LOG_FORMAT": "json"},
    )
    assert as_json.returncode == 2
    line = json.loads(as_json.stderr)
    assert line["level"] == "error"
    assert line["message"] == "unknown source 'nope' (known: city)"
