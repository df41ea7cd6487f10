"""Settings (config/settings.yaml) and sources (config/sources/<id>.yaml), validated on load.

Every problem is reported as one line naming the file, the key and what is wrong, so an
operator can fix a bad file without reading a traceback.
"""

from __future__ import annotations

import json
import os
import re
from datetime import timedelta
from pathlib import Path
from typing import Annotated, Any, Literal
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
_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)([smhd])")
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


class ConfigError(Exception):
    """A configuration file is missing, unreadable or invalid (message is one line)."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _http_url(value: str) -> str:
    value = value.strip()
    if not re.match(r"^https?://[^\s/?#]+[^\s]*$", value):
        raise ValueError(f"not an http(s) URL: {value!r}")
    return value


def parse_duration(text: str) -> timedelta:
    """``90s``, ``30m``, ``1h30m``, ``2d``: a positive duration."""
    text = str(text).strip().replace(" ", "")
    if not text or _DURATION_PART.sub("", text):
        raise ValueError(f"bad duration {text!r}: use a number with s, m, h or d (e.g. 30m)")
    seconds = sum(float(n) * _UNIT_SECONDS[u] for n, u in _DURATION_PART.findall(text))
    if seconds <= 0:
        raise ValueError(f"duration {text!r} must be positive")
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
                CronTrigger.from_crontab(value)
            except ValueError as exc:
                raise ValueError(f"bad cron expression {value!r}: {exc}") from exc
        return value

    @model_validator(mode="after")
    def _exactly_one(self) -> Schedule:
        if (self.every is None) == (self.cron is None):
            raise ValueError("give exactly one of 'every' or 'cron'")
        return self


class _Channel(_Strict):
    aggregator: str | None = None


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
            from cssselect import GenericTranslator, SelectorError

            try:
                GenericTranslator().css_to_xpath(value)
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


Channel = Annotated[
    FeedChannel | SitemapChannel | ListingChannel | GNewsChannel, Field(discriminator="kind")
]

DEFAULT_AGGREGATOR = {"feed": "RSS", "sitemap": "Sitemap", "listing": "Web", "gnews": "GNews"}


def aggregator_label(channel: FeedChannel | SitemapChannel | ListingChannel | GNewsChannel) -> str:
    return channel.aggregator or DEFAULT_AGGREGATOR[channel.kind]


class CrawlPolicy(_Strict):
    delay: float = Field(default=1.0, ge=0, le=3600)
    concurrency: int = Field(default=2, ge=1, le=64)
    robots: bool = True


class Source(_Strict):
    id: str
    name: str = Field(min_length=1)
    homepage: str
    language: str | None = None
    type: str = "Notícias"
    schedule: Schedule = Schedule(every=timedelta(hours=1))
    discovery: list[Channel] = Field(min_length=1)
    crawl: CrawlPolicy = CrawlPolicy()
    # Use the crawl time when neither the channel nor the page gives a publication date.
    allow_crawl_time: bool = False

    _check_homepage = field_validator("homepage")(_http_url)

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


class Settings(_Strict):
    timezone: str = "America/Sao_Paulo"
    output_dir: Path = Path("data/articles")
    database_url: str | None = None
    # The embedded SQLite database used when database_url is not set.
    sqlite_path: Path = Path("data/scraper.db")
    user_agent: str = DEFAULT_USER_AGENT
    download_timeout: float = Field(default=30.0, gt=0)
    max_download_size: int = Field(default=10 * 1024 * 1024, gt=1024)
    retries: int = Field(default=3, ge=0, le=10)
    # Processes that run extraction; the crawl's event loop never does.
    workers: int = Field(default_factory=lambda: max(1, os.cpu_count() or 1), ge=1, le=64)
    # Fetch "https://site" from another origin (a mirror, or a local server in tests);
    # documents keep the original URLs.
    host_map: dict[str, str] = Field(default_factory=dict)
    http_port: int = Field(default=9410, ge=0, le=65535)
    max_concurrent_sources: int = Field(default=8, ge=1, le=256)

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown time zone {value!r}") from exc
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


def _describe(path: Path, error: ValidationError) -> str:
    first = error.errors()[0]
    # pydantic puts the channel's kind (its union tag) into the location: drop it.
    loc = [
        part
        for i, part in enumerate(first["loc"])
        if not (i and isinstance(first["loc"][i - 1], int) and part in DEFAULT_AGGREGATOR)
    ]
    key = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in loc)
    key = key.lstrip(".") or "(top level)"
    message = str(first["msg"]).removeprefix("Value error, ")
    more = len(error.errors()) - 1
    suffix = f" (and {more} more problem{'s' if more > 1 else ''})" if more else ""
    return f"{path}: {key}: {message}{suffix}"


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
        if info.annotation is not None and "dict" in str(info.annotation):
            try:
                overrides[name] = json.loads(raw)
            except json.JSONDecodeError as exc:
                raise ConfigError(f"SCRAPER_{name.upper()}: expected JSON: {exc}") from exc
        else:
            overrides[name] = raw
    return overrides


def load_settings(
    config_dir: Path, environ: dict[str, str] | None = None, **overrides: Any
) -> Settings:
    """settings.yaml (optional) < SCRAPER_* environment < explicit overrides (CLI flags)."""
    path = config_dir / "settings.yaml"
    data = _read_yaml(path) if path.exists() else {}
    data.update(_env_overrides(dict(os.environ if environ is None else environ)))
    data.update({k: v for k, v in overrides.items() if v is not None})
    try:
        return Settings.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(_describe(path, exc)) from exc


def load_source(path: Path) -> Source:
    data = _read_yaml(path)
    try:
        source = Source.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(_describe(path, exc)) from exc
    if source.id != path.stem:
        raise ConfigError(f"{path}: id: {source.id!r} must repeat the file name {path.stem!r}")
    return source


def load_sources(config_dir: Path) -> dict[str, Source]:
    """All sources of ``config_dir/sources``, by id. Raises ConfigError on the first bad file."""
    folder = config_dir / "sources"
    if not folder.is_dir():
        raise ConfigError(f"{folder}: no sources folder (expected {folder}/<id>.yaml files)")
    sources: dict[str, Source] = {}
    files = sorted([*folder.glob("*.yaml"), *folder.glob("*.yml")])
    for path in files:
        source = load_source(path)
        if source.id in sources:
            raise ConfigError(f"{path}: id: duplicate source id {source.id!r}")
        sources[source.id] = source
    return sources
