"""The ``scraper`` entry point starts the fork server before the command line's imports,
for a crawl only."""

from __future__ import annotations

import subprocess
import sys

import pytest

from scraper.command import _command

# The real entry point, with the fork server's start replaced by a line that says whether
# the command line's module was imported by then.
PROGRAM = (
    "import sys, scraper.forkserver as f\n"
    "f.start_fork_server = lambda: print('fork server started; cli imported:',"
    " 'scraper.cli' in sys.modules)\n"
    "sys.argv = ['scraper', *sys.argv[1:]]\n"
    "from scraper.command import main\n"
    "main()\n"
)


def run_entry_point(*args: str) -> list[str]:
    done = subprocess.run(
        [sys.executable, "-c", PROGRAM, *args], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.splitlines()


def test_a_crawl_starts_the_fork_server_before_the_command_line_is_imported() -> None:
    lines = run_entry_point("crawl", "--help")

    assert lines[0] == "fork server started; cli imported: False"
    assert any(line.startswith("Usage: scraper crawl") for line in lines)


def test_other_commands_start_no_fork_server() -> None:
    lines = run_entry_point("db", "--help")

    assert not any(line.startswith("fork server started") for line in lines)
    assert any(line.startswith("Usage: scraper db") for line in lines)


@pytest.mark.parametrize(
    ("arguments", "command"),
    [
        (["crawl", "city"], "crawl"),
        (["--version"], None),
        (["db", "crawl"], "db"),
        ([], None),
    ],
)
def test_the_command_is_the_first_argument_that_is_no_option(
    arguments: list[str], command: str | None
) -> None:
    assert _command(arguments) == command


def test_a_crawl_does_not_load_courlan() -> None:
    """courlan (with babel, tld and urllib3: a tenth of a second) serves only
    `scraper db identities`; the modules a crawl's own process loads leave it out."""
    program = (
        "import sys, scraper.cli, scraper.crawl, scraper.runner, spiders\n"
        "print(sorted(m for m in ('courlan', 'babel', 'tld') if m in sys.modules))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", program], capture_output=True, text=True, timeout=60
    )

    assert done.returncode == 0, done.stderr
    assert done.stdout == "[]\n"
