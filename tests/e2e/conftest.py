from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.cli import Project
from tests.support.http_server import LocalHTTPServer


@pytest.fixture
def server() -> Iterator[LocalHTTPServer]:
    with LocalHTTPServer() as running:
        yield running


@pytest.fixture
def project(tmp_path: Path, server: LocalHTTPServer) -> Project:
    project = Project(tmp_path, allowed=[server.authority])
    project.write_settings()
    return project
