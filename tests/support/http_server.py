"""A local HTTP server for tests: routes map paths to canned (mis)behaviour.

    with LocalHTTPServer() as server:
        server.route("/feed.xml", Route(body=feed_bytes, content_type="application/rss+xml"))
        server.route("/slow", Route(body=b"late", delay=2.0))      # slower than the timeout
        server.route("/reset", Route(reset=True))                  # TCP RST, no answer
        server.route("/garbage", Route(raw=b"NOT HTTP\r\n\r\n"))     # bytes, not HTTP
        server.route("/big", Route(body=b"x" * 10**6, content_length=False))
        server.route("/moved", Route.redirect("/elsewhere"))
        server.route("/echo", lambda request: Route(body=request.body))  # computed answer
        fetch(server.url("/feed.xml"))
        assert server.requests_to("/feed.xml")[0].method == "GET"

It listens on 127.0.0.1 on a free port, serves each connection in its own daemon thread
(HTTP/1.0: one request per connection, so "close" ends a body without Content-Length),
records every request, and answers 404 for paths it doesn't know (or asks its
``fallback`` handler). A route registered with a query string ("/search?q=x") wins over
the bare path ("/search").
"""

from __future__ import annotations

import contextlib
import socket
import struct
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any, Self
from urllib.parse import urlsplit


@dataclass(frozen=True)
class Route:
    """What the server answers on one path."""

    body: bytes | str = b""
    status: int = 200
    # None sends no Content-Type header at all.
    content_type: str | None = "text/html; charset=utf-8"
    headers: Mapping[str, str] = field(default_factory=dict)
    delay: float = 0.0  # seconds to wait before answering (to provoke timeouts)
    reset: bool = False  # abort the connection with a TCP RST instead of answering
    content_length: bool = True  # False: no Content-Length, the body ends at close
    raw: bytes | None = None  # sent as they are instead of an HTTP answer, then close

    @classmethod
    def redirect(cls, location: str, status: int = 302) -> Route:
        return cls(status=status, headers={"Location": location}, body=b"")

    def body_bytes(self) -> bytes:
        return self.body.encode("utf-8") if isinstance(self.body, str) else self.body


@dataclass(frozen=True)
class RecordedRequest:
    method: str
    path: str  # path and query, as sent
    headers: dict[str, str]
    body: bytes
    received_at: float = field(default_factory=time.monotonic)  # time.monotonic() clock


Handler = Route | Callable[[RecordedRequest], Route]
NOT_FOUND = Route(status=404, body=b"not found", content_type="text/plain")


class LocalHTTPServer:
    def __init__(
        self, routes: Mapping[str, Handler] | None = None, fallback: Handler | None = None
    ) -> None:
        self._routes: dict[str, Handler] = dict(routes or {})
        # Answers paths no route names (e.g. computed pages of a simulated site).
        self.fallback = fallback
        self._requests: list[RecordedRequest] = []
        self._lock = threading.Lock()
        self._httpd = _Server(("127.0.0.1", 0), _make_handler(self))
        self._thread: threading.Thread | None = None

    # --- lifecycle -----------------------------------------------------------------

    def start(self) -> Self:
        if self._thread is None:
            self._thread = threading.Thread(
                target=self._httpd.serve_forever, args=(0.05,), daemon=True
            )
            self._thread.start()
        return self

    def stop(self) -> None:
        if self._thread is not None:
            self._httpd.shutdown()
            self._thread.join(timeout=5)
            self._thread = None
        self._httpd.server_close()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # --- routes and addresses ------------------------------------------------------

    @property
    def port(self) -> int:
        return int(self._httpd.server_address[1])

    @property
    def authority(self) -> str:
        """The one entry a test puts in allow_private_addresses: "127.0.0.1:<port>"."""
        return f"127.0.0.1:{self.port}"

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def url(self, path: str = "/") -> str:
        return self.base_url + (path if path.startswith("/") else "/" + path)

    def route(self, path: str, handler: Handler) -> None:
        """Add or replace the answer for ``path`` (optionally with a query string)."""
        with self._lock:
            self._routes[path] = handler

    def routes(self, mapping: Mapping[str, Handler]) -> None:
        for path, handler in mapping.items():
            self.route(path, handler)

    def clear(self) -> None:
        """Forget all routes and recorded requests (to reuse one server across tests)."""
        with self._lock:
            self._routes.clear()
            self._requests.clear()

    # --- what was asked ------------------------------------------------------------

    @property
    def requests(self) -> list[RecordedRequest]:
        with self._lock:
            return list(self._requests)

    def requests_to(self, path: str) -> list[RecordedRequest]:
        """Requests whose path (ignoring the query unless ``path`` has one) is ``path``."""
        with_query = "?" in path
        return [
            r for r in self.requests if (r.path if with_query else urlsplit(r.path).path) == path
        ]

    # --- serving -------------------------------------------------------------------

    def _answer(self, request: RecordedRequest) -> Route:
        with self._lock:
            self._requests.append(request)
            handler = (
                self._routes.get(request.path)
                or self._routes.get(urlsplit(request.path).path)
                or self.fallback
            )
        if handler is None:
            return NOT_FOUND
        return handler if isinstance(handler, Route) else handler(request)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    # socketserver's default backlog of 5 drops a burst of concurrent connections, and a
    # dropped SYN is retried only after a second: long enough for a spurious timeout.
    request_queue_size = 128

    def shutdown_request(self, request: Any) -> None:
        # A reset connection is already closed; shutting it down again raises.
        with contextlib.suppress(OSError):
            super().shutdown_request(request)

    def handle_error(self, request: Any, client_address: Any) -> None:
        # Clients that give up (timeouts, max size) break pipes: expected here.
        pass


def _make_handler(server: LocalHTTPServer) -> type[BaseHTTPRequestHandler]:
    class _Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.0"

        def _serve(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            request = RecordedRequest(
                method=self.command, path=self.path, headers=dict(self.headers), body=body
            )
            route = server._answer(request)
            if route.delay:
                time.sleep(route.delay)
            if route.reset:
                self._reset()
                return
            if route.raw is not None:
                with contextlib.suppress(OSError):
                    self.wfile.write(route.raw)
                self.close_connection = True
                return
            self._send(route)

        def _send(self, route: Route) -> None:
            payload = route.body_bytes()
            try:
                self.send_response(route.status)
                if route.content_type is not None:
                    self.send_header("Content-Type", route.content_type)
                if route.content_length:
                    self.send_header("Content-Length", str(len(payload)))
                for name, value in route.headers.items():
                    self.send_header(name, value)
                self.send_header("Connection", "close")
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(payload)
            except (BrokenPipeError, ConnectionResetError):
                pass

        def _reset(self) -> None:
            # SO_LINGER with a zero timeout makes close() send RST instead of FIN.
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.connection.close()
            self.close_connection = True

        def finish(self) -> None:
            with contextlib.suppress(OSError, ValueError):
                super().finish()

        do_GET = do_POST = do_HEAD = do_PUT = do_DELETE = _serve

        def log_message(self, format: str, *args: Any) -> None:
            pass  # keep test output quiet

    return _Handler
