"""The ``scraper`` command's entry point.

A crawl starts the extraction workers' fork server (``scraper.forkserver``) before the
command line's own imports (typer, the configuration's models, ~0.3 s of CPU), which
then run beside it. Whether the command is a crawl is read from the arguments as typer
will: the first one that is not an option (the only option before a command,
``--version``, takes no value)."""

from __future__ import annotations

import os
import sys


def main() -> None:
    # As scraper.cli.main does, but before the fork server starts: it inherits this.
    os.environ.setdefault("PYTHONIOENCODING", "utf-8")
    if _command(sys.argv[1:]) == "crawl":
        from scraper.forkserver import start_fork_server

        start_fork_server()
    from scraper.cli import main as cli_main

    cli_main()


def _command(arguments: list[str]) -> str | None:
    return next((argument for argument in arguments if not argument.startswith("-")), None)
