"""The daemon's HTTP endpoints: ``/healthz`` (JSON) and ``/metrics`` (Prometheus text).

A minimal HTTP/1.1 server on ``asyncio.start_server``, so it runs on the daemon's own
event loop (the one Scrapy's reactor drives) with no thread and no extra dependency. It
answers GET and HEAD for two paths, one request per connection, and gives up on a client
that does not send its request line and headers within a few seconds.

It binds 127.0.0.1 unless ``SCRAPER_HTTP_HOST`` says otherwise (``0.0.0.0`` in a
container, so the orchestrator's health check and Prometheus can reach it).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any

log = logging.getLogger(__name__)

HOST_ENV = "SCRAPER_HTTP_HOST"
DEFAULT_HOST = "127.0.0.1"
READ_TIMEOUT = 5.0
MAX_HEADER_BYTES = 16 * 1024
JSON_TYPE = "application/json; charset=utf-8"


@dataclass(frozen=True)
class Response:
    status: int
    body: bytes
    content_type: str = "text/plain; charset=utf-8"

    @classmethod
    def json(cls, status: int, payload: Mapping[str, Any]) -> Response:
        body = json.dumps(payload, ensure_ascii=False, indent=1, sort_keys=True) + "\n"
        return cls(status, body.encode("utf-8"), JSON_TYPE)

    @classmethod
    def text(cls, status: int, message: str) -> Response:
        return cls(status, (message + "\n").encode("utf-8"))


Handler = Callable[[], Response]


def bind_host(environ: Mapping[str, str] | None = None) -> str:
    value = (os.environ if environ is None else environ).get(HOST_ENV, "").strip()
    return value or DEFAULT_HOST


class HealthServer:
    """Serves ``routes`` (path -> handler) until ``close()``."""

    def __init__(self, routes: Mapping[str, Handler], host: str, port: int) -> None:
        self.routes = dict(routes)
        self.host = host
        self.port = port
        self._server: asyncio.Server | None = None

    async def start(self) -> int:
        """Listen; return the bound port (the one the OS picked when ``port`` is 0)."""
        self._server = await asyncio.start_server(
            self._serve, self.host, self.port, limit=MAX_HEADER_BYTES
        )
        sockets = self._server.sockets
        self.port = int(sockets[0].getsockname()[1]) if sockets else self.port
        return self.port

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            request = await asyncio.wait_for(_read_request(reader), READ_TIMEOUT)
            if request is None:
                return
            method, path = request
            response = self.respond(method, path)
            writer.write(_encode(response, head_only=method == "HEAD"))
            await writer.drain()
        except (TimeoutError, ConnectionError, asyncio.IncompleteReadError):
            pass  # the client went away or stalled: nothing to answer
        except asyncio.LimitOverrunError:
            writer.write(_encode(Response.text(431, "request headers too large"), False))
        except Exception:  # a broken handler must not kill the server
            log.exception("health endpoint failed")
        finally:
            writer.close()
            with contextlib.suppress(ConnectionError):
                await writer.wait_closed()

    def respond(self, method: str, target: str) -> Response:
        if method not in ("GET", "HEAD"):
            return Response.text(HTTPStatus.METHOD_NOT_ALLOWED, "use GET")
        path = target.split("?", 1)[0]
        handler = self.routes.get(path)
        if handler is None:
            known = ", ".join(sorted(self.routes))
            return Response.text(HTTPStatus.NOT_FOUND, f"not found; try {known}")
        try:
            return handler()
        except Exception as exc:
            log.exception("handler of %s failed", path)
            return Response.text(HTTPStatus.INTERNAL_SERVER_ERROR, f"error: {exc}")


async def _read_request(reader: asyncio.StreamReader) -> tuple[str, str] | None:
    """(method, target) of the request, after consuming its headers; None if malformed."""
    head = await reader.readuntil(b"\r\n\r\n")
    request_line = head.split(b"\r\n", 1)[0].decode("latin-1")
    parts = request_line.split()
    if len(parts) != 3 or not parts[2].startswith("HTTP/"):
        return None
    return parts[0].upper(), parts[1]


def _encode(response: Response, head_only: bool) -> bytes:
    reason = HTTPStatus(response.status).phrase
    headers = (
        f"HTTP/1.1 {response.status} {reason}\r\n"
        f"Content-Type: {response.content_type}\r\n"
        f"Content-Length: {len(response.body)}\r\n"
        "Cache-Control: no-store\r\n"
        "Connection: close\r\n\r\n"
    ).encode("latin-1")
    return headers if head_only else headers + response.body
