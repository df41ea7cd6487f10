-- The initial schema: the same logical schema as PostgreSQL (docs/schema.md).
-- Applied by scraper.storage.sqlite.SQLiteDatabase.migrate() in one IMMEDIATE
-- transaction. Timestamps are ISO 8601 text in UTC ("2023-12-06T08:00:00+00:00"), so
-- text order is time order; JSON columns hold JSON text.

CREATE TABLE schema_version (
    version     INTEGER PRIMARY KEY,
    name        TEXT NOT NULL,
    applied_at  TEXT NOT NULL
);

CREATE TABLE articles (
    id             TEXT PRIMARY KEY NOT NULL CHECK (length(id) = 16),
    url            TEXT NOT NULL UNIQUE,
    title          TEXT NOT NULL,
    published_at   TEXT NOT NULL,
    type           TEXT NOT NULL,
    source_id      TEXT NOT NULL,
    source_name    TEXT NOT NULL,
    source_url     TEXT NOT NULL,
    language       TEXT NOT NULL,
    aggregator     TEXT NOT NULL,
    content        TEXT NOT NULL,
    content_hash   TEXT NOT NULL,
    file_path      TEXT NOT NULL,
    first_seen_at  TEXT NOT NULL,
    updated_at     TEXT NOT NULL
);

CREATE INDEX articles_updated_at_id ON articles (updated_at, id);
CREATE INDEX articles_source_updated_at_id ON articles (source_id, updated_at, id);
CREATE INDEX articles_published_at ON articles (published_at);

CREATE TABLE article_versions (
    id             INTEGER PRIMARY KEY AUTOINCREMENT,
    article_id     TEXT NOT NULL REFERENCES articles (id) ON DELETE CASCADE,
    url            TEXT NOT NULL,
    title          TEXT NOT NULL,
    published_at   TEXT NOT NULL,
    type           TEXT NOT NULL,
    source_name    TEXT NOT NULL,
    source_url     TEXT NOT NULL,
    language       TEXT NOT NULL,
    aggregator     TEXT NOT NULL,
    content        TEXT NOT NULL,
    content_hash   TEXT NOT NULL,
    file_path      TEXT NOT NULL,
    stored_at      TEXT NOT NULL,
    replaced_at    TEXT NOT NULL
);

CREATE INDEX article_versions_article_id ON article_versions (article_id, replaced_at);

-- Keeps the previous version of an article whose content changed, whoever updates it.
CREATE TRIGGER articles_keep_version
BEFORE UPDATE ON articles
FOR EACH ROW
WHEN OLD.content_hash IS NOT NEW.content_hash
BEGIN
    INSERT INTO article_versions (
        article_id, url, title, published_at, type, source_name, source_url, language,
        aggregator, content, content_hash, file_path, stored_at, replaced_at)
    VALUES (
        OLD.id, OLD.url, OLD.title, OLD.published_at, OLD.type, OLD.source_name,
        OLD.source_url, OLD.language, OLD.aggregator, OLD.content, OLD.content_hash,
        OLD.file_path, OLD.updated_at, NEW.updated_at);
END;

CREATE TABLE discoveries (
    id             INTEGER PRIMARY KEY AUTOINCREMENT,
    url            TEXT NOT NULL,
    article_id     TEXT NOT NULL,
    source_id      TEXT NOT NULL,
    channel        TEXT NOT NULL,
    aggregator     TEXT NOT NULL,
    discovered_at  TEXT NOT NULL,
    UNIQUE (article_id, source_id, channel, discovered_at)
);

CREATE INDEX discoveries_source_id ON discoveries (source_id, discovered_at);

CREATE TABLE crawl_runs (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    source_id    TEXT NOT NULL,
    started_at   TEXT NOT NULL,
    finished_at  TEXT,
    status       TEXT NOT NULL DEFAULT 'running',
    counts       TEXT NOT NULL DEFAULT '{}',
    errors       TEXT
);

CREATE INDEX crawl_runs_source_id ON crawl_runs (source_id, started_at);

CREATE TABLE gnews_links (
    gnews_id     TEXT PRIMARY KEY NOT NULL,
    url          TEXT NOT NULL,
    resolved_at  TEXT NOT NULL
);

CREATE TABLE feed_validators (
    url            TEXT PRIMARY KEY NOT NULL,
    etag           TEXT,
    last_modified  TEXT,
    checked_at     TEXT NOT NULL
);
