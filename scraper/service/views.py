"""/healthz and /metrics of a long-running process (served by scraper.health)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from http import HTTPStatus
from typing import Any

from scraper.health import Response
from scraper.metrics import CONTENT_TYPE, DaemonMetrics
from scraper.schedule import SourceState
from scraper.service.reload import iso


def health_response(
    *,
    serving: bool,
    stopping: bool,
    started_at: datetime,
    now: datetime,
    sources: int,
    running: Iterable[str],
    waiting: int,
    failing: Iterable[str],
    database: Mapping[str, Any],
    config: Mapping[str, Any],
    states: Mapping[str, SourceState],
    extra: Mapping[str, Any] | None = None,
) -> Response:
    """200 with the process's state while it is ``serving`` (scheduling or taking jobs);
    503 while starting or stopping."""
    status = "ok" if serving else "stopping" if stopping else "not scheduling"
    payload = {
        "status": status,
        "uptime_seconds": round((now - started_at).total_seconds(), 1),
        "started_at": started_at.isoformat(timespec="seconds"),
        "sources": sources,
        "running": sorted(running),
        "waiting": waiting,
        "failing": sorted(failing),
        "database": dict(database),
        "config": dict(config),
        "last_success": {i: iso(s.last_success) for i, s in sorted(states.items())},
        **(extra or {}),
    }
    code = HTTPStatus.OK if serving else HTTPStatus.SERVICE_UNAVAILABLE
    return Response.json(code, payload)


def metrics_response(metrics: DaemonMetrics, service: object) -> Response:
    cache_sizes = getattr(service, "cache_sizes", None)
    if cache_sizes is not None:
        metrics.set_caches(cache_sizes())
    return Response(HTTPStatus.OK, metrics.render(), CONTENT_TYPE)
