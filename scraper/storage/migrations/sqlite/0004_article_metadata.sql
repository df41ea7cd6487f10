-- Issue 11: what the page says about itself besides its text: bylines, description,
-- image, modification time, section and tags. See the PostgreSQL twin. authors and tags
-- are JSON arrays (text); modified_at is ISO 8601 text in UTC like published_at
-- ("2023-12-06T08:00:00+00:00").

ALTER TABLE articles ADD COLUMN authors TEXT
    CHECK (authors IS NULL OR (json_valid(authors) AND json_type(authors) = 'array'));
ALTER TABLE articles ADD COLUMN description TEXT;
ALTER TABLE articles ADD COLUMN image_url TEXT;
ALTER TABLE articles ADD COLUMN modified_at TEXT;
ALTER TABLE articles ADD COLUMN section TEXT;
ALTER TABLE articles ADD COLUMN tags TEXT
    CHECK (tags IS NULL OR (json_valid(tags) AND json_type(tags) = 'array'));
ALTER TABLE article_versions ADD COLUMN authors TEXT;
ALTER TABLE article_versions ADD COLUMN description TEXT;
ALTER TABLE article_versions ADD COLUMN image_url TEXT;
ALTER TABLE article_versions ADD COLUMN modified_at TEXT;
ALTER TABLE article_versions ADD COLUMN section TEXT;
ALTER TABLE article_versions ADD COLUMN tags TEXT;

DROP TRIGGER articles_keep_version;

CREATE TRIGGER articles_keep_version
BEFORE UPDATE ON articles
FOR EACH ROW
WHEN OLD.content_hash IS NOT NEW.content_hash
BEGIN
    INSERT INTO article_versions (
        article_id, url, title, published_at, type, source_name, source_url, language,
        aggregator, content, content_hash, file_path, stored_at, replaced_at,
        published_original, date_source,
        authors, description, image_url, modified_at, section, tags)
    VALUES (
        OLD.id, OLD.url, OLD.title, OLD.published_at, OLD.type, OLD.source_name,
        OLD.source_url, OLD.language, OLD.aggregator, OLD.content, OLD.content_hash,
        OLD.file_path, OLD.updated_at, NEW.updated_at,
        OLD.published_original, OLD.date_source,
        OLD.authors, OLD.description, OLD.image_url, OLD.modified_at, OLD.section, OLD.tags);
END;
