-- A stored article's claim on the URL its same-site canonical link names, when no
-- article was stored at that URL yet: claim_id = first 16 hex characters of sha256(url).
-- When a later crawl (in any process) fetches the page at that URL and finds the same
-- article, the URL becomes an alias of the claiming article instead of a second copy.
-- The first claim on a URL stands.

CREATE TABLE canonical_claims (
    claim_id    text PRIMARY KEY CHECK (claim_id ~ '^[0-9a-f]{16}$'),
    url         text NOT NULL,
    article_id  text NOT NULL REFERENCES articles (id) ON DELETE CASCADE,
    created_at  timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX canonical_claims_article_id ON canonical_claims (article_id);
