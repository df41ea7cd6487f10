"""A fleet: ``scraper worker`` processes on any number of machines share one schedule
through the PostgreSQL store, on procrastinate (jobs, locks, queueing locks, periodic
dispatch, worker heartbeats; no other server). See docs/fleet.md.

- ``engine``: the procrastinate app, its two tasks and its schema;
- ``dispatch``: which sources are due (pure decisions, unit-tested);
- ``store``: the fleet's own SQL (timetable, last runs, stalled runs) in one place;
- ``politeness``: a host lease kept in PostgreSQL, so sources of one host take turns;
- ``worker``: the worker process (reuses scraper.service: the crawl job, lifecycle,
  reload, health views).
"""
