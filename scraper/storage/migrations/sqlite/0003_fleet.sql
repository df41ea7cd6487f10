-- Issue 12: workers on many machines share one schedule (scraper.fleet, docs/fleet.md).
-- A fleet needs PostgreSQL; SQLite gets the same logical schema, so a database can be
-- moved from one backend to the other and `scraper sources` reads the same columns.

-- Which process ran each run ("host:pid"), and in a fleet the job engine's job id.
ALTER TABLE crawl_runs ADD COLUMN worker TEXT;
ALTER TABLE crawl_runs ADD COLUMN job_id INTEGER;
CREATE INDEX crawl_runs_running ON crawl_runs (started_at) WHERE status = 'running';
CREATE INDEX crawl_runs_job_id ON crawl_runs (job_id) WHERE job_id IS NOT NULL;

CREATE TABLE fleet_schedule (
    source_id    TEXT PRIMARY KEY NOT NULL,
    schedule     TEXT NOT NULL,
    next_due_at  TEXT NOT NULL,
    last_due_at  TEXT,
    updated_at   TEXT NOT NULL
);
