"""Settings (config/settings.yaml) and sources (config/sources/<id>.yaml), validated on load.

Every problem is reported as one line naming the file, the key and what is wrong, so an
operator can fix a bad file without reading a traceback.
"""

from __future__ import annotations

import difflib
import json
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import UnionType
from typing import Annotated, Any, Literal, Union, get_args, get_origin
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

DEFAULT_USER_AGENT = "news-scraper/0.1 (+https://github.com/news-scraper; news aggregation bot)"
_SLUG = re.compile(r"^[a-z0-9][a-z0-9_-]*$")
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")  # C0 and C1, tab and line breaks included
_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)([smhd])")
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


class ConfigError(Exception):
    """A configuration file is missing, unreadable or invalid (message: one line per
    problem)."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _http_url(value: str) -> str:
    value = value.strip()
    if not re.match(r"^https?://[^\s/?#]+[^\s]*$", value) or _CONTROL.search(value):
        raise ValueError(f"not an http(s) URL: {value!r}")
    return value


def _one_line(value: str | None) -> str | None:
    """A name written into every record (Origem, Tipo, Agregador): control characters
    there are a typo ("\\0" in a YAML string is one), which the record would lose
    without a word."""
    if value is not None and (found := _CONTROL.search(value)):
        raise ValueError(f"{value!r} holds a control character (U+{ord(found[0]):04X})")
    return value


def _iana_zone(value: str) -> str:
    """``value`` when it names an IANA time zone ("Europe/Kyiv")."""
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError(
            f"unknown time zone {value!r}: use an IANA name such as 'Europe/Kyiv'"
        ) from exc
    return value


# Ten years: a schedule or window longer than that is a typo, and a date that far on (or
# back) from now is where the scheduler's arithmetic overflows ("every: 100000000d"
# stopped the daemon at start with OverflowError).
MAX_DURATION = timedelta(days=3650)


def parse_duration(text: str) -> timedelta:
    """``90s``, ``30m``, ``1h30m``, ``2d``: a positive duration."""
    text = str(text).strip().replace(" ", "")
    if not text or _DURATION_PART.sub("", text):
        raise ValueError(f"bad duration {text!r}: use a number with s, m, h or d (e.g. 30m)")
    seconds = sum(float(n) * _UNIT_SECONDS[u] for n, u in _DURATION_PART.findall(text))
    if seconds <= 0:
        raise ValueError(f"duration {text!r} must be positive")
    if seconds > MAX_DURATION.total_seconds():
        raise ValueError(f"duration {text!r} is longer than {MAX_DURATION.days} days")
    return timedelta(seconds=seconds)


class Schedule(_Strict):
    every: timedelta | None = None
    cron: str | None = None

    @field_validator("every", mode="before")
    @classmethod
    def _every(cls, value: Any) -> Any:
        if value is None or isinstance(value, timedelta):
            return value
        return parse_duration(value)

    @field_validator("cron")
    @classmethod
    def _cron(cls, value: str | None) -> str | None:
        if value is not None:
            from apscheduler.triggers.cron import CronTrigger

            try:
                trigger = CronTrigger.from_crontab(value, timezone=UTC)
            except ValueError as exc:
                raise ValueError(f"bad cron expression {value!r}: {exc}") from exc
            # "0 0 31 2 *" (February 31st) parses, and the source would never run.
            if trigger.get_next_fire_time(None, datetime.now(UTC)) is None:
                raise ValueError(f"cron expression {value!r} never fires")
        return value

    @model_validator(mode="after")
    def _exactly_one(self) -> Schedule:
        if (self.every is None) == (self.cron is None):
            raise ValueError("give exactly one of 'every' or 'cron'")
        return self


class _Channel(_Strict):
    aggregator: str | None = None
    _check_aggregator = field_validator("aggregator")(_one_line)


class FeedChannel(_Channel):
    kind: Literal["feed"]
    url: str
    _check_url = field_validator("url")(_http_url)


class SitemapChannel(_Channel):
    kind: Literal["sitemap"]
    url: str
    _check_url = field_validator("url")(_http_url)


class ListingChannel(_Channel):
    kind: Literal["listing"]
    url: str
    follow: str
    next: str | None = None
    max_pages: int = Field(default=1, ge=1, le=1000)
    _check_url = field_validator("url")(_http_url)

    @field_validator("follow")
    @classmethod
    def _regex(cls, value: str) -> str:
        try:
            re.compile(value)
        except re.error as exc:
            raise ValueError(f"bad regular expression {value!r}: {exc}") from exc
        return value

    @field_validator("next")
    @classmethod
    def _css(cls, value: str | None) -> str | None:
        if value is not None:
            from cssselect import SelectorError
            from parsel.csstranslator import HTMLTranslator

            try:
                # parsel's own, which the listing spider uses: ::attr(href) and ::text
                # too (cssselect's generic one refused them as pseudo-elements).
                HTMLTranslator().css_to_xpath(value)
            except SelectorError as exc:
                raise ValueError(f"bad CSS selector {value!r}: {exc}") from exc
        return value


class GNewsChannel(_Channel):
    kind: Literal["gnews"]
    query: str = Field(min_length=1)
    hl: str = "en-US"
    gl: str = "US"
    ceid: str = "US:en"
    base_url: str = "https://news.google.com"
    _check_url = field_validator("base_url")(_http_url)


class UrlsChannel(_Channel):
    """Article URLs given one by one (``scraper crawl --urls FILE``, or a source that
    follows a fixed set of pages)."""

    kind: Literal["urls"]
    urls: list[str] = Field(min_length=1)

    @field_validator("urls")
    @classmethod
    def _http_urls(cls, values: list[str]) -> list[str]:
        return [_http_url(value) for value in values]


AnyChannel = FeedChannel | SitemapChannel | ListingChannel | GNewsChannel | UrlsChannel
Channel = Annotated[AnyChannel, Field(discriminator="kind")]

DEFAULT_AGGREGATOR = {
    "feed": "RSS",
    "sitemap": "Sitemap",
    "listing": "Web",
    "gnews": "GNews",
    "urls": "Web",
}


def aggregator_label(channel: AnyChannel) -> str:
    return channel.aggregator or DEFAULT_AGGREGATOR[channel.kind]


class CrawlPolicy(_Strict):
    delay: float = Field(default=1.0, ge=0, le=3600)
    concurrency: int = Field(default=2, ge=1, le=64)
    robots: bool = True


_ZERO_DURATION = re.compile(r"0+(?:\.0+)?[smhd]?")


class RefreshPolicy(_Strict):
    """Which stored articles are fetched again to pick up changes: those published
    within ``window`` of now (0 turns this off) whose last fetch is at least ``every``
    old. Outside the window only a channel's modification time brings an article back."""

    window: timedelta = timedelta(days=2)
    every: timedelta = timedelta(hours=6)

    @field_validator("window", mode="before")
    @classmethod
    def _window(cls, value: Any) -> Any:
        if isinstance(value, timedelta):
            return value
        if _ZERO_DURATION.fullmatch(str(value).strip()):
            return timedelta(0)
        try:
            return parse_duration(value)
        except ValueError as exc:
            raise ValueError(f"{exc}, or 0 to never refresh") from exc

    @field_validator("every", mode="before")
    @classmethod
    def _every(cls, value: Any) -> Any:
        return value if isinstance(value, timedelta) else parse_duration(value)

    @model_validator(mode="after")
    def _signs(self) -> RefreshPolicy:
        # Reached by timedelta values given in code; YAML strings are checked above.
        if self.window < timedelta(0) or self.every <= timedelta(0):
            raise ValueError("window must be 0 or positive, every positive")
        return self


class Source(_Strict):
    id: str
    name: str = Field(min_length=1)
    homepage: str
    language: str | None = None
    type: str = "Notícias"
    schedule: Schedule = Schedule(every=timedelta(hours=1))
    discovery: list[Channel] = Field(min_length=1)
    crawl: CrawlPolicy = CrawlPolicy()
    # Fetch recent articles again to pick up corrections: {window: 2d, every: 6h}.
    refresh: RefreshPolicy = RefreshPolicy()
    # Use the crawl time when neither the channel nor the page gives a publication date.
    allow_crawl_time: bool = False
    # The IANA zone the publisher writes its local times in: a date with a time but no
    # UTC offset (feed, sitemap or page) is read in it. Unset: read in the output zone.
    timezone: str | None = None

    _check_homepage = field_validator("homepage")(_http_url)
    _check_names = field_validator("name", "type")(_one_line)

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str | None) -> str | None:
        return None if value is None else _iana_zone(value)

    @field_validator("id")
    @classmethod
    def _slug(cls, value: str) -> str:
        if not _SLUG.match(value):
            raise ValueError(f"{value!r} is not a slug (lower-case letters, digits, - and _)")
        return value

    @field_validator("language")
    @classmethod
    def _iso639_1(cls, value: str | None) -> str | None:
        if value is not None and not re.fullmatch(r"[a-z]{2}", value):
            raise ValueError(f"{value!r} is not a two-letter ISO 639-1 code")
        return value


def _usable_cpus() -> int:
    from scraper.workers import usable_cpus

    return usable_cpus()


class Settings(_Strict):
    timezone: str = "America/Sao_Paulo"
    output_dir: Path = Path("data/articles")
    database_url: str | None = None
    # The embedded SQLite database used when database_url is not set.
    sqlite_path: Path = Path("data/scraper.db")
    user_agent: str = DEFAULT_USER_AGENT
    # At most an hour: ".inf" (YAML's infinity) would take the time limit off downloads.
    download_timeout: float = Field(default=30.0, gt=0, le=3600)
    max_download_size: int = Field(default=10 * 1024 * 1024, gt=1024)
    # Entries used from one feed, sitemap, Google News feed or listing page; the rest
    # are counted as skipped, so a hostile document can't queue a million requests.
    max_items_per_channel: int = Field(default=10_000, ge=1)
    retries: int = Field(default=3, ge=0, le=10)
    # Processes that run extraction; the crawl's event loop never does.
    # Default: the CPUs this process may use (affinity, cgroup quota), at most 8.
    workers: int = Field(default_factory=_usable_cpus, ge=1, le=64)
    # Address space of each extraction worker, in bytes; a page that needs more is skipped
    # ("extraction memory limit"). A worker with trafilatura loaded maps ~175 MiB.
    worker_memory_limit: int = Field(default=1024**3, ge=256 * 1024**2)
    # Fetch "https://site" from another origin (a mirror, or a local server in tests);
    # documents keep the original URLs.
    host_map: dict[str, str] = Field(default_factory=dict)
    http_port: int = Field(default=9410, ge=0, le=65535)
    max_concurrent_sources: int = Field(default=8, ge=1, le=256)
    # A fleet's failed, aborted and cancelled jobs (successful ones are deleted as they
    # end) are deleted this many days after they ended.
    fleet_job_retention_days: int = Field(default=14, ge=1, le=MAX_DURATION.days)
    # Non-public addresses the crawl may reach anyway (scraper.guard): "127.0.0.1:8080",
    # "10.0.0.0/8", "intranet.example.org". Everything else must be a public address.
    allow_private_addresses: list[str] = Field(default_factory=list)

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str) -> str:
        return _iana_zone(value)

    @field_validator("allow_private_addresses")
    @classmethod
    def _allowed(cls, value: list[str]) -> list[str]:
        from scraper.addresses import AllowedEntry

        for entry in value:
            AllowedEntry.parse(entry)  # ValueError names the bad entry
        return value

    @field_validator("database_url")
    @classmethod
    def _db(cls, value: str | None) -> str | None:
        if value in (None, "", "null"):
            return None
        assert value is not None
        if not value.startswith(("postgresql://", "postgres://", "sqlite:///")):
            raise ValueError("must start with postgresql://, postgres:// or sqlite:///")
        return value

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)


def _clean_loc(loc: tuple[int | str, ...]) -> list[int | str]:
    # pydantic puts the channel's kind (its union tag) into the location: drop it.
    return [
        part
        for i, part in enumerate(loc)
        if not (i and isinstance(loc[i - 1], int) and part in DEFAULT_AGGREGATOR)
    ]


def _key_text(loc: Sequence[int | str]) -> str:
    key = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in loc)
    return key.lstrip(".")


def _unwrap(annotation: Any) -> Any:
    """``annotation`` without Annotated[...] and Optional[...]."""
    while True:
        if get_origin(annotation) is Annotated:
            annotation = get_args(annotation)[0]
            continue
        if get_origin(annotation) in (Union, UnionType):
            members = [m for m in get_args(annotation) if m is not type(None)]
            if len(members) == 1:
                annotation = members[0]
                continue
        return annotation


def _step(annotation: Any, part: int | str) -> Any:
    """The type found at ``part`` inside a value of type ``annotation`` (None: unknown)."""
    annotation = _unwrap(annotation)
    origin = get_origin(annotation)
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        info = annotation.model_fields.get(str(part))
        return info.annotation if info is not None else None
    if origin in (list, tuple) and isinstance(part, int):
        return get_args(annotation)[0]
    if origin is dict:
        return get_args(annotation)[1]
    if origin in (Union, UnionType):  # a tagged union (channels): ``part`` is the tag
        for member in map(_unwrap, get_args(annotation)):
            kind = getattr(member, "model_fields", {}).get("kind")
            if kind is not None and part in get_args(kind.annotation):
                return member
    return None


def _unknown_key(model: type[BaseModel], loc: tuple[int | str, ...]) -> str:
    """The message for an unknown key: with the closest known key there, if any."""
    annotation: Any = model
    for part in loc[:-1]:
        annotation = _step(annotation, part)
    annotation = _unwrap(annotation)
    known = (
        list(annotation.model_fields)
        if isinstance(annotation, type) and issubclass(annotation, BaseModel)
        else []
    )
    close = difflib.get_close_matches(str(loc[-1]), known, n=1)
    if close:
        return f"unknown key; did you mean {close[0]!r}?"
    return f"unknown key (known: {', '.join(known)})" if known else "unknown key"


def _describe(
    path: Path,
    error: ValidationError,
    model: type[BaseModel],
    origins: Mapping[str, str] | None = None,
) -> list[str]:
    """One line per problem: where the value came from, the key and what is wrong.

    ``origins`` names, per top-level key, the environment variable or flag that gave
    it: the line then starts with that name instead of the file's path."""
    lines = []
    for problem in error.errors():
        loc = problem["loc"]
        if problem["type"] == "extra_forbidden":
            message = _unknown_key(model, loc)
        else:
            message = str(problem["msg"]).removeprefix("Value error, ")
        key = _clean_loc(loc)
        origin = (origins or {}).get(str(key[0])) if key else None
        if origin is not None:  # the variable or flag names the top-level key itself
            lines.append(": ".join(filter(None, [origin, _key_text(key[1:]), message])))
        else:
            lines.append(f"{path}: {_key_text(key) or '(top level)'}: {message}")
    return lines


def _read_yaml(path: Path) -> dict[str, Any]:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc.strerror or exc}") from exc
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}: " if mark is not None else ""
        problem = getattr(exc, "problem", None) or "invalid YAML"
        raise ConfigError(f"{path}: {where}{problem}") from exc
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: (top level): expected a mapping of keys to values")
    return data


def _env_overrides(environ: dict[str, str]) -> dict[str, Any]:
    overrides: dict[str, Any] = {}
    for name, info in Settings.model_fields.items():
        raw = environ.get(f"SCRAPER_{name.upper()}")
        if raw is None:
            continue
        if info.annotation is not None and str(info.annotation).startswith(("dict", "list")):
            try:
                overrides[name] = json.loads(raw)
            except json.JSONDecodeError as exc:
                raise ConfigError(f"SCRAPER_{name.upper()}: expected JSON: {exc}") from exc
        else:
            overrides[name] = raw
    return overrides


# SCRAPER_* variables that are not settings but are read elsewhere (the config folder,
# the log format, the test suite and the benchmarks).
OTHER_VARIABLES = (
    "SCRAPER_CONFIG",
    "SCRAPER_LOG_FORMAT",
    "SCRAPER_TEST_DATABASE_URL",
    "SCRAPER_CORPUS_DIR",
)


def unknown_variables(environ: Mapping[str, str] | None = None) -> list[str]:
    """One warning per SCRAPER_* environment variable that nothing reads (a misspelt
    setting would otherwise be ignored in silence), with the closest known name."""
    env = os.environ if environ is None else environ
    known = [f"SCRAPER_{name.upper()}" for name in Settings.model_fields] + list(OTHER_VARIABLES)
    warnings = []
    for name in sorted(env):
        if name.startswith("SCRAPER_") and name not in known:
            close = difflib.get_close_matches(name, known, n=1)
            hint = f" (did you mean {close[0]}?)" if close else ""
            warnings.append(f"{name} is not a setting and is ignored{hint}")
    return warnings


def load_settings(
    config_dir: Path,
    environ: Mapping[str, str] | None = None,
    flags: Mapping[str, str] | None = None,
    **overrides: Any,
) -> Settings:
    """settings.yaml (optional) < SCRAPER_* environment < explicit overrides (CLI flags).

    ``flags`` names the command-line flag of an override (``{"database_url":
    "--database"}``): a problem is reported against the variable or flag that gave the
    value, not settings.yaml. ConfigError lists every problem, one line each."""
    path = config_dir / "settings.yaml"
    data = _read_yaml(path) if path.exists() else {}
    environment = _env_overrides(dict(os.environ if environ is None else environ))
    given = {k: v for k, v in overrides.items() if v is not None}
    origins = {key: f"SCRAPER_{key.upper()}" for key in environment}
    origins.update({key: (flags or {}).get(key, f"{key} override") for key in given})
    data.update(environment)
    data.update(given)
    try:
        return Settings.model_validate(data)
    except ValidationError as exc:
        raise ConfigError("\n".join(_describe(path, exc, Settings, origins))) from exc


@dataclass(frozen=True)
class SourcesLoad:
    """The valid sources of a config folder by id, and the problems of the invalid files
    (file -> one line per problem). An invalid file never hides the valid ones."""

    sources: dict[str, Source]
    invalid: dict[Path, list[str]]

    @property
    def errors(self) -> list[str]:
        return [line for lines in self.invalid.values() for line in lines]

    def problems_of(self, source_id: str) -> list[str]:
        """The problems of the invalid file of ``source_id`` (the file name repeats the id)."""
        return [
            line for path, lines in self.invalid.items() if path.stem == source_id for line in lines
        ]


def _check_source(path: Path) -> tuple[Source | None, list[str]]:
    """The source of ``path``, or None and every problem of the file."""
    try:
        data = _read_yaml(path)
    except ConfigError as exc:
        return None, [str(exc)]
    problems: list[str] = []
    source: Source | None = None
    try:
        source = Source.model_validate(data)
    except ValidationError as exc:
        problems = _describe(path, exc, Source)
    given_id = data.get("id")
    if isinstance(given_id, str) and given_id != path.stem:
        problems.append(f"{path}: id: {given_id!r} must repeat the file name {path.stem!r}")
    return (None if problems else source), problems


def load_source(path: Path) -> Source:
    source, problems = _check_source(path)
    if source is None:
        raise ConfigError("\n".join(problems))
    return source


def load_sources_report(config_dir: Path) -> SourcesLoad:
    """Every valid source of ``config_dir/sources`` and every problem of the others.

    Raises ConfigError only when there is no sources folder at all. Of two files with
    one id, the second is the invalid one."""
    folder = config_dir / "sources"
    if not folder.is_dir():
        raise ConfigError(f"{folder}: no sources folder (expected {folder}/<id>.yaml files)")
    sources: dict[str, Source] = {}
    files: dict[str, Path] = {}
    invalid: dict[Path, list[str]] = {}
    for path in sorted([*folder.glob("*.yaml"), *folder.glob("*.yml")]):
        source, problems = _check_source(path)
        if source is not None and source.id in sources:
            problems = [
                f"{path}: id: duplicate source id {source.id!r} (also in {files[source.id]})"
            ]
        if source is None or problems:
            invalid[path] = problems
        else:
            sources[source.id], files[source.id] = source, path
    return SourcesLoad(sources, invalid)


def load_sources(config_dir: Path) -> dict[str, Source]:
    """All sources of ``config_dir/sources``, by id, or ConfigError listing every problem
    of every invalid file (one line each)."""
    loaded = load_sources_report(config_dir)
    if loaded.invalid:
        raise ConfigError("\n".join(loaded.errors))
    return loaded.sources
