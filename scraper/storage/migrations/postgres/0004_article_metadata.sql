-- Issue 11: what the page says about itself besides its text, as news-please and Fundus
-- users expect: bylines, description, image, modification time, section and tags. The
-- record file has no place for them (its format is fixed), so they live here only.
-- NULL for rows stored before this version (until the article is stored again) and for
-- rows that `scraper db sync` created from files; a crawled page that names no author or
-- tag gets an empty array. The scraper bounds them: at most 20 authors and 20 tags of at
-- most 200 characters each, a description of at most 2,000, an image URL of at most
-- 2,048, a section of at most 200.

ALTER TABLE articles
    ADD COLUMN authors      jsonb CHECK (jsonb_typeof(authors) = 'array'),
    ADD COLUMN description  text,
    ADD COLUMN image_url    text,
    ADD COLUMN modified_at  timestamptz,
    ADD COLUMN section      text,
    ADD COLUMN tags         jsonb CHECK (jsonb_typeof(tags) = 'array');

ALTER TABLE article_versions
    ADD COLUMN authors      jsonb,
    ADD COLUMN description  text,
    ADD COLUMN image_url    text,
    ADD COLUMN modified_at  timestamptz,
    ADD COLUMN section      text,
    ADD COLUMN tags         jsonb;

CREATE OR REPLACE FUNCTION scraper_keep_article_version() RETURNS trigger
LANGUAGE plpgsql
SET search_path FROM CURRENT
AS $$
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
    RETURN NEW;
END
$$;
