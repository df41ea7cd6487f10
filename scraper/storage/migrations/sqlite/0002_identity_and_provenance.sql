-- Issue 8: where each publication date came from, and URLs that name an article stored
-- under another URL (a page's same-site <link rel=canonical>). See the PostgreSQL twin.

ALTER TABLE articles ADD COLUMN published_original TEXT;
ALTER TABLE articles ADD COLUMN date_source TEXT;
ALTER TABLE article_versions ADD COLUMN published_original TEXT;
ALTER TABLE article_versions ADD COLUMN date_source TEXT;

DROP TRIGGER articles_keep_version;

CREATE TRIGGER articles_keep_version
BEFORE UPDATE ON articles
FOR EACH ROW
WHEN OLD.content_hash IS NOT NEW.content_hash
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
END;

CREATE TABLE article_aliases (
    alias_id    TEXT PRIMARY KEY NOT NULL CHECK (length(alias_id) = 16),
    url         TEXT NOT NULL,
    article_id  TEXT NOT NULL REFERENCES articles (id) ON DELETE CASCADE,
    created_at  TEXT NOT NULL
);

CREATE INDEX article_aliases_article_id ON article_aliases (article_id);
