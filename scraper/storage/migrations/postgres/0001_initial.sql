-- The initial schema: the public contract documented in docs/schema.md.
-- Applied by scraper.storage.postgres.PostgresDatabase.migrate() in one transaction,
-- under an advisory lock. Objects are unqualified, so they land in the first schema of
-- the connection's search_path (normally "public").

CREATE TABLE schema_version (
    version     integer PRIMARY KEY,
    name        text NOT NULL,
    applied_at  timestamptz NOT NULL DEFAULT now()
);

-- One row per article. id = first 16 hex characters of sha256(url); no length limits.
CREATE TABLE articles (
    id             text PRIMARY KEY CHECK (id ~ '^[0-9a-f]{16}$'),
    url            text NOT NULL,
    title          text NOT NULL,
    published_at   timestamptz NOT NULL,
    type           text NOT NULL,
    source_id      text NOT NULL,
    source_name    text NOT NULL,
    source_url     text NOT NULL,
    language       text NOT NULL,
    aggregator     text NOT NULL,
    content        text NOT NULL,
    content_hash   text NOT NULL,
    file_path      text NOT NULL,
    first_seen_at  timestamptz NOT NULL DEFAULT now(),
    updated_at     timestamptz NOT NULL DEFAULT now(),
    -- Title weighs more than the body. Only the first 250,000 characters of the body are
    -- indexed: a tsvector is limited to 1 MB, and no news article comes near that length.
    search_vector  tsvector GENERATED ALWAYS AS (
        setweight(to_tsvector('simple'::regconfig, title), 'A')
        || setweight(to_tsvector('simple'::regconfig, left(content, 250000)), 'B')
    ) STORED,
    -- A hash-based uniqueness check: a btree unique index would refuse URLs longer than
    -- about 2,700 bytes, and URLs have no length limit here.
    CONSTRAINT articles_url_unique EXCLUDE USING hash (url WITH =)
);

CREATE INDEX articles_updated_at_id ON articles (updated_at, id);
CREATE INDEX articles_source_updated_at_id ON articles (source_id, updated_at, id);
CREATE INDEX articles_published_at ON articles (published_at);
CREATE INDEX articles_search_vector ON articles USING gin (search_vector);

-- Earlier versions of articles whose content changed, filled by a trigger so that every
-- writer (the crawl, `scraper db sync`, hand-written SQL) keeps the history.
CREATE TABLE article_versions (
    id             bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    article_id     text NOT NULL REFERENCES articles (id) ON DELETE CASCADE,
    url            text NOT NULL,
    title          text NOT NULL,
    published_at   timestamptz NOT NULL,
    type           text NOT NULL,
    source_name    text NOT NULL,
    source_url     text NOT NULL,
    language       text NOT NULL,
    aggregator     text NOT NULL,
    content        text NOT NULL,
    content_hash   text NOT NULL,
    file_path      text NOT NULL,
    stored_at      timestamptz NOT NULL,  -- when this version was stored (its updated_at)
    replaced_at    timestamptz NOT NULL   -- when the next version replaced it
);

CREATE INDEX article_versions_article_id ON article_versions (article_id, replaced_at);

CREATE FUNCTION scraper_keep_article_version() RETURNS trigger
LANGUAGE plpgsql
SET search_path FROM CURRENT
AS $$
BEGIN
    INSERT INTO article_versions (
        article_id, url, title, published_at, type, source_name, source_url, language,
        aggregator, content, content_hash, file_path, stored_at, replaced_at)
    VALUES (
        OLD.id, OLD.url, OLD.title, OLD.published_at, OLD.type, OLD.source_name,
        OLD.source_url, OLD.language, OLD.aggregator, OLD.content, OLD.content_hash,
        OLD.file_path, OLD.updated_at, NEW.updated_at);
    RETURN NEW;
END
$$;

CREATE TRIGGER articles_keep_version
BEFORE UPDATE ON articles
FOR EACH ROW
WHEN (OLD.content_hash IS DISTINCT FROM NEW.content_hash)
EXECUTE FUNCTION scraper_keep_article_version();

-- NOTIFY scraper_articles, '<article id>' for every new article, delivered when the
-- inserting transaction commits. A trigger, so every writer notifies.
CREATE FUNCTION scraper_notify_new_article() RETURNS trigger
LANGUAGE plpgsql
AS $$
BEGIN
    PERFORM pg_notify('scraper_articles', NEW.id);
    RETURN NULL;
END
$$;

CREATE TRIGGER articles_notify_new
AFTER INSERT ON articles
FOR EACH ROW
EXECUTE FUNCTION scraper_notify_new_article();

-- Every sighting of an article URL by a discovery channel. Identical repeats (same
-- article, source, channel and time) are stored once, so retrying a batch is harmless.
CREATE TABLE discoveries (
    id             bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    url            text NOT NULL,
    article_id     text NOT NULL,
    source_id      text NOT NULL,
    channel        text NOT NULL,
    aggregator     text NOT NULL,
    discovered_at  timestamptz NOT NULL,
    CONSTRAINT discoveries_once UNIQUE (article_id, source_id, channel, discovered_at)
);

CREATE INDEX discoveries_source_id ON discoveries (source_id, discovered_at);

CREATE TABLE crawl_runs (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    source_id    text NOT NULL,
    started_at   timestamptz NOT NULL,
    finished_at  timestamptz,
    status       text NOT NULL DEFAULT 'running',
    counts       jsonb NOT NULL DEFAULT '{}'::jsonb,
    errors       jsonb
);

CREATE INDEX crawl_runs_source_id ON crawl_runs (source_id, started_at);

-- Google News article id (the path segment of a news.google.com link) -> publisher URL.
CREATE TABLE gnews_links (
    gnews_id     text PRIMARY KEY,
    url          text NOT NULL,
    resolved_at  timestamptz NOT NULL DEFAULT now()
);

-- HTTP validators of discovery documents (feeds, sitemaps) for conditional GET.
CREATE TABLE feed_validators (
    url            text PRIMARY KEY,
    etag           text,
    last_modified  text,
    checked_at     timestamptz NOT NULL DEFAULT now()
);
