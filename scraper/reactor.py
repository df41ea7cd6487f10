"""Running coroutines inside Scrapy's asyncio Twisted reactor, from blocking code.

Twisted's reactor cannot be restarted, so a process runs it once: the CLI's crawl runs
one coroutine to completion; the daemon runs its whole life inside it.
"""

from __future__ import annotations

import gc
import signal
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

from scrapy.utils.defer import deferred_from_coro
from scrapy.utils.reactor import install_reactor

T = TypeVar("T")

ASYNCIO_REACTOR = "twisted.internet.asyncioreactor.AsyncioSelectorReactor"


def run_in_reactor(
    main: Callable[[], Coroutine[Any, Any, T]],
    on_signal: Callable[[int], None] | None = None,
) -> T:
    """Install the asyncio reactor, run ``main()`` in it and return its result.

    SIGINT/SIGTERM call ``on_signal`` (inside the reactor) so the caller can stop
    gracefully; a second signal stops the reactor at once."""
    install_reactor(ASYNCIO_REACTOR)
    from twisted.internet import reactor as installed
    from twisted.python.failure import Failure

    reactor: Any = installed  # the interface stubs don't describe the installed class

    outcome: list[Any] = []
    signals_seen = 0

    def handle(signum: int, _frame: object) -> None:
        nonlocal signals_seen
        signals_seen += 1
        if signals_seen > 1 or on_signal is None:
            reactor.callFromThread(reactor.stop)
        else:
            reactor.callFromThread(on_signal, signum)

    if on_signal is not None:
        signal.signal(signal.SIGINT, handle)
        signal.signal(signal.SIGTERM, handle)

    def finish(result: Any) -> None:
        outcome.append(result)
        if reactor.running:
            reactor.stop()

    def start() -> None:
        deferred_from_coro(main()).addBoth(finish)

    reactor.callWhenRunning(start)
    # What is loaded by now (modules, the command line's objects, settings) lives as long
    # as the process: kept out of the garbage collector's passes, which then walk only
    # the objects made since (~2% of a crawl process's CPU, its full collections).
    gc.freeze()
    reactor.run(installSignalHandlers=False)
    if not outcome:
        raise KeyboardInterrupt("stopped before the work finished")
    result = outcome[0]
    if isinstance(result, Failure):
        result.raiseException()
    return result  # type: ignore[no-any-return]
