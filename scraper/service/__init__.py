"""The parts a long-running crawl process is made of, shared by the single-node daemon
(``scraper.daemon``, APScheduler) and a fleet worker (``scraper.fleet.worker``,
procrastinate), one module per concern:

- ``job``: the crawl job, one source and one run (start_run -> crawl -> outcome ->
  finish_run), the one unit both call;
- ``lifecycle``: signals, the stop watchdog, background tasks, draining runs in flight;
- ``admission``: which runs are crawling or waiting for a slot;
- ``reload``: the config folder, watched and reloaded (invalid changes refused);
- ``dblink``: the database link that may fail and catch up;
- ``states``: failing streaks, backoff and last successes of the sources;
- ``views``: /healthz and /metrics;
- ``scheduling``: APScheduler jobs of the sources (the daemon's own timetable);
- ``orphans``: crawl_runs rows that a killed process left ``running``.
"""
