from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from scraper.config import (
    ConfigError,
    aggregator_label,
    load_settings,
    load_sources,
    load_sources_report,
    parse_duration,
)

PROJECT_CONFIG = Path(__file__).resolve().parents[2] / "config"

GOOD = """\
id: {id}
name: Example Gov
homepage: https://www.example.gov
schedule: {{every: 30m}}
discovery:
  - kind: feed
    url: https://www.example.gov/rss.xml
"""


def write_source(folder: Path, text: str, name: str = "example") -> Path:
    (folder / "sources").mkdir(parents=True, exist_ok=True)
    path = folder / "sources" / f"{name}.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_shipped_config_is_valid() -> None:
    sources = load_sources(PROJECT_CONFIG)
    source = sources["president-gov-ua"]
    assert source.language == "en"
    assert {c.kind for c in source.discovery} == {"gnews", "listing"}
    settings = load_settings(PROJECT_CONFIG, environ={})
    assert settings.timezone == "America/Sao_Paulo"
    assert settings.database_url is None


def test_defaults(tmp_path: Path) -> None:
    write_source(tmp_path, GOOD.format(id="example"))
    source = load_sources(tmp_path)["example"]
    assert source.type == "Notícias"
    assert source.schedule.every == timedelta(minutes=30)
    assert source.crawl.delay == 1.0 and source.crawl.robots
    assert aggregator_label(source.discovery[0]) == "RSS"


def test_source_timezone_is_optional_and_carried_to_the_workers(tmp_path: Path) -> None:
    from scraper.models import SourceDefaults

    write_source(tmp_path, GOOD.format(id="example"))
    write_source(tmp_path, GOOD.format(id="kyiv") + "timezone: Europe/Kyiv\n", name="kyiv")
    sources = load_sources(tmp_path)
    assert sources["example"].timezone is None
    assert SourceDefaults.of(sources["example"]).timezone is None
    assert SourceDefaults.of(sources["kyiv"]).timezone == "Europe/Kyiv"


def test_source_timezone_must_be_an_iana_zone(tmp_path: Path) -> None:
    path = write_source(tmp_path, GOOD.format(id="example") + "timezone: Kyiv\n")
    with pytest.raises(ConfigError) as raised:
        load_sources(tmp_path)
    assert str(raised.value) == (
        f"{path}: timezone: unknown time zone 'Kyiv': use an IANA name such as 'Europe/Kyiv'"
    )


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("30s", 30),
        ("30m", 1800),
        ("2h", 7200),
        ("1d", 86400),
        ("1h30m", 5400),
        ("0.5h", 1800),
    ],
)
def test_every_units(text: str, expected: int) -> None:
    assert parse_duration(text).total_seconds() == expected


@pytest.mark.parametrize(
    "text", ["", "30", "30x", "m", "-5m", "0s", "5 minutes", "3651d", "100000000d"]
)
def test_bad_durations(text: str) -> None:
    with pytest.raises(ValueError):
        parse_duration(text)


@pytest.mark.parametrize(
    ("change", "key", "problem"),
    [
        ("homepage: not-a-url", "homepage", "not an http(s) URL"),
        ("colour: blue", "colour", "unknown key"),
        ("schedule: {every: 30x}", "schedule.every", "bad duration"),
        ("schedule: {cron: '61 * * * *'}", "schedule.cron", "bad cron expression"),
        # February 31st: it parses, and the source would never run.
        ("schedule: {cron: '0 0 31 2 *'}", "schedule.cron", "never fires"),
        # Stopped the daemon at start with OverflowError (now + the interval).
        ("schedule: {every: 100000000d}", "schedule.every", "longer than 3650 days"),
        ("schedule: {every: 5m, cron: '* * * * *'}", "schedule", "exactly one"),
        ("language: english", "language", "ISO 639-1"),
        (
            "discovery: [{kind: listing, url: 'https://x.gov/', follow: '(('}]",
            "discovery[0].follow",
            "bad regular expression",
        ),
        (
            "discovery: [{kind: feed, url: 'ftp://x.gov/f'}]",
            "discovery[0].url",
            "not an http(s) URL",
        ),
        ("discovery: [{kind: carrier-pigeon}]", "discovery[0]", "kind"),
        (
            "discovery: [{kind: listing, url: 'https://x.gov/', follow: x, next: 'a[['}]",
            "discovery[0].next",
            "bad CSS selector",
        ),
        # A YAML escape typed by mistake: the record would drop it without a word.
        ('name: "Example\\0Gov"', "name", r"'Example\x00Gov' holds a control character (U+0000)"),
        ('type: "Not\\u00edcias\\n"', "type", "holds a control character (U+000A)"),
        (
            'discovery: [{kind: feed, url: "https://x.gov/f.xml", aggregator: "RSS\\e"}]',
            "discovery[0].aggregator",
            "holds a control character (U+001B)",
        ),
        (
            'discovery: [{kind: feed, url: "https://x.gov/f\\0.xml"}]',
            "discovery[0].url",
            "not an http(s) URL",
        ),
        ("discovery: []", "discovery", "at least 1"),
        ("crawl: {delay: -1}", "crawl.delay", "greater than or equal"),
    ],
)
def test_invalid_source_one_line_error(tmp_path: Path, change: str, key: str, problem: str) -> None:
    key_name = change.split(":")[0]
    lines = [
        line for line in GOOD.format(id="example").splitlines() if not line.startswith(key_name)
    ]
    if key_name == "discovery":
        lines = lines[:4]
    write_source(tmp_path, "\n".join([*lines, change]) + "\n")
    with pytest.raises(ConfigError) as info:
        load_sources(tmp_path)
    message = str(info.value)
    assert "\n" not in message
    assert "example.yaml" in message and key in message and problem in message


def test_a_next_page_selector_may_select_an_attribute(tmp_path: Path) -> None:
    # parse_listing takes "a.next::attr(href)"; the validator refused it as a
    # pseudo-element (cssselect's generic translator, not parsel's).
    lines = GOOD.format(id="example").splitlines()[:4]
    listing = "{kind: listing, url: 'https://x.gov/', follow: news, next: 'a.next::attr(href)'}"
    write_source(tmp_path, "\n".join([*lines, f"discovery: [{listing}]"]) + "\n")
    [source] = load_sources(tmp_path).values()
    assert source.discovery[0].next == "a.next::attr(href)"  # type: ignore[union-attr]


def test_id_must_repeat_file_name(tmp_path: Path) -> None:
    write_source(tmp_path, GOOD.format(id="other"))
    with pytest.raises(ConfigError, match="must repeat the file name"):
        load_sources(tmp_path)


def test_duplicate_ids_refused(tmp_path: Path) -> None:
    write_source(tmp_path, GOOD.format(id="example"))
    (tmp_path / "sources" / "example.yml").write_text(GOOD.format(id="example"))
    with pytest.raises(ConfigError, match="duplicate source id"):
        load_sources(tmp_path)


def test_broken_yaml_names_the_line(tmp_path: Path) -> None:
    write_source(tmp_path, "id: x\nname: [unclosed\n")
    with pytest.raises(ConfigError, match=r"example\.yaml: line \d+"):
        load_sources(tmp_path)


def test_settings_env_overrides_file_and_flags_override_env(tmp_path: Path) -> None:
    (tmp_path / "settings.yaml").write_text("timezone: UTC\noutput_dir: out\n")
    env = {
        "SCRAPER_TIMEZONE": "Europe/Kyiv",
        "SCRAPER_HOST_MAP": '{"https://a.gov": "http://127.0.0.1:1"}',
    }
    settings = load_settings(tmp_path, environ=env)
    assert settings.timezone == "Europe/Kyiv"
    assert settings.host_map == {"https://a.gov": "http://127.0.0.1:1"}
    assert settings.output_dir == Path("out")
    assert load_settings(tmp_path, environ=env, output_dir=Path("x")).output_dir == Path("x")


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("timezone: Mars/Olympus", "timezone: unknown time zone"),
        ("database_url: mysql://x", "database_url: must start with"),
        ("retries: many", "retries"),
        # YAML's infinity took the time limit off every download.
        ("download_timeout: .inf", "download_timeout: Input should be less than or equal to 3600"),
    ],
)
def test_bad_settings(tmp_path: Path, text: str, problem: str) -> None:
    (tmp_path / "settings.yaml").write_text(text)
    with pytest.raises(ConfigError, match=problem):
        load_settings(tmp_path, environ={})


def test_missing_sources_folder(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no sources folder"):
        load_sources(tmp_path)


# --- every problem at once, named where it came from ------------------------------------------

MANY_PROBLEMS = """\
id: several
name: Several
homepage: not-a-url
crawl: {dealy: 1, concurrency: 0}
discovery:
  - kind: feed
    ulr: https://www.example.gov/rss.xml
"""


def test_every_problem_of_every_invalid_file_one_line_each(tmp_path: Path) -> None:
    write_source(tmp_path, GOOD.format(id="good"), name="good")
    several = write_source(tmp_path, MANY_PROBLEMS, name="several")
    broken = write_source(tmp_path, "id: broken\nname: [unclosed\n", name="broken")
    renamed = write_source(tmp_path, GOOD.format(id="other") + "colour: red\n", name="renamed")
    duplicate = tmp_path / "sources" / "good.yml"
    duplicate.write_text(GOOD.format(id="good"))

    loaded = load_sources_report(tmp_path)

    assert list(loaded.sources) == ["good"]
    assert loaded.invalid[several] == [
        f"{several}: homepage: not an http(s) URL: 'not-a-url'",
        f"{several}: discovery[0].url: Field required",
        f"{several}: discovery[0].ulr: unknown key; did you mean 'url'?",
        f"{several}: crawl.concurrency: Input should be greater than or equal to 1",
        f"{several}: crawl.dealy: unknown key; did you mean 'delay'?",
    ]
    (broken_line,) = loaded.invalid[broken]
    assert broken_line.startswith(f"{broken}: line ")
    assert loaded.invalid[renamed] == [
        f"{renamed}: colour: unknown key (known: id, name, homepage, language, type, schedule, "
        "discovery, crawl, refresh, allow_crawl_time, timezone)",
        f"{renamed}: id: 'other' must repeat the file name 'renamed'",
    ]
    # Of two files with one id, the second is the invalid one.
    first = tmp_path / "sources" / "good.yaml"
    assert loaded.invalid[duplicate] == [
        f"{duplicate}: id: duplicate source id 'good' (also in {first})"
    ]
    assert loaded.problems_of("several") == loaded.invalid[several]
    assert len(loaded.errors) == 9
    with pytest.raises(ConfigError) as info:
        load_sources(tmp_path)
    assert str(info.value).splitlines() == loaded.errors


@pytest.mark.parametrize(
    ("settings", "line"),
    [
        ("timezon: UTC", "timezon: unknown key; did you mean 'timezone'?"),
        ("output: out", "output: unknown key; did you mean 'output_dir'?"),
        ("xyzzy: 1", "xyzzy: unknown key (known: timezone, output_dir, "),
    ],
)
def test_unknown_setting_suggests_the_closest_key(tmp_path: Path, settings: str, line: str) -> None:
    (tmp_path / "settings.yaml").write_text(settings + "\n")
    with pytest.raises(ConfigError) as info:
        load_settings(tmp_path, environ={})
    assert str(info.value).startswith(f"{tmp_path / 'settings.yaml'}: {line}")


def test_settings_problems_name_the_variable_or_flag_that_gave_the_value(tmp_path: Path) -> None:
    (tmp_path / "settings.yaml").write_text("retries: many\ndatabase_url: mysql://x\n")
    env = {"SCRAPER_DOWNLOAD_TIMEOUT": "soon", "SCRAPER_HOST_MAP": '{"https://a.gov": 1}'}
    flags = {"output_dir": "--output", "database_url": "--database"}
    with pytest.raises(ConfigError) as info:
        load_settings(tmp_path, environ=env, flags=flags, database_url="mysql://y")
    assert sorted(str(info.value).splitlines()) == sorted(
        [
            f"{tmp_path / 'settings.yaml'}: retries: Input should be a valid integer, "
            "unable to parse string as an integer",
            "SCRAPER_DOWNLOAD_TIMEOUT: Input should be a valid number, "
            "unable to parse string as a number",
            "SCRAPER_HOST_MAP: https://a.gov: Input should be a valid string",
            "--database: must start with postgresql://, postgres:// or sqlite:///",
        ]
    )


def test_a_good_flag_or_variable_hides_the_bad_value_it_overrides(tmp_path: Path) -> None:
    (tmp_path / "settings.yaml").write_text("database_url: mysql://x\n")
    env = {"SCRAPER_DATABASE_URL": "mysql://y"}
    settings = load_settings(
        tmp_path, environ=env, flags={"database_url": "--database"}, database_url="sqlite:///a.db"
    )
    assert settings.database_url == "sqlite:///a.db"
    with pytest.raises(ConfigError, match=r"^SCRAPER_DATABASE_URL: must start with"):
        load_settings(tmp_path, environ=env)


def test_sqlite_urls_name_relative_and_absolute_files(tmp_path: Path) -> None:
    from scraper.storage.open import sqlite_path

    def path_of(url: str | None) -> Path | None:
        return sqlite_path(load_settings(tmp_path, environ={}, database_url=url))

    assert path_of(None) == Path("data/scraper.db")
    assert path_of("sqlite:///data/news.db") == Path("data/news.db")  # the working directory's
    assert path_of("sqlite:////var/lib/news.db") == Path("/var/lib/news.db")
    assert path_of("postgresql://postgres@127.0.0.1/test") is None
