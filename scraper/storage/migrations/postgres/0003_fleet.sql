-- Issue 12: workers on many machines share one schedule (scraper.fleet, docs/fleet.md).
-- The job engine's own tables (procrastinate_*) come with `scraper db migrate` too, from
-- the procrastinate package itself (scraper.fleet.engine), not from this file.

-- Which process ran each run ("host:pid"), and in a fleet the job engine's job id, so a
-- lost worker's runs can be closed as 'abandoned' when its job is recovered.
ALTER TABLE crawl_runs ADD COLUMN worker text;
ALTER TABLE crawl_runs ADD COLUMN job_id bigint;
CREATE INDEX crawl_runs_running ON crawl_runs (started_at) WHERE status = 'running';
CREATE INDEX crawl_runs_job_id ON crawl_runs (job_id) WHERE job_id IS NOT NULL;

-- The fleet's timetable: when each source is due next. Written by the dispatch task only
-- (one at a time, under an advisory lock); read by `scraper sources`.
CREATE TABLE fleet_schedule (
    source_id    text PRIMARY KEY,
    schedule     text NOT NULL,        -- the schedule it was computed for ("every 5m", "cron ...")
    next_due_at  timestamptz NOT NULL,
    last_due_at  timestamptz,          -- due time of the last run dispatched
    updated_at   timestamptz NOT NULL DEFAULT now()
);

-- The job engine's schema version as `scraper db migrate` last applied it (the engine's
-- tables themselves come from its package: scraper.fleet.engine).
CREATE TABLE engine_schema (
    engine      text PRIMARY KEY,
    version     text NOT NULL,
    applied_at  timestamptz NOT NULL DEFAULT now()
);
