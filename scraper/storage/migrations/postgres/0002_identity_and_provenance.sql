-- Issue 8: where each publication date came from, and URLs that name an article stored
-- under another URL (a page's same-site <link rel=canonical>).

-- The date as the page or channel stated it (ISO 8601 with its own offset, or a bare
-- YYYY-MM-DD when only a day was given), and which candidate gave it: feed, sitemap,
-- jsonld, meta, time, url, text, htmldate or crawl. NULL for rows stored before.
ALTER TABLE articles ADD COLUMN published_original text;
ALTER TABLE articles ADD COLUMN date_source text;
ALTER TABLE article_versions ADD COLUMN published_original text;
ALTER TABLE article_versions ADD COLUMN date_source text;

CREATE OR REPLACE FUNCTION scraper_keep_article_version() RETURNS trigger
LANGUAGE plpgsql
SET search_path FROM CURRENT
AS $$
BEGIN
    INSERT INTO article_versions (
        article_id, url, title, published_at, type, source_name, source_url, language,
        aggregator, content, content_hash, file_path, stored_at, replaced_at,
        published_original, date_source)
    VALUES (
        OLD.id, OLD.url, OLD.title, OLD.published_at, OLD.type, OLD.source_name,
        OLD.source_url, OLD.language, OLD.aggregator, OLD.content, OLD.content_hash,
        OLD.file_path, OLD.updated_at, NEW.updated_at,
        OLD.published_original, OLD.date_source);
    RETURN NEW;
END
$$;

-- Another URL of a stored article: alias_id = first 16 hex characters of sha256(url),
-- as for articles. A discovery of that URL is the stored article, not a new one.
CREATE TABLE article_aliases (
    alias_id    text PRIMARY KEY CHECK (alias_id ~ '^[0-9a-f]{16}$'),
    url         text NOT NULL,
    article_id  text NOT NULL REFERENCES articles (id) ON DELETE CASCADE,
    created_at  timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX article_aliases_article_id ON article_aliases (article_id);
